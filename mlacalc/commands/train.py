"""``mlacalc train``: training memory per GPU (states, activations, workspace), fit, and the limits that fit."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import report, report_train
from ..activations import resolve_kernel
from ..hardware import load_hardware
from ..training import GIB, TrainRun, train_memory
from ..units import finite
from .common import (MODEL_HELP, AsOpt, CpOpt, DpAttnOpt, DpOpt, EpOpt, JsonOpt, PpOpt, SetOpt, SpOpt, TpOpt, count,
                     emit, model_spec, notes, parallelism)

ModelArg = Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)]


def train(model: ModelArg,
          micro_batch: Annotated[str, typer.Option("--micro-batch", "-b", help="Sequences per micro-batch.")] = "1",
          seq: Annotated[str, typer.Option("--seq", "-s", help="Tokens per sequence (4k = 4096).")] = "4k",
          recompute: Annotated[str, typer.Option("--recompute", help="none | selective (attention core) | full "
                                                 "(layer inputs only) | mla-latent (keep MLA latents, redo "
                                                 "up-projections) | op (torchtitan's op-level SAC: mm outputs "
                                                 "but every second, SDPA outputs; dense mha/gqa, tp 1, cp 1)."
                                                 )] = "none",
          zero: Annotated[int, typer.Option("--zero", help="ZeRO stage over DP: 0, 1 (optimizer), 2 (+grads), "
                                            "3 (+weights).")] = 0,
          tp: TpOpt = 1, pp: PpOpt = 1, dp: DpOpt = 1, ep: EpOpt = 1, cp: CpOpt = 1, sp: SpOpt = False,
          dp_attention: DpAttnOpt = False,
          gpu: Annotated[str, typer.Option("--gpu", help="A built-in GPU name or a hardware YAML.")] = "h100-sxm",
          precision: Annotated[str, typer.Option("--precision", help="mixed (16 B/param) or bf16 (8 B/param)."
                                                 )] = "mixed",
          kernel: Annotated[Optional[str], typer.Option("--attention-kernel", help="fused (no S x S; default) or "
                                                        "eager (keeps the S x S probabilities; Gated DeltaNet: "
                                                        "transformers' eager gated norm).")] = None,
          convention: Annotated[str, typer.Option("--convention", help="native (this model's layers) or megatron "
                                                  "(Korthikanti et al. 2022's GPT layer).")] = "native",
          reserve_gib: Annotated[float, typer.Option("--reserve-gib", help="Stated allowance for CUDA context, "
                                                     "library buffers and allocator slack, GiB.")] = 2.0,
          tp_style: Annotated[str, typer.Option("--tp-style", help="Whose tensor parallelism: megatron (Megatron-Core"
                                                "'s SP saves each linear's sequence shard) or torchtitan (DTensor: "
                                                "saves the all-gathered input; loss_parallel's loss). Needs --sp "
                                                "under TP.")] = "megatron",
          no_loss_parallel: Annotated[bool, typer.Option("--no-loss-parallel", help="torchtitan's parallelism."
                                                         "disable_loss_parallel: the head all-gathers the logits "
                                                         "and the eager loss runs on the whole vocabulary.")] = False,
          tensors: Annotated[bool, typer.Option("--tensors", help="Also list every saved tensor per layer.")] = False,
          set_: SetOpt = None, as_: AsOpt = None, json_: JsonOpt = False) -> None:
    """Training memory per GPU: parameters, gradients, optimizer, activations and workspace; whether it fits,
    and the largest micro-batch and longest sequence that do."""
    par = parallelism(tp, pp, dp, ep, cp, sp, dp_attention, tp_style, not no_loss_parallel)
    reserve = finite(reserve_gib, "--reserve-gib", minimum=0, maximum=2.0**30)
    spec = model_spec(model, set_, as_)
    par.check(spec)
    hw = load_hardware(gpu)
    run = TrainRun(micro_batch=count(micro_batch, "--micro-batch"), seq=count(seq, "--seq"), recompute=recompute,
                   kernel=resolve_kernel(convention, kernel), convention=convention, precision=precision, zero=zero,
                   parallel=par, reserve_bytes=reserve * GIB)
    m = train_memory(spec, run, hw)
    notes(spec)             # after the checks: a warning then an error was two lines on stderr
    latent = m.latent
    payload = m.to_json()

    def render():
        c = report.console()
        c.print(report_train.memory_table(m))
        c.print(report_train.limits_line(m))
        c.print(report_train.layers_table(m))
        if latent:
            c.print(report_train.latent_table(latent))
        if tensors:
            for kind, (_, ts) in m.layers.items():
                c.print(report_train.tensors_table(kind, ts))

    emit(json_, payload, render)


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""
    app.command()(train)
