"""The seesaw kernel's online softmax with a lazy reference max (kernels/gluon_mla_seesaw._softmax_step, _rescaled,
_wg0_pair, _wg1_pair), mirrored step for step in float64 on the CPU: the GPU tests run the kernel itself
(tests/test_kernels_gpu.py::test_gluon_mla_rescaling); these check the algorithm the kernel implements.

Per pair of tiles (t0 for warp group 0, t1 for warp group 1), in the kernel's order:
  WG0: m0, l0, P0, a0 = step(S0, m, l0);  O_L = O_L * a0 + P0 V0_L
  WG1: m1, l1, P1, a1 = step(S1, m0, l1 * a0);  O_R = O_R * a0 a1 + P1 V1_R
  WG0: P0 *= a1;  l0 *= a1;  O_L = O_L * a1 + P1 V1_L
  WG1: O_R += P0 V0_R;  m = m1
and at the end O = [O_L, O_R] / (l0 + l1), LSE = m + log2(l0 + l1). With slack > 0 a row's reference max moves
only when a tile's max passes it by more than the slack, so each P is at most 2^slack and most rescales are 1.
"""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

INF = float("inf")


def step(s, m, l, slack):
    """_softmax_step in float64: scores s [rows, n] in base 2 (already scaled), reference max m, row sum l."""
    m_new = torch.maximum(m, s.max(dim=1).values)
    if slack > 0:
        m_new = torch.where(m_new > m + slack, m_new, m)
    m_use = torch.where(m_new == -INF, torch.zeros_like(m_new), m_new)
    a = torch.exp2(m - m_use)
    p = torch.exp2(s - m_use[:, None])
    return m_new, l * a + p.sum(dim=1), p, a


def seesaw(scores, values, slack, n):
    """The two groups' updates over pairs of n-key tiles. scores [rows, keys] (-inf: masked), values [keys, d]
    (d even), keys a multiple of 2 n. Returns (O, LSE, largest P handed to a P @ V, multiplies of O_L or O_R)."""
    rows, keys = scores.shape
    d = values.shape[1]
    m = torch.full((rows,), -INF, dtype=torch.float64)
    l0 = torch.zeros(rows, dtype=torch.float64)
    l1 = torch.zeros(rows, dtype=torch.float64)
    o_l = torch.zeros(rows, d // 2, dtype=torch.float64)
    o_r = torch.zeros(rows, d // 2, dtype=torch.float64)
    p_max, rescales = 0.0, 0
    for k0 in range(0, keys, 2 * n):
        s0, s1 = scores[:, k0:k0 + n], scores[:, k0 + n:k0 + 2 * n]
        v0, v1 = values[k0:k0 + n], values[k0 + n:k0 + 2 * n]
        m0, l0, p0, a0 = step(s0, m, l0, slack)
        if bool((a0 < 1).any()):  # _rescaled: skipped when every factor is exactly 1
            o_l = o_l * a0[:, None]
            rescales += 1
        o_l = o_l + p0 @ v0[:, : d // 2]
        m1, l1, p1, a1 = step(s1, m0, l1 * a0, slack)
        if bool((a0 * a1 < 1).any()):
            o_r = o_r * (a0 * a1)[:, None]
            rescales += 1
        o_r = o_r + p1 @ v1[:, d // 2:]
        if bool((a1 < 1).any()):
            p0 = p0 * a1[:, None]
            o_l = o_l * a1[:, None]
            rescales += 1
        l0 = l0 * a1
        o_l = o_l + p1 @ v1[:, : d // 2]
        o_r = o_r + p0 @ v0[:, d // 2:]
        m = m1
        p_max = max(p_max, float(p0.max()), float(p1.max()))
    l_tot = l0 + l1
    out = torch.cat([o_l, o_r], dim=1) / l_tot[:, None]
    return out, m + torch.log2(l_tot), p_max, rescales


def exact(scores, values):
    w = torch.softmax(scores * math.log(2), dim=1)  # base-2 scores
    return w @ values, torch.logsumexp(scores * math.log(2), dim=1) / math.log(2)


def test_two_tiles_worked_by_hand():
    """One row, tiles of 2 keys: S0 = [0, 1], S1 = [10, 2] (base 2), values e_k. The weights are 2^s / sum:
    [1, 2, 1024, 4] / 1031 whatever the slack. The first tile moves the max from -inf (a0 = 0: O_L and O_R are
    multiplied, by 0). Slack 8: WG1's max 10 passes WG0's 1 by 9 > 8, so the reference moves to 10 (a1 = 2^-9:
    P0 and O_L multiplied too, 3 multiplies); slack 9.5: it stays at 1, P1 = [2^9, 2^1] and a1 = 1 (2)."""
    s = torch.tensor([[0.0, 1.0, 10.0, 2.0]], dtype=torch.float64)
    v = torch.eye(4, dtype=torch.float64)
    want = torch.tensor([[1.0, 2.0, 1024.0, 4.0]], dtype=torch.float64) / 1031
    for slack, p_max, rescales in ((0.0, 1.0, 3), (8.0, 1.0, 3), (9.5, 512.0, 2)):
        out, lse, pm, n = seesaw(s, v, slack, 2)
        assert torch.allclose(out, want, rtol=1e-12)
        assert math.isclose(float(lse), math.log2(1031), rel_tol=1e-12)
        assert pm == p_max and n == rescales


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), pairs=st.integers(1, 6), rows=st.integers(1, 4),
       growth=st.floats(0.0, 6.0), spread=st.floats(0.1, 30.0), masked=st.booleans(),
       slack=st.sampled_from([0.0, 1.0, 8.0]))
def test_lazy_reference_max_is_exact(seed, pairs, rows, growth, spread, masked, slack):
    """Scores drawn with a trend (growth per pair, base 2) and spread; some keys masked (whole tiles of a row too):
    the mirror equals the exact softmax, every P stays within 2^slack (any slack > 0), and slack 0 rescales at
    least as often as slack 8."""
    g = torch.Generator().manual_seed(seed)
    n = 4
    keys = 2 * n * pairs
    trend = torch.arange(keys, dtype=torch.float64) / (2 * n) * growth
    scores = torch.randn(rows, keys, generator=g, dtype=torch.float64) * spread + trend
    if masked:
        drop = torch.rand(rows, keys, generator=g) < 0.3
        drop[:, :n] = True  # a row's first tile wholly masked: its max stays -inf through it
        drop[:, -1] = False  # every row keeps a key
        scores = scores.masked_fill(drop, -INF)
    values = torch.randn(keys, 6, generator=g, dtype=torch.float64)
    out, lse, p_max, rescales = seesaw(scores, values, slack, n)
    want, want_lse = exact(scores, values)
    assert torch.allclose(out, want, rtol=1e-9, atol=1e-12)
    assert torch.allclose(lse, want_lse, rtol=1e-9, atol=1e-9)
    assert p_max <= 2.0 ** slack * (1 + 1e-12)
    assert rescales <= seesaw(scores, values, 0.0, n)[3]
