"""CPU tests of mlacalc.kernels: references agree with each other, eager/SDPA decode and prefill agree with the
float64 references, the MLA module's absorbed and decompressed paths agree, the layers run forward and backward."""

import pytest

torch = pytest.importorskip("torch")

from mlacalc.kernels.cache import from_paged, quantize_fp8, to_paged  # noqa: E402
from mlacalc.kernels.decode import gqa_decode_sdpa, mla_decode_eager  # noqa: E402
from mlacalc.kernels.layers import LayerDims, make_layer  # noqa: E402
from mlacalc.kernels.prefill import gqa_prefill_sdpa, mla_prefill_from_latent  # noqa: E402
from mlacalc.kernels.reference import (  # noqa: E402
    MLAAttention,
    MLAConfig,
    attention_reference,
    mla_absorbed_reference,
    mla_decompressed_reference,
)
from mlacalc.kernels.testing import make_gqa_case, make_mla_case, rel_error, run_gqa_case, run_mla_case  # noqa: E402

LENGTHS = [1, 63, 64, 65]


def naive_attention(q, k, v, scale, lengths, causal):
    """Loop-per-query float64 attention, written independently of attention_reference."""
    B, Sq, Hq, _ = q.shape
    group = Hq // k.shape[2]
    out = torch.zeros(B, Sq, Hq, v.shape[-1], dtype=torch.float64)
    for b in range(B):
        L = int(lengths[b])
        for i in range(Sq):
            last = L - Sq + i if causal else L - 1
            for h in range(Hq):
                kk = k[b, : last + 1, h // group].double()
                s = kk @ q[b, i, h].double() * scale
                out[b, i, h] = torch.softmax(s, 0) @ v[b, : last + 1, h // group].double()
    return out


@pytest.mark.parametrize("hq,hkv", [(4, 4), (4, 1), (6, 2)])  # MHA, MQA, GQA
def test_reference_matches_per_query_loops(hq, hkv):
    B, Sq, Sk, D = 2, 3, 9, 8
    q, k, v = torch.randn(B, Sq, hq, D), torch.randn(B, Sk, hkv, D), torch.randn(B, Sk, hkv, D + 2)
    lengths = torch.tensor([9, 5])
    got = attention_reference(q, k, v, scale=0.3, causal=True, kv_lengths=lengths)
    assert rel_error(got, naive_attention(q, k, v, 0.3, lengths, True)) < 1e-12


def test_mla_absorbed_equals_decompressed_float64():
    B, Sq, Sk, H, dn, dr, dv, r = 2, 2, 11, 4, 16, 8, 12, 32
    args = (
        torch.randn(B, Sq, H, dn), torch.randn(B, Sq, H, dr), torch.randn(B, Sk, r), torch.randn(B, Sk, dr),
        torch.randn(H, dn, r) / r**0.5, torch.randn(H, dv, r) / r**0.5,
    )
    kw = dict(scale=(dn + dr) ** -0.5, kv_lengths=torch.tensor([11, 6]))
    assert rel_error(mla_absorbed_reference(*args, **kw), mla_decompressed_reference(*args, **kw)) < 1e-12


@pytest.mark.parametrize("q_lora_rank", [None, 24])
def test_mla_module_absorbed_and_decompressed_paths_agree(q_lora_rank):
    cfg = MLAConfig(hidden=64, heads=4, kv_lora_rank=32, q_lora_rank=q_lora_rank, qk_nope_dim=16, qk_rope_dim=8,
                    v_head_dim=16)
    m = MLAAttention(cfg).double()
    x = torch.randn(2, 7, 64, dtype=torch.float64)
    a, d = m(x, absorbed=True), m(x, absorbed=False)
    assert rel_error(a, d) < 1e-12
    assert rel_error(m(x, absorbed=False, attn="sdpa"), d) < 1e-10
    m32 = MLAAttention(cfg)
    x32 = torch.randn(2, 7, 64)
    assert rel_error(m32(x32, absorbed=True), m32(x32, absorbed=False)) < 1e-5


def test_mla_module_cache_rows_feed_the_decode_kernel():
    """The module's absorbed query and cache rows, run through eager decode, reproduce the module's last token."""
    cfg = MLAConfig(hidden=64, heads=4, kv_lora_rank=32, q_lora_rank=None, qk_nope_dim=16, qk_rope_dim=8,
                    v_head_dim=16)
    m = MLAAttention(cfg).double()
    x = torch.randn(1, 5, 64, dtype=torch.float64)
    pos = torch.arange(5)
    c_kv, k_pe = m.project_kv(x, pos)
    q_nope, q_pe = m.project_q(x[:, -1:], pos[-1:])
    from mlacalc.kernels.reference import absorb_query

    q_lat = absorb_query(q_nope, q_pe, m.w_uk())
    o_lat = mla_decode_eager(q_lat, torch.cat([c_kv, k_pe], -1), softmax_scale=cfg.softmax_scale, kv_lora_rank=32)
    # eager decode takes its softmax in float32 (as it does for bf16 inputs): float32-level agreement
    assert rel_error(m.output_from_latent(o_lat), m(x)[:, -1:]) < 1e-6


def test_paged_roundtrip_and_fp8_scale():
    x = torch.randn(3, 70, 5)
    pool, bt = to_paged(x, 16)
    assert pool.shape == (3 * 5, 16, 5) and bt.shape == (3, 5)
    assert torch.equal(from_paged(pool, bt, 70), x)
    q8, s = quantize_fp8(x)
    assert q8.dtype == torch.float8_e4m3fn and s.shape == (1,)
    assert float(q8.float().abs().max() * s) == pytest.approx(float(x.abs().max()), rel=1e-6)


@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("s_q", [1, 3])
def test_mla_eager_decode_bf16(paged, s_q):
    lens = [max(v, s_q) for v in LENGTHS]  # mixed lengths in one batch
    case = make_mla_case(lens, heads=16, s_q=s_q, r=128, dr=64, paged=paged)
    out = run_mla_case(mla_decode_eager, case, poison=False)
    assert rel_error(out, case.ref) < 1e-2


def test_mla_eager_decode_fp8():
    case = make_mla_case([5, 64, 65], heads=8, r=128, dr=64, fp8=True, paged=True)
    out = run_mla_case(mla_decode_eager, case, poison=False)
    assert rel_error(out, case.ref) < 2e-2


@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("hq,hkv,s_q", [(8, 2, 1), (8, 8, 1), (4, 1, 2)])
def test_gqa_sdpa_decode(paged, hq, hkv, s_q):
    case = make_gqa_case([max(v, s_q) for v in LENGTHS], heads=hq, kv_heads=hkv, head_dim=64, s_q=s_q,
                         dtype=torch.float32, paged=paged)
    assert rel_error(run_gqa_case(gqa_decode_sdpa, case, poison=False), case.ref) < 1e-5


def test_prefill_paths_match_reference():
    B, S, H, dn, dr, dv, r = 2, 33, 4, 16, 8, 12, 32
    args = (torch.randn(B, S, H, dn), torch.randn(B, S, H, dr), torch.randn(B, S, r), torch.randn(B, S, dr),
            torch.randn(H, dn, r) / r**0.5, torch.randn(H, dv, r) / r**0.5)
    scale = (dn + dr) ** -0.5
    ref = mla_decompressed_reference(*args, scale=scale)
    for pad_v in (False, True):
        assert rel_error(mla_prefill_from_latent(*args, softmax_scale=scale, pad_v=pad_v), ref) < 1e-5
    q, k, v = torch.randn(B, S, 8, 16), torch.randn(B, S, 2, 16), torch.randn(B, S, 2, 16)
    assert rel_error(gqa_prefill_sdpa(q, k, v), attention_reference(q, k, v, causal=True)) < 1e-5


@pytest.mark.parametrize("kind", ["mla", "gqa", "mha", "mqa"])
def test_layers_forward_backward(kind):
    dims = LayerDims(hidden=64, heads=4, kv_heads=2, head_dim=16, ffn_intermediate=96, kv_lora_rank=32,
                     q_lora_rank=24, qk_nope_dim=16, rope_dim=8, v_head_dim=16)
    layer = make_layer(kind, dims)
    x = torch.randn(2, 9, 64, requires_grad=True)
    y = layer(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in layer.parameters())


# ------------------------------------------------------------------------------ RMSNorm (memory-efficient Function)

def test_rms_norm_function_matches_autograd_of_the_reference_float64():
    """Forward and both gradients of norm.RMSNormFunction equal autograd through reference.RMSNorm (float64),
    across a chunk boundary (rows > CHUNK_ROWS) and on a strided view (MLA's c_kv slice of [c_kv | k_pe])."""
    from mlacalc.kernels import norm
    from mlacalc.kernels.reference import RMSNorm as RefNorm

    torch.manual_seed(0)
    for shape, view in (((3, 5, 16), False), ((2, norm.CHUNK_ROWS // 2 + 7, 8), False), ((2, 6, 12), True)):
        base = torch.randn(*shape[:-1], shape[-1] + 4, dtype=torch.float64) if view else None
        x = (base[..., : shape[-1]] if view else torch.randn(*shape, dtype=torch.float64)).requires_grad_(True)
        ref = RefNorm(shape[-1], eps=1e-6).double()
        with torch.no_grad():
            ref.weight.copy_(torch.randn(shape[-1], dtype=torch.float64))
        w = ref.weight.detach().clone().requires_grad_(True)
        dy = torch.randn(*shape, dtype=torch.float64)
        y_ref = ref(x)
        gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, ref.weight), dy)
        y = norm.rms_norm(x, w, 1e-6)
        gx, gw = torch.autograd.grad(y, (x, w), dy)
        assert rel_error(y, y_ref) < 1e-12
        assert rel_error(gx, gx_ref) < 1e-12 and rel_error(gw, gw_ref) < 1e-12


def test_rms_norm_function_gradcheck():
    from mlacalc.kernels import norm

    x = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: norm.rms_norm(x, w, 1e-6), (x, w))


def test_rms_norm_function_saves_only_the_input_and_a_float32_rstd():
    """What autograd keeps: the bf16 input itself (no copy) and rstd [rows, 1] float32 -- the fused-kernel
    footprint mlacalc.activations models (2 bytes per element + 4 per row), not reference.RMSNorm's float32 copy."""
    from mlacalc.kernels import norm

    x = torch.randn(2, 5, 16, dtype=torch.bfloat16, requires_grad=True)
    w = torch.ones(16, dtype=torch.bfloat16, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        norm.rms_norm(x, w)
    acts = [t for t in saved if t.data_ptr() != w.data_ptr()]
    assert len(acts) == 2
    assert acts[0].data_ptr() == x.data_ptr() and acts[0].dtype == torch.bfloat16
    assert acts[1].shape == (2 * 5, 1) and acts[1].dtype == torch.float32
    # bf16 output close to the float64 reference
    from mlacalc.kernels.reference import RMSNorm as RefNorm

    ref = RefNorm(16).double()(x.detach().double())
    assert rel_error(norm.rms_norm(x, w).double(), ref) < 1e-2


def test_mla_default_configs_and_split_counts():
    """The 128-row default (split_v=2, measured faster on the H100 at s_q = 1 and on the H200 at 64 heads x s_q = 2,
    docs/kernels-notes.md) applies to bf16 only, and the split count it launches with is the old tile's (B x 2 work
    items either way); mla_num_splits reports it."""
    pytest.importorskip("triton")
    from mlacalc.kernels.triton_mla_decode import default_mla_config, mla_num_splits
    from mlacalc.kernels.triton_split_kv import choose_num_splits

    new = default_mla_config(128, None)
    assert (new.block_h, new.split_v, new.num_stages, new.prefetch_l2) == (128, 2, 1, True)
    assert default_mla_config(128, None, fp8=True).split_v == 1
    assert default_mla_config(128, None, s_q=2) == new  # 64 heads x 2 tokens (bench/tune_q2.py)
    q2 = default_mla_config(32, None, s_q=2)  # 16 heads x 2 tokens: tune_q2's 32/64/8 warps/3 stages
    assert (q2.block_h, q2.block_n, q2.num_warps, q2.num_stages) == (32, 64, 8, 3)
    assert default_mla_config(64, None).split_v == 1
    for B, ctx in ((1, 1024), (1, 65536), (8, 16384), (32, 4096), (128, 16384)):
        old = choose_num_splits(B * 2, ctx, sms=132, token_bytes=1152, partial_bytes_per_split=B * 128 * 512 * 8)
        per = -(-(-(-ctx // old)) // 64) * 64
        assert mla_num_splits(B, 1, 128, ctx, sms=132) == -(-ctx // per)
        assert mla_num_splits(B, 1, 16, ctx, sms=132) >= 1


def test_mla_planner_counts_the_programs_an_sm_holds_once_a_plan_outgrows_the_sms():
    """MiniCPM3's 288-dim keys (r 256, RoPE 32) at 5 heads: a 16-row tile of 84,992 B shared memory and 170 registers,
    two an SM (233,472 // 86,016; 65,536 // (176 x 128)); DeepSeek's 576 (167,936 B): one. Batch 96 x 16k planned over
    132 slots takes 4 splits, 384 programs, more than the SMs, so it is planned again over 264: 8 splits (on the H200
    0.85x the time: reports/h200/tuning/ab_mla_resident.json). Batch 8 x 8k takes 16 splits, 128 programs: it stays
    (counting two there gave 32 splits and 1.07x the time). DeepSeek's dims plan as before."""
    pytest.importorskip("triton")
    from dataclasses import replace

    from mlacalc.kernels.triton_mla_decode import (default_mla_config, mla_num_splits, mla_resident_programs,
                                                   mla_smem_bytes)

    cfg = default_mla_config(5, None, d_k=288)
    assert cfg.programs_per_sm is None and mla_smem_bytes(288, 16, 64, 3) == 84_992
    assert mla_resident_programs(288, 16, cfg) == 2 and mla_resident_programs(576, 16, cfg) == 1

    def splits(B, ctx, heads=5, r=256, dr=32, **kw):
        return mla_num_splits(B, 1, heads, ctx, sms=132, kv_lora_rank=r, rope_dim=dr, **kw)

    one = replace(cfg, programs_per_sm=1)
    assert (splits(96, 16384, config=one), splits(96, 16384)) == (4, 8)
    assert splits(8, 8192, config=one) == splits(8, 8192) == 16
    for B, ctx in ((8, 8192), (96, 16384), (192, 4096)):  # paged: the tile no Triton version changes
        assert splits(B, ctx, 16, 512, 64, paged=True) == splits(B, ctx, 16, 512, 64, config=one, paged=True)
    assert splits(96, 16384, kv_element_size=4) == splits(96, 16384, kv_element_size=4, config=one)  # fp32: 1


def test_16_row_tile_follows_the_triton_that_compiles_it():
    """Triton 3.9 compiles the 16/64/4/3 tile to a loop 1.00-1.21x slower than 3.6's on contiguous caches at
    DeepSeek's dims; there the 16/32/4/3 tile with two programs an SM ran 0.97-1.04x the 3.6 default's time
    (bench/ab_mla_tiles16.py, reports/h200/tuning/ab_tiles16_t39.json, _t36.json). Paged caches, other dims and
    Triton 3.6 keep the 64-key tile."""
    pytest.importorskip("triton")
    from mlacalc.kernels.triton_mla_decode import MLADecodeConfig, default_mla_config, mla_num_splits

    base = MLADecodeConfig(block_h=16, block_n=64, num_warps=4, num_stages=3)
    dual = MLADecodeConfig(block_h=16, block_n=32, num_warps=4, num_stages=3, programs_per_sm=2)
    assert default_mla_config(16, None, triton_version=(3, 9)) == dual
    assert default_mla_config(8, None, triton_version=(3, 10)) == dual
    assert default_mla_config(16, None, triton_version=(3, 6)) == base
    assert default_mla_config(16, None, paged=True, triton_version=(3, 9)) == base
    assert default_mla_config(16, None, d_k=288, triton_version=(3, 9)) == base
    # two programs an SM double the split plan's slots: 32 sequences x 32k keys, 132 SMs -> 4 splits for one an SM
    # (128 programs), 8 for two (256 of 264 slots)
    assert mla_num_splits(32, 1, 16, 32768, sms=132, config=base) == 4
    assert mla_num_splits(32, 1, 16, 32768, sms=132, config=dual) == 8


def test_fp8_latent_slices_and_defaults():
    """fp8 caches run the latent as slices (issue 14): 512 = 4 x 128 (fp8-ds: one slice per 128-value scale group),
    fewer when a slice would be under tl.dot's 16 columns or not a power of two; 0 is the whole-tile "widen" path."""
    pytest.importorskip("triton")
    from mlacalc.kernels.triton_mla_decode import default_mla_config, fp8_slices
    from mlacalc.kernels.triton_mla_sparse import default_sparse_config, sparse_slices

    assert [fp8_slices(r) for r in (512, 256, 64, 32, 16)] == [4, 4, 4, 2, 1]  # 128, 64, 16, 16, 16 columns
    assert fp8_slices(512, split_v=2) == 0 and fp8_slices(512, mode="widen") == 0
    assert [sparse_slices(r, True) for r in (512, 256, 128, 1024)] == [4, 2, 1, 0]  # r / 128 groups, at most 4
    assert sparse_slices(512, False) == 0 and sparse_slices(512, True, "widen") == 0
    for rows in (16, 32, 64, 128):
        cfg = default_mla_config(rows, None, fp8=True, paged=True)
        assert cfg.fp8_mode in ("slices", "dual") and cfg.split_v == 1 and cfg.block_h <= 64
        # fp8-ds: the slices won at <= 32 heads, the whole-tile path at 64 and 128 (tune_fp8_sparse on the H200)
        assert default_sparse_config(rows, True).fp8_mode == ("dual" if rows <= 32 else "widen")
    assert default_mla_config(16, None, fp8=True) != default_mla_config(16, None)  # bf16 keeps its measured tiles


def test_measurement_header_and_json(tmp_path, monkeypatch):
    """Every measurement JSON states the command, GPU and versions (run_meta) and its wall time (write_result)."""
    import json

    from mlacalc.kernels import bench

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    meta = bench.run_meta("cuda", "python bench/tune_gluon.py --out $OUT")
    assert meta["gpu"] == "NVIDIA H100 80GB HBM3" and meta["command"].endswith("--out $OUT")
    assert meta["torch"] == torch.__version__ and {"triton", "cuda", "python"} <= set(meta)
    path = tmp_path / "r.json"
    bench.write_result(str(path), dict(meta, rows=[1, 2]), t_start=0.0)
    saved = json.loads(path.read_text())
    assert saved["rows"] == [1, 2] and saved["wall_s"] > 0 and saved["gpu"] == meta["gpu"]

