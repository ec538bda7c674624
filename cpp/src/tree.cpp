// The tree's building steps and readout; selection lives in tree_select.cpp.
#include "mctsr/tree.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "mctsr/errors.h"
#include "mctsr/rules.h"

namespace mctsr {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMinReward = -100.0;
constexpr double kMaxReward = 100.0;

[[noreturn]] void reject_reward(NodeId node, std::size_t index, double reward, const char* why) {
  std::ostringstream message;
  message << "reward " << reward << " (index " << index << " of the rewards for node " << node << ") " << why;
  throw InvalidReward(message.str());
}

}  // namespace

const char* to_string(NodeKind kind) { return kind == NodeKind::kDummy ? "dummy" : "answer"; }

NodeKind parse_node_kind(const char* text) {
  if (std::strcmp(text, "answer") == 0) return NodeKind::kAnswer;
  if (std::strcmp(text, "dummy") == 0) return NodeKind::kDummy;
  throw InvalidArgument(std::string("node kind '") + text + "' is unknown: expected 'answer' or 'dummy'");
}

BestBy parse_best_by(const char* text) {
  if (std::strcmp(text, "own") == 0) return BestBy::kOwnQ;
  if (std::strcmp(text, "q") == 0) return BestBy::kQ;
  throw InvalidArgument(std::string("best(by='") + text + "') is unknown: expected 'own' or 'q'");
}

Tree::Tree(const Config& config) : config_(config) {
  config_.validate();
  index_c_ = mctsr::exploration_c(config_, 0);
}

void Tree::check_node(NodeId node) const {
  if (node < 0 || node >= size()) {
    std::ostringstream message;
    message << "node id " << node << " is not in the tree (it has " << size() << " nodes)";
    throw InvalidNode(message.str());
  }
}

NodeId Tree::add_node(NodeId parent, NodeKind kind) {
  const NodeId id = size();
  parent_.push_back(parent);
  kind_.push_back(kind);
  depth_.push_back(parent == kNoParent ? 0 : depth_[parent] + 1);
  first_child_.push_back(kNoNode);
  last_child_.push_back(kNoNode);
  next_sibling_.push_back(kNoNode);
  num_children_.push_back(0);
  rewards_raw_.emplace_back();
  rewards_.emplace_back();
  visits_.push_back(0.0);
  reward_sum_.push_back(0.0);
  reward_min_.push_back(0.0);
  own_q_.push_back(kNaN);
  q_.push_back(kNaN);
  pending_.push_back(0);
  banked_uct_.push_back(kNaN);
  selections_.push_back(0);
  explored_.push_back(0);
  index_.resize(size());
  q_index_.resize(size());
  if (parent == kNoParent) {
    roots_.push_back(id);
    return id;
  }
  if (first_child_[parent] == kNoNode) {
    first_child_[parent] = id;
  } else {
    next_sibling_[last_child_[parent]] = id;
  }
  last_child_[parent] = id;
  ++num_children_[parent];
  refresh(parent);
  return id;
}

std::pair<NodeId, NodeId> Tree::initialize() {
  if (size() != 0) {
    throw InvalidArgument("initialize() needs an empty tree; this one has " + std::to_string(size()) + " nodes");
  }
  if (config_.init == InitLayout::kDummyRoot) {
    const NodeId dummy = add_node(kNoParent, NodeKind::kDummy);
    const NodeId answer = add_node(dummy, NodeKind::kAnswer);
    return {answer, dummy};
  }
  const NodeId answer = add_node(kNoParent, NodeKind::kAnswer);
  const NodeId dummy = add_node(kNoParent, NodeKind::kDummy);
  return {answer, dummy};
}

NodeId Tree::add_root(NodeKind kind) {
  if (kind != NodeKind::kAnswer && kind != NodeKind::kDummy) {
    throw InvalidArgument("node kind " + std::to_string(static_cast<int>(kind)) + " is unknown");
  }
  return add_node(kNoParent, kind);
}

NodeId Tree::add_child(NodeId parent) {
  check_node(parent);
  pending_[parent] = 0;
  ++rollouts_;
  return add_node(parent, NodeKind::kAnswer);
}

void Tree::record_rewards(NodeId node, const double* rewards, std::size_t count) {
  check_node(node);
  if (count == 0) {
    throw InvalidReward("the rewards for node " + std::to_string(node) + " are empty: expected at least one");
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (!std::isfinite(rewards[i])) reject_reward(node, i, rewards[i], "is not a finite number");
    if (rewards[i] < kMinReward || rewards[i] > kMaxReward) reject_reward(node, i, rewards[i], "is outside [-100, 100]");
  }
  auto& raw = rewards_raw_[node];
  auto& suppressed = rewards_[node];
  if (raw.empty()) reward_min_[node] = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < count; ++i) {
    const double value = suppress(config_, rewards[i]);
    raw.push_back(rewards[i]);
    suppressed.push_back(value);
    reward_sum_[node] += value;
    if (value < reward_min_[node]) reward_min_[node] = value;
  }
  visits_[node] += static_cast<double>(count);
  own_q_[node] = q_value(config_.q_rule, reward_sum_[node], reward_min_[node], static_cast<std::int64_t>(raw.size()));
  recompute_q(node);
  const NodeId parent = parent_[node];
  if (parent == kNoParent) root_visits_ += static_cast<double>(count);
  if (std::isnan(banked_uct_[node])) banked_uct_[node] = uct_unchecked(node);  // first scored: banked once

  refresh(node);
  for (NodeId child = first_child_[node]; child != kNoNode; child = next_sibling_[child]) refresh(child);
  if (parent == kNoParent) {
    if (config_.root_parent_visits == RootParentVisits::kVirtualRoot) {
      for (NodeId root : roots_) refresh(root);
    }
  } else {
    refresh(parent);
  }
}

