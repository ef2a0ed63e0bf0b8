"""DeepSeek-V4's pools under ``fit --engine vllm`` (mlacalc/vllm_compressed.py) and ``--engine sglang``
(mlacalc/sglang_compressed.py), worked by hand from the engines' code (docs/vllm-capacity-checks.md and
docs/sglang-capacity-checks.md, "DeepSeek-V4").

V4-Flash (tests/fixtures/hf/deepseek_v4_flash): 43 layers, 2 with the window alone, 21 csa (ratio 4, an indexer of
128-dim keys), 20 hca (ratio 128); one K=V row of 512 dims (448 + 64 rotary), window 128. The fp8-ds row both
engines keep: 448 fp8 + 64 x 2 bf16 + 8 scale/pad bytes = 584 B; an indexer key 128 + 4 = 132 B.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.capacity import fit
from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.sglang_compressed import sglang_compressed_pool
from mlacalc.spec import load_spec, spec_from_dict
from mlacalc.vllm_compressed import approximate_gcd, compressed_pages

from helpers import HF_FIXTURES
from helpers import hf_fixture as hf
from helpers import refused

ROW, IDX = 584, 132
GIB = 2**30


def flash():
    return hf("deepseek_v4_flash")


def up576(n):
    """vLLM's alignment=576 for fp8_ds_mla pages: round up to a multiple of 576."""
    return math.ceil(n / 576) * 576


# ------------------------------------------------------------------------------------------------------ vLLM

def test_vllm_pages_and_groups_by_hand():
    """At --block-size 256 (the backend's preferred): a csa page holds 256 / 4 = 64 entries, 64 x 584 = 37,376 B,
    padded to 65 x 576 = 37,440; the indexer's 64 x 132 = 8,448 -> 8,640; an hca page 2 x 584 = 1,168 -> 1,728; a
    window page 64 tokens x 584 -> 37,440; the csa compressor's fp32 ring, 4 rows of 2 x 2 x 512, 32,768 -> 32,832,
    its indexer's 4 x 2 x 2 x 128 x 4 = 8,192 -> 8,640; the hca one's 8 rows of 2 x 512, 32,768 -> 32,832.
    Buckets: entries {37,440: 21, 8,640: 21, 1,728: 20} (unequal counts: whole), windows 43, csa states 21 + 21, hca
    states 20. The csa states (two page sizes, 21 each) set the floor 21; padding of 43, 21, 20 to a multiple of d:
    d = 21: 20 + 0 + 1 = 21; d = 22: 1 + 1 + 2 = 4; d = 23: 3 + 2 + 3 = 8; d >= 24 pads 21 and 20 alone by
    (d - 21) + (d - 20) >= 7. So 22: the 43 windows split into 22 + 21."""
    assert (up576(64 * ROW), up576(64 * IDX), up576(2 * ROW)) == (37_440, 8_640, 1_728)
    assert (up576(4 * 2048 * 4), up576(4 * 512 * 4), up576(8 * 1024 * 4)) == (32_832, 8_640, 32_832)
    assert approximate_gcd([43, 21, 20], 21) == 22
    p = compressed_pages(flash(), Parallelism(), "fp8-ds", 8192)
    groups = {(g.name, g.layers): g for g in p.groups}
    assert sorted(groups) == sorted([("window", 22), ("window", 21), ("entries", 62), ("csa states", 42),
                                     ("hca states", 20)])
    assert dict(groups["entries", 62].pages) == {37_440: 21, 8_640: 21, 1_728: 20}
    assert dict(groups["csa states", 42].pages) == {32_832: 21, 8_640: 21}
    assert dict(groups["hca states", 20].pages) == {32_832: 20}
    # a block id costs the widest group's pages: the entries, 21 x 37,440 + 21 x 8,640 + 20 x 1,728
    assert p.block_bytes == 21 * 37_440 + 21 * 8_640 + 20 * 1_728 == 1_002_240


