// mctsr/errors.h — the typed errors of the core. Every one names the bad value in its message.
//
// The bindings map them to Python: Error -> MctsrError, InvalidConfig -> InvalidConfigError (ValueError),
// InvalidNode -> InvalidNodeError (IndexError), InvalidReward -> InvalidRewardError (ValueError),
// InvalidArgument -> InvalidArgumentError (ValueError). The C ABI maps them to status codes.
// A call that throws leaves the tree exactly as it was: every check runs before the first write.
#pragma once

#include <stdexcept>
#include <string>

namespace mctsr {

// Base of everything the core throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A Config field is out of range, NaN, or an unknown strategy name.
class InvalidConfig : public Error {
 public:
  using Error::Error;
};

// A node id that is not in the tree (or a node in the wrong state for the call).
class InvalidNode : public Error {
 public:
  using Error::Error;
};

// A reward that is NaN, infinite, outside [-100, 100], or an empty reward list.
class InvalidReward : public Error {
 public:
  using Error::Error;
};

// Any other bad call argument (k = 0 in select_batch, an unknown node kind).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

}  // namespace mctsr
