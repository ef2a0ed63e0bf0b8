"""KV-cache size: per token per layer, per token, per sequence, per batch, per GPU.

What a token adds to a layer's cache comes from its attention family (:mod:`mlacalc.attention`): K and V per
KV head for MHA/GQA/MQA (no V when KV-shared), MLA's latent ``c_KV`` plus decoupled RoPE key ``k_R`` (DeepSeek-V2,
arXiv 2405.04434, Table 1: ``(d_c + d_h^R) l`` elements per token), or, with ``cache="naive"``, MLA decompressed
into per-head K and V as an implementation that decompresses before caching holds.

What one sequence holds in a layer is its family's :meth:`~mlacalc.attention.base.AttentionFamily.sequence_bytes`:
the bytes a token adds times the tokens the layer holds, or, for DeepSeek-V4's compressed attention
(:mod:`mlacalc.attention.compressed`), the window's raw rows and the compressed entries (one per ``m`` tokens, and an
indexer key each on csa layers), whose per-token figure is what a token adds beyond the window.

How many tokens a layer holds comes from :func:`mlacalc.attention.keys.tokens_held`: every token on global
layers, at most the window on sliding-window layers, none on a layer that reads the K/V of another (cross-layer
attention, ``attention.kv_share_layers``: ``ceil(L / N)`` of ``L`` layers cache; trailing sharing,
``attention.kv_shared_tail`` N: the first ``L - N`` cache, each with its own window); paged allocation rounds each
sequence's tokens in each layer up to whole blocks of ``block_size`` tokens (vLLM's PagedAttention, arXiv 2309.06180).

Per GPU (:class:`mlacalc.parallel.Parallelism`): a TP rank holds its KV heads' share of every sequence it
serves (all of an MLA latent, which belongs to no head; all of MSA's indexer keys, one replicated head:
:meth:`~mlacalc.attention.base.AttentionFamily.cache_bytes_per_rank`); under data-parallel attention each rank holds
whole sequences, ``ceil(batch / tp)`` of them; a pipeline stage holds its layers (the fullest stage is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

from .attention import blocks, check_kv_layout, family, key_rule, layer_blocks, layer_groups
from .attention.keys import NO_KV_LAYERS, layer_rules
from .attention.quant import FP8_DS, kv_dtype_layout
from .costs import KVCache
from .errors import ArgError, show
from .parallel import Parallelism
from .spec import Attention, ModelSpec
from .units import MAX_COUNT, dtype_bits

CACHE_MODES = ("compressed", "naive")


def kv_elements_per_token_layer(attn: Attention, cache: str = "compressed") -> KVCache:
    """Elements one token adds to one layer's cache (the family's :meth:`cache_parts`)."""
    if cache not in CACHE_MODES:
        raise ArgError("cache", f"must be one of {', '.join(CACHE_MODES)}, got {cache!r}")
    return family(attn).cache_parts(attn, cache)


def kv_storage(spec: ModelSpec, kv_bits: float | None = None, kv_format: str | None = None
               ) -> tuple[float, str | None]:
    """(bits per stored value, cache layout or None) a KV cache is held in: the caller's choice (``--kv-dtype`` gives
    both, ``--kv-bits`` flat bits alone), else the spec's ``dtypes.kv``, whose name selects its layout as
    ``--kv-dtype``'s does (:func:`kv_dtype_layout`): ``dtypes.kv: int4`` is LMDeploy's scaled int4, 1088 B a
    token-layer on Llama-3.1-8B, not flat 4 bits (1024 B). A layout given without bits stores its values' bits.
    On DSA an 8-bit cache without a layout (``fp8``, ``--kv-bits 8``) is FlashMLA's fp8-ds rows, the only 8-bit rows
    its sparse kernels read: vLLM turns any fp8 cache dtype into ``fp8_ds_mla`` on DeepSeek-V3.2
    (``DeepseekV32ForCausalLM.verify_and_update_config``), as the config.json reader already does (:mod:`mlacalc.hf`);
    a flat 576-byte row (708 B a token-layer with the indexer's key, against fp8-ds's 788) is kept by no engine."""
    if kv_bits is None and kv_format is None:
        bits, fmt = spec.dtypes.kv_bits, spec.dtypes.kv_format
    elif kv_bits is None:
        bits, fmt = kv_dtype_layout(kv_format)[0], kv_format
    else:
        bits, fmt = dtype_bits(kv_bits, "kv_bits"), kv_format
    if fmt is None and bits == 8 and spec.attention is not None and spec.attention.kind == "dsa":
        fmt = FP8_DS
    return bits, fmt


def kv_element_bits(spec: ModelSpec, kv_bits: float | None = None, kv_format: str | None = None) -> float:
    """Average bits a cache element is read at, scales included, for costs that count elements (the roofline):
    :func:`format_bits` of the layout :func:`kv_storage` picks, or its flat bits."""
    bits, fmt = kv_storage(spec, kv_bits, kv_format)
    return format_bits(spec, fmt) or bits


def format_bits(spec: ModelSpec, kv_format: str | None) -> float | None:
    """Average bits per cache element of a layout, scales included (fp8-ds: 656 B for 576 MLA values, 9.11 bits;
    int4 on Llama-3.1-8B: 1088 B for 2048 values, 4.25 bits), for costs that count elements (the roofline); None
    without a layout. From ``spec.attention``'s shape (a differently shaped sliding block is priced alike)."""
    if kv_format is None or spec.attention is None:
        return None
    a = spec.attention
    fam = family(a)
    packed = fam.cache_bytes(a, "compressed", 8, kv_format)
    return (packed.total - packed.indexer) * 8 / fam.cache_parts(a).total


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
    parallel: Parallelism
    per_token_layer: KVCache     # bytes one token adds to one (attention, not linear) layer, spec.attention's (with
    #                              attention.layer_heads the layer of the most K/V heads); none without attention
    per_token: KVCache           # bytes one token adds over all layers that cache K/V (as if each kept every token;
    #                              compressed attention: what it adds beyond the window)
    per_sequence: KVCache        # one sequence of `context` tokens (windows and blocks applied)
    total: KVCache               # `batch` sequences, before sharding
    per_gpu_fraction: float      # share of `total` one GPU holds (can exceed 1/#GPUs through replication)
    batch_per_gpu: int
    per_gpu_parts: KVCache | None = None     # what the fullest GPU holds, by part
    kv_format: str | None = None             # a cache layout (fp8-ds, int4, int8, fp4), or None
    state_bits: float = 16                   # linear-attention state dtype (the convolution's)
    ssm_state_bits: float = 16               # the recurrent (SSM) state's dtype
    kv_share_layers: int = 1                 # cross-layer attention: one layer in this many caches K/V
    kv_layers: int = 0                       # layers that cache their own K/V (spec.num_kv_layers)
    num_layers: int = 0                      # all layers
    kv_shared_tail: int = 0                  # trailing sharing: the last this many layers read earlier layers' K/V
    kv_sources: tuple = ()                   # ((layer type, the layer its readers read), ...) under trailing sharing
    heads_vary: bool = False                 # attention.layer_heads: layers cache K/V of their own head counts
    cache_forms: bool = False                # the attention family caches in more than one form (MLA: --cache)
    caveats: tuple = ()                      # the spec's excluded and warnings (ModelSpec.caveats), for --json
    capped: tuple = ()                       # ((window | chunk, tokens, layers), ...) that hold fewer tokens than
    #                                          `context` (capped_layers): why per_token x context > per_sequence

    @property
    def share_groups(self) -> tuple[int, int]:
        """(layers of a full cross-layer group, layers of the last group): the ``L`` layers in ``ceil(L / N)`` groups
        of ``N`` consecutive layers, the last holding what is left; all ``L`` in one group where ``N >= L``. E.g.
        5 layers at N 2: (2, 1); 64 at 2: (2, 2); 64 at 1000: (64, 64)."""
        n, layers = self.kv_share_layers, self.num_layers
        full = min(n, layers)
        return full, layers - (self.kv_layers - 1) * n if self.kv_layers else full

    @property
    def per_gpu(self) -> KVCache:
        if self.per_gpu_parts is not None:
            return self.per_gpu_parts
        return self.total.scaled(self.per_gpu_fraction)

    def to_json(self) -> dict:
        p = self.parallel
        return {
            "model": self.model, "attention": self.kind, "cache": self.cache, "context": self.context,
            "batch": self.batch, "kv_bits": self.kv_bits, "kv_format": self.kv_format,
            "state_bits": self.state_bits, "ssm_state_bits": self.ssm_state_bits, "block_size": self.block_size,
            "tp": p.tp, "pp": p.pp, "dp_attention": p.dp_attention, "parallel": p.as_dict(),
            "kv_bytes_per_token_layer": self.per_token_layer.total,
            "kv_bytes_per_token": self.per_token.total,
            "kv_bytes_per_sequence": self.per_sequence.total,
            "kv_bytes_total": self.total.total,
            "kv_bytes_per_gpu": self.per_gpu.total,
            "batch_per_gpu": self.batch_per_gpu,
            "kv_share_layers": self.kv_share_layers, "kv_layers": self.kv_layers, "num_layers": self.num_layers,
            "kv_shared_tail": self.kv_shared_tail, "kv_sources": dict(self.kv_sources),
            **({"kv_heads_vary_by_layer": True} if self.heads_vary else {}),
            "parts_per_token": self.per_token.as_dict(),
            "parts_per_gpu": self.per_gpu.as_dict(),
            **{k: list(v) for k, v in self.caveats},
        }


