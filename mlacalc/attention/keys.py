"""Which keys a query attends at a layer: the one rule that KV sizing, the roofline and the profiler share.

A :class:`KeyRule` says how many keys the query at 0-based position ``p`` of a sequence attends, and so how many
tokens a layer's cache must hold. Today: causal attention over every earlier token, or capped by a sliding
window (Mistral; Gemma-2's local layers). A new pattern (chunked attention, top-k selection) is a new field here
and a branch in :meth:`KeyRule.keys`, nowhere else.

Layer pattern (spec fields ``attention.sliding_window`` and ``attention.global_every``): with a window, layer
``i`` (0-based) is global when ``global_every`` is set and ``(i + 1) % global_every == 0``, local otherwise.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..spec import ModelSpec


@dataclass(frozen=True)
class KeyRule:
    """Keys a query attends at one layer: all earlier tokens and itself, at most ``window`` (None: no cap)."""

    window: int | None = None

    def keys(self, position: int) -> int:
        """Keys the query at 0-based ``position`` attends."""
        n = position + 1
        return n if self.window is None else min(n, self.window)

    def held(self, context: int) -> int:
        """Tokens the layer's cache holds after ``context`` tokens (what the next query can still attend)."""
        return context if self.window is None else min(context, self.window)

    def pairs(self, prior: int, new: int) -> float:
        """(query, key) pairs of ``new`` queries at positions ``prior .. prior + new - 1``:
        ``sum_{t = prior+1}^{prior+new} min(t, window)`` in closed form."""
        a, b, w = prior + 1, prior + new, self.window
        if w is None or b <= w:
            return (a + b) * (b - a + 1) / 2
        if a > w:
            return (b - a + 1) * w
        return (a + w) * (w - a + 1) / 2 + (b - w) * w

    def read(self, prior: int, new: int) -> int:
        """Distinct keys some query of the step attends, each read once: ``min(prior + new, window + new - 1)``."""
        return prior + new if self.window is None else min(prior + new, self.window + new - 1)


def key_rule(spec: "ModelSpec", layer: int) -> KeyRule:
    """The :class:`KeyRule` of decoder layer ``layer`` (0-based); see the module docstring for the pattern."""
    a = spec.attention
    if a.sliding_window is None:
        return KeyRule()
    if a.global_every is not None and (layer + 1) % a.global_every == 0:
        return KeyRule()
    return KeyRule(window=a.sliding_window)


@functools.lru_cache(maxsize=512)
def layer_rules(spec: "ModelSpec") -> tuple[tuple[int, KeyRule], ...]:
    """(number of layers, rule) for each distinct rule, in first-seen order: a sum over layers in O(kinds).
    Cached per spec (specs are frozen), since sweeps ask it for every configuration."""
    counts: dict[KeyRule, int] = {}
    for layer in range(spec.num_layers):
        r = key_rule(spec, layer)
        counts[r] = counts.get(r, 0) + 1
    return tuple((n, r) for r, n in counts.items())


def tokens_held(spec: "ModelSpec", context: int, block_size: int | None = None) -> list[int]:
    """Tokens each layer holds for one sequence of ``context`` tokens, rounded up to whole blocks of
    ``block_size`` tokens when paged (vLLM's PagedAttention, arXiv 2309.06180)."""
    held = []
    for layer in range(spec.num_layers):
        n = key_rule(spec, layer).held(context)
        if block_size:
            n = math.ceil(n / block_size) * block_size
        held.append(n)
    return held


def attention_span(spec: "ModelSpec", prior: int, new: int) -> tuple[float, float]:
    """(attended pairs, keys read) per sequence for a step of ``new`` queries after ``prior`` cached tokens,
    summed over layers (:meth:`KeyRule.pairs`, :meth:`KeyRule.read`)."""
    pairs = keys = 0.0
    for n_layers, rule in layer_rules(spec):
        pairs += n_layers * rule.pairs(prior, new)
        keys += n_layers * rule.read(prior, new)
    return pairs, keys
