"""Small transformer layers for the profiler: one MLA layer and its GQA/MHA twins, forward and backward.

Each layer is   x -> h = x + Attn(RMSNorm(x)) -> h + FFN(RMSNorm(h)),   FFN(u) = W_down(SiLU(W_gate u) * W_up u)
(pre-norm, residuals, gated SiLU FFN as in Llama and DeepSeek's dense layers). Attention runs through
F.scaled_dot_product_attention (causal), so the activation memory is that of a fused kernel: no [S, S] score
matrix is kept, only the output and a log-sum-exp per (head, token).

Tensors saved for backward, per layer, in the order the forward pass makes them (B batch, S tokens, d hidden,
f ffn_intermediate). The profiler (issue 6) compares these term by term with its analytic model:
  both:  attn_norm in x [B,S,d]; attention output o [B,S,H*dv] (o_proj input); residual h [B,S,d];
         ffn_norm in h; gate [B,S,f], up [B,S,f], SiLU(gate)*up [B,S,f] (down-proj input)
  GQA:   normed x [B,S,d] (q/k/v proj input); q [B,S,Hq,D], k, v [B,S,Hkv,D] after RoPE (SDPA inputs) plus the
         SDPA output and logsumexp [B,Hq,S] (float32)
  MLA:   normed x [B,S,d]; q_a [B,S,q_lora] and its norm (if q_lora_rank); kv_a [B,S,r+dr] and normed c_kv
         [B,S,r]; q [B,S,H,dn+dr], k [B,S,H,dn+dr], v [B,S,H,dv] (SDPA inputs; k_nope/v come from kv_b_proj)
         plus the SDPA output and logsumexp
RMSNorm is norm.RMSNorm (a memory-efficient autograd Function: it keeps its bf16 input and a float32 rstd per
token, as a fused kernel does), also for MLA's latent norms (q_a_norm, kv_a_norm, replaced after MLAAttention is
built; reference.RMSNorm would keep a float32 copy of its input). MLA's kv_a_norm input is a view of kv_a's
output [B,S,r+dr], so that whole buffer stays alive. Also kept: RoPE's cos/sin [S, d] (bf16, per layer; MLA
computes them twice, in project_q and project_kv) and, for MLA, the einsum's contiguous copies of the W_UK / W_UV
views [H*dn, r] and [H*dv, r] (bf16). Autograd may also keep small views and int64 scalars.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .norm import RMSNorm
from .reference import MLAAttention, MLAConfig, apply_rope, rope_cos_sin

__all__ = ["LayerDims", "FeedForward", "GQAAttention", "MLALayer", "GQALayer", "make_layer"]


@dataclass(frozen=True)
class LayerDims:
    """Plain dimensions of one layer. kv_heads None means MHA (kv_heads = heads); 1 is MQA.
    MLA fields (kv_lora_rank, q_lora_rank, qk_nope_dim, rope_dim, v_head_dim) are read by MLALayer only;
    head_dim by GQALayer only."""

    hidden: int
    heads: int
    ffn_intermediate: int
    kv_heads: int | None = None
    head_dim: int = 128
    kv_lora_rank: int = 512
    q_lora_rank: int | None = None
    qk_nope_dim: int = 128
    rope_dim: int = 64
    v_head_dim: int = 128
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6

    def mla_config(self) -> MLAConfig:
        return MLAConfig(
            hidden=self.hidden, heads=self.heads, kv_lora_rank=self.kv_lora_rank, q_lora_rank=self.q_lora_rank,
            qk_nope_dim=self.qk_nope_dim, qk_rope_dim=self.rope_dim, v_head_dim=self.v_head_dim,
            rope_theta=self.rope_theta, norm_eps=self.norm_eps,
        )


class FeedForward(nn.Module):
    """Gated SiLU FFN: down(silu(gate(x)) * up(x)); weights [f, d], [f, d], [d, f]."""

    def __init__(self, hidden: int, intermediate: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class GQAAttention(nn.Module):
    """Llama-style attention: q [Hq*D], k/v [Hkv*D] projections, RoPE on the whole head, causal SDPA, o_proj."""

    def __init__(self, dims: LayerDims):
        super().__init__()
        self.dims = dims
        self.kv_heads = dims.kv_heads or dims.heads
        D = dims.head_dim
        self.q_proj = nn.Linear(dims.hidden, dims.heads * D, bias=False)
        self.k_proj = nn.Linear(dims.hidden, self.kv_heads * D, bias=False)
        self.v_proj = nn.Linear(dims.hidden, self.kv_heads * D, bias=False)
        self.o_proj = nn.Linear(dims.heads * D, dims.hidden, bias=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        B, S, _ = x.shape
        D = self.dims.head_dim
        if positions is None:
            positions = torch.arange(S, device=x.device)
        cos, sin = rope_cos_sin(positions, D, self.dims.rope_theta, dtype=x.dtype)
        q = apply_rope(self.q_proj(x).view(B, S, self.dims.heads, D), cos, sin)
        k = apply_rope(self.k_proj(x).view(B, S, self.kv_heads, D), cos, sin)
        v = self.v_proj(x).view(B, S, self.kv_heads, D)
        o = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True,
            enable_gqa=self.kv_heads != self.dims.heads,
        )
        return self.o_proj(o.transpose(1, 2).reshape(B, S, self.dims.heads * D))


class _Block(nn.Module):
    def __init__(self, dims: LayerDims, attn: nn.Module):
        super().__init__()
        self.dims = dims
        self.attn_norm = RMSNorm(dims.hidden, dims.norm_eps)
        self.attn = attn
        self.ffn_norm = RMSNorm(dims.hidden, dims.norm_eps)
        self.ffn = FeedForward(dims.hidden, dims.ffn_intermediate)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self._attend(self.attn_norm(x))
        return h + self.ffn(self.ffn_norm(h))


class MLALayer(_Block):
    """Pre-norm block with MLA attention (decompressed form through SDPA, for training)."""

    def __init__(self, dims: LayerDims):
        attn = MLAAttention(dims.mla_config())
        if dims.q_lora_rank:
            attn.q_a_norm = RMSNorm(dims.q_lora_rank, dims.norm_eps)
        attn.kv_a_norm = RMSNorm(dims.kv_lora_rank, dims.norm_eps)
        super().__init__(dims, attn)

    def _attend(self, x):
        return self.attn(x, absorbed=False, attn="sdpa")


class GQALayer(_Block):
    """Pre-norm block with GQA attention (MHA when kv_heads is None or == heads, MQA when 1)."""

    def __init__(self, dims: LayerDims):
        super().__init__(dims, GQAAttention(dims))

    def _attend(self, x):
        return self.attn(x)


def make_layer(kind: str, dims: LayerDims) -> nn.Module:
    """kind: "mla", "gqa", "mqa" or "mha" (mqa/mha override dims.kv_heads to 1 / heads)."""
    from dataclasses import replace

    if kind == "mla":
        return MLALayer(dims)
    if kind == "mha":
        return GQALayer(replace(dims, kv_heads=dims.heads))
    if kind == "mqa":
        return GQALayer(replace(dims, kv_heads=1))
    if kind == "gqa":
        return GQALayer(dims)
    raise ValueError(f"unknown layer kind {kind!r}")
