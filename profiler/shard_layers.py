"""The torch side of the multi-process runner (:mod:`.sharded`): one rank's layers, KV cache, decode step and its
collectives.

- :class:`Comm`: the collectives of one process group through ``torch.distributed`` (NCCL or gloo), each one
  logged with the bytes a rank sends by nccl-tests' conventions (all-reduce ``2 (n-1)/n`` x size, all-gather
  ``(n-1)/n`` x the output, reduce-scatter ``(n-1)/n`` x the input, all-to-all the rows sent to other ranks)
  and, on CPU, its wall time. Without a process group (an unsharded reference in the tests) every call is the
  identity and nothing is logged.
- :func:`build_layer`: one decoder layer of rank ``r``: the modules of :mod:`mlacalc.kernels.layers` (MLA or
  GQA attention, RMSNorm, gated FFN) built with the rank's heads and widths, or :class:`MoE` for an MoE layer;
  every parameter filled with the rank's slice of a full tensor drawn from a generator seeded by the tensor's name
  (:data:`.sharded.Piece`), so that a sharded run and an unsharded one compute the same function.
- :func:`decode_step`: one decode step of a batch through the layers: projections of the new token, the cache
  write, absorbed MLA (``mla_decode``) or GQA (``gqa_decode``) over the cached tokens, the FFN or MoE, and the two
  collectives per layer of the layout.
- :func:`measure_decode`: a decode point on one rank (what :func:`.sharded.run_points` runs in each process).
"""

from __future__ import annotations

import math
import statistics
import time
import zlib

import torch
import torch.distributed as dist
from mlacalc.kernels.layers import FeedForward, LayerDims, make_layer
from torch import nn
from torch.nn import functional as F

from mlacalc.activations import is_moe_layer

from .layout import Piece, RankLayout, layer_pieces, rank_layout

COMM_KERNELS = ("nccl", "allreduce", "all_reduce", "allgather", "all_gather", "reducescatter", "reduce_scatter",
                "alltoall", "all_to_all", "sendrecv")
TORCH_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


# -------------------------------------------------------------------------------------------------------------
# Collectives
# -------------------------------------------------------------------------------------------------------------

