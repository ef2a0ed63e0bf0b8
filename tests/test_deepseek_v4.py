"""DeepSeek-V4 (``deepseek_v4``: V4-Flash, V4-Pro) read and priced (docs/zoo-facts.md section 36): compressed
attention (mlacalc/attention/compressed.py), mHC, hash-routed MoE, MXFP4 experts beside fp8 blocks.

Shapes from the configs (tests/fixtures/hf/deepseek_v4_flash, deepseek_v4_pro): V4-Flash 43 layers of d 4096, 64
heads of c 512 (64 rotary), one K=V head, query rank 1024, 8 output groups of rank 1024, window 128, layers 0-1 the
window alone, then CSA (m 4, an indexer of 64 x 128 picking 512) and HCA (m' 128) by turns, 21 and 20; 256 experts of
2048 and one shared, the first 3 layers hash-routed; 4 mHC streams; one MTP module. V4-Pro: 61 layers of 7168, 128
heads, query rank 1536, 16 groups, index_topk 1024, HCA on layers 0, 1 and the odd ones (31), CSA on the even ones
from 2 (30), 384 experts of 3072.

The cache in fp8-ds rows, as vLLM and SGLang keep it: 448 fp8 + 64 bf16 + 7 scales + 1 pad = 584 B a row; indexer
keys fp8 + one fp32 scale, 132 B; the compressors' buffers fp32.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.params import weights_report
from mlacalc.spec import load_spec, spec_from_dict
from mlacalc.step import Step, step_ops

from helpers import fixture_config, refused, write_config
from helpers import hf_fixture as hf

ROW = 448 + 2 * 64 + 448 // 64 + 1         # an fp8-ds row: fp8 no-RoPE, bf16 RoPE, ue8m0 scales, a pad byte
IDX = 128 + 4 * 1                          # an indexer key: 128 fp8 values and one fp32 scale
CSA_STATE = 2 * 4 * 2 * (2 * 512) * 4 + 2 * 4 * 2 * (2 * 128) * 4    # coff m rows of kv + score, fp32: main, indexer
HCA_STATE = 128 * 2 * 512 * 4


def flash():
    return hf("deepseek_v4_flash")


def pro():
    return hf("deepseek_v4_pro")


# ------------------------------------------------------------------------------------------------- reading

def test_flash_reads_as_released():
    s = flash()
    a, f = s.attention, s.ffn
    types = [s.layer_type(i) for i in range(43)]
    assert types[:2] == ["sliding", "sliding"] and types.count("csa") == 21 and types.count("hca") == 20
    assert types[2::2] == ["csa"] * 21 and types[3::2] == ["hca"] * 20
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == \
        ("compressed", 64, 1, 448, 64, 512)
    assert (a.kv_shared, a.sinks, a.q_lora_rank, a.o_groups, a.o_lora_rank, a.sliding_window) == \
        (True, True, 1024, 8, 1024, 128)
    assert (a.csa_rate, a.hca_rate, a.index_n_heads, a.index_head_dim, a.index_topk) == (4, 128, 64, 128, 512)
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts, f.expert_intermediate_size) == \
        ("moe", 256, 6, 1, 2048)
    assert (f.hash_layers, f.first_dense_layers, s.num_moe_layers) == (3, 0, 43)
    assert (s.hyper_connections, s.mtp_layers, s.mtp_layer_type, s.max_context) == (4, 1, "sliding", 1_048_576)
    q = s.quantization
    assert (s.dtypes.weights, s.dtypes.kv, q.method, q.bits, q.group_size, q.scale_bits) == \
        ("fp8", "fp8-ds", "fp8-block", 8, 128 * 128, 8)
    assert (q.experts_bits, q.experts_group_size, q.experts_scale_bits, q.expert_bits_per_value) == (4, 32, 8, 4.25)


def test_pro_reads_as_released():
    s = pro()
    types = [s.layer_type(i) for i in range(61)]
    assert types[:2] == ["hca", "hca"] and types[2::2] == ["csa"] * 30 and types[3::2] == ["hca"] * 29
    a = s.attention
    assert (a.num_heads, a.q_lora_rank, a.o_groups, a.index_topk, s.hidden_size, s.ffn.num_experts) == \
        (128, 1536, 16, 1024, 7168, 384)
    assert s.mtp_layer_type == "sliding" and s.quantization.experts_bits == 4   # no expert_dtype: vLLM's fp4


@pytest.mark.parametrize("family,builtin", [("deepseek_v4_flash", "deepseek-v4-flash"),
                                            ("deepseek_v4_pro", "deepseek-v4-pro")])
def test_builtin_specs_are_the_configs(family, builtin):
    got, want = hf(family), load_spec(builtin)
    for field in ("attention", "ffn", "num_layers", "hidden_size", "vocab_size", "layer_types", "mtp_layers",
                  "mtp_layer_type", "hyper_connections", "dtypes", "quantization", "max_context"):
        assert getattr(got, field) == getattr(want, field), field
    assert want.source == f"https://huggingface.co/deepseek-ai/{builtin.replace('deepseek-v4', 'DeepSeek-V4')}" \
        .replace("-flash", "-Flash").replace("-pro", "-Pro") + "/blob/main/config.json"


def test_layer_types_and_compress_ratios_read_alike(tmp_path):
    """transformers' own form (layer_types names, compress_rates) and the release's legacy one (compress_ratios
    0 / 4 / 128) give the same model."""
    cfg = fixture_config("deepseek_v4_flash")
    names = {0: "sliding_attention", 4: "compressed_sparse_attention", 128: "heavily_compressed_attention"}
    modern = {k: v for k, v in cfg.items() if k not in ("compress_ratios", "num_hash_layers")} | {
        "layer_types": [names[r] for r in cfg["compress_ratios"]],
        "compress_rates": {"compressed_sparse_attention": 4, "heavily_compressed_attention": 128},
        "mlp_layer_types": ["hash_moe"] * 3 + ["moe"] * 40}
    a, b = flash(), load_spec(write_config(tmp_path, modern))
    assert [a.layer_type(i) for i in range(43)] == [b.layer_type(i) for i in range(43)]
    assert (a.attention, a.ffn, a.mtp_layer_type) == (b.attention, b.ffn, b.mtp_layer_type)
    assert weights_report(a).params == weights_report(b).params


def test_defaults_of_deepseekv4config(tmp_path):
    """Keys left out take DeepseekV4Config's defaults: V4-Flash's shape, its layer pattern two HCA layers then CSA and
    HCA by turns (``__post_init__``), 3 hash layers, rates 4 and 128, 64 rotary dims (``default_partial_rotary_factor``
    64 / 512). This config (the one refused by name before) now reads."""
    cfg = {"model_type": "deepseek_v4", "architectures": ["DeepseekV4ForCausalLM"], "num_hidden_layers": 43,
           "hidden_size": 4096, "num_attention_heads": 64, "num_key_value_heads": 1, "head_dim": 512,
           "vocab_size": 129280, "moe_intermediate_size": 2048, "n_routed_experts": 256, "hc_mult": 4,
           "o_groups": 8, "o_lora_rank": 1024,
           "compress_rates": {"compressed_sparse_attention": 4, "heavily_compressed_attention": 128}}
    s = load_spec(write_config(tmp_path, cfg))
    types = [s.layer_type(i) for i in range(43)]
    assert types[:2] == ["hca", "hca"] and types[2::2] == ["hca"] * 21 and types[3::2] == ["csa"] * 20
    assert (s.attention.qk_rope_head_dim, s.attention.index_topk, s.ffn.hash_layers, s.mtp_layers) == (64, 512, 3, 1)
    assert s.quantization is None and s.dtypes.weights == "bf16"


def test_compress_rate_csa_folds_in(tmp_path):
    """The legacy ``compress_rate_csa`` folds into compress_rates (DeepseekV4Config.__post_init__): the csa layers'
    entries then hold 8 tokens."""
    cfg = {k: v for k, v in fixture_config("deepseek_v4_flash").items() if k != "compress_ratios"}
    s = load_spec(write_config(tmp_path, cfg | {"compress_rate_csa": 8}))
    assert s.attention.csa_rate == 8 and s.attention.hca_rate == 128


# ------------------------------------------------------------------------------------------------- KV cache

@pytest.mark.parametrize("T", [4096, 131072, 1048576])
def test_flash_kv_by_hand(T):
    """Per sequence of T tokens: every layer's window of min(T, 128) rows; floor(T / 4) entries and indexer keys on
    each of the 21 csa layers, floor(T / 128) entries on each of the 20 hca layers; the compressors' buffers."""
    r = kv_report(flash(), T)
    window = 43 * min(T, 128) * ROW
    compressed = (21 * (T // 4) + 20 * (T // 128)) * ROW
    indexer = 21 * (T // 4) * IDX
    state = 21 * CSA_STATE + 20 * HCA_STATE
    assert ROW == 584 and CSA_STATE == 81_920 and HCA_STATE == 524_288
    p = r.per_sequence
    assert (p.window, p.compressed, p.indexer, p.state) == (window, compressed, indexer, state)
    assert p.total == window + compressed + indexer + state
    assert (p.latent, p.rope_key, p.k, p.v, p.scales) == (0, 0, 0, 0, 0)
    # per token, what a token adds beyond the window: a quarter of an entry and a key, 1/128 of an entry
    assert r.per_token.total == 21 * (ROW + IDX) / 4 + 20 * ROW / 128 == 3850.25
    assert r.per_token_layer.total == (ROW + IDX) / 4          # a csa layer's


def test_kv_at_bf16_is_transformers_cache():
    """``--kv-dtype bf16`` (transformers' DynamicCache keeps the rows in the model dtype): 512 x 2 B a row, the
    indexer keys at the engines' 132 B all the same (as DSA's)."""
    T = 131072
    r = kv_report(flash(), T, kv_bits=16)
    assert r.per_sequence.window == 43 * 128 * 1024
    assert r.per_sequence.compressed == (21 * T // 4 + 20 * T // 128) * 1024
    assert r.per_token.total == 21 * (1024 + 132) / 4 + 20 * 1024 / 128


def test_pro_per_token_against_v32():
    """V4-Pro's 30 csa and 31 hca layers against DeepSeek-V3.2's 61 DSA layers (FlashMLA's 656-byte fp8-ds rows and
    132-byte indexer keys): 5,511.44 B a token beyond the window against 48,068 B."""
    v4 = kv_report(pro(), 1 << 20).per_token.total
    v32 = kv_report(load_spec("deepseek-v3.2"), 1 << 20, kv_format="fp8-ds").per_token.total
    assert v4 == 30 * (ROW + IDX) / 4 + 31 * ROW / 128 == 5511.4375
    assert v32 == 61 * (656 + 132) == 48_068


def _kv_claim(model: str, index_bytes: int) -> float:
    """V4's KV at 1M tokens (the rows and indexer keys; the compressors' buffers left out) over DeepSeek-V3.2's in
    FlashMLA's fp8-ds rows with fp8 indexer keys."""
    T = 1 << 20
    s = load_spec(f"tests/fixtures/hf/{model}/config.json", [f"attention.index_cache_bytes={index_bytes}"])
    v4 = kv_report(s, T).per_sequence
    v32 = kv_report(load_spec("deepseek-v3.2"), T, kv_format="fp8-ds").per_sequence
    return (v4.total - v4.state) / v32.total


def test_the_report_s_kv_claim_holds_in_its_storage_convention():
    """"In the 1M-token context setting, DeepSeek-V4-Pro requires only ... 10% of KV cache compared with
    DeepSeek-V3.2" (report abstract and model card); V4-Flash "7%" (the model card's comparison, per the HF blog).
    It holds, within its rounding (10% is [9.5%, 10.5%)), with V4's rows as the report stores them (section 2.3.4:
    FP8 for the no-RoPE dims, BF16 for the RoPE dims: the engines' 584-byte rows) and its indexer keys in FP4
    (section 5.2.1: "QK activations are cached, loaded, and multiplied entirely in FP4": MXFP4, 64 B of values and
    4 B of scales), against V3.2 in FlashMLA's fp8-ds layout with fp8 indexer keys. The window's rows count, the
    compressors' fp32 buffers not (with them Pro is 10.51%, just out). With fp8 indexer keys (132 B, vLLM's default,
    and what vLLM allocates under ``use_fp4_indexer_cache`` too: "we still allocate the same amount of memory as
    FP8") it does not hold: Pro 11.47%, Flash 8.01%."""
    fp4_key = 128 // 2 + 128 // 32
    pro_fp4, flash_fp4 = _kv_claim("deepseek_v4_pro", fp4_key), _kv_claim("deepseek_v4_flash", fp4_key)
    assert 0.095 <= pro_fp4 < 0.105 and 0.065 <= flash_fp4 < 0.075
    assert math.isclose(pro_fp4, (30 * (ROW + 68) / 4 + 31 * ROW / 128) / 48_068, rel_tol=1e-3)   # 10.47%
    pro_fp8, flash_fp8 = _kv_claim("deepseek_v4_pro", IDX), _kv_claim("deepseek_v4_flash", IDX)
    assert pro_fp8 >= 0.105 and flash_fp8 >= 0.075


def test_the_report_s_flops_claim():
    """"27% of single-token inference FLOPs" (Pro) and 10% (Flash) against V3.2 at 1M tokens: one decode token after
    1,048,576 cached. Counted plainly (every multiply-add 2 FLOPs, whatever its precision) Pro is 26.1% and Flash
    12.1%: the claim does not hold within its rounding. Dominated by the indexers: V3.2's scores every one of the
    1M keys on 61 layers (2 x 64 x 129 x 1M x 61 = 1,056 GFLOPs), V4's only the 262,144 entries of its csa layers.
    The report's "equivalent" precisions (FP4 indexer, BF16 attention core) are not its stated convention; weighted
    so (FP4 at half an FP8 FLOP, BF16 at two) Pro is 26.3% and Flash 9.9%: Flash would hold, Pro still not."""
    T = 1 << 20

    def flops(s):
        return {o.name: o.flops for o in step_ops(s, Step("decode", 1, T, 1))}

    v32, f, p = flops(load_spec("deepseek-v3.2")), flops(flash()), flops(pro())
    assert v32["indexer"] == 2 * 64 * (128 + 1) * (T + 1) * 61
    assert p["indexer"] == 2 * 64 * (128 + 1) * ((T + 1) // 4) * 30
    # Pro's attention core: 128 heads x (512 + 512) x 2 over the window's 128 keys and the entries: a csa query's
    # top 1024, an hca query all 8192
    assert p["attn_core"] == 2 * 128 * 1024 * (30 * (128 + 1024) + 31 * (128 + (T + 1) // 128))
    plain_pro, plain_flash = sum(p.values()) / sum(v32.values()), sum(f.values()) / sum(v32.values())
    assert round(plain_pro, 3) == 0.261 and round(plain_flash, 3) == 0.121
    assert not 0.265 <= plain_pro < 0.275 and not 0.095 <= plain_flash < 0.105

    def weighted(x):
        return sum(x.values()) - x["indexer"] / 2 * (x is not v32) + x["attn_core"]

    assert round(weighted(p) / weighted(v32), 3) == 0.263 and 0.095 <= weighted(f) / weighted(v32) < 0.105


# ------------------------------------------------------------------------------------------------- weights

def _v4_params(d, V, L, H, r, og, E, I, kinds, hashed, mtp_kind="sliding"):
    """Parameters of a V4 checkpoint by hand, as the calculator counts them (the routers' score-correction biases
    left out, as DeepSeek-V3's): per layer the attention by its type, the MoE, two norms, two mHC mappings."""
    c, ro, hi, ci, n = 512, 1024, 64, 128, 4
    mix = (2 + n) * n
    hc_layer, hc_head = 2 * (mix * n * d + mix + 3), n * n * d + n + 1

    def attn(kind):
        p = d * r + r + r * H * c + d * c + c + H * c * ro + og * ro * d + H        # q, kv, grouped o, sinks
        if kind == "csa":
            p += 2 * d * 2 * c + 4 * 2 * c + c                                       # compressor, overlapping
            p += r * hi * ci + d * hi + 2 * d * 2 * ci + 4 * 2 * ci + ci             # indexer
        if kind == "hca":
            p += 2 * d * c + 128 * c + c
        return p

    moe = d * E + E * 3 * d * I + 3 * d * I
    total = sum(attn(k) + moe + 2 * d + hc_layer for k in kinds) + hashed * V * 6 + 2 * V * d + d + hc_head
    mtp = attn(mtp_kind) + moe + 2 * d + hc_layer + 2 * d * d + 3 * d + hc_head
    return total, mtp


def test_flash_parameters_by_hand():
    """284,334,557,271 parameters (+ 6,610,048,635 in the MTP module), 13.27 B active. The model card: "284B
    parameters (13B activated)"; llama.cpp's GGUF of it, "284.33 B" (a load log in the DeepSeek-V4 pull request,
    feedbbs.com/linuxdo/37065), which holds the routers' 40 x 256 score-correction biases beside: 284,334,567,511."""
    kinds = ["sliding"] * 2 + ["csa", "hca"] * 20 + ["csa"]
    total, mtp = _v4_params(4096, 129280, 43, 64, 1024, 8, 256, 2048, kinds, 3)
    w = weights_report(flash())
    assert (w.params.total, w.mtp_params) == (total, mtp) == (284_334_557_271, 6_610_048_635)
    assert round((total + 40 * 256) / 1e9, 2) == 284.33
    assert w.params.hash_tables == 3 * 129280 * 6 and w.params.fp32 == 43 * 2 * (24 * 4 * 4096 + 27) + \
        4 * 4 * 4096 + 5 + 43 * 64 + 21 * (4 * 1024 + 4 * 256) + 20 * 128 * 512
    assert round(w.active.total / 1e9, 2) == 13.27


def test_pro_checkpoint_inventory_by_hand():
    """V4-Pro's 64 shards as a model-inventory report lists them (code-corpus file id 62968290951): 145,116 tensors
    of 861,608,274,846 elements and 805.32 GB (GiB) of tensors. Rebuilt from the calculator's counts: the fp4 experts
    two a byte (int8 tensors of half the columns) with one e8m0 scale per 32, every fp8 matrix one e8m0 scale per
    128 x 128 block (every dim here a multiple of 128), and the routers' fp32 score-correction biases (58 layers and
    the MTP module's, 384 each) the calculator leaves out."""
    kinds = ["hca"] * 2 + ["csa", "hca"] * 29 + ["csa"]
    total, mtp = _v4_params(7168, 129280, 61, 128, 1536, 16, 384, 3072, kinds, 3)
    w = weights_report(pro())
    assert (w.params.total, w.mtp_params) == (total, mtp) == (1_572_999_506_531, 25_840_145_595)
    d, r, c, H, og, ro, I = 7168, 1536, 512, 128, 16, 1024, 3072
    experts = (61 + 1) * 384 * 3 * d * I                      # the 61 layers' and the MTP module's, fp4
    # fp8 matrices: the calculator's attention (its bf16 and fp32 tensors are counted apart) and shared experts, and
    # the MTP module's attention (a sliding layer: no compressor, no indexer), shared expert and e_proj / h_proj
    fp8 = w.params.attention + w.params.shared_experts + \
        d * r + r * H * c + d * c + H * c * ro + og * ro * d + 3 * d * I + 2 * d * d
    biases = (58 + 1) * 384
    elements = total + mtp - experts // 2 + experts // 32 + fp8 // (128 * 128) + biases
    assert elements == 861_608_274_846
    gib = (w.bytes.total + w.mtp_bytes + 4 * biases) / 2 ** 30
    assert round(gib, 2) == 805.32


def test_weights_under_tensor_parallelism():
    """vLLM splits the query heads (wq_b), the output groups (wo_a) and wo_b's input over TP, and the sinks; the one
    K=V head, wq_a, the compressors and the indexer are whole on every rank. Flash at TP 8: each rank 8 heads and 1
    group of wo_a."""
    s = flash()
    one, eight = weights_report(s).per_gpu_params, weights_report(s, parallel=Parallelism(tp=8)).per_gpu_params
    d, r, c, H, ro = 4096, 1024, 512, 64, 1024
    split = r * H * c + H * c * ro + 8 * ro * d                      # q_up, o_down, o_up of a layer (fp8)
    assert one.attention - eight.attention == 43 * split * 7 / 8
    assert one.fp32 - eight.fp32 == 43 * H * 7 / 8                   # the sinks; mHC and position biases whole
    kv1, kv8 = kv_report(s, 65536), kv_report(s, 65536, parallel=Parallelism(tp=8))
    assert kv8.per_gpu.total == kv1.per_sequence.total                # the K=V head on every rank


# ------------------------------------------------------------------------------------------------- properties

@st.composite
def v4_specs(draw):
    """A small compressed-attention model: any mix of sliding, csa and hca layers, its rates, window and heads."""
    L = draw(st.integers(1, 8))
    kinds = draw(st.lists(st.sampled_from(["sliding", "csa", "hca"]), min_size=L, max_size=L))
    csa, hca = draw(st.integers(1, 16)), draw(st.integers(1, 256))
    attention = {"kind": "compressed", "num_heads": 8, "head_dim": 64, "rope_dim": 16, "q_lora_rank": 32,
                 "o_groups": draw(st.sampled_from([1, 2, 4, 8])), "o_lora_rank": 16,
                 "sliding_window": draw(st.integers(1, 300)), "sinks": True}
    if "csa" in kinds:
        attention |= {"csa_rate": csa, "index_n_heads": 4, "index_head_dim": 32, "index_topk": draw(st.integers(1, 64))}
    if "hca" in kinds:
        attention |= {"hca_rate": hca}
    if not {"csa", "hca"} & set(kinds):
        kinds[0] = "hca"
        attention |= {"hca_rate": hca}
    return spec_from_dict({"name": "v4ish", "num_layers": L, "hidden_size": 128, "vocab_size": 1000,
                           "attention": attention, "layer_types": kinds,
                           "ffn": {"kind": "dense", "intermediate_size": 64}})


@settings(max_examples=60, deadline=None)
@given(v4_specs(), st.integers(1, 5000), st.integers(1, 40))
def test_kv_grows_by_the_per_token_cost_past_the_window(s, T, k):
    """Past the window, every lcm(rates) tokens add exactly lcm x per token: each layer's entries grow by lcm / m a
    step of lcm tokens, and the window and the buffers stay."""
    a = s.attention
    step = math.lcm(*(x for x in (a.csa_rate, a.hca_rate) if x))
    T = max(T, a.sliding_window)
    lo, hi = kv_report(s, T), kv_report(s, T + k * step)
    assert math.isclose(hi.per_sequence.total - lo.per_sequence.total, k * step * lo.per_token.total, rel_tol=1e-12)
    assert hi.per_sequence.window == lo.per_sequence.window and hi.per_sequence.state == lo.per_sequence.state


@settings(max_examples=60, deadline=None)
@given(v4_specs(), st.integers(1, 5000))
def test_below_the_smallest_rate_the_cache_is_the_window(s, T):
    """Before a layer's first entry closes (T < m) it holds its raw window alone, min(T, w) rows; the cache never
    shrinks as the sequence grows; the layer-by-layer sum (pipeline stages) is the grouped one."""
    a = s.attention
    rates = [x for x in (a.csa_rate, a.hca_rate) if x]
    short = min(T, min(rates) - 1)
    if short >= 1:
        r = kv_report(s, short).per_sequence
        assert r.compressed == r.indexer == 0 and r.window == s.num_layers * min(short, a.sliding_window) * 64 * 2
    assert kv_report(s, T + 1).per_sequence.total >= kv_report(s, T).per_sequence.total
    if s.num_layers > 1:
        staged = kv_report(s, T, parallel=Parallelism(pp=2))
        assert staged.per_sequence == kv_report(s, T).per_sequence


@settings(max_examples=40, deadline=None)
@given(v4_specs(), st.integers(1, 3000), st.integers(1, 64))
def test_attended_keys_are_the_window_and_the_capped_entries(s, prior, new):
    """The core's pairs in a step, summed in closed form, are the window's min(p + 1, w) keys and the entries
    floor((p + 1) / m) (a csa query's capped at its top-k) of every query p, counted one by one."""
    from mlacalc.attention import key_rule

    for layer in range(s.num_layers):
        rule = key_rule(s, layer)
        want = sum(rule.keys(p) for p in range(prior, prior + new))
        assert rule.pairs(prior, new) == want


# ------------------------------------------------------------------------------------------------- refusals

V4 = "deepseek_v4_flash"


@pytest.mark.parametrize("changes,words", [
    ({"compress_ratios": [0, 0] + [4, 128] * 20 + [8, 0]}, "compress_ratios entry 8 is none of 0, 4, 128"),
    ({"compress_ratios": [0, 0] + [4, 128] * 20}, "compress_ratios has 42 entries for 43 layers"),
    ({"compress_ratios": None, "layer_types": ["full_attention"] * 43}, "layer_types entry 'full_attention' is none"),
    ({"compress_ratios": None, "layer_types": ["sliding_attention"] * 42}, "layer_types has 42 entries for 43"),
    ({"compress_ratios": None, "compress_rates": {"compressed_sparse_attention": 0}},
     "the compress rate of compressed_sparse_attention must be a whole number of at least 1"),
    ({"compress_rates": {"heavily_compressed_attention": 64}}, "other compress_rates beside it contradict it"),
    ({"layer_types": ["sliding_attention"] * 43}, "gives both layer_types and compress_ratios"),
    ({"num_key_value_heads": 2}, "num_key_value_heads 2: DeepseekV4Attention builds one K=V head"),
    ({"first_k_dense_replace": 1}, "first_k_dense_replace: DeepseekV4 builds an MoE block on every layer"),
    ({"mlp_layer_types": ["moe"] + ["hash_moe"] * 3 + ["moe"] * 39, "num_hash_layers": None},
     "hash_moe layers after moe ones"),
    ({"num_hash_layers": 2, "mlp_layer_types": ["hash_moe"] * 3 + ["moe"] * 40}, "num_hash_layers 2 and"),
    ({"expert_dtype": "int4"}, "expert_dtype 'int4' is none of fp4, fp8"),
    ({"quantization_config": None}, "expert_dtype fp4 without a quantization_config"),
    ({"quantization_config": {"quant_method": "compressed-tensors"}}, "quant_method 'compressed-tensors' is not read"),
    ({"dspark_block_size": 5}, "dspark_block_size: a later DeepSeek-V4 variant"),
    ({"kv_source_layers": [0, 1]}, "kv_source_layers: a later DeepSeek-V4 variant"),
    ({"qk_nope_head_dim": 384}, "qk_nope_head_dim 384 is not head_dim 512 less the rotary dims 64"),
    ({"intermediate_size": 4096}, "intermediate_size 4096 and moe_intermediate_size 2048 name one width"),
    ({"hc_mult": 0}, "hc_mult must be a whole number of at least 1"),
])
def test_bad_configs_are_one_line(tmp_path, capsys, changes, words):
    cfg = fixture_config(V4)
    cfg = {k: v for k, v in (cfg | changes).items() if v is not None or k not in changes}
    path = write_config(tmp_path, cfg)
    for command in (("kv",), ("weights",)):
        refused(capsys, *command, path, words=words)


@pytest.mark.parametrize("change,words", [
    ({"layer_types": ["csa", "full"]}, "layer_types: has full layers; compressed attention's are sliding"),
    ({"attention": {"o_groups": 3}}, "attention.o_groups: (3) must divide num_heads (8)"),
    ({"attention": {"hca_rate": 0}}, "attention.hca_rate: must be at least 1, got 0"),
    ({"layer_types": ["csa", "csa"]}, "attention.hca_rate: is set but no layer is hca"),
    ({"attention": {"sliding_window": None}}, "attention.sliding_window: is required for kind compressed"),
    ({"attention": {"num_kv_heads": 2}}, "attention.num_kv_heads: compressed attention has one K=V head"),
    ({"attention": {"kind": "gqa", "num_kv_heads": 1, "index_n_heads": None, "index_head_dim": None,
                    "index_topk": None}, "layer_types": ["full", "full"]},
     "attention.o_groups: only applies to kind compressed"),
])
def test_bad_specs_are_one_line(tmp_path, capsys, change, words):
    import yaml

    base = {"name": "v4ish", "num_layers": 2, "hidden_size": 128, "vocab_size": 1000, "layer_types": ["csa", "hca"],
            "attention": {"kind": "compressed", "num_heads": 8, "head_dim": 64, "rope_dim": 16, "q_lora_rank": 32,
                          "o_groups": 2, "o_lora_rank": 16, "sliding_window": 16, "sinks": True, "csa_rate": 4,
                          "hca_rate": 16, "index_n_heads": 4, "index_head_dim": 32, "index_topk": 8},
            "ffn": {"kind": "dense", "intermediate_size": 64}}
    raw = base | {k: v for k, v in change.items() if k != "attention"}
    raw["attention"] = {k: v for k, v in (base["attention"] | change.get("attention", {})).items() if v is not None}
    path = tmp_path / "v4.yaml"
    path.write_text(yaml.safe_dump(raw))
    refused(capsys, "kv", str(path), words=words)


@pytest.mark.parametrize("args,words", [
    (("weights", "--tp", "16"), "--tp: 16 ranks cannot split 8 output groups"),
    (("kv", "--block-size", "100"), "--block-size: must be a multiple of the compress rate"),
    (("kv", "--cache", "naive"), "there is no naive form"),
    (("kv", "--kv-dtype", "fp4"), "none keeps them in fp4"),
    (("kv", "--as", "mha"), "converting compressed attention"),
    (("fit", "--gpu", "h200", "--tp", "8", "--engine", "vllm", "--q-tokens", "2"), "under speculative decoding"),
    (("train", "--seq", "4096"), "training memory of compressed attention"),
])
def test_questions_it_cannot_answer_are_one_line(capsys, args, words):
    path = f"tests/fixtures/hf/{V4}/config.json"
    refused(capsys, args[0], path, *args[1:], words=words)


# ------------------------------------------------------------------------------------------------- roofline

def test_roofline_step_by_hand():
    """One decode token of one V4-Flash sequence at position 4,095: the step closes a csa entry (4,096 = 1,024 x 4)
    and an hca one (32 x 128). The grouped output projection: ``wo_a`` 64 heads x 512 to 8 x 1024 and ``wo_b`` 8,192
    to 4,096 a layer, fp8 with one e8m0 scale per 128 x 128; the compressors write a 584-byte row on each of the 41
    csa/hca layers and an indexer key of 132 B on each csa layer; mHC maps the 4 x 4,096 streams to 24 outputs twice a
    layer. At TP 8 the output projection is an eighth (8 heads, one group a rank), the compressors whole."""
    s = flash()
    ops = {o.name: o for o in step_ops(s, Step("decode", 1, 4095, 1))}
    d, H, c, ro, g, L = 4096, 64, 512, 1024, 8, 43
    assert ops["o_proj"].flops == L * (2 * H * c * ro + 2 * g * ro * d)
    assert ops["o_proj"].weight_bytes == L * (H * c * ro + g * ro * d) * (8 + 8 / 16384) / 8
    assert ops["compress"].kv_bytes == (21 + 20) * ROW and ops["index_compress"].kv_bytes == 21 * IDX
    # the csa layers' compressor projects to 2 x 2 x 512, the hca layers' to 2 x 512; bf16
    assert ops["compressor"].weight_bytes == (21 * 2 * 2 * c + 20 * 2 * c) * d * 2
    n, mix = 4, 24
    sub = 2 * n * d * mix + 2 * n * d + 2 * n * n * d + 2 * n * d
    assert ops["hyper_connections"].flops == 2 * L * sub + 2 * n * d * n + 2 * n * d
    tp8 = {o.name: o for o in step_ops(s, Step("decode", 1, 4095, 1), Parallelism(tp=8))}
    assert tp8["o_proj"].flops == ops["o_proj"].flops / 8
    assert tp8["compressor"].flops == ops["compressor"].flops and tp8["indexer"].flops == ops["indexer"].flops


def test_workspace_holds_the_hyper_connection_streams():
    """fit's activation workspace: 4 residual streams and the normed input, 5 x T x d x 2 B, where a plain residual
    keeps 2."""
    from mlacalc.capacity import activation_workspace

    assert activation_workspace(flash(), 8192).residual == 5 * 8192 * 4096 * 2


# ------------------------------------------------------------------------------------------------- review fixes

@pytest.mark.parametrize("key", ["q_lora_rank", "n_shared_experts"])
def test_a_null_size_is_refused_not_defaulted(tmp_path, capsys, key):
    """DeepseekV4Config is a strict dataclass (``q_lora_rank: int = 1024``, ``n_shared_experts: int = 1``): a null is
    no model it builds. It was read as the class default (V4-Pro's ``q_lora_rank: null`` as 1024: 1,570.60 B
    parameters for 1,573.00 B), where DeepSeek-V2/V3 read these nulls as "none" (no query LoRA, no shared expert)."""
    cfg = fixture_config("deepseek_v4_pro") | {key: None}
    refused(capsys, "weights", write_config(tmp_path, cfg), words=f"{key} is null")


def test_hc_mult_one_is_refused(tmp_path, capsys):
    """``hc_mult: 1`` still builds every mHC mapping (transformers ``DeepseekV4HyperConnection``: ``fn`` of ``(2 + 1)
    1 x d``, ``base`` 3, ``scale`` 3, twice a layer, and the head's), while ``hyper_connections: 1`` is a plain
    residual with none: the 43 x 2 x (3 x 4096 + 6) + (4096 + 2) parameters were dropped silently."""
    cfg = fixture_config("deepseek_v4_flash") | {"hc_mult": 1}
    refused(capsys, "weights", write_config(tmp_path, cfg), words="hc_mult 1")


def test_partial_rotary_factor_wins_over_legacy_rope_dims(tmp_path, capsys):
    """DeepseekV4Config reads the legacy ``qk_rope_head_dim`` only where ``partial_rotary_factor`` is None
    (``__post_init__``); a file giving both that disagree builds ``head_dim x partial_rotary_factor`` rotary dims,
    which the reader took from ``qk_rope_head_dim``: refused in one line, and read alike where they agree."""
    cfg = fixture_config("deepseek_v4_flash")
    refused(capsys, "kv", write_config(tmp_path, cfg | {"partial_rotary_factor": 0.25}),
            words="partial_rotary_factor 0.25")
    same = load_spec(write_config(tmp_path, cfg | {"partial_rotary_factor": 64 / 512}))
    assert (same.attention.qk_rope_head_dim, same.attention.qk_nope_head_dim) == (64, 448)
