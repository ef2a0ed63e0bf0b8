"""Shared correctness harness: fresh random inputs, float64 references, poisoned outputs, relative errors.

Used by tests/test_kernels_*.py on CPU (eager, SDPA, Triton interpreter) and by bench/gpu_check.py on the GPU, so both
check exactly the same thing. Error metric: ||out - ref|| / ||ref|| over the whole output, computed in float64;
NaN anywhere (e.g. an unwritten poisoned element) makes it NaN, which fails every bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .cache import GQA_BLOCK_SIZE, MLA_BLOCK_SIZE, pack_fp8_ds, quantize_fp8, to_paged, unpack_fp8_ds
from .reference import attention_reference, mla_latent_attention_reference, mla_sparse_reference

__all__ = ["rel_error", "MLACase", "make_mla_case", "run_mla_case", "GQACase", "make_gqa_case", "run_gqa_case",
           "SparseCase", "make_sparse_case", "run_sparse_case", "bad_values", "bad_indices", "same_output",
           "sequence_rows", "mla_sequence_reference", "sparse_sequence_reference", "gqa_sequence_reference"]


def rel_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    out = out.detach().double().cpu()
    ref = ref.detach().double().cpu()
    return float((out - ref).norm() / ref.norm().clamp(min=1e-300))


@dataclass
class MLACase:
    q: torch.Tensor
    kv_cache: torch.Tensor
    cache_seqlens: torch.Tensor
    block_table: torch.Tensor | None
    kv_scale: torch.Tensor | None
    softmax_scale: float
    kv_lora_rank: int
    ref: torch.Tensor  # float64 [B, s_q, H, r] over the cache as stored (dequantised for fp8)
    ref_unquantised: torch.Tensor | None  # fp8 only: the same with the bf16 latents before quantisation


def make_mla_case(
    lens, *, heads=16, s_q=1, r=512, dr=64, dtype=torch.bfloat16, device="cpu", paged=False,
    block_size=MLA_BLOCK_SIZE, fp8=False, extra_capacity=3, seed=None,
) -> MLACase:
    """Fresh random MLA decode inputs for sequences of lengths `lens` (each >= s_q), and their reference."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    B = len(lens)
    S = max(lens) + extra_capacity
    q = torch.randn(B, s_q, heads, r + dr, generator=g).to(dtype)
    kv = torch.randn(B, S, r + dr, generator=g).to(dtype)
    L = torch.tensor(lens, dtype=torch.int32)
    scale = (128 + dr) ** -0.5
    kv_scale = None
    ref_unq = None
    stored = kv
    if fp8:
        ref_unq = mla_latent_attention_reference(q, kv, r, scale=scale, kv_lengths=L)
        stored, kv_scale = quantize_fp8(kv)
    ref = mla_latent_attention_reference(q, stored, r, scale=scale, kv_lengths=L, kv_scale=kv_scale)
    block_table = None
    if paged:
        stored, block_table = to_paged(stored, block_size, generator=g)
        block_table = block_table.to(device)
    return MLACase(
        q.to(device), stored.to(device), L.to(device), block_table,
        kv_scale.to(device) if kv_scale is not None else None, scale, r, ref, ref_unq,
    )


def run_mla_case(fn, case: MLACase, **kwargs) -> torch.Tensor:
    """Call fn (mla_decode_* signature) with a NaN-poisoned output buffer when fn accepts `out`."""
    B, s_q, H, _ = case.q.shape
    if kwargs.pop("poison", True):
        out = torch.full((B, s_q, H, case.kv_lora_rank), float("nan"), dtype=case.q.dtype, device=case.q.device)
        kwargs["out"] = out
    return fn(
        case.q, case.kv_cache, case.cache_seqlens, case.block_table, softmax_scale=case.softmax_scale,
        kv_lora_rank=case.kv_lora_rank, kv_scale=case.kv_scale, **kwargs,
    )


@dataclass
class GQACase:
    q: torch.Tensor
    k_cache: torch.Tensor
    v_cache: torch.Tensor
    cache_seqlens: torch.Tensor
    block_table: torch.Tensor | None
    softmax_scale: float
    ref: torch.Tensor


