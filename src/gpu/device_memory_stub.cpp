// CPU-only LibTorch: no device allocator to ask.
#include "ob1q/common/device_memory.hpp"
#include "ob1q/common/host_info.hpp"

namespace ob1q {

void reset_peak_device_memory(c10::Device) {}
int64_t peak_device_memory(c10::Device) { return -1; }
std::string device_name(c10::Device) { return cpu_model_name(); }

}  // namespace ob1q
