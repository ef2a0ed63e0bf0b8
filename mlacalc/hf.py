"""Read a Hugging Face ``config.json`` (local only) into a raw spec mapping.

Field names as the transformers configuration classes spell them, per ``model_type``:

- conventional attention: ``llama``, ``mistral``, ``mixtral``, ``qwen2``, ``qwen2_moe``, ``qwen3``,
  ``qwen3_moe``, ``gemma``, ``gemma2``, ``gemma3``/``gemma3_text``, ``olmo2``, ``gpt_oss``, ``llama4``/
  ``llama4_text``, ``mllama`` (Llama-3.2-Vision), ``gpt2``, ``falcon``;
- MLA: ``deepseek_v2``, ``deepseek_v3``, ``kimi_k2``, ``minicpm3``; DSA (MLA plus the lightning indexer):
  ``deepseek_v32``, ``glm_moe_dsa``;
- hybrids of linear and full attention: ``qwen3_next`` (Gated DeltaNet), ``kimi_linear`` (KDA and MLA).

Any other ``model_type`` is read as a Llama-shaped dense model only when every key it carries is one this module
knows (:data:`GENERIC_KEYS`) and the keys it needs are present; a config that needs what the spec cannot say is
refused with one line naming the model_type and the feature (``longcat_flash``: two attention blocks per layer).

Defaults a config.json leaves out are the transformers class defaults, which differ by family (:data:`DEFAULTS`):
Gemma ties embeddings by default, Gemma-3's ``text_config`` has no ``vocab_size`` (262208) and no
``sliding_window_pattern`` (6), MiniCPM3's has no ``v_head_dim`` (``hidden_size / num_heads``). Multimodal
wrappers (``text_config``) give the text decoder; the vision tower is left out and the description says so.

Weights: ``quantization_config`` becomes the spec's ``quantization`` block (fp8 blocks, MXFP4, compressed-tensors,
AWQ, GPTQ; :func:`quantization`); an fp32 ``torch_dtype`` is served at 16 bits (bf16), as engines load it.
``max_position_embeddings`` (:func:`max_position_embeddings`) becomes ``max_context``.
``tests/fixtures/hf/`` holds a config of each family.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from .errors import SpecError

WHERE = "config.json"

# model_type of the text decoder inside a multimodal wrapper
WRAPPERS = {"gemma3": "gemma3_text", "llama4": "llama4_text", "mllama": "mllama"}

# architectures -> model_type, for configs written without one (MiniCPM3's remote-code config)
ARCHITECTURES = {"MiniCPM3ForCausalLM": "minicpm3"}

# transformers class defaults for keys released configs leave out
DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma": {"tie_word_embeddings": True},
    "gemma2": {"tie_word_embeddings": True},
    "gemma3_text": {"tie_word_embeddings": True, "vocab_size": 262208, "sliding_window_pattern": 6,
                    "max_position_embeddings": 131072},
    "minicpm3": {"tie_word_embeddings": True},
    "gpt2": {"tie_word_embeddings": True},
    "falcon": {"tie_word_embeddings": True},
}

CONVENTIONAL = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
                "gemma3_text", "olmo2", "gpt_oss", "llama4_text", "mllama", "qwen3_next", "gpt2", "falcon"}
LATENT = {"deepseek_v2", "deepseek_v3", "kimi_k2", "minicpm3", "deepseek_v32", "glm_moe_dsa", "kimi_linear"}
KNOWN = CONVENTIONAL | LATENT

# model_types whose configs parse but whose architecture the spec cannot describe
REFUSED = {
    "longcat_flash": "two attention blocks per layer (and zero-computation experts) are not modelled",
}

# keys a Llama-shaped config of an unknown model_type may carry: the ones read below and ones that do not change
# sizes (token ids, dropout, initialisation, RoPE frequencies, norm epsilons, bookkeeping)
GENERIC_KEYS = {
    "architectures", "model_type", "torch_dtype", "dtype", "transformers_version", "_name_or_path",
    "bos_token_id", "eos_token_id", "pad_token_id", "attention_dropout", "hidden_dropout", "initializer_range",
    "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters", "use_cache", "pretraining_tp",
    "num_hidden_layers", "hidden_size", "vocab_size", "num_attention_heads", "num_key_value_heads", "head_dim",
    "intermediate_size", "hidden_act", "tie_word_embeddings", "attention_bias", "mlp_bias",
    "max_position_embeddings", "layer_types", "sliding_window", "quantization_config", "output_attentions",
    "output_hidden_states", "return_dict", "id2label", "label2id", "problem_type", "tokenizer_class",
}

LAYER_NAMES = {"full_attention": "full", "sliding_attention": "sliding", "chunked_attention": "chunked",
               "linear_attention": "linear", "indexed_attention": "full"}


def _refuse(mt: str, feature: str) -> SpecError:
    return SpecError(WHERE, f"model_type {mt}: {feature}")


def _req(cfg: dict, mt: str, *keys: str) -> Any:
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    return _missing(mt, keys[0])


def _missing(mt: str, key: str):
    raise SpecError(WHERE, f"model_type {mt}: has no {key}, which sizes the model")


def _text_config(cfg: dict) -> tuple[str, dict, str]:
    """(model_type of the decoder, the decoder's config with the wrapper's dtype/tie/quantization keys and the
    family defaults filled in, a description)."""
    mt = str(cfg.get("model_type") or "").lower()
    if not mt:
        mt = next((ARCHITECTURES[a] for a in cfg.get("architectures") or [] if a in ARCHITECTURES), "")
    if not mt:
        raise SpecError(WHERE, "has no model_type (and no architecture this tool knows)")
    description = ""
    if mt in WRAPPERS or isinstance(cfg.get("text_config"), dict):
        inner = cfg.get("text_config")
        if not isinstance(inner, dict):
            raise _refuse(mt, "has no text_config")
        inner = dict(inner)
        for k in ("torch_dtype", "dtype", "tie_word_embeddings", "quantization_config"):
            if k not in inner and k in cfg:
                inner[k] = cfg[k]
        inner_mt = WRAPPERS.get(mt) or str(inner.get("model_type") or "").lower()
        if not inner_mt:
            raise _refuse(mt, "its text_config has no model_type")
        description = f"the text decoder of {mt}; the vision tower is left out"
        mt, cfg = inner_mt, inner
    return mt, {**DEFAULTS.get(mt, {}), **cfg}, description


def max_position_embeddings(cfg: dict) -> int | None:
    """The longest context a config declares: ``max_position_embeddings`` (GPT-2: ``n_positions``; Kimi-Linear:
    ``model_max_length``) of the text decoder, family defaults included; None when it says none (Falcon)."""
    return _limit(_text_config(cfg)[1])


def _limit(c: dict) -> int | None:
    for k in ("max_position_embeddings", "n_positions", "model_max_length"):
        v = c.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


# ---------------------------------------------------------------------------------------------------------
# Layers: which attention each layer has
# ---------------------------------------------------------------------------------------------------------

def _from_layer_types(cfg: dict, mt: str, L: int) -> list[str]:
    types = cfg["layer_types"]
    if not isinstance(types, list) or len(types) != L:
        raise _refuse(mt, f"layer_types has {len(types) if isinstance(types, list) else 'no'} entries for {L} layers")
    unknown = sorted({str(t) for t in types if t not in LAYER_NAMES})
    if unknown:
        raise _refuse(mt, f"layer type(s) {', '.join(unknown)} are not modelled")
    return [LAYER_NAMES[t] for t in types]


def _layer_types(cfg: dict, mt: str, L: int) -> tuple[list[str], int | None]:
    """Per-layer types (full, sliding, chunked, linear, cross), and ``global_every`` N when the config states the
    pattern as every N-th layer global (Gemma-2/3) rather than per layer."""
    if mt == "kimi_linear":
        lac = cfg.get("linear_attn_config")
        if not isinstance(lac, dict) or not isinstance(lac.get("full_attn_layers"), list):
            raise _refuse(mt, "without linear_attn_config.full_attn_layers its layer pattern is unknown")
        full = {int(i) - 1 for i in lac["full_attn_layers"]}               # 1-based in the config
        kda = {int(i) - 1 for i in lac.get("kda_layers") or set(range(1, L + 1)) - {i + 1 for i in full}}
        if full | kda != set(range(L)) or full & kda:
            raise _refuse(mt, "full_attn_layers and kda_layers do not split the layers between them")
        return ["full" if i in full else "linear" for i in range(L)], None
    if mt == "qwen3_next":
        if cfg.get("layer_types") is not None:
            return _from_layer_types(cfg, mt, L), None
        n = int(_req(cfg, mt, "full_attention_interval"))
        return ["full" if (i + 1) % n == 0 else "linear" for i in range(L)], None
    if mt == "llama4_text":
        if not cfg.get("attention_chunk_size"):
            return ["full"] * L, None
        rope = cfg.get("no_rope_layers")                              # 1: RoPE (chunked); 0: NoPE (full)
        if not rope:
            rope = [int((i + 1) % 4 != 0) for i in range(L)]
        if len(rope) != L:
            raise _refuse(mt, f"no_rope_layers has {len(rope)} entries for {L} layers")
        return ["chunked" if r else "full" for r in rope], None
    if mt == "mllama":
        cross = set(cfg.get("cross_attention_layers") or [])
        return ["cross" if i in cross else "full" for i in range(L)], None
    if cfg.get("layer_types") is not None:
        return _from_layer_types(cfg, mt, L), None
    window = cfg.get("sliding_window")
    if not window or cfg.get("use_sliding_window") is False:
        return ["full"] * L, None
    if mt in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):       # sliding from layer max_window_layers on
        first = cfg.get("max_window_layers", 0) or 0
        return ["sliding" if i >= first else "full" for i in range(L)], None
    if mt == "gemma2":
        return ["full" if i % 2 else "sliding" for i in range(L)], 2
    if mt == "gemma3_text":
        n = int(cfg["sliding_window_pattern"])
        return ["full" if (i + 1) % n == 0 else "sliding" for i in range(L)], n
    max_pos = cfg.get("max_position_embeddings")
    if max_pos and window >= max_pos:
        return ["full"] * L, None  # a window as long as the context is global attention (early Mixtral: 32768)
    if mt in KNOWN:
        return ["sliding"] * L, None                                 # Mistral, Mixtral: every layer local
    raise _refuse(mt, "sliding_window without layer_types: which layers are local is not known")


def _period(types: list[str]) -> list[str]:
    """The shortest prefix that repeats to ``types`` (gpt-oss: [sliding, full])."""
    L = len(types)
    for n in range(1, L + 1):
        if L % n == 0 and types == types[:n] * (L // n):
            return types[:n]
    return types


def _pattern_fields(cfg: dict, mt: str, L: int) -> tuple[dict, dict]:
    """(attention fields, spec fields) of the layer pattern: sliding_window/global_every/chunk_size, layer_types."""
    types, every = _layer_types(cfg, mt, L)
    attn, spec = {}, {}
    used = set(types)
    if "sliding" in used:
        attn["sliding_window"] = _req(cfg, mt, "sliding_window")
    if "chunked" in used:
        attn["chunk_size"] = _req(cfg, mt, "attention_chunk_size")
    if every is not None:
        attn["global_every"] = every
    elif used not in ({"full"}, {"sliding"}):
        spec["layer_types"] = _period(types)
    return attn, spec


# ---------------------------------------------------------------------------------------------------------
# Attention and FFN blocks
# ---------------------------------------------------------------------------------------------------------

def _latent(cfg: dict, mt: str) -> dict:
    heads = _req(cfg, mt, "num_attention_heads")
    v = cfg.get("v_head_dim")
    if v is None:
        if mt != "minicpm3":
            _missing(mt, "v_head_dim")
        v = _req(cfg, mt, "hidden_size") // heads                       # MiniCPM3's remote code
    a = {"kind": "mla", "num_heads": heads, "qk_nope_head_dim": _req(cfg, mt, "qk_nope_head_dim"),
         "qk_rope_head_dim": _req(cfg, mt, "qk_rope_head_dim"), "v_head_dim": v,
         "q_lora_rank": cfg.get("q_lora_rank") or None, "kv_lora_rank": _req(cfg, mt, "kv_lora_rank")}
    if mt in ("deepseek_v32", "glm_moe_dsa"):
        a.update(kind="dsa", index_n_heads=_req(cfg, mt, "index_n_heads"),
                 index_head_dim=_req(cfg, mt, "index_head_dim"), index_topk=_req(cfg, mt, "index_topk"))
        shared = [t for t in cfg.get("indexer_types") or [] if t != "full"]
        if shared:
            raise _refuse(mt, "indexer layers that reuse another layer's top-k (indexer_types) are not modelled")
    elif cfg.get("index_topk") is not None:
        raise _refuse(mt, "a sparse-attention indexer is not modelled for this model_type")
    return a


def _conventional(cfg: dict, mt: str) -> dict:
    heads = _req(cfg, mt, "num_attention_heads", "n_head")
    hidden = _req(cfg, mt, "hidden_size", "n_embd")
    if mt == "falcon":
        kv = _req(cfg, mt, "num_kv_heads") if cfg.get("new_decoder_architecture") else \
            1 if cfg.get("multi_query") else heads
    else:
        kv = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim")
    if not head_dim:
        if hidden % heads:
            raise _refuse(mt, f"hidden_size {hidden} is not a multiple of {heads} heads and head_dim is not given")
        head_dim = hidden // heads
    no_rope = mt == "gpt2" or (mt == "falcon" and cfg.get("alibi"))   # learned positions / ALiBi
    rope = 0 if no_rope else int(round(head_dim * cfg.get("partial_rotary_factor", 1.0)))
    kind = "mha" if kv == heads else "mqa" if kv == 1 else "gqa"
    a = {"kind": kind, "num_heads": heads, "num_kv_heads": kv, "qk_nope_head_dim": head_dim - rope,
         "qk_rope_head_dim": rope, "v_head_dim": head_dim}
    if mt in ("qwen2", "qwen2_moe"):                 # q/k/v biases hard-wired, no flag
        a["qkv_bias"] = True
    if cfg.get("attention_bias") is True or mt == "gpt2" or (mt == "falcon" and cfg.get("bias")):
        a["qkv_bias"] = a["o_bias"] = True
    if mt in ("qwen3", "qwen3_moe", "qwen3_next", "gemma3_text", "olmo2"):
        a["qk_norm"] = True
    if mt == "qwen3_next":
        a["output_gate"] = True
    if mt == "gpt_oss":
        a["sinks"] = True
    return a


def _linear(cfg: dict, mt: str) -> dict | None:
    if mt == "qwen3_next":
        return {"kind": "gated_deltanet", "num_k_heads": _req(cfg, mt, "linear_num_key_heads"),
                "num_v_heads": _req(cfg, mt, "linear_num_value_heads"),
                "head_k_dim": _req(cfg, mt, "linear_key_head_dim"),
                "head_v_dim": _req(cfg, mt, "linear_value_head_dim"),
                "conv_kernel_size": _req(cfg, mt, "linear_conv_kernel_dim")}
    if mt == "kimi_linear":
        lac = cfg["linear_attn_config"]
        heads, dim = _req(lac, mt, "num_heads"), _req(lac, mt, "head_dim")
        return {"kind": "kda", "num_k_heads": heads, "num_v_heads": heads, "head_k_dim": dim, "head_v_dim": dim,
                "conv_kernel_size": _req(lac, mt, "short_conv_kernel_size")}
    return None


def _ffn(cfg: dict, mt: str) -> dict:
    hidden = _req(cfg, mt, "hidden_size", "n_embd")
    if mt == "gpt2":
        return {"kind": "dense", "intermediate_size": cfg.get("n_inner") or 4 * hidden, "gated": False}
    if mt == "falcon":
        return {"kind": "dense", "intermediate_size": cfg.get("ffn_hidden_size") or 4 * hidden, "gated": False}
    experts = cfg.get("n_routed_experts") or cfg.get("num_local_experts") or cfg.get("num_experts")
    if not experts:
        return {"kind": "dense", "intermediate_size": _req(cfg, mt, "intermediate_size")}
    f = {"kind": "moe", "num_experts": experts,
         "experts_per_token": _req(cfg, mt, "num_experts_per_tok", "num_experts_per_token", "experts_per_token")}
    if mt in ("mixtral", "gpt_oss"):  # intermediate_size is the expert width; no dense layers
        inter = _req(cfg, mt, "intermediate_size")
        f.update(intermediate_size=inter, expert_intermediate_size=inter)
        if mt == "gpt_oss":
            f.update(expert_bias=True, router_bias=True)
        return f
    if mt == "llama4_text":
        step = cfg.get("interleave_moe_layer_step", 1) or 1
        moe_layers = cfg.get("moe_layers")
        L = cfg["num_hidden_layers"]
        if step != 1 or (moe_layers is not None and list(moe_layers) != list(range(L))):
            raise _refuse(mt, "MoE on some layers only (interleave_moe_layer_step > 1) is not modelled")
        return f | {"intermediate_size": cfg.get("intermediate_size_mlp") or _req(cfg, mt, "intermediate_size"),
                    "expert_intermediate_size": _req(cfg, mt, "intermediate_size"), "num_shared_experts": 1}
    expert_w = _req(cfg, mt, "moe_intermediate_size")
    f.update(intermediate_size=cfg.get("intermediate_size") or expert_w, expert_intermediate_size=expert_w,
             first_dense_layers=cfg.get("first_k_dense_replace", 0) or 0,
             num_shared_experts=cfg.get("n_shared_experts") or cfg.get("num_shared_experts") or 0)
    if cfg.get("shared_expert_intermediate_size"):  # Qwen2-MoE, Qwen3-Next: one gated shared expert of its width
        f.update(num_shared_experts=1, shared_expert_intermediate_size=cfg["shared_expert_intermediate_size"],
                 shared_expert_gate=True)
    if cfg.get("mlp_only_layers"):
        raise _refuse(mt, "dense layers in arbitrary positions (mlp_only_layers) are not modelled")
    if (cfg.get("decoder_sparse_step") or 1) != 1 or (cfg.get("moe_layer_freq") or 1) != 1:
        raise _refuse(mt, "MoE on every N-th layer (N > 1) is not modelled")
    return f


def _norms(cfg: dict, mt: str) -> int:
    """RMSNorms (or LayerNorms) of hidden_size per layer."""
    if mt in ("gemma2", "gemma3_text"):
        return 4                                             # pre and post norms around attention and MLP
    if mt == "falcon" and cfg.get("parallel_attn", True):
        # one shared LayerNorm (Falcon-7B), or ln_attn and ln_mlp (new_decoder_architecture, Falcon-40B)
        return (cfg.get("num_ln_in_parallel_attn") or 2) if cfg.get("new_decoder_architecture") else 1
    return 2


# ---------------------------------------------------------------------------------------------------------
# Quantization: quantization_config -> the spec's quantization block
# ---------------------------------------------------------------------------------------------------------

def _module_names(spec: dict) -> dict[str, list[str]]:
    """Module names of each weight component the model has, in the checkpoint's (DeepSeek/Llama/Qwen) naming, to
    test a quantization config's ignore patterns against."""
    a, f = spec["attention"], spec["ffn"]
    if a["kind"] in ("mla", "dsa"):
        attn = (["q_a_proj", "q_b_proj"] if a.get("q_lora_rank") else ["q_proj"]) + \
            ["kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
    else:
        attn = ["q_proj", "k_proj", "v_proj", "o_proj"]
    m = "model.layers.7."
    names = {"attention": [m + "self_attn." + p for p in attn], "embed": ["model.embed_tokens"], "head": ["lm_head"]}
    if f["kind"] == "dense" or f.get("first_dense_layers"):
        names["dense_ffn"] = [f"model.layers.0.mlp.{p}_proj" for p in ("gate", "up", "down")]
    if f["kind"] == "moe":
        names |= {"router": [m + "mlp.gate", m + "mlp.router"],
                  "routed_experts": [f"{m}mlp.experts.3.{p}_proj" for p in ("gate", "up", "down")]}
    if f.get("num_shared_experts"):
        shared = "shared_expert" if f.get("shared_expert_gate") else "shared_experts"
        names["shared_experts"] = [f"{m}mlp.{shared}.{p}_proj" for p in ("gate", "up", "down")]
    return names


def _matches(pattern: str, name: str) -> bool:
    """Whether an ignore pattern covers module ``name``: ``re:`` regexes (compressed-tensors, matched from the
    start), globs (``model.layers.*.self_attn``), or a run of whole dotted names (``lm_head``, ``self_attn``);
    a pattern that names a parent module covers its children."""
    if pattern.startswith("re:"):
        return re.match(pattern[3:], name) is not None
    parts = name.split(".")
    prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    if "*" in pattern or "?" in pattern:
        return any(fnmatch.fnmatchcase(p, pattern) for p in prefixes)
    want = pattern.strip(".").split(".")
    return any(parts[i:i + len(want)] == want for i in range(len(parts)))


def _quantized(mt: str, spec: dict, candidates: tuple[str, ...], ignore: list | None) -> list[str]:
    """The candidate components no ignore pattern covers. A pattern that covers part of a component (one
    projection of attention) is refused: a component is priced at one width."""
    names = _module_names(spec)
    out = []
    for c in candidates:
        if c not in names:
            continue
        hit = [n for n in names[c] if any(_matches(str(p), n) for p in ignore or [])]
        if hit and len(hit) < len(names[c]):
            raise _refuse(mt, f"quantization_config leaves part of the {c} unquantized ({hit[0]}); "
                              "a partly quantized component is not modelled")
        if not hit:
            out.append(c)
    if "mtp" in candidates and spec.get("mtp_layers") and {"attention", "routed_experts"} <= set(out):
        out.append("mtp")           # the MTP module is a decoder layer: quantized like them
    return out


LINEAR = ("attention", "dense_ffn", "shared_experts", "routed_experts", "mtp")


def quantization(cfg: dict, spec: dict, mt: str) -> dict | None:
    """The spec's ``quantization`` block for a ``quantization_config`` (None without one).

    - ``fp8`` (DeepSeek-V3/V3.2, Kimi-K2): e4m3 values; ``weight_block_size [128, 128]`` -> one fp32 scale
      (``weight_scale_inv``) per 16384 values; every Linear of the decoder layers (and the MTP module), embedding,
      head, router and norms in bf16 (DeepSeek-V3 report, section 3.3.1).
    - ``mxfp4`` (gpt-oss): e2m1 4-bit values with one e8m0 scale per 32; every Linear but
      ``modules_to_not_convert`` (gpt-oss: attention, router, embedding, head), i.e. the experts.
    - ``compressed-tensors``: ``config_groups.*.weights`` (``num_bits``, ``type``, ``strategy``, ``group_size``,
      ``symmetric``) on the Linear layers not in ``ignore`` (regexes like ``re:.*self_attn.*``); int scales in the
      model dtype (bf16), an asymmetric zero point at ``num_bits``. Kimi-K2-Thinking: int4, group 32, routed
      experts only.
    - ``awq``/``gptq``: ``bits`` and ``group_size``, an fp16 scale and a packed zero point of ``bits`` per group
      (GPTQ stores zeros even when symmetric), on every Linear of the decoder layers.

    The router stays at 16 bits unless a config quantizes it explicitly; per-channel or per-tensor scales
    (``group_size`` none) are not counted."""
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        return None
    method = str(q.get("quant_method", "")).lower()
    if method == "fp8":
        block = q.get("weight_block_size")
        group = block[0] * block[1] if block else None
        comps = _quantized(mt, spec, LINEAR, q.get("modules_to_not_convert") or q.get("ignored_layers"))
        return {"method": "fp8-block" if group else "fp8", "bits": 8, "group_size": group, "scale_bits": 32,
                "components": comps}
    if method == "mxfp4":
        comps = _quantized(mt, spec, LINEAR, q.get("modules_to_not_convert"))
        return {"method": "mxfp4", "bits": 4, "group_size": 32, "scale_bits": 8, "components": comps}
    if method == "compressed-tensors":
        return _compressed_tensors(q, spec, mt)
    if method in ("awq", "gptq"):
        bits = _req(q, mt, "bits", "w_bit")
        group = q.get("group_size", q.get("q_group_size", 128))
        zero = bits if method == "gptq" or q.get("zero_point", True) else 0
        comps = _quantized(mt, spec, LINEAR, q.get("modules_to_not_convert"))
        return {"method": method, "bits": bits, "group_size": group if group and group > 0 else None,
                "scale_bits": 16, "zero_point_bits": zero, "components": comps}
    raise _refuse(mt, f"quantization_config quant_method {method or '(none)'} is not modelled")


def _compressed_tensors(q: dict, spec: dict, mt: str) -> dict:
    groups = [g for g in (q.get("config_groups") or {}).values() if isinstance(g, dict)]
    weights = [g.get("weights") for g in groups if g.get("weights")]
    if not weights or any(w != weights[0] for w in weights):
        raise _refuse(mt, "compressed-tensors config_groups with different weight schemes are not modelled")
    if any("Linear" not in (g.get("targets") or []) for g in groups):
        raise _refuse(mt, "compressed-tensors targets other than Linear layers are not modelled")
    w = weights[0]
    bits, kind, strategy = _req(w, mt, "num_bits"), str(w.get("type", "int")), str(w.get("strategy", "tensor"))
    group = None
    if strategy == "group":
        group = _req(w, mt, "group_size")
    elif strategy == "block":
        b = _req(w, mt, "block_structure")
        group = b[0] * b[1]
    if kind == "int" and bits in (4, 8):
        method, scale = f"int{bits}", 16
    elif kind == "float" and bits == 8:
        method, scale = ("fp8-block" if strategy == "block" else "fp8"), 32
    elif kind == "float" and bits == 4:
        method, scale = "nvfp4", 8
    else:
        raise _refuse(mt, f"compressed-tensors {kind} weights of {bits} bits are not modelled")
    zero = 0 if w.get("symmetric", True) else bits
    comps = _quantized(mt, spec, LINEAR + ("head",), q.get("ignore"))
    return {"method": method, "bits": bits, "group_size": group, "scale_bits": scale, "zero_point_bits": zero,
            "components": comps}


_DTYPE_NAMES = {"float32": "bf16", "bfloat16": "bf16", "float16": "fp16"}   # fp32 checkpoints serve at 16 bits


def _weight_dtype(cfg: dict, quant: dict | None, spec: dict) -> str:
    """The dtype of the matrices: the quantized one when every matrix of the decoder layers is quantized
    (DeepSeek-V3's fp8, AWQ int4), else the checkpoint's ``torch_dtype`` (fp32 served as bf16)."""
    if quant:
        present = {"attention"} | ({"routed_experts"} if spec["ffn"]["kind"] == "moe" else {"dense_ffn"})
        if present <= set(quant["components"]):
            return "fp8" if quant["method"].startswith("fp8") else \
                f"int{quant['bits']}" if quant["bits"] in (4, 8) else str(quant["bits"])
    dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16").replace("torch.", "")
    return _DTYPE_NAMES.get(dtype, "bf16")


# ---------------------------------------------------------------------------------------------------------

def _check_generic(cfg: dict, mt: str) -> None:
    """An unknown model_type is read only when it is Llama-shaped: every key known, the keys it needs present."""
    unknown = sorted(k for k in cfg if k not in GENERIC_KEYS)
    if unknown:
        raise _refuse(mt, f"key {unknown[0]} is not one this tool understands, so the architecture cannot be "
                          "sized (known model_types: " + ", ".join(sorted(KNOWN)) + ")")
    if cfg.get("mlp_bias"):
        raise _refuse(mt, "MLP biases (mlp_bias) are not modelled")
    if "tie_word_embeddings" not in cfg:
        raise _refuse(mt, "does not say whether the output head is tied (tie_word_embeddings)")


def spec_dict_from_hf_config(cfg: dict, name: str) -> dict:
    """Map an HF ``config.json`` mapping to mlacalc's raw spec mapping (validated later)."""
    mt, cfg, description = _text_config(cfg)
    if mt in REFUSED:
        raise _refuse(mt, REFUSED[mt])
    if mt not in KNOWN:
        _check_generic(cfg, mt)
    L = _req(cfg, mt, "num_hidden_layers", "n_layer")
    cfg.setdefault("num_hidden_layers", L)
    attn = _latent(cfg, mt) if mt in LATENT else _conventional(cfg, mt)
    pattern, layers = _pattern_fields(cfg, mt, L)
    out = {
        "name": name,
        "num_layers": L,
        "hidden_size": _req(cfg, mt, "hidden_size", "n_embd"),
        "vocab_size": _req(cfg, mt, "vocab_size"),
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "attention": attn | pattern,
        **layers,
        "ffn": _ffn(cfg, mt),
        "norms_per_layer": _norms(cfg, mt),
        "mtp_layers": cfg.get("num_nextn_predict_layers", 0) or 0,
    }
    linear = _linear(cfg, mt)
    if linear:
        out["linear_attention"] = linear
    quant = quantization(cfg, out, mt)
    if quant:
        out["quantization"] = quant
    out["dtypes"] = {"weights": _weight_dtype(cfg, quant, out), "kv": "bf16"}
    limit = _limit(cfg)
    if limit:
        out["max_context"] = limit
    if description:
        out["description"] = description
    return out
