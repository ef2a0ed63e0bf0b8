"""The KV-cache dtype a Hugging Face checkpoint declares, read as vLLM's ``--kv-cache-dtype auto`` reads it.

- compressed-tensors ``kv_cache_scheme`` (llm-compressor): vLLM's ``Attention`` turns an ``auto`` cache to fp8 when
  the scheme is there (vllm-project/vllm ``vllm/model_executor/layers/attention/attention.py``); its
  ``CompressedTensorsKVCacheMethod.validate_kv_cache_scheme`` serves 8-bit float, symmetric, per tensor or per
  attention head, and refuses the rest.
- NVIDIA ModelOpt ``kv_cache_quant_algo`` (config.json, or ``hf_quant_config.json`` beside it): vLLM
  ``vllm/utils/torch_utils.py`` ``get_kv_cache_quant_algo_string`` / ``resolve_kv_cache_dtype_string``: FP8 -> fp8,
  NVFP4 -> nvfp4, anything else -> auto (the model dtype); ``vllm/transformers_utils/config.py`` reads
  ``hf_quant_config.json`` only when config.json has no ``quantization_config``.

Fixtures: ``llama_3_8b_instruct_fp8_kv`` (llm-compressor's FP8 + FP8-KV recipe on Meta-Llama-3-8B-Instruct),
``deepseek_r1_0528_nvfp4`` (nvidia/DeepSeek-R1-0528-NVFP4's hf_quant_config.json); their SOURCE.md say what is
verbatim."""

import json
import shutil
from pathlib import Path

import pytest

from mlacalc import api
from mlacalc.errors import SpecError
from mlacalc.spec import load_spec

from helpers import refused, run

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
CT_FP8_KV = FIXTURES / "llama_3_8b_instruct_fp8_kv"
R1_NVFP4 = FIXTURES / "deepseek_r1_0528_nvfp4"

# Meta-Llama-3-8B-Instruct: 32 layers, 8 KV heads of 128 (K and V)
LLAMA_LAYERS, LLAMA_KV_VALUES = 32, 8 * 128 * 2
# DeepSeek-V3/R1: 61 layers, one 512-wide latent and a 64-wide RoPE key a token and layer
DSV3_LAYERS, DSV3_ROW = 61, 512 + 64


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def _load(tmp_path: Path, cfg: dict, quant_file: dict | None = None, name: str = "model"):
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    if quant_file is not None:
        (d / "hf_quant_config.json").write_text(json.dumps(quant_file))
    return load_spec(str(d))


def test_compressed_tensors_kv_cache_scheme_is_an_fp8_cache():
    s = load_spec(str(CT_FP8_KV))
    assert s.dtypes.kv == "fp8"
    r = api.kv_cache(s, 1)
    # one byte a value, no bytes of scale per token (one k_scale and one v_scale a layer): 32 x 2048 = 65,536 B a
    # token, half the bf16 cache it was priced at
    assert r.per_token.total == LLAMA_LAYERS * LLAMA_KV_VALUES * 1 == 65_536
    assert api.kv_cache(s, 1, kv_dtype="bf16").per_token.total == LLAMA_LAYERS * LLAMA_KV_VALUES * 2
    # the weights as before: every Linear but lm_head in fp8 with a per-tensor scale
    assert s.quantization.method == "fp8" and s.quantization.components == ("attention", "dense_ffn")


def test_the_flag_overrides_the_checkpoints_kv_dtype(capsys):
    code, out, err, _ = run(capsys, "kv", str(CT_FP8_KV), "--context", "1", "--json")
    assert code == 0, err
    assert (json.loads(out)["kv_bytes_per_token"], json.loads(out)["kv_bits"]) == (65_536, 8)
    code, out, err, _ = run(capsys, "kv", str(CT_FP8_KV), "--context", "1", "--kv-dtype", "bf16", "--json")
    assert json.loads(out)["kv_bytes_per_token"] == 131_072
    # fit sizes the declared cache: 32k tokens x 65,536 B
    assert api.fit(load_spec(str(CT_FP8_KV)), "h100-sxm", context=32768).kv_bytes_per_seq == 32768 * 65_536


