"""KV-cache size: per token per layer, per token, per sequence, per batch, per GPU.

What each attention kind caches per token per layer (elements; bytes = elements x bits / 8):

- MHA/GQA/MQA: ``num_kv_heads x (qk_nope + qk_rope)`` for K plus ``num_kv_heads x v_head_dim`` for V.
  With ``kv_shared`` there is no V cache: the value is the first ``v_head_dim`` dims of the cached key.
- MLA, compressed cache (what DeepSeek's inference code and every serving engine keeps): the latent
  ``c_KV`` of ``kv_lora_rank`` dims plus the decoupled RoPE key ``k_R`` of ``qk_rope_head_dim`` dims, shared by
  all heads. DeepSeek-V2 paper (arXiv 2405.04434) Table 1: ``(d_c + d_h^R) l`` elements per token, which it
  quotes as ``(9/2) d_h l`` for d_c = 4 d_h, d_h^R = d_h / 2.
- MLA, naive cache: per-head K of ``qk_nope + qk_rope`` dims and V of ``v_head_dim`` dims for every query head,
  as an implementation that decompresses before caching holds (the first Hugging Face port of DeepSeek-V2).

Sliding-window layers hold at most ``sliding_window`` tokens. Paged allocation rounds each sequence's tokens
in each layer up to whole blocks of ``block_size`` tokens (vLLM's PagedAttention, arXiv 2309.06180).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import SpecError
from .spec import Attention, ModelSpec

CACHE_MODES = ("compressed", "naive")


@dataclass(frozen=True)
class KVCache:
    """A KV-cache amount split into its parts. Units are whatever the producer says (elements or bytes)."""

    latent: float = 0
    rope_key: float = 0
    k: float = 0
    v: float = 0

    @property
    def total(self) -> float:
        return self.latent + self.rope_key + self.k + self.v

    def scaled(self, factor: float) -> "KVCache":
        return KVCache(self.latent * factor, self.rope_key * factor, self.k * factor, self.v * factor)

    def as_dict(self) -> dict:
        return {"latent": self.latent, "rope_key": self.rope_key, "k": self.k, "v": self.v, "total": self.total}


def kv_elements_per_token_layer(attn: Attention, cache: str = "compressed") -> KVCache:
    """Elements one token adds to one layer's cache (see module docstring for the derivation)."""
    if cache not in CACHE_MODES:
        raise SpecError("--cache", f"must be one of {', '.join(CACHE_MODES)}, got {cache!r}")
    if attn.kind == "mla":
        if cache == "compressed":
            return KVCache(latent=attn.kv_lora_rank, rope_key=attn.qk_rope_head_dim)
        return KVCache(k=attn.num_heads * attn.qk_head_dim, v=attn.num_heads * attn.v_head_dim)
    k = attn.num_kv_heads * attn.qk_head_dim
    v = 0 if attn.kv_shared else attn.num_kv_heads * attn.v_head_dim
    return KVCache(k=k, v=v)


def tokens_held(spec: ModelSpec, context: int, block_size: int | None = None) -> list[int]:
    """Tokens each layer holds for one sequence of ``context`` tokens (window- and block-rounded)."""
    a = spec.attention
    held = []
    for layer in range(spec.num_layers):
        is_global = a.sliding_window is None or (a.global_every is not None and (layer + 1) % a.global_every == 0)
        n = context if is_global else min(context, a.sliding_window)
        if block_size:
            n = math.ceil(n / block_size) * block_size
        held.append(n)
    return held


@dataclass(frozen=True)
class Sharding:
    """How KV is laid out over GPUs. ``dp_attention``: sequences, not heads, split over the TP group."""

    tp: int = 1
    pp: int = 1
    dp_attention: bool = False

    def __post_init__(self):
        for name in ("tp", "pp"):
            if getattr(self, name) < 1:
                raise SpecError(f"--{name}", f"must be at least 1, got {getattr(self, name)}")


