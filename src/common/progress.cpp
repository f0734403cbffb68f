#include "ob1q/common/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace ob1q {

bool Progress::terminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && terminal()),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

std::string format_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return buf;
}

void Progress::advance(int64_t n, const std::string& note) {
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  if (enabled_ && (done_ >= total_ || now - last_draw_ > std::chrono::milliseconds(200))) {
    last_draw_ = now;
    draw(note);
  }
}

void Progress::draw(const std::string& note) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double frac = total_ > 0 ? double(done_) / double(total_) : 1.0;
  const int width = 30;
  int filled = int(frac * width);
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::string eta = done_ > 0 && done_ < total_ ? " ETA " + format_duration(elapsed / frac - elapsed) : "";
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %s%s %s\033[K", label_.c_str(), bar.c_str(), (long long)done_,
               (long long)total_, format_duration(elapsed).c_str(), eta.c_str(), note.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) std::fprintf(stderr, "\r\033[K");
}

}  // namespace ob1q
