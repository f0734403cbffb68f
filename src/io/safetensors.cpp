#include "ob1q/io/safetensors.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/interrupt.hpp"

namespace ob1q::io {

using nlohmann::json;

namespace {

struct DTypeDesc {
  DType dtype;
  const char* name;
  size_t size;
};

// Indexed by the enum's value; dtype_size/dtype_name rely on that order.
constexpr DTypeDesc kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},     {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},   {DType::U16, "U16", 2},   {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4},   {DType::U32, "U32", 4},
    {DType::F32, "F32", 4},   {DType::I64, "I64", 8},   {DType::U64, "U64", 8},
    {DType::F64, "F64", 8},
};
constexpr size_t kNumDTypes = sizeof(kDTypes) / sizeof(kDTypes[0]);

const DTypeDesc& desc(DType d) {
  auto i = static_cast<size_t>(d);
  if (i >= kNumDTypes || kDTypes[i].dtype != d) fail("safetensors", "invalid DType value " + std::to_string(i));
  return kDTypes[i];
}

// The reference implementation refuses headers above 100 MB; a 7B model's header is ~30 KB, so
// anything near this is corrupt and not worth parsing.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

// Parses a JSON object, rejecting what nlohmann would silently accept: duplicate keys (the last
// one would win, hiding e.g. a duplicate tensor name) and nesting deeper than `max_depth`
// containers (headers and indexes are shallow; this also bounds recursion on hostile input).
json parse_strict(const std::string& where, const char* begin, const char* end, size_t max_depth) {
  std::vector<std::set<std::string>> keys;  // one key set per open object
  std::string dup;
  auto cb = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
    switch (ev) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (static_cast<size_t>(depth) >= max_depth) throw Error(where + ": JSON nested too deeply");
        if (ev == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.back().insert(parsed.get<std::string>()).second && dup.empty())
          dup = parsed.get<std::string>();
        break;
      default:
        break;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(begin, end, cb);
  } catch (const json::exception& e) {
    fail(where, std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object()) fail(where, std::string("JSON is not an object but ") + j.type_name());
  if (!dup.empty()) fail(where, "duplicate key '" + dup + "' in JSON");
  return j;
}

// Reads a JSON integer that must be >= 0 (JSON floats like 2.0 or 1e3 are rejected, as in the
// reference implementation).
uint64_t as_count(const std::string& where, const json& v, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) fail(where, what + " is negative (" + v.dump() + ")");
  fail(where, what + " is not a non-negative integer (" + v.dump() + ")");
}

}  // namespace

size_t dtype_size(DType d) { return desc(d).size; }
const char* dtype_name(DType d) { return desc(d).name; }

std::optional<DType> parse_dtype(std::string_view s) {
  for (const auto& d : kDTypes)
    if (s == d.name) return d.dtype;
  return std::nullopt;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Reader

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->map_ = std::make_unique<MappedFile>(path);  // throws Error("<path>: cannot open ...")
  const uint8_t* base = f->map_->data();
  const uint64_t size = f->map_->size();

  if (size < 8) fail(path, "file too short for a safetensors header (" + std::to_string(size) + " bytes)");
  uint64_t header_len = 0;  // little-endian, assembled byte by byte to be host-independent
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  // Compare against the remaining size rather than computing 8 + header_len (which can wrap).
  if (header_len > size - 8)
    fail(path, "header length " + std::to_string(header_len) + " exceeds the file size " + std::to_string(size) +
                   " (truncated or not a safetensors file)");
  if (header_len > kMaxHeaderBytes) fail(path, "header length " + std::to_string(header_len) + " is too large");

  const char* hbegin = reinterpret_cast<const char*>(base + 8);
  // Depth: top object > tensor entry > shape array.
  json header = parse_strict(path, hbegin, hbegin + header_len, 3);
  const uint64_t data_size = size - 8 - header_len;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (v.is_null()) continue;
      if (!v.is_object()) fail(path, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail(path, "__metadata__ value for '" + m.key() + "' is not a string (" + m.value().dump() + ")");
        f->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!v.is_object()) fail(path, where + ": entry is not an object");
    auto dt = v.find("dtype"), sh = v.find("shape"), off = v.find("data_offsets");
    if (dt == v.end() || sh == v.end() || off == v.end())
      fail(path, where + ": entry needs dtype, shape and data_offsets");

    TensorInfo t;
    t.name = name;
    if (!dt->is_string()) fail(path, where + ": dtype is not a string");
    auto parsed = parse_dtype(dt->get<std::string>());
    if (!parsed) fail(path, where + ": unknown dtype '" + dt->get<std::string>() + "'");
    t.dtype = *parsed;

    if (!sh->is_array()) fail(path, where + ": shape is not an array");
    // numel is kept within int64 so that TensorInfo::numel() cannot overflow later.
    uint64_t numel = 1;
    bool overflow = false;
    for (const json& d : *sh) {
      uint64_t n = as_count(path, d, where + ": shape entry");
      if (n > uint64_t(std::numeric_limits<int64_t>::max())) fail(path, where + ": shape entry too large");
      t.shape.push_back(static_cast<int64_t>(n));
      overflow = overflow || __builtin_mul_overflow(numel, n, &numel);
    }
    uint64_t expect = 0;
    if (overflow || numel > uint64_t(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(numel, dtype_size(t.dtype), &expect))
      fail(path, where + ": shape overflows (too many elements)");

    if (!off->is_array() || off->size() != 2) fail(path, where + ": data_offsets is not [begin, end]");
    uint64_t b = as_count(path, (*off)[0], where + ": data_offsets begin");
    uint64_t e = as_count(path, (*off)[1], where + ": data_offsets end");
    if (b > e) fail(path, where + ": data_offsets begin " + std::to_string(b) + " > end " + std::to_string(e));
    if (e - b != expect)
      fail(path, where + ": data_offsets span " + std::to_string(e - b) + " bytes but dtype and shape need " +
                     std::to_string(expect));
    t.offset = b;
    t.nbytes = e - b;
    f->tensors_.push_back(std::move(t));
  }

  // The tensors must tile [0, data_size) exactly, like the reference checks: sorted by offsets,
  // each starts where the previous ended, and the last ends at EOF (no trailing bytes).
  std::sort(f->tensors_.begin(), f->tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.offset, a.nbytes, a.name) < std::tie(b.offset, b.nbytes, b.name);
  });
  uint64_t cursor = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo& t : f->tensors_) {
    if (t.offset < cursor)
      fail(path, "tensors '" + prev->name + "' and '" + t.name + "' overlap at data offset " + std::to_string(t.offset));
    if (t.offset > cursor)
      fail(path, "hole in data section: bytes [" + std::to_string(cursor) + ", " + std::to_string(t.offset) +
                     ") before tensor '" + t.name + "' belong to no tensor");
    cursor = t.offset + t.nbytes;
    prev = &t;
  }
  if (cursor != data_size)
    fail(path, "data section is " + std::to_string(data_size) + " bytes but the tensors cover " +
                   std::to_string(cursor) + (cursor < data_size ? " (trailing bytes)" : " (file truncated)"));

  f->data_begin_ = base + 8 + header_len;
  for (size_t i = 0; i < f->tensors_.size(); ++i) f->index_.emplace(f->tensors_[i].name, i);
  return f;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

