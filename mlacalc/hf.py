"""Read a Hugging Face ``config.json`` (local only) into a raw spec mapping.

Field names as the transformers configs spell them (checked against the public configs named in
``model_specs/*.yaml``): DeepseekV2/V3 (and Kimi-K2, which uses ``model_type: kimi_k2``/``deepseek_v3``),
Llama, Mistral, Mixtral, Qwen2/2.5/3, Qwen2-MoE/Qwen3-MoE and Gemma-2. An explicit ``head_dim`` wins over
``hidden_size / num_attention_heads`` (Qwen3, Gemma-2 and Mistral-Nemo set one that differs).

Defaults that a config.json leaves out are the transformers class defaults, which differ by family: Gemma's
``config.json`` has no ``tie_word_embeddings`` key, and ``Gemma2Config`` ties by default. The released weight
dtype is read from ``quantization_config`` where there is one (DeepSeek-V3 and Kimi-K2 ship block-FP8 weights
under ``torch_dtype: bfloat16``). ``tests/fixtures/hf/`` holds real configs of each family.
"""

from __future__ import annotations

from typing import Any

from .errors import SpecError


def _req(cfg: dict, *keys: str) -> Any:
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    raise SpecError(f"config.json: {keys[0]}", "is required but missing")


def _attention(cfg: dict, mt: str) -> dict:
    heads = _req(cfg, "num_attention_heads", "n_head")
    if cfg.get("kv_lora_rank"):
        return {"kind": "mla", "num_heads": heads, "num_kv_heads": heads,
                "qk_nope_head_dim": _req(cfg, "qk_nope_head_dim"), "qk_rope_head_dim": _req(cfg, "qk_rope_head_dim"),
                "v_head_dim": _req(cfg, "v_head_dim"), "q_lora_rank": cfg.get("q_lora_rank"),
                "kv_lora_rank": cfg["kv_lora_rank"]}
    kv = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or _req(cfg, "hidden_size") // heads
    rope = int(round(head_dim * cfg.get("partial_rotary_factor", 1.0)))
    kind = "mha" if kv == heads else "mqa" if kv == 1 else "gqa"
    a = {"kind": kind, "num_heads": heads, "num_kv_heads": kv, "qk_nope_head_dim": head_dim - rope,
         "qk_rope_head_dim": rope, "v_head_dim": head_dim}
    if mt.startswith("qwen2") or cfg.get("attention_bias") is True:  # Qwen2 has q/k/v biases but no flag
        a["qkv_bias"] = True
    if mt.startswith("qwen3"):
        a["qk_norm"] = True
    window = cfg.get("sliding_window")
    use_window = cfg.get("use_sliding_window", True)  # Qwen2 carries a window but switches it off
    max_pos = cfg.get("max_position_embeddings")
    if window and max_pos and window >= max_pos:
        window = None  # a window as long as the context is global attention (early Mixtral configs: 32768)
    if window and use_window:
        every = _global_every(cfg, mt)
        if every != 0:
            a["sliding_window"] = window
            if every is not None:
                a["global_every"] = every
    return a


def _global_every(cfg: dict, mt: str) -> int | None:
    """Local/global layer pattern: 0 = no local layers, None = all local, N = every N-th layer is global."""
    types = cfg.get("layer_types")
    if isinstance(types, list) and types:  # newer transformers write the pattern out per layer
        unknown = sorted({t for t in types if t not in ("full_attention", "sliding_attention")})
        if unknown:
            raise SpecError("config.json: layer_types", f"unsupported layer type(s): {', '.join(unknown)}")
        is_global = [t == "full_attention" for t in types]
        if all(is_global):
            return 0
        if not any(is_global):
            return None
        n = is_global.index(True) + 1
        if is_global != [(i + 1) % n == 0 for i in range(len(types))]:
            raise SpecError("config.json: layer_types", "local/global pattern is not every N-th layer global")
        return n
    if mt.startswith("gemma2"):
        return 2  # Gemma-2 alternates local and global layers
    if mt.startswith("gemma3"):
        return int(cfg.get("sliding_window_pattern") or 6)
    return None


def _ffn(cfg: dict, mt: str) -> dict:
    inter = cfg.get("intermediate_size")
    gated = cfg.get("hidden_act", "silu") != "gelu" or mt.startswith("gemma")
    experts = cfg.get("n_routed_experts") or cfg.get("num_local_experts") or cfg.get("num_experts")
    if not experts:
        return {"kind": "dense", "intermediate_size": _req(cfg, "intermediate_size"), "gated": gated}
    f = {"kind": "moe", "gated": gated, "num_experts": experts,
         "experts_per_token": _req(cfg, "num_experts_per_tok", "num_experts_per_token")}
    if mt.startswith("mixtral"):  # Mixtral's intermediate_size is the expert width; no dense layers
        f.update(intermediate_size=inter, expert_intermediate_size=inter)
        return f
    expert_w = _req(cfg, "moe_intermediate_size")
    f.update(intermediate_size=inter or expert_w, expert_intermediate_size=expert_w,
             first_dense_layers=cfg.get("first_k_dense_replace", 0) or 0,
             num_shared_experts=cfg.get("n_shared_experts", 0) or 0)
    if cfg.get("shared_expert_intermediate_size"):  # Qwen2-MoE: one shared expert of its own width
        f.update(num_shared_experts=1, shared_expert_intermediate_size=cfg["shared_expert_intermediate_size"])
    if cfg.get("mlp_only_layers"):
        raise SpecError("config.json: mlp_only_layers", "dense layers in arbitrary positions are not supported")
    if (cfg.get("decoder_sparse_step") or 1) != 1 or (cfg.get("moe_layer_freq") or 1) != 1:
        raise SpecError("config.json: decoder_sparse_step", "MoE on every N-th layer (N > 1) is not supported")
    return f


def spec_dict_from_hf_config(cfg: dict, name: str) -> dict:
    """Map an HF ``config.json`` mapping to mlacalc's raw spec mapping (validated later)."""
    if "text_config" in cfg and isinstance(cfg["text_config"], dict):  # multimodal wrappers
        cfg = {**cfg["text_config"], "model_type": cfg["text_config"].get("model_type", cfg.get("model_type"))}
    mt = str(cfg.get("model_type", "")).lower()
    out = {
        "name": name,
        "num_layers": _req(cfg, "num_hidden_layers", "n_layer"),
        "hidden_size": _req(cfg, "hidden_size"),
        "vocab_size": _req(cfg, "vocab_size"),
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", mt.startswith("gemma"))),
        "attention": _attention(cfg, mt),
        "ffn": _ffn(cfg, mt),
        "mtp_layers": cfg.get("num_nextn_predict_layers", 0) or 0,
        "dtypes": {"weights": _weight_dtype(cfg), "kv": "bf16"},
    }
    return out


_DTYPE_NAMES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def _weight_dtype(cfg: dict) -> str:
    """The dtype the weights are released in: an FP8 ``quantization_config`` wins over ``torch_dtype``."""
    q = cfg.get("quantization_config")
    if isinstance(q, dict) and str(q.get("quant_method", "")).lower() == "fp8":
        return "fp8"
    dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16").replace("torch.", "")
    return _DTYPE_NAMES.get(dtype, "bf16")
