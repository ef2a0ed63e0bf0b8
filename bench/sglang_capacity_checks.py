"""Reproduce the table of docs/sglang-capacity-checks.md: the KV pool (tokens per GPU) ``mlacalc fit`` predicts at the
setup of a published SGLang start-up log, under mlacalc's default accounting and under ``--engine sglang``
(mlacalc/sglang.py: SGLang's own), beside what the log says.

    python bench/sglang_capacity_checks.py          # the table, as markdown
    python bench/sglang_capacity_checks.py --json   # one JSON object per point

Each point runs ``fit`` three ways: the default engine at its defaults (util 0.9 of nvidia-smi's total, less the
weights and an 8k-token workspace); ``--engine sglang --gpu-mem-util F`` with F the log's ``mem_fraction_static``;
and, where the log prints the free memory before the weights ("Load weight begin. avail mem"), SGLang's rule applied
to that logged figure with mlacalc's weights, which separates the free-memory term from the rest. Tokens are the
budget over mlacalc's KV bytes per token per GPU (SGLang's ``cell_size``: ``int(rest x 2**30 // cell_size)``).

Log figures are GiB as SGLang prints them (``get_available_gpu_memory`` divides by ``1 << 30``, labelled "GB").
None: the log does not say. Nothing here is fitted: the points are a validation set.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from mlacalc.capacity import fit
from mlacalc.hardware import load_hardware
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec

from vllm_capacity_checks import QWEN3_FP8  # the same checkpoint's fp8 blocks (bench/ on sys.path, as scripts run)
from check_tables import json_flag_args  # bench/ on sys.path, as scripts run

GIB = 2**30

# Qwen/QwQ-32B is Qwen2.5-32B's shape (config.json: 64 layers, d 5120, 40 heads, 8 KV heads of 128, FFN 27648,
# vocab 152064, q/k/v biases, untied head).
QWQ_32B = ("qwen2.5-7b@num_layers=64,hidden_size=5120,attention.num_heads=40,attention.num_kv_heads=8,"
           "ffn.intermediate_size=27648")


@dataclasses.dataclass(frozen=True)
class Point:
    id: str
    source: str                 # where the log was published (author or page, date)
    version: str                # SGLang version, as far as the log shows it
    model: str                  # mlacalc spec (with @overrides) standing for `checkpoint`
    checkpoint: str
    gpu: str                    # mlacalc hardware name
    tp: int
    fraction: float             # mem_fraction_static of the run (printed in server_args, or the version's default)
    chunk: int                  # chunked_prefill_size of the run
    free_gib: float | None      # "Load weight begin. avail mem" (or Load weight end's avail + mem usage)
    weights_gib: float | None   # "Load weight end. ... mem usage" (or begin - end avail)
    kv_tokens: int              # "KV Cache is allocated. #tokens" / max_total_num_tokens
    quant: Quantization | None = None
    note: str = ""


POINTS = [
    # docs.sglang.ai/start/send_request.html, the docs notebook as executed 2025-01-23: `python -m
    # sglang.launch_server --model-path meta-llama/Meta-Llama-3.1-8B-Instruct`; server_args print
    # mem_fraction_static=0.88, chunked_prefill_size=8192, tp_size=1; "Load weight begin. avail mem=78.81 GB",
    # "Load weight end ... avail mem=63.72 GB", "max_total_num_tokens=444500". The card is not named; 78.81 GiB free
    # before the weights is an 80 GB H100 (cudaMemGetInfo total 79.22 GiB).
    Point("S1", "docs.sglang.ai send_request notebook (2025-01-23)", "v0.4.1 (tp-table default)", "llama-3.1-8b",
          "meta-llama/Meta-Llama-3.1-8B-Instruct", "h100-sxm", 1, 0.88, 8192, 78.81, 78.81 - 63.72, 444_500),
    # sgl-project/sglang PR #4760 (2025-03-25, FA3 integration test): Meta-Llama-3.1-8B-Instruct, "Load weight end.
    # ... avail mem=63.48 GB, mem usage=15.11 GB", "KV Cache is allocated. #tokens: 442750, K size: 27.02 GB".
    # Fraction not printed: that version's default at tp 1 is 0.88. SGLang's CI runs on 80 GB H100s.
    Point("S2", "sgl-project/sglang PR #4760 (2025-03-25)", "v0.4.4 (tp-table default)", "llama-3.1-8b",
          "meta-llama/Meta-Llama-3.1-8B-Instruct", "h100-sxm", 1, 0.88, 8192, 63.48 + 15.11, 15.11, 442_750),
    # A public README (SGLang with Qwen QwQ-32B on an AWS g6.12xlarge, 4 x NVIDIA L4 24 GB, log of 2025-03-08):
    # server_args mem_fraction_static=0.85 (the tp-4 default then), chunked_prefill_size=2048, tp_size=4; "Load weight
    # begin. avail mem=21.63 GB", "Load weight end ... avail mem=6.09 GB, mem usage=15.54 GB", "KV Cache is allocated.
    # #tokens: 46611, K size: 1.42 GB".
    Point("S3", "README, QwQ-32B on AWS g6.12xlarge (2025-03-08)", "v0.4.3 (tp-table default)", QWQ_32B,
          "Qwen/QwQ-32B", "l4", 4, 0.85, 2048, 21.63, 15.54, 46_611),
    # vllm-project/vllm #21348 (MMuzzammil1, 2025-07-22): `python3 -m sglang.launch_server --model
    # Qwen3-235B-A22B-FP8 --tp 4 --mem-fraction-static 0.93` on 4 x H100: "KV Cache is allocated. #tokens: 367404,
    # K size: 8.23 GB, V size: 8.23 GB". No weights or free-memory lines.
    Point("S4", "vllm-project/vllm #21348 (MMuzzammil1, 2025-07-22)", "v0.4.9 (given fraction)", "qwen3-235b-a22b",
          "Qwen/Qwen3-235B-A22B-FP8", "h100-sxm", 4, 0.93, 8192, None, None, 367_404, quant=QWEN3_FP8),
    # ai-dynamo/aisimulate PR #263 (simone-chen, 2026-09-18): DeepSeek-R1 (fp8 weights, bf16 MLA cache) under SGLang
    # on 8 x H200, tp 8, mem_fraction_static=0.82: "the observed ~509k" tokens. A second-hand, rounded figure: the
    # PR quotes it, not the log line.
    Point("S5", "ai-dynamo/aisimulate PR #263 (simone-chen, 2026-09-18)", "recent (given fraction)", "deepseek-v3",
          "deepseek-ai/DeepSeek-R1", "h200", 8, 0.82, 32768, None, None, 509_000, note="~509k, second-hand"),
]


def predict(p: Point) -> dict:
    spec = load_spec(p.model)
    if p.quant is not None:
        spec = dataclasses.replace(spec, quantization=p.quant)
    hw, par = load_hardware(p.gpu), Parallelism(tp=p.tp)
    per_token = kv_report(spec, 1024, 1, parallel=par).per_gpu.total / 1024     # SGLang's cell_size, bytes

    def tokens(budget: float) -> int:
        return int(budget // per_token) if budget > 0 else 0

    own = fit(spec, hw, 1024, par)
    eng = fit(spec, hw, 1024, par, engine="sglang", gpu_mem_util=p.fraction, workspace_tokens=p.chunk)
    default = fit(spec, hw, 1024, par, engine="sglang")           # SGLang 0.5.x's default fraction for the card
    row = {"id": p.id, "source": p.source, "version": p.version, "checkpoint": p.checkpoint, "model": p.model,
           "gpu": hw.name, "tp": p.tp, "fraction": p.fraction, "note": p.note,
           "kv_bytes_per_token_per_gpu": per_token, "log_kv_tokens": p.kv_tokens,
           "log_free_gib": p.free_gib, "log_weights_gib": p.weights_gib,
           "m_weights_gib": own.weights / GIB, "m_kv_gib": own.kv_budget / GIB, "m_tokens": tokens(own.kv_budget),
           "s_free_gib": eng.sglang.usable / GIB, "s_kv_gib": eng.kv_budget / GIB, "s_tokens": tokens(eng.kv_budget),
           "default_fraction_0_5": default.sglang.mem_fraction_static}
    if p.free_gib is not None:
        # SGLang's rule on the logged free memory, mlacalc's weights: f x free - weights
        at = p.fraction * p.free_gib * GIB - own.weights
        row["s_tokens_at_log_free"] = tokens(at)
    if p.free_gib is not None and p.weights_gib is not None:
        # SGLang's rule on the log's own two figures: the tokens the log should show if the formula is right
        row["log_rule_tokens"] = tokens((p.fraction * p.free_gib - p.weights_gib) * GIB)
    return row


def main(argv: list[str]) -> None:
    a = json_flag_args(__doc__, argv)
    rows = [predict(p) for p in POINTS]
    if a.json:
        for r in rows:
            print(json.dumps(r))
        return
    print("| id | checkpoint | GPU x tp | fraction | log tokens | mlacalc default tokens | log / default | "
          "--engine sglang tokens | log / sglang | sglang at log's free memory | log's own figures by the rule |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lt = r["log_kv_tokens"]
        at, own = r.get("s_tokens_at_log_free"), r.get("log_rule_tokens")
        print(f"| {r['id']} | {r['checkpoint']} | {r['gpu']} x {r['tp']} | {r['fraction']} | {lt:,}"
              f"{' (' + r['note'] + ')' if r['note'] else ''} | {r['m_tokens']:,} | {lt / r['m_tokens']:.3f} | "
              f"{r['s_tokens']:,} | {lt / r['s_tokens']:.3f} | "
              f"{'-' if at is None else f'{at:,} ({lt / at:.3f})'} | {'-' if own is None else f'{own:,}'} |")
    print("\n| id | log weights GiB | mlacalc weights GiB | log / mlacalc | log free before weights GiB | "
          "mlacalc free (CUDA total - non-torch) GiB | SGLang 0.5.x default fraction here |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        lw, lf, mw = r["log_weights_gib"], r["log_free_gib"], r["m_weights_gib"]
        print(f"| {r['id']} | {'-' if lw is None else f'{lw:.2f}'} | {mw:.2f} | "
              f"{'-' if lw is None else f'{lw / mw:.4f}'} | "
              f"{'-' if lf is None else f'{lf:.2f}'} | {r['s_free_gib']:.2f} | {r['default_fraction_0_5']:g} |")


if __name__ == "__main__":
    main(sys.argv[1:])
