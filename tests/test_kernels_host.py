"""CPU tests of the decode wrappers' host side: launch plans cached per shape (a second call with the same shapes
builds no plan, queries no device and syncs nothing), the direct launch of a compiled kernel, one ValueError naming
the argument for each bad input, the fp8-ds byte layout, and the sparse reference against the dense one.

No kernel runs here: the launches are replaced by recorders (the interpreter tests run the kernels)."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from mlacalc.kernels import launch  # noqa: E402
from mlacalc.kernels.cache import fp8_ds_row_bytes, pack_fp8_ds, to_paged, unpack_fp8_ds  # noqa: E402
from mlacalc.kernels.checks import KernelInputError  # noqa: E402
from mlacalc.kernels.reference import mla_latent_attention_reference, mla_sparse_reference  # noqa: E402
from mlacalc.kernels.testing import rel_error  # noqa: E402


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, key, grid, args, **options):
        self.calls.append((key, grid, len(args)))


def _no_device_no_sync(monkeypatch):
    """After this, a device query or a host sync raises."""
    def boom(*a, **k):
        raise AssertionError("device query or host sync in a cached call")

    for name in ("get_device_properties", "get_device_capability", "synchronize"):
        monkeypatch.setattr(torch.cuda, name, boom)
    monkeypatch.setattr(torch.Tensor, "item", boom)
    monkeypatch.setattr(torch.Tensor, "tolist", boom)


def _mla_inputs(B=2, H=16, S=300, r=64, dr=16, paged=False):
    q = torch.randn(B, 1, H, r + dr)
    kv = torch.randn(B, S, r + dr)
    lens = torch.tensor([S, 7][:B], dtype=torch.int32)
    if paged:
        kv, bt = to_paged(kv, 64)
        return q, kv, lens, bt
    return q, kv, lens, None


@pytest.mark.parametrize("paged", [False, True])
def test_mla_plan_is_built_once_per_shape_and_a_cached_call_touches_no_device(monkeypatch, paged):
    from mlacalc.kernels import triton_mla_decode as m

    rec, comb = Recorder(), Recorder()
    monkeypatch.setattr(m, "_LAUNCH_MLA", rec)
    monkeypatch.setattr(m, "combine_splits", lambda *a, **k: comb.calls.append(a))
    plans = launch.plan_cache("mla_decode_triton")
    q, kv, lens, bt = _mla_inputs(paged=paged, S=293)  # a shape no other test uses
    before = plans.misses
    kw = dict(softmax_scale=0.1, kv_lora_rank=64, kv_scale=torch.tensor([0.5]), check=False)
    m.mla_decode_triton(q, kv, lens, bt, **kw)
    assert plans.misses == before + 1  # the first call builds the plan
    _no_device_no_sync(monkeypatch)
    q2 = torch.randn_like(q)  # new tensors of the same shapes hit the same plan
    m.mla_decode_triton(q2, kv, lens, bt, **kw)
    m.mla_decode_triton(q2, kv, lens, bt, **kw)
    assert plans.misses == before + 1
    assert len(rec.calls) == 3 and len({c[:2] for c in rec.calls}) == 1  # same key, same grid
    # a new shape builds a new plan
    m.mla_decode_triton(q[:1], kv[:1] if not paged else kv, lens[:1], None if bt is None else bt[:1], **kw)
    assert plans.misses == before + 2


def test_gqa_and_sparse_plans_are_cached_too(monkeypatch):
    from mlacalc.kernels import triton_gqa_decode as g
    from mlacalc.kernels import triton_mla_sparse as sp

    monkeypatch.setattr(g, "_LAUNCH_GQA", Recorder())
    monkeypatch.setattr(g, "combine_splits", lambda *a, **k: None)
    monkeypatch.setattr(sp, "_LAUNCH_SPARSE", Recorder())
    monkeypatch.setattr(sp, "combine_splits", lambda *a, **k: None)
    q, k, v = torch.randn(2, 1, 8, 32), torch.randn(2, 333, 2, 32), torch.randn(2, 333, 2, 32)
    plans = launch.plan_cache("gqa_decode_triton")
    before = plans.misses
    for _ in range(3):
        g.gqa_decode_triton(q, k, v, check=False)
    assert plans.misses == before + 1

    pool, bt = to_paged(torch.randn(2, 130, 80), 16)
    qs = torch.randn(2, 2, 8, 80)
    idx = torch.randint(-1, 130, (2, 2, 37), dtype=torch.int32)
    plans = launch.plan_cache("mla_decode_sparse")
    before = plans.misses
    sp.mla_decode_sparse(qs, pool, idx, bt, softmax_scale=0.1, kv_lora_rank=64, check=False)
    _no_device_no_sync(monkeypatch)
    sp.mla_decode_sparse(qs, pool, idx, bt, softmax_scale=0.1, kv_lora_rank=64, check=False)
    assert plans.misses == before + 1


@pytest.mark.parametrize("fp8_ds", [False, True])
def test_gluon_sparse_plan_is_cached_and_a_cached_call_touches_no_device(monkeypatch, fp8_ds):
    """The Gluon sparse wrapper's host side, with the kernel launch recorded (its domain check forced, as off an
    sm_90 GPU it says no): one plan per shape, Q's TMA descriptors rebuilt only for a new q and the cache's views
    only for a new cache address, no device query or host sync in a cached call; the launch gets the three views of the cache (fp8-ds: latent, scales, RoPE), one
    program per 64 heads, per split and per query token, and the kernel's constants (FP8_DS)."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.kernels import gluon_mla_sparse as gs

    launches, combines = [], []
    monkeypatch.setattr(gs, "gluon_sparse_supported", lambda *a, **k: True)
    monkeypatch.setattr(gs, "_LAUNCH_SPARSE_SEESAW", lambda key, grid, args, **o: launches.append((grid, args)))
    monkeypatch.setattr(gs, "combine_splits", lambda *a, **k: combines.append(a))
    B, s_q, H, S = 2, 2, 128, 130
    kv = torch.randn(B, S, 576)
    cache = pack_fp8_ds(kv[..., :512], kv[..., 512:]) if fp8_ds else kv.to(torch.bfloat16)
    pool, bt = to_paged(cache, 64)
    q = torch.randn(B, s_q, H, 576, dtype=torch.bfloat16)
    idx = torch.randint(-1, S, (B, s_q, 100 + fp8_ds), dtype=torch.int32)  # a shape no other test uses
    plans = launch.plan_cache("mla_decode_sparse_gluon")
    before = plans.misses
    gs.mla_decode_sparse_gluon(q, pool, idx, bt, softmax_scale=0.1, check=False)
    descs = launches[-1][1][:2]
    _no_device_no_sync(monkeypatch)
    gs.mla_decode_sparse_gluon(q, pool, idx, bt, softmax_scale=0.1, check=False)
    assert plans.misses == before + 1 and launches[-1][1][:2] == descs  # same plan, same descriptor objects
    grid, args = launches[-1]
    splits = grid[1]
    assert grid == (2, splits, B * s_q) and splits >= 1 and len(combines) == 2 * (splits > 1)
    named = dict(zip(gs._mla_sparse_seesaw_kernel.arg_names, args))  # the kernel's arguments by name
    views = [named["KV_LAT"], named["KV_SC"], named["KV_ROPE"]]
    if fp8_ds:  # latent e4m3 at byte 0, fp32 scales at byte 512, bf16 RoPE at byte 528 of each 656-byte row
        assert [v.dtype for v in views] == [torch.float8_e4m3fn, torch.float32, torch.bfloat16]
        assert [v.data_ptr() - pool.data_ptr() for v in views] == [0, 512, 528]
    else:  # the bf16 rows are their own latent view; RoPE from element 512
        assert views[0] is pool and views[2].data_ptr() - pool.data_ptr() == 2 * 512
    assert named["FP8_DS"] is fp8_ds
    assert [named[k] for k in ("D_LAT", "D_ROPE", "BLOCK_H", "BLOCK_N", "NUM_BUF")] == [512, 64, 64, 32, 4]
    gs.mla_decode_sparse_gluon(q, pool, idx, bt, softmax_scale=0.1, check=False)  # the same cache: the same views
    again = dict(zip(gs._mla_sparse_seesaw_kernel.arg_names, launches[-1][1]))
    assert all(again[k] is v for k, v in zip(("KV_LAT", "KV_SC", "KV_ROPE"), views))
    q2 = q.clone()  # a new q: new descriptors, same plan
    gs.mla_decode_sparse_gluon(q2, pool, idx, bt, softmax_scale=0.1, check=False)
    assert plans.misses == before + 1 and launches[-1][1][0] is not descs[0]
    pool2 = pool.clone()  # a new cache of the same layout: same plan, its own views
    gs.mla_decode_sparse_gluon(q2, pool2, idx, bt, softmax_scale=0.1, check=False)
    moved = dict(zip(gs._mla_sparse_seesaw_kernel.arg_names, launches[-1][1]))
    assert plans.misses == before + 1
    assert [moved[k].data_ptr() - pool2.data_ptr() for k in ("KV_LAT", "KV_SC", "KV_ROPE")] == \
        [v.data_ptr() - pool.data_ptr() for v in views]


