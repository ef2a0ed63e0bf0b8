"""vLLM's pages of a hybrid (mlacalc/vllm_hybrid.py): its start-up log lines reproduced from the model's shapes, worked
by hand here; non-hybrids unchanged; bad input refused in one line.

What each log line is computed from (vllm-project/vllm): "Setting attention block size to B tokens" and "Padding mamba
page size by P%" (platforms/interface.py ``_align_hybrid_block_size``): ``B = 16 ceil(state / (16 token))``, ``P =
100 (B token - state) / state``, with ``token`` one attention layer's K/V of one token and ``state`` one state layer's
state, on one GPU. "Add k padding layers" (v1/core/kv_cache_utils.py ``_get_kv_cache_groups_uniform_page_size``).
"Maximum concurrency for C tokens per request: X" (``get_max_concurrency_for_kv_cache_config``): ``num_blocks /
blocks a request holds``, ``num_blocks = available // page // group_size``. "GPU KV cache size: N tokens":
``int(X C)`` in vLLM 0.28, ``num_blocks // groups x min block size`` in vLLM 0.17-0.19 (``_report_kv_cache_config``).
"Available KV cache memory" is printed to 0.01 GiB, so a block count is known from it to within one.
"""

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.capacity import fit
from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec, spec_from_dict
from mlacalc.vllm_hybrid import group_size, hybrid_pages, is_hybrid

from helpers import make_spec, mamba_blocks, refused, run, hf_fixture as hf

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
GIB = 2**30


# --- Qwen3.5-0.8B (Gated DeltaNet), vLLM 0.28.0 on one A100 80GB, bf16, prefix caching on ("Mamba cache mode is set
# to 'align' ... when prefix caching is enabled"). Log: a course's notes of two runs (code corpus file id
# 69080973712, section 5): offline LLM() at gpu_memory_utilization 0.92 and max_model_len 262,144, and `vllm serve`
# at 0.85 and 8,192: "Setting attention block size to 544 tokens", "Padding mamba page size by 2.64%", "Available KV
# cache memory: 67.08 GiB", "GPU KV cache size: 5,788,118 tokens, Maximum concurrency for 262,144 tokens per request:
# 22.08x"; serve: "KV cache 61.82 GiB = 3,697,198 tokens, ... 451.32x" at 8,192.

# config.json: 24 layers, 3 DeltaNet to 1 full; full attention 2 KV heads x 256; DeltaNet 16 key / 16 value heads of
# 128, convolution of 4, mamba_ssm_dtype float32
TOKEN_08B = 2 * 2 * 256 * 2                                     # K and V, 2 heads x 256, bf16: 2,048 B
STATE_08B = 16 * 128 * 128 * 4 + (2 * 16 * 128 + 16 * 128) * 3 * 2   # 1,048,576 fp32 + 6144 x 3 bf16 = 1,085,440 B
BLOCK_08B = 16 * math.ceil(STATE_08B / (16 * TOKEN_08B))        # 16 x ceil(33.125) = 544
PAGE_08B = BLOCK_08B * TOKEN_08B                                # 1,114,112 B
# 6 attention and 18 DeltaNet layers: groups of 6, one attention group and 3 state groups; a block id is 6 pages


def test_qwen3_5_0_8b_block_and_padding_are_vllms():
    p = hybrid_pages(hf("qwen3_5_0_8b"), Parallelism(), 16, mamba_cache_mode="align")
    assert (p.token_bytes, p.state_bytes) == (TOKEN_08B, STATE_08B) == (2048, 1_085_440)
    assert p.block_size == BLOCK_08B == 544 and p.page_bytes == PAGE_08B == 1_114_112
    assert f"{p.padding_pct:.2f}" == "2.64"                    # 100 x 28,672 / 1,085,440 = 2.6415
    assert (p.group_size, p.attention_groups, p.state_groups, p.padding_layers) == (6, 1, 3, (0, 0))
    assert p.block_bytes == 6 * PAGE_08B


