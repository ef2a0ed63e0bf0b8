"""Inference performance commands: roofline, fit, sweep. Parsing and printing only; formulas live in
``mlacalc.step``, ``mlacalc.capacity`` and ``mlacalc.sweep``; charts in ``mlacalc.charts`` (plotly loaded there)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from .. import report
from ..errors import SpecError
from ..units import dtype_bits, fmt_bytes, parse_bytes
from .common import (MODEL_HELP, AsOpt, BatchOpt, ContextOpt, CpNotOpt, DpAttnOpt, DpNotOpt, EpOpt, ImageTokensOpt,
                     JsonOpt, KvBitsOpt, KvDtypeOpt, PpNotOpt, SetOpt, SpNotOpt, StateDtypeOpt, TpNotOpt, TpOpt,
                     context_warning, count, emit, kv_bits, kv_flag_text, kv_format, model_spec, notes, parallelism,
                     spec_sets, where_message)

ModelArg = Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)]
GpuOpt = Annotated[str, typer.Option("--gpu", help="GPU: a built-in name (h100-sxm, h200, b200, mi300x, ...) or a "
                                     "hardware YAML file, e.g. one written by `mlacalc calibrate`.")]
PhaseOpt = Annotated[str, typer.Option("--phase", help="decode (q new tokens over a cache of --context) or prefill "
                                       "(a prompt of --context tokens).")]
PagedOpt = Annotated[bool, typer.Option("--paged", help="Decode: a paged KV cache (blocks through a block table, as "
                                       "vLLM, SGLang and FlashMLA run it): the expected attention time prices the "
                                       "block-table reads.")]
QOpt = Annotated[int, typer.Option("--q-tokens", help="Decode: query tokens per sequence per step (1; k+1 with "
                                   "MTP or speculative decoding).")]
MlaFormOpt = Annotated[Optional[str], typer.Option("--mla-form", help="MLA: absorbed or decompressed (default: "
                                                   "absorbed in decode, decompressed in prefill).")]
WeightDtypeOpt = Annotated[Optional[str], typer.Option("--weight-dtype", help="bf16, fp8, int4, ... (default: the "
                                                       "spec's).")]
MemUtilOpt = Annotated[Optional[float], typer.Option("--gpu-mem-util", help="Share of device memory the engine may "
                                                     "use (vLLM's --gpu-memory-utilization; with --engine sglang "
                                                     "its --mem-fraction-static). Default 0.9, or with --engine "
                                                     "sglang SGLang's default for the card and --tp.")]
WorkspaceOpt = Annotated[Optional[str], typer.Option("--workspace", help="Activation workspace per GPU in bytes "
                                                     "(e.g. 4G = 4 GiB); default: computed for --workspace-tokens.")]
WorkspaceTokOpt = Annotated[str, typer.Option("--workspace-tokens", help="Tokens per step the workspace must hold "
                                              "(a chunked-prefill budget).")]
FitTokOpt = Annotated[Optional[str], typer.Option("--workspace-tokens", help="Tokens per step the workspace must hold "
                                                  "(a chunked-prefill budget); default 8k, or with --engine vllm "
                                                  "vLLM's max_num_batched_tokens for the card, with --engine sglang "
                                                  "its chunked_prefill_size.")]
EngineOpt = Annotated[str, typer.Option("--engine", help="Whose accounting sizes the KV budget: mlacalc (util x "
                                        "nvidia-smi total - weights - workspace), vllm (util x cudaMemGetInfo "
                                        "total - weights - non-torch - profile-run activation peak) or sglang "
                                        "(mem_fraction_static x free memory before the weights - weights).")]
MaxSeqsOpt = Annotated[Optional[int], typer.Option("--max-num-seqs", help="--engine vllm: sequences the profile "
                                                   "run's sampler warms up (default: vLLM's for the card).")]
NonTorchOpt = Annotated[Optional[str], typer.Option("--non-torch", help="--engine vllm or sglang: memory outside "
                                                    "PyTorch per GPU in bytes (e.g. 1.5G); default measured in one "
                                                    "process on an H200: vLLM 66 MiB (the growth after the CUDA "
                                                    "context, which vLLM's start-up snapshot holds from PR #19312, "
                                                    "2025-06; V1 before it and V0 before PR #12126 subtracted the "
                                                    "context too: pass 0.67G there), SGLang 0.67 GiB (context + "
                                                    "cuBLAS, held before the weights load). NCCL and custom "
                                                    "all-reduce buffers at --tp > 1 not counted: vLLM's logs show "
                                                    "0.09-3.58 GiB per GPU there.")]
SamplerOpt = Annotated[Optional[str], typer.Option("--sampler", help="--engine vllm: the profile run's top-k/top-p "
                                                   "path: flashinfer (14 bytes a logit; the default: V1 with "
                                                   "FlashInfer up to 0.11.0, and on by default again after 0.19), "
                                                   "triton (14 bytes a logit and a buffer of up to one vocabulary a "
                                                   "SM; 0.17-0.19), sort (PyTorch's sort, 38 bytes a logit; V0, "
                                                   "V1 without FlashInfer, 0.11.1-0.16) or mrv2 (Model Runner V2, "
                                                   "the default for dense models from 0.25.1 and all from 0.29: "
                                                   "its dummy sampler keeps the bf16 logits, 2 bytes a logit).")]
CudaGraphOpt = Annotated[Optional[str], typer.Option("--cudagraph-mem", help="--engine vllm: vLLM >= 0.21's "
                                                     "estimate of its CUDA graphs' memory per GPU in bytes (e.g. "
                                                     "0.61G), which it subtracts from the KV budget unless "
                                                     "--enforce-eager; a measurement, read from its log's "
                                                     "'Estimated CUDA graph memory: X GiB total'. Default: not "
                                                     "subtracted (vLLM before 0.21, or eager; leave it out too under "
                                                     "VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=0, which logs the "
                                                     "line but subtracts nothing).")]
VllmVersionOpt = Annotated[Optional[str], typer.Option("--vllm-version", help="--engine vllm: the vLLM release "
                                                       "(X.Y[.Z], e.g. 0.17 or 0.9.2) whose defaults --sampler, "
                                                       "--non-torch and the CUDA-graph estimate take (mlacalc.vllm "
                                                       "VERSION_RULES; a given --sampler or --non-torch wins); the "
                                                       "note says which rules applied and what stays unknown. "
                                                       "Default: no version assumed.")]
MambaModeOpt = Annotated[Optional[str], typer.Option("--mamba-cache-mode", help="--engine vllm on a hybrid (state "
                                                     "layers beside attention): state pages a request holds in each "
                                                     "state group, none (prefix caching off: one; the default) or "
                                                     "align (prefix caching on: two).")]



def _non_torch_note(vm, gpus: int) -> str:
    """Words for a vLLM budget at more than one GPU whose non-torch memory is the one-process default, else nothing:
    NCCL's and custom all-reduce's buffers are not in it (mlacalc.vllm module docstring)."""
    from ..vllm import NON_TORCH_LOGGED_TP_GIB

    if gpus < 2 or vm.non_torch_source == "given":
        return ""
    lo, hi = NON_TORCH_LOGGED_TP_GIB
    return (f"; non-torch at tp {gpus}: the default {fmt_bytes(vm.non_torch)}, {vm.non_torch_source} (vLLM's logs "
            f"at tp 2-8: {lo:g}-{hi:g} GiB per GPU, by version; docs/vllm-capacity-checks.md): give --non-torch")


def _cudagraph_note(vm) -> str:
    """Words for a vLLM budget with no CUDA-graph estimate given: vLLM >= 0.21 subtracts one, and the log line to
    read it from (:data:`mlacalc.vllm.CUDAGRAPH_NOT_GIVEN`); nothing when it was given."""
    if vm.version is not None:     # the version's note says what applies (mlacalc.vllm.VersionRules.note)
        return "; " + vm.version.note()
    return "" if vm.cudagraph_source == "given" else f"; CUDA graphs {vm.cudagraph_source}"


def _compressed_rows(fits, row) -> list:
    """The fit table's rows for DeepSeek-V4's engine pools, where any fit has one: vLLM's block groups, blocks and
    concurrency (the start-up log's and a request in decode's), SGLang's full tokens and running requests."""
    rows = []
    if any(f.vllm_compressed is not None for f in fits):
        def v(text):
            return lambda f: "-" if f.vllm_compressed is None else text(f.vllm_compressed, f)

        rows += [row("vLLM groups: layers x block", v(lambda p, f: ", ".join(
                     f"{g.name} {g.layers} x {g.block_size}" for g in p.groups))),
                 row("vLLM KV blocks", v(lambda p, f: f"{p.num_blocks(f.kv_budget):,} x {fmt_bytes(p.block_bytes)} "
                                                      f"({p.blocks_per_request(f.context):,} a request; "
                                                      f"{p.decode_blocks_per_request(f.context):,} in decode)")),
                 row(f"vLLM max concurrency ({fits[0].context:,})",
                     v(lambda p, f: f"{p.max_concurrency(f.kv_budget, f.context):.2f}x, "
                                    f"{p.logged_tokens(f.kv_budget, f.context):,} tokens; in decode "
                                    f"{p.num_blocks(f.kv_budget) / p.decode_blocks_per_request(f.context):.2f}x"))]
    if any(f.sglang_compressed is not None for f in fits):
        def s(text):
            return lambda f: "-" if f.sglang_compressed is None else text(f.sglang_compressed, f)

        rows += [row("SGLang full tokens (max_total_num_tokens)",
                     s(lambda p, f: f"{p.full_tokens(f.kv_budget):,} at {p.bytes_per_full_token:,.2f} B a token "
                                    f"(hca rings {fmt_bytes(p.c128_state_bytes)})")),
                 row("SGLang running requests", s(lambda p, f: f"at most {p.max_running:,}"))]
    return rows


