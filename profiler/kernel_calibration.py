"""``mlacalc calibrate --kernels``: measure a few calibration points per backend and fit the coefficients of
:mod:`mlacalc.expected` to them, to be written into the hardware YAML (``kernels:``).

Per backend, the points are chosen to pin one coefficient each, not to cover the validation suite (whose points
are held out: none of them is here):

- decode attention (``auto``, ``flashmla`` when importable): batch 1 (few SMs busy: per-SM bandwidth and the
  fixed cost), a large batch at 16 heads (the bandwidth efficiency with every SM busy) and 128 heads (the
  tensor-core efficiency); DSA's top-2048 decode on the auto kernels (from 8 heads the gather rate of the Gluon
  sparse kernel, under 8 the Triton sparse kernel's wait a tile);
- ``gemm`` (cuBLAS through torch): a token-sized and a square product;
- ``sdpa`` (causal prefill, FlashAttention through torch): prompts of 1.5k-12k tokens at head dims 64, 128, 256 and
  MLA's 192/128, so that the matmul rate (``mma_eff``) and the exponentials' share (``exp_share``), which price FLOPs
  and exponentials whose ratio is 4 d a (query, key) pair, are told apart (:func:`fit_prefill`).

The fit minimises the sum of squared log errors by coordinate descent over a grid per coefficient (a handful
of coefficients, a handful of points: no solver needed). Every calibration point is kept in the output with
``"calibration": true``.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, replace

K = 1024

# Calibration grid for decode attention. Contexts and batches sit between the validation suite's (which uses powers
# of two and round batches: profiler.validate.expected_suite), so no calibration point is a validation point; the
# grid spans what a user asks about: 16/64/128 MLA heads per GPU (DeepSeek-V3 at tp 8/2/1), batch 1-112, contexts
# 1.5k-96k, plus GQA, a paged cache, an fp8 cache and two query tokens for the auto kernels.
MLA_PAIRS = [(1, 1536), (1, 12 * K), (1, 96 * K), (2, 3 * K), (3, 24 * K), (6, 6 * K), (12, 1536), (12, 48 * K),
             (24, 12 * K), (40, 3 * K), (80, 6 * K), (112, 1536), (112, 12 * K)]
DECODE_POINTS = [dict(model="deepseek-v3", tp=tp, batch=b, context=c) for tp in (8, 2, 1) for b, c in MLA_PAIRS]
# ... and where the random points of seeds 2-4 missed (thirteenth session): 32 heads a GPU (DeepSeek-V3 at tp 4, 32-row
# tiles: long contexts ran 13-17% under the expected time, and no point had the tile) and short contexts at large
# batch (500-1,000 keys ran 15-20% over it; no point was under 1,536 keys)
DECODE_POINTS += ([dict(model="deepseek-v3", tp=4, batch=b, context=c)
                   for b, c in ((2, 56 * K), (12, 20 * K), (44, 5 * K), (150, 1280))]
                  + [dict(model="deepseek-v3", tp=tp, batch=b, context=c)
                     for tp, b, c in ((1, 150, 640), (2, 190, 896), (8, 230, 640))])
GQA_POINTS = ([dict(model="llama-3.1-8b", tp=1, batch=b, context=c)
               for b, c in ((1, 1536), (1, 3 * K), (2, 6 * K), (3, 48 * K), (6, 24 * K), (12, 1536), (24, 12 * K),
                            (48, 12 * K), (96, 3 * K))]
              + [dict(model="qwen3-235b-a22b", tp=1, batch=b, context=c)
                 for b, c in ((1, 6 * K), (12, 3 * K), (24, 24 * K), (80, 1536))]
              # ... and where the random points missed (twelfth session): a paged cache, two query tokens (16- and
              # 32-row tiles), one KV head a GPU (tp 8: many splits), MHA (a 16-row tile for one row), head dim 256
              # (one program an SM)
              + [dict(model=m, tp=tp, batch=b, context=c, paged=True)
                 for m, tp, b, c in (("llama-3.1-8b", 1, 24, 12 * K), ("qwen3-235b-a22b", 1, 12, 48 * K))]
              + [dict(model=m, tp=1, batch=b, context=c, q_tokens=2)
                 for m, b, c in (("llama-3.1-70b", 12, 6 * K), ("qwen3-235b-a22b", 24, 6 * K),
                                 ("llama-3.1-8b", 80, 3 * K))]
              + [dict(model=m, tp=8, batch=b, context=c)
                 for m, b, c in (("llama-3.1-405b", 3, 24 * K), ("llama-3.1-405b", 40, 6 * K),
                                 ("qwen2.5-72b", 6, 48 * K))]
              # ... and (thirteenth session) a paged cache at short contexts and small batch, one and two query
              # tokens (seeds 2-4: paged GQA points ran a median 7% over the expected time, 11% under 2k keys), with
              # one contiguous twin
              + [dict(model=m, tp=tp, batch=b, context=c, paged=True, q_tokens=q)
                 for m, tp, b, c, q in (("llama-3.1-8b", 1, 2, 1800, 1), ("llama-3.1-8b", 1, 60, 900, 1),
                                        ("qwen3-235b-a22b", 8, 3, 1100, 1), ("qwen3-235b-a22b", 2, 1, 20 * K, 1),
                                        ("llama-3.1-70b", 4, 4, 2200, 2), ("qwen3-235b-a22b", 4, 6, 1900, 2))]
              + [dict(model="llama-3.1-8b", tp=1, batch=60, context=900)]
              + [dict(model="llama-2-7b", tp=1, batch=b, context=c) for b, c in ((12, 6 * K), (2, 24 * K))]
              + [dict(model="variant-gqa1-256", tp=1, batch=b, context=c)
                 for b, c in ((24, 12 * K), (3, 48 * K), (112, 1536))])
# DeepSeek Sparse Attention (top-2048 rows gathered by index, the Gluon sparse kernel from 8 heads): 8 heads (GLM-5
# at tp 8), 16 (DeepSeek-V3.2 at tp 8), 64 (tp 2), 128 (tp 1), contexts under and over the top-k, two query tokens
DSA_POINTS = ([dict(model="deepseek-v3.2", tp=tp, batch=b, context=c, paged=True)
               for tp, b, c in ((8, 3, 6 * K), (8, 24, 12 * K), (8, 80, 3 * K), (2, 40, 24 * K), (1, 12, 48 * K),
                                (8, 6, 1536))]
              + [dict(model="glm-5", tp=8, batch=48, context=12 * K, paged=True),
                 dict(model="deepseek-v3.2", tp=2, batch=24, context=6 * K, paged=True, q_tokens=2)]
              # ... batch 1-2 (thirteenth session: seeds 2-4 had them 12-17% under the expected time)
              + [dict(model=m, tp=tp, batch=b, context=c, paged=True)
                 for m, tp, b, c in (("deepseek-v3.2", 8, 1, 7 * K), ("deepseek-v3.2", 2, 2, 14 * K),
                                     ("glm-5", 8, 1, 28 * K))]
              # ... and over fp8-ds rows (656 bytes: the gather group copies them, then dequantises them at the
              # widening group's rate, widen_group_gelem_s, which the dense fp8 points alone pinned before)
              + [dict(model=m, tp=tp, batch=b, context=c, paged=True, kv_dtype="fp8-ds")
                 for m, tp, b, c in (("deepseek-v3.2", 8, 56, 6 * K), ("deepseek-v3.2", 2, 40, 12 * K),
                                     ("glm-5", 8, 24, 24 * K))]
              # ... and at the batches a server runs (fourteenth session: seeds 4-7 and the held-out suite had 8-32
              # heads at batch 117-218 with 1-3 splits 12-17% under the expected time, bf16 and fp8-ds rows alike:
              # no point had more than 240 CTAs of 8-32 heads), plus batch 12 over 96 CTAs (10-13% over it)
              + [dict(model=m, tp=tp, batch=b, context=c, paged=paged, kv_dtype=kv)
                 for m, tp, b, c, paged, kv in (("deepseek-v3.2", 8, 150, 6 * K, True, "fp8-ds"),
                                                ("glm-5", 4, 100, 12 * K, True, "fp8-ds"),
                                                ("deepseek-v3.2", 2, 160, 5 * K, True, "fp8-ds"),
                                                ("glm-5", 8, 180, 12 * K, True, "bf16"),
                                                ("deepseek-v3.2", 4, 120, 16 * K, False, "bf16"),
                                                ("deepseek-v3.2", 8, 12, 20 * K, True, "bf16"))])
# ... under 8 heads, where auto runs the Triton sparse kernel (kernels/decode.py: the Gluon one from its
# AUTO_MIN_HEADS = 8) and its wait a tile (triton_gather_tile_us) is seen: 4 heads (DeepSeek-V3.2 at tp 32, GLM-5 at
# tp 16), a context under the top-k, two query tokens
TRITON_DSA_POINTS = ([dict(model="deepseek-v3.2", tp=32, batch=b, context=c, paged=True)
                      for b, c in ((3, 6 * K), (24, 12 * K), (80, 3 * K), (40, 1536))]
                     + [dict(model="glm-5", tp=16, batch=b, context=c, paged=True)
                        for b, c in ((12, 48 * K), (112, 24 * K))]
                     + [dict(model="deepseek-v3.2", tp=32, batch=24, context=6 * K, paged=True, q_tokens=2)]
                     # ... over fp8-ds rows (thirteenth session: its widening rate, sparse_dequant_gelem_s, apart
                     # from the dense Triton kernel's, whose slices also cost a fixed latency a tile)
                     + [dict(model=m, tp=tp, batch=b, context=c, paged=True, kv_dtype="fp8-ds")
                        for m, tp, b, c in (("deepseek-v3.2", 32, 24, 12 * K), ("glm-5", 16, 40, 6 * K))])
AUTO_EXTRA = ([dict(model="deepseek-v2-lite", tp=1, batch=b, context=c, paged=True)
                for b, c in ((3, 6 * K), (24, 12 * K), (80, 3 * K))]
              + [dict(model="deepseek-v3", tp=tp, batch=b, context=c, paged=True) for tp, b, c in ((1, 24, 6 * K),)]
              + [dict(model="deepseek-v2-lite", tp=1, batch=b, context=c, kv_dtype="fp8")
                 for b, c in ((3, 6 * K), (24, 12 * K), (80, 3 * K))]
              + [dict(model="deepseek-v3", tp=tp, batch=b, context=c, kv_dtype="fp8")
                 for tp, b, c in ((1, 24, 6 * K), (2, 40, 12 * K))]
              + [dict(model="deepseek-v2-lite", tp=1, batch=b, context=c, q_tokens=2)
                 for b, c in ((3, 6 * K), (24, 12 * K), (80, 3 * K))]
              + [dict(model="deepseek-v3", tp=tp, batch=b, context=c, q_tokens=2) for tp, b, c in ((2, 24, 6 * K),)]
              # MLA off the Gluon kernel's dims (MiniCPM3: kv_lora_rank 256, RoPE 32) at 40 heads and 2 x 20: the
              # Triton kernel's 64-row tile (triton_mma_eff; the random points had it at 2x the Gluon rate's time)
              + [dict(model="minicpm3-4b", tp=tp, batch=b, context=c, q_tokens=q)
                 for tp, b, c, q in ((1, 3, 24 * K, 1), (1, 24, 6 * K, 1), (1, 80, 1536, 1), (2, 12, 12 * K, 2))]
              # ... its fp8 cache (thirteenth session: the 16-row fp8 tile at r = 256 ran 24-33% over the expected time)
              + [dict(model="minicpm3-4b", tp=tp, batch=b, context=c, kv_dtype="fp8", paged=paged)
                 for tp, b, c, paged in ((8, 20, 10 * K, False), (1, 12, 5 * K, False), (8, 60, 900, True))]
              # ... and its 16-bit cache in tiles of 16 and 32 rows (tp 8, 4, 2), which no point had (fourteenth
              # session: two of these programs share an SM, mlacalc.expected.mla_resident; seeds 2-7 had them 22%
              # either side of the expected time), and short contexts at moderate batch on DeepSeek's dims (seeds
              # 3, 5: 590-1,061 keys at batch 7-44 ran 14-15% over it)
              + [dict(model="minicpm3-4b", tp=tp, batch=b, context=c, paged=paged)
                 for tp, b, c, paged in ((8, 40, 3 * K, False), (4, 120, 2 * K, True), (4, 8, 1200, False),
                                         (2, 60, 16 * K, True))]
              + [dict(model=m, tp=tp, batch=b, context=c)
                 for m, tp, b, c in (("deepseek-v3", 2, 40, 900), ("deepseek-v2", 8, 48, 700))]
              + DSA_POINTS + TRITON_DSA_POINTS)
# Causal prefill through SDPA, (model, batch, prompt): Llama-3.1-8B (32 query / 8 KV heads of 128) and
# DeepSeek-V2-Lite (MLA decompressed, 16 heads of 192 / 128), and (for the exponentials' share: one exponential a
# (query, key) pair and head whatever the head dim, against 4 d FLOPs) head dims 64 and 256 at the same 2,048 width:
# the blog ablation's MHA baseline (variant-mha, 16 heads of 128, no sliding window) with its heads and head dim
# overridden, so no calibration-only spec joins the zoo. Prompts between the validation suite's (powers of two:
# profiler.validate.expected_suite), as the decode points.
PREFILL_HEAD_DIM_64 = "variant-mha@attention.num_heads=32,attention.head_dim=64"
PREFILL_HEAD_DIM_256 = "variant-mha@attention.num_heads=8,attention.head_dim=256"
PREFILL_POINTS = ([("llama-3.1-8b", 2, 6 * K), ("llama-3.1-8b", 4, 3 * K), ("llama-3.1-8b", 1, 12 * K),
                   ("llama-3.1-8b", 12, 1536), ("deepseek-v2-lite", 2, 3 * K), ("deepseek-v2-lite", 1, 12 * K)]
                  + [(m, b, s) for m in (PREFILL_HEAD_DIM_64, PREFILL_HEAD_DIM_256)
                     for b, s in ((2, 6 * K), (4, 3 * K), (1, 12 * K), (12, 1536))])
PREFILL_LAYERS = 2      # layers a prefill calibration point runs (the attention core of each, one after another)
# (M, K, N) of torch.mm(x [M, K], w [K, N]): decode-sized (M = tokens of a step) to square, projection-shaped
GEMM_SHAPES = [(1, 4096, 4096), (4, 7168, 2048), (8, 2048, 3072), (24, 7168, 18432), (48, 1536, 24576),
               (192, 4096, 14336), (384, 7168, 576), (1024, 4096, 4096), (3072, 2048, 11264), (6144, 6144, 6144)]

GRIDS = {"bandwidth_eff": [0.55 + 0.025 * i for i in range(23)],
         "ramp_us": [0.5 * i for i in range(21)],
         "combine_us_per_split": [0.02 * i for i in range(26)],
         "small_tile_mma_eff": [0.0] + [0.05 * i for i in range(1, 21)],
         "triton_mma_eff": [0.0] + [0.05 * i for i in range(1, 21)],
         "wide_tile_mma_eff": [0.0] + [0.2 + 0.025 * i for i in range(31)],
         "gather_sm_gb_s": [0.0] + [2.5 * i for i in range(1, 41)],
         "triton_gather_tile_us": [0.0] + [0.25 * i for i in range(1, 41)],
         "segment_us": [0.25 * i for i in range(0, 41)],
         "paged_ramp_us": [0.25 * i for i in range(0, 41)],
         "widen_tile_us": [0.1 * i for i in range(0, 31)],
         "sparse_dequant_gelem_s": [0.5 * i for i in range(1, 41)],
         "dequant_gelem_s": [0.5 * i for i in range(1, 41)],
         "widen_group_gelem_s": [0.0] + [2.0 * i for i in range(1, 41)],
         "sm_bandwidth_gb_s": [10.0 * i for i in range(2, 41)],
         "mma_eff": [0.2 + 0.025 * i for i in range(31)],
         "exp_share": [0.025 * i for i in range(41)],
         "fixed_us": [0.5 * i for i in range(0, 31)],
         "min_split_tokens": [64, 128, 256, 512, 1024, 2048, 4096],
         "max_splits": [4, 8, 16, 24, 32, 48, 64, 96, 128, 1024]}


def fit(model, points: list, predict, names: tuple[str, ...], passes: int = 4, restarts: int = 0, seed: int = 0):
    """Coordinate descent: each coefficient in ``names`` over its grid, the rest held, ``passes`` times.
    ``points``: (inputs, measured seconds); ``predict(model, inputs)`` -> seconds. The coefficients are coupled
    (per-SM bandwidth, ramp and fixed cost all price a short kernel), so one descent can stop in a local minimum:
    ``restarts`` more descents start from points drawn from the grids (a seeded generator: the same data gives the
    same fit), and the lowest loss wins."""
    def loss(m):
        return sum(math.log(predict(m, x) / t) ** 2 for x, t in points)

    def descend(m):
        best = loss(m)
        for _ in range(passes):
            for name in names:
                for v in GRIDS[name]:
                    trial = replace(m, **{name: v})
                    err = loss(trial)
                    if err < best:
                        m, best = trial, err
        return m, best

    rng = random.Random(seed)
    starts = [model] + [replace(model, **{k: rng.choice(GRIDS[k]) for k in names}) for _ in range(restarts)]
    return min((descend(m) for m in starts), key=lambda r: r[1])


def _layers_spec(name: str, layers: int):
    from mlacalc.spec import load_spec

    from .predict import spec_layers

    return spec_layers(load_spec(name), layers)


def decode_shape_of(model: str, tp: int, batch: int, context: int, layers: int, kv_bits: float = 16,
                    q_tokens: int = 1, paged: bool = False):
    """The calculator's decode shape for a profiled point (the cache holds ``context`` tokens)."""
    from mlacalc.attention import family
    from mlacalc.parallel import Parallelism
    from mlacalc.step import Step, decode_shape

    spec = _layers_spec(model, layers)
    form = family(spec.attention).default_form("decode")
    step = Step("decode", batch, max(1, context - q_tokens), q_tokens, paged)
    return decode_shape(spec, step, Parallelism(tp=tp), form, kv_bits)


