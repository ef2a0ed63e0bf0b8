"""Reference attention in float64/float32: MHA, MQA, GQA and MLA (decompressed and absorbed).

Everything here is written for clarity, not speed: the fast kernels in this package are tested against it.

Shapes (B batch, Sq query tokens, Sk key tokens, Hq query heads, Hkv key/value heads):
    q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv] -> out [B, Sq, Hq, Dv]
MHA is Hkv == Hq, MQA is Hkv == 1, GQA anything in between (Hq % Hkv == 0, query head h reads kv head
h // (Hq // Hkv)).

Causality is "aligned to the end", as in decoding: query token i of a sequence whose keys are 0..L-1 sits at
position L - Sq + i and sees keys j <= L - Sq + i. With Sq == Sk == L this is the usual causal prefill mask;
with Sq == 1 it is plain decoding; with Sq > 1 it is multi-token prediction / speculative verification.

MLA (DeepSeek-V2/V3, arXiv:2405.04434 section 2.1): each token stores one latent c_kv [r] (kv_lora_rank, 512)
and one decoupled RoPE key k_pe [dr] (64) shared by all heads. Per head h,
    k_nope[h] = W_UK[h] @ c_kv       W_UK [H, dn, r]   (dn = qk_nope_head_dim, 128)
    v[h]      = W_UV[h] @ c_kv       W_UV [H, dv, r]   (dv = v_head_dim, 128)
    score     = (q_nope[h] . k_nope[h] + q_pe[h] . k_pe) * scale,   scale = (dn + dr) ** -0.5
Decompressed form: build k = [k_nope, k_pe] (192) and v (128) per head and run MHA.
Absorbed form: q_lat[h] = W_UK[h]^T @ q_nope[h] (r), then q_lat . c_kv == q_nope . k_nope, so attention runs over
the cache rows [c_kv, k_pe] (r + dr = 576) directly, like MQA with one 576-dim key whose first r dims are also the
value; the latent output o_lat[h] (r) becomes v-space by o[h] = W_UV[h] @ o_lat[h].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "attention_reference",
    "mla_latent_attention_reference",
    "mla_sparse_reference",
    "mla_decompressed_reference",
    "mla_absorbed_reference",
    "absorb_query",
    "RMSNorm",
    "rope_cos_sin",
    "apply_rope",
    "MLAConfig",
    "MLAAttention",
]


def _visible_mask(q_len: int, k_len: int, kv_lengths: torch.Tensor | None, causal: bool, device) -> torch.Tensor:
    """Boolean [B or 1, Sq, Sk]: True where query token i may attend key j."""
    j = torch.arange(k_len, device=device)
    i = torch.arange(q_len, device=device)
    lengths = (
        torch.full((1,), k_len, device=device, dtype=torch.long)
        if kv_lengths is None
        else kv_lengths.to(device=device, dtype=torch.long)
    )
    ok = j[None, None, :] < lengths[:, None, None]  # [B, 1, Sk]
    if causal:
        last = lengths[:, None] - q_len + i[None, :]  # [B, Sq]: last visible key of each query token
        ok = ok & (j[None, None, :] <= last[:, :, None])
    return ok.expand(-1, q_len, -1)


def attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    scale: float | None = None,
    causal: bool = False,
    kv_lengths: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Softmax attention for MHA/MQA/GQA, computed in `dtype` (float64 by default).

    q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv]; kv_lengths [B] (keys >= length are ignored; None means
    all Sk); causal aligns queries to the end of each sequence (see module docstring). scale defaults to D**-0.5.
    Returns [B, Sq, Hq, Dv] in `dtype`. A query row that sees no key returns zeros.
    """
    B, Sq, Hq, D = q.shape
    Sk, Hkv = k.shape[1], k.shape[2]
    assert Hq % Hkv == 0, "query heads must be a multiple of kv heads"
    scale = D**-0.5 if scale is None else scale
    qf, kf, vf = (t.to(dtype) for t in (q, k, v))
    group = Hq // Hkv
    qf = qf.view(B, Sq, Hkv, group, D)  # query head h = j * group + g reads kv head j (no K/V copies)
    scores = torch.einsum("bqjgd,bkjd->bjgqk", qf, kf) * scale
    ok = _visible_mask(Sq, Sk, kv_lengths, causal, q.device)[:, None, None]  # [B, 1, 1, Sq, Sk]
    scores = scores.masked_fill(~ok, float("-inf"))
    p = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # rows with no visible key -> 0
    return torch.einsum("bjgqk,bkjd->bqjgd", p, vf).reshape(B, Sq, Hq, vf.shape[-1])


