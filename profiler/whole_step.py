"""``mlacalc profile MODEL --whole-step``: whole decode and prefill steps of a few real layers, op by op.

``profile`` alone runs the attention core over a model's real cache; this runs everything a step runs, so each
op the calculator predicts (:mod:`mlacalc.step`: projections, cache write, attention core, norms, FFN or router,
experts and shared experts, embedding and LM head) is held against the GPU time of its own kernels.

**What is built** (:class:`WholeStep`): the model's **last** ``layers`` decoder layers (an MoE model's leading dense
layers are the ones left out: DeepSeek's ``first_k_dense_replace``), one tensor-parallel rank's shard of each
(``--tp``: query heads, KV heads, FFN and expert widths and the vocabulary split as
:class:`mlacalc.parallel.Parallelism` says; MLA's down-projections and the router replicated), random weights of
std ``1/sqrt(fan_in)`` at the spec's shapes, in bf16, whatever the checkpoint stores (DeepSeek-V3's fp8 weights run
as bf16 GEMMs, and the calculator is asked for 16-bit weights and cache too). Per layer, pre-norm:

- MLA, decode in the absorbed form (as the calculator assumes): ``q_down`` + norm + ``q_up`` (or ``q_proj``),
  ``kv_down`` + latent norm, ``kv_write`` of the new rows into the ``[B, C, d_c + d_r]`` cache, ``q_absorb``
  (a ``bmm`` over heads by ``W_UK``), ``attn_core`` through the project's kernel
  (:func:`mlacalc.kernels.decode.mla_decode`), ``v_up`` (``bmm`` by ``W_UV``), ``o_proj``. Prefill decompresses:
  ``kv_up`` turns the fresh latents into per-head K and V, then causal SDPA.
- MHA/GQA/MQA: one ``qkv_proj`` GEMM (bias and Qwen3's q/k norms when the spec has them), ``kv_write``,
  ``attn_core`` through :func:`mlacalc.kernels.decode.gqa_decode` (Triton; ``--kernel sdpa``: SDPA) or causal SDPA in
  prefill, ``o_proj``.
- dense FFN: gate and up as one GEMM, SiLU(gate) * up, down. MoE: ``router`` GEMM and top-k of its softmax;
  ``moe_dispatch`` sorts the token copies by expert and gathers them; ``experts`` runs each expert's GEMMs over
  the tokens it received: one grouped GEMM per matrix (``torch._grouped_mm``) where this torch has it on this
  device, else a plain loop over the active experts with ``torch.mm`` (one host sync for the counts; more
  launches than the grouped GEMMs the calculator assumes); ``moe_dispatch`` scales by the routing weights and
  adds the copies back; ``shared_experts`` as a dense FFN. RMSNorm is ``torch.nn.functional.rms_norm``.
- RoPE is left out (random weights give positions no meaning; the calculator does not model it either), and the
  residual adds run in their own range (``residual``), which the calculator does not model.

Decode: ``q_tokens`` per sequence over a cache of ``context`` tokens that includes them (the kernels'
convention), so the calculator is asked for ``context - q_tokens`` cached and ``q_tokens`` new ones, as
``profile`` does; a sliding-window layer's cache holds its window (the profiler's rule, ``run.held_tokens``).
Prefill: a prompt of ``context`` tokens; SDPA has no window, so its time is predicted over the whole causal
prompt (``run.kernel_view``).

**Measured**: each op's device time is taken between CUDA events recorded around its range, over ``steps`` steps
queued behind a GPU hold (:func:`event_times`: no host gaps inside a range). The same steps also run under
``torch.profiler`` with each op in ``record_function("mlacalc::<op>")``, and every GPU kernel the profiler links to
a launch is attributed to the op range it was launched in (:mod:`.attribution`): kernel counts and names per op,
and ``profiler_time_s``. (Kernels launched through Triton's own launcher are not linked to a CPU range by the
profiler -- on the H200 the decode attention showed as 1-3 us with the rest "unlinked" -- which is why the events
give the time.) Beside each op: the calculator's floor
and kernel-aware expected time for the same layers on ``--gpu`` (:func:`mlacalc.step.roofline`), and the error of
each (``tolerance_pct`` None: reported, not a target). Also shown: the eager step's time between CUDA events
(launch gaps included). Communication is predicted but not run (one GPU: no all-reduce).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, replace

from mlacalc.attention import family, key_rule
from mlacalc.errors import ArgError, SpecError
from mlacalc.hardware import Hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import ModelSpec, load_spec
from mlacalc.step import op_link_s

from . import predict
from .attribution import (
    OP_PREFIX,
    OTHER,
    STEP_PREFIX,
    UNLINKED,
    attribute,
    events_from_profile,
)
from .results import Comparison, _finite

PHASES = ("decode", "prefill")
KERNELS = ("auto", "triton", "eager", "sdpa")
MOE_IMPLS = ("auto", "grouped", "loop")
DEFAULT_LAYERS = 2
STEPS = 3           # profiled steps; per-op times are their mean
WARMUP = 2          # unprofiled steps first: Triton compiles, cuBLAS settles its heuristics
NORM_EPS = 1e-6
EXTRA_OPS = ("residual", "moe_dispatch", OTHER, UNLINKED)   # measured, not predicted by the calculator
TOP_KERNELS = 3     # kernel names kept per op in the result


# -------------------------------------------------------------------------------------------------------------
# The point
# -------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StepConfig:
    """One whole-step point. ``kernel``: decode attention (MLA: auto, triton or eager; MHA/GQA: auto (Triton),
    triton or sdpa); prefill runs SDPA (auto means sdpa there)."""

    model: str
    phase: str = "decode"
    kernel: str = "auto"
    batch: int = 8
    context: int = 4096
    layers: int = DEFAULT_LAYERS
    q_tokens: int = 1
    tp: int = 1
    moe_impl: str = "auto"
    steps: int = STEPS
    warmup: int = WARMUP
    trace: str | None = None

    def key(self) -> str:
        bits = ["whole-step", self.model, self.phase, self.kernel, f"b{self.batch}", f"c{self.context}",
                f"L{self.layers}"]
        if self.q_tokens != 1:
            bits.append(f"q{self.q_tokens}")
        if self.tp != 1:
            bits.append(f"tp{self.tp}")
        return "/".join(bits)

    def validate(self, spec: ModelSpec) -> None:
        """Refuse what the runner does not build, with one SpecError naming the flag or spec field."""
        from mlacalc.spec import (refuse_expert_latent, refuse_kv_sharing, refuse_layer_heads, refuse_layer_widths,
                                  refuse_no_attention, refuse_no_ffn, refuse_parallel_mixers, refuse_residual_extras,
                                  refuse_sliding_shape)

        refuse_no_attention(spec, "the profiler's whole steps (attention and FFN layers)")
        refuse_no_ffn(spec, "the profiler's whole steps (attention and FFN layers)")     # tail_spec reads spec.ffn
        refuse_parallel_mixers(spec, "the profiler's whole steps (attention and FFN layers)")
        refuse_sliding_shape(spec, "the profiler's layers (built with the full layers' heads)")
        refuse_layer_heads(spec, "the profiler's layers (each built with attention.num_heads)")
        refuse_kv_sharing(spec, "the profiler's whole steps (each layer built with its own K/V projections and cache)")
        refuse_residual_extras(spec, "the profiler's whole steps (each layer built with a plain residual stream)")
        refuse_layer_widths(spec, "profiling whole steps (each layer built with attention and one FFN width)")
        refuse_expert_latent(spec, "the profiler's whole steps (experts built at hidden_size)")
        if self.phase not in PHASES:
            raise SpecError("--phase", f"--whole-step runs decode or prefill, got {self.phase!r}")
        if self.kernel not in KERNELS:
            raise SpecError("--kernel", f"--whole-step runs {', '.join(KERNELS)}, got {self.kernel!r}")
        if self.moe_impl not in MOE_IMPLS:
            raise SpecError("moe_impl", f"must be one of {', '.join(MOE_IMPLS)}, got {self.moe_impl!r}")
        for name in ("batch", "context", "q_tokens", "steps"):
            if getattr(self, name) < 1:
                raise SpecError(f"--{name.replace('_', '-')}", "must be at least 1")
        if self.warmup < 0:
            raise SpecError("warmup", "must be at least 0")
        if not 1 <= self.layers <= spec.num_layers:
            raise SpecError("--layers", f"must be between 1 and {spec.num_layers} for {spec.name}")
        if self.phase == "prefill" and self.q_tokens != 1:
            raise SpecError("--q-tokens", "applies to decode")
        if self.phase == "decode" and self.q_tokens >= self.context:
            raise SpecError("--q-tokens", f"must be below --context ({self.context}): the cache holds them")
        run = tail_spec(spec, self.layers)
        _refuse_unbuilt(run)
        Parallelism(tp=self.tp).check(run)
        mla = predict.mla_kernel(run.attention)
        if self.phase == "decode":
            if mla and self.kernel == "sdpa":
                raise SpecError("--kernel", "MLA decode runs absorbed: auto, triton or eager")
            if not mla and self.kernel == "eager":
                raise SpecError("--kernel", "MHA/GQA decode runs through auto, triton or sdpa")
        elif self.kernel not in ("auto", "sdpa"):
            raise SpecError("--kernel", "prefill runs through sdpa")
        _check_kernel_shapes(self, run, mla)
        _check_widths(run, self.tp)


def _refuse_unbuilt(spec: ModelSpec) -> None:
    """Features the runner does not build are refused, not silently dropped."""
    a, f = spec.attention, spec.ffn
    if family(a).name not in ("mla", "conventional"):
        raise SpecError("attention.kind", f"--whole-step builds MLA and MHA/GQA/MQA layers, not {a.kind}")
    types = {spec.layer_type(i) for i in range(spec.num_layers)}
    for t in ("linear", "cross", "ffn"):     # ffn: one FFN block, no attention (Nemotron-H)
        if t in types:
            raise SpecError("layer_types", f"--whole-step does not build {t} layers")
    flags = (("attention.sinks", a.sinks), ("attention.output_gate", a.output_gate), ("attention.o_bias", a.o_bias),
             ("attention.head_gate", a.head_gate),
             ("attention.q_lora_rank", a.q_lora_rank is not None and a.kind != "mla"),
             ("attention.kv_shared", a.kv_shared), ("ffn.expert_bias", f.expert_bias),
             # the prediction projects no V under v_from_k and prices 8 norms a layer under branch_norms; the runner
             # builds a v projection and a plain MoE block
             ("attention.v_from_k", a.v_from_k), ("ffn.branch_norms", f.branch_norms),
             ("ffn.router_bias", f.router_bias), ("ffn.shared_expert_gate", f.shared_expert_gate),
             # the prediction reads them (mlacalc.step: the ffn op's biases, the embed op's position rows, the norms
             # op's embedding norm, the lm_head op's bias); the runner builds none of them
             ("ffn.mlp_bias", f.mlp_bias), ("position_embeddings", spec.position_embeddings),
             ("embedding_norm", spec.embedding_norm), ("head_bias", spec.head_bias))
    for name, on in flags:
        if on:
            raise SpecError(name, "is not built by --whole-step (MLA, MHA/GQA with q/k norms and q/k/v biases, "
                                  "dense or MoE FFN with shared experts)")
    if spec.norm_vectors != 1:
        # its norms are torch's rms_norm with one weight vector (WholeStep._norm), while the prediction's norms op
        # reads norm_vectors vectors of d for each (mlacalc.step): a LayerNorm's bias, or no weight, would go unbuilt
        raise SpecError("norm_vectors", f"({spec.norm_vectors}) is not built by --whole-step: its norms are RMSNorms "
                                        "of one weight vector each")


def _check_kernel_shapes(cfg: StepConfig, spec: ModelSpec, mla: bool) -> None:
    a = spec.attention
    if cfg.phase != "decode" or cfg.kernel in ("eager", "sdpa"):
        return
    if mla:
        for name, v in (("attention.kv_lora_rank", a.kv_lora_rank), ("attention.qk_rope_head_dim",
                                                                      a.qk_rope_head_dim)):
            if v & (v - 1):
                raise SpecError(name, f"the Triton MLA kernel needs a power of two, got {v} (use --kernel eager)")
    elif a.qk_head_dim != a.v_head_dim or a.qk_head_dim & (a.qk_head_dim - 1):
        raise SpecError("attention.v_head_dim", "the Triton GQA kernel needs equal key and value head dims, a power "
                                                "of two (use --kernel sdpa)")


def _check_widths(spec: ModelSpec, tp: int) -> None:
    """Every FFN and expert width splits evenly over ``tp`` (the runner allocates whole columns)."""
    f = spec.ffn
    widths = []
    if spec.num_dense_layers:
        widths.append(("ffn.intermediate_size", f.intermediate_size))
    if spec.num_moe_layers:
        widths.append(("ffn.expert_intermediate_size", f.expert_intermediate_size))
        if f.num_shared_experts:
            widths.append(("ffn.shared_expert_intermediate_size", f.num_shared_experts * f.shared_width))
    for name, w in widths:
        if w % tp:
            raise ArgError("tp", f"{tp} ranks cannot split {name} ({w}) evenly")


def tail_spec(spec: ModelSpec, layers: int) -> ModelSpec:
    """The model cut to its **last** ``layers`` decoder layers: their layer types (windows) and FFN kinds kept, so
    an MoE model's runs are MoE layers (its dense layers lead). Unlike ``predict.spec_layers`` (the first N, which
    the attention-only profile scales up), the whole step is compared layer for layer, not scaled."""
    L = spec.num_layers
    first = L - layers
    types = tuple(spec.layer_type(i) for i in range(first, L))
    a = spec.attention
    if all(t == "full" for t in types):
        a, layer_types = replace(a, sliding_window=None, global_every=None, chunk_size=None), None
    else:
        a = replace(a, global_every=None, sliding_window=a.sliding_window if "sliding" in types else None,
                    chunk_size=a.chunk_size if "chunked" in types else None)
        layer_types = types
    if first % spec.ffn.moe_layer_step:        # the cut's MoE layers must be its (i + 1) % step == 0 ones
        raise ArgError("layers", f"{spec.name} has MoE on one layer in {spec.ffn.moe_layer_step}: the last "
                                 f"{layers} layers start mid-period; take a multiple of {spec.ffn.moe_layer_step}")
    ffn = replace(spec.ffn, first_dense_layers=max(0, spec.ffn.first_dense_layers - first),
                  last_dense_layers=min(spec.ffn.last_dense_layers, layers))
    return replace(spec, num_layers=layers, attention=a, ffn=ffn, layer_types=layer_types, mtp_layers=0)


def attention_impl(cfg: StepConfig, spec: ModelSpec) -> str:
    """The ``impl`` the decode entry point gets (MHA/GQA auto is the Triton kernel); ``sdpa`` in prefill."""
    if cfg.phase == "prefill":
        return "sdpa"
    if not predict.mla_kernel(spec.attention) and cfg.kernel == "auto":
        return "triton"
    return cfg.kernel


def predict_step(cfg: StepConfig, spec: ModelSpec, hw: Hardware):
    """The calculator's step (:func:`mlacalc.step.roofline`) for the layers run (``tail_spec``), one rank of
    ``cfg.tp``, 16-bit weights and cache (what the runner holds), priced with the profiled kernel's coefficients."""
    from mlacalc.step import Step, roofline

    from .run import kernel_view

    run = kernel_view(cfg, tail_spec(spec, cfg.layers))
    if cfg.phase == "decode":
        step = Step("decode", cfg.batch, max(1, cfg.context - cfg.q_tokens), cfg.q_tokens)
    else:
        step = Step("prefill", cfg.batch, cfg.context)
    return roofline(run, hw, step, Parallelism(tp=cfg.tp), weight_bits=16, kv_bits=16,
                    kernel=predict.BACKEND.get(cfg.kernel if cfg.phase == "decode" else "sdpa", "other"),
                    analyse_attention=False)