def test_sm_count_and_capability_are_queried_once_per_device(monkeypatch):
    class Props:
        multi_processor_count = 132

    calls = []

    def props(i):
        calls.append(i)
        if len(calls) > 1:
            raise AssertionError("queried twice")
        return Props()

    monkeypatch.setattr(torch.cuda, "get_device_properties", props)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: calls.append(i) or (9, 0))
    dev = torch.device("cuda", 57)  # a device index no real call uses
    try:
        assert launch.num_sms(dev) == 132 and launch.num_sms(dev) == 132
        assert launch.device_capability(dev) == (9, 0) and launch.device_capability(dev) == (9, 0)
        assert calls == [57, 57]  # one properties query, one capability query
    finally:
        launch._SMS.pop(("cuda", 57), None)
        launch._CAPS.pop(("cuda", 57), None)


def test_fast_launcher_reuses_the_compiled_kernel_and_respecialises_on_alignment(monkeypatch):
    class Compiled:
        function, packed_metadata = "fn", "meta"

        def __init__(self):
            self.direct = []

        def run(self, *a):
            self.direct.append(a)

    compiled = Compiled()
    slow = []

    class Kernel:
        def __getitem__(self, grid):
            def launch_(*args, **options):
                slow.append(args)
                return compiled
            return launch_

    monkeypatch.setattr(launch, "_raw_stream", lambda device: 0)
    monkeypatch.setattr(launch, "_hooks_off", lambda: True)
    fl = launch.FastLauncher(Kernel())
    buf = torch.zeros(64)

    class Desc:  # a TMA descriptor: 16-byte aligned by construction, so not checked per call
        base = buf[1:]

    args = (buf, Desc(), 3, 2.5, True)
    fl("k", (1, 2, 3), args, num_warps=4)
    fl("k", (1, 2, 3), args, num_warps=4)
    assert len(slow) == 1 and len(compiled.direct) == 1
    assert compiled.direct[0][:5] == (1, 2, 3, 0, "fn") and compiled.direct[0][-5:] == args
    fl("k", (1, 2, 3), (buf[1:], Desc(), 3, 2.5, True))  # 4-byte offset: not 16-byte aligned -> Triton's path
    assert len(slow) == 2
    fl(None, (1, 1, 1), args)  # no key: never cached
    fl(None, (1, 1, 1), args)
    assert len(slow) == 4


def _fake_36_kernel(raw, positions, metas, scratch=0):
    """A compiled kernel whose launcher has Triton 3.6's shape: run.launch is wrap_handle_tensordesc's `inner`, a
    closure over the C launcher, the descriptor positions and their metadata."""
    def wrap(launcher, tensordesc_indices, tensordesc_meta):
        def inner(*args):
            return launcher, tensordesc_indices, tensordesc_meta
        return inner

    class Run:
        launch = wrap(raw, set(positions), metas)
        global_scratch_size = profile_scratch_size = scratch
        launch_cooperative_grid, launch_pdl = False, True

    class Compiled:
        function, packed_metadata, run = "fn", "meta", Run()
    return Compiled()


def test_tma_descriptors_are_encoded_once_per_descriptor_under_triton_36s_launcher(monkeypatch):
    """Triton 3.6 encodes every TMA descriptor argument in Python on every launch; _DescLaunch keeps each one's
    encoding (by identity, weakly) and calls the C launcher with what Triton's wrapper would pass it: 13 leading
    arguments (grid, stream, function, cooperative, pdl, two scratch pointers, metadata, three hooks), then the
    kernel's with each descriptor replaced by its encoding."""
    from triton.backends.nvidia import driver as nv

    encoded = []

    def encode(desc, meta):
        encoded.append((desc.name, meta))
        return [f"map:{desc.name}", 64, 1]

    monkeypatch.setattr(nv, "_BASE_ARGS_FORMAT_LEN", 13, raising=False)
    monkeypatch.setattr(nv, "make_tensordesc_arg", encode)
    calls = []

    class Desc:
        def __init__(self, name):
            self.name = name

    d0, d2 = Desc("q"), Desc("kv")
    k = launch._DescLaunch.wrap(_fake_36_kernel(lambda *a: calls.append(a), [0, 2], ["m0", "m2"]))
    assert isinstance(k, launch._DescLaunch)
    for _ in range(3):
        k.run(1, 2, 3, 7, "fn", "meta", None, None, None, d0, 5, d2, 2.5)
    assert encoded == [("q", "m0"), ("kv", "m2")]  # once each, not once a launch
    assert calls[-1] == (1, 2, 3, 7, "fn", False, True, None, None, "meta", None, None, None,
                         "map:q", 64, 1, 5, "map:kv", 64, 1, 2.5) and len(calls) == 3
    d0b = Desc("q2")  # a new descriptor (the plan's q moved): encoded again
    k.run(1, 2, 3, 7, "fn", "meta", None, None, None, d0b, 5, d2, 2.5)
    assert encoded[-1] == ("q2", "m0") and calls[-1][13] == "map:q2"
    # anything else is left to compiled.run: scratch buffers, or a launcher of another shape (Triton 3.9's)
    plain = _fake_36_kernel(None, [0], ["m"], scratch=64)
    assert launch._DescLaunch.wrap(plain) is plain
    other = _fake_36_kernel(None, [0], ["m"])
    other.run.launch = lambda *a: None
    assert launch._DescLaunch.wrap(other) is other
    monkeypatch.setattr(nv, "_BASE_ARGS_FORMAT_LEN", 12, raising=False)
    assert not isinstance(launch._DescLaunch.wrap(_fake_36_kernel(None, [0], ["m"])), launch._DescLaunch)


# ---------------------------------------------------------------------------------------------- bad input


