// SafetensorsWriter output: readable back bit-exactly, and laid out the way other tools expect
// (checked with a hand parse, not with our reader).
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <map>
#include <set>

#include "io_test_util.hpp"
#include "ob1q/io/safetensors.hpp"
#include "test_support.hpp"

using namespace ob1q::io;
using ob1q::test::read_raw;
using ob1q::test::temp_dir;

namespace {

const DType kAll[] = {DType::BOOL, DType::U8,  DType::I8,  DType::I16, DType::U16, DType::F16, DType::BF16,
                      DType::I32,  DType::U32, DType::F32, DType::I64, DType::U64, DType::F64};

struct Added {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// One tensor per dtype with odd element counts (so later tensors start at unaligned offsets),
// plus a scalar and two empty tensors.
std::vector<Added> sample() {
  std::vector<Added> out;
  int k = 0;
  for (DType d : kAll) {
    std::vector<int64_t> shape = {3, k % 2 ? 1 : 3};
    size_t n = size_t(shape[0] * shape[1]) * dtype_size(d);
    std::vector<uint8_t> b(n);
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i * 37 + k * 11 + 1);
    if (d == DType::BOOL)
      for (auto& x : b) x &= 1;
    out.push_back({std::string("t.") + dtype_name(d), d, shape, b});
    ++k;
  }
  float pi = 3.14159f;
  std::vector<uint8_t> pb(4);
  std::memcpy(pb.data(), &pi, 4);
  out.push_back({"scalar", DType::F32, {}, pb});
  out.push_back({"empty", DType::F32, {0}, {}});
  out.push_back({"empty3d", DType::BF16, {3, 0, 2}, {}});
  out.push_back({"after_empty", DType::I16, {1}, {0x34, 0x12}});
  return out;
}

std::string write_sample(const std::string& path, const std::vector<Added>& tensors) {
  SafetensorsWriter w;
  for (const Added& a : tensors) w.add(a.name, a.dtype, a.shape, a.bytes.data(), a.bytes.size());
  EXPECT_EQ(w.size(), tensors.size());
  w.set_metadata("format", "pt");
  w.set_metadata("note", "quotes \" and unicode \xc3\xa9");
  w.write(path);
  return path;
}

}  // namespace

TEST(DType, NamesSizesAndParsing) {
  const std::map<std::string, size_t> want = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"I16", 2}, {"U16", 2},
                                              {"F16", 2},  {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},
                                              {"I64", 8},  {"U64", 8},  {"F64", 8}};
  std::set<std::string> seen;
  for (DType d : kAll) {
    std::string n = dtype_name(d);
    ASSERT_TRUE(want.count(n)) << n;
    EXPECT_EQ(dtype_size(d), want.at(n)) << n;
    EXPECT_EQ(parse_dtype(n), d) << n;
    seen.insert(n);
  }
  EXPECT_EQ(seen.size(), want.size());
  EXPECT_FALSE(parse_dtype("f16"));  // case-sensitive, as the format is
  EXPECT_FALSE(parse_dtype("F8_E4M3"));
  EXPECT_FALSE(parse_dtype(""));
  EXPECT_FALSE(parse_dtype("F32 "));
}

TEST(TensorInfo, Numel) {
  TensorInfo t;
  EXPECT_EQ(t.numel(), 1);  // a scalar
  t.shape = {2, 3, 4};
  EXPECT_EQ(t.numel(), 24);
  t.shape = {5, 0};
  EXPECT_EQ(t.numel(), 0);
}

TEST(SafetensorsWriter, RoundTripBytesEqual) {
  auto tensors = sample();
  std::string path = write_sample(temp_dir("st-rt") + "/out.safetensors", tensors);
  auto f = SafetensorsFile::open(path);
  ASSERT_EQ(f->tensors().size(), tensors.size());
  for (const Added& a : tensors) {
    const TensorInfo* t = f->find(a.name);
    ASSERT_NE(t, nullptr) << a.name;
    EXPECT_EQ(t->dtype, a.dtype) << a.name;
    EXPECT_EQ(t->shape, a.shape) << a.name;
    ASSERT_EQ(t->nbytes, a.bytes.size()) << a.name;
    if (!a.bytes.empty()) EXPECT_EQ(std::memcmp(f->data(*t), a.bytes.data(), a.bytes.size()), 0) << a.name;
  }
  EXPECT_EQ(f->find("scalar")->numel(), 1);
  EXPECT_EQ(f->find("empty")->numel(), 0);
  EXPECT_EQ(f->find("empty3d")->numel(), 0);
  float pi;
  std::memcpy(&pi, f->data(*f->find("scalar")), 4);
  EXPECT_EQ(pi, 3.14159f);
  EXPECT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("note"), "quotes \" and unicode \xc3\xa9");
}

