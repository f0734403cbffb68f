// The packed-resident linear (kernels::PackedMatrix) against the format's own dequantize():
// every layout and formula, odd shapes (rows not a multiple of 16, columns not a multiple of 8 or
// of the block size, a short last block), zero signs (whole columns and single weights, both
// planes), scale and checkpoint dtypes, batch 1 and more. The CPU op must give exactly the
// dequantized weights; the CUDA decode kernel's decomposition (s / sigma / h sign matrices on
// tensor cores) is checked lane by lane through its CPU emulation; on a CUDA build with a GPU
// the kernels themselves are compared with the CPU reference.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>

#include "ob1q/kernels/binary_tiles.hpp"
#include "ob1q/kernels/packed_matrix.hpp"
#include "ob1q/pack/packed_linear.hpp"
#include "ob1q/pack/resident.hpp"

using namespace ob1q;

namespace {

bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

double rel_err(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  return ((g - w).norm() / w.norm().clamp_min(1e-30)).item<double>();
}

struct Case {
  std::string name;
  pack::Formula formula;
  std::vector<pack::GroupSpec> groups;
  int64_t m, d, bs;
  at::ScalarType scales = at::kHalf, round_to = at::kHalf;
  bool zeros = true;  // zero signs: a dead column and scattered single zeros
};

// A random packed layer of `c` (what a quantizer could produce), its stored tensors and the
// exact fp32 weight dequantize() defines.
struct Layer {
  pack::CodeLayout layout;
  pack::PackedLinear packed;
  at::Tensor exact;  // fp32 [m, d], before rounding to round_to
};

Layer random_layer(const Case& c, uint64_t seed) {
  at::manual_seed(seed);
  Layer L;
  L.layout.formula = c.formula;
  L.layout.groups = c.groups;
  std::vector<pack::BlockCode> blocks;
  for (int64_t c0 = 0; c0 < c.d; c0 += c.bs) {
    const int64_t w = std::min(c.bs, c.d - c0);
    pack::BlockCode b;
    b.salient = at::rand({w}) > 0.7;
    b.hi = at::rand({c.m, w}) > 0.5;
    b.sign = (at::rand({2, c.m, w}) > 0.5).to(at::kChar) * 2 - 1;
    if (c.zeros) b.sign.masked_fill_(at::rand({2, c.m, w}) < 0.002, 0);
    b.sign[1].masked_fill_(~b.salient.view({1, w}).expand({c.m, w}), 0);
    if (c.zeros && c0 == 0 && w > 1) b.sign.select(2, 1).zero_();  // a dead input column
    if (c.zeros && c0 + c.bs >= c.d) {  // single zero signs in the last block, both planes
      b.sign[0][c.m - 1][w - 1] = 0;
      b.salient[0] = true;
      b.sign[1][0][0] = 0;
    }
    b.row = at::rand({L.layout.slots(), c.m}) * 0.2 + 0.01;
    if (c.formula == pack::Formula::Rc) b.col = at::rand({L.layout.slots(), w}) * 2 + 0.1;
    if (L.layout.mean_slots() > 0) b.mean = at::randn({L.layout.mean_slots(), c.m}) * 0.05;
    pack::round_scales(b, c.scales);
    blocks.push_back(b);
  }
  L.packed = pack::pack_binary(L.layout, c.bs, blocks, c.scales);
  L.packed.spec = L.layout.to_json();
  L.packed.spec["blocksize"] = c.bs;
  L.packed.spec["layout"] = "binary-blocks";
  L.exact = pack::dequantize_binary(L.layout, blocks);
  return L;
}

std::shared_ptr<kernels::PackedMatrix> resident(const pack::PackedLinear& p, at::ScalarType round_to, c10::Device dev) {
  auto get = [&](const std::string& k) { return p.tensors.at(k); };
  auto has = [&](const std::string& k) { return p.tensors.count(k) > 0; };
  std::string why;
  auto r = pack::make_resident(p.spec, p.rows, p.cols, get, has, round_to, dev, "test", &why);
  EXPECT_TRUE(r) << why;
  return r;
}

const std::vector<pack::GroupSpec> kCgb = {{"S_hi", true, 1, 2}, {"S_lo", true, 0, 2}, {"N_hi", false, 1, 1}, {"N_lo", false, 0, 1}};
const std::vector<pack::GroupSpec> kBillm = {{"N_lo", false, 0, 1}, {"N_hi", false, 1, 1}, {"M_sal", true, -1, 2}};
const std::vector<pack::GroupSpec> kNoCgb = {{"M_sal", true, -1, 2}, {"N_hi", false, 1, 1}, {"N_lo", false, 0, 1}};
// First match decides: salient hi weights take the 1-plane S_hi, the rest of the salient ones
// M_sal; non-salient lo weights belong to no group (weight 0).
const std::vector<pack::GroupSpec> kOdd = {{"S_hi", true, 1, 1}, {"M_sal", true, -1, 2}, {"N_hi", false, 1, 1}};

std::vector<Case> cases() {
  using F = pack::Formula;
  return {
      {"rc_cgb", F::Rc, kCgb, 37, 83, 32},
      {"rc_cgb_wide", F::Rc, kCgb, 300, 128, 128},
      {"rc_nocgb_bf16", F::Rc, kNoCgb, 21, 50, 16, at::kBFloat16, at::kBFloat16},
      {"arb_cgb", F::Arb, kCgb, 37, 83, 32},
      {"arb_odd_f32", F::Arb, kOdd, 18, 40, 24, at::kFloat, at::kFloat},
      {"braq_billm", F::Braq, kBillm, 33, 70, 32},
      {"braq_odd", F::Braq, kOdd, 5, 7, 4},
      {"rc_no_zeros", F::Rc, kCgb, 16, 64, 64, at::kHalf, at::kHalf, false},
  };
}

at::Tensor rounded(const at::Tensor& exact, at::ScalarType t) { return exact.to(t).to(at::kFloat); }

}  // namespace

