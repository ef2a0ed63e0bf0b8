"""How vLLM pages the cache of a hybrid: attention layers beside state layers in one pool of equal pages.

A hybrid (Qwen3-Next and Qwen3.5's Gated DeltaNet, Kimi-Linear's KDA, the Mamba-2 of Nemotron-H, Bamba, Granite-4.0-H
and Falcon-H1, Jamba's Mamba-1, LFM2's short convolutions, MiniMax's lightning attention) keeps a K/V cache on its
attention layers and a constant state per sequence on its other layers. vLLM's hybrid KV-cache manager holds both in
one pool of equal pages, and that, not a byte sum, is what its start-up log reports (vllm-project/vllm, file by file):

1. **Block size** (``vllm/platforms/interface.py`` ``Platform._align_hybrid_block_size``; earlier
   ``vllm/model_executor/models/config.py`` ``HybridAttentionMambaModelConfig.verify_and_update_config``). One token
   of one attention layer on one GPU takes ``token_bytes`` (``FullAttentionSpec(block_size=1).page_size_bytes``: K
   and V, ``2 x kv_heads_per_rank x head_dim x element size``; MLA ``MLAAttentionSpec``: the latent and RoPE key once),
   one state layer's state ``state_bytes`` (``MambaSpec.page_size_bytes``: the shapes of
   ``get_mamba_state_shape_from_config`` at their dtypes, per GPU). vLLM raises the attention block until a page of
   it holds a state::

       align      = max(the attention backend's smallest kernel block, a block size given)     (16 on Hopper)
       block_size = align x ceil(state_bytes / (align x token_bytes))

   and logs "Setting attention block size to {block_size} tokens ...". The state page is then padded to the
   attention page, ``page_bytes = block_size x token_bytes``, logged as "Padding mamba page size by
   {100 (page_bytes - state_bytes) / state_bytes:.2f}% ...".
2. **Groups** (``vllm/v1/core/kv_cache_utils.py`` ``_get_kv_cache_groups_uniform_page_size``): the attention layers
   and the state layers, two kinds of ``n_a`` and ``n_s`` layers, are cut into groups of ``group_size`` layers,
   ``min(n_a, n_s)`` (``max(n_a, n_s)`` where that is under 1.5 x the min), each kind padded with empty layers to
   whole groups (logged "Add {k} padding layers, may waste at most ..."). Qwen3-Next-80B, 12 attention and 36
   DeltaNet layers: groups of 12, one attention group and three state groups.
3. **Blocks** (``get_kv_cache_config_from_groups``, ``get_num_blocks``): ``group_size`` tensors, each shared by one
   layer of every group, so one block id costs a page in each of them::

       num_blocks = available_memory // page_bytes // group_size

4. **Blocks a request holds** (``KVCacheSpec.max_memory_usage_bytes``): ``ceil(context / block_size)`` in each
   attention group, and in each state group one page (``mamba_cache_mode`` "none": prefix caching off, the mode this
   module defaults to) or two ("align": prefix caching on, the running state and the last block boundary's), plus
   one a speculative token (not modelled). "all" (a state a block, Mamba-2 kernels only, at a block size aligned to
   the SSD chunk) is refused in one line.
5. **The log** (``get_max_concurrency_for_kv_cache_config``, ``_report_kv_cache_config``)::

       Maximum concurrency for {context} tokens per request: num_blocks / blocks_per_request
       GPU KV cache size: int(concurrency x context) tokens                       (vLLM 0.28; PR #38364/#40694)
                          num_blocks // groups x min(block sizes) tokens          (vLLM 0.17-0.19)

   The concurrency line is the same in both. ``fit``'s largest batch is its floor: the block pool also keeps one
   null block (``BlockPool``), which the log does not count and neither does this.

Checked against vLLM start-up logs in tests/test_vllm_hybrid.py: Qwen3.5-0.8B on an A100 (vLLM 0.28: 544-token
blocks, 2.64% padding, 5,788,118 tokens and 22.08x at 262,144; 3,697,198 and 451.32x at 8,192), Qwen3.5-27B on an H20
(0.19: 290,864 tokens, 33.04x at 32,768), LFM2.5-1.2B (0.17: 16-token blocks, 300% padding, 2 padding layers,
217,264 tokens, 313.37x at 2,048), Nemotron-H and Kimi-Linear block sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .attention import family, layer_groups
from .errors import ArgError, SpecError, show
from .parallel import Parallelism
from .spec import ModelSpec
from .units import MAX_COUNT, largest_fitting

KERNEL_BLOCK = 16           # the smallest kernel block of vLLM's attention backends on Hopper (FlashAttention,
#                             FlashInfer, Triton; MLA's FlashMLA took 64 before the backends said their own sizes)
MAMBA_CACHE_MODES = ("none", "align")      # modelled; "all" is refused (module docstring)
STATE_PAGES = {"none": 1, "align": 2}      # state pages a request holds in each state group
GROUP_SPREAD = 1.5          # _get_kv_cache_groups_uniform_page_size: groups of the larger count below 1.5 x the smaller


class BlockPool:
    """What vLLM's block pool answers for a layout whose requests hold block ids in several KV cache groups: the
    subclasses give ``num_blocks(budget)``, ``blocks_per_request(context)`` and ``block_bytes`` (vLLM's
    ``kv_cache_utils``: one pool of pages shared by the groups, a request holding a block id in each)."""

    def bytes_per_request(self, context: int) -> int:
        """Bytes of the pool one request of ``context`` tokens holds, padding included."""
        return self.blocks_per_request(context) * self.block_bytes

    def max_concurrency(self, budget: float, context: int) -> float:
        """vLLM's "Maximum concurrency for {context} tokens per request": blocks over blocks a request holds."""
        return self.num_blocks(budget) / self.blocks_per_request(context)

    def max_batch(self, budget: float, context: int) -> int:
        """Requests of ``context`` tokens the pool holds at once: the concurrency's floor."""
        return self.num_blocks(budget) // self.blocks_per_request(context)

    def max_context(self, budget: float, batch: int, limit: int) -> int:
        """Longest context at which ``batch`` requests fit (0: not one token), searched up to ``limit``."""
        blocks = self.num_blocks(budget)

        def fits(c: int) -> bool:
            return batch * self.blocks_per_request(c) <= blocks

        return largest_fitting(fits, limit)

    def logged_tokens(self, budget: float, context: int) -> int:
        """"GPU KV cache size: N tokens" as vLLM 0.28 logs it: ``int(concurrency x context)``."""
        return int(self.max_concurrency(budget, context) * context)


