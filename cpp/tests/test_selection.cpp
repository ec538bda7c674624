// Selection on the worked example: greedy and descent, the expanded rules, pending marks, N(root parent),
// the c schedule, and the greedy index against a brute-force argmax over random trees.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <random>

#include "mctsr/errors.h"
#include "tree_fixtures.h"

using namespace mctsr;
using namespace mctsr::testing;

namespace {

// UCT of the example's nodes at c = 1.4 (N(A) = 3, N(C) = 2, virtual root N = 5).
const double kUctA = 0.5 * (kQA + 70.0) + 1.4 * std::sqrt(std::log(6.0) / 3.00001);  // 78.165
const double kUctB = 70.0 + 1.4 * std::sqrt(std::log(4.0) / 1.00001);               // 71.648
const double kUctC = 65.625 + 1.4 * std::sqrt(std::log(4.0) / 2.00001);             // 66.790

NodeId brute_force_argmax(const Tree& tree) {
  NodeId best = kNoNode;
  for (NodeId node : tree.candidates()) {
    if (best == kNoNode || tree.uct(node) > tree.uct(best)) best = node;
  }
  return best;
}

}  // namespace

TEST_CASE("greedy: argmax UCT over all candidates") {
  Tree tree;
  const Example x = build_example(tree);
  CHECK(tree.uct(x.a) == doctest::Approx(kUctA));
  CHECK(tree.uct(x.c) == doctest::Approx(kUctC));
  CHECK(tree.candidates() == std::vector<NodeId>{x.a, x.d, x.b, x.c, x.e});
  CHECK(tree.select() == x.a);
  // A third child scoring 95 > Q(A): A has 3 children and a better child, so it is fully expanded.
  const NodeId f = tree.add_child(x.a);
  tree.record_and_backpropagate(f, std::vector<double>{95}.data(), 1);
  CHECK(tree.is_fully_expanded(x.a));
  CHECK_FALSE(tree.is_candidate(x.a));
  CHECK(tree.select() == f);  // 95 + 1.4 sqrt(ln 4 / 1.00001) = 96.648
}

TEST_CASE("expanded rule: count AND a child's value > own Q (paper), or >= own Q (reference)") {
  // A root with Q = 50 and children scoring 40, 30 and then exactly 50.
  auto build = [](ExpandedRule rule, int children) {
    Config config;
    config.expanded_rule = rule;
    auto tree = std::make_unique<Tree>(config);
    const NodeId root = tree->add_root(NodeKind::kAnswer);
    tree->record_rewards(root, {50});
    const double scores[] = {40, 30, 50};
    for (int i = 0; i < children; ++i) {
      const NodeId child = tree->add_child(root);
      tree->record_and_backpropagate(child, &scores[i], 1);
    }
    return tree;
  };
  // Three children, the best equal to Q(root): only the reference's >= makes it fully expanded.
  CHECK_FALSE(build(ExpandedRule::kPaper, 3)->is_fully_expanded(0));
  CHECK(build(ExpandedRule::kPaper, 3)->is_candidate(0));
  CHECK(build(ExpandedRule::kReference, 3)->is_fully_expanded(0));
  CHECK_FALSE(build(ExpandedRule::kReference, 3)->is_candidate(0));
  // The count is needed under both (the old OR reading made a better child alone enough).
  Config config;
  config.backprop = Backprop::kOneLevel;  // child value = own Q: Q(C) = 91.25 > Q(A), but A has 2 children
  for (ExpandedRule rule : {ExpandedRule::kPaper, ExpandedRule::kReference}) {
    config.expanded_rule = rule;
    Tree tree(config);
    const Example x = build_example(tree);
    CHECK_FALSE(tree.is_fully_expanded(x.a));
    CHECK(tree.select() == x.a);
  }
  // Children alone are not enough either: with no scored child nothing is better.
  Tree counted(reference_config());
  const NodeId root = counted.add_root(NodeKind::kAnswer);
  counted.record_rewards(root, {10});
  for (int i = 0; i < 3; ++i) counted.add_child(root);
  CHECK_FALSE(counted.is_fully_expanded(root));
  CHECK(counted.select() == root);
}

