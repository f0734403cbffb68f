// A small open-addressing hash map with 64-bit keys, for the hot lookups of BPE (merge pairs,
// characters): several times faster than std::unordered_map there. Insert-only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ob1q::text {

template <typename V>
class FlatMap64 {
 public:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // never a key: ids are below 2^31

  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    if (cap > keys_.size()) rehash(cap);
  }

  // Inserts or overwrites (later merges of a duplicated pair win, as in HF's HashMap collect).
  void set(uint64_t key, const V& value) {
    if (2 * (size_ + 1) > keys_.size()) rehash(keys_.empty() ? 16 : keys_.size() * 2);
    size_t i = slot(key);
    if (keys_[i] == kEmpty) {
      keys_[i] = key;
      ++size_;
    }
    values_[i] = value;
  }

  const V* find(uint64_t key) const {
    if (keys_.empty()) return nullptr;
    const size_t i = slot(key);
    return keys_[i] == kEmpty ? nullptr : &values_[i];
  }

  size_t size() const { return size_; }

 private:
  // Fibonacci hashing: the top bits of the product depend on every bit of the key, so
  // consecutive keys (trie nodes, token ids) spread out instead of forming probe clusters.
  size_t slot(uint64_t key) const {
    const size_t mask = keys_.size() - 1;
    size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
    while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & mask;
    return i;
  }

  void rehash(size_t cap) {
    std::vector<uint64_t> old_keys(cap, kEmpty);
    std::vector<V> old_values(cap);
    old_keys.swap(keys_);
    old_values.swap(values_);
    size_ = 0;
    shift_ = 64;
    for (size_t c = cap; c > 1; c >>= 1) --shift_;
    for (size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] == kEmpty) continue;
      const size_t j = slot(old_keys[i]);
      keys_[j] = old_keys[i];
      values_[j] = old_values[i];
      ++size_;
    }
  }

  std::vector<uint64_t> keys_;
  std::vector<V> values_;
  size_t size_ = 0;
  int shift_ = 64;  // 64 - log2(capacity)
};

}  // namespace ob1q::text
