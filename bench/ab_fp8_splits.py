"""Lab script (GPU): the dense fp8-cache Gluon decode's split count at small batches. Its byte planner prices a key at
its bytes (576 for an e4m3 latent + RoPE key, 1,152 for bf16), so at batch 8 x 4k it planned fewer splits than the
bf16 kernel (64 heads: 10 against 13; 128 heads: 7 against 8) and left more SMs idle, while a key costs the fp8
kernel about the bf16 kernel's time (its widening and 32-key tiles: the H100 measured 1.576 against 1.60 ms at 128 x
32k x 64 heads, docs/kernels-notes.md). This times, on the same inputs, the byte plan (`bytes`: gluon_splits with
fp8_wave_chunk 0) against the default (`plan`: since the twenty-ninth session, one wave of the most splits with chunks
of >= 256 keys where the byte plan is under one wave; the first run, on an H100, called it `wave`:
reports/h100/tuning/ab_fp8_splits_session_bp.json) and the bf16 kernel's plan (`as16`: token_bytes 1,152), at batch
1-8 x 4k/16k x 64/128 heads, paged (64-token blocks), e4m3 with one scale, graph-timed with the L2 flushed, best of two
rounds in alternating order; each plan is checked against the float64 reference first (mixed lengths, 128 heads,
paged).

    python3 bench/ab_fp8_splits.py --out OUT.json
    python3 bench/ab_summary.py OUT.json plan/bytes,as16/bytes     # the ratios
"""

from __future__ import annotations

import torch

from ab_seesaw import inputs
from common import alternating, check_variants, dump_run, gpu_lab_args, lab_run, record

from mlacalc.kernels import gluon_mla_decode as gmd
from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph
from mlacalc.kernels.launch import num_sms
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.profiler.timing import L2Flusher

VARIANTS = ("bytes", "plan", "as16")
POINTS = [(B, ctx, H) for B in (8, 4, 1) for ctx in (4096, 16384) for H in (64, 128)]


def splits_for(name: str, B: int, H: int, ctx: int, sms: int) -> int:
    """The split count of plan `name` for B sequences of ctx keys and H heads (32-key tiles: split_keys)."""
    block = gmd.split_keys(gmd.default_gluon_config(H, fp8=True, page_size=64))
    if name == "as16":
        return gmd.gluon_splits(B, H, ctx, sms=sms, block_n=block, token_bytes=1152)[0]
    chunk = 0 if name == "bytes" else gmd.FP8_WAVE_CHUNK
    return gmd.gluon_splits(B, H, ctx, sms=sms, block_n=block, token_bytes=576, fp8_wave_chunk=chunk)[0]


def check(name: str) -> dict:
    case = make_mla_case([4097, 1500, 64, 65], heads=128, device="cuda", paged=True, fp8=True, seed=3)
    s = splits_for(name, 4, 128, 4097, num_sms(torch.device("cuda")))
    return {"h128": rel_error(run_mla_case(gmd.mla_decode_gluon, case, num_splits=s), case.ref)}


def main() -> int:
    a = gpu_lab_args(__doc__)
    if a is None:
        return 2
    flusher, dev = L2Flusher(torch.cuda.current_device()), "cuda"
    scale = torch.tensor([0.02], device=dev)
    with lab_run(a.out) as rows:
        ok = check_variants(rows, VARIANTS, check, tol=3e-2)
        names = [n for n in VARIANTS if ok[n]]
        for B, ctx, H in POINTS:
            q, cache, lens, table, _ = inputs(B, ctx, H, "paged64")
            cache = cache.to(torch.float8_e4m3fn)
            plans = {n: splits_for(n, B, H, ctx, num_sms(torch.device(dev))) for n in names}
            for rnd, name in alternating(names):
                call = lambda: gmd.mla_decode_gluon(  # noqa: E731
                    q, cache, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale, max_seqlen=ctx,
                    num_splits=plans[name])
                record(rows, kind="fp8", variant=name, round=rnd, B=B, ctx=ctx, heads=H, layout="paged64",
                       splits=plans[name], **eager_and_graph(call, flusher))
            dump_run(a.out, rows)
            q = cache = table = None
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
