"""fit --engine vllm: vLLM's accounting of the KV budget (mlacalc/vllm.py), worked by hand; the default unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlacalc.capacity import activation_workspace, fit
from mlacalc.cli import main
from mlacalc.errors import ArgError, SpecError
from mlacalc.hardware import hardware_from_dict, load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.vllm import batch_defaults

GIB = 2**30
# Llama-3-8B's shape (config.json: 32 layers, d 4096, 32 query / 8 KV heads of 128, FFN 14336, vocab 128256, untied)
LLAMA_PARAMS = 2 * 128256 * 4096 + 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336) + 65 * 4096


def test_llama3_8b_on_h100_breakdown_by_hand():
    """vllm PR #10511's setup: Llama-3-8B, one H100, util 0.9, 8,192 profile tokens, V0's 256 sequences."""
    f = fit(load_spec("llama-3.1-8b"), load_hardware("h100-sxm"), 1024, gpu_mem_util=0.9, workspace_tokens=8192,
            engine="vllm", max_num_seqs=256)
    v = f.vllm
    total = 79.22 * GIB                                 # h100-sxm.yaml cuda_memory_gib (the log's total_gpu_memory)
    weights = LLAMA_PARAMS * 2                          # bf16: 14.9575 GiB
    # reports/h200/nontorch_memory.json: nontorch_bytes less the context's non-torch memory (after_context_bytes less
    # PyTorch's 2 MiB block; vLLM's start-up snapshot already holds the context): 718,077,952 - 648,871,936 = 66 MiB
    non_torch = 718_077_952 - (650_969_088 - 2 * 2**20)
    forward = 2 * 8192 * 4096 * 2 + 8192 * 32 * (128 + 128) * 2 + 8192 * 2 * 14336 * 2      # 0.6875 GiB
    # fused top-k/top-p (FlashInfer or Triton): bf16 and fp32 logits, two fp32 tensors: 14 B a logit, 0.4945 GiB
    sampler = 8192 * 4096 * 2 + 2 * 256 * 4096 * 2 + 256 * 128256 * (2 + 4 + 4 + 4)
    assert (v.total, v.weights, v.non_torch, v.forward, v.sampler) == pytest.approx(
        (total, weights, non_torch, forward, sampler), rel=1e-12)
    assert v.activation_peak == forward                  # the larger phase, not the sum
    kv = 0.9 * total - weights - non_torch - forward     # 71.298 - 14.9575 - 0.0645 - 0.6875 = 55.59 GiB
    assert f.kv_budget == pytest.approx(kv, rel=1e-12)
    assert kv / GIB == pytest.approx(55.59, abs=0.005)
    assert f.usable == f.reserved + f.weights + f.kv_budget == pytest.approx(0.9 * total)
    d = f.to_json()
    assert d["engine"] == "vllm" and d["vllm_memory"]["kv_budget"] == pytest.approx(kv)
    m = d["memory_per_gpu"]
    assert m["usable"] - m["weights"] - m["workspace"] == pytest.approx(m["kv_budget"])


def test_default_engine_keeps_the_old_budget():
    """Without --engine the budget is still util x nvidia-smi's total - weights - workspace, on cards whose file now
    also holds a cudaMemGetInfo total (h100-sxm, h200, a100-80gb) and on one that does not (h20)."""
    for model, gpu, tp in (("llama-3.1-8b", "h100-sxm", 1), ("deepseek-v2-lite", "h200", 2),
                           ("qwen2.5-7b", "a100-80gb", 1), ("qwen2.5-7b", "h20", 1)):
        spec, hw, par = load_spec(model), load_hardware(gpu), Parallelism(tp=tp)
        f = fit(spec, hw, 4096, par)
        old = 0.9 * hw.memory_bytes - f.weights - activation_workspace(spec, 8192, tp).total
        assert f.kv_budget == old and f.usable == 0.9 * hw.memory_bytes and f.vllm is None
        assert fit(spec, hw, 4096, par, engine="mlacalc").kv_budget == old
        assert "engine" not in f.to_json() and "vllm_memory" not in f.to_json()


def test_sampler_peak_does_not_shrink_with_tp():
    """LogitsProcessor gathers full-vocabulary logits on every rank: tp 2 halves the forward, not the sampler."""
    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    one = fit(spec, hw, 1024, engine="vllm", max_num_seqs=256, workspace_tokens=8192).vllm
    two = fit(spec, hw, 1024, Parallelism(tp=2), engine="vllm", max_num_seqs=256, workspace_tokens=8192).vllm
    assert two.sampler == one.sampler and two.forward < one.forward