def point_shape(p: dict):
    """decode_shape_of for a recorded calibration point (its model, tp, batch, context, layers, q, kv dtype)."""
    from mlacalc.spec import load_spec

    from .predict import kv_dtype_bits

    bits = kv_dtype_bits(load_spec(p["model"]), p.get("kv_dtype", "bf16"))
    return decode_shape_of(p["model"], p["tp"], p["batch"], p["context"], p["layers"], bits, p.get("q_tokens", 1),
                           p.get("paged", False))


def measure_decode_points(backend: str, plist: list[dict], hw, *, layers: int = 4, flusher=None,
                          log=print) -> list[dict]:
    """Profile each calibration point (graph-timed attention core of ``layers`` layers) through ``backend``.
    Returns one record per measured point: its inputs, ``measured_s`` and the kernel's split count."""
    from .results import output_check_words, wrong_output
    from .run import PointConfig, profile_point

    out = []
    for p in plist:
        cfg = PointConfig(p["model"], "decode", backend, p["batch"], p["context"], layers=layers, tp=p["tp"],
                          q_tokens=p.get("q_tokens", 1), paged=p.get("paged", False),
                          kv_dtype=p.get("kv_dtype", "bf16"), breakdown=False, calibration=True, reps=30)
        try:
            res = profile_point(cfg, hw, flusher=flusher)
        except Exception as e:          # e.g. flashmla not importable: this point is not measured
            log(f"calibrate {backend} {cfg.key()}: {str(e).splitlines()[0][:160]}")
            continue
        if res.get("status") != "ok":
            log(f"calibrate {backend} {cfg.key()}: {res.get('status')}")
            continue
        if wrong_output(res):           # its time is of a call that computed something else: no coefficient from it
            log(f"calibrate {backend} {cfg.key()}: {output_check_words(res['output_check'])}, left out")
            continue
        out.append({"backend": backend, "key": cfg.key(), "model": p["model"], "tp": p["tp"], "batch": p["batch"],
                    "context": p["context"], "q_tokens": cfg.q_tokens, "paged": cfg.paged,
                    "kv_dtype": cfg.kv_dtype, "layers": layers, "measured_s": res["latency"]["median"],
                    "num_splits": res["predicted"].get("num_splits"), "calibration": True})
        if backend == "auto" and ran_cuda_fp8(point_shape(out[-1]), hw):
            out[-1]["impl"] = "cuda"                # priced by its own constants, out of the fit (fit_decode)
        log(f"calpoint {json.dumps(out[-1])}")      # each point on the log as it lands (a cut run keeps them)
    return out


