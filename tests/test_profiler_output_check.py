"""The profiler checks the output of what it timed (profiler/output_check.py), on the CPU: the decode step a point
builds, run with eager kernels, passes; a call that reads the wrong sequence's rows (the DSA mix-up the
thirty-second session found by hand) fails; the report says so."""

import pytest

from mlacalc.profiler.results import output_check_words, wrong_output
from mlacalc.profiler.run import PointConfig, summary_line
from mlacalc.spec import load_spec

torch = pytest.importorskip("torch")

from mlacalc.kernels.reference import mla_sparse_reference  # noqa: E402
from mlacalc.kernels import testing as kt  # noqa: E402
from mlacalc.profiler import output_check as oc  # noqa: E402


def test_sequence_rows_by_hand():
    """A pool of 4 blocks of 2 rows, rows numbered 0..7; table [[2, 0], [3, 1]]: sequence 1's first 3 rows are pool
    rows 6, 7 (block 3) and 2 (block 1). Contiguous [2, 4]: row 1's first 3."""
    pool = torch.arange(8.0).view(4, 2, 1)
    table = torch.tensor([[2, 0], [3, 1]], dtype=torch.int32)
    assert kt.sequence_rows(pool, table, 1, 3).flatten().tolist() == [6.0, 7.0, 2.0]
    assert kt.sequence_rows(pool, table, 0, 4).flatten().tolist() == [4.0, 5.0, 0.0, 1.0]
    flat = torch.arange(8.0).view(2, 4)
    assert kt.sequence_rows(flat, None, 1, 3).tolist() == [[4.0, 5.0, 6.0]]


def _point_checks(model: str, **kw):
    from mlacalc.profiler.run import _alloc_kv, _decode_step

    spec = load_spec(model)
    cfg = PointConfig(model, **({"kernel": "eager", "batch": 3, "context": 200, "layers": 2} | kw))
    cfg.validate(spec)
    torch.manual_seed(0)
    layers, tables = _alloc_kv(cfg, spec, torch, device="cpu")
    step, keep, checks = _decode_step(cfg, spec, layers, tables, torch, device="cpu")
    return cfg, step, checks


@pytest.mark.parametrize("model,kw", [
    ("deepseek-v2-lite", {}), ("deepseek-v2-lite", dict(paged=True, block_size=16)),
    ("deepseek-v2-lite", dict(q_tokens=2)),
    ("llama-3.1-8b", dict(kernel="sdpa", paged=True, block_size=16)), ("llama-3.1-8b", dict(kernel="sdpa", tp=2)),
    # 4,096-token window: with a 5,000-token context both layers hold the window (one length, one check)
    ("mistral-7b", dict(kernel="sdpa", context=5000, batch=2, layers=1))])
def test_the_step_a_point_times_passes_its_output_check(model, kw):
    """The decode step a point builds, run eagerly on the CPU (bf16 inputs): the last sequence's output within
    bf16's rounding of the float32 reference over its own rows, one check per distinct held length."""
    cfg, step, checks = _point_checks(model, **kw)
    step()
    res = oc.check_outputs(checks, cfg.batch - 1)
    assert res["ok"] and res["rel_error"] < 1e-2, res
    assert res["sequence"] == cfg.batch - 1 and len(res["held"]) == len(set(res["held"])) >= 1
    assert output_check_words(res).startswith("output ok (rel err ")


def test_the_references_of_fp8_caches():
    """fp8 caches are checked against their dequantised rows: a per-tensor e4m3 cache (the profiler's fp8 points,
    scale 0.05) through the eager kernel, which dequantises first, within bf16 rounding; an fp8-ds pool (uint8
    rows of 656 bytes) unpacked with its group scales, equal to the float reference over the unpacked pool."""
    from mlacalc.kernels.cache import pack_fp8_ds, unpack_fp8_ds
    from mlacalc.kernels.decode import mla_decode_eager

    torch.manual_seed(2)
    B, nblk, bs, H, r = 2, 3, 16, 4, 512
    pool = (torch.randn(B * nblk, bs, r + 64) * 8).to(torch.float8_e4m3fn)
    table = torch.randperm(B * nblk).view(B, nblk).to(torch.int32)
    q = torch.randn(B, 1, H, r + 64).to(torch.bfloat16)
    got = mla_decode_eager(q, pool, None, table, softmax_scale=0.05, kv_lora_rank=r, kv_scale=0.05, max_seqlen=40)
    want = kt.mla_sequence_reference(q, pool, table, 1, 40, kv_lora_rank=r, scale=0.05, kv_scale=0.05)
    assert (got[1:].float() - want).norm() / want.norm() < 1e-2
    rows = pack_fp8_ds(torch.randn(B * nblk, bs, r), torch.randn(B * nblk, bs, 64).to(torch.bfloat16))
    idx = torch.tensor([[[0, 5, 33, -1]], [[2, 47, 11, 30]]], dtype=torch.int32)
    got = kt.sparse_sequence_reference(q, rows, table, idx, 1, 48, kv_lora_rank=r, scale=0.05)
    want = mla_sparse_reference(q, unpack_fp8_ds(rows), idx, r, scale=0.05, block_table=table,
                                dtype=torch.float32)[1:]
    assert torch.allclose(got, want, atol=1e-6)


