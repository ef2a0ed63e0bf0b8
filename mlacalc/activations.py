"""Training activations: the tensors autograd keeps from the forward pass for the backward pass, in bytes.

Each decoder layer is written out as a list of :class:`SavedTensor` (name, symbolic shape, per-GPU dims, dtype
bytes, who keeps it), derived from what the autograd graph of a standard PyTorch implementation holds (HF
transformers' Llama/Qwen and DeepSeek modeling files, with a fused attention kernel). The profiler compares a
real forward+backward with these lists term by term, so the list is the model; every total is its sum.

What a module keeps (the rule behind every entry below):

- ``nn.Linear`` keeps its input (not its output). Layers reading one tensor share it: q/k/v read one input.
- RMSNorm (fused) keeps its input and the per-token ``rstd`` in fp32; a layer has ``norms_per_layer`` of them (4:
  Gemma-2/3/4's post-attention and post-FFN norms too; 1: a parallel attention/FFN block reading one norm's output;
  8: Gemma-4's MoE layer, ``ffn.branch_norms``). Per-head q/k norms (Qwen3, Gemma) and Gemma-4's weightless value norm
  (``attention.v_norm``) likewise, per head; two norms reading one tensor keep it once (Gemma-4's ``v_from_k``
  layers: ``v_norm`` reads what ``k_norm`` reads:
  :meth:`~mlacalc.attention.conventional.Conventional.projection_tensors`).
- Each layer keeps its own attention block's tensors: the sliding layers' where ``attention.sliding_shape`` gives
  them heads or head dims of their own (Gemma-4, MiMo-V2-Flash).
- RoPE keeps only ``cos``/``sin`` (shared by every layer: counted once per stage, once a width where the sliding
  layers rotate their own); queries and keys after RoPE are kept by the attention kernel.
- Attention, fused (FlashAttention-2 style): ``q, k, v, out`` and the fp32 log-sum-exp per query row; no
  S x S. GQA keys and values stay at KV heads, except in a block wider than FlashAttention's 256 (Gemma-4's 512-wide
  full layers), which PyTorch's memory-efficient SDPA kernel runs on ``repeat_kv``'s copies at every query head
  (:meth:`~mlacalc.attention.conventional.Conventional.kernel_expands_kv`). A gated output ``out * sigmoid(gate)``
  (Qwen3-Next, Trinity) also keeps sigmoid's output and the product (o_proj's input). Eager: ``softmax(QK^T)`` in
  the activation dtype (Megatron's fused scale-mask-softmax), kept by softmax's backward and by ``P V``; GQA keys
  and values expanded to all heads by ``repeat_kv`` (a copy), as the matmuls keep them. No attention dropout (modern
  LLMs train without).
- Gated FFN ``down(silu(gate(x)) * up(x))``: ``x``, the SiLU input, both factors of the product and the
  down input: 4 ``b s f`` + ``b s h``. Ungated: ``x``, the activation input and the down input.
- MoE: the router keeps what its form says (``ffn.router``, :func:`_router`): its input (``x``, shared with the
  experts), or fp32 copies of its input and weight where its linear runs in fp32 (DeepSeek-V3's family); its scores
  over the experts (``b s E``, fp32 or the activation dtype), or only a softmax over the top-k logits (gpt-oss); the
  top-k indices (int64) and the top-k weights the combine multiplies by; the permuted token copies that feed the
  experts (the dispatch buffer, ``b s k x h``); each copy's gated-FFN tensors; the expert outputs kept by the
  multiply with the routing weights (the combine buffer, ``b s k x h``). Shared experts are a dense gated FFN; a
  sigmoid gate on them (Qwen2-MoE) keeps their output and the sigmoid's for its product. Gemma-4's block
  (``ffn.branch_norms``) adds a post-norm on each branch, the experts' pre-norm and the router's own norm and scale
  (:func:`_router_norm`).
- One block a layer (Nemotron-H, Nemotron 3: transformers' ``NemotronHBlock``): one norm and one block, a Mamba-2
  mixer, attention, a ReLU² MLP or a MoE (its router ``fp32-linear``) whose routed experts run at LatentMoE's latent
  width (:func:`_one_block_layer`).
- The head: soft-capped logits (``final_logit_softcap``: Gemma-2, Gemma-4) keep tanh's output, ``b s V``.
- MLA (DeepSeek-V2, arXiv 2405.04434, eqs. 9-14 and 37-40): ``c_Q`` before and after its RMSNorm (the
  latter is the input of ``W_UQ``), ``[c_KV | k_R]`` as ``W_DKV`` writes it (the norm keeps the ``c_KV`` view,
  which keeps the whole buffer alive), the normed latent (input of ``W_UKV``), then the decompressed per-head
  ``q, k, v`` for the attention kernel.
- Residual adds, reshapes, splits and concatenations keep nothing.

Recomputation modes (what is stored; the recomputed tensors of one layer live again during its backward and
are counted once, as ``recompute_peak``):

- ``none``: everything above.
- ``selective``: the attention core's internals are recomputed (Korthikanti et al. 2022, section 5): the
  S x S probabilities (eager) or the log-sum-exp (fused); its inputs q, k, v and its output stay. A hybrid's
  linear-attention layers keep everything (Megatron-Core checkpoints ``Attention``'s core alone).
- ``full``: only each layer's input is kept (Chen et al. 2016 checkpointing, per layer).
- ``op``: torchtitan's op-level selective activation checkpointing (``mode = "selective"``,
  ``selective_ac_option = "op"``): each layer keeps its input and the outputs of ``aten.mm`` (every second one
  excepted) and of the fused SDPA kernel; everything else is recomputed (:func:`op_sac_tensors`).
- ``mla-latent``: MLA only. The latents stay; ``W_UQ``/``W_UKV`` and RoPE are re-run in backward, so the
  decompressed ``q, k, v`` are not stored (the reference note's argument, made exact).

Parallelism (per GPU): tensors split by heads or FFN width divide by TP (``tp``); tensors of whole tokens
(``b s h``, norms, latents, router) are replicated over TP unless sequence parallelism splits them (``sp``);
context parallelism divides the sequence of every per-token tensor (the eager S x S keeps all keys: s/cp x s).
MoE: routing assumed balanced, so each GPU's experts see as many token copies as its own tokens send out
(``b s k``); expert FFN tensors divide by TP (width-split experts, or token-split copies under SP).

TP style (``Parallelism.tp_style``; :meth:`ActivationConfig.linear_input`): under SP, a column-parallel linear reads
the all-gathered ``[b, s, h]``. Megatron-Core (``megatron``, the default) saves the ``[s/t, b, h]`` shard and gathers
it again in backward (``LinearWithGradAccumulationAndAsyncCommunication.forward``: ``ctx.save_for_backward(input,
weight)`` before the all-gather into a global buffer, ``megatron/core/tensor_parallel/layers.py``). torchtitan
(``torchtitan``) runs DTensor's plan: ``PrepareModuleInput(input_layouts=(Shard(1), ...), desired_input_layouts=
(Replicate(), ...))`` on ``attention`` and ``feed_forward``, ``ColwiseParallel()`` on wq/wk/wv and w1/w3
(``torchtitan/models/llama3/infra/parallelize.py``, ``apply_tp``; ``torchtitan/parallelisms/parallelize_llama.py`` in
2024-12). The redistribute runs once, in the module's forward pre-hook (``PrepareModuleInput._prepare_input_arg``,
``torch/distributed/tensor/parallel/style.py``), and the colwise linears' own ``_prepare_input_fn`` finds the input
already ``Replicate()``: one gathered ``[b, s, h]`` tensor a block, which autograd saves for the three projections
(for w1 and w3: two), and the shard is not kept. The output head (``ColwiseParallel(input_layouts=Shard(1))``) saves
its gathered input the same way. The norms (``SequenceParallel``) keep their sharded inputs, as under Megatron.

Backward (:func:`backward_phases`, :func:`backward_peak`): the activation gradients alive while a layer's
backward runs, instant by instant, with what recomputation re-materialises and what is already freed; the widest
instant is what a layer's backward adds to the stored activations.

Left out, on purpose: the allocator's rounding (512 B), the router's tensors of k values a token beyond its
indices and the combine's weights (:func:`_router`): the top-k normalisation's saved numerator (an in-place
``/=`` clones it) and denominator, ``4 k + 4`` B a token where ``norm_topk_prob`` divides (36 B of DeepSeek-V3's
29,792 B a token), the weights cast to bf16 before the combine (Qwen-MoE, OLMoE, Jamba: ``2 k`` B a token fewer), an
fp32 softmax over the top-k (Granite-MoE, Cohere2-MoE: ``2 k`` B more); the experts' int64 gather indices,
capacity factors and routing imbalance, sliding windows (no effect on fused kernels; eager keeps full S x S),
and HF-specific copies (fp32 upcasts inside eager softmax or RMSNorm, FA2's padding of MLA's v to d_qk).

``convention="megatron"`` replaces the layer by the GPT layer of Korthikanti et al. 2022 (arXiv 2205.05198,
section 4): LayerNorm, MHA with eager attention and dropout, a 4h GeLU MLP, dropout after attention and MLP.
Its list sums to the paper's Table 2; :func:`megatron_layer_bytes` is the table itself, for the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from .attention import blocks, divide, family, layer_block
from .costs import ACT_BYTES, FP32_BYTES, BackwardPhase, SavedTensor
from .costs import grad_tensor as _grad
from .errors import ArgError, SpecError, show
from .parallel import Parallelism
from .spec import (ModelSpec, refuse_expert_latent, refuse_kv_sharing, refuse_layer_heads, refuse_layer_widths,
                   refuse_parallel_mixers, refuse_residual_extras)
INT64_BYTES = 8    # token ids, top-k indices
MASK_BYTES = 1     # torch.bool dropout masks (Megatron convention only)

RECOMPUTE_MODES = ("none", "selective", "full", "mla-latent", "op")
GATHERED = "gathered"   # group and split of a column-parallel linear's all-gathered saved input (torchtitan TP)
# torchtitan's op-level SAC saves the outputs of these ops (its _save_list), every second aten.mm excepted
OP_SAC_SAVED = ("mm", "sdpa", "reduce_scatter", "max")
KERNELS = ("fused", "eager")
CONVENTIONS = ("native", "megatron")


@dataclass(frozen=True)
class ActivationConfig:
    """One micro-batch on one GPU: sizes, recomputation, attention kernel, and the parallelism whose TP, SP and
    CP shard the activations."""

    micro_batch: int
    seq: int
    recompute: str = "none"
    kernel: str = "fused"
    convention: str = "native"
    parallel: Parallelism = Parallelism()

    def __post_init__(self):
        for name in ("micro_batch", "seq"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ArgError(name, f"must be a whole number >= 1, got {show(v)}")
        for name, v, ok in (("recompute", self.recompute, RECOMPUTE_MODES),
                            ("kernel", self.kernel, KERNELS),
                            ("convention", self.convention, CONVENTIONS)):
            if not isinstance(v, str) or v not in ok:
                raise ArgError(name, f"must be one of {', '.join(ok)}, got {show(v)}")
        if self.seq % self.cp:
            raise ArgError("seq", f"{self.seq} does not split evenly over cp {self.cp}")
        if self.sp and (self.seq // self.cp) % self.tp:
            raise ArgError("seq", f"sequence parallelism splits {self.seq // self.cp} tokens per context "
                                  f"rank over tp {self.tp}: not even")
        if self.convention == "megatron" and self.recompute == "mla-latent":
            raise ArgError("recompute", "mla-latent has no meaning in the megatron convention (an MHA layer)")
        if self.recompute == "op":
            if self.convention == "megatron":
                raise ArgError("recompute", "op (torchtitan's op-level SAC) has no meaning in the megatron convention")
            if self.kernel != "fused":
                raise ArgError("recompute", "op (torchtitan's op-level SAC) saves a fused SDPA kernel's outputs; "
                                            "use --attention-kernel fused")
            if self.parallel.tp > 1 or self.parallel.cp > 1:
                # DTensor TP saves partial-sum mm outputs and reduce-scatter outputs of its own layouts, and CP's
                # ring attention runs SDPA once per ring step: neither is derived here
                raise ArgError("recompute", "op (torchtitan's op-level SAC) is modelled at tp 1 and cp 1 only")
        if self.convention == "megatron" and self.parallel.tp_style != "megatron":
            raise ArgError("tp_style", "the megatron convention is the paper's Megatron layer; "
                                       "--tp-style torchtitan prices the native layer")

    @property
    def tp(self) -> int:
        return self.parallel.tp

    @property
    def sp(self) -> bool:
        return self.parallel.sp

    @property
    def cp(self) -> int:
        return self.parallel.cp

    @property
    def seq_local(self) -> int:
        """Tokens of one sequence on this GPU's context rank."""
        return self.seq // self.cp

    @property
    def seq_tokens(self) -> int:
        """Tokens per sequence of a token-replicated tensor on this GPU: split over TP only under SP."""
        return self.seq_local // self.tp if self.sp else self.seq_local

    @property
    def gathers_inputs(self) -> bool:
        """The column-parallel linears save their all-gathered input (torchtitan's DTensor TP at ``tp > 1``; see
        the module docstring), not Megatron's sequence shard."""
        return self.parallel.tp_style == "torchtitan" and self.tp > 1

    @property
    def loss_parallel(self) -> bool:
        """DTensor's ``loss_parallel`` runs the loss: torchtitan's TP unless ``parallelism.disable_loss_parallel``
        (``ParallelDims.loss_parallel_enabled``: ``tp > 1 and enable_loss_parallel``)."""
        return self.gathers_inputs and self.parallel.loss_parallel

    @property
    def vocab_split(self) -> int:
        """Ranks the loss's ``b s V`` tensors split over: ``tp`` for Megatron's vocab-parallel cross-entropy and for
        ``loss_parallel`` (the head's output stays ``Shard(-1)``); 1 for torchtitan's TP without it, whose head
        all-gathers the logits (``ColwiseParallel(output_layouts=Replicate())``, ``apply_tp``) and runs the eager
        loss on the whole vocabulary on every rank."""
        return self.tp if self.parallel.tp_style == "megatron" or self.loss_parallel else 1

    def linear_input(self, name: str, width: int, group: str, kept_by: str) -> SavedTensor:
        """The ``[b, s, width]`` input a column-parallel linear (or the q/k/v or gate/up linears sharing it) saves, on
        one GPU: the sequence shard ``[b, s/t, width]`` under Megatron's SP (replicated without SP), or, under
        torchtitan's TP, the all-gathered ``[b, s, width]`` (group and split :data:`GATHERED`)."""
        if self.gathers_inputs:
            return SavedTensor(name, ("b", "s", "h"), (self.micro_batch, self.seq_local, width), ACT_BYTES, GATHERED,
                               kept_by + "; all-gathered over TP (DTensor Replicate)", GATHERED)
        return SavedTensor(name, ("b", "s", "h"), (self.micro_batch, self.seq_tokens, width), ACT_BYTES, group,
                           kept_by, "sp")


