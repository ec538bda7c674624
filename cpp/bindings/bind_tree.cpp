// mctsr::Tree as _core.Tree. Ids are ints; "no node" is None (never -1) except inside arrays().
// Every call locks the tree's mutex, so a Tree shared between Python threads stays consistent even where the
// GIL is released (the calls whose cost grows with the tree: selection, back-propagation, scans).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "mctsr/tree.h"

namespace py = pybind11;

namespace mctsr::bindings {
namespace {

struct PyTree {
  explicit PyTree(const Config& config) : tree(config) {}
  Tree tree;
  std::mutex mutex;
};

using Lock = std::lock_guard<std::mutex>;
using ReleaseGil = py::call_guard<py::gil_scoped_release>;

std::optional<NodeId> node_or_none(NodeId node) {
  return node == kNoNode ? std::nullopt : std::optional<NodeId>(node);
}

std::optional<double> value_or_none(double value) {
  return std::isnan(value) ? std::nullopt : std::optional<double>(value);
}

template <typename T>
py::array_t<T> array_of(std::size_t n) {
  return py::array_t<T>(static_cast<py::ssize_t>(n));
}

// The whole tree as numpy arrays: one entry per node, plus CSR layouts for children and rewards.
py::dict arrays(PyTree& self) {
  Lock lock(self.mutex);
  const Tree& t = self.tree;
  const auto n = static_cast<std::size_t>(t.size());
  auto parent = array_of<std::int64_t>(n);
  auto kind = array_of<std::int8_t>(n);
  auto depth = array_of<std::int64_t>(n);
  auto visits = array_of<std::int64_t>(n);
  auto q_own = array_of<double>(n);
  auto q = array_of<double>(n);
  auto uct = array_of<double>(n);
  auto fully_expanded = array_of<bool>(n);
  auto pending = array_of<bool>(n);
  auto selections = array_of<std::int64_t>(n);
  auto explored = array_of<std::int64_t>(n);
  auto children_offsets = array_of<std::int64_t>(n + 1);
  auto reward_offsets = array_of<std::int64_t>(n + 1);
  std::vector<std::int64_t> children;
  std::vector<double> raw;
  std::vector<double> suppressed;
  children_offsets.mutable_at(0) = 0;
  reward_offsets.mutable_at(0) = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto node = static_cast<NodeId>(i);
    parent.mutable_at(i) = t.parent(node);
    kind.mutable_at(i) = static_cast<std::int8_t>(t.kind(node));
    depth.mutable_at(i) = t.depth(node);
    visits.mutable_at(i) = t.visits(node);
    q_own.mutable_at(i) = t.own_q(node);
    q.mutable_at(i) = t.q(node);
    uct.mutable_at(i) = t.uct(node);
    fully_expanded.mutable_at(i) = t.is_fully_expanded(node);
    pending.mutable_at(i) = t.is_pending(node);
    selections.mutable_at(i) = t.selections(node);
    explored.mutable_at(i) = t.explored(node);
    for (NodeId child : t.children(node)) children.push_back(child);
    const auto& r = t.rewards_raw(node);
    const auto& s = t.rewards(node);
    raw.insert(raw.end(), r.begin(), r.end());
    suppressed.insert(suppressed.end(), s.begin(), s.end());
    children_offsets.mutable_at(i + 1) = static_cast<std::int64_t>(children.size());
    reward_offsets.mutable_at(i + 1) = static_cast<std::int64_t>(raw.size());
  }
  py::dict out;
  out["parent"] = parent;
  out["kind"] = kind;
  out["depth"] = depth;
  out["visits"] = visits;
  out["q_own"] = q_own;
  out["q"] = q;
  out["uct"] = uct;
  out["fully_expanded"] = fully_expanded;
  out["pending"] = pending;
  out["selections"] = selections;
  out["explored"] = explored;
  out["children_offsets"] = children_offsets;
  out["children"] = py::array_t<std::int64_t>(static_cast<py::ssize_t>(children.size()), children.data());
  out["reward_offsets"] = reward_offsets;
  out["rewards_raw"] = py::array_t<double>(static_cast<py::ssize_t>(raw.size()), raw.data());
  out["rewards"] = py::array_t<double>(static_cast<py::ssize_t>(suppressed.size()), suppressed.data());
  return out;
}

}  // namespace

