"""SGLang's own accounting of its KV pool (``fit --engine sglang``).

SGLang sizes the pool once, after the weights are loaded (sgl-project/sglang
``python/sglang/srt/model_executor/model_runner.py`` ``init_memory_pool`` -> ``profile_max_num_token``; in later
versions ``pool_configurator.py`` ``profile_available_bytes``, the same arithmetic)::

    total_gpu_memory = free memory (cudaMemGetInfo) after torch.distributed is set up, before the weights, GiB
    available        = free memory after the weights are loaded, GiB
    rest_memory      = available - total_gpu_memory x (1 - mem_fraction_static)
    max_total_num_tokens = int(rest_memory x 2**30 // cell_size)

so, with ``available = total_gpu_memory - weights``::

    kv_budget = mem_fraction_static x free_before_load - weights
    headroom  = (1 - mem_fraction_static) x free_before_load     (left for activations and CUDA graphs)

``free_before_load`` = cudaMemGetInfo's total (the hardware file's ``cuda_memory_gib``, else nvidia-smi's) less the
memory the process already holds outside PyTorch (CUDA context, cuBLAS, NCCL communicators): default
:data:`PRELOAD_NON_TORCH_BYTES`, measured on an H200 in one process, the CUDA context included (SGLang reads the free
memory after it; NCCL's buffers at tp > 1 not counted). vLLM's default differs: its start-up snapshot already holds the
context (:data:`mlacalc.vllm.NON_TORCH_BYTES`).

``cell_size`` is the KV bytes of one token on one rank: MLA ``(kv_lora_rank + qk_rope_head_dim) x layers x
element size`` (one latent copy, every rank holds it whole); MHA/GQA ``kv_heads_per_rank x head_dim x layers x 2 x
element size`` with ``kv_heads_per_rank = max(1, kv_heads // attention_tp)``. mlacalc's own KV bytes per token per GPU
(:func:`mlacalc.kv.kv_report`) are that layout, so ``fit`` divides this budget by them. ``layers`` is every decoder
layer of a model that is no hybrid, those without attention too (Nemotron-NAS's attention ``no_op`` layers:
:func:`mlacalc.capacity.engine_kv_spec`).

``mem_fraction_static`` when not given (``server_args.py`` ``ServerArgs._handle_gpu_memory_settings``, SGLang
0.5.x): ``gpu_mem`` is nvidia-smi's ``memory.total`` in MiB (``get_device_memory_capacity``), the card picks
``chunked_prefill_size`` and ``cuda_graph_max_bs`` (:func:`server_defaults`) and::

    reserved_mem = 512 + max(chunked_prefill_size, 2048) x 1.5 + cuda_graph_max_bs x 2 + tp x pp / 8 x 1024   (MiB)
                   [+ cuda_graph_max_bs x dp x 3, + cuda_graph_max_bs x dp x 1.5 if cuda_graph_max_bs > 300:
                    dp attention]
    reserved_mem = max(reserved_mem, 10 x 1024) on a card of more than 60 GiB
    mem_fraction_static = round((gpu_mem - reserved_mem) / gpu_mem, 3)

A hybrid (attention layers beside state layers: Qwen3-Next, Qwen3.5, Nemotron-H, Falcon-H1, Kimi-Linear, ...) splits
that budget in two (``model_runner_kv_cache_mixin.py`` ``handle_max_mamba_cache``; later ``KVCacheConfigurator.
_handle_max_mamba_cache``, the same split), :class:`SglangHybridPool`::

    state_slots          = int(kv_budget x r / (1 + r) // state_bytes)      r = mamba_full_memory_ratio, 0.9
    max_total_num_tokens = (kv_budget - state_slots x state_bytes) // cell_size
    max_running_requests <= state_slots // 3     (MAMBA_CACHE_SIZE_MAX_RUNNING_REQUESTS_RATIO, the radix cache on)

``state_bytes`` is ``mamba2_cache_params.mamba_cache_per_req``: the convolution and recurrent states of every state
layer on one GPU, the convolution at bf16 and the recurrent state at ``mamba_ssm_dtype`` (``configs/mamba_utils.py``
``mamba2_state_dtype``: ``SGLANG_MAMBA_SSM_DTYPE``, else the config's ``mamba_ssm_dtype``, else float32; here the
spec's ``dtypes.ssm_state``, else float32 for the Gated DeltaNet, KDA and Mamba-2 kinds, the spec's dtypes for the
others); ``cell_size`` counts the attention layers only. Not modelled there: the
MambaRadixCacheV2 ping-pong slots (+1 or +2 a request), speculative decoding's intermediate states,
``--max-mamba-cache-size``, and with the radix cache off a pool of ``max_running_requests`` slots.

Not modelled: the speculative-decoding reserve (+2 GiB for EAGLE/MTP drafts, +6 GiB for a standalone draft) and
the draft model's own pool; the multimodal adjustment (``adjust_mem_fraction_for_vlm``); page alignment of the token
count (``// page_size * page_size``, page 1 by default); ``--max-total-tokens``; SGLang before 0.4.9 chose the
fraction from tp alone (0.88 at tp 1, 0.87 at 2, 0.85 at 4, 0.81 at 8, 0.79 at 16): pass it with ``--gpu-mem-util``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ArgError, show
from .vllm import PROCESS_NON_TORCH_BYTES

MIB = 2**20
GIB = 2**30

# Memory a process holds outside PyTorch before SGLang loads the weights (CUDA context and cuBLAS), one process on an
# H200 (reports/h200/nontorch_memory.json "nontorch_bytes", 0.669 GiB): SGLang's total_gpu_memory is the free memory
# after it (model_runner.py init_torch_distributed -> get_available_gpu_memory).
PRELOAD_NON_TORCH_BYTES = PROCESS_NON_TORCH_BYTES
PRELOAD_NON_TORCH_SOURCE = ("measured in one process on an H200, the CUDA context and cuBLAS: no NCCL or custom "
                            "all-reduce buffers")

# server_args.py _handle_gpu_memory_settings (CUDA branches; NPU ones left out): upper bound of the card's
# nvidia-smi total in MiB (exclusive) -> (chunked_prefill_size, cuda_graph_max_bs at tp < 4, at tp >= 4).
CARD_DEFAULTS = (
    (20 * 1024, 2048, 8, 8),        # T4, 4080
    (35 * 1024, 2048, 24, 80),      # A10, 4090, 5090
    (60 * 1024, 4096, 32, 160),     # A100 40GB, L40
    (90 * 1024, 8192, 256, 512),    # H100, A100 80GB
    (160 * 1024, 8192, 256, 512),   # H20, H200
)
LARGE_CARD_DEFAULTS = (16384, 512, 512)     # B200, MI300
RESERVE_FLOOR_MIB = 10 * 1024               # on a card of more than LARGE_RESERVE_CARD_MIB
LARGE_RESERVE_CARD_MIB = 60 * 1024


def server_defaults(gpu_mem_mib: float, tp: int) -> tuple[int, int]:
    """SGLang's ``(chunked_prefill_size, cuda_graph_max_bs)`` for a card of ``gpu_mem_mib`` (nvidia-smi's total,
    MiB) at tensor parallelism ``tp`` (see :data:`CARD_DEFAULTS`)."""
    for below, chunk, small_tp, large_tp in CARD_DEFAULTS:
        if gpu_mem_mib < below:
            return chunk, (small_tp if tp < 4 else large_tp)
    chunk, small_tp, large_tp = LARGE_CARD_DEFAULTS
    return chunk, (small_tp if tp < 4 else large_tp)


def reserved_mib(gpu_mem_mib: float, tp: int, chunked_prefill_size: int, cuda_graph_max_bs: int,
                 dp_attention_size: int = 0) -> float:
    """MiB SGLang's default fraction keeps out of the static pool (module docstring). ``dp_attention_size``: the
    ``--dp`` of ``--enable-dp-attention`` (0: off). ``chunked_prefill_size`` <= 0 (chunking off) would use
    ``max_prefill_tokens`` instead; mlacalc passes the tokens of one step either way."""
    r = 512 + max(chunked_prefill_size, 2048) * 1.5 + cuda_graph_max_bs * 2 + tp / 8 * 1024
    if dp_attention_size:
        r += cuda_graph_max_bs * dp_attention_size * 3
        if cuda_graph_max_bs > 300:
            r += cuda_graph_max_bs * dp_attention_size * 1.5
    if gpu_mem_mib > LARGE_RESERVE_CARD_MIB:
        r = max(r, RESERVE_FLOOR_MIB)
    return r


def default_mem_fraction(gpu_mem_mib: float, reserved: float) -> float:
    """``round((gpu_mem - reserved_mem) / gpu_mem, 3)``, both in MiB."""
    f = round((gpu_mem_mib - reserved) / gpu_mem_mib, 3)
    if not 0 < f <= 1:
        raise ArgError("gpu_mem_util", f"SGLang's default mem_fraction_static would be {f:g} on a card of "
                                       f"{gpu_mem_mib:,.0f} MiB; give --gpu-mem-util")
    return f


@dataclass(frozen=True)
class SglangMemory:
    """Memory per GPU as SGLang accounts it, bytes: ``usable - weights - headroom = kv_budget`` where ``usable`` is
    the free memory before the weights load and ``headroom = (1 - mem_fraction_static) x usable``."""

    total: float                 # cudaMemGetInfo's total (or nvidia-smi's, see total_source)
    total_source: str
    non_torch: float             # held before the weights load: CUDA context, cuBLAS, NCCL
    mem_fraction_static: float
    fraction_source: str         # "given" or "SGLang's default"
    gpu_mem_mib: float           # nvidia-smi total the default fraction is computed from
    chunked_prefill_size: int
    cuda_graph_max_bs: int
    reserved_mib: float | None   # the default fraction's reserve (None: the fraction was given)
    weights: float

    @property
    def usable(self) -> float:
        """``total_gpu_memory`` in SGLang's code: free memory before the weights."""
        return self.total - self.non_torch

    @property
    def headroom(self) -> float:
        return (1 - self.mem_fraction_static) * self.usable

    @property
    def kv_budget(self) -> float:
        return self.usable - self.weights - self.headroom

    def as_dict(self) -> dict:
        return {"total": self.total, "total_source": self.total_source, "non_torch": self.non_torch,
                "mem_fraction_static": self.mem_fraction_static, "fraction_source": self.fraction_source,
                "gpu_mem_mib": self.gpu_mem_mib, "chunked_prefill_size": self.chunked_prefill_size,
                "cuda_graph_max_bs": self.cuda_graph_max_bs, "reserved_mib": self.reserved_mib,
                "usable": self.usable, "weights": self.weights, "headroom": self.headroom,
                "kv_budget": self.kv_budget}


