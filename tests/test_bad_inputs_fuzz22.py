"""Bad inputs found by the twenty-second fuzz round (bench/fuzz_cli.py's generators plus a differential pass: each
scalar key of every tests/fixtures/hf config set to null, a bool, a string, a fraction, 0, -1, a list or a mapping,
the result compared with the unmutated file). Each test fails before its fix."""

import json

import pytest

from mlacalc.kv import kv_report
from mlacalc.spec import load_spec

from helpers import HF_FIXTURES, fixture_config, fixture_variant, refused, write_config


# --- a key given as null is not the class default a key left out takes ---------------------------------------------
# transformers' config classes keep their arguments as given (DbrxConfig: self.n_layers = n_layers), so a null builds
# no model; a key left out takes the class default. The reader filled both with the default: DBRX with
# "n_layers": null was read as DbrxConfig's 24 layers, Gemma-3-27B's "head_dim": null as 256.

@pytest.mark.parametrize("fixture,inner,key,default", [
    ("dbrx_instruct", None, "n_layers", 24),                 # DbrxConfig(n_layers=24); the file says 40
    ("dbrx_instruct", None, "vocab_size", 32000),
    ("gemma_3_27b", "text_config", "head_dim", 256),         # Gemma3TextConfig(head_dim=256); the file says 128
    ("gemma_3_1b", None, "num_attention_heads", 8),
    ("olmo_1b", None, "hidden_size", 4096),                  # OlmoConfig(hidden_size=4096); the file says 2048
    ("falcon_mamba_7b", None, "num_hidden_layers", 32),
    ("nemotron_4_340b_base", None, "num_hidden_layers", 32),
])
def test_a_null_size_with_a_class_default_is_refused(capsys, tmp_path, fixture, inner, key, default):
    cfg = fixture_config(fixture)
    (cfg[inner] if inner else cfg)[key] = None
    refused(capsys, "weights", write_config(tmp_path, cfg),
            words=f"{key} is null, which its transformers config class keeps as None (no model is built from it); "
                  f"leave the key out for the class default {default}")


@pytest.mark.parametrize("block,key,default", [("attn_config", "kv_n_heads", 1), ("ffn_config", "moe_num_experts", 4)])
def test_a_null_in_dbrxs_blocks_is_refused(capsys, tmp_path, block, key, default):
    cfg = fixture_config("dbrx_instruct")
    cfg[block][key] = None
    refused(capsys, "kv", write_config(tmp_path, cfg),
            words=f"{block}.{key} is null, which its transformers config class keeps as None")


def test_a_size_left_out_still_takes_the_class_default(tmp_path):
    # DbrxConfig(n_layers=24): the file without the key is the 24-layer model transformers builds
    s = load_spec(fixture_variant(tmp_path, "dbrx_instruct", n_layers=...))
    assert s.num_layers == 24


def test_jambas_null_kv_heads_are_the_query_heads(tmp_path):
    """JambaConfig.__init__: ``if num_key_value_heads is None: num_key_value_heads = num_attention_heads``.
    Jamba-1.5-Mini (32 layers, attention at i % 8 == 4: 4 layers, 32 heads of 4096 / 32 = 128) with a null was read as
    the class default 8 K/V heads: 4 x 2 x 8 x 128 x 2 B = 16,384 B a token, where transformers builds 32."""
    s = load_spec(fixture_variant(tmp_path, "jamba_1_5_mini", num_key_value_heads=None))
    assert s.attention.num_kv_heads == 32
    assert kv_report(s, context=1).per_token.total == 4 * 2 * 32 * 128 * 2 == 65_536
    left_out = load_spec(fixture_variant(tmp_path, "jamba_1_5_mini", num_key_value_heads=...))
    assert left_out.attention.num_kv_heads == 8                  # JambaConfig(num_key_value_heads=8)


def test_falcon_h1s_null_kv_heads_are_the_query_heads(tmp_path):
    """FalconH1Config.__post_init__: a null num_key_value_heads is num_attention_heads. Falcon-H1-7B (44 layers, 12
    heads of 128, every layer attention beside its Mamba-2) was read as the class default 8 K/V heads: 44 x 2 x 8 x
    128 x 2 B = 180,224 B a token, where transformers builds 12: 44 x 2 x 12 x 128 x 2 = 270,336."""
    s = load_spec(fixture_variant(tmp_path, "falcon_h1_7b", num_key_value_heads=None))
    assert s.attention.num_kv_heads == 12
    assert kv_report(s, context=1).per_token.total == 44 * 2 * 12 * 128 * 2 == 270_336


