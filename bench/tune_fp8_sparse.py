"""One device call for issue 14, items 3 and 4: the fp8 dense MLA decode and the sparse top-k decode (bf16 and fp8-ds
rows) against their floors, each candidate tile and variant beside the current default and the kernel before issue 14.

    python3 bench/tune_fp8_sparse.py --out $OUT/tune_fp8_sparse.json      (< 4 minutes on an H200)

Candidates (docs/kernels-notes.md, "Issue 14: fp8 and sparse"): per head class a few tiles of fp8_mode "slices" /
"dual" (the latent as 4 slices of 128 columns, per-group scales folded into the small tiles) that compiled for sm_90
without spills and with pipelined loads, the current default (variant name "default"), and "widen_old" (the tile and
code path the H200 report measured: the control). Sparse bf16 rows: tiles, and at 16 heads a tile small enough for
two programs per SM with twice the splits (B = 8 is latency-bound).

1. Precompile: worker processes run step 2's checks for a share of the candidates (filling Triton's on-disk cache in
   parallel); a worker that dies takes only its share's head start with it.
2. Correctness, per candidate and head count, in this process: fresh random inputs (bf16 queries, the float64
   reference of testing.py over the cache as stored, NaN-poisoned outputs), lengths 1/63/64/65/1021 with the planned
   splits and with one split; rel err < 2e-2 (fp8) or 1e-2 (bf16). A candidate that fails or raises is recorded with
   its error and not timed.
3. Timing: profiler.timing.cuda_graph + time_cuda on the graph's replay (device time only), the
   L2 flushed before each replay; floors from kernels/bench.py's cost functions and the ceilings measured here.
   Dense fp8 (paged, 64-token blocks, shuffled): B 32/128 x ctx 4k/32k x heads 16/64/128. Sparse: B 8/64, topk 2048
   of a 32k context, heads 16/64/128, bf16 and fp8-ds rows.

JSON: meta, ceilings, rows {kind, variant, config, B, ctx, heads, ms, floor_ms, x_floor, error} (check rows have
ms None and their rel err in check_err), best {kind/heads: variant, geomean x_floor, default's}. A table is printed.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict

import torch
from mlacalc.kernels.bench import (
    MLA_DR,
    MLA_R,
    MLA_SCALE,
    _floor_ms,
    mla_decode_cost,
    run_meta,
    sparse_decode_cost,
    write_result,
)
from mlacalc.kernels.bench import sparse_inputs as bench_sparse_inputs
from mlacalc.kernels.cache import fp8_ds_row_bytes
from mlacalc.kernels.testing import (
    make_mla_case,
    make_sparse_case,
    rel_error,
    run_mla_case,
    run_sparse_case,
)
from mlacalc.kernels.triton_mla_decode import (
    MLADecodeConfig,
    default_mla_config,
    mla_decode_triton,
)
from mlacalc.kernels.triton_mla_sparse import (
    SparseMLAConfig,
    default_sparse_config,
    mla_decode_sparse,
)
from mlacalc.profiler.calibrate import measure_ceilings
from mlacalc.profiler.timing import L2Flusher, cuda_graph, time_cuda

HEADS = (16, 64, 128)
DENSE_POINTS = [(B, ctx) for B in (32, 128) for ctx in (4096, 32768)]
SPARSE_POINTS = [(B, 32768) for B in (8, 64)]
TOPK = 2048
BUDGET_S = 225.0  # no new timing past this (the whole script must stay under 4 minutes)
WORKERS = 8
DEVICE = "cuda"
CHECK_LENS = [1, 63, 64, 65, 1021]  # capacity 1024 = 16 blocks of 64: the same integer specialisations as the timing

D = MLA_R + MLA_DR
M = MLADecodeConfig
S = SparseMLAConfig

# kind -> head class ("h16": 16 heads, "h64": 64 and 128) -> {variant: config}; "default" is filled in from the
# package's default_*_config, so the table always shows what the code runs today. Round 1 (2026-12-02, H200) set the
# defaults; tiles that lost at every point were dropped from this list (docs/kernels-notes.md, "Issue 14, round 2").
CANDIDATES = {
    "fp8_dense": {
        "h16": {
            "dual_16x32_w4s4": M(block_h=16, block_n=32, num_warps=4, num_stages=4, fp8_mode="dual"),
            "widen_old": M(block_h=16, block_n=64, num_warps=4, num_stages=3, fp8_mode="widen"),
        },
        "h64": {
            "slices_64x32_w8s4": M(block_h=64, block_n=32, num_warps=8, num_stages=4, fp8_mode="slices"),
            "widen_old": M(block_h=64, block_n=64, num_warps=8, num_stages=2, fp8_mode="widen"),
        },
    },
    "sparse_bf16": {
        "h16": {
            "16x64_w4s3_old": S(block_h=16, block_n=64, num_warps=4, num_stages=3),  # the default before round 1
            # two programs per SM (93 KB, 212 regs) and chunks down to 64 keys: 32 splits at B = 8 instead of 16
            "16x32_w4s3_2sm": S(block_h=16, block_n=32, num_warps=4, num_stages=3, min_tokens_per_split=64,
                                programs_per_sm=2),
        },
        "h64": {
            "32x64_w8s3": S(block_h=32, block_n=64, num_warps=8, num_stages=3),  # 2-4 head blocks: more programs
            # the default tile planned as if two fit per SM: about twice the splits (B = 8 x 64 heads plans 8 splits,
            # 64 programs for 132 SMs)
            "64x64_w8s2_2x": S(block_h=64, block_n=64, num_warps=8, num_stages=2, min_tokens_per_split=64,
                               programs_per_sm=2),
            "64x64_w8s2_old": S(block_h=64, block_n=64, num_warps=8, num_stages=2),  # the default before round 1
        },
    },
    "sparse_fp8_ds": {
        "h16": {
            "widen_old": S(block_h=16, block_n=32, num_warps=4, num_stages=3, fp8_mode="widen"),
        },
        "h64": {
            "dual_32x32_w8s3": S(block_h=32, block_n=32, num_warps=8, num_stages=3, fp8_mode="dual"),
            "dual_64x16_w8s3_old": S(block_h=64, block_n=16, num_warps=8, num_stages=3, fp8_mode="dual"),
        },
    },
}


def head_class(H: int) -> str:
    return "h16" if H <= 16 else "h64"


def default_config(kind: str, H: int):
    if kind == "fp8_dense":
        return default_mla_config(H, None, fp8=True, paged=True)
    return default_sparse_config(H, kind == "sparse_fp8_ds")


def variants(kind: str, H: int) -> dict:
    """variant name -> config for one kind and head count (the default first; a candidate equal to it is left out)."""
    out = {"default": default_config(kind, H)}
    out.update({k: v for k, v in CANDIDATES[kind][head_class(H)].items() if v != out["default"]})
    return out


def all_variants():
    """(kind, heads, name, config) of every candidate, in run order."""
    return [(kind, H, name, cfg) for kind in CANDIDATES for H in HEADS for name, cfg in variants(kind, H).items()]


# ---------------------------------------------------------------------------------------------------------------- checks

def check(kind: str, H: int, cfg) -> float:
    """Worst rel err of one candidate over the planned splits and one split (raises what the kernel raises)."""
    dev = DEVICE
    errs = []
    if kind == "fp8_dense":
        case = make_mla_case(CHECK_LENS, heads=H, paged=True, fp8=True, device=dev, seed=H)
        for splits in (None, 1):
            out = run_mla_case(mla_decode_triton, case, config=cfg, num_splits=splits)
            errs.append(rel_error(out, case.ref))
    else:
        case = make_sparse_case(CHECK_LENS[::-2], heads=H, topk=256, fp8_ds=kind == "sparse_fp8_ds", device=dev,
                                seed=H)
        for splits in (None, 1):
            out = run_sparse_case(mla_decode_sparse, case, config=cfg, num_splits=splits)
            errs.append(rel_error(out, case.ref))
    if dev == "cuda":
        torch.cuda.synchronize()
    return max(errs)


def bound(kind: str) -> float:
    return 1e-2 if kind == "sparse_bf16" else 2e-2


def warm(index: int, count: int, log_path: str, entries=None, check_fn=None) -> None:
    """Worker: run the checks of every count-th candidate (fills Triton's cache), noting each start and end in
    log_path, so that the main process can skip a candidate that took its worker down (a CUDA fault would end it).
    entries / check_fn: another script's (kind, heads, name, config) list and check (default: this script's)."""
    check_fn = check_fn or check
    with open(log_path, "a") as f:
        for i, (kind, H, name, cfg) in enumerate(entries if entries is not None else all_variants()):
            if i % count != index:
                continue
            f.write(f"start {i}\n")
            f.flush()
            try:
                check_fn(kind, H, cfg)
            except Exception as e:  # noqa: BLE001 - the main process records it
                print(f"warm {kind} h{H} {name}: {type(e).__name__}: {e}", file=sys.stderr)
            f.write(f"done {i}\n")
            f.flush()


def precompile(log, tmp_dir: str, script: str = __file__, cap_s: float = 110.0) -> set[int]:
    """Run the workers (`script --warm INDEX COUNT LOG`, at most ~cap_s); returns the indices (into the script's
    candidate list) of candidates that were running when their worker died (one stopped here for time only left
    its candidate to compile in the main process)."""
    t0 = time.perf_counter()
    logs = [os.path.join(tmp_dir, f"warm{i}.log") for i in range(WORKERS)]
    procs = [subprocess.Popen([sys.executable, script, "--warm", str(i), str(WORKERS), logs[i]],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, PYTHONUNBUFFERED="1")) for i in range(WORKERS)]
    stopped = set()  # workers stopped here for time: their current candidate was slow, not fatal
    for i, p in enumerate(procs):
        try:
            p.wait(timeout=max(1.0, cap_s - (time.perf_counter() - t0)))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            stopped.add(i)
    unfinished = set()
    for i, (path, p) in enumerate(zip(logs, procs)):
        if p.returncode != 0 and i not in stopped and os.path.exists(path):
            with open(path) as f:
                words = [line.split() for line in f]
            started = {int(w[1]) for w in words if w[0] == "start"}
            unfinished |= started - {int(w[1]) for w in words if w[0] == "done"}
    log(f"precompile: {WORKERS} workers, {time.perf_counter() - t0:.0f} s, exit codes "
        f"{[p.returncode for p in procs]}, stopped for time {sorted(stopped)}, unfinished {sorted(unfinished)}")
    return unfinished


def graph_ms(fn, flusher) -> float | None:
    """Device time of one call: a CUDA graph of fn replayed with the L2 flushed before each replay (median, ms)."""
    fn()
    g = cuda_graph(fn)
    if g is None:
        return None
    t = time_cuda(g.replay, warmup=1, reps=20, max_seconds=0.08, min_reps=5, flusher=flusher)
    return t.median * 1e3


def dense_inputs(B, ctx, dev):
    nblk = ctx // 64
    pool = torch.randn(B * nblk, 64, D, device=dev, dtype=torch.bfloat16).to(torch.float8_e4m3fn)
    table = torch.randperm(B * nblk, device=dev).view(B, nblk).to(torch.int32)
    lens = torch.full((B,), ctx, dtype=torch.int32, device=dev)
    return pool, table, lens


def sparse_inputs(B, ctx, dev):
    (kv, ds), table, lens, idx = bench_sparse_inputs(B, ctx, TOPK, dev)
    return {"sparse_bf16": kv, "sparse_fp8_ds": ds}, table, lens, idx


def row(kind, name, cfg, B, ctx, H, ms=None, floor_ms=None, error=None, check_err=None) -> dict:
    return {"kind": kind, "variant": name, "config": asdict(cfg) if cfg is not None else None, "B": B, "ctx": ctx,
            "heads": H, "ms": ms, "floor_ms": floor_ms,
            "x_floor": None if ms is None or not floor_ms else ms / floor_ms, "error": error, "check_err": check_err}


def summarize(rows: list[dict], kinds=None) -> dict:
    """Per kind and head count: geomean x_floor of each variant over the points it ran at all of; the best one.
    kinds: the kinds to walk (default: this script's)."""
    out = {}
    timed = [r for r in rows if r["x_floor"] is not None]
    for kind in kinds or CANDIDATES:
        for H in HEADS:
            rs = [r for r in timed if r["kind"] == kind and r["heads"] == H]
            points = {(r["B"], r["ctx"]) for r in rs}
            gm = {}
            for name in {r["variant"] for r in rs}:
                xs = [r["x_floor"] for r in rs if r["variant"] == name]
                if len(xs) == len(points):
                    gm[name] = math.exp(sum(math.log(x) for x in xs) / len(xs))
            if gm:
                best = min(gm, key=gm.get)
                out[f"{kind}/h{H}"] = {"best": best, "best_geomean_x_floor": gm[best],
                                       "best_config": next(r["config"] for r in rs if r["variant"] == best),
                                       "default_geomean_x_floor": gm.get("default"), "geomean_x_floor": gm}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="JSON file to write")
    ap.add_argument("--warm", nargs=3, metavar=("INDEX", "COUNT", "LOG"), help=argparse.SUPPRESS)
    ap.add_argument("--no-precompile", action="store_true", help="compile in this process only")
    a = ap.parse_args(argv)
    if a.warm:
        warm(int(a.warm[0]), int(a.warm[1]), a.warm[2])
        return 0
    if not a.out:
        ap.error("--out is required")
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", flush=True)

    dev = torch.device("cuda")
    unfinished = set()
    if not a.no_precompile:
        with tempfile.TemporaryDirectory() as tmp:
            unfinished = precompile(log, tmp)
    flusher = L2Flusher(torch.cuda.current_device())
    ceil = measure_ceilings(log, flusher=flusher)
    result = {**run_meta(dev, "python3 bench/tune_fp8_sparse.py --out FILE.json"), "ceilings": ceil, "rows": []}
    rows = result["rows"]

    ok = {}  # (kind, H, name) -> config of the candidates that passed their check
    for i, (kind, H, name, cfg) in enumerate(all_variants()):
        if i in unfinished:  # its worker died (or ran out of time) on it: a crash here would end the whole run
            rows.append(row(kind, name, cfg, None, None, H, error="skipped: its precompile worker died on it"))
            continue
        if time.perf_counter() - t_start > BUDGET_S - 60:  # leave the timings some time
            rows.append(row(kind, name, cfg, None, None, H, error="skipped: time budget"))
            continue
        try:
            err = check(kind, H, cfg)
            good = err < bound(kind)
            rows.append(row(kind, name, cfg, None, None, H, check_err=err,
                            error=None if good else f"rel err {err:.3g} >= {bound(kind)}"))
            if good:
                ok[(kind, H, name)] = cfg
        except Exception as e:  # noqa: BLE001 - a compile error or a bad config: record it, go on
            rows.append(row(kind, name, cfg, None, None, H, error=f"{type(e).__name__}: {str(e)[:300]}"))
            write_result(a.out, result, t_start)
    bad = [r for r in rows if r["error"]]
    log(f"checks: {len(ok)} passed, {len(bad)} failed" + "".join(
        f"\n    {r['kind']} h{r['heads']} {r['variant']}: {r['error']}" for r in bad))
    write_result(a.out, result, t_start)

    def timed(kind, H, B, ctx, floor, call):
        for (k, h, name), cfg in ok.items():
            if k != kind or h != H:
                continue
            if time.perf_counter() - t_start > BUDGET_S:
                rows.append(row(kind, name, cfg, B, ctx, H, floor_ms=floor, error="skipped: time budget"))
                continue
            try:
                ms = graph_ms(lambda cfg=cfg: call(cfg), flusher)
                rows.append(row(kind, name, cfg, B, ctx, H, ms=ms, floor_ms=floor,
                                error=None if ms is not None else "graph capture failed"))
            except Exception as e:  # noqa: BLE001
                rows.append(row(kind, name, cfg, B, ctx, H, floor_ms=floor, error=f"{type(e).__name__}: {str(e)[:300]}"))
                write_result(a.out, result, t_start)

    scale = torch.tensor([0.02], device=dev)

    def dense_point(B, ctx):
        pool, table, lens = dense_inputs(B, ctx, dev)
        for H in HEADS:
            q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
            floor = _floor_ms(*mla_decode_cost(B, ctx, H, 1), ceil)
            timed("fp8_dense", H, B, ctx, floor, lambda cfg, q=q: mla_decode_triton(
                q, pool, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale, max_seqlen=ctx, config=cfg))

    def sparse_point(B, ctx):
        caches, table, lens, idx = sparse_inputs(B, ctx, dev)
        for H in HEADS:
            q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
            for kind, cache in caches.items():
                row_bytes = D * 2 if kind == "sparse_bf16" else fp8_ds_row_bytes(MLA_R, MLA_DR)
                floor = _floor_ms(*sparse_decode_cost(B, TOPK, H, row_bytes), ceil)
                timed(kind, H, B, ctx, floor, lambda cfg, q=q, cache=cache: mla_decode_sparse(
                    q, cache, idx, table, lens, softmax_scale=MLA_SCALE, config=cfg))

    for B, ctx in DENSE_POINTS:
        dense_point(B, ctx)
        torch.cuda.empty_cache()
        log(f"fp8 dense B={B} ctx={ctx} done")
    write_result(a.out, result, t_start)
    for B, ctx in SPARSE_POINTS:
        sparse_point(B, ctx)
        torch.cuda.empty_cache()
        log(f"sparse B={B} ctx={ctx} done")

    result["best"] = summarize(rows)
    write_result(a.out, result, t_start)
    print_table(rows, result["best"])
    log(f"wrote {a.out}")
    return 0


