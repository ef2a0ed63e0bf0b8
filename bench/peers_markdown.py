"""Lab script (CPU): render a `mlacalc bench kernels --peers --json --out FILE` result as the Markdown report
(reports/h200/kernels.md): the summary against issue 14's targets, every dense point beside FlashMLA, the fp8 and
sparse points against their floors.

    python bench/peers_markdown.py reports/h200/kernels.json [DEVICE_SCRIPT] > reports/h200/kernels.md

DEVICE_SCRIPT: the device script the run came from (default bench/session_b_gpu.sh), named in the header.
"""

from __future__ import annotations

import sys

from labio import read_json
from mlacalc.kernels.bench import summarize_peers


CACHE_LABELS = {"bf16": "bf16 rows", "fp8_ds": "fp8-ds (656-byte rows)"}


def fmt(x, spec=".3f"):
    return "" if x is None else format(x, spec)


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: python3 bench/peers_markdown.py KERNELS.json [SCRIPT]", file=sys.stderr)
        return 2
    d = read_json(sys.argv[1], __file__)
    if not isinstance(d, dict) or not {"summary", "ceilings"} <= d.keys():
        if d is not None:
            print(f"peers_markdown: {sys.argv[1]}: not a `bench kernels --peers` JSON (no summary/ceilings)",
                  file=sys.stderr)
        return 2
    script = sys.argv[2] if len(sys.argv) > 2 else "bench/session_b_gpu.sh"
    s, c = d["summary"], d["ceilings"]
    v, h, f8, sp = s["vs_flashmla"], s["host_overhead_us"], s["fp8_vs_floor"], s["sparse_vs_floor"]
    print(f"# Kernels on the {d.get('gpu', 'GPU')}: ours beside FlashMLA (issue 14)\n")
    print(f"Command: `{d['command']}` (in `{script}` on the GPU machine), GPU {d['gpu']}, torch "
          f"{d['torch']}, triton {d['triton']}, CUDA {d['cuda']}, Python {d['python']}; FlashMLA built from "
          f"../shared/peers ({'with its sparse decode, bench/build_flashmla_sparse.py' if s.get('sparse_vs_flashmla', {}).get('points') else 'build_flashmla.py'}); ceilings measured in the same run: copy {c['copy_gbps']:,.0f} GB/s, "
          f"bf16 matmul {c['matmul_tflops']:,.0f} TFLOP/s. Rendered by `python bench/peers_markdown.py kernels.json`.\n")
    print("## Summary (the issue's targets)\n")
    print("| figure | measured | target | met |\n|---|---|---|---|")
    print(f"| ours / FlashMLA, graph-timed, batch >= 8 ({v['points']} points) | median {v['median_ratio']:.2f}, max "
          f"{v['max_ratio']:.2f} | median <= 1.0, max <= 1.1 | "
          f"{'yes' if v['median_ratio'] <= 1.0 and v['max_ratio'] <= 1.1 else 'no'} |")
    print(f"| host time per eager call (eager - graph) | median {h['median']:.1f} us, max {h['max']:.0f} us | "
          f"median <= 10 us | {'yes' if h['median'] <= 10 else 'no'} |")
    for kind, label in (("fp8_mla", "fp8"), ("sparse_mla", "sparse")):
        k = h.get("by_kind", {}).get(kind)
        if k:
            print(f"| (context) host time per eager {label} call ({k['points']} points) | median {k['median']:.1f} us, "
                  f"max {k['max']:.0f} us | | |")
    print(f"| fp8 cache x floor, batch >= 8 | median {f8['median_ratio']:.1f}, max {f8['max_ratio']:.1f} | <= 1.3 | "
          f"{'yes' if f8['max_ratio'] <= 1.3 else 'no'} |")
    big = f8.get("batch_32_up") or summarize_peers(d["rows"])["fp8_vs_floor"]["batch_32_up"]  # older files lack it
    if big["points"]:
        print(f"| fp8 cache x floor, batch >= 32 (the issue's scope) | median {big['median_ratio']:.1f}, "
              f"max {big['max_ratio']:.1f} | <= 1.3 | {'yes' if big['max_ratio'] <= 1.3 else 'no'} |")
    print(f"| sparse top-2048 x floor | median {sp['median_ratio']:.1f}, max {sp['max_ratio']:.1f} | <= 1.3 | "
          f"{'yes' if sp['max_ratio'] <= 1.3 else 'no'} |")
    sv, fsp = s.get("sparse_vs_flashmla", {}), s.get("flashmla_sparse_vs_floor", {})
    if sv.get("points"):
        print(f"| (context) sparse fp8-ds, ours / FlashMLA ({sv['points']} points) | median {sv['median_ratio']:.2f}, "
              f"max {sv['max_ratio']:.2f} | | |")
        print(f"| (context) FlashMLA's sparse fp8-ds x floor | median {fsp['median_ratio']:.1f}, max "
              f"{fsp['max_ratio']:.1f} | | |")
    oe = s.get("output_rel_err") or {}
    if oe.get("points"):          # older files have no check of our outputs
        print(f"| (context) our outputs, last sequence against float32 ({oe['points']} rows) | worst relative error "
              f"{oe['max']:.1e} | bf16 rounding (~3e-3) | {'yes' if oe['max'] <= 3e-2 else '**no**'} |")
    print()
    print("## Dense MLA decode, bf16, one query token (ms, graph-timed; host us = eager - graph)\n")
    print("| batch | context | heads | layout | floor | ours | FlashMLA | ours / FlashMLA | host us (ours) | "
          "host us (FlashMLA) |\n|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    rows = [r for r in d["rows"] if r.get("kind") == "peer_mla"]
    peer = {(r["B"], r["ctx"], r["heads"], r["layout"]): r for r in rows if r["impl"] == "flashmla"}
    for r in rows:
        if r["impl"] != "ours":
            continue
        p = peer.get((r["B"], r["ctx"], r["heads"], r["layout"]), {})
        ratio = r["graph_ms"] / p["graph_ms"] if r.get("graph_ms") and p.get("graph_ms") else None
        print(f"| {r['B']} | {r['ctx']:,} | {r['heads']} | {r['layout']} | {fmt(r.get('floor_ms'))} | "
              f"{fmt(r.get('graph_ms'))} | {fmt(p.get('graph_ms'))} | {fmt(ratio, '.2f')} | "
              f"{fmt(r.get('host_overhead_us'), '.0f')} | {fmt(p.get('host_overhead_us'), '.0f')} |")
    print("\n## fp8 and sparse (DSA) decode against their floors (graph-timed)\n")
    print("| kind | cache | batch | context | heads | floor ms | ms | x floor | FlashMLA ms | x floor | ours / FlashMLA |"
          "\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    speer = {(r["B"], r["heads"], r["kv_dtype"]): r for r in d["rows"]
             if r.get("kind") == "sparse_mla" and r.get("impl") == "flashmla" and r.get("graph_ms")}
    for r in d["rows"]:
        if r.get("kind") in ("fp8_mla", "sparse_mla") and r.get("impl", "ours") == "ours" and r.get("graph_ms"):
            cache = CACHE_LABELS.get(r.get("kv_dtype"), "fp8 e4m3, per-tensor scale")
            if r.get("kernel"):     # which kernel impl auto ran (rows since the thirty-fourth session)
                cache += f" ({r['kernel']})"
            p = speer.get((r["B"], r["heads"], r.get("kv_dtype")), {})
            pf = p["graph_ms"] / p["floor_ms"] if p else None
            ratio = r["graph_ms"] / p["graph_ms"] if p else None
            print(f"| {r['kind']} | {cache} | {r['B']} | {r['ctx']:,} | {r['heads']} | {r['floor_ms']:.4f} | "
                  f"{r['graph_ms']:.4f} | {r['graph_ms'] / r['floor_ms']:.1f} | {fmt(p.get('graph_ms'), '.4f')} | "
                  f"{fmt(pf, '.1f')} | {fmt(ratio, '.2f')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
