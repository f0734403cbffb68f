#include "ob1q/common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>

#include "ob1q/common/error.hpp"

namespace ob1q::log {

namespace {

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> l = [] {
    auto lg = spdlog::stderr_color_mt("ob1q");
    lg->set_pattern("[%H:%M:%S] %^%l%$ %v");
    lg->set_level(spdlog::level::info);
    return lg;
  }();
  return *l;
}

spdlog::level::level_enum to_spd(Level l) {
  switch (l) {
    case Level::trace: return spdlog::level::trace;
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
    default: return spdlog::level::off;
  }
}

}  // namespace

void set_level(const std::string& name) {
  static const char* names[] = {"trace", "debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 6; ++i)
    if (name == names[i]) return logger().set_level(to_spd(static_cast<Level>(i)));
  fail("--log-level", "unknown level \"" + name + "\" (trace, debug, info, warn, error, off)");
}

bool enabled(Level level) { return logger().should_log(to_spd(level)); }

void write(Level level, const std::string& message) { logger().log(to_spd(level), "{}", message); }

std::string format(const char* fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, ap);
  std::string out(n > 0 ? n : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, ap2);
  va_end(ap2);
  va_end(ap);
  return out;
}

}  // namespace ob1q::log
