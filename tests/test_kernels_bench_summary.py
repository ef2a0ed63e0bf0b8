"""CPU test of the --peers summary arithmetic (kernels/bench.summarize_peers) on made-up timing rows."""

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from mlacalc.kernels.bench import pool_row_indices, summarize_peers  # noqa: E402


def _peer(impl, B, graph, eager, layout="paged64", heads=128, ctx=4096):
    return dict(kind="peer_mla", impl=impl, status="ok", B=B, ctx=ctx, heads=heads, layout=layout, floor_ms=0.1,
                graph_ms=graph, eager_ms=eager, host_overhead_us=(eager - graph) * 1e3)


ROWS = [
    _peer("ours", 8, 0.12, 0.125), _peer("flashmla", 8, 0.10, 0.106),        # ratio 1.2, host 5 us
    _peer("ours", 32, 0.30, 0.308), _peer("flashmla", 32, 0.40, 0.405),      # ratio 0.75, host 8 us
    _peer("ours", 128, 0.90, 0.902, layout="contiguous"),
    _peer("flashmla", 128, 0.60, 0.606, layout="contiguous"),                # ratio 1.5, host 2 us
    _peer("ours", 1, 0.05, 0.2), _peer("flashmla", 1, 0.01, 0.016),          # batch 1: not in the ratio
    dict(kind="peer_mla", impl="flashmla", status="skipped", B=64, ctx=4096, heads=16, layout="paged64"),
    _peer("ours", 64, 0.5, 0.51, heads=16),                                  # no FlashMLA row: no ratio
    dict(kind="fp8_mla", impl="ours", status="ok", B=8, floor_ms=0.2, graph_ms=0.5, eager_ms=0.6,
         host_overhead_us=100.0),                                            # 2.5x floor; not dense-host
    dict(kind="fp8_mla", impl="ours", status="ok", B=32, floor_ms=0.2, graph_ms=0.3, eager_ms=0.3,
         host_overhead_us=0.0),                                              # 1.5x, batch 32
    dict(kind="sparse_mla", impl="ours", status="ok", floor_ms=0.01, graph_ms=0.03, eager_ms=0.03,  # 3x
         B=64, heads=128, kv_dtype="fp8_ds"),
    dict(kind="sparse_mla", impl="flashmla", status="ok", floor_ms=0.01, graph_ms=0.02, eager_ms=0.02,  # 2x
         B=64, heads=128, kv_dtype="fp8_ds"),
    dict(kind="sparse_mla", impl="ours", status="ok", floor_ms=0.02, graph_ms=None, eager_ms=0.03,  # no graph
         B=8, heads=128, kv_dtype="fp8_ds"),
    dict(kind="sparse_mla", impl="flashmla", status="ok", floor_ms=0.02, graph_ms=0.05, eager_ms=0.05,  # 2.5x
         B=8, heads=128, kv_dtype="fp8_ds"),
    dict(kind="sparse_mla", impl="ours", status="ok", floor_ms=0.01, graph_ms=0.02, eager_ms=0.02,  # 2x, no peer
         B=64, heads=16, kv_dtype="bf16"),
]


def test_vs_flashmla_is_ours_over_flashmla_graph_time_at_batch_8_and_up():
    s = summarize_peers(ROWS)["vs_flashmla"]
    assert s["points"] == 3  # B = 8, 32, 128 (B = 1 excluded, B = 64 has no FlashMLA row)
    assert s["median_ratio"] == pytest.approx(1.2)  # median of 0.12/0.10, 0.30/0.40, 0.90/0.60
    assert s["max_ratio"] == pytest.approx(1.5)


def test_host_overhead_is_eager_minus_graph_of_our_dense_rows():
    s = summarize_peers(ROWS)["host_overhead_us"]
    # ours: 5, 8, 2, 150 (B = 1), 10 (B = 64) us; the fp8 rows' 100 us is not the dense wrapper's
    assert s["points"] == 5
    assert s["median"] == pytest.approx(8.0)
    assert s["max"] == pytest.approx(150.0)


