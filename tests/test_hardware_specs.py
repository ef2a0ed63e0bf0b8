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
