"""vLLM's own accounting of the KV budget (``fit --engine vllm``): what vLLM subtracts that mlacalc's default does not.

vLLM v1 ``gpu_worker.py`` ``determine_available_memory`` (V0 ``worker.py`` ``determine_num_available_blocks``):

    kv_budget = gpu_memory_utilization x total - weights - non_torch - activation_peak

- ``total``: ``torch.cuda.mem_get_info()``'s total, i.e. cudaMemGetInfo's, under nvidia-smi's (the H200's 139.80 GiB
  against 140.40 GiB, measured: reports/h200/nontorch_memory.json). Taken from the hardware file's
  ``cuda_memory_gib`` when it has one; otherwise nvidia-smi's ``memory_gib`` and the breakdown says so.
- ``non_torch``: memory the process gained outside PyTorch's allocator since the worker's start-up snapshot (V1
  ``gpu_worker.py`` ``init_device`` takes ``self.init_snapshot = MemorySnapshot()`` once the CUDA context exists;
  ``vllm/utils/mem_utils.py`` ``memory_profiling``: ``non_torch_increase = after_profile.non_torch_memory -
  baseline.non_torch_memory``; V0 the same from PR #12126). The CUDA context is in the snapshot, so it is not
  subtracted: vLLM 0.19's log prints "worker init memory snapshot: ... non_torch_memory=0.51GiB" on an H100 and then
  "non-torch forward increase memory: 0.25GiB" (llm-d-incubation/llm-d-planner accuracy/results/v0.19.0, gemma-2-9b).
  Default :data:`NON_TORCH_BYTES`: the growth after the context measured in one process on an H200 (cuBLAS's handle
  and workspace); :data:`PROCESS_NON_TORCH_BYTES` (context included) is what V0 before PR #12126 subtracted, and what
  SGLang's free-memory figure already lacks (:mod:`mlacalc.sglang`). Public logs at tp 1 print 0.03-0.26 GiB
  (FlashInfer and Triton kernels loaded, version by version). No term grows with tp, because the
  public logs (docs/vllm-capacity-checks.md, "Non-torch memory at tp > 1") do not support one. At tp 2-8 they show
  :data:`NON_TORCH_LOGGED_TP_GIB` per GPU, and what vLLM subtracts depends on its version more than on tp:
  V0 from PR #12126 and V1 up to v0.10 subtract the growth since a snapshot taken before NCCL starts (NCCL and custom
  all-reduce buffers counted: 3.58 GiB at tp 2 on an H100, vllm PR #10511; 2.10 GiB at tp 8 on A100 40GB, v0.7.1, a
  SageMaker write-up whose repository was not identified);
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
  the top-k/top-p path vLLM takes (:data:`SAMPLER_BYTES_PER_LOGIT`): ``fused`` (FlashInfer's kernel, or from v0.17
  the Triton top-k/top-p of ``apply_top_k_top_p_triton``: no sort), the default; ``sort`` (PyTorch's
  ``logits.sort``: V0, and V1 without FlashInfer before v0.17).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ArgError, show
from .units import finite

GIB = 2**30

# reports/h200/nontorch_memory.json (bench/nontorch_memory.py, one process, torch 2.11 + CUDA 13.0): device memory
# used after the CUDA context and a cuBLAS matmul, less what PyTorch's allocator reserved ("nontorch_bytes", 0.669
# GiB), of which the context itself ("after_context_bytes") is 650,969,088 B. vLLM subtracts the growth after the
# context (module docstring): 718,077,952 - 650,969,088 = 67,108,864 B (64 MiB, cuBLAS).
PROCESS_NON_TORCH_BYTES = 718_077_952
CUDA_CONTEXT_BYTES = 650_969_088
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
# "fused": FlashInfer (flashinfer_sample -> flashinfer.sampling.top_k_top_p_sampling_from_logits, filter order
# "top_k_first": top_k_mask_logits, then softmax), or from v0.17 the PyTorch path with Triton
# (apply_top_k_top_p_triton, in place; then forward_native's softmax and random_sample's exponential noise):
#   compute_logits' output in the model dtype (bf16)             2   (_dummy_sampler_run's ``logits``)
#   ``logits.to(torch.float32)``                                   4   (Sampler.forward)
#   the masked logits (FlashInfer) / the probabilities (Triton)    4
#   the probabilities (FlashInfer) / the noise ``q`` (Triton)      4
# = 14. vLLM 0.19 logs (H100, 1,024 rows) put 0.10-0.16 GiB above this at vocabularies of 128k-256k, unexplained here.
#
# "sort": PyTorch's sort (apply_top_k_top_p_pytorch: ``logits_sort, logits_idx = logits.sort(dim=-1)``), widest
# during the sort itself: for 128 or more rows ATen's segmented_sort_pairs (pytorch aten/src/ATen/native/cuda/
# SortStable.cu) allocates an int64 index per logit and calls cub's DeviceSegmentedRadixSort::SortPairs, whose
# temporary storage holds alternate key and value buffers (fp32 + int64):
#   bf16 logits 2, fp32 logits 4, the int64 reverse indices 8, the sorted fp32 values 4 and int64 indices 8,
#   cub's alternate keys 4 and values 8                           = 38
# (after the sort the masks, top-p probabilities and re-scattered logits live beside the values and indices: 28).
# vLLM 0.15-0.16 logs (Qwen3-14B, H100, 1,024 rows: a 5.64 GiB peak) put 38.4 B a logit; V0's sampler also keeps
# log-probabilities.
SAMPLER_BYTES_PER_LOGIT = {"fused": 2 + 4 + 4 + 4, "sort": 2 + 4 + 8 + 4 + 8 + 4 + 8}
SAMPLER_PATHS = tuple(SAMPLER_BYTES_PER_LOGIT)
DEFAULT_SAMPLER = "fused"


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
                 path: str = DEFAULT_SAMPLER) -> float:
    """Bytes live while ``_dummy_sampler_run`` samples: the forward's output kept by ``profile_run`` (``tokens x d``,
    bf16), the rows gathered for sampling and ``torch.rand_like`` of them (``2 x rows x d``, bf16), and
    :data:`SAMPLER_BYTES_PER_LOGIT` of ``path`` per row per vocabulary entry. ``rows = min(tokens, max_num_seqs)``
    (v1 ``_dummy_run``: ``num_reqs = min(num_tokens, max_num_reqs)``, one sampled position per request)."""
    rows = min(tokens, max_num_seqs)
    return (tokens * hidden_size * 2 + 2 * rows * hidden_size * 2
            + rows * vocab_size * SAMPLER_BYTES_PER_LOGIT[check_sampler(path)])


@dataclass(frozen=True)
class VllmMemory:
    """Memory per GPU as vLLM accounts it, bytes: ``usable - weights - non_torch - activation_peak = kv_budget``."""

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

    @property
    def usable(self) -> float:
        return self.gpu_mem_util * self.total

    @property
    def activation_peak(self) -> float:
        """The profile run's peak: the larger phase (see module docstring)."""
        return max(self.forward, self.sampler)

    @property
    def kv_budget(self) -> float:
        return self.usable - self.weights - self.non_torch - self.activation_peak

    def as_dict(self) -> dict:
        return {"total": self.total, "total_source": self.total_source, "gpu_mem_util": self.gpu_mem_util,
                "usable": self.usable, "weights": self.weights, "non_torch": self.non_torch,
                "non_torch_source": self.non_torch_source, "activation_peak": self.activation_peak,
                "forward": self.forward, "sampler": self.sampler,
                "max_num_batched_tokens": self.tokens, "max_num_seqs": self.max_num_seqs,
                "sampler_path": self.sampler_path, "kv_budget": self.kv_budget}


def check_max_num_seqs(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ArgError("max_num_seqs", f"must be a whole number of at least 1, got {show(n)}")
    if n > 1 << 24:
        raise ArgError("max_num_seqs", f"too large (at most {1 << 24:,}), got {n:,}")
    return n


def check_non_torch(b) -> float:
    return finite(b, "non_torch_bytes", minimum=0, maximum=2.0**60)
