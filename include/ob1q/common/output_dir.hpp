// Writing outputs without losing data. Everything a command checks about its outputs before any
// slow work (the parent directory exists and is writable; the output is no input, not a file, not
// a non-empty directory without --overwrite), an exclusive lock on the output directory for the
// whole run (two runs can never both write it), and the staging directory that becomes the output
// only when complete, by one rename.
#pragma once
#include <string>
#include <vector>

namespace ob1q {

// An input of a command, named as the user gave it: {"--model", "m/"}, {"--calib-file", "c.json"}.
struct NamedPath {
  std::string role;
  std::string path;
};

// Refuses (ob1q::Error, one line) an output file (--diagnostics, --json) that cannot be written or
// would destroy data: its directory must exist and be writable, and it must not be a directory, an
// input, an existing file inside an input directory, nor inside `out_dir` (the output directory
// the run replaces, "" when none). Paths are compared after resolving symbolic links.
void check_output_file(const std::string& path, const std::string& role, const std::vector<NamedPath>& inputs,
                       const std::string& out_dir = "");

// A run's claim on its output directory `out`, taken before any slow work and held until the run
// ends. Taking it
//  - checks `out`: its parent directory exists and is writable; it is not a file, not a non-empty
//    directory unless `overwrite`, and neither is, contains, nor is inside any of `inputs`
//    (compared after resolving symbolic links, so `m/`, `./m` and a link to m are all m);
//  - locks it: flock on <out>.ob1q-lock. A second run for the same output fails at once, naming
//    the first run's pid. The lock dies with its process, so a killed run blocks no one;
//  - removes <out>.partial-<pid> / <out>.old-<pid> directories whose run no longer exists;
//  - creates this run's staging directory <out>.partial-<pid>, marked unfinished.
// Releasing it removes the staging directory (unless StagingDir::commit() renamed it into place)
// and the lock file. Claims nest within a process: claiming an output this process already holds
// joins that claim (the library's writers claim the output that the command claimed earlier).
class OutputClaim {
 public:
  OutputClaim(const std::string& out, bool overwrite, const std::vector<NamedPath>& inputs = {});
  ~OutputClaim();
  OutputClaim(const OutputClaim&) = delete;
  OutputClaim& operator=(const OutputClaim&) = delete;
  const std::string& staging() const { return staging_; }

 private:
  std::string key_;      // the output's resolved path: one claim per directory, however spelled
  std::string staging_;  // <out>.partial-<pid>
};

// An output directory written atomically (it claims `out`, joining the caller's claim if any):
// everything goes into the claim's staging directory
// <out>.partial-<pid>, which holds kUnfinishedMarker (file.hpp) until commit() removes it, fsyncs
// the directory and swaps it with <out> (the previous output, if any, is then removed). Destroyed
// without commit() -- an error, an interrupt -- it removes the staging directory, so nothing that
// looks like a finished output is ever left behind.
class StagingDir {
 public:
  StagingDir(const std::string& out, bool overwrite, const std::vector<NamedPath>& inputs = {});
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  const std::string& path() const { return tmp_; }
  std::string file(const std::string& name) const;
  void commit();

 private:
  OutputClaim claim_;
  std::string out_, tmp_;
  bool done_ = false;
};

}  // namespace ob1q
