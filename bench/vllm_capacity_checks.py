"""Reproduce the table of docs/vllm-capacity-checks.md: what ``mlacalc fit`` predicts for the weights, the activation
workspace and the KV-cache budget per GPU at the setup of a published vLLM start-up log, beside what the log says.

    python bench/vllm_capacity_checks.py          # the tables, as markdown
    python bench/vllm_capacity_checks.py --json   # one JSON object per point

Each point is ``mlacalc fit SPEC --gpu GPU --tp N --gpu-mem-util U --workspace-tokens T --json`` (its
``memory_per_gpu``), with T = the engine's ``max_num_batched_tokens`` (the tokens vLLM's profile run pushes through
the model). Two budgets are printed: mlacalc's own (device memory from the hardware file, which is nvidia-smi's
total), and the same with the device memory the log reports (``total_gpu_memory``: what ``torch.cuda.mem_get_info``
returns, smaller than nvidia-smi's), so that the difference in total memory is separated from the rest. A third is
``fit --engine vllm`` (mlacalc/vllm.py: vLLM's own accounting, each term from vLLM's source or a measurement) with
the point's ``max_num_batched_tokens`` and ``max_num_seqs``.

Each point's ``fit --engine vllm`` takes its version's sampler path (V0 sorts; V1 with FlashInfer does not) and, for
V0 before PR #12126, the non-torch memory with the CUDA context in it (``--non-torch 718077952``): the versions'
rules from their source (mlacalc/vllm.py), not figures read off the logs.

Log figures are GiB as vLLM prints them (``GiB_bytes = 1 << 30``; V0 labelled them "GB"). None: the log does not
say. Nothing here is fitted: the points are a validation set.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from mlacalc.capacity import fit
from mlacalc.hardware import load_hardware
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.spec import Quantization, load_spec
from mlacalc.vllm import PROCESS_NON_TORCH_BYTES
from check_tables import json_flag_args, dash as f  # bench/ on sys.path, as scripts run

GIB = 2**30

# Qwen3-235B-A22B-FP8's quantization_config (quant_method fp8, weight_block_size [128, 128]): e4m3 values and one
# fp32 scale per 128x128 block in the attention and expert projections; embedding, head, router (mlp.gate) and norms
# stay bf16 (https://huggingface.co/Qwen/Qwen3-235B-A22B-FP8, config.json).
QWEN3_FP8 = Quantization(method="fp8-block", bits=8, components=("attention", "routed_experts"), group_size=16384,
                         scale_bits=32)

# DeepSeek-R1-Distill-Qwen-14B is Qwen2.5-14B's shape (config.json: 48 layers, d 5120, 40 heads, 8 KV heads,
# FFN 13824, vocab 152064, q/k/v biases, untied head).
QWEN25_14B = ("qwen2.5-7b@num_layers=48,hidden_size=5120,attention.num_heads=40,attention.num_kv_heads=8,"
              "ffn.intermediate_size=13824")


@dataclasses.dataclass(frozen=True)
class Point:
    id: str
    source: str                 # repo#issue (author, date)
    engine: str                 # vLLM version and engine (V0 / V1) as the log shows it
    model: str                  # mlacalc spec (with @overrides) standing for the HF checkpoint named in `checkpoint`
    checkpoint: str
    gpu: str                    # mlacalc hardware name (None: smi_gib gives the card's memory)
    tp: int
    util: float                 # --gpu-memory-utilization
    batched_tokens: int         # max_num_batched_tokens of the profile run
    total_gib: float | None     # the log's total_gpu_memory (torch's view of the card)
    weights_gib: float | None   # "Loading model weights took" / "Model loading took" / "model weights take"
    non_torch_gib: float | None
    activation_gib: float | None  # "PyTorch activation peak memory" (V0: peak_torch_memory - weights)
    kv_gib: float | None        # "Available KV cache memory" / "the rest of the memory reserved for KV Cache"
    kv_tokens: int | None       # "GPU KV cache size" or "# GPU blocks" x 16
    quant: Quantization | None = None
    smi_gib: float | None = None  # nvidia-smi total for a card mlacalc has no file for
    max_num_seqs: int = 256     # sequences of the profile run's sampler: V0's EngineArgs default 256; V1 on a card of
    #                             >= 70 GiB 1024 (vllm/engine/arg_utils.py get_batch_defaults)
    sampler: str = "sort"       # the profile run's top-k/top-p path (mlacalc.vllm.SAMPLER_BYTES_PER_LOGIT): V0's
    #                             sampler sorts; V1 with FlashInfer (its Docker image) takes FlashInfer's kernel
    context_in_non_torch: bool = False  # V0 before PR #12126 subtracted the absolute non-torch memory, the CUDA
    #                             context included (mlacalc.vllm.PROCESS_NON_TORCH_BYTES); later versions the growth


POINTS = [
    # vllm-project/vllm PR #10511, comment by youkaichao, 2024-12-14: `vllm serve meta-llama/Meta-Llama-3-8B` on an
    # H100 80GB (V0 worker, max_model_len 8192 so the profile run is 8,192 tokens, no chunked prefill)
    Point("A1", "vllm#10511 (youkaichao, 2024-12-14)", "v0.6.5.dev V0", "llama-3.1-8b@max_context=8192",
          "meta-llama/Meta-Llama-3-8B", "h100-sxm", 1, 0.90, 8192, 79.22, 14.96, 1.79, 1.26, 53.29, None,
          context_in_non_torch=True),
    Point("A2", "vllm#10511 (youkaichao, 2024-12-14)", "v0.6.5.dev V0", "llama-3.1-8b@max_context=8192",
          "meta-llama/Meta-Llama-3-8B (-tp 2)", "h100-sxm", 2, 0.90, 8192, 79.22, 7.48, 3.58, 1.26,
          71.29 - 7.48 - 3.58 - 1.26, None, context_in_non_torch=True),
    # vllm-project/vllm #10517, comment by kaspersiminski, 2024-12-02: meta-llama/Llama-3.1-8B-Instruct on one RTX
    # 3090 (24,576 MiB), V0, --max-model-len 20000 and 29000 (under 32k: no chunked prefill, the profile run is
    # max_model_len tokens); activation = peak_torch_memory - weights; blocks of 16 tokens
    Point("B1", "vllm#10517 (kaspersiminski, 2024-12-02)", "v0.6.x V0", "llama-3.1-8b",
          "meta-llama/Llama-3.1-8B-Instruct", None, 1, 0.90, 20000, 23.58, 14.9888, 0.35, 17.06 - 14.9888, 3.81,
          1952 * 16, smi_gib=24.0, context_in_non_torch=True),
    Point("B2", "vllm#10517 (kaspersiminski, 2024-12-02)", "v0.6.x V0", "llama-3.1-8b",
          "meta-llama/Llama-3.1-8B-Instruct", None, 1, 0.90, 29000, 23.58, 14.9888, 0.35, 17.98 - 14.9888, 2.89,
          1478 * 16, smi_gib=24.0, context_in_non_torch=True),
    # vllm-project/vllm #13061, stg609, 2025-02-11: deepseek-ai/DeepSeek-R1-Distill-Qwen-14B, 2 x RTX 4090, tp 2,
    # --gpu_memory_utilization 0.98, max_model_len 131072 (V0 turns chunked prefill on past 32k: 2,048 tokens a
    # step). The user quotes 23.08 GiB usable = 0.98 x total, so total = 23.55 GiB.
    Point("C1", "vllm#13061 (stg609, 2025-02-11)", "v0.7.x V0", QWEN25_14B,
          "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "rtx-4090", 2, 0.98, 2048, 23.08 / 0.98, 13.9476, 0.25, 0.19,
          8.69, None),
    # vllm-project/vllm #21348, MMuzzammil1, 2025-07-22: Qwen3-235B-A22B-FP8 on 4 x H100, tp 4, defaults (V1:
    # max_num_batched_tokens 8192 for the API server on a >= 70 GiB card, max_model_len 40960)
    Point("D1", "vllm#21348 (MMuzzammil1, 2025-07-22)", "v0.9.x V1", "qwen3-235b-a22b", "Qwen/Qwen3-235B-A22B-FP8",
          "h100-sxm", 4, 0.90, 8192, None, None, None, None, 8.11, 178880, quant=QWEN3_FP8, max_num_seqs=1024,
          sampler="flashinfer"),
    # Weights-only points ("Model loading took"): the rest of the log is missing or the engine failed.
    # vllm-project/vllm #23278, QichangZheng, 2025-08-20: openai/gpt-oss-120b on one H100, Marlin MXFP4 MoE
    Point("E1", "vllm#23278 (QichangZheng, 2025-08-20)", "v0.10.1 V1 (Marlin MoE)", "gpt-oss-120b",
          "openai/gpt-oss-120b", "h100-sxm", 1, 0.90, 8192, None, 65.9651, None, None, None, None, max_num_seqs=1024),
    # vllm-project/vllm #33155, tonyaw, 2026-01-27: the same checkpoint on one H100, Triton MXFP4 MoE backend
    Point("E2", "vllm#33155 (tonyaw, 2026-01-27)", "v0.14.1 V1 (Triton MoE)", "gpt-oss-120b",
          "openai/gpt-oss-120b", "h100-sxm", 1, 0.90, 8192, None, 64.38, None, None, None, None, max_num_seqs=1024),
    # vllm-project/vllm PR #4650, pcmoritz, 2024-06-28: deepseek-ai/DeepSeek-V2-Lite, tp 1, V0 (v0.5.0.post1)
    Point("F1", "vllm#4650 (pcmoritz, 2024-06-28)", "v0.5.0.post1 V0", "deepseek-v2-lite", "deepseek-ai/DeepSeek-V2-Lite",
          "h100-sxm", 1, 0.90, 32000, None, 29.3010, None, None, None, None),
]


def predict(p: Point) -> dict:
    spec = load_spec(p.model)
    if p.quant is not None:
        spec = dataclasses.replace(spec, quantization=p.quant)
    hw = load_hardware(p.gpu or "rtx-4090")
    if p.gpu is None:
        # no cudaMemGetInfo figure in any file for this card: --engine vllm falls back to nvidia-smi's total
        hw = dataclasses.replace(hw, name=f"{p.smi_gib} GiB card", memory_bytes=p.smi_gib * GIB, cuda_memory_bytes=0)
    par = Parallelism(tp=p.tp)
    own = fit(spec, hw, 1024, par, gpu_mem_util=p.util, workspace_tokens=p.batched_tokens)
    row = {"id": p.id, "source": p.source, "engine": p.engine, "checkpoint": p.checkpoint, "model": p.model,
           "gpu": hw.name, "tp": p.tp, "util": p.util, "batched_tokens": p.batched_tokens,
           "m_total_gib": hw.memory_bytes / GIB, "m_weights_gib": own.weights / GIB,
           "m_workspace_gib": own.workspace.total / GIB, "m_kv_gib": own.kv_budget / GIB,
           "log_total_gib": p.total_gib, "log_weights_gib": p.weights_gib, "log_non_torch_gib": p.non_torch_gib,
           "log_activation_gib": p.activation_gib, "log_kv_gib": p.kv_gib, "log_kv_tokens": p.kv_tokens}
    # KV bytes of one token on one GPU (linear in context for these full-attention models)
    per_token = kv_report(spec, 1024, 1, parallel=par).per_gpu.total / 1024
    row["kv_bytes_per_token_per_gpu"] = per_token
    eng = fit(spec, hw, 1024, par, gpu_mem_util=p.util, workspace_tokens=p.batched_tokens, engine="vllm",
              max_num_seqs=p.max_num_seqs, sampler=p.sampler,
              non_torch_bytes=PROCESS_NON_TORCH_BYTES if p.context_in_non_torch else None)
    row["max_num_seqs"], row["sampler"] = p.max_num_seqs, p.sampler
    row["v_kv_gib"] = eng.kv_budget / GIB
    bytes_keys = ("total", "usable", "weights", "non_torch", "activation_peak", "forward", "sampler", "kv_budget")
    row["v_memory_gib"] = {k: v / GIB if k in bytes_keys else v for k, v in eng.vllm.as_dict().items()}
    row["m_kv_tokens"] = int(own.kv_budget // per_token) if own.kv_budget > 0 else 0
    if p.total_gib is not None:
        at = fit(spec, dataclasses.replace(hw, memory_bytes=p.total_gib * GIB), 1024, par, gpu_mem_util=p.util,
                 workspace_tokens=p.batched_tokens)
        row["m_kv_gib_at_log_total"] = at.kv_budget / GIB
    if p.kv_gib is not None:
        row["log_kv_tokens_from_gib"] = int(p.kv_gib * GIB // per_token)   # the tokens the log's GiB hold
    return row


def gap(r: dict) -> dict:
    """mlacalc's KV budget minus the log's, split by cause (GiB; positive: mlacalc gives the KV cache more).
    usable: util x (nvidia-smi total - torch total); weights: log - mlacalc; workspace: the log's activation peak
    minus mlacalc's workspace; non_torch: the log's (mlacalc counts none). They sum to the whole gap."""
    if None in (r["log_total_gib"], r["log_weights_gib"], r["log_non_torch_gib"], r["log_activation_gib"],
                r["log_kv_gib"]):
        return {}
    return {"usable": r["util"] * (r["m_total_gib"] - r["log_total_gib"]),
            "weights": r["log_weights_gib"] - r["m_weights_gib"],
            "workspace": r["log_activation_gib"] - r["m_workspace_gib"],
            "non_torch": r["log_non_torch_gib"],
            "total": r["m_kv_gib"] - r["log_kv_gib"]}


def main(argv: list[str]) -> None:
    a = json_flag_args(__doc__, argv)
    rows = [predict(p) for p in POINTS]
    for r in rows:
        r["gap_gib"] = gap(r)
    if a.json:
        for r in rows:
            print(json.dumps(r))
        return
    print("Weights per GPU (GiB)\n")
    print("| id | checkpoint | tp | engine | log | mlacalc | log / mlacalc |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["log_weights_gib"] is not None:
            print(f"| {r['id']} | {r['checkpoint']} | {r['tp']} | {r['engine']} | {r['log_weights_gib']:.4f} | "
                  f"{r['m_weights_gib']:.4f} | {r['log_weights_gib'] / r['m_weights_gib']:.4f} |")
    print("\nKV cache per GPU (GiB, tokens)\n")
    print("| id | checkpoint | GPU x tp | util | profile tokens | log KV GiB | mlacalc KV GiB | log / mlacalc | "
          "mlacalc at log's total | log tokens | mlacalc tokens | log / mlacalc |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["log_kv_gib"] is None:
            continue
        tok = r["log_kv_tokens"] or r["log_kv_tokens_from_gib"]
        print(f"| {r['id']} | {r['checkpoint']} | {r['gpu']} x {r['tp']} | {r['util']} | {r['batched_tokens']:,} | "
              f"{r['log_kv_gib']:.2f} | {r['m_kv_gib']:.2f} | {r['log_kv_gib'] / r['m_kv_gib']:.3f} | "
              f"{f(r.get('m_kv_gib_at_log_total'))} | {tok:,}{'' if r['log_kv_tokens'] else ' (from GiB)'} | "
              f"{r['m_kv_tokens']:,} | {tok / r['m_kv_tokens']:.3f} |")
    print("\nKV cache per GPU with `fit --engine vllm` (GiB; vLLM's accounting, mlacalc/vllm.py)\n")
    print("| id | total (source) | non-torch | forward | sampler (seqs) | activation peak | log KV | mlacalc KV | "
          "log / mlacalc before | --engine vllm KV | log / mlacalc after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["log_kv_gib"] is None:
            continue
        v = r["v_memory_gib"]
        src = "cuda" if v["total_source"] == "cudaMemGetInfo" else "smi"
        print(f"| {r['id']} | {v['total']:.2f} ({src}) | {v['non_torch']:.2f} | {v['forward']:.2f} | "
              f"{v['sampler']:.2f} ({r['max_num_seqs']:,}) | {v['activation_peak']:.2f} | {r['log_kv_gib']:.2f} | "
              f"{r['m_kv_gib']:.2f} | {r['log_kv_gib'] / r['m_kv_gib']:.3f} | {r['v_kv_gib']:.2f} | "
              f"{r['log_kv_gib'] / r['v_kv_gib']:.3f} |")
    print("\nWhere the KV gap comes from (GiB per GPU; mlacalc minus log; positive: mlacalc gives the KV cache more)\n")
    print("| id | usable (total memory) | weights | workspace vs activation peak | non-torch | total gap | "
          "log activation | mlacalc workspace |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        g = r["gap_gib"]
        if g:
            print(f"| {r['id']} | {g['usable']:+.2f} | {g['weights']:+.2f} | {g['workspace']:+.2f} | "
                  f"{g['non_torch']:+.2f} | {g['total']:+.2f} | {r['log_activation_gib']:.2f} | "
                  f"{r['m_workspace_gib']:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
