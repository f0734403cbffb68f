#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/process.hpp"
#include "ob1q/common/sha256.hpp"
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

// A FIFO (or any non-regular file) is refused at once: opening one for reading would wait for a
// writer forever. alarm() turns a hang into a failure.
TEST(File, RefusesAFifoWithoutBlocking) {
  const std::string fifo = test::temp_dir("fifo") + "/calib.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  ::alarm(20);
  for (const auto& read : std::vector<std::function<void()>>{[&] { read_file(fifo); }, [&] { read_file_bytes(fifo); },
                                                             [&] { MappedFile m(fifo); }, [&] { sha256_file(fifo); }}) {
    try {
      read();
      ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), fifo + ": is not a regular file (a FIFO, socket or device); give a file");
    }
  }
  ::alarm(0);
  EXPECT_THROW(read_file(test::temp_dir("dir")), Error);
}

// remove_tree takes no shell: quotes in a name are just characters, and symbolic links inside
// the tree are removed, not followed.
TEST(File, RemoveTreeNeitherQuotesNorFollowsLinks) {
  const std::string base = test::temp_dir("rmtree");
  const std::string victim = base + "/victim", odd = base + "/x' '" + "victim" + "' 'y";
  std::filesystem::create_directories(victim);
  std::filesystem::create_directories(odd);
  write_file_atomic(victim + "/keep", std::string("1"));
  std::filesystem::create_directory_symlink(victim, odd + "/link");
  write_file_atomic(odd + "/f", std::string("2"));
  remove_tree(odd);
  EXPECT_FALSE(std::filesystem::exists(odd));
  EXPECT_EQ(read_file(victim + "/keep"), "1");
  remove_tree(base + "/never-existed");  // not an error
}

// Another program runs with exactly the given arguments: a file name with quotes and $(...) is
// a file name. bzip2 is the program the task readers fall back on.
TEST(Process, RunsWithoutAShell) {
  const std::string base = test::temp_dir("spawn");
  const std::string name = base + "/it's $(touch ob1q-pwned) `touch ob1q-pwned`.txt";
  write_file_atomic(name, std::string("payload\n"));
  auto out = run_program_output({"cat", "--", name});
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, "payload\n");
  EXPECT_FALSE(std::filesystem::exists("ob1q-pwned"));  // a shell would have run it in the working directory
  if (run_program_output({"bzip2", "--help"}) || run_program_output({"bzip2", "-h"})) {
    auto z = run_program_output({"bzip2", "-c", "--", name});
    ASSERT_TRUE(z.has_value());
    write_file_atomic(name + ".bz2", *z);
    EXPECT_EQ(run_program_output({"bzip2", "-dc", "--", name + ".bz2"}).value_or(""), "payload\n");
  }
  EXPECT_FALSE(run_program_output({"false"}).has_value());                         // exit status 1
  EXPECT_FALSE(run_program_output({"ob1q-no-such-program-anywhere"}).has_value());  // cannot start
  EXPECT_FALSE(run_program_output({"cat", base + "/missing"}).has_value());
}
