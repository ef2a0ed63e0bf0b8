"""Built-in GPU specs: every file loads, cites its source, and has dense rates in a sane order."""

from __future__ import annotations

import pytest
import yaml
from importlib import resources

from mlacalc.hardware import hardware_names, load_hardware

REQUIRED = {"h100-sxm", "h100-pcie", "h200", "h800", "h20", "a100-40gb", "a100-80gb", "l40s", "b200", "mi300x",
            "rtx-4090"}


def test_all_required_gpus_are_built_in():
    assert REQUIRED <= set(hardware_names())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_spec_loads_with_a_source_and_ordered_rates(name):
    raw = yaml.safe_load(resources.files("mlacalc.model_specs.hardware").joinpath(f"{name}.yaml").read_text())
    assert raw["source"].startswith("http")
    hw = load_hardware(name)
    assert hw.fp32_tflops < hw.bf16_tflops <= hw.fp16_tflops
    assert hw.fp8_tflops == 0 or hw.fp8_tflops == pytest.approx(2 * hw.bf16_tflops, rel=0.02)  # L40S: 733 vs 362.05
    assert hw.flops_per_s(8) >= hw.flops_per_s(16)          # no fp8 units: fp8 runs at the bf16 rate


def test_ridge_points_by_hand():
    # H100 SXM: 989 TFLOP/s bf16 over 3.35 TB/s = 295 FLOP/byte; H20: 148 / 4.0 = 37
    assert load_hardware("h100-sxm").ridge_point(16) == pytest.approx(989e12 / 3350e9)
    assert load_hardware("h20").ridge_point(16) == pytest.approx(148e12 / 4000e9)


def test_kernel_launch_us_is_optional_non_negative_microseconds():
    from mlacalc.errors import SpecError
    from mlacalc.hardware import hardware_from_dict

    base = {"name": "x", "memory_gib": 1, "mem_bandwidth_gb_s": 1000, "bf16_tflops": 100, "interconnect_gb_s": 1}
    assert hardware_from_dict(dict(base), "x").kernel_launch_us == 0.0
    assert hardware_from_dict({**base, "kernel_launch_us": 2.5}, "x").kernel_launch_us == 2.5
    for bad in (-1, "fast", True):
        with pytest.raises(SpecError, match="kernel_launch_us"):
            hardware_from_dict({**base, "kernel_launch_us": bad}, "x")


@pytest.mark.parametrize("name", hardware_names())
def test_every_built_in_card_names_its_architecture(name):
    hw = load_hardware(name)
    want = {"a100": "sm_80", "h1": "sm_90", "h2": "sm_90", "h8": "sm_90", "b2": "sm_100", "l4": "sm_89",
            "rt": "sm_89", "mi": "gfx942"}
    assert hw.arch == next(v for k, v in want.items() if name.startswith(k))


def test_arch_must_read_like_a_compute_capability_or_an_amd_target():
    from mlacalc.errors import SpecError
    from mlacalc.hardware import hardware_from_dict

    base = {"name": "x", "mem_bandwidth_gb_s": 1000, "bf16_tflops": 100, "interconnect_gb_s": 100, "memory_gib": 80}
    assert hardware_from_dict(base | {"arch": "sm_90a"}, "x.yaml").arch == "sm_90a"
    assert hardware_from_dict(base, "x.yaml").arch == ""
    for bad in ("hopper", 90, "sm_9"):
        with pytest.raises(SpecError, match="arch"):
            hardware_from_dict(base | {"arch": bad}, "x.yaml")


def test_the_gluon_kernels_are_priced_only_where_they_run():
    """auto runs the Gluon kernels on sm_90 only (kernels/gluon_*: capability 9.x): elsewhere DSA decode and 64+ row
    fp8 tiles are priced as the Triton kernels. A spec naming no arch keeps the Hopper pricing."""
    from dataclasses import replace

    from mlacalc.expected import runs_gluon
    from mlacalc.parallel import Parallelism
    from mlacalc.spec import load_spec
    from mlacalc.step import Step, roofline

    h200, a100 = load_hardware("h200"), load_hardware("a100-80gb")
    assert runs_gluon("auto", h200) and runs_gluon("gluon", h200) and not runs_gluon("triton", h200)
    assert not runs_gluon("auto", a100) and runs_gluon("auto", replace(a100, arch=""))
    assert not runs_gluon("auto", load_hardware("b200")) and not runs_gluon("auto", load_hardware("mi300x"))

    def attn(spec, hw, kv_bits=16, tp=8):
        r = roofline(load_spec(spec), hw, Step("decode", 64, 8192), Parallelism(tp=tp), kv_bits=kv_bits)
        return r.op("attn_core").expected_s

    unnamed = replace(a100, arch="")
    assert attn("deepseek-v3.2", a100) != attn("deepseek-v3.2", unnamed)       # gathered: Triton vs Gluon sparse
    assert attn("deepseek-v3", a100, 8, 1) != attn("deepseek-v3", unnamed, 8, 1)  # fp8, 128 rows: widened in-program
    assert attn("deepseek-v3", a100, 8) == attn("deepseek-v3", unnamed, 8)     # fp8, 16 rows: Triton either way
    assert attn("deepseek-v3", a100, 16, 1) == attn("deepseek-v3", unnamed, 16, 1)  # bf16: one model either way


def test_calibrate_names_the_cards_architecture():
    from types import SimpleNamespace

    from mlacalc.profiler.calibrate import device_arch

    assert device_arch(SimpleNamespace(major=9, minor=0)) == "sm_90"
    assert device_arch(SimpleNamespace(major=8, minor=9, gcnArchName="")) == "sm_89"
    # torch 2.11 on CUDA gives the card's name there (the H200 machine's calibrate wrote arch 'NVIDIA H200')
    assert device_arch(SimpleNamespace(major=9, minor=0, gcnArchName="NVIDIA H200")) == "sm_90"
    assert device_arch(SimpleNamespace(major=9, minor=4, gcnArchName="gfx942:sramecc+:xnack-")) == "gfx942"


@pytest.mark.parametrize("typed,name", [
    ("H100", "h100-sxm"), ("h100", "h100-sxm"), ("H100 SXM", "h100-sxm"), ("NVIDIA H100 PCIe", "h100-pcie"),
    ("h100_pcie", "h100-pcie"), ("A100", "a100-80gb"), ("A100 40GB", "a100-40gb"), ("RTX 4090", "rtx-4090"),
    ("AMD Instinct MI300X", "mi300x"), ("B200", "b200")])
def test_gpu_names_as_people_type_them(typed, name):
    assert load_hardware(typed) == load_hardware(name)


def test_unknown_gpu_is_one_line_exit_2_and_an_alias_runs(capsys):
    from mlacalc.cli import main

    with pytest.raises(SystemExit) as e:
        main(["roofline", "llama-3.1-8b", "--gpu", "h1000"])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and "unknown GPU" in err and len((out + err).strip().splitlines()) == 1
    with pytest.raises(SystemExit) as e:
        main(["roofline", "llama-3.1-8b", "--gpu", "H100", "--json"])
    out, err = capsys.readouterr()
    assert e.value.code == 0 and "H100 SXM5" in out
