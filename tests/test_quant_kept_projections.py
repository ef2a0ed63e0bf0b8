"""Checkpoints whose quantization keeps some attention projections unquantized (``quantization.unquantized``).

MiMo-V2-Flash's fp8 release was refused ("leaves part of the attention unquantized"): its block-fp8 config lists
every ``model.layers.N.self_attn.o_proj`` in ``ignored_layers``. The quantization block below is the one Xiaomi
ships with its MiMo checkpoints of this body (48 layers, hidden 4096): quant_method fp8, fmt e4m3, dynamic
activations, weight_block_size [128, 128], ignored_layers = the 48 o_proj and ``model.decoder.self_attn.o_proj``, as
transcribed from XiaomiMiMo/MiMo-V2.5's config.json in a public model report (code corpus file id 62758385424; the
MiMo-V2-Flash Hub page is cut off inside this same list, docs/zoo-facts.md section 21). The MiMo-V2-Flash keys are
tests/test_hf_mimo_v2_flash.py's transcription.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from helpers import refused
from mlacalc.capacity import fit
from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.params import weights_report
from mlacalc.spec import load_spec
from mlacalc.step import Step, step_ops
from test_hf_mimo_v2_flash import AT_48, D, DENSE_MLP, E, EXPERT, FULL, O, Q, V

ROOT = Path(__file__).resolve().parent.parent
MIMO_FP8 = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "store_dtype": "fp8",
            "ignored_layers": [f"model.layers.{i}.self_attn.o_proj" for i in range(48)] +
            ["model.decoder.self_attn.o_proj"], "weight_block_size": [128, 128]}


def _load(tmp_path, cfg):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return load_spec(str(tmp_path))


def _fp8_block(out_f: int, in_f: int) -> int:
    """Bytes of one block-fp8 matrix: a byte a value and one fp32 scale per 128 x 128 block (weight_scale_inv)."""
    return out_f * in_f + math.ceil(out_f / 128) * math.ceil(in_f / 128) * 4


def test_mimo_v2_flash_fp8_weight_bytes_by_hand(tmp_path):
    s = _load(tmp_path, AT_48 | {"quantization_config": MIMO_FP8})
    assert s.quantization.unquantized == ("o",)
    assert s.quantization.components == ("attention", "dense_ffn", "routed_experts")
    n_full, n_swa = len(FULL), 48 - len(FULL)                 # 9 and 39
    # q 4096 -> 64 x 192; k, v of 4 (full) or 8 (sliding) KV heads of 192 and 128, all in fp8 blocks
    attn_q = (n_full * (_fp8_block(64 * 192, D) + _fp8_block(4 * 192, D) + _fp8_block(4 * 128, D))
              + n_swa * (_fp8_block(64 * 192, D) + _fp8_block(8 * 192, D) + _fp8_block(8 * 128, D)))
    # 64 sink logits a layer, counted in the attention and priced with it at 1 + 4/16384 B (params.weight_bytes)
    sinks = 48 * 64 * (1 + 4 / 16384)
    o_bf16 = 48 * O * 2                                        # o_proj 64 x 128 -> 4096 kept in bf16, no scales
    dense = 3 * _fp8_block(16384, D)                           # layer 0: gate, up, down
    experts = 47 * E * 3 * _fp8_block(2048, D)                 # 47 MoE layers of 256 experts
    bf16 = 2 * (47 * D * E + 2 * V * D + (48 * 2 + 1) * D)     # router, embedding, head, norms
    r = weights_report(s)
    assert r.bytes.attention == pytest.approx(attn_q + sinks)
    assert r.bytes.attention_unquantized == o_bf16 == 3_221_225_472
    assert r.bytes.total == pytest.approx(attn_q + sinks + o_bf16 + dense + experts + bf16)
    assert r.params.total == r.params.attention + r.params.attention_unquantized + DENSE_MLP + 47 * E * EXPERT + \
        47 * D * E + 2 * V * D + 97 * D
    assert r.to_json()["quantization"]["unquantized"] == ["o"]
    # what it was before o was kept: every o_proj in fp8 blocks (3.2 GB of o at 1 B, not 2)
    assert r.bytes.total - (attn_q + sinks + 48 * _fp8_block(D, 64 * 128) + dense + experts + bf16) == \
        pytest.approx(48 * (O - 32 * 64 * 4))


def test_per_gpu_roofline_and_fit_read_o_at_16_bits(tmp_path):
    """TP 8: o_proj splits by heads (8 of 64 a GPU: O / 8 at 2 B a layer); q/k/v split too (8 KV heads on the
    sliding layers, 4 on the full ones: replicated to 8 ranks as 1 of 4 KV heads' worth, kv_share 1/4)."""
    s = _load(tmp_path, AT_48 | {"quantization_config": MIMO_FP8})
    par = Parallelism(tp=8)
    r = weights_report(s, parallel=par)
    assert r.per_gpu_bytes.attention_unquantized == 48 * O / 8 * 2
    ops = {o.name: o for o in step_ops(s, Step("decode", 1, 1024, 1), par)}
    assert ops["o_proj"].weight_bytes == 48 * O / 8 * 2
    fp8 = 1 + 4 / 16384
    kv_full, kv_swa = D * 4 * 320 / 4, D * 8 * 320 / 8         # a quarter (4 KV heads, 8 ranks), an eighth
    assert ops["qkv_proj"].weight_bytes == pytest.approx(fp8 * (48 * Q / 8 + 9 * kv_full + 39 * kv_swa))
    # --weight-dtype overrides the checkpoint: every matrix at it, o too
    ops8 = {o.name: o for o in step_ops(s, Step("decode", 1, 1024, 1), par, weight_bits=8)}
    assert ops8["o_proj"].weight_bytes == 48 * O / 8
    f = fit(s, load_hardware("h200"), 32768, par)
    assert f.weights == pytest.approx(r.per_gpu_bytes.total - r.per_gpu_bytes.mtp)


def test_mla_kv_b_proj_kept_on_every_layer(tmp_path):
    """DeepSeek-V3's shape with kv_b_proj in modules_to_not_convert: kv_up (512 -> 128 x (128 + 128)) at 2 B, the
    rest of the attention in fp8 blocks; the roofline's kv_up reads it at 2 B."""
    cfg = json.loads((ROOT / "tests/fixtures/hf/deepseek_v3/config.json").read_text())
    cfg.pop("num_nextn_predict_layers", None)
    L = cfg["num_hidden_layers"]
    cfg["quantization_config"] = {"quant_method": "fp8", "weight_block_size": [128, 128],
                                  "modules_to_not_convert": [f"model.layers.{i}.self_attn.kv_b_proj"
                                                             for i in range(L)]}
    s = _load(tmp_path, cfg)
    assert s.quantization.unquantized == ("kv_up",)
    kv_up = 512 * 128 * (128 + 128)
    r = weights_report(s)
    assert r.bytes.attention_unquantized == L * kv_up * 2
    ops = {o.name: o for o in step_ops(s, Step("prefill", 1, 512), mla_form="decompressed")}
    assert ops["kv_up"].weight_bytes == L * kv_up * 2


def test_a_projection_kept_on_some_layers_only_is_refused(capsys, tmp_path):
    q = MIMO_FP8 | {"ignored_layers": ["model.layers.0.self_attn.o_proj"]}
    (tmp_path / "config.json").write_text(json.dumps(AT_48 | {"quantization_config": q}))
    refused(capsys, "weights", str(tmp_path), words="leaves part of the attention unquantized "
                                                    "(model.layers.0.self_attn.o_proj), not "
                                                    "model.layers.1.self_attn.o_proj")


def test_kept_projections_beside_mtp_modules_are_refused(tmp_path):
    with pytest.raises(SpecError, match="beside 3 MTP modules, priced at one width whole"):
        _load(tmp_path, AT_48 | {"num_nextn_predict_layers": 3, "quantization_config": MIMO_FP8})


@pytest.mark.parametrize("block,words", [
    ({"components": ["routed_experts"], "unquantized": ["o"]}, "needs attention among quantization.components"),
    ({"components": ["attention"], "unquantized": ["kv_up"]}, "gqa attention has no projection 'kv_up'"),
    ({"components": ["attention"], "unquantized": ["wo"]}, "must be one of q, k, v, o"),
])
def test_bad_unquantized_lists_are_one_line(tmp_path, block, words):
    import yaml

    from mlacalc.spec import spec_from_dict
    raw = yaml.safe_load((ROOT / "model_specs/llama-3.1-8b.yaml").read_text()) | {"name": "llama-fp8"}
    raw["quantization"] = {"method": "fp8", "bits": 8, **block}
    with pytest.raises(SpecError, match=words):
        spec_from_dict(raw)
