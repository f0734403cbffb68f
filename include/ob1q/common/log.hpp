// Logging to stderr (spdlog behind a narrow, printf-style interface). Files that see LibTorch's
// headers must not include spdlog: PyTorch 2.x bundles its own {fmt}, which clashes with the
// system {fmt} that the system spdlog was built against.
#pragma once
#include <string>

namespace ob1q::log {

enum class Level { trace, debug, info, warn, error, off };

// "trace" | "debug" | "info" | "warn" | "error" | "off"; throws ob1q::Error otherwise.
void set_level(const std::string& name);
bool enabled(Level level);
void write(Level level, const std::string& message);
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace ob1q::log

#define OB1Q_LOG(level, ...)                                                                          \
  do {                                                                                                \
    if (::ob1q::log::enabled(::ob1q::log::Level::level))                                              \
      ::ob1q::log::write(::ob1q::log::Level::level, ::ob1q::log::format(__VA_ARGS__));                \
  } while (0)
#define OB1Q_DEBUG(...) OB1Q_LOG(debug, __VA_ARGS__)
#define OB1Q_INFO(...) OB1Q_LOG(info, __VA_ARGS__)
#define OB1Q_WARN(...) OB1Q_LOG(warn, __VA_ARGS__)
