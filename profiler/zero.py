"""Training on several ranks: tensor parallelism (Megatron's f and g, with optional sequence parallelism) inside
each data-parallel replica, ZeRO stage 0-3 over the replicas, and a real AdamW step on fp32 master weights.

Rank ``r`` of ``tp x dp`` is TP rank ``r % tp`` of replica ``r // tp`` (TP groups of consecutive ranks, as
Megatron-LM). The layers are those of :mod:`.shard_layers` (the modules of :mod:`mlacalc.kernels.layers` with the
rank's heads and widths), run forward as Megatron runs a TP layer:

    h = x + g(Attn(f(RMSNorm(x))))      y = h + g(FFN(f(RMSNorm(h))))

``f`` enters the TP region (identity forward, all-reduce of the gradient; with SP an all-gather of the sequence
forward and a reduce-scatter backward), ``g`` leaves it (all-reduce; with SP a reduce-scatter forward and an
all-gather backward). MLA's down-projections and latent norms are whole on every rank: they run before ``f`` on
the rank's tokens, and ``f`` is applied to the latents (under SP the latents are gathered, as Megatron-Core's MLA
does), so every stored latent is split by SP as :mod:`mlacalc.activations` counts it. Under SP the gathered input
of a projection is saved as the rank's shard and gathered again in backward (Megatron's sequence parallelism); the
gradients of the whole (replicated) parameters, partial over the sequence shards, are all-reduced over TP.

ZeRO (Rajbhandari et al. 2020), every parameter sharded evenly over the ``dp`` ranks (each holds
``n / dp`` contiguous elements of it, as PyTorch FSDP2 shards per parameter):

- stage 0: bf16 weights and gradients whole; fp32 master weights and Adam m, v whole; gradients all-reduced;
- stage 1: the master weights and m, v of this rank's shard; gradients reduce-scattered after the backward, the
  updated shards all-gathered into the weights;
- stage 2: also the gradients: each layer's are reduce-scattered into the rank's shard as soon as the backward
  leaves the layer (one layer's full gradients live at a time);
- stage 3: also the weights: each layer's are all-gathered before its forward and freed after it, and gathered
  again when its backward starts (the saved weights are kept as references, FSDP's storage trick).

Memory per rank is measured as the bytes of the tensors held (weights, gradients, master weights, m and v; AdamW's
step counters apart), which :func:`mlacalc.training.model_states` predicts, and on a GPU also as the allocator's
peak over a training step.
"""

from __future__ import annotations

import statistics
import weakref

import torch
import torch.distributed as dist

from .layout import layer_pieces, rank_layout
from .shard_layers import (
    TORCH_DTYPES,
    Comm,
    _generator,
    build_layer,
    comm_kernel_time,
    peak_over,
    tensor_bytes,
    time_steps,
)

LR = 1e-3


# -------------------------------------------------------------------------------------------------------------
# Tensor parallelism with sequence parallelism: f and g
# -------------------------------------------------------------------------------------------------------------

class TPRegion:
    """Megatron's f (:meth:`enter`) and g (:meth:`leave`) over a TP group; ``sp``: the sequence (dim 1 of
    [b, s, d]) is split over the ranks outside the region."""

    def __init__(self, comm: Comm, sp: bool):
        self.comm, self.sp = comm, sp
        self.gathered: dict[int, torch.Tensor] = {}     # storage of a gathered tensor -> its local shard

    def gather_seq(self, x):
        """[b, s_l, ...] on each rank -> [b, s, ...] (a transposed view of a [s, b, ...] buffer)."""
        return self.comm.all_gather(x.transpose(0, 1)).transpose(0, 1)

    def scatter_seq(self, x):
        """[b, s, ...] -> this rank's [b, s_l, ...] of the sum over ranks."""
        return self.comm.reduce_scatter(x.transpose(0, 1)).transpose(0, 1)

    def enter(self, x):
        return _Enter.apply(x, self)

    def leave(self, x):
        return _Leave.apply(x, self)


class _Enter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, region: TPRegion):
        ctx.region = region
        if not region.sp:
            return x.view_as(x)
        g = region.gather_seq(x)
        ptr = g.untyped_storage().data_ptr()
        region.gathered[ptr] = x.detach()
        weakref.finalize(g, region.gathered.pop, ptr, None)   # the address may be reused once g is gone
        return g

    @staticmethod
    def backward(ctx, g):
        r = ctx.region
        if r.sp:
            return r.scatter_seq(g), None
        return r.comm.all_reduce(g.contiguous()), None


