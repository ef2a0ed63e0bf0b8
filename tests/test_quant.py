"""Quantized checkpoints: weight bytes at the checkpoint's quantization, worked out by hand.

A quantized component costs ``bits / 8`` bytes per weight plus its group's scale (and zero point) shared over
``group_size`` weights; the others (and embedding, head, router, norms) stay at 16 bits. Parameter counts are the
ones pinned in tests/test_zoo.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlacalc.errors import SpecError
from mlacalc.params import Params, weight_bytes, weights_report
from mlacalc.spec import Quantization, load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def test_gpt_oss_120b_mxfp4_experts_at_4_25_bits():
    r = weights_report(load_spec("gpt-oss-120b"))
    experts = 114_701_598_720                                   # 36 x 128 experts of 3 x 2880 x 2880 + biases
    rest = 116_829_156_672 - experts                            # attention, router, embed, head, norms: bf16
    assert r.params.routed_experts == experts
    # e2m1 values (4 bits) + one e8m0 scale per 32 values: 4 + 8/32 = 4.25 bits = 0.53125 bytes
    assert r.bytes.routed_experts == experts * 17 // 32 == 60_935_224_320
    assert r.bytes.total == experts * 17 // 32 + 2 * rest == 65_190_340_224
    # The checkpoint keeps the expert biases (36 x 128 x (2 x 2880 + 2880) = 39,813,120) in bf16; priced here at
    # 4.25 bits they are 39,813,120 x (2 - 0.53125) = 58,475,520 B (0.09%) short.
    assert bf16_bytes(load_spec("gpt-oss-120b")) / r.bytes.total == pytest.approx(3.58, abs=0.01)


def bf16_bytes(spec):
    return weights_report(spec, "bf16").bytes.total


def test_kimi_k2_thinking_int4_with_a_bf16_scale_per_32():
    s = load_spec(str(FIXTURES / "kimi_k2_thinking"))
    r = weights_report(s)
    experts = 60 * 384 * 3 * 7168 * 2048                        # 60 MoE layers x 384 experts x gate/up/down
    assert r.params.routed_experts == experts == 1_014_686_023_680
    rest = r.params.total - experts                             # attention, shared experts, layer 0's MLP, ... bf16
    # int4 + one bf16 scale per 32 weights (symmetric: no zero point): 4 + 16/32 = 4.5 bits = 0.5625 bytes
    assert r.bytes.total == experts * 9 // 16 + 2 * rest == 594_205_259_776
    assert r.to_json()["weight_bytes_total"] == 594_205_259_776


def test_deepseek_v3_fp8_with_one_fp32_scale_per_128x128_block():
    r = weights_report(load_spec("deepseek-v3"))
    p = r.params
    matrices = p.attention + p.dense_ffn + p.shared_experts + p.routed_experts
    assert matrices == 669_065_734_144
    high = p.embed + p.head + p.router + p.norms                # bf16
    # e4m3 (1 byte) + 4 bytes of scale per 16,384 weights = 1 + 1/4096 bytes
    assert r.bytes.total == matrices + matrices / 4096 + 2 * high == 673_150_420_686.5
    assert r.bytes.total / (matrices + 2 * high) - 1 == pytest.approx(0.000243, abs=1e-6)  # the scales: +0.024%
    # the MTP module's decoder layer is fp8 too
    assert r.mtp_bytes == r.mtp_params * (1 + 1 / 4096)


def test_olmo2_fp32_checkpoint_at_16_bits():
    r = weights_report(load_spec(str(FIXTURES / "olmo_2_7b")))
    assert r.weight_bits == 16 and r.bytes.total == 2 * r.params.total == 2 * 7_298_363_392


def test_weight_dtype_overrides_the_quantization():
    s = load_spec("gpt-oss-120b")
    r = weights_report(s, "int4")
    assert r.quantization is None and r.to_json()["quantization"]["method"] is None
    p = r.params
    assert r.bytes.total == (p.attention + p.routed_experts) / 2 + 2 * (p.embed + p.head + p.router + p.norms)


def test_weights_json_describes_the_quantization():
    j = weights_report(load_spec("gpt-oss-20b")).to_json()
    assert j["quantization"] == {"method": "mxfp4", "bits": 4, "group_size": 32, "scale_bits": 8,
                                 "zero_point_bits": 0, "components": ["routed_experts"], "unquantized": [],
                                 "bits_per_value": 4.25,
                                 "other_bits": 16.0}


def test_without_a_block_the_old_pricing_holds():
    p = Params(embed=10, attention=100, routed_experts=1000, norms=1, head=10, router=5)
    assert weight_bytes(p, 8) == Params(embed=20, attention=100, routed_experts=1000, norms=2, head=20, router=10)
    q = Quantization(method="int4", bits=4, group_size=None, components=("attention", "routed_experts"))
    assert weight_bytes(p, 16, q).total == 20 + 50 + 500 + 2 + 20 + 10  # no groups: no scale bytes counted


def _cfg(tmp_path, qc, base="llama"):
    cfg = json.loads((FIXTURES / base / "config.json").read_text())
    cfg["quantization_config"] = qc
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return load_spec(str(tmp_path))


def test_awq_int4_with_fp16_scale_and_4_bit_zero_per_128(tmp_path):
    s = _cfg(tmp_path, {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"})
    q = s.quantization
    assert (q.method, q.components, s.dtypes.weights) == ("awq", ("attention", "dense_ffn"), "int4")
    assert q.bits_per_value == 4 + (16 + 4) / 128                 # 4.15625 bits
    r = weights_report(s)
    p = r.params
    assert r.bytes.total == (p.attention + p.dense_ffn) * 4.15625 / 8 + 2 * (p.embed + p.head + p.norms)


def test_gptq_stores_zeros_even_when_symmetric(tmp_path):
    q = _cfg(tmp_path, {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True}).quantization
    assert (q.zero_point_bits, q.scale_bits, q.group_size) == (4, 16, 128)
    q = _cfg(tmp_path, {"quant_method": "gptq", "bits": 8, "group_size": -1}).quantization
    assert q.group_size is None and q.bits == 8                   # per-channel scales: not counted


def test_awq_and_gptq_groups_that_do_not_divide_a_width_are_refused(tmp_path):
    """AWQ and GPTQ group the input axis; vLLM refuses an input width the group does not divide (no quantizer writes
    one). The fixture's Llama widths, hidden 4096 and intermediate 14336, are multiples of 128 and 64 (14336 = 112 x
    128) but not of 100 (4096 = 40 x 100 + 96) nor 4096 (14336 = 3 x 4096 + 2048): one line naming the width."""
    for method in ("awq", "gptq"):
        for group in (64, 128):
            assert _cfg(tmp_path, {"quant_method": method, "bits": 4, "group_size": group}).quantization.group_size \
                == group
        with pytest.raises(SpecError, match=rf"{method} quantization in groups of 100: the hidden_size \(4096\)"):
            _cfg(tmp_path, {"quant_method": method, "bits": 4, "group_size": 100})
        with pytest.raises(SpecError, match=r"groups of 4096: the intermediate_size \(14336\) is not a multiple"):
            _cfg(tmp_path, {"quant_method": method, "bits": 4, "group_size": 4096})


def test_a_pattern_that_splits_a_component_is_refused(tmp_path):
    # q_proj on every layer: q kept at 16 bits, the rest of the attention in int4 (it was refused)
    q = _cfg(tmp_path, {"quant_method": "awq", "bits": 4, "group_size": 128, "modules_to_not_convert": ["q_proj"]})
    assert q.quantization.unquantized == ("q",)
    with pytest.raises(SpecError, match="leaves part of the dense_ffn unquantized"):
        _cfg(tmp_path, {"quant_method": "awq", "bits": 4, "group_size": 128, "modules_to_not_convert": ["up_proj"]})


def test_unknown_quant_method_is_refused_in_one_line(tmp_path):
    with pytest.raises(SpecError) as e:
        _cfg(tmp_path, {"quant_method": "bitsandbytes", "load_in_4bit": True})
    assert str(e.value) == (f"{tmp_path / 'config.json'}: model_type llama: quantization_config quant_method "
                            "bitsandbytes is not modelled")


def test_quantization_block_is_validated():
    with pytest.raises(SpecError, match=r"quantization.components\[0\]: must be one of"):
        load_spec("gpt-oss-20b", ["quantization.components=[norms]"])
    with pytest.raises(SpecError, match="quantization.method: must be one of"):
        load_spec("gpt-oss-20b", ["quantization.method=nf5"])


def test_roofline_streams_the_experts_at_their_checkpoint_bits():
    import mlacalc

    r = mlacalc.roofline("gpt-oss-120b", "h100-sxm", batch=1, context=4096)
    # one token touches 4 experts in each of 36 layers: 3 x 2880 x 2880 weights each, at 4.25 bits
    assert r.op("experts").op.weight_bytes == 36 * 4 * 3 * 2880 * 2880 * 17 / 32 == 1_903_564_800
    bf16 = mlacalc.roofline("gpt-oss-120b", "h100-sxm", batch=1, context=4096, weight_dtype="bf16")
    assert bf16.op("experts").op.weight_bytes == 36 * 4 * 3 * 2880 * 2880 * 2  # --weight-dtype overrides
