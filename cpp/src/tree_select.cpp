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
  const bool enough_children = num_children_[node] >= config_.max_children;
  bool better_child = false;
  if (visits_[node] > 0.0) {
    for (NodeId child = first_child_[node]; child != kNoNode && !better_child; child = next_sibling_[child]) {
      better_child = visits_[child] > 0.0 && child_value(child) > own_q_[node];
    }
  }
  return config_.expanded_rule == ExpandedRule::kPaper ? (enough_children && better_child)
                                                        : (enough_children || better_child);
}

bool Tree::candidate(NodeId node) const { return visits_[node] > 0.0 && !pending_[node] && !expanded(node); }

double Tree::uct_unchecked(NodeId node) const {
  return mctsr::uct(q_[node], exploration_c(), parent_visits(node), visits_[node], config_.epsilon);
}

double Tree::uct(NodeId node) const {
  check_node(node);
  if (visits_[node] == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return uct_unchecked(node);
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
    index_.set(node, uct_unchecked(node));
  } else {
    index_.clear(node);
  }
}

void Tree::refresh_index_if_c_changed() {
  const double c = exploration_c();
  if (c == index_c_) return;
  index_c_ = c;
  for (NodeId node = 0; node < size(); ++node) refresh(node);
}

NodeId Tree::select_greedy() {
  refresh_index_if_c_changed();
  return index_.best();
}

NodeId Tree::select_descent() const {
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
    for (NodeId node : level) ranked.emplace_back(uct_unchecked(node), node);
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
      if (!pending_[node]) return node;
      continue;
    }
    kids.clear();
    for (NodeId child = first_child_[node]; child != kNoNode; child = next_sibling_[child]) kids.push_back(child);
    push_best_last(kids);
  }
  return kNoNode;
}

NodeId Tree::select() {
  return config_.selection == Selection::kGreedy ? select_greedy() : select_descent();
}

std::vector<NodeId> Tree::select_batch(std::int64_t k) {
  if (k < 1) throw InvalidArgument("select_batch(k=" + std::to_string(k) + "): k must be >= 1");
  std::vector<NodeId> chosen;
  while (static_cast<std::int64_t>(chosen.size()) < k) {
    const NodeId node = select();
    if (node == kNoNode) break;
    pending_[node] = 1;
    refresh(node);
    chosen.push_back(node);
  }
  return chosen;
}

}  // namespace mctsr
