"""Seeded, deterministic fuzz of the ``mlacalc`` CLI with hostile files and flag values (a lab script: not a test).

    python bench/fuzz_cli.py                       # 3,000 cases, seed 0 (about 2-4 minutes on 2 cores)
    python bench/fuzz_cli.py --cases 300 --seed 7  # a quicker look at other cases
    python bench/fuzz_cli.py --show 3              # print up to 3 full examples per failure signature
    python bench/fuzz_cli.py --only hf             # one generator: hf, hf_raw, yaml, yaml_raw, flags
    python bench/fuzz_cli.py --drops               # also: every key of every fixture dropped in turn (about 30 s)
    python bench/fuzz_cli.py --cases 0 --swaps     # only: every number set to null, a bool, text, a fraction
    python bench/fuzz_cli.py --only hf --fixture deepseek_ocr   # hf cases on chosen fixtures only

Every case runs ``mlacalc.cli.main(argv)`` in this process (stdout and stderr captured, ``SystemExit`` caught) over
inputs from five generators:

- ``hf``: a real Hugging Face config.json from ``tests/fixtures/hf`` (about 30 across families) with 1-3 fields
  mutated: deleted, null, a string, negative, 0, a float for an int, 10**30, NaN/Infinity, a bool, a list, a
  mapping, an empty list; per-layer lists cut short or grown; ``quantization_config``, ``text_config``,
  ``rope_scaling`` and ``layer_types`` replaced with plausible-looking junk (and, in a fixture with a
  ``language_config``, it, its ``use_mla`` and its ``topk_method``); now and then under ``--tp``, ``--ep``, ``--pp``
  or ``--dp-attention``; ``--fixture`` (repeatable) draws from the named fixtures alone;
- ``hf_raw``: files no config.json holds (not UTF-8, empty, a JSON array or scalar, thousands of digits), a folder
  without config.json, a symlink loop;
- ``yaml``: a built-in spec (``model_specs/*.yaml``) mutated the same way; ``yaml_raw``: alias bombs, tabs,
  duplicate keys, a non-mapping top level;
- ``flags``: the main commands over built-in models and the fixtures of the state-space, parallel-mixer, KV-sharing
  and StepFun families (``FLAG_FIXTURES``) with hostile option values (negative, 0, huge, floats,
  unit suffixes, unknown GPUs and dtypes, conflicting parallelism, empty and very long strings, missing paths).

A run keeps the contract when it (a) exits 0 and prints something, or (b) exits 1 or 2 with exactly one line on
stderr and no traceback. Anything else is a failure, grouped by signature: the exception type and the innermost
``mlacalc`` frame (file:function), or the broken rule (``exit 2, 3 lines on stderr``, ``timeout``). A run that exits
0 with ``--json`` is also checked for silent nonsense: a negative or zero count of bytes, parameters, FLOPs,
times, heads or layers where the model has them (``nonsense: <key>``).

``--drops`` adds a differential pass, listed apart and not counted as failures: each top-level (and text_config or
language_config) key of every fixture in ``tests/fixtures/hf`` deleted alone; where the config still loads but ``weights`` gives other
parameter counts, the reader filled the key in. That is right where it takes the transformers class default
(``num_key_value_heads`` = heads, hf.DEFAULTS) and a silent wrong number where it guesses (an MoE config without its
expert count was read as dense); each listed key is for a person to judge.

``--swaps`` adds a second differential pass, listed apart too: each number and switch of every fixture (top level,
decoder config, and the mappings one level under them) set to null, a bool, its text and a fraction; where the config
still loads with other parameter counts or KV bytes, the reader took the value (or a default for it). It found the
nulls read as class defaults that transformers keeps as None (6355d9f) and Jamba's null K/V heads.

Prints a summary (cases per generator, failures by signature with one example each) and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HF = ROOT / "tests" / "fixtures" / "hf"
SPECS = ROOT / "model_specs"

HF_PICKS = ["llama", "llama_3_3_70b", "llama_3_2_11b_vision", "llama_4_scout", "qwen3", "qwen3_moe",
            "qwen3_next_80b_a3b",
            "qwen3_vl_30b_a3b", "qwen2_5_vl_32b_fp8", "deepseek_v2", "deepseek_v3", "deepseek_v32",
            "deepseek_r1_0528_nvfp4", "kimi_k2", "kimi_linear_48b_a3b", "gemma_3_27b", "gemma2", "gemma_2_27b_gptq",
            "gpt_oss_20b", "minimax_m1", "minimax_m2", "nemotron_h_8b", "bamba_9b", "glm_4_5_air", "glm_4_7_flash",
            "glm_5", "longcat_flash", "mixtral", "granite_4_0_h_tiny", "hunyuan_a13b", "ernie_4_5_21b_a3b",
            "exaone_4_0_32b", "falcon_40b", "mlx_smollm2_360m_6bit", "llama_3_8b_instruct_fp8_kv", "dbrx_instruct",
            "olmo_3_7b", "minicpm3_4b", "phi_3_5_mini", "gpt2", "hunyuan_large", "gemma_3n_e2b", "step_3_5_flash",
            "step3", "jamba_1_5_mini", "falcon_mamba_7b", "mamba_codestral_7b", "falcon_h1_0_5b", "falcon_h1_7b",
            "falcon_h1_34b", "lfm2_1_2b", "lfm2_350m", "lfm2_8b_a1b", "pythia_1b", "pythia_12b_deduped",
            "gpt_neox_20b", "redpajama_incite_3b", "starcoder", "gpt_bigcode_santacoder", "deepseek_ocr",
            "glm_4_1v_9b_thinking", "glm_ocr"]
HF_PICKS += ["llama_3_3_nemotron_super_49b", "llama_3_1_nemotron_ultra_253b"]      # nemotron-nas: ffn.layer_widths
HF_PICKS += ["openelm_270m", "openelm_450m", "openelm_1_1b_instruct", "openelm_3b"]   # openelm: attention.layer_heads
HF_PICKS += ["mistral_small_4_119b"]      # mistral4: DeepSeek-V3's MLA and MoE under a new name (assembled fixture)
HF_PICKS += ["phi_2", "phi_1_5", "internlm_20b"]   # phi: one LayerNorm, biases; internlm: a llama alias
SPEC_PICKS = ["deepseek-v3", "deepseek-v3.2", "llama-3.1-8b", "qwen3-next-80b-a3b", "kimi-linear-48b-a3b",
              "gemma-3-27b", "gpt-oss-20b", "mixtral-8x7b", "glm-5", "minicpm3-4b", "llama-4-scout", "variant-mla",
              "deepseek-v2-lite", "qwen3-235b-a22b"]
# fixtures of the families read since d8245cd, also given to the flags generator: its built-in specs have no model
# without attention or FFN, no parallel mixers, no K/V sharing tail, so --pp and --dp-attention never met them there
FLAG_FIXTURES = [str(HF / n) for n in ("falcon_mamba_7b", "mamba_codestral_7b", "jamba_1_5_mini", "falcon_h1_7b",
                                       "lfm2_1_2b", "gemma_3n_e2b", "step_3_5_flash", "step3")]
FLAG_FIXTURES += [str(HF / n) for n in ("llama_3_3_nemotron_super_49b", "llama_3_1_nemotron_ultra_253b")]
FLAG_FIXTURES += [str(HF / n) for n in ("openelm_270m", "openelm_1_1b_instruct")]     # heads of their own a layer
MODEL_COMMANDS = ["kv", "weights", "roofline", "fit", "train", "specs show", "compare", "sweep", "specs validate"]

NAN, INF = float("nan"), float("inf")
ODD = [None, "x", "", "12", "bf16", -1, -128, 0, 1.5, 10**30, -(10**30), NAN, INF, -INF, True, False, [1, 2], [],
       {"a": 1}, {}, 2**63, 1e-300, 0.5, "fp8", "yarn", [None], ["full_attention"]]
QUANT = [None, "fp8", [], {}, {"quant_method": "fp8"}, {"quant_method": "fp8", "weight_block_size": [0, 128]},
         {"quant_method": "fp8", "weight_block_size": "x"}, {"quant_method": "gptq", "bits": 3, "group_size": -1},
         {"quant_method": "gptq", "bits": 0}, {"quant_method": "awq", "bits": 4, "group_size": 0},
         {"quant_method": "compressed-tensors", "config_groups": None},
         {"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": None, "targets": ["Linear"]}}},
         {"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": -4}}}},
         {"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 4, "group_size": 0,
                                                                                    "strategy": "group"}}}},
         {"quant_method": "modelopt", "quant_algo": "NVFP4"}, {"quant_method": "modelopt", "quant_algo": 7},
         {"quant_method": "mxfp4"}, {"quant_method": "bitsandbytes", "load_in_4bit": "yes"},
         {"quant_method": NAN}, {"bits": 4, "group_size": 64}, {"quant_method": "fp8", "ignored_layers": "lm_head"},
         {"quant_method": "fp8", "modules_to_not_convert": [1, None]}, {"group_size": 0, "bits": 4}]
ROPE = [None, "yarn", [], {}, {"type": "yarn", "factor": -1}, {"rope_type": "yarn", "factor": NAN},
        {"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 0},
        {"rope_type": "yarn", "factor": 10**30, "original_max_position_embeddings": -5},
        {"rope_type": "llama3", "factor": 8}, {"rope_type": "linear", "factor": 0}, {"rope_type": None},
        {"rope_type": "default", "mrope_section": [1, 2]}, {"factor": "x"}]
# deepseek_vl_v2's language_config and the two keys that choose its decoder family (mlacalc.hf._deepseek_vl2_decoder)
LANGUAGE = {"language_config": [None, {}, [], "x", {"model_type": "deepseek_v2"}, {"num_hidden_layers": 0}],
            "use_mla": [None, "false", "true", 0, 1, True, False, []],
            "topk_method": ["noaux_tc", "greedy", None, 7, "", NAN]}
LAYER_TYPES = [None, "full_attention", [], ["full_attention"], ["nonsense"] * 4, [0, 1], [None], {"a": 1},
               ["sliding_attention"] * 100_0]


def _paths(node, prefix=()) -> list[tuple]:
    """Every key path (and list index path, for lists of up to 64 items) in ``node``."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append(prefix + (k,))
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list) and len(node) <= 64:
        for i, v in enumerate(node):
            out.append(prefix + (i,))
            out += _paths(v, prefix + (i,))
    return out


