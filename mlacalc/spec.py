"""Model specs: the schema, validation, and loading from built-in names, YAML files and HF ``config.json``.

A spec is a frozen dataclass tree (:class:`ModelSpec` -> :class:`Attention`, :class:`FFN`, :class:`DTypes`).
Every formula in ``mlacalc`` reads a spec and nothing else.

Validation is hand-written over dataclass metadata rather than pydantic: importing pydantic and building the
models took the CLI's start-up from 0.16 s to 0.37 s on a 2-core machine, over the 0.3 s budget. Each field
carries its doc, bounds and choices in ``metadata``; :func:`json_schema` turns the same metadata into a JSON
Schema for editors, so the two cannot drift.

Head dims: queries and keys have ``qk_nope_head_dim + qk_rope_head_dim`` dims per head (DeepSeek-V2's names;
partial RoPE when both are non-zero), values ``v_head_dim``. A plain ``head_dim`` (with an optional
``rope_dim``) is accepted as shorthand for conventional attention.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .attention import KINDS as ATTENTION_KINDS, check_kv_layout, family
from .attention.base import MSA_FIELDS, refuse_fields
from .attention.conventional import heads_kind
from .attention.quant import kv_dtype_layout
from .errors import ArgError, SpecError, show
from .units import MAX_COUNT, MAX_LAYERS, dtype_bits
FFN_KINDS = ("dense", "moe")
# what an MoE router's forward leaves for its backward (ffn.router; mlacalc.activations._router, docs in the field)
ROUTER_FORMS = ("fp32-scores", "fp32-linear", "act-scores", "topk-logits")


# Upper bounds on the counts that the formulas loop over (layers one by one; decode CTAs per head group): far above
# any model (the deepest has ~130 layers, the widest 128 query heads), low enough that a typo or a fuzzed 2**40 is
# refused in one line instead of running for hours. Other whole numbers are bounded by mlacalc.files.MAX_NUMBER.
# (MAX_LAYERS lives in mlacalc.units: the HF reader bounds a config's layer count with it too.)
MAX_HEADS = 65_536
# widths (model, FFN, latent ranks, head dims) and vocabulary: 2^24, 500x the widest released model's (hidden 16,384 to
# 32,768; FFN 53,248 to 73,728; vocabularies up to ~262k) and far below where a byte count loses integer precision
MAX_WIDTH = 1 << 24


def _f(doc: str, default: Any = dataclasses.MISSING, *, minimum: int | None = None, maximum: int | None = None,
       choices: tuple[str, ...] | None = None, kind: str | None = None):
    """A dataclass field with validation metadata. ``kind`` overrides the annotation for validation."""
    meta = {"doc": doc, "minimum": minimum, "maximum": maximum, "choices": choices, "kind": kind}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class AttentionShape:
    """The head counts and head dims of one layer type's attention where they differ from ``attention``'s
    (``attention.sliding_shape``): MiMo-V2-Flash's sliding layers (config ``swa_num_attention_heads``,
    ``swa_num_key_value_heads``, ``swa_head_dim``, ``swa_v_head_dim``), Step-3.5-Flash's
    (``attention_other_setting.num_attention_heads`` / ``num_attention_groups``), Gemma-4's (``head_dim`` and
    ``num_key_value_heads`` beside the full layers' ``global_head_dim``, and a v projection of their own where the full
    layers' values come from their keys: ``v_from_k``). A field left out (none) is the full layers' value; everything
    else (kind, window, biases, norms, sinks, gate) is shared. A plain ``head_dim`` (with ``rope_dim``) is accepted as
    in ``attention``."""

    num_heads: int | None = _f("query heads (none: attention.num_heads)", None, minimum=1, maximum=MAX_HEADS)
    num_kv_heads: int | None = _f("key/value heads (none: attention.num_kv_heads)", None, minimum=1,
                                  maximum=MAX_HEADS)
    qk_nope_head_dim: int | None = _f("query/key dims per head without RoPE (none: attention's)",
                                      None, minimum=0, maximum=MAX_WIDTH)
    qk_rope_head_dim: int | None = _f("query/key dims per head with RoPE (none: attention's)",
                                      None, minimum=0, maximum=MAX_WIDTH)
    v_head_dim: int | None = _f("value dims per head (none: attention's)", None, minimum=1, maximum=MAX_WIDTH)
    v_from_k: bool | None = _f("values from the key projection, no v projection (none: attention.v_from_k; "
                               "Gemma-4's sliding layers: false beside full layers' true)", None)


SHAPE_FIELDS = ("num_heads", "num_kv_heads", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "v_from_k")


@dataclass(frozen=True)
class Attention:
    """Attention block shape. Per-head dims follow DeepSeek-V2's naming (arXiv 2405.04434, section 2.1)."""

    kind: str = _f("mha | mqa | gqa | mla | dsa | msa", choices=ATTENTION_KINDS)
    num_heads: int = _f("query heads", minimum=1, maximum=MAX_HEADS)
    num_kv_heads: int = _f("key/value heads (mha: = num_heads, mqa: 1; mla: = num_heads in the "
                           "decompressed form)", minimum=1, maximum=MAX_HEADS)
    qk_nope_head_dim: int = _f("query/key dims per head that get no rotary embedding", minimum=0, maximum=MAX_WIDTH)
    qk_rope_head_dim: int = _f("query/key dims per head that get RoPE (MLA: the decoupled RoPE key, "
                               "shared by all heads)", minimum=0, maximum=MAX_WIDTH)
    v_head_dim: int = _f("value dims per head", minimum=1, maximum=MAX_WIDTH)
    kv_shared: bool = _f("no separate V cache: the value is the first v_head_dim dims of the cached key "
                         "(KV-shared GQA variants; v_head_dim may equal the whole key, RoPE part included)",
                         False)
    v_from_k: bool = _f("mha/mqa/gqa: the value is computed from the key projection's output (before the key's "
                        "norm and RoPE), so there is no v projection; the cache still holds V beside K, as both "
                        "engines store it (Gemma-4's attention_k_eq_v full layers: transformers "
                        "Gemma4TextAttention builds v_proj None and caches v_norm(k_proj(x)); vLLM gemma4.py loads "
                        "k_proj into both halves of qkv_proj and caches K and V)", False)
    v_norm: bool = _f("mha/mqa/gqa: an RMSNorm without weights on each value head before the cache and the core "
                      "(Gemma-4's v_norm: transformers Gemma4TextAttention, Gemma4RMSNorm(head_dim, "
                      "with_scale=False)): no parameters; training keeps its input and rstd", False)
    q_lora_rank: int | None = _f("rank of the query down-projection and its RMSNorm, then an up-projection to every "
                                 "head (MLA's q_a_proj/q_b_proj; Step-3's MFA: q_proj, inter_norm, wq); none: "
                                 "full-rank query", None, minimum=1, maximum=MAX_WIDTH)
    kv_lora_rank: int | None = _f("MLA: width of the cached KV latent c_KV", None, minimum=1, maximum=MAX_WIDTH)
    qkv_bias: bool = _f("q/k/v projections have biases (Qwen2)", False)
    qk_norm: bool = _f("RMSNorm on each query and key head (Qwen3)", False)
    o_bias: bool = _f("the output projection has a bias (gpt-oss)", False)
    output_gate: bool = _f("a sigmoid gate on the attention output from a second query-width projection "
                           "(Qwen3-Next: q_proj is twice as wide)", False)
    head_gate: bool = _f("mha/mqa/gqa: a sigmoid gate per query head on the attention output from a d -> heads "
                         "projection, one scalar a head (Step-3.5-Flash's g_proj, use_head_wise_attn_gate)", False)
    sinks: bool = _f("one learned attention-sink logit per query head and layer (gpt-oss): weights, not cache",
                     False)
    sliding_window: int | None = _f("tokens a local (sliding) layer attends to, itself included", None,
                                    minimum=1)
    global_every: int | None = _f("with sliding_window and no layer_types: every N-th layer is global, i.e. 0-based "
                                  "layers N-1, 2N-1, ... (Gemma-2: 2, so layers 1, 3, 5, ...); none: every layer "
                                  "is local", None, minimum=1)
    chunk_size: int | None = _f("chunked layers attend within chunks of this many tokens (Llama-4's "
                                "attention_chunk_size)", None, minimum=1)
    index_n_heads: int | None = _f("dsa, compressed, msa: heads of the lightning indexer (DeepSeek-V3.2, V4: 64; "
                                   "MiniMax-M3: 4, one a K/V head)", None, minimum=1, maximum=MAX_HEADS)
    index_head_dim: int | None = _f("dsa, compressed, msa: dims of each indexer query head and of its one cached key "
                                    "(128)", None, minimum=1)
    index_topk: int | None = _f("dsa: keys each query selects and attends (2048); compressed: compressed entries "
                                "each query of a csa layer selects (V4-Flash 512, V4-Pro 1024)", None, minimum=1)
    index_cache_bytes: int | None = _f("dsa, compressed, msa: bytes of indexer key cache per token (compressed: per "
                                       "entry) and layer (none: dsa and compressed fp8 keys plus one fp32 scale per "
                                       "128 values, as engines store them: 132 at 128 dims, vLLM's fp4 indexer cache "
                                       "of DeepSeek-V4 too, an MXFP4 key itself 68; msa bf16 keys, 256 at 128 dims)",
                                       None, minimum=1)
    o_groups: int | None = _f("compressed: groups g of the grouped low-rank output projection (DeepSeek-V4's "
                              "o_groups): each group's H c / g output dims go to o_lora_rank (wo_a), the g "
                              "o_lora_rank to the model width (wo_b)", None, minimum=1, maximum=MAX_HEADS)
    o_lora_rank: int | None = _f("compressed: the rank of each group of the grouped output projection (DeepSeek-V4: "
                                 "1024)", None, minimum=1)
    csa_rate: int | None = _f("compressed: tokens per compressed entry on the csa layers (compressed sparse "
                              "attention, DeepSeek-V4's m = 4): windows of 2 m tokens overlapping by m, the indexer "
                              "(index_n_heads, index_head_dim, index_topk) picking the entries a query attends", None,
                              minimum=1)
    hca_rate: int | None = _f("compressed: tokens per compressed entry on the hca layers (heavily compressed "
                              "attention, DeepSeek-V4's m' = 128): windows of m' tokens, every entry attended, no "
                              "indexer", None, minimum=1)
    index_topk_blocks: int | None = _f("msa: key blocks each query attends, the block holding the query among them "
                                       "(MiniMax-M3's sparse_topk_blocks: 16): every key while a query sees no more "
                                       "blocks, then index_topk_blocks - 1 whole earlier blocks and its own up to "
                                       "itself", None, minimum=1)
    index_block_size: int | None = _f("msa: tokens per key block the indexer scores and selects (MiniMax-M3's "
                                      "sparse_block_size: 128)", None, minimum=1)
    index_layers: tuple | None = _f("msa: one flag a layer, num_layers entries: 1 where the layer runs the indexer "
                                    "(sparse_attention_freq), 0 where it is plain GQA of the same heads attending "
                                    "every key (MiniMax-M3's first 3 layers); none: every layer runs it", None,
                                    kind="flags")
    sliding_shape: AttentionShape | None = _f("mha/mqa/gqa: the sliding layers' own head counts and head dims "
                                              "(MiMo-V2-Flash, Step-3.5-Flash); fields left out are the full "
                                              "layers'; none: every layer has the shape above", None)
    kv_share_layers: int = _f("cross-layer attention (CLA, Brandon et al. 2024, arXiv 2405.12981; Hunyuan-Large's "
                              "cla_share_factor): K/V are projected and cached once per group of this many "
                              "consecutive layers, by its first (0-based layers 0, N, 2N, ...); the others project "
                              "queries only and attend that cache. 1: every layer has its own", 1, minimum=1,
                              maximum=MAX_LAYERS)
    kv_shared_tail: int = _f("trailing KV sharing (Gemma-3n's num_kv_shared_layers): the last N layers project no "
                             "K/V and attend the cache of the last earlier layer of their own type, full or sliding "
                             "(transformers Gemma3nTextAttention.kv_shared_layer_index); 0: none. Not with "
                             "kv_share_layers > 1", 0, minimum=0, maximum=MAX_LAYERS)
    reader_kv_weights: bool = _f("the layers that read another layer's K/V still hold k/v projection weights, "
                                 "unused (Gemma-3n's checkpoints store k_proj/v_proj on every layer): counted in "
                                 "the weights, neither computed nor read by the roofline", False)
    layer_heads: tuple | None = _f("mha/mqa/gqa: the query and K/V heads of each layer, num_layers entries [heads, "
                                   "kv_heads], null on a layer without attention (linear, ffn): OpenELM's layer-wise "
                                   "scaling (num_query_heads, num_kv_heads), Nemotron-NAS's n_heads_in_group per "
                                   "block. num_heads and num_kv_heads are then the most of any layer; head dims and "
                                   "everything else are shared. none: every layer has num_heads and num_kv_heads",
                                   None, kind="heads")

    @property
    def qk_head_dim(self) -> int:
        """Query/key dims per head, no-RoPE plus RoPE part."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def group_size(self) -> int:
        """Query heads per KV head."""
        return self.num_heads // self.num_kv_heads


@dataclass(frozen=True)
class CompressedLayer(Attention):
    """The block of one layer type of compressed attention (``attention.kind: compressed``, DeepSeek-V4): the spec's
    ``attention`` as its ``layer_kind`` layers run it (``sliding``: the window alone; ``csa``, ``hca``: the window and
    the compressed entries of ``csa_rate`` / ``hca_rate`` tokens, :mod:`mlacalc.attention.compressed`). Built by the
    spec, one object a layer type (:meth:`ModelSpec.attention_block`), never written in a file."""

    layer_kind: str = "csa"


@dataclass(frozen=True)
class FFN:
    """Feed-forward block: dense, or mixture of experts with optional shared experts and leading dense layers."""

    kind: str = _f("dense | moe", choices=FFN_KINDS)
    intermediate_size: int = _f("dense FFN width (in an MoE model: of its dense layers)", minimum=1, maximum=MAX_WIDTH)
    gated: bool = _f("gated (SwiGLU/GeGLU: three matrices) rather than two", True)
    mlp_bias: bool = _f("dense: the FFN's projections have biases, f + d parameters a layer (2 f + d gated): GPT-2's "
                        "and StarCoder's c_fc/c_proj, GPT-NeoX's dense_h_to_4h/dense_4h_to_h, Phi's and OPT's fc1/fc2 "
                        "(transformers' modeling files: nn.Linear(..., bias=True))", False)
    num_experts: int = _f("MoE: routed experts per layer", 0, minimum=0)
    experts_per_token: int = _f("MoE: routed experts each token goes to", 0, minimum=0)
    num_shared_experts: int = _f("MoE: always-on shared experts per layer", 0, minimum=0)
    expert_intermediate_size: int = _f("MoE: width of each routed expert", 0, minimum=0, maximum=MAX_WIDTH)
    expert_latent_size: int | None = _f(
        "MoE: the routed experts' model width where they run in a latent space (NVIDIA's LatentMoE, Nemotron 3 Super's "
        "moe_latent_size 1024 under a hidden of 4096): one d x l down projection before the experts and one l x d up "
        "projection after their combine, a pair a MoE layer shared by all its routed experts (fc1_latent_proj, "
        "fc2_latent_proj); each routed expert an FFN of this width, the router and the shared experts on the "
        "full-width input; the token dispatch and combine at this width. None: the experts at hidden_size, no "
        "projections", None, minimum=1)
    shared_expert_intermediate_size: int | None = _f(
        "MoE: width of each shared expert (none: expert_intermediate_size)", None, minimum=1)
    first_dense_layers: int = _f("MoE: leading layers with a dense FFN (DeepSeek first_k_dense_replace)",
                                 0, minimum=0)
    last_dense_layers: int = _f("MoE: trailing layers with a dense FFN (Step-3: its last layer, outside "
                                "moe_layers_enum)", 0, minimum=0)
    moe_layer_step: int = _f("MoE: after the first_dense_layers, every N-th layer is MoE (layers N-1, 2N-1, ...) "
                             "and the others dense (Llama-4 Maverick interleave_moe_layer_step: 2; Qwen2-MoE "
                             "decoder_sparse_step)", 1, minimum=1)
    expert_bias: bool = _f("MoE: experts' projections have biases (gpt-oss)", False)
    router_bias: bool = _f("MoE: the router has a bias (gpt-oss)", False)
    router: str = _f(
        "MoE: what the router's forward keeps for its backward (training memory only). fp32-scores: its linear runs in "
        "the activation dtype on the block's input (kept once) and the softmax or sigmoid over all experts in fp32 "
        "keeps fp32 scores of b s E (Mixtral, Qwen-MoE, OLMoE, MiniMax, Llama-4, Gemma-4); fp32-linear: the linear "
        "runs on fp32 copies of its input and weight (F.linear(x.float(), w.float()): DeepSeek-V2/V3, GLM-4.5, "
        "Nemotron-H, ...), which its backward keeps, b s d and E d in fp32, beside the fp32 scores; act-scores: the "
        "scores over all experts in the activation dtype (Mistral-4, DBRX); topk-logits: the top-k of the logits "
        "first, a softmax over those k alone (gpt-oss, Granite-MoE, Cohere2-MoE): no b s E tensor",
        "fp32-scores", choices=ROUTER_FORMS)
    shared_expert_gate: bool = _f("MoE: a sigmoid gate (d -> 1) scales the shared expert (Qwen2-MoE, Qwen3-Next)",
                                  False)
    branch_norms: bool = _f("MoE: the one shared expert (a dense MLP) and the routed experts are two branches, each "
                            "with its own post-norm and the experts with their own pre-norm, summed before the "
                            "block's post-norm; the router norms the block's input itself (an RMSNorm without "
                            "weights) and scales it by a vector of d before its projection (its scores: "
                            "ffn.router) (Gemma-4's enable_moe_block: transformers Gemma4TextDecoderLayer's "
                            "pre_feedforward_layernorm_2, post_feedforward_layernorm_1 and _2, Gemma4TextRouter). "
                            "Those three norms and the router's scale are among norms_per_layer (8)", False)
    hash_layers: int = _f("MoE: the first this many MoE layers pick their experts from a frozen table of "
                          "vocab_size x experts_per_token int64 entries by token id (DeepSeek-V4's num_hash_layers, "
                          "tid2eid; Roller et al. 2021, arXiv 2106.04426) instead of the router's top-k; the router's "
                          "weight still weighs the picked experts", 0, minimum=0)
    layer_widths: tuple | None = _f("dense: the FFN width of each layer, num_layers entries, 0 where the layer has no "
                                    "FFN (Nemotron-NAS's block_configs: ffn_mult per layer, ffn no_op); "
                                    "intermediate_size is then the widest. With it a layer holds its FFN where its "
                                    "width is not 0 and its mixer where its layer type is not ffn; none: every "
                                    "layer's FFN is intermediate_size wide", None, kind="widths")

    @property
    def shared_width(self) -> int:
        return self.shared_expert_intermediate_size or self.expert_intermediate_size


@dataclass(frozen=True)
class DTypes:
    """Default storage dtypes: a name (bf16, fp16, fp32, fp8, int8, int4) or a bit count (6). The KV dtype's name
    selects its cache layout as ``--kv-dtype`` does (:func:`mlacalc.attention.quant.kv_dtype_layout`): ``int4``
    and ``int8`` are LMDeploy's per-head scaled caches, ``fp4`` SGLang's and ``nvfp4`` vLLM's e2m1 caches with a
    scale per 16 values, ``fp8-ds`` FlashMLA's DSA rows; a bit count is flat values without scales."""

    weights: str = _f("weight dtype", "bf16", kind="dtype")
    kv: str = _f("KV-cache dtype: bf16, fp16, fp32, fp8 or a bit count (flat); int8, int4 (LMDeploy: a scale and "
                 "zero point per head and token), fp4 (SGLang), nvfp4 (vLLM: a scale per 16 values) or fp8-ds (DSA: "
                 "FlashMLA's 656-byte rows; DeepSeek-V4: its 584-byte rows), their scales counted", "bf16",
                 kind="kv_dtype")
    state: str = _f("linear-attention convolution state dtype, and the recurrent state's unless ssm_state says "
                    "otherwise (the model's dtype: vLLM's mamba_cache_dtype auto)", "bf16", kind="dtype")
    ssm_state: str | None = _f("recurrent (SSM) state dtype where it differs from dtypes.state (vLLM's "
                               "mamba_ssm_cache_dtype: Nemotron-H's fp32); none: dtypes.state", None, kind="dtype")

    @property
    def weight_bits(self) -> float:
        return dtype_bits(self.weights, "dtypes.weights")

    @property
    def kv_bits(self) -> float:
        """Bits per stored KV value (a layout's scales are in its bytes: :meth:`kv_format`)."""
        return kv_dtype_layout(self.kv, "dtypes.kv")[0]

    @property
    def kv_format(self) -> str | None:
        """The cache layout ``kv`` names (int4, int8, fp4, nvfp4, fp8-ds), or None for flat values."""
        return kv_dtype_layout(self.kv, "dtypes.kv")[1]

    @property
    def state_bits(self) -> float:
        return dtype_bits(self.state, "dtypes.state")

    @property
    def ssm_state_bits(self) -> float:
        """Bits of the recurrent state: ``ssm_state``, else ``state``."""
        return self.state_bits if self.ssm_state is None else dtype_bits(self.ssm_state, "dtypes.ssm_state")


