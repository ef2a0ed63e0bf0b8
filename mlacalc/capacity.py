"""What fits: the largest batch at a context, the longest context at a batch, and the decode speed there.

Memory on each GPU of a group of ``n``:

    usable    = gpu_mem_util x device memory        (0.9 by default, vLLM's --gpu-memory-utilization)
    kv_budget = usable - weights per GPU - activation workspace
    batch     = the most sequences whose KV cache per GPU fits in kv_budget

Weights per GPU come from :func:`mlacalc.params.params_per_gpu` (TP splits heads and FFN widths, EP splits the
routed experts); with data-parallel attention every GPU holds the full attention weights. Multi-token-prediction
modules are loaded only when each step drafts (``q_tokens > 1``; :func:`served_params_per_gpu`). KV per GPU comes
from :func:`mlacalc.kv.kv_report` with the same :class:`~mlacalc.parallel.Parallelism`: under TP every GPU holds its
heads' share of every sequence (all of an MLA latent, which belongs to no head); under data-parallel attention each GPU
holds whole sequences, ``ceil(batch / n)`` of them.

The activation workspace is stated, not measured: the peak live activations of one forward step of
``workspace_tokens`` tokens (default 8,192, a chunked-prefill budget) at bf16 (:func:`activation_workspace`).
Not counted: CUDA graphs, NCCL buffers, allocator fragmentation, the logits buffer; pass ``workspace_bytes`` to
use a measured number instead. Against vLLM's start-up logs (docs/vllm-capacity-checks.md) the budget is 5-46% over
what vLLM gives the KV cache, from three terms this model leaves out: vLLM multiplies ``gpu_mem_util`` by
``torch.cuda.mem_get_info``'s total, 0.35-0.45 GiB under nvidia-smi's that the hardware files hold; it subtracts the
memory outside PyTorch (0.25-3.6 GiB: CUDA context, cuBLAS, NCCL); and its profiled peak includes the sampler's
vocabulary-wide buffers for ``max_num_seqs`` rows (V0's ``profile_run`` samples with ``top_k = vocab - 1``), 1.26
GiB for Llama-3-8B at TP 1 and TP 2 alike.

``engine="vllm"`` (``fit --engine vllm``) sizes the budget as vLLM does instead (:mod:`mlacalc.vllm`): utilization of
cudaMemGetInfo's total where the hardware file has it, less the weights, a stated non-torch memory and the profile
run's activation peak (the forward's workspace above, or the sampler's vocabulary-wide buffers, whichever is larger).
``engine="sglang"`` sizes it as SGLang does (:mod:`mlacalc.sglang`): ``mem_fraction_static`` (``gpu_mem_util``; None:
SGLang's default for the card and tp) of the free memory before the weights load, less the weights.

A hybrid (attention layers beside layers with a constant state) is not a byte sum under either engine
(:func:`engine_pages`): vLLM cuts the budget into equal pages, its attention blocks raised until a page holds a
state (:mod:`mlacalc.vllm_hybrid`), and the largest batch is the concurrency it logs; SGLang sets 0.9/1.9 of it
aside for state slots and a running request may take three of them (:class:`mlacalc.sglang.SglangHybridPool`).

Then the decode step at the largest batch is timed with :func:`mlacalc.step.roofline`: a smaller cache
per sequence gives a bigger batch, which spreads the weight reads over more tokens. Throughput is at the
kernel-aware expected time (:mod:`mlacalc.expected`); the floor is reported beside it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .attention import family, pattern
from .errors import ArgError, SpecError, show
from .hardware import Hardware
from .kv import format_bits, kv_report, kv_storage
from .parallel import Parallelism
from .step import MAX_DECODE_ROWS, SUPPORTED, check_step_size, decode_rows, Roofline, Step, roofline
from .spec import ModelSpec, refuse_kv_sharing, refuse_layer_heads
from .units import finite, fmt_bytes, largest_fitting
from .params import Params, mtp_width, stage_params, weight_bytes
from .sglang import (MIB, SGLANG_FP32_STATE_KINDS, SSM_STATE_BITS, SglangHybridPool, SglangMemory, server_defaults,
                     sglang_memory)
from .sglang import PRELOAD_NON_TORCH_BYTES, PRELOAD_NON_TORCH_SOURCE
from .vllm import (DEFAULT_SAMPLER, NON_TORCH_BYTES, NON_TORCH_DEFAULT_SOURCE, VersionRules, VllmMemory,
                   batch_defaults, check_cudagraph, check_max_num_seqs, check_non_torch, check_sampler, parse_version,
                   runs_dense, sampler_peak, version_rules)
from .sglang_compressed import SglangCompressedPool, sglang_compressed_pool
from .vllm_compressed import CompressedPages, compressed_pages
from .vllm_hybrid import HybridPages, check_mamba_cache_mode, hybrid_layers, hybrid_pages, is_hybrid
from .vllm_sliding import SlidingPages, sliding_pages

DEFAULT_GPU_MEM_UTIL = 0.9
DEFAULT_WORKSPACE_TOKENS = 8192
ENGINES = ("mlacalc", "vllm", "sglang")   # whose accounting sizes the KV budget (module docstring)
MAX_CONTEXT_SEARCH = 1 << 26          # longest context searched (tokens); the spec holds no trained window
MAX_TP_SEARCH = 1024                  # largest tensor-parallel degree fewest_tp_for_weights tries


@dataclass(frozen=True)
class Workspace:
    """Activation workspace per GPU, bytes: live tensors of one step of ``tokens`` tokens at bf16."""

    tokens: int
    residual: float              # the residual stream and the normed input: 2 T d (AltUp, per-layer inputs: more)
    attention: float             # queries and attention output for this GPU's heads: T H' (d_qk + d_v)
    ffn: float                   # the widest FFN intermediate (gate and up): 2 T f'

    @property
    def total(self) -> float:
        return self.residual + self.attention + self.ffn

    def as_dict(self) -> dict:
        return {"tokens": self.tokens, "residual": self.residual, "attention": self.attention, "ffn": self.ffn,
                "total": self.total}


def activation_workspace(spec: ModelSpec, tokens: int = DEFAULT_WORKSPACE_TOKENS, tp: int = 1) -> Workspace:
    """Peak live activations of one forward step of ``tokens`` tokens on one of ``tp`` GPUs, bf16 (2 bytes).

    The FFN term takes the widest of: the dense FFN ``f / tp``, and an MoE layer's ``k`` routed experts plus its
    shared experts (``(k f_e + n_s f_s) / tp`` per token); none without an FFN. MLA attention counts the decompressed
    form (prefill). The attention term is the widest block's (the full layers', or the sliding layers' own shape); a
    model without attention (a state-space model) counts its mixer's input projection instead (``input_width / tp``
    per token: Mamba-1's x and gate, ``2 d_inner``), and one with parallel mixers the wider of the two (Falcon-H1's
    Mamba-2 ``in_proj``, ``2 I + 2 G N + H`` a token, is wider than its attention's queries and output).

    With residual extras (Gemma-3n, transformers ``Gemma3nTextModel.forward``) the residual term holds AltUp's K
    streams and the K predictions made from them beside the normed input, ``(2 K + 1) T d``, and the per-layer
    inputs of every layer, ``T L p``, computed once before the first layer and live to the last. With
    hyper-connections (DeepSeek-V4's mHC, transformers ``DeepseekV4DecoderLayer``: ``hidden_states [B, S, hc_mult,
    D]``) the residual term holds the n streams beside the normed input, ``(n + 1) T d``.
    """
    f, d = spec.ffn, spec.hidden_size
    r = spec.residual_extras
    streams = 2 if r is None or r.altup_inputs == 1 else 2 * r.altup_inputs + 1
    if spec.hyper_connections > 1:      # mHC: the n residual streams and the sublayer's collapsed, normed input
        streams = spec.hyper_connections + 1
    per_layer = spec.num_layers * r.per_layer_input_size if r is not None else 0
    width = 0 if f is None else f.intermediate_size     # with ffn.layer_widths the widest (spec._check_layer_widths)
    if f is not None and f.kind == "moe":
        width = max(width, f.experts_per_token * f.expert_intermediate_size + f.num_shared_experts * f.shared_width)
    attn = max((tokens * (a.num_heads / tp) * (a.qk_head_dim + a.v_head_dim) * 2
                for a in (spec.attention, spec.sliding_attention) if a is not None), default=0.0)
    if spec.attention is None or spec.parallel_mixers:
        # a state-space model: its mixer's input projection (Mamba-1: x and z, 2 d_inner) is the widest activation;
        # with parallel mixers (Falcon-H1) the wider of it and the attention's
        b = spec.linear_attention
        attn = max(attn, tokens * family(b).input_width(b, d) / tp * 2)
    return Workspace(tokens=tokens, residual=tokens * (streams * d + per_layer) * 2,
                     attention=attn,
                     ffn=tokens * 2 * width / tp * 2)


@dataclass(frozen=True)
class Fit:
    """Memory per GPU (bytes), the largest batch at ``context``, the longest context at ``batch``, and decode."""

    model: str
    attention: str
    gpu: Hardware
    parallel: Parallelism
    weight_bits: float
    kv_bits: float
    gpu_mem_util: float
    context: int
    usable: float
    weights: float
    workspace: Workspace
    kv_bytes_per_seq: float       # KV of one sequence of `context` tokens on one GPU
    max_batch: int                # over the whole group
    batch: int                    # batch for the longest-context question
    max_context: int              # longest context at `batch` (0: not even one token)
    decode: Roofline | None       # decode step at max_batch (None when nothing fits, or when max_batch is beyond
    #                               the rows a step can be priced at: mlacalc.step.MAX_DECODE_ROWS)
    pattern: str = ""             # the attention layers in words (mlacalc.attention.pattern)
    context_limit: int | None = None  # the longest context the model is configured for (spec.max_context: HF
    #                               max_position_embeddings); None when the spec does not say
    vllm: VllmMemory | None = None  # engine "vllm": vLLM's accounting, which then gives usable and kv_budget
    sglang: SglangMemory | None = None  # engine "sglang": SGLang's accounting, likewise
    vllm_pages: HybridPages | None = None  # engine "vllm" on a hybrid: the pages its hybrid KV-cache manager cuts the
    #                               budget into (mlacalc.vllm_hybrid), which then give max_batch and max_context
    sglang_pool: SglangHybridPool | None = None  # engine "sglang" on a hybrid: its split into state slots and K/V
    sglang_kv_layers: int | None = None  # engine "sglang" where its pool holds K/V for layers without attention
    #                               (engine_kv_spec: Nemotron-NAS): the layers it holds K/V for, all of them
    vllm_sliding: SlidingPages | None = None  # engine "vllm" on a model with sliding-window layers: the pages its
    #                               hybrid KV-cache manager cuts the budget into (mlacalc.vllm_sliding), which then
    #                               give max_batch and max_context
    vllm_compressed: CompressedPages | None = None  # engine "vllm" on DeepSeek-V4: its block groups in one pool
    #                               (mlacalc.vllm_compressed), which then give max_batch and max_context
    sglang_compressed: SglangCompressedPool | None = None  # engine "sglang" on DeepSeek-V4: its full-token pools
    #                               (mlacalc.sglang_compressed), likewise
    tp_for_weights: int | None = None  # where the weights alone exceed the usable memory: the smallest --tp that
    #                               holds them (fewest_tp_for_weights); None otherwise, or where none up to 1,024 does
    caveats: tuple = ()           # the spec's excluded and warnings (ModelSpec.caveats): a vision tower not counted

    @property
    def usable_context(self) -> int:
        """Longest context at ``batch`` that both fits and the model is configured for (tokens): max_context
        capped at context_limit. Memory past the model's limit holds more sequences, not longer ones."""
        return min(self.max_context, self.context_limit) if self.context_limit else self.max_context

    @property
    def max_context_capped(self) -> bool:
        """The longest-context search stopped at its limit (:data:`MAX_CONTEXT_SEARCH`): ``max_context`` is a lower
        bound (a model whose every layer is sliding holds the same cache at any context), not where memory runs out.
        fit printed the limit, 67,108,864, as the longest context (audit 7)."""
        return self.max_context >= MAX_CONTEXT_SEARCH

    @property
    def kv_budget(self) -> float:
        """Bytes per GPU left for the KV cache (negative: the weights and workspace alone do not fit)."""
        if self.vllm is not None:
            return self.vllm.kv_budget
        if self.sglang is not None:
            return self.sglang.kv_budget
        return self.usable - self.weights - self.workspace.total

    @property
    def shortfall(self) -> dict | None:
        """Why no KV cache fits, where the KV budget is negative (None otherwise): ``short_bytes`` (``-kv_budget``),
        ``weights_alone`` (the weights per GPU exceed the usable memory by themselves, before any workspace),
        ``tp_for_weights`` (:func:`fewest_tp_for_weights`, or None) and the ``reason`` in words. fit printed a
        largest batch of 0 beside a budget of -137.7e9 bytes (GLM-4.5-Air's 199 GiB of bf16 weights on one H100)
        and left the reader to work out why and what to change."""
        if self.kv_budget >= 0:
            return None
        short, alone = -self.kv_budget, self.weights > self.usable
        what, less = (("SGLang's headroom", "a larger --gpu-mem-util") if self.sglang is not None else
                      ("vLLM's non-torch memory and activation peak", "fewer tokens or sequences a step "
                       "(--workspace-tokens, --max-num-seqs)") if self.vllm is not None else
                      ("the workspace", "a smaller workspace (--workspace-tokens, --workspace)"))
        if alone:
            reason = (f"the weights alone ({fmt_bytes(self.weights)} a GPU) exceed the usable "
                      f"{fmt_bytes(self.usable)} by {fmt_bytes(self.weights - self.usable)}: no KV cache fits; ")
            reason += (f"try --tp {self.tp_for_weights}, the fewest GPUs whose share of the weights fits (the KV "
                       f"cache and {what} need more), or narrower weights (--weight-dtype)" if self.tp_for_weights else
                       f"no --tp up to {MAX_TP_SEARCH:,} holds them: try narrower weights (--weight-dtype)")
        else:
            reason = (f"the weights ({fmt_bytes(self.weights)} a GPU) and {what} ({fmt_bytes(self.reserved)}) "
                      f"exceed the usable {fmt_bytes(self.usable)} by {fmt_bytes(short)}: no KV cache fits; try more "
                      f"GPUs (--tp), narrower weights (--weight-dtype) or {less}")
        return {"short_bytes": short, "weights_alone": alone, "tp_for_weights": self.tp_for_weights,
                "reason": reason}

    @property
    def reserved(self) -> float:
        """Bytes per GPU that are neither weights nor KV: the workspace, or under vLLM's accounting its non-torch
        memory plus the activation peak (and the CUDA-graph estimate when given), under SGLang's its headroom
        ``(1 - mem_fraction_static) x free memory`` (so that usable = weights + reserved + kv_budget)."""
        if self.vllm is not None:
            return self.vllm.non_torch + self.vllm.activation_peak + self.vllm.cudagraph
        if self.sglang is not None:
            return self.sglang.headroom
        return self.workspace.total

    def to_json(self) -> dict:
        d = self.decode
        out = {
            "model": self.model, "attention": self.attention, "attention_pattern": self.pattern,
            "gpu": self.gpu.name, "gpus": self.parallel.tp,
            "dp_attention": self.parallel.dp_attention, "ep": self.parallel.ep, "parallel": self.parallel.as_dict(),
            "weight_bits": self.weight_bits,
            "kv_bits": self.kv_bits, "gpu_mem_util": self.gpu_mem_util, "context": self.context,
            "memory_per_gpu": {"usable": self.usable, "weights": self.weights, "workspace": self.reserved,
                               "kv_budget": self.kv_budget},
            "workspace": self.workspace.as_dict(),
            "kv_bytes_per_seq_per_gpu": self.kv_bytes_per_seq, "max_batch": self.max_batch,
            "batch": self.batch, "max_context": self.max_context, "max_context_capped": self.max_context_capped,
            "context_limit": self.context_limit,
            "usable_context": self.usable_context,
            "decode": None if d is None else {
                "throughput_basis": f"expected ({d.kernel} kernels, {d.coefficients}); *_floor: the roofline floor",
                "batch": d.step.batch, "step_time_s": d.expected_time_s,
                "time_per_output_token_s": d.expected_time_per_output_token_s,
                "tokens_per_s": d.expected_tokens_per_s, "tokens_per_s_per_gpu": d.expected_tokens_per_s_per_gpu,
                "gpu_seconds_per_million_tokens": 1e6 * self.parallel.tp / d.expected_tokens_per_s,
                "step_time_floor_s": d.time_s, "tokens_per_s_per_gpu_floor": d.tokens_per_s_per_gpu,
                "bandwidth_util": d.bandwidth_util, "compute_util": d.compute_util},
        }
        if self.vllm is not None:   # the default engine's output is left as it was
            out["engine"] = "vllm"
            out["vllm_memory"] = self.vllm.as_dict()
        if self.vllm_pages is not None:
            out["vllm_hybrid"] = self.vllm_pages.as_dict(self.kv_budget, self.context)
        if self.vllm_sliding is not None:
            out["vllm_sliding"] = self.vllm_sliding.as_dict(self.kv_budget, self.context)
        if self.sglang_pool is not None:
            out["sglang_hybrid"] = self.sglang_pool.as_dict(self.kv_budget, self.context)
        if self.vllm_compressed is not None:
            out["vllm_compressed"] = self.vllm_compressed.as_dict(self.kv_budget, self.context)
        if self.sglang_compressed is not None:
            out["sglang_compressed"] = self.sglang_compressed.as_dict(self.kv_budget, self.context)
        if self.sglang is not None:
            out["engine"] = "sglang"
            out["sglang_memory"] = self.sglang.as_dict()
        if self.sglang_kv_layers is not None:
            out["sglang_kv_layers"] = self.sglang_kv_layers
        if self.shortfall is not None:      # a negative kv_budget, said why (left out where the budget is >= 0)
            out["shortfall"] = self.shortfall
        out.update({k: list(v) for k, v in self.caveats})
        return out


