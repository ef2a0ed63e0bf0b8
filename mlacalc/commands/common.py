"""Options and output helpers shared by every command (no arithmetic here)."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Annotated, Any, Callable, Optional

import typer

from ..errors import ArgError, SpecError
from ..kv import kv_dtype_layout
from ..parallel import Parallelism
from ..spec import ModelSpec, kv_dtype_assignment, load_spec
from ..units import dtype_bits, parse_count

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else.")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", help="What-if override of a spec field, validated like the file: --set attention.kv_lora_rank=256. "
                  "Repeatable.")]
AsOpt = Annotated[Optional[list[str]], typer.Option(
    "--as", help="Turn the model's attention into mha, mqa or gqa:N with the same heads and head dims.")]
ContextOpt = Annotated[str, typer.Option("--context", "-c", help="Tokens per sequence (128k = 131072).")]
BatchOpt = Annotated[str, typer.Option("--batch", "-b", help="Sequences.")]
KvDtypeOpt = Annotated[Optional[str], typer.Option(
    "--kv-dtype", help="KV-cache dtype: bf16, fp16, fp32, fp8; int8 or int4 (LMDeploy: a scale and zero point per "
                       "head and token), fp4 (SGLang) or nvfp4 (vLLM): e2m1, a scale per 16 values, or fp8-ds (DSA: "
                       "FlashMLA's 656-byte sparse MLA layout). Default: the spec's dtypes.kv, layout included; for a "
                       "config.json the KV dtype the checkpoint declares, as vLLM's --kv-cache-dtype auto reads it.")]
ImageTokensOpt = Annotated[Optional[int], typer.Option(
    "--image-tokens", help="Image tokens each sequence's cross-attention layers attend and cache (Llama-3.2-"
                           "Vision; default 0).")]
StateDtypeOpt = Annotated[Optional[str], typer.Option(
    "--state-dtype", help="Linear-attention and Mamba (1, 2) state dtype, recurrent and convolution state alike "
                          "(default: the spec's: the model dtype; Nemotron-H's SSM state fp32, as vLLM keeps it).")]
KvBitsOpt = Annotated[Optional[float], typer.Option(
    "--kv-bits", help="KV-cache bits per element, e.g. 6 (DeepSeek-V2's quantised cache).")]
# Parallelism: the same flags, with the same meaning and the same checks (mlacalc.parallel), on every command that
# places a model on GPUs. A command that does not model a degree refuses it (Parallelism.require).
TpOpt = Annotated[int, typer.Option("--tp", help="Tensor-parallel ranks (query heads split; KV heads split or "
                                    "replicated; an MLA latent is held whole by every rank).")]
PpOpt = Annotated[int, typer.Option("--pp", help="Pipeline stages (consecutive runs of ceil(L / pp) layers).")]
DpOpt = Annotated[int, typer.Option("--dp", help="Data-parallel ranks.")]
EpOpt = Annotated[int, typer.Option("--ep", help="Expert-parallel ranks, drawn from tp x dp: each holds "
                                    "E / ep whole routed experts (MoE models only).")]
CpOpt = Annotated[int, typer.Option("--cp", help="Context-parallel ranks (each sequence split).")]
SpOpt = Annotated[bool, typer.Option("--sp", help="Sequence parallelism over the TP ranks.")]
DpAttnOpt = Annotated[bool, typer.Option("--dp-attention", help="Data-parallel attention: each TP rank runs all "
                                         "heads for its share of the sequences; FFN/MoE stays split.")]
# The same flags where a command does not model the degree: accepted and refused in one line naming what it models,
# but left out of --help (they were listed there with a description, then refused).
TpNotOpt = Annotated[int, typer.Option("--tp", hidden=True)]
PpNotOpt = Annotated[int, typer.Option("--pp", hidden=True)]
DpNotOpt = Annotated[int, typer.Option("--dp", hidden=True)]
CpNotOpt = Annotated[int, typer.Option("--cp", hidden=True)]
SpNotOpt = Annotated[bool, typer.Option("--sp", hidden=True)]

# Library argument names -> this CLI's flags, where they differ from `--` + the name with dashes.
FLAGS = {"kernel": "--attention-kernel", "reserve_bytes": "--reserve-gib", "workspace_bytes": "--workspace",
         "as_attention": "--as", "overrides": "--set", "kv_bits": "--kv-bits", "non_torch_bytes": "--non-torch",
         "cudagraph_bytes": "--cudagraph-mem", "loss_parallel": "--no-loss-parallel"}
ARGUMENTS = {"tp", "pp", "dp", "ep", "cp", "sp", "dp_attention", "tp_style", "context", "batch", "q_tokens", "phase",
             "mla_form", "cache", "block_size", "micro_batch", "seq", "recompute", "convention", "precision", "zero",
             "gpu_mem_util", "workspace_tokens", "weight_dtype", "kv_dtype", "gpus", "gpu"} | set(FLAGS)


def flag_message(e: SpecError) -> str:
    """The one-line message of a library error, its argument named as this CLI's flag (``tp`` -> ``--tp``)."""
    return where_message(e.field, e.message, isinstance(e, ArgError))


