"""Lightning attention (Qin et al., "Lightning Attention-2", arXiv 2401.04658; MiniMax-01, arXiv 2501.08313,
section 2.2): the linear-attention layers of MiniMax-Text-01 and MiniMax-M1, sized as a linear-attention block. No
KV cache: per sequence a constant state.

Spec fields (:class:`mlacalc.spec.LinearAttention` of kind ``lightning``): ``H = num_k_heads = num_v_heads`` heads
(``num_attention_heads``: every head has its own key, no grouping) of ``d = head_k_dim = head_v_dim`` dims
(``head_dim``), no short convolution (``conv_kernel_size`` 1: no inputs kept), ``chunk_size`` the block ``B`` of
the blocked prefill (vLLM ``config.block``, else 256).

- **state** per sequence and layer: one ``d x d`` matrix ``kv`` a head, ``H d d`` elements (vLLM
  ``MambaStateShapeCalculator.linear_attention_state_shape``: ``(num_heads / tp, head_dim, head_dim)``), nothing
  else. It is kept at the model dtype: vLLM's ``MambaStateDtypeCalculator.linear_attention_state_dtype`` returns
  ``get_kv_cache_torch_dtype(mamba_cache_dtype, model_dtype)``, i.e. bf16 unless ``--mamba-cache-dtype`` says
  otherwise (earlier vLLM refused float32 there outright, "fp32 state for minimax is not yet supported"; the V0
  ``MinimaxCacheManager`` had kept it at torch's default float32). So ``dtypes.state``, not ``dtypes.ssm_state``.
- **weights** per layer (vLLM ``MiniMaxText01LinearAttention``; transformers ``MiniMaxLightningAttention``):
  ``qkv_proj: d_model x 3 H d``, ``output_gate: d_model x H d``, an RMSNorm over all ``H d`` outputs
  (``MiniMaxText01RMSNormTP``, split with the heads under TP), ``out_proj: H d x d_model``; no biases. The
  per-head decay ``slope_rate`` is a buffer computed from the head index and layer, not a weight.
- **cost** per token and head. Decode (``linear_decode_forward_triton``): ``kv = exp(-s) kv + k^T v``, ``o = q kv``:
  the decay (``d^2``), the outer product and its sum (``2 d^2``), the read-out (``2 d^2``), ``5 d^2`` FLOPs,
  reading and writing the state once a step. Prefill (``lightning_attention``, blocks of ``B``): within a block
  the masked ``q k^T`` and its product with ``v`` (``4 B d``), across blocks ``q kv`` (``2 d^2``) and the block's
  ``k^T v`` into the state (``2 d^2``): ``4 d^2 + 4 B d``. The elementwise decays of q, k and the block state
  (``O(d)`` a token, ``d^2 / B`` a token) are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecError
from .linear import Linear, refuse_foreign_fields

if TYPE_CHECKING:
    from ..spec import LinearAttention

STATE_FLOPS = 5             # FLOPs per d^2 per token and head in the recurrent step (decay 1, update 2, read-out 2)
BLOCK_STATE_FLOPS = 4       # FLOPs per d^2 per token and head in blocked prefill (q kv 2, k^T v 2)
BLOCK = 256                 # vLLM MiniMaxText01LinearAttention's block_size where the config has no `block`
NO_CONV = 1                 # conv_kernel_size of a block without a short convolution: no inputs kept


class Lightning(Linear):
    name = "lightning"
    kinds = ("lightning",)

    def validate(self, b: "LinearAttention") -> None:
        """One key per head and square per-head states; no convolution, no biases (none in the modelling code)."""
        if b.num_v_heads != b.num_k_heads or b.head_k_dim != b.head_v_dim:
            raise SpecError("linear_attention", "lightning has one head dim for q, k and v and as many value heads "
                                                "as key heads")
        if b.conv_kernel_size != NO_CONV:
            raise SpecError("linear_attention.conv_kernel_size", f"lightning attention has no short convolution "
                                                                 f"(give {NO_CONV} or leave it out), got "
                                                                 f"{b.conv_kernel_size}")
        refuse_foreign_fields(b)

    def label(self, b) -> str:
        return "lightning"

    def state_elements(self, b: "LinearAttention") -> tuple[int, int]:
        """(recurrent, convolution) state elements per sequence and layer: ``H d d`` and none."""
        return b.num_v_heads * b.head_k_dim * b.head_v_dim, 0

    def projections(self, b: "LinearAttention", hidden: int) -> dict[str, int]:
        """Parameters of one lightning-attention layer by tensor (see the module docstring)."""
        inner = b.value_dim
        return {"qkv_proj": hidden * 3 * inner, "output_gate": hidden * inner, "norm": inner,
                "out_proj": inner * hidden}

    def projection_split(self, b, name: str) -> str:
        """Everything splits with the heads, the norm too (vLLM's ``MiniMaxText01RMSNormTP`` holds ``H d / tp``
        weights a rank and all-reduces the variance)."""
        return "heads"

    def input_width(self, b: "LinearAttention", hidden: int) -> float:
        """Output features of the input GEMM: q, k, v and the output gate, ``4 H d``."""
        return 4 * b.value_dim

    def conv_flops(self, b: "LinearAttention") -> float:
        """No short convolution."""
        return 0.0

    def mixer_flops(self, b: "LinearAttention", prefill: bool) -> float:
        """FLOPs per token of one layer's lightning attention over all heads (see the module docstring): ``5 d^2``
        a head in decode, ``4 d^2 + 4 B d`` in blocked prefill."""
        d = b.head_k_dim
        if not prefill:
            return b.num_v_heads * STATE_FLOPS * d * d
        block = b.chunk_size or BLOCK
        return b.num_v_heads * (BLOCK_STATE_FLOPS * d * d + 4 * block * d)


LIGHTNING_FAMILY = Lightning()