TEST_CASE("max_depth: nodes at that depth are never candidates, so the tree stops growing deeper") {
  Config config;
  config.max_depth = 2;
  Tree tree(config);
  const Example x = build_example(tree);  // A, D at depth 0; B, C at 1; E at 2
  CHECK(tree.depth(x.e) == 2);
  CHECK_FALSE(tree.is_candidate(x.e));
  CHECK(tree.candidates() == std::vector<NodeId>{x.a, x.d, x.b, x.c});
  config.selection = Selection::kDescent;
  Tree descent(config);
  build_example(descent);
  CHECK(descent.select() == x.a);
  // Depth 1: only the roots can be refined; once they are fully expanded nothing is left ("exhausted").
  config = Config{};
  config.max_depth = 1;
  config.max_children = 1;
  Tree shallow(config);
  const NodeId root = shallow.add_root(NodeKind::kAnswer);
  shallow.record_rewards(root, {10});
  CHECK(shallow.select() == root);
  const NodeId child = shallow.add_child(root);
  shallow.record_and_backpropagate(child, std::vector<double>{20}.data(), 1);
  CHECK(shallow.is_fully_expanded(root));
  CHECK(shallow.select() == kNoNode);
  CHECK(shallow.select_batch(4).empty());
  config.max_depth = -1;
  CHECK_THROWS_AS(Tree{config}, InvalidConfig);
}

TEST_CASE("stale UCT bank: only leaves and parents of leaves are re-banked by backpropagate (reference)") {
  // A -> {B, C -> {E}}, D; one-level backup, N(root parent) = 0. Then: A re-sampled, F added under E.
  auto run = [](UctRefresh refresh, double* b_before, double* c_before) {
    Config config = reference_config();
    config.uct_refresh = refresh;
    auto tree = std::make_unique<Tree>(config);
    const Example x = build_example(*tree);
    CHECK(tree->uct(x.a) == tree->q(x.a));  // a root: N(parent) = 0, so UCT = Q'
    *b_before = tree->uct(x.b);
    *c_before = tree->uct(x.c);
    tree->record_rewards(x.a, {0});  // N(A) 3 -> 4: the UCT of B and C changes
    return std::make_pair(std::move(tree), x);
  };
  double b0 = 0, c0 = 0, b1 = 0, c1 = 0;
  auto [stale, x] = run(UctRefresh::kStale, &b0, &c0);
  auto [live, y] = run(UctRefresh::kLive, &b1, &c1);
  CHECK(stale->uct(x.b) == b0);  // nothing is re-banked before backpropagate
  CHECK(stale->uct(x.c) == c0);
  CHECK(live->uct(y.b) != b1);
  CHECK(live->uct(y.c) != c1);
  for (Tree* tree : {stale.get(), live.get()}) {
    const NodeId f = tree->add_child(x.e);
    tree->record_rewards(f, {60});
    tree->backpropagate(f);
  }
  // B is a leaf: re-banked. C's only child E has a child now, so C is no parent of a leaf: it stays stale.
  CHECK(stale->uct(x.b) == live->uct(y.b));
  CHECK(stale->uct(x.e) == live->uct(y.e));
  CHECK(stale->uct(x.c) == c0);
  CHECK(live->uct(y.c) != c0);
  CHECK(stale->q(x.c) == live->q(y.c));  // Q' is always current; only the UCT is banked
}

TEST_CASE("select_batch marks distinct nodes pending; add_child or cancel clears the mark") {
  Tree tree;
  const Example x = build_example(tree);
  const auto batch = tree.select_batch(2);
  CHECK(batch == std::vector<NodeId>{x.a, x.b});  // 78.165, then 71.648
  CHECK(tree.is_pending(x.a));
  CHECK(tree.candidates() == std::vector<NodeId>{x.d, x.c, x.e});
  CHECK(tree.select() == x.c);
  tree.add_child(x.a);
  CHECK_FALSE(tree.is_pending(x.a));
  tree.cancel(x.b);
  tree.cancel(x.b);  // no-op
  CHECK_FALSE(tree.is_pending(x.b));
  const auto all = tree.select_batch(100);
  CHECK(all.size() == 5);  // every candidate once; the new child is unscored
  CHECK(tree.select() == kNoNode);
  CHECK(tree.select_batch(3).empty());
}

TEST_CASE("N(parent) of a root: virtual root or zero") {
  Config config;
  config.root_parent_visits = RootParentVisits::kZero;
  Tree tree(config);
  const Example x = build_example(tree);
  CHECK(tree.uct(x.a) == tree.q(x.a));
  CHECK(tree.uct(x.d) == -7.5);
  CHECK(tree.uct(x.b) == doctest::Approx(kUctB));
}

TEST_CASE("descent: follow the max-UCT child from the roots to a node that is not fully expanded") {
  Config config;
  config.selection = Selection::kDescent;
  Tree tree(config);
  const Example x = build_example(tree);
  CHECK(tree.select() == x.a);
  const NodeId f = tree.add_child(x.a);
  tree.record_and_backpropagate(f, std::vector<double>{95}.data(), 1);
  CHECK(tree.select() == f);
  CHECK(tree.select_batch(2) == std::vector<NodeId>{f, x.b});  // f pending: the next-best child of A
}

