"""Training points: forward and backward of a few real layers (``mlacalc.kernels.layers``) under a
recomputation mode, measured against the calculator's training model (``mlacalc.activations`` /
``mlacalc.training``).

The layers are built from the model spec (hidden size, heads, head dims, MLA ranks, the dense FFN width) in
bf16, ``layers`` of them (default 2), fed a random ``[B, S, hidden]`` input; the backward pass starts from a
random output gradient. No optimizer step: model states are weights and their gradients (bf16).

Recomputation, applied by the profiler around the kernels' layers with ``torch.utils.checkpoint``
(non-reentrant), matching ``mlacalc.activations``'s definitions:

- ``none``: plain autograd.
- ``selective``: the attention core (SDPA) is checkpointed: its log-sum-exp is recomputed.
- ``full``: each layer is checkpointed: only its input is stored.
- ``mla-latent``: the MLA latents stay; the up-projections (W_UQ or W_Q, W_UK, W_UV), RoPE and the attention
  kernel run again in backward, so the decompressed q, k, v are not stored.

Gradients are allocated (zeros) before the forward pass, as a training loop that keeps its gradient buffer
(Megatron, DeepSpeed, ``zero_grad(set_to_none=False)``) has them, and as ``mlacalc.training`` counts them.

Measured: weights (allocator delta when the layers are built), gradients (delta when the buffer is allocated),
activations (allocator delta over the forward pass, minus the output), peak (allocator peak over forward and
backward, from before the layers were built), and with ``none`` the tensors autograd saved, by module
(``saved_tensors_hooks``), for the term-by-term table. Diagnostics: the autograd node at which the peak was
reached, with the allocator's figures around it (``backward_trace``), and the allocations alive after the build
(and, with ``none``, after the forward) that are no parameter, gradient or saved tensor, with where they were made
(``unexplained_allocations``, from the allocator's history).

Predicted (:func:`predict_train`): weights and gradients from ``mlacalc.params`` (2 bytes per parameter each),
activations from ``mlacalc.activations.saved_tensors`` plus the kernels' own extras (:func:`layer_extras`), the
widest instant of the backward from ``mlacalc.activations.backward_peak``, and the run's own input, output and
output gradient (stated).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict

from mlacalc.hardware import Hardware
from mlacalc.spec import ModelSpec

from . import predict
from .results import TOL_PEAK_TRAIN, Comparison

DEFAULT_TRAIN_LAYERS = 2


def layer_dims(spec: ModelSpec):
    from mlacalc.kernels.layers import LayerDims

    a = spec.attention
    common = dict(hidden=spec.hidden_size, heads=a.num_heads, ffn_intermediate=spec.ffn.intermediate_size)
    if predict.mla_kernel(a):
        return LayerDims(**common, kv_lora_rank=a.kv_lora_rank, q_lora_rank=a.q_lora_rank,
                         qk_nope_dim=a.qk_nope_head_dim, rope_dim=a.qk_rope_head_dim, v_head_dim=a.v_head_dim)
    return LayerDims(**common, kv_heads=a.num_kv_heads, head_dim=a.qk_head_dim)


def layer_extras(spec: ModelSpec, batch: int, seq: int) -> dict:
    """Bytes one of the kernels' layers keeps beyond ``mlacalc.activations``' list: implementation details of
    ``mlacalc.kernels.layers``, each named (allocator-rounded, per layer).

    - ``rope_tables``: cos and sin [S, d_rope] bf16, computed per layer and kept by RoPE's multiplies; MLA
      computes them twice (``project_q`` and ``project_kv``), GQA once. (``mlacalc.activations`` models one
      HF-layout pair [b, S, d_rope] per stage instead; the profiler uses this in its place.)
    - ``w_uk_uv_copies`` (MLA): the einsums ``bsr,hdr->bshd`` over the views W_UK [H, d_nope, r] and
      W_UV [H, d_v, r] copy each into a contiguous [1, r, H d] operand that the backward keeps:
      ``r H (d_nope + d_v)`` bf16.
    Not stored by ``mla-latent`` (both are rebuilt inside the recomputed region); rebuilt with the layer by
    ``full``."""
    a = spec.attention
    r512 = predict._round512
    out = {}
    d = a.qk_rope_head_dim
    if d:
        calls = 2 if predict.mla_kernel(a) else 1
        out["rope_tables"] = calls * 2 * r512(seq * d * predict.ACT_BYTES)
    if predict.mla_kernel(a):
        out["w_uk_uv_copies"] = (r512(a.kv_lora_rank * a.num_heads * a.qk_nope_head_dim * predict.ACT_BYTES)
                                 + r512(a.kv_lora_rank * a.num_heads * a.v_head_dim * predict.ACT_BYTES))
    return out


def param_block_bytes(spec: ModelSpec, layers: int) -> int | None:
    """Allocator bytes of ``layers`` layers' bf16 parameters, tensor by tensor (``predict.allocator_block_bytes``),
    from the kernels' layers built on the meta device (no memory); None where torch is missing."""
    try:
        import torch

        from mlacalc.kernels.layers import make_layer
    except Exception:
        return None
    with torch.device("meta"):
        layer = make_layer(spec.attention.kind, layer_dims(spec))
    return layers * sum(predict.allocator_block_bytes(p.numel() * predict.ACT_BYTES) for p in layer.parameters())


