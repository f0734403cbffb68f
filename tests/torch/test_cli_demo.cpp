// The fresh-clone path: `ob1q demo` builds the demo model from the repository's own docs and
// `ob1q eval --json -` evaluates it. The byte-bigram head must beat a uniform model by far.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace {

std::string run(const std::string& args, int* rc) {
  std::string cmd = std::string(OB1Q_BINARY_DIR) + "/ob1q " + args;
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

}  // namespace

TEST(CliDemo, DemoModelEvaluatesFromJson) {
  const std::string dir = ob1q::test::temp_dir("demo");
  int rc = 0;
  run("demo --out '" + dir + "' --log-level warn 2>&1", &rc);
  ASSERT_EQ(rc, 0);
  std::string out = run("eval --device cpu --model '" + dir + "/model' --data-dir '" + dir +
                            "/data' --seqlen 512 --json - --log-level warn 2>/dev/null",
                        &rc);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);  // stdout carries the JSON document only
  const auto& w = j["ppl"]["wikitext2"];
  EXPECT_GE(w["windows"].get<int>(), 2);
  EXPECT_EQ(w["ids_sha256"].get<std::string>().size(), 64u);
  EXPECT_GT(w["ppl"].get<double>(), 1.0);
  EXPECT_LT(w["ppl"].get<double>(), 264.0 / 4);  // uniform over the 264-token vocabulary would be 264
  EXPECT_EQ(j["command"], "eval");
}