QUANT_METHODS = ("fp8-block", "fp8", "mxfp4", "nvfp4", "mxfp8", "int4", "int8", "awq", "gptq", "affine")
QUANT_COMPONENTS = ("embed", "attention", "dense_ffn", "router", "shared_experts", "routed_experts", "latent_proj",
                    "head", "mtp")
# the projections of a softmax-attention block (conventional, MLA, DSA: each family's ``projections`` keys) a checkpoint
# may keep unquantized while the rest of its attention is quantized (``Quantization.unquantized``)
ATTN_PROJECTIONS = ("q", "k", "v", "o", "g", "q_down", "q_up", "kv_down", "kv_up", "index_q", "index_k")


@dataclass(frozen=True)
class Quantization:
    """How a checkpoint stores its quantized weights: ``bits`` per value for the listed ``components`` (the
    fields of :class:`mlacalc.params.Params`; norms are never quantized), plus one scale of ``scale_bits`` (and a
    zero point of ``zero_point_bits``) per ``group_size`` values. Components not listed stay at
    ``max(16, dtypes.weights)`` bits. Read from ``quantization_config`` by :mod:`mlacalc.hf`.

    Examples: DeepSeek-V3 fp8-block (8 bits, one fp32 scale per 128x128 block: group 16384), gpt-oss MXFP4 (e2m1
    4-bit values, one e8m0 scale per 32, routed experts only), Kimi-K2-Thinking int4 (bf16 scale per 32, routed
    experts only), AWQ/GPTQ int4 (fp16 scale and 4-bit zero point per 128), MLX affine (mlx_lm: ``bits`` with an
    fp16/bf16 scale and bias per 64, the bias as ``zero_point_bits`` 16: 4.5 bits at 4; embedding and head too)."""

    method: str = _f("fp8-block | fp8 | mxfp4 | nvfp4 | mxfp8 | int4 | int8 | awq | gptq | affine (MLX: a scale and a "
                     "bias per group, the bias counted as zero_point_bits)", choices=QUANT_METHODS)
    bits: int = _f("bits per quantized value (fp8: 8, mxfp4/int4/awq/gptq: 4)", minimum=1)
    components: tuple = _f("which weight components are quantized: " + ", ".join(QUANT_COMPONENTS),
                           kind="components")
    group_size: int | None = _f("values per scale (fp8 128x128 blocks: 16384; mxfp4: 32; none: one scale per "
                                "tensor or per channel, not counted)", None, minimum=1)
    scale_bits: int = _f("bits of each scale (fp32: 32, bf16/fp16: 16, e8m0/e4m3: 8)", 16, minimum=0)
    zero_point_bits: int = _f("bits of each group's zero point (asymmetric int formats: AWQ/GPTQ pack 4-bit zeros); "
                              "0: symmetric", 0, minimum=0)
    experts_bits: int | None = _f("bits of each routed-expert value where the routed experts have a width of their own "
                                  "beside the rest (DeepSeek-V4's expert_dtype fp4: MXFP4, 4); none: bits", None,
                                  minimum=1)
    experts_group_size: int | None = _f("values per scale of the routed experts stored apart (MXFP4: 32)", None,
                                        minimum=1)
    experts_scale_bits: int = _f("bits of each scale of the routed experts stored apart (MXFP4's e8m0: 8)", 8,
                                 minimum=0)
    unquantized: tuple = _f("projections of the (softmax) attention the checkpoint keeps at max(16, dtypes.weights) "
                            "bits on every layer while the rest of the attention is quantized (MiMo-V2-Flash's fp8: "
                            "o): " + ", ".join(ATTN_PROJECTIONS) + "; needs attention among components",
                            (), kind="projections")

    @property
    def bits_per_value(self) -> float:
        """Stored bits per quantized weight: the value plus its share of the group's scale and zero point."""
        extra = (self.scale_bits + self.zero_point_bits) / self.group_size if self.group_size else 0.0
        return self.bits + extra

    @property
    def expert_bits_per_value(self) -> float:
        """Stored bits per routed-expert weight: :attr:`experts_bits` and its share of a scale where the experts are
        stored apart (DeepSeek-V4's MXFP4: 4 + 8 / 32 = 4.25), else :attr:`bits_per_value`."""
        if self.experts_bits is None:
            return self.bits_per_value
        return self.experts_bits + (self.experts_scale_bits / self.experts_group_size if self.experts_group_size
                                    else 0.0)


LINEAR_KINDS = ("gated_deltanet", "kda", "mamba2", "mamba1", "lightning", "short_conv")
MIXER_NORMS = ("weighted", "unweighted")      # mamba1's RMSNorms of dt, B and C (Jamba's weighted, Falcon-Mamba's not)


@dataclass(frozen=True)
class LinearAttention:
    """A linear-attention block (the ``linear`` layers of a hybrid): a recurrent state per head instead of a KV
    cache. Gated DeltaNet (Yang et al. 2024, arXiv 2412.06464; Qwen3-Next) and Kimi Delta Attention (KDA,
    Kimi-Linear): per value head a ``head_k_dim x head_v_dim`` state, and a short causal convolution over the
    projected q, k, v whose last ``conv_kernel_size - 1`` inputs are kept per sequence.

    Mamba-2 (Dao and Gu 2024, "Transformers are SSMs", arXiv 2405.21060) is the same shape under the state-space
    duality (section 7.2 there: C plays the query, B the key, x the value, and B, C shared by a group of heads as
    GQA shares keys): ``num_k_heads`` = ``n_groups``, ``head_k_dim`` = ``d_state``, ``num_v_heads`` = ``n_heads``,
    ``head_v_dim`` = ``head_dim``, so ``value_dim`` is the inner width (``expand x hidden`` in Bamba and Granite-4.0)
    and the convolution runs over ``intermediate + 2 n_groups d_state`` channels. How many channels each kind's
    convolution has is its family's (``conv_channels``).

    Mamba-1 (Gu and Dao 2023, arXiv 2312.00752; :mod:`mlacalc.attention.mamba1`: Jamba, Falcon-Mamba, Mamba) is
    the same duality with one channel a head: every one of the ``d_inner`` channels has its own ``d_state`` state and
    time step, B and C are shared by all of them (one group): ``num_v_heads`` = ``d_inner``, ``head_v_dim`` 1,
    ``num_k_heads`` 1, ``head_k_dim`` = ``d_state``; its convolution runs over x alone (``d_inner`` channels), and
    ``dt_rank`` sizes the low-rank time-step projection.

    Lightning attention (MiniMax-Text-01, MiniMax-M1; :mod:`mlacalc.attention.lightning`) keeps one ``head_dim x
    head_dim`` state a head and has no convolution: ``num_k_heads = num_v_heads``, ``head_k_dim = head_v_dim``,
    ``conv_kernel_size`` 1 (filled in when left out).

    LFM2's gated short convolution (:mod:`mlacalc.attention.short_conv`) has no recurrent state, only the
    convolution's last ``conv_kernel_size - 1`` inputs: one channel a head, ``num_k_heads = num_v_heads`` = the
    channels (the model width), ``head_k_dim = head_v_dim = 1`` (filled in when left out)."""

    kind: str = _f("gated_deltanet | kda | mamba2 | mamba1 | lightning | short_conv", choices=LINEAR_KINDS)
    num_k_heads: int = _f("query/key heads (mamba2: n_groups, the groups of B and C; mamba1: 1; short_conv: the "
                          "channels, num_v_heads when left out)", minimum=1, maximum=MAX_HEADS)
    num_v_heads: int = _f("value heads, each holding one state (KDA: = num_k_heads; mamba2: n_heads; mamba1: d_inner, "
                          "one channel a head; short_conv: the channels, hidden_size)", minimum=1, maximum=MAX_HEADS)
    head_k_dim: int = _f("query/key dims per head (mamba2, mamba1: d_state; short_conv: 1)", minimum=1)
    head_v_dim: int = _f("value dims per head (mamba2: head_dim; mamba1, short_conv: 1)", minimum=1)
    conv_kernel_size: int = _f("width of the short causal convolution (mamba2, mamba1: d_conv; lightning: 1, none; "
                               "short_conv: conv_L_cache)", 4, minimum=1)
    proj_bias: bool = _f("mamba2, mamba1, short_conv: in_proj and out_proj have biases (use_bias, mamba_proj_bias; "
                         "LFM2's conv_bias)", False)
    conv_bias: bool = _f("mamba2, mamba1, short_conv: one bias per convolution channel (use_conv_bias, "
                         "mamba_conv_bias, LFM2's conv_bias)", False)
    chunk_size: int | None = _f("mamba2: tokens per chunk of the chunked (SSD) prefill (chunk_size, "
                                "mamba_chunk_size); none: mamba_ssm's 256. lightning: the prefill block "
                                "(MiniMax's block); none: vLLM's 256", None, minimum=1)
    dt_rank: int | None = _f("mamba1: rank of the time-step projection, x_proj's first outputs and dt_proj's inputs "
                             "(time_step_rank, mamba_dt_rank; their \"auto\" is ceil(hidden_size / 16))", None,
                             minimum=1)
    mixer_norms: str | None = _f("mamba1: RMSNorms of dt, B and C after x_proj: weighted (Jamba's dt_layernorm, "
                                 "b_layernorm, c_layernorm) or unweighted (Falcon-Mamba's); none: no norms (Mamba)",
                                 None, choices=MIXER_NORMS)
    gated_norm: bool = _f("mamba2: the gated RMSNorm over the inner width before out_proj (Mamba2Mixer's norm; "
                          "Falcon-H1's mamba_rms_norm); false: out_proj(y * silu(z)) with no norm and no norm weight "
                          "(Falcon-H1-0.5B). Only mamba2 may leave it out", True)

    @property
    def key_dim(self) -> int:
        return self.num_k_heads * self.head_k_dim

    @property
    def value_dim(self) -> int:
        return self.num_v_heads * self.head_v_dim