def mla_latent_attention_reference(
    q_lat: torch.Tensor,
    kv: torch.Tensor,
    kv_lora_rank: int,
    *,
    scale: float,
    causal: bool = True,
    kv_lengths: torch.Tensor | None = None,
    kv_scale: float | torch.Tensor | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Absorbed MLA attention over cache rows: what the decode kernels compute.

    q_lat [B, Sq, H, r + dr] (absorbed latent query followed by the RoPE query), kv [B, Sk, r + dr] (latent then
    RoPE key; any dtype, fp8 too, multiplied by kv_scale when given). Values are kv[..., :r].
    Returns o_lat [B, Sq, H, r] in `dtype`.
    """
    kvf = kv.to(dtype)
    if kv_scale is not None:
        kvf = kvf * (kv_scale.to(dtype) if torch.is_tensor(kv_scale) else kv_scale)
    k = kvf[:, :, None, :]  # one shared key "head"
    v = kvf[:, :, None, :kv_lora_rank]
    return attention_reference(q_lat, k, v, scale=scale, causal=causal, kv_lengths=kv_lengths, dtype=dtype)


def mla_sparse_reference(
    q: torch.Tensor,
    kv_cache: torch.Tensor,
    indices: torch.Tensor,
    kv_lora_rank: int,
    *,
    scale: float,
    block_table: torch.Tensor | None = None,
    cache_seqlens: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Sparse (top-k, DeepSeek Sparse Attention) absorbed MLA decode: query token t of sequence b attends only the
    cache rows its `indices[b, t]` select. One loop per query token, no batching tricks.

    q [B, s_q, H, r + dr]; kv_cache paged [num_blocks, block_size, r + dr] in a float dtype (dequantise an fp8-ds
    cache first: cache.unpack_fp8_ds); indices [B, s_q, topk] integer token positions, read through block_table
    [B, nblk] (row = block_table[b, i // block_size], i % block_size), or without a table rows of the flattened pool
    (FlashMLA's convention). An index is used when 0 <= i < cache_seqlens[b] (without lengths: below the table's or
    pool's capacity); -1 (and anything else out of range) is an unused slot. No causal mask: the indices decide.
    Returns o_lat [B, s_q, H, r] in `dtype`; a query token with no used index gives zeros.
    """
    B, s_q, H, _ = q.shape
    P = kv_cache.shape[1]
    pool = kv_cache.to(dtype)
    out = torch.zeros(B, s_q, H, kv_lora_rank, dtype=dtype, device=q.device)
    for b in range(B):
        if cache_seqlens is not None:
            limit = int(cache_seqlens[b])
        else:
            limit = block_table.shape[1] * P if block_table is not None else kv_cache.shape[0] * P
        for t in range(s_q):
            idx = indices[b, t].long()
            idx = idx[(idx >= 0) & (idx < limit)]
            if idx.numel() == 0:
                continue
            page = block_table[b].long()[idx // P] if block_table is not None else idx // P
            rows = pool[page, idx % P]  # [n, r + dr]
            p = torch.softmax(q[b, t].to(dtype) @ rows.T * scale, dim=-1)  # [H, n]
            out[b, t] = p @ rows[:, :kv_lora_rank]
    return out


def absorb_query(q_nope: torch.Tensor, q_pe: torch.Tensor, w_uk: torch.Tensor) -> torch.Tensor:
    """q_lat[h] = [W_UK[h]^T q_nope[h], q_pe[h]]: q_nope [B,S,H,dn], q_pe [B,S,H,dr], w_uk [H,dn,r] -> [B,S,H,r+dr]."""
    q_abs = torch.einsum("bshd,hdr->bshr", q_nope, w_uk.to(q_nope.dtype))
    return torch.cat([q_abs, q_pe], dim=-1)


def mla_decompressed_reference(
    q_nope, q_pe, c_kv, k_pe, w_uk, w_uv, *, scale, causal=True, kv_lengths=None, dtype=torch.float64
) -> torch.Tensor:
    """MLA as MHA: k = [W_UK c_kv, k_pe] (dn + dr), v = W_UV c_kv (dv) per head.

    q_nope [B,Sq,H,dn], q_pe [B,Sq,H,dr], c_kv [B,Sk,r], k_pe [B,Sk,dr], w_uk [H,dn,r], w_uv [H,dv,r].
    Returns [B, Sq, H, dv] in `dtype`.
    """
    c = c_kv.to(dtype)
    H = w_uk.shape[0]
    k_nope = torch.einsum("bsr,hdr->bshd", c, w_uk.to(dtype))
    v = torch.einsum("bsr,hdr->bshd", c, w_uv.to(dtype))
    k_rope = k_pe.to(dtype)[:, :, None, :].expand(-1, -1, H, -1)
    q = torch.cat([q_nope.to(dtype), q_pe.to(dtype)], dim=-1)
    k = torch.cat([k_nope, k_rope], dim=-1)
    return attention_reference(q, k, v, scale=scale, causal=causal, kv_lengths=kv_lengths, dtype=dtype)


def mla_absorbed_reference(
    q_nope, q_pe, c_kv, k_pe, w_uk, w_uv, *, scale, causal=True, kv_lengths=None, dtype=torch.float64
) -> torch.Tensor:
    """MLA with W_UK absorbed into the query and W_UV applied after attention over the latent. Same result as
    `mla_decompressed_reference` (same arguments, same [B, Sq, H, dv] output)."""
    r = c_kv.shape[-1]
    q_lat = absorb_query(q_nope.to(dtype), q_pe.to(dtype), w_uk.to(dtype))
    kv = torch.cat([c_kv.to(dtype), k_pe.to(dtype)], dim=-1)
    o_lat = mla_latent_attention_reference(
        q_lat, kv, r, scale=scale, causal=causal, kv_lengths=kv_lengths, dtype=dtype
    )
    return torch.einsum("bshr,hdr->bshd", o_lat, w_uv.to(dtype))


# ----------------------------------------------------------------------------------------------------------------
# Building blocks shared with layers.py


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight, computed in float32 (or the input dtype if wider)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return y.to(x.dtype) * self.weight.to(x.dtype)


def rope_cos_sin(positions: torch.Tensor, dim: int, theta: float = 10000.0, dtype=torch.float32):
    """cos, sin [..., dim] for rotate-half RoPE (Llama / HF layout) at integer `positions`."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, device=positions.device, dtype=torch.float64) / dim))
    ang = positions.to(torch.float64)[..., None] * inv_freq  # [..., dim/2]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, S, (H,) d] rotated with cos/sin [S, d] (rotate-half layout)."""
    d = x.shape[-1]
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    rot = torch.cat([-x2, x1], dim=-1)
    if x.dim() == 4:
        cos, sin = cos[:, None, :], sin[:, None, :]
    return x * cos.to(x.dtype) + rot * sin.to(x.dtype)


@dataclass(frozen=True)
class MLAConfig:
    """MLA attention dimensions; defaults are DeepSeek-V3's (config.json of deepseek-ai/DeepSeek-V3)."""

    hidden: int = 7168
    heads: int = 128
    kv_lora_rank: int = 512
    q_lora_rank: int | None = 1536  # None or 0: queries projected straight from the hidden state (V2-Lite)
    qk_nope_dim: int = 128
    qk_rope_dim: int = 64
    v_head_dim: int = 128
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6

    @property
    def softmax_scale(self) -> float:
        return (self.qk_nope_dim + self.qk_rope_dim) ** -0.5


class MLAAttention(nn.Module):
    """Multi-head latent attention with causal self-attention over the input sequence.

    Parameters (all bias-free Linear, weight [out, in]):
      q_a_proj [q_lora, hidden], q_a_norm, q_b_proj [H*(dn+dr), q_lora]   (or q_proj [H*(dn+dr), hidden])
      kv_a_proj [r + dr, hidden]  -> latent c_kv (RMSNorm'd by kv_a_norm) and the shared RoPE key k_pe
      kv_b_proj [H*(dn+dv), r]    -> viewed [H, dn+dv, r]: W_UK = [:, :dn], W_UV = [:, dn:]
      o_proj [hidden, H*dv]
    forward(x, absorbed=False) runs the decompressed (MHA) form; absorbed=True runs the latent form. Both give the
    same output up to rounding. attn="sdpa" (decompressed only) uses torch's fused SDPA, for training.
    """

    def __init__(self, cfg: MLAConfig):
        super().__init__()
        self.cfg = cfg
        H, dn, dr, dv, r = cfg.heads, cfg.qk_nope_dim, cfg.qk_rope_dim, cfg.v_head_dim, cfg.kv_lora_rank
        if cfg.q_lora_rank:
            self.q_a_proj = nn.Linear(cfg.hidden, cfg.q_lora_rank, bias=False)
            self.q_a_norm = RMSNorm(cfg.q_lora_rank, cfg.norm_eps)
            self.q_b_proj = nn.Linear(cfg.q_lora_rank, H * (dn + dr), bias=False)
        else:
            self.q_proj = nn.Linear(cfg.hidden, H * (dn + dr), bias=False)
        self.kv_a_proj = nn.Linear(cfg.hidden, r + dr, bias=False)
        self.kv_a_norm = RMSNorm(r, cfg.norm_eps)
        self.kv_b_proj = nn.Linear(r, H * (dn + dv), bias=False)
        self.o_proj = nn.Linear(H * dv, cfg.hidden, bias=False)

    # -- pieces, public so that decode kernels can be fed from the same weights --
    def w_uk(self) -> torch.Tensor:
        c = self.cfg
        return self.kv_b_proj.weight.view(c.heads, c.qk_nope_dim + c.v_head_dim, c.kv_lora_rank)[:, : c.qk_nope_dim]

    def w_uv(self) -> torch.Tensor:
        c = self.cfg
        return self.kv_b_proj.weight.view(c.heads, c.qk_nope_dim + c.v_head_dim, c.kv_lora_rank)[:, c.qk_nope_dim :]

    def project_q(self, x: torch.Tensor, positions: torch.Tensor):
        """-> q_nope [B,S,H,dn], q_pe [B,S,H,dr] (RoPE applied)."""
        c = self.cfg
        B, S, _ = x.shape
        q = self.q_b_proj(self.q_a_norm(self.q_a_proj(x))) if c.q_lora_rank else self.q_proj(x)
        q = q.view(B, S, c.heads, c.qk_nope_dim + c.qk_rope_dim)
        q_nope, q_pe = q.split([c.qk_nope_dim, c.qk_rope_dim], dim=-1)
        cos, sin = rope_cos_sin(positions, c.qk_rope_dim, c.rope_theta, dtype=x.dtype)
        return q_nope, apply_rope(q_pe, cos, sin)

    def project_kv(self, x: torch.Tensor, positions: torch.Tensor):
        """-> c_kv [B,S,r] (normalised latent), k_pe [B,S,dr] (RoPE applied): exactly what the cache stores."""
        c = self.cfg
        kv = self.kv_a_proj(x)
        c_kv, k_pe = kv.split([c.kv_lora_rank, c.qk_rope_dim], dim=-1)
        cos, sin = rope_cos_sin(positions, c.qk_rope_dim, c.rope_theta, dtype=x.dtype)
        return self.kv_a_norm(c_kv), apply_rope(k_pe, cos, sin)

    def output_from_latent(self, o_lat: torch.Tensor) -> torch.Tensor:
        """o_lat [B,S,H,r] -> W_UV per head -> o_proj -> [B,S,hidden]."""
        o = torch.einsum("bshr,hdr->bshd", o_lat, self.w_uv().to(o_lat.dtype))
        return self.o_proj(o.flatten(2).to(self.o_proj.weight.dtype))

    def forward(
        self, x: torch.Tensor, positions: torch.Tensor | None = None, absorbed: bool = False, attn: str = "reference"
    ) -> torch.Tensor:
        c = self.cfg
        B, S, _ = x.shape
        if positions is None:
            positions = torch.arange(S, device=x.device)
        q_nope, q_pe = self.project_q(x, positions)
        c_kv, k_pe = self.project_kv(x, positions)
        if absorbed:
            q_lat = absorb_query(q_nope, q_pe, self.w_uk())
            kv = torch.cat([c_kv, k_pe], dim=-1)
            o_lat = mla_latent_attention_reference(
                q_lat, kv, c.kv_lora_rank, scale=c.softmax_scale, causal=True, dtype=x.dtype
            )
            return self.output_from_latent(o_lat)
        k_nope = torch.einsum("bsr,hdr->bshd", c_kv, self.w_uk())
        v = torch.einsum("bsr,hdr->bshd", c_kv, self.w_uv())
        k = torch.cat([k_nope, k_pe[:, :, None, :].expand(-1, -1, c.heads, -1)], dim=-1)
        q = torch.cat([q_nope, q_pe], dim=-1)
        if attn == "sdpa":
            o = F.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True, scale=c.softmax_scale
            ).transpose(1, 2)
        else:
            o = attention_reference(q, k, v, scale=c.softmax_scale, causal=True, dtype=x.dtype)
        return self.o_proj(o.reshape(B, S, c.heads * c.v_head_dim))
