"""How vLLM pages DeepSeek-V4's compressed attention (``fit --engine vllm``): pages of five kinds in block groups
that share one pool, a block id costing the widest group's bytes.

Each DeepSeek-V4 layer registers several caches with vLLM's KV-cache manager, each a spec of its own page (vLLM
``vllm/models/deepseek_v4/attention.py``, ``vllm/models/deepseek_v4/compressor.py``,
``vllm/v1/attention/backends/mla/sparse_swa.py``, ``vllm/v1/kv_cache_interface.py``; vllm-project/vllm, the versions
read for this module are named in docs/vllm-capacity-checks.md, "DeepSeek-V4"):

1. **Pages** (``fp8_ds_mla``, the only layout vLLM's FlashMLA path keeps: ``_resolve_dsv4_kv_cache_dtype`` asserts an
   fp8 cache and converts it). Every page is rounded up to a multiple of :data:`ALIGNMENT` (``alignment=576``,
   ``_apply_alignment_padding``: ``round_up(real_page_size_bytes, alignment)``):

   - a csa/hca layer's compressed entries, ``MLAAttentionSpec(block_size=B, compress_ratio=m,
     model_version="deepseek_v4")``: ``storage_block_size = B // m`` entries of 584 B (448 fp8 + 128 bf16 RoPE + 8
     scale/pad bytes): at ``B`` = 256, csa 64 x 584 = 37,376 -> **37,440**, hca 2 x 584 = 1,168 -> **1,728**;
   - a csa layer's indexer keys, ``DeepseekV4IndexerCache``: ``MLAAttentionSpec(head_size=132, dtype=uint8,
     compress_ratio=4)``, 64 x 132 = 8,448 -> **8,640** (128 fp8 + one fp32 scale a key; the MXFP4 key of
     ``use_fp4_indexer_cache``, 64 + 4 = 68 B, where the spec says ``attention.index_cache_bytes``);
   - every layer's window, ``DeepseekV4SWACache``: ``SlidingWindowMLASpec(block_size=64, sliding_window=w)``, 64 x
     584 -> **37,440** (64 "so that SWA and C4A pages match": :data:`SWA_BLOCK`);
   - the compressors' fp32 states, ``CompressorStateCache``: ``SlidingWindowMLASpec(block_size=4 (csa) or 8 (hca),
     head_size=2 coff c, float32, sliding_window=coff m)``: csa 4 x 2,048 x 4 = 32,768 -> **32,832**, the csa
     indexer's 4 x 512 x 4 = 8,192 -> **8,640**, hca 8 x 1,024 x 4 = 32,768 -> **32,832** (:data:`STATE_BLOCK`;
     vLLM asserts ratios 4 and 128 only).

2. **Groups** (``vllm/v1/core/kv_cache_planning.py`` ``_get_packed_kv_cache_groups``): layers go into buckets of one
   uniform type (``UniformTypeKVCacheSpecs.is_uniform_type``: one block size, and for sliding specs one window):
   the compressed entries and indexer keys of every layer (block ``B``), the windows (64, ``w``), the csa states (4,
   8), the hca states (8, 128). A bucket whose page sizes hold equal layer counts is "balanced"; the largest such
   count among balanced buckets of several page sizes is the floor of ``repeats``, ``_approximate_gcd`` of the
   balanced buckets' counts (the divisor that pads least), and a balanced bucket splits into ``ceil(count /
   repeats)`` groups (``pattern_repeats[i::n]``). V4-Flash: entries {37,440: 21, 8,640: 21, 1,728: 20} (not
   balanced, one group), windows 43, csa states {32,832: 21, 8,640: 21}, hca states 20: ``repeats`` =
   ``_approximate_gcd([43, 21, 20], lower_bound=21)`` = 22 (padding 1 + 1 + 2), so the windows split into 22 + 21.
3. **Blocks** (``_get_kv_cache_bytes_per_block``): a block id costs the widest group's page bytes,
   ``max(sum of its pages)``; V4-Flash's compressed group, 21 x 37,440 + 21 x 8,640 + 20 x 1,728 = 1,002,240 B::

       num_blocks = available_memory // bytes_per_block

4. **Blocks a request holds** (``get_max_concurrency_for_kv_cache_config`` after vLLM PR #48317: the sum over groups
   of ``cdiv(max_memory_usage_bytes, page_size_bytes)``): ``ceil(C / B)`` in the compressed group, and in each
   sliding group ``ceil(min(w - 1 + max_num_batched_tokens, C) / block) + 1`` (``SlidingWindowSpec
   .max_admission_blocks_per_request``): V4-Flash at 131,072 tokens and 8,192 batched: 512 + 2 x 131 + 2,051 + 1,041
   = 3,866 blocks, 3.61 GiB a request where its cache holds 0.48 GiB. A request in decode holds the window alone in
   its sliding groups (``max_num_batched_tokens`` 1: 512 + 2 x 3 + 3 + 17 = 538 at 131,072,
   :meth:`CompressedPages.decode_blocks_per_request`); vLLM's log and ``fit``'s largest batch count the chunk (PR
   #48317: "scheduling uses actual block availability").
5. **The log**: "Maximum concurrency for C tokens per request: num_blocks / blocks_per_request", "GPU KV cache size:
   int(concurrency x C) tokens" (:class:`mlacalc.vllm_hybrid.BlockPool`).

Not modelled, refused in one line: speculative decoding (the MTP layer's caches), a cache other than ``fp8-ds``
(vLLM's plain bf16 / per-tensor fp8 rows on FlashInfer backends, aligned to 512 or not at all), compress ratios
other than 4 and 128, a block size that is no multiple of both ratios, pipeline parallelism. Versions: vLLM's V4
planner changed while V4 was new (the ``layer tuple`` layout with a stride of ``sum(page sizes) x tuples`` before
the packed planner; the concurrency line of PR #48317 replaced one that divided every group's bytes by the first
group's page); which release took which is not pinned here, and fit's note says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from .attention import family, layer_groups
from .attention.compressed import COMPRESSED_FAMILY, compress_rate, layer_kind, overlap
from .attention.dsa import index_cache_bytes
from .attention.quant import FP8_DS
from .costs import FP32_BYTES
from .errors import ArgError, SpecError, show
from .parallel import Parallelism
from .spec import ModelSpec
from .units import MAX_COUNT
from .vllm_hybrid import BlockPool

ALIGNMENT = 576            # MLAAttentionSpec / SlidingWindowMLASpec alignment under fp8_ds_mla (FlashMLA packing)
DEFAULT_BLOCK = 256        # DeepseekSparseSWABackend.get_preferred_block_size: the compressed group's block
SWA_BLOCK = 64             # DeepseekV4SWACache.block_size: a window page matches a csa entry page at 256
STATE_BLOCK = {4: 4, 128: 8}   # CompressorStateCache.block_size by compress ratio (the only ratios it takes)
MODELLED = "the packed planner (kv_cache_planning._get_packed_kv_cache_groups) and PR #48317's concurrency"
NOTE = ("DeepSeek-V4 paged as vLLM's packed planner pages it (blocks of the widest group's pages; a request's blocks "
        "summed over its groups, PR #48317), its largest batch the start-up log's concurrency, which counts a "
        "max_num_batched_tokens chunk in every sliding group; releases with the earlier layer-tuple planner log "
        "other figures, and which release took which is not pinned (docs/vllm-capacity-checks.md, DeepSeek-V4)")


def round_up(n: int, multiple: int) -> int:
    """``n`` rounded up to a multiple of ``multiple`` (vLLM ``round_up``)."""
    return -(-n // multiple) * multiple


def approximate_gcd(values: list[int], lower_bound: int) -> int:
    """vLLM ``_approximate_gcd``: the ``d`` in ``[lower_bound, max(values)]`` with the least total padding
    ``sum((d - x % d) % d)``, the larger on a tie (``lower_bound`` itself when it exceeds every value)."""
    best, best_pad = max(1, lower_bound), None
    for d in range(max(1, lower_bound), max(values) + 1):
        pad = sum((d - x % d) % d for x in values)
        if best_pad is None or pad <= best_pad:
            best, best_pad = d, pad
    return best


@dataclass(frozen=True)
class PageGroup:
    """One KV cache group: ``pages`` (page bytes, layers of that page in this group), the tokens a block of it
    covers, and the tokens a request keeps in it (``window`` None: every token, else a sliding window)."""

    name: str                    # "entries" (compressed entries and indexer keys), "window", "csa/hca states"
    pages: tuple[tuple[int, int], ...]
    block_size: int
    window: int | None = None

    @property
    def layers(self) -> int:
        return sum(n for _, n in self.pages)

    @property
    def bytes(self) -> int:
        """Page bytes of the group's layers: what a block id of it takes in the pool."""
        return sum(page * n for page, n in self.pages)

    def blocks(self, context: int, batched_tokens: int) -> int:
        """Blocks one request of ``context`` tokens holds: ``ceil(C / block)``, or for a window ``ceil(min(w - 1 +
        batched, C) / block) + 1`` (the window need not start on a block boundary)."""
        if self.window is None:
            return -(-context // self.block_size)
        return -(-min(self.window - 1 + batched_tokens, context) // self.block_size) + 1

    def as_dict(self, context: int, batched_tokens: int) -> dict:
        return {"name": self.name, "pages": [{"page_bytes": p, "layers": n} for p, n in self.pages],
                "block_size": self.block_size, "window": self.window, "bytes": self.bytes,
                "blocks_per_request": self.blocks(context, batched_tokens)}


@dataclass(frozen=True)
class CompressedPages(BlockPool):
    """vLLM's pool for DeepSeek-V4 on one GPU (module docstring); bytes and tokens."""

    groups: tuple[PageGroup, ...]
    block_size: int              # the compressed group's block (--block-size, 256 by default)
    batched_tokens: int          # max_num_batched_tokens: the chunk a sliding group holds behind its window
    repeats: int | None          # layers of each page size a split group holds (None: nothing split)

    @property
    def block_bytes(self) -> int:
        """Bytes one block id takes: the widest group's pages (``_get_kv_cache_bytes_per_block``)."""
        return max(g.bytes for g in self.groups)

    def num_blocks(self, budget: float) -> int:
        """Block ids in ``budget`` bytes: ``available_memory // bytes_per_block``."""
        return max(int(budget // self.block_bytes), 0)

    def blocks_per_request(self, context: int) -> int:
        """Block ids one request of ``context`` tokens holds, summed over the groups (vLLM's start-up count)."""
        return sum(g.blocks(context, self.batched_tokens) for g in self.groups)

    def decode_blocks_per_request(self, context: int) -> int:
        """Block ids a request of ``context`` tokens holds in decode, one new token a step: its windows alone in the
        sliding groups (``max_num_batched_tokens`` 1)."""
        return sum(g.blocks(context, 1) for g in self.groups)

    def as_dict(self, budget: float, context: int) -> dict:
        return {"block_size": self.block_size, "max_num_batched_tokens": self.batched_tokens,
                "repeats_per_group": self.repeats, "bytes_per_block": self.block_bytes,
                "groups": [g.as_dict(context, self.batched_tokens) for g in self.groups],
                "num_blocks": self.num_blocks(budget), "blocks_per_request": self.blocks_per_request(context),
                "decode_blocks_per_request": self.decode_blocks_per_request(context),
                "max_concurrency": self.max_concurrency(budget, context),
                "kv_cache_tokens": self.logged_tokens(budget, context),
                "decode_concurrency": self.num_blocks(budget) / self.decode_blocks_per_request(context),
                "modelled": MODELLED}


def is_compressed(spec: ModelSpec) -> bool:
    """Whether ``spec``'s layers are DeepSeek-V4's compressed attention (what this module pages)."""
    return any(family(b) is COMPRESSED_FAMILY for _, b, _ in layer_groups(spec))


def check_engine_layout(spec: ModelSpec, engine: str, kv_format: str | None, parallel: Parallelism,
                        q_tokens: int) -> None:
    """What both engines' DeepSeek-V4 pools are modelled for, else one line: the fp8-ds rows, one pipeline stage,
    no speculative decoding (its MTP layer's caches and wider state rings)."""
    if kv_format != FP8_DS:
        raise ArgError("kv_dtype", f"engine {engine}'s DeepSeek-V4 pool is modelled for the fp8-ds rows it keeps "
                                   f"(584 B); the {kv_format or 'flat'} cache of {spec.name} is not")
    if parallel.pp > 1:
        raise ArgError("pp", f"engine {engine}'s DeepSeek-V4 pool is modelled on one pipeline stage")
    if q_tokens > 1:
        raise ArgError("q_tokens", f"engine {engine}'s DeepSeek-V4 pool under speculative decoding (the MTP layer's "
                                   "caches, wider compressor-state rings) is not modelled; use --q-tokens 1")


def compressed_pages(spec: ModelSpec, parallel: Parallelism, kv_format: str | None, batched_tokens: int,
                     block_size: int | None = None, q_tokens: int = 1) -> CompressedPages | None:
    """vLLM's pool for DeepSeek-V4 ``spec`` on one GPU of ``parallel`` (module docstring): the cache is every rank's
    whole (one K=V head), so ``parallel`` only checks the layout. ``batched_tokens`` is vLLM's
    ``max_num_batched_tokens``, ``block_size`` its ``--block-size`` (None: 256). None for a model without
    compressed attention; what is not modelled is refused in one line."""
    if not is_compressed(spec):
        return None
    for name, value in (("block_size", block_size), ("workspace_tokens", batched_tokens)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not
                                  1 <= value <= MAX_COUNT):
            raise ArgError(name, f"must be a whole number of at least 1, got {show(value)}")
    check_engine_layout(spec, "vllm", kv_format, parallel, q_tokens)
    block = DEFAULT_BLOCK if block_size is None else block_size
    buckets: dict[tuple, dict[int, int]] = {}       # (name, block, window) -> {page bytes: layers}

    def add(key: tuple, page: int, n: int) -> None:
        bucket = buckets.setdefault(key, {})
        bucket[page] = bucket.get(page, 0) + n

    for n, b, _ in layer_groups(spec):
        row = COMPRESSED_FAMILY.row_bytes(b, 8, FP8_DS)
        add(("window", SWA_BLOCK, b.sliding_window), round_up(SWA_BLOCK * row, ALIGNMENT), n)
        m = compress_rate(b)
        if not m:
            continue
        if m not in STATE_BLOCK:
            raise SpecError("attention.csa_rate", f"vLLM's CompressorStateCache takes compress ratios 4 and 128; "
                                                  f"{spec.name}'s {layer_kind(b)} layers compress by {m}")
        if block % m:
            raise ArgError("block_size", f"must be a multiple of the compress rate {m} (vLLM's MLAAttentionSpec: "
                                         f"block_size % compress_ratio == 0), got {block}")
        entries = block // m                         # storage_block_size
        add(("entries", block, None), round_up(entries * row, ALIGNMENT), n)
        coff, sb = overlap(b), STATE_BLOCK[m]
        state_key = (f"{layer_kind(b)} states", sb, coff * m)
        add(state_key, round_up(sb * 2 * coff * b.qk_head_dim * FP32_BYTES, ALIGNMENT), n)
        if layer_kind(b) == "csa":
            add(("entries", block, None), round_up(entries * index_cache_bytes(b), ALIGNMENT), n)
            add(state_key, round_up(sb * 2 * coff * b.index_head_dim * FP32_BYTES, ALIGNMENT), n)
    # _get_packed_kv_cache_groups: balanced buckets (equal layers per page size) split by a common repeat count
    balanced = {k: len(set(pages.values())) == 1 for k, pages in buckets.items()}
    floor = max((max(p.values()) for k, p in buckets.items() if balanced[k] and len(p) > 1), default=0)
    repeats = approximate_gcd([max(p.values()) for k, p in buckets.items() if balanced[k]], floor) if floor else None
    groups = []
    for key, pages in buckets.items():
        name, blk, window = key
        count = max(pages.values())
        n_groups = -(-count // repeats) if balanced[key] and repeats else 1
        for i in range(n_groups):
            held = tuple((page, len(range(i, layers, n_groups))) for page, layers in pages.items())
            groups.append(PageGroup(name=name, pages=held, block_size=blk, window=window))
    return CompressedPages(groups=tuple(groups), block_size=block, batched_tokens=batched_tokens, repeats=repeats)


__all__ = ["ALIGNMENT", "CompressedPages", "PageGroup", "approximate_gcd", "compressed_pages", "is_compressed"]