@dataclass(frozen=True)
class ResidualExtras:
    """Blocks on the residual stream beside each layer's attention and FFN, as Gemma-3n has them (transformers
    ``modeling_gemma3n.py``: ``Gemma3nTextAltUp``, ``Gemma3nTextLaurelBlock``, ``Gemma3nTextDecoderLayer``'s
    ``per_layer_input_gate``/``per_layer_projection``, ``Gemma3nTextModel``'s ``embed_tokens_per_layer``,
    ``per_layer_model_projection``, ``altup_projections`` and ``altup_unembed_projections``). Their weights:
    :func:`mlacalc.params.residual_params`.

    - **AltUp** (Baykal et al., "Alternating Updates for Efficient Transformers", NeurIPS 2023, arXiv 2301.13310):
      the residual stream is ``altup_inputs`` K copies of width d; each layer updates one and predicts and corrects
      the others (a ``d x K`` router, ``K x K^2`` prediction and ``K x K`` correction coefficients, an output scale
      and a router norm of d); the model projects the embedding into K - 1 streams and back (``2 (K - 1) d^2``).
    - **LAuReL** (Menghani et al., "LAuReL: Learned Augmented Residual Layer", arXiv 2411.07501): a low-rank
      residual ``d x r``, ``r x d`` and a norm of d per layer.
    - **Per-layer inputs** (Gemma-3n's PLE): a second embedding table of ``per_layer_vocab_size`` rows and
      ``L x p`` columns (a slice of p per layer), a projection ``d x L p`` of the token embedding and a norm of p;
      per layer a gate ``d x p``, a projection ``p x d`` and a norm of d."""

    altup_inputs: int = _f("AltUp streams K (altup_num_inputs); 1: no AltUp", 1, minimum=1, maximum=MAX_HEADS)
    laurel_rank: int = _f("LAuReL rank r (laurel_rank); 0: no LAuReL", 0, minimum=0)
    per_layer_input_size: int = _f("per-layer input width p (hidden_size_per_layer_input); 0: no per-layer inputs",
                                   0, minimum=0)
    per_layer_vocab_size: int | None = _f("rows of the per-layer embedding table (vocab_size_per_layer_input; "
                                          "none: vocab_size)", None, minimum=1)


LAYER_TYPES = ("full", "sliding", "chunked", "linear", "cross", "ffn", "csa", "hca")
# the blocks an MTP module of a one-block-per-layer model may hold (mtp_layer_types): vLLM's
# NemotronHMultiTokenPredictor builds "*" (attention) and "E" (MoE) layers and raises NotImplementedError on any other
# letter (vllm/model_executor/models/nemotron_h_mtp.py)
MTP_LAYER_TYPES = ("full", "ffn")


@dataclass(frozen=True)
class ModelSpec:
    """A whole decoder-only model."""

    name: str = _f("model name")
    num_layers: int = _f("decoder layers", minimum=1, maximum=MAX_LAYERS)
    hidden_size: int = _f("model width d_model", minimum=1, maximum=MAX_WIDTH)
    vocab_size: int = _f("vocabulary size", minimum=1, maximum=MAX_WIDTH)
    attention: Attention | None = _f("attention block; null: no layer attends, every layer is linear (a pure "
                                     "state-space model: Mamba, Falcon-Mamba, Mamba-2)")
    ffn: FFN | None = _f("feed-forward block; null: no layer has one, each layer is its mixer alone (Mamba's "
                         "MambaBlock: one norm, one mixer)")
    tie_word_embeddings: bool = _f("output head shares the embedding matrix", False)
    layer_types: tuple | None = _f("per-layer attention: full, sliding (sliding_window), chunked (chunk_size) or "
                                  "linear (linear_attention), or ffn: no attention, the layer is its FFN alone. "
                                  "With ffn layers every layer holds one block (Nemotron-H): ffn layers the FFN, "
                                  "the others their attention block and no FFN. A list of num_layers entries, or a "
                                  "shorter period that repeats (gpt-oss: [sliding, full]); none: from "
                                  "sliding_window/global_every. Compressed attention (DeepSeek-V4) has sliding "
                                  "(the window alone), csa and hca layers (the window and compressed entries of "
                                  "attention.csa_rate, attention.hca_rate tokens)", None, kind="layer_types")
    linear_attention: LinearAttention | None = _f("the linear-attention block of the linear layers (and, with "
                                                  "parallel_mixers, of every layer)", None)
    parallel_mixers: bool = _f("every layer holds linear_attention's block beside its attention, both on the "
                               "layer's normed input, their outputs summed before the FFN (Falcon-H1: GQA and Mamba-2 "
                               "in parallel in every layer): each layer caches its K/V and holds its state. Every "
                               "layer must be full, sliding or chunked", False)
    residual_extras: ResidualExtras | None = _f("AltUp, LAuReL and per-layer inputs on the residual stream "
                                                "(Gemma-3n); none: a plain residual stream", None)
    norms_per_layer: int = _f("RMSNorms of hidden_size per layer (Gemma-2/3 sandwich norms: 4)", 2, minimum=1)
    norm_vectors: int = _f("vectors of hidden_size each of those norms and the final norm holds: 1 an RMSNorm's weight; "
                           "2 a LayerNorm's weight and bias (Nemotron-4's LayerNorm1P; GPT-2's, Phi's, StarCoder2's "
                           "nn.LayerNorm); 0 none, a LayerNorm without parameters (OLMo-1's). Their parameters; the "
                           "norms' computation is the same", 1, minimum=0, maximum=2)
    embedding_norm: bool = _f("one more norm of hidden_size, of norm_vectors vectors, on the token embeddings before "
                              "the first layer (BLOOM's word_embeddings_layernorm: weight and bias, 2 d parameters)",
                              False)
    position_embeddings: int = _f("rows of a learned absolute position table of hidden_size each, added to the token "
                                  "embeddings (rows x d parameters, with the embedding: GPT-2's wpe of n_positions "
                                  "rows, OPT's embed_positions of max_position_embeddings + 2); 0: none (RoPE, "
                                  "ALiBi)", 0, minimum=0, maximum=MAX_COUNT)
    final_logit_softcap: bool = _f("the head's logits are soft-capped, cap x tanh(logits / cap), before the loss "
                                   "(Gemma-2's, Gemma-3n's and Gemma-4's final_logit_softcapping: 30; transformers "
                                   "Gemma4ForCausalLM). The cap's value sizes nothing: training keeps tanh's output, "
                                   "b s V values in the activation dtype", False)
    head_bias: bool = _f("the output head has a bias of vocab_size (Phi's and GPT-J's lm_head: nn.Linear(d, vocab), "
                         "bias=True), kept apart from the embedding when the head is tied", False)
    image_tokens: int = _f("tokens of image features each sequence's cross layers attend and cache (a deployment "
                           "choice: --image-tokens)", 0, minimum=0, maximum=MAX_COUNT)
    hyper_connections: int = _f("residual streams of Manifold-Constrained Hyper-Connections (mHC, Xie et al. 2026, "
                                "arXiv 2512.24880; DeepSeek-V4's hc_mult: 4): each layer's attention and FFN read a "
                                "mix of the n streams and write back to all of them, through a mapping of "
                                "(2 + n) n outputs from the n d normed streams (its weight, biases and 3 scales) "
                                "before each, and one n-output collapse before the head; stored in fp32. 1: a plain "
                                "residual", 1, minimum=1, maximum=MAX_HEADS)
    mtp_layers: int = _f("multi-token-prediction modules (DeepSeek-V3: 1); counted apart in weights", 0,
                         minimum=0, maximum=MAX_LAYERS)
    mtp_layer_type: str | None = _f("full | sliding | csa | hca: whose attention block the MTP modules' layer has, "
                                    "where the sliding layers have a shape of their own (MiMo-V2-Flash: sliding) or "
                                    "the attention is compressed (DeepSeek-V4: sliding, csa or hca); none: the last "
                                    "layer's", None, choices=("full", "sliding", "csa", "hca"))
    mtp_ffn: str | None = _f("dense | moe: the FFN of the MTP modules' layer where it is not the last layer's "
                             "(Step-3.5-Flash: dense, its last layer MoE); none: the last layer's", None,
                             choices=("dense", "moe"))
    mtp_layer_types: tuple | None = _f("the blocks of each MTP module in a one-block-per-layer model (ffn layers: "
                                       "Nemotron-H), one layer type each, full or ffn: Nemotron 3 Super's "
                                       "mtp_hybrid_override_pattern '*E' is [full, ffn]. Each block is counted as the "
                                       "last main-model layer of its type, and the module holds enorm, hnorm, eh_proj "
                                       "(2d x d) and a final norm (vLLM nemotron_h_mtp.py); none: one layer of the "
                                       "last layer's kind, two norms and eh_proj (DeepSeek-V3)", None,
                                       kind="mtp_layer_types")
    dtypes: DTypes = _f("default dtypes", DTypes())
    quantization: Quantization | None = _f("the checkpoint's quantized weights (none: every matrix at "
                                           "dtypes.weights)", None)
    max_context: int | None = _f("longest context the model is configured for (HF max_position_embeddings); "
                                 "commands warn past it; none: unknown", None, minimum=1)
    source: str = _f("where the numbers come from (a public config URL, a paper)", "")
    description: str = _f("one line on what this model or variant is", "")
    excluded: tuple = _f("parts of the checkpoint that no number counts, one line each (a multimodal config.json's "
                         "vision encoder, under vision_config): weights and fit say so in their notes and list them in "
                         "--json as \"excluded\", so that a tower left out is not memory silently left out", (),
                         kind="texts")
    warnings: tuple = _f("what the reading of a config.json assumed, one line each (a model_type this tool does not "
                         "know, read as a standard decoder from its llama-style fields): every command prints them "
                         "on stderr and lists them in --json as \"warnings\"", (), kind="texts")

    def __post_init__(self):
        # the sliding layers' block, built once so that every calculator sees the same object (mlacalc.attention
        # groups layers by their block's identity); not a field: specs compare and print without it
        object.__setattr__(self, "_sliding", _sliding_block(self.attention))
        # the per-layer blocks of attention.layer_heads, one object per distinct pair (None: every layer's is the
        # block above); built before validation, which refuses a list of the wrong length (then none is built)
        object.__setattr__(self, "_per_layer", _layer_head_blocks(self.attention, self.num_layers))
        # compressed attention (DeepSeek-V4): one block a layer type, sliding, csa and hca; the sliding one is the
        # sliding layers' (and an MTP layer's of mtp_layer_type sliding)
        compressed = _compressed_blocks(self.attention)
        object.__setattr__(self, "_compressed", compressed)
        if compressed:
            object.__setattr__(self, "_sliding", compressed["sliding"])
        # msa: the block of the layers attention.index_layers leaves without the indexer (plain GQA), or None
        object.__setattr__(self, "_dense", _dense_block(self.attention, self.num_layers))

    @property
    def caveats(self) -> tuple:
        """``(name, lines)`` for ``excluded`` and ``warnings``, those that are not empty: what each report built
        from this spec carries into its ``--json`` (``"excluded"``, ``"warnings"``), so that a script reading stdout
        alone learns what the notes and stderr say (a config.json's vision tower not counted, an unknown model_type
        sized as llama). () for every built-in spec: their JSON is left as it was."""
        return tuple((k, getattr(self, k)) for k in ("excluded", "warnings") if getattr(self, k))

    @property
    def sliding_attention(self) -> Attention:
        """The attention block of the sliding layers: ``attention`` with ``attention.sliding_shape``'s heads and
        head dims (and the kind they make), or ``attention`` itself without a sliding shape."""
        return self._sliding

    @property
    def layer_heads(self) -> tuple | None:
        """``attention.layer_heads``: each layer's (query heads, K/V heads), None on layers without attention; or None
        where the spec gives none (a model without attention included)."""
        return None if self.attention is None else self.attention.layer_heads

    def type_block(self, layer_type: str) -> Attention:
        """The attention block of the layers of ``layer_type`` (what an MTP layer of ``mtp_layer_type`` has): the
        sliding layers' block for sliding, compressed attention's own for csa and hca, else ``attention``."""
        if layer_type in ("csa", "hca") and self._compressed:
            return self._compressed[layer_type]
        return self._sliding if layer_type == "sliding" else self.attention

    def attention_block(self, layer: int) -> Attention:
        """The softmax-attention block of decoder layer ``layer`` (one whose type is not linear or ffn):
        ``attention.layer_heads``' block of its heads where it gives them, else the sliding layers' block on a sliding
        layer, else, for msa attention, plain GQA of its heads on a layer ``attention.index_layers`` marks 0, else
        ``attention``. Layers of equal heads get the same object, and heads equal to ``attention``'s get
        ``attention`` itself (mlacalc.attention groups layers by their block's identity)."""
        if self._per_layer is not None and self._per_layer[layer] is not None:
            return self._per_layer[layer]
        if self._dense is not None and not self.attention.index_layers[layer]:
            return self._dense
        return self.type_block(self.layer_type(layer))

    @property
    def uniform_attention(self) -> bool:
        """Whether every attention layer has ``attention``'s block: no sliding shape of its own, no layer whose
        ``attention.layer_heads`` differ from ``attention``'s heads, and no msa layer left without the indexer."""
        return self._sliding is self.attention and self._per_layer is None and self._dense is None

    @property
    def mixer_kind(self) -> str:
        """The kind of the attention block, or, in a model without attention, of its linear block (``mamba1``)."""
        return self.attention.kind if self.attention is not None else self.linear_attention.kind

    @property
    def attention_shapes(self) -> int:
        """Distinct attention shapes of the layers: 2 with a sliding shape, else 1."""
        return 1 if self._sliding is self.attention else 2

    def layer_type(self, layer: int) -> str:
        """The attention of decoder layer ``layer`` (0-based): ``layer_types`` (repeating when shorter), else a
        sliding window with every ``global_every``-th layer full, else chunks, else full attention."""
        if self.layer_types:
            return self.layer_types[layer % len(self.layer_types)]
        a = self.attention
        if a.sliding_window is not None:
            return "full" if a.global_every is not None and (layer + 1) % a.global_every == 0 else "sliding"
        if a.chunk_size is not None:
            return "chunked"
        return "full"

    @property
    def kv_sharing(self) -> bool:
        """Whether some layers read another layer's K/V instead of projecting and caching their own
        (``attention.kv_share_layers`` > 1 or ``attention.kv_shared_tail`` > 0)."""
        return self.attention.kv_share_layers > 1 or self.attention.kv_shared_tail > 0

    def owns_kv(self, layer: int) -> bool:
        """Whether decoder layer ``layer`` (0-based) projects and caches its own K/V: every layer, except

        - under cross-layer attention (``attention.kv_share_layers`` N > 1) only layers ``0, N, 2N, ...`` (Tencent's
          ``modeling_hunyuan.py``, sunyanguomt/Tencent-Hunyuan-Large ``models/modeling_hunyuan.py``: ``kv_states``
          passed on ``if self.cla and layer_idx % self.cla_share_factor == 0``; vLLM
          ``vllm/model_executor/models/hunyuan_v1.py`` ``HunYuanDecoderLayer``: a ``HunYuanCrossAttention`` with
          ``q_proj`` and ``o_proj`` only where ``layer_id % cla_factor != 0``). With L layers ``ceil(L / N)`` own K/V;
        - under trailing sharing (``attention.kv_shared_tail`` N > 0) the first ``L - N`` (transformers
          ``Gemma3nTextAttention``: ``is_kv_shared_layer = layer_idx >= num_hidden_layers - num_kv_shared_layers``;
          vLLM ``gemma3n.py``: ``is_kv_shared``); a model without attention has nothing to share."""
        a = self.attention
        if a is None:
            return True
        if a.kv_shared_tail:
            return layer < self.num_layers - a.kv_shared_tail
        return layer % a.kv_share_layers == 0

    def kv_source(self, layer: int) -> int:
        """The layer whose K/V cache decoder layer ``layer`` attends: itself where it owns K/V (:meth:`owns_kv`);
        its cross-layer group's first layer (``attention.kv_share_layers``); under ``attention.kv_shared_tail`` the
        last layer before the shared ones of the same type (transformers ``Gemma3nTextAttention``:
        ``kv_shared_layer_index = len(prev_layers) - 1 - prev_layers[::-1].index(layer_types[layer_idx])``; vLLM
        ``gemma3n.py``: ``kv_sharing_target_layer_name``). -1 where there is none (refused at load)."""
        if self.owns_kv(layer):
            return layer
        a = self.attention
        if not a.kv_shared_tail:
            return layer - layer % a.kv_share_layers
        t = self.layer_type(layer)
        first = self.num_layers - a.kv_shared_tail
        return next((i for i in range(first - 1, -1, -1) if self.layer_type(i) == t), -1)

    @property
    def num_kv_layers(self) -> int:
        """Attention layers that cache their own K/V: all but the cross-layer readers (:meth:`owns_kv`) and the linear
        and ffn layers."""
        return sum(self.owns_kv(i) and self.layer_type(i) not in ("linear", "ffn") for i in range(self.num_layers))

    @property
    def holds_state(self) -> bool:
        """Whether some layer holds a linear block's state (``dtypes.state``, ``dtypes.ssm_state``): a linear layer, or
        the block beside every layer's attention (``parallel_mixers``: Falcon-H1)."""
        return self.parallel_mixers or any(self.layer_type(i) == "linear" for i in range(self.num_layers))

    def count_layers(self, layer_type: str) -> int:
        return sum(self.layer_type(i) == layer_type for i in range(self.num_layers))

    @property
    def one_block_per_layer(self) -> bool:
        """Whether each layer holds one block, a token mixer or an FFN (Nemotron-H's ``M``, ``*``, ``-``, ``E``
        layers, transformers ``NemotronHBlock``: one norm, one mixer): the spec has ``ffn`` layers, or no FFN at all
        (``ffn`` null: Mamba's ``MambaBlock``, a norm and a mixer a layer). Not with ``ffn.layer_widths``, which says
        layer by layer whether there is an FFN (:meth:`has_ffn`)."""
        if self.layer_widths is not None:
            return False
        return self.ffn is None or "ffn" in (self.layer_types or ())

    @property
    def layer_widths(self) -> tuple | None:
        """``ffn.layer_widths``: the dense FFN width of each layer (0: none), or None."""
        return None if self.ffn is None else self.ffn.layer_widths

    def has_ffn(self, layer: int) -> bool:
        """Whether decoder layer ``layer`` has an FFN block: every layer does, except the attention and linear
        layers of a one-block-per-layer model (all of them without an FFN block); with ``ffn.layer_widths``, the
        layers whose width is not 0 (Nemotron-NAS: ``ffn.no_op`` layers have none)."""
        if self.layer_widths is not None:
            return self.layer_widths[layer] > 0
        return self.ffn is not None and (not self.one_block_per_layer or self.layer_type(layer) == "ffn")

    def ffn_width(self, layer: int) -> int:
        """Width of decoder layer ``layer``'s dense FFN: its ``ffn.layer_widths`` entry, else
        ``ffn.intermediate_size`` (0 where the layer has no FFN; an MoE layer's dense width is not its experts')."""
        if not self.has_ffn(layer):
            return 0
        return self.layer_widths[layer] if self.layer_widths is not None else self.ffn.intermediate_size

    def layer_norms(self, layer: int) -> int:
        """RMSNorms of hidden_size in decoder layer ``layer``: ``norms_per_layer``; with ``ffn.layer_widths``, half of
        them per block the layer holds, its mixer and its FFN (Nemotron-NAS, transformers' ``modeling_decilm.py`` and
        vLLM ``nemotron_nas.py`` ``DeciLMDecoderLayer``: ``input_layernorm`` only where the attention is not
        ``no_op``, ``post_attention_layernorm`` only where the FFN is not: 2, 1 or 0). A layer that holds both blocks
        keeps all ``norms_per_layer`` whatever their parity (1 // 2 x 2 read 0 norms a layer)."""
        if self.layer_widths is None:
            return self.norms_per_layer
        blocks = self.has_mixer(layer) + self.has_ffn(layer)
        return self.norms_per_layer if blocks == 2 else self.norms_per_layer // 2 * blocks

    def has_mixer(self, layer: int) -> bool:
        """Whether decoder layer ``layer`` has an attention (or linear-attention) block: all but ``ffn`` layers."""
        return self.layer_type(layer) != "ffn"

    def is_moe_layer(self, layer: int) -> bool:
        """Whether decoder layer ``layer`` (0-based) has the MoE block: an FFN layer past ``first_dense_layers`` and
        before the ``last_dense_layers``, the layers ``N-1, 2N-1, ...`` for ``moe_layer_step`` N (transformers
        Llama4TextConfig: ``moe_layers = range(step - 1, L, step)``; Qwen2MoeDecoderLayer: ``(layer_idx + 1) %
        decoder_sparse_step == 0``)."""
        f = self.ffn
        return f is not None and f.kind == "moe" and \
            f.first_dense_layers <= layer < self.num_layers - f.last_dense_layers and \
            (layer + 1) % f.moe_layer_step == 0 and self.has_ffn(layer)

    @property
    def num_ffn_layers(self) -> int:
        """Layers with an FFN block (all of them unless one block per layer or ``ffn.layer_widths`` says otherwise)."""
        if self.one_block_per_layer or self.layer_widths is not None:
            return sum(self.has_ffn(i) for i in range(self.num_layers))
        return self.num_layers

    @property
    def num_blocks(self) -> int:
        """Mixer and FFN blocks over all layers: two a layer, three with parallel mixers (the attention, the linear
        block beside it and the FFN), or one a layer when one block per layer. Each ends in a row-parallel
        projection, so under tensor parallelism each is one all-reduce: vLLM's ``FalconH1ParallelHybrid``
        (``vllm/model_executor/models/falcon_h1.py``) sums ``attn_hidden`` and ``ssm_hidden`` after the attention's
        ``o_proj`` and the ``MambaMixer2``'s ``out_proj`` have each reduced their ``RowParallelLinear`` output. Parallel
        mixers without an FFN (``ffn`` null) are two a layer."""
        mixers = 2 if self.parallel_mixers else 1      # the attention, and the linear block beside it
        if self.layer_widths is not None:              # the blocks each layer holds (Nemotron-NAS: 2, 1 or 0)
            return sum(mixers * self.has_mixer(i) + self.has_ffn(i) for i in range(self.num_layers))
        if self.one_block_per_layer:                    # no FFN beside them (ffn null), or an FFN layer's FFN alone
            return mixers * self.num_layers
        return (mixers + 1) * self.num_layers

    @property
    def num_moe_layers(self) -> int:
        f = self.ffn
        return sum(self.is_moe_layer(i) for i in range(self.num_layers)) if f is not None and f.kind == "moe" else 0

    @property
    def num_dense_layers(self) -> int:
        """Layers with a dense FFN."""
        return self.num_ffn_layers - self.num_moe_layers


