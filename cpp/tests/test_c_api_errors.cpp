// The C ABI's error contract, from C++: status codes, the thread-local message, nothing thrown.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <thread>

#include "mctsr/mctsr.h"

TEST_CASE("C ABI: the new rule fields reach the tree") {
  // The reference's >= 95 suppression and max_depth, through the params struct.
  mctsr_tree_params params = mctsr_tree_default_params();
  params.suppression = MCTSR_SUPPRESS_REPLACE;
  params.suppress_inclusive = 1;
  params.uct_refresh = MCTSR_UCT_STALE;
  params.max_depth = 1;
  params.init = MCTSR_INIT_TWO_ROOTS;
  mctsr_tree* tree = nullptr;
  REQUIRE(mctsr_tree_create(&params, &tree) == MCTSR_OK);
  mctsr_node answer = MCTSR_NO_NODE, dummy = MCTSR_NO_NODE, child = MCTSR_NO_NODE, out = MCTSR_NO_NODE;
  REQUIRE(mctsr_tree_initialize(tree, &answer, &dummy) == MCTSR_OK);
  const double full[] = {95};
  const double low[] = {-50};
  REQUIRE(mctsr_tree_record_rewards(tree, answer, full, 1) == MCTSR_OK);
  REQUIRE(mctsr_tree_record_rewards(tree, dummy, low, 1) == MCTSR_OK);
  double q = 0;
  CHECK((mctsr_tree_own_q(tree, answer, &q) == MCTSR_OK && q == 50));  // 95 >= 95: replaced by 50
  REQUIRE(mctsr_tree_add_child(tree, answer, &child) == MCTSR_OK);
  const double high[] = {90};
  REQUIRE(mctsr_tree_record_rewards(tree, child, high, 1) == MCTSR_OK);
  REQUIRE(mctsr_tree_backpropagate(tree, child) == MCTSR_OK);
  CHECK(mctsr_tree_select(tree, &out) == MCTSR_OK);
  CHECK(out == answer);  // the child (UCT > 90 > the answer's 70) is at depth 1: too deep to be selected
  mctsr_tree_free(tree);
}

TEST_CASE("C ABI: q_transform and dummy_rule reach the tree, unknown values are refused") {
  mctsr_tree_params params = mctsr_tree_default_params();
  CHECK(params.q_transform == MCTSR_Q_TRANSFORM_RAW);
  CHECK(params.dummy_rule == MCTSR_DUMMY_CAPPED);
  params.q_transform = MCTSR_Q_TRANSFORM_SCALED;
  mctsr_tree* tree = nullptr;
  REQUIRE(mctsr_tree_create(&params, &tree) == MCTSR_OK);
  mctsr_node answer = MCTSR_NO_NODE, dummy = MCTSR_NO_NODE;
  REQUIRE(mctsr_tree_initialize(tree, &answer, &dummy) == MCTSR_OK);
  const double rewards[] = {60};
  REQUIRE(mctsr_tree_record_rewards(tree, dummy, rewards, 1) == MCTSR_OK);
  double uct = 0;
  REQUIRE(mctsr_tree_uct(tree, dummy, &uct) == MCTSR_OK);
  CHECK(uct == doctest::Approx(0.8 + 1.4 * std::sqrt(std::log(2.0) / 1.00001)));  // (60 + 100) / 200 + c·term
  mctsr_tree_free(tree);
  for (int32_t bad : {3, -1, 300}) {
    mctsr_tree_params p = mctsr_tree_default_params();
    p.q_transform = bad;
    CHECK(mctsr_tree_create(&p, &tree) == MCTSR_ERROR_INVALID_CONFIG);
    p = mctsr_tree_default_params();
    p.dummy_rule = bad;
    CHECK(mctsr_tree_create(&p, &tree) == MCTSR_ERROR_INVALID_CONFIG);
  }
}