TEST(PackedKernels, ScalarConversionsMatchLibTorch) {
  // Every fp16 and bf16 bit pattern to fp32.
  at::Tensor all = at::arange(65536, at::kInt).to(at::kShort);
  at::Tensor h = all.view(at::kHalf).to(at::kFloat), b = all.view(at::kBFloat16).to(at::kFloat);
  const int16_t* bits = all.data_ptr<int16_t>();
  for (int64_t i = 0; i < 65536; ++i) {
    const float fh = kernels::half_to_float(uint16_t(bits[i])), fb = kernels::bf16_to_float(uint16_t(bits[i]));
    const float th = h[i].item<float>(), tb = b[i].item<float>();
    if (std::isnan(th)) ASSERT_TRUE(std::isnan(fh)) << i;
    else ASSERT_EQ(kernels::float_to_bits(fh), kernels::float_to_bits(th)) << i;
    if (std::isnan(tb)) ASSERT_TRUE(std::isnan(fb)) << i;
    else ASSERT_EQ(kernels::float_to_bits(fb), kernels::float_to_bits(tb)) << i;
  }
  // fp32 to fp16/bf16, round to nearest even: random magnitudes across the whole range, ties,
  // subnormals, overflow and infinities.
  at::manual_seed(3);
  at::Tensor x = at::cat({at::randn({200000}) * at::pow(2.0, at::randint(-30, 18, {200000}).to(at::kFloat)),
                          at::tensor({0.f, -0.f, 65504.f, 65519.f, 65520.f, 1e9f, -1e9f, 5.9604645e-8f, 2.9802322e-8f,
                                      2.9802326e-8f, 6.1035156e-5f, 1.0009765625f, 1.00048828125f,
                                      std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})});
  at::Tensor th = x.to(at::kHalf).view(at::kShort), tb = x.to(at::kBFloat16).view(at::kShort);
  const float* xp = x.data_ptr<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_EQ(kernels::float_to_half_rne(xp[i]), uint16_t(th[i].item<int16_t>())) << xp[i];
    ASSERT_EQ(kernels::float_to_bf16_rne(xp[i]), uint16_t(tb[i].item<int16_t>())) << xp[i];
  }
}

class PackedLayouts : public ::testing::TestWithParam<Case> {};

// The CPU op keeps the bits packed and reproduces dequantize() exactly (rounded through the
// checkpoint dtype), and y = x W^T from it equals the dense product.
TEST_P(PackedLayouts, CpuOpEqualsDequantize) {
  const Case c = GetParam();
  const Layer L = random_layer(c, 11);
  auto m = resident(L.packed, c.round_to, at::kCPU);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->rows(), c.m);
  EXPECT_EQ(m->cols(), c.d);
  if (c.zeros) ASSERT_TRUE(L.packed.tensors.count("sign_zero") && L.packed.tensors.count("zero_cols")) << c.name;
  const at::Tensor want = rounded(L.exact, c.round_to);
  EXPECT_TRUE(same_bits(m->dense(at::kFloat), want)) << c.name << " max diff "
                                                     << (m->dense(at::kFloat) - want).abs().max().item<float>();
  for (int64_t n : {1, 3, 8, 20}) {
    const at::Tensor x = at::randn({n, c.d});
    const at::Tensor bias = at::randn({c.m});
    const at::Tensor y = m->linear(x, bias);
    EXPECT_LT(rel_err(y, at::linear(x, want, bias)), 1e-6) << c.name << " n=" << n;
  }
}

