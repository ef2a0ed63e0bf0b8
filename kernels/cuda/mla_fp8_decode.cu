// Absorbed MLA decode over an fp8 e4m3 latent cache, 16 or 32 query rows (query tokens x heads) a CTA, sm_90.
//
// Why a kernel of its own (docs/kernels-notes.md, thirty-fourth session): the Triton and Gluon fp8 paths widen each
// fp8 tile to fp16 in shared memory and read it back for the tensor-core dots, up to 221 KB through shared memory a
// 32-key tile; at 16 heads (DeepSeek-V3 at tensor parallel 8) they run 1.8-2.6x the fp8 floor, no faster than the
// bf16 kernel over twice the bytes. Here the fp8 bytes go from shared memory straight into the registers of
// mma.sync.m16n8k16 (16 query rows are exactly its M) and are widened there; the same registers, transposed in
// place with movmatrix, are the value operand. Shared memory sees each byte written once (a bulk copy) and read
// twice, plus a 4 KB exchange of partial scores a 64-key tile.
//
// Work split. A CTA of 4 warps (per row group) takes one (sequence, split, head group) triple: a call of more rows
// than a CTA's 16 or 32 runs in head groups of that many rows, which read the same tiles (the grid puts the head
// groups of a (sequence, split) next to each other, so the second reads come from L2). Warp w owns latent dims [128w, 128w + 128) and
// RoPE dims [512 + 16w, 512 + 16w + 16): it computes the partial scores of all 16 rows over its 144 dims, the four
// partials are summed through shared memory, and each warp then runs the same online softmax and P @ V for its own
// 128 output dims (its O accumulator: 16 x 128 fp32 = 64 registers a thread).
//
// Register layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16" and "movmatrix"), lane = 4 g + qd:
//   A (16 x 16, f16): a0 = A[g][2qd..2qd+1], a1 = A[g+8][2qd..], a2 = A[g][2qd+8..], a3 = A[g+8][2qd+8..]
//   B (16 x 8, f16):  b0 = B[2qd..2qd+1][g],  b1 = B[2qd+8..2qd+9][g]
//   C (16 x 8, f32):  c0, c1 = C[g][2qd..2qd+1], c2, c3 = C[g+8][2qd..2qd+1]
// A dot over K may take its K slots in any order, as long as both operands use the same one. For the scores
// S = Q K^T (B = K^T: k a latent dim, n a key) lane (g, qd) holds key g of an 8-key group and reads 16 contiguous
// bytes of it from shared memory at bytes 16 qd and 64 + 16 qd of the warp's 128 (conflict-free: 576-byte rows put
// keys g and g + 1 half a bank row apart). Its 4-byte word i of those 32 bytes (k-step i, 0..7) fills K slots
// {2qd, 2qd+1} (bytes 0, 1) and {2qd+8, 2qd+9} (bytes 2, 3); k-step 8 takes 4 RoPE bytes at 512 + 16w + 4qd. So
//     k-step i, byte e of lane (g, qd)  <->  dim 128 w + 64 (i / 4) + 16 qd + 4 (i % 4) + e       (latent)
//     k-step 8, byte e                  <->  dim 512 + 16 w + 4 qd + e                            (RoPE)
// and Q's A fragment takes the same dims: lane (g, qd) keeps Q[g][..] and Q[g+8][..] at exactly its own 36 dims,
// loaded once (36 registers). For P @ V (B = V: k a key, n a latent dim) the 8 x 8 block "keys g x slots 2qd..+1"
// of one k-step's bytes {2h, 2h+1} (h = 0, 1), widened to f16x2, is transposed by movmatrix into "slot g x keys
// 2qd..+1", which is V's B fragment for 8 keys; two 8-key groups make a 16-key k-step. Slot c of half h came from
// lane qd' = c / 2, byte 2h + c % 2, so output column (dim tile d = 2 i + h, n) is dim
//     128 w + 64 (i / 4) + 16 (n / 2) + 4 (i % 4) + 2 h + n % 2,
// and lane (g, qd)'s C fragment (n = 2qd, 2qd + 1) over the 16 tiles holds dims 128 w + 64 c + 16 qd + [0, 16),
// c = 0, 1: four float4 stores a row. kernels/cuda_mla_fp8.py mirrors these maps (tests/test_kernels_cuda_fp8.py
// runs the whole fragment algorithm in torch on the CPU against the reference).
//
// Up to 32 rows (RG = 2 row groups of 16, 8 warps: each group its own exchange and softmax over the same stages) and
// several query tokens a sequence (row r = t H + h; token t sees the keys before len - (s_q - 1 - t), the decode
// kernels' causal convention): checked by the fragment model on the CPU and against the float64 reference on an
// H100 (thirty-fifth session); impl "auto" takes the kernel up to 32 rows (kernels/decode._cuda_applies).
//
// Output: the split's normalised partial (fp32) and its base-2 log-sum-exp, merged by triton_split_kv.combine_splits
// (the Triton decode's format). Keys past a sequence's end are never copied; table entries are clamped to the
// cache and lengths to the capacity, so a bad value never faults (as the Triton kernels).

