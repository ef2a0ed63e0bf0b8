"""mlacalc/vllm_sliding.py: vLLM's pages for sliding-window layers, worked by hand against its start-up logs."""

from __future__ import annotations

import math

import pytest

from mlacalc.capacity import fit
from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.vllm_sliding import sliding_pages

from helpers import HF_FIXTURES

GIB = 2**30
GEMMA2_9B = str(HF_FIXTURES / "gemma2")     # google/gemma-2-9b's config.json


def test_gpt_oss_120b_tp4_log_lines_by_hand():
    """dennislee22/vLLM-benchmarking log/vllm-120B-4gpuA10080GB-0.8GRAM-diff-nodes.log (vLLM 0.10.1.1, tp 4,
    max_model_len 16,384, 2,048 batched tokens): "Available KV cache memory: 45.32 GiB", "GPU KV cache size:
    2,640,144 tokens", "Maximum concurrency for 16,384 tokens per request: 284.25x". config.json: 36 layers alternating
    sliding (128) and full, 8 KV heads of 64: at tp 4 two heads, K and V at bf16, 2 x 2 x 64 x 2 = 512 B a token-layer.
    18 and 18 layers: one group of each, 18 layers a group; a page 16 x 512 B. A request at 16,384 holds 16,384 / 16 =
    1,024 full blocks and ceil((128 - 1 + 2,048) / 16) + 1 = 137 sliding ones (vLLM SlidingWindowSpec
    .max_memory_usage_bytes), 1,161 in all."""
    p = sliding_pages(load_spec("gpt-oss-120b"), Parallelism(tp=4), 16, None, 2048)
    assert (p.full_layers, p.sliding_layers, p.window, p.token_bytes) == (18, 18, 128, 2 * 2 * 64 * 2)
    assert (p.group_size, p.full_groups, p.sliding_groups, p.block_size) == (18, 1, 1, 16)
    per_request = 16_384 // 16 + (math.ceil((128 - 1 + 2048) / 16) + 1)
    assert p.blocks_per_request(16_384) == per_request == 1_161
    budget = 45.32 * GIB
    blocks = int(budget // (16 * 512) // 18)                            # 330,010
    assert p.num_blocks(budget) == blocks
    assert p.max_concurrency(budget, 16_384) == pytest.approx(284.25, abs=0.005)      # the log, to its rounding
    assert p.logged_tokens_legacy(budget) == blocks // 2 * 16
    # the log prints the budget to 0.01 GiB: its 2,640,144 tokens (330,018 blocks) lie within 45.32 +- 0.005 GiB
    assert p.logged_tokens_legacy(45.315 * GIB) <= 2_640_144 <= p.logged_tokens_legacy(45.325 * GIB)


def test_gemma2_9b_h100_log_lines_by_hand():
    """llm-d-incubation/llm-d-planner accuracy/results/v0.19.0/logs/google-gemma-2-9b-it--h100-80gb--tp1pp1dp1--8192
    .log (vLLM 0.19.0, max_model_len 8,192, 8,192 batched tokens): "Available KV cache memory: 54.12 GiB", "GPU KV
    cache size: 168,880 tokens", "Maximum concurrency for 8,192 tokens per request: 20.60x". config.json: 42 layers, 21
    sliding (4,096) and 21 full, 8 KV heads of 256: 2 x 8 x 256 x 2 = 8,192 B a token-layer. min(4,095 + 8,192, 8,192)
    = 8,192: the sliding group holds the whole context, 512 + 1 blocks, beside the full group's 512."""
    p = sliding_pages(load_spec(GEMMA2_9B), Parallelism(), 16, None, 8192)
    assert (p.full_layers, p.sliding_layers, p.window, p.token_bytes, p.group_size) == (21, 21, 4096, 8192, 21)
    assert p.blocks_per_request(8192) == 512 + (512 + 1)
    budget = 54.12 * GIB
    blocks = int(budget // (16 * 8192) // 21)                           # 21,111
    assert p.num_blocks(budget) == blocks == 21_111
    assert p.logged_tokens_legacy(budget) == blocks // 2 * 16 == 168_880          # the log's figure
    assert round(p.max_concurrency(budget, 8192), 2) == 20.60                      # the log's figure


def test_fit_reports_vllms_concurrency_not_the_byte_sum():
    """Gemma-2-9B on an H100 at 8,192 under vLLM 0.19's settings (util 0.95, 8,192 tokens, 1,024 sequences): the
    largest batch is num_blocks // 1,025, where the byte sum (the sliding layers at their 4,096-token window) held a
    third more."""
    f = fit(load_spec(GEMMA2_9B), load_hardware("h100-sxm"), 8192, gpu_mem_util=0.95, workspace_tokens=8192,
            engine="vllm", max_num_seqs=1024)
    p = f.vllm_sliding
    assert p is not None and f.vllm_pages is None
    blocks = int(f.kv_budget // (16 * 8192) // 21)
    assert f.max_batch == blocks // 1025
    byte_sum = 21 * 8192 * 8192 + 21 * 4096 * 8192                      # full + sliding layers, one sequence
    assert int(f.kv_budget // byte_sum) > 1.3 * f.max_batch
    d = f.to_json()["vllm_sliding"]
    assert (d["num_blocks"], d["blocks_per_request"], d["sliding_tokens"]) == (blocks, 1025, 8192)


def test_all_sliding_and_gemma3_groups():
    """Mistral-7B v0.1, every layer sliding (4,096): one group of 32; a request at 32,768 holds ceil((4,095 + 8,192)
    / 16) + 1 = 769 blocks, not 4,096 / 16. Gemma-3-27B, 52 sliding and 10 full: groups of 10 (52 > 1.5 x 10), six
    sliding groups and one full, 8 padding layers."""
    m = sliding_pages(load_spec("mistral-7b"), Parallelism(), 16, None, 8192)
    assert (m.full_groups, m.sliding_groups, m.group_size) == (0, 1, 32)
    assert m.blocks_per_request(32_768) == math.ceil((4095 + 8192) / 16) + 1 == 769
    g = sliding_pages(load_spec("gemma-3-27b"), Parallelism(), 16, None, 8192)
    assert (g.group_size, g.full_groups, g.sliding_groups, g.padding_layers) == (10, 1, 6, (0, 8))


def test_models_without_one_sliding_window_keep_the_byte_sum():
    assert sliding_pages(load_spec("llama-3.1-8b"), Parallelism(), 16, None, 8192) is None
    assert sliding_pages(load_spec("qwen3-next-80b-a3b"), Parallelism(tp=4), 16, None, 8192) is None   # a hybrid
    f = fit(load_spec("llama-3.1-8b"), load_hardware("h100-sxm"), 8192, engine="vllm")
    assert f.vllm_sliding is None and "vllm_sliding" not in f.to_json()
    g = fit(load_spec(GEMMA2_9B), load_hardware("h100-sxm"), 8192)            # mlacalc's accounting: a byte sum
    assert g.vllm_sliding is None