def _parent(d, path):
    node = d
    for k in path[:-1]:
        node = node[k]
    return node


def _odd(rng: random.Random):
    """One of ODD, copied: the lists in ODD are shared, and a later mutation that writes into one (a path inside
    it) could make it contain itself (seed 21: a RecursionError in _paths, the fuzzer's own bug)."""
    return copy.deepcopy(rng.choice(ODD))


def _odd_value(rng: random.Random, old):
    """A value of the wrong kind or range for ``old``."""
    choice = rng.random()
    if isinstance(old, bool):
        return _odd(rng)
    if isinstance(old, int) and choice < 0.4:
        return rng.choice([-old, 0, old + 0.5, old * 10**20, -1, 1, float(old), str(old), old + 1, old - 1])
    if isinstance(old, float) and choice < 0.4:
        return rng.choice([-old, 0, NAN, INF, 1e308, 0.0, str(old), int(old) if math.isfinite(old) else 7])
    if isinstance(old, list) and choice < 0.5:
        n = len(old)
        return rng.choice([old[: n // 2], old + old[-1:] * 3, old[:-1], old[1:], list(reversed(old)),
                           [_odd(rng)] + old[1:], old[:-1] + [None]] if n else [[1], [None], ["x"]])
    if isinstance(old, str) and choice < 0.4:
        return rng.choice([old.upper(), old + "x", "", "none", old * 50, "x" * 10_000])
    return _odd(rng)


def _inner(d: dict) -> str | None:
    """The key of the decoder's nested config: text_config, else language_config (deepseek_vl_v2), else None."""
    return next((k for k in ("text_config", "language_config") if isinstance(d.get(k), dict)), None)


def mutate(rng: random.Random, d: dict, specials: dict) -> list[str]:
    """Mutate ``d`` in place 1-3 times; returns a description of each mutation."""
    done = []
    for _ in range(rng.randint(1, 3)):
        if specials and rng.random() < 0.3:
            key = rng.choice(sorted(specials))
            inner = _inner(d)
            where = d[inner] if inner and rng.random() < 0.5 else d
            value = copy.deepcopy(rng.choice(specials[key]))
            where[key] = value
            done.append(f"{key}={_short(value)}")
            continue
        paths = _paths(d)
        if not paths:
            break
        path = rng.choice(paths)
        parent = _parent(d, path)
        old = parent[path[-1]]
        op = rng.random()
        if op < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
            done.append(f"del {'.'.join(map(str, path))}")
        elif op < 0.25 and isinstance(parent, list):
            del parent[path[-1]]
            done.append(f"del {'.'.join(map(str, path))}")
        else:
            parent[path[-1]] = new = _odd_value(rng, old)
            done.append(f"{'.'.join(map(str, path))}={_short(new)}")
    return done


def _short(v) -> str:
    t = repr(v)
    return t if len(t) < 60 else t[:57] + "..."


# ---------------------------------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------------------------------

NUM = ["0", "-1", "1", "2", "3", "7", "8", "64", "1.5", "1e3", "4k", "4K", "1m", "1g", "128k", "1e400", "nan", "inf",
       "-inf", "", " ", "9" * 40, "10**30", "0x10", "1_000", "1,", "4kb", "0.0", "-0", "+1", "k", "999999999999"]
BIG_NUM = NUM + ["2147483648", "9223372036854775808", "1" + "0" * 400]
FLAG_VALUES = {
    "--context": NUM, "--batch": NUM, "--seq": NUM, "--micro-batch": NUM, "--q-tokens": NUM,
    "--tp": BIG_NUM, "--pp": BIG_NUM, "--dp": BIG_NUM, "--ep": BIG_NUM, "--cp": BIG_NUM, "--zero": NUM,
    "--block-size": BIG_NUM, "--image-tokens": BIG_NUM, "--kv-bits": NUM + ["0.5", "100", "1e-9", "6"],
    "--kv-dtype": ["bf16", "fp8", "int4", "int8", "fp4", "nvfp4", "fp8-ds", "fp64", "", "BF16", "e4m3", "x" * 300,
                   "fp8_e4m3", "int3", "4", "0"],
    "--weight-dtype": ["bf16", "fp8", "int4", "fp64", "", "nvfp4", "mxfp4", "int2", "0", "-8", "x" * 300],
    "--state-dtype": ["bf16", "fp32", "fp8", "", "int4", "0x10", "16", "-1"],
    "--gpu": ["h100-sxm", "h200", "b200", "a100-80gb", "l40s", "h100", "nope", "", "/nonexistent.yaml", "x" * 5000,
              "h100-sxm,h200", "../../etc/passwd", ".", "/dev/null"],
    "--gpus": ["1", "8", "1,8", "0", "-1", "", ",", "1,,8", "3", "9999999", "1e9"],
    "--phase": ["decode", "prefill", "train", "", "DECODE", "x"],
    "--cache": ["compressed", "naive", "", "x"], "--mla-form": ["absorbed", "decompressed", "", "x"],
    "--recompute": ["none", "selective", "full", "mla-latent", "", "x"], "--precision": ["mixed", "bf16", "fp8", ""],
    "--attention-kernel": ["fused", "eager", "", "x"], "--convention": ["native", "megatron", "x"],
    "--gpu-mem-util": ["0.9", "0", "1", "1.5", "-0.1", "nan", "inf", "1e-9", "", "90%"],
    "--workspace": ["4G", "0", "512M", "-1G", "1e30", "nan", "", "1T", "1.5G", "G"],
    "--workspace-tokens": ["8k", "0", "-1", "1e30", ""], "--reserve-gib": ["2", "0", "-2", "nan", "1e30"],
    "--engine": ["mlacalc", "vllm", "sglang", "", "x"], "--max-num-seqs": BIG_NUM, "--non-torch": NUM,
    "--format": ["table", "csv", "json", "", "x"],
    "--set": ["num_layers=2", "num_layers=0", "num_layers=-1", "attention.num_heads=0", "attention.head_dim=nan",
              "attention.kv_lora_rank=1e30", "dtypes.kv=fp8", "dtypes.kv=x", "=", "x", "num_layers", "a.b.c=1",
              "attention=null", "ffn.num_experts=0", "ffn=[]", "num_layers=" + "9" * 5000, "vocab_size=-1",
              "attention.num_kv_heads=3", "layer_types=[]", "image_tokens=-1", "max_context=0"],
    "--as": ["mha", "mqa", "gqa:8", "gqa:3", "gqa:0", "gqa:-1", "gqa:", "gqa", "mla", "x", "", "gqa:1e30"],
    "--kernel": ["auto", "triton", "sdpa", "x"], "--layers": NUM, "--reps": NUM, "--out": ["/nonexistent/x.json"],
}
VALID = {"--context": ["1", "4k", "32k", "128k"], "--batch": ["1", "8", "64", "256"], "--seq": ["1", "4k"],
         "--micro-batch": ["1", "4"], "--q-tokens": ["1", "2", "4"], "--tp": ["1", "2", "4", "8", "16"],
         "--pp": ["1", "2", "4"], "--dp": ["1", "2", "8"], "--ep": ["1", "2", "8", "64"], "--cp": ["1", "2"],
         "--zero": ["0", "1", "2", "3"], "--block-size": ["16", "64"], "--image-tokens": ["0", "1601"],
         "--kv-bits": ["6", "8"], "--gpu": ["h100-sxm", "h200", "b200"], "--gpus": ["1", "8", "1,8"],
         "--gpu-mem-util": ["0.9", "0.5"], "--workspace": ["4G", "0"], "--engine": ["vllm", "sglang", "mlacalc"],
         "--max-num-seqs": ["1", "256"], "--non-torch": ["0", "1G"], "--layers": ["1", "2"],
         "--set": ["num_layers=2", "attention.kv_lora_rank=256", "dtypes.kv=fp8"], "--as": ["mha", "gqa:8"]}
BOOL_FLAGS = ["--sp", "--dp-attention", "--paged", "--json"]
COMMAND_FLAGS = {
    "kv": ["--context", "--batch", "--kv-dtype", "--kv-bits", "--cache", "--block-size", "--tp", "--pp", "--dp", "--ep",
           "--cp", "--image-tokens", "--state-dtype", "--set", "--as", "--sp", "--dp-attention"],
    "weights": ["--weight-dtype", "--tp", "--pp", "--dp", "--ep", "--cp", "--set", "--as", "--sp", "--dp-attention"],
    "roofline": ["--phase", "--batch", "--context", "--q-tokens", "--gpu", "--tp", "--ep", "--mla-form",
                 "--weight-dtype", "--kv-dtype", "--kv-bits", "--image-tokens", "--state-dtype", "--set", "--as",
                 "--paged", "--dp-attention", "--pp", "--cp"],
    "fit": ["--context", "--batch", "--gpu", "--tp", "--ep", "--q-tokens", "--weight-dtype", "--kv-dtype",
            "--gpu-mem-util", "--workspace", "--workspace-tokens", "--engine", "--max-num-seqs", "--non-torch",
            "--block-size", "--as", "--set", "--dp-attention", "--state-dtype"],
    "sweep": ["--context", "--batch", "--gpus", "--gpu", "--as", "--phase", "--q-tokens", "--ep", "--weight-dtype",
              "--kv-dtype", "--gpu-mem-util", "--engine", "--format", "--set", "--dp-attention"],
    "train": ["--micro-batch", "--seq", "--recompute", "--zero", "--tp", "--pp", "--dp", "--ep", "--cp", "--gpu",
              "--precision", "--attention-kernel", "--convention", "--reserve-gib", "--set", "--as", "--sp",
              "--dp-attention"],
    "compare": ["--context", "--batch", "--kv-dtype", "--kv-bits", "--image-tokens", "--state-dtype", "--set", "--as"],
    "specs show": ["--set", "--as"],
    "profile": ["--phase", "--batch", "--context", "--kernel", "--layers", "--q-tokens", "--tp", "--paged"],
    "bench kernels": ["--out"], "calibrate": ["--out", "--gpus"], "validate": ["--out", "--gpus"],
}
# Flags each command must accept as-is and output options that need no value.
REQUIRED = {"bench kernels": ["--out", "/tmp/mlacalc-fuzz-out.json"], "calibrate": ["--out", "/tmp/mlacalc-fuzz.yaml"],
            "validate": ["--out", "/tmp/mlacalc-fuzz-dir"]}


def flags_case(rng: random.Random, command: str) -> list[str]:
    argv = command.split()
    if command == "compare":
        argv += [rng.choice(SPEC_PICKS), rng.choice(SPEC_PICKS)]
    elif command not in REQUIRED:
        argv.append(rng.choice(SPEC_PICKS + FLAG_FIXTURES + ["nope", "", "/nonexistent/config.json", "x@num_layers=2",
                                             "llama-3.1-8b@", "deepseek-v3@as=mha", "deepseek-v3@num_layers=0"]))
    argv += REQUIRED.get(command, [])
    flags = COMMAND_FLAGS[command]
    for _ in range(rng.randint(1, 4)):
        f = rng.choice(flags)
        if f in BOOL_FLAGS:
            argv.append(f)
        elif f in VALID and rng.random() < 0.5:           # valid beside hostile: reach the deeper checks
            argv += [f, rng.choice(VALID[f])]
        else:
            argv += [f, rng.choice(FLAG_VALUES[f])]
    if command not in ("specs validate",) and rng.random() < 0.6:
        argv.append("--json")
    return argv


# ---------------------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------------------

def hf_case(rng: random.Random, tmp: Path, picks: list[str] = HF_PICKS) -> tuple[list[str], str]:
    name = rng.choice(picks)
    cfg = json.loads((HF / name / "config.json").read_text())
    specials = {"quantization_config": QUANT, "rope_scaling": ROPE, "layer_types": LAYER_TYPES,
                "text_config": [None, {}, [], "x", {"model_type": "llama"}, {"num_hidden_layers": 0}]}
    if isinstance(cfg.get("language_config"), dict):
        specials |= LANGUAGE
    lang = cfg.get("language_config")
    copies = [k for k in lang if k in cfg] if isinstance(lang, dict) else []
    what = mutate(rng, cfg, specials)
    if copies and isinstance(cfg.get("language_config"), dict) and rng.random() < 0.7:
        # DeepSeek-OCR keeps copies of language_config's keys at the top level, and a copy that disagrees is refused
        # (mlacalc.hf._deepseek_ocr_copies) before the decoder is read: most cases bring the copies along, so the
        # mutation reaches the reading
        for k in copies:
            if k in cfg["language_config"]:
                cfg[k] = copy.deepcopy(cfg["language_config"][k])
            else:
                cfg.pop(k, None)
        what.append("top-level copies kept in step")
    folder = tmp / f"hf{rng.randrange(10**9)}"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg, allow_nan=True))
    if rng.random() < 0.1:
        (folder / "hf_quant_config.json").write_text(json.dumps(rng.choice(
            [[], {}, {"quantization": None}, {"quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": 7}},
             {"quantization": {"quant_algo": "NVFP4", "group_size": 0}}, "x"])))
        what.append("+hf_quant_config.json")
    target = str(folder) if rng.random() < 0.5 else str(folder / "config.json")
    return _model_command(rng, target), f"{name}: {'; '.join(what)}"


