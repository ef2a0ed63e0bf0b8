"""Reports from a validation result set (pure Python; plotly only for the HTML): the accuracy table, a Markdown
summary and a self-contained HTML page (plotly.js inlined, works offline).

The accuracy table holds each of issue 6's targets against the points that bear on it:

- KV-cache bytes exact (every inference point that ran);
- peak inference memory within 2% (every inference point that ran);
- peak training memory within 5%, per recomputation mode;
- decode latency of the Triton kernels within 15% of the roofline with calibrated ceilings, on >= 90% of points;
- "does not fit" points: whether the calculator's fit prediction agreed.
"""

from __future__ import annotations

from .results import DOES_NOT_FIT, output_check_words, wrong_output


def _comp(point: dict, name: str) -> dict | None:
    for c in point.get("comparisons", []):
        if c["name"] == name:
            return c
    return None


def _row(target: str, comps: list[dict], need_share: float = 1.0) -> dict:
    judged = [c for c in comps if c is not None and c["ok"] is not None]
    passed = sum(1 for c in judged if c["ok"])
    errs = [abs(c["error_pct"]) for c in judged if c["error_pct"] is not None]
    share = passed / len(judged) if judged else None
    return {"target": target, "points": len(judged), "passed": passed, "share": share,
            "required_share": need_share, "max_abs_error_pct": max(errs) if errs else None,
            "median_abs_error_pct": sorted(errs)[len(errs) // 2] if errs else None,
            "met": None if share is None else share >= need_share}


def _sharded(p: dict) -> bool:
    """A multi-process point (``mlacalc profile --gpus N``, :mod:`.sharded`): judged by its own rows."""
    return bool(p.get("config", {}).get("sharded"))


def accuracy_table(points: list[dict]) -> list[dict]:
    ok = [p for p in points if p.get("status") == "ok" and not _sharded(p)]
    infer = [p for p in ok if p["config"]["phase"] != "train"]
    train = [p for p in ok if p["config"]["phase"] == "train"]
    rows = [_row("KV-cache bytes exact (allocator)", [_comp(p, "kv_bytes") for p in infer]),
            _row("Peak inference memory within 2%", [_comp(p, "peak_bytes") for p in infer])]
    for mode in ("none", "selective", "full", "mla-latent"):
        sel = [p for p in train if p["config"]["recompute"] == mode]
        if sel:
            rows.append(_row(f"Peak training memory within 5% (recompute {mode})",
                             [_comp(p, "peak_bytes") for p in sel]))
    # the dense Triton decode kernel against the roofline (DSA's sparse decode: shown beside its floor, not judged)
    tri = [p for p in infer if p["config"]["kernel"] == "triton" and p["config"]["phase"] == "decode"
           and p.get("attention") != "dsa"]
    rows.append(_row("Triton decode latency within 15% of roofline (>= 90% of points)",
                     [_comp(p, "latency_s") for p in tri], 0.9))
    held = [p for p in infer if not p["config"].get("calibration")]
    for kernel, phase, need, label in (("auto", "decode", 0.9, "Decode (auto) within 15% of expected"),
                                       ("triton", "decode", 0.9, "Decode (triton) within 15% of expected"),
                                       ("flashmla", "decode", 0.9, "Decode (flashmla) within 15% of expected"),
                                       ("sdpa", "prefill", 0.8, "Prefill (sdpa) within 20% of expected")):
        sel = [p for p in held if p["config"]["kernel"] == kernel and p["config"]["phase"] == phase]
        comps = [_comp(p, "latency_expected_s") for p in sel]
        if any(comps):
            rows.append(_row(label + f" (>= {need:.0%} of held-out points)", comps, need))
    rows += sharded_rows([p for p in points if p.get("status") == "ok" and _sharded(p)])
    oom = [p for p in points if p.get("status") == DOES_NOT_FIT and not _sharded(p)]
    if oom:
        agree = sum(1 for p in oom if p["fit"].get("fit_agrees"))
        rows.append({"target": "'does not fit' points: calculator predicted it", "points": len(oom),
                     "passed": agree, "share": agree / len(oom), "required_share": 1.0, "max_abs_error_pct": None,
                     "median_abs_error_pct": None, "met": agree == len(oom)})
    return rows


def sharded_rows(pts: list[dict]) -> list[dict]:
    """Issue 15's targets over the multi-GPU points (rows without a judged point are left out): per-rank KV and
    peak inference memory within 2%, training peak within 5% and model states exact, the collectives the
    calculator counts, communication time within 20% of the calibrated model, step latency within 15% of the
    expected time on >= 90% of held-out points."""
    dec = [p for p in pts if p["config"]["phase"] == "decode"]
    tr = [p for p in pts if p["config"]["phase"] == "train"]
    held = [p for p in dec if not p["config"].get("calibration")]
    specs = [("Multi-GPU: per-rank KV within 2%", [_comp(p, "kv_bytes") for p in dec], 1.0),
             ("Multi-GPU: per-rank peak inference memory within 2%", [_comp(p, "peak_bytes") for p in dec], 1.0),
             ("Multi-GPU: per-rank weights as the calculator splits them", [_comp(p, "weights_bytes") for p in dec],
              1.0),
             ("Multi-GPU: collectives per step as the calculator counts", [_comp(p, "collectives") for p in dec], 1.0),
             ("Multi-GPU: communication time within 20% of the calibrated model",
              [_comp(p, "comm_s") for p in dec], 1.0),
             ("Multi-GPU: step latency within 15% of expected (>= 90% of held-out points)",
              [_comp(p, "step_latency_expected_s") for p in held], 0.9),
             ("Multi-GPU training: model states per rank exact (ZeRO)",
              [_comp(p, n) for p in tr for n in ("weights_bytes", "grads_bytes", "optimizer_bytes")], 1.0),
             ("Multi-GPU training: per-rank peak within 5%", [_comp(p, "peak_bytes") for p in tr], 1.0)]
    rows = [_row(label, comps, need) for label, comps, need in specs]
    return [r for r in rows if r["points"]]


def _fmt_pct(x) -> str:
    return "n/a" if x is None else f"{x:.2f}%"


def _err_cell(e) -> str:
    return "" if e is None else f"{e:+.2f}%"


def _fmt_val(name: str, v) -> str:
    if v is None:
        return "n/a"
    if name.endswith("_s"):
        return f"{v * 1e6:,.1f} us" if v < 1e-2 else f"{v * 1e3:,.2f} ms"
    if name.endswith("bytes"):
        return f"{v / 2**20:,.2f} MiB"
    return f"{v:g}"


def accuracy_markdown(rows: list[dict]) -> str:
    lines = ["| target | points | passed | max abs error | median abs error | met |",
             "| --- | ---: | ---: | ---: | ---: | :---: |"]
    for r in rows:
        met = "n/a" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['target']} | {r['points']} | {r['passed']} | {_fmt_pct(r['max_abs_error_pct'])} | "
                     f"{_fmt_pct(r['median_abs_error_pct'])} | {met} |")
    return "\n".join(lines)


