// The packed checkpoint (docs/format.md): bit packing and the dequantization rules on hand-computed
// cases, layer round trips, the end-to-end promise (packed == fake-quant bit for bit, for every
// method), export, inspect's accounting, and the reader's refusals of damaged checkpoints.
#include <ATen/ATen.h>
#include <dirent.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/io/safetensors.hpp"
#include "ob1q/model/decoder.hpp"
#include "ob1q/pack/checkpoint.hpp"
#include "ob1q/quant/method.hpp"
#include "ob1q/quant/pipeline.hpp"
#include "test_support.hpp"

using namespace ob1q;
using test::error_of;

namespace {

const bool kRegistered = (pack::register_format(), true);

bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

// Tiny fixture quantized with `method` into `out` (small blocks so that every code path runs:
// blocksize 48 leaves a short last block of 16 columns on both 64- and 112-wide inputs; OA's
// cross Grams need whole blocks, so it runs with 16).
nlohmann::json quantize_tiny(const std::string& model, const std::string& method, const std::string& out,
                             const std::string& format, const std::string& calib) {
  quant::QuantizeOptions o;
  o.model_dir = test::fixtures() + "/tiny/" + model;
  o.method = method;
  o.calib_file = calib;
  o.nsamples = 4;
  o.seqlen = 32;
  o.out = out;
  o.format = format;
  o.progress = false;
  o.shard_bytes = 40000;  // several shards even for the tiny model
  o.overrides = {{"blocksize", method == "oa" ? "16" : "48"}};
  if (method != "pb-llm") o.overrides.emplace_back("up_lim", "8");
  return quant::run_quantize(o);
}

std::string shard_of(const std::string& dir, const std::string& tensor) {
  auto idx = nlohmann::json::parse(read_file(dir + "/model.safetensors.index.json"));
  return dir + "/" + idx["weight_map"][tensor].get<std::string>();
}

void edit_config(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  auto j = nlohmann::json::parse(read_file(dir + "/config.json"));
  edit(j);
  write_file_atomic(dir + "/config.json", j.dump(2));
}

void copy_dir(const std::string& from, const std::string& to) {
  ASSERT_EQ(std::system(("rm -rf '" + to + "' && cp -r '" + from + "' '" + to + "'").c_str()), 0);
}

}  // namespace

TEST(PackBits, LsbFirstAndRoundTrip) {
  // bits 0,2 and 8 set -> bytes 0b101 = 5 and 1; the pad bits of the last byte are 0.
  at::Tensor bits = at::zeros({9}, at::kBool);
  bits[0] = true, bits[2] = true, bits[8] = true;
  at::Tensor bytes = pack::pack_bits(bits);
  ASSERT_EQ(bytes.numel(), 2);
  EXPECT_EQ(bytes[0].item<int>(), 5);
  EXPECT_EQ(bytes[1].item<int>(), 1);
  at::manual_seed(1);
  at::Tensor r = at::rand({5, 13}) > 0.5;
  EXPECT_TRUE(at::equal(pack::unpack_bits(pack::pack_bits(r), 13), r));
  EXPECT_EQ(pack::pack_bits(r).sizes(), (std::vector<int64_t>{5, 2}));
}