def served_params_per_gpu(spec: ModelSpec, parallel: Parallelism, q_tokens: int = 1) -> Params:
    """Parameters a serving engine loads on the fullest GPU (counts, not bytes): :func:`mlacalc.params.stage_params`,
    without the multi-token-prediction modules unless each decode step drafts tokens (``q_tokens > 1``).

    vLLM (``models/deepseek_v2.py`` ``load_weights``: "skip spec decode layers for main model") and SGLang
    (``DeepseekV2ForCausalLM`` skips the ``num_nextn_predict_layers`` layers; ``deepseek_nextn.py`` loads them as the
    draft model) keep a checkpoint's MTP layers out of GPU memory unless speculative decoding is on. ``fit`` charged
    them whatever ``q_tokens`` was: DeepSeek-V3 (11.61 B MTP parameters, fp8) on 8 H200s lost 1.35 GiB of KV budget
    per GPU, 104 sequences at 32k instead of 112 for DeepSeek-V3.2 under dp-attention and ep 8 (audit 8)."""
    stages = stage_params(spec, parallel)
    if q_tokens == 1:
        stages = [dataclasses.replace(p, mtp=0) for p in stages]
    return max(stages, key=lambda p: p.total)


def kv_per_gpu(spec: ModelSpec, context: int, batch: int, parallel: Parallelism, kv_bits: float,
               block_size: int | None = None, kv_format: str | None = None) -> float:
    """KV bytes on the fullest GPU for ``batch`` sequences of ``context`` tokens."""
    return kv_report(spec, context, batch, kv_bits=kv_bits, block_size=block_size, parallel=parallel,
                     kv_format=kv_format).per_gpu.total