def _model_command(rng: random.Random, target: str) -> list[str]:
    command = rng.choice(MODEL_COMMANDS)
    argv = command.split()
    if command == "compare":
        argv += [target, "llama-3.1-8b"] if rng.random() < 0.5 else ["llama-3.1-8b", target]
    else:
        argv.append(target)
    if command == "sweep":
        argv += ["--context", "4k,32k", "--batch", "1,8", "--format", "json"]
    elif command == "specs validate":
        pass
    else:
        if rng.random() < 0.3:
            f = rng.choice(["--tp", "--ep", "--pp", "--dp-attention"])
            if f == "--dp-attention" and f in COMMAND_FLAGS[command]:
                argv += ["--tp", "2", f]
            elif f in COMMAND_FLAGS[command]:
                argv += [f, rng.choice(["2", "8"])]
        argv.append("--json")
    return argv


def hf_raw_case(rng: random.Random, tmp: Path) -> tuple[list[str], str]:
    folder = tmp / f"raw{rng.randrange(10**9)}"
    folder.mkdir()
    base = json.loads((HF / rng.choice(HF_PICKS) / "config.json").read_text())
    kinds = {
        "latin1": b'{"model_type": "llama", "name": "\xe9\xff"}',
        "bom": b"\xef\xbb\xbf" + json.dumps(base).encode(),
        "utf16": json.dumps(base).encode("utf-16"),
        "empty": b"", "array": b"[1, 2, 3]", "scalar": b"42", "null": b"null", "string": b'"config"',
        "nan_top": b"NaN", "truncated": json.dumps(base).encode()[:-20],
        "digits": json.dumps(base).encode()[:-1] + b', "num_hidden_layers": ' + b"9" * 5000 + b"}",
        "float_digits": json.dumps(base).encode()[:-1] + b', "hidden_size": 1' + b"0" * 400 + b".0}",
        "dup": json.dumps(base).encode()[:-1] + b', "num_hidden_layers": -3}',
        "deep": b'{"text_config": ' * 5000 + b"{}" + b"}" * 5000,
        "nul": b'{"model_type": "llama\x00"}', "big_exp": json.dumps(base).encode()[:-1] + b', "rope_theta": 1e999}',
    }
    kind = rng.choice(sorted(kinds) + ["no_config", "loop", "dir_as_config"])
    if kind == "no_config":
        target = str(folder)
    elif kind == "loop":
        (folder / "config.json").symlink_to(folder / "config.json")
        target = str(folder if rng.random() < 0.5 else folder / "config.json")
    elif kind == "dir_as_config":
        (folder / "config.json").mkdir()
        target = str(folder)
    else:
        (folder / "config.json").write_bytes(kinds[kind])
        target = str(folder / "config.json") if rng.random() < 0.5 else str(folder)
    return _model_command(rng, target), f"hf_raw {kind}"


