"""Attention families as plug-ins: one module per family behind one interface (:mod:`.base`).

``family(attn)`` returns the family object for a spec's attention block; every calculator (KV, weights,
roofline, training activations, the profiler's predictions) asks it, and none tests the attention kind itself.
Which keys a query attends at a layer (windows today) is answered once, by :mod:`.keys`.

Families:

- :mod:`.conventional`: MHA, MQA, GQA (KV-shared heads, partial RoPE, q/k/v biases, q/k norms);
- :mod:`.mla`: Multi-head Latent Attention (latent cache, decoupled RoPE key, absorbed and decompressed forms).

How to add a family (e.g. DeepSeek Sparse Attention, or a linear-attention layer):

1. Write ``mlacalc/attention/<name>.py`` with a subclass of :class:`~.base.AttentionFamily` (or of an existing
   family, for a variant: DSA is MLA plus an indexer) implementing ``cache_parts``, ``kv_groups``,
   ``projections``, ``projection_split``, ``attention_ops``, ``core_dims``, ``core_cache_elements``,
   ``attended_kv_heads`` and ``projection_tensors``; ``normalise``/``validate`` for its spec fields; docstrings
   citing the paper or config each formula comes from.
2. Register its kinds in :data:`FAMILIES` below, and add its spec fields to :class:`mlacalc.spec.Attention`.
3. Add tests that work its numbers out by hand (KV bytes per token, parameters, a roofline op), and property
   tests of its invariants. A new per-layer key pattern (chunks, top-k) goes in :mod:`.keys` instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import AttentionFamily, AttentionOps, StepShape, divide
from .conventional import CONVENTIONAL
from .keys import KeyRule, attention_span, key_rule, layer_rules, tokens_held
from .mla import MLA_FAMILY

if TYPE_CHECKING:
    from ..spec import Attention

FAMILIES: dict[str, AttentionFamily] = {kind: fam for fam in (CONVENTIONAL, MLA_FAMILY) for kind in fam.kinds}
KINDS = tuple(FAMILIES)


def family(attn: "Attention | str") -> AttentionFamily:
    """The family of an attention block (or of a kind name)."""
    kind = attn if isinstance(attn, str) else attn.kind
    return FAMILIES[kind]


__all__ = ["AttentionFamily", "AttentionOps", "FAMILIES", "KINDS", "KeyRule", "StepShape", "attention_span",
           "divide", "family", "key_rule", "layer_rules", "tokens_held"]
