"""One device call for paged MLA decode (follow-up 3, paged pipelining): the paged kernel's tiles against the
contiguous kernel on the same tokens.

    python bench/tune_paged.py --out DIR        (< 4 minutes on an H100; writes DIR/kernels.paged.json)
    python bench/tune_paged.py --h32 --out DIR  (32 heads only: other tiles than the default's, paged
        and contiguous, same points; writes DIR/kernels.paged_h32.json)

Variants per head count (docs/kernels-notes.md, "Follow-up 3"): "new" is default_mla_config(paged=True) (each
iteration loads the next tile's block-table entries, so Triton pipelines the kv loads as for a contiguous cache; at
32 heads the 32/64/8/3 tile), "alt" another tile (16 and 32 heads only), "contig" the default on the contiguous cache
of the same tokens: the control every paged variant is compared with. (Follow-up 3's calls also timed "old", the
paged code before the lookahead; it lost and was removed, its numbers are in the notes and the committed JSON.)

1. Precompile: one worker process per (variant, heads) runs the checks below and one launch per timing
   specialisation (single and multi split), filling Triton's on-disk cache in parallel; a worker that fails (a
   compile error, a CUDA fault) takes only itself down, and its variant is not run here.
2. Correctness, in this process: fresh random bf16 inputs, NaN-poisoned outputs, lengths 1/63/64/65/4097 in one
   batch, blocks of 64 and of 16 in shuffled pool order (NaN in the padding rows of each last block), with and
   without a forced single split; contiguous with NaN past each length; rel err vs the float64 reference < 1e-2.
3. Timing (mlacalc.kernels.bench.make_timer: L2 flushed before each rep, reps queued behind a device sleep; median): heads 16/32/128 x
   B 8/32/64/128 x ctx 4k/16k/64k where the cache fits, new / alt on the paged cache (blocks of 64, shuffled)
   and contig; ms and x the floor, with the copy and matmul ceilings measured in this run.
A short table is printed last.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict

import torch

from common import mla_inputs, mla_metrics
from mlacalc.kernels.bench import MLA_R, MLA_SCALE, _fits, make_timer, run_meta, write_result
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.kernels.triton_mla_decode import MLADecodeConfig, default_mla_config, mla_decode_triton
from mlacalc.profiler.calibrate import measure_ceilings

HEADS = (16, 32, 128)
BATCHES = (8, 32, 64, 128)
CONTEXTS = (4096, 16384, 65536)
LENS = [1, 63, 64, 65, 4097]
BUDGET_S = 230.0  # no new timing point past this (the call's limit is 300 s, pip and imports included)
TARGET = dict(heads=(16, 32), min_tokens=256 * 1024)  # the target set: within 1.25x of the floor
ALT = {  # other tiles with the lookahead (compiled on CPU for sm_90: no spills)
    16: MLADecodeConfig(block_h=16, block_n=32, num_warps=4, num_stages=4),  # 3 kv buffers, 130 KB smem, 128 regs
    32: MLADecodeConfig(block_h=32, block_n=32, num_warps=4, num_stages=3),  # the contiguous default's tile
}


H32 = {  # --h32: tiles for 32 query rows once paged loads pipeline (compiled on CPU for sm_90: none spills)
    "d32x32w4s3": MLADecodeConfig(block_h=32, block_n=32, num_warps=4, num_stages=3),  # the default (control)
    "h16x2_n64w4s3": MLADecodeConfig(block_h=16, block_n=64, num_warps=4, num_stages=3),  # 2 head blocks, 128 regs
    "h32_n64w8s3": MLADecodeConfig(block_h=32, block_n=64, num_warps=8, num_stages=3),  # 188 KB, 169 regs
    "h32_n32w8s3": MLADecodeConfig(block_h=32, block_n=32, num_warps=8, num_stages=3),  # 113 KB, 163 regs
    "h64_n32w8s3": MLADecodeConfig(block_h=64, block_n=32, num_warps=8, num_stages=3),  # wgmma, rows padded, 222 regs
}
MODE = {"h32": False}


def variants(heads: int) -> dict[str, tuple[MLADecodeConfig, str]]:
    """name -> (config, layout) for one head count."""
    if MODE["h32"]:
        return {f"{n}_{lay[:6]}": (c, lay) for n, c in H32.items() for lay in ("paged", "contiguous")}
    contig = default_mla_config(heads, None)
    v = {"new": (default_mla_config(heads, None, paged=True), "paged")}
    if heads in ALT:
        v["alt"] = (ALT[heads], "paged")
    v["contig"] = (contig, "contiguous")
    return v


def check(name: str, heads: int, log) -> dict:
    """Correctness of one variant at one head count (the cases of section 2)."""
    cfg, layout = variants(heads)[name]
    t = time.perf_counter()
    errs = {}
    try:
        if layout == "paged":
            cases = [(f"paged{bs}{'_single_split' if single else ''}", dict(paged=True, block_size=bs),
                      dict(num_splits=1) if single else {}) for bs in (64, 16) for single in (False, True)]
        else:
            cases = [("contiguous", dict(paged=False), {}), ("contiguous_single_split", dict(paged=False),
                                                             dict(num_splits=1))]
        for label, kw, extra in cases:
            case = make_mla_case(LENS, heads=heads, device="cuda", **kw)
            if not kw["paged"]:
                for b, n in enumerate(case.cache_seqlens.tolist()):
                    case.kv_cache[b, n:] = float("nan")
            errs[label] = rel_error(run_mla_case(mla_decode_triton, case, config=cfg, **extra), case.ref)
        res = dict(ok=all(e < 1e-2 for e in errs.values()), errs=errs)  # NaN fails
    except Exception as exc:  # compile failure, out of resources
        res = dict(ok=False, errs=errs, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    res["s"] = time.perf_counter() - t
    log(f"check H={heads} {name}: ok={res['ok']} " + " ".join(f"{k}={v:.1e}" for k, v in errs.items())
        + (f" ERROR {res['error']}" if "error" in res else "") + f" ({res['s']:.0f} s)")
    return res


def warm(name: str, heads: int) -> None:
    """One launch per specialisation the timings use (num_splits 1 and > 1; block-table width a multiple of 16)."""
    cfg, layout = variants(heads)[name]
    q, kv, pool, table, lens = mla_inputs(2, 4096, heads, torch.device("cuda"))
    args = (pool, lens, table) if layout == "paged" else (kv, lens, None)
    for ns in (1, 4, None):
        mla_decode_triton(q, *args, softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R, max_seqlen=4096, config=cfg,
                          num_splits=ns)
    torch.cuda.synchronize()


def precompile(out: str, t_start: float) -> dict:
    logdir = tempfile.mkdtemp(prefix="tune_paged_")  # logs in files: a full pipe would block a worker
    procs = {}
    for heads in HEADS:
        for name in variants(heads):
            f = open(os.path.join(logdir, f"{name}_{heads}.log"), "w+")
            procs[(name, heads)] = (subprocess.Popen(
                [sys.executable, __file__, "--out", out, "--worker", f"{name}:{heads}"]
                + (["--h32"] if MODE["h32"] else []),
                stdout=f, stderr=subprocess.STDOUT, text=True), f)
    res = {}
    for (name, heads), (pr, f) in procs.items():
        try:
            pr.wait(timeout=max(1.0, 120 - (time.perf_counter() - t_start)))
        except subprocess.TimeoutExpired:
            pr.kill()
            pr.wait()
        f.seek(0)
        res[f"{name}:{heads}"] = dict(rc=pr.returncode, tail=f.read()[-600:])
        f.close()
    return res


def time_all(timer, ceil, dev, ok: set, t_start: float, log) -> list[dict]:
    rows = []
    for ctx in CONTEXTS:
        for B in BATCHES:
            if not _fits(B * ctx * 576 * 2 * 1.3, dev):
                log(f"skip B={B} ctx={ctx}: the cache does not fit")
                continue
            for heads in HEADS:
                if time.perf_counter() - t_start > BUDGET_S:
                    log("budget reached: the remaining points are not timed")
                    return rows
                q, kv, pool, table, lens = mla_inputs(B, ctx, heads, dev)
                for name, (cfg, layout) in variants(heads).items():
                    if (name, heads) not in ok:
                        continue
                    args = (pool, lens, table) if layout == "paged" else (kv, lens, None)
                    fn = lambda: mla_decode_triton(q, *args, softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R,
                                                   max_seqlen=ctx, config=cfg)
                    t = timer(fn)
                    r = dict(variant=name, layout="contiguous" if layout == "contiguous" else "paged64", B=B, ctx=ctx,
                             heads=heads, ms=t["ms"], ms_min=t["ms_min"], ms_max=t["ms_max"], reps=t["reps"],
                             gap_ms=t["gap_ms"], gap_ms_max=t["gap_ms_max"], **mla_metrics(B, ctx, heads, t["ms"], ceil))
                    rows.append(r)
                    log(f"H={heads:3d} B={B:3d} ctx={ctx // 1024:2d}k {name:6s} {t['ms']:.4f} ms {r['gbps']:5.0f} GB/s "
                        f"x{r['ratio_to_floor']:.2f} (gap {t['gap_ms']:.3f} ms)")
                del q, kv, pool, table
                torch.cuda.empty_cache()
    return rows


def summarise(rows: list[dict]) -> dict:
    """Per variant and head count: min / median / max of x floor, all points and the target set."""
    out = {}
    for heads in HEADS:
        for name in variants(heads):
            sel = [r for r in rows if r["heads"] == heads and r["variant"] == name]
            if not sel:
                continue
            tgt = [r["ratio_to_floor"] for r in sel if r["B"] * r["ctx"] >= TARGET["min_tokens"]]
            allr = [r["ratio_to_floor"] for r in sel]
            out[f"{name}:{heads}"] = dict(
                points=len(allr), min=min(allr), median=statistics.median(allr), max=max(allr),
                target_points=len(tgt), target_median=statistics.median(tgt) if tgt else None,
                target_max=max(tgt) if tgt else None,
                target_within_1_25=sum(x <= 1.25 for x in tgt))
    speed = {}
    for heads in HEADS:
        for name, (_, layout) in variants(heads).items():
            # against the contiguous cache, or with --h32 against the default tile on the same layout
            base = f"{next(iter(H32))}_{layout[:6]}" if MODE["h32"] else "contig"
            if name == base:
                continue
            pairs = [(r["ms"], o["ms"]) for r in rows if r["heads"] == heads and r["variant"] == name
                     for o in rows if o["variant"] == base and (o["heads"], o["B"], o["ctx"]) ==
                     (heads, r["B"], r["ctx"])]
            if pairs:
                speed[f"{name}:{heads}"] = dict(
                    geomean_time_vs_base=statistics.geometric_mean([a / b for a, b in pairs]),
                    faster_points=sum(a < b for a, b in pairs), points=len(pairs))
    return dict(x_floor=out, vs_base=speed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--worker", help="NAME:HEADS: check one variant and warm its timing specialisations, then exit")
    ap.add_argument("--no-precompile", action="store_true")
    ap.add_argument("--h32", action="store_true", help="32 heads: the H32 tiles, paged and contiguous")
    a = ap.parse_args(argv)
    if a.h32:
        global HEADS
        MODE["h32"], HEADS = True, (32,)
    if a.worker:
        name, heads = a.worker.split(":")
        res = check(name, int(heads), lambda s: print(s, flush=True))
        if res["ok"]:
            warm(name, int(heads))
        return 0 if res["ok"] else 1
    os.makedirs(a.out, exist_ok=True)
    t_start = time.perf_counter()
    pre = None if a.no_precompile else precompile(a.out, t_start)
    if pre:
        print(f"precompile workers: {time.perf_counter() - t_start:.0f} s, rc " +
              " ".join(f"{k}={v['rc']}" for k, v in pre.items()), flush=True)
    lines: list[str] = []

    def log(s):
        lines.append(s)
        print(s, flush=True)

    dev = torch.device("cuda")
    result = dict(**run_meta(dev, "python bench/tune_paged.py" + (" --h32" if a.h32 else "") + " --out $OUT"),
                  lens=LENS, target=TARGET,
                  variants={f"{n}:{h}": dict(asdict(c), layout=lay) for h in HEADS
                            for n, (c, lay) in variants(h).items()}, precompile=pre)
    out_path = os.path.join(a.out, "kernels.paged_h32.json" if a.h32 else "kernels.paged.json")

    def save():
        write_result(out_path, result, t_start)

    for k, v in (pre or {}).items():
        if v["rc"] != 0:
            log(f"worker {k} failed (rc {v['rc']}): {v['tail'][-400:]!r}")
    timer = make_timer()
    result["ceilings"] = ceil = measure_ceilings(log, flusher=timer.keywords["flusher"])
    checks = {}
    for heads in HEADS:
        for name in variants(heads):
            if pre and pre[f"{name}:{heads}"]["rc"] != 0:  # a CUDA fault would end this process too
                checks[f"{name}:{heads}"] = dict(ok=False, errs={}, error="worker failed")
                continue
            checks[f"{name}:{heads}"] = check(name, heads, log)
    result["checks"] = checks
    save()
    ok = {(k.split(":")[0], int(k.split(":")[1])) for k, v in checks.items() if v["ok"]}
    result["points"] = time_all(timer, ceil, dev, ok, t_start, log)
    result["summary"] = summarise(result["points"])
    result["log"] = lines
    save()

    print("\n=== paged64 (shuffled) vs contiguous, bf16, s_q = 1: x floor (ms) ===")
    pts = sorted({(r["heads"], r["ctx"], r["B"]) for r in result["points"]})
    names = sorted({r["variant"] for r in result["points"]}, key=list(variants(HEADS[0])).index)
    w = max([15] + [len(n) for n in names])
    print(f"{'H':>3s} {'B':>4s} {'ctx':>4s} " + " ".join(f"{n:>{w}s}" for n in names))
    for heads, ctx, B in pts:
        cells = []
        for n in names:
            r = next((r for r in result["points"] if (r["heads"], r["ctx"], r["B"], r["variant"]) ==
                      (heads, ctx, B, n)), None)
            cells.append(f"{r['ratio_to_floor']:.2f} ({r['ms']:.3f})" if r else "-")
        print(f"{heads:3d} {B:4d} {ctx // 1024:3d}k " + " ".join(f"{c:>{w}s}" for c in cells))
    print("x floor, target set (B x ctx >= 256k tokens): median / max / points within 1.25x")
    for k, v in result["summary"]["x_floor"].items():
        if v["target_points"]:
            print(f"  {k:22s} {v['target_median']:.2f} / {v['target_max']:.2f} / "
                  f"{v['target_within_1_25']}/{v['target_points']}   (all points {v['min']:.2f}-{v['max']:.2f})")
    print(f"time vs {'the default tile' if a.h32 else 'contiguous'} (geomean, points faster): " + "; ".join(
        f"{k} {v['geomean_time_vs_base']:.3f} {v['faster_points']}/{v['points']}"
        for k, v in result["summary"]["vs_base"].items()))
    print("checks: " + " ".join(f"{k}={'ok' if v['ok'] else 'FAIL'}" for k, v in checks.items()))
    print(f"wall {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
