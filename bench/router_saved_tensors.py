"""List what a MoE router's forward leaves for its backward, as transformers runs it: each router class on a small
bf16 input under ``torch.autograd.graph.saved_tensors_hooks``, printing the saved tensors still alive once the router
returns (shape, dtype, bytes; a tensor saved twice is marked). The evidence behind ``ffn.router``'s forms
(mlacalc/activations.py ``_router``, mlacalc/hf.py ``ROUTERS``, docs/training-memory-checks.md "MoE routers").

Needs torch and transformers (read with 5.25.0), neither a dependency of mlacalc; CPU is enough:

    python bench/router_saved_tensors.py
"""

from __future__ import annotations

import gc
import weakref


def alive_saved(module, x) -> list[tuple[tuple[int, ...], str, int, bool]]:
    """(shape, dtype, bytes, already listed) of each tensor ``module(x)`` saved for backward and still holds."""
    import torch

    class Box:
        def __init__(self, t):
            self.t = t

    saved, alive = [], {}

    def pack(t):
        box, i = Box(t), len(saved)
        saved.append((tuple(t.shape), t.dtype, t.data_ptr(), t.element_size() * t.numel()))
        alive[i] = True
        weakref.finalize(box, alive.__setitem__, i, False)
        return box

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda box: box.t):
        out = module(x)  # noqa: F841 (the outputs hold the graph)
        gc.collect()
        seen, rows = set(), []
        for i, (shape, dtype, ptr, nbytes) in enumerate(saved):
            if alive[i]:
                rows.append((shape, str(dtype).replace("torch.", ""), nbytes, (ptr, shape, dtype) in seen))
                seen.add((ptr, shape, dtype))
    return rows


def routers(d: int, E: int, k: int):
    """(name, router module in bf16) of the families whose forms differ."""
    import torch
    from transformers.models.deepseek_v3 import configuration_deepseek_v3 as c3, modeling_deepseek_v3 as m3
    from transformers.models.gpt_oss import configuration_gpt_oss as cg, modeling_gpt_oss as mg
    from transformers.models.mistral4 import configuration_mistral4 as c4, modeling_mistral4 as m4
    from transformers.models.mixtral import configuration_mixtral as cx, modeling_mixtral as mx
    from transformers.models.qwen3_moe import configuration_qwen3_moe as cq, modeling_qwen3_moe as mq

    out = [("DeepseekV3TopkRouter", m3.DeepseekV3TopkRouter(c3.DeepseekV3Config(
               hidden_size=d, n_routed_experts=E, num_experts_per_tok=k, n_group=4, topk_group=2,
               norm_topk_prob=True))),
           ("MixtralTopKRouter", mx.MixtralTopKRouter(cx.MixtralConfig(
               hidden_size=d, num_local_experts=E, num_experts_per_tok=k))),
           ("Qwen3MoeTopKRouter", mq.Qwen3MoeTopKRouter(cq.Qwen3MoeConfig(
               hidden_size=d, num_experts=E, num_experts_per_tok=k, norm_topk_prob=True))),
           ("Mistral4TopkRouter", m4.Mistral4TopkRouter(c4.Mistral4Config(
               hidden_size=d, n_routed_experts=E, num_experts_per_tok=k, n_group=4, topk_group=2,
               norm_topk_prob=True))),
           ("GptOssTopKRouter", mg.GptOssTopKRouter(cg.GptOssConfig(
               hidden_size=d, num_local_experts=E, num_experts_per_tok=k)))]
    for _, r in out:
        torch.nn.init.normal_(r.weight)
    return [(n, r.to(torch.bfloat16)) for n, r in out]


def main() -> None:
    import torch

    T, d, E, k = 16, 64, 16, 4
    torch.manual_seed(0)
    x = torch.randn(T, d, dtype=torch.bfloat16, requires_grad=True)
    print(f"T {T} tokens, d {d}, E {E}, k {k}; bf16 weights (the whole module cast, as FSDP2's param_dtype or "
          f"DeepSpeed's bf16 engine casts it)")
    for name, router in routers(d, E, k):
        print(name)
        for shape, dtype, nbytes, dup in alive_saved(router, x):
            print(f"  {str(shape):10s} {dtype:9s} {nbytes:6d} B{'  (the same tensor again)' if dup else ''}")
    # from_pretrained(dtype=torch.bfloat16) keeps gate.weight in fp32 (DeepseekV3PreTrainedModel's
    # _keep_in_fp32_modules_strict = ["e_score_correction_bias", "gate.weight"], 5.25.0): the fp32 "copy" the linear
    # saves is then the parameter itself, no activation memory; ffn.router fp32-linear prices the cast weights above
    router = routers(d, E, k)[0][1].to(torch.float32)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        router(x)
    own = router.weight.untyped_storage().data_ptr()
    print("DeepseekV3TopkRouter, weight kept in fp32 as from_pretrained loads it: the saved E x d tensor is the "
          f"parameter: {any(t.untyped_storage().data_ptr() == own for t in saved)}")


if __name__ == "__main__":
    main()
