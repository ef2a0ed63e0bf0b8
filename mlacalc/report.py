"""Human views: rich tables for the calculator's results. Formatting only; every number comes in computed."""

from __future__ import annotations

from .units import fmt_bytes, fmt_count


# The sizes rich reads from the environment (rich.console.Console: ``value.isdigit()``, then ``int(value)``).
_SIZE_VARIABLES = ("COLUMNS", "LINES", "JUPYTER_COLUMNS", "JUPYTER_LINES")


def _size_given(value: str | None) -> bool:
    """Whether an environment size (``COLUMNS``, ``LINES``) is a positive whole number in ASCII digits."""
    import re

    return value is not None and re.fullmatch(r"[0-9]+", value.strip()) is not None and int(value) > 0


def console():
    """A rich console; piped output (no terminal, no COLUMNS) gets 130 columns instead of rich's 80, so that
    wide tables do not wrap in logs and README snippets. A COLUMNS that is not a positive whole number counts as
    unset: rich took COLUMNS=0 as a width of 0 and printed nothing. Such sizes are hidden from rich too: its
    ``isdigit()`` passes other digits than ASCII, and ``COLUMNS=²`` or ``LINES=²`` ended in a ValueError traceback
    from ``int()``."""
    import os
    import shutil
    import sys

    from rich.console import Console

    columns = os.environ.get("COLUMNS")
    given = _size_given(columns)
    environ = {k: v for k, v in os.environ.items() if k not in _SIZE_VARIABLES or _size_given(v)}
    if not given and not sys.stdout.isatty():
        return Console(width=130, _environ=environ)
    # a terminal's own width when COLUMNS says none (shutil skips a COLUMNS of 0 or a word; rich would take 0)
    return Console(width=None if given or columns is None else shutil.get_terminal_size().columns, _environ=environ)


# A cell up to this long is kept whole on one line (a number with its unit, a model name); longer cells (a
# description) wrap at spaces, and fold inside a word only where one word is longer than its column.
_WHOLE = 20
# A table's title and notes wrap at its width, or at this many columns when the table is narrower.
_NOTES = 100


def table(title: str, columns: list[str], rows: list[list[str]], caption: str | None = None) -> "FitTable":
    """A table of ``columns`` (the first column, labels, and prose columns left; figures right-aligned) that fits
    the console it is printed on without cutting a cell: see :class:`FitTable`."""
    return FitTable(title, list(columns), [list(r) for r in rows], caption)