@dataclass(frozen=True)
class LayerActivations:
    """Bytes one layer keeps for one micro-batch on one GPU, by part."""

    norms: float = 0           # norm inputs and rstd (the layer input is the first norm's input)
    attention: float = 0       # projection inputs, q/k/v, the core's output
    attention_core: float = 0  # log-sum-exp (fused) or the S x S probabilities (eager); Megatron's dropout
    mla: float = 0             # MLA's query and KV latents
    ffn: float = 0             # dense FFN, or an MoE layer's shared experts
    router: float = 0          # router probabilities, top-k indices and weights
    dispatch: float = 0        # MoE token copies: dispatch (expert input) and combine (expert output)
    experts: float = 0         # routed experts' FFN tensors
    gathered: float = 0        # torchtitan TP: the all-gathered inputs of the attention and FFN projections

    @property
    def total(self) -> float:
        return sum(getattr(self, f.name) for f in fields(self))

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"total": self.total}


def sum_by_group(tensors: list[SavedTensor]) -> LayerActivations:
    """Bytes of ``tensors`` summed by their ``group`` into a :class:`LayerActivations` (its parts sum to the list's
    total bytes)."""
    parts: dict[str, float] = {}
    for t in tensors:
        parts[t.group] = parts.get(t.group, 0) + t.bytes
    return LayerActivations(**parts)


# ---------------------------------------------------------------------------------------------------------
# The native layer: what a standard implementation keeps
# ---------------------------------------------------------------------------------------------------------

def resolve_kernel(convention: str, kernel: str | None) -> str:
    """The attention kernel a run models: fused by default; the Megatron convention is eager by definition."""
    if kernel is not None and (not isinstance(kernel, str) or kernel not in KERNELS):
        # an empty or unknown kernel was taken for the default (``kernel or "fused"``), and under megatron for
        # eager whatever it said: `train --attention-kernel ""` answered as if the flag were not given
        raise ArgError("kernel", f"must be one of {', '.join(KERNELS)}, got {show(kernel)}")
    if convention == "megatron":
        if kernel == "fused":
            raise ArgError("kernel", "the megatron convention models the paper's eager attention")
        return "eager"
    return "fused" if kernel is None else kernel


def is_moe_layer(spec: ModelSpec, layer: int) -> bool:
    return spec.is_moe_layer(layer)


def _norm(prefix: str, group: str, b: int, st: int, width: int, wsym: str, who: str, drop: str = "") -> list:
    return [SavedTensor(f"{prefix}.input", ("b", "s", wsym), (b, st, width), ACT_BYTES, group, who, "sp", drop),
            SavedTensor(f"{prefix}.rstd", ("b", "s"), (b, st), FP32_BYTES, group, who, "sp")]


