// ob1q demo: builds the small demo model + text that the embedded default falls back to on a
// machine without ../shared (see model/demo.hpp).
#include <dirent.h>

#include <algorithm>

#include "cli.hpp"
#include "ob1q/common/log.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/output_dir.hpp"
#include "ob1q/model/demo.hpp"

#ifndef OB1Q_SOURCE_DIR
#define OB1Q_SOURCE_DIR "."
#endif

namespace ob1q::cli {

void register_demo(CLI::App& app) {
  auto out = std::make_shared<std::string>(std::string(OB1Q_SOURCE_DIR) + "/demo");
  auto overwrite = std::make_shared<bool>(false);
  auto g = std::make_shared<GlobalOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "Build the demo model and text (used when no real model is available)");
  cmd->add_option("--out", *out, "output directory (written atomically)")->capture_default_str();
  cmd->add_flag("--overwrite", *overwrite, "replace an existing output directory");
  cmd->add_option("--log-level", g->log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  cmd->callback([out, overwrite, g] {
    apply(*g);
    // Text the project ships: its own documentation. The first file is held out as test text.
    const std::string readme = std::string(OB1Q_SOURCE_DIR) + "/README.md", docs = std::string(OB1Q_SOURCE_DIR) + "/docs";
    StagingDir stage(*out, *overwrite, {{"the documentation", readme}, {"the documentation", docs}});
    std::vector<std::string> files{readme};
    if (DIR* d = opendir(docs.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.size() > 3 && n.substr(n.size() - 3) == ".md") files.push_back(docs + "/" + n);
      }
      closedir(d);
    }
    std::sort(files.begin() + 1, files.end());
    std::string train, test;
    for (const auto& f : files) {
      if (!file_exists(f)) continue;
      std::string t = read_file(f);
      (f == files.front() ? test : train) += t + "\n";
    }
    if (train.empty()) train = test;
    model::write_demo(stage.path(), train, test);
    stage.commit();
    OB1Q_INFO("demo model written to %s/model, text to %s/data", out->c_str(), out->c_str());
  });
}

}  // namespace ob1q::cli
