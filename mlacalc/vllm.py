"""vLLM's own accounting of the KV budget (``fit --engine vllm``): what vLLM subtracts that mlacalc's default does not.

vLLM v1 ``gpu_worker.py`` ``determine_available_memory`` (V0 ``worker.py`` ``determine_num_available_blocks``):

    kv_budget = gpu_memory_utilization x total - weights - non_torch - activation_peak

and from v0.21, less ``cudagraph`` (:attr:`VllmMemory.cudagraph`): vLLM's estimate of its CUDA graphs' memory (PR
#30515, ``kv = requested_memory - non_kv_cache_memory - cudagraph_memory_estimate_applied``; the estimate applied when
``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS``, opt-in in PR #30515 and on by default from v0.21.0, and graphs will be
captured: not under ``--enforce-eager`` / ``cudagraph_mode`` NONE). It is a measurement, not derivable from a spec:
``profile_cudagraph_memory`` (v1 ``gpu_model_runner.py``) captures, for each graph mode, the two largest graphs into a
throwaway pool on a minimal KV cache and reads ``cudaMemGetInfo`` around each, then returns ``max over modes(first
capture) + sum over modes(max(second capture, 1 MiB) x (graphs - 1))``, logged as "Estimated CUDA graph memory: X GiB
total". Model Runner V2 returned 0 (PR #36520's placeholder) until PR #53306 (v0.29.0) measured its graphs too
(capture every PIECEWISE graph, a sample of the FULL ones, extrapolated by token count). So it is an input
(``fit --cudagraph-mem``), 0 when not given, and fit's note says where to read it.

- ``total``: ``torch.cuda.mem_get_info()``'s total, i.e. cudaMemGetInfo's, under nvidia-smi's (the H200's 139.80 GiB
  against 140.40 GiB, measured: reports/h200/nontorch_memory.json). Taken from the hardware file's
  ``cuda_memory_gib`` when it has one; otherwise nvidia-smi's ``memory_gib`` and the breakdown says so.
- ``non_torch``: memory the process gained outside PyTorch's allocator since the worker's start-up snapshot (V1
  ``gpu_worker.py`` ``init_device`` takes ``self.init_snapshot = MemorySnapshot()`` once the CUDA context exists;
  ``vllm/utils/mem_utils.py`` ``memory_profiling``: ``non_torch_increase = after_profile.non_torch_memory -
  baseline.non_torch_memory``; V0 the same from PR #12126, V1 from PR #19312, 2025-06, v0.9.2). The CUDA context is
  in the snapshot, so it is not subtracted: vLLM 0.19's log prints "worker init memory snapshot: ...
  non_torch_memory=0.51GiB" on an H100 and then "non-torch forward increase memory: 0.25GiB"
  (llm-d-incubation/llm-d-planner accuracy/results/v0.19.0, gemma-2-9b). Default :data:`NON_TORCH_BYTES`: the growth
  after the context measured in one process on an H200 (66 MiB: cuBLAS's handles and loaded kernels; its workspace
  is PyTorch's). :data:`PROCESS_NON_TORCH_BYTES` (context included) is what V0 from PR #10511 to PR #12126 and V1
  before PR #19312 subtracted (V1's ``determine_available_memory`` took device-used less torch-allocated, the
  context and any other process's memory in it: pass it as ``--non-torch`` for those versions), and what SGLang's
  free-memory figure already lacks (:mod:`mlacalc.sglang`). Public logs at tp 1 print 0.03-0.26 GiB (FlashInfer
  and Triton kernels loaded, version by version). No term grows with tp, because the public logs
  (docs/vllm-capacity-checks.md, "Non-torch memory at tp > 1") do not support one. At tp 2-8 they show
  :data:`NON_TORCH_LOGGED_TP_GIB` per GPU, and what vLLM subtracts depends on its version more than on tp:
  V0 from PR #12126 and V1 from PR #19312 to v0.10 subtract the growth since a snapshot taken before NCCL starts
  (NCCL and custom all-reduce buffers counted: 3.58 GiB at tp 2 on an H100, vllm PR #10511; 2.10 GiB at tp 8 on
  A100 40GB, v0.7.1, a SageMaker write-up whose repository was not identified);
  V1 from v0.11 (vllm PR #25359) takes the snapshot after NCCL starts, so NCCL's start-up buffers sit outside the
  budget and are not subtracted (0.09 GiB at tp 4 on A30s, v0.11.1). NCCL's share is NCCL_BUFFSIZE (4 MiB) x channels
  x peers x protocols, the channel count chosen by NCCL's topology search at run time (not derivable from a spec);
  custom all-reduce adds two IPC buffers of ``max_size`` (8 MiB) per rank whatever the tp
  (vllm/distributed/device_communicators/custom_all_reduce.py). Pass a measured figure (``--non-torch``) at tp > 1.
- ``activation_peak``: PyTorch's peak allocation during ``profile_run`` (``torch.cuda.memory_stats()
  ["allocated_bytes.all.peak"]``, a maximum over time): a dummy forward of ``max_num_batched_tokens`` tokens, then
  ``_dummy_sampler_run`` over ``min(max_num_batched_tokens, max_num_seqs)`` rows (one per dummy request). The
  forward's intermediates are freed before the sampler runs, so the peak is the larger of the two phases, not their
  sum; Llama-3-8B's logged peak is 1.26 GiB at tp 1 and at tp 2 alike (vllm PR #10511), the sampler's phase, which
  tp does not shrink (``LogitsProcessor`` gathers full-vocabulary logits). The sampler's bytes per logit depend on
  the top-k/top-p path vLLM takes (:data:`SAMPLER_BYTES_PER_LOGIT`, :data:`SAMPLER_PATHS`), which depends on its
  version: ``flashinfer`` (FlashInfer's kernel; the default: V1 with FlashInfer installed from PR #11394, 2024-12,
  except between PRs #14815 and #15777, 2025-03 to 2025-05; off by default from PR #26859, v0.11.1, and on by default
  again from PR #40376, after v0.19), ``triton`` (``apply_top_k_top_p_triton``: no sort, but a buffer of up to one
  vocabulary a SM; v0.17-v0.19 by default), ``sort`` (PyTorch's ``logits.sort``: V0, V1 without FlashInfer before
  v0.17, and v0.11.1-v0.16 by default), ``mrv2`` (Model Runner V2: the default for dense models from v0.25.1, PR
  #44443, and for all models from v0.29.0): its profile run is V1's (``_dummy_run(max_num_batched_tokens)``, one
  sampled row per dummy request, ``min(tokens, max_num_seqs)`` rows), but its sampler (``vllm/v1/worker/gpu/sample/
  sampler.py``) copies the logits to fp32 only for a request that needs logits processing, which no dummy request
  does, skips top-k/top-p for them, and samples with a Triton Gumbel-max kernel that keeps two small per-block
  partials (:data:`GUMBEL_BLOCK`): see :func:`sampler_peak`. The KV budget formula is the worker's, the same for both
  runners (``gpu_worker.py`` ``determine_available_memory``); only the CUDA-graph estimate differs by version (above).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ArgError, show
from .units import finite

GIB = 2**30

# reports/h200/nontorch_memory.json (bench/nontorch_memory.py, one process, torch 2.11 + CUDA 13.0): device memory
# used after the CUDA context and a cuBLAS matmul, less what PyTorch's allocator reserved ("nontorch_bytes", 0.669
# GiB). vLLM subtracts the non-torch growth after the context (module docstring), so the context's own non-torch
# memory comes off: "after_context_bytes" (650,969,088 B) is the memory used once ``torch.zeros(1, device=0)`` has
# run, which holds PyTorch's first block besides the context: a small allocation takes a 2 MiB segment
# (c10/cuda/CUDACachingAllocator.cpp kSmallBuffer = 2,097,152), still reserved at the end (torch_reserved_bytes, 98
# MiB = that 2 MiB + 3 x 32 MiB: ``a``, ``a @ a`` and cuBLAS's workspace, which PyTorch's allocator holds). The
# context's non-torch memory is 650,969,088 - 2,097,152 = 648,871,936 B, and the growth after it 718,077,952 -
# 648,871,936 = 69,206,016 B (66 MiB: cuBLAS's handles and the kernels the matmul, randn and sum loaded).
PROCESS_NON_TORCH_BYTES = 718_077_952
TORCH_SMALL_SEGMENT_BYTES = 2 * 2**20      # the 2 MiB block torch.zeros(1) reserved before after_context_bytes
CUDA_CONTEXT_BYTES = 650_969_088 - TORCH_SMALL_SEGMENT_BYTES
NON_TORCH_BYTES = PROCESS_NON_TORCH_BYTES - CUDA_CONTEXT_BYTES
NON_TORCH_DEFAULT_SOURCE = ("measured in one process on an H200, the growth after the CUDA context (which vLLM's "
                            "start-up snapshot holds): no NCCL or custom all-reduce buffers")

# Non-torch memory per GPU that public vLLM start-up logs print at tp 2-8, GiB (least, most): 0.09 (vllm #29070:
# OPT-2.7B, 4 x A30, v0.11.1, "non-torch forward increase memory") to 3.58 (vllm PR #10511: Llama-3-8B, 2 x H100,
# v0.6.5.dev V0). Every point, with its version and GPU, is in docs/vllm-capacity-checks.md; the range is stated
# beside the default at tp > 1 (fit's note), not used in any budget.
NON_TORCH_LOGGED_TP_GIB = (0.09, 3.58)

# vllm/engine/arg_utils.py EngineArgs.get_batch_defaults, OPENAI_API_SERVER usage context (``vllm serve``): a card of
# at least 70 GiB (current_platform.get_device_total_memory(): the CUDA total) that is not an A100 gets 8192 batched
# tokens and 1024 sequences; any other card 2048 and 256.
LARGE_CARD_BYTES = 70 * GIB
LARGE_CARD_DEFAULTS = (8192, 1024)      # (max_num_batched_tokens, max_num_seqs)
SMALL_CARD_DEFAULTS = (2048, 256)

# Bytes live per row per vocabulary entry at the sampler's widest point, vLLM v1 (sampler.py Sampler.forward), with
# _dummy_sampler_run's top_k = vocab - 1 and top_p = 0.9, by the top-k/top-p path (vllm/v1/sample/ops/
# topk_topp_sampler.py):
#
# "flashinfer": flashinfer_sample -> flashinfer.sampling.top_k_top_p_sampling_from_logits, filter order "top_k_first"
# (top_k_mask_logits, then softmax); "triton", from v0.17 the PyTorch path without FlashInfer: apply_top_k_top_p_triton
# (in place), then forward_native's softmax and random_sample's exponential noise:
#   compute_logits' output in the model dtype (bf16)             2   (_dummy_sampler_run's ``logits``)
#   ``logits.to(torch.float32)``                                   4   (Sampler.forward)
#   the masked logits (FlashInfer) / the probabilities (Triton)    4
#   the probabilities (FlashInfer) / the noise ``q`` (Triton)      4
# = 14. The Triton path also keeps a per-program buffer (:func:`triton_buffer_rows`).
#
# "sort": PyTorch's sort (apply_top_k_top_p_pytorch: ``logits_sort, logits_idx = logits.sort(dim=-1)``), widest
# during the sort itself: for 128 or more rows ATen's segmented_sort_pairs (pytorch aten/src/ATen/native/cuda/
# SortStable.cu) allocates an int64 index per logit and calls cub's DeviceSegmentedRadixSort::SortPairs, whose
# temporary storage holds alternate key and value buffers (fp32 + int64):
#   bf16 logits 2, fp32 logits 4, the int64 reverse indices 8, the sorted fp32 values 4 and int64 indices 8,
#   cub's alternate keys 4 and values 8                           = 38
# (after the sort the masks, top-p probabilities and re-scattered logits live beside the values and indices: 28).
# Under 128 rows ATen sorts another way (segmented_sort_pairs_by_full_sort: two int2 arrays and a key copy), not
# modelled. vLLM 0.15-0.16 logs (Qwen3-14B, H100, 1,024 rows: a 5.64 GiB peak) put 38.4 B a logit; V0's sampler also
# keeps log-probabilities.
#
# "mrv2": Model Runner V2's sampler (vllm/v1/worker/gpu/sample/sampler.py, Sampler.apply_sampling_params returns the
# logits as they are when no request in the batch needs logits processing; the dummy batch's requests have none, so no
# fp32 copy; top-k/top-p are not applied to them): only compute_logits' bf16 output, 2 B, plus the Gumbel kernel's
# partials (:data:`GUMBEL_BLOCK`). The gate is upstream by PR #52329 (2026-08, ``_requires_logits_processing``);
# MRV2 samplers before it (vllm-project/vllm sampler.py at 0120ce5a) copied to fp32 every step (2 + 4 = 6 B); not
# modelled.
SAMPLER_BYTES_PER_LOGIT = {"flashinfer": 2 + 4 + 4 + 4, "triton": 2 + 4 + 4 + 4, "sort": 2 + 4 + 8 + 4 + 8 + 4 + 8,
                           "mrv2": 2}
SAMPLER_PATHS = tuple(SAMPLER_BYTES_PER_LOGIT)
DEFAULT_SAMPLER = "flashinfer"
TRITON_BUFFER_BYTES = 4         # fp32: the buffer is ``logits.new_empty(...)`` of the fp32 logits
# vllm/v1/worker/gpu/sample/gumbel.py gumbel_sample: BLOCK_SIZE = 1024 vocabulary entries a program; per row and block
# ``local_argmax`` (int64, 8 B) and ``local_max`` (fp32, 4 B; fp64 only with use_fp64_gumbel, off by default).
GUMBEL_BLOCK = 1024
GUMBEL_PARTIAL_BYTES = 8 + 4

# The worker's log lines that give the CUDA-graph estimate vLLM subtracted (gpu_model_runner.py, gpu_worker.py, v0.21
# and later; vllm-project/vllm #45178, gpustack/runner PR #251's v0.27.1 log), and the fit note that points at them.
CUDAGRAPH_LOG_LINE = "Estimated CUDA graph memory: X GiB total"
CUDAGRAPH_NOT_GIVEN = ("not subtracted: vLLM >= 0.21 subtracts its measured estimate unless --enforce-eager (PR "
                       "#30515; VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1 by default); read its log's '"
                       + CUDAGRAPH_LOG_LINE + "' and give --cudagraph-mem XG")


def triton_buffer_rows(rows: int, sms: int) -> int:
    """Rows (of one vocabulary, fp32) of the buffer ``apply_top_k_top_p_triton`` caches in ``_TRITON_BUFFER_CACHE``
    (vllm/v1/sample/ops/topk_topp_triton.py): ``NUM_PROGRAMS = min(num_sm, batch_size)``, the buffer
    ``min(next_power_of_2(NUM_PROGRAMS), num_sm)`` rows, each program's scratch for the logits above its top-k pivot.
    It stays allocated once the profile run's sampler made it. 1,024 rows on an H100 (132 SMs): 132."""
    programs = min(sms, rows)
    return min(1 << (programs - 1).bit_length(), sms)


