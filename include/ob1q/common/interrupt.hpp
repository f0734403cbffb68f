// Clean interruption: SIGINT and SIGTERM only raise a flag; long loops call check_interrupt() at
// natural points (per linear or block in quantize, per window batch in perplexity, per request
// batch in zero-shot, per tensor in the writers), which throws Interrupted. Unwinding runs the
// destructors that remove what the run made (StagingDir, OutputClaim), and main() exits with
// 128 + the signal number. A second signal ends the process at once.
#pragma once

namespace ob1q {

// Deliberately not derived from std::exception: a catch-all that turns library failures into
// messages (catch (const std::exception&)) must never swallow an interrupt.
class Interrupted {
 public:
  explicit Interrupted(int signal) : signal_(signal) {}
  int signal() const { return signal_; }
  const char* signal_name() const;  // "SIGINT", "SIGTERM", ...
  int exit_code() const { return 128 + signal_; }

 private:
  int signal_;
};

// Routes SIGINT and SIGTERM to the flag (the CLI calls it once at start-up; calling it again is
// harmless).
void install_interrupt_handlers();
// The signal received since start-up (or the last clear_interrupt()), 0 when none.
int pending_interrupt();
// Throws Interrupted when a signal was received. Cheap (one atomic load): call it often.
void check_interrupt();
// Tests: raise the flag as the handler would, and lower it again.
void request_interrupt(int signal);
void clear_interrupt();

}  // namespace ob1q
