"""Quantized KV layouts with their scales (int4, int8, fp4) and paged sliding windows, worked by hand.

Layouts: LMDeploy ``lmdeploy/pytorch/engine/cache_engine.py`` (quant_policy 4/8: uint8 values, ``head_dim / 2`` a
head at int4, plus a ``[..., kv_heads, 2]`` scale-and-zero cache at the model dtype, for K and V apart); SGLang
``mem_cache/memory_pool.py`` (``MHATokenToKVPoolFP4``, ``MLATokenToKVPoolFP4``: e2m1 two a byte, one uint8 scale per
16 values). Paged windows: vLLM ``SlidingWindowManager.remove_skipped_blocks``."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc import api
from mlacalc.attention import KeyRule
from mlacalc.errors import SpecError
from mlacalc.kv import format_bits, kv_report
from mlacalc.spec import load_spec

from helpers import refused, run

# Llama-3.1-8B config: 32 layers, 8 KV heads of head_dim 128.
LLAMA_LAYERS, LLAMA_KV_HEADS, LLAMA_HEAD_DIM = 32, 8, 128


def _llama_layer(dtype: str) -> float:
    return api.kv_cache("llama-3.1-8b", 1, kv_dtype=dtype).per_token_layer.total


def test_int4_on_llama_adds_a_scale_and_zero_per_head_and_token():
    # values: 8 heads x 128 x (K, V) x 0.5 B = 1024 B; scales: 8 heads x (K, V) x (fp16 scale + fp16 zero) = 64 B
    values = LLAMA_KV_HEADS * LLAMA_HEAD_DIM * 2 * 0.5
    scales = LLAMA_KV_HEADS * 2 * (2 + 2)
    r = api.kv_cache("llama-3.1-8b", 1, kv_dtype="int4")
    assert (values, scales) == (1024, 64)
    assert r.per_token_layer.k == r.per_token_layer.v == 512
    assert r.per_token_layer.scales == 64
    assert r.per_token_layer.total == 1088          # 6.25% over the flat 4 bits it priced before
    assert r.per_token.total == LLAMA_LAYERS * 1088
    flat = api.kv_cache("llama-3.1-8b", 1, kv_dtype=4).per_token_layer.total   # --kv-bits 4: no scales
    assert flat == 1024


def test_int8_on_llama_is_lmdeploys_quant_policy_8():
    # 8 x 128 x 2 x 1 B = 2048 B of values, the same 64 B of scale and zero (vLLM has no int8 KV cache)
    assert _llama_layer("int8") == 2048 + 64


def test_fp4_on_llama_is_sglangs_e2m1_with_a_scale_per_16():
    # 1024 B of values; 2 x 8 x 128 / 16 = 128 one-byte scales
    assert _llama_layer("fp4") == 1024 + 2 * 8 * 128 // 16 == 1152


def test_fp4_on_mla_scales_the_576_wide_row_and_int4_is_refused():
    # DeepSeek-V3: kv_lora_rank 512, rope 64. SGLang's MLA fp4 pool: 576 / 2 = 288 B of values, 576 / 16 = 36 scales.
    r = api.kv_cache("deepseek-v3", 1, kv_dtype="fp4").per_token_layer
    assert (r.latent, r.rope_key, r.scales, r.total) == (256, 32, 36, 324)
    for fmt in ("int4", "int8"):
        with pytest.raises(SpecError, match="latent has no heads"):
            api.kv_cache("deepseek-v3", 1, kv_dtype=fmt)


def test_int4_on_mla_cli_is_one_line_exit_2(capsys):
    refused(capsys, "kv", "deepseek-v3", "--kv-dtype", "int4", words="--kv-dtype: int4 is LMDeploy's")
    refused(capsys, "fit", "deepseek-v3.2", "--kv-dtype", "fp4", words="DSA")


def test_roofline_and_fit_price_the_scales():
    spec = load_spec("llama-3.1-8b")
    # 1088 B for 2 x 8 x 128 = 2048 elements: 4.25 bits an element for the roofline
    assert format_bits(spec, "int4") == 1088 * 8 / 2048 == 4.25
    core = {k: next(o for o in api.roofline(spec, kv_dtype=k, batch=8, context=8192).ops if o.op.name == "attn_core").op
            for k in ("bf16", "int4")}
    assert core["int4"].kv_bytes == pytest.approx(core["bf16"].kv_bytes * 4.25 / 16)
    f = api.fit(spec, "h100-sxm", context=32768, kv_dtype="int4")
    assert f.kv_bytes_per_seq == 32768 * LLAMA_LAYERS * 1088       # 1,140,850,688 B


def test_sweep_kv_per_sequence_holds_the_scales(capsys):
    code, out, err, _ = run(capsys, "sweep", "llama-3.1-8b", "--kv-dtype", "int4", "--context", "32k", "--batch", "1",
                            "--gpu", "h100-sxm", "--format", "csv")
    assert code == 0, err
    header, row = out.splitlines()[:2]
    per_seq = float(dict(zip(header.split(","), row.split(",")))["kv_bytes_per_seq"])
    assert per_seq == 32768 * LLAMA_LAYERS * 1088


def test_scales_part_sums_into_the_total():
    r = api.kv_cache("llama-3.1-8b", 4096, 3, kv_dtype="int4")
    for kv in (r.per_token_layer, r.per_token, r.per_sequence, r.total, r.per_gpu):
        assert kv.latent + kv.rope_key + kv.k + kv.v + kv.indexer + kv.state + kv.scales == kv.total


# ---- paged sliding windows ------------------------------------------------------------------------------------


def test_gpt_oss_sliding_layers_hold_one_block_more_when_paged():
    # gpt-oss-20b: 24 layers alternating sliding (window 128) and full; 8 KV heads x 64, bf16:
    # 8 x 64 x (K, V) x 2 B = 2048 B per token and layer. Blocks of 16 at 4,096 tokens: a full layer 4,096 slots;
    # a sliding layer's 128 keys start anywhere in a block, ceil(127 / 16) + 1 = 9 blocks = 144 slots (not 128).
    per_token_layer = 8 * 64 * 2 * 2
    r = kv_report(load_spec("gpt-oss-20b"), 4096, block_size=16)
    assert r.per_sequence.total == per_token_layer * (12 * 4096 + 12 * 144)     # 104,202,240 B (103,809,024 before)
    assert kv_report(load_spec("gpt-oss-20b"), 4096).per_sequence.total == per_token_layer * (12 * 4096 + 12 * 128)


def test_gemma3_sliding_layers_at_block_16():
    # Gemma-3-27B: window 1024 on 5 of every 6 layers; ceil(1023 / 16) + 1 = 65 blocks = 1040 slots, not 1024.
    rule = KeyRule(window=1024)
    assert rule.held_paged(32768, 16) == 65 * 16 == 1040
    assert rule.held_paged(1000, 16) == 63 * 16     # shorter than the window: its own tokens, rounded up
    assert rule.held_paged(32768, None) == 1024


def _vllm_sliding_blocks(context: int, window: int, block: int) -> int:
    """Most blocks vLLM's SlidingWindowManager holds for one sequence while it grows to ``context`` tokens:
    before the step that computes token ``n`` (``n`` tokens computed), remove_skipped_blocks frees blocks below
    ``(n - window + 1) // block``; the step then holds blocks up to ``ceil((n + 1) / block)``."""
    most = 0
    for n in range(context):                         # n computed tokens, token n (0-based) is being computed
        first_kept = max(n - window + 1, 0) // block
        most = max(most, math.ceil((n + 1) / block) - first_kept)
    return most


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 700), st.integers(1, 200), st.sampled_from([1, 3, 16, 64]))
def test_sliding_paged_matches_vllms_sliding_window_manager(context, window, block):
    assert KeyRule(window=window).held_paged(context, block) == _vllm_sliding_blocks(context, window, block) * block


def test_an_unknown_kv_dtype_names_every_layout_kv_dtype_takes(capsys):
    # the generic dtype list (a checkpoint's) left out fp4 and fp8-ds, which only --kv-dtype takes
    refused(capsys, "kv", "llama-3.1-8b", "--kv-dtype", "int3",
            words="--kv-dtype: unknown dtype 'int3' (known: bf16, fp16, fp32, fp8, int4, int8, fp4, nvfp4, fp8-ds, "
                  "or a bit count)")
    refused(capsys, "kv", "llama-3.1-8b", "--kv-dtype", "0.5", words="--kv-dtype: bits per element must be in [1, 64]")
