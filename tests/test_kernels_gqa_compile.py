"""CPU check of the GQA decode kernel's resources (no GPU: Triton ships ptxas): the shared memory a program holds and
the registers a thread takes, as the installed Triton compiles it for sm_90, are what the launch planner counts the
programs that fit an SM from (kernels/triton_gqa_decode.py gqa_smem_bytes, GQA_REGS; restated in mlacalc.expected).
`python bench/gqa_resources.py` prints the whole table."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")

from helpers import sm90_registers as _registers  # noqa: E402


def _compile(head_dim, rows, stages):
    from mlacalc.kernels.triton_gqa_decode import compile_sm90

    try:
        return compile_sm90(head_dim, rows, stages)
    except (RuntimeError, FileNotFoundError) as exc:  # no ptxas in this Triton build
        if "ptxas" in str(exc):
            pytest.skip(f"no ptxas: {exc}")
        raise


@pytest.mark.parametrize("head_dim,rows,stages,shared", [(128, 16, 3, 71_680), (256, 16, 2, 75_776),
                                                          (64, 64, 3, 57_344), (96, 16, 3, 71_680),
                                                          (80, 32, 3, 77_824)])
def test_gqa_program_resources_match_the_planner(head_dim, rows, stages, shared):
    """By hand: head dim 128, 16 rows, 3 stages = 2 K/V tiles x 64 keys x 2 x 128 x 2 B + 16 x 128 x 2 + 16 x 128
    = 71,680; head dim 256, 16 rows, 2 stages = 65,536 + 8,192 + 2,048 = 75,776; head dim 64, 64 rows, 3 stages =
    32,768 + 8,192 + a [64, 64] fp32 scratch 16,384 = 57,344. Head dims 96 (Phi-3) and 80 (Phi-2) run tiles of 128
    columns (padded_head_dim), so they hold what 128 does: 71,680 at 16 rows; at 32 rows 65,536 + 32 x 128 x 2 +
    128 B a row of scratch (4,096) = 77,824."""
    from mlacalc.kernels.triton_gqa_decode import GQA_REGS, gqa_smem_bytes, padded_head_dim

    k = _compile(head_dim, rows, stages)
    assert k.metadata.shared == gqa_smem_bytes(head_dim, rows, stages) == shared
    regs = _registers(k)
    if regs is not None:
        assert regs <= GQA_REGS[padded_head_dim(head_dim), rows]
