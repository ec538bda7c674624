/* Compiled as C99 against mctsr.h alone: one search by hand through the C ABI. */
#include "mctsr/mctsr.h"

#include <math.h>
#include <stdio.h>

#define EXPECT(cond)                                                              \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "%s:%d: failed: %s (%s)\n", __FILE__, __LINE__, #cond,     \
              mctsr_last_error());                                                \
      return 1;                                                                   \
    }                                                                             \
  } while (0)

int main(void) {
  mctsr_tree_params params = mctsr_tree_default_params();
  mctsr_tree* tree = NULL;
  mctsr_node answer, dummy, child, selected, best, parent;
  mctsr_node batch[3];
  size_t n = 0;
  double q = 0.0;
  const double answer_rewards[] = {90, 100, 80}; /* suppressed 90, 95, 80: Q = ½(80 + 88.33) = 84.1667 */
  const double dummy_rewards[] = {0, -10};       /* Q = -7.5 */
  const double child_rewards[] = {70};           /* Q = 70; Q'(answer) = ½(84.1667 + 70) = 77.0833 */
  const double bad_rewards[] = {150};

  EXPECT(params.max_children == 3 && params.exploration_c == 1.4);
  EXPECT(params.init == MCTSR_INIT_DUMMY_ROOT && params.uct_refresh == MCTSR_UCT_LIVE);
  EXPECT(params.max_depth == 0 && params.suppress_inclusive == 0);
  EXPECT(params.q_transform == MCTSR_Q_TRANSFORM_RAW && params.dummy_rule == MCTSR_DUMMY_CAPPED);
  params.init = MCTSR_INIT_TWO_ROOTS; /* the example below has the answer and the dummy as roots */
  EXPECT(mctsr_tree_create(&params, &tree) == MCTSR_OK);
  EXPECT(mctsr_tree_initialize(tree, &answer, &dummy) == MCTSR_OK);
  EXPECT(mctsr_tree_record_rewards(tree, answer, answer_rewards, 3) == MCTSR_OK);
  EXPECT(mctsr_tree_record_rewards(tree, dummy, dummy_rewards, 2) == MCTSR_OK);
  EXPECT(mctsr_tree_select(tree, &selected) == MCTSR_OK && selected == answer);
  EXPECT(mctsr_tree_add_child(tree, selected, &child) == MCTSR_OK);
  EXPECT(mctsr_tree_record_rewards(tree, child, child_rewards, 1) == MCTSR_OK);
  EXPECT(mctsr_tree_backpropagate(tree, child) == MCTSR_OK);
  EXPECT(mctsr_tree_own_q(tree, answer, &q) == MCTSR_OK && fabs(q - 84.1666666667) < 1e-9);
  EXPECT(mctsr_tree_q(tree, answer, &q) == MCTSR_OK && fabs(q - 77.0833333333) < 1e-9);
  EXPECT(mctsr_tree_parent(tree, child, &parent) == MCTSR_OK && parent == answer);
  EXPECT(mctsr_tree_parent(tree, answer, &parent) == MCTSR_OK && parent == MCTSR_NO_NODE);
  EXPECT(mctsr_tree_best(tree, MCTSR_BEST_BY_OWN_Q, &best) == MCTSR_OK && best == answer);
  EXPECT(mctsr_tree_select_batch(tree, 3, batch, &n) == MCTSR_OK && n == 3);
  EXPECT(batch[0] == answer && batch[1] == child && batch[2] == dummy);
  EXPECT(mctsr_tree_select(tree, &selected) == MCTSR_OK && selected == MCTSR_NO_NODE);
  EXPECT(mctsr_tree_cancel(tree, dummy) == MCTSR_OK);
  EXPECT(mctsr_tree_rollouts(tree) == 1 && mctsr_tree_size(tree) == 3);

  EXPECT(mctsr_tree_record_rewards(tree, child, bad_rewards, 1) == MCTSR_ERROR_INVALID_REWARD);
  EXPECT(mctsr_last_error()[0] != '\0');
  EXPECT(mctsr_tree_q(tree, 99, &q) == MCTSR_ERROR_INVALID_NODE);
  EXPECT(mctsr_tree_uct(tree, child, &q) == MCTSR_OK && q > 70.0);
  EXPECT(mctsr_tree_add_root(tree, 7, &parent) == MCTSR_ERROR_INVALID_ARGUMENT); /* enums are checked int32_t */
  EXPECT(mctsr_tree_best(tree, -3, &best) == MCTSR_ERROR_INVALID_ARGUMENT);
  EXPECT(mctsr_tree_add_root(tree, MCTSR_NODE_DUMMY, &parent) == MCTSR_OK && mctsr_tree_size(tree) == 4);

  mctsr_tree_free(tree);
  printf("c_api_test ok\n");
  return 0;
}
