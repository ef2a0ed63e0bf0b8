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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..costs import KVCache, OpCost, matmul
from ..errors import ArgError, SpecError
from .base import AttentionFamily, AttentionOps, StepShape

if TYPE_CHECKING:
    from ..spec import LinearAttention, ModelSpec

CHUNK = 64                      # chunk of the chunkwise prefill algorithm (flash-linear-attention's default)
STATE_FLOPS = 7                 # FLOPs per d_k d_v per token and value head in the recurrent update (see above)
# spec fields only some kinds take -> those kinds (a field set on another kind would change nothing: refused)
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

    def saved_tensors(self, spec: "ModelSpec", cfg, a) -> list:
        self.check_training(spec)
        return []

    def check_training(self, spec: "ModelSpec") -> None:
        raise SpecError("linear_attention", "training memory of linear-attention layers is not modelled")


LINEAR_FAMILY = Linear()
