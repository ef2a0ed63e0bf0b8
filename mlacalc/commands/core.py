"""Calculator core commands: kv, weights, compare, specs list|show|validate, schema."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import report
from ..attention import family
from ..compare import compare as compare_models
from ..errors import SpecError
from ..kv import CACHE_MODES, kv_report
from ..spec import builtin_names, json_schema, load_spec, spec_to_dict
from ..params import weights_report
from .common import (MODEL_HELP, AsOpt, BatchOpt, ContextOpt, CpNotOpt, CpOpt, DpAttnOpt, DpOpt, EpOpt, ImageTokensOpt,
                     JsonOpt, KvBitsOpt, KvDtypeOpt, PpOpt, SetOpt, SpOpt, StateDtypeOpt, TpOpt, count, emit, kv_bits,
                     kv_flag_text, kv_format, model_spec, naming_model, notes, parallelism, spec_sets)

ModelArg = Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)]


def kv(model: ModelArg, context: ContextOpt = "4k", batch: BatchOpt = "1",
       kv_dtype: KvDtypeOpt = None, kv_bits_: KvBitsOpt = None,
       cache: Annotated[str, typer.Option("--cache", help="compressed (MLA latent + RoPE key) or naive "
                                          "(decompressed per-head K and V).")] = "compressed",
       block_size: Annotated[Optional[int], typer.Option("--block-size", help="Paged allocation: round each "
                                                         "sequence up to whole blocks of N tokens.")] = None,
       tp: TpOpt = 1, pp: PpOpt = 1, dp: DpOpt = 1, ep: EpOpt = 1, cp: CpNotOpt = 1, sp: SpOpt = False,
       dp_attention: DpAttnOpt = False, image_tokens: ImageTokensOpt = None, state_dtype: StateDtypeOpt = None,
       set_: SetOpt = None, as_: AsOpt = None, json_: JsonOpt = False) -> None:
    """KV-cache bytes per token, layer, sequence, batch and GPU, split into latent, RoPE key, K, V, indexer keys
    (DSA) and linear-attention state."""
    if cache not in CACHE_MODES:
        raise SpecError("cache", f"must be one of {', '.join(CACHE_MODES)}, got {cache!r}")
    par = parallelism(tp, pp, dp, ep, cp, sp, dp_attention)
    spec = model_spec(model, spec_sets(set_, image_tokens, state_dtype), as_,
                      kv_flag_text(kv_dtype, kv_bits_))
    ctx = count(context, "context")
    r = kv_report(spec, ctx, count(batch, "batch"), kv_bits=kv_bits(kv_dtype, kv_bits_),
                  cache=cache, block_size=block_size, parallel=par, kv_format=kv_format(kv_dtype))
    notes(spec, ctx)
    emit(json_, r.to_json(), lambda: report.console().print(report.kv_table(r)))


def weights(model: ModelArg,
            weight_dtype: Annotated[Optional[str], typer.Option("--weight-dtype", help="bf16, fp8, int4, ... "
                                                                "(default: the spec's).")] = None,
            tp: TpOpt = 1, pp: PpOpt = 1, dp: DpOpt = 1, ep: EpOpt = 1, cp: CpOpt = 1, sp: SpOpt = False,
            dp_attention: DpAttnOpt = False,
            set_: SetOpt = None, as_: AsOpt = None, json_: JsonOpt = False) -> None:
    """Parameters and weight bytes by component: total (MTP apart), active per token, and per GPU."""
    par = parallelism(tp, pp, dp, ep, cp, sp, dp_attention)
    spec = model_spec(model, set_, as_)
    r = weights_report(spec, weight_dtype, par)
    notes(spec)

    def render():
        c = report.console()
        c.print(report.weights_table(r))
        for t in report.layer_type_tables(r) or [report.attention_table(r)]:
            c.print(t)
        if r.sliding_attention_per_layer:
            c.print(report.attention_table(r, sliding=True))
        if r.linear_attention_per_layer:
            b = spec.linear_attention
            c.print(report.linear_attention_table(r, family(b).label(b), spec.parallel_mixers))

    emit(json_, r.to_json(), render)


def compare(models: Annotated[list[str], typer.Argument(help="Two or more models; the first is the baseline. "
                                                        + MODEL_HELP, show_default=False)],
            context: ContextOpt = "4k", batch: BatchOpt = "1", kv_dtype: KvDtypeOpt = None,
            kv_bits_: KvBitsOpt = None, image_tokens: ImageTokensOpt = None, state_dtype: StateDtypeOpt = None,
            set_: SetOpt = None, as_: AsOpt = None, json_: JsonOpt = False) -> None:
    """Side-by-side KV cache and weights, with ratios to the first model."""
    ctx, b = count(context, "context"), count(batch, "batch")
    if len(models) < 2:
        raise SpecError("compare", f"needs two or more models (the first is the baseline), got {len(models)}")
    images = spec_sets(None, image_tokens)         # checks --image-tokens whichever models take it
    states = spec_sets(None, None, state_dtype)    # --state-dtype likewise: models with linear layers only
    specs = []
    for m in models:
        try:
            extra = (images if images and _has_layer(m, set_, "cross") else []) + \
                (states if states and model_spec(m, set_, None).holds_state else [])
            specs.append(model_spec(m, list(set_ or []) + extra, as_, kv_flag_text(kv_dtype, kv_bits_)))
        except SpecError as e:
            raise naming_model(m, e) from None
    if images and not any(any(s.layer_type(i) == "cross" for i in range(s.num_layers)) for s in specs):
        raise SpecError("--image-tokens", "none of the models has cross-attention layers")
    if states and not any(s.holds_state for s in specs):      # linear layers, or Falcon-H1's Mamba-2 beside attention
        raise SpecError("--state-dtype", "none of the models has linear-attention or Mamba layers")
    rows = compare_models(specs, ctx, b, kv_bits=kv_bits(kv_dtype, kv_bits_), kv_format=kv_format(kv_dtype))
    for s in specs:           # after every check: a warning line before an error line broke the one-line rule
        notes(s, ctx)
    payload = {"context": ctx, "batch": b, "baseline": rows[0].kv.model, "models": [r.to_json() for r in rows]}
    emit(json_, payload, lambda: report.console().print(report.compare_table(rows, ctx, b)))


def _has_layer(model: str, sets: list[str] | None, layer_type: str) -> bool:
    """Whether MODEL has layers of ``layer_type`` (``compare --image-tokens`` applies only to models with cross
    layers; ``--state-dtype`` to those holding a state, :attr:`ModelSpec.holds_state`)."""
    s = model_spec(model, sets, None)
    return any(s.layer_type(i) == layer_type for i in range(s.num_layers))


specs_app = typer.Typer(help="List, show and validate model specs.", no_args_is_help=True)


@specs_app.command("list")
def specs_list(json_: JsonOpt = False) -> None:
    """The built-in specs, with their attention and KV cache per token."""
    rows = []
    for name in builtin_names():
        s = load_spec(name)
        kvr = kv_report(s, 1, kv_bits=16)       # the column's bf16 (DeepSeek-V4's spec keeps fp8-ds rows)
        rows.append({"name": name, "attention": s.attention.kind, "layers": s.num_layers,
                     "heads": s.attention.num_heads, "kv_heads": s.attention.num_kv_heads,
                     "kv_bytes_per_token": kvr.per_token.total, "description": s.description})
    emit(json_, {"specs": rows}, lambda: report.console().print(report.table(
        "Built-in model specs", ["name", "attn", "layers", "heads", "kv heads", "KV/token (bf16)", "description"],
        [[r["name"], r["attention"], str(r["layers"]), str(r["heads"]), str(r["kv_heads"]),
          report.fmt_bytes(r["kv_bytes_per_token"]), r["description"]] for r in rows])))


@specs_app.command("show")
def specs_show(model: ModelArg, set_: SetOpt = None, as_: AsOpt = None, json_: JsonOpt = False) -> None:
    """The validated spec, with defaults filled in (YAML; JSON with --json)."""
    d = spec_to_dict(model_spec(model, set_, as_))

    def render():
        import yaml

        print(yaml.safe_dump(d, sort_keys=False), end="")

    emit(json_, d, render)


@specs_app.command("validate")
def specs_validate(files: Annotated[list[str], typer.Argument(help="Spec files or names.")],
                   json_: JsonOpt = False) -> None:
    """Validate specs; one line per file; exit code 2 if any is invalid."""
    results = []
    for f in files:
        try:
            load_spec(f)
            results.append({"spec": f, "ok": True, "error": None})
        except SpecError as e:
            results.append({"spec": f, "ok": False, "error": str(e)})

    def render():
        for r in results:      # one line per file, whatever characters its name holds
            breaks = len((r["spec"] + "x").splitlines()) > 1          # any line break, trailing ones too
            name = r["spec"].encode("unicode_escape").decode("ascii") if breaks else r["spec"]
            if r["ok"]:
                print(f"{name}: ok")
                continue
            error = " ".join(r["error"].splitlines())
            if error.startswith(f"{r['spec']}: "):    # a file-level error names the file itself: once is enough
                error = error[len(r["spec"]) + 2:]
            print(f"{name}: error: {error}")

    emit(json_, {"results": results}, render)
    if not all(r["ok"] for r in results):
        raise typer.Exit(2)


def schema(json_: JsonOpt = False) -> None:
    """The JSON Schema of a spec file (for editors: yaml-language-server)."""
    import json

    print(json.dumps(json_schema(), indent=None if json_ else 2))


def register(app: typer.Typer) -> None:
    app.command()(kv)
    app.command()(weights)
    app.command()(compare)
    app.add_typer(specs_app, name="specs")
    app.command()(schema)
