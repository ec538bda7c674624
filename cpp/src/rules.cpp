#include "mctsr/rules.h"

#include <algorithm>
#include <cmath>

namespace mctsr {

double suppress(const Config& config, double raw_reward) {
  const bool full = config.suppress_inclusive ? raw_reward >= config.suppress_threshold
                                              : raw_reward > config.suppress_threshold;
  if (!full) return raw_reward;
  switch (config.suppression) {
    case Suppression::kSubtract:
      return raw_reward - config.suppress_penalty;
    case Suppression::kReplace:
      return config.suppress_replacement;
    case Suppression::kNone:
      break;
  }
  return raw_reward;
}

double q_value(QRule rule, double reward_sum, double reward_min, std::int64_t count) {
  const double mean = reward_sum / static_cast<double>(count);
  switch (rule) {
    case QRule::kMinMean:
      return 0.5 * (reward_min + mean);
    case QRule::kMean:
      break;
  }
  return mean;
}

double backed_up_q(double own_q, bool has_scored_child, double best_child_value) {
  return has_scored_child ? 0.5 * (own_q + best_child_value) : own_q;
}

double exploration_term(double parent_visits, double visits, double epsilon) {
  return std::sqrt(std::log(parent_visits + 1.0) / (visits + epsilon));
}

double transformed_q(QTransform transform, double q, double lo, double hi) {
  switch (transform) {
    case QTransform::kRaw:
      break;
    case QTransform::kScaled:
      return (q + 100.0) / 200.0;
    case QTransform::kMinMax:
      return hi > lo ? (q - lo) / (hi - lo) : 0.5;
  }
  return q;
}

double uct(double q, double c, double parent_visits, double visits, double epsilon) {
  return q + c * exploration_term(parent_visits, visits, epsilon);
}

double exploration_c(const Config& config, std::int64_t rollouts) {
  if (config.c_schedule == CSchedule::kConstant || config.rollout_budget <= 0) return config.exploration_c;
  const double done = static_cast<double>(std::min(rollouts, config.rollout_budget));
  return config.exploration_c +
         (config.c_final - config.exploration_c) * done / static_cast<double>(config.rollout_budget);
}

}  // namespace mctsr
