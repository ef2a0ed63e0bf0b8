"""An outside review that ran real Hugging Face config.json files through every command: what it found silent or
unexplained, each test failing before its fix. Numbers are worked out by hand in the test."""

import json
from pathlib import Path

import pytest

from mlacalc.capacity import fit
from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware
from mlacalc.hf import KNOWN
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec, spec_from_dict, spec_to_dict

from helpers import refused, run

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
LLAMA = FIXTURES / "llama" / "config.json"          # Llama-3.1-8B: 32 layers, 8 K/V heads of 128, untied


def _config(tmp_path, **changes) -> str:
    d = json.loads(LLAMA.read_text())
    d.update(changes)
    f = tmp_path / "config.json"
    f.write_text(json.dumps(d), encoding="utf-8")
    return str(f)


def _flat(text: str) -> str:
    """Output with its line breaks and runs of spaces as one space: captions wrap at 100 columns."""
    return " ".join(text.split())


# --- 1. an unknown model_type with llama-style fields was sized as llama without a word -----------------------------

UNKNOWN = "model_type frobnicator is unknown; read as a standard decoder (llama-style fields"


@pytest.mark.parametrize("cmd", [["kv"], ["weights"], ["fit"], ["roofline"], ["train"], ["compare", "llama-3.1-8b"]])
def test_unknown_model_type_is_sized_with_a_warning_on_stderr(capsys, tmp_path, cmd):
    path = _config(tmp_path, model_type="frobnicator")
    args = [cmd[0], path, *cmd[1:]] if cmd[0] != "compare" else ["compare", cmd[1], path]
    code, out, err, _ = run(capsys, *args)
    assert code == 0 and out
    lines = [line for line in err.splitlines() if UNKNOWN in line]
    assert len(lines) == 1 and lines[0].startswith("warning: ")


@pytest.mark.parametrize("cmd", ["kv", "weights", "fit", "roofline", "train"])
def test_unknown_model_type_json_stays_pure_and_lists_the_warning(capsys, tmp_path, cmd):
    code, out, err, _ = run(capsys, cmd, _config(tmp_path, model_type="frobnicator"), "--json")
    d = json.loads(out)                      # stdout is one JSON object and nothing else; the line is on stderr
    d = d["fits"][0] if cmd == "fit" else d
    assert code == 0 and UNKNOWN in err
    assert len(d["warnings"]) == 1 and d["warnings"][0].startswith(UNKNOWN)


def test_unknown_model_type_is_still_sized_as_llama(capsys, tmp_path):
    # K and V of 8 heads x 128 at 2 bytes on 32 layers: 32 x 2 x 8 x 128 x 2 = 131,072 B a token, as llama's
    assert 32 * 2 * 8 * 128 * 2 == 131_072
    for model_type in ("frobnicator", "llama"):
        code, out, err, _ = run(capsys, "kv", _config(tmp_path, model_type=model_type), "--json")
        assert code == 0 and json.loads(out)["kv_bytes_per_token"] == 131_072
    # a known model_type: no warning, and the JSON is as it was (no "warnings" key)
    assert UNKNOWN.split(";")[0] not in err and "warnings" not in json.loads(out)


@pytest.mark.parametrize("family", ["granite_3_3_8b", "smollm3_3b"])
def test_families_read_as_llama_on_purpose_get_no_warning(capsys, family):
    # Granite and SmolLM3 are Llama's decoder under their own names, checked against their classes
    # (tests/test_hf_configs.py): the generic reader takes them, and they are not unknown
    code, out, err, _ = run(capsys, "kv", str(FIXTURES / family), "--json")
    assert code == 0 and "warnings" not in json.loads(out) and "unknown" not in err
    assert load_spec(str(FIXTURES / family)).warnings == ()


def test_unknown_key_error_names_the_count_and_a_close_match_not_every_model_type(capsys, tmp_path):
    # Jamba's hybrid keys under a new name: refused on its first unknown key. The line listed all the known
    # model_types, some 1,100 characters on one line
    path = _config(tmp_path, model_type="jamba2", attn_layer_offset=4)
    refused(capsys, "kv", path, words=f"key attn_layer_offset is not one this tool understands, so the architecture "
                                      f"cannot be sized ({len(KNOWN)} model_types are known")
    _, _, err, _ = run(capsys, "kv", path)
    assert "did you mean jamba?" in err and "afmoe" not in err and len(err) < 300


# --- 2. a VLM's vision encoder was left out of weights and fit silently -------------------------------------------

MINISTRAL = FIXTURES / "ministral_3_3b"     # mistral3: a ministral3 text_config beside a 24-layer pixtral vision_config
VISION = "vision encoder and projector (vision_config): not counted"