@pytest.mark.parametrize("T,blocks", [
    # entries ceil(T / 256); each of 2 window groups ceil(min(127 + 8,192, T) / 64) + 1; csa states
    # ceil(min(7 + 8,192, T) / 4) + 1; hca states ceil(min(127 + 8,192, T) / 8) + 1
    (4_096, 16 + 2 * (64 + 1) + (1_024 + 1) + (512 + 1)),
    (131_072, 512 + 2 * (130 + 1) + (2_050 + 1) + (1_040 + 1)),
    (1_048_576, 4_096 + 2 * (130 + 1) + (2_050 + 1) + (1_040 + 1)),
])
def test_vllm_blocks_per_request_by_hand(T, blocks):
    p = compressed_pages(flash(), Parallelism(), "fp8-ds", 8192)
    assert p.blocks_per_request(T) == blocks
    assert p.bytes_per_request(T) == blocks * 1_002_240


def test_vllm_decode_holds_the_windows_alone():
    """One token a step: windows ceil(128 / 64) + 1 = 3 each, csa states ceil(8 / 4) + 1 = 3, hca states
    ceil(128 / 8) + 1 = 17, beside the 512 entry blocks at 131,072."""
    p = compressed_pages(flash(), Parallelism(), "fp8-ds", 8192)
    assert p.decode_blocks_per_request(131_072) == 512 + 2 * 3 + 3 + 17 == 538


