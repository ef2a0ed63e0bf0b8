"""Lab script (GPU): measure every prefill calibration point (profiler.kernel_calibration.PREFILL_POINTS: head dims
64, 128, 256 and MLA's 192/128) through the calibration's own code (measure_prefill_points -> profile_point: SDPA,
2 layers, CUDA-graph timed, L2 flushed), so that `bench/fit_expected.py --sdpa` can fit the prefill model's
exponential share (mlacalc.expected.prefill_attention_s) beside its matmul rate.

    python bench/prefill_headdim.py --out DIR [--gpu SPEC] [--reps N]

Writes DIR/prefill_headdim.json after every point (a cut run keeps what it measured): {gpu, torch, versions, device
(NVML at start: clocks, power limit), boost_clock_ghz (NVML's maximum SM clock), spec (the hardware spec that priced
the predictions), points: [{model, batch, context, layers, measured_s, key, flops, exps, bytes, expected_s,
kernels}]}. About 30-60 s on an H200 (14 points of 0.2-5 ms, 20 repetitions each, plus CUDA-graph capture and one
torch.profiler pass a point for the kernel names, which say which SDPA backend ran).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from common import gpu_lab_args

OUT_NAME = "prefill_headdim.json"


def _spec(name: str | None, device_name: str):
    """The hardware spec that prices the predictions beside the measurements (they are not what the fit reads): SPEC,
    else the built-in spec of the device's name, else h200."""
    from mlacalc.errors import SpecError
    from mlacalc.hardware import load_hardware

    for candidate in ([name] if name else [device_name, "h200"]):
        try:
            return candidate, load_hardware(candidate)
        except SpecError:
            if name:
                raise
    raise AssertionError("h200 is built in")


def main() -> int:
    def add(ap):
        ap.add_argument("--gpu", default=None, help="hardware spec pricing the predictions (default: the device's)")
        ap.add_argument("--reps", type=int, default=20, help="timed repetitions a point (default 20, as calibrate)")

    args = gpu_lab_args(__doc__, add)
    if args is None:
        return 2
    import torch

    from mlacalc.errors import SpecError
    from mlacalc.profiler.calibrate import max_clock_ghz
    from mlacalc.profiler.device import device_info, versions
    from mlacalc.profiler.kernel_calibration import PREFILL_LAYERS, PREFILL_POINTS, measure_prefill_points
    from mlacalc.profiler.timing import L2Flusher

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / OUT_NAME
    info = device_info(0)
    try:
        spec_name, hw = _spec(args.gpu, torch.cuda.get_device_name(0))
    except SpecError as e:
        print(f"prefill_headdim: {e}", file=sys.stderr)
        return 2
    head = dict(gpu=torch.cuda.get_device_name(0), torch=torch.__version__, versions=versions(),
                device=info.as_dict(), boost_clock_ghz=max_clock_ghz(info.max_sm_clock_mhz), spec=spec_name,
                layers=PREFILL_LAYERS, reps=args.reps)
    points: list[dict] = []
    flusher = L2Flusher()
    t0 = time.perf_counter()
    for p in PREFILL_POINTS:      # one at a time, so that the file is rewritten after each
        points += measure_prefill_points(hw, [p], reps=args.reps, flusher=flusher, breakdown=True)
        path.write_text(json.dumps({**head, "points": points}, indent=1))
    print(f"prefill_headdim: {len(points)} of {len(PREFILL_POINTS)} points in {time.perf_counter() - t0:.0f} s "
          f"-> {path}")
    return 0 if len(points) == len(PREFILL_POINTS) else 1


if __name__ == "__main__":
    sys.exit(main())