def kv_heads_per_rank(attn: Attention, tp: int, cache: str = "compressed") -> float:
    """Fraction of one layer's per-token KV a TP rank holds (1.0 = all of it).

    K/V heads split across ranks; with fewer KV heads than ranks each rank keeps one head (replicated
    ``tp / num_kv_heads`` times), as vLLM and Megatron do. The MLA latent and RoPE key belong to no head, so
    every rank holds all of them; a naive MLA cache is per head and splits like MHA.
    """
    if tp == 1:
        return 1.0
    if attn.kind == "mla":
        if cache == "compressed":
            return 1.0
        heads = attn.num_heads
    else:
        heads = attn.num_kv_heads
    if heads % tp and tp % heads:
        raise SpecError("--tp", f"{tp} ranks cannot share {heads} KV heads evenly "
                        f"(need one to divide the other)")
    return max(1, heads // tp) / heads


@dataclass(frozen=True)
class KVReport:
    """Everything ``mlacalc kv`` prints, in bytes. Parts sum to totals (``KVCache.total``)."""

    model: str
    kind: str
    cache: str
    context: int
    batch: int
    kv_bits: float
    block_size: int | None
    sharding: Sharding
    per_token_layer: KVCache     # bytes one token adds to one layer
    per_token: KVCache           # bytes one token adds over all layers (as if every layer were global)
    per_sequence: KVCache        # one sequence of `context` tokens (windows and blocks applied)
    total: KVCache               # `batch` sequences, before sharding
    per_gpu_fraction: float      # share of `total` one GPU holds (can exceed 1/#GPUs through replication)
    batch_per_gpu: int

    @property
    def per_gpu(self) -> KVCache:
        return self.total.scaled(self.per_gpu_fraction)

    def to_json(self) -> dict:
        return {
            "model": self.model, "attention": self.kind, "cache": self.cache, "context": self.context,
            "batch": self.batch, "kv_bits": self.kv_bits, "block_size": self.block_size,
            "tp": self.sharding.tp, "pp": self.sharding.pp, "dp_attention": self.sharding.dp_attention,
            "kv_bytes_per_token_layer": self.per_token_layer.total,
            "kv_bytes_per_token": self.per_token.total,
            "kv_bytes_per_sequence": self.per_sequence.total,
            "kv_bytes_total": self.total.total,
            "kv_bytes_per_gpu": self.per_gpu.total,
            "batch_per_gpu": self.batch_per_gpu,
            "parts_per_token": self.per_token.as_dict(),
            "parts_per_gpu": self.per_gpu.as_dict(),
        }


def kv_report(spec: ModelSpec, context: int, batch: int = 1, *, kv_bits: float | None = None,
              cache: str = "compressed", block_size: int | None = None,
              sharding: Sharding = Sharding()) -> KVReport:
    """KV-cache bytes for ``batch`` sequences of ``context`` tokens.

    Per GPU: a TP rank holds ``kv_heads_per_rank`` of each token's KV for the sequences it serves (all of them
    under TP; ``ceil(batch / tp)`` under data-parallel attention, which keeps all heads); a PP stage holds its
    layers (stages of ``ceil(L / pp)`` contiguous layers; the fullest stage is reported).
    """
    if context < 1 or batch < 1:
        raise SpecError("--context" if context < 1 else "--batch", "must be at least 1")
    if block_size is not None and block_size < 1:
        raise SpecError("--block-size", f"must be at least 1, got {block_size}")
    bits = spec.dtypes.kv_bits if kv_bits is None else kv_bits
    bytes_per_element = bits / 8
    per_tl = kv_elements_per_token_layer(spec.attention, cache).scaled(bytes_per_element)
    held = tokens_held(spec, context, block_size)
    per_seq = per_tl.scaled(sum(held))
    total = per_seq.scaled(batch)

    tp, pp = sharding.tp, sharding.pp
    if sharding.dp_attention:
        head_share, batch_per_gpu = 1.0, math.ceil(batch / tp)
    else:
        head_share, batch_per_gpu = kv_heads_per_rank(spec.attention, tp, cache), batch
    stage = math.ceil(spec.num_layers / pp)
    fullest_stage = max(sum(held[i:i + stage]) for i in range(0, spec.num_layers, stage))
    fraction = head_share * (batch_per_gpu / batch) * (fullest_stage / sum(held))
    return KVReport(model=spec.name, kind=spec.attention.kind, cache=cache, context=context, batch=batch,
                    kv_bits=bits, block_size=block_size, sharding=sharding, per_token_layer=per_tl,
                    per_token=per_tl.scaled(spec.num_layers), per_sequence=per_seq, total=total,
                    per_gpu_fraction=fraction, batch_per_gpu=batch_per_gpu)