class FitTable:
    """A rich renderable that picks its layout when printed, from the width it is given, so that no cell is cut:

    1. the table as is, each column at least as wide as its longest short cell (numbers such as ``131,072`` or
       ``274.50 MiB`` and model names never wrap; headers wrap at spaces);
    2. the same with the columns whose value is the same in every row lifted into a line above the caption,
       then with a compact box (no outer border, one space between columns);
    3. transposed (one column per row), when the first column names the rows uniquely (``compare`` of a few
       models on an 80-column terminal);
    4. stacked: one block of ``field  value`` lines per row (``sweep`` on a narrow terminal).

    Text still too wide for the console folds onto the next line; nothing is replaced by an ellipsis.
    """

    def __init__(self, title: str, columns: list[str], rows: list[list[str]], caption: str | None = None):
        self.title, self.columns, self.rows, self.caption = title, columns, rows, caption

    def __rich_console__(self, console, options):
        from rich import box
        from rich.measure import Measurement

        def fits(t) -> bool:  # measured unbounded: Measurement.get caps the minimum at the width it is given
            return Measurement.get(console, options.update_width(10**6), t).minimum <= options.max_width

        from rich.constrain import Constrain
        from rich.text import Text

        # The title and the caption are lines of their own, wrapped at the table's width or _NOTES columns, whichever
        # is wider (never past the console): as the table's own title and caption rich wrapped them at the table's
        # width, and a two-column table's notes came out three words a line.
        table, caption = self._layout(fits, options.max_width)
        width = min(options.max_width, max(_NOTES, Measurement.get(console, options, table).maximum))
        if self.title:
            yield Constrain(Text(self.title, style="table.title"), width)
        yield table
        if caption:
            yield Constrain(Text(caption, style="table.caption"), width)

    def _layout(self, fits, w: int):
        """The first layout (see the class docstring) that fits ``w`` columns, and the caption that goes with it."""
        from rich import box

        if fits(self._table(self.columns, self.rows, self.caption)):
            return self._table(self.columns, self.rows, self.caption, width=w), self.caption
        cols, rows, caption = self._lift_constants()
        for kind in (box.HEAVY_HEAD, box.SIMPLE_HEAD):
            if fits(self._table(cols, rows, caption, kind)):
                return self._table(cols, rows, caption, kind, width=w), caption
        labels = [r[0] for r in rows]
        if len(set(labels)) == len(labels) and len(labels) <= 12:
            t_cols = [cols[0]] + labels
            t_rows = [[c] + [r[i] for r in rows] for i, c in enumerate(cols) if i]
            if fits(self._table(t_cols, t_rows, caption)):
                return self._table(t_cols, t_rows, caption, width=w), caption
        return self._stacked(cols, rows, caption), caption

    def _lift_constants(self):
        """Columns (not the first) with one value in every row of two or more, moved into the caption."""
        if len(self.rows) < 2:
            return self.columns, self.rows, self.caption
        same = [i for i in range(1, len(self.columns)) if len({r[i] for r in self.rows}) == 1]
        if not same:
            return self.columns, self.rows, self.caption
        keep = [i for i in range(len(self.columns)) if i not in same]
        line = "every row: " + ", ".join(f"{self.columns[i]} {self.rows[0][i]}" for i in same)
        caption = line + (f"\n{self.caption}" if self.caption else "")
        return [self.columns[i] for i in keep], [[r[i] for i in keep] for r in self.rows], caption

    def _table(self, columns: list[str], rows: list[list[str]], caption: str | None, kind=None, width=None):
        """The rich Table. Given ``width``, columns get explicit widths that fit it when their natural widths
        do not: each starts at its minimum and the spare cells go to the columns that would wrap the most
        (rich's own shrinking can leave a table wider than the console, which then crops it)."""
        from rich import box
        from rich.table import Table

        compact = kind is box.SIMPLE_HEAD
        t = Table(box=kind or box.HEAVY_HEAD, show_edge=not compact, pad_edge=not compact)
        mins = [_column_min(c, [r[i] for r in rows]) for i, c in enumerate(columns)]
        for i, c in enumerate(columns):  # labels and prose (most cells longer than _WHOLE) left, figures right
            prose = i == 0 or 2 * sum(len(r[i]) > _WHOLE for r in rows) > len(rows)
            t.add_column(c, justify="left" if prose else "right", overflow="fold", min_width=mins[i])
        for r in rows:
            t.add_row(*r)
        if width is not None:
            natural = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
            n = len(columns)  # padding either side (none at the outer edges when compact), dividers, edges
            chrome = t.padding[1] * (2 * n - (0 if t.pad_edge else 2)) + (n - 1) + (2 if t.show_edge else 0)
            spare = width - chrome - sum(mins)
            if spare >= 0 and sum(natural) + chrome > width:
                widths = list(mins)
                while spare > 0 and any(w < n for w, n in zip(widths, natural)):
                    i = max(range(len(widths)), key=lambda k: natural[k] - widths[k])
                    widths[i] += 1
                    spare -= 1
                for col, w in zip(t.columns, widths):
                    col.width = w
        return t

    def _stacked(self, columns: list[str], rows: list[list[str]], caption: str | None):
        from rich.table import Table

        t = Table(show_header=False)
        fields = columns[1:]
        t.add_column(overflow="fold", min_width=min(_column_min("", fields) + 2, _WHOLE))
        t.add_column(justify="right", overflow="fold", min_width=_column_min("", [c for r in rows for c in r[1:]]))
        for n, r in enumerate(rows):
            t.add_row(f"{columns[0]}: {r[0]}" if columns[0] else r[0], "", style="bold")
            for name, cell in zip(fields, r[1:]):
                t.add_row(f"  {name}", cell)
            if n + 1 < len(rows):
                t.add_section()
        return t


