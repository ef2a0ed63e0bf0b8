"""The CUDA fp8 MLA decode (kernels/cuda/mla_fp8_decode.cu): its register maps and its whole fragment algorithm on
the CPU, its build where nvcc is present, and its wrapper's refusals. The GPU runs are in tests/test_kernels_gpu.py.

The fragment model below follows the kernel line by line at the level of one warp's registers: each lane's bytes,
the K-slot order of the score dot, mma.sync.m16n8k16's operand layouts (PTX ISA "Matrix Fragments for
mma.m16n8k16"), movmatrix's transpose, the partial-score exchange, the online softmax and the output's column map;
only the arithmetic is torch's. A wrong map (a byte fed to the wrong K slot, a transposed fragment read as the other
half, an output column stored to the wrong dim) moves the result far outside the tolerance, which the tests check
by breaking the maps on purpose."""

from __future__ import annotations

import math
import shutil
import subprocess

import pytest
import torch

from mlacalc.kernels import cuda_mla_fp8 as cf
from mlacalc.kernels.checks import KernelInputError
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.testing import make_mla_case, rel_error

LANES = torch.arange(32)
G, QD = LANES // 4, LANES % 4


def a_matrix(a: torch.Tensor) -> torch.Tensor:
    """[32, 4, 2] A registers (a0..a3, two f16 each) -> the 16 x 16 matrix they hold."""
    m = torch.zeros(16, 16, dtype=a.dtype)
    for reg, (row, col) in enumerate([(0, 0), (8, 0), (0, 8), (8, 8)]):
        for e in range(2):
            m[G + row, 2 * QD + col + e] = a[:, reg, e]
    return m


def b_matrix(b: torch.Tensor) -> torch.Tensor:
    """[32, 2, 2] B registers (b0, b1) -> the 16 x 8 matrix (K x N) they hold."""
    m = torch.zeros(16, 8, dtype=b.dtype)
    for reg in range(2):
        for e in range(2):
            m[2 * QD + 8 * reg + e, G] = b[:, reg, e]
    return m


def c_fragment(m: torch.Tensor) -> torch.Tensor:
    """A 16 x 8 matrix -> the [32, 4] C registers that hold it."""
    return torch.stack([m[G, 2 * QD], m[G, 2 * QD + 1], m[G + 8, 2 * QD], m[G + 8, 2 * QD + 1]], dim=1)