TEST_CASE("C ABI: each error kind becomes its status code and message, the tree stays as it was") {
  mctsr_tree* tree = nullptr;
  mctsr_tree_params params = mctsr_tree_default_params();
  params.exploration_c = -1;
  CHECK(mctsr_tree_create(&params, &tree) == MCTSR_ERROR_INVALID_CONFIG);
  CHECK(std::string(mctsr_last_error()).find("exploration_c = -1") != std::string::npos);
  CHECK(tree == nullptr);
  params = mctsr_tree_default_params();
  params.q_rule = 1000;
  CHECK(mctsr_tree_create(&params, &tree) == MCTSR_ERROR_INVALID_CONFIG);
  params = mctsr_tree_default_params();
  params.uct_refresh = 1000;
  CHECK(mctsr_tree_create(&params, &tree) == MCTSR_ERROR_INVALID_CONFIG);
  params.uct_refresh = 2;
  CHECK(mctsr_tree_create(&params, &tree) == MCTSR_ERROR_INVALID_CONFIG);
  CHECK(std::string(mctsr_last_error()).find("uct_refresh = 2") != std::string::npos);
  params = mctsr_tree_default_params();
  params.max_depth = -1;
  CHECK(mctsr_tree_create(&params, &tree) == MCTSR_ERROR_INVALID_CONFIG);
  CHECK(std::string(mctsr_last_error()).find("max_depth = -1") != std::string::npos);
  params = mctsr_tree_default_params();
  params.suppress_replacement = 1e300;  // finite, but no reward: refused by the same validate()
  CHECK(mctsr_tree_create(&params, &tree) == MCTSR_ERROR_INVALID_CONFIG);
  CHECK(std::string(mctsr_last_error()).find("suppress_replacement = 1e+300") != std::string::npos);
  CHECK(tree == nullptr);

  REQUIRE(mctsr_tree_create(nullptr, &tree) == MCTSR_OK);
  mctsr_node answer = MCTSR_NO_NODE, dummy = MCTSR_NO_NODE, out = 0;
  REQUIRE(mctsr_tree_initialize(tree, &answer, &dummy) == MCTSR_OK);
  CHECK(mctsr_tree_add_child(tree, 42, &out) == MCTSR_ERROR_INVALID_NODE);
  CHECK(std::string(mctsr_last_error()).find("node id 42") != std::string::npos);
  const double bad[] = {10, NAN};
  CHECK(mctsr_tree_record_rewards(tree, answer, bad, 2) == MCTSR_ERROR_INVALID_REWARD);
  CHECK(mctsr_tree_record_rewards(tree, answer, nullptr, 0) == MCTSR_ERROR_INVALID_REWARD);
  CHECK(mctsr_tree_record_rewards(tree, answer, nullptr, 1) == MCTSR_ERROR_INVALID_ARGUMENT);
  mctsr_node batch[4];
  size_t n = 99;
  CHECK(mctsr_tree_select_batch(tree, 0, batch, &n) == MCTSR_ERROR_INVALID_ARGUMENT);
  // Enum arguments are int32_t at the ABI: a value outside the enum is a checked error, not UB.
  CHECK(mctsr_tree_add_root(tree, 7, &out) == MCTSR_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(mctsr_last_error()).find("node kind 7") != std::string::npos);
  CHECK(mctsr_tree_add_root(tree, -1, &out) == MCTSR_ERROR_INVALID_ARGUMENT);
  CHECK(mctsr_tree_best(tree, 7, &out) == MCTSR_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(mctsr_last_error()).find("best_by 7") != std::string::npos);
  CHECK(mctsr_tree_best(tree, INT32_MIN, &out) == MCTSR_ERROR_INVALID_ARGUMENT);
  CHECK(mctsr_tree_select(nullptr, &out) == MCTSR_ERROR_INVALID_ARGUMENT);
  CHECK(mctsr_tree_size(tree) == 2);
  int64_t visits = -1;
  CHECK(mctsr_tree_visits(tree, answer, &visits) == MCTSR_OK);
  CHECK(visits == 0);

  // The message is per thread.
  std::string other;
  std::thread([&] { other = mctsr_last_error(); }).join();
  CHECK(other.empty());
  mctsr_tree_free(tree);
  mctsr_tree_free(nullptr);
}
