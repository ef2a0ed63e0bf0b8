"""GPU commands: profile, calibrate, validate, bench kernels. Thin shells over ``mlacalc.profiler`` and
``mlacalc.kernels.bench``; torch, pynvml and plotly are imported inside the command functions only.

No CUDA, no GPU, or a GPU too small: one line on stderr, exit code 2 (``SpecError`` through the CLI).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated, Optional

import typer

from ..errors import SpecError
from .common import (
    MODEL_HELP,
    BatchOpt,
    ContextOpt,
    DpAttnOpt,
    EpOpt,
    JsonOpt,
    count,
    emit,
)

GpuOpt = Annotated[Optional[str], typer.Option(
    "--gpu", help="Hardware spec for the roofline: a built-in name or a file from `mlacalc calibrate` "
                  "(default: h100-sxm; calibrate first for honest ceilings).")]


def _cuda(command: str, min_free_gib: float = 1.0):
    """torch with a usable GPU, or a one-line SpecError (exit 2) naming ``command`` (it named ``--gpu``, a flag
    calibrate and bench do not have and one that picks the roofline's hardware spec, not a device)."""
    from ..profiler.device import GPUUnavailable, require_cuda

    try:
        return require_cuda(int(min_free_gib * 2**30))
    except GPUUnavailable as e:
        raise SpecError(command, str(e)) from None


def _output(path: str | None, flag: str, folder: bool = False) -> str | None:
    """``--out``/``--trace`` checked before any GPU work (:func:`mlacalc.files.check_output`); the path to write
    (``~`` expanded, as it was checked)."""
    if path is None:
        return None
    from ..files import check_output

    return check_output(path, flag, folder)


def profile(model: Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)],
            phase: Annotated[str, typer.Option("--phase", help="decode | prefill | train")] = "decode",
            batch: BatchOpt = "8", context: ContextOpt = "4k",
            kernel: Annotated[str, typer.Option("--kernel", help="auto | triton | gluon | flashmla | eager | sdpa (MLA "
                                                "decode: auto, triton, gluon (64+ query rows), flashmla or eager; "
                                                "DSA decode, over the indexer's top-k: auto, triton or gluon; "
                                                "MHA/GQA decode: auto, triton or sdpa; prefill/train: sdpa)")]
            = "auto",
            layers: Annotated[Optional[int], typer.Option("--layers", help="Build and run N layers and scale "
                                                          "(default: all; train: 2).")] = None,
            q_tokens: Annotated[int, typer.Option("--q-tokens", help="Query tokens per sequence (MTP).")] = 1,
            tp: Annotated[int, typer.Option("--tp", help="Profile one rank of N-way tensor parallelism.")] = 1,
            paged: Annotated[bool, typer.Option("--paged", help="Paged cache with a shuffled block table.")]
            = False,
            block_size: Annotated[Optional[int], typer.Option("--block-size", help="Paged block (default 64 "
                                                              "MLA, 16 GQA).")] = None,
            kv_dtype: Annotated[str, typer.Option("--kv-dtype",
                                                  help="bf16, fp8 e4m3 (MLA kernels: auto, triton, gluon), or "
                                                       "fp8-ds (DSA decode: the 656-byte rows).")] = "bf16",
            recompute: Annotated[str, typer.Option("--recompute", help="train: none | selective | full | "
                                                   "mla-latent")] = "none",
            reps: Annotated[int, typer.Option("--reps", help="Timed repetitions.")] = 20,
            gpu: GpuOpt = None,
            trace: Annotated[Optional[str], typer.Option("--trace", help="Write a Chrome trace (Perfetto).")]
            = None,
            whole_step: Annotated[bool, typer.Option("--whole-step", help="Run whole decode/prefill steps of N "
                                                     "real layers (the model's last; --layers, default 2): "
                                                     "projections, attention, norms, FFN or MoE, embed and lm_head, "
                                                     "under torch.profiler; each op's kernel time beside the "
                                                     "calculator's floor and expected time.")] = False,
            gpus: Annotated[int, typer.Option("--gpus", help="One process per GPU (NCCL): build the first --layers "
                                              "layers sharded over N ranks as the calculator assumes and measure "
                                              "each rank (decode: N = --tp; train: N = --tp x --dp). 1: one rank "
                                              "of --tp simulated on one GPU.")] = 1,
            ep: EpOpt = 1,
            dp_attention: DpAttnOpt = False,
            dp: Annotated[int, typer.Option("--dp", help="With --gpus, --phase train: ZeRO's data-parallel ranks.")]
            = 1,
            sp: Annotated[bool, typer.Option("--sp", help="With --gpus, --phase train: sequence parallelism.")]
            = False,
            zero: Annotated[int, typer.Option("--zero", help="With --gpus, --phase train: ZeRO stage 0-3 (real AdamW "
                                              "states).")] = 0,
            json_: JsonOpt = False) -> None:
    """Run the real kernels over the model's real KV cache and print predicted beside measured."""
    from ..hardware import load_hardware
    from ..spec import load_spec

    if isinstance(gpus, bool) or gpus < 1:
        raise SpecError("--gpus", f"must be at least 1, got {gpus}")
    if gpus > 1:
        if whole_step:
            raise SpecError("--whole-step", "runs one rank's shard on one GPU; not with --gpus")
        return _profile_sharded(model, phase=phase, batch=batch, context=context, kernel=kernel, layers=layers,
                                tp=tp, ep=ep, dp_attention=dp_attention, dp=dp, sp=sp, zero=zero, reps=reps,
                                gpu=gpu, gpus=gpus, json_=json_)
    for flag, value, default in (("--ep", ep, 1), ("--dp-attention", dp_attention, False), ("--dp", dp, 1),
                                 ("--sp", sp, False), ("--zero", zero, 0)):
        if value != default:
            raise SpecError(flag, "needs one process per rank: give --gpus N (N = --tp, or --tp x --dp to train)")
    spec = load_spec(model)
    from ..profiler.run import PointConfig, summary_line

    if kernel == "auto" and phase != "decode":   # prefill and training run through SDPA
        kernel = "sdpa"
    if whole_step:
        if paged or block_size is not None or kv_dtype != "bf16" or recompute != "none":
            raise SpecError("--whole-step", "runs a contiguous bf16 cache: --paged, --block-size, --kv-dtype and "
                                            "--recompute do not apply")
        from ..profiler.whole_step import DEFAULT_LAYERS, StepConfig, profile_whole_step

        cfg = StepConfig(model=model, phase=phase, kernel=kernel, batch=count(batch, "--batch"),
                         context=count(context, "--context"), layers=DEFAULT_LAYERS if layers is None else layers, q_tokens=q_tokens,
                         tp=tp, trace=trace)
        cfg.validate(spec)
        hw = load_hardware(gpu or "h100-sxm")
        cfg = replace(cfg, trace=_output(trace, "--trace"))
        _cuda("profile")
        point = profile_whole_step(cfg, hw, spec=spec)
        emit(json_, point, lambda: _render_whole_step(point))
        return
    cfg = PointConfig(model=model, phase=phase, kernel=kernel, batch=count(batch, "--batch"),
                      context=count(context, "--context"), layers=layers, q_tokens=q_tokens, tp=tp, paged=paged,
                      block_size=block_size, kv_dtype=kv_dtype, recompute=recompute, reps=reps, trace=trace)
    cfg.validate(spec)
    hw = load_hardware(gpu or "h100-sxm")
    cfg = replace(cfg, trace=_output(trace, "--trace"))
    _cuda("profile")
    from ..profiler.device import nvml_open
    from ..profiler.run import profile_point
    from ..profiler.timing import L2Flusher

    nvml, status = nvml_open(0)
    if nvml is None and not json_:
        print(f"note: NVML {status}; using the allocator's figures only", file=sys.stderr)
    point = profile_point(cfg, hw, flusher=L2Flusher(0), nvml=nvml, spec=spec)
    point["nvml"] = status
    emit(json_, point, lambda: _render_point(point, summary_line))


