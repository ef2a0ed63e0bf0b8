"""Options and output helpers shared by every command (no arithmetic here)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Callable, Optional

import typer

from ..errors import SpecError
from ..spec import ModelSpec, load_spec
from ..units import dtype_bits, parse_count

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else.")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", help="What-if override of a spec field, validated like the file: --set attention.kv_lora_rank=256. "
                  "Repeatable.")]
AsOpt = Annotated[Optional[str], typer.Option(
    "--as", help="Turn the model's attention into mha, mqa or gqa:N with the same heads and head dims.")]
ContextOpt = Annotated[str, typer.Option("--context", "-c", help="Tokens per sequence (128k = 131072).")]
BatchOpt = Annotated[str, typer.Option("--batch", "-b", help="Sequences.")]
KvDtypeOpt = Annotated[Optional[str], typer.Option(
    "--kv-dtype", help="KV-cache dtype: bf16, fp16, fp32, fp8, int8, int4 (default: the spec's).")]
KvBitsOpt = Annotated[Optional[float], typer.Option(
    "--kv-bits", help="KV-cache bits per element, e.g. 6 (DeepSeek-V2's quantised cache).")]
MODEL_HELP = ("A built-in name (mlacalc specs list), a YAML spec, or a Hugging Face config.json (file or folder). "
              "Per-model overrides: NAME@field=value,field=value (and NAME@as=mha).")


def model_spec(model: str, sets: list[str] | None, as_: str | None) -> ModelSpec:
    return load_spec(model, sets or [], as_)


def count(text: str, flag: str, minimum: int = 1) -> int:
    return parse_count(text, flag, minimum)


def kv_bits(kv_dtype: str | None, kv_bits_: float | None) -> float | None:
    """Bits per KV element from --kv-dtype or --kv-bits (not both); None = the spec's default."""
    if kv_dtype is not None and kv_bits_ is not None:
        raise SpecError("--kv-bits", "give --kv-dtype or --kv-bits, not both")
    if kv_dtype is not None:
        return dtype_bits(kv_dtype, "--kv-dtype")
    if kv_bits_ is not None:
        return dtype_bits(kv_bits_, "--kv-bits")
    return None


def emit(as_json: bool, payload: dict, render: Callable[[], Any]) -> None:
    """Print ``payload`` as one JSON object, or call ``render`` for the human view."""
    if as_json:
        sys.stdout.write(json.dumps(payload, default=_json_default) + "\n")
    else:
        render()


def _json_default(o: Any) -> Any:
    if hasattr(o, "to_json"):
        return o.to_json()
    if hasattr(o, "as_dict"):
        return o.as_dict()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")