def _column_min(header: str, cells: list[str]) -> int:
    """Narrowest width that keeps every short cell whole and every word of the header and long cells whole."""
    words = [w for text in [header, *cells] for w in str(text).split()]
    whole = [len(c) for c in cells if len(c) <= _WHOLE]
    return max([1, *whole, *(min(len(w), _WHOLE) for w in words)])


def _needed_width(columns: list[str], rows: list[list[str]]) -> int:
    """Console cells a rich table with the default box and padding needs at the columns' minimum widths:
    each column adds 1 space either side and a border, plus the outer border."""
    return sum(_column_min(c, [r[i] for r in rows]) + 3 for i, c in enumerate(columns)) + 1


def kv_table(r) -> object:
    """``mlacalc kv``: parts by row, scopes by column."""
    scopes = [("per token, layer", r.per_token_layer), ("per token", r.per_token),
              (f"per sequence ({r.context:,} tok)", r.per_sequence), (f"batch of {r.batch}", r.total),
              ("per GPU", r.per_gpu)]
    compressed = r.kind == "compressed"
    parts = [("latent c_KV", "latent"), ("RoPE key k_R", "rope_key"), ("K", "k"), ("V", "v"),
             ("window rows (K=V)", "window"), ("compressed entries (K=V)", "compressed"),
             ("indexer keys" if compressed else "indexer keys (DSA, MSA)", "indexer"),
             ("compressor buffers" if compressed else "linear-attn state", "state"), ("scales and zeros", "scales")]
    rows = [[label] + [fmt_bytes(getattr(kv, attr)) for _, kv in scopes]
            for label, attr in parts if getattr(r.per_sequence, attr)]
    rows.append(["total"] + [fmt_bytes(kv.total) for _, kv in scopes])
    sh = r.parallel
    # the cache form only where the family has more than one (MLA's latent or decompressed): "GQA (compressed
    # cache)" named a choice GQA does not have
    notes = [f"{r.kind.upper()}" + (f" ({r.cache} cache)" if r.cache_forms else "") + f", KV at {r.kv_bits:g} bits/element"
             + (f" ({r.kv_format} layout)" if r.kv_format else "")]
    if not r.kv_layers:       # a state-space model: no attention layer
        notes = [f"{r.kind.upper()}: no attention layer, nothing cached per token; the state of each sequence at "
                 f"{r.state_bits:g} bits (SSM state {r.ssm_state_bits:g})"]
    if r.kv_share_layers > 1:
        full, last = r.share_groups
        notes.append(f"cross-layer attention: {r.kv_layers} of {r.num_layers} layers cache K/V, each read by "
                     f"{full} layers" + (f" (the last by {last})" if last != full else ""))
    if r.kv_shared_tail:
        read = " and ".join(f"layer {layer}'s ({t})" for t, layer in r.kv_sources)
        notes.append(f"KV sharing: {r.kv_layers} of {r.num_layers} layers cache K/V; the last {r.kv_shared_tail} "
                     f"read {read}")
    if r.heads_vary:
        notes.append("K/V heads differ by layer (attention.layer_heads): per token, layer is the widest layer's; "
                     "per token sums every layer's own")
    if compressed:
        notes.append("per token: what a token adds beyond the window (its share of a compressed entry and indexer "
                     "key; per token, layer: a csa layer's); the window's rows and the compressor buffers are per "
                     "sequence")
    footnote = ""
    if r.capped and not compressed:     # per token x context is not per sequence: why, on a line of its own
        caps = " and ".join(f"{n} layer{'s' if n != 1 else ''} at {'their' if n != 1 else 'its'} {tokens:,}-token "
                            f"{kind}" for kind, tokens, n in r.capped)
        footnote = (f"\nper token is the uncapped figure (every layer keeping every token); per sequence caps "
                    f"{caps} (mlacalc.kv.capped_layers)")
    if r.block_size:
        notes.append(f"paged: blocks of {r.block_size} tokens")
    if sh.tp > 1 or sh.pp > 1 or sh.dp_attention:
        mode = "data-parallel attention" if sh.dp_attention else "tensor-parallel heads"
        seqs = f"{r.batch_per_gpu} sequence{'s' if r.batch_per_gpu != 1 else ''}"
        notes.append(f"TP={sh.tp} ({mode}), PP={sh.pp}; {seqs} per GPU")
    return table(f"KV cache: {r.model}", ["part"] + [s for s, _ in scopes], rows, "; ".join(notes) + footnote)


