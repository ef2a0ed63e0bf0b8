"""The records every formula returns: cache parts, op costs, saved tensors and backward instants.

They live apart from the calculators so that attention families (:mod:`mlacalc.attention`) can build them
without importing a calculator (which imports the families): specs -> families -> calculators, no circles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

ACT_BITS = 16      # activations are bf16 at inference
ACT_BYTES = 2      # bf16 activations: mixed precision and pure bf16 both run the forward in bf16
FP32_BYTES = 4     # norms' rstd, log-sum-exp, router probabilities, the loss's log-probabilities


@dataclass(frozen=True)
class KVCache:
    """A KV-cache amount split into its parts. Units are whatever the producer says (elements or bytes).

    ``latent``/``rope_key``: MLA's compressed cache (c_KV and the decoupled RoPE key k_R); ``k``/``v``:
    per-head keys and values of conventional attention (or of an MLA cache kept decompressed); ``indexer``:
    DSA's and MSA's indexer keys (and DeepSeek-V4's compressed ones); ``state``: linear attention's constant
    per-sequence state (and DeepSeek-V4's compressor buffers); ``scales``: the scales and zero points a scaled cache
    layout stores beside its values (``--kv-dtype int4``, ``int8``, ``fp4``: :mod:`mlacalc.attention.quant`);
    ``window`` and ``compressed``: DeepSeek-V4's two pools of shared K=V rows (:mod:`mlacalc.attention.compressed`),
    the sliding window's raw tokens and the compressed entries (one per ``m`` tokens)."""

    latent: float = 0
    rope_key: float = 0
    k: float = 0
    v: float = 0
    indexer: float = 0       # DSA's and MSA's lightning-indexer keys
    state: float = 0         # linear attention: recurrent and convolution state (per sequence, not per token)
    scales: float = 0        # a scaled layout's scales and zero points (int4/int8: LMDeploy's, fp4: SGLang's)
    window: float = 0        # DeepSeek-V4: the sliding window's raw K=V rows
    compressed: float = 0    # DeepSeek-V4: the compressed K=V entries (one per m tokens)

    @property
    def total(self) -> float:
        return self.latent + self.rope_key + self.k + self.v + self.indexer + self.state + self.scales + \
            self.window + self.compressed

    def scaled(self, factor: float) -> "KVCache":
        return KVCache(self.latent * factor, self.rope_key * factor, self.k * factor, self.v * factor,
                       self.indexer * factor, self.state * factor, self.scales * factor, self.window * factor,
                       self.compressed * factor)

    def plus(self, o: "KVCache") -> "KVCache":
        return KVCache(self.latent + o.latent, self.rope_key + o.rope_key, self.k + o.k, self.v + o.v,
                       self.indexer + o.indexer, self.state + o.state, self.scales + o.scales,
                       self.window + o.window, self.compressed + o.compressed)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"total": self.total}


class OpCost(NamedTuple):
    """FLOPs and bytes of one op on one GPU, summed over layers. ``bytes`` = HBM bytes (weights + activations +
    KV cache); ``comm_bytes`` go over the interconnect. ``out_width``: features per token the op writes.

    A NamedTuple rather than a frozen dataclass: equally immutable and named, and five times faster to build,
    which keeps a 10,000-configuration sweep inside its 2 s budget (``tests/bench_sweep.py``)."""

    name: str
    kind: str                 # matmul | attention | vector | memory | comm
    flops: float = 0.0
    weight_bytes: float = 0.0
    act_bytes: float = 0.0
    kv_bytes: float = 0.0
    comm_bytes: float = 0.0
    out_width: float = 0.0
    launches: float = 0.0     # kernel launches, summed over layers
    rows: float = 0.0         # GEMMs: rows of the activation operand per launch (tile padding in mlacalc.expected)
    a2a_bytes: float = 0.0    # of comm_bytes, those sent in all-to-alls (MoE dispatch and combine): across NVLink
    #                           domains they go at the network's rate (mlacalc.hardware.Hardware.collective_bytes_s)
    exps: float = 0.0         # attention cores: softmax exponentials, one a (query, key) pair and query head (the
    #                           SFU's work, whatever the head dim: mlacalc.expected.prefill_attention_s)

    @property
    def bytes(self) -> float:
        return self.weight_bytes + self.act_bytes + self.kv_bytes

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP per HBM byte (0 for an op that moves no HBM bytes)."""
        return self.flops / self.bytes if self.bytes else 0.0


def matmul(name: str, tokens: float, k: float, n: float, wb: float, ab: float, layers: int = 1,
           extra_weight: float = 0.0, out_width: float | None = None) -> OpCost:
    """``layers`` matmuls of ``tokens x k`` by ``k x n``: FLOPs ``2 T k n`` (a multiply-add is 2); HBM bytes: the
    weights (``wb`` bytes each, plus ``extra_weight`` bytes) once, input and output (``ab`` bytes each) once; one launch
    per layer. The one-kernel-per-op layout of LLM-Viewer (arXiv 2402.16363, section 3)."""
    return OpCost(name, "matmul", 2 * tokens * k * n * layers, (k * n * wb + extra_weight) * layers,
                  tokens * (k + n) * ab * layers, 0.0, 0.0, n if out_width is None else out_width, layers, tokens)


@dataclass(frozen=True)
class SavedTensor:
    """One tensor autograd keeps. ``shape`` is symbolic and unsharded; ``dims`` are the sizes on one GPU."""

    name: str
    shape: tuple[str, ...]
    dims: tuple[int, ...]
    dtype_bytes: int
    group: str           # a LayerActivations field: norms, attention, attention_core, mla, ffn, router, ...
    kept_by: str         # which backward needs it
    split: str = "none"  # "tp": heads/width over TP; "sp": tokens over TP under SP; "none": replicated
    drop: str = ""       # "core": recomputed by selective; "mla_up": by mla-latent; "input": full's checkpoint

    @property
    def elements(self) -> int:
        return math.prod(self.dims)

    @property
    def bytes(self) -> int:
        return self.elements * self.dtype_bytes

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dims": list(self.dims),
                "dtype_bytes": self.dtype_bytes, "bytes": self.bytes, "group": self.group,
                "kept_by": self.kept_by, "split": self.split}


@dataclass(frozen=True)
class BackwardPhase:
    """One instant of a layer's backward pass (the worst instant of one stretch of it).

    ``grads``: the tensors alive besides the stored activations at that instant (activation gradients, a kernel's
    backward workspace, and the weight gradient being written before it is added into the gradient buffer).
    ``released``: names of this layer's tensors (stored or recomputed) whose last backward user has already run,
    so they are freed. ``recomputed``: tensors recomputation has re-materialised for this instant (those also
    named in ``released`` are already freed again)."""

    name: str
    grads: tuple[SavedTensor, ...]
    released: frozenset[str] = frozenset()
    recomputed: tuple[SavedTensor, ...] = ()


def grad_tensor(name: str, shape: tuple[str, ...], dims: tuple[int, ...], who: str, split: str = "tp",
                nbytes: int = ACT_BYTES) -> SavedTensor:
    """A tensor alive only during the backward pass (an activation gradient, a kernel's backward workspace, a weight
    gradient before it is added to the buffer), as a :class:`SavedTensor` of group ``backward``."""
    return SavedTensor(name, shape, dims, nbytes, "backward", who, split)