def error_rows(points: list[dict]) -> list[dict]:
    """One row per point and compared figure (the error table)."""
    out = []
    for p in points:
        if p.get("status") != "ok":
            fit = p.get("fit", {})
            out.append({"key": p["key"], "figure": "status", "predicted": "fits" if fit.get("predicted_fits")
                        else "does not fit", "measured": p.get("status"), "error_pct": None, "ok": fit.get("fit_agrees")})
            continue
        for c in p["comparisons"]:
            out.append({"key": p["key"], "figure": c["name"], "predicted": _fmt_val(c["name"], c["predicted"]),
                        "measured": _fmt_val(c["name"], c["measured"]), "error_pct": c["error_pct"], "ok": c["ok"]})
    return out


def markdown_summary(result: dict, rows: list[dict]) -> str:
    meta = result.get("meta", {})
    pts = result["points"]
    wrong = [p for p in pts if wrong_output(p)]
    hw = meta.get("hardware", {})
    links = []                  # the interconnect the multi-GPU points are held to
    if (meta.get("gpus") or 1) > 1 or any(_sharded(p) for p in pts):
        links.append(f"GPUs: {meta.get('gpus')}, NCCL {meta.get('nccl') or 'n/a'}; interconnect "
                     f"{hw.get('interconnect_gb_s', 'n/a')} GB/s (all-reduce bus bandwidth), collective latency "
                     f"{hw.get('collective_latency_us', 0) or 'not measured'}"
                     f"{' us' if hw.get('collective_latency_us') else ''}  ")
    lines = [f"# Validation on {meta.get('device', {}).get('name', 'GPU')}", "",
             f"Command: `{meta.get('command', '')}`  ", f"Date: {meta.get('date', '')}  ",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items() if v) + "  ",
             f"Calibrated ceilings: copy {hw.get('mem_bandwidth_gb_s', 'n/a')} GB/s, bf16 "
             f"{hw.get('bf16_tflops', 'n/a')} TFLOP/s, fp8 {hw.get('fp8_tflops', 'n/a')} TFLOP/s, kernel launch "
             f"{hw.get('kernel_launch_us', 0) or 'not measured'}{' us' if hw.get('kernel_launch_us') else ''} "
             f"({hw.get('source', '')})  ",
             *links,
             f"Points: {len(pts)} ({sum(p.get('status') == 'ok' for p in pts)} ran, "
             f"{sum(p.get('status') == DOES_NOT_FIT for p in pts)} did not fit, "
             f"{sum(p.get('status') == 'error' for p in pts)} failed"
             + (f", {len(wrong)} computed a WRONG output" if wrong else "") + ")"
             + (" - INTERRUPTED, partial" if meta.get("interrupted") else ""), "",
             "## Accuracy", "", accuracy_markdown(rows), "",
             "## Points", "", "| point | figure | predicted | measured | error | ok |",
             "| --- | --- | ---: | ---: | ---: | :---: |"]
    for r in error_rows(pts):
        ok = "" if r["ok"] is None else ("yes" if r["ok"] else "**no**")
        lines.append(f"| {r['key']} | {r['figure']} | {r['predicted']} | {r['measured']} | "
                     f"{_fmt_pct(r['error_pct']) if r['error_pct'] is not None else ''} | {ok} |")
    failed = [p for p in pts if p.get("status") == "error"]
    if wrong:
        lines += ["", "## Points whose output was wrong (their times are of the wrong work)", ""]
        lines += [f"- {p['key']}: {output_check_words(p['output_check'])}" for p in wrong]
    if failed:
        lines += ["", "## Points that failed", ""] + [f"- {p['key']}: {p.get('error', '')}" for p in failed]
    if meta.get("repredicted"):
        lines += ["", f"Predictions: {meta['repredicted']}."]
    if result.get("notes"):
        lines += ["", "## Notes", "", result["notes"]]
    return "\n".join(lines) + "\n"


