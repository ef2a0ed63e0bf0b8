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
guessed; ``fp4`` (SGLang's MLA pool) and ``--kv-bits 4`` (flat bits, no scales) remain. vLLM's int8 and int4 KV
caches are recent and per token and head (``int8_per_token_head``, ``int4_per_token_head`` in
``vllm/utils/torch_utils.py``); their scale layout is not modelled here. TensorRT-LLM's int8 KV cache has one scale per
tensor: that is ``--kv-bits 8`` (values only). ``fp8`` stays flat: vLLM's and SGLang's fp8 caches keep one scale
per layer (``k_scale``, ``v_scale``), which is no bytes per token.

- ``nvfp4``: vLLM's NVFP4 KV cache, the one an NVIDIA ModelOpt checkpoint declares with ``kv_cache_quant_algo:
  NVFP4`` (``vllm/utils/torch_utils.py``: ``MODELOPT_TO_VLLM_KV_CACHE_DTYPE_MAP`` maps ``nvfp4`` to ``nvfp4``;
  ``nvfp4_kv_cache_full_dim(head_size) = head_size // 2 + head_size // 16``: e2m1 values two a byte and one fp8
  e4m3 scale per 16 values, per head, for K and V; one fp32 global scale per layer is no bytes per token). The same
  bytes as ``fp4`` on a conventional cache (Llama-3.1-8B: 1152 B); vLLM refuses it for MLA models
  (``VllmConfig.validate_nvfp4_kv_cache_with_mla``), and so does this tool.

Which layout a dtype name means is decided in one place, :func:`kv_dtype_layout`, whether the name comes from
``--kv-dtype``, from a spec's ``dtypes.kv`` or from a checkpoint's declared KV cache (:mod:`mlacalc.hf`).
"""

from __future__ import annotations

import math

from ..errors import SpecError
from ..units import dtype_bits

INT4 = "int4"
INT8 = "int8"
FP4 = "fp4"
NVFP4 = "nvfp4"
SCALED = (INT4, INT8, FP4, NVFP4)
VALUE_BITS = {INT4: 4, INT8: 8, FP4: 4, NVFP4: 4}          # bits per stored value
FP8_DS = "fp8-ds"            # FlashMLA's sparse (DSA) rows: :mod:`mlacalc.attention.dsa` sizes them
FLAT = ("bf16", "fp16", "fp32", "fp8")           # named dtypes stored without per-token scales

SCALE_ZERO_BYTES = 2 + 2     # LMDeploy: a scale and a zero point at the model dtype (bf16/fp16) per head and token
FP4_GROUP = 16               # SGLang fp4_e2m1: values per scale
FP4_SCALE_BYTES = 1          # SGLang fp4_e2m1: an 8-bit scale (uint8 buffer); vLLM nvfp4: one e4m3 byte likewise


def head_rows_bytes(rows: int, width: int, fmt: str) -> tuple[float, float]:
    """(value bytes, scale bytes) of ``rows`` vectors of ``width`` values (a token's K or V: one row per KV head)
    in layout ``fmt``. int4/int8 (LMDeploy): ``rows * width * bits / 8`` and ``4`` B (scale + zero) a row; fp4
    (SGLang) and nvfp4 (vLLM): ``rows * width / 2`` and one byte per 16 values of the row (rounded up a row)."""
    values = rows * width * VALUE_BITS[fmt] / 8
    if fmt in (FP4, NVFP4):
        return values, rows * math.ceil(width / FP4_GROUP) * FP4_SCALE_BYTES
    return values, (rows * SCALE_ZERO_BYTES if width else 0)


def kv_dtype_layout(kv_dtype, what: str = "kv_dtype") -> tuple[float, str | None]:
    """(bits per stored value, cache layout or None) that a KV dtype name gives, wherever it comes from
    (``--kv-dtype``, a spec's ``dtypes.kv``, a checkpoint's declared KV cache); ``what`` names it in errors. Layouts
    that store more than their values: ``fp8-ds`` (FlashMLA's 656-byte DSA rows, 8-bit values), ``int4`` / ``int8``
    (LMDeploy's ``quant_policy`` 4 / 8: a scale and a zero point per KV head and token), ``fp4`` (SGLang's
    ``fp4_e2m1``: an 8-bit scale per 16 values), ``nvfp4`` (vLLM's: an e4m3 scale per 16 values). Other names
    (``bf16``, ``fp8``) and bit counts are flat: ``fp8``'s scale is one per layer, no bytes per token; a bit count
    (``4``, ``--kv-bits 4``) gives flat values without scales (what ``int4`` priced before it had its layout)."""
    key = str(kv_dtype).strip().lower()
    if key == FP8_DS:
        return 8.0, FP8_DS
    if key in SCALED:
        return float(VALUE_BITS[key]), key
    try:
        return dtype_bits(kv_dtype, what), None
    except SpecError as e:
        if "unknown dtype" not in str(e):
            raise
        # the generic list (a checkpoint's weight dtypes) leaves out the cache layouts only a KV dtype takes
        names = ", ".join((*FLAT, *SCALED, FP8_DS))
        raise SpecError(what, f"unknown dtype {kv_dtype!r} (known: {names}, or a bit count)") from None