#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>

namespace mlacalc_fp8 {

constexpr int D_LAT = 512;            // kv_lora_rank
constexpr int D_ROPE = 64;            // qk_rope_head_dim
constexpr int ROW_BYTES = D_LAT + D_ROPE;  // one fp8 key: 576 bytes
constexpr int TILE = 64;              // keys a tile (8 groups of 8)
constexpr int GROUPS = TILE / 8;
constexpr int WARPS = 4;
constexpr int S_STRIDE = TILE + 8;    // floats a row of the partial-score exchange (conflict-free float2 stores)
#define MLACALC_NEG_INF (-__int_as_float(0x7f800000))

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbar_init(uint64_t* bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count));
}

__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n"
      "}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}

// rows x 576 bytes from global to shared memory, completing on `bar` (16-byte aligned, a multiple of 16 bytes)
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar))
      : "memory");
}

// two e4m3 values (low 16 bits of x, then high) widened to f16x2
__device__ __forceinline__ uint32_t e4m3x2_to_f16x2(uint16_t x) {
  uint32_t out;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(out) : "h"(x));
  return out;
}

__device__ __forceinline__ uint32_t transpose8x8(uint32_t x) {
  uint32_t out;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;" : "=r"(out) : "r"(x));
  return out;
}

__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

template <typename QT>
__device__ __forceinline__ float to_float(QT x);
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }
template <>
__device__ __forceinline__ float to_float<__half>(__half x) { return __half2float(x); }
struct Params {
  const void* q;            // [B, s_q, H, 576] bf16 or fp16
  const uint8_t* kv;        // fp8 bytes: [num_pages, page_size, 576] (paged) or [B, capacity, 576]
  const int* block_table;   // [B, pages a row] (paged) or null
  const int* seqlens;       // [B]
  float* o_part;            // [B, splits, rows, 512]
  float* lse_part;          // [B, splits, rows]
  const float* kv_scale;    // 1 element, or null: kv_scale_value
  float kv_scale_value;
  float qk_scale_log2;      // softmax_scale * log2(e) (times the kv scale in the kernel)
  long long q_stride_b, q_stride_t, q_stride_h;        // elements
  long long kv_stride_page;                            // bytes: a page (paged) or a sequence (contiguous)
  long long bt_stride;                                 // entries
  long long op_stride_b, op_stride_s, op_stride_h;     // floats
  long long lse_stride_b, lse_stride_s;
  int H, s_q, rows, page_size, paged, capacity, num_pages, tokens_per_split;   // rows = s_q x H
  // sparse decode (mla_fp8_sparse.cu): indices [B, s_q, topk] int32, token positions through the block table (or
  // rows of the flattened pool without one), -1 unused; a cache row's stride; lengths given or not
  const int* indices;
  long long idx_stride_b, idx_stride_t;                // entries
  long long kv_stride_row;                             // bytes
  int topk, has_lens;
};

