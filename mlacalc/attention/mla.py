"""Multi-head Latent Attention (DeepSeek-V2, arXiv 2405.04434, section 2.1; DeepSeek-V3, arXiv 2412.19437).

Per layer, for ``H`` heads, latent rank ``d_c`` (``kv_lora_rank``), query rank ``d_c'`` (``q_lora_rank``), per-head
no-RoPE/RoPE/value dims ``d_nope``, ``d_rope``, ``d_v``:

- **cache** per token, compressed (what DeepSeek's inference code and every serving engine keeps): the latent
  ``c_KV`` (``d_c``) plus the decoupled RoPE key ``k_R`` (``d_rope``), shared by all heads; DeepSeek-V2 Table 1:
  ``(d_c + d_h^R) l`` elements per token. It belongs to no head, so every TP rank holds all of it. Naive
  (decompressed before caching, as the first HF port did): per-head K ``d_nope + d_rope`` and V ``d_v``.
- **weights** (eqs. 9-14, 37-40): ``W_DQ: d x d_c'`` and its RMSNorm, ``W_UQ+W_QR: d_c' x H (d_nope + d_rope)``
  (or ``W_Q: d x H d_qk`` without a query rank); ``W_DKV+W_KR: d x (d_c + d_rope)``, RMSNorm ``d_c``,
  ``W_UK+W_UV: d_c x H (d_nope + d_v)``; ``W_O: H d_v x d``. TP replicates the down projections and norms
  (vLLM's ReplicatedLinear for DeepSeek) and splits the rest by heads.
- **roofline** (eqs. 37-47), two forms:

  * **absorbed** (decode default; DeepSeek-V3 ``inference/model.py``, ``attn_impl = "absorb"``): ``q_absorb``
    multiplies each head's no-RoPE query by ``W_UK`` (``2 T H d_nope d_c``), every head attends the cached
    latent (``d_c + d_rope`` dims per key; values are its first ``d_c`` dims), and ``v_up`` applies ``W_UV``
    after attention (``2 T H d_c d_v``). Nothing is decompressed.
  * **decompressed** (prefill default): ``kv_up`` turns every attended token's latent into per-head K (no-RoPE
    part) and V (``2 N d_c H (d_nope + d_v)`` for ``N`` attended tokens), then attention is MHA with
    ``d_nope + d_rope`` query/key dims and ``d_v`` value dims. In decode this re-decompresses the whole cache
    each step, which is why serving engines absorb in decode.

- **training**: the latents ``c_Q`` (before and after its norm), ``[c_KV | k_R]`` and the normed ``c_KV`` are
  stored; the decompressed per-head q/k/v for the kernel are what ``recompute="mla-latent"`` drops.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..costs import ACT_BYTES, FP32_BYTES, KVCache, OpCost, SavedTensor, matmul
from ..errors import ArgError, SpecError
from .base import COMPRESSED_FIELDS, AttentionFamily, AttentionOps, StepShape, refuse_fields, refuse_index_fields
from .keys import rules_span
from .quant import FP4, NVFP4, VALUE_BITS, head_rows_bytes

if TYPE_CHECKING:
    from ..spec import Attention, ModelSpec

FORMS = ("absorbed", "decompressed")


class MLA(AttentionFamily):
    name = "mla"
    kinds = ("mla",)
    cache_modes = ("compressed", "naive")
    forms = FORMS
    kv_symbol = "a"
    latent_recompute = True
    kernel = "mla"

    def normalise(self, raw: dict) -> dict:
        """In the decompressed form every query head has its own K/V head."""
        if "num_kv_heads" not in raw and "num_heads" in raw:
            raw["num_kv_heads"] = raw["num_heads"]
        return raw

    def validate(self, a: "Attention") -> None:
        if a.kv_lora_rank is None:
            raise SpecError("attention.kv_lora_rank", "is required for kind mla")
        if a.kv_shared:
            raise SpecError("attention.kv_shared", "does not apply to mla (its absorbed form already shares)")
        if a.v_from_k:
            raise SpecError("attention.v_from_k", f"applies to mha, mqa and gqa attention, not {a.kind} (its values "
                                                  "come from the latent)")
        if a.num_kv_heads != a.num_heads:
            # read nowhere (the latent has no heads; decompressed, every query head has its own K/V), so
            # `--set attention.num_kv_heads=4` on an MLA model changed no number without a word
            raise SpecError("attention.num_kv_heads", f"does not apply to mla: decompressed, each of the "
                            f"{a.num_heads} query heads has its own K/V head; leave it out or give {a.num_heads}")
        if self.name == "mla":                      # DSA (a subclass) owns the indexer fields
            refuse_index_fields(a)
        refuse_fields(a, COMPRESSED_FIELDS, "compressed")

    def default_form(self, phase: str) -> str:
        """Decode absorbs (no decompression of the cache); prefill decompresses (cheaper for long prompts)."""
        return "absorbed" if phase == "decode" else "decompressed"

    # --- KV ---------------------------------------------------------------------------------------------------

    def cache_parts(self, a: "Attention", cache: str = "compressed") -> KVCache:
        """Elements per token and layer: compressed, the latent ``c_KV`` (``d_c``) and the decoupled RoPE key ``k_R``
        (``d_h^R``), DeepSeek-V2 (arXiv 2405.04434) Table 1's ``(d_c + d_h^R) l``; naive, the decompressed per-head
        K ``H (d_nope + d_rope)`` and V ``H d_v``, as an implementation that caches after ``kv_b_proj`` holds."""
        if self.check_cache(cache) == "compressed":
            return KVCache(latent=a.kv_lora_rank, rope_key=a.qk_rope_head_dim)
        return KVCache(k=a.num_heads * a.qk_head_dim, v=a.num_heads * a.v_head_dim)

    def scaled_cache_bytes(self, a: "Attention", cache: str, fmt: str) -> KVCache:
        """Bytes per token and layer in a scaled layout (:mod:`mlacalc.attention.quant`). Compressed: SGLang's fp4
        MLA pool (``MLATokenToKVPoolFP4``) stores the ``d_c + d_R`` row as e2m1 values with one 8-bit scale per 16
        (DeepSeek-V3: 288 + 36 = 324 B); LMDeploy's per-head int4/int8 scales have no head to attach to in a
        latent, and no engine offers them for MLA, so they are refused; vLLM's ``nvfp4`` is refused for MLA models
        in either cache (``VllmConfig.validate_nvfp4_kv_cache_with_mla``). Naive (decompressed per-head K and V):
        rows per query head, as a conventional cache."""
        if fmt == NVFP4:
            raise ArgError("kv_dtype", "nvfp4 is vLLM's per-head NVFP4 KV cache, which vLLM refuses for MLA models; "
                                       "use fp4 (SGLang's MLA fp4 cache) or fp8")
        if self.check_cache(cache) == "naive":
            k, k_scales = head_rows_bytes(a.num_heads, a.qk_head_dim, fmt)
            v, v_scales = head_rows_bytes(a.num_heads, a.v_head_dim, fmt)
            return KVCache(k=k, v=v, scales=k_scales + v_scales)
        if fmt != FP4:
            raise ArgError("kv_dtype", f"{fmt} is LMDeploy's per-head, per-token scaled layout; an MLA latent has no "
                                       f"heads and no engine offers it: use fp4 (SGLang's MLA fp4 cache) or flat "
                                       f"{VALUE_BITS[fmt]}-bit values without scales (--kv-bits {VALUE_BITS[fmt]}, "
                                       f"or dtypes.kv: {VALUE_BITS[fmt]})")
        latent, _ = head_rows_bytes(1, a.kv_lora_rank, fmt)
        rope, _ = head_rows_bytes(1, a.qk_rope_head_dim, fmt)
        _, scales = head_rows_bytes(1, a.kv_lora_rank + a.qk_rope_head_dim, fmt)
        return KVCache(latent=latent, rope_key=rope, scales=scales)

    def kv_groups(self, a: "Attention", cache: str = "compressed") -> int | None:
        """The latent belongs to no head (None: every rank holds it); a naive cache is per query head."""
        return None if cache == "compressed" else a.num_heads

    # --- weights ----------------------------------------------------------------------------------------------

    def projections(self, a: "Attention", hidden: int) -> dict[str, int]:
        """Parameters (counts) by projection, as DeepSeek's ``modeling_deepseek.py`` builds them: ``q_a_proj``
        ``d x d_cq``, ``q_a_layernorm`` ``d_cq``, ``q_b_proj`` ``d_cq x H d_qk`` (or one ``q_proj`` ``d x H d_qk``
        without a query latent); ``kv_a_proj_with_mqa`` ``d x (d_c + d_rope)``, ``kv_a_layernorm`` ``d_c``,
        ``kv_b_proj`` ``d_c x H (d_nope + d_v)``; ``o_proj`` ``H d_v x d``."""
        d = hidden
        q = {"q_down": d * a.q_lora_rank, "q_norm": a.q_lora_rank,
             "q_up": a.q_lora_rank * a.num_heads * a.qk_head_dim} if a.q_lora_rank else \
            {"q": d * a.num_heads * a.qk_head_dim}
        return q | {"kv_down": d * (a.kv_lora_rank + a.qk_rope_head_dim), "kv_norm": a.kv_lora_rank,
                    "kv_up": a.kv_lora_rank * a.num_heads * (a.qk_nope_head_dim + a.v_head_dim),
                    "o": a.num_heads * a.v_head_dim * d}

    def projection_split(self, a: "Attention", name: str) -> str:
        return "replicated" if name in ("q_down", "kv_down", "q_norm", "kv_norm") else "heads"

    # --- roofline ---------------------------------------------------------------------------------------------

    def core_dims(self, a: "Attention", form: str | None) -> tuple[int, int]:
        """(key, value) dims per head: absorbed, the latent and RoPE key ``(d_c + d_rope, d_c)`` (DeepSeek-V2,
        arXiv 2405.04434, section 2.1.2: ``W_UK`` absorbed into the query, ``W_UV`` into the output); decompressed,
        ``(d_nope + d_rope, d_v)``."""
        if form == "absorbed":
            return a.kv_lora_rank + a.qk_rope_head_dim, a.kv_lora_rank
        return a.qk_head_dim, a.v_head_dim

    def core_cache_elements(self, a: "Attention", form: str | None) -> float:
        """Absorbed: the latent and RoPE key of each attended token; decompressed: none (``kv_up`` read them)."""
        return a.kv_lora_rank + a.qk_rope_head_dim if form == "absorbed" else 0.0

    def core_activation_elements(self, a: "Attention", form: str | None) -> float:
        """Decompressed: per-head K (RoPE key broadcast) and V, bf16 activations written by ``kv_up``."""
        return 0.0 if form == "absorbed" else a.qk_head_dim + a.v_head_dim

    def attention_ops(self, spec: "ModelSpec", s: StepShape) -> AttentionOps:
        a, d, L, H, Ta = s.block, spec.hidden_size, s.layers, s.heads, s.tokens
        dc, dr, dn, dv = a.kv_lora_rank, a.qk_rope_head_dim, a.qk_nope_head_dim, a.v_head_dim
        ab, kb = s.ab, s.kb
        wb = s.w("kv_up")                                  # W_UK and W_UV: kv_b_proj's two halves
        ops: list[OpCost] = []
        norm_width, norm_count = 0.0, 0
        if a.q_lora_rank:
            ops.append(matmul("q_down", Ta, d, a.q_lora_rank, s.w("q_down"), ab, L))
            ops.append(matmul("q_up", Ta, a.q_lora_rank, H * a.qk_head_dim, s.w("q_up"), ab, L))
            norm_width += a.q_lora_rank
            norm_count += 1
        else:
            ops.append(matmul("q_proj", Ta, d, H * a.qk_head_dim, s.w("q"), ab, L))
        ops.append(matmul("kv_down", Ta, d, dc + dr, s.w("kv_down"), ab, L))
        norm_width += dc
        norm_count += 1
        ops.append(OpCost("kv_write", "memory", act_bytes=Ta * (dc + dr) * ab * L, kv_bytes=Ta * (dc + dr) * kb * L,
                          out_width=dc + dr, launches=L))
        if s.form == "absorbed":
            # per-head matmuls: one row per (token, head); W_UK and W_UV are read once per layer
            ops.append(matmul("q_absorb", Ta * H, dn, dc, 0, ab, L, extra_weight=H * dn * dc * wb,
                              out_width=H * dc))
            ops.append(self.core_cost(spec, s))
            ops.append(matmul("v_up", Ta * H, dc, dv, 0, ab, L, extra_weight=H * dc * dv * wb, out_width=H * dv))
        else:
            # every visible token's latent is decompressed once per layer, whichever keys each query then attends:
            # a top-k rule (DSA) read its selected keys once per query, so kv_up re-decompressed each key for every
            # query that picked it (DeepSeek-V3.2's 8k prefill at tp 8: 3.76 PFLOPs of kv_up for 2.10 T; audit 10).
            # DeepSeek-V3.2-Exp's inference/model.py prefill runs wkv_b once over the sequence's latents.
            _, keys = rules_span(tuple((n, replace(r, topk=None)) for n, r in s.rules), s.prior, s.new)
            decompressed = s.seqs * keys                   # token x layer latents turned into per-head K and V
            # reads latent + RoPE key from the cache, writes per-head K (RoPE key broadcast) and V
            ops.append(OpCost("kv_up", "matmul", flops=2 * decompressed * dc * H * (dn + dv),
                              weight_bytes=dc * H * (dn + dv) * wb * L, kv_bytes=decompressed * (dc + dr) * kb,
                              act_bytes=decompressed * H * (dn + dr + dv) * ab, out_width=H * (dn + dr + dv),
                              launches=L, rows=decompressed / L))
            ops.append(self.core_cost(spec, s))
        return AttentionOps(tuple(ops), norm_width, norm_count)

    # --- training ---------------------------------------------------------------------------------------------

    def attended_kv_heads(self, a: "Attention", tp: int) -> int:
        """The kernel sees decompressed K/V for every local query head."""
        return a.num_heads // tp

    def projection_tensors(self, spec: "ModelSpec", cfg, a: "Attention", heads: int,
                           kv_heads: int) -> tuple[list, str]:
        b, st = cfg.micro_batch, cfg.seq_tokens
        dr, dc = a.qk_rope_head_dim, a.kv_lora_rank
        out = []
        if a.q_lora_rank:
            out += [SavedTensor("mla.q_down_out", ("b", "s", "d_cq"), (b, st, a.q_lora_rank), ACT_BYTES, "mla",
                                "q_norm", "sp"),
                    SavedTensor("mla.q_norm.rstd", ("b", "s"), (b, st), FP32_BYTES, "mla", "q_norm", "sp"),
                    SavedTensor("mla.q_latent", ("b", "s", "d_cq"), (b, st, a.q_lora_rank), ACT_BYTES, "mla",
                                "q_up (W_UQ, W_QR)", "sp")]
        out += [SavedTensor("mla.kv_down_out", ("b", "s", "d_c+d_r"), (b, st, dc + dr), ACT_BYTES, "mla",
                            "kv_norm (c_KV view) and RoPE of k_R", "sp"),
                SavedTensor("mla.kv_norm.rstd", ("b", "s"), (b, st), FP32_BYTES, "mla", "kv_norm", "sp"),
                SavedTensor("mla.kv_latent", ("b", "s", "d_c"), (b, st, dc), ACT_BYTES, "mla",
                            "kv_up (W_UK, W_UV)", "sp")]
        return out, "mla_up"


MLA_FAMILY = MLA()