def test_vlm_weights_say_the_vision_encoder_is_not_counted(capsys):
    # the text decoder alone: 26 layers of q 3072x4096, k and v 3072x1024, o 4096x3072, a SwiGLU of 3 x 3072 x 9216
    # and two norms of 3072; the tied embedding of 131,072 x 3072 once; the final norm
    layer = 3072 * 4096 + 2 * 3072 * 1024 + 4096 * 3072 + 3 * 3072 * 9216 + 2 * 3072
    text = 26 * layer + 131_072 * 3072 + 3072
    assert text == 3_429_006_336
    code, out, _, _ = run(capsys, "weights", str(MINISTRAL), "--json")
    d = json.loads(out)
    assert code == 0 and d["params_total"] == text and d["excluded"] == [VISION]
    code, out, _, _ = run(capsys, "weights", str(MINISTRAL))
    assert code == 0 and VISION in _flat(out)


def test_vlm_fit_says_the_vision_encoder_is_not_counted(capsys):
    code, out, _, _ = run(capsys, "fit", str(MINISTRAL), "--json")
    assert code == 0 and json.loads(out)["fits"][0]["excluded"] == [VISION]
    code, out, _, _ = run(capsys, "fit", str(MINISTRAL))
    assert code == 0 and VISION in _flat(out)


def test_a_text_only_model_excludes_nothing(capsys):
    # the JSON of a model with no tower is left as it was
    for cmd in ("weights", "fit"):
        code, out, _, _ = run(capsys, cmd, str(LLAMA), "--json")
        d = json.loads(out)
        assert code == 0 and "excluded" not in (d["fits"][0] if cmd == "fit" else d)
    assert load_spec(str(LLAMA)).excluded == ()


def test_a_wrapper_trimmed_to_its_text_config_still_excludes_its_tower():
    # Gemma-3n's fixture keeps its text_config alone; the checkpoint still holds the audio and vision towers
    assert load_spec(str(FIXTURES / "gemma_3n_e2b")).excluded == (
        "the audio and vision towers and their embedders (embed_audio, embed_vision) are left out",)


def test_excluded_and_warnings_are_one_line_texts():
    base = spec_to_dict(load_spec("llama-3.1-8b"))
    assert spec_from_dict(base | {"excluded": ["vision tower"]}).excluded == ("vision tower",)
    for bad in ("vision tower", ["two\nlines"], [""], [7]):
        with pytest.raises(SpecError, match="excluded"):
            spec_from_dict(base | {"excluded": bad})


# --- 3. kv: per token x context was not per sequence, with no word on the window -----------------------------------

def test_kv_footnote_says_the_window_caps_the_sequence(capsys):
    # StarCoder2-7B: 32 layers, 4 K/V heads of 4608 / 36 = 128, every layer sliding over 4,096 tokens
    per_token = 32 * 2 * 4 * 128 * 2
    assert per_token == 65_536                                   # 64 KiB a token
    assert per_token * 4096 == 256 * 2**20                       # a sequence holds 4,096 tokens a layer: 256 MiB
    assert per_token * 32_768 == 2 * 2**30                       # not 32,768 of them: 2 GiB
    path = str(FIXTURES / "starcoder2_7b")
    code, out, _, _ = run(capsys, "kv", path, "--context", "32k", "--json")
    d = json.loads(out)
    assert code == 0 and (d["kv_bytes_per_token"], d["kv_bytes_per_sequence"]) == (65_536, 256 * 2**20)
    code, out, _, _ = run(capsys, "kv", path, "--context", "32k")
    assert code == 0 and "per token is the uncapped figure (every layer keeping every token); per sequence caps " \
                         "32 layers at their 4,096-token window" in _flat(out)


def test_kv_footnote_names_each_window_or_chunk_and_only_below_the_context(capsys):
    # Gemma-2-9B: 21 of its 42 layers slide over 4,096 tokens; Llama-4-Scout: 36 of 48 layers attend 8,192-token chunks
    _, out, _, _ = run(capsys, "kv", str(FIXTURES / "gemma2"), "--context", "32k")
    assert "per sequence caps 21 layers at their 4,096-token window" in _flat(out)
    _, out, _, _ = run(capsys, "kv", "llama-4-scout", "--context", "32k")
    assert "per sequence caps 36 layers at their 8,192-token chunk" in _flat(out)
    # at 4,096 tokens the window holds the whole sequence: per token x context is per sequence, no footnote
    _, out, _, _ = run(capsys, "kv", str(FIXTURES / "starcoder2_7b"), "--context", "4096")
    assert "uncapped" not in out