def test_qwen3_5_0_8b_offline_log_at_262144():
    """67.08 GiB (the log's 0.01 GiB) holds 67.08 x 2^30 / (6 x 1,114,112) = 10,774.95 blocks: 10,774 or 10,775 over
    the printed value's interval [67.075, 67.085). A request of 262,144 tokens under "align" holds ceil(262,144 / 544)
    = 482 attention blocks + 3 groups x 2 state pages = 488. 10,775 / 488 = 22.0799 -> "22.08x", and int(22.0799 x
    262,144) = 5,788,118 tokens, the log's line exactly; 10,774 blocks would log 5,787,580."""
    p = hybrid_pages(hf("qwen3_5_0_8b"), Parallelism(), 16, mamba_cache_mode="align")
    assert p.blocks_per_request(262_144) == 482 + 3 * 2 == 488
    low, high = p.num_blocks(67.075 * GIB), p.num_blocks(67.085 * GIB)
    assert (low, high) == (10_774, 10_775)
    budget = 10_775 * 6 * PAGE_08B                  # 72,027,340,800 B = 67.0804 GiB: the log prints 67.08
    assert f"{budget / GIB:.2f}" == "67.08"
    assert p.num_blocks(budget) == 10_775
    assert f"{p.max_concurrency(budget, 262_144):.2f}" == "22.08"
    assert p.logged_tokens(budget, 262_144) == 262_144 * 10_775 // 488 == 5_788_118
    assert p.logged_tokens(67.08 * GIB, 262_144) == 262_144 * 10_774 // 488 == 5_787_580   # one block short


