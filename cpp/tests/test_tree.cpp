// Building, scoring and back-propagation on the worked example; initial layouts; bad input changes nothing.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "mctsr/errors.h"
#include "tree_fixtures.h"

using namespace mctsr;
using namespace mctsr::testing;

TEST_CASE("initialize: dummy root with the answer as its child (paper, the default) or two roots (reference)") {
  Tree two(reference_config());
  const auto [answer, dummy] = two.initialize();
  CHECK(answer == 0);
  CHECK(dummy == 1);
  CHECK(two.parent(answer) == kNoParent);
  CHECK(two.parent(dummy) == kNoParent);
  CHECK(two.kind(dummy) == NodeKind::kDummy);
  CHECK(two.rollouts() == 0);
  CHECK_THROWS_AS(two.initialize(), InvalidArgument);
  CHECK(two.size() == 2);

  Tree one;
  const auto [answer1, dummy1] = one.initialize();
  CHECK(dummy1 == 0);
  CHECK(answer1 == 1);
  CHECK(one.kind(dummy1) == NodeKind::kDummy);
  CHECK(one.parent(answer1) == dummy1);
  CHECK(one.depth(answer1) == 1);
  CHECK(one.roots() == std::vector<NodeId>{dummy1});
  CHECK(one.rollouts() == 0);
}

TEST_CASE("worked example, full depth back-propagation (paper)") {
  Tree tree;
  const Example x = build_example(tree);
  CHECK(tree.rewards_raw(x.a) == std::vector<double>{90, 100, 80});
  CHECK(tree.rewards(x.a) == std::vector<double>{90, 95, 80});
  CHECK(tree.own_q(x.a) == doctest::Approx(84.1666666667));
  CHECK(tree.own_q(x.d) == -7.5);
  CHECK(tree.own_q(x.c) == 91.25);
  CHECK(tree.own_q(x.e) == 40);
  // Q'(C) = ½(91.25 + 40) = 65.625; Q'(A) = ½(Q(A) + max(Q'(B) = 70, Q'(C) = 65.625)) = 77.0833...
  CHECK(tree.q(x.c) == 65.625);
  CHECK(tree.q(x.a) == doctest::Approx(0.5 * (kQA + 70.0)));
  CHECK(tree.q(x.a) == doctest::Approx(77.0833333333));
  CHECK(tree.q(x.e) == 40);
  CHECK(tree.q(x.d) == -7.5);
  CHECK(tree.visits(x.a) == 3);
  CHECK(tree.rollouts() == 3);
  CHECK(tree.depth(x.e) == 2);
  CHECK(tree.children(x.a) == std::vector<NodeId>{x.b, x.c});
  // UCT(B) = Q'(B) + 1.4 sqrt(ln(N(A) + 1) / (1 + 1e-5)) = 70 + 1.4 sqrt(ln 4 / 1.00001)
  CHECK(tree.uct(x.b) == doctest::Approx(71.6483657897));
  // roots: N(virtual root) = 3 + 2 = 5; UCT(D) = -7.5 + 1.4 sqrt(ln 6 / 2.00001)
  CHECK(tree.uct(x.d) == doctest::Approx(-7.5 + 1.4 * std::sqrt(std::log(6.0) / 2.00001)));
  CHECK(tree.best(BestBy::kOwnQ) == x.c);
  CHECK(tree.best(BestBy::kQ) == x.a);
}

TEST_CASE("worked example, one-level back-propagation (reference): children's own Q") {
  Config config;
  config.backprop = Backprop::kOneLevel;
  Tree tree(config);
  const Example x = build_example(tree);
  CHECK(tree.q(x.c) == 65.625);
  // Q'(A) = ½(Q(A) + max(Q(B) = 70, Q(C) = 91.25)) = 87.7083...
  CHECK(tree.q(x.a) == doctest::Approx(0.5 * (kQA + 91.25)));
}

TEST_CASE("mean Q rule and the other suppression rules") {
  Config config;
  config.q_rule = QRule::kMean;
  config.suppression = Suppression::kReplace;
  Tree tree(config);
  const NodeId a = tree.add_root(NodeKind::kAnswer);
  tree.record_rewards(a, {100, 80});  // 100 -> 50; mean(50, 80) = 65
  CHECK(tree.rewards(a) == std::vector<double>{50, 80});
  CHECK(tree.own_q(a) == 65);
  tree.record_rewards(a, {20});  // appended: mean(50, 80, 20) = 50
  CHECK(tree.visits(a) == 3);
  CHECK(tree.own_q(a) == 50);
}