def test_vllm_defaults_by_card():
    """vllm/engine/arg_utils.py get_batch_defaults (vllm serve): >= 70 GiB and not an A100 -> 8192 tokens, 1024
    sequences; else 2048 and 256."""
    h100, a100, rtx = load_hardware("h100-sxm"), load_hardware("a100-80gb"), load_hardware("rtx-4090")
    assert batch_defaults(h100.cuda_memory_bytes, h100.name) == (8192, 1024)
    assert batch_defaults(a100.cuda_memory_bytes, a100.name) == (2048, 256)   # 79.32 GiB, but an A100
    assert batch_defaults(rtx.cuda_memory_bytes, rtx.name) == (2048, 256)
    v = fit(load_spec("llama-3.1-8b"), rtx, 1024, engine="vllm").vllm
    assert (v.tokens, v.max_num_seqs) == (2048, 256)


def test_card_without_cuda_total_falls_back_to_nvidia_smi():
    hw = load_hardware("h20")   # no public log of its cudaMemGetInfo total found
    assert hw.cuda_memory_bytes == 0
    v = fit(load_spec("llama-3.1-8b"), hw, 1024, engine="vllm").vllm
    assert v.total == hw.memory_bytes and v.total_source.startswith("nvidia-smi")


def test_non_torch_flag_replaces_the_default(capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "llama-3.1-8b", "--gpu", "h100-sxm", "--engine", "vllm", "--non-torch", "2G", "--json"])
    assert e.value.code in (0, None)
    v = json.loads(capsys.readouterr().out)["fits"][0]["vllm_memory"]
    assert v["non_torch"] == 2 * GIB


def test_cuda_total_above_the_cards_memory_is_refused():
    with pytest.raises(SpecError, match="cuda_memory_gib"):
        hardware_from_dict({"name": "x", "memory_gib": 80, "cuda_memory_gib": 81, "mem_bandwidth_gb_s": 1,
                            "bf16_tflops": 1, "interconnect_gb_s": 1}, "x")


@pytest.mark.parametrize("args", [["--engine", "tgi"], ["--engine", "vllm", "--max-num-seqs", "0"],
                                  ["--engine", "vllm", "--non-torch", "-1G"], ["--max-num-seqs", "64"],
                                  ["--non-torch", "1G"], ["--sampler", "sort"],
                                  ["--engine", "sglang", "--sampler", "flashinfer"],
                                  ["--engine", "vllm", "--sampler", "fused"],
                                  ["--engine", "vllm", "--sampler", "radix"],
                                  ["--engine", "vllm", "--cudagraph-mem", "-1G"], ["--cudagraph-mem", "1G"],
                                  ["--engine", "sglang", "--cudagraph-mem", "1G"],
                                  ["--engine", "vllm", "--cudagraph-mem", "nan"],
                                  ["--engine", "vllm", "--cudagraph-mem", "1e400G"],
                                  ["--engine", "vllm", "--cudagraph-mem", "0.61GiB"],
                                  ["--engine", "vllm", "--non-torch", "abc"]])
def test_bad_engine_values_exit_2_with_one_line(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "llama-3.1-8b", *args])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err and "\n" not in err and "Traceback" not in err


def test_api_fit_takes_the_engine():
    import mlacalc

    f = mlacalc.fit("llama-3.1-8b", "h100-sxm", context=1024, workspace_tokens=8192, engine="vllm", max_num_seqs=256)
    assert f.kv_budget / GIB == pytest.approx(55.59, abs=0.005)        # the hand-worked figure above


def test_sweep_sizes_the_cache_as_fit_under_each_engine():
    """sweep and fit share one KV budget (capacity.kv_budget): under --engine vllm the sweep's largest batch is fit's
    (Llama-3.1-8B on one H100 at 8k: 54 sequences; mlacalc's accounting gives more), and the default engine's sweep
    JSON keeps its keys."""
    from mlacalc import fit, load_hardware, load_spec
    from mlacalc.sweep import sweep

    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    runs = {e: sweep([("m", spec)], [hw], [1], [8192], [1], engine=e) for e in ("mlacalc", "vllm")}
    for engine, sw in runs.items():
        assert sw.rows[0].max_batch == fit(spec, hw, context=8192, engine=engine).max_batch
    assert runs["vllm"].rows[0].max_batch == 54 < runs["mlacalc"].rows[0].max_batch
    assert "engine" not in runs["mlacalc"].to_json() and runs["vllm"].to_json()["engine"] == "vllm"


