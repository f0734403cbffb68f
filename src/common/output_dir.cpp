#include "ob1q/common/output_dir.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <map>
#include <mutex>
#include <vector>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/log.hpp"
#include "ob1q/common/paths.hpp"

namespace ob1q {

namespace {

// ---- checks --------------------------------------------------------------------------------
// Paths are compared as resolved_path() (paths.hpp) gives them: two spellings of one directory
// give the same string. Staging and lock names are formed by appending to without_trailing_slashes().

// The directory that will hold `path` (and its staging directory and lock file): it must exist
// and let us create entries.
void check_parent_writable(const std::string& path) {
  const std::string parent = parent_path(absolute_path(without_trailing_slashes(path)));
  const PathKind kind = stat_kind(parent);
  if (kind == PathKind::missing) fail(path, "its parent directory " + parent + " does not exist");
  if (kind != PathKind::directory) fail(path, "its parent " + parent + " is not a directory");
  if (::access(parent.c_str(), W_OK | X_OK) != 0)
    fail(path, "cannot create it in " + parent + ": " + std::strerror(errno));
}

void check_not_input(const std::string& out, const std::vector<NamedPath>& inputs) {
  const std::string o = resolved_path(out);
  for (const auto& in : inputs) {
    if (in.path.empty()) continue;
    const std::string i = resolved_path(in.path);
    const std::string what = in.role + " " + in.path;
    if (o == i) fail(out, "is " + what + ": refusing to write over an input");
    if (strictly_inside(i, o)) fail(out, "contains " + what + ": refusing to replace a directory holding an input");
    if (strictly_inside(o, i)) fail(out, "is inside " + what + ": write the output elsewhere");
  }
}

void check_existing(const std::string& out, bool overwrite) {
  const PathKind kind = stat_kind(out);
  if (kind == PathKind::regular) fail(out, "exists and is a file");
  if (kind != PathKind::missing && kind != PathKind::directory) fail(out, "exists and is not a directory");
  if (kind == PathKind::directory && !is_empty_directory(out) && !overwrite)
    fail(out, "exists and is not empty (pass --overwrite to replace it)");
}

// ---- staging -------------------------------------------------------------------------------

void fsync_dir(const std::string& d) {
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_marker(const std::string& dir) {
  write_file_atomic(path_join(dir, kUnfinishedMarker),
                    "This directory is an unfinished ob1q output: the run writing it was interrupted or failed, "
                    "or it is a previous output being removed. Delete it.\n");
}

void make_staging(const std::string& out, const std::string& dir) {
  remove_tree(dir);  // one of this process's own, from an earlier claim
  if (::mkdir(dir.c_str(), 0755) != 0)
    fail(out, "cannot create the staging directory " + dir + ": " + std::strerror(errno));
  write_marker(dir);
}

// Swaps two paths atomically (Linux renameat2); false where the system or file system cannot.
bool exchange(const std::string& a, const std::string& b) {
#ifdef RENAME_EXCHANGE
  return ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0;
#else
  return false;
#endif
}

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

// <name>.partial-<pid> and <name>.old-<pid> next to `out` whose process is gone: a run that was
// killed before it could clean up. (One whose pid is alive is left alone: it may be running.)
void remove_stale_staging(const std::string& out) {
  const std::string abs = absolute_path(out);
  const std::string name = file_name(abs), dir = parent_path(abs);
  for (const auto& n : list_directory(dir)) {
    for (const std::string tag : {".partial-", ".old-"}) {
      const std::string prefix = name + tag;
      if (n.size() <= prefix.size() || n.size() > prefix.size() + 9 || n.compare(0, prefix.size(), prefix) != 0 ||
          n.find_first_not_of("0123456789", prefix.size()) != std::string::npos)
        continue;
      const long pid = std::stol(n.substr(prefix.size()));
      if (pid == ::getpid() || process_alive(pid)) continue;
      const std::string e = path_join(dir, n);
      OB1Q_INFO("removing %s, left by an interrupted run (pid %ld)", e.c_str(), pid);
      remove_tree(e);
    }
  }
}

// ---- the lock ------------------------------------------------------------------------------

std::string holder_of(int fd) {
  char buf[32] = {0};
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  std::string s(buf, n > 0 ? size_t(n) : 0);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos ? s : "";
}

int take_lock(const std::string& out, const std::string& file) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    // O_NOFOLLOW: a symbolic link planted under the lock's name must not make us truncate its target.
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) fail(out, "cannot create the lock file " + file + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string pid = holder_of(fd);
      ::close(fd);
      if (err == EWOULDBLOCK)
        fail(out, "is being written by another ob1q run (" + (pid.empty() ? std::string("pid unknown") : "pid " + pid) +
                      ", lock file " + file + "); wait for it or choose another --out");
      fail(out, "cannot lock " + file + ": " + std::strerror(err));
    }
    // A finishing holder unlinks the file: if it did so between our open() and flock(), we hold
    // a lock on a file nobody else will ever open. Lock the file now under that name instead.
    struct stat locked {}, named {};
    if (::fstat(fd, &locked) == 0 && ::stat(file.c_str(), &named) == 0 && locked.st_dev == named.st_dev &&
        locked.st_ino == named.st_ino) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
        OB1Q_WARN("could not record this run's pid in %s", file.c_str());
      return fd;
    }
    ::close(fd);
  }
  fail(out, "cannot lock " + file + ": it keeps being replaced");
}

