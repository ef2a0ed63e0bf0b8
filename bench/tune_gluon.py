"""One device call for the Gluon (sm_90) absorbed-MLA decode kernels against the Triton default, 64-128 heads.

    python bench/tune_gluon.py --out DIR      (about 2 minutes on an H100; writes DIR/tune_gluon.json)

1. Correctness, one worker process per Gluon variant (a compiler error, a GPU fault or a hang ends only that
   worker, killed after 120 s): fresh random inputs, NaN-poisoned output, cache rows past each length set to NaN
   (contiguous, and paged with shuffled blocks made from the same cache), 128 heads with lengths 4097/65/1/64/63,
   forced splits 1/3/17, 64 heads, 64 heads x s_q = 2 (causal); rel err vs the float64 reference < 1e-2.
2. Timing (mlacalc.kernels.bench.make_timer: L2 flushed, CUDA events, median; ceilings measured in this run):
   128 heads, B {32, 64, 128} x ctx {1k, 4k, 16k, 64k} (issue 5's compute-heavy points), contiguous and paged64, the Triton
   default and every correct Gluon variant; 64 heads contiguous at the same points; 128 heads at B {1, 8} x ctx
   {16k, 64k} (the split path).
Variants: the seesaw schedule with 2 x 64 and 4 x 32 buffers (the default). The lock-step kernel and its FA3-style
overlap, compared here in follow-ups 4-5, lost and were removed (docs/kernels-notes.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from common import mla_inputs, mla_metrics
from mlacalc.kernels.bench import MLA_R, MLA_SCALE, make_timer, run_meta, write_result
from mlacalc.kernels.cache import to_paged
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.kernels.triton_mla_decode import mla_decode_triton
from mlacalc.profiler.calibrate import measure_ceilings

VARIANTS = {  # name: GluonMLAConfig.block_n
    "g_seesaw": 64,
    "g_seesaw32": 32,
}
BUDGET_S = 380.0  # stop starting new timing sections past this (call limit 600 s, pip and tests included)


def _gluon(cfg):
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, mla_decode_gluon

    c = GluonMLAConfig(block_n=cfg)
    return lambda *a, **k: mla_decode_gluon(*a, config=c, **k)


def check_variant(name: str) -> dict:
    fn = _gluon(VARIANTS[name])
    errs = {}
    lens = [4097, 65, 1, 64, 63]
    base = make_mla_case(lens, heads=128, device="cuda")
    for b, n in enumerate(lens):  # a read past a length shows up as NaN
        base.kv_cache[b, n:] = float("nan")
    errs["h128_contig"] = rel_error(run_mla_case(fn, base), base.ref)
    for ns in (1, 3, 17):
        errs[f"h128_contig_splits{ns}"] = rel_error(run_mla_case(fn, base, num_splits=ns), base.ref)
    pool, table = to_paged(base.kv_cache, 64)
    paged = type(base)(**{**base.__dict__, "kv_cache": pool, "block_table": table.cuda()})
    errs["h128_paged64"] = rel_error(run_mla_case(fn, paged), base.ref)
    errs["h128_paged64_splits1"] = rel_error(run_mla_case(fn, paged, num_splits=1), base.ref)
    c64 = make_mla_case([4097, 65, 64], heads=64, device="cuda")
    errs["h64_contig"] = rel_error(run_mla_case(fn, c64), c64.ref)
    c2 = make_mla_case([130, 64, 2], heads=64, s_q=2, device="cuda")
    errs["h64_sq2_causal"] = rel_error(run_mla_case(fn, c2), c2.ref)
    return dict(ok=all(e < 1e-2 for e in errs.values()), errs=errs)


def _time(timer, fn, ceil, B, ctx, H, **tags) -> dict:
    t = timer(fn)
    return dict(**tags, B=B, ctx=ctx, heads=H, ms=t["ms"], ms_min=t["ms_min"], ms_max=t["ms_max"], reps=t["reps"],
                gap_ms=t["gap_ms"], host_bound=t["host_bound"], **mla_metrics(B, ctx, H, t["ms"], ceil))


def time_points(timer, ceil, dev, impls, points, heads, layouts, t_start, log) -> list[dict]:
    rows = []
    for B, ctx in points:
        if time.perf_counter() - t_start > BUDGET_S:
            log(f"budget reached: skipping H={heads} B={B} ctx={ctx} and later points")
            break
        q, kv, pool, table, lens = mla_inputs(B, ctx, heads, dev)
        for layout in layouts:
            args = (kv, lens, None) if layout == "contiguous" else (pool, lens, table)
            for name, f in impls.items():
                fn = lambda: f(q, *args, softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R, max_seqlen=ctx)
                try:
                    r = _time(timer, fn, ceil, B, ctx, heads, impl=name, layout=layout)
                except Exception as exc:  # out of memory or resources: recorded, not fatal
                    rows.append(dict(impl=name, layout=layout, B=B, ctx=ctx, heads=heads,
                                     error=f"{type(exc).__name__}: {str(exc)[:200]}"))
                    log(f"H={heads} B={B} ctx={ctx} {layout} {name}: {rows[-1]['error']}")
                    continue
                rows.append(r)
                log(f"H={heads:3d} B={B:3d} ctx={ctx:5d} {layout:10s} {name:12s} {r['ms']:.4f} ms "
                    f"{r['tflops']:4.0f} TF/s {r['gbps']:5.0f} GB/s x{r['ratio_to_floor']:.2f}")
        del q, kv, pool, table
        torch.cuda.empty_cache()
    return rows


def summary(rows) -> list[str]:
    out = []
    keyed = {}
    for r in rows:
        if "ms" in r:
            keyed.setdefault((r["heads"], r["layout"], r["impl"]), []).append(r)
    for (h, layout, impl), rs in sorted(keyed.items()):
        base = {(x["B"], x["ctx"]): x["ms"] for x in keyed.get((h, layout, "triton"), [])}
        rel = [r["ms"] / base[(r["B"], r["ctx"])] for r in rs if (r["B"], r["ctx"]) in base]
        geo = statistics.geometric_mean(rel) if rel else float("nan")
        ratios = [r["ratio_to_floor"] for r in rs]
        out.append(f"H={h} {layout:10s} {impl:12s} x floor {min(ratios):.2f}-{max(ratios):.2f}, "
                   f"time vs triton {geo:.3f} (geomean of {len(rel)})")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--check-only", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.check_only:  # worker
        try:
            res = check_variant(a.check_only)
        except Exception as exc:
            res = dict(ok=False, error=f"{type(exc).__name__}: {str(exc)[:1500]}")
        print("RESULT " + json.dumps(res), flush=True)
        return 0 if res["ok"] else 1

    os.makedirs(a.out, exist_ok=True)
    t_start = time.perf_counter()
    procs = {}
    logdir = tempfile.mkdtemp(prefix="tune_gluon_")
    for n in VARIANTS:
        f = open(os.path.join(logdir, n + ".log"), "w+")
        procs[n] = (subprocess.Popen([sys.executable, __file__, "--out", a.out,
                                      "--check-only", n], stdout=f, stderr=subprocess.STDOUT, text=True), f)
    checks = {}
    for n, (pr, f) in procs.items():
        try:
            pr.wait(timeout=max(1.0, 120 - (time.perf_counter() - t_start)))
        except subprocess.TimeoutExpired:
            pr.kill()
            pr.wait()
        f.seek(0)
        text = f.read()
        f.close()
        res = next((json.loads(line[7:]) for line in text.splitlines() if line.startswith("RESULT ")), None)
        checks[n] = res or dict(ok=False, error=f"worker rc {pr.returncode}: {text[-1500:]}")
        checks[n]["rc"] = pr.returncode
        print(f"check {n}: ok={checks[n]['ok']} " + " ".join(f"{k}={v:.1e}" for k, v in checks[n].get("errs", {}).items())
              + (f" ERROR {checks[n]['error'][-700:]}" if "error" in checks[n] else ""), flush=True)
    print(f"checks done at {time.perf_counter() - t_start:.0f} s", flush=True)

    lines: list[str] = []

    def log(s):
        lines.append(s)
        print(s, flush=True)

    dev = torch.device("cuda")
    result = dict(**run_meta(dev, "python bench/tune_gluon.py --out $OUT"),
                  variants={k: dict(zip(("block_n", "num_stages", "overlap", "seesaw"), v)) for k, v in VARIANTS.items()},
                  checks=checks)
    out_path = os.path.join(a.out, "tune_gluon.json")

    def save():
        write_result(out_path, result, t_start)

    timer = make_timer()
    result["ceilings"] = ceil = measure_ceilings(log, flusher=timer.keywords["flusher"])
    impls = {"triton": mla_decode_triton}
    impls.update({n: _gluon(c) for n, c in VARIANTS.items() if checks[n]["ok"]})
    big = [(B, ctx) for ctx in (1024, 4096, 16384, 65536) for B in (32, 64, 128)]  # issue 5's 128-head points
    rows = []
    rows += time_points(timer, ceil, dev, impls, big, 128, ("contiguous", "paged64"), t_start, log)
    result["rows"] = rows
    save()
    rows += time_points(timer, ceil, dev, impls, big, 64, ("contiguous",), t_start, log)
    save()
    small = [(B, ctx) for B in (1, 8) for ctx in (16384, 65536)]
    rows += time_points(timer, ceil, dev, impls, small, 128, ("contiguous",), t_start, log)
    result["summary"] = summary(rows)
    for s in result["summary"]:
        log(s)
    result["log"] = lines
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
