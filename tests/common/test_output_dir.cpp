// Output directories: the checks before work, the run lock, staging and commit, the unfinished
// marker (common/output_dir.hpp, common/file.hpp), in-process. The CLI side is in
// tests/torch/test_output_safety.cpp.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/output_dir.hpp"
#include "test_support.hpp"

using namespace ob1q;
using test::error_of;
namespace fs = std::filesystem;

namespace {

// Names in `dir`, sorted.
std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A directory with a model-like input in it: <base>/m/config.json.
std::string with_model(const std::string& tag) {
  const std::string base = test::temp_dir(tag);
  fs::create_directory(base + "/m");
  write(base + "/m/config.json", "{}");
  return base;
}

// A child process that holds flock on `file` (as another ob1q run would) until killed.
pid_t hold_lock_in_child(const std::string& file) {
  int ready[2];
  EXPECT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(file.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ::flock(fd, LOCK_EX) != 0) ::_exit(3);
    const std::string me = std::to_string(::getpid()) + "\n";
    if (::write(fd, me.data(), me.size()) < 0) ::_exit(3);
    if (::write(ready[1], "x", 1) != 1) ::_exit(3);
    while (true) ::pause();
  }
  char c;
  EXPECT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]), ::close(ready[1]);
  return pid;
}

}  // namespace

// `m`, `m/`, `./m`, `<abs>/m/../m` and a symbolic link to m are all the input m: refused before
// anything is created (no lock file, no staging directory), as are a directory inside m and one
// that contains m.
TEST(OutputClaim, RefusesAnInputUnderEverySpelling) {
  const std::string base = with_model("claim-input");
  fs::create_directory_symlink(base + "/m", base + "/link");
  const std::vector<NamedPath> inputs = {{"--model", base + "/m"}};
  for (const std::string out : {base + "/m", base + "/m/", base + "/./m", base + "/m/../m", base + "/link", base + "/link/"}) {
    const std::string e = error_of([&] { OutputClaim c(out, true, inputs); });
    EXPECT_NE(e.find("is --model " + base + "/m: refusing to write over an input"), std::string::npos) << out << ": " << e;
  }
  EXPECT_NE(error_of([&] { OutputClaim c(base + "/m/q", true, inputs); }).find("is inside --model"), std::string::npos);
  EXPECT_NE(error_of([&] { OutputClaim c(base + "/link/q", true, inputs); }).find("is inside --model"), std::string::npos);
  // an input given as a relative path is resolved against the working directory
  const std::string cwd = fs::current_path();
  fs::current_path(base);
  EXPECT_NE(error_of([&] { OutputClaim c(base + "/m", true, {{"--model", "m/"}}); }).find("is --model m/"), std::string::npos);
  fs::current_path(cwd);
  // an input file inside the output directory: --overwrite would delete it
  fs::create_directory(base + "/o");
  write(base + "/o/calib.json", "[]");
  const std::string e = error_of([&] { OutputClaim c(base + "/o", true, {{"--calib-file", base + "/o/calib.json"}}); });
  EXPECT_NE(e.find("contains --calib-file"), std::string::npos) << e;
  EXPECT_EQ(entries(base), (std::set<std::string>{"link", "m", "o"}));  // nothing was created
  EXPECT_EQ(entries(base + "/m"), (std::set<std::string>{"config.json"}));
}

TEST(OutputClaim, ChecksTheOutputItself) {
  const std::string base = test::temp_dir("claim-self");
  EXPECT_NE(error_of([&] { OutputClaim c(base + "/missing/out", false); }).find("parent directory " + base + "/missing does not exist"),
            std::string::npos);
  write(base + "/file", "x");
  EXPECT_NE(error_of([&] { OutputClaim c(base + "/file", true); }).find("exists and is a file"), std::string::npos);
  EXPECT_NE(error_of([&] { OutputClaim c(base + "/file/out", true); }).find("is not a directory"), std::string::npos);
  fs::create_directory(base + "/full");
  write(base + "/full/a", "x");
  EXPECT_NE(error_of([&] { OutputClaim c(base + "/full", false); }).find("pass --overwrite"), std::string::npos);
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "/", base + "/.."}) EXPECT_NE(error_of([&] { OutputClaim c(bad, true); }), "") << bad;
  EXPECT_EQ(entries(base), (std::set<std::string>{"file", "full"}));
  // an empty existing directory is fine without --overwrite
  fs::create_directory(base + "/empty");
  EXPECT_EQ(error_of([&] { OutputClaim c(base + "/empty", false); }), "");
}

