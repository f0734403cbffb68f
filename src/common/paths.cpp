#include "ob1q/common/paths.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "ob1q/common/log.hpp"

namespace ob1q {

namespace {

// The non-empty components of `p`, "." and ".." kept.
std::vector<std::string> components(const std::string& p) {
  std::vector<std::string> out;
  for (size_t i = 0; i < p.size();) {
    const size_t j = std::min(p.find('/', i), p.size());
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string joined(bool absolute, const std::vector<std::string>& parts, size_t n) {
  std::string s = absolute ? "/" : "";
  for (size_t k = 0; k < n; ++k) s += (k ? "/" : "") + parts[k];
  return s.empty() ? "." : s;
}

// "." dropped, "name/.." folded, ".." at the root dropped (it is the root), no trailing separator.
std::string lexically_normal(const std::string& p) {
  const bool absolute = !p.empty() && p[0] == '/';
  std::vector<std::string> kept;
  for (auto& c : components(p)) {
    if (c == ".") continue;
    if (c != "..") kept.push_back(std::move(c));
    else if (!kept.empty() && kept.back() != "..") kept.pop_back();
    else if (!absolute) kept.push_back(c);
  }
  return joined(absolute, kept, kept.size());
}

std::string real_path(const std::string& p, bool* ok) {
  char* r = ::realpath(p.c_str(), nullptr);
  *ok = r != nullptr;
  if (!r) return "";
  std::string s(r);
  std::free(r);
  return s;
}

PathKind kind_of(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return PathKind::regular;
  if (S_ISDIR(st.st_mode)) return PathKind::directory;
  if (S_ISLNK(st.st_mode)) return PathKind::symlink;
  return PathKind::other;
}

}  // namespace

std::string without_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string absolute_path(const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  char* cwd = ::getcwd(nullptr, 0);  // glibc sizes the buffer: no PATH_MAX limit
  if (!cwd) return p;
  std::string a(cwd);
  std::free(cwd);
  return a.back() == '/' ? a + p : a + "/" + p;
}

std::string resolved_path(const std::string& p) {
  const std::string a = absolute_path(without_trailing_slashes(p));
  const bool absolute = !a.empty() && a[0] == '/';
  const std::vector<std::string> parts = components(a);
  // The longest prefix realpath() resolves (it fails once a component does not exist); the rest
  // cannot hold links, so folding it lexically is exact.
  for (size_t n = parts.size() + 1; n-- > 0;) {
    bool ok = false;
    std::string r = real_path(joined(absolute, parts, n), &ok);
    if (!ok) continue;
    for (size_t k = n; k < parts.size(); ++k) r += "/" + parts[k];
    return lexically_normal(r);
  }
  return lexically_normal(a);
}

std::string parent_path(const std::string& p) {
  const size_t last = p.find_last_of('/');
  if (last == std::string::npos) return "";
  if (p.find_first_not_of('/') == std::string::npos) return "/";
  if (last + 1 == p.size()) return without_trailing_slashes(p);  // "a/b/": the empty name in a/b
  std::string q = p.substr(0, last);
  while (!q.empty() && q.back() == '/') q.pop_back();
  return q.empty() ? "/" : q;
}

std::string file_name(const std::string& p) {
  const size_t last = p.find_last_of('/');
  return last == std::string::npos ? p : p.substr(last + 1);
}

bool strictly_inside(const std::string& inner, const std::string& outer) {
  if (outer == "/") return inner.size() > 1 && inner[0] == '/';
  return inner.size() > outer.size() + 1 && inner.compare(0, outer.size(), outer) == 0 && inner[outer.size()] == '/';
}

PathKind stat_kind(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? kind_of(st) : PathKind::missing;
}

PathKind lstat_kind(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 ? kind_of(st) : PathKind::missing;
}

std::vector<std::string> list_directory(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return names;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

bool is_empty_directory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  bool empty = true;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

// ---- remove_tree ---------------------------------------------------------------------------

namespace {

constexpr int kOpenDir = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// One directory being emptied: its open stream and its name in the level above.
struct Level {
  DIR* dir;
  std::string name;
};

// Remembers the first failure (the one worth reporting) and how many there were.
struct Failures {
  std::string first_path;
  int first_errno = 0, count = 0;
  void note(const std::vector<Level>& stack, const std::string& name, int err) {
    if (count++ > 0) return;
    for (const auto& l : stack) first_path += (first_path.empty() ? "" : "/") + l.name;
    if (!name.empty()) first_path += (first_path.empty() ? "" : "/") + name;
    first_errno = err;
  }
};

// Opens `name` in `dirfd` as a directory, refusing a symbolic link; nullptr with errno set.
DIR* open_dir_at(int dirfd, const char* name) {
  const int fd = ::openat(dirfd, name, kOpenDir);
  if (fd < 0) return nullptr;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    const int err = errno;
    ::close(fd);
    errno = err;
  }
  return d;
}

}  // namespace

void remove_tree(const std::string& path_in) {
  const std::string path = without_trailing_slashes(path_in);  // "link/" would make open() follow it
  if (path.empty()) return;
  Failures failures;
  std::vector<Level> stack;
  if (DIR* top = open_dir_at(AT_FDCWD, path.c_str())) {
    stack.push_back({top, path});
  } else if (errno == ENOTDIR || errno == ELOOP) {  // a file or a symbolic link: removed itself
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) failures.note(stack, path, errno);
  } else if (errno != ENOENT) {
    failures.note(stack, path, errno);
  }
  // Depth first with an explicit stack of open directories: each entry is unlinked where it lies
  // (relative to its directory's descriptor, so never through a link and never by a full path),
  // and only an entry that is itself a directory, opened with O_NOFOLLOW, is descended into.
  while (!stack.empty()) {
    errno = 0;
    const dirent* e = ::readdir(stack.back().dir);
    if (!e) {
      if (errno != 0) failures.note(stack, "", errno);
      ::closedir(stack.back().dir);
      const std::string name = stack.back().name;
      stack.pop_back();
      const int rc =
          stack.empty() ? ::rmdir(name.c_str()) : ::unlinkat(dirfd(stack.back().dir), name.c_str(), AT_REMOVEDIR);
      if (rc != 0 && errno != ENOENT) failures.note(stack, name, errno);
      continue;
    }
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    const int fd = dirfd(stack.back().dir);
    // Everything but a directory -- a link to one included -- goes with one unlinkat().
    if (::unlinkat(fd, name.c_str(), 0) == 0 || errno == ENOENT) continue;
    const int unlink_errno = errno;  // EISDIR on Linux for a directory, EPERM elsewhere
    if (DIR* sub = open_dir_at(fd, name.c_str())) {
      stack.push_back({sub, name});
    } else if (errno != ENOENT) {
      failures.note(stack, name, errno == ENOTDIR || errno == ELOOP ? unlink_errno : errno);
    }
  }
  if (failures.count == 0) return;
  const std::string more = failures.count > 1 ? " (and " + std::to_string(failures.count - 1) + " more)" : "";
  OB1Q_WARN("could not remove %s: %s%s", failures.first_path.c_str(), std::strerror(failures.first_errno),
            more.c_str());
}

}  // namespace ob1q
