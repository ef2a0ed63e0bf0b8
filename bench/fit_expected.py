"""Lab script (CPU): refit the expected-time model's decode coefficients to the points of a `calibrate --kernels`
run and show how the fitted model does on a validation run's held-out points (report only: nothing is fitted to
them).

    python bench/fit_expected.py CALIBRATE.json HARDWARE.yaml [VALIDATE.json] [--only NAMES] [--write OUT.yaml]
    python bench/fit_expected.py --sdpa PREFILL.json CALIBRATE.json HARDWARE.yaml [VALIDATE.json] [--write OUT.yaml]

--write: HARDWARE.yaml with its decode coefficients (auto, gqa, flashmla) replaced by the refit ones, the rest (the
measured ceilings, gemm, sdpa) as it was -- what `mlacalc calibrate --kernels` would have written from the same
points with this code's model (the fit is seeded and starts from KernelModel's own values, not the built-in defaults:
the same points give the same coefficients, whatever DEFAULTS say). --only NAMES (comma-separated coefficients, e.g.
wide_tile_mma_eff): fit those alone, every other coefficient held at HARDWARE.yaml's -- for a new coefficient whose
points a kernel change moved, while the kernels the others price did not change (a full refit of the same points
lands in another of its near-equal minima).

--sdpa PREFILL.json (the file `python bench/prefill_headdim.py` writes): refit the prefill model (`sdpa`: mma_eff,
fixed_us and the exponentials' share exp_share, jointly, on points of several head dims; profiler.kernel_calibration.
fit_prefill) and nothing else, on PREFILL.json's points plus CALIBRATE.json's sdpa points that PREFILL.json did not
measure again (a point in both: PREFILL.json's; both times are printed). The exponentials are priced at HARDWARE.yaml's
SFU rate (SMs x 16 x boost_clock_ghz); a measured file without a clock takes PREFILL.json's (NVML's maximum SM clock on
the card that measured it), and --write writes it. VALIDATE.json: its held-out prefill points, priced by the refit
(report only). The matmul-only model (exp_share 0) is fitted to the same points and printed beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
import statistics
import sys

from mlacalc.attention import family
from mlacalc.expected import (PLANNERS, decode_attention_s, decode_backend, decode_plan, exp_rate_per_s, kernel_model,
                              prefill_attention_s, runs_gluon)
from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware
from mlacalc.profiler.kernel_calibration import (DECODE_NAMES, PREFILL_NAMES, fit_decode, fit_prefill, point_shape,
                                                 prefill_inputs, split_by_kernel)
from mlacalc.profiler.results import wrong_output
from mlacalc.spec import load_spec


USAGE, USAGE_SDPA = [line.strip() for line in __doc__.splitlines()
                     if line.strip().startswith("python bench/fit_expected.py")][:2]


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
    sdpa = option(args, "--sdpa")
    only = option(args, "--only")
    if sdpa is not None:
        if only is not None:
            print("fit_expected: --only applies to the decode refit, not to --sdpa", file=sys.stderr)
            raise SystemExit(2)
        refit_sdpa(sdpa, args, write)
        return
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
    if not getattr(hw, "sms", 0):   # the split planners divide by it: a ZeroDivisionError deep in choose_splits
        print(f"fit_expected: {sys.argv[2]} gives no sms: the decode fit plans splits over the card's SMs "
              f"(add sms, or use the built-in card's name)", file=sys.stderr)
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
            def predict(c, backend=backend):
                r = dict(model=c["model"], tp=c["tp"], batch=c["batch"], context=c["context"], layers=c["layers"],
                         q_tokens=c["q_tokens"], kv_dtype=c["kv_dtype"], paged=c.get("paged", False))
                own = decode_backend(backend, family(load_spec(c["model"]).attention).kernel)
                model = models.get(own) or kernel_model(hw, own)
                return [("", decode_attention_s(point_shape(r), hw, model, hw.flops_per_s(16), PLANNERS[own],
                                                runs_gluon(own, hw)))]

            print_held_out(val, "decode", backend, predict, backend)


def builtin_file(path: str):
    """``path`` as a file: a built-in card's name (``h100-sxm``, as --gpu takes) is its packaged YAML
    (mlacalc.hardware.builtin_hardware_file); anything else is taken as given (a missing file: read_data's one-line
    error)."""
    from mlacalc.hardware import builtin_hardware_file

    own = None if Path(path).exists() else builtin_hardware_file(path)
    return Path(path) if own is None else own


def _load(path: str, hardware: bool = False):
    """The path's JSON, or with ``hardware`` its hardware spec (a file or a built-in name, as --gpu takes); a missing
    or malformed one: one line, exit 2."""
    try:
        return load_hardware(path) if hardware else json.load(open(path))
    except (OSError, ValueError, SpecError) as e:
        print(f"fit_expected: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        raise SystemExit(2)


def sdpa_records(lab: dict, cal: dict) -> tuple[list[dict], list[tuple[dict, dict]]]:
    """The prefill records to fit: the lab file's points, then the calibration's sdpa points it did not measure again
    (same model, batch, prompt and layers); and the pairs measured in both, (calibration's, lab's)."""
    def key(r):
        return r["model"], r["batch"], r["context"], r.get("layers", 2)

    new = {key(r): r for r in lab["points"]}
    old = [p for p in cal.get("calibration_points", []) if p.get("backend") == "sdpa"]
    both = [(p, new[key(p)]) for p in old if key(p) in new]
    return list(lab["points"]) + [p for p in old if key(p) not in new], both


def refit_sdpa(lab_path: str, args: list[str], write: str | None) -> None:
    """--sdpa: refit the prefill coefficients alone (see the module docstring)."""
    from dataclasses import replace

    if len(args) < 2:
        print(f"usage: {USAGE_SDPA}", file=sys.stderr)
        raise SystemExit(2)
    lab, cal, hw = _load(lab_path), _load(args[0]), _load(args[1], hardware=True)
    val = _load(args[2]) if len(args) > 2 else None
    need = ("model", "batch", "context", "measured_s")
    if not (isinstance(lab, dict) and isinstance(lab.get("points"), list) and lab["points"]
            and all(isinstance(r, dict) and all(k in r for k in need) for r in lab["points"])):
        print(f"fit_expected: --sdpa {lab_path}: no points, or a point without {', '.join(need)} (expected the JSON "
              f"of bench/prefill_headdim.py)", file=sys.stderr)
        raise SystemExit(2)
    for path, d in ((args[0], cal), *(((args[2], val),) if val is not None else ())):
        if not isinstance(d, dict):
            print(f"fit_expected: {path}: expected a JSON object (mlacalc calibrate's or validate's), got "
                  f"{type(d).__name__}", file=sys.stderr)
            raise SystemExit(2)
    clock = None
    if not hw.boost_clock_ghz and lab.get("boost_clock_ghz"):
        clock = lab["boost_clock_ghz"]
        hw = replace(hw, boost_clock_ghz=clock)
        print(f"{args[1]} gives no boost clock: {clock} GHz, NVML's maximum SM clock in {Path(lab_path).name}")
    print(f"exponentials at {exp_rate_per_s(hw) / 1e12:.2f} T/s ({hw.sms} SMs x 16 x {hw.boost_clock_ghz or '?'} GHz"
          f"{'' if hw.boost_clock_ghz else ': no clock, the tensor rate x 16 / 4,096'})")
    recs, both = sdpa_records(lab, cal)
    for old, new in both:
        print(f"  again {new.get('key', new['model'])[:60]:<60} {old['measured_s'] * 1e6:8.1f} -> "
              f"{new['measured_s'] * 1e6:8.1f} us ({(new['measured_s'] / old['measured_s'] - 1) * 100:+.1f}%)")
    base = [dict(r) for r in recs]
    m0, err0, _ = fit_prefill(base, hw, names=PREFILL_NAMES[:2])
    m, err, names = fit_prefill(recs, hw)
    print(f"sdpa matmul only: rms log error {err0:.3f}  mma_eff {m0.mma_eff:.3f} fixed_us {m0.fixed_us}")
    print(f"sdpa fitted ({', '.join(names)}): rms log error {err:.3f}\n  {m.to_dict()}")
    for r, r0 in zip(recs, base):
        x = prefill_inputs(r, hw)
        print(f"  {r.get('key', r['model'])[:60]:<60} d/exp {x.flops / x.exps:5.0f} {r['measured_s'] * 1e6:8.1f} "
              f"{r['fitted_s'] * 1e6:8.1f} {(r['fitted_s'] / r['measured_s'] - 1) * 100:+6.1f}%  "
              f"(matmul only {(r0['fitted_s'] / r0['measured_s'] - 1) * 100:+6.1f}%)")
    if write:
        names = " ".join(Path(a).name for a in (lab_path, args[0], args[1]))
        write_refit(args[1], {"sdpa": m}, write, extra={"boost_clock_ghz": clock} if clock else None,
                    what="Prefill (sdpa) coefficients", points_of=" and ".join(names.split()[:2]),
                    command=f"python bench/fit_expected.py --sdpa {names} --write {Path(write).name}")
    if val is not None:
        def predict(c):
            x = prefill_inputs(dict(model=c["model"], batch=c["batch"], context=c["context"], layers=c["layers"]),
                               hw)
            return [(label, prefill_attention_s(x.flops, x.exps, x.nbytes, x.launches, x.prompt, hw, model,
                                                hw.flops_per_s(16)))
                    for label, model in (("refit", m), ("matmul only", m0))]

        print_held_out(val, "prefill", "sdpa", predict, "sdpa held-out")


def print_held_out(val: dict, phase: str, kernel: str, predict, title: str) -> None:
    """Print VALIDATE.json's held-out points of ``phase`` and ``kernel`` (status ok) against ``predict(config)``'s
    [(label, seconds), ...] (each floored at the point's own roofline, predicted.attn_core), a line each, then the
    first label's count within 15% and median absolute error under ``title``."""
    errs = []
    for p in val.get("points", []):
        c = p.get("config", {})
        if c.get("phase") != phase or c.get("kernel") != kernel or p.get("status") != "ok" or wrong_output(p):
            continue
        floor, measured = p["predicted"]["attn_core"]["time_s"], p["latency"]["median"]
        for i, (label, t) in enumerate(predict(c)):
            pred = max(floor, t)
            e = (pred / measured - 1) * 100
            if i == 0:
                errs.append(abs(e))
            print(f"  held-out {p['key']:<52}{f' {label:<11}' if label else ''} {measured * 1e6:8.1f} "
                  f"{pred * 1e6:8.1f} {e:+6.1f}%{'' if abs(e) <= 15 else '  MISS'}")
    if errs:
        print(f"{title}: {sum(e <= 15 for e in errs)}/{len(errs)} within 15%, median {statistics.median(errs):.1f}%")

def write_refit(hw_path: str, models: dict, out: str, flags: str = "", *, extra: dict | None = None,
                what: str = "Decode coefficients", command: str | None = None, points_of: str | None = None) -> None:
    """HARDWARE.yaml with the refit backends' coefficients (and ``extra`` fields, e.g. the boost clock the prefill
    refit priced the exponentials at), written as `mlacalc calibrate` writes it; its notes keep one line a kind of
    refit (``what``), the latest, with the command that made it (default: the decode refit's)."""
    import yaml

    from mlacalc.hardware import hardware_from_dict
    from mlacalc.files import read_data
    from mlacalc.profiler.results import write_atomic

    d = read_data(builtin_file(hw_path), hw_path)
    # a file without coefficients of its own (a datasheet card) gets the refit backends alone
    d["kernels"] = {**d.get("kernels", {}), **{k: m.to_dict() for k, m in models.items()}}
    d.update(extra or {})
    cal = points_of or Path(sys.argv[1]).name
    if command is None:
        command = f"python bench/fit_expected.py {cal} {Path(hw_path).name}{flags} --write {Path(out).name}"
    notes = d.get("notes", "").split(f" {what} refit on the CPU")[0]     # one refit note a kind, the latest
    d["notes"] = notes + f" {what} refit on the CPU from the points of {cal} by `{command}`."
    hardware_from_dict(dict(d), out)
    write_atomic(out, "# Written by `mlacalc calibrate`: measured on this card; see notes.\n"
                 + yaml.safe_dump(d, sort_keys=False, width=110))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