def _whole(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ArgError(name, f"must be a whole number of at least {minimum}, got {show(value)}")
    # the counts' ceiling (units.MAX_COUNT): --block-size 2**64 was taken, a 4k-token sequence then holding
    # 509,607,936 PiB; a block, context or batch of 10**400 raised OverflowError in the float arithmetic
    if value > MAX_COUNT:
        raise ArgError(name, f"too large: at most {MAX_COUNT:,}, got {show(value)}")
    return value


def kv_report(spec: ModelSpec, context: int, batch: int = 1, *, kv_bits: float | None = None,
              cache: str = "compressed", block_size: int | None = None,
              parallel: Parallelism = Parallelism(), kv_format: str | None = None,
              state_bits: float | None = None) -> KVReport:
    """KV-cache bytes for ``batch`` sequences of ``context`` tokens, whole and on the fullest GPU.

    Layer by layer: the family's bytes per token (:meth:`cache_bytes`: at ``kv_bits``, indexer keys at their own
    width, or a packed ``kv_format`` such as ``fp8-ds``) times the tokens the layer holds (windows, chunks,
    blocks), plus its constant per-sequence state (linear attention and Mamba-2: the convolution at ``state_bits``,
    the recurrent state at the spec's ``dtypes.ssm_state``; a ``state_bits`` given here sets both). Without
    ``kv_bits`` and ``kv_format`` the cache is the spec's ``dtypes.kv``, its layout included (:func:`kv_storage`).

    Per GPU: a TP rank holds its share of each token's KV (``Parallelism.kv_share``: all of an MLA latent) for
    the sequences it serves (all of them under TP; ``ceil(batch / tp)`` under data-parallel attention); a PP
    stage holds its layers (the fullest stage is reported). ``dp``, ``ep`` and ``sp`` do not change what a GPU holds
    for the sequences it serves. ``cp`` (each sequence split over its ranks, whose cache each holds a part of) is
    refused: it was accepted and changed nothing, so ``--cp 8`` reported every token on every GPU.
    """
    _whole(context, "context")
    _whole(batch, "batch")
    if block_size is not None:
        _whole(block_size, "block_size")
    if cache not in CACHE_MODES:
        raise ArgError("cache", f"must be one of {', '.join(CACHE_MODES)}, got {cache!r}")
    attn = spec.attention            # None: a state-space model, which caches nothing per token (its KV dtype moot)
    parallel.check(spec)
    parallel.require("the KV cache per GPU", ("tp", "pp", "dp", "ep", "sp", "dp_attention"))
    from_spec = kv_bits is None and kv_format is None
    bits, kv_format = kv_storage(spec, kv_bits, kv_format)
    if from_spec:
        # the spec's layout in this cache mode, refused as dtypes.kv (the check at load assumes the compressed
        # cache; fp8-ds in a naive one would have said "--kv-dtype: ...", a flag nobody gave)
        check_kv_layout(blocks(spec), kv_format, cache)
    sbits = spec.dtypes.state_bits if state_bits is None else dtype_bits(state_bits, "state_bits")
    ssm_bits = spec.dtypes.ssm_state_bits if state_bits is None else sbits    # state_bits overrides both states
    batch_per_gpu = parallel.sequences_per_rank(batch)
    if parallel.pp == 1:          # by layer group: O(groups), which sweeps and searches call thousands of times
        per_seq, per_gpu_seq = KVCache(), KVCache()
        for count, block, rules in layer_groups(spec):
            fam = family(block)
            held = KVCache()
            for n, rule in rules:     # the family prices what the rule holds (a window, compressed entries, tokens)
                held = held.plus(fam.sequence_bytes(block, cache, bits, kv_format, rule, context,
                                                    block_size).scaled(n))
            per_seq = per_seq.plus(held).plus(fam.state_bytes(block, sbits, ssm_bits).scaled(count))
            per_gpu_seq = per_gpu_seq.plus(fam.cache_bytes_per_rank(block, held, parallel, cache)).plus(
                fam.state_bytes_per_rank(block, sbits, ssm_bits, parallel).scaled(count))
    else:                         # by layer: the fullest pipeline stage
        per_seq_layer, per_gpu_layer = [], []
        for layer in range(spec.num_layers):
            seq, gpu = KVCache(), KVCache()     # an FFN-only layer of a one-block-per-layer model caches nothing
            rule = key_rule(spec, layer)
            kept = spec.layer_type(layer) not in NO_KV_LAYERS
            for b in layer_blocks(spec, layer):  # its mixer, and the linear block beside it (parallel mixers)
                fam = family(b)
                tokens = fam.sequence_bytes(b, cache, bits, kv_format, rule, context, block_size) if kept else \
                    KVCache()
                seq = seq.plus(tokens).plus(fam.state_bytes(b, sbits, ssm_bits))
                gpu = gpu.plus(fam.cache_bytes_per_rank(b, tokens, parallel, cache)).plus(
                    fam.state_bytes_per_rank(b, sbits, ssm_bits, parallel))
            per_seq_layer.append(seq)
            per_gpu_layer.append(gpu)
        per_seq = _sum(per_seq_layer)
        stages = [_sum(per_gpu_layer[r.start:r.stop]) for r in parallel.stage_ranges(spec.num_layers)]
        per_gpu_seq = max(stages, key=lambda c: c.total)
    per_token = KVCache()
    for count, block, rules in layer_groups(spec):      # the layers that cache K/V (not a cross-layer reader)
        writers = count - sum(n for n, rule in rules if rule.shared)
        per_token = per_token.plus(family(block).cache_bytes(block, cache, bits, kv_format).scaled(writers))
    total = per_seq.scaled(batch)
    per_gpu = per_gpu_seq.scaled(batch_per_gpu)
    first = family(attn).cache_bytes(attn, cache, bits, kv_format) if attn is not None else KVCache()
    cache_forms = attn is not None and len(family(attn).cache_modes) > 1
    return KVReport(model=spec.name, kind=spec.mixer_kind, cache=cache, context=context, batch=batch,
                    cache_forms=cache_forms,
                    kv_bits=bits, block_size=block_size, parallel=parallel, per_token_layer=first,
                    per_token=per_token, per_sequence=per_seq, total=total,
                    per_gpu_fraction=per_gpu.total / total.total if total.total else 0.0,
                    batch_per_gpu=batch_per_gpu, per_gpu_parts=per_gpu, kv_format=kv_format, state_bits=sbits,
                    ssm_state_bits=ssm_bits, kv_share_layers=attn.kv_share_layers if attn is not None else 1,
                    kv_layers=spec.num_kv_layers, num_layers=spec.num_layers,
                    kv_shared_tail=attn.kv_shared_tail if attn is not None else 0, kv_sources=kv_sources(spec),
                    heads_vary=spec.layer_heads is not None and not spec.uniform_attention, caveats=spec.caveats,
                    capped=capped_layers(spec, context))


def capped_layers(spec: ModelSpec, context: int) -> tuple:
    """``((kind, tokens, layers), ...)``: the sliding windows (``"window"``) and attention chunks (``"chunk"``)
    shorter than ``context``, each with the layers it caps, in first-seen order. Such a layer's cache holds
    ``min(C, w)`` tokens (:meth:`mlacalc.attention.keys.KeyRule.held`), so the per-sequence cache is less than the
    per-token figure (every caching layer as if it kept every token) times ``C``: StarCoder2-7B at 32,768 tokens,
    64 KiB a token but 256 MiB a sequence, its 32 layers capped at their 4,096-token window, not 2 GiB. Layers that
    read another layer's cache, compressed layers (DeepSeek-V4: their own note) and cross-attention layers (a fixed
    count of image tokens) are left out; () where no layer is capped."""
    out: dict[tuple[str, int], int] = {}
    for n, rule in layer_rules(spec):
        if rule.shared or rule.compress is not None or rule.fixed is not None:
            continue
        for kind, tokens in (("window", rule.window), ("chunk", rule.chunk)):
            if tokens is not None and tokens < context:
                out[(kind, tokens)] = out.get((kind, tokens), 0) + n
    return tuple((kind, tokens, n) for (kind, tokens), n in out.items())


def kv_sources(spec: ModelSpec) -> tuple:
    """((layer type, source layer), ...): under trailing K/V sharing (``attention.kv_shared_tail``) the layer whose
    cache the readers of each type attend (:meth:`ModelSpec.kv_source`), in the order of their first readers; ()
    without it."""
    out: dict[str, int] = {}
    if spec.attention is not None and spec.attention.kv_shared_tail:
        for layer in range(spec.num_layers - spec.attention.kv_shared_tail, spec.num_layers):
            out.setdefault(spec.layer_type(layer), spec.kv_source(layer))
    return tuple(out.items())


def _sum(parts: list[KVCache]) -> KVCache:
    out = KVCache()
    for p in parts:
        out = out.plus(p)
    return out
