"""Lab script (GPU): the merge of split-KV partials (kernels/triton_split_kv.combine_splits, combine_slots) with one
partial a step (merge_chunk=1, the loop before the thirty-first session: each partial's 512 floats loaded and
waited for before the next) against MERGE_CHUNK a step (their loads in flight together). Measured on an H100
(reports/h100/tuning/ab_combine_session_cc.log): slots 0.92-1.00x, splits 0.99-1.05x, so only the slots' merge
takes the chunk. 128 query rows of 512
fp32 values, the shapes the Gluon kernel's fixed grid (B x splits) and its balanced schedule (G = 66 parts: slots
of about two partials a split sequence) leave at the uniform points of 128 heads; graph-timed, with the L2 flushed
(the partials read from HBM) and without (as after the decode kernel that wrote them, where they fit in L2). Both
are checked against each other first.

    python3 bench/ab_combine.py --out OUT.json
"""

from __future__ import annotations

import torch

from common import gpu_lab_args, lab_run, record

from mlacalc.kernels.triton_split_kv import MERGE_CHUNK, combine_slots, combine_splits
from mlacalc.profiler.timing import L2Flusher, cuda_graph, time_cuda

R, DV = 128, 512
SPLITS = [(17, 7), (35, 5), (39, 3), (72, 5), (19, 10), (104, 3), (128, 2)]  # (B, splits) of the fixed grid
SLOTS = [34, 54, 72, 104]   # B of the scheduled layout: 66 parts, each cut sequence in 2 pieces


def graph_us(fn, flusher) -> float:
    g = cuda_graph(fn)
    return time_cuda(g.replay, warmup=2, reps=50, max_seconds=0.3, min_reps=10, flusher=flusher).median * 1e6


def main() -> int:
    a = gpu_lab_args(__doc__)
    if a is None:
        return 2
    dev = torch.device("cuda")
    flusher = L2Flusher(torch.cuda.current_device())
    with lab_run(a.out, merge_chunk=MERGE_CHUNK) as rows:
        cases = []
        for B, splits in SPLITS:
            o = torch.randn(B, splits, R, DV, device=dev)
            lse = torch.randn(B, splits, R, device=dev) * 4
            out = torch.empty(B, R, DV, device=dev, dtype=torch.bfloat16)
            cases.append((f"splits {B} x {splits}", out,
                          lambda c, o=o, lse=lse, out=out: combine_splits(o, lse, out, merge_chunk=c)))
        for B in SLOTS:
            pieces = [2 if b < min(B, 66) else 1 for b in range(B)]
            first = torch.tensor([sum(p for p in pieces[:b] if p > 1) for b in range(B)], dtype=torch.int32)
            seqs = torch.stack([first, torch.tensor([p if p > 1 else 0 for p in pieces], dtype=torch.int32)], 1)
            slots = int(seqs[:, 1].sum())
            o = torch.randn(slots, R, DV, device=dev)
            lse = torch.randn(slots, R, device=dev) * 4
            out = torch.zeros(B, R, DV, device=dev, dtype=torch.bfloat16)
            seqs = seqs.to(dev)
            cases.append((f"slots {B} ({slots} partials)", out,
                          lambda c, o=o, lse=lse, out=out, seqs=seqs: combine_slots(o, lse, out, seqs, max_partials=66,
                                                                                   merge_chunk=c)))
        for name, out, run in cases:
            run(1)
            ref = out.float().clone()
            run(MERGE_CHUNK)
            err = (out.float() - ref).abs().max().item()
            t = {c: (graph_us(lambda: run(c), flusher), graph_us(lambda: run(c), None)) for c in (1, MERGE_CHUNK)}
            record(rows, case=name, max_abs_diff=err, one_flushed_us=t[1][0], one_l2_us=t[1][1],
                   chunk_flushed_us=t[MERGE_CHUNK][0], chunk_l2_us=t[MERGE_CHUNK][1])
    for r in rows:
        print(f"{r['case']:>26}: flushed {r['one_flushed_us']:6.1f} -> {r['chunk_flushed_us']:6.1f} us, in L2 "
              f"{r['one_l2_us']:6.1f} -> {r['chunk_l2_us']:6.1f} us (diff {r['max_abs_diff']:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