def sglang_memory(total: float, total_source: str, gpu_mem_mib: float, tp: int, dp_attention_size: int,
                  weights: float, non_torch: float, chunked_prefill_size: int,
                  mem_fraction_static: float | None) -> SglangMemory:
    """SGLang's breakdown for one GPU (bytes; ``gpu_mem_mib`` MiB). ``mem_fraction_static`` None: SGLang's default
    for the card, ``tp`` and the chunk (:func:`reserved_mib`)."""
    if isinstance(chunked_prefill_size, bool) or not isinstance(chunked_prefill_size, int) or chunked_prefill_size < 1:
        raise ArgError("workspace_tokens", f"must be a whole number of at least 1 with engine sglang (its "
                                           f"chunked_prefill_size), got {show(chunked_prefill_size)}")
    _, graph_bs = server_defaults(gpu_mem_mib, tp)
    reserve = None
    if mem_fraction_static is None:
        reserve = reserved_mib(gpu_mem_mib, tp, chunked_prefill_size, graph_bs, dp_attention_size)
        mem_fraction_static = default_mem_fraction(gpu_mem_mib, reserve)
    return SglangMemory(total=total, total_source=total_source, non_torch=non_torch,
                        mem_fraction_static=mem_fraction_static,
                        fraction_source="given" if reserve is None else "SGLang's default",
                        gpu_mem_mib=gpu_mem_mib, chunked_prefill_size=chunked_prefill_size,
                        cuda_graph_max_bs=graph_bs, reserved_mib=reserve, weights=weights)


