"""The thirteenth audit's findings (bytes of quantized weights, quantized KV caches and recurrent state): each test
fails before its fix, and works its number out by hand in front of the reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlacalc.errors import SpecError
from mlacalc.params import weights_report
from mlacalc.spec import load_spec

from helpers import run

FIXTURES = Path(__file__).parent / "fixtures" / "hf"

# Llama-3.1-8B (tests/fixtures/hf/llama/config.json): d 4096, FFN 14336, 32 layers, 32 query / 8 KV heads of 128,
# vocabulary 128256, head not tied.
D, F, L, V = 4096, 14336, 32, 128256
ATTN = L * (4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096)        # q, k, v, o: 1,342,177,280
FFN = L * 3 * D * F                                              # gate, up, down: 5,637,144,576
EMBED = HEAD = V * D                                             # 525,336,576 each
NORMS = 2 * D * L + D                                            # 266,240
GPTQ_4_128 = 4 + (16 + 4) / 128            # bits a weight: 4-bit value, fp16 scale and packed 4-bit zero per 128


def _llama(tmp_path, qc):
    cfg = json.loads((FIXTURES / "llama" / "config.json").read_text())
    cfg["quantization_config"] = qc
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return load_spec(str(tmp_path))


# --- GPTQ's lm_head and dynamic keys ----------------------------------------------------------------------------
# vLLM's GPTQ/AWQ configs read `lm_head` (lm_head_quantized = get_from_keys_or(config, ["lm_head"], default=False))
# and GPTQ's `dynamic` (gptq_utils.get_dynamic_override: a "-:" regex leaves matching modules unquantized, re.match on
# the module name). Both keys were ignored: a GPTQModel/AutoRound checkpoint with lm_head true had its 525 M-weight
# head priced at 16 bits, and one whose dynamic block keeps attention in bf16 had its attention priced at 4 bits.

def test_gptq_lm_head_true_quantizes_the_head(tmp_path):
    s = _llama(tmp_path, {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True, "desc_act": False,
                          "lm_head": True})
    assert s.quantization.components == ("attention", "dense_ffn", "head")
    want = (ATTN + FFN + HEAD) * GPTQ_4_128 / 8 + (EMBED + NORMS) * 2
    assert weights_report(s).bytes.total == pytest.approx(want, rel=1e-12)
    # 4,950,110,208 B: was 5,727,854,592 B (head 1,050,673,152 B at bf16, now 272,928,768 B), 15.7% too many
    assert want == 4_950_110_208
    assert HEAD * GPTQ_4_128 / 8 == 272_928_768


def test_gptq_lm_head_false_or_absent_keeps_the_head_at_16_bits(tmp_path):
    for extra in ({}, {"lm_head": False}):
        s = _llama(tmp_path, {"quant_method": "gptq", "bits": 4, "group_size": 128, **extra})
        assert "head" not in s.quantization.components
        assert weights_report(s).bytes.head == HEAD * 2


def test_gptq_dynamic_negative_rule_leaves_its_modules_unquantized(tmp_path):
    # AutoRound's GPTQ export of a hybrid keeps attention in bf16 with "-:.*attn.*"
    s = _llama(tmp_path, {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True,
                          "dynamic": {"-:.*self_attn.*": {}}})
    assert s.quantization.components == ("dense_ffn",)
    want = FFN * GPTQ_4_128 / 8 + (ATTN + EMBED + HEAD + NORMS) * 2
    assert weights_report(s).bytes.total == pytest.approx(want, rel=1e-12)
    # attention 2,684,354,560 B at bf16 (was 697,303,040 B at 4.156 bits)
    assert ATTN * 2 == 2_684_354_560 and ATTN * GPTQ_4_128 / 8 == 697_303_040


def test_gptq_dynamic_rule_on_part_of_a_component_is_refused(tmp_path):
    with pytest.raises(SpecError, match="leaves part of the attention unquantized"):
        _llama(tmp_path, {"quant_method": "gptq", "bits": 4, "group_size": 128,
                          "dynamic": {r"-:model\.layers\.0\..*": {}}})


def test_gptq_dynamic_positive_rule_at_other_bits_is_refused_and_one_at_the_same_bits_is_not(tmp_path):
    with pytest.raises(SpecError, match="down_proj 8 bits in groups of 128: a component is priced at one width"):
        _llama(tmp_path, {"quant_method": "gptq", "bits": 4, "group_size": 128,
                          "dynamic": {r"+:.*down_proj": {"bits": 8}}})
    s = _llama(tmp_path, {"quant_method": "gptq", "bits": 4, "group_size": 128, "lm_head": True,
                          "dynamic": {r"+:.*lm_head": {"bits": 4, "group_size": 128}, r".*visual.*": {"bits": 8}}})
    assert s.quantization.components == ("attention", "dense_ffn", "head")


@pytest.mark.parametrize("qc, key", [({"lm_head": "true"}, "lm_head"), ({"dynamic": ["-:.*attn.*"]}, "dynamic"),
                                     ({"dynamic": {"-:(": {}}}, "dynamic")])
def test_bad_gptq_keys_are_one_line(capsys, tmp_path, qc, key):
    cfg = json.loads((FIXTURES / "llama" / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 128, **qc}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    code, out, err, _ = run(capsys, "weights", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error:") and key in err
