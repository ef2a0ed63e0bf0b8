// Sparse absorbed MLA decode (DeepSeek Sparse Attention) over the fp8-ds cache, sm_90: each query token attends only
// the `topk` cache rows its indexer selected (kernels/triton_mla_sparse.py states what is computed). The dense fp8
// kernel's design (mla_fp8_decode.cu: 4 warps a 16-row group, warp w owning latent dims [128w, +128), fp8 bytes
// from shared memory straight into mma.sync registers, partial scores summed through shared memory, P @ V through
// movmatrix) with the fp8-ds row (kernels/cache.pack_fp8_ds: 512 e4m3 values, 4 fp32 scales, one per 128 values,
// 64 bf16 RoPE values; 656 bytes) and a gather in place of a contiguous tile:
//   * warp w's 128 latent dims are exactly scale group w, so its partial score of key k is c_w[k] (q_w . k8_w[k])
//     plus its 16 RoPE dims as one bf16 k-step, and its P @ V takes p c_w[k] as P (each warp its own P; the same
//     softmax). P is stored in f16 times P_FOLD = 256 (out of f16's subnormals for scales down to ~1e-3), which the
//     output factor takes back; V stays the exact e4m3 value.
//   * a tile's 64 slots are gathered by every thread (cp.async, 16 bytes a piece, 41 a row; thread i takes slot
//     i % 64 and every (threads / 64)-th piece of it) into rows 704 bytes apart (rows g, g + 1 half a bank row
//     apart: the score reads stay conflict-free); a slot that selects nothing (-1, past the length or the split's
//     slots) is zero-filled by the copy itself (src size 0), so its scale is 0 and no stale byte is ever NaN, and a
//     per-stage flag masks its score. Each thread's copies complete on the stage's mbarrier
//     (cp.async.mbarrier.arrive.noinc; the barrier counts every thread).
//   * slot -> index -> page: the index of tile t + 1 is loaded one tile ahead, its block-table entry at the top of
//     tile t, both used after tile t's score barrier (two dependent global loads otherwise sit on every tile).
//   * rows 704 apart leave room for one exchange buffer only (2 stages x 45 KB + 18 KB: two CTAs an SM at 16 rows),
//     so a second barrier a tile keeps a fast warp's next partials off the buffer until every warp has read it.
// Grid (head groups, splits, B x s_q): a query token's rows are its heads; out [B x s_q, H, 512].
// Written in the thirty-fifth session: checked by its CPU model (tests/test_kernels_cuda_fp8.py) and compiled, not
// yet run on a GPU.

#include "mla_fp8_decode.cu"

namespace mlacalc_fp8 {

constexpr int DS_ROW = 656;                 // bytes of an fp8-ds row in the cache
constexpr int DS_SCALES = D_LAT;            // its 4 fp32 scales
constexpr int DS_ROPE = D_LAT + 16;         // its 64 bf16 RoPE values
constexpr int DS_PIECES = DS_ROW / 16;      // 16-byte copies a row
constexpr int SROW = 704;                   // a row's stride in shared memory (704 mod 128 = 64)
constexpr float P_FOLD = 256.0f;

__device__ __forceinline__ void mma16816_bf16(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 16 bytes from global to shared memory, zero-filled past src_bytes (0: nothing read)
__device__ __forceinline__ void cp_async16(void* dst, const void* src, uint32_t src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes)
               : "memory");
}

// this thread's arrival on `bar` once all its earlier cp.async copies have landed
__device__ __forceinline__ void cp_async_arrive(uint64_t* bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(smem_addr(bar)) : "memory");
}

// The cache row slot `idx` (a token position of sequence b through its block table, or a row of the flattened pool)
// selects, or null where it selects nothing (-1, negative, at or past `limit`). Table entries are clamped to the
// cache, so no value can address outside it.
__device__ __forceinline__ const uint8_t* slot_row(const Params& p, int b, int idx, int limit, int page) {
  if (idx < 0 || idx >= limit) return nullptr;
  page = min(max(page, 0), p.num_pages - 1);
  return p.kv + page * p.kv_stride_page + static_cast<long long>(idx % p.page_size) * p.kv_stride_row;
}

