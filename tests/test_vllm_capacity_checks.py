"""bench/vllm_capacity_checks.py: the points behind docs/vllm-capacity-checks.md."""

import pytest

from helpers import bench_module


def _module():
    return bench_module("vllm_capacity_checks")


def test_llama3_8b_weights_by_hand_match_vllms_load():
    """Meta-Llama-3-8B (config.json: 32 layers, d 4096, 32 query / 8 KV heads of 128, FFN 14336, vocab 128256,
    untied head), bf16: embedding and head 2 x 128256 x 4096; per layer q and o 2 x 4096^2, k and v 2 x 4096 x 1024,
    gate/up/down 3 x 4096 x 14336; norms 65 x 4096. vLLM PR #10511 logged "model weights take 14.96GiB"."""
    params = 2 * 128256 * 4096 + 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336) + 65 * 4096
    by_hand = params * 2 / 2**30                                   # 14.9575 GiB
    mod = _module()
    row = mod.predict(mod.POINTS[0])
    assert row["m_weights_gib"] == pytest.approx(by_hand, rel=1e-9)
    assert row["log_weights_gib"] == pytest.approx(by_hand, rel=2e-3)


def test_each_logged_breakdown_adds_up_to_its_kv_figure():
    """Where a log prints the whole V0 breakdown, util x total - weights - non-torch - activation is its KV figure
    (A1: 0.9 x 79.22 - 14.96 - 1.79 - 1.26 = 53.288 against 53.29), so the gap's four causes sum to the gap: a
    mistyped log figure breaks this."""
    mod = _module()
    rows = [mod.predict(p) for p in mod.POINTS]
    checked = 0
    for r in rows:
        g = mod.gap(r)
        if g:
            checked += 1
            assert g["usable"] + g["weights"] + g["workspace"] + g["non_torch"] == pytest.approx(g["total"], abs=0.02)
    assert checked == 5


def test_engine_vllm_column_closes_the_h100_gap():
    """A1 and A2 (H100, every term of the log known): vLLM's accounting moves mlacalc's budget toward the log's
    (ratio log / mlacalc 0.951 -> 0.973, 0.924 -> 0.948) and stays above it (the terms left out only add memory)."""
    mod = _module()
    for p in mod.POINTS[:2]:
        r = mod.predict(p)
        assert r["log_kv_gib"] < r["v_kv_gib"] < r["m_kv_gib"]
