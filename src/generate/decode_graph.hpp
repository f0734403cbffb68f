// A decode step captured as a CUDA graph and replayed (CUDA builds: decode_graph_cuda.cpp;
// otherwise decode_graph_stub.cpp, which never captures). Internal to src/generate.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <memory>

namespace ob1q::generate {

class DecodeGraph {
 public:
  virtual ~DecodeGraph() = default;
  // Runs the captured step again; returns the step's output tensor (the same storage each time).
  virtual const at::Tensor& replay() = 0;
};

// Captures `step` (which must read its inputs from fixed device buffers and allocate nothing
// that outlives it) after one warm-up run; null when graphs are unavailable on `device`.
std::unique_ptr<DecodeGraph> capture_decode_graph(const std::function<at::Tensor()>& step, c10::Device device);

}  // namespace ob1q::generate
