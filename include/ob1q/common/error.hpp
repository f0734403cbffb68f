// Errors the user can act on: one line naming the file (or object) and the problem.
#pragma once
#include <stdexcept>
#include <string>

namespace ob1q {

// Thrown for bad input (files, configs, options). The CLI prints what() on one line and exits 1;
// anything else escaping is a bug.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws Error("<where>: <what>").
[[noreturn]] void fail(const std::string& where, const std::string& what);

}  // namespace ob1q
