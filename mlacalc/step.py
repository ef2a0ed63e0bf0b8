"""Cost of one forward step, op by op, and its roofline time on a GPU.

For a step of ``new`` tokens per sequence over ``batch`` sequences that already hold ``prior`` tokens of cache
(prefill: ``prior = 0, new = S`` prompt tokens; decode: ``prior = C`` context, ``new = q`` tokens: 1, or k+1 with
multi-token prediction / speculative decoding), each op gets its FLOPs and the fewest HBM bytes it must move,
summed over layers and counted **per GPU**. The layout is the one of LLM-Viewer (Yuan et al., "LLM Inference
Unveiled: Survey and Roofline Model Insights", arXiv 2402.16363, section 3): one kernel per op that reads its
weights and inputs once and writes its outputs once; then ``time = max(FLOPs / peak, bytes / bandwidth)``
(Williams, Waterman, Patterson, "Roofline", CACM 2009), plus ``launches x kernel_launch_us`` when the hardware
spec gives a per-kernel launch cost (measured by ``mlacalc calibrate``; 0 in the datasheet specs).

Units: FLOPs (a multiply-add is 2), bytes, seconds. A matmul of ``m x k`` by ``k x n`` is ``2 m k n`` FLOPs.

Ops and their formulas (``T`` tokens in the step, ``d`` hidden, ``H`` query heads, ``L`` layers):

- Attention projections, the cache write and the core: the spec's attention family
  (:mod:`mlacalc.attention.conventional`: one ``qkv_proj``, or with a low-rank query (Step-3's MFA) ``q_down``,
  ``q_up`` and ``kv_proj``; :mod:`mlacalc.attention.mla`: ``q_down``, ``q_up``,
  ``kv_down``, then the **absorbed** form (decode default: ``q_absorb``, core over the latent, ``v_up``) or the
  **decompressed** form (prefill default: ``kv_up``, then MHA)). ``o_proj``: ``2 T H d_v d``; with
  ``attention.o_bias`` its bias of ``d`` read too (whole on each rank, at >= 16 bits).
- ``attn_core`` (scores and weighted values, summed over layers): ``2 H P (d_k + d_v)`` per sequence, where ``P``
  counts attended (query, key) pairs: token ``i`` of the step attends ``prior + i + 1`` keys (causal; in prefill
  that halves ``S^2`` to ``S (S + 1) / 2``), capped as :mod:`mlacalc.attention.keys` says (windows). Bytes: the query
  in, the output out, and the keys/values of every attended token read once (the cache, at the KV dtype).
  Absorbed MLA: ``d_k = d_c + d_rope``, ``d_v = d_c``.
- ``kv_write``: the new tokens' cache entries (read from the projection output, written at the KV dtype).
- ``embed``: each token's row of the embedding table (its rank's share under TP), and of the learned position table
  where there is one (``position_embeddings``: GPT-2's wpe, whole on every rank).
- ``norms``: every RMSNorm (two per layer, MLA's latent norms, Qwen3's q/k norms, the final norm, BLOOM's norm on the
  embeddings), 4 FLOPs per element (square, sum, scale, weight). Weights read: ``norm_vectors`` vectors of ``d`` for
  each layer norm, the embeddings' and the final norm (a LayerNorm's bias beside its weight; none for OLMo-1's), the
  family's own norms' weights as they are.
- ``ffn`` (gated: ``2 T 3 d f``; with ``ffn.mlp_bias`` its biases read too, this GPU's share of the up projection's
  and the down projection's whole, at >= 16 bits as the q/k/v biases; their adds are fused, no FLOPs), MoE
  ``router`` (``2 T d E``), ``experts`` (``2 T k 3 d f_e``) and ``shared_experts``. Expert weights read: the experts
  the step touches. With ``T`` tokens each routed to ``k`` of ``E`` experts uniformly and independently, an expert is
  missed by one token with probability ``1 - k/E``, so ``E (1 - (1 - k/E)^T)`` distinct experts are read
  (:func:`touched_experts`). LatentMoE (``ffn.expert_latent_size`` l, Nemotron 3 Super): the experts run at model
  width l (``2 T k 2 l f_e`` non-gated), and ``latent_proj`` projects each token down before them and up after their
  combine, ``2 T 2 d l`` FLOPs, its two ``d x l`` weights whole on every GPU (vLLM ``nemotron_h.py``:
  ReplicatedLinear ``fc1_latent_proj``/``fc2_latent_proj``; the router and the shared experts read the full-width
  input); an all-to-all sends the tokens at width l (Megatron-Core ``moe_layer.py``: ``fc1_latent_proj`` before
  ``dispatch``, ``fc2_latent_proj`` after ``combine``; vLLM's MoERunner applies ``routed_input_transform`` before its
  dispatch).
- ``lm_head``: logits for the tokens that need them (prefill: the last token per sequence; decode: all ``q``); a
  ``head_bias`` read beside the matrix (vocabulary-split, at >= 16 bits).
- Residual extras (``residual_extras``, Gemma-3n; :func:`residual_ops`): ``per_layer_embed`` (the per-layer
  table's rows looked up, ``L p`` values a token) and ``residual`` (AltUp, LAuReL, per-layer-input GEMMs); their
  vectors are priced with ``norms``. Layers that read another layer's K/V project queries only, so k/v weights a
  checkpoint stores on them (``attention.reader_kv_weights``) are not read.
- ``comm``: bytes each GPU sends over the interconnect (below), of which ``a2a_bytes`` in the MoE's all-to-all
  under data-parallel attention with EP. A group larger than one NVLink domain (``--tp 16`` on 8-GPU boards) sends
  them at the network's rate (:meth:`mlacalc.hardware.Hardware.collective_bytes_s`).

Kernel launches (``OpCost.launches``, summed over layers; they cost time only with a hardware ``kernel_launch_us``):
one kernel per op per layer (projections, ``kv_write``, ``q_absorb``, ``v_up``, ``kv_up``, the router), one per
norm, two per FFN (gate and up with the activation fused into one GEMM, then down; grouped GEMMs for experts),
one for ``embed`` and ``lm_head``. ``attn_core``: in decode two per layer, the split-KV kernel and the kernel that
combines its partial outputs by their log-sum-exp (FlashDecoding; the project's Triton kernels, which launch one
when a single split suffices); in prefill one (FlashAttention). Collectives: two per layer, each costing the
hardware's ``collective_latency_us`` (0 in the datasheet specs; measured by ``mlacalc calibrate --gpus N``).

Parallelism over ``n = tp`` GPUs (:class:`mlacalc.parallel.Parallelism`; ``pp``, ``dp``, ``cp`` and ``sp`` are
refused, not ignored: a step of one TP/EP group is what this models):

- Tensor parallel (default): head-indexed projections, attention heads, FFN widths and the vocabulary split
  ``n`` ways; MLA's ``q_down``/``kv_down``, the router and all norms are replicated (vLLM's ReplicatedLinear).
  Each GPU reads its share of the KV cache (:meth:`Parallelism.kv_share`): **all** of the MLA latent,
  since it belongs to no head. Two all-reduces per layer (after attention, after the FFN; one where each layer
  holds one block, as Nemotron-H's do; three with parallel mixers, Falcon-H1's attention and Mamba-2 each reducing
  its own output: :attr:`ModelSpec.num_blocks`) of ``T d`` activations, ring algorithm:
  each GPU sends ``2 (n-1)/n T d`` bytes per all-reduce.
- Data-parallel attention (``dp_attention``): each GPU runs all heads for ``ceil(B / n)`` sequences with full
  attention weights; the FFN/MoE stays split over the group, reached by an all-gather and a reduce-scatter
  (``2 (n-1)/n T d`` bytes per FFN layer), or with ``ep > 1`` an all-to-all dispatch and combine of the ``T k / n``
  token-expert pairs a GPU holds (``(n-1)/n (T/n) k d`` values each way per MoE layer: :func:`moe_a2a_bytes`). The
  combine returns bf16 (2 bytes a value); the dispatch sends bf16 too, unless the routed experts are fp8
  block-quantized (W8A8, DeepSeek-V3's checkpoint): then DeepEP sends fp8 e4m3 values with one fp32 scale per 128,
  ``1 + 4/128`` bytes a value (:func:`dispatch_bytes_per_value`). With the all-to-all each GPU routes
  and runs the shared experts on its own ``ceil(B / n)`` sequences' tokens, the shared experts whole on every GPU
  (SGLang's ``DeepseekV2MoE`` under DeepEP: ``tp_size=1``; :attr:`Parallelism.shared_expert_tp`).
- The vocabulary's two collectives, charged to the ops that need them (``comm_bytes`` of ``embed`` and ``lm_head``,
  timed at the interconnect on top of the op's own roofline): a vocab-split embedding (TP) all-reduces the rows
  its ranks looked up (vLLM's and SGLang's ``VocabParallelEmbedding``: ``2 (n-1)/n T d`` bytes; none under
  dp-attention, where each rank holds the whole table), and the vocab-split head all-gathers its logits in both
  layouts (``LogitsProcessor``: ``(n-1)/n T_h V`` bytes at the activation dtype). They were left out: gpt-oss-120b's
  decode under TP 4 sends 50% more than its layers' all-reduces (a vocabulary of 201,088 against d = 2,880).
- Expert parallel (``ep`` ranks, dividing ``n``): each GPU holds ``E / ep`` whole experts and runs ``T k / n``
  token-expert pairs in expectation: the same FLOPs as TP-split experts; it reads the touched experts among
  its own (``touched / ep`` of the expert weights; ``touched / n`` at ``ep = n``, as TP-split experts).

Dtypes: activations bf16. Weights at the widths :mod:`mlacalc.params` stores each component in
(:func:`~mlacalc.params.bytes_per_weight`: the weight dtype, embedding, head, router and norms at >= 16 bits; a
checkpoint's ``quantization`` block at its bits per value, scales included, for the components it lists). GEMMs
run at the fp8 rate when weights are fp8 (W8A8, as DeepSeek-V3 serves), otherwise at the bf16 rate (narrower
weights are dequantised: W4A16). The attention core runs at the bf16 rate (an fp8 cache is dequantised on load).
Norms run on the CUDA cores (the fp32 rate).

Not modelled: softmax, RoPE, activation functions and residual adds as separate FLOPs (they are fused into
neighbouring kernels or tiny); collective latency (the alpha term: it matters for small decode batches), and
launch latency unless the hardware spec gives it (above), overlap of communication with compute (times are summed),
load imbalance between experts or between sequences of unequal length, MTP draft-module cost and speculative acceptance
rate (``q`` tokens are all accepted), the naive (decompressed) MLA cache, pipeline parallelism, L2 cache reuse, and
achievable fractions of peak (use a calibrated hardware file from ``mlacalc calibrate`` for measured rates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .attention import StepShape, attention_span, family, layer_groups, layer_rules, rules_span  # noqa: F401
from .costs import ACT_BITS, OpCost, matmul
from .expected import (PLANNERS, Accuracy, DecodeShape, attention_accuracy, coefficient_basis, cuda_fp8_accuracy,
                       cuda_fp8_decode_s, cuda_fp8_runs, decode_attention_s, decode_backend, gemm_s, kernel_model,
                       other_s, prefill_attention_s, runs_gluon)
from .errors import ArgError, show
from .hardware import Hardware
from .kv import kv_element_bits
from .parallel import Parallelism
from .spec import ModelSpec, Quantization
from .params import (FP32_BITS, HIGH_PRECISION_BITS, bytes_per_weight, hyper_connection_params, kept_projections,
                     residual_params)

PHASES = ("prefill", "decode")
SUPPORTED = ("tp", "ep", "dp_attention")     # degrees the step model covers (one TP/EP group)
NORM_FLOPS_PER_ELEMENT = 4      # RMSNorm: x*x, sum, x*rsqrt, *weight
# The most query rows (sequences x query tokens x query heads) one decode step may have: 2**27 is a batch of a
# million sequences at 128 heads, far past any server, so a larger step is a typo (a fuzzed --batch 2**50), refused
# in one line. (It also bounded the expected time's walk over the kernel's waves, which prices full waves at once
# since.)
MAX_DECODE_ROWS = 2**27


def max_heads(spec: ModelSpec) -> int:
    """Query heads of the widest attention block (the full layers', or the sliding layers' own shape; with
    ``attention.layer_heads``, ``attention.num_heads`` is the most of any layer); 1 for a model without attention (a
    state-space model: one row a token)."""
    if spec.attention is None:
        return 1
    return max(spec.attention.num_heads, spec.sliding_attention.num_heads)


def step_form(spec: ModelSpec, mla_form: str | None, phase: str) -> str | None:
    """The attention's computation form for ``phase`` (:meth:`AttentionFamily.resolve_form`); a model without
    attention has none, and refuses one given."""
    if spec.attention is None:
        if mla_form is not None:
            raise ArgError("mla_form", f"applies to MLA only; {spec.name} has no attention layer")
        return None
    return family(spec.attention).resolve_form(mla_form, phase)


def decode_rows(spec: ModelSpec, batch: int, q_tokens: int) -> int:
    """Query rows of one decode step: sequences x query tokens x query heads (of the widest attention block)."""
    return batch * q_tokens * max_heads(spec)


def check_step_size(spec: ModelSpec, step: Step) -> None:
    """Refuse a decode step too large to price (:data:`MAX_DECODE_ROWS`), naming ``q_tokens`` or ``batch``."""
    if step.phase != "decode":
        return
    heads = max_heads(spec)
    rows = decode_rows(spec, step.batch, step.q_tokens)
    if rows > MAX_DECODE_ROWS:
        name = "q_tokens" if step.q_tokens * heads > MAX_DECODE_ROWS else "batch"
        raise ArgError(name, f"{step.batch:,} sequences x {step.q_tokens:,} query token(s) x {heads:,} heads = "
                             f"{rows:,} query rows in one decode step; at most {MAX_DECODE_ROWS:,}")


# ---------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One forward step. ``context``: prompt tokens S in prefill, tokens already cached C in decode. ``paged``: the
    cache is paged (its blocks found through a block table, as vLLM, SGLang and FlashMLA keep it), which the decode
    kernels' expected time prices (mlacalc.expected, ``paged_ramp_us``); memory is counted alike (``kv
    --block-size`` rounds the allocation)."""

    phase: str
    batch: int
    context: int
    q_tokens: int = 1
    paged: bool = False

    def __post_init__(self):
        if not isinstance(self.phase, str) or self.phase not in PHASES:
            raise ArgError("phase", f"must be one of {', '.join(PHASES)}, got {show(self.phase)}")
        for name in ("batch", "context", "q_tokens"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ArgError(name, f"must be a whole number of at least 1, got {show(v)}")
        if self.phase == "prefill" and self.q_tokens != 1:
            # `roofline --phase prefill --q-tokens 4` priced the prompt and dropped the 4 without a word
            raise ArgError("q_tokens", f"applies to decode only (a prefill step runs the whole --context prompt), "
                                       f"got {self.q_tokens} with phase prefill")
        if not isinstance(self.paged, bool):
            raise ArgError("paged", f"must be true or false, got {show(self.paged)}")
        if self.paged and self.phase == "prefill":
            raise ArgError("paged", "applies to decode only (the prefill kernels' time is priced without a page table)")

    @property
    def prior(self) -> int:
        """Tokens already in each sequence's cache before the step."""
        return 0 if self.phase == "prefill" else self.context

    @property
    def new(self) -> int:
        """Tokens per sequence this step processes."""
        return self.context if self.phase == "prefill" else self.q_tokens

    @property
    def head_tokens(self) -> int:
        """Tokens per sequence that need logits: the last prompt token in prefill, all q in decode."""
        return 1 if self.phase == "prefill" else self.q_tokens


def default_mla_form(phase: str) -> str:
    """MLA's default form for ``phase`` (absorbed in decode, decompressed in prefill)."""
    return family("mla").default_form(phase)


# ---------------------------------------------------------------------------------------------------------
# Costs
# ---------------------------------------------------------------------------------------------------------

def touched_experts(num_experts: int, experts_per_token: int, tokens: float) -> float:
    """Expected distinct experts hit when ``tokens`` tokens each pick ``experts_per_token`` of ``num_experts``
    uniformly at random (without replacement per token, independently across tokens).

    One token misses a given expert with probability ``1 - k/E`` (``C(E-1, k) / C(E, k)``), so the expected
    number hit is ``E (1 - (1 - k/E)^T)``. Real routers are not uniform; this is the balanced-load case that
    auxiliary-loss-free balancing (DeepSeek-V3 report, section 2.1.2) aims at.
    """
    if tokens <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - experts_per_token / num_experts) ** tokens)