// The tile of keys [n0, n0 + nv) of sequence b into stage `dst`: one bulk copy per page it touches.
__device__ __forceinline__ void issue_tile(const Params& p, int b, int n0, int nv, uint8_t* dst, uint64_t* bar) {
  mbar_expect_tx(bar, static_cast<uint32_t>(nv) * ROW_BYTES);
  if (!p.paged) {
    bulk_copy(dst, p.kv + b * p.kv_stride_page + static_cast<long long>(n0) * ROW_BYTES,
              static_cast<uint32_t>(nv) * ROW_BYTES, bar);
    return;
  }
  int done = 0;
  while (done < nv) {
    const int pos = n0 + done;
    const int slot = pos / p.page_size;
    const int within = pos - slot * p.page_size;
    const int rows = min(nv - done, p.page_size - within);
    int page = p.block_table[b * p.bt_stride + slot];
    page = min(max(page, 0), p.num_pages - 1);  // a bad table entry reads some page, never outside the cache
    bulk_copy(dst + done * ROW_BYTES, p.kv + page * p.kv_stride_page + static_cast<long long>(within) * ROW_BYTES,
              static_cast<uint32_t>(rows) * ROW_BYTES, bar);
    done += rows;
  }
}

// ---- One tile's steps, shared by the dense kernel and the sparse one (mla_fp8_sparse.cu) ----

// A warp's score partials of one 8-key group over its 128 latent dims (8 k-steps; `key`: the group's key g row in
// shared memory, the maps in the header comment), added into s.
__device__ __forceinline__ void latent_scores(const uint8_t* key, int warp, int qd, const uint32_t (*qf)[4], float* s) {
  const uint4 lo = *reinterpret_cast<const uint4*>(key + 128 * warp + 16 * qd);
  const uint4 hi = *reinterpret_cast<const uint4*>(key + 128 * warp + 64 + 16 * qd);
  const uint32_t words[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
  for (int i = 0; i < 8; ++i) mma16816(s, qf[i], e4m3x2_to_f16x2(words[i] & 0xffff), e4m3x2_to_f16x2(words[i] >> 16));
}

// A warp's score partials (16 rows x 64 keys) into its slot of the exchange
__device__ __forceinline__ void write_partials(float* mine, const float (*s)[4], int g, int qd) {
#pragma unroll
  for (int j = 0; j < GROUPS; ++j) {
    *reinterpret_cast<float2*>(mine + g * S_STRIDE + 8 * j + 2 * qd) = make_float2(s[j][0], s[j][1]);
    *reinterpret_cast<float2*>(mine + (g + 8) * S_STRIDE + 8 * j + 2 * qd) = make_float2(s[j][2], s[j][3]);
  }
}

// The four warps' partials summed (every warp in the same order: the same scores, the same softmax), scaled and
// masked (visible(half, key): whether row g + 8 half sees key `key` of the tile), the online softmax's update of
// m_i, l_i and o, and P as the A operand of the 4 16-key steps, each key's p times p_scale(j, e) (key 8j + 2qd + e;
// 1 for the dense kernel, the key's fp8-ds scale for the sparse one).
template <typename Visible, typename PScale>
__device__ __forceinline__ void softmax_tile(const float* all, float (*s)[4], Visible visible, float qk_scale,
                                             PScale p_scale, float* m_i, float* l_i, float (*o)[4],
                                             uint32_t (*pa)[4], int g, int qd) {
  float mx[2] = {MLACALC_NEG_INF, MLACALC_NEG_INF};
#pragma unroll
  for (int j = 0; j < GROUPS; ++j) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float2 sum = make_float2(0.0f, 0.0f);
#pragma unroll
      for (int w = 0; w < WARPS; ++w) {
        const float2 v = *reinterpret_cast<const float2*>(all + (w * 16 + g + 8 * half) * S_STRIDE + 8 * j + 2 * qd);
        sum.x += v.x;
        sum.y += v.y;
      }
      const int key = 8 * j + 2 * qd;
      s[j][2 * half] = visible(half, key) ? sum.x * qk_scale : MLACALC_NEG_INF;
      s[j][2 * half + 1] = visible(half, key + 1) ? sum.y * qk_scale : MLACALC_NEG_INF;
      mx[half] = fmaxf(mx[half], fmaxf(s[j][2 * half], s[j][2 * half + 1]));
    }
  }
  float alpha[2], m_off[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    mx[half] = fmaxf(mx[half], __shfl_xor_sync(0xffffffff, mx[half], 1));
    mx[half] = fmaxf(mx[half], __shfl_xor_sync(0xffffffff, mx[half], 2));
    // a row may see no key yet (a later token's row, or the first tiles of a split past an earlier token's
    // end): its max stays -inf, and 0 stands in for it so that no inf - inf is taken
    const float m_new = fmaxf(m_i[half], mx[half]);
    const float m_use = m_new == MLACALC_NEG_INF ? 0.0f : m_new;
    alpha[half] = exp2f(m_i[half] - m_use);
    m_i[half] = m_new;
    m_off[half] = m_use;
    l_i[half] *= alpha[half];
  }