def ran_cuda_fp8(shape, hw) -> bool:
    """Whether impl auto ran this point on the CUDA fp8 kernel: the calculator's rule (mlacalc.expected.cuda_fp8_runs)
    and a kernel this process could build (predict.cuda_fp8_buildable; else auto ran Triton)."""
    from mlacalc.expected import cuda_fp8_runs

    from .predict import cuda_fp8_buildable

    return cuda_fp8_runs(shape, hw, "auto") and cuda_fp8_buildable()


RESTARTS = 48           # extra descents from random grid points per decode backend (about 30 s of CPU each; 8 left
#                         the GQA fit in a local minimum: rms log error 0.046 where 24 or more reach 0.033)
DECODE_NAMES = ("sm_bandwidth_gb_s", "bandwidth_eff", "mma_eff", "fixed_us", "ramp_us", "combine_us_per_split",
                "dequant_gelem_s", "widen_group_gelem_s", "small_tile_mma_eff", "gather_sm_gb_s",
                "triton_gather_tile_us", "triton_mma_eff", "segment_us", "paged_ramp_us", "widen_tile_us",
                "sparse_dequant_gelem_s", "wide_tile_mma_eff")


def split_by_kernel(backend: str, recs: list[dict]) -> dict[str, list[dict]]:
    """Records grouped by the coefficient set they calibrate (mlacalc.expected.decode_backend: auto over a GQA cache
    is the ``gqa`` kernel)."""
    from mlacalc.attention import family
    from mlacalc.expected import decode_backend
    from mlacalc.spec import load_spec

    out: dict[str, list[dict]] = {}
    for r in recs:
        own = decode_backend(backend, family(load_spec(r["model"]).attention).kernel)
        out.setdefault(own, []).append(r)
    return out