def test_qwen3_5_0_8b_serve_log_at_8192():
    """61.82 GiB = 66,377,830,891 B / 6,684,672 B a block = 9,929.8: 9,929 blocks. A request of 8,192 tokens holds
    ceil(8,192 / 544) = 16 attention blocks + 3 x 2 state pages = 22: 9,929 / 22 = 451.318 -> "451.32x", and
    int(451.318 x 8,192) = 3,697,198 tokens, both as logged."""
    p = hybrid_pages(hf("qwen3_5_0_8b"), Parallelism(), 16, mamba_cache_mode="align")
    budget = 61.82 * GIB
    assert p.num_blocks(budget) == int(budget // PAGE_08B // 6) == 9_929
    assert p.blocks_per_request(8192) == 16 + 6 == 22
    assert f"{p.max_concurrency(budget, 8192):.2f}" == "451.32"
    assert p.logged_tokens(budget, 8192) == 9_929 * 8192 // 22 == 3_697_198
    assert p.max_batch(budget, 8192) == 451


# --- LFM2.5-1.2B-Instruct (LFM2's short convolutions), vLLM 0.17.0 (vllm_metax) on a MetaX C500, float16,
# max_model_len 2,048, gpu_memory_utilization 0.70, enable_prefix_caching=False (code corpus file id 64285867313):
# "Setting attention block size to 16 tokens", "Padding mamba page size by 300.00%", "Add 2 padding layers, may waste
# at most 20.00% KV cache memory", "GPU KV cache size: 217,264 tokens", "Maximum concurrency for 2,048 tokens per
# request: 313.37x". Its printed config (hidden 2048, 16 layers, 32 heads, 8 KV heads) is LFM2-1.2B's; the log has no
# "Available KV cache memory" line, so the check is that one block count gives both of its numbers.

def test_lfm2_block_padding_and_groups_are_vllms():
    """Attention: 2 x 8 heads x 64 x 2 B = 2,048 B a token; a convolution's state 2048 channels x (3 - 1) x 2 B =
    8,192 B: 16 x ceil(8,192 / 32,768) = 16 tokens, a page of 32,768 B, the state padded by 24,576 / 8,192 = 300%.
    6 attention and 10 convolution layers: 10 is not under 1.5 x 6, so groups of 6, the convolutions in 2 groups with
    2 empty layers (2 / 10 = 20%)."""
    p = hybrid_pages(hf("lfm2_1_2b"), Parallelism(), 16)
    assert (p.token_bytes, p.state_bytes, p.block_size, p.page_bytes) == (2048, 8192, 16, 32_768)
    assert f"{p.padding_pct:.2f}" == "300.00"
    assert (p.group_size, p.attention_groups, p.state_groups, p.padding_layers) == (6, 1, 2, (0, 2))
    assert 100 * p.padding_layers[1] / p.state_layers == 20.0


def test_lfm2_log_line_is_one_block_count():
    """A request of 2,048 tokens: 2,048 / 16 = 128 attention blocks + 2 state pages = 130. vLLM 0.17 logged tokens as
    num_blocks // 3 groups x 16: 217,264 / 16 = 13,579 -> num_blocks in [40,737, 40,739]; 313.37 x 130 = 40,738.1
    -> num_blocks 40,738 (313.3692 -> "313.37"). Both lines hold for 40,738 blocks, a budget of 40,738 x 6 pages =
    8,009,613,312 B (7.459 GiB), and for no neighbour."""
    p = hybrid_pages(hf("lfm2_1_2b"), Parallelism(), 16)
    assert p.blocks_per_request(2048) == 128 + 2 == 130
    block = 6 * 32_768
    for blocks in (40_737, 40_738, 40_739):
        budget = blocks * block
        logged = (p.logged_tokens_legacy(budget, 2048), f"{p.max_concurrency(budget, 2048):.2f}")
        assert (logged == (217_264, "313.37")) == (blocks == 40_738), blocks
    assert p.logged_tokens_legacy(40_738 * block, 2048) == 40_738 // 3 * 16 == 217_264


# --- Qwen3.5-27B, vLLM 0.19.0 on an H20, max_model_len 32,768 (vllm-project/vllm issue #40691): "GPU KV cache size:
# 290,864 tokens", "Maximum concurrency for 32,768 tokens per request: 33.04x" (prefix caching not in its flags).
# The 27B's text config (a transcription of the family's 27B config.json, code corpus file id 62451624408): 64
# layers, 3 DeltaNet to 1 full; 4 KV heads of 256; DeltaNet 16 key / 48 value heads of 128, convolution of 4, state
# float32. The 4B fixture with those keys.

def _qwen3_5_27b(tmp_path):
    cfg = json.loads((FIXTURES / "qwen3_5_4b" / "config.json").read_text())
    cfg["text_config"].update({"hidden_size": 5120, "intermediate_size": 17408, "num_hidden_layers": 64,
                               "num_attention_heads": 24, "num_key_value_heads": 4, "linear_num_value_heads": 48,
                               "layer_types": ["linear_attention"] * 3 + ["full_attention"]})
    cfg["text_config"]["layer_types"] = cfg["text_config"]["layer_types"] * 16
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return load_spec(str(tmp_path))


def test_qwen3_5_27b_h20_log_is_one_block_count(tmp_path):
    """A token: 2 x 4 x 256 x 2 = 4,096 B; a state: 48 x 128 x 128 x 4 + (2 x 2048 + 6144) x 3 x 2 = 3,145,728 +
    61,440 = 3,207,168 B: blocks of 16 x ceil(3,207,168 / 65,536) = 16 x 49 = 784 tokens (the 27B's 784 of every log
    of it), padded 4,096 / 3,207,168 = 0.13%. 16 attention and 48 DeltaNet layers: groups of 16, 1 + 3 groups. A
    request of 32,768 tokens without prefix caching: ceil(32,768 / 784) = 42 + 3 = 45 blocks. 33.04 x 45 = 1,486.8 ->
    1,487 blocks (33.044); vLLM 0.19's tokens 1,487 // 4 x 784 = 371 x 784 = 290,864, as logged."""
    p = hybrid_pages(_qwen3_5_27b(tmp_path), Parallelism(), 16)
    assert (p.token_bytes, p.state_bytes, p.block_size) == (4096, 3_207_168, 784)
    assert f"{p.padding_pct:.2f}" == "0.13" and (p.group_size, p.groups) == (16, 4)
    assert p.blocks_per_request(32_768) == 45
    budget = 1_487 * 16 * p.page_bytes
    assert f"{p.max_concurrency(budget, 32_768):.2f}" == "33.04"
    assert p.logged_tokens_legacy(budget, 32_768) == 290_864
    # read at bf16 (as before mamba_ssm_dtype was read) the state is 1,634,304 B and the block 400: not the log's
    assert 16 * math.ceil((48 * 128 * 128 * 2 + 61_440) / 65_536) == 400


# --- Nemotron 3 Nano 30B-A3B's shape (Mamba-2), fp8 KV: Nemotron-Cascade-2-30B-A3B-NVFP4 served by vLLM with
# "Using fp8 data type to store kv cache": "Setting attention block size to 4176 tokens", "Padding mamba page size by
# 0.19%" (code corpus file id 51961570119). Its config (code corpus file ids 62471295831, 55720381435): attention 32
# heads, 2 KV heads of 128; Mamba-2 64 heads of 64, 8 groups, state 128, convolution 4; vLLM's NemotronH hook keeps
# the SSM state in float32.

def test_nemotron_3_nano_block_at_fp8_kv():
    """A token at fp8: 2 x 2 x 128 x 1 = 512 B; a state: conv (64 x 64 + 2 x 8 x 128) x 3 x 2 = 36,864 B (bf16) + SSM
    64 x 64 x 128 x 4 = 2,097,152 B (fp32) = 2,134,016 B: 16 x ceil(2,134,016 / 8,192) = 16 x 261 = 4,176 tokens,
    padded 4,096 / 2,134,016 = 0.19%."""
    spec = make_spec({"kind": "gqa", "num_heads": 32, "num_kv_heads": 2, "head_dim": 128}, layers=4,
                     layer_types=["linear", "linear", "linear", "full"], hidden=2688,
                     linear_attention={"kind": "mamba2", "num_k_heads": 8, "num_v_heads": 64, "head_k_dim": 128,
                                       "head_v_dim": 64, "conv_kernel_size": 4},
                     dtypes={"ssm_state": "fp32"})
    p = hybrid_pages(spec, Parallelism(), 8)
    assert (p.token_bytes, p.state_bytes, p.block_size) == (512, 2_134_016, 4176)
    assert f"{p.padding_pct:.2f}" == "0.19"


# --- worked by hand, no log: Qwen3-Next-80B-A3B (12 GQA-2 layers of 256 beside 36 DeltaNet of 16/32 heads x 128, state
# bf16: vLLM's "auto", its config has no mamba_ssm_dtype)

@pytest.mark.parametrize("tp,token,state,block", [
    (1, 2 * 2 * 256 * 2, 32 * 128 * 128 * 2 + 8192 * 3 * 2, 544),           # 1,097,728 / 32,768 = 33.5 -> 34 x 16
    (2, 2 * 1 * 256 * 2, 16 * 128 * 128 * 2 + 4096 * 3 * 2, 544),           # 548,864 / 16,384 = 33.5
    (4, 2 * 1 * 256 * 2, 8 * 128 * 128 * 2 + 2048 * 3 * 2, 272),            # a KV head on each GPU (2 of 4)
    (8, 2 * 1 * 256 * 2, 4 * 128 * 128 * 2 + 1024 * 3 * 2, 144),            # 137,216 / 16,384 = 8.375 -> 9 x 16
])
def test_qwen3_next_blocks_by_tp(tp, token, state, block):
    p = hybrid_pages(load_spec("qwen3-next-80b-a3b"), Parallelism(tp=tp), 16)
    assert (p.token_bytes, p.state_bytes, p.block_size) == (token, state, block)
    assert block == 16 * math.ceil(state / (16 * token))
    assert (p.group_size, p.attention_groups, p.state_groups) == (12, 1, 3)


def test_qwen3_next_fit_on_four_h200s():
    """fit --engine vllm at tp 4, 32k: the budget cut into blocks of 12 pages of 272 x 1,024 B (3,342,336 B); a
    request holds ceil(32,768 / 272) = 121 + 3 blocks; the largest batch is num_blocks // 124 (224), where the byte
    sum (32,768 x 12 x 1,024 + 36 x 274,432 B a sequence) gave 225."""
    f = fit(load_spec("qwen3-next-80b-a3b"), load_hardware("h200"), 32_768, Parallelism(tp=4), engine="vllm")
    p = f.vllm_pages
    blocks = int(f.kv_budget // (272 * 1024) // 12)
    assert p.num_blocks(f.kv_budget) == blocks and p.blocks_per_request(32_768) == 121 + 3
    assert f.max_batch == blocks // 124 == 224
    assert f.kv_bytes_per_seq == 124 * 12 * 272 * 1024
    assert int(f.kv_budget // (32_768 * 12 * 1024 + 36 * 274_432)) == 225          # the byte sum's answer
    d = f.to_json()["vllm_hybrid"]
    assert (d["block_size"], d["num_blocks"], d["blocks_per_request"]) == (272, blocks, 124)
    assert d["kv_cache_tokens"] == int(blocks / 124 * 32_768)


def test_align_mode_holds_two_state_pages():
    spec = load_spec("qwen3-next-80b-a3b")
    none = hybrid_pages(spec, Parallelism(tp=4), 16)
    align = hybrid_pages(spec, Parallelism(tp=4), 16, mamba_cache_mode="align")
    assert align.block_size == none.block_size == 272
    assert align.blocks_per_request(32_768) - none.blocks_per_request(32_768) == 3      # one more page a state group


def test_a_given_block_size_is_the_alignment():
    """vLLM's _align_hybrid_block_size aligns to max(kernel block, --block-size) (a log of it: --block-size 816 on a
    784-token need, "Setting attention block size to 1632"). Qwen3-Next at tp 4, 274,432 B of state against 1,024 B a
    token: --block-size 512 holds it in one block (524,288 B); --block-size 128 needs ceil(274,432 / 131,072) = 3."""
    spec = load_spec("qwen3-next-80b-a3b")
    assert hybrid_pages(spec, Parallelism(tp=4), 16, block_size=512).block_size == 512       # 274,432 <= 524,288
    assert hybrid_pages(spec, Parallelism(tp=4), 16, block_size=128).block_size == 128 * 3   # 274,432 / 131,072


def test_group_size_rule():
    """_get_kv_cache_groups_uniform_page_size: the smaller count, or the larger when under 1.5 x the smaller."""
    assert group_size(12, 36) == 12 and group_size(6, 10) == 6 and group_size(44, 44) == 44
    assert group_size(12, 13) == 13 and group_size(13, 12) == 13 and group_size(4, 6) == 4


def test_falcon_h1_parallel_mixers_are_two_groups():
    """Falcon-H1-7B: every layer holds attention and Mamba-2: 44 and 44 layers, groups of 44, one each. A token of
    its 2 KV heads x 128: 1,024 B; the state 1,594,368 B (docs/zoo-facts.md section 23): blocks of 16 x ceil(1,594,368
    / 16,384) = 16 x 98 = 1,568 tokens (the 1,557 it needs, rounded up to the kernel's 16)."""
    p = hybrid_pages(hf("falcon_h1_7b"), Parallelism(), 16)
    assert (p.token_bytes, p.state_bytes, p.block_size) == (1024, 1_594_368, 1568)
    assert math.ceil(1_594_368 / 1024) == 1557
    assert (p.group_size, p.attention_groups, p.state_groups) == (44, 1, 1)


# --- non-hybrids unchanged

@settings(max_examples=40, deadline=None)
@given(kv=st.sampled_from([1, 2, 4, 8]), layers=st.integers(1, 8), context=st.sampled_from([1, 100, 4096, 32768]))
def test_a_model_without_state_layers_is_sized_as_before(kv, layers, context):
    """No state layer: vLLM pages it as it always did, and fit's answer is the byte sum, as before this module."""
    spec = make_spec({"kind": "gqa", "num_heads": 8, "num_kv_heads": kv, "head_dim": 64}, layers=layers)
    assert not is_hybrid(spec)
    f = fit(spec, load_hardware("h200"), context, engine="vllm")
    assert f.vllm_pages is None and "vllm_hybrid" not in f.to_json()
    assert f.max_batch == int(f.kv_budget // f.kv_bytes_per_seq)
    assert f.kv_bytes_per_seq == layers * 2 * kv * 64 * 2 * context


@settings(max_examples=30, deadline=None)
@given(block=mamba_blocks)
def test_a_model_of_state_layers_alone_is_sized_as_before(block):
    spec = spec_from_dict({"name": "ssm", "num_layers": 2, "hidden_size": 256, "vocab_size": 1000, "attention": None,
                           "ffn": None, "layer_types": ["linear"], "linear_attention": block})
    assert not is_hybrid(spec)
    f = fit(spec, load_hardware("h200"), 4096, engine="vllm")
    assert f.vllm_pages is None and f.max_batch == int(f.kv_budget // f.kv_bytes_per_seq)


@settings(max_examples=60, deadline=None)
@given(block=mamba_blocks, kv=st.sampled_from([1, 2, 4]), head=st.sampled_from([64, 128, 256]),
       ratio=st.integers(1, 7), kernel=st.sampled_from([16, 32, 64]))
def test_pages_invariants(block, kv, head, ratio, kernel):
    """The page holds the state with less than one kernel block of attention to spare; a request's blocks grow with
    its context; the groups hold every layer."""
    spec = make_spec({"kind": "gqa", "num_heads": 8, "num_kv_heads": kv, "head_dim": head}, layers=ratio + 1,
                     layer_types=["linear"] * ratio + ["full"], linear_attention=block)
    p = hybrid_pages(spec, Parallelism(), 16, kernel_block=kernel)
    assert p.block_size % kernel == 0
    assert p.state_bytes <= p.page_bytes < p.state_bytes + kernel * p.token_bytes
    assert p.attention_groups * p.group_size >= p.attention_layers and p.state_groups * p.group_size >= p.state_layers
    budget = 1000 * p.block_bytes
    assert p.num_blocks(budget) == 1000
    counts = [p.max_batch(budget, c) for c in (1, p.block_size, p.block_size + 1, 10 * p.block_size)]
    assert counts == sorted(counts, reverse=True)
    assert p.max_context(budget, 1, 1 << 30) // p.block_size * p.attention_groups <= 1000


# --- the CLI shows the block and the padding; sweep agrees with fit

def test_fit_table_and_json_show_the_block(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _, _ = run(capsys, "fit", "qwen3-next-80b-a3b", "--gpu", "h200", "--tp", "4", "--engine", "vllm",
                          "--context", "32k")
    text = " ".join(out.split())
    assert code in (0, None) and "272 tokens (state page padded 1.49%, none)" in text
    assert "4 groups of 12 layers; 124 a request" in text
    code, out, _, _ = run(capsys, "fit", "qwen3-next-80b-a3b", "--gpu", "h200", "--tp", "4", "--engine", "vllm",
                          "--context", "32k", "--mamba-cache-mode", "align", "--json")
    d = json.loads(out)["fits"][0]["vllm_hybrid"]
    assert d["mamba_cache_mode"] == "align" and d["blocks_per_request"] == 121 + 6
    code, out, _, _ = run(capsys, "fit", "qwen3-next-80b-a3b", "--gpu", "h200", "--tp", "4", "--context", "32k")
    assert "vLLM attention block" not in out


def test_api_fit_takes_the_mamba_cache_mode():
    import mlacalc

    f = mlacalc.fit("qwen3-next-80b-a3b", "h200", context=32_768, parallel=Parallelism(tp=4), engine="vllm",
                    mamba_cache_mode="align")
    assert f.vllm_pages.mamba_cache_mode == "align" and f.vllm_pages.blocks_per_request(32_768) == 121 + 6


def test_sweep_takes_the_pages_as_fit_does():
    from mlacalc.sweep import sweep

    spec, hw = load_spec("qwen3-next-80b-a3b"), load_hardware("h200")
    sw = sweep([("m", spec)], [hw], [4], [4096, 32_768], [1], engine="vllm")
    for row in sw.rows:
        assert row.max_batch == fit(spec, hw, row.context, Parallelism(tp=4), engine="vllm").max_batch


# --- bad input: one line

@pytest.mark.parametrize("args,words", [
    (("qwen3-next-80b-a3b", "--engine", "vllm", "--tp", "4", "--mamba-cache-mode", "all"), "all (a state page"),
    (("qwen3-next-80b-a3b", "--engine", "vllm", "--tp", "4", "--mamba-cache-mode", "x"), "must be one of none, align"),
    (("qwen3-next-80b-a3b", "--engine", "sglang", "--tp", "4", "--mamba-cache-mode", "none"), "applies only with"),
    (("llama-3.1-8b", "--engine", "vllm", "--mamba-cache-mode", "align"), "applies only with engine vllm"),
    (("qwen3-next-80b-a3b", "--engine", "vllm", "--tp", "4", "--block-size", "0"), "--block-size: must be a whole"),
])
def test_bad_values_are_one_line(capsys, args, words):
    refused(capsys, "fit", *args, words=words)


def test_hybrid_with_sliding_layers_is_refused_in_one_line():
    spec = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64, "sliding_window": 128},
                     layers=3, layer_types=["linear", "sliding", "full"],
                     linear_attention={"kind": "mamba2", "num_k_heads": 1, "num_v_heads": 4, "head_k_dim": 16,
                                       "head_v_dim": 16})
    with pytest.raises(SpecError, match="sliding, chunked or cross"):
        hybrid_pages(spec, Parallelism(), 16)


def test_bad_mamba_ssm_dtype_of_qwen3_5_is_one_line(capsys, tmp_path):
    cfg = json.loads((FIXTURES / "qwen3_5_0_8b" / "config.json").read_text())
    cfg["text_config"]["mamba_ssm_dtype"] = "float8"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    refused(capsys, "kv", str(tmp_path), words="mamba_ssm_dtype 'float8' is not one of")
