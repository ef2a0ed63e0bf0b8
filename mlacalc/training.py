"""Training memory per GPU: model states (weights, gradients, optimizer), activations, and a stated workspace.

Model states follow ZeRO (Rajbhandari et al. 2020, arXiv 1910.02054, section 3.1 and Figure 1). Bytes per
parameter:

- ``mixed``: bf16 weights (2) and gradients (2); fp32 master weights, Adam m and v (4 + 4 + 4 = K = 12):
  16 bytes. (Megatron accumulates fp32 main gradients, 18 bytes; not modelled.)
- ``bf16``: bf16 weights (2), gradients (2), Adam m and v in bf16 (2 + 2), no master copy: 8 bytes.

ZeRO over the ``D`` ranks that hold the same weights: stage 1 shards the optimizer states, stage 2 also the
gradients, stage 3 also the weights (``/D`` each). Dense parameters are replicated over ``dp x cp`` ranks: context-
parallel ranks hold the same weights and reduce their gradients together, so ZeRO shards over them too (Megatron-Core's
distributed optimizer over its DP x CP group, DeepSpeed-Ulysses over its sequence-data-parallel group, torchtitan's
FSDP over ``dp_shard_cp``). Routed experts (``ep > 1``) are whole experts spread over EP ranks drawn from the TP x DP
ranks of a stage (MoE parallel folding), so each expert has ``tp * dp / ep`` replicas in a context rank's slice, ``cp``
times that in all, and shards over that many; with ``ep = 1`` they are TP-split like the dense FFN and replicated
over ``dp x cp``. TP, EP and PP splits of the parameters come from :mod:`mlacalc.params`; the MTP modules' routed
experts are sharded as experts (audit 10: they counted as dense).

Activations come from :mod:`mlacalc.activations`. Pipeline: the 1F1B schedule with at least ``pp`` micro-batches
per step; stage ``i`` holds ``pp - i`` micro-batches in flight (Narayanan et al. 2021; Korthikanti et
al. 2022 section 4.2.3: the first stage holds ``L`` layers' worth whatever ``pp``). Every stage holds layers: a ``pp``
whose ``ceil(L / pp)``-layer runs leave stages empty is refused (:meth:`mlacalc.parallel.Parallelism.check`).
The embedding is on the first stage, the head, loss and MTP on the last. The reported GPU is the stage with the
largest total.

Workspace (stated, not measured here): a fixed ``reserve`` for the CUDA context, cuBLAS/NCCL buffers and
allocator slack (default 2 GiB, ``--reserve-gib``); under ZeRO-3 the largest unit's gathered bf16 weights (no
prefetch; a layer, the embedding or the head: :func:`zero3_units`), and under ZeRO-3 with ``pp > 1`` the whole
stage's gathered weights and its unsharded gradients instead (:func:`zero3_pipeline_bytes`); on the last stage the
two fp32 ``b s V / t`` tensors the loss's backward writes while the saved log-probabilities are alive, three under
DTensor's ``loss_parallel`` (torchtitan's TP: :class:`Workspace`).

TP style (``Parallelism.tp_style``): ``megatron`` prices Megatron-Core's sequence parallelism; ``torchtitan`` prices
DTensor's, whose column-parallel linears save their all-gathered ``[b, s, h]`` input
(:meth:`mlacalc.activations.ActivationConfig.linear_input`). Those gathered inputs alive at the stage's peak (stored,
the head's, and those the backward peak re-materialises) are their own part, ``StageActivations.gathered_inputs``,
taken out of ``layers``, ``head`` and ``backward_peak``.

Backward: the widest instant of one layer's backward (:func:`mlacalc.activations.backward_peak`: activation
gradients in flight, recomputed tensors, less the stored tensors that backward has already freed) is added once
per stage, as ``StageActivations.backward_peak``, taking the worst layer kind of the stage. Gradients themselves
are model states (a persistent gradient buffer, as Megatron and DeepSpeed keep).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from .activations import (GATHERED, ActivationConfig, LatentVsExpanded, LayerActivations, SavedTensor, backward_peak,
                          check_cross_layers, embedding_tensors, head_tensors, is_moe_layer, latent_vs_expanded,
                          layer_activations, mtp_bytes, rope_tensors, saved_tensors, sum_by_group)
from .attention import blocks, family, layer_block
from .errors import ArgError, show
from .hardware import Hardware
from .parallel import Parallelism
from .spec import (ModelSpec, refuse_expert_latent, refuse_kv_sharing, refuse_layer_heads, refuse_layer_widths,
                   refuse_parallel_mixers, refuse_residual_extras)
from .units import finite
from .params import Params, embedding_norm_params, layer_params_per_gpu, mtp_params_per_gpu, stage_params

GIB = 2**30
DEFAULT_RESERVE_BYTES = 2 * GIB
WEIGHT_GATHER_BYTES = 2      # ZeRO-3 gathers bf16 weights
# ZeRO-3 under PP: bytes of each unsharded gradient accumulated over the micro-batches, in FSDP2's reduce dtype
# (torchtitan's mixed_precision_reduce = "float32"; pure bf16 reduces in bf16)
UNSHARDED_GRAD_BYTES = {"mixed": 4, "bf16": 2}
LOGIT_GRAD_BYTES = 4         # fp32 gradient of the logits
LOSS_GRAD_BYTES = 4          # fp32 dense gradient nll_loss's backward writes (the log-probabilities' gradient)
LOSS_SUM_BYTES = 4           # fp32 ``grad_input + exp(x)`` of loss_parallel's fused backward (DTensor)

# (weights, gradients, optimizer) bytes per parameter; see the module docstring.
PRECISIONS = {"mixed": (2, 2, 12), "bf16": (2, 2, 4)}
ZERO_STAGES = (0, 1, 2, 3)

MAX_MICRO_BATCH = 2**20      # search limits for the largest micro-batch and sequence that fit
MAX_SEQ = 2**24


@dataclass(frozen=True)
class TrainRun:
    """Everything a training memory estimate needs besides the model."""

    micro_batch: int
    seq: int
    recompute: str = "none"
    kernel: str = "fused"
    convention: str = "native"
    precision: str = "mixed"
    zero: int = 0
    parallel: Parallelism = Parallelism()
    reserve_bytes: float = DEFAULT_RESERVE_BYTES

    def __post_init__(self):
        # a list or dict precision raised TypeError (unhashable) and zero=True passed as stage 1
        if not isinstance(self.precision, str) or self.precision not in PRECISIONS:
            raise ArgError("precision", f"must be one of {', '.join(PRECISIONS)}, got {show(self.precision)}")
        if isinstance(self.zero, bool) or not isinstance(self.zero, int) or self.zero not in ZERO_STAGES:
            # zero=1.0 passed as stage 1 and printed "ZeRO-1.0"; q_tokens and the parallel degrees refuse floats too
            raise ArgError("zero", f"must be 0, 1, 2 or 3, got {show(self.zero)}")
        finite(self.reserve_bytes, "reserve_bytes", minimum=0, maximum=2.0**60)
        if self.parallel.dp_attention:
            raise ArgError("dp_attention", "is an inference layout; training memory does not model it")
        p = self.parallel
        if p.ep > 1 and p.tp > 1 and not p.sp:
            # Megatron-Core refuses this layout (TransformerConfig: "When using expert parallelism and tensor
            # parallelism, sequence parallelism must be used"): without SP every TP rank holds all the tokens and
            # would dispatch each of them, so the token copies were priced tp times over (DeepSeek-V3, tp 8, ep 8,
            # 4k: 896 MiB of dispatch and combine a MoE layer where SP gives 112 MiB)
            raise ArgError("sp", f"expert parallelism (ep {p.ep}) under tensor parallelism (tp {p.tp}) needs "
                                 "sequence parallelism (--sp), as Megatron-Core requires")
        self.activation_config()  # validates sizes and modes

    def activation_config(self) -> ActivationConfig:
        return ActivationConfig(micro_batch=self.micro_batch, seq=self.seq, recompute=self.recompute,
                                kernel=self.kernel, convention=self.convention, parallel=self.parallel)


@dataclass(frozen=True)
class ModelStates:
    """Bytes of weights, gradients and optimizer states on one GPU (ZeRO, arXiv 1910.02054: :func:`model_states`)."""

    weights: float
    gradients: float
    optimizer: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer

    def as_dict(self) -> dict:
        return {"weights": self.weights, "gradients": self.gradients, "optimizer": self.optimizer,
                "total": self.total}


def model_states(params: Params, precision: str, zero: int, parallel: Parallelism) -> ModelStates:
    """ZeRO's per-GPU model states (arXiv 1910.02054, Figure 1): ``(2 + 2 + K) psi`` with the optimizer
    sharded from stage 1, gradients from stage 2, weights from stage 3, each over the ranks that hold the same
    weights: ``dp x cp`` (dense) and ``expert_dp x cp`` (routed experts). Sharding over ``dp`` alone kept the whole
    optimizer on each of ``--cp 2``'s ranks (audit 7)."""
    w, g, o = PRECISIONS[precision]
    experts = params.routed_experts
    dense = params.total - experts

    def shard(bytes_per_param: float, stage: int) -> float:
        if zero < stage:
            return bytes_per_param * (dense + experts)
        return bytes_per_param * (dense / (parallel.dp * parallel.cp) + experts / (parallel.expert_dp * parallel.cp))

    return ModelStates(weights=shard(w, 3), gradients=shard(g, 2), optimizer=shard(o, 1))


