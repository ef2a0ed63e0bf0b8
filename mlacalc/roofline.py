"""Cost of one forward step, op by op, and its roofline time on a GPU.

For a step of ``new`` tokens per sequence over ``batch`` sequences that already hold ``prior`` tokens of cache
(prefill: ``prior = 0, new = S`` prompt tokens; decode: ``prior = C`` context, ``new = q`` tokens: 1, or k+1 with
multi-token prediction / speculative decoding), each op gets its FLOPs and the fewest HBM bytes it must move,
summed over layers and counted **per GPU**. The layout is the one of LLM-Viewer (Yuan et al., "LLM Inference
Unveiled: Survey and Roofline Model Insights", arXiv 2402.16363, section 3): one kernel per op that reads its
weights and inputs once and writes its outputs once; then ``time = max(FLOPs / peak, bytes / bandwidth)``
(Williams, Waterman, Patterson, "Roofline", CACM 2009), plus ``launches x kernel_launch_us`` when the hardware
spec gives a per-kernel launch cost (measured by ``mlacalc calibrate``; 0 in the datasheet specs).

Units: FLOPs (a multiply-add is 2), bytes, seconds. A matmul of ``m x k`` by ``k x n`` is ``2 m k n`` FLOPs.

Ops and their formulas (``T`` tokens in the step, ``d`` hidden, ``H`` query heads, ``L`` layers):

- ``qkv_proj``/``o_proj`` (MHA/MQA/GQA): ``2 T d (H d_qk + H_kv (d_qk + d_v))`` and ``2 T H d_v d``.
- MLA (DeepSeek-V2, arXiv 2405.04434, eqs. 37-47): ``q_down`` ``2 T d d_c'``, ``q_up`` ``2 T d_c' H (d_nope + d_rope)``,
  ``kv_down`` ``2 T d (d_c + d_rope)`` (latent plus the shared RoPE key), then one of two forms:

  * **absorbed** (decode default; DeepSeek-V3 ``inference/model.py``, ``attn_impl = "absorb"``): ``q_absorb``
    multiplies each head's no-RoPE query by ``W_UK`` (``2 T H d_nope d_c``), every query head attends the shared
    cached latent (``d_c + d_rope`` dims per key; values are its first ``d_c`` dims), and ``v_up`` applies ``W_UV``
    after attention (``2 T H d_c d_v``). Nothing is decompressed.
  * **decompressed** (prefill default): ``kv_up`` turns every attended token's latent into per-head K (no-RoPE
    part) and V (``2 N d_c H (d_nope + d_v)`` for ``N`` attended tokens), then attention is MHA with
    ``d_nope + d_rope`` query/key dims and ``d_v`` value dims. In decode this re-decompresses the whole cache
    each step, which is why serving engines absorb in decode.

- ``attn_core`` (scores and weighted values, summed over layers): ``2 H P (d_k + d_v)`` per sequence, where ``P``
  counts attended (query, key) pairs: token ``i`` of the step attends ``prior + i + 1`` keys (causal; in prefill
  that halves ``S^2`` to ``S (S + 1) / 2``), capped by the window on sliding-window layers. Bytes: the query
  in, the output out, and the keys/values of every attended token read once (the cache, at the KV dtype).
  Absorbed MLA: ``d_k = d_c + d_rope``, ``d_v = d_c``.
- ``kv_write``: the new tokens' cache entries (read from the projection output, written at the KV dtype).
- ``norms``: every RMSNorm (two per layer, MLA's latent norms, Qwen3's q/k norms, the final norm), 4 FLOPs per
  element (square, sum, scale, weight).
- ``ffn`` (gated: ``2 T 3 d f``), MoE ``router`` (``2 T d E``), ``experts`` (``2 T k 3 d f_e``) and
  ``shared_experts``. Expert weights read: the experts the step touches. With ``T`` tokens each routed to ``k``
  of ``E`` experts uniformly and independently, an expert is missed by one token with probability ``1 - k/E``,
  so ``E (1 - (1 - k/E)^T)`` distinct experts are read (:func:`touched_experts`).
- ``lm_head``: logits for the tokens that need them (prefill: the last token per sequence; decode: all ``q``).
- ``comm``: bytes each GPU sends over the interconnect (below).

Kernel launches (``OpCost.launches``, summed over layers; they cost time only with a hardware ``kernel_launch_us``):
one kernel per op per layer (projections, ``kv_write``, ``q_absorb``, ``v_up``, ``kv_up``, the router), one per
norm, two per FFN (gate and up with the activation fused into one GEMM, then down; grouped GEMMs for experts),
one for ``embed`` and ``lm_head``. ``attn_core``: in decode two per layer, the split-KV kernel and the kernel that
combines its partial outputs by their log-sum-exp (FlashDecoding; the project's Triton kernels, which launch one
when a single split suffices); in prefill one (FlashAttention). Collectives: latency not modelled (0).

Parallelism over ``n`` GPUs (:class:`Layout`):

- Tensor parallel (default): head-indexed projections, attention heads, FFN widths and the vocabulary split
  ``n`` ways; MLA's ``q_down``/``kv_down``, the router and all norms are replicated (vLLM's ReplicatedLinear).
  Each GPU reads its share of the KV cache (:func:`mlacalc.kv.kv_heads_per_rank`): **all** of the MLA latent,
  since it belongs to no head. Two all-reduces per layer (after attention, after the FFN) of ``T d`` activations,
  ring algorithm: each GPU sends ``2 (n-1)/n T d`` bytes per all-reduce.
- Data-parallel attention (``dp_attention``): each GPU runs all heads for ``ceil(B / n)`` sequences with full
  attention weights; the FFN/MoE stays split over the group, reached by an all-gather and a reduce-scatter
  (``2 (n-1)/n T d`` bytes per layer), or with ``ep`` an all-to-all dispatch and combine of the ``T k / n``
  token-expert pairs a GPU holds (``2 (n-1)/n (T/n) k d`` bytes per MoE layer).
- Expert parallel (``ep``): experts spread over the group, each GPU holding ``E / n`` whole experts; in
  expectation the same FLOPs and expert bytes per GPU as TP-split experts.

Dtypes: activations bf16. Weights at the weight dtype (embedding, head, router and norms at >= 16 bits, as in
:mod:`mlacalc.weights`). GEMMs run at the fp8 rate when weights are fp8 (W8A8, as DeepSeek-V3 serves), otherwise
at the bf16 rate (narrower weights are dequantised: W4A16). The attention core runs at the bf16 rate (an fp8
cache is dequantised on load). Norms run on the CUDA cores (the fp32 rate).

Not modelled: softmax, RoPE, activation functions and residual adds as separate FLOPs (they are fused into
neighbouring kernels or tiny); collective latency (the alpha term: it matters for small decode batches), and
launch latency unless the hardware spec gives it (above), overlap of communication with compute (times are summed), load imbalance between experts or between
sequences of unequal length, MTP draft-module cost and speculative acceptance rate (``q`` tokens are all
accepted), the naive (decompressed) MLA cache, pipeline parallelism, L2 cache reuse, and achievable fractions of
peak (use a calibrated hardware file from ``mlacalc calibrate`` for measured rates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from .errors import SpecError
from .hardware import Hardware
from .kv import kv_elements_per_token_layer, kv_heads_per_rank
from .spec import ModelSpec
from .weights import HIGH_PRECISION_BITS

PHASES = ("prefill", "decode")
MLA_FORMS = ("absorbed", "decompressed")
ACT_BITS = 16                   # activations bf16
NORM_FLOPS_PER_ELEMENT = 4      # RMSNorm: x*x, sum, x*rsqrt, *weight


# ---------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One forward step. ``context``: prompt tokens S in prefill, tokens already cached C in decode."""

    phase: str
    batch: int
    context: int
    q_tokens: int = 1

    def __post_init__(self):
        if self.phase not in PHASES:
            raise SpecError("--phase", f"must be one of {', '.join(PHASES)}, got {self.phase!r}")
        for name, flag in (("batch", "--batch"), ("context", "--context"), ("q_tokens", "--q-tokens")):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(flag, f"must be a whole number of at least 1, got {v!r}")

    @property
    def prior(self) -> int:
        """Tokens already in each sequence's cache before the step."""
        return 0 if self.phase == "prefill" else self.context

    @property
    def new(self) -> int:
        """Tokens per sequence this step processes."""
        return self.context if self.phase == "prefill" else self.q_tokens

    @property
    def head_tokens(self) -> int:
        """Tokens per sequence that need logits: the last prompt token in prefill, all q in decode."""
        return 1 if self.phase == "prefill" else self.q_tokens


