"""Host side of every decode wrapper: launch plans cached per shape, device facts cached per device, direct launches of
compiled Triton kernels, and the one error type for bad input.

Why: an eager `mla_decode(...)` spent 130-210 us on the host before the GPU started (FlashMLA: 5-7 us;
../shared/notes/environment-facts.md): the split heuristic's Python loop, a device-properties query, scratch
allocations, a `.item()` sync for a tensor kv_scale, and Triton's own argument binding for two launches.

What is cached, and what stays per call:
  * `plan_cache(name)`: a small dict (LRU, `PLAN_CACHE_SIZE` entries) per wrapper, keyed by everything the plan
    depends on (shapes, strides, dtypes, device, flags). A plan holds the tile config, grid, split count, the
    constants derived from strides, and the scratch buffers for split partials / LSE. Scratch buffers are reused by
    every call with the same key: calls on one stream run in order, so reuse is safe there; two streams running the
    same shape at once would share them (not a use this package has). A plan made while a CUDA graph is being
    captured is not kept (its buffers would live in the graph's private pool).
  * `num_sms(device)`, `device_capability(device)`, `sm_limits(device)`: queried once per device.
  * `FastLauncher`: the first launch goes through `kernel[grid](...)` (Triton binds, specialises, compiles); the
    `CompiledKernel` it returns is kept under the plan's key plus the 16-byte alignment of each tensor argument
    (the only launch-to-launch difference Triton specialises on once shapes, strides and integer arguments are
    fixed by the plan). Later launches call `compiled.run(grid, stream, function, packed_metadata, ...)`, which is
    what `JITFunction.run` itself does after its binding (same in Triton 3.6 and 3.9). TMA descriptor arguments are
    encoded inside `compiled.run`, in Python in Triton 3.6, where `_DescLaunch` keeps each one's encoding instead.
    Falls back to the normal path under the interpreter (no
    CompiledKernel), when a launch hook (a profiler) is installed, or with MLACALC_DIRECT_LAUNCH=0.
  * Per call: the output tensor (unless `out=` is given), the key, the alignment check, the launches. No device
    queries, no host syncs.

Input checks (checks.py) run when a plan is built; a cache hit means the same shapes, strides and dtypes passed them.
"""

from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import torch

from .checks import KernelInputError

__all__ = ["KernelInputError", "plan_cache", "num_sms", "device_capability", "FastLauncher", "checks_enabled", "PLAN_CACHE_SIZE",
           "capturing", "new_launch_key", "SMLimits", "HOPPER_LIMITS", "sm_limits", "resident_programs"]

DIRECT = os.environ.get("MLACALC_DIRECT_LAUNCH", "1") != "0"  # "0": always Triton's own launch path
PLAN_CACHE_SIZE = 32  # plans per wrapper; a decode loop uses one per (batch, context bucket, layer kind)
CHECKS_ENV = "MLACALC_KERNEL_CHECKS"  # "1": value checks (with a host sync) on CUDA too; "0": off everywhere


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.misses = 0  # plans built (tests count them)

    def get(self, key, default=None):
        v = super().get(key, default)
        if v is not default:
            self.move_to_end(key)
        return v

    def put(self, key, value) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


_PLANS: dict[str, _LRU] = {}


def plan_cache(name: str) -> _LRU:
    """The plan dict of one wrapper (created on first use)."""
    c = _PLANS.get(name)
    if c is None:
        c = _PLANS[name] = _LRU(PLAN_CACHE_SIZE)
    return c


def layout_key(t) -> tuple | None:
    """What a plan depends on of a tensor argument: (shape, stride, dtype); None for an absent one."""
    return None if t is None else (t.shape, t.stride(), t.dtype)


def cached_plan(name: str, key: tuple, make, device: torch.device):
    """The plan of ``key`` in wrapper ``name``'s cache; on a miss ``make()`` (which validates the inputs first)
    builds it, kept unless a CUDA graph is being captured."""
    plans = plan_cache(name)
    plan = plans.get(key)
    if plan is None:
        plan = make()
        plans.misses += 1
        if not capturing(device):
            plans.put(key, plan)
    return plan


