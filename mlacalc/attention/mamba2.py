"""Mamba-2 (Dao and Gu, "Transformers are SSMs", arXiv 2405.21060): the state-space layers of Nemotron-H, Bamba and
Granite-4.0-H, sized as a linear-attention block. No KV cache: per sequence a constant state.

Spec fields (:class:`mlacalc.spec.LinearAttention` of kind ``mamba2``), under the state-space duality of the
paper's section 7.2 (C is the query, B the key, x the value; B and C are shared by a group of heads, as GQA
shares keys): ``H = num_v_heads`` heads (``mamba_num_heads``, ``mamba_n_heads``) of ``P = head_v_dim`` channels
(``mamba_head_dim``, ``mamba_d_head``), ``G = num_k_heads`` groups of B and C (``n_groups``), ``N = head_k_dim``
state dims (``ssm_state_size``, ``mamba_d_state``), a depthwise convolution of width ``K = conv_kernel_size``.
The inner width is ``I = H P`` (``value_dim``; ``expand x hidden`` in Bamba and Granite-4.0, whose configs say so
twice) and the convolution runs over ``conv_dim = I + 2 G N`` channels (x, B and C).

- **state** per sequence and layer: the SSM state, ``H P N`` elements (vLLM ``MambaStateShapeCalculator.
  mamba2_state_shape``: temporal state ``(H / tp, head_dim, state_size)``; transformers ``[batch, H, P, N]``), and
  the convolution's last ``K - 1`` inputs, ``(K - 1) conv_dim`` elements (vLLM: conv state ``(K - 1, conv_dim /
  tp)``). The SSM state is kept at ``dtypes.ssm_state`` (vLLM's ``mamba_ssm_cache_dtype``), the convolution at
  ``dtypes.state`` (``mamba_cache_dtype``). vLLM's default for both is ``auto``, the model dtype, except for
  Nemotron-H, whose config hook (``NemotronHForCausalLMConfig.update_mamba_ssm_cache_dtype``) takes the config's
  ``mamba_ssm_cache_dtype`` or else float32 for the SSM state: the reader sets that.
- **weights** per layer (transformers ``NemotronHMamba2Mixer``, ``BambaMixer`` which Granite-4.0-H's
  ``GraniteMoeHybridMambaLayer`` reuses): ``in_proj: d x (2 I + 2 G N + H)`` (the gate z, then x, B, C, then one
  dt per head; plus a bias of the same width with ``proj_bias``), the depthwise ``conv1d`` of ``conv_dim K``
  weights (plus ``conv_dim`` biases with ``conv_bias``), ``dt_bias``, ``A_log`` and ``D`` (``H`` each), the gated
  RMSNorm's weight (``I``), ``out_proj: I x d`` (plus ``d`` with ``proj_bias``). TP splits the heads; when ``G``
  does not divide over the ranks vLLM replicates B and C's groups so each rank holds its heads' (the few extra
  in_proj and convolution channels, and their conv state, are not counted).
- **cost** per token and layer, convolution apart. Decode runs the recurrence ``h = exp(dt A) h + dt x B^T``,
  ``y = h C + D x`` (the paper's eq. 1 with scalar-times-identity A, section 3): per head the decay (``P N``), the
  rank-one update (``2 P N``) and the read-out (``2 P N``), ``5 P N`` FLOPs, reading and writing the state once a
  step. Prefill runs the chunked SSD algorithm (section 6, chunks of ``Q = chunk_size``): per head the diagonal
  blocks' masked ``(C B^T) x`` (``2 Q P``), the chunk states ``B^T x`` (``2 N P``) and their read-out ``C h``
  (``2 N P``); per group the ``C B^T`` scores (``2 Q N``), shared by the group's heads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ArgError, SpecError
from .linear import Linear

if TYPE_CHECKING:
    from ..spec import LinearAttention

STATE_FLOPS = 5             # FLOPs per P N per token and head in the recurrent step (decay 1, update 2, read-out 2)
SSD_STATE_FLOPS = 4         # FLOPs per P N per token and head in chunked prefill (chunk states 2, their read-out 2)
CHUNK = 256                 # mamba_ssm's Mamba2 default chunk_size, where a spec gives none


class Mamba2(Linear):
    name = "mamba2"
    kinds = ("mamba2",)

    def validate(self, b: "LinearAttention") -> None:
        if b.num_v_heads % b.num_k_heads:
            raise SpecError("linear_attention.num_v_heads", f"({b.num_v_heads} Mamba-2 heads) must split evenly into "
                                                            f"num_k_heads ({b.num_k_heads}) groups of B and C")

    def label(self, b) -> str:
        return "Mamba-2"

    def kv_groups(self, b, cache: str = "compressed") -> int:
        """The state splits over TP with the heads (each rank keeps its heads' SSM states)."""
        return b.num_v_heads

    def check_split(self, b, tp: int) -> None:
        if b.num_v_heads % tp:
            raise ArgError("tp", f"{tp} ranks cannot split {b.num_v_heads} Mamba-2 heads "
                                 "(linear_attention.num_v_heads) evenly")

    def input_width(self, b: "LinearAttention", hidden: int) -> float:
        """``in_proj``'s output features: the gate z and x (``I`` each), B and C (``G N`` each), dt (``H``)."""
        return 2 * b.value_dim + 2 * b.key_dim + b.num_v_heads

    def projections(self, b: "LinearAttention", hidden: int) -> dict[str, int]:
        """Parameters of one Mamba-2 mixer by tensor (see the module docstring); biases only where the spec has
        them."""
        d, width, heads = hidden, int(self.input_width(b, hidden)), b.num_v_heads
        out = {"in_proj": d * width, "conv": b.conv_dim * b.conv_kernel_size, "dt_bias": heads, "A_log": heads,
               "D": heads, "norm": b.value_dim, "out_proj": b.value_dim * d}
        if b.proj_bias:
            out |= {"in_proj_bias": width, "out_proj_bias": d}
        if b.conv_bias:
            out["conv_bias"] = b.conv_dim
        return out

    def projection_split(self, b, name: str) -> str:
        """Everything splits with the heads (vLLM's ``MambaMixer2`` shards in_proj, the convolution, dt_bias,
        A, D and the gated norm by head), but out_proj's bias, which every rank adds whole."""
        return "replicated" if name == "out_proj_bias" else "heads"

    def mixer_flops(self, b: "LinearAttention", prefill: bool) -> float:
        """FLOPs per token of one layer's SSM over all heads, convolution apart (see the module docstring):
        ``5 P N`` a head in decode; ``4 P N + 2 Q P`` a head and ``2 Q N`` a group in chunked prefill."""
        n, p = b.head_k_dim, b.head_v_dim
        if not prefill:
            return b.num_v_heads * STATE_FLOPS * p * n
        q = b.chunk_size or CHUNK
        return b.num_v_heads * (SSD_STATE_FLOPS * p * n + 2 * q * p) + b.num_k_heads * 2 * q * n


MAMBA2_FAMILY = Mamba2()