# DeepEP's fp8 dispatch (deep_ep/buffer.py, Buffer.dispatch and low_latency_dispatch(use_fp8=True)): the tokens go as
# float8_e4m3fn [tokens, hidden] with float32 scales [tokens, hidden // 128]
DISPATCH_FP8_BYTES = 1              # e4m3: one byte a value
DISPATCH_SCALE_BYTES = 4            # one fp32 scale ...
DISPATCH_SCALE_BLOCK = 128          # ... per 128 values of a token (DeepEP's and vLLM's DEEPEP_QUANT_BLOCK_SIZE)


def dispatch_bytes_per_value(quantization: Quantization | None) -> float:
    """Bytes per hidden value each token-expert pair carries in the MoE all-to-all's dispatch.

    fp8 block-quantized routed experts (``quantization.method`` ``fp8-block`` listing ``routed_experts``: W8A8 with
    128-wide activation blocks, as DeepSeek-V3 and Kimi-K2 ship): fp8 e4m3 values and one fp32 scale per 128,
    ``1 + 4/128 = 1.03125`` bytes. DeepEP sends that tuple (``deep_ep/buffer.py``: ``dispatch`` takes ``x`` as
    ``(float8_e4m3fn [tokens, hidden], float [tokens, hidden // 128])``; ``low_latency_dispatch(use_fp8=True)``
    casts in the kernel and returns the same pair); vLLM turns it on when the experts' activations are fp8 in
    128-blocks (``use_fp8_dispatch = quant_dtype == fp8 and act_quant_block_size[1] == DEEPEP_QUANT_BLOCK_SIZE``,
    fused_moe/layer.py; deepep_ll_prepare_finalize.py), SGLang whenever its DeepEP output dtype is fp8
    (token_dispatcher/deepep.py: ``sglang_per_token_group_quant_fp8(hidden_states, 128)`` before the normal
    dispatch, ``use_fp8=self.use_fp8`` for the low-latency one). Anything else (bf16 experts, per-tensor fp8,
    ``--weight-dtype`` overriding the checkpoint, 4-bit experts): the activation dtype, bf16 (2 bytes).
    Blackwell's packed UE8M0 scales (1 byte per 128) and NVFP4 dispatch are not modelled."""
    q = quantization
    if q is not None and q.method == "fp8-block" and "routed_experts" in q.components:
        return DISPATCH_FP8_BYTES + DISPATCH_SCALE_BYTES / DISPATCH_SCALE_BLOCK
    return ACT_BITS / 8


