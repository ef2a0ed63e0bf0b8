"""Parameter counts and weight bytes by component, total and active per token, and per GPU.

Counts follow the matrices of the reference implementations (HF transformers' modeling files for Llama,
Mistral, Mixtral, Qwen2/3, Gemma-2; DeepSeek's ``modeling_deepseek.py`` for MLA and DeepSeekMoE):

- Conventional attention: ``W_q: d x H d_qk``, ``W_k: d x H_kv d_qk``, ``W_v: d x H_kv d_v`` (none when
  ``kv_shared``), ``W_o: H d_v x d``; optional q/k/v biases (Qwen2) and per-head q/k RMSNorm (Qwen3).
- MLA (DeepSeek-V2 paper, arXiv 2405.04434, eqs. 9-14 and 37-40): ``W_DQ: d x d_c'`` and RMSNorm ``d_c'`` then
  ``W_UQ+W_QR: d_c' x H (d_nope + d_rope)`` (or ``W_Q: d x H d_qk`` when q_lora_rank is none);
  ``W_DKV+W_KR: d x (d_c + d_rope)``, RMSNorm ``d_c``, ``W_UK+W_UV: d_c x H (d_nope + d_v)``; ``W_O: H d_v x d``.
- FFN: gated ``3 d f`` (gate, up, down), else ``2 d f``. MoE: router ``d x E``; each routed and shared expert
  is an FFN of its own width. Norms: two RMSNorms of ``d`` per layer and a final one.
- Multi-token prediction (DeepSeek-V3 tech report, arXiv 2412.19437, section 2.2): per module two RMSNorms,
  a projection ``2d x d`` and one MoE transformer layer; embedding and head are shared with the main model.

Weight bytes: matrices inside the layers take the weight dtype; the embedding, output head, router and norms
stay in bf16 when the weight dtype is narrower, as DeepSeek-V3's FP8 checkpoint does (tech report section
3.3.1). Block-wise quantisation scales (one fp32 per 128x128 block, 0.02%) are left out.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

from .errors import SpecError
from .spec import ModelSpec
from .units import dtype_bits

HIGH_PRECISION_BITS = 16  # embedding, head, router, norms when the weight dtype is narrower (see docstring)


@dataclass(frozen=True)
class Params:
    """Parameter counts by component (or bytes, when returned by :func:`weight_bytes`)."""

    embed: float = 0
    attention: float = 0
    dense_ffn: float = 0
    router: float = 0
    shared_experts: float = 0
    routed_experts: float = 0
    norms: float = 0
    head: float = 0
    mtp: float = 0

    @property
    def total(self) -> float:
        return sum(getattr(self, f.name) for f in fields(self))

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"total": self.total}


def ffn_params(hidden: int, width: int, gated: bool) -> int:
    """One FFN (or expert): ``3 d f`` gated (gate, up, down projections), ``2 d f`` otherwise."""
    return (3 if gated else 2) * hidden * width


def attention_projections(spec: ModelSpec) -> dict[str, int]:
    """Parameters of one layer's attention, by projection (norms inside attention included)."""
    a, d = spec.attention, spec.hidden_size
    if a.kind == "mla":
        q = {"q_down": d * a.q_lora_rank, "q_norm": a.q_lora_rank,
             "q_up": a.q_lora_rank * a.num_heads * a.qk_head_dim} if a.q_lora_rank else \
            {"q": d * a.num_heads * a.qk_head_dim}
        return q | {"kv_down": d * (a.kv_lora_rank + a.qk_rope_head_dim), "kv_norm": a.kv_lora_rank,
                    "kv_up": a.kv_lora_rank * a.num_heads * (a.qk_nope_head_dim + a.v_head_dim),
                    "o": a.num_heads * a.v_head_dim * d}
    q_out, k_out = a.num_heads * a.qk_head_dim, a.num_kv_heads * a.qk_head_dim
    v_out = 0 if a.kv_shared else a.num_kv_heads * a.v_head_dim
    parts = {"q": d * q_out, "k": d * k_out, "v": d * v_out, "o": a.num_heads * a.v_head_dim * d}
    if a.qkv_bias:
        parts["qkv_bias"] = q_out + k_out + v_out
    if a.qk_norm:
        parts["qk_norm"] = 2 * a.qk_head_dim
    return parts