class Comm:
    """The collectives of one process group, logged (see the module docstring). ``group`` None: the default
    group when one is initialised, else no communication at all (identity, one rank)."""

    def __init__(self, group=None, *, wall: bool = False):
        self.live = dist.is_initialized()
        self.group = group
        self.n = dist.get_world_size(group) if self.live else 1
        self.rank = dist.get_rank(group) if self.live else 0
        self.wall = wall            # time each call on the host (CPU: gloo calls are synchronous)
        self.log: list[dict] = []
        self.layer = None
        self._rs_native = True

    def _record(self, op: str, nbytes: float, t0: float | None, kind: str = "data"):
        self.log.append({"op": op, "bytes": nbytes, "kind": kind, "layer": self.layer,
                         "seconds": time.perf_counter() - t0 if t0 is not None else None})

    def _t0(self):
        return time.perf_counter() if self.wall else None

    def all_reduce(self, x):
        if not self.live:
            return x
        t0 = self._t0()
        dist.all_reduce(x, group=self.group)
        self._record("all_reduce", 2 * (self.n - 1) / self.n * x.numel() * x.element_size(), t0)
        return x

    def all_gather(self, x, out=None):
        """[m, ...] per rank -> [n m, ...] in rank order (into ``out`` when given)."""
        if not self.live:
            return x if out is None else out.copy_(x.reshape(out.shape))
        if out is None:
            out = torch.empty((self.n * x.shape[0],) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
        t0 = self._t0()
        dist.all_gather_into_tensor(out, x.contiguous(), group=self.group)
        self._record("all_gather", (self.n - 1) / self.n * out.numel() * out.element_size(), t0)
        return out

    def reduce_scatter(self, x):
        """[n m, ...] -> this rank's [m, ...] of the sum over ranks."""
        if not self.live:
            return x
        out = torch.empty((x.shape[0] // self.n,) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
        t0 = self._t0()
        if self._rs_native:
            try:
                dist.reduce_scatter_tensor(out, x.contiguous(), group=self.group)
            except (RuntimeError, NotImplementedError):   # an older gloo: reduce all, keep this rank's part
                self._rs_native = False
        if not self._rs_native:
            y = x.contiguous().clone()
            dist.all_reduce(y, group=self.group)
            out.copy_(y.chunk(self.n)[self.rank])
        self._record("reduce_scatter", (self.n - 1) / self.n * x.numel() * x.element_size(), t0)
        return out

    def all_to_all(self, x, send_rows: list[int], recv_rows: list[int], kind: str = "data"):
        """Rows of ``x`` in rank order, ``send_rows[r]`` to rank r; returns the rows received, by source rank."""
        if not self.live:
            return x
        out = torch.empty((sum(recv_rows),) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
        t0 = self._t0()
        dist.all_to_all_single(out, x.contiguous(), recv_rows, send_rows, group=self.group)
        row = math.prod(x.shape[1:]) * x.element_size()
        sent = sum(c for r, c in enumerate(send_rows) if r != self.rank) * row
        self._record("all_to_all", sent, t0, kind)
        return out

    def counts(self, kind: str = "data") -> dict:
        out: dict[str, int] = {}
        for e in self.log:
            if e["kind"] == kind:
                out[e["op"]] = out.get(e["op"], 0) + 1
        return out


def peak_over(run, *, cuda: bool, device, base: int, nvml, start_used: int | None) -> tuple[dict, object]:
    """``run()``'s result and this rank's peak over it: ``peak_bytes`` (the allocator's peak less ``base``, the
    bytes allocated before the layers were built; None on CPU, where the tensor bytes are the measurement) and
    ``nvml_peak_delta_bytes`` (NVML's sampled peak less ``start_used``, where NVML answers)."""
    from .memory import NVMLSampler

    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    with NVMLSampler(nvml) as sampler:
        result = run()
        if cuda:
            torch.cuda.synchronize(device)
    out: dict = {"peak_bytes": torch.cuda.max_memory_allocated(device) - base if cuda else None}
    if cuda and sampler.result is not None and sampler.result.peak is not None and start_used is not None:
        out["nvml_peak_delta_bytes"] = sampler.result.peak - start_used
    return out, result


def time_steps(step, reps: int, comms: list, *, cuda: bool, device, barrier: bool = True) -> tuple[list, list]:
    """``reps`` timed calls of ``step`` on this rank, the ranks lined up by a barrier before each: seconds per call
    (CUDA events on the GPU, wall clock on CPU) and, on CPU, the seconds the ``comms`` logs spent in collectives
    per call (on the GPU that comes from the profiler: :func:`comm_kernel_time`)."""
    times, comm_s = [], []
    for _ in range(reps):
        if barrier:
            dist.barrier()
        for c in comms:
            c.log.clear()
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
            comm_s.append(sum(e["seconds"] or 0.0 for c in comms for e in c.log))
    return times, comm_s


def comm_kernel_time(fn, reps: int = 3) -> tuple[float, list[str]]:
    """Device seconds per call of ``fn`` spent in communication kernels (names containing nccl, all_reduce,
    all_gather, ...), from a torch.profiler trace (:func:`.timing.device_kernels`); and the kernel names found."""
    from .timing import device_kernels

    comm = [(name, seconds) for name, _, seconds in device_kernels(fn, reps=reps)
            if any(k in name.lower() for k in COMM_KERNELS)]
    return sum(s for _, s in comm) / reps, [name[:80] for name, _ in comm]


# -------------------------------------------------------------------------------------------------------------
# Layers
# -------------------------------------------------------------------------------------------------------------

class MoE(nn.Module):
    """DeepSeek-style MoE on one rank: a whole router ``[E, d]`` (softmax, top-k, weights not renormalised, as
    DeepSeek-V2), the routed experts this rank holds stacked (``gate``/``up`` ``[E_l, f, d]``, ``down``
    ``[E_l, d, f]``; ``f`` the rank's width of each), and the shared experts as one gated FFN of their joint width
    (or none)."""

    def __init__(self, hidden: int, num_experts: int, top_k: int, experts: tuple, width: int, shared: int):
        super().__init__()
        self.router = nn.Linear(hidden, num_experts, bias=False)
        self.expert_ids = tuple(experts)
        self.top_k = top_k
        n = len(experts)
        self.gate = nn.Parameter(torch.empty(n, width, hidden))
        self.up = nn.Parameter(torch.empty(n, width, hidden))
        self.down = nn.Parameter(torch.empty(n, hidden, width))
        self.shared = FeedForward(hidden, shared) if shared else None

    def route(self, x):
        """Top-k expert ids [T, k] and their weights [T, k] (x's dtype)."""
        probs = torch.softmax(self.router(x).float(), dim=-1)
        w, ids = probs.topk(self.top_k, dim=-1)
        return ids, w.to(x.dtype)

    def expert(self, i: int, h):
        """Local expert ``i`` (stack index) on rows ``h``."""
        return (F.silu(h @ self.gate[i].t()) * (h @ self.up[i].t())) @ self.down[i].t()

    def local(self, x, ids, w):
        """Sum over each token's experts held here of weight x expert(token): [T, d] (other experts: 0)."""
        y = torch.zeros_like(x)
        e0, n = self.expert_ids[0], len(self.expert_ids)
        flat = ids.reshape(-1)
        tok = torch.arange(x.shape[0], device=x.device).repeat_interleave(ids.shape[1])
        order = torch.argsort(flat, stable=True)
        counts = torch.bincount(flat, minlength=self.router.out_features)[e0:e0 + n].tolist()
        start = int((flat < e0).sum().item())
        for i, c in enumerate(counts):
            if c:
                sel = order[start:start + c]
                t = tok[sel]
                y.index_add_(0, t, self.expert(i, x[t]) * w.reshape(-1)[sel, None])
            start += c
        return y


def build_layer(spec, lay: RankLayout, layer: int, device, dtype, seed: int = 0, fill: bool = True) -> nn.Module:
    """Decoder layer ``layer`` as rank ``lay`` holds it (see the module docstring); ``device`` "meta" builds the
    shapes only."""
    a, f = spec.attention, spec.ffn
    mla = a.kind == "mla"
    dims = LayerDims(hidden=spec.hidden_size, heads=len(lay.q_heads), ffn_intermediate=max(1, len(lay.ffn)),
                     kv_heads=None if mla else len(lay.kv_heads), head_dim=a.qk_head_dim,
                     kv_lora_rank=a.kv_lora_rank or 512, q_lora_rank=a.q_lora_rank,
                     qk_nope_dim=a.qk_nope_head_dim, rope_dim=a.qk_rope_head_dim, v_head_dim=a.v_head_dim)
    with torch.device("meta"):
        m = make_layer("mla" if mla else "gqa", dims)
        if is_moe_layer(spec, layer):
            m.ffn = MoE(spec.hidden_size, f.num_experts, f.experts_per_token, lay.experts, len(lay.expert_width),
                        len(lay.shared_width))
    m = m.to(dtype)
    if str(device) == "meta":
        return m
    m = m.to_empty(device=device)
    if fill:
        fill_layer(m, layer_pieces(spec, lay, layer), layer, seed)
    return m


def _generator(device, seed: int, key: str):
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + zlib.crc32(key.encode())) % (2**63))
    return g


def full_tensor(shape, key: str, seed: int, device, *, norm: bool = False):
    """The full (unsharded) tensor named ``key``, the same on every rank and in every layout: N(0, 1) over
    sqrt(fan-in) for matrices, 1 + 0.1 N(0, 1) for norm weights (float32)."""
    t = torch.randn(tuple(shape), generator=_generator(device, seed, key), device=device, dtype=torch.float32)
    if norm or len(shape) == 1:
        return 1 + 0.1 * t
    return t / math.sqrt(shape[-1])


@torch.no_grad()
def fill_layer(m: nn.Module, pieces: list[Piece], layer: int, seed: int) -> None:
    params = dict(m.named_parameters())
    for p in pieces:
        full = full_tensor(p.full, f"layers.{layer}.{p.source}", seed, params[p.name].device)
        part = full if p.dim is None else full.narrow(p.dim, p.start, p.length)
        dst = params[p.name] if p.slot is None else params[p.name][p.slot]
        dst.copy_(part)
        del full, part


# -------------------------------------------------------------------------------------------------------------
# The KV cache and one decode step
# -------------------------------------------------------------------------------------------------------------

@torch.no_grad()
def build_cache(spec, lay: RankLayout, layers: int, context: int, device, dtype, seed: int = 0,
                rows: int | None = None) -> list[list]:
    """Each layer's cache for this rank's sequences: MLA ``[B_r, C, r + d_rope]`` (the whole latent, on every
    rank), GQA ``k, v [B_r, C, kv_heads_r, d]``. Values: each sequence's full cache drawn from a generator seeded by
    (layer, sequence), then this rank's KV heads. ``rows``: allocate this many sequences (padding included)."""
    a = spec.attention
    B = rows if rows is not None else len(lay.sequences)
    out = []
    for j in range(layers):
        if a.kind == "mla":
            w = a.kv_lora_rank + a.qk_rope_head_dim
            c = torch.empty(B, context, w, dtype=dtype, device=device)
            for i, s in enumerate(lay.sequences):
                c[i] = torch.randn(context, w, generator=_generator(device, seed, f"kv.{j}.{s}"), device=device)
            c[len(lay.sequences):] = 0
            out.append([c])
        else:
            g, D, hk = a.num_kv_heads, a.qk_head_dim, lay.kv_heads
            k = torch.empty(B, context, len(hk), D, dtype=dtype, device=device)
            v = torch.empty_like(k)
            for i, s in enumerate(lay.sequences):
                for t, name in ((k, "k"), (v, "v")):
                    full = torch.randn(context, g, D, generator=_generator(device, seed, f"{name}.{j}.{s}"),
                                       device=device)
                    t[i] = full[:, hk.start:hk.stop]
            k[len(lay.sequences):] = 0
            v[len(lay.sequences):] = 0
            out.append([k, v])
    return out


def _attend(layer, u, cache, pos: int, impl: str, seqlens):
    """One decode token per sequence: u [T, d] (normed) -> attention output [T, d] (a partial sum over heads under
    TP). Writes the token's cache entry at position ``pos`` (the last of the ``pos + 1`` cached tokens)."""
    from mlacalc.kernels.decode import gqa_decode, mla_decode
    from mlacalc.kernels.reference import absorb_query, apply_rope, rope_cos_sin

    attn = layer.attn
    x3 = u[:, None, :]
    positions = torch.tensor([pos], device=u.device)
    extra = {"max_seqlen": pos + 1} if impl in ("triton", "auto") else {}
    if hasattr(attn, "kv_a_proj"):            # MLA, absorbed
        c = attn.cfg
        q_nope, q_pe = attn.project_q(x3, positions)
        c_kv, k_pe = attn.project_kv(x3, positions)
        (kv,) = cache
        kv[:, pos, :c.kv_lora_rank] = c_kv[:, 0]
        kv[:, pos, c.kv_lora_rank:] = k_pe[:, 0]
        q = absorb_query(q_nope, q_pe, attn.w_uk())
        o_lat = mla_decode(q, kv, seqlens, None, softmax_scale=c.softmax_scale, kv_lora_rank=c.kv_lora_rank,
                           impl=impl, **extra)
        return attn.output_from_latent(o_lat)[:, 0]
    d = attn.dims
    T, D, h, hk = u.shape[0], d.head_dim, d.heads, attn.kv_heads
    cos, sin = rope_cos_sin(positions, D, d.rope_theta, dtype=u.dtype)
    q = apply_rope(attn.q_proj(x3).view(T, 1, h, D), cos, sin)
    k = apply_rope(attn.k_proj(x3).view(T, 1, hk, D), cos, sin)
    kc, vc = cache
    kc[:, pos] = k[:, 0]
    vc[:, pos] = attn.v_proj(u).view(T, hk, D)
    o = gqa_decode(q, kc, vc, seqlens, None, softmax_scale=D ** -0.5, impl="triton" if impl == "auto" else impl,
                   **extra)
    return attn.o_proj(o.reshape(T, h * D))


def _ffn_local(ffn, x):
    """This rank's part of the FFN over tokens x: dense (its width) or MoE (its experts or widths, and its part of
    the shared experts); a partial sum over ranks."""
    if isinstance(ffn, MoE):
        ids, w = ffn.route(x)
        y = ffn.local(x, ids, w)
        return y + ffn.shared(x) if ffn.shared is not None else y
    return ffn(x)


def _moe_all_to_all(ffn: MoE, x, valid: int, comm: Comm):
    """Data-parallel attention with ``ep > 1``: route this rank's tokens, send each token copy to the rank holding
    its expert (all-to-all, after an all-to-all of the counts per expert, logged as metadata), run the experts held
    here, send the outputs back (all-to-all), combine with the routing weights; shared experts run here whole."""
    n, El = comm.n, len(ffn.expert_ids)
    ids, w = ffn.route(x[:valid])
    flat, wf = ids.reshape(-1), w.reshape(-1)
    tok = torch.arange(valid, device=x.device).repeat_interleave(ids.shape[1])
    order = torch.argsort(flat, stable=True)
    per_expert = torch.bincount(flat, minlength=n * El).view(n, El)        # copies this rank sends, by expert
    got = comm.all_to_all(per_expert.reshape(n * El, 1), [El] * n, [El] * n, kind="meta").view(n, El)
    send = per_expert.sum(1).tolist()
    recv_by = got.tolist()
    rows = comm.all_to_all(x[tok[order]], send, [sum(r) for r in recv_by])
    out = torch.empty_like(rows)
    start = 0
    for src in range(n):                                                    # rows from each source, by expert
        for i, c in enumerate(recv_by[src]):
            if c:
                out[start:start + c] = ffn.expert(i, rows[start:start + c])
            start += c
    back = comm.all_to_all(out, [sum(r) for r in recv_by], send)
    y = torch.zeros_like(x)
    y[:valid].index_add_(0, tok[order], back * wf[order, None])
    if ffn.shared is not None:
        y = y + ffn.shared(x)
    return y


@torch.no_grad()
def decode_step(layers, caches, x, comm: Comm, *, par, spec, context: int, impl: str, valid: int):
    """One decode step of this rank's tokens ``x`` [T, d] through ``layers``; returns the new hidden [T, d].
    ``valid``: rows of x that are real sequences (the rest pad data-parallel attention's equal shares)."""
    seqlens = torch.full((x.shape[0],), context, dtype=torch.int32, device=x.device)
    pos = context - 1
    for j, (layer, cache) in enumerate(zip(layers, caches)):
        comm.layer = j
        a = _attend(layer, layer.attn_norm(x), cache, pos, impl, seqlens)
        if not par.dp_attention:
            a = comm.all_reduce(a)
        x = x + a
        v = layer.ffn_norm(x)
        if not par.dp_attention:
            f = comm.all_reduce(_ffn_local(layer.ffn, v))
        elif isinstance(layer.ffn, MoE) and par.ep > 1:
            f = _moe_all_to_all(layer.ffn, v, valid, comm)
        else:
            f = comm.reduce_scatter(_ffn_local(layer.ffn, comm.all_gather(v)))
        x = x + f
    comm.layer = None
    return x


def _decode_impl(cfg, spec, cuda: bool) -> str:
    if cfg.kernel != "auto":
        return cfg.kernel
    if cuda:
        return "auto"
    return "eager" if spec.attention.kind == "mla" else "sdpa"


def decode_input(spec, batch: int, seed: int, device, dtype):
    """The step's hidden input for every sequence [B, d] (seeded: the same in every layout)."""
    return torch.randn(batch, spec.hidden_size, generator=_generator(device, seed, "input"), device=device).to(dtype)


def tensor_bytes(ts) -> int:
    return sum(t.numel() * t.element_size() for t in ts)


def measure_decode(cfg, spec, rank: int, world: int, device, *, outputs: bool = False) -> dict:
    """A decode point on this rank (see :mod:`.sharded`)."""
    from .device import nvml_open
    from .memory import is_oom

    cuda = device.type == "cuda"
    par = cfg.parallel()
    dtype = TORCH_DTYPES[cfg.dtype]
    lay = rank_layout(spec, par, rank, cfg.batch)
    comm = Comm(wall=not cuda)
    rows = math.ceil(cfg.batch / par.tp) if par.dp_attention else cfg.batch
    nvml, nvml_status = nvml_open(rank) if cuda else (None, "absent: CPU run")
    out: dict = {"rank": rank, "layout": lay.as_dict(), "device": str(device), "nvml": nvml_status}
    alloc = (lambda: torch.cuda.memory_allocated(device)) if cuda else (lambda: 0)
    start_used = nvml.memory()[0] if nvml is not None else None
    base = alloc()
    failed = torch.zeros(1, device=device)
    layers = caches = None
    try:
        layers = [build_layer(spec, lay, j, device, dtype, cfg.seed) for j in range(cfg.layers)]
        w_alloc = alloc() - base
        caches = build_cache(spec, lay, cfg.layers, cfg.context, device, dtype, cfg.seed, rows)
        kv_alloc = alloc() - base - w_alloc
    except Exception as e:
        if not (cuda and is_oom(e)):
            raise
        failed += 1
    if comm.live:
        dist.all_reduce(failed, op=dist.ReduceOp.MAX)           # every rank built, or none measures
    if failed.item():
        layers = caches = None
        torch.cuda.empty_cache()
        return out | {"status": "does not fit"}
    out["weights_bytes"] = tensor_bytes(p for m in layers for p in m.parameters())
    out["weights_by_component"] = _by_component(spec, lay, layers)
    out["kv_bytes"] = tensor_bytes(t for c in caches for t in c)
    out["sequences"] = [lay.sequences.start, lay.sequences.stop]
    if cuda:
        out["weights_alloc_bytes"], out["kv_alloc_bytes"] = w_alloc, kv_alloc
        out["kv_bytes"] = kv_alloc                               # what the allocator handed out for the cache
    full = decode_input(spec, cfg.batch, cfg.seed, device, dtype)
    x = torch.zeros(rows, spec.hidden_size, dtype=dtype, device=device)
    valid = len(lay.sequences) if par.dp_attention else cfg.batch
    x[:valid] = full[lay.sequences.start:lay.sequences.stop] if par.dp_attention else full
    del full
    impl = _decode_impl(cfg, spec, cuda)

    def step():
        return decode_step(layers, caches, x, comm, par=par, spec=spec, context=cfg.context, impl=impl,
                           valid=valid)

    def warm():
        for _ in range(max(1, cfg.warmup)):
            y = step()
        return y

    peak, y = peak_over(warm, cuda=cuda, device=device, base=base, nvml=nvml, start_used=start_used)
    out.update(peak)
    comm.log.clear()
    step()
    out["collectives"] = sum(comm.counts("data").values())
    out["collectives_by_op"] = comm.counts("data")
    out["metadata_collectives"] = sum(comm.counts("meta").values())
    out["comm_bytes"] = sum(e["bytes"] for e in comm.log if e["kind"] == "data")
    per_layer = [sum(1 for e in comm.log if e["kind"] == "data" and e["layer"] == j) for j in range(cfg.layers)]
    out["collectives_per_layer"] = per_layer
    times, comm_s = time_steps(step, cfg.reps, [comm], cuda=cuda, device=device, barrier=comm.live)
    out["latency_s"] = statistics.median(times)
    out["latency_samples"] = len(times)
    if cuda:
        if comm.live:
            dist.barrier()
        try:
            out["comm_s"], out["comm_kernels"] = comm_kernel_time(step, reps=3)
        except Exception as e:  # noqa: BLE001  (the profiler is a nice-to-have; the point stands without it)
            out["comm_s"], out["comm_error"] = None, str(e).splitlines()[0][:200]
    else:
        out["comm_s"] = statistics.median(comm_s) if comm_s else None
        out["comm_timing"] = "wall clock around each gloo call (CPU)"
    if outputs:
        out["output"] = y[:valid].float().cpu().tolist()
    out["status"] = "ok"
    return out


def _by_component(spec, lay: RankLayout, layers) -> dict:
    """Measured parameter bytes per calculator component (attention, norms, dense_ffn, router, shared_experts,
    routed_experts), from the pieces' names."""
    out: dict[str, int] = {}
    for j, m in enumerate(layers):
        comp = {p.name: p.component for p in layer_pieces(spec, lay, j)}
        for name, p in m.named_parameters():
            out[comp[name]] = out.get(comp[name], 0) + p.numel() * p.element_size()
    return out


def reference_decode(cfg, spec, device="cpu"):
    """The same decode step unsharded, in this process (no process group): [B, d] float32, for the tests."""
    from mlacalc.parallel import Parallelism

    dtype = TORCH_DTYPES[cfg.dtype]
    par = Parallelism()
    lay = rank_layout(spec, par, 0, cfg.batch)
    layers = [build_layer(spec, lay, j, device, dtype, cfg.seed) for j in range(cfg.layers)]
    caches = build_cache(spec, lay, cfg.layers, cfg.context, device, dtype, cfg.seed)
    x = decode_input(spec, cfg.batch, cfg.seed, torch.device(device), dtype)
    impl = _decode_impl(cfg, spec, False)
    y = decode_step(layers, caches, x, Comm(), par=par, spec=spec, context=cfg.context, impl=impl, valid=cfg.batch)
    return y.float()


__all__ = [
    "Comm",
    "MoE",
    "build_cache",
    "build_layer",
    "comm_kernel_time",
    "decode_step",
    "full_tensor",
    "measure_decode",
    "reference_decode",
]
