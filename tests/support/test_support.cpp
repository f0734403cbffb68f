#include "test_support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace ob1q::test {

std::string fixtures() { return OB1Q_FIXTURES; }

std::string shared() {
  struct stat st {};
  const char* env = std::getenv("OB1Q_SHARED");
  std::string p = env && *env ? env : OB1Q_DEFAULT_SHARED;
  if (::stat((p + "/models").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return p;
  return "";
}

std::string temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  std::string base = std::string(OB1Q_BINARY_DIR) + "/test-tmp";
  ::mkdir(base.c_str(), 0755);
  std::string dir = base + "/" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  std::string cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) return dir;
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

std::pair<int, std::string> run_ob1q(const std::string& args) {
  std::string cmd = std::string(OB1Q_BINARY_DIR) + "/ob1q " + args;
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

int spawn_ob1q(const std::vector<std::string>& args, const std::string& cwd, const std::string& log) {
  const std::string bin = std::string(OB1Q_BINARY_DIR) + "/ob1q";
  std::vector<char*> argv{const_cast<char*>(bin.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ::chdir(cwd.c_str()) != 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) ::_exit(126);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_ob1q(int pid, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string write_calib_file(const std::string& dir, int n, int len, int vocab, uint32_t seed) {
  std::string text = "{\"seqlen\": " + std::to_string(len) + ", \"windows\": [";
  uint32_t x = seed;
  for (int s = 0; s < n; ++s) {
    text += s ? ",[" : "[";
    for (int t = 0; t < len; ++t) {
      x = x * 1664525u + 1013904223u;  // LCG: deterministic on every platform
      text += (t ? "," : "") + std::to_string((x >> 8) % uint32_t(vocab));
    }
    text += "]";
  }
  text += "]}";
  const std::string path = dir + "/calib.json";
  FILE* f = std::fopen(path.c_str(), "w");
  if (f) {
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  return path;
}

}  // namespace ob1q::test
