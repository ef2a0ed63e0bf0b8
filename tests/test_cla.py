"""Cross-layer attention (CLA; Brandon et al. 2024, arXiv 2405.12981): K/V projected and cached once per group of
``attention.kv_share_layers`` consecutive layers, by the group's first layer (Hunyuan-Large, arXiv 2411.02265:
``use_cla``, ``cla_share_factor`` 2). Numbers worked out by hand from tests/fixtures/hf/hunyuan_large (SOURCE.md)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from mlacalc.attention import pattern
from mlacalc.cli import main
from mlacalc.errors import SpecError
from mlacalc.kv import kv_report
from mlacalc.params import param_counts, params_per_gpu
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec, spec_from_dict, spec_to_dict
from mlacalc.step import Step, step_ops

LARGE = str(Path(__file__).parent / "fixtures" / "hf" / "hunyuan_large" / "config.json")


def _unshared(spec):
    return dataclasses.replace(spec, attention=dataclasses.replace(spec.attention, kv_share_layers=1))


def test_hunyuan_large_reads_use_cla_as_kv_share_layers():
    s = load_spec(LARGE)
    a = s.attention
    assert a.kv_share_layers == 2 and a.num_kv_heads == 8 and a.v_head_dim == 6400 // 80
    assert [s.owns_kv(i) for i in range(4)] == [True, False, True, False]
    assert s.num_kv_layers == 32
    assert pattern(s) == "32 GQA-8 + 32 GQA-8 shared-KV"


def test_hunyuan_large_kv_bytes_per_token_half_the_unshared():
    s = load_spec(LARGE)
    # 64 layers / 2 = 32 caching layers x 8 KV heads x 80 dims x 2 (K, V) x 2 bytes (bf16) = 81,920 B
    assert kv_report(s, 1).per_token.total == 64 // 2 * 8 * 80 * 2 * 2 == 81_920
    assert kv_report(_unshared(s), 1).per_token.total == 64 * 8 * 80 * 2 * 2 == 163_840
    # a sequence of 4096 tokens, 32 of them: 81,920 x 4096 = 335,544,320 B; paged in blocks of 16: the same (4096/16)
    r = kv_report(s, 4096, block_size=16)
    assert r.per_sequence.total == 81_920 * 4096 == 335_544_320
    # 4 sequences over tp 8: each rank holds 1 of 8 KV heads of every sequence: 4 x 335,544,320 / 8
    r = kv_report(s, 4096, 4, parallel=Parallelism(tp=8))
    assert r.per_gpu.total == 4 * 335_544_320 / 8
    # pp 2: stages of layers 0-31 and 32-63 each hold 16 caching layers: half a sequence
    r = kv_report(s, 4096, parallel=Parallelism(pp=2))
    assert r.per_gpu.total == 16 * 8 * 80 * 2 * 2 * 4096


def test_odd_layer_count_rounds_the_owners_up():
    # 5 layers, factor 2: layers 0, 2, 4 own K/V (layer_idx % 2 == 0), ceil(5 / 2) = 3; factor 4: layers 0 and 4
    for factor, owners in ((2, 3), (4, 2), (8, 1)):
        s = load_spec(LARGE, [f"num_layers=5", f"attention.kv_share_layers={factor}"])
        assert s.num_kv_layers == owners == math.ceil(5 / factor)
        assert kv_report(s, 1).per_token.total == owners * 8 * 80 * 2 * 2


def test_weights_drop_k_and_v_on_the_readers():
    s = load_spec(LARGE)
    # 32 readers x (k_proj 6400 x 640 + v_proj 6400 x 640); q/k norms (2 x 80) stay on every layer
    assert param_counts(_unshared(s)).attention - param_counts(s).attention == 32 * 2 * 6400 * 8 * 80 == 262_144_000
    # owner: q 6400 x 6400 + k, v 6400 x 640 + o 6400 x 6400 + norms 160; reader: q + o + 160
    assert param_counts(s).attention == 32 * (2 * 6400 * 6400 + 2 * 6400 * 640 + 160) + 32 * (2 * 6400 * 6400 + 160)
    # tp 8: a rank holds 1/8 of every projection (8 KV heads split 8 ways)
    assert params_per_gpu(s, Parallelism(tp=8)).attention == pytest.approx(
        32 * (2 * 6400 * 6400 + 2 * 6400 * 640) / 8 + 32 * 2 * 6400 * 6400 / 8 + 64 * 160)


def test_qkv_biases_of_a_reader_are_the_query_bias_only():
    s = load_spec(LARGE, ["attention.qkv_bias=true"])
    # readers lose k_proj, v_proj and their biases (640 + 640 each)
    assert param_counts(_unshared(s)).attention - param_counts(s).attention == 32 * (2 * 6400 * 640 + 2 * 640)


def _op(ops, name):
    return next(o for o in ops if o.name == name)


def test_decode_reads_the_shared_cache_on_every_layer_and_writes_half():
    s = load_spec(LARGE)
    step = Step(phase="decode", batch=1, context=4095)   # 4095 cached + 1 new: 4096 keys
    ops, base = step_ops(s, step), step_ops(_unshared(s), step)
    kv_token = 8 * 80 * 2            # K and V elements of one token and layer
    # the write: 32 caching layers x 1 token x 1280 values x 2 bytes
    assert _op(ops, "kv_write").kv_bytes == 32 * kv_token * 2 == _op(base, "kv_write").kv_bytes / 2
    # the core: every one of 64 layers reads the 4096 cached keys once, shared or not
    assert _op(ops, "attn_core").kv_bytes == _op(base, "attn_core").kv_bytes == 64 * 4096 * kv_token * 2
    # projections: readers have q (6400 x 6400) only, owners q + k + v (6400 x (6400 + 1280))
    qkv = _op(ops, "qkv_proj")
    assert qkv.flops == 2 * 6400 * (32 * (6400 + 1280) + 32 * 6400)
    assert qkv.weight_bytes == 2 * 6400 * (32 * (6400 + 1280) + 32 * 6400)
    assert _op(base, "qkv_proj").flops - qkv.flops == 2 * 6400 * 1280 * 32


def test_sharing_is_refused_where_not_modelled(tmp_path):
    cases = [(["attention.sliding_window=4096"], "every layer is full attention"),
             (["mtp_layers=1"], "multi-token-prediction"),
             (["attention.kv_share_layers=0"], "must be at least 1")]
    for sets, words in cases:
        with pytest.raises(SpecError, match=words):
            load_spec(LARGE, sets)
    with pytest.raises(SpecError, match="mha, mqa and gqa attention, not mla"):
        load_spec("deepseek-v3", ["attention.kv_share_layers=2"])


@pytest.mark.parametrize("argv", [["train", LARGE, "--seq", "4096"],
                                  ["kv", LARGE, "--set", "attention.kv_share_layers=x"],
                                  ["fit", LARGE, "--gpu", "h200", "--tp", "8", "--engine", "vllm"],
                                  ["fit", LARGE, "--gpu", "h200", "--tp", "8", "--engine", "sglang"]])
def test_cli_refusals_are_one_line(capsys, argv):
    """Training memory, a malformed factor, and the engines' KV accounting (vLLM gives Hunyuan's K/V-reading layers
    caches of their own) are refused in one line; the default engine's fit is not."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    assert e.value.code == 2 and err.count("\n") == 1, err


