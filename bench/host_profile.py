"""Lab script (GPU): where the host time of an eager decode call goes (issue 14: <= 10 us per call).

Times 200 back-to-back calls of each wrapper (perf_counter; the GPU work is tiny and queued), says whether the
direct launch path (kernels/launch.py FastLauncher) was taken, and prints cProfile's top entries.

    python3 bench/host_profile.py > $OUT/host_profile.txt
"""

from __future__ import annotations

import cProfile
import pstats
import time

import torch

from mlacalc.kernels import launch
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.triton_mla_decode import _LAUNCH_MLA, mla_decode_triton


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


def main() -> None:
    B, C, H = 8, 4096, 16
    kv = torch.randn(B, C, 576, dtype=torch.bfloat16, device="cuda")
    q = torch.randn(B, 1, H, 576, dtype=torch.bfloat16, device="cuda")
    lens = torch.full((B,), C, dtype=torch.int32, device="cuda")
    calls = {
        "mla_decode_triton": lambda: mla_decode_triton(q, kv, lens, softmax_scale=0.04, max_seqlen=C),
        "mla_decode(auto)": lambda: mla_decode(q, kv, lens, softmax_scale=0.04, kv_lora_rank=512, impl="auto",
                                               max_seqlen=C),
        "torch.empty only": lambda: torch.empty((B, 1, H, 512), dtype=q.dtype, device=q.device),
    }
    for name, fn in calls.items():
        print(f"{name}: {per_call_us(fn):.1f} us per call")
    from triton import knobs
    print("launch hooks:", knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook)
    print("direct entries:", {str(k)[:60]: len(v[1]) for k, v in _LAUNCH_MLA.compiled.items()})
    print("DIRECT", launch.DIRECT, "hooks off", launch._hooks_off())
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(200):
        calls["mla_decode_triton"]()
    pr.disable()
    torch.cuda.synchronize()
    pstats.Stats(pr).sort_stats("tottime").print_stats(40)


if __name__ == "__main__":
    main()
