"""Reproduce the predictions of docs/training-memory-checks.md, section "Held-out round, 2026-12": mlacalc's peak
training memory per GPU at the setup of each published torchtitan measurement.

    python bench/train_memory_checks.py          # the table, as markdown
    python bench/train_memory_checks.py --json   # one JSON object per point

Each point is the same as ``mlacalc train MODEL --seq S -b B --dp D --cp C --tp T [--sp] --pp P --zero 3
--recompute MODE --tp-style torchtitan --json`` (``per_gpu.total``; the ``cmd`` field of ``--json`` spells it).
torchtitan's FSDP2 is ZeRO-3 over the ``dp x cp`` ranks (``dp_shard_cp``), fp32 sharded parameters, gradients and
Adam states (16 B a parameter, ``--precision mixed``), bf16 compute; its TP is DTensor's (``--tp-style torchtitan``:
all-gathered saved linear inputs, ``loss_parallel``), identical to the default at TP 1. Its "Memory(GiB)" is
``torch.cuda.max_memory_reserved`` (torchtitan's ``DeviceMemoryMonitor``, the log's ``memory: ...GiB``), the caching
allocator's reserved peak, the fullest GPU.

"before" is the peak the calculator gave before this round (:func:`before_bytes`: Megatron's TP style, the loss's
backward priced at two fp32 ``b s V / t`` tensors, not three; ZeRO-3 under PP gathering one unit at a time with
sharded gradients). ``megatron_tp_gib`` (``--json``) is today's calculator with Megatron's TP style, what the TP rows
gave before ``--tp-style torchtitan`` existed. Nothing is fitted: the points are a validation set; the setups are read
from the sources (URLs below) and the torchtitan configs they name.
"""

from __future__ import annotations

import json
import sys
from typing import NamedTuple

from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.params import stage_params
from mlacalc.training import GIB, WEIGHT_GATHER_BYTES, TrainRun, stage_memory, zero3_units
from check_tables import json_flag_args  # bench/ on sys.path, as scripts run

PERF = "https://github.com/pytorch/torchtitan/blob/main/docs/performance.md"     # torchtitan 9dec370, 2024-12
TRAINY = "https://github.com/pytorch/torchtitan/blob/main/benchmarks/llama3_8b_h200_2025-06_torchtitan.md"


class Point(NamedTuple):
    """One published peak and its setup. ``batch``: the micro-batch mlacalc prices (torchtitan's local batch, or
    under PP the local batch over the ``pp`` micro-batches torchtitan's 1F1B splits it into by default:
    ``pipeline_parallel_microbatches or parallel_dims.pp``)."""

    id: str
    source: str
    model: str
    seq: int
    batch: int
    dp: int
    cp: int
    tp: int
    pp: int
    recompute: str       # mlacalc's mode; torchtitan's "selective" is op-level SAC (see ``ac``), mlacalc's "op"
    ac: str              # what torchtitan ran
    extras: str          # torch.compile / Float8 / AsyncTP / interleaving: not modelled
    published_gib: float

    def run(self, tp_style: str = "torchtitan") -> TrainRun:
        return TrainRun(micro_batch=self.batch, seq=self.seq, recompute=self.recompute, zero=3,
                        parallel=Parallelism(tp=self.tp, pp=self.pp, dp=self.dp, cp=self.cp, sp=self.tp > 1,
                                             tp_style=tp_style))

    def cmd(self) -> str:
        sp = " --sp" if self.tp > 1 else ""
        return (f"mlacalc train {self.model} --seq {self.seq} -b {self.batch} --dp {self.dp} --cp {self.cp} "
                f"--tp {self.tp}{sp} --pp {self.pp} --zero 3 --recompute {self.recompute} --tp-style torchtitan "
                "--json")


