// mctsr::Config as _core.Config. Strategy fields read and write as their names ("min_mean", ...); an unknown
// name raises InvalidConfigError at assignment, range checks happen in validate() (the C++ one, only).
#include <string>

#include "bindings.h"
#include "mctsr/config.h"

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
  cls.def(py::init<>())
      .def_readwrite("max_children", &Config::max_children, "children needed before a node stops being a candidate")
      .def_readwrite("exploration_c", &Config::exploration_c, "c in UCT")
      .def_readwrite("epsilon", &Config::epsilon, "ε in UCT's denominator")
      .def_readwrite("c_final", &Config::c_final, "c at the end of the budget under linear_decay")
      .def_readwrite("rollout_budget", &Config::rollout_budget, "rollouts the search plans")
      .def_readwrite("suppress_threshold", &Config::suppress_threshold, "raw rewards above this are suppressed")
      .def_readwrite("suppress_inclusive", &Config::suppress_inclusive, "also suppress a reward at the threshold")
      .def_readwrite("max_depth", &Config::max_depth, "nodes this deep or deeper are never candidates; 0 = none")
      .def_readwrite("suppress_penalty", &Config::suppress_penalty, "amount subtracted under 'subtract'")
      .def_readwrite("suppress_replacement", &Config::suppress_replacement, "value used under 'replace'");
  def_strategy(cls, "c_schedule", &Config::c_schedule, &parse_c_schedule, "'constant' or 'linear_decay'");
  def_strategy(cls, "suppression", &Config::suppression, &parse_suppression, "'subtract', 'replace' or 'none'");
  def_strategy(cls, "q_rule", &Config::q_rule, &parse_q_rule, "'min_mean' or 'mean'");
  def_strategy(cls, "backprop", &Config::backprop, &parse_backprop, "'full_depth' or 'one_level'");
  def_strategy(cls, "expanded_rule", &Config::expanded_rule, &parse_expanded_rule,
               "'paper' (a child's value > own Q) or 'reference' (>=)");
  def_strategy(cls, "selection", &Config::selection, &parse_selection, "'greedy' or 'descent'");
  def_strategy(cls, "root_parent_visits", &Config::root_parent_visits, &parse_root_parent_visits,
               "'virtual_root' or 'zero'");
  def_strategy(cls, "init", &Config::init, &parse_init, "'dummy_root' or 'two_roots'");
  def_strategy(cls, "uct_refresh", &Config::uct_refresh, &parse_uct_refresh, "'live' or 'stale'");
  cls.def("validate", &Config::validate, "Raises InvalidConfigError naming the first bad field.")
      .def_static("paper", &paper_config, "The paper's rules (the defaults).")
      .def_static("reference", &reference_config, "The reference code's rules.");
}

}  // namespace mctsr::bindings
