#include "ob1q/quant/output.hpp"

#include <ATen/ATen.h>

#include <cstring>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/output_dir.hpp"
#include "ob1q/io/safetensors.hpp"
#include "ob1q/io/weight_source.hpp"

namespace ob1q::quant {


void write_fake_quant(const std::string& out, const std::string& source_dir,
                      const std::map<std::string, at::Tensor>& replaced, const nlohmann::json& report,
                      bool overwrite) {
  StagingDir stage(out, overwrite, {{"the source model", source_dir}});
  io::copy_companions(source_dir, stage.path());
  auto ckpt = io::Checkpoint::open(source_dir);
  io::SafetensorsWriter w;
  size_t used = 0;
  for (const auto& name : ckpt->names()) {
    auto ref = ckpt->get(name);
    auto it = replaced.find(name);
    if (it == replaced.end()) {
      w.add_lazy(name, ref.info->dtype, ref.info->shape,
                 [ref](void* dst) { std::memcpy(dst, ref.file->data(*ref.info), ref.info->nbytes); });
      continue;
    }
    ++used;
    if (it->second.sizes().vec() != ref.info->shape) fail(name, "quantized tensor shape differs from the source");
    const at::Tensor& t = it->second;
    const at::ScalarType dt = io::to_scalar_type(ref.info->dtype, name);
    w.add_lazy(name, ref.info->dtype, ref.info->shape, [t, dt](void* dst) {
      at::Tensor c = t.to(at::kCPU).to(dt).contiguous();
      std::memcpy(dst, c.data_ptr(), c.numel() * c.element_size());
    });
  }
  if (used != replaced.size()) fail(source_dir, "some quantized tensors have no counterpart in the checkpoint");
  w.set_metadata("format", "pt");
  w.set_metadata("ob1q", "fake-quant");
  w.write(stage.file("model.safetensors"));
  write_file_atomic(stage.file("ob1q_report.json"), report.dump(2) + "\n");
  stage.commit();
}

}  // namespace ob1q::quant
