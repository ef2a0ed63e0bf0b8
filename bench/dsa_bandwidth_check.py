"""Lab script (GPU): does sparse (DSA) decode really read its selected rows as fast as the H100 random point said?
`glm-5/decode/auto/b247/c20561/L4/tp4` (its first run, `git show 1f9bd4c:reports/h100/validate-random-seed16.json`:
16 heads, bf16, contiguous cache, top-2048 rows drawn as the profiler draws them) took 657 us for 4 layers, i.e. 2,048 x 1,152 bytes x 247 sequences
a layer at 3.55 TB/s, above the H100's 3.35 TB/s and the dense kernel's 3.18 TB/s best. This times one layer's call
(graph-timed, L2 flushed) at that shape and smaller batches, with the profiler's random indices and with the same
indices sorted, beside a read-only stream of as many bytes (torch.sum over a bf16 tensor), and checks three
sequences against the float64 reference. The first run (session_cj) found the cause: positions with lengths and no
table are rows of the flattened pool to sparse decode, so every sequence read sequence 0's rows (rel err ~1,
L2-resident); the positions go in as rows (profiler.run.dsa_pool_rows) and no lengths, as the profiler now does.

    python3 bench/dsa_bandwidth_check.py --out OUT.json [--batches 64,132,247] [--context 20561] [--heads 16]
"""

from __future__ import annotations

import torch

from common import dump_run, gpu_lab_args, lab_run, record

from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.reference import mla_sparse_reference
from mlacalc.profiler.run import dsa_indices, dsa_pool_rows
from mlacalc.profiler.timing import L2Flusher

D, R, TOPK = 576, 512, 2048


def _batches(text: str) -> list[int]:
    """--batches: comma-separated positive counts (argparse turns a ValueError into its one-line usage error)."""
    out = [int(x) for x in text.split(",")]
    if min(out) < 1:
        raise ValueError(text)
    return out


def _args(ap) -> None:
    ap.add_argument("--batches", type=_batches, default="64,132,247")
    ap.add_argument("--context", type=int, default=20561)
    ap.add_argument("--heads", type=int, default=16)


def check(q, kv, idx, out, seqs) -> float:
    """Largest relative error of `out` against the float64 reference over sequences `seqs` (each its own pool:
    [context, 1, D], one row a page)."""
    worst = 0.0
    for b in seqs:
        ref = mla_sparse_reference(q[b:b + 1], kv[b].unsqueeze(1), idx[b:b + 1], R, scale=MLA_SCALE)
        err = (out[b:b + 1].double() - ref).abs().max().item() / ref.abs().max().item()
        worst = max(worst, err)
    return worst


def main() -> int:
    a = gpu_lab_args(__doc__, _args)
    if a is None:
        return 2
    dev, flusher = torch.device("cuda"), L2Flusher(torch.cuda.current_device())
    with lab_run(a.out) as rows:
        for B in a.batches:
            kv = torch.randn(B, a.context, D, device=dev, dtype=torch.bfloat16)
            q = torch.randn(B, 1, a.heads, D, device=dev, dtype=torch.bfloat16)
            pos = dsa_indices(B, 1, a.context, TOPK, torch).to(dev)
            nbytes = B * TOPK * D * 2
            stream = torch.empty(nbytes // 2, device=dev, dtype=torch.bfloat16)
            for order, p in (("random", pos), ("sorted", pos.sort(dim=-1).values.contiguous())):
                ind = dsa_pool_rows(p, a.context, torch)
                call = lambda ind=ind: mla_decode(q, kv, None, None, indices=ind, softmax_scale=MLA_SCALE,
                                                  kv_lora_rank=R, impl="auto", check=False)
                out = call()
                torch.cuda.synchronize()
                err = check(q, kv, p, out, sorted({0, B // 2, B - 1}))
                ms = eager_and_graph(call, flusher)["graph_ms"]
                record(rows, B=B, context=a.context, heads=a.heads, order=order, graph_ms=ms, bytes=nbytes,
                       tb_s=nbytes / (ms * 1e-3) / 1e12, rel_err=err)
            ms = eager_and_graph(lambda: stream.sum(), flusher)["graph_ms"]
            record(rows, B=B, context=a.context, heads=a.heads, order="stream", graph_ms=ms, bytes=nbytes,
                   tb_s=nbytes / (ms * 1e-3) / 1e12, rel_err=None)
            dump_run(a.out, rows)
            kv = q = pos = stream = None
            torch.cuda.empty_cache()
    for r in rows:
        err = f", rel err {r['rel_err']:.1e}" if r["rel_err"] is not None else ""
        print(f"B {r['B']:>4} {r['order']:>7}: {r['graph_ms'] * 1e3:8.1f} us, {r['bytes'] / 1e6:7.1f} MB, "
              f"{r['tb_s']:.2f} TB/s{err}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
