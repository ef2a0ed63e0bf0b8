"""``mlacalc profile MODEL --gpus N`` and the multi-GPU points of ``mlacalc validate --gpus N``: a few real layers
of a real model sharded over N processes, one per GPU, exactly as the calculator assumes, predicted beside measured.

One process per rank (``torch.multiprocessing`` spawn; NCCL through ``torch.distributed`` on GPUs, gloo on CPU for
the tests; the collectives are torch's, nothing home-made). Each rank builds its own part of the first
``layers`` decoder layers (:func:`rank_layout`, the calculator's rules from :mod:`mlacalc.parallel`):

- **attention**: query heads split over TP (``H / tp`` per rank); GQA/MHA KV heads split, or replicated when there
  are fewer than ranks (``max(1, g / tp)`` per rank); MLA's down-projections, latent norms and latent cache are
  whole on every rank (the latent belongs to no head). Under data-parallel attention every rank holds all heads
  and serves ``ceil(B / tp)`` of the sequences;
- **FFN**: the dense FFN, the shared experts and (``ep = 1``) every routed expert split by width over TP; with
  ``ep = tp`` each rank holds ``E / ep`` whole experts; the router is whole on every rank;
- **communication** (:mod:`mlacalc.step`'s count, two collectives per layer): under TP an all-reduce after
  attention and one after the FFN; under data-parallel attention an all-gather of the tokens before the FFN and
  a reduce-scatter after it, or on MoE layers with ``ep > 1`` an all-to-all dispatch and combine (plus a small
  all-to-all of the routing counts, recorded apart as metadata: the calculator charges none).

One thing the runner does differently from the calculator, on purpose: with data-parallel attention and
``ep > 1`` the shared experts are whole on every rank (SGLang's DeepSeek MoE with an all-to-all backend builds
them with ``tp_size=1``: each rank runs them on its own tokens, so they need no collective), where the calculator
counts them ``1 / tp`` per rank; the weights comparison shows the difference and the point says so.

A **decode** point allocates each rank's KV cache (random values) and runs one decode step through the layers:
the new token's projections, the cache write, absorbed MLA (or GQA) decode over ``context`` cached tokens, the
FFN or MoE, and the collectives. Measured per rank: weight and KV bytes (tensor bytes; on a GPU also the
allocator), peak allocator bytes over the step and NVML's device-wide peak, step latency (median; the slowest
rank), the collectives it ran (count and bytes, nccl-tests' conventions) and their time (on a GPU, the device time
of the NCCL kernels in a torch.profiler trace; on CPU, wall clock around each gloo call). Predicted: weights from
:func:`mlacalc.params.layer_params_per_gpu`, KV from :func:`mlacalc.kv.kv_report`, step time and communication
from :func:`mlacalc.step.roofline` (its ``comm`` op: bytes over ``interconnect_gb_s`` plus one
``collective_latency_us`` per collective, as ``mlacalc calibrate --gpus N`` measures them).

A **train** point (:mod:`.zero`): forward and backward of the layers under TP (sequence parallelism optional)
and ZeRO stage 0-3 over ``dp`` data-parallel ranks, then a real AdamW step on fp32 master weights: model states
per rank beside :func:`mlacalc.training.model_states`, exactly, and the peak beside the calculator's.

Results have the shape of :func:`profiler.run.profile_point`'s (``key``, ``config``, ``predicted``,
``comparisons`` with tolerances), so :mod:`profiler.report` renders them; the config carries ``sharded: True`` and
``gpus``. Nothing here imports torch at module level; the torch side is :mod:`.shard_layers` and :mod:`.zero`.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
import traceback
from dataclasses import asdict, dataclass, fields

from mlacalc.costs import ACT_BITS
from mlacalc.errors import SpecError
from mlacalc.parallel import Parallelism

from .layout import DTYPES, check_supported, layer_tensors, rank_layout
from .results import DOES_NOT_FIT, TOL_PEAK_INFER, TOL_PEAK_TRAIN, Comparison

PHASES = ("decode", "train")
TOL_COMM = 20.0          # percent: communication time against the calibrated alpha-beta model (issue 15)
TOL_STEP = 15.0          # percent: step latency against the expected time (issue 15)
JOIN_TIMEOUT_S = 900     # a rank that has not finished by then is stopped and the point fails


@dataclass(frozen=True)
class ShardedConfig:
    """One multi-process point. World size: ``tp`` (decode: one TP/EP group) or ``tp x dp`` (train).

    ``sets``: ``--set`` overrides of the spec (the CPU tests shrink widths with them). ``dtype``: the runner's
    weights, activations and cache (``fp32`` lets tests compare a sharded run with an unsharded one closely)."""

    model: str
    phase: str = "decode"
    batch: int = 8
    context: int = 4096          # decode: cached tokens per sequence; train: sequence length
    layers: int = 2
    tp: int = 2
    dp: int = 1                  # train: ZeRO's data-parallel ranks
    ep: int = 1
    dp_attention: bool = False
    sp: bool = False             # train: sequence parallelism over the TP ranks
    zero: int = 0                # train: ZeRO stage 0-3
    kernel: str = "auto"         # decode attention: auto (Triton/Gluon on a GPU) | eager (MLA) | sdpa (GQA)
    recompute: str = "none"      # train: only none (the report groups training points by it)
    dtype: str = "bf16"
    sets: tuple = ()
    reps: int = 10
    warmup: int = 2
    seed: int = 0
    label: str = ""
    calibration: bool = False    # used to fit something: excluded from the accuracy targets

    @property
    def gpus(self) -> int:
        return self.tp * (self.dp if self.phase == "train" else 1)

    def parallel(self) -> Parallelism:
        """The layout as the calculator takes it (validated by :class:`Parallelism`)."""
        if self.phase == "train":
            return Parallelism(tp=self.tp, dp=self.dp, ep=self.ep, sp=self.sp)
        return Parallelism(tp=self.tp, ep=self.ep, dp_attention=self.dp_attention)

    def key(self) -> str:
        bits = [self.model, self.phase, f"gpus{self.gpus}", f"tp{self.tp}", f"b{self.batch}", f"c{self.context}",
                f"L{self.layers}"]
        if self.ep > 1:
            bits.append(f"ep{self.ep}")
        if self.dp_attention:
            bits.append("dpattn")
        if self.phase == "train":
            bits += [f"dp{self.dp}", f"zero{self.zero}"] + (["sp"] if self.sp else [])
        else:
            bits.append(self.kernel)
        if self.dtype != "bf16":
            bits.append(self.dtype)
        if self.sets:
            bits.append("set:" + ",".join(self.sets))
        return "/".join(bits)

    def load_spec(self):
        from mlacalc.spec import load_spec

        return load_spec(self.model, list(self.sets))

    def validate(self, spec) -> None:
        """Refuse what the runner does not build, in one line (``SpecError``)."""
        from mlacalc.activations import is_moe_layer
        from mlacalc.spec import (refuse_expert_latent, refuse_layer_heads, refuse_layer_widths, refuse_no_attention,
                                  refuse_no_ffn, refuse_parallel_mixers, refuse_sliding_shape)

        refuse_no_attention(spec, "the multi-GPU runner's layers (attention and FFN layers)")
        refuse_no_ffn(spec, "the multi-GPU runner's layers (attention and FFN layers)")
        refuse_parallel_mixers(spec, "the multi-GPU runner's layers (attention and FFN layers)")
        refuse_sliding_shape(spec, "the profiler's layers (built with the full layers' heads)")
        refuse_layer_heads(spec, "the profiler's layers (each built with attention.num_heads)")
        refuse_layer_widths(spec, "the multi-GPU runner (each layer built with attention and one FFN width)")
        refuse_expert_latent(spec, "the multi-GPU runner (experts built at hidden_size)")
        if self.phase not in PHASES:
            raise SpecError("--phase", f"the multi-GPU runner runs {' or '.join(PHASES)}, got {self.phase!r}")
        if self.dtype not in DTYPES:
            raise SpecError("dtype", f"bf16 or fp32, got {self.dtype!r}")
        if self.batch < 1 or self.context < 2 or self.layers < 1 or self.reps < 1:
            raise SpecError("--batch/--context/--layers", "batch, layers and reps at least 1, context at least 2")
        if self.layers > spec.num_layers:
            raise SpecError("--layers", f"must be at most {spec.num_layers} for {spec.name}")
        par = self.parallel().check(spec)
        if self.phase == "decode":
            if self.dp != 1 or self.sp or self.zero:
                raise SpecError("--dp", "decode runs one TP/EP group: --dp, --sp and --zero are for --phase train")
            if self.ep not in (1, self.tp):
                raise SpecError("--ep", f"the runner places experts over the TP ranks: --ep 1 or --ep {self.tp}")
            if self.kernel not in ("auto", "eager", "sdpa"):
                raise SpecError("--kernel", f"auto, eager (MLA) or sdpa (GQA), got {self.kernel!r}")
        else:
            if self.zero not in (0, 1, 2, 3):
                raise SpecError("--zero", f"must be 0, 1, 2 or 3, got {self.zero}")
            if self.ep != 1 or self.dp_attention:
                raise SpecError("--ep", "the training runner splits experts by width (--ep 1), no --dp-attention")
            if self.recompute != "none":
                raise SpecError("--recompute", "the multi-GPU training runner stores every activation (none)")
            if self.sp and self.context % self.tp:
                raise SpecError("--context", f"sequence parallelism splits {self.context} tokens over tp {self.tp}")
            if any(is_moe_layer(spec, j) for j in range(self.layers)):
                raise SpecError("--layers", "the multi-GPU training runner builds dense layers; these include an "
                                            "MoE layer")
        check_supported(spec, self.layers)
        for r in range(par.tp):
            rank_layout(spec, par, r, self.batch)        # refuses widths that do not split
        if self.phase == "train" and self.zero:
            for p in layer_tensors(spec, par, 0, self.layers):
                n = math.prod(p.shape)
                if n % self.dp:
                    raise SpecError("--dp", f"ZeRO shards each parameter evenly: {p.name} ({n:,} elements) does "
                                            f"not split over {self.dp} ranks")


# -------------------------------------------------------------------------------------------------------------
# Predictions (the calculator's functions, unchanged)
# -------------------------------------------------------------------------------------------------------------

def layer_params(spec, par: Parallelism, layers: int):
    """The calculator's parameters of the first ``layers`` layers on one GPU (:func:`layer_params_per_gpu`)."""
    from mlacalc.params import Params, layer_params_per_gpu

    ps = [layer_params_per_gpu(spec, j, par) for j in range(layers)]
    return Params(**{f.name: sum(getattr(p, f.name) for p in ps) for f in fields(Params)})


