"""Attention families as plug-ins: one module per family behind one interface (:mod:`.base`).

``family(block)`` returns the family object of an attention block (``spec.attention``, or
``spec.linear_attention`` for the linear layers of a hybrid); :func:`layer_groups` says which block and which
key rule each layer has. Every calculator (KV, weights, roofline, training activations, the profiler's
predictions) asks these, and none tests the attention kind itself. Which keys a query attends at a layer
(windows, chunks, top-k) is answered once, by :mod:`.keys`; what a lightning indexer costs (its key bytes, query and
key projections, scoring pass and cache write), by :mod:`.indexer` for every family that runs one (DSA, DeepSeek-V4's
csa layers, MSA).

Families:

- :mod:`.conventional`: MHA, MQA, GQA (KV-shared heads, partial RoPE, q/k/v/o biases, q/k norms, sinks, gates);
- :mod:`.mla`: Multi-head Latent Attention (latent cache, decoupled RoPE key, absorbed and decompressed forms);
- :mod:`.dsa`: DeepSeek Sparse Attention (MLA plus a lightning indexer and top-k selection);
- :mod:`.compressed`: DeepSeek-V4's compressed attention (shared-KV MQA over a sliding window and entries of ``m``
  tokens: csa layers with an indexer's top-k, hca layers whole), one block a layer type;
- :mod:`.msa`: MiniMax Sparse Attention (GQA plus a lightning indexer choosing top-k key blocks; MiniMax-M3);
- :mod:`.linear`: Gated DeltaNet and Kimi Delta Attention (constant recurrent and convolution state);
- :mod:`.mamba2`: Mamba-2's state-space layers, the linear family's shape under the state-space duality;
- :mod:`.mamba1`: Mamba-1's selective state-space layers (Jamba, Falcon-Mamba, Mamba), Mamba-2's block with one
  channel a head;
- :mod:`.lightning`: lightning attention (MiniMax-Text-01, MiniMax-M1), a linear attention with one ``d x d``
  state a head and no convolution;
- :mod:`.short_conv`: LFM2's gated short convolutions (LFM2, LFM2-MoE), no recurrent state, only the convolution's
  last inputs.

How to add a family:

1. Write ``mlacalc/attention/<name>.py`` with a subclass of :class:`~.base.AttentionFamily` (or of an existing
   family, for a variant: DSA is MLA plus an indexer) implementing ``cache_parts`` (and ``cache_bytes`` /
   ``state_bytes`` when parts are stored at their own width), ``kv_groups``, ``projections``,
   ``projection_split``, ``attention_ops``, ``core_dims``, ``core_cache_elements``, and for training
   ``attended_kv_heads`` and ``projection_tensors`` (a linear-attention block: ``saved_tensors`` and
   ``backward_phases`` of its own, :mod:`.linear`; or ``check_training`` to refuse); ``validate`` for its
   spec fields; docstrings citing the paper or config each formula comes from.
2. Register it in :data:`FAMILIES` below, and add its spec fields to :mod:`mlacalc.spec`.
3. Add tests that work its numbers out by hand (KV bytes per token, parameters, a roofline op), and property
   tests of its invariants. A new per-layer key pattern goes in :mod:`.keys` instead.

DSA, the linear family, Mamba-2, Mamba-1, lightning attention, short convolutions, DeepSeek-V4's compressed
attention and MSA were added this way: one module each, spec fields, and their tests.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from ..errors import ArgError, SpecError
from .base import AttentionFamily, AttentionOps, StepShape, divide
from .compressed import COMPRESSED_FAMILY
from .conventional import CONVENTIONAL
from .dsa import DSA_FAMILY
from .keys import KeyRule, attention_span, key_rule, layer_rules, rules_span, tokens_held
from .lightning import LIGHTNING_FAMILY
from .linear import LINEAR_FAMILY
from .mamba1 import MAMBA1_FAMILY
from .mamba2 import MAMBA2_FAMILY
from .mla import MLA_FAMILY
from .msa import MSA_FAMILY
from .short_conv import SHORT_CONV_FAMILY

if TYPE_CHECKING:
    from ..spec import ModelSpec

# blocks of spec.linear_attention
LINEAR_FAMILIES = (LINEAR_FAMILY, MAMBA2_FAMILY, MAMBA1_FAMILY, LIGHTNING_FAMILY, SHORT_CONV_FAMILY)
FAMILIES: dict[str, AttentionFamily] = {kind: fam for fam in (CONVENTIONAL, MLA_FAMILY, DSA_FAMILY, COMPRESSED_FAMILY,
                                                               MSA_FAMILY, *LINEAR_FAMILIES)
                                        for kind in fam.kinds}
KINDS = tuple(k for k in FAMILIES if all(k not in f.kinds for f in LINEAR_FAMILIES))   # of spec.attention


def family(block) -> AttentionFamily:
    """The family of an attention block (or of a kind name)."""
    kind = block if isinstance(block, str) else block.kind
    return FAMILIES[kind]


def layer_block(spec: "ModelSpec", layer: int):
    """The attention block of decoder layer ``layer``: ``spec.linear_attention`` on linear layers, none on the
    ``ffn`` layers of a one-block-per-layer model (no mixer), else its softmax-attention block
    (:meth:`~mlacalc.spec.ModelSpec.attention_block`): the block of its own heads where ``attention.layer_heads``
    gives them (OpenELM), ``spec.sliding_attention`` on sliding layers (the full block unless
    ``attention.sliding_shape`` gives them their own heads), else ``spec.attention``."""
    t = spec.layer_type(layer)
    if t == "ffn":
        return None
    return spec.linear_attention if t == "linear" else spec.attention_block(layer)


def parallel_block(spec: "ModelSpec", layer: int):
    """The linear block decoder layer ``layer`` runs beside its attention (``spec.parallel_mixers``: Falcon-H1's
    Mamba-2, transformers ``FalconH1DecoderLayer``: ``self.mamba`` and ``self.self_attn`` on the same normed input,
    their scaled outputs summed), or None: every other layer holds :func:`layer_block` alone."""
    return spec.linear_attention if spec.parallel_mixers and layer_block(spec, layer) is not None else None


def layer_blocks(spec: "ModelSpec", layer: int) -> tuple:
    """Every mixer block of decoder layer ``layer``: :func:`layer_block` (none on an ``ffn`` layer) and
    :func:`parallel_block` where there is one. A sum over a layer's mixers (weights, state) is a sum over these."""
    return tuple(b for b in (layer_block(spec, layer), parallel_block(spec, layer)) if b is not None)


