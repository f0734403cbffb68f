// The interrupt flag: the handler records SIGINT / SIGTERM, check_interrupt() turns it into the
// Interrupted exception that main() maps to exit status 128 + signal.
#include <gtest/gtest.h>
#include <signal.h>

#include "ob1q/common/interrupt.hpp"

using namespace ob1q;

TEST(Interrupt, SignalBecomesAnExceptionAtTheNextCheck) {
  install_interrupt_handlers();
  clear_interrupt();
  EXPECT_NO_THROW(check_interrupt());
  for (int sig : {SIGINT, SIGTERM}) {
    ASSERT_EQ(::raise(sig), 0);  // the process survives: the handler only sets the flag
    EXPECT_EQ(pending_interrupt(), sig);
    try {
      check_interrupt();
      ADD_FAILURE() << "no throw";
    } catch (const Interrupted& e) {
      EXPECT_EQ(e.signal(), sig);
      EXPECT_EQ(e.exit_code(), sig == SIGINT ? 130 : 143);
      EXPECT_STREQ(e.signal_name(), sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    clear_interrupt();
  }
  // Not a std::exception: a catch (const std::exception&) on the way up must not swallow it.
  request_interrupt(SIGINT);
  bool escaped = false;
  try {
    try {
      check_interrupt();
    } catch (const std::exception&) {
    }
  } catch (const Interrupted&) {
    escaped = true;
  }
  EXPECT_TRUE(escaped);
  clear_interrupt();
}
