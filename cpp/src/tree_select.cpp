// Selection (§3.5): which nodes are candidates, their UCT, greedy argmax and descent from the roots.
#include <algorithm>
#include <limits>

#include "mctsr/errors.h"
#include "mctsr/rules.h"
#include "mctsr/tree.h"

namespace mctsr {

double Tree::parent_visits(NodeId node) const {
  const NodeId parent = parent_[node];
  if (parent != kNoParent) return visits_[parent];
  return config_.root_parent_visits == RootParentVisits::kVirtualRoot ? root_visits_ : 0.0;
}

bool Tree::expanded(NodeId node) const {
  if (num_children_[node] < config_.max_children || visits_[node] == 0.0) return false;
  if (kind_[node] == NodeKind::kDummy && config_.dummy_rule == DummyRule::kCapped) return true;
  const bool or_equal = config_.expanded_rule == ExpandedRule::kReference;
  for (NodeId child = first_child_[node]; child != kNoNode; child = next_sibling_[child]) {
    if (visits_[child] == 0.0) continue;
    const double value = child_value(child);
    if (value > own_q_[node] || (or_equal && value == own_q_[node])) return true;
  }
  return false;
}

bool Tree::candidate(NodeId node) const {
  return visits_[node] > 0.0 && !pending_[node] && (config_.max_depth == 0 || depth_[node] < config_.max_depth) &&
         !expanded(node);
}

void Tree::q_bounds(double& lo, double& hi) const {
  if (bounds_dirty_) {
    lo_ = hi_ = 0.0;
    bool any = false;
    for (NodeId node = 0; node < size(); ++node) {
      if (visits_[node] == 0.0) continue;
      if (!any || q_[node] < lo_) lo_ = q_[node];
      if (!any || q_[node] > hi_) hi_ = q_[node];
      any = true;
    }
    bounds_dirty_ = false;
  }
  lo = lo_;
  hi = hi_;
}

double Tree::uct_unchecked(NodeId node) const {
  double lo = 0.0;
  double hi = 0.0;
  if (config_.q_transform == QTransform::kMinMax) q_bounds(lo, hi);
  const double q = transformed_q(config_.q_transform, q_[node], lo, hi);
  return mctsr::uct(q, exploration_c(), parent_visits(node), visits_[node], config_.epsilon);
}

double Tree::selection_key(NodeId node) const {
  return config_.uct_refresh == UctRefresh::kStale ? banked_uct_[node] : uct_unchecked(node);
}

double Tree::uct(NodeId node) const {
  check_node(node);
  if (visits_[node] == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return selection_key(node);
}

bool Tree::is_fully_expanded(NodeId node) const {
  check_node(node);
  return expanded(node);
}

bool Tree::is_candidate(NodeId node) const {
  check_node(node);
  return candidate(node);
}

std::vector<NodeId> Tree::candidates() const {
  std::vector<NodeId> out;
  for (NodeId node = 0; node < size(); ++node) {
    if (candidate(node)) out.push_back(node);
  }
  return out;
}

void Tree::refresh(NodeId node) {
  if (config_.selection != Selection::kGreedy) return;
  if (candidate(node)) {
    index_.set(node, selection_key(node));
    q_index_.set(node, q_[node]);
  } else {
    index_.clear(node);
    q_index_.clear(node);
  }
}

void Tree::refresh_index_if_changed() {
  if (config_.uct_refresh == UctRefresh::kStale) return;  // banked values keep the c they were banked with
  // Under min_max every key depends on the tree's Q' bounds, which any Q' can move (and a back-propagation can
  // move and restore them while it refreshes one node at a time): rebuild after any change of Q'.
  const bool bounds_moved = config_.q_transform == QTransform::kMinMax && q_changed_;
  const double c = exploration_c();
  if (c == index_c_ && !bounds_moved) return;
  index_c_ = c;
  q_changed_ = false;
  for (NodeId node = 0; node < size(); ++node) refresh(node);
}

NodeId Tree::select_greedy() {
  refresh_index_if_changed();
  return index_.best();
}

NodeId Tree::exploitation_choice() {
  return config_.selection == Selection::kGreedy ? q_index_.best() : select_descent(true);
}

NodeId Tree::select_descent(bool by_q_alone) const {
  // Depth-first from the roots, best UCT first: the first node that is not fully expanded ends the descent
  // (if it is pending, the next-best branch is tried). Unscored nodes are never entered.
  std::vector<NodeId> stack;
  std::vector<NodeId> level;
  auto push_best_last = [&](const std::vector<NodeId>& nodes) {
    level.clear();
    for (NodeId node : nodes) {
      if (visits_[node] > 0.0) level.push_back(node);
    }
    std::vector<std::pair<double, NodeId>> ranked;
    ranked.reserve(level.size());
    for (NodeId node : level) ranked.emplace_back(by_q_alone ? q_[node] : selection_key(node), node);
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second > b.second;
    });
    for (const auto& entry : ranked) stack.push_back(entry.second);
  };
  push_best_last(roots_);
  std::vector<NodeId> kids;
  while (!stack.empty()) {
    const NodeId node = stack.back();
    stack.pop_back();
    if (!expanded(node)) {
      if (candidate(node)) return node;  // pending or too deep: try the next-best branch
      continue;
    }
    kids.clear();
    for (NodeId child = first_child_[node]; child != kNoNode; child = next_sibling_[child]) kids.push_back(child);
    push_best_last(kids);
  }
  return kNoNode;
}

NodeId Tree::select() {
  return config_.selection == Selection::kGreedy ? select_greedy() : select_descent(false);
}

std::vector<NodeId> Tree::select_batch(std::int64_t k) {
  if (k < 1) throw InvalidArgument("select_batch(k=" + std::to_string(k) + "): k must be >= 1");
  std::vector<NodeId> chosen;
  while (static_cast<std::int64_t>(chosen.size()) < k) {
    const NodeId node = select();
    if (node == kNoNode) break;
    const NodeId greedy = exploitation_choice();
    ++selections_[node];
    if (greedy != kNoNode && greedy != node && q_[greedy] != q_[node]) ++explored_[node];
    pending_[node] = 1;
    refresh(node);
    chosen.push_back(node);
  }
  return chosen;
}

}  // namespace mctsr
