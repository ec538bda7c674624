/* mctsr.h — the C ABI of the MCTSr search tree (arXiv 2406.07394).
 *
 * A tree of whole candidate answers, searched by the paper's steps; the caller runs the model between them:
 *   mctsr_tree_select / mctsr_tree_select_batch   UCT(a) = T(Q'(a)) + c·sqrt(ln(N(parent)+1) / (N(a)+ε))  (§3.5;
 *                                                  T = q_transform: identity in the paper)
 *   mctsr_tree_add_child                           a refined answer under the selected node             (§3.3)
 *   mctsr_tree_record_rewards                      Q(a) = ½(min R_a + mean R_a) of suppressed rewards    (§3.2)
 *   mctsr_tree_backpropagate                       Q'(a) = ½(Q(a) + max_c Q'(c)) up to the root          (§3.4)
 * Rules and definitions are documented in mctsr/tree.h and mctsr/rules.h; this header is plain C.
 *
 * Conventions (as llama.h / the faiss C API): opaque handles with create/free pairs, mctsr_<object>_<verb>
 * names, every fallible call returns an mctsr_status; on failure the message is in mctsr_last_error()
 * (thread-local, valid until the thread's next failing call) and the tree is unchanged. No C++ exception
 * crosses this boundary. Enum arguments and enum fields of the params struct are int32_t at the ABI, so a
 * value outside the enum is a checked error (MCTSR_ERROR_INVALID_ARGUMENT / _CONFIG), never undefined behaviour.
 */
#ifndef MCTSR_H
#define MCTSR_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(MCTSR_SHARED)
#  ifdef MCTSR_BUILD
#    define MCTSR_API __declspec(dllexport)
#  else
#    define MCTSR_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && defined(MCTSR_SHARED)
#  define MCTSR_API __attribute__((visibility("default")))
#else
#  define MCTSR_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A node id: 0, 1, 2, ... in creation order. */
typedef int64_t mctsr_node;
#define MCTSR_NO_NODE ((mctsr_node)-1) /* no such node; also the parent of a root */

typedef enum mctsr_status {
  MCTSR_OK = 0,
  MCTSR_ERROR_INVALID_CONFIG = 1,   /* a params field out of range, NaN, or an unknown strategy */
  MCTSR_ERROR_INVALID_NODE = 2,     /* a node id not in the tree */
  MCTSR_ERROR_INVALID_REWARD = 3,   /* NaN/infinite/out-of-range reward, or an empty reward list */
  MCTSR_ERROR_INVALID_ARGUMENT = 4, /* any other bad argument: NULL pointer, k = 0, unknown kind */
  MCTSR_ERROR_OUT_OF_MEMORY = 5,
  MCTSR_ERROR_INTERNAL = 6
} mctsr_status;

typedef enum mctsr_node_kind { MCTSR_NODE_ANSWER = 0, MCTSR_NODE_DUMMY = 1 } mctsr_node_kind;
typedef enum mctsr_q_rule { MCTSR_Q_MIN_MEAN = 0, MCTSR_Q_MEAN = 1 } mctsr_q_rule;
typedef enum mctsr_suppression {
  MCTSR_SUPPRESS_SUBTRACT = 0,
  MCTSR_SUPPRESS_REPLACE = 1,
  MCTSR_SUPPRESS_NONE = 2
} mctsr_suppression;
typedef enum mctsr_backprop { MCTSR_BACKPROP_FULL_DEPTH = 0, MCTSR_BACKPROP_ONE_LEVEL = 1 } mctsr_backprop;
typedef enum mctsr_expanded_rule { MCTSR_EXPANDED_PAPER = 0, MCTSR_EXPANDED_REFERENCE = 1 } mctsr_expanded_rule;
typedef enum mctsr_selection { MCTSR_SELECT_GREEDY = 0, MCTSR_SELECT_DESCENT = 1 } mctsr_selection;
typedef enum mctsr_c_schedule { MCTSR_C_CONSTANT = 0, MCTSR_C_LINEAR_DECAY = 1 } mctsr_c_schedule;
typedef enum mctsr_root_parent_visits {
  MCTSR_ROOT_PARENT_VIRTUAL_ROOT = 0,
  MCTSR_ROOT_PARENT_ZERO = 1
} mctsr_root_parent_visits;
typedef enum mctsr_init { MCTSR_INIT_TWO_ROOTS = 0, MCTSR_INIT_DUMMY_ROOT = 1 } mctsr_init;
typedef enum mctsr_uct_refresh { MCTSR_UCT_LIVE = 0, MCTSR_UCT_STALE = 1 } mctsr_uct_refresh;
typedef enum mctsr_q_transform {
  MCTSR_Q_TRANSFORM_RAW = 0,    /* the paper: Q' on [-100, 100] */
  MCTSR_Q_TRANSFORM_SCALED = 1, /* (Q' + 100) / 200, on [0, 1] */
  MCTSR_Q_TRANSFORM_MIN_MAX = 2 /* (Q' - min) / (max - min) over the tree's scored nodes */
} mctsr_q_transform;
typedef enum mctsr_dummy_rule { MCTSR_DUMMY_AS_ANSWER = 0, MCTSR_DUMMY_CAPPED = 1 } mctsr_dummy_rule;
typedef enum mctsr_best_by { MCTSR_BEST_BY_OWN_Q = 0, MCTSR_BEST_BY_Q = 1 } mctsr_best_by;

