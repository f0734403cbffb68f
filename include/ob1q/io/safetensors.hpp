// safetensors files: a validated, memory-mapped reader and an atomic writer.
// Format: u64 little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section; offsets are relative to the data section.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ob1q/common/file.hpp"

namespace ob1q::io {

enum class DType : uint8_t { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64 };

size_t dtype_size(DType d);
const char* dtype_name(DType d);  // safetensors spelling: "F16", "BF16", ...
std::optional<DType> parse_dtype(std::string_view s);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // byte offset inside the data section
  uint64_t nbytes = 0;
  int64_t numel() const;
};

// Opening validates the whole header before any data is touched: header length within the file,
// valid JSON object, known dtypes, non-negative shapes, offsets consistent with dtype*shape,
// tensors tiling the data section with no overlaps or holes, data section ending at EOF.
// Any violation throws ob1q::Error("<path>: <problem>").
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return map_->path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  const void* data(const TensorInfo& t) const { return data_begin_ + t.offset; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::unique_ptr<MappedFile> map_;
  const uint8_t* data_begin_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors and writes one safetensors file, or a sharded checkpoint, atomically; tensors
// in insertion order, header padded with spaces to a multiple of 8 bytes (as the reference writer
// does). A tensor is added as bytes (copied) or as a function that produces its bytes when the
// file is written, so that a whole model never needs to sit in memory at once.
class SafetensorsWriter {
 public:
  using Fill = std::function<void(void* dst)>;  // writes exactly the tensor's nbytes into dst
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data,
           size_t nbytes);
  void add_lazy(const std::string& name, DType dtype, std::vector<int64_t> shape, Fill fill);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  void write(const std::string& path) const;
  // model-0000k-of-0000N.safetensors (each at most max_shard_bytes of data, unless one tensor is
  // larger) + model.safetensors.index.json in `dir`. Returns the shard file names.
  std::vector<std::string> write_sharded(const std::string& dir, uint64_t max_shard_bytes) const;
  size_t size() const { return entries_.size(); }
  uint64_t total_bytes() const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t nbytes = 0;
    std::vector<uint8_t> bytes;  // or:
    Fill fill;
  };
  const Entry& checked_entry(const std::string& name, DType dtype, const std::vector<int64_t>& shape);
  void write_entries(const std::string& path, size_t begin, size_t end) const;
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint directory: `model.safetensors`, or `model.safetensors.index.json` + shards
// (the index's weight_map is checked against the shards: every listed tensor must exist in the
// named shard). A single .safetensors file path is accepted too.
class Checkpoint {
 public:
  static std::shared_ptr<Checkpoint> open(const std::string& dir_or_file);

  const std::string& location() const { return location_; }
  bool has(std::string_view name) const;
  std::vector<std::string> names() const;
  struct Ref {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  Ref get(std::string_view name) const;  // throws Error naming the checkpoint when missing
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::string location_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, Ref, std::less<>> map_;
};

}  // namespace ob1q::io
