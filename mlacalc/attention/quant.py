"""Scaled KV-cache layouts: 4- and 8-bit values stored with the scales (and zero points) that decode them.

A quantized cache stores more than its values. What ``--kv-dtype`` names, as the engines that serve it lay it out:

- ``int4`` / ``int8``: LMDeploy's online KV quantization (``quant_policy=4`` / ``8``; docs
  ``quantization/kv_quant.md``: "per-head per-token asymmetric"). ``lmdeploy/pytorch/engine/cache_engine.py``
  allocates the values as uint8, ``head_dim / 2`` bytes a head at int4 (two values packed a byte), ``head_dim`` at
  int8, plus a ``key_sz_cache`` / ``val_sz_cache`` of shape ``[..., block, kv_heads, 2]`` at the model dtype: one
  scale and one zero point (2 B each) per KV head and token, for K and for V apart. Llama-3.1-8B (8 KV heads of
  128) per token and layer at int4: ``8 * 128 * 2 * 0.5 = 1024`` B of values + ``8 * 2 * (2 + 2) = 64`` B = 1088 B.
- ``fp4``: SGLang's ``fp4_e2m1`` KV cache (``mem_cache/memory_pool.py``, ``MHATokenToKVPoolFP4``): e2m1 values two
  a byte, ``(m, heads, head_dim // 2)`` uint8, and ``k_scale_buffer`` / ``v_scale_buffer`` of ``(m, heads *
  head_dim // 16)`` uint8: one 8-bit scale per 16 values (``scale_block_size = 16``). Llama-3.1-8B: 1024 + 2 * 8 *
  128 / 16 = 1152 B. For MLA (``MLATokenToKVPoolFP4``) the one 576-wide row of latent and RoPE key is stored the
  same way: 288 B of values and 36 scale bytes.

MLA's latent belongs to no head, so a per-head scale has nothing to attach to: no engine found offers LMDeploy's
int4/int8 layout for an MLA latent (its MLA models run at bf16 or fp8), and they are refused there rather than
guessed; ``fp4`` (SGLang's MLA pool) and ``--kv-bits 4`` (flat bits, no scales) remain. vLLM has no int8 or int4
KV cache (its ``--kv-cache-dtype`` is auto, bf16, fp8 variants). TensorRT-LLM's int8 KV cache has one scale per
tensor: that is ``--kv-bits 8`` (values only). ``fp8`` stays flat: vLLM's and SGLang's fp8 caches keep one scale
per layer (``k_scale``, ``v_scale``), which is no bytes per token.
"""

from __future__ import annotations

import math

INT4 = "int4"
INT8 = "int8"
FP4 = "fp4"
SCALED = (INT4, INT8, FP4)
VALUE_BITS = {INT4: 4, INT8: 8, FP4: 4}          # bits per stored value

SCALE_ZERO_BYTES = 2 + 2     # LMDeploy: a scale and a zero point at the model dtype (bf16/fp16) per head and token
FP4_GROUP = 16               # SGLang fp4_e2m1: values per scale
FP4_SCALE_BYTES = 1          # SGLang fp4_e2m1: an 8-bit scale (uint8 buffer)


def head_rows_bytes(rows: int, width: int, fmt: str) -> tuple[float, float]:
    """(value bytes, scale bytes) of ``rows`` vectors of ``width`` values (a token's K or V: one row per KV head)
    in layout ``fmt``. int4/int8 (LMDeploy): ``rows * width * bits / 8`` and ``4`` B (scale + zero) a row; fp4
    (SGLang): ``rows * width / 2`` and one byte per 16 values of the row (rounded up a row)."""
    values = rows * width * VALUE_BITS[fmt] / 8
    if fmt == FP4:
        return values, rows * math.ceil(width / FP4_GROUP) * FP4_SCALE_BYTES
    return values, (rows * SCALE_ZERO_BYTES if width else 0)
