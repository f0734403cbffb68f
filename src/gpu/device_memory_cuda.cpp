// CUDA LibTorch: the caching allocator's statistics (what torch.cuda.max_memory_allocated reports).
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>

#include "ob1q/common/device_memory.hpp"
#include "ob1q/common/host_info.hpp"

namespace ob1q {

void reset_peak_device_memory(c10::Device device) {
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
}

int64_t peak_device_memory(c10::Device device) {
  if (!device.is_cuda()) return -1;
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
  return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
}

std::string device_name(c10::Device device) {
  if (!device.is_cuda()) return cpu_model_name();
  return at::cuda::getDeviceProperties(device.index())->name;
}

}  // namespace ob1q
