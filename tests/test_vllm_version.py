"""``fit --engine vllm --vllm-version``: the release picks the sampler path, the non-torch bytes and whether a
CUDA-graph estimate applies (mlacalc.vllm.VERSION_RULES, docs/vllm-capacity-checks.md), worked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlacalc.capacity import fit
from mlacalc.cli import main
from mlacalc.errors import ArgError
from mlacalc.hardware import load_hardware
from mlacalc.spec import load_spec
from mlacalc.vllm import VERSION_RULES, parse_version, version_rules

GIB = 2**30
HF = Path(__file__).parent / "fixtures" / "hf"
QWEN3_14B = str(HF / "qwen3_14b" / "config.json")   # 40 layers, d 5120, vocabulary 151,936 (Qwen/Qwen3-14B)


def _qwen3_14b(version: str, **kw):
    """llm-d's Q16/Q17 setup: one H100 (cudaMemGetInfo 79.22 GiB, 132 SMs), util 0.95, vLLM's 8,192 batched tokens
    and 1,024 sequences for an H100, max_model_len 8,192."""
    return fit(load_spec(QWEN3_14B), load_hardware("h100-sxm"), 8192, gpu_mem_util=0.95, engine="vllm",
               vllm_version=version, **kw)


def test_qwen3_14b_on_016_sorts_and_on_017_takes_the_triton_path_by_hand():
    """docs/vllm-capacity-checks.md Q16/Q17 (llm-d-planner accuracy_report.md): the same model, vLLM 0.16.0 then
    0.17.0, activation 5.64 -> 2.23 GiB logged, KV 41.94 -> 45.34 GiB. 0.16 (FlashInfer off from PR #26859, v0.11.1,
    before the Triton path): PyTorch's sort, 38 B a logit; 0.17: apply_top_k_top_p_triton, 14 B a logit and 132
    rows of fp32 vocabulary. Forward output 8,192 x 5,120 x 2 and the two 1,024-row copies 2 x 1,024 x 5,120 x 2."""
    rows, vocab, d = 1024, 151_936, 5120
    base = 8192 * d * 2 + 2 * rows * d * 2
    sort = base + rows * vocab * 38
    triton = base + rows * vocab * 14 + 132 * vocab * 4
    q16, q17 = _qwen3_14b("0.16"), _qwen3_14b("0.17.0")
    assert q16.vllm.sampler_path == "sort" and q16.vllm.sampler == sort
    assert q17.vllm.sampler_path == "triton" and q17.vllm.sampler == triton
    assert sort / GIB == pytest.approx(5.60, abs=0.005) and triton / GIB == pytest.approx(2.20, abs=0.005)
    # both >= 0.9.2 and < 0.21: the growth after the context (69,206,016 B), no CUDA-graph estimate
    for f, peak, logged in ((q16, sort, 41.94), (q17, triton, 45.34)):
        kv = 0.95 * 79.22 * GIB - f.weights - 69_206_016 - peak
        assert f.kv_budget == pytest.approx(kv, rel=1e-12)
        assert f.kv_budget / GIB == pytest.approx(logged, rel=0.005)      # 42.08 and 45.49 by hand
        assert f.vllm.cudagraph == 0 and "before v0.21.0" in f.vllm.cudagraph_source


def test_a_pre_092_v1_release_subtracts_the_cuda_context():
    """V1 before PR #19312 (v0.9.2) subtracted device-used less torch-allocated, the context in it: the whole
    one-process 718,077,952 B measured on an H200, where 0.9.2 subtracts the growth after the context (69,206,016
    B). The budget differs by the context's non-torch memory, 650,969,088 - 2 MiB = 648,871,936 B (0.604 GiB)."""
    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    old, new = (fit(spec, hw, 8192, engine="vllm", vllm_version=v) for v in ("0.9.1", "0.9.2"))
    assert old.vllm.non_torch == 718_077_952 and new.vllm.non_torch == 69_206_016
    assert new.kv_budget - old.kv_budget == 650_969_088 - 2 * 2**20
    assert "PR #19312" in old.vllm.non_torch_source
    assert any("V0" in u for u in old.vllm.version.unknown)   # V0 from PR #12126 does not: said, not guessed
    # both pre-0.11.1 V1: FlashInfer's path, and the note says what is unknown (FlashInfer installed?)
    assert old.vllm.sampler_path == "flashinfer" and any("FlashInfer ran" in u for u in old.vllm.version.unknown)