// The claims this process holds, by resolved output path.
struct Held {
  int fd = -1;
  std::string lock_file, staging;
  int count = 0;
};
std::mutex g_held_mutex;
std::map<std::string, Held>& held() {
  static std::map<std::string, Held> m;
  return m;
}

void release(const Held& h) {
  if (lstat_kind(h.staging) == PathKind::directory) remove_tree(h.staging);
  ::unlink(h.lock_file.c_str());  // before close(): see take_lock()
  ::close(h.fd);
}

}  // namespace

void check_output_file(const std::string& path, const std::string& role, const std::vector<NamedPath>& inputs,
                       const std::string& out_dir) {
  if (path.empty()) fail(role, "needs a file name");
  if (dir_exists(path)) fail(path, "is a directory (" + role + " names a file)");
  const std::string p = resolved_path(path);
  for (const auto& in : inputs) {
    if (in.path.empty()) continue;
    const std::string i = resolved_path(in.path);
    if (p == i) fail(path, "is " + in.role + " " + in.path + ": refusing to write over an input");
    if (strictly_inside(p, i) && stat_kind(p) != PathKind::missing)
      fail(path, "is a file of " + in.role + " " + in.path + ": refusing to write over an input");
  }
  if (!out_dir.empty() && (p == resolved_path(out_dir) || strictly_inside(p, resolved_path(out_dir))))
    fail(path, "is inside --out " + out_dir + ", which the run replaces: write it elsewhere");
  check_parent_writable(path);
}

OutputClaim::OutputClaim(const std::string& out_in, bool overwrite, const std::vector<NamedPath>& inputs) {
  if (out_in.empty()) fail("--out", "an output directory is required");
  const std::string out = without_trailing_slashes(out_in);
  const std::string last = file_name(out);
  if (last.empty() || last == "." || last == "..")
    fail(out_in, "name the output directory itself (not /, . or ..)");
  check_not_input(out_in, inputs);
  key_ = resolved_path(out);
  std::lock_guard<std::mutex> guard(g_held_mutex);
  if (auto it = held().find(key_); it != held().end()) {
    ++it->second.count;
    staging_ = it->second.staging;
    return;
  }
  check_parent_writable(out_in);
  Held h;
  h.lock_file = key_ + ".ob1q-lock";
  h.staging = out + ".partial-" + std::to_string(::getpid());
  h.fd = take_lock(out_in, h.lock_file);
  h.count = 1;
  try {
    check_existing(out_in, overwrite);  // under the lock: another run may have just finished it
    remove_stale_staging(out);
    make_staging(out_in, h.staging);
  } catch (...) {
    release(h);
    throw;
  }
  held()[key_] = h;
  staging_ = h.staging;
}

OutputClaim::~OutputClaim() {
  std::lock_guard<std::mutex> guard(g_held_mutex);
  auto it = held().find(key_);
  if (it == held().end() || --it->second.count > 0) return;
  release(it->second);
  held().erase(it);
}

StagingDir::StagingDir(const std::string& out, bool overwrite, const std::vector<NamedPath>& inputs)
    : claim_(out, overwrite, inputs), out_(without_trailing_slashes(out)), tmp_(claim_.staging()) {
  make_staging(out, tmp_);  // empty but for the marker, whatever an earlier writer left
}

StagingDir::~StagingDir() {
  if (!done_) remove_tree(tmp_);
}

std::string StagingDir::file(const std::string& name) const { return path_join(tmp_, name); }

void StagingDir::commit() {
  // From here on the directory is complete; the rename below makes it the output.
  if (::unlink(path_join(tmp_, kUnfinishedMarker).c_str()) != 0)
    fail(tmp_, std::string("cannot remove the unfinished-output marker: ") + std::strerror(errno));
  fsync_dir(tmp_);
  std::string previous;  // where the output being replaced ends up, to be removed
  if (lstat_kind(out_) == PathKind::missing) {
    if (std::rename(tmp_.c_str(), out_.c_str()) != 0)
      fail(out_, std::string("cannot rename the finished output into place: ") + std::strerror(errno));
  } else if (exchange(tmp_, out_)) {
    previous = tmp_;  // one atomic swap: <out> is never missing
  } else {
    // A file system without RENAME_EXCHANGE: move the previous output aside first.
    previous = out_ + ".old-" + std::to_string(::getpid());
    if (std::rename(out_.c_str(), previous.c_str()) != 0)
      fail(out_, std::string("cannot move the previous output aside: ") + std::strerror(errno));
    if (std::rename(tmp_.c_str(), out_.c_str()) != 0) {
      const int err = errno;
      std::rename(previous.c_str(), out_.c_str());
      fail(out_, std::string("cannot rename the finished output into place: ") + std::strerror(err));
    }
  }
  done_ = true;
  fsync_dir(parent_path(absolute_path(out_)));
  if (previous.empty()) return;
  // Marked first, so that a removal cut short leaves nothing a reader would take for a model (a
  // symbolic link that was the output is removed itself, its target untouched).
  if (lstat_kind(previous) == PathKind::directory) {
    try {
      write_marker(previous);
    } catch (const Error& e) {
      OB1Q_WARN("%s", e.what());
    }
  }
  remove_tree(previous);
}

}  // namespace ob1q