# (arg, call args, kwargs, whether the eager path refuses it too: it takes int64 lengths and tables, strided last
# dims, any latent width)
def _bad_mla_calls():
    q, kv, lens, _ = _mla_inputs()
    qp, pool, lensp, bt = _mla_inputs(paged=True)
    kw = dict(softmax_scale=0.1, kv_lora_rank=64)
    return [
        ("q", (q.to(torch.int32), kv, lens, None), kw, True),
        ("q", (q[0], kv, lens, None), kw, True),
        ("q", (q.transpose(1, 3).contiguous().transpose(1, 3), kv, lens, None), kw, False),  # last dim strided
        ("kv_cache", (q, kv[..., :70], lens, None), kw, True),
        ("kv_cache", (q, kv.to(torch.int8), lens, None), kw, True),
        ("kv_cache", (q, kv.transpose(0, 2).contiguous().transpose(0, 2), lens, None), kw, False),
        ("kv_cache", (q, kv[:1], lens, None), kw, True),
        ("kv_scale", (q, kv.to(torch.float8_e4m3fn), lens, None), kw, True),
        ("kv_scale", (q, kv.to(torch.float8_e4m3fn), lens, None), dict(kw, kv_scale=0.0), True),  # amax / 448
        ("kv_scale", (q, kv.to(torch.float8_e4m3fn), lens, None), dict(kw, kv_scale=-0.5), True),
        ("cache_seqlens", (q, kv, lens.long(), None), kw, False),
        ("cache_seqlens", (q, kv, lens.float(), None), kw, True),
        ("cache_seqlens", (q, kv, lens[:1], None), kw, True),
        ("block_table", (qp, pool, lensp, bt.long()), kw, False),
        ("block_table", (qp, pool, lensp, bt[:1]), kw, True),
        ("kv_lora_rank", (q, kv, lens, None), dict(kw, kv_lora_rank=60), False),
        ("kv_lora_rank", (q, kv, lens, None), dict(kw, kv_lora_rank=q.shape[-1] + 1), True),
        ("out", (q, kv, lens, None), dict(kw, out=torch.empty(2, 1, 16, 32)), True),
        ("max_seqlen", (q, kv, lens, None), dict(kw, max_seqlen=0), True),
        # value checks (check on: the default for CPU tensors)
        ("cache_seqlens", (q, kv, torch.tensor([301, 5], dtype=torch.int32), None), kw, True),
        ("cache_seqlens", (q, kv, torch.tensor([-1, 5], dtype=torch.int32), None), kw, True),
        ("cache_seqlens", (q, kv, lens, None), dict(kw, max_seqlen=100), True),  # 300 keys: the last 200 dropped
        ("block_table", (qp, pool, lensp, bt + 1000), kw, True),
    ]


@pytest.mark.parametrize("case", range(len(_bad_mla_calls())))
def test_bad_mla_input_raises_one_value_error_naming_the_argument(case):
    from mlacalc.kernels.decode import mla_decode

    arg, args, kw, _ = _bad_mla_calls()[case]
    with pytest.raises(ValueError, match=f"^{arg}:") as exc:
        mla_decode(*args, impl="triton", **kw)
    assert isinstance(exc.value, KernelInputError) and exc.value.arg == arg


def _bad_eager_calls():
    return [c[:3] for c in _bad_mla_calls() if c[3]]


@pytest.mark.parametrize("case", range(len(_bad_eager_calls())))
def test_bad_input_to_the_eager_path_is_one_value_error_naming_the_argument(case):
    """impl="eager" used to take any shape and fail inside PyTorch ("not enough values to unpack") or return NaN for
    a negative length; it now runs the kernels' checks (values too, on CPU by default)."""
    from mlacalc.kernels.decode import mla_decode

    arg, args, kw = _bad_eager_calls()[case]
    with pytest.raises(ValueError, match=f"^{arg}:") as exc:
        mla_decode(*args, impl="eager", **kw)
    assert isinstance(exc.value, KernelInputError) and exc.value.arg == arg


def test_unused_table_entries_may_hold_anything_on_the_pytorch_paths():
    """An entry past a sequence's length is padding (any value, as a serving engine leaves it): the eager MLA and SDPA
    GQA paths gathered the whole table row with PyTorch indexing, an IndexError on CPU (a device-side assert on
    CUDA) for an entry past the pool; cache.from_paged now clamps, as the kernels do."""
    from mlacalc.kernels.decode import gqa_decode, mla_decode

    q, pool, lens, bt = _mla_inputs(paged=True)         # lengths 300 and 7 over 64-token blocks
    padded = bt.clone()
    padded[1, 1:] = torch.tensor([10**6, -5, 2**31 - 1, 7][:bt.shape[1] - 1], dtype=torch.int32)
    kw = dict(softmax_scale=0.1, kv_lora_rank=64, impl="eager")
    assert torch.equal(mla_decode(q, pool, lens, padded, **kw), mla_decode(q, pool, lens, bt, **kw))
    k = torch.randn(pool.shape[0], 64, 2, 32)
    qg = torch.randn(2, 1, 8, 32)
    assert torch.equal(gqa_decode(qg, k, k, lens, padded, impl="sdpa"), gqa_decode(qg, k, k, lens, bt, impl="sdpa"))


def test_the_pytorch_paths_write_into_out_as_the_kernels_do():
    """`out` is part of the wrappers' common signature (testing.run_mla_case passes a poisoned one): the eager MLA
    path took no `out` (a TypeError through mla_decode), the SDPA GQA path neither."""
    from mlacalc.kernels.decode import gqa_decode, mla_decode

    q, kv, lens, _ = _mla_inputs()
    kw = dict(softmax_scale=0.1, kv_lora_rank=64, impl="eager")
    buf = torch.full((*q.shape[:3], 64), float("nan"))
    assert mla_decode(q, kv, lens, out=buf, **kw) is buf and torch.equal(buf, mla_decode(q, kv, lens, **kw))
    qg, k = torch.randn(2, 1, 8, 32), torch.randn(2, 40, 2, 32)
    lg, gbuf = torch.tensor([40, 3], dtype=torch.int32), torch.full((2, 1, 8, 32), float("nan"))
    assert gqa_decode(qg, k, k, lg, impl="sdpa", out=gbuf) is gbuf
    assert torch.equal(gbuf, gqa_decode(qg, k, k, lg, impl="sdpa"))


def test_a_max_seqlen_past_the_cache_is_the_cache_on_the_pytorch_paths():
    """max_seqlen bounds the lengths; one past the capacity is the capacity, as the kernels take it (the eager and
    SDPA paths sliced the cache there but built their masks that wide: a size-mismatch RuntimeError)."""
    from mlacalc.kernels.decode import gqa_decode, mla_decode

    q, kv, lens, _ = _mla_inputs()
    kw = dict(softmax_scale=0.1, kv_lora_rank=64, impl="eager")
    assert torch.equal(mla_decode(q, kv, lens, max_seqlen=10**6, **kw), mla_decode(q, kv, lens, **kw))
    qg, k = torch.randn(2, 1, 8, 32), torch.randn(2, 40, 2, 32)
    lg = torch.tensor([40, 3], dtype=torch.int32)
    assert torch.equal(gqa_decode(qg, k, k, lg, impl="sdpa", max_seqlen=10**6), gqa_decode(qg, k, k, lg, impl="sdpa"))


def test_the_eager_path_takes_int64_lengths_and_any_latent_width():
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.reference import mla_latent_attention_reference

    q, kv, lens, _ = _mla_inputs()
    for r in (64, 60):  # 60: no power of two (the kernels refuse it)
        out = mla_decode(q, kv, lens.long(), softmax_scale=0.1, kv_lora_rank=r, impl="eager")
        ref = mla_latent_attention_reference(q, kv, r, scale=0.1, kv_lengths=lens)
        assert out.shape == (*q.shape[:3], r) and torch.allclose(out.double(), ref, atol=1e-4, rtol=1e-4)


def _bad_sparse_calls():
    pool, bt = to_paged(torch.randn(2, 130, 80), 16)
    q = torch.randn(2, 2, 8, 80)
    idx = torch.randint(-1, 130, (2, 2, 37), dtype=torch.int32)
    lens = torch.tensor([130, 50], dtype=torch.int32)
    packed = pack_fp8_ds(torch.randn(9, 16, 128), torch.randn(9, 16, 16))
    q8 = torch.randn(2, 1, 4, 144)
    idx8 = torch.zeros(2, 1, 5, dtype=torch.int32)
    return [
        ("indices", (q, pool, idx.long(), bt, lens)),
        ("indices", (q, pool, idx[:, :1], bt, lens)),
        ("indices", (q, pool, torch.full_like(idx, 130), bt, lens)),  # past the capacity
        ("indices", (q, pool, torch.full_like(idx, 60), bt, lens)),  # past sequence 1's length (50)
        ("indices", (q, pool, torch.full_like(idx, -2), bt, lens)),
        ("block_table", (q, pool, idx.clamp(max=49), bt + 100, lens)),
        ("kv_cache", (q, pool[..., :64], idx, bt, lens)),
        ("kv_cache", (q8, packed[..., :-4], idx8, bt, None)),  # a truncated fp8-ds row
        ("q", (q.half().to(torch.int16), pool, idx, bt, lens)),
        # a contiguous [B, S, D] cache, per-sequence positions and lengths, no table: the indices would be rows of
        # the flattened pool, every sequence reading sequence 0's (the profiler's DSA points did, silently)
        ("cache_seqlens", (q, torch.randn(2, 130, 80), idx.clamp(min=0, max=49), None, lens)),
    ]


