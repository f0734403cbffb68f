// Small file helpers shared by every area: whole-file reads (gzip aware), read-only mappings,
// and atomic writes (temporary file, fsync, rename) so that no half-written output survives.
// Output directories (checks before work, the run lock, staging) are in output_dir.hpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "ob1q/common/paths.hpp"  // remove_tree and the path helpers

namespace ob1q {

bool file_exists(const std::string& path);
bool dir_exists(const std::string& path);
int64_t file_bytes(const std::string& path);  // size of a file, -1 when it cannot be stat'ed
std::string path_join(const std::string& a, const std::string& b);

// Reads a whole file; transparently gunzips when the content starts with the gzip magic.
// Throws Error("<path>: ...") when missing, unreadable or not a regular file (a FIFO would block).
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

void copy_file(const std::string& from, const std::string& to);  // atomic, fsynced

// The file StagingDir (output_dir.hpp) puts first into a directory it is writing and removes just
// before the directory is renamed into place: its presence means "unfinished".
constexpr const char* kUnfinishedMarker = "ob1q_unfinished";
// Refuses a model directory (or a file inside one) that an interrupted or failed run was writing:
// it holds kUnfinishedMarker or is named <out>.partial-<pid>. Every reader of a model directory
// calls it first.
void refuse_unfinished_output(const std::string& path);

}  // namespace ob1q
