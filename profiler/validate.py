"""``mlacalc validate``: a suite of points over MHA, GQA and MLA models, decode and prefill, batch and context,
and forward+backward of 2-layer real models under each recomputation mode; written as JSON, a self-contained
HTML report and a Markdown summary.

After every point ``validate.json`` is rewritten atomically, so an interrupted run (Ctrl-C, a time limit) leaves
the points done so far; the HTML and Markdown are written from whatever is there when the run ends or stops.
``--resume`` skips points whose key is already in the JSON.

The suite is chosen to be honest rather than flattering: memory-bound and compute-heavy MLA decode (16 and 128
query heads per GPU), the eager baseline, paged and fp8 caches, small batches where launch latency matters, and
one point that cannot fit on an 80 GB card.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import traceback
from pathlib import Path

from .report import accuracy_table, html_report, markdown_summary
from .results import write_atomic, write_json
from .run import PointConfig, summary_line
from .sharded import run_points, sharded_suite

K = 1024


def default_suite(quick: bool = False) -> list[PointConfig]:
    """The validation points (about 45; ``quick``: a handful, for smoke tests)."""
    P = PointConfig
    pts: list[PointConfig] = []
    # MLA decode, Triton, DeepSeek-V3 with TP 8 (16 query heads per GPU; the latent is whole on every rank)
    for b, c in ((1, 4 * K), (8, 4 * K), (32, 4 * K), (8, 16 * K), (32, 16 * K), (64, 32 * K), (128, 8 * K)):
        pts.append(P("deepseek-v3", "decode", "triton", b, c, layers=8, tp=8))
    # ... the same kernel with all 128 heads on one GPU (compute-heavy)
    for b, c in ((8, 4 * K), (32, 8 * K), (64, 4 * K)):
        pts.append(P("deepseek-v3", "decode", "triton", b, c, layers=4))
    # DeepSeek-V2-Lite (16 heads): all 27 layers, a paged cache, an fp8 cache, two MTP tokens
    pts += [P("deepseek-v2-lite", "decode", "triton", 16, 8 * K),
            P("deepseek-v2-lite", "decode", "triton", 32, 8 * K, layers=8, paged=True),
            P("deepseek-v2-lite", "decode", "triton", 32, 16 * K, layers=8, kv_dtype="fp8"),
            P("deepseek-v2-lite", "decode", "triton", 32, 8 * K, layers=8, q_tokens=2)]
    # the eager PyTorch baseline (latency shown, not judged)
    pts += [P("deepseek-v2-lite", "decode", "eager", 8, 4 * K, layers=8),
            P("deepseek-v2-lite", "decode", "eager", 32, 16 * K, layers=8)]
    # GQA (Llama-3.1-8B: 32 query, 8 KV heads) and MHA (Llama-2-7B)
    for b, c in ((1, 4 * K), (8, 8 * K), (32, 8 * K), (64, 16 * K)):
        pts.append(P("llama-3.1-8b", "decode", "triton", b, c, layers=8))
    pts += [P("llama-3.1-8b", "decode", "triton", 16, 8 * K, layers=8, paged=True),
            P("llama-3.1-8b", "decode", "sdpa", 8, 8 * K, layers=8),
            P("llama-3.1-8b", "decode", "sdpa", 32, 8 * K, layers=8),
            P("llama-2-7b", "decode", "triton", 8, 4 * K, layers=8),
            P("llama-2-7b", "decode", "triton", 16, 8 * K, layers=8),
            P("llama-2-7b", "decode", "sdpa", 8, 4 * K, layers=8)]
    # Does not fit: DeepSeek-V3's whole cache for 128 x 32k tokens is about 295 GB
    pts.append(P("deepseek-v3", "decode", "triton", 128, 32 * K, tp=8))
    # Prefill (SDPA; MLA decompressed)
    pts += [P("llama-3.1-8b", "prefill", "sdpa", 1, 8 * K, layers=4),
            P("llama-3.1-8b", "prefill", "sdpa", 4, 4 * K, layers=4),
            P("deepseek-v2-lite", "prefill", "sdpa", 1, 8 * K, layers=4),
            P("deepseek-v2-lite", "prefill", "sdpa", 4, 4 * K, layers=4),
            P("llama-2-7b", "prefill", "sdpa", 2, 4 * K, layers=4)]
    # Training: 2 real layers, forward + backward, each recomputation mode
    for mode in ("none", "selective", "full", "mla-latent"):
        pts.append(P("variant-mla", "train", "sdpa", 2, 4 * K, layers=2, recompute=mode))
    for model in ("variant-gqa2-128", "variant-mha"):
        for mode in ("none", "selective", "full"):
            pts.append(P(model, "train", "sdpa", 2, 4 * K, layers=2, recompute=mode))
    if quick:
        keep = {0, 7, 14, 16, 17, 20, 28, 29, 33, 36}
        pts = [p for i, p in enumerate(pts) if i in keep]
    return pts


def expected_suite() -> list[PointConfig]:
    """Held-out points for the kernel-aware expected time (none is a calibration point of
    ``profiler.kernel_calibration``): decode through ``auto`` (MLA at 16/64/128 heads per GPU and MiniCPM3's dims, GQA
    incl. head dim 256, paged, fp8,
    two query tokens, DSA's top-k at 2-128 heads, batch 1-128, contexts 1k-128k; the Triton sparse kernel under 8
    heads and forced at 16-128) and the same MLA points through
    FlashMLA, prefill through SDPA (4 layers each; layer-scaled figures say so), and training memory at 8k with MLA's
    latent recomputed."""
    P = PointConfig
    mla = [(8, 1, 1 * K), (8, 2, 8 * K), (8, 4, 32 * K), (8, 16, 4 * K), (8, 16, 64 * K), (8, 32, 32 * K),
           (8, 64, 8 * K), (8, 128, 4 * K), (8, 128, 16 * K),
           (2, 1, 4 * K), (2, 8, 8 * K), (2, 32, 4 * K), (2, 64, 16 * K), (2, 16, 32 * K),
           (1, 1, 16 * K), (1, 8, 8 * K), (1, 16, 32 * K), (1, 64, 8 * K), (1, 128, 4 * K), (1, 4, 2 * K),
           (8, 8, 16 * K), (8, 48, 16 * K), (8, 96, 4 * K), (2, 4, 64 * K), (2, 128, 2 * K), (1, 32, 16 * K),
           (1, 2, 64 * K), (8, 1, 128 * K)]
    pts: list[PointConfig] = []
    for kernel in ("auto", "flashmla"):
        for tp, b, c in mla:
            pts.append(P("deepseek-v3", "decode", kernel, b, c, layers=4, tp=tp, breakdown=False))
        pts += [P("deepseek-v2-lite", "decode", kernel, 8, 128 * K, layers=4, breakdown=False),
                P("deepseek-v2-lite", "decode", kernel, 32, 8 * K, layers=4, paged=True, breakdown=False),
                P("deepseek-v2-lite", "decode", kernel, 2, 16 * K, layers=4, breakdown=False)]
    pts += [P("deepseek-v2-lite", "decode", "auto", 32, 16 * K, layers=4, kv_dtype="fp8", breakdown=False),
            P("deepseek-v3", "decode", "auto", 32, 8 * K, layers=4, kv_dtype="fp8", breakdown=False),  # 128 rows
            P("deepseek-v3", "decode", "auto", 64, 16 * K, layers=4, tp=2, kv_dtype="fp8", breakdown=False),
            P("deepseek-v2-lite", "decode", "auto", 32, 8 * K, layers=4, q_tokens=2, breakdown=False)]
    # DSA decode (the indexer's top-2048 rows gathered; 8, 16, 64 and 128 heads, contexts under and over the top-k)
    pts += [P("deepseek-v3.2", "decode", "auto", b, c, layers=4, tp=tp, paged=True, q_tokens=q, breakdown=False)
            for tp, b, c, q in ((8, 32, 32 * K, 1), (8, 4, 4 * K, 1), (8, 8, 128 * K, 1), (1, 16, 64 * K, 1),
                                (2, 8, 16 * K, 2), (16, 64, 16 * K, 1), (2, 64, 2 * K, 1), (8, 128, 1 * K, 1))]
    pts += [P("glm-5", "decode", "auto", b, c, layers=4, tp=tp, paged=True, breakdown=False)
            for tp, b, c in ((8, 32, 32 * K), (8, 4, 8 * K))]
    # ... over the 656-byte fp8-ds rows DeepSeek deploys (no calibration point has them: the gather and widening
    # rates come from bf16 DSA rows and the dense fp8 kernel)
    pts += [P(m, "decode", "auto", b, c, layers=4, tp=tp, paged=True, kv_dtype="fp8-ds", breakdown=False)
            for m, tp, b, c in (("deepseek-v3.2", 8, 32, 32 * K), ("deepseek-v3.2", 8, 128, 8 * K),
                                ("deepseek-v3.2", 2, 16, 16 * K), ("deepseek-v3.2", 1, 8, 64 * K),
                                ("glm-5", 8, 16, 1 * K))]
    # ... on the Triton sparse kernel: auto under 8 heads (4: DeepSeek-V3.2 at tp 32, GLM-5 at tp 16; 2: DeepSeek-V3.2
    # at tp 64), bf16 and fp8-ds rows, a context under the top-k, two query tokens; and forced (kernel triton) at 16,
    # 64 and 128 heads, whose 32- and 64-head tiles no calibration point has
    v32, bf, fp = "deepseek-v3.2", "bf16", "fp8-ds"
    pts += [P(m, "decode", "auto", b, c, layers=4, tp=tp, paged=True, q_tokens=q, kv_dtype=kv, breakdown=False)
            for m, tp, b, c, q, kv in ((v32, 32, 1, 16 * K, 1, bf), (v32, 32, 16, 32 * K, 1, bf),
                                       (v32, 32, 64, 8 * K, 1, bf), (v32, 32, 128, 1 * K, 1, bf),
                                       (v32, 32, 8, 64 * K, 2, bf), (v32, 64, 32, 32 * K, 1, bf),
                                       ("glm-5", 16, 32, 16 * K, 1, bf), ("glm-5", 16, 4, 128 * K, 1, bf),
                                       (v32, 32, 32, 16 * K, 1, fp), ("glm-5", 16, 64, 8 * K, 1, fp))]
    pts += [P("deepseek-v3.2", "decode", "triton", b, c, layers=4, tp=tp, paged=True, breakdown=False)
            for tp, b, c in ((8, 16, 16 * K), (2, 32, 8 * K), (1, 8, 32 * K))]
    for b, c in ((1, 1 * K), (4, 16 * K), (16, 32 * K), (64, 4 * K), (128, 8 * K)):
        pts.append(P("llama-3.1-8b", "decode", "auto", b, c, layers=4, breakdown=False))
    pts += [P("qwen3-235b-a22b", "decode", "auto", 8, 8 * K, layers=4, breakdown=False),
            P("qwen3-235b-a22b", "decode", "auto", 32, 16 * K, layers=4, breakdown=False)]
    # ... the classes the twelfth session's calibration added (none of these points is one of them): GQA with two
    # query tokens over a paged cache, head dim 256 (one program an SM), MiniCPM3's Triton 64-row MLA tile, and its
    # fp8 cache on 16-row tiles at r = 256 (no calibration point: the random points had it 24-33% slow)
    pts += [P("llama-3.1-70b", "decode", "auto", 16, 8 * K, layers=4, paged=True, q_tokens=2, breakdown=False),
            P("variant-gqa1-256", "decode", "auto", 8, 32 * K, layers=4, breakdown=False),
            P("minicpm3-4b", "decode", "auto", 16, 12 * K, layers=4, breakdown=False),
            P("minicpm3-4b", "decode", "auto", 32, 8 * K, layers=4, tp=8, kv_dtype="fp8", breakdown=False)]
    for model, b, s in (("llama-3.1-8b", 1, 2 * K), ("llama-3.1-8b", 1, 16 * K), ("llama-3.1-8b", 2, 8 * K),
                        ("llama-3.1-8b", 8, 1 * K), ("deepseek-v2-lite", 1, 4 * K), ("deepseek-v2-lite", 2, 16 * K),
                        ("qwen2.5-7b", 1, 8 * K), ("llama-2-7b", 4, 4 * K)):
        pts.append(P(model, "prefill", "sdpa", b, s, layers=2, breakdown=False))
    # training memory at 8k (2 real layers, forward + backward): MLA with the latent recomputed, and its baselines
    pts += [P("deepseek-v2-lite", "train", "sdpa", 1, 8 * K, layers=2, recompute="mla-latent", breakdown=False),
            P("deepseek-v2-lite", "train", "sdpa", 1, 8 * K, layers=2, recompute="none", breakdown=False),
            P("variant-mla", "train", "sdpa", 1, 8 * K, layers=2, recompute="mla-latent", breakdown=False)]
    return pts


def write_reports(out_dir: Path, result: dict) -> dict:
    """validate.json, validate.md and index.html (HTML skipped with a note if plotly is missing)."""
    rows = accuracy_table(result["points"])
    result["accuracy"] = rows
    write_json(out_dir / "validate.json", result)
    write_atomic(out_dir / "validate.md", markdown_summary(result, rows))
    try:
        write_atomic(out_dir / "index.html", html_report(result, rows))
    except ImportError:
        print("note: plotly is not installed; index.html not written", file=sys.stderr)
    return result


def run_validate(out_dir: str | os.PathLike, hw_path: str | None, *, quick: bool = False, resume: bool = False,
                 command: str = "", log=print, points: list[PointConfig] | None = None, suite_name: str = "default",
                 min_free_bytes: int = 4 * 2**30, gpus: int = 1) -> dict:
    """Run the suite, writing results as it goes. Returns the result dict. ``gpus`` > 1 (or ``suite_name``
    "multi"): then the multi-GPU points of :func:`.sharded.sharded_suite`, one group of processes each; "multi"
    runs only those."""
    import torch

    from mlacalc.hardware import load_hardware

    from .device import device_info, nvml_open, versions
    from .memory import cuda_context_cost
    from .memory import free_cuda_memory
    from .run import profile_point
    from .timing import L2Flusher

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    nvml, nvml_status = nvml_open(0)
    ctx = cuda_context_cost(nvml)  # first CUDA use in this process, so the context's cost can be seen
    free, total = torch.cuda.mem_get_info()
    if free < min_free_bytes:
        from .device import GPUUnavailable

        raise GPUUnavailable(f"GPU too small: {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB, the suite "
                             f"needs {min_free_bytes / 2**30:.0f} GiB")
    hw = load_hardware(hw_path or "h100-sxm")
    info = device_info(0)
    done: dict[str, dict] = {}
    if resume and (out / "validate.json").exists():
        for p in json.loads((out / "validate.json").read_text())["points"]:
            done[p["key"]] = p
    result = {"meta": {"command": command, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                       "device": info.as_dict(), "versions": versions(), "hardware": hw.to_dict(),
                       "hardware_file": hw_path, "cuda_context": ctx, "nvml": nvml_status, "gpus": gpus,
                       "nccl": _nccl_version(torch) if gpus > 1 or suite_name == "multi" else None,
                       "interrupted": False},
              "points": list(done.values()), "notes": ""}
    if nvml is None:
        log(f"note: NVML {nvml_status}; carrying on with the allocator's figures")
    flusher = L2Flusher(0)
    if points is not None:
        suite = points
    elif suite_name == "expected":
        suite = expected_suite()
    elif suite_name == "multi":
        suite = []
    else:
        suite = default_suite(quick)
    multi = sharded_suite(gpus) if (gpus > 1 or suite_name == "multi") and points is None else []
    try:
        for cfg in suite:
            if cfg.key() in done:
                continue
            try:
                point = profile_point(cfg, hw, flusher=flusher, nvml=nvml)
            except Exception as e:  # a broken point is recorded, never the end of the run
                point = {"key": cfg.key(), "config": cfg.__dict__, "status": "error",
                         "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300],
                         "traceback": traceback.format_exc()[-2000:], "comparisons": []}
                free_cuda_memory()
            result["points"].append(point)
            log(summary_line(point) if point["status"] != "error" else f"{cfg.key():<58} error: {point['error']}")
            write_json(out / "validate.json", result)
        if multi:
            flusher = None
            free_cuda_memory()
        for cfg in multi:          # one group of processes per point: a failing point cannot hang the next
            if cfg.key() in done:
                continue
            try:
                point = run_points([cfg], hw, backend="nccl")[0]
            except Exception as e:  # noqa: BLE001  (a broken point is recorded, never the end of the run)
                point = {"key": cfg.key(), "config": cfg.__dict__ | {"sharded": True, "gpus": cfg.gpus},
                         "status": "error", "error": f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"[:300],
                         "traceback": getattr(e, "detail", "") or traceback.format_exc()[-2000:], "comparisons": []}
            result["points"].append(point)
            log(summary_line(point) if point["status"] != "error" else f"{cfg.key():<58} error: {point['error']}")
            write_json(out / "validate.json", result)
    except KeyboardInterrupt:
        result["meta"]["interrupted"] = True
        log("interrupted: writing the points done so far")
    finally:
        del flusher
        torch.cuda.empty_cache()
        write_reports(out, result)
    return result


def _nccl_version(torch) -> str | None:
    try:
        v = torch.cuda.nccl.version()
    except (AttributeError, RuntimeError):
        return None
    return ".".join(map(str, v)) if isinstance(v, tuple) else str(v)


def repredict_train(result: dict) -> int:
    """Recompute the predicted side of the training points from their config with the current code (the
    measurements are untouched; CPU only). Returns how many points were updated."""
    from mlacalc.spec import load_spec

    from .train import predict_train, train_comparisons

    n = 0
    for p in result["points"]:
        c = p.get("config", {})
        if c.get("phase") != "train" or p.get("status") != "ok" or c.get("sharded"):
            continue
        pred = predict_train(load_spec(c["model"]), c["batch"], c["context"], p["layers_run"], c["recompute"])
        p["predicted"] = pred
        p["comparisons"] = train_comparisons(pred, p)
        n += 1
    return n


_POINT_KEYS = ("key", "config", "model", "attention", "layers_run", "layers_total", "scaled", "scale_note",
               "predicted", "comparisons", "achieved", "measured_full_model")


def repredict_inference(result: dict) -> int:
    """Recompute the predicted side of the inference points (KV bytes, working set, roofline latency with the
    run's hardware spec, launches included) with the current code, keeping the split count the kernels chose;
    measurements untouched, CPU only. Returns how many points were updated."""
    from mlacalc.hardware import hardware_from_dict
    from mlacalc.spec import load_spec

    from .run import PointConfig, assemble_inference, plan_inference

    hw = hardware_from_dict(dict(result["meta"]["hardware"]), "validate.json: meta.hardware")
    n = 0
    for i, p in enumerate(result["points"]):
        c = p.get("config", {})
        if c.get("phase") not in ("decode", "prefill") or p.get("status") != "ok" or c.get("sharded"):
            continue
        cfg = PointConfig(**c)
        spec = load_spec(cfg.model)
        plan = plan_inference(cfg, spec, hw, num_splits=p["predicted"].get("num_splits", 1))
        res = {k: v for k, v in p.items() if k not in _POINT_KEYS}
        result["points"][i] = assemble_inference(cfg, spec, plan, res)
        n += 1
    return n


def rerender(out_dir: str | os.PathLike, notes: str | None = None, *, repredict: bool = False) -> dict:
    """Rewrite the Markdown and HTML from an existing validate.json (e.g. to add the analysis notes); with
    ``repredict``, first recompute every point's predictions with the current code (measurements as run)."""
    out = Path(out_dir)
    result = json.loads((out / "validate.json").read_text())
    if repredict:
        nt, ni = repredict_train(result), repredict_inference(result)
        result["meta"]["repredicted"] = (f"{nt} training and {ni} inference points' predictions recomputed on the "
                                         "CPU after the run with the committed code; measurements as run")
    if notes is not None:
        result["notes"] = notes
    return write_reports(out, result)
