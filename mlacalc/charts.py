"""Charts for ``mlacalc sweep --plot``: one self-contained HTML file (plotly.js inside, works offline).

Plotly is imported inside the functions, so the CLI never pays for it unless a chart is asked for.
Every number drawn comes from a :class:`mlacalc.sweep.Sweep`; nothing is computed here but unit conversions.
"""

from __future__ import annotations

GIB = 2**30


def sweep_figure(sw):
    """Four panels: KV cache per sequence against context (per variant), the largest batch against context,
    a roofline with each op of the focus step as a point, and the focus step's latency stacked by op."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go
    import plotly.colors as pc

    fc = sw.focus_config
    fig = make_subplots(rows=2, cols=2, horizontal_spacing=0.09, vertical_spacing=0.14, subplot_titles=(
        "KV cache per sequence vs context",
        f"Largest batch vs context ({fc.get('gpus', '?')} x {fc.get('gpu', '?')})",
        f"Roofline: ops of one {fc.get('phase', '')} step (batch {fc.get('batch', '?')}, context {fc.get('context', '?'):,})"
        if fc else "Roofline",
        "Step latency by op (same step)"))
    variants = list(dict.fromkeys(r.variant for r in sw.rows))
    colors = {v: pc.qualitative.Plotly[i % 10] for i, v in enumerate(variants)}

    for v in variants:
        rows = sorted({r.context: r for r in sw.rows if r.variant == v}.values(), key=lambda r: r.context)
        fig.add_trace(go.Scatter(x=[r.context for r in rows], y=[r.kv_bytes_per_seq / GIB for r in rows],
                                 mode="lines+markers", name=v, legendgroup=v, line={"color": colors[v]}), 1, 1)
        mb = sorted({r.context: r for r in sw.rows if r.variant == v and r.gpu == fc.get("gpu")
                     and r.gpus == fc.get("gpus")}.values(), key=lambda r: r.context)
        fig.add_trace(go.Scatter(x=[r.context for r in mb], y=[r.max_batch for r in mb], mode="lines+markers",
                                 name=v, legendgroup=v, showlegend=False, line={"color": colors[v]}), 1, 2)

    ridge_drawn = False
    for v, rf in sw.focus.items():
        if not ridge_drawn:
            bw, peak = rf.gpu.mem_bandwidth_bytes_s, max(t.peak_flops_s for t in rf.ops)
            xs = [0.1, peak / bw, 1e5]
            fig.add_trace(go.Scatter(x=xs, y=[min(peak, bw * x) for x in xs], mode="lines", name="roofline",
                                     line={"color": "black", "dash": "dash"}), 2, 1)
            ridge_drawn = True
        pts = [t for t in rf.ops if t.op.bytes and t.time_s]
        fig.add_trace(go.Scatter(
            x=[t.op.intensity for t in pts], y=[t.op.flops / t.time_s if t.op.flops else 1e9 for t in pts],
            mode="markers+text", text=[t.op.name for t in pts], textposition="top center", textfont={"size": 9},
            marker={"size": 9, "color": colors.get(v)}, name=v, legendgroup=v, showlegend=False,
            hovertemplate="%{text}<br>%{x:.1f} FLOP/B<br>%{y:.3g} FLOP/s"), 2, 1)
    ops = list(dict.fromkeys(t.op.name for rf in sw.focus.values() for t in rf.ops))
    fits = {r.variant: r.fits for r in sw.rows if r.gpu == fc.get("gpu") and r.gpus == fc.get("gpus")
            and r.context == fc.get("context") and r.batch == fc.get("batch")}
    bars = [v if fits.get(v, True) else f"{v} (does not fit)" for v in sw.focus]
    seg = pc.qualitative.Dark24
    for i, name in enumerate(ops):
        ys = []
        for v in sw.focus:
            t = next((t for t in sw.focus[v].ops if t.op.name == name), None)
            ys.append(t.time_s * 1e3 if t else 0.0)
        fig.add_trace(go.Bar(x=bars, y=ys, name=name, legendgroup="ops", marker={"color": seg[i % 24]},
                             hovertemplate=name + ": %{y:.3f} ms"), 2, 2)
    fig.update_layout(barmode="stack", height=900, width=1400, title="mlacalc sweep", legend={"font": {"size": 10}})
    fig.update_xaxes(type="log", title_text="context (tokens)", row=1, col=1)
    fig.update_yaxes(title_text="GiB per sequence", type="log", row=1, col=1)
    fig.update_xaxes(type="log", title_text="context (tokens)", row=1, col=2)
    fig.update_yaxes(title_text="sequences", type="log", row=1, col=2)
    fig.update_xaxes(type="log", title_text="arithmetic intensity (FLOP/byte)", row=2, col=1)
    fig.update_yaxes(type="log", title_text="attained FLOP/s", row=2, col=1)
    fig.update_yaxes(title_text="ms per step (one GPU)", row=2, col=2)
    return fig


def write_sweep_html(sw, path: str) -> str:
    """Write the sweep charts to ``path`` as one offline HTML file (plotly.js embedded). Returns the path."""
    fig = sweep_figure(sw)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path