def make_gqa_case(
    lens, *, heads=8, kv_heads=2, head_dim=128, s_q=1, dtype=torch.bfloat16, device="cpu", paged=False,
    block_size=GQA_BLOCK_SIZE, extra_capacity=3, seed=None,
) -> GQACase:
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    B = len(lens)
    S = max(lens) + extra_capacity
    q = torch.randn(B, s_q, heads, head_dim, generator=g).to(dtype)
    k = torch.randn(B, S, kv_heads, head_dim, generator=g).to(dtype)
    v = torch.randn(B, S, kv_heads, head_dim, generator=g).to(dtype)
    L = torch.tensor(lens, dtype=torch.int32)
    scale = head_dim**-0.5
    ref = attention_reference(q, k, v, scale=scale, causal=True, kv_lengths=L)
    bt = None
    if paged:
        seed2 = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        k, bt = to_paged(k, block_size, generator=torch.Generator().manual_seed(seed2))
        v, bt_v = to_paged(v, block_size, generator=torch.Generator().manual_seed(seed2))
        assert torch.equal(bt, bt_v)
        bt = bt.to(device)
    return GQACase(q.to(device), k.to(device), v.to(device), L.to(device), bt, scale, ref)


def run_gqa_case(fn, case: GQACase, poison: bool = True, **kwargs) -> torch.Tensor:
    if poison:
        kwargs["out"] = torch.full_like(case.q, float("nan"))
    return fn(
        case.q, case.k_cache, case.v_cache, case.cache_seqlens, case.block_table,
        softmax_scale=case.softmax_scale, **kwargs,
    )


@dataclass
class SparseCase:
    q: torch.Tensor
    kv_cache: torch.Tensor  # paged rows, or fp8-ds uint8 rows
    indices: torch.Tensor  # [B, s_q, topk] int32
    block_table: torch.Tensor | None
    cache_seqlens: torch.Tensor | None
    softmax_scale: float
    kv_lora_rank: int
    ref: torch.Tensor  # float64 over the cache as stored (dequantised for fp8-ds)