def test_tp8_on_h200_budget_before_and_after_a_given_non_torch():
    """Llama-3.1-70B at tp 8 on H200s: the default non-torch is the one-process 66 MiB growth after the CUDA context
    (no NCCL / custom all-reduce), recorded as the default; a logged tp-8 figure (2.10 GiB, V0 v0.7.1 on A100 40GB;
    see docs/vllm-capacity-checks.md) given with non_torch_bytes lowers the KV budget by exactly the difference."""
    spec, hw, par = load_spec("llama-3.1-70b"), load_hardware("h200"), Parallelism(tp=8)
    kw = dict(gpu_mem_util=0.9, workspace_tokens=8192, engine="vllm", max_num_seqs=1024)
    before = fit(spec, hw, 1024, par, **kw)
    after = fit(spec, hw, 1024, par, non_torch_bytes=2.10 * GIB, **kw)
    v = before.vllm
    assert v.non_torch == 69_206_016 and v.non_torch_source.startswith("measured in one process")
    assert after.vllm.non_torch_source == "given"
    # 0.9 x 139.80 GiB (h200.yaml cuda_memory_gib) - weights / 8 - 66 MiB - the activation peak
    total = 139.80 * GIB
    assert v.total == pytest.approx(total, rel=1e-12)
    kv_before = 0.9 * total - v.weights - 69_206_016 - v.activation_peak
    assert before.kv_budget == pytest.approx(kv_before, rel=1e-12)
    # 2.10 GiB - 69,206,016 B = 2,254,857,830.4 - 69,206,016 = 2,185,651,814.4 B (2.0355 GiB) less for the cache
    assert before.kv_budget - after.kv_budget == pytest.approx(2.10 * 2**30 - 69_206_016, rel=1e-12)
    assert (before.kv_budget - after.kv_budget) / GIB == pytest.approx(2.0355, abs=1e-4)
    assert before.to_json()["vllm_memory"]["non_torch_source"] == v.non_torch_source


def _h200_caption(capsys, *args) -> str:
    """The whole printed table and caption of `fit llama-3.1-8b --gpu h200 --engine vllm ARGS`, on one line."""
    with pytest.raises(SystemExit) as e:
        main(["fit", "llama-3.1-8b", "--gpu", "h200", "--engine", "vllm", *args])
    assert e.value.code in (0, None)
    return " ".join(capsys.readouterr().out.split())


def test_fit_says_the_non_torch_default_at_tp_above_one_is_the_one_process_figure(capsys, monkeypatch):
    """At tp > 1 with the default non-torch memory the caption says NCCL's and custom all-reduce's buffers are not in
    it and gives the logged range; at tp 1, or with --non-torch, it says nothing of it."""
    from mlacalc.vllm import NON_TORCH_LOGGED_TP_GIB

    monkeypatch.setenv("COLUMNS", "400")

    def caption(*args):
        return _h200_caption(capsys, *args)

    assert NON_TORCH_LOGGED_TP_GIB == (0.09, 3.58)
    out = caption("--tp", "8")
    assert "non-torch at tp 8: the default" in out and "no NCCL or custom all-reduce buffers" in out
    assert "0.09-3.58 GiB per GPU" in out and "give --non-torch" in out
    assert "non-torch at tp" not in caption("--tp", "1")
    assert "non-torch at tp" not in caption("--tp", "8", "--non-torch", "2G")


