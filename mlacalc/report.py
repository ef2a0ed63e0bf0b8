"""Human views: rich tables for the calculator's results. Formatting only; every number comes in computed."""

from __future__ import annotations

from .units import fmt_bytes, fmt_count


def console():
    """A rich console; piped output (no terminal, no COLUMNS) gets 130 columns instead of rich's 80, so that
    wide tables do not wrap in logs and README snippets."""
    import os
    import sys

    from rich.console import Console

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(width=130 if piped else None)


def table(title: str, columns: list[str], rows: list[list[str]], caption: str | None = None):
    from rich.table import Table

    t = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*r)
    return t


def kv_table(r) -> object:
    """``mlacalc kv``: parts by row, scopes by column."""
    scopes = [("per token, layer", r.per_token_layer), ("per token", r.per_token),
              (f"per sequence ({r.context:,} tok)", r.per_sequence), (f"batch of {r.batch}", r.total),
              ("per GPU", r.per_gpu)]
    parts = [("latent c_KV", "latent"), ("RoPE key k_R", "rope_key"), ("K", "k"), ("V", "v")]
    rows = [[label] + [fmt_bytes(getattr(kv, attr)) for _, kv in scopes]
            for label, attr in parts if getattr(r.per_token, attr)]
    rows.append(["total"] + [fmt_bytes(kv.total) for _, kv in scopes])
    sh = r.sharding
    notes = [f"{r.kind.upper()} ({r.cache} cache), KV at {r.kv_bits:g} bits/element"]
    if r.block_size:
        notes.append(f"paged: blocks of {r.block_size} tokens")
    if sh.tp > 1 or sh.pp > 1:
        mode = "data-parallel attention" if sh.dp_attention else "tensor-parallel heads"
        seqs = f"{r.batch_per_gpu} sequence{'s' if r.batch_per_gpu != 1 else ''}"
        notes.append(f"TP={sh.tp} ({mode}), PP={sh.pp}; {seqs} per GPU")
    return table(f"KV cache: {r.model}", ["part"] + [s for s, _ in scopes], rows, "; ".join(notes))


def weights_table(r) -> object:
    names = ["embed", "attention", "dense_ffn", "router", "shared_experts", "routed_experts", "norms", "head", "mtp"]
    rows = []
    for n in names:
        if getattr(r.params, n):
            rows.append([n, fmt_count(getattr(r.params, n)), fmt_count(getattr(r.active, n)),
                         fmt_bytes(getattr(r.bytes, n)), fmt_bytes(getattr(r.per_gpu_bytes, n))])
    rows.append(["total", fmt_count(r.params.total), fmt_count(r.active.total), fmt_bytes(r.bytes.total),
                 fmt_bytes(r.per_gpu_bytes.total)])
    p = r.parallel
    cap = (f"weights at {r.weight_bits:g} bits (embed/head/router/norms at >= 16); per GPU with TP={p.tp}, "
           f"EP={p.ep}, PP={p.pp} (fullest stage)")
    return table(f"Weights: {r.model}", ["component", "params", "active/token", "bytes", "per GPU"], rows, cap)


def attention_table(r) -> object:
    rows = [[k, fmt_count(v)] for k, v in r.attention_per_layer.items()]
    rows.append(["total", fmt_count(sum(r.attention_per_layer.values()))])
    return table("Attention parameters per layer", ["projection", "params"], rows)


def compare_table(rows, context: int, batch: int) -> object:
    out = []
    for i, r in enumerate(rows):
        p = r.weights.params
        out.append([r.kv.model, r.kv.kind, f"{r.kv.kv_bits:g}", fmt_bytes(r.kv.per_token.total),
                    fmt_bytes(r.kv.total.total), f"{r.kv_ratio:.3f}", "baseline" if i == 0 else
                    f"{r.kv_reduction_pct:.1f}%", fmt_count(p.total - p.mtp), fmt_count(r.weights.active.total)])
    return table(f"Compare at context {context:,}, batch {batch} (baseline: {rows[0].kv.model})",
                 ["model", "attn", "kv bits", "KV/token", "KV total", "KV ratio", "KV reduction",
                  "params", "active"], out, "params: the main model, without multi-token-prediction modules")