@st.composite
def gqa_specs(draw):
    kv = draw(st.sampled_from([1, 2, 4, 8]))
    heads = kv * draw(st.integers(1, 8))
    layers = draw(st.integers(1, 40))
    raw = {"name": "g", "num_layers": layers, "hidden_size": 64 * draw(st.integers(1, 32)), "vocab_size": 1000,
           "attention": {"kind": "mha" if kv == heads else "gqa", "num_heads": heads, "num_kv_heads": kv,
                         "head_dim": draw(st.sampled_from([64, 80, 128])),
                         "qkv_bias": draw(st.booleans()), "qk_norm": draw(st.booleans())},
           "ffn": {"kind": "dense", "intermediate_size": 256}}
    return spec_from_dict(raw), draw(st.integers(1, 9))


@settings(max_examples=60, deadline=None)
@given(gqa_specs())
def test_factor_one_is_todays_model_and_kv_scales_as_ceil_l_over_f(case):
    spec, factor = case
    one = spec_from_dict({**spec_to_dict(spec), "attention": {**spec_to_dict(spec)["attention"], "kv_share_layers": 1}})
    assert one == spec                                    # the default: nothing shared
    assert kv_report(one, 300).to_json() == kv_report(spec, 300).to_json()
    raw = spec_to_dict(spec)
    shared = spec_from_dict({**raw, "attention": {**raw["attention"], "kv_share_layers": factor}})
    L = spec.num_layers
    ratio = (kv_report(shared, 300, block_size=16).per_sequence.total
             / kv_report(spec, 300, block_size=16).per_sequence.total)
    assert ratio == pytest.approx(math.ceil(L / factor) / L)
    a = spec.attention
    kv_params = spec.hidden_size * a.num_kv_heads * (a.qk_head_dim + a.v_head_dim) + \
        (a.num_kv_heads * (a.qk_head_dim + a.v_head_dim) if a.qkv_bias else 0)
    assert param_counts(spec).total - param_counts(shared).total == (L - math.ceil(L / factor)) * kv_params


