"""MiniMax Sparse Attention (MSA): GQA whose queries attend only the key blocks a lightning indexer selects.

MiniMax-M3 (transformers ``models/minimax_m3_vl/modular_minimax_m3_vl.py``: ``MiniMaxM3VLAttention``,
``MiniMaxM3VLIndexer``, ``MiniMaxM3VLSparseCacheLayer``; vLLM ``vllm/models/minimax_m3/nvidia/model.py``
``MiniMaxM3SparseAttention``, ``common/indexer.py``, ``common/ops/index_topk.py``). On the layers that run it
(``attention.index_layers``; the others are plain GQA of the same heads,
:meth:`mlacalc.spec.ModelSpec.attention_block`), besides everything conventional GQA has (:mod:`.conventional`):

- **indexer weights**: ``index_q_proj`` ``d x H_I d_I`` and ``index_k_proj`` ``d x d_I`` (one key head that the
  ``H_I = index_n_heads`` index heads share), ``index_q_norm`` and ``index_k_norm`` of ``d_I = index_head_dim`` each
  (Gemma RMSNorms applied per index head). No head-weight projection (DSA's ``weights_proj``) and no value path
  (``sparse_disable_index_value`` on every sparse layer of the release; neither engine builds ``index_v``/``index_o``).
  Under TP ``index_q`` shards like the K/V heads, replicas included, and ``index_k`` is replicated (vLLM
  ``MinimaxM3QKVParallelLinearWithIndexer``: "index_q follows the KV-head sharding and replication rules, while index_k
  is a single replicated head"); the norms are replicated.
- **indexer cache**: one key of ``d_I`` values per token, shared by the index heads, in bf16 whatever the K/V dtype:
  ``2 d_I`` bytes (256 at 128; ``index_cache_bytes`` overrides). vLLM ``MiniMaxM3IndexerCache`` (``MLAAttentionSpec``
  of one head of ``index_head_dim``, ``attention_config.indexer_kv_dtype`` default ``"bf16"``); transformers
  ``MiniMaxM3VLSparseCacheLayer.idx_keys`` ``[B, 1, S, d_I]`` in the model dtype. Every token stays cached (the
  indexer scores all of them). One head: every TP rank holds all of it (:meth:`MSA.cache_bytes_per_rank`). Counted as
  the KV part ``indexer``.
- **selection** (vLLM ``_topk_index_kernel``; transformers ``MiniMaxM3VLIndexer.forward``): index head ``h`` scores
  every visible key (``q_h . k``), takes the max over each block of ``B = index_block_size`` keys, forces the
  ``index_local_blocks`` blocks ending at the query's own (scores raised to +inf / 1e29) and keeps the top
  ``k = index_topk_blocks`` blocks, the forced ones among them, for K/V head ``h``'s query group (``index_n_heads`` is
  ``num_kv_heads``). A query at 0-based position ``p`` so attends ``p + 1`` keys while it sees at most ``k`` blocks
  (``p < k B``), then ``(k - 1) B`` keys of whole earlier blocks and its own block up to itself:
  ``(k - 1) B + (p mod B) + 1 <= k B`` (:class:`BlockTopK`). An earlier transformers revision (the
  ``MiniMaxM3VLIndexer._block_bias`` of commit 01a05aad) added the init and local blocks beyond the top ``k`` (up to
  ``k + init + local`` blocks) and pooled the index heads into one selection; the current class and vLLM do not.
- **cost of a step**: the index projections; the indexer scores every visible key, ``2 H_I' d_I`` FLOPs a (query,
  key) pair for the ``H_I'`` index heads on the GPU, reading each visible key's index entry once; then GQA's core over
  the selected keys (:class:`BlockTopK` pairs). MSA's sparse kernel is KV-major (``build_k2q_csr``: for each K/V block
  the queries that chose it), so each chosen block is read once for all of them: ``min(pairs, visible keys)`` keys read,
  exact in decode (one query) and for a prefill from an empty cache (every block holds a query that keeps it as its
  own); between the two an upper bound. Not counted: the top-k sort, and a score tensor of one value a (query, block)
  an unfused top-k kernel writes and reads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..costs import KVCache, matmul
from ..errors import ArgError, SpecError
from .base import AttentionOps, StepShape, refuse_fields
from .conventional import Conventional, heads_kind
from .indexer import index_projections, key_bytes, score_op, write_op
from .keys import KeyRule, rules_span

if TYPE_CHECKING:
    from ..parallel import Parallelism
    from ..spec import Attention, ModelSpec

INDEX_KEY_BYTES = 2          # bf16: vLLM's indexer_kv_dtype default, transformers' idx_keys in the model dtype


def index_cache_bytes(a: "Attention") -> int:
    """Bytes of indexer key per token and layer: ``index_head_dim`` bf16 values (or ``index_cache_bytes``)."""
    return key_bytes(a, INDEX_KEY_BYTES * a.index_head_dim)


def _own_block_sum(n: int, block: int) -> int:
    """``sum_{p=0}^{n-1} ((p mod B) + 1)``: the keys of their own block that positions ``0 .. n-1`` attend."""
    whole, r = divmod(n, block)
    return whole * block * (block + 1) // 2 + r * (r + 1) // 2


@dataclass(frozen=True)
class BlockTopK(KeyRule):
    """Keys a query of an MSA layer attends (module docstring): every visible key while the query sees at most
    ``blocks`` blocks of ``block`` tokens, then ``blocks - 1`` whole earlier blocks and its own block up to itself.
    The cache holds every token (:meth:`KeyRule.held`: no window)."""

    block: int = 1      # tokens per key block (attention.index_block_size)
    blocks: int = 1     # blocks each query attends, its own included (attention.index_topk_blocks)

    def keys(self, position: int) -> int:
        """Keys the query at 0-based ``position`` attends: ``p + 1`` for ``p < k B``, else ``(k - 1) B +
        (p mod B) + 1``."""
        if position < self.blocks * self.block:
            return position + 1
        return (self.blocks - 1) * self.block + position % self.block + 1

    def pairs(self, prior: int, new: int) -> float:
        """(query, key) pairs of ``new`` queries at positions ``prior .. prior + new - 1``: :meth:`keys` summed in
        closed form (dense up to ``k B - 1``, then ``(k - 1) B`` a query plus its own block's keys)."""
        if new <= 0:
            return 0.0
        first, last = prior, prior + new - 1
        span = self.blocks * self.block
        total = 0
        dense_last = min(last, span - 1)
        if dense_last >= first:                       # sum of p + 1 over first .. dense_last
            total += (first + 1 + dense_last + 1) * (dense_last - first + 1) // 2
        lo = max(first, span)
        if lo <= last:
            total += (last - lo + 1) * (self.blocks - 1) * self.block + \
                _own_block_sum(last + 1, self.block) - _own_block_sum(lo, self.block)
        return float(total)

    def read(self, prior: int, new: int) -> float:
        """Keys read from the cache in the step: each chosen block once for all the queries that chose it (MSA's
        KV-major kernel), at most every visible key once and at most the pairs: ``min(pairs, prior + new)``."""
        return min(self.pairs(prior, new), float(prior + new))


class MSA(Conventional):
    name = "msa"
    kinds = ("msa",)
    kernel = "gqa"              # a paged GQA decode over the chosen blocks (mlacalc.expected prices it as GQA's)

    def label(self, a: "Attention") -> str:
        """``MSA (GQA-4, top-16 x 128)``: the label its heads' conventional kind has, and the block budget."""
        heads = super().label(replace(a, kind=heads_kind(a.num_heads, a.num_kv_heads)))
        return f"MSA ({heads}, top-{a.index_topk_blocks} x {a.index_block_size})"

    def validate(self, a: "Attention") -> None:
        """GQA's heads with every indexer field given; one index head a K/V head (vLLM's
        ``MinimaxM3QKVParallelLinearWithIndexer`` raises otherwise: "total_num_index_heads must equal
        total_num_kv_heads"; transformers repeats each index head's blocks over ``num_heads / index_n_heads`` query
        heads); no sliding window or chunks (the sparse layers attend whole blocks of all the keys); GQA's value rules
        (:meth:`Conventional.check_values`: DeepSeek-V4's fields were read silently here, changing no number)."""
        refuse_fields(a, ("kv_lora_rank",), "mla")
        refuse_fields(a, ("index_topk",), "dsa or compressed")
        if a.kv_shared:
            raise SpecError("attention.kv_shared", "does not apply to msa (its layers cache K and V)")
        self.check_values(a)
        for f in ("index_n_heads", "index_head_dim", "index_topk_blocks", "index_block_size"):
            if getattr(a, f) is None:
                raise SpecError(f"attention.{f}", "is required for kind msa")
        if a.index_n_heads != a.num_kv_heads:
            raise SpecError("attention.index_n_heads", f"({a.index_n_heads}) must equal num_kv_heads "
                                                       f"({a.num_kv_heads}): each index head chooses the blocks of "
                                                       "one K/V head's query group")
        for f in ("sliding_window", "chunk_size", "global_every"):
            if getattr(a, f) is not None:
                raise SpecError(f"attention.{f}", "does not apply to msa (its layers attend blocks of every key)")

    def validate_model(self, a: "Attention", spec: "ModelSpec") -> None:
        """``index_layers`` one flag (0 or 1) a layer, marking at least one; every layer full attention (no linear,
        ffn or cross layers); no K/V shared across layers."""
        where = "attention.index_layers"
        flags = a.index_layers
        if flags is not None:
            if len(flags) != spec.num_layers:
                raise SpecError(where, f"has {len(flags)} entries for {spec.num_layers} layers (one flag a layer: 1 "
                                       "runs the indexer, 0 attends every key)")
            if not any(flags):
                raise SpecError(where, "marks no layer: without an indexer the model is kind gqa")
        other = sorted({spec.layer_type(i) for i in range(spec.num_layers)} - {"full"})
        if other:
            raise SpecError("layer_types", f"msa attention with {', '.join(other)} layers is not modelled (every "
                                           "layer full: the indexer's or plain GQA)")
        if a.kv_share_layers > 1 or a.kv_shared_tail:
            raise SpecError("attention.kv_share_layers", "cross-layer K/V sharing is not modelled for msa attention")
        if spec.parallel_mixers:
            raise SpecError("parallel_mixers", "with msa attention is not modelled")

    # --- KV ---------------------------------------------------------------------------------------------------

    def cache_bytes(self, a: "Attention", cache: str, kv_bits: float, kv_format: str | None = None) -> KVCache:
        """K and V at ``kv_bits`` plus the indexer's key (:func:`index_cache_bytes`). Scaled layouts (int4, int8,
        fp4, nvfp4) are refused: MiniMax-M3's sparse kernels read bf16 or fp8 K/V (vLLM ``select_main_impl_cls`` off
        the cache dtype)."""
        if kv_format is not None:
            raise ArgError("kv_dtype", f"{kv_format}: MiniMax-M3's sparse attention kernels read bf16 or fp8 K/V "
                                       "(--kv-bits 8 for fp8); no engine keeps an MSA cache in "
                                       f"{kv_format}")
        return super().cache_bytes(a, cache, kv_bits).plus(KVCache(indexer=index_cache_bytes(a)))

    def cache_bytes_per_rank(self, a: "Attention", token: KVCache, par: "Parallelism",
                             cache: str = "compressed") -> KVCache:
        """K and V by the rank's share of the K/V heads; the indexer key whole (one replicated head: vLLM allocates
        a ``MiniMaxM3IndexerCache`` of all of it on every rank)."""
        share = par.kv_share(self.kv_groups(a, cache))
        return replace(token.scaled(share), indexer=token.indexer)

    # --- weights ----------------------------------------------------------------------------------------------

    def projections(self, a: "Attention", hidden: int) -> dict[str, int]:
        """GQA's (:meth:`Conventional.projections`) plus ``index_q`` ``d x H_I d_I``, ``index_k`` ``d x d_I`` and the
        two index norms ``2 d_I`` (MiniMax-M3's checkpoint: ``self_attn.index_q_proj`` [512, 6144],
        ``index_k_proj`` [128, 6144], ``index_q_norm`` and ``index_k_norm`` [128] on layers 3-59)."""
        return super().projections(a, hidden) | index_projections(a, hidden, hidden) | {
            "index_norm": 2 * a.index_head_dim}

    def projection_split(self, a: "Attention", name: str) -> str:
        """``index_q`` like the K/V heads, ``index_k`` and the index norms replicated, the rest as GQA's."""
        return {"index_q": "kv", "index_k": "replicated", "index_norm": "replicated"}.get(
            name, super().projection_split(a, name))

    def never_quantized(self, a: "Attention") -> frozenset:
        """The index norms (RMSNorm weights, no Linear)."""
        return frozenset({"index_norm"})

    # --- roofline ---------------------------------------------------------------------------------------------

    def core_rules(self, a: "Attention", rules: tuple) -> tuple:
        """Each layer's rule as :class:`BlockTopK` of the block's top-k blocks (every MSA layer is full)."""
        return tuple((n, BlockTopK(block=a.index_block_size, blocks=a.index_topk_blocks)) for n, _ in rules)

    def attention_ops(self, spec: "ModelSpec", s: StepShape) -> AttentionOps:
        """The index projections (one GEMM beside ``qkv_proj``; vLLM fuses them into it), the indexer's scoring pass
        over every visible key, its cache write and its two norms, then GQA over the chosen keys."""
        a, d, L, Ta = s.block, spec.hidden_size, s.layers, s.tokens
        d_i, ib = a.index_head_dim, index_cache_bytes(a)
        heads_i = a.index_n_heads * s.kv_share              # index heads on this GPU: they shard like K/V heads
        pairs, keys = rules_span(s.rules, s.prior, s.new)   # full rules: every visible key
        ops = [matmul("index_proj", Ta, d, heads_i * d_i + d_i, 0, s.ab, L,
                      extra_weight=d * d_i * (heads_i * s.w("index_q") + s.w("index_k"))),
               score_op(s, pairs, keys, heads_i, d_i, ib, weighted=False, kind="attention"), write_op(s, d_i, ib)]
        gqa = super().attention_ops(spec, s._replace(rules=self.core_rules(a, s.rules)))
        return AttentionOps(tuple(ops) + gqa.ops, gqa.norm_width + (heads_i + 1) * d_i, gqa.norm_count + 2)

    # --- training ---------------------------------------------------------------------------------------------

    def check_training(self, spec: "ModelSpec") -> None:
        raise SpecError("attention.kind", "training memory of MSA (its lightning indexer's activations) is not "
                                          "modelled")

    def check_dtensor_tp(self, spec: "ModelSpec", block, tp: int) -> None:
        raise ArgError("tp_style", f"torchtitan's tensor parallelism is modelled for mha/gqa/mqa attention, not "
                                   f"{block.kind}")


MSA_FAMILY = MSA()