def yaml_case(rng: random.Random, tmp: Path) -> tuple[list[str], str]:
    name = rng.choice(SPEC_PICKS)
    d = yaml.safe_load((SPECS / f"{name}.yaml").read_text())
    specials = {"layer_types": LAYER_TYPES, "dtypes": [None, {}, {"kv": "x"}, {"weights": -1}, []],
                "attention": [None, {}, [], "mla", {"kind": "mla"}, {"kind": "x", "num_heads": 8}],
                "ffn": [None, {}, [], {"kind": "moe"}], "quantization": [None, {}, [], {"method": "x"}]}
    what = mutate(rng, d, specials)
    path = tmp / f"spec{rng.randrange(10**9)}.yaml"
    try:
        text = yaml.safe_dump(d, sort_keys=False, allow_unicode=True)
    except (ValueError, yaml.YAMLError):
        text = yaml.safe_dump({"bad": 1})
    path.write_text(text)
    return _model_command(rng, str(path)), f"{name}.yaml: {'; '.join(what)}"


def yaml_raw_case(rng: random.Random, tmp: Path) -> tuple[list[str], str]:
    base = (SPECS / f"{rng.choice(SPEC_PICKS)}.yaml").read_text()
    bomb = "\n".join(["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] +
                     [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)])
    kinds = {
        "bomb": bomb, "bomb_in_spec": base + "\n" + bomb.replace("a0:", "description: x\nzz0:"),
        "tabs": base.replace("  ", "\t", 3), "dup": base + "\nnum_layers: -3\n", "list": "- 1\n- 2\n",
        "scalar": "42\n", "text": "just text\n", "null": "null\n", "empty": "", "doc2": base + "\n---\n" + base,
        "anchor_self": "a: &a\n  b: *a\n", "merge": "<<: {num_layers: 2}\n" + base,
        "tag": "!!python/object:os.system {}\n",
        "binary_tag": "num_layers: !!binary aGVsbG8=\n" + base, "set": "num_layers: !!set {a, b}\n" + base,
        "timestamp": base + "\ndescription: 2024-01-01\n", "bytes": "\xff\xfe",
        "huge": base + "\nvocab_size: " + "9" * 5000 + "\n", "alias_key": "&k num_layers: 2\n" + base,
    }
    kind = rng.choice(sorted(kinds))
    path = tmp / f"raw{rng.randrange(10**9)}.yaml"
    path.write_bytes(kinds[kind].encode("utf-8", "surrogateescape") if kind != "bytes" else b"\xff\xfe\x00x")
    return _model_command(rng, str(path)), f"yaml_raw {kind}"


