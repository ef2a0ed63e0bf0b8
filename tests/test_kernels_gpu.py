"""GPU tests of the compiled Triton kernels (bf16 and fp8), SDPA paths and layers. Marked `gpu`; skipped without
CUDA. Run on the device machine by bench/gpu_check.py (`pytest -m gpu tests/test_kernels_gpu.py`)."""

import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

LENS = [1, 63, 64, 65, 4097]  # one batch of mixed lengths covers every length of the issue


def _mla(**kw):
    from mlacalc.kernels.testing import make_mla_case

    return make_mla_case(device="cuda", **kw)


@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("heads", [16, 32, 128])
def test_triton_mla_bf16(paged, heads):
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import mla_decode_triton

    case = _mla(lens=LENS, heads=heads, paged=paged)
    assert rel_error(run_mla_case(mla_decode_triton, case), case.ref) < 1e-2


@pytest.mark.parametrize("s_q", [2, 4])
@pytest.mark.parametrize("heads", [16, 128])
def test_triton_mla_multi_token_causal(s_q, heads):
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import mla_decode_triton

    case = _mla(lens=[max(n, s_q) for n in LENS], heads=heads, s_q=s_q, paged=True)
    assert rel_error(run_mla_case(mla_decode_triton, case), case.ref) < 1e-2


@pytest.mark.parametrize("heads", [16, 128])
def test_triton_mla_fp8(heads):
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import mla_decode_triton

    case = _mla(lens=LENS, heads=heads, paged=True, fp8=True)
    out = run_mla_case(mla_decode_triton, case)
    assert rel_error(out, case.ref) < 2e-2
    # quantisation itself costs a few percent on Gaussian data; reported, bounded loosely
    assert rel_error(out, case.ref_unquantised) < 6e-2


FP8_MODE_CONFIGS = {  # issue 14: the fp8 modes the defaults (test_triton_mla_fp8) do not run; every candidate tile is
    # also checked on the GPU by bench/tune_fp8_sparse.py before it is timed
    "dual_32_w8": (32, dict(block_h=32, block_n=32, num_warps=8, num_stages=3, fp8_mode="dual")),
    "dual_64": (128, dict(block_h=64, block_n=32, num_warps=8, num_stages=3, fp8_mode="dual")),
    "widen_64": (64, dict(block_h=64, block_n=64, num_warps=8, num_stages=2, fp8_mode="widen")),
}


@pytest.mark.parametrize("variant", sorted(FP8_MODE_CONFIGS))
def test_triton_mla_fp8_modes(variant):
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import MLADecodeConfig, mla_decode_triton

    heads, cfg = FP8_MODE_CONFIGS[variant]
    case = _mla(lens=LENS, heads=heads, paged=True, fp8=True)
    out = run_mla_case(mla_decode_triton, case, config=MLADecodeConfig(**cfg))
    assert rel_error(out, case.ref) < 2e-2


@pytest.mark.parametrize("num_splits", [1, 3, 17])
def test_triton_mla_forced_splits(num_splits):
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import mla_decode_triton

    case = _mla(lens=[4097, 65, 1], heads=64, paged=True)
    assert rel_error(run_mla_case(mla_decode_triton, case, num_splits=num_splits), case.ref) < 1e-2


@pytest.mark.parametrize("paged", [False, True])
def test_triton_mla_replanned_over_the_programs_an_sm_holds(paged):
    """MiniCPM3's dims (r 256, RoPE 32) at 5 heads, 48 sequences up to 8k tokens: planned over one program an SM,
    8 splits (384 programs, more than the SMs of an H100/H200), so planned again over the two 16-row programs an SM
    holds (kernels/triton_mla_decode._plan): more splits, and the same output within bf16 error."""
    import random
    from dataclasses import replace

    from mlacalc.kernels.launch import num_sms
    from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import default_mla_config, mla_decode_triton, mla_num_splits

    rng = random.Random(3)
    lens = [8192, 1, 65, 4097] + [rng.randint(1, 8192) for _ in range(44)]
    case = make_mla_case(lens, heads=5, r=256, dr=32, device="cuda", paged=paged, seed=5)
    one = replace(default_mla_config(5, None), programs_per_sm=1)
    sms = num_sms(torch.device("cuda"))
    planned = mla_num_splits(48, 1, 5, 8195, sms=sms, kv_lora_rank=256, rope_dim=32)
    if sms >= 100:
        assert planned > mla_num_splits(48, 1, 5, 8195, sms=sms, kv_lora_rank=256, rope_dim=32, config=one)
    out = run_mla_case(mla_decode_triton, case, max_seqlen=8195)
    assert rel_error(out, case.ref) < 1e-2
    assert rel_error(run_mla_case(mla_decode_triton, case, max_seqlen=8195, config=one), case.ref) < 1e-2


VARIANT_CONFIGS = {  # 128-head tiles with the value dims split over two programs (docs/kernels-notes.md, follow-up 1)
    "sv2_h128_n32": dict(block_h=128, block_n=32, num_warps=8, num_stages=2, split_v=2),
    "sv2_h128_n64s1_pf": dict(block_h=128, block_n=64, num_warps=8, num_stages=1, split_v=2, prefetch_l2=True),
}


@pytest.mark.parametrize("mode", ["paged", "contiguous_single_split", "mtp_causal", "fp8"])
@pytest.mark.parametrize("variant", sorted(VARIANT_CONFIGS))
def test_triton_mla_variants(variant, mode):
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import MLADecodeConfig, mla_decode_triton

    cfg = MLADecodeConfig(**VARIANT_CONFIGS[variant])
    kw, extra, bound = dict(lens=LENS, heads=128, paged=True), {}, 1e-2
    if mode == "contiguous_single_split":
        kw["paged"], extra["num_splits"] = False, 1
    elif mode == "mtp_causal":
        kw.update(lens=[max(n, 2) for n in LENS], s_q=2)
    elif mode == "fp8":
        kw["fp8"], bound = True, 2e-2
    case = _mla(**kw)
    assert rel_error(run_mla_case(mla_decode_triton, case, config=cfg, **extra), case.ref) < bound


def _mixed_lengths(seed: int, n: int = 12, top: int = 32768) -> list[int]:
    """Mixed lengths 1..top: the edge lengths (0, 1, 2, a tile and one, the longest) and the rest drawn."""
    import random

    rng = random.Random(seed)
    return [0, 1, 2, 65, top] + [rng.randint(1, top) for _ in range(n - 5)]


@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("heads,s_q", [(16, 1), (16, 2), (32, 1), (32, 2), (128, 1)])
def test_triton_mla_scheduled_mixed_lengths(heads, s_q, paged):
    """The balanced schedule (triton_schedule.py) at mixed lengths 1..32k: the scheduled decode matches the float64
    reference and the fixed grid's output, and some sequence was split over parts (the combine ran)."""
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import mla_decode_triton
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    case = _mla(lens=_mixed_lengths(heads + s_q), heads=heads, s_q=s_q, paged=paged, seed=heads)
    sched = mla_decode_schedule()
    out = run_mla_case(mla_decode_triton, case, schedule=sched)
    plain = run_mla_case(mla_decode_triton, case, max_seqlen=32768)
    assert rel_error(out, case.ref) < 1e-2 and rel_error(out, plain) < 1e-2
    assert int(sched.seqs[:, 1].max()) > 1
    again = run_mla_case(mla_decode_triton, case, schedule=sched)  # a second layer: the schedule reused
    assert rel_error(again, case.ref) < 1e-2