@pytest.mark.parametrize("case", range(len(_bad_sparse_calls())))
def test_bad_sparse_input_raises_one_value_error_naming_the_argument(case):
    from mlacalc.kernels.decode import mla_decode

    arg, (q, kv, idx, bt, lens) = _bad_sparse_calls()[case]
    r = 128 if kv.dtype == torch.uint8 else 64
    with pytest.raises(ValueError, match=f"^{arg}:"):
        mla_decode(q, kv, lens, bt, indices=idx, softmax_scale=0.1, kv_lora_rank=r)


def test_the_gluon_wrapper_names_a_misplaced_or_missing_kv_scale():
    """A scale with a 16-bit cache, an fp8 cache without one, and a call outside the kernel's domain (CPU tensors):
    each one KernelInputError before any device work."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.kernels.gluon_mla_decode import mla_decode_gluon

    q, kv = torch.randn(1, 1, 64, 576, dtype=torch.bfloat16), torch.randn(1, 64, 576, dtype=torch.bfloat16)
    for cache, scale, arg in ((kv, 0.5, "kv_scale"), (kv.to(torch.float8_e4m3fn), None, "kv_scale"),
                              (kv.to(torch.float8_e4m3fn), 0.5, "q")):
        with pytest.raises(KernelInputError, match=f"^{arg}:"):
            mla_decode_gluon(q, cache, softmax_scale=0.1, kv_scale=scale)


def test_sparse_impl_choice_and_the_gluon_sparse_wrapper_outside_its_domain():
    """mla_decode(indices=...) takes impl "auto", "triton" or "gluon" (else one KernelInputError naming impl); the
    Gluon sparse kernel called on CPU tensors (64 or 16 heads) is one KernelInputError naming q before any device
    work; impl="auto" on a CPU keeps the Triton kernel (checked against the float64 reference in
    test_kernels_triton_interp)."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.kernels.decode import _gluon_sparse_applies, mla_decode
    from mlacalc.kernels.gluon_mla_sparse import gluon_sparse_supported, mla_decode_sparse_gluon

    q, pool = torch.randn(1, 1, 64, 576, dtype=torch.bfloat16), torch.randn(4, 16, 576, dtype=torch.bfloat16)
    idx = torch.zeros(1, 1, 8, dtype=torch.int32)
    with pytest.raises(KernelInputError, match="^impl:"):
        mla_decode(q, pool, None, None, indices=idx, softmax_scale=0.1, impl="eager")
    for heads in (64, 16):
        with pytest.raises(KernelInputError, match="^q:"):
            mla_decode_sparse_gluon(q[:, :, :heads], pool, idx, softmax_scale=0.1)
        with pytest.raises(KernelInputError, match="^q:"):
            mla_decode(q[:, :, :heads], pool, None, None, indices=idx, softmax_scale=0.1, impl="gluon")
    assert not gluon_sparse_supported(q, pool) and not _gluon_sparse_applies(q, pool, 512)


def test_gluon_sparse_domain_check_answers_no_for_odd_ranks_instead_of_failing(monkeypatch):
    """impl="auto" asks gluon_sparse_supported before the input checks run, so on an sm_90 GPU an fp8-ds cache with a
    latent that is not whole 128-value groups must get "no" (the Triton path then names kv_lora_rank in one line),
    not the row-size helper's AssertionError. Tensors stand in by their attributes; the capability is faked."""
    from types import SimpleNamespace

    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.kernels import gluon_mla_sparse as gs

    monkeypatch.setattr(gs, "device_capability", lambda device: (9, 0))

    def fake(t):
        return SimpleNamespace(is_cuda=True, device=None, dim=t.dim, shape=t.shape, dtype=t.dtype,
                               element_size=t.element_size, is_contiguous=t.is_contiguous, stride=t.stride,
                               data_ptr=lambda: 0)

    q = fake(torch.randn(1, 1, 64, 576, dtype=torch.bfloat16))
    ds = fake(torch.zeros(4, 64, 656, dtype=torch.uint8))
    assert gs.gluon_sparse_supported(q, ds)  # the kernel's own shape: yes
    assert not gs.gluon_sparse_supported(q, ds, kv_lora_rank=100)  # fp8_ds_row_bytes(100, ...) would assert
    assert gs.gluon_sparse_supported(fake(torch.randn(1, 1, 16, 576, dtype=torch.bfloat16)), ds)  # any head count


def test_unknown_fp8_mode_is_one_value_error_naming_config():
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.triton_mla_decode import MLADecodeConfig
    from mlacalc.kernels.triton_mla_sparse import SparseMLAConfig

    q, kv = torch.randn(2, 1, 8, 80), torch.randn(2, 40, 80).to(torch.float8_e4m3fn)
    with pytest.raises(ValueError, match="^config: fp8_mode 'fast'"):
        mla_decode(q, kv, softmax_scale=0.1, kv_lora_rank=64, kv_scale=0.02, impl="triton",
                   config=MLADecodeConfig(fp8_mode="fast"))
    packed = pack_fp8_ds(torch.randn(4, 16, 128), torch.randn(4, 16, 16))
    idx = torch.zeros(1, 1, 5, dtype=torch.int32)
    with pytest.raises(ValueError, match="^config: fp8_mode 'fast'"):
        mla_decode(torch.randn(1, 1, 4, 144), packed, None, None, indices=idx, softmax_scale=0.1, kv_lora_rank=128,
                   config=SparseMLAConfig(fp8_mode="fast"))


def test_bad_gqa_input_raises_one_value_error_naming_the_argument():
    from mlacalc.kernels.decode import gqa_decode

    q, k = torch.randn(2, 1, 8, 32), torch.randn(2, 40, 2, 32)
    # a q of head dim 24 over caches of 32: the caches' shape is named (any head dim runs now: padded_head_dim)
    for arg, args in (("k_cache", (q[..., :24], k, k)), ("k_cache", (q, k[..., :16], k)),
                      ("v_cache", (q, k, k[:, :20])), ("k_cache", (torch.randn(2, 1, 7, 32), k, k)),
                      ("q", (q.long(), k, k))):
        with pytest.raises(ValueError, match=f"^{arg}:"):
            gqa_decode(*args, impl="triton")
    with pytest.raises(ValueError, match="^impl:"):
        gqa_decode(q, k, k, impl="nope")


@pytest.mark.parametrize("scale", [float("nan"), 0.0, -0.1, float("inf"), "0.1", None, True])
def test_a_bad_softmax_scale_is_one_value_error(scale):
    """A NaN, zero, negative or infinite scale gave NaN or uniform attention without a word, on every impl."""
    from mlacalc.kernels.decode import gqa_decode, mla_decode

    q, kv, lens, _ = _mla_inputs()
    for impl in ("eager", "triton"):
        with pytest.raises(ValueError, match="^softmax_scale:"):
            mla_decode(q, kv, lens, softmax_scale=scale, kv_lora_rank=64, impl=impl)
    if scale is not None:  # GQA's None is the default 1/sqrt(head dim)
        with pytest.raises(ValueError, match="^softmax_scale:"):
            gqa_decode(torch.randn(2, 1, 8, 32), torch.randn(2, 40, 2, 32), torch.randn(2, 40, 2, 32),
                       softmax_scale=scale, impl="sdpa")


