"""Lab script (CPU): the expected-time model against measured dense MLA decode rows of `mlacalc bench kernels --peers`
(kinds peer_mla, bf16, and fp8_mla, the per-tensor-scale fp8 cache; ours, graph-timed, one layer's decode core, one
query token): a held-out check, nothing is fitted to them. Built-in cards price with the coefficient defaults, which
were measured on the H200; a calibrated YAML with its own.

    python bench/dense_bench_vs_expected.py reports/h100/tuning/session_bi_kernels.json h100-sxm
    python bench/dense_bench_vs_expected.py reports/h200/kernels.json reports/h200/h200.yaml

The sparse rows: bench/sparse_bench_vs_expected.py.
"""

from __future__ import annotations

import json
import statistics
import sys

from mlacalc.expected import PLANNERS, DecodeShape, decode_attention_s, kernel_model, runs_gluon
from mlacalc.hardware import load_hardware
from mlacalc.kernels.bench import MLA_DR, MLA_R

KEY_BYTES = {"peer_mla": 2, "fp8_mla": 1}  # bytes a latent or RoPE value: bf16, fp8 e4m3


def main() -> None:
    bench, hw = json.load(open(sys.argv[1])), load_hardware(sys.argv[2])
    model = kernel_model(hw, "auto")
    errs: dict[tuple, list] = {}
    for r in bench["rows"]:
        if r.get("impl") != "ours" or r.get("kind") not in KEY_BYTES or not r.get("graph_ms"):
            continue
        d_k = MLA_R + MLA_DR
        shape = DecodeShape(seqs=r["B"], rows=r["heads"], kv_groups=1, keys=r["ctx"],
                            key_bytes=d_k * KEY_BYTES[r["kind"]], dkv=d_k + MLA_R, out_dv=MLA_R, layers=1,
                            key_elems=d_k, tokens=1, paged=r["layout"] != "contiguous")
        pred = decode_attention_s(shape, hw, model, hw.flops_per_s(16), PLANNERS["auto"], runs_gluon("auto", hw))
        meas = r["graph_ms"] * 1e-3
        err = (pred / meas - 1) * 100
        errs.setdefault((r["kind"], r["heads"]), []).append(err)
        print(f"{r['kind']:8s} batch {r['B']:4d} ctx {r['ctx']:6d} heads {r['heads']:4d} {r['layout']:10s} measured "
              f"{meas * 1e6:8.1f} us expected {pred * 1e6:8.1f} us {err:+6.1f}%")
    for (kind, heads), e in sorted(errs.items()):
        print(f"{kind} {heads} heads: {len(e)} rows, error {min(e):+.0f}% to {max(e):+.0f}%, "
              f"median {statistics.median(e):+.0f}%")


if __name__ == "__main__":
    main()