def fitted_names(backend: str, recs: list[dict], shapes: list, hw) -> tuple[str, ...]:
    """The decode coefficients (DECODE_NAMES) that ``backend``'s records can pin, the rest kept at their start: the
    widening rates need 8-bit caches (in-program: tiles under 64 rows, and its cost a tile keys of two widths; a warp
    group's: 64 or more, or fp8-ds rows the Gluon sparse kernel gathers, on the backends that run the Gluon kernels;
    the Triton sparse kernel's: fp8-ds rows it gathers), a paged wait paged GQA points, FlashMLA's cost a request
    segment its points, the small-tile rate tiles under 64
    rows, the gather rate rows gathered by the Gluon sparse kernel, the wait a tile rows gathered by the Triton
    sparse kernel (DSA under 8 heads on auto), the Triton kernels' rate at 64+ rows their tiles of that size (dense
    MLA off the Gluon kernel, e.g. MiniCPM3's dims; the sparse kernel from 65 heads), the Gluon kernel's 64-key
    tile's rate points of more than 64 rows over a 16-bit cache on it."""
    from mlacalc.expected import (DEFAULTS, PLANNERS, KernelModel, gluon_wide_tile, runs_gluon, sparse_group,
                                  triton_sparse_runs, triton_sparse_tiling, triton_wide_tile, widens)

    start = DEFAULTS.get(backend, KernelModel())
    gluon = runs_gluon(backend, hw)
    ds_rows = any(sparse_group(shape, gluon) and widens(shape) for shape in shapes)  # fp8-ds rows, Gluon sparse
    dense_fp8 = [(shape.rows, shape.key_elems) for shape, r in zip(shapes, recs) if r.get("kv_dtype") == "fp8"]
    fp8_rows = [rows for rows, _ in dense_fp8]
    pinned = {"segment_us": PLANNERS.get(backend) == "flashmla",
              "widen_tile_us": len({elems for rows, elems in dense_fp8 if rows < 64}) > 1,
              "sparse_dequant_gelem_s": any(triton_sparse_runs(shape, gluon) and widens(shape) for shape in shapes),
              "paged_ramp_us": any(shape.paged and shape.kernel == "gqa" for shape in shapes),
              "dequant_gelem_s": any(n < 64 for n in fp8_rows),
              "widen_group_gelem_s": gluon and (any(n >= 64 for n in fp8_rows) or ds_rows),
              "small_tile_mma_eff": start.min_rows_per_cta < 64,
              "gather_sm_gb_s": any(sparse_group(shape, gluon) for shape in shapes),
              "wide_tile_mma_eff": PLANNERS.get(backend) == "cost" and any(gluon_wide_tile(shape, gluon)
                                                                          for shape in shapes),
              "triton_gather_tile_us": any(triton_sparse_runs(shape, gluon) for shape in shapes),
              "triton_mma_eff": PLANNERS.get(backend) == "cost" and any(
                  triton_wide_tile(shape, gluon) or (triton_sparse_runs(shape, gluon)
                                                     and triton_sparse_tiling(shape.heads, widens(shape)).rows >= 64)
                  for shape in shapes)}
    return tuple(n for n in DECODE_NAMES if pinned.get(n, True))


