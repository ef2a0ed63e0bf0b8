"""Lab script (CPU): the expected-time model against the sparse (DSA) rows of `mlacalc bench kernels --peers`
(one layer's decode core, graph-timed, top-k of a paged cache): a held-out check, nothing is fitted to them.

    python bench/sparse_bench_vs_expected.py reports/h200/kernels.json reports/h200/h200.yaml
"""

from __future__ import annotations

import json
import sys

from mlacalc.expected import PLANNERS, DecodeShape, decode_attention_s, runs_gluon
from mlacalc.hardware import load_hardware

ROW_BYTES = {"bf16": 1152, "fp8_ds": 656}     # 576 bf16 values; 512 e4m3 + 4 fp32 scales + 64 bf16


def main() -> None:
    bench, hw = json.load(open(sys.argv[1])), load_hardware(sys.argv[2])
    model = dict(hw.kernels)["auto"]
    for r in bench["rows"]:
        if r["kind"] != "sparse_mla" or r.get("status") != "ok":
            continue
        shape = DecodeShape(seqs=r["B"], rows=r["heads"], kv_groups=1, keys=min(r["topk"], r["ctx"]),
                            key_bytes=ROW_BYTES[r["kv_dtype"]], dkv=1088, out_dv=512, layers=1, key_elems=576,
                            tokens=1, gathered=True, slots=r["topk"])
        pred = decode_attention_s(shape, hw, model, hw.flops_per_s(16), PLANNERS["auto"], runs_gluon("auto", hw))
        meas = r["graph_ms"] * 1e-3
        print(f"batch {r['B']:4d} heads {r['heads']:4d} {r['kv_dtype']:7s} measured {meas * 1e6:7.1f} us "
              f"expected {pred * 1e6:7.1f} us {(pred / meas - 1) * 100:+6.1f}%")


if __name__ == "__main__":
    main()