@dataclass(frozen=True)
class A2ABytes:
    """Bytes one GPU sends in the MoE all-to-all of a step, by direction (their sum: :attr:`total`)."""

    dispatch: float       # tokens to their experts' ranks, at dispatch_bytes_per_value
    combine: float        # expert outputs back to their tokens' ranks, bf16

    @property
    def total(self) -> float:
        return self.dispatch + self.combine


def moe_a2a_bytes(pairs: float, hidden: int, layers: int, ranks: int,
                  quantization: Quantization | None = None) -> A2ABytes:
    """Bytes one GPU sends in the dispatch and the combine of ``layers`` MoE layers, for the ``pairs`` token-expert
    pairs it holds (``T k / n``): ``(n-1)/n`` of them leave the GPU (uniform routing over ``ranks`` EP ranks), each
    ``hidden`` values, at :func:`dispatch_bytes_per_value` out and bf16 (2 bytes) back: DeepEP's combine takes and
    returns ``torch.bfloat16`` (``low_latency_combine``: "x ... with torch.bfloat16")."""
    sent = layers * (ranks - 1) / ranks * pairs * hidden            # values that leave the GPU, each way
    return A2ABytes(dispatch=sent * dispatch_bytes_per_value(quantization), combine=sent * ACT_BITS / 8)


def attention_rules(spec: ModelSpec) -> tuple[tuple[object, tuple], ...]:
    """(block, ((layers, KeyRule), ...)) per attention block (linear layers left out): the spec's attention over
    all its attention layers (:func:`layer_rules`), or, where the sliding layers have a shape of their own
    (``attention.sliding_shape``) or layers have heads of their own (``attention.layer_heads``), each block over its
    own layers (:func:`mlacalc.attention.layer_groups`)."""
    if spec.attention is None:
        return ()
    if spec.uniform_attention:
        return ((spec.attention, layer_rules(spec)),)
    out: dict[int, tuple] = {}
    for _, block, rules in layer_groups(spec):
        if block is spec.linear_attention:
            continue
        b, old = out.get(id(block), (block, ()))
        out[id(block)] = (b, old + rules)
    return tuple(out.values())


def attn_core_cost(spec: ModelSpec, seqs: int, prior: int, new: int, *, head_share: float = 1.0,
                   kv_share: float = 1.0, form: str | None = None, kv_bits: float = 16,
                   launches_per_layer: float = 0.0, parallel: Parallelism | None = None) -> OpCost:
    """The attention core of the spec's attention layers on one GPU for ``seqs`` sequences (the family's
    :meth:`core_cost`): ``head_share`` of the heads, ``kv_share`` of each token's KV, computed in ``form``. With
    ``parallel``, each attention block's KV share is its own (``Parallelism.kv_share`` of its KV heads: the
    sliding layers' 8 KV heads split over 8 ranks where the full layers' 4 are replicated); the blocks' costs are
    summed. Units: FLOPs and HBM bytes, summed over the attention layers (an :class:`OpCost`)."""
    parts = []
    for a, rules in attention_rules(spec):
        ks = kv_share if parallel is None else parallel.kv_share(family(a).kv_groups(a))
        s = StepShape(block=a, rules=rules, seqs=seqs, prior=prior, new=new, heads=a.num_heads * head_share,
                      head_share=head_share, kv_share=ks, layers=sum(n for n, _ in rules), wb=0.0, hb=0.0,
                      ab=ACT_BITS / 8, kb=kv_bits / 8, kv_bits=kv_bits, form=form, core_launches=launches_per_layer)
        parts.append(family(a).core_cost(spec, s))
    return merge_ops(parts)[0]