# -------------------------------------------------------------------------------------------------------------
# The layers
# -------------------------------------------------------------------------------------------------------------

class _Layer:
    """One layer's weights and cache (attributes set by :class:`WholeStep`)."""


class WholeStep:
    """``spec``'s layers (pass ``tail_spec``'s cut) of one TP rank with random weights, their caches and one step's
    token ids. ``step()`` runs embed -> layers -> final norm -> lm_head and returns the logits. ``count_flops``:
    each op's FLOPs as torch dispatches them (``FlopCounterMode``: mm, addmm, bmm, SDPA; grouped GEMMs counted
    from their shapes) accumulate in ``flops`` (for tests; slow)."""

    def __init__(self, cfg: StepConfig, spec: ModelSpec, *, device: str = "cuda", count_flops: bool = False,
                 seed: int = 0):
        import torch

        self.torch, self.cfg, self.spec = torch, cfg, spec
        self.dev, self.dt = torch.device(device), torch.bfloat16
        self.flops: dict[str, float] | None = {} if count_flops else None
        self.events: list | None = None    # (op, start, end) CUDA events of each op range, when event-timing
        self.gen = torch.Generator(device=self.dev).manual_seed(seed)
        a, d = spec.attention, spec.hidden_size
        self.mla = predict.mla_kernel(a)
        h = predict.heads_per_rank(spec, cfg.tp)
        self.H, self.Hkv = h.q, h.kv
        self.decode = cfg.phase == "decode"
        self.B, self.new = cfg.batch, cfg.q_tokens if self.decode else cfg.context
        self.T = self.B * self.new
        self.impl = attention_impl(cfg, spec)
        self.moe_impl = _moe_impl(cfg.moe_impl, torch, self.dev)
        self.vocab = math.ceil(spec.vocab_size / cfg.tp)
        self.embed_w = self._w(self.vocab, d, fan_in=1)
        self.head_w = self.embed_w.T if spec.tie_word_embeddings else self._w(d, self.vocab, fan_in=d)
        self.final_norm = self._ones(d)
        held = [key_rule(spec, i).held(cfg.context) for i in range(spec.num_layers)]
        self.layers = [self._layer(i, held[i]) for i in range(spec.num_layers)]
        self.ids = torch.randint(0, self.vocab, (self.T,), device=self.dev, generator=self.gen)
        with_lens = self.decode and self.impl in ("auto", "triton")
        self.lens = {C: torch.full((self.B,), C, dtype=torch.int32, device=self.dev) if with_lens else None
                     for C in set(held)}

    # --- weights ----------------------------------------------------------------------------------------------

    def _w(self, *shape: int, fan_in: int):
        t = self.torch.empty(shape, dtype=self.dt, device=self.dev)
        return t.normal_(0.0, fan_in ** -0.5, generator=self.gen)

    def _ones(self, n: int):
        return self.torch.ones(n, dtype=self.dt, device=self.dev)

    def _layer(self, i: int, rows: int) -> _Layer:
        """Layer ``i`` of the cut: attention weights and cache of ``rows`` tokens per sequence, FFN or MoE weights."""
        a, f, d = self.spec.attention, self.spec.ffn, self.spec.hidden_size
        n, H, w = self.cfg.tp, self.H, self._w
        L = _Layer()
        L.rows, L.attn_norm, L.ffn_norm = rows, self._ones(d), self._ones(d)
        if self.mla:
            dn, dr, dc, dv = a.qk_nope_head_dim, a.qk_rope_head_dim, a.kv_lora_rank, a.v_head_dim
            if a.q_lora_rank:
                L.w_q_down, L.q_norm = w(d, a.q_lora_rank, fan_in=d), self._ones(a.q_lora_rank)
                L.w_q_up = w(a.q_lora_rank, H * (dn + dr), fan_in=a.q_lora_rank)
            else:
                L.w_q = w(d, H * (dn + dr), fan_in=d)
            L.w_kv_down, L.kv_norm = w(d, dc + dr, fan_in=d), self._ones(dc)
            if self.decode:     # W_UK and W_UV per head, for the absorbed form
                L.w_uk, L.w_uv = w(H, dn, dc, fan_in=dn), w(H, dc, dv, fan_in=dc)
            else:
                L.w_kv_up = w(dc, H * (dn + dv), fan_in=dc)
            L.cache = w(self.B, rows, dc + dr, fan_in=1)
            L.w_o = w(H * dv, d, fan_in=H * dv)
        else:
            D, Dv = a.qk_head_dim, a.v_head_dim
            width = H * D + self.Hkv * (D + Dv)
            L.w_qkv = w(d, width, fan_in=d)
            L.b_qkv = w(width, fan_in=1) if a.qkv_bias else None
            if a.qk_norm:
                L.q_norm, L.k_norm = self._ones(D), self._ones(D)
            L.k_cache = w(self.B, rows, self.Hkv, D, fan_in=1)
            L.v_cache = w(self.B, rows, self.Hkv, Dv, fan_in=1)
            L.w_o = w(H * Dv, d, fan_in=H * Dv)
        m = 2 if f.gated else 1             # gate and up as one matrix
        L.moe = self.spec.is_moe_layer(i)
        if not L.moe:
            fr = f.intermediate_size // n
            L.w_up, L.w_down = w(d, m * fr, fan_in=d), w(fr, d, fan_in=fr)
            return L
        E, fe = f.num_experts, f.expert_intermediate_size // n
        L.w_router = w(d, E, fan_in=d)
        L.w_e_up, L.w_e_down = w(E, d, m * fe, fan_in=d), w(E, fe, d, fan_in=fe)
        if f.num_shared_experts:
            fs = f.num_shared_experts * f.shared_width // n
            L.w_s_up, L.w_s_down = w(d, m * fs, fan_in=d), w(fs, d, fan_in=fs)
        return L

    # --- the step ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def op(self, name: str):
        """Everything inside is op ``name``: a profiler range, and with ``count_flops`` a FLOP count."""
        with self.torch.profiler.record_function(OP_PREFIX + name):
            if self.events is not None:           # device time of the range: events around it on the stream
                start, end = self.torch.cuda.Event(enable_timing=True), self.torch.cuda.Event(enable_timing=True)
                start.record()
                yield
                end.record()
                self.events.append((name, start, end))
                return
            if self.flops is None:
                yield
                return
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as fc:
                yield
            self.flops[name] = self.flops.get(name, 0) + fc.get_total_flops()

    def _count(self, name: str, flops: float) -> None:
        if self.flops is not None:
            self.flops[name] = self.flops.get(name, 0) + flops

    def _norm(self, x, weight):
        return self.torch.nn.functional.rms_norm(x, (x.shape[-1],), weight, NORM_EPS)

    def _act(self, h):
        """SiLU(gate) * up for a gated FFN (gate and up side by side), else GELU."""
        F = self.torch.nn.functional
        if not self.spec.ffn.gated:
            return F.gelu(h)
        g = h.shape[-1] // 2
        return F.silu(h[:, :g]) * h[:, g:]

    def step(self):
        torch, B, d = self.torch, self.B, self.spec.hidden_size
        with self.op("embed"):
            x = torch.nn.functional.embedding(self.ids, self.embed_w)
        for L in self.layers:
            with self.op("norms"):
                h = self._norm(x, L.attn_norm)
            a = self._mla(L, h) if self.mla else self._gqa(L, h)
            with self.op("residual"):
                x.add_(a)
            with self.op("norms"):
                h = self._norm(x, L.ffn_norm)
            y = self._moe(L, h) if L.moe else self._ffn("ffn", h, L.w_up, L.w_down)
            with self.op("residual"):
                x.add_(y)
        with self.op("norms"):
            x = self._norm(x, self.final_norm)
        with self.op("lm_head"):       # logits for the last prompt token in prefill, every new token in decode
            last = x if self.decode else x.view(B, self.new, d)[:, -1]
            return torch.mm(last, self.head_w)

    def _mla(self, L: _Layer, h):
        torch, a, B, s, T, H = self.torch, self.spec.attention, self.B, self.new, self.T, self.H
        dn, dr, dc, dv = a.qk_nope_head_dim, a.qk_rope_head_dim, a.kv_lora_rank, a.v_head_dim
        if a.q_lora_rank:
            with self.op("q_down"):
                cq = torch.mm(h, L.w_q_down)
            with self.op("norms"):
                cq = self._norm(cq, L.q_norm)
            with self.op("q_up"):
                q = torch.mm(cq, L.w_q_up)
        else:
            with self.op("q_proj"):
                q = torch.mm(h, L.w_q)
        q = q.view(B, s, H, dn + dr)
        with self.op("kv_down"):
            kv = torch.mm(h, L.w_kv_down)                                   # [T, d_c + d_r]
        with self.op("norms"):
            c = self._norm(kv[:, :dc], L.kv_norm)
        with self.op("kv_write"):                                           # the newest rows of the cache
            rows = L.cache[:, L.rows - min(s, L.rows):]
            keep = rows.shape[1]
            rows[..., :dc].copy_(c.view(B, s, dc)[:, s - keep:])
            rows[..., dc:].copy_(kv[:, dc:].view(B, s, dr)[:, s - keep:])
        scale = a.qk_head_dim ** -0.5
        if self.decode:
            from mlacalc.kernels.decode import mla_decode

            with self.op("q_absorb"):                                       # q_nope W_UK per head -> latent query
                q_lat = torch.bmm(q[..., :dn].reshape(T, H, dn).transpose(0, 1), L.w_uk)    # [H, T, d_c]
                qk = torch.empty(B, s, H, dc + dr, dtype=self.dt, device=self.dev)
                qk[..., :dc].copy_(q_lat.transpose(0, 1).view(B, s, H, dc))
                qk[..., dc:].copy_(q[..., dn:])
            extra = {"max_seqlen": L.rows} if self.impl in ("auto", "triton") else {}
            with self.op("attn_core"):
                o = mla_decode(qk, L.cache, self.lens[L.rows], None, softmax_scale=scale, kv_lora_rank=dc,
                               impl=self.impl, **extra)                    # [B, s, H, d_c]
            with self.op("v_up"):
                o = torch.bmm(o.reshape(T, H, dc).transpose(0, 1), L.w_uv).transpose(0, 1).reshape(T, H * dv)
        else:
            from mlacalc.kernels.prefill import mla_prefill_sdpa

            with self.op("kv_up"):                                          # per-head K (no-RoPE part) and V
                kvu = torch.mm(c, L.w_kv_up).view(B, s, H, dn + dv)
                k_pe = kv[:, dc:].view(B, s, 1, dr).expand(B, s, H, dr)
                k = torch.cat([kvu[..., :dn], k_pe], dim=-1)
            with self.op("attn_core"):
                o = mla_prefill_sdpa(q, k, kvu[..., dn:], softmax_scale=scale).reshape(T, H * dv)
        with self.op("o_proj"):
            return torch.mm(o, L.w_o)

    def _gqa(self, L: _Layer, h):
        torch, a, B, s, T, H, Hkv = self.torch, self.spec.attention, self.B, self.new, self.T, self.H, self.Hkv
        D, Dv = a.qk_head_dim, a.v_head_dim
        with self.op("qkv_proj"):
            qkv = torch.addmm(L.b_qkv, h, L.w_qkv) if L.b_qkv is not None else torch.mm(h, L.w_qkv)
        q = qkv[:, :H * D].view(B, s, H, D)
        k = qkv[:, H * D:(H + Hkv) * D].view(B, s, Hkv, D)
        v = qkv[:, (H + Hkv) * D:].view(B, s, Hkv, Dv)
        if a.qk_norm:
            with self.op("norms"):
                q, k = self._norm(q, L.q_norm), self._norm(k, L.k_norm)
        with self.op("kv_write"):
            keep = min(s, L.rows)
            L.k_cache[:, L.rows - keep:].copy_(k[:, s - keep:])
            L.v_cache[:, L.rows - keep:].copy_(v[:, s - keep:])
        scale = D ** -0.5
        with self.op("attn_core"):
            if self.decode:
                from mlacalc.kernels.decode import gqa_decode

                extra = {"max_seqlen": L.rows} if self.impl == "triton" else {}
                o = gqa_decode(q, L.k_cache, L.v_cache, self.lens[L.rows], None, softmax_scale=scale,
                               impl=self.impl, **extra)
            else:
                from mlacalc.kernels.prefill import gqa_prefill_sdpa

                o = gqa_prefill_sdpa(q, k, v, softmax_scale=scale)
            o = o.reshape(T, H * Dv)
        with self.op("o_proj"):
            return torch.mm(o, L.w_o)

    def _ffn(self, name: str, h, w_up, w_down):
        with self.op(name):
            return self.torch.mm(self._act(self.torch.mm(h, w_up)), w_down)

    def _moe(self, L: _Layer, h):
        torch, f = self.torch, self.spec.ffn
        k = f.experts_per_token
        with self.op("router"):
            probs = torch.softmax(torch.mm(h, L.w_router).float(), dim=-1)
            weights, experts = torch.topk(probs, k, dim=-1)                  # [T, k]
        with self.op("moe_dispatch"):                                        # token copies grouped by expert
            flat = experts.view(-1)
            order = torch.argsort(flat, stable=True)
            token = order // k
            xs = h.index_select(0, token)
            # per-expert counts without torch.bincount, which syncs with the host to size its output: one sync per
            # MoE layer drained the queue and left every later op's events timing the host's launches
            counts = torch.zeros(f.num_experts, dtype=torch.int64, device=flat.device).index_add_(
                0, flat, torch.ones_like(flat))
        ys = self._experts(L, xs, counts)
        out = self._ffn("shared_experts", h, L.w_s_up, L.w_s_down) if f.num_shared_experts else None
        with self.op("moe_dispatch"):                                        # weighted copies added back
            ys.mul_(weights.view(-1)[order].to(ys.dtype)[:, None])
            out = torch.zeros_like(h) if out is None else out
            return out.index_add_(0, token, ys)

    def _experts(self, L: _Layer, xs, counts):
        """Each expert's FFN over its rows of ``xs`` (rows sorted by expert, ``counts`` per expert)."""
        torch = self.torch
        with self.op("experts"):
            if self.moe_impl == "grouped":
                offs = torch.cumsum(counts, 0, dtype=torch.int32)
                up = torch._grouped_mm(xs, L.w_e_up, offs=offs)
                act = self._act(up)
                ys = torch._grouped_mm(act, L.w_e_down, offs=offs)
                self._count("experts", 2 * xs.shape[0] * (xs.shape[1] * up.shape[1] + act.shape[1] * ys.shape[1]))
                return ys
            ys = torch.empty_like(xs)
            start = 0
            for e, c in enumerate(counts.tolist()):                         # one host sync: the loop needs them
                if c:
                    act = self._act(torch.mm(xs[start:start + c], L.w_e_up[e]))
                    torch.mm(act, L.w_e_down[e], out=ys[start:start + c])
                    start += c
            return ys