OP_SAC = "op SAC"
POINTS = [Point(*p) for p in [
    # Table 1: Llama 3.1 8B, 8 GPUs (FSDP 8), local batch 2, seq 8192 (llama3_8b.toml), selective op AC
    ("T1a", PERF, "llama-3.1-8b", 8192, 2, 8, 1, 1, 1, "selective", OP_SAC, "-", 82.4),
    ("T1a'", PERF, "llama-3.1-8b", 8192, 2, 8, 1, 1, 1, "full", OP_SAC, "-", 82.4),
    ("T1b", PERF, "llama-3.1-8b", 8192, 2, 8, 1, 1, 1, "selective", OP_SAC, "compile", 77.0),
    ("T1c", PERF, "llama-3.1-8b", 8192, 2, 8, 1, 1, 1, "selective", OP_SAC, "compile, Float8", 76.8),
    # the same three with mlacalc's op mode, torchtitan's policy itself (activations.op_sac_tensors)
    ("T1a-op", PERF, "llama-3.1-8b", 8192, 2, 8, 1, 1, 1, "op", OP_SAC, "-", 82.4),
    ("T1b-op", PERF, "llama-3.1-8b", 8192, 2, 8, 1, 1, 1, "op", OP_SAC, "compile", 77.0),
    ("T1c-op", PERF, "llama-3.1-8b", 8192, 2, 8, 1, 1, 1, "op", OP_SAC, "compile, Float8", 76.8),
    # Table 3: the same on 128 GPUs (FSDP 128)
    ("T3a", PERF, "llama-3.1-8b", 8192, 2, 128, 1, 1, 1, "selective", OP_SAC, "-", 67.0),
    ("T3a'", PERF, "llama-3.1-8b", 8192, 2, 128, 1, 1, 1, "full", OP_SAC, "-", 67.0),
    ("T3b", PERF, "llama-3.1-8b", 8192, 2, 128, 1, 1, 1, "selective", OP_SAC, "compile", 62.0),
    ("T3c", PERF, "llama-3.1-8b", 8192, 2, 128, 1, 1, 1, "selective", OP_SAC, "compile, Float8", 61.8),
    ("T3a-op", PERF, "llama-3.1-8b", 8192, 2, 128, 1, 1, 1, "op", OP_SAC, "-", 67.0),
    ("T3b-op", PERF, "llama-3.1-8b", 8192, 2, 128, 1, 1, 1, "op", OP_SAC, "compile", 62.0),
    ("T3c-op", PERF, "llama-3.1-8b", 8192, 2, 128, 1, 1, 1, "op", OP_SAC, "compile, Float8", 61.8),
    # Table 2: Llama 3.1 8B, 8 GPUs, FSDP x CP = 8, local batch 1, full AC, compile + Float8
    ("T2a", PERF, "llama-3.1-8b", 32768, 1, 8, 1, 1, 1, "full", "full", "compile, Float8", 83.9),
    ("T2b", PERF, "llama-3.1-8b", 65536, 1, 4, 2, 1, 1, "full", "full", "compile, Float8", 84.2),
    ("T2c", PERF, "llama-3.1-8b", 131072, 1, 2, 4, 1, 1, "full", "full", "compile, Float8", 84.0),
    ("T2d", PERF, "llama-3.1-8b", 262144, 1, 1, 8, 1, 1, "full", "full", "compile, Float8", 84.5),
    # Table 4: Llama 3.1 70B, 256 GPUs (FSDP 32, TP 8 with sequence parallel), local batch 16, seq 8192, full AC
    ("T4a", PERF, "llama-3.1-70b", 8192, 16, 32, 1, 8, 1, "full", "full", "compile, Float8", 71.9),
    ("T4b", PERF, "llama-3.1-70b", 8192, 16, 32, 1, 8, 1, "full", "full", "compile, Float8, AsyncTP", 67.6),
    # Table 5: Llama 3.1 405B, 512 GPUs (FSDP 8, TP 8, PP 8), local batch 32 in 8 micro-batches of 4, 1F1B, full AC
    ("T5a", PERF, "llama-3.1-405b", 8192, 4, 8, 1, 8, 8, "full", "full", "compile, Float8, AsyncTP", 82.5),
    ("T5b", PERF, "llama-3.1-405b", 8192, 4, 8, 1, 8, 8, "full", "full",
     "compile, Float8, AsyncTP, interleaved 1F1B", 72.7),
    # Table 6: Llama 3.1 405B, 512 GPUs (TP 8, PP 8, FSDP x CP = 8), local batch 8 (micro-batch 1), full AC, 1F1B
    ("T6a", PERF, "llama-3.1-405b", 32768, 1, 8, 1, 8, 8, "full", "full", "compile, Float8, AsyncTP", 75.3),
    ("T6b", PERF, "llama-3.1-405b", 65536, 1, 4, 2, 8, 8, "full", "full", "compile, Float8, AsyncTP", 75.9),
    ("T6c", PERF, "llama-3.1-405b", 131072, 1, 2, 4, 8, 8, "full", "full", "compile, Float8, AsyncTP", 77.1),
    ("T6d", PERF, "llama-3.1-405b", 262144, 1, 1, 8, 8, 8, "full", "full", "compile, Float8, AsyncTP", 84.9),
    # Trainy, H200, torchtitan e7c0cae (2025-06): Llama 3.1 8B, llama3_8b.toml (seq 8192, op SAC), local batch 2,
    # compile, Float8 with float8 FSDP all-gather; 4 and 8 nodes of 8 GPUs (FSDP 32 / 64)
    ("H1", TRAINY, "llama-3.1-8b", 8192, 2, 32, 1, 1, 1, "selective", OP_SAC, "compile, Float8 (+ all-gather)", 47.96),
    ("H2", TRAINY, "llama-3.1-8b", 8192, 2, 64, 1, 1, 1, "selective", OP_SAC, "compile, Float8 (+ all-gather)", 46.97),
]]