@dataclass(frozen=True)
class StageActivations:
    """Activation bytes on one GPU of a pipeline stage."""

    layers: float           # stored by the stage's layers, times the micro-batches in flight
    embedding: float        # token ids and RoPE tables, times the micro-batches in flight
    head: float             # final norm, head input, log-probabilities (last stage)
    mtp: float              # multi-token-prediction modules (last stage)
    backward_peak: float    # one layer's backward at its widest: gradients + recomputed - already freed
    gathered_inputs: float = 0.0  # torchtitan TP: all-gathered [b, s, h] linear inputs alive at the peak (stored,
    #                               the head's, and those the backward peak re-materialises), out of the three above

    @property
    def total(self) -> float:
        return sum(getattr(self, f.name) for f in fields(self))

    @property
    def recompute_peak(self) -> float:
        """The former name of :attr:`backward_peak` (which now also counts activation gradients)."""
        return self.backward_peak

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"total": self.total}


@dataclass(frozen=True)
class Workspace:
    """Stated workspace on one GPU, bytes (see the module docstring): the ``reserve``, ZeRO-3's largest gathered unit
    at bf16 (:func:`zero3_units`; under PP the whole stage's, with its unsharded gradients, ``zero3_grads``:
    :func:`zero3_pipeline_bytes`), and on the last stage the loss's backward: PyTorch's ``cross_entropy`` is
    ``nll_loss(log_softmax(x))``; ``nll_loss``'s backward writes a dense fp32 gradient of the log-probabilities,
    ``4 b s V / t`` (``loss_grad``: ``TORCH_META_FUNC(nll_loss_backward)`` allocates ``self``'s sizes, the kernel
    zeroes it and writes ``-grad / total_weight`` at each target, aten/src/ATen/native/LossNLL.cpp), and
    ``log_softmax``'s backward (``_log_softmax_backward_data(grad, result, ...)``, tools/autograd/derivatives.yaml)
    writes the logits' gradient, another ``4 b s V / t`` (``logit_grad``), while both the saved log-probabilities
    (:func:`mlacalc.activations.head_tensors`) and ``loss_grad`` are alive: three fp32 ``b s V / t`` tensors at
    that instant, not two (held-out round 2026-12: torchtitan's Llama-3.1-8B at 32k tokens). That is the eager
    ``cross_entropy(logits.float())`` of HF and torchtitan without TP (and of torchtitan's TP without
    ``loss_parallel``, on the whole vocabulary: :attr:`mlacalc.activations.ActivationConfig.vocab_split`); a fused loss
    holds fewer (Megatron's vocab-parallel cross-entropy reuses its saved softmax as the gradient), a compiled one
    need not materialise them.

    DTensor's ``loss_parallel`` (torchtitan's TP by default) holds four: its ``nll_loss`` backward handler fuses the
    ``log_softmax`` backward (``_nll_loss_and_log_softmax_backward``, torch/distributed/tensor/parallel/loss.py):
    ``grad_input = torch.zeros_like(x)`` with ``-1`` written at each target (``loss_grad``), then
    ``(grad_input + torch.exp(x)) * grad_output``: ``exp(x)`` and the sum are new tensors (``loss_parallel_sum``; the
    ``exp`` is freed once the sum is written) and the product is the logits' gradient (``logit_grad``), written while
    the saved log-probabilities ``x``, ``grad_input`` and the sum are alive; ``_log_softmax_backward_handler`` only
    returns it (``grad_output.to(input_dtype)``, no copy in fp32). Four fp32 ``b s V / t`` tensors at both the add and
    the multiply."""

    reserve: float
    zero3_gather: float
    logit_grad: float
    loss_grad: float = 0.0
    zero3_grads: float = 0.0    # ZeRO-3 under PP: the stage's unsharded gradients (:func:`zero3_pipeline_bytes`)
    loss_parallel_sum: float = 0.0   # loss_parallel: ``grad_input + exp(x)``, a fourth fp32 b s V / t tensor

    @property
    def total(self) -> float:
        return (self.reserve + self.zero3_gather + self.logit_grad + self.loss_grad + self.zero3_grads
                + self.loss_parallel_sum)

    def as_dict(self) -> dict:
        return {"reserve": self.reserve, "zero3_gather": self.zero3_gather, "logit_grad": self.logit_grad,
                "loss_grad": self.loss_grad, "zero3_grads": self.zero3_grads,
                "loss_parallel_sum": self.loss_parallel_sum, "total": self.total}