class _Leave(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, region: TPRegion):
        ctx.region = region
        if region.sp:
            return region.scatter_seq(x)
        return region.comm.all_reduce(x.contiguous().clone()) if region.comm.live else x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        r = ctx.region
        return (r.gather_seq(g.contiguous()) if r.sp else g), None


def mla_attend(attn, u, region: TPRegion):
    """MLA (decompressed, SDPA) on the rank's heads: down-projections and latent norms on the rank's tokens, f on
    the query input (or query latent) and on the KV latent and RoPE key, then the per-head part."""
    from mlacalc.kernels.reference import apply_rope, rope_cos_sin
    from torch.nn import functional as F

    c = attn.cfg
    H, dn, dr, dv, r = c.heads, c.qk_nope_dim, c.qk_rope_dim, c.v_head_dim, c.kv_lora_rank
    if c.q_lora_rank:
        q = attn.q_b_proj(region.enter(attn.q_a_norm(attn.q_a_proj(u))))
    else:
        q = attn.q_proj(region.enter(u))
    c_kv, k_pe = attn.kv_a_proj(u).split([r, dr], dim=-1)
    c_kv = region.enter(attn.kv_a_norm(c_kv))
    k_pe = region.enter(k_pe)
    B, S = c_kv.shape[:2]
    cos, sin = rope_cos_sin(torch.arange(S, device=u.device), dr, c.rope_theta, dtype=u.dtype)
    q_nope, q_pe = q.view(B, S, H, dn + dr).split([dn, dr], dim=-1)
    q = torch.cat([q_nope, apply_rope(q_pe, cos, sin)], dim=-1)
    k_pe = apply_rope(k_pe, cos, sin)
    k_nope = torch.einsum("bsr,hdr->bshd", c_kv, attn.w_uk())
    v = torch.einsum("bsr,hdr->bshd", c_kv, attn.w_uv())
    k = torch.cat([k_nope, k_pe[:, :, None, :].expand(-1, -1, H, -1)], dim=-1)
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True,
                                       scale=c.softmax_scale).transpose(1, 2)
    return attn.o_proj(o.reshape(B, S, H * dv))


def train_layer(m, x, region: TPRegion):
    """One TP (+SP) decoder layer forward: see the module docstring."""
    u = m.attn_norm(x)
    a = mla_attend(m.attn, u, region) if hasattr(m.attn, "kv_a_proj") else m.attn(region.enter(u))
    h = x + region.leave(a)
    return h + region.leave(m.ffn(region.enter(m.ffn_norm(h))))


# -------------------------------------------------------------------------------------------------------------
# ZeRO
# -------------------------------------------------------------------------------------------------------------