def new_launch_key() -> object:
    """The key a plan's launches go under (FastLauncher, triton_split_kv.combine_splits): a fresh object, hashed by
    identity, so a lookup costs no hash of the plan's shape key, and an entry left behind by an evicted plan holds
    none of its scratch buffers."""
    return object()


def capturing(device: torch.device) -> bool:
    """Whether the current stream is capturing a CUDA graph (no syncs allowed, no plans kept)."""
    return device.type == "cuda" and torch.cuda.is_current_stream_capturing()


_SMS: dict = {}


def num_sms(device: torch.device) -> int:
    """SMs of a CUDA device, queried once per device; 4 off the GPU (the interpreter: a few splits, so that the
    combine stage is exercised)."""
    key = (device.type, device.index)
    n = _SMS.get(key)
    if n is None:
        if device.type == "cuda":
            idx = device.index if device.index is not None else torch.cuda.current_device()
            n = torch.cuda.get_device_properties(idx).multi_processor_count
        else:
            n = 4
        _SMS[key] = n
    return n


@dataclass(frozen=True)
class SMLimits:
    """What one SM holds, for counting the programs of a kernel that stay on it at once: shared memory an SM and the
    most one block may opt into (bytes), 32-bit registers an SM."""

    smem_per_sm: int
    smem_per_block: int
    regs_per_sm: int


# Where the device does not say (the interpreter, an older torch): Hopper's (CUDA C++ Programming Guide, compute
# capability 9.0: 228 KB of shared memory an SM, 227 KB a block, 64 K registers an SM).
HOPPER_LIMITS = SMLimits(smem_per_sm=228 * 1024, smem_per_block=227 * 1024, regs_per_sm=65536)
_LIMITS: dict = {}


THREADS_PER_SM = 2048           # compute capability 8.0-9.0 (CUDA C++ Programming Guide)
SMEM_RESERVED_PER_BLOCK = 1024  # bytes the driver keeps per resident block (same table, 8.0 and later)


