"""fit --engine sglang: SGLang's accounting of its KV pool (mlacalc/sglang.py), worked by hand; the default unchanged."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mlacalc.capacity import activation_workspace, fit
from mlacalc.cli import main
from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.sglang import server_defaults

from helpers import refused
from mlacalc.spec import load_spec

GIB, MIB = 2**30, 2**20
NON_TORCH = 718_077_952                 # reports/h200/nontorch_memory.json nontorch_bytes (mlacalc.vllm)
# Llama-3-8B's shape (config.json: 32 layers, d 4096, 32 query / 8 KV heads of 128, FFN 14336, vocab 128256, untied)
LLAMA_PARAMS = 2 * 128256 * 4096 + 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336) + 65 * 4096


def test_llama_on_one_h100_default_fraction_by_hand():
    """server_args.py _handle_gpu_memory_settings on an H100 (nvidia-smi 79.65 GiB = 81,561.6 MiB, under 90 GiB):
    chunked_prefill_size 8192, cuda_graph_max_bs 256 at tp 1; reserved = 512 + 8192 x 1.5 + 256 x 2 + 1/8 x 1024
    = 13,440 MiB (above the 10 GiB floor); fraction round((81561.6 - 13440) / 81561.6, 3) = 0.835. The pool is
    0.835 x (CUDA total 79.22 GiB - non-torch) - weights (model_runner.py profile_max_num_token)."""
    f = fit(load_spec("llama-3.1-8b"), load_hardware("h100-sxm"), 8192, engine="sglang")
    s = f.sglang
    assert (s.chunked_prefill_size, s.cuda_graph_max_bs) == (8192, 256)
    assert s.reserved_mib == 512 + 8192 * 1.5 + 256 * 2 + 1 / 8 * 1024 == 13440
    assert s.mem_fraction_static == 0.835 == f.gpu_mem_util
    free = 79.22 * GIB - NON_TORCH                                  # 78.551 GiB
    kv = 0.835 * free - LLAMA_PARAMS * 2                            # 65.590 - 14.957 = 50.633 GiB
    assert f.kv_budget == pytest.approx(kv, rel=1e-12)
    assert kv / GIB == pytest.approx(50.63, abs=0.005)
    assert f.usable == f.weights + f.reserved + f.kv_budget == pytest.approx(free)
    per_token = 32 * 8 * 128 * 2 * 2                                # SGLang's cell_size: 131,072 B
    assert f.kv_bytes_per_seq == 8192 * per_token
    assert f.max_batch == int(kv // (8192 * per_token)) == 50
    d = f.to_json()
    assert d["engine"] == "sglang" and d["sglang_memory"]["kv_budget"] == pytest.approx(kv)
    assert d["gpu_mem_util"] == 0.835


def test_given_fraction_replaces_the_default():
    """--gpu-mem-util under SGLang is --mem-fraction-static: 0.88 x free - weights, no reserve computed."""
    f = fit(load_spec("llama-3.1-8b"), load_hardware("h100-sxm"), 8192, engine="sglang", gpu_mem_util=0.88)
    assert f.sglang.fraction_source == "given" and f.sglang.reserved_mib is None
    assert f.kv_budget == pytest.approx(0.88 * (79.22 * GIB - NON_TORCH) - LLAMA_PARAMS * 2, rel=1e-12)


def test_deepseek_v3_on_eight_h200s_and_dp_attention_reserve():
    """H200 (140.4 GiB = 143,769.6 MiB, under 160 GiB): chunk 8192, cuda_graph_max_bs 512 at tp >= 4.
    tp 8: reserved = 512 + 12288 + 1024 + 8/8 x 1024 = 14,848 MiB -> round(128921.6 / 143769.6, 3) = 0.897.
    dp attention (dp 8): + 512 x 8 x 3 and, as 512 > 300, + 512 x 8 x 1.5 -> 33,280 MiB -> 0.769.
    The MLA cell is one latent per token per layer on every rank: 61 x (512 + 64) x 2 = 70,272 B."""
    spec, hw = load_spec("deepseek-v3"), load_hardware("h200")
    tp = fit(spec, hw, 8192, Parallelism(tp=8), engine="sglang")
    assert tp.sglang.reserved_mib == 14848 and tp.sglang.mem_fraction_static == 0.897
    assert tp.kv_bytes_per_seq == 8192 * 61 * (512 + 64) * 2
    dp = fit(spec, hw, 8192, Parallelism(tp=8, dp_attention=True), engine="sglang")
    assert dp.sglang.reserved_mib == 14848 + 512 * 8 * 3 + 512 * 8 * 1.5 == 33280
    assert dp.sglang.mem_fraction_static == 0.769
    free = 139.80 * GIB - NON_TORCH
    assert tp.kv_budget == pytest.approx(0.897 * free - tp.weights, rel=1e-12)


def test_card_defaults():
    """server_args.py: < 20 GiB (2048, 8); < 35 GiB (2048, 24 | 80 at tp >= 4); < 60 GiB (4096, 32 | 160);
    < 90 and < 160 GiB (8192, 256 | 512); larger (16384, 512). MiB of nvidia-smi's total."""
    assert server_defaults(16 * 1024, 1) == (2048, 8)
    assert server_defaults(24564, 1) == (2048, 24) and server_defaults(24564, 4) == (2048, 80)
    assert server_defaults(46068, 2) == (4096, 32) and server_defaults(46068, 8) == (4096, 160)
    assert server_defaults(81559, 1) == (8192, 256) and server_defaults(143771, 8) == (8192, 512)
    assert server_defaults(183359, 1) == (16384, 512)
    # an RTX 4090 (24,564 MiB, no 10 GiB floor under 60 GiB): 512 + 2048 x 1.5 + 24 x 2 + 128 = 3,760 MiB
    f = fit(load_spec("llama-3.1-8b"), load_hardware("rtx-4090"), 1024, engine="sglang")
    assert f.sglang.reserved_mib == 3760
    assert f.sglang.mem_fraction_static == round((23.99 * 1024 - 3760) / (23.99 * 1024), 3) == 0.847


