"""Lab script (GPU): one decode call of a named case inside cudaProfilerStart/Stop, for Nsight Compute.

Run under `ncu --profile-from-start off ...` so that only the case's own kernels (not the warm-up, compilation or
input set-up) are profiled; bench/ncu_gpu.sh runs every case and keeps ncu's details page per case.

    python3 bench/ncu_probe.py CASE          (CASE from CASES; `list` prints them)

Each case is (what, batch, context, heads, layout); what: ours (mla_decode impl="auto"), flashmla (its dense
decode; needs `import flash_mla`), fp8 (ours, fp8 e4m3 per-tensor scale), sparse-bf16 / sparse-fp8ds (ours, top-2048
of the context), flashmla-sparse (FlashMLA's sparse decode on the same fp8-ds rows and selection; needs a build with it:
bench/build_flashmla_sparse.py), triton (ours, impl="triton", beside the Gluon kernel "auto" runs at >= 64 heads),
own / explicit (thirty-second session: the Gluon kernel's balanced schedule at an off-grid point where auto makes its
own, made by the decode programs themselves, or filled once before the profiled call and given: what computing the
record in the kernel costs, gluon_mla_decode.OWN_RECORD_US; only the decode kernel differs between the two).
"""

from __future__ import annotations

import sys

import torch

from mlacalc.kernels.bench import MLA_SCALE, pool_row_indices, sparse_inputs
from mlacalc.kernels.decode import mla_decode

D, R = 576, 512
CASES = {
    "ours-h128": ("ours", 64, 16384, 128, "contiguous"),
    "flashmla-h128": ("flashmla", 64, 16384, 128, "contiguous"),
    "triton-h128": ("triton", 64, 16384, 128, "contiguous"),
    "ours-h64-paged": ("ours", 32, 32768, 64, "paged64"),
    "flashmla-h64-paged": ("flashmla", 32, 32768, 64, "paged64"),
    "ours-h16-paged": ("ours", 32, 32768, 16, "paged64"),
    "ours-h16": ("ours", 32, 32768, 16, "contiguous"),
    "flashmla-h16-paged": ("flashmla", 32, 32768, 16, "paged64"),
    "fp8-h16": ("fp8", 32, 32768, 16, "paged64"),
    "fp8-h128": ("fp8", 32, 8192, 128, "paged64"),
    "fp8-h64-paged": ("fp8", 32, 32768, 64, "paged64"),  # the ours-h64-paged shape with an fp8 cache
    # the CUDA fp8 kernel (auto's up to 32 rows, thirty-sixth session): two row groups a CTA against one at the same
    # shape, and a small call whose fixed costs are most of its time (51 us against a 25-us floor on the H100)
    "fp8-h32": ("fp8", 32, 32768, 32, "paged64"),
    "fp8-h16-32x4k": ("fp8", 32, 4096, 16, "paged64"),
    "ours-h128-paged-8k": ("ours", 32, 8192, 128, "paged64"),  # the fp8-h128 shape with a bf16 cache
    "sparse-bf16-h128": ("sparse-bf16", 64, 32768, 128, "paged64"),
    "sparse-bf16-h16": ("sparse-bf16", 64, 32768, 16, "paged64"),
    "sparse-bf16-h64": ("sparse-bf16", 64, 32768, 64, "paged64"),
    "sparse-fp8ds-h64": ("sparse-fp8ds", 64, 32768, 64, "paged64"),
    "sparse-fp8ds-h128": ("sparse-fp8ds", 64, 32768, 128, "paged64"),
    "flashmla-sparse-h128": ("flashmla-sparse", 64, 32768, 128, "paged64"),
    "flashmla-sparse-h64": ("flashmla-sparse", 64, 32768, 64, "paged64"),
    # auto's own schedule at off-grid points of the thirty-first session (bench/auto_schedule_trace.py: own over a
    # schedule filled once +5.1 us at 34 x 10,048, +7.2 at 69 x 12,050, H100)
    "own-h128-34x10048": ("own", 34, 10048, 128, "paged64"),
    "explicit-h128-34x10048": ("explicit", 34, 10048, 128, "paged64"),
    "own-h128-69x12050": ("own", 69, 12050, 128, "paged64"),
    "explicit-h128-69x12050": ("explicit", 69, 12050, 128, "paged64"),
}


