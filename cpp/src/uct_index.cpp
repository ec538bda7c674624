#include "mctsr/uct_index.h"

namespace mctsr {

bool UctIndex::better(std::int64_t a, std::int64_t b) const {
  if (a < 0) return false;
  if (b < 0) return true;
  if (key_[a] != key_[b]) return key_[a] > key_[b];
  return a < b;
}

void UctIndex::resize(std::int64_t size) {
  const auto wanted = static_cast<std::size_t>(size);
  if (wanted <= capacity_) return;
  std::size_t capacity = capacity_ == 0 ? 64 : capacity_;
  while (capacity < wanted) capacity *= 2;
  key_.resize(capacity, 0.0);
  present_.resize(capacity, 0);
  capacity_ = capacity;
  best_.assign(2 * capacity_, -1);
  for (std::size_t id = 0; id < capacity_; ++id) best_[capacity_ + id] = present_[id] ? std::int64_t(id) : -1;
  for (std::size_t node = capacity_ - 1; node >= 1; --node) {
    best_[node] = better(best_[2 * node], best_[2 * node + 1]) ? best_[2 * node] : best_[2 * node + 1];
  }
}

void UctIndex::set(std::int64_t id, double key) {
  key_[id] = key;
  present_[id] = 1;
  best_[capacity_ + id] = id;
  update_from(capacity_ + id);
}

void UctIndex::clear(std::int64_t id) {
  if (!present_[id]) return;
  present_[id] = 0;
  best_[capacity_ + id] = -1;
  update_from(capacity_ + id);
}

void UctIndex::update_from(std::size_t leaf) {
  for (std::size_t node = leaf / 2; node >= 1; node /= 2) {
    const std::int64_t left = best_[2 * node];
    const std::int64_t right = best_[2 * node + 1];
    best_[node] = better(left, right) ? left : right;
  }
}

}  // namespace mctsr