def test_bad_input_to_the_prefill_wrappers_is_one_value_error_naming_the_argument():
    """The SDPA prefill wrappers ran no checks (SDPA's own RuntimeErrors, or a causal mask silently aligned to the
    top left when k was longer than q)."""
    from mlacalc.kernels.prefill import gqa_prefill_sdpa, mla_prefill_sdpa

    q, k, v = torch.randn(1, 8, 4, 24), torch.randn(1, 8, 4, 24), torch.randn(1, 8, 4, 16)
    assert mla_prefill_sdpa(q, k, v).shape == (1, 8, 4, 16)
    assert gqa_prefill_sdpa(q, k[:, :, :2], k[:, :, :2]).shape == (1, 8, 4, 24)
    longer = torch.randn(1, 12, 2, 24)
    assert gqa_prefill_sdpa(q, longer, longer, causal=False).shape == (1, 8, 4, 24)  # no mask: any key length
    for arg, call in (("q", lambda: mla_prefill_sdpa(q[0], k, v)), ("k", lambda: mla_prefill_sdpa(q, k[..., :16], v)),
                      ("k", lambda: mla_prefill_sdpa(q, k[:, :, :2], v[:, :, :2])),
                      ("v", lambda: mla_prefill_sdpa(q, k, v[:, :, :2])),
                      ("k", lambda: gqa_prefill_sdpa(torch.randn(1, 8, 5, 24), k[:, :, :2], k[:, :, :2])),
                      ("k", lambda: gqa_prefill_sdpa(q, longer, longer)),
                      ("q", lambda: gqa_prefill_sdpa(q.int(), k, k)),
                      ("k", lambda: gqa_prefill_sdpa(q, k.half(), k.half())),  # SDPA takes one dtype
                      ("softmax_scale", lambda: gqa_prefill_sdpa(q, k, k, softmax_scale=float("nan")))):
        with pytest.raises(ValueError, match=f"^{arg}:"):
            call()


def test_bad_input_to_the_sdpa_gqa_path_is_one_value_error_naming_the_argument():
    """impl="sdpa" used to fail inside PyTorch (an unpack error, SDPA's head-count RuntimeError, an IndexError for a
    table entry past the pool); it now runs the kernels' checks, loosened to what SDPA runs (any head dim, int64
    lengths), values included on CPU."""
    from mlacalc.kernels.decode import gqa_decode

    q, k = torch.randn(2, 1, 8, 32), torch.randn(2, 40, 2, 32)
    lens = torch.tensor([40, 3], dtype=torch.int32)
    pool, table = torch.randn(20, 4, 2, 32), torch.tensor([[0, 1], [2, 77]], dtype=torch.int32)
    bad = (("q", (q[0], k, k, lens)), ("k_cache", (q, k[..., :16], k, lens)), ("v_cache", (q, k, k[:, :20], lens)),
           ("k_cache", (torch.randn(2, 1, 7, 32), k, k, lens)), ("q", (q.long(), k, k, lens)),
           ("cache_seqlens", (q, k, k, lens[:1])), ("cache_seqlens", (q, k, k, torch.tensor([41, 3]))),
           ("cache_seqlens", (q, k, k, torch.tensor([-1, 3]))), ("block_table", (q, pool, pool, lens * 0 + 6, table)))
    with pytest.raises(ValueError, match=r"^cache_seqlens: .*\(max_seqlen\)"):  # keys past it would be dropped
        gqa_decode(q, k, k, lens, impl="sdpa", max_seqlen=20)
    for arg, args in bad:
        with pytest.raises(ValueError, match=f"^{arg}:"):
            gqa_decode(*args, impl="sdpa")
    assert gqa_decode(q[..., :24], k[..., :24], k[..., :24], lens.long(), impl="sdpa").shape == (2, 1, 8, 24)
    mixed = gqa_decode(q.bfloat16(), k, k, lens, impl="sdpa")  # the cache converted to q's dtype (was SDPA's error)
    assert mixed.dtype == torch.bfloat16 and torch.allclose(mixed.float(), gqa_decode(q, k, k, lens, impl="sdpa"),
                                                              atol=0.05)


# ---------------------------------------------------------------------------------------------- fp8-ds layout


def test_fp8_ds_row_is_656_bytes_laid_out_as_flashmla_documents():
    # FlashMLA (flash_mla_interface.py): 512 e4m3 bytes, 4 float32 scales (16 bytes), 64 bf16 RoPE values (128 bytes)
    assert fp8_ds_row_bytes(512, 64) == 512 + 4 * 4 + 64 * 2 == 656
    lat, rope = torch.randn(2, 3, 512) * 5, torch.randn(2, 3, 64)
    rows = pack_fp8_ds(lat, rope)
    assert rows.shape == (2, 3, 656) and rows.dtype == torch.uint8
    scales = rows[..., 512:528].contiguous().view(torch.float32)  # [2, 3, 4]
    amax = lat.reshape(2, 3, 4, 128).abs().amax(-1)
    assert torch.allclose(scales, amax / 448.0)  # e4m3's largest finite value maps to each group's amax
    assert torch.equal(rows[..., 528:].contiguous().view(torch.bfloat16), rope.to(torch.bfloat16))  # RoPE exact
    back = rows[..., :512].contiguous().view(torch.float8_e4m3fn).float().reshape(2, 3, 4, 128) * scales[..., None]
    assert torch.equal(unpack_fp8_ds(rows)[..., :512], back.reshape(2, 3, 512))
    # e4m3 keeps 3 mantissa bits: relative error per value <= 2^-4 (plus subnormals near zero)
    err = (unpack_fp8_ds(rows)[..., :512] - lat).abs()
    assert (err <= lat.abs() / 16 + amax.repeat_interleave(128, -1) / 448 * 2**-9).all()


def test_fp8_ds_zero_group_has_unit_scale_and_decodes_to_zero():
    lat = torch.zeros(1, 512)
    lat[0, 200] = 3.0
    rows = pack_fp8_ds(lat, torch.zeros(1, 64))
    scales = rows[..., 512:528].contiguous().view(torch.float32)[0]
    assert torch.equal(scales, torch.tensor([1.0, 3.0 / 448.0, 1.0, 1.0], dtype=torch.float32))
    back = unpack_fp8_ds(rows)[0, :512]
    assert torch.count_nonzero(back) == 1 and back[200].item() == pytest.approx(3.0, rel=1e-6)


# ---------------------------------------------------------------------------------------------- sparse reference


def test_sparse_reference_selecting_every_visible_token_equals_dense_decode():
    """With indices = all of 0..len-1 (in any order, padded with -1), top-k attention is dense attention."""
    B, H, r, dr, S = 2, 4, 32, 16, 40
    q, kv = torch.randn(B, 1, H, r + dr), torch.randn(B, S, r + dr)
    lens = torch.tensor([40, 9], dtype=torch.int32)
    dense = mla_latent_attention_reference(q, kv, r, scale=0.2, kv_lengths=lens)
    pool, bt = to_paged(kv, 16)
    idx = torch.full((B, 1, 48), -1, dtype=torch.int32)
    for b, n in enumerate(lens.tolist()):
        idx[b, 0, torch.randperm(48)[:n]] = torch.randperm(n).to(torch.int32)
    sparse = mla_sparse_reference(q, pool, idx, r, scale=0.2, block_table=bt, cache_seqlens=lens)
    assert rel_error(sparse, dense) < 1e-12


def test_sparse_reference_with_no_used_index_gives_zeros():
    pool, bt = to_paged(torch.randn(1, 10, 24), 8)
    out = mla_sparse_reference(torch.randn(1, 1, 2, 24), pool, torch.full((1, 1, 5), -1, dtype=torch.int32), 16,
                               scale=1.0, block_table=bt)
    assert torch.equal(out, torch.zeros_like(out))