// One block, m = 2 rows, w = 3 columns; column 0 salient. Groups: S (salient, both hi values,
// 2 planes) and N_hi / N_lo (1 plane each). Values are small dyadic numbers, so the expected
// weights are exact.
TEST(PackDequant, HandComputedFormulas) {
  pack::BlockCode c;
  c.salient = at::tensor({1, 0, 0}, at::kInt).to(at::kBool);
  c.hi = at::tensor({0, 1, 0, 0, 0, 1}, at::kInt).to(at::kBool).view({2, 3});
  c.sign = at::tensor({1, 1, -1, -1, 1, 1,    // plane 0
                       -1, 0, 0, 1, 0, 0},   // plane 1 (salient column only)
                      at::kInt).to(at::kChar).view({2, 2, 3});
  c.row = at::tensor({2.0f, 4.0f, 0.5f, 0.25f, 1.0f, 3.0f, 8.0f, 16.0f}).view({4, 2});  // slots S0, S1, N_hi, N_lo
  c.col = at::tensor({1.0f, 2.0f, 4.0f, 0.5f, 0.5f, 0.5f, 1.0f, 1.0f, 2.0f, 4.0f, 4.0f, 4.0f}).view({4, 3});
  pack::CodeLayout rc;
  rc.formula = pack::Formula::Rc;
  rc.groups = {{"S", true, -1, 2}, {"N_hi", false, 1, 1}, {"N_lo", false, 0, 1}};
  // (0,0) S: 2*1*1 + 0.5*0.5*(-1) = 1.75      (1,0) S: 4*1*(-1) + 0.25*0.5*1 = -3.875
  // (0,1) N_hi: 1*1*1 = 1   (0,2) N_lo: 8*4*(-1) = -32   (1,1) N_lo: 16*4*1 = 64   (1,2) N_hi: 3*2*1 = 6
  at::Tensor expect = at::tensor({1.75f, 1.0f, -32.0f, -3.875f, 64.0f, 6.0f}).view({2, 3});
  EXPECT_TRUE(at::equal(pack::dequantize_block(rc, c), expect));

  pack::CodeLayout arb = rc;
  arb.formula = pack::Formula::Arb;  // one mean per group: S, N_hi, N_lo
  c.col = at::Tensor();
  c.mean = at::tensor({0.5f, -0.5f, 1.0f, 2.0f, 0.25f, 0.125f}).view({3, 2});
  // (0,0): (2 - 0.5) + 0.5 = 2   (1,0): (-4 + 0.25) - 0.5 = -4.25   (0,1): 1 + 1 = 2
  // (0,2): -8 + 0.25 = -7.75     (1,1): 16 + 0.125 = 16.125         (1,2): 3 + 2 = 5
  expect = at::tensor({2.0f, 2.0f, -7.75f, -4.25f, 16.125f, 5.0f}).view({2, 3});
  EXPECT_TRUE(at::equal(pack::dequantize_block(arb, c), expect));

  pack::CodeLayout braq = rc;
  braq.formula = pack::Formula::Braq;  // one mean per plane slot
  c.mean = at::tensor({0.5f, -0.5f, 0.125f, 0.25f, 1.0f, 2.0f, 0.25f, 0.125f}).view({4, 2});
  // (0,0): (2 + 0.5) + (-0.5 + 0.125) = 2.125   (1,0): (-4 - 0.5) + (0.25 + 0.25) = -4
  expect = at::tensor({2.125f, 2.0f, -7.75f, -4.0f, 16.125f, 5.0f}).view({2, 3});
  EXPECT_TRUE(at::equal(pack::dequantize_block(braq, c), expect));
}

TEST(PackDequant, PbLlmFormula) {
  pack::PbCode c;
  c.high = at::tensor({0, 1, 0, 0}, at::kInt).to(at::kBool).view({2, 2});
  c.sign = at::tensor({-1, 1, 0, 1}, at::kInt).to(at::kChar).view({2, 2});
  c.codes = at::tensor({0, 200, 0, 0}, at::kInt).to(at::kByte).view({2, 2});
  c.alpha = at::tensor({2.0f, 4.0f});
  c.mu = at::tensor({0.5f, -1.0f});
  c.scale = at::tensor({0.25f, 1.0f});
  c.zero = at::tensor({128.0f, 3.0f});
  // (0,0) -2 + 0.5   (0,1) 0.25*(200-128) = 18   (1,0) sign 0 -> mu = -1   (1,1) 4 - 1 = 3
  EXPECT_TRUE(at::equal(pack::dequantize_pb(c), at::tensor({-1.5f, 18.0f, -1.0f, 3.0f}).view({2, 2})));
  pack::PackedLinear p = pack::pack_pb(c, at::kFloat);
  ASSERT_TRUE(p.tensors.count("sign_zero"));  // the zero sign at (1,0) must survive
  auto get = [&](const std::string& k) { return p.tensors.at(k); };
  auto has = [&](const std::string& k) { return p.tensors.count(k) > 0; };
  EXPECT_TRUE(at::equal(pack::dequantize_pb(pack::unpack_pb(2, 2, get, has, at::kCPU, "t")), pack::dequantize_pb(c)));
}