def where_message(field: str, message: str, argument: bool = False) -> str:
    """``field: message`` with a library argument name turned into this CLI's flag."""
    if argument or field in ARGUMENTS:
        field = FLAGS.get(field, "--" + field.replace("_", "-"))
    return f"{field}: {message}" if field else message


def parallelism(tp: int = 1, pp: int = 1, dp: int = 1, ep: int = 1, cp: int = 1, sp: bool = False,
                dp_attention: bool = False, tp_style: str = "megatron", loss_parallel: bool = True) -> Parallelism:
    """The :class:`Parallelism` of a command's flags (validated by its constructor)."""
    return Parallelism(tp=tp, pp=pp, dp=dp, ep=ep, cp=cp, sp=sp, dp_attention=dp_attention, tp_style=tp_style,
                       loss_parallel=loss_parallel)


MODEL_HELP = ("A built-in name (mlacalc specs list), a YAML spec, or a Hugging Face config.json (file or folder). "
              "Per-model overrides: NAME@field=value,field=value (and NAME@as=mha).")


def model_spec(model: str, sets: list[str] | None, as_: str | list[str] | None,
               kv_flag: str | None = None) -> ModelSpec:
    """Load MODEL with ``--set`` overrides and one ``--as`` (a repeated ``--as`` is refused: only ``fit`` and
    ``sweep`` compare several, and they call this once per variant). ``kv_flag``: the global KV flag given
    (:func:`kv_flag_text`), which replaces a KV dtype the model's own overrides set: the spec then carries a warning
    saying so (printed by :func:`notes`, listed in ``--json``'s ``"warnings"``); the global flag still wins."""
    if isinstance(as_, list):
        if len(as_) > 1:
            raise ArgError("as_attention", f"given {len(as_)} times; this command takes one")
        as_ = as_[0] if as_ else None
    spec = load_spec(model, sets or [], as_)
    own = kv_dtype_assignment(model, sets) if kv_flag else None
    if own:
        spec = dataclasses.replace(spec, warnings=spec.warnings + (
            f"{kv_flag} replaces the KV dtype its own override sets ({own}); the global flag wins",))
    return spec


def kv_flag_text(kv_dtype: str | None, kv_bits_: float | None) -> str | None:
    """The global KV flag as given (``--kv-dtype fp8``, ``--kv-bits 4``), or None."""
    if kv_dtype is not None:
        return f"--kv-dtype {kv_dtype}"
    return None if kv_bits_ is None else f"--kv-bits {kv_bits_:g}"


def naming_model(model: str, e: SpecError) -> SpecError:
    """``e`` with ``model`` in front, for a command that loads several models: ``compare llama-3.1-8b bad.yaml`` said
    only "attention.head_dim: must be at least 1, got -128". A flag's error (:class:`ArgError`: it is the same for
    every model) and one whose field names the model already (an unknown name, an unreadable file) are kept."""
    path = model.split("@")[0]
    if isinstance(e, ArgError) or e.field.startswith("--") or e.field in ARGUMENTS or \
            e.field.startswith((path + "/", path + ":", path + "@")) or e.field in (path, model):
        return e
    return SpecError(model, flag_message(e))


def count(text: str, flag: str, minimum: int = 1) -> int:
    return parse_count(text, flag, minimum)