SUBS = {"attention": Attention, "ffn": FFN, "dtypes": DTypes, "linear_attention": LinearAttention,
        "quantization": Quantization, "residual_extras": ResidualExtras}
NESTED = {ModelSpec: SUBS, Attention: {"sliding_shape": AttentionShape}}    # mappings inside a mapping


def _sliding_block(a: Attention | None) -> Attention | None:
    """``a`` with its ``sliding_shape`` applied (fields left out keep ``a``'s), or ``a`` itself without one (None for a
    model without attention). The kind follows the heads for mha/mqa (8 KV heads under 64 query heads is GQA-8,
    whatever the full layers are)."""
    if a is None:
        return None
    sh = a.sliding_shape
    if sh is None:
        return a
    new = {k: getattr(sh, k) for k in SHAPE_FIELDS if getattr(sh, k) is not None}
    heads, kv = new.get("num_heads", a.num_heads), new.get("num_kv_heads", a.num_kv_heads)
    kind = a.kind
    if kind in ("mha", "mqa", "gqa") and kind != "gqa":
        kind = heads_kind(heads, kv)
    block = dataclasses.replace(a, **new, kind=kind, sliding_shape=None)
    # a shape that changes nothing is no second block: every number is the plain spec's, training included
    return a if block == dataclasses.replace(a, sliding_shape=None) else block


def _dense_block(a: Attention | None, num_layers: int) -> Attention | None:
    """The block of an msa model's layers that ``attention.index_layers`` marks 0: ``a`` without the indexer, of the
    kind its heads make (GQA-4 for MiniMax-M3's first 3 layers: transformers ``MiniMaxM3VLAttention`` without an
    ``indexer``, vLLM ``MiniMaxM3Attention``). None where every layer runs the indexer, for other kinds, and for a list
    of the wrong length (refused by validation)."""
    if a is None or a.kind != "msa" or a.index_layers is None or len(a.index_layers) != num_layers or \
            all(a.index_layers):
        return None
    return dataclasses.replace(a, kind=heads_kind(a.num_heads, a.num_kv_heads), index_n_heads=None,
                               index_head_dim=None, index_cache_bytes=None, index_topk_blocks=None,
                               index_block_size=None, index_layers=None)


def _compressed_blocks(a: Attention | None) -> dict:
    """Compressed attention's blocks, one a layer type (:class:`CompressedLayer` of ``a``'s fields), by type; {}
    for any other attention."""
    if a is None or a.kind != "compressed":
        return {}
    own = {f.name: getattr(a, f.name) for f in fields(Attention)}
    return {t: CompressedLayer(**own, layer_kind=t) for t in ("sliding", "csa", "hca")}


def _layer_head_blocks(a: Attention | None, num_layers: int) -> tuple | None:
    """The attention block of each layer under ``a.layer_heads`` (``a`` with that layer's ``num_heads`` and
    ``num_kv_heads``; None on a layer whose entry is null), one object per distinct pair and ``a`` itself where the
    pair is ``a``'s; None without a list, with one of the wrong length (refused by validation), or where every layer's
    block is ``a`` (a list of ``a``'s heads is the plain spec: every number the same)."""
    if a is None or a.layer_heads is None or len(a.layer_heads) != num_layers:
        return None
    made: dict[tuple, Attention] = {(a.num_heads, a.num_kv_heads): a}
    out = []
    for pair in a.layer_heads:
        if pair is None:
            out.append(None)
            continue
        pair = tuple(pair)
        if pair not in made:
            made[pair] = dataclasses.replace(a, num_heads=pair[0], num_kv_heads=pair[1], layer_heads=None)
        out.append(made[pair])
    return None if all(b is a or b is None for b in out) else tuple(out)


# ---------------------------------------------------------------------------------------------------------
# Validation: raw dict (from YAML/JSON/overrides) -> frozen dataclasses
# ---------------------------------------------------------------------------------------------------------

