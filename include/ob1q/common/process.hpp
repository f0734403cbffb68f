// Running another program without a shell: the arguments reach it exactly as given (no quoting,
// no expansion), so no file name can turn into a command.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace ob1q {

// Runs argv[0] (looked up in PATH) with `argv`, stdin from /dev/null, stderr discarded, and
// returns what it wrote to stdout when it exits with status 0; nullopt when it cannot be started,
// fails, or is killed.
std::optional<std::string> run_program_output(const std::vector<std::string>& argv);

}  // namespace ob1q