def _gpu_count(gpus: int) -> None:
    """Refuse more GPUs than this machine shows (one line, exit 2) before any work."""
    from ..profiler.device import import_torch

    try:
        torch = import_torch()
    except ImportError:
        raise SpecError("--gpus", "PyTorch is not installed; install mlacalc[gpu]") from None
    have = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus > have:
        raise SpecError("--gpus", f"{gpus} GPUs asked for; this machine has {have}")


def _profile_sharded(model: str, *, phase, batch, context, kernel, layers, tp, ep, dp_attention, dp, sp, zero, reps,
                     gpu, gpus, json_) -> None:
    """``profile --gpus N``: one process per GPU (mlacalc.profiler.sharded)."""
    from ..hardware import load_hardware
    from ..profiler.sharded import ShardedConfig

    _gpu_count(gpus)
    cfg = ShardedConfig(model=model, phase=phase, batch=count(batch, "--batch"), context=count(context, "--context"),
                        layers=layers or 2, tp=tp, dp=dp, ep=ep, dp_attention=dp_attention, sp=sp, zero=zero,
                        kernel=kernel if phase == "decode" else "auto", reps=reps)
    if cfg.gpus != gpus:
        raise SpecError("--gpus", f"{gpus} ranks asked for; the layout has {cfg.gpus} (decode: --tp; train: "
                                  "--tp x --dp)")
    spec = cfg.load_spec()
    cfg.validate(spec)
    hw = load_hardware(gpu or "h100-sxm")
    _cuda("profile")
    from ..profiler.run import summary_line
    from ..profiler.sharded import run_points

    try:
        point = run_points([cfg], hw, backend="nccl")[0]
    except RuntimeError as e:
        raise SpecError("profile", str(e).splitlines()[0]) from None
    emit(json_, point, lambda: _render_point(point, summary_line))