@functools.lru_cache(maxsize=512)
def layer_groups(spec: "ModelSpec") -> tuple[tuple[int, object, tuple], ...]:
    """The layers grouped by block: ``(layers, block, ((count, KeyRule), ...))`` per block in first-seen order
    (linear layers have no rules; ``ffn`` layers, which have no attention block, are left out; with parallel mixers
    the linear blocks beside the attention are a last group of their own, so that a layer is in two groups). A sum
    over layers' attention is a sum over these groups. Layers that read another layer's K/V (``KeyRule.shared``: cross-layer
    attention) are a group of their own, so that each group either writes K/V on every layer or on none."""
    groups: dict[tuple, list] = {}
    for layer in range(spec.num_layers):
        b = layer_block(spec, layer)
        if b is None:
            continue
        # cross layers project no K/V from the text; a cross-layer reader (attention.kv_share_layers) none at all
        key = (id(b), spec.layer_type(layer) == "cross", spec.owns_kv(layer))
        groups.setdefault(key, []).append(layer)
    out = []
    for layers in groups.values():
        b = layer_block(spec, layers[0])
        counts: dict[KeyRule, int] = {}
        if b is not spec.linear_attention:
            for i in layers:
                r = key_rule(spec, i)
                counts[r] = counts.get(r, 0) + 1
        out.append((len(layers), b, tuple((n, r) for r, n in counts.items())))
    beside = sum(parallel_block(spec, layer) is not None for layer in range(spec.num_layers))
    if beside:       # parallel mixers: the linear block of every layer, a group of its own (no keys, a state each)
        out.append((beside, spec.linear_attention, ()))
    return tuple(out)


def blocks(spec: "ModelSpec") -> tuple:
    """The distinct attention blocks the spec's layers use."""
    out = []
    for _, b, _ in layer_groups(spec):
        if all(b is not x for x in out):
            out.append(b)
    return tuple(out)


def check_kv_layout(attention_blocks, kv_format: str | None, cache: str = "compressed",
                    field: str = "dtypes.kv") -> None:
    """Refuse, as a :class:`SpecError` naming ``field``, a KV cache layout (:mod:`.quant`) that one of
    ``attention_blocks`` has none of: the refusals ``--kv-dtype`` meets in the family's :meth:`cache_bytes` (int4/int8
    and nvfp4 on an MLA latent, scaled layouts on DSA, fp8-ds off DSA), for a layout a spec's ``dtypes.kv`` names.
    Linear-attention blocks cache nothing per token and take any."""
    if kv_format is None:
        return
    for b in attention_blocks:
        try:
            family(b).cache_bytes(b, cache, 8, kv_format)
        except ArgError as e:
            if e.argument != "kv_dtype":
                raise
            raise SpecError(field, e.message) from None


def pattern(spec: "ModelSpec") -> str:
    """The attention layers in words, e.g. ``"12 GQA-2 + 36 Gated DeltaNet"`` or ``"18 GQA-8 sliding-128 +
    18 GQA-8"``: each family's label with the layer type's qualifier, counted (``ffn`` layers hold none); layers that
    read another layer's K/V (cross-layer attention) are ``shared-KV`` (``32 GQA-8 + 32 GQA-8 shared-KV``)."""
    counts: dict[str, int] = {}
    a = spec.attention
    for layer in range(spec.num_layers):
        t = spec.layer_type(layer)
        b = layer_block(spec, layer)
        if b is None:
            continue
        q = {"sliding": f" sliding-{a.sliding_window}", "chunked": f" chunked-{a.chunk_size}"}.get(t, "") \
            if t in ("sliding", "chunked") else " cross" if t == "cross" else ""
        key = family(b).label(b) + q + ("" if spec.owns_kv(layer) else " shared-KV")
        beside = parallel_block(spec, layer)
        if beside is not None:                  # Falcon-H1-7B: "44 GQA-2 and Mamba-2 in parallel"
            key += f" and {family(beside).label(beside)} in parallel"
        counts[key] = counts.get(key, 0) + 1
    return " + ".join(f"{n} {k}" for k, n in counts.items())


__all__ = ["AttentionFamily", "AttentionOps", "FAMILIES", "KINDS", "KeyRule", "StepShape", "attention_span",
           "blocks", "check_kv_layout", "divide", "family", "key_rule", "pattern", "layer_block", "layer_blocks",
           "layer_groups", "parallel_block",
           "layer_rules", "rules_span", "tokens_held"]