def batch_defaults(total_bytes: float, gpu_name: str) -> tuple[int, int]:
    """vLLM's ``(max_num_batched_tokens, max_num_seqs)`` for ``vllm serve`` on a card of ``total_bytes`` (its CUDA
    total) named ``gpu_name`` (see :data:`LARGE_CARD_DEFAULTS`)."""
    if total_bytes >= LARGE_CARD_BYTES and "a100" not in gpu_name.lower():
        return LARGE_CARD_DEFAULTS
    return SMALL_CARD_DEFAULTS


def check_sampler(path) -> str:
    """``path`` checked: one of :data:`SAMPLER_PATHS`."""
    if path not in SAMPLER_PATHS:
        raise ArgError("sampler", f"must be one of {', '.join(SAMPLER_PATHS)}, got {show(path)}")
    return path


def sampler_peak(vocab_size: int, hidden_size: int, tokens: int, max_num_seqs: int,
                 path: str = DEFAULT_SAMPLER, sms: int = 0, tp: int = 1) -> float:
    """Bytes live while ``_dummy_sampler_run`` samples: the forward's output kept by ``profile_run`` (``tokens x d``,
    bf16), the rows gathered for sampling and ``torch.rand_like`` of them (``2 x rows x d``, bf16), and
    :data:`SAMPLER_BYTES_PER_LOGIT` of ``path`` per row per vocabulary entry. ``rows = min(tokens, max_num_seqs)``
    (v1 ``_dummy_run``: ``num_reqs = min(num_tokens, max_num_reqs)``, one sampled position per request). The
    "triton" path adds its cached buffer, :func:`triton_buffer_rows` of ``sms`` (the card's SM count; refused in one
    line when unknown) x the vocabulary x 4 B.

    ``path`` "mrv2" (Model Runner V2, ``vllm/v1/worker/gpu/model_runner.py`` ``profile_run``): the forward's output
    (``tokens x d``, bf16) and ``sample_hidden_states = hidden_states[logits_indices]`` (``rows x d``; no random
    copy of them), then the larger of two moments: sampling, the bf16 logits (2 B a logit:
    :data:`SAMPLER_BYTES_PER_LOGIT`) and the Gumbel kernel's partials, ``rows x ceil(vocab / 1024) x 12`` B; and, on
    ``tp`` > 1 GPUs (the LM head's vocabulary-parallel group), ``compute_logits``' all-gather, which holds this
    rank's shard (``rows x ceil(vocab / tp)``), the gathered ``[tp x rows, vocab / tp]`` and its ``[rows, vocab]``
    copy, all bf16 (``vllm/model_executor/layers/logits_processor.py`` ``_gather_logits`` ->
    ``DeviceCommunicatorBase.all_gather``: ``all_gather_into_tensor``, then ``movedim(0, -1).reshape``, a copy; V1
    paths count more bytes a logit later, so only here can the gather set the peak)."""
    rows = min(tokens, max_num_seqs)
    if check_sampler(path) == "mrv2":
        blocks = -(-vocab_size // GUMBEL_BLOCK)
        sampling = rows * vocab_size * SAMPLER_BYTES_PER_LOGIT[path] + rows * blocks * GUMBEL_PARTIAL_BYTES
        gather = rows * vocab_size * 2 * 2 + rows * -(-vocab_size // tp) * 2 if tp > 1 else 0
        return tokens * hidden_size * 2 + rows * hidden_size * 2 + max(sampling, gather)
    peak = (tokens * hidden_size * 2 + 2 * rows * hidden_size * 2
            + rows * vocab_size * SAMPLER_BYTES_PER_LOGIT[check_sampler(path)])
    if path == "triton":
        if not sms:
            raise ArgError("sampler", "triton sizes a buffer by the card's SM count; the hardware file has no sms")
        peak += triton_buffer_rows(rows, sms) * vocab_size * TRITON_BUFFER_BYTES
    return peak


@dataclass(frozen=True)
class VllmMemory:
    """Memory per GPU as vLLM accounts it, bytes: ``usable - weights - non_torch - activation_peak - cudagraph =
    kv_budget`` (``cudagraph``: vLLM >= 0.21's CUDA-graph estimate when given, else 0; see the module docstring)."""

    total: float                 # the device total the utilization multiplies (cudaMemGetInfo's, or nvidia-smi's)
    total_source: str            # "cudaMemGetInfo" or "nvidia-smi (no cuda_memory_gib in the hardware file)"
    gpu_mem_util: float
    weights: float
    non_torch: float
    non_torch_source: str        # "given", or NON_TORCH_DEFAULT_SOURCE where the default was used
    forward: float               # peak live activations of the dummy forward (mlacalc.capacity.activation_workspace)
    sampler: float               # live bytes while the dummy sampler runs (sampler_peak)
    tokens: int                  # max_num_batched_tokens of the profile run
    max_num_seqs: int
    sampler_path: str = DEFAULT_SAMPLER  # the top-k/top-p path (SAMPLER_BYTES_PER_LOGIT)
    cudagraph: float = 0.0       # vLLM >= 0.21's "Estimated CUDA graph memory", given (a measurement); 0 otherwise
    cudagraph_source: str = CUDAGRAPH_NOT_GIVEN  # "given", or the note that it was not subtracted
    version: "VersionRules | None" = None  # the --vllm-version rules applied (VERSION_RULES); None: none given

    @property
    def usable(self) -> float:
        return self.gpu_mem_util * self.total

    @property
    def activation_peak(self) -> float:
        """The profile run's peak: the larger phase (see module docstring)."""
        return max(self.forward, self.sampler)

    @property
    def kv_budget(self) -> float:
        return self.usable - self.weights - self.non_torch - self.activation_peak - self.cudagraph

    def as_dict(self) -> dict:
        return {"total": self.total, "total_source": self.total_source, "gpu_mem_util": self.gpu_mem_util,
                "usable": self.usable, "weights": self.weights, "non_torch": self.non_torch,
                "non_torch_source": self.non_torch_source, "activation_peak": self.activation_peak,
                "forward": self.forward, "sampler": self.sampler,
                "max_num_batched_tokens": self.tokens, "max_num_seqs": self.max_num_seqs,
                "sampler_path": self.sampler_path, "cudagraph": self.cudagraph,
                "cudagraph_source": self.cudagraph_source, "kv_budget": self.kv_budget,
                **({} if self.version is None else {"vllm_version": self.version.as_dict()})}


def check_max_num_seqs(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ArgError("max_num_seqs", f"must be a whole number of at least 1, got {show(n)}")
    if n > 1 << 24:
        raise ArgError("max_num_seqs", f"too large (at most {1 << 24:,}), got {n:,}")
    return n


def check_non_torch(b) -> float:
    return finite(b, "non_torch_bytes", minimum=0, maximum=2.0**60)


def check_cudagraph(b) -> float:
    """vLLM's CUDA-graph estimate in bytes (``--cudagraph-mem``), checked: finite, 0 to an exabyte."""
    return finite(b, "cudagraph_bytes", minimum=0, maximum=2.0**60)


# --- The knobs a vLLM version sets (``fit --engine vllm --vllm-version X.Y[.Z]``) ---------------------------------
#
# Each row: (knob, first version, first version it no longer applies to (None: open), value, source). Only boundaries
# docs/vllm-capacity-checks.md states with a PR, a file or a log ("Held-out round, 2026-09" item 1 and 2, "Non-torch
# memory at tp > 1", "Current vLLM (0.21-0.30), 2026-12"). Values: the sampler path (SAMPLER_PATHS; "mrv2-dense":
# Model Runner V2 for a dense model, the V1 path "flashinfer" otherwise), the non-torch bytes ("process":
# PROCESS_NON_TORCH_BYTES, "growth": NON_TORCH_BYTES, "unknown"), the CUDA-graph estimate ("none": vLLM subtracts
# none; "measured": it subtracts its measurement, which --cudagraph-mem takes).
V = tuple[int, ...]
VERSION_RULES: tuple[tuple[str, V, V | None, str, str], ...] = (
    ("sampler", (0,), (0, 8), "sort",
     "V0, the default engine before PR #13726 (v0.8.0; V1 opt-in from v0.7): PyTorch's sort"),
    ("sampler", (0, 8), (0, 11, 1), "flashinfer",
     "V1 (the default from PR #13726, v0.8.0) with FlashInfer installed, PR #11394"),
    ("sampler", (0, 11, 1), (0, 17), "sort",
     "FlashInfer off by default from PR #26859 (v0.11.1), PyTorch's sort (llm-d's 0.16.0 Qwen3-14B log)"),
    ("sampler", (0, 17), (0, 20), "triton",
     "apply_top_k_top_p_triton (vllm/v1/sample/ops/topk_topp_triton.py; llm-d's 0.17.0 log, 0.19's 'available but "
     "disabled by default')"),
    ("sampler", (0, 20), (0, 25, 1), "flashinfer",
     "FlashInfer on by default again from PR #40376, after v0.19"),
    ("sampler", (0, 25, 1), (0, 29), "mrv2-dense",
     "Model Runner V2 the default for dense models from PR #44443 (0.25.1 per vllm #49224)"),
    ("sampler", (0, 29), None, "mrv2",
     "Model Runner V2 the default for all models (v0.29.0's notes, PR #53183)"),
    ("non_torch", (0,), (0, 7), "unknown",
     "V0 subtracted the CUDA context before PR #12126 (2025-01-16) and not after; the docs pin no release to it: "
     "give --non-torch (0.67G before it)"),
    ("non_torch", (0, 7), (0, 8), "growth",
     "V0, the default before PR #13726 (v0.8.0): its snapshot since PR #12126 holds the CUDA context (the docs' "
     "v0.7.x V0 log, vllm #13061)"),
    ("non_torch", (0, 8), (0, 9, 2), "process",
     "V1's determine_available_memory before PR #19312 (v0.9.2): device-used less torch-allocated, the CUDA context "
     "in it"),
    ("non_torch", (0, 9, 2), None, "growth",
     "the growth after the CUDA context, which V1's start-up snapshot holds from PR #19312 (v0.9.2)"),
    ("cudagraph", (0,), (0, 21), "none",
     "no estimate subtracted before v0.21.0 (PR #30515 opt-in; on by default from v0.21.0, the worker's log)"),
    ("cudagraph", (0, 21), None, "measured",
     "vLLM >= 0.21 subtracts its measured estimate unless --enforce-eager (PR #30515)"),
)
# Model Runner V2's own graph estimate: 0 (PR #36520's placeholder) until PR #53306 (v0.29.0) measured its graphs,
# whether MRV2 ran by default (dense models, 0.25.1-0.28) or by VLLM_USE_V2_MODEL_RUNNER (--sampler mrv2) before.
MRV2_MEASURES_CUDAGRAPHS = (0, 29)
MRV2_NO_CUDAGRAPH_SOURCE = "Model Runner V2 subtracted none before PR #53306 (v0.29.0): PR #36520 returns 0"
# The newest version the docs describe ("Current vLLM (0.21-0.30)").
NEWEST_DOCUMENTED = (0, 30)


def parse_version(text) -> V:
    """``X.Y[.Z[.W]]`` (a vLLM release: ``0.16``, ``0.9.2``, ``0.10.1.1``) as a tuple of whole numbers, a leading
    ``v`` (a git tag, ``v0.11.0``) and a ``+local`` build tag (a wheel's ``0.11.0+cu128``) dropped; anything else,
    pre-releases (``0.10.1rc1``, ``.dev``) included since which PRs they hold is not known, refused in one line.
    Trailing zeros dropped, so 0.17 and 0.17.0 compare equal."""
    core = text[1:] if isinstance(text, str) and text[:1] == "v" else text
    core = core.split("+", 1)[0] if isinstance(core, str) and core.count("+") == 1 and core[-1:] != "+" else core
    parts = core.split(".") if isinstance(core, str) else []
    if not 2 <= len(parts) <= 4 or not all(p.isascii() and p.isdigit() and len(p) <= 6 for p in parts):
        raise ArgError("vllm_version", f"must be a release number X.Y[.Z] (a leading v and a +local tag allowed), "
                       f"e.g. 0.17 or 0.9.2, got {show(text)}")
    v = tuple(int(p) for p in parts)
    while len(v) > 1 and v[-1] == 0:
        v = v[:-1]
    return v


def show_version(v: V) -> str:
    return ".".join(map(str, v + (0,) * (2 - len(v))))


def runs_dense(num_moe_layers: int, has_state_layers: bool) -> bool:
    """Whether vLLM's Model Runner V2 oracle counts the model as dense: no MoE layer and no state (vLLM PR #39337's
    ``use_v2_model_runner``: ``model_config.is_moe``, and ``has_inner_state`` listed as "hybrid/mamba models"). The
    spec says so: MoE layers (``ffn.kind: moe``), state layers (``linear_attention``)."""
    return num_moe_layers == 0 and not has_state_layers


@dataclass(frozen=True)
class VersionRules:
    """What ``version`` of vLLM sets (:data:`VERSION_RULES`): the sampler path, the non-torch bytes (None: unknown,
    the default kept), whether no CUDA-graph estimate is subtracted (``cudagraph_none``), and the words: ``applied``
    (each rule, with its source) and ``unknown`` (what the docs leave open at this version; nothing guessed)."""

    version: str
    sampler: str
    non_torch: float | None
    non_torch_source: str        # the rule's words where ``non_torch`` is set
    cudagraph_none: bool
    cudagraph_source: str        # the rule's words where ``cudagraph_none``
    applied: tuple[str, ...]
    unknown: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"version": self.version, "applied": list(self.applied), "unknown": list(self.unknown)}

    def note(self) -> str:
        return (f"vLLM {self.version} rules: " + "; ".join(self.applied)
                + ("; not known at this version: " + "; ".join(self.unknown) if self.unknown else ""))


def _rule(knob: str, v: V) -> tuple[str, str]:
    for k, since, before, value, source in VERSION_RULES:
        if k == knob and since <= v and (before is None or v < before):
            return value, source
    raise AssertionError(f"VERSION_RULES has no {knob} row for {v}")   # the rows cover every version from 0


def version_rules(text, dense: bool, sampler: str | None = None, non_torch_given: bool = False,
                  cudagraph_given: bool = False) -> VersionRules:
    """The knobs vLLM ``text`` sets for a model (``dense``: :func:`runs_dense`), an explicit ``sampler`` /
    non-torch / CUDA-graph figure winning over the version's. Versions past :data:`NEWEST_DOCUMENTED` take the newest
    rows, said as unchecked."""
    v = parse_version(text)
    name = show_version(v)
    applied, unknown = [], []
    path, src = _rule("sampler", v)
    if path == "mrv2-dense":
        path, src = (("mrv2", src + ": dense (no MoE or state layers)") if dense else
                     ("flashinfer", src + "; MoE or state layers keep Model Runner V1 (FlashInfer, PR #40376)"))
    if sampler is not None:
        applied.append(f"sampler {sampler} (given; the version's: {path})")
        path = sampler
    else:
        applied.append(f"sampler {path} ({src})")
        if (0, 7) <= v < (0, 8):
            unknown.append("V1 by VLLM_USE_V1=1 (opt-in before v0.8.0): FlashInfer's path if installed "
                           "(--sampler flashinfer) and the context subtracted (--non-torch 0.67G)")
        if (0, 8) <= v < (0, 11, 1):
            unknown.append("whether FlashInfer ran: without it, and between PR #14815 and #15777 (2025-03 to "
                           "2025-05, no release pinned), V1 sorted (--sampler sort)")
    if path == "mrv2":
        unknown.append("MRV2 samplers before PR #52329 (2026-08-14, no release pinned) copied the logits to fp32, "
                       "6 B a logit (not modelled)")
    value, nt_src = _rule("non_torch", v)
    src = nt_src
    non_torch = {"process": float(PROCESS_NON_TORCH_BYTES), "growth": float(NON_TORCH_BYTES)}.get(value)
    if non_torch_given:
        applied.append("non-torch given")
        non_torch = None
    elif non_torch is None:
        unknown.append("non-torch memory: " + src)
    else:
        applied.append(f"non-torch {non_torch / GIB:.3f} GiB ({src})")
        if value == "process":
            unknown.append("under V0 (VLLM_USE_V1=0) from PR #12126 the context is not subtracted (--non-torch 66M)")
    value, src = _rule("cudagraph", v)
    if path == "mrv2" and v < MRV2_MEASURES_CUDAGRAPHS:
        value, src = "none", MRV2_NO_CUDAGRAPH_SOURCE
    if cudagraph_given:
        applied.append("CUDA graphs given" + (f" (the version subtracts none: {src})" if value == "none" else ""))
    elif value == "none":
        applied.append(f"CUDA graphs 0 ({src})")
    else:
        unknown.append("the CUDA-graph estimate, a measurement (" + src + "): give --cudagraph-mem")
    if v < (0, 8):
        unknown.append("V0's batch defaults (256 sequences, the docs' A-C rows) are not applied: give --max-num-seqs "
                       "and --workspace-tokens")
    if v[:2] > NEWEST_DOCUMENTED:
        unknown.append(f"vLLM {name} is newer than the docs describe ({show_version(NEWEST_DOCUMENTED)}): the newest "
                       f"rules applied, unchecked")
    return VersionRules(version=name, sampler=path, non_torch=non_torch, non_torch_source=f"vLLM {name}: {nt_src}",
                        cudagraph_none=value == "none" and not cudagraph_given,
                        cudagraph_source=f"not subtracted: vLLM {name}, {src}",
                        applied=tuple(applied), unknown=tuple(unknown))