def _render_point(point: dict, summary_line) -> None:
    from rich.table import Table

    from .. import report

    con = report.console()
    if point.get("scale_note"):
        con.print(point["scale_note"])
    if point["status"] != "ok":
        con.print(summary_line(point))
        return
    t = Table(title=point["key"])
    for col in ("figure", "predicted", "measured", "error", "target"):
        t.add_column(col, justify="right" if col != "figure" else "left")
    from ..profiler.report import _fmt_val

    for c in point["comparisons"]:
        tol = "" if c["tolerance_pct"] is None else ("exact" if c["tolerance_pct"] == 0 else f"±{c['tolerance_pct']:g}%")
        err = "" if c["error_pct"] is None else f"{c['error_pct']:+.2f}%"
        mark = "" if c["ok"] is None else (" ok" if c["ok"] else " MISS")
        t.add_row(c["name"], _fmt_val(c["name"], c["predicted"]), _fmt_val(c["name"], c["measured"]), err,
                  tol + mark)
    if "achieved" in point:
        a = point["achieved"]
        t.add_row("achieved", "", f"{a['bandwidth_gb_s']:,.0f} GB/s, {a['tflops']:,.1f} TFLOP/s", "", "")
    con.print(t)
    if point.get("output_check"):       # the output of what was timed, its last sequence against float32
        from ..profiler.results import output_check_words

        con.print(output_check_words(point["output_check"]))
    for k in point.get("kernels", [])[:6]:
        con.print(f"  {k['time_s'] * 1e6:9.1f} us  {k['share'] * 100:5.1f}%  {k['name'][:100]}")


def _render_whole_step(point: dict) -> None:
    from rich.table import Table

    from .. import report
    from ..profiler.whole_step import TABLE_HEADER, summary_line, table_rows

    con = report.console()
    con.print(point["scale_note"])
    if point["status"] != "ok":
        con.print(summary_line(point))
        return
    t = Table(title=point["key"])
    for col in TABLE_HEADER:
        t.add_column(col, justify="left" if col == "op" else "right")
    for row in table_rows(point):
        t.add_row(*row)
    con.print(t)
    for note in [point.get("comm_note"), *point.get("notes", [])]:
        if note:
            con.print(note)


