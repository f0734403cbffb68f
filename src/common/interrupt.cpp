#include "ob1q/common/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>

namespace ob1q {

namespace {

volatile sig_atomic_t g_signal = 0;

void on_signal(int sig) {
  if (g_signal != 0) {
    // The second signal: the user wants out now. Only async-signal-safe calls from here on.
    static const char msg[] =
        "ob1q: interrupted again; exiting now (the next run into the same output removes what this one left)\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)ignored;
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  g_signal = sig;
}

}  // namespace

const char* Interrupted::signal_name() const {
  switch (signal_) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
  }
}

void install_interrupt_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  // Interrupted reads and writes resume: the flag is acted on at the next check_interrupt(), not
  // as a spurious I/O error somewhere below it.
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM}) ::sigaction(sig, &sa, nullptr);
}

int pending_interrupt() { return g_signal; }

void check_interrupt() {
  if (int sig = g_signal) throw Interrupted(sig);
}

void request_interrupt(int signal) { g_signal = signal; }

void clear_interrupt() { g_signal = 0; }

}  // namespace ob1q
