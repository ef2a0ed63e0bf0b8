"""Reproduce the predictions of docs/external-checks.md: mlacalc's roofline floor and expected time of one decode
attention core (``attn_core``, one layer) at the setup of each published kernel measurement.

    python bench/external_checks.py          # the table, as markdown
    python bench/external_checks.py --json   # one JSON object per point

Each point is the same as ``mlacalc roofline SPEC@num_layers=1,... --batch B --context S --q-tokens Q --gpu GPU
--json`` (the ``attn_core`` op's ``time_s`` and ``expected_s``), except that the expected time is priced with the
point's kernel backend (``roofline(..., kernel=...)``; the CLI's roofline prices with ``auto``).
"""

from __future__ import annotations

import argparse
import json
import sys

from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.step import Step, roofline

# (id, source, gpu, spec@overrides, batch, context, q_tokens, backend, published_us, note)
POINTS = [
    # FlashMLA (deepseek-ai/FlashMLA as of 2025-02-24, bf16, paged 64) on a Modal "H100", tests/test_flash_mla.py,
    # varlen=False rows: https://github.com/deepseek-ai/FlashMLA/issues/19 and
    # https://github.com/ai-bot-pro/achatbot/pull/123
    ("A1", "FlashMLA #19", "h100-sxm", "variant-mla@num_layers=1,attention.num_heads=16", 128, 4096, 1, "flashmla", 215.0, "2826 GB/s"),
    ("A2", "FlashMLA #19", "h100-sxm", "variant-mla@num_layers=1,attention.num_heads=32", 128, 4096, 1, "flashmla", 218.0, "2813 GB/s"),
    ("A3", "FlashMLA #19", "h100-sxm", "variant-mla@num_layers=1,attention.num_heads=64", 128, 4096, 1, "flashmla", 223.0, "2789 GB/s"),
    ("A4", "FlashMLA #19", "h100-sxm", "variant-mla@num_layers=1,attention.num_heads=16", 128, 4096, 2, "flashmla", 218.0, "2812 GB/s"),
    ("A5", "FlashMLA #19", "h100-sxm", "variant-mla@num_layers=1,attention.num_heads=32", 128, 4096, 2, "flashmla", 223.0, "2788 GB/s"),
    # FlashMLA on an H20 (148 TFLOP/s bf16, 4.0 TB/s), tests/test_flash_mla.py, varlen=False rows:
    # https://github.com/deepseek-ai/FlashMLA/issues/30
    ("B1", "FlashMLA #30", "h20", "variant-mla@num_layers=1,attention.num_heads=16", 128, 4096, 1, "flashmla", 601.0, "1012 GB/s, 30 TFLOP/s"),
    ("B2", "FlashMLA #30", "h20", "variant-mla@num_layers=1,attention.num_heads=16", 128, 4096, 4, "flashmla", 614.0, "1012 GB/s, 119 TFLOP/s"),
    ("B3", "FlashMLA #30", "h20", "variant-mla@num_layers=1,attention.num_heads=16", 128, 4096, 5, "flashmla", 1168.0, "536 GB/s, 78 TFLOP/s"),
    ("B4", "FlashMLA #30", "h20", "variant-mla@num_layers=1,attention.num_heads=64", 128, 8192, 3, "flashmla", 3407.0, "370 GB/s, 129 TFLOP/s"),
    ("B5", "FlashMLA #30", "h20", "variant-mla@num_layers=1,attention.num_heads=64", 128, 8192, 8, "flashmla", 9711.0, "139 GB/s, 120 TFLOP/s"),
    # FlashMLA, 128 heads, batch 128, s_q 1, variable lengths (normal, sd = mean / 2) on the H100 of
    # hopper/benchmark_mla_decode.py: https://github.com/Dao-AILab/flash-attention/pull/1770 (context = the mean)
    ("C1", "flash-attention #1770", "h100-sxm", "variant-mla@num_layers=1,attention.num_heads=128", 128, 8128, 1, "flashmla", 505.0, "2444 GB/s, 574 TFLOP/s (varlen)"),
    ("C2", "flash-attention #1770", "h100-sxm", "variant-mla@num_layers=1,attention.num_heads=128", 128, 16593, 1, "flashmla", 964.3, "2574 GB/s, 613 TFLOP/s (varlen)"),
    # FA3 flash_attn_with_kvcache, MHA 32 x 128, paged (page 8), CUDA graph, on an H100:
    # https://github.com/Dao-AILab/flash-attention/issues/1572 (comment by TheRainstorm, 2025-04-11)
    ("D1", "flash-attention #1572", "h100-sxm", "llama-2-7b@num_layers=1", 16, 2000, 1, "auto", 292.0, "1796 GB/s (FA3, page 8)"),
    ("D2", "flash-attention #1572", "h100-sxm", "llama-2-7b@num_layers=1", 16, 4000, 1, "auto", 567.2, "1849 GB/s (FA3, page 8)"),
]


