"""fit --engine sglang on a hybrid: SGLang's split of the budget into state slots and a K/V pool
(mlacalc.sglang.SglangHybridPool), worked by hand.

sgl-project/sglang ``model_executor/model_runner_kv_cache_mixin.py``: ``handle_max_mamba_cache`` sets
``max_mamba_cache_size = int(rest x r / (1 + r) // mamba_cache_per_req)`` (r = ``mamba_full_memory_ratio``, 0.9) and
leaves ``rest - slots x per_req`` to the K/V pool (``max_total_num_tokens = rest // cell_size``, the attention layers'
cell); ``init_memory_pool`` caps ``max_running_requests`` at ``max_mamba_cache_size // 3`` with the radix cache on.
The recurrent state is float32 unless the config says otherwise (``configs/mamba_utils.py`` ``mamba2_state_dtype``).
"""

import json
from pathlib import Path

import pytest

from mlacalc.capacity import fit
from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.sglang import SglangHybridPool
from mlacalc.spec import load_spec

from helpers import make_spec, run

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def test_qwen3_next_on_four_h200s_by_hand():
    """Qwen3-Next-80B at tp 4: a request's state 36 DeltaNet layers x (8 value heads x 128 x 128 x 4 B, float32 by
    SGLang's default, + 2048 channels x 3 x 2 B) = 36 x 536,576 = 19,316,736 B; a token 12 layers x 1 KV head x 256 x
    2 x 2 B = 12,288 B. 0.9 / 1.9 of the budget buys the slots, the rest the tokens; the batch is the smaller of
    tokens // 32,768 and slots // 3."""
    f = fit(load_spec("qwen3-next-80b-a3b"), load_hardware("h200"), 32_768, Parallelism(tp=4), engine="sglang")
    pool, budget = f.sglang_pool, f.kv_budget
    assert (pool.state_bytes, pool.token_bytes) == (36 * (8 * 128 * 128 * 4 + 2048 * 3 * 2), 12 * 256 * 2 * 2)
    assert pool.state_bytes == 19_316_736
    slots = int(budget * 0.9 / 1.9 // 19_316_736)
    tokens = int((budget - slots * 19_316_736) // 12_288)
    assert (pool.state_slots(budget), pool.kv_tokens(budget)) == (slots, tokens)
    assert f.max_batch == min(tokens // 32_768, slots // 3) == tokens // 32_768       # K/V-bound at 32k
    assert f.max_context == tokens                                                  # batch 1: every token
    assert f.kv_bytes_per_seq == 32_768 * 12_288 + 19_316_736
    assert f.vllm_pages is None and f.to_json()["sglang_hybrid"]["max_mamba_cache_size"] == slots


def test_short_requests_are_bound_by_the_state_slots():
    """At 1,024 tokens the K/V pool holds ~4,000 requests but the slots a third of 2,317."""
    f = fit(load_spec("qwen3-next-80b-a3b"), load_hardware("h200"), 1024, Parallelism(tp=4), engine="sglang")
    assert f.max_batch == f.sglang_pool.state_slots(f.kv_budget) // 3 < f.sglang_pool.kv_tokens(f.kv_budget) // 1024


def test_a_config_dtype_replaces_the_float32_default(capsys):
    """A spec whose recurrent state is bf16 (dtypes.ssm_state) takes half the SSM bytes: 36 x (65,536 x 2 + 12,288)."""
    code, out, _, _ = run(capsys, "fit", "qwen3-next-80b-a3b", "--gpu", "h200", "--tp", "4", "--engine", "sglang",
                          "--set", "dtypes.ssm_state=bf16", "--json")
    d = json.loads(out)["fits"][0]["sglang_hybrid"]
    assert code in (0, None) and d["state_bytes"] == 36 * (8 * 128 * 128 * 2 + 2048 * 3 * 2) == 9_879_552


def test_state_slot_bytes_of_the_27b_shape_match_sglangs_log():
    """SGLang's log of a 27B of Qwen3.5's shape (Qwen3.8-27B-FP8 on one H100, code corpus file id 65830671609): "Mamba
    Cache is allocated. max_mamba_cache_size: 124, conv_state size: 0.34GB, ssm_state size: 17.58GB". A request: 48
    layers x (10240 x 3 x 2 B conv) = 2,949,120 B and 48 x (48 x 128 x 128 x 4 B) = 150,994,944 B; the pool holds
    124 + 1 slots (one padding slot): 125 x 2,949,120 = 0.343 GiB, 125 x 150,994,944 = 17.578 GiB, as logged. (Its
    K/V line, 330,323 tokens, sits 0.5% above what the 0.9 split leaves after 124 slots: not reproduced.)"""
    conv, ssm = 48 * 10240 * 3 * 2, 48 * 48 * 128 * 128 * 4
    spec = make_spec({"kind": "gqa", "num_heads": 24, "num_kv_heads": 4, "head_dim": 256}, layers=64,
                     layer_types=["linear", "linear", "linear", "full"], hidden=5120,
                     linear_attention={"kind": "gated_deltanet", "num_k_heads": 16, "num_v_heads": 48,
                                       "head_k_dim": 128, "head_v_dim": 128, "conv_kernel_size": 4})
    f = fit(spec, load_hardware("h100-sxm"), 4096, engine="sglang")
    assert f.sglang_pool.state_bytes == conv + ssm == 153_944_064
    assert (f"{125 * conv / 2**30:.2f}", f"{125 * ssm / 2**30:.2f}") == ("0.34", "17.58")


def test_pool_arithmetic():
    pool = SglangHybridPool(state_bytes=1000, token_bytes=10)
    budget = 19_000                                  # 9,000 to the slots: 9 slots, 10,000 left: 1,000 tokens
    assert (pool.state_slots(budget), pool.kv_tokens(budget), pool.max_running(budget)) == (9, 1000, 3)
    assert pool.max_batch(budget, 100) == 3 and pool.max_batch(budget, 500) == 2
    assert pool.max_context(budget, 2, 1 << 20) == 500 and pool.max_context(budget, 4, 1 << 20) == 0
    assert pool.state_slots(-1) == 0 and pool.kv_tokens(-1) == 0


def test_sglang_table_shows_the_slots(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _, _ = run(capsys, "fit", "qwen3-next-80b-a3b", "--gpu", "h200", "--tp", "4", "--engine", "sglang")
    assert code in (0, None) and "SGLang state slots" in out and "running at 3 a request" in out
    code, out, _, _ = run(capsys, "fit", "llama-3.1-8b", "--engine", "sglang", "--json")
    assert "sglang_hybrid" not in json.loads(out)["fits"][0]
