"""The expected time of impl auto's CUDA fp8 decode kernel (mlacalc.expected.cuda_fp8_*): where it runs, its split
plan restated from the kernel's wrapper, a time worked by hand, and what roofline and the calibration fit make of
it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc import expected as E
from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.step import Step, roofline

ROOT = Path(__file__).resolve().parent.parent


def _fit_module(monkeypatch):
    """(the repo root, bench/fit_cuda_fp8.py loaded as a module), with bench/ on the path for its labio import, as
    when it runs from bench/."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("fit_cuda_fp8", ROOT / "bench" / "fit_cuda_fp8.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return ROOT, mod


def shape(**kw) -> E.DecodeShape:
    base = dict(seqs=32, rows=16, kv_groups=1, keys=32768, key_bytes=576, dkv=1088, out_dv=512, layers=1,
                key_elems=576)
    return E.DecodeShape(**{**base, **kw})


@settings(max_examples=200, deadline=None)
@given(seqs=st.integers(1, 2000), keys=st.integers(1, 300_000), sms=st.sampled_from([78, 114, 132, 148]),
       rows=st.integers(1, 32))
def test_the_split_plan_is_the_kernels(seqs, keys, sms, rows):
    cf = pytest.importorskip("mlacalc.kernels.cuda_mla_fp8")
    ctas = cf.ctas_per_sm(cf.default_cta_rows(rows))     # the kernel's plan
    assert ctas == (cf.CTAS_PER_SM if cf.row_groups(cf.default_cta_rows(rows)) == 1 else 1)
    assert E.cuda_fp8_ctas_per_sm(rows) == ctas
    assert E.cuda_fp8_row_groups(rows) == cf.row_groups(cf.default_cta_rows(rows))
    assert E.cuda_fp8_splits(seqs, keys, sms, ctas) == cf.cuda_fp8_splits(seqs, keys, sms, ctas)
    assert E.cuda_fp8_splits(seqs, keys, sms) == cf.cuda_fp8_splits(seqs, keys, sms)
    assert (E.CUDA_FP8_TILE, E.CUDA_FP8_CTAS_PER_SM, E.CUDA_FP8_MAX_ROWS) == (cf.TILE, cf.CTAS_PER_SM,
                                                                          cf.AUTO_MAX_ROWS)


def test_a_time_worked_by_hand():
    """32 sequences x 32,768 keys x 16 heads on the built-in H100 SXM (132 SMs, 3,350 GB/s): 264 CTAs fit a wave,
    so 8 splits of 4,096 keys; the cache 32 x 32,768 x 576 B = 603,979,776 B, the partials 32 x 8 x 16 rows x 513
    fp32 values x 4 B = 8,404,992 B written and read again; (603,979,776 + 2 x 8,404,992) B / (3.35e12 x 0.868 B/s)
    = 213.49 us, plus 17.6 us fixed: 231.09 us a layer."""
    hw = load_hardware("h100-sxm")
    assert E.cuda_fp8_splits(32, 32768, 132) == (8, 4096)
    assert E.cuda_fp8_streamed_bytes(shape(), 132) == 603_979_776 + 2 * 8_404_992
    assert E.cuda_fp8_decode_s(shape(), hw) == pytest.approx(231.09e-6, rel=1e-4)
    assert E.cuda_fp8_decode_s(shape(layers=61), hw) == pytest.approx(61 * 231.09e-6, rel=1e-4)
    # one split (600 sequences fill more than a wave): its partial is still written and merged
    assert E.cuda_fp8_streamed_bytes(shape(seqs=600, keys=4096), 132) == 600 * 4096 * 576 + 2 * 600 * 16 * 513 * 4


@pytest.mark.parametrize("change,gpu,backend,runs", [
    ({}, "h100-sxm", "auto", True),
    ({}, "h200", "auto", True),
    ({"rows": 8}, "h100-sxm", "auto", True),
    ({"rows": 32}, "h100-sxm", "auto", True),           # two row groups a CTA (since the thirty-fifth session)
    ({"rows": 32, "tokens": 2}, "h100-sxm", "auto", True),    # 16 heads x 2 query tokens (MTP)
    ({"tokens": 2, "rows": 16}, "h100-sxm", "auto", True),
    ({"rows": 33}, "h100-sxm", "auto", False),          # past 32 rows: Triton, or Gluon from 64
    ({"rows": 64, "tokens": 2}, "h100-sxm", "auto", False),
    ({"key_bytes": 1152}, "h100-sxm", "auto", False),   # bf16 cache
    ({"key_elems": 288, "key_bytes": 288, "out_dv": 256}, "h100-sxm", "auto", False),   # MiniCPM3's dims
    ({"gathered": True}, "h100-sxm", "auto", False),    # DSA top-k
    ({}, "h100-sxm", "triton", False),
    ({}, "h100-sxm", "flashmla", False),
    ({}, "a100-80gb", "auto", False),                   # not sm_90
    ({"kernel": "gqa"}, "h100-sxm", "auto", False),
])
def test_where_the_kernel_runs(change, gpu, backend, runs):
    assert E.cuda_fp8_runs(shape(**change), load_hardware(gpu), backend) is runs


