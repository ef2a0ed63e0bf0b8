"""What fits: budgets, largest batch and longest context checked by hand and against kv_report."""

from __future__ import annotations

import json

import pytest

from mlacalc.cli import main
from mlacalc.capacity import activation_workspace, fit, kv_per_gpu
from mlacalc.hardware import hardware_from_dict, load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec, spec_from_dict

TOY = {"name": "toy-gqa", "num_layers": 2, "hidden_size": 64, "vocab_size": 100,
       "attention": {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 16},
       "ffn": {"kind": "dense", "intermediate_size": 128}}
GPU = hardware_from_dict({"name": "toy", "memory_bytes": 1_000_000, "mem_bandwidth_gb_s": 1000,
                          "bf16_tflops": 100, "interconnect_gb_s": 100}, "toy")


def test_largest_batch_by_hand():
    spec = spec_from_dict(TOY)
    f = fit(spec, GPU, context=100, gpu_mem_util=0.9, workspace_bytes=10_000)
    # weights, bf16: embed 100*64 + head 100*64 + per layer (qkv 64*(64+32+32) + o 64*64 + ffn 3*64*128 + 2 norms
    # of 64) x 2 + final norm 64 parameters, 2 bytes each
    params = 2 * 100 * 64 + 2 * (64 * 128 + 64 * 64 + 3 * 64 * 128 + 2 * 64) + 64
    assert f.weights == params * 2
    budget = 0.9 * 1_000_000 - params * 2 - 10_000
    per_seq = 100 * 2 * (2 * 16 * 2) * 2          # 100 tokens x 2 layers x (K+V of 2 heads of 16) x 2 bytes
    assert f.kv_bytes_per_seq == per_seq
    assert f.max_batch == int(budget // per_seq)
    assert kv_per_gpu(spec, 100, f.max_batch, Parallelism(), 16) <= budget < kv_per_gpu(spec, 100, f.max_batch + 1,
                                                                                  Parallelism(), 16)
    assert f.decode is not None and f.decode.step.batch == f.max_batch


def test_longest_context_is_the_edge_of_the_budget():
    spec = spec_from_dict(TOY)
    f = fit(spec, GPU, context=100, batch=3, workspace_bytes=0)
    assert kv_per_gpu(spec, f.max_context, 3, Parallelism(), 16) <= f.kv_budget
    assert kv_per_gpu(spec, f.max_context + 1, 3, Parallelism(), 16) > f.kv_budget


def test_dp_attention_holds_whole_sequences_per_gpu():
    spec = spec_from_dict(TOY)
    tp = fit(spec, GPU, context=100, parallel=Parallelism(tp=2), workspace_bytes=0)
    dp = fit(spec, GPU, context=100, parallel=Parallelism(tp=2, dp_attention=True), workspace_bytes=0)
    assert tp.kv_bytes_per_seq == 100 * 2 * (1 * 16 * 2) * 2           # one of 2 KV heads per rank
    assert dp.kv_bytes_per_seq == 100 * 2 * (2 * 16 * 2) * 2           # all heads of its own sequences
    assert dp.max_batch == 2 * int(dp.kv_budget // dp.kv_bytes_per_seq)


def test_nothing_fits_gives_zero_and_no_decode():
    f = fit(load_spec("deepseek-v3"), load_hardware("h100-sxm"), context=4096)
    assert f.max_batch == 0 and f.max_context == 0 and f.decode is None and f.kv_budget < 0


def test_workspace_parts_sum_and_are_stated():
    spec = load_spec("llama-3.1-8b")
    w = activation_workspace(spec, tokens=8192, tp=1)
    assert w.residual == 2 * 8192 * 4096 * 2
    assert w.attention == 8192 * 32 * (128 + 128) * 2
    assert w.ffn == 8192 * 2 * 14336 * 2
    assert w.total == w.residual + w.attention + w.ffn


def test_smaller_cache_bigger_batch_cheaper_tokens():
    """DeepSeek-V3 on 8 x H200 with data-parallel attention and EP: the MLA latent (1.1 KiB/token/layer) lets
    a far bigger batch fit than the GQA-8 equivalent (16 KiB) or MHA (160 KiB), and decode tokens per GPU
    follow the batch."""
    hw, lay = load_hardware("h200"), Parallelism(tp=8, dp_attention=True, ep=8)
    mla, gqa, mha = (fit(load_spec("deepseek-v3", [], v), hw, 32768, lay) for v in (None, "gqa:8", "mha"))
    assert mla.kv_bytes_per_seq < gqa.kv_bytes_per_seq < mha.kv_bytes_per_seq
    assert mla.max_batch > gqa.max_batch > mha.max_batch
    assert mla.decode.tokens_per_s_per_gpu > 2 * gqa.decode.tokens_per_s_per_gpu


def test_under_plain_tp_the_replicated_latent_loses_to_split_gqa_heads():
    """The other side: with TP=8 every rank holds the whole MLA latent, while GQA-8 holds one KV head per rank
    (1/8 of its cache), so GQA-8 fits more sequences per GPU. The tool must show this too."""
    hw, lay = load_hardware("h200"), Parallelism(tp=8)
    mla, gqa = (fit(load_spec("deepseek-v3", [], v), hw, 32768, lay) for v in (None, "gqa:8"))
    assert gqa.kv_bytes_per_seq < mla.kv_bytes_per_seq
    assert gqa.max_batch > mla.max_batch


def test_cli_fit_json(capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "deepseek-v2-lite", "--gpu", "h100-sxm", "--context", "32k", "--as", "mha", "--json"])
    assert e.value.code == 0
    d = json.loads(capsys.readouterr().out)
    assert [f["attention"] for f in d["fits"]] == ["mla", "mha"]
    assert d["fits"][0]["max_batch"] > d["fits"][1]["max_batch"] > 0


@pytest.mark.parametrize("args", [["--gpu-mem-util", "1.5"], ["--gpu", "nope"], ["--context", "0"],
                                  ["--as", "gqa:x"]])
def test_cli_fit_bad_input_exit_2(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "deepseek-v2-lite", *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_longest_context_is_capped_at_the_models_limit():
    """Llama-3.1-8B: 32 layers x 8 KV heads x 128 dims x 2 (K, V) x 2 bytes = 131,072 B a token. On an H200 one
    sequence could hold far more than its configured 131,072 tokens (config.json max_position_embeddings), so the
    usable context is the model's limit; at batch 64 memory binds first and the two agree."""
    spec = load_spec("llama-3.1-8b")
    assert spec.max_context == 131_072
    one = fit(spec, load_hardware("h200"), 32 * 1024, batch=1)
    per_token = 32 * 8 * 128 * 2 * 2
    assert one.kv_bytes_per_seq == 32 * 1024 * per_token
    assert one.max_context == int(one.kv_budget // per_token) > 131_072
    assert one.usable_context == one.context_limit == 131_072
    many = fit(spec, load_hardware("h200"), 32 * 1024, batch=64)
    assert many.max_context == int(many.kv_budget // (64 * per_token)) < 131_072
    assert many.usable_context == many.max_context
    assert many.to_json()["usable_context"] == many.max_context and many.to_json()["context_limit"] == 131_072


# ---- audit 5: fit's answers hold against kv_report at the boundary (property-tested) -------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([("llama-3.1-8b", 1, False), ("llama-3.1-8b", 4, False), ("deepseek-v2-lite", 2, True),
                        ("gemma-3-27b", 2, False), ("qwen3-next-80b-a3b", 4, False), ("minicpm3-4b", 2, True)]),
       st.integers(1, 200_000), st.integers(1, 64))
def test_largest_batch_and_longest_context_fit_and_one_more_does_not(case, context, batch):
    """``fit``'s largest batch fits by ``kv`` at that batch and fails at one more; its longest context likewise."""
    model, tp, dpa = case
    spec, par = load_spec(model), Parallelism(tp=tp, dp_attention=dpa)
    f = fit(spec, load_hardware("h200"), context, par, batch=batch)
    bits = spec.dtypes.kv_bits
    if f.max_batch:
        assert kv_per_gpu(spec, context, f.max_batch, par, bits) <= f.kv_budget
    assert kv_per_gpu(spec, context, f.max_batch + 1, par, bits) > f.kv_budget
    if 0 < f.max_context < 1 << 26:
        assert kv_per_gpu(spec, f.max_context, batch, par, bits) <= f.kv_budget
        assert kv_per_gpu(spec, f.max_context + 1, batch, par, bits) > f.kv_budget
