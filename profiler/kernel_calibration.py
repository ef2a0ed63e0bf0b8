"""``mlacalc calibrate --kernels``: measure a few calibration points per backend and fit the coefficients of
:mod:`mlacalc.expected` to them, to be written into the hardware YAML (``kernels:``).

Per backend, the points are chosen to pin one coefficient each, not to cover the validation suite (whose points
are held out: none of them is here):

- decode attention (``auto``, ``flashmla`` when importable): batch 1 (few SMs busy: per-SM bandwidth and the
  fixed cost), a large batch at 16 heads (the bandwidth efficiency with every SM busy) and 128 heads (the
  tensor-core efficiency);
- ``gemm`` (cuBLAS through torch): a token-sized and a square product;
- ``sdpa`` (causal prefill, FlashAttention through torch): one long prompt.

The fit minimises the sum of squared log errors by coordinate descent over a grid per coefficient (a handful
of coefficients, a handful of points: no solver needed). Every calibration point is kept in the output with
``"calibration": true``.
"""

from __future__ import annotations

import math
from dataclasses import replace

K = 1024

# (model, tp, batch, context): calibration points for decode attention (validation never uses these shapes)
DECODE_POINTS = [("deepseek-v3", 8, 1, 6 * K), ("deepseek-v3", 8, 96, 6 * K), ("deepseek-v3", 1, 48, 3 * K),
                 ("deepseek-v3", 2, 24, 12 * K)]
GQA_POINTS = [("llama-3.1-8b", 1, 2, 6 * K), ("llama-3.1-8b", 1, 48, 12 * K)]
GEMM_SHAPES = [(4, 7168, 2048), (24, 7168, 18432), (192, 4096, 14336), (6144, 6144, 6144)]
PREFILL_POINT = ("llama-3.1-8b", 2, 6 * K)

GRIDS = {"bandwidth_eff": [0.55 + 0.025 * i for i in range(19)],
         "sm_bandwidth_gb_s": [10.0 * i for i in range(2, 41)],
         "mma_eff": [0.2 + 0.025 * i for i in range(31)],
         "fixed_us": [0.5 * i for i in range(0, 31)]}


def fit(model, points: list, predict, names: tuple[str, ...], passes: int = 4):
    """Coordinate descent: each coefficient in ``names`` over its grid, the rest held, ``passes`` times.
    ``points``: (inputs, measured seconds); ``predict(model, inputs)`` -> seconds."""
    def loss(m):
        return sum(math.log(predict(m, x) / t) ** 2 for x, t in points)

    best = loss(model)
    for _ in range(passes):
        for name in names:
            for v in GRIDS[name]:
                trial = replace(model, **{name: v})
                err = loss(trial)
                if err < best:
                    model, best = trial, err
    return model, best


def _layers_spec(name: str, layers: int):
    from mlacalc.spec import load_spec

    from .predict import spec_layers

    return spec_layers(load_spec(name), layers)


def decode_shape_of(model: str, tp: int, batch: int, context: int, layers: int, kv_bits: float = 16):
    """The calculator's decode shape for a profiled point (the cache holds ``context`` tokens, q = 1)."""
    from mlacalc.attention import family
    from mlacalc.parallel import Parallelism
    from mlacalc.step import Step, decode_shape

    spec = _layers_spec(model, layers)
    form = family(spec.attention).default_form("decode")
    return decode_shape(spec, Step("decode", batch, max(1, context - 1)), Parallelism(tp=tp), form, kv_bits)