#pragma unroll
  for (int d = 0; d < 16; ++d) {
    o[d][0] *= alpha[0];
    o[d][1] *= alpha[0];
    o[d][2] *= alpha[1];
    o[d][3] *= alpha[1];
  }
#pragma unroll
  for (int j = 0; j < GROUPS; ++j) {
    const float p0 = exp2f(s[j][0] - m_off[0]), p1 = exp2f(s[j][1] - m_off[0]);
    const float p2 = exp2f(s[j][2] - m_off[1]), p3 = exp2f(s[j][3] - m_off[1]);
    l_i[0] += p0 + p1;
    l_i[1] += p2 + p3;
    const float c0 = p_scale(j, 0), c1 = p_scale(j, 1);
    pa[j / 2][2 * (j % 2)] = pack_half2(p0 * c0, p1 * c1);      // row g: K slots 2qd.. (even group) or 2qd + 8..
    pa[j / 2][2 * (j % 2) + 1] = pack_half2(p2 * c0, p3 * c1);  // row g + 8
  }
}

// P @ V for one tile whose rows are ROW apart in shared memory: each 16-key step re-reads its two 8-key groups'
// latent bytes, widens and transposes them
template <int ROW>
__device__ __forceinline__ void pv_tile(const uint8_t* tile, int warp, int g, int qd, const uint32_t (*pa)[4],
                                        float (*o)[4]) {
#pragma unroll
  for (int ks = 0; ks < GROUPS / 2; ++ks) {
    uint32_t v[2][16];  // [group][dim tile 2 i + h]
#pragma unroll
    for (int gi = 0; gi < 2; ++gi) {
      const uint8_t* key = tile + (8 * (2 * ks + gi) + g) * ROW;
      const uint4 lo = *reinterpret_cast<const uint4*>(key + 128 * warp + 16 * qd);
      const uint4 hi = *reinterpret_cast<const uint4*>(key + 128 * warp + 64 + 16 * qd);
      const uint32_t words[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        v[gi][2 * i] = transpose8x8(e4m3x2_to_f16x2(words[i] & 0xffff));
        v[gi][2 * i + 1] = transpose8x8(e4m3x2_to_f16x2(words[i] >> 16));
      }
    }
#pragma unroll
    for (int d = 0; d < 16; ++d) mma16816(o[d], pa[ks], v[0][d], v[1][d]);
  }
}

