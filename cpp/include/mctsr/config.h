// mctsr/config.h — the tree's options: which rule of MCTSr (arXiv 2406.07394) each step uses.
//
// Every rule the paper states and every place where the reference code (trotsky1997/MathBlackBox) does
// something else is a value here, so both can be run and compared:
//   - full-score suppression (§3.2 "Full Score Suppression"): raw reward r > threshold (paper: r > 95) or
//       r >= threshold (suppress_inclusive; reference: r >= 95) becomes r - penalty (paper, "subtract") or a
//       fixed value (reference, "replace", 50), or stays ("none");
//   - Q(a) = ½ (min R_a + mean R_a) (§3.2, eq. 1) or plain mean R_a;
//   - back-propagation (§3.4): Q'(a) = ½ (Q(a) + max_c Q'(c)) up the tree ("full_depth") or with the
//       children's own Q ("one_level", the reference's rule);
//   - UCT(a) = Q(a) + c · sqrt( ln(N(parent(a)) + 1) / (N(a) + ε) ) (§3.5, eq. 3), c constant or decaying
//       linearly over the rollout budget (the paper's "dynamic" c);
//   - fully expanded (§3.5): ≥ max_children children AND a child's value > own Q (paper: "exceeds") or
//       ≥ own Q (reference: it keeps a node while it has < 3 children OR its best child's Q is below its own);
//   - selection: greedy argmax of UCT over every candidate (paper and reference) or descent from the roots;
//   - UCT refresh (§3.5 "UCT update"): every node's UCT is current (paper), or kept in a bank the way the
//       reference's update_ucb writes it: after each back-propagation only leaves and parents of leaves are
//       re-banked, every other node keeps the value it was last given ("stale");
//   - initialisation (§3.1: "a root node", from a naive answer and a dummy "I don't know"): the dummy as the
//       single root with the first answer as its child (paper; docs/design.md says why), or two roots
//       (reference);
//   - search constraints (§3.5 "Termination"): a maximum depth, beyond the rollout budget;
//   - how UCT sees Q' (q_transform): the paper's raw Q' on [-100, 100] (c = 1.4 is then worth about one point
//       of Q, so selection is greedy), Q' scaled from [-100, 100] to [0, 1], or min-max normalised over the
//       tree's current Q' values (MuZero / mctx qtransform_by_min_max). exploration_c is in the units of the
//       transformed Q: points of [-100, 100] under raw, fractions of the range under scaled and min_max;
//   - the dummy's expansion (dummy_rule), where Algorithm 1 is silent: "capped" (this project's choice, the
//       paper preset) makes the dummy fully expanded once it has max_children children, whatever their
//       values, so it cannot absorb every rollout when "I don't know" scores as well as every answer;
//       "as_answer" (the reference code) treats it like any node.
#pragma once

#include <cstdint>
#include <string>

