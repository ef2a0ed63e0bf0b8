"""bench/fp8_smem_traffic.py, the count behind the notes' and README's fp8 figures, against numbers worked by hand."""

import pytest

from helpers import bench_module


def test_tile_bytes_by_hand():
    m = bench_module("fp8_smem_traffic")
    # 64 heads, 32 keys, 576 = 512 + 64 dims: Q 64*576*2 = 73,728; keys 32*576*2 = 36,864; values 32*512*2 = 32,768;
    # P 64*32*2 = 4,096; fp8 copy 32*576 = 18,432 and its widening 18,432 read + 36,864 written = 55,296
    fp8 = m.tile_bytes(64, 32, fp8=True)
    assert fp8 == dict(q_reads=73_728, key_reads=36_864, value_reads=32_768, p_handover=4_096, copy_write=18_432,
                       widen_read_write=55_296)
    assert sum(fp8.values()) == 221_184
    assert sum(m.tile_bytes(64, 32, fp8=False).values()) == 184_320  # the bf16 copy writes 36,864, no widening


def test_traffic_and_floor_by_hand():
    m = bench_module("fp8_smem_traffic")
    # 128 x 32,768 keys / 32 = 131,072 tiles over 132 SMs = 992.97 an SM; 221,184 B / 128 B a clock = 1,728 clocks a
    # tile: 1,715,852 clocks an SM
    assert m.traffic_ms(128, 32768, 64, 132, 1.98) == pytest.approx(1_715_852 / 1.98e9 * 1e3, rel=1e-5)  # 0.867 ms
    # 128 heads: two head-block CTAs, each its own pass over the tiles
    assert m.traffic_ms(128, 32768, 128, 132, 1.98) == pytest.approx(2 * m.traffic_ms(128, 32768, 64, 132, 1.98))
    # 2 x 64 x 1,088 FLOPs a key x 4,194,304 keys = 5.841e11 / 789e12 = 0.7403 ms
    assert m.floor_ms(128, 32768, 64) == pytest.approx(0.7403, abs=1e-4)