def fit_decode(backend: str, recs: list[dict], hw, only: tuple[str, ...] | None = None) -> tuple:
    """Fit ``backend``'s decode coefficients to measured calibration records (measure_decode_points); each record
    gains ``fitted_s``. Returns (KernelModel, rms log error). The split planner is the backend's own
    (mlacalc.expected.PLANNERS), so the split counts are not fitted; only what the records pin is
    (:func:`fitted_names`). ``only``: fit just those coefficients (of the pinned ones), every other held at
    ``hw``'s own (its calibrated YAML, else the defaults scaled to it), with no restarts; (None, None) when the
    records pin none of them."""
    from mlacalc.expected import (DEFAULTS, PLANNERS, KernelModel, cuda_fp8_decode_s, decode_attention_s, kernel_model,
                                  runs_gluon)

    peak16 = hw.flops_per_s(16)
    planner = PLANNERS.get(backend, "waves")
    # points impl auto ran on the CUDA fp8 kernel (marked by measure_decode_points) are priced by its own constants
    # (cuda_fp8_decode_s): they pin none of the Triton/Gluon coefficients, so they stay out of the fit
    for r in recs:
        if r.get("impl") == "cuda":
            r["fitted_s"] = cuda_fp8_decode_s(point_shape(r), hw)
    recs = [r for r in recs if r.get("impl") != "cuda"]
    if not recs:
        return None, None
    pts = [(point_shape(r), r["measured_s"]) for r in recs]

    def pred(m, shape):
        return decode_attention_s(shape, hw, m, peak16, planner, runs_gluon(backend, hw))

    names = fitted_names(backend, recs, [shape for shape, _ in pts], hw)
    if only is not None:
        names = tuple(n for n in names if n in only)
        if not names:
            return None, None
        m, err = fit(kernel_model(hw, backend), pts, pred, names)
    else:
        # the descent starts from KernelModel's own values for what it fits, not from DEFAULTS (which are restated
        # from the fits: starting there, a restatement would move the next fit of the same points to another of the
        # near-equal minima these coefficients have); planner fields and unpinned coefficients keep the defaults
        neutral = KernelModel()
        start = replace(DEFAULTS.get(backend, neutral), **{n: getattr(neutral, n) for n in names})
        m, err = fit(start, pts, pred, names, restarts=RESTARTS)
    for r, (shape, _) in zip(recs, pts):
        r["fitted_s"] = pred(m, shape)
    return m, math.sqrt(err / len(pts))


