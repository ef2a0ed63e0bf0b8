"""Lab script (CPU): the expected-time model against measured sparse (DSA) decode rows, one layer's decode core,
graph-timed, top-k of a paged cache: a held-out check, nothing is fitted to them. Rows of `mlacalc bench kernels
--peers` (kind sparse_mla: auto, the Gluon sparse kernel on the H200) or of bench/ab_sparse_gluon.py (kind gluon, base:
the Gluon kernel; kind triton: the Triton sparse kernel, priced as the model prices it where the Gluon kernels do not
run: its own planner and tiles and its wait a tile, triton_gather_tile_us, whose first value was fitted to these
triton rows and the profiler's, so for them this is a fit's residual, not a held-out check).

    python bench/sparse_bench_vs_expected.py reports/h200/kernels.json reports/h200/h200.yaml
    python bench/sparse_bench_vs_expected.py reports/h200/tuning/ab_sparse_gluon_heads.json reports/h200/h200.yaml
"""

from __future__ import annotations

import json
import statistics
import sys

from mlacalc.expected import PLANNERS, DecodeShape, decode_attention_s
from mlacalc.hardware import load_hardware
from mlacalc.kernels.bench import MLA_DR, MLA_R
from mlacalc.kernels.cache import fp8_ds_row_bytes

ROW_BYTES = {"bf16": 2 * (MLA_R + MLA_DR), "fp8_ds": fp8_ds_row_bytes(MLA_R, MLA_DR)}
GLUON_KINDS = {"sparse_mla": True, "gluon": True, "base": True, "triton": False}


def main() -> None:
    bench, hw = json.load(open(sys.argv[1])), load_hardware(sys.argv[2])
    model = dict(hw.kernels)["auto"]
    errs: dict[str, list] = {}
    for r in bench["rows"]:
        if r.get("kind") not in GLUON_KINDS or "graph_ms" not in r:
            continue
        fmt = r.get("kv_dtype", r.get("cache"))
        shape = DecodeShape(seqs=r["B"], rows=r["heads"], kv_groups=1, keys=min(r["topk"], r["ctx"]),
                            key_bytes=ROW_BYTES[fmt], dkv=1088, out_dv=512, layers=1, key_elems=576,
                            tokens=1, gathered=True, slots=r["topk"])
        pred = decode_attention_s(shape, hw, model, hw.flops_per_s(16), PLANNERS["auto"], GLUON_KINDS[r["kind"]])
        meas = r["graph_ms"] * 1e-3
        err = (pred / meas - 1) * 100
        errs.setdefault(f"{r['kind']} {fmt}", []).append(err)
        print(f"{r['kind']:10s} batch {r['B']:4d} heads {r['heads']:4d} {fmt:7s} ctx {r['ctx']:6d} measured "
              f"{meas * 1e6:7.1f} us expected {pred * 1e6:7.1f} us {err:+6.1f}%")
    for k, e in errs.items():
        print(f"{k}: {len(e)} rows, error {min(e):+.0f}% to {max(e):+.0f}%, median {statistics.median(e):+.0f}%")


if __name__ == "__main__":
    main()
