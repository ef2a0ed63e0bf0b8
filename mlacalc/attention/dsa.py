"""DeepSeek Sparse Attention: MLA whose queries attend only the ``index_topk`` keys a lightning indexer selects.

DeepSeek-V3.2 (deepseek-ai/DeepSeek-V3.2-Exp ``inference/model.py``, class ``Indexer``; transformers
``deepseek_v32/modeling_deepseek_v32.py``) and GLM-5 (``glm_moe_dsa``). Per layer, besides everything MLA has
(:mod:`mlacalc.attention.mla`):

- **indexer weights**: ``wq_b: d_c' x H_I d_I`` (from the query latent), ``wk: d x d_I`` with a LayerNorm
  (weight and bias, ``2 d_I``), ``weights_proj: d x H_I`` (per-head weights of the scores), for ``H_I =
  index_n_heads`` heads of ``d_I = index_head_dim`` dims. Replicated over TP (every rank selects for all heads).
- **indexer cache**: one key of ``d_I`` dims per token, shared by the indexer heads, kept in fp8 e4m3 with one
  fp32 scale per 128 values: ``d_I + 4 ceil(d_I / 128)`` bytes (132 at 128 dims), whatever the MLA cache dtype
  (``index_cache_bytes`` overrides). Counted as the KV part ``indexer``.
- **cost of a step**: the indexer scores every visible key, ``2 H_I d_I`` FLOPs per (query, key) pair at fp8
  plus ``2 H_I`` for the weighted head sum, reading each visible key's indexer entry once; then the MLA core
  attends ``min(visible, index_topk)`` keys per query, each query gathering its selected latent rows
  (:class:`~mlacalc.attention.keys.KeyRule` with ``topk``).

``--kv-dtype fp8-ds`` (the FlashMLA sparse kernels' layout, ``csrc/sm90/decode/sparse_fp8``): per token and
layer 512 fp8 latent values, 4 fp32 scales (one per 128 values) and 64 bf16 RoPE values: 656 bytes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from ..costs import KVCache, OpCost, matmul
from ..errors import ArgError, SpecError
from .base import INDEX_FIELDS, AttentionOps, StepShape
from .indexer import index_projections, key_bytes, score_op, write_op
from .keys import rules_span
from .mla import MLA
from .quant import FP8_DS, SCALED

if TYPE_CHECKING:
    from ..spec import Attention, ModelSpec

SCALE_GROUP = 128            # values per fp32 scale in the fp8 layouts (indexer keys, fp8-ds latent)


def index_cache_bytes(a: "Attention") -> int:
    """Bytes of indexer key per token and layer: fp8 values plus one fp32 scale per 128 (or the override)."""
    return key_bytes(a, a.index_head_dim + 4 * math.ceil(a.index_head_dim / SCALE_GROUP))


class DSA(MLA):
    name = "dsa"
    kinds = ("dsa",)

    def label(self, a: "Attention") -> str:
        return f"DSA (MLA, top-{a.index_topk})"

    def default_form(self, phase: str) -> str:
        """Absorbed in both phases: each query reads only its top-k latent rows, so prefill stays in the latent space
        as decode does (FlashMLA's sparse prefill kernel, ``flash_mla_sparse_fwd``: q ``[s_q, h_q, 576]`` against kv
        ``[s_kv, 1, 576]``, d_v 512; vLLM's and SGLang's DeepSeek-V3.2 backends call it). Decompressing instead
        would expand every selected key per query and head (MLA's dense prefill decompresses each key once)."""
        return "absorbed"

    def validate(self, a: "Attention") -> None:
        super().validate(a)
        for f in INDEX_FIELDS[:3]:
            if getattr(a, f) is None:
                raise SpecError(f"attention.{f}", "is required for kind dsa")

    def cache_bytes(self, a: "Attention", cache: str, kv_bits: float, kv_format: str | None = None) -> KVCache:
        """The MLA cache at ``kv_bits`` (or the 656-byte fp8-ds layout) plus the indexer's key."""
        if kv_format is None:
            mla = self.cache_parts(a, cache).scaled(kv_bits / 8)
        elif kv_format in SCALED:
            # DSA's engines (FlashMLA's sparse kernels in vLLM and SGLang) read bf16 or fp8-ds rows; SGLang's NSA pool
            # takes no fp4 latent (its fp4 pool is dense MLA's)
            raise ArgError("kv_dtype", f"{kv_format}: DSA's sparse kernels read bf16 or fp8-ds rows; no engine keeps "
                                       f"a DSA cache in {kv_format}")
        elif kv_format == FP8_DS and cache == "compressed":
            scales = 4 * math.ceil(a.kv_lora_rank / SCALE_GROUP)
            mla = KVCache(latent=a.kv_lora_rank + scales, rope_key=2 * a.qk_rope_head_dim)
        else:  # on DSA an 8-bit cache is fp8-ds (mlacalc.kv.kv_storage), which has no naive form
            raise ArgError("kv_dtype", f"{kv_format} needs the compressed cache (on DSA an 8-bit cache is FlashMLA's "
                                       f"fp8-ds rows of latents, as vLLM keeps it)")
        return mla.plus(KVCache(indexer=index_cache_bytes(a)))

    def projections(self, a: "Attention", hidden: int) -> dict[str, int]:
        """MLA's plus the indexer's ``index_q`` (``wq_b``, from the query latent) and ``index_k`` (``wk``)
        (:func:`~mlacalc.attention.indexer.index_projections`), its key LayerNorm ``index_k_norm`` (weight and bias,
        ``2 d_I``) and ``index_weights`` (``weights_proj``, ``d x H_I``)."""
        return super().projections(a, hidden) | index_projections(a, a.q_lora_rank or hidden, hidden) | {
            "index_k_norm": 2 * a.index_head_dim, "index_weights": hidden * a.index_n_heads}

    def projection_split(self, a: "Attention", name: str) -> str:
        return "replicated" if name.startswith("index_") else super().projection_split(a, name)

    def never_quantized(self, a: "Attention") -> frozenset:
        """The indexer's ``weights_proj`` (``index_weights``) and its key LayerNorm (``index_k_norm``): bf16 in the
        fp8 checkpoints, where ``wq_b`` and ``wk`` are fp8 with a ``weight_scale_inv`` each. DeepSeek-V3.2-Exp
        ``inference/model.py`` ``Indexer``: ``wq_b`` and ``wk`` are ``Linear`` at the model's fp8 default, and
        "weights_proj in the checkpoint is stored in bf16" (held as ``Linear(dim, n_heads, dtype=torch.float32)``);
        ``k_norm`` a ``LayerNorm``, no Linear, never fp8. SGLang ``nsa_indexer.py`` and vLLM ``deepseek_v2.py`` build
        ``weights_proj`` with no quant_config ("weight_proj is not quantized"); SGLang PR 17205: "weights_proj is
        stored in BF16 precision in Hugging-Face". GLM-5's fp8 checkpoint lists ``indexer.weights_proj.weight`` and
        ``indexer.k_norm.{weight,bias}`` in bf16 without scales beside fp8 ``wq_b`` / ``wk`` with
        ``weight_scale_inv`` (a public weight inventory: code corpus file id 56970957992)."""
        return frozenset({"index_weights", "index_k_norm"})

    def attention_ops(self, spec: "ModelSpec", s: StepShape) -> AttentionOps:
        """The indexer's projections, its scoring pass over every visible key and its cache write, then MLA over
        the selected keys."""
        a, d, L, Ta = s.block, spec.hidden_size, s.layers, s.tokens
        ih, idim, ib = a.index_n_heads, a.index_head_dim, index_cache_bytes(a)
        pairs, keys = rules_span(s.rules, s.prior, s.new)           # dense: every visible key
        q_in = a.q_lora_rank or d
        # wk (index_k) and weights_proj (index_weights, bf16 in every quantized checkpoint: never_quantized) each at
        # its own width
        ops = [matmul("index_proj", Ta, q_in, ih * idim, s.w("index_q"), s.ab, L),
               matmul("index_proj", Ta, d, idim + ih, 0, s.ab, L,
                      extra_weight=d * (idim * s.w("index_k") + ih * s.w("index_weights"))),
               score_op(s, pairs, keys, ih, idim, ib, weighted=True, kind="indexer"), write_op(s, idim, ib)]
        sparse = self.core_rules(a, s.rules)
        mla = super().attention_ops(spec, s._replace(rules=sparse))
        return AttentionOps(_merge(tuple(ops)) + mla.ops, mla.norm_width, mla.norm_count)

    def core_rules(self, a: "Attention", rules: tuple) -> tuple:
        return tuple((n, replace(r, topk=a.index_topk)) for n, r in rules)

    def check_training(self, spec: "ModelSpec") -> None:
        raise SpecError("attention.kind", "training memory of DSA (its lightning indexer's activations and "
                                          "loss) is not modelled")


def _merge(ops: tuple[OpCost, ...]) -> tuple[OpCost, ...]:
    """Ops of the same name summed into one (the indexer's two projections are one row)."""
    out: dict[str, OpCost] = {}
    for o in ops:
        if o.name in out:
            p = out[o.name]
            out[o.name] = p._replace(flops=p.flops + o.flops, weight_bytes=p.weight_bytes + o.weight_bytes,
                                     act_bytes=p.act_bytes + o.act_bytes, kv_bytes=p.kv_bytes + o.kv_bytes,
                                     comm_bytes=p.comm_bytes + o.comm_bytes, out_width=p.out_width + o.out_width,
                                     launches=p.launches + o.launches, exps=p.exps + o.exps)
        else:
            out[o.name] = o
    return tuple(out.values())


DSA_FAMILY = DSA()
