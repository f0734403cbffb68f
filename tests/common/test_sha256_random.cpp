#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "ob1q/common/python_random.hpp"
#include "ob1q/common/sha256.hpp"
#include "test_support.hpp"

using namespace ob1q;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(sha256_hex(two_blocks.data(), two_blocks.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // streaming in odd pieces gives the same digest as one call
  std::string a(1000, 'a');
  Sha256 s;
  for (size_t i = 0; i < a.size(); i += 7) s.update(a.data() + i, std::min<size_t>(7, a.size() - i));
  EXPECT_EQ(s.hex(), sha256_hex(a.data(), a.size()));
}

// Values printed by CPython 3 (`random.Random(seed)`), here and on the GPU machine (fixture).
TEST(PythonRandom, MatchesCPython) {
  std::ifstream f(test::fixtures() + "/calib_windows.json");
  auto j = nlohmann::json::parse(f);
  auto expect = j["python_random_seed0"]["randint_0_1040"].get<std::vector<int64_t>>();
  PythonRandom r(0);
  for (int64_t e : expect) EXPECT_EQ(r.randint(0, 1040), e);
  EXPECT_EQ(PythonRandom(0).genrand_uint32(), 3626764237u);
  EXPECT_EQ(PythonRandom((1ull << 40) + 5).randint(0, 1000000000000LL), 569101979940LL);  // two-limb key, 40-bit draw
  EXPECT_EQ(PythonRandom(7).getrandbits(48), 266800464311352ull);
}
