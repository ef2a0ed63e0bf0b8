"""Parameter counts and weight bytes by component, total and active per token, and per GPU.

Counts follow the matrices of the reference implementations (HF transformers' modeling files for Llama,
Mistral, Mixtral, Qwen2/3, Gemma-2; DeepSeek's ``modeling_deepseek.py`` for MLA and DeepSeekMoE):

- Attention: the projections of the spec's attention family (:mod:`mlacalc.attention.conventional`,
  :mod:`mlacalc.attention.mla`), which also says how each splits over tensor parallelism.
- FFN: gated ``3 d f`` (gate, up, down), else ``2 d f``; with ``ffn.mlp_bias`` (GPT-2's c_fc/c_proj, Phi's fc1/fc2)
  ``f + d`` more (``2 f + d`` gated). MoE: router ``d x E``; each routed and shared expert is an FFN of its own
  width. LatentMoE (``ffn.expert_latent_size`` l: Nemotron 3 Super): each routed expert an FFN of model width ``l``
  (``2 l f_e`` non-gated), and one ``fc1_latent_proj`` ``d x l`` and one ``fc2_latent_proj`` ``l x d`` a MoE layer in
  ``latent_proj``, always active, whole on every GPU (vLLM ``nemotron_h.py`` NemotronHMoE: ReplicatedLinear;
  Megatron-Core ``moe_layer.py``: TELinear ``parallel_mode="duplicated"``); the router (``d x E``) and the shared
  expert read the full-width input. Norms: ``norms_per_layer`` (two) of ``d`` per layer and a final one, each of
  ``norm_vectors`` vectors (an
  RMSNorm's weight: 1; a LayerNorm's weight and bias, Nemotron's LayerNorm1P or GPT-2's nn.LayerNorm: 2; OLMo-1's:
  0), and BLOOM's norm on the embeddings (``embedding_norm``) the same.
- Embedding ``V d``, plus a learned position table of ``position_embeddings`` rows of ``d`` (GPT-2's wpe, OPT's
  embed_positions), counted in ``embed``; the output head ``V d`` unless tied, plus its bias ``V`` with ``head_bias``
  (Phi's, GPT-J's lm_head), counted in ``head``.
- Residual extras (Gemma-3n; :func:`residual_params`): AltUp, LAuReL and per-layer-input matrices in
  ``residual``, their vectors in ``norms``, the per-layer embedding table in ``per_layer_embed`` (a lookup, one row
  of ``L p`` a token, priced like ``embed``; the part of the model Google's "effective" count leaves out). A layer
  that reads another layer's K/V has no k/v projections, unless the checkpoint stores them anyway
  (``attention.reader_kv_weights``: Gemma-3n; :func:`unused_kv_params`).
- Multi-token prediction (DeepSeek-V3 tech report, arXiv 2412.19437, section 2.2): per module two RMSNorms,
  a projection ``2d x d`` and one MoE transformer layer; embedding and head are shared with the main model.
  Counted apart (:func:`mtp_params`): the quoted totals (DeepSeek-V3's 671B) leave them out. With
  ``mtp_layer_types`` (Nemotron-H: one block a layer) a module holds one layer of each listed type, enorm, hnorm,
  ``eh_proj`` and a ``final_layernorm`` (vLLM ``nemotron_h_mtp.py``: the first block has the start projections, the
  last the end norm): Nemotron 3 Super's "*E" module 2,942,324,736 parameters, its safetensors' ``mtp.*`` total.

Weight bytes: matrices inside the layers take the weight dtype; the embeddings (per-layer table included), output
head, router and norms stay in bf16 when the weight dtype is narrower, as DeepSeek-V3's FP8 checkpoint does (tech
report section 3.3.1). A spec's ``quantization`` block (:class:`mlacalc.spec.Quantization`, read from an HF
``quantization_config``) prices the components it lists at their stored bits per value, scales and zero points
included (DeepSeek-V3's one fp32 scale per 128x128 block: 8 + 32/16384 bits; gpt-oss's MXFP4 experts: 4 + 8/32),
and every other component at ``max(16, weight bits)``. Attention projections the block lists as ``unquantized``
(MiMo-V2-Flash's fp8 release keeps every ``o_proj`` in bf16), and those no checkpoint of the design quantizes (DSA's
indexer ``weights_proj`` and ``k_norm``: :meth:`~mlacalc.attention.base.AttentionFamily.never_quantized`), are counted
apart, in ``attention_unquantized``, and priced at ``max(16, weight bits)`` without scales, in every layer of a
softmax-attention block (full, sliding; not the linear-attention layers, whose projections have names of their own).
The MTP modules are priced at one width whole (their indexer's ``weights_proj`` too: 0.46 M parameters in
DeepSeek-V3.2's one module).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from .attention import family, layer_block, parallel_block
from .parallel import Parallelism
from .spec import ModelSpec, Quantization
from .units import dtype_bits

HIGH_PRECISION_BITS = 16  # embedding, head, router, norms when the weight dtype is narrower (see docstring)
FP32_BITS = 32            # the fp32 component (DeepSeek-V4: mHC mappings, sinks, position biases) whatever the dtype
TABLE_BITS = 64           # hash routing's tables: int64 expert ids (tid2eid)


@dataclass(frozen=True)
class Params:
    """Parameter counts by component (or bytes, when returned by :func:`weight_bytes`)."""

    embed: float = 0
    per_layer_embed: float = 0          # Gemma-3n's per-layer embedding table (residual_extras; a lookup: offloadable)
    attention: float = 0
    attention_unquantized: float = 0    # attention projections the checkpoint keeps unquantized (quantization.unquantized)
    dense_ffn: float = 0
    router: float = 0
    shared_experts: float = 0
    routed_experts: float = 0
    latent_proj: float = 0              # LatentMoE's d -> l and l -> d projections around the routed experts
    residual: float = 0                 # AltUp, LAuReL and per-layer-input matrices (residual_extras: residual_params)
    norms: float = 0
    fp32: float = 0                     # tensors every checkpoint keeps in float32 whatever its dtype: DeepSeek-V4's
    #                                     mHC mappings (hyper_connections), attention sinks, compressor position biases
    hash_tables: float = 0              # hash routing's token -> experts tables, int64 entries (ffn.hash_layers)
    head: float = 0
    mtp: float = 0

    @property
    def total(self) -> float:
        return sum(getattr(self, f.name) for f in fields(self))

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"total": self.total}


def ffn_params(hidden: int, width: int, gated: bool, bias: bool = False) -> int:
    """Parameters (a count) of one FFN (or expert) of hidden ``d`` and width ``f``: ``3 d f`` gated (gate, up, down
    projections: HF ``LlamaMLP``), ``2 d f`` otherwise (an up and a down projection); with biases (gpt-oss's experts,
    ``GptOssExperts``' ``gate_up_proj_bias`` and ``down_proj_bias``) ``2 f + d`` (gate and up) or ``f + d`` more."""
    m = 3 if gated else 2
    return m * hidden * width + (((m - 1) * width + hidden) if bias else 0)


def attention_projections(spec: ModelSpec) -> dict[str, int]:
    """Parameters of one attention layer, by projection (the family's :meth:`projections`; {} without attention)."""
    if spec.attention is None:
        return {}
    return family(spec.attention).projections(spec.attention, spec.hidden_size)


def sliding_projections(spec: ModelSpec) -> dict[str, int]:
    """Parameters of one sliding layer's attention, by projection, where ``attention.sliding_shape`` gives the sliding
    layers heads of their own ({} otherwise: they are :func:`attention_projections`; compressed attention's are
    :func:`layer_type_projections`)."""
    if spec.attention_shapes == 1 or family(spec.attention).layer_kinds:
        return {}
    b = spec.sliding_attention
    return family(b).projections(b, spec.hidden_size)


def linear_projections(spec: ModelSpec) -> dict[str, int]:
    """Parameters of one linear-attention layer, by projection ({} without linear layers)."""
    b = spec.linear_attention
    return family(b).projections(b, spec.hidden_size) if b is not None else {}


def kept_projections(spec: ModelSpec, block) -> frozenset:
    """Projections of ``block`` the checkpoint keeps unquantized: those :attr:`Quantization.unquantized` lists, and,
    where the attention is quantized, those no checkpoint of the design quantizes
    (:meth:`~mlacalc.attention.base.AttentionFamily.never_quantized`: DSA's indexer ``weights_proj`` and ``k_norm``).
    Only a softmax-attention block's (full or sliding; a linear-attention block's projections are another family's
    and keep none); empty without a quantization block."""
    q = spec.quantization
    if q is None or block is None or block is spec.linear_attention:
        return frozenset()
    own = family(block).never_quantized(block) if "attention" in q.components else frozenset()
    return frozenset(q.unquantized) | own


def _split(parts: dict, kept: frozenset, wide: frozenset = frozenset()) -> tuple[float, float, float]:
    """(quantized, kept unquantized, float32) parameters of one block's projections ``parts``: ``wide`` names those
    every checkpoint stores in fp32 (:meth:`~mlacalc.attention.base.AttentionFamily.fp32_projections`)."""
    k = sum(v for n, v in parts.items() if n in kept and n not in wide)
    w = sum(v for n, v in parts.items() if n in wide)
    return sum(parts.values()) - k - w, k, w


def dense_ffn_params(spec: ModelSpec, width: int) -> int:
    """Parameters (a count) of one dense FFN of ``width``: :func:`ffn_params`, with the biases of ``ffn.mlp_bias``."""
    f = spec.ffn
    return ffn_params(spec.hidden_size, width, f.gated, f.mlp_bias)


def dense_ffn_replicated(spec: ModelSpec) -> int:
    """Parameters (a count) of one dense FFN that every tensor-parallel rank holds whole: the down projection's bias
    (``d``) with ``ffn.mlp_bias``, else none. vLLM splits the up (and gate) projection's bias with its weight
    (ColumnParallelLinear) and keeps the down projection's whole bias on every rank (RowParallelLinear, adding it on
    rank 0 after the reduction: vllm/model_executor/models/gpt2.py GPT2MLP's c_fc and c_proj)."""
    return spec.hidden_size if spec.ffn is not None and spec.ffn.mlp_bias else 0


def _dense_per_rank(spec: ModelSpec, dense: float, tp: int) -> float:
    """One GPU's share of ``dense`` dense-FFN parameters over ``tp`` ranks: split, but for the down projection's bias
    (:func:`dense_ffn_replicated`) where there is one."""
    whole = dense_ffn_replicated(spec) if dense else 0
    return dense / tp if not whole else (dense - whole) / tp + whole


def _moe_layer(spec: ModelSpec, hashed: bool = False) -> Params:
    """Router (``d E``, plus ``E`` with a bias), routed experts, and shared experts (plus a ``d``-wide sigmoid
    gate each when ``shared_expert_gate``: Qwen2-MoE, Qwen3-Next); a hash-routed layer (``hashed``: one of the first
    ``ffn.hash_layers``) its table of ``vocab_size x experts_per_token`` expert ids beside the router, whose weight
    still weighs the picked experts (transformers ``DeepseekV4HashRouter``: ``tid2eid`` a persistent buffer of
    ``[vocab_size, top_k]`` int64, ``torch.int64 [129280, 6]`` in the V4 checkpoints). With ``ffn.expert_latent_size``
    l the routed experts are FFNs of model width l, and ``latent_proj`` holds the layer's ``fc1_latent_proj`` (d x l)
    and ``fc2_latent_proj`` (l x d), no biases (transformers ``modular_nemotron_h.py`` NemotronHMoE and vLLM
    ``nemotron_h.py``: ``bias=config.mlp_bias``, which the reader refuses when true); router and shared experts stay
    at d (both read the layer's full-width input)."""
    f, d = spec.ffn, spec.hidden_size
    shared = f.num_shared_experts * (ffn_params(d, f.shared_width, f.gated) + (d if f.shared_expert_gate else 0))
    latent = f.expert_latent_size
    width = d if latent is None else latent
    return Params(router=d * f.num_experts + (f.num_experts if f.router_bias else 0), shared_experts=shared,
                  routed_experts=f.num_experts * ffn_params(width, f.expert_intermediate_size, f.gated, f.expert_bias),
                  latent_proj=0 if latent is None else 2 * d * latent,
                  hash_tables=spec.vocab_size * f.experts_per_token if hashed else 0)


def hash_routed(spec: ModelSpec, layer: int) -> bool:
    """Whether decoder layer ``layer`` is one of the first ``ffn.hash_layers`` MoE layers (hash-routed)."""
    f = spec.ffn
    if f is None or not f.hash_layers or not spec.is_moe_layer(layer):
        return False
    return sum(spec.is_moe_layer(i) for i in range(layer)) < f.hash_layers


def hyper_connection_params(spec: ModelSpec) -> tuple[int, int]:
    """(per layer, model) parameters of mHC (``hyper_connections`` n > 1; (0, 0) without): per layer two mappings,
    before the attention and before the FFN (transformers ``DeepseekV4HyperConnection``: ``fn`` of ``(2 + n) n x n
    d``, ``base`` of ``(2 + n) n``, ``scale`` of 3; DeepSeek-V4's checkpoints ``hc_attn_fn [24, 4 d]``,
    ``hc_attn_base [24]``, ``hc_attn_scale [3]`` and the ``hc_ffn_*`` alike, fp32); the model's collapse before the
    final norm (``DeepseekV4HyperHead``: ``hc_fn`` ``n x n d``, ``hc_base`` n, ``hc_scale`` 1)."""
    n, d = spec.hyper_connections, spec.hidden_size
    if n == 1:
        return 0, 0
    mix = (2 + n) * n
    return 2 * (mix * n * d + mix + 3), n * n * d + n + 1


def holds_kv_weights(spec: ModelSpec, layer: int) -> bool:
    """Whether decoder layer ``layer`` holds k/v projection weights: where it computes its own K/V, and where it
    reads another layer's but the checkpoint stores them anyway (``attention.reader_kv_weights``: Gemma-3n)."""
    return spec.owns_kv(layer) or spec.attention.reader_kv_weights


@dataclass(frozen=True)
class ResidualParams:
    """Parameters (counts) of the residual-stream extras (:class:`mlacalc.spec.ResidualExtras`), from transformers'
    ``modeling_gemma3n.py`` module by module. Per layer: ``matrices`` (AltUp's ``modality_router`` d x K,
    ``prediction_coefs`` K x K^2 and ``correction_coefs`` K x K; LAuReL's ``linear_left`` d x r and ``linear_right``
    r x d; ``per_layer_input_gate`` d x p and ``per_layer_projection`` p x d), of which ``split`` split over tensor
    parallelism (LAuReL's column- and row-parallel pair in vLLM's ``Gemma3nLaurelBlock``; the others are
    ``ReplicatedLinear``), and ``vectors`` (AltUp's ``correct_output_scale`` and ``router_norm``,
    ``post_laurel_norm``, ``post_per_layer_input_norm``: d each). Model level: ``first`` (``per_layer_model_projection``
    d x L p and ``altup_projections`` (K - 1) d^2, column-parallel in vLLM), ``last`` (``altup_unembed_projections``
    (K - 1) d^2, column-parallel), ``model_vectors`` (``per_layer_projection_norm``: p) and ``table``
    (``embed_tokens_per_layer``: V_p x L p, vocabulary-parallel in vLLM)."""

    matrices: float = 0
    split: float = 0
    vectors: float = 0
    first: float = 0
    last: float = 0
    model_vectors: float = 0
    table: float = 0


def residual_params(spec: ModelSpec) -> ResidualParams:
    """The residual-stream extras' parameters (see :class:`ResidualParams`); all 0 without ``residual_extras``."""
    r = spec.residual_extras
    if r is None:
        return ResidualParams()
    d, L, K, rank, p = spec.hidden_size, spec.num_layers, r.altup_inputs, r.laurel_rank, r.per_layer_input_size
    altup = d * K + K ** 3 + K * K if K > 1 else 0           # modality_router, prediction_coefs, correction_coefs
    laurel = 2 * d * rank                                      # linear_left, linear_right
    ple = 2 * d * p                                            # per_layer_input_gate, per_layer_projection
    vectors = d * ((2 if K > 1 else 0) + (1 if rank else 0) + (1 if p else 0))
    table = (r.per_layer_vocab_size or spec.vocab_size) * L * p
    return ResidualParams(matrices=altup + laurel + ple, split=laurel, vectors=vectors,
                          first=d * L * p + (K - 1) * d * d, last=(K - 1) * d * d, model_vectors=p, table=table)


def layer_params(spec: ModelSpec, layer: int) -> Params:
    """Parameters of decoder layer ``layer`` (0-based): its attention block (or linear-attention block), its FFN
    or MoE, ``norms_per_layer`` norms of ``norm_vectors`` vectors of ``d`` each (an RMSNorm's weight; a LayerNorm's
    weight and bias; none: :meth:`~mlacalc.spec.ModelSpec.layer_norms`), and the residual
    extras' matrices and vectors (:func:`residual_params`). A one-block-per-layer model (Nemotron-H) has one of the
    two blocks; with ``ffn.layer_widths`` (Nemotron-NAS) a layer has an FFN of its own width, or none, and its
    attention unless its layer type is ``ffn``. A layer that reads
    another layer's K/V (``attention.kv_share_layers``, ``attention.kv_shared_tail``) has no k/v projections
    (:meth:`~mlacalc.attention.base.AttentionFamily.shared_kv_projections`) unless the checkpoint stores them
    (:func:`holds_kv_weights`). With parallel mixers (Falcon-H1) the layer holds the linear block beside its
    attention (:func:`mlacalc.attention.parallel_block`), both counted in ``attention``."""
    b, beside = layer_block(spec, layer), parallel_block(spec, layer)
    d = spec.hidden_size
    attn, kept, wide = _split(family(b).layer_projections(b, d, holds_kv_weights(spec, layer)),
                              kept_projections(spec, b), family(b).fp32_projections(b)) if b is not None else (0, 0, 0)
    if beside is not None:         # parallel mixers: the linear block's parameters beside the attention's
        attn += sum(family(beside).projections(beside, d).values())
    if not spec.has_ffn(layer):
        ffn = Params()
    elif spec.is_moe_layer(layer):
        ffn = _moe_layer(spec, hash_routed(spec, layer))
    else:         # its own width where ffn.layer_widths gives one (Nemotron-NAS), else intermediate_size
        ffn = Params(dense_ffn=dense_ffn_params(spec, spec.ffn_width(layer)))
    res = residual_params(spec)
    return Params(attention=attn, attention_unquantized=kept,
                  norms=spec.layer_norms(layer) * spec.norm_vectors * d + res.vectors,
                  dense_ffn=ffn.dense_ffn, router=ffn.router, shared_experts=ffn.shared_experts,
                  routed_experts=ffn.routed_experts, latent_proj=ffn.latent_proj, residual=res.matrices,
                  fp32=wide + hyper_connection_params(spec)[0], hash_tables=ffn.hash_tables)


def _add(*ps: Params) -> Params:
    return Params(**{f.name: sum(getattr(p, f.name) for p in ps) for f in fields(Params)})


def _last_of_type(spec: ModelSpec, layer_type: str) -> int:
    """The last decoder layer of ``layer_type`` (the spec's check: there is one)."""
    return max(i for i in range(spec.num_layers) if spec.layer_type(i) == layer_type)


def mtp_layer(spec: ModelSpec, par: Parallelism | None = None) -> Params:
    """The decoder layer of one multi-token-prediction module: a layer of the last layer's kind (its FFN or MoE),
    whose attention is the block of ``mtp_layer_type`` where the spec gives one (MiMo-V2-Flash's MTP layers use
    the sliding shape, ``MiMoV2MTPLayers`` in its modeling file) and whose FFN is the one ``mtp_ffn`` names where
    the spec gives one (Step-3.5-Flash's MTP layers are dense behind a last MoE layer: vLLM ``step3p5_mtp.py`` builds
    each ``mtp_block`` as a Step3p5DecoderLayer at index ``num_hidden_layers + i``, outside ``moe_layers_enum``), on
    one GPU of ``par`` when given. With ``mtp_layer_types`` (Nemotron-H) the module's blocks, each the model's last
    layer of its type (Nemotron 3 Super's "*E": an attention layer and a MoE layer, each with its one norm)."""
    if spec.mtp_layer_types is not None:
        return _add(*(layer_params(spec, i) if par is None else _layer_per_gpu(spec, i, par)
                      for i in (_last_of_type(spec, t) for t in spec.mtp_layer_types)))
    last = spec.num_layers - 1
    layer = layer_params(spec, last) if par is None else _layer_per_gpu(spec, last, par)
    t = spec.mtp_layer_type
    if t is not None and t != spec.layer_type(last):
        b = spec.type_block(t)
        attn, kept, wide = _block_params(spec, b, par)
        # the fp32 of the layer: its attention's own (the last layer's swapped for the MTP layer type's) and mHC's
        old = _block_params(spec, layer_block(spec, last), par)[2]
        layer = dataclasses.replace(layer, attention=attn, attention_unquantized=kept, fp32=layer.fp32 - old + wide)
    if spec.mtp_ffn is not None and (spec.mtp_ffn == "moe") != spec.is_moe_layer(last):
        layer = dataclasses.replace(layer, **_ffn_parts(spec, spec.mtp_ffn == "moe", par))
    if layer.hash_tables:          # an MTP layer routes by its router (DeepSeek-V4's mtp.0.ffn.gate has no tid2eid)
        layer = dataclasses.replace(layer, hash_tables=0)
    return layer


def _ffn_parts(spec: ModelSpec, moe: bool, par: Parallelism | None) -> dict:
    """The FFN fields of one layer's :class:`Params`: its MoE block or dense FFN, on one GPU of ``par`` when given (as
    :func:`_layer_per_gpu` splits them)."""
    f = spec.ffn
    full = _moe_layer(spec) if moe else Params(dense_ffn=dense_ffn_params(spec, f.intermediate_size))
    if par is not None:
        full = Params(dense_ffn=_dense_per_rank(spec, full.dense_ffn, par.tp), router=full.router,
                      shared_experts=full.shared_experts / par.shared_expert_tp,
                      routed_experts=full.routed_experts / (par.ep if par.ep > 1 else par.tp),
                      latent_proj=full.latent_proj)
    return {k: getattr(full, k) for k in ("dense_ffn", "router", "shared_experts", "routed_experts", "latent_proj")}


def _block_params(spec: ModelSpec, block, par: Parallelism | None, owns_kv: bool = True
                  ) -> tuple[float, float, float]:
    """(quantized, kept unquantized, float32) parameters of one layer's attention block on one GPU of ``par`` (all of
    it without one): the family's :meth:`projections_per_rank` (see :func:`_layer_per_gpu`), split by
    :func:`kept_projections` and the family's fp32 ones; ``owns_kv`` False: a cross-layer reader's."""
    fam, hidden = family(block), spec.hidden_size
    parts = fam.layer_projections(block, hidden, owns_kv) if par is None else \
        fam.projections_per_rank(block, hidden, par, owns_kv)
    return _split(parts, kept_projections(spec, block), fam.fp32_projections(block))


def mtp_norms(spec: ModelSpec) -> int:
    """Norms of ``d`` an MTP module holds beside its layers: enorm and hnorm, and with ``mtp_layer_types`` the
    ``final_layernorm`` vLLM's NemotronHMTP builds on the module's last block (``has_end_norm``)."""
    return 3 if spec.mtp_layer_types is not None else 2


def _mtp_params(spec: ModelSpec) -> float:
    d = spec.hidden_size
    one = mtp_norms(spec) * d + 2 * d * d + mtp_layer(spec).total + mtp_own_head(spec)  # norms, eh_proj, a layer
    return spec.mtp_layers * one


def mtp_own_head(spec: ModelSpec) -> int:
    """Parameters of what each MTP module holds before the shared head where the residual has hyper-connections:
    its own final norm (``d``) and stream collapse (the model's ``hyper_connection_params`` head: DeepSeek-V4's
    ``mtp.0.norm``, ``mtp.0.hc_head_fn``/``_base``/``_scale``, code-corpus file id 62968290951); 0 without."""
    head = hyper_connection_params(spec)[1]
    return spec.hidden_size + head if head else 0


def param_counts(spec: ModelSpec) -> Params:
    """Parameters of the model by component, multi-token-prediction modules not included (``mtp`` = 0; see
    :func:`mtp_params`): the number papers and model cards quote (DeepSeek-V3: 671,026,404,352)."""
    d, v = spec.hidden_size, spec.vocab_size
    layers = _add(*(layer_params(spec, i) for i in range(spec.num_layers)))
    res = residual_params(spec)
    # the final norm: norm_vectors vectors of d, as each layer's (OLMo-1's LayerNorm without parameters: none), and
    # BLOOM's on the embeddings; the position table beside the token embedding, the head's bias beside its matrix;
    # mHC's collapse of the streams before the final norm
    return _add(layers, Params(embed=v * d + spec.position_embeddings * d, head=head_params(spec),
                               norms=spec.norm_vectors * d + res.model_vectors + embedding_norm_params(spec),
                               per_layer_embed=res.table, residual=res.first + res.last,
                               fp32=hyper_connection_params(spec)[1]))


def head_params(spec: ModelSpec) -> int:
    """Parameters (a count) of the output head: ``V d`` unless tied to the embedding (then stored once, under
    ``embed``), plus its bias ``V`` with ``head_bias`` (PhiForCausalLM's and GPTJForCausalLM's lm_head), which a tied
    head keeps of its own (CodeGen)."""
    v, d = spec.vocab_size, spec.hidden_size
    return (0 if spec.tie_word_embeddings else v * d) + (v if spec.head_bias else 0)


def embedding_norm_params(spec: ModelSpec) -> int:
    """Parameters (a count) of the norm on the token embeddings (``embedding_norm``: BLOOM's
    word_embeddings_layernorm, weight and bias): ``norm_vectors`` vectors of ``d``; 0 without one."""
    return spec.norm_vectors * spec.hidden_size if spec.embedding_norm else 0


def mtp_params(spec: ModelSpec) -> float:
    """Parameters of the multi-token-prediction modules (DeepSeek-V3: 11.5 B), which share embedding and head."""
    return _mtp_params(spec)


def active_params(spec: ModelSpec) -> Params:
    """Parameters one token uses: routed experts scaled by ``experts_per_token / num_experts``, one row
    (``d`` params) of the embedding table (a lookup, not a matmul) and one of the position table where there is one
    (``position_embeddings``), the whole output head (its bias too), no MTP module. A tied head's matrix
    is the embedding table, stored once under ``embed``, and is left out here: vendors count it both ways (IBM's
    Granite-3.1-3B-A800M 0.81 B without it, 0.88 B with; ERNIE-4.5-300B-A47B 46.2 B without, 47.1 B with).

    This reproduces the papers' activated counts: DeepSeek-V3 36.6B ("37B"), DeepSeek-V2 20.9B ("21B").
    Without the embedding row and the head: :func:`active_non_embedding`.
    """
    p = param_counts(spec)
    f = spec.ffn
    share = f.experts_per_token / f.num_experts if f is not None and f.kind == "moe" else 1.0
    r = spec.residual_extras
    row = spec.num_layers * r.per_layer_input_size if r is not None else 0     # one row of the per-layer table
    # one row of the token table, and one of the position table where there is one (GPT-2: wte and wpe, summed)
    embed = spec.hidden_size * (2 if spec.position_embeddings else 1)
    # a hash-routed layer looks one row of its table up (experts_per_token ids), as the embedding its row
    tables = f.hash_layers * f.experts_per_token if f is not None and f.kind == "moe" else 0
    return dataclasses.replace(p, routed_experts=p.routed_experts * share, embed=embed, per_layer_embed=row,
                               hash_tables=tables)


def active_non_embedding(spec: ModelSpec) -> float:
    """Active parameters per token without the embedding rows (the token's and its per-layer one) and the output
    head (the convention of scaling laws, Kaplan et al. 2020, which count non-embedding parameters). For Gemma-3n
    this is Google's "effective" count (E2B 1.91 B, E4B 3.98 B: the google/gemma3n-slicing-configs dataset), its
    per-layer embeddings being "loaded and computed efficiently on the CPU" (ai.google.dev/gemma/docs/gemma-3n)."""
    a = active_params(spec)
    return a.total - a.embed - a.per_layer_embed - a.head


def bytes_per_weight(weight_bits: float, quantization: Quantization | None = None) -> Params:
    """Bytes one weight of each component is stored in (a :class:`Params` of widths), by the rules of
    :func:`weight_bytes`. The roofline streams each component's weights at these widths too, so that a step reads
    what ``weights`` says is stored (it read a quantized head at 16 bits, and a checkpoint's matrices at the spec's
    ``dtypes.weights`` whatever its ``quantization`` block said)."""
    hi = max(weight_bits, HIGH_PRECISION_BITS) / 8
    if quantization is None:
        lo = weight_bits / 8
        return Params(embed=hi, per_layer_embed=hi, attention=lo, attention_unquantized=lo, dense_ffn=lo, router=hi,
                      shared_experts=lo, routed_experts=lo, latent_proj=lo, residual=lo, norms=hi, head=hi, mtp=lo,
                      fp32=FP32_BITS / 8, hash_tables=TABLE_BITS / 8)
    q = quantization.bits_per_value / 8
    # attention_unquantized is no component a quantization lists: the projections it keeps at >= 16 bits; routed
    # experts at their own width where the block gives one (DeepSeek-V4's MXFP4 beside fp8 blocks)
    widths = {f.name: q if f.name in quantization.components else hi for f in fields(Params)}
    if "routed_experts" in quantization.components:
        widths["routed_experts"] = quantization.expert_bits_per_value / 8
    return Params(**widths | {"fp32": FP32_BITS / 8, "hash_tables": TABLE_BITS / 8})


def weight_bytes(p: Params, weight_bits: float, quantization: Quantization | None = None,
                 mtp_width: float | None = None) -> Params:
    """Bytes for a parameter breakdown.

    Without ``quantization``: matrices (attention, FFN, experts, latent projections, MTP) at ``weight_bits``, embed/head/router/norms at
    ``max(16, weight_bits)``. With it: the components it lists at :attr:`Quantization.bits_per_value` (the value
    bits plus each group's scale and zero point, averaged over the group: partial groups at a matrix edge are not
    rounded up), every other component at ``max(16, weight_bits)``. Vectors inside a quantized component (biases,
    MLA's latent norms, gpt-oss's expert biases, ``ffn.mlp_bias``'s, a quantized head's ``head_bias``) are priced with
    it, though checkpoints keep them at 16 bits; the norms (LayerNorm biases included) are never quantized."""
    per = bytes_per_weight(weight_bits, quantization)
    if mtp_width is not None:             # the MTP modules by their parts (:func:`mtp_width`)
        per = dataclasses.replace(per, mtp=mtp_width)
    return Params(**{f.name: getattr(p, f.name) * getattr(per, f.name) for f in fields(Params)})


def checkpoint_quantization(spec: ModelSpec, weight_dtype: str | float | None = None) -> Quantization | None:
    """The quantization weight bytes are priced at: the spec's block, unless ``weight_dtype`` (``--weight-dtype``)
    overrides every matrix."""
    return spec.quantization if weight_dtype is None else None


def _layer_per_gpu(spec: ModelSpec, layer: int, par: Parallelism) -> Params:
    """One layer's parameters on one GPU.

    Attention projections split as the family says (:meth:`projection_split`): by query heads (``1 / tp``), like
    the KV heads (``Parallelism.kv_share``: replicated when there are fewer KV heads than ranks), or replicated
    (MLA's down projections and all norms: vLLM's ReplicatedLinear for DeepSeek); Mamba-2's B and C groups
    replicated where they are fewer than the ranks (:meth:`mlacalc.attention.mamba2.Mamba2.rank_block`). Under
    data-parallel attention every GPU holds all attention weights. Dense FFN (but for its down projection's bias:
    :func:`dense_ffn_replicated`) and shared experts split over TP (shared experts are whole on every GPU under
    data-parallel attention with EP: :attr:`Parallelism.shared_expert_tp`);
    routed experts are whole on ``E / ep`` experts per GPU when ``ep > 1`` (EP ranks drawn from TP x DP), otherwise
    each is TP-split. The router is replicated, and so are LatentMoE's latent projections (vLLM ``nemotron_h.py``:
    ``fc1_latent_proj`` and ``fc2_latent_proj`` are ReplicatedLinear; Megatron-Core builds them "duplicated").
    """
    full = layer_params(spec, layer)
    a, tp = layer_block(spec, layer), par.tp
    attn, kept, wide = _block_params(spec, a, par, holds_kv_weights(spec, layer)) if a is not None else (0, 0, 0)
    beside = parallel_block(spec, layer)
    if beside is not None:         # parallel mixers: the linear block's share on this GPU (it keeps nothing unquantized)
        attn += _block_params(spec, beside, par)[0]
    experts = full.routed_experts / (par.ep if par.ep > 1 else tp)
    res = residual_params(spec)                 # LAuReL split over TP, AltUp and the per-layer gates replicated
    return Params(attention=attn, attention_unquantized=kept, norms=full.norms,
                  dense_ffn=_dense_per_rank(spec, full.dense_ffn, tp),
                  router=full.router, shared_experts=full.shared_experts / par.shared_expert_tp, routed_experts=experts,
                  latent_proj=full.latent_proj, residual=res.matrices - res.split + res.split / tp,
                  # the attention's fp32 tensors as they split (sinks by heads), mHC's whole on every rank; the hash
                  # table whole, as the router
                  fp32=wide + hyper_connection_params(spec)[0], hash_tables=full.hash_tables)


def mtp_params_per_gpu(spec: ModelSpec, par: Parallelism) -> Params:
    """The multi-token-prediction modules on one GPU of the last stage, by component (all of them: ``mtp_layers``
    alike modules). Each is two RMSNorms of ``d`` (three with ``mtp_layer_types``: :func:`mtp_norms`; replicated, as
    every norm), ``eh_proj`` ``2d x d`` split over TP
    (Megatron-Core's ``MultiTokenPredictionLayer`` builds it column-parallel, ``gather_output=False``), in field
    ``mtp``, and one decoder layer of the last layer's kind split as the main model's layers are
    (:func:`_layer_per_gpu`: its routed experts over EP, its MLA down projections replicated).

    The whole module was divided by ``tp`` (audit 10): under ``--ep 64`` at ``tp 1`` DeepSeek-V3's last stage held
    all 256 experts of its MTP layer (11.3 B parameters) where the EP rank holds 4, as for every other MoE layer."""
    d = spec.hidden_size
    layer = mtp_layer(spec, par)
    head = hyper_connection_params(spec)[1]       # with mHC, its own final norm and stream collapse (mtp_own_head)
    one = _add(layer, Params(norms=mtp_norms(spec) * d + (d if head else 0), mtp=2 * d * d / par.tp, fp32=head))
    return Params(**{f.name: spec.mtp_layers * getattr(one, f.name) for f in fields(Params)})


def mtp_width(spec: ModelSpec, par: Parallelism, weight_bits: float, quantization: Quantization | None
              ) -> float | None:
    """Bytes per parameter of the MTP modules on one GPU of ``par`` where they cannot be priced at one width
    (:func:`weight_bytes`' ``mtp`` width): a checkpoint whose routed experts have a width of their own
    (``quantization.experts_bits``: DeepSeek-V4's MXFP4 experts, its MTP module's too, ``mtp.0.ffn.experts.*`` int8
    packed with e8m0 scales beside fp8 attention) or whose residual has hyper-connections (fp32 mappings): the
    module's components each at its width (:func:`mtp_params_per_gpu`). None otherwise: the whole module at the
    ``mtp`` component's width, as DeepSeek-V3's (fp8 blocks, norms and router among them: 11.6 B parameters)."""
    own = quantization is not None and quantization.experts_bits is not None
    if not spec.mtp_layers or not (own or spec.hyper_connections > 1):
        return None
    parts = mtp_params_per_gpu(spec, par)
    return weight_bytes(parts, weight_bits, quantization).total / parts.total


def layer_params_per_gpu(spec: ModelSpec, layer: int, par: Parallelism) -> Params:
    """One layer's parameters on one GPU (public name for the TP/EP split used by :func:`params_per_gpu`)."""
    return _layer_per_gpu(spec, layer, par)


def params_per_gpu(spec: ModelSpec, par: Parallelism) -> Params:
    """Parameters on the fullest GPU: stages of ``ceil(L / pp)`` layers; embedding (a learned position table and an
    embedding norm with it, whole on every rank) on the first stage, head (its bias vocab-split with it) and MTP on
    the last; the head vocab-split over TP, the embedding too except under data-parallel attention,
    where every rank holds it whole (SGLang builds ``VocabParallelEmbedding(enable_tp=not is_dp_attention_enabled())``:
    each rank embeds its own sequences' tokens, as the roofline's ``embed`` op reads the whole table's rows)."""
    return max(stage_params(spec, par), key=lambda p: p.total)


def stage_params(spec: ModelSpec, par: Parallelism) -> list[Params]:
    """Parameters on one GPU of each pipeline stage, in stage order (see :func:`params_per_gpu`); the last
    stage holds the MTP modules (field ``mtp``)."""
    par.check(spec)
    d, v, L = spec.hidden_size, spec.vocab_size, spec.num_layers
    per_layer = [_layer_per_gpu(spec, i, par) for i in range(L)]
    res = residual_params(spec)
    stages = []
    for r in par.stage_ranges(L):
        extra = Params()
        if r.start == 0:
            # whole under dp-attention; the per-layer table is vocabulary-parallel like the token table (vLLM
            # gemma3n.py: VocabParallelEmbedding), the per-layer and AltUp projections column-parallel; a learned
            # position table and the embeddings' norm whole on every rank (vLLM gpt2.py: wpe an nn.Embedding beside the
            # VocabParallelEmbedding wte; bloom.py: word_embeddings_layernorm an nn.LayerNorm)
            embed = v * d / par.attention_tp + spec.position_embeddings * d
            extra = _add(extra, Params(embed=embed, per_layer_embed=res.table / par.attention_tp,
                                       residual=res.first / par.tp,
                                       norms=res.model_vectors + embedding_norm_params(spec)))
        if r.stop >= L:
            mtp = mtp_params_per_gpu(spec, par).total
            head = 0 if spec.tie_word_embeddings and par.pp == 1 else v * d / par.tp
            if spec.head_bias:          # vocabulary-parallel, as the head (vLLM ParallelLMHead: a bias of V / tp)
                head += v / par.tp
            extra = _add(extra, Params(head=head, norms=spec.norm_vectors * d, mtp=mtp, residual=res.last / par.tp,
                                       fp32=hyper_connection_params(spec)[1]))
        stages.append(_add(*per_layer[r.start:r.stop], extra))
    return stages


@dataclass(frozen=True)
class WeightsReport:
    """Everything ``mlacalc weights`` prints. ``params`` is the model without its MTP modules (``mtp_params``
    apart); ``per_gpu_*`` is what the fullest GPU holds, MTP included on the last stage (field ``mtp``); JSON's
    ``weight_bytes_per_gpu`` leaves it apart, as ``weight_bytes_total`` does (``weight_bytes_mtp_per_gpu``)."""

    model: str
    weight_bits: float
    parallel: Parallelism
    params: Params
    mtp_params: float
    active: Params
    active_non_embedding: float
    bytes: Params
    mtp_bytes: float
    per_gpu_params: Params
    per_gpu_bytes: Params
    attention_per_layer: dict
    linear_attention_per_layer: dict = dataclasses.field(default_factory=dict)
    quantization: Quantization | None = None
    sliding_attention_per_layer: dict = dataclasses.field(default_factory=dict)   # {} unless a sliding shape
    kept: tuple = ()            # attention projections priced at >= 16 bits beside a quantized rest (kept_projections)
    unused_kv: float = 0        # k/v projection parameters stored on layers that read others' K/V (unused_kv_params)
    heads_vary: bool = False    # attention.layer_heads: attention_per_layer is the widest layer's (spec.attention)
    plain_layers: int = 0       # msa: layers without the indexer, whose attention is attention_per_layer less index_*
    position_row: bool = False  # a learned position table: active counts its row beside the embedding's
    # compressed attention (DeepSeek-V4): each layer type's projections (sliding, csa, hca: those its layers have)
    attention_by_layer_type: dict = dataclasses.field(default_factory=dict)
    caveats: tuple = ()         # the spec's excluded and warnings (ModelSpec.caveats): a vision tower not counted

    @property
    def active_rows(self) -> str:
        """The embedding rows the active count holds: the token's, and its position's where there is a table."""
        return "one embedding row (d) and one position-table row (d)" if self.position_row else "one embedding row (d)"

    def to_json(self) -> dict:
        p = self.parallel
        return {"model": self.model, "weight_bits": self.weight_bits, "tp": p.tp, "ep": p.ep, "pp": p.pp,
                "parallel": p.as_dict(),
                "params_total": self.params.total, "params_mtp": self.mtp_params,
                "params_active": self.active.total, "params_active_non_embedding": self.active_non_embedding,
                "params_active_counts": f"{self.active_rows} and the output head; no MTP",
                "weight_bytes_total": self.bytes.total, "weight_bytes_mtp": self.mtp_bytes,
                # MTP apart, as weight_bytes_total and the table's per-GPU total (it included the MTP modules: at
                # tp 1 DeepSeek-V3's one GPU held 637.73 GiB of a 626.92 GiB model)
                "weight_bytes_per_gpu": self.per_gpu_bytes.total - self.per_gpu_bytes.mtp,
                "weight_bytes_mtp_per_gpu": self.per_gpu_bytes.mtp,
                "params": self.params.as_dict(), "params_active_parts": self.active.as_dict(),
                "bytes": self.bytes.as_dict(), "per_gpu_params": self.per_gpu_params.as_dict(),
                "per_gpu_bytes": self.per_gpu_bytes.as_dict(), "attention_per_layer": self.attention_per_layer,
                "linear_attention_per_layer": self.linear_attention_per_layer,
                **({"sliding_attention_per_layer": self.sliding_attention_per_layer}
                   if self.sliding_attention_per_layer else {}),
                **({"attention_by_layer_type": self.attention_by_layer_type} if self.attention_by_layer_type else {}),
                "params_unused_kv": self.unused_kv,
                **({"attention_per_layer_is": "the widest layer's (attention.layer_heads)"} if self.heads_vary else {}),
                **({"attention_per_layer_is": f"an MSA layer's; {self.plain_layers} layers without the indexer "
                                              "(attention.index_layers 0) hold it less index_*"}
                   if self.plain_layers else {}),
                "quantization": self.quantization_json(), **{k: list(v) for k, v in self.caveats}}

    def quantization_json(self) -> dict:
        """What ``weight_bytes_total`` is priced at: the checkpoint's quantization, or one dtype for every matrix."""
        hi = float(max(self.weight_bits, HIGH_PRECISION_BITS))
        q = self.quantization
        if q is None:
            return {"method": None, "weight_bits": self.weight_bits, "other_bits": hi,
                    "components": ["attention", "attention_unquantized", "dense_ffn", "shared_experts",
                                   "routed_experts", "latent_proj", "mtp"]}
        own = {} if q.experts_bits is None else {"experts_bits_per_value": q.expert_bits_per_value}
        fields_ = {k: v for k, v in dataclasses.asdict(q).items()
                   if q.experts_bits is not None or not k.startswith("experts_")}
        return fields_ | {"components": list(q.components), "unquantized": list(self.kept),
                          "bits_per_value": q.bits_per_value, "other_bits": hi} | own


def index_free_layers(spec: ModelSpec) -> int:
    """Layers of an msa model that run no indexer (``attention.index_layers`` 0: plain GQA of the same heads,
    :meth:`~mlacalc.spec.ModelSpec.attention_block`); 0 for every other model."""
    a = spec.attention
    return a.index_layers.count(0) if a is not None and a.kind == "msa" and a.index_layers else 0


def weights_report(spec: ModelSpec, weight_dtype: str | float | None = None,
                   parallel: Parallelism = Parallelism()) -> WeightsReport:
    """Parameters and bytes: total (MTP apart), active per token, per GPU under ``parallel``."""
    bits = spec.dtypes.weight_bits if weight_dtype is None else dtype_bits(weight_dtype, "weight_dtype")
    quant = checkpoint_quantization(spec, weight_dtype)
    parallel.check(spec)
    p = param_counts(spec)
    mtp = mtp_params(spec)
    per_gpu = params_per_gpu(spec, parallel)
    return WeightsReport(model=spec.name, weight_bits=bits, parallel=parallel, params=p, mtp_params=mtp,
                         active=active_params(spec), active_non_embedding=active_non_embedding(spec),
                         bytes=weight_bytes(p, bits, quant),
                         mtp_bytes=weight_bytes(Params(mtp=mtp), bits, quant, mtp_width(spec, Parallelism(), bits,
                                                                                          quant)).total,
                         per_gpu_params=per_gpu,
                         per_gpu_bytes=weight_bytes(per_gpu, bits, quant, mtp_width(spec, parallel, bits, quant)),
                         attention_per_layer=attention_projections(spec),
                         linear_attention_per_layer=linear_projections(spec), quantization=quant,
                         sliding_attention_per_layer=sliding_projections(spec),
                         kept=tuple(sorted(kept_projections(spec, spec.attention))) if quant else (),
                         unused_kv=unused_kv_params(spec),
                         heads_vary=spec.layer_heads is not None and not spec.uniform_attention,
                         plain_layers=index_free_layers(spec),
                         position_row=spec.position_embeddings > 0,
                         attention_by_layer_type=layer_type_projections(spec), caveats=spec.caveats)


def layer_type_projections(spec: ModelSpec) -> dict:
    """Compressed attention's (DeepSeek-V4) parameters of one layer of each type its layers have, by projection, in
    order sliding, csa, hca; {} for any other attention (its full and sliding tables say it)."""
    a = spec.attention
    kinds = family(a).layer_kinds if a is not None else ()
    used = {spec.layer_type(i) for i in range(spec.num_layers)}
    return {t: family(a).projections(spec.type_block(t), spec.hidden_size) for t in kinds if t in used}


def unused_kv_params(spec: ModelSpec) -> float:
    """Parameters (a count, within ``attention``) of the k/v projections a checkpoint stores on layers that read
    another layer's K/V and compute none (``attention.reader_kv_weights``: Gemma-3n's KV-shared layers); 0 else."""
    if spec.attention is None or not spec.attention.reader_kv_weights:
        return 0.0
    total = 0.0
    for layer in range(spec.num_layers):
        b = layer_block(spec, layer)
        if b is not None and not spec.owns_kv(layer):
            fam = family(b)
            total += sum(fam.projections(b, spec.hidden_size).values()) - \
                sum(fam.shared_kv_projections(b, spec.hidden_size).values())
    return total
