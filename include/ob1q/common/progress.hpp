// Progress with ETA for long work: a redrawn bar on a terminal (stderr), nothing otherwise
// (logs and --json output stay clean when piped or run from scripts).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace ob1q {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled = true);
  ~Progress();
  void advance(int64_t n = 1, const std::string& note = "");
  void finish();
  static bool terminal();  // stderr is a tty

 private:
  void draw(const std::string& note);
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);  // "1m05s", "3.2s"

}  // namespace ob1q