def test_given_sampler_and_non_torch_win_over_the_version():
    f = _qwen3_14b("0.16", sampler="triton", non_torch_bytes=0.13 * GIB)
    assert f.vllm.sampler_path == "triton" and f.vllm.non_torch == 0.13 * GIB and f.vllm.non_torch_source == "given"
    assert f.vllm.version.applied[0] == "sampler triton (given; the version's: sort)"
    g = fit(load_spec("llama-3.1-8b"), load_hardware("h100-sxm"), 8192, engine="vllm", vllm_version="0.9.1",
            non_torch_bytes=0)
    assert g.vllm.non_torch == 0


def test_mrv2_for_dense_models_from_0251_and_all_from_029():
    """PR #44443 (dense models, 0.25.1 per vllm #49224); v0.29.0 all models. Dense as vLLM's oracle (PR #39337:
    ``is_moe``, ``has_inner_state``): no MoE layers, no state layers. MRV2's graph estimate is 0 (PR #36520) before
    PR #53306 (v0.29.0)."""
    hw = load_hardware("h100-sxm")
    dense = load_spec(QWEN3_14B)
    moe, hybrid = load_spec("qwen3-235b-a22b"), load_spec("qwen3-next-80b-a3b")
    r = version_rules("0.25.0", True)
    assert r.sampler == "flashinfer"                                  # PR #40376, MRV1
    for text, is_dense, path in (("0.25.1", True, "mrv2"), ("0.28.3", True, "mrv2"), ("0.26", False, "flashinfer"),
                                 ("0.29", False, "mrv2"), ("0.30.1", True, "mrv2")):
        assert version_rules(text, is_dense).sampler == path, text
    assert fit(moe, hw, 8192, engine="vllm", vllm_version="0.26").vllm.sampler_path == "flashinfer"
    d = fit(dense, hw, 8192, engine="vllm", vllm_version="0.26").vllm
    assert d.sampler_path == "mrv2" and d.cudagraph == 0 and "PR #36520" in d.cudagraph_source
    assert version_rules("0.26", False).cudagraph_none is False      # MRV1 measures its graphs from 0.21
    assert version_rules("0.29", True).cudagraph_none is False       # PR #53306: MRV2 measures them too
    from mlacalc.vllm import runs_dense

    assert not runs_dense(moe.num_moe_layers, moe.linear_attention is not None)
    assert not runs_dense(hybrid.num_moe_layers, hybrid.linear_attention is not None)
    assert runs_dense(dense.num_moe_layers, dense.linear_attention is not None)


def test_unknowns_are_said_not_guessed():
    r = version_rules("0.6.3", True)                      # V0 only; PR #12126 pinned to no release
    assert r.sampler == "sort" and r.non_torch is None and any("PR #12126" in u for u in r.unknown)
    r = version_rules("0.22", True)                       # the estimate is a measurement
    assert any("--cudagraph-mem" in u for u in r.unknown) and not r.cudagraph_none
    r = version_rules("0.31", True)
    assert any("newer than the docs" in u for u in r.unknown)
    assert not any("newer" in u for u in version_rules("0.30.2", True).unknown)
    assert any("PR #52329" in u for u in version_rules("0.29", True).unknown)


def test_rules_cover_every_version_once_and_cite_a_source():
    """Each knob's rows tile the versions from 0 with no gap or overlap, and each row names a PR, a file or a log."""
    for knob in ("sampler", "non_torch", "cudagraph"):
        rows = [r for r in VERSION_RULES if r[0] == knob]
        assert rows[0][1] == (0,) and rows[-1][2] is None
        assert all(a[2] == b[1] for a, b in zip(rows, rows[1:])), knob
    assert all("PR #" in r[4] or ".py" in r[4] or "log" in r[4] for r in VERSION_RULES)


@pytest.mark.parametrize("text", ["banana", "0.x", "0", "0.17.", ".17", "0.1.2.3.4", "0.17rc1", "0.10.1rc1",
                                  "0.11.1.dev12+gabc", "0.11+", "+cu128", "vv0.17", "0.11.0+a+b", "１.2", ""])
def test_bad_versions_are_refused(text):
    with pytest.raises(ArgError, match="vllm_version"):
        parse_version(text)


def test_version_parts_compare_as_numbers():
    assert parse_version("0.17") == parse_version("0.17.0") == (0, 17)
    assert parse_version("0.9.2") < parse_version("0.10.1.1") < parse_version("0.11.1")


@pytest.mark.parametrize("args", [["--engine", "vllm", "--vllm-version", "banana"],
                                  ["--engine", "vllm", "--vllm-version", "0.x"],
                                  ["--vllm-version", "0.17"], ["--engine", "sglang", "--vllm-version", "0.17"]])
