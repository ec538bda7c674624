// mctsr/tree.h — the MCTSr search tree (arXiv 2406.07394, §3), as a struct of arrays indexed by node id.
//
// A node is one whole candidate answer; the model is called *between* the steps below, never from them:
//   select()/select_batch(k)  pick the node(s) to criticise and refine           (§3.5, UCT, eq. 3)
//   add_child(parent)         the refined answer becomes a child                  (§3.3 self-refine)
//   record_rewards(node, R)   its sampled rewards, suppressed, give Q(node)       (§3.2, eq. 1)
//   backpropagate(node)       Q'(a) = ½ (Q(a) + max_c Q'(c)) for every ancestor   (§3.4, eq. 2)
// The formulas are in mctsr/rules.h, the options in mctsr/config.h.
//
// Definitions this file fixes:
//   - N(a) is the number of reward samples of a; a node with none is "unscored": it has no Q, is never a
//     candidate, is ignored in its parent's max over children, and is never best().
//   - Q'(a) is derived, never accumulated: it is recomputed from a's own rewards and its children's current
//     values each time, so calling backpropagate() twice changes nothing (no compounding).
//   - A child's "value" is what the backup reads: Q'(c) under full_depth, Q(c) under one_level. A node is fully
//     expanded when it has >= max_children children AND some scored child's value exceeds (paper) or equals or
//     exceeds (reference) the node's own Q(a) (when Q'(a) is fresh this is the same as comparing with Q'(a)).
//   - N(parent) of a root: the sum of all roots' visits (virtual_root: the roots hang under an implicit root),
//     or 0 (zero: the reference code, which makes a root's UCT equal its Q').
//   - The UCT selection ranks by: under uct_refresh = live, the formula on the current values. Under stale
//     (the reference's ucb_bank), a banked value: a node is banked when first scored, and backpropagate()
//     re-banks every scored leaf and every scored parent of a scored leaf, as the reference's update_ucb does;
//     any other node keeps its last banked value. uct(node) reports the value selection ranks by.
//   - The dummy under dummy_rule = capped (this project's choice, where Algorithm 1 is silent) is fully
//     expanded once it has max_children children, whatever their values, so it cannot absorb every rollout.
//   - UCT's Q term is T(Q'(a)) by config.q_transform (rules.h); under min_max, lo and hi are the smallest and
//     largest Q' of the tree's scored nodes now (the dummy included).
//   - Candidates: scored, not fully expanded, not pending, and shallower than max_depth (when it is > 0).
//   - Selection diagnostics: each node select_batch() returns counts one selection of it; it counts one
//     "explored" selection too when the same rule with c = 0 (ranking by Q' alone) would have picked a node
//     of a different Q' (a tie broken the other way is not exploration).
//     select_batch() marks what it returns pending; the mark clears on add_child(node) or cancel(node).
//   - Every call checks all of its input before its first write: a call that throws changes nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "mctsr/config.h"
#include "mctsr/uct_index.h"

namespace mctsr {

using NodeId = std::int64_t;
inline constexpr NodeId kNoNode = -1;    // "no such node": select() with no candidate, best() with none scored
inline constexpr NodeId kNoParent = -1;  // parent of a root

// A real candidate answer, or the "I don't know" dummy answer (§3.1), which is never a final answer.
enum class NodeKind : std::uint8_t { kAnswer = 0, kDummy = 1 };
// Which value best() ranks by: the node's own Q(a), or its backed-up Q'(a).
enum class BestBy : std::uint8_t { kOwnQ = 0, kQ = 1 };

const char* to_string(NodeKind kind);
NodeKind parse_node_kind(const char* text);  // "answer" | "dummy"; throws InvalidArgument
BestBy parse_best_by(const char* text);      // "own" | "q"; throws InvalidArgument

class Tree {
 public:
  // Throws InvalidConfig when config.validate() does.
  explicit Tree(const Config& config = Config{});

  const Config& config() const { return config_; }

  // --- building -------------------------------------------------------------------------------------------
  // Lays out the first answer and the dummy by config.init; returns {answer, dummy}. Needs an empty tree.
  std::pair<NodeId, NodeId> initialize();
  NodeId add_root(NodeKind kind);
  // A refined answer under `parent`: clears parent's pending mark and counts one rollout.
  NodeId add_child(NodeId parent);
  // Appends reward samples (finite, in [-100, 100], at least one) and recomputes Q(node) and Q'(node).
  void record_rewards(NodeId node, const double* rewards, std::size_t count);
  void record_rewards(NodeId node, const std::vector<double>& rewards) {
    record_rewards(node, rewards.data(), rewards.size());
  }
  // Recomputes Q' of every ancestor of `node` by config.backprop, bottom up.
  void backpropagate(NodeId node);
  // record_rewards then backpropagate, one call.
  void record_and_backpropagate(NodeId node, const double* rewards, std::size_t count);