def merge_ops(ops: list[OpCost]) -> list[OpCost]:
    """Ops of the same name (one per layer group) summed into one row, in first-seen order."""
    out: dict[str, OpCost] = {}
    for o in ops:
        p = out.get(o.name)
        out[o.name] = o if p is None else p._replace(
            flops=p.flops + o.flops, weight_bytes=p.weight_bytes + o.weight_bytes, act_bytes=p.act_bytes + o.act_bytes,
            kv_bytes=p.kv_bytes + o.kv_bytes, comm_bytes=p.comm_bytes + o.comm_bytes,
            a2a_bytes=p.a2a_bytes + o.a2a_bytes,
            out_width=max(p.out_width, o.out_width), launches=p.launches + o.launches, exps=p.exps + o.exps)
    return list(out.values())


def moe_width(spec: ModelSpec) -> int:
    """The model width the routed experts run at, and their tokens travel at in an all-to-all: ``hidden_size``, or
    ``ffn.expert_latent_size`` (LatentMoE)."""
    latent = spec.ffn.expert_latent_size
    return spec.hidden_size if latent is None else latent


def _ffn(name: str, tokens: float, d: int, width: float, gated: bool, wb: float, ab: float, layers: int,
         weight_fraction: float = 1.0, rows: float | None = None) -> OpCost:
    """An FFN of ``width`` on ``tokens``: ``2 T m d f`` FLOPs (m = 3 gated, else 2). Bytes: the input, the
    activated intermediate written and read back once (activation fused into the first GEMM), the output, and
    ``weight_fraction`` of its weights. Two launches per layer (gate/up with the activation, then down)."""
    m = 3 if gated else 2
    return OpCost(name, "matmul", flops=2 * tokens * m * d * width * layers,
                  weight_bytes=m * d * width * wb * weight_fraction * layers,
                  act_bytes=tokens * (2 * d + 2 * width) * ab * layers, out_width=d, launches=2 * layers,
                  rows=tokens if rows is None else rows)


def _shares(spec: ModelSpec, parallel: Parallelism, batch: int, block=None) -> tuple[int, float, float]:
    """(sequences through this GPU's attention, share of query heads, share of each token's KV) on one GPU,
    for ``block`` (default: the spec's attention)."""
    a = spec.attention if block is None else block
    seqs = parallel.sequences_per_rank(batch)
    return seqs, 1.0 / parallel.attention_tp, parallel.kv_share(family(a).kv_groups(a))


