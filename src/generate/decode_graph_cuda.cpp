// CUDA builds: the decode step as a CUDA graph. Capture runs on a side stream (required by CUDA)
// after a warm-up run there, so that lazily created handles (cuBLAS workspaces, kernel modules)
// exist before capture; replays are ordered on the current stream.
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "decode_graph.hpp"

namespace ob1q::generate {

namespace {

class CudaDecodeGraph : public DecodeGraph {
 public:
  CudaDecodeGraph(const std::function<at::Tensor()>& step, c10::Device device) : device_(device) {
    const c10::cuda::CUDAGuard guard(device);
    auto current = c10::cuda::getCurrentCUDAStream(device.index());
    auto side = c10::cuda::getStreamFromPool(false, device.index());
    side.synchronize();
    current.synchronize();
    {
      c10::cuda::CUDAStreamGuard sg(side);
      step();  // warm-up
      side.synchronize();
      graph_.capture_begin();
      out_ = step();
      graph_.capture_end();
    }
    side.synchronize();
  }

  const at::Tensor& replay() override {
    const c10::cuda::CUDAGuard guard(device_);
    graph_.replay();
    return out_;
  }

 private:
  c10::Device device_;
  at::cuda::CUDAGraph graph_;
  at::Tensor out_;
};

}  // namespace

std::unique_ptr<DecodeGraph> capture_decode_graph(const std::function<at::Tensor()>& step, c10::Device device) {
  if (!device.is_cuda()) return nullptr;
  return std::make_unique<CudaDecodeGraph>(step, device);
}

}  // namespace ob1q::generate