class Zero:
    """ZeRO stage 0-3 over ``dp`` (see the module docstring). ``replicated``: per layer, the names of the
    parameters whole on every TP rank; under ``sp`` their gradients are partial sums over the sequence shards,
    all-reduced over ``tp`` before the data-parallel step (without SP they are already whole)."""

    def __init__(self, layers, stage: int, dp: Comm, tp: Comm, replicated: list[set], sp: bool = False):
        self.layers, self.stage, self.dp, self.tp = layers, stage, dp, tp
        D, r = dp.n, dp.rank
        self.entries = []       # (layer, name, param, master, grad_shard, weight_shard)
        masters = []
        for j, m in enumerate(layers):
            for name, p in m.named_parameters():
                n = p.numel()
                lo, hi = (r * n // D, (r + 1) * n // D) if stage >= 1 else (0, n)
                flat = p.detach().reshape(-1)
                master = torch.nn.Parameter(flat[lo:hi].float().clone())
                gshard = torch.zeros(hi - lo, dtype=p.dtype, device=p.device) if stage >= 2 else None
                wshard = flat[lo:hi].clone() if stage == 3 else None
                if stage < 2:
                    p.grad = torch.zeros_like(p)     # a persistent gradient buffer (Megatron, DeepSpeed)
                self.entries.append({"layer": j, "name": name, "param": p, "master": master, "grad_shard": gshard,
                                     "weight_shard": wshard, "replicated": name in replicated[j],
                                     "partial": sp and name in replicated[j], "lo": lo, "hi": hi})
                masters.append(master)
        self.opt = torch.optim.AdamW(masters, lr=LR, foreach=False)
        self.by_layer = [[e for e in self.entries if e["layer"] == j] for j in range(len(layers))]
        self.ptr: dict[int, dict] = {}
        self.bwd_layer = None
        self.flushed: set[int] = set()
        if stage == 3:
            for j in range(len(layers)):
                self.release(j)
        else:
            self._map_all()

    def _map_all(self):
        self.ptr = {e["param"].untyped_storage().data_ptr(): e for e in self.entries}

    # --- stage 3: gather and release a layer's weights
    def gather(self, j: int):
        for e in self.by_layer[j]:
            p = e["param"]
            st = p.untyped_storage()
            if st.nbytes() == 0:
                st.resize_(p.numel() * p.element_size())
                with torch.no_grad():
                    self.dp.all_gather(e["weight_shard"], out=p.detach().view(-1))
                self.ptr[st.data_ptr()] = e

    def release(self, j: int):
        for e in self.by_layer[j]:
            st = e["param"].untyped_storage()
            self.ptr.pop(st.data_ptr(), None)
            st.resize_(0)

    def before_forward(self, j: int):
        if self.stage == 3:
            self.gather(j)

    def after_forward(self, j: int):
        if self.stage == 3:
            self.release(j)

    # --- saved tensors: weights as references (stage 2/3), a layer change starts the previous layer's flush
    def pack(self, t):
        if self.stage < 2 or t.untyped_storage().nbytes() == 0:
            return None
        e = self.ptr.get(t.untyped_storage().data_ptr())
        if e is None:
            return None
        return ("param", e, tuple(t.shape), t.stride(), t.storage_offset())

    def unpack(self, packed):
        _, e, shape, stride, offset = packed
        j = e["layer"]
        if self.bwd_layer != j:
            if self.bwd_layer is not None:
                self.flush(self.bwd_layer)
                if self.stage == 3:
                    self.release(self.bwd_layer)
            if self.stage == 3:
                self.gather(j)
            self.bwd_layer = j
        return e["param"].detach().as_strided(shape, stride, offset)

    @torch.no_grad()
    def _tp_reduce(self, e):
        if e["partial"] and self.tp.n > 1 and e["param"].grad is not None:
            self.tp.all_reduce(e["param"].grad)

    @torch.no_grad()
    def flush(self, j: int):
        """Stage 2/3: layer j's full gradients -> this rank's shard (reduce-scatter), then freed."""
        if j in self.flushed:
            return
        for e in self.by_layer[j]:
            p = e["param"]
            if p.grad is None:
                continue
            self._tp_reduce(e)
            e["grad_shard"].copy_(self.dp.reduce_scatter(p.grad.reshape(-1)))
            p.grad = None
        self.flushed.add(j)

    @torch.no_grad()
    def finish_backward(self):
        """After ``backward``: the last layer's flush (stage 2/3), or the data-parallel reduction (stage 0/1)."""
        if self.stage >= 2:
            for j in range(len(self.layers)):
                self.flush(j)
            if self.stage == 3 and self.bwd_layer is not None:
                self.release(self.bwd_layer)
        else:
            for e in self.entries:
                self._tp_reduce(e)
                g = e["param"].grad
                if self.stage == 0:
                    self.dp.all_reduce(g)
                else:
                    e["reduced"] = self.dp.reduce_scatter(g.reshape(-1))
        self.bwd_layer = None
        self.flushed = set()

    @torch.no_grad()
    def step(self):
        """AdamW on the fp32 masters, one layer at a time (one layer's fp32 gradients live at a time), then the
        new bf16 weights: copied (stage 0), all-gathered from the shards (1, 2), or kept as the shard (3)."""
        D = self.dp.n
        for group in self.by_layer:
            for e in group:
                if self.stage == 0:
                    g = e["param"].grad
                elif self.stage == 1:
                    g = e.pop("reduced")
                else:
                    g = e["grad_shard"]
                e["master"].grad = g.reshape(-1).float().div_(D)
            self.opt.step()
            for e in group:
                e["master"].grad = None
                p = e["param"]
                if self.stage == 0:
                    p.detach().view(-1).copy_(e["master"])
                elif self.stage in (1, 2):
                    self.dp.all_gather(e["master"].to(p.dtype), out=p.detach().view(-1))
                else:
                    e["weight_shard"].copy_(e["master"])
                if self.stage < 2:
                    p.grad.zero_()

    # --- what is held
    def states(self) -> dict:
        w = g = o = 0
        counters = 0
        for e in self.entries:
            p = e["param"]
            w += (e["weight_shard"].numel() * e["weight_shard"].element_size() if self.stage == 3
                  else p.numel() * p.element_size())
            g += (e["grad_shard"].numel() * e["grad_shard"].element_size() if self.stage >= 2
                  else p.grad.numel() * p.grad.element_size())
            m = e["master"]
            st = self.opt.state.get(m, {})
            o += m.numel() * m.element_size() + tensor_bytes(st[k] for k in ("exp_avg", "exp_avg_sq") if k in st)
            if "step" in st and torch.is_tensor(st["step"]):
                counters += st["step"].numel() * st["step"].element_size()
        return {"weights_bytes": w, "grads_bytes": g, "optimizer_bytes": o, "adamw_step_counter_bytes": counters}

    @torch.no_grad()
    def grad_sums(self) -> dict:
        """Sum and sum of squares of the gradients held (after :meth:`finish_backward`), apart for the parameters
        split over TP ("split": add the ranks' up) and those whole on every TP rank ("replicated": the same on
        each): a layout-independent check of the gradients (tests)."""
        out = {"split": [0.0, 0.0], "replicated": [0.0, 0.0]}
        for e in self.entries:
            g = e["grad_shard"] if self.stage >= 2 else e["param"].grad
            k = out["replicated" if e["replicated"] else "split"]
            k[0] += float(g.double().sum())
            k[1] += float(g.double().pow(2).sum())
        return out

    @torch.no_grad()
    def checksum(self) -> float:
        """Sum of the fp32 masters over this rank's shards (the same model on every layout: tests)."""
        return float(sum(e["master"].double().sum() for e in self.entries))


class _Hooks:
    """saved_tensors_hooks for a training forward: ZeRO's weight references and SP's re-gathered inputs."""

    def __init__(self, zero: Zero, region: TPRegion):
        self.zero, self.region = zero, region

    def pack(self, t):
        z = self.zero.pack(t)
        if z is not None:
            return z
        if self.region.sp and t.untyped_storage().nbytes():
            local = self.region.gathered.get(t.untyped_storage().data_ptr())
            if local is not None:
                return ("sp", local, tuple(t.shape), t.stride(), t.storage_offset())
        return t

    def unpack(self, x):
        if isinstance(x, tuple) and x and x[0] == "param":
            return self.zero.unpack(x)
        if isinstance(x, tuple) and x and x[0] == "sp":
            _, local, shape, stride, offset = x
            with torch.no_grad():
                buf = self.region.comm.all_gather(local.transpose(0, 1))   # the same layout as the forward's
            return buf.as_strided(shape, stride, offset)
        return x


def replicated_params(spec, lay, layers: int) -> list[set]:
    """Per layer, the parameters whole on every TP rank (norms, MLA's down-projections and latent norms)."""
    return [{p.name for p in layer_pieces(spec, lay, j) if p.dim is None} for j in range(layers)]


def train_input(spec, cfg, dp_rank: int, device, dtype, name: str):
    """This replica's micro-batch input (or output gradient) [b, s, d], seeded by the replica."""
    g = _generator(device, cfg.seed, f"{name}.{dp_rank}")
    return torch.randn(cfg.batch, cfg.context, spec.hidden_size, generator=g, device=device).to(dtype)


def measure_train(cfg, spec, rank: int, world: int, device, *, outputs: bool = False) -> dict:
    """A training point on this rank (see the module docstring)."""
    from .device import nvml_open

    cuda = device.type == "cuda"
    tp, dp = cfg.tp, cfg.dp
    groups_tp = [dist.new_group(list(range(k * tp, (k + 1) * tp))) for k in range(dp)]
    groups_dp = [dist.new_group(list(range(t, world, tp))) for t in range(tp)]
    tp_comm = Comm(groups_tp[rank // tp], wall=not cuda)
    dp_comm = Comm(groups_dp[rank % tp], wall=not cuda)
    region = TPRegion(tp_comm, cfg.sp)
    par = cfg.parallel()
    lay = rank_layout(spec, par, rank % tp, cfg.batch)
    dtype = TORCH_DTYPES[cfg.dtype]
    nvml, nvml_status = nvml_open(rank) if cuda else (None, "absent: CPU run")
    alloc = (lambda: torch.cuda.memory_allocated(device)) if cuda else (lambda: 0)
    base = alloc()
    start_used = nvml.memory()[0] if nvml is not None else None
    layers = [build_layer(spec, lay, j, device, dtype, cfg.seed) for j in range(cfg.layers)]
    zero = Zero(layers, cfg.zero, dp_comm, tp_comm, replicated_params(spec, lay, cfg.layers), cfg.sp)
    x = train_input(spec, cfg, rank // tp, device, dtype, "x")
    dy = train_input(spec, cfg, rank // tp, device, dtype, "dy")
    if cfg.sp:
        sl = cfg.context // tp
        x = x[:, (rank % tp) * sl:(rank % tp + 1) * sl].contiguous()
        dy = dy[:, (rank % tp) * sl:(rank % tp + 1) * sl].contiguous()
    hooks = _Hooks(zero, region)
    out: dict = {"rank": rank, "tp_rank": rank % tp, "dp_rank": rank // tp, "layout": lay.as_dict(),
                 "device": str(device), "nvml": nvml_status}

    def forward():
        h = x
        with torch.autograd.graph.saved_tensors_hooks(hooks.pack, hooks.unpack):
            for j, m in enumerate(layers):
                zero.before_forward(j)
                h = train_layer(m, h, region)
                zero.after_forward(j)
        region.gathered.clear()
        return h

    def step(check: bool = False):
        y = forward()
        y.backward(dy)
        zero.finish_backward()
        if check:
            out["grad_sums"] = zero.grad_sums()
        zero.step()
        return y

    y = step(outputs)                            # AdamW creates m and v at its first step
    out.update(zero.states())
    out["checksum"] = zero.checksum()
    if outputs:
        out["output"] = y.detach().float().cpu().tolist()
    y = None
    out.update(peak_over(step, cuda=cuda, device=device, base=base, nvml=nvml, start_used=start_used)[0])
    times, comm_s = time_steps(step, cfg.reps, [tp_comm, dp_comm], cuda=cuda, device=device)
    out["collectives_by_op"] = {"tp": tp_comm.counts(), "dp": dp_comm.counts()}
    out["latency_s"] = statistics.median(times)
    if cuda:
        dist.barrier()
        try:
            out["comm_s"], out["comm_kernels"] = comm_kernel_time(step, reps=2)
        except Exception as e:  # noqa: BLE001  (the profiler is a nice-to-have)
            out["comm_s"], out["comm_error"] = None, str(e).splitlines()[0][:200]
    else:
        out["comm_s"] = statistics.median(comm_s) if comm_s else None
    out["status"] = "ok"
    return out


def reference_forward(cfg, spec, device="cpu"):
    """The layers' forward unsharded in this process (tests): [b, s, d] float32 for replica 0's micro-batch."""
    from mlacalc.parallel import Parallelism

    dtype = TORCH_DTYPES[cfg.dtype]
    lay = rank_layout(spec, Parallelism(), 0, cfg.batch)
    layers = [build_layer(spec, lay, j, device, dtype, cfg.seed) for j in range(cfg.layers)]
    region = TPRegion(Comm(), False)
    h = train_input(spec, cfg, 0, torch.device(device), dtype, "x")
    with torch.no_grad():
        for m in layers:
            h = train_layer(m, h, region)
    return h.float()


def reference_grads(cfg, spec, device="cpu") -> dict:
    """One unsharded forward and backward of replica 0's micro-batch in this process: :meth:`Zero.grad_sums`
    (tests compare a sharded run's with it)."""
    from mlacalc.parallel import Parallelism

    dtype = TORCH_DTYPES[cfg.dtype]
    lay = rank_layout(spec, Parallelism(), 0, cfg.batch)
    layers = [build_layer(spec, lay, j, device, dtype, cfg.seed) for j in range(cfg.layers)]
    zero = Zero(layers, 0, Comm(), Comm(), replicated_params(spec, lay, cfg.layers))
    region = TPRegion(Comm(), False)
    dev = torch.device(device)
    h = train_input(spec, cfg, 0, dev, dtype, "x")
    for m in layers:
        h = train_layer(m, h, region)
    h.backward(train_input(spec, cfg, 0, dev, dtype, "dy"))
    zero.finish_backward()
    return zero.grad_sums()


__all__ = ["TPRegion", "Zero", "measure_train", "mla_attend", "reference_forward", "reference_grads", "train_layer"]
