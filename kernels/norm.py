"""RMSNorm as a production training stack runs it: a memory-efficient autograd Function.

Computes  y = x * rstd * w,  rstd = 1 / sqrt(mean(x^2, -1) + eps)  (Zhang & Sennrich 2019), in float32 for
16-bit inputs (in the input dtype when wider, e.g. float64 in tests), and returns y in the input dtype.

What it keeps for backward, and why that matters (issue 6): only the input ``x`` in its own dtype (bf16 in
training: 2 bytes per element, and often a tensor that is alive anyway) and the float32 ``rstd`` per row
[..., 1]: the two tensors a fused kernel (Apex/Megatron ``FusedRMSNorm``, Liger, TransformerEngine) saves and
``mlacalc.activations`` models. The eager formulation in ``reference.py`` lets autograd keep a float32 copy of
the input (4 bytes per element) plus the normalised bf16 output, 3x the bytes.

Algorithm: rows are processed in chunks of :data:`CHUNK_ROWS`, so the float32 temporaries of the forward and of
the backward stay a few MiB (as in a fused kernel, which keeps them in registers) instead of whole-tensor copies.
Backward, per row with  xhat = x * rstd  and  g = dy * w:
    dx = rstd * (g - xhat * mean(g * xhat))        dw = sum over rows of dy * xhat
(the derivative of x / sqrt(mean(x^2) + eps); the mean term is the projection onto xhat). dw is accumulated in
float32 and returned in the weight's dtype.

The float64 reference stays ``reference.RMSNorm``; tests check this one against autograd of it.
"""

from __future__ import annotations

import torch
from . import reference

__all__ = ["RMSNormFunction", "RMSNorm", "rms_norm", "CHUNK_ROWS"]

CHUNK_ROWS = 2048  # rows per chunk: 2048 x 7168 float32 = 56 MiB at DeepSeek-V3's width, 16 MiB at 2048


def _acc(dtype: torch.dtype) -> torch.dtype:
    """Compute dtype: float32 for 16-bit inputs, the input's own dtype when wider (float64 in tests)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _rows(t: torch.Tensor) -> torch.Tensor:
    """A 2-D [rows, width] view (``reshape``: a copy only if ``t`` cannot be viewed so)."""
    return t.reshape(-1, t.shape[-1])


class RMSNormFunction(torch.autograd.Function):
    """``RMSNormFunction.apply(x, weight, eps)``: saves ``x`` (its dtype) and ``rstd`` (float32, [..., 1])."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        x2 = _rows(x)
        y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        y2 = y.view(-1, x.shape[-1])
        acc = _acc(x.dtype)
        rstd = torch.empty(x2.shape[0], 1, dtype=acc, device=x.device)
        w = weight.to(acc)
        for i in range(0, x2.shape[0], CHUNK_ROWS):
            xf = x2[i:i + CHUNK_ROWS].to(acc)
            r = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
            rstd[i:i + CHUNK_ROWS] = r
            y2[i:i + CHUNK_ROWS] = (xf * r * w).to(x.dtype)
        ctx.save_for_backward(x, weight, rstd)
        return y

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        x, weight, rstd = ctx.saved_tensors
        x2, dy2 = _rows(x), _rows(dy)
        dx = torch.empty(x.shape, dtype=x.dtype, device=x.device) if ctx.needs_input_grad[0] else None
        dx2 = dx.view(-1, x.shape[-1]) if dx is not None else None
        acc = rstd.dtype
        dw = torch.zeros(x.shape[-1], dtype=acc, device=x.device)
        w = weight.to(acc)
        for i in range(0, x2.shape[0], CHUNK_ROWS):
            r = rstd[i:i + CHUNK_ROWS]
            xhat = x2[i:i + CHUNK_ROWS].to(acc) * r
            g = dy2[i:i + CHUNK_ROWS].to(acc)
            dw += (g * xhat).sum(0)
            if dx2 is not None:
                g = g * w
                dx2[i:i + CHUNK_ROWS] = (r * (g - xhat * (g * xhat).mean(-1, keepdim=True))).to(x.dtype)
        return dx, dw.to(weight.dtype) if ctx.needs_input_grad[1] else None, None


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return RMSNormFunction.apply(x, weight, eps)


class RMSNorm(reference.RMSNorm):
    """``reference.RMSNorm`` (same ``weight`` parameter and ``eps``) computed through :class:`RMSNormFunction`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return RMSNormFunction.apply(x, self.weight, self.eps)
