// The CLI never loses data and never leaves a half-written output that looks like a model: the
// hostile-input review's cases (issue 16 "Security and data loss", "Signals"; issue 17 "checks
// before work"), each run as a real `ob1q` process on a private copy of a tiny fixture. Processes
// are started with fork/exec (exact argv, no shell) so that the tests can signal them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/log.hpp"
#include "ob1q/common/sha256.hpp"
#include "ob1q/pack/checkpoint.hpp"
#include "ob1q/quant/pipeline.hpp"
#include "test_support.hpp"

using namespace ob1q;
namespace fs = std::filesystem;

namespace {

using test::spawn_ob1q;
using test::wait_ob1q;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// name -> sha256 of every file under `dir`.
std::map<std::string, std::string> hashes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = sha256_file(e.path().string());
  return out;
}

bool wait_for_path(const std::string& path, double seconds = 60) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!fs::exists(path)) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A private copy of a tiny fixture as `m`, a 4 x 32 calibration file (quantize runs in well under
// a second), and a 256 x 256 one (a few seconds: long enough to be signalled mid-run), in `base`.
// Starting the CLI costs about a second (LibTorch loads), so cases that the library decides alone
// run in-process and each CLI case is one process where possible.
class OutputSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    base = test::temp_dir("safety");
    fs::copy(test::fixtures() + "/tiny/llama3-gqa", base + "/m", fs::copy_options::recursive);
    test::write_calib_file(base, 4, 32, 160);
    fs::create_directory(base + "/big");
    test::write_calib_file(base + "/big", 256, 256, 160);
    model = hashes(base + "/m");
    log::set_level("warn");  // the in-process runs
  }

  std::vector<std::string> quantize(const std::string& out, bool big = false) const {
    return {"quantize", "--model", "m", "--method", "arb-rc", "--calib-file", big ? "big/calib.json" : "calib.json",
            "--nsamples", big ? "256" : "4", "--seqlen", big ? "256" : "32", "--out", out, "--log-level", "info"};
  }
  template <typename... More>
  std::vector<std::string> with(std::vector<std::string> args, More... more) const {
    (args.push_back(more), ...);
    return args;
  }
  std::string log_file() const { return base + "/../" + fs::path(base).filename().string() + ".log"; }
  // Runs to completion: (exit status, stdout + stderr).
  std::pair<int, std::string> run(const std::vector<std::string>& args) const {
    const int rc = wait_ob1q(spawn_ob1q(args, base, log_file()));
    return {rc, slurp(log_file())};
  }
  // The same run in-process (absolute paths); returns the error message, "" when it succeeded.
  std::string quantize_here(const std::string& out, bool overwrite = false, const std::string& method = "arb-rc",
                            const std::string& calib = "calib.json") const {
    quant::QuantizeOptions o;
    o.model_dir = base + "/m";
    o.method = method;
    o.calib_file = base + "/" + calib;
    o.nsamples = 4;
    o.seqlen = 32;
    o.out = out;
    o.overwrite = overwrite;
    o.progress = false;
    try {
      quant::run_quantize(o);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  // The model is byte-for-byte what it was, and `base` holds exactly `names` (plus the inputs).
  void expect_untouched(std::set<std::string> names = {}) const {
    EXPECT_EQ(hashes(base + "/m"), model);
    names.insert({"m", "calib.json", "big"});
    EXPECT_EQ(entries(base), names);
  }

  std::string base;
  std::map<std::string, std::string> model;
};

// "Before any work": refused before the calibration windows are even read.
void expect_refused_early(const std::pair<int, std::string>& r, const std::string& message) {
  EXPECT_EQ(r.first, 1) << r.second;
  EXPECT_NE(r.second.find("ob1q: error: "), std::string::npos) << r.second;
  EXPECT_NE(r.second.find(message), std::string::npos) << r.second;
  EXPECT_EQ(r.second.find("calibration:"), std::string::npos) << r.second;
}

void expect_has(const std::string& text, const std::string& part) { EXPECT_NE(text.find(part), std::string::npos) << text; }

}  // namespace

// --out "x' 'victim' 'y" once removed the directory `victim` through `rm -rf '...'`; an
// apostrophe broke the clean-up. Both are now just characters of a name.
TEST_F(OutputSafety, QuotesInOutAreJustCharacters) {
  fs::create_directory(base + "/victim");
  std::ofstream(base + "/victim/keep") << "1";
  const std::string out = "bob's x' 'victim' 'y";
  auto [rc, log] = run(quantize(out));
  EXPECT_EQ(rc, 0) << log;
  EXPECT_TRUE(fs::exists(base + "/" + out + "/ob1q_manifest.json"));
  EXPECT_EQ(slurp(base + "/victim/keep"), "1");
  expect_untouched({"victim", out});
}

