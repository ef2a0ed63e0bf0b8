// The PyTorch entry of mla_fp8_decode.cu, built by kernels/cuda_mla_fp8.py (torch.utils.cpp_extension.load) on a
// machine with nvcc and a CUDA build of torch. Shapes, dtypes and plans are checked in Python before this is called;
// here only the pointers, strides and launch. The launch goes on torch's current stream (CUDA-graph capturable).
#include <torch/extension.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "mla_fp8_sparse.cu"   // and, through it, mla_fp8_decode.cu

namespace {

using mlacalc_fp8::Params;

size_t smem_bytes(int stages, int rg) {
  return static_cast<size_t>(stages) * mlacalc_fp8::TILE * mlacalc_fp8::ROW_BYTES +
         2 * rg * mlacalc_fp8::WARPS * 16 * mlacalc_fp8::S_STRIDE * sizeof(float) + stages * sizeof(uint64_t);
}

// A kernel launched on torch's stream with `smem` bytes of dynamic shared memory; its attribute set once per
// instantiation (`configured`, the caller's static flags), device and process.
template <typename Kernel>
void launch(Kernel kernel, bool* configured, size_t smem, dim3 grid, int rg, const Params& p, cudaStream_t stream) {
  int device = 0;
  C10_CUDA_CHECK(cudaGetDevice(&device));
  if (device >= 64 || !configured[device]) {
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    if (device < 64) configured[device] = true;
  }
  kernel<<<grid, rg * mlacalc_fp8::WARPS * 32, smem, stream>>>(p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename QT, int STAGES, int RG>
void launch_typed(const Params& p, dim3 grid, cudaStream_t stream) {
  static bool configured[64] = {};
  launch(mlacalc_fp8::mla_fp8_decode_kernel<QT, STAGES, RG>, configured, smem_bytes(STAGES, RG), grid, RG, p, stream);
}

// The fields both kernels read the same way: the tensors' pointers and strides, the split plan
Params common_params(const torch::Tensor& q, const torch::Tensor& kv, const torch::Tensor& block_table,
                     const torch::Tensor& o_part, const torch::Tensor& lse_part, double qk_scale_log2,
                     int64_t capacity, int64_t tokens_per_split) {
  Params p{};
  p.q = q.data_ptr();
  p.kv = static_cast<const uint8_t*>(kv.data_ptr());
  const bool paged = block_table.numel() > 0;
  p.block_table = paged ? block_table.data_ptr<int>() : nullptr;
  p.o_part = o_part.data_ptr<float>();
  p.lse_part = lse_part.data_ptr<float>();
  p.qk_scale_log2 = static_cast<float>(qk_scale_log2);
  p.q_stride_b = q.stride(0);
  p.q_stride_t = q.stride(1);
  p.q_stride_h = q.stride(2);
  p.kv_stride_page = kv.stride(0);
  p.bt_stride = paged ? block_table.stride(0) : 0;
  p.op_stride_b = o_part.stride(0);
  p.op_stride_s = o_part.stride(1);
  p.op_stride_h = o_part.stride(2);
  p.lse_stride_b = lse_part.stride(0);
  p.lse_stride_s = lse_part.stride(1);
  p.H = static_cast<int>(q.size(2));
  p.s_q = static_cast<int>(q.size(1));
  p.page_size = static_cast<int>(kv.size(1));
  p.paged = paged ? 1 : 0;
  p.capacity = static_cast<int>(capacity);
  p.num_pages = static_cast<int>(kv.size(0));
  p.tokens_per_split = static_cast<int>(tokens_per_split);
  return p;
}

}  // namespace

// q [B, s_q, H, 576] bf16/fp16 (s_q x H rows, cta_rows = 16 or 32 of them a CTA); kv [pages, page_size, 576] or [B, capacity, 576] as uint8 (the e4m3 bytes);
// block_table [B, n] int32 or an empty tensor (contiguous); seqlens [B] int32; o_part [B, splits, s_q H, 512] and
// lse_part [B, splits, s_q H] fp32; kv_scale a 1-element fp32 tensor or an empty one (kv_scale_value is used).
void mla_fp8_decode(torch::Tensor q, torch::Tensor kv, torch::Tensor block_table, torch::Tensor seqlens,
                    torch::Tensor o_part, torch::Tensor lse_part, torch::Tensor kv_scale, double kv_scale_value,
                    double qk_scale_log2, int64_t capacity, int64_t tokens_per_split, int64_t stages,
                    int64_t cta_rows) {
  const c10::cuda::CUDAGuard guard(q.device());
  Params p = common_params(q, kv, block_table, o_part, lse_part, qk_scale_log2, capacity, tokens_per_split);
  p.seqlens = seqlens.data_ptr<int>();
  p.kv_scale = kv_scale.numel() > 0 ? kv_scale.data_ptr<float>() : nullptr;
  p.kv_scale_value = static_cast<float>(kv_scale_value);
  p.rows = p.H * p.s_q;
  const int head_groups = (p.rows + static_cast<int>(cta_rows) - 1) / static_cast<int>(cta_rows);
  const dim3 grid(static_cast<unsigned>(head_groups), static_cast<unsigned>(o_part.size(1)),
                  static_cast<unsigned>(q.size(0)));
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const bool bf16 = q.scalar_type() == at::kBFloat16;
#define MLACALC_FP8_LAUNCH(S, RG) \
  (bf16 ? launch_typed<__nv_bfloat16, S, RG>(p, grid, stream) : launch_typed<__half, S, RG>(p, grid, stream))
  if (cta_rows == 16) {
    stages == 2 ? MLACALC_FP8_LAUNCH(2, 1) : stages == 3 ? MLACALC_FP8_LAUNCH(3, 1) : MLACALC_FP8_LAUNCH(4, 1);
  } else {  // two row groups: 8 warps, one CTA an SM (the Python plan's splits count it so)
    stages == 2 ? MLACALC_FP8_LAUNCH(2, 2) : MLACALC_FP8_LAUNCH(3, 2);
  }
#undef MLACALC_FP8_LAUNCH
}

namespace {

size_t sparse_smem_bytes(int rg) {
  constexpr int stages = 2;
  return static_cast<size_t>(stages) * mlacalc_fp8::TILE * mlacalc_fp8::SROW +
         static_cast<size_t>(rg) * mlacalc_fp8::WARPS * 16 * mlacalc_fp8::S_STRIDE * sizeof(float) +
         stages * mlacalc_fp8::TILE + stages * sizeof(uint64_t);
}

template <int RG>
void launch_sparse(const Params& p, dim3 grid, cudaStream_t stream) {
  static bool configured[64] = {};
  launch(mlacalc_fp8::mla_fp8_sparse_kernel<2, RG>, configured, sparse_smem_bytes(RG), grid, RG, p, stream);
}

}  // namespace

// Sparse decode over the fp8-ds cache (mla_fp8_sparse.cu): q [B, s_q, H, 576] bf16; kv [pages, page_size, 656]
// uint8 (rows kv_stride_row bytes apart); indices [B, s_q, topk] int32; block_table [B, n] int32 or an empty tensor
// (indices are then pool rows); seqlens [B] int32 or an empty tensor; o_part [B s_q, splits, H, 512] and lse_part
// [B s_q, splits, H] fp32 (the caller merges them).
void mla_fp8_sparse_decode(torch::Tensor q, torch::Tensor kv, torch::Tensor indices, torch::Tensor block_table,
                           torch::Tensor seqlens, torch::Tensor o_part, torch::Tensor lse_part, double qk_scale_log2,
                           int64_t capacity, int64_t tokens_per_split, int64_t cta_rows) {
  const c10::cuda::CUDAGuard guard(q.device());
  Params p = common_params(q, kv, block_table, o_part, lse_part, qk_scale_log2, capacity, tokens_per_split);
  p.has_lens = seqlens.numel() > 0 ? 1 : 0;
  p.seqlens = p.has_lens ? seqlens.data_ptr<int>() : nullptr;
  p.indices = indices.data_ptr<int>();
  p.idx_stride_b = indices.stride(0);
  p.idx_stride_t = indices.stride(1);
  p.topk = static_cast<int>(indices.size(2));
  p.kv_stride_row = kv.stride(1);
  p.rows = p.H;
  const int head_groups = (p.rows + static_cast<int>(cta_rows) - 1) / static_cast<int>(cta_rows);
  const dim3 grid(static_cast<unsigned>(head_groups), static_cast<unsigned>(o_part.size(1)),
                  static_cast<unsigned>(q.size(0) * q.size(1)));
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  cta_rows == 16 ? launch_sparse<1>(p, grid, stream) : launch_sparse<2>(p, grid, stream);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("mla_fp8_decode", &mla_fp8_decode, "Absorbed MLA decode over an fp8 e4m3 cache, 16 or 32 rows a CTA (sm_90)");
  m.def("mla_fp8_sparse_decode", &mla_fp8_sparse_decode,
        "Sparse (top-k) absorbed MLA decode over the fp8-ds cache, 16 or 32 rows a CTA (sm_90)");
}
