"""Lab script (GPU): the memory a CUDA process holds outside PyTorch's allocator, which vLLM measures and subtracts
before sizing its KV cache ("non-torch memory": the CUDA context, cuBLAS / cuBLASLt workspaces, loaded kernels), and
the total cudaMemGetInfo reports (vLLM's total_gpu_memory) beside NVML's (nvidia-smi's). One JSON object on stdout.

    python3 bench/nontorch_memory.py > FILE.json
"""

from __future__ import annotations

import json

import torch


def used(dev: int) -> int:
    free, total = torch.cuda.mem_get_info(dev)
    return total - free


def main() -> None:
    dev = 0
    torch.cuda.init()
    out = {"gpu": torch.cuda.get_device_name(dev), "torch": torch.__version__}
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(dev)
        out["nvml_total_bytes"] = pynvml.nvmlDeviceGetMemoryInfo(h).total
        out["nvml_used_before_context_bytes"] = pynvml.nvmlDeviceGetMemoryInfo(h).used
    except Exception as e:  # noqa: BLE001 - a lab script records what it could not read
        out["nvml_error"] = f"{type(e).__name__}: {e}"
    torch.zeros(1, device=dev)                       # the context
    torch.cuda.synchronize()
    out["cuda_total_bytes"] = torch.cuda.mem_get_info(dev)[1]
    out["after_context_bytes"] = used(dev)
    a = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16)
    (a @ a).sum().item()                             # cuBLAS handle and workspace
    torch.cuda.synchronize()
    out["after_cublas_bytes"] = used(dev)
    out["torch_reserved_bytes"] = torch.cuda.memory_reserved(dev)
    out["nontorch_bytes"] = out["after_cublas_bytes"] - out["torch_reserved_bytes"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
