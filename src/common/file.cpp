#include "ob1q/common/file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ob1q/common/error.hpp"

namespace ob1q {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

int64_t file_bytes(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

bool dir_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string path_join(const std::string& a, const std::string& b) {
  if (a.empty() || (!b.empty() && b[0] == '/')) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

namespace {

std::string gunzip(const std::string& path, const std::string& raw) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail(path, "cannot initialise gzip decoder");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  std::string out;
  char buf[1 << 16];
  int rc = Z_OK;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members are valid gzip: keep going.
      if (zs.avail_in == 0) break;
      inflateReset(&zs);
    }
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) fail(path, "corrupt or truncated gzip data");
  return out;
}

}  // namespace

std::string read_file_bytes(const std::string& path) {
  if (dir_exists(path)) fail(path, "is a directory, expected a file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  std::string raw;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) raw.append(buf, n);
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) fail(path, "read error");
  return raw;
}

std::string read_file(const std::string& path) {
  std::string raw = read_file_bytes(path);
  if (raw.size() >= 2 && static_cast<unsigned char>(raw[0]) == 0x1f &&
      static_cast<unsigned char>(raw[1]) == 0x8b)
    return gunzip(path, raw);
  return raw;
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      fail(path, std::string("mmap failed: ") + std::strerror(errno));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& fill) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(path, std::string("cannot create: ") + std::strerror(errno));
  try {
    fill(f);
    if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) fail(path, std::string("write failed: ") + std::strerror(errno));
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  if (std::fclose(f) != 0) {
    std::remove(tmp.c_str());
    fail(path, "close failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail(path, std::string("rename failed: ") + std::strerror(errno));
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  write_file_atomic(path, [&](std::FILE* f) {
    if (!content.empty() && std::fwrite(content.data(), 1, content.size(), f) != content.size())
      fail(path, "short write");
  });
}

namespace {

bool dir_nonempty(const std::string& d) {
  DIR* dir = opendir(d.c_str());
  if (!dir) return false;
  bool any = false;
  while (dirent* e = readdir(dir))
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") any = true;
  closedir(dir);
  return any;
}

void remove_tree(const std::string& d) {
  std::string cmd = "rm -rf '" + d + "'";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "warning: could not remove %s\n", d.c_str());
}

void fsync_dir(const std::string& d) {
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string parent_of(const std::string& p) {
  auto k = p.find_last_of('/');
  return k == std::string::npos ? "." : (k == 0 ? "/" : p.substr(0, k));
}

}  // namespace

void check_output_dir(const std::string& out, bool overwrite) {
  if (out.empty()) fail("--out", "an output directory is required");
  if (file_exists(out)) fail(out, "exists and is a file");
  if (dir_nonempty(out) && !overwrite) fail(out, "exists and is not empty (pass --overwrite to replace it)");
}

void copy_file(const std::string& from, const std::string& to) { write_file_atomic(to, read_file_bytes(from)); }

StagingDir::StagingDir(std::string out, bool overwrite) : out_(std::move(out)) {
  check_output_dir(out_, overwrite);
  tmp_ = out_ + ".partial-" + std::to_string(::getpid());
  remove_tree(tmp_);
  if (::mkdir(tmp_.c_str(), 0755) != 0) fail(tmp_, std::string("cannot create the output directory: ") + std::strerror(errno));
}

StagingDir::~StagingDir() {
  if (!done_) remove_tree(tmp_);
}

void StagingDir::commit() {
  fsync_dir(tmp_);
  std::string old;
  if (dir_exists(out_)) {
    old = out_ + ".old-" + std::to_string(::getpid());
    if (std::rename(out_.c_str(), old.c_str()) != 0) fail(out_, "cannot move the previous directory aside");
  }
  if (std::rename(tmp_.c_str(), out_.c_str()) != 0) fail(out_, "cannot rename the finished output into place");
  done_ = true;
  fsync_dir(parent_of(out_));
  if (!old.empty()) remove_tree(old);
}

}  // namespace ob1q