# --- float options and dtype bit counts: other scripts' digits ------------------------------------------------------
# click's float type and dtype_bits called Python's float(), which reads "٣" (Arabic-Indic) and "８" (full-width) as
# numbers: `train --reserve-gib ٣` reserved 3 GiB, `kv --kv-dtype ٣` priced a 3-bit cache. The integer options and
# counts already refused them (tests/test_cli_ints.py).

@pytest.mark.parametrize("value", ["٣", "８", "٠.٥"])
@pytest.mark.parametrize("args", [("kv", "deepseek-v3", "--kv-bits"), ("fit", "llama-3.1-8b", "--gpu-mem-util"),
                                  ("train", "llama-3.1-8b", "--reserve-gib")])
def test_float_options_refuse_other_scripts_digits(capsys, args, value):
    refused(capsys, *args, value, words=f"{args[-1]}': {value!r} is not a number in ASCII digits")


@pytest.mark.parametrize("args", [("kv", "deepseek-v3", "--kv-dtype"), ("weights", "deepseek-v3", "--weight-dtype"),
                                  ("kv", "qwen3-next-80b-a3b", "--state-dtype")])
def test_dtype_bit_counts_refuse_other_scripts_digits(capsys, args):
    refused(capsys, *args, "٣", words=f"{args[-1]}: unknown dtype '٣'")
    refused(capsys, "kv", "deepseek-v3", "--set", "dtypes.kv=８", words="dtypes.kv: unknown dtype '８'")


def test_float_options_and_bit_counts_still_take_ascii_numbers(capsys):
    from helpers import run

    code, out, _, _ = run(capsys, "kv", "deepseek-v3", "--kv-bits", "6", "--json")
    assert code == 0 and json.loads(out)["kv_bits"] == 6.0
    code, out, _, _ = run(capsys, "kv", "deepseek-v3", "--kv-dtype", "6", "--json")
    assert code == 0 and json.loads(out)["kv_bits"] == 6.0


# --- python -m mlacalc.cli --------------------------------------------------------------------------------------------

def test_python_m_mlacalc_cli_runs_the_cli(tmp_path):
    """cli.py had no ``__main__`` block: ``python -m mlacalc.cli kv nope`` printed nothing and exited 0. Run from
    outside the repository: ``-m`` puts the working folder first on sys.path, and the repo root's mlacalc/ lacks
    the sub-packages a wheel maps in (mlacalc.model_specs), as .ci/run notes."""
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "mlacalc.cli", *args], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)

    r = run("kv", "nope")
    assert (r.returncode, r.stdout) == (2, "") and r.stderr.startswith("error: nope: unknown model"), r
    r = run("--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage: mlacalc"), r


# --- --as gqa:N: the count in ASCII digits ----------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["gqa:٨", "gqa:８", "gqa:1_6", "gqa: 8"])
def test_as_gqa_count_refuses_other_digits(capsys, target):
    """int() read "gqa:٨" (Arabic-Indic 8) as 8 K/V heads and "gqa:1_6" as 16; the title then said "as gqa:٨"."""
    refused(capsys, "kv", "llama-3.1-8b", "--as", target, words=f"--as: gqa needs a KV head count in ASCII digits, "
                                                               f"e.g. gqa:8, got {target!r}")
    refused(capsys, "kv", f"llama-3.1-8b@as={target}", words="--as: gqa needs a KV head count in ASCII digits")


def test_as_gqa_count_in_ascii_still_converts():
    # Llama-3.1-8B: 32 query heads of 128 over 32 layers; gqa:4 -> 32 x 2 x 4 x 128 x 2 B = 65,536 B a token
    s = load_spec("llama-3.1-8b", as_attention="gqa:4")
    assert s.attention.num_kv_heads == 4
    assert kv_report(s, context=1).per_token.total == 32 * 2 * 4 * 128 * 2 == 65_536


# --- StepFun's moe_layers_enum: ASCII digits between commas ---------------------------------------------------------
# vLLM (Step3TextDecoderLayer) reads [int(i) for i in moe_layers_enum.strip().split(",")]. The reader checked each
# piece with str.isdigit(), which passes "²" (superscript two): int() then raised a ValueError traceback; a blank
# string was read as no MoE layer at all (a dense model) where vLLM's int("") fails.

