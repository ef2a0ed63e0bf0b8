"""Lab script (GPU, sm_90): the chunked Gluon kernel (64-key tiles, one barrier a 64-column chunk:
kernels/gluon_mla_chunked.py) against the seesaw kernel as it runs by default (32-key tiles in four buffers) and
FlashMLA, on the same inputs (graph-timed, L2 flushed), over issue 14's grid at 64 and 128 heads.

    python3 bench/ab_chunked.py --check              # the float64 check only (a hang shows here: run it under timeout)
    python3 bench/ab_chunked.py --out OUT.json       # check, then time

Each variant is checked first on mixed lengths (1, 63, 64, 65, 1500, 4097; paged and contiguous with NaN past each
length; planned splits, 1 and 17); a failed check is recorded and that variant is not timed.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from ab_seesaw import inputs, time_flashmla
from common import record

from mlacalc.kernels import gluon_mla_decode as gmd
from mlacalc.kernels.bench import MLA_SCALE, _flash_mla, eager_and_graph
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.profiler.timing import L2Flusher

VARIANTS = {"seesaw32": gmd.GluonMLAConfig(), "chunked64": gmd.GluonMLAConfig(block_n=64, chunked=True)}
POINTS = [(B, ctx, H, layout) for H in (128, 64) for B in (8, 32, 128) for ctx in (4096, 32768)
          for layout in ("contiguous", "paged64")]


def check(cfg) -> float:
    """Worst relative error against the float64 reference over the check cases."""
    worst = 0.0
    for paged in (True, False):
        case = make_mla_case([4097, 1500, 64, 65, 63, 1], heads=128, device="cuda", paged=paged, seed=1)
        if not paged:
            for b, n in enumerate(case.cache_seqlens.tolist()):
                case.kv_cache[b, n:] = float("nan")
        for splits in (None, 1, 17):
            out = run_mla_case(gmd.mla_decode_gluon, case, config=cfg, num_splits=splits)
            worst = max(worst, rel_error(out, case.ref))
    case = make_mla_case([4097, 65, 2], heads=64, s_q=2, device="cuda", paged=True, seed=2)
    return max(worst, rel_error(run_mla_case(gmd.mla_decode_gluon, case, config=cfg), case.ref))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="the float64 check only")
    ap.add_argument("--out")
    a = ap.parse_args()
    if not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9:
        print("ab_chunked: needs an sm_90 GPU", file=sys.stderr)
        return 2
    if not a.check and not a.out:
        print("ab_chunked: --out FILE.json (or --check)", file=sys.stderr)
        return 2
    rows, ok = [], {}
    for name, cfg in VARIANTS.items():
        try:
            err = check(cfg)
        except Exception as e:  # noqa: BLE001 - a lab script records the failure and goes on
            err = f"{type(e).__name__}: {e}"[:300]
        ok[name] = isinstance(err, float) and err < 1e-2
        rows.append(dict(kind="check", variant=name, rel_err=err))
        print("check", name, err, flush=True)
    if a.check:
        return 0 if all(ok.values()) else 1
    flusher = L2Flusher(torch.cuda.current_device())
    fm = _flash_mla()
    for B, ctx, H, layout in POINTS:
        q, cache, lens, table, fm_table = inputs(B, ctx, H, layout)
        for name, cfg in VARIANTS.items():
            if ok[name]:
                t = eager_and_graph(lambda: gmd.mla_decode_gluon(q, cache, lens, table, softmax_scale=MLA_SCALE,
                                                                 max_seqlen=ctx, config=cfg), flusher)
                record(rows, kind="dense", variant=name, B=B, ctx=ctx, heads=H, layout=layout, **t)
        if fm is not None:
            record(rows, kind="dense", variant="flashmla", B=B, ctx=ctx, heads=H, layout=layout,
                   **time_flashmla(fm, q, cache, lens, table, fm_table, flusher))
        q = cache = None  # free them before the next point allocates its own
        torch.cuda.empty_cache()
    with open(a.out, "w") as f:
        json.dump(dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__,
                       triton=__import__("triton").__version__, rows=rows), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