// The claim holds <out>.ob1q-lock and <out>.partial-<pid> (marked unfinished) while it lives,
// nested claims join it, and releasing the last one removes both.
TEST(OutputClaim, LocksStagesAndCleansUp) {
  const std::string base = test::temp_dir("claim-life");
  const std::string out = base + "/out", staging = out + ".partial-" + std::to_string(::getpid());
  {
    OutputClaim outer(out + "/", false);
    EXPECT_EQ(outer.staging(), staging);
    EXPECT_EQ(entries(base), (std::set<std::string>{"out.ob1q-lock", "out.partial-" + std::to_string(::getpid())}));
    EXPECT_EQ(entries(staging), (std::set<std::string>{kUnfinishedMarker}));
    EXPECT_NE(error_of([&] { refuse_unfinished_output(staging); }).find("is an unfinished ob1q output"), std::string::npos);
    {
      OutputClaim inner(base + "/./out", false);  // the same output: joins
      EXPECT_EQ(inner.staging(), staging);
    }
    EXPECT_TRUE(fs::exists(out + ".ob1q-lock"));  // still held by `outer`
  }
  EXPECT_TRUE(entries(base).empty());
}

// Another process holding the lock: refused at once, naming its pid and the lock file. Once that
// process is gone (SIGKILL: no clean-up), its lock file blocks no one.
TEST(OutputClaim, SecondRunRefusedAndStaleLockIgnored) {
  const std::string base = test::temp_dir("claim-lock");
  const std::string out = base + "/out", lock = out + ".ob1q-lock";
  const pid_t other = hold_lock_in_child(lock);
  const std::string e = error_of([&] { OutputClaim c(out, false); });
  EXPECT_NE(e.find("is being written by another ob1q run (pid " + std::to_string(other) + ", lock file " + lock), std::string::npos)
      << e;
  EXPECT_FALSE(fs::exists(out + ".partial-" + std::to_string(::getpid())));
  ::kill(other, SIGKILL);
  ::waitpid(other, nullptr, 0);
  EXPECT_TRUE(fs::exists(lock));
  EXPECT_EQ(error_of([&] { OutputClaim c(out, false); }), "");
  EXPECT_FALSE(fs::exists(lock));
}

// Staging directories of runs that no longer exist are removed when a new run claims the same
// output; one whose process is alive (here: this test's parent) is left alone, as are other
// outputs' staging directories.
TEST(OutputClaim, RemovesStaleStagingOfDeadRuns) {
  const std::string base = test::temp_dir("claim-stale");
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::string gone = "out.partial-" + std::to_string(dead), old = "out.old-" + std::to_string(dead);
  const std::string alive = "out.partial-" + std::to_string(::getppid()), other = "other.partial-" + std::to_string(dead);
  for (const auto& d : {gone, old, alive, other}) {
    fs::create_directory(base + "/" + d);
    write(base + "/" + d + "/config.json", "{}");
  }
  { OutputClaim c(base + "/out", false); }
  EXPECT_EQ(entries(base), (std::set<std::string>{alive, other}));
}

