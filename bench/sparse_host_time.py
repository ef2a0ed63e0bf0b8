"""Lab script (GPU): host time of sparse (DSA) decode's eager calls, with its value checks as they default on CUDA
(off) and with `check=True` (one host sync a call), beside the graph-timed device time: the figures of
reports/h100/tuning/session_bl_after.txt and of the sparse checks' default (docs/kernels-notes.md, twenty-seventh
session). Top-2048 of a 32k paged context, bf16 and fp8-ds rows, through `mla_decode(..., indices=...)`; times by
kernels/bench.eager_and_graph (L2 flushed; host_overhead_us = eager - graph).

    python3 bench/sparse_host_time.py --out OUT.json
"""

from __future__ import annotations

import torch

from common import dump_run, gpu_lab_args

from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph, sparse_inputs
from mlacalc.kernels.decode import mla_decode
from mlacalc.profiler.timing import L2Flusher

POINTS = [(8, 64), (64, 128)]  # (batch, heads)
TOPK, CTX = 2048, 32768


def main() -> int:
    a = gpu_lab_args(__doc__)
    if a is None:
        return 2
    rows, flusher, dev = [], L2Flusher(torch.cuda.current_device()), torch.device("cuda")
    print(f"{'B':>3} {'H':>4} {'cache':7} {'check':6} {'eager_ms':>9} {'graph_ms':>9} {'host_call_us':>12} "
          f"{'host_overhead_us':>16}")
    for B, H in POINTS:
        (kv, ds), table, lens, idx = sparse_inputs(B, CTX, TOPK, dev)
        q = torch.randn(B, 1, H, 576, device=dev, dtype=torch.bfloat16)
        for fmt, cache in (("bf16", kv), ("fp8_ds", ds)):
            for check in (None, True):
                r = eager_and_graph(lambda: mla_decode(q, cache, lens, table, indices=idx, softmax_scale=MLA_SCALE,
                                                       check=check), flusher)
                rows.append(dict(B=B, heads=H, cache=fmt, check=check, **r))
                graph = "-" if r["graph_ms"] is None else f"{r['graph_ms']:.4f}"
                over = "-" if r["host_overhead_us"] is None else f"{r['host_overhead_us']:.2f}"
                print(f"{B:>3} {H:>4} {fmt:7} {str(check):6} {r['eager_ms']:>9.4f} {graph:>9} "
                      f"{r['host_call_us']:>12.1f} {over:>16}")
    dump_run(a.out, rows, triton=__import__("triton").__version__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