def test_kv_json_is_unchanged_by_the_footnote(capsys):
    _, windowed, _, _ = run(capsys, "kv", str(FIXTURES / "starcoder2_7b"), "--context", "32k", "--json")
    _, full, _, _ = run(capsys, "kv", str(LLAMA), "--context", "32k", "--json")
    assert set(json.loads(windowed)) == set(json.loads(full))


# --- 4. fit: a negative KV budget with no reason ---------------------------------------------------------------------

H100 = load_hardware("h100-sxm")
# Llama-3.1-70B: 80 layers of q and o 8192x8192, k and v 8192x1024, a SwiGLU of 3 x 8192 x 28672 and two norms of
# 8192; untied embedding and head of 128,256 x 8192; the final norm
LAYER_70B = 2 * 8192 * 8192 + 2 * 8192 * 1024 + 3 * 8192 * 28672 + 2 * 8192
PARAMS_70B = 80 * LAYER_70B + 2 * 128_256 * 8192 + 8192
NORMS_70B = 80 * 2 * 8192 + 8192        # held whole by every tensor-parallel rank


def test_fit_says_why_the_budget_is_negative_and_which_tp_holds_the_weights():
    assert PARAMS_70B == 70_553_706_496
    usable = 0.9 * H100.memory_bytes                               # 0.9 x 81,561.6 MiB
    f = fit(load_spec("llama-3.1-70b"), H100, 32768)
    assert f.weights == 2 * PARAMS_70B == 141_107_412_992           # bf16 on one GPU
    # the budget's meaning is kept: usable - weights - workspace, negative
    assert f.kv_budget == pytest.approx(usable - 141_107_412_992 - f.workspace.total) and f.kv_budget < 0
    s = f.shortfall
    assert s["short_bytes"] == -f.kv_budget and s["weights_alone"] is True
    # at --tp 2 a GPU holds half of every matrix and all the norms: (70,553,706,496 - 1,318,912) / 2 + 1,318,912
    # parameters, 70,555,025,408 B, under the 76,971,182,653 B usable
    at_2 = 2 * ((PARAMS_70B - NORMS_70B) / 2 + NORMS_70B)
    assert at_2 == 70_555_025_408 < usable
    assert s["tp_for_weights"] == 2
    assert "the weights alone (131.42 GiB a GPU) exceed the usable 71.69 GiB by 59.73 GiB: no KV cache fits; " \
           "try --tp 2" in s["reason"]
    assert (141_107_412_992 - usable) / 2**30 == pytest.approx(59.73, abs=0.005)
    f2 = fit(load_spec("llama-3.1-70b"), H100, 32768, Parallelism(tp=2))
    assert f2.weights == at_2 and f2.kv_budget > 0 and f2.shortfall is None


def test_fit_skips_a_tp_the_heads_cannot_take():
    # GLM-4.5-Air at bf16: three GPUs would hold its weights by bytes, but 3 ranks cannot share its 8 K/V heads
    spec = load_spec(str(FIXTURES / "glm_4_5_air"))
    f = fit(spec, H100, 32768)
    assert f.weights / 3 < 0.9 * H100.memory_bytes
    with pytest.raises(SpecError, match="cannot share 8 KV heads"):
        fit(spec, H100, 32768, Parallelism(tp=3))
    assert f.shortfall["tp_for_weights"] == 4 and "try --tp 4" in f.shortfall["reason"]


def test_fit_cli_prints_the_reason_and_json_holds_it(capsys):
    code, out, _, _ = run(capsys, "fit", "llama-3.1-70b", "--json")
    d = json.loads(out)["fits"][0]
    assert code == 0 and d["memory_per_gpu"]["kv_budget"] < 0 and d["max_batch"] == 0
    assert d["shortfall"]["short_bytes"] == -d["memory_per_gpu"]["kv_budget"] and d["shortfall"]["tp_for_weights"] == 2
    code, out, _, _ = run(capsys, "fit", "llama-3.1-70b")
    assert code == 0 and "the weights alone (131.42 GiB a GPU) exceed the usable 71.69 GiB" in _flat(out)
    # where the budget is not negative the JSON is as it was
    _, out, _, _ = run(capsys, "fit", "llama-3.1-70b", "--tp", "2", "--json")
    assert "shortfall" not in json.loads(out)["fits"][0]


def test_fit_names_the_workspace_when_the_weights_alone_fit():
    # Llama-3.1-8B's 16.06 GB of weights fit; a stated 70 GiB workspace does not beside them
    f = fit(load_spec("llama-3.1-8b"), H100, 32768, workspace_bytes=70 * 2**30)
    assert f.shortfall["weights_alone"] is False and f.shortfall["tp_for_weights"] is None
    assert "and the workspace (70.00 GiB) exceed the usable 71.69 GiB" in f.shortfall["reason"]