@dataclass(frozen=True)
class Layout:
    """How one model replica is spread over ``tp`` GPUs (see module docstring)."""

    tp: int = 1
    dp_attention: bool = False
    ep: bool = False

    def __post_init__(self):
        if isinstance(self.tp, bool) or not isinstance(self.tp, int) or self.tp < 1:
            raise SpecError("--tp", f"must be a whole number of at least 1, got {self.tp!r}")


def default_mla_form(phase: str) -> str:
    """Decode absorbs (no decompression of the cache); prefill decompresses (cheaper for long prompts)."""
    return "absorbed" if phase == "decode" else "decompressed"


# ---------------------------------------------------------------------------------------------------------
# Costs
# ---------------------------------------------------------------------------------------------------------

class OpCost(NamedTuple):
    """FLOPs and bytes of one op on one GPU, summed over layers. ``bytes`` = HBM bytes (weights + activations +
    KV cache); ``comm_bytes`` go over the interconnect. ``out_width``: features per token the op writes.

    A NamedTuple rather than a frozen dataclass: equally immutable and named, and five times faster to build,
    which keeps a 10,000-configuration sweep inside its 2 s budget (``tests/bench_sweep.py``)."""

    name: str
    kind: str                 # matmul | attention | vector | memory | comm
    flops: float = 0.0
    weight_bytes: float = 0.0
    act_bytes: float = 0.0
    kv_bytes: float = 0.0
    comm_bytes: float = 0.0
    out_width: float = 0.0
    launches: float = 0.0     # kernel launches, summed over layers (see module docstring)

    @property
    def bytes(self) -> float:
        return self.weight_bytes + self.act_bytes + self.kv_bytes

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP per HBM byte (0 for an op that moves no HBM bytes)."""
        return self.flops / self.bytes if self.bytes else 0.0


def touched_experts(num_experts: int, experts_per_token: int, tokens: float) -> float:
    """Expected distinct experts hit when ``tokens`` tokens each pick ``experts_per_token`` of ``num_experts``
    uniformly at random (without replacement per token, independently across tokens).

    One token misses a given expert with probability ``1 - k/E`` (``C(E-1, k) / C(E, k)``), so the expected
    number hit is ``E (1 - (1 - k/E)^T)``. Real routers are not uniform; this is the balanced-load case that
    auxiliary-loss-free balancing (DeepSeek-V3 report, section 2.1.2) aims at.
    """
    if tokens <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - experts_per_token / num_experts) ** tokens)


def _sum_min(a: int, b: int, w: int | None) -> float:
    """sum of min(t, w) for t = a..b (w None: no cap)."""
    if w is None or b <= w:
        return (a + b) * (b - a + 1) / 2
    if a > w:
        return (b - a + 1) * w
    return (a + w) * (w - a + 1) / 2 + (b - w) * w


def _layer_windows(spec: ModelSpec) -> list[tuple[int, int | None]]:
    """(number of layers, window or None) groups, following :func:`mlacalc.kv.tokens_held`."""
    a, L = spec.attention, spec.num_layers
    if a.sliding_window is None:
        return [(L, None)]
    n_global = L // a.global_every if a.global_every else 0
    return [(n_global, None), (L - n_global, a.sliding_window)]


def attention_span(spec: ModelSpec, prior: int, new: int) -> tuple[float, float]:
    """(attended pairs, keys read) per sequence, summed over layers.

    Pairs: token i (0-based) of the step attends ``min(prior + i + 1, window)`` keys. Keys read: every key some
    query attends, ``min(prior + new, window + new - 1)`` per layer, each read once.
    """
    pairs = keys = 0.0
    for n_layers, w in _layer_windows(spec):
        if not n_layers:
            continue
        pairs += n_layers * _sum_min(prior + 1, prior + new, w)
        keys += n_layers * (prior + new if w is None else min(prior + new, w + new - 1))
    return pairs, keys


def attn_core_cost(spec: ModelSpec, seqs: int, prior: int, new: int, *, head_share: float = 1.0,
                   kv_share: float = 1.0, form: str | None = None, kv_bits: float = 16,
                   launches_per_layer: float = 0.0) -> OpCost:
    """The attention core on one GPU: scores ``Q K^T`` and weighted values ``P V`` for ``seqs`` sequences.

    FLOPs ``2 H' P (d_k + d_v)`` per sequence (``H' = H x head_share`` heads on this GPU, ``P`` attended pairs).
    Bytes: queries in and outputs out (bf16), keys/values of every attended token once: from the cache at
    ``kv_bits`` (conventional, absorbed MLA), or as decompressed bf16 activations (decompressed MLA, the cache
    having been read by ``kv_up``). ``launches_per_layer``: kernels per layer (decode, split-KV: 2; see the module
    docstring).
    """
    a, ab = spec.attention, ACT_BITS / 8
    pairs, keys = attention_span(spec, prior, new)
    heads = a.num_heads * head_share
    tokens = seqs * new * spec.num_layers          # query-token x layer
    kv_bytes = act_kv = 0.0
    if a.kind == "mla" and form == "absorbed":
        dk, dv = a.kv_lora_rank + a.qk_rope_head_dim, a.kv_lora_rank
        kv_bytes = seqs * keys * (a.kv_lora_rank + a.qk_rope_head_dim) * kv_bits / 8
    elif a.kind == "mla":
        dk, dv = a.qk_head_dim, a.v_head_dim
        act_kv = seqs * keys * heads * (dk + dv) * ab          # decompressed K (RoPE key broadcast) and V
    else:
        dk, dv = a.qk_head_dim, a.v_head_dim
        kv_bytes = seqs * keys * kv_elements_per_token_layer(a).total * kv_share * kv_bits / 8
    return OpCost("attn_core", "attention", flops=2 * seqs * heads * pairs * (dk + dv),
                  act_bytes=tokens * heads * (dk + dv) * ab + act_kv, kv_bytes=kv_bytes, out_width=heads * dv,
                  launches=launches_per_layer * spec.num_layers)


def _matmul(name: str, tokens: float, k: float, n: float, wb: float, ab: float, layers: int = 1,
            extra_weight: float = 0.0, out_width: float | None = None) -> OpCost:
    """``layers`` matmuls of ``tokens x k`` by ``k x n``: FLOPs ``2 T k n``; weights once, input and output once;
    one launch per layer."""
    return OpCost(name, "matmul", 2 * tokens * k * n * layers, (k * n * wb + extra_weight) * layers,
                  tokens * (k + n) * ab * layers, 0.0, 0.0, n if out_width is None else out_width, layers)


def _ffn(name: str, tokens: float, d: int, width: float, gated: bool, wb: float, ab: float, layers: int,
         weight_fraction: float = 1.0) -> OpCost:
    """An FFN of ``width`` on ``tokens``: ``2 T m d f`` FLOPs (m = 3 gated, else 2). Bytes: the input, the
    activated intermediate written and read back once (activation fused into the first GEMM), the output, and
    ``weight_fraction`` of its weights. Two launches per layer (gate/up with the activation, then down)."""
    m = 3 if gated else 2
    return OpCost(name, "matmul", flops=2 * tokens * m * d * width * layers,
                  weight_bytes=m * d * width * wb * weight_fraction * layers,
                  act_bytes=tokens * (2 * d + 2 * width) * ab * layers, out_width=d, launches=2 * layers)


def step_ops(spec: ModelSpec, step: Step, layout: Layout = Layout(), *, mla_form: str | None = None,
             weight_bits: float | None = None, kv_bits: float | None = None) -> tuple[OpCost, ...]:
    """Every op of one forward step on one GPU (see module docstring for each formula)."""
    a, f, d, L = spec.attention, spec.ffn, spec.hidden_size, spec.num_layers
    if a.kind == "mla":
        mla_form = mla_form or default_mla_form(step.phase)
        if mla_form not in MLA_FORMS:
            raise SpecError("--mla-form", f"must be one of {', '.join(MLA_FORMS)}, got {mla_form!r}")
    wbits = spec.dtypes.weight_bits if weight_bits is None else weight_bits
    kbits = spec.dtypes.kv_bits if kv_bits is None else kv_bits
    ab, wb, kb = ACT_BITS / 8, wbits / 8, kbits / 8
    hb = max(wbits, HIGH_PRECISION_BITS) / 8
    n = layout.tp
    B, prior, new = step.batch, step.prior, step.new
    T = B * new                                           # tokens in the step, over the whole group

    if layout.dp_attention:
        seqs, hs, kv_share = math.ceil(B / n), 1.0, 1.0
    else:
        if a.num_heads % n:
            raise SpecError("--tp", f"{n} ranks cannot split {a.num_heads} query heads evenly")
        seqs, hs, kv_share = B, 1.0 / n, kv_heads_per_rank(a, n)
    Ta = seqs * new                                       # tokens through attention on this GPU
    H = a.num_heads * hs                                  # query heads on this GPU
    ops: list[OpCost] = []

    vocab_share = 1.0 if layout.dp_attention else 1.0 / n
    ops.append(OpCost("embed", "memory", weight_bytes=Ta * d * hb * vocab_share, act_bytes=Ta * d * ab, out_width=d,
                      launches=1))
    core_launches = 2 if step.phase == "decode" else 1     # split-KV + combine in decode; one kernel in prefill

    # --- attention projections, core, cache write
    norm_width = 2 * d                                    # per token per layer: the two block norms
    norm_count = 2                                        # norm kernels per layer
    if a.kind == "mla":
        dc, dr, dn, dv = a.kv_lora_rank, a.qk_rope_head_dim, a.qk_nope_head_dim, a.v_head_dim
        if a.q_lora_rank:
            ops.append(_matmul("q_down", Ta, d, a.q_lora_rank, wb, ab, L))
            ops.append(_matmul("q_up", Ta, a.q_lora_rank, H * a.qk_head_dim, wb, ab, L))
            norm_width += a.q_lora_rank
            norm_count += 1
        else:
            ops.append(_matmul("q_proj", Ta, d, H * a.qk_head_dim, wb, ab, L))
        ops.append(_matmul("kv_down", Ta, d, dc + dr, wb, ab, L))
        norm_width += dc
        norm_count += 1
        ops.append(OpCost("kv_write", "memory", act_bytes=Ta * (dc + dr) * ab * L, kv_bytes=Ta * (dc + dr) * kb * L,
                          out_width=dc + dr, launches=L))
        if mla_form == "absorbed":
            # per-head matmuls: one row per (token, head); W_UK and W_UV are read once per layer
            ops.append(_matmul("q_absorb", Ta * H, dn, dc, 0, ab, L, extra_weight=H * dn * dc * wb, out_width=H * dc))
            ops.append(attn_core_cost(spec, seqs, prior, new, head_share=hs, form="absorbed", kv_bits=kbits,
                                      launches_per_layer=core_launches))
            ops.append(_matmul("v_up", Ta * H, dc, dv, 0, ab, L, extra_weight=H * dc * dv * wb, out_width=H * dv))
        else:
            _, keys = attention_span(spec, prior, new)
            decompressed = seqs * keys                    # token x layer latents turned into per-head K and V
            # reads latent + RoPE key from the cache, writes per-head K (RoPE key broadcast) and V
            ops.append(OpCost("kv_up", "matmul", flops=2 * decompressed * dc * H * (dn + dv),
                              weight_bytes=dc * H * (dn + dv) * wb * L, kv_bytes=decompressed * (dc + dr) * kb,
                              act_bytes=decompressed * H * (dn + dr + dv) * ab, out_width=H * (dn + dr + dv),
                              launches=L))
            ops.append(attn_core_cost(spec, seqs, prior, new, head_share=hs, form="decompressed", kv_bits=kbits,
                                      launches_per_layer=core_launches))
        o_in = H * dv
    else:
        kv_elems = kv_elements_per_token_layer(a).total * kv_share        # K and V per token on this GPU
        width = H * a.qk_head_dim + kv_elems
        bias = width * hb if a.qkv_bias else 0.0
        ops.append(_matmul("qkv_proj", Ta, d, width, wb, ab, L, extra_weight=bias))
        if a.qk_norm:                                     # per-head RMSNorm on q and k (Qwen3)
            norm_width += (H + a.num_kv_heads * kv_share) * a.qk_head_dim
            norm_count += 2
        ops.append(OpCost("kv_write", "memory", act_bytes=Ta * kv_elems * ab * L, kv_bytes=Ta * kv_elems * kb * L,
                          out_width=kv_elems, launches=L))
        ops.append(attn_core_cost(spec, seqs, prior, new, head_share=hs, kv_share=kv_share, kv_bits=kbits,
                                  launches_per_layer=core_launches))
        o_in = H * a.v_head_dim
    ops.append(_matmul("o_proj", Ta, o_in, d, wb, ab, L))

    norm_elems = Ta * (norm_width * L + d)
    ops.append(OpCost("norms", "vector", flops=NORM_FLOPS_PER_ELEMENT * norm_elems, act_bytes=2 * norm_elems * ab,
                      weight_bytes=(norm_width * L + d) * hb, out_width=d, launches=norm_count * L + 1))

    # --- FFN / MoE: all T tokens of the group, widths or experts split n ways
    Ld, Lm = spec.num_dense_layers, spec.num_moe_layers
    if Ld:
        ops.append(_ffn("ffn", T, d, f.intermediate_size / n, f.gated, wb, ab, Ld))
    if Lm:
        E, k = f.num_experts, f.experts_per_token
        ops.append(OpCost("router", "matmul", flops=2 * T * d * E * Lm, weight_bytes=d * E * hb * Lm,
                          act_bytes=T * (d + E) * ab * Lm, out_width=E, launches=Lm))
        touched = touched_experts(E, k, T)
        if layout.ep:   # E/n whole experts per GPU, T k / n token-expert pairs in expectation
            experts = _ffn("experts", T * k / n, d, f.expert_intermediate_size, f.gated, wb, ab, Lm,
                           weight_fraction=touched / n)
        else:           # every expert split n ways, all T k pairs
            experts = _ffn("experts", T * k, d, f.expert_intermediate_size / n, f.gated, wb, ab, Lm,
                           weight_fraction=touched)
        ops.append(experts)
        if f.num_shared_experts:
            ops.append(_ffn("shared_experts", T, d, f.num_shared_experts * f.shared_width / n, f.gated, wb, ab, Lm))

    Th = B * step.head_tokens
    ops.append(OpCost("lm_head", "matmul", flops=2 * Th * d * spec.vocab_size / n,
                      weight_bytes=spec.vocab_size * d * hb / n, act_bytes=Th * (d + spec.vocab_size / n) * ab,
                      out_width=spec.vocab_size / n, launches=1))

    # --- communication (bytes each GPU sends; see module docstring)
    if n > 1:
        ring = (n - 1) / n
        if not layout.dp_attention:
            comm = L * 2 * (2 * ring * T * d * ab)                        # two all-reduces per layer
        else:
            moe_ep = Lm if layout.ep else 0
            comm = (L - moe_ep) * 2 * ring * T * d * ab                   # all-gather + reduce-scatter
            comm += moe_ep * 2 * ring * (T / n) * f.experts_per_token * d * ab   # all-to-all dispatch + combine
        ops.append(OpCost("comm", "comm", comm_bytes=comm))
    return tuple(ops)


# ---------------------------------------------------------------------------------------------------------
# Roofline
# ---------------------------------------------------------------------------------------------------------

def gemm_bits(weight_bits: float) -> int:
    """Operand width the GEMMs run at: fp8 weights run fp8 GEMMs (W8A8); others run bf16 (or fp32 above 16)."""
    if weight_bits == 8:
        return 8
    return 32 if weight_bits > 16 else 16


class OpTime(NamedTuple):
    """An op with its roofline time on one GPU (a NamedTuple for speed, like :class:`OpCost`)."""

    op: OpCost
    peak_flops_s: float
    time_s: float
    bound: str                 # compute | memory | interconnect

    def to_json(self) -> dict:
        o = self.op
        return {"name": o.name, "flops": o.flops, "bytes": o.bytes, "intensity": o.intensity,
                "time_s": self.time_s, "bound": self.bound, "weight_bytes": o.weight_bytes,
                "act_bytes": o.act_bytes, "kv_bytes": o.kv_bytes, "comm_bytes": o.comm_bytes, "launches": o.launches}


def time_ops(ops: tuple[OpCost, ...], hw: Hardware, weight_bits: float, kv_bits: float = 16) -> tuple[OpTime, ...]:
    """``time = max(flops / peak, bytes / bandwidth) + launches x kernel_launch_us`` per op, in seconds (the
    launch term is 0 unless the hardware spec gives ``kernel_launch_us``, measured by ``mlacalc calibrate``);
    comm ops take ``comm_bytes / interconnect``. ``bound`` says which of the two roofline terms is larger."""
    bw, link = hw.mem_bandwidth_bytes_s, hw.interconnect_bytes_s
    launch_s = hw.kernel_launch_us * 1e-6
    peaks = {"matmul": hw.flops_per_s(gemm_bits(weight_bits)), "attention": hw.flops_per_s(32 if kv_bits > 16 else 16),
             "vector": hw.fp32_tflops * 1e12, "memory": hw.fp32_tflops * 1e12, "comm": 0.0}
    out = []
    for o in ops:
        if o.kind == "comm":
            out.append(OpTime(o, 0.0, o.comm_bytes / link, "interconnect"))
            continue
        peak = peaks[o.kind]
        tc, tm = o.flops / peak, (o.weight_bytes + o.act_bytes + o.kv_bytes) / bw
        extra = o.launches * launch_s
        out.append(OpTime(o, peak, tc + extra, "compute") if tc > tm else OpTime(o, peak, tm + extra, "memory"))
    return tuple(out)


@dataclass(frozen=True)
class AttentionBound:
    """Where the attention core sits against the GPU's ridge point (FLOP/byte at the bf16 rate)."""

    intensity: float              # attn_core FLOP per HBM byte
    ridge: float                  # peak bf16 FLOP/s / HBM bytes/s
    heads_per_gpu: float
    q_tokens_for_compute_bound: int | None   # smallest q (decode) that makes attn_core compute-bound; None if > 4096

    @property
    def bound(self) -> str:
        return "compute" if self.intensity > self.ridge else "memory"

    def to_json(self) -> dict:
        return {"intensity": self.intensity, "ridge": self.ridge, "bound": self.bound,
                "heads_per_gpu": self.heads_per_gpu, "q_tokens_for_compute_bound": self.q_tokens_for_compute_bound}


