"""bench/sglang_capacity_checks.py: the points behind docs/sglang-capacity-checks.md."""

from helpers import bench_module


def _module():
    return bench_module("sglang_capacity_checks")


def test_sglangs_rule_on_each_logs_own_figures_gives_its_token_count():
    """Where a log prints the free memory before the weights and the weights, ``(fraction x free - weights) x 2**30
    // cell`` is its token count to 0.01% (S1: (0.88 x 78.81 - 15.09) GiB / 131,072 B = 444,520 against 444,500;
    the logged GiB are rounded to 0.01): the rule mlacalc.sglang applies is SGLang's. A mistyped log figure breaks it."""
    mod = _module()
    rows = [mod.predict(p) for p in mod.POINTS]
    checked = [r for r in rows if "log_rule_tokens" in r]
    assert len(checked) == 3
    for r in checked:
        assert abs(r["log_rule_tokens"] / r["log_kv_tokens"] - 1) < 1e-3


def test_engine_sglang_lands_within_one_percent_on_the_h100_llama_logs():
    """S1, S2 (Llama-3.1-8B on one H100): the default accounting is 3-4% over SGLang's pool; --engine sglang with
    the run's fraction is within 1%."""
    mod = _module()
    for p in mod.POINTS[:2]:
        r = mod.predict(p)
        assert r["m_tokens"] > 1.03 * r["log_kv_tokens"]
        assert abs(r["s_tokens"] / r["log_kv_tokens"] - 1) < 0.01