def quantization_text(q) -> str:
    """What a checkpoint's quantized components are stored at: the components, the method and its bits per value
    (scales included), routed experts at a width of their own where they have one; the rest at >= 16 bits."""
    at = (f"{', '.join(q.components)} {q.method} at {q.bits_per_value:g} bits (scales included), the rest at "
          f">= 16 bits")
    if q.experts_bits is not None:
        at += f"; routed_experts at {q.expert_bits_per_value:g} bits (their own width, scales included)"
    return at


def weights_caption(weight_bits: float, q) -> str:
    """The weights' width in a roofline or fit caption: the checkpoint's quantization where it prices the weights
    (no --weight-dtype), else the one width every matrix is priced at. "weights 16-bit" hid gpt-oss's MXFP4 experts
    and "weights 8-bit" DeepSeek-V4's."""
    return f"weights {weight_bits:g}-bit" if q is None else f"weights: {quantization_text(q)}"


def excluded_text(caveats: tuple) -> str:
    """``; `` and the spec's ``excluded`` lines (a config.json's vision encoder: not counted) for a weights, fit or
    train caption, from a report's ``caveats`` (:attr:`mlacalc.spec.ModelSpec.caveats`); "" where nothing is left
    out."""
    return "".join(f"; {line}" for line in dict(caveats).get("excluded", ()))


def weights_table(r) -> object:
    """The model's parameters by component (MTP apart), active per token, bytes, and what the fullest GPU holds."""
    names = ["embed", "per_layer_embed", "attention", "attention_unquantized", "dense_ffn", "router", "shared_experts",
             "routed_experts", "latent_proj", "residual", "norms", "fp32", "hash_tables", "head"]
    rows = []
    for n in names:
        if getattr(r.params, n):
            rows.append([n, fmt_count(getattr(r.params, n)), fmt_count(getattr(r.active, n)),
                         fmt_bytes(getattr(r.bytes, n)), fmt_bytes(getattr(r.per_gpu_bytes, n))])
    rows.append(["total", fmt_count(r.params.total), fmt_count(r.active.total), fmt_bytes(r.bytes.total),
                 fmt_bytes(r.per_gpu_bytes.total - r.per_gpu_bytes.mtp)])
    if r.mtp_params:
        rows.append(["+ MTP modules", fmt_count(r.mtp_params), "-", fmt_bytes(r.mtp_bytes),
                     fmt_bytes(r.per_gpu_bytes.mtp)])
    p = r.parallel
    q = r.quantization
    at = quantization_text(q) if q else f"weights at {r.weight_bits:g} bits (embed/head/router/norms at >= 16)"
    if r.params.fp32 or r.params.hash_tables:
        at += "; fp32: tensors kept in float32 (mHC mappings, sinks, position biases); hash_tables: int64 expert ids"
    if q and r.kept:
        at += f" (attention_unquantized: its {', '.join(r.kept)} kept at >= 16 bits)"
    rows_held = "one embedding row and one position row" if r.position_row else "one embedding row"
    cap = (f"{at}; active: {rows_held} and "
           f"the head ({fmt_count(r.active_non_embedding)} without them); per GPU with TP={p.tp}, EP={p.ep}, "
           f"PP={p.pp}{', DP attention' if p.dp_attention else ''} (fullest stage)")
    if r.params.per_layer_embed:
        cap += (f"; per_layer_embed: the per-layer embedding table, a lookup of one row a token that engines may keep "
                f"off the GPU ({fmt_count(r.params.total - r.params.per_layer_embed)} without it)")
    if r.params.residual:
        cap += "; residual: AltUp, LAuReL and per-layer-input matrices"
    if r.params.latent_proj:
        cap += ("; latent_proj: LatentMoE's d -> latent and latent -> d projections around the routed experts, whole "
                "on every GPU")
    if r.unused_kv:
        cap += f"; attention holds {fmt_count(r.unused_kv)} of k/v projections stored on KV-sharing layers, unused"
    cap += excluded_text(r.caveats)
    return table(f"Weights: {r.model}", ["component", "params", "active/token", "bytes", "per GPU"], rows, cap)


