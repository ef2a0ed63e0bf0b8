"""Reproduce the predictions of docs/external-checks.md: mlacalc's roofline floor and expected time of one
attention core (``attn_core``, one layer) at the setup of each published kernel measurement.

    python bench/external_checks.py          # the tables, as markdown
    python bench/external_checks.py --json   # one JSON object per point

Each point is the same as ``mlacalc roofline SPEC@num_layers=1,... --phase PHASE --batch B --context S
[--q-tokens Q] [--paged] --gpu GPU --json`` (the ``attn_core`` op's ``time_s`` and ``expected_s``), except that a
decode point's expected time is priced with the point's kernel backend (``roofline(..., kernel=...)``; the CLI's
roofline prices with ``auto``). Prefill is priced by the ``sdpa`` coefficients whatever the backend
(mlacalc.step.expect_ops), so the prefill points name ``sdpa``.

``POINTS`` are the first section's (MLA decode, one FA3 MHA decode); ``GQA_MHA_POINTS`` the section of 2026-12-05
(causal prefill of MHA/GQA on H100, H20, B200, MI300X and MI355X, and GQA/MHA decode on H100 and H20).
"""

from __future__ import annotations

import json
import sys
from typing import NamedTuple

from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.step import Step, roofline
from check_tables import json_flag_args  # bench/ on sys.path, as scripts run

class Point(NamedTuple):
    """One published measurement and the setup it was taken at. ``context``: prefill, the prompt (S); decode, the
    cached tokens (mlacalc attends ``context + 1`` keys a query: the cache and the new token)."""

    id: str
    source: str
    gpu: str
    model: str            # spec@overrides
    batch: int
    context: int
    q_tokens: int
    backend: str
    published_us: float
    note: str
    phase: str = "decode"
    paged: bool = False
    kernel: str = ""      # the kernel the source timed (the second section's table names it)


def causal_fwd_us(batch: int, seqlen: int, heads: int, head_dim: int, tflops: float) -> float:
    """Microseconds of a causal attention forward that a source reports as ``tflops`` TFLOP/s, under the FLOP
    convention of FlashAttention's benchmarks and AMD aiter's: ``4 B S^2 H d / 2`` (Dao-AILab/flash-attention
    ``benchmarks/benchmark_flash_attention.py`` flops(); aiter ``op_tests/cpp/mha/README.md``: "both hosts halve their
    FLOP count for mask != 0"). mlacalc's ``attn_core`` counts ``2 B H S (S + 1) d``: (S + 1) / S more."""
    return 4 * batch * seqlen**2 * heads * head_dim / 2 / (tflops * 1e12) * 1e6


# (id, source, gpu, spec@overrides, batch, context, q_tokens, backend, published_us, note)
POINTS = [Point(*p) for p in [
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
]]


# Section of 2026-12-05: GQA/MHA prefill and decode on other cards. Prefill points are causal forward passes (mlacalc
# prices causal prefill only) whose sources give TFLOP/s under the 4 B S^2 H d / 2 convention: published_us =
# causal_fwd_us(...). Decode points give the time; context = the kernel's KV length - 1, so that mlacalc attends as
# many keys as the kernel.
_MHA = "variant-mha@num_layers=1"                      # 16 heads of 128, hidden 2048 (the FA3 paper's shapes)
_MHA_D = {64: _MHA + ",attention.num_heads=32,attention.head_dim=64", 128: _MHA,
          256: _MHA + ",attention.num_heads=8,attention.head_dim=256"}
_SEQS = (512, 1024, 2048, 4096, 8192, 16384)
# FlashAttention-3 paper (Shah et al., arXiv 2407.08608, Figure 5: forward, FP16/BF16, H100 80GB SXM5, batch x seqlen =
# 16k tokens, hidden 2048 = heads x head dim), causal panels, bar labels in TFLOP/s; FA2's bars from the same chart
FA3_PAPER_CAUSAL = {64: (197, 265, 371, 420, 460, 473), 128: (292, 423, 521, 579, 602, 616),
                    256: (286, 427, 537, 612, 628, 642)}
