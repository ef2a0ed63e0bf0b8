"""Mamba-1 (Gu and Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", arXiv 2312.00752): the
state-space layers of Jamba (between its attention layers), Falcon-Mamba and Mamba, sized as a linear-attention
block. No KV cache: per sequence a constant state.

Spec fields (:class:`mlacalc.spec.LinearAttention` of kind ``mamba1``), Mamba-2's duality with one channel a head
(the Mamba-2 paper, arXiv 2405.21060, section 7.2: Mamba-1 is the case of head dimension 1, its A diagonal rather
than scalar): ``H = num_v_heads = d_inner`` channels (``intermediate_size``, ``mamba_expand x hidden_size``), each its
own head of ``head_v_dim`` 1 with its own ``N = head_k_dim = d_state`` states (``state_size``, ``mamba_d_state``) and
time step; one group of B and C (``num_k_heads`` 1) shared by every channel; a depthwise convolution of width ``K =
conv_kernel_size`` over x alone (``d_inner`` channels: :meth:`Mamba1.conv_channels`); ``R = dt_rank`` the rank of the
time-step projection (``time_step_rank``, ``mamba_dt_rank``; their ``auto`` is ``ceil(hidden_size / 16)``).

- **state** per sequence and layer: the SSM state, ``d_inner N`` elements, and the convolution's last ``K - 1``
  inputs, ``d_inner (K - 1)`` elements (vLLM ``MambaStateShapeCalculator.mamba1_state_shape``: conv state
  ``(K - 1, d_inner / tp)``, temporal state ``(d_inner / tp, N)``; transformers ``MambaCache`` and Jamba's
  ``HybridMambaAttentionDynamicCache`` keep ``[batch, d_inner, N]`` and pad the convolution to ``K`` columns). Dtypes
  as Mamba-2's (:mod:`.mamba2`): vLLM's ``MambaStateDtypeCalculator.mamba1_state_dtype`` keeps the convolution at
  ``mamba_cache_dtype`` and the SSM state at ``mamba_ssm_cache_dtype``, both ``auto`` (the model dtype) by default,
  and no config hook of Jamba, Falcon-Mamba or Mamba changes them (only Nemotron-H's takes float32): ``dtypes.state``
  and ``dtypes.ssm_state`` (none).
- **weights** per layer (transformers ``MambaMixer``, ``FalconMambaMixer``, ``JambaMambaMixer``): ``in_proj: d x 2
  d_inner`` (x and the gate z; a bias of ``2 d_inner`` with ``proj_bias``: ``use_bias``, ``mamba_proj_bias``), the
  depthwise ``conv1d`` of ``d_inner K`` weights (``d_inner`` biases with ``conv_bias``), ``x_proj: d_inner x (R + 2
  N)`` (dt, B, C; no bias), ``dt_proj: R x d_inner`` and its bias, ``A_log: d_inner x N``, ``D: d_inner``,
  ``out_proj: d_inner x d`` (``d`` biases with ``proj_bias``). Jamba adds RMSNorms of dt, B and C after ``x_proj``
  (``dt_layernorm``, ``b_layernorm``, ``c_layernorm``: ``R + 2 N`` weights, ``mixer_norms: weighted``); Falcon-Mamba
  normalises the same three without weights (``rms_forward`` with ``mixer_rms_eps``: ``mixer_norms: unweighted``, no
  parameters, their FLOPs counted).
- **tensor parallelism** over ``t`` ranks (vLLM ``MambaMixer``): ``in_proj`` (``MergedColumnParallelLinear``),
  ``conv1d`` and ``dt_proj`` (``ColumnParallelLinear``), ``A`` and ``D`` (``weight_loader`` splitting dim 0) split
  with the channels, ``d_inner / t`` a rank, and the state with them; ``x_proj`` and ``out_proj`` are
  ``RowParallelLinear`` (their inputs, the channels, split; ``x_proj``'s ``R + 2 N`` outputs all-reduced, so every
  rank holds dt, B and C whole); replicated on every rank: ``out_proj``'s bias and the dt/B/C norms. ``d_inner`` must
  divide by ``t`` (``divide(intermediate_size, tp_world_size)``).
- **cost** per token and layer, projections and convolution apart. The selective SSM (the paper's eqs. 2a-2b with
  the zero-order-hold discretisation of eq. 4, as mamba_ssm's ``selective_state_update`` runs it) does for every
  channel c and state n: ``exp(dt_c A_cn)`` (a multiply and an exp, counted as one FLOP), ``(dt_c x_c) B_n`` (one
  multiply; ``dt_c x_c`` once a channel, left out), ``h = exp(.) h + (.)`` (a multiply and an add), ``y_c += h C_n``
  (a multiply and an add): :data:`STATE_FLOPS` = 7 a channel-state pair, ``7 d_inner N`` a token; ``D x`` and the
  gate are ``O(d_inner)`` and left out. Decode reads and writes the state once a step. Prefill runs the same
  recurrence over the prompt (the paper's hardware-aware selective scan, section 3.3.2: the state stays in SRAM,
  ``O(B L D N)`` FLOPs; unlike Mamba-2 there is no chunked matrix form, A being diagonal per channel), the scan's
  combine overhead left out. ``x_proj`` and ``dt_proj`` are GEMMs of their own (``ssm_x_proj``, ``ssm_dt_proj``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..costs import matmul
from ..errors import ArgError, SpecError
from .base import AttentionOps, StepShape
from .mamba2 import Mamba2

if TYPE_CHECKING:
    from ..spec import LinearAttention, ModelSpec

STATE_FLOPS = 7             # FLOPs per channel-state pair per token: decay 2 (dt A, exp), B x 1, update 2, read-out 2
MIXER_NORMS = 3             # the RMSNorms of dt, B and C (Jamba weighted, Falcon-Mamba unweighted)


def dt_rank_auto(hidden: int) -> int:
    """``time_step_rank: "auto"`` (MambaConfig, FalconMambaConfig) and ``mamba_dt_rank: "auto"`` (JambaConfig):
    ``math.ceil(hidden_size / 16)``."""
    return -(-hidden // 16)


class Mamba1(Mamba2):
    """Mamba-2's block with one channel a head (:class:`.mamba2.Mamba2`'s rank split, state and core), its own
    projections, convolution width and recurrence (see the module docstring)."""

    name = "mamba1"
    kinds = ("mamba1",)
    requires = ("dt_rank",)                                     # refused without it by validate, below

    def validate(self, b: "LinearAttention") -> None:
        super().validate(b)
        if b.num_k_heads != 1 or b.head_v_dim != 1:
            raise SpecError("linear_attention", f"mamba1 has one channel a head (head_v_dim 1) and one group of B and "
                                                f"C (num_k_heads 1), got head_v_dim {b.head_v_dim} and num_k_heads "
                                                f"{b.num_k_heads}")
        if b.dt_rank is None:
            raise SpecError("linear_attention.dt_rank", "is required for kind mamba1 (time_step_rank, mamba_dt_rank)")

    def label(self, b) -> str:
        return "Mamba-1"

    def check_split(self, b, tp: int) -> None:
        if b.num_v_heads % tp:
            raise ArgError("tp", f"{tp} ranks cannot split {b.num_v_heads} Mamba channels (linear_attention."
                                 "num_v_heads, d_inner) evenly")

    def conv_channels(self, b: "LinearAttention") -> int:
        """The convolution runs over x alone: ``d_inner`` channels."""
        return b.value_dim

    def input_width(self, b: "LinearAttention", hidden: int) -> float:
        """``in_proj``'s output features: x and the gate z, ``2 d_inner``."""
        return 2 * b.value_dim

    def projections(self, b: "LinearAttention", hidden: int) -> dict[str, int]:
        """Parameters of one Mamba-1 mixer by tensor (see the module docstring); biases and norms only where the
        spec has them."""
        d, inner, n, r = hidden, b.value_dim, b.head_k_dim, b.dt_rank
        out = {"in_proj": d * 2 * inner, "conv": inner * b.conv_kernel_size, "x_proj": inner * (r + 2 * n),
               "dt_proj": r * inner, "dt_proj_bias": inner, "A_log": inner * n, "D": inner, "out_proj": inner * d}
        if b.proj_bias:
            out |= {"in_proj_bias": 2 * inner, "out_proj_bias": d}
        if b.conv_bias:
            out["conv_bias"] = inner
        if b.mixer_norms == "weighted":
            out["mixer_norms"] = r + 2 * n
        return out

    def projection_split(self, b, name: str) -> str:
        """Everything splits with the channels (``x_proj`` by its inputs), but ``out_proj``'s bias and the dt/B/C
        norms, which every rank holds whole."""
        return "replicated" if name in ("out_proj_bias", "mixer_norms") else "heads"

    def mixer_flops(self, b: "LinearAttention", prefill: bool) -> float:
        """FLOPs per token of one layer's selective SSM over all channels, projections and convolution apart:
        ``7 d_inner N`` in decode and prefill alike (see the module docstring)."""
        return STATE_FLOPS * b.value_dim * b.head_k_dim

    def norm_width(self, b: "LinearAttention") -> float:
        """Elements per token the mixer's own norms normalise: dt, B and C (``R + 2 N``, whole on every rank), none
        without ``mixer_norms``."""
        return b.dt_rank + 2 * b.head_k_dim if b.mixer_norms else 0

    def attention_ops(self, spec: "ModelSpec", s: StepShape) -> AttentionOps:
        """Mamba-2's ops on the rank's channels (in_proj, convolution and scan: :meth:`Mamba2.attention_ops`), then
        ``x_proj`` (``d_inner / t -> R + 2 N``, its outputs all-reduced over the ranks: bytes charged to the op, one
        collective a layer) and ``dt_proj`` (``R -> d_inner / t``); the dt/B/C norms, three kernels a layer."""
        base = super().attention_ops(spec, s)
        b = self.rank_block(s.block, s.ranks)
        L, Ta, inner, r, n = s.layers, s.tokens, b.value_dim, b.dt_rank, b.head_k_dim
        ring = (s.ranks - 1) / s.ranks
        x_proj = matmul("ssm_x_proj", Ta, inner, r + 2 * n, s.w("x_proj"), s.ab, L)
        x_proj = x_proj._replace(comm_bytes=2 * ring * Ta * (r + 2 * n) * s.ab * L)
        dt_proj = matmul("ssm_dt_proj", Ta, r, inner, s.w("dt_proj"), s.ab, L)
        first, *rest = base.ops
        return AttentionOps((first, x_proj, dt_proj, *rest), self.norm_width(b),
                            MIXER_NORMS if b.mixer_norms else 0)


MAMBA1_FAMILY = Mamba1()
