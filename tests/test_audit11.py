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


# --- the JSON Schema takes what `specs show` prints ---------------------------------------------------------------
# `specs show MODEL` prints every field, `linear_attention: null` and `quantization: null` among them, and the loader
# reads that back; `mlacalc schema` typed both as "object", so an editor flagged the shown spec of 29 of the 31
# built-in models (saved and edited, as the README suggests) on those lines.

@pytest.mark.parametrize("field", ["linear_attention", "quantization"])
def test_schema_allows_null_where_the_spec_does(capsys, field):
    code, out, _, _ = run(capsys, "schema")
    prop = json.loads(out)["properties"][field]
    assert code == 0 and prop["type"] == ["object", "null"]           # was "object"
    code, out, _, _ = run(capsys, "specs", "show", "llama-3.1-8b", "--json")
    shown = json.loads(out)
    assert code == 0 and shown[field] is None                         # printed as null, and read back:
    assert load_spec("llama-3.1-8b", [f"{field}=null"]) == load_spec("llama-3.1-8b")


def test_every_null_a_shown_builtin_spec_holds_is_one_the_schema_allows(capsys):
    code, out, _, _ = run(capsys, "schema")
    schema = json.loads(out)

    def nulls_refused(shown: dict, sch: dict, where: str = "") -> list[str]:
        bad = []
        for key, value in shown.items():
            prop = sch["properties"][key]
            if value is None and "null" not in prop["type"]:
                bad.append(where + key)
            elif isinstance(value, dict):
                bad += nulls_refused(value, prop, f"{where}{key}.")
        return bad

    for name in ("llama-3.1-8b", "deepseek-v3", "qwen3-next-80b-a3b", "gpt-oss-120b"):
        code, out, _, _ = run(capsys, "specs", "show", name, "--json")
        assert code == 0 and nulls_refused(json.loads(out), schema) == [], name


# --- weights --json: the per-GPU total leaves the MTP modules apart, as the model's total and the table do ----------
# weight_bytes_total (626.92 GiB for DeepSeek-V3) leaves its MTP module apart, as papers count; weight_bytes_per_gpu
# included it, so that one GPU held more than the whole model (637.73 GiB at tp 1) and at tp 8 ep 8 the JSON said
# 80.66 GiB where the table's per-GPU total said 79.29 GiB.

def test_weights_json_per_gpu_total_is_the_tables_mtp_apart(capsys):
    code, out, _, _ = run(capsys, "weights", "deepseek-v3", "--json")
    one = json.loads(out)
    assert code == 0 and one["weight_bytes_per_gpu"] == one["weight_bytes_total"]     # one GPU holds the model
    assert one["weight_bytes_mtp_per_gpu"] == one["weight_bytes_mtp"]
    code, out, _, _ = run(capsys, "weights", "deepseek-v3", "--tp", "8", "--ep", "8", "--json")
    r = json.loads(out)
    per_gpu = r["per_gpu_bytes"]
    assert r["weight_bytes_per_gpu"] == per_gpu["total"] - per_gpu["mtp"]
    assert round(r["weight_bytes_per_gpu"] / 2**30, 2) == 79.29                         # was 80.66
    assert round(r["weight_bytes_mtp_per_gpu"] / 2**30, 2) == 1.37
    code, out, _, _ = run(capsys, "weights", "deepseek-v3", "--tp", "8", "--ep", "8")
    total = next(line for line in out.splitlines() if line.startswith("│ total"))
    assert total.rstrip("│ ").endswith("79.29 GiB")
    api = mlacalc.weights("deepseek-v3", parallel=mlacalc.Parallelism(tp=8, ep=8)).to_json()
    assert api["weight_bytes_per_gpu"] == r["weight_bytes_per_gpu"]


# --- sweep: one card or one value given twice under two spellings ---------------------------------------------------
# The sweep refused `--gpu h100,h100` and `--context 4k,4k` but compared spellings only: an alias and its card
# (h100 is h100-sxm) or 4k and 4096 swept every row twice.

