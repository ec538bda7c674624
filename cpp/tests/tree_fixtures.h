// Shared helpers for the tree tests: the worked example of the docs and a full snapshot for "unchanged" checks.
#pragma once

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "mctsr/tree.h"

namespace mctsr::testing {

// Everything observable about a tree, as text: two snapshots are equal iff the trees are.
inline std::string snapshot(const Tree& tree) {
  std::ostringstream out;
  out.precision(17);
  out << "n=" << tree.size() << " rollouts=" << tree.rollouts() << " c=" << tree.exploration_c() << "\n";
  for (NodeId node = 0; node < tree.size(); ++node) {
    out << node << " p=" << tree.parent(node) << " k=" << int(tree.kind(node)) << " d=" << tree.depth(node)
        << " n=" << tree.visits(node) << " q=" << tree.own_q(node) << " q'=" << tree.q(node)
        << " uct=" << tree.uct(node) << " fe=" << tree.is_fully_expanded(node) << " pend=" << tree.is_pending(node)
        << " ch=";
    for (NodeId child : tree.children(node)) out << child << ",";
    out << " r=";
    for (double r : tree.rewards_raw(node)) out << r << ",";
    out << "\n";
  }
  return out.str();
}

// The worked example (docs and tests/test_tree_worked_example.py):
//   answer A=0 rewards {90, 100, 80} -> suppressed {90, 95, 80}, Q(A) = ½(80 + 265/3) = 84.1666...
//   dummy  D=1 rewards {0, -10}      -> Q(D) = ½(-10 + -5) = -7.5
//   B=2 child of A, rewards {70}      -> Q(B) = 70
//   C=3 child of A, rewards {100, 90} -> suppressed {95, 90}, Q(C) = ½(90 + 92.5) = 91.25
//   E=4 child of C, rewards {40}      -> Q(E) = 40
struct Example {
  NodeId a, d, b, c, e;
};

inline Example build_example(Tree& tree) {
  Example x{};
  x.a = tree.add_root(NodeKind::kAnswer);  // two roots whatever config.init says
  x.d = tree.add_root(NodeKind::kDummy);
  tree.record_rewards(x.a, {90, 100, 80});
  tree.record_rewards(x.d, {0, -10});
  x.b = tree.add_child(x.a);
  tree.record_rewards(x.b, {70});
  tree.backpropagate(x.b);
  x.c = tree.add_child(x.a);
  tree.record_rewards(x.c, {100, 90});
  tree.backpropagate(x.c);
  x.e = tree.add_child(x.c);
  tree.record_rewards(x.e, {40});
  tree.backpropagate(x.e);
  return x;
}

constexpr double kQA = 0.5 * (80.0 + 265.0 / 3.0);

}  // namespace mctsr::testing