def _moe_impl(choice: str, torch, device) -> str:
    """auto: grouped GEMMs where this torch has ``_grouped_mm`` for bf16 on this device (sm_90+), else the loop."""
    if choice != "auto":
        return choice
    if not hasattr(torch, "_grouped_mm") or device.type != "cuda":
        return "loop"
    return "grouped" if torch.cuda.get_device_capability(device) >= (9, 0) else "loop"


# -------------------------------------------------------------------------------------------------------------
# Measuring
# -------------------------------------------------------------------------------------------------------------

def measure(cfg: StepConfig, spec: ModelSpec) -> dict:
    """Build the layers on the GPU, warm up, profile ``cfg.steps`` steps and attribute their kernels to ops."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from .timing import time_cuda

    torch.cuda.empty_cache()
    model = WholeStep(cfg, tail_spec(spec, cfg.layers))
    notes = []
    try:
        model.step()
        torch.cuda.synchronize()
    except Exception as e:                  # grouped GEMMs refused here (shape, alignment): run the loop instead
        if model.moe_impl != "grouped" or cfg.moe_impl != "auto" or type(e).__name__ == "OutOfMemoryError":
            raise
        notes.append(f"grouped GEMMs failed ({str(e).splitlines()[0][:160]}); experts ran as a loop")
        model.moe_impl = "loop"
    for _ in range(cfg.warmup):
        model.step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for i in range(cfg.steps):
            with torch.profiler.record_function(f"{STEP_PREFIX}{i}"):
                model.step()
        torch.cuda.synchronize()
    if cfg.trace:
        prof.export_chrome_trace(str(cfg.trace))
    ranges, launches, unlinked_us = events_from_profile(prof.events())
    att = attribute(ranges, launches, unlinked_us)
    eager = time_cuda(model.step, warmup=1, reps=5, hold=False, max_seconds=2.0)
    timed = event_times(model, cfg.steps, eager.median)
    ops = {name: {"time_s": timed.get(name, t.time_s), "profiler_time_s": t.time_s, "kernels": t.kernels,
                  "top_kernels": sorted(([k, s] for k, s in t.by_kernel.items()), key=lambda r: -r[1])[:TOP_KERNELS]}
           for name, t in att.mean().items()}
    for name, t in timed.items():                 # ops whose kernels the profiler did not link (Triton launches)
        ops.setdefault(name, {"time_s": t, "profiler_time_s": 0.0, "kernels": 0, "top_kernels": []})
    return {"measured_ops": ops, "step_kernel_s": att.step_totals_s(), "outside_s": att.outside_s,
            "unlinked_s": att.unlinked_s, "step_eager_s": eager.median, "moe_impl": model.moe_impl
            if spec.ffn.kind == "moe" else None, "attention_impl": model.impl, "notes": notes,
            "device": torch.cuda.get_device_name(0), "torch": torch.__version__}


def event_times(model: "WholeStep", steps: int, step_s: float) -> dict[str, float]:
    """Mean device seconds per step of each op, between CUDA events recorded around its range. The GPU is first
    held by a sleep long enough for the host to queue every step (as profiler.timing.time_cuda does), so a range
    measures its kernels back to back, not the host's launch gaps; the L2 is flushed between steps, since in a whole
    model the other layers' weights would have evicted these. This is the measured time per op: the profiler's
    kernel-to-range links miss kernels launched by Triton's own launcher (they land in "unlinked")."""
    import torch

    from .timing import MAX_HOLD_MS, SLEEP_CYCLES_PER_MS, L2Flusher

    flusher = L2Flusher()
    model.events = []
    try:
        torch.cuda.synchronize()
        torch.cuda._sleep(int(min(steps * max(1.0, 2e3 * step_s + 0.2), MAX_HOLD_MS) * SLEEP_CYCLES_PER_MS))
        for _ in range(steps):
            flusher.flush()       # a model's other layers would have evicted these weights: no L2 carry-over
            model.step()
        torch.cuda.synchronize()
        out: dict[str, float] = {}
        for name, start, end in model.events:
            out[name] = out.get(name, 0.0) + start.elapsed_time(end) / 1e3 / steps
        return out
    finally:
        model.events = None