// The page slot `idx` lies in: a block-table load (paged; nothing read for an index that selects nothing), or the
// pool row's page
__device__ __forceinline__ int slot_page(const Params& p, int b, int idx, int limit) {
  if (!p.paged) return idx < 0 ? 0 : idx / p.page_size;
  return (idx >= 0 && idx < limit) ? p.block_table[b * p.bt_stride + idx / p.page_size] : 0;
}

// Thread (slot s, part) gathers its pieces of slot s's row into a stage, flags the slot, arrives on the stage's bar.
__device__ __forceinline__ void gather_slot(const Params& p, uint8_t* stage, uint8_t* flags, uint64_t* bar, int s,
                                            int part, int parts, const uint8_t* row) {
  uint8_t* dst = stage + s * SROW;
  for (int k = part; k < DS_PIECES; k += parts)
    cp_async16(dst + 16 * k, row != nullptr ? row + 16 * k : p.kv, row != nullptr ? 16u : 0u);
  if (part == 0) flags[s] = row != nullptr;
  cp_async_arrive(bar);
}

template <int STAGES, int RG>
__global__ void __launch_bounds__(RG * WARPS * 32) mla_fp8_sparse_kernel(const Params p) {
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* tiles = smem;                                                       // STAGES x 64 x 704 bytes
  float* s_part = reinterpret_cast<float*>(smem + STAGES * TILE * SROW);      // RG x 4 warps x 16 x S_STRIDE
  uint8_t* flags = reinterpret_cast<uint8_t*>(s_part + RG * WARPS * 16 * S_STRIDE);  // STAGES x 64
  uint64_t* full = reinterpret_cast<uint64_t*>(flags + STAGES * TILE);

  const int row0 = blockIdx.x * 16 * RG, split = blockIdx.y, bz = blockIdx.z;
  const int b = bz / p.s_q, tq = bz % p.s_q;
  const int tid = threadIdx.x, lane = tid % 32, nthreads = RG * WARPS * 32;
  const int grp = tid / 32 / WARPS, warp = tid / 32 % WARPS;
  const int g = lane / 4, qd = lane % 4;
  const int slot = tid % TILE, part = tid / TILE, parts = nthreads / TILE;

  const int limit = p.has_lens ? min(max(p.seqlens[b], 0), p.capacity) : p.capacity;
  const int start = split * p.tokens_per_split;
  const int end = min(p.topk, start + p.tokens_per_split);
  const int n_tiles = end > start ? (end - start + TILE - 1) / TILE : 0;
  const int* idx_row = p.indices + b * p.idx_stride_b + tq * p.idx_stride_t;
  auto slot_idx = [&](int t) { const int j = start + t * TILE + slot; return j < end ? idx_row[j] : -1; };

  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) mbar_init(&full[s], nthreads);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  int idx_next = -1;     // the index of this thread's slot in tile t + 1 (loaded a tile ahead)
  if (n_tiles > 0) {     // tile 0 resolved here, with the loads' latency
    const int idx0 = slot_idx(0);
    gather_slot(p, tiles, flags, &full[0], slot, part, parts, slot_row(p, b, idx0, limit, slot_page(p, b, idx0, limit)));
    if (n_tiles > 1) idx_next = slot_idx(1);
  }

  // Q: rows g and g + 8 of this group: the latent at this lane's 32 dims (the dense kernel's maps) in f16, and its
  // RoPE k-step (dims 16 w + 2qd, +1 and + 8, + 9) as bf16 pairs; rows past H are zero
  uint32_t qf[8][4], qr[4];
  {
    const __nv_bfloat16* qb = reinterpret_cast<const __nv_bfloat16*>(p.q) + b * p.q_stride_b + tq * p.q_stride_t;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = row0 + 16 * grp + g + 8 * half;
      const bool ok = row < p.rows;
      const __nv_bfloat16* qrow = qb + (ok ? row : 0) * p.q_stride_h;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int d0 = 128 * warp + 64 * (i / 4) + 16 * qd + 4 * (i % 4);
        float v[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) v[e] = ok ? __bfloat162float(qrow[d0 + e]) : 0.0f;
        qf[i][half] = pack_half2(v[0], v[1]);
        qf[i][2 + half] = pack_half2(v[2], v[3]);
      }