TEST_CASE("linear decay of c over the rollout budget changes the greedy choice") {
  Config config;
  config.c_schedule = CSchedule::kLinearDecay;
  config.exploration_c = 100;
  config.c_final = 0;
  config.rollout_budget = 2;
  Tree tree(config);
  const NodeId few = tree.add_root(NodeKind::kAnswer);
  const NodeId many = tree.add_root(NodeKind::kAnswer);
  tree.record_rewards(few, {50});
  tree.record_rewards(many, {60, 60, 60, 60});
  CHECK(tree.select() == few);  // exploration wins at c = 100
  tree.add_child(many);
  CHECK(tree.exploration_c() == 50);
  tree.add_child(many);
  CHECK(tree.exploration_c() == 0);
  CHECK(tree.select() == many);  // pure Q at c = 0
}

TEST_CASE("the greedy index agrees with a brute-force argmax on random trees") {
  for (int variant = 0; variant < 32; ++variant) {
    Config config;
    config.backprop = (variant & 1) ? Backprop::kOneLevel : Backprop::kFullDepth;
    config.expanded_rule = (variant & 2) ? ExpandedRule::kReference : ExpandedRule::kPaper;
    config.root_parent_visits = (variant & 4) ? RootParentVisits::kZero : RootParentVisits::kVirtualRoot;
    config.uct_refresh = (variant & 8) ? UctRefresh::kStale : UctRefresh::kLive;
    config.max_depth = (variant & 16) ? 3 : 0;
    config.init = (variant & 1) ? InitLayout::kTwoRoots : InitLayout::kDummyRoot;
    Tree tree(config);
    std::mt19937 rng(1234 + variant);
    std::uniform_int_distribution<int> reward(-100, 100);
    const auto [answer, dummy] = tree.initialize();
    tree.record_rewards(answer, {double(reward(rng))});
    tree.record_rewards(dummy, {double(reward(rng))});
    for (int step = 0; step < 400; ++step) {
      REQUIRE(tree.select() == brute_force_argmax(tree));
      const int op = std::uniform_int_distribution<int>(0, 9)(rng);
      const NodeId any = std::uniform_int_distribution<NodeId>(0, tree.size() - 1)(rng);
      if (op < 6) {
        const NodeId parent = op < 4 && tree.select() != kNoNode ? tree.select() : any;
        const NodeId child = tree.add_child(parent);
        tree.record_and_backpropagate(child, std::vector<double>{double(reward(rng)), double(reward(rng))}.data(), 2);
      } else if (op < 8) {
        tree.record_rewards(any, {double(reward(rng))});
        if (op == 7) tree.backpropagate(any);
      } else if (op == 8) {
        tree.select_batch(2);
      } else {
        tree.cancel(any);
      }
    }
  }
}

namespace {

// A dummy root (Q = -50) with two answers: A, visited 10 times with Q' = 60, and B, visited once with Q' = 55.
// N(dummy) = 2, so the exploration term is sqrt(ln 3 / 10) = 0.331 for A and sqrt(ln 3 / 1) = 1.048 for B.
struct Siblings {
  NodeId dummy, a, b;
};

Siblings build_siblings(Tree& tree) {
  Siblings s{};
  s.dummy = tree.add_root(NodeKind::kDummy);
  s.a = tree.add_child(s.dummy);
  s.b = tree.add_child(s.dummy);
  const std::vector<double> dummy = {-50, -50};
  tree.record_rewards(s.dummy, dummy);
  tree.record_and_backpropagate(s.a, std::vector<double>(10, 60.0).data(), 10);
  tree.record_and_backpropagate(s.b, std::vector<double>{55}.data(), 1);
  return s;
}

}  // namespace

TEST_CASE("q_transform: an under-visited sibling wins once Q is on the exploration term's scale") {
  Config raw;
  raw.q_transform = QTransform::kRaw;
  Tree raw_tree(raw);
  const Siblings r = build_siblings(raw_tree);
  // raw: 60 + 1.4·0.331 = 60.46 against 55 + 1.4·1.048 = 56.47: c is worth about a point, A wins.
  CHECK(raw_tree.select() == r.a);

  Config scaled;
  scaled.q_transform = QTransform::kScaled;
  Tree scaled_tree(scaled);
  const Siblings s = build_siblings(scaled_tree);
  // scaled: 0.8 + 0.464 = 1.264 against 0.775 + 1.467 = 2.242: B wins.
  CHECK(scaled_tree.uct(s.a) == doctest::Approx(0.8 + 1.4 * std::sqrt(std::log(3.0) / 10.00001)));
  CHECK(scaled_tree.select() == s.b);

  Config minmax;
  minmax.q_transform = QTransform::kMinMax;
  Tree minmax_tree(minmax);
  const Siblings m = build_siblings(minmax_tree);
  // min_max over Q' {dummy: ½(-50 + 60) = 5, A: 60, B: 55}: A = 1, B = 50/55 = 0.909; B wins by exploration.
  CHECK(minmax_tree.uct(m.b) == doctest::Approx(50.0 / 55.0 + 1.4 * std::sqrt(std::log(3.0) / 1.00001)));
  CHECK(minmax_tree.select() == m.b);
  // A new extreme moves the bounds, and with them every node's UCT.
  const NodeId low = minmax_tree.add_child(m.a);
  minmax_tree.record_and_backpropagate(low, std::vector<double>{-100}.data(), 1);
  double lo = -100.0, hi = 55.0;  // Q'(A) = ½(60 - 100) = -20, Q'(dummy) = ½(-50 + 55) = 2.5
  CHECK(minmax_tree.q(m.a) == doctest::Approx(-20.0));
  CHECK(minmax_tree.uct(m.b) == doctest::Approx((55.0 - lo) / (hi - lo) + 1.4 * std::sqrt(std::log(3.0) / 1.00001)));
}

