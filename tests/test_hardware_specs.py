"""Built-in GPU specs: every file loads, cites its source, and has dense rates in a sane order."""

from __future__ import annotations

import pytest
import yaml
from importlib import resources

from mlacalc.hardware import hardware_names, load_hardware

REQUIRED = {"h100-sxm", "h100-pcie", "h100-nvl", "h200", "h200-nvl", "h800", "h20", "a100-40gb", "a100-80gb", "a10",
            "l4", "l20", "l40s", "b200", "b300", "gb200", "gb300", "mi300x", "mi325x", "mi355x", "rtx-4090", "rtx-5090",
            "rtx-pro-6000", "l40", "a800", "a10g", "rtx-3090", "rtx-a6000", "a40", "rtx-6000-ada", "gh200"}


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
    want = {"a100": "sm_80", "a800": "sm_80", "a10": "sm_86", "h1": "sm_90", "h2": "sm_90", "h8": "sm_90", "b2": "sm_100",
            "gb2": "sm_100", "b3": "sm_103", "gb3": "sm_103", "l": "sm_89", "rtx-4": "sm_89", "rtx-": "sm_120",
            "mi3": "gfx942", "mi355": "gfx950", "a40": "sm_86", "rtx-3": "sm_86", "rtx-a": "sm_86",
            "rtx-6000-ada": "sm_89", "gh": "sm_90"}
    want = {k: want[k] for k in sorted(want, key=len, reverse=True)}   # the longest prefix wins
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
    tiles (bf16 and fp8) are priced as the Triton kernels. A spec naming no arch keeps the Hopper pricing."""
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
    # bf16, 128 rows: the Triton kernel's 64-row tiles (triton_mma_eff) against the Gluon kernel's; 16 rows: Triton
    assert attn("deepseek-v3", a100, 16, 1) > attn("deepseek-v3", unnamed, 16, 1)
    assert attn("deepseek-v3", a100, 16) == attn("deepseek-v3", unnamed, 16)


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
    ("AMD Instinct MI300X", "mi300x"), ("B200", "b200"), ("h100-80gb", "h100-sxm"), ("H100 NVL", "h100-nvl"),
    ("NVIDIA GeForce RTX 5090", "rtx-5090"), ("RTX PRO 6000 Blackwell", "rtx-pro-6000"), ("GB200 NVL72", "gb200"),
    ("B300", "b300"), ("MI355X", "mi355x"), ("L4", "l4"), ("NVIDIA A10G", "a10g"), ("NVIDIA A40", "a40"),
    ("NVIDIA GeForce RTX 3090", "rtx-3090"), ("3090", "rtx-3090"), ("NVIDIA RTX A6000", "rtx-a6000"),
    ("A6000", "rtx-a6000"), ("NVIDIA RTX 6000 Ada Generation", "rtx-6000-ada"), ("rtx6000ada", "rtx-6000-ada"),
    ("NVIDIA GH200 480GB", "gh200")])
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


@pytest.mark.parametrize("name,mib", [("h100-sxm", 81_559), ("h800", 81_559), ("h200", 143_771), ("b200", 183_359),
                                      ("a100-40gb", 40_536), ("h20", 97_871), ("l40s", 46_068), ("l20", 46_068),
                                      ("l4", 23_034), ("a10", 23_028), ("rtx-4090", 24_564), ("rtx-5090", 32_607),
                                      # audit 5: these three were datasheet GB read as GiB (94, 270) or a guessed
                                      # ECC share (90 of 96), not the driver's figure; nvidia-smi on each card
                                      # (public logs): 95,830, 275,040 and 97,887 MiB
                                      ("h100-nvl", 95_830), ("b300", 275_040), ("rtx-pro-6000", 97_887),
                                      # hwaudit: the rack specs' 186 and 279 GB a GPU were read as GiB; nvidia-smi on
                                      # a GB200 (1,200 W) and a GB300 (1,400 W) NVL72 tray (public logs): 189,471 and
                                      # 284,208 MiB. The L40 (non-S) keeps 1/16 for ECC, as the L40S: 46,068 MiB
                                      ("gb200", 189_471), ("gb300", 284_208), ("l40", 46_068),
                                      # public nvidia-smi logs naming each card: the A10G and A40 keep 1/16 for ECC
                                      # (as the A10 and L40S); the A6000 and RTX 6000 Ada ship with ECC off (49,140
                                      # of 48 GiB), GeForce has none; "NVIDIA GH200 480GB" is the 96 GB HBM3 GPU
                                      ("a10g", 23_028), ("a40", 46_068), ("rtx-a6000", 49_140),
                                      ("rtx-6000-ada", 49_140), ("rtx-3090", 24_576), ("gh200", 97_871)])
def test_memory_is_what_the_driver_reports_not_the_datasheet_gb(name, mib):
    """Memory is nvidia-smi's total (the files cite each), in GiB to 2 decimals: an engine allocates from it. The L40S's
    "48 GB" is 46,068 MiB = 44.99 GiB with ECC on (inline ECC keeps 1/16: 48 x 15/16 = 45), 6% below 48 GiB; the H100's
    "80 GB" is 81,559 MiB = 79.65 GiB. Reading a datasheet GB as 1e9 bytes would be wrong the other way (80e9 B =
    74.5 GiB)."""
    assert load_hardware(name).memory_bytes == pytest.approx(mib * 2**20, abs=0.006 * 2**30)


def test_mi300x_memory_is_rocm_smis_total():
    assert load_hardware("mi300x").memory_bytes == pytest.approx(205_822_885_888, abs=0.006 * 2**30)  # 191.69 GiB


def test_new_cards_rates_by_hand():
    """Dense rates are the datasheets' sparsity figures halved (NVIDIA marks sparse figures with an asterisk):
    H100 NVL BF16 1,671* -> 835.5, FP8 3,341* -> 1,670.5; L4 FP8 485* -> 242.5; GB200 NVL72 FP16 360 PFLOPS* over 72
    GPUs -> 5,000* -> 2,500; HGX B300 BF16 36 PFLOPS* over 8 -> 2,250; MI355X (AMD quotes dense) BF16 2,516.6."""
    assert load_hardware("h100-nvl").bf16_tflops == 1671 / 2 and load_hardware("h100-nvl").fp8_tflops == 3341 / 2
    assert load_hardware("l4").fp8_tflops == 485 / 2
    assert load_hardware("gb200").bf16_tflops == 360e3 / 72 / 2
    assert load_hardware("b300").bf16_tflops == 36e3 / 8 / 2
    assert load_hardware("mi355x").bf16_tflops == 2516.6 and load_hardware("mi355x").fp8_tflops == 5033.2
    # L40 (non-S) datasheet: BF16 181.05 | 362.1*, FP8 362 | 724*, FP32 90.5: half the L40S's tensor rates
    assert load_hardware("l40").bf16_tflops == 362.1 / 2 and load_hardware("l40").fp8_tflops == 724 / 2
    assert load_hardware("l40").bf16_tflops == pytest.approx(load_hardware("l40s").bf16_tflops / 2, rel=1e-3)
    # no fp8 tensor cores on Ampere: fp8 runs at the bf16 rate (A10: 125 TFLOP/s)
    assert load_hardware("a10").fp8_tflops == 0 and load_hardware("a10").flops_per_s(8) == 125e12


def test_more_cards_rates_by_hand():
    """The six cards added for the deployments people size: dense = the datasheet's sparsity figure halved.
    A10G (AWS datasheet) BF16 140* -> 70; RTX A6000 309.7* -> 154.85; A40 BF16 299.4* -> 149.7; RTX 6000 Ada quotes
    only FP8 1,457* -> 728.5, BF16 half that, 364.25; GH200 (96 GB HBM3) BF16 1,979* -> 989.5, FP8 3,958* -> 1,979.
    The RTX 3090's 71 is the GA102 whitepaper's dense FP32-accumulate rate: half its FP16-accumulate 142, as
    GeForce (and the A10G) halve it while the A6000, A40 and A10 do not."""
    assert load_hardware("a10g").bf16_tflops == 140 / 2
    assert load_hardware("rtx-a6000").bf16_tflops == 309.7 / 2 and load_hardware("a40").bf16_tflops == 299.4 / 2
    ada = load_hardware("rtx-6000-ada")
    assert ada.fp8_tflops == 1457 / 2 and ada.bf16_tflops == 1457 / 4
    gh200 = load_hardware("gh200")
    assert gh200.bf16_tflops == 1979 / 2 and gh200.fp8_tflops == 3958 / 2
    assert load_hardware("rtx-3090").bf16_tflops == 142 / 2
    # full-rate FP32 accumulate on GA102: 84 SMs x 4 tensor cores x 256 FLOP a clock (dense FP16) x 1.80 GHz (A6000)
    # and x 1.74 GHz (A40); half of it on the A10G: 80 SMs x 512 x 1.71 GHz (its datasheet rounds to 70)
    assert load_hardware("rtx-a6000").bf16_tflops == pytest.approx(84 * 1024 * 1.80e-3, rel=1e-3)
    assert load_hardware("a40").bf16_tflops == pytest.approx(84 * 1024 * 1.74e-3, rel=1e-3)
    assert load_hardware("a10g").bf16_tflops == pytest.approx(80 * 512 * 1.71e-3, rel=1e-3)
    # no fp8 tensor cores on Ampere (sm_86): fp8 runs at the bf16 rate, as the A10's and A100's files say with 0
    for name in ("a10g", "rtx-3090", "rtx-a6000", "a40"):
        hw = load_hardware(name)
        assert hw.arch == "sm_86" and hw.fp8_tflops == 0 and hw.flops_per_s(8) == hw.bf16_tflops * 1e12
    # the GH200's GPU is an H100 SXM's die and rates with 96 GB at 4.0 TB/s (the H100's 80 GB at 3.35)
    h100 = load_hardware("h100-sxm")
    assert (gh200.sms, gh200.fp32_tflops, gh200.boost_clock_ghz) == (h100.sms, h100.fp32_tflops, h100.boost_clock_ghz)
    assert gh200.mem_bandwidth_gb_s == 4000 and gh200.memory_bytes == load_hardware("h20").memory_bytes


def test_llama_8b_on_one_a10g_by_hand():
    """`mlacalc fit llama-3.1-8b --gpu a10g` (32k, 90%, bf16): usable 0.9 x 22.49 GiB (nvidia-smi's 23,028 MiB)
    = 21,734,251,479.6 B; weights 8,030,261,248 parameters x 2 B = 16,060,522,496 B (14.96 GiB); workspace for 8,192
    tokens: residual 8,192 x 2 x 4,096 x 2 + attention 8,192 x 32 heads x (128 + 128) x 2 + FFN 8,192 x 2 x 14,336 x 2
    = 738,197,504 B (704 MiB). The KV budget left, 4,934,888,259.6 B (4.60 GiB), holds one 32k sequence (32 layers x
    8 KV heads x 128 x 2 x 2 B = 131,072 B a token, 4 GiB a sequence) and 37,650 tokens at batch 1: a 24 GB card
    serves Llama-3.1-8B in bf16 to one user at full 32k, which is why g5 deployments quantize weights or the cache."""
    from mlacalc.capacity import fit
    from mlacalc.spec import load_spec

    f = fit(load_spec("llama-3.1-8b"), load_hardware("a10g"), 32 * 1024)
    weights = (2 * 128_256 * 4_096 + 32 * (4_096 * (4_096 + 2 * 1_024) + 4_096 * 4_096 + 3 * 4_096 * 14_336
                                           + 2 * 4_096) + 4_096) * 2
    workspace = 8_192 * 2 * 4_096 * 2 + 8_192 * 32 * (128 + 128) * 2 + 8_192 * 2 * 14_336 * 2
    budget = 0.9 * 22.49 * 2**30 - weights - workspace
    assert (f.weights, f.workspace.total) == (weights, workspace) == (16_060_522_496, 704 * 2**20)
    assert f.kv_budget == pytest.approx(budget)
    assert f.kv_bytes_per_seq == 32 * 1024 * 32 * 8 * 128 * 2 * 2 == 4 * 2**30
    assert f.max_batch == int(budget // (4 * 2**30)) == 1
    assert f.max_context == int(budget // (32 * 8 * 128 * 2 * 2)) == 37_650
    # same memory and 600 GB/s as the A10: the same fit and the same memory-bound decode floor; only the tensor rate
    # differs (70 against 125 TFLOP/s)
    a10 = fit(load_spec("llama-3.1-8b"), load_hardware("a10"), 32 * 1024)
    assert (a10.max_batch, a10.max_context) == (1, 37_650)


def test_decode_floor_scales_with_one_over_bandwidth_across_cards():
    """A memory-bound decode step's floor is its bytes / bandwidth: Llama-3.1-70B, batch 16, 8k context, TP 8 on an
    H200 (4,800 GB/s) and a B300 (7,700 GB/s, HGX B300 datasheet) differ by 7,700 / 4,800 = 1.604 in time, the B200
    (8,000 GB/s) by 8,000 / 4,800 = 1.667; and B200 < H200 < H100 (3,350 GB/s)."""
    import mlacalc
    from mlacalc import Parallelism

    t = {g: mlacalc.roofline("llama-3.1-70b", g, batch=16, context="8k", parallel=Parallelism(tp=8)).time_s
         for g in ("h100-sxm", "h200", "b200", "b300")}
    assert t["b200"] < t["b300"] < t["h200"] < t["h100-sxm"]
    # the comm op (interconnect) is the same on all four NVLink cards' 450/900 GB/s: compare the memory-bound ops
    r = {g: mlacalc.roofline("llama-3.1-70b", g, batch=16, context="8k", parallel=Parallelism(tp=8))
         for g in ("h200", "b300")}
    # (less the embedding's and the head's own collectives, which run at the interconnect too: audit 8)
    from mlacalc.step import op_link_s

    mem = {g: sum(o.time_s - op_link_s(o.op, r[g].gpu) for o in r[g].ops if o.bound == "memory") for g in r}
    assert mem["h200"] / mem["b300"] == pytest.approx(7700 / 4800, rel=1e-6)


def test_fits_grow_with_memory():
    """More memory, more sequences: DeepSeek-V3 (fp8 weights, 80.64 GiB a GPU at TP 8) at 32k on 8 GPUs fits none on
    an H100 (90% of 79.65 GiB = 71.7 GiB < 80.64), some on an H200 (140.4 GiB), more on a B200 (179.06), a B300 (270)
    and an MI355X (288)."""
    import mlacalc
    from mlacalc import Parallelism

    b = {g: mlacalc.fit("deepseek-v3", g, context="32k", parallel=Parallelism(tp=8)).max_batch
         for g in ("h100-sxm", "h200", "b200", "b300", "mi355x")}
    assert b["h100-sxm"] == 0 < b["h200"] < b["b200"] < b["b300"] < b["mi355x"]


def test_expected_time_says_how_sure_it_is_off_hopper(capsys):
    """The expected-time coefficients are the H200's: on a Hopper card they price the kernels they were fitted on; on
    any other architecture (Ampere, Ada, Blackwell, AMD) other kernels run and the output says it is an estimate."""
    import json

    import mlacalc
    from mlacalc.cli import main

    assert mlacalc.roofline("llama-3.1-8b", "h100-sxm").coefficients == "defaults measured on an H200"
    for gpu, arch in (("b200", "sm_100"), ("a100-80gb", "sm_80"), ("mi355x", "gfx950"), ("rtx-5090", "sm_120")):
        c = mlacalc.roofline("llama-3.1-8b", gpu).coefficients
        assert "an estimate" in c and arch in c, c
    with pytest.raises(SystemExit):
        main(["fit", "llama-3.1-8b", "--gpu", "l4", "--context", "4k", "--json"])
    assert "an estimate" in json.loads(capsys.readouterr().out)["fits"][0]["decode"]["throughput_basis"]


def test_gb200_and_gb300_memory_is_below_the_rack_figure_read_as_gib():
    """GB200 NVL72: "13.4 TB" over 72 GPUs, 186 GB a GPU, was read as 186 GiB; nvidia-smi says 189,471 MiB
    = 189,471 / 1,024 = 185.03 GiB. GB300 NVL72's 279 GB a GPU: nvidia-smi 284,208 MiB = 277.55 GiB. Both less than
    the datasheet figure read as GiB, as every HBM card's driver total is (H100 79.65 of "80", H200 140.4 of "141")."""
    for name, mib, datasheet_gb in (("gb200", 189_471, 186), ("gb300", 284_208, 279)):
        gib = load_hardware(name).memory_bytes / 2**30
        assert gib == pytest.approx(mib / 1024, abs=0.006) and gib < datasheet_gb


def test_a800_is_an_a100_80gb_with_two_thirds_of_its_nvlink():
    """The A800 SXM4 80GB: the A100 80GB SXM4's memory, bandwidth and dense rates (312 TFLOP/s bf16, no fp8), NVLink
    cut from 600 to 400 GB/s bidirectional = 200 GB/s a direction (the A100's 300)."""
    a800, a100 = load_hardware("A800"), load_hardware("a100-80gb")
    assert (a800.memory_bytes, a800.mem_bandwidth_gb_s, a800.bf16_tflops, a800.fp8_tflops, a800.sms, a800.arch) == \
        (a100.memory_bytes, 2039, 312, 0, 108, "sm_80")
    assert a800.interconnect_gb_s == 400 / 2 == a100.interconnect_gb_s * 2 / 3
    assert load_hardware("a800-80gb") == a800 == load_hardware("NVIDIA A800-SXM4-80GB")


# cudaMemGetInfo's total (cuda_memory_gib) from public engine logs that name the card. Each log also prints
# util x total, which checks that the figure is the total vLLM budgets from, not a free figure: (card, total GiB,
# util, util x total as the log printed it, nvidia-smi's total in GiB from the file, the reservation worked by hand).
@pytest.mark.parametrize("name,total,util,budget,smi,reserve", [
    # vllm-project/vllm #15196 (artemus717, 2025-03-20), L40S, vLLM 0.7.2: "total_gpu_memory (44.31GiB) x
    # gpu_memory_utilization (0.45) = 19.94GiB"; 46,068 MiB = 44.99 GiB, 44.99 - 44.31 = 0.68
    ("l40s", 44.31, 0.45, 19.94, 44.99, 0.68),
    # vllm-project/vllm #12330 (log 2025-01-13), one A100 40GB: "total_gpu_memory (39.50GiB) x
    # gpu_memory_utilization (0.90) = 35.55GiB"; 40,536 MiB = 39.59 GiB, 39.59 - 39.50 = 0.09
    ("a100-40gb", 39.50, 0.90, 35.55, 39.59, 0.09),
    # vllm-project/vllm-omni #276 (wulaoshi, 2025-12-11), A100 80GB: "Free memory on device (0.49/79.32 GiB) ...
    # (0.6, 47.59 GiB)": free 0.49 with another process on the card, total 79.32; 81,920 MiB = 80 GiB, 0.68 under
    ("a100-80gb", 79.32, 0.6, 47.59, 80.0, 0.68),
    # g0t4/examples 5090/try-vllm/notes-vllm-on-5090.fish, RTX 5090: "total_gpu_memory (31.37GiB) x
    # gpu_memory_utilization (0.90) = 28.23GiB"; 32,607 MiB = 31.84 GiB, 31.84 - 31.37 = 0.47
    ("rtx-5090", 31.37, 0.90, 28.23, 31.84, 0.47),
])
def test_cuda_total_from_public_engine_logs(name, total, util, budget, smi, reserve):
    hw = load_hardware(name)
    assert hw.cuda_memory_bytes == total * 2**30
    assert util * total == pytest.approx(budget, abs=0.005)   # the log's own product: the figure is the total
    assert hw.memory_bytes == pytest.approx(smi * 2**30)
    assert (hw.memory_bytes - hw.cuda_memory_bytes) / 2**30 == pytest.approx(reserve, abs=1e-9)