def test_bad_version_flags_exit_2_with_one_line(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "llama-3.1-8b", *args])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.startswith("error: --vllm-version") and "\n" not in err


def _json(capsys, *args) -> dict:
    with pytest.raises(SystemExit) as e:
        main(["fit", QWEN3_14B, "--gpu", "h100-sxm", "--engine", "vllm", "--gpu-mem-util", "0.95", "--context",
              "8192", *args, "--json"])
    assert e.value.code in (0, None)
    return json.loads(capsys.readouterr().out)["fits"][0]["vllm_memory"]


def test_json_says_which_rules_applied_and_is_unchanged_without_a_version(capsys):
    plain = _json(capsys)
    assert "vllm_version" not in plain and plain["sampler_path"] == "flashinfer"
    v = _json(capsys, "--vllm-version", "0.16")
    assert v["vllm_version"]["version"] == "0.16" and v["sampler_path"] == "sort"
    assert v["vllm_version"]["applied"][0].startswith("sampler sort (FlashInfer off by default from PR #26859")
    assert {k: x for k, x in v.items() if k not in ("vllm_version", "sampler", "sampler_path", "activation_peak",
                                                   "kv_budget", "non_torch_source", "cudagraph_source")} == \
        {k: x for k, x in plain.items() if k not in ("sampler", "sampler_path", "activation_peak", "kv_budget",
                                                    "non_torch_source", "cudagraph_source")}


def test_caption_says_the_version_rules(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        main(["fit", QWEN3_14B, "--gpu", "h100-sxm", "--engine", "vllm", "--vllm-version", "0.22"])
    out = " ".join(capsys.readouterr().out.split())
    assert "vLLM 0.22 rules: sampler flashinfer" in out and "give --cudagraph-mem" in out


def test_mrv2_chosen_by_hand_before_029_subtracts_no_graph_estimate():
    """--sampler mrv2 on 0.22 (MRV2 by VLLM_USE_V2_MODEL_RUNNER): its profile_cudagraph_memory returned 0 (PR #36520)
    until PR #53306 (v0.29.0), so nothing is subtracted though V1 measures from 0.21."""
    r = version_rules("0.22", False, sampler="mrv2")
    assert r.cudagraph_none and "PR #36520" in r.cudagraph_source
    assert not version_rules("0.22", False).cudagraph_none


def test_a_git_tag_and_a_local_build_tag_name_the_release():
    """``v0.11.0`` (the git tag) and ``0.11.0+cu128`` (a wheel's local version) are release 0.11.0; pre-releases stay
    refused (which PRs an rc holds is not known)."""
    assert parse_version("v0.11.0") == parse_version("0.11.0+cu128") == parse_version("0.11") == (0, 11)
    assert parse_version("v0.10.1.1+cu126") == (0, 10, 1, 1)
    assert version_rules("v0.16", True).sampler == "sort"


def test_07x_runs_v0_by_default_so_it_sorts_and_keeps_the_context_out():
    """V1 became the default engine in v0.8.0 (vllm PR #13726; v0.7 shipped it opt-in, VLLM_USE_V1=1), so a plain
    0.7.x start-up is V0: PyTorch's sort (38 B a logit) and, since PR #12126, a snapshot holding the CUDA context, so
    only the growth after it is subtracted (the docs' v0.7.x V0 row, vllm #13061). 0.8.0 is V1: FlashInfer's path and
    the whole-process 718,077,952 B (before PR #19312)."""
    spec, hw = load_spec("llama-3.1-8b"), load_hardware("h100-sxm")
    r7, r8 = version_rules("0.7.3", True), version_rules("0.8", True)
    assert r7.sampler == "sort" and r7.non_torch == 69_206_016
    assert any("VLLM_USE_V1=1" in u for u in r7.unknown)
    assert r8.sampler == "flashinfer" and r8.non_torch == 718_077_952
    f7, f8 = (fit(spec, hw, 8192, engine="vllm", vllm_version=v) for v in ("0.7.3", "0.8.0"))
    assert any("256 sequences" in u for u in r7.unknown) and not any("256" in u for u in r8.unknown)
    rows, vocab = 1024, 128_256     # fit's V1 batch default on an H100 (V0's 256 is said, not applied); Llama-3.1
    assert f7.vllm.sampler == 8192 * 4096 * 2 + 2 * rows * 4096 * 2 + rows * vocab * 38
    assert f7.vllm.non_torch == 69_206_016 and f8.vllm.non_torch == 718_077_952