/* The tree's options; start from mctsr_tree_default_params() and change fields. */
typedef struct mctsr_tree_params {
  int32_t max_children;            /* children needed (with expanded_rule) before a node stops being a candidate */
  double exploration_c;            /* c in UCT (the starting c under linear decay) */
  double epsilon;                  /* ε in UCT's denominator */
  int32_t c_schedule;              /* mctsr_c_schedule: constant, or linear decay to c_final over the budget */
  double c_final;                  /* c after rollout_budget rollouts (linear decay only) */
  int64_t rollout_budget;          /* rollouts planned; linear decay needs > 0 */
  double suppress_threshold;       /* raw rewards above this (or equal, see suppress_inclusive) are suppressed */
  int32_t suppression;             /* mctsr_suppression */
  double suppress_penalty;         /* subtracted under MCTSR_SUPPRESS_SUBTRACT */
  double suppress_replacement;     /* used under MCTSR_SUPPRESS_REPLACE */
  int32_t q_rule;                  /* mctsr_q_rule */
  int32_t backprop;                /* mctsr_backprop */
  int32_t expanded_rule;           /* mctsr_expanded_rule: count AND a child's Q > own Q (paper), or >= */
  int32_t selection;               /* mctsr_selection */
  int32_t root_parent_visits;      /* mctsr_root_parent_visits: N(parent) of a root */
  int32_t init;                    /* mctsr_init: layout made by mctsr_tree_initialize */
  int32_t suppress_inclusive;      /* nonzero: a reward equal to suppress_threshold is suppressed too */
  int32_t uct_refresh;             /* mctsr_uct_refresh: UCT always current, or the reference's stale bank */
  int32_t max_depth;               /* nodes at this depth or deeper are never selected; 0 = unlimited */
  int32_t q_transform;             /* mctsr_q_transform: how UCT sees Q'; exploration_c is in its units */
  int32_t dummy_rule;              /* mctsr_dummy_rule: capped = fully expanded at max_children children */
} mctsr_tree_params;

typedef struct mctsr_tree mctsr_tree; /* opaque */

/* The paper's defaults. */
MCTSR_API mctsr_tree_params mctsr_tree_default_params(void);
/* The message of this thread's last failed call ("" if none). */
MCTSR_API const char* mctsr_last_error(void);

/* Creates a tree (params validated; NULL params = defaults). Free with mctsr_tree_free. */
MCTSR_API mctsr_status mctsr_tree_create(const mctsr_tree_params* params, mctsr_tree** out_tree);
MCTSR_API void mctsr_tree_free(mctsr_tree* tree); /* NULL is fine */

MCTSR_API mctsr_status mctsr_tree_initialize(mctsr_tree* tree, mctsr_node* out_answer, mctsr_node* out_dummy);
/* kind: an mctsr_node_kind value (an int32_t at the ABI: any other value is MCTSR_ERROR_INVALID_ARGUMENT). */
MCTSR_API mctsr_status mctsr_tree_add_root(mctsr_tree* tree, int32_t kind, mctsr_node* out_node);
MCTSR_API mctsr_status mctsr_tree_add_child(mctsr_tree* tree, mctsr_node parent, mctsr_node* out_node);
MCTSR_API mctsr_status mctsr_tree_record_rewards(mctsr_tree* tree, mctsr_node node, const double* rewards,
                                                 size_t n_rewards);
MCTSR_API mctsr_status mctsr_tree_backpropagate(mctsr_tree* tree, mctsr_node node);

/* *out_node = the next node to refine, or MCTSR_NO_NODE when no node is a candidate. */
MCTSR_API mctsr_status mctsr_tree_select(mctsr_tree* tree, mctsr_node* out_node);
/* Up to k (>= 1) distinct nodes into out_nodes[0..*out_n) (room for k), each marked pending. */
MCTSR_API mctsr_status mctsr_tree_select_batch(mctsr_tree* tree, size_t k, mctsr_node* out_nodes, size_t* out_n);
MCTSR_API mctsr_status mctsr_tree_cancel(mctsr_tree* tree, mctsr_node node);

MCTSR_API int64_t mctsr_tree_size(const mctsr_tree* tree);
MCTSR_API int64_t mctsr_tree_rollouts(const mctsr_tree* tree);
MCTSR_API mctsr_status mctsr_tree_parent(const mctsr_tree* tree, mctsr_node node, mctsr_node* out_parent);
MCTSR_API mctsr_status mctsr_tree_visits(const mctsr_tree* tree, mctsr_node node, int64_t* out_visits);
/* Q values and UCT are NaN for a node with no rewards yet. */
MCTSR_API mctsr_status mctsr_tree_own_q(const mctsr_tree* tree, mctsr_node node, double* out_q);
MCTSR_API mctsr_status mctsr_tree_q(const mctsr_tree* tree, mctsr_node node, double* out_q);
MCTSR_API mctsr_status mctsr_tree_uct(const mctsr_tree* tree, mctsr_node node, double* out_uct);
/* *out_node = the best scored non-dummy node, or MCTSR_NO_NODE. by: an mctsr_best_by value (an int32_t at the
 * ABI: any other value is MCTSR_ERROR_INVALID_ARGUMENT). */
MCTSR_API mctsr_status mctsr_tree_best(const mctsr_tree* tree, int32_t by, mctsr_node* out_node);

#ifdef __cplusplus
}
#endif

#endif /* MCTSR_H */
