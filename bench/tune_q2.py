"""Lab script (GPU): MLA decode with two query tokens (MTP) under each candidate tile config, beside one query token.

Why: `default_mla_config` gives s_q > 1 the general 32/32/4/3 tile ("not timed" with the tuned ones), and the
H200 validation measured deepseek-v2-lite b32 c8k q=2 at 1.63x its expected time. This times the candidates,
graph-replayed with the L2 flushed, and checks each against the float64 reference first.

    python3 bench/tune_q2.py --out $OUT/tune_q2.json
"""

from __future__ import annotations

import argparse
import json

import torch

from mlacalc.kernels.bench import eager_and_graph
from mlacalc.kernels.reference import mla_latent_attention_reference
from mlacalc.kernels.triton_mla_decode import MLADecodeConfig, mla_decode_triton
from mlacalc.profiler.timing import L2Flusher

CANDIDATES = {
    "default": None,
    "32/64/8w/3s": MLADecodeConfig(block_h=32, block_n=64, num_warps=8, num_stages=3),
    "32/32/4w/3s": MLADecodeConfig(block_h=32, block_n=32, num_warps=4, num_stages=3),
    "64/64/8w/2s": MLADecodeConfig(block_h=64, block_n=64, num_warps=8, num_stages=2),
    "64/32/4w/3s": MLADecodeConfig(block_h=64, block_n=32, num_warps=4, num_stages=3),
    "128/64/8w/1s/v2": MLADecodeConfig(block_h=128, block_n=64, num_warps=8, num_stages=1, split_v=2,
                                       prefetch_l2=True),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    flusher = L2Flusher()
    rows = []
    torch.manual_seed(0)
    for H, B, C in ((16, 32, 8192), (16, 3, 6144), (16, 80, 3072), (64, 24, 6144), (16, 8, 32768)):
        kv = torch.randn(B, C, 576, dtype=torch.bfloat16, device="cuda")
        lens = torch.full((B,), C, dtype=torch.int32, device="cuda")
        for s_q in (1, 2):
            q = torch.randn(B, s_q, H, 576, dtype=torch.bfloat16, device="cuda")
            ref = None
            for name, cfg in CANDIDATES.items():
                row = {"H": H, "B": B, "ctx": C, "s_q": s_q, "config": name}
                try:
                    out = mla_decode_triton(q, kv, lens, softmax_scale=576 ** -0.5, config=cfg)
                    if ref is None and B <= 8:
                        ref = mla_latent_attention_reference(q, kv, 512, scale=576 ** -0.5, kv_lengths=lens)
                    if ref is not None:
                        row["max_err"] = float((out.double() - ref).abs().max())
                    t = eager_and_graph(lambda: mla_decode_triton(q, kv, lens, softmax_scale=576 ** -0.5,
                                                                  config=cfg, max_seqlen=C), flusher)
                    row.update(t)
                except Exception as e:  # a config that does not compile or fails is recorded, not fatal
                    row["error"] = str(e).splitlines()[0][:200]
                rows.append(row)
                print(json.dumps(row), flush=True)
        del kv
        torch.cuda.empty_cache()
    with open(args.out, "w") as f:
        json.dump({"gpu": torch.cuda.get_device_name(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
