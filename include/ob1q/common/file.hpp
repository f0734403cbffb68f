// Small file helpers shared by every area: whole-file reads (gzip aware), read-only mappings,
// and atomic writes (temporary file, fsync, rename) so that no half-written output survives.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace ob1q {

bool file_exists(const std::string& path);
bool dir_exists(const std::string& path);
int64_t file_bytes(const std::string& path);  // size of a file, -1 when it cannot be stat'ed
std::string path_join(const std::string& a, const std::string& b);

// Reads a whole file; transparently gunzips when the content starts with the gzip magic.
// Throws Error("<path>: ...") when missing or unreadable.
std::string read_file(const std::string& path);
// The bytes as stored (no decompression).
std::string read_file_bytes(const std::string& path);

// Read-only memory mapping of a whole file (empty files map to size 0, data nullptr).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Writes `path` atomically: `fill` writes into a temporary file next to it, which is fsynced and
// renamed over `path` only if `fill` returns normally. On any exception the temporary is removed.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& fill);
void write_file_atomic(const std::string& path, const std::string& content);

// Refuses an existing non-empty directory `out` unless `overwrite` (checked before slow work).
void check_output_dir(const std::string& out, bool overwrite);
void copy_file(const std::string& from, const std::string& to);  // atomic, fsynced
// An output directory written atomically: everything goes into <out>.partial-<pid>, which
// commit() fsyncs and renames to <out> (moving a previous <out> aside first and removing it
// after). Destroyed without commit() -- an error, an interrupt -- it removes the staging
// directory, so nothing that looks like a finished output is ever left behind.
class StagingDir {
 public:
  StagingDir(std::string out, bool overwrite);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  const std::string& path() const { return tmp_; }
  std::string file(const std::string& name) const { return path_join(tmp_, name); }
  void commit();

 private:
  std::string out_, tmp_;
  bool done_ = false;
};

}  // namespace ob1q