def test_a_per_attention_head_scheme_is_fp8_too(tmp_path):
    # llm-compressor examples/quantization_kv_cache/llama3_fp8_head_kv_example.py: QuantizationArgs(num_bits=8,
    # type="float", strategy="attn_head"): k/v scales of num_kv_heads values a layer (vLLM docs, quantized_kvcache),
    # still no bytes a token
    cfg = _config(CT_FP8_KV)
    cfg["quantization_config"]["kv_cache_scheme"] = {"num_bits": 8, "type": "float", "strategy": "attn_head"}
    s = _load(tmp_path, cfg)
    assert s.dtypes.kv == "fp8"
    assert api.kv_cache(s, 1).per_token_layer.total == LLAMA_KV_VALUES


@pytest.mark.parametrize("change, words", [
    ({"strategy": "channel"}, "kv_cache_scheme of 'float' 8-bit values, strategy 'channel'"),
    ({"strategy": "token"}, "kv_cache_scheme of 'float' 8-bit values, strategy 'token'"),
    ({"type": "int"}, "kv_cache_scheme of 'int' 8-bit values"),
    ({"num_bits": 4}, "kv_cache_scheme of 'float' 4-bit values"),
    ({"symmetric": False}, "symmetric False: vLLM serves an 8-bit float, symmetric scheme per tensor or per "
                           "attention head only"),
])
def test_a_scheme_vllm_refuses_is_refused_in_one_line(tmp_path, capsys, change, words):
    cfg = _config(CT_FP8_KV)
    cfg["quantization_config"]["kv_cache_scheme"] |= change
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    refused(capsys, "kv", str(d), words=f"compressed-tensors {words}" if words.startswith("kv_") else words)


def test_a_null_scheme_or_autofp8s_static_string_keeps_the_model_dtype(tmp_path):
    # Kimi-K2-Thinking writes "kv_cache_scheme": null: bf16 (61 layers of 576 values, 2 B each)
    k2 = load_spec(str(FIXTURES / "kimi_k2_thinking"))
    assert k2.dtypes.kv == "bf16"
    assert api.kv_cache(k2, 1).per_token.total == DSV3_LAYERS * DSV3_ROW * 2
    # AutoFP8/Quark's quant_method fp8 with "kv_cache_scheme": "static" (amd/Llama-3.1-8B-Instruct-FP8-KV's config):
    # the scales are there, the fp8 cache only under --kv-cache-dtype fp8 (neuralmagic's -FP8-KV model cards)
    cfg = _config(FIXTURES / "llama") | {"quantization_config": {
        "activation_scheme": "static", "ignored_layers": ["lm_head"], "kv_cache_scheme": "static",
        "quant_method": "fp8"}}
    s = _load(tmp_path, cfg)
    assert (s.dtypes.weights, s.dtypes.kv) == ("fp8", "bf16")


def test_modelopt_hf_quant_config_json_beside_config_json():
    s = load_spec(str(R1_NVFP4))
    # kv_cache_quant_algo FP8 on MLA: the 576-wide row at one byte, 61 layers: 35,136 B a token (70,272 at bf16)
    assert s.dtypes.kv == "fp8"
    assert api.kv_cache(s, 1).per_token.total == DSV3_LAYERS * DSV3_ROW == 35_136
    # quant_algo NVFP4: e2m1 and one e4m3 scale per 16 values (4 + 8/16 = 4.5 bits), the attention of every layer
    # excluded (model.layers.N.self_attn*), lm_head too; the routers stay at 16 bits
    q = s.quantization
    assert (q.method, q.bits, q.group_size, q.scale_bits) == ("nvfp4", 4, 16, 8)
    assert q.components == ("dense_ffn", "shared_experts", "routed_experts")
    w = api.weights(s)
    assert w.bytes.routed_experts == w.params.routed_experts * 4.5 / 8
    assert w.bytes.attention == w.params.attention * 2
    # naming config.json itself reads the hf_quant_config.json beside it too, as naming the folder does
    assert load_spec(str(R1_NVFP4 / "config.json")) == s


def test_config_json_quantization_wins_over_hf_quant_config_json(tmp_path):
    # vllm/transformers_utils/config.py: hf_quant_config.json is read when config.json has no quantization_config
    quant_file = json.loads((R1_NVFP4 / "hf_quant_config.json").read_text())
    s = _load(tmp_path, _config(CT_FP8_KV), quant_file)
    assert (s.quantization.method, s.dtypes.kv) == ("fp8", "fp8")