// The end of a CTA: l over the quad's lanes, the split's partial normalised by out_scale / l into o_part and its
// log-sum-exp (rows of sequence `ob`), for the Triton combine to merge.
__device__ __forceinline__ void finish_cta(const Params& p, int ob, int split, int row0, int grp, int warp, int g,
                                           int qd, const float (*o)[4], const float* m_i, const float* l_i,
                                           float out_scale) {
  float* op = p.o_part + ob * p.op_stride_b + split * p.op_stride_s;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float l = l_i[half];
    l += __shfl_xor_sync(0xffffffff, l, 1);
    l += __shfl_xor_sync(0xffffffff, l, 2);
    const int row = row0 + 16 * grp + g + 8 * half;
    if (row >= p.rows) continue;
    const float fac = l > 0.0f ? out_scale / l : 0.0f;
    float* orow = op + row * p.op_stride_h + 128 * warp + 16 * qd;
#pragma unroll
    for (int c = 0; c < 2; ++c) {
#pragma unroll
      for (int k = 0; k < 4; ++k) {  // dims 64 c + 16 qd + 4 k + [0, 4): tiles d = 2 (4 c + k) + h, n = 2 qd + e
        const int i = 4 * c + k;
        float4 val;
        val.x = o[2 * i][2 * half] * fac;
        val.y = o[2 * i][2 * half + 1] * fac;
        val.z = o[2 * i + 1][2 * half] * fac;
        val.w = o[2 * i + 1][2 * half + 1] * fac;
        *reinterpret_cast<float4*>(orow + 64 * c + 4 * k) = val;
      }
    }
    if (warp == 0 && qd == 0)
      p.lse_part[ob * p.lse_stride_b + split * p.lse_stride_s + row] = l > 0.0f ? m_i[half] + log2f(l) : MLACALC_NEG_INF;
  }
}

// A stage is refilled by thread 0 right after the partial-score barrier of the next tile, which every warp reaches
// after its last read of the stage. (Refilling it earlier, once an mbarrier counted every warp's last read, was
// slower at all 12 points measured on an H100: reports/h100/tuning/ab_fp8_cuda_session_cq.json, variant "cuda".)
template <typename QT, int STAGES, int RG>
__global__ void __launch_bounds__(RG * WARPS * 32) mla_fp8_decode_kernel(const Params p) {
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* tiles = smem;                                                    // STAGES x 64 x 576 bytes
  float* s_part = reinterpret_cast<float*>(smem + STAGES * TILE * ROW_BYTES);  // 2 x RG x 4 warps x 16 x S_STRIDE
  uint64_t* full = reinterpret_cast<uint64_t*>(s_part + 2 * RG * WARPS * 16 * S_STRIDE);

  // head groups vary fastest in the grid: a (sequence, split)'s CTAs start together and share its tiles in L2
  const int row0 = blockIdx.x * 16 * RG, split = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, lane = tid % 32;
  const int grp = tid / 32 / WARPS, warp = tid / 32 % WARPS;  // row group, and the dims' warp within it
  const int g = lane / 4, qd = lane % 4;

  const int len = min(max(p.seqlens[b], 0), p.capacity);
  const int start = split * p.tokens_per_split;
  const int end = min(len, start + p.tokens_per_split);
  const int n_tiles = end > start ? (end - start + TILE - 1) / TILE : 0;

  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) mbar_init(&full[s], 1);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (tid == 0) {
    for (int s = 0; s < STAGES - 1 && s < n_tiles; ++s)
      issue_tile(p, b, start + s * TILE, min(TILE, end - start - s * TILE), tiles + s * TILE * ROW_BYTES, &full[s]);
  }
  // The rows of a stage past a tile's keys meet p = 0 in P @ V, so they must not hold NaN bytes (0 x NaN). Only the
  // last tile is short, and its stage holds a full earlier tile of this split's keys (whose bytes this CTA already
  // read) unless it is among the first STAGES tiles: then the stage was never written, and its rows past the tail's
  // keys are zeroed here, beside (never under) the bytes the tail's bulk copy writes. The first in-loop barrier
  // orders these stores before any warp's P @ V.
  if (n_tiles > 0 && n_tiles <= STAGES) {
    const int nv_last = end - start - (n_tiles - 1) * TILE;
    uint8_t* rest = tiles + ((n_tiles - 1) % STAGES) * TILE * ROW_BYTES + nv_last * ROW_BYTES;
    for (int i = tid; i < (TILE - nv_last) * ROW_BYTES / 16; i += RG * WARPS * 32)
      reinterpret_cast<uint4*>(rest)[i] = make_uint4(0, 0, 0, 0);
  }

  // Q: rows g and g + 8 of this group at this lane's 36 dims (the maps above), widened to f16 pairs; rows past
  // s_q x H are zero. vis: the keys each row sees (its token's causal end)
  uint32_t qf[9][4];
  int vis[2];
  {
    const QT* qb = reinterpret_cast<const QT*>(p.q) + b * p.q_stride_b;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = row0 + 16 * grp + g + 8 * half;
      const bool ok = row < p.rows;
      const int tq = ok ? row / p.H : p.s_q - 1, h = ok ? row % p.H : 0;
      vis[half] = len - (p.s_q - 1 - tq);
      const QT* qr = qb + tq * p.q_stride_t + h * p.q_stride_h;
#pragma unroll
      for (int i = 0; i < 9; ++i) {
        const int d0 = i < 8 ? 128 * warp + 64 * (i / 4) + 16 * qd + 4 * (i % 4) : D_LAT + 16 * warp + 4 * qd;
        float v[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) v[e] = ok ? to_float<QT>(qr[d0 + e]) : 0.0f;
        qf[i][half] = pack_half2(v[0], v[1]);      // a0 (row g) / a1 (row g + 8): K slots 2qd, 2qd + 1
        qf[i][2 + half] = pack_half2(v[2], v[3]);  // a2 / a3: K slots 2qd + 8, 2qd + 9
      }
    }
  }

  const float kv_scale = p.kv_scale != nullptr ? *p.kv_scale : p.kv_scale_value;
  const float qk_scale = p.qk_scale_log2 * kv_scale;
  float o[16][4];
