"""The twelfth audit's findings (the expected time off the H200: which kernels run where, what each card holds, how
sure the tool says it is): each test fails before its fix. Numbers are worked out by hand in the test."""

import json

import pytest

from mlacalc.errors import SpecError
from mlacalc.expected import DecodeShape, gqa_smem_b, gqa_tiling, kernel_model
from mlacalc.hardware import hardware_from_dict, load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.step import Step, roofline

from helpers import run


# --- backends that cannot run on the card are refused, not priced ---------------------------------------------------
# FlashMLA's dense decode checks `arch.is_sm90a()` and stops with "Dense decode MLA is only supported on SM90a
# architecture" (csrc/api/dense_decode.h); the project's Gluon kernels need capability 9.x (gluon_supported). Before,
# roofline(kernel="flashmla") on an A100 priced DeepSeek-V3's decode core (tp 8, batch 64 x 32k) at 83.68 ms, 5% under
# what the Triton kernels that do run there take (88.23 ms), and kernel="gluon" was silently priced as Triton.

@pytest.mark.parametrize("gpu", ["a100-80gb", "mi300x", "b200", "l40s"])
@pytest.mark.parametrize("backend", ["flashmla", "gluon"])
def test_hopper_only_backends_are_refused_on_other_archs(gpu, backend):
    hw = load_hardware(gpu)
    with pytest.raises(SpecError) as e:
        roofline(load_spec("deepseek-v3"), hw, Step("decode", 64, 32768), Parallelism(tp=8), kernel=backend)
    assert e.value.field == "kernel" and hw.arch in e.value.message and "sm_90" in e.value.message
    assert "\n" not in str(e.value)


def test_hopper_only_backends_still_price_on_hopper_and_on_a_calibrated_file():
    spec, step = load_spec("deepseek-v3"), Step("decode", 64, 32768)
    for gpu in ("h100-sxm", "h20", "h800"):
        assert roofline(spec, load_hardware(gpu), step, Parallelism(tp=8), kernel="flashmla").expected_time_s > 0
    # a file that measured flashmla on its card ran it there: its own coefficients price it
    a100 = load_hardware("a100-80gb").to_dict()
    a100["kernels"] = {"flashmla": {"bandwidth_eff": 0.5, "mma_eff": 0.5}}
    hw = hardware_from_dict(a100, "a100-flashmla.yaml")
    assert kernel_model(hw, "flashmla").bandwidth_eff == 0.5
    # auto and triton run the Triton kernels anywhere
    for backend in ("auto", "triton"):
        assert roofline(spec, load_hardware("a100-80gb"), step, Parallelism(tp=8), kernel=backend).expected_time_s > 0


# --- sweep states where its expected times come from -----------------------------------------------------------------
# roofline and fit said "not calibrated on sm_80: an estimate"; sweep printed expected times for an A100 in its table,
# CSV and JSON with no word on their basis.

def test_sweep_json_and_table_carry_the_coefficient_basis(capsys):
    code, out, _, _ = run(capsys, "sweep", "llama-3.1-8b", "--gpu", "a100,h200", "--gpus", "1", "--context", "8k",
                          "--batch", "32", "--json")
    assert code == 0
    basis = json.loads(out)["expected_basis"]
    assert basis["NVIDIA A100 SXM4 80GB"].startswith("defaults measured on an H200 (sm_90), not calibrated on sm_80")
    assert basis["NVIDIA H200 SXM 141GB"] == "defaults measured on an H200"
    code, out, _, _ = run(capsys, "sweep", "llama-3.1-8b", "--gpu", "a100", "--gpus", "1", "--context", "8k",
                          "--batch", "32")
    assert code == 0 and "not calibrated on sm_80" in " ".join(out.split())


# --- AMD compute units hold 64 KiB of LDS (CDNA 3), not Hopper's 228 KB of shared memory ----------------------------
# The GQA kernel's program for Llama-3.1-8B (head dim 128, 32 / 8 = 4 rows -> a 16-row tile, bf16):
#   3 stages: 2 x (K and V) x 64 keys x 128 x 2 B = 65,536 + query 16 x 128 x 2 = 4,096 + scratch 16 x 128 = 2,048
#             = 71,680 B > 65,536 a workgroup on gfx942: does not fit;
#   2 stages: 32,768 + 4,096 + 2,048 = 38,912 B -> 65,536 // (38,912 + 1,024) = 1 program a CU
#             (registers 108 -> 112 x 32 x 4 warps = 14,336: 4; threads 2,048 // 128 = 16).
# Before, gfx942 took Hopper's 233,472 B: 233,472 // 72,704 = 3 programs of the 3-stage tile, which the kernel cannot
# launch on a 64 KiB LDS. CDNA 4 (gfx950, 160 KiB = 163,840 B): the 3-stage tile fits, 163,840 // 72,704 = 2.

