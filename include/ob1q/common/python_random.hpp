// CPython's `random.Random` integer draws, bit for bit: MT19937 seeded through init_by_array
// with the 32-bit limbs of |seed| (not std::mt19937(seed), which uses init_genrand), and
// randbelow's rejection sampling on the top k bits. Calibration windows drawn with this match
// the reference Python code's for the same seed.
#pragma once
#include <cstdint>
#include <vector>

namespace ob1q {

class PythonRandom {
 public:
  explicit PythonRandom(uint64_t seed);
  uint32_t genrand_uint32();
  uint64_t getrandbits(int k);                 // 1 <= k <= 64
  uint64_t randbelow(uint64_t n);              // uniform in [0, n), n >= 1
  int64_t randint(int64_t a, int64_t b);       // inclusive, a <= b

 private:
  void init_genrand(uint32_t s);
  void init_by_array(const std::vector<uint32_t>& key);
  uint32_t mt_[624];
  int index_ = 625;
};

}  // namespace ob1q