# ---------------------------------------------------------------------------------------------------------------
# Running and judging
# ---------------------------------------------------------------------------------------------------------------

class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def run(argv: list[str], limit_s: int) -> tuple[int | None, str, str, BaseException | None, float]:
    from mlacalc.cli import main

    out, err = io.StringIO(), io.StringIO()
    code, exc = None, None
    t0 = time.perf_counter()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit_s)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(argv))
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # noqa: BLE001 - a traceback is what this script looks for
        exc = e
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue(), exc, time.perf_counter() - t0


def _where(exc: BaseException) -> str:
    """The innermost frame in mlacalc (file:function), or the innermost frame at all."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/mlacalc/" in f.filename and "/bench/" not in f.filename]
    f = (ours or frames or [None])[-1]
    if f is None:
        return "?"
    return f"{Path(f.filename).name}:{f.name}"


SIGNED_KEYS = ("headroom", "margin", "delta", "diff", "change")   # a shortfall is negative by design
COUNT_KEYS = ("bytes", "params", "flops", "time_s", "_s", "heads", "layers", "tokens", "per_token", "total")


def nonsense(payload) -> str | None:
    """A key whose number is negative or non-finite, or a head/layer/hidden count of 0, in a --json result."""
    todo = [("", payload)]
    while todo:
        path, v = todo.pop()
        if isinstance(v, dict):
            todo.extend((f"{path}.{k}" if path else str(k), x) for k, x in v.items())
        elif isinstance(v, list):
            todo.extend((f"{path}[]", x) for x in v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            leaf = path.rsplit(".", 1)[-1].rstrip("[]")
            if isinstance(v, float) and not math.isfinite(v):
                return f"non-finite {path}"
            if v < 0 and any(k in leaf for k in COUNT_KEYS) and not any(k in leaf for k in SIGNED_KEYS):
                return f"negative {path}"
            if v == 0 and leaf in ("num_heads", "num_layers", "hidden_size", "head_dim", "vocab_size"):
                return f"zero {path}"
    return None


def judge(argv, code, out, err, exc, seconds, limit_s) -> str | None:
    """The failure signature of one run, or None when it keeps the contract."""
    if isinstance(exc, Timeout):
        return f"timeout > {limit_s} s"
    if exc is not None:
        return f"{type(exc).__name__} at {_where(exc)}"
    if "Traceback" in err or "Traceback" in out:
        return "traceback printed"
    if code == 0:
        if argv[:2] == ["specs", "validate"]:
            return None if out.strip() else "specs validate: no output"
        if not out.strip():
            return "exit 0 without output"
        if "--json" in argv or ("--format" in argv and "json" in argv):
            try:
                payload = json.loads(out)
            except ValueError:
                return "exit 0, --json stdout not one JSON document"
            bad = nonsense(payload)
            if bad:
                return "nonsense: " + _generalise(bad)
        return None
    if code in (1, 2):
        if argv[:2] == ["specs", "validate"] and code == 2 and not err:
            return None if len(out.splitlines()) >= 1 else "specs validate: no line"
        lines = err.splitlines()
        if len(lines) != 1:
            return f"exit {code}, {len(lines)} lines on stderr"
        if not lines[0].startswith("error:"):
            return f"exit {code}, stderr line is not 'error: ...'"
        return None
    return f"exit code {code}"


def _generalise(text: str) -> str:
    import re

    return re.sub(r"\d+", "N", text)


GENERATORS = {"hf": 0.45, "hf_raw": 0.08, "yaml": 0.2, "yaml_raw": 0.05, "flags": 0.22}
FLAG_COMMANDS = ["kv", "weights", "roofline", "fit", "sweep", "train", "compare", "specs show", "profile",
                 "bench kernels", "calibrate", "validate"]


def make_case(rng: random.Random, kind: str, tmp: Path, picks: list[str] = HF_PICKS) -> tuple[list[str], str]:
    if kind == "hf":
        return hf_case(rng, tmp, picks)
    if kind == "hf_raw":
        return hf_raw_case(rng, tmp)
    if kind == "yaml":
        return yaml_case(rng, tmp)
    if kind == "yaml_raw":
        return yaml_raw_case(rng, tmp)
    # GPU commands import torch: drawn rarely, they must still answer in one line without a GPU
    command = rng.choice(FLAG_COMMANDS[:8] * 6 + FLAG_COMMANDS[8:])
    return flags_case(rng, command), "flags"


def _params(folder: Path) -> tuple | None:
    """(total, active) parameters of ``mlacalc weights FOLDER``, or None when it is refused."""
    code, out, _, exc, _ = run(["weights", str(folder), "--json"], 30)
    if code != 0 or exc is not None:
        return None
    j = json.loads(out)
    return j["params_total"], j["params_active"]


def _loadable_fixtures(folder: Path, measure):
    """(path, config, ``measure(folder)``) of each fixture in ``tests/fixtures/hf`` that loads, its config written to
    ``folder/config.json`` (made here) first: the baseline the --drops and --swaps passes compare each edit with."""
    folder.mkdir()
    for path in sorted(HF.glob("*/config.json")):
        cfg = json.loads(path.read_text())
        (folder / "config.json").write_text(json.dumps(cfg))
        base = measure(folder)
        if base is not None:
            yield path, cfg, base


def drops(tmp: Path) -> list[str]:
    """Keys whose deletion leaves a fixture loadable with other parameter counts (see the module docstring)."""
    found = []
    folder = tmp / "drops"
    for path, cfg, base in _loadable_fixtures(folder, _params):
        inner = _inner(cfg)
        for where, key in [(None, k) for k in cfg] + [(inner, k) for k in (cfg[inner] if inner else [])]:
            c = json.loads(json.dumps(cfg))
            del (c[where] if where else c)[key]
            (folder / "config.json").write_text(json.dumps(c))
            got = _params(folder)
            if got is not None and got != base:
                found.append(f"{path.parent.name}: del {where + '.' if where else ''}{key}: "
                             f"{base[0] / 1e9:.3f} B -> {got[0] / 1e9:.3f} B parameters")
    return found


def _sizes(folder: Path) -> tuple | None:
    """(total parameters, active parameters, KV bytes a token) of FOLDER's config, or None when it is refused."""
    params = _params(folder)
    if params is None:
        return None
    code, out, _, exc, _ = run(["kv", str(folder), "--json"], 30)
    return None if code != 0 or exc is not None else params + (json.loads(out)["kv_bytes_per_token"],)