def print_table(rows, best, kinds=None) -> None:
    timed = [r for r in rows if r["B"] is not None]
    for kind in kinds or CANDIDATES:
        for H in HEADS:
            rs = [r for r in timed if r["kind"] == kind and r["heads"] == H]
            if not rs:
                continue
            points = sorted({(r["B"], r["ctx"]) for r in rs})
            names = list(dict.fromkeys(r["variant"] for r in rs))
            print(f"\n{kind}, {H} heads: x floor (ms)   " + "  ".join(f"B={B} ctx={c // 1024}k" for B, c in points))
            for name in names:
                cells = []
                for p in points:
                    r = next((r for r in rs if r["variant"] == name and (r["B"], r["ctx"]) == p), None)
                    cells.append("-" if r is None or r["ms"] is None else f"{r['x_floor']:.2f} ({r['ms']:.4f})")
                print(f"  {name:20s} " + "  ".join(f"{c:>18s}" for c in cells))
    print("\nbest per kind and heads (geomean x floor; the default's):")
    for k, v in best.items():
        d = v["default_geomean_x_floor"]
        print(f"  {k:22s} {v['best']:20s} {v['best_geomean_x_floor']:.2f}  default {'-' if d is None else f'{d:.2f}'}")


if __name__ == "__main__":
    raise SystemExit(main())