#pragma unroll
  for (int d = 0; d < 16; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
  float m_i[2] = {MLACALC_NEG_INF, MLACALC_NEG_INF}, l_i[2] = {0.0f, 0.0f};  // rows g, g + 8 (l: this lane's keys only)

  for (int t = 0; t < n_tiles; ++t) {
    const int stage = t % STAGES;
    const uint8_t* tile = tiles + stage * TILE * ROW_BYTES;
    const int n0 = start + t * TILE;
    const int nv = min(TILE, end - n0);
    mbar_wait(&full[stage], (t / STAGES) & 1);

    // partial scores over this warp's 144 dims: 8 groups of 8 keys (the latent's 8 k-steps, then the RoPE's)
    float s[GROUPS][4];
#pragma unroll
    for (int j = 0; j < GROUPS; ++j) {
      const uint8_t* key = tile + (8 * j + g) * ROW_BYTES;
      s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
      latent_scores(key, warp, qd, qf, s[j]);
      const uint32_t rope = *reinterpret_cast<const uint32_t*>(key + D_LAT + 16 * warp + 4 * qd);
      mma16816(s[j], qf[8], e4m3x2_to_f16x2(rope & 0xffff), e4m3x2_to_f16x2(rope >> 16));
    }
    write_partials(s_part + (((t & 1) * RG + grp) * WARPS + warp) * 16 * S_STRIDE, s, g, qd);
    __syncthreads();  // every warp's partial written; every warp done with tile t - 1 (its stage may be refilled)
    if (tid == 0 && t + STAGES - 1 < n_tiles) {
      const int nt = t + STAGES - 1;
      issue_tile(p, b, start + nt * TILE, min(TILE, end - start - nt * TILE),
                 tiles + (nt % STAGES) * TILE * ROW_BYTES, &full[nt % STAGES]);
    }
    const int lim[2] = {min(nv, vis[0] - n0), min(nv, vis[1] - n0)};  // keys of this tile each row sees
    uint32_t pa[GROUPS / 2][4];  // P as the A operand of 4 16-key steps
    softmax_tile(s_part + ((t & 1) * RG + grp) * WARPS * 16 * S_STRIDE, s,
                 [&](int half, int key) { return key < lim[half]; }, qk_scale, [](int, int) { return 1.0f; },
                 m_i, l_i, o, pa, g, qd);
    pv_tile<ROW_BYTES>(tile, warp, g, qd, pa, o);
  }

  // finish (times the kv scale: P @ V used the raw fp8 values)
  finish_cta(p, b, split, row0, grp, warp, g, qd, o, m_i, l_i, kv_scale);
}

}  // namespace mlacalc_fp8