void init_tree(py::module_& m) {
  py::class_<PyTree> cls(m, "Tree", "The MCTSr search tree; the model runs between its calls.");
  cls.def(py::init<const Config&>(), py::arg("config"))
      .def(
          "initialize",
          [](PyTree& self) {
            Lock lock(self.mutex);
            return self.tree.initialize();
          },
          "Lays out the first answer and the dummy by config.init; returns (answer_node, dummy_node).")
      .def(
          "add_root",
          [](PyTree& self, const std::string& kind) {
            Lock lock(self.mutex);
            return self.tree.add_root(parse_node_kind(kind.c_str()));
          },
          py::arg("kind") = "answer", "Adds a root node ('answer' or 'dummy'); returns its id.")
      .def(
          "add_child",
          [](PyTree& self, NodeArg parent) {
            Lock lock(self.mutex);
            return self.tree.add_child(parent);
          },
          py::arg("parent"), "Adds a refined answer under parent (clears its pending mark, counts a rollout).")
      .def(
          "record_rewards",
          [](PyTree& self, NodeArg node, const std::vector<double>& rewards) {
            Lock lock(self.mutex);
            self.tree.record_rewards(node, rewards);
          },
          py::arg("node"), py::arg("rewards"), ReleaseGil(), "Appends reward samples and recomputes the node's Q.")
      .def(
          "backpropagate",
          [](PyTree& self, NodeArg node) {
            Lock lock(self.mutex);
            self.tree.backpropagate(node);
          },
          py::arg("node"), ReleaseGil(), "Recomputes Q' of the node's ancestors (idempotent).")
      .def(
          "record_and_backpropagate",
          [](PyTree& self, NodeArg node, const std::vector<double>& rewards) {
            Lock lock(self.mutex);
            self.tree.record_and_backpropagate(node, rewards.data(), rewards.size());
          },
          py::arg("node"), py::arg("rewards"), ReleaseGil(), "record_rewards then backpropagate, one call.")
      .def(
          "select",
          [](PyTree& self) {
            Lock lock(self.mutex);
            return node_or_none(self.tree.select());
          },
          ReleaseGil(), "The node to refine next, or None.")
      .def(
          "select_batch",
          [](PyTree& self, std::int64_t k) {
            Lock lock(self.mutex);
            return self.tree.select_batch(k);
          },
          py::arg("k"), ReleaseGil(), "Up to k distinct nodes to refine, each marked pending.")
      .def(
          "cancel",
          [](PyTree& self, NodeArg node) {
            Lock lock(self.mutex);
            self.tree.cancel(node);
          },
          py::arg("node"), "Clears the node's pending mark.")
      .def(
          "candidates",
          [](PyTree& self) {
            Lock lock(self.mutex);
            return self.tree.candidates();
          },
          ReleaseGil(), "Nodes selection may return: scored, not fully expanded, not pending.")
      .def(
          "best",
          [](PyTree& self, const std::string& by) {
            Lock lock(self.mutex);
            return node_or_none(self.tree.best(parse_best_by(by.c_str())));
          },
          py::arg("by") = "own", "The best scored non-dummy node by own Q ('own') or Q' ('q'), or None.");

  // Per-node readout.
  cls.def("q", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return value_or_none(self.tree.q(node)); },
          py::arg("node"), "Q'(node), the value UCT uses; None while unscored.")
      .def("own_q", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return value_or_none(self.tree.own_q(node)); },
           py::arg("node"), "Q(node) from its own rewards; None while unscored.")
      .def("uct", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return value_or_none(self.tree.uct(node)); },
           py::arg("node"), "UCT(node) now; None while unscored.")
      .def("visits", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return self.tree.visits(node); },
           py::arg("node"), "N(node): the number of reward samples.")
      .def("parent", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return node_or_none(self.tree.parent(node)); },
           py::arg("node"), "The parent id, or None for a root.")
      .def("children", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return self.tree.children(node); },
           py::arg("node"), "Child ids, oldest first.")
      .def("kind", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return std::string(to_string(self.tree.kind(node))); },
           py::arg("node"), "'answer' or 'dummy'.")
      .def("depth", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return self.tree.depth(node); },
           py::arg("node"), "0 for a root.")
      .def("rewards_raw", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return self.tree.rewards_raw(node); },
           py::arg("node"), "The raw reward samples, as recorded (C++ Tree::rewards_raw).")
      .def("rewards", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return self.tree.rewards(node); },
           py::arg("node"), "The reward samples after full-score suppression, what Q uses (C++ Tree::rewards).")
      .def("is_fully_expanded", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return self.tree.is_fully_expanded(node); },
           py::arg("node"))
      .def("is_pending", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return self.tree.is_pending(node); },
           py::arg("node"))
      .def("is_candidate", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return self.tree.is_candidate(node); },
           py::arg("node"))
      .def("selections", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return self.tree.selections(node); },
           py::arg("node"), "Times select_batch returned the node.")
      .def("explored", [](PyTree& self, NodeArg node) { Lock lock(self.mutex); return self.tree.explored(node); },
           py::arg("node"), "Of its selections, those where c = 0 would have picked a node of another Q'.")
      .def("exploration_c", [](PyTree& self) { Lock lock(self.mutex); return self.tree.exploration_c(); },
           "c now, under the config's schedule.")
      .def("rollouts", [](PyTree& self) { Lock lock(self.mutex); return self.tree.rollouts(); },
           "Rollouts so far (add_child calls).")
      .def("roots", [](PyTree& self) { Lock lock(self.mutex); return self.tree.roots(); }, "Root ids.")
      .def("__len__", [](PyTree& self) { Lock lock(self.mutex); return self.tree.size(); })
      .def("arrays", &arrays,
           "The tree as numpy arrays (parent -1 for roots, kind 0 answer / 1 dummy, NaN values while unscored, "
           "selections and explored counts; children and rewards in CSR form with *_offsets).")
      .def_property_readonly("core_config", [](PyTree& self) { return self.tree.config(); },
                             "The C++ config the tree runs with.");
}

}  // namespace mctsr::bindings