TEST_CASE("q_transform min_max: with every Q' equal, T(Q') is ½ and exploration alone ranks") {
  Config config;
  config.q_transform = QTransform::kMinMax;
  Tree tree(config);
  const NodeId root = tree.add_root(NodeKind::kAnswer);
  tree.record_rewards(root, std::vector<double>{20});
  CHECK(tree.uct(root) == doctest::Approx(0.5 + 1.4 * std::sqrt(std::log(2.0) / 1.00001)));
}

TEST_CASE("dummy_rule: capped stops the dummy at max_children children; as_answer can lock the search in") {
  // "I don't know" scores 0 and every answer scores at most 0: under as_answer no child ever beats the dummy,
  // so it is never fully expanded and, with the highest Q', takes every rollout (a depth-1 star).
  for (DummyRule rule : {DummyRule::kCapped, DummyRule::kAsAnswer}) {
    Config config;
    config.dummy_rule = rule;
    Tree tree(config);
    const auto [answer, dummy] = tree.initialize();
    tree.record_and_backpropagate(answer, std::vector<double>{-50, -50, -50}.data(), 3);
    tree.record_and_backpropagate(dummy, std::vector<double>{0, 0, 0}.data(), 3);
    int dummy_picks = 0;
    for (int i = 0; i < 8; ++i) {
      const NodeId node = tree.select();
      REQUIRE(node != kNoNode);
      dummy_picks += node == dummy;
      const NodeId child = tree.add_child(node);
      tree.record_and_backpropagate(child, std::vector<double>{-100, -50, 0}.data(), 3);
    }
    if (rule == DummyRule::kAsAnswer) {
      CHECK(dummy_picks == 8);
    } else {
      CHECK(dummy_picks == 2);  // the first answer is its first child: two more, then it is fully expanded
      CHECK(tree.is_fully_expanded(dummy));
    }
  }
}

TEST_CASE("selection diagnostics: a pick counts as explored only when c = 0 would pick another Q'") {
  Config config;
  config.q_transform = QTransform::kScaled;
  Tree tree(config);
  const Siblings s = build_siblings(tree);
  // B by exploration, then (B pending) the dummy: Q'(dummy) = 5 scales to 0.525, plus 1.4·sqrt(ln 3 / 2)
  // = 1.037 under the virtual root, beats A's 1.264; c = 0 would have taken A both times.
  const auto picked = tree.select_batch(2);
  REQUIRE(picked == std::vector<NodeId>{s.b, s.dummy});
  CHECK(tree.selections(s.b) == 1);
  CHECK(tree.explored(s.b) == 1);
  CHECK(tree.selections(s.dummy) == 1);
  CHECK(tree.explored(s.dummy) == 1);
  CHECK(tree.selections(s.a) == 0);
  CHECK(tree.select() == s.a);  // select() alone counts nothing
  CHECK(tree.selections(s.a) == 0);

  Config greedy = config;
  greedy.exploration_c = 0.0;
  Tree exploit(greedy);
  const Siblings e = build_siblings(exploit);
  REQUIRE(exploit.select_batch(1) == std::vector<NodeId>{e.a});
  CHECK(exploit.explored(e.a) == 0);

  // Equal Q': the tie goes to the smaller id at c = 0, to the less visited node with exploration; not counted.
  Tree tie(config);
  const NodeId root = tie.add_root(NodeKind::kDummy);
  const NodeId x = tie.add_child(root);
  const NodeId y = tie.add_child(root);
  tie.record_rewards(root, std::vector<double>{-90});
  tie.record_and_backpropagate(x, std::vector<double>(5, 10.0).data(), 5);
  tie.record_and_backpropagate(y, std::vector<double>{10}.data(), 1);
  REQUIRE(tie.select_batch(1) == std::vector<NodeId>{y});
  CHECK(tie.selections(y) == 1);
  CHECK(tie.explored(y) == 0);
}