class GroupedPages(BlockPool):
    """A pool of one page size: each group holds ``group_size`` tensors of ``page_bytes`` pages, and a block id takes
    a page in each (vLLM's ``get_num_blocks``); the hybrid and sliding layouts, not DeepSeek-V4's groups of pages of
    several sizes."""

    @property
    def block_bytes(self) -> int:
        """Bytes one block id takes: a page in each of the ``group_size`` tensors."""
        return self.page_bytes * self.group_size

    def num_blocks(self, budget: float) -> int:
        """Block ids in ``budget`` bytes (``get_num_blocks``: ``int(available // page // group_size)``)."""
        return max(int(budget // self.page_bytes // self.group_size), 0)


@dataclass(frozen=True)
class HybridPages(GroupedPages):
    """vLLM's paging of a hybrid on one GPU (module docstring); bytes and tokens."""

    attention_layers: int       # layers with a K/V cache
    state_layers: int           # layers with a constant state (a Falcon-H1 layer counts in both)
    token_bytes: int            # one token of one attention layer, one GPU (attn_page_size_1_token)
    state_bytes: int            # one state layer's state, one GPU (the Mamba page before padding)
    kernel_block: int           # the block size is a multiple of this
    block_size: int             # tokens an attention block holds
    group_size: int             # layers a group holds
    attention_groups: int
    state_groups: int
    mamba_cache_mode: str

    @property
    def page_bytes(self) -> int:
        """One page: ``block_size`` tokens of one attention layer, or one padded state."""
        return self.block_size * self.token_bytes

    @property
    def padding_pct(self) -> float:
        """What vLLM logs: the state page's padding, % of the state."""
        return 100 * (self.page_bytes - self.state_bytes) / self.state_bytes

    @property
    def groups(self) -> int:
        return self.attention_groups + self.state_groups

    @property
    def padding_layers(self) -> tuple[int, int]:
        """(attention, state) empty layers that fill the last group of each kind."""
        return (self.attention_groups * self.group_size - self.attention_layers,
                self.state_groups * self.group_size - self.state_layers)

    def blocks_per_request(self, context: int) -> int:
        """Block ids one request of ``context`` tokens holds: a block of ``block_size`` tokens in each attention
        group, one state page (two under "align") in each state group."""
        return (self.attention_groups * math.ceil(context / self.block_size)
                + self.state_groups * STATE_PAGES[self.mamba_cache_mode])

    def logged_tokens_legacy(self, budget: float, context: int) -> int:
        """The same line as vLLM 0.17-0.19 logged it: ``num_blocks // groups x`` the smallest group block size
        (a state group's block is ``context``, max_model_len, under "none", else ``block_size``)."""
        smallest = min(self.block_size, context) if self.mamba_cache_mode == "none" else self.block_size
        return self.num_blocks(budget) // self.groups * smallest

    def as_dict(self, budget: float, context: int) -> dict:
        return {"block_size": self.block_size, "kernel_block": self.kernel_block,
                "attention_token_bytes": self.token_bytes, "state_bytes": self.state_bytes,
                "page_bytes": self.page_bytes, "state_padding_pct": self.padding_pct,
                "attention_layers": self.attention_layers, "state_layers": self.state_layers,
                "group_size": self.group_size, "attention_groups": self.attention_groups,
                "state_groups": self.state_groups, "padding_layers": list(self.padding_layers),
                "mamba_cache_mode": self.mamba_cache_mode, "num_blocks": self.num_blocks(budget),
                "blocks_per_request": self.blocks_per_request(context),
                "max_concurrency": self.max_concurrency(budget, context),
                "kv_cache_tokens": self.logged_tokens(budget, context),
                "kv_cache_tokens_legacy": self.logged_tokens_legacy(budget, context)}


def is_hybrid(spec: ModelSpec) -> bool:
    """Attention layers with a K/V cache beside layers with a state: what vLLM pages as a hybrid."""
    kinds = [family(b).cache_parts(b).total > 0 for _, b, _ in layer_groups(spec)]
    return any(kinds) and not all(kinds)


def check_mamba_cache_mode(mode) -> str:
    """``mode`` checked: one of :data:`MAMBA_CACHE_MODES`; "all" refused with the reason."""
    if mode == "all":
        raise ArgError("mamba_cache_mode", "all (a state page every block, at blocks aligned to the Mamba-2 SSD "
                                           "chunk) is not modelled; use none or align")
    if mode not in MAMBA_CACHE_MODES:
        raise ArgError("mamba_cache_mode", f"must be one of {', '.join(MAMBA_CACHE_MODES)}, got {show(mode)}")
    return mode


def group_size(attention_layers: int, state_layers: int) -> int:
    """Layers of a group (``_get_kv_cache_groups_uniform_page_size``): the smaller count, or the larger where it is
    under :data:`GROUP_SPREAD` times the smaller (12 and 13 layers: groups of 13, one padding layer)."""
    small, large = sorted((attention_layers, state_layers))
    return large if large < small * GROUP_SPREAD else small


def hybrid_layers(spec: ModelSpec, parallel: Parallelism, kv_bits: float, kv_format: str | None = None,
                  ssm_bits: float | None = None) -> tuple[int, int, int, int]:
    """``(attention layers, bytes a token of one on one GPU, state layers, bytes a state of one on one GPU)`` of a
    hybrid, the two engines' common ground: attention K/V at ``kv_bits`` (or the ``kv_format`` layout), each GPU its
    heads' share (``Parallelism.kv_share``); states at ``dtypes.state``, the recurrent part at ``ssm_bits`` (None: the
    spec's ``dtypes.ssm_state``). Refused in one line: sliding, chunked or cross attention beside the state layers,
    two attention shapes, a spec that is not a hybrid."""
    if parallel.pp > 1:
        raise ArgError("pp", "a hybrid's engine pools are modelled on one pipeline stage")
    sbits = spec.dtypes.state_bits
    ssm = spec.dtypes.ssm_state_bits if ssm_bits is None else ssm_bits
    attention, state = [], []           # (layers, bytes a token / a state on one GPU) per block
    for count, b, rules in layer_groups(spec):
        fam = family(b)
        if fam.cache_parts(b).total > 0:
            if any(r.window is not None or r.chunk is not None or r.fixed is not None or r.shared for _, r in rules):
                raise SpecError("layer_types", f"engines' hybrid pools are modelled for full attention beside state "
                                               f"layers; {spec.name} also has sliding, chunked or cross layers")
            tok = fam.cache_bytes(b, "compressed", kv_bits, kv_format).scaled(
                parallel.kv_share(fam.kv_groups(b, "compressed"))).total
            attention.append((count, tok))
        else:
            state.append((count, fam.state_bytes_per_rank(b, sbits, ssm, parallel).total))
    if not attention or not state:
        raise SpecError("layer_types", f"{spec.name} is not a hybrid: it has "
                                       f"{'state layers' if state else 'attention layers'} alone")
    if len({t for _, t in attention}) > 1 or len({s for _, s in state}) > 1:
        raise SpecError("attention", f"{spec.name}: layers of one kind with two page sizes are not modelled")
    return (sum(n for n, _ in attention), int(math.ceil(attention[0][1])),
            sum(n for n, _ in state), int(math.ceil(state[0][1])))


def hybrid_pages(spec: ModelSpec, parallel: Parallelism, kv_bits: float, kv_format: str | None = None,
                 mamba_cache_mode: str = "none", block_size: int | None = None,
                 kernel_block: int = KERNEL_BLOCK) -> HybridPages:
    """vLLM's pages of hybrid ``spec`` on one GPU of ``parallel`` (module docstring): attention K/V at ``kv_bits``
    (or the ``kv_format`` layout), states at the spec's ``dtypes.state`` / ``dtypes.ssm_state`` (:func:`hybrid_layers`);
    ``block_size`` a block size given to vLLM (``--block-size``), which the alignment then takes (vLLM
    ``_align_hybrid_block_size``: ``max(kernel block, block_size)``)."""
    check_mamba_cache_mode(mamba_cache_mode)
    for name, value in (("block_size", block_size), ("kernel_block", kernel_block)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not
                                  1 <= value <= MAX_COUNT):
            raise ArgError(name, f"must be a whole number of at least 1, got {show(value)}")
    n_a, token, n_s, state_b = hybrid_layers(spec, parallel, kv_bits, kv_format)
    align = max(kernel_block, block_size or 0)
    block = align * math.ceil(state_b / (align * token))
    size = group_size(n_a, n_s)
    return HybridPages(attention_layers=n_a, state_layers=n_s, token_bytes=token, state_bytes=state_b,
                       kernel_block=align, block_size=block, group_size=size,
                       attention_groups=math.ceil(n_a / size), state_groups=math.ceil(n_s / size),
                       mamba_cache_mode=mamba_cache_mode)