def _compressed_note(f) -> str:
    """The caption's words on the DeepSeek-V4 pool an engine's fit used: which code was priced, what is not."""
    from ..sglang_compressed import NOTE as SGLANG_NOTE
    from ..vllm_compressed import NOTE as VLLM_NOTE

    return ("; " + VLLM_NOTE if f.vllm_compressed is not None else
            "; " + SGLANG_NOTE if f.sglang_compressed is not None else "")


def _context_included(vm) -> bool:
    """Whether the non-torch figure is the version's whole-process one (the CUDA context in it; vLLM V1 before PR
    #19312), not the growth after the context."""
    from ..vllm import PROCESS_NON_TORCH_BYTES

    return vm.version is not None and vm.non_torch_source != "given" and vm.non_torch == PROCESS_NON_TORCH_BYTES


def _sweep_non_torch_note(sw) -> str:
    """The sweep's words for :func:`_non_torch_note`: its non-torch memory is always the default."""
    from ..vllm import NON_TORCH_BYTES, NON_TORCH_DEFAULT_SOURCE, NON_TORCH_LOGGED_TP_GIB

    if not any(r.gpus > 1 for r in sw.rows):
        return ""
    lo, hi = NON_TORCH_LOGGED_TP_GIB
    return (f"; non-torch {fmt_bytes(NON_TORCH_BYTES)} at every GPU count, {NON_TORCH_DEFAULT_SOURCE} (vLLM's "
            f"logs at tp 2-8: {lo:g}-{hi:g} GiB per GPU, by version; fit --non-torch takes a measured figure)")