def layer_type_tables(r) -> list:
    """Compressed attention's (DeepSeek-V4) parameters of one layer of each type it has, by projection."""
    words = {"sliding": "window only", "csa": "window, compressor and indexer", "hca": "window and compressor"}
    out = []
    for t, per in r.attention_by_layer_type.items():
        rows = [[k, fmt_count(v)] for k, v in per.items()] + [["total", fmt_count(sum(per.values()))]]
        out.append(table(f"Attention parameters per {t} layer ({words[t]})", ["projection", "params"], rows))
    return out


def attention_table(r, sliding: bool = False) -> object:
    """One attention layer's parameters by projection; ``sliding``: a sliding layer's, where the sliding layers have
    a shape of their own (``attention.sliding_shape``)."""
    per = r.sliding_attention_per_layer if sliding else r.attention_per_layer
    rows = [[k, fmt_count(v)] for k, v in per.items()]
    rows.append(["total", fmt_count(sum(per.values()))])
    if sliding:
        return table("Attention parameters per sliding layer", ["projection", "params"], rows)
    title = "per full layer" if r.sliding_attention_per_layer else \
        "of the widest layer (heads differ by layer: attention.layer_heads)" if r.heads_vary else \
        "per MSA layer" if r.plain_layers else "per layer"
    cap = f"{r.plain_layers} layers run no indexer (attention.index_layers 0): these less index_*" \
        if r.plain_layers else None
    return table(f"Attention parameters {title}", ["projection", "params"], rows, cap)


def linear_attention_table(r, label: str, beside: bool = False) -> object:
    """The parameters of one linear layer (Gated DeltaNet, KDA, Mamba-2), by tensor, or with ``beside`` (parallel
    mixers: Falcon-H1) of the linear block every layer holds beside its attention; counted under attention."""
    rows = [[k, fmt_count(v)] for k, v in r.linear_attention_per_layer.items()]
    rows.append(["total", fmt_count(sum(r.linear_attention_per_layer.values()))])
    where = "per layer, beside its attention" if beside else "per linear layer"
    return table(f"{label} parameters {where}", ["tensor", "params"], rows,
                 "counted in the attention component above")


def compare_table(rows, context: int, batch: int) -> object:
    """Models side by side: the attention layers in words, KV per token at this context and in total (windows,
    chunks, indexer keys and linear-attention state included), parameters."""
    out = []
    for i, r in enumerate(rows):
        p = r.weights.params
        out.append([r.kv.model, r.pattern or r.kv.kind, f"{r.kv.kv_bits:g}",
                    fmt_bytes(r.kv.per_sequence.total / r.kv.context), fmt_bytes(r.kv.total.total),
                    f"{r.kv_ratio:.3f}", "baseline" if i == 0 else f"{r.kv_reduction_pct:.1f}%", fmt_count(p.total),
                    fmt_count(r.weights.active.total)])
    return table(f"Compare at context {context:,}, batch {batch} (baseline: {rows[0].kv.model})",
                 ["model", "attention layers", "kv bits", "KV/token", "KV total", "KV ratio", "KV reduction",
                  "params", "active"], out,
                 f"KV/token: the cache a sequence holds at {context:,} tokens, per token (sliding windows and chunks "
                 "hold less; DSA and MSA add their indexer keys; linear-attention state is constant); params: the "
                 "main model, without multi-token-prediction modules")