def test_roofline_prices_deepseek_v3_at_tensor_parallel_8_over_fp8_on_the_kernel():
    spec, hw = load_spec("deepseek-v3"), load_hardware("h100-sxm")
    step = Step(phase="decode", batch=32, context=32768)
    r = roofline(spec, hw, step, Parallelism(tp=8), kv_bits=8)
    core = next(t for t in r.ops if t.op.name == "attn_core")
    assert r.cuda_fp8 and r.attn_accuracy is E.CUDA_FP8_ACCURACY      # its own held-out figures, on this card
    assert core.expected_s == pytest.approx(spec.num_layers * 231.09e-6, rel=1e-3)
    assert "CUDA fp8 kernel" in r.coefficients
    # the same at tensor parallel 4 (32 heads a GPU): two row groups a CTA, one CTA an SM, so 132 // 32 = 4 splits
    # of the step's 32,769 keys (the context and the new token), 8,256 a split (whole tiles): 128 CTAs, one wave, a
    # chain of 8,256 keys x 88.9 cycles / 1.98 GHz = 370.68 us (the bytes at 0.868 of 3.35 TB/s take ~213.5 us),
    # plus 21.7 us: 392.38 us a layer
    r4 = roofline(spec, hw, step, Parallelism(tp=4), kv_bits=8)
    core4 = next(t for t in r4.ops if t.op.name == "attn_core")
    assert r4.cuda_fp8 and r4.attn_accuracy is E.CUDA_FP8_ACCURACY
    assert E.cuda_fp8_splits(32, 32769, 132, 1) == (4, 8256)
    assert E.cuda_fp8_chain_keys(shape(rows=32, keys=32769), 132) == 8256
    assert core4.expected_s == pytest.approx(spec.num_layers * 392.38e-6, rel=1e-3)
    # 69 sequences (one split each: 132 // 69 = 1) leave 63 SMs idle, 175 take two waves: the chain, not the bytes
    assert E.cuda_fp8_chain_keys(shape(rows=32, seqs=69, keys=10_000), 132) == 10_000
    assert E.cuda_fp8_chain_keys(shape(rows=32, seqs=175, keys=10_000), 132) == 20_000
    # and no accuracy on a card it was not measured on
    assert roofline(spec, load_hardware("h200"), step, Parallelism(tp=8), kv_bits=8).attn_accuracy is None
    # tensor parallel 2 (64 heads): past 32 rows, the Gluon kernel's model
    assert not roofline(spec, hw, step, Parallelism(tp=2), kv_bits=8).cuda_fp8
    # bf16: not the kernel
    assert not roofline(spec, hw, step, Parallelism(tp=8), kv_bits=16).cuda_fp8


def test_calibration_points_it_ran_stay_out_of_the_fit():
    from mlacalc.profiler.kernel_calibration import fit_decode

    hw = load_hardware("h100-sxm")
    rec = {"backend": "auto", "key": "k", "model": "deepseek-v3", "tp": 8, "batch": 32, "context": 32768,
           "q_tokens": 1, "paged": False, "kv_dtype": "fp8", "layers": 4, "measured_s": 1e-3, "num_splits": 8,
           "impl": "cuda"}
    recs = [dict(rec, batch=b) for b in (8, 32, 128)]
    assert fit_decode("auto", recs, hw) == (None, None)
    assert all(r["fitted_s"] > 0 for r in recs)
    json.dumps(recs)   # still plain records