def test_an_empty_hook_chain_is_no_hook():
    """Triton 3.5+ always holds a HookChain in knobs.runtime.launch_*_hook: empty means no hook, so the direct
    launch path is taken (testing for None alone never took it on the H200: 90 us of host time per call)."""
    from triton import knobs

    hook = knobs.runtime.launch_enter_hook
    if not hasattr(hook, "calls"):
        pytest.skip("this Triton has no HookChain")
    assert launch._hooks_off()

    def probe(*args):
        pass

    hook.add(probe)
    try:
        assert not launch._hooks_off()
    finally:
        hook.remove(probe)
    assert launch._hooks_off()


def test_value_checks_default_off_on_cuda_on_cpu_and_never_during_capture(monkeypatch):
    """Dense and sparse decode on CUDA skip them by default (no host sync an eager call), on CPU they run; `check`
    and the env var override both; a capture overrides everything."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.delenv(launch.CHECKS_ENV, raising=False)
    monkeypatch.setattr(launch, "capturing", lambda device: False)
    assert launch.checks_enabled(None, cpu) and not launch.checks_enabled(None, cuda)
    assert launch.checks_enabled(True, cuda) and not launch.checks_enabled(False, cpu)
    monkeypatch.setenv(launch.CHECKS_ENV, "1")
    assert launch.checks_enabled(None, cuda)
    monkeypatch.setenv(launch.CHECKS_ENV, "0")
    assert not launch.checks_enabled(None, cpu) and not launch.checks_enabled(None, cuda)
    queried = []
    monkeypatch.setattr(launch, "capturing", lambda device: queried.append(device) or True)
    assert not launch.checks_enabled(True, cuda)        # a capture wins over an explicit request (no host syncs)
    assert not launch.checks_enabled(None, cpu) and len(queried) == 1  # off anyway: no capture query


@pytest.mark.parametrize("impl", ["auto", "triton"])
def test_cpu_tensors_outside_the_interpreter_are_one_value_error(impl, monkeypatch):
    """A real kernel handed CPU tensors (no TRITON_INTERPRET) used to fail inside Triton's driver ("0 active drivers"
    on a machine without a GPU); the wrappers name the device instead. The eager path still runs on CPU."""
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.triton_gqa_decode import gqa_decode_triton

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    q = torch.randn(2, 1, 16, 576, dtype=torch.bfloat16)
    kv = torch.randn(2, 128, 576, dtype=torch.bfloat16)
    lens = torch.tensor([128, 100], dtype=torch.int32)
    with pytest.raises(KernelInputError, match="^device: tensors on cpu: .*CUDA GPU"):
        mla_decode(q, kv, lens, softmax_scale=0.1, impl=impl)
    with pytest.raises(KernelInputError, match="^device: tensors on cpu"):
        mla_decode(q, kv.view(4, 64, 576), lens, block_table=torch.arange(4, dtype=torch.int32).view(2, 2),
                   softmax_scale=0.1, indices=torch.zeros(2, 1, 8, dtype=torch.int32), impl=impl)
    k = torch.randn(2, 128, 2, 64)
    with pytest.raises(KernelInputError, match="^device: tensors on cpu"):
        gqa_decode_triton(torch.randn(2, 1, 8, 64), k, k.clone(), lens)
    assert mla_decode(q, kv, lens, softmax_scale=0.1, impl="eager").shape == (2, 1, 16, 512)


def test_a_gqa_head_dim_too_wide_for_shared_memory_is_one_error():
    """Head dim 1,024 in bf16: even 16 rows and 2 stages need 64 x 1,024 x 2 x 2 + 16 x 1,024 x 2 + 16 x 128 =
    296,960 bytes of shared memory a program, over Hopper's 232,448 a block (the limits off the GPU): one
    KernelInputError naming k_cache before any launch, not Triton's out-of-resources error at it."""
    from mlacalc.kernels.triton_gqa_decode import gqa_decode_triton, gqa_smem_bytes

    assert gqa_smem_bytes(1024, 16, 2) == 296_960
    q = torch.zeros(1, 1, 4, 1024, dtype=torch.bfloat16)
    k = torch.zeros(1, 8, 1, 1024, dtype=torch.bfloat16)
    with pytest.raises(KernelInputError, match="^k_cache: head dim 1024 needs 296,960 bytes"):
        gqa_decode_triton(q, k, k.clone())


# ------------------------------------------------------------------------------------ the balanced schedule


@pytest.mark.parametrize("paged", [False, True])
def test_scheduled_plan_is_cached_and_a_schedule_is_filled_once_then_reused(monkeypatch, paged):
    """mla_decode_triton(..., schedule=): one plan per shape (apart from the unscheduled one), one launch of the
    schedule program per schedule object (the first call that uses it), none by later calls with it, and a cached
    call queries no device and syncs nothing. The grid: (head programs, G, 1), G = SMs x programs an SM / head
    programs; the partial buffers hold G + min(B, G) slots."""
    from mlacalc.kernels import triton_mla_decode as m
    from mlacalc.kernels import triton_schedule as ts

    rec, comb, fills = Recorder(), [], Recorder()
    monkeypatch.setattr(m, "_LAUNCH_MLA", rec)
    monkeypatch.setattr(m, "combine_slots", lambda *a, **k: comb.append((a, k)))
    monkeypatch.setattr(m, "combine_splits", lambda *a, **k: pytest.fail("the fixed grid's combine"))
    monkeypatch.setattr(ts, "_LAUNCH_SCHEDULE", fills)
    monkeypatch.setitem(launch._SMS, ("cpu", None), 6)
    plans = launch.plan_cache("mla_decode_triton")
    q, kv, lens, bt = _mla_inputs(paged=paged, S=419)  # a shape no other test uses (paged: 7 blocks a sequence)
    # 16 heads x 1 token: one 16-row program; the default 16-row tile here (d_k 80, not DeepSeek's 576) has
    # programs_per_sm None -> 1: G = 6 x 1 / 1 = 6 parts; slots 6 + min(2, 6) = 8
    kw = dict(softmax_scale=0.1, kv_lora_rank=64, check=False)
    before = plans.misses
    s1 = ts.mla_decode_schedule()
    assert not s1.filled
    m.mla_decode_triton(q, kv, lens, bt, schedule=s1, **kw)
    assert plans.misses == before + 1 and len(fills.calls) == 1 and s1.filled
    assert rec.calls[-1][1] == (1, 6, 1) and tuple(s1.parts.shape) == (5, 6) and tuple(s1.seqs.shape) == (2, 2)
    o_part = comb[-1][0][0]
    assert tuple(o_part.shape) == (8, 16, 64) and comb[-1][1]["max_partials"] == 6
    _no_device_no_sync(monkeypatch)
    for _ in range(2):  # later layers of the same step: the same schedule, no new fill, the same buffers
        m.mla_decode_triton(torch.randn_like(q), kv, lens, bt, schedule=s1, **kw)
    assert plans.misses == before + 1 and len(fills.calls) == 1 and comb[-1][0][0] is o_part
    m.mla_decode_triton(q, kv, lens, bt, schedule=ts.mla_decode_schedule(), **kw)  # the next step: a new one
    assert plans.misses == before + 1 and len(fills.calls) == 2
    m.mla_decode_triton(q, kv, lens, bt, **kw)  # no schedule: the fixed grid's own plan
    assert plans.misses == before + 2 and rec.calls[-1][1][2] == 2