def profile_whole_step(cfg: StepConfig, hw: Hardware, *, spec: ModelSpec | None = None) -> dict:
    """Predict, measure and compare one whole-step point (a JSON-ready dict; OOM: status ``does not fit``)."""
    from .memory import run_or_oom

    spec = spec or load_spec(cfg.model)
    cfg.validate(spec)
    roof = predict_step(cfg, spec, hw)
    return assemble(cfg, spec, roof, run_or_oom(lambda: measure(cfg, spec)))


# -------------------------------------------------------------------------------------------------------------
# Predicted beside measured (plain Python: tested with canned measurements)
# -------------------------------------------------------------------------------------------------------------

def assemble(cfg: StepConfig, spec: ModelSpec, roof, res: dict) -> dict:
    """The point: per op the calculator's floor and expected time beside the kernels' time, in the shape of the
    other profile results (``comparisons``: name, unit, predicted, measured, error_pct, tolerance_pct, ok; every
    tolerance None: reported, not judged). ``ops`` holds the same per op with FLOPs, bytes, launches."""
    L, n = spec.num_layers, cfg.layers
    point = {"key": cfg.key(), "config": asdict(cfg), "model": spec.name, "attention": spec.attention.kind,
             "whole_step": True, "layers_run": n, "layers_total": L, "layer_indices": list(range(L - n, L)),
             "scaled": False,
             "scale_note": (f"ran layers {L - n}-{L - 1} of {L} (the model's last {n}), embed, final norm and lm_head "
                            "once; predicted for the same layers, bf16 weights and cache, one rank"
                            + (f" of {cfg.tp}" if cfg.tp > 1 else "")),
             "predicted": {"ops": [t.to_json() for t in roof.ops], "time_s": roof.time_s,
                           "expected_s": roof.expected_time_s, "kernel": roof.kernel, "weight_bits": 16,
                           "kv_bits": 16},
             **res}
    if res["status"] != "ok":
        point["ops"], point["comparisons"] = [], []
        return _finite(point)
    measured = res["measured_ops"]
    rows, comps = [], []
    floor_total = expected_total = 0.0
    for t in roof.ops:
        name = t.op.name
        m = measured.get(name)
        got = None if m is None else m["time_s"]
        floor_s, expected_s = t.time_s, t.expected_s
        if name != "comm":
            # the embedding's and head's own collectives (vocab-split under TP) are not run on one GPU either
            link = op_link_s(t.op, roof.gpu)
            floor_s, expected_s = floor_s - link, expected_s - link
            floor_total += floor_s
            expected_total += expected_s
        rows.append(_row(name, floor_s, expected_s, got, m, t.op.launches, t.op.flops, t.op.bytes))
        comps += [Comparison(f"{name}_s", "s", floor_s, got), Comparison(f"{name}_expected_s", "s", expected_s, got)]
    predicted_names = {t.op.name for t in roof.ops}
    for name in [*EXTRA_OPS, *sorted(measured)]:
        if name in measured and name not in predicted_names and all(r["name"] != name for r in rows):
            m = measured[name]
            rows.append(_row(name, None, None, m["time_s"], m, None, None, None))
            comps.append(Comparison(f"{name}_s", "s", None, m["time_s"]))
    total = sum(m["time_s"] for m in measured.values())
    comps += [Comparison("step_s", "s", floor_total, total), Comparison("step_expected_s", "s", expected_total, total)]
    point["ops"] = rows
    point["comparisons"] = [c.as_dict() for c in comps]
    point["measured_step_s"] = total
    if any(t.op.name == "comm" for t in roof.ops):
        point["comm_note"] = ("comm is predicted, not run: one GPU runs no all-reduce (the totals leave it out, and "
                              "embed's and lm_head's rows leave out their vocabulary collectives)")
    return _finite(point)


