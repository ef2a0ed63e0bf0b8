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
  RMSNorm's weight (``I``; none without ``gated_norm``: transformers ``FalconH1Mixer`` builds ``self.norm`` only
  ``if self.mamba_rms_norm``, else ``y * silu(gate)``), ``out_proj: I x d`` (plus ``d`` with ``proj_bias``).
  Falcon-H1's mixer (``FalconH1Mixer``) is this block with ``I = mamba_d_ssm``; its per-column muP multipliers
  (``mup_vector``, from ``ssm_multipliers``) are a buffer registered ``persistent=False``, no weight of the
  checkpoint.
- **tensor parallelism** over ``t`` ranks (:meth:`Mamba2.rank_block`): the heads split, ``H / t`` a rank, and with
  them z, x, dt, the SSM state, the gated norm and ``out_proj``. B and C split by group where ``t`` divides ``G``
  (``G / t`` groups a rank); where ``G < t`` (``t`` a multiple of ``G``) each rank's heads lie in one group, whose B
  and C it holds whole: ``G`` groups become ``t``, one a rank, replicated ``t / G`` times. vLLM's ``MambaMixer2``
  (``if n_groups % self.tp_size != 0: self.n_groups = n_groups + extra_groups_for_head_shards(n_groups,
  self.tp_size)``, then ``conv_dim = intermediate_size + 2 * self.n_groups * ssm_state_size`` and ``in_proj`` of
  ``intermediate_size + conv_dim + num_heads`` outputs, column-split: ``2 N`` B/C columns a rank at ``G = 1``;
  ``MambaStateShapeCalculator.mamba2_state_shape`` sizes the conv state ``(K - 1, conv_dim / tp)`` from the same
  extended groups). So a rank holds ``2 I / t + 2 g N + H / t`` in_proj columns, ``I / t + 2 g N`` convolution
  channels and conv state, with ``g = max(1, G / t)``. Other pairs (neither divides the other) are refused: a rank's
  heads would straddle two groups (current vLLM asserts ``n_groups % tp_size == 0 or n_groups == 1``).
