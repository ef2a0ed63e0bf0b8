"""Lab script (CPU, arithmetic only): the bytes the Gluon seesaw MLA decode moves through shared memory a tile, fp8
cache (TMA copy widened in place) beside bf16, and what that traffic alone costs at a shared-memory rate of 128 bytes
a clock an SM. The figures docs/kernels-notes.md ("Why the fp8 target is out of this tile's reach") and README.md
quote: 221,184 against 184,320 bytes a 32-key tile at 64 heads; 0.87-0.98 ms at 128 x 32k x 64 heads on 132 SMs at
1.98-1.75 GHz, against the 0.96 ms that 1.3x of the fp8 floor (FLOPs / 789 TFLOP/s) allows.

    python bench/fp8_smem_traffic.py [--batch 128 --context 32768 --heads 64 --sms 132]
"""

from __future__ import annotations

import argparse

D_LAT, D_ROPE = 512, 64          # DeepSeek's MLA latent and RoPE widths
SMEM_BYTES_PER_CLOCK = 128       # an SM's shared-memory bandwidth, bytes a clock (Hopper)


def tile_bytes(heads: int = 64, keys: int = 32, fp8: bool = True) -> dict[str, int]:
    """Bytes through shared memory for one tile of `keys` keys, one CTA of `heads` query rows (the seesaw kernel,
    kernels/gluon_mla_seesaw.py): the score wgmma reads all of Q (16-bit) and the tile's keys; the PV wgmmas read the
    tile's 512 value columns once (each compute group its half) and P (16-bit, handed over through shared memory);
    the copy writes the tile (bf16: 2 bytes a value; fp8: 1, then the widening group reads those bytes and writes
    them back as fp16)."""
    dk = D_LAT + D_ROPE
    parts = dict(q_reads=heads * dk * 2, key_reads=keys * dk * 2, value_reads=keys * D_LAT * 2,
                 p_handover=heads * keys * 2, copy_write=keys * dk * (1 if fp8 else 2))
    if fp8:
        parts["widen_read_write"] = keys * dk * (1 + 2)
    return parts


def traffic_ms(batch: int, context: int, heads: int, sms: int, clock_ghz: float, fp8: bool = True,
               keys: int = 32) -> float:
    """Milliseconds the shared-memory traffic alone takes: tiles an SM (batch x context / keys / sms, one CTA a head
    block of 64 rows) x bytes a tile / (128 bytes a clock x clock)."""
    head_blocks = -(-heads // 64)
    tiles_per_sm = batch * context / keys * head_blocks / sms
    per_tile = sum(tile_bytes(min(heads, 64), keys, fp8).values())
    return tiles_per_sm * per_tile / SMEM_BYTES_PER_CLOCK / (clock_ghz * 1e9) * 1e3


def floor_ms(batch: int, context: int, heads: int, matmul_tflops: float = 789.0) -> float:
    """The fp8 floor at 64+ heads: the tensor cores' time, 2 x heads x (576 + 512) FLOPs a key (scores and PV) over
    the measured bf16/fp16 rate (789 TFLOP/s on the H200: reports/h200/kernels.json ceilings)."""
    return 2 * heads * (D_LAT + D_ROPE + D_LAT) * batch * context / (matmul_tflops * 1e12) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--context", type=int, default=32768)
    ap.add_argument("--heads", type=int, default=64)
    ap.add_argument("--sms", type=int, default=132)
    a = ap.parse_args()
    for fp8 in (True, False):
        parts = tile_bytes(min(a.heads, 64), fp8=fp8)
        print(f"{'fp8' if fp8 else 'bf16'} tile: " + ", ".join(f"{k} {v:,}" for k, v in parts.items())
              + f"; total {sum(parts.values()):,} bytes")
        print("  traffic alone: " + ", ".join(f"{traffic_ms(a.batch, a.context, a.heads, a.sms, g, fp8):.3f} ms "
                                              f"at {g} GHz" for g in (1.98, 1.75)))
    fl = floor_ms(a.batch, a.context, a.heads)
    print(f"fp8 floor {fl:.3f} ms; 1.3x of it {1.3 * fl:.3f} ms")


if __name__ == "__main__":
    main()