// Random codes (zero signs, a short last block, an odd salient count) survive pack -> unpack.
TEST(PackLayer, BinaryRoundTripIsExact) {
  at::manual_seed(5);
  const int64_t m = 6, d = 21, bs = 8;
  pack::CodeLayout l;
  l.formula = pack::Formula::Rc;
  l.groups = {{"S_hi", true, 1, 2}, {"S_lo", true, 0, 2}, {"N_hi", false, 1, 1}, {"N_lo", false, 0, 1}};
  std::vector<pack::BlockCode> blocks;
  for (int64_t c0 = 0; c0 < d; c0 += bs) {
    const int64_t w = std::min(bs, d - c0);
    pack::BlockCode b;
    b.salient = at::rand({w}) > 0.6;
    b.hi = at::rand({m, w}) > 0.5;
    b.sign = at::randint(-1, 2, {2, m, w}, at::kChar);
    b.sign[1].masked_fill_(~b.salient.view({1, w}).expand({m, w}), 0);
    if (c0 == 0) b.sign.select(2, 1).zero_();  // a dead (all-zero) column
    b.row = at::randn({l.slots(), m});
    b.col = at::randn({l.slots(), w});
    pack::round_scales(b);
    blocks.push_back(b);
  }
  pack::PackedLinear p = pack::pack_binary(l, bs, blocks);
  ASSERT_TRUE(p.tensors.count("sign_zero"));
  ASSERT_TRUE(p.tensors.count("zero_cols"));
  EXPECT_EQ(pack::unpack_bits(p.tensors.at("zero_cols"), d)[1].item<bool>(), true);
  EXPECT_EQ(p.tensors.at("row_scale").scalar_type(), at::kHalf);
  auto get = [&](const std::string& k) { return p.tensors.at(k); };
  auto has = [&](const std::string& k) { return p.tensors.count(k) > 0; };
  auto back = pack::unpack_binary(l, bs, m, d, get, has, at::kCPU, "t");
  ASSERT_EQ(back.size(), blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_TRUE(at::equal(back[i].salient, blocks[i].salient));
    EXPECT_TRUE(at::equal(back[i].sign, blocks[i].sign)) << i;
    EXPECT_TRUE(at::equal(back[i].row, blocks[i].row));
    EXPECT_TRUE(at::equal(back[i].col, blocks[i].col));
  }
  EXPECT_TRUE(at::equal(pack::dequantize_binary(l, back), pack::dequantize_binary(l, blocks)));
}

// The acceptance promise: for every method, the packed checkpoint dequantizes to exactly the
// weights the fake-quant checkpoint of the same run holds, the models compute identical logits,
// and `ob1q export --dequantize` writes those same weights.
class PackEveryMethod : public ::testing::TestWithParam<std::string> {};

