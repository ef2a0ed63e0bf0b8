"""Lab script: the expected-time model at decode points nobody chose -- drawn at random (seeded) over real models,
tensor-parallel degrees, batches, contexts, paged or not, bf16 / fp8 / fp8-ds caches and one or two query tokens --
then measured like `mlacalc validate`'s points (4 real layers, CUDA-graph timed, L2 flushed). The held-out suite
(`--suite expected`) was chosen by hand; these are not, so they show how the model generalises (no coefficient is
fitted to them).

    python bench/random_points.py --seed 1 --n 40 --dry                 # CPU: the drawn points and their predictions
    python3 bench/random_points.py --seed 1 --n 40 --out DIR --gpu HW   # GPU: validate.json / .md under DIR
    (--wide: over WIDE_MODELS too: other head dims and head counts; the default list draws what it always drew)

Points whose cache would not fit in --max-gib (4 layers) are redrawn; points the profiler refuses (a family its
kernels do not run) are dropped before the GPU sees them, and listed.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware
from mlacalc.spec import load_spec
from mlacalc.profiler.run import PointConfig, plan_inference

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "hf"
# built-in specs and real config.json files (tests/fixtures/hf) people deploy: MLA (dense and DSA), GQA, MHA, MoE
MODELS = ["deepseek-v3", "deepseek-v3.2", "deepseek-v2", "deepseek-v2-lite", "kimi-k2", "glm-5", "minicpm3-4b",
          "llama-3.1-8b", "llama-3.1-70b", "qwen2.5-72b", "qwen3-235b-a22b", "mistral-7b", "mixtral-8x7b",
          "llama-2-7b", "qwen2.5-7b", str(FIXTURES / "kimi_k2_thinking"), str(FIXTURES / "glm_4_6"),
          str(FIXTURES / "minimax_m2"), str(FIXTURES / "qwen3_32b"), str(FIXTURES / "phi_4")]
# --wide adds shapes the list above lacks (it stays as it is, so the committed seeds draw the same points): head dims
# that are no power of two (Phi-3.5-mini and GPT-NeoX-20B 96, Phi-2 80), 256 (Gemma-2), odd head counts (Falcon-7B's
# 71 query heads over one KV head, StarCoder2's groups of 9)
WIDE_MODELS = [str(FIXTURES / m) for m in ("phi_3_5_mini", "phi_2", "gpt_neox_20b", "gemma_2_2b", "falcon_7b",
                                           "starcoder2_7b", "exaone_3_5_32b")]


def log_uniform_int(rng: random.Random, lo: int, hi: int) -> int:
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def draw(rng: random.Random, hw, max_bytes: int, models: list[str] = MODELS) -> PointConfig | None:
    """One random decode point over `models`, or None when the draw is not a valid point for the profiler."""
    model = rng.choice(models)
    spec = load_spec(model)
    mla = spec.attention.kind == "mla"
    dsa = getattr(spec.attention, "index_topk", None)
    kv = "bf16"
    if dsa and rng.random() < 0.4:
        kv = "fp8-ds"
    elif mla and not dsa and rng.random() < 0.25:
        kv = "fp8"
    cfg = PointConfig(model, "decode", "auto", batch=log_uniform_int(rng, 1, 256),
                      context=log_uniform_int(rng, 512, 131072), layers=4, tp=rng.choice([1, 2, 4, 8]),
                      paged=rng.random() < 0.5, kv_dtype=kv, q_tokens=2 if rng.random() < 0.15 else 1,
                      breakdown=False, label="random")
    try:
        cfg.validate(spec)
        plan = plan_inference(cfg, spec, hw, sm90=True)
    except SpecError:
        return None
    if plan.peak_bytes > max_bytes:
        return None
    return cfg


def draw_points(seed: int, n: int, hw, max_bytes: int, wide: bool = False) -> list[PointConfig]:
    rng = random.Random(seed)
    models = MODELS + WIDE_MODELS if wide else MODELS
    pts: dict[str, PointConfig] = {}     # by key: a point drawn twice is measured once
    while len(pts) < n:
        cfg = draw(rng, hw, max_bytes, models)
        if cfg is not None:
            pts.setdefault(cfg.key(), cfg)
    return list(pts.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--gpu", default="reports/h200/h200.yaml", help="hardware spec (a calibrated one)")
    ap.add_argument("--max-gib", type=float, default=40.0, help="largest cache + workspace a point may hold")
    ap.add_argument("--out", help="folder for validate.json / validate.md (GPU run)")
    ap.add_argument("--dry", action="store_true", help="list the points and their expected times (CPU)")
    ap.add_argument("--wide", action="store_true", help="draw over WIDE_MODELS too (other head dims and counts)")
    a = ap.parse_args()
    try:
        hw = load_hardware(a.gpu)
    except SpecError as e:
        print(f"random_points: {e}", file=sys.stderr)
        return 2
    pts = draw_points(a.seed, a.n, hw, int(a.max_gib * 2**30), a.wide)
    if a.dry or not a.out:
        for p in pts:
            plan = plan_inference(p, load_spec(p.model), hw, sm90=True)
            print(f"{p.key():<90} expected {plan.attn.expected_s * 1e6:9.1f} us  splits {plan.num_splits}")
        return 0
    import torch

    if not torch.cuda.is_available():
        print("random_points: --out measures on a CUDA GPU, and none is visible (--dry lists the points on a CPU)",
              file=sys.stderr)
        return 2
    from mlacalc.profiler.validate import run_validate

    run_validate(a.out, a.gpu, points=pts, suite_name="random",
                 command=f"python3 bench/random_points.py --seed {a.seed} --n {a.n} --out {a.out} --gpu {a.gpu}"
                 + (" --wide" if a.wide else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
