"""Lab script (GPU): the Gluon sparse (DSA) decode's split count at small batches. The planner
(gluon_mla_sparse.sparse_gluon_splits) prices each split's fp32 partial output as DRAM traffic, so at batch 8 and 64
heads it takes 10 splits (80 programs on 132 SMs) where 16 would fill more SMs with shorter chains of dependent loads
(index -> table entry -> gathered rows). This times the planner's count against forced counts (16, 24, 32; whole
32-slot tiles) on the same inputs, graph-timed with the L2 flushed, best of two rounds in alternating order, at
batch 1-32 x 64/128 heads x bf16 and fp8-ds rows, top-2048 of a 32k paged context; each forced count is checked
against the float64 reference first (mixed lengths, a short sequence padded with -1).
The twenty-eighth session's run (reports/h200/tuning/ab_sparse_splits_session_bm.json) showed forced counts losing
1.2-4x wherever they made more than one wave of programs, and fp8-ds rows gaining 7-11% from more splits within one
wave (bf16 rows: within 3%). So --variants plan,w128,w64 (the default) timed the byte planner against a `wave_chunk`
rule: within one wave, the most splits with chunks of at least 128 (64) slots (session_bn, H100): w128 took 0.92-0.95
of the time at fp8-ds points it changes, bf16 mixed; the planner now applies it to fp8-ds rows (GluonSparseConfig.
fp8_wave_chunk = 128). So `plan` here is the byte plan (fp8_wave_chunk=0), and w128 / w64 now change fp8-ds rows
only (the session_bn run, at commit a2aeaab, applied its knob to bf16 rows too).

    python3 bench/ab_sparse_splits.py --out OUT.json [--variants plan,w128,w64 | plan,s16,s24,s32]
    python3 bench/ab_summary.py OUT.json w128/plan,w64/plan   # the ratios
"""

from __future__ import annotations

import torch

from common import alternating, check_variants, dump_run, gpu_lab_args, lab_run, record

from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph, sparse_inputs
from mlacalc.kernels.gluon_mla_sparse import GluonSparseConfig, mla_decode_sparse_gluon, sparse_gluon_splits
from mlacalc.kernels.launch import num_sms
from mlacalc.kernels.testing import make_sparse_case, rel_error, run_sparse_case
from mlacalc.profiler.timing import L2Flusher

BYTE_PLAN = GluonSparseConfig(fp8_wave_chunk=0)
VARIANTS = {"plan": dict(config=BYTE_PLAN), "s16": dict(num_splits=16), "s24": dict(num_splits=24),
            "s32": dict(num_splits=32), "w128": dict(config=GluonSparseConfig(fp8_wave_chunk=128)),
            "w64": dict(config=GluonSparseConfig(fp8_wave_chunk=64))}
POINTS = [(B, H) for B in (8, 1, 4, 16, 32) for H in (64, 128)]
TOPK, CTX = 2048, 32768


def check(name: str) -> dict:
    """The variant's split count against the float64 reference, bf16 and fp8-ds rows, 64 and 128 heads."""
    errs = {}
    for ds in (False, True):
        for heads in (64, 128):
            case = make_sparse_case([4097, 2500, 65, 1], heads=heads, topk=TOPK, fp8_ds=ds, device="cuda",
                                    seed=heads + ds)
            out = run_sparse_case(mla_decode_sparse_gluon, case, check=True, **VARIANTS[name])
            errs[f"{'fp8_ds' if ds else 'bf16'}_h{heads}"] = rel_error(out, case.ref)
    return errs


def main() -> int:
    a = gpu_lab_args(__doc__, lambda ap: ap.add_argument("--variants", default="plan,w128,w64"))
    if a is None:
        return 2
    wanted = a.variants.split(",")
    flusher, dev = L2Flusher(torch.cuda.current_device()), torch.device("cuda")
    with lab_run(a.out) as rows:
        ok = check_variants(rows, wanted, check)
        names = [n for n in wanted if ok[n]]
        for B in sorted({b for b, _ in POINTS}, key=[b for b, _ in POINTS].index):
            (kv, ds), table, lens, idx = sparse_inputs(B, CTX, TOPK, dev)
            for H in [h for b, h in POINTS if b == B]:
                q = torch.randn(B, 1, H, 576, device=dev, dtype=torch.bfloat16)
                for fmt, cache in (("bf16", kv), ("fp8_ds", ds)):
                    planned = sparse_gluon_splits(B, H, TOPK, sms=num_sms(dev), row_bytes=cache.shape[-1]
                                                  * cache.element_size(), config=BYTE_PLAN)[0]
                    for rnd, name in alternating(names):
                        call = lambda: mla_decode_sparse_gluon(  # noqa: E731
                            q, cache, idx, table, lens, softmax_scale=MLA_SCALE, **VARIANTS[name])
                        splits = sparse_gluon_splits(B, H, TOPK, sms=num_sms(dev), row_bytes=cache.shape[-1]
                                                     * cache.element_size(), **VARIANTS[name])[0]
                        record(rows, kind="sparse", variant=name, round=rnd, B=B, heads=H, cache=fmt,
                               planned_splits=planned, splits=splits, **eager_and_graph(call, flusher))
                    dump_run(a.out, rows)
            kv = ds = table = idx = None
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