def calibrate_kernels(hw, *, layers: int = 4, log=print) -> dict:
    """Measure the calibration points on this GPU and fit each backend. Returns
    ``{"kernels": {backend: coefficients}, "points": [...]}``; ``hw`` is this card's measured spec (copy
    bandwidth, peaks, SMs)."""
    import torch

    from mlacalc.expected import DEFAULTS, KernelModel, decode_attention_s, gemm_s, other_s

    from .run import PointConfig, profile_point
    from .timing import L2Flusher, time_cuda

    flusher = L2Flusher()
    peak16 = hw.flops_per_s(16)
    out_points, kernels = [], {}

    def decode_points(kernel: str, plist) -> list:
        pts = []
        for model, tp, b, c in plist:
            cfg = PointConfig(model, "decode", kernel, b, c, layers=layers, tp=tp, breakdown=False,
                              calibration=True, reps=30)
            try:
                res = profile_point(cfg, hw, flusher=flusher)
            except Exception as e:          # e.g. flashmla not importable: this backend is not calibrated
                log(f"calibrate {kernel}: {str(e).splitlines()[0][:160]}")
                return []
            if res.get("status") != "ok":
                continue
            t = res["latency"]["median"]
            shape = decode_shape_of(model, tp, b, c, layers)
            pts.append((shape, t))
            out_points.append({"backend": kernel, "model": model, "tp": tp, "batch": b, "context": c,
                               "layers": layers, "measured_s": t, "calibration": True})
        return pts

    def pred_decode(m, shape):
        return decode_attention_s(shape, hw, m, peak16)

    names = ("sm_bandwidth_gb_s", "bandwidth_eff", "mma_eff", "fixed_us")
    for kernel, plist in (("auto", DECODE_POINTS + GQA_POINTS), ("flashmla", DECODE_POINTS)):
        pts = decode_points(kernel, plist)
        if len(pts) >= 3:
            m, err = fit(DEFAULTS.get(kernel, KernelModel()), pts, pred_decode, names)
            kernels[kernel] = m
            log(f"calibrate {kernel}: {m.to_dict()} (rms log error {math.sqrt(err / len(pts)):.3f})")
            for p, (shape, t) in zip([p for p in out_points if p["backend"] == kernel], pts):
                p["fitted_s"] = pred_decode(m, shape)

    # GEMMs through cuBLAS
    gemm_pts = []
    for M, Kd, N in GEMM_SHAPES:
        x = torch.randn(M, Kd, dtype=torch.bfloat16, device="cuda")
        w = torch.randn(Kd, N, dtype=torch.bfloat16, device="cuda")
        t = time_cuda(lambda: torch.mm(x, w), warmup=3, reps=30, flusher=flusher).median
        inputs = (2.0 * M * Kd * N, 2.0 * (M * Kd + Kd * N + M * N), M)
        gemm_pts.append((inputs, t))
        out_points.append({"backend": "gemm", "shape": [M, Kd, N], "measured_s": t, "calibration": True})
        del x, w

    def pred_gemm(m, inputs):
        flops, nbytes, rows = inputs
        return gemm_s(flops, nbytes, rows, 1, hw, m, peak16)

    kernels["gemm"], _ = fit(DEFAULTS["gemm"], gemm_pts, pred_gemm, ("bandwidth_eff", "mma_eff", "fixed_us"))

    # causal prefill attention through SDPA (FlashAttention)
    model, b, s = PREFILL_POINT
    spec = _layers_spec(model, 1)
    a = spec.attention
    q = torch.randn(b, a.num_heads, s, a.qk_head_dim, dtype=torch.bfloat16, device="cuda")
    kv = torch.randn(b, a.num_heads, s, a.qk_head_dim, dtype=torch.bfloat16, device="cuda")
    f = torch.nn.functional.scaled_dot_product_attention
    t = time_cuda(lambda: f(q, kv, kv, is_causal=True), warmup=3, reps=20, flusher=flusher).median
    flops = 2.0 * b * a.num_heads * s * (s + 1) / 2 * (a.qk_head_dim + a.v_head_dim)
    nbytes = 2.0 * b * a.num_heads * s * a.qk_head_dim * 4
    kernels["sdpa"], _ = fit(DEFAULTS["other"], [((flops, nbytes), t)],
                             lambda m, x: other_s(x[0], x[1], 1, hw, m, peak16), ("mma_eff",))
    out_points.append({"backend": "sdpa", "model": model, "batch": b, "context": s, "measured_s": t,
                       "calibration": True})
    del q, kv, flusher
    torch.cuda.empty_cache()
    return {"kernels": {k: m.to_dict() for k, m in kernels.items()}, "points": out_points}