def test_host_overhead_by_kind_covers_each_kind_of_our_rows():
    """by_kind: the same figure per kind of our rows. Dense: 5, 8, 2, 150, 10 us (median 8); fp8: 100 and 0 (median
    50); sparse: no row has it (none listed); FlashMLA's rows never count."""
    s = summarize_peers(ROWS)["host_overhead_us"]["by_kind"]
    assert set(s) == {"peer_mla", "fp8_mla"}
    assert s["peer_mla"] == dict(points=5, median=pytest.approx(8.0), max=pytest.approx(150.0))
    assert s["fp8_mla"] == dict(points=2, median=pytest.approx(50.0), max=pytest.approx(100.0))


def test_fp8_and_sparse_against_the_floor():
    s = summarize_peers(ROWS)
    assert s["fp8_vs_floor"]["max_ratio"] == pytest.approx(2.5)  # 0.5 / 0.2 (the other 1.5)
    # the scope for fp8, batch >= 32: only the 0.3 / 0.2 row
    assert s["fp8_vs_floor"]["batch_32_up"] == dict(points=1, max_ratio=pytest.approx(1.5),
                                                    median_ratio=pytest.approx(1.5))
    # ours only: 0.03 / 0.01 and 0.02 / 0.01; the row without a graph and FlashMLA's rows are left out
    assert s["sparse_vs_floor"]["max_ratio"] == pytest.approx(3.0)
    assert s["sparse_vs_floor"]["points"] == 2


def test_sparse_beside_flashmla_pairs_rows_of_the_same_point():
    s = summarize_peers(ROWS)
    # one pair with both graph times: 0.03 / 0.02; B = 8's ours has no graph time, the bf16 row no peer
    assert s["sparse_vs_flashmla"] == dict(points=1, median_ratio=pytest.approx(1.5), max_ratio=pytest.approx(1.5))
    assert s["flashmla_sparse_vs_floor"]["points"] == 2
    assert s["flashmla_sparse_vs_floor"]["max_ratio"] == pytest.approx(2.5)  # 0.05 / 0.02


def test_pool_row_indices_maps_positions_through_the_block_table():
    table = torch.tensor([[3, 0], [1, 2]], dtype=torch.int32)  # sequence 0: blocks 3, 0; sequence 1: 1, 2
    idx = torch.tensor([[[0, 65, 63, -1]], [[64, 1, -1, 127]]], dtype=torch.int32)
    # by hand, block size 64: seq 0 pos 0 -> 3*64 + 0 = 192; pos 65 -> block 0, row 1 = 1; pos 63 -> 192 + 63 = 255
    # seq 1 pos 64 -> block 2 -> 128; pos 1 -> 64 + 1 = 65; pos 127 -> 128 + 63 = 191
    want = torch.tensor([[[192, 1, 255, -1]], [[128, 65, -1, 191]]], dtype=torch.int32)
    assert torch.equal(pool_row_indices(idx, table), want)


def test_no_rows_gives_empty_summaries():
    s = summarize_peers([])
    assert s["vs_flashmla"] == dict(points=0, median_ratio=None, max_ratio=None)
    assert s["host_overhead_us"]["median"] is None and s["fp8_vs_floor"]["max_ratio"] is None
    assert s["sparse_vs_flashmla"]["points"] == 0


def test_output_rel_err_is_the_worst_of_our_rows():
    """Our rows carry rel_err (their last sequence against its float32 reference); FlashMLA's rows and rows
    without it do not count: max of 3e-3 and 0.9 is 0.9, over 2 points."""
    rows = [dict(ROWS[0], rel_err=3e-3), dict(ROWS[2], rel_err=0.9), dict(ROWS[1], rel_err=5.0), ROWS[4]]
    assert summarize_peers(rows)["output_rel_err"] == dict(points=2, max=pytest.approx(0.9))
    assert summarize_peers([])["output_rel_err"] == dict(points=0, max=None)


def test_last_sequence_error_compares_the_batch_s_last_output():
    from mlacalc.kernels.bench import last_sequence_error

    out = torch.zeros(3, 1, 2, 4)
    out[2] = 1.0
    assert last_sequence_error(out, lambda: torch.ones(1, 1, 2, 4)) == 0.0
    assert last_sequence_error(out, lambda: 2 * torch.ones(1, 1, 2, 4)) == pytest.approx(0.5)   # |1 - 2| / 2
