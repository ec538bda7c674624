// mctsr_native._core: the C++ MCTSr tree for Python. Python drives the search; no call here calls back.
#include "bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "The C++ MCTSr search tree (arXiv 2406.07394): UCT selection, Q aggregation, back-propagation.";
  mctsr::bindings::init_errors(m);
  mctsr::bindings::init_config(m);
  mctsr::bindings::init_tree(m);
}