FA2_ON_H100_CAUSAL_128 = (191, 260, 298, 319, 333, 335)
# AMD aiter op_tests/cpp/mha/README.md @ 0403bcdfd0b507e0459012b82e00785a818f774a ("asm kernel performance", BF16,
# BSHD, batch mode): causal FWD TFLOP/s at batch 1, 64 query heads, 8 KV heads, head dim 128
AITER_CAUSAL_B1_64_8 = {1024: (228.54, 432.565), 2048: (392.425, 936.435), 4096: (474.385, 1046.085),
                        8192: (518.29, 1300.105), 16384: (541.55, 1392.485)}     # (MI300X, MI355X)

GQA_MHA_POINTS = (
    [Point(f"E{hd}-{s // 1024 or 0.5:g}k", "FA3 paper", "h100-sxm", _MHA_D[hd], 16384 // s, s, 1, "sdpa",
           causal_fwd_us(16384 // s, s, 2048 // hd, hd, tf), f"{tf} TFLOP/s", "prefill", kernel="FA3")
     for hd, row in FA3_PAPER_CAUSAL.items() for s, tf in zip(_SEQS, row)]
    + [Point(f"F-{s // 1024 or 0.5:g}k", "FA3 paper", "h100-sxm", _MHA, 16384 // s, s, 1, "sdpa",
             causal_fwd_us(16384 // s, s, 16, 128, tf), f"{tf} TFLOP/s", "prefill", kernel="FA2")
       for s, tf in zip(_SEQS, FA2_ON_H100_CAUSAL_128)]
    # FA3 on an H20 (148 TFLOP/s bf16, 4.0 TB/s), hopper/benchmark_attn.py, batch 2, seqlen 2048, dim 2048, causal:
    # https://github.com/Dao-AILab/flash-attention/issues/1310 (the "Fav3" rows; FA2 took 0.484 and 0.522 ms)
    + [Point("G64", "flash-attention #1310", "h20", _MHA_D[64], 2, 2048, 1, "sdpa", 342.0, "100.3 TFLOP/s", "prefill",
             kernel="FA3"),
       Point("G128", "flash-attention #1310", "h20", _MHA_D[128], 2, 2048, 1, "sdpa", 319.0, "107.8 TFLOP/s",
             "prefill", kernel="FA3"),
       # FA4 (CuTe DSL) forward on sm_100, head dim 128, causal, seqlen 8192, batch 4, 16 heads:
       # https://github.com/Dao-AILab/flash-attention/pull/2280 ("FA Python fwd: 0.775ms, 1418.1 TFLOPS")
       Point("BW1", "flash-attention #2280", "b200", _MHA_D[128], 4, 8192, 1, "sdpa", 775.0, "1418 TFLOP/s",
             "prefill", kernel="FA4")]
    + [Point(f"{tag}-{s // 1024}k", "aiter README", gpu, "llama-3.1-70b@num_layers=1", 1, s, 1, "sdpa",
             causal_fwd_us(1, s, 64, 128, tfs[i]), f"{tfs[i]} TFLOP/s", "prefill", kernel="aiter asm")
       for i, (tag, gpu) in enumerate((("M3", "mi300x"), ("M5", "mi355x"))) for s, tfs in AITER_CAUSAL_B1_64_8.items()]
    # FlashAttention-2's paged decode (page 256) inside ONNX Runtime, NVBench GPU time, "H100 SMX":
    # https://github.com/microsoft/onnxruntime/pull/21414 (cloudhan, 2024-08-29): llama3 70B shape (64 q / 8 KV heads
    # of 128), 64 sequences; and MHA 32 x 128 at one sequence
    + [Point(f"O64-{n}", "onnxruntime #21414", "h100-sxm", "llama-3.1-70b@num_layers=1", 64, n - 1, 1, "auto", us,
             f"{gb} GB/s", paged=True, kernel="FA2")
       for n, us, gb in ((32, 21.135, 496), (64, 22.958, 822), (128, 28.780, 1239), (256, 43.563, 1589))]
    + [Point(f"O1-{n}", "onnxruntime #21414", "h100-sxm", "llama-2-7b@num_layers=1", 1, n - 1, 1, "auto", us,
             f"{gb} GB/s", paged=True, kernel="FA2")
       for n, us, gb in ((32, 21.535, 25), (128, 22.002, 96), (512, 31.372, 268))]
    # FlashInfer's and FA3's paged decode (page 8), MHA 32 x 128, batch 16, fp16, on an H20:
    # https://github.com/Dao-AILab/flash-attention/issues/1572 (opening post, TheRainstorm, 2025-04-02)
    + [Point(f"I-{n}", "flash-attention #1572", "h20", "llama-2-7b@num_layers=1", 16, n - 1, 1, "auto", us, "",
             paged=True, kernel="FlashInfer")
       for n, us in ((128, 18.79), (2000, 164.36), (4000, 321.43), (32000, 2474.93))]
    + [Point(f"J-{n}", "flash-attention #1572", "h20", "llama-2-7b@num_layers=1", 16, n - 1, 1, "auto", us, "",
             paged=True, kernel="FA3")
       for n, us in ((128, 48.31), (2000, 539.24), (4000, 1053.17), (32000, 8211.85))]
)


def predict(gpu: str, model: str, batch: int, context: int, q: int, backend: str, phase: str = "decode",
            paged: bool = False) -> dict:
    r = roofline(load_spec(model), load_hardware(gpu), Step(phase, batch, context, q, paged=paged), Parallelism(),
                 kernel=backend, analyse_attention=False)
    core = r.op("attn_core")
    return {"floor_us": core.time_s * 1e6, "expected_us": core.expected_s * 1e6, "bound": core.bound,
            "flops": core.op.flops, "bytes": core.op.bytes}


def rows(points: list[Point], section: str) -> list[dict]:
    """Each point with mlacalc's floor and expected time of its attention core, and the ratios."""
    out = []
    for pt in points:
        p = predict(pt.gpu, pt.model, pt.batch, pt.context, pt.q_tokens, pt.backend, pt.phase, pt.paged)
        a = load_spec(pt.model).attention
        out.append({"section": section, **pt._asdict(), "heads": a.num_heads, "kv_heads": a.num_kv_heads,
                    "head_dim": a.v_head_dim, **p, "published_over_expected": pt.published_us / p["expected_us"],
                    "published_over_floor": pt.published_us / p["floor_us"]})
    return out


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
    a = json_flag_args(__doc__, argv)
    first, second = rows(POINTS, "mla"), rows(GQA_MHA_POINTS, "gqa-mha-2026-12-05")
    if a.json:
        for row in first + second:
            print(json.dumps(row))
        return
    print("| id | source | GPU | heads x q | batch | context | published us | floor us (bound) | expected us "
          "(backend) | pub/expected | pub/floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in first:
        print(f"| {r['id']} | {r['source']} | {r['gpu']} | {r['heads']} x {r['q_tokens']} | {r['batch']} | {r['context']} "
              f"| {r['published_us']:.1f} | {r['floor_us']:.1f} ({r['bound']}) | {r['expected_us']:.1f} "
              f"({r['backend']}) | {r['published_over_expected']:.2f} | {r['published_over_floor']:.2f} |")
    best = h800_headline()
    (gb, at_gb), (tf, at_tf) = best["gb_s"], best["tflop_s"]
    print(f"\nH800, FlashMLA, batch 128: expected time implies at most {gb:,.0f} GB/s (heads x q, keys = {at_gb}) "
          f"and {tf:,.0f} TFLOP/s (at {at_tf}); README: up to 3,000 GB/s and 660 TFLOP/s")
    print("\n| id | source | GPU | kernel | phase | heads / KV x dim | batch | S or keys | published us (rate) "
          "| floor us (bound) | expected us (backend) | pub/expected | pub/floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in second:
        keys = r["context"] if r["phase"] == "prefill" else r["context"] + 1
        rate = f" ({r['note']})" if r["note"] else ""
        page = ", paged" if r["paged"] else ""
        print(f"| {r['id']} | {r['source']} | {r['gpu']} | {r['kernel']} | {r['phase']}{page} | {r['heads']} / "
              f"{r['kv_heads']} x {r['head_dim']} | {r['batch']} | {keys} | {r['published_us']:,.1f}{rate} | "
              f"{r['floor_us']:,.1f} ({r['bound']}) | {r['expected_us']:,.1f} ({r['backend']}) | "
              f"{r['published_over_expected']:.2f} | {r['published_over_floor']:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