def _attention(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> list[SavedTensor]:
    """The attention block's stored tensors: its family's (:meth:`AttentionFamily.saved_tensors`; a family whose
    training memory is not modelled refuses there), for the layer's own block (the sliding layers' shape where
    ``attention.sliding_shape`` gives them one: Gemma-4's 256-wide sliding and 512-wide full layers)."""
    block = layer_block(spec, layer)
    return family(block).saved_tensors(spec, cfg, block)


def _gated(prefix: str, group: str, tokens: tuple[str, ...], tdims: tuple[int, ...], width: int, wsym: str,
           gated: bool) -> list[SavedTensor]:
    shape, dims = tokens + (wsym,), tdims + (width,)
    if not gated:
        return [SavedTensor(f"{prefix}.act_input", shape, dims, ACT_BYTES, group, "activation", "tp"),
                SavedTensor(f"{prefix}.down_input", shape, dims, ACT_BYTES, group, "down_proj", "tp")]
    return [SavedTensor(f"{prefix}.gate_out", shape, dims, ACT_BYTES, group, "SiLU (its input)", "tp"),
            SavedTensor(f"{prefix}.up_out", shape, dims, ACT_BYTES, group, "product (right factor)", "tp"),
            SavedTensor(f"{prefix}.act_out", shape, dims, ACT_BYTES, group, "product (left factor)", "tp"),
            SavedTensor(f"{prefix}.down_input", shape, dims, ACT_BYTES, group, "down_proj", "tp")]


def _ffn(spec: ModelSpec, cfg: ActivationConfig, moe: bool, one_block: bool = False) -> list[SavedTensor]:
    """The FFN block's stored tensors (dense, or MoE: see the module docstring; the router's by ``ffn.router``,
    :func:`_router`). ``one_block``: the block of a one-block-a-layer layer (Nemotron-H's ``-`` and ``E``:
    :func:`_one_block_layer`), which reads its own norm's output whatever ``norms_per_layer`` says, and whose MoE is
    transformers' ``NemotronHMoE``, its routed experts at LatentMoE's latent width (``ffn.expert_latent_size``)."""
    f = spec.ffn
    b, sl, st, t, h = cfg.micro_batch, cfg.seq_local, cfg.seq_tokens, cfg.tp, spec.hidden_size
    out = [cfg.linear_input("ffn.input", h, "ffn", "gate/up projections (MoE: router, experts)")]
    if spec.norms_per_layer == 1 and not one_block:   # a parallel block: the FFN reads attention's input, kept once
        out = []                                       # (attn.input)
    if not moe:
        width = divide(f.intermediate_size, t, "ffn.intermediate_size")
        return out + _gated("ffn", "ffn", ("b", "s"), (b, sl), width, "f", f.gated)
    E, k = f.num_experts, f.experts_per_token
    # the routed experts' model width: LatentMoE's l between fc1_latent_proj and fc2_latent_proj, else h
    latent = f.expert_latent_size if one_block else None
    w, wsym = (h, "h") if latent is None else (latent, "l")
    out += _router_norm(b, st, h) if f.branch_norms else []
    out += _router(f.router, b, st, h, E, k)
    if f.branch_norms:
        # pre_feedforward_layernorm_2 reads the block's input (ffn_norm.input, kept once): its rstd alone; its output
        # is gathered into the experts' token copies (moe.dispatch), which index keeps none of
        out.append(SavedTensor("moe.experts_pre_norm.rstd", ("b", "s"), (b, st), FP32_BYTES, "norms",
                               "pre_feedforward_layernorm_2 (its input: ffn_norm.input)", "sp"))
    # Token copies: under SP each TP rank routes its own tokens through whole experts; without SP the
    # tokens are replicated and the experts width-split. Either way the FFN tensors divide by t.
    copies = b * st * k
    if cfg.sp or t == 1:
        width_e = f.expert_intermediate_size
    else:
        width_e = divide(f.expert_intermediate_size, t, "ffn.expert_intermediate_size")
    out.append(SavedTensor("moe.dispatch", ("b*s*k", wsym), (copies, w), ACT_BYTES, "dispatch",
                           "routed experts' gate/up (permuted token copies)", "sp"))
    out += _gated("moe.experts", "experts", ("b*s*k",), (copies,), width_e, "f_e", f.gated)
    out.append(SavedTensor("moe.combine", ("b*s*k", wsym), (copies, w), ACT_BYTES, "dispatch",
                           "combine (expert outputs x weights)", "sp"))
    if latent is not None:
        # fc2_latent_proj (l -> d) keeps its input, the experts' sum cast back to bf16 (NemotronHExperts.forward:
        # index_add_ into an fp32 buffer, ``.to(hidden_states.dtype)``); fc1_latent_proj (d -> l) keeps ffn.input, and
        # its output is kept by no one (the experts' indexing keeps indices only)
        out.append(SavedTensor("moe.latent_up_input", ("b", "s", "l"), (b, st, latent), ACT_BYTES, "experts",
                               "fc2_latent_proj (the experts' sum at the latent width)", "sp"))
    if f.branch_norms:   # post_feedforward_layernorm_2 on the experts' sum (index_add_'s output)
        out += _norm("moe.experts_post_norm", "norms", b, st, h, "h", "post_feedforward_layernorm_2 (the experts' sum)")
    if f.num_shared_experts:
        width_s = divide(f.num_shared_experts * f.shared_width, t, "shared experts' width")
        out += _gated("moe.shared", "ffn", ("b", "s"), (b, sl), width_s, "n_s*f_s", f.gated)
        if f.branch_norms:   # post_feedforward_layernorm_1 on the dense MLP's output
            out += _norm("moe.shared_post_norm", "norms", b, st, h, "h", "post_feedforward_layernorm_1 (the MLP's "
                                                                         "down_proj output)")
        if f.shared_expert_gate:    # sigmoid(gate(x)) * shared(x) (Qwen2-MoE): the product keeps both (audit 7)
            out += [SavedTensor("moe.shared.output", ("b", "s", "h"), (b, st, h), ACT_BYTES, "ffn",
                                "the shared expert gate's product", "sp"),
                    SavedTensor("moe.shared.gate", ("b", "s", "1"), (b, st, 1), ACT_BYTES, "ffn",
                                "sigmoid and the shared expert gate's product", "sp")]
    return out


def _router(form: str, b: int, st: int, h: int, E: int, k: int) -> list[SavedTensor]:
    """What a MoE router's forward leaves for its backward, by its form (``ffn.router``), at ``st`` tokens of ``b``
    sequences (replicated over TP as the router is, split by SP), bytes each. Derived from transformers 5.25.0's
    routers and checked by running them under ``torch.autograd.graph.saved_tensors_hooks`` (bf16 weights, the tensors
    alive once the router returns):

    - ``fp32-scores``: ``F.linear(x, w)`` keeps ``x`` (the block's input, kept once as ``ffn.input``) and the weight
      (a parameter); ``softmax(logits, dtype=float)`` or ``softmax(logits.float())`` keeps its fp32 output, ``b s E``
      (``MixtralTopKRouter``, ``Qwen3MoeTopKRouter``, ``OlmoeTopKRouter``, ``MiniMaxTopKRouter``; ``sigmoid(
      logits.float())`` in ``MiniMaxM2TopKRouter``, ``Llama4Router``'s over the scattered top-k);
    - ``fp32-linear``: ``F.linear(x.type(torch.float32), w.type(torch.float32))`` (``DeepseekV3TopkRouter``,
      ``Glm4MoeTopkRouter``, ``NemotronHTopkRouter``, ``Dots1TopkRouter``, ``DeepseekV2TopkRouter``; ERNIE-4.5's
      ``F.linear(x.float(), w.float())`` under autocast disabled): the mm's backward keeps both casts, the fp32 copy
      of the input (``b s d``, for the weight's gradient) and of the ``E x d`` weight (for the input's gradient; a copy
      each forward whatever the tokens, not split by SP), then the fp32 sigmoid or softmax. The bias-corrected,
      group-limited top-k (``scores + e_score_correction_bias``, the group top-2 sums, ``masked_fill``, ``topk``)
      yields only indices: its nodes' saved tensors (int64 group indices, the bool mask) die with its discarded values
      when the router returns; ``scores.gather(1, idx)`` keeps the sigmoid's output (the same tensor) and the indices;
    - ``act-scores``: the scores over all experts in the activation dtype (``Mistral4TopkRouter``'s
      ``logits.softmax(-1)``, ``DbrxExperts``' ``softmax(..., dtype=router_logits.dtype)``);
    - ``topk-logits``: ``topk(logits)`` keeps its indices, then a softmax over the k values keeps its output, ``b s k``
      (``GptOssTopKRouter``: ``softmax(router_top_value, dtype=router_top_value.dtype)``, bf16): no ``b s E`` tensor.

    Every form keeps the top-k indices (int64, ``topk``'s or ``gather``'s) and the top-k weights the combine
    multiplies the expert outputs by (transformers' experts index them per expert; fp32 where the scores are, else the
    activation dtype). The ``routed_scaling_factor`` multiply (by a Python float) keeps nothing. Under
    ``torch.autocast`` the fp32 linear would run in bf16 on new casts, and with a router weight kept in fp32
    (transformers 5's ``_keep_in_fp32_modules_strict``, where no FSDP mixed-precision policy casts it) its copy is the
    parameter itself; neither is what these runs model (bf16 weights in the forward, no autocast). Megatron-Core's
    router keeps none of these copies (``RouterGatingLinearFunction`` saves its bf16 input and weight and casts in the
    backward; megatron/core/transformer/moe/moe_utils.py), and its layer is not the ``megatron`` convention's."""
    out = []
    if form == "fp32-linear":
        out += [SavedTensor("moe.router_input_fp32", ("b", "s", "h"), (b, st, h), FP32_BYTES, "router",
                            "the router's linear (its fp32 input, for the weight's gradient)", "sp"),
                SavedTensor("moe.router_weight_fp32", ("E", "h"), (E, h), FP32_BYTES, "router",
                            "the router's linear (its fp32 weight copy, for the input's gradient)", "none")]
    if form == "topk-logits":
        weights = ACT_BYTES
        out.append(SavedTensor("moe.topk_probs", ("b", "s", "k"), (b, st, k), ACT_BYTES, "router",
                               "softmax over the top-k logits (its output)", "sp"))
    else:
        weights = ACT_BYTES if form == "act-scores" else FP32_BYTES
        out.append(SavedTensor("moe.router_probs", ("b", "s", "E"), (b, st, E), weights, "router",
                               "softmax/sigmoid of the router logits", "sp"))
    return out + [SavedTensor("moe.topk_indices", ("b", "s", "k"), (b, st, k), INT64_BYTES, "router",
                              "gather of the top-k weights", "sp"),
                  SavedTensor("moe.topk_weights", ("b", "s", "k"), (b, st, k), weights, "router",
                              "combine (weights x expert outputs)", "sp")]


def _router_norm(b: int, st: int, h: int) -> list[SavedTensor]:
    """Gemma-4's router ahead of its projection (``ffn.branch_norms``; transformers ``Gemma4TextRouter.forward``:
    ``norm(x)`` an RMSNorm without weights on the block's input, ``* self.scale * scalar_root_size``, then
    ``proj``): the norm's rstd (its input is ``ffn_norm.input``, kept once), the normed input, which the product with
    the ``scale`` parameter keeps for that parameter's gradient, and the scaled input ``proj`` keeps (the product by
    the Python float ``d**-0.5`` keeps nothing). All at the layer's tokens, split by SP."""
    return [SavedTensor("moe.router_norm.rstd", ("b", "s"), (b, st), FP32_BYTES, "router",
                        "router.norm (its input: ffn_norm.input)", "sp"),
            SavedTensor("moe.router_normed", ("b", "s", "h"), (b, st, h), ACT_BYTES, "router",
                        "x * router.scale (the scale's gradient)", "sp"),
            SavedTensor("moe.router_input", ("b", "s", "h"), (b, st, h), ACT_BYTES, "router", "router.proj", "sp")]


def _native_layer(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> list[SavedTensor]:
    """The layer's norms follow ``norms_per_layer`` (both were always two, audit 7): 4 adds Gemma-2/3's, GLM-4's and
    Trinity's post-attention and post-FFN norms (their inputs: the o_proj and down_proj outputs); 1 is the parallel
    block of Cohere, Falcon-7B and StableLM-2, attention and FFN reading the one norm's output (``attn.input``)."""
    b, st, h = cfg.micro_batch, cfg.seq_tokens, spec.hidden_size
    n = spec.norms_per_layer
    if n not in (1, 2, 4) and not (n == 8 and spec.ffn.branch_norms):
        # 8 is Gemma-4's MoE layer: the 4 sandwich norms here, the branches' 3 in _ffn (the router's scale holds no
        # activation of its own); any other count was read as 4 (or 2) without a word
        raise SpecError("norms_per_layer", f"training memory of {n} norms a layer is not modelled (1: a parallel "
                                           "block, 2: pre-norms, 4: sandwich norms, 8: with ffn.branch_norms)")
    post = [_norm(f"{part}.post_norm", "norms", b, st, h, "h", f"post-{part} norm ({out} output)")
            for part, out in (("attn", "o_proj"), ("ffn", "down_proj"))[:max(0, n - 2)]]
    ffn_norm = _norm("ffn_norm", "norms", b, st, h, "h", "ffn_norm (the residual stream)") if n > 1 else []
    return (_norm("attn_norm", "norms", b, st, h, "h", "attn_norm (the layer input)", drop="input")
            + _attention(spec, layer, cfg) + (post[0] if post else [])
            + ffn_norm
            + _ffn(spec, cfg, is_moe_layer(spec, layer)) + (post[1] if len(post) > 1 else []))


# ---------------------------------------------------------------------------------------------------------
# One block a layer: Nemotron-H's mamba, attention, mlp and moe layers
# ---------------------------------------------------------------------------------------------------------

def _one_block_layer(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> list[SavedTensor]:
    """A layer of one block (Nemotron-H, Nemotron-Nano-v2, Nemotron 3): transformers' ``NemotronHBlock.forward``
    (src/transformers/models/nemotron_h/modeling_nemotron_h.py) is ``residual = x``, ``norm(x)``, the block's mixer,
    ``residual + out``. The layer keeps its one RMSNorm's input (the layer input: full recomputation's checkpoint) and
    fp32 rstd, then the block's own tensors:

    - ``M`` (a linear layer): the Mamba-2 mixer, ``NemotronHMamba2Mixer``, whose training path is
      ``mamba_split_conv1d_scan_combined`` (:meth:`mlacalc.attention.mamba2.Mamba2.saved_tensors`);
    - ``*`` (attention): ``NemotronHAttention``, q/k/v/o projections without RoPE around the fused kernel (the
      attention family's :meth:`~mlacalc.attention.base.AttentionFamily.saved_tensors`);
    - ``-`` (a dense ffn layer): ``NemotronHMLP``, ``down_proj(relu2(up_proj(x)))``, no gate: up_proj keeps ``x``;
      transformers' ``ReLUSquaredActivation`` is ``torch.square(F.relu(x))``, where ``relu``'s backward keeps its
      output and ``square``'s its input, one tensor (``ffn.act_input``); down_proj keeps the square
      (``ffn.down_input``): :func:`_gated` ungated;
    - ``E`` (a MoE ffn layer): ``NemotronHMoE``, the MoE tensors of :func:`_ffn` with its fp32 router
      (``ffn.router`` ``fp32-linear``, :func:`_router`) and, with ``ffn.expert_latent_size`` (Nemotron 3 Super's LatentMoE), the token copies
      and expert outputs at the latent width and ``fc2_latent_proj``'s input; ungated ReLU² experts and shared MLP.

    The residual stream stays in the activation dtype: transformers' ``NemotronHBlock`` never reads
    ``residual_in_fp32`` (NVIDIA's remote ``modeling_nemotron_h.py`` casts the residual to fp32 where it is set; the
    Nemotron-H configs held here, tests/fixtures/hf/nemotron_h_8b and nemotron_3_super_120b_a12b, set it false).
    Refused: a model without FFN blocks (``ffn`` null: Mamba's and Mamba-2's a norm and a mixer a layer, whose
    ``residual_in_fp32`` true would make full recomputation's checkpoint fp32), and a norm count other than one."""
    _check_one_block(spec, cfg)
    b, st, h = cfg.micro_batch, cfg.seq_tokens, spec.hidden_size
    norm = _norm("norm", "norms", b, st, h, "h", "the block's norm (its input: the layer input)", drop="input")
    if spec.layer_type(layer) == "ffn":
        return norm + _ffn(spec, cfg, is_moe_layer(spec, layer), one_block=True)
    return norm + _attention(spec, layer, cfg)


def _check_one_block(spec: ModelSpec, cfg: ActivationConfig) -> None:
    """Refuse what :func:`_one_block_layer` does not model, each in one line: a model without FFN blocks, a norm count
    other than one, the Megatron convention (the paper's layer holds attention and an MLP: one block a layer was
    priced as two), torchtitan's op-level SAC (its policy is derived for the Llama block) and its DTensor TP (no
    plan for these blocks is derived)."""
    if spec.ffn is None:
        raise SpecError("ffn", "training memory of a model without FFN blocks (a norm and a mixer a layer: Mamba, "
                               "Mamba-2) is not modelled")
    if spec.norms_per_layer != 1:
        raise SpecError("norms_per_layer", f"training memory of one block a layer is modelled with its one norm "
                                           f"(NemotronHBlock), not {spec.norms_per_layer}")
    if cfg.convention == "megatron":
        raise ArgError("convention", f"the megatron convention is the paper's GPT layer (attention and an MLP); "
                                     f"{spec.name} has one block a layer (use --convention native)")
    if cfg.recompute == "op":
        raise ArgError("recompute", f"op (torchtitan's op-level SAC) is modelled for the Llama block; {spec.name} has "
                                    "one block a layer")
    if cfg.gathers_inputs:
        raise ArgError("tp_style", f"torchtitan's tensor parallelism of one block a layer ({spec.name}) is not "
                                   "modelled")


def _one_block_backward(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> list[BackwardPhase]:
    """The instants of a one-block layer's backward (:func:`_one_block_layer`): the block's own (the FFN or MoE
    block's, :func:`_ffn_block_backward`; the Mamba-2 mixer's, :meth:`mlacalc.attention.mamba2.Mamba2.
    backward_phases`; the attention block's, :func:`_attention_backward`), the layer output's gradient ``dy`` held
    throughout for the residual branch, then the norm's: ``dy``, the block input's gradient and the norm input's
    (the residual sum ``dy + d(norm input)`` is written as they are freed: three ``[b, s, h]`` at most)."""
    b, st, h = cfg.micro_batch, cfg.seq_tokens, spec.hidden_size
    names = frozenset(x.name for x in layer_tensors(spec, layer, cfg) if not x.name.startswith("norm."))
    hs = ("b", "s", "h")
    dy = _grad("grad.layer_out", hs, (b, st, h), "the next layer's backward; held for the residual branch", "sp")
    t = spec.layer_type(layer)
    if t == "ffn":
        phases = _ffn_block_backward(spec, cfg, dy, is_moe_layer(spec, layer), names, one_block=True)
        who = "the FFN block's input gradient (MoE: router, experts' and shared expert's, summed)"
    elif t == "linear":
        block = layer_block(spec, layer)
        phases = family(block).backward_phases(spec, cfg, block, (dy,), frozenset())
        who = "the mixer's in_proj input gradient"
    else:
        phases = _attention_backward(spec, cfg, layer_block(spec, layer), dy, frozenset())
        who = "q/k/v projections' input gradient"
    d_in = _grad("grad.block.input", hs, (b, st, h), who, "sp")
    d_x = _grad("grad.norm.input", hs, (b, st, h), "RMSNorm's backward: the layer input's gradient", "sp")
    return phases + [BackwardPhase("norm", (dy, d_in, d_x), names)]


# ---------------------------------------------------------------------------------------------------------
# The Megatron convention: Korthikanti et al. 2022, section 4.1, their GPT layer in [s, b, h] order
# ---------------------------------------------------------------------------------------------------------

def _megatron_layer(spec: ModelSpec, cfg: ActivationConfig, layer: int) -> list[SavedTensor]:
    """Section 4.1's itemisation. Attention block 11sbh + 5as^2b: QKV input 2sbh, Q and K 4sbh, softmax output
    2as^2b, its dropout mask as^2b, dropout output 2as^2b, V 2sbh, output-projection input 2sbh, dropout mask
    sbh. MLP 19sbh: input 2sbh, GeLU input 8sbh, second linear input 8sbh, dropout mask sbh. Two LayerNorm
    inputs 4sbh. With TP the 24sbh of Q, K, V, projection input, GeLU and fc2 inputs and the 5as^2b split;
    the 10sbh of norms, linear inputs and dropout masks split only under SP (section 4.2.2)."""
    s, b, t, h, a = cfg.seq_local, cfg.micro_batch, cfg.tp, spec.hidden_size, layer_block(spec, layer).num_heads
    st = cfg.seq_tokens
    ht, at, ft = (divide(h, t, "hidden_size"), divide(a, t, "attention.num_heads"),
                  divide(4 * h, t, "4 x hidden_size"))
    S = lambda name, shape, dims, nb, group, who, split, drop="": SavedTensor(  # noqa: E731
        name, shape, dims, nb, group, who, split, drop)
    return [
        S("ln1.input", ("s", "b", "h"), (st, b, h), ACT_BYTES, "norms", "LayerNorm 1 (the layer input)", "sp", "input"),
        S("attn.qkv_input", ("s", "b", "h"), (st, b, h), ACT_BYTES, "attention", "QKV projection", "sp"),
        S("attn.q", ("s", "b", "h"), (s, b, ht), ACT_BYTES, "attention", "QK^T", "tp"),
        S("attn.k", ("s", "b", "h"), (s, b, ht), ACT_BYTES, "attention", "QK^T", "tp"),
        S("attn.softmax_out", ("b", "a", "s", "s"), (b, at, s, cfg.seq), ACT_BYTES, "attention_core", "softmax",
          "tp", "core"),
        S("attn.dropout_mask", ("b", "a", "s", "s"), (b, at, s, cfg.seq), MASK_BYTES, "attention_core",
          "attention dropout", "tp", "core"),
        S("attn.dropout_out", ("b", "a", "s", "s"), (b, at, s, cfg.seq), ACT_BYTES, "attention_core", "PV", "tp",
          "core"),
        S("attn.v", ("s", "b", "h"), (s, b, ht), ACT_BYTES, "attention", "PV", "tp"),
        S("attn.proj_input", ("s", "b", "h"), (s, b, ht), ACT_BYTES, "attention", "output projection", "tp"),
        S("attn.dropout_mask_out", ("s", "b", "h"), (st, b, h), MASK_BYTES, "attention", "residual dropout", "sp"),
        S("ln2.input", ("s", "b", "h"), (st, b, h), ACT_BYTES, "norms", "LayerNorm 2", "sp"),
        S("mlp.fc1_input", ("s", "b", "h"), (st, b, h), ACT_BYTES, "ffn", "fc1", "sp"),
        S("mlp.gelu_input", ("s", "b", "4h"), (s, b, ft), ACT_BYTES, "ffn", "GeLU", "tp"),
        S("mlp.fc2_input", ("s", "b", "4h"), (s, b, ft), ACT_BYTES, "ffn", "fc2", "tp"),
        S("mlp.dropout_mask", ("s", "b", "h"), (st, b, h), MASK_BYTES, "ffn", "residual dropout", "sp"),
    ]


def megatron_layer_bytes(s: int, b: int, h: int, a: int, t: int = 1, sp: bool = False,
                         recompute: str = "none") -> float:
    """Activation bytes of one GPT layer on one GPU: Korthikanti et al. 2022 (arXiv 2205.05198), Table 2.

    ``none``: eq. 1 ``sbh(34 + 5as/h)`` at t=1; eq. 2 ``sbh(10 + 24/t + 5as/(ht))`` with TP; eq. 3
    ``sbh/t (34 + 5as/h)`` with TP+SP. ``selective``: ``sbh(10 + 24/t)``, with SP ``34 sbh/t``.
    ``full``: ``2 sbh`` (Table 2's last row, the layer input, not split).
    """
    if recompute == "full":
        return 2 * s * b * h
    core = 0 if recompute == "selective" else 5 * a * s / h
    if sp:
        return s * b * h / t * (34 + core)
    return s * b * h * (10 + 24 / t + core / t)


# ---------------------------------------------------------------------------------------------------------
# Recomputation: what stays, what is rebuilt in backward
# ---------------------------------------------------------------------------------------------------------

def layer_tensors(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> list[SavedTensor]:
    """Every tensor layer ``layer`` (0-based) keeps with no recomputation, on one GPU, for one micro-batch."""
    # Nemotron-NAS's layers (ffn.layer_widths): each its own FFN width, or no attention or no FFN at all
    refuse_layer_widths(spec, "training memory")
    refuse_layer_heads(spec, "training memory")       # OpenELM's layers: each its own heads
    # the routed experts' tensors of a layer of attention and FFN are sized at hidden_size (moe.dispatch, the experts'
    # inputs); LatentMoE's are derived for Nemotron-H's one-block MoE (NemotronHMoE: _one_block_layer)
    if not spec.one_block_per_layer:
        refuse_expert_latent(spec, "training memory")
    if spec.layer_type(layer) == "cross":
        check_cross_layers(spec)
    refuse_kv_sharing(spec, "training memory")
    refuse_residual_extras(spec, "training memory")
    if spec.one_block_per_layer:        # Nemotron-H: a norm and one block (before: refused)
        return _one_block_layer(spec, layer, cfg)
    if cfg.convention == "megatron":
        return _megatron_layer(spec, cfg, layer)
    return _native_layer(spec, layer, cfg)


def check_cross_layers(spec: ModelSpec) -> None:
    """Refuse a model with cross-attention layers (Llama-3.2-Vision). They were each counted as a self-attention
    layer over the text plus its FFN (audit 7), which they are not: their keys and values come from the image
    tokens, and a text-only batch skips the layers altogether (transformers' MllamaTextModel)."""
    if any(spec.layer_type(i) == "cross" for i in range(spec.num_layers)):
        raise SpecError("layer_types", "training memory of cross-attention layers (keys and values of the image "
                                       "tokens) is not modelled")


def _check_mode(spec: ModelSpec, cfg: ActivationConfig) -> None:
    # every layer's tensors below are sized by its own block (layer_block: the sliding layers' where
    # attention.sliding_shape gives them one), but not per-layer heads (attention.layer_heads: OpenELM), whose
    # layers the stage sums would take one representative of
    refuse_layer_heads(spec, "training memory")
    # a cross-layer reader stores no K/V of its own in an engine's cache, but what its backward keeps (the shared K/V
    # once, or RoPE'd and normed copies a layer as Tencent's reference code builds them) is not established
    refuse_kv_sharing(spec, "training memory")
    # AltUp's K streams, LAuReL's and the per-layer inputs' tensors are not among the saved tensors below
    refuse_residual_extras(spec, "training memory")
    # nor the tensors a Mamba-2 beside each layer's attention saves (Falcon-H1)
    refuse_parallel_mixers(spec, "training memory")
    # every layer's FFN is sized by intermediate_size below (Nemotron-NAS's have their own widths, or none)
    refuse_layer_widths(spec, "training memory")
    # and every routed expert at hidden_size (LatentMoE's run at ffn.expert_latent_size), but in Nemotron-H's blocks
    if spec.one_block_per_layer:
        _check_one_block(spec, cfg)
    else:
        refuse_expert_latent(spec, "training memory")
    if cfg.convention == "megatron" and spec.holds_state:
        # the paper's layer is an MHA layer: a linear-attention layer would be priced as one (before: refused by
        # the linear family itself, whatever the convention)
        raise ArgError("convention", f"the megatron convention is the paper's GPT layer; {spec.name}'s linear-attention "
                                     "layers have no counterpart in it (use --convention native)")
    if cfg.recompute == "mla-latent" and not family(spec.attention).latent_recompute:
        raise ArgError("recompute", f"mla-latent needs an MLA model; {spec.name} uses {spec.attention.kind}")
    if cfg.gathers_inputs:
        check_torchtitan_tp(spec, cfg.tp)


def check_torchtitan_tp(spec: ModelSpec, tp: int) -> None:
    """Refuse a model whose tensors under torchtitan's DTensor TP (``--tp-style torchtitan`` over ``tp > 1`` ranks) are
    not derived here or that torchtitan cannot split: attention other than mha/gqa/mqa, or key/value heads that ``tp``
    does not divide (:meth:`AttentionFamily.check_dtensor_tp`), MoE layers (torchtitan's
    MoE plan, ``PrepareModuleInputOutput`` with a replicated input and grouped experts, is not derived), MTP modules,
    and a parallel block (one norm feeding attention and FFN: one gathered copy or two is not established)."""
    for b in blocks(spec):
        family(b).check_dtensor_tp(spec, b, tp)
    if spec.ffn is not None and spec.ffn.kind == "moe":
        raise ArgError("tp_style", f"torchtitan's tensor parallelism is modelled for dense FFN layers; {spec.name} "
                                   "has MoE layers")
    if spec.mtp_layers:
        raise ArgError("tp_style", f"torchtitan's tensor parallelism of {spec.name}'s MTP modules is not modelled")
    if spec.norms_per_layer == 1:
        raise ArgError("tp_style", f"torchtitan's tensor parallelism is modelled for blocks with a norm before "
                                   f"attention and one before the FFN; {spec.name} has a parallel block")


def saved_tensors(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> list[SavedTensor]:
    """The tensors layer ``layer`` stores between its forward and its backward under ``cfg.recompute``.

    This is the list the profiler compares with a measured forward+backward, entry by entry.
    """
    _check_mode(spec, cfg)
    full = layer_tensors(spec, layer, cfg)
    mode = cfg.recompute
    if mode == "none":
        return full
    if mode == "selective":
        return [t for t in full if t.drop != "core"]
    if mode == "mla-latent":
        return [t for t in full if t.drop != "mla_up"]
    if mode == "op":
        return op_sac_tensors(spec, layer, cfg)
    checkpoint = [t for t in full if t.drop == "input"]
    if cfg.convention == "megatron":  # Table 2 keeps the full-recompute checkpoint whole: 2sbh
        t = checkpoint[0]
        checkpoint = [SavedTensor(t.name, t.shape, (cfg.seq_local,) + t.dims[1:], t.dtype_bytes, t.group,
                                  "checkpoint (Table 2: not split)", "none", "input")]
    return checkpoint


def op_sac_policy(ops: list[tuple[str, SavedTensor]]) -> list[SavedTensor]:
    """The tensors torchtitan's op-level SAC policy keeps of one checkpointed block's ops, given in forward order as
    ``(op, output)``: an op's outputs are saved (``CheckpointPolicy.MUST_SAVE``) when the op is in ``_save_list``
    (:data:`OP_SAC_SAVED`: ``aten.mm``, the SDPA flash/efficient kernels, ``reduce_scatter_tensor``; ``aten.max``
    in later versions), except each even-numbered ``aten.mm`` of the block (``meta[mm_count_key] % 2 == 0``);
    every other op is ``PREFER_RECOMPUTE``. torchtitan ``torchtitan/parallelisms/parallelize_llama.py``,
    ``_apply_ac_to_transformer_block``, ``_custom_policy`` (the counter lives in a fresh ``defaultdict`` per
    ``selective_checkpointing_context_fn`` call, i.e. per block and forward). ``torch/utils/checkpoint.py``
    (``create_selective_checkpoint_contexts``): a saved op's outputs are held in the block's cache until its
    recomputation in backward replays them; nothing else of the block's forward is held."""
    kept, mm = [], 0
    for op, out in ops:
        if op == "mm":
            mm += 1
            if mm % 2 == 0:
                continue
        if op in OP_SAC_SAVED:
            kept.append(out)
    return kept


def _ffn_op_sac_ops(spec: ModelSpec, cfg: ActivationConfig) -> list[tuple[str, SavedTensor]]:
    """The dense FFN's ``aten.mm`` outputs in forward order: torchtitan's ``FeedForward.forward`` is
    ``self.w2(F.silu(self.w1(x)) * self.w3(x))`` (w1, then w3, then w2); ungated, ``fc2(act(fc1(x)))``."""
    f = spec.ffn
    if f.mlp_bias:
        raise ArgError("recompute", f"op (torchtitan's op-level SAC) is modelled for bias-free FFN projections; "
                                    f"{spec.name}'s are aten.addmm")
    b, s, h, w = cfg.micro_batch, cfg.seq_local, spec.hidden_size, f.intermediate_size
    mm = lambda name, width, sym: ("mm", SavedTensor(  # noqa: E731
        name, ("b*s", sym), (b * s, width), ACT_BYTES, "ffn", "op SAC cache (mm output)", "tp"))
    # w1's output is the native list's SiLU input (fc1's the activation's input): one name, so the backward's
    # recomputed tensors do not count it twice
    up = [mm("ffn.gate_out", w, "f"), mm("ffn.w3_out", w, "f")] if f.gated else [mm("ffn.act_input", w, "f")]
    return up + [mm("ffn.w2_out", h, "h")]


def op_sac_tensors(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> list[SavedTensor]:
    """What layer ``layer`` keeps under torchtitan's op-level SAC (:func:`op_sac_policy`), bytes on one GPU: the
    block's input (``checkpoint`` holds the wrapped block's arguments for the recomputation), then the saved op
    outputs of its attention (:meth:`AttentionFamily.op_sac_ops`) and FFN. A Llama block dispatches seven
    ``aten.mm`` (wq, wk, wv, wo, w1, w3, w2): the 1st, 3rd, 5th and 7th are kept (wq, wv, w1, w2), with SDPA's output
    and log-sum-exp; the norms, RoPE, SiLU and the product are recomputed.

    Refused where the block is not torchtitan's dense Llama block: an MoE layer (torchtitan's MoE and DeepSeek-V3
    run grouped GEMMs and a router whose ops the 2024 ``_save_list`` does not name; not derived here), MLA and other
    families, and a norm layout other than pre-norm attention and FFN (``norms_per_layer`` 2)."""
    if is_moe_layer(spec, layer):
        raise ArgError("recompute", f"op (torchtitan's op-level SAC) is modelled for dense FFN layers; {spec.name} "
                                    f"has MoE layers (not derived here)")
    if spec.norms_per_layer != 2:
        raise ArgError("recompute", f"op (torchtitan's op-level SAC) is modelled for the Llama block (two pre-norms); "
                                   f"{spec.name} has {spec.norms_per_layer} norms a layer")
    b, st, h = cfg.micro_batch, cfg.seq_tokens, spec.hidden_size
    block_input = SavedTensor("attn_norm.input", ("b", "s", "h"), (b, st, h), ACT_BYTES, "norms",
                              "checkpoint (the block's input, for the recomputation)", "sp", "input")
    block = layer_block(spec, layer)
    ops = family(block).op_sac_ops(spec, cfg, block) + _ffn_op_sac_ops(spec, cfg)
    return [block_input] + op_sac_policy(ops)


def recomputed_tensors(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> list[SavedTensor]:
    """The tensors backward rebuilds for layer ``layer``: alive again while that layer's backward runs."""
    kept = {t.name for t in saved_tensors(spec, layer, cfg)}
    return [t for t in layer_tensors(spec, layer, cfg) if t.name not in kept]


def layer_activations(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> LayerActivations:
    """Stored bytes of one layer by part (the sum of :func:`saved_tensors`)."""
    return sum_by_group(saved_tensors(spec, layer, cfg))


# ---------------------------------------------------------------------------------------------------------
# Backward: the activation gradients alive while one layer's backward runs
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BackwardPeak:
    """The worst instant of one layer's backward, on one GPU: bytes alive beyond the stored activations.

    ``grads``: activation gradients and workspace (:attr:`BackwardPhase.grads`); ``recomputed``: tensors
    recomputation re-materialised that are still alive; ``released``: stored tensors of the layer already freed
    (negative). ``total`` is their sum: what the layer's backward adds to the stored activations at its peak."""

    phase: str
    grads: float
    recomputed: float
    released: float
    tensors: tuple[SavedTensor, ...] = ()           # the gradients and recomputed tensors alive at the instant
    released_tensors: tuple[SavedTensor, ...] = ()  # the stored tensors already freed

    @property
    def total(self) -> float:
        return self.grads + self.recomputed + self.released

    def as_dict(self) -> dict:
        return {"phase": self.phase, "grads": self.grads, "recomputed": self.recomputed,
                "released": self.released, "total": self.total,
                "tensors": [t.to_json() for t in self.tensors],
                "released_tensors": [t.to_json() for t in self.released_tensors]}


def _ffn_backward(prefix: str, held: tuple[SavedTensor, ...], d_out: SavedTensor | None,
                  tokens: tuple[str, ...], tdims: tuple[int, ...], hdims: tuple[int, ...], width: int, h: int,
                  gated: bool, released: frozenset[str]) -> list[BackwardPhase]:
    """The FFN ``down(act(gate x) * up x)`` (gated) or ``down(act(fc1 x))`` backward, in PyTorch's order.

    ``held``: gradients alive throughout (the layer output's gradient, waiting for the residual branch);
    ``d_out``: the gradient entering ``down`` when it is not one of ``held`` (MoE: the expert outputs');
    ``tdims``/``hdims``: token dims of the width-``width`` tensors and of the block input's gradient.
    Instants (the engine runs nodes in reverse creation order; a node's saved tensors are freed after it runs):

    - ``down``: writes ``d(down input)`` [tokens, f] and its weight gradient [h, f];
    - ``product`` (gated): the product's backward writes ``d(act out)`` and ``d(up out)`` while ``d(down input)``
      is its input; the down input is freed -- the FFN's widest instant: 3 [tokens, f] gradients, 1 freed;
      ungated ``act``: writes ``d(act input)`` while ``d(down input)`` is alive;
    - ``act`` (gated): SiLU's backward writes ``d(gate out)``; the product's factors are freed, and ``up``'s
      backward (created later, so run first) has turned ``d(up out)`` into a partial input gradient [tokens, h];
    - ``input``: the gate (fc1) projection writes the second partial input gradient and its weight gradient."""
    f_shape, h_shape = tokens + ("f",), tokens + ("h",)
    F = tdims + (width,)
    g = lambda n, shape, dims, who, split="tp": _grad(f"grad.{prefix}.{n}", shape, dims, who, split)  # noqa: E731
    d_down = g("down_input", f_shape, F, "down's backward (input gradient)")
    w_down = g("W_down", ("h", "f"), (h, width), "down's weight gradient, before it is added to the buffer")
    first = held + ((d_out,) if d_out is not None else ())
    out = [BackwardPhase(f"{prefix}.down", first + (d_down, w_down), released)]
    if gated:
        d_act = g("act_out", f_shape, F, "product's backward (left factor)")
        d_up = g("up_out", f_shape, F, "product's backward (right factor)")
        d_gate = g("gate_out", f_shape, F, "SiLU's backward")
        d_in_up = g("input_from_up", h_shape, hdims, "up projection's backward (partial input gradient)", "sp")
        d_in_gate = g("input_from_gate", h_shape, hdims, "gate projection's backward (partial input gradient)",
                      "sp")
        w_gate = g("W_gate", ("h", "f"), (h, width), "gate's weight gradient, before it is added to the buffer")
        out += [BackwardPhase(f"{prefix}.product", held + (d_down, d_act, d_up),
                              released | {f"{prefix}.down_input"}),
                BackwardPhase(f"{prefix}.act", held + (d_in_up, d_act, d_gate),
                              released | {f"{prefix}.down_input", f"{prefix}.act_out", f"{prefix}.up_out"}),
                BackwardPhase(f"{prefix}.input", held + (d_in_up, d_gate, d_in_gate, w_gate),
                              released | {f"{prefix}.down_input", f"{prefix}.act_out", f"{prefix}.up_out",
                                          f"{prefix}.gate_out"})]
    else:
        d_act = g("act_input", f_shape, F, "activation's backward")
        d_in = g("input", h_shape, hdims, "fc1's backward (input gradient)", "sp")
        w_fc1 = g("W_fc1", ("h", "f"), (h, width), "fc1's weight gradient, before it is added to the buffer")
        out += [BackwardPhase(f"{prefix}.act", held + (d_down, d_act), released | {f"{prefix}.down_input"}),
                BackwardPhase(f"{prefix}.input", held + (d_act, d_in, w_fc1),
                              released | {f"{prefix}.down_input", f"{prefix}.act_input"})]
    return out


def _ffn_block_backward(spec: ModelSpec, cfg: ActivationConfig, dy: SavedTensor, moe: bool, ffn_names: frozenset,
                        one_block: bool = False) -> list[BackwardPhase]:
    """The FFN block's backward instants (dense, or MoE: shared experts, routed experts, dispatch), ``dy`` the layer
    output's gradient held throughout and ``ffn_names`` the block's stored tensors. ``one_block``: Nemotron-H's MoE
    block (:func:`_ffn`), whose LatentMoE adds ``fc2_latent_proj``'s instant before the experts' and
    ``fc1_latent_proj``'s after the dispatch, the routed experts' gradients at the latent width ``l``."""
    f = spec.ffn
    b, sl, st, t, h = cfg.micro_batch, cfg.seq_local, cfg.seq_tokens, cfg.tp, spec.hidden_size
    hs = ("b", "s", "h")
    if not moe:
        return _ffn_backward("ffn", (dy,), None, ("b", "s"), (b, sl), (b, sl, h),
                             divide(f.intermediate_size, t, "ffn.intermediate_size"), h, f.gated, frozenset())
    phases: list[BackwardPhase] = []
    k = f.experts_per_token
    copies = b * st * k
    latent = f.expert_latent_size if one_block else None
    w, wsym = (h, "h") if latent is None else (latent, "l")
    width_e = f.expert_intermediate_size if (cfg.sp or t == 1) else divide(
        f.expert_intermediate_size, t, "ffn.expert_intermediate_size")
    if f.num_shared_experts:  # assumed to run first: routed + shared, the shared branch created last
        phases += _ffn_backward("moe.shared", (dy,), None, ("b", "s"), (b, sl), (b, sl, h),
                                divide(f.num_shared_experts * f.shared_width, t, "shared experts' width"),
                                h, f.gated, frozenset())
    shared = frozenset(n for n in ffn_names if n.startswith("moe.shared."))
    d_sh = _grad("grad.moe.shared_input", hs, (b, st, h), "shared experts' input gradient (partial)", "sp")
    if latent is not None:
        # fc2_latent_proj's backward (created after the experts, so run before them): the experts' sum's gradient at
        # l and its l x d weight gradient
        d_up = _grad("grad.moe.latent_up_input", ("b", "s", "l"), (b, st, latent), "fc2_latent_proj's backward",
                     "sp")
        w_up = _grad("grad.moe.W_latent_up", ("h", "l"), (h, latent), "fc2_latent_proj's weight gradient, before "
                                                                        "the buffer")
        phases.append(BackwardPhase("moe.latent_up", (dy, d_sh, d_up, w_up), shared))
        shared = shared | {"moe.latent_up_input"}
    d_comb = _grad("grad.moe.combine", ("b*s*k", wsym), (copies, w), "combine's backward (expert outputs)", "sp")
    phases += _ffn_backward("moe.experts", (dy, d_sh), d_comb, ("b*s*k",), (copies,), (copies, w), width_e, w,
                            f.gated, shared)
    routed = frozenset(n for n in ffn_names if n.startswith("moe.experts.")) | {"moe.combine"}
    d_disp = _grad("grad.moe.dispatch", ("b*s*k", wsym), (copies, w), "experts' input gradient (token copies)",
                   "sp")
    d_un = _grad("grad.moe.input", ("b", "s", wsym), (b, st, w), "un-permuted dispatch gradient", "sp")
    phases.append(BackwardPhase("moe.dispatch", (dy, d_sh, d_disp, d_un), shared | routed))
    if latent is not None:
        # fc1_latent_proj's backward: the block input's gradient from the experts' side and its d x l weight gradient
        d_down = _grad("grad.moe.latent_down_input", hs, (b, st, h), "fc1_latent_proj's backward (partial input "
                                                                     "gradient)", "sp")
        w_down = _grad("grad.moe.W_latent_down", ("l", "h"), (latent, h), "fc1_latent_proj's weight gradient, "
                                                                          "before the buffer")
        phases.append(BackwardPhase("moe.latent_down", (dy, d_sh, d_un, d_down, w_down),
                                    shared | routed | {"moe.dispatch"}))
    return phases


def _native_backward(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> list[BackwardPhase]:
    """The instants of one native layer's backward (FFN block, its norm, attention, its norm); see
    :func:`backward_phases`."""
    b, st, h = cfg.micro_batch, cfg.seq_tokens, spec.hidden_size
    names = [x.name for x in layer_tensors(spec, layer, cfg)]
    ffn_names = frozenset(n for n in names if n.startswith(("ffn.", "moe.")))
    hs = ("b", "s", "h")
    dy = _grad("grad.layer_out", hs, (b, st, h), "the next layer's backward; held for the residual branch", "sp")
    phases: list[BackwardPhase] = []

    # --- FFN block (the last op of the forward, so the first of the backward)
    phases += _ffn_block_backward(spec, cfg, dy, is_moe_layer(spec, layer), ffn_names)

    # --- the FFN's norm, then the residual sum d_h = dy + d(norm input)
    d_norm_out = _grad("grad.ffn_norm.output", hs, (b, st, h), "gate/up (router) input gradient, summed", "sp")
    d_norm_in = _grad("grad.ffn_norm.input", hs, (b, st, h), "RMSNorm's backward", "sp")
    phases.append(BackwardPhase("ffn_norm", (dy, d_norm_out, d_norm_in), ffn_names))
    gone = ffn_names | {"ffn_norm.input", "ffn_norm.rstd"}

    # --- attention: o_proj, the core, the projections, the norm
    d_h = _grad("grad.residual", hs, (b, st, h), "residual sum dy + d(ffn_norm input)", "sp")
    if spec.layer_type(layer) == "linear":       # the linear block's own instants (its family's)
        block = layer_block(spec, layer)
        phases += family(block).backward_phases(spec, cfg, block, (d_h,), gone)
        d_in = _grad("grad.attn.input", hs, (b, st, h), "the block's input projections' input gradient", "sp")
    else:
        phases += _attention_backward(spec, cfg, layer_block(spec, layer), d_h, gone)
        d_in = _grad("grad.attn.input", hs, (b, st, h), "q/k/v (MLA: down) projections' input gradient (partial)",
                     "sp")
    block_names = frozenset(n for n in names if n.startswith(("attn.", "mla.", "gdn.", "mamba.")))
    d_x = _grad("grad.attn_norm.input", hs, (b, st, h), "RMSNorm's backward: the layer input's gradient", "sp")
    phases.append(BackwardPhase("attn_norm", (d_h, d_in, d_x), gone | block_names))
    return phases


def _attention_backward(spec: ModelSpec, cfg: ActivationConfig, a, d_h: SavedTensor,
                        gone: frozenset) -> list[BackwardPhase]:
    """The softmax-attention block's backward instants (o_proj, the gate, the core, the projections) after the FFN
    block's: ``a`` the layer's attention block (:func:`layer_block`: Gemma-4's sliding and full layers differ), ``d_h``
    the residual gradient held throughout and ``gone`` the layer's tensors already freed."""
    b, sl, st, t, h = cfg.micro_batch, cfg.seq_local, cfg.seq_tokens, cfg.tp, spec.hidden_size
    heads = divide(a.num_heads, t, "attention.num_heads")
    fam = family(a)
    kv_heads = fam.attended_kv_heads(a, t)
    hs = ("b", "s", "h")
    phases: list[BackwardPhase] = []
    dv_o = a.v_head_dim
    d_o = _grad("grad.attn.out", ("b", "s", "a", "d_v"), (b, sl, heads, dv_o), "o_proj's backward")
    w_o = _grad("grad.W_o", ("a d_v", "h"), (heads * dv_o, h), "o_proj's weight gradient, before the buffer")
    phases.append(BackwardPhase("attn.o_proj", (d_h, d_o, w_o), gone))
    if a.output_gate:   # the product's backward: d(core output) and d(sigmoid), then sigmoid's d(gate)
        d_gated = _grad("grad.attn.gate", ("b", "s", "a", "d_v"), (b, sl, heads, dv_o), "the gate's backward")
        gone = gone | {"attn.gated_out"}
        phases.append(BackwardPhase("attn.output_gate", (d_h, d_o, d_gated, d_gated), gone))
        gone = gone | {"attn.gate"}
    core_names = {"attn.lse", "attn.probs"}
    kv_sym = fam.kv_symbol
    eager = cfg.kernel == "eager"
    expanded = fam.kernel_expands_kv(a, cfg.kernel) and kv_heads != heads   # the kernel holds repeat_kv's copies
    kv_core = heads if expanded else kv_heads
    dq = _grad("grad.attn.q", ("b", "s", "a", "d_qk"), (b, sl, heads, a.qk_head_dim), "attention backward")
    dk = _grad("grad.attn.k", ("b", "s", kv_sym, "d_qk"), (b, sl, kv_core, a.qk_head_dim), "attention backward")
    dvv = _grad("grad.attn.v", ("b", "s", kv_sym, "d_v"), (b, sl, kv_core, a.v_head_dim), "attention backward")
    if not eager:
        # FlashAttention-2's backward (and xFormers' memory-efficient one, which PyTorch runs when d_qk != d_v)
        # accumulates dQ in float32 over key blocks and first computes D = rowsum(dO * O) in float32 per row.
        ws = [_grad("grad.attn.dq_accum", ("b", "s", "a", "d_qk"), (b, sl, heads, a.qk_head_dim),
                    "fused backward's float32 dQ accumulator", nbytes=FP32_BYTES),
              _grad("grad.attn.delta", ("b", "a", "s"), (b, heads, sl), "fused backward's rowsum(dO * O)",
                    nbytes=FP32_BYTES)]
        if kv_heads != heads and not expanded:  # FA2's mha_bwd writes dK, dV per query head, then sums each group
            ws += [_grad("grad.attn.k_expanded", ("b", "s", "a", "d_qk"), (b, sl, heads, a.qk_head_dim),
                         "fused backward's per-query-head dK (GQA), summed into dK"),
                   _grad("grad.attn.v_expanded", ("b", "s", "a", "d_v"), (b, sl, heads, a.v_head_dim),
                         "fused backward's per-query-head dV (GQA), summed into dV")]
        core = (d_h, d_o, dq, dk, dvv, *ws)
    else:
        # P V backward writes dV and dP [b, a, s, s_kv]; softmax's backward writes dS of the same size while dP
        # and P are alive; then Q K^T's backward writes dQ and dK.
        dp = _grad("grad.attn.probs", ("b", "a", "s", "s_kv"), (b, heads, sl, cfg.seq), "P V backward (dP)")
        ds = _grad("grad.attn.scores", ("b", "a", "s", "s_kv"), (b, heads, sl, cfg.seq), "softmax backward (dS)")
        core = (d_h, d_o, dvv, dp, ds)
    phases.append(BackwardPhase("attn.core", core, gone))
    gone_core = gone | {"attn.q", "attn.k", "attn.v", "attn.out"} | core_names
    d_in = _grad("grad.attn.input", hs, (b, st, h), "q/k/v (MLA: down) projections' input gradient (partial)", "sp")
    phases.append(BackwardPhase("attn.projections", (d_h, dq, dk, dvv, d_in, d_in), gone_core))
    return phases


def backward_phases(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> list[BackwardPhase]:
    """The instants of layer ``layer``'s backward at which the most is alive, in the order they happen, with
    recomputation attached where it happens.

    Derived from the layer's structure, node by node in PyTorch's order (the engine runs the node created last
    first; a node's saved tensors are freed once it has run; an input gradient that two branches feed is summed
    into a new tensor). The layer output's gradient ``dy`` [b, s, h] is held for the residual branch until the
    FFN block's backward is done. A weight gradient is written into a new tensor and then added into the
    gradient buffer (counted in the model states), so one weight gradient at a time is alive here. Bytes per
    GPU; activation gradients have the activations' dtype. Widest instants in a standard layer:

    - FFN, the product's backward (gated): ``dy`` + ``d(down input)``, ``d(act out)``, ``d(up out)``
      (3 [b, s, f]) while the down input is already freed: ``2 b s h + 2 (3 - 1) b s f`` beyond the stored;
    - attention core, fused (FlashAttention-2): ``d_h``, ``dO``, ``dQ``, ``dK``, ``dV``, float32 ``dQ``
      accumulator and ``rowsum(dO O)``, GQA's per-query-head ``dK``/``dV``; eager: ``dP`` and ``dS``
      [b, a, s, s_kv] -- eager attention's backward is often the layer's widest instant.

    Recomputation: ``full`` (and ``op``, whose cached outputs the same recomputation replays) re-materialises every
    tensor of the layer before its backward starts (freed as their users run, like stored ones); ``selective`` the
    core's internals and a second copy of its output (the checkpointed core's backward needs its own), at the core;
    ``mla-latent`` the decompressed q, k, v, at the core. The Megatron convention counts stored activations only
    (Table 2): no phases. A linear-attention layer's block has its family's instants
    (:meth:`mlacalc.attention.linear.Linear.backward_phases`: Gated DeltaNet's chunk kernel, Mamba-2's fused scan),
    of which ``selective`` re-materialises nothing (it keeps the whole block).

    Not modelled: MoE's router backward (small), communication buffers, kernel workspaces beyond the fused
    attention's (cuBLAS workspace is part of the workspace reserve)."""
    _check_mode(spec, cfg)
    if cfg.convention == "megatron":
        return []
    phases = (_one_block_backward if spec.one_block_per_layer else _native_backward)(spec, layer, cfg)
    mode = cfg.recompute
    if mode == "none":
        return phases
    rec = tuple(recomputed_tensors(spec, layer, cfg))
    softmax = spec.layer_type(layer) not in ("linear", "ffn")    # a layer with a softmax-attention core
    if mode == "selective" and softmax:
        # a linear block's kernel keeps no output of its own for its backward (it recomputes its chunk states), and an
        # ffn layer of one block a layer has no attention core
        out_t = next(x for x in layer_tensors(spec, layer, cfg) if x.name == "attn.out")
        rec += (replace(out_t, name="attn.out.recomputed", kept_by="the recomputed core's backward"),)
    whole = mode in ("full", "op")     # op SAC re-runs the whole block's forward (replaying its cache) at once
    return [replace(p, recomputed=rec) if whole or p.name == "attn.core" else p for p in phases]


def backward_peak(spec: ModelSpec, layer: int, cfg: ActivationConfig) -> BackwardPeak:
    """The widest instant of :func:`backward_phases`: activation gradients plus recomputed tensors still alive,
    minus stored tensors already freed (bytes per GPU, beyond the layer's stored activations)."""
    phases = backward_phases(spec, layer, cfg)
    if not phases:
        return BackwardPeak("none", 0.0, 0.0, 0.0)
    stored = saved_tensors(spec, layer, cfg)
    best = None
    for p in phases:
        grads = float(sum(x.bytes for x in p.grads))
        alive = [x for x in p.recomputed if x.name not in p.released]
        recomputed = float(sum(x.bytes for x in alive))
        gone = tuple(x for x in stored if x.name in p.released)
        released = -float(sum(x.bytes for x in gone))
        peak = BackwardPeak(p.name, grads, recomputed, released, tuple(p.grads) + tuple(alive), gone)
        if best is None or peak.total > best.total:
            best = peak
    return best


# ---------------------------------------------------------------------------------------------------------
# Outside the layers: embedding, RoPE tables, final norm, head and loss, MTP
# ---------------------------------------------------------------------------------------------------------

def embedding_tensors(spec: ModelSpec, cfg: ActivationConfig) -> list[SavedTensor]:
    """First stage: the token ids (the embedding's backward is an index-add), and where the embeddings are normed
    (``embedding_norm``: BLOOM's word_embeddings_layernorm) that norm's input and rstd, as every norm's. A learned
    position table's ids (``position_embeddings``) are not listed: one row of ``s`` ids shared by the batch. Native
    convention only."""
    if cfg.convention == "megatron":
        return []
    ids = [SavedTensor("embed.input_ids", ("b", "s"), (cfg.micro_batch, cfg.seq_local), INT64_BYTES, "embedding",
                       "embedding (index-add)")]
    if not spec.embedding_norm:
        return ids
    return ids + _norm("embed_norm", "embedding", cfg.micro_batch, cfg.seq_tokens, spec.hidden_size, "h",
                       "embedding norm")


def rope_tensors(spec: ModelSpec, cfg: ActivationConfig) -> list[SavedTensor]:
    """Every stage: RoPE's cos and sin, computed once per forward and kept by every layer's RoPE (HF layout
    ``b x s x d_rope`` in the activation dtype). Where the sliding layers rotate another width (``sliding_shape``:
    Gemma-4's 256 against its full layers' 128), a table of each: transformers' ``Gemma4TextModel.forward`` computes
    ``position_embeddings`` once per layer type. Left out: Gemma-4's full-layer tables are as wide as the head (512),
    the unrotated dims at cos 1 and sin 0 (``_compute_proportional_rope_parameters``: "proportional RoPE will always
    return an encoding that is the size of head_dim"), which ``rope_dim`` does not say (6 MiB at b 1, s 4096)."""
    if cfg.convention == "megatron" or spec.attention is None:
        return []
    widths = {"full": spec.attention.qk_rope_head_dim}
    if spec.sliding_attention.qk_rope_head_dim != widths["full"] and \
            any(spec.layer_type(j) == "sliding" for j in range(spec.num_layers)):
        widths["sliding"] = spec.sliding_attention.qk_rope_head_dim
    out = []
    for kind, d in widths.items():
        if not d:
            continue
        name = "rope" if len(widths) == 1 else f"rope.{kind}"
        out += [SavedTensor(f"{name}.{n}", ("b", "s", "d_rope"), (cfg.micro_batch, cfg.seq_local, d), ACT_BYTES,
                            "rope", "RoPE of q and k" + ("" if len(widths) == 1 else f" ({kind} layers)"))
                for n in ("cos", "sin")]
    return out


def head_tensors(spec: ModelSpec, cfg: ActivationConfig, prefix: str = "") -> list[SavedTensor]:
    """Last stage: final norm, the head's input (all-gathered under torchtitan's TP: :meth:`ActivationConfig.
    linear_input`), and the loss's fp32 log-probabilities (``b s V``, vocab-split over TP as Megatron's vocab-parallel
    cross-entropy and DTensor's ``loss_parallel`` do, whole without it: :attr:`ActivationConfig.vocab_split`; HF's
    ``cross_entropy(logits.float())`` keeps the same log-softmax output)."""
    if cfg.convention == "megatron":
        return []
    b, st, h = cfg.micro_batch, cfg.seq_tokens, spec.hidden_size
    vocab = math.ceil(spec.vocab_size / cfg.vocab_split)
    split = "tp" if cfg.vocab_split == cfg.tp else "none"
    # soft-capped logits (final_logit_softcap; transformers Gemma4ForCausalLM.forward: logits / cap, torch.tanh,
    # * cap): tanh keeps its output for its backward, in the head's dtype; the divide and multiply by a Python float
    # keep nothing. Its backward runs after the loss's (the workspace's three fp32 b s V tensors are freed by then)
    cap = [SavedTensor(f"{prefix}head.softcap_tanh", ("b", "s", "V"), (b, cfg.seq_local, vocab), ACT_BYTES, "head",
                       "tanh of the logit soft-cap (its output)", split)] if spec.final_logit_softcap else []
    return (_norm(f"{prefix}final_norm", "head", b, st, h, "h", "final norm")
            + [cfg.linear_input(f"{prefix}head.input", h, "head", "output head")] + cap
            + [SavedTensor(f"{prefix}loss.log_probs", ("b", "s", "V"), (b, cfg.seq_local, vocab), FP32_BYTES,
                           "head", "cross-entropy (log-softmax output)", split)])


def mtp_tensors(spec: ModelSpec, cfg: ActivationConfig) -> list[SavedTensor]:
    """Last stage, per DeepSeek-V3 MTP module (arXiv 2412.19437, section 2.2): RMSNorms of the hidden state and
    of the shifted tokens' embedding, the ``2h -> h`` projection's input, one decoder layer (stored as the
    recompute mode says), and its own head and loss."""
    if cfg.convention == "megatron" or not spec.mtp_layers:
        return []
    return [t for k in range(spec.mtp_layers) for t in mtp_module_tensors(spec, cfg, k)]


def mtp_bytes(spec: ModelSpec, cfg: ActivationConfig) -> float:
    """Bytes :func:`mtp_tensors` stores: one module's times their count (the modules are alike). Listing every
    module's tensors in each step of the training fit searches took 10 s at mtp_layers 10,000."""
    if cfg.convention == "megatron" or not spec.mtp_layers:
        return 0.0
    return spec.mtp_layers * float(sum(t.bytes for t in mtp_module_tensors(spec, cfg, 0)))


def mtp_module_tensors(spec: ModelSpec, cfg: ActivationConfig, k: int) -> list[SavedTensor]:
    """The tensors MTP module ``k`` stores (see :func:`mtp_tensors`)."""
    b, st, h = cfg.micro_batch, cfg.seq_tokens, spec.hidden_size
    p = f"mtp{k}."
    one = _norm(p + "hnorm", "mtp", b, st, h, "h", "MTP hidden norm")
    one += _norm(p + "enorm", "mtp", b, st, h, "h", "MTP embedding norm")
    one.append(SavedTensor(p + "proj_input", ("b", "s", "2h"), (b, st, 2 * h), ACT_BYTES, "mtp",
                           "MTP projection", "sp"))
    for j, layer in enumerate(mtp_layers_of(spec)):
        q = p if spec.mtp_layer_types is None else f"{p}layers{j}."
        one += [SavedTensor(q + t.name, t.shape, t.dims, t.dtype_bytes, t.group, t.kept_by, t.split, t.drop)
                for t in saved_tensors(spec, layer, cfg)]
    return one + head_tensors(spec, cfg, prefix=p)


def mtp_layers_of(spec: ModelSpec) -> list[int]:
    """The main-model layers whose stored tensors an MTP module's layers keep: :func:`mtp_layer`, or with
    ``mtp_layer_types`` (Nemotron-H: one block a layer) the last layer of each listed type, block by block, as
    :func:`mlacalc.params.mtp_layer` counts their weights. vLLM's ``NemotronHMultiTokenPredictor``
    (vllm/model_executor/models/nemotron_h_mtp.py) runs the module's blocks in turn, each a decoder layer of its
    norm and mixer, the first after enorm, hnorm and ``eh_proj``, the last before ``final_layernorm`` (the head's
    final norm here): Nemotron 3 Super's ``"*E"`` an attention block, then a (Latent)MoE block."""
    if spec.mtp_layer_types is None:
        return [mtp_layer(spec)]
    return [max(i for i in range(spec.num_layers) if spec.layer_type(i) == t) for t in spec.mtp_layer_types]


def mtp_layer(spec: ModelSpec) -> int:
    """A main-model layer whose stored tensors an MTP module's layer keeps: the last layer of the module's attention
    block (``mtp_layer_type``: MiMo-V2-Flash's sliding shape; else the last layer's) and FFN (``mtp_ffn``, else the
    last layer's). One line where no layer has both (their tensors would be some other layer's)."""
    last = spec.num_layers - 1
    block = spec.type_block(spec.mtp_layer_type) if spec.mtp_layer_type else layer_block(spec, last)
    moe = spec.mtp_ffn == "moe" if spec.mtp_ffn else is_moe_layer(spec, last)
    for j in range(last, -1, -1):
        if layer_block(spec, j) is block and is_moe_layer(spec, j) == moe:
            return j
    raise SpecError("mtp_layer_type", f"training memory of {spec.name}'s MTP modules is not modelled: no layer has "
                                      "their attention block and FFN to size them by")


# ---------------------------------------------------------------------------------------------------------
# The note's question: how much does keeping MLA's latent save?
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LatentVsExpanded:
    """MLA in training: per token and layer, elements of the latent kept vs. the K/V it expands to."""

    latent: int              # d_c + d_r: [c_KV | k_R], what mla-latent keeps of keys and values
    expanded_kv: int         # a (d_qk + d_v): decompressed K (with the broadcast RoPE key) and V
    expanded_q: int          # a d_qk: decompressed queries, also rebuilt in mla-latent
    note_kv: int             # the note's reading: a x 128 for K plus a x 128 for V (RoPE key left out)
    note_latent: int         # the note's 512: d_c alone
    layer_bytes_none: float  # one layer's stored bytes, recompute none
    layer_bytes_latent: float  # the same layer, mla-latent
    attn_bytes_none: float   # its attention part (norm-free: projections' inputs, latents, q/k/v/out, core)
    attn_bytes_latent: float

    @property
    def kv_ratio(self) -> float:
        return self.expanded_kv / self.latent

    @property
    def note_ratio(self) -> float:
        return self.note_kv / self.note_latent

    @property
    def layer_ratio(self) -> float:
        return self.layer_bytes_none / self.layer_bytes_latent

    @property
    def attn_ratio(self) -> float:
        return self.attn_bytes_none / self.attn_bytes_latent

    def to_json(self) -> dict:
        return {"latent_elements": self.latent, "expanded_kv_elements": self.expanded_kv,
                "expanded_q_elements": self.expanded_q, "kv_ratio": self.kv_ratio,
                "note_kv_elements": self.note_kv, "note_latent_elements": self.note_latent,
                "note_ratio": self.note_ratio, "layer_bytes_none": self.layer_bytes_none,
                "layer_bytes_mla_latent": self.layer_bytes_latent, "layer_ratio": self.layer_ratio,
                "attention_bytes_none": self.attn_bytes_none, "attention_bytes_mla_latent": self.attn_bytes_latent,
                "attention_ratio": self.attn_ratio}


def latent_vs_expanded(spec: ModelSpec, cfg: ActivationConfig) -> LatentVsExpanded:
    """The note's comparison computed from the spec, and what it means for a whole (last, i.e. MoE) layer."""
    a = spec.attention
    if not family(a).latent_recompute:
        raise SpecError("attention.kind", f"the latent comparison needs an MLA model, not {a.kind}")
    layer = spec.num_layers - 1
    none = layer_activations(spec, layer, replace(cfg, recompute="none"))
    lat = layer_activations(spec, layer, replace(cfg, recompute="mla-latent"))
    return LatentVsExpanded(
        latent=a.kv_lora_rank + a.qk_rope_head_dim, expanded_kv=a.num_heads * (a.qk_head_dim + a.v_head_dim),
        expanded_q=a.num_heads * a.qk_head_dim, note_kv=a.num_heads * (a.qk_nope_head_dim + a.v_head_dim),
        note_latent=a.kv_lora_rank, layer_bytes_none=none.total, layer_bytes_latent=lat.total,
        attn_bytes_none=_attn_part(none), attn_bytes_latent=_attn_part(lat))


def _attn_part(la: LayerActivations) -> float:
    return la.attention + la.attention_core + la.mla
