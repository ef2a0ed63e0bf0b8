"""``mlacalc profile``: build a model's real KV cache on the GPU, run the project's kernels over it, and set what
was measured beside what the calculator predicts.

One point is one (model, phase, kernel, batch, context) combination:

- **decode**: allocate the KV cache of ``layers`` layers (all of the model's, or N of them; then every figure
  that scales with layers is also shown scaled to the whole model, and the result says so) filled with random
  values (never zeros), one query per sequence, and run the decode kernel layer after layer: one decode step of
  the attention core. MLA uses the absorbed form (``eager`` or ``triton``), GQA/MHA ``sdpa`` or ``triton``.
- **prefill**: the same cache is allocated, and each layer runs causal attention over the prompt (SDPA; MLA in
  its decompressed form).
- **train**: see ``train.py``: forward and backward of a few real layers under a recomputation mode.

Measured: the cache's bytes (allocator delta while building it), peak allocator bytes over the whole point
(cache + working set), NVML's device-wide peak (sampled by a thread), median latency with CUDA events (a CUDA
graph of the step when it captures, to keep launch gaps out; L2 flushed before each repetition), and the
per-kernel breakdown from torch.profiler. Predicted: ``predict.py``.

An out-of-memory error at a point is recorded as ``does not fit`` and compared with the calculator's fit
prediction (predicted peak against the memory free when the point started); the next point then runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from mlacalc.attention.base import INDEX_FIELDS
from mlacalc.attention.dsa import FP8_DS, index_cache_bytes
from mlacalc.errors import SpecError
from mlacalc.hardware import Hardware
from mlacalc.spec import ModelSpec, load_spec

from . import predict
from .memory import guarded
from .results import TOL_KV, TOL_LATENCY, TOL_PEAK_INFER, Comparison, error_pct, output_check_words

TOL_PREFILL = 20.0       # percent: prefill latency against the expected time (the target)

PHASES = ("decode", "prefill", "train")
KERNELS = ("auto", "triton", "gluon", "flashmla", "eager", "sdpa")
RECOMPUTE_MODES = ("none", "selective", "full", "mla-latent")
KV_DTYPES = ("bf16", "fp8", FP8_DS)   # fp8: e4m3 with one scale (MLA); fp8-ds: the 656-byte rows of sparse MLA
FP8_DS_TEMPLATE_ROWS = 64             # packed rows an fp8-ds cache repeats (random, valid e4m3 and scales)
FP8_EXP_CLEAR, FP8_EXP_SET = 0xBF, 0x20   # e4m3 bits: exponent field 01xx (4..7): |x| in [0.125, 1.875]



@dataclass(frozen=True)
class PointConfig:
    """One profiled point. ``layers`` None: all of the model's layers."""

    model: str
    phase: str = "decode"
    kernel: str = "triton"
    batch: int = 1
    context: int = 4096
    layers: int | None = None
    q_tokens: int = 1
    tp: int = 1
    paged: bool = False
    block_size: int | None = None
    kv_dtype: str = "bf16"
    recompute: str = "none"
    reps: int = 20
    warmup: int = 3
    cuda_graph: bool = True
    breakdown: bool = True
    trace: str | None = None
    label: str = ""
    calibration: bool = False     # used to fit a coefficient: excluded from the accuracy targets

    def key(self) -> str:
        """A stable id for the point (used to resume and to name rows)."""
        bits = [self.model, self.phase, self.kernel, f"b{self.batch}", f"c{self.context}"]
        if self.layers:
            bits.append(f"L{self.layers}")
        if self.q_tokens != 1:
            bits.append(f"q{self.q_tokens}")
        if self.tp != 1:
            bits.append(f"tp{self.tp}")
        if self.paged:
            bits.append(f"paged{self.block_size or ''}")
        if self.kv_dtype != "bf16":
            bits.append(self.kv_dtype)
        if self.phase == "train":
            bits.append(self.recompute)
        return "/".join(bits)

    def validate(self, spec: ModelSpec) -> None:
        from mlacalc.spec import (refuse_expert_latent, refuse_kv_sharing, refuse_layer_heads, refuse_layer_widths,
                                  refuse_no_attention, refuse_no_ffn, refuse_parallel_mixers, refuse_residual_extras,
                                  refuse_sliding_shape)

        refuse_no_attention(spec, "the profiler's layers (attention layers)")
        # every layer's Mamba-2 beside its attention would go unbuilt and unmeasured, the prediction counting it
        refuse_parallel_mixers(spec, "the profiler's layers (attention layers alone)")
        refuse_sliding_shape(spec, "the profiler's layers (built with the full layers' heads)")
        refuse_layer_heads(spec, "the profiler's layers (each built with attention.num_heads)")
        refuse_kv_sharing(spec, "the profiler's layers (each built with its own K/V projections and cache)")
        a = spec.attention
        if a.kind == "msa":           # its GQA kernel would run every key, the indexer and its cache unbuilt
            raise SpecError("attention.kind", "the profiler builds no MSA layers (MiniMax-M3's lightning indexer and "
                                              "block-sparse attention); the calculator: kv, weights, roofline")
        if a.head_gate:
            raise SpecError("attention.head_gate", "the profiler's layers have no head-wise output gate (g_proj)")
        if a.q_lora_rank and a.kind in ("mha", "mqa", "gqa"):
            raise SpecError("attention.q_lora_rank", "the profiler's MHA/GQA/MQA layers project full-rank queries (a "
                                                     "low-rank query, Step-3's MFA, is not built)")
        refuse_residual_extras(spec, "the profiler's layers (built with a plain residual stream)")
        # its prediction counts every layer as an attention layer (Nemotron-NAS skips attention on some, and sizes
        # each FFN its own way)
        refuse_layer_widths(spec, "profiling (each layer built with attention and one FFN width)")
        if self.phase not in PHASES:
            raise SpecError("--phase", f"must be one of {', '.join(PHASES)}, got {self.phase!r}")
        if self.phase == "train":     # its layers are built with the spec's FFN (profiler/train.py layer_dims)
            refuse_no_ffn(spec, "the profiler's training layers (attention and FFN)")
            refuse_expert_latent(spec, "the profiler's training layers (experts built at hidden_size)")
        if self.kernel not in KERNELS:
            raise SpecError("--kernel", f"must be one of {', '.join(KERNELS)}, got {self.kernel!r}")
        if self.recompute not in RECOMPUTE_MODES:
            raise SpecError("--recompute", f"must be one of {', '.join(RECOMPUTE_MODES)}, got {self.recompute!r}")
        # each flag by its name, before any GPU work (--q-tokens 0 was "--batch/--context: must be at least 1";
        # --reps 0 and --block-size 0 passed here and met the GPU first)
        for flag, value in (("--batch", self.batch), ("--context", self.context), ("--q-tokens", self.q_tokens),
                            ("--reps", self.reps), ("--block-size", 1 if self.block_size is None else self.block_size)):
            if value < 1:
                raise SpecError(flag, f"must be at least 1, got {value}")
        if self.block_size is not None and not self.paged and self.kernel != "flashmla":   # FlashMLA's is paged
            raise SpecError("--block-size", f"sizes the blocks of a paged cache: add --paged (got --block-size "
                                            f"{self.block_size} over a contiguous cache, which has none)")
        if self.layers is not None and not 1 <= self.layers <= spec.num_layers:
            raise SpecError("--layers", f"must be between 1 and {spec.num_layers} for {spec.name}")
        unbuilt = sorted({spec.layer_type(i) for i in range(spec.num_layers)} & {"linear", "ffn"})
        if unbuilt:
            # every layer run got a KV cache and an attention kernel: a Mamba-2, Gated DeltaNet or KDA layer (and
            # Nemotron-H's FFN-only layers) measured as attention, beside a prediction that counts none there
            raise SpecError("layer_types", f"{spec.name} has {' and '.join(unbuilt)} layers; profile builds and "
                                           "runs attention layers only (the calculator: kv, roofline)")
        mla = predict.mla_kernel(spec.attention)
        if self.phase == "decode":
            if self.q_tokens > self.context:  # the step's queries are the cache's last tokens
                raise SpecError("--q-tokens", f"{self.q_tokens} query tokens need a context of at least as many "
                                              f"tokens, got {self.context}")
            if mla and self.kernel == "sdpa":
                raise SpecError("--kernel", "MLA decode runs absorbed: auto, triton, flashmla or eager (sdpa is for "
                                            "MHA/GQA)")
            if not mla and self.kernel in ("eager", "flashmla"):
                raise SpecError("--kernel", "MHA/GQA decode runs through auto, triton or sdpa")
            if self.kv_dtype == "fp8" and not (mla and self.kernel in ("triton", "gluon", "auto")):
                raise SpecError("--kv-dtype", "an fp8 cache is supported by the project's MLA kernels only (auto, "
                                              "triton, gluon)")
            if self.kernel == "flashmla" and (self.kv_dtype != "bf16" or (self.block_size or 64) != 64):
                raise SpecError("--kernel", "FlashMLA's dense decode takes a bf16 cache in blocks of 64 tokens")
            if predict.sparse_topk(spec) is not None:  # DSA: mla_decode(indices=...) over the selected rows
                if self.kernel not in ("auto", "triton", "gluon"):
                    raise SpecError("--kernel", f"{spec.name} attends its indexer's top-{spec.attention.index_topk}"
                                                " keys: sparse decode runs through auto, triton or gluon")
                if self.kv_dtype == "fp8":
                    raise SpecError("--kv-dtype", "sparse (DSA) decode takes an 8-bit cache as the 656-byte fp8-ds "
                                                  "rows (per-row scales): --kv-dtype fp8-ds")
                if self.kv_dtype == FP8_DS and spec.attention.kv_lora_rank % 128:
                    raise SpecError("--kv-dtype", f"fp8-ds packs the latent in groups of 128 values; {spec.name}'s "
                                                  f"kv_lora_rank is {spec.attention.kv_lora_rank}")
            elif self.kv_dtype == FP8_DS:
                raise SpecError("--kv-dtype", f"fp8-ds is the sparse (DSA) kernels' layout; {spec.name} has no "
                                              f"indexer (use fp8)")
            elif self.kernel == "gluon":  # kernels/gluon_mla_decode.gluon_supported, less what needs a GPU to see
                rows = self.q_tokens * predict.heads_per_rank(spec, self.tp).q
                if not mla or rows < 64 or (self.paged and (self.block_size or 64) % 32):
                    raise SpecError("--kernel", f"gluon runs MLA decode with at least 64 query rows per sequence "
                                                f"(this point: {rows}) over paged blocks a multiple of 32 tokens "
                                                f"(this point: {self.block_size or 64}); use auto or triton")
        elif self.kernel in ("auto", "triton", "gluon", "flashmla"):
            if self.phase == "prefill":
                raise SpecError("--kernel", "prefill runs through sdpa")
        if self.phase == "train" and self.recompute == "mla-latent" and not mla:
            raise SpecError("--recompute", "mla-latent applies to MLA models only")
        if self.kv_dtype not in KV_DTYPES:
            raise SpecError("--kv-dtype", f"must be one of {', '.join(KV_DTYPES)}, got {self.kv_dtype!r}")
        if self.kv_dtype == FP8_DS and self.phase != "decode":
            raise SpecError("--kv-dtype", "fp8-ds is a decode cache layout; prefill and training run in bf16")
        predict.heads_per_rank(spec, self.tp)