MAMBA_FULL_MEMORY_RATIO = 0.9       # server_args.py mamba_full_memory_ratio: state memory / full KV memory
MAMBA_SLOTS_PER_REQUEST = 3         # MAMBA_CACHE_SIZE_MAX_RUNNING_REQUESTS_RATIO: state slots a running request may
#                                     take with the radix cache on (its own, and cached prefixes' states)
SSM_STATE_BITS = 32                 # mamba2_state_dtype's default recurrent-state dtype, float32
SGLANG_FP32_STATE_KINDS = ("gated_deltanet", "kda", "mamba2")  # linear kinds whose state SGLang sizes that way
#                                     (Qwen3-Next/Qwen3.5, Kimi-Linear, Nemotron-H/Falcon-H1's Mamba2CacheParams)


@dataclass(frozen=True)
class SglangHybridPool:
    """SGLang's split of a hybrid's budget on one GPU (module docstring), bytes: state slots of ``state_bytes``
    (every state layer of one request) and a K/V pool of ``token_bytes`` a token (every attention layer)."""

    state_bytes: int
    token_bytes: float
    ratio: float = MAMBA_FULL_MEMORY_RATIO

    def state_slots(self, budget: float) -> int:
        """``max_mamba_cache_size``: ``int(budget x r / (1 + r) // state_bytes)``."""
        return max(int(budget * self.ratio / (1 + self.ratio) // self.state_bytes), 0)

    def kv_tokens(self, budget: float) -> int:
        """``max_total_num_tokens``: what the state slots leave, in tokens of every attention layer."""
        return max(int((budget - self.state_slots(budget) * self.state_bytes) // self.token_bytes), 0)

    def max_running(self, budget: float) -> int:
        """The requests the state slots allow to run at once (slots // 3)."""
        return self.state_slots(budget) // MAMBA_SLOTS_PER_REQUEST

    def max_batch(self, budget: float, context: int) -> int:
        """Requests of ``context`` tokens running at once: the K/V pool's, capped by the state slots'."""
        return min(self.kv_tokens(budget) // context, self.max_running(budget))

    def max_context(self, budget: float, batch: int, limit: int) -> int:
        """Longest context at which ``batch`` requests run (0: none), at most ``limit``."""
        if batch > self.max_running(budget):
            return 0
        return min(self.kv_tokens(budget) // batch, limit)

    def bytes_per_request(self, context: int) -> float:
        """One request's K/V and its state slot."""
        return context * self.token_bytes + self.state_bytes

    def as_dict(self, budget: float, context: int) -> dict:
        return {"state_bytes": self.state_bytes, "token_bytes": self.token_bytes,
                "mamba_full_memory_ratio": self.ratio, "max_mamba_cache_size": self.state_slots(budget),
                "max_total_num_tokens": self.kv_tokens(budget), "max_running_requests": self.max_running(budget),
                "max_batch": self.max_batch(budget, context)}