def test_vllm_concurrency_on_eight_h200s_by_hand():
    """fit on 8 H200s at 131,072 under vLLM's accounting: every rank holds the whole cache (one K=V head), so the
    largest batch is one rank's: blocks = budget // 1,002,240, over 3,866 blocks a request, floored."""
    f = fit(flash(), load_hardware("h200"), 131_072, Parallelism(tp=8), engine="vllm")
    blocks = int(f.kv_budget // 1_002_240)
    assert f.vllm_compressed.num_blocks(f.kv_budget) == blocks
    assert f.max_batch == blocks // 3_866
    assert f.vllm_compressed.max_concurrency(f.kv_budget, 131_072) == pytest.approx(blocks / 3_866)
    assert f.kv_bytes_per_seq == 3_866 * 1_002_240
    assert f.to_json()["vllm_compressed"]["blocks_per_request"] == 3_866


def test_vllm_dp_attention_multiplies_by_the_ranks():
    one = fit(flash(), load_hardware("h200"), 131_072, Parallelism(tp=8), engine="vllm")
    dp = fit(flash(), load_hardware("h200"), 131_072, Parallelism(tp=8, dp_attention=True), engine="vllm")
    assert dp.max_batch == 8 * (int(dp.kv_budget // 1_002_240) // 3_866)
    assert one.vllm_compressed is not None and dp.vllm_compressed is not None


def test_vllm_block_size_128():
    """--block-size 128: a csa page of 32 entries, 32 x 584 = 18,688 -> 33 x 576 = 19,008; the indexer's 32 x 132 =
    4,224 -> 4,608; an hca page one entry, 584 -> 1,152. Now the csa states are the widest group: 21 x (32,832 +
    8,640) = 870,912 against the entries' 21 x (19,008 + 4,608) + 20 x 1,152 = 518,976 and 22 windows' 823,680."""
    p = compressed_pages(flash(), Parallelism(), "fp8-ds", 8192, block_size=128)
    entries = next(g for g in p.groups if g.name == "entries")
    assert dict(entries.pages) == {19_008: 21, 4_608: 21, 1_152: 20}
    assert p.block_bytes == 21 * (32_832 + 8_640) == 870_912
    assert p.blocks_per_request(131_072) == 1_024 + 2 * 131 + 2_051 + 1_041


def test_vllm_fp4_indexer_keys():
    """attention.index_cache_bytes 68 (use_fp4_indexer_cache: 64 B of values and 4 ue8m0 scales a key): 64 x 68 =
    4,352 -> 4,608 a page."""
    spec = load_spec("deepseek-v4-flash", ["attention.index_cache_bytes=68"])
    p = compressed_pages(spec, Parallelism(), "fp8-ds", 8192)
    entries = next(g for g in p.groups if g.name == "entries")
    assert dict(entries.pages) == {37_440: 21, 4_608: 21, 1_728: 20}


def test_vllm_pro_groups_by_hand():
    """V4-Pro: 31 hca and 30 csa layers, no window-only one. Entries {37,440: 30, 8,640: 30, 1,728: 31}; padding of
    61, 30, 31 from the floor 30: d = 30: 29 + 0 + 29; d = 31: 1 + 1 + 0 = 2; so 31: windows 31 + 30. The widest
    group: 30 x 37,440 + 30 x 8,640 + 31 x 1,728 = 1,435,968."""
    p = compressed_pages(hf("deepseek_v4_pro"), Parallelism(), "fp8-ds", 8192)
    assert p.repeats == 31
    assert sorted(g.layers for g in p.groups if g.name == "window") == [30, 31]
    assert p.block_bytes == 30 * 37_440 + 30 * 8_640 + 31 * 1_728 == 1_435_968


# ------------------------------------------------------------------------------------------------------ SGLang

FLASH_BPFT = (0.1 * ROW * 43                     # the window pool: swa_full_tokens_ratio of the tokens, every layer
              + ROW * 21 / 4 + ROW * 20 / 128     # csa and hca entries
              + IDX * 21 / 4                      # indexer keys
              + 0.1 * 8 / 128 * (2 * 2 * 512 * 4 + 2 * 2 * 128 * 4) * 21)   # csa rings: 8 rows per 128 SWA tokens
HCA_RINGS = math.ceil((257 * 128 + 128 + 1) / 128) * 128 * 2 * 512 * 4 * 20   # 256 running + 1 slots of 128 rows


def test_sglang_bytes_per_full_token_by_hand():
    """2,511.2 + 3,066 + 91.25 + 693 + 1,344 = 7,705.45 B a token; hca rings 33,152 rows x 4 KiB x 20 layers."""
    p = sglang_compressed_pool(flash(), Parallelism(), "fp8-ds")
    assert p.bytes_per_full_token == pytest.approx(FLASH_BPFT) == pytest.approx(7_705.45)
    assert p.c128_state_bytes == HCA_RINGS == 33_152 * 4_096 * 20 == 2_715_811_840


def test_sglang_pro_by_hand():
    """V4-Pro (61 layers: 30 csa, 31 hca; the same 584-B rows, 132-B keys, window 128): 0.1 x 584 x 61 + 584 x 30 / 4
    + 584 x 31 / 128 + 132 x 30 / 4 + 0.1 x 8 / 128 x (8,192 + 2,048) x 30 = 3,562.4 + 4,380 + 141.4375 + 990 + 1,920
    = 10,993.8375 B a token; hca rings 33,152 rows x 4 KiB x 31 layers = 4,209,508,352 B, 3.92 GiB (the docs said
    4.21 GiB: the same bytes in 10^9)."""
    p = sglang_compressed_pool(hf("deepseek_v4_pro"), Parallelism(), "fp8-ds")
    assert (p.layers, p.csa_layers, p.hca_layers) == (61, 30, 31)
    assert p.bytes_per_full_token == pytest.approx(0.1 * ROW * 61 + ROW * 30 / 4 + ROW * 31 / 128 + IDX * 30 / 4
                                                   + 0.1 * 8 / 128 * (8_192 + 2_048) * 30) == pytest.approx(10_993.8375)
    assert p.c128_state_bytes == 33_152 * 4_096 * 31 == 4_209_508_352
    assert round(p.c128_state_bytes / GIB, 2) == 3.92


@pytest.mark.parametrize("T", [4_096, 131_072, 1_048_576])
def test_sglang_requests_by_hand(T):
    """On 100 GiB of budget: full tokens int((budget - rings) / 7,705.45), whole 256-token pages; a request holds
    ceil(T / 256) pages; at most 256 run (apply_deepseek_v4_defaults)."""
    budget = 100 * GIB
    full = int((budget - HCA_RINGS) / FLASH_BPFT) // 256 * 256
    p = sglang_compressed_pool(flash(), Parallelism(), "fp8-ds")
    assert p.full_tokens(budget) == full
    assert p.max_batch(budget, T) == min(full // (math.ceil(T / 256) * 256), 256)
    assert p.bytes_per_request(T) == pytest.approx(math.ceil(T / 256) * 256 * FLASH_BPFT)
    assert p.max_batch(budget, 4_096) == 256          # 13.6 M tokens: the running-request cap binds at 4,096


def test_sglang_concurrency_on_eight_h200s_by_hand():
    f = fit(flash(), load_hardware("h200"), 131_072, Parallelism(tp=8), engine="sglang")
    full = int((f.kv_budget - HCA_RINGS) / FLASH_BPFT) // 256 * 256
    assert f.max_batch == full // 131_072
    assert f.to_json()["sglang_compressed"]["max_total_num_tokens"] == full


def test_sglang_dp_attention_shares_the_running_requests():
    """Under dp-attention each of 8 workers runs 256 // 8 = 32: fewer ring slots, 33 x 128 + 129 -> 4,352 rows."""
    p = sglang_compressed_pool(flash(), Parallelism(tp=8, dp_attention=True), "fp8-ds")
    assert p.max_running == 32
    assert p.c128_state_bytes == math.ceil((33 * 128 + 129) / 128) * 128 * 4_096 * 20


# ------------------------------------------------------------------------------------------------------ properties

@st.composite
def v4_specs(draw):
    """A compressed-attention model the engines' pools take: any mix of layer types, ratios 4 and 128."""
    L = draw(st.integers(1, 12))
    kinds = draw(st.lists(st.sampled_from(["sliding", "csa", "hca"]), min_size=L, max_size=L))
    if not {"csa", "hca"} & set(kinds):
        kinds[0] = "hca"
    attention = {"kind": "compressed", "num_heads": 8, "head_dim": 128, "rope_dim": 64, "q_lora_rank": 32,
                 "o_groups": 2, "o_lora_rank": 16, "sliding_window": draw(st.integers(1, 300)), "sinks": True}
    if "csa" in kinds:
        attention |= {"csa_rate": 4, "index_n_heads": 4, "index_head_dim": 64, "index_topk": 16}
    if "hca" in kinds:
        attention |= {"hca_rate": 128}
    return spec_from_dict({"name": "v4ish", "num_layers": L, "hidden_size": 128, "vocab_size": 1000,
                           "attention": attention, "layer_types": kinds, "dtypes": {"kv": "fp8-ds"},
                           "ffn": {"kind": "dense", "intermediate_size": 64}})


@settings(max_examples=80, deadline=None)
@given(v4_specs(), st.integers(1, 1 << 21), st.integers(1, 1 << 21), st.integers(1, 1 << 14),
       st.floats(1e8, 1e12))
def test_more_context_never_more_concurrency(s, a, b, batched, budget):
    lo, hi = sorted((a, b))
    v = compressed_pages(s, Parallelism(), "fp8-ds", batched)
    assert v.blocks_per_request(lo) <= v.blocks_per_request(hi)
    assert v.max_concurrency(budget, lo) >= v.max_concurrency(budget, hi)
    assert v.decode_blocks_per_request(lo) <= v.blocks_per_request(lo)
    g = sglang_compressed_pool(s, Parallelism(), "fp8-ds")
    assert g.max_batch(budget, lo) >= g.max_batch(budget, hi)


# ------------------------------------------------------------------------------------------------------ refusals

V4 = str(HF_FIXTURES / "deepseek_v4_flash")


@pytest.mark.parametrize("args,words", [
    (("--engine", "vllm", "--q-tokens", "2"), "--q-tokens: engine vllm's DeepSeek-V4 pool under speculative"),
    (("--engine", "sglang", "--q-tokens", "2"), "--q-tokens: engine sglang's DeepSeek-V4 pool under speculative"),
    (("--engine", "vllm", "--kv-dtype", "bf16"), "--kv-dtype: engine vllm's DeepSeek-V4 pool is modelled for the"),
    (("--engine", "vllm", "--block-size", "64"), "--block-size: must be a multiple of the compress rate 128"),
    (("--engine", "sglang", "--block-size", "128"), "--block-size: SGLang sets DeepSeek-V4's page_size to 256"),
    (("--engine", "vllm", "--mamba-cache-mode", "align"), "--mamba-cache-mode: applies only with engine vllm"),
])
def test_what_the_pools_do_not_model_is_one_line(capsys, args, words):
    refused(capsys, "fit", V4, "--gpu", "h200", "--tp", "8", *args, words=words)


def test_other_models_are_not_paged_as_v4():
    assert compressed_pages(hf("gemma2"), Parallelism(), None, 8192) is None
    assert sglang_compressed_pool(hf("deepseek_v32"), Parallelism(), "fp8-ds") is None
