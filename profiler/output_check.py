"""Did the call a point timed compute attention? One sequence, checked once after timing.

A profiler that never looks at what it times can time the wrong work: until the thirty-second session every DSA
point on a contiguous cache read sequence 0's rows (the indices were positions where the kernel reads pool rows),
an L2-resident read timed at 3.5 TB/s on an H100, and nothing said so. So each decode point now runs its first layer
of every distinct held length once more and compares the last sequence's output (the one a mix-up of sequences or
pages is least likely to get right by accident: sequence 0's rows are also the pool's first) with the reference
computed in float32 from that sequence's own rows (`kernels.testing.mla_sequence_reference` and its kin), relative
error in the Frobenius norm (`kernels.testing.rel_error`).

Float32, not float64: a point can fill most of the GPU, and one sequence's rows in float32 (576 values of 4 bytes a
token: 2.4 GB at 1M tokens) are what the check adds; float32 sums over 1M keys are ~1e-6 off, far under the bf16
output's own rounding (~3e-3, the GPU tests' figure). A check that runs out of memory is recorded as skipped; the
point's measurements stand.
"""

from __future__ import annotations

from typing import Callable

# bf16 decode kernels land at 2e-3 to 4e-3 against float64 (GPU tests; fp8 against its dequantised cache alike); a
# wrong sequence or page gives ~1 (the DSA mix-up measured 0.96-1.5). 3e-2 leaves room for long softmax sums
# without letting a wrong read through.
OUTPUT_TOLERANCE = 3e-2


def checked_sequence(batch: int) -> int:
    """The sequence the check compares: the batch's last (see the module docstring)."""
    return batch - 1


def check_outputs(checks: list[tuple[int, Callable[[], object], Callable[[], object]]], b: int) -> dict:
    """Run each (held length, call, reference) and compare sequence b's output. Returns the JSON record:
    sequence, lengths checked, worst relative error, tolerance, ok; or skipped with the reason (out of memory, or
    what the check raised)."""
    import torch

    from mlacalc.kernels.testing import rel_error

    worst = 0.0
    try:
        for _, call, reference in checks:
            out = call()
            out = out[0] if isinstance(out, tuple) else out                # FlashMLA returns (out, lse)
            worst = max(worst, rel_error(out[b:b + 1].float(), reference()))
            del out
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return {"sequence": b, "skipped": "out of memory for the reference"}
    except Exception as e:      # the point's measurements stand; the record says why it is unchecked
        why = f"the check raised {type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
        return {"sequence": b, "skipped": why[:200]}
    return {"sequence": b, "held": [c[0] for c in checks], "rel_error": worst, "tolerance": OUTPUT_TOLERANCE,
            "ok": worst <= OUTPUT_TOLERANCE}


__all__ = ["OUTPUT_TOLERANCE", "checked_sequence", "check_outputs"]
