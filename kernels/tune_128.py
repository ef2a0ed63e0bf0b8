"""One device call for the 128-head follow-up: variants of the Triton MLA decode kernel, the split rule, an outlier.

    python -m mlacalc.kernels.tune_128 --out DIR        (< 4.5 minutes on an H100; writes DIR/tune_128.json)
    python -m mlacalc.kernels.tune_128 --follow2 --out DIR   (< 3 minutes: only VARIANTS2, the Hopper-feature
        variants vs the current default, contiguous 128 heads; writes DIR/tune_128_follow2.json)

1. Outlier first (B=1 x 1k x 128 heads paged took 0.611 ms in call 2; B=8 x 4k x 16 paged 0.607 ms): the same
   point timed three times with bench.Timer after an explicit warm-up, the JIT cache size before/after the timed
   region (a recompile inside timing would show), and the host time of one wrapper call.
2. Correctness of every variant on the GPU: fresh random inputs, NaN-poisoned output, 128 heads, mixed lengths
   (4097, 65, 1, 64) paged + contiguous, and a forced single split; rel err vs the float64 reference < 1e-2.
3. 128 heads, B in {32, 64, 128} x ctx in {4k, 16k}, contiguous, every correct variant; paged64 for the base and
   the best variant (geomean of contiguous times).
4. 16 heads, B in {1, 8} x ctx in {16k, 64k}: the bytes-based split rule (now in choose_num_splits) vs the old rule
   (copied below), contiguous and paged64.
A short table is printed last. Counting and floor as in bench.py (ceilings measured in this run).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from dataclasses import asdict

import torch
import triton

from .bench import MLA_R, MLA_SCALE, Timer, measure_ceilings, run_meta, write_result
from .testing import make_mla_case, rel_error, run_mla_case
from .triton_mla_decode import MLADecodeConfig, _mla_decode_kernel, _mla_decode_splitv_kernel, mla_decode_triton

D = 576
VARIANTS = {
    "base": MLADecodeConfig(block_h=64, block_n=64, num_warps=8, num_stages=2),  # current default (rows >= 64)
    "base_n32s3": MLADecodeConfig(block_h=64, block_n=32, num_warps=8, num_stages=3),
    "sv2_h128_n32": MLADecodeConfig(block_h=128, block_n=32, num_warps=8, num_stages=2, split_v=2),
    "sv2_h128_n16": MLADecodeConfig(block_h=128, block_n=16, num_warps=8, num_stages=3, split_v=2),
    "sv2_h128_n64s1": MLADecodeConfig(block_h=128, block_n=64, num_warps=8, num_stages=1, split_v=2),
    "sv2_h64_n32_w4": MLADecodeConfig(block_h=64, block_n=32, num_warps=4, num_stages=3, split_v=2),
    "base_n128s1": MLADecodeConfig(block_h=64, block_n=128, num_warps=8, num_stages=1),  # st's control
    "st_h64_n128": MLADecodeConfig(block_h=64, block_n=128, num_warps=8, num_stages=1, trans_s=True),
    "st_sv2_h64_n64_w4": MLADecodeConfig(block_h=64, block_n=64, num_warps=4, num_stages=2, split_v=2, trans_s=True),
    # one-stage tiles with an L2 prefetch of the next tile
    "sv2_h128_n64s1_pf": MLADecodeConfig(block_h=128, block_n=64, num_warps=8, num_stages=1, split_v=2,
                                         prefetch_l2=True),
    "st_h64_n128_pf": MLADecodeConfig(block_h=64, block_n=128, num_warps=8, num_stages=1, trans_s=True,
                                      prefetch_l2=True),
}
# --follow2: Hopper load/compute overlap (kernels/NOTES.md, "Follow-up 2"), contiguous 128 heads only. "default" is
# what default_mla_config picks for 128 rows (sv2_h128_n64s1_pf above); the others add TMA descriptors (tma) and/or
# tl.range software pipelining of the KV loop (loop_stages). warp_specialize is not here: on sm_90 Triton 3.6
# ignores it at 8 warps and its Hopper pass aborts (WSLowerToken assertion) at 4 warps (compiled on CPU).
VARIANTS2 = {
    "default": MLADecodeConfig(block_h=128, block_n=64, num_warps=8, num_stages=1, split_v=2, prefetch_l2=True),
    "tma_n64s1_pf": MLADecodeConfig(block_h=128, block_n=64, num_warps=8, num_stages=1, split_v=2, prefetch_l2=True,
                                    tma=True),
    "tma_n64s1": MLADecodeConfig(block_h=128, block_n=64, num_warps=8, num_stages=1, split_v=2, tma=True),
    "ls_n32s2": MLADecodeConfig(block_h=128, block_n=32, num_warps=8, num_stages=2, split_v=2, loop_stages=2),
    "tma_n32s2": MLADecodeConfig(block_h=128, block_n=32, num_warps=8, num_stages=2, split_v=2, loop_stages=2,
                                 tma=True),
    "tma_n32s2_pf": MLADecodeConfig(block_h=128, block_n=32, num_warps=8, num_stages=2, split_v=2, loop_stages=2,
                                    tma=True, prefetch_l2=True),
    "tma_h64_n32_w4s3": MLADecodeConfig(block_h=64, block_n=32, num_warps=4, num_stages=3, split_v=2, loop_stages=3,
                                        tma=True),
    "tma_h64_n64_w4s2": MLADecodeConfig(block_h=64, block_n=64, num_warps=4, num_stages=2, split_v=2, loop_stages=2,
                                        tma=True),
    "tma_h64_n32_w4s4": MLADecodeConfig(block_h=64, block_n=32, num_warps=4, num_stages=4, split_v=2, loop_stages=4,
                                        tma=True),
    # ~110 KB of shared memory: two programs per SM, whose loads and dots overlap each other (216 regs x 128 threads)
    "tma_h64_n16_w4s2_2cta": MLADecodeConfig(block_h=64, block_n=16, num_warps=4, num_stages=2, split_v=2,
                                             loop_stages=2, tma=True, programs_per_sm=2),
    "tma_h64_n32_w4s1_pf_2cta": MLADecodeConfig(block_h=64, block_n=32, num_warps=4, num_stages=1, split_v=2,
                                                loop_stages=1, tma=True, prefetch_l2=True, programs_per_sm=2),
}
BUDGET_S = 230.0  # stop starting new sections past this (the call's limit is 300 s, pip + imports included)


def old_num_splits(work_items, max_len, *, sms, programs_per_sm=1, min_tokens=256, max_splits=64):
    """choose_num_splits before commit 0e41c6b (fixed 0.01 * s overhead term), for the A/B in section 4."""
    slots = sms * programs_per_sm
    limit = max(1, min(max_splits, max_len // max(min_tokens, 1)))
    best, best_cost = 1, math.inf
    for s in range(1, limit + 1):
        waves = -(-work_items * s // slots)
        cost = waves / s + 0.01 * s
        if cost < best_cost - 1e-9:
            best, best_cost = s, cost
    return best


def _cache_entries() -> int:
    n = 0
    for k in (_mla_decode_kernel, _mla_decode_splitv_kernel):
        caches = getattr(k, "device_caches", None) or {}
        for v in caches.values():
            n += len(v[0]) if isinstance(v, tuple) else len(v)
        n += len(getattr(k, "cache", {}) or {})
    return n


def _inputs(B, ctx, H, dev):
    kv = torch.randn(B, ctx, D, device=dev, dtype=torch.bfloat16)
    pool = kv.view(B * ctx // 64, 64, D)
    table = torch.randperm(B * ctx // 64, device=dev).view(B, ctx // 64).to(torch.int32)
    lens = torch.full((B,), ctx, dtype=torch.int32, device=dev)
    q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
    return q, kv, pool, table, lens


def _metrics(B, ctx, H, ms, ceil):
    nbytes = B * ctx * D * 2 + B * H * (D + MLA_R) * 2
    flops = 2 * B * H * ctx * (D + MLA_R)
    floor = max(nbytes / (ceil["copy_gbps"] * 1e9), flops / (ceil["matmul_tflops"] * 1e12))
    return dict(gbps=nbytes / (ms * 1e-3) / 1e9, tflops=flops / (ms * 1e-3) / 1e12, floor_ms=floor * 1e3,
                ratio_to_floor=ms * 1e-3 / floor)


def outlier(timer, ceil, dev, log) -> list[dict]:
    rows = []
    for B, ctx, H in ((1, 1024, 128), (8, 4096, 16)):
        q, kv, pool, table, lens = _inputs(B, ctx, H, dev)
        for layout, args in (("paged64", (pool, lens, table)), ("contiguous", (kv, lens, None))):
            fn = lambda: mla_decode_triton(q, *args, softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R, max_seqlen=ctx)
            n0 = _cache_entries()
            torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            first_ms = (time.perf_counter() - t) * 1e3
            for _ in range(5):  # explicit warm-up
                fn()
            torch.cuda.synchronize()
            n1 = _cache_entries()
            t = time.perf_counter()
            for _ in range(50):
                fn()
            host_us = (time.perf_counter() - t) / 50 * 1e6  # host time per call (the GPU runs behind it)
            torch.cuda.synchronize()
            timed = [timer(fn) for _ in range(3)]
            n2 = _cache_entries()
            r = dict(B=B, ctx=ctx, heads=H, layout=layout, first_call_ms=first_ms, host_us_per_call=host_us,
                     jit_entries=[n0, n1, n2], ms=[x["ms"] for x in timed], ms_min=[x["ms_min"] for x in timed],
                     ms_max=[x["ms_max"] for x in timed], reps=[x["reps"] for x in timed],
                     gap_ms=[x["gap_ms"] for x in timed], gap_ms_max=[x["gap_ms_max"] for x in timed])
            rows.append(r)
            log(f"outlier B={B} ctx={ctx} H={H} {layout}: first call {first_ms:.1f} ms, host {host_us:.0f} us/call, "
                f"jit entries {n0}->{n1}->{n2}, timed medians {' '.join(f'{x:.4f}' for x in r['ms'])} ms "
                f"(max {' '.join(f'{x:.3f}' for x in r['ms_max'])}; gap between reps "
                f"{' '.join(f'{x:.3f}' for x in r['gap_ms'])} ms, max {' '.join(f'{x:.3f}' for x in r['gap_ms_max'])})")
        del q, kv, pool, table
    return rows


def check_variants(log, variants=None) -> dict:
    res = {}
    for name, cfg in (variants or VARIANTS).items():
        t = time.perf_counter()
        errs = {}
        try:
            for label, kw, extra in (
                ("paged_mixed", dict(paged=True), {}),
                ("contig_mixed", dict(paged=False), {}),
                ("contig_single_split", dict(paged=False), dict(num_splits=1)),
            ):
                case = make_mla_case([4097, 65, 1, 64], heads=128, device="cuda", **kw)
                if not kw["paged"]:  # NaN past each length: a read the masks / TMA bounds should skip shows up
                    for b, n in enumerate(case.cache_seqlens.tolist()):
                        case.kv_cache[b, n:] = float("nan")
                errs[label] = rel_error(run_mla_case(mla_decode_triton, case, config=cfg, **extra), case.ref)
            ok = all(e < 1e-2 for e in errs.values())  # NaN fails
            res[name] = dict(ok=ok, errs=errs, s=time.perf_counter() - t)
        except Exception as exc:  # out of resources, compile failure
            res[name] = dict(ok=False, errs=errs, error=f"{type(exc).__name__}: {str(exc)[:300]}",
                             s=time.perf_counter() - t)
        log(f"check {name}: ok={res[name]['ok']} " + " ".join(f"{k}={v:.1e}" for k, v in errs.items())
            + (f" ERROR {res[name].get('error')}" if "error" in res[name] else "") + f" ({res[name]['s']:.0f} s)")
    return res


def time_128(timer, ceil, dev, names, t_start, log, variants=None) -> list[dict]:
    variants = variants or VARIANTS
    rows = []
    points = [(B, ctx) for ctx in (4096, 16384) for B in (32, 64, 128)]
    for B, ctx in points:
        if time.perf_counter() - t_start > BUDGET_S:
            log("budget reached: skipping the rest of section 3")
            break
        q, kv, pool, table, lens = _inputs(B, ctx, 128, dev)
        for name in names:
            cfg = variants[name]
            fn = lambda: mla_decode_triton(q, kv, lens, None, softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R,
                                           max_seqlen=ctx, config=cfg)
            t = timer(fn)
            r = dict(section="h128", variant=name, B=B, ctx=ctx, heads=128, layout="contiguous", ms=t["ms"],
                     ms_min=t["ms_min"], ms_max=t["ms_max"], reps=t["reps"], gap_ms=t["gap_ms"],
                     **_metrics(B, ctx, 128, t["ms"], ceil))
            rows.append(r)
            log(f"h128 B={B} ctx={ctx} {name:24s} contiguous {t['ms']:.4f} ms {r['tflops']:.0f} TF/s "
                f"x{r['ratio_to_floor']:.2f}")
        del q, kv, pool, table
        torch.cuda.empty_cache()
    return rows


def time_128_paged(timer, ceil, dev, names, t_start, log) -> list[dict]:
    rows = []
    for B, ctx in [(B, ctx) for ctx in (4096, 16384) for B in (32, 64, 128)]:
        if time.perf_counter() - t_start > BUDGET_S:
            log("budget reached: skipping the rest of the paged timings")
            break
        q, kv, pool, table, lens = _inputs(B, ctx, 128, dev)
        for name in names:
            cfg = VARIANTS[name]
            fn = lambda: mla_decode_triton(q, pool, lens, table, softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R,
                                           max_seqlen=ctx, config=cfg)
            t = timer(fn)
            r = dict(section="h128", variant=name, B=B, ctx=ctx, heads=128, layout="paged64", ms=t["ms"],
                     ms_min=t["ms_min"], ms_max=t["ms_max"], reps=t["reps"], gap_ms=t["gap_ms"],
                     **_metrics(B, ctx, 128, t["ms"], ceil))
            rows.append(r)
            log(f"h128 B={B} ctx={ctx} {name:15s} paged64    {t['ms']:.4f} ms {r['tflops']:.0f} TF/s "
                f"x{r['ratio_to_floor']:.2f}")
        del q, kv, pool, table
        torch.cuda.empty_cache()
    return rows


def time_splits(timer, ceil, dev, t_start, log) -> list[dict]:
    from .triton_mla_decode import default_mla_config
    from .triton_split_kv import choose_num_splits

    rows = []
    sms = torch.cuda.get_device_properties(dev).multi_processor_count
    H = 16
    cfg = default_mla_config(H, dev)
    for B in (1, 8):
        for ctx in (16384, 65536):
            if time.perf_counter() - t_start > BUDGET_S:
                log("budget reached: skipping the rest of section 4")
                return rows
            q, kv, pool, table, lens = _inputs(B, ctx, H, dev)
            work = B * triton.cdiv(H, cfg.block_h)
            new = choose_num_splits(work, ctx, sms=sms, programs_per_sm=cfg.programs_per_sm,
                                    min_tokens=cfg.min_tokens_per_split, token_bytes=D * 2,
                                    partial_bytes_per_split=B * H * MLA_R * 8)
            old = old_num_splits(work, ctx, sms=sms, programs_per_sm=cfg.programs_per_sm,
                                 min_tokens=cfg.min_tokens_per_split)
            for layout, args in (("contiguous", (kv, lens, None)), ("paged64", (pool, lens, table))):
                for rule, ns in (("old", old), ("new", new)):
                    fn = lambda: mla_decode_triton(q, *args, softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R,
                                                   max_seqlen=ctx, num_splits=ns)
                    t = timer(fn)
                    r = dict(section="splits", rule=rule, num_splits=ns, B=B, ctx=ctx, heads=H, layout=layout,
                             ms=t["ms"], ms_min=t["ms_min"], ms_max=t["ms_max"], reps=t["reps"], gap_ms=t["gap_ms"],
                             **_metrics(B, ctx, H, t["ms"], ceil))
                    rows.append(r)
                    log(f"splits B={B} ctx={ctx} H=16 {layout} {rule} rule ({ns} splits): {t['ms']:.4f} ms "
                        f"{r['gbps']:.0f} GB/s x{r['ratio_to_floor']:.2f}")
            del q, kv, pool, table
            torch.cuda.empty_cache()
    return rows


def follow2(a) -> int:
    """Hopper-feature variants vs the current default: precompile + GPU check in one worker per variant (a compiler
    abort or a CUDA fault ends only that worker), then the check again here and the 6 contiguous 128-head points."""
    import subprocess
    import sys
    import tempfile

    global BUDGET_S
    BUDGET_S = 170.0  # the call's limit is 240 s, pip included: points past this are skipped, not lost
    os.makedirs(a.out, exist_ok=True)
    t_start = time.perf_counter()
    logdir = tempfile.mkdtemp(prefix="tune128f2_")
    procs = {}
    for n in VARIANTS2:
        f = open(os.path.join(logdir, n + ".log"), "w+")
        procs[n] = (subprocess.Popen([sys.executable, "-m", "mlacalc.kernels.tune_128", "--out", a.out, "--follow2",
                                      "--check-only", n], stdout=f, stderr=subprocess.STDOUT, text=True), f)
    precompile = {}
    for n, (pr, f) in procs.items():
        try:
            pr.wait(timeout=max(1.0, 100 - (time.perf_counter() - t_start)))
        except subprocess.TimeoutExpired:
            pr.kill()
            pr.wait()
        f.seek(0)
        precompile[n] = dict(rc=pr.returncode, tail=f.read()[-600:])
        f.close()
    print(f"precompile+check workers: {time.perf_counter() - t_start:.0f} s, rc " +
          " ".join(f"{n}={v['rc']}" for n, v in precompile.items()), flush=True)
    lines: list[str] = []

    def log(s):
        lines.append(s)
        print(s, flush=True)

    dev = torch.device("cuda")
    result = dict(**run_meta(dev, "python -m mlacalc.kernels.tune_128 --follow2 --out $OUT"),
                  variants={k: asdict(v) for k, v in VARIANTS2.items()}, precompile=precompile)
    out_path = os.path.join(a.out, "tune_128_follow2.json")

    def save():
        write_result(out_path, result, t_start)

    for n, v in precompile.items():
        if v["rc"] != 0:
            log(f"worker for {n} failed (rc {v['rc']}): {v['tail'][-400:]!r}")
    timer = Timer(dev)
    result["ceilings"] = ceil = measure_ceilings(timer, dev, log)
    run_v = {n: c for n, c in VARIANTS2.items() if precompile[n]["rc"] == 0}
    result["checks"] = check_variants(log, run_v)
    for n in VARIANTS2:
        result["checks"].setdefault(n, dict(ok=False, errs={}, error="worker failed", worker=precompile[n]))
    save()
    ok_names = [n for n, c in result["checks"].items() if c["ok"]]
    if "default" not in ok_names:
        log("the default failed its check: nothing timed")
        save()
        return 1
    result["h128"] = time_128(timer, ceil, dev, ok_names, t_start, log, variants=VARIANTS2)
    save()
    base = {(r["B"], r["ctx"]): r["ms"] for r in result["h128"] if r["variant"] == "default"}
    gm, wins = {}, {}
    for n in ok_names:
        pairs = [(r["ms"], base[(r["B"], r["ctx"])]) for r in result["h128"]
                 if r["variant"] == n and (r["B"], r["ctx"]) in base]
        if pairs and len(pairs) == len(base):
            gm[n] = math.exp(statistics.mean(math.log(x / y) for x, y in pairs))
            wins[n] = sum(x < y for x, y in pairs)
    result["geomean_time_vs_default"] = gm
    result["points_faster_than_default"] = wins
    save()
    print("\n=== 128 heads, contiguous bf16, s_q = 1: ms (x floor); geomean time vs default; points faster ===")
    pts = sorted({(r["ctx"], r["B"]) for r in result["h128"]})
    print(f"{'variant':26s} " + " ".join(f"{f'{B}x{ctx // 1024}k':>16s}" for ctx, B in pts) + "  geomean  wins  TF/s")
    for n in ok_names:
        cells, tf = [], []
        for ctx, B in pts:
            r = next((r for r in result["h128"] if (r["B"], r["ctx"], r["variant"]) == (B, ctx, n)), None)
            cells.append(f"{r['ms']:.4f} (x{r['ratio_to_floor']:.2f})" if r else "-")
            if r:
                tf.append(r["tflops"])
        print(f"{n:26s} " + " ".join(f"{c:>16s}" for c in cells) +
              f"  {gm.get(n, float('nan')):.3f}  {wins.get(n, 0)}/{len(base)}  {max(tf) if tf else 0:.0f}")
    print("checks: " + " ".join(f"{n}={'ok' if c['ok'] else 'FAIL'}" for n, c in result["checks"].items()))
    print(f"wall {time.perf_counter() - t_start:.0f} s")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--check-only", help="worker mode: check one variant (fills Triton's on-disk cache) and exit")
    ap.add_argument("--no-precompile", action="store_true")
    ap.add_argument("--follow2", action="store_true",
                    help="only the Hopper-feature variants (VARIANTS2) vs the current default, contiguous 128 heads "
                         "(writes DIR/tune_128_follow2.json; < 3 minutes)")
    a = ap.parse_args(argv)
    if a.check_only:
        global VARIANTS
        VARIANTS = {a.check_only: (VARIANTS2 if a.follow2 else VARIANTS)[a.check_only]}
        res = check_variants(lambda s: print(s, flush=True))
        return 0 if res[a.check_only]["ok"] else 1
    if a.follow2:
        return follow2(a)
    os.makedirs(a.out, exist_ok=True)
    t_start = time.perf_counter()
    precompile = None
    gpu_tests = None
    if not a.no_precompile:
        # Each variant compiles 3 specialisations (~4 s each, single-threaded): one worker process per variant fills
        # the on-disk Triton cache in parallel before anything is timed (no GPU work overlaps the timings).
        import subprocess
        import sys

        import tempfile

        logdir = tempfile.mkdtemp(prefix="tune128_")  # logs in files: a full pipe would block a worker

        def spawn(args, name):
            f = open(os.path.join(logdir, name + ".log"), "w+")
            return subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, text=True), f

        def finish(pr_f):
            pr, f = pr_f
            try:
                pr.wait(timeout=max(1.0, 150 - (time.perf_counter() - t_start)))
            except subprocess.TimeoutExpired:
                pr.kill()
                pr.wait()
            f.seek(0)
            text = f.read()
            f.close()
            return pr.returncode, text

        procs = {n: spawn([sys.executable, "-m", "mlacalc.kernels.tune_128", "--out", a.out, "--check-only", n], n)
                 for n in VARIANTS}
        # the GPU tests of the variants (fp8, s_q = 2, single split) in parallel too, one process per variant
        tests = {}
        if os.path.exists("tests/test_kernels_gpu.py"):
            for mode in ("paged", "contiguous_single_split", "mtp_causal", "fp8"):
                tests[mode] = spawn(
                    [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                     "tests/test_kernels_gpu.py", "-k", f"variants and {mode}"], "pytest_" + mode)
        precompile = {}
        for n, pr_f in procs.items():
            rc, outp = finish(pr_f)
            precompile[n] = dict(rc=rc, tail=outp[-400:])
        print(f"precompile: {time.perf_counter() - t_start:.0f} s, rc " +
              " ".join(f"{n}={v['rc']}" for n, v in precompile.items()), flush=True)
        gpu_tests = {}
        for mode, pr_f in tests.items():
            rc, outp = finish(pr_f)
            gpu_tests[mode] = dict(rc=rc, summary=(outp.strip().splitlines() or [""])[-1])
            with open(os.path.join(a.out, "pytest_variants.txt"), "a") as f:
                f.write(f"=== {mode} (rc {rc})\n{outp[-20000:]}\n")
        print(f"variant GPU tests: {time.perf_counter() - t_start:.0f} s, " +
              "; ".join(f"{m}: rc {v['rc']} {v['summary']}" for m, v in gpu_tests.items()), flush=True)
    lines: list[str] = []

    def log(s):
        lines.append(s)
        print(s, flush=True)

    dev = torch.device("cuda")
    result = dict(**run_meta(dev, "python -m mlacalc.kernels.tune_128 --out $OUT"),
                  variants={k: asdict(v) for k, v in VARIANTS.items()},
                  precompile=precompile, gpu_tests=gpu_tests)
    out_path = os.path.join(a.out, "tune_128.json")

    def save():
        write_result(out_path, result, t_start)

    timer = Timer(dev)
    result["ceilings"] = ceil = measure_ceilings(timer, dev, log)
    result["outlier"] = outlier(timer, ceil, dev, log)
    save()
    if precompile:  # a variant whose worker failed (wrong, out of resources, a fault) is not run again here:
        # a CUDA fault would end this process too
        bad = {n: v for n, v in precompile.items() if v["rc"] != 0}
        for n in bad:
            log(f"worker for {n} failed (rc {bad[n]['rc']}): {bad[n]['tail'][-300:]!r}")
        VARIANTS_RUN = {n: c for n, c in VARIANTS.items() if n not in bad}
    else:
        VARIANTS_RUN = dict(VARIANTS)
    result["checks"] = check_variants(log, VARIANTS_RUN)
    for n in VARIANTS:
        if n not in result["checks"]:
            result["checks"][n] = dict(ok=False, errs={}, error="worker failed", worker=precompile[n])
    save()
    ok_names = [n for n, c in result["checks"].items() if c["ok"]]
    result["h128"] = time_128(timer, ceil, dev, ok_names, t_start, log)
    save()
    gm = {}
    for n in ok_names:
        ts = [r["ms"] for r in result["h128"] if r["variant"] == n]
        base = [r["ms"] for r in result["h128"] if r["variant"] == "base"]
        if ts and len(ts) == len(base):
            gm[n] = math.exp(statistics.mean(math.log(x / y) for x, y in zip(ts, base)))
    result["geomean_time_vs_base"] = gm
    best = min(gm, key=gm.get) if gm else "base"
    result["best"] = best
    log("geomean time vs base (contiguous): " + " ".join(f"{k}={v:.3f}" for k, v in gm.items()) + f"; best {best}")
    paged_names = [n for n in dict.fromkeys(("base", best)) if n in ok_names]
    result["h128"] += time_128_paged(timer, ceil, dev, paged_names, t_start, log)
    save()
    result["splits"] = time_splits(timer, ceil, dev, t_start, log)
    save()

    # short table last
    print("\n=== 128 heads: ms (x floor), TFLOP/s; rows = variants ===")
    pts = sorted({(r["ctx"], r["B"]) for r in result["h128"]})
    for layout in ("contiguous", "paged64"):
        names = [n for n in VARIANTS if any(r["variant"] == n and r["layout"] == layout for r in result["h128"])]
        if not names:
            continue
        print(f"{layout:18s} " + " ".join(f"{f'{B}x{ctx // 1024}k':>16s}" for ctx, B in pts) + "  max TF/s")
        for n in names:
            cells, tf = [], []
            for ctx, B in pts:
                r = next((r for r in result["h128"] if (r["B"], r["ctx"], r["layout"], r["variant"]) ==
                          (B, ctx, layout, n)), None)
                cells.append(f"{r['ms']:.4f} (x{r['ratio_to_floor']:.2f})" if r else "-")
                if r:
                    tf.append(r["tflops"])
            print(f"{n:18s} " + " ".join(f"{c:>16s}" for c in cells) + f"  {max(tf) if tf else 0:.0f}")
    print("checks: " + " ".join(f"{n}={'ok' if c['ok'] else 'FAIL'}" for n, c in result["checks"].items()))
    if gpu_tests:
        print("variant GPU tests: " + "; ".join(f"{m}: {v['summary']}" for m, v in gpu_tests.items()))
    print("=== 16 heads, split rule (ms, splits) ===")
    for r in result["splits"]:
        print(f"B={r['B']} ctx={r['ctx']} {r['layout']:10s} {r['rule']}: {r['ms']:.4f} ms ({r['num_splits']} splits) "
              f"{r['gbps']:.0f} GB/s x{r['ratio_to_floor']:.2f}")
    print("=== outlier ===")
    for r in result["outlier"]:
        print(f"B={r['B']} ctx={r['ctx']} H={r['heads']} {r['layout']}: medians "
              f"{' '.join(f'{x:.4f}' for x in r['ms'])} ms, jit {r['jit_entries']}, host {r['host_us_per_call']:.0f} us"
              f"/call, gaps {' '.join(f'{x:.3f}' for x in r['gap_ms'])} ms")
    print(f"wall {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