TEST_P(PackEveryMethod, PackedEqualsFakeQuantBitForBit) {
  const std::string method = GetParam();
  for (const std::string model : {"opt-untied-fp16", "llama-bf16-mqa"}) {
    const std::string dir = test::temp_dir("pack-" + method);
    const std::string calib = test::write_calib_file(dir, 4, 32, 160);
    auto rp = quantize_tiny(model, method, dir + "/packed", "packed", calib);
    quantize_tiny(model, method, dir + "/fake", "fake-quant", calib);
    auto packed = pack::PackedWeights::open(dir + "/packed");
    auto fake = io::CheckpointWeights::open(dir + "/fake");
    ASSERT_EQ(packed->modules().size(), rp["layers"].size());
    EXPECT_GT(packed->checkpoint().files().size(), 1u) << "expected several shards";
    for (const auto& name : fake->checkpoint().names()) {
      const at::ScalarType dt = io::to_scalar_type(fake->checkpoint().get(name).info->dtype, name);
      EXPECT_TRUE(same_bits(packed->load(name, dt, at::kCPU), fake->load(name, dt, at::kCPU))) << model << " " << name;
    }
    at::Tensor ids = at::randint(0, 160, {2, 24}, at::kLong);
    auto mp = model::DecoderModel::load(dir + "/packed", {});
    auto mf = model::DecoderModel::load(dir + "/fake", {});
    EXPECT_TRUE(at::equal(mp->forward(ids), mf->forward(ids))) << model;

    auto [rc, out] = test::run_ob1q("export --dequantize " + dir + "/packed --out " + dir + "/export --log-level warn 2>&1");
    ASSERT_EQ(rc, 0) << out;
    auto exported = io::CheckpointWeights::open(dir + "/export");
    EXPECT_FALSE(pack::is_packed(dir + "/export"));
    for (const auto& name : fake->checkpoint().names()) {
      const at::ScalarType dt = io::to_scalar_type(fake->checkpoint().get(name).info->dtype, name);
      EXPECT_TRUE(same_bits(exported->load(name, dt, at::kCPU), fake->load(name, dt, at::kCPU))) << "export " << name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, PackEveryMethod,
                         ::testing::Values("billm", "arb", "arb-x", "arb-rc", "oa", "pb-llm"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// inspect's figures come from the stored tensors: stored bits = bytes * 8 / weights (checked
// against the byte count the layout implies), papers' bits = the run's 1 + r_sal.
TEST(PackInspect, BitsFromStoredTensorsAndManifest) {
  const std::string dir = test::temp_dir("inspect");
  const std::string calib = test::write_calib_file(dir, 4, 32, 160);
  auto report = quantize_tiny("llama3-gqa", "arb-rc", dir + "/q", "packed", calib);
  nlohmann::json r = pack::inspect(dir + "/q", true);
  ASSERT_TRUE(r["ok"].get<bool>()) << r.dump(2);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& l : r["layers"]) by_name[l["name"].get<std::string>()] = l;
  for (const auto& l : report["layers"]) {
    const std::string name = l["layer"].get<std::string>();
    ASSERT_TRUE(by_name.count(name)) << name;
    const auto& x = by_name[name];
    const int64_t m = x["shape"][0], d = x["shape"][1];
    const int64_t k = std::llround((l["bits_per_weight"].get<double>() - 1) * d);  // salient columns
    const int64_t nb = (d + 47) / 48;
    auto packed = pack::PackedWeights::open(dir + "/q");
    int64_t zeros = 0;  // the optional zero-sign tensors
    for (const char* z : {".sign_zero", ".zero_cols"})
      if (packed->checkpoint().has(name + z)) zeros += int64_t(packed->checkpoint().get(name + z).info->nbytes);
    const int64_t bytes = 2 * m * ((d + 7) / 8) + (d + 7) / 8 + m * ((k + 7) / 8) + nb * 6 * m * 2 + nb * 6 * 48 * 2 + 16 + zeros;
    EXPECT_NEAR(x["bits_per_weight_stored"].get<double>(), double(bytes) * 8 / double(m * d), 1e-12) << name;
    EXPECT_NEAR(x["bits_per_weight_paper"].get<double>(), l["bits_per_weight"].get<double>(), 1e-12) << name;
    EXPECT_NEAR(x["bits_per_weight_stored"].get<double>(), l["bits_per_weight_stored"].get<double>(), 1e-12) << name;
  }
  EXPECT_NEAR(r["totals"]["linear_bits_per_weight_paper"].get<double>(), report["bits_per_weight"].get<double>(), 1e-9);

  // The CLI: OK, exit 0; one flipped byte inside a shard's tensor data -> sha256 problem, exit 1.
  auto [rc, out] = test::run_ob1q("inspect " + dir + "/q 2>&1");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("verdict     OK"), std::string::npos) << out;
  const std::string shard = shard_of(dir + "/q", "model.layers.0.mlp.down_proj.row_scale");
  {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-3, std::ios::end);
    char c = 0;
    f.read(&c, 1);
    f.seekp(-3, std::ios::end);
    c ^= 0x40;
    f.write(&c, 1);
  }
  std::tie(rc, out) = test::run_ob1q("inspect " + dir + "/q 2>&1");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("sha256 differs"), std::string::npos) << out;
}

