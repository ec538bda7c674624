// The pybind11 module mctsr_native._core, one init_* per domain, assembled in module.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace mctsr::bindings {

void init_errors(pybind11::module_& m);  // MctsrError and its typed subclasses, C++ exception translation
void init_config(pybind11::module_& m);  // Config (the C++ options struct, strategies as names)
void init_tree(pybind11::module_& m);    // Tree (the search steps and readout)

}  // namespace mctsr::bindings
