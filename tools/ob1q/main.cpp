// ob1q: 1-bit post-training quantization of LLMs, and what it costs in quality.
// One subcommand per job (quantize, eval, inspect, export, demo), each a thin layer of option
// parsing over one library call.
#include <c10/util/Exception.h>

#include <cstdio>

#include "cli.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/common/interrupt.hpp"
#include "ob1q/pack/checkpoint.hpp"

int main(int argc, char** argv) {
  // Logs and progress go to stderr (ob1q/common/log.hpp); stdout carries results only.
  CLI::App app{"ob1q " OB1Q_VERSION " - 1-bit post-training quantization of LLMs, and what it costs in quality"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ob1q " OB1Q_VERSION);
  ob1q::cli::register_quantize(app);
  ob1q::cli::register_eval(app);
  ob1q::cli::register_inspect(app);
  ob1q::cli::register_export(app);
  ob1q::cli::register_generate(app);
  ob1q::cli::register_bench(app);
  ob1q::cli::register_demo(app);
  ob1q::pack::register_format();  // packed checkpoints open wherever a model directory is accepted
  ob1q::install_interrupt_handlers();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ob1q::Interrupted& e) {
    // Unwinding already removed the staging directory and the lock (RAII).
    std::fprintf(stderr, "ob1q: interrupted (%s); stopped cleanly, no partial files left\n", e.signal_name());
    return e.exit_code();
  } catch (const ob1q::Error& e) {
    std::fprintf(stderr, "ob1q: error: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "ob1q: internal error (LibTorch): %s\n", e.what_without_backtrace());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ob1q: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