def test_the_profilers_workspace_counts_the_kernels_partials_at_one_split_too():
    from mlacalc.profiler import predict

    spec = load_spec("deepseek-v3")
    one = predict.decode_workspace(spec, "auto", 300, 4096, tp=8, num_splits=1)
    always = predict.decode_workspace(spec, "auto", 300, 4096, tp=8, num_splits=1, partials_always=True)
    assert "split_partials" not in one
    # 300 sequences x 1 split x 16 rows x 512 fp32 values, and their 300 x 16 fp32 log-sum-exps (allocator-rounded)
    assert always["split_partials"] == 300 * 16 * 512 * 4
    assert always["split_lse"] == -(-300 * 16 * 4 // 512) * 512


def test_the_stated_constants_are_what_the_committed_h100_run_fits(monkeypatch):
    """CUDA_FP8_FIXED_US and CUDA_FP8_STREAM_EFF restate bench/fit_cuda_fp8.py over the session_cq run (the kernel
    as it is is that run's variant "cuda_late"), to the digits stated."""
    root, mod = _fit_module(monkeypatch)
    hw = load_hardware("h100-sxm")
    pts = mod.points(str(root / "reports/h100/tuning/ab_fp8_cuda_session_cq.json"), "cuda_late")
    assert len(pts) == 12
    fixed_us, eff = mod.fit(pts, hw)
    assert (round(fixed_us, 1), round(eff, 3)) == (E.CUDA_FP8_FIXED_US, E.CUDA_FP8_STREAM_EFF)
    worst = max(abs(E.cuda_fp8_decode_s(s, hw) / t - 1) for s, t, _ in pts)
    assert 0.06 < worst < 0.065    # README: within 6.4% at all 12


def test_the_two_row_group_constants_are_what_the_committed_h100_run_fits(monkeypatch):
    """CUDA_FP8_FIXED_US_2 and CUDA_FP8_CYCLES_PER_KEY_2 restate bench/fit_cuda_fp8.py --model chain over the
    session_cs run's 32-head points (variant "cuda": the kernel as auto runs it at 17-32 rows), to the digits stated;
    and the one-row-group pair still fits that run's 16-head points within 6.5% (a second run of the kernel after
    this session's changes)."""
    root, mod = _fit_module(monkeypatch)
    hw = load_hardware("h100-sxm")
    run = str(root / "reports/h100/tuning/session_cs/ab_fp8_cuda_conv_h32_16.json")
    pts = mod.points(run, "cuda", (32,))
    assert len(pts) == 6
    fixed_us, cycles = mod.fit(pts, hw, "chain")
    assert (round(fixed_us, 1), round(cycles, 1)) == (E.CUDA_FP8_FIXED_US_2, E.CUDA_FP8_CYCLES_PER_KEY_2)
    assert max(abs(E.cuda_fp8_decode_s(s, hw) / t - 1) for s, t, _ in pts) < 0.025
    one = mod.points(run, "cuda", (16,))
    assert len(one) == 6 and max(abs(E.cuda_fp8_decode_s(s, hw) / t - 1) for s, t, _ in one) < 0.065


def test_the_quoted_accuracy_is_the_committed_held_out_runs(monkeypatch):
    """CUDA_FP8_ACCURACY restates the session_cu, session_cv and session_cw runs' 72 random points (none a fitted one) against
    cuda_fp8_decode_s as it is, summarised as bench/accuracy_table.py summarises the validation reports; and
    CUDA_FP8_CYCLES_PER_KEY is the fastest chain rate among the 12 points the one-group pair was fitted to."""
    import math

    root = ROOT
    monkeypatch.syspath_prepend(str(root / "bench"))
    from accuracy_table import summary

    hw = load_hardware("h100-sxm")
    errs = []
    for run in E.CUDA_FP8_ACCURACY_RUNS:
        for r in json.loads((root / run).read_text())["rows"]:
            if r.get("variant") == "cuda" and r.get("graph_ms"):
                tokens = r.get("tokens", 1)
                sh = shape(seqs=r["B"], rows=tokens * r["heads"], keys=r["ctx"], paged=r["paged"], tokens=tokens)
                errs.append(abs(100 * (r["graph_ms"] * 1e-3 / E.cuda_fp8_decode_s(sh, hw) - 1)))
    acc = E.CUDA_FP8_ACCURACY
    assert summary(errs) == (acc.points, acc.median_pct, acc.p90_pct, acc.max_pct) == (72, 5.8, 10.5, 14.3)
    _, mod = _fit_module(monkeypatch)
    rates = [(t - E.CUDA_FP8_FIXED_US * 1e-6) / E.cuda_fp8_chain_keys(s, hw.sms) * hw.boost_clock_ghz * 1e9
             for s, t, _ in mod.points(str(root / "reports/h100/tuning/ab_fp8_cuda_session_cq.json"), "cuda_late")]
    assert round(min(rates), 1) == E.CUDA_FP8_CYCLES_PER_KEY
    # where it binds: 157 sequences of 17,772 keys, one split each (264 // 157), so 25 SMs hold two CTAs: 35,544
    # keys x 47.4 cycles / 1.98 GHz = 850.9 us, over the bytes' ~572 us
    uneven = shape(seqs=157, keys=17772, rows=10)
    assert E.cuda_fp8_chain_keys(uneven, 132) == 2 * 17772
    assert E.cuda_fp8_decode_s(uneven, hw) == pytest.approx((17.6 + 850.9) * 1e-6, rel=1e-3)
    assert math.isclose(E.cuda_fp8_chain_keys(shape(), 132), 8192)     # 32 x 8 splits = 256 CTAs: two an SM