def test_default_engine_fit_counts_the_owning_layers_only():
    """mlacalc's own fit sizes the cache with the sharing: per GPU at tp 8, a sequence of 4,096 tokens holds
    32 owning layers x 1 KV head (8 / 8) x 80 dims (6,400 / 80 heads) x 2 (K, V) x 2 B x 4,096 = 41,943,040 B."""
    from mlacalc.capacity import fit
    from mlacalc.hardware import load_hardware

    spec = load_spec(LARGE)
    f = fit(spec, load_hardware("h200"), 4096, Parallelism(tp=8))
    assert f.kv_bytes_per_seq == 32 * 1 * 80 * 2 * 2 * 4096 == 41_943_040


def test_kv_output_says_which_layers_cache(capsys):
    """`mlacalc kv` names the sharing (per token is 32 of the 64 layers' worth): in the table's note and the JSON."""
    import json

    for argv in (["kv", LARGE, "--json"], ["kv", LARGE]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code in (0, None)
        out = capsys.readouterr().out
        if "--json" in argv:
            d = json.loads(out)
            assert (d["kv_share_layers"], d["kv_layers"], d["num_layers"]) == (2, 32, 64)
            assert d["kv_bytes_per_token"] == 32 * d["kv_bytes_per_token_layer"]
        else:
            assert "32 of 64 layers cache K/V" in " ".join(out.split())


@pytest.mark.parametrize("layers, factor, words", [
    (64, 2, "32 of 64 layers cache K/V, each read by 2 layers"),
    # 5 layers in groups of 2: layers 0-1, 2-3 and 4 alone (ceil(5 / 2) = 3 caching layers)
    (5, 2, "3 of 5 layers cache K/V, each read by 2 layers (the last by 1)"),
    # a factor above the layer count: one group of all 5 (it said "each read by 8 layers")
    (5, 8, "1 of 5 layers cache K/V, each read by 5 layers"),
])
def test_kv_note_counts_the_layers_each_cache_serves(capsys, layers, factor, words):
    with pytest.raises(SystemExit) as e:
        main(["kv", LARGE, "--set", f"num_layers={layers}", "--set", f"attention.kv_share_layers={factor}"])
    assert e.value.code in (0, None)
    assert " ".join(capsys.readouterr().out.split()).endswith("cross-layer attention: " + words)


def test_whole_step_profiling_refuses_cross_layer_sharing():
    """`profile --whole-step` builds every layer with its own K/V projections and cache, beside a prediction that
    prices the sharing: refused in one line, as the per-layer profiler is (it passed validation before)."""
    from mlacalc.profiler.whole_step import StepConfig

    with pytest.raises(SpecError, match="whole steps.*cross-layer K/V sharing"):
        StepConfig(LARGE, "decode", "sdpa", 8, 4096).validate(load_spec(LARGE))
