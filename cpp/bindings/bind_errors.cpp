// Typed errors across the boundary: mctsr::InvalidConfig -> InvalidConfigError(MctsrError, ValueError),
// InvalidNode -> InvalidNodeError(MctsrError, IndexError), InvalidReward -> InvalidRewardError(MctsrError,
// ValueError), InvalidArgument -> InvalidArgumentError(MctsrError, ValueError), other mctsr::Error -> MctsrError.
#include <exception>
#include <string>

#include "bindings.h"
#include "mctsr/errors.h"

namespace py = pybind11;

namespace mctsr::bindings {
namespace {

// Module-lifetime references to the exception types (kept alive by the module too).
PyObject* base_error = nullptr;
PyObject* config_error = nullptr;
PyObject* node_error = nullptr;
PyObject* reward_error = nullptr;
PyObject* argument_error = nullptr;

PyObject* make_error(py::module_& m, const char* module_name, const char* name, py::tuple bases, const char* doc) {
  const std::string qualified = std::string(module_name) + "." + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::handle(type));
  return type;
}

}  // namespace

void init_errors(py::module_& m) {
  base_error = make_error(m, "mctsr_native", "MctsrError", py::make_tuple(py::handle(PyExc_Exception)),
                          "Base of every error mctsr_native raises on purpose.");
  const py::handle base(base_error);
  config_error = make_error(m, "mctsr_native", "InvalidConfigError",
                            py::make_tuple(base, py::handle(PyExc_ValueError)),
                            "A TreeConfig field is out of range, NaN, or an unknown strategy name.");
  node_error = make_error(m, "mctsr_native", "InvalidNodeError", py::make_tuple(base, py::handle(PyExc_IndexError)),
                          "A node id that is not in the tree.");
  reward_error = make_error(m, "mctsr_native", "InvalidRewardError",
                            py::make_tuple(base, py::handle(PyExc_ValueError)),
                            "A reward that is NaN, infinite, outside [-100, 100], or an empty reward list.");
  argument_error = make_error(m, "mctsr_native._core", "InvalidArgumentError",
                              py::make_tuple(base, py::handle(PyExc_ValueError)),
                              "Any other bad argument to a tree call (k < 1, an unknown node kind).");

  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const InvalidConfig& e) {
      PyErr_SetString(config_error, e.what());
    } catch (const InvalidNode& e) {
      PyErr_SetString(node_error, e.what());
    } catch (const InvalidReward& e) {
      PyErr_SetString(reward_error, e.what());
    } catch (const InvalidArgument& e) {
      PyErr_SetString(argument_error, e.what());
    } catch (const Error& e) {
      PyErr_SetString(base_error, e.what());
    }
  });
}

}  // namespace mctsr::bindings