PREFILL_NAMES = ("mma_eff", "fixed_us", "exp_share")
PREFILL_RESTARTS = 64   # extra descents from random grid points: one descent over the coupled mma_eff, exp_share and
#                         fixed_us stopped at a near miss on synthetic points (0.475 for 0.45); 48 found the exact one


@dataclass(frozen=True)
class PrefillInputs:
    """What the expected time of one prefill calibration point reads (mlacalc.expected.prefill_attention_s), over its
    layers: FLOPs, softmax exponentials, HBM bytes and launches of the attention core, and the prompt's tokens."""

    flops: float
    exps: float
    nbytes: float
    launches: float
    prompt: int


def prefill_inputs(rec: dict, hw) -> PrefillInputs:
    """The calculator's attention core for a recorded prefill point (``model``, ``batch``, ``context``, ``layers``),
    as the profiler predicted it when it ran (profiler.run.plan_inference: the same path as profile_point)."""
    from mlacalc.spec import load_spec

    from .run import PointConfig, plan_inference

    cfg = PointConfig(rec["model"], "prefill", "sdpa", rec["batch"], rec["context"],
                      layers=rec.get("layers", PREFILL_LAYERS), breakdown=False, calibration=True)
    spec = load_spec(cfg.model)
    cfg.validate(spec)
    attn = plan_inference(cfg, spec, hw, getattr(hw, "sms", 0) or 132).attn
    return PrefillInputs(attn.flops, attn.exps, attn.bytes, attn.launches, cfg.context)


