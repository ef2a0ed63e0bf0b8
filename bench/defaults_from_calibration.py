"""Lab script (CPU): print mlacalc.expected.DEFAULTS from a calibrated hardware YAML (`mlacalc calibrate --kernels`),
the efficiencies converted from the card's measured ceilings to fractions of its datasheet's, so that the built-in
datasheet spec gives the expected times the calibrated file gives. The prefill exponentials' share (``exp_share``)
is converted by the two specs' SFU rates (mlacalc.expected.exp_rate_per_s), so that the exponentials cost the same
time on both: equal where both give the card's boost clock and SM count.

    python bench/defaults_from_calibration.py reports/h200/h200.yaml h200
"""

from __future__ import annotations

import sys

from mlacalc.errors import SpecError
from mlacalc.expected import exp_rate_per_s
from mlacalc.hardware import load_hardware


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python bench/defaults_from_calibration.py CALIBRATED.yaml DATASHEET_GPU", file=sys.stderr)
        return 2
    try:
        cal, sheet = load_hardware(sys.argv[1]), load_hardware(sys.argv[2])
    except SpecError as e:
        print(f"defaults_from_calibration: {e}", file=sys.stderr)
        return 2
    bw = cal.mem_bandwidth_gb_s / sheet.mem_bandwidth_gb_s
    mma = cal.flops_per_s(16) / sheet.flops_per_s(16)
    exps = exp_rate_per_s(sheet) / exp_rate_per_s(cal)
    print(f"# copy {cal.mem_bandwidth_gb_s:,.0f} / {sheet.mem_bandwidth_gb_s:,.0f} GB/s = {bw:.3f}; "
          f"bf16 {cal.flops_per_s(16) / 1e12:,.0f} / {sheet.flops_per_s(16) / 1e12:,.0f} TFLOP/s = {mma:.3f}; "
          f"exponentials {exp_rate_per_s(sheet) / 1e12:.2f} / {exp_rate_per_s(cal) / 1e12:.2f} T/s = {exps:.3f}")
    for name, m in cal.kernels:
        d = m.to_dict()
        for k in ("bandwidth_eff",):
            d[k] = round(d[k] * bw, 3)
        for k in ("mma_eff", "small_tile_mma_eff", "triton_mma_eff", "wide_tile_mma_eff"):
            d[k] = round(d[k] * mma, 3)
        d["exp_share"] = round(d["exp_share"] * exps, 3)
        if d["exp_share"] > 1:
            print(f"# {name}: exp_share {d['exp_share']} is over 1 on the datasheet spec (its SFU rate is higher "
                  f"than the calibrated file's): give both specs the card's boost_clock_ghz")
        body = ", ".join(f"{k}={v!r}" for k, v in d.items())
        print(f'    "{name}": KernelModel({body}),')
    return 0


if __name__ == "__main__":
    sys.exit(main())