// --out naming the model (any spelling) or a directory inside it: refused before any work, with
// --overwrite too; nothing is created and the model is byte-for-byte intact. The calibration file
// does not exist: an output check that came after reading it would fail on that instead.
TEST_F(OutputSafety, OutIsOrIsInsideTheModel) {
  fs::create_directory_symlink("m", base + "/link");
  expect_refused_early(run(with(quantize("./m"), "--overwrite")), "./m: is --model m: refusing to write over an input");
  for (const std::string out : {"/m", "/m/", "/link", "/link/"})
    expect_has(quantize_here(base + out, true, "arb-rc", "missing.json"), "is --model " + base + "/m: refusing");
  expect_has(quantize_here(base + "/m/q", true, "arb-rc", "missing.json"), "m/q: is inside --model " + base + "/m");
  expect_has(quantize_here(base, true, "arb-rc", "missing.json"), ": contains --model " + base + "/m");
  expect_untouched({"link"});
}

// export into its own input (or inside it) is refused the same way.
TEST_F(OutputSafety, ExportIntoItsOwnInput) {
  ASSERT_EQ(quantize_here(base + "/q"), "");
  const auto packed = hashes(base + "/q");
  auto [rc, log] = run({"export", "--dequantize", "q/", "--out", "q", "--overwrite"});
  EXPECT_EQ(rc, 1) << log;
  expect_has(log, "ob1q: error: q: is the input checkpoint q/: refusing to write over an input");
  try {
    pack::export_dequantized(base + "/q", base + "/q/plain", at::ScalarType::Undefined, true);
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    expect_has(e.what(), "is inside the input checkpoint");
  }
  EXPECT_EQ(hashes(base + "/q"), packed);
  expect_untouched({"q"});
}

// A second run for an --out whose lock is held fails at once, naming the holder; once the lock is
// free (its file still there, as a killed run leaves it) a run succeeds and removes the file.
TEST_F(OutputSafety, HeldLockRefusesASecondRun) {
  const int fd = ::open((base + "/out.ob1q-lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const std::string me = std::to_string(::getpid()) + "\n";
  ASSERT_EQ(::write(fd, me.data(), me.size()), ssize_t(me.size()));
  expect_refused_early(run(quantize("out")),
                       "out: is being written by another ob1q run (pid " + std::to_string(::getpid()) + ", lock file " +
                           fs::canonical(base).string() + "/out.ob1q-lock)");
  ::close(fd);
  EXPECT_EQ(quantize_here(base + "/out"), "");
  expect_untouched({"out"});
}

// --overwrite replaces the previous output and leaves nothing else (no .old-*, no .partial-*).
TEST_F(OutputSafety, OverwriteLeavesNothingBehind) {
  ASSERT_EQ(quantize_here(base + "/out"), "");
  expect_has(quantize_here(base + "/out", false, "billm"), "exists and is not empty (pass --overwrite to replace it)");
  ASSERT_EQ(quantize_here(base + "/out", true, "billm"), "");
  EXPECT_EQ(nlohmann::json::parse(slurp(base + "/out/ob1q_report.json"))["method"], "billm");
  expect_untouched({"out"});
}

// Everything about the outputs is checked before the model is loaded (the calibration file does
// not exist: a later check would fail on that instead).
TEST_F(OutputSafety, OutputChecksComeBeforeWork) {
  fs::create_directory(base + "/full");
  std::ofstream(base + "/full/x") << "1";
  std::ofstream(base + "/afile") << "1";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/no/such/dir/out", "its parent directory " + base + "/no/such/dir does not exist"},
      {"/full", "full: exists and is not empty (pass --overwrite to replace it)"},
      {"/afile", "afile: exists and is a file"}};
  for (const auto& [out, message] : cases) expect_has(quantize_here(base + out, false, "arb-rc", "missing.json"), message);
  quant::QuantizeOptions o;
  o.model_dir = base + "/m", o.calib_file = base + "/missing.json", o.out = base + "/out";
  for (const auto& [diag, message] : std::vector<std::pair<std::string, std::string>>{
           {"/nodir/d.json", "its parent directory " + base + "/nodir does not exist"},
           {"/out/d.json", "is inside --out " + base + "/out"},
           {"/m/config.json", "is a file of --model " + base + "/m"}}) {
    o.diagnostics = base + diag;
    try {
      quant::run_quantize(o);
      ADD_FAILURE() << diag;
    } catch (const Error& e) {
      expect_has(e.what(), message);
    }
  }
  // --json is checked by the CLI, with the other options
  expect_refused_early(run(with(quantize("out"), "--json", "nodir/r.json")), "nodir/r.json: its parent directory");
  expect_untouched({"full", "afile"});
}

// A FIFO as --calib-file used to block forever: now one line, at once.
TEST_F(OutputSafety, FifoCalibFileFailsFast) {
  ASSERT_EQ(::mkfifo((base + "/fifo").c_str(), 0644), 0);
  auto args = quantize("out");
  args[6] = "fifo";
  const auto t0 = std::chrono::steady_clock::now();
  auto [rc, log] = run(args);
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("ob1q: error: fifo: is not a regular file"), std::string::npos) << log;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30);
  expect_untouched({"fifo"});
}