// ---------------------------------------------------------------------------------------------
// Writer

const SafetensorsWriter::Entry& SafetensorsWriter::checked_entry(const std::string& name, DType dtype,
                                                                 const std::vector<int64_t>& shape) {
  const std::string where = "safetensors writer: tensor '" + name + "'";
  if (name.empty() || name == "__metadata__") fail(where, "invalid tensor name");
  for (const Entry& e : entries_)
    if (e.name == name) fail(where, "added twice");
  uint64_t expect = dtype_size(dtype);
  for (int64_t d : shape) {
    if (d < 0) fail(where, "negative shape entry " + std::to_string(d));
    if (__builtin_mul_overflow(expect, static_cast<uint64_t>(d), &expect)) fail(where, "shape overflows");
  }
  Entry e;
  e.name = name;
  e.dtype = dtype;
  e.shape = shape;
  e.nbytes = expect;
  entries_.push_back(std::move(e));
  return entries_.back();
}

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data,
                            size_t nbytes) {
  const Entry& e = checked_entry(name, dtype, shape);
  if (e.nbytes != nbytes) {
    const std::string msg = std::to_string(nbytes) + " bytes given but dtype and shape need " + std::to_string(e.nbytes);
    entries_.pop_back();
    fail("safetensors writer: tensor '" + name + "'", msg);
  }
  if (nbytes) {
    const auto* p = static_cast<const uint8_t*>(data);
    entries_.back().bytes.assign(p, p + nbytes);
  }
}

void SafetensorsWriter::add_lazy(const std::string& name, DType dtype, std::vector<int64_t> shape, Fill fill) {
  checked_entry(name, dtype, shape);
  entries_.back().fill = std::move(fill);
}

uint64_t SafetensorsWriter::total_bytes() const {
  uint64_t n = 0;
  for (const Entry& e : entries_) n += e.nbytes;
  return n;
}

void SafetensorsWriter::write(const std::string& path) const { write_entries(path, 0, entries_.size()); }

void SafetensorsWriter::write_entries(const std::string& path, size_t begin, size_t end) const {
  // ordered_json keeps __metadata__ first and tensors in insertion order, which is also their
  // order in the data section.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (size_t i = begin; i < end; ++i) {
    const Entry& e = entries_[i];
    header[e.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.nbytes}}};
    offset += e.nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // e.g. a name that is not valid UTF-8
    fail(path, std::string("cannot encode header: ") + e.what());
  }
  // Pad with spaces (valid JSON whitespace) so the data section starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');

  write_file_atomic(path, [&](std::FILE* f) {
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(uint64_t(text.size()) >> (8 * i));
    bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    std::vector<uint8_t> buf;
    for (size_t i = begin; i < end && ok; ++i) {
      const Entry& e = entries_[i];
      check_interrupt();  // per tensor: a signal ends the write here, removing the temporary file
      if (e.nbytes == 0) continue;
      const std::vector<uint8_t>* src = &e.bytes;
      if (e.fill) {
        buf.assign(e.nbytes, 0);
        e.fill(buf.data());
        src = &buf;
      }
      ok = std::fwrite(src->data(), 1, src->size(), f) == src->size();
    }
    if (!ok) fail(path, std::string("write failed: ") + std::strerror(errno));
  });
}

