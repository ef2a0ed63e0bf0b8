"""Lab script (CPU): refit the expected-time model's decode coefficients to the points of a `calibrate --kernels`
run and show how the fitted model does on a validation run's held-out points (report only: nothing is fitted to
them).

    python bench/fit_expected.py CALIBRATE.json HARDWARE.yaml [VALIDATE.json] [--only NAMES] [--write OUT.yaml]

--write: HARDWARE.yaml with its decode coefficients (auto, gqa, flashmla) replaced by the refit ones, the rest (the
measured ceilings, gemm, sdpa) as it was -- what `mlacalc calibrate --kernels` would have written from the same
points with this code's model (the fit is seeded and starts from KernelModel's own values, not the built-in defaults:
the same points give the same coefficients, whatever DEFAULTS say). --only NAMES (comma-separated coefficients, e.g.
wide_tile_mma_eff): fit those alone, every other coefficient held at HARDWARE.yaml's -- for a new coefficient whose
points a kernel change moved, while the kernels the others price did not change (a full refit of the same points
lands in another of its near-equal minima).
"""

from __future__ import annotations

import json
from pathlib import Path
import statistics
import sys

from mlacalc.attention import family
from mlacalc.expected import PLANNERS, decode_attention_s, decode_backend, decode_plan, kernel_model, runs_gluon
from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware
from mlacalc.profiler.kernel_calibration import DECODE_NAMES, fit_decode, point_shape, split_by_kernel
from mlacalc.spec import load_spec


USAGE = next(line.strip() for line in __doc__.splitlines() if line.strip().startswith("python bench/fit_expected.py"))


def option(args: list[str], flag: str) -> str | None:
    """The value after ``flag`` in ``args`` (both removed), None when the flag is absent; a flag without a value
    (the last word, or another flag after it) is a usage error."""
    if flag not in args:
        return None
    i = args.index(flag)
    if i + 1 >= len(args) or args[i + 1].startswith("--"):
        print(f"fit_expected: {flag} takes a value; usage: {USAGE}", file=sys.stderr)
        raise SystemExit(2)
    value = args[i + 1]
    del args[i:i + 2]
    return value


def main() -> None:
    args = sys.argv[1:]
    write = option(args, "--write")
    only = option(args, "--only")
    if only is not None:
        only = tuple(only.split(","))
        unknown = [n for n in only if n not in DECODE_NAMES]
        if unknown:
            print(f"fit_expected: --only: {', '.join(unknown)} is no decode coefficient (known: "
                  f"{', '.join(DECODE_NAMES)})", file=sys.stderr)
            raise SystemExit(2)
    sys.argv[1:] = args
    if len(args) < 2:
        print(f"usage: {USAGE}", file=sys.stderr)
        raise SystemExit(2)
    try:
        cal = json.load(open(sys.argv[1]))
        hw = load_hardware(sys.argv[2])
        val = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else None
    except (OSError, ValueError, SpecError) as e:     # a missing or malformed input: one line, not a traceback
        print(f"fit_expected: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        raise SystemExit(2)
    recs = [p for p in cal["calibration_points"] if p["backend"] in ("auto", "flashmla")]
    models = {}
    groups = {}
    for backend in ("auto", "flashmla"):
        groups.update(split_by_kernel(backend, [r for r in recs if r["backend"] == backend]))
    for backend, rs in groups.items():
        m, err = fit_decode(backend, rs, hw, only)
        if m is None:
            continue
        models[backend] = m
        print(f"{backend}: rms log error {err:.3f}\n  {m.to_dict()}")
        for r in rs:
            sh = point_shape(r)
            plan = decode_plan(sh, m, hw.sms, PLANNERS[backend], runs_gluon(backend, hw), getattr(hw, "arch", ""))
            same = backend == "flashmla" or plan.splits == r["num_splits"]
            flag = "" if same else f" splits {plan.splits}!={r['num_splits']}"
            print(f"  {r['key']:<52} {r['measured_s'] * 1e6:8.1f} {r['fitted_s'] * 1e6:8.1f} "
                  f"{(r['fitted_s'] / r['measured_s'] - 1) * 100:+6.1f}%{flag}")
    if write:
        write_refit(sys.argv[2], models, write, f" --only {','.join(only)}" if only else "")
    if val is not None:
        for backend in ("auto", "flashmla"):
            errs = []
            for p in val["points"]:
                c = p["config"]
                if c["phase"] != "decode" or c["kernel"] != backend or p.get("status") != "ok":
                    continue
                r = dict(model=c["model"], tp=c["tp"], batch=c["batch"], context=c["context"], layers=c["layers"],
                         q_tokens=c["q_tokens"], kv_dtype=c["kv_dtype"], paged=c.get("paged", False))
                sh = point_shape(r)
                own = decode_backend(backend, family(load_spec(c["model"]).attention).kernel)
                floor = p["predicted"]["attn_core"]["time_s"]
                model = models.get(own) or kernel_model(hw, own)
                pred = max(floor, decode_attention_s(sh, hw, model, hw.flops_per_s(16),
                                                     PLANNERS[own], runs_gluon(own, hw)))
                e = (pred / p["latency"]["median"] - 1) * 100
                errs.append(abs(e))
                print(f"  held-out {p['key']:<52} {p['latency']['median'] * 1e6:8.1f} {pred * 1e6:8.1f} {e:+6.1f}%"
                      f"{'' if abs(e) <= 15 else '  MISS'}")
            if errs:
                print(f"{backend}: {sum(e <= 15 for e in errs)}/{len(errs)} within 15%, "
                      f"median {statistics.median(errs):.1f}%")


def write_refit(hw_path: str, models: dict, out: str, flags: str = "") -> None:
    """HARDWARE.yaml with the refit decode backends' coefficients, written as `mlacalc calibrate` writes it."""
    import yaml

    from mlacalc.hardware import hardware_from_dict
    from mlacalc.files import read_data
    from mlacalc.profiler.results import write_atomic

    d = read_data(Path(hw_path), hw_path)
    d["kernels"] = {**d["kernels"], **{k: m.to_dict() for k, m in models.items()}}
    cal = Path(sys.argv[1]).name
    note = f" Decode coefficients refit on the CPU from the points of {cal} by `python bench/fit_expected.py"
    notes = d.get("notes", "").split(" Decode coefficients refit on the CPU")[0]     # one refit note, the latest
    d["notes"] = notes + note + f" {cal} {Path(hw_path).name}{flags} --write {Path(out).name}`."
    hardware_from_dict(dict(d), out)
    write_atomic(out, "# Written by `mlacalc calibrate`: measured on this card; see notes.\n"
                 + yaml.safe_dump(d, sort_keys=False, width=110))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
