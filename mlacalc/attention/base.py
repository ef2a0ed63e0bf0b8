"""The interface every attention family implements, and the pieces families share.

A family answers, for one attention block of a spec (``spec.attention``, an :class:`mlacalc.spec.Attention`):

- **spec**: how its raw fields normalise (defaults) and which combinations are valid;
- **KV**: the cache parts one token adds to one layer (elements), and how many head-indexed groups that cache
  splits into over tensor parallelism (None: it belongs to no head and every rank holds it whole);
- **weights**: the projection parameters of one layer, and how each splits over TP (by query heads, by KV heads,
  or replicated);
- **roofline**: the ops of one layer's attention in a forward step (projections, cache write, the attention core
  over the keys each query attends, from :mod:`mlacalc.attention.keys`), FLOPs and HBM bytes on one GPU;
- **training**: the tensors the attention block stores for backward, and the KV heads its backward expands.

Calculators call these methods and never test the attention kind themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ..costs import ACT_BYTES, FP32_BYTES, KVCache, OpCost, SavedTensor, matmul
from ..errors import ArgError, SpecError
from .keys import rules_span
from .quant import SCALED, VALUE_BITS

if TYPE_CHECKING:
    from ..parallel import Parallelism
    from ..spec import Attention, ModelSpec


class StepShape(NamedTuple):
    """One forward step's attention on one GPU, as the roofline hands it to a family.

    Bytes per element: ``wb`` weights at the weight dtype, ``hb`` weights kept at >= 16 bits, ``ab``
    activations, ``kb`` cache (``kv_bits / 8``); ``kept``: the projections the checkpoint keeps unquantized
    (:func:`mlacalc.params.kept_projections`), read at ``hb`` (:meth:`w`)."""

    block: object            # the layers' attention block (spec.attention, or spec.linear_attention)
    rules: tuple             # ((layers, KeyRule), ...) of these layers: which keys their queries attend
    seqs: int                # sequences whose attention this GPU runs
    prior: int               # tokens already cached per sequence
    new: int                 # tokens per sequence in this step
    heads: float             # query heads on this GPU
    head_share: float        # heads on this GPU / all heads
    kv_share: float          # share of each token's KV on this GPU (conventional TP split of KV heads)
    layers: int              # layers of this group (the sum of the rules' counts)
    wb: float
    hb: float
    ab: float
    kb: float
    kv_bits: float
    form: str | None         # a family's computation form (MLA: absorbed | decompressed), None when it has one
    core_launches: float     # kernels per layer for the attention core
    state_bits: float = 16   # linear-attention state dtype (the convolution's, and the recurrent state's by default)
    ssm_state_bits: float | None = None   # the recurrent (SSM) state's dtype where it differs
    ranks: int = 1           # ranks the heads split over (Parallelism.attention_tp): head_share = 1 / ranks
    kept: frozenset = frozenset()   # projections stored unquantized (quantization.unquantized)

    def w(self, projection: str) -> float:
        """Bytes a weight of ``projection`` (a family's :meth:`~AttentionFamily.projections` key) is read at:
        ``hb`` where the checkpoint keeps it unquantized, else ``wb``."""
        return self.hb if projection in self.kept else self.wb

    @property
    def tokens(self) -> int:
        """Query tokens through this GPU's attention in the step."""
        return self.seqs * self.new


class AttentionOps(NamedTuple):
    """A family's ops for one step, and the RMSNorms it adds (elements per token per layer, kernels per layer)."""

    ops: tuple[OpCost, ...]
    norm_width: float
    norm_count: int


class AttentionFamily:
    """Base class: one attention design. Subclasses override what differs; see the module docstring."""

    name: str = ""
    kinds: tuple[str, ...] = ()              # spec ``attention.kind`` values this family handles
    cache_modes: tuple[str, ...] = ("compressed",)
    forms: tuple[str, ...] = ()              # computation forms (MLA: absorbed, decompressed)
    kv_symbol: str = "a_kv"                  # symbol of the KV-head axis in saved-tensor shapes
    latent_recompute: bool = False           # supports recompute="mla-latent"
    kernel: str = ""                         # the mlacalc.kernels decode family that runs it ("mla", "gqa")
    # fields without a default that ``normalise`` fills in where a file leaves them out (short_conv: one channel a
    # head), so a spec file need not give them: the JSON Schema does not require them (mlacalc.spec.json_schema)
    filled: tuple[str, ...] = ()
    # optional (nullable) fields this kind cannot do without, which ``validate`` refuses a block without (mamba1's
    # dt_rank): the JSON Schema requires them of this kind, and not null
    requires: tuple[str, ...] = ()
    # layer types whose blocks the family builds from the one ``attention`` (compressed: sliding, csa, hca; their
    # projections are weights' per-type tables); () where the spec's attention and sliding blocks are the layers'
    layer_kinds: tuple[str, ...] = ()

    # --- spec ------------------------------------------------------------------------------------------------

    def normalise(self, raw: dict) -> dict:
        """Fill defaults in a raw ``attention`` mapping (before validation)."""
        return raw

    def validate(self, a: "Attention") -> None:
        """Raise :class:`SpecError` for field combinations this family cannot take."""

    def validate_model(self, a, spec: "ModelSpec") -> None:
        """Raise :class:`SpecError` for a block that does not fit the model around it (LFM2's short convolution: its
        channels are the model width); none by default."""

    # --- forms -----------------------------------------------------------------------------------------------

    def default_form(self, phase: str) -> str | None:
        return None

    def resolve_form(self, form: str | None, phase: str) -> str | None:
        """The computation form of a step: ``form`` if given and valid, else the family's default for ``phase``.
        A form for a family that has none is refused (it would do nothing)."""
        if form is None:
            return self.default_form(phase)
        if not self.forms:
            raise ArgError("mla_form", f"applies to MLA only, not to {self.name} attention")
        if form not in self.forms:
            raise ArgError("mla_form", f"must be one of {', '.join(self.forms)}, got {form!r}")
        return form

    def check_cache(self, cache: str) -> str:
        if cache not in ("compressed", "naive"):
            raise ArgError("cache", f"must be compressed or naive, got {cache!r}")
        return cache

    # --- KV, weights, roofline, training: subclasses implement -----------------------------------------------

    def cache_parts(self, a: "Attention", cache: str = "compressed") -> KVCache:
        """Elements one token adds to one layer's cache."""
        raise NotImplementedError

    def kv_groups(self, a: "Attention", cache: str = "compressed") -> int | None:
        """Head-indexed groups the cache splits into over TP; None when every rank holds all of it."""
        raise NotImplementedError

    def cache_bytes(self, a: "Attention", cache: str, kv_bits: float, kv_format: str | None = None) -> KVCache:
        """Bytes one token adds to one layer's cache: :meth:`cache_parts` at ``kv_bits`` (a family with parts
        stored at their own width, or a packed ``kv_format``, overrides this). A scaled layout (``int4``, ``int8``,
        ``fp4``: :mod:`mlacalc.attention.quant`) goes to :meth:`scaled_cache_bytes`."""
        if kv_format in SCALED:
            return self.scaled_cache_bytes(a, cache, kv_format)
        if kv_format is not None:
            # fp8-ds is FlashMLA's sparse (DSA) layout ("an MLA cache layout; mla attention has none" contradicted
            # itself), and DeepSeek-V4's
            raise ArgError("kv_dtype", f"{kv_format} is the cache layout of DSA and DeepSeek-V4's compressed attention "
                                       f"(FlashMLA's sparse kernels); {self.name} attention has none")
        return self.cache_parts(a, cache).scaled(kv_bits / 8)

    def scaled_cache_bytes(self, a: "Attention", cache: str, fmt: str) -> KVCache:
        """Bytes one token adds to one layer's cache in a scaled layout (values plus their ``scales``); refused by
        default: a family says which engine layout it has."""
        bits = VALUE_BITS[fmt]
        raise ArgError("kv_dtype", f"{fmt}: no engine's {fmt} KV layout is known for {self.name} attention; "
                                   f"--kv-bits {bits} (or dtypes.kv: {bits}) gives flat {bits}-bit values without "
                                   "scales")

    def cache_bytes_per_rank(self, a, token: KVCache, par: "Parallelism", cache: str = "compressed") -> KVCache:
        """One GPU's share of ``token``, a :class:`KVCache` of this block's per-token bytes (or of tokens held):
        every part times ``Parallelism.kv_share`` of :meth:`kv_groups` (all of it for a cache of no head, an MLA
        latent). A family whose parts split differently (MSA: K/V by KV heads, the indexer's one key head whole on
        every rank) overrides this."""
        return token.scaled(par.kv_share(self.kv_groups(a, cache)))

    def sequence_bytes(self, a: "Attention", cache: str, kv_bits: float, kv_format: str | None, rule,
                       context: int, block_size: int | None = None) -> KVCache:
        """Bytes one sequence of ``context`` tokens holds per token in one layer that follows ``rule`` (a
        :class:`~mlacalc.attention.keys.KeyRule`): :meth:`cache_bytes` times the tokens the rule holds, in whole
        blocks of ``block_size`` when paged (:meth:`~mlacalc.attention.keys.KeyRule.held_paged`). A family whose
        layer holds parts of their own counts (DeepSeek-V4's window and compressed entries) overrides this; the
        constant state is :meth:`state_bytes`."""
        return self.cache_bytes(a, cache, kv_bits, kv_format).scaled(rule.held_paged(context, block_size))

    def state_bytes(self, a, state_bits: float, ssm_bits: float | None = None) -> KVCache:
        """Bytes one sequence holds per layer whatever its length (linear-attention state: the convolution at
        ``state_bits``, the recurrent state at ``ssm_bits``, default ``state_bits``); none by default."""
        return KVCache()

    def state_bytes_per_rank(self, a, state_bits: float, ssm_bits: float | None, par: "Parallelism") -> KVCache:
        """Bytes of one sequence's state in one layer on one GPU of ``par``: :meth:`state_bytes` times the rank's
        share of the head groups (``Parallelism.kv_share`` of :meth:`kv_groups`)."""
        return self.state_bytes(a, state_bits, ssm_bits).scaled(par.kv_share(self.kv_groups(a)))

    def label(self, a) -> str:
        """A short name of the block for tables (``GQA-8``, ``MLA``)."""
        return self.name.upper()

    def output_width(self, a) -> int:
        """Features per token that enter the output projection (all heads)."""
        return a.num_heads * a.v_head_dim

    def check_split(self, a, tp: int) -> None:
        """Refuse a TP degree this block cannot split over (query heads; KV heads are checked by the caller)."""
        if a.num_heads % tp:
            raise ArgError("tp", f"{tp} ranks cannot split {a.num_heads} query heads (attention.num_heads) evenly")

    def projections(self, a: "Attention", hidden: int) -> dict[str, int]:
        """Parameters of one layer's attention, by projection (norms inside attention included)."""
        raise NotImplementedError

    def projection_split(self, a: "Attention", name: str) -> str:
        """How projection ``name`` splits over TP: ``heads``, ``kv`` (like the KV heads) or ``replicated``."""
        raise NotImplementedError

    def fp32_projections(self, a: "Attention") -> frozenset:
        """Projections (:meth:`projections` keys) every checkpoint of this design stores in float32 whatever its
        dtype (DeepSeek-V4's attention sinks and compressor position biases); none by default."""
        return frozenset()

    def never_quantized(self, a: "Attention") -> frozenset:
        """Projections (:meth:`projections` keys) every quantized checkpoint of this design stores at >= 16 bits,
        whatever its ``quantization_config`` lists: the engines build them unquantized. None by default."""
        return frozenset()

    def shared_kv_projections(self, a: "Attention", hidden: int) -> dict[str, int]:
        """Parameters of one layer's attention where the layer reads another layer's K/V (cross-layer attention,
        ``attention.kv_share_layers``): refused unless the family says which projections such a layer lacks."""
        raise SpecError("attention.kv_share_layers", f"cross-layer K/V sharing is not modelled for {self.name} "
                                                     "attention")

    def layer_projections(self, a: "Attention", hidden: int, owns_kv: bool = True) -> dict[str, int]:
        """:meth:`projections` of a layer that computes its own K/V, :meth:`shared_kv_projections` of one that reads
        another layer's."""
        return self.projections(a, hidden) if owns_kv else self.shared_kv_projections(a, hidden)

    def projections_per_rank(self, a, hidden: int, par: "Parallelism", owns_kv: bool = True) -> dict[str, float]:
        """Parameters of one layer's block on one GPU of ``par``, by projection: as :meth:`projection_split` says,
        by query heads (``1 / attention_tp``), like the KV heads (``Parallelism.kv_share``), or replicated
        (``owns_kv`` False: a cross-layer reader's, :meth:`shared_kv_projections`)."""
        out = {}
        for name, n in self.layer_projections(a, hidden, owns_kv).items():
            how = self.projection_split(a, name)
            out[name] = (n if how == "replicated" else n * par.kv_share(self.kv_groups(a)) if how == "kv"
                         else n / par.attention_tp)
        return out

    def attention_ops(self, spec: "ModelSpec", s: StepShape) -> AttentionOps:
        """Projections, cache write and core of one step (everything before ``o_proj``), on one GPU."""
        raise NotImplementedError

    def output_ops(self, spec: "ModelSpec", s: StepShape, o_bias: float = 0.0) -> tuple[OpCost, ...]:
        """The output projection of one step on one GPU: ``o_proj``, this rank's heads' :meth:`output_width` to the
        model width, with ``o_bias`` bytes of bias read beside the weight (DeepSeek-V4's grouped projection is two
        GEMMs: :mod:`mlacalc.attention.compressed`)."""
        return (matmul("o_proj", s.tokens, self.output_width(s.block) * s.head_share, spec.hidden_size, s.w("o"), s.ab,
                       s.layers, extra_weight=o_bias),)

    def core_dims(self, a: "Attention", form: str | None) -> tuple[int, int]:
        """(query/key dims, value dims) per head as the attention core sees them."""
        raise NotImplementedError

    def core_cache_elements(self, a: "Attention", form: str | None) -> float:
        """Cache elements per key the core reads from HBM (0 when it reads decompressed activations)."""
        raise NotImplementedError

    def projection_tensors(self, spec: "ModelSpec", cfg, a: "Attention", heads: int,
                           kv_heads: int) -> tuple[list, str]:
        """Tensors the projections of block ``a`` store before the core for backward, and the ``drop`` tag of the
        core's q/k/v (what recomputation may drop)."""
        raise NotImplementedError

    def attended_kv_heads(self, a: "Attention", tp: int) -> int:
        """Key/value heads the attention kernel sees on one of ``tp`` ranks (training)."""
        raise NotImplementedError

    def kernel_expands_kv(self, a: "Attention", kernel: str) -> bool:
        """Whether the attention kernel keeps K and V at every query head (copies ``repeat_kv`` makes) rather than
        at the K/V heads: eager attention does (its matmuls keep the expanded copies); a fused kernel does not."""
        return kernel == "eager"

    # --- shared ----------------------------------------------------------------------------------------------

    def core_cost(self, spec: "ModelSpec", s: StepShape) -> OpCost:
        """The attention core on one GPU: scores ``Q K^T`` and weighted values ``P V`` for ``s.seqs`` sequences.

        FLOPs ``2 H' P (d_k + d_v)`` per sequence (``H'`` heads on this GPU, ``P`` attended pairs from
        :func:`mlacalc.attention.keys.attention_span`), and ``H' P`` softmax exponentials (one a pair and head,
        whatever d: FlashAttention takes the exponential of every score, masked ones of a computed tile too; the
        FlashAttention-3 paper, arXiv 2407.08608: the H100 has "989 TFLOPS of FP16 matmul but only 3.9 TFLOPS of
        special functions"). Bytes: queries in and outputs out (bf16), and the cache of every attended key once (:meth:`core_cache_elements` at ``kv_bits``, times ``kv_share``); a form that
        attends decompressed activations reads them instead (:meth:`core_activation_elements`)."""
        a = s.block
        pairs, keys = rules_span(s.rules, s.prior, s.new)
        dk, dv = self.core_dims(a, s.form)
        tokens = s.tokens * s.layers
        kv_bytes = s.seqs * keys * self.core_cache_elements(a, s.form) * s.kv_share * s.kb
        act_kv = s.seqs * keys * s.heads * self.core_activation_elements(a, s.form) * s.ab
        return OpCost("attn_core", "attention", flops=2 * s.seqs * s.heads * pairs * (dk + dv),
                      act_bytes=tokens * s.heads * (dk + dv) * s.ab + act_kv, kv_bytes=kv_bytes,
                      out_width=s.heads * dv, launches=s.core_launches * s.layers, exps=s.seqs * s.heads * pairs)

    def check_training(self, spec: "ModelSpec") -> None:
        """Refuse a training-memory question this family cannot answer (none by default)."""

    def core_rules(self, a, rules: tuple) -> tuple:
        """The key rules the attention core's queries follow (DSA: each capped at its top-k)."""
        return rules

    def core_activation_elements(self, a: "Attention", form: str | None) -> float:
        """Per key and head, elements the core reads as activations rather than cache (0 by default)."""
        return 0.0

    def op_sac_ops(self, spec: "ModelSpec", cfg, a: "Attention") -> list[tuple[str, SavedTensor]]:
        """The outputs of one layer's attention block ``a`` that torchtitan's op-level selective checkpointing
        decides on, in forward order, as ``(op, tensor)`` with ``op`` "mm" or "sdpa" (see
        :func:`mlacalc.activations.op_sac_tensors`). Refused by default: the policy's outcome for this family's ops
        is not established here."""
        raise ArgError("recompute", f"op (torchtitan's op-level SAC) is modelled for mha/gqa/mqa attention, not "
                                    f"{spec.attention.kind}")

    def check_dtensor_tp(self, spec: "ModelSpec", block, tp: int) -> None:
        """Refuse torchtitan's DTensor tensor parallelism (``--tp-style torchtitan`` over ``tp > 1`` ranks) where which
        tensors its plan saves is not established here: every family but mha/gqa/mqa (torchtitan's DeepSeek-V3 plan
        gathers MLA's latents too, ``NoParallel`` down-projections on a replicated input; not derived)."""
        raise ArgError("tp_style", f"torchtitan's tensor parallelism is modelled for mha/gqa/mqa attention, not "
                                   f"{block.kind}")

    def saved_tensors(self, spec: "ModelSpec", cfg, a: "Attention") -> list[SavedTensor]:
        """The stored tensors of one layer's attention block ``a`` (``spec.attention``, or the sliding layers' block
        where they have a shape of their own) on one GPU (see :mod:`mlacalc.activations` for the rules): its input,
        the family's projection tensors, q/k/v for the kernel, the core's internals, the output."""
        self.check_training(spec)
        b, sl, t, h = cfg.micro_batch, cfg.seq_local, cfg.tp, spec.hidden_size
        heads = divide(a.num_heads, t, "attention.num_heads")
        kv_heads = self.attended_kv_heads(a, t)
        out = [cfg.linear_input("attn.input", h, "attention", "q/k/v (MLA: q_down, kv_down) projections")]
        extra, up = self.projection_tensors(spec, cfg, a, heads, kv_heads)
        out += extra
        kv_sym = self.kv_symbol
        if self.kernel_expands_kv(a, cfg.kernel) and kv_heads != heads:
            kv_who = "QK^T and PV (repeat_kv copies)" if cfg.kernel == "eager" else \
                "attention kernel (repeat_kv copies)"
            kv_sym, kv_heads = "a", heads
        else:
            kv_who = "attention kernel" if cfg.kernel == "fused" else "QK^T and PV"
        out += [SavedTensor("attn.q", ("b", "s", "a", "d_qk"), (b, sl, heads, a.qk_head_dim), ACT_BYTES,
                            "attention", "attention kernel (after RoPE)" if cfg.kernel == "fused" else "QK^T", "tp",
                            up),
                SavedTensor("attn.k", ("b", "s", kv_sym, "d_qk"), (b, sl, kv_heads, a.qk_head_dim), ACT_BYTES,
                            "attention", kv_who + " (after RoPE)", "tp", up)]
        if not a.kv_shared:  # KV-shared: v is a view of k
            out.append(SavedTensor("attn.v", ("b", "s", kv_sym, "d_v"), (b, sl, kv_heads, a.v_head_dim), ACT_BYTES,
                                   "attention", kv_who, "tp", up))
        if cfg.kernel == "fused":
            out.append(SavedTensor("attn.lse", ("b", "a", "s"), (b, heads, sl), FP32_BYTES, "attention_core",
                                   "attention kernel (log-sum-exp)", "tp", "core"))
        else:
            out.append(SavedTensor("attn.probs", ("b", "a", "s", "s_kv"), (b, heads, sl, cfg.seq), ACT_BYTES,
                                   "attention_core", "softmax and PV", "tp", "core"))
        out.append(SavedTensor("attn.out", ("b", "s", "a", "d_v"), (b, sl, heads, a.v_head_dim), ACT_BYTES,
                               "attention", "o_proj (and the attention kernel)" if not a.output_gate else
                               "the output gate's product (and the attention kernel)", "tp"))
        if a.output_gate:
            # out * sigmoid(gate) (Qwen3-Next, Trinity): sigmoid keeps its output, which the product keeps too, and
            # o_proj keeps the product; a gated layer was counted as an ungated one (audit 7)
            out += [SavedTensor("attn.gate", ("b", "s", "a", "d_v"), (b, sl, heads, a.v_head_dim), ACT_BYTES,
                                "attention", "sigmoid and the output gate's product", "tp"),
                    SavedTensor("attn.gated_out", ("b", "s", "a", "d_v"), (b, sl, heads, a.v_head_dim), ACT_BYTES,
                                "attention", "o_proj (the gated output)", "tp")]
        return out


def divide(n: int, t: int, what: str) -> int:
    """``n / t`` for a quantity TP must split evenly (heads, widths); refuses an uneven split."""
    if n % t:
        raise ArgError("tp", f"{what} ({n}) does not split evenly over {t} tensor-parallel ranks")
    return n // t


INDEX_FIELDS = ("index_n_heads", "index_head_dim", "index_topk", "index_cache_bytes")
COMPRESSED_FIELDS = ("o_groups", "o_lora_rank", "csa_rate", "hca_rate")    # compressed attention's own fields
# fields of MiniMax Sparse Attention's block selection (:mod:`.msa`), refused on every other kind
MSA_FIELDS = ("index_topk_blocks", "index_block_size", "index_layers")


def refuse_index_fields(a: "Attention") -> None:
    """Refuse the indexer's fields on a family without one, naming the kinds each belongs to: the indexer's heads,
    width and key bytes are DSA's, DeepSeek-V4's (csa layers) and MSA's; a per-token top-k (``index_topk``) only the
    first two's (MSA selects blocks: ``index_topk_blocks``)."""
    refuse_fields(a, ("index_n_heads", "index_head_dim", "index_cache_bytes"), "dsa, compressed or msa")
    refuse_fields(a, ("index_topk",), "dsa or compressed")


def refuse_fields(a: "Attention", names: tuple[str, ...], owner: str) -> None:
    """Refuse fields of another family (``owner``: the kind they belong to) set on this one: they would silently
    do nothing."""
    for name in names:
        if getattr(a, name) not in (None, False):
            raise SpecError(f"attention.{name}", f"only applies to kind {owner}, not {a.kind}")
