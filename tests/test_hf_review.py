"""An outside review that ran real Hugging Face config.json files through every command: what it found silent or
unexplained, each test failing before its fix. Numbers are worked out by hand in the test."""

import json
from pathlib import Path

import pytest

from mlacalc.errors import SpecError
from mlacalc.hf import KNOWN
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