#pragma unroll
      for (int k = 0; k < 2; ++k) {   // a0 / a1: dims 2qd, 2qd + 1; a2 / a3: + 8
        const int d = D_LAT + 16 * warp + 2 * qd + 8 * k;
        const uint32_t lo = ok ? __bfloat16_as_ushort(qrow[d]) : 0u, hi = ok ? __bfloat16_as_ushort(qrow[d + 1]) : 0u;
        qr[2 * k + half] = lo | (hi << 16);
      }
    }
  }

  const float qk_scale = p.qk_scale_log2;                          // the latent's scale goes in key by key
  float o[16][4];
#pragma unroll
  for (int d = 0; d < 16; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
  float m_i[2] = {MLACALC_NEG_INF, MLACALC_NEG_INF}, l_i[2] = {0.0f, 0.0f};
  float* xchg = s_part + grp * WARPS * 16 * S_STRIDE;

  for (int t = 0; t < n_tiles; ++t) {
    const int stage = t % STAGES;
    const uint8_t* tile = tiles + stage * TILE * SROW;
    const uint8_t* tile_flags = flags + stage * TILE;
    // tile t + 1's page (its index came a tile ago) and tile t + 2's index, both used after this tile's barrier
    const bool more = t + 1 < n_tiles;
    const int page_next = more ? slot_page(p, b, idx_next, limit) : 0;
    const int idx_after = t + 2 < n_tiles ? slot_idx(t + 2) : -1;
    mbar_wait(&full[stage], (t / STAGES) & 1);

    // partial scores: the latent's 8 k-steps times each key's scale of group `warp`, then the RoPE k-step in bf16
    float s[GROUPS][4], cs[GROUPS][2];
#pragma unroll
    for (int j = 0; j < GROUPS; ++j) {
      const uint8_t* key = tile + (8 * j + g) * SROW;
      float lat[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      latent_scores(key, warp, qd, qf, lat);
      cs[j][0] = *reinterpret_cast<const float*>(tile + (8 * j + 2 * qd) * SROW + DS_SCALES + 4 * warp);
      cs[j][1] = *reinterpret_cast<const float*>(tile + (8 * j + 2 * qd + 1) * SROW + DS_SCALES + 4 * warp);
      s[j][0] = lat[0] * cs[j][0];
      s[j][1] = lat[1] * cs[j][1];
      s[j][2] = lat[2] * cs[j][0];
      s[j][3] = lat[3] * cs[j][1];
      const uint8_t* rope = key + DS_ROPE + 2 * (16 * warp + 2 * qd);
      mma16816_bf16(s[j], qr, *reinterpret_cast<const uint32_t*>(rope), *reinterpret_cast<const uint32_t*>(rope + 16));
    }
    __syncthreads();  // every warp done with the exchange's last sums (one buffer)
    write_partials(xchg + warp * 16 * S_STRIDE, s, g, qd);
    __syncthreads();  // every warp's partial written; every warp done with tile t - 1 (its stage may be refilled)
    if (more) {
      const int nt = t + 1;
      gather_slot(p, tiles + (nt % STAGES) * TILE * SROW, flags + (nt % STAGES) * TILE, &full[nt % STAGES], slot,
                  part, parts, slot_row(p, b, idx_next, limit, page_next));
      idx_next = idx_after;
    }
    uint32_t pa[GROUPS / 2][4];
    softmax_tile(xchg, s, [&](int, int key) { return tile_flags[key] != 0; }, qk_scale,
                 [&](int j, int e) { return cs[j][e] * P_FOLD; }, m_i, l_i, o, pa, g, qd);
    pv_tile<SROW>(tile, warp, g, qd, pa, o);
  }

  finish_cta(p, bz, split, row0, grp, warp, g, qd, o, m_i, l_i, 1.0f / P_FOLD);
}

}  // namespace mlacalc_fp8