def kv_bits(kv_dtype: str | None, kv_bits_: float | None) -> float | None:
    """Bits per KV value from --kv-dtype or --kv-bits (not both); None = the spec's default. A layout
    (:func:`kv_format`: fp8-ds, int4, int8, fp4) gives its values' bits; its scales are in the layout's bytes."""
    if kv_dtype is not None and kv_bits_ is not None:
        raise ArgError("kv_bits", "give --kv-dtype or --kv-bits, not both")
    if kv_dtype is not None:
        return kv_dtype_layout(kv_dtype)[0]
    if kv_bits_ is not None:
        return dtype_bits(kv_bits_, "kv_bits")
    return None


def kv_format(kv_dtype: str | None) -> str | None:
    """The cache layout ``--kv-dtype`` names (``fp8-ds``: FlashMLA's 656-byte MLA rows; ``int4``/``int8``:
    LMDeploy's per-head scaled values; ``fp4``/``nvfp4``: SGLang's / vLLM's e2m1 with 16-value scales), or None (then,
    with no ``--kv-bits`` either, the calculators take the spec's ``dtypes.kv`` and its layout)."""
    return None if kv_dtype is None else kv_dtype_layout(kv_dtype)[1]


def spec_sets(sets: list[str] | None, image_tokens: int | None = None, state_dtype: str | None = None) -> list[str]:
    """``--set`` overrides plus the ones --image-tokens and --state-dtype stand for. Their values are checked here
    under their own flag names (the spec's checks named ``image_tokens`` and ``dtypes.state``, and a YAML reading
    took ``--state-dtype 0x10`` for 16 bits)."""
    out = list(sets or [])
    if image_tokens is not None:
        out.append(f"image_tokens={count(str(image_tokens), '--image-tokens', 0)}")
    if state_dtype is not None:
        dtype_bits(state_dtype, "--state-dtype")
        out += [f"dtypes.state={state_dtype}", f"dtypes.ssm_state={state_dtype}"]    # both states
    return out


def notes(spec: ModelSpec, context: int | None = None) -> None:
    """One-line notes on stderr about what a number leaves to the user (never in --json's stdout, which lists the
    spec's ``warnings`` in its own ``"warnings"``): what the reading of a config.json assumed (an unknown model_type
    sized as a standard decoder, which was silent), cross layers without image tokens, a context past the model's."""
    for w in spec.warnings:
        print(f"warning: {spec.name}: {w}", file=sys.stderr)
    if any(spec.layer_type(i) == "cross" for i in range(spec.num_layers)) and spec.image_tokens == 0:
        print("note: the cross-attention layers cache no image tokens; give --image-tokens N for N image tokens "
              "per sequence", file=sys.stderr)
    warning = context_warning(spec, context)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def context_warning(spec: ModelSpec, context: int | None) -> str | None:
    """The words for a context past the model's configured limit (``max_context``, a config's
    ``max_position_embeddings``), or None: :func:`notes` prints them, and ``sweep`` once per model and context."""
    limit = getattr(spec, "max_context", None)
    if context is not None and limit and context > limit:
        return f"--context {context:,} exceeds {spec.name}'s max_position_embeddings {limit:,}"
    return None


def emit(as_json: bool, payload: dict, render: Callable[[], Any]) -> None:
    """Print ``payload`` as one strict JSON object (RFC 8259: no NaN or Infinity), or call ``render`` for the
    human view. A non-finite number in a result is a bug (an input that should have been refused): it raises
    ``ValueError`` naming where it is, rather than printing JSON that strict parsers reject."""
    if not as_json:
        render()
        return
    try:
        text = json.dumps(payload, default=_json_default, allow_nan=False)
    except ValueError:
        import math

        todo, where = [("", json.loads(json.dumps(payload, default=_json_default)))], "?"
        while todo:  # find the first NaN/inf, e.g. models[1].kv_ratio
            path, v = todo.pop()
            if isinstance(v, float) and not math.isfinite(v):
                where = path or "(top level)"
                break
            if isinstance(v, dict):
                todo.extend((f"{path}.{k}" if path else str(k), x) for k, x in v.items())
            elif isinstance(v, list):
                todo.extend((f"{path}[{i}]", x) for i, x in enumerate(v))
        raise ValueError(f"--json: non-finite number at {where}") from None
    sys.stdout.write(text + "\n")


def _json_default(o: Any) -> Any:
    if hasattr(o, "to_json"):
        return o.to_json()
    if hasattr(o, "as_dict"):
        return o.as_dict()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")