def prefill_dims(inputs: list[PrefillInputs]) -> set[float]:
    """The FLOPs a point computes per exponential (4 d for MHA of head dim d, 2 (d_k + d_v) for MLA's), rounded:
    the points pin the exponentials' share apart from the matmul rate only where there are two or more."""
    return {round(x.flops / x.exps) for x in inputs if x.exps}


def fit_prefill(recs: list[dict], hw, start=None, names: tuple[str, ...] | None = None) -> tuple:
    """Fit the ``sdpa`` coefficients (``names``; default ``mma_eff``, ``fixed_us`` and, where the points span more
    than one FLOPs per exponential, ``exp_share``) to measured prefill records (``model``, ``batch``, ``context``,
    ``layers``, ``measured_s``), the bandwidth efficiency held at ``start``'s (default: the "other" defaults' 0.8, as
    the calibration always did, with exp_share 0); each record gains ``fitted_s``. Seeded restarts: the same records
    give the same fit. Returns (KernelModel, rms log error, the names fitted)."""
    from mlacalc.expected import DEFAULTS, prefill_attention_s

    peak16 = hw.flops_per_s(16)
    pts = [(prefill_inputs(r, hw), r["measured_s"]) for r in recs]
    if names is None:
        names = PREFILL_NAMES if len(prefill_dims([x for x, _ in pts])) > 1 else PREFILL_NAMES[:2]
    start = replace(DEFAULTS["other"], exp_share=0.0) if start is None else start

    def pred(m, x: PrefillInputs) -> float:
        return prefill_attention_s(x.flops, x.exps, x.nbytes, x.launches, x.prompt, hw, m, peak16)

    m, err = fit(start, pts, pred, names, restarts=PREFILL_RESTARTS)
    for r, (x, _) in zip(recs, pts):
        r["fitted_s"] = pred(m, x)
    return m, math.sqrt(err / len(pts)), names


