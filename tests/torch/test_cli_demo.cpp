// The fresh-clone path: `ob1q demo` builds the demo model from the repository's own docs and
// `ob1q eval --json -` evaluates it. The byte-bigram head must beat a uniform model by far.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

TEST(CliDemo, DemoModelEvaluatesFromJson) {
  const std::string dir = ob1q::test::temp_dir("demo");
  auto [rc, out] = ob1q::test::run_ob1q("demo --out '" + dir + "' --log-level warn 2>&1");
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = ob1q::test::run_ob1q("eval --device cpu --model '" + dir + "/model' --data-dir '" + dir +
                            "/data' --seqlen 512 --json - --log-level warn 2>/dev/null");
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);  // stdout carries the JSON document only
  const auto& w = j["ppl"]["wikitext2"];
  EXPECT_GE(w["windows"].get<int>(), 2);
  EXPECT_EQ(w["ids_sha256"].get<std::string>().size(), 64u);
  EXPECT_GT(w["ppl"].get<double>(), 1.0);
  EXPECT_LT(w["ppl"].get<double>(), 264.0 / 4);  // uniform over the 264-token vocabulary would be 264
  EXPECT_EQ(j["command"], "eval");
}