def max_batch(spec: ModelSpec, context: int, budget: float, parallel: Parallelism, kv_bits: float,
              block_size: int | None = None, kv_format: str | None = None) -> tuple[int, float]:
    """(largest batch over the group, KV bytes per sequence per GPU). KV per GPU is linear in the sequences a GPU
    holds: all of them under TP, ``ceil(batch / n)`` under dp-attention."""
    per_seq = kv_per_gpu(spec, context, 1, parallel, kv_bits, block_size, kv_format)
    if budget <= 0:
        return 0, per_seq
    per_gpu_seqs = int(budget // per_seq)
    return (per_gpu_seqs * parallel.tp if parallel.dp_attention else per_gpu_seqs), per_seq


def max_context(spec: ModelSpec, batch: int, budget: float, parallel: Parallelism, kv_bits: float,
                block_size: int | None = None, kv_format: str | None = None) -> int:
    """Longest context (tokens) at which ``batch`` sequences fit in ``budget`` bytes per GPU (binary search:
    KV grows monotonically with context, windows and blocks included). 0 if not even one token fits."""
    def fits(c: int) -> bool:
        return kv_per_gpu(spec, c, batch, parallel, kv_bits, block_size, kv_format) <= budget

    return 0 if budget <= 0 else largest_fitting(fits, MAX_CONTEXT_SEARCH)


def engine_pages(spec: ModelSpec, parallel: Parallelism, engine: str, kv_bits: float, kv_format: str | None,
                 block_size: int | None, mamba_cache_mode: str | None, batched_tokens: int | None = None,
                 q_tokens: int = 1
                 ) -> HybridPages | SlidingPages | SglangHybridPool | CompressedPages | SglangCompressedPool | None:
    """How ``engine`` cuts a hybrid's budget (attention beside state layers): vLLM's pages
    (:func:`mlacalc.vllm_hybrid.hybrid_pages`), SGLang's state slots and K/V pool (:class:`mlacalc.sglang.
    SglangHybridPool`, the recurrent state at float32 unless the spec says otherwise); under vLLM, a model with
    sliding-window layers beside (or without) full ones is paged too (:func:`mlacalc.vllm_sliding.sliding_pages`, a
    sliding group holding ``window - 1 + batched_tokens`` tokens a request: vLLM's ``max_num_batched_tokens``).
    DeepSeek-V4's compressed attention has pools of its own under both engines (:mod:`mlacalc.vllm_compressed`,
    :mod:`mlacalc.sglang_compressed`; ``q_tokens`` > 1, speculative decoding, is refused there). None for every other
    model and under mlacalc's accounting, which size the cache as a byte sum.
    ``mamba_cache_mode`` (vLLM; None: "none", prefix caching off) is refused in one line where it changes nothing."""
    if engine in ("vllm", "sglang"):
        v4 = (compressed_pages(spec, parallel, kv_format, batched_tokens, block_size, q_tokens) if engine == "vllm"
              else sglang_compressed_pool(spec, parallel, kv_format, block_size, q_tokens))
        if v4 is not None:
            if mamba_cache_mode is not None:
                check_mamba_cache_mode(mamba_cache_mode)
                raise ArgError("mamba_cache_mode", f"applies only with engine vllm to a model with state layers "
                                                   f"beside attention ({spec.name}: {pattern(spec)})")
            return v4
    hybrid = engine in ("vllm", "sglang") and is_hybrid(spec)
    if mamba_cache_mode is not None and not (hybrid and engine == "vllm"):
        check_mamba_cache_mode(mamba_cache_mode)
        raise ArgError("mamba_cache_mode", f"applies only with engine vllm to a model with state layers beside "
                                           f"attention ({spec.name}: {pattern(spec)}, engine {engine})")
    if not hybrid:
        if engine == "vllm" and batched_tokens is not None:
            return sliding_pages(spec, parallel, kv_bits, kv_format, batched_tokens, block_size)
        return None
    if engine == "vllm":
        return hybrid_pages(spec, parallel, kv_bits, kv_format, mamba_cache_mode or "none", block_size)
    # SGLang's recurrent state is float32 unless the config says otherwise for the kinds it sizes through
    # Mamba2CacheParams (mamba2_state_dtype); the others keep the spec's dtypes
    default_fp32 = spec.linear_attention.kind in SGLANG_FP32_STATE_KINDS and spec.dtypes.ssm_state is None
    ssm = SSM_STATE_BITS if default_fp32 else spec.dtypes.ssm_state_bits
    n_a, token, n_s, state = hybrid_layers(spec, parallel, kv_bits, kv_format, ssm)
    return SglangHybridPool(state_bytes=n_s * state, token_bytes=n_a * token)


def engine_kv_spec(spec: ModelSpec, engine: str) -> ModelSpec:
    """The spec whose K/V bytes a token are what ``engine``'s pool holds a token for a model that is no hybrid: ``spec``
    itself, except under SGLang for a spec with ``ffn.layer_widths`` (Nemotron-NAS), whose layers without attention
    (the ``ffn`` layer type: attention ``no_op``) then hold a K/V buffer of the full layers' each. SGLang sizes such a
    pool by ``num_effective_layers`` (sgl-project/sglang ``model_runner_kv_cache_mixin.py`` ``profile_max_num_token``
    -> ``get_cell_size_per_token(num_layers)``, later ``pool_configurator.py`` ``DefaultPoolConfigurator``; only a
    Mamba hybrid counts its ``full_attention_layer_ids``), ``end_layer - start_layer`` = ``num_hidden_layers`` for its
    ``nemotron_nas.py`` ``DeciModel``, which sets neither: the pool's buffers are indexed by each RadixAttention's
    ``layer_id``. Llama-3.3-Nemotron-Super-49B's cell is 80 layers' K/V, not its 49 attention layers'. vLLM caches
    only the ``Attention`` modules it builds (``get_kv_cache_spec``), as mlacalc's own accounting does."""
    if engine != "sglang" or spec.layer_widths is None or not spec.layer_types or is_hybrid(spec):
        return spec
    return dataclasses.replace(spec, layer_types=tuple("full" if t == "ffn" else t for t in spec.layer_types))


def paged_max_batch(pages: HybridPages | SlidingPages | SglangHybridPool | CompressedPages | SglangCompressedPool,
                    context: int, budget: float,
                    parallel: Parallelism
                    ) -> tuple[int, float]:
    """:func:`max_batch` under an engine's hybrid pool (:func:`engine_pages`): (largest batch over the group, bytes
    of the pool a request holds on one GPU). Under dp-attention each of the ``tp`` GPUs holds that many."""
    per_rank = pages.max_batch(budget, context) if budget > 0 else 0
    return (per_rank * parallel.tp if parallel.dp_attention else per_rank), float(pages.bytes_per_request(context))


def check_engine(engine: str) -> None:
    """One line for an engine :data:`ENGINES` does not name."""
    if engine not in ENGINES:
        raise ArgError("engine", f"must be one of {', '.join(ENGINES)}, got {show(engine)}")


def engine_settings(hw: Hardware, engine: str, workspace_tokens: int | None, max_num_seqs: int | None,
                    non_torch_bytes: float | None) -> tuple[int, int | None, float | None]:
    """``(workspace_tokens, max_num_seqs, non_torch_bytes)`` for ``engine`` on ``hw``, None filled with its defaults:
    mlacalc's ``DEFAULT_WORKSPACE_TOKENS`` (the last two apply only to vLLM and are refused here when given), vLLM's
    ``max_num_batched_tokens`` / ``max_num_seqs`` for the card (:func:`mlacalc.vllm.batch_defaults`, from its CUDA
    total); under SGLang its ``chunked_prefill_size`` for the card (:func:`mlacalc.sglang.server_defaults`, from
    nvidia-smi's total) (``max_num_seqs`` refused). ``non_torch_bytes`` is checked and stays None when not given:
    :func:`kv_budget` fills the engine's default (:data:`mlacalc.vllm.NON_TORCH_BYTES`,
    :data:`mlacalc.sglang.PRELOAD_NON_TORCH_BYTES`) and records that it did."""
    check_engine(engine)
    if engine != "vllm" and max_num_seqs is not None:
        raise ArgError("max_num_seqs", "applies only with engine vllm")
    if engine == "sglang":
        chunk = server_defaults(hw.memory_bytes / MIB, 1)[0]     # the chunk does not depend on tp
        return ((chunk if workspace_tokens is None else workspace_tokens), None,
                (None if non_torch_bytes is None else check_non_torch(non_torch_bytes)))
    if engine == "mlacalc":
        if non_torch_bytes is not None:
            raise ArgError("non_torch_bytes", "applies only with engine vllm or sglang")
        return (DEFAULT_WORKSPACE_TOKENS if workspace_tokens is None else workspace_tokens), None, None
    tokens_default, seqs_default = batch_defaults(hw.cuda_memory_bytes or hw.memory_bytes, hw.name)
    return ((tokens_default if workspace_tokens is None else workspace_tokens),
            (seqs_default if max_num_seqs is None else check_max_num_seqs(max_num_seqs)),
            (None if non_torch_bytes is None else check_non_torch(non_torch_bytes)))


def check_mem_util(gpu_mem_util: float | None, engine: str) -> float | None:
    """``gpu_mem_util`` checked, None filled with :data:`DEFAULT_GPU_MEM_UTIL` except under SGLang, whose default
    fraction depends on the card and the layout (:func:`mlacalc.sglang.reserved_mib`) and stays None here."""
    if gpu_mem_util is None:
        return None if engine == "sglang" else DEFAULT_GPU_MEM_UTIL
    finite(gpu_mem_util, "gpu_mem_util")
    if not 0 < gpu_mem_util <= 1:
        raise ArgError("gpu_mem_util", f"must be in (0, 1], got {gpu_mem_util}")
    return gpu_mem_util


def kv_budget(spec: ModelSpec, hw: Hardware, weights: float, workspace: float, gpu_mem_util: float | None,
              engine: str, workspace_tokens: int, max_num_seqs: int | None = None,
              non_torch_bytes: float | None = None, parallel: Parallelism = Parallelism(),
              sampler: str = DEFAULT_SAMPLER,
              cudagraph_bytes: float | None = None,
              version: VersionRules | None = None) -> tuple[float, VllmMemory | SglangMemory | None, float]:
    """``(usable, the engine's breakdown or None, KV budget)`` per GPU, bytes, for ``weights`` and a forward
    ``workspace`` (bytes) under ``engine`` (settings from :func:`engine_settings`): mlacalc's ``gpu_mem_util x memory
    - weights - workspace``; vLLM's accounting (:class:`mlacalc.vllm.VllmMemory`: its CUDA total, non-torch memory,
    the larger of the forward and its sampler pass); or SGLang's (:class:`mlacalc.sglang.SglangMemory`:
    ``mem_fraction_static`` of the free memory before the weights, less the weights; ``gpu_mem_util`` None: SGLang's
    default for the card and ``parallel``; ``workspace`` unused). ``non_torch_bytes`` None: the engine's one-process
    figure at every tp, recorded in the breakdown's ``non_torch_source``: vLLM's growth after the CUDA context
    (:data:`mlacalc.vllm.NON_TORCH_BYTES`), SGLang's context and cuBLAS held before the weights load
    (:data:`mlacalc.sglang.PRELOAD_NON_TORCH_BYTES`). ``sampler``: vLLM's top-k/top-p path
    (:data:`mlacalc.vllm.SAMPLER_BYTES_PER_LOGIT`). ``cudagraph_bytes``: vLLM >= 0.21's CUDA-graph estimate, a
    measurement (None: not subtracted, and the breakdown's ``cudagraph_source`` says so). ``version``: the rules of a
    vLLM release (:func:`mlacalc.vllm.version_rules`), which fill ``non_torch_bytes`` (when None and the release's
    is known) and say why no CUDA-graph estimate is subtracted; the sampler is the caller's. ``fit`` and ``sweep``
    size the cache with it."""
    if engine in ("vllm", "sglang"):
        # vLLM builds Hunyuan's K/V-reading layers as encoder-decoder attention with caches of their own
        # (vllm/model_executor/models/hunyuan_v1.py, HunYuanCrossAttention: attn_type ENCODER_DECODER), sized by its
        # cross-attention spec, not by this model's sharing; Gemma-3n's readers share their target's cache
        # (gemma3n.py: kv_sharing_target_layer_name), but how its hybrid allocator then groups sliding and full
        # layers' pages is not established here; what SGLang allocates is not established either
        refuse_kv_sharing(spec, f"engine {engine}'s KV cache")
        # layers of their own K/V heads have pages of their own sizes: vLLM's unify_kv_cache_spec_page_size raises
        # each layer's block to a common page, or refuses; which, and what SGLang does, is not established here
        refuse_layer_heads(spec, f"engine {engine}'s KV cache")
    non_torch_source = "given"
    if non_torch_bytes is None and version is not None and version.non_torch is not None:
        non_torch_bytes, non_torch_source = version.non_torch, version.non_torch_source
    if non_torch_bytes is None and engine == "vllm":
        non_torch_bytes, non_torch_source = NON_TORCH_BYTES, NON_TORCH_DEFAULT_SOURCE
    elif non_torch_bytes is None and engine == "sglang":
        non_torch_bytes, non_torch_source = PRELOAD_NON_TORCH_BYTES, PRELOAD_NON_TORCH_SOURCE
    total, source = ((hw.cuda_memory_bytes, "cudaMemGetInfo") if hw.cuda_memory_bytes else
                     (hw.memory_bytes, "nvidia-smi (the hardware file has no cuda_memory_gib)"))
    if engine == "sglang":
        sm = sglang_memory(total, source, hw.memory_bytes / MIB, parallel.tp,
                           parallel.tp // parallel.attention_tp if parallel.dp_attention else 0, weights,
                           non_torch_bytes, workspace_tokens, gpu_mem_util)
        return sm.usable, sm, sm.kv_budget
    if gpu_mem_util is None:
        gpu_mem_util = DEFAULT_GPU_MEM_UTIL
    if engine != "vllm":
        usable = gpu_mem_util * hw.memory_bytes
        return usable, None, usable - weights - workspace
    vm = VllmMemory(total=total, total_source=source, gpu_mem_util=gpu_mem_util, weights=weights,
                    non_torch=non_torch_bytes, non_torch_source=non_torch_source, forward=workspace,
                    sampler=sampler_peak(spec.vocab_size, spec.hidden_size, workspace_tokens, max_num_seqs, sampler,
                                         hw.sms, parallel.attention_tp),
                    tokens=workspace_tokens, max_num_seqs=max_num_seqs, sampler_path=sampler, version=version,
                    **({"cudagraph": check_cudagraph(cudagraph_bytes), "cudagraph_source": "given"}
                       if cudagraph_bytes is not None else
                       {"cudagraph_source": version.cudagraph_source} if version is not None and version.cudagraph_none
                       else {}))
    return vm.usable, vm, vm.kv_budget


def fit(spec: ModelSpec, hw: Hardware, context: int, parallel: Parallelism = Parallelism(), *, batch: int = 1,
        weight_bits: float | None = None, kv_bits: float | None = None,
        gpu_mem_util: float | None = None, workspace_tokens: int | None = None,
        workspace_bytes: float | None = None, block_size: int | None = None, q_tokens: int = 1,
        mla_form: str | None = None, kv_format: str | None = None, engine: str = "mlacalc",
        max_num_seqs: int | None = None, non_torch_bytes: float | None = None,
        mamba_cache_mode: str | None = None, sampler: str | None = None,
        cudagraph_bytes: float | None = None, vllm_version: str | None = None) -> Fit:
    """Largest batch at ``context`` and longest context at ``batch`` on ``parallel.tp`` GPUs of kind ``hw``,
    then the decode step at the largest batch (see module docstring).

    ``engine="vllm"``: vLLM's accounting (:mod:`mlacalc.vllm`). ``workspace_tokens`` is then its
    ``max_num_batched_tokens`` (None: vLLM's default for the card), ``max_num_seqs`` the sequences its sampler warms
    up (None: vLLM's default), ``non_torch_bytes`` the memory outside PyTorch (None:
    :data:`mlacalc.vllm.NON_TORCH_BYTES`), ``sampler`` its top-k/top-p path (:data:`mlacalc.vllm.SAMPLER_PATHS`:
    "flashinfer", the default; "triton", vLLM 0.17-0.19's default, its buffer sized by the card's SMs; "sort",
    PyTorch's sort; "mrv2", Model Runner V2's), ``cudagraph_bytes`` vLLM >= 0.21's CUDA-graph estimate (a
    measurement: None, not subtracted), ``vllm_version`` a vLLM release ("0.17", "0.9.2") whose rules
    (:func:`mlacalc.vllm.version_rules`) pick the sampler, the non-torch bytes and whether a CUDA-graph estimate
    applies, a given ``sampler`` or ``non_torch_bytes`` winning (None: the defaults above, no version assumed). The
    last five are refused under the default engine. A model with
    sliding-window layers is paged as vLLM's hybrid manager pages it (:mod:`mlacalc.vllm_sliding`: a sliding layer
    holds ``window - 1 + max_num_batched_tokens`` tokens a request), the largest batch then the concurrency vLLM logs.
    On a hybrid (attention
    beside state layers) the budget is cut into vLLM's pages (:mod:`mlacalc.vllm_hybrid`): the largest batch is the
    concurrency vLLM logs at ``context``, floored, and ``mamba_cache_mode`` says how many state pages a request holds
    ("none", the default: one a state group, prefix caching off; "align": two). ``block_size`` is then vLLM's
    ``--block-size``, which the attention block is aligned to.

    ``engine="sglang"``: SGLang's accounting (:mod:`mlacalc.sglang`). ``gpu_mem_util`` is its
    ``mem_fraction_static`` (None: SGLang's default for the card and the layout; 0.9 under the other engines),
    ``workspace_tokens`` its ``chunked_prefill_size`` (None: its default for the card), ``non_torch_bytes`` the memory
    held before the weights load; ``workspace_bytes`` and ``max_num_seqs`` are refused. On a hybrid the budget is
    split into state slots and a K/V pool as SGLang splits it (:class:`mlacalc.sglang.SglangHybridPool`)."""
    workspace_tokens, max_num_seqs, non_torch_bytes = engine_settings(hw, engine, workspace_tokens, max_num_seqs,
                                                                      non_torch_bytes)
    if sampler is not None and engine != "vllm":
        check_sampler(sampler)
        raise ArgError("sampler", "applies only with engine vllm")
    if sampler is not None:
        check_sampler(sampler)
    if cudagraph_bytes is not None:
        check_cudagraph(cudagraph_bytes)
        if engine != "vllm":
            raise ArgError("cudagraph_bytes", "applies only with engine vllm")
    version = None
    if vllm_version is not None:
        parse_version(vllm_version)
        if engine != "vllm":
            raise ArgError("vllm_version", "applies only with engine vllm")
        version = version_rules(vllm_version, runs_dense(spec.num_moe_layers, spec.linear_attention is not None),
                                sampler, non_torch_bytes is not None, cudagraph_bytes is not None)
        sampler = version.sampler
    sampler = DEFAULT_SAMPLER if sampler is None else sampler
    gpu_mem_util = check_mem_util(gpu_mem_util, engine)
    if engine == "sglang" and workspace_bytes is not None:
        raise ArgError("workspace_bytes", "does not apply with engine sglang: its headroom is (1 - "
                                          "mem_fraction_static) of the free memory; give --gpu-mem-util")
    parallel.check(spec).require("fit", SUPPORTED)
    check_step_size(spec, Step("decode", 1, context, q_tokens))   # validates the numbers before the search
    Step("decode", batch, context, q_tokens)
    if isinstance(workspace_tokens, bool) or not isinstance(workspace_tokens, int) or workspace_tokens < 0:
        raise ArgError("workspace_tokens", f"must be a whole number of at least 0, got {show(workspace_tokens)}")
    wbits = spec.dtypes.weight_bits if weight_bits is None else weight_bits
    kbits, kv_format = kv_storage(spec, kv_bits, kv_format)   # none given: dtypes.kv, its layout included
    ws = activation_workspace(spec, workspace_tokens, parallel.attention_tp)
    if workspace_bytes is not None:
        if finite(workspace_bytes, "workspace_bytes") < 0:
            raise ArgError("workspace_bytes", f"must be at least 0, got {workspace_bytes}")
        finite(workspace_bytes, "workspace_bytes", maximum=2.0**60)     # an exabyte: the --workspace ceiling
        ws = Workspace(tokens=0, residual=0.0, attention=0.0, ffn=float(workspace_bytes))
    quant = spec.quantization if weight_bits is None else None      # --weight-dtype overrides the checkpoint's
    w = weight_bytes(served_params_per_gpu(spec, parallel, q_tokens), wbits, quant,
                     mtp_width(spec, parallel, wbits, quant)).total
    usable, em, budget = kv_budget(spec, hw, w, ws.total, gpu_mem_util, engine, workspace_tokens, max_num_seqs,
                                   non_torch_bytes, parallel, sampler, cudagraph_bytes, version)
    vm = em if isinstance(em, VllmMemory) else None
    sm = em if isinstance(em, SglangMemory) else None
    if sm is not None:
        gpu_mem_util = sm.mem_fraction_static
    pages = engine_pages(spec, parallel, engine, kbits, kv_format, block_size, mamba_cache_mode, workspace_tokens,
                         q_tokens)
    pool = engine_kv_spec(spec, engine)        # SGLang's K/V pool: every decoder layer of a Nemotron-NAS model
    if pages is None:
        mb, per_seq = max_batch(pool, context, budget, parallel, kbits, block_size, kv_format)
        mc = max_context(pool, batch, budget, parallel, kbits, block_size, kv_format)
    else:
        mb, per_seq = paged_max_batch(pages, context, budget, parallel)
        mc = pages.max_context(budget, parallel.sequences_per_rank(batch), MAX_CONTEXT_SEARCH) if budget > 0 else 0
    decode = None
    if mb >= 1 and decode_rows(spec, mb, q_tokens) <= MAX_DECODE_ROWS:  # beyond: too many rows to price
        # a block size means a paged cache: its decode step is priced with the block-table wait (Step.paged)
        step = Step("decode", mb, context, q_tokens, paged=block_size is not None)
        decode = roofline(spec, hw, step, parallel, mla_form=mla_form,
                          weight_bits=weight_bits, kv_bits=format_bits(spec, kv_format) or kbits,
                          analyse_attention=False)
    return Fit(model=spec.name, attention=spec.mixer_kind, pattern=pattern(spec), gpu=hw, parallel=parallel,
               weight_bits=wbits, kv_bits=kbits, gpu_mem_util=gpu_mem_util, context=context, usable=usable, weights=w,
               workspace=ws, kv_bytes_per_seq=per_seq, max_batch=mb, batch=batch, max_context=mc, decode=decode,
               context_limit=spec.max_context, vllm=vm, sglang=sm,
               vllm_pages=pages if isinstance(pages, HybridPages) else None,
               vllm_sliding=pages if isinstance(pages, SlidingPages) else None,
               sglang_pool=pages if isinstance(pages, SglangHybridPool) else None,
               vllm_compressed=pages if isinstance(pages, CompressedPages) else None,
               sglang_compressed=pages if isinstance(pages, SglangCompressedPool) else None,
               sglang_kv_layers=None if pool is spec else pool.num_kv_layers,
               tp_for_weights=fewest_tp_for_weights(spec, parallel, q_tokens, wbits, quant, usable)
               if w > usable else None, caveats=spec.caveats)


def fewest_tp_for_weights(spec: ModelSpec, parallel: Parallelism, q_tokens: int, weight_bits: float,
                          quant, usable: float) -> int | None:
    """The smallest tensor-parallel degree above ``parallel.tp`` (its other degrees kept) that the spec allows
    (:meth:`Parallelism.check`: heads split evenly) and at which the weights a GPU serves (:func:`served_params_per_gpu`,
    priced as :func:`fit` prices them) fit in ``usable`` bytes by themselves; None where none up to
    :data:`MAX_TP_SEARCH` does. A first answer for a model whose weights overflow one GPU: the KV cache and the
    workspace need more (``fit`` at that degree says how much). GLM-4.5-Air at bf16 on H100s: 4 (3 does not divide
    its 8 K/V heads), 49.79 GiB a GPU of 71.69 usable."""
    for tp in range(parallel.tp + 1, MAX_TP_SEARCH + 1):
        try:
            p = dataclasses.replace(parallel, tp=tp).check(spec).require("fit", SUPPORTED)
        except SpecError:
            continue
        if weight_bytes(served_params_per_gpu(spec, p, q_tokens), weight_bits, quant,
                        mtp_width(spec, p, weight_bits, quant)).total <= usable:
            return tp
    return None