TEST(SafetensorsWriter, LayoutMatchesReferenceConventions) {
  auto tensors = sample();
  std::string path = write_sample(temp_dir("st-layout") + "/out.safetensors", tensors);
  auto raw = read_raw(path);
  EXPECT_EQ(raw.header_len % 8, 0u);
  // Padding is trailing spaces only; the JSON itself ends with '}'.
  size_t last = raw.header_text.find_last_not_of(' ');
  EXPECT_EQ(raw.header_text[last], '}');
  EXPECT_LT(raw.header_text.size() - last - 1, 8u);
  // Metadata first, then the tensors in insertion order with contiguous offsets covering the data.
  auto it = raw.header.begin();
  ASSERT_EQ(it.key(), "__metadata__");
  EXPECT_EQ(it.value()["format"], "pt");
  ++it;
  uint64_t cursor = 0;
  for (const Added& a : tensors) {
    ASSERT_NE(it, raw.header.end());
    EXPECT_EQ(it.key(), a.name);
    EXPECT_EQ(it.value()["dtype"], dtype_name(a.dtype));
    EXPECT_EQ(it.value()["shape"].get<std::vector<int64_t>>(), a.shape);
    EXPECT_EQ(it.value()["data_offsets"][0].get<uint64_t>(), cursor) << a.name;
    cursor += a.bytes.size();
    EXPECT_EQ(it.value()["data_offsets"][1].get<uint64_t>(), cursor) << a.name;
    EXPECT_EQ(raw.bytes_of(a.name), std::string(a.bytes.begin(), a.bytes.end())) << a.name;
    ++it;
  }
  EXPECT_EQ(it, raw.header.end());
  EXPECT_EQ(raw.data.size(), cursor);
  // The scalar's shape is an empty JSON array, not null.
  EXPECT_TRUE(raw.header["scalar"]["shape"].is_array());
}

TEST(SafetensorsWriter, NoMetadataAndNoTensors) {
  std::string dir = temp_dir("st-empty");
  SafetensorsWriter w;
  w.write(dir + "/empty.safetensors");
  auto raw = read_raw(dir + "/empty.safetensors");
  EXPECT_EQ(raw.header_len, 8u);  // "{}" padded
  EXPECT_FALSE(raw.header.contains("__metadata__"));
  auto f = SafetensorsFile::open(dir + "/empty.safetensors");
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_TRUE(f->metadata().empty());
}

TEST(SafetensorsWriter, OverwritesAtomically) {
  std::string path = temp_dir("st-over") + "/x.safetensors";
  SafetensorsWriter a, b;
  int32_t one = 1, two[2] = {2, 3};
  a.add("a", DType::I32, {1}, &one, 4);
  b.add("b", DType::I32, {2}, two, 8);
  a.write(path);
  b.write(path);
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->find("a"), nullptr);
  ASSERT_NE(f->find("b"), nullptr);
  EXPECT_EQ(f->find("b")->nbytes, 8u);
}

TEST(SafetensorsWriter, RejectsBadTensors) {
  SafetensorsWriter w;
  float x[4] = {};
  EXPECT_THROW(w.add("a", DType::F32, {2, 2}, x, 12), ob1q::Error);  // size mismatch
  EXPECT_THROW(w.add("a", DType::F32, {-1}, x, 4), ob1q::Error);
  EXPECT_THROW(w.add("", DType::F32, {1}, x, 4), ob1q::Error);
  EXPECT_THROW(w.add("__metadata__", DType::F32, {1}, x, 4), ob1q::Error);
  EXPECT_THROW(w.add("big", DType::F64, {int64_t(1) << 62, 8}, x, 0), ob1q::Error);  // overflow
  w.add("a", DType::F32, {2, 2}, x, 16);
  EXPECT_THROW(w.add("a", DType::F32, {2, 2}, x, 16), ob1q::Error);  // duplicate
  EXPECT_EQ(w.size(), 1u);
  std::string missing_dir = temp_dir("st-bad") + "/no/such/dir/x.safetensors";
  EXPECT_TRUE(ob1q::test::throws_error([&] { w.write(missing_dir); }, missing_dir, "cannot create"));
}
