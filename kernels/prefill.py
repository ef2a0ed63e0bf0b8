"""Prefill attention through PyTorch SDPA (fused backends): MLA in its decompressed MHA form, and GQA/MHA.

MLA prefill (DeepSeek-V3): per head q = [q_nope 128, q_pe 64] (192), k = [W_UK c_kv 128, k_pe 64] (192), v = W_UV c_kv
(128). The flash backend needs equal q/k/v head dims, so `mla_prefill_sdpa(pad_v=True)` zero-pads v to 192 and
slices the output (the trick vLLM uses with FlashAttention-2); pad_v=False leaves the backend choice to SDPA
(memory-efficient or cuDNN on Hopper, which accept a smaller v dim).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .checks import check_prefill_inputs, check_scale

__all__ = ["mla_prefill_sdpa", "mla_prefill_from_latent", "gqa_prefill_sdpa"]


def mla_prefill_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, softmax_scale: float | None = None,
    causal: bool = True, pad_v: bool = False,
) -> torch.Tensor:
    """q, k [B, S, H, dqk] (192), v [B, S, H, dv] (128) -> [B, S, H, dv]. Causal by default. Bad shapes or scale:
    one KernelInputError (a ValueError naming the argument)."""
    check_prefill_inputs(q, k, v, grouped=False, causal=causal)
    check_scale(softmax_scale, optional=True)
    dv = v.shape[-1]
    dqk = q.shape[-1]
    scale = dqk**-0.5 if softmax_scale is None else softmax_scale
    if pad_v and dv < dqk:
        v = F.pad(v, (0, dqk - dv))
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal, scale=scale
    ).transpose(1, 2)
    return out[..., :dv] if pad_v else out


def mla_prefill_from_latent(
    q_nope, q_pe, c_kv, k_pe, w_uk, w_uv, *, softmax_scale: float, causal: bool = True, pad_v: bool = False
) -> torch.Tensor:
    """Decompress the latent cache rows and run `mla_prefill_sdpa`.
    q_nope [B,S,H,dn], q_pe [B,S,H,dr], c_kv [B,S,r], k_pe [B,S,dr], w_uk [H,dn,r], w_uv [H,dv,r] -> [B,S,H,dv]."""
    H = w_uk.shape[0]
    k_nope = torch.einsum("bsr,hdr->bshd", c_kv, w_uk)
    v = torch.einsum("bsr,hdr->bshd", c_kv, w_uv)
    k = torch.cat([k_nope, k_pe[:, :, None, :].expand(-1, -1, H, -1)], dim=-1)
    q = torch.cat([q_nope, q_pe], dim=-1)
    return mla_prefill_sdpa(q, k, v, softmax_scale=softmax_scale, causal=causal, pad_v=pad_v)


def gqa_prefill_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, softmax_scale: float | None = None, causal: bool = True
) -> torch.Tensor:
    """q [B, S, Hq, D], k, v [B, S, Hkv, D] -> [B, S, Hq, D] (SDPA with enable_gqa when Hkv < Hq). Bad shapes or
    scale: one KernelInputError."""
    check_prefill_inputs(q, k, v, grouped=True, causal=causal)
    check_scale(softmax_scale, optional=True)
    return F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal, scale=softmax_scale,
        enable_gqa=k.shape[2] != q.shape[2],
    ).transpose(1, 2)
