"""bench/external_checks.py: the points behind docs/external-checks.md, rebuilt from each source's stated setup."""

import re
from pathlib import Path

import pytest

from helpers import bench_module


def _module():
    return bench_module("external_checks")


def _row(mod, pid):
    (pt,) = [p for p in mod.POINTS + mod.GQA_MHA_POINTS if p.id == pid]
    return mod.rows([pt], "test")[0]


def test_a_reported_causal_tflops_becomes_the_sources_time():
    """FlashAttention's benchmarks count a causal forward as 4 B S^2 H d / 2 FLOPs: the FA3 paper's head-dim-128 bar at
    16k tokens (batch 1, 16 heads, dim 2048) reads 616 TFLOP/s, so 4 x 16384^2 x 16 x 128 / 2 = 1.0995e12 FLOPs took
    1,784.9 us."""
    mod = _module()
    flops = 4 * 1 * 16384**2 * 16 * 128 / 2
    assert mod.causal_fwd_us(1, 16384, 16, 128, 616) == pytest.approx(flops / 616e12 * 1e6)
    assert _row(mod, "E128-16k")["published_us"] == pytest.approx(1784.9, abs=0.05)


def test_a_prefill_point_is_priced_by_the_sdpa_defaults_worked_by_hand():
    """M3-16k: MI300X (1,307.4 TFLOP/s bf16, 5,300 GB/s), one 16,384-token prompt, 64 query / 8 KV heads of 128.
    mlacalc counts 2 H (dk + dv) S (S + 1) / 2 = 64 x 256 x 16384 x 16385 FLOPs and one exponential a (query, key)
    pair and head, 64 x 16384 x 16385 / 2 = 8.590e9, and its expected time is the SDPA defaults'
    max(bytes / (0.708 x bandwidth), (FLOPs / (0.762 x peak) + 0.85 x exponentials / (304 CUs x 16 x 2.1 GHz)) x causal
    waste) + 15 us: the compute term, with 128 blocks of 128 on the diagonal (waste 128^2 x 128 x 129 / (16384 x 16385)
    = 1.00775): dots 4.4324e12 / (0.762 x 1,307.4 TFLOP/s) = 4,449.1 us, exponentials 0.85 x 8.590e9 x 1.00775 /
    10.214 T/s = 720.4 us, memory 603,979,776 B / (0.708 x 5,300 GB/s) = 161.0 us; 4,449.1 + 720.4 + 15 = 5,184.5 us."""
    mod = _module()
    r = _row(mod, "M3-16k")
    flops = 64 * 256 * 16384 * 16385
    assert r["flops"] == pytest.approx(flops)
    waste = 128 * 128 * 128 * 129 / (16384 * 16385)
    exps = 64 * 16384 * 16385 / 2
    nbytes = 16384 * (64 + 8 + 8 + 64) * 128 * 2                 # q, k, v in and the output out, bf16
    assert r["bytes"] == pytest.approx(nbytes)
    dots = flops * waste / (0.762 * 1307.4e12)
    sfu = 0.85 * exps * waste / (304 * 16 * 2.1e9)
    assert (dots * 1e6, sfu * 1e6) == pytest.approx((4449.1, 720.4), abs=0.05)
    want_us = max(nbytes / (0.708 * 5300e9), dots + sfu) * 1e6 + 15
    assert want_us == pytest.approx(5184.5, abs=0.05)
    assert r["expected_us"] == pytest.approx(want_us, rel=1e-3)
    assert r["floor_us"] == pytest.approx(flops / 1307.4e12 * 1e6)


def test_a_decode_point_reads_the_sources_cache():
    """O64-256: ONNX Runtime's NVBench table prints Read 65 MiB and Write 1 MiB for 64 sequences of 256 keys, 8 KV
    heads of 128 (llama3 70B, 64 query heads), bf16: the cache 64 x 256 x 8 x 128 x 2 (K, V) x 2 B = 64 MiB, the query
    and the output 64 x 64 x 128 x 2 B = 1 MiB each. The point attends 255 cached keys plus the new one."""
    mod = _module()
    r = _row(mod, "O64-256")
    assert r["context"] + 1 == 256
    mib = 2**20
    assert r["bytes"] == pytest.approx(66 * mib, rel=0.005)


def _second_table(lines):
    """The rows of the GQA/MHA table (the one whose header has a "kernel" column), as printed."""
    start = next(i for i, line in enumerate(lines) if line.startswith("| id | source | GPU | kernel |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        rows.append(line)
    return rows


def test_the_docs_gqa_mha_table_is_the_scripts_output(capsys):
    """docs/external-checks.md's second table is what ``python bench/external_checks.py`` prints, row for row, and
    its count line ("Of the N points, M are within 15% of the expected time") counts the script's rows: a point added
    to the script and not to the page (or a figure edited by hand) breaks it."""
    mod = _module()
    mod.main([])
    printed = _second_table(capsys.readouterr().out.splitlines())
    doc = (Path(__file__).resolve().parents[1] / "docs" / "external-checks.md").read_text().splitlines()
    assert _second_table(doc) == printed
    rows = mod.rows(mod.GQA_MHA_POINTS, "test")
    within = sum(abs(r["published_over_expected"] - 1) <= 0.15 for r in rows)
    m = re.search(r"Of the (\d+) points, (\d+) are within 15% of the expected time", "\n".join(doc))
    assert m and (int(m[1]), int(m[2])) == (len(rows), within)