def predict_decode(cfg: ShardedConfig, spec, hw, sms: int = 132) -> dict:
    """What the calculator says for a decode point on the fullest rank (rank 0: the first sequences)."""
    from mlacalc.kv import kv_report
    from mlacalc.step import Step, roofline

    from . import predict

    par = cfg.parallel()
    L, B, C = cfg.layers, cfg.batch, cfg.context
    elsize = DTYPES[cfg.dtype]
    bits = 8 * elsize
    sL = predict.spec_layers(spec, L)
    lay = rank_layout(spec, par, 0, B)
    Br = len(lay.sequences)
    params = layer_params(spec, par, L)
    kv = kv_report(sL, C, B, kv_bits=bits, parallel=par)
    r = roofline(sL, hw, Step("decode", B, max(1, C - 1), 1), par, weight_bits=bits, kv_bits=bits,
                 kernel=predict.BACKEND.get(cfg.kernel, "other"))
    ops = [t for t in r.ops if t.op.name not in ("embed", "lm_head")]   # the runner has no embedding or head
    comm = next((t for t in r.ops if t.op.name == "comm"), None)
    ab = predict.allocator_block_bytes
    tensors = layer_tensors(spec, par, 0, L, B)
    weights_alloc = sum(ab(math.prod(t.shape) * elsize) for t in tensors)
    a = spec.attention
    if a.kind == "mla":
        kv_alloc = L * ab(Br * C * (a.kv_lora_rank + a.qk_rope_head_dim) * elsize)
        kernel = "triton" if cfg.kernel == "auto" else cfg.kernel
    else:
        kv_alloc = L * 2 * ab(Br * C * len(lay.kv_heads) * a.qk_head_dim * elsize)
        kernel = "triton" if cfg.kernel == "auto" else cfg.kernel
    splits = predict.kernel_num_splits(spec, kernel, Br, C, tp=par.attention_tp, sms=sms, kv_element_size=elsize,
                                       arch=getattr(hw, "arch", ""))
    ws = predict.decode_workspace(spec, kernel, Br, C, tp=par.attention_tp, num_splits=splits, sms=sms)
    d = spec.hidden_size
    T_ffn = B if not par.dp_attention else par.tp * math.ceil(B / par.tp)
    width = max([len(lay.ffn)] + ([len(lay.expert_width) * spec.ffn.experts_per_token, len(lay.shared_width)]
                                  if spec.ffn.kind == "moe" else []))
    # the calculator's collectives move bf16 activations; the runner's move its dtype (fp32 in some tests)
    act = elsize / (ACT_BITS / 8)
    extra_comm = comm.op.comm_bytes * (act - 1) if comm else 0.0
    ws = dict(ws)
    ws["hidden_states"] = 4 * ab(max(Br, 1) * d * elsize)        # x, its norm, the attention output, the sum
    ws["ffn_intermediates"] = 3 * ab(T_ffn * width * elsize)     # gate, up, their product (stated estimate)
    return {
        "layout": lay.as_dict(), "params": params.as_dict(), "weights_bytes": params.total * elsize,
        "weights_by_component": {k: v * elsize for k, v in params.as_dict().items()},
        "kv_bytes": kv.per_gpu.total, "kv_parts": kv.per_gpu.as_dict(), "sequences_per_rank": kv.batch_per_gpu,
        "weights_alloc_bytes": weights_alloc, "kv_alloc_bytes": kv_alloc, "workspace": ws,
        "peak_bytes": weights_alloc + kv_alloc + sum(ws.values()),
        "step_floor_s": sum(t.time_s for t in ops), "step_expected_s": sum(max(t.expected_s, t.time_s) for t in ops),
        "comm_s": comm.time_s + extra_comm / hw.interconnect_bytes_s if comm else None,
        "comm_bytes": comm.op.comm_bytes * act if comm else 0.0,
        "collectives": comm.op.launches if comm else 0,
        "ops": {t.op.name: {"time_s": t.time_s, "expected_s": t.expected_s} for t in ops},
        "hardware": {"interconnect_gb_s": hw.interconnect_gb_s, "collective_latency_us": hw.collective_latency_us},
        "note": ("the runner's weights, cache and activations are " + cfg.dtype + " (communication scaled from the "
                 "calculator's bf16 activations); no embedding or head; step time = the roofline's ops but embed "
                 "and lm_head, summed"),
    }


