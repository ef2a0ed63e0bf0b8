"""Read a Hugging Face ``config.json`` (local only) into a raw spec mapping.

Field names as the transformers configs spell them (checked against the public configs named in
``model_specs/*.yaml``): DeepseekV2/V3 (and Kimi-K2, which uses ``model_type: kimi_k2``/``deepseek_v3``),
Llama, Mistral, Mixtral, Qwen2/2.5/3, Qwen2-MoE/Qwen3-MoE and Gemma-2. An explicit ``head_dim`` wins over
``hidden_size / num_attention_heads`` (Qwen3, Gemma-2 and Mistral-Nemo set one that differs).
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
    if mt.startswith("qwen2"):
        a["qkv_bias"] = True
    if mt.startswith("qwen3"):
        a["qk_norm"] = True
    window = cfg.get("sliding_window")
    use_window = cfg.get("use_sliding_window", True)  # Qwen2 carries a window but switches it off
    if window and use_window:
        a["sliding_window"] = window
        if mt.startswith("gemma2"):
            a["global_every"] = 2  # Gemma-2 alternates local and global layers
    return a


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
    dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16").replace("torch.", "")
    out = {
        "name": name,
        "num_layers": _req(cfg, "num_hidden_layers", "n_layer"),
        "hidden_size": _req(cfg, "hidden_size"),
        "vocab_size": _req(cfg, "vocab_size"),
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "attention": _attention(cfg, mt),
        "ffn": _ffn(cfg, mt),
        "mtp_layers": cfg.get("num_nextn_predict_layers", 0) or 0,
        "dtypes": {"weights": dtype if dtype in ("float32", "bfloat16", "float16") else "bf16", "kv": "bf16"},
    }
    return out
