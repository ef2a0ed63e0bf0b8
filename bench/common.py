"""What the device scripts in bench/ share: where the repository's tests are, and the 128-head MLA inputs and
metrics of the tuning runs.

bench/ is not installed: the scripts import the installed package (`mlacalc.kernels`, `mlacalc.profiler`) and are
run by path from anywhere, e.g. `python bench/gpu_check.py --out DIR`. Timing and ceilings are the package's own
(`mlacalc.kernels.bench.make_timer`, `mlacalc.profiler.calibrate.measure_ceilings`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path

import torch

from mlacalc.kernels.bench import MLA_R, MLA_SCALE, eager_and_graph

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
D = 576  # absorbed MLA key: 512 latent + 64 RoPE dims


def gpu_lab_args(doc: str, add=None) -> argparse.Namespace | None:
    """A GPU lab script's arguments: ``--out`` (required) and what ``add(parser)`` adds, its description the first
    line of ``doc``; None, with one line on stderr, where no CUDA GPU is present (the script then exits 2)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--out", required=True)
    if add is not None:
        add(ap)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print(f"{Path(sys.argv[0]).stem}: needs a CUDA GPU", file=sys.stderr)
        return None
    return args


def mla_inputs(B, ctx, H, dev):
    """q [B, 1, H, 576] and a bf16 cache of ctx tokens per sequence, contiguous and as a paged view of the same memory
    (64-token blocks in shuffled pool order): (q, kv, pool, table, lens)."""
    kv = torch.randn(B, ctx, D, device=dev, dtype=torch.bfloat16)
    pool = kv.view(B * ctx // 64, 64, D)
    table = torch.randperm(B * ctx // 64, device=dev).view(B, ctx // 64).to(torch.int32)
    lens = torch.full((B,), ctx, dtype=torch.int32, device=dev)
    q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
    return q, kv, pool, table, lens


def mla_metrics(B, ctx, H, ms, ceil):
    """GB/s, TFLOP/s, floor and ratio to it of an MLA decode point, counted as kernels/bench.py counts them."""
    nbytes = B * ctx * D * 2 + B * H * (D + MLA_R) * 2
    flops = 2 * B * H * ctx * (D + MLA_R)
    floor = max(nbytes / (ceil["copy_gbps"] * 1e9), flops / (ceil["matmul_tflops"] * 1e12))
    return dict(gbps=nbytes / (ms * 1e-3) / 1e9, tflops=flops / (ms * 1e-3) / 1e12, floor_ms=floor * 1e3,
                ratio_to_floor=ms * 1e-3 / floor)


def record(rows: list, **row) -> None:
    """Append one result row of a lab script and print it as it lands (a cut run keeps what its log shows)."""
    rows.append(row)
    print(row, flush=True)


def time_flashmla_paged(fm, q, pool, table, lens, flusher) -> dict:
    """FlashMLA's dense decode over the same paged bf16 pool of 64-token blocks ([blocks, 64, 576]) and block table as
    ours, eager and graph-timed as ours are (kernels/bench.py's eager_and_graph); its scheduler metadata is built by
    the first call and reused, as engines do."""
    meta = fm.get_mla_metadata()[0]
    kc = pool.view(-1, pool.shape[1], 1, D)
    return eager_and_graph(lambda: fm.flash_mla_with_kvcache(q, kc, table, lens, MLA_R, meta,
                                                             softmax_scale=MLA_SCALE), flusher)


def alternating(names, rounds: int = 2):
    """(round, name) pairs of an A/B's timed calls: the variants in order, then reversed, round after round, so that
    a drift of the GPU's clocks over a run weighs on every variant alike (the scripts keep each variant's best)."""
    for rnd in range(rounds):
        for name in (names[::-1] if rnd % 2 else names):
            yield rnd, name


def dump_run(path: str, rows: list, **meta) -> None:
    """Write a lab run's rows as JSON with the GPU's name, the torch version and `meta` (e.g. the seed): after every
    row, so that a run cut by its time limit keeps what it measured."""
    with open(path, "w") as f:
        json.dump(dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, **meta, rows=rows), f, indent=1)


@contextlib.contextmanager
def lab_run(path: str, **meta):
    """The rows of a GPU lab run (a list to append to), written to `path` by :func:`dump_run` with the Triton version
    and `meta` when the block ends, however it ends: a device script's `timeout` sends SIGTERM, which exits 124
    after the write, so a cut run keeps what it measured."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    rows: list = []
    try:
        yield rows
    finally:
        dump_run(path, rows, triton=__import__("triton").__version__, **meta)


def check_variants(rows: list, names, check, tol: float = 2e-2) -> dict:
    """Each variant's check (``check(name)``: a dict of relative errors against the float64 reference) recorded as a
    row; returns {name: passed} (all errors under ``tol``). A check that raises is recorded and fails: a lab script
    goes on to time the variants that passed."""
    ok = {}
    for name in names:
        try:
            errs = check(name)
            ok[name] = max(errs.values()) < tol
        except Exception as e:  # noqa: BLE001 - a lab script records the failure and goes on
            errs, ok[name] = dict(error=f"{type(e).__name__}: {e}"[:400]), False
        record(rows, kind="check", variant=name, **errs)
    return ok
