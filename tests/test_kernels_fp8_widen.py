"""CPU check of the fp8 -> bf16 widening the Gluon kernel runs in inline PTX (gluon_mla_seesaw._E4M3_TO_BF16_ASM):
the asm text is executed here by a small interpreter of the six instructions it uses, for every e4m3 byte in
every lane position, and compared with torch's own e4m3 -> float conversion (exact: every e4m3 value is a bf16)."""

import re
import struct

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton.experimental.gluon")

MASK = 0xFFFFFFFF


def _bf16_bits_to_float(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", (bits & 0xFFFF) << 16))[0]


def _float_to_bf16_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0] >> 16  # exact here: products by 2^120 of bf16 values


def _prmt(a: int, b: int, sel: int) -> int:
    pool = [(a >> (8 * i)) & 0xFF for i in range(4)] + [(b >> (8 * i)) & 0xFF for i in range(4)]
    return sum(pool[(sel >> (4 * i)) & 0x7] << (8 * i) for i in range(4))  # default mode: no sign replication


def run_asm(asm: str, x: int) -> tuple[int, int]:
    """Execute the widening asm on one 32-bit input register ($2); returns ($0, $1)."""
    regs = {"$2": x}

    def val(tok):
        tok = tok.strip()
        return int(tok, 0) if re.fullmatch(r"0x[0-9a-fA-F]+|\d+", tok) else regs[tok]

    for line in asm.strip().strip("{}").split(";"):
        line = line.strip()
        if not line or line.startswith(".reg"):
            continue
        op, rest = line.split(None, 1)
        args = [a.strip() for a in rest.split(",")]
        d, src = args[0], [val(a) for a in args[1:]]
        if op == "mov.b32":
            regs[d] = src[0]
        elif op == "prmt.b32":
            regs[d] = _prmt(*src)
        elif op == "shr.b32":
            regs[d] = (src[0] & MASK) >> src[1]
        elif op == "and.b32":
            regs[d] = src[0] & src[1]
        elif op == "or.b32":
            regs[d] = src[0] | src[1]
        elif op == "mul.rn.bf16x2":
            lanes = [_float_to_bf16_bits(_bf16_bits_to_float(src[0] >> s) * _bf16_bits_to_float(src[1] >> s)) << s
                     for s in (0, 16)]
            regs[d] = lanes[0] | lanes[1]
        else:
            raise AssertionError(f"the interpreter does not know {op}")
    return regs["$0"], regs["$1"]


def test_e4m3_to_bf16_asm_is_exact_for_every_byte_in_every_lane():
    from mlacalc.kernels.gluon_mla_seesaw import _E4M3_TO_BF16_ASM

    asm = getattr(_E4M3_TO_BF16_ASM, "value", _E4M3_TO_BF16_ASM)
    want = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float().tolist()
    for byte in range(256):
        if byte & 0x7F == 0x7F:  # e4m3fn NaN: documented to come out as +-480
            continue
        for lane in range(4):  # element i of the four sits in byte i; outputs: elements 0, 1 in $0, 2, 3 in $1
            x = byte << (8 * lane) | (0x38 << (8 * ((lane + 1) % 4)))  # a neighbour of 1.0 in the next lane
            out0, out1 = run_asm(asm, x)
            got = _bf16_bits_to_float((out0, out0 >> 16, out1, out1 >> 16)[lane])
            assert got == want[byte], (byte, lane, got, want[byte])
            assert _bf16_bits_to_float((out0, out0 >> 16, out1, out1 >> 16)[(lane + 1) % 4]) == 1.0
    # subnormals and zeros included: 0x01 = 2^-9, 0x80 = -0.0
    assert want[1] == 2.0**-9 and str(want[0x80]) == "-0.0"
