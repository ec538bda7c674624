// The C ABI (mctsr.h) over mctsr::Tree: every C++ exception becomes a status code and a thread-local message.
#include <exception>
#include <new>
#include <string>

#include "mctsr/config_fields.h"
#include "mctsr/errors.h"
#include "mctsr/mctsr.h"
#include "mctsr/tree.h"

struct mctsr_tree {
  mctsr::Tree tree;
};

namespace {

thread_local std::string last_error;

mctsr_status fail(mctsr_status status, const char* message) {
  last_error = message;
  return status;
}

// Runs `body`, mapping the exception it throws (if any) to a status.
template <typename Body>
mctsr_status guarded(Body&& body) noexcept {
  try {
    body();
    return MCTSR_OK;
  } catch (const mctsr::InvalidConfig& e) {
    return fail(MCTSR_ERROR_INVALID_CONFIG, e.what());
  } catch (const mctsr::InvalidNode& e) {
    return fail(MCTSR_ERROR_INVALID_NODE, e.what());
  } catch (const mctsr::InvalidReward& e) {
    return fail(MCTSR_ERROR_INVALID_REWARD, e.what());
  } catch (const mctsr::InvalidArgument& e) {
    return fail(MCTSR_ERROR_INVALID_ARGUMENT, e.what());
  } catch (const std::bad_alloc&) {
    return fail(MCTSR_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(MCTSR_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(MCTSR_ERROR_INTERNAL, "unknown C++ exception");
  }
}

#define MCTSR_REQUIRE(pointer)                                                                      \
  do {                                                                                              \
    if ((pointer) == nullptr) return fail(MCTSR_ERROR_INVALID_ARGUMENT, #pointer " must not be NULL"); \
  } while (0)

// The conversions, generated from the field table (mctsr/config_fields.h).
#define MCTSR_TO_CONFIG_VALUE(name, doc) c.name = p.name;
#define MCTSR_TO_CONFIG_BOOL(name, doc) c.name = p.name != 0;
#define MCTSR_TO_CONFIG_ENUM(name, Type, doc) c.name = static_cast<mctsr::Type>(p.name);
mctsr::Config to_config(const mctsr_tree_params& p) {
  mctsr::Config c;
  MCTSR_CONFIG_FIELDS(MCTSR_TO_CONFIG_VALUE, MCTSR_TO_CONFIG_VALUE, MCTSR_TO_CONFIG_BOOL, MCTSR_TO_CONFIG_ENUM)
  return c;
}

// Enum fields arrive as int32; reject values the C++ enums (8-bit) cannot hold before casting.
#define MCTSR_SKIP_FIELD(name, doc)
#define MCTSR_CHECK_ENUM(name, Type, doc) \
  if (p.name < 0 || p.name > 255) return false;
bool enums_in_range(const mctsr_tree_params& p) {
  MCTSR_CONFIG_FIELDS(MCTSR_SKIP_FIELD, MCTSR_SKIP_FIELD, MCTSR_SKIP_FIELD, MCTSR_CHECK_ENUM)
  return true;
}

}  // namespace

extern "C" {

#define MCTSR_FROM_CONFIG_VALUE(name, doc) p.name = d.name;
#define MCTSR_FROM_CONFIG_BOOL(name, doc) p.name = d.name ? 1 : 0;
#define MCTSR_FROM_CONFIG_ENUM(name, Type, doc) p.name = static_cast<int32_t>(d.name);
mctsr_tree_params mctsr_tree_default_params(void) {
  const mctsr::Config d;
  mctsr_tree_params p;
  MCTSR_CONFIG_FIELDS(MCTSR_FROM_CONFIG_VALUE, MCTSR_FROM_CONFIG_VALUE, MCTSR_FROM_CONFIG_BOOL,
                      MCTSR_FROM_CONFIG_ENUM)
  return p;
}

const char* mctsr_last_error(void) { return last_error.c_str(); }

mctsr_status mctsr_tree_create(const mctsr_tree_params* params, mctsr_tree** out_tree) {
  MCTSR_REQUIRE(out_tree);
  const mctsr_tree_params p = params ? *params : mctsr_tree_default_params();
  if (!enums_in_range(p)) return fail(MCTSR_ERROR_INVALID_CONFIG, "a strategy field holds an unknown value");
  return guarded([&] { *out_tree = new mctsr_tree{mctsr::Tree(to_config(p))}; });
}

void mctsr_tree_free(mctsr_tree* tree) { delete tree; }

mctsr_status mctsr_tree_initialize(mctsr_tree* tree, mctsr_node* out_answer, mctsr_node* out_dummy) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_answer);
  MCTSR_REQUIRE(out_dummy);
  return guarded([&] {
    const auto nodes = tree->tree.initialize();
    *out_answer = nodes.first;
    *out_dummy = nodes.second;
  });
}

mctsr_status mctsr_tree_add_root(mctsr_tree* tree, int32_t kind, mctsr_node* out_node) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_node);
  if (kind != MCTSR_NODE_ANSWER && kind != MCTSR_NODE_DUMMY) {
    return fail(MCTSR_ERROR_INVALID_ARGUMENT, ("node kind " + std::to_string(kind) + " is unknown").c_str());
  }
  return guarded([&] { *out_node = tree->tree.add_root(static_cast<mctsr::NodeKind>(kind)); });
}