def predict_train(cfg: ShardedConfig, spec) -> dict:
    """Model states per rank (:func:`mlacalc.training.model_states`, mixed precision) and a peak: the states as
    allocated, the stored activations of :mod:`mlacalc.activations` under TP/SP, the widest instant of the
    backward, and the runner's own transients (each named)."""
    from mlacalc.activations import ActivationConfig, backward_peak, saved_tensors
    from mlacalc.training import model_states

    from . import predict

    par = cfg.parallel()
    L, b, s = cfg.layers, cfg.batch, cfg.context
    params = layer_params(spec, par, L)
    states = model_states(params, "mixed", cfg.zero, par)
    ab = predict.allocator_block_bytes
    tensors = layer_tensors(spec, par, 0, L)
    D = cfg.dp
    n = [math.prod(t.shape) for t in tensors]
    el = DTYPES[cfg.dtype]
    w_alloc = sum(ab(el * (k // D if cfg.zero == 3 else k)) for k in n)
    g_alloc = sum(ab(el * (k // D if cfg.zero >= 2 else k)) for k in n)
    o_alloc = sum(3 * ab(4 * (k // D if cfg.zero >= 1 else k)) for k in n)
    per_layer = [sum(math.prod(t.shape) for t in tensors if t.name.startswith(f"layers.{j}.")) for j in range(L)]
    transients = {}
    if cfg.zero >= 2:
        transients["layer_full_grads"] = 2 * max(per_layer)      # one layer's gradients before reduce-scatter
    if cfg.zero == 3:
        transients["layer_gathered_weights"] = 2 * max(per_layer)   # the calculator's zero3_gather
    acfg = ActivationConfig(micro_batch=b, seq=s, recompute="none", kernel="fused",
                            parallel=Parallelism(tp=cfg.tp, sp=cfg.sp))
    a = spec.attention
    st = acfg.seq_tokens
    x_bytes = ab(b * st * spec.hidden_size * 2)
    if cfg.sp:
        transients["sp_regathered_input"] = ab(b * s * spec.hidden_size * 2)   # re-gathered in backward
    heads = a.num_heads // cfg.tp
    extra = 0
    if a.qk_rope_head_dim:
        extra += 2 * ab(s * a.qk_rope_head_dim * 2)              # RoPE cos and sin, once per layer
    if a.kind == "mla":
        extra += ab(a.kv_lora_rank * heads * a.qk_nope_head_dim * 2) + ab(a.kv_lora_rank * heads * a.v_head_dim * 2)
    stored = [sum(ab(t.bytes) for t in saved_tensors(spec, j, acfg)) + extra for j in range(L)]
    io = 3 * x_bytes
    best = 0
    for j in range(L):
        bp = backward_peak(spec, j, acfg)
        dy = sum(ab(t.bytes) for t in bp.tensors if t.name == "grad.layer_out") if j == L - 1 else 0
        transient = sum(ab(t.bytes) for t in bp.tensors) - sum(ab(t.bytes) for t in bp.released_tensors) - dy
        best = max(best, sum(stored[:j + 1]) - x_bytes + transient)
    backward = w_alloc + g_alloc + o_alloc + io + best + sum(transients.values())
    step = w_alloc + g_alloc + o_alloc + io + 4 * max(per_layer) // (D if cfg.zero else 1)
    wide = DTYPES[cfg.dtype] / 2          # the calculator's weights and gradients are bf16; fp32 runs (tests) hold 4
    return {"params": params.as_dict(), "weights_bytes": states.weights * wide, "grads_bytes": states.gradients * wide,
            "optimizer_bytes": states.optimizer,
            "states_bytes": states.optimizer + (states.weights + states.gradients) * wide,
            "activations_bytes": sum(stored) - x_bytes, "io_bytes": io, "transients": transients,
            "peak_bytes": max(backward, step),
            "note": "mixed precision: bf16 weights and gradients, fp32 master, Adam m and v (16 bytes per "
                    "parameter before ZeRO); AdamW's step counters apart"}


# -------------------------------------------------------------------------------------------------------------
# Comparisons
# -------------------------------------------------------------------------------------------------------------

def _fullest(ranks: list[dict], name: str):
    vals = [r[name] for r in ranks if r.get(name) is not None]
    return max(vals) if vals else None


def assemble(cfg: ShardedConfig, spec, predicted: dict, ranks: list[dict], backend: str) -> dict:
    """Predicted beside measured for one point (pure Python): the fullest rank against the calculator's GPU."""
    cuda = backend == "nccl"
    multi = cfg.gpus > 1
    point = {"key": cfg.key(), "config": asdict(cfg) | {"gpus": cfg.gpus, "sharded": True, "backend": backend},
             "model": spec.name, "attention": spec.attention.kind, "layers_run": cfg.layers,
             "layers_total": spec.num_layers, "scaled": False,
             "scale_note": f"{cfg.layers} real layers on {cfg.gpus} process(es), one per rank ({backend})",
             "predicted": predicted, "ranks": ranks, "notes": []}
    status = [r.get("status", "ok") for r in ranks]
    if DOES_NOT_FIT in status:
        point["status"] = DOES_NOT_FIT
        point["fit"] = {"predicted_peak_bytes": predicted.get("peak_bytes"), "predicted_fits": None,
                        "fit_agrees": None}
        point["comparisons"] = []
        return point
    point["status"] = "ok"
    if cfg.phase == "decode":
        lay = predicted["layout"]
        if lay["shared_replicated"]:
            point["notes"].append("shared experts whole on every rank (SGLang's all-to-all MoE), as the calculator "
                                  "counts them (mlacalc.parallel: shared_expert_tp)")
        lat = _fullest(ranks, "latency_s")
        comps = [
            Comparison("weights_bytes", "B", predicted["weights_bytes"], _fullest(ranks, "weights_bytes"), 0.0),
            Comparison("kv_bytes", "B", predicted["kv_bytes"], _fullest(ranks, "kv_bytes"), TOL_PEAK_INFER),
            Comparison("peak_bytes", "B", predicted["peak_bytes"], _fullest(ranks, "peak_bytes"), TOL_PEAK_INFER),
            Comparison("collectives", "count", predicted["collectives"] if multi else None,   # one rank: a dry run
                       ranks[0]["collectives"], 0.0 if multi else None),
            Comparison("comm_bytes", "B", predicted["comm_bytes"], _fullest(ranks, "comm_bytes"), None),
            Comparison("comm_s", "s", predicted["comm_s"], _fullest(ranks, "comm_s"),
                       TOL_COMM if cuda and multi and not cfg.calibration else None),
            Comparison("step_latency_s", "s", predicted["step_floor_s"], lat, None),
            Comparison("step_latency_expected_s", "s", predicted["step_expected_s"], lat,
                       TOL_STEP if cuda and multi and not cfg.calibration else None),
        ]
    else:
        comps = [
            Comparison("weights_bytes", "B", predicted["weights_bytes"], _fullest(ranks, "weights_bytes"), 0.0),
            Comparison("grads_bytes", "B", predicted["grads_bytes"], _fullest(ranks, "grads_bytes"), 0.0),
            Comparison("optimizer_bytes", "B", predicted["optimizer_bytes"], _fullest(ranks, "optimizer_bytes"),
                       0.0),
            Comparison("peak_bytes", "B", predicted["peak_bytes"], _fullest(ranks, "peak_bytes"), TOL_PEAK_TRAIN),
            Comparison("step_latency_s", "s", None, _fullest(ranks, "latency_s"), None),
            Comparison("comm_s", "s", None, _fullest(ranks, "comm_s"), None),
        ]
    point["comparisons"] = [c.as_dict() for c in comps]
    point["latency"] = {"median": _fullest(ranks, "latency_s")}
    return point


# -------------------------------------------------------------------------------------------------------------
# The processes
# -------------------------------------------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port nothing listens on now (for the rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, backend: str, port: int, cfgs: list, outputs: bool, q) -> None:
    """One rank: join the group, run each point, put ``(index, rank, result)`` for each on the queue."""
    import datetime
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)   # torch renames *_tensor collectives (2.13)
    import torch
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    cuda = backend == "nccl"
    if cuda:
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=600))
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    try:
        for i, cfg in enumerate(cfgs):
            spec = cfg.load_spec()
            try:
                if cfg.phase == "decode":
                    from .shard_layers import measure_decode

                    res = measure_decode(cfg, spec, rank, world, device, outputs=outputs)
                else:
                    from .zero import measure_train

                    res = measure_train(cfg, spec, rank, world, device, outputs=outputs)
            except Exception as e:
                res = {"status": "error", "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                       "traceback": traceback.format_exc()[-3000:]}
                q.put((i, rank, res))
                raise
            q.put((i, rank, res))
            if cuda:
                torch.cuda.empty_cache()
    finally:
        with contextlib.suppress(RuntimeError, ValueError):
            dist.destroy_process_group()
        if cuda:
            torch.cuda.empty_cache()


def run_points(cfgs: list[ShardedConfig], hw=None, *, backend: str = "nccl", outputs: bool = False,
               port: int | None = None, log=None) -> list[dict]:
    """Run ``cfgs`` (same world size) in one group of spawned processes and return one point dict each.

    ``backend`` nccl: rank r on GPU r; gloo: CPU processes (tests). ``hw``: the hardware spec the predictions use
    (default h100-sxm). ``outputs``: each rank also returns its final hidden states (tests compare them with an
    unsharded run)."""
    import torch.multiprocessing as mp

    from mlacalc.hardware import load_hardware

    if not cfgs:
        return []
    world = cfgs[0].gpus
    if any(c.gpus != world for c in cfgs):
        raise SpecError("--gpus", "points run together need the same number of ranks")
    specs = [c.load_spec() for c in cfgs]
    for c, s in zip(cfgs, specs):
        c.validate(s)
    hw = hw if hw is not None else load_hardware("h100-sxm")
    sms = 132
    if backend == "nccl":
        import torch

        if torch.cuda.device_count() < world:
            raise SpecError("--gpus", f"{world} GPUs asked for; this machine has {torch.cuda.device_count()}")
        sms = torch.cuda.get_device_properties(0).multi_processor_count
    ctx = mp.get_context("spawn")
    q = ctx.SimpleQueue()
    port = port or free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, backend, port, list(cfgs), outputs, q))
             for r in range(world)]
    for p in procs:
        p.start()
    results: dict[int, dict[int, dict]] = {}
    expected = world * len(cfgs)
    got = 0
    deadline = time.monotonic() + JOIN_TIMEOUT_S * len(cfgs)
    while got < expected and time.monotonic() < deadline:
        if not q.empty():
            i, r, res = q.get()
            results.setdefault(i, {})[r] = res
            got += 1
            if res.get("status") == "error":
                break
            continue
        if all(not p.is_alive() for p in procs) and q.empty():
            break
        time.sleep(0.02)
    for p in procs:
        p.join(timeout=5 if got >= expected else 1)
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join()
    errors = [res for per in results.values() for res in per.values() if res.get("status") == "error"]
    if errors or got < expected:
        why = errors[0]["error"] if errors else f"ranks returned {got} of {expected} results " \
                                                f"(exit codes {[p.exitcode for p in procs]})"
        err = RuntimeError(f"a rank failed: {why}")
        err.detail = errors[0].get("traceback", "") if errors else ""
        raise err
    points = []
    for i, (cfg, spec) in enumerate(zip(cfgs, specs)):
        ranks = [results[i][r] for r in range(world)]
        pred = predict_decode(cfg, spec, hw, sms) if cfg.phase == "decode" else predict_train(cfg, spec)
        point = assemble(cfg, spec, pred, ranks, backend)
        points.append(point)
        if log:
            from .run import summary_line

            log(summary_line(point))
    return points


def sharded_suite(gpus: int) -> list[ShardedConfig]:
    """The multi-GPU validation points for ``gpus`` ranks (``gpus`` 1: a dry run of the same code path on one
    GPU, each collective a one-rank NCCL call and nothing judged). Decode: DeepSeek-V2-Lite (MLA, MoE) under TP,
    TP + EP, data-parallel attention with and without EP; Llama-3.1-8B and -70B (GQA: KV heads split or
    replicated); training: ZeRO-0..3 over the data-parallel ranks and TP with sequence parallelism."""
    C = ShardedConfig
    K = 1024
    n = gpus
    pts: list[ShardedConfig] = []
    if n == 1:
        return [C("deepseek-v2-lite", "decode", 8, 4 * K, layers=2, tp=1, reps=5),
                C("llama-3.1-8b", "decode", 8, 4 * K, layers=2, tp=1, reps=5),
                C("variant-mla", "train", 1, 2 * K, layers=2, tp=1, dp=1, zero=0, reps=3)]
    for b, c in ((8, 4 * K), (32, 8 * K), (64, 16 * K), (128, 4 * K)):
        pts.append(C("deepseek-v2-lite", "decode", b, c, layers=4, tp=n))
        pts.append(C("deepseek-v2-lite", "decode", b, c, layers=4, tp=n, ep=n))
    for b, c in ((n * 4, 8 * K), (n * 16, 8 * K), (n * 32, 4 * K)):
        pts.append(C("deepseek-v2-lite", "decode", b, c, layers=4, tp=n, dp_attention=True))
        pts.append(C("deepseek-v2-lite", "decode", b, c, layers=4, tp=n, dp_attention=True, ep=n))
    for b, c in ((1, 4 * K), (16, 8 * K), (64, 8 * K)):
        pts.append(C("llama-3.1-8b", "decode", b, c, layers=4, tp=n))
    if 8 % n == 0:
        pts.append(C("llama-3.1-70b", "decode", 16, 8 * K, layers=2, tp=n))
    for z in (0, 1, 2, 3):
        pts.append(C("variant-mla", "train", 1, 4 * K, layers=2, tp=1, dp=n, zero=z, reps=5))
    pts.append(C("llama-3.1-8b", "train", 1, 4 * K, layers=2, tp=n, dp=1, sp=True, reps=5))
    pts.append(C("variant-mla", "train", 1, 4 * K, layers=2, tp=n, dp=1, sp=True, reps=5))
    if n % 2 == 0 and n >= 4:
        pts.append(C("llama-3.1-8b", "train", 1, 4 * K, layers=2, tp=2, dp=n // 2, sp=True, zero=3, reps=5))
    return pts


__all__ = ["ShardedConfig", "assemble", "predict_decode", "predict_train", "run_points", "sharded_suite"]