def mma(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """mma.sync.m16n8k16 f32 += f16 x f16 on fragments."""
    return c + c_fragment(a_matrix(a).double() @ b_matrix(b).double()).to(c.dtype)


def movmatrix(x: torch.Tensor) -> torch.Tensor:
    """movmatrix.m8n8.trans.b16 on [32, 2] fragments: lane l holds row l/4, columns 2(l%4), +1."""
    m = torch.zeros(8, 8, dtype=x.dtype)
    m[G, 2 * QD], m[G, 2 * QD + 1] = x[:, 0], x[:, 1]
    t = m.T
    return torch.stack([t[G, 2 * QD], t[G, 2 * QD + 1]], dim=1)


def f16(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float16).to(torch.float32)


def model_softmax(s: torch.Tensor, m_i: torch.Tensor, l_i: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
    """The online softmax's step on a tile's summed, scaled and masked scores s [8 groups, 32 lanes, 4 C registers]
    (the kernel's softmax_tile): each row's max over its quad (the shuffles), m_i, l_i [2 halves, 32 lanes] and the
    accumulators o [warps, 32, 16, 4] rescaled in place; returns p."""
    alpha, p = [], torch.zeros_like(s)
    for half in range(2):
        mx = s[:, :, 2 * half:2 * half + 2].amax(dim=(0, 2))
        mx = mx.view(8, 4).amax(dim=1).repeat_interleave(4)  # the quad's shuffles
        m_new = torch.maximum(m_i[half], mx)
        m_use = torch.where(m_new == -math.inf, torch.zeros(()), m_new)   # a row that saw no key yet
        alpha.append(torch.exp2(m_i[half] - m_use))
        m_i[half] = m_new
        l_i[half] = l_i[half] * alpha[half]
        p[:, :, 2 * half:2 * half + 2] = torch.exp2(s[:, :, 2 * half:2 * half + 2] - m_use[None, :, None])
        l_i[half] = l_i[half] + p[:, :, 2 * half:2 * half + 2].sum(dim=(0, 2))
    o[:, :, :, 0:2] *= alpha[0][None, :, None, None]
    o[:, :, :, 2:4] *= alpha[1][None, :, None, None]
    return p


def model_pv(o_w: torch.Tensor, ph: torch.Tensor, rows: torch.Tensor, w: int, transpose: bool = True) -> None:
    """Warp w's P @ V over a tile (the kernel's pv_tile): P's A fragments from ph [8, 32, 4] (f16 values), V's B
    fragments from the tile's rows [64, >= 512] (latent values) as lane (g, qd) reads them, widened and transposed
    by movmatrix; o_w [32, 16, 4] accumulated in place."""
    for ks in range(4):
        a = torch.stack([ph[2 * ks, :, 0:2], ph[2 * ks, :, 2:4], ph[2 * ks + 1, :, 0:2], ph[2 * ks + 1, :, 2:4]], dim=1)
        v = []
        for gi in range(2):
            key = rows[8 * (2 * ks + gi) + G]
            regs = []
            for i in range(8):
                kd = torch.tensor([cf.score_dims(w, int(x), i) for x in QD])
                by = torch.gather(key, 1, kd)
                for h in range(2):
                    x = by[:, 2 * h:2 * h + 2]
                    regs.append(movmatrix(x) if transpose else x)
            v.append(regs)
        for d in range(16):
            o_w[:, d] = mma(o_w[:, d], a, torch.stack([v[0][d], v[1][d]], dim=1))


def model_finish(o: torch.Tensor, m_i: torch.Tensor, l_i: torch.Tensor, num: float, H: int, break_output=False):
    """The kernel's finish_cta: l over the quad, the partial o x num / l at the output's column map, the base-2
    log-sum-exp: ([H, 512], [H])."""
    out = torch.zeros(16, 512)
    lse = torch.zeros(16)
    for half in range(2):
        l = l_i[half].view(8, 4).sum(dim=1).repeat_interleave(4)
        fac = torch.where(l > 0, num / l, torch.zeros(()))
        for w in range(4):
            for d in range(16):
                for e in range(2):
                    n_col = 2 * QD + e
                    dims = torch.tensor([cf.output_dims(w, d ^ 1 if break_output else d, int(x)) for x in n_col])
                    out[G + 8 * half, dims] = o[w, :, d, 2 * half + e] * fac
        lse[G + 8 * half] = torch.where(l > 0, m_i[half] + torch.log2(l), torch.tensor(-math.inf))
    return out[:H], lse[:H]


def model_cta(q: torch.Tensor, keys: torch.Tensor, qk_scale_log2: float, kv_scale: float, *, break_map: str = "",
              vis: list[int] | None = None):
    """One row group of one CTA of the kernel over `keys` [n, 576] (e4m3 values as float32, whole 64-key tiles
    padded with zeros past n) for q [H <= 16, 576]: (partial [H, 512] normalised and times kv_scale, lse base 2).
    vis: the keys each row sees (a later query token's causal end; None: all n). break_map names a map to get wrong
    on purpose ("score", "transpose", "output")."""
    H, n = q.shape[0], keys.shape[0]
    vis_rows = torch.full((16,), n)
    if vis is not None:
        vis_rows[:H] = torch.tensor(vis)
    qp = torch.zeros(16, 576)
    qp[:H] = f16(q.float())
    qk = qk_scale_log2 * kv_scale
    o = torch.zeros(4, 32, 16, 4)  # [warp, lane, dim tile, C register]
    m_i = torch.full((2, 32), -math.inf)
    l_i = torch.zeros(2, 32)
    step_dims = [[torch.tensor([cf.score_dims(w, int(x), i) for x in QD]) for i in range(9)] for w in range(4)]
    if break_map == "score":  # k-slots 2qd+1 and 2qd+8 swapped in Q only
        step_dims = [[d[:, [0, 2, 1, 3]] for d in per] for per in step_dims]
    for t0 in range(0, n, cf.TILE):
        tile = torch.zeros(cf.TILE, 576)
        nv = min(cf.TILE, n - t0)
        tile[:nv] = keys[t0:t0 + nv]
        parts = []
        for w in range(4):
            s = torch.zeros(8, 32, 4)
            for j in range(8):
                key = tile[8 * j + G]  # [32, 576]: lane (g, qd) holds key g of the group
                for i in range(9):
                    kd = torch.tensor([cf.score_dims(w, int(x), i) for x in QD])  # the kernel's bytes
                    qdims = step_dims[w][i]
                    b = torch.gather(key, 1, kd).view(32, 2, 2)  # bytes 0, 1 -> b0; 2, 3 -> b1
                    a = torch.stack([qp[G][torch.arange(32)[:, None], qdims[:, :2]],
                                     qp[G + 8][torch.arange(32)[:, None], qdims[:, :2]],
                                     qp[G][torch.arange(32)[:, None], qdims[:, 2:]],
                                     qp[G + 8][torch.arange(32)[:, None], qdims[:, 2:]]], dim=1)
                    s[j] = mma(s[j], a, b)
            parts.append(s)
        s = sum(parts) * qk  # every warp's sum in the same order
        key_idx = 8 * torch.arange(8)[:, None] + 2 * QD[None, :]  # [group, lane]: keys of c0 (c1: + 1)
        lim = [torch.clamp(vis_rows[G + 8 * half] - t0, max=nv) for half in range(2)]  # [lane] a row's keys here
        for reg, dk in enumerate((0, 1, 0, 1)):
            s[:, :, reg] = torch.where(key_idx + dk < lim[reg // 2][None, :], s[:, :, reg], torch.tensor(-math.inf))
        p = model_softmax(s, m_i, l_i, o)
        ph = f16(p)
        for w in range(4):
            model_pv(o[w], ph, tile, w, transpose=break_map != "transpose")
    return model_finish(o, m_i, l_i, kv_scale, H, break_output=break_map == "output")


def model_decode(case, num_splits: int):
    """The kernel's splits (whole tiles), its row groups of 16 rows (row r = t H + h; token t sees the keys before
    len - (s_q - 1 - t)) and triton_split_kv's merge, on the model: [B, s_q, H, 512]."""
    B, s_q, H, _ = case.q.shape
    rows = s_q * H
    kv = case.kv_cache.float() if case.block_table is None else None
    outs = []
    for b in range(B):
        n = int(case.cache_seqlens[b])
        if kv is not None:
            keys = kv[b, :n]
        else:
            ps = case.kv_cache.shape[1]
            keys = torch.cat([case.kv_cache[int(case.block_table[b, i])].float() for i in range(-(-n // ps))])[:n]
        per = -(-(-(-n // num_splits)) // cf.TILE) * cf.TILE
        qb = case.q[b].reshape(rows, -1)
        ends = [n - (s_q - 1 - r // H) for r in range(rows)]
        merged = []
        for r0 in range(0, rows, 16):
            rs = range(r0, min(rows, r0 + 16))
            parts = [model_cta(qb[r0:r0 + 16], keys[s:s + per], case.softmax_scale / math.log(2),
                               float(case.kv_scale), vis=[ends[r] - s for r in rs])
                     for s in range(0, n, per)]
            lse = torch.stack([p[1] for p in parts])  # [splits, rows of the group]
            w = torch.exp2(lse - lse.amax(dim=0))
            w = torch.where(torch.isnan(w), torch.zeros(()), w)   # a split none of a row's keys fell in
            merged.append((torch.stack([p[0] for p in parts]) * w[..., None]).sum(0) / w.sum(0)[:, None])
        outs.append(torch.cat(merged).view(s_q, H, -1))
    return torch.stack(outs)


def test_score_dims_are_each_dim_once():
    dims = [d for w in range(4) for qd in range(4) for i in range(9) for d in cf.score_dims(w, qd, i)]
    assert sorted(dims) == list(range(576))


def test_output_dims_are_each_latent_dim_once_and_a_lanes_dims_are_its_four_float4_stores():
    dims = [cf.output_dims(w, d, n) for w in range(4) for d in range(16) for n in range(8)]
    assert sorted(dims) == list(range(512))
    # lane quad position qd holds columns n = 2qd, 2qd + 1 of every dim tile: the kernel stores them as
    # 128 w + 64 c + 16 qd + 4 k + [0, 4) with tile 2 (4c + k) + h and n = 2 qd + e at offset 2h + e
    for w in range(4):
        for qd in range(4):
            for c in range(2):
                for k in range(4):
                    i = 4 * c + k
                    got = [cf.output_dims(w, 2 * i + h, 2 * qd + e) for h in range(2) for e in range(2)]
                    base = 128 * w + 64 * c + 16 * qd + 4 * k
                    assert got == [base, base + 1, base + 2, base + 3]


def test_the_transpose_takes_the_score_operand_to_the_value_operand():
    # slot c of byte pair h in k-step i came from lane c / 2, byte 2h + c % 2: the value operand's column c
    for w in range(4):
        for i in range(8):
            for h in range(2):
                for c in range(8):
                    assert cf.output_dims(w, 2 * i + h, c) == cf.score_dims(w, c // 2, i)[2 * h + c % 2]


@pytest.mark.parametrize("lens,heads,s_q,paged,splits", [
    ([70], 16, 1, False, 1),         # a tile and a 6-key tail
    ([200, 64], 5, 1, True, 2),      # rows past H, pages of 64, two splits
    ([130], 16, 1, True, 3),         # splits of 64 keys, pages of 64
    ([140], 32, 1, False, 2),        # two row groups (32 heads)
    ([129, 65], 16, 2, True, 2),     # two query tokens of 16 heads: a row group each, token 0 one key short
    ([65], 8, 2, False, 1),          # two tokens of 8 heads in one group: rows g and g + 8 see different ends
])
def test_the_fragment_model_matches_the_reference(lens, heads, s_q, paged, splits):
    case = make_mla_case(lens, heads=heads, s_q=s_q, fp8=True, paged=paged, seed=7)
    out = model_decode(case, splits)
    assert rel_error(out, case.ref) < 1e-2


@pytest.mark.parametrize("broken", ["score", "transpose", "output"])
def test_the_fragment_model_fails_with_a_wrong_map(broken):
    case = make_mla_case([70], heads=16, fp8=True, seed=7)
    q, keys = case.q[0, 0], case.kv_cache[0, :70].float()
    good, _ = model_cta(q, keys, case.softmax_scale / math.log(2), float(case.kv_scale))
    bad, _ = model_cta(q, keys, case.softmax_scale / math.log(2), float(case.kv_scale), break_map=broken)
    assert rel_error(good, case.ref[0, 0]) < 1e-2
    assert rel_error(bad, case.ref[0, 0]) > 0.2


def test_splits_are_one_wave_of_whole_tiles():
    assert cf.cuda_fp8_splits(32, 32768, 132) == (8, 4096)      # 256 CTAs of 264
    assert cf.cuda_fp8_splits(128, 4096, 132) == (2, 2048)
    assert cf.cuda_fp8_splits(1, 300, 132) == (2, 192)          # at least 256 keys a split: 2, rounded to tiles
    assert cf.cuda_fp8_splits(600, 4096, 132) == (1, 4096)      # more sequences than CTAs: one split
    for B in (1, 3, 8, 33, 200):
        for n in (1, 64, 65, 1000, 32768):
            s, per = cf.cuda_fp8_splits(B, n, 132)
            assert per % cf.TILE == 0 and (s - 1) * per < n <= s * per
            assert B * s <= max(264, B)


def test_cpu_tensors_are_refused_in_one_line():
    case = make_mla_case([64], heads=16, fp8=True, seed=1)
    with pytest.raises(KernelInputError, match="impl 'cuda' takes an sm_90 GPU"):
        mla_decode(case.q, case.kv_cache, case.cache_seqlens, softmax_scale=case.softmax_scale,
                   kv_scale=case.kv_scale, impl="cuda")


def test_bad_shapes_are_refused_before_the_kernel():
    case = make_mla_case([64], heads=16, fp8=True, seed=1)
    with pytest.raises(KernelInputError, match="kv_cache"):
        mla_decode(case.q, case.kv_cache[..., :500], case.cache_seqlens, softmax_scale=case.softmax_scale,
                   kv_scale=case.kv_scale, impl="cuda")
    with pytest.raises(KernelInputError, match="schedule"):
        mla_decode(case.q, case.kv_cache, case.cache_seqlens, softmax_scale=case.softmax_scale,
                   kv_scale=case.kv_scale, impl="cuda", schedule=object())


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_the_kernel_compiles_for_sm90_without_spills(tmp_path):
    src = tmp_path / "inst.cu"
    shapes = [(2, 1), (3, 1), (4, 1), (2, 2), (3, 2)]
    src.write_text(f'#include "{cf.SOURCES / "mla_fp8_decode.cu"}"\n'
                   + "".join(f"template __global__ void mlacalc_fp8::mla_fp8_decode_kernel<{t}, {s}, {g}>"
                             "(const mlacalc_fp8::Params);\n"
                             for t in ("__nv_bfloat16", "__half") for s, g in shapes))
    res = subprocess.run(["nvcc", "-gencode", "arch=compute_90,code=sm_90", "-O3", "-cubin", "-Xptxas", "-v",
                          "-o", str(tmp_path / "k.cubin"), str(src)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    report = res.stderr
    assert report.count("Compiling entry function") == 2 * len(shapes)
    assert report.count("0 bytes spill stores, 0 bytes spill loads") == 2 * len(shapes)
    # the sparse kernel (mla_fp8_sparse.cu, which includes the dense one): the two instantiations the launcher has
    sp = tmp_path / "sparse.cu"
    sp.write_text(f'#include "{cf.SOURCES / "mla_fp8_sparse.cu"}"\n'
                  + "".join(f"template __global__ void mlacalc_fp8::mla_fp8_sparse_kernel<2, {g}>"
                            "(const mlacalc_fp8::Params);\n" for g in (1, 2)))
    res = subprocess.run(["nvcc", "-gencode", "arch=compute_90,code=sm_90", "-O3", "-cubin", "-Xptxas", "-v",
                          "-o", str(tmp_path / "s.cubin"), str(sp)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stderr.count("Compiling entry function") == 2
    assert res.stderr.count("0 bytes spill stores, 0 bytes spill loads") == 2


def test_auto_keeps_to_triton_where_the_kernel_cannot_be_built(monkeypatch):
    from mlacalc.kernels import decode

    case = make_mla_case([64], heads=16, fp8=True, seed=1)
    # a CPU build of torch (as in CI) has no CUDA toolchain to build with
    monkeypatch.setattr(torch.version, "cuda", None)
    assert not cf.buildable()
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(cf, "_BUILD_FAILED", "'cuda' could not build its extension (OSError: no nvcc)")
    assert not cf.buildable()
    # and on CPU tensors auto never picks it
    assert not decode._cuda_applies(case.q, case.kv_cache, 512, case.kv_scale, {})


def test_packed_and_aligned_rows():
    kv = torch.zeros(4, 64, 576, dtype=torch.float8_e4m3fn)
    assert cf.packed_and_aligned(kv)
    assert not cf.packed_and_aligned(kv[:, :, :575])                         # not 576 bytes a row's values
    assert not cf.packed_and_aligned(torch.zeros(4, 64, 580, dtype=torch.float8_e4m3fn)[..., :576])  # rows 580 apart
    assert not cf.packed_and_aligned(kv.view(-1)[8:8 + 4 * 64 * 576 - 576].view(4 * 64 - 1, 576)[None])  # base + 8 B


def test_a_stale_build_lock_is_cleared_and_a_fresh_one_kept(tmp_path, monkeypatch):
    import os
    import time

    import torch.utils.cpp_extension as ce

    monkeypatch.setattr(ce, "_get_build_directory", lambda name, verbose: str(tmp_path))
    lock = tmp_path / "lock"
    lock.write_text("")
    cf._clear_stale_lock(cf.EXT_NAME)
    assert lock.exists()                       # a build may be running
    old = time.time() - cf.STALE_LOCK_S - 5
    os.utime(lock, (old, old))
    cf._clear_stale_lock(cf.EXT_NAME)
    assert not lock.exists()                   # left by a killed build


def test_auto_kernel_names_what_auto_runs_on_cpu_tensors():
    from mlacalc.kernels.decode import auto_kernel

    case = make_mla_case([64], heads=16, fp8=True, seed=1)
    assert auto_kernel(case.q, case.kv_cache, None, kv_scale=case.kv_scale) == "triton"


# ---- the sparse kernel (cuda/mla_fp8_sparse.cu) ----

def model_cta_sparse(q: torch.Tensor, rows: list, qk_scale_log2: float, *, break_map: str = ""):
    """One row group of one CTA of the sparse kernel over `rows`, its slots' fp8-ds rows (uint8 [656], or None where
    the slot selects nothing: the kernel's zero-filled row, masked), in tiles of 64, for q [H <= 16, 576] bf16: the
    latent's 8 k-steps as the dense model's, each key's partial times its scale c_w (keys 2qd, 2qd + 1 of the C
    fragment), the RoPE k-step in bf16 in mma's standard layouts (warp w: RoPE dims 16 w + [0, 16)), and P @ V with
    P = f16(p c_w 256) a warp. break_map: "scale" (each key takes its neighbour's scale), "rope" (the RoPE B
    fragment's halves swapped)."""
    from mlacalc.kernels.cache import fp8_ds_views

    H, n = q.shape[0], len(rows)
    qp = torch.zeros(16, 576)
    qp[:H] = q.float()
    qlat = f16(qp[:, :512])
    o = torch.zeros(4, 32, 16, 4)
    m_i = torch.full((2, 32), -math.inf)
    l_i = torch.zeros(2, 32)
    n_pad = -(-n // cf.TILE) * cf.TILE
    raw = torch.zeros(n_pad, 656, dtype=torch.uint8)
    valid = torch.zeros(n_pad, dtype=torch.bool)
    for i, r in enumerate(rows):
        if r is not None:
            raw[i], valid[i] = r, True
    lat8, scales, rope = fp8_ds_views(raw)
    lat, scales, rope = lat8.float(), scales.float(), rope.float()
    if break_map == "scale":
        scales = scales.roll(1, dims=0)
    for t0 in range(0, n_pad, cf.TILE):
        parts, cs_w = [], []
        for w in range(4):
            s = torch.zeros(8, 32, 4)
            cs = torch.zeros(8, 32, 2)
            for j in range(8):
                key = lat[t0 + 8 * j + G]          # lane (g, qd) holds key g of the group
                for i in range(8):
                    kd = torch.tensor([cf.score_dims(w, int(x), i) for x in QD])
                    b = torch.gather(key, 1, kd).view(32, 2, 2)
                    a = torch.stack([qlat[G][torch.arange(32)[:, None], kd[:, :2]],
                                     qlat[G + 8][torch.arange(32)[:, None], kd[:, :2]],
                                     qlat[G][torch.arange(32)[:, None], kd[:, 2:]],
                                     qlat[G + 8][torch.arange(32)[:, None], kd[:, 2:]]], dim=1)
                    s[j] = mma(s[j], a, b)
                cs[j, :, 0] = scales[t0 + 8 * j + 2 * QD, w]
                cs[j, :, 1] = scales[t0 + 8 * j + 2 * QD + 1, w]
                s[j] = s[j] * torch.cat([cs[j], cs[j]], dim=1)
                # RoPE: A = Q[row][16w + col], B = K[16w + k][key] in mma's standard fragments
                rd = 16 * w + 2 * QD
                a = torch.stack([torch.stack([qp[G, 512 + rd], qp[G, 512 + rd + 1]], 1),
                                 torch.stack([qp[G + 8, 512 + rd], qp[G + 8, 512 + rd + 1]], 1),
                                 torch.stack([qp[G, 520 + rd], qp[G, 520 + rd + 1]], 1),
                                 torch.stack([qp[G + 8, 520 + rd], qp[G + 8, 520 + rd + 1]], 1)], dim=1)
                kr = rope[t0 + 8 * j + G]
                b0 = torch.stack([kr[torch.arange(32), rd], kr[torch.arange(32), rd + 1]], 1)
                b1 = torch.stack([kr[torch.arange(32), rd + 8], kr[torch.arange(32), rd + 9]], 1)
                b = torch.stack([b1, b0] if break_map == "rope" else [b0, b1], dim=1)
                s[j] = mma(s[j], a, b)
            parts.append(s)
            cs_w.append(cs)
        s = sum(parts) * qk_scale_log2
        key_idx = t0 + 8 * torch.arange(8)[:, None] + 2 * QD[None, :]
        for reg, dk in enumerate((0, 1, 0, 1)):
            s[:, :, reg] = torch.where(valid[key_idx + dk], s[:, :, reg], torch.tensor(-math.inf))
        p = model_softmax(s, m_i, l_i, o)
        for w in range(4):
            model_pv(o[w], f16(p * torch.cat([cs_w[w], cs_w[w]], dim=2) * 256.0), lat[t0:t0 + cf.TILE], w)
    return model_finish(o, m_i, l_i, 1 / 256.0, H)


def model_sparse_decode(case, num_splits: int, **kw):
    """The sparse kernel's splits of whole 64-slot tiles over each query token's index list, row groups of 16
    heads, a slot selecting a row when 0 <= index < length (through the block table), and the merge: [B, s_q, H,
    512]."""
    B, s_q, H, _ = case.q.shape
    topk = case.indices.shape[2]
    ps = case.kv_cache.shape[1]
    per = -(-(-(-topk // num_splits)) // cf.TILE) * cf.TILE
    out = torch.zeros(B, s_q, H, 512)
    for b in range(B):
        limit = int(case.cache_seqlens[b]) if case.cache_seqlens is not None else case.kv_cache.shape[0] * ps
        for t in range(s_q):
            rows = []
            for i in case.indices[b, t].tolist():
                if not 0 <= i < limit:
                    rows.append(None)
                    continue
                page = int(case.block_table[b, i // ps]) if case.block_table is not None else i // ps
                rows.append(case.kv_cache[page, i % ps])
            for r0 in range(0, H, 16):
                parts = [model_cta_sparse(case.q[b, t, r0:r0 + 16], rows[s:s + per],
                                          case.softmax_scale / math.log(2), **kw) for s in range(0, topk, per)]
                lse = torch.stack([p[1] for p in parts])
                w = torch.exp2(lse - lse.amax(dim=0))
                w = torch.where(torch.isnan(w), torch.zeros(()), w)
                out[b, t, r0:r0 + 16] = (torch.stack([p[0] for p in parts]) * w[..., None]).sum(0) / w.sum(0)[:, None]
    return out


@pytest.mark.parametrize("heads,s_q,table,splits", [
    (16, 1, True, 1),      # one tile of 64 slots, some -1 and some past the length
    (5, 2, True, 2),       # rows past H, two tokens, two splits
    (16, 1, False, 1),     # pool rows (no table, no lengths)
])
def test_the_sparse_fragment_model_matches_the_reference(heads, s_q, table, splits):
    from mlacalc.kernels.testing import make_sparse_case

    case = make_sparse_case([100, 70], heads=heads, s_q=s_q, topk=128, fp8_ds=True, table=table, seed=3)
    assert rel_error(model_sparse_decode(case, splits), case.ref) < 1e-2


@pytest.mark.parametrize("broken", ["scale", "rope"])
def test_the_sparse_fragment_model_fails_with_a_wrong_map(broken):
    from mlacalc.kernels.testing import make_sparse_case

    case = make_sparse_case([100], heads=16, topk=64, fp8_ds=True, seed=3)
    assert rel_error(model_sparse_decode(case, 1, break_map=broken), case.ref) > 0.2


def test_sparse_cuda_refuses_cpu_tensors_and_other_rows_in_one_line():
    from mlacalc.kernels.testing import make_sparse_case

    case = make_sparse_case([100], heads=16, topk=64, fp8_ds=True, seed=3)
    with pytest.raises(KernelInputError, match="impl 'cuda' sparse decode takes an sm_90 GPU"):
        mla_decode(case.q, case.kv_cache, case.cache_seqlens, case.block_table, indices=case.indices,
                   softmax_scale=case.softmax_scale, impl="cuda")
    bf16 = make_sparse_case([100], heads=16, topk=64, seed=3)      # bf16 rows: not this kernel's
    with pytest.raises(KernelInputError, match="fp8-ds rows"):
        mla_decode(bf16.q, bf16.kv_cache, bf16.cache_seqlens, bf16.block_table, indices=bf16.indices,
                   softmax_scale=bf16.softmax_scale, impl="cuda")
    with pytest.raises(KernelInputError, match="impl"):
        mla_decode(case.q, case.kv_cache, case.cache_seqlens, case.block_table, indices=case.indices,
                   softmax_scale=case.softmax_scale, impl="eager")