def scheduled_call(what: str, q, kv, lens, table, ctx: int):
    """The Gluon kernel on a balanced schedule: its own (made by the decode programs: own_schedule_us 0 makes auto's
    rule schedule wherever the modelled ratio allows) or one filled once by the schedule object (the warm-up calls
    fill it; the profiled call reuses it), as bench/auto_schedule_trace.py's `own` and `explicit`."""
    import dataclasses

    from mlacalc.kernels.gluon_mla_decode import default_gluon_config, mla_decode_gluon
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    kw = dict(softmax_scale=MLA_SCALE, max_seqlen=ctx)
    if what == "own":
        cfg = dataclasses.replace(default_gluon_config(q.shape[2], page_size=64), own_schedule_us=0.0)
        return lambda: mla_decode_gluon(q, kv, lens, table, config=cfg, **kw)
    sched = mla_decode_schedule()
    return lambda: mla_decode(q, kv, lens, table, schedule=sched, **kw)


def make_call(what: str, B: int, ctx: int, H: int, layout: str):
    dev = torch.device("cuda")
    q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
    lens = torch.full((B,), ctx, dtype=torch.int32, device=dev)
    if "sparse" in what:
        (kv, ds), table, lens, idx = sparse_inputs(B, ctx, 2048, dev)
        if what == "flashmla-sparse":
            import flash_mla

            meta, rows = flash_mla.get_mla_metadata()[0], pool_row_indices(idx, table)
            return lambda: flash_mla.flash_mla_with_kvcache(q, ds.view(-1, 64, 1, ds.shape[-1]), None, None, R, meta,
                                                            softmax_scale=MLA_SCALE, is_fp8_kvcache=True,
                                                            indices=rows)
        cache = kv if what == "sparse-bf16" else ds
        return lambda: mla_decode(q, cache, lens, table, indices=idx, softmax_scale=MLA_SCALE, check=False)
    blocks = -(-ctx // 64)
    kv = torch.randn(B * blocks, 64, D, device=dev, dtype=torch.bfloat16)
    if layout == "paged64":
        table = torch.randperm(B * blocks, device=dev).view(B, blocks).to(torch.int32)
        if what in ("own", "explicit"):
            return scheduled_call(what, q, kv, lens, table, ctx)
    else:
        table = torch.arange(B * ctx // 64, device=dev, dtype=torch.int32).view(B, ctx // 64)
    if what == "flashmla":
        import flash_mla

        meta = flash_mla.get_mla_metadata()[0]
        return lambda: flash_mla.flash_mla_with_kvcache(q, kv.view(-1, 64, 1, D), table, lens, R, meta,
                                                        softmax_scale=MLA_SCALE)
    if what == "fp8":
        kv8, scale = kv.to(torch.float8_e4m3fn), torch.tensor([0.02], device=dev)
        return lambda: mla_decode(q, kv8, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale, max_seqlen=ctx)
    cache, bt = (kv.view(B, ctx, D), None) if layout == "contiguous" else (kv, table)
    impl = "triton" if what == "triton" else "auto"
    return lambda: mla_decode(q, cache, lens, bt, softmax_scale=MLA_SCALE, max_seqlen=ctx, impl=impl)


def main(argv: list[str]) -> int:
    if not argv or argv[0] == "list":
        print("\n".join(CASES))
        return 0
    if argv[0] not in CASES:
        print(f"ncu_probe: unknown case {argv[0]!r}: one of {', '.join(CASES)}", file=sys.stderr)
        return 2
    call = make_call(*CASES[argv[0]])
    for _ in range(3):  # compile, plan, and warm the caches
        call()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    call()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