def attention_bound(spec: ModelSpec, hw: Hardware, step: Step, layout: Layout = Layout(), *,
                    mla_form: str | None = None, kv_bits: float | None = None) -> AttentionBound:
    """Arithmetic intensity of ``attn_core`` and the fewest decode query tokens that make it compute-bound.

    Batch does not move it: each sequence reads its own cache, so FLOPs and bytes both scale with batch. What
    moves it is query heads per GPU sharing one cache read (GQA group size; all heads for absorbed MLA, which
    TP divides) and query tokens per sequence (``q`` with MTP/speculation). Absorbed MLA decode:
    ``I ~ 2 H' q (2 d_c + d_r) / ((d_c + d_r) kv_bytes)``.
    """
    a = spec.attention
    kbits = spec.dtypes.kv_bits if kv_bits is None else kv_bits
    form = (mla_form or default_mla_form(step.phase)) if a.kind == "mla" else None
    if layout.dp_attention:
        hs, kv_share = 1.0, 1.0
    else:
        hs, kv_share = 1.0 / layout.tp, kv_heads_per_rank(a, layout.tp)
    ridge = hw.ridge_point(32 if kbits > 16 else 16)

    def intensity(prior: int, new: int) -> float:
        return attn_core_cost(spec, 1, prior, new, head_share=hs, kv_share=kv_share, form=form,
                              kv_bits=kbits).intensity

    here = intensity(step.prior, step.new)
    need = None
    if step.phase == "decode":
        lo, hi = 1, 1
        while intensity(step.context, hi) <= ridge and hi <= 4096:
            lo, hi = hi, hi * 2
        if hi <= 4096:
            while lo < hi:                      # smallest q with intensity > ridge
                mid = (lo + hi) // 2
                if intensity(step.context, mid) > ridge:
                    hi = mid
                else:
                    lo = mid + 1
            need = hi
    return AttentionBound(intensity=here, ridge=ridge, heads_per_gpu=a.num_heads * hs, q_tokens_for_compute_bound=need)