- **cost** per token and layer, convolution apart. Decode runs the recurrence ``h = exp(dt A) h + dt x B^T``,
  ``y = h C + D x`` (the paper's eq. 1 with scalar-times-identity A, section 3): per head the decay (``P N``), the
  rank-one update (``2 P N``) and the read-out (``2 P N``), ``5 P N`` FLOPs, reading and writing the state once a
  step. Prefill runs the chunked SSD algorithm (section 6, chunks of ``Q = chunk_size``): per head the diagonal
  blocks' masked ``(C B^T) x`` (``2 Q P``), the chunk states ``B^T x`` (``2 N P``) and their read-out ``C h``
  (``2 N P``); per group the ``C B^T`` scores (``2 Q N``), shared by the group's heads.
- **training** (:meth:`Mamba2.saved_tensors`, :meth:`Mamba2.backward_phases`): mamba_ssm's fused
  ``mamba_split_conv1d_scan_combined`` keeps in_proj's output ``2 I' + 2 g N + H'``, the scan's output ``I'`` and the
  gated norm's fp32 rstd ``g`` a token (``I' = H' P`` on a rank's ``H'`` heads), in_proj its input ``d``; backward
  recomputes the convolution, ``dt``, ``C B^T`` and the chunk states (fp32, ``H' P N`` a chunk) from them.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..costs import ACT_BYTES, FP32_BYTES, BackwardPhase, SavedTensor, grad_tensor
from ..errors import ArgError, SpecError
from .base import AttentionOps, StepShape
from .linear import Linear, refuse_foreign_fields

if TYPE_CHECKING:
    from ..costs import KVCache
    from ..parallel import Parallelism
    from ..spec import LinearAttention, ModelSpec

STATE_FLOPS = 5             # FLOPs per P N per token and head in the recurrent step (decay 1, update 2, read-out 2)
SSD_STATE_FLOPS = 4         # FLOPs per P N per token and head in chunked prefill (chunk states 2, their read-out 2)
CHUNK = 256                 # mamba_ssm's Mamba2 default chunk_size, where a spec gives none


class Mamba2(Linear):
    name = "mamba2"
    kinds = ("mamba2",)

    def validate(self, b: "LinearAttention") -> None:
        refuse_foreign_fields(b)
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
        if b.num_k_heads % tp and tp % b.num_k_heads:
            raise ArgError("tp", f"{tp} ranks cannot share {b.num_k_heads} Mamba-2 groups of B and C "
                                 "(linear_attention.num_k_heads) evenly (need one to divide the other)")

    def rank_groups(self, b: "LinearAttention", tp: int) -> int:
        """B/C groups one of ``tp`` ranks holds: ``G / tp``, or 1 (replicated) where ``tp`` exceeds ``G`` (see the
        module docstring: vLLM's ``extra_groups_for_head_shards``)."""
        return max(1, b.num_k_heads // tp)

    def rank_block(self, b: "LinearAttention", tp: int) -> "LinearAttention":
        """The mixer one of ``tp`` ranks runs, as a block of its own: ``H / tp`` heads and :meth:`rank_groups`
        groups, so that its projections, state and FLOPs are the rank's (B and C whole where replicated)."""
        if tp == 1:
            return b
        self.check_split(b, tp)
        return dataclasses.replace(b, num_v_heads=b.num_v_heads // tp, num_k_heads=self.rank_groups(b, tp))

    def projections_per_rank(self, b, hidden: int, par: "Parallelism", owns_kv: bool = True) -> dict[str, float]:
        """Parameters on one GPU by tensor: those of :meth:`rank_block` (in_proj ``d (2 I / t + 2 g N + H / t)``,
        the convolution's ``I / t + 2 g N`` channels), but out_proj's bias, which every rank adds whole. A Mamba-2
        layer shares no K/V across layers (``owns_kv`` False is refused)."""
        if not owns_kv:
            self.shared_kv_projections(b, hidden)
        return dict(self.projections(self.rank_block(b, par.attention_tp), hidden))

    def state_bytes_per_rank(self, b, state_bits: float, ssm_bits: float | None, par: "Parallelism") -> "KVCache":
        """One sequence's state on one GPU: the SSM state of its ``H / t`` heads and the conv state of its
        ``I / t + 2 g N`` channels (vLLM ``mamba2_state_shape``: ``(K - 1, conv_dim / tp)`` with the groups
        extended to the ranks)."""
        return self.state_bytes(self.rank_block(b, par.attention_tp), state_bits, ssm_bits)

    def attention_ops(self, spec: "ModelSpec", s: StepShape) -> AttentionOps:
        """:meth:`Linear.attention_ops` of the rank's own mixer (:meth:`rank_block`): in_proj's columns, the
        convolution's channels and FLOPs, the state read and written, and chunked prefill's per-group ``C B^T``
        count the replicated groups."""
        ops = super().attention_ops(spec, s._replace(block=self.rank_block(s.block, s.ranks), head_share=1.0))
        return ops if s.block.gated_norm else ops._replace(norm_count=0)        # no norm kernel either

    def input_width(self, b: "LinearAttention", hidden: int) -> float:
        """``in_proj``'s output features: the gate z and x (``I`` each), B and C (``G N`` each), dt (``H``)."""
        return 2 * b.value_dim + 2 * b.key_dim + b.num_v_heads

    def projections(self, b: "LinearAttention", hidden: int) -> dict[str, int]:
        """Parameters of one Mamba-2 mixer by tensor (see the module docstring); biases only where the spec has
        them."""
        d, width, heads = hidden, int(self.input_width(b, hidden)), b.num_v_heads
        conv = self.conv_channels(b)
        out = {"in_proj": d * width, "conv": conv * b.conv_kernel_size, "dt_bias": heads, "A_log": heads,
               "D": heads, "norm": b.value_dim, "out_proj": b.value_dim * d}
        if not b.gated_norm:
            del out["norm"]
        if b.proj_bias:
            out |= {"in_proj_bias": width, "out_proj_bias": d}
        if b.conv_bias:
            out["conv_bias"] = conv
        return out

    def norm_width(self, b: "LinearAttention") -> float:
        """Elements per token the gated RMSNorm normalises (the inner width ``I``); none without ``gated_norm``."""
        return b.value_dim if b.gated_norm else 0

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

    # --- training -------------------------------------------------------------------------------------------------

    trainable = ("mamba2",)

    def saved_tensors(self, spec: "ModelSpec", cfg, b: "LinearAttention") -> list[SavedTensor]:
        """What one Mamba-2 mixer (block ``b``) keeps for backward on one GPU in training, on the rank's own mixer
        (:meth:`rank_block`: ``H' = H / t`` heads of ``P``, ``g`` groups of ``N``, ``I' = H' P``). The training path
        of transformers' ``NemotronHMamba2Mixer.cuda_kernels_forward`` and ``BambaMixer`` (``if self.training and
        cache_params is None``) and of mamba_ssm's ``Mamba2.forward`` (``use_mem_eff_path``, the default) is one
        autograd Function, ``mamba_split_conv1d_scan_combined`` with the gated norm's and ``out_proj``'s weights
        (state-spaces/mamba ``mamba_ssm/ops/triton/ssd_combined.py``, ``MambaSplitConv1dScanCombinedFn.forward``:
        ``ctx.save_for_backward(zxbcdt, conv1d_weight, conv1d_bias, out_x, A, D, dt_bias, initial_states, seq_idx,
        rmsnorm_weight, rstd, outproj_weight, outproj_bias)``), so the layer keeps:

        - ``in_proj``'s input ``[b, s, d]`` (:meth:`ActivationConfig.linear_input`);
        - ``zxbcdt``, in_proj's output ``2 I' + 2 g N + H'`` a token: backward re-runs the convolution, the chunked
          scan, the gated norm and ``out_proj`` from it;
        - ``out_x``, the scan's output ``y`` (with ``D x``) before the gated norm, ``I'`` a token at bf16;
        - the gated norm's fp32 rstd, one a token and group (``_layer_norm_fwd(..., group_size=dim // ngroups)``:
          ``rstd`` of ``ngroups * M``); none without ``gated_norm`` (``rmsnorm_weight`` None).

        The convolution's output, ``dt``, the chunk states and ``C B^T`` are not kept. ``selective`` keeps all of
        these (Megatron-Core's selective recompute checkpoints the softmax layers' core alone), ``full`` the layer
        input alone. Not modelled:
        Megatron-Core's ``MambaMixer``, which calls the Function without the norm and ``out_proj`` and runs both
        outside it (two more ``I'`` tensors a token: the gated output and the norm's output), and the non-fused
        path (``use_mem_eff_path=False``: ``mamba_chunk_scan_combined``, which keeps x, B, C, dt, dA_cumsum and z)."""
        self.check_training(spec)
        rb = self.rank_block(b, cfg.tp)
        n, sl, h = cfg.micro_batch, cfg.seq_local, spec.hidden_size
        heads, groups, width = rb.num_v_heads, rb.num_k_heads, int(self.input_width(rb, h))
        fn = "mamba_split_conv1d_scan_combined"
        out = [cfg.linear_input("mamba.input", h, "attention", "in_proj"),
               SavedTensor("mamba.zxbcdt", ("b", "s", "2 I + 2 g N + H"), (n, sl, width), ACT_BYTES, "attention",
                           f"{fn} (in_proj's output; the convolution, scan, norm and out_proj re-run from it)", "tp"),
               SavedTensor("mamba.out_x", ("b", "s", "H", "P"), (n, sl, heads, rb.head_v_dim), ACT_BYTES, "attention",
                           f"{fn} (the scan's output before the gated norm)", "tp")]
        if rb.gated_norm:
            out.append(SavedTensor("mamba.norm_rstd", ("b", "s", "g"), (n, sl, groups), FP32_BYTES, "attention",
                                   f"{fn} (the gated norm's rstd, one a group)", "tp"))
        return out

    def backward_phases(self, spec: "ModelSpec", cfg, b: "LinearAttention", held: tuple,
                        gone: frozenset) -> list[BackwardPhase]:
        """The instants of one Mamba-2 mixer ``b``'s backward on one GPU (see :meth:`Linear.backward_phases`):

        - ``mamba.scan``: ``MambaSplitConv1dScanCombinedFn.backward`` at its widest, in ``_mamba_chunk_scan_combined_
          bwd``'s ``_state_passing_bwd``. Alive: the recomputed norm output ``out_recompute`` (for ``out_proj``'s
          weight gradient) and convolution output ``xBC_conv``, ``dzxbcdt`` and ``dxBC`` (``torch.empty_like``),
          ``out_proj``'s input gradient ``dout @ W`` (held by ``dy_rms``) and the gated norm's input gradient;
          inside, ``dt.clone()``, the recomputed fp32 ``dt`` and ``dA_cumsum`` ``[b, H, c, Q]``
          (``_chunk_cumsum_fwd``), fp32 ``C B^T`` ``[b, c, g, Q, Q]`` (``_bmm_chunk_fwd(..., output_dtype=
          torch.float32)``), the passed chunk states ``[b, c, H, P, N]`` in fp32 (``_chunk_state_fwd(...,
          states_in_fp32=True)``, ``_state_passing_fwd``), their fp32 gradient (``_chunk_scan_bwd_dstates(...,
          dtype=states.dtype)``) and ``_state_passing_bwd``'s bf16 copies of both (``dstates_dtype=x.dtype,
          states_dtype=x.dtype``); ``c = ceil(s / Q)`` chunks of ``Q = chunk_size``. The Function's output gradient
          is the residual's (``held``);
        - ``mamba.in_proj``: ``dzxbcdt`` into in_proj's input gradient and weight gradient."""
        rb = self.rank_block(b, cfg.tp)
        n, sl, st, h = cfg.micro_batch, cfg.seq_local, cfg.seq_tokens, spec.hidden_size
        H, P, N, g = rb.num_v_heads, rb.head_v_dim, rb.head_k_dim, rb.num_k_heads
        inner, xbc, width = rb.value_dim, rb.value_dim + 2 * rb.key_dim, int(self.input_width(rb, h))
        q = rb.chunk_size or CHUNK
        c = -(-sl // q)

        def tok(name, sym, width_, who, nbytes=ACT_BYTES):
            return grad_tensor(f"grad.mamba.{name}", ("b", "s", sym), (n, sl, width_), who, "tp", nbytes)

        def chunked(name, shape, dims, who, nbytes=FP32_BYTES):
            return grad_tensor(f"grad.mamba.{name}", ("b",) + shape, (n,) + dims, who, "tp", nbytes)

        d_zxbcdt = tok("zxbcdt", "2 I + 2 g N + H", width, "the fused backward's dzxbcdt")
        states = (("c", "H", "P", "N"), (c, H, P, N))
        work = (tok("out_recompute", "I", inner, "the recomputed norm output (out_proj's weight gradient)"),
                tok("xBC_conv", "I + 2 g N", xbc, "the recomputed convolution output"), d_zxbcdt,
                tok("xBC", "I + 2 g N", xbc, "dxBC, the convolution output's gradient"),
                tok("y", "I", inner, "out_proj's input gradient (dout @ W_out)"),
                tok("out_x", "I", inner, "the gated norm's input gradient"),
                tok("dt_in", "H", H, "dt.clone()"),
                chunked("dt", ("H", "c", "Q"), (H, c, q), "_chunk_cumsum_fwd (fp32)"),
                chunked("dA_cumsum", ("H", "c", "Q"), (H, c, q), "_chunk_cumsum_fwd (fp32)"),
                chunked("CB", ("c", "g", "Q", "Q"), (c, g, q, q), "_bmm_chunk_fwd (fp32)"),
                chunked("states_fp32", *states, "the passed chunk states (fp32)"),
                chunked("dstates_fp32", *states, "_chunk_scan_bwd_dstates (fp32)"),
                chunked("states", *states, "_state_passing_bwd (bf16 copy)", ACT_BYTES),
                chunked("dstates", *states, "_state_passing_bwd (bf16)", ACT_BYTES))
        w_in = grad_tensor("grad.mamba.W_in", ("2 I + 2 g N + H", "h"), (width, h), "in_proj's weight gradient")
        d_in = grad_tensor("grad.mamba.input", ("b", "s", "h"), (n, st, h), "in_proj's backward", "sp")
        return [BackwardPhase("mamba.scan", held + work, gone),
                BackwardPhase("mamba.in_proj", held + (d_zxbcdt, w_in, d_in),
                              gone | {"mamba.zxbcdt", "mamba.out_x", "mamba.norm_rstd"})]


MAMBA2_FAMILY = Mamba2()
