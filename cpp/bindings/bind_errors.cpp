// Typed errors across the boundary: mctsr::InvalidConfig -> InvalidConfigError(MctsrError, ValueError),
// InvalidNode -> InvalidNodeError(MctsrError, IndexError), InvalidReward -> InvalidRewardError(MctsrError,
// ValueError), InvalidArgument -> InvalidArgumentError(MctsrError, ValueError), other mctsr::Error -> MctsrError.
// The classes are defined once, in pure Python (mctsr_native/errors.py), so that the Python layers import them
// without this extension; the module looks them up when it loads and re-exports them.
#include <exception>
#include <string>

#include "bindings.h"
#include "mctsr/errors.h"

namespace py = pybind11;

namespace mctsr::bindings {
namespace {

// Module-lifetime references to the exception types (the module holds a reference to each too).
PyObject* base_error = nullptr;
PyObject* config_error = nullptr;
PyObject* node_error = nullptr;
PyObject* reward_error = nullptr;
PyObject* argument_error = nullptr;

PyObject* take_error(py::module_& m, const py::module_& errors, const char* name) {
  py::object type = errors.attr(name);
  m.add_object(name, type);
  return type.release().ptr();  // kept for the life of the process, as the translator may run at any time
}

}  // namespace

void init_errors(py::module_& m) {
  const py::module_ errors = py::module_::import("mctsr_native.errors");
  base_error = take_error(m, errors, "MctsrError");
  config_error = take_error(m, errors, "InvalidConfigError");
  node_error = take_error(m, errors, "InvalidNodeError");
  reward_error = take_error(m, errors, "InvalidRewardError");
  argument_error = take_error(m, errors, "InvalidArgumentError");

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