@dataclass(frozen=True)
class Roofline:
    """One step's ops timed on one GPU of the group, with totals and throughput."""

    model: str
    attention: str
    gpu: Hardware
    step: Step
    layout: Layout
    mla_form: str | None
    weight_bits: float
    kv_bits: float
    ops: tuple[OpTime, ...]
    attn: AttentionBound | None

    @property
    def total_flops(self) -> float:
        return sum(t.op.flops for t in self.ops)

    @property
    def total_bytes(self) -> float:
        return sum(t.op.bytes for t in self.ops)

    @property
    def total_comm_bytes(self) -> float:
        return sum(t.op.comm_bytes for t in self.ops)

    @property
    def time_s(self) -> float:
        """Step time: op times summed (no overlap between ops)."""
        return sum(t.time_s for t in self.ops)

    @property
    def output_tokens(self) -> int:
        """Tokens the step emits over the group: B q in decode, B (the first token) in prefill."""
        return self.step.batch * self.step.head_tokens

    @property
    def time_per_output_token_s(self) -> float:
        """Decode: step time / q (each sequence gets q tokens per step). Prefill: time to first token."""
        return self.time_s / self.step.q_tokens if self.step.phase == "decode" else self.time_s

    @property
    def tokens_per_s(self) -> float:
        """Decode: output tokens/s of the whole group. Prefill: prompt tokens/s of the whole group."""
        processed = self.output_tokens if self.step.phase == "decode" else self.step.batch * self.step.context
        return processed / self.time_s

    @property
    def tokens_per_s_per_gpu(self) -> float:
        return self.tokens_per_s / self.layout.tp

    @property
    def bandwidth_util(self) -> float:
        """HBM bytes moved / (bandwidth x step time)."""
        return self.total_bytes / self.gpu.mem_bandwidth_bytes_s / self.time_s

    @property
    def compute_util(self) -> float:
        """FLOPs / (GEMM peak x step time)."""
        return self.total_flops / self.gpu.flops_per_s(gemm_bits(self.weight_bits)) / self.time_s

    def time_by_bound(self) -> dict:
        out = {"compute": 0.0, "memory": 0.0, "interconnect": 0.0}
        for t in self.ops:
            out[t.bound] += t.time_s
        return out

    def op(self, name: str) -> OpTime:
        return next(t for t in self.ops if t.op.name == name)

    def to_json(self) -> dict:
        s, lay = self.step, self.layout
        return {
            "model": self.model, "attention": self.attention, "gpu": self.gpu.name, "phase": s.phase,
            "batch": s.batch, "context": s.context, "q_tokens": s.q_tokens, "tp": lay.tp,
            "dp_attention": lay.dp_attention, "ep": lay.ep, "mla_form": self.mla_form,
            "weight_bits": self.weight_bits, "kv_bits": self.kv_bits, "per_gpu": True,
            "ops": [t.to_json() for t in self.ops],
            "total": {"flops": self.total_flops, "bytes": self.total_bytes, "comm_bytes": self.total_comm_bytes,
                      "time_s": self.time_s},
            "time_by_bound_s": self.time_by_bound(),
            "time_per_output_token_s": self.time_per_output_token_s, "tokens_per_s": self.tokens_per_s,
            "tokens_per_s_per_gpu": self.tokens_per_s_per_gpu, "bandwidth_util": self.bandwidth_util,
            "compute_util": self.compute_util, "attn_core": self.attn.to_json() if self.attn else None,
        }


def roofline(spec: ModelSpec, hw: Hardware, step: Step, layout: Layout = Layout(), *, mla_form: str | None = None,
             weight_bits: float | None = None, kv_bits: float | None = None, analyse_attention: bool = True) -> Roofline:
    """Time one forward step on ``hw`` (one GPU of the ``layout``'s group). ``analyse_attention=False`` skips
    the search in :func:`attention_bound` (sweeps)."""
    wbits = spec.dtypes.weight_bits if weight_bits is None else weight_bits
    kbits = spec.dtypes.kv_bits if kv_bits is None else kv_bits
    form = (mla_form or default_mla_form(step.phase)) if spec.attention.kind == "mla" else None
    ops = step_ops(spec, step, layout, mla_form=form, weight_bits=wbits, kv_bits=kbits)
    return Roofline(model=spec.name, attention=spec.attention.kind, gpu=hw, step=step, layout=layout, mla_form=form,
                    weight_bits=wbits, kv_bits=kbits, ops=time_ops(ops, hw, wbits, kbits),
                    attn=attention_bound(spec, hw, step, layout, mla_form=form, kv_bits=kbits)
                    if analyse_attention else None)