// SIGINT / SIGTERM mid-run: exit 130 / 143 with one line; no staging directory, no lock file, no
// output.
class OutputSafetySignal : public OutputSafety, public ::testing::WithParamInterface<int> {};

TEST_P(OutputSafetySignal, CleanExit) {
  const int sig = GetParam();
  const std::string log = log_file();
  const pid_t pid = spawn_ob1q(quantize("out", /*big=*/true), base, log);
  ASSERT_TRUE(wait_for_path(base + "/out.partial-" + std::to_string(pid))) << slurp(log);
  ::kill(pid, sig);
  EXPECT_EQ(wait_ob1q(pid), 128 + sig) << slurp(log);
  const std::string name = sig == SIGINT ? "SIGINT" : "SIGTERM";
  EXPECT_NE(slurp(log).find("ob1q: interrupted (" + name + "); stopped cleanly, no partial files left"), std::string::npos) << slurp(log);
  expect_untouched();
}
INSTANTIATE_TEST_SUITE_P(Signals, OutputSafetySignal, ::testing::Values(SIGINT, SIGTERM),
                         [](const auto& info) { return info.param == SIGINT ? "sigint" : "sigterm"; });

// A run killed with SIGKILL cleans nothing up. What it leaves is refused as a model even when it
// holds every file of one (the case that once evaluated to ppl 427), and the next run for the same
// --out removes it.
TEST_F(OutputSafety, StagingOfAKilledRunIsRefusedThenRemoved) {
  const std::string log = log_file();
  const pid_t pid = spawn_ob1q(quantize("out", /*big=*/true), base, log);
  const std::string partial = "out.partial-" + std::to_string(pid);
  ASSERT_TRUE(wait_for_path(base + "/" + partial)) << slurp(log);
  ::kill(pid, SIGKILL);
  EXPECT_EQ(wait_ob1q(pid), 128 + SIGKILL);
  for (const auto& f : fs::directory_iterator(base + "/m")) fs::copy(f.path(), base + "/" + partial);
  auto [rc, out] = run({"eval", "--model", partial, "--ppl", "wikitext2=calib.json", "--seqlen", "16", "--device", "cpu"});
  EXPECT_EQ(rc, 1) << out;
  expect_has(out, "ob1q: error: " + partial + ": is an unfinished ob1q output");
  EXPECT_EQ(quantize_here(base + "/out"), "");
  expect_untouched({"out"});
}

// The diagnostics file is written after the checkpoint: failing to write it keeps the run's output.
TEST_F(OutputSafety, DiagnosticsFailureKeepsTheCheckpoint) {
  fs::create_directory(base + "/diag");
  const std::string log = log_file();
  const pid_t pid = spawn_ob1q(with(quantize("out"), "--diagnostics", "diag/d.json"), base, log);
  ASSERT_TRUE(wait_for_path(base + "/out.partial-" + std::to_string(pid))) << slurp(log);
  fs::remove(base + "/diag");  // after the checks (the staging directory comes last), before the end
  EXPECT_EQ(wait_ob1q(pid), 1) << slurp(log);
  EXPECT_NE(slurp(log).find("ob1q: error: diag/d.json"), std::string::npos) << slurp(log);
  EXPECT_TRUE(fs::exists(base + "/out/ob1q_manifest.json"));
  expect_untouched({"out"});
}
