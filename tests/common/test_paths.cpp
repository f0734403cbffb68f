// The POSIX path helpers (common/paths.hpp) that replace std::filesystem in the library. The
// tests may use std::filesystem: here it is the independent reference for the lexical parts.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ob1q/common/file.hpp"
#include "ob1q/common/paths.hpp"
#include "test_support.hpp"

using namespace ob1q;
namespace fs = std::filesystem;

namespace {

// The kernel's answer, independent of resolved_path(): realpath(3) of an existing path.
std::string real(const std::string& p) {
  char* r = ::realpath(p.c_str(), nullptr);
  EXPECT_NE(r, nullptr) << p;
  std::string s = r ? r : "";
  std::free(r);
  return s;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// A directory `base/tree` holding a link to `base/outside` (a directory with a file), a link to a
// file there, a dangling link, a FIFO, a socket and a nested directory with a file.
void build_hostile_tree(const std::string& base) {
  fs::create_directories(base + "/outside");
  write(base + "/outside/precious", "keep");
  fs::create_directories(base + "/tree/sub/deeper");
  write(base + "/tree/sub/deeper/f", "x");
  fs::create_directory_symlink(base + "/outside", base + "/tree/sub/to-outside");
  fs::create_symlink(base + "/outside/precious", base + "/tree/to-precious");
  fs::create_symlink(base + "/nowhere", base + "/tree/dangling");
  ASSERT_EQ(::mkfifo((base + "/tree/sub/fifo").c_str(), 0644), 0);
  // sun_path is short: bind a relative name from inside the directory.
  const std::string cwd = fs::current_path();
  fs::current_path(base + "/tree/sub");
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, "sock");
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(s);
  fs::current_path(cwd);
  ASSERT_EQ(lstat_kind(base + "/tree/sub/sock"), PathKind::other);
}

}  // namespace

// The lexical parts agree with std::filesystem::path, trailing and repeated separators included.
TEST(Paths, ParentAndFileNameAsStdFilesystem) {
  for (const std::string p :
       {"a/b", "a/b/", "/a", "a", "/", "/a/b/c", "a//b", "./x", "../x", "x/..", "/a/.", "a/b//", ""}) {
    EXPECT_EQ(parent_path(p), fs::path(p).parent_path().string()) << "'" << p << "'";
    EXPECT_EQ(file_name(p), fs::path(p).filename().string()) << "'" << p << "'";
  }
  EXPECT_EQ(without_trailing_slashes("a/b//"), "a/b");
  EXPECT_EQ(without_trailing_slashes("/"), "/");
}

TEST(Paths, StrictlyInside) {
  EXPECT_TRUE(strictly_inside("/a/b", "/a"));
  EXPECT_TRUE(strictly_inside("/a/b/c", "/a"));
  EXPECT_TRUE(strictly_inside("/a", "/"));
  EXPECT_FALSE(strictly_inside("/a", "/a"));
  EXPECT_FALSE(strictly_inside("/ab", "/a"));  // a prefix of the name is not a parent
  EXPECT_FALSE(strictly_inside("/a", "/a/b"));
  EXPECT_FALSE(strictly_inside("/", "/"));
}

// Links are resolved where they are ("l/.." is the link target's parent, not base), "." and ".."
// folded, repeated and trailing separators dropped, relative paths taken from the working directory.
TEST(Paths, ResolvedThroughLinksAndDotDot) {
  const std::string base = test::temp_dir("paths-resolve");
  const std::string r = real(base);
  fs::create_directories(base + "/a/b/c");
  fs::create_directory_symlink(base + "/a/b", base + "/l");  // absolute target
  fs::create_directory_symlink("b", base + "/a/rel");       // relative target
  fs::create_symlink("l", base + "/chain");                  // a link to a link
  EXPECT_EQ(resolved_path(base + "/l"), r + "/a/b");
  EXPECT_EQ(resolved_path(base + "/l/"), r + "/a/b");
  EXPECT_EQ(resolved_path(base + "/l/.."), r + "/a");  // lexically it would be `base`
  EXPECT_EQ(resolved_path(base + "/chain/c/../.."), r + "/a");
  EXPECT_EQ(resolved_path(base + "/a/./rel//c/"), r + "/a/b/c");
  EXPECT_EQ(resolved_path(base + "/a/rel/../b"), r + "/a/b");
  EXPECT_EQ(resolved_path("/"), "/");
  EXPECT_EQ(resolved_path("/.."), "/");
  const std::string cwd = fs::current_path();
  fs::current_path(base + "/a");
  EXPECT_EQ(resolved_path("rel/"), r + "/a/b");
  EXPECT_EQ(resolved_path("."), r + "/a");
  EXPECT_EQ(resolved_path(".."), r);
  EXPECT_EQ(absolute_path("x/../y"), real(".") + "/x/../y");  // absolute, not folded
  fs::current_path(cwd);
  EXPECT_EQ(absolute_path("/p/./q"), "/p/./q");
}

// Only the existing prefix is resolved; the rest is appended with "." and ".." folded.
TEST(Paths, ResolvedWithATailThatDoesNotExist) {
  const std::string base = test::temp_dir("paths-tail");
  const std::string r = real(base);
  fs::create_directories(base + "/a/b");
  fs::create_directory_symlink(base + "/a/b", base + "/l");
  write(base + "/a/f", "x");
  EXPECT_EQ(resolved_path(base + "/l/new/x"), r + "/a/b/new/x");
  EXPECT_EQ(resolved_path(base + "/l/new/../y/"), r + "/a/b/y");
  EXPECT_EQ(resolved_path(base + "/l/new/../../z"), r + "/a/z");
  EXPECT_EQ(resolved_path(base + "/missing/../a//b"), r + "/a/b");
  EXPECT_EQ(resolved_path(base + "/a/f/under-a-file"), r + "/a/f/under-a-file");
  fs::create_symlink(base + "/nowhere", base + "/dangling");
  EXPECT_EQ(resolved_path(base + "/dangling"), r + "/dangling");  // the link itself: its target does not exist
}