TEST(PackReader, RefusesDamagedCheckpoints) {
  const std::string dir = test::temp_dir("damaged");
  const std::string calib = test::write_calib_file(dir, 4, 32, 160);
  quantize_tiny("llama3-gqa", "arb-rc", dir + "/q", "packed", calib);
  const std::string mod = "model.layers.1.self_attn.q_proj";
  auto load_all = [](const std::string& d) {
    auto m = model::DecoderModel::load(d, {});
    return m->num_blocks();
  };
  ASSERT_EQ(error_of([&] { load_all(dir + "/q"); }), "");

  copy_dir(dir + "/q", dir + "/v2");
  edit_config(dir + "/v2", [](nlohmann::json& j) { j["quantization_config"]["format_version"] = 2; });
  std::string e = error_of([&] { pack::PackedWeights::open(dir + "/v2"); });
  EXPECT_NE(e.find("version 2"), std::string::npos) << e;
  EXPECT_NE(e.find("upgrade"), std::string::npos) << e;

  copy_dir(dir + "/q", dir + "/shape");
  edit_config(dir + "/shape", [&](nlohmann::json& j) { j["quantization_config"]["modules"][mod]["shape"][1] = 32; });
  e = error_of([&] { pack::PackedWeights::open(dir + "/shape"); });
  EXPECT_NE(e.find("weight_shape disagrees"), std::string::npos) << e;

  copy_dir(dir + "/q", dir + "/blocks");  // a layout that does not match the stored tensors
  edit_config(dir + "/blocks", [](nlohmann::json& j) { j["quantization_config"]["layouts"]["L0"]["blocksize"] = 32; });
  e = error_of([&] { load_all(dir + "/blocks"); });
  EXPECT_NE(e.find("differs from the expected"), std::string::npos) << e;

  copy_dir(dir + "/q", dir + "/missing");  // one packed tensor gone from its shard and the index
  {
    const std::string shard = shard_of(dir + "/missing", mod + ".hi");
    auto f = io::SafetensorsFile::open(shard);
    io::SafetensorsWriter w;
    for (const auto& t : f->tensors())
      if (t.name != mod + ".hi") w.add(t.name, t.dtype, t.shape, f->data(t), t.nbytes);
    w.write(shard);
    auto idx = nlohmann::json::parse(read_file(dir + "/missing/model.safetensors.index.json"));
    idx["weight_map"].erase(mod + ".hi");
    write_file_atomic(dir + "/missing/model.safetensors.index.json", idx.dump());
  }
  e = error_of([&] { pack::PackedWeights::open(dir + "/missing"); });
  EXPECT_NE(e.find(mod + ".hi"), std::string::npos) << e;

  copy_dir(dir + "/q", dir + "/trunc");  // a shard cut short
  const std::string shard = shard_of(dir + "/trunc", mod + ".sign");
  ASSERT_EQ(::truncate(shard.c_str(), 100), 0);
  e = error_of([&] { pack::PackedWeights::open(dir + "/trunc"); });
  EXPECT_FALSE(e.empty());
  EXPECT_FALSE(pack::inspect(dir + "/trunc", false)["ok"].get<bool>());

  // A packed checkpoint is not quantized again.
  quant::QuantizeOptions o;
  o.model_dir = dir + "/q";
  o.out = dir + "/again";
  e = error_of([&] { quant::run_quantize(o); });
  EXPECT_NE(e.find("already a packed"), std::string::npos) << e;
}

// A failing write leaves neither the output nor its staging directory behind.
TEST(PackWriter, FailedWriteLeavesNothing) {
  const std::string dir = test::temp_dir("atomic");
  pack::PackedLinear p;
  p.layout = "pb-llm";
  p.rows = 1, p.cols = 1;
  std::map<std::string, pack::PackedLinear> layers = {{"model.layers.0.no_such_linear", p}};
  const std::string src = test::fixtures() + "/tiny/llama3-gqa";
  EXPECT_THROW(pack::write_packed(dir + "/out", src, layers, {}, {}, false), Error);
  DIR* d = opendir(dir.c_str());
  int entries = 0;
  while (dirent* x = readdir(d)) entries += std::string(x->d_name) != "." && std::string(x->d_name) != "..";
  closedir(d);
  EXPECT_EQ(entries, 0);
}
