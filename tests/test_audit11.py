"""The eleventh audit's findings (the user-facing surface: the CLI, `import mlacalc`, the schema): each test fails
before its fix."""

import json

import pytest

import mlacalc
from mlacalc.spec import load_spec

from helpers import refused, run

# Llama-3.1-8B's config.json (meta-llama/Llama-3.1-8B), the keys the reader needs
LLAMA_CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
                "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
                "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False,
                "torch_dtype": "bfloat16", "max_position_embeddings": 131072}


# --- a config.json read from inside its own folder is named by the folder ---------------------------------------------
# `cd Llama-3.1-8B && mlacalc kv config.json` (or `mlacalc kv .`) took the name from Path("config.json").parent.name,
# which is "": the table was titled "KV cache: " and --json said "model": "".

@pytest.mark.parametrize("arg", ["config.json", ".", "./config.json"])
def test_config_json_in_the_working_folder_is_named_by_the_folder(capsys, tmp_path, monkeypatch, arg):
    folder = tmp_path / "Llama-3.1-8B"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_CONFIG), encoding="utf-8")
    monkeypatch.chdir(folder)
    code, out, err, _ = run(capsys, "kv", arg, "--json")
    assert code == 0 and err == "", err
    assert json.loads(out)["model"] == "Llama-3.1-8B"                  # was ""
    code, out, _, _ = run(capsys, "kv", arg)
    assert code == 0 and out.startswith("KV cache: Llama-3.1-8B\n")
    assert mlacalc.load_spec(arg).name == "Llama-3.1-8B"


@pytest.mark.parametrize("value", ["''", "'   '"])
def test_a_blank_model_name_is_refused_like_a_missing_one(capsys, value):
    # `name: ""` in a spec file passed the "is required and may not be empty" check (only null was caught)
    refused(capsys, "kv", "llama-3.1-8b", "--set", f"name={value}", words="name: may not be empty or blank")
    with pytest.raises(mlacalc.SpecError, match="name: may not be empty"):
        load_spec("llama-3.1-8b", [f"name={value}"])
