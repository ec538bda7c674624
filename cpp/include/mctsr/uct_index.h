// mctsr/uct_index.h — a max-index over node ids: which node has the largest key (ties: the smallest id).
//
// Greedy selection (§3.5: argmax of UCT over every candidate) asks for the best of all candidates on every
// rollout. A full scan is O(n); this segment tree answers in O(1) and updates one key in O(log n), so a rollout
// (a handful of keys change: the new child's parent, the back-propagation path) stays O(depth · log n).
#pragma once

#include <cstdint>
#include <vector>

namespace mctsr {

class UctIndex {
 public:
  // Makes room for ids [0, size); new ids hold no key.
  void resize(std::int64_t size);
  // Sets the key of `id` (it takes part in best()).
  void set(std::int64_t id, double key);
  // Removes `id` from best().
  void clear(std::int64_t id);
  // The id with the largest key (smallest id among equal keys), or -1 when no id holds a key.
  std::int64_t best() const { return best_.empty() ? -1 : best_[1]; }

 private:
  bool better(std::int64_t a, std::int64_t b) const;
  void update_from(std::size_t leaf);

  std::size_t capacity_ = 0;            // leaves; a power of two
  std::vector<double> key_;             // key per id (meaningful only while present_)
  std::vector<std::uint8_t> present_;   // 1 while the id holds a key
  std::vector<std::int64_t> best_;      // heap-ordered segment tree: best_[1] is the overall best, -1 = none
};

}  // namespace mctsr