def html_report(result: dict, rows: list[dict]) -> str:
    """A self-contained HTML page: accuracy table, predicted-vs-measured charts, a roofline with the measured
    points, and the error table."""
    import html

    import plotly.graph_objects as go
    from plotly.io import to_html
    from plotly.subplots import make_subplots

    pts = [p for p in result["points"] if p.get("status") == "ok" and not _sharded(p)]   # tables only
    meta = result.get("meta", {})
    hw = meta.get("hardware", {})
    figs = []

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Latency: roofline prediction vs measured",
                                                        "Peak memory: predicted vs measured"))
    for kernel, sym in (("triton", "circle"), ("sdpa", "square"), ("eager", "diamond")):
        sel = [p for p in pts if p["config"]["kernel"] == kernel and p["config"]["phase"] != "train"]
        lat = [(p, _comp(p, "latency_s")) for p in sel]
        fig.add_trace(go.Scatter(x=[c["predicted"] * 1e6 for _, c in lat], y=[c["measured"] * 1e6 for _, c in lat],
                                 mode="markers", name=f"{kernel} latency", marker_symbol=sym,
                                 text=[p["key"] for p, _ in lat]), row=1, col=1)
    for phase in ("decode", "prefill", "train"):
        sel = [(p, _comp(p, "peak_bytes")) for p in pts if p["config"]["phase"] == phase]
        fig.add_trace(go.Scatter(x=[c["predicted"] / 2**30 for _, c in sel], y=[c["measured"] / 2**30 for _, c in sel],
                                 mode="markers", name=f"{phase} peak", text=[p["key"] for p, _ in sel]), row=1, col=2)
    lat_all = [_comp(p, "latency_s") for p in pts if _comp(p, "latency_s")]
    if lat_all:
        lo = min(min(c["predicted"], c["measured"]) for c in lat_all) * 1e6 * 0.8
        hi = max(max(c["predicted"], c["measured"]) for c in lat_all) * 1e6 * 1.25
        for f, dash in ((1.0, "solid"), (1.15, "dot"), (1 / 1.15, "dot")):
            fig.add_trace(go.Scatter(x=[lo, hi], y=[lo * f, hi * f], mode="lines", showlegend=f == 1.0,
                                     name="y = x (+-15%)", line=dict(dash=dash, color="grey")), row=1, col=1)
    fig.update_xaxes(type="log", title_text="predicted (us)", row=1, col=1)
    fig.update_yaxes(type="log", title_text="measured (us)", row=1, col=1)
    fig.update_xaxes(title_text="predicted (GiB)", row=1, col=2)
    fig.update_yaxes(title_text="measured (GiB)", row=1, col=2)
    fig.update_layout(height=480)
    figs.append(fig)

    bw, peak = hw.get("mem_bandwidth_gb_s"), hw.get("bf16_tflops")
    rf = go.Figure()
    inf = [p for p in pts if p["config"]["phase"] != "train" and "achieved" in p]
    if bw and peak:
        xs = [2 ** (i / 4) for i in range(-8, 60)]
        rf.add_trace(go.Scatter(x=xs, y=[min(peak, x * bw / 1e3) for x in xs], mode="lines",
                                name=f"roofline ({bw:.0f} GB/s, {peak:.0f} TFLOP/s, calibrated)"))
    for kernel in ("triton", "sdpa", "eager"):
        sel = [p for p in inf if p["config"]["kernel"] == kernel]
        rf.add_trace(go.Scatter(x=[p["predicted"]["attn_core"]["intensity"] for p in sel],
                                y=[p["achieved"]["tflops"] for p in sel], mode="markers", name=kernel,
                                text=[p["key"] for p in sel]))
    rf.update_layout(title="Attention core: measured points on the calibrated roofline", height=480,
                     xaxis=dict(type="log", title="arithmetic intensity (FLOP/byte)"),
                     yaxis=dict(type="log", title="achieved TFLOP/s"))
    figs.append(rf)

    parts = []
    for i, f in enumerate(figs):
        parts.append(to_html(f, full_html=False, include_plotlyjs=(i == 0)))
    acc = "".join(
        f"<tr><td>{html.escape(r['target'])}</td><td>{r['points']}</td><td>{r['passed']}</td>"
        f"<td>{_fmt_pct(r['max_abs_error_pct'])}</td><td>{_fmt_pct(r['median_abs_error_pct'])}</td>"
        f"<td class={'ok' if r['met'] else 'miss'}>{'n/a' if r['met'] is None else ('yes' if r['met'] else 'no')}"
        f"</td></tr>" for r in rows)
    errs = "".join(
        f"<tr><td>{html.escape(r['key'])}</td><td>{r['figure']}</td><td>{html.escape(str(r['predicted']))}</td>"
        f"<td>{html.escape(str(r['measured']))}</td>"
        f"<td>{_err_cell(r['error_pct'])}</td>"
        f"<td class={'' if r['ok'] is None else ('ok' if r['ok'] else 'miss')}>"
        f"{'' if r['ok'] is None else ('yes' if r['ok'] else 'no')}</td></tr>" for r in error_rows(result["points"]))
    prov = html.escape(f"command: {meta.get('command', '')} | date: {meta.get('date', '')} | "
                       + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items() if v))
    notes = html.escape(result.get("notes", ""))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>mlacalc validation</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:3px 8px;font-size:13px}} .ok{{background:#dfd}} .miss{{background:#fdd}}</style></head><body>
<h1>mlacalc validation on {html.escape(meta.get('device', {}).get('name', 'GPU'))}</h1><p>{prov}</p>
<h2>Accuracy</h2><table><tr><th>target</th><th>points</th><th>passed</th><th>max abs error</th>
<th>median abs error</th><th>met</th></tr>{acc}</table><p>{notes}</p>
{''.join(parts)}
<h2>Every point</h2><table><tr><th>point</th><th>figure</th><th>predicted</th><th>measured</th><th>error</th>
<th>ok</th></tr>{errs}</table></body></html>
"""
