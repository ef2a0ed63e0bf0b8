"""Which keys a query attends at a layer: the one rule that KV sizing, the roofline and the profiler share.

A :class:`KeyRule` says how many keys the query at 0-based position ``p`` of a sequence attends, and so how many
tokens a layer's cache must hold:

- **full** causal attention: every earlier token and itself, ``p + 1`` keys;
- **sliding** window ``w`` (Mistral, Gemma-2/3 local layers, gpt-oss): ``min(p + 1, w)`` keys, the window
  counting the query's own token, as HF's ``sliding_window`` and vLLM do; the cache holds ``min(C, w)``;
- **chunked** attention of chunk ``c`` (Llama-4's ``attention_chunk_size``): the tokens of the query's own chunk
  up to itself, ``(p mod c) + 1`` keys; the cache holds at most one chunk, ``min(C, c)`` tokens (what an engine
  must reserve as a sequence grows; the current chunk's ``((C - 1) mod c) + 1`` at a chunk boundary);
- **top-k** selection (DeepSeek Sparse Attention): each query attends ``min(visible, k)`` keys it selects; the
  cache still holds every visible token (the indexer chose among all of them);
- **cross** attention (Llama-3.2-Vision's cross-attention layers): every query attends the same ``N`` image
  tokens (``spec.image_tokens``, set by ``--image-tokens``), which is what the layer caches, whatever the context.
- **compressed** (DeepSeek-V4's csa and hca layers, :mod:`mlacalc.attention.compressed`): the query attends the
  sliding window's ``min(p + 1, w)`` raw tokens and, beside them, the ``floor((p + 1) / m)`` compressed entries the
  layer's compressor has closed so far (one per ``m`` tokens: DeepSeek-V4 ``inference/model.py``
  ``get_compress_topk_idxs``, ``arange((start_pos + 1) // ratio)``; transformers ``DeepseekV4HCACompressor`` closes
  a window of ``m`` tokens before the attention reads the pool), of which a csa layer's indexer picks ``topk``: the
  top-k caps the compressed entries, never the window (vLLM ``combine_topk_swa_indices``). The layer holds the
  window's raw rows and every closed entry (:meth:`KeyRule.entries`), which its family prices
  (:meth:`mlacalc.attention.base.AttentionFamily.sequence_bytes`);
- **shared** K/V (cross-layer attention, ``attention.kv_share_layers``: Hunyuan-Large's odd layers; trailing
  sharing, ``attention.kv_shared_tail``: Gemma-3n's last layers): the query attends the keys its rule says (a window
  on a sliding reader), from the cache its source layer wrote (:meth:`mlacalc.spec.ModelSpec.kv_source`); the layer
  itself holds none.

Which rule a layer has comes from :meth:`mlacalc.spec.ModelSpec.layer_type`; top-k is applied by the family
that selects (:mod:`mlacalc.attention.dsa`). Linear-attention layers attend no keys (their state is constant).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..spec import ModelSpec

NO_KV_LAYERS = ("linear", "ffn")    # layer types that cache no keys: a recurrent state, or no mixer at all


def _sum_min(a: int, b: int, w: int) -> float:
    """``sum_{t=a}^{b} min(t, w)`` in closed form (0 when b < a)."""
    if b < a:
        return 0.0
    if b <= w:
        return (a + b) * (b - a + 1) / 2
    if a > w:
        return (b - a + 1) * w
    return (a + w) * (w - a + 1) / 2 + (b - w) * w


def _floor_sum(n: int, m: int) -> int:
    """``sum_{t=1}^{n} floor(t / m)`` in closed form (0 for n < 1): with ``n = q m + r``, the full runs
    ``t = j m .. j m + m - 1`` add ``m j`` for ``j < q`` (``m q (q - 1) / 2``) and the last run ``t = q m .. n`` adds
    ``q (r + 1)``."""
    if n < 1:
        return 0
    q, r = divmod(n, m)
    return m * q * (q - 1) // 2 + q * (r + 1)


def sum_floor_min(a: int, b: int, m: int, cap: int | None) -> float:
    """``sum_{t=a}^{b} min(floor(t / m), cap)`` in closed form (0 when b < a; no cap when ``cap`` is None): the
    compressed entries closed at each of the query positions ``t - 1`` (1-based ``t``), each capped at the top-k."""
    if b < a:
        return 0.0

    def upto(n: int) -> int:              # sum_{t=1}^{n}
        if cap is None or n < cap * m:
            return _floor_sum(n, m)
        return _floor_sum(cap * m - 1, m) + cap * (n - cap * m + 1)
    return float(upto(b) - upto(a - 1))


@dataclass(frozen=True)
class KeyRule:
    """Keys a query attends at one layer (see the module docstring). ``None`` fields do not limit."""

    window: int | None = None
    chunk: int | None = None
    topk: int | None = None
    fixed: int | None = None        # cross-attention: every query attends the same ``fixed`` (image) tokens
    shared: bool = False            # reads the K/V cache another layer wrote (cross-layer attention): holds none
    compress: int | None = None     # DeepSeek-V4: one compressed entry per ``compress`` tokens beside the window

    def visible(self, position: int) -> int:
        """Keys the query at 0-based ``position`` may attend (before any top-k selection)."""
        if self.fixed is not None:
            return self.fixed
        n = position + 1
        if self.window is not None:
            n = min(n, self.window)
        if self.chunk is not None:
            n = position % self.chunk + 1
        if self.compress is not None:           # the window's raw tokens and the closed entries beside them
            n += (position + 1) // self.compress
        return n

    def keys(self, position: int) -> int:
        """Keys the query at 0-based ``position`` attends (a compressed rule's top-k caps its entries alone)."""
        if self.compress is not None:
            entries = (position + 1) // self.compress
            window = min(position + 1, self.window) if self.window is not None else position + 1
            return window + (entries if self.topk is None else min(entries, self.topk))
        n = self.visible(position)
        return n if self.topk is None else min(n, self.topk)

    def entries(self, context: int) -> int:
        """Compressed entries a compressed rule's layer holds for a sequence of ``context`` tokens, ``floor(C / m)``
        (the compressor closes one every ``m`` tokens; the last ``C mod m`` wait in its state); 0 for other rules."""
        return context // self.compress if self.compress is not None else 0

    def held(self, context: int) -> int:
        """Tokens the layer's cache holds for a sequence of ``context`` tokens (what an engine reserves): none for a
        layer that reads another layer's K/V."""
        if self.shared:
            return 0
        if self.fixed is not None:
            return self.fixed
        if self.window is not None:
            return min(context, self.window)
        if self.chunk is not None:
            return min(context, self.chunk)
        return context

    def held_paged(self, context: int, block_size: int | None) -> int:
        """Token slots the layer's cache holds for a sequence of ``context`` tokens in whole blocks of
        ``block_size`` (vLLM's PagedAttention, arXiv 2309.06180); :meth:`held` when not paged.

        A sliding window's ``w`` keys (the query's own token included) start anywhere inside a block, so as the
        sequence grows they span up to ``ceil((w - 1) / B) + 1`` blocks: vLLM's ``SlidingWindowManager``
        (``vllm/v1/core/single_type_kv_cache_manager.py``, ``remove_skipped_blocks``) frees only the blocks wholly
        before ``num_computed_tokens - w + 1``, the first kept block partly expired. Over the positions up to
        ``context`` the most it holds is ``min(ceil(C / B), ceil((w - 1) / B) + 1)`` blocks, what a sequence that
        reaches ``C`` needs reserved (gpt-oss, window 128, blocks of 16: 9 blocks, 144 slots, not 8). Other rules:
        their tokens rounded up to whole blocks."""
        if not block_size or self.shared:
            return self.held(context)
        if self.window is not None and self.fixed is None and self.chunk is None:
            blocks = min(-(-context // block_size), -(-(self.window - 1) // block_size) + 1)
            return blocks * block_size
        return -(-self.held(context) // block_size) * block_size

    def _visible_sum(self, prior: int, new: int, cap: int | None) -> float:
        """``sum`` of ``min(visible(p), cap)`` over positions ``prior .. prior + new - 1``, in closed form (a
        compressed rule: the window's keys uncapped plus its entries capped)."""
        first, last = prior + 1, prior + new                     # visible counts without a chunk: t = p + 1
        if self.compress is not None:
            w = last if self.window is None else min(self.window, last)
            return _sum_min(first, last, w) + sum_floor_min(first, last, self.compress, cap)
        if self.fixed is not None:
            return new * (self.fixed if cap is None else min(self.fixed, cap))
        if self.chunk is None:
            w = min(x for x in (self.window, cap, last) if x is not None)
            return _sum_min(first, last, w)
        c = self.chunk
        w = min(cap, c) if cap is not None else c
        total, p = 0.0, prior
        end = prior + new
        while p < end:                                           # one run per chunk the step touches
            start = p % c                                        # 0-based position inside the chunk
            run = min(c - start, end - p)
            total += _sum_min(start + 1, start + run, w)
            p += run
        return total

    def pairs(self, prior: int, new: int) -> float:
        """(query, key) pairs of ``new`` queries at positions ``prior .. prior + new - 1``."""
        return self._visible_sum(prior, new, self.topk)

    def slots(self, prior: int, new: int) -> float:
        """Index slots the ``new`` queries' kernel steps through: top-k rules hand it ``topk`` indices a query
        (DSA's indexer returns a fixed-width list, -1 past a short context: DeepSeek-V3.2's inference code, vLLM's
        sparse MLA backend), so ``new * topk``; other rules (a compressed rule too) their pairs."""
        if self.topk is not None and self.compress is None:
            return float(new * self.topk)
        return self.pairs(prior, new)

    def read(self, prior: int, new: int) -> float:
        """Keys read from the cache in the step. Dense: every key some query attends, once
        (``min(prior + new, window + new - 1)``, within the chunks the step touches). Top-k: each query gathers
        its own selected rows, so the pairs. Compressed: the window's keys once, and the entries as the cap says
        (every query its own top-k of them; without a top-k every entry closed by the step's end, once)."""
        if self.compress is not None:
            end = prior + new
            window = end if self.window is None else min(end, self.window + new - 1)
            if self.topk is None:
                return window + end // self.compress
            return window + sum_floor_min(prior + 1, end, self.compress, self.topk)
        if self.topk is not None:
            return self.pairs(prior, new)
        if self.fixed is not None:
            return self.fixed
        end = prior + new
        if self.chunk is not None:
            first_chunk_start = prior - prior % self.chunk
            return end - first_chunk_start
        if self.window is None:
            return end
        return min(end, self.window + new - 1)


def key_rule(spec: "ModelSpec", layer: int) -> KeyRule:
    """The :class:`KeyRule` of decoder layer ``layer`` (0-based), from its layer type; ``shared`` where the layer
    reads the K/V another layer cached (:meth:`mlacalc.spec.ModelSpec.owns_kv`), attending as its own type does: a
    sliding reader (Gemma-3n's shared sliding layers, ``sliding_window`` on the attention call of
    ``Gemma3nTextAttention``) its window of the sliding owner's cache, a full reader all of the full owner's."""
    t = spec.layer_type(layer)
    a = spec.attention
    shared = not spec.owns_kv(layer)      # full and sliding layers only (the spec refuses sharing elsewhere)
    if t == "sliding":
        return KeyRule(window=a.sliding_window, shared=shared)
    if t == "chunked":
        return KeyRule(chunk=a.chunk_size)
    if t == "cross":
        return KeyRule(fixed=spec.image_tokens)
    if t == "csa":        # DeepSeek-V4: the window, and the entries of m tokens its indexer picks top-k of
        return KeyRule(window=a.sliding_window, compress=a.csa_rate, topk=a.index_topk)
    if t == "hca":        # the window, and every entry of m' tokens
        return KeyRule(window=a.sliding_window, compress=a.hca_rate)
    return KeyRule(shared=shared)


@functools.lru_cache(maxsize=512)
def layer_rules(spec: "ModelSpec") -> tuple[tuple[int, KeyRule], ...]:
    """(number of layers, rule) of the attention layers (linear and ffn layers left out), per distinct rule in
    first-seen order: a sum over layers in O(kinds). Cached per spec (specs are frozen), since sweeps ask it for
    every configuration."""
    counts: dict[KeyRule, int] = {}
    for layer in range(spec.num_layers):
        if spec.layer_type(layer) in NO_KV_LAYERS:
            continue
        r = key_rule(spec, layer)
        counts[r] = counts.get(r, 0) + 1
    return tuple((n, r) for r, n in counts.items())


def tokens_held(spec: "ModelSpec", context: int, block_size: int | None = None) -> list[int]:
    """Tokens each layer's cache holds for one sequence of ``context`` tokens (0 for a linear or ffn layer), in whole
    blocks of ``block_size`` tokens when paged (:meth:`KeyRule.held_paged`: a window spans one block more)."""
    held = []
    for layer in range(spec.num_layers):
        kept = spec.layer_type(layer) not in NO_KV_LAYERS
        held.append(key_rule(spec, layer).held_paged(context, block_size) if kept else 0)
    return held


def attention_span(spec: "ModelSpec", prior: int, new: int) -> tuple[float, float]:
    """(attended pairs, keys read) per sequence for a step of ``new`` queries after ``prior`` cached tokens,
    summed over the attention layers (:meth:`KeyRule.pairs`, :meth:`KeyRule.read`)."""
    return rules_span(layer_rules(spec), prior, new)


def rules_span(rules: tuple[tuple[int, KeyRule], ...], prior: int, new: int) -> tuple[float, float]:
    """(pairs, keys read) per sequence over ``rules`` ((layers, rule) pairs)."""
    pairs = keys = 0.0
    for n_layers, rule in rules:
        pairs += n_layers * rule.pairs(prior, new)
        keys += n_layers * rule.read(prior, new)
    return pairs, keys
