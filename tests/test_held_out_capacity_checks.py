"""bench/held_out_capacity_checks.py: the 2026-09 held-out round behind docs/vllm-capacity-checks.md and
docs/sglang-capacity-checks.md, worked by hand where a figure is quoted."""

import pytest

from helpers import bench_module

GIB = 2**30


def _module():
    return bench_module("held_out_capacity_checks")


def _row(mod, point_id):
    return next(mod.predict_vllm(p) for p in mod.VPOINTS if p.id == point_id)


def test_qwen3_32b_a100_tokens_from_the_logged_budget_by_hand():
    """H1 (Qwen3-32B, vLLM 0.19, A100): 64 layers x 8 KV heads x 128 x (K, V) x 2 B = 262,144 B a token;
    "Available KV cache memory: 9.57 GiB" holds 9.57 GiB // (16 x 262,144) = 2,449 blocks, 39,184 tokens (the log:
    39,200, its budget rounded to 0.01 GiB); H2's fp8 cache holds twice as many."""
    mod = _module()
    h1, h2 = _row(mod, "H1"), _row(mod, "H2")
    by_hand = int(9.57 * GIB // (16 * 262_144)) * 16
    assert h1["tokens_at_log_kv"] == by_hand == 39_184
    assert h2["tokens_at_log_kv"] == int(9.57 * GIB // (16 * 131_072)) * 16
    assert abs(by_hand - 39_200) < 0.005 * GIB / 262_144 + 16


def test_every_logged_token_count_follows_from_its_logged_budget():
    """The page arithmetic alone (the budget the log prints, mlacalc's bytes a token and vLLM's blocks) gives each
    logged "GPU KV cache size" to the log's rounding of the budget (0.01 GiB): full-attention and sliding models."""
    mod = _module()
    checked = 0
    for p in mod.VPOINTS:
        r = mod.predict_vllm(p)
        if r.get("tokens_at_log_kv") is None or p.log_tokens is None:
            continue
        checked += 1
        assert r["tokens_at_log_kv"] == pytest.approx(p.log_tokens, rel=1e-3), p.id
    assert checked == 12


def test_g2_before_and_after_by_hand():
    """G2 (Qwen2-7B, one A100 80GB, util 0.25, vLLM 0.10.1 with FlashInfer): the log's 5.01 GiB. Before this round:
    0.25 x 79.32 - 14.1852 - 0.6688 (the context in the non-torch memory) - 1.0326 (28 B a logit) = 3.94 GiB (1.270);
    after: - 0.0645 (66 MiB: the growth after the context) - 0.5249 (14 B a logit) = 5.06 GiB (0.991)."""
    mod = _module()
    r = _row(mod, "G2")
    weights = r["m_weights_gib"] * GIB
    rest = 2048 * 3584 * 2 + 2 * 256 * 3584 * 2                        # the hidden states the sampler keeps
    before = 0.25 * 79.32 * GIB - weights - 718_077_952 - (rest + 256 * 152064 * 28)
    after = 0.25 * 79.32 * GIB - weights - 69_206_016 - (rest + 256 * 152064 * 14)
    assert r["m_kv_before_gib"] == pytest.approx(before / GIB, rel=1e-12)
    assert r["m_kv_gib"] == pytest.approx(after / GIB, rel=1e-12)
    assert (round(5.01 / (before / GIB), 3), round(5.01 / (after / GIB), 3)) == (1.270, 0.991)


def test_sglang_default_fraction_on_an_mi355x_by_hand():
    """SG1's server_args print mem_fraction_static 0.911 on an MI355X: a card over 160 GiB takes a 16,384-token chunk
    and 512 graph sizes (server_args._handle_gpu_memory_settings), reserved = 512 + 16,384 x 1.5 + 512 x 2 + 1/8 x
    1,024 = 26,240 MiB of 288 x 1,024 = 294,912: round(268,672 / 294,912, 3) = 0.911."""
    mod = _module()
    r = next(mod.predict_sglang(p) for p in mod.SPOINTS if p.id == "SG1")
    reserved = 512 + 16384 * 1.5 + 512 * 2 + 1 / 8 * 1024
    assert reserved == 26_240 and round((294_912 - reserved) / 294_912, 3) == 0.911
    assert r["default_fraction"] == 0.911 == r["fraction"]
    # SGLang's rule on the log's own figures: 0.911 x 287.18 - 56.98 GiB over 98,304 B a token (48 layers x 4 KV
    # heads x 128 x 2 x 2 B), the pool main would have built
    assert r["log_rule_tokens"] == int((0.911 * 287.18 - 56.98) * GIB // 98_304)
    assert r["log_rule_tokens"] == pytest.approx(r["log_tokens"], rel=1e-4)


def test_commands_name_the_points_settings():
    mod = _module()
    g5 = _row(mod, "G5")
    assert g5["cmd"] == ("mlacalc fit qwen2.5-7b --gpu a100-40gb --tp 2 --engine vllm --gpu-mem-util 0.5 "
                         "--workspace-tokens 2048 --max-num-seqs 256 --context 16384 --sampler sort --json")
    assert all(mod.predict_sglang(p)["cmd"].startswith("mlacalc fit ") for p in mod.SPOINTS)
    # vLLM 0.17-0.19 without FlashInfer's sampler take the Triton top-k/top-p path, FlashInfer's points the default
    assert _row(mod, "L2")["cmd"].endswith("--context 8192 --sampler triton --json")
    assert "--sampler" not in _row(mod, "G1")["cmd"]


def test_the_docs_tables_are_the_scripts_output(capsys):
    """Every table row ``python bench/held_out_capacity_checks.py`` prints stands, as printed, in
    docs/vllm-capacity-checks.md or docs/sglang-capacity-checks.md: a figure edited by hand on the page, or a point
    the script gained and the page did not, breaks it."""
    from pathlib import Path

    _module().main([])
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    docs = Path(__file__).resolve().parents[1] / "docs"
    pages = set((docs / "vllm-capacity-checks.md").read_text().splitlines()) | set(
        (docs / "sglang-capacity-checks.md").read_text().splitlines())
    assert len(printed) > 20
    assert [line for line in printed if line not in pages] == []