def make_sparse_case(
    lens, *, heads=16, s_q=1, topk=64, r=512, dr=64, dtype=torch.bfloat16, device="cpu", block_size=MLA_BLOCK_SIZE,
    fp8_ds=False, table=True, pad=True, seed=None, packed=False,
) -> SparseCase:
    """Fresh random sparse-decode inputs: a shuffled paged cache (NaN past each sequence's capacity), per query token
    a duplicate-free random choice of min(len, topk) positions (fewer with `pad`: some slots -1), in random slot
    order (packed: in the first slots, -1 after them, as an indexer's top-k lays them out). table=False: indices
    are rows of the flattened pool (FlashMLA's convention) and no lengths are passed."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    B = len(lens)
    S = max(lens) + 3
    q = torch.randn(B, s_q, heads, r + dr, generator=g).to(dtype)
    kv = torch.randn(B, S, r + dr, generator=g)
    stored = pack_fp8_ds(kv[..., :r], kv[..., r:]) if fp8_ds else kv.to(dtype)
    pool, bt = to_paged(stored, block_size, generator=g)
    idx = torch.full((B, s_q, topk), -1, dtype=torch.int32)
    for b, n in enumerate(lens):
        for t in range(s_q):
            k = min(n, topk)
            if pad and k > 1:
                k -= int(torch.randint(0, k // 2 + 1, (1,), generator=g))
            chosen = torch.randperm(n, generator=g)[:k].to(torch.int32)
            slots = torch.arange(k) if packed else torch.randperm(topk, generator=g)[:k]
            idx[b, t, slots] = chosen
    L = torch.tensor(lens, dtype=torch.int32)
    ref_pool = unpack_fp8_ds(pool, r) if fp8_ds else pool
    scale = (128 + dr) ** -0.5
    ref = mla_sparse_reference(q, ref_pool, idx, r, scale=scale, block_table=bt, cache_seqlens=L)
    if not table:  # token positions -> rows of the flattened pool
        P = block_size
        rows = bt.long().gather(1, (idx.clamp(min=0).long() // P).view(B, -1)).view_as(idx) * P + idx.long() % P
        idx = torch.where(idx >= 0, rows, -1).to(torch.int32)
        bt = None
        L = None
    return SparseCase(q.to(device), pool.to(device), idx.to(device), None if bt is None else bt.to(device),
                      None if L is None else L.to(device), scale, r, ref)


def run_sparse_case(fn, case: SparseCase, poison: bool = True, **kwargs) -> torch.Tensor:
    """Call fn (mla_decode_sparse's signature) with a NaN-poisoned output buffer."""
    B, s_q, H, _ = case.q.shape
    if poison:
        kwargs["out"] = torch.full((B, s_q, H, case.kv_lora_rank), float("nan"), dtype=case.q.dtype,
                                   device=case.q.device)
    return fn(case.q, case.kv_cache, case.indices, case.block_table, case.cache_seqlens,
              softmax_scale=case.softmax_scale, kv_lora_rank=case.kv_lora_rank, **kwargs)


def bad_values(block_table: torch.Tensor | None, cache_seqlens: torch.Tensor, cache: torch.Tensor):
    """((bad table, bad lengths), (clean table, clean lengths)) for `cache` (contiguous [B, S, ...], or the pool
    [num_blocks, page, ...] of block_table): out-of-range values a caller might pass -- the first sequence's first
    block-table entry num_blocks + 10**6, the last sequence's length 1000 past the capacity (S, or the table's width
    x page) and its last entry (which it then uses) -7 -- and the same values as the kernels clamp them when value
    checks are off (entries to [0, num_blocks), lengths to [0, capacity]: triton_flash.valid_page, valid_length). A
    kernel given the bad values unchecked must neither fault nor differ from its output for the clean ones.
    Contiguous caches (block_table None): the lengths only."""
    num_blocks = cache.shape[0]
    capacity = cache.shape[1] * (block_table.shape[1] if block_table is not None else 1)
    lens = cache_seqlens.clone()
    lens[-1] = capacity + 1000
    clean_lens = lens.clamp(0, capacity)
    if block_table is None:
        return (None, lens), (None, clean_lens)
    table = block_table.clone()
    table[0, 0] = num_blocks + 10**6
    table[-1, -1] = -7
    return (table, lens), (table.clamp(0, num_blocks - 1), clean_lens)


def bad_indices(indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(bad, clean) sparse indices: the first query token's first two slots 10**6 (past any sequence) and -5, and
    the same with both slots -1 (unused), as the sparse kernels mask them when value checks are off."""
    bad, clean = indices.clone(), indices.clone()
    bad[0, 0, :2] = torch.tensor([10**6, -5], dtype=indices.dtype)
    clean[0, 0, :2] = -1
    return bad, clean


def same_output(a: torch.Tensor, b: torch.Tensor) -> float:
    """0.0 when two outputs are equal element for element (NaN where both are NaN), else the largest difference
    (inf where only one is NaN)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    both_nan = a.isnan() & b.isnan()
    diff = (a - b).abs().nan_to_num(nan=float("inf"))
    return float(torch.where(both_nan, 0.0, diff).max()) if a.numel() else 0.0


# --- one sequence of a call's batch, in float32 (the profiler's and the benchmark's output checks) ---------

def sequence_rows(cache, table, b: int, held: int):
    """Sequence b's first `held` cache rows as [1, held, ...]: through its block-table row when paged
    (pool [blocks, block_size, ...]), else the contiguous cache's row b ([B, C, ...])."""
    if table is None:
        return cache[b:b + 1, :held]
    rows = cache[table[b].long()]                         # [nblk, block_size, ...]
    return rows.reshape(1, -1, *cache.shape[2:])[:, :held]


def _dequantised(rows, kv_lora_rank: int, kv_scale: float | torch.Tensor | None):
    """Float32 rows as the kernel reads them: an fp8-ds row (uint8) unpacked with its group scales, a per-tensor
    fp8 row times its scale, a 16-bit row as is."""
    if rows.dtype == torch.uint8:
        return unpack_fp8_ds(rows, kv_lora_rank)
    out = rows.float()
    return out * kv_scale if kv_scale is not None else out


def mla_sequence_reference(query, cache, table, b: int, held: int, *, kv_lora_rank: int, scale: float,
                           kv_scale: float | torch.Tensor | None = None):
    """o_lat [1, s_q, H, r] of absorbed MLA decode for sequence b over its first `held` rows (causal, aligned to
    the end, as the kernels run s_q > 1)."""
    rows = _dequantised(sequence_rows(cache, table, b, held), kv_lora_rank, kv_scale)
    return mla_latent_attention_reference(query[b:b + 1], rows, kv_lora_rank, scale=scale, causal=True,
                                          dtype=torch.float32)


def sparse_sequence_reference(query, cache, table, indices, b: int, held: int, *, kv_lora_rank: int, scale: float):
    """o_lat [1, s_q, H, r] of sparse (top-k) MLA decode for sequence b: paged, its positions through its own
    table row; contiguous, its pool rows (b x held + position) taken back to positions in its own rows."""
    rows = _dequantised(sequence_rows(cache, table, b, held), kv_lora_rank, None)     # [1, held, D]
    idx = indices[b:b + 1].long()
    if table is None:
        idx = torch.where(idx >= 0, idx - b * held, idx)
    return mla_sparse_reference(query[b:b + 1], rows, idx, kv_lora_rank, scale=scale, dtype=torch.float32)


def gqa_sequence_reference(query, k, v, table, b: int, held: int, *, scale: float):
    """[1, s_q, Hq, Dv] of GQA decode for sequence b over its first `held` keys (causal, aligned to the end)."""
    return attention_reference(query[b:b + 1], sequence_rows(k, table, b, held), sequence_rows(v, table, b, held),
                               scale=scale, causal=True, dtype=torch.float32)
