// The pybind11 module mctsr_native._core, one init_* per domain, assembled in module.cpp.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "mctsr/errors.h"

namespace mctsr::bindings {

// A node id argument: a Python int (or anything with __index__, such as numpy.int64), never a bool, a float
// or a string. pybind11's own int64 caster takes True as 1 and reports other types as a bare TypeError; this
// one raises the typed errors with the value in the message (InvalidArgumentError, InvalidNodeError).
struct NodeArg {
  std::int64_t id = -1;
  operator std::int64_t() const { return id; }  // NOLINT: used as a NodeId
};

void init_errors(pybind11::module_& m);  // MctsrError and its typed subclasses, C++ exception translation
void init_config(pybind11::module_& m);  // Config (the C++ options struct, strategies as names)
void init_tree(pybind11::module_& m);    // Tree (the search steps and readout)

}  // namespace mctsr::bindings

namespace pybind11::detail {
template <>
struct type_caster<mctsr::bindings::NodeArg> {
  PYBIND11_TYPE_CASTER(mctsr::bindings::NodeArg, const_name("int"));

  bool load(handle src, bool /*convert*/) {
    PyObject* obj = src.ptr();
    if (obj == nullptr) return false;
    if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
      throw mctsr::InvalidArgument("a node id must be an int, got " + std::string(pybind11::repr(src)) + " (" +
                                   Py_TYPE(obj)->tp_name + ")");
    }
    object index = reinterpret_steal<object>(PyNumber_Index(obj));
    if (!index) throw error_already_set();
    int overflow = 0;
    const long long id = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow != 0) {
      throw mctsr::InvalidNode("node id " + std::string(pybind11::str(index)) + " is not in the tree");
    }
    value.id = static_cast<std::int64_t>(id);
    return true;
  }
};
}  // namespace pybind11::detail
