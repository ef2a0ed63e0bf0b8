"""Profiler on a real GPU (skipped without CUDA): calibration writes a loadable spec, a decode point's KV cache
is exact to the byte, a does-not-fit point is recorded, and a training point runs under each recompute mode."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_quick_calibration_writes_a_spec_the_loader_accepts(tmp_path):
    from mlacalc.hardware import load_hardware
    from mlacalc.profiler.calibrate import calibrate, write_hardware_yaml

    cal = calibrate(quick=True)
    write_hardware_yaml(cal, tmp_path / "gpu.yaml")
    hw = load_hardware(str(tmp_path / "gpu.yaml"))
    assert hw.measured and hw.mem_bandwidth_gb_s > 100 and hw.bf16_tflops > 10


@pytest.mark.parametrize("model,kernel", [("deepseek-v2-lite", "triton"), ("llama-3.1-8b", "sdpa")])
def test_decode_point_kv_cache_is_exact(model, kernel):
    from mlacalc.hardware import load_hardware
    from mlacalc.profiler.run import PointConfig, profile_point

    p = profile_point(PointConfig(model, "decode", kernel, 4, 2048, layers=2, reps=5, breakdown=False),
                      load_hardware("h100-sxm"))
    assert p["status"] == "ok"
    kv = next(c for c in p["comparisons"] if c["name"] == "kv_bytes")
    assert kv["measured"] == kv["predicted"]


@pytest.mark.parametrize("kv_dtype", ["bf16", "fp8-ds"])
def test_a_dsa_point_gathers_its_rows_and_its_cache_is_exact(kv_dtype):
    from mlacalc.hardware import load_hardware
    from mlacalc.profiler.run import PointConfig, profile_point

    p = profile_point(PointConfig("deepseek-v3.2", "decode", "auto", 4, 3000, layers=2, tp=8, paged=True,
                                  kv_dtype=kv_dtype, reps=5, breakdown=False), load_hardware("h200"))
    assert p["status"] == "ok"
    kv = next(c for c in p["comparisons"] if c["name"] == "kv_bytes")
    assert kv["measured"] == kv["predicted"] == 2 * 4 * 3008 * ((656 if kv_dtype == "fp8-ds" else 1152) + 132)


@pytest.mark.parametrize("model,kw", [
    ("deepseek-v3.2", dict(kernel="auto", tp=8)),                                   # DSA, contiguous: pool rows
    ("deepseek-v3.2", dict(kernel="auto", tp=8, paged=True, kv_dtype="fp8-ds")),   # DSA, fp8-ds rows, paged
    ("deepseek-v3", dict(kernel="auto", tp=1, paged=True)),                        # 128 heads, the Gluon kernel
    ("deepseek-v3", dict(kernel="triton", tp=8, kv_dtype="fp8", paged=True)),
    ("deepseek-v2-lite", dict(kernel="auto", q_tokens=2)),
    ("llama-3.1-8b", dict(kernel="triton", paged=True)), ("mistral-7b", dict(kernel="sdpa", context=5000))])
def test_every_decode_point_checks_the_output_of_what_it_timed(model, kw):
    """Each decode point's last sequence against its float32 reference (profiler/output_check.py): within bf16
    rounding at kernels, layouts and caches the suites run. The contiguous DSA point is the one that read
    sequence 0's rows until the thirty-second session."""
    from mlacalc.hardware import load_hardware
    from mlacalc.profiler.run import PointConfig, profile_point

    cfg = PointConfig(model, **({"phase": "decode", "batch": 6, "context": 3000, "layers": 2, "reps": 3,
                                 "breakdown": False} | kw))
    p = profile_point(cfg, load_hardware("h100-sxm"))
    assert p["status"] == "ok"
    check = p["output_check"]
    assert check["ok"] and check["rel_error"] < 1e-2 and check["sequence"] == 5, check


def test_a_cache_larger_than_the_card_is_recorded_as_does_not_fit():
    from mlacalc.hardware import load_hardware
    from mlacalc.profiler.run import PointConfig, profile_point

    total = torch.cuda.get_device_properties(0).total_memory
    ctx = int(2 * total / (27 * 576 * 2 * 64))  # twice the card for 64 sequences of DeepSeek-V2-Lite
    p = profile_point(PointConfig("deepseek-v2-lite", "decode", "triton", 64, ctx, breakdown=False),
                      load_hardware("h100-sxm"))
    assert p["status"] == "does not fit" and p["fit"]["fit_agrees"] is True


@pytest.mark.parametrize("mode", ["none", "selective", "full", "mla-latent"])
def test_training_point_runs_under_each_recompute_mode(mode):
    from mlacalc.hardware import load_hardware
    from mlacalc.profiler.run import PointConfig, profile_point

    p = profile_point(PointConfig("variant-mla", "train", "sdpa", 1, 1024, layers=2, recompute=mode, reps=3),
                      load_hardware("h100-sxm"))
    assert p["status"] == "ok" and p["peak_bytes"] > p["weights_bytes"] > 0
