"""Decode/prefill attention benchmark on one CUDA GPU: time, GB/s, TFLOP/s and the distance to the floor.

    python -m mlacalc.kernels.bench --out FILE.json [--quick | --peers]

--peers (run_peers): at each point of PEER_POINTS, mla_decode(impl="auto") beside FlashMLA's dense decode (when
`import flash_mla` works; its scheduler metadata built once per point and reused), each timed eager (no device
hold: what a decode loop sees, host time included) and as a replayed CUDA graph (device time), L2 flushed; our fp8
decode and the sparse top-k decode (bf16 and fp8-ds rows) against their floors. JSON `summary`: vs_flashmla
{points, median_ratio, max_ratio} (ours / FlashMLA graph time, batch >= 8), host_overhead_us {median, max}
(eager - graph per call), fp8_vs_floor {max_ratio}, sparse_vs_floor {max_ratio} (summarize_peers); where the
flash_mla build holds its sparse decode (bench/build_flashmla_sparse.py), sparse_vs_flashmla {points, median_ratio,
max_ratio} (ours / FlashMLA on fp8-ds rows at 64 and 128 heads) and flashmla_sparse_vs_floor.

Method: both ceilings measured in the same run by the calibration's probes (profiler.calibrate.measure_ceilings:
device-to-device copy of 2 GiB, bytes read + written; bf16 8192^3 matmul); every kernel warmed up first, then timed
by the project's one timer (profiler.timing.time_cuda: CUDA events around each call queued behind a device-side
hold, the L2 flushed before each call, median reported, host-bound runs detected and re-timed); repetitions scale
down for slow points. Inputs are random (never zeros). Points whose tensors would not fit are recorded as skipped.

Counting (per point; the same counts for every implementation of a problem):
  MLA decode  bytes = B*ctx*(r+dr)*elem(kv) + q (B*s_q*H*(r+dr)*2) + out (B*s_q*H*r*2)
              flops = 2*B*s_q*H*ctx*((r+dr) + r)          (q.k over 576 dims, p.v over 512; ctx >> s_q)
  GQA decode  bytes = 2*B*ctx*Hkv*D*2 + q + out,  flops = 2*B*s_q*Hq*ctx*2D
  prefill     flops = 2*B*H*(S^2/2)*(dqk + dv) (causal half), bytes = q, k, v, out once
  floor = max(bytes / copy_bw, flops / matmul_rate); ratio = time / floor (1.0 is the roofline).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import statistics
import time
from dataclasses import asdict

import torch

from mlacalc.profiler.calibrate import measure_ceilings
from mlacalc.profiler.timing import L2Flusher, cuda_graph, time_cuda

from . import testing as kt

__all__ = ["run_benchmark", "time_ms", "make_timer", "run_meta", "write_result", "mla_decode_cost",
           "sparse_decode_cost"]

MLA_R, MLA_DR = 512, 64
MLA_SCALE = (128 + 64) ** -0.5
GQA_SHAPES = {  # name: (q heads, kv heads, head dim), per layer on one GPU
    "llama3-8b": (32, 8, 128),
    "llama3-70b": (64, 8, 128),
    "llama2-7b-mha": (32, 32, 128),
}


def time_ms(fn, flusher=None, *, budget_s: float = 0.12, max_reps: int = 30, min_reps: int = 5) -> dict:
    """One benchmark timing: the project's timer (profiler.timing.time_cuda: device time, L2 flushed, host-bound
    runs detected) with the benchmark's budget, as a row's fields in milliseconds."""
    t = time_cuda(fn, warmup=1, reps=max_reps, max_seconds=budget_s, min_reps=min_reps, flusher=flusher)
    ms = lambda x: None if x is None else x * 1e3  # noqa: E731
    return {"ms": ms(t.median), "ms_min": ms(t.minimum), "ms_max": ms(t.maximum), "reps": t.n,
            "host_bound": t.host_bound, "gap_ms": ms(t.gap_median), "gap_ms_max": ms(t.gap_max)}


def make_timer():
    """timer(fn) -> time_ms(fn), flushing the L2 of the current CUDA device."""
    return functools.partial(time_ms, flusher=L2Flusher(torch.cuda.current_device()))


def run_meta(device, command: str) -> dict:
    """What every measurement report states: the command that reproduces it, the GPU and the versions."""
    import triton

    return dict(command=command, gpu=torch.cuda.get_device_name(device), torch=torch.__version__,
                triton=triton.__version__, cuda=torch.version.cuda, python=platform.python_version())


def write_result(path: str, result: dict, t_start: float) -> None:
    """Write a measurement's JSON (with its wall time so far); the scripts call it after every section."""
    result["wall_s"] = time.perf_counter() - t_start
    with open(path, "w") as f:
        json.dump(result, f, indent=1, default=str)