def _whole(value: Any, path: str, minimum: int | None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not value.is_integer()):
        raise SpecError(path, f"expected a whole number, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise SpecError(path, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SpecError(path, f"must be at most {maximum:,}, got {value:,}")
    return value


def _choice_list(value: Any, path: str, choices: tuple[str, ...], what: str, unique: bool = False) -> tuple:
    """A non-empty list whose entries are all among ``choices`` (each at most once when ``unique``), as a tuple."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise SpecError(path, f"expected a list of {what} ({', '.join(choices)}), got {value!r}")
    for i, v in enumerate(value):
        if v not in choices:
            raise SpecError(f"{path}[{i}]", f"must be one of {', '.join(choices)}, got {v!r}")
    if unique and len(set(value)) != len(value):
        raise SpecError(path, f"lists a {what[:-1]} twice: {list(value)}")
    return tuple(value)


def _texts(value: Any, path: str) -> tuple:
    """A list of one-line texts (``excluded``, ``warnings``), possibly empty, as a tuple: each is printed as a line
    of its own, so a line break or tab inside one is refused, as in ``name``."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SpecError(path, f"expected a list of one-line texts, got {show(value)}")
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip() or not v.isprintable():
            raise SpecError(f"{path}[{i}]", f"expected one line of printable text, got {show(v)}")
    return tuple(value)


def _widths(value: Any, path: str) -> tuple:
    """A non-empty list of whole numbers of at least 0 (``ffn.layer_widths``), as a tuple. Its length is checked
    against ``num_layers`` with the other fields (:func:`_check_layer_widths`); one longer than any model's layers is
    refused here, before the entries are read."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise SpecError(path, f"expected a list of whole numbers, one FFN width a layer (0: no FFN), got {show(value)}")
    if len(value) > MAX_LAYERS:
        raise SpecError(path, f"has {len(value):,} entries, more than the {MAX_LAYERS:,} layers a spec may have")
    return tuple(_whole(v, f"{path}[{i}]", 0) for i, v in enumerate(value))


def _flags(value: Any, path: str) -> tuple:
    """A non-empty list of 0 and 1, one a layer (``attention.index_layers``), as a tuple. Its length is checked
    against ``num_layers`` by the attention family (:meth:`~mlacalc.attention.msa.MSA.validate_model`); one longer
    than any model's layers is refused here."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise SpecError(path, f"expected a list of 0 and 1, one a layer, got {show(value)}")
    if len(value) > MAX_LAYERS:
        raise SpecError(path, f"has {len(value):,} entries, more than the {MAX_LAYERS:,} layers a spec may have")
    for i, v in enumerate(value):
        if isinstance(v, bool) or v not in (0, 1):
            raise SpecError(f"{path}[{i}]", f"must be 0 or 1, got {show(v)}")
    return tuple(int(v) for v in value)


def _heads(value: Any, path: str) -> tuple:
    """A non-empty list of ``[heads, kv_heads]`` pairs of whole numbers from 1 to :data:`MAX_HEADS`, or nulls
    (``attention.layer_heads``), as a tuple of tuples. Its length and the pairs' rules are checked with the other
    fields (:func:`_check_layer_heads`); one longer than any model's layers is refused here."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise SpecError(path, f"expected a list of [heads, kv_heads] pairs, one a layer (null: no attention), got "
                              f"{show(value)}")
    if len(value) > MAX_LAYERS:
        raise SpecError(path, f"has {len(value):,} entries, more than the {MAX_LAYERS:,} layers a spec may have")
    out = []
    for i, pair in enumerate(value):
        if pair is None:
            out.append(None)
            continue
        if isinstance(pair, str) or not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise SpecError(f"{path}[{i}]", f"expected [heads, kv_heads] (or null), got {show(pair)}")
        out.append(tuple(_whole(v, f"{path}[{i}][{j}]", 1, MAX_HEADS) for j, v in enumerate(pair)))
    return tuple(out)


def _check_value(value: Any, f: dataclasses.Field, path: str) -> Any:
    meta = f.metadata
    kind = meta.get("kind")
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    optional = "None" in t
    if value is None:
        if optional:
            return None
        raise SpecError(path, "is required and may not be empty")
    if kind == "dtype":
        dtype_bits(value, path)
        return value
    if kind == "kv_dtype":
        kv_dtype_layout(value, path)
        return value
    if kind == "components":
        return _choice_list(value, path, QUANT_COMPONENTS, "components", unique=True)
    if kind == "projections":
        if isinstance(value, (list, tuple)) and not value:
            return ()
        return _choice_list(value, path, ATTN_PROJECTIONS, "projections", unique=True)
    if kind == "layer_types":
        return _choice_list(value, path, LAYER_TYPES, "layer types")
    if kind == "mtp_layer_types":
        return _choice_list(value, path, MTP_LAYER_TYPES, "layer types")
    if kind == "widths":
        return _widths(value, path)
    if kind == "heads":
        return _heads(value, path)
    if kind == "flags":
        return _flags(value, path)
    if kind == "texts":
        return _texts(value, path)
    base = t.replace("| None", "").strip()
    if base == "bool":
        if not isinstance(value, bool):
            raise SpecError(path, f"expected true or false, got {value!r}")
    elif base == "int":
        value = _whole(value, path, meta.get("minimum"), meta.get("maximum"))
    elif base == "str":
        if not isinstance(value, str):
            raise SpecError(path, f"expected a string, got {value!r}")
        if meta.get("choices") and value not in meta["choices"]:
            raise SpecError(path, f"must be one of {', '.join(meta['choices'])}, got {value!r}")
    return value


def _unknown_key(key: str, known: list[str], path: str) -> SpecError:
    near = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(known)})"
    return SpecError(f"{path}{key}", f"unknown field{hint}")


def _build(cls, data: Any, path: str):
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise SpecError(path.rstrip(".") or cls.__name__, f"expected a mapping, got {type(data).__name__}")
    by_name = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in by_name:
            raise _unknown_key(str(key), list(by_name), path)
    kwargs = {}
    for name, f in by_name.items():
        if name not in data:
            if f.default is dataclasses.MISSING:
                raise SpecError(f"{path}{name}", "is required")
            continue
        sub = NESTED.get(cls, {}).get(name)
        if sub and data[name] is None and "None" in str(by_name[name].type):
            kwargs[name] = None
            continue
        kwargs[name] = _build(sub, data[name], f"{path}{name}.") if sub else \
            _check_value(data[name], f, f"{path}{name}")
    return cls(**kwargs)


def _expand_head_dim(a: dict, path: str) -> dict:
    """The ``head_dim``/``rope_dim`` shorthand of the mapping at ``path`` expanded into the three head dims."""
    a = dict(a)
    if "head_dim" in a:
        explicit = [k for k in ("qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim") if k in a]
        if explicit:
            raise SpecError(f"{path}.head_dim", f"give either head_dim or {', '.join(explicit)}, not both")
        hd = _whole(a.pop("head_dim"), f"{path}.head_dim", minimum=1)
        rope = _whole(a.pop("rope_dim", hd), f"{path}.rope_dim", minimum=0)
        if rope > hd:
            raise SpecError(f"{path}.rope_dim", f"({rope}) cannot exceed head_dim ({hd})")
        a.update(qk_nope_head_dim=hd - rope, qk_rope_head_dim=rope, v_head_dim=hd)
    elif "rope_dim" in a:
        raise SpecError(f"{path}.rope_dim", "only goes with head_dim")
    return a


def _normalise_attention(raw: dict) -> dict:
    """Expand the ``head_dim``/``rope_dim`` shorthand (of ``sliding_shape`` too) and default KV heads from the
    kind."""
    a = _expand_head_dim(raw, "attention")
    if isinstance(a.get("sliding_shape"), dict):
        a["sliding_shape"] = _expand_head_dim(a["sliding_shape"], "attention.sliding_shape")
    if a.get("kind") in ATTENTION_KINDS:
        a = family(a["kind"]).normalise(a)
    return a


def _normalise_linear(raw: dict) -> dict:
    """A lightning block without ``conv_kernel_size`` has none (1: no inputs kept), not the other kinds' 4; a
    kind's own defaults (short_conv: one channel a head) from its family."""
    if raw.get("kind") == "lightning" and "conv_kernel_size" not in raw:
        return {**raw, "conv_kernel_size": 1}
    if raw.get("kind") in LINEAR_KINDS:
        return family(raw["kind"]).normalise(raw)
    return raw


def _cross_checks(spec: ModelSpec) -> None:
    """Consistency rules that span fields. Each raises a one-line SpecError."""
    if spec.attention is None:
        _check_attention_free(spec)
    else:
        _check_attention(spec)
    if spec.linear_attention is not None:
        family(spec.linear_attention).validate(spec.linear_attention)
        family(spec.linear_attention).validate_model(spec.linear_attention, spec)
    _check_layers(spec)
    _check_parallel_mixers(spec)
    if spec.attention is not None:
        _check_kv_sharing(spec)
    _check_residual_extras(spec)
    _check_unquantized(spec)
    _check_experts_width(spec)
    if spec.hyper_connections > 1 and spec.residual_extras is not None:
        raise SpecError("hyper_connections", "with residual_extras (AltUp, LAuReL, per-layer inputs) is not modelled")
    f = spec.ffn
    if f is not None and f.kind == "moe" and f.hash_layers:
        if f.hash_layers > spec.num_moe_layers:
            raise SpecError("ffn.hash_layers", f"({f.hash_layers}) exceeds the MoE layers ({spec.num_moe_layers})")
    if f is None:
        if "ffn" in (spec.layer_types or ()):
            raise SpecError("ffn", "is required: layer_types has ffn layers")
        return
    if f.kind == "moe":
        if f.mlp_bias:          # counted nowhere in an MoE block: set there it would change no number
            raise SpecError("ffn.mlp_bias", "applies to a dense FFN (kind dense), not moe (biases of an MoE model's "
                                            "dense layers are not modelled)")
        if f.num_experts < 1 or f.experts_per_token < 1 or f.expert_intermediate_size < 1:
            raise SpecError("ffn", "moe needs num_experts, experts_per_token and expert_intermediate_size >= 1")
        if f.experts_per_token > f.num_experts:
            raise SpecError("ffn.experts_per_token", f"({f.experts_per_token}) exceeds num_experts "
                            f"({f.num_experts})")
        if f.first_dense_layers > spec.num_layers:
            raise SpecError("ffn.first_dense_layers", f"exceeds num_layers ({spec.num_layers})")
        if f.first_dense_layers + f.last_dense_layers > spec.num_layers:
            raise SpecError("ffn.last_dense_layers", f"({f.last_dense_layers}) and first_dense_layers "
                                                     f"({f.first_dense_layers}) exceed num_layers ({spec.num_layers})")
        if f.moe_layer_step > spec.num_layers:
            raise SpecError("ffn.moe_layer_step", f"({f.moe_layer_step}) exceeds num_layers ({spec.num_layers})")
        if f.branch_norms:
            _check_branch_norms(spec)
    else:
        _refuse_expert_fields(f)
    if f.layer_widths is not None:
        _check_layer_widths(spec)


def _check_branch_norms(spec: ModelSpec) -> None:
    """``ffn.branch_norms`` (Gemma-4's MoE block) as transformers builds it: one shared expert (the dense MLP) beside
    the routed experts on every layer (``Gemma4TextDecoderLayer`` builds router and experts on every layer under
    ``enable_moe_block``), and 8 norms a layer: the 4 sandwich norms, the branches' 3 and the router's scale."""
    f = spec.ffn
    if f.num_shared_experts != 1:
        raise SpecError("ffn.branch_norms", f"needs one shared expert (the dense MLP beside the experts), got "
                                            f"num_shared_experts {f.num_shared_experts}")
    if f.first_dense_layers or f.last_dense_layers or f.moe_layer_step != 1:
        raise SpecError("ffn.branch_norms", "puts the experts beside the MLP on every layer: first_dense_layers, "
                                            "last_dense_layers and moe_layer_step do not go with it")
    if spec.norms_per_layer != 8:
        raise SpecError("ffn.branch_norms", f"needs norms_per_layer 8 (4 sandwich norms, the branches' 3 and the "
                                            f"router's scale), got {spec.norms_per_layer}")


def _check_layer_widths(spec: ModelSpec) -> None:
    """``ffn.layer_widths`` (Nemotron-NAS's per-layer FFN widths): a dense FFN, one width a layer, the widest equal to
    ``intermediate_size`` (what the workspace and the width-less readers take), on layers that each hold their own
    blocks (no parallel mixers, no MTP module whose width is unsaid), with ``norms_per_layer`` even where a layer
    misses a block (half of them a block: :meth:`ModelSpec.layer_norms`). Anything else is one line."""
    f, L, where = spec.ffn, spec.num_layers, "ffn.layer_widths"
    if f.kind == "moe":
        raise SpecError(where, "applies to a dense FFN, not moe (per-layer widths of experts are not modelled)")
    if len(f.layer_widths) != L:
        raise SpecError(where, f"has {len(f.layer_widths)} entries for {L} layers (one width a layer, 0: no FFN)")
    if max(f.layer_widths) != f.intermediate_size:
        raise SpecError("ffn.intermediate_size", f"({f.intermediate_size}) must be the widest of ffn.layer_widths "
                                                 f"({max(f.layer_widths)}) when they are given")
    if spec.parallel_mixers:
        raise SpecError(where, "with parallel_mixers is not modelled")
    if spec.mtp_layers:
        raise SpecError(where, "with multi-token-prediction modules is not modelled (the MTP layer's width is not "
                               "given)")
    partial = any(spec.has_mixer(i) + spec.has_ffn(i) < 2 for i in range(L))
    if partial and spec.norms_per_layer % 2:
        raise SpecError("norms_per_layer", f"({spec.norms_per_layer}) must be even with ffn.layer_widths and layers "
                                           "missing a block: each block holds half of a layer's norms")


def refuse_layer_widths(spec: ModelSpec, what: str) -> None:
    """Refuse, in one line, a question whose answer would build or size every layer alike (training activations, the
    profiler's layers) for a spec whose layers have FFNs of their own widths (``ffn.layer_widths``: Nemotron-NAS)."""
    if spec.layer_widths is not None:
        raise SpecError("ffn.layer_widths", f"{what} is not modelled where each layer has an FFN of its own width, "
                                            f"or none ({spec.name})")


def _check_attention(spec: ModelSpec) -> None:
    """The attention block's own rules (heads, dims, its family's fields, the sliding shape, the KV layout)."""
    a = spec.attention
    _check_layer_heads(spec)        # first: the most of its layers' heads must be num_heads and num_kv_heads
    if a.num_kv_heads > a.num_heads:
        raise SpecError("attention.num_kv_heads", f"({a.num_kv_heads}) exceeds num_heads ({a.num_heads}): a K/V "
                                                  "head serves one or more query heads")
    if a.num_heads % a.num_kv_heads:
        raise SpecError("attention.num_kv_heads",
                        f"num_heads ({a.num_heads}) must be divisible by num_kv_heads ({a.num_kv_heads})")
    if a.qk_head_dim < 1:
        raise SpecError("attention.qk_nope_head_dim", "query/key head dim (nope + rope) must be at least 1")
    if a.kind != "msa":
        refuse_fields(a, MSA_FIELDS, "msa")
    family(a).validate(a)
    family(a).validate_model(a, spec)
    if a.head_gate and a.kind not in ("mha", "mqa", "gqa"):
        # counted nowhere in the latent families' projections: set there it would change no number
        raise SpecError("attention.head_gate", f"applies to mha, mqa and gqa attention, not {a.kind}")
    if a.v_norm and a.kind not in ("mha", "mqa", "gqa"):
        # the value norm is read by the conventional family's training tensors alone
        raise SpecError("attention.v_norm", f"applies to mha, mqa and gqa attention, not {a.kind}")
    if a.v_norm and a.kv_shared:
        raise SpecError("attention.v_norm", "and kv_shared both set: with kv_shared there is no value apart from the "
                                            "key to norm")
    _check_sliding_shape(spec)
    # the layout dtypes.kv names, refused where --kv-dtype would be (an MLA latent in int4, a DSA cache in fp4), at
    # load: it was priced as flat bits, int4 on MLA included (1088 B a token-layer with --kv-dtype int4 on
    # Llama-3.1-8B, 1024 from dtypes.kv: int4)
    check_kv_layout((a, spec.sliding_attention), spec.dtypes.kv_format)
    if a.global_every is not None and a.sliding_window is None:
        raise SpecError("attention.global_every", "needs sliding_window")


def _check_attention_free(spec: ModelSpec) -> None:
    """A model without attention (``attention`` null): every mixer linear (``linear`` layers, and ``ffn`` layers of a
    one-block-per-layer model), so that something holds the sequence (the state); nothing is cached per token, so
    ``dtypes.kv`` prices nothing there."""
    types = {spec.layer_type(i) for i in range(spec.num_layers)} if spec.layer_types else {"full"}
    if types - {"linear", "ffn"} or "linear" not in types:
        other = ", ".join(sorted(types - {"linear", "ffn"})) or "no linear"
        raise SpecError("attention", f"is required: layer_types has {other} layers (attention null means every "
                                     "mixer is linear)")


def _check_experts_width(spec: ModelSpec) -> None:
    """Routed experts stored at a width of their own (``quantization.experts_bits``) are routed experts the block
    quantizes; their group and scale go with it."""
    q = spec.quantization
    if q is None:
        return
    if q.experts_bits is None:
        if q.experts_group_size is not None:
            raise SpecError("quantization.experts_group_size", "needs quantization.experts_bits")
        return
    if "routed_experts" not in q.components:
        raise SpecError("quantization.experts_bits", "needs routed_experts among quantization.components")


def _check_unquantized(spec: ModelSpec) -> None:
    """``quantization.unquantized`` names projections of a quantized attention that this attention has: keeping
    ``q_down`` of a GQA block, or ``o`` of an attention left whole at 16 bits, would price nothing."""
    q = spec.quantization
    if q is None or not q.unquantized:
        return
    if "attention" not in q.components:
        raise SpecError("quantization.unquantized", "needs attention among quantization.components (the rest of "
                                                    "the attention quantized)")
    if spec.attention is None:
        raise SpecError("quantization.unquantized", "names attention projections, but the model has no attention")
    own = family(spec.attention).projections(spec.attention, spec.hidden_size)
    for i, name in enumerate(q.unquantized):
        if name not in own:
            raise SpecError(f"quantization.unquantized[{i}]", f"{spec.attention.kind} attention has no projection "
                                                              f"{name!r} (it has {', '.join(own)})")


def _check_sliding_shape(spec: ModelSpec) -> None:
    """A sliding shape belongs to conventional attention with sliding layers, and its block must be valid on its
    own (heads a multiple of KV heads, a key head of at least one dim)."""
    a = spec.attention
    if a.sliding_shape is None:
        return
    where = "attention.sliding_shape"
    if a.kind not in ("mha", "mqa", "gqa"):
        raise SpecError(where, f"applies to mha, mqa and gqa attention, not {a.kind}")
    if all(getattr(a.sliding_shape, k) is None for k in SHAPE_FIELDS):
        raise SpecError(where, "sets no field; give num_heads, num_kv_heads, head_dim or v_head_dim, or leave it out")
    if not any(spec.layer_type(i) == "sliding" for i in range(spec.num_layers)):
        raise SpecError(where, "is set but no layer is sliding")
    s = spec.sliding_attention
    if s.num_kv_heads > s.num_heads or s.num_heads % s.num_kv_heads:
        raise SpecError(f"{where}.num_kv_heads", f"the sliding layers' {s.num_heads} query heads must be a multiple "
                                                 f"of their {s.num_kv_heads} KV heads")
    if s.qk_head_dim < 1:
        raise SpecError(f"{where}.qk_nope_head_dim", "query/key head dim (nope + rope) must be at least 1")
    family(s).validate(s)


def _check_layer_heads(spec: ModelSpec) -> None:
    """``attention.layer_heads`` (OpenELM's, Nemotron-NAS's per-layer heads): conventional attention, one entry a
    layer, a pair on every layer with attention and null on the others (linear, ffn), each pair a valid block of the
    kind (heads a multiple of K/V heads; mha: as many K/V heads as heads, mqa: one), the most heads and K/V heads of
    any layer ``num_heads`` and ``num_kv_heads`` (what the workspace and the width-less readers take). Not with a
    sliding shape (two per-layer shapes), K/V shared across layers (a reader of other heads than its source's) or MTP
    modules (whose heads are unsaid). Anything else is one line."""
    a, L, where = spec.attention, spec.num_layers, "attention.layer_heads"
    heads = a.layer_heads
    if heads is None:
        return
    if a.kind not in ("mha", "mqa", "gqa"):
        raise SpecError(where, f"applies to mha, mqa and gqa attention, not {a.kind}")
    if len(heads) != L:
        raise SpecError(where, f"has {len(heads)} entries for {L} layers (one [heads, kv_heads] a layer, null where "
                               "the layer has no attention)")
    if a.sliding_shape is not None:
        raise SpecError(where, "with attention.sliding_shape is not modelled (give one or the other)")
    if a.kv_share_layers > 1 or a.kv_shared_tail:
        raise SpecError(where, "with cross-layer K/V sharing is not modelled")
    if spec.mtp_layers:
        raise SpecError(where, "with multi-token-prediction modules is not modelled (the MTP layer's heads are not "
                               "given)")
    for i, pair in enumerate(heads):
        t = spec.layer_type(i)
        attends = t not in ("linear", "ffn")
        if pair is None and attends:
            raise SpecError(f"{where}[{i}]", f"is null but layer {i} is a {t} attention layer: give its [heads, "
                                             "kv_heads]")
        if pair is None:
            continue
        if not attends:
            raise SpecError(f"{where}[{i}]", f"layer {i} is a {t} layer, without attention: its entry must be null, "
                                             f"got {list(pair)}")
        q, kv = pair
        if kv > q or q % kv:
            raise SpecError(f"{where}[{i}]", f"{q} heads must be a multiple of {kv} K/V heads")
        if a.kind == "mha" and kv != q:
            raise SpecError(f"{where}[{i}]", f"mha needs as many K/V heads as heads, got {list(pair)}; use kind: gqa")
        if a.kind == "mqa" and kv != 1:
            raise SpecError(f"{where}[{i}]", f"mqa needs one K/V head, got {list(pair)}; use kind: gqa")
    given = [p for p in heads if p is not None]
    if not given:
        raise SpecError(where, "is null on every layer: no layer attends")
    most_q, most_kv = max(q for q, _ in given), max(kv for _, kv in given)
    if most_q % most_kv:
        # the spec's block holds the most of each (the workspace's widest); layers of 12/4 and 10/5 make 12/5
        raise SpecError(where, f"the most heads ({most_q}) and the most K/V heads ({most_kv}) of any layer must make "
                               f"a block, num_heads a multiple of num_kv_heads (this spec's attention.num_heads and "
                               "num_kv_heads)")
    if (a.num_heads, a.num_kv_heads) != (most_q, most_kv):
        field = "num_heads" if a.num_heads != most_q else "num_kv_heads"
        raise SpecError(f"attention.{field}", f"num_heads and num_kv_heads ({a.num_heads}, {a.num_kv_heads}) must be "
                                              f"the most of attention.layer_heads ({most_q}, {most_kv}) when it is "
                                              "given")


def refuse_layer_heads(spec: ModelSpec, what: str) -> None:
    """Refuse, in one line, a question whose answer would build or size every attention layer alike (training
    activations, the profiler's layers, an engine's KV pages) for a spec whose layers have heads of their own
    (``attention.layer_heads``: OpenELM)."""
    if spec.attention is not None and spec._per_layer is not None:
        raise SpecError("attention.layer_heads", f"{what} is not modelled where the attention layers have heads of "
                                                 f"their own ({spec.name})")


def _check_kv_sharing(spec: ModelSpec) -> None:
    """K/V sharing across layers where the spec can price it. Cross-layer attention (``attention.kv_share_layers``
    > 1) as Hunyuan-Large has it: conventional attention (mha/mqa/gqa) on full layers only. Trailing sharing
    (``attention.kv_shared_tail``) as Gemma-3n has it: conventional attention on full and sliding layers, at least
    one layer owning K/V, and an owner of each reader's type before the readers (transformers' ``list.index`` finds
    none and raises). Neither with MTP modules (whose owner is undefined), nor both at once. Anything else (a reader
    in a chunked, cross or linear layer; an MLA latent shared across layers) is refused in one line rather than priced
    as something it is not."""
    a, n, tail = spec.attention, spec.attention.kv_share_layers, spec.attention.kv_shared_tail
    if a.reader_kv_weights and not spec.kv_sharing:
        raise SpecError("attention.reader_kv_weights", "is set but no layer reads another layer's K/V "
                                                       "(kv_share_layers or kv_shared_tail)")
    if not spec.kv_sharing:
        return
    where = "attention.kv_shared_tail" if tail else "attention.kv_share_layers"
    if n > 1 and tail:
        raise SpecError(where, f"give kv_share_layers ({n}) or kv_shared_tail ({tail}), not both")
    if a.kind not in ("mha", "mqa", "gqa"):
        raise SpecError(where, f"cross-layer K/V sharing is modelled for mha, mqa and gqa attention, not {a.kind}")
    used = {spec.layer_type(i) for i in range(spec.num_layers)}
    allowed = {"full", "sliding"} if tail else {"full"}
    other = sorted(used - allowed)
    if other:
        what = "full and sliding attention" if tail else "full attention"
        raise SpecError(where, f"cross-layer K/V sharing is modelled where every layer is {what}; this spec "
                               f"has {', '.join(other)} layers")
    if tail >= spec.num_layers:
        raise SpecError(where, f"({tail}) must be less than num_layers ({spec.num_layers}): at least one layer "
                               "computes the K/V the others read")
    for layer in range(spec.num_layers - tail, spec.num_layers) if tail else ():
        if spec.kv_source(layer) < 0:
            raise SpecError(where, f"layer {layer} is {spec.layer_type(layer)} but no {spec.layer_type(layer)} "
                                   f"layer before the last {tail} computes K/V for it to read")
    if spec.mtp_layers:
        raise SpecError(where, "cross-layer K/V sharing with multi-token-prediction modules is not modelled")


def refuse_kv_sharing(spec: ModelSpec, what: str) -> None:
    """Refuse, in one line, a question whose answer would take every layer to project and cache its own K/V (the
    training activations, the profiler's layers, an engine's cache) for a spec with K/V shared across layers."""
    a = spec.attention
    if a is None:
        return
    if a.kv_share_layers > 1:
        raise SpecError("attention.kv_share_layers", f"{what} is not modelled with cross-layer K/V sharing "
                                                     f"({spec.name}: K/V once per {a.kv_share_layers} layers)")
    if a.kv_shared_tail:
        raise SpecError("attention.kv_shared_tail", f"{what} is not modelled with cross-layer K/V sharing "
                                                    f"({spec.name}: the last {a.kv_shared_tail} layers read "
                                                    "earlier layers' K/V)")


def _check_residual_extras(spec: ModelSpec) -> None:
    """A residual-extras block sets at least one block (an empty one changes nothing and says something); the
    per-layer table's rows go with per-layer inputs."""
    r = spec.residual_extras
    if r is None:
        return
    if r.altup_inputs == 1 and not r.laurel_rank and not r.per_layer_input_size:
        raise SpecError("residual_extras", "sets no block; give altup_inputs > 1, laurel_rank or "
                                           "per_layer_input_size, or leave it out")
    if spec.mtp_layers:
        raise SpecError("residual_extras", "with multi-token-prediction modules is not modelled (which of the "
                                           "blocks an MTP layer has is undefined)")
    if r.per_layer_vocab_size is not None and not r.per_layer_input_size:
        raise SpecError("residual_extras.per_layer_vocab_size", "needs per_layer_input_size (the table's width "
                                                                 "per layer)")


def refuse_residual_extras(spec: ModelSpec, what: str) -> None:
    """Refuse, in one line, a question that would leave out AltUp, LAuReL or per-layer inputs (training activations,
    the profiler's layers, an engine's memory accounting) for a spec that has them."""
    r = spec.residual_extras
    if r is None:
        return
    names = [n for n, on in (("AltUp", r.altup_inputs > 1), ("LAuReL", r.laurel_rank),
                             ("per-layer inputs", r.per_layer_input_size)) if on]
    raise SpecError("residual_extras", f"{what} is not modelled with {', '.join(names)} on the residual stream "
                                       f"({spec.name})")


def refuse_no_attention(spec: ModelSpec, what: str) -> None:
    """Refuse, in one line, a question about attention layers (the profiler's runs) for a model without attention (a
    state-space model: ``attention`` null)."""
    if spec.attention is None:
        raise SpecError("attention", f"{what} is not modelled for {spec.name}: it has no attention layer (a "
                                     f"state-space model of {spec.mixer_kind} layers)")


def refuse_no_ffn(spec: ModelSpec, what: str) -> None:
    """Refuse, in one line, a question about layers built with an FFN (the profiler's whole steps, its training layers
    and multi-GPU runner) for a model without one (``ffn`` null: each layer its mixer alone)."""
    if spec.ffn is None:
        raise SpecError("ffn", f"{what} is not modelled for {spec.name}: it has no FFN (ffn null, each layer its "
                               "mixer alone)")


def refuse_sliding_shape(spec: ModelSpec, what: str) -> None:
    """Refuse, in one line, a question whose answer would take every layer to have ``spec.attention``'s shape (the
    training activations, the profiler's layers) for a spec whose sliding layers have their own, or whose attention
    is compressed (DeepSeek-V4: a block a layer type)."""
    if spec.attention is not None and spec.attention.kind == "compressed":
        raise SpecError("attention.kind", f"{what} is not modelled for compressed attention (DeepSeek-V4: a window and "
                                          f"compressed entries a layer) ({spec.name})")
    if spec.attention_shapes > 1:
        raise SpecError("attention.sliding_shape", f"{what} is not modelled where the sliding layers have an attention "
                                                   f"shape of their own ({spec.name})")


# FFN fields a dense FFN reads nowhere, with their defaults. expert_intermediate_size, first_dense_layers, the biases
# and the shared-expert gate were not checked: a dense Llama with --set ffn.first_dense_layers=2**62 (or a file that
# gave an expert width and forgot kind: moe) was accepted and the value ignored.
MOE_ONLY = {"num_experts": 0, "experts_per_token": 0, "num_shared_experts": 0, "expert_intermediate_size": 0,
            "shared_expert_intermediate_size": None, "first_dense_layers": 0, "last_dense_layers": 0,
            "moe_layer_step": 1, "expert_latent_size": None, "branch_norms": False,
            "expert_bias": False, "router_bias": False, "router": "fp32-scores", "shared_expert_gate": False,
            "hash_layers": 0}


def _refuse_expert_fields(f: FFN) -> None:
    """Refuse a dense FFN that sets any field only an MoE FFN reads (:data:`MOE_ONLY`), naming them."""
    named = [k for k, default in MOE_ONLY.items() if getattr(f, k) != default]
    if named:
        raise SpecError("ffn.kind", f"expert fields are set ({', '.join(named)}) but kind is dense; use kind: moe")


def _check_layers(spec: ModelSpec) -> None:
    """The per-layer pattern and the blocks it names: every field set is used, every type used is defined."""
    a, types = spec.attention, spec.layer_types
    if types is not None:
        if spec.num_layers % len(types):
            raise SpecError("layer_types", f"{len(types)} entries neither equal nor evenly repeat "
                                           f"{spec.num_layers} layers")
        if a is not None and a.global_every is not None:
            raise SpecError("attention.global_every", "give layer_types or global_every, not both")
    elif a.sliding_window is not None and a.chunk_size is not None:
        raise SpecError("attention.chunk_size", "with sliding_window too, say which layers are which in layer_types")
    used = {spec.layer_type(i) for i in range(spec.num_layers)}
    if "cross" not in used and spec.image_tokens:
        raise SpecError("image_tokens", "is set but no layer is cross")
    _check_compressed_layers(spec, used)
    # with parallel mixers the linear block sits beside every layer's attention, no layer being linear
    needs = {} if spec.parallel_mixers else {"linear": ("linear_attention", spec.linear_attention)}
    if a is not None:
        needs |= {"chunked": ("attention.chunk_size", a.chunk_size)}
        if a.kind != "compressed":        # compressed attention: every layer keeps the window
            needs |= {"sliding": ("attention.sliding_window", a.sliding_window)}
    for t, (name, value) in needs.items():
        if t in used and value is None:
            raise SpecError(name, f"is required: layer_types has {t} layers")
        if t not in used and value is not None:
            raise SpecError(name, f"is set but no layer is {t}")
    if used <= {"linear", "ffn", "cross"} and a is not None:
        # cross layers attend the image tokens only: a model of them (layer_types=[cross]) cached nothing of its own
        # tokens, and roofline, fit, sweep and compare divided by its zero KV (ZeroDivisionError tracebacks). A model
        # without attention (attention null: every mixer linear) holds each sequence in its state instead
        raise SpecError("layer_types", "needs at least one attention layer over the sequence's own tokens (full, "
                                       "sliding or chunked); a model of linear layers alone has attention null")
    if spec.mtp_layer_type is not None and (spec.mtp_layers == 0 or spec.attention_shapes == 1):
        # it only picks between two attention shapes of an MTP module: anywhere else it would change nothing
        raise SpecError("mtp_layer_type", "only applies with mtp_layers and an attention.sliding_shape (or compressed "
                                          "attention's layer types)")
    types = ("sliding", "csa", "hca") if a is not None and a.kind == "compressed" else ("full", "sliding")
    if spec.mtp_layer_type is not None and spec.mtp_layer_type not in types:
        raise SpecError("mtp_layer_type", f"{spec.mtp_layer_type} is no layer type of {a.kind} attention (it has "
                                          f"{', '.join(types)})")
    if spec.mtp_ffn is not None and spec.mtp_layers == 0:
        raise SpecError("mtp_ffn", "only applies with mtp_layers")
    if spec.mtp_ffn is not None and spec.ffn is None:
        # ffn null with mtp_ffn moe read spec.ffn.kind (AttributeError); with dense it priced no FFN at all
        raise SpecError("mtp_ffn", "needs an ffn block (the model has none: ffn null)")
    if spec.mtp_ffn == "moe" and spec.ffn.kind != "moe":
        raise SpecError("mtp_ffn", "moe needs ffn.kind moe (the experts the MTP layer would have)")
    _check_mtp_layer_types(spec, used)
    if "linear" not in used and not spec.parallel_mixers and spec.dtypes.ssm_state is not None:
        # Llama with --state-dtype fp32 reported ssm_state_bits 32 and counted nothing: a setting without effect
        raise SpecError("dtypes.ssm_state", "is set (--set, or --state-dtype) but no layer is linear: the model keeps "
                                            "no recurrent state")


def _check_mtp_layer_types(spec: ModelSpec, used: set) -> None:
    """``mtp_layer_types`` (Nemotron-H's MTP pattern): with MTP modules, in a one-block-per-layer model (each listed
    block is one layer of it), each type one the main model has (a block is counted as its last layer of that type),
    and not beside ``mtp_layer_type`` or ``mtp_ffn``, which pick the one layer of the other MTP layout."""
    t, where = spec.mtp_layer_types, "mtp_layer_types"
    if t is None:
        return
    if not spec.mtp_layers:
        raise SpecError(where, "only applies with mtp_layers")
    if not spec.one_block_per_layer or spec.ffn is None:
        raise SpecError(where, "applies to a model of one block a layer (ffn layers in layer_types: Nemotron-H); "
                               "elsewhere an MTP module holds one layer of the last layer's kind")
    if spec.mtp_layer_type is not None or spec.mtp_ffn is not None:
        raise SpecError(where, "give it or mtp_layer_type / mtp_ffn, not both")
    missing = sorted(set(t) - used)
    if missing:
        raise SpecError(where, f"lists a {missing[0]} block, but no layer of the model is {missing[0]} (an MTP block is "
                               "counted as the model's last layer of its type)")


def refuse_expert_latent(spec: ModelSpec, what: str) -> None:
    """Refuse, in one line, a question whose answer would size the routed experts at the model width (training
    activations, the profiler's layers) for a spec whose experts run in a latent space (``ffn.expert_latent_size``)."""
    f = spec.ffn
    if f is not None and f.expert_latent_size is not None:
        raise SpecError("ffn.expert_latent_size", f"{what} is not modelled with routed experts in a latent space "
                                                  f"({spec.name}: {f.expert_latent_size} wide under a hidden of "
                                                  f"{spec.hidden_size})")


def _check_compressed_layers(spec: ModelSpec, used: set) -> None:
    """csa and hca layers are compressed attention's (DeepSeek-V4), whose layers are all sliding, csa or hca; each
    compress rate is set where its layers are and only there, so that none is set without effect."""
    a = spec.attention
    if a is None or a.kind != "compressed":
        other = sorted(used & {"csa", "hca"})
        if other:
            raise SpecError("layer_types", f"has {other[0]} layers, which belong to attention.kind compressed "
                                           "(DeepSeek-V4)")
        return
    stray = sorted(used - {"sliding", "csa", "hca"})
    if stray:
        raise SpecError("layer_types", f"has {stray[0]} layers; compressed attention's are sliding, csa and hca")
    for t, name, rate in (("csa", "attention.csa_rate", a.csa_rate), ("hca", "attention.hca_rate", a.hca_rate)):
        if t in used and rate is None:
            raise SpecError(name, f"is required: layer_types has {t} layers")
        if t not in used and rate is not None and not (spec.mtp_layers and spec.mtp_layer_type == t):
            raise SpecError(name, f"is set but no layer is {t}")


PARALLEL_LAYER_TYPES = ("full", "sliding", "chunked")     # layers that can hold a linear block beside attention


def _check_parallel_mixers(spec: ModelSpec) -> None:
    """Parallel mixers (Falcon-H1): an attention block and a linear block in every layer. Both must be there, every
    layer must attend its own tokens (full, sliding or chunked: a linear, ffn or cross layer beside a linear block is
    no model this tool knows), and no layer may read another's K/V (the linear block has no K/V to share)."""
    if not spec.parallel_mixers:
        return
    if spec.attention is None:
        raise SpecError("parallel_mixers", "needs attention: the linear block runs beside each layer's attention")
    if spec.linear_attention is None:
        raise SpecError("linear_attention", "is required: parallel_mixers puts it beside every layer's attention")
    other = sorted({spec.layer_type(i) for i in range(spec.num_layers)} - set(PARALLEL_LAYER_TYPES))
    if other:
        raise SpecError("parallel_mixers", f"is modelled where every layer is {', '.join(PARALLEL_LAYER_TYPES)} "
                                           f"attention with the linear block beside it; this spec has "
                                           f"{', '.join(other)} layers")
    if spec.kv_sharing:
        raise SpecError("parallel_mixers", "with cross-layer K/V sharing is not modelled")


def refuse_parallel_mixers(spec: ModelSpec, what: str) -> None:
    """Refuse, in one line, a question whose answer would build or count one mixer a layer (training memory, the
    profiler's layers and whole steps) for a spec whose layers hold a linear block beside their attention."""
    if spec.parallel_mixers:
        raise SpecError("parallel_mixers", f"{what} is not modelled where each layer holds a "
                                           f"{spec.linear_attention.kind} block beside its attention ({spec.name})")


def spec_from_dict(raw: Any) -> ModelSpec:
    """Validate a raw mapping (as read from YAML) into a :class:`ModelSpec`. Raises :class:`SpecError`."""
    if not isinstance(raw, dict):
        raise SpecError("", f"a model spec must be a mapping, got {type(raw).__name__}")
    if "mem_bandwidth_gb_s" in raw and "num_layers" not in raw:   # what `mlacalc calibrate` writes, or a GPU spec
        raise SpecError("", "this is a hardware spec (it has mem_bandwidth_gb_s), not a model spec: give it as --gpu "
                            "FILE")
    raw = dict(raw)
    if isinstance(raw.get("attention"), dict):
        raw["attention"] = _normalise_attention(raw["attention"])
    if isinstance(raw.get("linear_attention"), dict):
        raw["linear_attention"] = _normalise_linear(raw["linear_attention"])
    spec = _build(ModelSpec, raw, "")
    if not spec.name.strip():    # name: "" (or " ") passed, and every report is titled by the name
        raise SpecError("name", f"may not be empty or blank, got {spec.name!r}")
    if not spec.name.isprintable():   # a line break or tab split every report's title and table row in two
        raise SpecError("name", f"must be one line of printable text, got {show(spec.name)}")
    _cross_checks(spec)
    return spec


def spec_to_dict(spec: ModelSpec) -> dict:
    """The canonical mapping of a spec (what ``specs show --json`` prints; loads back to the same spec)."""
    return dataclasses.asdict(spec)


# ---------------------------------------------------------------------------------------------------------
# Overrides: --set a.b=value and --as mha|mqa|gqa:N
# ---------------------------------------------------------------------------------------------------------

def apply_overrides(raw: dict, assignments: list[str]) -> dict:
    """Apply ``path.to.field=value`` assignments to a raw spec mapping (value parsed as YAML scalar)."""
    from .files import MalformedText, parse_text

    out = json.loads(json.dumps(raw))  # deep copy of plain data
    for item in assignments:
        if "=" not in item:
            raise SpecError("--set", f"expected key=value, got {item!r}")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(p.strip() for p in parts):
            raise SpecError("--set", f"expected key=value with a field name such as attention.kv_lora_rank, "
                                     f"got {item!r}")
        # The value is read as a spec file's values are (mlacalc.files): safe_load only, no alias bombs, nothing
        # deeper than a spec nests, no NaN or numbers beyond 2**63; text that is not YAML is taken as a string.
        try:
            value = parse_text(text, f"--set {key.strip()}", "yaml") if text.strip() else None
        except MalformedText:
            value = text
        node = out
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                valid = [f.name for f in fields(ModelSpec)]
                if p not in valid:
                    raise _unknown_key(p, valid, "")
                node[p] = {}
            node = node[p]
        if parts[-1] == "head_dim" and "attention" in parts[:-1]:
            for k in ("qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
                node.pop(k, None)
        node[parts[-1]] = value
    return out


def convert_attention(raw: dict, target: str) -> dict:
    """``--as``: the same model with conventional attention of the same heads and head dims.

    ``mha``: one K/V head per query head; ``mqa``: one K/V head; ``gqa:N``: N K/V heads. For an MLA model the
    query/key head keeps ``qk_nope + qk_rope`` dims and the value ``v_head_dim``; latent ranks are dropped, and so
    is a DSA model's indexer (its fields made every ``--as`` on DeepSeek-V3.2 or GLM-5 fail with
    "attention.index_n_heads: only applies to kind dsa"). A conventional model keeps its low-rank query
    (``q_lora_rank``: Step-3's MFA), which has nothing to do with the cache (Step-3 ``--as mqa``, its own kind, read
    316.29 B parameters as 320.52 B). A sliding shape (``attention.sliding_shape``: Step-3.5-Flash, MiMo-V2-Flash)
    takes the target's K/V heads too: one a query head under ``mha`` (Step-3.5's 96 sliding heads were given the
    full layers' 64 and refused), the target's count under ``mqa`` and ``gqa:N`` (its own count was kept). Per-layer
    heads (``attention.layer_heads``: OpenELM) keep each layer's query heads and take the target's K/V heads
    (:func:`_converted_heads`).
    """
    if "attention" in raw and raw["attention"] is None:
        raise SpecError("--as", f"converts the attention layers; {raw.get('name', 'the model')} has none (a "
                                "state-space model)")
    if not isinstance(raw.get("attention") or {}, dict):
        raise SpecError("attention", f"expected a mapping, got {type(raw['attention']).__name__}")
    a = dict(raw.get("attention") or {})
    if a.get("kind") == "compressed":
        # its layer types (csa, hca), window and compressor are no conventional attention's
        raise SpecError("--as", "converting compressed attention (DeepSeek-V4: a window and compressed entries a "
                                "layer) to conventional attention is not modelled")
    heads = a.get("num_heads")
    kind, _, n = target.partition(":")
    if kind not in ("mha", "mqa", "gqa"):
        raise SpecError("--as", f"expected mha, mqa or gqa:N, got {target!r}")
    if kind == "gqa":
        # ASCII digits, as the integer flags take them: int() also read "gqa:٨" (Arabic-Indic) and "gqa:1_6"
        if not re.fullmatch(r"\+?[0-9]+", n):
            raise SpecError("--as", f"gqa needs a KV head count in ASCII digits, e.g. gqa:8, got {target!r}")
        kv = int(n)
    else:
        if n:
            raise SpecError("--as", f"{kind} takes no count, got {target!r}")
        kv = heads if kind == "mha" else 1
    from .attention.base import INDEX_FIELDS, MSA_FIELDS

    latent = a.get("kind") not in ("mha", "mqa", "gqa", "msa")      # msa is GQA with an indexer
    for k in ("kv_lora_rank",) + (("q_lora_rank",) if latent else ()) + INDEX_FIELDS + MSA_FIELDS:
        a.pop(k, None)
    a.update(kind=kind, num_kv_heads=kv)
    if isinstance(a.get("sliding_shape"), dict):
        sh = dict(a["sliding_shape"])
        sh.pop("num_kv_heads", None)                  # none: the full layers' (the target's) count
        if kind == "mha" and sh.get("num_heads") is not None:
            sh["num_kv_heads"] = sh["num_heads"]
        if any(v is not None for v in sh.values()):
            a["sliding_shape"] = sh
        else:                                         # it only set the K/V heads: the sliding layers are the full ones
            a.pop("sliding_shape")
    if isinstance(a.get("layer_heads"), (list, tuple)):
        a["layer_heads"] = _converted_heads(a["layer_heads"], kind, kv)
    out = dict(raw, attention=a)
    out["name"] = f"{raw.get('name', 'model')} (as {target})"
    return out


def _converted_heads(heads: list, kind: str, kv: int) -> list:
    """``attention.layer_heads`` under ``--as``: each layer keeps its query heads and takes the target's K/V heads
    (``mha``: one a query head; ``mqa``: one; ``gqa:N``: N, refused at validation on a layer whose heads N does not
    divide, as ``--as gqa:N`` is on a plain spec). Entries that are not pairs are left for validation to name."""
    def one(pair):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            return pair
        return [pair[0], pair[0] if kind == "mha" else kv]
    return [one(p) for p in heads]


# ---------------------------------------------------------------------------------------------------------
# Loading: built-in name, YAML file, HF config.json (file or folder)
# ---------------------------------------------------------------------------------------------------------

def builtin_names() -> list[str]:
    """Names of the specs shipped in ``model_specs/`` (package data)."""
    root = resources.files("mlacalc.model_specs")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(text: str, where: str) -> Any:
    from .files import parse_text

    return parse_text(text, where, "yaml")


def _read_file(path: Path) -> dict:
    from .files import read_data, refuse_nonfinite

    # an HF config.json may write Mamba's time_step_limit with Infinity. CONFIG.JSON was read as YAML, where NaN is
    # the text "NaN" (model_type NaN became the family "nan") and 1e5 is text too
    json_file = path.suffix.lower() == ".json"
    data = read_data(path, str(path), "json" if json_file else "yaml", nonfinite_as_text=json_file)
    hf_config = isinstance(data, dict) and ("model_type" in data or "architectures" in data)
    if not hf_config:
        refuse_nonfinite(data, str(path))      # NaN/Infinity are let through for HF configs only
    if data is None:          # "expected a mapping at the top level, got NoneType"
        raise SpecError(str(path), "is empty")
    if not isinstance(data, dict):
        raise SpecError(str(path), f"expected a mapping at the top level, got {type(data).__name__}")
    if json_file and not hf_config and path.name.lower() == "config.json":
        # read as a spec, it said "attention_bias: unknown field (did you mean 'attention'?)"
        raise SpecError(str(path), "has no model_type (and no architectures): not a Hugging Face config this tool "
                                   "can read")
    if hf_config:
        from .hf import WHERE, spec_dict_from_hf_config

        # ModelOpt 0.29 and before kept the quantization (and the KV cache's) in hf_quant_config.json beside
        # config.json; vLLM reads it when config.json has no quantization_config (transformers_utils/config.py)
        beside = path.parent / "hf_quant_config.json"
        quant_file = read_data(beside, str(beside), "json") if path.name == "config.json" and beside.is_file() \
            else None
        if quant_file is None and path.name == "config.json" and beside.is_file() and \
                data.get("quantization_config") is None:
            # a null there was taken for no file: a ModelOpt NVFP4 checkpoint was priced at bf16 without a word
            raise SpecError(str(beside), "holds null, not ModelOpt's mapping of producer and quantization")
        try:
            data = spec_dict_from_hf_config(data, name=_config_name(path), quant_file=quant_file)
        except SpecError as e:   # the reader says "config.json"; name the file read (which of several, in compare)
            if e.field != WHERE:
                raise
            raise SpecError(str(path), e.message) from None
        data.setdefault("source", str(path))
    return data


def _config_name(path: Path) -> str:
    """The model name of an HF config file: its folder's name for ``config.json`` (``Llama-3.1-8B/config.json``), else
    the file's stem. The folder is taken from the absolute path: ``mlacalc kv config.json`` (or ``kv .``) run inside
    the model's folder named the model "" (``Path("config.json").parent.name``), and every report was titled by it."""
    if path.name != "config.json":
        return path.stem
    return path.absolute().parent.name or "config"      # "/config.json": no folder name to take


# a Hugging Face model id (ORG/NAME, the Hub's allowed characters) that names nothing on disk
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def raw_spec(model: str) -> dict:
    """The raw mapping for MODEL: a built-in name, a YAML/JSON spec file, or an HF config (file or folder)."""
    model = _model_arg(model)
    if not model.strip():     # Path("") is ".", which would read the working folder's config.json unasked
        raise SpecError("MODEL", "is empty; give a built-in name (`mlacalc specs list`), a spec file or a config.json")
    try:
        p = Path(model).expanduser()
    except RuntimeError:      # ~nosuchuser/a.yaml: no such home, so no such file
        raise SpecError(model, "no such file (unknown user in ~)") from None
    if p.is_dir():
        cfg = p / "config.json"
        if not cfg.is_file():
            raise SpecError(model, "folder holds no config.json")
        return _read_file(cfg)
    if p.is_file():
        return _read_file(p)
    if p.exists():            # /dev/null, a FIFO, a socket: it is there, so "no such file" (said below) was wrong
        raise SpecError(model, "not a regular file or a folder")
    names = builtin_names()
    if model in names:
        from .files import read_data

        return read_data(resources.files("mlacalc.model_specs").joinpath(f"{model}.yaml"), model)
    # the suffix in any case, as _read_file takes it (org/name.JSON was named a Hugging Face id)
    spec_file = p.suffix.lower() in SPEC_SUFFIXES
    if HUB_ID.fullmatch(model) and not spec_file:
        # deepseek-ai/DeepSeek-V3 was "no such file", as if a file had been meant: nothing is fetched from the Hub
        # (hf, huggingface_hub's CLI since 0.34; huggingface-cli no longer works in 1.x)
        raise SpecError(model, "no such file or folder; a Hugging Face model id is not downloaded: fetch its "
                               f"config.json (hf download {model} config.json --local-dir DIR) and give DIR")
    if spec_file or "/" in model or "\\" in model:
        # a Windows path (C:\models\Qwen3-8B) was "unknown model", as if a built-in name had been meant
        raise SpecError(model, "no such file")
    near = difflib.get_close_matches(model, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else "; `mlacalc specs list` shows the built-in names"
    raise SpecError(model, f"unknown model{hint}")


def _model_arg(model: Any) -> str:
    """MODEL as text: a name or a path (``os.PathLike`` too). Anything else is an :class:`ArgError` naming
    ``model``; ``load_spec(None)`` or ``load_spec(4)`` raised TypeError or AttributeError from deep inside."""
    import os

    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str):
        raise ArgError("model", f"expected a built-in name or a path to a spec or config.json, got "
                                f"{type(model).__name__} {show(model)}")
    return model


def _assignments(value: Any, name: str) -> list[str]:
    """``--set`` assignments as a list of ``field=value`` strings (``load_spec(..., overrides=5)`` raised
    TypeError; a bare string was split into one-letter assignments)."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or \
            not all(isinstance(v, str) for v in value):
        raise ArgError(name, f"expected a list of 'field=value' strings, got {show(value)}")
    return list(value)


def _check_repeats(assignments: list[str], where: str) -> None:
    """The same field set twice in one list of overrides (``--set num_layers=2 --set num_layers=3``,
    ``NAME@as=mha,as=mqa``) is refused, as a spec file refuses a key given twice; the last one won silently."""
    seen: set[str] = set()
    for item in assignments:
        key = ".".join(p.strip() for p in item.split("=", 1)[0].split("."))
        if "=" in item and key in seen:
            raise SpecError(where, f"{key} given twice")
        seen.add(key)


def kv_dtype_assignment(model: str, overrides: list[str] | None = None) -> str | None:
    """The assignment that sets this model's KV dtype, ``dtypes.kv=...`` after ``MODEL@`` or in ``overrides``
    (``--set``; a whole ``dtypes=`` mapping that names ``kv`` counts too), as written; the per-model one where both
    are given (it is applied last), else None. A command's global ``--kv-bits``/``--kv-dtype`` replaces it, and the
    CLI says so rather than drop it silently."""
    found = None
    for item in list(overrides or []) + parse_model_arg(model)[1]:
        key, _, value = item.partition("=")
        key = ".".join(p.strip() for p in key.split("."))
        if key == "dtypes.kv" or (key == "dtypes" and "kv" in value):
            found = item.strip()
    return found


def parse_model_arg(arg: str) -> tuple[str, list[str]]:
    """``deepseek-v2@dtypes.kv=6,num_layers=30`` -> (``deepseek-v2``, [assignments]): per-model overrides.

    ``as=mha|mqa|gqa:N`` among them converts this model's attention, like ``--as``."""
    arg = _model_arg(arg)
    # _exists, not Path.exists: an override past 255 characters (attention.layer_heads of 36 layers) made the whole
    # argument a name too long for the file system, whose OSError was the answer
    if "@" in arg and not _exists(arg):
        # the first "@" after which MODEL names a file or folder (a path may hold "@": .../org@rev@num_layers=2 read
        # .../org as the model, "no such file"), else the first "@"
        cut = next((i for i, ch in enumerate(arg) if ch == "@" and _exists(arg[:i])), arg.index("@"))
        name, rest = arg[:cut], arg[cut + 1:]
        local = [s for s in _split_assignments(rest) if s]
        for item in local:     # named as given: the error said --set, a flag the command line did not have
            if "=" not in item or not item.split("=", 1)[0].strip(" ."):     # NAME@=2 said --set too
                raise SpecError(f"{name}@", f"expected field=value, got {item!r}")
        _check_repeats(local, f"{name}@")
        return name, local
    return arg, []


def _exists(path: str) -> bool:
    """Whether ``path`` (``~`` expanded) names something on disk; ``~nosuchuser/x`` does not."""
    try:
        return Path(path).expanduser().exists()
    except (RuntimeError, OSError):
        return False


def _split_assignments(text: str) -> list[str]:
    """``a=1,b=[x,y]`` -> ``["a=1", "b=[x,y]"]``: split at commas, except inside a value that opens with a bracket
    or a quote and closes it (``layer_types=[linear,full]``, ``description='a, b'``), which was cut into
    ``layer_types=[linear`` and ``full]``. A value that does not close is split at commas as before."""
    out, i = [], 0
    while i <= len(text):
        comma = text.find(",", i)
        end = len(text) if comma < 0 else comma
        eq = text.find("=", i, end)
        j = eq + 1
        while 0 < j < len(text) and text[j] == " ":
            j += 1
        if eq >= 0 and j < len(text) and text[j] in "[{'\"":
            close = _closing(text, j)
            if close is not None:
                comma = text.find(",", close)
                end = len(text) if comma < 0 else comma
        out.append(text[i:end])
        i = end + 1
    return out


def _closing(text: str, start: int) -> int | None:
    """Index just past the bracket or quote opened at ``start`` (brackets nest; quotes inside them are skipped),
    or None when it never closes."""
    depth, quote = 0, ""
    for k in range(start, len(text)):
        ch = text[k]
        if quote:
            quote = "" if ch == quote else quote
            if not quote and depth == 0:
                return k + 1
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return k + 1
    return None


def load_spec(model: str, overrides: list[str] | None = None, as_attention: str | None = None) -> ModelSpec:
    """Load and validate MODEL, then apply ``--as`` and ``--set`` (in that order) and validate again.

    MODEL is a built-in name (``deepseek-v3``; ``mlacalc specs list``), a YAML spec file, or a Hugging Face
    ``config.json`` (the file or its folder; read locally), optionally with per-model overrides after ``@``
    (``deepseek-v2@dtypes.kv=6``, ``deepseek-v3@as=mha``). ``overrides`` are ``field=value`` strings
    (``attention.kv_lora_rank=256``); ``as_attention`` is ``mha``, ``mqa`` or ``gqa:N``."""
    name, local = parse_model_arg(model)
    local_as = [a.split("=", 1)[1] for a in local if a.startswith("as=")]
    local = [a for a in local if not a.startswith("as=")]
    if local_as:  # NAME@as=mha: this model only, e.g. one column of `compare`
        as_attention = local_as[-1]
    if as_attention is not None and not isinstance(as_attention, str):
        raise ArgError("as_attention", f"expected mha, mqa or gqa:N, got {show(as_attention)}")
    overrides = _assignments(overrides, "overrides")
    _check_repeats(overrides, "--set")
    raw = raw_spec(name)
    if not isinstance(raw, dict):
        raise SpecError(name, f"expected a mapping at the top level, got {type(raw).__name__}")
    raw.setdefault("name", name)
    if as_attention is not None:      # "" (--as "", NAME@as=) is refused there, not ignored
        raw = convert_attention(raw, as_attention)
    assignments = list(overrides or []) + local
    if assignments:
        raw = apply_overrides(raw, assignments)
    return spec_from_dict(raw)


# ---------------------------------------------------------------------------------------------------------
# JSON Schema for editors (from the same field metadata)
# ---------------------------------------------------------------------------------------------------------

def _schema_of(cls) -> dict:
    props, required = {}, []
    for f in fields(cls):
        meta = f.metadata
        t = f.type if isinstance(f.type, str) else str(f.type)
        sub = NESTED.get(cls, {}).get(f.name)
        if sub:
            s = _schema_of(sub)
            if "None" in t:   # linear_attention: null, quantization: null (what `specs show` prints) were flagged
                s["type"] = ["object", "null"]
        elif meta.get("kind") == "components":
            s = {"type": "array", "items": {"enum": list(QUANT_COMPONENTS)}, "minItems": 1}
        elif meta.get("kind") == "projections":
            s = {"type": "array", "items": {"enum": list(ATTN_PROJECTIONS)}, "uniqueItems": True}
        elif meta.get("kind") == "widths":
            s = {"type": ["array", "null"], "items": {"type": "integer", "minimum": 0}, "minItems": 1,
                 "maxItems": MAX_LAYERS}
        elif meta.get("kind") == "flags":
            s = {"type": ["array", "null"], "items": {"enum": [0, 1]}, "minItems": 1, "maxItems": MAX_LAYERS}
        elif meta.get("kind") == "heads":
            # each entry a pair of head counts, or null (a layer without attention)
            pair = {"type": ["array", "null"], "items": {"type": "integer", "minimum": 1, "maximum": MAX_HEADS},
                    "minItems": 2, "maxItems": 2}
            s = {"type": ["array", "null"], "items": pair, "minItems": 1, "maxItems": MAX_LAYERS}
        elif meta.get("kind") == "layer_types":
            # was {"type": "string"}: an editor flagged every spec with a layer pattern (gpt-oss, Qwen3-Next,
            # Nemotron-H's ffn layers) and passed layer_types: ffn, which the spec refuses
            s = {"type": ["array", "null"], "items": {"enum": list(LAYER_TYPES)}, "minItems": 1}
        elif meta.get("kind") == "mtp_layer_types":
            s = {"type": ["array", "null"], "items": {"enum": list(MTP_LAYER_TYPES)}, "minItems": 1}
        elif meta.get("kind") == "texts":
            s = {"type": "array", "items": {"type": "string", "minLength": 1}}
        elif meta.get("kind") in ("dtype", "kv_dtype"):
            s = {"type": ["string", "number", "null"] if "None" in t else ["string", "number"]}
        elif "bool" in t:
            s = {"type": ["boolean", "null"] if "None" in t else "boolean"}   # sliding_shape.v_from_k: null
        elif "int" in t:
            s = {"type": ["integer", "null"] if "None" in t else "integer"}
            if meta.get("minimum") is not None:
                s["minimum"] = meta["minimum"]
            if meta.get("maximum") is not None:
                s["maximum"] = meta["maximum"]
        else:
            s = {"type": ["string", "null"] if "None" in t else "string"}
            if meta.get("choices"):
                s["enum"] = list(meta["choices"]) + ([None] if "None" in t else [])
        s["description"] = meta.get("doc", "")
        props[f.name] = s
        if f.default is dataclasses.MISSING and f.name != "name":
            required.append(f.name)
    if cls in (Attention, AttentionShape):
        props["head_dim"] = {"type": "integer", "minimum": 1, "description": "shorthand: qk_rope_head_dim = "
                             "v_head_dim = head_dim (minus rope_dim for partial RoPE), qk_nope_head_dim = 0"}
        props["rope_dim"] = {"type": "integer", "minimum": 0, "description": "with head_dim: RoPE dims"}
        required = ["kind", "num_heads"] if cls is Attention else []
    out = {"type": "object", "properties": props, "required": required, "additionalProperties": False}
    if cls is LinearAttention:
        out.update(_linear_kind_requirements(props, required))
    return out


def _linear_kind_requirements(props: dict, required: list[str]) -> dict:
    """What a linear block must give depends on its kind: a kind's ``normalise`` fills some fields in
    (:attr:`~mlacalc.attention.base.AttentionFamily.filled`: short_conv's key heads and head dims) and its
    ``validate`` refuses a block without others (:attr:`~mlacalc.attention.base.AttentionFamily.requires`: mamba1's
    dt_rank), so the block requires ``kind`` alone and each kind its own fields, by ``if``/``then``. Every field was
    required of every kind: an editor flagged a valid short_conv block (LFM2's, as the HF reader writes it) for the
    three the loader fills, and passed a mamba1 block without its dt_rank, which the loader refuses."""
    rest = [r for r in required if r != "kind"]

    def then(k: str) -> dict:
        fam = family(k)
        t: dict = {"required": [r for r in rest if r not in fam.filled] + list(fam.requires)}
        if fam.requires:   # and not null: the field's own schema without its null
            t["properties"] = {f: {**props[f], "type": [x for x in props[f]["type"] if x != "null"]}
                               for f in fam.requires}
        return t

    return {"required": ["kind"], "allOf": [{"if": {"properties": {"kind": {"const": k}}, "required": ["kind"]},
                                             "then": then(k)} for k in LINEAR_KINDS]}


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) of a model spec file."""
    s = _schema_of(ModelSpec)
    s.update({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "mlacalc model spec"})
    return s
