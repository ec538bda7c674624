// mctsr::Config as _core.Config. Strategy fields read and write as their names ("min_mean", ...); an unknown
// name raises InvalidConfigError at assignment, range checks happen in validate() (the C++ one, only).
#include <string>

#include "bindings.h"
#include "mctsr/config.h"
#include "mctsr/config_fields.h"

namespace py = pybind11;

namespace mctsr::bindings {
namespace {

// A read/write property that shows an enum field by name and parses the name on assignment.
template <typename Enum>
void def_strategy(py::class_<Config>& cls, const char* name, Enum Config::*field, Enum (*parse)(const std::string&),
                  const char* doc) {
  cls.def_property(
      name, [field](const Config& c) { return std::string(to_string(c.*field)); },
      [field, parse](Config& c, const std::string& text) { c.*field = parse(text); }, doc);
}

}  // namespace

void init_config(py::module_& m) {
  py::class_<Config> cls(m, "Config", "The tree's options (C++ mctsr::Config); see TreeConfig for the fields.");
  cls.def(py::init<>());
  // One property per field of the table (mctsr/config_fields.h): numbers as they are, strategies by name.
#define MCTSR_BIND_VALUE(name, doc) cls.def_readwrite(#name, &Config::name, doc);
#define MCTSR_BIND_ENUM(name, Type, doc) def_strategy(cls, #name, &Config::name, &parse_##name, doc);
  MCTSR_CONFIG_FIELDS(MCTSR_BIND_VALUE, MCTSR_BIND_VALUE, MCTSR_BIND_VALUE, MCTSR_BIND_ENUM)
#undef MCTSR_BIND_VALUE
#undef MCTSR_BIND_ENUM
  cls.def("validate", &Config::validate, "Raises InvalidConfigError naming the first bad field.")
      .def_static("paper", &paper_config, "The paper's rules (the defaults).")
      .def_static("reference", &reference_config, "The reference code's rules.");
}

}  // namespace mctsr::bindings