def _bad_schedule_calls():
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    q, kv, lens, _ = _mla_inputs()
    qp, pool, lensp, bt = _mla_inputs(paged=True)
    kw = dict(softmax_scale=0.1, kv_lora_rank=64)
    idx = torch.zeros(2, 1, 8, dtype=torch.int32)
    return [
        ("schedule", dict(impl="triton"), (q, kv, lens, None), dict(kw, schedule={"parts": None})),
        ("num_splits", dict(impl="triton"), (q, kv, lens, None), dict(kw, schedule=mla_decode_schedule(),
                                                                      num_splits=3)),
        ("schedule", dict(impl="eager"), (q, kv, lens, None), dict(kw, schedule=mla_decode_schedule())),
        ("schedule", dict(impl="gluon"), (q, kv.to(torch.float8_e4m3fn), lens, None),
         dict(kw, schedule=mla_decode_schedule())),
        ("schedule", dict(impl="triton", indices=idx), (qp, pool, lensp, bt), dict(kw, schedule=mla_decode_schedule())),
    ]


@pytest.mark.parametrize("case", range(len(_bad_schedule_calls())))
def test_a_schedule_where_it_does_not_apply_is_one_value_error(case):
    from mlacalc.kernels.decode import mla_decode

    arg, how, args, kw = _bad_schedule_calls()[case]
    with pytest.raises(ValueError, match=f"^{arg}:") as exc:
        mla_decode(*args, **how, **kw)
    assert isinstance(exc.value, KernelInputError) and exc.value.arg == arg


@pytest.mark.parametrize("block_n", [32, 64])
def test_gluon_scheduled_plan_launches_parts_and_merges_slots(monkeypatch, block_n):
    """mla_decode_gluon(..., schedule=) (16-bit caches): one plan apart from the fixed grid's; the schedule is filled
    once, on the device, in units of split_keys (two 64-key tiles, or one 32-key tile) with the segment overhead of a
    64-row program; the grid is (head blocks, G, 1), G = SMs / head blocks; partials go to G + min(B, G) slots that
    combine_slots merges (never combine_splits); a cached call queries no device and syncs nothing. 128 heads on 6
    SMs: 2 head blocks, G = 3, slots 3 + min(2, 3) = 5. The overhead: a 64-row segment moves 64 x 576 x 2 bytes of
    query and 2 x 64 x 513 x 4 of partial, 73,728 + 262,656 = 336,384 bytes, over a unit of 64 keys (73,728 bytes):
    4.56 -> 5 (FlashMLA's constant); here over a unit of 128 keys (147,456 bytes): 2.28 -> 3, or of 32 keys (36,864):
    9.13 -> 10."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.kernels import gluon_mla_decode as gm
    from mlacalc.kernels import triton_schedule as ts

    launches, comb, fills = [], [], Recorder()
    monkeypatch.setattr(gm, "gluon_supported", lambda *a, **k: True)
    monkeypatch.setattr(gm, "_LAUNCH_SEESAW", lambda key, grid, args, **o: launches.append((grid, args)))
    monkeypatch.setattr(gm, "combine_slots", lambda *a, **k: comb.append((a, k)))
    monkeypatch.setattr(gm, "combine_splits", lambda *a, **k: pytest.fail("the fixed grid's combine"))
    monkeypatch.setattr(ts, "_LAUNCH_SCHEDULE", fills)
    monkeypatch.setitem(launch._SMS, ("cpu", None), 6)
    B, H, S = 2, 128, 320 + block_n  # a shape no other test uses
    q = torch.randn(B, 1, H, 576, dtype=torch.bfloat16)
    pool, bt = to_paged(torch.randn(B, S, 576, dtype=torch.bfloat16), 64)
    lens = torch.tensor([S, 9], dtype=torch.int32)
    plans = launch.plan_cache("mla_decode_gluon")
    before = plans.misses
    kw = dict(softmax_scale=0.1, check=False, config=gm.GluonMLAConfig(block_n=block_n))
    sched = ts.mla_decode_schedule()
    gm.mla_decode_gluon(q, pool, lens, bt, schedule=sched, **kw)
    unit, overhead = (128, 3) if block_n == 64 else (32, 10)
    assert sched.shape[:4] == (B, 3, unit, overhead) and len(fills.calls) == 1
    grid, args = launches[-1]
    named = dict(zip(gm._mla_decode_seesaw_kernel.arg_names, args))
    assert grid == (2, 3, 1) and named["SCHEDULED"] is True and named["UNIT"] == unit
    assert named["SCHED"] is sched.parts and named["SEQ_INFO"] is sched.seqs
    o_part = comb[-1][0][0]
    assert tuple(o_part.shape) == (5, H, 512) and comb[-1][1]["max_partials"] == 3
    assert (named["stride_op_b"], named["stride_op_s"], named["stride_lse_b"], named["stride_lse_s"]) == \
        (0, H * 512, 0, H)
    _no_device_no_sync(monkeypatch)
    gm.mla_decode_gluon(q.clone(), pool, lens, bt, schedule=sched, **kw)  # the next layer: reused, not refilled
    assert plans.misses == before + 1 and len(fills.calls) == 1 and comb[-1][0][0] is o_part
    gm.mla_decode_gluon(q, pool, lens, bt, **kw)  # no schedule: the fixed grid's own plan, SCHEDULED off
    assert plans.misses == before + 2 and dict(zip(gm._mla_decode_seesaw_kernel.arg_names,
                                                    launches[-1][1]))["SCHEDULED"] is False


def test_the_gluon_wrappers_refuse_a_softmax_scale_that_is_not_positive(monkeypatch):
    """The seesaw kernel folds the scale into the exponent (gluon_mla_seesaw._softmax_step: the row max commutes with
    a positive scale only), so the dense and sparse wrappers refuse 0 and negative scales in one line, before any
    launch."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.kernels import gluon_mla_decode as gm
    from mlacalc.kernels import gluon_mla_sparse as gs

    monkeypatch.setattr(gm, "gluon_supported", lambda *a, **k: True)
    monkeypatch.setattr(gm, "_LAUNCH_SEESAW", lambda *a, **k: pytest.fail("launched"))
    monkeypatch.setattr(gs, "gluon_sparse_supported", lambda *a, **k: True)
    monkeypatch.setattr(gs, "_LAUNCH_SPARSE_SEESAW", lambda *a, **k: pytest.fail("launched"))
    monkeypatch.setitem(launch._SMS, ("cpu", None), 6)
    q = torch.randn(1, 1, 64, 576, dtype=torch.bfloat16)
    kv = torch.randn(1, 128, 576, dtype=torch.bfloat16)
    pool, bt = to_paged(kv, 64)
    idx = torch.zeros(1, 1, 64, dtype=torch.int32)
    for scale in (0.0, -0.1):
        with pytest.raises(KernelInputError, match="^softmax_scale: must be a positive finite number"):
            gm.mla_decode_gluon(q, kv, softmax_scale=scale, check=False)
        with pytest.raises(KernelInputError, match="^softmax_scale: must be a positive finite number"):
            gs.mla_decode_sparse_gluon(q, pool, idx, bt, softmax_scale=scale, check=False)


