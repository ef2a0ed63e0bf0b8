"""Held-out check of ``fit --engine vllm|sglang`` against public start-up logs not used before
(docs/vllm-capacity-checks.md and docs/sglang-capacity-checks.md, section "Held-out round, 2026-09"): what mlacalc
predicts for the weights, the KV budget, the KV tokens and the concurrency per GPU, beside what the engine printed.

    python bench/held_out_capacity_checks.py          # the tables, as markdown
    python bench/held_out_capacity_checks.py --json   # one JSON object per point

Each vLLM point is ``mlacalc fit MODEL --gpu GPU --tp N --engine vllm --gpu-mem-util U --workspace-tokens T
--max-num-seqs S --context C [--sampler triton|sort] [--kv-dtype fp8] --json`` (the ``cmd`` field of ``--json``
spells it), with T and S the engine's ``max_num_batched_tokens`` / ``max_num_seqs`` and C its ``max_model_len``; each
SGLang point ``mlacalc fit MODEL --gpu GPU --tp N --engine sglang --gpu-mem-util F --workspace-tokens CHUNK --json``.
"before" is
the budget mlacalc gave before this round (vLLM's non-torch 0.669 GiB, the context included; a sampler of 28 B a
logit; sliding-window layers as a byte sum), replayed here from those constants.

Tokens: vLLM's "GPU KV cache size" is ``num_blocks x 16`` for a model of full layers (``num_blocks = budget // (16 x
bytes a token of every layer)``) and ``num_blocks // groups x 16`` for one with sliding-window layers
(:mod:`mlacalc.vllm_sliding`); "at the log's KV" applies the same page arithmetic to the budget the log prints, which
separates the paging from the budget. Log figures are GiB as the engines print them. Nothing here is fitted: the points
are a validation set; the sampler path and the log's settings are read from each log.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from mlacalc.capacity import fit
from mlacalc.hardware import load_hardware
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.vllm import PROCESS_NON_TORCH_BYTES, sampler_peak
from check_tables import json_flag_args, dash as _f  # bench/ on sys.path, as scripts run

GIB = 2**30
REPO = Path(__file__).resolve().parent.parent
HF = "tests/fixtures/hf/"       # config.json folders, relative to the repository (as the commands print them)
OLD_SAMPLER_BYTES = 28          # mlacalc.vllm before this round: the sort path at the scatter, no sort buffers

DENNIS = "https://github.com/dennislee22/vLLM-benchmarking/blob/main/log/"
CSSNOEASY = ("https://github.com/cssnoeasy/a100-vllm-benchmark-blog/blob/main/docs/reports/"
             "a100-quantization-capacity.md")
LLMD = "https://github.com/llm-d-incubation/llm-d-planner/blob/main/accuracy/"


@dataclasses.dataclass(frozen=True)
class VPoint:
    id: str
    source: str
    version: str                # vLLM version and the top-k/top-p path its log names
    model: str                  # mlacalc spec or config.json folder standing for `checkpoint`
    checkpoint: str             # the Hugging Face repository the log served
    gpu: str                    # mlacalc hardware name
    tp: int
    util: float
    batched: int                # max_num_batched_tokens
    seqs: int                   # max_num_seqs
    context: int                # max_model_len
    sampler: str = "flashinfer"  # mlacalc --sampler: flashinfer, triton (vLLM 0.17-0.19's default) or sort
    kv_dtype: str | None = None
    log_weights: float | None = None    # "Model loading took"
    log_kv: float | None = None         # "Available KV cache memory" (or derived: see kv_derived)
    log_tokens: int | None = None       # "GPU KV cache size"
    log_conc: float | None = None       # "Maximum concurrency for {context} tokens"
    log_activation: float | None = None  # "torch peak memory increase"
    log_non_torch: float | None = None   # "non-torch forward increase memory"
    log_total: float | None = None       # the CUDA total the log shows
    kv_derived: bool = False            # log_kv is util x total - weights - activation - non-torch, not printed
    note: str = ""


VPOINTS = [
    VPoint("G1", DENNIS + "vllm-7B-1gpuA10080GB-0.5GRAM.log", "0.10.1.1, FlashInfer sampler",
           "qwen2.5-7b", "Qwen/Qwen2-7B-Instruct", "a100-80gb", 1, 0.5, 2048, 256, 16384,
           log_weights=14.2488, log_kv=24.83, log_tokens=464_848, log_conc=28.37),
    VPoint("G2", DENNIS + "vllm-7B-1gpuA10080GB-0.25GRAM.log", "0.10.1.1, FlashInfer sampler",
           "qwen2.5-7b", "Qwen/Qwen2-7B-Instruct", "a100-80gb", 1, 0.25, 2048, 256, 16384,
           log_weights=14.2488, log_kv=5.01, log_tokens=93_872, log_conc=5.73),
    VPoint("G4", DENNIS + "vllm-7B-2gpuA10080GB-0.5GRAM-same-node.log", "0.10.1.1, FlashInfer sampler",
           "qwen2.5-7b", "Qwen/Qwen2-7B-Instruct", "a100-80gb", 2, 0.5, 2048, 256, 16384,
           log_weights=7.1217, log_kv=31.83, log_tokens=1_192_160, log_conc=72.76,
           note="no custom all-reduce (no P2P)"),
    VPoint("G5", DENNIS + "vllm-7B-2gpuA10040GB-0.5GRAM-diff-nodes.log", "0.10.1.1, no FlashInfer: sort",
           "qwen2.5-7b", "Qwen/Qwen2-7B-Instruct", "a100-40gb", 2, 0.5, 2048, 256, 16384, sampler="sort",
           log_weights=7.1217, log_kv=11.03, log_tokens=412_944, log_conc=25.20, note="Ray over two nodes"),
    VPoint("G3", DENNIS + "vllm-120B-4gpuA10080GB-0.8GRAM-diff-nodes.log", "0.10.1.1, FlashInfer sampler",
           "gpt-oss-120b", "openai/gpt-oss-120b", "a100-80gb", 4, 0.8, 2048, 256, 16384,
           log_weights=17.2217, log_kv=45.32, log_tokens=2_640_144, log_conc=284.25,
           note="Marlin MXFP4 MoE (no FP4 on sm_80); Ray over four nodes"),
    VPoint("M1", "https://myoceane.fr/index.php/ai-vllm-a100-gemma-4/", "0.19.0, sampler by default (Triton)",
           "gpt-oss-20b", "openai/gpt-oss-20b", "a100-80gb", 1, 0.65, 2048, 256, 131072,
           sampler="triton", log_weights=13.72, log_kv=36.56, note="A100 (80 GB by its figures); Marlin MXFP4 MoE"),
    VPoint("H1", CSSNOEASY, "0.19.0, sampler by default (Triton)", HF + "qwen3_32b", "Qwen/Qwen3-32B",
           "a100-80gb", 1, 0.9, 2048, 256, 8192,
           sampler="triton", log_weights=61.03, log_kv=9.57, log_tokens=39_200, log_conc=4.79,
           note="A100 80GB PCIe, eager"),
    VPoint("H2", CSSNOEASY, "0.19.0, sampler by default (Triton)", HF + "qwen3_32b", "Qwen/Qwen3-32B (fp8 KV)",
           "a100-80gb", 1, 0.9, 2048, 256, 8192, kv_dtype="fp8",
           sampler="triton", log_weights=61.03, log_kv=9.57, log_tokens=78_400,
           log_conc=9.57, note="--kv-cache-dtype fp8"),
    VPoint("H3", CSSNOEASY, "0.19.0, sampler by default (Triton)", HF + "qwen3_32b_awq", "Qwen/Qwen3-32B-AWQ",
           "a100-80gb", 1, 0.9, 2048, 256, 8192, sampler="triton", log_weights=18.14, log_kv=52.31, log_tokens=214_272,
           log_conc=26.16, note="fp16, AWQ (Marlin)"),
    VPoint("L1", LLMD + "results/v0.19.0/logs/google-gemma-2-9b-it--h100-80gb--tp1pp1dp1--8192.log",
           "0.19.0, FlashInfer off: Triton", HF + "gemma2", "google/gemma-2-9b-it", "h100-sxm", 1, 0.95, 8192,
           1024, 8192,
           sampler="triton", log_weights=17.22, log_kv=54.12, log_tokens=168_880, log_conc=20.60, log_activation=3.65,
           log_non_torch=0.25, log_total=79.19),
    VPoint("L2", LLMD + "accuracy_report.md", "0.19.0, FlashInfer off: Triton", "llama-3.1-8b",
           "meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 1, 0.95, 8192, 1024, 8192,
           sampler="triton", log_weights=14.99,
           log_kv=58.11, log_tokens=476_000, log_conc=58.11, log_activation=1.89, log_non_torch=0.25, log_total=79.19),
    VPoint("L3", LLMD + "accuracy_report.md", "0.19.0, FlashInfer off: Triton", "llama-3.1-8b",
           "meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 2, 0.95, 8192, 1024, 8192,
           sampler="triton", log_weights=7.51,
           log_kv=0.95 * 79.19 - 7.51 - 1.89 - 2.07, log_activation=1.89, log_non_torch=2.07, log_total=79.19,
           kv_derived=True),
    VPoint("L4", LLMD + "accuracy_report.md", "0.19.0, FlashInfer off: Triton", "llama-3.1-8b",
           "meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 4, 0.95, 8192, 1024, 8192,
           sampler="triton", log_weights=3.77,
           log_kv=0.95 * 79.19 - 3.77 - 1.89 - 2.13, log_activation=1.89, log_non_torch=2.13, log_total=79.19,
           kv_derived=True),
    VPoint("L5", LLMD + "accuracy_report.md", "0.19.0, FlashInfer off: Triton", "qwen2.5-7b",
           "Qwen/Qwen2.5-7B-Instruct", "h100-sxm", 1, 0.95, 8192, 1024, 8192,
           sampler="triton", log_weights=14.25, log_kv=58.53,
           log_tokens=1_096_000, log_conc=133.79, log_activation=2.21, log_non_torch=0.24, log_total=79.19),
    VPoint("L6", LLMD + "accuracy_report.md", "0.19.0, FlashInfer off: Triton", "qwen2.5-7b",
           "Qwen/Qwen2.5-7B-Instruct", "h100-sxm", 2, 0.95, 8192, 1024, 8192, sampler="triton", log_weights=7.12,
           log_kv=0.95 * 79.19 - 7.12 - 2.21 - 2.06, log_activation=2.21, log_non_torch=2.06, log_total=79.19,
           kv_derived=True),
    VPoint("L7", LLMD + "accuracy_report.md", "0.19.0, FlashInfer off: Triton", "qwen2.5-7b",
           "Qwen/Qwen2.5-7B-Instruct", "h100-sxm", 4, 0.95, 8192, 1024, 8192, sampler="triton", log_weights=3.55,
           log_kv=0.95 * 79.19 - 3.55 - 2.21 - 2.13, log_activation=2.21, log_non_torch=2.13, log_total=79.19,
           kv_derived=True),
    VPoint("L8", LLMD + "accuracy_report.md", "0.19.0, FlashInfer off: Triton", "qwen2.5-7b",
           "Qwen/Qwen2.5-7B-Instruct (fp8 KV)", "h100-sxm", 1, 0.95, 8192, 1024, 8192, kv_dtype="fp8",
           sampler="triton", log_weights=14.25, log_kv=58.53, log_tokens=2_192_000, log_total=79.19,
           note="--kv-cache-dtype fp8"),
    VPoint("Q16", LLMD + "accuracy_report.md", "0.16.0, FlashInfer off: sort", HF + "qwen3_14b", "Qwen/Qwen3-14B",
           "h100-sxm", 1, 0.95, 8192, 1024, 8192, sampler="sort", log_weights=27.52, log_kv=41.94,
           log_activation=5.64, log_non_torch=0.13, log_total=79.19, note="the report's version table"),
    VPoint("Q17", LLMD + "accuracy_report.md", "0.17.0, FlashInfer off: Triton", HF + "qwen3_14b", "Qwen/Qwen3-14B",
           "h100-sxm", 1, 0.95, 8192, 1024, 8192,
           sampler="triton", log_weights=27.52, log_kv=45.34, log_activation=2.23,
           log_non_torch=0.13, log_total=79.19, note="the report's version table"),
]


def _cmd(p: VPoint) -> str:
    return (f"mlacalc fit {p.model} --gpu {p.gpu} --tp {p.tp} --engine vllm --gpu-mem-util {p.util:g} "
            f"--workspace-tokens {p.batched} --max-num-seqs {p.seqs} --context {p.context}"
            + (f" --sampler {p.sampler}" if p.sampler != "flashinfer" else "")
            + (f" --kv-dtype {p.kv_dtype}" if p.kv_dtype else "") + " --json")


def _spec(model: str):
    """The spec a point names: a built-in name, or a config.json folder relative to the repository."""
    return load_spec(str(REPO / model) if model.startswith(HF) else model)


def predict_vllm(p: VPoint) -> dict:
    spec, hw, par = _spec(p.model), load_hardware(p.gpu), Parallelism(tp=p.tp)
    kv_bits = 8 if p.kv_dtype == "fp8" else None
    f = fit(spec, hw, p.context, par, gpu_mem_util=p.util, workspace_tokens=p.batched, engine="vllm",
            max_num_seqs=p.seqs, sampler=p.sampler, kv_bits=kv_bits)
    v = f.vllm
    # before this round: the context in the non-torch memory, 28 B a logit, no sort buffers
    old_sampler = sampler_peak(spec.vocab_size, spec.hidden_size, p.batched, p.seqs, "flashinfer") + (
        min(p.batched, p.seqs) * spec.vocab_size * (OLD_SAMPLER_BYTES - 14))
    before = v.usable - v.weights - PROCESS_NON_TORCH_BYTES - max(v.forward, old_sampler)
    token = kv_report(spec, 1024, 1, parallel=par, kv_bits=kv_bits or 16).per_gpu.total / 1024
    row = {"id": p.id, "source": p.source, "version": p.version, "checkpoint": p.checkpoint, "model": p.model,
           "gpu": hw.name, "tp": p.tp, "util": p.util, "context": p.context, "sampler": p.sampler,
           "note": p.note, "cmd": _cmd(p), "log_weights_gib": p.log_weights, "log_kv_gib": p.log_kv,
           "kv_derived": p.kv_derived, "log_tokens": p.log_tokens, "log_concurrency": p.log_conc,
           "log_activation_gib": p.log_activation, "log_non_torch_gib": p.log_non_torch,
           "m_weights_gib": f.weights / GIB, "m_kv_gib": f.kv_budget / GIB, "m_kv_before_gib": before / GIB,
           "m_total_gib": v.total / GIB, "m_activation_gib": v.activation_peak / GIB,
           "m_non_torch_gib": v.non_torch / GIB, "vllm_memory": {k: (x / GIB if isinstance(x, float) else x)
                                                                for k, x in v.as_dict().items()}}

    def pages(budget: float) -> tuple[int, float]:
        if f.vllm_sliding is not None:
            s = f.vllm_sliding
            return s.logged_tokens_legacy(budget), s.max_concurrency(budget, p.context)
        tokens = int(budget // (16 * token)) * 16
        return tokens, tokens / p.context

    row["m_tokens"], row["m_concurrency"] = pages(f.kv_budget)
    row["m_concurrency_byte_sum"] = f.kv_budget / f.kv_bytes_per_seq if f.vllm_sliding is None else (
        f.kv_budget / (kv_report(spec, p.context, 1, parallel=par, kv_bits=kv_bits or 16).per_gpu.total))
    if p.log_kv is not None and not p.kv_derived:
        row["tokens_at_log_kv"], row["concurrency_at_log_kv"] = pages(p.log_kv * GIB)
    if p.log_non_torch is not None:
        g = fit(spec, hw, p.context, par, gpu_mem_util=p.util, workspace_tokens=p.batched, engine="vllm",
                max_num_seqs=p.seqs, sampler=p.sampler, kv_bits=kv_bits, non_torch_bytes=p.log_non_torch * GIB)
        row["m_kv_at_log_non_torch_gib"] = g.kv_budget / GIB
    return row


@dataclasses.dataclass(frozen=True)
class SPoint:
    id: str
    source: str
    version: str
    model: str
    checkpoint: str
    gpu: str
    tp: int
    fraction: float             # mem_fraction_static (printed in server_args)
    chunk: int                  # chunked_prefill_size
    log_free: float             # "Load weight begin. avail mem" (or end's avail + mem usage)
    log_weights: float          # "Load weight end ... mem usage" (or begin - end)
    log_tokens: int             # max_total_num_tokens, or the pool SGLang's rule gives at the log's rest (note)
    cuda_gib: float | None = None   # the card's CUDA total where mlacalc has no file for it
    smi_gib: float | None = None
    note: str = ""


SPOINTS = [
    SPoint("SG1", "https://github.com/sgl-project/sglang/pull/18263", "main of 2026-07 (ROCm)",
           HF + "qwen3_30b_a3b", "Qwen/Qwen3-30B-A3B-Instruct-2507", "mi355x", 1, 0.911, 16384,
           230.20 + 56.98, 56.98, 219_721_119_039 // 98_304,
           note="the PR prints main's rest ('initial available_bytes 219721119039') before its own cut; tokens = "
                "that // 98,304 B; the fraction is SGLang's default for the card"),
    SPoint("SG2", "https://github.com/jerryzsj/my-deepseek-r1 (README.md)", "0.4.2 (2025-02-04)", "qwen2.5-7b",
           "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "rtx-4090", 1, 0.88, 2048, 22.76, 22.76 - 8.37, 105_531,
           cuda_gib=23.58, smi_gib=24.0, note="RTX 3090 under WSL2 (Docker); its CUDA total 23.58 GiB (vllm #10517)"),
]


def predict_sglang(p: SPoint) -> dict:
    spec, hw, par = _spec(p.model), load_hardware(p.gpu), Parallelism(tp=p.tp)
    if p.cuda_gib is not None:          # a card without a hardware file: its nvidia-smi and CUDA totals
        hw = dataclasses.replace(hw, name=p.note.split(" under")[0], memory_bytes=p.smi_gib * GIB,
                                 cuda_memory_bytes=p.cuda_gib * GIB)
    cell = kv_report(spec, 1024, 1, parallel=par).per_gpu.total / 1024         # SGLang's cell_size, bytes

    def tokens(budget: float) -> int:
        return int(budget // cell) if budget > 0 else 0

    f = fit(spec, hw, 1024, par, engine="sglang", gpu_mem_util=p.fraction, workspace_tokens=p.chunk)
    default = fit(spec, hw, 1024, par, engine="sglang")
    return {"id": p.id, "source": p.source, "version": p.version, "checkpoint": p.checkpoint, "model": p.model,
            "gpu": hw.name, "tp": p.tp, "fraction": p.fraction, "note": p.note,
            "cmd": (f"mlacalc fit {p.model} --gpu {p.gpu} --tp {p.tp} --engine sglang --gpu-mem-util {p.fraction:g} "
                    f"--workspace-tokens {p.chunk} --json"),
            "log_free_gib": p.log_free, "log_weights_gib": p.log_weights, "log_tokens": p.log_tokens,
            "m_free_gib": f.sglang.usable / GIB, "m_weights_gib": f.weights / GIB, "m_tokens": tokens(f.kv_budget),
            "tokens_at_log_free": tokens(p.fraction * p.log_free * GIB - f.weights),
            "log_rule_tokens": tokens((p.fraction * p.log_free - p.log_weights) * GIB),
            "default_fraction": default.sglang.mem_fraction_static}


def main(argv: list[str]) -> None:
    a = json_flag_args(__doc__, argv)
    vrows, srows = [predict_vllm(p) for p in VPOINTS], [predict_sglang(p) for p in SPOINTS]
    if a.json:
        for r in vrows + srows:
            print(json.dumps(r))
        return
    print("vLLM: weights and KV budget per GPU (GiB)\n")
    print("| id | checkpoint | GPU x tp | vLLM, sampler | util | log weights | mlacalc | log / mlacalc | log KV | "
          "mlacalc KV before | log / before | mlacalc KV | log / mlacalc | at the log's non-torch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in vrows:
        lk, at = r["log_kv_gib"], r.get("m_kv_at_log_non_torch_gib")
        print(f"| {r['id']} | {r['checkpoint']} | {r['gpu']} x {r['tp']} | {r['version']} | {r['util']:g} | "
              f"{_f(r['log_weights_gib'], '{:.4g}')} | {r['m_weights_gib']:.4f} | "
              f"{r['log_weights_gib'] / r['m_weights_gib']:.4f} | {lk:.2f}{'*' if r['kv_derived'] else ''} | "
              f"{r['m_kv_before_gib']:.2f} | {lk / r['m_kv_before_gib']:.3f} | {r['m_kv_gib']:.2f} | "
              f"{lk / r['m_kv_gib']:.3f} | "
              f"{'-' if at is None else f'{at:.2f} ({lk / at:.3f})'} |")
    print("\n(* the log prints weights, activation and non-torch memory; KV = util x 79.19 less those.)\n")
    print("vLLM: KV tokens and concurrency at max_model_len\n")
    print("| id | context | log tokens | mlacalc tokens | log / mlacalc | at the log's KV | log concurrency | "
          "mlacalc concurrency | byte sum (before) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in vrows:
        if r["log_tokens"] is None and r["log_concurrency"] is None:
            continue
        lt = r["log_tokens"]
        print(f"| {r['id']} | {r['context']:,} | {_f(lt, '{:,}')} | {r['m_tokens']:,} | "
              f"{_f(None if lt is None else lt / r['m_tokens'], '{:.3f}')} | "
              f"{_f(r.get('tokens_at_log_kv'), '{:,}')} | {_f(r['log_concurrency'])} | "
              f"{r['m_concurrency']:.2f} | {r['m_concurrency_byte_sum']:.2f} |")
    print("\nvLLM: the activation peak and non-torch memory (GiB), where the log prints them\n")
    print("| id | vocabulary x rows | log activation | mlacalc (sampler path) | log non-torch | mlacalc non-torch |")
    print("|---|---|---|---|---|---|")
    for r, p in zip(vrows, VPOINTS):
        if r["log_activation_gib"] is None:
            continue
        spec = _spec(p.model)
        print(f"| {r['id']} | {spec.vocab_size:,} x {min(p.batched, p.seqs):,} | {r['log_activation_gib']:.2f} | "
              f"{r['m_activation_gib']:.2f} ({r['sampler']}) | {r['log_non_torch_gib']:.2f} | "
              f"{r['m_non_torch_gib']:.3f} |")
    print("\nSGLang: the pool per GPU (tokens)\n")
    print("| id | checkpoint | GPU x tp | fraction (SGLang 0.5 default here) | log free | mlacalc free | "
          "log weights | mlacalc weights | log tokens | mlacalc tokens | log / mlacalc | at the log's free | "
          "log's figures by the rule |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in srows:
        print(f"| {r['id']} | {r['checkpoint']} | {r['gpu']} x {r['tp']} | {r['fraction']:g} "
              f"({r['default_fraction']:g}) | {r['log_free_gib']:.2f} | {r['m_free_gib']:.2f} | "
              f"{r['log_weights_gib']:.2f} | {r['m_weights_gib']:.2f} | {r['log_tokens']:,} | {r['m_tokens']:,} | "
              f"{r['log_tokens'] / r['m_tokens']:.3f} | {r['tokens_at_log_free']:,} | {r['log_rule_tokens']:,} |")


if __name__ == "__main__":
    main(sys.argv[1:])