@dataclass(frozen=True)
class StageMemory:
    """One GPU of pipeline stage ``stage``, bytes: states + activations + workspace (``total`` is their sum)."""

    stage: int
    first_layer: int
    num_layers: int
    in_flight: int
    states: ModelStates
    activations: StageActivations
    workspace: Workspace

    @property
    def total(self) -> float:
        return self.states.total + self.activations.total + self.workspace.total

    def to_json(self) -> dict:
        return {"stage": self.stage, "first_layer": self.first_layer, "num_layers": self.num_layers,
                "micro_batches_in_flight": self.in_flight, "states": self.states.as_dict(),
                "activations": self.activations.as_dict(), "workspace": self.workspace.as_dict(),
                "total": self.total}


def _kind(spec: ModelSpec, layer: int) -> str:
    """The layer's kind: its FFN ("dense", "moe"), with "linear " before it on a hybrid's linear-attention layers
    (whose block keeps other tensors: Qwen3-Next's Gated DeltaNet layers beside its gated-GQA ones), and where the
    sliding layers have an attention shape of their own (``sliding_shape``: Gemma-4) the layer's type after it
    ("dense sliding", "dense full"): layers of one kind keep the same tensors. One block a layer (Nemotron-H): the
    block's name, "mamba" (a Mamba-2 mixer; "linear" another linear block), "attention", "mlp" or "moe" (transformers
    ``NemotronHBlock.block_type``), so that a stage's layers sum by block."""
    t, moe = spec.layer_type(layer), is_moe_layer(spec, layer)

    def shaped(kind: str) -> str:       # the attention layer's shape after its kind, where there are two
        if spec.attention is None or spec.attention_shapes == 1:
            return kind
        return f"{kind} {'sliding' if layer_block(spec, layer) is spec.sliding_attention else 'full'}"

    if spec.one_block_per_layer:
        if t == "ffn":
            return "moe" if moe else "mlp"
        if t == "linear":
            return "mamba" if spec.linear_attention.kind == "mamba2" else "linear"
        return shaped("attention")
    ffn = "moe" if moe else "dense"
    return f"linear {ffn}" if t == "linear" else shaped(ffn)