void Tree::backpropagate(NodeId node) {
  check_node(node);
  for (NodeId ancestor = parent_[node]; ancestor != kNoParent; ancestor = parent_[ancestor]) {
    recompute_q(ancestor);
    refresh(ancestor);
  }
  if (config_.uct_refresh == UctRefresh::kStale) rebank();
}

bool Tree::is_leaf(NodeId node) const { return visits_[node] > 0.0 && first_child_[node] == kNoNode; }

void Tree::rebank() {
  // The reference's update_ucb: every leaf, then every parent of a leaf (its Q' from its children's values);
  // nodes whose children all have children of their own keep their old value.
  for (NodeId node = 0; node < size(); ++node) {
    if (visits_[node] == 0.0) continue;
    bool rebanked = is_leaf(node);
    for (NodeId child = first_child_[node]; child != kNoNode && !rebanked; child = next_sibling_[child]) {
      rebanked = is_leaf(child);
    }
    if (!rebanked) continue;
    banked_uct_[node] = uct_unchecked(node);
    refresh(node);
  }
}

void Tree::record_and_backpropagate(NodeId node, const double* rewards, std::size_t count) {
  record_rewards(node, rewards, count);
  backpropagate(node);
}

void Tree::recompute_q(NodeId node) {
  if (visits_[node] == 0.0) return;
  bounds_dirty_ = true;
  q_changed_ = true;
  bool has_scored_child = false;
  double best_child = 0.0;
  for (NodeId child = first_child_[node]; child != kNoNode; child = next_sibling_[child]) {
    if (visits_[child] == 0.0) continue;
    const double value = child_value(child);
    if (!has_scored_child || value > best_child) best_child = value;
    has_scored_child = true;
  }
  q_[node] = backed_up_q(own_q_[node], has_scored_child, best_child);
}

double Tree::child_value(NodeId child) const {
  return config_.backprop == Backprop::kFullDepth ? q_[child] : own_q_[child];
}

void Tree::cancel(NodeId node) {
  check_node(node);
  if (!pending_[node]) return;
  pending_[node] = 0;
  refresh(node);
}

double Tree::exploration_c() const { return mctsr::exploration_c(config_, rollouts_); }

NodeId Tree::parent(NodeId node) const {
  check_node(node);
  return parent_[node];
}

NodeKind Tree::kind(NodeId node) const {
  check_node(node);
  return kind_[node];
}

std::int64_t Tree::depth(NodeId node) const {
  check_node(node);
  return depth_[node];
}

std::vector<NodeId> Tree::children(NodeId node) const {
  check_node(node);
  std::vector<NodeId> out;
  out.reserve(static_cast<std::size_t>(num_children_[node]));
  for (NodeId child = first_child_[node]; child != kNoNode; child = next_sibling_[child]) out.push_back(child);
  return out;
}

std::int64_t Tree::num_children(NodeId node) const {
  check_node(node);
  return num_children_[node];
}

std::int64_t Tree::visits(NodeId node) const {
  check_node(node);
  return static_cast<std::int64_t>(rewards_[node].size());
}

const std::vector<double>& Tree::rewards_raw(NodeId node) const {
  check_node(node);
  return rewards_raw_[node];
}

const std::vector<double>& Tree::rewards(NodeId node) const {
  check_node(node);
  return rewards_[node];
}

bool Tree::is_scored(NodeId node) const {
  check_node(node);
  return visits_[node] > 0.0;
}

double Tree::own_q(NodeId node) const {
  check_node(node);
  return own_q_[node];
}

double Tree::q(NodeId node) const {
  check_node(node);
  return q_[node];
}

std::int64_t Tree::selections(NodeId node) const {
  check_node(node);
  return selections_[node];
}

std::int64_t Tree::explored(NodeId node) const {
  check_node(node);
  return explored_[node];
}

bool Tree::is_pending(NodeId node) const {
  check_node(node);
  return pending_[node] != 0;
}

NodeId Tree::best(BestBy by) const {
  const auto& values = by == BestBy::kQ ? q_ : own_q_;
  NodeId best = kNoNode;
  for (NodeId node = 0; node < size(); ++node) {
    if (kind_[node] == NodeKind::kDummy || visits_[node] == 0.0) continue;
    if (best == kNoNode || values[node] > values[best]) best = node;
  }
  return best;
}

}  // namespace mctsr
