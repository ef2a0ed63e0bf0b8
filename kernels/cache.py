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

FP8-DS ("fp8 with decoupled scales", the layout of FlashMLA's sparse kernels for DeepSeek-V3.2): one uint8 row per
token, for r = 512, dr = 64 656 bytes:
    bytes [0, r)                      r float8 e4m3 latent values
    bytes [r, r + 4 r/128)            r/128 float32 scales, one per 128 latent values (real = stored * scale)
    bytes [r + 4 r/128, ... + 2 dr)   dr bfloat16 RoPE values (not quantised)
`pack_fp8_ds(latent, rope)` builds the rows ([num_blocks, block_size, 656] uint8 for a paged cache),
`unpack_fp8_ds(rows, kv_lora_rank)` dequantises them to float32 [..., r + dr], and `fp8_ds_views` gives the three
typed views of the same bytes a kernel reads.
"""

from __future__ import annotations

import torch

__all__ = ["MLA_BLOCK_SIZE", "GQA_BLOCK_SIZE", "to_paged", "from_paged", "quantize_fp8", "FP8_E4M3_MAX",
           "FP8_DS_GROUP", "fp8_ds_row_bytes", "pack_fp8_ds", "unpack_fp8_ds", "fp8_ds_views"]

MLA_BLOCK_SIZE = 64
GQA_BLOCK_SIZE = 16
FP8_E4M3_MAX = 448.0
FP8_DS_GROUP = 128  # latent values per float32 scale in the fp8-ds layout


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
    """Gather a paged cache back to contiguous [B, nblk * block_size (or length), ...]. Table entries are clamped to
    the pool ([0, num_blocks)), as the kernels clamp them: an entry past a sequence's length may hold anything (a
    serving engine's padding), and one past the pool made PyTorch's gather a device-side assert on CUDA (a fault
    that ends the process's CUDA context) and an IndexError on CPU."""
    B, nblk = block_table.shape
    out = pool[block_table.long().clamp(0, pool.shape[0] - 1)].reshape(B, nblk * pool.shape[1], *pool.shape[2:])
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


def fp8_ds_row_bytes(kv_lora_rank: int = 512, rope_dim: int = 64) -> int:
    """Bytes per token of the fp8-ds layout: r fp8 + 4 * r / 128 scale bytes + 2 * dr RoPE bytes (656 for 512/64)."""
    assert kv_lora_rank % FP8_DS_GROUP == 0, "the latent must be whole groups of 128 values"
    return kv_lora_rank + 4 * (kv_lora_rank // FP8_DS_GROUP) + 2 * rope_dim


def pack_fp8_ds(latent: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """latent [..., r] and rope [..., dr] (any float dtype) -> uint8 [..., fp8_ds_row_bytes(r, dr)]. Each group of 128
    latent values gets the scale amax / 448 (1 for an all-zero group) and is stored as e4m3 of value / scale; the
    RoPE part is stored as bf16."""
    r = latent.shape[-1]
    if latent.shape[:-1] != rope.shape[:-1]:
        raise ValueError(f"rope: leading dims {tuple(rope.shape[:-1])} differ from latent's {tuple(latent.shape[:-1])}")
    lead = latent.shape[:-1]
    groups = latent.float().reshape(*lead, r // FP8_DS_GROUP, FP8_DS_GROUP)
    amax = groups.abs().amax(-1, keepdim=True)
    scale = torch.where(amax > 0, amax / FP8_E4M3_MAX, torch.ones_like(amax))
    q8 = (groups / scale).clamp(-FP8_E4M3_MAX, FP8_E4M3_MAX).to(torch.float8_e4m3fn).reshape(*lead, r)
    return torch.cat([q8.view(torch.uint8), scale.reshape(*lead, -1).contiguous().view(torch.uint8),
                      rope.to(torch.bfloat16).contiguous().view(torch.uint8)], dim=-1)


def fp8_ds_views(rows: torch.Tensor, kv_lora_rank: int = 512):
    """(latent float8_e4m3fn [..., r], scales float32 [..., r/128], rope bfloat16 [..., dr]): views of the same
    bytes (no copy), each with its own element strides. rows: uint8 [..., row_bytes], contiguous in its last dim."""
    r = kv_lora_rank
    ng = r // FP8_DS_GROUP
    n = rows.shape[-1]
    assert rows.dtype == torch.uint8 and n % 4 == 0 and rows.stride(-1) == 1
    latent = rows[..., :r].view(torch.float8_e4m3fn)
    scales = rows.view(torch.float32)[..., r // 4: r // 4 + ng]
    rope = rows.view(torch.bfloat16)[..., (r + 4 * ng) // 2:]
    return latent, scales, rope


def unpack_fp8_ds(rows: torch.Tensor, kv_lora_rank: int = 512) -> torch.Tensor:
    """uint8 [..., row_bytes] -> float32 [..., r + dr]: latent * its group's scale, then the RoPE values."""
    latent, scales, rope = fp8_ds_views(rows.contiguous(), kv_lora_rank)
    lead = latent.shape[:-1]
    deq = latent.float().reshape(*lead, -1, FP8_DS_GROUP) * scales.float()[..., None]
    return torch.cat([deq.reshape(*lead, kv_lora_rank), rope.float()], dim=-1)