def layer_kinds(spec: ModelSpec) -> dict[str, int]:
    """One representative layer index per kind of layer (:func:`_kind`: "dense", "moe", "linear dense", "linear moe",
    "dense sliding", ...; one block a layer: "mamba", "attention", "mlp", "moe"): layers of a kind keep the same
    tensors."""
    out: dict[str, int] = {}
    for j in range(spec.num_layers):
        out.setdefault(_kind(spec, j), j)
    return out


def _total(ts: list[SavedTensor]) -> float:
    return float(sum(t.bytes for t in ts))


def _gathered(ts) -> float:
    """Bytes of the all-gathered linear inputs among ``ts`` (torchtitan's TP; none under Megatron's)."""
    return float(sum(t.bytes for t in ts if t.group == GATHERED))


def zero3_units(spec: ModelSpec, par: Parallelism, layers: range, prm: Params, first: bool, last: bool) -> list[float]:
    """Parameters of each unit ZeRO-3 gathers whole on one GPU of a stage (one at a time, no prefetch): each decoder
    layer, on the first stage the embedding, on the last the final norm with the output head and each MTP module.
    torchtitan's ``apply_fsdp`` wraps ``tok_embeddings``, every block and ``[norm, output]`` as units (DeepSpeed's
    ZeRO-3 gathers module by module alike). Only the layers were counted (audit 10): Llama-3.1-8B's head, 128,256 x
    4,096, is 2.4 times its largest layer, and it stays gathered from the forward to its backward
    (``reshard_after_forward=False``) while the loss's logit gradient is alive."""
    units = [layer_params_per_gpu(spec, j, par).total for j in layers]
    if first:
        # the embedding (a learned position table with it: prm.embed), and BLOOM's norm on the embeddings with them
        units.append(prm.embed + embedding_norm_params(spec))
    if last:
        # the head with the final norm, norm_vectors vectors of d (Nemotron's LayerNorm1P: weight and bias; OLMo-1's:
        # none); tied at pp 1, the embedding's unit
        units.append(prm.head + spec.norm_vectors * spec.hidden_size)
        if spec.mtp_layers:
            units.append(mtp_params_per_gpu(spec, par).total / spec.mtp_layers)
    return units


