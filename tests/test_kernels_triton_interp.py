"""Triton decode kernels under TRITON_INTERPRET=1 on CPU, on tiny shapes.

The interpreter must be switched on before triton is imported, so the cases run this file as a script in one
fresh subprocess (other test modules in the same pytest process keep the normal triton). Inputs are fp16/fp32:
under the interpreter a bf16 tl.dot returns garbage (see ../shared/notes/environment-facts.md); bf16 and the
real compiled kernels are tested on the GPU (test_kernels_gpu.py).
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")
pytest.importorskip("numpy")

CASES = {
    # name: (family, kwargs for make_*_case, bound)
    "mla_lengths_contiguous": ("mla", dict(lens=[1, 63, 64, 65], heads=8, r=64, dr=16, dtype="float16"), 1e-2),
    "mla_lengths_paged_shuffled": ("mla", dict(lens=[1, 63, 64, 65], heads=8, r=64, dr=16, dtype="float16",
                                               paged=True, block_size=16), 1e-2),
    "mla_mtp_causal_paged": ("mla", dict(lens=[3, 70, 130], heads=5, s_q=3, r=64, dr=16, dtype="float32",
                                         paged=True, block_size=64), 1e-4),
    "mla_splits_long": ("mla", dict(lens=[700, 20], heads=16, r=32, dr=16, dtype="float16"), 1e-2),
    "mla_fp8": ("mla", dict(lens=[1, 65, 200], heads=4, r=32, dr=16, dtype="float32", fp8=True, paged=True,
                            block_size=32), 2e-2),
    # the 128-head tile's value dims split over two programs (docs/kernels-notes.md, follow-up 1)
    "mla_splitv_contiguous": ("mla", dict(lens=[1, 63, 64, 65], heads=8, r=64, dr=16, dtype="float16"), 1e-2,
                              dict(block_h=16, block_n=16, num_warps=4, num_stages=1, split_v=2)),
    "mla_splitv_paged_mtp": ("mla", dict(lens=[3, 70, 130], heads=5, s_q=3, r=64, dr=16, dtype="float32",
                                         paged=True, block_size=64), 1e-4,
                             dict(block_h=16, block_n=16, num_warps=4, num_stages=1, split_v=2)),
    "mla_splitv_single_split": ("mla", dict(lens=[1, 63, 64, 65], heads=8, r=64, dr=16, dtype="float16"), 1e-2,
                                dict(block_h=16, block_n=16, num_warps=4, num_stages=1, split_v=2), 1),
    "mla_splitv_fp8": ("mla", dict(lens=[1, 65, 200], heads=4, r=32, dr=16, dtype="float32", fp8=True, paged=True,
                                   block_size=32), 2e-2,
                       dict(block_h=16, block_n=16, num_warps=4, num_stages=1, split_v=2)),
    # "nan_tail" fills the contiguous cache past each length with NaN: a row read past `end` would poison the output
    "mla_splitv_contiguous_nan_tail": ("mla", dict(lens=[1, 63, 64, 65], heads=8, r=64, dr=16, dtype="float16"),
                                       1e-2, dict(block_h=16, block_n=16, num_warps=4, num_stages=2, split_v=2),
                                       None, "nan_tail"),
    # Follow-up 3 (paged pipelining): the next tile's block-table entries are loop-carried (default); one entry per
    # tile (block 64, two 32-key tiles per block at 32 rows), one per block spread by tl.gather (block 16 < 64 keys),
    # one per key (block 24 divides no tile), many splits over short and long sequences
    "mla_paged_h32_two_tiles_per_block": ("mla", dict(lens=[1, 31, 32, 33, 63, 64, 65, 200], heads=32, r=64, dr=16,
                                                      dtype="float16", paged=True, block_size=64), 1e-2,
                                          dict(block_h=32, block_n=32, num_warps=4, num_stages=3)),
    "mla_paged_h32_default": ("mla", dict(lens=[1, 63, 64, 65, 200], heads=32, r=64, dr=16, dtype="float16",
                                          paged=True, block_size=64), 1e-2),
    "mla_paged_splits_long_bs16": ("mla", dict(lens=[700, 20, 1], heads=16, r=32, dr=16, dtype="float16",
                                               paged=True, block_size=16), 1e-2),
    "mla_paged_block24_per_key": ("mla", dict(lens=[1, 23, 24, 25, 63, 64, 65], heads=8, r=64, dr=16,
                                              dtype="float16", paged=True, block_size=24), 1e-2),
    "mla_splitv_paged_gather_single_split": ("mla", dict(lens=[1, 63, 64, 65, 130], heads=8, r=64, dr=16,
                                                         dtype="float16", paged=True, block_size=16), 1e-2,
                                             dict(block_h=16, block_n=64, num_warps=4, num_stages=1, split_v=2), 1),
    # no config: 128 heads take the default (split_v=2, block_h=128; the L2 prefetch is GPU-only and off here)
    "mla_default_128_heads": ("mla", dict(lens=[1, 64, 130], heads=128, r=64, dr=16, dtype="float16"), 1e-2),
    # fp8 cache as latent slices (issue 14): r = 64 makes 4 slices of 16 columns, fp16 queries (the GPU's dot dtype),
    # "dual" (value slices loaded twice), "slices" and the old "widen" control; a partial row block, MTP, one split
    "mla_fp8_fp16q_dual_paged": ("mla", dict(lens=[1, 31, 32, 33, 200], heads=8, r=64, dr=16, dtype="float16",
                                             fp8=True, paged=True, block_size=32), 1e-2,
                                 dict(block_h=16, block_n=16, num_warps=4, num_stages=2, fp8_mode="dual")),
    "mla_fp8_fp16q_slices_splits": ("mla", dict(lens=[700, 20, 1], heads=16, r=64, dr=16, dtype="float16",
                                                fp8=True), 1e-2,
                                    dict(block_h=16, block_n=32, num_warps=4, num_stages=2, fp8_mode="slices"), 3),
    "mla_fp8_fp16q_mtp_single_split": ("mla", dict(lens=[3, 70, 130], heads=5, s_q=3, r=64, dr=16, dtype="float16",
                                                   fp8=True, paged=True, block_size=64), 1e-2,
                                       dict(block_h=16, block_n=16, num_warps=4, num_stages=2, fp8_mode="dual"), 1),
    "mla_fp8_fp16q_widen": ("mla", dict(lens=[1, 65, 200], heads=8, r=64, dr=16, dtype="float16", fp8=True,
                                        paged=True, block_size=32), 1e-2,
                            dict(block_h=16, block_n=16, num_warps=4, num_stages=2, fp8_mode="widen")),
    "mla_fp8_default_64_heads": ("mla", dict(lens=[1, 64, 130], heads=64, r=64, dr=16, dtype="float16", fp8=True,
                                             paged=True, block_size=64), 1e-2),
    "gqa_lengths_contiguous": ("gqa", dict(lens=[1, 63, 64, 65], heads=8, kv_heads=2, head_dim=32,
                                           dtype="float16"), 1e-2),
    "gqa_paged_shuffled_mtp": ("gqa", dict(lens=[2, 40, 97], heads=6, kv_heads=3, head_dim=16, s_q=2,
                                           dtype="float32", paged=True, block_size=16), 1e-4),
    # the GQA kernel's paged tiles through the shared block-table math: one entry per tile (block 64 = the 64-key
    # tile), one per key (block 24 divides no tile); block 16 (one entry per block, spread by tl.gather) is above
    "gqa_paged_block64_splits": ("gqa", dict(lens=[1, 64, 65, 300], heads=4, kv_heads=2, head_dim=16,
                                             dtype="float16", paged=True, block_size=64), 1e-2),
    "gqa_paged_block24_per_key": ("gqa", dict(lens=[1, 23, 24, 25, 130], heads=4, kv_heads=1, head_dim=16,
                                              dtype="float16", paged=True, block_size=24), 1e-2),
    "mha_long_splits": ("gqa", dict(lens=[600, 5], heads=4, kv_heads=4, head_dim=32, dtype="float16"), 1e-2),
    # head dims that are no power of two (Phi-2's 80, Phi-3's 96, scaled down): 24 runs 32-column tiles, the padded
    # columns masked on load and store; split (the merge stores 24 of the 32 partial columns) and not, paged and not
    "gqa_head_dim_24_splits": ("gqa", dict(lens=[600, 5, 130], heads=4, kv_heads=2, head_dim=24,
                                           dtype="float16"), 1e-2, {}, 3),
    "gqa_head_dim_24_paged_single": ("gqa", dict(lens=[1, 40, 97], heads=6, kv_heads=3, head_dim=24, s_q=2,
                                                 dtype="float32", paged=True, block_size=16), 1e-4, {}, 1),
    "gqa_head_dim_12": ("gqa", dict(lens=[3, 70], heads=2, kv_heads=1, head_dim=12, dtype="float32"), 1e-4),
    # more query rows a KV head than one program takes (MQA, three query tokens: 36 rows in blocks of 16, the last
    # one 4 rows; on the GPU blocks of 64), paged, forced splits
    "gqa_row_blocks_mtp_splits": ("gqa", dict(lens=[3, 40, 97], heads=12, kv_heads=1, head_dim=16, s_q=3,
                                              dtype="float32", paged=True, block_size=16), 1e-4,
                                  dict(max_block_h=16), 3),
    # sparse top-k decode (DSA): duplicate-free random indices with -1 padding, a length-1 sequence, topk not a
    # multiple of the tile, q_tokens 2, forced splits, 20 heads (a partial head block), the fp8-ds rows
    # (dequantised on load; q in fp32 because the interpreter's bf16 dot is wrong) and indices as pool rows
    "sparse_fp16_mtp": ("sparse", dict(lens=[1, 40, 200], heads=8, s_q=2, topk=48, r=64, dr=16, dtype="float16",
                                       block_size=16), 1e-2),
    "sparse_packed_short": ("sparse", dict(lens=[1, 7, 40], heads=4, topk=48, r=32, dr=16, dtype="float32",
                                          block_size=16, packed=True), 1e-4,
                            dict(block_h=16, block_n=16, num_warps=4, num_stages=1), 3),
    "sparse_fp32_splits_h20": ("sparse", dict(lens=[5, 130], heads=20, topk=100, r=32, dr=16, dtype="float32",
                                              block_size=16), 1e-4,
                               dict(block_h=16, block_n=16, num_warps=4, num_stages=1), 3),
    "sparse_fp8_ds_mtp": ("sparse", dict(lens=[3, 90], heads=4, s_q=2, topk=70, r=256, dr=16, dtype="float32",
                                         block_size=32, fp8_ds=True), 1e-4),
    "sparse_fp8_ds_splits": ("sparse", dict(lens=[70, 150], heads=16, topk=130, r=128, dr=16, dtype="float32",
                                            block_size=64, fp8_ds=True), 1e-4,
                             dict(block_h=16, block_n=32, num_warps=4, num_stages=1), 3),
    "sparse_pool_rows_no_table": ("sparse", dict(lens=[3, 90], heads=4, s_q=2, topk=70, r=64, dr=16,
                                                 dtype="float32", block_size=32, table=False), 1e-4),
    # fp8-ds as one slice per 128-value scale group, scales folded into the small tiles (issue 14): r = 512 (4 slices),
    # fp16 queries (the GPU's dot dtype, with P_SHIFT), "dual", "slices", splits and a partial head block, "widen"
    "sparse_fp8_ds_fp16q_r512_dual": ("sparse", dict(lens=[3, 90], heads=4, s_q=2, topk=70, r=512, dr=16,
                                                     dtype="float16", block_size=32, fp8_ds=True), 1e-2,
                                      dict(block_h=16, block_n=16, num_warps=4, num_stages=2, fp8_mode="dual")),
    "sparse_fp8_ds_fp16q_r512_slices_splits_h20": ("sparse", dict(lens=[70, 150], heads=20, topk=130, r=512, dr=16,
                                                                  dtype="float16", block_size=64, fp8_ds=True), 1e-2,
                                                   dict(block_h=16, block_n=32, num_warps=4, num_stages=1,
                                                        fp8_mode="slices"), 3),
    "sparse_fp8_ds_fp16q_default_single_split": ("sparse", dict(lens=[17, 64], heads=16, topk=40, r=256, dr=16,
                                                                dtype="float16", block_size=64, fp8_ds=True), 1e-2,
                                                 None, 1),
    "sparse_fp8_ds_widen": ("sparse", dict(lens=[3, 90], heads=4, s_q=2, topk=70, r=256, dr=16, dtype="float32",
                                           block_size=32, fp8_ds=True), 1e-4,
                            dict(block_h=16, block_n=32, num_warps=4, num_stages=1, fp8_mode="widen")),
    # through the public entry point: mla_decode(..., indices=...)
    "sparse_via_mla_decode": ("sparse_entry", dict(lens=[17, 64], heads=16, topk=40, r=64, dr=16,
                                                   dtype="float16", block_size=64), 1e-2),
    # the balanced schedule (kernels/schedule.py, triton_schedule.py): the device's records equal the Python
    # mirror's for drawn lengths (err = mismatching schedules, of `n`)
    "schedule_matches_mirror": ("schedule", dict(n=80, seed=3), 0.5),
    # the merge of split or scheduled partials, one a step and MERGE_CHUNK a step, against torch's (fp32 throughout)
    "combine_chunks": ("combine", dict(seed=3), 1e-5),
    # scheduled decode (family "mla_sched": config, SMs the plan sees -> G parts): mixed lengths with 0- and
    # 1-token sequences; err = the worse of (scheduled vs reference, scheduled vs the fixed grid)
    "sched_contiguous_mixed": ("mla_sched", dict(lens=[0, 1, 63, 64, 65, 300, 2, 129], heads=8, r=64, dr=16,
                                                 dtype="float16"), 1e-2, None, 5),
    "sched_paged16_mixed": ("mla_sched", dict(lens=[0, 1, 63, 64, 65, 300, 2, 129], heads=8, r=64, dr=16,
                                              dtype="float16", paged=True, block_size=16), 1e-2, None, 5),
    "sched_paged64_mtp": ("mla_sched", dict(lens=[2, 70, 130, 1, 0], heads=5, s_q=2, r=64, dr=16, dtype="float32",
                                            paged=True, block_size=64), 1e-4, None, 4),
    # many parts (tiny pieces, a sequence over most of them) and one part (every sequence written directly)
    "sched_many_parts": ("mla_sched", dict(lens=[1, 700, 20, 0, 3], heads=16, r=32, dr=16, dtype="float16",
                                           paged=True, block_size=16), 1e-2, None, 40),
    "sched_one_part": ("mla_sched", dict(lens=[1, 700, 20, 0, 3], heads=16, r=32, dr=16, dtype="float16"), 1e-2,
                       None, 1),
    "sched_splitv_nan_tail": ("mla_sched", dict(lens=[1, 63, 64, 65, 0, 200], heads=8, r=64, dr=16,
                                                dtype="float16"), 1e-2,
                              dict(block_h=16, block_n=16, num_warps=4, num_stages=2, split_v=2), 6, "nan_tail"),
    "sched_default_128_heads": ("mla_sched", dict(lens=[1, 64, 700, 0], heads=128, r=64, dr=16, dtype="float16"),
                                1e-2, None, 8),
    "sched_fp8": ("mla_sched", dict(lens=[1, 65, 200, 0], heads=4, r=32, dr=16, dtype="float32", fp8=True,
                                    paged=True, block_size=32), 2e-2, None, 4),
    "sched_fp8_fp16q_dual": ("mla_sched", dict(lens=[1, 31, 32, 33, 200, 0], heads=8, r=64, dr=16,
                                               dtype="float16", fp8=True, paged=True, block_size=32), 1e-2,
                             dict(block_h=16, block_n=16, num_warps=4, num_stages=2, fp8_mode="dual"), 4),
    "sched_fp8_fp16q_slices_mtp": ("mla_sched", dict(lens=[3, 70, 130, 2], heads=5, s_q=2, r=64, dr=16,
                                                     dtype="float16", fp8=True), 1e-2,
                                   dict(block_h=16, block_n=32, num_warps=4, num_stages=2, fp8_mode="slices"), 3),
    # through mla_decode(impl="triton"), the schedule reused by a second call with new queries (a second layer)
    "sched_via_mla_decode_reused": ("mla_sched", dict(lens=[5, 300, 1, 90], heads=16, r=64, dr=16,
                                                      dtype="float16", paged=True, block_size=64), 1e-2, None, 5,
                                    "entry_twice"),
    # out-of-range values with the value checks off (the CUDA default for dense decode): a block-table entry past
    # the pool and one negative, a length past the capacity, sparse indices past the sequence and below -1. Each
    # kernel clamps them (triton_flash.valid_page / valid_length, selected_rows), so it neither faults (the
    # interpreter would read far outside the cache) nor differs from its output for the clamped values
    # (err = the largest difference of the two outputs: testing.same_output)
    "bad_values_mla_paged": ("bad_mla", dict(lens=[1, 63, 64, 65, 130], heads=8, r=64, dr=16, dtype="float16",
                                             paged=True, block_size=16), 1e-12),
    "bad_values_mla_paged64_prefetch_tile": ("bad_mla", dict(lens=[3, 70, 130], heads=32, r=64, dr=16,
                                                             dtype="float16", paged=True, block_size=64), 1e-12),
    "bad_values_mla_contiguous": ("bad_mla", dict(lens=[1, 63, 64, 65], heads=8, r=64, dr=16, dtype="float16"),
                                  1e-12),
    "bad_values_mla_fp8_paged": ("bad_mla", dict(lens=[1, 65, 200], heads=4, r=32, dr=16, dtype="float32",
                                                 fp8=True, paged=True, block_size=32), 1e-12),
    "bad_values_mla_sched_paged": ("bad_mla_sched", dict(lens=[0, 1, 63, 64, 65, 300, 2, 129], heads=8, r=64, dr=16,
                                                         dtype="float16", paged=True, block_size=16), 1e-12),
    "bad_values_gqa_paged": ("bad_gqa", dict(lens=[1, 64, 65, 300], heads=4, kv_heads=2, head_dim=16,
                                             dtype="float16", paged=True, block_size=64), 1e-12),
    "bad_values_gqa_contiguous": ("bad_gqa", dict(lens=[1, 63, 64, 65], heads=8, kv_heads=2, head_dim=32,
                                                  dtype="float16"), 1e-12),
    "bad_values_sparse": ("bad_sparse", dict(lens=[1, 40, 200], heads=8, s_q=2, topk=48, r=64, dr=16,
                                             dtype="float16", block_size=16), 1e-12),
}


def _bad_values_error(family: str, kw: dict) -> float:
    """A kernel run unchecked (check=False) on out-of-range table entries, lengths and (sparse) indices, against the
    same kernel on the values clamped as it clamps them: the largest difference of the outputs (0 expected)."""
    from mlacalc.kernels import launch, testing
    from mlacalc.kernels.triton_gqa_decode import gqa_decode_triton
    from mlacalc.kernels.triton_mla_decode import mla_decode_triton
    from mlacalc.kernels.triton_mla_sparse import mla_decode_sparse
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    if family == "bad_sparse":
        case = testing.make_sparse_case(seed=5, **kw)
        (bt, lens), (clean_bt, clean_lens) = testing.bad_values(case.block_table, case.cache_seqlens, case.kv_cache)
        bad_idx, clean_idx = testing.bad_indices(case.indices)
        outs = []
        for table, L, idx in ((bt, lens, bad_idx), (clean_bt, clean_lens, clean_idx)):
            case.block_table, case.cache_seqlens, case.indices = table, L, idx
            outs.append(testing.run_sparse_case(mla_decode_sparse, case, check=False))
        return testing.same_output(*outs)
    if family == "bad_gqa":
        case = testing.make_gqa_case(seed=5, **kw)
        run, cache, fn = testing.run_gqa_case, case.k_cache, gqa_decode_triton
    else:
        case = testing.make_mla_case(seed=5, **kw)
        run, cache, fn = testing.run_mla_case, case.kv_cache, mla_decode_triton
    (bt, lens), (clean_bt, clean_lens) = testing.bad_values(case.block_table, case.cache_seqlens, cache)
    sched = family == "bad_mla_sched"
    if sched:  # 5 SMs: several parts, so sequences are cut across them
        launch._SMS[("cpu", None)] = 5
        launch.plan_cache("mla_decode_triton").clear()
    outs = []
    try:
        for table, L in ((bt, lens), (clean_bt, clean_lens)):
            case.block_table, case.cache_seqlens = table, L
            extra = {"schedule": mla_decode_schedule()} if sched else {}  # a schedule a step: lengths changed
            outs.append(run(fn, case, check=False, **extra))
    finally:
        launch._SMS.pop(("cpu", None), None)
        launch.plan_cache("mla_decode_triton").clear()  # plans are keyed by shapes, not by the SM count
    return testing.same_output(*outs)


def _run_case(name: str) -> dict:
    import torch

    from mlacalc.kernels import testing
    from mlacalc.kernels.triton_gqa_decode import gqa_decode_triton
    from mlacalc.kernels.triton_mla_decode import mla_decode_triton

    from mlacalc.kernels.triton_mla_decode import MLADecodeConfig

    family, kw, bound, *rest = CASES[name]
    if family == "schedule":
        return {"err": _schedule_mismatches(**kw), "bound": bound}
    if family == "combine":
        return {"err": _combine_error(**kw), "bound": bound}
    kw = dict(kw, dtype=getattr(torch, kw["dtype"]))
    if family.startswith("bad_"):
        return {"err": _bad_values_error(family, kw), "bound": bound}
    if family == "mla_sched":
        return {"err": _scheduled_error(kw, *rest), "bound": bound}
    if family in ("sparse", "sparse_entry"):
        from mlacalc.kernels.decode import mla_decode
        from mlacalc.kernels.triton_mla_sparse import SparseMLAConfig, mla_decode_sparse

        case = testing.make_sparse_case(seed=0, **kw)
        extra = {}
        if rest and rest[0] is not None:
            extra["config"] = SparseMLAConfig(**rest[0])
        if len(rest) > 1:
            extra["num_splits"] = rest[1]
        if family == "sparse":
            out = testing.run_sparse_case(mla_decode_sparse, case, **extra)
        else:
            out = mla_decode(case.q, case.kv_cache, case.cache_seqlens, case.block_table, indices=case.indices,
                             softmax_scale=case.softmax_scale, kv_lora_rank=case.kv_lora_rank)
        return {"err": testing.rel_error(out, case.ref), "bound": bound}
    if family == "mla":
        case = testing.make_mla_case(**kw)
        extra = {}
        if rest:
            extra["config"] = MLADecodeConfig(**rest[0])
        if len(rest) > 1 and rest[1] is not None:
            extra["num_splits"] = rest[1]
        if len(rest) > 2 and rest[2] == "nan_tail":
            for b, n in enumerate(case.cache_seqlens.tolist()):
                case.kv_cache[b, n:] = float("nan")
        out = testing.run_mla_case(mla_decode_triton, case, **extra)
    else:
        from mlacalc.kernels.triton_gqa_decode import GQADecodeConfig

        case = testing.make_gqa_case(**kw)
        extra = {}
        if rest:
            extra["config"] = GQADecodeConfig(**rest[0])
        if len(rest) > 1:
            extra["num_splits"] = rest[1]
        out = testing.run_gqa_case(gqa_decode_triton, case, **extra)
    return {"err": testing.rel_error(out, case.ref), "bound": bound}


def _combine_error(seed: int) -> float:
    """The merge kernels (triton_split_kv.combine_splits, combine_slots) at one partial a step and MERGE_CHUNK a step,
    against the merge in torch: 1-7 partials a sequence (not multiples of the chunk), some empty (lse -inf, o 0), a
    sequence of none in the slots layout left as it was. The worst relative error."""
    import torch

    from mlacalc.kernels.testing import rel_error
    from mlacalc.kernels.triton_split_kv import MERGE_CHUNK, combine_slots, combine_splits

    def merged(lse, o):  # lse [n, R], o [n, R, Dv] -> [R, Dv]
        w = torch.exp2(lse - lse.max(0).values.clamp(min=-1e30).nan_to_num(neginf=0.0))
        return (w[..., None] * o).sum(0) / w.sum(0).clamp(min=1e-30)[..., None]

    g = torch.Generator().manual_seed(seed)
    B, R, Dv, worst = 3, 5, 64, 0.0
    for splits in (1, 2, 3, 4, 5, 7):
        o = torch.randn(B, splits, R, Dv, generator=g)
        lse = torch.randn(B, splits, R, generator=g) * 4
        lse[0, -1] = float("-inf")  # an empty chunk
        o[0, -1] = 0.0
        want = torch.stack([merged(lse[b], o[b]) for b in range(B)])
        for chunk in (1, MERGE_CHUNK):
            out = torch.zeros(B, R, Dv)
            combine_splits(o, lse, out, merge_chunk=chunk)
            worst = max(worst, rel_error(out, want))
    counts = [3, 0, 5, 2, 7]
    slots = sum(counts)
    o = torch.randn(slots, R, Dv, generator=g)
    lse = torch.randn(slots, R, generator=g) * 4
    first = [sum(counts[:b]) for b in range(len(counts))]
    seqs = torch.tensor([[f, n] for f, n in zip(first, counts)], dtype=torch.int32)
    for chunk in (1, MERGE_CHUNK):
        out = torch.full((len(counts), R, Dv), 7.0)
        combine_slots(o, lse, out, seqs, max_partials=max(counts), merge_chunk=chunk)
        for b, (f, n) in enumerate(zip(first, counts)):
            want = merged(lse[f:f + n], o[f:f + n]) if n else torch.full((R, Dv), 7.0)
            worst = max(worst, rel_error(out[b], want))
    return worst


def _schedule_mismatches(n: int, seed: int) -> int:
    """Schedules (of n drawn sets of lengths, part counts, tiles and overheads) whose device records differ from
    kernels/schedule.plan_schedule's."""
    import random

    import torch

    from mlacalc.kernels.schedule import plan_schedule
    from mlacalc.kernels.triton_schedule import fill_schedule

    rng, bad = random.Random(seed), 0
    for _ in range(n):
        B = rng.choice([1, 2, 3, 31, 32, 33, 70, 200])
        G = rng.choice([1, 2, 5, 66, 132, 264, 300])
        block_n, overhead = rng.choice([16, 32, 64]), rng.randint(1, 9)
        top = rng.choice([1, 100, 5000, 64_000])
        lens = [rng.choice([0, 1, rng.randint(top // 2, top), rng.randint(0, top)]) for _ in range(B)]
        parts = torch.full((5, G), -7, dtype=torch.int32)
        seqs = torch.full((B, 2), -7, dtype=torch.int32)
        fill_schedule(torch.tensor(lens, dtype=torch.int32), parts, seqs, block_n=block_n, overhead=overhead)
        want = plan_schedule(lens, block_n=block_n, overhead=overhead, parts=G)
        bad += [tuple(p) for p in parts.t().tolist()] != list(want.parts) or \
            [tuple(x) for x in seqs.tolist()] != list(want.seqs)
    return bad


def _scheduled_error(kw, config, sms, mode=None) -> float:
    """A scheduled decode (the plan seeing `sms` SMs) against the float64 reference and against the fixed grid's
    output; the worse relative error."""
    import torch

    from mlacalc.kernels import launch, testing
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.triton_mla_decode import MLADecodeConfig, mla_decode_triton
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    case = testing.make_mla_case(seed=7, **kw)
    if mode == "nan_tail":
        for b, n in enumerate(case.cache_seqlens.tolist()):
            case.kv_cache[b, n:] = float("nan")
    launch._SMS[("cpu", None)] = sms
    launch.plan_cache("mla_decode_triton").clear()  # plans are keyed by shapes, not by the SM count
    extra = {} if config is None else {"config": MLADecodeConfig(**config)}
    sched = mla_decode_schedule()
    if mode == "entry_twice":
        first = torch.randn_like(case.q)
        mla_decode(first, case.kv_cache, case.cache_seqlens, case.block_table, softmax_scale=case.softmax_scale,
                   kv_lora_rank=case.kv_lora_rank, impl="triton", schedule=sched)
        assert sched.filled
        out = testing.run_mla_case(lambda *a, **k: mla_decode(*a, impl="triton", **k), case, schedule=sched, **extra)
    else:
        out = testing.run_mla_case(mla_decode_triton, case, schedule=sched, **extra)
    # with more than one part some sequence is split here (the cases are chosen so), so the combine runs too
    assert (int(sched.seqs[:, 1].max()) > 0) == (sms > 1), sched.seqs.tolist()
    plain = testing.run_mla_case(mla_decode_triton, case, **extra)
    launch._SMS.pop(("cpu", None))
    launch.plan_cache("mla_decode_triton").clear()
    return max(testing.rel_error(out, case.ref), testing.rel_error(out, plain))


@pytest.fixture(scope="module")
def interpreter_results():
    """All cases in one subprocess (one torch + triton import), results as JSON on the last stdout line."""
    env = dict(os.environ, TRITON_INTERPRET="1", TRITON_DEFAULT_FP_FUSION="1")
    proc = subprocess.run([sys.executable, __file__, *CASES], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_triton_kernel_under_interpreter(name, interpreter_results):
    res = interpreter_results[name]
    assert "error" not in res, res["error"]
    assert res["err"] < res["bound"], res  # NaN (an unwritten poisoned element) fails too


if __name__ == "__main__":
    assert os.environ.get("TRITON_INTERPRET") == "1"
    results = {}
    for case_name in sys.argv[1:]:
        try:
            results[case_name] = _run_case(case_name)
        except Exception as exc:  # reported per case by the test
            results[case_name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(results))