def test_sweep_caption_says_the_non_torch_default_is_used_at_every_gpu_count(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    for gpus, said in (("1,2", True), ("1", False)):
        with pytest.raises(SystemExit) as e:
            main(["sweep", "llama-3.1-8b", "--gpu", "h200", "--engine", "vllm", "--gpus", gpus, "--context", "4k",
                  "--batch", "1"])
        assert e.value.code in (0, None)
        out = " ".join(capsys.readouterr().out.split())
        assert ("at every GPU count" in out and "0.09-3.58 GiB per GPU" in out) == said


# Qwen2-7B-Instruct's shape (config.json: 28 layers, d 3584, 28 query / 4 KV heads of 128, q/k/v biases, FFN 18944,
# vocab 152064, untied head): the same as Qwen2.5-7B's, which the qwen2.5-7b spec holds
QWEN2_7B_PARAMS = (2 * 152064 * 3584 + 28 * (2 * 3584 * 3584 + 2 * 3584 * 512 + 3584 + 2 * 512 + 3 * 3584 * 18944
                                            + 2 * 3584) + 3584)
QWEN2_7B_FORWARD_2K = 2 * 2048 * 3584 * 2 + 2048 * 28 * (128 + 128) * 2 + 2048 * 2 * 18944 * 2   # 0.199 GiB


def test_vllm_non_torch_leaves_the_cuda_context_in_its_snapshot():
    """vLLM subtracts the non-torch memory gained since the worker's start-up snapshot, which already holds the CUDA
    context (v1 gpu_worker.py init_snapshot; mem_utils.memory_profiling; vLLM 0.19 logs "worker init memory snapshot:
    ... non_torch_memory=0.51GiB" then "non-torch forward increase memory: 0.25GiB"). The default is the H200
    measurement less its context's non-torch memory (see the next test): 718,077,952 - 648,871,936 = 69,206,016 B.
    SGLang reads its free memory after the context, so its default keeps all 718,077,952 B."""
    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    v = fit(spec, hw, 1024, engine="vllm").vllm
    assert v.non_torch == 718_077_952 - 648_871_936 == 66 * 2**20
    assert "after the CUDA context" in v.non_torch_source
    s = fit(spec, hw, 1024, engine="sglang").sglang
    assert s.non_torch == 718_077_952 and s.usable == hw.cuda_memory_bytes - 718_077_952


def test_non_torch_default_is_measured_growth_not_used_memory_minus_non_torch():
    """The default is a growth of non-torch memory (used less PyTorch's reserved), as vLLM's memory_profiling takes it,
    so both ends must be non-torch. bench/nontorch_memory.py records after_context_bytes as the memory *used* once
    ``torch.zeros(1, device=0)`` ran: the context plus the 2 MiB segment PyTorch's caching allocator takes for a small
    allocation (c10/cuda/CUDACachingAllocator.cpp kSmallBuffer), still held at the end: torch_reserved_bytes 98 MiB =
    2 + 32 (``a``) + 32 (``a @ a``) + 32 (cuBLAS's workspace). Used less non-torch at the end would leave the 2 MiB
    segment out of the growth: 718,077,952 - 650,969,088 = 64 MiB; the growth is 718,077,952 - (650,969,088 -
    2,097,152) = 69,206,016 B = 66 MiB."""
    m = json.loads((Path(__file__).resolve().parent.parent / "reports/h200/nontorch_memory.json").read_text())
    assert m["torch_reserved_bytes"] == (2 + 3 * 32) * 2**20
    assert m["nontorch_bytes"] == m["after_cublas_bytes"] - m["torch_reserved_bytes"] == 718_077_952
    context_non_torch = m["after_context_bytes"] - 2 * 2**20                  # 648,871,936
    growth = m["nontorch_bytes"] - context_non_torch
    assert growth == 69_206_016 == 66 * 2**20
    assert fit(load_spec("llama-3.1-8b"), load_hardware("h100-sxm"), 1024, engine="vllm").vllm.non_torch == growth


def test_qwen2_7b_a100_vllm_0101_by_hand():
    """dennislee22/vLLM-benchmarking log/vllm-7B-1gpuA10080GB-0.5GRAM.log: Qwen2-7B-Instruct, one A100 80GB, vLLM
    0.10.1.1 ("Using FlashInfer for top-p & top-k sampling"), util 0.5, 2,048 batched tokens and 256 sequences (the
    A100's defaults): "Model loading took 14.2488 GiB", "Available KV cache memory: 24.83 GiB". By hand: 0.5 x 79.32
    GiB - 14.1852 GiB - 66 MiB - the fused sampler (0.525 GiB, above the forward's 0.199) = 24.89 GiB, 0.998 of
    which the log shows."""
    f = fit(load_spec("qwen2.5-7b"), load_hardware("a100-80gb"), 16_384, gpu_mem_util=0.5, engine="vllm")
    v = f.vllm
    sampler = 2048 * 3584 * 2 + 2 * 256 * 3584 * 2 + 256 * 152064 * 14       # 0.525 GiB
    assert (v.tokens, v.max_num_seqs, v.sampler_path) == (2048, 256, "flashinfer")
    assert (v.weights, v.forward, v.sampler) == pytest.approx((QWEN2_7B_PARAMS * 2, QWEN2_7B_FORWARD_2K, sampler),
                                                             rel=1e-12)
    kv = 0.5 * 79.32 * GIB - QWEN2_7B_PARAMS * 2 - 69_206_016 - sampler
    assert f.kv_budget == pytest.approx(kv, rel=1e-12)
    assert kv / GIB == pytest.approx(24.89, abs=0.005)
    assert 24.83 / (kv / GIB) == pytest.approx(0.998, abs=0.001)
    assert 14.2488 / (v.weights / GIB) == pytest.approx(1.0045, abs=1e-4)    # the rotary cache and padding in vLLM's


def test_sort_sampler_by_hand_against_a_log_without_flashinfer():
    """log/vllm-7B-2gpuA10040GB-0.5GRAM-diff-nodes.log (same repository): Qwen2-7B at tp 2 on two A100 40GB, vLLM
    0.10.1.1 "FlashInfer is not available. Falling back to the PyTorch-native implementation": "Available KV cache
    memory: 11.03 GiB". PyTorch's sort peaks during the sort (ATen SortStable.cu segmented_sort_pairs, 256 rows):
    bf16 and fp32 logits, int64 reverse indices, sorted fp32 values and int64 indices, cub's alternate keys and
    values, 2 + 4 + 8 + 4 + 8 + 4 + 8 = 38 B a logit. 0.5 x 39.50 - 7.0928 - 66 MiB - 1.3948 = 11.20 GiB (0.985 of
    the log's; NCCL across nodes at tp 2 not counted); the fused path would leave 12.07 GiB."""
    spec, hw = load_spec("qwen2.5-7b"), load_hardware("a100-40gb")
    kw = dict(gpu_mem_util=0.5, engine="vllm")
    f = fit(spec, hw, 16_384, Parallelism(tp=2), sampler="sort", **kw)
    sampler = 2048 * 3584 * 2 + 2 * 256 * 3584 * 2 + 256 * 152064 * 38
    assert f.vllm.sampler == pytest.approx(sampler, rel=1e-12) and f.vllm.sampler_path == "sort"
    kv = 0.5 * 39.50 * GIB - f.weights - 69_206_016 - sampler
    assert f.kv_budget == pytest.approx(kv, rel=1e-12)
    assert kv / GIB == pytest.approx(11.20, abs=0.005)
    fused = fit(spec, hw, 16_384, Parallelism(tp=2), **kw)
    assert fused.kv_budget - f.kv_budget == pytest.approx(256 * 152064 * (38 - 14), rel=1e-12)
    assert fused.kv_budget / GIB == pytest.approx(12.07, abs=0.005)


def test_sampler_flag_reaches_the_breakdown(capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "qwen2.5-7b", "--gpu", "a100-40gb", "--tp", "2", "--gpu-mem-util", "0.5", "--engine", "vllm",
              "--sampler", "sort", "--json"])
    assert e.value.code in (0, None)
    v = json.loads(capsys.readouterr().out)["fits"][0]["vllm_memory"]
    assert v["sampler_path"] == "sort"
    assert v["sampler"] == 2048 * 3584 * 2 + 2 * 256 * 3584 * 2 + 256 * 152064 * 38


