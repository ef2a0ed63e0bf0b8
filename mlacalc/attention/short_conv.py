"""Gated short convolutions: the ``conv`` layers of Liquid AI's LFM2 and LFM2-MoE (LFM2-350M/700M/1.2B/2.6B,
LFM2-8B-A1B, LFM2-VL's decoder), sized as a linear-attention block. No KV cache: per sequence the convolution's last
``L - 1`` inputs, whatever the context.

The block (transformers ``modeling_lfm2.py`` ``Lfm2ShortConv``; vLLM ``vllm/model_executor/layers/mamba/short_conv.py``
``ShortConv``) over ``c`` channels (the model width: ``conv_dim`` = ``hidden_size``) with a causal depthwise
convolution of ``L = conv_L_cache`` taps::

    B, C, x = in_proj(h).chunk(3)            # in_proj: d -> 3 c
    y = C * conv1d(B * x)                    # depthwise, causal, L taps a channel
    out = out_proj(y)                        # out_proj: c -> d

Spec fields (:class:`mlacalc.spec.LinearAttention` of kind ``short_conv``): one channel a head, B and x and C one
value each (``num_k_heads = num_v_heads = c``, ``head_k_dim = head_v_dim = 1``; left out, the heads are the value
heads and the dims 1), ``conv_kernel_size = L``, biases on ``in_proj`` and ``out_proj`` (``proj_bias``) and on the
convolution (``conv_bias``): LFM2's one ``conv_bias`` switch sets all three.

- **state** per sequence and layer: the convolution's last ``L - 1`` inputs ``B x``, ``c (L - 1)`` elements (vLLM
  ``MambaStateShapeCalculator.short_conv_state_shape``: ``(conv_kernel - 1, divide(intermediate_size, tp))`` with
  ``intermediate_size = conv_dim``; transformers' ``Lfm2HybridConvCache`` keeps ``[batch, hidden_size, L_cache]``,
  one column more), nothing else. Its dtype is vLLM's ``MambaStateDtypeCalculator.short_conv_state_dtype``:
  ``get_kv_cache_torch_dtype(mamba_cache_dtype, model_dtype)``, the model dtype unless ``--mamba-cache-dtype`` says
  otherwise: ``dtypes.state``.
- **weights** per layer (``Lfm2ShortConv``): ``in_proj: d x 3 c``, the depthwise ``conv`` of ``c L`` weights,
  ``out_proj: c x d``; with ``conv_bias`` a bias on each (``3 c``, ``c``, ``d``). No norm inside the block.
- **tensor parallelism** over ``t`` ranks (vLLM ``ShortConv``): ``in_proj`` a ``MergedColumnParallelLinear`` of three
  outputs of ``c`` (B, C and x each split by channel), ``conv`` a ``ColumnParallelLinear`` over the channels,
  ``out_proj`` a ``RowParallelLinear`` (its bias added once, whole on every rank); the state splits with the
  channels, ``c / t`` a rank. ``c`` must divide by ``t``.
- **cost** per token and layer, ``in_proj`` and ``out_proj`` apart (GEMMs, ``2 d 3c`` and ``2 c d``). vLLM runs three
  kernels (``ShortConv.forward_cuda``): ``Bx = B * x`` (``c`` multiplies), ``causal_conv1d_fn`` (prefill) or
  ``causal_conv1d_update`` (decode) (``L`` multiplies and ``L - 1`` adds a channel, counted as ``2 c L`` as the other
  linear families count theirs; the bias's ``c`` adds left out), ``y = C * conv`` (``c`` multiplies):
  :data:`GATE_FLOPS` ``c`` plus ``2 c L`` a token, in decode and prefill alike (a causal convolution has no chunked
  form: each output reads ``L`` inputs). Activations, each kernel reading its inputs and writing its output once:
  ``2 c`` in and ``c`` out, ``c`` and ``c``, ``2 c`` and ``c``: :data:`ACT_VALUES` ``c`` a token. The state is read
  (once a sequence has one) and written once a step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..costs import OpCost, matmul
from ..errors import ArgError, SpecError
from .base import AttentionOps, StepShape
from .linear import Linear, refuse_foreign_fields

if TYPE_CHECKING:
    from ..spec import LinearAttention, ModelSpec

GATE_FLOPS = 2              # FLOPs per channel and token of the two gates: B * x and C * conv (a multiply each)
ACT_VALUES = 8              # values per channel and token the three kernels read and write (see module docstring)
KERNELS = 3                 # B * x, the causal convolution, C * conv


class ShortConv(Linear):
    """LFM2's gated short convolution (see the module docstring); the linear family's state and refusals (training:
    :meth:`Linear.check_training`), its own shape, weights and ops."""

    name = "short_conv"
    kinds = ("short_conv",)
    filled = ("num_k_heads", "head_k_dim", "head_v_dim")      # by normalise, below

    def normalise(self, raw: dict) -> dict:
        """One channel a head: the key heads default to the value heads (the channels), the head dims to 1."""
        out = dict(raw)
        heads = out.get("num_v_heads")
        if "num_v_heads" in out:
            # a bad num_v_heads ("x") is then refused under its own name, not as a missing or bad num_k_heads
            out.setdefault("num_k_heads", heads if isinstance(heads, int) and not isinstance(heads, bool) else 1)
        out.setdefault("head_k_dim", 1)
        out.setdefault("head_v_dim", 1)
        return out

    def validate(self, b: "LinearAttention") -> None:
        refuse_foreign_fields(b)
        if b.num_k_heads != b.num_v_heads or b.head_k_dim != 1 or b.head_v_dim != 1:
            raise SpecError("linear_attention", f"short_conv has one channel a head (head_k_dim and head_v_dim 1, "
                                                f"num_k_heads = num_v_heads, the channels), got num_k_heads "
                                                f"{b.num_k_heads}, num_v_heads {b.num_v_heads}, head dims "
                                                f"{b.head_k_dim} and {b.head_v_dim}")

    def validate_model(self, b: "LinearAttention", spec: "ModelSpec") -> None:
        """The channels are the model width: ``in_proj`` reads the hidden states and ``out_proj`` writes them back, one
        width for both (transformers builds ``nn.Linear(hidden_size, 3 * hidden_size)``; vLLM's ``ShortConv(dim=
        conv_dim)`` takes ``dim`` as ``in_proj``'s input too)."""
        if b.num_v_heads != spec.hidden_size:
            raise SpecError("linear_attention.num_v_heads", f"short_conv's channels ({b.num_v_heads}) must equal "
                                                            f"hidden_size ({spec.hidden_size})")

    def label(self, b) -> str:
        return "short conv"

    def kv_groups(self, b, cache: str = "compressed") -> int:
        """The state splits over TP with the channels."""
        return b.num_v_heads

    def check_split(self, b, tp: int) -> None:
        if b.num_v_heads % tp:
            raise ArgError("tp", f"{tp} ranks cannot split {b.num_v_heads} short-convolution channels "
                                 "(linear_attention.num_v_heads) evenly")

    def conv_channels(self, b: "LinearAttention") -> int:
        """The convolution runs over ``B x``: ``c`` channels."""
        return b.num_v_heads

    def state_elements(self, b: "LinearAttention") -> tuple[int, int]:
        """(recurrent, convolution) state elements per sequence and layer: none, and ``c (L - 1)``."""
        return 0, b.num_v_heads * (b.conv_kernel_size - 1)

    def output_width(self, b) -> int:
        """``out_proj``'s inputs: the ``c`` gated channels."""
        return b.num_v_heads

    def input_width(self, b: "LinearAttention", hidden: int) -> float:
        """``in_proj``'s outputs: B, C and x, ``3 c``."""
        return 3 * b.num_v_heads

    def projections(self, b: "LinearAttention", hidden: int) -> dict[str, int]:
        """Parameters of one short-convolution layer by tensor (see the module docstring); biases only where the spec
        has them."""
        c = b.num_v_heads
        out = {"in_proj": hidden * 3 * c, "conv": c * b.conv_kernel_size, "out_proj": c * hidden}
        if b.proj_bias:
            out |= {"in_proj_bias": 3 * c, "out_proj_bias": hidden}
        if b.conv_bias:
            out["conv_bias"] = c
        return out

    def projection_split(self, b, name: str) -> str:
        """Everything splits with the channels but ``out_proj``'s bias, which every rank adds whole."""
        return "replicated" if name == "out_proj_bias" else "heads"

    def mixer_flops(self, b: "LinearAttention", prefill: bool) -> float:
        """FLOPs per token of the two gates over all channels, convolution apart: ``2 c``, decode and prefill alike."""
        return GATE_FLOPS * b.num_v_heads

    def norm_width(self, b: "LinearAttention") -> float:
        """No norm inside the block."""
        return 0

    def attention_ops(self, spec: "ModelSpec", s: StepShape) -> AttentionOps:
        """``in_proj`` (one GEMM, ``d -> 3 c / t``) and the gated convolution (``linear_core``: three kernels, ``2 c +
        2 c L`` FLOPs and :data:`ACT_VALUES` ``c`` activations a token, the state read once a sequence has one and
        written once a step), on this GPU's ``c / t`` channels; ``out_proj`` is the caller's ``o_proj``."""
        b, d, L, Ta, hs = s.block, spec.hidden_size, s.layers, s.tokens, s.head_share
        c = b.num_v_heads
        proj = matmul("linear_in_proj", Ta, d, self.input_width(b, d) * hs, s.w("in_proj"), s.ab, L)
        state = self.state_bytes(b, s.state_bits).state * hs * s.seqs * L        # this GPU's channels, all sequences
        reads = state if s.prior > 0 else 0.0                                    # a fresh sequence starts from zeros
        core = OpCost("linear_core", "attention", flops=Ta * L * hs * (self.mixer_flops(b, s.new > 1) +
                                                                      self.conv_flops(b)),
                      act_bytes=Ta * L * ACT_VALUES * c * hs * s.ab, kv_bytes=reads + state, out_width=c * hs,
                      launches=KERNELS * L)
        return AttentionOps((proj, core), 0, 0)


SHORT_CONV_FAMILY = ShortConv()