def calibrate(out: Annotated[str, typer.Option("--out", help="Hardware spec YAML to write.")],
              base: Annotated[str, typer.Option("--base", help="Built-in spec for what one card cannot measure "
                                                "(the interconnect).")] = "h100-sxm",
              quick: Annotated[bool, typer.Option("--quick", help="Smaller sizes (about 3 s).")] = False,
              gpus: Annotated[int, typer.Option("--gpus", help="Also measure the interconnect with NCCL collectives "
                                                "over N GPUs (all-reduce, all-gather, reduce-scatter, all-to-all): "
                                                "bus bandwidth and latency into the YAML.")] = 1,
              kernels: Annotated[bool, typer.Option("--kernels", help="Also fit the expected-time model's "
                                                    "coefficients per backend (auto, flashmla when importable, "
                                                    "gemm, sdpa) at ~200 calibration points (4-7 minutes on an H200; "
                                                    "over 7 on an H100).")]
              = False,
              json_: JsonOpt = False) -> None:
    """Measure copy bandwidth and bf16/fp16/fp8/fp32 matmul rates; write a hardware spec `--gpu FILE` accepts."""
    if isinstance(gpus, bool) or gpus < 1:
        raise SpecError("--gpus", f"must be at least 1, got {gpus}")
    out = _output(out, "--out")
    from ..hardware import load_hardware

    try:
        load_hardware(base)             # a bad --base failed only after the measurements
    except SpecError as e:
        raise SpecError("--base", f"{base}: {e.message}" if e.field.startswith("--gpu") else str(e)) from None
    _cuda("calibrate")
    import torch

    from ..hardware import hardware_from_dict
    from ..profiler.calibrate import calibrate as run_cal, device_arch, write_hardware_yaml

    if gpus > torch.cuda.device_count():
        raise SpecError("--gpus", f"{gpus} GPUs asked for; this machine has {torch.cuda.device_count()}")
    cal = run_cal(base=base, quick=quick)
    props = torch.cuda.get_device_properties(0)
    extra = {"sms": props.multi_processor_count, "arch": device_arch(props)}
    links = None
    if gpus > 1:
        from ..profiler.collectives import measure_collectives

        links = measure_collectives(gpus, backend="nccl")
        extra["interconnect_gb_s"] = round(links["interconnect_gb_s"], 1)
        extra["collective_latency_us"] = round(links["collective_latency_us"], 2)
    fitted = None
    if kernels:
        from ..profiler.kernel_calibration import calibrate_kernels

        hw = hardware_from_dict(cal.hardware_dict() | extra, "calibration")
        fitted = calibrate_kernels(hw, log=lambda s: print(s, file=sys.stderr, flush=True))
        extra["kernels"] = fitted["kernels"]
    write_hardware_yaml(cal, out, extra)
    payload = {**cal.hardware_dict(), **extra, "spreads_pct": cal.spreads_pct, "out": out,
               "calibration_points": fitted["points"] if fitted else [], "collectives": links}
    emit(json_, payload, lambda: print(
        f"{cal.name}: copy {cal.mem_bandwidth_gb_s:,.0f} GB/s, bf16 {cal.bf16_tflops:,.0f} TFLOP/s, "
        f"fp16 {cal.fp16_tflops:,.0f}, fp8 {cal.fp8_tflops:,.0f}, fp32 {cal.fp32_tflops:,.1f} -> {out}"))


