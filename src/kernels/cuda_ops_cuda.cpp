// CUDA builds: the PackedMatrix ops on a CUDA device, launching the kernels of cuda/*.cu on the
// current stream (so that CUDA-graph capture and stream guards apply to them as to ATen ops).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "cuda/launch.hpp"
#include "ob1q/kernels/packed_matrix.hpp"
#include "ops.hpp"

namespace ob1q::kernels {

bool cuda_kernels_built() { return true; }

namespace cuda {

namespace {

int32_t elem_of(at::ScalarType t) {
  switch (t) {
    case at::kHalf: return cu::kF16;
    case at::kBFloat16: return cu::kBF16;
    case at::kFloat: return cu::kF32;
    default: TORCH_CHECK(false, "packed linear: unsupported dtype ", t);
  }
}

void check_launch(const char* what) {
  if (const char* e = cu::last_error()) TORCH_CHECK(false, what, ": CUDA error: ", e);
}

cudaStream_t stream_of(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}

}  // namespace

bool built() { return true; }

at::Tensor binary_gemv(const BinaryView& v, const std::vector<int32_t>& block_tile_begin, const at::Tensor& tickets,
                       const at::Tensor& x2d, const at::Tensor& bias) {
  const c10::cuda::CUDAGuard guard(x2d.device());
  const int64_t n = x2d.size(0);
  const int32_t elem = elem_of(x2d.scalar_type());
  const GemvPlan plan = plan_gemv(v.rows, v.nblocks, block_tile_begin.data(),
                                  at::cuda::getDeviceProperties(x2d.device().index())->multiProcessorCount);
  at::Tensor part = at::empty({plan.splits, n, v.rows}, x2d.options().dtype(at::kFloat));
  at::Tensor y = at::empty({n, v.rows}, x2d.options());
  const at::Tensor b = bias.defined() ? bias.to(x2d.scalar_type()).contiguous() : at::Tensor();
  TORCH_CHECK(tickets.numel() >= plan.row_groups, "binary_gemv: too few tickets");
  cu::binary_gemv(v, plan, x2d.data_ptr(), elem, n, b.defined() ? b.data_ptr() : nullptr, part.data_ptr<float>(),
                  tickets.data_ptr<int32_t>(), y.data_ptr(), stream_of(x2d));
  check_launch("binary_gemv");
  return y;
}

void binary_dense(const BinaryView& v, const ZeroFixes& fixes, at::ScalarType round_to, at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(out.device());
  const int64_t nfix = fixes.rc.defined() ? fixes.rc.size(0) : 0;
  cu::binary_dense(v, elem_of(round_to), elem_of(out.scalar_type()), out.data_ptr(),
                   nfix ? fixes.rc.data_ptr<int64_t>() : nullptr, nfix ? fixes.mask.data_ptr<int32_t>() : nullptr, nfix,
                   stream_of(out));
  check_launch("binary_dense");
}

at::Tensor pb_gemv(const PbView& v, const at::Tensor& x2d, const at::Tensor& bias, at::ScalarType round_to) {
  const c10::cuda::CUDAGuard guard(x2d.device());
  const int32_t elem = elem_of(x2d.scalar_type());
  at::Tensor y = at::empty({x2d.size(0), v.rows}, x2d.options());
  const at::Tensor b = bias.defined() ? bias.to(x2d.scalar_type()).contiguous() : at::Tensor();
  // Weights are rounded through the checkpoint dtype, as on the dense path.
  cu::pb_gemv(v, x2d.data_ptr(), elem, x2d.size(0), elem_of(round_to), b.defined() ? b.data_ptr() : nullptr, y.data_ptr(),
              stream_of(x2d));
  check_launch("pb_gemv");
  return y;
}

void pb_dense(const PbView& v, const at::Tensor& zero_rc, at::ScalarType round_to, at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(out.device());
  const int64_t nz = zero_rc.defined() ? zero_rc.size(0) : 0;
  cu::pb_dense(v, elem_of(round_to), elem_of(out.scalar_type()), out.data_ptr(),
               nz ? zero_rc.data_ptr<int64_t>() : nullptr, nz, stream_of(out));
  check_launch("pb_dense");
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous(), wc = w.to(x.scalar_type()).contiguous();
  at::Tensor y = at::empty_like(xc);
  const int64_t H = x.size(-1);
  cu::rms_norm(xc.data_ptr(), wc.data_ptr(), elem_of(x.scalar_type()), xc.numel() / H, H, float(eps), y.data_ptr(),
               stream_of(x));
  check_launch("rms_norm");
  return y;
}

at::Tensor silu_mul(const at::Tensor& g, const at::Tensor& u) {
  const c10::cuda::CUDAGuard guard(g.device());
  const at::Tensor gc = g.contiguous(), uc = u.to(g.scalar_type()).contiguous();
  TORCH_CHECK(gc.sizes() == uc.sizes(), "silu_mul: shapes differ");
  at::Tensor y = at::empty_like(gc);
  cu::silu_mul(gc.data_ptr(), uc.data_ptr(), elem_of(g.scalar_type()), gc.numel(), y.data_ptr(), stream_of(g));
  check_launch("silu_mul");
  return y;
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& pos) {
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous(), cc = cos.to(at::kFloat).contiguous(), sc = sin.to(at::kFloat).contiguous();
  const at::Tensor pc = pos.to(at::kLong).contiguous();
  at::Tensor y = at::empty_like(xc);
  cu::rope(xc.data_ptr(), cc.data_ptr<float>(), sc.data_ptr<float>(), pc.data_ptr<int64_t>(), elem_of(x.scalar_type()),
           x.size(0), x.size(1), x.size(2), x.size(3), y.data_ptr(), stream_of(x));
  check_launch("rope");
  return y;
}

}  // namespace cuda
}  // namespace ob1q::kernels