mctsr_status mctsr_tree_add_child(mctsr_tree* tree, mctsr_node parent, mctsr_node* out_node) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_node);
  return guarded([&] { *out_node = tree->tree.add_child(parent); });
}

mctsr_status mctsr_tree_record_rewards(mctsr_tree* tree, mctsr_node node, const double* rewards, size_t n_rewards) {
  MCTSR_REQUIRE(tree);
  if (n_rewards > 0) MCTSR_REQUIRE(rewards);
  return guarded([&] { tree->tree.record_rewards(node, rewards, n_rewards); });
}

mctsr_status mctsr_tree_backpropagate(mctsr_tree* tree, mctsr_node node) {
  MCTSR_REQUIRE(tree);
  return guarded([&] { tree->tree.backpropagate(node); });
}

mctsr_status mctsr_tree_select(mctsr_tree* tree, mctsr_node* out_node) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_node);
  return guarded([&] { *out_node = tree->tree.select(); });
}

mctsr_status mctsr_tree_select_batch(mctsr_tree* tree, size_t k, mctsr_node* out_nodes, size_t* out_n) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_nodes);
  MCTSR_REQUIRE(out_n);
  return guarded([&] {
    const auto nodes = tree->tree.select_batch(k > INT64_MAX ? INT64_MAX : static_cast<std::int64_t>(k));
    for (size_t i = 0; i < nodes.size(); ++i) out_nodes[i] = nodes[i];
    *out_n = nodes.size();
  });
}

mctsr_status mctsr_tree_cancel(mctsr_tree* tree, mctsr_node node) {
  MCTSR_REQUIRE(tree);
  return guarded([&] { tree->tree.cancel(node); });
}

int64_t mctsr_tree_size(const mctsr_tree* tree) { return tree ? tree->tree.size() : 0; }
int64_t mctsr_tree_rollouts(const mctsr_tree* tree) { return tree ? tree->tree.rollouts() : 0; }

mctsr_status mctsr_tree_parent(const mctsr_tree* tree, mctsr_node node, mctsr_node* out_parent) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_parent);
  return guarded([&] { *out_parent = tree->tree.parent(node); });
}

mctsr_status mctsr_tree_visits(const mctsr_tree* tree, mctsr_node node, int64_t* out_visits) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_visits);
  return guarded([&] { *out_visits = tree->tree.visits(node); });
}

mctsr_status mctsr_tree_own_q(const mctsr_tree* tree, mctsr_node node, double* out_q) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_q);
  return guarded([&] { *out_q = tree->tree.own_q(node); });
}

mctsr_status mctsr_tree_q(const mctsr_tree* tree, mctsr_node node, double* out_q) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_q);
  return guarded([&] { *out_q = tree->tree.q(node); });
}

mctsr_status mctsr_tree_uct(const mctsr_tree* tree, mctsr_node node, double* out_uct) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_uct);
  return guarded([&] { *out_uct = tree->tree.uct(node); });
}

mctsr_status mctsr_tree_best(const mctsr_tree* tree, int32_t by, mctsr_node* out_node) {
  MCTSR_REQUIRE(tree);
  MCTSR_REQUIRE(out_node);
  if (by != MCTSR_BEST_BY_OWN_Q && by != MCTSR_BEST_BY_Q) {
    return fail(MCTSR_ERROR_INVALID_ARGUMENT, ("best_by " + std::to_string(by) + " is unknown").c_str());
  }
  return guarded([&] { *out_node = tree->tree.best(static_cast<mctsr::BestBy>(by)); });
}

}  // extern "C"