def _domains(hw, gpus: int) -> str:
    """Words for a group that spans NVLink domains (its collectives at the network's rate), else nothing."""
    n = hw.domains(gpus)
    if n == 1:
        return ""
    return f" over {n} NVLink domains of {hw.scale_up_gpus} ({hw.scale_out_gb_s:g} GB/s network a GPU)"

def _distinct(as_: list[str] | None) -> list[str]:
    """``--as`` values for commands that compare several variants; a repeated one is refused."""
    seen = list(as_ or [])
    for v in seen:
        if seen.count(v) > 1:
            raise SpecError("--as", f"{v!r} given twice")
    return seen


def _once(values: dict, flag: str) -> dict:
    """``values`` (as typed -> as read) with no value read twice: ``--gpu h100,h100-sxm`` (an alias and its card) or
    ``--context 4k,4096`` passed the check on spellings (:func:`mlacalc.sweep.parse_list`) and swept every row twice."""
    seen: dict = {}
    for typed, value in values.items():
        first = next((t for t, v in seen.items() if v == value), None)
        if first is not None:
            raise SpecError(flag, f"{first!r} and {typed!r} are the same {'GPU' if flag == '--gpu' else 'value'}")
        seen[typed] = value
    return seen


def _hw(gpu: str):
    from ..hardware import load_hardware

    return load_hardware(gpu)


def _wbits(weight_dtype: str | None) -> float | None:
    return None if weight_dtype is None else dtype_bits(weight_dtype, "--weight-dtype")


def _t(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:,.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:,.2f} ms"
    return f"{seconds * 1e6:,.1f} us"


def _flops(x: float) -> str:
    """``5.2e12`` -> ``'5.20 T'`` (decimal prefixes, as FLOP rates are quoted)."""
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if x >= scale:
            return f"{x / scale:,.2f} {unit}"
    return f"{x:,.0f}"


# ---------------------------------------------------------------------------------------------------------

