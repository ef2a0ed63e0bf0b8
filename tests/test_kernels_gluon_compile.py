"""CPU check of the Gluon sm_90 MLA decode kernel (the seesaw schedule): it compiles for Hopper (Triton ships
ptxas, no GPU needed), fits the H100's 227 KiB of shared memory per block, and issues the instructions its design
relies on (TMA bulk copies, the wgmma shapes, warp specialization). Correctness runs on the GPU
(tests/test_kernels_gpu.py::test_gluon_mla)."""

import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")

H100_MAX_SHARED_PER_BLOCK = 227 * 1024  # bytes (cudaDevAttrMaxSharedMemoryPerBlockOptin on sm_90)


def _compile(config, paged, **kw):
    from mlacalc.kernels.gluon_mla_decode import compile_sm90

    try:
        return compile_sm90(config, paged=paged, **kw)
    except (RuntimeError, FileNotFoundError) as exc:  # no ptxas in this Triton build
        if "ptxas" in str(exc):
            pytest.skip(f"no ptxas: {exc}")
        raise


def _wgmma_shapes(ptx, dtype="bf16"):
    return set(re.findall(rf"wgmma\.mma_async\.sync\.aligned\.(m64n\d+k16)\.f32\.{dtype}\.{dtype}", ptx))


@pytest.mark.parametrize("block_n", [32, 64])
@pytest.mark.parametrize("paged", [False, True])
def test_seesaw_kernel_compiles_for_sm90(block_n, paged):
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig

    k = _compile(GluonMLAConfig(block_n=block_n), paged)
    # Q 64 x 576 + 128 tokens x 576 in buffers (2 x 64 or 4 x 32), bf16 = 221,184 bytes; P rides in the RoPE parts
    assert 221_184 <= k.metadata.shared <= H100_MAX_SHARED_PER_BLOCK
    ptx = k.asm["ptx"]
    # each warp group: full-width scores (N = block_n) and P @ V over its 256 value columns
    assert _wgmma_shapes(ptx) == {f"m64n{block_n}k16", "m64n256k16"}
    assert "setmaxnreg" in ptx  # two warp-specialized partitions
    assert "cp.async.bulk.tensor" in ptx
    if paged:
        assert "ld.global" in ptx


@pytest.mark.parametrize("paged", [False, True])
def test_seesaw_kernel_fp8_compiles_for_sm90(paged):
    """The fp8 cache's kernel: a third warp group widens each fp8 tile inside the 16-bit buffer it lands in (four of
    32 tokens, as the bf16 kernel's), beside Q: 73,728 + 147,456 = 221,184 bytes; the compute groups' wgmmas are the
    bf16 kernel's shapes, in fp16 (e4m3 -> fp16 is one cvt for two values; Q is recast to fp16)."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig

    k = _compile(GluonMLAConfig(block_n=32), paged, fp8=True, scale_ptr=paged)
    assert 221_184 <= k.metadata.shared <= H100_MAX_SHARED_PER_BLOCK
    assert k.metadata.num_warps == 12  # two compute warp groups and the widening group
    ptx = k.asm["ptx"]
    assert _wgmma_shapes(ptx, "f16") == {"m64n32k16", "m64n256k16"} and not _wgmma_shapes(ptx)
    regs = {int(n) for n in re.findall(r"setmaxnreg\.(?:inc|dec)\.sync\.aligned\.u32\s+(\d+);", ptx)}
    from mlacalc.kernels.gluon_mla_seesaw import COMPUTE_REGS_FP8, WIDEN_REGS

    assert {WIDEN_REGS.value, COMPUTE_REGS_FP8.value} <= regs  # the widening group's registers go to compute
    assert "cvt.rn.f16x2.e4m3x2" in ptx  # fp8 -> fp16, two values a conversion