def as_built(spec: ModelSpec, layers: int) -> ModelSpec:
    """The layers the profiler builds: ``mlacalc.kernels.layers`` has a dense FFN only (``layer_dims``: the spec's
    ``intermediate_size``), so an MoE model's ``layers`` are predicted as its leading dense layers are. (Before
    2026-12-02 the prediction priced DeepSeek-V2-Lite's second layer as MoE while the run built it dense: activations
    +17%, peak +6-7% at 8k, the miss issue 13 reported.)"""
    from dataclasses import replace

    if spec.ffn.kind != "moe" or spec.ffn.first_dense_layers >= layers:
        return spec
    return replace(spec, ffn=replace(spec.ffn, first_dense_layers=layers))


def predict_train(spec: ModelSpec, batch: int, seq: int, layers: int, recompute: str) -> dict:
    """The calculator's figures for ``layers`` layers of ``spec`` (no embedding, head or optimizer).

    Peak = weights + gradients (2 bytes per parameter each; the profiler allocates the gradient buffer before the
    forward pass, as a training loop that keeps its gradients does) + the run's input, output and output gradient
    + the widest instant of the backward pass: while layer ``j``'s backward runs, layers ``0..j`` still hold their
    activations and layer ``j`` adds :func:`mlacalc.activations.backward_peak` (activation gradients, recomputed
    tensors, less what it has already freed). The last layer's output gradient is the run's own, already in io.

    Every tensor is counted at the size the caching allocator gives it (``predict.allocator_block_bytes``: tensors
    of 10 MiB or more rounded up to 2 MiB when the remainder is 1 MiB or less); ``allocator_rounding_bytes`` says
    how much of the peak that rounding is."""
    from mlacalc.activations import ActivationConfig, backward_peak, saved_tensors
    from mlacalc.parallel import Parallelism
    from mlacalc.params import layer_params_per_gpu

    spec = as_built(spec, layers)
    ab = predict.allocator_block_bytes
    cfg = ActivationConfig(micro_batch=batch, seq=seq, recompute=recompute, kernel="fused")
    params = sum(layer_params_per_gpu(spec, j, Parallelism()).total for j in range(layers))
    per_layer = [t.to_json() for t in saved_tensors(spec, 0, cfg)]
    stored = [sum(ab(t.bytes) for t in saved_tensors(spec, j, cfg)) for j in range(layers)]
    raw_stored = [sum(t.bytes for t in saved_tensors(spec, j, cfg)) for j in range(layers)]
    extras = layer_extras(spec, batch, seq)
    extra = sum(extras.values())
    stored_extra = extra if recompute in ("none", "selective") else 0
    x_bytes = ab(batch * seq * spec.hidden_size * predict.ACT_BYTES)
    io = 3 * x_bytes  # input, output, output gradient (stated)
    weights = param_block_bytes(spec, layers) or ab(2 * params)
    # The model counts layer 0's input (its attn_norm.input; full recompute's checkpoint) as an activation; here it
    # is the run's own input, allocated before the forward pass and already in ``io``: count it once.
    acts = sum(stored) + layers * stored_extra - x_bytes
    best = None
    for j in range(layers):
        bp = backward_peak(spec, j, cfg)
        dy = sum(ab(t.bytes) for t in bp.tensors if t.name == "grad.layer_out") if j == layers - 1 else 0
        transient = (sum(ab(t.bytes) for t in bp.tensors) - sum(ab(t.bytes) for t in bp.released_tensors)
                     + (extra if recompute == "full" else 0) - dy)
        level = sum(stored[:j + 1]) + (j + 1) * stored_extra - x_bytes + transient
        if best is None or level > best[0]:
            best = (level, j, bp, transient)
    _, j, bp, transient = best
    peak = int(2 * weights + io + best[0])
    raw = (4 * params + io + sum(raw_stored[:j + 1]) + (j + 1) * stored_extra - x_bytes
           + bp.total + (extra if recompute == "full" else 0)
           - (sum(t.bytes for t in bp.tensors if t.name == "grad.layer_out") if j == layers - 1 else 0))
    return {"params": params, "weights_bytes": int(weights), "grads_bytes": int(weights),
            "activations_bytes": int(acts), "layer_extras": extras, "backward_peak_bytes": int(transient),
            "backward_peak_layer": j, "backward_peak": bp.as_dict(), "io_bytes": io,
            "allocator_rounding_bytes": int(peak - raw), "peak_bytes": peak, "saved_tensors_layer0": per_layer}