@pytest.mark.parametrize("fixture", ["step3", "step_3_5_flash"])
@pytest.mark.parametrize("enum", ["4,²", "٤,5", "", " "])
def test_step_moe_layers_enum_refuses_other_digits_and_blank(capsys, tmp_path, fixture, enum):
    cfg = fixture_config(fixture)
    inner = cfg["text_config"] if "moe_layers_enum" in cfg.get("text_config", {}) else cfg
    inner["moe_layers_enum"] = enum
    refused(capsys, "weights", write_config(tmp_path, cfg),
            words="moe_layers_enum must name layers as whole numbers separated by commas")


# --- COLUMNS and LINES that str.isdigit() passes and int() refuses ----------------------------------------------------

@pytest.mark.parametrize("variable,value", [("COLUMNS", "²"), ("LINES", "²"),
                                            ("COLUMNS", "١٠٠")])
def test_a_terminal_size_in_other_digits_is_ignored(capsys, monkeypatch, variable, value):
    """mlacalc.report.console checked COLUMNS with str.isdigit() and rich checks COLUMNS and LINES so: "²" (superscript
    two) passes, and int() then raised a ValueError traceback (`COLUMNS=² mlacalc kv llama-3.1-8b`). Such a size now
    counts as unset, as COLUMNS=0 and COLUMNS=abc already did. Llama-3.1-8B at 4,096 tokens: 32 layers x 2 x 8 heads x
    128 x 2 B x 4,096 = 512 MiB."""
    from helpers import run

    monkeypatch.setenv(variable, value)
    code, out, err, _ = run(capsys, "kv", "llama-3.1-8b")
    assert 32 * 2 * 8 * 128 * 2 * 4096 == 512 * 2**20
    assert code == 0 and "KV cache: llama-3.1-8b" in out and "512.00 MiB" in out, (out, err)


def test_a_hardware_arch_in_other_digits_is_refused(capsys, tmp_path):
    """ARCH_RE's \\d took "sm_٩٠" (Arabic-Indic 90): the file loaded with an arch no kernel table names, and the
    expected time called itself an estimate for an uncalibrated "sm_٩٠"."""
    base = (tmp_path / "h100.yaml")
    text = open(__file__.rsplit("/", 1)[0] + "/../model_specs/hardware/h100-sxm.yaml", encoding="utf-8").read()
    base.write_text(text.replace("arch: sm_90", "arch: sm_٩٠"), encoding="utf-8")
    refused(capsys, "roofline", "deepseek-v3", "--gpu", str(base),
            words="arch: expected a compute capability like sm_90 or an AMD target like gfx942, got 'sm_٩٠'")


# --- quantization_config values no loader takes, read as something else ----------------------------------------------

@pytest.mark.parametrize("key,value,words", [
    # vLLM's GPTQConfig divides each input width by the group size (gptq.py: input_size_per_partition % group_size):
    # 0 and null were read as per channel (GPTQ's -1), Gemma-2-27B-GPTQ at 15,384,314,880 B
    ("group_size", 0, "quantization_config.group_size must be -1 (per channel) or at least 1, got 0"),
    ("group_size", None, "quantization_config.group_size is null; -1 is per channel, or leave the key out for 128"),
])
def test_gptq_group_size_zero_or_null_is_refused(capsys, tmp_path, key, value, words):
    cfg = fixture_config("gemma_2_27b_gptq")
    cfg["quantization_config"][key] = value
    refused(capsys, "weights", write_config(tmp_path, cfg), words=words)


@pytest.mark.parametrize("fixture", ["kimi_k2_thinking", "llama_3_8b_instruct_fp8_kv"])
def test_compressed_tensors_null_symmetric_is_refused(capsys, tmp_path, fixture):
    """compressed-tensors' QuantizationArgs (pydantic, symmetric: bool = True) refuses a null; the reader took it as
    false and counted an asymmetric zero point on every quantized weight group."""
    cfg = fixture_config(fixture)
    cfg["quantization_config"]["config_groups"]["group_0"]["weights"]["symmetric"] = None
    refused(capsys, "weights", write_config(tmp_path, cfg),
            words="compressed-tensors weights.symmetric must be true or false, got None")