def validate(out: Annotated[str, typer.Option("--out", help="Folder for validate.json, validate.md, "
                                              "index.html (e.g. reports/h100/).")],
             gpu: GpuOpt = None,
             quick: Annotated[bool, typer.Option("--quick", help="A handful of points (smoke test).")] = False,
             resume: Annotated[bool, typer.Option("--resume", help="Skip points already in validate.json.")]
             = False,
             suite: Annotated[str, typer.Option("--suite", help="default (memory, training, the floor), expected "
                                                "(held-out points for the kernel-aware expected time: auto, "
                                                "flashmla, sdpa prefill) or multi (only the --gpus points).")]
             = "default",
             gpus: Annotated[int, typer.Option("--gpus", help="Also run the multi-GPU points over N GPUs, one "
                                               "process per GPU (sharded decode under TP, EP and data-parallel "
                                               "attention; ZeRO-0..3 and TP+SP training). With --suite multi and "
                                               "N = 1: a one-GPU dry run of that code path.")] = 1,
             json_: JsonOpt = False) -> None:
    """Run the validation suite (>= 30 points) and write JSON, an HTML report and a Markdown summary."""
    if isinstance(gpus, bool) or gpus < 1:
        raise SpecError("--gpus", f"must be at least 1, got {gpus}")
    if suite not in ("default", "expected", "multi"):
        raise SpecError("--suite", f"must be default, expected or multi, got {suite!r}")
    if gpus > 1:
        _gpu_count(gpus)
    if gpu:
        from ..hardware import load_hardware

        load_hardware(gpu)  # a bad file fails before any GPU work
    out = _output(out, "--out", folder=True)
    _cuda("validate", 0)  # no memory query yet: the suite measures the CUDA context's cost first, then checks the size
    from ..profiler.device import GPUUnavailable
    from ..profiler.report import accuracy_markdown
    from ..profiler.validate import run_validate

    command = "mlacalc " + " ".join(sys.argv[1:]) if sys.argv and "mlacalc" in sys.argv[0] else "mlacalc validate"
    try:
        res = run_validate(out, gpu, quick=quick, resume=resume, command=command, suite_name=suite, gpus=gpus,
                           log=(lambda s: print(s, file=sys.stderr, flush=True)) if json_ else
                           (lambda s: print(s, flush=True)))
    except GPUUnavailable as e:
        raise SpecError("validate", str(e)) from None
    emit(json_, {"out": out, "accuracy": res["accuracy"], "points": len(res["points"])},
         lambda: print("\n" + accuracy_markdown(res["accuracy"])))


bench_app = typer.Typer(help="Benchmarks of the project's kernels.", no_args_is_help=True)


@bench_app.command("kernels")
def bench_kernels(out: Annotated[str, typer.Option("--out", help="JSON file to write.")],
                  quick: Annotated[bool, typer.Option("--quick", help="A small matrix.")] = False,
                  peers: Annotated[bool, typer.Option("--peers", help="FlashMLA beside ours (when importable), "
                                                      "eager and graph-timed; host overhead; fp8 and sparse decode "
                                                      "against the floor. Writes a `summary`.")] = False,
                  json_: JsonOpt = False) -> None:
    """Time every kernel over the benchmark matrix (mlacalc.kernels.bench)."""
    out = _output(out, "--out")
    _cuda("bench kernels")
    try:
        from ..kernels.bench import run_benchmark
    except ImportError as e:
        raise SpecError("bench", f"the kernel benchmark is not available ({e})") from None
    # --json: progress goes to stderr, stdout holds one object (where the results went and the targets' summary)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if json_ else print
    res = run_benchmark(out, quick, peers=peers, log=log)
    rows = res.get("rows", [])
    payload = {"out": out, "rows": len(rows), "ok": sum(r.get("status") == "ok" for r in rows),
               "wall_s": res.get("wall_s"), "targets": _finite_or_none(res.get("targets"))}
    if "summary" in res:
        payload["summary"] = _finite_or_none(res["summary"])
    emit(json_, payload, lambda: print(f"wrote {out} ({payload['ok']}/{payload['rows']} points ok)"))


def _finite_or_none(x):
    """``x`` with NaN and infinities as None (strict JSON); the benchmark marks points it could not time as NaN."""
    import math

    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite_or_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite_or_none(v) for v in x]
    return x


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command("profile")(profile)
    app.command("calibrate")(calibrate)
    app.command("validate")(validate)
    app.add_typer(bench_app, name="bench")