def step_ops(spec: ModelSpec, step: Step, parallel: Parallelism = Parallelism(), *, mla_form: str | None = None,
             weight_bits: float | None = None, kv_bits: float | None = None) -> tuple[OpCost, ...]:
    """Every op of one forward step on one GPU (see module docstring for each formula)."""
    f, d, L = spec.ffn, spec.hidden_size, spec.num_layers
    parallel.check(spec).require("the roofline", SUPPORTED)
    form = step_form(spec, mla_form, step.phase)
    wbits = spec.dtypes.weight_bits if weight_bits is None else weight_bits
    kbits = kv_element_bits(spec) if kv_bits is None else kv_bits     # dtypes.kv, its layout's scales included
    ab, kb = ACT_BITS / 8, kbits / 8
    hb = max(wbits, HIGH_PRECISION_BITS) / 8                # biases
    # each component streams at the width it is stored in (--weight-dtype overrides the checkpoint's quantization):
    # gpt-oss's MXFP4 experts, an MLX checkpoint's 4.5-bit head, a quantization block under dtypes.weights: bf16
    width = bytes_per_weight(wbits, spec.quantization if weight_bits is None else None)
    wb, eb = width.attention, width.routed_experts
    head_b = width.embed if spec.tie_word_embeddings else width.head
    n = parallel.tp
    B, prior, new = step.batch, step.prior, step.new
    T = B * new                                           # tokens in the step, over the whole group
    seqs = parallel.sequences_per_rank(B)
    Ta = seqs * new                                       # tokens through attention on this GPU
    ops: list[OpCost] = []

    vocab_share = 1.0 if parallel.dp_attention else 1.0 / n
    ring = (n - 1) / n
    embed_comm = 0.0 if parallel.dp_attention else 2 * ring * Ta * d * ab     # all-reduce of the looked-up rows
    embed_rows = Ta * d * width.embed * vocab_share
    if spec.position_embeddings:        # each token's row of the learned position table too (whole on every rank)
        embed_rows += Ta * d * width.embed
    ops.append(OpCost("embed", "memory", weight_bytes=embed_rows, act_bytes=Ta * d * ab,
                      comm_bytes=embed_comm, out_width=d, launches=1))
    ops.extend(residual_ops(spec, Ta, width.per_layer_embed, width.residual, ab, n))
    ops.extend(hyper_connection_ops(spec, Ta, ab))
    core_launches = 2 if step.phase == "decode" else 1     # split-KV + combine in decode; one kernel in prefill

    # --- attention, per group of layers with the same block: the family's projections, cache write and core,
    # then o_proj; groups' ops of the same name are summed
    attn_ops: list[OpCost] = []
    # norms_per_layer a layer; with ffn.layer_widths half of them a block the layer holds (Nemotron-NAS)
    norms = spec.norms_per_layer * L if spec.layer_widths is None else sum(spec.layer_norms(i) for i in range(L))
    norm_width = norms * d                                  # elements per token: the block norms of every layer ...
    norm_count = norms
    for count, block, rules in layer_groups(spec):
        fam = family(block)
        _, hs, kv_share = _shares(spec, parallel, B, block)
        shape = StepShape(block=block, rules=rules, seqs=seqs, prior=prior, new=new,
                          heads=getattr(block, "num_heads", 0) * hs, head_share=hs, kv_share=kv_share, layers=count,
                          wb=wb, hb=hb, ab=ab, kb=kb, kv_bits=kbits, form=form if fam.forms else None,
                          core_launches=core_launches, state_bits=spec.dtypes.state_bits,
                          ssm_state_bits=spec.dtypes.ssm_state_bits, ranks=parallel.attention_tp,
                          # projections kept unquantized stream at hb, as weights stores them (none under
                          # --weight-dtype: every matrix at it)
                          kept=kept_projections(spec, block) if weight_bits is None else frozenset())
        attn = fam.attention_ops(spec, shape)
        attn_ops.extend(attn.ops)
        # o_proj's bias (attention.o_bias: GPT-2's c_proj, Phi's dense, gpt-oss's o_proj) whole on every rank and read
        # beside the weight, at >= 16 bits as the q/k/v biases (vLLM RowParallelLinear adds it on rank 0 after the
        # reduction); a linear-attention block has none
        o_bias = d * hb if getattr(block, "o_bias", False) else 0.0
        attn_ops.extend(fam.output_ops(spec, shape, o_bias))
        norm_width += attn.norm_width * count               # ... and the family's (latent norms, q/k norms)
        norm_count += attn.norm_count * count
    attn_ops = merge_ops(attn_ops)
    ops.extend(o for o in attn_ops if o.name != "o_proj")
    ops.extend(o for o in attn_ops if o.name == "o_proj")

    res = residual_params(spec)          # the residual extras' vectors (AltUp's scale and router norm, ...)
    norm_width += res.vectors * L + res.model_vectors
    norm_count += (res.vectors // d) * L + (1 if res.model_vectors else 0)
    if spec.embedding_norm:              # BLOOM's word_embeddings_layernorm: one more norm of d, on the embeddings
        norms += 1
        norm_width += d
        norm_count += 1
    norm_elems = Ta * (norm_width + d)
    # weights: the block norms (norms x d), the embeddings' one and the final one (d) hold norm_vectors vectors of d
    # each, not one
    norm_weights = norm_width + d + (norms * d + d) * (spec.norm_vectors - 1)
    ops.append(OpCost("norms", "vector", flops=NORM_FLOPS_PER_ELEMENT * norm_elems, act_bytes=2 * norm_elems * ab,
                      weight_bytes=norm_weights * width.norms, out_width=d, launches=norm_count + 1))

    # --- FFN / MoE: all T tokens of the group, widths or experts split n ways
    Ld, Lm = spec.num_dense_layers, spec.num_moe_layers
    if Ld:
        # ffn.layer_widths (Nemotron-NAS, a dense FFN): the layers' mean width. Every term of _ffn is linear in
        # width x layers, so Ld layers of the mean are the layers at their own widths, summed
        mean = f.intermediate_size if spec.layer_widths is None else sum(spec.layer_widths) / Ld
        ffn = _ffn("ffn", T, d, mean / n, f.gated, width.dense_ffn, ab, Ld)
        if f.mlp_bias:       # this GPU's share of the up (and gate) biases, the down bias whole, read as q/k/v's are
            m = 3 if f.gated else 2
            ffn = ffn._replace(weight_bytes=ffn.weight_bytes + ((m - 1) * mean / n + d) * hb * Ld)
        ops.append(ffn)
    if Lm:
        E, k = f.num_experts, f.experts_per_token
        # tokens this GPU routes and runs the shared experts on: its own under an all-to-all (DeepEP), else all T
        Tm = Ta if parallel.moe_a2a else T
        ops.append(OpCost("router", "matmul", flops=2 * Tm * d * E * Lm, weight_bytes=d * E * width.router * Lm,
                          act_bytes=Tm * (d + E) * ab * Lm, out_width=E, launches=Lm, rows=Tm))
        touched = touched_experts(E, k, T)
        de = moe_width(spec)          # the experts' model width: d, or LatentMoE's l
        if f.expert_latent_size is not None:     # d -> l before the experts, l -> d after, on every rank (replicated)
            ops.append(OpCost("latent_proj", "matmul", flops=2 * Tm * 2 * d * de * Lm,
                              weight_bytes=2 * d * de * width.latent_proj * Lm,
                              act_bytes=Tm * 2 * (d + de) * ab * Lm, out_width=de, launches=2 * Lm, rows=Tm))
        if parallel.ep > 1:   # E/ep whole experts per GPU, T k / n token-expert pairs in expectation
            experts = _ffn("experts", T * k / n, de, f.expert_intermediate_size, f.gated, eb, ab, Lm,
                           weight_fraction=touched / parallel.ep, rows=T * k / max(touched, 1e-9))
        else:           # every expert split n ways, all T k pairs
            experts = _ffn("experts", T * k, de, f.expert_intermediate_size / n, f.gated, eb, ab, Lm,
                           weight_fraction=touched, rows=T * k / max(touched, 1e-9))
        ops.append(experts)
        if f.num_shared_experts:
            ops.append(_ffn("shared_experts", Tm, d, f.num_shared_experts * f.shared_width / parallel.shared_expert_tp,
                            f.gated, width.shared_experts, ab, Lm))

    Th = B * step.head_tokens
    head_bias = spec.vocab_size / n * hb if spec.head_bias else 0.0     # vocabulary-parallel, as the head
    ops.append(OpCost("lm_head", "matmul", flops=2 * Th * d * spec.vocab_size / n,
                      weight_bytes=spec.vocab_size * d * head_b / n + head_bias,
                      act_bytes=Th * (d + spec.vocab_size / n) * ab,
                      comm_bytes=ring * Th * spec.vocab_size * ab,                 # all-gather of the logits
                      out_width=spec.vocab_size / n, launches=1, rows=Th))

    # --- communication of the layers (bytes each GPU sends; see module docstring)
    if n > 1:
        a2a = 0.0
        if not parallel.dp_attention:
            blocks = spec.num_blocks                                      # attention and FFN: two a layer
            comm = blocks * (2 * ring * T * d * ab)                       # one all-reduce per block
            collectives = blocks
        else:
            moe_ep = Lm if parallel.moe_a2a else 0
            comm = (Ld + Lm - moe_ep) * 2 * ring * T * d * ab             # all-gather + reduce-scatter
            k = f.experts_per_token if Lm else 0                          # (a model without an FFN: none)
            a2a = moe_a2a_bytes(T / n * k, moe_width(spec) if Lm else d, moe_ep, n,   # all-to-all dispatch + combine
                                spec.quantization if weight_bits is None else None).total
            comm += a2a
            collectives = 2 * (Ld + Lm)                                   # around each FFN layer
        # collectives: two per layer in every layout above, one per layer where a layer holds one block (their
        # latency: hardware collective_latency_us); the all-to-all's bytes apart (across nodes: the network's rate)
        ops.append(OpCost("comm", "comm", comm_bytes=comm, launches=collectives, a2a_bytes=a2a))
    return tuple(ops)


def hyper_connection_ops(spec: ModelSpec, tokens: float, ab: float) -> list[OpCost]:
    """Manifold-Constrained Hyper-Connections on one GPU (``hyper_connections`` n > 1: DeepSeek-V4; transformers
    ``DeepseekV4HyperConnection.forward`` and ``DeepseekV4DecoderLayer.forward``) for ``tokens`` tokens; [] without.
    Before each of a layer's two sublayers: the n streams' norm and their mapping ``n d -> (2 + n) n`` (``2 n d (2 +
    n) n`` FLOPs), the Sinkhorn iterations on the ``n x n`` mix (negligible), the collapse into the sublayer's input
    (``2 n d``); after it, the streams mixed and the output added (``2 n^2 d + 2 n d``). Once before the head, the
    collapse ``n d -> n`` and its sum. Every replica on every rank (the mappings are replicated). Weights fp32 once;
    activations: the n streams read twice and written once a sublayer (``3 n d``, at the activation width)."""
    n, d, L = spec.hyper_connections, spec.hidden_size, spec.num_layers
    if n == 1:
        return []
    mix = (2 + n) * n
    layer, head = hyper_connection_params(spec)
    flops_sub = 2 * n * d * mix + 2 * n * d + 2 * n * n * d + 2 * n * d
    flops = tokens * (2 * L * flops_sub + 2 * n * d * n + 2 * n * d)
    return [OpCost("hyper_connections", "vector", flops=flops, weight_bytes=(layer * L + head) * FP32_BITS / 8,
                   act_bytes=tokens * (2 * L * 3 + 2) * n * d * ab, out_width=d, launches=2 * L + 1)]


def residual_ops(spec: ModelSpec, tokens: float, table_b: float, wb: float, ab: float, tp: int) -> list[OpCost]:
    """The residual extras' ops on one GPU (Gemma-3n: transformers ``Gemma3nTextModel.forward`` and
    ``Gemma3nTextDecoderLayer.forward``; :class:`mlacalc.spec.ResidualExtras`) for ``tokens`` tokens; [] without them.
    ``d`` hidden, ``L`` layers, ``K`` AltUp streams, ``r`` LAuReL rank, ``p`` per-layer input width.

    - ``per_layer_embed``: each token's row of the per-layer table, ``L p`` values read at ``table_b`` bytes and
      written at the activation width (a lookup, as ``embed``).
    - ``residual``: per layer and token, AltUp's router twice (``predict`` on the active stream, ``correct`` on the
      layer's output: ``2 x 2 d K``), its coefficients (``2 K^3`` prediction, ``2 K^2`` correction), the prediction's
      mix of the K streams (``2 d K^2``) and the correction (``2 d K``); LAuReL ``4 d r``; the per-layer gate and
      projection ``4 d p``; per token once, AltUp's projections into and out of the K - 1 extra streams
      (``2 x 2 (K - 1) d^2``) and ``per_layer_model_projection`` (``2 d L p``). Weights: every matrix once. Activations,
      each kernel reading its inputs and writing its outputs once: AltUp ``4 K d + d`` a layer (the K streams into
      and out of ``predict``, and into ``correct`` with the layer output, and its K corrected streams out), LAuReL
      ``2 d``, the per-layer input ``2 d + p + 2 (K - 1) d`` (the gate's input, the row, the projection out, added
      to the K - 1 streams), and once ``4 (K - 1) d + d + 2 L p``.

    Tensor parallelism is refused: vLLM's LAuReL is a row-parallel pair with an all-reduce of its own and the
    per-layer and AltUp projections gather their outputs, collectives this step does not price."""
    r = spec.residual_extras
    if r is None:
        return []
    if tp > 1:
        raise ArgError("tp", f"the step's cost of {spec.name}'s residual extras (AltUp, LAuReL, per-layer inputs) "
                             "under tensor parallelism is not modelled (their collectives); use tp 1")
    d, L, K, rank, p = spec.hidden_size, spec.num_layers, r.altup_inputs, r.laurel_rank, r.per_layer_input_size
    alt = K > 1
    res = residual_params(spec)
    flops_layer = (4 * d * K + 2 * K ** 3 + 2 * K * K + 2 * d * K * K + 2 * d * K if alt else 0) + 4 * d * rank + \
        4 * d * p
    flops_model = 4 * (K - 1) * d * d + 2 * d * L * p
    act_layer = (4 * K * d + d if alt else 0) + (2 * d if rank else 0) + (2 * d + p + 2 * (K - 1) * d if p else 0)
    act_model = 4 * (K - 1) * d + (d + 2 * L * p if p else 0)
    launches = L * ((4 if alt else 0) + (2 if rank else 0) + (2 if p else 0)) + 2 * (K - 1) + (1 if p else 0)
    ops = []
    if p:
        ops.append(OpCost("per_layer_embed", "memory", weight_bytes=tokens * L * p * table_b,
                          act_bytes=tokens * L * p * ab, out_width=L * p, launches=1))
    ops.append(OpCost("residual", "matmul", flops=tokens * (flops_layer * L + flops_model),
                      weight_bytes=(res.matrices * L + res.first + res.last) * wb,
                      act_bytes=tokens * (act_layer * L + act_model) * ab, out_width=d, launches=launches,
                      rows=tokens))
    return ops


# ---------------------------------------------------------------------------------------------------------
# Roofline
# ---------------------------------------------------------------------------------------------------------

def gemm_bits(weight_bits: float) -> int:
    """Operand width the GEMMs run at: fp8 weights run fp8 GEMMs (W8A8); others run bf16 (or fp32 above 16)."""
    if weight_bits == 8:
        return 8
    return 32 if weight_bits > 16 else 16


class OpTime(NamedTuple):
    """An op with its roofline time on one GPU (a NamedTuple for speed, like :class:`OpCost`)."""

    op: OpCost
    peak_flops_s: float
    time_s: float
    bound: str                 # compute | memory | interconnect
    expected_s: float = 0.0    # kernel-aware expected time (mlacalc.expected); 0 until expect_ops sets it

    def to_json(self) -> dict:
        o = self.op
        return {"name": o.name, "flops": o.flops, "bytes": o.bytes, "intensity": o.intensity,
                "time_s": self.time_s, "expected_s": self.expected_s, "bound": self.bound,
                "weight_bytes": o.weight_bytes,
                "act_bytes": o.act_bytes, "kv_bytes": o.kv_bytes, "comm_bytes": o.comm_bytes, "launches": o.launches}


def time_ops(ops: tuple[OpCost, ...], hw: Hardware, weight_bits: float, kv_bits: float = 16,
             gpus: int = 1) -> tuple[OpTime, ...]:
    """``time = max(flops / peak, bytes / bandwidth) + launches x kernel_launch_us`` per op, in seconds (the
    launch term is 0 unless the hardware spec gives ``kernel_launch_us``, measured by ``mlacalc calibrate``);
    comm ops take ``comm_bytes / interconnect + collectives x collective_latency_us`` (the latency term is 0 unless
    the hardware spec gives it: ``mlacalc calibrate --gpus N`` measures it). ``bound`` says which of the two roofline
    terms is larger. ``gpus``: the group the collectives run over; beyond one NVLink domain they run at the network's
    rate (:meth:`Hardware.collective_bytes_s`; the ``a2a_bytes`` of ``comm``, the MoE's all-to-all, as an
    all-to-all)."""
    bw = hw.mem_bandwidth_bytes_s
    launch_s = hw.kernel_launch_us * 1e-6
    peaks = {"matmul": hw.flops_per_s(gemm_bits(weight_bits)), "attention": hw.flops_per_s(32 if kv_bits > 16 else 16),
             "indexer": hw.flops_per_s(8) or hw.flops_per_s(16),
             "vector": hw.fp32_tflops * 1e12, "memory": hw.fp32_tflops * 1e12, "comm": 0.0}
    out = []
    for o in ops:
        if o.kind == "comm":   # alpha-beta: each collective's latency plus its bytes at the bus bandwidth
            ring = o.comm_bytes - o.a2a_bytes
            t = (ring / hw.collective_bytes_s(gpus) + o.a2a_bytes / hw.collective_bytes_s(gpus, all_to_all=True)
                 + o.launches * hw.collective_latency_us * 1e-6)
            out.append(OpTime(o, 0.0, t, "interconnect"))
            continue
        peak = peaks[o.kind]
        tc, tm = o.flops / peak, (o.weight_bytes + o.act_bytes + o.kv_bytes) / bw
        extra = o.launches * launch_s + op_link_s(o, hw, gpus)
        out.append(OpTime(o, peak, tc + extra, "compute") if tc > tm else OpTime(o, peak, tm + extra, "memory"))
    return tuple(out)


def op_link_s(o: OpCost, hw: Hardware, gpus: int = 1) -> float:
    """Seconds a non-``comm`` op spends in its collectives, one a launch (the embedding's all-reduce, the logits'
    all-gather: one launch each; Mamba-1's ``x_proj`` all-reduce: one a layer) over ``gpus`` GPUs: ``comm_bytes`` at
    the interconnect (the network beyond one NVLink domain: :meth:`Hardware.collective_bytes_s`) plus one
    ``collective_latency_us`` a launch; 0 for an op that sends nothing."""
    if not o.comm_bytes:
        return 0.0
    return o.comm_bytes / hw.collective_bytes_s(gpus) + o.launches * hw.collective_latency_us * 1e-6


def decode_shape(spec: ModelSpec, step: Step, parallel: Parallelism, form: str | None,
                 kv_bits: float) -> DecodeShape | None:
    """The decode attention core of the spec's attention layers on one GPU, as mlacalc.expected prices it
    (None in prefill, or with no attention layers). A spec whose sliding layers have a shape of their own has one
    per block: :func:`decode_shapes`."""
    shapes = decode_shapes(spec, step, parallel, form, kv_bits)
    if len(shapes) > 1:
        raise ArgError("model", f"{spec.name} has {len(shapes)} attention shapes (attention.sliding_shape or "
                                "attention.layer_heads): one decode shape per block, from decode_shapes")
    return shapes[0] if shapes else None


def decode_shapes(spec: ModelSpec, step: Step, parallel: Parallelism, form: str | None,
                  kv_bits: float) -> tuple[DecodeShape, ...]:
    """The decode attention core on one GPU, one :class:`DecodeShape` per attention block with layers (the full
    and the sliding layers apart where ``attention.sliding_shape`` gives the latter their own heads: each block is
    its own kernel launch over its own KV heads); () in prefill."""
    if step.phase != "decode":
        return ()
    out = []
    for a, block_rules in attention_rules(spec):
        fam = family(a)
        rules = fam.core_rules(a, block_rules)
        layers = sum(n for n, _ in rules)
        if not layers:
            continue
        groups_total = fam.kv_groups(a) or 1
        groups = parallel.kv_groups_per_rank(fam.kv_groups(a))
        heads = parallel.heads_per_rank(a.num_heads)
        pairs, _ = rules_span(rules, step.prior, step.new)
        slots = sum(n * rule.slots(step.prior, step.new) for n, rule in rules)
        dk, dv = fam.core_dims(a, form)
        out.append(DecodeShape(seqs=parallel.sequences_per_rank(step.batch), rows=max(1, step.new * heads // groups),
                               kv_groups=groups, keys=pairs / (layers * step.new),
                               key_bytes=fam.core_cache_elements(a, form) / groups_total * kv_bits / 8, dkv=dk + dv,
                               out_dv=dv, layers=layers, key_elems=fam.core_cache_elements(a, form) / groups_total,
                               kernel=fam.kernel, tokens=step.new, gathered=any(r.topk is not None for _, r in rules),
                               slots=slots / (layers * step.new), paged=step.paged))
    return tuple(out)


def expect_ops(times: tuple[OpTime, ...], hw: Hardware, backend: str, shapes: tuple[DecodeShape, ...],
               weight_bits: float, kv_bits: float, prompt: int = 0, gpus: int = 1,
               cuda_fp8: bool = True) -> tuple[OpTime, ...]:
    """Each op's kernel-aware expected time (:mod:`mlacalc.expected`): decode attention by the split-KV model of
    ``backend`` (summed over ``shapes``, one per attention block: :func:`decode_shapes`), or the CUDA fp8 kernel's
    where it runs (``cuda_fp8``: whether it can run at all; the profiler says no where it cannot be built), GEMMs by
    the GEMM model, the rest at the other ops' efficiencies; communication as the floor."""
    attn_m, gemm_m, other_m = kernel_model(hw, backend), kernel_model(hw, "gemm"), kernel_model(hw, "other")
    prefill_m = kernel_model(hw, "sdpa")
    out = []
    for t in times:
        o = t.op
        if o.kind == "comm":
            e = t.time_s
        elif o.name == "attn_core" and shapes:
            e = 0.0
            for sh in shapes:
                own = decode_backend(backend, sh.kernel)
                if cuda_fp8 and cuda_fp8_runs(sh, hw, own):      # impl auto's CUDA fp8 kernel (<= 32 rows, sm_90)
                    e += cuda_fp8_decode_s(sh, hw)
                    continue
                e += decode_attention_s(sh, hw, attn_m if own == backend else kernel_model(hw, own),
                                        hw.flops_per_s(32 if kv_bits > 16 else 16), PLANNERS.get(own, "waves"),
                                        runs_gluon(own, hw))
        elif o.name == "attn_core":     # prefill: causal FlashAttention's dots and exponentials, whole diagonal tiles
            e = prefill_attention_s(o.flops, o.exps, o.bytes, o.launches, prompt, hw, prefill_m, t.peak_flops_s)
        elif o.kind == "matmul":
            e = gemm_s(o.flops, o.bytes, o.rows, o.launches, hw, gemm_m, t.peak_flops_s)
        else:
            e = other_s(o.flops, o.bytes, o.launches, hw, other_m, t.peak_flops_s)
        if o.kind != "comm":
            e += op_link_s(o, hw, gpus)     # the op's own collective (embed, lm_head), at the floor's rate
        out.append(t._replace(expected_s=max(e, t.time_s)))
    return tuple(out)


@dataclass(frozen=True)
class AttentionBound:
    """Where the attention core sits against the GPU's ridge point (FLOP/byte at the bf16 rate; Williams, Waterman,
    Patterson, "Roofline", CACM 2009)."""

    intensity: float              # attn_core FLOP per HBM byte
    ridge: float                  # peak bf16 FLOP/s / HBM bytes/s
    heads_per_gpu: float          # query heads (a count) on one GPU
    q_tokens_for_compute_bound: int | None   # smallest q (decode) that makes attn_core compute-bound; None if > 4096

    @property
    def bound(self) -> str:
        return "compute" if self.intensity > self.ridge else "memory"

    def to_json(self) -> dict:
        return {"intensity": self.intensity, "ridge": self.ridge, "bound": self.bound,
                "heads_per_gpu": self.heads_per_gpu, "q_tokens_for_compute_bound": self.q_tokens_for_compute_bound}


def attention_bound(spec: ModelSpec, hw: Hardware, step: Step, parallel: Parallelism = Parallelism(), *,
                    mla_form: str | None = None, kv_bits: float | None = None) -> AttentionBound:
    """Arithmetic intensity of ``attn_core`` and the fewest decode query tokens that make it compute-bound.

    Batch does not move it: each sequence reads its own cache, so FLOPs and bytes both scale with batch. What
    moves it is query heads per GPU sharing one cache read (GQA group size; all heads for absorbed MLA, which
    TP divides) and query tokens per sequence (``q`` with MTP/speculation). Absorbed MLA decode:
    ``I ~ 2 H' q (2 d_c + d_r) / ((d_c + d_r) kv_bytes)``.
    """
    a = spec.attention
    kbits = kv_element_bits(spec) if kv_bits is None else kv_bits     # dtypes.kv, its layout's scales included
    form = family(a).resolve_form(mla_form, step.phase)
    _, hs, kv_share = _shares(spec, parallel, step.batch)
    ridge = hw.ridge_point(32 if kbits > 16 else 16)

    def intensity(prior: int, new: int) -> float:
        return attn_core_cost(spec, 1, prior, new, head_share=hs, kv_share=kv_share, form=form,
                              kv_bits=kbits, parallel=None if spec.uniform_attention else parallel).intensity

    here = intensity(step.prior, step.new)
    need = None
    if step.phase == "decode":
        lo, hi = 1, 1
        while intensity(step.context, hi) <= ridge and hi <= 4096:
            lo, hi = hi, hi * 2
        if hi <= 4096:
            while lo < hi:                      # smallest q with intensity > ridge
                mid = (lo + hi) // 2
                if intensity(step.context, mid) > ridge:
                    hi = mid
                else:
                    lo = mid + 1
            need = hi
    return AttentionBound(intensity=here, ridge=ridge, heads_per_gpu=a.num_heads * hs, q_tokens_for_compute_bound=need)


@dataclass(frozen=True)
class Roofline:
    """One step's ops timed on one GPU of the group, with totals and throughput. Units: FLOPs, HBM bytes and
    interconnect bytes per GPU (``total_*``: the sum of the ops'), seconds (``*_s``), tokens/s (``*tokens_per_s*``);
    the formulas are the module docstring's (LLM-Viewer's layout, arXiv 2402.16363, timed by the roofline)."""

    model: str
    attention: str
    gpu: Hardware
    step: Step
    parallel: Parallelism
    mla_form: str | None
    weight_bits: float
    kv_bits: float
    ops: tuple[OpTime, ...]
    attn: AttentionBound | None
    kernel: str = "auto"          # the backend whose coefficients price the expected time
    caveats: tuple = ()           # the spec's excluded and warnings (ModelSpec.caveats), for --json
    cuda_fp8: bool = False        # the decode core runs impl auto's CUDA fp8 kernel (mlacalc.expected.cuda_fp8_runs)

    @property
    def total_flops(self) -> float:
        return sum(t.op.flops for t in self.ops)

    @property
    def total_bytes(self) -> float:
        return sum(t.op.bytes for t in self.ops)

    @property
    def total_comm_bytes(self) -> float:
        return sum(t.op.comm_bytes for t in self.ops)

    @property
    def time_s(self) -> float:
        """Step time: op times summed (no overlap between ops)."""
        return sum(t.time_s for t in self.ops)

    @property
    def expected_time_s(self) -> float:
        """Kernel-aware expected step time (:mod:`mlacalc.expected`): op times summed, never below the floor."""
        return sum(t.expected_s for t in self.ops)

    @property
    def expected_time_per_output_token_s(self) -> float:
        return self.expected_time_s / self.step.q_tokens if self.step.phase == "decode" else self.expected_time_s

    @property
    def expected_tokens_per_s(self) -> float:
        """As :attr:`tokens_per_s`, at the expected step time."""
        return self.tokens_per_s * self.time_s / self.expected_time_s

    @property
    def expected_tokens_per_s_per_gpu(self) -> float:
        return self.expected_tokens_per_s / self.parallel.tp

    @property
    def coefficients(self) -> str:
        """Where the expected time's coefficients come from."""
        basis = coefficient_basis(self.gpu, self.kernel, self.kv_bits if self.step.phase == "decode" else 16,
                                  self.step.phase)
        if self.cuda_fp8:
            basis += ("; the attention core on the CUDA fp8 kernel, its own time constants (fitted on an H100: "
                      "mlacalc.expected.CUDA_FP8_FIXED_US, CUDA_FP8_STREAM_EFF, CUDA_FP8_FIXED_US_2, CUDA_FP8_CYCLES_PER_KEY_2)")
        return basis

    @property
    def attn_accuracy(self) -> Accuracy | None:
        """How far the attention core's expected time has been from measurements for this kind of attention and
        backend (mlacalc.expected.ATTENTION_ACCURACY, or for the CUDA fp8 kernel its own held-out figures:
        mlacalc.expected.cuda_fp8_accuracy, the built-in H100 SXM card only); None where nothing was measured."""
        if self.cuda_fp8:
            return cuda_fp8_accuracy(self.gpu)
        return attention_accuracy(self.gpu, self.kernel, self.attention, self.step.phase)

    @property
    def output_tokens(self) -> int:
        """Tokens the step emits over the group: B q in decode, B (the first token) in prefill."""
        return self.step.batch * self.step.head_tokens

    @property
    def time_per_output_token_s(self) -> float:
        """Decode: step time / q (each sequence gets q tokens per step). Prefill: time to first token."""
        return self.time_s / self.step.q_tokens if self.step.phase == "decode" else self.time_s

    @property
    def tokens_per_s(self) -> float:
        """Decode: output tokens/s of the whole group. Prefill: prompt tokens/s of the whole group."""
        processed = self.output_tokens if self.step.phase == "decode" else self.step.batch * self.step.context
        return processed / self.time_s

    @property
    def tokens_per_s_per_gpu(self) -> float:
        return self.tokens_per_s / self.parallel.tp

    @property
    def bandwidth_util(self) -> float:
        """HBM bytes moved / (bandwidth x step time)."""
        return self.total_bytes / self.gpu.mem_bandwidth_bytes_s / self.time_s

    @property
    def compute_util(self) -> float:
        """FLOPs / (GEMM peak x step time)."""
        return self.total_flops / self.gpu.flops_per_s(gemm_bits(self.weight_bits)) / self.time_s

    def time_by_bound(self) -> dict:
        out = {"compute": 0.0, "memory": 0.0, "interconnect": 0.0}
        for t in self.ops:
            out[t.bound] += t.time_s
        return out

    def op(self, name: str) -> OpTime:
        return next(t for t in self.ops if t.op.name == name)

    def to_json(self) -> dict:
        s, lay = self.step, self.parallel
        return {
            "model": self.model, "attention": self.attention, "gpu": self.gpu.name, "phase": s.phase,
            "batch": s.batch, "context": s.context, "q_tokens": s.q_tokens, "paged": s.paged, "tp": lay.tp,
            "dp_attention": lay.dp_attention, "ep": lay.ep, "parallel": lay.as_dict(), "mla_form": self.mla_form,
            "weight_bits": self.weight_bits, "kv_bits": self.kv_bits, "per_gpu": True,
            "ops": [t.to_json() for t in self.ops],
            "total": {"flops": self.total_flops, "bytes": self.total_bytes, "comm_bytes": self.total_comm_bytes,
                      "time_s": self.time_s},
            "time_by_bound_s": self.time_by_bound(),
            "expected": {"time_s": self.expected_time_s,
                         "time_per_output_token_s": self.expected_time_per_output_token_s,
                         "tokens_per_s": self.expected_tokens_per_s,
                         "tokens_per_s_per_gpu": self.expected_tokens_per_s_per_gpu, "kernel": self.kernel,
                         "coefficients": self.coefficients,
                         "attn_core_accuracy": self.attn_accuracy.to_json() if self.attn_accuracy else None},
            "time_per_output_token_s": self.time_per_output_token_s, "tokens_per_s": self.tokens_per_s,
            "tokens_per_s_per_gpu": self.tokens_per_s_per_gpu, "bandwidth_util": self.bandwidth_util,
            "compute_util": self.compute_util, "attn_core": self.attn.to_json() if self.attn else None,
            **{k: list(v) for k, v in self.caveats},
        }


def roofline(spec: ModelSpec, hw: Hardware, step: Step, parallel: Parallelism = Parallelism(), *,
             mla_form: str | None = None, weight_bits: float | None = None, kv_bits: float | None = None,
             analyse_attention: bool = True, kernel: str = "auto", cuda_fp8: bool = True) -> Roofline:
    """Time one forward step on ``hw`` (one GPU of the ``parallel.tp`` group): the roofline floor of each op and
    its kernel-aware expected time with ``kernel``'s coefficients (:mod:`mlacalc.expected`).
    ``analyse_attention=False`` skips the search in :func:`attention_bound` (sweeps). ``cuda_fp8=False``: the CUDA
    fp8 kernel cannot run where this is timed (no nvcc: auto runs Triton there)."""
    check_step_size(spec, step)
    wbits = spec.dtypes.weight_bits if weight_bits is None else weight_bits
    kbits = kv_element_bits(spec) if kv_bits is None else kv_bits     # dtypes.kv, its layout's scales included
    form = step_form(spec, mla_form, step.phase)
    ops = step_ops(spec, step, parallel, mla_form=form, weight_bits=weight_bits, kv_bits=kbits)  # None: checkpoint's
    shapes = decode_shapes(spec, step, parallel, form, kbits)
    times = expect_ops(time_ops(ops, hw, wbits, kbits, gpus=parallel.tp), hw, kernel, shapes, wbits, kbits,
                       prompt=step.new if step.phase == "prefill" else 0, gpus=parallel.tp, cuda_fp8=cuda_fp8)
    return Roofline(model=spec.name, attention=spec.mixer_kind, gpu=hw, step=step, parallel=parallel,
                    mla_form=form, weight_bits=wbits, kv_bits=kbits, ops=times,
                    attn=attention_bound(spec, hw, step, parallel, mla_form=form, kv_bits=kbits)
                    if analyse_attention and spec.attention is not None else None, kernel=kernel,
                    caveats=spec.caveats,
                    cuda_fp8=cuda_fp8 and any(cuda_fp8_runs(sh, hw, decode_backend(kernel, sh.kernel))
                                              for sh in shapes))