// commit() swaps the staging directory into place: the marker is gone, a previous output is
// replaced and nothing else stays behind (no .old-*, no .partial-*, no lock).
TEST(StagingDir, CommitReplacesAndLeavesNothingBehind) {
  const std::string base = test::temp_dir("staging");
  const std::string out = base + "/out";
  for (const std::string content : {"first", "second"}) {
    StagingDir s(out, /*overwrite=*/true);
    EXPECT_TRUE(fs::exists(s.file(kUnfinishedMarker)));
    write(s.file("data.txt"), content);
    s.commit();
    EXPECT_EQ(read_file(out + "/data.txt"), content);
    EXPECT_EQ(entries(out), (std::set<std::string>{"data.txt"}));
  }
  EXPECT_EQ(entries(base), (std::set<std::string>{"out"}));
  EXPECT_EQ(error_of([&] { refuse_unfinished_output(out); }), "");
}

// Destroyed without commit (an error, an interrupt): the previous output is untouched, and the
// staging directory and the lock are gone.
TEST(StagingDir, AbandonedLeavesThePreviousOutput) {
  const std::string base = test::temp_dir("staging-abandon");
  const std::string out = base + "/out";
  fs::create_directory(out);
  write(out + "/data.txt", "kept");
  EXPECT_THROW(
      {
        StagingDir s(out, true);
        write(s.file("data.txt"), "new");
        fail(out, "boom");
      },
      Error);
  EXPECT_EQ(read_file(out + "/data.txt"), "kept");
  EXPECT_EQ(entries(base), (std::set<std::string>{"out"}));
}

// --overwrite of an output that is a symbolic link replaces the link; what it pointed to stays.
TEST(StagingDir, OverwritingALinkLeavesItsTarget) {
  const std::string base = test::temp_dir("staging-link");
  fs::create_directory(base + "/target");
  write(base + "/target/precious", "x");
  fs::create_directory_symlink(base + "/target", base + "/out");
  {
    StagingDir s(base + "/out", true);
    write(s.file("data.txt"), "new");
    s.commit();
  }
  EXPECT_FALSE(fs::is_symlink(base + "/out"));
  EXPECT_EQ(read_file(base + "/out/data.txt"), "new");
  EXPECT_EQ(read_file(base + "/target/precious"), "x");
}

// Readers refuse a marked directory, and one named like a staging directory (a run of an older
// ob1q, killed, left it without a marker), naming it.
TEST(UnfinishedOutput, RefusedByName) {
  const std::string base = test::temp_dir("unfinished");
  fs::create_directory(base + "/q.partial-123");
  write(base + "/q.partial-123/config.json", "{}");
  const std::string e = error_of([&] { refuse_unfinished_output(base + "/q.partial-123/config.json"); });
  EXPECT_EQ(e, base + "/q.partial-123: is an unfinished ob1q output (the run that wrote it was interrupted or failed); delete it");
  EXPECT_NE(error_of([&] { refuse_unfinished_output(base + "/q.partial-123/"); }), "");
  fs::create_directory(base + "/q.partial-x");  // not a pid: an ordinary name
  EXPECT_EQ(error_of([&] { refuse_unfinished_output(base + "/q.partial-x"); }), "");
}

TEST(OutputFile, CheckedBeforeWork) {
  const std::string base = with_model("outfile");
  const std::vector<NamedPath> inputs = {{"--model", base + "/m"}, {"--calib-file", base + "/calib.json"}};
  write(base + "/calib.json", "[]");
  EXPECT_EQ(error_of([&] { check_output_file(base + "/d.json", "--diagnostics", inputs, base + "/q"); }), "");
  EXPECT_EQ(error_of([&] { check_output_file(base + "/m/new.json", "--json", inputs); }), "");  // adds, replaces nothing
  EXPECT_NE(error_of([&] { check_output_file(base + "/m/config.json", "--json", inputs); }).find("is a file of --model"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_output_file(base + "/./calib.json", "--json", inputs); }).find("is --calib-file"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_output_file(base + "/q/d.json", "--diagnostics", inputs, base + "/q"); }).find("is inside --out"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_output_file(base + "/nodir/d.json", "--json", inputs); }).find("does not exist"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_output_file(base + "/m", "--json", inputs); }).find("is a directory"), std::string::npos);
}