@pytest.mark.parametrize("heads", [16, 128])
def test_triton_mla_scheduled_fp8(heads):
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import mla_decode_triton
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    case = _mla(lens=_mixed_lengths(heads, top=8192), heads=heads, paged=True, fp8=True, seed=heads)
    out = run_mla_case(mla_decode_triton, case, schedule=mla_decode_schedule())
    assert rel_error(out, case.ref) < 2e-2


@pytest.mark.parametrize("impl,heads", [("triton", 16), ("auto", 128)])
def test_scheduled_decode_in_a_cuda_graph_follows_the_lengths_of_each_replay(impl, heads):
    """A call captured with a fresh schedule records the schedule's filling too: each replay recomputes it from the
    lengths in the (same) cache_seqlens buffer. Here the lengths shrink after the capture, and the replay matches
    the reference at the new lengths. impl auto at 128 heads: the Gluon kernel's scheduled mode (sm_90)."""
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.reference import mla_latent_attention_reference
    from mlacalc.kernels.testing import rel_error
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    if impl == "auto" and torch.cuda.get_device_capability()[0] != 9:
        pytest.skip("the Gluon kernel is for sm_90 (Hopper)")
    case = _mla(lens=_mixed_lengths(5 + heads, top=8192), heads=heads, seed=5 + heads)
    lens = case.cache_seqlens.clone()
    kw = dict(softmax_scale=case.softmax_scale, kv_lora_rank=case.kv_lora_rank, impl=impl)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):  # warm-up: compiles the three kernels, builds the plan
        mla_decode(case.q, case.kv_cache, lens, schedule=mla_decode_schedule(), **kw)
    torch.cuda.current_stream().wait_stream(s)
    sched = mla_decode_schedule()  # kept alive as long as the graph: its tensors live in the graph's pool
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = mla_decode(case.q, case.kv_cache, lens, schedule=sched, **kw)
    g.replay()
    torch.cuda.synchronize()
    assert rel_error(out, case.ref) < 1e-2
    short = torch.tensor([max(n // 3, 1) for n in lens.tolist()], dtype=torch.int32)
    lens.copy_(short)
    g.replay()
    torch.cuda.synchronize()
    ref = mla_latent_attention_reference(case.q.cpu(), case.kv_cache.cpu(), case.kv_lora_rank,
                                         scale=case.softmax_scale, kv_lengths=short)
    assert rel_error(out, ref) < 1e-2


needs_sm90 = pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9,
                                reason="the Gluon kernel is for sm_90 (Hopper)")


@needs_sm90
@pytest.mark.parametrize("block_n", [64, 32])
@pytest.mark.parametrize("mode", ["contiguous_nan_tail", "paged", "single_split", "splits_17", "mtp_causal", "h64",
                                  "h32", "h16_paged", "h32_b1", "h16_mtp"])
def test_gluon_mla(mode, block_n):
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, mla_decode_gluon
    from mlacalc.kernels.testing import rel_error, run_mla_case

    kw, extra = dict(lens=LENS, heads=128, paged=mode == "paged"), {}
    if mode in ("mtp_causal", "h16_mtp"):  # two query tokens: 128 rows, or 32 padded to the 64-row tile
        kw.update(lens=[max(n, 2) for n in LENS], heads=64 if mode == "mtp_causal" else 16, s_q=2)
    elif mode == "h64":
        kw["heads"] = 64
    elif mode in ("h32", "h16_paged", "h32_b1"):  # under 64 rows: the 64-row tile padded (Q box past the rows)
        kw.update(heads=16 if mode == "h16_paged" else 32, paged=mode == "h16_paged")
        if mode == "h32_b1":
            kw["lens"] = LENS[-1:]  # one sequence: the 64-row box is larger than the whole [32, 576] query
    elif mode == "single_split":
        extra["num_splits"] = 1
    elif mode == "splits_17":
        extra["num_splits"] = 17
    case = _mla(**kw)
    if mode == "contiguous_nan_tail":  # TMA boxes read rows past a length: they must not reach the output
        for b, n in enumerate(case.cache_seqlens.tolist()):
            case.kv_cache[b, n:] = float("nan")
    out = run_mla_case(mla_decode_gluon, case, config=GluonMLAConfig(block_n=block_n), **extra)
    assert rel_error(out, case.ref) < 1e-2


@needs_sm90
@pytest.mark.parametrize("mode", ["paged", "contiguous_nan_tail", "float_scale", "single_split", "splits_17",
                                  "mtp_causal_h64"])
def test_gluon_mla_fp8(mode):
    """The fp8 e4m3 cache through the Gluon kernel (its third warp group widens the tiles): against the float64
    reference over the dequantised cache, as tight as the Triton fp8 kernel's bound."""
    from mlacalc.kernels.gluon_mla_decode import mla_decode_gluon
    from mlacalc.kernels.testing import rel_error, run_mla_case

    kw, extra = dict(lens=LENS, heads=128, paged=mode != "contiguous_nan_tail", fp8=True), {}
    if mode == "mtp_causal_h64":
        kw.update(lens=[max(n, 2) for n in LENS], heads=64, s_q=2)
    elif mode == "single_split":
        extra["num_splits"] = 1
    elif mode == "splits_17":
        extra["num_splits"] = 17
    case = _mla(**kw)
    if mode == "contiguous_nan_tail":
        for b, n in enumerate(case.cache_seqlens.tolist()):
            case.kv_cache[b, n:] = float("nan")
    if mode == "float_scale":
        case.kv_scale = float(case.kv_scale)
    out = run_mla_case(mla_decode_gluon, case, **extra)
    assert rel_error(out, case.ref) < 2e-2
    assert rel_error(out, case.ref_unquantised) < 6e-2


@needs_sm90
@pytest.mark.parametrize("pairs", [0, 1, 2, 4])
@pytest.mark.parametrize("heads", [128, 16])
def test_gluon_mla_fp8_l2_prefetch(pairs, heads):
    """The fp8 widening group's L2 prefetch (gluon_mla_seesaw._prefetch_tile) changes no value: 0-4 pairs ahead,
    paged and contiguous, lengths that end mid-tile and mid-pair, a one-key sequence, 7 splits, against the float64
    reference. The longest sequence is the last, with no spare rows after it (extra_capacity=0): its last tile holds
    one key, so an unclamped prefetch would name up to 31 rows past the cache's allocation."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, mla_decode_gluon
    from mlacalc.kernels.testing import rel_error, run_mla_case

    cfg = GluonMLAConfig(l2_prefetch_pairs=pairs)
    for paged, splits in ((True, None), (False, None), (True, 7)):
        case = _mla(lens=[1500, 64, 65, 1, 333, 4097], heads=heads, paged=paged, fp8=True, extra_capacity=0)
        out = run_mla_case(mla_decode_gluon, case, config=cfg, num_splits=splits)
        assert rel_error(out, case.ref) < 2e-2, (paged, splits)


@needs_sm90
@pytest.mark.parametrize("slack", [8.0, 0.0, 1.0])
@pytest.mark.parametrize("block_n", [64, 32])
@pytest.mark.parametrize("trend", ["rising", "falling", "peaked", "spikes"])
def test_gluon_mla_rescaling(trend, block_n, slack):
    """The seesaw kernel's running-max handover between its warp groups: keys whose scores grow along the sequence
    (the max moves at almost every tile), shrink (it settles at the first tile), a peaked softmax (scores 8x
    larger), and single keys far above the rest (a spike in an even and in an odd tile of each 64-key pair, then a
    larger one), against the float64 reference, with planned splits and with one. `slack`: how far a row's max may
    grow before the output is rescaled (8: the default; 0: every tile; 1: rescales at most tiles, where a rising
    ramp passes the reference by 1-8 at once)."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, mla_decode_gluon
    from mlacalc.kernels.reference import mla_latent_attention_reference
    from mlacalc.kernels.testing import rel_error, run_mla_case

    case = _mla(lens=[4097, 1500, 64, 1], heads=128)
    S = case.kv_cache.shape[1]
    if trend == "peaked":
        case.q.mul_(8)
    elif trend == "spikes":  # each sequence's key t made parallel to head 0's query: that row's score jumps there
        for t, gain in ((100, 2.0), (161, 3.0), (1400, 5.0), (4000, 8.0)):
            case.kv_cache[:, t, :] = (gain * case.q[:, 0, 0, :]).to(case.kv_cache.dtype)
    else:
        ramp = torch.linspace(0.2, 3.0, S, device="cuda")
        case.kv_cache.mul_((ramp if trend == "rising" else ramp.flip(0))[None, :, None].to(case.kv_cache.dtype))
    case.ref = mla_latent_attention_reference(case.q.cpu(), case.kv_cache.cpu(), 512, scale=case.softmax_scale,
                                              kv_lengths=case.cache_seqlens.cpu())
    config = GluonMLAConfig(block_n=block_n, rescale_slack=slack)
    for splits in (None, 1):
        assert rel_error(run_mla_case(mla_decode_gluon, case, num_splits=splits, config=config), case.ref) < 1e-2


# The Gluon kernel's scheduled mode (gluon_mla_seesaw._wg_sched), written without a GPU: run these first, each under
# a timeout (bench/session_bc_gpu.sh): a barrier phase counted wrong across segments shows as a hang, or (a wait that
# passes a phase early, its tile still in flight) as wrong numbers; tests/test_kernels_seesaw_protocol.py checks the
# protocol on the CPU. Order: one segment a part (the fixed kernel's path), then several short segments a part, then
# empty and one-tile segments after split ones, then mixed lengths.

@needs_sm90
@pytest.mark.parametrize("block_n", [64, 32])
def test_gluon_sched_smoke_one_segment_a_part(block_n):
    """128 heads, lengths 4,097 and 1,500: each part runs one segment (the kernel runs as the fixed grid's, its output
    always a partial). On 132 SMs (66 parts): 64-key tiles, units of 128 keys, 33 + 12 units and 3 overhead a
    sequence, 51 cells: a part is one cell; 32-key tiles, 129 + 47 units and 10 overhead, 196 cells: a part is 3
    cells, fewer than the 10 overhead cells between the two sequences' tiles."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, mla_decode_gluon
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    case = _mla(lens=[4097, 1500], heads=128, paged=True)
    sched = mla_decode_schedule()
    out = run_mla_case(mla_decode_gluon, case, config=GluonMLAConfig(block_n=block_n), schedule=sched)
    assert rel_error(out, case.ref) < 1e-2
    assert int(sched.seqs[:, 1].max()) > 1
    assert int((sched.parts[2] - sched.parts[0]).max()) == 0  # the premise: no part reaches a second sequence


@needs_sm90
@pytest.mark.parametrize("block_n", [64, 32])
def test_gluon_sched_smoke_many_short_segments_a_part(block_n):
    """256 sequences of 1-40 keys at 128 heads: several whole sequences a part, each of one or two tiles (odd tile
    counts flip the ready barriers' parity from segment to segment), written directly; one of 0 keys (zeros)."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, mla_decode_gluon
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    lens = [0] + [1 + (7 * b) % 40 for b in range(1, 256)]
    case = _mla(lens=lens, heads=128, paged=True, seed=3)
    sched = mla_decode_schedule()
    out = run_mla_case(mla_decode_gluon, case, config=GluonMLAConfig(block_n=block_n), schedule=sched)
    assert rel_error(out, case.ref) < 1e-2
    assert int((sched.parts[2] - sched.parts[0]).max()) >= 1  # some part runs two sequences or more


@needs_sm90
@pytest.mark.parametrize("block_n", [64, 32])
@pytest.mark.parametrize("heads,s_q", [(128, 1), (64, 2)])
def test_gluon_sched_smoke_empty_and_one_tile_segments_after_split_ones(heads, s_q, block_n):
    """Parts that start inside a split sequence and go on into sequences of 0, 1, 2, 64, 129 and 130 keys: where the
    bookkeeping across segments differs most from the fixed grid. An empty segment after another turns only q_bar,
    the row sums and seg_done (it is the case seg_done exists for: without it WG0 could store that segment's row sum
    before WG1 read the last one: tests/test_kernels_seesaw_protocol.py); segments of 1 or 3 tiles flip the ready
    barriers' parity; s_q = 2 puts the causal band in pieces. The structure is asserted on the device's schedule
    (on 132 SMs: 66 parts at 128 rows, with 5-6 parts that start mid-sequence and run on, 7-9 empty segments after
    another: schedule.plan_schedule); the output, NaN-poisoned first, against the float64 reference."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, mla_decode_gluon
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    pattern = [2000, 0, 1, 0, 130, 0, 64, 4100, 0, 0, 2, 129]
    lens = [pattern[b % len(pattern)] for b in range(48)]
    case = _mla(lens=lens, heads=heads, s_q=s_q, paged=True, seed=5)
    sched = mla_decode_schedule()
    out = run_mla_case(mla_decode_gluon, case, config=GluonMLAConfig(block_n=block_n), schedule=sched)
    assert rel_error(out, case.ref) < 1e-2
    first_b, first_unit, last_b = (sched.parts[k].tolist() for k in range(3))
    assert any(u > 0 and e > b for b, u, e in zip(first_b, first_unit, last_b))  # mid-sequence start, then more
    assert any(lens[x] == 0 for b, e in zip(first_b, last_b) for x in range(b + 1, e + 1))  # an empty later segment


@needs_sm90
@pytest.mark.parametrize("block_n", [64, 32])
def test_gluon_sched_smoke_two_parts_of_many_segments(block_n, monkeypatch):
    """The SM count read as 4 (launch._SMS), so 128 heads (2 head blocks) make G = 2 parts of 14-15 segments each
    over 29 sequences of 0-900 keys, contiguous cache: the barrier phases carried through a long chain of segments
    (45-90 pairs a part: schedule.plan_schedule) rather than the 1-2 segments a part of a full GPU; against the
    float64 reference. (29 sequences: a shape no other test uses, so the plan is made with the patched count.)"""
    import random

    from mlacalc.kernels import launch
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, mla_decode_gluon
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    rng = random.Random(29)
    lens = [0, 1, 2, 65, 130, 700] + [rng.randint(0, 900) for _ in range(23)]
    case = _mla(lens=lens, heads=128, seed=29)
    monkeypatch.setitem(launch._SMS, (case.q.device.type, case.q.device.index), 4)
    sched = mla_decode_schedule()
    out = run_mla_case(mla_decode_gluon, case, config=GluonMLAConfig(block_n=block_n), schedule=sched)
    assert rel_error(out, case.ref) < 1e-2
    assert tuple(sched.parts.shape) == (5, 2) and int((sched.parts[2] - sched.parts[0]).min()) >= 13


@needs_sm90
@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("heads,s_q,block_n", [(128, 1, 64), (128, 1, 32), (64, 1, 32), (64, 2, 32), (128, 2, 64),
                                               (32, 1, 32)])
def test_gluon_sched_mixed_lengths(heads, s_q, block_n, paged):
    """The scheduled Gluon decode at mixed lengths 1..32k (with 0, 1, 2, 65): matches the float64 reference and the
    fixed grid's output, some sequence was split over parts, and a second call reusing the schedule (the next layer)
    matches too. 32 heads: the 64-row tile padded."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, mla_decode_gluon
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    case = _mla(lens=_mixed_lengths(heads + s_q + block_n), heads=heads, s_q=s_q, paged=paged, seed=heads + 1)
    cfg = GluonMLAConfig(block_n=block_n)
    sched = mla_decode_schedule()
    out = run_mla_case(mla_decode_gluon, case, config=cfg, schedule=sched)
    plain = run_mla_case(mla_decode_gluon, case, config=cfg, max_seqlen=32768)
    assert rel_error(out, case.ref) < 1e-2 and rel_error(out, plain) < 1e-2
    assert int(sched.seqs[:, 1].max()) > 1
    assert rel_error(run_mla_case(mla_decode_gluon, case, config=cfg, schedule=sched), case.ref) < 1e-2


@needs_sm90
@pytest.mark.parametrize("paged", [False, True])
def test_gluon_auto_schedule_off_the_grid(paged):
    """impl auto at 128 heads where the fixed grid leaves the last wave's SMs idle (34 sequences x 2 head blocks x 3
    splits = 204 programs on 132 SMs; gluon_mla_decode.auto_schedules): the call fills and runs a schedule of its own,
    matches the float64 reference (lengths up to max_seqlen, some shorter, one empty), the fixed grid's output
    (num_splits forced) and, called again (the next layer, the schedule refilled), the reference again; in a CUDA
    graph, a replay after the lengths shrink follows them."""
    from mlacalc.kernels.cache import from_paged
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.gluon_mla_decode import (auto_schedules, default_gluon_config, gluon_splits,
                                                  mla_decode_gluon, split_keys)
    from mlacalc.kernels.launch import num_sms, plan_cache
    from mlacalc.kernels.reference import mla_latent_attention_reference
    from mlacalc.kernels.testing import rel_error, run_mla_case

    B, L, H = 34, 4352, 128
    cfg = default_gluon_config(H, page_size=64 if paged else None)
    splits, per = gluon_splits(B, H, L, sms=num_sms(torch.device("cuda")), block_n=split_keys(cfg))
    if not auto_schedules(B, H, L, sms=num_sms(torch.device("cuda")), config=cfg, tokens_per_split=per,
                          num_splits=splits):
        pytest.skip("this GPU's SM count leaves the fixed grid balanced at this shape")
    case = _mla(lens=[L] * 29 + [L - 1, 3000, 2049, 1, 0], heads=H, paged=paged, seed=34, extra_capacity=0)
    out = run_mla_case(mla_decode, case, max_seqlen=L)
    assert any(getattr(p, "own_schedule", False) for p in plan_cache("mla_decode_gluon").values())
    fixed = run_mla_case(mla_decode_gluon, case, max_seqlen=L, num_splits=splits)
    assert rel_error(out, case.ref) < 1e-2 and rel_error(out, fixed) < 1e-2
    assert rel_error(run_mla_case(mla_decode, case, max_seqlen=L), case.ref) < 1e-2
    lens = case.cache_seqlens.clone()
    kw = dict(softmax_scale=case.softmax_scale, kv_lora_rank=case.kv_lora_rank, max_seqlen=L)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):  # warm-up: the plan of these arguments, built outside the capture
        mla_decode(case.q, case.kv_cache, lens, case.block_table, **kw)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        graphed = mla_decode(case.q, case.kv_cache, lens, case.block_table, **kw)
    g.replay()
    torch.cuda.synchronize()
    assert rel_error(graphed, case.ref) < 1e-2
    lens.copy_(torch.tensor([max(n // 3, 1) for n in lens.tolist()], dtype=torch.int32))
    g.replay()
    torch.cuda.synchronize()
    kv = from_paged(case.kv_cache, case.block_table, L) if paged else case.kv_cache
    ref = mla_latent_attention_reference(case.q.cpu(), kv.cpu(), case.kv_lora_rank, scale=case.softmax_scale,
                                         kv_lengths=lens.cpu())
    assert rel_error(graphed, ref) < 1e-2


@needs_sm90
@pytest.mark.parametrize("in_kernel", [True, False])
@pytest.mark.parametrize("B, paged", [(34, True), (150, False), (150, True)])
def test_gluon_own_schedule_made_in_the_kernel_or_by_the_fill(B, paged, in_kernel):
    """A call's own schedule, forced (GluonMLAConfig.own_schedule_us far below 0, auto_schedule_below above any
    ratio), made by the decode programs from the lengths (schedule_in_kernel: gluon_mla_seesaw._own_record; 150
    sequences take two of its 128-length chunks) or by the fill kernel: mixed lengths (one of max_seqlen, the others
    0-700, some empty) against the float64 reference, and the slot records the merge read are plan_schedule's."""
    import dataclasses
    import random

    from mlacalc.kernels.gluon_mla_decode import default_gluon_config, mla_decode_gluon
    from mlacalc.kernels.launch import num_sms, plan_cache
    from mlacalc.kernels.schedule import plan_schedule, schedule_parts, segment_overhead_tiles
    from mlacalc.kernels.testing import rel_error, run_mla_case

    H, L = 128, 4352
    rng = random.Random(B)
    lens = [L] + [rng.choice([0, 1, rng.randint(2, 700)]) for _ in range(B - 1)]
    cfg = dataclasses.replace(default_gluon_config(H, page_size=64 if paged else None), auto_schedule_below=9.0,
                              own_schedule_us=-1e9, schedule_in_kernel=in_kernel)
    case = _mla(lens=lens, heads=H, paged=paged, seed=B, extra_capacity=0)
    out = run_mla_case(mla_decode_gluon, case, config=cfg, max_seqlen=L)
    plans = [p for p in plan_cache("mla_decode_gluon").values() if getattr(p, "own_schedule", False)
             and p.B == B and p.own_record == in_kernel]
    assert plans, "the call did not run a schedule of its own"
    assert rel_error(out, case.ref) < 1e-2
    G = schedule_parts(2, num_sms(torch.device("cuda")))
    overhead = segment_overhead_tiles(64, plans[-1].unit, 576, 512, q_bytes=2, kv_bytes=2)
    want = plan_schedule(lens, block_n=plans[-1].unit, overhead=overhead, parts=G).seqs
    assert [tuple(r) for r in plans[-1]._seqs.tolist()] == list(want)


@needs_sm90
def test_auto_dispatch_picks_gluon_above_16_rows():
    from mlacalc.kernels.decode import _gluon_applies

    q128 = torch.zeros(2, 1, 128, 576, device="cuda", dtype=torch.bfloat16)
    q32 = torch.zeros(2, 1, 32, 576, device="cuda", dtype=torch.bfloat16)
    q16 = torch.zeros(2, 1, 16, 576, device="cuda", dtype=torch.bfloat16)
    q16x2 = torch.zeros(2, 2, 16, 576, device="cuda", dtype=torch.bfloat16)  # two query tokens: 32 rows
    kv = torch.zeros(2, 64, 576, device="cuda", dtype=torch.bfloat16)
    assert _gluon_applies(q128, kv, None, 512, None, {})
    assert _gluon_applies(q32, kv, None, 512, None, {})  # 32 rows: the 64-row tile padded
    assert _gluon_applies(q16x2, kv, None, 512, None, {})
    assert not _gluon_applies(q16, kv, None, 512, None, {})  # 16 rows: the Triton kernel
    assert _gluon_applies(q128, kv.to(torch.float8_e4m3fn), None, 512, 0.02, {})  # fp8: the widening kernel
    assert not _gluon_applies(q32, kv.to(torch.float8_e4m3fn), None, 512, 0.02, {})  # fp8 under 64 rows: Triton
    assert not _gluon_applies(q16, kv.to(torch.float8_e4m3fn), None, 512, 0.02, {})
    assert not _gluon_applies(q128, kv.to(torch.float8_e5m2), None, 512, 0.02, {})  # e5m2: Triton
    assert not _gluon_applies(q128, kv.view(-1, 16, 576), torch.zeros(2, 4, dtype=torch.int32, device="cuda"),
                              512, None, {})  # 16-token blocks: not a multiple of the 32-key tile


def test_eager_mla_matches_reference_on_gpu():
    from mlacalc.kernels.decode import mla_decode_eager
    from mlacalc.kernels.testing import rel_error, run_mla_case

    case = _mla(lens=[max(n, 2) for n in LENS], heads=32, paged=True, s_q=2)  # len >= s_q
    assert rel_error(run_mla_case(mla_decode_eager, case, poison=False), case.ref) < 1e-2


@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("hq,hkv,s_q", [(32, 8, 1), (64, 8, 1), (32, 32, 1), (32, 8, 3)])
def test_gqa_decode_triton_and_sdpa(paged, hq, hkv, s_q):
    from mlacalc.kernels.decode import gqa_decode_sdpa
    from mlacalc.kernels.testing import make_gqa_case, rel_error, run_gqa_case
    from mlacalc.kernels.triton_gqa_decode import gqa_decode_triton

    case = make_gqa_case([max(n, s_q) for n in LENS], heads=hq, kv_heads=hkv, head_dim=128, s_q=s_q,
                         paged=paged, device="cuda")
    assert rel_error(run_gqa_case(gqa_decode_triton, case), case.ref) < 1e-2
    assert rel_error(run_gqa_case(gqa_decode_sdpa, case, poison=False), case.ref) < 1e-2


@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("head_dim,hq,hkv,s_q,splits", [(96, 32, 32, 1, None), (96, 32, 8, 2, 3), (80, 32, 32, 1, 1),
                                                         (80, 16, 4, 1, 4), (48, 8, 2, 1, None)])
def test_gqa_decode_triton_at_head_dims_that_are_no_power_of_two(paged, head_dim, hq, hkv, s_q, splits):
    """Phi-3's 96 and Phi-2's 80 (and 48): the kernel's tiles are 128 (64) columns, the rest masked on load and
    store, the merge storing the first head_dim of the padded partials; bf16, mixed lengths, split and not."""
    from mlacalc.kernels.testing import make_gqa_case, rel_error, run_gqa_case
    from mlacalc.kernels.triton_gqa_decode import gqa_decode_triton

    case = make_gqa_case([max(n, s_q) for n in LENS], heads=hq, kv_heads=hkv, head_dim=head_dim, s_q=s_q,
                         paged=paged, device="cuda")
    assert rel_error(run_gqa_case(gqa_decode_triton, case, num_splits=splits), case.ref) < 1e-2


@pytest.mark.parametrize("pad_v", [False, True])
def test_mla_and_gqa_prefill_bf16(pad_v):
    from mlacalc.kernels.prefill import gqa_prefill_sdpa, mla_prefill_sdpa
    from mlacalc.kernels.reference import attention_reference
    from mlacalc.kernels.testing import rel_error

    B, S, H = 2, 1000, 16
    q, k, v = (torch.randn(B, S, H, d, device="cuda", dtype=torch.bfloat16) for d in (192, 192, 128))
    ref = attention_reference(q, k, v, scale=192**-0.5, causal=True)
    assert rel_error(mla_prefill_sdpa(q, k, v, pad_v=pad_v), ref) < 1e-2
    q, k, v = (torch.randn(B, S, h, 128, device="cuda", dtype=torch.bfloat16) for h in (32, 8, 8))
    assert rel_error(gqa_prefill_sdpa(q, k, v), attention_reference(q, k, v, causal=True)) < 1e-2


@pytest.mark.parametrize("kind", ["mla", "gqa", "mha"])
def test_layers_forward_backward_bf16(kind):
    from mlacalc.kernels.layers import LayerDims, make_layer

    dims = LayerDims(hidden=1024, heads=16, kv_heads=4, head_dim=64, ffn_intermediate=2816, kv_lora_rank=512,
                     q_lora_rank=384, qk_nope_dim=128, rope_dim=64, v_head_dim=128)
    layer = make_layer(kind, dims).to("cuda", torch.bfloat16)
    x = torch.randn(2, 512, 1024, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    y = layer(x)
    y.float().square().mean().backward()
    assert torch.isfinite(x.grad).all()


# ------------------------------------------------------------------ sparse top-k decode (DSA), real shapes

@pytest.mark.parametrize("fmt", ["bf16", "fp8_ds"])
@pytest.mark.parametrize("heads,s_q", [(128, 1), (64, 2), (16, 1)])
def test_sparse_mla_topk2048(heads, s_q, fmt):
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.testing import make_sparse_case, rel_error, run_sparse_case
    from mlacalc.kernels.triton_mla_sparse import mla_decode_sparse

    case = make_sparse_case([4097, 2500, 65, 1], heads=heads, s_q=s_q, topk=2048, fp8_ds=fmt == "fp8_ds",
                            device="cuda", seed=heads)
    bound = 2e-2 if fmt == "fp8_ds" else 1e-2  # bf16 dots (fp8-ds: against the dequantised rows)
    assert rel_error(run_sparse_case(mla_decode_sparse, case, check=True), case.ref) < bound
    out = mla_decode(case.q, case.kv_cache, case.cache_seqlens, case.block_table, indices=case.indices,
                     softmax_scale=case.softmax_scale)  # the public entry point, direct launch on a second call
    out = mla_decode(case.q, case.kv_cache, case.cache_seqlens, case.block_table, indices=case.indices,
                     softmax_scale=case.softmax_scale)
    assert rel_error(out, case.ref) < bound


SPARSE_GLUON_CASES = {  # heads, s_q, topk, indices through a block table (else rows of the pool), rows
    "h128": (128, 1, 2048, True, "bf16"),
    "h64_two_tokens": (64, 2, 2048, True, "bf16"),
    "h64_pool_rows": (64, 1, 2048, False, "bf16"),
    "h128_partial_tile": (128, 1, 100, True, "bf16"),  # 100 slots: a last tile of 4, an odd tile count
    "h96_fp16": (96, 1, 512, True, "fp16"),  # a head block of 32 real rows
    "h128_fp8_ds": (128, 1, 2048, True, "fp8_ds"),
    "h64_fp8_ds_two_tokens": (64, 2, 2048, True, "fp8_ds"),
    "h64_fp8_ds_pool_rows_partial": (64, 1, 100, False, "fp8_ds"),
    # fewer heads than a program's 64 rows: the rest are the next tokens' rows (the last token's: past q's end)
    "h16": (16, 1, 2048, True, "bf16"),
    "h32_pool_rows_partial": (32, 1, 100, False, "bf16"),
    "h16_fp8_ds_two_tokens": (16, 2, 2048, True, "fp8_ds"),
    "h8": (8, 1, 2048, True, "bf16"),  # DeepSeek-V3.2 at tp 16, GLM-5 at tp 8
    "h8_fp8_ds": (8, 1, 512, False, "fp8_ds"),
}


@needs_sm90
@pytest.mark.parametrize("name", sorted(SPARSE_GLUON_CASES))
def test_sparse_gluon(name):
    """The Gluon sparse kernel against the float64 reference with the same indices (unused slots, NaN past the
    lengths in the pool; fp8-ds: over the dequantised rows), with its own split plan, one split and many;
    `mla_decode` picks it for these calls from AUTO_MIN_HEADS heads."""
    from mlacalc.kernels.decode import _gluon_sparse_applies, mla_decode
    from mlacalc.kernels.gluon_mla_sparse import AUTO_MIN_HEADS, mla_decode_sparse_gluon
    from mlacalc.kernels.testing import make_sparse_case, rel_error, run_sparse_case

    heads, s_q, topk, table, rows = SPARSE_GLUON_CASES[name]
    case = make_sparse_case([4097, 2500, 65, 1], heads=heads, s_q=s_q, topk=topk, table=table, device="cuda",
                            dtype=torch.float16 if rows == "fp16" else torch.bfloat16, fp8_ds=rows == "fp8_ds",
                            seed=heads + s_q + topk)
    bound = 2e-2 if rows == "fp8_ds" else 1e-2  # fp8-ds: bf16 dequantised tiles, as the Triton kernel's bound
    for splits in (None, 1, 7):
        out = run_sparse_case(mla_decode_sparse_gluon, case, check=True, num_splits=splits)
        assert rel_error(out, case.ref) < bound, splits
    assert _gluon_sparse_applies(case.q, case.kv_cache, 512) == (heads >= AUTO_MIN_HEADS)
    out = mla_decode(case.q, case.kv_cache, case.cache_seqlens, case.block_table, indices=case.indices,
                     softmax_scale=case.softmax_scale)
    assert rel_error(out, case.ref) < bound


@needs_sm90
@pytest.mark.parametrize("rows", ["bf16", "fp8_ds"])
def test_sparse_gluon_ends_a_split_at_its_last_used_slot(rows):
    """Used slots first, -1 after them (an indexer's top-k of a short sequence): the kernel stops each split at its
    last used slot, so splits wholly past it compute nothing; same result as the float64 reference, with its own
    plan, one split and many. 64 heads, lengths 4097 (every slot used), 2500, 65 and 1."""
    from mlacalc.kernels.gluon_mla_sparse import mla_decode_sparse_gluon
    from mlacalc.kernels.testing import make_sparse_case, rel_error, run_sparse_case

    case = make_sparse_case([4097, 2500, 65, 1], heads=64, topk=2048, fp8_ds=rows == "fp8_ds", device="cuda",
                            seed=11, packed=True)
    bound = 2e-2 if rows == "fp8_ds" else 1e-2
    for splits in (None, 1, 7):
        out = run_sparse_case(mla_decode_sparse_gluon, case, check=True, num_splits=splits)
        assert rel_error(out, case.ref) < bound, splits


@needs_sm90
def test_sparse_gluon_domain():
    """fp8-ds rows with an fp16 query (their RoPE part is bf16) stay on the Triton kernel; forcing the Gluon kernel
    there is one ValueError, not a fault. A q of fewer rows than the 64 of Q's TMA box (2 tokens x 16 heads) runs:
    the box's rows past q's end are zero-filled and not stored."""
    from mlacalc.kernels.decode import _gluon_sparse_applies
    from mlacalc.kernels.gluon_mla_sparse import mla_decode_sparse_gluon
    from mlacalc.kernels.testing import make_sparse_case, rel_error, run_sparse_case

    small = make_sparse_case([300, 200], heads=16, topk=256, device="cuda", seed=5)
    assert rel_error(run_sparse_case(mla_decode_sparse_gluon, small, check=True), small.ref) < 1e-2
    ds16 = make_sparse_case([300, 200], heads=64, topk=256, fp8_ds=True, dtype=torch.float16, device="cuda", seed=6)
    assert not _gluon_sparse_applies(ds16.q, ds16.kv_cache, 512)
    with pytest.raises(ValueError):
        run_sparse_case(mla_decode_sparse_gluon, ds16)


SPARSE_FP8_CONFIGS = {  # issue 14: fp8-ds modes the defaults (test_sparse_mla_topk2048) do not run
    "slices_64": (128, dict(block_h=64, block_n=16, num_warps=8, num_stages=3, fp8_mode="slices")),
    "dual_64": (64, dict(block_h=64, block_n=16, num_warps=8, num_stages=3, fp8_mode="dual")),  # default until round 1
}


@pytest.mark.parametrize("variant", sorted(SPARSE_FP8_CONFIGS))
def test_sparse_fp8_ds_modes(variant):
    from mlacalc.kernels.testing import make_sparse_case, rel_error, run_sparse_case
    from mlacalc.kernels.triton_mla_sparse import SparseMLAConfig, mla_decode_sparse

    heads, cfg = SPARSE_FP8_CONFIGS[variant]
    case = make_sparse_case([4097, 2500, 65, 1], heads=heads, topk=2048, fp8_ds=True, device="cuda", seed=heads)
    out = run_sparse_case(mla_decode_sparse, case, config=SparseMLAConfig(**cfg))
    assert rel_error(out, case.ref) < 2e-2


def test_sparse_out_of_range_index_is_a_value_error_with_check_and_masked_without():
    from mlacalc.kernels.testing import make_sparse_case, run_sparse_case
    from mlacalc.kernels.triton_mla_sparse import mla_decode_sparse

    case = make_sparse_case([300, 200], heads=16, topk=256, device="cuda", seed=3)
    bad = case.indices.clone()
    bad[0, 0, 0] = 10**6  # far past the cache
    case.indices = bad
    with pytest.raises(ValueError, match="^indices:"):
        run_sparse_case(mla_decode_sparse, case, check=True)
    out = run_sparse_case(mla_decode_sparse, case, check=False)  # clamped and masked: no fault, finite
    torch.cuda.synchronize()
    assert torch.isfinite(out).all()


# ------------------------------------------------------------------ out-of-range values, unchecked

BAD_DENSE = [  # (impl, heads, paged, fp8): every kernel family auto picks, and the Triton kernel at 64+ heads
    ("auto", 16, True, False), ("auto", 16, False, False), ("auto", 64, True, False), ("auto", 128, True, False),
    ("auto", 128, False, False), ("auto", 64, True, True), ("auto", 16, True, True), ("triton", 128, True, False),
    ("auto", 32, True, False), ("auto", 32, True, True),   # fp8 at 32 heads: the CUDA kernel's two row groups
]


@pytest.mark.parametrize("impl,heads,paged,fp8", BAD_DENSE)
def test_dense_out_of_range_values_unchecked_neither_fault_nor_differ(impl, heads, paged, fp8):
    """Dense decode on CUDA runs without value checks by default (no host sync). A block-table entry past the pool
    and a negative one, and a length past the capacity, must then give no CUDA fault; the sequences with good values
    keep their output, and the Triton kernel's whole output is that of the same call with the values clamped
    (testing.bad_values; the CUDA fp8 kernel clamps alike; the Gluon kernel's TMA copies read zeros for a block past
    the pool instead of the clamped block). With check=True they are one ValueError."""
    from mlacalc.kernels.decode import _auto_impl, mla_decode
    from mlacalc.kernels.testing import bad_values, run_mla_case, same_output

    case = _mla(lens=[1, 63, 64, 65, 4097], heads=heads, paged=paged, fp8=fp8, seed=11)
    (bt, lens), (clean_bt, clean_lens) = bad_values(case.block_table, case.cache_seqlens, case.kv_cache)
    outs = []
    for table, L in ((bt, lens), (clean_bt, clean_lens)):
        case.block_table, case.cache_seqlens = table, L
        outs.append(run_mla_case(lambda *a, **k: mla_decode(*a, impl=impl, **k), case))  # default: unchecked
        torch.cuda.synchronize()  # a fault surfaces here
    assert same_output(outs[0][1:-1], outs[1][1:-1]) == 0.0  # sequences 1-3: good table entries and lengths
    if impl == "triton" or _auto_impl(case.q, case.kv_cache, bt, 512, case.kv_scale, {}) in ("triton", "cuda"):
        assert same_output(*outs) == 0.0
    case.block_table, case.cache_seqlens = bt, lens
    with pytest.raises(ValueError, match="^(cache_seqlens|block_table):"):
        run_mla_case(lambda *a, **k: mla_decode(*a, impl=impl, **k), case, check=True)


@pytest.mark.parametrize("heads,fp8_ds", [(16, False), (128, False), (128, True)])
def test_sparse_out_of_range_values_are_a_value_error_checked_and_clamped_by_default(heads, fp8_ds):
    """Sparse decode checks values on CUDA only when asked (check=True; off by default, as dense decode: no host
    sync an eager call): an index past the sequence is then one ValueError; by default (and with check=False) bad
    indices, table entries and lengths are masked and clamped, and the output equals that of the clamped values
    (Triton kernel at 16 heads, Gluon at 128)."""
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.testing import bad_indices, bad_values, make_sparse_case, run_sparse_case, same_output

    case = make_sparse_case([300, 4000, 65], heads=heads, topk=2048, fp8_ds=fp8_ds, device="cuda", seed=heads)
    run = lambda *a, **k: mla_decode(a[0], a[1], a[4], a[3], indices=a[2], **k)  # noqa: E731 (sparse argument order)
    bad_idx, clean_idx = bad_indices(case.indices)
    good_idx = case.indices
    case.indices = bad_idx
    with pytest.raises(ValueError, match="^indices:"):
        run_sparse_case(run, case, check=True)
    case.indices = good_idx
    (bt, lens), (clean_bt, clean_lens) = bad_values(case.block_table, case.cache_seqlens, case.kv_cache)
    outs = []
    for table, L, idx in ((bt, lens, bad_idx), (clean_bt, clean_lens, clean_idx)):
        case.block_table, case.cache_seqlens, case.indices = table, L, idx
        outs.append(run_sparse_case(run, case, **({} if idx is bad_idx else dict(check=False))))  # default: unchecked
        torch.cuda.synchronize()
    assert same_output(*outs) == 0.0


CUDA_SPARSE_CASES = {  # heads, s_q, topk, indices through a block table (else pool rows), options
    "h16": (16, 1, 2048, True, {}),
    "h16_pool_rows_partial": (16, 1, 100, False, {}),
    "h8_two_tokens": (8, 2, 2048, True, {}),
    "h64_head_groups": (64, 1, 2048, True, {}),
    "h64_cta16": (64, 1, 512, True, dict(cta_rows=16)),
    "h32": (32, 1, 2048, True, {}),
    "h16_two_tokens_one_split": (16, 2, 512, True, dict(num_splits=1)),
    "h16_splits7": (16, 1, 2048, True, dict(num_splits=7)),
}


@needs_sm90
@pytest.mark.parametrize("name", sorted(CUDA_SPARSE_CASES))
def test_cuda_sparse_fp8_ds(name):
    """The CUDA sparse kernel (kernels/cuda/mla_fp8_sparse.cu, mla_decode(indices=..., impl="cuda")) over fp8-ds rows
    against the float64 reference with the same indices (unused slots, slots past the lengths, NaN past them in the
    pool), as tight as the Triton and Gluon fp8-ds kernels; three calls in a row (the cached plan); then
    out-of-range indices, table entries and lengths unchecked: no fault, the clamped output."""
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.testing import (bad_indices, bad_values, make_sparse_case, rel_error, run_sparse_case,
                                         same_output)

    heads, s_q, topk, table, opts = CUDA_SPARSE_CASES[name]
    case = make_sparse_case([4097, 2500, 65, 1], heads=heads, s_q=s_q, topk=topk, table=table, device="cuda",
                            fp8_ds=True, seed=heads + s_q + topk)
    run = lambda *a, **k: mla_decode(a[0], a[1], a[4], a[3], indices=a[2], impl="cuda", **opts, **k)  # noqa: E731
    for _ in range(3):
        assert rel_error(run_sparse_case(run, case), case.ref) < 2e-2
    if not table:
        return
    bad_idx, clean_idx = bad_indices(case.indices)
    (bt, lens), (clean_bt, clean_lens) = bad_values(case.block_table, case.cache_seqlens, case.kv_cache)
    outs = []
    for tbl, L, idx in ((bt, lens, bad_idx), (clean_bt, clean_lens, clean_idx)):
        case.block_table, case.cache_seqlens, case.indices = tbl, L, idx
        outs.append(run_sparse_case(run, case, check=False))
        torch.cuda.synchronize()
    assert same_output(*outs) == 0.0


# ------------------------------------------------------------------ cached plans and direct launches

@pytest.mark.parametrize("impl,heads,paged", [("triton", 16, True), ("triton", 128, False), ("auto", 128, True),
                                              ("triton", 16, False)])
def test_repeated_calls_and_cuda_graph_replay_match_the_reference(impl, heads, paged):
    """The second and later calls go through the cached plan and the direct launch of the compiled kernel; a CUDA
    graph captured after a warm-up replays them. Every result matches the float64 reference."""
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.testing import rel_error

    case = _mla(lens=LENS, heads=heads, paged=paged)
    kw = dict(softmax_scale=case.softmax_scale, impl=impl, max_seqlen=4097)
    args = (case.kv_cache, case.cache_seqlens, case.block_table)
    for _ in range(3):
        q = case.q.clone()
        assert rel_error(mla_decode(q, *args, **kw), case.ref) < 1e-2
    q = case.q.clone()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        mla_decode(q, *args, **kw)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = mla_decode(q, *args, **kw)
    q.copy_(case.q)
    g.replay()
    torch.cuda.synchronize()
    assert rel_error(out, case.ref) < 1e-2


@needs_sm90
@pytest.mark.parametrize("impl,heads,rows", [("auto", 64, "fp8_ds"), ("auto", 128, "bf16"), ("triton", 16, "bf16")])
def test_sparse_repeated_calls_match_the_reference(impl, heads, rows):
    """Sparse decode called again with the same shapes and fresh queries: the cached plan, the cached auto choice and
    the direct launches of the kernel and the split merge (with new output tensors) give the float64 reference's
    result every time."""
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.testing import make_sparse_case, rel_error

    case = make_sparse_case([4097, 2500, 65, 1], heads=heads, topk=2048, fp8_ds=rows == "fp8_ds", device="cuda",
                            seed=heads + 5)
    bound = 2e-2 if rows == "fp8_ds" else 1e-2
    for _ in range(3):
        out = mla_decode(case.q.clone(), case.kv_cache, case.cache_seqlens, case.block_table, indices=case.indices,
                         softmax_scale=case.softmax_scale, impl=impl)
        assert rel_error(out, case.ref) < bound


def test_gqa_repeated_calls_match_the_reference():
    from mlacalc.kernels.testing import make_gqa_case, rel_error, run_gqa_case
    from mlacalc.kernels.triton_gqa_decode import gqa_decode_triton

    case = make_gqa_case(LENS, heads=32, kv_heads=8, head_dim=128, paged=True, device="cuda")
    for _ in range(3):
        assert rel_error(run_gqa_case(gqa_decode_triton, case), case.ref) < 1e-2


def test_fp8_tensor_scale_needs_no_host_sync():
    from mlacalc.kernels.testing import rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import mla_decode_triton

    case = _mla(lens=LENS, heads=16, paged=True, fp8=True)
    assert torch.is_tensor(case.kv_scale) and case.kv_scale.is_cuda
    for _ in range(2):
        assert rel_error(run_mla_case(mla_decode_triton, case), case.ref) < 2e-2


CUDA_FP8_MODES = ["contiguous", "paged64", "paged16", "paged256", "heads8_fp16", "heads1", "float_scale", "nan_tail",
                  "splits_1", "splits_7", "stages3", "stages4", "graph", "auto_route", "heads32", "heads32_stages3",
                  "mtp2_heads16", "mtp2_heads8", "mtp2_heads16_paged64", "heads64", "heads64_cta16", "heads40",
                  "heads128_paged64", "mtp2_heads32", "auto_heads32", "auto_mtp2_heads16"]


@needs_sm90
@pytest.mark.parametrize("mode", CUDA_FP8_MODES)
def test_cuda_fp8_mla(mode):
    """The CUDA fp8 kernel (kernels/cuda/mla_fp8_decode.cu, impl "cuda") against the float64 reference over the
    dequantised cache, as tight as the Triton fp8 kernel's bound: every cache layout, head counts under its 16 rows,
    both query dtypes and scale forms, a NaN tail past the lengths, fixed split counts, deeper pipelines, a graph
    replayed after the lengths change; and its two row groups (32 heads), two query tokens (causal) and head groups
    (40, 64, 128 heads; 16 or 32 rows a CTA; auto hands it up to 32 rows: the auto_ modes)."""
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case

    kw = dict(lens=LENS, heads=16, paged=mode.startswith("paged"), fp8=True, seed=11)
    extra = {}
    if mode == "paged16":
        kw["block_size"] = 16
    elif mode == "paged256":
        kw["block_size"] = 256
    elif mode == "heads8_fp16":
        kw.update(heads=8, dtype=torch.float16)
    elif mode.split("_")[0] == "heads1":
        kw["heads"] = 1
    elif mode.startswith("splits_"):
        extra["num_splits"] = int(mode.split("_")[1])
    elif mode.startswith("stages"):
        extra["stages"] = int(mode[-1])
    elif mode.startswith("heads32"):      # two row groups (8 warps, one CTA an SM)
        kw["heads"] = 32
        if mode.endswith("stages3"):
            extra["stages"] = 3
    elif mode.startswith(("heads64", "heads40", "heads128")):   # head groups of 32 (or 16) rows side by side
        kw.update(heads=int(mode[5:].split("_")[0]), paged=mode.endswith("paged64"))
        if mode.endswith("cta16"):
            extra["cta_rows"] = 16
    elif mode.startswith("mtp2"):         # two query tokens: token 0 sees one key fewer
        kw.update(s_q=2, heads=int(mode.split("heads")[1].split("_")[0]), lens=[max(n, 2) for n in LENS],
                  paged=mode.endswith("paged64"))
    if mode.startswith("auto_"):          # impl auto at 17-32 rows: the CUDA kernel's two row groups
        kw.update(heads=32) if mode == "auto_heads32" else kw.update(s_q=2, lens=[max(n, 2) for n in LENS], paged=True)
    case = make_mla_case(device="cuda", **kw)
    if mode == "nan_tail":
        for b, n in enumerate(case.cache_seqlens.tolist()):
            case.kv_cache[b, n:] = float("nan")
    if mode == "float_scale":
        case.kv_scale = float(case.kv_scale)

    def call(**more):
        return run_mla_case(lambda *a, **k: mla_decode(*a, impl="cuda", **k), case, **extra, **more)

    if mode == "graph":
        out = torch.empty_like(call())
        call(out=out, poison=False)  # the plan built outside the capture
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            call(out=out, poison=False)
        from mlacalc.kernels.reference import mla_latent_attention_reference

        case.cache_seqlens.copy_(torch.tensor([max(1, n // 2) for n in LENS], dtype=torch.int32))
        ref = mla_latent_attention_reference(case.q.cpu(), case.kv_cache.cpu(), 512, scale=case.softmax_scale,
                                             kv_lengths=case.cache_seqlens.cpu(), kv_scale=case.kv_scale.cpu())
        out.fill_(float("nan"))
        g.replay()
        torch.cuda.synchronize()
        assert rel_error(out, ref) < 2e-2
        return
    if mode in ("auto_heads32", "auto_mtp2_heads16"):
        from mlacalc.kernels.decode import auto_kernel

        assert auto_kernel(case.q, case.kv_cache, case.block_table, kv_scale=case.kv_scale) == "cuda"
        out = run_mla_case(lambda *a, **k: mla_decode(*a, impl="auto", **k), case)
        assert rel_error(out, case.ref) < 2e-2
        return
    if mode == "auto_route":  # the same call through auto (Triton today) agrees with it
        from mlacalc.kernels.triton_mla_decode import mla_decode_triton

        assert rel_error(call(), run_mla_case(mla_decode_triton, case)) < 2e-2
    out = call()
    assert rel_error(out, case.ref) < 2e-2
    assert rel_error(out, case.ref_unquantised) < 6e-2