def roofline(model: ModelArg, phase: PhaseOpt = "decode", batch: BatchOpt = "1", context: ContextOpt = "4k",
             q_tokens: QOpt = 1, gpu: GpuOpt = "h100-sxm", tp: TpOpt = 1, pp: PpNotOpt = 1, dp: DpNotOpt = 1,
             ep: EpOpt = 1, cp: CpNotOpt = 1, sp: SpNotOpt = False, dp_attention: DpAttnOpt = False,
             paged: PagedOpt = False,
             mla_form: MlaFormOpt = None, weight_dtype: WeightDtypeOpt = None,
             kv_dtype: KvDtypeOpt = None, kv_bits_: KvBitsOpt = None, image_tokens: ImageTokensOpt = None,
             state_dtype: StateDtypeOpt = None, set_: SetOpt = None, as_: AsOpt = None,
             json_: JsonOpt = False) -> None:
    """FLOPs, bytes and roofline time of one forward step, op by op, on one GPU of the group."""
    from ..kv import format_bits
    from ..step import Step, roofline as compute

    par = parallelism(tp, pp, dp, ep, cp, sp, dp_attention)
    spec = model_spec(model, spec_sets(set_, image_tokens, state_dtype), as_,
                      kv_flag_text(kv_dtype, kv_bits_))
    step = Step(phase, count(batch, "--batch"), count(context, "--context"), q_tokens, paged)
    kb = kv_bits(kv_dtype, kv_bits_)    # first: with fp8-ds it refuses --kv-bits too (it was ignored silently)
    r = compute(spec, _hw(gpu), step, par, mla_form=mla_form, weight_bits=_wbits(weight_dtype),
                kv_bits=format_bits(spec, kv_format(kv_dtype)) or kb)
    notes(spec, step.context)     # after the checks: a warning then an error was two lines on stderr

    def render():
        total = r.time_s
        rows = [[t.op.name, _flops(t.op.flops), fmt_bytes(t.op.bytes) if t.op.bytes else
                 (fmt_bytes(t.op.comm_bytes) + " net"), f"{t.op.intensity:,.1f}", _t(t.time_s), _t(t.expected_s),
                 f"{100 * t.time_s / total:.1f}%", "link" if t.bound == "interconnect" else t.bound]
                for t in r.ops]
        rows.append(["total", _flops(r.total_flops), fmt_bytes(r.total_bytes), "", _t(total), _t(r.expected_time_s),
                     "100%", ""])
        s, a = r.step, r.attn
        what = (f"decode {s.q_tokens} token(s) x {s.batch} sequences over {s.context:,} cached tokens"
                f"{' (paged)' if s.paged else ''}"
                if s.phase == "decode" else f"prefill {s.batch} x {s.context:,}-token prompts")
        form = f", MLA {r.mla_form}" if r.mla_form else ""
        lines = [
            f"{what}; {r.gpu.name} x {r.parallel.tp}{' (dp-attention)' if r.parallel.dp_attention else ''}"
            f"{f' (EP {r.parallel.ep})' if r.parallel.ep > 1 else ''}{_domains(r.gpu, r.parallel.tp)}{form}; "
            f"{report.weights_caption(r.weight_bits, spec.quantization if weight_dtype is None else None)}; "
            f"KV {r.kv_bits:g}-bit",
            f"{'time per output token' if s.phase == 'decode' else 'time to first token'}: "
            f"{_t(r.time_per_output_token_s)} floor, {_t(r.expected_time_per_output_token_s)} expected; "
            f"{r.expected_tokens_per_s:,.0f} tokens/s expected ({r.expected_tokens_per_s_per_gpu:,.0f} per GPU; "
            f"floor {r.tokens_per_s:,.0f} in all); bandwidth {100 * r.bandwidth_util:.0f}%, "
            f"compute {100 * r.compute_util:.0f}% of peak at the floor",
            f"expected: kernel-aware ({r.kernel} kernels, coefficients {r.coefficients}; mlacalc.expected)"
            + (_accuracy(r.attn_accuracy) if a is not None else ""),
            f"attn_core: {a.intensity:,.1f} FLOP/B vs ridge {a.ridge:,.0f} -> {a.bound}-bound "
            f"({a.heads_per_gpu:g} query heads per GPU"
            + (f"; compute-bound from q >= {a.q_tokens_for_compute_bound}" if a.q_tokens_for_compute_bound else "")
            + ")" if a is not None else "no attention layer (a state-space model): no attn_core, its state is read and "
                                        "written in linear_core",
        ]
        report.console().print(report.table(f"Roofline: {r.model}", ["op", "FLOPs", "bytes", "FLOP/B", "floor",
                                                                     "expected", "share", "bound"], rows,
                                            "\n".join(lines)))

    emit(json_, r.to_json(), render)


def _accuracy(acc) -> str:
    """The roofline caption's clause on how sure the expected time is (mlacalc.expected.ATTENTION_ACCURACY)."""
    if acc is None:
        return "; no measured accuracy for this kind of attention on this card"
    return (f"; its attention core measured on the {acc.measured_on} ({acc.drawn} points): median "
            f"{acc.median_pct:g}% off, "
            f"90% of {acc.points} points within {acc.p90_pct:g}%")


def _longest_context(f) -> str:
    """The fit table's longest-context cell: what fits, or the model's configured limit when memory allows more; a
    search that stopped at its limit is a lower bound (``>=``)."""
    memory = f"{'>= ' if f.max_context_capped else ''}{f.max_context:,}"
    if f.usable_context < f.max_context:
        return f"{f.usable_context:,} (model limit; memory: {memory})"
    return memory