@contextlib.contextmanager
def _checkpointed_sdpa():
    """Within the block, every F.scaled_dot_product_attention call is checkpointed (selective recompute)."""
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    orig = F.scaled_dot_product_attention

    def sdpa(*args, **kw):
        return checkpoint(orig, *args, use_reentrant=False, **kw)

    F.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = orig


def _mla_latent_attend(layer, x):
    """MLA attention that stores the latents and recomputes the up-projections, RoPE and the kernel."""
    import torch
    from torch.nn import functional as F
    from torch.utils.checkpoint import checkpoint

    from mlacalc.kernels.reference import apply_rope, rope_cos_sin

    attn = layer.attn
    c = attn.cfg
    B, S, _ = x.shape
    H, dn, dr, dv, r = c.heads, c.qk_nope_dim, c.qk_rope_dim, c.v_head_dim, c.kv_lora_rank
    if c.q_lora_rank:
        q_in, q_up = attn.q_a_norm(attn.q_a_proj(x)), attn.q_b_proj
    else:
        q_in, q_up = x, attn.q_proj
    kv = attn.kv_a_proj(x)
    c_kv, k_pe = kv.split([r, dr], dim=-1)
    c_kv = attn.kv_a_norm(c_kv)

    def region(q_in, c_kv, k_pe):
        pos = torch.arange(S, device=x.device)
        cos, sin = rope_cos_sin(pos, dr, c.rope_theta, dtype=x.dtype)
        q = q_up(q_in).view(B, S, H, dn + dr)
        q_nope, q_pe = q.split([dn, dr], dim=-1)
        q = torch.cat([q_nope, apply_rope(q_pe, cos, sin)], dim=-1)
        k_pe_r = apply_rope(k_pe, cos, sin)
        k_nope = torch.einsum("bsr,hdr->bshd", c_kv, attn.w_uk())
        v = torch.einsum("bsr,hdr->bshd", c_kv, attn.w_uv())
        k = torch.cat([k_nope, k_pe_r[:, :, None, :].expand(-1, -1, H, -1)], dim=-1)
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True,
                                           scale=c.softmax_scale)
        return o.transpose(1, 2).reshape(B, S, H * dv)

    return attn.o_proj(checkpoint(region, q_in, c_kv, k_pe, use_reentrant=False))


class SavedTensorLog:
    """Records each distinct storage autograd saves during a forward pass (parameters excluded), by module."""

    def __init__(self, model):
        self.model = model
        self.params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.seen: dict[int, dict] = {}
        self.stack: list[str] = []
        self.handles = []

    def __enter__(self):
        import torch

        def enter(name):
            def hook(mod, args):
                self.stack.append(name)  # returns None: the input is left alone
            return hook

        def leave(mod, args, out):
            self.stack.pop()  # returns None: a forward hook that returned a value would replace the output

        for name, m in self.model.named_modules():
            self.handles.append(m.register_forward_pre_hook(enter(name)))
            self.handles.append(m.register_forward_hook(leave))

        def pack(t):
            st = t.untyped_storage()
            ptr = st.data_ptr()
            if ptr not in self.params and ptr not in self.seen:
                self.seen[ptr] = {"module": self.stack[-1] if self.stack else "", "shape": list(t.shape),
                                  "dtype": str(t.dtype).replace("torch.", ""), "bytes": st.nbytes()}
            return t

        self._hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)
        for h in self.handles:
            h.remove()
        return False

    def rows(self) -> list[dict]:
        return sorted(self.seen.values(), key=lambda r: (r["module"], -r["bytes"]))


def _graph_nodes(root) -> list:
    """Every autograd node reachable from ``root`` (the output's ``grad_fn``)."""
    seen, stack, nodes = set(), [root], []
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        nodes.append(n)
        stack.extend(f for f, _ in n.next_functions)
    return nodes


