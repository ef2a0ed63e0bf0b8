"""Conventional attention: MHA, MQA and GQA, with KV-shared heads, partial RoPE, q/k/v biases and q/k norms.

Per layer, for ``H`` query heads and ``H_kv`` key/value heads (MHA: ``H_kv = H``; MQA: 1; GQA: ``H / H_kv``
query heads per group):

- **cache** per token: K ``H_kv (d_nope + d_rope)`` plus V ``H_kv d_v`` elements; with ``kv_shared`` no V (the
  value is the first ``d_v`` dims of the cached key: the KV-shared variants of the reference notes).
- **weights** (HF transformers' Llama/Mistral/Qwen2/Qwen3 modeling files): ``W_q: d x H d_qk``,
  ``W_k: d x H_kv d_qk``, ``W_v: d x H_kv d_v`` (none when ``kv_shared`` or ``v_from_k``), ``W_o: H d_v x d``;
  q/k/v biases
  (Qwen2); per-head q/k RMSNorm weights (Qwen3). TP splits q and o by query heads, k and v like the KV heads
  (replicated when there are fewer KV heads than ranks); the q/k norm weights are replicated.
- **low-rank query** (``q_lora_rank`` r; Step-3's multi-matrix factorisation attention, MFA, arXiv 2507.19427
  section 3; vLLM ``step3_text.py`` ``Step3TextAttention``): ``q_proj`` ``d x r`` (``q_down``, in vLLM's
  ReplicatedLinear: every rank holds it whole), the RMSNorm ``inter_norm`` of ``r`` (``q_norm``), ``wq``
  ``r x H d_qk`` (``q_up``, split by heads) in place of ``W_q``: ``d r + r + r H d_qk`` parameters, ``2 T (d r +
  r H d_qk)`` FLOPs. The cache is untouched: Step-3's one K/V head of 256 is MQA's.
- **head-wise output gate** (``head_gate``; Step-3.5-Flash, vLLM ``step3p5.py`` ``Step3p5Attention``: ``g_proj`` a
  ColumnParallelLinear ``d x H``, ``attn_out * sigmoid(g)`` one scalar a head): ``d H`` parameters split by heads,
  ``2 T d H`` FLOPs in the projection GEMM.
- **values from keys** (``v_from_k``; Gemma-4's ``attention_k_eq_v`` full layers, transformers
  ``Gemma4TextAttention``: ``v_proj`` None, ``value_states = v_norm(k_proj(x))``, a norm without weights): no ``W_v``
  and no v bias; the cache keeps V beside K (transformers' DynamicCache stores ``value_states``, vLLM's Attention
  writes K and V; vLLM builds the layer's ``qkv_proj`` with a V half and loads ``k_proj`` into it, a copy the
  checkpoint does not hold and this count leaves out).
- **training** (:meth:`Conventional.projection_tensors`): q/k norms and a value norm (``v_norm``, Gemma-4's weightless
  one) keep their inputs and rstd a head; under ``v_from_k`` the value norm's input is the key norm's, kept once. A
  block wider than FlashAttention's 256 keeps K/V at every query head (:meth:`Conventional.kernel_expands_kv`).
- **roofline**: one fused ``qkv_proj`` GEMM (with a low-rank query: ``q_down`` then ``q_up`` beside a ``kv`` GEMM;
  with ``v_from_k`` no V columns), the cache write, then the core over the cached K/V (``d_k = d_qk``, ``d_v``),
  reading each attended key's K and V once at the KV dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..costs import ACT_BYTES, FP32_BYTES, KVCache, OpCost, SavedTensor, matmul
from ..errors import ArgError, SpecError
from .base import COMPRESSED_FIELDS, AttentionFamily, AttentionOps, StepShape, refuse_fields, refuse_index_fields
from .quant import head_rows_bytes

if TYPE_CHECKING:
    from ..parallel import Parallelism
    from ..spec import Attention, ModelSpec


# the widest head FlashAttention-2 and -3 run (and train): head_dim_qk <= 256 (flash-attn's "FlashAttention forward only
# supports head dimension at most 256"; NVIDIA TransformerEngine's backend check, issue 3006)
FLASH_MAX_HEAD_DIM = 256


def heads_kind(heads: int, kv_heads: int) -> str:
    """The conventional kind ``heads`` query heads over ``kv_heads`` K/V heads make: ``mha`` (one K/V head a query
    head), ``mqa`` (one K/V head), else ``gqa``."""
    return "mha" if kv_heads == heads else "mqa" if kv_heads == 1 else "gqa"


class Conventional(AttentionFamily):
    name = "conventional"
    kinds = ("mha", "mqa", "gqa")
    kernel = "gqa"

    def normalise(self, raw: dict) -> dict:
        """KV heads default from the kind: MHA one per query head, MQA one."""
        if "num_kv_heads" not in raw and "num_heads" in raw:
            if raw.get("kind") == "mha":
                raw["num_kv_heads"] = raw["num_heads"]
            elif raw.get("kind") == "mqa":
                raw["num_kv_heads"] = 1
        return raw

    def validate(self, a: "Attention") -> None:
        if a.kind == "mha" and a.num_kv_heads != a.num_heads:
            raise SpecError("attention.num_kv_heads", f"mha needs num_kv_heads == num_heads ({a.num_heads}); "
                            "use kind: gqa")
        if a.kind == "mqa" and a.num_kv_heads != 1:
            raise SpecError("attention.num_kv_heads", "mqa needs num_kv_heads == 1")
        refuse_fields(a, ("kv_lora_rank",), "mla")
        refuse_index_fields(a)
        self.check_values(a)

    def check_values(self, a: "Attention") -> None:
        """The rules of K/V heads every conventional kind shares (MSA's too): DeepSeek-V4's fields refused, a shared
        K=V no wider than the key, ``v_from_k``'s V the key projection's output."""
        refuse_fields(a, COMPRESSED_FIELDS, "compressed")
        if a.kv_shared and a.v_head_dim > a.qk_head_dim:
            raise SpecError("attention.v_head_dim", f"with kv_shared the value is part of the key, so it cannot "
                            f"exceed the key head dim ({a.qk_head_dim})")
        if a.v_from_k and a.kv_shared:
            raise SpecError("attention.v_from_k", "and kv_shared both set: v_from_k caches V apart from K (computed "
                                                  "from the key projection), kv_shared caches no V; give one")
        if a.v_from_k and a.v_head_dim != a.qk_head_dim:
            raise SpecError("attention.v_from_k", f"the value is the key projection's output, so v_head_dim "
                                                  f"({a.v_head_dim}) must be the key head dim ({a.qk_head_dim})")

    def label(self, a: "Attention") -> str:
        return "MHA" if a.kind == "mha" else "MQA" if a.kind == "mqa" else f"GQA-{a.num_kv_heads}"

    # --- KV ---------------------------------------------------------------------------------------------------

    def cache_parts(self, a: "Attention", cache: str = "compressed") -> KVCache:
        """K ``H_kv d_qk`` and V ``H_kv d_v`` (no V with ``kv_shared``). ``cache`` makes no difference: a
        conventional cache is already per head."""
        self.check_cache(cache)
        k = a.num_kv_heads * a.qk_head_dim
        v = 0 if a.kv_shared else a.num_kv_heads * a.v_head_dim
        return KVCache(k=k, v=v)

    def kv_groups(self, a: "Attention", cache: str = "compressed") -> int:
        return a.num_kv_heads

    def scaled_cache_bytes(self, a: "Attention", cache: str, fmt: str) -> KVCache:
        """Bytes per token and layer in a scaled layout (:mod:`mlacalc.attention.quant`): K and V as one row a KV
        head each, their values at the layout's bits and their scales (LMDeploy int4/int8: scale and zero, 4 B a
        row; SGLang fp4: 1 B per 16 values) in ``scales``."""
        self.check_cache(cache)
        k, k_scales = head_rows_bytes(a.num_kv_heads, a.qk_head_dim, fmt)
        v, v_scales = head_rows_bytes(0 if a.kv_shared else a.num_kv_heads, a.v_head_dim, fmt)
        return KVCache(k=k, v=v, scales=k_scales + v_scales)

    # --- weights ----------------------------------------------------------------------------------------------

    def projections(self, a: "Attention", hidden: int) -> dict[str, int]:
        """Parameters (counts) by projection (HF ``LlamaAttention``, ``Qwen2Attention``, ``Qwen3Attention``):
        ``q`` ``d x H d_qk`` (twice as wide with an output gate, Qwen3-Next), or with a low-rank query ``q_down``
        ``d x r``, ``q_norm`` ``r`` and ``q_up`` ``r x H d_qk`` (Step-3's ``q_proj``, ``inter_norm``, ``wq``);
        ``k`` ``d x H_kv d_qk``, ``v`` ``d x H_kv d_v`` (0 with ``kv_shared`` or ``v_from_k``), ``o`` ``H d_v x d``;
        q/k/v biases (no v bias without a v projection),
        an ``o`` bias, the per-head q/k norms (``2 d_qk``), a head-wise gate ``g`` ``d x H`` (Step-3.5's
        ``g_proj``) and one sink a head (gpt-oss) where the spec has them."""
        d = hidden
        q_out, k_out = a.num_heads * a.qk_head_dim, a.num_kv_heads * a.qk_head_dim
        v_out = 0 if a.kv_shared or a.v_from_k else a.num_kv_heads * a.v_head_dim
        gate = q_out if a.output_gate else 0          # Qwen3-Next: q_proj also emits the output gate
        r = a.q_lora_rank
        q = {"q_down": d * r, "q_norm": r, "q_up": r * (q_out + gate)} if r else {"q": d * (q_out + gate)}
        parts = q | {"k": d * k_out, "v": d * v_out, "o": a.num_heads * a.v_head_dim * d}
        if a.head_gate:
            parts["g"] = d * a.num_heads
        if a.qkv_bias:
            parts["qkv_bias"] = q_out + k_out + v_out
        if a.o_bias:
            parts["o_bias"] = d
        if a.qk_norm:
            parts["qk_norm"] = 2 * a.qk_head_dim
        if a.sinks:
            parts["sinks"] = a.num_heads
        return parts

    def shared_kv_projections(self, a: "Attention", hidden: int) -> dict[str, int]:
        """A layer that reads the K/V of its cross-layer group's first layer (``attention.kv_share_layers``): no
        ``k`` and ``v`` projections and no k/v biases; its ``q``, ``o``, q bias, o bias, sinks and its own q/k norms
        stay. Tencent's ``modeling_hunyuan.py`` (sunyanguomt/Tencent-Hunyuan-Large ``models/modeling_hunyuan.py``,
        ``HunYuanAttention``: ``k_proj``/``v_proj`` built only ``if self.attention_type == 'self'``,
        ``query_layernorm``/``key_layernorm`` on every layer) and vLLM's ``HunYuanCrossAttention``
        (``vllm/model_executor/models/hunyuan_v1.py``: ``q_proj``, ``o_proj``, ``query_layernorm``,
        ``key_layernorm``, the key norm applied to the shared key)."""
        parts = self.projections(a, hidden)
        parts["k"] = parts["v"] = 0
        if a.qkv_bias:
            parts["qkv_bias"] = a.num_heads * a.qk_head_dim
        return parts

    def projection_split(self, a: "Attention", name: str) -> str:
        """``k``, ``v`` like the KV heads; the q/k norms, the ``o`` bias and a low-rank query's ``q_down`` and
        ``q_norm`` replicated (vLLM ``Step3TextAttention``: ``qkv_proj`` is a ReplicatedLinear, ``inter_norm`` whole
        on every rank); the rest by query heads (``wq`` and ``g_proj`` ColumnParallelLinear, ``o_proj`` row-parallel)."""
        return {"k": "kv", "v": "kv", "qk_norm": "replicated", "o_bias": "replicated", "q_down": "replicated",
                "q_norm": "replicated"}.get(name, "heads")

    def projections_per_rank(self, a: "Attention", hidden: int, par: "Parallelism",
                             owns_kv: bool = True) -> dict[str, float]:
        """:meth:`AttentionFamily.projections_per_rank`, but for the q/k/v bias (a count on one GPU): its q part
        splits with the query heads, its k and v parts follow the K/V heads as the k and v weights do. vLLM's
        ``QKVParallelLinear`` gives each rank ``(H / tp + 2 max(1, H_kv / tp)) x head_dim`` outputs, bias included,
        so with fewer K/V heads than ranks each rank holds whole K/V heads' biases (StarCoder's one K/V head at
        TP 2: 2 x 128 a layer on each rank, not 256 / 2)."""
        out = super().projections_per_rank(a, hidden, par, owns_kv)
        if a.qkv_bias and owns_kv:          # a reader's bias is its q part alone (shared_kv_projections)
            q = a.num_heads * a.qk_head_dim
            kv = a.num_kv_heads * a.qk_head_dim + (0 if a.kv_shared or a.v_from_k else a.num_kv_heads * a.v_head_dim)
            out["qkv_bias"] = q / par.attention_tp + kv * par.kv_share(self.kv_groups(a))
        return out

    # --- roofline ---------------------------------------------------------------------------------------------

    def core_dims(self, a: "Attention", form: str | None) -> tuple[int, int]:
        """(key, value) dims per head as the core sees them: ``(d_qk, d_v)``."""
        return a.qk_head_dim, a.v_head_dim

    def core_cache_elements(self, a: "Attention", form: str | None) -> float:
        """Cache elements per key the core reads: the whole K and V of the token (:meth:`cache_parts`)."""
        return self.cache_parts(a).total

    def attention_ops(self, spec: "ModelSpec", s: StepShape) -> AttentionOps:
        """``qkv_proj`` ``2 T d (H d_qk + H_kv (d_qk + d_v))`` (this GPU's heads), the cache write, the core.

        Layers that read another layer's K/V (``KeyRule.shared``, cross-layer attention) project queries only
        (``2 T d H d_qk``) and write nothing; their core reads the shared cache as any layer reads its own, so each
        attending layer still streams the keys it attends. A cross layer's K/V come from the image tokens, once."""
        a, d, L = s.block, spec.hidden_size, s.layers
        Ta = s.tokens
        cross = all(r.fixed is not None for _, r in s.rules)
        reader = all(r.shared for _, r in s.rules)
        kv_elems = 0.0 if cross or reader else self.cache_parts(a).total * s.kv_share   # K and V per token here
        k_elems = 0.0 if cross or reader else self.cache_parts(a).k * s.kv_share
        proj_elems = k_elems if a.v_from_k else kv_elems     # projected: V is the key projection's output (v_from_k)
        q_width = s.heads * a.qk_head_dim * (2 if a.output_gate else 1)
        bias = (q_width + proj_elems) * s.hb if a.qkv_bias else 0.0
        g_width = s.heads if a.head_gate else 0.0      # Step-3.5's g_proj: one gate logit a local head
        r = a.q_lora_rank
        ops: list[OpCost] = []
        norm_width, norm_count = 0.0, 0
        if r:
            # Step-3's MFA: q_proj d -> r (replicated: every rank computes it whole), inter_norm, wq r -> this GPU's
            # heads; k and v (and a head gate) in their own GEMM from the layer input
            ops += [matmul("q_down", Ta, d, r, s.w("q_down"), s.ab, L),
                    matmul("q_up", Ta, r, q_width, s.w("q_up"), s.ab, L)]
            norm_width, norm_count = float(r), 1
            q_width = 0.0
        width = q_width + g_width + proj_elems
        # q, k and v in one GEMM, each projection's weights read at its own width (:meth:`StepShape.w`)
        weights = d * (q_width * s.w("q") + g_width * s.w("g") + k_elems * s.w("k") + (proj_elems - k_elems) * s.w("v"))
        if width:
            ops.append(matmul("kv_proj" if r else "qkv_proj", Ta, d, width, 0, s.ab, L, extra_weight=weights + bias))
        if a.qk_norm:                                               # per-head RMSNorm on q and k (Qwen3)
            # a reader norms the key it reads under cross-layer attention (vLLM HunYuanCrossAttention: key_layernorm
            # on the shared key), not under trailing sharing (Gemma3nTextAttention: k_norm only where it projects K)
            k_normed = not reader or spec.attention.kv_share_layers > 1
            norm_width += (s.heads + (a.num_kv_heads * s.kv_share if k_normed else 0)) * a.qk_head_dim
            norm_count += 2 if k_normed else 1
        if kv_elems:
            ops.append(OpCost("kv_write", "memory", act_bytes=Ta * kv_elems * s.ab * L,
                              kv_bytes=Ta * kv_elems * s.kb * L, out_width=kv_elems, launches=L))
        ops.append(self.core_cost(spec, s))
        return AttentionOps(tuple(ops), norm_width, norm_count)

    # --- training ---------------------------------------------------------------------------------------------

    def attended_kv_heads(self, a: "Attention", tp: int) -> int:
        return max(1, a.num_kv_heads // tp)

    def check_training(self, spec: "ModelSpec") -> None:
        """A head-wise output gate's stored tensors (its sigmoid and the gated product) are not listed: refused. Values
        from the keys are modelled as Gemma-4 computes them, through a value norm (``v_norm``: its input is the key
        projection's output, which the key's norm keeps too; :meth:`projection_tensors`); without one the kernel's V
        would be that output itself, shared with the key norm's input or not as the spec does not say: refused."""
        a = spec.attention
        if a.head_gate:
            raise SpecError("attention.head_gate", "training memory with a head-wise output gate (Step-3.5's g_proj) "
                                                   "is not modelled")
        if (a.v_from_k or spec.sliding_attention.v_from_k) and not a.v_norm:
            raise SpecError("attention.v_from_k", "training memory with values computed from the keys is modelled "
                                                  "through a value norm (Gemma-4's v_norm: attention.v_norm); "
                                                  "without one it is not")

    def kernel_expands_kv(self, a: "Attention", kernel: str) -> bool:
        """Eager attention keeps ``repeat_kv``'s copies of K and V at every query head, and so does the fused path
        of a block wider than FlashAttention's widest head (:data:`FLASH_MAX_HEAD_DIM`): Gemma-4's full layers (head
        dim 512) have no FlashAttention kernel (FA2/FA3 stop at 256: Dao-AILab/flash-attention issue 2427, NVIDIA
        TransformerEngine issue 3006 "Disabling FlashAttention 2 ... head_dim_qk <= 256"), and PyTorch's
        memory-efficient SDPA kernel that runs them takes no grouped K/V at that width, so transformers'
        ``sdpa_attention_forward`` expands them with ``repeat_kv`` first (``use_gqa_in_sdpa`` false for head_dim >
        256: huggingface/transformers PR 46960; before it SDPA fell back to its math kernel, S x S). The kernel
        saves the expanded copies (``_scaled_dot_product_efficient_attention``'s backward reads query, key, value,
        output and logsumexp), and nothing keeps the unexpanded K or V.

        The 256-wide layers of the same model are counted on FlashAttention-2, grouped: a per-layer dispatch
        (verl-project/verl PR 7131: sliding layers on flash, the 512-wide ones on SDPA). Stock transformers has one
        kernel a model: ``flash_attention_2`` refuses the 512-wide layers (Dao-AILab/flash-attention issue 2427's
        workaround: SDPA on every layer), and SDPA on a sliding layer past its window gets a mask, so
        ``use_gqa_in_sdpa`` is false: ``repeat_kv``'s copies and the converted mask (``b s s``, the query dtype)
        are kept there too, which this count leaves out (``--attention-kernel eager`` is the other bound)."""
        wide = max(a.qk_head_dim, a.v_head_dim) > FLASH_MAX_HEAD_DIM
        return kernel == "eager" or wide

    def check_dtensor_tp(self, spec: "ModelSpec", block, tp: int) -> None:
        """torchtitan's Llama plan (``apply_tp``): q/k/v read one gathered input. A low-rank query (Step-3's MFA: a
        replicated down projection and its norm before ``wq``) has no torchtitan plan: refused. ``wk``/``wv`` are
        ``ColwiseParallel`` and their outputs are viewed as ``(bs, seqlen, -1, head_dim)``, the local heads inferred
        from the shard (``Attention.forward``, torchtitan/models/llama3/model/model.py): ``tp`` must divide the
        key/value heads (no replication, unlike the default style's ``max(1, a_kv / t)``)."""
        if block.q_lora_rank:
            raise ArgError("tp_style", f"torchtitan's tensor parallelism is modelled for plain q/k/v projections; "
                                       f"{spec.name} has a low-rank query")
        if block.num_kv_heads % tp:
            raise ArgError("tp", f"torchtitan shards wk/wv by whole heads: {block.num_kv_heads} key/value heads "
                                 f"do not split over {tp} TP ranks")

    def op_sac_ops(self, spec: "ModelSpec", cfg, a: "Attention") -> list[tuple[str, SavedTensor]]:
        """torchtitan's Llama attention (``torchtitan/models/llama/model.py``, ``Attention.forward``):
        ``xq, xk, xv = self.wq(x), self.wk(x), self.wv(x)``, RoPE, ``repeat_kv``, ``F.scaled_dot_product_attention``,
        then ``self.wo(output)``. Each bias-free ``nn.Linear`` on a ``[b, s, d]`` input dispatches one ``aten.mm``
        (``matmul`` folds the batch: ``[b s, d] x [d, out]``); SDPA is ``_scaled_dot_product_flash_attention`` (or
        the efficient / cuDNN one), whose outputs are the attention output ``[b, a, s, d_v]`` and the fp32
        log-sum-exp ``[b, a, s]``. RoPE, ``repeat_kv``, the transposes and views dispatch no op the policy saves.
        Biases (``addmm``), extra projections (a low-rank query, an output gate) or KV sharing change the mm
        sequence: refused. ``a`` is the layer's block (the sliding layers' where they have a shape of their own)."""
        self.check_training(spec)
        for bad, why in ((a.qkv_bias or a.o_bias, "projection biases (aten.addmm, not aten.mm)"),
                         (a.q_lora_rank, "a low-rank query (two query mm's)"),
                         (a.output_gate, "an output gate (a fifth projection)"),
                         (a.kv_shared, "shared K/V (no value projection)"),
                         (a.v_from_k, "values from the keys (no value projection)")):
            if bad:
                raise ArgError("recompute", f"op (torchtitan's op-level SAC) is modelled for plain q/k/v/o "
                                            f"projections; {spec.name} has {why}")
        b, s, h = cfg.micro_batch, cfg.seq_local, spec.hidden_size
        heads, kv = a.num_heads, a.num_kv_heads
        mm = lambda name, width, sym: ("mm", SavedTensor(  # noqa: E731
            name, ("b*s", sym), (b * s, width), ACT_BYTES, "attention", "op SAC cache (mm output)", "tp"))
        return [mm("attn.wq_out", heads * a.qk_head_dim, "a d_qk"),
                mm("attn.wk_out", kv * a.qk_head_dim, "g d_qk"),
                mm("attn.wv_out", kv * a.v_head_dim, "g d_v"),
                ("sdpa", SavedTensor("attn.out", ("b", "a", "s", "d_v"), (b, heads, s, a.v_head_dim), ACT_BYTES,
                                     "attention", "op SAC cache (SDPA output)", "tp")),
                ("sdpa", SavedTensor("attn.lse", ("b", "a", "s"), (b, heads, s), FP32_BYTES, "attention_core",
                                     "op SAC cache (SDPA log-sum-exp)", "tp")),
                mm("attn.wo_out", h, "h")]

    def projection_tensors(self, spec: "ModelSpec", cfg, a: "Attention", heads: int,
                           kv_heads: int) -> tuple[list, str]:
        """Qwen3's per-head q/k RMSNorms keep their inputs and fp32 rstd; a low-rank query (Step-3's MFA) keeps, as
        MLA's ``q_a_proj`` path does (:meth:`mlacalc.attention.mla.MLA.projection_tensors`), ``q_proj``'s output for
        ``inter_norm`` with its fp32 rstd, and the normed latent for ``wq`` ([b, s, r], the whole sequence on every
        rank: the down projection is replicated). Nothing else before the core.

        A value norm (``v_norm``; Gemma-4, transformers ``Gemma4TextAttention.forward``: ``value_states =
        v_proj(x) if v_proj is not None else key_states``, then ``v_norm(value_states)``, a ``Gemma4RMSNorm``
        without weights) keeps, as every norm here, its input and fp32 rstd a K/V head. With values from the keys
        (``v_from_k``) its input is the key projection's output, the very tensor (``key_states``, before ``k_norm``)
        the key norm keeps: only the rstd is new. So a ``v_from_k`` block keeps ``b s a_kv d_v`` activation-dtype
        values fewer than the same block with a v projection, and nothing else differs (K and V still reach the
        kernel as two tensors: ``k_norm`` then RoPE, ``v_norm`` alone)."""
        b, sl, st = cfg.micro_batch, cfg.seq_local, cfg.seq_tokens
        out = []
        if a.q_lora_rank:
            r = a.q_lora_rank
            out += [SavedTensor("attn.q_down_out", ("b", "s", "r"), (b, st, r), ACT_BYTES, "attention", "q_norm",
                                "sp"),
                    SavedTensor("attn.q_norm.rstd", ("b", "s"), (b, st), FP32_BYTES, "attention", "q_norm", "sp"),
                    SavedTensor("attn.q_latent", ("b", "s", "r"), (b, st, r), ACT_BYTES, "attention", "q_up (wq)",
                                "sp")]
        if a.qk_norm:
            out += [SavedTensor("attn.q_norm.input", ("b", "s", "a", "d_qk"), (b, sl, heads, a.qk_head_dim),
                                ACT_BYTES, "norms", "q_norm", "tp"),
                    SavedTensor("attn.q_norm.rstd", ("b", "s", "a"), (b, sl, heads), FP32_BYTES, "norms", "q_norm",
                                "tp"),
                    SavedTensor("attn.k_norm.input", ("b", "s", "a_kv", "d_qk"), (b, sl, kv_heads, a.qk_head_dim),
                                ACT_BYTES, "norms", "k_norm", "tp"),
                    SavedTensor("attn.k_norm.rstd", ("b", "s", "a_kv"), (b, sl, kv_heads), FP32_BYTES, "norms",
                                "k_norm", "tp")]
        if a.v_norm:
            if not (a.v_from_k and a.qk_norm):       # else its input is attn.k_norm.input, kept once
                out.append(SavedTensor("attn.v_norm.input", ("b", "s", "a_kv", "d_v"),
                                       (b, sl, kv_heads, a.v_head_dim), ACT_BYTES, "norms",
                                       "v_norm (the key projection's output)" if a.v_from_k else "v_norm", "tp"))
            out.append(SavedTensor("attn.v_norm.rstd", ("b", "s", "a_kv"), (b, sl, kv_heads), FP32_BYTES, "norms",
                                   "v_norm" + (" (its input: attn.k_norm.input, the key projection's output)"
                                               if a.v_from_k and a.qk_norm else ""), "tp"))
        return out, ""


CONVENTIONAL = Conventional()