def test_the_gluon_wrapper_refuses_a_schedule_with_splits_or_an_fp8_cache(monkeypatch):
    """A schedule cuts the work itself (num_splits too is one KernelInputError naming num_splits), and the fp8
    cache's widening group plans one split (a schedule there names `schedule`); a schedule of the wrong type is
    named as such."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.kernels import gluon_mla_decode as gm
    from mlacalc.kernels.triton_schedule import mla_decode_schedule

    monkeypatch.setattr(gm, "gluon_supported", lambda *a, **k: True)
    q = torch.randn(1, 1, 64, 576, dtype=torch.bfloat16)
    kv = torch.randn(1, 128, 576, dtype=torch.bfloat16)
    with pytest.raises(KernelInputError, match="^num_splits: not with a schedule"):
        gm.mla_decode_gluon(q, kv, softmax_scale=0.1, num_splits=2, schedule=mla_decode_schedule())
    with pytest.raises(KernelInputError, match="^schedule: the Gluon kernel's fp8 cache takes no schedule"):
        gm.mla_decode_gluon(q, kv.to(torch.float8_e4m3fn), softmax_scale=0.1, kv_scale=1.0,
                            schedule=mla_decode_schedule())
    with pytest.raises(KernelInputError, match="^schedule: expected an MLADecodeSchedule"):
        gm.mla_decode_gluon(q, kv, softmax_scale=0.1, schedule=object())


def test_the_gluon_wrapper_refuses_a_bad_l2_prefetch_distance(monkeypatch):
    """GluonMLAConfig.l2_prefetch_pairs is a whole number of pairs, 0-4 (the prologue unrolls one prefetch a pair):
    -1, 5, 1.5 or True are each one KernelInputError naming config, before any device work; 0 and 4 pass the check
    (and fail later on CPU tensors, past it)."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.kernels import gluon_mla_decode as gm

    monkeypatch.setattr(gm, "gluon_supported", lambda *a, **k: True)
    monkeypatch.setattr(gm, "_GluonPlan", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("past the checks")))
    q = torch.randn(1, 1, 64, 576, dtype=torch.bfloat16)
    kv = torch.randn(1, 128, 576, dtype=torch.bfloat16).to(torch.float8_e4m3fn)
    for bad in (-1, 5, 1.5, True):
        with pytest.raises(KernelInputError, match="^config: l2_prefetch_pairs must be an integer 0-4"):
            gm.mla_decode_gluon(q, kv, softmax_scale=0.1, kv_scale=1.0, config=gm.GluonMLAConfig(l2_prefetch_pairs=bad))
    for good in (0, 4):
        with pytest.raises(RuntimeError, match="past the checks"):
            gm.mla_decode_gluon(q, kv, softmax_scale=0.1, kv_scale=1.0, config=gm.GluonMLAConfig(l2_prefetch_pairs=good))


def test_the_gluon_wrapper_refuses_bad_auto_schedule_fields(monkeypatch):
    """GluonMLAConfig's schedule fields: auto_schedule_below a finite number, own_schedule_us None or a finite number
    of microseconds, schedule_in_kernel a bool; anything else is one KernelInputError naming config before any
    device work, and the good values pass the check (and fail later on CPU tensors, past it)."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.kernels import gluon_mla_decode as gm

    monkeypatch.setattr(gm, "gluon_supported", lambda *a, **k: True)
    monkeypatch.setattr(gm, "_GluonPlan", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("past the checks")))
    q = torch.randn(1, 1, 128, 576, dtype=torch.bfloat16)
    kv = torch.randn(1, 128, 576, dtype=torch.bfloat16)
    bad = [dict(auto_schedule_below=float("nan")), dict(auto_schedule_below="0.9"), dict(own_schedule_us=float("inf")),
           dict(own_schedule_us="6"), dict(own_schedule_us=True), dict(schedule_in_kernel=1),
           dict(schedule_in_kernel=None)]
    for kw in bad:
        field = next(iter(kw))
        with pytest.raises(KernelInputError, match=f"^config: {field} must be"):
            gm.mla_decode_gluon(q, kv, softmax_scale=0.1, config=gm.GluonMLAConfig(block_n=64, **kw))
    for kw in (dict(own_schedule_us=0.0), dict(own_schedule_us=None, schedule_in_kernel=False),
               dict(auto_schedule_below=0)):
        with pytest.raises(RuntimeError, match="past the checks"):
            gm.mla_decode_gluon(q, kv, softmax_scale=0.1, config=gm.GluonMLAConfig(block_n=64, **kw))


def test_a_schedule_filled_for_one_batch_is_refused_for_another(monkeypatch):
    """The contract: one schedule per launch shape and set of lengths. Reused for a batch of another size (or a
    tile of another shape) it is one KernelInputError naming `schedule`, before any launch."""
    from mlacalc.kernels import triton_mla_decode as m
    from mlacalc.kernels import triton_schedule as ts

    monkeypatch.setattr(m, "_LAUNCH_MLA", Recorder())
    monkeypatch.setattr(m, "combine_slots", lambda *a, **k: None)
    monkeypatch.setattr(ts, "_LAUNCH_SCHEDULE", Recorder())
    q, kv, lens, _ = _mla_inputs(S=287)
    sched = ts.mla_decode_schedule()
    kw = dict(softmax_scale=0.1, kv_lora_rank=64, check=False, schedule=sched)
    m.mla_decode_triton(q, kv, lens, **kw)
    with pytest.raises(KernelInputError, match="^schedule: filled for .* make one schedule per launch shape"):
        m.mla_decode_triton(q[:1], kv[:1], lens[:1], **kw)


def test_a_cache_too_large_for_the_schedules_int32_cells_is_one_value_error(monkeypatch):
    """The schedule program counts cells (tiles + overhead a sequence) in int32 with headroom (MAX_CELLS = 2^28, far
    above any real cache); past it the plan refuses with one KernelInputError naming `schedule`, before a launch.
    Here the bound is lowered to 20: 2 sequences x (300 keys / 64 = 5 tiles + 1 tile of overhead: fp32 rows, 16 x
    80 x 4 + 2 x 16 x 65 x 4 = 13,440 bytes under one 20,480-byte tile) = 12 cells pass; 2 sequences of 700 keys,
    2 x (11 + 1) = 24 cells, do not."""
    from mlacalc.kernels import triton_mla_decode as m
    from mlacalc.kernels import triton_schedule as ts

    monkeypatch.setattr(m, "_LAUNCH_MLA", Recorder())
    monkeypatch.setattr(m, "combine_slots", lambda *a, **k: None)
    monkeypatch.setattr(ts, "_LAUNCH_SCHEDULE", Recorder())
    monkeypatch.setattr(m, "MAX_CELLS", 20)
    kw = dict(softmax_scale=0.1, kv_lora_rank=64, check=False)
    q, kv, lens, _ = _mla_inputs(S=300)
    m.mla_decode_triton(q, kv, lens, schedule=ts.mla_decode_schedule(), **kw)
    q, kv, lens, _ = _mla_inputs(S=700)
    with pytest.raises(KernelInputError, match="^schedule: 2 sequences of up to 700 keys are 24 schedule cells"):
        m.mla_decode_triton(q, kv, lens, schedule=ts.mla_decode_schedule(), **kw)


def test_profiler_dsa_positions_become_pool_rows_of_a_contiguous_cache():
    """The profiler's DSA points on a contiguous cache [B, C, D] (no table) hand sparse decode rows of the flattened
    pool, b x C + position (profiler.run.dsa_pool_rows), and no lengths: the reference reading those rows of the
    pool (the convention the kernels share, tested under the interpreter with make_sparse_case(table=False)) equals
    each sequence's reference over its own rows, where the old call (positions and lengths, now refused in one line)
    read sequence 0's rows for every sequence. Worked by hand: positions [[3, -1], [0, 5]] of C = 7 are rows
    [[3, -1], [7, 12]]."""
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.profiler.run import dsa_indices, dsa_pool_rows

    pos = torch.tensor([[[3, -1]], [[0, 5]]], dtype=torch.int32)
    assert dsa_pool_rows(pos, 7, torch).tolist() == [[[3, -1]], [[7, 12]]]
    B, C, D, r = 3, 37, 80, 64
    torch.manual_seed(0)
    kv, q = torch.randn(B, C, D), torch.randn(B, 1, 4, D)
    pos = dsa_indices(B, 1, C, 16, torch)
    ref = torch.cat([mla_sparse_reference(q[b:b + 1], kv[b].unsqueeze(1), pos[b:b + 1], r, scale=0.1)
                     for b in range(B)])
    got = mla_sparse_reference(q, kv, dsa_pool_rows(pos, C, torch), r, scale=0.1)
    old = mla_sparse_reference(q, kv, pos, r, scale=0.1)      # positions as rows: sequence 0's, for all three
    assert torch.allclose(got, ref) and not torch.allclose(old, ref)
    with pytest.raises(KernelInputError, match="^cache_seqlens:"):
        mla_decode(q, kv, torch.full((B,), C, dtype=torch.int32), None, indices=pos, softmax_scale=0.1,
                   kv_lora_rank=r, impl="triton")

