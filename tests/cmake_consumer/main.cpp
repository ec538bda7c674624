// Builds against an installed mctsr: one rollout through the C++ API and one through the C ABI.
#include <mctsr/mctsr.h>
#include <mctsr/tree.h>

#include <cstdio>

int main() {
  mctsr::Tree tree;
  const auto [answer, dummy] = tree.initialize();
  tree.record_rewards(answer, {90.0, 80.0});
  tree.record_rewards(dummy, {0.0});
  const mctsr::NodeId selected = tree.select();
  const mctsr::NodeId child = tree.add_child(selected);
  tree.record_and_backpropagate(child, std::vector<double>{70.0}.data(), 1);
  if (selected != answer || tree.q(answer) != 0.5 * (0.5 * (80.0 + 85.0) + 70.0)) return 1;

  mctsr_tree* c_tree = nullptr;
  if (mctsr_tree_create(nullptr, &c_tree) != MCTSR_OK) return 2;
  mctsr_tree_free(c_tree);
  std::printf("mctsr consumer ok: Q'(answer) = %g\n", tree.q(answer));
  return 0;
}
