"""How vLLM pages the cache of a model with sliding-window layers (gpt-oss, Gemma 2 and 3, Mistral-7B v0.1).

vLLM's hybrid KV-cache manager gives sliding-window layers a ``SlidingWindowSpec`` beside the full layers'
``FullAttentionSpec`` and holds both in one pool of equal pages (vllm-project/vllm, file by file):

1. **Groups** (``vllm/v1/core/kv_cache_utils.py`` ``_get_kv_cache_groups_uniform_page_size``): layers of one spec
   form a kind; the kinds are cut into groups of ``group_size`` layers, the smaller count (or the larger where it is
   under 1.5 x the smaller; :func:`mlacalc.vllm_hybrid.group_size`), each padded to whole groups. gpt-oss-120b, 18
   sliding and 18 full layers: one group of each. Gemma-3-27B, 52 sliding and 10 full: one full group, six sliding.
2. **Blocks** (``get_kv_cache_config_from_groups``): ``group_size`` tensors, each shared by one layer of every group,
   so a block id costs a page (``block_size`` tokens of one layer) in each::

       num_blocks = available_memory // page_bytes // group_size

3. **Blocks a request holds** (``vllm/v1/kv_cache_interface.py`` ``max_memory_usage_bytes``): a full group
   ``ceil(context / block_size)``; a sliding group ``ceil(min(window - 1 + max_num_batched_tokens, context) /
   block_size) + 1``, because a chunk of ``max_num_batched_tokens`` tokens is written behind the last ``window - 1``
   and the window need not start on a block boundary. At 16,384 tokens and 2,048 a step gpt-oss-120b's window of 128
   holds 137 blocks a layer, not 8; Gemma-2's 4,096 at 8,192 a step holds the whole context.
4. **The log** (``get_max_concurrency_for_kv_cache_config``, ``_report_kv_cache_config``)::

       Maximum concurrency for {context} tokens per request: num_blocks / blocks_per_request
       GPU KV cache size: num_blocks // groups x block_size tokens          (vLLM 0.10-0.19)
                          int(concurrency x context) tokens                   (vLLM 0.28)

Checked against vLLM start-up logs (tests/test_vllm_sliding.py): gpt-oss-120b at tp 4 on A100s (0.10.1: 45.32 GiB,
2,640,144 tokens, 284.25x at 16,384) and Gemma-2-9B on an H100 (0.19: 54.12 GiB, 168,880 tokens, 20.60x at 8,192).

Full and sliding layers of two page sizes (a sliding shape of its own K/V heads or head width: Gemma-4, 16 K/V heads
of 256 on the 31B's sliding layers, 4 of 512 on its full ones) are paged as ``unify_kv_cache_spec_page_size``
(``kv_cache_utils.py``) pages them: the larger page stays, the smaller pages' kind takes ``block_size x larger /
smaller`` tokens a block, and each kind counts its blocks at its own block size (``max_memory_usage_bytes``); the
legacy log line takes the smallest block of the groups (``_report_kv_cache_config``: ``min_block_size``). The 31B at
tp 1: 256 KiB pages, 32-token full blocks and 16-token sliding ones, (8,192 + 5 x 2,113) pages of 10 layers = 45.79
GiB for one 262,144-token request at 32,768 batched tokens, as vllm-project/vllm #49878 works it. Refused in one line:
a larger page that is no multiple of the smaller (vLLM raises NotImplementedError; later releases pad the page for
some backends), and two page sizes where a layer's V is narrower than its K (vLLM's MiMo-V2-Flash pads V to the key's
width in the cache, ``mimo_v2_flash.py``; mlacalc's K/V bytes hold V at its own width).

Not modelled: the manager off (``--disable-hybrid-kv-cache-manager``, a KV connector), where vLLM turns every
sliding layer into a full one (``unify_hybrid_kv_cache_specs``): pages are then a byte sum over all layers at the
full context; sliding layers of two windows, chunked local attention (Llama-4) and cross layers: ``sliding_pages``
returns None for those and ``fit`` keeps its byte sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .attention import family, layer_groups
from .errors import ArgError, SpecError, show
from .parallel import Parallelism
from .spec import ModelSpec
from .units import MAX_COUNT
from .vllm_hybrid import KERNEL_BLOCK, GroupedPages, group_size


@dataclass(frozen=True)
class SlidingPages(GroupedPages):
    """vLLM's paging of a model with sliding-window layers on one GPU (module docstring); bytes and tokens."""

    full_layers: int            # layers attending the whole context
    sliding_layers: int         # layers attending the last ``window`` tokens
    window: int                 # tokens a sliding layer attends
    token_bytes: int            # one token of one layer on one GPU (K and V): the layers with the larger pages
    block_size: int             # tokens a block of those layers holds (--block-size)
    batched_tokens: int         # max_num_batched_tokens: the chunk a sliding group must hold behind its window
    group_size: int             # layers a group holds
    full_groups: int
    sliding_groups: int
    # tokens a block of each kind holds: block_size, or more where that kind's pages are the smaller
    # (unify_kv_cache_spec_page_size: block_size x larger page / smaller); None: block_size
    full_block: int | None = None
    sliding_block: int | None = None

    @property
    def page_bytes(self) -> int:
        """One page: ``block_size`` tokens of one layer with the larger pages (every page, once unified)."""
        return self.block_size * self.token_bytes

    @property
    def full_block_size(self) -> int:
        """Tokens a full layer's block holds."""
        return self.full_block or self.block_size

    @property
    def sliding_block_size(self) -> int:
        """Tokens a sliding layer's block holds."""
        return self.sliding_block or self.block_size

    @property
    def groups(self) -> int:
        return self.full_groups + self.sliding_groups

    @property
    def padding_layers(self) -> tuple[int, int]:
        """(full, sliding) empty layers that fill the last group of each kind."""
        return (self.full_groups * self.group_size - self.full_layers,
                self.sliding_groups * self.group_size - self.sliding_layers)

    def sliding_tokens(self, context: int) -> int:
        """Tokens a sliding layer holds for a request of ``context``: ``min(window - 1 + batched, context)``."""
        return min(self.window - 1 + self.batched_tokens, context)

    def blocks_per_request(self, context: int) -> int:
        """Block ids one request of ``context`` tokens holds: ``ceil(context / full block)`` in each full group,
        ``ceil(sliding_tokens / sliding block) + 1`` in each sliding group."""
        return (self.full_groups * math.ceil(context / self.full_block_size)
                + self.sliding_groups * (math.ceil(self.sliding_tokens(context) / self.sliding_block_size) + 1))

    def logged_tokens_legacy(self, budget: float) -> int:
        """The same line as vLLM 0.10-0.19 logged it: ``num_blocks // groups x`` the smallest block of the groups."""
        smallest = min([self.sliding_block_size] + ([self.full_block_size] if self.full_groups else []))
        return self.num_blocks(budget) // self.groups * smallest

    def as_dict(self, budget: float, context: int) -> dict:
        return {"block_size": self.block_size, "token_bytes": self.token_bytes, "page_bytes": self.page_bytes,
                "full_block_size": self.full_block_size, "sliding_block_size": self.sliding_block_size,
                "window": self.window, "max_num_batched_tokens": self.batched_tokens,
                "full_layers": self.full_layers, "sliding_layers": self.sliding_layers,
                "group_size": self.group_size, "full_groups": self.full_groups,
                "sliding_groups": self.sliding_groups, "padding_layers": list(self.padding_layers),
                "num_blocks": self.num_blocks(budget), "sliding_tokens": self.sliding_tokens(context),
                "blocks_per_request": self.blocks_per_request(context),
                "max_concurrency": self.max_concurrency(budget, context),
                "kv_cache_tokens": self.logged_tokens(budget, context),
                "kv_cache_tokens_legacy": self.logged_tokens_legacy(budget)}