def _row(name, floor, expected, measured, m, launches, flops, nbytes) -> dict:
    from .results import error_pct

    return {"name": name, "floor_s": floor, "expected_s": expected, "measured_s": measured,
            "error_floor_pct": error_pct(floor, measured), "error_expected_pct": error_pct(expected, measured),
            "kernels": None if m is None else m["kernels"], "launches": launches, "flops": flops, "bytes": nbytes,
            "top_kernels": None if m is None else m.get("top_kernels")}


def table_rows(point: dict) -> list[list[str]]:
    """The per-op table as text cells: op, floor, expected, measured (us), error against each, kernels/launches."""
    def us(x):
        return "" if x is None else f"{x * 1e6:,.1f}"

    def pct(x):
        return "" if x is None else f"{x:+.0f}%"

    out = []
    for r in point.get("ops", []):
        launches = "" if r["launches"] is None else f"{r['launches']:g}"
        kernels = "" if r["kernels"] is None else str(r["kernels"])
        out.append([r["name"], us(r["floor_s"]), us(r["expected_s"]), us(r["measured_s"]),
                    pct(r["error_floor_pct"]), pct(r["error_expected_pct"]), f"{kernels}/{launches}".strip("/")])
    step = {c["name"]: c for c in point.get("comparisons", [])}
    if "step_s" in step:
        f, e = step["step_s"], step["step_expected_s"]
        out.append(["step (kernels)", us(f["predicted"]), us(e["predicted"]), us(f["measured"]), pct(f["error_pct"]),
                    pct(e["error_pct"]), ""])
    return out


TABLE_HEADER = ["op", "floor us", "expected us", "measured us", "vs floor", "vs expected", "kernels/launches"]


def summary_line(point: dict) -> str:
    """One line per point: the step's kernel time against the floor and expected time."""
    if point["status"] != "ok":
        return f"{point['key']:<60} {point['status']}"
    c = {x["name"]: x for x in point["comparisons"]}
    f, e = c["step_s"], c["step_expected_s"]
    return (f"{point['key']:<60} kernels {f['measured'] * 1e3:8.3f} ms  floor {f['predicted'] * 1e3:8.3f} ms "
            f"({f['error_pct']:+.0f}%)  expected {e['predicted'] * 1e3:8.3f} ms ({e['error_pct']:+.0f}%)")


__all__ = [
    "KERNELS",
    "PHASES",
    "TABLE_HEADER",
    "StepConfig",
    "WholeStep",
    "assemble",
    "measure",
    "predict_step",
    "profile_whole_step",
    "summary_line",
    "table_rows",
    "tail_spec",
]
