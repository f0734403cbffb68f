#include "ob1q/common/log.hpp"
#include "ob1q/quant/output.hpp"

#include <ATen/ATen.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/io/safetensors.hpp"
#include "ob1q/io/weight_source.hpp"

namespace ob1q::quant {

namespace {

bool dir_nonempty(const std::string& d) {
  DIR* dir = opendir(d.c_str());
  if (!dir) return false;
  bool any = false;
  while (dirent* e = readdir(dir))
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") any = true;
  closedir(dir);
  return any;
}

void remove_tree(const std::string& d) {
  std::string cmd = "rm -rf '" + d + "'";
  if (std::system(cmd.c_str()) != 0) OB1Q_WARN("could not remove %s", d.c_str());
}

// Files of a HF model directory that are not weights: configs and tokenizer.
const char* kCompanions[] = {"config.json",         "generation_config.json", "tokenizer.model", "tokenizer.json",
                             "tokenizer.json.gz",   "tokenizer_config.json",  "special_tokens_map.json",
                             "added_tokens.json",   "vocab.json",             "merges.txt"};

}  // namespace

void check_output_dir(const std::string& out, bool overwrite) {
  if (out.empty()) fail("--out", "an output directory is required");
  if (file_exists(out)) fail(out, "exists and is a file");
  if (dir_nonempty(out) && !overwrite) fail(out, "exists and is not empty (pass --overwrite to replace it)");
}

void write_fake_quant(const std::string& out, const std::string& source_dir,
                      const std::map<std::string, at::Tensor>& replaced, const nlohmann::json& report,
                      bool overwrite) {
  check_output_dir(out, overwrite);
  const std::string tmp = out + ".partial-" + std::to_string(::getpid());
  remove_tree(tmp);
  if (::mkdir(tmp.c_str(), 0755) != 0) fail(tmp, "cannot create the output directory");
  try {
    for (const char* name : kCompanions) {
      std::string src = path_join(source_dir, name);
      if (file_exists(src)) {
        write_file_atomic(path_join(tmp, name), read_file_bytes(src));
      }
    }
    auto ckpt = io::Checkpoint::open(source_dir);
    io::SafetensorsWriter w;
    size_t used = 0;
    for (const auto& name : ckpt->names()) {
      auto ref = ckpt->get(name);
      auto it = replaced.find(name);
      if (it == replaced.end()) {
        w.add(name, ref.info->dtype, ref.info->shape, ref.file->data(*ref.info), ref.info->nbytes);
        continue;
      }
      ++used;
      at::Tensor t = it->second.to(at::kCPU).to(io::to_scalar_type(ref.info->dtype, name)).contiguous();
      if (t.sizes().vec() != ref.info->shape) fail(name, "quantized tensor shape differs from the source");
      w.add(name, ref.info->dtype, ref.info->shape, t.data_ptr(), t.numel() * t.element_size());
    }
    if (used != replaced.size()) fail(source_dir, "some quantized tensors have no counterpart in the checkpoint");
    w.set_metadata("format", "pt");
    w.set_metadata("ob1q", "fake-quant");
    w.write(path_join(tmp, "model.safetensors"));
    write_file_atomic(path_join(tmp, "ob1q_report.json"), report.dump(2) + "\n");
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  std::string old;
  if (dir_exists(out)) {
    old = out + ".old-" + std::to_string(::getpid());
    if (std::rename(out.c_str(), old.c_str()) != 0) fail(out, "cannot move the previous directory aside");
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) fail(out, "cannot rename the finished output into place");
  if (!old.empty()) remove_tree(old);
}

}  // namespace ob1q::quant
