// The formulas of rules.h, each against values worked by hand.
#include <doctest/doctest.h>

#include <cmath>

#include "mctsr/rules.h"

using namespace mctsr;

TEST_CASE("full-score suppression: subtract above 95 (paper), replace at or above 95 (reference), none") {
  Config config;  // threshold 95, subtract 5
  CHECK(suppress(config, 100) == 95);
  CHECK(suppress(config, 96) == 91);
  CHECK(suppress(config, 95) == 95);  // strictly above the threshold only
  CHECK(suppress(config, -100) == -100);
  config.suppression = Suppression::kReplace;
  CHECK(suppress(config, 100) == 50);
  CHECK(suppress(config, 95) == 95);
  config.suppress_inclusive = true;  // the reference: r >= 95 becomes 50
  CHECK(suppress(config, 95) == 50);
  CHECK(suppress(config, 94.99) == 94.99);
  CHECK(suppress(reference_config(), 95) == 50);
  CHECK(suppress(paper_config(), 95) == 95);
  config.suppression = Suppression::kSubtract;
  CHECK(suppress(config, 95) == 90);  // inclusive applies to either rule
  config.suppress_inclusive = false;
  config.suppression = Suppression::kNone;
  CHECK(suppress(config, 100) == 100);
  config.suppression = Suppression::kSubtract;
  config.suppress_threshold = 80;
  config.suppress_penalty = 10;
  CHECK(suppress(config, 90) == 80);
}

TEST_CASE("Q = ½(min + mean) or mean") {
  // rewards 90, 95, 80: sum 265, min 80, mean 88.333...; Q = ½(80 + 88.333) = 84.1666...
  CHECK(q_value(QRule::kMinMean, 265, 80, 3) == doctest::Approx(84.1666666667));
  CHECK(q_value(QRule::kMean, 265, 80, 3) == doctest::Approx(88.3333333333));
  CHECK(q_value(QRule::kMinMean, -10, -10, 2) == -7.5);  // rewards 0, -10: ½(-10 + -5)
  CHECK(q_value(QRule::kMinMean, 70, 70, 1) == 70);
}

TEST_CASE("Q' = ½(Q + best child), or Q with no scored child") {
  CHECK(backed_up_q(84.0, true, 70.0) == 77.0);
  CHECK(backed_up_q(84.0, false, 123.0) == 84.0);
}

TEST_CASE("UCT = Q + c sqrt(ln(N_parent + 1) / (N + eps))") {
  // N_parent = 3, N = 1: sqrt(ln 4 / 1.00001) = 1.1774...; UCT = 70 + 1.4 * 1.1774 = 71.6484
  CHECK(uct(70, 1.4, 3, 1, 1e-5) == doctest::Approx(71.6483657897));
  CHECK(uct(70, 1.4, 0, 1, 1e-5) == 70);  // ln(1) = 0: no exploration bonus
  CHECK(uct(70, 0.0, 3, 1, 1e-5) == 70);
  CHECK(exploration_term(std::exp(1.0) - 1.0, 4, 0) == doctest::Approx(0.5));
}

TEST_CASE("c schedule: constant, or linear decay over the budget") {
  Config config;
  CHECK(exploration_c(config, 1000) == 1.4);
  config.c_schedule = CSchedule::kLinearDecay;
  config.exploration_c = 2.0;
  config.c_final = 0.5;
  config.rollout_budget = 10;
  CHECK(exploration_c(config, 0) == 2.0);
  CHECK(exploration_c(config, 4) == doctest::Approx(1.4));  // 2 - 1.5 * 4/10
  CHECK(exploration_c(config, 10) == 0.5);
  CHECK(exploration_c(config, 25) == 0.5);  // stays at c_final past the budget
}