def sliding_pages(spec: ModelSpec, parallel: Parallelism, kv_bits: float, kv_format: str | None,
                  batched_tokens: int, block_size: int | None = None) -> SlidingPages | None:
    """vLLM's pages of ``spec`` on one GPU of ``parallel`` when its attention layers are full and sliding layers of
    one window (module docstring), their pages of one size or unified from two; None for every other model (no
    sliding layer; two windows; chunked, cross or shared-K/V layers; state layers, which :mod:`mlacalc.vllm_hybrid`
    pages). Two page sizes that vLLM cannot unify, or that hold a V narrower than K, are refused in one line.
    ``batched_tokens`` is vLLM's ``max_num_batched_tokens``, ``block_size`` its ``--block-size`` (default 16)."""
    for name, value in (("block_size", block_size), ("workspace_tokens", batched_tokens)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not
                                  1 <= value <= MAX_COUNT):
            raise ArgError(name, f"must be a whole number of at least 1, got {show(value)}")
    full, sliding, windows = 0, 0, set()
    token: dict[str, set] = {"full": set(), "sliding": set()}       # bytes a token of one layer, one GPU, by kind
    narrow_v = False                                                 # a K/V shape whose V is narrower than its K
    for _, b, rules in layer_groups(spec):
        fam = family(b)
        if fam.cache_parts(b).total <= 0:
            return None                                  # state layers: a hybrid, or a model without attention
        if any(r.chunk is not None or r.fixed is not None or r.shared or r.topk is not None for _, r in rules):
            return None
        t = fam.cache_bytes(b, "compressed", kv_bits, kv_format).scaled(
            parallel.kv_share(fam.kv_groups(b, "compressed"))).total
        narrow_v |= b.kind in ("mha", "mqa", "gqa") and not b.kv_shared and b.v_head_dim < b.qk_head_dim
        for n, r in rules:
            if r.window is None:
                full += n
                token["full"].add(t)
            else:
                sliding += n
                token["sliding"].add(t)
                windows.add(r.window)
    if not sliding or len(windows) > 1 or parallel.pp > 1:
        return None
    if any(len(v) > 1 for v in token.values()):
        return None                                      # two shapes within one kind: not paged here
    block = block_size or KERNEL_BLOCK
    sizes = {k: int(math.ceil(v.pop())) for k, v in token.items() if v}
    largest = max(sizes.values())
    blocks: dict[str, int] = {}
    for kind, t in sizes.items():
        if t == largest:
            continue
        if narrow_v:
            raise SpecError("attention.sliding_shape", f"engine vllm's pages for {spec.name}'s full and sliding "
                                                       f"layers of two page sizes ({t:,} and {largest:,} B a token "
                                                       "on one GPU) are not modelled where V is narrower than K: "
                                                       "vLLM pads V to the key's width in the cache "
                                                       "(mimo_v2_flash.py)")
        if largest % t:
            raise SpecError("attention.sliding_shape", f"engine vllm cannot unify {spec.name}'s pages: "
                                                       f"{largest:,} B a token on its {kind_name(kind, True)} "
                                                       f"layers is no multiple of the smaller {t:,} B on its "
                                                       f"{kind_name(kind)} ones (vLLM's unify_kv_cache_spec_page_size "
                                                       "raises NotImplementedError)")
        blocks[kind] = block * largest // t
    size = group_size(full, sliding) if full else sliding
    return SlidingPages(full_layers=full, sliding_layers=sliding, window=windows.pop(), token_bytes=largest,
                        block_size=block, batched_tokens=batched_tokens, group_size=size,
                        full_groups=math.ceil(full / size), sliding_groups=math.ceil(sliding / size),
                        full_block=blocks.get("full"), sliding_block=blocks.get("sliding"))


def kind_name(kind: str, other: bool = False) -> str:
    """``kind`` ("full" or "sliding"), or the other one."""
    return {"full": "sliding", "sliding": "full"}[kind] if other else kind
