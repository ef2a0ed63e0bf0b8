"""Absorbed MLA decode over an fp8 e4m3 latent cache, 16 or 32 query rows a CTA: a CUDA kernel of our own (sm_90).

Why: at 16 heads (DeepSeek-V3's 128 at tensor parallel 8) the Triton and Gluon fp8 paths widen every fp8 tile to
fp16 in shared memory and read it back for their dots, and run 1.8-2.6x the fp8 floor, no faster than the bf16
kernel over twice the bytes (reports/h100/kernels.md). `cuda/mla_fp8_decode.cu` moves the fp8 bytes from shared
memory straight into mma.sync registers, widens them there and transposes the same registers (movmatrix) into the
value operand: 16 query rows are exactly mma.sync's M, so no row is padded. Its comment gives the register maps;
:func:`score_dims`, :func:`output_dims` restate them and tests/test_kernels_cuda_fp8.py runs the whole fragment
algorithm in torch on the CPU against the reference.

Built on first use with torch.utils.cpp_extension (needs nvcc and a CUDA build of torch; about a minute, then cached
under TORCH_EXTENSIONS_DIR). Splits are merged by triton_split_kv.combine_splits, as the Triton kernel's are.
`mla_decode(..., impl="cuda")`, and `impl="auto"` where it applies (kernels/decode._cuda_applies): at 16 heads it took
0.56-0.81x the Triton kernel's time at the issue's fp8 points on an H100 (reports/h100/tuning/ab_fp8_cuda_session_cq.json),
1.00-1.29x the fp8 floor at batch >= 32 but 32 x 4k (2.0x: fixed costs at a 25-us floor). Where the build fails (no
nvcc), auto warns once and keeps to Triton. From 17 to 32 rows (query tokens x heads) a CTA runs two row groups, one
CTA an SM: at 32 heads 0.46-0.72x the Triton kernel's time (reports/h100/tuning/session_cs/), so auto hands it up to
32 rows. More rows than a CTA takes (64 or 128 heads) run in head groups of 16 or 32 rows side by side in the grid,
each reading the same tiles (the later reads from L2): impl "cuda" only, 1.25-1.96x the Gluon kernel's time auto runs
there. Three options measured slower in the thirty-fifth session were removed after it (the integer widening, the
merge inside the kernel, the L2 prefetch: commit e79a23a has them; docs/kernels-notes.md).
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import torch

from .checks import KernelInputError, check_mla_inputs, check_scale, require
from .launch import cached_plan, checks_enabled, device_capability, layout_key, new_launch_key, num_sms
from .triton_flash import LOG2E

__all__ = ["mla_decode_cuda_fp8", "cuda_fp8_supported", "cuda_fp8_splits", "score_dims", "output_dims", "buildable",
           "packed_and_aligned", "row_groups", "default_cta_rows", "head_groups", "CudaBuildError", "CTA_ROWS",
           "AUTO_MAX_ROWS", "TILE", "STAGES", "CTAS_PER_SM", "mla_decode_sparse_cuda", "cuda_sparse_supported",
           "DS_ROW_BYTES"]

SOURCES = Path(__file__).resolve().parent / "cuda"
CTA_ROWS = (16, 32)  # query rows (s_q x H) a CTA: one or two row groups of mma.sync's M = 16
AUTO_MAX_ROWS = 32   # what impl auto hands it: query tokens x heads, one CTA's one or two row groups (at 32 heads an
#                     H100 measured it at 0.46-0.72x the Triton kernel's time; past 32 rows its head groups lost to
#                     the Gluon kernel, 1.25-1.96x: reports/h100/tuning/session_cs/)
TILE = 64            # keys a tile (one bulk copy a page it touches)
STAGES = 2           # tiles in shared memory: 2 x 36.9 KB + the 36.9 KB score exchange, two CTAs an SM
CTAS_PER_SM = 2
D_LAT, D_ROPE = 512, 64
MIN_SPLIT_KEYS = 4 * TILE  # a split's keys at least (the partial's write and merge cost about a tile)


def score_dims(warp: int, qd: int, step: int) -> list[int]:
    """The 4 dims of a key whose bytes lane quad position `qd` of warp `warp` feeds to k-step `step` (0..8) of the
    score dot, in K-slot order 2qd, 2qd+1, 2qd+8, 2qd+9 (the kernel's comment; 8 is the RoPE step)."""
    if step < 8:
        d0 = 128 * warp + 64 * (step // 4) + 16 * qd + 4 * (step % 4)
    else:
        d0 = D_LAT + 16 * warp + 4 * qd
    return [d0, d0 + 1, d0 + 2, d0 + 3]


def output_dims(warp: int, tile: int, n: int) -> int:
    """The latent dim of output column n (0..7) of dim tile `tile` (0..15: 2 x k-step + byte pair) of warp `warp`:
    what movmatrix makes of the score operand's slots (the kernel's comment)."""
    i, h = divmod(tile, 2)
    return 128 * warp + 64 * (i // 4) + 16 * (n // 2) + 4 * (i % 4) + 2 * h + n % 2


def cuda_fp8_supported(q: torch.Tensor, kv_cache: torch.Tensor, kv_lora_rank: int) -> bool:
    """Whether the kernel takes this call: an sm_90 GPU, an e4m3 cache of 512 + 64 dims, a bf16/fp16 query (any
    number of rows, query tokens x heads: head groups of 16 or 32 a CTA). Shape errors are left to the wrapper's
    checks."""
    return (q.is_cuda and q.dim() == 4 and kv_cache.dim() == 3 and device_capability(q.device) == (9, 0)
            and kv_cache.dtype == torch.float8_e4m3fn and q.dtype in (torch.bfloat16, torch.float16)
            and kv_lora_rank == D_LAT and q.shape[-1] == D_LAT + D_ROPE and q.shape[1] >= 1
            and q.shape[1] * q.shape[2] >= 1 and q.shape[0] >= 1 and kv_cache.shape[0] >= 1
            and kv_cache.shape[1] >= 1)


def default_cta_rows(rows: int) -> int:
    """Rows a CTA takes unless told: 16 up to 16 rows (one row group, two CTAs an SM), else 32 (two, one an SM)."""
    return CTA_ROWS[0] if rows <= CTA_ROWS[0] else CTA_ROWS[1]


def row_groups(cta_rows: int) -> int:
    """16-row groups of 4 warps a CTA of cta_rows rows runs."""
    return cta_rows // 16


def ctas_per_sm(cta_rows: int) -> int:
    """CTAs an SM the split plan counts: CTAS_PER_SM at one row group (registers and shared memory hold two), one at
    two."""
    return CTAS_PER_SM if row_groups(cta_rows) == 1 else 1


def check_plan_options(cta_rows, num_splits) -> None:
    """The dense and sparse wrappers' shared options: cta_rows 16, 32 or None; num_splits an int >= 1 or None."""
    require(cta_rows is None or cta_rows in CTA_ROWS, "cta_rows", f"{cta_rows!r}: 16, 32 or None")
    require(num_splits is None or (isinstance(num_splits, int) and num_splits >= 1), "num_splits",
            f"{num_splits!r}: expected an int >= 1")


def head_groups(rows: int, cta_rows: int) -> int:
    """CTAs a (sequence, split) takes: the rows in groups of cta_rows (they read the same tiles, from L2 after the
    first)."""
    return -(-rows // cta_rows)


def cuda_fp8_splits(B: int, max_len: int, sms: int, ctas_per_sm: int = CTAS_PER_SM) -> tuple[int, int]:
    """(splits, keys a split) for B (sequence, head group) pairs of up to max_len keys: one wave of CTAs (B x splits
    <= the resident CTAs), each split whole tiles and at least MIN_SPLIT_KEYS keys."""
    resident = sms * ctas_per_sm
    most = max(1, -(-max_len // MIN_SPLIT_KEYS))
    splits = max(1, min(most, resident // max(B, 1)))
    per = -(-max_len // splits)
    per = -(-per // TILE) * TILE
    return -(-max_len // per), per


_EXT = None
_BUILD_FAILED: str | None = None   # why the build failed in this process (auto then runs Triton)


class CudaBuildError(KernelInputError):
    """The extension could not be built or loaded here (no nvcc, a CPU build of torch, a compiler error)."""


def packed_and_aligned(kv_cache: torch.Tensor) -> bool:
    """The bulk copies' needs: rows of 576 values packed 576 bytes apart, the base and the page (or sequence) stride
    16-byte aligned."""
    return (kv_cache.dim() == 3 and kv_cache.shape[2] == D_LAT + D_ROPE and kv_cache.stride(1) == D_LAT + D_ROPE
            and kv_cache.stride(2) == 1
            and kv_cache.stride(0) % 16 == 0 and kv_cache.data_ptr() % 16 == 0)


def buildable() -> bool:
    """Whether this process can use the kernel: built already, or a CUDA build of torch with nvcc to build it and no
    failed build before (auto then keeps to the Triton kernel)."""
    if _EXT is not None:
        return True
    if _BUILD_FAILED is not None or torch.version.cuda is None:
        return False
    from torch.utils.cpp_extension import CUDA_HOME

    return CUDA_HOME is not None


EXT_NAME = "mlacalc_mla_fp8_decode"
STALE_LOCK_S = 600   # a build takes about a minute; a lock this old was left by a process killed mid-build


def _clear_stale_lock(name: str) -> None:
    """torch's extension builder waits, without end, while a `lock` file sits in the build directory, and a build
    killed mid-way (a timeout, ^C) leaves one behind: remove it once it is older than any build takes."""
    try:
        from torch.utils.cpp_extension import _get_build_directory

        lock = Path(_get_build_directory(name, verbose=False)) / "lock"
        if lock.exists() and time.time() - lock.stat().st_mtime > STALE_LOCK_S:
            lock.unlink(missing_ok=True)
    except Exception:   # noqa: BLE001 - a private helper of torch's: without it, torch's own wait stands
        pass


def _extension():
    """The compiled extension (built once per machine and torch version, then loaded from the cache)."""
    global _EXT
    if _EXT is None:
        from torch.utils.cpp_extension import load

        # sm_90 only (the kernel's instructions are all sm_90's: bulk copies, mbarriers, e4m3 conversions); one
        # architecture compiles in about a minute, torch's default list would compile several
        _clear_stale_lock(EXT_NAME)
        arch = os.environ.get("TORCH_CUDA_ARCH_LIST")
        os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0"
        try:
            _EXT = load(name=EXT_NAME, sources=[str(SOURCES / "mla_fp8_decode_torch.cu")],
                        extra_include_paths=[str(SOURCES)], verbose=False, extra_cuda_cflags=["-O3"])
        finally:
            if arch is None:
                os.environ.pop("TORCH_CUDA_ARCH_LIST", None)
            else:
                os.environ["TORCH_CUDA_ARCH_LIST"] = arch
    return _EXT


def _built_extension():
    """The extension, or CudaBuildError (one line, not a build log) where it cannot be built here: no nvcc, a CPU
    build of torch, a compiler error. The first failure warns once (auto then runs the Triton kernel) and is kept,
    so no later call tries the build again."""
    global _BUILD_FAILED
    if _BUILD_FAILED is not None:
        raise CudaBuildError("impl", _BUILD_FAILED)
    try:
        return _extension()
    except Exception as e:  # noqa: BLE001 - whatever the toolchain raised, said in one line
        last = str(e).strip().splitlines()[-1][:200] if str(e).strip() else ""
        _BUILD_FAILED = f"'cuda' could not build its extension ({type(e).__name__}: {last})"
        warnings.warn(f"mlacalc.kernels: {_BUILD_FAILED}; impl 'auto' runs the Triton kernel instead", stacklevel=4)
        raise CudaBuildError("impl", _BUILD_FAILED) from e


def mla_decode_cuda_fp8(
    q: torch.Tensor,
    kv_cache: torch.Tensor,
    cache_seqlens: torch.Tensor | None = None,
    block_table: torch.Tensor | None = None,
    *,
    softmax_scale: float,
    kv_lora_rank: int = 512,
    kv_scale: torch.Tensor | float | None = None,
    max_seqlen: int | None = None,
    num_splits: int | None = None,
    out: torch.Tensor | None = None,
    check: bool | None = None,
    stages: int = STAGES,
    cta_rows: int | None = None,
) -> torch.Tensor:
    """mla_decode_triton's arguments and result for an e4m3 cache ([B, S, 576] or paged [pages, page_size, 576]
    with block_table), a [B, s_q, H, 576] bf16/fp16 query (token t sees the keys before len - (s_q - 1 - t)) and
    kv_scale (a float, or a 1-element fp32 tensor read by the kernel). Returns [B, s_q, H, 512] in q.dtype. Bad
    input: one KernelInputError naming the argument. cta_rows: query rows (s_q x H) a CTA, 16 or 32 (default 16 up
    to 16 rows, else 32); more rows run in head groups of that many. stages: tiles in shared memory (2, 3 or 4; at
    32 rows a CTA 2 or 3; 2 leaves room for two CTAs an SM at 16 rows, which measured fastest)."""
    check_scale(softmax_scale)
    scale_t = kv_scale if torch.is_tensor(kv_scale) else None
    key = (layout_key(q), q.device, layout_key(kv_cache), layout_key(block_table), layout_key(cache_seqlens),
           layout_key(out), None if scale_t is None else (scale_t.shape, scale_t.dtype, scale_t.device),
           kv_lora_rank, max_seqlen, num_splits, stages, cta_rows)

    def make():
        check_mla_inputs(q, kv_cache, cache_seqlens, block_table, kv_lora_rank=kv_lora_rank, kv_scale=kv_scale,
                         out=out, max_seqlen=max_seqlen)
        require(cuda_fp8_supported(q, kv_cache, kv_lora_rank), "q",
                f"impl 'cuda' takes an sm_90 GPU, an e4m3 cache of {D_LAT} + {D_ROPE} dims and a bf16/fp16 query; "
                f"got q {tuple(q.shape)} {q.dtype} on {q.device}, cache {kv_cache.dtype}")
        require(packed_and_aligned(kv_cache), "kv_cache",
                "rows must be packed (576 bytes apart), the base and page stride 16-byte aligned (bulk copies)")
        check_plan_options(cta_rows, num_splits)
        per_cta = cta_rows or default_cta_rows(q.shape[1] * q.shape[2])
        require(stages in ((2, 3, 4) if row_groups(per_cta) == 1 else (2, 3)), "stages",
                f"{stages!r}: one of 2, 3, 4 (2, 3 at 32 rows a CTA: the shared memory of two row groups)")
        return _Plan(q, kv_cache, block_table, max_seqlen, num_splits, stages, per_cta)

    plan = cached_plan("mla_decode_cuda_fp8", key, make, q.device)
    if checks_enabled(check, q.device):
        from .checks import check_lengths_and_table

        check_lengths_and_table(cache_seqlens, block_table, num_blocks=kv_cache.shape[0], page_size=plan.page_size,
                                capacity=plan.capacity, max_seqlen=max_seqlen)
    return plan.launch(q, kv_cache, cache_seqlens, block_table, softmax_scale, kv_scale, scale_t, out)


class _Plan:
    """What a call launches with that depends only on shapes, strides, dtypes and options."""

    def __init__(self, q, kv_cache, block_table, max_seqlen, num_splits, stages, cta_rows):
        self.launch_key = new_launch_key()
        B, s_q, H, _ = q.shape
        rows = s_q * H
        dev = q.device
        paged = block_table is not None
        self.page_size = kv_cache.shape[1] if paged else 1
        self.capacity = block_table.shape[1] * kv_cache.shape[1] if paged else kv_cache.shape[1]
        max_len = min(max_seqlen or self.capacity, self.capacity)
        self.cta_rows = cta_rows
        if num_splits is None:
            self.splits, self.per_split = cuda_fp8_splits(B * head_groups(rows, cta_rows), max_len, num_sms(dev),
                                                          ctas_per_sm(cta_rows))
        else:
            self.splits = min(num_splits, max(1, -(-max_len // TILE)))
            per = -(-max_len // self.splits)
            self.per_split = -(-per // TILE) * TILE
        self.B, self.s_q, self.H, self.rows, self.stages = B, s_q, H, rows, stages
        self.o_part = torch.empty((B, self.splits, rows, D_LAT), dtype=torch.float32, device=dev)
        self.lse_part = torch.empty((B, self.splits, rows), dtype=torch.float32, device=dev)
        self.full_lens = torch.full((B,), self.capacity, dtype=torch.int32, device=dev)
        self.no_table = torch.empty(0, dtype=torch.int32, device=dev)
        self.no_scale = torch.empty(0, dtype=torch.float32, device=dev)
        self.ext = _built_extension()

    def launch(self, q, kv_cache, cache_seqlens, block_table, softmax_scale, kv_scale, scale_t, out):
        from .triton_split_kv import combine_splits

        B, rows = self.B, self.rows
        if kv_cache.data_ptr() % 16:   # the plan is per layout; a view at another offset can move the base
            raise KernelInputError("kv_cache", "its base must be 16-byte aligned (the kernel's bulk copies)")
        if out is None:
            out = torch.empty((B, self.s_q, self.H, D_LAT), dtype=q.dtype, device=q.device)
        value = 1.0 if kv_scale is None or scale_t is not None else float(kv_scale)
        out_rows = out.view(B, rows, D_LAT)   # out is contiguous (check_mla_inputs)
        self.ext.mla_fp8_decode(
            q, kv_cache.view(torch.uint8), block_table if block_table is not None else self.no_table,
            cache_seqlens if cache_seqlens is not None else self.full_lens, self.o_part, self.lse_part,
            scale_t if scale_t is not None else self.no_scale, value, softmax_scale * LOG2E, self.capacity,
            self.per_split, self.stages, self.cta_rows)
        combine_splits(self.o_part, self.lse_part, out_rows, key=self.launch_key)
        return out



# ---- sparse (top-k) decode over the fp8-ds cache: cuda/mla_fp8_sparse.cu ----

DS_ROW_BYTES = 656   # cache.fp8_ds_row_bytes(512, 64)


def cuda_sparse_supported(q: torch.Tensor, kv_cache: torch.Tensor, kv_lora_rank: int) -> bool:
    """Whether the sparse kernel takes this call: an sm_90 GPU, a bf16 query of 512 + 64 dims, fp8-ds rows (uint8,
    656 bytes: 512 e4m3 + 4 fp32 scales + 64 bf16 RoPE values) whose base and strides are 16-byte multiples (its
    16-byte copies). Shape errors are left to the wrapper's checks."""
    return (q.is_cuda and q.dim() == 4 and kv_cache.dim() == 3 and device_capability(q.device) == (9, 0)
            and q.dtype == torch.bfloat16 and kv_cache.dtype == torch.uint8 and kv_lora_rank == D_LAT
            and q.shape[-1] == D_LAT + D_ROPE and kv_cache.shape[-1] == DS_ROW_BYTES and kv_cache.stride(2) == 1
            and kv_cache.stride(0) % 16 == 0 and kv_cache.stride(1) % 16 == 0 and kv_cache.data_ptr() % 16 == 0)


def mla_decode_sparse_cuda(
    q: torch.Tensor,
    kv_cache: torch.Tensor,
    indices: torch.Tensor,
    block_table: torch.Tensor | None = None,
    cache_seqlens: torch.Tensor | None = None,
    *,
    softmax_scale: float,
    kv_lora_rank: int = 512,
    num_splits: int | None = None,
    out: torch.Tensor | None = None,
    check: bool | None = None,
    cta_rows: int | None = None,
) -> torch.Tensor:
    """triton_mla_sparse.mla_decode_sparse's arguments and result over fp8-ds rows with a bf16 query: each query
    token attends the cache rows its `indices` select (token positions through block_table, or pool rows without
    one; -1 unused; at or past cache_seqlens unused). The kernel is cuda/mla_fp8_sparse.cu (the dense fp8 kernel's
    design with a gather; thirty-fifth session: checked by its CPU model and its 9 GPU tests on an H100, but
    1.18-1.83x the Triton sparse kernel's time, so impl auto does not run it). cta_rows: as mla_decode_cuda_fp8's.
    Bad input: one KernelInputError."""
    from .triton_mla_sparse import _check_sparse

    check_scale(softmax_scale)
    key = (layout_key(q), q.device, layout_key(kv_cache), layout_key(indices), layout_key(block_table),
           layout_key(cache_seqlens), layout_key(out), kv_lora_rank, num_splits, cta_rows)

    def make():
        _check_sparse(q, kv_cache, indices, block_table, cache_seqlens, kv_lora_rank, out)
        require(cuda_sparse_supported(q, kv_cache, kv_lora_rank), "q",
                f"impl 'cuda' sparse decode takes an sm_90 GPU, a bf16 query of {D_LAT} + {D_ROPE} dims and fp8-ds "
                f"rows of {DS_ROW_BYTES} bytes, 16-byte aligned; got q {tuple(q.shape)} {q.dtype} on {q.device}, "
                f"cache {kv_cache.dtype} {tuple(kv_cache.shape)}")
        check_plan_options(cta_rows, num_splits)
        return _SparsePlan(q, kv_cache, indices, block_table, num_splits, cta_rows or default_cta_rows(q.shape[2]))

    plan = cached_plan("mla_decode_sparse_cuda", key, make, q.device)
    if checks_enabled(check, q.device):
        from .checks import check_lengths_and_table

        check_lengths_and_table(cache_seqlens, block_table, num_blocks=kv_cache.shape[0], page_size=plan.page_size,
                                capacity=plan.capacity, indices=indices)
    if kv_cache.data_ptr() % 16:
        raise KernelInputError("kv_cache", "its base must be 16-byte aligned (the kernel's 16-byte copies)")
    return plan.launch(q, kv_cache, indices, block_table, cache_seqlens, softmax_scale, out)


class _SparsePlan:
    """What a sparse call launches with that depends only on shapes, strides, dtypes and options."""

    def __init__(self, q, kv_cache, indices, block_table, num_splits, cta_rows):
        self.launch_key = new_launch_key()
        B, s_q, H, _ = q.shape
        dev = q.device
        topk = indices.shape[2]
        self.page_size = kv_cache.shape[1]
        self.capacity = (block_table.shape[1] if block_table is not None else kv_cache.shape[0]) * self.page_size
        self.B, self.s_q, self.H, self.cta_rows = B, s_q, H, cta_rows
        groups = head_groups(H, cta_rows)
        if num_splits is None:
            self.splits, self.per_split = cuda_fp8_splits(B * s_q * groups, topk, num_sms(dev),
                                                          ctas_per_sm(cta_rows))
        else:
            self.splits = min(num_splits, max(1, -(-topk // TILE)))
            per = -(-topk // self.splits)
            self.per_split = -(-per // TILE) * TILE
            self.splits = -(-topk // self.per_split)
        self.o_part = torch.empty((B * s_q, self.splits, H, D_LAT), dtype=torch.float32, device=dev)
        self.lse_part = torch.empty((B * s_q, self.splits, H), dtype=torch.float32, device=dev)
        self.none = torch.empty(0, dtype=torch.int32, device=dev)
        self.ext = _built_extension()

    def launch(self, q, kv_cache, indices, block_table, cache_seqlens, softmax_scale, out):
        from .triton_split_kv import combine_splits

        B, s_q, H = self.B, self.s_q, self.H
        if out is None:
            out = torch.empty((B, s_q, H, D_LAT), dtype=q.dtype, device=q.device)
        out_rows = out.view(B * s_q, H, D_LAT)
        self.ext.mla_fp8_sparse_decode(
            q, kv_cache, indices, block_table if block_table is not None else self.none,
            cache_seqlens if cache_seqlens is not None else self.none, self.o_part, self.lse_part,
            softmax_scale * LOG2E, self.capacity, self.per_split, self.cta_rows)
        combine_splits(self.o_part, self.lse_part, out_rows, key=self.launch_key)
        return out
