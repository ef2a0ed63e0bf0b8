"""The lightning indexer, shared by the families that run one: its key bytes, its two projections and its step costs.

A lightning indexer (deepseek-ai/DeepSeek-V3.2-Exp ``inference/model.py`` class ``Indexer``; transformers
``models/minimax_m3_vl/modular_minimax_m3_vl.py`` ``MiniMaxM3VLIndexer``) caches one key of ``d_I = index_head_dim``
values a token and layer, shared by its ``H_I = index_n_heads`` query heads; each query scores every visible key
with each head (``q_h . k``), and the scores pick what the attention core attends. The families differ in what they
add around this and in the key's bytes, so each keeps those: DSA (:mod:`.dsa`, and DeepSeek-V4's csa layers,
:mod:`.compressed`) fp8 keys with fp32 scales and a weighted sum of the heads (``weights_proj``); MSA (:mod:`.msa`)
bf16 keys and each head's scores kept apart (one head a K/V head's query group).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..costs import OpCost

if TYPE_CHECKING:
    from ..spec import Attention
    from .base import StepShape


def key_bytes(a: "Attention", default: float) -> float:
    """Bytes of indexer key per token (or compressed entry) and layer: ``attention.index_cache_bytes`` where the spec
    gives it, else the family's ``default``."""
    return default if a.index_cache_bytes is None else a.index_cache_bytes


def index_projections(a: "Attention", q_in: int, hidden: int) -> dict[str, int]:
    """Parameters (counts) of the indexer's query and key projections: ``index_q`` ``q_in x H_I d_I`` (DSA's
    ``wq_b`` from the query latent, MSA's ``index_q_proj`` from the hidden state) and ``index_k`` ``d x d_I`` (one key
    head: DSA's ``wk``, MSA's ``index_k_proj``). Norms and head weights are the family's own."""
    return {"index_q": q_in * a.index_n_heads * a.index_head_dim, "index_k": hidden * a.index_head_dim}


def score_op(s: "StepShape", pairs: float, keys: float, heads: float, dim: int, key_bytes: float, *,
             weighted: bool, kind: str) -> OpCost:
    """``indexer``: the scoring pass of one step on one GPU. ``pairs``: (query, key) pairs a sequence, summed over the
    group's layers; ``keys``: index keys read a sequence, summed over the layers (each visible key once: the queries
    of a sequence share one pass over its keys); ``heads``: the index heads on this GPU, of ``dim`` each.

    FLOPs ``2 heads dim`` a pair (one dot product a head), plus ``2 heads`` where the heads' scores are summed with
    per-head weights (``weighted``: DSA's and DeepSeek-V4's ``weights_proj``; MSA takes no sum, each head's scores
    choosing for its own query group). Bytes: each query's ``heads dim`` values (and its ``heads`` weights) in, every
    key's ``key_bytes`` once. Not counted: the scores an unfused top-k writes and reads, the top-k itself. ``kind``:
    the rate it runs at (``indexer``: fp8 where the GPU has it, DSA; ``attention``: the cache's bf16 rate, MSA)."""
    width = heads * (dim + 1) if weighted else heads * dim
    return OpCost("indexer", kind, flops=2 * s.seqs * pairs * width, act_bytes=s.tokens * s.layers * width * s.ab,
                  kv_bytes=s.seqs * keys * key_bytes, out_width=0, launches=s.layers)


def write_op(s: "StepShape", dim: int, key_bytes: float) -> OpCost:
    """``index_write``: each new token's key into the cache, a layer: its ``dim`` activations in and ``key_bytes``
    written (the whole key on every GPU: one head, replicated)."""
    return OpCost("index_write", "memory", act_bytes=s.tokens * dim * s.ab * s.layers,
                  kv_bytes=s.tokens * key_bytes * s.layers, launches=s.layers)
