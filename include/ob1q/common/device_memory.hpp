// Peak device-memory accounting. The CUDA implementation (src/gpu/device_memory_cuda.cpp) is built
// only against a CUDA LibTorch; the CPU build gets a stub that reports "unknown".
#pragma once
#include <c10/core/Device.h>

#include <cstdint>
#include <string>

namespace ob1q {

void reset_peak_device_memory(c10::Device device);
int64_t peak_device_memory(c10::Device device);  // bytes allocated at peak since the reset; -1 if unknown
// What the device is, for reports: the GPU's name, or the CPU's model name.
std::string device_name(c10::Device device);

}  // namespace ob1q