def before_bytes(spec, p: Point, s) -> float:
    """Stage ``s`` (of the Megatron-style run, ``p.run("megatron")``)'s total as the calculator gave it before this
    round: no ``loss_grad`` (the loss's backward at two fp32 ``b s V / t`` tensors), and ZeRO-3 gathering one unit at
    a time under PP too, with no unsharded gradients."""
    run, w = p.run("megatron"), s.workspace
    one_unit = w.zero3_gather
    if w.zero3_grads:
        prm = stage_params(spec, run.parallel)[s.stage]
        layers = range(s.first_layer, s.first_layer + s.num_layers)
        n = run.parallel.pp
        one_unit = WEIGHT_GATHER_BYTES * max(zero3_units(spec, run.parallel, layers, prm, s.stage == 0,
                                                         s.stage == n - 1))
    return s.total - w.loss_grad - w.zero3_grads - w.zero3_gather + one_unit


def predict(p: Point) -> dict:
    spec = load_spec(p.model)
    stages = stage_memory(spec, p.run())
    pk = max(stages, key=lambda s: s.total)
    megatron = stage_memory(spec, p.run("megatron"))
    before = max(before_bytes(spec, p, s) for s in megatron)
    megatron_tp = max(s.total for s in megatron)
    a, w = pk.activations, pk.workspace
    return {"id": p.id, "source": p.source, "cmd": p.cmd(), "torchtitan_ac": p.ac, "not_modelled": p.extras,
            "published_gib": p.published_gib, "stage": pk.stage,
            "states_gib": pk.states.total / GIB, "activations_gib": a.total / GIB,
            "layers_gib": a.layers / GIB, "head_gib": a.head / GIB, "backward_peak_gib": a.backward_peak / GIB,
            "gathered_inputs_gib": a.gathered_inputs / GIB, "workspace_gib": w.total / GIB,
            "loss_grads_gib": (w.logit_grad + w.loss_grad + w.loss_parallel_sum) / GIB,
            "zero3_gather_gib": w.zero3_gather / GIB, "zero3_grads_gib": w.zero3_grads / GIB,
            "total_gib": pk.total / GIB, "megatron_tp_gib": megatron_tp / GIB, "before_gib": before / GIB,
            "error": pk.total / GIB / p.published_gib - 1, "error_before": before / GIB / p.published_gib - 1}


def markdown(rows: list[dict]) -> str:
    out = ["| id | setup | torchtitan AC, extras | published | mlacalc (mode) | error | before | error before | "
           "states / activations / workspace |",
           "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r, p in zip(rows, POINTS):
        setup = (f"{p.model}, s {p.seq:,}, b {p.batch}, FSDP {p.dp}" + (f", CP {p.cp}" if p.cp > 1 else "")
                 + (f", TP {p.tp}" if p.tp > 1 else "") + (f", PP {p.pp}" if p.pp > 1 else ""))
        out.append(f"| {r['id']} | {setup} | {p.ac}; {p.extras} | {r['published_gib']:.1f} | "
                   f"{r['total_gib']:.1f} ({p.recompute}) | {r['error']:+.1%} | {r['before_gib']:.1f} | "
                   f"{r['error_before']:+.1%} | {r['states_gib']:.1f} / {r['activations_gib']:.1f} / "
                   f"{r['workspace_gib']:.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = json_flag_args(__doc__, argv)
    rows = [predict(p) for p in POINTS]
    if args.json:
        for r in rows:
            print(json.dumps(r))
    else:
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
