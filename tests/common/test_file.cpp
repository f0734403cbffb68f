#include <gtest/gtest.h>

#include <cstdio>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "test_support.hpp"

using namespace ob1q;

TEST(File, AtomicWriteThenRead) {
  std::string dir = test::temp_dir("file");
  std::string p = path_join(dir, "a.txt");
  write_file_atomic(p, std::string("hello\n"));
  EXPECT_EQ(read_file(p), "hello\n");
  // a failing writer leaves the previous content and no temporary behind
  EXPECT_THROW(write_file_atomic(p, [](std::FILE* f) {
                 std::fputs("partial", f);
                 throw Error("boom");
               }),
               Error);
  EXPECT_EQ(read_file(p), "hello\n");
}

TEST(File, MissingFileNamesPath) {
  try {
    read_file("/nonexistent/dir/x.txt");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/x.txt"), std::string::npos);
  }
}

TEST(File, ReadsGzip) {
  std::string dir = test::temp_dir("gz");
  std::string p = path_join(dir, "a.txt");
  write_file_atomic(p, std::string("line one\nline two\n"));
  ASSERT_EQ(std::system(("gzip -k '" + p + "'").c_str()), 0);
  EXPECT_EQ(read_file(p + ".gz"), "line one\nline two\n");
  // a truncated gzip is an error, not a silent short read
  std::string gz = read_file(p + ".gz");  // decompressed
  (void)gz;
  std::string raw;
  {
    std::FILE* f = std::fopen((p + ".gz").c_str(), "rb");
    char buf[256];
    size_t n = std::fread(buf, 1, sizeof buf, f);
    std::fclose(f);
    raw.assign(buf, n);
  }
  write_file_atomic(p + ".trunc.gz", raw.substr(0, raw.size() - 6));
  EXPECT_THROW(read_file(p + ".trunc.gz"), Error);
}