TEST_CASE("back-propagation is idempotent: no compounding when a node is revisited") {
  Tree tree;
  const Example x = build_example(tree);
  const std::string before = snapshot(tree);
  tree.backpropagate(x.e);
  tree.backpropagate(x.e);
  tree.backpropagate(x.b);
  CHECK(snapshot(tree) == before);
  // More rewards on E: Q(E) = ½(40 + 50) = 45 after {40, 60}; Q'(C) = ½(91.25 + 45) = 68.125
  tree.record_rewards(x.e, {60});
  tree.backpropagate(x.e);
  CHECK(tree.q(x.c) == 68.125);
  CHECK(tree.q(x.a) == doctest::Approx(0.5 * (kQA + 70.0)));
}

TEST_CASE("unscored nodes: no Q, ignored by the parent's max, never candidates, never best") {
  Tree tree;
  const NodeId a = tree.add_root(NodeKind::kAnswer);
  const NodeId child = tree.add_child(a);
  CHECK(std::isnan(tree.q(a)));
  CHECK(std::isnan(tree.uct(child)));
  CHECK(tree.best() == kNoNode);
  CHECK(tree.select() == kNoNode);
  tree.backpropagate(child);  // nothing scored: nothing to do
  CHECK(std::isnan(tree.q(a)));
  tree.record_rewards(a, {10});
  tree.backpropagate(child);
  CHECK(tree.q(a) == 10);  // the unscored child is ignored
  CHECK(tree.candidates() == std::vector<NodeId>{a});
  CHECK(tree.best() == a);
}

TEST_CASE("the dummy is never best") {
  Tree tree;
  const auto [answer, dummy] = tree.initialize();
  tree.record_rewards(dummy, {100});
  CHECK(tree.best() == kNoNode);
  tree.record_rewards(answer, {-50});
  CHECK(tree.best() == answer);
  CHECK(tree.best(BestBy::kQ) == answer);
}

TEST_CASE("bad input throws a typed error and leaves the tree unchanged") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Tree tree;
  const Example x = build_example(tree);
  const std::string before = snapshot(tree);
  CHECK_THROWS_AS(tree.add_child(99), InvalidNode);
  CHECK_THROWS_AS(tree.add_child(-1), InvalidNode);
  CHECK_THROWS_WITH(tree.q(5), doctest::Contains("node id 5"));
  CHECK_THROWS_AS(tree.backpropagate(5), InvalidNode);
  CHECK_THROWS_AS(tree.cancel(-2), InvalidNode);
  CHECK_THROWS_AS(tree.record_rewards(7, {10}), InvalidNode);
  CHECK_THROWS_WITH(tree.record_rewards(x.b, {10, nan}), doctest::Contains("reward nan"));
  CHECK_THROWS_AS(tree.record_rewards(x.b, {inf}), InvalidReward);
  CHECK_THROWS_AS(tree.record_rewards(x.b, {-inf}), InvalidReward);
  CHECK_THROWS_WITH(tree.record_rewards(x.b, {50, 101}), doctest::Contains("reward 101"));
  CHECK_THROWS_AS(tree.record_rewards(x.b, {-100.5}), InvalidReward);
  CHECK_THROWS_WITH(tree.record_rewards(x.b, std::vector<double>{}), doctest::Contains("empty"));
  CHECK_THROWS_AS(tree.record_and_backpropagate(x.b, nullptr, 0), InvalidReward);
  CHECK_THROWS_WITH(tree.select_batch(0), doctest::Contains("k=0"));
  CHECK_THROWS_AS(tree.select_batch(-4), InvalidArgument);
  CHECK_THROWS_AS(tree.add_root(static_cast<NodeKind>(9)), InvalidArgument);
  CHECK_THROWS_AS(tree.initialize(), InvalidArgument);
  CHECK(snapshot(tree) == before);
  Config bad;
  bad.exploration_c = nan;
  CHECK_THROWS_AS(Tree{bad}, InvalidConfig);
}