def test_triton_buffer_rows_by_hand():
    """vllm/v1/sample/ops/topk_topp_triton.py apply_top_k_top_p_triton: NUM_PROGRAMS = min(num_sm, batch_size), the
    cached buffer min(next_power_of_2(NUM_PROGRAMS), num_sm) rows of the vocabulary."""
    from mlacalc.vllm import triton_buffer_rows

    assert triton_buffer_rows(1024, 132) == min(256, 132) == 132      # H100, vLLM's 1,024 sequences
    assert triton_buffer_rows(256, 108) == min(128, 108) == 108       # A100, 256 sequences
    assert triton_buffer_rows(48, 132) == 64                           # 48 programs: the next power of two
    assert triton_buffer_rows(1, 132) == 1


def test_triton_sampler_against_vllm_019_on_an_h100_by_hand():
    """llm-d-planner accuracy_report.md (vLLM 0.19.0, FlashInfer's sampler "available but disabled by default", so
    the PyTorch path with apply_top_k_top_p_triton): Llama-3.1-8B on an H100, 8,192 tokens and 1,024 sequences,
    "torch peak memory increase" 1.89 GiB. By hand: the forward's output 8,192 x 4,096 x 2 B and the gathered rows
    2 x 1,024 x 4,096 x 2 B, 14 B a logit over 1,024 x 128,256, and the Triton buffer of 132 rows (132 SMs) x
    128,256 x 4 B (0.063 GiB) = 1.854 GiB, above the forward's 0.6875; FlashInfer's kernel would leave 1.791 GiB."""
    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    kw = dict(gpu_mem_util=0.95, workspace_tokens=8192, engine="vllm", max_num_seqs=1024)
    t = fit(spec, hw, 8192, sampler="triton", **kw).vllm
    flashinfer = 8192 * 4096 * 2 + 2 * 1024 * 4096 * 2 + 1024 * 128256 * 14
    triton = flashinfer + 132 * 128256 * 4
    assert t.sampler == pytest.approx(triton, rel=1e-12) and t.activation_peak == t.sampler
    assert triton / GIB == pytest.approx(1.854, abs=5e-4)
    assert fit(spec, hw, 8192, **kw).vllm.sampler == pytest.approx(flashinfer, rel=1e-12)
    assert t.sampler_path == "triton" and t.as_dict()["sampler_path"] == "triton"


