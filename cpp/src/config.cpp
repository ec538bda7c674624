#include "mctsr/config.h"

#include <cmath>
#include <sstream>

#include "mctsr/errors.h"

namespace mctsr {
namespace {

constexpr double kMinReward = -100.0;      // rewards live on [-100, 100] (paper §3.3)
constexpr double kMaxReward = 100.0;
constexpr double kMaxExploration = 1e6;    // c far beyond any useful value, far below overflowing UCT
constexpr double kMaxEpsilon = 1e6;        // likewise for ε

template <typename T>
[[noreturn]] void reject(const char* field, const T& value, const char* expected) {
  std::ostringstream message;
  message << "invalid TreeConfig." << field << " = " << value << ": expected " << expected;
  throw InvalidConfig(message.str());
}

// A finite number in [low, high]: rewards live on [-100, 100], so a threshold, replacement or penalty
// beyond it means nothing, and a huge c or epsilon would overflow UCT to infinity.
void require_range(const char* field, double value, double low, double high) {
  if (!std::isfinite(value) || value < low || value > high) {
    std::ostringstream expected;
    expected << "a finite number in [" << low << ", " << high << "]";
    reject(field, value, expected.str().c_str());
  }
}

template <typename Enum>
void require_known(const char* field, Enum value, Enum last) {
  if (static_cast<int>(value) > static_cast<int>(last)) {
    reject(field, static_cast<int>(value), "a known strategy");
  }
}

// One table per enum: the name <-> value mapping used by to_string and parse_*.
template <typename Enum>
struct Name {
  Enum value;
  const char* name;
};

constexpr Name<QRule> kQRules[] = {{QRule::kMinMean, "min_mean"}, {QRule::kMean, "mean"}};
constexpr Name<Suppression> kSuppressions[] = {
    {Suppression::kSubtract, "subtract"}, {Suppression::kReplace, "replace"}, {Suppression::kNone, "none"}};
constexpr Name<Backprop> kBackprops[] = {{Backprop::kFullDepth, "full_depth"}, {Backprop::kOneLevel, "one_level"}};
constexpr Name<ExpandedRule> kExpandedRules[] = {{ExpandedRule::kPaper, "paper"},
                                                 {ExpandedRule::kReference, "reference"}};
constexpr Name<Selection> kSelections[] = {{Selection::kGreedy, "greedy"}, {Selection::kDescent, "descent"}};
constexpr Name<CSchedule> kCSchedules[] = {{CSchedule::kConstant, "constant"},
                                           {CSchedule::kLinearDecay, "linear_decay"}};
constexpr Name<RootParentVisits> kRootParentVisits[] = {{RootParentVisits::kVirtualRoot, "virtual_root"},
                                                        {RootParentVisits::kZero, "zero"}};
constexpr Name<InitLayout> kInitLayouts[] = {{InitLayout::kTwoRoots, "two_roots"},
                                             {InitLayout::kDummyRoot, "dummy_root"}};
constexpr Name<UctRefresh> kUctRefreshes[] = {{UctRefresh::kLive, "live"}, {UctRefresh::kStale, "stale"}};
constexpr Name<QTransform> kQTransforms[] = {
    {QTransform::kRaw, "raw"}, {QTransform::kScaled, "scaled"}, {QTransform::kMinMax, "min_max"}};
constexpr Name<DummyRule> kDummyRules[] = {{DummyRule::kAsAnswer, "as_answer"}, {DummyRule::kCapped, "capped"}};

template <typename Enum, std::size_t N>
const char* name_of(const Name<Enum> (&table)[N], Enum value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "unknown";
}

template <typename Enum, std::size_t N>
Enum parse(const Name<Enum> (&table)[N], const char* field, const std::string& text) {
  for (const auto& entry : table) {
    if (text == entry.name) return entry.value;
  }
  std::string expected = "one of";
  for (const auto& entry : table) expected += std::string(" '") + entry.name + "'";
  reject(field, "'" + text + "'", expected.c_str());
}

}  // namespace

void Config::validate() const {
  if (max_children < 1) reject("max_children", max_children, "an integer >= 1");
  require_range("exploration_c", exploration_c, 0.0, kMaxExploration);
  require_range("epsilon", epsilon, 0.0, kMaxEpsilon);
  require_known("c_schedule", c_schedule, CSchedule::kLinearDecay);
  require_range("c_final", c_final, 0.0, kMaxExploration);
  if (rollout_budget < 0) reject("rollout_budget", rollout_budget, "an integer >= 0");
  if (c_schedule == CSchedule::kLinearDecay && rollout_budget == 0) {
    reject("rollout_budget", rollout_budget, "an integer >= 1 when c_schedule = 'linear_decay'");
  }
  require_range("suppress_threshold", suppress_threshold, kMinReward, kMaxReward);
  require_known("suppression", suppression, Suppression::kNone);
  require_range("suppress_penalty", suppress_penalty, 0.0, kMaxReward - kMinReward);
  require_range("suppress_replacement", suppress_replacement, kMinReward, kMaxReward);
  require_known("q_rule", q_rule, QRule::kMean);
  require_known("backprop", backprop, Backprop::kOneLevel);
  require_known("expanded_rule", expanded_rule, ExpandedRule::kReference);
  require_known("selection", selection, Selection::kDescent);
  require_known("root_parent_visits", root_parent_visits, RootParentVisits::kZero);
  require_known("init", init, InitLayout::kDummyRoot);
  require_known("uct_refresh", uct_refresh, UctRefresh::kStale);
  require_known("q_transform", q_transform, QTransform::kMinMax);
  require_known("dummy_rule", dummy_rule, DummyRule::kCapped);
  if (max_depth < 0) reject("max_depth", max_depth, "an integer >= 0 (0 = unlimited)");
}

Config paper_config() { return Config{}; }

Config reference_config() {
  Config config;
  config.suppression = Suppression::kReplace;
  config.suppress_inclusive = true;
  config.backprop = Backprop::kOneLevel;
  config.expanded_rule = ExpandedRule::kReference;
  config.root_parent_visits = RootParentVisits::kZero;
  config.init = InitLayout::kTwoRoots;
  config.uct_refresh = UctRefresh::kStale;
  config.dummy_rule = DummyRule::kAsAnswer;
  return config;
}

const char* to_string(QRule v) { return name_of(kQRules, v); }
const char* to_string(Suppression v) { return name_of(kSuppressions, v); }
const char* to_string(Backprop v) { return name_of(kBackprops, v); }
const char* to_string(ExpandedRule v) { return name_of(kExpandedRules, v); }
const char* to_string(Selection v) { return name_of(kSelections, v); }
const char* to_string(CSchedule v) { return name_of(kCSchedules, v); }
const char* to_string(RootParentVisits v) { return name_of(kRootParentVisits, v); }
const char* to_string(InitLayout v) { return name_of(kInitLayouts, v); }
const char* to_string(UctRefresh v) { return name_of(kUctRefreshes, v); }
const char* to_string(QTransform v) { return name_of(kQTransforms, v); }
const char* to_string(DummyRule v) { return name_of(kDummyRules, v); }

QRule parse_q_rule(const std::string& s) { return parse(kQRules, "q_rule", s); }
Suppression parse_suppression(const std::string& s) { return parse(kSuppressions, "suppression", s); }
Backprop parse_backprop(const std::string& s) { return parse(kBackprops, "backprop", s); }
ExpandedRule parse_expanded_rule(const std::string& s) { return parse(kExpandedRules, "expanded_rule", s); }
Selection parse_selection(const std::string& s) { return parse(kSelections, "selection", s); }
CSchedule parse_c_schedule(const std::string& s) { return parse(kCSchedules, "c_schedule", s); }
RootParentVisits parse_root_parent_visits(const std::string& s) {
  return parse(kRootParentVisits, "root_parent_visits", s);
}
InitLayout parse_init(const std::string& s) { return parse(kInitLayouts, "init", s); }
UctRefresh parse_uct_refresh(const std::string& s) { return parse(kUctRefreshes, "uct_refresh", s); }
QTransform parse_q_transform(const std::string& s) { return parse(kQTransforms, "q_transform", s); }
DummyRule parse_dummy_rule(const std::string& s) { return parse(kDummyRules, "dummy_rule", s); }

}  // namespace mctsr
