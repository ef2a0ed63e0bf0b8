"""KV-cache layouts shared by every decode kernel in this package.

Contiguous: one slab per sequence, padded to the longest, tokens beyond `cache_seqlens[b]` ignored.
    MLA      kv_cache [B, S_max, r + dr]             (576 = 512 latent + 64 RoPE for DeepSeek-V3)
    GQA/MHA  k_cache, v_cache [B, S_max, Hkv, D]
Paged: a pool of fixed-size blocks and a block table, as in vLLM / FlashMLA / flash_attn_with_kvcache.
    MLA      kv_cache [num_blocks, block_size, r + dr]      (block_size 64 by default)
    GQA/MHA  k_cache, v_cache [num_blocks, block_size, Hkv, D]  (block_size 16 by default)
    block_table [B, max_blocks_per_seq] int32: token n of sequence b lives in block block_table[b, n // block_size]
    at row n % block_size.
cache_seqlens [B] int32 counts every token in the cache, the new query tokens included (they were appended
before attention runs).

FP8: `quantize_fp8` stores e4m3 values with one float32 scale per tensor; real value = stored * scale.
"""

from __future__ import annotations

import torch

__all__ = ["MLA_BLOCK_SIZE", "GQA_BLOCK_SIZE", "to_paged", "from_paged", "quantize_fp8", "FP8_E4M3_MAX"]

MLA_BLOCK_SIZE = 64
GQA_BLOCK_SIZE = 16
FP8_E4M3_MAX = 448.0


def to_paged(
    cache: torch.Tensor, block_size: int, *, shuffle: bool = True, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Contiguous [B, S, ...] -> (paged [B * ceil(S/block_size), block_size, ...], block_table [B, nblk] int32).

    With shuffle=True the blocks land in random pool slots, so a kernel that ignores the table fails its test.
    Padding rows of the last block are filled with NaN for floating caches (a kernel that reads them shows it).
    """
    B, S = cache.shape[:2]
    nblk = -(-S // block_size)
    pad = nblk * block_size - S
    if pad:
        filler = torch.full((B, pad, *cache.shape[2:]), float("nan"), dtype=torch.float32, device=cache.device)
        cache = torch.cat([cache, filler.to(cache.dtype)], dim=1)
    blocks = cache.reshape(B * nblk, block_size, *cache.shape[2:])
    if shuffle:
        perm = torch.randperm(B * nblk, generator=generator).to(cache.device)
    else:
        perm = torch.arange(B * nblk, device=cache.device)
    pool = torch.empty_like(blocks)
    pool[perm] = blocks  # logical block i is stored at slot perm[i]
    block_table = perm.view(B, nblk).to(torch.int32)
    return pool, block_table


def from_paged(pool: torch.Tensor, block_table: torch.Tensor, length: int | None = None) -> torch.Tensor:
    """Gather a paged cache back to contiguous [B, nblk * block_size (or length), ...]."""
    B, nblk = block_table.shape
    out = pool[block_table.long()].reshape(B, nblk * pool.shape[1], *pool.shape[2:])
    return out if length is None else out[:, :length]


def quantize_fp8(x: torch.Tensor, scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-tensor float8 e4m3: returns (x / scale as float8_e4m3fn, scale float32 [1]); x ~= q * scale."""
    if scale is None:
        amax = x.abs().amax().float().clamp(min=1e-12)
        scale_t = (amax / FP8_E4M3_MAX).reshape(1)
    else:
        scale_t = torch.tensor([scale], dtype=torch.float32, device=x.device)
    q = (x.float() / scale_t).clamp(-FP8_E4M3_MAX, FP8_E4M3_MAX).to(torch.float8_e4m3fn)
    return q, scale_t