// The resident form is the packed size: on a layer of realistic proportions (11% salient
// columns, blocks of 128, 512 rows) within 0.6 bit per weight of the stored tensors: plane-1 tiles
// pad each block's salient columns to 16 and the tile tables cost a little per row.
TEST(PackedKernels, ResidentBytesNearStoredBytes) {
  at::manual_seed(15);
  pack::CodeLayout l;
  l.formula = pack::Formula::Rc;
  l.groups = kCgb;
  const int64_t m = 512, d = 1024, bs = 128;
  std::vector<pack::BlockCode> blocks;
  for (int64_t c0 = 0; c0 < d; c0 += bs) {
    pack::BlockCode b;
    b.salient = at::rand({bs}) < 0.11;
    b.hi = at::rand({m, bs}) > 0.5;
    b.sign = (at::rand({2, m, bs}) > 0.5).to(at::kChar) * 2 - 1;
    b.sign[1].masked_fill_(~b.salient.view({1, bs}).expand({m, bs}), 0);
    b.row = at::rand({l.slots(), m}) + 0.1;
    b.col = at::rand({l.slots(), bs}) + 0.1;
    pack::round_scales(b);
    blocks.push_back(b);
  }
  pack::PackedLinear p = pack::pack_binary(l, bs, blocks);
  p.spec = l.to_json();
  p.spec["blocksize"] = bs;
  p.spec["layout"] = "binary-blocks";
  auto r = resident(p, at::kHalf, at::kCPU);
  const double stored = double(p.stored_bytes()) * 8 / double(m * d), res = double(r->resident_bytes()) * 8 / double(m * d);
  EXPECT_GT(stored, 2.8);
  EXPECT_LT(stored, 3.3);
  EXPECT_LT(res, stored + 0.6) << "stored " << stored << " resident " << res;
  EXPECT_LT(res, 0.25 * 16) << "resident bits per weight " << res;
}