def _llama8b_shape():
    return DecodeShape(seqs=32, rows=4, kv_groups=8, keys=8193, key_bytes=2 * 128 * 2, dkv=256, out_dv=128,
                       layers=32, kernel="gqa")


def test_gqa_tiling_on_cdna_follows_the_lds():
    assert gqa_smem_b(128, 16, 3, 2) == 71_680 and gqa_smem_b(128, 16, 2, 2) == 38_912
    assert gqa_tiling(_llama8b_shape(), "gfx942") == (16, 2, 1)      # was (16, 3, 3)
    assert gqa_tiling(_llama8b_shape(), "gfx950") == (16, 3, 2)      # was (16, 3, 3)
    assert gqa_tiling(_llama8b_shape(), "sm_90") == (16, 3, 3)       # Hopper: 233,472 // 72,704 = 3


def test_mi300x_llama_decode_is_priced_with_its_lds():
    """Llama-3.1-8B decode, batch 32 over 8k on one MI300X: the attention core's expected time is now priced with one
    2-stage program a CU (7.665 ms; 7.504 ms with Hopper's three programs a CU), over a floor of 6.487 ms."""
    spec, hw = load_spec("llama-3.1-8b"), load_hardware("mi300x")
    r = roofline(spec, hw, Step("decode", 32, 8192))
    floor = r.op("attn_core").time_s
    # floor: 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 B = 131,072 B a token; 32 x 8,193 tokens at 5,300 GB/s
    assert floor == pytest.approx(32 * 8193 * 131072 / 5300e9, rel=2e-3)
    assert r.op("attn_core").expected_s == pytest.approx(7.665e-3, rel=1e-3)


# --- an 8-bit cache on Ampere: the kernels priced do not build there -------------------------------------------------
# The project's decode kernels read an fp8 cache as Triton's fp8e4nv (kernels/triton_mla_decode.py), which Triton's
# CUDA backend refuses below compute capability 8.9 ("type fp8e4nv not supported in this architecture"). Before,
# roofline/fit/sweep priced DeepSeek-V3's fp8 decode core on an A100 (sm_80) with the H200's widening rates and said
# only "not calibrated on sm_80"; now the basis says the kernel does not build there. sm_89 (L40S) has e4m3.

def test_fp8_cache_on_ampere_is_flagged_in_every_basis(capsys):
    spec, step = load_spec("deepseek-v3"), Step("decode", 64, 32768)
    a100, l40s = load_hardware("a100-80gb"), load_hardware("l40s")
    flag = "do not build on sm_80"
    assert flag in roofline(spec, a100, step, Parallelism(tp=8), kv_bits=8).coefficients
    assert "do not build" not in roofline(spec, a100, step, Parallelism(tp=8), kv_bits=16).coefficients
    assert "do not build" not in roofline(spec, l40s, step, Parallelism(tp=8), kv_bits=8).coefficients
    assert "do not build" not in roofline(spec, a100, Step("prefill", 1, 8192), Parallelism(tp=8),
                                          kv_bits=8).coefficients      # prefill runs SDPA on fresh 16-bit K/V
    code, out, _, _ = run(capsys, "fit", "llama-3.1-8b", "--gpu", "a100", "--kv-dtype", "fp8", "--json")
    assert code == 0 and flag in json.loads(out)["fits"][0]["decode"]["throughput_basis"]
    code, out, _, _ = run(capsys, "fit", "llama-3.1-8b", "--gpu", "a100", "--kv-dtype", "fp8")
    assert code == 0 and flag in " ".join(out.split())
    code, out, _, _ = run(capsys, "sweep", "llama-3.1-8b", "--gpu", "a100", "--gpus", "1", "--context", "8k",
                          "--batch", "32", "--kv-dtype", "fp8", "--json")
    assert code == 0 and flag in json.loads(out)["expected_basis"]["NVIDIA A100 SXM4 80GB"]