def test_default_engine_unchanged_when_util_is_left_out():
    """gpu_mem_util None means 0.9 for mlacalc's own accounting, as the old default did."""
    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    f = fit(spec, hw, 4096)
    assert f.gpu_mem_util == 0.9 and f.sglang is None and f.vllm is None
    assert f.kv_budget == 0.9 * hw.memory_bytes - f.weights - activation_workspace(spec, 8192, 1).total
    assert "engine" not in f.to_json() and "sglang_memory" not in f.to_json()


def test_sweep_sizes_the_cache_as_fit_under_sglang():
    from mlacalc.sweep import sweep

    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    sw = sweep([("m", spec)], [hw], [1, 2], [8192], [1], engine="sglang")
    for row, n in zip(sw.rows, (1, 2)):
        assert row.max_batch == fit(spec, hw, 8192, Parallelism(tp=n), engine="sglang").max_batch
    assert sw.rows[0].max_batch == 50 and sw.to_json()["engine"] == "sglang"


def test_cli_fit_engine_sglang_json(capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "llama-3.1-8b", "--gpu", "h100-sxm", "--engine", "sglang", "--context", "8k", "--json"])
    assert e.value.code in (0, None)
    d = json.loads(capsys.readouterr().out)["fits"][0]
    assert d["engine"] == "sglang" and d["max_batch"] == 50 and d["sglang_memory"]["mem_fraction_static"] == 0.835


@pytest.mark.parametrize("args", [["--engine", "sglang", "--max-num-seqs", "8"],
                                  ["--engine", "sglang", "--workspace", "1G"],
                                  ["--engine", "sglang", "--gpu-mem-util", "1.5"],
                                  ["--engine", "sglang", "--gpu-mem-util", "0"],
                                  ["--engine", "sglang", "--workspace-tokens", "0"],
                                  ["--engine", "sglang", "--non-torch", "-1G"]])
def test_bad_sglang_values_exit_2_with_one_line(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "llama-3.1-8b", *args])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err and "\n" not in err and "Traceback" not in err


def test_a_card_too_small_for_the_default_reserve_is_refused():
    """A 2 GiB card: reserved 512 + 3072 + 16 + 128 = 3,728 MiB > 2,048 MiB, so the default fraction would be
    negative; the error names --gpu-mem-util."""
    hw = dataclasses.replace(load_hardware("l4"), memory_bytes=2 * GIB, cuda_memory_bytes=0)
    with pytest.raises(SpecError, match="gpu_mem_util"):
        fit(load_spec("llama-3.1-8b"), hw, 1024, engine="sglang")


def test_sweep_refuses_an_unknown_engine_as_a_usage_error(capsys):
    """An unknown --engine is the flag's error, not every combination skipped ("--gpus: no combination can be laid
    out: engine: ...")."""
    refused(capsys, "sweep", "llama-3.1-8b", "--engine", "tgi", words="--engine: must be one of mlacalc, vllm, sglang")
