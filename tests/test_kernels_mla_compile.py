"""CPU check of the Triton MLA decode kernel's resources (no GPU: Triton ships ptxas): the shared memory a program
holds and the registers a thread takes, as the installed Triton compiles its 16-bit tiles for sm_90, are what the
expected-time model counts the programs resident on an SM from (mlacalc.expected.mla_smem_b, MLA_REGS,
mla_resident)."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")

from helpers import sm90_registers as _registers  # noqa: E402


def _compile(d_lat, d_rope, rows, keys, warps, stages):
    from mlacalc.kernels.triton_mla_decode import compile_sm90

    try:
        return compile_sm90(d_lat, d_rope, rows, keys, warps, stages)
    except (RuntimeError, FileNotFoundError) as exc:  # no ptxas in this Triton build
        if "ptxas" in str(exc):
            pytest.skip(f"no ptxas: {exc}")
        raise


@pytest.mark.parametrize("d_lat,d_rope,rows,shared", [(256, 32, 16, 84_992), (256, 32, 32, 96_256),
                                                       (512, 64, 16, 167_936), (512, 64, 64, 221_184)])
def test_mla_program_resources_match_the_model(d_lat, d_rope, rows, shared):
    """By hand: MiniCPM3's 288-dim keys, 16 rows (64 keys, 3 stages) = 2 tiles x 64 x 288 x 2 B + 16 x 288 x 2 +
    16 x 128 = 84,992; 32 rows = 73,728 + 18,432 + 4,096 = 96,256; DeepSeek's 576 at 16 rows = 147,456 + 18,432 +
    2,048 = 167,936; at 64 rows (2 stages) = 73,728 + 73,728 + a [64, 576] 16-bit scratch 73,728 = 221,184."""
    from mlacalc.expected import MLA_REGS, MLA_TILES, mla_smem_b

    keys, warps, stages = MLA_TILES[rows]
    k = _compile(d_lat, d_rope, rows, keys, warps, stages)
    d_k = d_lat + d_rope
    assert k.metadata.shared == mla_smem_b(d_k, rows, keys, stages) == shared
    regs = _registers(k)
    if regs is not None:
        assert regs <= MLA_REGS[d_k, rows]


@pytest.mark.parametrize("rows,paged", [(16, False), (16, True), (64, False), (32, True)])
def test_the_scheduled_mode_keeps_the_tile_loop_pipelined(rows, paged):
    """The scheduled mode runs the same tile loop inside a loop over a part's sequences: Triton still pipelines the
    inner loop as in the fixed grid (the same asynchronous copies into shared memory and waits, the same shared
    memory a program), and the two loops are there."""
    from mlacalc.expected import MLA_TILES
    from mlacalc.kernels.triton_mla_decode import compile_sm90

    keys, warps, stages = MLA_TILES[rows]
    try:
        plain = compile_sm90(512, 64, rows, keys, warps, stages, paged=paged)
        sched = compile_sm90(512, 64, rows, keys, warps, stages, paged=paged, scheduled=True)
    except (RuntimeError, FileNotFoundError) as exc:
        if "ptxas" in str(exc):
            pytest.skip(f"no ptxas: {exc}")
        raise
    count = lambda k, op: k.asm["ttgir"].count(op)  # noqa: E731
    assert sched.metadata.shared == plain.metadata.shared
    for op in ("async_copy_global_to_local", "async_wait"):
        assert count(sched, op) == count(plain, op) > 0
    assert count(plain, "scf.for") == 1 and count(sched, "scf.for") == 2