def zero3_pipeline_bytes(stage_params: float, precision: str) -> tuple[float, float]:
    """ZeRO-3 under pipeline parallelism, bytes on one GPU of a stage holding ``stage_params`` parameters (its TP/EP
    share): (gathered bf16 weights, unsharded gradients), both alive from the stage's first micro-batch to its last.

    DeepSpeed refuses ZeRO-2/3 with pipelining (``deepspeed/runtime/pipe/engine.py``: "ZeRO-2 and ZeRO-3 are
    incompatible with pipeline parallelism"); the runtime that combines them is FSDP2 under
    ``torch.distributed.pipelining`` (torchtitan). There, ``apply_fsdp`` sets ``reshard_after_forward=False`` for
    every block when PP is on ("to avoid per-microbatch all-gathers", ``torchtitan/parallelisms/parallelize_llama.py``),
    so the stage's weights stay gathered, ``2 P`` bytes; and ``PipelineStage.backward_maybe_with_nosync``
    (``torch/distributed/pipelining/stage.py``) runs every micro-batch's backward with
    ``set_requires_gradient_sync(False)`` and ``set_reshard_after_backward(False)``, reducing once after the last,
    so each parameter's unsharded gradient accumulates in the reduce dtype (``FSDPParam.to_accumulated_grad_if_needed``
    upcasts it to ``reduce_dtype``): ``4 P`` bytes in mixed precision (fp32), ``2 P`` in bf16. One unit at a time
    was priced before (held-out round 2026-12: Llama-3.1-405B at FSDP 8, TP 8, PP 8, 34.6 GiB against torchtitan's
    82.5 GiB)."""
    return WEIGHT_GATHER_BYTES * stage_params, UNSHARDED_GRAD_BYTES[precision] * stage_params


