"""A spec's own ``dtypes.kv`` selects the same KV layout ``--kv-dtype`` does, in every calculator that sizes the cache.

Before, ``dtypes.kv: int4`` (a YAML, ``--set``, ``NAME@dtypes.kv=int4``) was priced as flat 4-bit values: 1024 B a
token-layer on Llama-3.1-8B where ``--kv-dtype int4`` (LMDeploy's scale and zero per head and token) gives 1088, and
an MLA latent in int4, which ``--kv-dtype`` refuses, was accepted. Layouts: :mod:`mlacalc.attention.quant`."""

import json

import pytest

from mlacalc import api
from mlacalc.errors import SpecError
from mlacalc.spec import load_spec

from helpers import refused, run

# Llama-3.1-8B config: 32 layers, 8 KV heads of head_dim 128
LAYERS, KV_HEADS, HEAD_DIM = 32, 8, 128
INT4_LAYER = KV_HEADS * HEAD_DIM * 2 // 2 + KV_HEADS * 2 * (2 + 2)     # 1024 B of values + 64 B scale and zero = 1088


def _llama(kv: str):
    return load_spec("llama-3.1-8b", [f"dtypes.kv={kv}"])


def test_dtypes_kv_int4_is_lmdeploys_layout_like_the_flag():
    # K and V, 8 heads of 128 at half a byte: 1024 B; a 2-byte scale and a 2-byte zero per head, for K and V: 64 B
    assert INT4_LAYER == 1088
    r = api.kv_cache(_llama("int4"), 1)
    assert r.per_token_layer.total == INT4_LAYER              # 1024 before: flat 4 bits
    assert r.per_token_layer.scales == 64
    assert r.kv_format == "int4"
    assert r.per_token.total == LAYERS * INT4_LAYER
    assert r.per_token_layer.total == api.kv_cache("llama-3.1-8b", 1, kv_dtype="int4").per_token_layer.total


