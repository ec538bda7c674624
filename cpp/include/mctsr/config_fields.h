// mctsr/config_fields.h — every field of mctsr::Config, listed once, with its kind and a one-line doc.
//
// The C ABI's conversions (c_api.cpp: mctsr_tree_params <-> Config, the enum range check) and the Python
// binding's properties (bind_config.cpp) are generated from this list. The declarations that cannot be
// generated (the Config struct in config.h, mctsr_tree_params in mctsr.h, TreeConfig in tree.py) are checked
// against it by tests/test_config_table.py, so a field added in one place and not the others fails a test.
//
//   INT(name, doc)         an integer field
//   REAL(name, doc)        a double
//   BOOL(name, doc)        a bool (int32_t 0/1 at the C ABI)
//   ENUM(name, Type, doc)  a strategy (int32_t at the C ABI; named by to_string / parse_<name> in config.h)
#pragma once

#define MCTSR_CONFIG_FIELDS(INT, REAL, BOOL, ENUM)                                                              \
  INT(max_children, "children needed (with expanded_rule) before a node stops being a candidate")              \
  REAL(exploration_c, "c in UCT, in the units of the transformed Q (the starting c under linear_decay)")        \
  REAL(epsilon, "ε in UCT's denominator")                                                                      \
  ENUM(c_schedule, CSchedule, "'constant' or 'linear_decay'")                                                  \
  REAL(c_final, "c at the end of the budget under linear_decay")                                               \
  INT(rollout_budget, "rollouts the search plans")                                                             \
  REAL(suppress_threshold, "raw rewards above this are suppressed")                                            \
  ENUM(suppression, Suppression, "'subtract', 'replace' or 'none'")                                            \
  REAL(suppress_penalty, "amount subtracted under 'subtract'")                                                 \
  REAL(suppress_replacement, "value used under 'replace'")                                                     \
  ENUM(q_rule, QRule, "'min_mean' or 'mean'")                                                                  \
  ENUM(backprop, Backprop, "'full_depth' or 'one_level'")                                                      \
  ENUM(expanded_rule, ExpandedRule, "'paper' (a child's value > own Q) or 'reference' (>=)")                   \
  ENUM(selection, Selection, "'greedy' or 'descent'")                                                          \
  ENUM(root_parent_visits, RootParentVisits, "'virtual_root' or 'zero'")                                       \
  ENUM(init, InitLayout, "'dummy_root' or 'two_roots'")                                                        \
  BOOL(suppress_inclusive, "also suppress a reward at the threshold")                                          \
  ENUM(uct_refresh, UctRefresh, "'live' or 'stale'")                                                           \
  INT(max_depth, "nodes this deep or deeper are never candidates; 0 = none")                                   \
  ENUM(q_transform, QTransform, "Q' as UCT sees it: 'raw', 'scaled' ([-100, 100] to [0, 1]) or 'min_max'")     \
  ENUM(dummy_rule, DummyRule, "'capped' (fully expanded at max_children children) or 'as_answer'")
