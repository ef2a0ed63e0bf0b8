"""CPU check of the Gluon sm_90 MLA decode kernel (the seesaw schedule): it compiles for Hopper (Triton ships
ptxas, no GPU needed), fits the H100's 227 KiB of shared memory per block, and issues the instructions its design
relies on (TMA bulk copies, the wgmma shapes, warp specialization). Correctness runs on the GPU
(tests/test_kernels_gpu.py::test_gluon_mla)."""

import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")

H100_MAX_SHARED_PER_BLOCK = 227 * 1024  # bytes (cudaDevAttrMaxSharedMemoryPerBlockOptin on sm_90)


def _compile(config, paged):
    from mlacalc.kernels.gluon_mla_decode import compile_sm90

    try:
        return compile_sm90(config, paged=paged)
    except (RuntimeError, FileNotFoundError) as exc:  # no ptxas in this Triton build
        if "ptxas" in str(exc):
            pytest.skip(f"no ptxas: {exc}")
        raise


def _wgmma_shapes(ptx):
    return set(re.findall(r"wgmma\.mma_async\.sync\.aligned\.(m64n\d+k16)\.f32\.bf16\.bf16", ptx))


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