def _moe_layer(spec: ModelSpec) -> Params:
    f, d = spec.ffn, spec.hidden_size
    return Params(router=d * f.num_experts,
                  shared_experts=f.num_shared_experts * ffn_params(d, f.shared_width, f.gated),
                  routed_experts=f.num_experts * ffn_params(d, f.expert_intermediate_size, f.gated))


def layer_params(spec: ModelSpec, layer: int) -> Params:
    """Parameters of decoder layer ``layer`` (0-based): attention, its FFN or MoE, two norms."""
    attn = sum(attention_projections(spec).values())
    d = spec.hidden_size
    moe = spec.ffn.kind == "moe" and layer >= spec.ffn.first_dense_layers
    ffn = _moe_layer(spec) if moe else Params(dense_ffn=ffn_params(d, spec.ffn.intermediate_size, spec.ffn.gated))
    return Params(attention=attn, norms=2 * d, dense_ffn=ffn.dense_ffn, router=ffn.router,
                  shared_experts=ffn.shared_experts, routed_experts=ffn.routed_experts)


def _add(*ps: Params) -> Params:
    return Params(**{f.name: sum(getattr(p, f.name) for p in ps) for f in fields(Params)})


def _mtp_params(spec: ModelSpec) -> float:
    d = spec.hidden_size
    one = 2 * d + 2 * d * d + layer_params(spec, spec.num_layers - 1).total  # norms, eh_proj, a last-kind layer
    return spec.mtp_layers * one


def param_counts(spec: ModelSpec) -> Params:
    """Total parameters by component (see module docstring for each formula)."""
    d, v = spec.hidden_size, spec.vocab_size
    layers = _add(*(layer_params(spec, i) for i in range(spec.num_layers)))
    return _add(layers, Params(embed=v * d, head=0 if spec.tie_word_embeddings else v * d, norms=d,
                               mtp=_mtp_params(spec)))


def active_params(spec: ModelSpec) -> Params:
    """Parameters one token uses: routed experts scaled by ``experts_per_token / num_experts``, one row
    (``d`` params) of the embedding table, no MTP module.

    This reproduces the papers' activated counts: DeepSeek-V3 36.6B ("37B"), DeepSeek-V2 20.9B ("21B").
    """
    p = param_counts(spec)
    share = spec.ffn.experts_per_token / spec.ffn.num_experts if spec.ffn.kind == "moe" else 1.0
    return dataclasses.replace(p, routed_experts=p.routed_experts * share, mtp=0, embed=spec.hidden_size)


def weight_bytes(p: Params, weight_bits: float) -> Params:
    """Bytes for a parameter breakdown: matrices at ``weight_bits``, embed/head/router/norms at >= 16 bits."""
    hi = max(weight_bits, HIGH_PRECISION_BITS) / 8
    lo = weight_bits / 8
    return Params(embed=p.embed * hi, attention=p.attention * lo, dense_ffn=p.dense_ffn * lo, router=p.router * hi,
                  shared_experts=p.shared_experts * lo, routed_experts=p.routed_experts * lo, norms=p.norms * hi,
                  head=p.head * hi, mtp=p.mtp * lo)


@dataclass(frozen=True)
class Parallel:
    """Model parallelism for weights: tensor, expert and pipeline degrees."""

    tp: int = 1
    ep: int = 1
    pp: int = 1

    def __post_init__(self):
        for name in ("tp", "ep", "pp"):
            if getattr(self, name) < 1:
                raise SpecError(f"--{name}", f"must be at least 1, got {getattr(self, name)}")