class BackwardTrace:
    """The allocator's live bytes after each autograd node of one backward pass and its peak while that node ran
    (post hooks that read the counters and reset the peak statistic; AccumulateGrad nodes are left without hooks so
    gradient accumulation is unchanged). :meth:`summary` names the node during which the peak was reached, with
    its neighbours; :attr:`peak` is the backward's peak, absolute (the allocator's own peak statistic is reset
    by the hooks, so callers take the whole run's peak as max(forward peak, this))."""

    def __init__(self, root, base: int):
        self.root, self.base, self.rows, self.handles = root, base, [], []
        self.peak = 0

    def __enter__(self):
        import torch

        torch.cuda.reset_peak_memory_stats()  # the forward's peak was read before

        def hook_for(name):
            def hook(grad_inputs, grad_outputs):
                during = torch.cuda.max_memory_allocated()
                torch.cuda.reset_peak_memory_stats()
                self.peak = max(self.peak, during)
                self.rows.append((name, torch.cuda.memory_allocated() - self.base, during - self.base))
            return hook

        for n in _graph_nodes(self.root):
            name = n.name()
            if "AccumulateGrad" not in name:
                try:
                    self.handles.append(n.register_hook(hook_for(name)))
                except Exception:  # a node that takes no hooks: the trace has a gap there, the run goes on
                    pass
        return self

    def __exit__(self, *exc):
        import torch

        for h in self.handles:
            h.remove()
        self.peak = max(self.peak, torch.cuda.max_memory_allocated())  # after the last hooked node
        return False

    def summary(self, around: int = 4) -> dict:
        if not self.rows:
            return {}
        top = max(r[2] for r in self.rows)
        i = next(k for k, r in enumerate(self.rows) if r[2] == top)
        rows = [{"index": k, "node": r[0], "allocated_after": r[1], "peak_during": r[2]}
                for k, r in enumerate(self.rows) if i - around <= k <= i + around]
        return {"nodes": len(self.rows), "peak_node": self.rows[i][0], "peak_index": i,
                "peak_bytes": top, "allocated_before_peak_node": self.rows[i - 1][1] if i else None,
                "backward_peak_bytes": self.peak - self.base, "around_peak": rows}


def _history(on: bool) -> bool:
    """Start (``on``) or stop the caching allocator's history with Python stacks; False if unavailable."""
    import torch

    try:
        if on:
            torch.cuda.memory._record_memory_history(max_entries=200000, stacks="python")
        else:
            torch.cuda.memory._record_memory_history(enabled=None)
        return True
    except Exception:
        return False


def _unexplained_allocations(known: set[int], top: int = 12) -> list[dict]:
    """Live blocks allocated while the history was recorded that are not in ``known`` (storage addresses), largest
    first, each with the innermost Python frames that allocated it."""
    import os

    import torch

    try:
        snap = torch.cuda.memory._snapshot()
    except Exception as e:
        return [{"error": str(e).splitlines()[0][:200]}]
    rows = []
    for seg in snap.get("segments", []):
        for blk in seg.get("blocks", []):
            frames = blk.get("frames") or []
            if blk.get("state") != "active_allocated" or not frames or blk.get("address") in known:
                continue
            where = [f"{os.path.basename(f.get('filename', '?'))}:{f.get('line', '?')} {f.get('name', '?')}"
                     for f in frames[:8]]
            rows.append({"bytes": blk.get("size"), "requested_bytes": blk.get("requested_size"), "where": where})
    rows.sort(key=lambda r: -(r["bytes"] or 0))
    return rows[:top]


def measure_train(cfg, spec: ModelSpec, layers: int) -> dict:
    """Forward and backward of ``layers`` real layers on the GPU (see the module docstring for what is measured).
    The allocator's history is recorded during the build and the forward pass only, for the diagnostics."""
    import torch

    dims = layer_dims(spec)
    kind = spec.attention.kind
    B, S, d = cfg.batch, cfg.context, spec.hidden_size
    out: dict = {}
    torch.manual_seed(0)
    history = _history(True)
    try:
        return _measure_train(cfg, model_args=(kind, dims, layers), B=B, S=S, d=d, history=history, out=out)
    finally:
        if history:
            _history(False)