def test_triton_sampler_needs_the_cards_sm_count():
    hw = hardware_from_dict({"name": "x", "memory_gib": 80, "mem_bandwidth_gb_s": 1, "bf16_tflops": 1,
                             "interconnect_gb_s": 1}, "x")
    assert hw.sms == 0
    with pytest.raises(ArgError) as e:
        fit(load_spec("llama-3.1-8b"), hw, 8192, engine="vllm", sampler="triton")
    assert e.value.field == "sampler" and "sms" in e.value.message
    assert fit(load_spec("llama-3.1-8b"), hw, 8192, engine="vllm", sampler="sort").vllm.sampler_path == "sort"


def test_api_fit_takes_the_sampler():
    import mlacalc

    a = mlacalc.fit("qwen2.5-7b", "a100-40gb", context=16_384, parallel=Parallelism(tp=2), gpu_mem_util=0.5,
                    engine="vllm", sampler="sort")
    assert a.vllm.sampler_path == "sort"
    assert a.vllm.sampler == 2048 * 3584 * 2 + 2 * 256 * 3584 * 2 + 256 * 152064 * 38


def test_cudagraph_estimate_comes_off_the_budget_by_hand():
    """vLLM >= 0.21 (PR #30515, VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS on by default from 0.21.0): kv =
    requested_memory - non_kv_cache_memory - cudagraph_memory_estimate_applied (gpu_worker.py
    determine_available_memory). The first test's setup with a logged "Estimated CUDA graph memory: 0.52 GiB total"
    (LMCache #3430's figure) given: 55.59 - 0.52 = 55.07 GiB; usable = weights + reserved + KV still holds."""
    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    kw = dict(gpu_mem_util=0.9, workspace_tokens=8192, engine="vllm", max_num_seqs=256)
    before = fit(spec, hw, 1024, **kw)
    after = fit(spec, hw, 1024, cudagraph_bytes=0.52 * GIB, **kw)
    total, weights = 79.22 * GIB, LLAMA_PARAMS * 2
    non_torch = 718_077_952 - (650_969_088 - 2 * 2**20)
    forward = 2 * 8192 * 4096 * 2 + 8192 * 32 * (128 + 128) * 2 + 8192 * 2 * 14336 * 2
    kv = 0.9 * total - weights - non_torch - forward - 0.52 * GIB
    assert after.kv_budget == pytest.approx(kv, rel=1e-12) and kv / GIB == pytest.approx(55.07, abs=0.005)
    assert before.kv_budget - after.kv_budget == pytest.approx(0.52 * GIB, rel=1e-12)
    assert after.usable == pytest.approx(after.weights + after.reserved + after.kv_budget, rel=1e-12)
    v = after.to_json()["vllm_memory"]
    assert v["cudagraph"] == 0.52 * GIB and v["cudagraph_source"] == "given"
    b = before.to_json()["vllm_memory"]
    assert b["cudagraph"] == 0 and b["cudagraph_source"].startswith("not subtracted")
    assert "Estimated CUDA graph memory: X GiB total" in b["cudagraph_source"]