@pytest.mark.parametrize("kv, per_layer", [
    ("int8", 8 * 128 * 2 + 8 * 2 * 4),         # 2048 B of values + 64 B: 2112
    ("fp4", 8 * 128 * 2 // 2 + 2 * 8 * 128 // 16),      # 1024 B + one scale byte per 16 values: 1152
    # vLLM's nvfp4: head_size // 2 + head_size // 16 bytes a head, K and V: 2 x 8 x (64 + 8) = 1152
    ("nvfp4", 2 * 8 * (128 // 2 + 128 // 16)),
    ("fp8", 8 * 128 * 2),                       # flat: one scale per layer, no bytes a token
    ("4", 8 * 128 * 2 // 2),                    # a bit count: flat values, no scales (1024)
])
def test_every_kv_name_means_the_same_in_a_spec_as_on_the_flag(kv, per_layer):
    assert api.kv_cache(_llama(kv), 1).per_token_layer.total == per_layer
    flag = float(kv) if kv.isdigit() else kv
    assert api.kv_cache("llama-3.1-8b", 1, kv_dtype=flag).per_token_layer.total == per_layer


def test_a_yaml_spec_with_dtypes_kv_int4_through_the_cli(tmp_path, capsys):
    import yaml

    from mlacalc.spec import raw_spec

    raw = raw_spec("llama-3.1-8b") | {"name": "llama-int4", "dtypes": {"weights": "bf16", "kv": "int4"}}
    path = tmp_path / "llama-int4.yaml"
    path.write_text(yaml.safe_dump(raw))
    code, out, err, _ = run(capsys, "kv", str(path), "--context", "1", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert (r["kv_bytes_per_token_layer"], r["kv_format"]) == (INT4_LAYER, "int4")
    # the flag overrides the spec's dtype: bf16 is 8 x 128 x 2 x 2 B; --kv-bits 4 is flat 4 bits, no scales
    code, out, err, _ = run(capsys, "kv", str(path), "--context", "1", "--kv-dtype", "bf16", "--json")
    assert json.loads(out)["kv_bytes_per_token_layer"] == 4096
    code, out, err, _ = run(capsys, "kv", str(path), "--context", "1", "--kv-bits", "4", "--json")
    assert (json.loads(out)["kv_bytes_per_token_layer"], json.loads(out)["kv_format"]) == (1024, None)


def test_fit_sweep_roofline_and_compare_size_the_spec_layout(capsys):
    spec = _llama("int4")
    # fit: 32k tokens x 32 layers x 1088 B = 1,140,850,688 B a sequence, the largest batch as --kv-dtype int4 gives
    f = api.fit(spec, "h100-sxm", context=32768)
    flag = api.fit("llama-3.1-8b", "h100-sxm", context=32768, kv_dtype="int4")
    assert f.kv_bytes_per_seq == 32768 * LAYERS * INT4_LAYER
    assert (f.max_batch, f.max_context) == (flag.max_batch, flag.max_context)
    # the roofline reads 1088 B for 2048 elements: 4.25 bits an element, scales included (4 before)
    r = api.roofline(spec, batch=8, context=8192)
    assert r.kv_bits == INT4_LAYER * 8 / (2 * KV_HEADS * HEAD_DIM) == 4.25
    core = r.op("attn_core").op
    bf16 = api.roofline("llama-3.1-8b", batch=8, context=8192).op("attn_core").op
    assert core.kv_bytes == pytest.approx(bf16.kv_bytes * 4.25 / 16)
    # expected time: the same kernel-aware time as the flag's (the decode shape reads the same bytes)
    assert r.expected_time_s == api.roofline("llama-3.1-8b", kv_dtype="int4", batch=8, context=8192).expected_time_s
    # sweep: the per-sequence KV of the csv row
    code, out, err, _ = run(capsys, "sweep", "llama-3.1-8b@dtypes.kv=int4", "--context", "32k", "--batch", "1",
                            "--gpus", "1", "--format", "csv")
    assert code == 0, err
    header, row = out.splitlines()[:2]
    assert float(dict(zip(header.split(","), row.split(",")))["kv_bytes_per_seq"]) == 32768 * LAYERS * INT4_LAYER
    # compare: each model at its own dtypes.kv (the bf16 baseline 32 x 4096 B a token, the int4 one 32 x 1088)
    code, out, err, _ = run(capsys, "compare", "llama-3.1-8b", "llama-3.1-8b@dtypes.kv=int4", "--json")
    assert code == 0, err
    tokens = [m["kv_bytes_per_token"] for m in json.loads(out)["models"]]
    assert tokens == [LAYERS * 4096, LAYERS * INT4_LAYER]


def test_fp8_ds_from_the_spec_is_flashmlas_656_byte_row_plus_the_indexer():
    # DeepSeek-V3.2: 512 fp8 latent values + 4 fp32 scales (one per 128) + 64 bf16 RoPE values = 656 B; the indexer's
    # 128 fp8 values and one fp32 scale = 132 B
    r = api.kv_cache(load_spec("deepseek-v3.2", ["dtypes.kv=fp8-ds"]), 1)
    assert r.per_token_layer.total == 512 + 4 * 4 + 64 * 2 + 128 + 4 == 788
    assert r.per_token_layer.total == api.kv_cache("deepseek-v3.2", 1, kv_dtype="fp8-ds").per_token_layer.total


@pytest.mark.parametrize("model, kv, words", [
    ("deepseek-v3", "int4", "dtypes.kv: int4 is LMDeploy's per-head, per-token scaled layout; an MLA latent has no "
                            "heads"),
    ("deepseek-v3", "int8", "dtypes.kv: int8 is LMDeploy's"),
    ("deepseek-v3", "nvfp4", "dtypes.kv: nvfp4 is vLLM's per-head NVFP4 KV cache, which vLLM refuses for MLA"),
    ("deepseek-v3.2", "fp4", "dtypes.kv: fp4: DSA's sparse kernels read bf16 or fp8-ds rows"),
    ("llama-3.1-8b", "fp8-ds", "dtypes.kv: fp8-ds is the cache layout of DSA"),
    ("llama-3.1-8b", "int3", "dtypes.kv: unknown dtype 'int3'"),
])
def test_the_refusals_of_the_flag_apply_to_the_spec_field(capsys, model, kv, words):
    # at load: the spec field names itself; the same layouts --kv-dtype refuses (an MLA latent in int4 was priced
    # as flat 4 bits)
    with pytest.raises(SpecError, match="dtypes.kv"):
        load_spec(model, [f"dtypes.kv={kv}"])
    refused(capsys, "kv", f"{model}@dtypes.kv={kv}", words=words)
    refused(capsys, "fit", model, "--set", f"dtypes.kv={kv}", words=words)


def test_a_layout_the_spec_names_is_checked_in_the_cache_mode_asked(capsys):
    # fp8-ds is a compressed (latent) row: a naive cache has none, and the error names the spec's field, not the
    # --kv-dtype flag nobody gave
    refused(capsys, "kv", "deepseek-v3.2@dtypes.kv=fp8-ds", "--cache", "naive",
            words="dtypes.kv: fp8-ds needs the compressed cache")
    # MLA decompressed per head is a conventional cache: int4 has heads there, through the flag
    r = api.kv_cache("deepseek-v3", 1, kv_dtype="int4", cache="naive").per_token_layer
    assert r.scales == 128 * 2 * (2 + 2)        # 128 heads, K and V, scale + zero of 2 B each