def _swap_values(v) -> list:
    """Values of the wrong kind for ``v``: a null, a bool, ``v`` as text, a fraction."""
    if isinstance(v, bool):
        return [None, 1, str(v).lower()]
    if isinstance(v, int):
        return [None, True, str(v), v + 0.5]
    if isinstance(v, float):
        return [None, True, str(v)]
    return []


def swaps(tmp: Path) -> list[str]:
    """Numbers and switches that, set to null, a bool, text or a fraction, leave a fixture loadable with other
    parameter counts or KV bytes: the top level, the decoder's nested config and the mappings one level under either
    (quantization_config, rope_scaling, DBRX's attn_config). Each is for a person to judge, as --drops': a null where
    the config class reads none as something (Jamba's num_key_value_heads: the query heads) is right; a class default
    taken for a null that transformers keeps (DBRX "n_layers": null read as 24 layers) was not (6355d9f)."""
    found = []
    folder = tmp / "swaps"
    for path, cfg, base in _loadable_fixtures(folder, _sizes):
        inner = _inner(cfg)
        blocks = [()] + ([(inner,)] if inner else [])
        blocks += [b + (k,) for b in list(blocks) for k, v in _parent(cfg, b + ("",)).items()
                   if isinstance(v, dict) and b + (k,) not in blocks]
        for block in blocks:
            for key, v in list(_parent(cfg, block + ("",)).items()):
                for new in _swap_values(v):
                    c = json.loads(json.dumps(cfg))
                    _parent(c, block + ("",))[key] = new
                    (folder / "config.json").write_text(json.dumps(c))
                    got = _sizes(folder)
                    if got is not None and got != base:
                        found.append(f"{path.parent.name}: {'.'.join(block + (key,))} {v!r} -> {new!r}: "
                                     f"{base[0] / 1e9:.3f} B, {base[2]:,.0f} B/token -> {got[0] / 1e9:.3f} B, "
                                     f"{got[2]:,.0f} B/token")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=sorted(GENERATORS))
    ap.add_argument("--show", type=int, default=1, help="examples printed per signature")
    ap.add_argument("--limit-s", type=int, default=30, help="seconds before one case counts as a hang")
    ap.add_argument("--drops", action="store_true", help="also list keys a fixture loads without (differential)")
    ap.add_argument("--swaps", action="store_true", help="also list numbers a fixture loads with as null, a bool, "
                                                         "text or a fraction (differential, about 5 minutes)")
    ap.add_argument("--fixture", action="append", choices=sorted(p.name for p in HF.iterdir() if p.is_dir()),
                    metavar="NAME", help="hf cases from this tests/fixtures/hf folder only (repeatable)")
    a = ap.parse_args(argv)
    picks = a.fixture or HF_PICKS
    rng = random.Random(a.seed)
    kinds, weights = zip(*GENERATORS.items())
    counts, outcomes, failures = Counter(), Counter(), defaultdict(list)
    t0 = time.perf_counter()
    slowest = (0.0, None)
    with tempfile.TemporaryDirectory(prefix="mlacalc-fuzz-") as d:
        tmp = Path(d)
        for i in range(a.cases):
            kind = a.only or rng.choices(kinds, weights)[0]
            case_rng = random.Random(f"{a.seed}:{i}")        # each case reproducible alone
            argv_i, what = make_case(case_rng, kind, tmp, picks)
            counts[kind] += 1
            code, out, err, exc, seconds = run(argv_i, a.limit_s)
            if seconds > slowest[0]:
                slowest = (seconds, argv_i)
            sig = judge(argv_i, code, out, err, exc, seconds, a.limit_s)
            outcomes[(kind, "fail" if sig else f"exit {code}")] += 1
            if sig:
                tb = "".join(traceback.format_exception(exc)) if exc is not None and not isinstance(exc, Timeout) \
                    else ""
                failures[sig].append({"case": i, "kind": kind, "what": what, "argv": argv_i, "exit": code,
                                      "stdout": out[-300:], "stderr": err[-600:], "traceback": tb[-2500:]})
        dropped = drops(tmp) if a.drops else []
        swapped = swaps(tmp) if a.swaps else []
    n_fail = sum(len(v) for v in failures.values())
    print(f"{a.cases} cases (seed {a.seed}) in {time.perf_counter() - t0:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("outcomes: " + ", ".join(f"{k} {o} {n}" for (k, o), n in sorted(outcomes.items())))
    print(f"slowest case {slowest[0]:.1f} s: {slowest[1]}")
    print(f"{n_fail} failures, {len(failures)} signatures")
    for sig, items in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        print(f"\n[{len(items)}] {sig}")
        for ex in items[: a.show]:
            print(f"  case {ex['case']} ({ex['kind']}): {ex['what']}")
            print(f"  argv: {ex['argv']}")
            print(f"  exit {ex['exit']}; stderr: {ex['stderr'][-400:]!r}")
            if ex["traceback"] and a.show > 0:
                print("  " + ex["traceback"].strip().splitlines()[-1])
    if a.drops:
        print(f"\n{len(dropped)} key drops read with other parameter counts (review each: class default or guess):")
        for line in dropped:
            print("  " + line)
    if a.swaps:
        print(f"\n{len(swapped)} values of the wrong kind read with other sizes (review each: the class's reading of "
              "a null, or a guess):")
        for line in swapped:
            print("  " + line)
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
