"""How a model is spread over GPUs: one type, validated once, used by every calculator.

:class:`Parallelism` holds the degrees of tensor (``tp``), pipeline (``pp``), data (``dp``), expert (``ep``) and
context (``cp``) parallelism, and two switches: sequence parallelism (``sp``: token-replicated activations split
over the TP ranks, Korthikanti et al. 2022) and data-parallel attention (``dp_attention``: each TP rank runs all
attention heads for its share of the sequences while the FFN/MoE stays split, as SGLang and vLLM serve
DeepSeek-V3).

The rules, in one place (:meth:`Parallelism.check` against a spec):

- **Query heads** split evenly over TP: ``num_heads % tp == 0`` (not needed under ``dp_attention``, where no
  head is split); with ``attention.layer_heads``, each layer's.
- **KV heads** (the head-indexed groups of the cache, as an attention family reports them) split over TP when
  ``tp`` divides them, and are **replicated** when the heads divide ``tp``: each rank keeps ``max(1, g / tp)``
  of the ``g`` groups, so ``tp / g`` ranks share a copy (vLLM and Megatron). Any other pair is refused. A cache
  that belongs to no head (an MLA latent) is held whole by every rank.
- **Stages**: ``pp <= num_layers``; stages are consecutive runs of ``ceil(L / pp)`` layers, and every stage must
  get some: a ``pp`` whose runs run out of layers first is refused (32 layers at ``pp = 31`` are 16 runs of 2,
  leaving 15 stages empty, and 1F1B's ``pp - i`` micro-batches in flight would count stages that do not exist),
  naming the nearest ``pp`` that fills every stage (:func:`filled_stages`).
- **Experts**: ``ep > 1`` needs an MoE model whose routed experts divide evenly over the ``ep`` ranks, and the
  EP ranks are drawn from the ``tp x dp`` ranks of a stage (MoE parallel folding, Megatron-Core), so ``ep``
  divides ``tp x dp``. Each EP rank holds ``E / ep`` whole experts.
- ``sp`` and ``dp_attention`` split over the TP ranks, so they need ``tp > 1``.
- **TP style** (``tp_style``, training only): how a framework's tensor parallelism keeps activations for backward.
  ``megatron`` (default): Megatron-Core's sequence parallelism, whose column-parallel linears save the ``[s/t, b, h]``
  shard and all-gather it again in backward. ``torchtitan``: DTensor's plan (``SequenceParallel`` norms,
  ``PrepareModuleInput`` redistributing ``Shard(1) -> Replicate()`` before attention and the FFN, ``ColwiseParallel``
  with ``input_layouts=Shard(1)`` on the output head), where autograd saves the all-gathered ``[b, s, h]`` input; it is
  sequence-parallel throughout, so under TP it needs ``sp``, and its loss is DTensor's ``loss_parallel`` unless
  ``loss_parallel`` is off (torchtitan's ``parallelism.disable_loss_parallel``: the logits are all-gathered and the
  loss runs on the whole vocabulary). The memory it implies: :mod:`mlacalc.activations` and :mod:`mlacalc.training`.
- **Shared experts** split over TP like a dense FFN, except under ``dp_attention`` with ``ep > 1``: there each rank
  sends its own tokens to the experts by all-to-all (DeepEP) and runs the shared experts on them itself, so every
  rank holds them whole (:attr:`Parallelism.shared_expert_tp`).

Calculators that model only some degrees (the inference roofline models one TP/EP group) say so through
:meth:`Parallelism.require`, which refuses the rest instead of ignoring them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ArgError, show

if TYPE_CHECKING:
    from .spec import ModelSpec

MAX_RANKS = 1 << 20          # a sanity bound on any degree (no deployment comes near it)
DEGREES = ("tp", "pp", "dp", "ep", "cp")
SWITCHES = ("sp", "dp_attention")
TP_STYLES = ("megatron", "torchtitan")
# training-only fields and their defaults (a calculator that does not model them refuses other values: require);
# not the activation "convention" (native|megatron) of mlacalc.activations.CONVENTIONS
TRAINING_FIELDS = {"tp_style": "megatron", "loss_parallel": True}


@dataclass(frozen=True)
class Parallelism:
    """Degrees of parallelism of one deployment or training run (see the module docstring for the rules)."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    cp: int = 1
    sp: bool = False
    dp_attention: bool = False
    tp_style: str = "megatron"
    loss_parallel: bool = True

    def __post_init__(self):
        for name in DEGREES:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_RANKS:
                raise ArgError(name, f"must be a whole number from 1 to {MAX_RANKS:,}, got {show(v)}")
        for name in SWITCHES:
            if not isinstance(getattr(self, name), bool):
                raise ArgError(name, f"must be true or false, got {show(getattr(self, name))}")
        if self.sp and self.tp == 1:
            raise ArgError("sp", "sequence parallelism splits tokens over the TP ranks: it needs tp > 1")
        if self.dp_attention and self.tp == 1:
            raise ArgError("dp_attention", "data-parallel attention splits sequences over the TP ranks: "
                                           "it needs tp > 1")
        if not isinstance(self.tp_style, str) or self.tp_style not in TP_STYLES:
            raise ArgError("tp_style", f"must be one of {', '.join(TP_STYLES)}, got {show(self.tp_style)}")
        if not isinstance(self.loss_parallel, bool):
            raise ArgError("loss_parallel", f"must be true or false, got {show(self.loss_parallel)}")
        if not self.loss_parallel and self.tp_style != "torchtitan":
            # Megatron-Core's cross-entropy is always vocab-parallel; turning loss_parallel off is torchtitan's
            # parallelism.disable_loss_parallel
            raise ArgError("loss_parallel", "turning loss parallelism off is torchtitan's "
                                            "parallelism.disable_loss_parallel: it needs --tp-style torchtitan")
        if self.tp_style == "torchtitan" and self.tp > 1 and not self.sp:
            # torchtitan's apply_tp puts SequenceParallel on every norm: its TP has no layout without SP
            raise ArgError("tp_style", "torchtitan's tensor parallelism is sequence-parallel throughout "
                                       "(SequenceParallel norms): add --sp")
        if self.ep > 1 and (self.tp * self.dp) % self.ep:
            raise ArgError("ep", f"expert-parallel ranks ({self.ep}) must divide tp x dp ({self.tp} x {self.dp}): "
                                 "experts spread over a stage's ranks")

    # --- sizes ---------------------------------------------------------------------------------------------

    @property
    def gpus(self) -> int:
        """GPUs in the whole run: ``tp x pp x dp x cp`` (EP ranks are drawn from TP x DP)."""
        return self.tp * self.pp * self.dp * self.cp

    @property
    def expert_dp(self) -> int:
        """Replicas of each routed expert within one context rank's slice: ``tp x dp / ep`` with EP, else ``dp``
        (each expert TP-split like a dense FFN). ZeRO shards its states over ``expert_dp x cp`` (mlacalc.training)."""
        return self.tp * self.dp // self.ep if self.ep > 1 else self.dp

    @property
    def attention_tp(self) -> int:
        """Ranks the attention heads split over: ``tp``, or 1 under data-parallel attention."""
        return 1 if self.dp_attention else self.tp

    @property
    def moe_a2a(self) -> bool:
        """Each rank's MoE layers reach the experts by an all-to-all of its own tokens (DeepEP dispatch and combine):
        data-parallel attention with expert parallelism. Otherwise every rank of the group holds all the group's
        tokens at the MoE (after an all-reduce under TP, an all-gather under dp-attention without EP). Its bytes:
        :func:`mlacalc.step.moe_a2a_bytes` (the dispatch at fp8 plus scales for fp8 block-quantized experts, the
        combine at bf16)."""
        return self.dp_attention and self.ep > 1

    @property
    def shared_expert_tp(self) -> int:
        """Ranks each shared expert is split over: ``tp``, or 1 (whole on every rank) under :attr:`moe_a2a`, where a
        rank runs the shared experts on its own tokens only. SGLang's ``DeepseekV2MoE`` builds them with
        ``tp_rank=0, tp_size=1`` "if get_moe_a2a_backend().is_deepep()" (so do its GLM-4-MoE, Bailing-MoE and
        LLaDA2 models); vLLM's data-parallel ranks (``--data-parallel-size N --enable-expert-parallel``) run tp 1."""
        return 1 if self.moe_a2a else self.tp

    def as_dict(self) -> dict:
        """The degrees and switches (the training-only fields are reported by ``mlacalc train``, which models them)."""
        return {name: getattr(self, name) for name in DEGREES + SWITCHES}

    # --- rules against a spec --------------------------------------------------------------------------------

    def check(self, spec: "ModelSpec") -> "Parallelism":
        """Refuse a layout the spec cannot take (see the module docstring); returns self for chaining."""
        from .attention import blocks, family

        if self.pp > spec.num_layers:
            raise ArgError("pp", f"{self.pp} stages exceed the {spec.num_layers} layers of {spec.name}")
        L, held = spec.num_layers, filled_stages(spec.num_layers, self.pp)
        if held < self.pp:
            fits = [p for p in range(1, L + 1) if filled_stages(L, p) == p]
            near = [str(max(p for p in fits if p < self.pp))] + [str(p) for p in fits if p > self.pp][:1]
            raise ArgError("pp", f"{self.pp} stages leave {self.pp - held} without layers: {spec.name}'s {L} layers in "
                                 f"runs of ceil({L} / {self.pp}) = {math.ceil(L / self.pp)} fill {held}; give a pp "
                                 f"whose runs fill every stage, such as {' or '.join(near)} (the divisors of {L}: "
                                 f"{', '.join(str(p) for p in fits if L % p == 0)})")
        if self.ep > 1:
            if spec.ffn is None or spec.ffn.kind != "moe":
                raise ArgError("ep", f"expert parallelism needs an MoE model; {spec.name} has "
                                     f"{'no FFN' if spec.ffn is None else 'a dense FFN'}")
            if spec.ffn.num_experts % self.ep:
                raise ArgError("ep", f"{spec.ffn.num_experts} routed experts do not split evenly over "
                                     f"{self.ep} ranks")
        if self.dp_attention and spec.residual_extras is not None:
            # which ranks hold AltUp, LAuReL and the per-layer tables when each rank runs whole sequences' attention
            # is not established (vLLM's Gemma-3n is served with TP)
            raise ArgError("dp_attention", f"data-parallel attention with {spec.name}'s residual extras (AltUp, "
                                           "LAuReL, per-layer inputs) is not modelled")
        if self.pp > 1 and spec.attention is not None and spec.attention.kv_shared_tail:   # (no attention: no sharing)
            for stage in self.stage_ranges(spec.num_layers):
                for layer in stage:
                    if spec.kv_source(layer) not in stage:
                        raise ArgError("pp", f"layer {layer} of {spec.name} reads the K/V cache of layer "
                                             f"{spec.kv_source(layer)}, which stage {stage.start}-{stage.stop - 1} "
                                             "does not hold")
        if not self.dp_attention:
            self._check_layer_heads(spec)
            for b in blocks(spec):
                fam = family(b)
                fam.check_split(b, self.tp)
                for cache in fam.cache_modes:
                    self.kv_share(fam.kv_groups(b, cache))
        return self

    def _check_layer_heads(self, spec: "ModelSpec") -> None:
        """The rules above for each layer of ``attention.layer_heads`` (OpenELM: 3 to 5 K/V heads, so no TP degree
        but 1 shares every layer's), naming the first layer that breaks them and its own heads (the block's check
        below would name ``attention.num_heads``, the most of any layer, not the layer's)."""
        tp = self.attention_tp
        for i, pair in enumerate(spec.layer_heads or ()):
            if pair is None or tp == 1:
                continue
            q, kv = pair
            if q % tp:
                raise ArgError("tp", f"{tp} ranks cannot split layer {i}'s {q} query heads (attention.layer_heads) "
                                     "evenly")
            if kv % tp and tp % kv:
                raise ArgError("tp", f"{tp} ranks cannot share layer {i}'s {kv} KV heads evenly (need one to divide "
                                     "the other; attention.layer_heads)")

    def require(self, what: str, supported: tuple[str, ...]) -> "Parallelism":
        """Refuse degrees (and training-only fields) that ``what`` does not model instead of silently ignoring them."""
        for name in DEGREES + SWITCHES + tuple(TRAINING_FIELDS):
            default = TRAINING_FIELDS.get(name, False if name in SWITCHES else 1)
            if name not in supported and getattr(self, name) != default:
                raise ArgError(name, f"{what} does not model it (it models {', '.join(supported)})")
        return self

    # --- splits ----------------------------------------------------------------------------------------------

    def heads_per_rank(self, num_heads: int) -> int:
        """Query heads one GPU computes."""
        return num_heads // self.attention_tp

    def kv_groups_per_rank(self, groups: int | None) -> int:
        """KV groups (heads) one GPU keeps: ``max(1, g / tp)``; 1 for a cache that belongs to no head."""
        if groups is None:
            return 1
        return max(1, groups // self.attention_tp)

    def kv_share(self, groups: int | None) -> float:
        """Fraction of one layer's per-token KV a rank holds for a sequence it serves (1.0 = all of it).

        ``groups``: the head-indexed groups the cache splits into (KV heads), or None for a cache that belongs
        to no head (MLA's latent and RoPE key), which every rank holds whole."""
        tp = self.attention_tp
        if groups is None or tp == 1:
            return 1.0
        if groups % tp and tp % groups:
            raise ArgError("tp", f"{tp} ranks cannot share {groups} KV heads evenly (need one to divide the other)")
        return max(1, groups // tp) / groups

    def sequences_per_rank(self, batch: int) -> int:
        """Sequences one GPU's attention serves: all of them under TP, ``ceil(B / tp)`` under dp-attention."""
        return math.ceil(batch / self.tp) if self.dp_attention else batch

    def stage_ranges(self, num_layers: int) -> list[range]:
        """The decoder layers of each pipeline stage: consecutive runs of ``ceil(L / pp)`` layers."""
        size = math.ceil(num_layers / self.pp)
        return [range(start, min(start + size, num_layers)) for start in range(0, num_layers, size)]


def filled_stages(num_layers: int, pp: int) -> int:
    """Stages that hold layers when ``num_layers`` are laid out in consecutive runs of ``ceil(L / pp)``
    (:meth:`Parallelism.stage_ranges`): ``ceil(L / ceil(L / pp))``, which is ``pp`` unless the runs use the layers
    up first (32 layers, ``pp = 31``: runs of 2 fill 16 stages)."""
    return math.ceil(num_layers / math.ceil(num_layers / pp))