def test_gptq_per_channel_and_left_out_group_size_still_read(tmp_path):
    cfg = fixture_config("gemma_2_27b_gptq")
    cfg["quantization_config"]["group_size"] = -1
    assert load_spec(write_config(tmp_path, cfg)).quantization.group_size is None        # per channel
    del cfg["quantization_config"]["group_size"]
    assert load_spec(write_config(tmp_path, cfg)).quantization.group_size == 128         # GPTQ's default


# --- a YaRN rope_scaling whose factor or base is no size -------------------------------------------------------------

def _qwen3_yarn(tmp_path, **yarn) -> str:
    """Qwen3 with the YaRN block its model card adds: 32,768 positions x factor 4 = 131,072 tokens."""
    cfg = fixture_config("qwen3")
    cfg["max_position_embeddings"] = 32768
    cfg["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768, **yarn}
    return write_config(tmp_path, cfg)


def test_yarn_extends_the_context(tmp_path):
    assert load_spec(_qwen3_yarn(tmp_path)).max_context == 32768 * 4 == 131_072


@pytest.mark.parametrize("yarn,words", [
    # "4" was skipped without a word: the context limit fell back to 32,768
    ({"factor": "4"}, "rope_scaling.factor of a yarn RoPE must be a positive number, got '4'"),
    ({"factor": -4}, "rope_scaling.factor of a yarn RoPE must be a positive number, got -4"),
    ({"factor": True}, "rope_scaling.factor of a yarn RoPE must be a positive number, got True"),
    # 32768.5 positions were read as a limit of int(32768.5 x 4) = 131,074 tokens
    ({"original_max_position_embeddings": 32768.5},
     "rope_scaling.original_max_position_embeddings must be a whole number of at least 1, got 32768.5"),
    ({"original_max_position_embeddings": 0},
     "rope_scaling.original_max_position_embeddings must be a whole number of at least 1, got 0"),
])
def test_a_yarn_factor_or_base_that_is_no_size_is_refused(capsys, tmp_path, yarn, words):
    refused(capsys, "fit", _qwen3_yarn(tmp_path, **yarn), words=words)


# --- numbers only YAML 1.1 reads: leading-zero octal, base 60, binary ------------------------------------------------
# PyYAML (YAML 1.1) read num_layers: 010 as 8 layers (YAML 1.2 reads 10), 1:00 as 60 and 0b1010 as 10; each was
# taken without a word, in a spec file, a hardware file and a --set value alike.

@pytest.mark.parametrize("value,kind", [("010", "an octal"), ("-010", "an octal"), ("1:00", "a base-60"),
                                        ("1:30.5", "a base-60"), ("0b1010", "a binary")])
def test_yaml11_only_numbers_are_refused(capsys, tmp_path, value, kind):
    words = f"{value!r} (line 1) is {kind} number in YAML 1.1; write it in decimal digits without a leading zero"
    refused(capsys, "kv", "llama-3.1-8b", "--set", f"num_layers={value}", words=words)
    spec = tmp_path / "spec.yaml"
    text = open(__file__.rsplit("/", 1)[0] + "/../model_specs/llama-3.1-8b.yaml", encoding="utf-8").read()
    assert "num_layers: 32\n" in text
    spec.write_text(text.replace("num_layers: 32\n", f"num_layers: {value}\n"), encoding="utf-8")
    refused(capsys, "kv", str(spec), words=f"{value!r} (line ")


@pytest.mark.parametrize("value,layers", [("10", 10), ("0x0A", 10), ("1_0", 10), ("1e1", 10)])
def test_decimal_hex_and_exponent_numbers_still_read(value, layers):
    assert load_spec("llama-3.1-8b", [f"num_layers={value}"]).num_layers == layers


@pytest.mark.parametrize("value", ["'010'", '"1:00"', "!!str 010"])
def test_quoted_yaml11_numbers_are_text(capsys, value):
    refused(capsys, "kv", "llama-3.1-8b", "--set", f"num_layers={value}", words="num_layers: expected a whole number")


def test_an_empty_kernel_coefficient_block_is_refused(capsys, tmp_path):
    """kernels: {auto: {}} priced the attention with every default coefficient while roofline --json called the
    coefficients "calibrated" (mlacalc.expected.coefficient_basis: the backend is listed)."""
    text = open(__file__.rsplit("/", 1)[0] + "/../model_specs/hardware/h100-sxm.yaml", encoding="utf-8").read()
    hw = tmp_path / "hw.yaml"
    hw.write_text(text + "kernels: {auto: {}}\n", encoding="utf-8")
    refused(capsys, "roofline", "deepseek-v3", "--gpu", str(hw),
            words="kernels.auto: no coefficients given; leave the backend out for the defaults")
    hw.write_text(text + "kernels: {auto: {mma_eff: 0.7}}\n", encoding="utf-8")      # one given: calibrated
    from helpers import run

    code, out, _, _ = run(capsys, "roofline", "deepseek-v3", "--gpu", str(hw), "--json")
    assert code == 0 and json.loads(out)["expected"]["coefficients"] == "calibrated"


def test_a_null_hf_quant_config_beside_config_json_is_refused(capsys, tmp_path):
    """DeepSeek-R1-0528-NVFP4 keeps its quantization in hf_quant_config.json (ModelOpt 0.29 and before); a file holding
    null was taken for no file, and the NVFP4 checkpoint priced at bf16 without a word."""
    import shutil

    src = HF_FIXTURES / "deepseek_r1_0528_nvfp4"
    shutil.copy(src / "config.json", tmp_path / "config.json")
    assert "quantization_config" not in fixture_config("deepseek_r1_0528_nvfp4")
    (tmp_path / "hf_quant_config.json").write_text("null")
    refused(capsys, "weights", str(tmp_path), words="hf_quant_config.json: holds null, not ModelOpt's mapping")


@pytest.mark.parametrize("fixture,key,default", [
    # Cohere2MoeConfig(num_experts=8): North-Mini-Code-1.0's 128 experts were read as 8, 30.48 B -> 3.29 B parameters
    ("north_mini_code_1_0", "num_experts", 8),
    ("jamba_1_5_mini", "num_experts", 16),                   # JambaConfig(num_experts=16); the file's is 16 too
])
def test_a_null_expert_count_with_a_class_default_is_refused(capsys, tmp_path, fixture, key, default):
    cfg = fixture_config(fixture)
    cfg[key] = None
    refused(capsys, "weights", write_config(tmp_path, cfg),
            words=f"{key} is null, which its transformers config class keeps as None (no model is built from it); "
                  f"leave the key out for the class default {default}")


def test_a_null_shared_expert_count_is_still_none(tmp_path):
    """DeepseekV2MoE builds shared experts only ``if config.n_shared_experts is not None``: a null is none, as read
    before (DeepSeek-V3: 61 - 3 = 58 MoE layers lose one shared expert of 3 x 7168 x 2048 weights each)."""
    from mlacalc.params import weights_report as weights

    base = weights(load_spec(fixture_variant(tmp_path, "deepseek_v3"))).params.total
    s = load_spec(fixture_variant(tmp_path, "deepseek_v3", n_shared_experts=None))
    assert base - weights(s).params.total == 58 * 3 * 7168 * 2048


@pytest.mark.parametrize("fixture,inner,key", [
    # DeepseekV3DecoderLayer / vLLM deepseek_v2.py: layer_idx >= config.first_k_dense_replace, a TypeError on None;
    # the null was read as 0 dense layers, DeepSeek-V3 at 703.80 B parameters for 671.03
    ("deepseek_v3", None, "first_k_dense_replace"),
    ("glm_4_5_air", None, "first_k_dense_replace"),
    # Llama4TextConfig: moe_layers = range(step - 1, L, step); a null was read as MoE on every layer (Maverick 784.26 B
    # for 400.71), and a null intermediate_size_mlp as the experts' width for the dense layers
    ("llama_4_maverick", "text_config", "interleave_moe_layer_step"),
    ("llama_4_maverick", "text_config", "intermediate_size_mlp"),
])
def test_a_null_the_decoder_computes_with_is_refused(capsys, tmp_path, fixture, inner, key):
    cfg = fixture_config(fixture)
    (cfg[inner] if inner else cfg)[key] = None
    refused(capsys, "weights", write_config(tmp_path, cfg),
            words=f"{key} is null, which the decoder cannot be built with; give a whole number or leave the key out")


def test_an_unwritable_stderr_keeps_the_exit_code(monkeypatch):
    """`mlacalc kv nope 2>/dev/full`: printing the error line raised OSError (no space left on device) inside the error
    handler, and the run ended with a traceback and exit code 1 instead of the usage error's 2."""
    import errno
    import io

    from mlacalc.cli import main

    class Full(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("sys.stderr", Full())
    with pytest.raises(SystemExit) as e:
        main(["kv", "nope"])
    assert e.value.code == 2