namespace mctsr {

// How Q(a) aggregates a node's (suppressed) reward samples.
enum class QRule : std::uint8_t { kMinMean = 0, kMean = 1 };
// What a full score turns into.
enum class Suppression : std::uint8_t { kSubtract = 0, kReplace = 1, kNone = 2 };
// How an ancestor's Q' is recomputed from its children.
enum class Backprop : std::uint8_t { kFullDepth = 0, kOneLevel = 1 };
// "Fully expanded": >= max_children children AND some scored child's value > (paper) or >= (reference) own Q.
enum class ExpandedRule : std::uint8_t { kPaper = 0, kReference = 1 };
// How the next node to refine is chosen.
enum class Selection : std::uint8_t { kGreedy = 0, kDescent = 1 };
// How c moves over the rollout budget.
enum class CSchedule : std::uint8_t { kConstant = 0, kLinearDecay = 1 };
// N(parent) of a root node.
enum class RootParentVisits : std::uint8_t { kVirtualRoot = 0, kZero = 1 };
// What initialize() lays out.
enum class InitLayout : std::uint8_t { kTwoRoots = 0, kDummyRoot = 1 };
// When the UCT that selection ranks by is recomputed.
enum class UctRefresh : std::uint8_t { kLive = 0, kStale = 1 };
// How UCT sees Q'(a): raw, scaled from [-100, 100] to [0, 1], or min-max normalised over the tree.
enum class QTransform : std::uint8_t { kRaw = 0, kScaled = 1, kMinMax = 2 };
// When the dummy stops being a candidate: like any node, or once it has max_children children.
enum class DummyRule : std::uint8_t { kAsAnswer = 0, kCapped = 1 };

struct Config {
  std::int32_t max_children = 3;       // children needed (with expanded_rule) before a node stops being a candidate
  double exploration_c = 1.4;          // c in UCT (the starting c under linear_decay)
  double epsilon = 1e-5;               // ε in UCT's denominator, keeps N(a) = 0 finite
  CSchedule c_schedule = CSchedule::kConstant;  // constant c, or c falling linearly to c_final over the budget
  double c_final = 0.0;                // c once rollout_budget rollouts are done (linear_decay only)
  std::int64_t rollout_budget = 0;     // rollouts the search plans; linear_decay needs > 0 (0 = unknown)
  double suppress_threshold = 95.0;    // raw rewards above this (or at it, with suppress_inclusive) are suppressed
  bool suppress_inclusive = false;     // also suppress a reward equal to the threshold (reference: r >= 95)
  Suppression suppression = Suppression::kSubtract;  // subtract a penalty (paper), replace (reference), none
  double suppress_penalty = 5.0;       // amount subtracted under kSubtract
  double suppress_replacement = 50.0;  // value used under kReplace
  QRule q_rule = QRule::kMinMean;      // ½(min + mean) of the rewards (paper) or their mean
  Backprop backprop = Backprop::kFullDepth;  // children's Q' (paper, full depth) or their own Q (reference)
  ExpandedRule expanded_rule = ExpandedRule::kPaper;  // count AND a child's value > own Q (paper), or >= (reference)
  Selection selection = Selection::kGreedy;  // argmax UCT over all candidates, or descent by max-UCT child
  RootParentVisits root_parent_visits = RootParentVisits::kVirtualRoot;  // roots' N(parent): sum of roots, or 0
  InitLayout init = InitLayout::kDummyRoot;  // dummy root with the answer as its child (paper), or two roots
  UctRefresh uct_refresh = UctRefresh::kLive;  // UCT always current (paper), or the reference's stale bank
  std::int32_t max_depth = 0;          // nodes at this depth or deeper are never candidates (0 = unlimited)
  QTransform q_transform = QTransform::kRaw;  // Q' as UCT sees it: raw (paper), scaled to [0, 1], min-max
  DummyRule dummy_rule = DummyRule::kCapped;  // the dummy is fully expanded at max_children children (ours)

  // Throws InvalidConfig naming the first bad field and its value.
  void validate() const;
};

// The paper's rules (these are also the defaults).
Config paper_config();
// The reference code's rules: r >= 95 replaced by 50, one-level backup, expanded with >=, N(root parent) = 0,
// two roots, stale UCT bank, the dummy expanded like any node.
Config reference_config();

// Names used by the Python layer, the C ABI docs and JSON: "min_mean", "full_depth", ...
// parse_* throws InvalidConfig naming the unknown string.
const char* to_string(QRule v);
const char* to_string(Suppression v);
const char* to_string(Backprop v);
const char* to_string(ExpandedRule v);
const char* to_string(Selection v);
const char* to_string(CSchedule v);
const char* to_string(RootParentVisits v);
const char* to_string(InitLayout v);
const char* to_string(UctRefresh v);
const char* to_string(QTransform v);
const char* to_string(DummyRule v);
QRule parse_q_rule(const std::string& s);
Suppression parse_suppression(const std::string& s);
Backprop parse_backprop(const std::string& s);
ExpandedRule parse_expanded_rule(const std::string& s);
Selection parse_selection(const std::string& s);
CSchedule parse_c_schedule(const std::string& s);
RootParentVisits parse_root_parent_visits(const std::string& s);
InitLayout parse_init(const std::string& s);
UctRefresh parse_uct_refresh(const std::string& s);
QTransform parse_q_transform(const std::string& s);
DummyRule parse_dummy_rule(const std::string& s);

}  // namespace mctsr