def fit(model: ModelArg, context: ContextOpt = "32k", batch: BatchOpt = "1", gpu: GpuOpt = "h100-sxm",
        tp: TpOpt = 1, pp: PpNotOpt = 1, dp: DpNotOpt = 1, ep: EpOpt = 1, cp: CpNotOpt = 1, sp: SpNotOpt = False,
        dp_attention: DpAttnOpt = False, q_tokens: QOpt = 1,
        weight_dtype: WeightDtypeOpt = None, kv_dtype: KvDtypeOpt = None, kv_bits_: KvBitsOpt = None,
        gpu_mem_util: MemUtilOpt = None, workspace: WorkspaceOpt = None, workspace_tokens: FitTokOpt = None,
        engine: EngineOpt = "mlacalc", max_num_seqs: MaxSeqsOpt = None, non_torch: NonTorchOpt = None,
        mamba_cache_mode: MambaModeOpt = None, sampler: SamplerOpt = None, cudagraph_mem: CudaGraphOpt = None,
        vllm_version: VllmVersionOpt = None,
        block_size: Annotated[Optional[int], typer.Option("--block-size", help="Paged KV: round each sequence up "
                                                          "to whole blocks of N tokens (the decode step is then "
                                                          "priced over a paged cache); with --engine vllm on a "
                                                          "hybrid, vLLM's --block-size, which its attention block "
                                                          "is aligned to.")] = None,
        as_: Annotated[Optional[list[str]], typer.Option("--as", help="Also fit the model with this attention "
                                                         "(mha, mqa, gqa:N). Repeatable.")] = None,
        image_tokens: ImageTokensOpt = None, state_dtype: StateDtypeOpt = None,
        set_: SetOpt = None, json_: JsonOpt = False) -> None:
    """Largest batch at --context and longest context at --batch on --tp GPUs, then decode speed at that batch.
    With --as, the same for the model's MHA/GQA equivalents, side by side."""
    from ..capacity import fit as compute
    from ..expected import coefficient_basis

    par = parallelism(tp, pp, dp, ep, cp, sp, dp_attention)
    hw = _hw(gpu)
    ws = None if workspace is None else count(workspace, "--workspace", 0)
    kb = kv_bits(kv_dtype, kv_bits_)
    labels = [None] + _distinct(as_)
    sets = spec_sets(set_, image_tokens, state_dtype)
    kv_flag = kv_flag_text(kv_dtype, kv_bits_)
    fits = [compute(model_spec(model, sets, v, kv_flag), hw, count(context, "--context"), par,
                    kv_format=kv_format(kv_dtype), batch=count(batch, "--batch"), weight_bits=_wbits(weight_dtype),
                    kv_bits=kb,
                    gpu_mem_util=gpu_mem_util, workspace_bytes=ws, block_size=block_size, q_tokens=q_tokens,
                    workspace_tokens=(None if workspace_tokens is None
                                      else count(workspace_tokens, "--workspace-tokens")),
                    engine=engine, max_num_seqs=max_num_seqs, mamba_cache_mode=mamba_cache_mode, sampler=sampler,
                    non_torch_bytes=None if non_torch is None else parse_bytes(non_torch, "--non-torch"),
                    cudagraph_bytes=None if cudagraph_mem is None else parse_bytes(cudagraph_mem, "--cudagraph-mem"),
                    vllm_version=vllm_version)
            for v in labels]
    spec0 = model_spec(model, sets, None, kv_flag)
    quant0 = spec0.quantization if weight_dtype is None else None   # --weight-dtype overrides the checkpoint's
    notes(spec0, count(context, "--context"))   # after the checks, as in roofline
    payload = {"fits": [f.to_json() for f in fits]}

    def render():
        base = fits[0].decode.expected_tokens_per_s_per_gpu if fits[0].decode else None
        f0 = fits[0]

        def row(label, cell):
            return [label] + [cell(f) for f in fits]

        def dec(cell):
            return lambda f: cell(f.decode) if f.decode else "-"

        def pool_rows(pool_of, label, layout, tokens):
            """vLLM's block-pool rows (a vllm_hybrid.BlockPool: hybrid pages or sliding pages), shown when any fit
            has that pool: its layout, its blocks, and the concurrency with the logged token line."""
            if all(pool_of(f) is None for f in fits):
                return []

            def cell(text):
                return lambda f: "-" if pool_of(f) is None else text(pool_of(f), f)

            return [row(label, cell(layout)),
                    row("vLLM KV blocks", cell(lambda p, f: f"{p.num_blocks(f.kv_budget):,} x "
                                                            f"{fmt_bytes(p.block_bytes)} ({p.groups} groups of "
                                                            f"{p.group_size} layers; "
                                                            f"{p.blocks_per_request(f.context):,} a request)")),
                    row(f"vLLM max concurrency ({f0.context:,})",
                        cell(lambda p, f: f"{p.max_concurrency(f.kv_budget, f.context):.2f}x; {tokens(p, f)}"))]

        if f0.sglang is not None:     # SGLang's accounting: free before the weights - weights - headroom = KV budget
            memory = [row(f"free before the weights ({fmt_bytes(f0.sglang.total)} - non-torch)",
                          lambda f: fmt_bytes(f.usable)),
                      row("weights", lambda f: fmt_bytes(f.weights)),
                      row(f"headroom (1 - {f0.sglang.mem_fraction_static:g}, {f0.sglang.fraction_source})",
                          lambda f: fmt_bytes(f.sglang.headroom))]
        elif f0.vllm is None:
            memory = [row("weights", lambda f: fmt_bytes(f.weights)),
                      row("workspace", lambda f: fmt_bytes(f.workspace.total))]
        else:     # vLLM's accounting: usable - weights - non-torch - activation peak = KV budget
            memory = [row(f"usable ({f0.gpu_mem_util:g} x {fmt_bytes(f0.vllm.total)})", lambda f: fmt_bytes(f.usable)),
                      row("weights", lambda f: fmt_bytes(f.weights)),
                      row("non-torch (CUDA context included)" if _context_included(f0.vllm) else
                          "non-torch (growth after the CUDA context)", lambda f: fmt_bytes(f.vllm.non_torch)),
                      row(f"activation peak ({f0.vllm.tokens:,} tokens, {f0.vllm.max_num_seqs:,} seqs, "
                          f"{f0.vllm.sampler_path} sampler)",
                          lambda f: f"{fmt_bytes(f.vllm.activation_peak)} ("
                                    f"{'sampler' if f.vllm.sampler >= f.vllm.forward else 'forward'}; forward "
                                    f"{fmt_bytes(f.vllm.forward)}, sampler {fmt_bytes(f.vllm.sampler)})"),
                      row("CUDA graphs (vLLM >= 0.21's estimate)",
                          lambda f: fmt_bytes(f.vllm.cudagraph) if f.vllm.cudagraph_source == "given" else
                          f"0 (vLLM {f.vllm.version.version} subtracts none)"
                          if f.vllm.version is not None and f.vllm.version.cudagraph_none else "not given: 0")]
        rows = [row("attention", lambda f: f.pattern or f.attention), *memory,
                row("KV budget", lambda f: fmt_bytes(f.kv_budget) if f.kv_budget >= 0
                    else f"none ({fmt_bytes(-f.kv_budget)} short)"),
                *pool_rows(lambda f: f.vllm_pages, "vLLM attention block",
                           lambda p, f: f"{p.block_size:,} tokens (state page padded {p.padding_pct:.2f}%, "
                                        f"{p.mamba_cache_mode})",
                           lambda p, f: f"{p.logged_tokens(f.kv_budget, f.context):,} tokens"),
                *pool_rows(lambda f: f.vllm_sliding, "vLLM sliding pages",
                           lambda p, f: (f"{p.block_size}-token blocks" if p.full_block_size == p.sliding_block_size
                                         else f"{p.full_block_size}-token full, {p.sliding_block_size}-token sliding "
                                              f"blocks of {fmt_bytes(p.page_bytes)}") + "; a sliding layer holds "
                                        f"{p.sliding_tokens(f.context):,} tokens a request (window {p.window:,} - 1 "
                                        f"+ {p.batched_tokens:,} batched)",
                           lambda p, f: f"{p.logged_tokens_legacy(f.kv_budget):,} tokens (vLLM 0.10-0.19), "
                                        f"{p.logged_tokens(f.kv_budget, f.context):,} (0.28)"),
                *([row("SGLang state slots", lambda f: "-" if f.sglang_pool is None else
                       f"{f.sglang_pool.state_slots(f.kv_budget):,} x {fmt_bytes(f.sglang_pool.state_bytes)} "
                       f"(0.9 : 1 of K/V; {f.sglang_pool.max_running(f.kv_budget):,} running at 3 a request)"),
                   row("SGLang K/V tokens", lambda f: "-" if f.sglang_pool is None else
                       f"{f.sglang_pool.kv_tokens(f.kv_budget):,}")]
                  if any(f.sglang_pool is not None for f in fits) else []),
                *_compressed_rows(fits, row),
                row(f"KV per sequence ({f0.context:,})", lambda f: fmt_bytes(f.kv_bytes_per_seq) + (
                    "" if f.sglang_kv_layers is None else f" (SGLang's pool: K/V of all {f.sglang_kv_layers} layers)")),
                row(f"largest batch ({par.tp} GPUs)" if par.tp > 1 else "largest batch", lambda f: f"{f.max_batch:,}"),
                row(f"longest context (batch {f0.batch})", _longest_context),
                row("time per token (expected)", dec(lambda d: _t(d.expected_time_per_output_token_s))),
                row("tokens/s per GPU (expected)", dec(lambda d: f"{d.expected_tokens_per_s_per_gpu:,.0f}")),
                row("tokens/s per GPU (floor)", dec(lambda d: f"{d.tokens_per_s_per_gpu:,.0f}")),
                row("vs first", dec(lambda d: f"{d.expected_tokens_per_s_per_gpu / base:.2f}x" if base else "-"))]
        cap = (f"{hw.name} x {par.tp}{' dp-attention' if dp_attention else ''}{f' EP {ep}' if ep > 1 else ''}"
               f"{_domains(hw, par.tp)}; "
               + (f"SGLang's accounting: mem_fraction_static {f0.gpu_mem_util:g} of the free memory "
                  f"({f0.sglang.total_source} total less {fmt_bytes(f0.sglang.non_torch)} non-torch)"
                  if f0.sglang is not None else
                  f"{f0.gpu_mem_util:.0%} of {fmt_bytes(hw.memory_bytes)} usable" if f0.vllm is None else
                  f"vLLM's accounting: {f0.gpu_mem_util:.0%} of {fmt_bytes(f0.vllm.total)} "
                  f"({f0.vllm.total_source}) usable" + _non_torch_note(f0.vllm, par.tp) +
                  _cudagraph_note(f0.vllm)) + _compressed_note(f0) +
               f"; {report.weights_caption(f0.weight_bits, quant0)}; "
               f"KV {f0.kv_bits:g}-bit; decode at the largest batch, {q_tokens} token(s) per step; expected: "
               f"kernel-aware time (mlacalc.expected; coefficients "
               f"{f0.decode.coefficients if f0.decode else coefficient_basis(hw, 'auto', f0.kv_bits)}), "
               f"floor: roofline" + report.excluded_text(spec0.caveats))
        # a negative KV budget, said why on a line of its own (capacity.Fit.shortfall), first: the table showed
        # "none (128.23 GiB short)" and a largest batch of 0
        why = [(f"{f.model}: " if len(fits) > 1 else "") + f.shortfall["reason"] for f in fits if f.shortfall]
        report.console().print(report.table("What fits (per GPU)", [""] + [f.model for f in fits], rows,
                                            "\n".join(why + [cap])))

    emit(json_, payload, render)