@pytest.mark.parametrize("flag,value,words", [
    ("--gpu", "h100,h100-sxm", "--gpu: 'h100' and 'h100-sxm' are the same GPU"),
    ("--gpu", "H200,h200-sxm", "--gpu: 'H200' and 'h200-sxm' are the same GPU"),
    ("--context", "4k,4096", "--context: '4k' and '4096' are the same value"),
    ("--batch", "1,1.0", "--batch: '1' and '1.0' are the same value"),
    ("--gpus", "1,01", "--gpus: '1' and '01' are the same value"),
])
def test_sweep_refuses_one_value_given_twice_in_two_spellings(capsys, flag, value, words):
    args = {"--gpu": "h100-sxm", "--context": "4k", "--batch": "1", "--gpus": "1"} | {flag: value}
    refused(capsys, "sweep", "llama-3.1-8b", *[x for kv in args.items() for x in kv], words=words)


def test_sweep_still_runs_distinct_values_once_each(capsys):
    code, out, _, _ = run(capsys, "sweep", "llama-3.1-8b", "--gpu", "h100,h200", "--context", "4k,8k", "--batch",
                          "1", "--gpus", "1", "--json")
    rows = json.loads(out)["rows"]
    assert code == 0 and len(rows) == 2 * 2
    assert len({(r["gpu"], r["context"]) for r in rows}) == 4


# --- a YaRN-extended config.json: the context limit is what YaRN extends it to --------------------------------------
# Qwen2.5-7B-Instruct's model card: "add to config.json: rope_scaling {factor: 4.0, original_max_position_embeddings:
# 32768, type: yarn}" for 131,072 tokens; max_position_embeddings stays 32,768. vLLM derives max_model_len as
# original_max_position_embeddings x factor = 32,768 x 4 = 131,072; mlacalc took 32,768, so `fit` capped the longest
# context there ("model limit") and `kv --context 128k` warned that it exceeded the model's limit.

QWEN25_7B = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
             "intermediate_size": 18944, "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
             "vocab_size": 152064, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
             "max_position_embeddings": 32768, "sliding_window": 131072, "use_sliding_window": False}


@pytest.mark.parametrize("key,rope", [
    ("rope_scaling", {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"}),
    ("rope_scaling", {"factor": 4.0, "original_max_position_embeddings": 32768, "rope_type": "yarn"}),
    ("rope_parameters", {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768,
                         "rope_theta": 1000000.0}),                                  # transformers 5's key
])
def test_yarn_rope_scaling_extends_the_context_limit(capsys, tmp_path, key, rope):
    path = tmp_path / "Qwen2.5-7B-Instruct" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(QWEN25_7B | {key: rope}), encoding="utf-8")
    assert load_spec(str(path)).max_context == 32768 * 4 == 131072                   # was 32,768
    code, out, err, _ = run(capsys, "kv", str(path), "--context", "128k", "--json")
    assert code == 0 and err == ""                                                   # was a warning past 32,768
    code, out, _, _ = run(capsys, "fit", str(path), "--gpu", "h200", "--json")
    f = json.loads(out)["fits"][0]
    assert code == 0 and f["context_limit"] == 131072 and f["usable_context"] == min(f["max_context"], 131072)


def test_rope_scaling_that_is_not_yarn_keeps_max_position_embeddings(tmp_path):
    # Llama-3.1's llama3 scaling is already inside its max_position_embeddings (131,072 = 8,192 x 16); linear and
    # dynamic scaling and a YaRN block without its original length leave the limit as written
    for rope in ({"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 8192},
                 {"type": "linear", "factor": 4.0}, {"type": "yarn", "factor": 4.0}, "yarn"):
        path = tmp_path / "config.json"
        path.write_text(json.dumps(QWEN25_7B | {"rope_scaling": rope}), encoding="utf-8")
        assert load_spec(str(path)).max_context == 32768, rope