def _layer_per_gpu(spec: ModelSpec, layer: int, par: Parallel) -> Params:
    """One layer's parameters on one GPU.

    TP splits the head-indexed projections and FFN widths; MLA's down projections (``q_down``, ``kv_down``)
    and all norms are replicated (vLLM's ReplicatedLinear for DeepSeek). K/V projections split like the KV
    heads, replicated when there are fewer KV heads than ranks. Routed experts split over EP ranks when
    ``ep > 1``, otherwise each expert is TP-split. The router is replicated.
    """
    full = layer_params(spec, layer)
    tp = par.tp
    a = spec.attention
    attn = 0.0
    for name, n in attention_projections(spec).items():
        if name in ("q_down", "kv_down", "q_norm", "kv_norm", "qk_norm"):
            attn += n
        elif name in ("k", "v") and a.kind != "mla":
            attn += n * max(1, a.num_kv_heads // tp) / a.num_kv_heads
        else:
            attn += n / tp
    experts = full.routed_experts / (par.ep if par.ep > 1 else tp)
    return Params(attention=attn, norms=full.norms, dense_ffn=full.dense_ffn / tp, router=full.router,
                  shared_experts=full.shared_experts / tp, routed_experts=experts)


def layer_params_per_gpu(spec: ModelSpec, layer: int, par: Parallel) -> Params:
    """One layer's parameters on one GPU (public name for the TP/EP split used by :func:`params_per_gpu`)."""
    return _layer_per_gpu(spec, layer, par)


def stage_ranges(spec: ModelSpec, par: Parallel) -> list[range]:
    """The decoder layers of each pipeline stage: consecutive runs of ``ceil(L / pp)`` layers."""
    size = math.ceil(spec.num_layers / par.pp)
    return [range(start, min(start + size, spec.num_layers)) for start in range(0, spec.num_layers, size)]


def params_per_gpu(spec: ModelSpec, par: Parallel) -> Params:
    """Parameters on the fullest GPU: stages of ``ceil(L / pp)`` layers; embedding on the first stage, head
    (and MTP) on the last; embedding and head vocab-split over TP."""
    return max(stage_params(spec, par), key=lambda p: p.total)


def stage_params(spec: ModelSpec, par: Parallel) -> list[Params]:
    """Parameters on one GPU of each pipeline stage, in stage order (see :func:`params_per_gpu`)."""
    if spec.ffn.kind == "moe" and par.ep > 1 and spec.ffn.num_experts % par.ep:
        raise SpecError("--ep", f"{spec.ffn.num_experts} experts do not split evenly over {par.ep} ranks")
    if par.pp > spec.num_layers:
        raise SpecError("--pp", f"{par.pp} stages exceed {spec.num_layers} layers")
    d, v, L = spec.hidden_size, spec.vocab_size, spec.num_layers
    per_layer = [_layer_per_gpu(spec, i, par) for i in range(L)]
    size = math.ceil(L / par.pp)
    stages = []
    for s, start in enumerate(range(0, L, size)):
        extra = Params()
        if start == 0:
            extra = _add(extra, Params(embed=v * d / par.tp))
        if start + size >= L:
            mtp = _mtp_params(spec) / par.tp  # approximation: MTP's experts split like the head's stage
            head = 0 if spec.tie_word_embeddings and par.pp == 1 else v * d / par.tp
            extra = _add(extra, Params(head=head, norms=d, mtp=mtp))
        stages.append(_add(*per_layer[start:start + size], extra))
    return stages


@dataclass(frozen=True)
class WeightsReport:
    """Everything ``mlacalc weights`` prints."""

    model: str
    weight_bits: float
    parallel: Parallel
    params: Params
    active: Params
    bytes: Params
    per_gpu_params: Params
    per_gpu_bytes: Params
    attention_per_layer: dict

    def to_json(self) -> dict:
        return {"model": self.model, "weight_bits": self.weight_bits, "tp": self.parallel.tp,
                "ep": self.parallel.ep, "pp": self.parallel.pp,
                "params_total": self.params.total, "params_active": self.active.total,
                "weight_bytes_total": self.bytes.total, "weight_bytes_per_gpu": self.per_gpu_bytes.total,
                "params": self.params.as_dict(), "params_active_parts": self.active.as_dict(),
                "bytes": self.bytes.as_dict(), "per_gpu_params": self.per_gpu_params.as_dict(),
                "per_gpu_bytes": self.per_gpu_bytes.as_dict(), "attention_per_layer": self.attention_per_layer}


def weights_report(spec: ModelSpec, weight_dtype: str | float | None = None,
                   parallel: Parallel = Parallel()) -> WeightsReport:
    """Parameters and bytes: total, active per token, per GPU."""
    bits = spec.dtypes.weight_bits if weight_dtype is None else dtype_bits(weight_dtype, "--weight-dtype")
    p = param_counts(spec)
    per_gpu = params_per_gpu(spec, parallel)
    return WeightsReport(model=spec.name, weight_bits=bits, parallel=parallel, params=p,
                         active=active_params(spec), bytes=weight_bytes(p, bits), per_gpu_params=per_gpu,
                         per_gpu_bytes=weight_bytes(per_gpu, bits),
                         attention_per_layer=attention_projections(spec))
