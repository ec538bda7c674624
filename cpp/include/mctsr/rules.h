// mctsr/rules.h — the formulas of MCTSr (arXiv 2406.07394), as pure functions chosen by Config.
//
//   suppress(r)  = r - penalty   if r > threshold   (§3.2 full-score suppression, "subtract", paper: > 95)
//                = replacement   if r >= threshold  ("replace", suppress_inclusive, reference code: >= 95 -> 50)
//                = r             otherwise / "none"
//                (suppress_inclusive chooses > or >= for either rule)
//   Q(a)         = ½ (min R_a + mean R_a)            (§3.2 eq. 1, "min_mean")  |  mean R_a ("mean")
//   Q'(a)        = ½ (Q(a) + max_c Q'(c))            (§3.4, "full_depth": children's backed-up values)
//                = ½ (Q(a) + max_c Q(c))             ("one_level": children's own Q, reference code)
//                = Q(a)                              when no child of a is scored yet
//   UCT(a)       = T(Q'(a)) + c · sqrt( ln(N(parent(a)) + 1) / (N(a) + ε) )   (§3.5 eq. 3)
//   T(q)         = q                                 ("raw", the paper: c is in points of [-100, 100])
//                = (q + 100) / 200                   ("scaled": c is in fractions of the reward scale)
//                = (q - lo) / (hi - lo)              ("min_max", mctx's qtransform_by_min_max: lo, hi = the
//                                                     smallest and largest Q' of the tree's scored nodes;
//                                                     ½ when they are equal)
//   c(t)         = c0                                ("constant")
//                = c0 + (c_final - c0) · min(t, T) / T   ("linear_decay", t rollouts done of budget T)
//
// N(a) is the number of reward samples of a. These functions are the only place the formulas live.
#pragma once

#include <cstdint>

#include "mctsr/config.h"

namespace mctsr {

// The value a raw reward is replaced by under the suppression rule.
double suppress(const Config& config, double raw_reward);

// Q(a) from the sum, minimum and count (> 0) of a node's suppressed rewards.
double q_value(QRule rule, double reward_sum, double reward_min, std::int64_t count);

// Q'(a) from the node's own Q and the largest value among its scored children.
double backed_up_q(double own_q, bool has_scored_child, double best_child_value);

// The exploration term sqrt( ln(N_parent + 1) / (N + ε) ), which UCT multiplies by c.
double exploration_term(double parent_visits, double visits, double epsilon);

// T(q), the Q term of UCT under `transform`; lo and hi are used by min_max only.
double transformed_q(QTransform transform, double q, double lo, double hi);

// UCT(a) = q + c · exploration_term, where q is already transformed.
double uct(double q, double c, double parent_visits, double visits, double epsilon);

// c after `rollouts` rollouts under the config's schedule.
double exploration_c(const Config& config, std::int64_t rollouts);

}  // namespace mctsr