def resident_programs(smem: int, regs: int, num_warps: int, limits: SMLimits) -> int:
    """Programs of ``smem`` bytes of shared memory, ``regs`` registers a thread and ``num_warps`` warps that stay on one
    SM at once: the fewest that shared memory (with the per-block reserve), registers (handed out 8 a thread) and
    threads allow, at least 1; 0 when one program needs more shared memory than a block may have."""
    if smem > limits.smem_per_block:
        return 0
    regs_b = -(-regs // 8) * 8 * 32 * num_warps
    return max(1, min(limits.smem_per_sm // (smem + SMEM_RESERVED_PER_BLOCK), limits.regs_per_sm // regs_b,
                      THREADS_PER_SM // (32 * num_warps)))


def sm_limits(device: torch.device) -> SMLimits:
    """A CUDA device's SMLimits, queried once per device (torch's device properties); HOPPER_LIMITS off the GPU or
    where torch does not report a field."""
    key = (device.type, device.index)
    lim = _LIMITS.get(key)
    if lim is None:
        lim = HOPPER_LIMITS
        if device.type == "cuda":
            idx = device.index if device.index is not None else torch.cuda.current_device()
            p = torch.cuda.get_device_properties(idx)
            lim = SMLimits(getattr(p, "shared_memory_per_multiprocessor", 0) or lim.smem_per_sm,
                           getattr(p, "shared_memory_per_block_optin", 0) or lim.smem_per_block,
                           getattr(p, "regs_per_multiprocessor", 0) or lim.regs_per_sm)
        _LIMITS[key] = lim
    return lim


_CAPS: dict = {}


def device_capability(device: torch.device) -> tuple[int, int]:
    """(major, minor) of a CUDA device, queried once per device; (0, 0) off the GPU."""
    key = (device.type, device.index)
    cap = _CAPS.get(key)
    if cap is None:
        if device.type == "cuda":
            idx = device.index if device.index is not None else torch.cuda.current_device()
            cap = tuple(torch.cuda.get_device_capability(idx))
        else:
            cap = (0, 0)
        _CAPS[key] = cap
    return cap


def checks_enabled(check: bool | None, device: torch.device) -> bool:
    """Value checks (index, length and block-table ranges: a device reduction and a host sync). `check` wins when
    given; else the env var MLACALC_KERNEL_CHECKS ("0"/"1"); else on for CPU tensors (the interpreter) and off on
    CUDA, for dense and sparse decode alike: an eager call must not sync the host (issue 14: no host syncs, <= 10 us
    a call; with them on, sparse decode's eager calls took 400-550 us of host time each on the H200,
    reports/h200/kernels.json of 2026-12-06). With checks off the kernels clamp lengths and table entries, and a
    sparse index that is negative or at or past its sequence's length is an unused slot (FlashMLA's convention for
    its sparse indices), so bad values give a wrong result, never a CUDA fault. Never during CUDA graph capture."""
    if check is not None:
        on = check
    else:
        env = os.environ.get(CHECKS_ENV)
        on = env not in ("", "0") if env is not None else device.type != "cuda"
    return on and not capturing(device)  # the capture query only when checks would run (1-2 us a call)


def interpreting() -> bool:
    """Whether Triton's interpreter runs the kernels (TRITON_INTERPRET=1, read by Triton at import): then CPU tensors
    are what the kernels take."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() not in ("", "0", "false", "off")


def _cpu_arg(args):
    return next((a for a in args if isinstance(a, torch.Tensor) and not a.is_cuda), None)


def _off_gpu(kernel, args) -> bool:
    """A Triton/Gluon kernel (it has .fn; the tests' fakes do not) about to take CPU tensors outside the interpreter:
    Triton would fail in its driver ("0 active drivers" without a GPU, "cannot be accessed from Triton (cpu
    tensor?)" with one), so the wrapper says so in one line instead. Checked on the first launch of a key only."""
    return getattr(kernel, "fn", None) is not None and not interpreting() and _cpu_arg(args) is not None


class FastLauncher:
    """Launch a @triton.jit kernel with every argument positional (constexprs too, in the kernel's order) and keep
    the compiled kernel per (plan key, alignment) for direct launches (see the module docstring)."""

    def __init__(self, kernel):
        self.kernel = kernel
        # key -> (positions of the tensor arguments, their device index, {alignment tuple: CompiledKernel or
        # _DescLaunch})
        self.compiled: dict = {}

    def __call__(self, key, grid, args, **options) -> None:
        entry = self.compiled.get(key) if key is not None else None
        if entry is not None and DIRECT and _hooks_off():
            ptrs, device, by_align = entry
            k = by_align.get(tuple(args[i].data_ptr() & 15 == 0 for i in ptrs))
            if k is not None:
                k.run(grid[0], grid[1], grid[2], _raw_stream(device), k.function, k.packed_metadata, None, None, None,
                      *args)
                return
        if _off_gpu(self.kernel, args):
            raise KernelInputError("device", f"tensors on {_cpu_arg(args).device}: the Triton/Gluon kernels run on a "
                                              "CUDA GPU (CPU tensors only under Triton's interpreter, TRITON_INTERPRET=1)")
        k = self.kernel[grid](*args, **options)
        if key is not None and getattr(k, "function", None) is not None and hasattr(k, "packed_metadata"):
            # Triton specialises on the 16-byte alignment of pointer arguments; a TMA descriptor's base is 16-byte
            # aligned by construction (TensorDescriptor asserts it), so only the tensors are checked per call
            ptrs = tuple(i for i, a in enumerate(args) if isinstance(a, torch.Tensor))
            if not ptrs:
                return
            if entry is None:
                device = args[ptrs[0]].device  # a CUDA tensor's device has its index (the test fakes: CPU, 0)
                entry = self.compiled[key] = (ptrs, device.index or 0, {})
                if len(self.compiled) > PLAN_CACHE_SIZE:
                    self.compiled.pop(next(iter(self.compiled)))
            entry[2][tuple(args[i].data_ptr() & 15 == 0 for i in ptrs)] = _DescLaunch.wrap(k)


class _DescLaunch:
    """A compiled kernel with TMA descriptor arguments, launched without re-encoding an unchanged descriptor.

    Why: Triton 3.6's launcher (the GPU machine's) turns every descriptor argument into a CUtensorMap in Python on
    every launch (backends/nvidia/driver.py, wrap_handle_tensordesc: make_tensordesc_arg, then cuTensorMapEncode):
    about 12 us of a Gluon dense call's host time on that machine's CPU for its four descriptors
    (bench/host_profile.py). The wrappers build a descriptor once per address (the plans keep them) and never change
    one, so its encoding is kept beside it, per argument position, and the rest of the launch is Triton's own C
    launcher with what `wrap_handle_tensordesc` would have passed it. Only where the launcher is exactly that
    wrapper (its closure holds `launcher`, `tensordesc_indices`, `tensordesc_meta`; no scratch buffers); anything
    else (Triton 3.9 encodes descriptors in C++) is left to `compiled.run`."""

    def __init__(self, k, raw, metas: dict, encode):
        self.function, self.packed_metadata = k.function, k.packed_metadata
        self.coop, self.pdl = k.run.launch_cooperative_grid, k.run.launch_pdl
        self.raw, self.metas, self.encode = raw, metas, encode
        # descriptor position -> (weak reference to the descriptor, its encoded arguments): weak, so that an entry
        # outliving its plan keeps no query or cache tensor alive
        self.last: dict = {}

    @staticmethod
    def wrap(k):
        """k itself, or a _DescLaunch when k's launcher is Triton 3.6's descriptor wrapper."""
        run = getattr(k, "run", None)
        inner = getattr(run, "launch", None)
        code = getattr(inner, "__code__", None)
        if code is None or not getattr(inner, "__closure__", None) or sorted(code.co_freevars) != [
                "launcher", "tensordesc_indices", "tensordesc_meta"]:
            return k
        if getattr(run, "global_scratch_size", 1) or getattr(run, "profile_scratch_size", 1):
            return k
        try:
            from triton.backends.nvidia import driver as nv
        except ImportError:
            return k
        encode = getattr(nv, "make_tensordesc_arg", None)
        if getattr(nv, "_BASE_ARGS_FORMAT_LEN", None) != 13 or encode is None:  # grid 3, stream, function, coop,
            return k                                                             # pdl, 2 scratch, 4 metadata/hooks
        cells = dict(zip(code.co_freevars, (c.cell_contents for c in inner.__closure__)))
        positions = sorted(cells["tensordesc_indices"])
        metas = cells["tensordesc_meta"] or [None] * len(positions)
        return _DescLaunch(k, cells["launcher"], dict(zip(positions, metas)), encode)

    def run(self, g0, g1, g2, stream, function, packed_metadata, launch_metadata, enter, exit_, *args) -> None:
        final, start = [], 0
        for pos, meta in self.metas.items():
            desc = args[pos]
            kept = self.last.get(pos)
            if kept is None or kept[0]() is not desc:
                kept = self.last[pos] = (_weak(desc), self.encode(desc, meta))
            final.extend(args[start:pos])
            final.extend(kept[1])
            start = pos + 1
        final.extend(args[start:])
        self.raw(g0, g1, g2, stream, function, self.coop, self.pdl, None, None, packed_metadata, launch_metadata,
                 enter, exit_, *final)


def _weak(obj):
    """A weak reference to obj, or (obj cannot have one) a callable returning None: never reused."""
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: None


_KNOBS = []


def _hooks_off() -> bool:
    if not _KNOBS:
        try:
            from triton import knobs
        except ImportError:  # a Triton before knobs: always take the normal path
            knobs = None
        _KNOBS.append(knobs)
    knobs = _KNOBS[0]
    return knobs is not None and _no_hook(knobs.runtime.launch_enter_hook) and _no_hook(knobs.runtime.launch_exit_hook)


def _no_hook(hook) -> bool:
    """No launch hook installed: None (Triton before 3.5) or an empty HookChain (3.5 on: the knobs always hold a
    chain, so testing for None alone never took the direct path on the H200's Triton 3.6: 90 us of host time per
    call, bench/host_profile.py)."""
    return hook is None or (hasattr(hook, "calls") and not hook.calls)


def _raw_stream(device_index: int) -> int:
    """The current CUDA stream of device `device_index` as Triton's launcher takes it (what triton's driver
    returns)."""
    return torch._C._cuda_getCurrentRawStream(device_index)
