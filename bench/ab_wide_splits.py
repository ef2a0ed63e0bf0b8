"""Lab script (GPU): the Gluon kernel's 64-key tile with splits in whole pairs of tiles (kernels/gluon_mla_decode.
split_keys, the committed plan) against splits in single 64-key tiles (the plan before) and the 32-key tile, at 128
query rows over contexts whose splits come out an odd number of tiles, graph-timed with the L2 flushed, two rounds in
alternating order; then the expected-time model's calibration points that run the 64-key tile
(mlacalc.expected.gluon_wide_tile), measured as `mlacalc calibrate --kernels` measures them (their `calpoint` lines
on stdout; bench/calpoints_to_run.py turns them into a run for bench/merge_calibrations.py --from).

    python3 bench/ab_wide_splits.py --out OUT.json
"""

from __future__ import annotations

import json

import torch

from ab_seesaw import check, inputs
from common import gpu_lab_args, record

from mlacalc.kernels import gluon_mla_decode as gmd
from mlacalc.kernels import launch
from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph
from mlacalc.profiler.timing import L2Flusher

# (batch, context, heads, layout): 12 x 1536, 6 x 6144, 1 x 12288, 5 x 5120, 20 x 2048 and 5 x 20480 split into
# 5, 9, 5, 7, 11 and 25 tiles of 64 keys under the single-tile plan; the rest into even counts
POINTS = [(12, 1536, 128, "contiguous"), (6, 6144, 128, "contiguous"), (1, 12288, 128, "contiguous"),
          (12, 1536, 128, "paged64"), (3, 24576, 128, "contiguous"), (2, 3072, 128, "contiguous"),
          (8, 4096, 128, "contiguous"), (40, 3072, 128, "paged64"), (5, 5120, 128, "paged64"),
          (20, 2048, 128, "contiguous"), (5, 20480, 128, "contiguous")]
PAIRS = gmd.split_keys


def variant(name: str):
    """Set the plan of `name` (pair64, tile64, tile32); returns its config. Plans are cached per shape: dropped."""
    gmd.split_keys = PAIRS if name == "pair64" else (lambda config: config.block_n)
    launch._PLANS.clear()
    return gmd.GluonMLAConfig(block_n=32 if name == "tile32" else 64)


def main() -> int:
    a = gpu_lab_args(__doc__)
    if a is None:
        return 2
    flusher = L2Flusher(torch.cuda.current_device())
    rows = []
    names = ("pair64", "tile64", "tile32")
    for name in names:
        cfg = variant(name)
        err = check(cfg.block_n)
        rows.append(dict(kind="check", variant=name, rel_err=err))
        print("check", name, err, flush=True)
    for B, ctx, H, layout in POINTS:
        q, cache, lens, table, _ = inputs(B, ctx, H, layout)
        for rnd in range(2):
            for name in (names[::-1] if rnd % 2 else names):
                cfg = variant(name)
                t = eager_and_graph(lambda: gmd.mla_decode_gluon(q, cache, lens, table, softmax_scale=MLA_SCALE,
                                                                 max_seqlen=ctx, config=cfg), flusher)
                splits = next(iter(launch.plan_cache("mla_decode_gluon").values())).splits
                record(rows, kind="seesaw", variant=name, round=rnd, B=B, ctx=ctx, heads=H, layout=layout,
                       splits=splits, **t)
        q = cache = None
        torch.cuda.empty_cache()
    variant("pair64")
    with open(a.out, "w") as f:
        json.dump(dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, rows=rows), f, indent=1)
    # the calibration points on the 64-key tile, as calibrate measures them
    from mlacalc.expected import gluon_wide_tile
    from mlacalc.hardware import load_hardware
    from mlacalc.profiler.kernel_calibration import AUTO_EXTRA, DECODE_POINTS, measure_decode_points, point_shape

    hw = load_hardware("h200")
    wide = [p for p in DECODE_POINTS + AUTO_EXTRA if gluon_wide_tile(point_shape(dict(p, layers=4)), True)]
    print(f"{len(wide)} calibration points on the 64-key tile", flush=True)
    measure_decode_points("auto", wide, hw, flusher=flusher)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