std::vector<std::string> SafetensorsWriter::write_sharded(const std::string& dir, uint64_t max_shard_bytes) const {
  std::vector<std::pair<size_t, size_t>> ranges;
  uint64_t bytes = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (ranges.empty() || (bytes > 0 && bytes + entries_[i].nbytes > max_shard_bytes)) {
      ranges.push_back({i, i});
      bytes = 0;
    }
    ranges.back().second = i + 1;
    bytes += entries_[i].nbytes;
  }
  if (ranges.empty()) ranges.push_back({0, 0});
  char name[64];
  std::vector<std::string> files;
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t k = 0; k < ranges.size(); ++k) {
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", k + 1, ranges.size());
    write_entries(path_join(dir, name), ranges[k].first, ranges[k].second);
    for (size_t i = ranges[k].first; i < ranges[k].second; ++i) weight_map[entries_[i].name] = name;
    files.push_back(name);
  }
  nlohmann::ordered_json index = {{"metadata", {{"total_size", total_bytes()}}}, {"weight_map", weight_map}};
  write_file_atomic(path_join(dir, "model.safetensors.index.json"), index.dump(2) + "\n");
  return files;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

namespace {

// Shard names come from a downloaded file: keep them inside the checkpoint directory.
bool safe_shard_name(const std::string& s) {
  if (s.empty() || s[0] == '/') return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    if (end == std::string::npos) end = s.size();
    if (s.compare(start, end - start, "..") == 0 && end - start == 2) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

std::shared_ptr<Checkpoint> Checkpoint::open(const std::string& dir_or_file) {
  auto ck = std::make_shared<Checkpoint>();
  ck->location_ = dir_or_file;

  // Which shard holds each tensor according to the index (empty for a single file).
  std::map<std::string, std::string> listed;
  std::string index_path;
  if (file_exists(dir_or_file)) {
    ck->files_.push_back(SafetensorsFile::open(dir_or_file));
  } else if (!dir_exists(dir_or_file)) {
    fail(dir_or_file, "no such file or directory");
  } else if (std::string single = path_join(dir_or_file, "model.safetensors"); file_exists(single)) {
    // Same preference as transformers: a single file wins over an index.
    ck->files_.push_back(SafetensorsFile::open(single));
  } else if (index_path = path_join(dir_or_file, "model.safetensors.index.json"); file_exists(index_path)) {
    std::string text = read_file(index_path);
    // Depth: top object > weight_map / metadata > (metadata may nest a little).
    json index = parse_strict(index_path, text.data(), text.data() + text.size(), 4);
    auto wm = index.find("weight_map");
    if (wm == index.end() || !wm->is_object()) fail(index_path, "missing \"weight_map\" object");
    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;  // by shard name
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) fail(index_path, "weight_map entry for '" + it.key() + "' is not a string");
      std::string shard = it.value().get<std::string>();
      if (!safe_shard_name(shard)) fail(index_path, "invalid shard file name '" + shard + "'");
      listed[it.key()] = shard;
      if (shards.count(shard)) continue;
      std::string p = path_join(dir_or_file, shard);
      if (!file_exists(p)) fail(index_path, "shard file '" + shard + "' (listed for '" + it.key() + "') is missing: " + p);
      shards[shard] = SafetensorsFile::open(p);
    }
    if (shards.empty()) fail(index_path, "weight_map is empty");
    for (auto& [name, file] : shards) ck->files_.push_back(file);
  } else {
    fail(dir_or_file, "no model.safetensors or model.safetensors.index.json");
  }

  for (const auto& file : ck->files_)
    for (const TensorInfo& t : file->tensors()) {
      auto [it, fresh] = ck->map_.emplace(t.name, Ref{file.get(), &t});
      if (!fresh)
        fail(dir_or_file, "tensor '" + t.name + "' is in two shards: " + it->second.file->path() + " and " + file->path());
    }
  for (const auto& [name, shard] : listed) {
    auto it = ck->map_.find(name);
    std::string shard_path = path_join(dir_or_file, shard);
    if (it == ck->map_.end() || it->second.file->path() != shard_path)
      fail(index_path, "tensor '" + name + "' is listed in shard '" + shard + "' but is not in that file");
  }
  return ck;
}

bool Checkpoint::has(std::string_view name) const { return map_.find(name) != map_.end(); }

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(map_.size());
  for (const auto& kv : map_) out.push_back(kv.first);
  return out;
}

Checkpoint::Ref Checkpoint::get(std::string_view name) const {
  auto it = map_.find(name);
  if (it == map_.end()) fail(location_, "no tensor named '" + std::string(name) + "' in this checkpoint");
  return it->second;
}

}  // namespace ob1q::io