def _row(kind, impl, params, t, nbytes, flops, ceil):
    s = t["ms"] * 1e-3
    floor = max(nbytes / (ceil["copy_gbps"] * 1e9), flops / (ceil["matmul_tflops"] * 1e12))
    return dict(
        kind=kind, impl=impl, **params, status="ok", time_ms=t["ms"], time_ms_min=t["ms_min"], reps=t["reps"],
        host_bound=t["host_bound"],
        bytes=nbytes, flops=flops, gbps=nbytes / s / 1e9, tflops=flops / s / 1e12, floor_ms=floor * 1e3,
        ratio_to_floor=s / floor, bound="memory" if nbytes / (ceil["copy_gbps"] * 1e9) >= flops /
        (ceil["matmul_tflops"] * 1e12) else "compute",
    )


def _skip(kind, impl, params, why):
    return dict(kind=kind, impl=impl, **params, status="skipped", reason=why)


def _fits(nbytes_needed: float, device) -> bool:
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes_needed < 0.85 * free


def bench_mla_decode(timer, ceil, device, batches, contexts, heads_list, *, s_q_list=(1,), fp8_heads=(16, 128),
                     configs=None, log=print) -> list[dict]:
    from .decode import mla_decode_eager
    from .triton_mla_decode import mla_decode_triton

    gluon = _gluon_decode(device)
    rows = []
    D = MLA_R + MLA_DR
    for B in batches:
        for ctx in contexts:
            cache_bytes = B * ctx * D * 2
            eager_peak = B * max(heads_list) * max(s_q_list) * ctx * 10  # scores bf16 + fp32 softmax + p
            if not _fits(cache_bytes * 1.6, device):
                for H in heads_list:
                    rows.append(_skip("mla_decode", "*", dict(B=B, ctx=ctx, heads=H, s_q=1), "cache does not fit"))
                continue
            kv = torch.randn(B, ctx, D, device=device, dtype=torch.bfloat16)
            lens = torch.full((B,), ctx, dtype=torch.int32, device=device)
            # paged view of the same memory: 64-token blocks in shuffled pool order
            pool = kv.view(B * ctx // 64, 64, D)
            table = torch.randperm(B * ctx // 64, device=device).view(B, ctx // 64).to(torch.int32)
            kv8 = None
            for H in heads_list:
                for s_q in s_q_list:
                    p = dict(B=B, ctx=ctx, heads=H, s_q=s_q)
                    q = torch.randn(B, s_q, H, D, device=device, dtype=torch.bfloat16)
                    flops = 2 * B * s_q * H * ctx * (D + MLA_R)
                    qo = B * s_q * H * (D + MLA_R) * 2
                    cfg = (configs or {}).get(_row_class(s_q * H))
                    kw = dict(softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R, max_seqlen=ctx, config=cfg)
                    t_eager = None
                    if _fits(eager_peak * H / max(heads_list), device):
                        try:
                            t = timer(lambda: mla_decode_eager(q, kv, None, softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R))
                            rows.append(_row("mla_decode", "eager", dict(p, layout="contiguous", kv_dtype="bf16"),
                                             t, cache_bytes + qo, flops, ceil))
                            t_eager = t["ms"]
                        except torch.OutOfMemoryError:
                            rows.append(_skip("mla_decode", "eager", p, "out of memory"))
                            torch.cuda.empty_cache()
                    else:
                        rows.append(_skip("mla_decode", "eager", p, "score matrix does not fit"))
                    for layout, args in (("contiguous", (kv, lens, None)), ("paged64", (pool, lens, table))):
                        t = timer(lambda: mla_decode_triton(q, *args, **kw))
                        r = _row("mla_decode", "triton", dict(p, layout=layout, kv_dtype="bf16"), t,
                                 cache_bytes + qo, flops, ceil)
                        r["speedup_vs_eager"] = t_eager / t["ms"] if t_eager else None
                        rows.append(r)
                        if gluon is not None and s_q * H >= 64:  # the sm_90 kernel, same point and layout
                            t = timer(lambda: gluon(q, *args, softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R,
                                                    max_seqlen=ctx))
                            r = _row("mla_decode", "gluon", dict(p, layout=layout, kv_dtype="bf16"), t,
                                     cache_bytes + qo, flops, ceil)
                            r["speedup_vs_eager"] = t_eager / t["ms"] if t_eager else None
                            rows.append(r)
                    if H in fp8_heads and s_q == 1:
                        if kv8 is None:
                            kv8 = pool.to(torch.float8_e4m3fn)
                        t = timer(lambda: mla_decode_triton(q, kv8, lens, table, kv_scale=0.02, **kw))
                        r = _row("mla_decode", "triton", dict(p, layout="paged64", kv_dtype="fp8_e4m3"), t,
                                 cache_bytes // 2 + qo, flops, ceil)
                        r["speedup_vs_eager"] = t_eager / t["ms"] if t_eager else None
                        rows.append(r)
                    log(_fmt(rows[-1]))
            del kv, pool, kv8
            torch.cuda.empty_cache()
    return rows


def _gluon_decode(device):
    """mla_decode_gluon when this GPU and Triton can run it (sm_90, Gluon's Hopper API), else None."""
    if torch.cuda.get_device_capability(device)[0] != 9:
        return None
    try:
        from .gluon_mla_decode import mla_decode_gluon
    except ImportError:
        return None
    return mla_decode_gluon


def _row_class(rows: int) -> str:
    return "r16" if rows <= 16 else "r32" if rows <= 32 else "r64"


def bench_gqa_decode(timer, ceil, device, batches, contexts, shapes, *, log=print) -> list[dict]:
    from .decode import gqa_decode_sdpa
    from .triton_gqa_decode import gqa_decode_triton

    rows = []
    for name in shapes:
        Hq, Hkv, Dh = GQA_SHAPES[name]
        for B in batches:
            for ctx in contexts:
                p = dict(model=name, B=B, ctx=ctx, heads=Hq, kv_heads=Hkv, head_dim=Dh, s_q=1)
                cache_bytes = 2 * B * ctx * Hkv * Dh * 2
                if not _fits(cache_bytes * 1.3, device):
                    rows.append(_skip("gqa_decode", "*", p, "cache does not fit"))
                    continue
                k = torch.randn(B, ctx, Hkv, Dh, device=device, dtype=torch.bfloat16)
                v = torch.randn_like(k)
                lens = torch.full((B,), ctx, dtype=torch.int32, device=device)
                q = torch.randn(B, 1, Hq, Dh, device=device, dtype=torch.bfloat16)
                flops = 2 * B * Hq * ctx * 2 * Dh
                nbytes = cache_bytes + 2 * B * Hq * Dh * 2
                t = timer(lambda: gqa_decode_sdpa(q, k, v))
                rows.append(_row("gqa_decode", "sdpa", dict(p, layout="contiguous"), t, nbytes, flops, ceil))
                t_sdpa = t["ms"]
                kp, vp = k.view(-1, 16, Hkv, Dh), v.view(-1, 16, Hkv, Dh)
                table = torch.randperm(B * ctx // 16, device=device).view(B, ctx // 16).to(torch.int32)
                for layout, args in (("contiguous", (k, v, lens, None)), ("paged16", (kp, vp, lens, table))):
                    t = timer(lambda: gqa_decode_triton(q, *args, max_seqlen=ctx))
                    r = _row("gqa_decode", "triton", dict(p, layout=layout), t, nbytes, flops, ceil)
                    r["speedup_vs_sdpa"] = t_sdpa / t["ms"]
                    rows.append(r)
                log(_fmt(rows[-1]))
                del k, v, kp, vp
                torch.cuda.empty_cache()
    return rows


def bench_prefill(timer, ceil, device, points, *, log=print) -> list[dict]:
    from .prefill import gqa_prefill_sdpa, mla_prefill_sdpa

    rows = []
    bf = torch.bfloat16
    for B, S, H in points:
        p = dict(B=B, S=S, heads=H)
        q = torch.randn(B, S, H, 192, device=device, dtype=bf)
        k = torch.randn(B, S, H, 192, device=device, dtype=bf)
        v = torch.randn(B, S, H, 128, device=device, dtype=bf)
        flops = 2 * B * H * S * S / 2 * (192 + 128)
        nbytes = B * S * H * (192 * 2 + 128 * 2) * 2
        for pad in (False, True):
            try:
                t = timer(lambda: mla_prefill_sdpa(q, k, v, pad_v=pad))
                rows.append(_row("mla_prefill", "sdpa_pad_v" if pad else "sdpa", p, t, nbytes, flops, ceil))
                log(_fmt(rows[-1]))
            except RuntimeError as e:  # no fused backend for this shape
                rows.append(_skip("mla_prefill", "sdpa_pad_v" if pad else "sdpa", p, str(e)[:200]))
        del q, k, v
        Hkv = max(1, H // 4)
        q = torch.randn(B, S, H, 128, device=device, dtype=bf)
        k = torch.randn(B, S, Hkv, 128, device=device, dtype=bf)
        v = torch.randn(B, S, Hkv, 128, device=device, dtype=bf)
        t = timer(lambda: gqa_prefill_sdpa(q, k, v))
        rows.append(_row("gqa_prefill", "sdpa", dict(p, kv_heads=Hkv), t,
                         B * S * (2 * H + 2 * Hkv) * 128 * 2, 2 * B * H * S * S / 2 * 256, ceil))
        log(_fmt(rows[-1]))
    return rows


def _fmt(r: dict) -> str:
    if r["status"] != "ok":
        return f"{r['kind']:11s} {r['impl']:7s} skipped: {r.get('reason')}"
    keys = [k for k in ("model", "B", "ctx", "S", "heads", "s_q", "layout", "kv_dtype") if k in r]
    desc = " ".join(f"{k}={r[k]}" for k in keys)
    extra = ""
    if r.get("speedup_vs_eager"):
        extra = f" x{r['speedup_vs_eager']:.1f} vs eager"
    if r.get("speedup_vs_sdpa"):
        extra = f" x{r['speedup_vs_sdpa']:.2f} vs sdpa"
    return (f"{r['kind']:11s} {r['impl']:7s} {desc}: {r['time_ms']:.4f} ms {r['gbps']:.0f} GB/s "
            f"{r['tflops']:.1f} TF/s floor x{r['ratio_to_floor']:.2f}{extra}")


def _auto_rows(rows: list[dict]) -> list[dict]:
    """What mla_decode(impl="auto") runs at each point: the gluon row where there is one, else the triton row."""
    key = lambda r: (r["B"], r["ctx"], r["heads"], r["s_q"], r["layout"], r["kv_dtype"])
    gl = {key(r): r for r in rows if r["impl"] == "gluon"}
    return [gl.get(key(r), r) for r in rows if r["impl"] == "triton"]


def summarize_targets(rows: list[dict]) -> dict:
    """The issue's targets for the MLA decode kernels (bf16, s_q = 1; contiguous and paged reported apart), for the
    Triton kernel alone ("triton") and for what mla_decode(impl="auto") runs ("auto": Gluon above 16 rows over a 16-bit cache, from 64 over fp8, on sm_90)."""
    mla = [r for r in rows if r["kind"] == "mla_decode" and r["status"] == "ok" and r["kv_dtype"] == "bf16"
           and r["s_q"] == 1]

    def stat(rs, key, bound, le=True):
        ok = [r for r in rs if (r[key] <= bound if le else r[key] >= bound)]
        vals = [r[key] for r in rs]
        return dict(points=len(rs), met=len(ok), bound=bound,
                    worst=(max(vals) if le else min(vals)) if vals else None,
                    median=statistics.median(vals) if vals else None)

    out = {}
    for impl, sel in (("triton", [r for r in mla if r["impl"] == "triton"]), ("auto", _auto_rows(mla))):
        for layout in ("contiguous", "paged64"):
            tri = [r for r in sel if r["layout"] == layout]
            mem = [r for r in tri if r["heads"] in (16, 32) and r["B"] * r["ctx"] >= 256 * 1024]
            comp = [r for r in tri if r["heads"] == 128 and r["B"] >= 32]
            big = [r for r in tri if r["B"] * r["ctx"] >= 64 * 1024 and r.get("speedup_vs_eager")]
            out.setdefault(impl, {})[layout] = dict(
                memory_bound_within_1_25x=stat(mem, "ratio_to_floor", 1.25),
                compute_heavy_within_1_6x=stat(comp, "ratio_to_floor", 1.6),
                speedup_vs_eager_at_least_3x=stat(big, "speedup_vs_eager", 3.0, le=False),
            )
    return out


def markdown_table(result: dict) -> str:
    lines = []
    c = result["ceilings"]
    lines.append(f"Ceilings measured in this run: copy {c['copy_gbps']:.0f} GB/s, bf16 matmul "
                 f"{c['matmul_tflops']:.0f} TFLOP/s.\n")
    lines.append("### MLA decode (bf16 cache unless noted; s_q = 1 unless noted)\n")
    lines.append("| B | ctx | heads | s_q | impl | layout | kv | ms | GB/s | TFLOP/s | x floor | x eager |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        if r["kind"] != "mla_decode" or r["status"] != "ok":
            continue
        sp = r.get("speedup_vs_eager")
        lines.append(
            f"| {r['B']} | {r['ctx']} | {r['heads']} | {r['s_q']} | {r['impl']} | {r['layout']} | {r['kv_dtype']} | "
            f"{r['time_ms']:.3f} | {r['gbps']:.0f} | {r['tflops']:.1f} | {r['ratio_to_floor']:.2f} | "
            f"{'' if not sp else f'{sp:.1f}'} |")
    lines.append("\n### GQA / MHA decode (bf16)\n")
    lines.append("| model | B | ctx | impl | layout | ms | GB/s | x floor | x sdpa |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        if r["kind"] != "gqa_decode" or r["status"] != "ok":
            continue
        sp = r.get("speedup_vs_sdpa")
        lines.append(f"| {r['model']} | {r['B']} | {r['ctx']} | {r['impl']} | {r['layout']} | {r['time_ms']:.3f} | "
                     f"{r['gbps']:.0f} | {r['ratio_to_floor']:.2f} | {'' if not sp else f'{sp:.2f}'} |")
    lines.append("\n### Prefill (causal, bf16)\n")
    lines.append("| kind | impl | B | S | heads | ms | TFLOP/s | x floor |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        if r["kind"] in ("mla_prefill", "gqa_prefill") and r["status"] == "ok":
            lines.append(f"| {r['kind']} | {r['impl']} | {r['B']} | {r['S']} | {r['heads']} | {r['time_ms']:.3f} | "
                         f"{r['tflops']:.0f} | {r['ratio_to_floor']:.2f} |")
    skipped = [r for r in result["rows"] if r["status"] != "ok"]
    if skipped:
        lines.append(f"\nSkipped points: {len(skipped)} (reasons in the JSON).")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------------------
# --peers: ours beside FlashMLA, eager and graph-timed; host overhead; fp8 and sparse against the floor

PEER_POINTS = dict(batches=(8, 32, 128), contexts=(4096, 32768), heads=(16, 64, 128))
SPARSE_POINTS = dict(batches=(8, 64), heads=(16, 64, 128), topk=2048, ctx=32768)


def eager_and_graph(fn, flusher, *, budget_s: float = 0.12) -> dict:
    """Per-call times of fn in ms: `eager_ms` as a decode loop sees it (no hold: the GPU waits while the host is
    still in the wrapper), `graph_ms` for a CUDA graph of the same call (device time only), both with the L2 flushed
    and timed by profiler.timing.time_cuda; `host_overhead_us` = eager - graph (>= 0): the host's share per call.
    `host_call_us`: the wrapper's own Python time per call (perf_counter over back-to-back calls)."""
    e = time_cuda(fn, warmup=2, reps=30, max_seconds=budget_s, min_reps=5, flusher=flusher, hold=False)
    g = cuda_graph(fn)
    gt = time_cuda(g.replay, warmup=1, reps=30, max_seconds=budget_s, min_reps=5, flusher=flusher) if g else None
    torch.cuda.synchronize()
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    host = (time.perf_counter() - t0) / n
    torch.cuda.synchronize()
    out = dict(eager_ms=e.median * 1e3, graph_ms=None if gt is None else gt.median * 1e3, host_call_us=host * 1e6)
    out["host_overhead_us"] = None if gt is None else max(0.0, (e.median - gt.median) * 1e6)
    return out


def _floor_ms(nbytes, flops, ceil) -> float:
    return max(nbytes / (ceil["copy_gbps"] * 1e9), flops / (ceil["matmul_tflops"] * 1e12)) * 1e3


def mla_decode_cost(B: int, ctx: int, H: int, kv_elem_bytes: int) -> tuple[int, int]:
    """(bytes, flops) of one absorbed MLA decode step (s_q = 1): the whole cache once (ctx rows of 576 values of
    kv_elem_bytes each: 2 for bf16, 1 for fp8), q read and out written in bf16; 2 H (576 + 512) flops per key."""
    D, r = MLA_R + MLA_DR, MLA_R
    return B * ctx * D * kv_elem_bytes + B * H * (D + r) * 2, 2 * B * H * ctx * (D + r)


def sparse_decode_cost(B: int, topk: int, H: int, row_bytes: int) -> tuple[int, int]:
    """(bytes, flops) of one sparse top-k decode step (s_q = 1): the topk selected rows of row_bytes (1152 bf16, 656
    fp8-ds) and their int32 indices, q and out in bf16; 2 H (576 + 512) flops per selected key."""
    D, r = MLA_R + MLA_DR, MLA_R
    return B * topk * (row_bytes + 4) + B * H * (D + r) * 2, 2 * B * H * topk * (D + r)


def _flash_mla():
    try:
        import flash_mla
    except ImportError:
        return None
    return flash_mla


def bench_peers(flusher, ceil, device, *, points=PEER_POINTS, log=print) -> list[dict]:
    """Rows of kind "peer_mla" (ours = mla_decode(impl="auto") and FlashMLA's dense decode at every point, contiguous
    and paged64; FlashMLA always reads a paged cache: for "contiguous" it gets the identity block table over the same
    memory) and "fp8_mla" (our fp8 per-tensor-scale paged decode): eager and graph times, host overhead, floor.
    The sparse rows come from bench_sparse."""
    from .decode import auto_kernel, mla_decode

    fm = _flash_mla()
    D, r = MLA_R + MLA_DR, MLA_R
    rows = []
    for B in points["batches"]:
        for ctx in points["contexts"]:
            if not _fits(B * ctx * D * 2 * 1.7, device):
                rows.append(_skip("peer_mla", "*", dict(B=B, ctx=ctx), "cache does not fit"))
                continue
            kv = torch.randn(B, ctx, D, device=device, dtype=torch.bfloat16)
            lens = torch.full((B,), ctx, dtype=torch.int32, device=device)
            pool = kv.view(B * ctx // 64, 64, D)
            ident = torch.arange(B * ctx // 64, device=device, dtype=torch.int32).view(B, ctx // 64)
            shuffled = torch.randperm(B * ctx // 64, device=device).view(B, ctx // 64).to(torch.int32)
            kv8 = None
            for H in points["heads"]:
                q = torch.randn(B, 1, H, D, device=device, dtype=torch.bfloat16)
                nbytes = B * ctx * D * 2 + B * H * (D + r) * 2
                flops = 2 * B * H * ctx * (D + r)
                floor = _floor_ms(nbytes, flops, ceil)
                for layout, (cache, table) in (("contiguous", (kv, None)), ("paged64", (pool, shuffled))):
                    p = dict(B=B, ctx=ctx, heads=H, layout=layout, floor_ms=floor)
                    ours = lambda: mla_decode(q, cache, lens, table, softmax_scale=MLA_SCALE,  # noqa: E731
                                              max_seqlen=ctx)
                    t = eager_and_graph(ours, flusher)
                    err = last_sequence_error(ours(), lambda: kt.mla_sequence_reference(
                        q, cache, table, B - 1, ctx, kv_lora_rank=r, scale=MLA_SCALE))
                    rows.append(dict(kind="peer_mla", impl="ours", status="ok", rel_err=err, **p, **t))
                    if fm is not None:
                        meta = fm.get_mla_metadata()[0]  # built on the first call, reused (as engines do)
                        kc = pool.view(-1, 64, 1, D)
                        bt = ident if layout == "contiguous" else shuffled
                        t = eager_and_graph(lambda: fm.flash_mla_with_kvcache(
                            q, kc, bt, lens, r, meta, softmax_scale=MLA_SCALE), flusher)
                        rows.append(dict(kind="peer_mla", impl="flashmla", status="ok", **p, **t))
                    else:
                        rows.append(_skip("peer_mla", "flashmla", p, "flash_mla not importable"))
                    log(_fmt_peer(rows[-2:]))
                if kv8 is None:
                    kv8 = pool.to(torch.float8_e4m3fn)
                scale = torch.tensor([0.02], device=device)
                fl8 = _floor_ms(*mla_decode_cost(B, ctx, H, 1), ceil)
                ours8 = lambda: mla_decode(q, kv8, lens, shuffled, softmax_scale=MLA_SCALE,  # noqa: E731
                                           kv_scale=scale, max_seqlen=ctx)
                t = eager_and_graph(ours8, flusher)
                err = last_sequence_error(ours8(), lambda: kt.mla_sequence_reference(
                    q, kv8, shuffled, B - 1, ctx, kv_lora_rank=r, scale=MLA_SCALE, kv_scale=scale))
                rows.append(dict(kind="fp8_mla", impl="ours", status="ok", B=B, ctx=ctx, heads=H, layout="paged64",
                                 floor_ms=fl8, rel_err=err,
                                 kernel=auto_kernel(q, kv8, shuffled, kv_lora_rank=r, kv_scale=scale), **t))
            del kv, pool, kv8
            torch.cuda.empty_cache()
    return rows


def last_sequence_error(out: torch.Tensor, reference) -> float:
    """Relative error (kernels.testing.rel_error) of the batch's last sequence in `out` against `reference()`, its
    float32 reference over its own rows: every row of ours carries the check of what it timed (bf16: ~3e-3)."""
    return kt.rel_error(out[-1:].float(), reference())


def sparse_inputs(B: int, ctx: int, topk: int, device):
    """Inputs of a sparse decode point: ((bf16 pool, its fp8-ds packing) of B x ctx random rows in shuffled 64-token
    blocks, the block table, the lengths, ``topk`` distinct random indices per sequence; a context under ``topk``:
    all its positions, then -1, as an indexer pads a short sequence)."""
    from .cache import pack_fp8_ds

    nblk = ctx // 64
    kv = torch.randn(B * nblk, 64, MLA_R + MLA_DR, device=device, dtype=torch.bfloat16)
    ds = pack_fp8_ds(kv[..., :MLA_R], kv[..., MLA_R:])
    table = torch.randperm(B * nblk, device=device).view(B, nblk).to(torch.int32)
    lens = torch.full((B,), ctx, dtype=torch.int32, device=device)
    idx = torch.argsort(torch.rand(B, 1, ctx, device=device), dim=-1)[..., :topk].to(torch.int32)
    if ctx < topk:
        idx = torch.cat([idx, idx.new_full((B, 1, topk - ctx), -1)], dim=-1)
    return (kv, ds), table, lens, idx


def flash_mla_sparse(fm):
    """FlashMLA's module when its build holds the sparse decode (bench/build_flashmla_sparse.py), else None:
    ../shared/peers/build_flashmla.py builds the dense decode only."""
    return fm if fm is not None and hasattr(getattr(fm, "cuda", None), "sparse_decode_fwd") else None


def pool_row_indices(idx: torch.Tensor, table: torch.Tensor, block_size: int = 64) -> torch.Tensor:
    """Selected positions -> rows of the paged pool, as FlashMLA's sparse decode takes them (its `indices`:
    block_table[b, pos // block_size] * block_size + pos % block_size; -1 stays -1). An indexer in a serving
    engine emits these directly; ours map positions through the block table inside the kernel."""
    B = idx.shape[0]
    blk = torch.gather(table.long(), 1, (idx.clamp(min=0) // block_size).view(B, -1).long()).view_as(idx)
    rows = blk * block_size + idx.clamp(min=0) % block_size
    return torch.where(idx < 0, torch.full_like(rows, -1), rows).to(torch.int32)


def bench_sparse(flusher, ceil, device, pts, *, log=print) -> list[dict]:
    """Sparse top-k decode (topk selected rows of a ctx-token paged cache per query) over bf16 and fp8-ds rows;
    floor from the selected bytes (+ q, out, indices) and the flops of topk keys. Beside ours, where FlashMLA's
    sparse decode is built and takes the shape (fp8-ds rows, 64 or 128 heads): its time on the same rows and
    selection (`impl` "flashmla"), and `max_abs_diff` between its output and ours (both against the same inputs)."""
    from .cache import fp8_ds_row_bytes
    from .decode import mla_decode

    D, r, topk, ctx = MLA_R + MLA_DR, MLA_R, pts["topk"], pts["ctx"]
    fm = flash_mla_sparse(_flash_mla())
    rows = []
    for B in pts["batches"]:
        (kv, ds), table, lens, idx = sparse_inputs(B, ctx, topk, device)
        pool_idx = pool_row_indices(idx, table)
        for H in pts["heads"]:
            q = torch.randn(B, 1, H, D, device=device, dtype=torch.bfloat16)
            for fmt, cache in (("bf16", kv), ("fp8_ds", ds)):
                row_bytes = D * 2 if fmt == "bf16" else fp8_ds_row_bytes(r, MLA_DR)
                nbytes, flops = sparse_decode_cost(B, topk, H, row_bytes)
                p = dict(B=B, ctx=ctx, topk=topk, heads=H, kv_dtype=fmt, layout="paged64",
                         floor_ms=_floor_ms(nbytes, flops, ceil))
                ours = lambda: mla_decode(q, cache, lens, table, indices=idx, softmax_scale=MLA_SCALE)  # noqa: E731
                t = eager_and_graph(ours, flusher)
                err = last_sequence_error(ours(), lambda: kt.sparse_sequence_reference(
                    q, cache, table, idx, B - 1, ctx, kv_lora_rank=r, scale=MLA_SCALE))
                rows.append(dict(kind="sparse_mla", impl="ours", status="ok", rel_err=err, **p, **t))
                log(f"sparse {fmt} B={B} H={H} topk={topk}: graph {t['graph_ms']} ms floor "
                    f"{p['floor_ms']:.4f} ms host {t['host_overhead_us']} us")
                if fm is None or fmt != "fp8_ds" or H not in (64, 128):
                    continue
                meta = fm.get_mla_metadata()[0]
                peer = lambda: fm.flash_mla_with_kvcache(  # noqa: E731
                    q, cache.view(-1, 64, 1, cache.shape[-1]), None, None, r, meta, softmax_scale=MLA_SCALE,
                    is_fp8_kvcache=True, indices=pool_idx)[0]
                diff = (peer().float() - ours().float()).abs().max().item()
                t = eager_and_graph(peer, flusher)
                rows.append(dict(kind="sparse_mla", impl="flashmla", status="ok", max_abs_diff=diff, **p, **t))
                log(f"  flashmla: graph {t['graph_ms']} ms, max |flashmla - ours| {diff:.2e}")
        del kv, ds
        torch.cuda.empty_cache()
    return rows


def _fmt_peer(rs) -> str:
    return "  ".join(f"{r['impl']} B={r['B']} ctx={r['ctx']} H={r['heads']} {r['layout']}: graph {r['graph_ms']} "
                     f"ms eager {r['eager_ms']:.4f} ms" for r in rs if r.get("status") == "ok")


def host_by_kind(ok: list[dict]) -> dict:
    """{kind: {points, median, max}} of eager - graph (us) over our rows of each kind that have it."""
    out = {}
    for kind in sorted({r["kind"] for r in ok if r["impl"] == "ours"}):
        vals = [r["host_overhead_us"] for r in ok if r["kind"] == kind and r["impl"] == "ours"
                and r.get("host_overhead_us") is not None]
        if vals:
            out[kind] = dict(points=len(vals), median=statistics.median(vals), max=max(vals))
    return out


def summarize_peers(rows: list[dict]) -> dict:
    """The issue's summary from timing rows:
    vs_flashmla: ours / FlashMLA graph time at the same point (batch >= 8), points, median and max ratio;
    host_overhead_us: eager - graph per call of our dense mla_decode (the peer_mla rows), median and max (the issue's
    figure), and `by_kind` the same for each kind of our rows (peer_mla, fp8_mla, sparse_mla): every wrapper's host
    share, sparse decode's included (its value checks used to sync the host on every call);
    fp8_vs_floor, sparse_vs_floor: graph time / floor, max ratio (and the median); fp8_vs_floor.batch_32_up: the
    same over batch >= 32, the issue's scope for the fp8 target; output_rel_err: the largest relative error of our
    rows' last sequence against its float32 reference (`rel_err` a row), so a timing of wrong work shows."""
    ok = [r for r in rows if r.get("status") == "ok"]
    key = lambda r: (r["B"], r["ctx"], r["heads"], r["layout"])  # noqa: E731
    fm = {key(r): r for r in ok if r["kind"] == "peer_mla" and r["impl"] == "flashmla" and r.get("graph_ms")}
    ratios = [r["graph_ms"] / fm[key(r)]["graph_ms"] for r in ok
              if r["kind"] == "peer_mla" and r["impl"] == "ours" and r["B"] >= 8 and r.get("graph_ms")
              and key(r) in fm]
    host = [r["host_overhead_us"] for r in ok if r["kind"] == "peer_mla" and r["impl"] == "ours"
            and r.get("host_overhead_us") is not None]

    def stat(vals):
        return dict(points=len(vals), median=statistics.median(vals) if vals else None,
                    max=max(vals) if vals else None)

    def floor_ratio(kind, impl="ours", min_batch=0):
        vals = [r["graph_ms"] / r["floor_ms"] for r in ok if r["kind"] == kind and r["impl"] == impl
                and r.get("graph_ms") and r.get("B", 0) >= min_batch]
        st = stat(vals)
        return dict(points=st["points"], max_ratio=st["max"], median_ratio=st["median"])

    skey = lambda r: (r["B"], r["heads"], r["kv_dtype"])  # noqa: E731
    sfm = {skey(r): r for r in ok if r["kind"] == "sparse_mla" and r["impl"] == "flashmla" and r.get("graph_ms")}
    sratios = [r["graph_ms"] / sfm[skey(r)]["graph_ms"] for r in ok if r["kind"] == "sparse_mla"
               and r["impl"] == "ours" and r.get("graph_ms") and skey(r) in sfm]
    st, sst = stat(ratios), stat(sratios)
    errs = [r["rel_err"] for r in ok if r["impl"] == "ours" and r.get("rel_err") is not None]
    return dict(output_rel_err=dict(points=len(errs), max=max(errs) if errs else None),
                vs_flashmla=dict(points=st["points"], median_ratio=st["median"], max_ratio=st["max"]),
                host_overhead_us=dict(median=stat(host)["median"], max=stat(host)["max"], points=len(host),
                                      by_kind=host_by_kind(ok)),
                fp8_vs_floor=dict(floor_ratio("fp8_mla"), batch_32_up=floor_ratio("fp8_mla", min_batch=32)),
                sparse_vs_floor=floor_ratio("sparse_mla"),
                sparse_vs_flashmla=dict(points=sst["points"], median_ratio=sst["median"], max_ratio=sst["max"]),
                flashmla_sparse_vs_floor=floor_ratio("sparse_mla", "flashmla"))


def run_peers(out_path: str, *, log=print, points=PEER_POINTS, sparse_points=SPARSE_POINTS) -> dict:
    """The --peers run: ceilings, then bench_peers, then the summary; JSON to out_path."""
    device = torch.device("cuda")
    t_start = time.perf_counter()
    flusher = L2Flusher(torch.cuda.current_device())
    ceil = measure_ceilings(log, flusher=flusher)
    result = dict(**run_meta(device, "mlacalc bench kernels --peers --json --out FILE.json"), ceilings=ceil,
                  flash_mla=_flash_mla() is not None)
    rows = bench_peers(flusher, ceil, device, points=points, log=log)
    result.update(summary=summarize_peers(rows), rows=rows)
    write_result(out_path, result, t_start)  # the dense part survives a timeout in the sparse part
    rows += bench_sparse(flusher, ceil, device, sparse_points, log=log)
    result.update(summary=summarize_peers(rows), rows=rows)
    result["targets"] = {"peers": result["summary"]}
    write_result(out_path, result, t_start)
    log(json.dumps(result["summary"], indent=1))
    return result


def run_benchmark(out_path: str, quick: bool = False, *, mla_configs: dict | None = None, peers: bool = False,
                  log=print) -> dict:
    """Run the matrix on the current CUDA device, write JSON to out_path (and a .md next to it); return the dict.
    mla_configs: optional {"r16"|"r32"|"r64": MLADecodeConfig} overriding the kernel's defaults per row class.
    peers: the --peers run instead (run_peers: FlashMLA beside ours, host overhead, fp8 and sparse vs the floor)."""
    if peers:
        return run_peers(out_path, log=log)
    device = torch.device("cuda")
    t_start = time.perf_counter()
    timer = make_timer()
    ceil = measure_ceilings(log, flusher=timer.keywords["flusher"])
    if quick:
        batches, contexts, heads = (1, 32, 128), (4096, 16384), (16, 128)
        gqa_b, gqa_c, gqa_shapes = (1, 32), (4096, 16384), ("llama3-8b",)
        prefill = [(1, 4096, 16)]
    else:
        batches, contexts, heads = (1, 8, 32, 64, 128), (1024, 4096, 16384, 65536), (16, 32, 64, 128)
        gqa_b, gqa_c, gqa_shapes = (1, 8, 32, 64, 128), (1024, 4096, 16384, 65536), tuple(GQA_SHAPES)
        prefill = [(1, 4096, 16), (1, 4096, 128), (4, 8192, 16), (1, 16384, 128)]
    rows = bench_mla_decode(timer, ceil, device, batches, contexts, heads, configs=mla_configs, log=log)
    # multi-token prediction / speculative verification: a few points
    rows += bench_mla_decode(timer, ceil, device, (32,), (4096,), (16, 128), s_q_list=(2, 4), fp8_heads=(),
                             configs=mla_configs, log=log)
    rows += bench_gqa_decode(timer, ceil, device, gqa_b, gqa_c, gqa_shapes, log=log)
    rows += bench_prefill(timer, ceil, device, prefill, log=log)
    result = dict(
        **run_meta(device, "mlacalc bench kernels --out FILE.json" + (" --quick" if quick else "")),
        ceilings=ceil,
        mla_configs={k: asdict(v) for k, v in (mla_configs or {}).items()},
        targets=summarize_targets(rows),
        wall_s=time.perf_counter() - t_start,
        rows=rows,
    )
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1, default=lambda x: None if isinstance(x, float) and math.isnan(x) else str(x))
    md_path = out_path[:-5] + ".md" if out_path.endswith(".json") else out_path + ".md"
    with open(md_path, "w") as f:
        f.write(markdown_table(result))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--peers", action="store_true", help="FlashMLA beside ours, host overhead, fp8/sparse vs floor")
    a = ap.parse_args(argv)
    res = run_benchmark(a.out, quick=a.quick, peers=a.peers)
    print(json.dumps(res.get("summary", res["targets"]), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