def sweep(model: ModelArg,
          context: Annotated[str, typer.Option("--context", "-c", help="Contexts, comma-separated.")] = "4k,32k,128k",
          batch: Annotated[str, typer.Option("--batch", "-b", help="Batches, comma-separated.")] = "1,16,64,256",
          gpus: Annotated[str, typer.Option("--gpus", help="GPU counts, comma-separated; each is one tensor-parallel "
                                                "group (its --tp).")] = "1,8",
          gpu: Annotated[str, typer.Option("--gpu", help="GPU kinds or files, comma-separated.")] = "h100-sxm",
          as_: Annotated[Optional[list[str]], typer.Option("--as", help="Also sweep the model with this attention "
                                                           "(mha, mqa, gqa:N). Repeatable.")] = None,
          phase: PhaseOpt = "decode", q_tokens: QOpt = 1, tp: TpNotOpt = 1, pp: PpNotOpt = 1, dp: DpNotOpt = 1,
          ep: EpOpt = 1, cp: CpNotOpt = 1, sp: SpNotOpt = False, dp_attention: DpAttnOpt = False,
          weight_dtype: WeightDtypeOpt = None, kv_dtype: KvDtypeOpt = None, kv_bits_: KvBitsOpt = None,
          gpu_mem_util: MemUtilOpt = None, engine: EngineOpt = "mlacalc",
          fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
          plot: Annotated[Optional[str], typer.Option("--plot", help="Write charts to this HTML file (offline, "
                                                      "plotly.js inside).")] = None,
          set_: SetOpt = None, json_: JsonOpt = False) -> None:
    """Every combination of variant, GPU kind, GPU count, context and batch: memory fit and step time."""
    from ..sweep import parse_list, sweep as compute

    if fmt not in ("table", "csv", "json"):
        raise SpecError("--format", f"must be table, csv or json, got {fmt!r}")
    if json_ and fmt not in ("table", "json"):
        raise SpecError("--json", f"conflicts with --format {fmt}; give one")
    if json_:
        fmt = "json"
    if plot is not None and not plot.strip():
        raise SpecError("--plot", "needs a file name")
    if plot is not None:
        import importlib.util

        if importlib.util.find_spec("plotly") is None:  # a traceback came after the whole sweep had run
            raise SpecError("--plot", "needs plotly, which is not installed: pip install plotly")
        from ..files import check_output

        plot = check_output(plot, "--plot")  # a folder or a missing folder was found only after the whole sweep ran
    if tp != 1:
        raise SpecError("--tp", "the sweep takes its GPU counts from --gpus")
    # The sweep models TP/EP groups of each --gpus count: refuse the other degrees as every command does.
    parallelism(1, pp, dp, 1, cp, False, False).require("the sweep", ("tp", "ep", "dp_attention"))
    if sp:
        raise SpecError("--sp", "the sweep does not model it (it models tp, ep, dp_attention)")
    kv_flag = kv_flag_text(kv_dtype, kv_bits_)
    variants = [(model if v is None else f"{model} as {v}", model_spec(model, set_, v, kv_flag))
                for v in [None] + _distinct(as_)]
    kinds = _once({g: _hw(g) for g in parse_list(gpu, "--gpu")}, "--gpu")
    short = {hw.name: g for g, hw in kinds.items()}
    def whole_numbers(text: str, flag: str) -> list:
        return list(_once({x: count(x, flag) for x in parse_list(text, flag)}, flag).values())

    counts, contexts, batches = (whole_numbers(gpus, "--gpus"), whole_numbers(context, "--context"),
                                 whole_numbers(batch, "--batch"))
    sw = compute(variants, list(kinds.values()), counts, contexts, batches, phase=phase, q_tokens=q_tokens,
                 dp_attention=dp_attention, ep=ep, weight_bits=_wbits(weight_dtype),
                 kv_bits=kv_bits(kv_dtype, kv_bits_), gpu_mem_util=gpu_mem_util, kv_format=kv_format(kv_dtype),
                 engine=engine)
    if not sw.rows:
        reasons = "; ".join(sorted({where_message(s["argument"], s["reason"]) for s in sw.skipped}))
        raise SpecError("--gpus", f"no combination can be laid out: {reasons}")
    notes(variants[0][1])         # after the checks, as in fit: what the reading of a config.json assumed
    # a context past the model's limit, once a context (the sweep said nothing: review 2); --as keeps the limit
    for warning in filter(None, (context_warning(variants[0][1], c) for c in contexts)):
        print(f"warning: {warning}", file=sys.stderr)
    if plot:
        from ..charts import write_sweep_html

        write_sweep_html(sw, plot)
        if fmt != "json":
            print(f"wrote {plot}", file=sys.stderr)
    if fmt == "json":
        emit(True, sw.to_json(), lambda: None)
    elif fmt == "csv":
        import csv

        w = csv.writer(sys.stdout)
        fields = list(sw.rows[0]._fields) if sw.rows else []
        w.writerow(fields)
        w.writerows(sw.rows)
    else:
        rows = [[r.variant.replace(model, "", 1).strip() or "as is", short.get(r.gpu, r.gpu), str(r.gpus),
                 f"{r.context:,}", str(r.batch), fmt_bytes(r.kv_bytes_per_gpu), "yes" if r.fits else "no",
                 f"{r.max_batch:,}", _t(r.time_per_output_token_s) if r.fits else "-",
                 f"{r.tokens_per_s_per_gpu:,.0f}" if r.fits else "-", r.bound] for r in sw.rows]
        cap = "; ".join(f"skipped {s['variant']} on {s['gpus']} x {s['gpu']}: {where_message(s['argument'], s['reason'])}"
                        for s in sw.skipped)
        basis = "; ".join(f"{short.get(name, name)}: coefficients {b}" for name, b in sw.expected_basis)
        budget = ("max batch: vLLM's KV budget (its CUDA total, non-torch memory, profile-run peak; "
                  "mlacalc.vllm)" + _sweep_non_torch_note(sw) + "; CUDA graphs not subtracted (vLLM >= 0.21 "
                  "subtracts its logged estimate unless eager: fit --cudagraph-mem takes it)"
                  if sw.engine == "vllm" else
                  "max batch: SGLang's KV budget (mem_fraction_static of the free memory less the weights; "
                  "mlacalc.sglang)" if sw.engine == "sglang" else "")
        timed = ("per token and tok/s/GPU" if phase == "decode" else
                 "time to first token (the whole prefill step) and tok/s/GPU (prompt tokens)")
        cap = "\n".join(x for x in (cap, budget, f"{timed}: kernel-aware expected time "
                                                 f"(mlacalc.expected; {basis})") if x)
        report.console().print(report.table(f"Sweep: {model} ({phase})", ["variant", "gpu", "n", "context", "batch",
                                                                 "KV/GPU", "fits", "max batch",
                                                                 "per token" if phase == "decode" else
                                                                 "time to first token", "tok/s/GPU", "bound"],
                                            rows, cap))


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command()(roofline)
    app.command()(fit)
    app.command()(sweep)
