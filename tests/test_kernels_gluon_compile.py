"""CPU check of the Gluon sm_90 MLA decode kernel: it compiles for Hopper (Triton ships ptxas, no GPU needed), fits
the H100's 227 KiB of shared memory per block, and issues the instructions its design relies on (TMA bulk copies,
wgmma m64n32 for the key-split scores and m64n256 for the value-split P @ V). Correctness runs on the GPU
(tests/test_kernels_gpu.py::test_gluon_mla)."""

import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")

H100_MAX_SHARED_PER_BLOCK = 227 * 1024  # bytes (cudaDevAttrMaxSharedMemoryPerBlockOptin on sm_90)


@pytest.mark.parametrize("paged", [False, True])
def test_gluon_kernel_compiles_for_sm90(paged):
    from mlacalc.kernels.gluon_mla_decode import DEFAULT_GLUON_CONFIG, compile_sm90

    try:
        k = compile_sm90(DEFAULT_GLUON_CONFIG, paged=paged)
    except (RuntimeError, FileNotFoundError) as exc:  # no ptxas in this Triton build
        if "ptxas" in str(exc):
            pytest.skip(f"no ptxas: {exc}")
        raise
    # Q 64 x 576 + 2 stages of 64 x 576 + P 64 x 64, bf16 = 229,376 bytes, plus barriers and reduction scratch
    assert 229_376 <= k.metadata.shared <= H100_MAX_SHARED_PER_BLOCK
    ptx = k.asm["ptx"]
    shapes = set(re.findall(r"wgmma\.mma_async\.sync\.aligned\.(m64n\d+k16)\.f32\.bf16\.bf16", ptx))
    assert shapes == {"m64n32k16", "m64n256k16"}
    assert "cp.async.bulk.tensor" in ptx
    if paged:  # the block table is read for each tile's TMA row
        assert "ld.global" in ptx
