// CPU-only LibTorch: no device allocator to ask.
#include "ob1q/common/device_memory.hpp"

namespace ob1q {

void reset_peak_device_memory(c10::Device) {}
int64_t peak_device_memory(c10::Device) { return -1; }

}  // namespace ob1q
