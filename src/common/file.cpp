#include "ob1q/common/file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ob1q/common/error.hpp"
#include "ob1q/common/paths.hpp"

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

// Opens `path` for reading, refusing anything but a regular file. O_NONBLOCK because opening a
// FIFO for reading waits for a writer, possibly forever; it has no effect on regular files.
int open_regular_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    if (S_ISDIR(st.st_mode)) fail(path, "is a directory, not a regular file");
    fail(path, "is not a regular file (a FIFO, socket or device); give a file");
  }
  return fd;
}

}  // namespace

std::string read_file_bytes(const std::string& path) {
  int fd = open_regular_file(path);
  std::string raw;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail(path, std::string("read error: ") + std::strerror(err));
    }
    if (n == 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
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
  int fd = open_regular_file(path);
  struct stat st {};
  ::fstat(fd, &st);
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

void copy_file(const std::string& from, const std::string& to) { write_file_atomic(to, read_file_bytes(from)); }

namespace {

// "<name>.partial-<digits>": the staging directory of a run (output_dir.cpp names it so).
bool is_staging_name(const std::string& name) {
  const std::string tag = ".partial-";
  const size_t k = name.rfind(tag);
  if (k == std::string::npos || k == 0 || k + tag.size() == name.size()) return false;
  return name.find_first_not_of("0123456789", k + tag.size()) == std::string::npos;
}

}  // namespace

void refuse_unfinished_output(const std::string& path) {
  std::string dir = dir_exists(path) ? path : parent_path(path);
  if (dir.empty()) dir = ".";
  if (stat_kind(path_join(dir, kUnfinishedMarker)) != PathKind::missing ||
      is_staging_name(file_name(without_trailing_slashes(dir))))
    fail(dir, "is an unfinished ob1q output (the run that wrote it was interrupted or failed); delete it");
}

}  // namespace ob1q