def test_a_call_reading_the_wrong_sequence_fails_the_check():
    """The same step's calls with the batch's sequences rolled by one (each reads the next one's rows): the last
    sequence's output is another sequence's, about as far from its reference as two unrelated outputs
    (relative error ~1, far over the 3e-2 tolerance)."""
    cfg, _, checks = _point_checks("deepseek-v2-lite", paged=True, block_size=16)
    rolled = [(C, lambda call=call: torch.roll(call(), 1, dims=0), ref) for C, call, ref in checks]
    res = oc.check_outputs(rolled, cfg.batch - 1)
    assert not res["ok"] and res["rel_error"] > 0.3


def test_the_dsa_mixup_is_caught():
    """Sparse decode of a contiguous cache [B, C, D] reads indices as rows of the flattened pool. The right call
    (rows b x C + position, profiler.run.dsa_pool_rows) passes the check of the last sequence; the call the
    profiler made until the thirty-second session (positions as rows: sequence 0's rows for everyone) fails it.
    The kernel's stand-in is the float64 reference itself, so only the rows differ."""
    from mlacalc.profiler.run import dsa_indices, dsa_pool_rows

    B, C, D, r, H = 3, 40, 80, 64, 4
    torch.manual_seed(1)
    cache, query = torch.randn(B, C, D), torch.randn(B, 1, H, D)
    pos = dsa_indices(B, 1, C, 16, torch)
    rows = dsa_pool_rows(pos, C, torch)

    def ref():
        return kt.sparse_sequence_reference(query, cache, None, rows, B - 1, C, kv_lora_rank=r, scale=0.1)
    right = [(C, lambda: mla_sparse_reference(query, cache, rows, r, scale=0.1), ref)]
    old = [(C, lambda: mla_sparse_reference(query, cache, pos, r, scale=0.1), ref)]
    assert oc.check_outputs(right, B - 1)["rel_error"] < 1e-6
    res = oc.check_outputs(old, B - 1)
    assert not res["ok"] and res["rel_error"] > 0.3
    # paged: positions through the sequence's own table row, the reference over its gathered rows
    pool = cache.view(B * 4, C // 4, D)
    table = torch.randperm(B * 4).view(B, 4).to(torch.int32)
    got = mla_sparse_reference(query, pool, pos, r, scale=0.1, block_table=table)[B - 1:]
    want = kt.sparse_sequence_reference(query, pool, table, pos, B - 1, C, kv_lora_rank=r, scale=0.1)
    assert torch.allclose(got.float(), want, atol=1e-5)


def test_an_out_of_memory_reference_is_recorded_not_raised():
    def oom():
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")
    res = oc.check_outputs([(10, lambda: torch.zeros(1, 1, 1, 1), oom)], 0)
    assert res == {"sequence": 0, "skipped": "out of memory for the reference"}
    assert not wrong_output({"output_check": res})
    assert output_check_words(res) == "output not checked (out of memory for the reference)"


def test_a_wrong_output_shows_in_the_line_and_the_report():
    from mlacalc.profiler.report import markdown_summary

    point = {"key": "m/decode/auto/b8/c1024", "status": "ok", "comparisons": [],
             "output_check": {"sequence": 7, "held": [1024], "rel_error": 0.98, "tolerance": 3e-2, "ok": False}}
    assert summary_line(point).endswith("output WRONG (rel err 0.98)")
    assert wrong_output(point) and not wrong_output({"status": "ok"})
    text = markdown_summary({"meta": {}, "points": [point]}, [])
    assert "1 computed a WRONG output" in text
    assert "- m/decode/auto/b8/c1024: output WRONG (rel err 0.98)" in text


def test_a_check_that_raises_is_recorded_not_raised():
    """A reference that fails (any exception) leaves the point measured and says why it is unchecked."""
    def broken():
        raise IndexError("index 9 is out of bounds\nsecond line")
    res = oc.check_outputs([(10, lambda: torch.zeros(1, 1, 1, 1), broken)], 0)
    assert res == {"sequence": 0, "skipped": "the check raised IndexError: index 9 is out of bounds"}
    assert not wrong_output({"output_check": res})


def test_the_profile_command_prints_the_check(capsys):
    """`mlacalc profile`'s table is followed by the check's words (no GPU needed to render a canned point)."""
    from mlacalc.commands.gpu import _render_point

    point = {"key": "m/decode/auto/b8/c1024", "status": "ok", "comparisons": [],
             "output_check": {"sequence": 7, "held": [1024], "rel_error": 0.0031, "tolerance": 3e-2, "ok": True}}
    _render_point(point, summary_line)
    assert "output ok (rel err 0.0031)" in capsys.readouterr().out


def test_the_check_agrees_with_the_eager_kernels_over_random_points():
    """bench/output_check_sweep.py: the random points' decode steps (seed 5, 20 points, shrunk to CPU size) all pass
    their own output check with the eager kernels: the reference reads each model's layout as the kernels do."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(root / "bench" / "output_check_sweep.py"), "--seeds", "5", "--n", "20"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout and "points checked" in r.stdout
