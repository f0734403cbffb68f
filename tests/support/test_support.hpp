// Where tests find their inputs. Tests needing ../shared call OB1Q_REQUIRE_SHARED() first.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "ob1q/common/error.hpp"
#include <utility>
#include <vector>

namespace ob1q::test {

// The message of the ob1q::Error that f() throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string fixtures();            // tests/fixtures
std::string shared();              // $OB1Q_SHARED, else <repo>/../shared ("" when absent)
std::string temp_dir(const std::string& tag);  // a fresh empty directory under the build dir
// Runs `<build>/ob1q ARGS` through the shell (ARGS may redirect); returns (exit code, stdout).
std::pair<int, std::string> run_ob1q(const std::string& args);
// `ob1q ARGS` started directly (fork + execv, exact argv) in `cwd`, stdout and stderr into `log`;
// returns its pid, so that a test can signal it.
int spawn_ob1q(const std::vector<std::string>& args, const std::string& cwd, const std::string& log);
// Its exit status, 128 + signal when killed by one, -1 when it did not end within `seconds` (then
// it is killed).
int wait_ob1q(int pid, double seconds = 120);
// Writes `n` calibration windows of `len` pseudo-random token ids below `vocab` as a --calib-file
// JSON into `dir`; returns its path.
std::string write_calib_file(const std::string& dir, int n, int len, int vocab, uint32_t seed = 3);

}  // namespace ob1q::test

#define OB1Q_REQUIRE_SHARED()                                                            \
  do {                                                                                   \
    if (ob1q::test::shared().empty())                                                    \
      GTEST_SKIP() << "../shared not found (set OB1Q_SHARED): skipping real-data test";  \
  } while (0)