def measure_prefill_points(hw, points=None, *, layers: int = PREFILL_LAYERS, reps: int = 20, flusher=None,
                           breakdown: bool = False, log=print) -> list[dict]:
    """Profile each prefill calibration point (``points``: (model, batch, prompt), default :data:`PREFILL_POINTS`)
    through SDPA, ``layers`` layers, graph-timed as profile_point times every point. Returns one record per measured
    point: its inputs, ``measured_s``, the calculator's FLOPs, exponentials and bytes, and (``breakdown``) the
    kernels SDPA launched."""
    from .run import PointConfig, profile_point

    out = []
    for model, b, s in (PREFILL_POINTS if points is None else points):
        cfg = PointConfig(model, "prefill", "sdpa", b, s, layers=layers, breakdown=breakdown, calibration=True,
                          reps=reps)
        res = profile_point(cfg, hw, flusher=flusher)
        if res.get("status") != "ok":
            log(f"calibrate sdpa {cfg.key()}: {res.get('status')}")
            continue
        pred = res["predicted"]["attn_core"]
        rec = {"backend": "sdpa", "key": cfg.key(), "model": model, "batch": b, "context": s, "layers": layers,
               "measured_s": res["latency"]["median"], "flops": pred["flops"], "exps": pred.get("exps", 0.0),
               "bytes": pred["bytes"], "expected_s": pred["expected_s"], "calibration": True}
        if breakdown:
            rec["kernels"] = [k["name"] for k in res.get("kernels", [])][:3]
        out.append(rec)
        log(f"calpoint {json.dumps(rec)}")
    return out


def calibrate_kernels(hw, *, layers: int = 4, log=print) -> dict:
    """Measure the calibration points on this GPU and fit each backend. Returns
    ``{"kernels": {backend: coefficients}, "points": [...]}``; ``hw`` is this card's measured spec (copy
    bandwidth, peaks, SMs)."""
    import torch

    from mlacalc.expected import DEFAULTS, gemm_s

    from .timing import L2Flusher, time_cuda

    flusher = L2Flusher()
    peak16 = hw.flops_per_s(16)
    out_points, kernels = [], {}

    for kernel, plist in (("auto", DECODE_POINTS + AUTO_EXTRA + GQA_POINTS), ("flashmla", DECODE_POINTS)):
        recs = measure_decode_points(kernel, plist, hw, layers=layers, flusher=flusher, log=log)
        out_points += recs
        for backend, own in split_by_kernel(kernel, recs).items():
            if len(own) >= 3:
                m, err = fit_decode(backend, own, hw)
                if m is not None:
                    kernels[backend] = m
                    log(f"calibrate {backend}: {m.to_dict()} (rms log error {err:.3f})")

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

    # causal prefill attention through SDPA (FlashAttention), as the profiler runs it: 2 layers, at several head dims
    prefill_recs = measure_prefill_points(hw, flusher=flusher, log=log)
    out_points += prefill_recs
    if prefill_recs:
        kernels["sdpa"], err, names = fit_prefill(prefill_recs, hw)
        log(f"calibrate sdpa: {kernels['sdpa'].to_dict()} (fitted {', '.join(names)}; rms log error {err:.3f})")
    del flusher
    torch.cuda.empty_cache()
    return {"kernels": {k: m.to_dict() for k, m in kernels.items()}, "points": out_points}
