// Config defaults, presets, names, and validate() naming each bad field.
#include <doctest/doctest.h>

#include <limits>
#include <string>

#include "mctsr/config.h"
#include "mctsr/errors.h"

using namespace mctsr;

namespace {

// The message validate() throws, or "" when it passes.
std::string validation_error(const Config& config) {
  try {
    config.validate();
  } catch (const InvalidConfig& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("defaults are the paper's rules and valid") {
  const Config c;
  CHECK(c.max_children == 3);
  CHECK(c.exploration_c == 1.4);
  CHECK(c.epsilon == 1e-5);
  CHECK(c.suppress_threshold == 95);
  CHECK(c.suppress_penalty == 5);
  CHECK(c.suppress_replacement == 50);
  CHECK(c.q_rule == QRule::kMinMean);
  CHECK(c.backprop == Backprop::kFullDepth);
  CHECK(c.expanded_rule == ExpandedRule::kPaper);
  CHECK_FALSE(c.suppress_inclusive);
  CHECK(c.init == InitLayout::kDummyRoot);
  CHECK(c.uct_refresh == UctRefresh::kLive);
  CHECK(c.max_depth == 0);
  CHECK(validation_error(c).empty());
  CHECK(validation_error(paper_config()).empty());
}

TEST_CASE("the reference preset") {
  const Config c = reference_config();
  CHECK(c.suppression == Suppression::kReplace);
  CHECK(c.suppress_threshold == 95);
  CHECK(c.suppress_inclusive);
  CHECK(c.suppress_replacement == 50);
  CHECK(c.uct_refresh == UctRefresh::kStale);
  CHECK(c.backprop == Backprop::kOneLevel);
  CHECK(c.expanded_rule == ExpandedRule::kReference);
  CHECK(c.root_parent_visits == RootParentVisits::kZero);
  CHECK(c.init == InitLayout::kTwoRoots);
  CHECK(validation_error(c).empty());
}

TEST_CASE("validate names the bad field and value") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Config c;
  c.max_children = 0;
  CHECK(validation_error(c).find("max_children = 0") != std::string::npos);
  c = Config{};
  c.exploration_c = -1;
  CHECK(validation_error(c).find("exploration_c = -1") != std::string::npos);
  c = Config{};
  c.exploration_c = nan;
  CHECK(validation_error(c).find("exploration_c = nan") != std::string::npos);
  c = Config{};
  c.epsilon = -1e-5;
  CHECK(validation_error(c).find("epsilon") != std::string::npos);
  c = Config{};
  c.c_final = inf;
  CHECK(validation_error(c).find("c_final = inf") != std::string::npos);
  c = Config{};
  c.rollout_budget = -3;
  CHECK(validation_error(c).find("rollout_budget = -3") != std::string::npos);
  c = Config{};
  c.c_schedule = CSchedule::kLinearDecay;
  CHECK(validation_error(c).find("rollout_budget = 0") != std::string::npos);
  c.rollout_budget = 8;
  CHECK(validation_error(c).empty());
  c = Config{};
  c.suppress_threshold = nan;
  CHECK(validation_error(c).find("suppress_threshold") != std::string::npos);
  c = Config{};
  c.suppress_penalty = -5;
  CHECK(validation_error(c).find("suppress_penalty = -5") != std::string::npos);
  c = Config{};
  c.suppress_replacement = nan;
  CHECK(validation_error(c).find("suppress_replacement") != std::string::npos);
  c = Config{};
  c.q_rule = static_cast<QRule>(7);
  CHECK(validation_error(c).find("q_rule = 7") != std::string::npos);
  c = Config{};
  c.uct_refresh = static_cast<UctRefresh>(2);
  CHECK(validation_error(c).find("uct_refresh = 2") != std::string::npos);
  c = Config{};
  c.max_depth = -1;
  CHECK(validation_error(c).find("max_depth = -1") != std::string::npos);
}

TEST_CASE("validate bounds the reward-scale and UCT numbers, naming value and range") {
  // Each value is finite, so only the range can refuse it; each one used to be accepted.
  struct Bad {
    double Config::*field;
    double value;
    const char* message;
  };
  const Bad cases[] = {
      {&Config::suppress_replacement, 1e300, "suppress_replacement = 1e+300: expected a finite number in [-100, 100]"},
      {&Config::suppress_replacement, -101, "suppress_replacement = -101"},
      {&Config::suppress_threshold, 1e300, "suppress_threshold = 1e+300: expected a finite number in [-100, 100]"},
      {&Config::suppress_penalty, 201, "suppress_penalty = 201: expected a finite number in [0, 200]"},
      {&Config::exploration_c, 1e300, "exploration_c = 1e+300: expected a finite number in [0, 1e+06]"},
      {&Config::c_final, 1e7, "c_final = 1e+07"},
      {&Config::epsilon, 1e300, "epsilon = 1e+300"},
  };
  for (const auto& bad : cases) {
    Config c;
    c.*bad.field = bad.value;
    CHECK(validation_error(c).find(bad.message) != std::string::npos);
  }
  Config edge;  // the ends of each range are valid
  edge.suppress_replacement = -100;
  edge.suppress_threshold = 100;
  edge.suppress_penalty = 200;
  edge.exploration_c = 1e6;
  CHECK(validation_error(edge).empty());
}

TEST_CASE("strategy names round-trip, unknown names are InvalidConfig") {
  CHECK(parse_q_rule("mean") == QRule::kMean);
  CHECK(std::string(to_string(QRule::kMinMean)) == "min_mean");
  CHECK(parse_backprop(to_string(Backprop::kOneLevel)) == Backprop::kOneLevel);
  CHECK(parse_suppression("replace") == Suppression::kReplace);
  CHECK(parse_expanded_rule("reference") == ExpandedRule::kReference);
  CHECK(parse_selection("descent") == Selection::kDescent);
  CHECK(parse_c_schedule("linear_decay") == CSchedule::kLinearDecay);
  CHECK(parse_root_parent_visits("zero") == RootParentVisits::kZero);
  CHECK(parse_init("dummy_root") == InitLayout::kDummyRoot);
  CHECK(parse_uct_refresh("stale") == UctRefresh::kStale);
  CHECK(std::string(to_string(UctRefresh::kLive)) == "live");
  CHECK_THROWS_AS(parse_q_rule("median"), InvalidConfig);
  CHECK_THROWS_WITH(parse_selection("random"), doctest::Contains("'random'"));
}
