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

Measured: weights (allocator delta when the layers are built), activations (allocator delta over the forward
pass, minus the output), peak (allocator peak over forward and backward, from before the layers were built),
and with ``none`` the tensors autograd saved, by module (``saved_tensors_hooks``), for the term-by-term table.

Predicted: weights and gradients from ``mlacalc.weights`` (2 bytes per parameter each), activations from
``mlacalc.activations.saved_tensors`` (plus RoPE tables), the recomputed layer's tensors during its backward,
and the run's own input, output and output gradient (stated). The training model leaves out activation
gradients in flight during backward; the peak's error shows what that costs.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict

from mlacalc.hardware import Hardware
from mlacalc.spec import ModelSpec

from . import predict
from .results import Comparison

DEFAULT_TRAIN_LAYERS = 2


def layer_dims(spec: ModelSpec):
    from mlacalc.kernels.layers import LayerDims

    a = spec.attention
    common = dict(hidden=spec.hidden_size, heads=a.num_heads, ffn_intermediate=spec.ffn.intermediate_size)
    if a.kind == "mla":
        return LayerDims(**common, kv_lora_rank=a.kv_lora_rank, q_lora_rank=a.q_lora_rank,
                         qk_nope_dim=a.qk_nope_head_dim, rope_dim=a.qk_rope_head_dim, v_head_dim=a.v_head_dim)
    return LayerDims(**common, kv_heads=a.num_kv_heads, head_dim=a.qk_head_dim)


def predict_train(spec: ModelSpec, batch: int, seq: int, layers: int, recompute: str) -> dict:
    """The calculator's figures for ``layers`` layers of ``spec`` (no embedding, head or optimizer)."""
    from mlacalc.activations import ActivationConfig, recomputed_tensors, rope_tensors, saved_tensors
    from mlacalc.weights import Parallel, layer_params_per_gpu

    cfg = ActivationConfig(micro_batch=batch, seq=seq, recompute=recompute, kernel="fused")
    params = sum(layer_params_per_gpu(spec, j, Parallel()).total for j in range(layers))
    per_layer = [t.to_json() for t in saved_tensors(spec, 0, cfg)]
    stored = sum(sum(t.bytes for t in saved_tensors(spec, j, cfg)) for j in range(layers))
    rope = sum(t.bytes for t in rope_tensors(spec, cfg))
    recompute_peak = max(sum(t.bytes for t in recomputed_tensors(spec, j, cfg)) for j in range(layers))
    x_bytes = batch * seq * spec.hidden_size * predict.ACT_BYTES
    io = 3 * x_bytes  # input, output, output gradient (stated)
    weights = 2 * params
    # The model counts layer 0's input (its attn_norm.input; full recompute's checkpoint) as an activation; here it
    # is the run's own input, allocated before the forward pass and already in ``io``: count it once.
    acts = stored + rope - x_bytes
    return {"params": params, "weights_bytes": int(weights), "grads_bytes": int(weights),
            "activations_bytes": int(acts), "recompute_peak_bytes": int(recompute_peak), "io_bytes": io,
            "peak_bytes": int(2 * weights + acts + recompute_peak + io), "saved_tensors_layer0": per_layer}


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


def measure_train(cfg, spec: ModelSpec, layers: int) -> dict:
    import torch

    from mlacalc.kernels.layers import make_layer

    from .memory import AllocatorWatch

    dims = layer_dims(spec)
    kind = spec.attention.kind
    B, S, d = cfg.batch, cfg.context, spec.hidden_size
    out: dict = {}
    torch.manual_seed(0)
    with AllocatorWatch() as whole:
        with AllocatorWatch() as ww:
            model = torch.nn.Sequential(*[make_layer(kind, dims) for _ in range(layers)]).to(
                device="cuda", dtype=torch.bfloat16)
        out["weights_bytes"] = ww.figures.allocated
        out["params"] = sum(p.numel() for p in model.parameters())
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
            y.backward(g)
            torch.cuda.synchronize()
        del y
    out["peak_bytes"] = whole.figures.peak
    out["grads_bytes"] = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters()
                             if p.grad is not None)
    if isinstance(log, SavedTensorLog):
        out["saved_tensors_measured"] = log.rows()

    # time one forward+backward step (grads reset each time; no L2 flush: training working sets dwarf L2)
    from .timing import time_cuda

    def step():
        for p in model.parameters():
            p.grad = None
        with _checkpointed_sdpa() if cfg.recompute == "selective" else contextlib.nullcontext():
            forward().backward(g)

    t = time_cuda(step, warmup=2, reps=min(cfg.reps, 10), max_seconds=2.0)
    out["latency"] = t.as_dict()
    del model, x, g
    return out


def profile_train(cfg, spec: ModelSpec, hw: Hardware, *, nvml=None) -> dict:
    import torch

    from .run import guarded

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
    from .run import TOL_PEAK_TRAIN

    comps = [Comparison("weights_bytes", "B", pred["weights_bytes"], res["weights_bytes"], None),
             Comparison("activations_bytes", "B", pred["activations_bytes"], res["activations_bytes"], None),
             Comparison("peak_bytes", "B", pred["peak_bytes"], res["peak_bytes"], TOL_PEAK_TRAIN)]
    return [c.as_dict() for c in comps]
