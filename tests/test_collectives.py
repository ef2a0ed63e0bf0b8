"""The interconnect calibration on CPU: gloo processes stand in for NCCL ones; the fit is checked by hand."""

import pytest

from mlacalc.profiler.collectives import bus_factor, fit_alpha_beta, measure_collectives


def test_bus_factors_follow_nccl_tests():
    assert bus_factor("all_reduce", 8) == 2 * 7 / 8
    assert bus_factor("all_gather", 4) == 3 / 4


def test_alpha_beta_fit_recovers_a_line():
    alpha, beta = 5e-6, 400e9
    pts = [(x, alpha + x / beta) for x in (1e4, 1e6, 1e8)]
    a, b = fit_alpha_beta(pts)
    assert a == pytest.approx(alpha, rel=1e-6) and b == pytest.approx(beta, rel=1e-6)


def test_two_gloo_processes_measure_every_collective():
    torch = pytest.importorskip("torch")
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not built")
    r = measure_collectives(2, backend="gloo", sizes=[4 << 10, 256 << 10], reps=2, port=29611)
    assert {row["op"] for row in r["rows"]} == {"all_reduce", "all_gather", "reduce_scatter", "all_to_all"}
    assert all(row["time_s"] > 0 and row["bus_gb_s"] > 0 for row in r["rows"])
    assert r["interconnect_gb_s"] > 0 and r["collective_latency_us"] >= 0


def test_the_roofline_charges_each_collective_its_latency():
    import mlacalc
    from mlacalc.hardware import hardware_from_dict, load_hardware

    base = load_hardware("h200").to_dict()
    base.pop("kernels")
    hw = hardware_from_dict(base | {"collective_latency_us": 10.0}, "h200+alpha")
    spec = mlacalc.load_spec("llama-3.1-8b")
    plain = mlacalc.roofline(spec, "h200", batch=8, context=4096, parallel=mlacalc.Parallelism(tp=8)).op("comm")
    alpha = mlacalc.roofline(spec, hw, batch=8, context=4096, parallel=mlacalc.Parallelism(tp=8)).op("comm")
    # two all-reduces per layer, 32 layers, 10 us each
    assert alpha.time_s - plain.time_s == pytest.approx(2 * 32 * 10e-6)
