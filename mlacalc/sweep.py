"""Sweeps: every combination of attention variant, GPU kind, GPU count, context and batch, one row each.

Each row is a decode (or prefill) step timed by :func:`mlacalc.step.roofline` (times and throughput at the
kernel-aware expected time, the floor in ``*_floor`` columns) and checked against memory by
the rules of :mod:`mlacalc.capacity` (the largest batch at that context on that group). Nothing here has a formula of
its own; it loops and collects. Combinations that cannot be laid out (heads that do not split over the GPU
count) are listed in ``skipped`` with the reason.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

from .errors import ArgError, SpecError
from .capacity import (activation_workspace, check_engine, check_mem_util, engine_kv_spec, engine_pages,
                       engine_settings, kv_budget, max_batch, paged_max_batch, served_params_per_gpu)
from .expected import coefficient_basis
from .hardware import Hardware
from .kv import format_bits, kv_element_bits, kv_report, kv_storage
from .parallel import Parallelism
from .step import Step, check_step_size, roofline
from .spec import ModelSpec
from .params import mtp_width, weight_bytes


class SweepRow(NamedTuple):
    """One configuration. Bytes per GPU unless named otherwise; tokens/s over the whole group."""

    variant: str
    attention: str
    gpu: str
    gpus: int
    context: int
    batch: int
    kv_bytes_per_seq: float          # one sequence, whole model, before sharding
    kv_bytes_per_gpu: float
    weight_bytes_per_gpu: float
    fits: bool
    max_batch: int                   # at this context on this group
    step_time_s: float | None          # None when the batch does not fit (no throughput to promise)
    time_per_output_token_s: float | None    # decode: step / q; prefill: the whole step (as roofline's JSON)
    tokens_per_s: float | None               # decode: output tokens; prefill: prompt tokens
    tokens_per_s_per_gpu: float | None
    bound: str                       # the bound that takes most of the step time
    attn_intensity: float            # attn_core FLOP per byte (0 without attention layers)
    step_time_floor_s: float | None  # the roofline floor (the times above are expected: mlacalc.expected)
    tokens_per_s_per_gpu_floor: float | None
    # prefill rows: the step's expected time, which is the time to first token of every prompt in the batch (the
    # field above holds the same number under its decode name); None in decode and where the batch does not fit
    time_to_first_token_s: float | None = None


@dataclass(frozen=True)
class Sweep:
    """Rows, skipped combinations, and one fully analysed step per variant for the charts."""

    rows: tuple[SweepRow, ...]
    skipped: tuple[dict, ...]
    focus: dict                      # variant -> mlacalc.step.Roofline at the focus configuration
    focus_config: dict               # gpu, gpus, context, batch of the focus step
    # GPU name -> where its expected times' coefficients come from (mlacalc.expected.coefficient_basis: measured on
    # this card, or the H200's defaults, and off sm_90 an uncalibrated estimate); the rows' times are expected times
    expected_basis: tuple = ()
    engine: str = "mlacalc"          # whose accounting sized the KV budget (capacity.kv_budget)

    def to_json(self) -> dict:
        out = {"rows": [r._asdict() for r in self.rows], "skipped": list(self.skipped),
               "focus": self.focus_config, "expected_basis": dict(self.expected_basis)}
        if self.engine != "mlacalc":    # the default engine's output is left as it was
            out["engine"] = self.engine
        return out


# The most configurations one sweep runs (computed at about 10,000 a second; the table view renders about 1,000 rows
# a second): a grid beyond it is a typo or a fuzzer's (--context 1,2,...,5000), refused in one line rather than left
# running for minutes.
MAX_CONFIGURATIONS = 20_000


def parse_list(text: str, flag: str) -> list[str]:
    items = [s.strip() for s in str(text).split(",")]
    if not any(items):
        raise SpecError(flag, "needs at least one value")   # flag is already the CLI's (an ArgError adds "--")
    if not all(items):          # "1,,64" or "4k,": a value left out was dropped without a word
        raise SpecError(flag, f"an empty value in {str(text)!r}")
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise SpecError(flag, f"lists {item!r} twice")
        seen.add(item)
    return items


def _group(n: int, ep: int, dp_attention: bool) -> Parallelism:
    """A group of ``n`` GPUs: ``tp = n`` with ``ep`` and ``dp_attention``. A layout the group cannot take raises, and
    the sweep skips that count with the reason: ``ep`` that does not divide it, or data-parallel attention on one GPU
    (it needs tp > 1, as roofline and fit say; the sweep ran it as plain attention without a word: review 2)."""
    return Parallelism(tp=n, ep=ep, dp_attention=dp_attention)


def sweep(variants: list[tuple[str, ModelSpec]], gpus: list[Hardware], counts: list[int], contexts: list[int],
          batches: list[int], *, phase: str = "decode", q_tokens: int = 1, ep: int = 1, dp_attention: bool = False,
          weight_bits: float | None = None, kv_bits: float | None = None,
          gpu_mem_util: float | None = None, workspace_tokens: int | None = None,
          kv_format: str | None = None, engine: str = "mlacalc") -> Sweep:
    """All combinations; see module docstring. ``variants``: (label, spec) pairs. Each GPU count ``n`` of
    ``counts`` is a group ``Parallelism(tp=n, ep=ep, dp_attention=dp_attention)`` (a count the layout does not
    fit is skipped with the reason). Rows that do not fit in memory carry ``fits = False`` and no time or
    throughput. ``kv_format``: a packed cache layout (``fp8-ds``), sized and priced as ``fit`` and ``roofline`` do
    (it was dropped: DeepSeek-V3.2 at 708 B a token and layer, plain fp8, not the layout's 788; a GQA model took
    it as fp8 without a word). ``engine``: whose accounting sizes the KV budget, as ``fit``'s
    (:func:`mlacalc.capacity.kv_budget`; ``workspace_tokens`` None: that engine's default for each card); under vLLM a
    hybrid's largest batch is its pages' (:mod:`mlacalc.vllm_hybrid`, mamba_cache_mode "none")."""
    n_configs = len(variants) * len(gpus) * len(counts) * len(contexts) * len(batches)
    if n_configs > MAX_CONFIGURATIONS:
        raise SpecError("sweep", f"{len(variants)} variant(s) x {len(gpus)} GPU kind(s) x {len(counts)} GPU count(s) x "
                                 f"{len(contexts)} context(s) x {len(batches)} batch(es) = {n_configs:,} configurations; "
                                 f"at most {MAX_CONFIGURATIONS:,}")
    check_engine(engine)                                   # a usage error, not a layout to skip
    gpu_mem_util = check_mem_util(gpu_mem_util, engine)   # None: 0.9, or SGLang's default per card and count
    Parallelism(tp=ep if isinstance(ep, int) and ep > 1 else 1, ep=ep, dp_attention=False)  # ep: a valid degree
    for n in counts:
        Parallelism(tp=n)                       # a count that is not a valid degree is a usage error
    for c, b in itertools.product(contexts, batches):
        Step(phase, b, c, q_tokens)
    for _, spec in variants:                    # a step too large to price is a usage error, not a layout to skip
        check_step_size(spec, Step(phase, max(batches), contexts[0], q_tokens))
        format_bits(spec, kv_format)            # a layout the attention has none of (fp8-ds on GQA) is refused
    rows, skipped = [], []
    for (label, spec), hw, n in itertools.product(variants, gpus, counts):
        wbits = spec.dtypes.weight_bits if weight_bits is None else weight_bits
        kbits, fmt = kv_storage(spec, kv_bits, kv_format)          # none given: the variant's dtypes.kv and layout
        step_kbits = format_bits(spec, fmt) or kbits               # what the roofline reads per cache element
        try:
            par = _group(n, ep, dp_attention).check(spec)
            quant = spec.quantization if weight_bits is None else None
            w = weight_bytes(served_params_per_gpu(spec, par, q_tokens), wbits, quant,
                             mtp_width(spec, par, wbits, quant)).total
            tokens, seqs, non_torch = engine_settings(hw, engine, workspace_tokens, None, None)
            ws = activation_workspace(spec, tokens, par.attention_tp).total
            budget = kv_budget(spec, hw, w, ws, gpu_mem_util, engine, tokens, seqs, non_torch, par)[2]
            pages = engine_pages(spec, par, engine, kbits, fmt, None, None, tokens, q_tokens)   # an engine's pages
            roofline(spec, hw, Step(phase, 1, contexts[0], q_tokens), par, analyse_attention=False)
        except SpecError as e:
            skipped.append({"variant": label, "gpu": hw.name, "gpus": n, "argument": e.field, "reason": e.message})
            continue
        for c in contexts:
            per_seq = kv_report(spec, c, 1, kv_bits=kbits, kv_format=fmt).per_sequence.total
            mb, per_seq_gpu = (max_batch(engine_kv_spec(spec, engine), c, budget, par, kbits, kv_format=fmt)
                               if pages is None else
                               paged_max_batch(pages, c, budget, par))
            for b in batches:
                held = par.sequences_per_rank(b)
                fits = b <= mb
                r = roofline(spec, hw, Step(phase, b, c, q_tokens), par, weight_bits=weight_bits,
                             kv_bits=step_kbits, analyse_attention=False)
                t = r.time_s
                by = r.time_by_bound()
                rows.append(SweepRow(label, spec.mixer_kind, hw.name, n, c, b, per_seq, per_seq_gpu * held, w,
                                     fits, mb, r.expected_time_s if fits else None,
                                     r.expected_time_per_output_token_s if fits else None,
                                     r.expected_tokens_per_s if fits else None,
                                     r.expected_tokens_per_s / n if fits else None,
                                     max(by, key=by.get), _core_intensity(r),
                                     t if fits else None, r.tokens_per_s / n if fits else None,
                                     r.expected_time_s if fits and phase == "prefill" else None))
    focus, focus_config = {}, {}
    if rows:
        hw, n = gpus[0], max(c for c in counts if any(r.gpus == c for r in rows))
        c = contexts[len(contexts) // 2]
        ok = [r for r in rows if r.gpu == hw.name and r.gpus == n and r.context == c and r.fits]
        b = max((r.batch for r in ok), default=batches[0])
        focus_config = {"gpu": hw.name, "gpus": n, "context": c, "batch": b, "phase": phase}
        for label, spec in variants:
            if any(r.variant == label and r.gpu == hw.name and r.gpus == n for r in rows):
                focus[label] = roofline(spec, hw, Step(phase, b, c, q_tokens), _group(n, ep, dp_attention),
                                        weight_bits=weight_bits, kv_bits=kv_element_bits(spec, kv_bits, kv_format))
    # the cache the decode rows read: the smallest of the variants' (an 8-bit one flags archs without e4m3)
    bits = min(kv_element_bits(spec, kv_bits, kv_format) for _, spec in variants) if phase == "decode" else 16
    basis = tuple((hw.name, coefficient_basis(hw, "auto", bits)) for hw in gpus)
    return Sweep(tuple(rows), tuple(skipped), focus, focus_config, basis, engine)


def _core_intensity(r) -> float:
    """FLOP per byte of the step's attention core; 0 for a model without attention layers (no ``attn_core``)."""
    return next((t.op.intensity for t in r.ops if t.op.name == "attn_core"), 0.0)
