"""Linear attention: Gated DeltaNet (Qwen3-Next) and Kimi Delta Attention (Kimi-Linear), the ``linear`` layers of
hybrid models. No KV cache: per sequence a constant state, whatever the context.

Per layer, for ``H_k`` key heads and ``H_v`` value heads of ``d_k`` and ``d_v`` dims (``key_dim = H_k d_k``,
``value_dim = H_v d_v``), a short convolution of width ``K`` over the ``conv_dim = 2 key_dim + value_dim``
channels of q, k and v:

- **state** per sequence (the KV part ``state``): the recurrent state, ``H_v d_k d_v`` elements (transformers
  ``qwen3_next``/``kimi_linear``: ``[num_v_heads, head_k_dim, head_v_dim]``) at ``dtypes.ssm_state`` (else
  ``dtypes.state``), and the convolution's last ``K - 1`` inputs, ``conv_dim (K - 1)`` elements at
  ``dtypes.state``, as serving engines keep them (vLLM ``mamba_utils.MambaStateShapeCalculator``: conv state
  ``(K - 1, conv_dim)``; transformers pads it to ``K`` columns). vLLM stores the convolution at
  ``mamba_cache_dtype`` and the recurrent state at ``mamba_ssm_cache_dtype``, both ``auto`` (the model dtype)
  unless a model's config hook says otherwise.
- **weights**: Gated DeltaNet (``modeling_qwen3_next.py``, ``Qwen3NextGatedDeltaNet``): ``in_proj_qkvz: d x
  (2 key_dim + 2 value_dim)``, ``in_proj_ba: d x 2 H_v``, the depthwise convolution ``conv_dim K``, ``A_log`` and
  ``dt_bias`` (``H_v`` each), a gated RMSNorm of ``d_v``, ``out_proj: value_dim x d``. KDA
  (``modeling_kimi_linear.py``, ``KimiDeltaAttention``): q, k, v projections, three depthwise convolutions
  (``conv_dim K``), ``b_proj: d x H``, low-rank forget and output gates ``f_a, g_a: d x d_k`` and ``f_b:
  d_k x key_dim``, ``g_b: d_k x value_dim``, ``A_log`` (``H``), ``dt_bias`` (``key_dim``), an output RMSNorm of
  ``d_v``, ``o_proj: value_dim x d``. TP splits the heads (the norms are replicated).
- **cost**: the projections, and the recurrence. Decode (the recurrent form of the delta rule, Yang et al.,
  "Gated Delta Networks", arXiv 2412.06464, eq. 10): per token and value head ``S k`` (``2 d_k d_v``), the
  rank-one update (``2 d_k d_v``), the decay (``d_k d_v``) and ``q S`` (``2 d_k d_v``): ``7 d_k d_v`` FLOPs,
  reading and writing the state once per step. Prefill (the chunkwise form, chunks of ``C = 64``): the same
  state terms plus the intra-chunk attention, ``2 C (d_k + d_v)`` per token and head; the state is written once.
- **training** (Gated DeltaNet; :meth:`Linear.saved_tensors`, :meth:`Linear.backward_phases`): per token and layer
  on one of ``t`` ranks (``h_k = H_k / t``, ``h_v = H_v / t``), bf16 unless said: the block input ``d`` (shared by
  both input projections), the convolution's input ``2 h_k d_k + h_v d_v``, ``beta`` ``h_v``, softplus's fp32 input
  and output ``2 h_v``, the chunk kernel's l2-normed q and k ``2 h_v d_k`` with fp32 rstds ``2 h_v``, v ``h_v d_v``,
  the fp32 gate cumsum ``h_v`` and the chunk inverse ``A`` ``64 h_v``, the gated norm's input, gate and fp32 rstd
  ``2 h_v d_v + h_v`` (fla's fused norm; under ``--attention-kernel eager`` transformers' eager norm, ``16 h_v d_v +
  4 h_v`` B), out_proj's input ``h_v d_v``. KDA is refused (:data:`UNTRAINED`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..costs import ACT_BYTES, FP32_BYTES, BackwardPhase, KVCache, OpCost, SavedTensor, grad_tensor, matmul
from ..errors import ArgError, SpecError
from .base import AttentionFamily, AttentionOps, StepShape

if TYPE_CHECKING:
    from ..spec import LinearAttention, ModelSpec

CHUNK = 64                      # chunk of the chunkwise prefill algorithm (flash-linear-attention's default)
STATE_FLOPS = 7                 # FLOPs per d_k d_v per token and value head in the recurrent update (see above)
# spec fields only some kinds take -> those kinds (a field set on another kind would change nothing: refused)
# kinds whose training memory is refused with a reason of their own (:meth:`Linear.check_training`)
UNTRAINED = {"kda": "training memory of KDA layers is not modelled: what flash-linear-attention's chunk_kda keeps for "
                    "backward (the per-channel gate and its cumsum, Aqk, Akk) changes between releases, and Moonshot's "
                    "and transformers' forwards differ (three convolutions or one, the gate in or out of the kernel)"}
KIND_FIELDS = {"proj_bias": ("mamba2", "mamba1", "short_conv"), "conv_bias": ("mamba2", "mamba1", "short_conv"),
               "chunk_size": ("mamba2", "lightning"), "dt_rank": ("mamba1",), "mixer_norms": ("mamba1",)}


def refuse_foreign_fields(b: "LinearAttention") -> None:
    """Refuse a field of :data:`KIND_FIELDS` set on a block of a kind that does not take it."""
    for name, kinds in KIND_FIELDS.items():
        if getattr(b, name) not in (None, False) and b.kind not in kinds:
            raise SpecError(f"linear_attention.{name}", f"only applies to kind {' or '.join(kinds)}, not {b.kind}")
    if not b.gated_norm and b.kind != "mamba2":      # a default-on switch: only Mamba-2's norm may be left out
        raise SpecError("linear_attention.gated_norm", f"only kind mamba2 may leave out its gated norm, not {b.kind}")


class Linear(AttentionFamily):
    name = "linear"
    kinds = ("gated_deltanet", "kda")

    def validate(self, b: "LinearAttention") -> None:
        refuse_foreign_fields(b)
        if b.num_v_heads % b.num_k_heads:
            raise SpecError("linear_attention.num_v_heads", f"({b.num_v_heads}) must be a multiple of "
                                                            f"num_k_heads ({b.num_k_heads})")
        if b.kind == "kda" and (b.num_v_heads != b.num_k_heads or b.head_k_dim != b.head_v_dim):
            raise SpecError("linear_attention", "kda has one head dim for q, k and v and as many value heads "
                                                "as key heads")

    def label(self, b) -> str:
        return "Gated DeltaNet" if b.kind == "gated_deltanet" else "KDA"

    def cache_parts(self, b, cache: str = "compressed") -> KVCache:
        """No per-token cache."""
        return KVCache()

    def cache_bytes(self, b, cache: str, kv_bits: float, kv_format: str | None = None) -> KVCache:
        return KVCache()

    def conv_channels(self, b: "LinearAttention") -> int:
        """Channels of the short convolution: q, k and v concatenated, ``conv_dim = 2 key_dim + value_dim``."""
        return 2 * b.key_dim + b.value_dim

    def state_elements(self, b: "LinearAttention") -> tuple[int, int]:
        """(recurrent, convolution) state elements per sequence and layer (see the module docstring)."""
        return b.num_v_heads * b.head_k_dim * b.head_v_dim, self.conv_channels(b) * (b.conv_kernel_size - 1)

    def state_bytes(self, b: "LinearAttention", state_bits: float, ssm_bits: float | None = None) -> KVCache:
        """Bytes of one sequence's state in one layer: the recurrent part at ``ssm_bits`` (default
        ``state_bits``), the convolution's at ``state_bits``."""
        recurrent, conv = self.state_elements(b)
        return KVCache(state=(recurrent * (state_bits if ssm_bits is None else ssm_bits) + conv * state_bits) / 8)

    def kv_groups(self, b, cache: str = "compressed") -> int:
        """The state splits over TP with the key heads (each rank keeps its heads' states)."""
        return b.num_k_heads

    def check_split(self, b, tp: int) -> None:
        if b.num_k_heads % tp:
            raise ArgError("tp", f"{tp} ranks cannot split {b.num_k_heads} linear-attention key heads "
                                 "(linear_attention.num_k_heads) evenly")

    def output_width(self, b) -> int:
        return b.value_dim

    def projections(self, b: "LinearAttention", hidden: int) -> dict[str, int]:
        d, conv = hidden, self.conv_channels(b) * b.conv_kernel_size
        if b.kind == "gated_deltanet":
            return {"in_proj_qkvz": d * (2 * b.key_dim + 2 * b.value_dim), "in_proj_ba": d * 2 * b.num_v_heads,
                    "conv": conv, "A_log": b.num_v_heads, "dt_bias": b.num_v_heads, "norm": b.head_v_dim,
                    "o": b.value_dim * d}
        return {"q": d * b.key_dim, "k": d * b.key_dim, "v": d * b.value_dim, "conv": conv,
                "b_proj": d * b.num_v_heads, "f_a": d * b.head_k_dim, "f_b": b.head_k_dim * b.key_dim,
                "g_a": d * b.head_k_dim, "g_b": b.head_k_dim * b.value_dim, "A_log": b.num_v_heads,
                "dt_bias": b.key_dim, "norm": b.head_v_dim, "o": b.value_dim * d}

    def projection_split(self, b, name: str) -> str:
        return "replicated" if name in ("norm", "f_a", "g_a") else "heads"

    def core_dims(self, b, form) -> tuple[int, int]:
        return b.head_k_dim, b.head_v_dim

    def core_cache_elements(self, b, form) -> float:
        return 0.0

    def input_width(self, b: "LinearAttention", hidden: int) -> float:
        """Output features of the input projections (one GEMM: every projection the recurrence reads)."""
        params = self.projections(b, hidden)
        return sum(v for k, v in params.items() if k not in ("o", "conv", "A_log", "dt_bias", "norm")) / hidden

    def conv_flops(self, b: "LinearAttention") -> float:
        """FLOPs per token of one layer's short depthwise convolution: a multiply-add per channel and tap."""
        return 2 * self.conv_channels(b) * b.conv_kernel_size

    def mixer_flops(self, b: "LinearAttention", prefill: bool) -> float:
        """FLOPs per token of one layer's recurrence over all heads, convolution apart (see the module
        docstring): ``7 d_k d_v`` a value head, plus ``2 C (d_k + d_v)`` of intra-chunk attention in prefill."""
        dk, dv = b.head_k_dim, b.head_v_dim
        return b.num_v_heads * (STATE_FLOPS * dk * dv + (2 * CHUNK * (dk + dv) if prefill else 0))

    def attention_ops(self, spec: "ModelSpec", s: StepShape) -> AttentionOps:
        """Input projections (one GEMM: every projection before the recurrence), the convolution and recurrence
        (``linear_core``: state read and written once a step), everything on this GPU's share of the heads."""
        b, d, L, Ta, hs = s.block, spec.hidden_size, s.layers, s.tokens, s.head_share
        ops = [matmul("linear_in_proj", Ta, d, self.input_width(b, d) * hs, s.wb, s.ab, L)]
        state = self.state_bytes(b, s.state_bits, s.ssm_state_bits).state
        state_bytes = state * hs * s.seqs * L                              # this GPU's heads, all sequences
        conv_flops = self.conv_flops(b)
        reads = state_bytes if s.prior > 0 else 0.0                       # a fresh sequence starts from zeros
        ops.append(OpCost("linear_core", "attention",
                          flops=Ta * L * hs * (self.mixer_flops(b, s.new > 1) + conv_flops),
                          act_bytes=Ta * L * (self.conv_channels(b) + b.value_dim) * hs * s.ab,
                          kv_bytes=reads + state_bytes, out_width=b.value_dim * hs, launches=2 * L))
        return AttentionOps(tuple(ops), self.norm_width(b) * hs, 1)

    def norm_width(self, b: "LinearAttention") -> float:
        """Elements per token the block's own norm normalises (all heads): the gated RMSNorm over every value
        head's output."""
        return b.value_dim

    # --- training (see the module docstring's "training" item) -------------------------------------------------

    trainable = ("gated_deltanet",)     # kinds of this family whose saved tensors are derived below

    def check_training(self, spec: "ModelSpec") -> None:
        """Refuse a kind whose training memory is not derived: KDA (what fla's ``chunk_kda`` keeps is not pinned,
        :data:`UNTRAINED`), and the families built on this one that do not say (Mamba-1, lightning, LFM2)."""
        b = spec.linear_attention
        if b.kind not in self.trainable:
            raise SpecError("linear_attention", UNTRAINED.get(
                b.kind, f"training memory of {self.label(b)} layers is not modelled (Gated DeltaNet's and "
                        "Mamba-2's are)"))

    def op_sac_ops(self, spec: "ModelSpec", cfg, b: "LinearAttention") -> list:
        """torchtitan's op-level SAC has no plan for a linear-attention block ``b`` (its mm outputs and kernel are not
        those the policy's ``_save_list`` names): refused, naming the block."""
        raise ArgError("recompute", f"op (torchtitan's op-level SAC) is modelled for mha/gqa/mqa attention, not "
                                    f"{b.kind} layers")

    def rank_heads(self, b: "LinearAttention", tp: int) -> tuple[int, int]:
        """(key heads, value heads) one of ``tp`` ranks holds: both split with the key heads (:meth:`check_split`;
        ``num_v_heads`` is a multiple of ``num_k_heads``), as :meth:`kv_groups` and the ``heads`` split of every
        projection say."""
        self.check_split(b, tp)
        return b.num_k_heads // tp, b.num_v_heads // tp

    def saved_tensors(self, spec: "ModelSpec", cfg, b: "LinearAttention") -> list[SavedTensor]:
        """What one Gated DeltaNet layer (block ``b``) keeps for backward on one GPU, for ``cfg.micro_batch`` sequences of
        ``cfg.seq_local`` tokens, ``h_k``/``h_v`` this rank's key/value heads (:meth:`rank_heads`).

        Modelled: transformers' ``Qwen3NextGatedDeltaNet.forward`` (Qwen3-Next; Qwen3.5's ``Qwen3_5GatedDeltaNet``
        is the same block) in the releases whose ``__init__`` builds flash-linear-attention's ``FusedRMSNormGated``
        when fla is importable (``self.norm = Qwen3NextRMSNormGated(...) if FusedRMSNormGated is None else
        FusedRMSNormGated(...)``; Qwen3-Next from 4.57), run with fla and causal-conv1d installed: the fast path of
        ``causal_conv1d_fn``, fla's ``chunk_gated_delta_rule`` and ``FusedRMSNormGated``. Those releases repeat q and
        k to the value heads for both models. Later releases (hub-kernel decorators, ``modular_qwen3_next.py``:
        ``@use_kernel_forward_from_hub("RMSNormGated")`` on ``Qwen3NextRMSNormGated``, ``self.norm =
        Qwen3NextRMSNormGated(...)`` always) still take fla's ``chunk_gated_delta_rule`` and causal-conv1d where
        installed, but run the eager gated norm unless the model is loaded with ``use_kernels=True``: that norm is
        modelled under ``cfg.kernel == "eager"`` (``--attention-kernel eager``), fla's under ``fused`` (the
        default). The layer keeps:

        - ``in_proj_qkvz`` and ``in_proj_ba`` keep their one input ``[b, s, d]`` (:meth:`ActivationConfig.
          linear_input`: the sequence shard under SP);
        - ``causal_conv1d_fn`` (Dao-AILab/causal-conv1d ``causal_conv1d_interface.py``, ``CausalConv1dFn``:
          ``ctx.save_for_backward(x, weight, bias, seq_idx, initial_states)``) keeps its input, the concatenated
          q, k, v of ``2 h_k d_k + h_v d_v`` channels; the SiLU is fused and recomputed;
        - ``beta = b.sigmoid()``: sigmoid keeps its output, the same tensor the kernel keeps as ``beta``;
        - ``g = -A_log.float().exp() * F.softplus(a.float() + dt_bias)``: softplus keeps its fp32 input, the product
          its fp32 output (for ``A_log``'s gradient); the ``[h_v]`` factor is left out (no token dimension);
        - ``chunk_gated_delta_rule(..., use_qk_l2norm_in_kernel=True)`` (fla-org/flash-linear-attention
          ``fla/ops/gated_delta_rule/chunk.py``, ``ChunkGatedDeltaRuleFunction.forward``: ``ctx.save_for_backward(q,
          q_rstd, k, k_rstd, v, g, beta, A, initial_state, cu_seqlens)``) keeps the l2-normed q and k at the value
          heads (transformers repeats q and k to ``h_v`` heads first; ``l2norm_fwd``: outputs in the input dtype,
          fp32 ``rstd`` a row, ``fla/modules/l2norm.py``), v (``input_guard``'s contiguous copy of the split view),
          the gate's chunk-local cumsum (``chunk_local_cumsum``, fp32 by default) and ``A``, the ``(I + A)^-1`` of
          each 64-token chunk (``solve_tril(..., output_dtype=k.dtype)``: ``[b, s, h_v, 64]`` at bf16). The chunk
          states ``h`` ``[b, s/64, h_v, d_k, d_v]``, ``w``, ``u`` and the new values are recomputed in backward
          (``chunk_gated_delta_rule_bwd``);
        - the gated norm (:meth:`gated_norm_tensors`), per head and token: under ``fused`` fla's
          ``FusedRMSNormGated`` keeps the kernel's output, the gate ``z`` and an fp32 rstd, ``4 d_v + 4`` B; under
          ``eager`` transformers' ``Qwen3NextRMSNormGated`` keeps fp32 and bf16 intermediates, ``16 d_v + 4`` B
          (a Qwen3-Next layer at b 1, s 4096: 192 MiB more);
        - ``out_proj`` keeps its input, the gated norm's output.

        Not modelled (each a per-head-and-token difference, ``d_v``/``d_k`` the head widths):

        - Qwen3.5 in the later releases under fla >= 0.5.0, which no longer repeats q and k
          (``Qwen3_5GatedDeltaNet``: ``repeat_qk_heads = ... and fla_needs_equal_qk_heads()``): the kernel keeps q,
          k and their rstds at ``h_k`` heads (``h_k / h_v`` of the above). Qwen3-Next repeats in every release;
        - no causal-conv1d: ``F.silu(self.conv1d(x)[..., :s])``, where conv1d keeps the same input and SiLU its
          input too (the convolution's output, ``2 h_k d_k + h_v d_v`` more channels).

        ``selective`` keeps all of these (Megatron-Core's selective recompute, ``recompute_modules`` ``core_attn``,
        checkpoints ``Attention``'s core alone; ``GatedDeltaNet.forward`` checkpoints nothing), ``full`` the layer
        input alone. The attention kernel option (``--attention-kernel``) picks the gated norm alone: transformers
        runs flash-linear-attention's chunk kernel and causal-conv1d whatever the softmax layers' kernel."""
        self.check_training(spec)
        n, sl, h = cfg.micro_batch, cfg.seq_local, spec.hidden_size
        hk, hv = self.rank_heads(b, cfg.tp)
        dk, dv = b.head_k_dim, b.head_v_dim
        tok, conv = (n, sl), 2 * hk * dk + hv * dv

        def t(name, shape, dims, nbytes, who, group="attention", drop=""):
            return SavedTensor(f"gdn.{name}", ("b", "s") + shape, tok + dims, nbytes, group, who, "tp", drop)

        core = "chunk_gated_delta_rule"
        return [cfg.linear_input("gdn.input", h, "attention", "in_proj_qkvz and in_proj_ba (one input)"),
                t("conv_input", ("2 h_k d_k + h_v d_v",), (conv,), ACT_BYTES, "causal_conv1d (its input)"),
                t("beta", ("h_v",), (hv,), ACT_BYTES, f"sigmoid's backward and {core} (one tensor)"),
                t("softplus_input", ("h_v",), (hv,), FP32_BYTES, "softplus (a + dt_bias, fp32)"),
                t("softplus_out", ("h_v",), (hv,), FP32_BYTES, "-exp(A_log) * softplus (A_log's gradient)"),
                t("q", ("h_v", "d_k"), (hv, dk), ACT_BYTES, f"{core} (l2-normed, at the value heads)"),
                t("q_rstd", ("h_v",), (hv,), FP32_BYTES, f"{core} (l2norm's rstd)", "attention_core"),
                t("k", ("h_v", "d_k"), (hv, dk), ACT_BYTES, f"{core} (l2-normed, at the value heads)"),
                t("k_rstd", ("h_v",), (hv,), FP32_BYTES, f"{core} (l2norm's rstd)", "attention_core"),
                t("v", ("h_v", "d_v"), (hv, dv), ACT_BYTES, f"{core} (a contiguous copy)"),
                t("g", ("h_v",), (hv,), FP32_BYTES, f"{core} (the gate's chunk-local cumsum)"),
                t("A", ("h_v", "C"), (hv, CHUNK), ACT_BYTES, f"{core} ((I + A)^-1 of each chunk)", "attention_core"),
                *self.gated_norm_tensors(b, cfg, hv),
                t("out_proj_input", ("h_v d_v",), (hv * dv,), ACT_BYTES, "out_proj")]

    def gated_norm_tensors(self, b: "LinearAttention", cfg, hv: int) -> list[SavedTensor]:
        """What the gated RMSNorm over each of this rank's ``hv`` value heads keeps, ``[b, s, h_v, ...]`` tensors for
        ``cfg.micro_batch`` sequences of ``cfg.seq_local`` tokens, by ``cfg.kernel``:

        - ``fused``: fla's ``FusedRMSNormGated`` (fla-org/flash-linear-attention ``fla/modules/fused_norm_gate.py``,
          ``LayerNormGatedFunction.forward``: ``ctx.save_for_backward(residual_out, g, weight, bias, mean, rstd)``,
          ``residual_out`` the input itself without a residual): its bf16 input (the chunk kernel's output) and
          gate ``z``, an fp32 rstd: ``4 d_v + 4`` B a head and token;
        - ``eager``: transformers' ``Qwen3NextRMSNormGated.forward`` (huggingface/transformers
          ``src/transformers/models/qwen3_next/modeling_qwen3_next.py``; the same body in ``modular_qwen3_next.py``
          and ``Qwen3_5RMSNormGated``) on ``[b s h_v, d_v]`` rows, bf16 in; what autograd keeps:

          - ``x = hidden_states.to(torch.float32)`` (``ToCopyBackward0`` keeps nothing, so neither does it the bf16
            input): ``x``, fp32 ``d_v``, kept by ``x.pow(2)`` (``PowBackward0``: self) and ``x * r``
            (``MulBackward0``: self), one tensor;
          - ``.mean(-1, keepdim=True)`` keeps shapes only, ``+ eps`` nothing; ``r = torch.rsqrt(...)``, fp32, one a
            head: kept by ``RsqrtBackward0`` (its result) and ``x * r``;
          - ``n = (x * r).to(input_dtype)``, bf16 ``d_v``: kept by ``self.weight * n`` (the weight's gradient);
          - ``y = self.weight * n``, bf16 ``d_v``: kept by ``y * silu(...)`` (the other factor's gradient);
          - ``zf = gate.to(torch.float32)``, fp32 ``d_v``: kept by ``F.silu`` (``SiluBackward0``: self);
          - ``sz = F.silu(zf)``, fp32 ``d_v``: kept by ``y * sz`` (``y``'s gradient); that product is fp32 (type
            promotion) and its ``.to(input_dtype)`` keeps nothing.

          ``x`` 4 + ``n`` 2 + ``y`` 2 + ``zf`` 4 + ``sz`` 4 = ``16 d_v`` B, and the 4 B rstd: ``16 d_v + 4`` B a
          head and token, ``12 d_v`` more than ``fused`` (the eager norm keeps no bf16 input or gate)."""
        tok, dv, who = (cfg.micro_batch, cfg.seq_local), b.head_v_dim, "the gated RMSNorm"

        def t(name, nbytes, what, head=True):
            shape, dims = (("h_v", "d_v"), (hv, dv)) if head else (("h_v",), (hv,))
            return SavedTensor(f"gdn.{name}", ("b", "s") + shape, tok + dims, nbytes, "attention", f"{who} ({what})",
                               "tp")

        rstd = t("norm_rstd", FP32_BYTES, "one rstd a head", head=False)
        if cfg.kernel == "fused":
            return [t("out", ACT_BYTES, "its input: the kernel's output"), t("z", ACT_BYTES, "its gate"), rstd]
        return [t("norm_x", FP32_BYTES, "eager: the input's fp32 cast, for pow and x * rstd"), rstd,
                t("norm_n", ACT_BYTES, "eager: x * rstd cast back, for the weight's gradient"),
                t("norm_y", ACT_BYTES, "eager: weight * n, for the gate product"),
                t("z", FP32_BYTES, "eager: the gate's fp32 cast, for silu"),
                t("norm_silu_z", FP32_BYTES, "eager: silu(gate), fp32, for the gate product")]

    def backward_phases(self, spec: "ModelSpec", cfg, b: "LinearAttention", held: tuple,
                        gone: frozenset) -> list[BackwardPhase]:
        """The instants of one Gated DeltaNet block ``b``'s backward on one GPU, in PyTorch's order (see
        :func:`mlacalc.activations.backward_phases`), ``held`` the gradients alive throughout (the residual's) and
        ``gone`` the layer's tensors already freed:

        - ``gdn.out_proj``: out_proj's input gradient and weight gradient;
        - ``gdn.norm``: the gated norm's backward writes the kernel output's and ``z``'s gradients (``z``'s waits for
          the qkvz split's backward, after the convolution's);
        - ``gdn.core``, ``chunk_gated_delta_rule_bwd`` (``fla/ops/gated_delta_rule/chunk.py``) at its widest, in
          ``prepare_wy_repr_bwd``: alive are the recomputed ``w``, ``u`` (``recompute_w_u_fwd``), the chunk states
          ``h`` and new values (``chunk_gated_delta_rule_fwd_h``: ``k.new_empty(B, NT, H, K, V)``), ``dv`` and
          ``dh`` (``chunk_gated_delta_rule_bwd_dhu``, ``dh`` a chunk state each), ``dq``, ``dk``, ``dw`` and an fp32
          ``dg`` (``chunk_bwd_dqkwg``), and ``prepare_wy_repr_bwd``'s ``dk``, ``dv``, ``db`` and fp32 ``dg``, all at
          the value heads and the input dtype but the two ``dg``;
        - ``gdn.conv``: ``causal_conv1d``'s backward, the q/k/v gradient in and its input's gradient out;
        - ``gdn.in_proj``: the qkvz split's gradient, ``in_proj_qkvz``'s weight gradient and the two projections'
          partial input gradients.

        Per-head scalars between the instants (``d beta``, the gate's fp32 gradients) are left out, and so are the
        eager gated norm's fp32 gradient intermediates (``--attention-kernel eager``): ``gdn.norm`` is the fused
        norm's instant under either kernel; the eager norm's saved tensors are freed after it all the same."""
        n, sl, st, h = cfg.micro_batch, cfg.seq_local, cfg.seq_tokens, spec.hidden_size
        hk, hv = self.rank_heads(b, cfg.tp)
        dk, dv = b.head_k_dim, b.head_v_dim
        tok, conv, chunks = (n, sl), 2 * hk * dk + hv * dv, -(-sl // CHUNK)

        def g(name, shape, dims, who, nbytes=ACT_BYTES):
            return grad_tensor(f"grad.gdn.{name}", ("b", "s") + shape, tok + dims, who, "tp", nbytes)

        def state(name, who):
            return grad_tensor(f"grad.gdn.{name}", ("b", "s/C", "h_v", "d_k", "d_v"), (n, chunks, hv, dk, dv), who)

        d_y = g("out_proj_input", ("h_v d_v",), (hv * dv,), "out_proj's backward")
        w_o = grad_tensor("grad.gdn.W_out", ("h_v d_v", "h"), (hv * dv, h), "out_proj's weight gradient")
        d_o = g("out", ("h_v", "d_v"), (hv, dv), "the gated norm's backward (the kernel's do)")
        d_z = g("z", ("h_v", "d_v"), (hv, dv), "the gated norm's backward (held for the qkvz split)")
        k_, v_ = (("h_v", "d_k"), (hv, dk)), (("h_v", "d_v"), (hv, dv))
        work = (g("w", *k_, "recompute_w_u_fwd"), g("u", *v_, "recompute_w_u_fwd"),
                state("h", "chunk_gated_delta_rule_fwd_h (recomputed chunk states)"),
                g("v_new", *v_, "chunk_gated_delta_rule_fwd_h"), g("dv", *v_, "chunk_gated_delta_rule_bwd_dhu"),
                state("dh", "chunk_gated_delta_rule_bwd_dhu"), g("dq", *k_, "chunk_bwd_dqkwg"),
                g("dk", *k_, "chunk_bwd_dqkwg"), g("dw", *k_, "chunk_bwd_dqkwg"),
                g("dg", ("h_v",), (hv,), "chunk_bwd_dqkwg (fp32)", FP32_BYTES), g("dk2", *k_, "prepare_wy_repr_bwd"),
                g("dv2", *v_, "prepare_wy_repr_bwd"), g("db", ("h_v",), (hv,), "prepare_wy_repr_bwd"),
                g("dg2", ("h_v",), (hv,), "prepare_wy_repr_bwd (fp32)", FP32_BYTES))
        d_conv_out = g("conv_out", ("2 h_k d_k + h_v d_v",), (conv,), "the q/k/v split's backward")
        d_conv_in = g("conv_input", ("2 h_k d_k + h_v d_v",), (conv,), "causal_conv1d's backward")
        width = 2 * hk * dk + 2 * hv * dv
        d_qkvz = g("qkvz", ("2 h_k d_k + 2 h_v d_v",), (width,), "the qkvz split's backward")
        w_in = grad_tensor("grad.gdn.W_qkvz", ("2 h_k d_k + 2 h_v d_v", "h"), (width, h), "in_proj_qkvz's weight "
                                                                                            "gradient")
        d_in = grad_tensor("grad.gdn.input", ("b", "s", "h"), (n, st, h), "in_proj_qkvz's and in_proj_ba's backward "
                                                                          "(partial input gradients)", "sp")
        after_out = gone | {"gdn.out_proj_input"}
        after_norm = after_out | {t.name for t in self.gated_norm_tensors(b, cfg, hv)}
        # the core's backward is the last user of every stored tensor but the two inputs (the convolution's, the block's)
        after_core = gone | {t.name for t in self.saved_tensors(spec, cfg, b)} - {"gdn.input", "gdn.conv_input"}
        return [BackwardPhase("gdn.out_proj", held + (d_y, w_o), gone),
                BackwardPhase("gdn.norm", held + (d_y, d_o, d_z), after_out),
                BackwardPhase("gdn.core", held + (d_z, d_o) + work, after_norm),
                BackwardPhase("gdn.conv", held + (d_z, d_conv_out, d_conv_in), after_core),
                BackwardPhase("gdn.in_proj", held + (d_qkvz, w_in, d_in, d_in), after_core | {"gdn.conv_input"})]


LINEAR_FAMILY = Linear()