TEST(Paths, KindsAndListing) {
  const std::string base = test::temp_dir("paths-kinds");
  fs::create_directory(base + "/d");
  write(base + "/f", "x");
  fs::create_directory_symlink(base + "/d", base + "/ld");
  fs::create_symlink(base + "/nowhere", base + "/dangling");
  ASSERT_EQ(::mkfifo((base + "/fifo").c_str(), 0644), 0);
  EXPECT_EQ(stat_kind(base + "/d"), PathKind::directory);
  EXPECT_EQ(stat_kind(base + "/f"), PathKind::regular);
  EXPECT_EQ(stat_kind(base + "/ld"), PathKind::directory);
  EXPECT_EQ(lstat_kind(base + "/ld"), PathKind::symlink);
  EXPECT_EQ(stat_kind(base + "/dangling"), PathKind::missing);
  EXPECT_EQ(lstat_kind(base + "/dangling"), PathKind::symlink);
  EXPECT_EQ(stat_kind(base + "/fifo"), PathKind::other);
  EXPECT_EQ(stat_kind(base + "/f/under-a-file"), PathKind::missing);
  EXPECT_EQ(sorted(list_directory(base)), (std::vector<std::string>{"d", "dangling", "f", "fifo", "ld"}));
  EXPECT_TRUE(list_directory(base + "/missing").empty());
  EXPECT_TRUE(is_empty_directory(base + "/d"));
  EXPECT_TRUE(is_empty_directory(base + "/ld"));
  EXPECT_FALSE(is_empty_directory(base));
  EXPECT_FALSE(is_empty_directory(base + "/f"));
  EXPECT_FALSE(is_empty_directory(base + "/missing"));
}

// Links inside the tree are removed, never followed: the directory and the file they point to
// survive. FIFOs and sockets are removed like files (opening the FIFO would block).
TEST(RemoveTree, LinksFifosAndSockets) {
  const std::string base = test::temp_dir("rmtree-hostile");
  build_hostile_tree(base);
  ::alarm(20);
  remove_tree(base + "/tree");
  ::alarm(0);
  EXPECT_EQ(lstat_kind(base + "/tree"), PathKind::missing);
  EXPECT_EQ(read_file(base + "/outside/precious"), "keep");
  EXPECT_EQ(sorted(list_directory(base)), (std::vector<std::string>{"outside"}));
}

// The top itself a link to a directory, named with or without a trailing slash: the link goes,
// its target and the target's contents stay. A file and a missing path are fine too.
TEST(RemoveTree, TopLevelLinkRemovedItself) {
  const std::string base = test::temp_dir("rmtree-toplink");
  fs::create_directory(base + "/target");
  write(base + "/target/precious", "keep");
  for (const std::string name : {"link", "link/", "link//"}) {
    fs::create_directory_symlink(base + "/target", base + "/link");
    remove_tree(base + "/" + name);
    EXPECT_EQ(lstat_kind(base + "/link"), PathKind::missing) << name;
    EXPECT_EQ(read_file(base + "/target/precious"), "keep") << name;
  }
  remove_tree(base + "/target/precious");
  EXPECT_TRUE(is_empty_directory(base + "/target"));
  remove_tree(base + "/missing/too");
}

// A read-only directory inside the tree: root removes it all; anyone else gets a warning, no
// crash, and what could be removed is gone.
TEST(RemoveTree, ReadOnlySubdirectory) {
  const std::string base = test::temp_dir("rmtree-ro");
  fs::create_directories(base + "/tree/ro");
  write(base + "/tree/ro/f", "x");
  write(base + "/tree/g", "y");
  ASSERT_EQ(::chmod((base + "/tree/ro").c_str(), 0555), 0);
  remove_tree(base + "/tree");
  if (::geteuid() == 0) {
    EXPECT_EQ(lstat_kind(base + "/tree"), PathKind::missing);
  } else {
    EXPECT_EQ(lstat_kind(base + "/tree/g"), PathKind::missing);
    EXPECT_EQ(lstat_kind(base + "/tree/ro/f"), PathKind::regular);
    ::chmod((base + "/tree/ro").c_str(), 0755);
    remove_tree(base + "/tree");
    EXPECT_EQ(lstat_kind(base + "/tree"), PathKind::missing);
  }
}

// 300 nested directories whose full path is far longer than PATH_MAX (built with *at() calls, as
// no single path can name the bottom): removed completely.
TEST(RemoveTree, VeryDeepTree) {
  const std::string base = test::temp_dir("rmtree-deep");
  const std::string name(40, 'd');
  const int levels = 300;
  ASSERT_GT(levels * (name.size() + 1), size_t(PATH_MAX));
  ASSERT_EQ(::mkdir((base + "/tree").c_str(), 0755), 0);
  int fd = ::open((base + "/tree").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < levels; ++i) {
    ASSERT_EQ(::mkdirat(fd, name.c_str(), 0755), 0) << i;
    const int next = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY);
    ::close(fd);
    ASSERT_GE(next, 0) << i;
    fd = next;
  }
  const int f = ::openat(fd, "bottom", O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(f, 0);
  ::close(f);
  ::close(fd);
  remove_tree(base + "/tree");
  EXPECT_EQ(lstat_kind(base + "/tree"), PathKind::missing);
  EXPECT_TRUE(is_empty_directory(base));
}