def _measure_train(cfg, *, model_args, B: int, S: int, d: int, history: bool, out: dict) -> dict:
    import torch

    from mlacalc.kernels.layers import make_layer

    from .memory import AllocatorWatch

    kind, dims, layers = model_args
    with AllocatorWatch() as whole:
        with AllocatorWatch() as ww:
            model = torch.nn.Sequential(*[make_layer(kind, dims) for _ in range(layers)]).to(
                device="cuda", dtype=torch.bfloat16)
        out["weights_bytes"] = ww.figures.allocated
        out["params"] = sum(p.numel() for p in model.parameters())
        with AllocatorWatch() as gw:  # the gradient buffer, allocated up front (see the module docstring)
            for p in model.parameters():
                p.grad = torch.zeros_like(p)
        out["grads_bytes"] = gw.figures.allocated
        known = {t.untyped_storage().data_ptr() for p in model.parameters() for t in (p, p.grad)}
        if history:
            out["unexplained_allocations"] = {"after_build": _unexplained_allocations(known)}
        if cfg.recompute == "mla-latent":
            for layer in model:
                layer._attend = (lambda x, layer=layer: _mla_latent_attend(layer, x))
        x = torch.randn(B, S, d, device="cuda", dtype=torch.bfloat16)
        g = torch.randn(B, S, d, device="cuda", dtype=torch.bfloat16)

        def forward():
            h = x
            for layer in model:
                if cfg.recompute == "full":
                    from torch.utils.checkpoint import checkpoint

                    h = checkpoint(layer, h, use_reentrant=False)
                else:
                    h = layer(h)
            return h

        ctx = _checkpointed_sdpa() if cfg.recompute == "selective" else contextlib.nullcontext()
        log = SavedTensorLog(model) if cfg.recompute == "none" else contextlib.nullcontext()
        with ctx:
            with AllocatorWatch() as fw, log:
                y = forward()
            out["activations_bytes"] = fw.figures.allocated - predict._round512(y.numel() * y.element_size())
            if history and isinstance(log, SavedTensorLog):
                known |= set(log.seen) | {t.untyped_storage().data_ptr() for t in (x, g, y)}
                out["unexplained_allocations"]["after_forward"] = _unexplained_allocations(known)
            if history:
                _history(False)  # no recording during the backward and the timing
            forward_peak = fw.figures.peak + fw.figures.baseline  # absolute
            out["forward_peak_bytes"] = forward_peak - whole._base
            with BackwardTrace(y.grad_fn, whole._base) as trace:
                y.backward(g)
                torch.cuda.synchronize()
            out["backward_trace"] = trace.summary()
        del y
    # the trace resets the allocator's peak statistic node by node, so the run's peak is assembled here
    out["peak_bytes"] = max(forward_peak, trace.peak) - whole._base
    if isinstance(log, SavedTensorLog):
        out["saved_tensors_measured"] = log.rows()

    # time one forward+backward step (gradients zeroed in place; no L2 flush: training working sets dwarf L2)
    from .timing import time_cuda

    def step():
        model.zero_grad(set_to_none=False)
        with _checkpointed_sdpa() if cfg.recompute == "selective" else contextlib.nullcontext():
            forward().backward(g)

    t = time_cuda(step, warmup=2, reps=min(cfg.reps, 10), max_seconds=2.0)
    out["latency"] = t.as_dict()
    del model, x, g
    return out


def profile_train(cfg, spec: ModelSpec, hw: Hardware, *, nvml=None) -> dict:
    import torch

    from .memory import guarded

    layers = cfg.layers or min(DEFAULT_TRAIN_LAYERS, spec.num_layers)
    pred = predict_train(spec, cfg.batch, cfg.context, layers, cfg.recompute)
    free, _ = torch.cuda.mem_get_info()
    res = guarded(cfg, lambda: measure_train(cfg, spec, layers), pred["peak_bytes"], free)
    point = {"key": cfg.key(), "config": asdict(cfg), "model": spec.name, "attention": spec.attention.kind,
             "layers_run": layers, "layers_total": spec.num_layers, "scaled": False,
             "scale_note": f"forward+backward of {layers} real layers (no embedding, head or optimizer)",
             "predicted": pred, **res}
    if res["status"] != "ok":
        point["comparisons"] = []
        return point
    point["comparisons"] = train_comparisons(pred, res)
    return point


def train_comparisons(pred: dict, res: dict) -> list[dict]:
    """Predicted beside measured for a training point (pure Python)."""
    comps = [Comparison("weights_bytes", "B", pred["weights_bytes"], res["weights_bytes"], None),
             Comparison("activations_bytes", "B", pred["activations_bytes"], res["activations_bytes"], None),
             Comparison("peak_bytes", "B", pred["peak_bytes"], res["peak_bytes"], TOL_PEAK_TRAIN)]
    return [c.as_dict() for c in comps]
