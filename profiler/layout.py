"""What each rank holds when a model is sharded as the calculator assumes: heads, KV heads, FFN widths, experts and
sequences per rank (:func:`rank_layout`, the rules of :mod:`mlacalc.parallel`), and every local parameter as a
slice of the full tensor it is cut from (:func:`layer_pieces`). Pure Python: the multi-process runner
(:mod:`.sharded`, :mod:`.shard_layers`, :mod:`.zero`) builds its tensors from these, and the predictions round
the same shapes as the allocator would.

The parameter names are those of the modules of :mod:`mlacalc.kernels.layers` (``attn.q_proj.weight``,
``ffn.gate_proj.weight`` ...) and of :class:`.shard_layers.MoE` (``ffn.router.weight``, stacked ``ffn.gate``,
``ffn.up``, ``ffn.down``, ``ffn.shared.*``); each piece names the field of :class:`mlacalc.params.Params` it counts
under, so measured bytes compare with :func:`mlacalc.params.layer_params_per_gpu` component by component.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from mlacalc.activations import is_moe_layer
from mlacalc.errors import SpecError
from mlacalc.parallel import Parallelism

DTYPES = {"bf16": 2, "fp32": 4}     # the runner's dtypes and their bytes per element


def check_supported(spec, layers: int) -> None:
    """The runner builds pre-norm layers of MLA or GQA/MHA/MQA attention (global, no biases, q/k norms, sinks or
    output gates) and gated FFNs or DeepSeek-style MoE (softmax router without bias, no expert biases or shared
    gates): refuse anything else rather than build a different model."""
    a, f = spec.attention, spec.ffn
    if a.kind not in ("mla", "mha", "mqa", "gqa"):
        raise SpecError("attention.kind", f"the multi-GPU runner builds mla, mha, mqa or gqa, not {a.kind}")
    bad = [n for n in ("qkv_bias", "qk_norm", "o_bias", "output_gate", "head_gate", "sinks", "kv_shared", "v_from_k",
                       "v_norm") if getattr(a, n)]
    if a.q_lora_rank and a.kind != "mla":            # Step-3's MFA: the runner's GQA layers project full-rank queries
        bad.append("q_lora_rank on mha/mqa/gqa")
    if a.kv_share_layers > 1:       # every layer it builds projects and caches its own K/V
        bad.append(f"kv_share_layers={a.kv_share_layers}")
    if a.kv_shared_tail:
        bad.append(f"kv_shared_tail={a.kv_shared_tail}")
    if spec.residual_extras is not None:    # ... and has a plain residual stream
        bad.append("residual_extras")
    bad += [f"ffn.{n}" for n in ("expert_bias", "router_bias", "shared_expert_gate", "mlp_bias", "branch_norms")
            if getattr(f, n)]
    if spec.final_logit_softcap:        # its head builds no soft-cap (tanh's output would go unbuilt)
        bad.append("final_logit_softcap")
    if not f.gated:
        bad.append("ffn.gated=false")
    if spec.norms_per_layer != 2:
        bad.append(f"norms_per_layer={spec.norms_per_layer}")
    if spec.norm_vectors != 1:          # it builds RMSNorms, a weight each
        bad.append(f"norm_vectors={spec.norm_vectors}")
    if a.kind != "mla" and a.qk_head_dim != a.v_head_dim:
        bad.append("qk_head_dim != v_head_dim")
    if bad:
        raise SpecError("model", f"the multi-GPU runner does not build {', '.join(bad)} ({spec.name})")
    for j in range(layers):
        if spec.layer_type(j) != "full":
            raise SpecError("--layers", f"layer {j} of {spec.name} is {spec.layer_type(j)}; the runner builds "
                                        "full-attention layers")


@dataclass(frozen=True)
class RankLayout:
    """The part of the model and of the batch one rank holds (global indices)."""

    rank: int
    q_heads: range
    kv_heads: range          # GQA/MHA/MQA KV heads kept; empty for MLA (the latent belongs to no head)
    ffn: range               # dense FFN width
    experts: tuple           # routed experts held (global ids)
    expert_width: range      # width of each held expert
    shared_width: range      # of the shared experts' joint width n_s x f_s
    shared_replicated: bool  # whole on every rank (data-parallel attention with ep > 1)
    sequences: range         # sequences whose attention (and KV) this rank holds

    def as_dict(self) -> dict:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = [v.start, v.stop] if isinstance(v, range) else (list(v) if isinstance(v, tuple) else v)
        return out


def _split(n: int, parts: int, index: int, what: str) -> range:
    if n % parts:
        raise SpecError("--tp", f"{what} ({n}) does not split evenly over {parts} ranks")
    w = n // parts
    return range(index * w, (index + 1) * w)


def rank_layout(spec, par: Parallelism, rank: int, batch: int = 1) -> RankLayout:
    """What TP rank ``rank`` of ``par`` holds (:mod:`mlacalc.parallel`'s rules; see the module docstring)."""
    a, f = spec.attention, spec.ffn
    tr = rank % par.tp
    atp = par.attention_tp
    ar = tr if atp > 1 else 0
    H = a.num_heads
    q = _split(H, atp, ar, "attention.num_heads")
    kv = range(0)
    if a.kind != "mla":
        g = a.num_kv_heads
        par.kv_share(g)                                   # refuses a split that is neither way even
        per = par.kv_groups_per_rank(g)
        first = q.start // (H // g)                       # the KV head of this rank's first query head
        kv = range(first, first + per)
    ffn = _split(f.intermediate_size, par.tp, tr, "ffn.intermediate_size")
    experts, width, shared, replicated = (), range(0), range(0), False
    if f.kind == "moe":
        E = f.num_experts
        if par.ep > 1:
            per = E // par.ep
            g = tr % par.ep
            experts, width = tuple(range(g * per, (g + 1) * per)), range(f.expert_intermediate_size)
        else:
            experts = tuple(range(E))
            width = _split(f.expert_intermediate_size, par.tp, tr, "ffn.expert_intermediate_size")
        S = f.num_shared_experts * f.shared_width
        if S:
            replicated = par.dp_attention and par.ep > 1
            shared = range(S) if replicated else _split(S, par.tp, tr, "shared experts' width")
    if par.dp_attention:
        per = math.ceil(batch / par.tp)
        seqs = range(min(batch, tr * per), min(batch, (tr + 1) * per))
    else:
        seqs = range(batch)
    return RankLayout(rank=rank, q_heads=q, kv_heads=kv, ffn=ffn, experts=experts, expert_width=width,
                      shared_width=shared, shared_replicated=replicated, sequences=seqs)


@dataclass(frozen=True)
class Piece:
    """One local parameter (or one routed expert's slab of a stacked one): its module path, the calculator's
    component it counts under, and the slice of the full (unsharded) tensor it is cut from."""

    name: str
    component: str           # a field of mlacalc.params.Params
    full: tuple              # shape of the full tensor
    dim: int | None          # dimension cut (None: whole)
    start: int = 0
    length: int = 0
    slot: int | None = None  # index in a stacked tensor (routed experts)
    source: str = ""         # the full tensor's name (its values are seeded by it)

    @property
    def shape(self) -> tuple:
        """Shape of the piece on its rank."""
        if self.dim is None:
            return self.full
        s = list(self.full)
        s[self.dim] = self.length
        return tuple(s)


def layer_pieces(spec, lay: RankLayout, layer: int) -> list[Piece]:
    """Every parameter piece rank ``lay`` holds of decoder layer ``layer``, named as the modules of
    ``mlacalc.kernels.layers`` (and :class:`.shard_layers.MoE`) name them."""
    a, f, d = spec.attention, spec.ffn, spec.hidden_size
    H = a.num_heads
    h0, h = lay.q_heads.start, len(lay.q_heads)
    out: list[Piece] = []

    def cut(name, comp, full, dim, start=0, length=0, slot=None, source=None):
        out.append(Piece(name, comp, tuple(full), dim, start, length, slot, source or name))

    cut("attn_norm.weight", "norms", (d,), None)
    if a.kind == "mla":
        r, dr, dn, dv = a.kv_lora_rank, a.qk_rope_head_dim, a.qk_nope_head_dim, a.v_head_dim
        dq = dn + dr
        if a.q_lora_rank:
            cut("attn.q_a_proj.weight", "attention", (a.q_lora_rank, d), None)
            cut("attn.q_a_norm.weight", "attention", (a.q_lora_rank,), None)
            cut("attn.q_b_proj.weight", "attention", (H * dq, a.q_lora_rank), 0, h0 * dq, h * dq)
        else:
            cut("attn.q_proj.weight", "attention", (H * dq, d), 0, h0 * dq, h * dq)
        cut("attn.kv_a_proj.weight", "attention", (r + dr, d), None)
        cut("attn.kv_a_norm.weight", "attention", (r,), None)
        cut("attn.kv_b_proj.weight", "attention", (H * (dn + dv), r), 0, h0 * (dn + dv), h * (dn + dv))
        cut("attn.o_proj.weight", "attention", (d, H * dv), 1, h0 * dv, h * dv)
    else:
        D, g = a.qk_head_dim, a.num_kv_heads
        k0, hk = lay.kv_heads.start, len(lay.kv_heads)
        cut("attn.q_proj.weight", "attention", (H * D, d), 0, h0 * D, h * D)
        cut("attn.k_proj.weight", "attention", (g * D, d), 0, k0 * D, hk * D)
        cut("attn.v_proj.weight", "attention", (g * D, d), 0, k0 * D, hk * D)
        cut("attn.o_proj.weight", "attention", (d, H * D), 1, h0 * D, h * D)
    cut("ffn_norm.weight", "norms", (d,), None)
    if is_moe_layer(spec, layer):
        fe, w0, wl = f.expert_intermediate_size, lay.expert_width.start, len(lay.expert_width)
        cut("ffn.router.weight", "router", (f.num_experts, d), None)
        for slot, e in enumerate(lay.experts):
            cut("ffn.gate", "routed_experts", (fe, d), 0, w0, wl, slot, f"experts.{e}.gate")
            cut("ffn.up", "routed_experts", (fe, d), 0, w0, wl, slot, f"experts.{e}.up")
            cut("ffn.down", "routed_experts", (d, fe), 1, w0, wl, slot, f"experts.{e}.down")
        if len(lay.shared_width):
            S, s0, sl = f.num_shared_experts * f.shared_width, lay.shared_width.start, len(lay.shared_width)
            cut("ffn.shared.gate_proj.weight", "shared_experts", (S, d), 0, s0, sl)
            cut("ffn.shared.up_proj.weight", "shared_experts", (S, d), 0, s0, sl)
            cut("ffn.shared.down_proj.weight", "shared_experts", (d, S), 1, s0, sl)
    else:
        f0, fl = lay.ffn.start, len(lay.ffn)
        cut("ffn.gate_proj.weight", "dense_ffn", (f.intermediate_size, d), 0, f0, fl)
        cut("ffn.up_proj.weight", "dense_ffn", (f.intermediate_size, d), 0, f0, fl)
        cut("ffn.down_proj.weight", "dense_ffn", (d, f.intermediate_size), 1, f0, fl)
    return out


@dataclass(frozen=True)
class LocalTensor:
    """One parameter tensor as its rank allocates it (routed experts stacked)."""

    name: str
    component: str
    shape: tuple


def local_tensors(pieces: list[Piece]) -> list[LocalTensor]:
    """The pieces grouped into the tensors a rank allocates (routed experts' slabs stacked on a leading dim)."""
    out: dict[str, LocalTensor] = {}
    for p in pieces:
        if p.slot is None:
            out[p.name] = LocalTensor(p.name, p.component, p.shape)
        else:
            n = 1 + (out[p.name].shape[0] if p.name in out else 0)
            out[p.name] = LocalTensor(p.name, p.component, (n,) + p.shape)
    return list(out.values())


def layer_tensors(spec, par: Parallelism, rank: int, layers: int, batch: int = 1) -> list[LocalTensor]:
    """Every local tensor of the first ``layers`` layers on TP rank ``rank``, names prefixed ``layers.j.``."""
    lay = rank_layout(spec, par, rank, batch)
    out = []
    for j in range(layers):
        out += [replace(t, name=f"layers.{j}.{t.name}") for t in local_tensors(layer_pieces(spec, lay, j))]
    return out


__all__ = ["DTYPES", "LocalTensor", "Piece", "RankLayout", "check_supported", "layer_pieces", "layer_tensors",
           "local_tensors", "rank_layout"]