def stage_memory(spec: ModelSpec, run: TrainRun) -> list[StageMemory]:
    """Memory of one GPU in each pipeline stage."""
    p = par = run.parallel
    refuse_parallel_mixers(spec, "training memory")     # said before the linear block's own refusal below
    for b in blocks(spec):                 # refuse a block whose training memory is not modelled, whatever layer
        family(b).check_training(spec)
    check_cross_layers(spec)               # the representative layers below may all be self-attention ones
    refuse_kv_sharing(spec, "training memory")    # every layer below projects its own K/V
    refuse_residual_extras(spec, "training memory")     # ... and has a plain residual stream
    refuse_layer_widths(spec, "training memory")        # ... and both blocks at one FFN width
    refuse_layer_heads(spec, "training memory")         # ... and attention of one shape
    if not spec.one_block_per_layer:                     # ... and experts at the model width (LatentMoE: Nemotron-H's
        refuse_expert_latent(spec, "training memory")   # one-block MoE alone)
    cfg = run.activation_config()
    ranges = par.stage_ranges(spec.num_layers)
    params = stage_params(spec, par)
    # the MTP modules' routed experts are experts like any other: ZeRO shards them over their own replicas
    mtp_experts = mtp_params_per_gpu(spec, par).routed_experts
    params[-1] = replace(params[-1], mtp=params[-1].mtp - mtp_experts,
                         routed_experts=params[-1].routed_experts + mtp_experts)
    n = len(ranges)
    megatron = cfg.convention == "megatron"
    # Layers of one kind keep the same tensors: compute each kind once. The Megatron convention counts stored
    # activations only (Table 2), so no backward peak there (backward_peak returns 0).
    kinds = layer_kinds(spec)
    saved = {k: saved_tensors(spec, j, cfg) for k, j in kinds.items()}
    stored = {k: _total(ts) for k, ts in saved.items()}
    stored_gathered = {k: _gathered(ts) for k, ts in saved.items()}
    peaks = {k: backward_peak(spec, j, cfg) for k, j in kinds.items()}
    peak = {k: p.total for k, p in peaks.items()}
    # the gathered inputs alive at the peak: re-materialised ones still alive, less stored ones already freed
    peak_gathered = {k: _gathered(p.tensors) - _gathered(p.released_tensors) for k, p in peaks.items()}
    head_ts = head_tensors(spec, cfg)
    out = []
    for i, (layers, prm) in enumerate(zip(ranges, params)):
        in_flight = par.pp - i            # 1F1B over pp stages (each holds layers: Parallelism.check)
        first, last = i == 0, i == n - 1
        here = [_kind(spec, j) for j in layers]
        worst = max(dict.fromkeys(here), key=lambda k: peak[k])      # the stage's widest backward, first kind on ties
        gathered = (in_flight * (sum(stored_gathered[k] for k in here) + (_gathered(head_ts) if last else 0.0))
                    + peak_gathered[worst])
        acts = StageActivations(
            layers=in_flight * sum(stored[k] - stored_gathered[k] for k in here),
            embedding=in_flight * (_total(rope_tensors(spec, cfg)) + (_total(embedding_tensors(spec, cfg))
                                                                      if first else 0)),
            head=in_flight * (_total(head_ts) - _gathered(head_ts)) if last else 0.0,
            mtp=in_flight * mtp_bytes(spec, cfg) if last else 0.0,
            backward_peak=peak[worst] - peak_gathered[worst], gathered_inputs=gathered)
        gather = grad_accum = 0.0
        if run.zero == 3 and par.pp > 1:
            gather, grad_accum = zero3_pipeline_bytes(prm.total, run.precision)
        elif run.zero == 3:
            gather = WEIGHT_GATHER_BYTES * max(zero3_units(spec, par, layers, prm, first, last))
        logit_grad = loss_grad = loss_sum = 0.0
        if last and not megatron:
            logits = run.micro_batch * cfg.seq_local * -(-spec.vocab_size // cfg.vocab_split)    # b s V / t elements
            logit_grad, loss_grad = LOGIT_GRAD_BYTES * logits, LOSS_GRAD_BYTES * logits
            loss_sum = LOSS_SUM_BYTES * logits if cfg.loss_parallel else 0.0
        out.append(StageMemory(stage=i, first_layer=layers.start, num_layers=len(layers), in_flight=in_flight,
                               states=model_states(prm, run.precision, run.zero, p), activations=acts,
                               workspace=Workspace(reserve=run.reserve_bytes, zero3_gather=gather,
                                                   logit_grad=logit_grad, loss_grad=loss_grad,
                                                   zero3_grads=grad_accum, loss_parallel_sum=loss_sum)))
    return out


@dataclass(frozen=True)
class TrainMemory:
    """Everything ``mlacalc train`` prints: the fullest GPU, whether it fits, and the limits that fit."""

    model: str
    run: TrainRun
    gpu: Hardware
    stages: tuple[StageMemory, ...]
    max_micro_batch: int          # 0: not even one sequence fits
    max_seq: int                  # 0: not even the shortest sequence fits
    max_seq_capped: bool          # the search stopped at MAX_SEQ
    layers: dict                  # layer kind (:func:`_kind`: "dense", "moe", "linear moe", "dense sliding", ...)
    #                               -> (LayerActivations, [SavedTensor])
    latent: LatentVsExpanded | None = None   # MLA: the reference note's latent-vs-expanded comparison
    caveats: tuple = ()           # the spec's excluded and warnings (ModelSpec.caveats): a vision tower not counted

    @property
    def peak(self) -> StageMemory:
        return max(self.stages, key=lambda s: s.total)

    @property
    def fits(self) -> bool:
        return self.peak.total <= self.gpu.memory_bytes

    @property
    def headroom(self) -> float:
        return self.gpu.memory_bytes - self.peak.total

    def to_json(self) -> dict:
        r, p, pk = self.run, self.run.parallel, self.peak
        return {
            "model": self.model, "gpu": self.gpu.name, "capacity_bytes": self.gpu.memory_bytes,
            "config": {"micro_batch": r.micro_batch, "seq": r.seq, "recompute": r.recompute,
                       "attention_kernel": r.kernel, "convention": r.convention, "precision": r.precision,
                       "zero": r.zero, "tp": p.tp, "pp": p.pp, "dp": p.dp, "ep": p.ep, "cp": p.cp, "sp": p.sp,
                       "tp_style": p.tp_style, "loss_parallel": p.loss_parallel, "reserve_bytes": r.reserve_bytes},
            "per_gpu": {"parameters": pk.states.weights, "gradients": pk.states.gradients,
                        "optimizer": pk.states.optimizer, "activations": pk.activations.total,
                        "workspace": pk.workspace.total, "total": pk.total},
            "stage": pk.stage, "fits": self.fits, "headroom_bytes": self.headroom,
            "max_micro_batch": self.max_micro_batch, "max_seq": self.max_seq,
            "max_seq_capped": self.max_seq_capped,
            "stages": [s.to_json() for s in self.stages],
            "layers": {k: {"stored": la.as_dict(), "tensors": [t.to_json() for t in ts]}
                       for k, (la, ts) in self.layers.items()},
            "mla_latent_vs_expanded": self.latent.to_json() if self.latent else None,
            **{k: list(v) for k, v in self.caveats},
        }


def peak_bytes(spec: ModelSpec, run: TrainRun) -> float:
    """Total bytes on the fullest GPU."""
    return max(s.total for s in stage_memory(spec, run))


def _largest(fits, lo: int, hi: int) -> int:
    """Largest n in [lo, hi] with fits(n), for a monotone fits; lo - 1 when none."""
    if not fits(lo):
        return lo - 1
    step = 1
    while lo + step <= hi and fits(lo + step):
        lo, step = lo + step, step * 2
    hi = min(hi, lo + step - 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def max_micro_batch(spec: ModelSpec, run: TrainRun, capacity: float) -> int:
    """The largest micro-batch that fits at ``run.seq`` (every part is non-decreasing in it); 0 if none."""
    return _largest(lambda b: peak_bytes(spec, replace(run, micro_batch=b)) <= capacity, 1, MAX_MICRO_BATCH)


def max_seq(spec: ModelSpec, run: TrainRun, capacity: float) -> tuple[int, bool]:
    """The longest sequence that fits at ``run.micro_batch``, in steps that CP (and SP) can split; 0 if none.
    Returns (tokens, capped) where capped says the search stopped at :data:`MAX_SEQ`."""
    p = run.parallel
    unit = p.cp * (p.tp if p.sp else 1)
    m = _largest(lambda k: peak_bytes(spec, replace(run, seq=k * unit)) <= capacity, 1, MAX_SEQ // unit)
    return m * unit, m == MAX_SEQ // unit


def train_memory(spec: ModelSpec, run: TrainRun, gpu: Hardware) -> TrainMemory:
    """Per-GPU training memory for ``run`` on ``gpu``, with the largest micro-batch and sequence that fit."""
    stages = tuple(stage_memory(spec, run))
    cfg = run.activation_config()
    layers = {}
    for name, j in layer_kinds(spec).items():
        ts = saved_tensors(spec, j, cfg)
        layers[name] = (sum_by_group(ts), ts)
    seq, capped = max_seq(spec, run, gpu.memory_bytes)
    latent = None
    if family(spec.attention).latent_recompute and run.convention == "native":
        latent = latent_vs_expanded(spec, cfg)
    return TrainMemory(model=spec.name, run=run, gpu=gpu, stages=stages,
                       max_micro_batch=max_micro_batch(spec, run, gpu.memory_bytes), max_seq=seq,
                       max_seq_capped=capped, layers=layers, latent=latent, caveats=spec.caveats)


def activations_per_layer(spec: ModelSpec, run: TrainRun, layer: int) -> LayerActivations:
    """Stored activation bytes of one layer on one GPU (a convenience over :func:`layer_activations`)."""
    return layer_activations(spec, layer, run.activation_config())