// The decode kernel's decomposition, emulated lane by lane: exact in fp32 up to summation order
// against the unrounded weights, and within fp16 operand rounding when B is fp16.
TEST_P(PackedLayouts, KernelDecompositionMatchesDequantize) {
  const Case c = GetParam();
  const Layer L = random_layer(c, 12);
  auto m = resident(L.packed, c.round_to, at::kCPU);
  ASSERT_TRUE(m);
  for (int64_t n : {1, 2, 5, 8}) {
    const at::Tensor x = at::randn({n, c.d});
    const at::Tensor bias = at::randn({c.m});
    const at::Tensor ref = at::linear(x.to(at::kDouble), L.exact.to(at::kDouble), bias.to(at::kDouble));
    EXPECT_LT(rel_err(m->linear_emulated(x, bias, at::kFloat), ref), 2e-6) << c.name << " n=" << n;
    const at::Tensor xh = x.to(at::kHalf).to(at::kFloat);
    const at::Tensor refh = at::linear(xh.to(at::kDouble), L.exact.to(at::kDouble), bias.to(at::kDouble));
    EXPECT_LT(rel_err(m->linear_emulated(xh, bias, at::kHalf), refh), 2e-3) << c.name << " n=" << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, PackedLayouts, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// A wrong decomposition is caught: flipping one stored sign bit changes the emulated product by
// exactly that weight's contribution (the test above can fail).
TEST(PackedKernels, EmulationSeesEveryBit) {
  const Case c{"rc", pack::Formula::Rc, kCgb, 16, 32, 32, at::kHalf, at::kHalf, false};
  Layer L = random_layer(c, 13);
  auto m = resident(L.packed, c.round_to, at::kCPU);
  const at::Tensor x = at::randn({1, c.d});
  const at::Tensor y0 = m->linear_emulated(x, at::Tensor(), at::kFloat);
  L.packed.tensors["sign"] = L.packed.tensors["sign"].clone();
  L.packed.tensors["sign"][3][1] = L.packed.tensors["sign"][3][1].item<uint8_t>() ^ 4;  // row 3, column 10
  auto m2 = resident(L.packed, c.round_to, at::kCPU);
  const at::Tensor d = m2->linear_emulated(x, at::Tensor(), at::kFloat) - y0;
  const at::Tensor w_old = L.exact[3][10], w_new = m2->dense(at::kFloat)[3][10];
  EXPECT_NEAR(d[0][3].item<float>(), ((w_new.to(at::kFloat) - w_old) * x[0][10]).item<float>(), 2e-4);
  EXPECT_LT(d.abs().sum().item<float>() - d[0][3].abs().item<float>(), 1e-4);  // no other row moved
}

TEST(PackedKernels, PbLlmEqualsDequantize) {
  at::manual_seed(21);
  const int64_t m = 19, d = 77;
  pack::PbCode c;
  c.high = at::rand({m, d}) < 0.12;
  c.sign = (at::rand({m, d}) > 0.5).to(at::kChar) * 2 - 1;
  c.sign.masked_fill_(at::rand({m, d}) < 0.03, 0);
  c.sign.masked_fill_(c.high, 0);
  c.codes = at::randint(0, 256, {m, d}, at::kByte);
  c.alpha = at::rand({m}) * 0.1 + 0.01;
  c.mu = at::randn({m}) * 0.01;
  c.scale = at::rand({m}) * 0.01;
  c.zero = at::randint(0, 256, {m}).to(at::kFloat);
  pack::round_scales(c);
  pack::PackedLinear p = pack::pack_pb(c);
  p.spec = {{"layout", "pb-llm"}, {"high_bit", 8}};
  ASSERT_TRUE(p.tensors.count("sign_zero"));
  auto r = resident(p, at::kHalf, at::kCPU);
  ASSERT_TRUE(r);
  const at::Tensor want = rounded(pack::dequantize_pb(c), at::kHalf);
  EXPECT_TRUE(same_bits(r->dense(at::kFloat), want));
  for (int64_t n : {1, 4, 12}) {
    const at::Tensor x = at::randn({n, d});
    EXPECT_LT(rel_err(r->linear(x, at::Tensor()), at::linear(x, want)), 1e-6) << n;
  }
}

// A layout the kernels do not run (scales stored as F64) is refused with the reason, so that the
// caller falls back to dense weights.
TEST(PackedKernels, UnsupportedScaleDtypeFallsBack) {
  Layer L = random_layer({"rc", pack::Formula::Rc, kCgb, 16, 32, 32}, 14);
  L.packed.tensors["row_scale"] = L.packed.tensors["row_scale"].to(at::kDouble);
  auto get = [&](const std::string& k) { return L.packed.tensors.at(k); };
  auto has = [&](const std::string& k) { return L.packed.tensors.count(k) > 0; };
  std::string why;
  EXPECT_FALSE(pack::make_resident(L.packed.spec, 16, 32, get, has, at::kHalf, at::kCPU, "t", &why));
  EXPECT_NE(why.find("Double"), std::string::npos) << why;
}

// CUDA builds on a machine with a GPU: the kernels against the CPU reference.
TEST(PackedKernelsCuda, KernelsMatchCpuReference) {
  if (!kernels::cuda_kernels_built() || !at::hasCUDA()) GTEST_SKIP() << "no CUDA kernels or no GPU in this build/machine";
  for (const Case& c : cases()) {
    const Layer L = random_layer(c, 31);
    auto cpu = resident(L.packed, c.round_to, at::kCPU);
    auto gpu = resident(L.packed, c.round_to, at::Device(at::kCUDA, 0));
    ASSERT_TRUE(cpu && gpu);
    const at::Tensor want = cpu->dense(at::kFloat);
    EXPECT_TRUE(same_bits(gpu->dense(at::kFloat).cpu(), want)) << c.name << " dense";
    EXPECT_TRUE(same_bits(gpu->dense(at::kHalf).cpu(), cpu->dense(at::kHalf))) << c.name << " dense fp16";
    for (at::ScalarType act : {at::kHalf, at::kBFloat16})
      for (int64_t n : {1, 2, 3, 8, 9, 40}) {
        const at::Tensor x = at::randn({n, c.d}).to(act);
        const at::Tensor bias = (at::randn({c.m}) * 0.1).to(act);
        // The GEMV (decode sizes) multiplies the exact packed weights; the prefill path the weights
        // dequantize() defines (rounded to the checkpoint dtype): each against its own reference.
        const bool gemv = n <= kernels::kMaxGemvRows;
        const at::Tensor ref = at::linear(x.to(at::kDouble), (gemv ? L.exact : want).to(at::kDouble), bias.to(at::kDouble));
        const at::Tensor y = gpu->linear(x.cuda(), bias.cuda()).cpu();
        const double tol = act == at::kHalf ? 1e-3 : 8e-3;
        EXPECT_LT(rel_err(y, ref), tol) << c.name << " " << c10::toString(act) << " n=" << n;
        const double max_rel = ((y.to(at::kDouble) - ref).abs().max() / ref.abs().max()).item<double>();
        EXPECT_LT(max_rel, act == at::kHalf ? 2e-3 : 1.6e-2) << c.name << " " << c10::toString(act) << " n=" << n;
        if (gemv && act == at::kHalf) {
          const at::Tensor emu = cpu->linear_emulated(x.to(at::kFloat), bias.to(at::kFloat), at::kHalf);
          EXPECT_LT(rel_err(y, emu), 1e-3) << c.name << " vs emulation n=" << n;
        }
      }
  }
}