def test_cudagraph_flag_takes_the_logged_gib_and_reaches_the_json(capsys):
    """--cudagraph-mem 0.61G (vLLM logs GiB to two decimals): round(0.61 x 2**30) = 654,982,513 B, subtracted."""
    def run(*extra):
        with pytest.raises(SystemExit) as e:
            main(["fit", "llama-3.1-8b", "--gpu", "h100-sxm", "--engine", "vllm", "--json", *extra])
        assert e.value.code in (0, None)
        return json.loads(capsys.readouterr().out)["fits"][0]

    plain, given = run(), run("--cudagraph-mem", "0.61G")
    assert given["vllm_memory"]["cudagraph"] == 654_982_513 == round(0.61 * 2**30)
    assert plain["memory_per_gpu"]["kv_budget"] - given["memory_per_gpu"]["kv_budget"] == 654_982_513


def test_non_torch_flag_takes_a_fraction_of_a_gib(capsys):
    """Public logs print non-torch memory to 0.01 GiB ("non-torch forward increase memory: 0.26GiB"); --non-torch
    0.26G was refused as "expected a whole number" (0.26 x 2**30 is not a whole byte); now round(0.26 x 2**30)."""
    with pytest.raises(SystemExit) as e:
        main(["fit", "llama-3.1-8b", "--gpu", "h100-sxm", "--engine", "vllm", "--non-torch", "0.26G", "--json"])
    assert e.value.code in (0, None)
    assert json.loads(capsys.readouterr().out)["fits"][0]["vllm_memory"]["non_torch"] == 279_172_874