  // --- selection ------------------------------------------------------------------------------------------
  // The node to refine next by config.selection, or kNoNode. Marks nothing.
  NodeId select();
  // Up to k distinct nodes, each marked pending (k >= 1; throws InvalidArgument otherwise).
  std::vector<NodeId> select_batch(std::int64_t k);
  // Clears a pending mark (no-op when the node is not pending).
  void cancel(NodeId node);

  // --- readout --------------------------------------------------------------------------------------------
  std::int64_t size() const { return static_cast<std::int64_t>(parent_.size()); }
  std::int64_t rollouts() const { return rollouts_; }
  double exploration_c() const;  // c now, after rollouts() rollouts
  NodeId parent(NodeId node) const;
  NodeKind kind(NodeId node) const;
  std::int64_t depth(NodeId node) const;
  std::vector<NodeId> children(NodeId node) const;
  std::int64_t num_children(NodeId node) const;
  std::int64_t visits(NodeId node) const;
  const std::vector<double>& rewards_raw(NodeId node) const;
  const std::vector<double>& rewards(NodeId node) const;  // after suppression
  bool is_scored(NodeId node) const;
  double own_q(NodeId node) const;  // Q(a); NaN when unscored
  double q(NodeId node) const;      // Q'(a), used by UCT; NaN when unscored
  double uct(NodeId node) const;    // what selection ranks by (the banked value under stale); NaN when unscored
  bool is_fully_expanded(NodeId node) const;
  bool is_pending(NodeId node) const;
  bool is_candidate(NodeId node) const;
  std::int64_t selections(NodeId node) const;  // times select_batch() returned the node
  std::int64_t explored(NodeId node) const;    // of those, times c = 0 would have picked another Q'
  std::vector<NodeId> candidates() const;
  const std::vector<NodeId>& roots() const { return roots_; }
  // The scored non-dummy node with the largest value (smallest id on ties), or kNoNode.
  NodeId best(BestBy by = BestBy::kOwnQ) const;

 private:
  void check_node(NodeId node) const;
  NodeId add_node(NodeId parent, NodeKind kind);
  double parent_visits(NodeId node) const;
  double child_value(NodeId child) const;
  bool expanded(NodeId node) const;
  bool candidate(NodeId node) const;
  double uct_unchecked(NodeId node) const;  // the formula on the current values
  void q_bounds(double& lo, double& hi) const;  // smallest and largest Q' of the scored nodes (min_max)
  double selection_key(NodeId node) const;  // uct_unchecked, or the banked value under stale
  bool is_leaf(NodeId node) const;          // scored and childless (the reference's leaves)
  void rebank();
  void recompute_q(NodeId node);
  void refresh(NodeId node);
  void refresh_index_if_changed();
  NodeId select_greedy();
  NodeId select_descent(bool by_q_alone) const;
  NodeId exploitation_choice();  // what selection would pick with c = 0

  Config config_;
  // One entry per node, indexed by NodeId.
  std::vector<NodeId> parent_;
  std::vector<NodeKind> kind_;
  std::vector<std::int64_t> depth_;
  std::vector<NodeId> first_child_;   // kNoNode when childless
  std::vector<NodeId> last_child_;
  std::vector<NodeId> next_sibling_;  // kNoNode for the youngest child
  std::vector<std::int64_t> num_children_;
  std::vector<std::vector<double>> rewards_raw_;
  std::vector<std::vector<double>> rewards_;  // suppressed
  std::vector<double> visits_;                // N(a), as a double for UCT
  std::vector<double> reward_sum_;            // of the suppressed rewards
  std::vector<double> reward_min_;
  std::vector<double> own_q_;  // NaN until scored
  std::vector<double> q_;      // NaN until scored
  std::vector<std::uint8_t> pending_;
  std::vector<double> banked_uct_;  // uct_refresh = stale: the UCT selection ranks by; NaN until scored
  std::vector<std::int64_t> selections_;
  std::vector<std::int64_t> explored_;

  std::vector<NodeId> roots_;
  double root_visits_ = 0.0;  // sum of the roots' visits: N(parent) of a root under virtual_root
  std::int64_t rollouts_ = 0;
  // Greedy selection's index of candidates by UCT, built at c = index_c_ (and, under min_max, rebuilt once a
  // Q' changed: q_changed_); q_index_ ranks the same candidates by Q' alone (the c = 0 choice, diagnostics).
  UctIndex index_;
  UctIndex q_index_;
  double index_c_ = 0.0;
  bool q_changed_ = false;
  // The Q' bounds of min_max, recomputed when a Q' changed since they were last read.
  mutable bool bounds_dirty_ = true;
  mutable double lo_ = 0.0;
  mutable double hi_ = 0.0;
};

}  // namespace mctsr
