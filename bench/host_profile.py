"""Lab script (GPU): where the host time of an eager decode call goes (issue 14: <= 10 us per call).

Times 200 back-to-back calls of each wrapper (perf_counter; the GPU work is small and queued) beside references on
the same CPU (a bare `torch.empty`, a one-element add, an empty Triton kernel through `kernel[grid]` and through the
compiled kernel's `run`), says whether the direct launch path (kernels/launch.py FastLauncher) was taken, and prints
cProfile's top entries for the Triton path and the Gluon paths (dense, sparse).

    python3 bench/host_profile.py > $OUT/host_profile.txt
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time

import torch
import triton

from mlacalc.kernels import launch
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.testing import make_sparse_case
from mlacalc.kernels.triton_mla_decode import _LAUNCH_MLA, mla_decode_triton


@triton.jit
def _empty_kernel(X):
    pass


def per_call_us(fn, n=200) -> float:
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    t = (time.perf_counter() - t0) / n
    torch.cuda.synchronize()
    return t * 1e6


def profile(name, fn, n=200, top=25) -> None:
    print(f"\n===== cProfile: {name}, {n} calls (tottime)")
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        fn()
    pr.disable()
    torch.cuda.synchronize()
    pstats.Stats(pr).sort_stats("tottime").print_stats(top)


def main() -> int:
    if not torch.cuda.is_available():
        print("host_profile: needs a CUDA GPU", file=sys.stderr)
        return 2
    B, C = 8, 4096
    dev = torch.device("cuda")
    kv = torch.randn(B, C, 576, dtype=torch.bfloat16, device=dev)
    q16 = torch.randn(B, 1, 16, 576, dtype=torch.bfloat16, device=dev)
    q64 = torch.randn(B, 1, 64, 576, dtype=torch.bfloat16, device=dev)
    lens = torch.full((B,), C, dtype=torch.int32, device=dev)
    sp = make_sparse_case([C] * B, heads=64, topk=2048, fp8_ds=True, device="cuda", seed=0)
    x = torch.zeros(1, device=dev)
    compiled = _empty_kernel[(1,)](x)
    stream = torch.cuda.current_stream().cuda_stream
    calls = {
        "mla_decode_triton (16 heads)": lambda: mla_decode_triton(q16, kv, lens, softmax_scale=0.04, max_seqlen=C),
        "mla_decode(auto) (16 heads: Triton)": lambda: mla_decode(q16, kv, lens, softmax_scale=0.04, max_seqlen=C),
        "mla_decode(auto) (64 heads: Gluon)": lambda: mla_decode(q64, kv, lens, softmax_scale=0.04, max_seqlen=C),
        "mla_decode(auto) sparse fp8-ds (64 heads: Gluon)": lambda: mla_decode(
            sp.q, sp.kv_cache, sp.cache_seqlens, sp.block_table, indices=sp.indices, softmax_scale=sp.softmax_scale),
        "torch.empty only": lambda: torch.empty((B, 1, 16, 512), dtype=q16.dtype, device=dev),
        "torch add of one element": lambda: x.add_(1.0),
        "empty Triton kernel, kernel[grid]": lambda: _empty_kernel[(1,)](x),
        "empty Triton kernel, compiled.run": lambda: compiled.run(1, 1, 1, stream, compiled.function,
                                                                 compiled.packed_metadata, None, None, None, x),
    }
    print("triton", triton.__version__, "torch", torch.__version__, torch.cuda.get_device_name())
    for name, fn in calls.items():
        print(f"{name}: {per_call_us(fn):.1f} us per call")
    from triton import knobs
    print("launch hooks:", knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook)
    print("direct entries:", {type(k).__name__: len(v[2]) for k, v in _LAUNCH_MLA.compiled.items()})
    print("DIRECT", launch.DIRECT, "hooks off", launch._hooks_off())
    for name in ("mla_decode(auto) (16 heads: Triton)", "mla_decode(auto) (64 heads: Gluon)",
                 "mla_decode(auto) sparse fp8-ds (64 heads: Gluon)"):
        profile(name, calls[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
