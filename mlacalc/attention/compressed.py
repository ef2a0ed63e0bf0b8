"""DeepSeek-V4's compressed attention (``attention.kind: compressed``): shared-KV MQA over a sliding window of raw
tokens and, on its csa and hca layers, over compressed entries of ``m`` tokens each.

Sources: the DeepSeek-V4 report (arXiv 2606.19348, section 2.3: CSA eqs. 9-19, HCA eqs. 20-26, "Other details",
2.3.4 "Efficiency discussion"); transformers ``models/deepseek_v4/modular_deepseek_v4.py`` (``DeepseekV4Attention``,
``DeepseekV4CSACompressor``, ``DeepseekV4HCACompressor``, ``DeepseekV4Indexer``, the ``DeepseekV4CSACache`` /
``DeepseekV4HCACache`` layers); DeepSeek's ``inference/model.py`` (``Compressor``, ``Indexer``, ``Attention``); vLLM
``vllm/model_executor/layers/deepseek_v4_attention.py`` and ``vllm/models/deepseek_v4/compressor.py``; SGLang
``mem_cache/deepseekv4_memory_pool.py``. Per layer, for ``H`` query heads of ``c`` dims (``head_dim`` 512:
``qk_nope_head_dim`` 448 + ``qk_rope_head_dim`` 64), one K=V head of ``c`` dims:

- **layer types** (``layer_types``, from the config's ``layer_types`` or legacy ``compress_ratios`` 0 / 4 / 128):
  ``sliding`` attends the window alone; ``csa`` the window and the top ``index_topk`` of the entries of ``m =
  csa_rate`` tokens (windows of ``2m`` overlapping by ``m``: eqs. 11-12), picked by a lightning indexer of
  ``index_n_heads`` x ``index_head_dim`` over compressed indexer keys; ``hca`` the window and every entry of ``m' =
  hca_rate`` tokens (no overlap, no indexer). Every layer keeps the raw window (``sliding_window`` 128); each layer
  type is a block of its own (:class:`mlacalc.spec.CompressedLayer`), the spec's ``attention`` itself standing for
  the design's widest layer, a csa one.
- **cache** (:meth:`Compressed.sequence_bytes`), per sequence of ``C`` tokens and layer: the window's ``min(C, w)``
  rows, ``floor(C / m)`` compressed entries (one row each; K = V, stored once: transformers' caches set ``values =
  keys``), an indexer key per entry on csa layers, and the compressor's buffers (:meth:`Compressed.state_bytes`). A
  row is ``c`` values at the cache's bits, or, in ``fp8-ds`` (the layout both engines keep: vLLM asserts an fp8 cache
  and converts it to ``fp8_ds_mla``, SGLang's ``DeepSeekV4TokenToKVPool`` is "fp8_ds_mla" only), 448 fp8 no-RoPE
  values, 64 bf16 RoPE values, one ue8m0 scale per 64 no-RoPE values and a pad byte: ``448 + 128 + 7 + 1 = 584`` B
  (vLLM ``DeepseekV4MultiHeadLatentAttentionWrapper.head_bytes``, ``MLAAttentionSpec.real_page_size_bytes``
  "448B NoPE + 128B RoPE + 8B fp8 scale = 584B"; SGLang ``DeepSeekV4SingleKVPool``: ``quantize_block_size`` 64,
  ``scale_pad`` 1). The report's own "BF16 for the RoPE dimensions, FP8 for the rest" (section 2.3.4). An indexer
  key is fp8 with one fp32 scale per 128 values, 132 B (vLLM ``DeepseekV4Indexer``: "FP8 indxer cache use the same
  layout as V3.2: head_dim bytes = 128 fp8 + 4 fp32 scale = 132"), whatever the rows' dtype. vLLM's first
  ``use_fp4_indexer_cache`` kept 132 B a key all the same ("we still allocate the same amount of memory as FP8, but
  only use the first half"); ``attention.index_cache_bytes`` 68 prices the MXFP4 key itself (64 B of values, 4 e8m0
  scales: the report's section 5.2.1), which a later ``DeepseekV4Indexer`` allocates ("64 packed values + 4 UE8M0
  scales = 68": :mod:`mlacalc.vllm_compressed`).
- **per token** (:meth:`Compressed.cache_bytes`): what one token adds beyond the window, ``1/m`` of an entry (and of
  an indexer key on a csa layer); a sliding layer adds nothing past its window.
- **weights** (:meth:`Compressed.projections`): ``wq_a: d x d_cq`` and its RMSNorm, ``wq_b: d_cq x H c`` (a
  weightless RMSNorm on each head after it), ``wkv: d x c`` and its RMSNorm, the grouped output projection ``wo_a``
  (``g`` groups of ``H c / g`` inputs each to ``o_lora_rank``: ``H c o_lora_rank`` weights) and ``wo_b: g
  o_lora_rank x d``, one sink logit a head; a compressor on csa/hca layers (``wkv`` and ``wgate``: ``d x coff c``,
  ``coff`` 2 on csa and 1 on hca, a position bias ``ape: m x coff c``, an RMSNorm of ``c``); on csa layers the
  indexer (``wq_b: d_cq x H_I c_I``, ``weights_proj: d x H_I``, and a compressor of its own at ``c_I``: ``d x 2 c_I``
  twice, ``ape: m x 2 c_I``, an RMSNorm of ``c_I``). Stored as the checkpoints hold them (the V4-Pro inventory:
  code-corpus file id 62968290951): the five projections and the indexer's ``wq_b`` fp8 with e8m0 scales, the
  compressors' ``wkv``/``wgate``, ``weights_proj`` and the norms bf16 (:meth:`Compressed.never_quantized`), the
  sinks and position biases fp32 (:meth:`Compressed.fp32_projections`).
- **tensor parallelism**: vLLM splits the query heads (``wq_b`` column-parallel, ``n_local_heads = H / tp``; ``wo_a``
  by groups, ``n_local_groups = o_groups / tp``; ``wo_b`` row-parallel) and replicates the one K=V head, its caches,
  ``wq_a``/``wkv``, the compressors and the indexer ("no tensor parallel, just replicated"), as for MQA; transformers
  ships no TP plan for V4 (its ``base_model_ep_plan`` keeps attention replicated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..costs import FP32_BYTES, KVCache, OpCost, matmul
from ..errors import ArgError, SpecError
from .base import COMPRESSED_FIELDS, INDEX_FIELDS, AttentionFamily, AttentionOps, StepShape
from .dsa import index_cache_bytes
from .indexer import score_op
from .keys import sum_floor_min
from .quant import FP8_DS, SCALED

if TYPE_CHECKING:
    from ..spec import Attention

LAYER_KINDS = ("sliding", "csa", "hca")
POOL_FLOPS_PER_ELEMENT = 4     # a compressed entry: exp and sum of the softmax over its window, a multiply and an add
DS_SCALE_GROUP = 64            # fp8-ds: no-RoPE values per ue8m0 scale (SGLang quantize_block_size)
DS_PAD_BYTES = 1               # fp8-ds: the pad byte after the scales (vLLM "1B pad", SGLang scale_pad)


def layer_kind(a: "Attention") -> str:
    """Which layer type block ``a`` is: a :class:`mlacalc.spec.CompressedLayer`'s own, else (the spec's attention,
    standing for the design) csa where it has a csa rate, else hca."""
    kind = getattr(a, "layer_kind", None)
    if kind is not None:
        return kind
    return "csa" if a.csa_rate is not None else "hca" if a.hca_rate is not None else "sliding"


def compress_rate(a: "Attention") -> int:
    """Tokens per compressed entry of block ``a`` (0 on a sliding layer)."""
    kind = layer_kind(a)
    return a.csa_rate if kind == "csa" else a.hca_rate if kind == "hca" else 0


def overlap(a: "Attention") -> int:
    """``coff``: 2 where a compressed entry pools two overlapping halves of ``2m`` tokens (csa: transformers'
    ``DeepseekV4CSACompressor`` projects to ``2 head_dim``; the report's eqs. 9-12, series ``a`` and ``b``), 1 where
    it pools ``m`` tokens (hca)."""
    return 2 if layer_kind(a) == "csa" else 1


class Compressed(AttentionFamily):
    name = "compressed"
    kinds = ("compressed",)
    cache_modes = ("compressed",)
    requires = ("q_lora_rank", "o_groups", "o_lora_rank", "sliding_window")
    layer_kinds = LAYER_KINDS

    def normalise(self, raw: dict) -> dict:
        """One K=V head, stored once, and a sink a head: ``num_kv_heads`` 1, ``kv_shared`` and ``sinks`` where a file
        leaves them out."""
        raw.setdefault("num_kv_heads", 1)
        raw.setdefault("kv_shared", True)
        raw.setdefault("sinks", True)
        return raw

    def validate(self, a: "Attention") -> None:
        """The design's fields: one K=V head (``kv_shared``, the value the whole key), a query rank, the grouped
        output projection (groups dividing the heads), the window every layer keeps, and a compress rate with the
        indexer's fields where the spec names one; chunks, biases, gates, norms and latents are not V4's."""
        if a.num_kv_heads != 1:
            raise SpecError("attention.num_kv_heads", f"compressed attention has one K=V head, got {a.num_kv_heads}")
        if not a.kv_shared or a.v_head_dim != a.qk_head_dim:
            raise SpecError("attention.kv_shared", "compressed attention stores K = V once: kv_shared true and "
                                                   f"v_head_dim = the key's {a.qk_head_dim}")
        for f in ("q_lora_rank", "o_groups", "o_lora_rank", "sliding_window"):
            if getattr(a, f) is None:
                raise SpecError(f"attention.{f}", "is required for kind compressed")
        if a.num_heads % a.o_groups:
            raise SpecError("attention.o_groups", f"({a.o_groups}) must divide num_heads ({a.num_heads})")
        if a.csa_rate is None and a.hca_rate is None:
            raise SpecError("attention.csa_rate", "kind compressed needs csa_rate or hca_rate (or both)")
        if a.csa_rate is not None:
            for f in INDEX_FIELDS[:3]:
                if getattr(a, f) is None:
                    raise SpecError(f"attention.{f}", "is required with csa_rate (the csa layers' indexer)")
        elif any(getattr(a, f) is not None for f in INDEX_FIELDS):
            raise SpecError("attention.index_n_heads", "the indexer belongs to the csa layers: give csa_rate")
        for f in ("kv_lora_rank", "chunk_size", "global_every", "sliding_shape", "layer_heads"):
            if getattr(a, f) not in (None, False):
                raise SpecError(f"attention.{f}", "does not apply to kind compressed")
        for f in ("qkv_bias", "qk_norm", "o_bias", "output_gate", "head_gate"):
            if getattr(a, f):
                raise SpecError(f"attention.{f}", "does not apply to kind compressed (DeepSeek-V4 has none)")
        if a.kv_share_layers > 1 or a.kv_shared_tail:
            raise SpecError("attention.kv_share_layers", "cross-layer K/V sharing is not modelled for compressed "
                                                         "attention")
        if not a.sinks:
            raise SpecError("attention.sinks", "compressed attention has a sink logit a head (attn_sink): sinks true")

    def label(self, a: "Attention") -> str:
        kind = layer_kind(a)
        if kind == "csa":
            return f"CSA-{a.csa_rate} top-{a.index_topk}"
        if kind == "hca":
            return f"HCA-{a.hca_rate}"
        return "MQA (K=V)"

    def check_cache(self, cache: str) -> str:
        if cache != "compressed":
            raise ArgError("cache", f"compressed attention (DeepSeek-V4) caches its K=V rows as they are; there is no "
                                    f"{cache} form, got {cache!r}")
        return cache

    def check_split(self, a: "Attention", tp: int) -> None:
        """vLLM splits the query heads and the output groups (``n_local_groups = o_groups / tp``)."""
        super().check_split(a, tp)
        if a.o_groups % tp:
            raise ArgError("tp", f"{tp} ranks cannot split {a.o_groups} output groups (attention.o_groups) evenly")

    def output_width(self, a: "Attention") -> int:
        return a.num_heads * a.v_head_dim

    # --- KV ---------------------------------------------------------------------------------------------------

    def row_bytes(self, a: "Attention", kv_bits: float, kv_format: str | None) -> float:
        """Bytes of one K=V row (a window token or a compressed entry): ``c`` values at ``kv_bits``, or the fp8-ds
        row, ``nope + 2 rope + nope / 64 + 1`` (584 at 448 + 64: module docstring)."""
        if kv_format is None:
            return a.qk_head_dim * kv_bits / 8
        if kv_format in SCALED:
            raise ArgError("kv_dtype", f"{kv_format}: DeepSeek-V4's engines keep its rows in fp8-ds (fp8 values, bf16 "
                                       f"RoPE) or bf16; none keeps them in {kv_format}")
        if kv_format != FP8_DS:
            raise ArgError("kv_dtype", f"{kv_format} is not a cache layout of compressed attention")
        nope = a.qk_nope_head_dim
        if nope % DS_SCALE_GROUP:
            raise ArgError("kv_dtype", f"fp8-ds scales the no-RoPE dims in groups of {DS_SCALE_GROUP}; "
                                       f"qk_nope_head_dim {nope} is no multiple of it")
        return nope + 2 * a.qk_rope_head_dim + nope // DS_SCALE_GROUP + DS_PAD_BYTES

    def cache_parts(self, a: "Attention", cache: str = "compressed") -> KVCache:
        """Elements one token adds to the layer's cache beyond the window: ``c / m`` of a compressed entry (none on
        a sliding layer, whose window of ``w`` rows is a constant per sequence). Indexer keys are bytes of their own
        (:meth:`cache_bytes`), as DSA's."""
        self.check_cache(cache)
        m = compress_rate(a)
        return KVCache(compressed=a.qk_head_dim / m) if m else KVCache()

    def cache_bytes(self, a: "Attention", cache: str, kv_bits: float, kv_format: str | None = None) -> KVCache:
        """Bytes one token adds to the layer's cache beyond the window: ``1/m`` of a compressed entry's row, and of
        an indexer key on a csa layer; none on a sliding layer (its window is :meth:`sequence_bytes`'s)."""
        self.check_cache(cache)
        row = self.row_bytes(a, kv_bits, kv_format)       # refuses a layout it has not, on every layer type
        m = compress_rate(a)
        if not m:
            return KVCache()
        idx = index_cache_bytes(a) if layer_kind(a) == "csa" else 0
        return KVCache(compressed=row / m, indexer=idx / m)

    def sequence_bytes(self, a: "Attention", cache: str, kv_bits: float, kv_format: str | None, rule,
                       context: int, block_size: int | None = None) -> KVCache:
        """Bytes one sequence of ``context`` tokens holds in one layer: the window's raw rows
        (:meth:`~mlacalc.attention.keys.KeyRule.held_paged`: ``min(C, w)``, whole blocks when paged), and
        ``floor(C / m)`` compressed entries, each a row and on a csa layer an indexer key (paged: every block of
        ``B`` tokens holds ``B / m`` entries, vLLM's ``MLAAttentionSpec.storage_block_size = block_size //
        compress_ratio``, which needs ``B`` a multiple of ``m``). The compressor's buffers are
        :meth:`state_bytes`. Not priced here: vLLM pads each page to a multiple of 576 B (``alignment=576``), which
        ``fit --engine vllm`` prices (:mod:`mlacalc.vllm_compressed`)."""
        self.check_cache(cache)
        row = self.row_bytes(a, kv_bits, kv_format)
        out = KVCache(window=row * rule.held_paged(context, block_size))
        m = compress_rate(a)
        if not m:
            return out
        if block_size:
            if block_size % m:
                raise ArgError("block_size", f"must be a multiple of the compress rate {m} (vLLM's MLAAttentionSpec: "
                                             f"block_size % compress_ratio == 0), got {block_size}")
            entries = -(-context // block_size) * (block_size // m)
        else:
            entries = rule.entries(context)
        idx = index_cache_bytes(a) if layer_kind(a) == "csa" else 0
        return out.plus(KVCache(compressed=entries * row, indexer=entries * idx))

    def state_bytes(self, a: "Attention", state_bits: float, ssm_bits: float | None = None) -> KVCache:
        """The compressor's buffers one sequence holds in one layer, fp32 whatever the cache dtype: the last ``coff
        m`` tokens' projected kv and gate scores, ``coff c`` each (vLLM ``CompressorStateCache``: ``state_dim = 2 *
        coff * head_dim``, ``sliding_window = coff * compress_ratio``, float32 asserted; DeepSeek's ``Compressor``:
        ``kv_state`` and ``score_state`` of ``[coff m, coff c]`` fp32; SGLang's ring of 8 (csa) or 128 (hca) outside
        speculative decoding), the csa indexer's own at ``c_I``. Per layer: csa ``8 x 2 x 1024 x 4 + 8 x 2 x 256 x
        4 = 81,920`` B, hca ``128 x 2 x 512 x 4 = 524,288`` B, sliding none (DeepSeek-V4)."""
        m = compress_rate(a)
        if not m:
            return KVCache()
        coff = overlap(a)
        ring = coff * m
        state = ring * 2 * coff * a.qk_head_dim * FP32_BYTES
        if layer_kind(a) == "csa":
            state += ring * 2 * coff * a.index_head_dim * FP32_BYTES
        return KVCache(state=state)

    def kv_groups(self, a: "Attention", cache: str = "compressed") -> None:
        """The one K=V head is every rank's (vLLM keeps ``num_kv_heads=1`` whole on each TP rank)."""
        return None

    # --- weights ----------------------------------------------------------------------------------------------

    def projections(self, a: "Attention", hidden: int) -> dict[str, int]:
        """Parameters of one layer's attention by tensor (module docstring; transformers' names in brackets):
        ``q_down`` [q_a_proj], ``q_norm``, ``q_up`` [q_b_proj], ``kv`` [kv_proj], ``kv_norm``, ``o_down`` [o_a_proj:
        ``DeepseekV4GroupedLinear(H c / g, g o_lora_rank, g)``, ``H c o_lora_rank`` weights], ``o_up`` [o_b_proj],
        ``sinks``; on csa/hca layers the compressor's ``compress_kv``, ``compress_gate``, ``compress_bias``
        [position_bias], ``compress_norm``; on csa layers the indexer's ``index_q`` [q_b_proj], ``index_weights``
        [weights_proj] and its compressor's ``index_kv``, ``index_gate``, ``index_bias``, ``index_norm``."""
        d, H, c, r = hidden, a.num_heads, a.qk_head_dim, a.q_lora_rank
        out = {"q_down": d * r, "q_norm": r, "q_up": r * H * c, "kv": d * c, "kv_norm": c,
               "o_down": H * c * a.o_lora_rank, "o_up": a.o_groups * a.o_lora_rank * d, "sinks": H}
        m = compress_rate(a)
        if m:
            w = overlap(a) * c
            out |= {"compress_kv": d * w, "compress_gate": d * w, "compress_bias": m * w, "compress_norm": c}
        if layer_kind(a) == "csa":
            ci, hi = a.index_head_dim, a.index_n_heads
            out |= {"index_q": r * hi * ci, "index_weights": d * hi, "index_kv": d * 2 * ci,
                    "index_gate": d * 2 * ci, "index_bias": m * 2 * ci, "index_norm": ci}
        return out

    def projection_split(self, a: "Attention", name: str) -> str:
        """By heads: ``q_up``, ``o_down`` (groups), ``o_up`` (its input rows), ``sinks``; everything of the K=V head,
        the compressors and the indexer replicated (vLLM; module docstring)."""
        return "heads" if name in ("q_up", "o_down", "o_up", "sinks") else "replicated"

    def never_quantized(self, a: "Attention") -> frozenset:
        """bf16 in the fp8 checkpoints (the V4-Pro inventory: ``q_norm``, ``kv_norm``, ``compressor.wkv``,
        ``compressor.wgate``, ``compressor.norm``, ``indexer.weights_proj``, ``indexer.compressor.*`` are
        ``torch.bfloat16``; DeepSeek's ``inference/model.py`` builds the compressors' ``Linear`` and
        ``weights_proj`` outside fp8)."""
        return frozenset({"q_norm", "kv_norm", "compress_kv", "compress_gate", "compress_norm", "index_weights",
                          "index_kv", "index_gate", "index_norm"})

    def fp32_projections(self, a: "Attention") -> frozenset:
        """float32 in every checkpoint (``attn_sink``, ``compressor.ape``, ``indexer.compressor.ape`` are
        ``torch.float32`` in the V4-Pro inventory; ``nn.Parameter(..., dtype=torch.float32)`` in DeepSeek's code)."""
        return frozenset({"sinks", "compress_bias", "index_bias"})

    # --- roofline ---------------------------------------------------------------------------------------------

    def attention_ops(self, spec, s: StepShape) -> AttentionOps:
        """One step's attention before the output projection, on one GPU (``s.heads`` of the query heads; the K=V
        head, the compressors and the indexer whole on every rank), summed over the group's ``s.layers`` layers:

        - ``q_down``, ``kv_down``: ``d -> d_cq`` and ``d -> c`` (vLLM fuses them, ``fused_wqa_wkv``); ``q_up``:
          ``d_cq -> H' c``; the norms (``q_norm``, ``kv_norm``, the weightless per-head norm of the queries) join
          the model's norm row;
        - ``kv_write``: each token's window row (``c`` elements at the cache's bytes: 584 B in fp8-ds);
        - ``compressor`` (csa/hca): ``d -> 2 coff c`` (``wkv`` and ``wgate``, bf16) for every token, then
          ``compress``: each token's kv and score into the fp32 buffer, and each entry the step closes (``floor(end /
          m) - floor(prior / m)`` a sequence) pooled over its ``coff m`` buffered rows (a softmax-weighted sum,
          :data:`POOL_FLOPS_PER_ELEMENT` a value) and written as a row;
        - ``index_q``, ``index_weights``, ``index_compressor`` (csa): the indexer's query ``d_cq -> H_I c_I``, head
          weights ``d -> H_I`` and its own compressor ``d -> 4 c_I``, its entries pooled into indexer keys
          (``index_compress``); ``indexer``: each query scores every entry closed before it, ``2 H_I (c_I + 1)``
          FLOPs a (query, entry) pair (eq. 16; the report runs it in FP4, section 5.2.1: FLOPs all the same), reading
          every indexer key once a sequence;
        - ``attn_core``: MQA of ``H'`` heads on the window's keys and the entries (a csa query its top-k, an hca one
          all): ``2 H' (c + c)`` FLOPs and ``H'`` softmax exponentials a (query, key) pair, value = key (:class:`~mlacalc.attention.keys.KeyRule`
          ``pairs``); the rows read once per sequence, a csa query gathering its own top-k
          (:meth:`~mlacalc.attention.keys.KeyRule.read`).

        Not counted: RoPE on queries, keys and outputs (the inverse rotation of the output's 64 rotary dims), the
        sinks, the top-k selection itself, vLLM's padding of the heads to 64 or 128 for FlashMLA (Flash at TP 8: 8
        heads a rank computed as 64)."""
        a, d, L, Ta, ab = s.block, spec.hidden_size, s.layers, s.tokens, s.ab
        H, c, r = s.heads, a.qk_head_dim, a.q_lora_rank
        row = c * s.kb                                         # bytes of a window row or an entry
        ops = [matmul("q_down", Ta, d, r, s.w("q_down"), ab, L),
               matmul("kv_down", Ta, d, c, s.w("kv"), ab, L),
               matmul("q_up", Ta, r, H * c, s.w("q_up"), ab, L),
               OpCost("kv_write", "memory", act_bytes=Ta * c * ab * L, kv_bytes=Ta * row * L, out_width=c,
                      launches=L)]
        norm_width, norm_count = r + c + H * c, 3
        m = compress_rate(a)
        if m:
            coff, end = overlap(a), s.prior + s.new
            closed = s.seqs * (end // m - s.prior // m)         # entries the step closes, over its sequences
            ops += self._compressor_ops("compressor", "compress", s, d, c, m, coff, closed, row)
            if layer_kind(a) == "csa":
                hi, ci, ib = a.index_n_heads, a.index_head_dim, index_cache_bytes(a)
                pairs = sum(n * _entries_sum(s.prior, s.new, m) for n, _ in s.rules)
                ops += [matmul("index_q", Ta, r, hi * ci, s.w("index_q"), ab, L),
                        matmul("index_weights", Ta, d, hi, s.w("index_weights"), ab, L)]
                ops += self._compressor_ops("index_compressor", "index_compress", s, d, ci, m, 2, closed, ib)
                ops.append(score_op(s, pairs, L * (end // m), hi, ci, ib, weighted=True, kind="indexer"))
        pairs = sum(n * rule.pairs(s.prior, s.new) for n, rule in s.rules)
        read = sum(n * rule.read(s.prior, s.new) for n, rule in s.rules)
        ops.append(OpCost("attn_core", "attention", flops=2 * s.seqs * H * pairs * (c + c),
                          act_bytes=Ta * L * H * 2 * c * ab, kv_bytes=s.seqs * read * row, out_width=H * c,
                          launches=s.core_launches * L, exps=s.seqs * H * pairs))
        return AttentionOps(tuple(ops), norm_width, norm_count)

    def _compressor_ops(self, proj: str, pool: str, s: StepShape, d: int, out: int, m: int, coff: int,
                        closed: float, entry_bytes: float) -> list[OpCost]:
        """A compressor of ``out``-dim entries: its projection ``d -> 2 coff out`` (``wkv`` and ``wgate``, bf16 in the
        checkpoints) for every token, and its pooling: every token's kv and score (``2 coff out`` values) into the
        fp32 buffer, each of the ``closed`` entries pooled from ``coff m`` buffered rows of ``out`` kv and ``out``
        score values and written (``entry_bytes``)."""
        L, Ta, width = s.layers, s.tokens, 2 * coff * out
        w = s.w("compress_kv" if proj == "compressor" else "index_kv")
        return [matmul(proj, Ta, d, width, w, s.ab, L),
                OpCost(pool, "vector", flops=POOL_FLOPS_PER_ELEMENT * closed * coff * m * out * L,
                       act_bytes=(Ta * width + closed * coff * m * 2 * out) * FP32_BYTES * L,
                       kv_bytes=closed * entry_bytes * L, out_width=out, launches=L)]

    def output_ops(self, spec, s: StepShape, o_bias: float = 0.0) -> tuple[OpCost, ...]:
        """The grouped output projection on one GPU, one ``o_proj`` row of two GEMMs: ``wo_a``, each of the rank's
        ``g / tp`` groups ``H c / g -> o_lora_rank`` (``2 T H' c r_o`` FLOPs, ``H' c r_o`` weights: vLLM's
        ``fp8_einsum`` "bhr,hdr->bhd"), then ``wo_b`` (row-parallel, ``g r_o / tp -> d``)."""
        a, d, L, Ta, ab = s.block, spec.hidden_size, s.layers, s.tokens, s.ab
        ro, g, k = a.o_lora_rank, a.o_groups * s.head_share, s.heads * a.qk_head_dim
        down = OpCost("o_proj", "matmul", flops=2 * Ta * k * ro * L, weight_bytes=k * ro * s.w("o_down") * L,
                      act_bytes=Ta * (k + g * ro) * ab * L, out_width=g * ro, launches=L, rows=Ta)
        return down, matmul("o_proj", Ta, g * ro, d, s.w("o_up"), ab, L)

    # --- training ---------------------------------------------------------------------------------------------

    def core_dims(self, a: "Attention", form: str | None) -> tuple[int, int]:
        """(key, value) dims per head: the one K=V row, ``c`` both (MQA on the rows, value = key)."""
        return a.qk_head_dim, a.v_head_dim

    def core_cache_elements(self, a: "Attention", form: str | None) -> float:
        return a.qk_head_dim

    def check_training(self, spec) -> None:
        raise SpecError("attention.kind", "training memory of compressed attention (DeepSeek-V4: its compressors, "
                                          "indexer and hyper-connections) is not modelled")


COMPRESSED_FAMILY = Compressed()


def _entries_sum(prior: int, new: int, m: int) -> float:
    """Entries closed before each query of the step, summed: ``sum floor((p + 1) / m)`` over its positions (what the
    indexer scores)."""
    return sum_floor_min(prior + 1, prior + new, m, None)


__all__ = ["COMPRESSED_FAMILY", "COMPRESSED_FIELDS", "LAYER_KINDS", "Compressed", "compress_rate", "layer_kind",
           "overlap"]