def test_fit_caption_says_where_to_read_the_cudagraph_estimate(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")

    def caption(*args):
        return _h200_caption(capsys, *args)

    out = caption()
    assert "CUDA graphs not subtracted: vLLM >= 0.21" in out and "unless --enforce-eager" in out
    assert "'Estimated CUDA graph memory: X GiB total'" in out and "--cudagraph-mem" in out
    out = caption("--cudagraph-mem", "1G")
    assert "CUDA graphs not subtracted" not in out and "1.00 GiB" in out


def test_mrv2_sampler_by_hand():
    """Model Runner V2 (vllm/v1/worker/gpu/model_runner.py profile_run, sample/sampler.py, sample/gumbel.py): the
    dummy requests need no logits processing, so no fp32 copy and no top-k/top-p; live while sampling are the forward's
    output 8,192 x 4,096 x 2 B, the gathered rows 1,024 x 4,096 x 2 B, the bf16 logits 1,024 x 128,256 x 2 B and the
    Gumbel kernel's int64 + fp32 partials over ceil(128,256 / 1,024) = 126 blocks a row: 0.3164 GiB, under the
    forward's 0.6875, so the forward sets the peak (FlashInfer's V1 path: 1.79 GiB, the sampler)."""
    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    kw = dict(gpu_mem_util=0.9, workspace_tokens=8192, engine="vllm", max_num_seqs=1024)
    v = fit(spec, hw, 8192, sampler="mrv2", **kw).vllm
    sampler = 8192 * 4096 * 2 + 1024 * 4096 * 2 + 1024 * 128256 * 2 + 1024 * 126 * (8 + 4)
    forward = 2 * 8192 * 4096 * 2 + 8192 * 32 * (128 + 128) * 2 + 8192 * 2 * 14336 * 2
    assert v.sampler == sampler and sampler / GIB == pytest.approx(0.3164, abs=5e-5)
    assert v.forward == forward and v.activation_peak == forward
    v1 = fit(spec, hw, 8192, **kw).vllm
    assert v1.activation_peak == v1.sampler and v.kv_budget - v1.kv_budget == pytest.approx(v1.sampler - forward)
    assert v.sampler_path == "mrv2" and v.as_dict()["sampler_path"] == "mrv2"


def test_api_fit_takes_the_cudagraph_estimate():
    import mlacalc

    kw = dict(context=1024, workspace_tokens=8192, engine="vllm", max_num_seqs=256)
    f = mlacalc.fit("llama-3.1-8b", "h100-sxm", cudagraph_bytes=0.52 * GIB, **kw)
    assert f.kv_budget / GIB == pytest.approx(55.07, abs=0.005)        # the hand-worked figure above
    with pytest.raises(ArgError, match="engine vllm"):
        mlacalc.fit("llama-3.1-8b", "h100-sxm", context=1024, cudagraph_bytes=GIB)
    with pytest.raises(SpecError):
        mlacalc.fit("llama-3.1-8b", "h100-sxm", cudagraph_bytes=float("nan"), **kw)


@pytest.mark.parametrize("flag, value", [("--non-torch", "1G"), ("--cudagraph-mem", "1G")])
def test_engine_only_flags_are_named_as_typed(flag, value, capsys):
    """Under the default engine the refusal names the flag the user typed (it said --non-torch-bytes and
    --cudagraph-bytes, flags that do not exist)."""
    with pytest.raises(SystemExit) as e:
        main(["fit", "llama-3.1-8b", flag, value])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.startswith(f"error: {flag}: applies only with engine vllm")


def test_mrv2_sampler_at_tp2_counts_the_logits_all_gather():
    """At tp > 1 compute_logits all-gathers the vocabulary-parallel logits (logits_processor.py _gather_logits ->
    DeviceCommunicatorBase.all_gather: all_gather_into_tensor into [tp x rows, vocab / tp], then movedim(0, -1) and
    reshape, a copy), so this rank's shard, the gathered tensor and its copy are live at once: 2 B + 2 B + 2 B / tp a
    logit, over MRV2's 2 B while sampling. Llama-3.1-8B, H100, tp 2, 8,192 tokens, 1,024 rows: 75,497,472 B of hidden
    states + 1,024 x 128,256 x 4 + 1,024 x 64,128 x 2 = 656,670,720 B of logits = 0.6819 GiB, over the forward's
    0.40625 GiB (it was 0.3164 GiB: the sampling moment only, so the forward set the peak, 0.2756 GiB too low)."""
    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    v = fit(spec, hw, 8192, Parallelism(tp=2), gpu_mem_util=0.9, workspace_tokens=8192, engine="vllm",
            max_num_seqs=1024, sampler="mrv2").vllm
    hidden = 8192 * 4096 * 2 + 1024 * 4096 * 2
    gather = 1024 * 128256 * 2 + 1024 * 128256 * 2 + 1024 * (128256 // 2) * 2
    sampling = 1024 * 128256 * 2 + 1024 * 126 * 12
    forward = 2 * 8192 * 4096 * 2 + 8192 * (32 // 2) * (128 + 128) * 2 + 8192 * 2 * (14336 // 2) * 2
    assert gather > sampling
    assert v.sampler == hidden + gather and v.sampler / GIB == pytest.approx(0.6819, abs=5e-5)
    assert v.forward == forward and v.activation_peak == v.sampler
    one = fit(spec, hw, 8192, gpu_mem_util=0.9, workspace_tokens=8192, engine="vllm", max_num_seqs=1024,
              sampler="mrv2").vllm
    assert one.sampler == hidden + sampling                # tp 1: no gather, the sampling moment


def test_sweep_caption_says_cuda_graphs_are_not_subtracted(capsys, monkeypatch):
    """sweep --engine vllm takes no --cudagraph-mem (refused in one line) and its budget leaves the estimate out; its
    caption says so, as fit's does."""
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit) as e:
        main(["sweep", "llama-3.1-8b", "--engine", "vllm", "--gpus", "1"])
    assert e.value.code in (0, None)
    out = " ".join(capsys.readouterr().out.split())
    assert "CUDA graphs not subtracted" in out and "fit --cudagraph-mem" in out
    with pytest.raises(SystemExit) as e:
        main(["sweep", "llama-3.1-8b", "--engine", "vllm", "--cudagraph-mem", "1G"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and "--cudagraph-mem" in err


def test_cudagraph_help_says_a_disabled_estimate_is_logged_but_not_subtracted(capsys, monkeypatch):
    """With VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=0 vLLM still logs "Estimated CUDA graph memory" but subtracts
    nothing (gpu_worker.py: cudagraph_memory_estimate_applied = 0, and a warning that profiling is disabled), so
    passing the logged figure there would subtract what vLLM did not; the help says to leave it out."""
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=0" in out