# -------------------------------------------------------------------------------------------------------------
# Inference points
# -------------------------------------------------------------------------------------------------------------

@dataclass
class InferencePlan:
    """Everything predicted for an inference point before any GPU work."""

    layers_run: int
    kv_bytes: int
    kv_bytes_full_model: int
    workspace: dict
    num_splits: int
    attn: predict.OpCost
    peak_bytes: int = field(init=False)

    def __post_init__(self):
        self.peak_bytes = self.kv_bytes + sum(self.workspace.values())


def plan_inference(cfg: PointConfig, spec: ModelSpec, hw: Hardware, sms: int = 132,
                   num_splits: int | None = None, sm90: bool = False) -> InferencePlan:
    """Everything predicted for an inference point; ``num_splits`` given: the Triton kernels' split count as
    recorded (re-predicting on a machine without Triton), else the kernels' own heuristic (``sm90``: the GPU is a
    Hopper, where auto runs the Gluon sparse kernel)."""
    L = cfg.layers or spec.num_layers
    fmt, bits = predict.kv_format_of(cfg.kv_dtype), predict.kv_dtype_bits(spec, cfg.kv_dtype)
    block = (cfg.block_size or _default_block(spec)) if cfg.paged else None
    kv = predict.kv_bytes(spec, cfg.batch, cfg.context, tp=cfg.tp, kv_bits=bits, block_size=block, layers=L,
                          kv_format=fmt)
    kv_full = predict.kv_bytes(spec, cfg.batch, cfg.context, tp=cfg.tp, kv_bits=bits, block_size=block,
                               kv_format=fmt)
    if cfg.phase == "decode":
        # each layer's call attends its held tokens (a sliding window's, not the whole context): the workspace is
        # the largest call's, so the most splits over the layers' held lengths
        held = sorted(set(held_tokens(cfg, spec)))
        splits = num_splits if num_splits is not None else max(predict.kernel_num_splits(
            spec, cfg.kernel, cfg.batch, c, q_tokens=cfg.q_tokens, tp=cfg.tp, sms=sms,
            kv_element_size=max(1, int(bits) // 8), paged=cfg.paged, sm90=sm90, kv_format=fmt,
            arch=getattr(hw, "arch", ""), block_size=block) for c in held)
        # the CUDA fp8 kernel writes its partials at one split too
        own = predict.cuda_fp8_splits(spec, cfg.kernel, cfg.batch, held[-1], q_tokens=cfg.q_tokens, tp=cfg.tp,
                                      sms=sms, kv_element_size=max(1, int(bits) // 8), sm90=sm90) is not None
        ws = predict.decode_workspace(spec, cfg.kernel, cfg.batch, held[-1], q_tokens=cfg.q_tokens, tp=cfg.tp,
                                      num_splits=splits, paged_block=block, sms=sms, partials_always=own)
    else:
        splits = 1
        ws = predict.prefill_workspace(spec, cfg.batch, cfg.context, tp=cfg.tp)
    attn = predict.attn_core(kernel_view(cfg, spec), hw, cfg.phase, cfg.batch, cfg.context, q_tokens=cfg.q_tokens,
                             tp=cfg.tp,
                             kv_bits=bits if cfg.phase == "decode" else 16, layers=L,
                             launches_per_layer=predict.kernel_launches(cfg.kernel, cfg.phase, splits),
                             kernel=cfg.kernel, paged=cfg.paged and cfg.phase == "decode")
    return InferencePlan(layers_run=L, kv_bytes=kv, kv_bytes_full_model=kv_full, workspace=ws, num_splits=splits,
                         attn=attn)


def kernel_view(cfg: PointConfig, spec: ModelSpec) -> ModelSpec:
    """The model as the profiled kernel computes it: prefill runs SDPA, which has no sliding window or chunk, so its
    time is predicted over the whole causal prompt (the cache it is given still holds what the calculator counts:
    :func:`held_tokens`). Decode kernels read exactly the held tokens, so decode keeps the model's windows."""
    windowed = any(spec.layer_type(i) in ("sliding", "chunked") for i in range(spec.num_layers))
    sparse = predict.sparse_topk(spec) is not None
    if cfg.phase != "prefill" or not (windowed or sparse):
        return spec
    a = replace(spec.attention, sliding_window=None, global_every=None, chunk_size=None)
    if sparse:  # SDPA attends every key of the prompt, not the indexer's top-k: MLA without the indexer
        a = replace(a, kind="mla", **{f: None for f in INDEX_FIELDS})
    return replace(spec, attention=a, layer_types=None)


def _default_block(spec: ModelSpec) -> int:
    return 64 if predict.mla_kernel(spec.attention) else 16


def _random_(t):
    """Fill ``t`` in place with random values, never zeros, and no device temporaries: the cache is built inside
    the measured peak, so anything drawn beside it would count as if decode held it. Wide dtypes: N(0, 1)
    (``normal_`` draws in place). fp8 e4m3: random bytes pinned to exponent fields 4..7 (two in-place bit ops),
    i.e. +-[0.125, 1.875], never NaN. Drawing N(0, 1) in bf16 chunks of 4M values and casting them left 8 MiB of
    bf16 plus 4 MiB of their fp8 copy alive on top of the whole cache: +12 MiB in every fp8 point's measured peak
    (seen on the H200 as the Triton kernel's fp8 points missing by 7 to 10 MB; Gluon's points hid it under split
    partials larger than 12 MiB)."""
    import torch

    if t.dtype != torch.float8_e4m3fn:
        return t.normal_()
    bits = t.view(torch.uint8)  # e4m3: sign, 4 exponent bits (bias 7), 3 mantissa bits
    bits.random_(0, 256).bitwise_and_(FP8_EXP_CLEAR).bitwise_or_(FP8_EXP_SET)
    return t


def _block_table(rows: int, shuffled: bool, torch, device: str, seed: int = 0):
    """int32 [rows] block ids, shuffled (drawn on the host from a seeded generator) or in order: the table is the
    only device tensor made (a device randperm's int64 result, kept while cast to int32, was 8 bytes a block inside
    the measured peak)."""
    if not shuffled:
        return torch.arange(rows, dtype=torch.int32, device=device)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(rows, generator=g, dtype=torch.int32).to(device)


def _fp8_ds_cache(rows: tuple[int, int], a, torch, device: str = "cuda"):
    """uint8 [*rows, 656] cache of fp8-ds rows (kernels.cache.pack_fp8_ds: 512 e4m3 latent values, 4 fp32 scales,
    64 bf16 RoPE values): FP8_DS_TEMPLATE_ROWS packed random rows repeated over the cache, so building it leaves at
    most one template's temporaries (kilobytes) in the measured peak."""
    from mlacalc.kernels.cache import pack_fp8_ds

    n = FP8_DS_TEMPLATE_ROWS
    template = pack_fp8_ds(torch.randn(n, a.kv_lora_rank, device=device, dtype=torch.bfloat16),
                           torch.randn(n, a.qk_rope_head_dim, device=device, dtype=torch.bfloat16))
    cache = torch.empty(*rows, template.shape[-1], dtype=torch.uint8, device=device)
    flat = cache.view(-1, template.shape[-1])
    whole = flat.shape[0] // n * n
    flat[:whole].view(-1, n, template.shape[-1]).copy_(template.expand(whole // n, n, template.shape[-1]))
    flat[whole:].copy_(template[:flat.shape[0] - whole])
    return cache


def held_tokens(cfg: PointConfig, spec: ModelSpec) -> list[int]:
    """Tokens each layer run keeps: the calculator's rule (mlacalc.attention.keys), so the profiler allocates what
    the calculator counts. A sliding-window layer keeps its window, as vLLM (v1's sliding-window KV manager frees
    the blocks that slide out), SGLang, TensorRT-LLM (cyclic KV cache) and HF transformers' sliding-window cache
    do; an engine without window support would keep every token, which the calculator does not model."""
    from mlacalc.attention import key_rule

    return [key_rule(spec, i).held(cfg.context) for i in range(cfg.layers or spec.num_layers)]


def _alloc_kv(cfg: PointConfig, spec: ModelSpec, torch, device: str = "cuda") -> tuple[list, list]:
    """KV tensors of each layer run ([cache] for MLA, DSA adding the indexer's keys; [k, v] otherwise), each holding
    the layer's held tokens (:func:`held_tokens`), and each layer's block table (None when contiguous)."""
    from mlacalc.attention import key_rule

    a = spec.attention
    h = predict.heads_per_rank(spec, cfg.tp)
    B = cfg.batch
    dt = torch.float8_e4m3fn if cfg.kv_dtype == "fp8" else torch.bfloat16
    paged = cfg.paged or cfg.kernel == "flashmla"    # FlashMLA reads only a paged cache of 64-token blocks
    tables: dict[tuple[int, int], object] = {}
    layers, layer_tables = [], []
    bs = (cfg.block_size or _default_block(spec)) if paged else None
    for i, C in enumerate(held_tokens(cfg, spec)):
        if paged:
            # the calculator's paged count (held_paged): a sliding window keeps up to one block more than ceil(C / bs),
            # its first block partly expired (vLLM's SlidingWindowManager); the kernel reads the first C tokens
            nblk = key_rule(spec, i).held_paged(cfg.context, bs) // bs
            if (C, nblk) not in tables:
                tables[C, nblk] = _block_table(B * nblk, cfg.paged, torch, device, seed=len(tables)).view(B, nblk)
            rows = (B * nblk, bs)
        else:
            nblk = 0
            tables.setdefault((C, nblk), None)
            rows = (B, C)
        layer_tables.append(tables[C, nblk])
        if predict.mla_kernel(a):
            if cfg.kv_dtype == FP8_DS:
                cache = _fp8_ds_cache(rows, a, torch, device)
            else:
                cache = _random_(torch.empty(*rows, a.kv_lora_rank + a.qk_rope_head_dim, dtype=dt, device=device))
            layers.append([cache])
            if predict.sparse_topk(spec) is not None:  # DSA: the indexer's fp8 keys and scales, held beside
                # (counted by the calculator; the attention core does not read them)
                ix = torch.empty(*rows, index_cache_bytes(a), dtype=torch.uint8, device=device)
                layers[-1].append(ix.random_(0, 256))
        else:
            k = _random_(torch.empty(*rows, h.kv, a.qk_head_dim, dtype=dt, device=device))
            v = _random_(torch.empty(*rows, h.kv, a.v_head_dim, dtype=dt, device=device))
            layers.append([k, v])
    return layers, layer_tables


def _decode_step(cfg: PointConfig, spec: ModelSpec, kv_layers, tables, torch, device: str = "cuda"):
    """One decode step (every layer run, each over the tokens it holds): (step, what it keeps alive, checks), the
    checks one (held length, call, reference) for the first layer of each distinct length (:mod:`.output_check`).
    `device` is "cuda" when profiling; the tests run eager kernels on the CPU."""
    from mlacalc.kernels import decode as dk
    from mlacalc.kernels import testing as kt

    from .output_check import checked_sequence

    a = spec.attention
    h = predict.heads_per_rank(spec, cfg.tp)
    B, q = cfg.batch, cfg.q_tokens
    last = checked_sequence(B)
    held = held_tokens(cfg, spec)
    # Triton/FlashMLA: the lengths an engine keeps on the device (no fill kernel per call); eager/SDPA: None, so
    # they take their unmasked (fastest) path -- every sequence fills its cache.
    lens = {C: torch.full((B,), C, dtype=torch.int32, device=device) for C in set(held)}
    with_lens = cfg.kernel in ("triton", "auto", "gluon", "flashmla")
    calls = [(kv, lens[C] if with_lens else None, t, C) for kv, t, C in zip(kv_layers, tables, held)]
    if predict.mla_kernel(a):
        dq = a.kv_lora_rank + a.qk_rope_head_dim
        query = torch.randn(B, q, h.q, dq, dtype=torch.bfloat16, device=device)
        scale = a.qk_head_dim ** -0.5
        kv_scale = 0.05 if cfg.kv_dtype == "fp8" else None  # a float: no host sync, so the step graphs
        impl = cfg.kernel
        if impl == "flashmla":
            return _flashmla_step(cfg, a, calls, query, scale, torch)
        topk = predict.sparse_topk(spec)
        if topk is not None:  # DSA: each query attends the rows its indexer selected (drawn at random here)
            # a contiguous cache [B, C, D] has no table: sparse decode then reads indices as rows of the flattened
            # pool (FlashMLA's convention), so the positions become rows (b x C + position) and no lengths mask
            # them; positions read through a table otherwise (until the thirty-second session every sequence here
            # read sequence 0's rows: an L2-resident 24 MB, timed at 3.5 TB/s on an H100)
            paged = any(t is not None for _, _, t, _ in calls)
            picks = {C: dsa_indices(B, q, C, topk, torch).to(device) for C in set(held)}
            if not paged:
                picks = {C: dsa_pool_rows(p, C, torch) for C, p in picks.items()}
                calls = [(kv, None, t, C) for kv, _, t, C in calls]

            def layer(kv, seqlens, table, C):
                return lambda: dk.mla_decode(query, kv[0], seqlens, table, indices=picks[C], softmax_scale=scale,
                                             kv_lora_rank=a.kv_lora_rank, impl=impl, check=False)  # the kernel
                # alone: no value checks (sparse decode's default, a host sync) in the eager runs the peak is read over

            def reference(kv, seqlens, table, C):
                return lambda: kt.sparse_sequence_reference(query, kv[0], table, picks[C], last, C,
                                                            kv_lora_rank=a.kv_lora_rank, scale=scale)
            keep = (query, lens, picks)
        else:
            def layer(kv, seqlens, table, C):
                # max_seqlen for eager too: a paged cache's last block holds rows past C
                return lambda: dk.mla_decode(query, kv[0], seqlens, table, softmax_scale=scale,
                                             kv_lora_rank=a.kv_lora_rank, kv_scale=kv_scale, impl=impl, max_seqlen=C)

            def reference(kv, seqlens, table, C):
                return lambda: kt.mla_sequence_reference(query, kv[0], table, last, C,
                                                         kv_lora_rank=a.kv_lora_rank, scale=scale, kv_scale=kv_scale)
            keep = (query, lens)
    else:
        query = torch.randn(B, q, h.q, a.qk_head_dim, dtype=torch.bfloat16, device=device)
        scale = a.qk_head_dim ** -0.5
        impl = "triton" if cfg.kernel == "auto" else cfg.kernel     # GQA: auto is the Triton kernel

        def layer(kv, seqlens, table, C):
            # max_seqlen for SDPA too: a paged cache's last block holds rows past C
            return lambda: dk.gqa_decode(query, kv[0], kv[1], seqlens, table, softmax_scale=scale, impl=impl,
                                         max_seqlen=C)

        def reference(kv, seqlens, table, C):
            return lambda: kt.gqa_sequence_reference(query, kv[0], kv[1], table, last, C, scale=scale)
        keep = (query, lens)
    return _layered_step([layer(*c) for c in calls], calls, [reference(*c) for c in calls], keep)


def _layered_step(layer_calls: list, calls: list, references: list, keep):
    """(step running every layer's call in turn, keep, checks): a check for the first layer of each held length."""
    def step():
        for run in layer_calls:
            run()
    firsts = {}
    for i, (*_, C) in enumerate(calls):
        firsts.setdefault(C, i)
    checks = [(C, layer_calls[i], references[i]) for C, i in firsts.items()]
    return step, keep, checks


def dsa_indices(batch: int, q_tokens: int, held: int, topk: int, torch, seed: int = 0):
    """What a DSA indexer hands the sparse kernel: int32 [batch, q_tokens, topk], for each query token distinct
    token positions among the keys it sees (query i of the step, the cache's last q_tokens, sees
    held - q_tokens + i + 1), -1 in the slots past them. Drawn on the host (a seeded generator: no device
    temporaries inside the measured peak); random, as the positions a real indexer picks are data-dependent."""
    g = torch.Generator().manual_seed(seed)
    out = torch.full((batch, q_tokens, topk), -1, dtype=torch.int32)
    for i in range(q_tokens):
        visible = held - q_tokens + i + 1
        k = min(topk, visible)
        rows = max(1, (1 << 24) // visible)  # sequences a draw: at most 64 MB of host scores (1M-token contexts)
        for b in range(0, batch, rows):
            n = min(rows, batch - b)
            out[b:b + n, i, :k] = torch.rand(n, visible, generator=g).topk(k, dim=1).indices.to(torch.int32)
    return out


def dsa_pool_rows(positions, held: int, torch):
    """Per-sequence token positions [B, q, topk] (-1 unused) as rows of a contiguous cache [B, held, D] read as a
    pool of B blocks of `held` rows (sparse decode without a block table): b x held + position, -1 kept. int32 as
    the kernels take them (a cache of 2^31 rows would not fit a GPU)."""
    b = torch.arange(positions.shape[0], dtype=positions.dtype, device=positions.device).view(-1, 1, 1) * held
    return torch.where(positions >= 0, positions + b, positions)


def _flashmla_step(cfg: PointConfig, a, calls, query, scale, torch):
    """One decode step through FlashMLA's dense decode (an optional import: ``flash_mla``, built from
    ../shared/peers with build_flashmla.py; never copied into the project). Its scheduler metadata is built once
    per distinct layer length and reused across calls, as engines do."""
    try:
        import flash_mla
    except ImportError:
        raise SpecError("--kernel", "flashmla is not importable here (build it with build_flashmla.py)") from None
    from mlacalc.kernels import testing as kt

    from .output_check import checked_sequence

    metas = {}

    def layer(c, seqlens, table, C):
        meta = metas.setdefault(C, flash_mla.get_mla_metadata()[0])   # filled on its first call, then reused
        paged = c.view(c.shape[0], c.shape[1], 1, c.shape[2])
        return lambda: flash_mla.flash_mla_with_kvcache(query, paged, table, seqlens, a.kv_lora_rank, meta, None,
                                                        softmax_scale=scale, causal=query.shape[1] > 1)

    def reference(c, table, C):
        return lambda: kt.mla_sequence_reference(query, c, table, checked_sequence(cfg.batch), C,
                                                 kv_lora_rank=a.kv_lora_rank, scale=scale)
    layer_calls = [layer(c, seqlens, table, C) for (c,), seqlens, table, C in calls]
    references = [reference(c, table, C) for (c,), _, table, C in calls]
    return _layered_step(layer_calls, calls, references, (query, metas))


def _prefill_step(cfg: PointConfig, spec: ModelSpec, kv_layers, torch):
    """A closure running causal prefill attention for every layer run (inputs shared across layers)."""
    from mlacalc.kernels import prefill as pk

    a = spec.attention
    h = predict.heads_per_rank(spec, cfg.tp)
    B, S = cfg.batch, cfg.context
    hkv = h.q if predict.mla_kernel(a) else h.kv
    q = torch.randn(B, S, h.q, a.qk_head_dim, dtype=torch.bfloat16, device="cuda")
    k = torch.randn(B, S, hkv, a.qk_head_dim, dtype=torch.bfloat16, device="cuda")
    v = torch.randn(B, S, hkv, a.v_head_dim, dtype=torch.bfloat16, device="cuda")
    scale = a.qk_head_dim ** -0.5
    n = len(kv_layers)

    def step():
        for _ in range(n):
            if predict.mla_kernel(a):
                pk.mla_prefill_sdpa(q, k, v, softmax_scale=scale)
            else:
                pk.gqa_prefill_sdpa(q, k, v, softmax_scale=scale)
    return step, (q, k, v)


def _nvml_peak_delta(sampler, start_used):
    if sampler.result is None or start_used is None or sampler.result.peak is None:
        return None
    return sampler.result.peak - start_used


def measure_inference(cfg: PointConfig, spec: ModelSpec, plan: InferencePlan, *, flusher=None,
                      nvml=None) -> dict:
    """The GPU part of an inference point. Returns measured figures (raises on OOM; see :func:`guarded`)."""
    import torch

    from .memory import AllocatorWatch, NVMLSampler
    from .timing import cuda_graph, kernel_breakdown, time_cuda

    # Start from an empty cache: a free block left by an earlier point is reused whole when what remains of it
    # would be <= 1 MiB (the caching allocator does not split it), and memory_allocated then counts the remainder
    # as if the KV cache held it (seen on the H200: +1 MiB and +1.6 MiB at 1k-token caches after larger points).
    torch.cuda.empty_cache()
    start_used = nvml.memory()[0] if nvml is not None else None
    out: dict = {}
    with NVMLSampler(nvml) as sampler, AllocatorWatch() as whole:
        with AllocatorWatch() as kvw:
            kv_layers, tables = _alloc_kv(cfg, spec, torch)
        distinct = {id(t): t for t in tables if t is not None}
        table_bytes = sum(_round512(t.numel() * 4) for t in distinct.values())
        table_req = sum(t.numel() * 4 for t in distinct.values())
        # requested bytes where the allocator keeps them (memory._requested: no block the cache reused whole)
        exact = kvw.figures.requested is not None
        out["kv_bytes"] = (kvw.figures.requested - table_req) if exact else kvw.figures.allocated - table_bytes
        out["kv_allocated_bytes"] = kvw.figures.allocated - table_bytes
        # what building the cache held beyond the cache itself (it is inside the measured peak): 0 where the inputs
        # are drawn in place; a few KB for fp8-ds (its template)
        out["kv_build_transient_bytes"] = (kvw.figures.requested_peak - kvw.figures.requested if exact
                                           else kvw.figures.peak - kvw.figures.allocated)
        if cfg.phase == "decode":
            step, keep, checks = _decode_step(cfg, spec, kv_layers, tables, torch)
        else:
            step, keep = _prefill_step(cfg, spec, kv_layers, torch)
            checks = []
        step()  # compiles Triton kernels; the peak is taken over this and the next run
        step()
        torch.cuda.synchronize()
    out["peak_bytes"] = (whole.figures.requested_peak - table_req if whole.figures.requested_peak is not None
                         else whole.figures.peak - table_bytes)
    out["peak_allocated_bytes"] = whole.figures.peak - table_bytes
    out["memory_counted"] = "requested bytes" if exact else "allocated bytes"
    out["reserved_bytes"] = whole.figures.peak_reserved
    out["nvml_peak_delta_bytes"] = _nvml_peak_delta(sampler, start_used)
    graph = cuda_graph(step) if cfg.cuda_graph else None
    run = graph.replay if graph is not None else step
    t = time_cuda(run, warmup=cfg.warmup, reps=cfg.reps, flusher=flusher, max_seconds=2.0)
    out["cuda_graph"] = graph is not None
    out["latency"] = t.as_dict()
    if checks:      # after timing, outside the measured peak: the output of what was timed, one sequence
        from .output_check import check_outputs, checked_sequence

        graph = None            # the captured graph's memory goes back before the reference takes its own
        out["output_check"] = check_outputs(checks, checked_sequence(cfg.batch))
    if cfg.breakdown or cfg.trace:
        try:
            out["kernels"] = kernel_breakdown(step, reps=2, trace_path=cfg.trace)
        except Exception as e:  # the profiler is a nice-to-have; never lose the point over it
            out["kernels_error"] = str(e).splitlines()[0][:200]
    del graph, kv_layers, tables, distinct, keep, step, checks
    return out


def _round512(n: int) -> int:
    return predict._round512(n)


def profile_point(cfg: PointConfig, hw: Hardware, *, flusher=None, nvml=None, spec: ModelSpec | None = None) -> dict:
    """Predict, measure and compare one point. Returns a JSON-ready dict (``status`` ok or does not fit)."""
    spec = spec or load_spec(cfg.model)
    cfg.validate(spec)
    if cfg.phase == "train":
        from .train import profile_train

        return profile_train(cfg, spec, hw, nvml=nvml)
    import torch

    sms = torch.cuda.get_device_properties(0).multi_processor_count
    plan = plan_inference(cfg, spec, hw, sms, sm90=torch.cuda.get_device_capability(0)[0] == 9)
    free, _ = torch.cuda.mem_get_info()
    res = guarded(cfg, lambda: measure_inference(cfg, spec, plan, flusher=flusher, nvml=nvml),
                  plan.peak_bytes, free)
    return assemble_inference(cfg, spec, plan, res)


def assemble_inference(cfg: PointConfig, spec: ModelSpec, plan: InferencePlan, res: dict) -> dict:
    """Predicted beside measured for an inference point (pure Python: testable with canned measurements)."""
    L, Lfull = plan.layers_run, spec.num_layers
    point = {"key": cfg.key(), "config": asdict(cfg), "model": spec.name, "attention": spec.attention.kind,
             "layers_run": L, "layers_total": Lfull, "scaled": L != Lfull,
             "scale_note": (f"ran {L} of {Lfull} layers; *_full_model figures scale the per-layer ones by "
                            f"{Lfull}/{L}") if L != Lfull else "",
             "window_note": ("prefill through SDPA, which has no window or top-k selection: its time is "
                             "predicted over the whole causal prompt; the cache holds what each layer keeps")
             if kernel_view(cfg, spec) is not spec else "",
             "predicted": {"kv_bytes": plan.kv_bytes, "kv_bytes_full_model": plan.kv_bytes_full_model,
                           "workspace": plan.workspace, "peak_bytes": plan.peak_bytes,
                           "num_splits": plan.num_splits, "attn_core": plan.attn.as_dict()},
             **res}
    if res["status"] != "ok":
        point["comparisons"] = []
        return point
    t = res["latency"]["median"]
    achieved = {"bandwidth_gb_s": plan.attn.bytes / t / 1e9, "tflops": plan.attn.flops / t / 1e12}
    point["achieved"] = achieved
    # the roofline target is the dense Triton decode kernel's; DSA's sparse decode is shown beside its floor, not judged
    # there (issue 14 sets its own: 1.3x), and is judged, as every decode kernel, against the expected time below
    dense_triton = cfg.kernel == "triton" and cfg.phase == "decode" and spec.attention.kind != "dsa"
    judged_latency = TOL_LATENCY if dense_triton else None
    judged_expected = None
    if not cfg.calibration:
        if cfg.phase == "decode" and cfg.kernel in ("auto", "triton", "flashmla"):
            judged_expected = TOL_LATENCY
        elif cfg.phase == "prefill":
            judged_expected = TOL_PREFILL
    comps = [
        Comparison("kv_bytes", "B", plan.kv_bytes, res["kv_bytes"], TOL_KV),
        Comparison("peak_bytes", "B", plan.peak_bytes, res["peak_bytes"], TOL_PEAK_INFER),
        Comparison("latency_s", "s", plan.attn.time_s, t, judged_latency),
        Comparison("latency_expected_s", "s", plan.attn.expected_s, t, judged_expected),
    ]
    point["comparisons"] = [c.as_dict() for c in comps]
    if L != Lfull:
        f = Lfull / L
        point["measured_full_model"] = {"kv_bytes": res["kv_bytes"] * f, "latency_s": t * f}
    return point


def replace_cfg(cfg: PointConfig, **kw) -> PointConfig:
    return replace(cfg, **kw)


def summary_line(point: dict) -> str:
    """One line per point for the console."""
    if point["status"] != "ok":
        fit = point["fit"]
        return (f"{point['key']:<58} {point['status']} (calculator predicted "
                f"{'fits' if fit['predicted_fits'] else 'does not fit'})")
    parts = []
    for c in point["comparisons"]:
        e = c["error_pct"]
        mark = "" if c["ok"] is None else (" ok" if c["ok"] else " MISS")
        parts.append(f"{c['name']} {e:+.2f}%{mark}" if e is not None else f"{c['name']} n/a")
    check = point.get("output_check")
    if check:
        parts.append(output_check_words(check))
    return f"{point['key']:<58} " + "  ".join(parts)


__all__ = ["PointConfig", "profile_point", "assemble_inference", "plan_inference",
           "summary_line", "error_pct", "PHASES", "KERNELS", "RECOMPUTE_MODES"]
