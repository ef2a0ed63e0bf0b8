"""bench/sparse_splits_fit.py, the fit behind the notes' per-slot figures for sparse decode's split count, against
rows made from coefficients chosen by hand."""

from helpers import bench_module


def test_chunk_by_hand():
    m = bench_module("sparse_splits_fit")
    # 2048 slots: 16 splits of 128; 24 splits -> ceil(2048 / 24) = 86 -> 3 tiles of 32 = 96; 13 -> 158 -> 160
    assert (m.chunk(16), m.chunk(24), m.chunk(13)) == (128, 96, 160)


def test_fit_recovers_coefficients_chosen_by_hand():
    """Rows timed exactly a + b x chunk x waves + c x partial rows / 1e3 with a = 12 us, b = 0.05 us, c = 1.5 us:
    e.g. batch 8 x 64 heads at 16 splits is 128 programs (one wave), chunk 128 -> 12 + 6.4 + 1.5 x 8.192 = 30.688
    us. The fit gives them back, with no error."""
    m = bench_module("sparse_splits_fit")
    rows = []
    for B in (1, 4, 8, 16, 32):
        for H in (64, 128):
            for variant, s in (("s16", 16), ("s24", 24), ("s32", 32)):
                splits = -(-2048 // m.chunk(s))
                waves = -(-B * (H // 64) * splits // 132)
                us = 12 + 0.05 * m.chunk(splits) * waves + 1.5 * B * H * splits / 1e3
                rows.append(dict(kind="sparse", B=B, heads=H, cache="bf16", variant=variant, splits=splits,
                                 graph_ms=us / 1e3))
    assert any(abs(r["graph_ms"] - 0.030688) < 1e-12 for r in rows if (r["B"], r["heads"], r["splits"]) == (8, 64, 16))
    (a, b, c), rms = m.fit(m.best_times(rows), "bf16")
    assert abs(a - 12) < 1e-6 and abs(b - 0.05) < 1e-9 and abs(c - 1.5) < 1e-6 and rms < 1e-9