def predict(gpu: str, model: str, batch: int, context: int, q: int, backend: str) -> dict:
    r = roofline(load_spec(model), load_hardware(gpu), Step("decode", batch, context, q), Parallelism(),
                 kernel=backend, analyse_attention=False)
    core = r.op("attn_core")
    return {"floor_us": core.time_s * 1e6, "expected_us": core.expected_s * 1e6, "bound": core.bound,
            "flops": core.op.flops, "bytes": core.op.bytes}


def h800_headline() -> dict:
    """The highest GB/s and TFLOP/s mlacalc's expected FlashMLA time implies on an H800 over a grid like FlashMLA's
    test (batch 128; 4k, 8k, 16k keys; 16-128 heads; 1-2 query tokens), for the README's "up to 3000 GB/s ...
    660 TFLOPS" (https://github.com/deepseek-ai/FlashMLA, README.md, section Performance)."""
    best = {"gb_s": (0.0, None), "tflop_s": (0.0, None)}
    for s in (4096, 8192, 16384):
        for h in (16, 32, 64, 128):
            for q in (1, 2):
                p = predict("h800", f"variant-mla@num_layers=1,attention.num_heads={h}", 128, s, q, "flashmla")
                gb, tf = p["bytes"] / p["expected_us"] / 1e3, p["flops"] / p["expected_us"] / 1e6
                if gb > best["gb_s"][0]:
                    best["gb_s"] = (gb, (h, q, s))
                if tf > best["tflop_s"][0]:
                    best["tflop_s"] = (tf, (h, q, s))
    return best


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object per point")
    a = ap.parse_args(argv)
    rows = []
    for pid, src, gpu, model, b, s, q, backend, pub, note in POINTS:
        p = predict(gpu, model, b, s, q, backend)
        rows.append({"id": pid, "source": src, "gpu": gpu, "model": model, "batch": b, "context": s, "q_tokens": q,
                     "heads": load_spec(model).attention.num_heads, "backend": backend, "published_us": pub, "published_note": note, **p,
                     "published_over_expected": pub / p["expected_us"], "published_over_floor": pub / p["floor_us"]})
    if a.json:
        for row in rows:
            print(json.dumps(row))
        return
    print("| id | source | GPU | heads x q | batch | context | published us | floor us (bound) | expected us "
          "(backend) | pub/expected | pub/floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['id']} | {r['source']} | {r['gpu']} | {r['heads']} x {r['q_tokens']} | {r['batch']} | {r['context']} "
              f"| {r['published_us']:.1f} | {r['floor_us']:.1f} ({r['bound']}) | {r['expected_us']:.1f} "
              f"({r['backend']}) | {r['published_over_expected']:.2f} | {r['published_over_floor']:.2f} |")
    best = h800_headline()
    (gb, at_gb), (tf, at_tf) = best["gb_s"], best["tflop_s"]
    print(f"\nH800, FlashMLA, batch 128: expected time implies at most {gb:,.0f} GB/s (heads x q, keys = {at_gb}) "
          f"and {tf:,.0f} TFLOP/s (at {at_tf}); README: up to 3,000 GB/s and 660 TFLOP/s")


if __name__ == "__main__":
    main(sys.argv[1:])
