// The method registry, presets and parameter handling.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/quant/method.hpp"
#include "test_support.hpp"

using namespace ob1q;

// configs/<method>.json must carry exactly the registry's defaults (they are methods.md §24).
TEST(QuantRegistry, PresetsMatchRegistryDefaults) {
  ASSERT_GE(quant::registry().size(), 5u);
  for (const auto& m : quant::registry()) {
    std::string path = std::string(OB1Q_FIXTURES) + "/../../configs/" + m.name + ".json";
    auto j = nlohmann::json::parse(read_file(path));
    EXPECT_EQ(j["method"], m.name);
    EXPECT_EQ(j["params"], m.defaults) << path;
  }
  EXPECT_EQ(quant::find_method("arb-rc").defaults["iters"], 15);
  EXPECT_EQ(quant::find_method("arb-x").defaults["iters2"], 15);
  EXPECT_EQ(quant::find_method("billm").defaults["percdamp"], 0.01);
  // every hyperparameter has a line of --help
  for (const auto& m : quant::registry())
    for (auto& [k, v] : m.defaults.items()) EXPECT_TRUE(quant::param_help().count(k)) << k;
}

TEST(QuantRegistry, ParamsRejectUnknownAndMistyped) {
  quant::Params p(quant::find_method("arb-rc").defaults);
  p.set_from_string("iters", "3", "--iters");
  EXPECT_EQ(p.get_int("iters"), 3);
  p.set_from_string("cgb", "off", "--cgb");
  EXPECT_FALSE(p.get_bool("cgb"));
  EXPECT_THROW(p.set_from_string("iters", "3.5", "--iters"), Error);
  EXPECT_THROW(p.set_from_string("nope", "1", "--nope"), Error);
  EXPECT_THROW(p.merge({{"percdamp", "high"}}, "cfg.json"), Error);
  EXPECT_THROW(p.merge({{"iters2", 3}}, "cfg.json"), Error);  // an ARB-X parameter
  p.merge({{"percdamp", 0.1}}, "cfg.json");
  EXPECT_DOUBLE_EQ(p.get_double("percdamp"), 0.1);
  try {
    quant::find_method("gptq");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("arb-rc"), std::string::npos);
  }
}
