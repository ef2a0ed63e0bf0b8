"""mlacalc: how much memory, how fast, and how sure are we -- for MHA, MQA, GQA and MLA attention.

The calculator from Python (the same reports the CLI prints; ``report.to_json()`` is the command's ``--json``)::

    import mlacalc
    spec = mlacalc.load_spec("deepseek-v3")
    r = mlacalc.kv_cache(spec, context=32768, batch=4,
                         parallel=mlacalc.Parallelism(tp=8, dp_attention=True))
    r.per_gpu.total                     # bytes of KV cache on the fullest GPU

Names are imported on first use (PEP 562), so ``import mlacalc`` stays as light as the CLI's start-up needs.
"""

from __future__ import annotations

import importlib

__all__ = ["ArgError", "Parallelism", "SpecError", "fit", "kv_cache", "load_hardware", "load_spec", "roofline",
           "train_memory", "weights"]

_WHERE = {"ArgError": "errors", "SpecError": "errors", "Parallelism": "parallel", "load_spec": "spec",
          "load_hardware": "hardware", "kv_cache": "api", "weights": "api", "roofline": "api", "fit": "api",
          "train_memory": "api"}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlacalc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