def test_a_quant_file_from_another_producer_is_refused(tmp_path, capsys):
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text((FIXTURES / "llama" / "config.json").read_text())
    (d / "hf_quant_config.json").write_text(json.dumps({"producer": {"name": "shared-scales-nvfp4"},
                                                         "quantization": {"quant_algo": "NVFP4"}}))
    refused(capsys, "kv", str(d), words="hf_quant_config.json from producer 'shared-scales-nvfp4' is not modelled")


def test_a_quant_file_that_is_not_a_mapping_says_so(tmp_path, capsys):
    """A list in hf_quant_config.json was reported as "from producer None"."""
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text((FIXTURES / "llama" / "config.json").read_text())
    (d / "hf_quant_config.json").write_text("[1, 2]")
    refused(capsys, "kv", str(d), words="hf_quant_config.json must hold a mapping")


@pytest.mark.parametrize("quant, kv", [
    # config.json's own quantization_config, flat (ModelOpt 0.31 and after) or nested as hf_quant_config.json
    ({"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}, "fp8"),
    ({"quant_method": "modelopt", "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}}, "fp8"),
    ({"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_scheme": {"num_bits": 8, "type": "float",
                                                                            "dynamic": False}}, "fp8"),
    ({"quant_method": "modelopt_fp4", "quant_algo": "NVFP4", "kv_cache_quant_algo": "NVFP4"}, "nvfp4"),
    ({"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_scheme": {"num_bits": 4, "type": "float"}}, "nvfp4"),
    # null, MIXED_PRECISION and any value vLLM does not map: vLLM's auto, the model dtype
    ({"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": None}, "bf16"),
    ({"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "MIXED_PRECISION"}, "bf16"),
    ({"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "INT8"}, "bf16"),
])
def test_modelopt_kv_cache_quant_algo(tmp_path, quant, kv):
    s = _load(tmp_path, _config(FIXTURES / "llama") | {"quantization_config": quant})
    assert s.dtypes.kv == kv
    per_layer = {"fp8": LLAMA_KV_VALUES,
                 # vLLM nvfp4_kv_cache_full_dim: head_size // 2 + head_size // 16 bytes a head, K and V
                 "nvfp4": 2 * 8 * (128 // 2 + 128 // 16),
                 "bf16": LLAMA_KV_VALUES * 2}[kv]
    assert api.kv_cache(s, 1).per_token_layer.total == per_layer


def test_an_fp8_cache_on_dsa_is_flashmlas_fp8_ds_row(tmp_path):
    # vLLM DeepseekV32ForCausalLM.verify_and_update_config: an fp8 cache dtype becomes fp8_ds_mla, 656 B (512 fp8
    # values, 4 fp32 scales, 64 bf16 RoPE values) plus the indexer's 132
    cfg = _config(FIXTURES / "deepseek_v32") | {"quantization_config": {
        "quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "FP8", "exclude_modules": ["lm_head"]}}
    s = _load(tmp_path, cfg)
    assert s.dtypes.kv == "fp8-ds"
    assert api.kv_cache(s, 1).per_token_layer.total == 512 + 4 * 4 + 64 * 2 + 128 + 4 == 788


def test_nvfp4_kv_on_mla_is_refused_as_vllm_refuses_it(tmp_path, capsys):
    cfg = _config(FIXTURES / "deepseek_v3") | {"quantization_config": {
        "quant_method": "modelopt", "quant_algo": "NVFP4", "kv_cache_quant_algo": "NVFP4"}}
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    refused(capsys, "kv", str(d), words="an NVFP4 KV cache (kv_cache_quant_algo) on MLA: vLLM refuses it")


@pytest.mark.parametrize("algo, words", [("W4A8_AWQ", "ModelOpt quant_algo 'W4A8_AWQ' is not modelled"),
                                         ("MIXED_PRECISION", "ModelOpt quant_algo 'MIXED_PRECISION'")])
def test_modelopt_weight_formats_not_modelled_are_refused(tmp_path, capsys, algo, words):
    d = tmp_path / "m"
    d.mkdir()
    shutil.copy(FIXTURES / "llama" / "config.json", d / "config.json")
    (d / "hf_quant_config.json").write_text(json.dumps({"producer": {"name": "modelopt"},
                                                         "quantization": {"quant_algo": algo}}))
    refused(capsys, "kv", str(d), words=words)
    with pytest.raises(SpecError, match="not modelled"):
        load_spec(str(d))
