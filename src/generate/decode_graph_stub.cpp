// CPU-only builds: no graphs; decoding runs step by step.
#include "decode_graph.hpp"

namespace ob1q::generate {

std::unique_ptr<DecodeGraph> capture_decode_graph(const std::function<at::Tensor()>&, c10::Device) { return nullptr; }

}  // namespace ob1q::generate
