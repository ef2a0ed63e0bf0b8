"""Three sizing facts settled from the releases' code: the width DSA's indexer gate weights are stored at, and the
attention head width Nemotron-H and MiniMax-M1 configs get when they leave it out.

1. DSA (DeepSeek-V3.2, GLM-5) fp8 checkpoints: the indexer's ``wq_b`` and ``wk`` are fp8 with one fp32
   ``weight_scale_inv`` per 128 x 128 block, its ``weights_proj`` (hidden -> index_n_heads) and ``k_norm`` (LayerNorm
   weight and bias) are bf16 without scales. DeepSeek-V3.2-Exp ``inference/model.py`` ``Indexer``: "weights_proj in the
   checkpoint is stored in bf16" (code corpus: awesome-mini-project/DeepSeek-V3.2-Exp inference/model.py, a copy);
   SGLang ``nsa_indexer.py`` / vLLM ``deepseek_v2.py``: ``weights_proj`` built without quant_config ("weight_proj is
   not quantized"); SGLang PR 17205: "weights_proj is stored in BF16 precision in Hugging-Face"; GLM-5's fp8
   checkpoint inventory (code corpus file id 56970957992): ``indexer.weights_proj.weight`` and ``indexer.k_norm.*``
   bf16, ``indexer.wk`` and ``indexer.wq_b`` with ``weight_scale_inv``. Before, mlacalc priced them at the fp8-block
   width (1 + 4/16384 B a value).
2. Nemotron-H: every NemotronHConfig defaults the attention head width to 128 (NVIDIA's remote
   configuration_nemotron_h.py: ``attention_head_dim=128``, vLLM's copy vllm/transformers_utils/configs/nemotron_h.py;
   Nemotron 3's and SGLang's: ``head_dim=128``). Before, a config without either key read hidden / heads.
3. MiniMax-M1: ``MiniMaxM1Config`` (the release's configuration_minimax_m1.py, code corpus file id 54036155376) has no
   head_dim argument; ``MiniMaxM1LightningAttention`` / ``MiniMaxM1Attention`` take
   ``getattr(config, 'head_dim', hidden_size // num_heads)`` and SGLang's ``MiniMaxText01LinearAttention``
   ``head_dim if head_dim is not None else hidden_size // num_heads``: without the key, 6144 / 64 = 96. Already so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run
from mlacalc.parallel import Parallelism
from mlacalc.params import attention_projections, param_counts, weights_report
from mlacalc.spec import load_spec
from mlacalc.step import Step, step_ops

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hf"
FP8 = 1 + 4 / 16384                     # fp8-block: a byte a value, an fp32 scale per 128 x 128 block

# DeepSeek-V3.2 (tests/fixtures/hf/deepseek_v32): 61 layers, hidden 7168, q latent 1536; indexer 64 heads of 128
V32_WEIGHTS_PROJ = 7168 * 64            # Linear(hidden, index_n_heads)
V32_K_NORM = 2 * 128                    # LayerNorm(index_head_dim): weight and bias


def _cfg(family: str, **changes) -> dict:
    cfg = json.loads((FIXTURES / family / "config.json").read_text())
    for k, v in changes.items():
        if v is ...:
            del cfg[k]
        else:
            cfg[k] = v
    return cfg


def _load(tmp_path, cfg: dict):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return load_spec(str(tmp_path))


# ---- 1. DSA indexer gate weights ----------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["deepseek-v3.2", "hf"])
def test_dsa_indexer_weights_proj_and_k_norm_are_priced_bf16_in_an_fp8_checkpoint(source, tmp_path):
    s = load_spec("deepseek-v3.2") if source == "deepseek-v3.2" else _load(tmp_path, _cfg("deepseek_v32"))
    r = weights_report(s)
    kept = 61 * (V32_WEIGHTS_PROJ + V32_K_NORM)
    assert kept == 27_999_488
    assert r.params.attention_unquantized == kept
    assert r.bytes.attention_unquantized == 2 * kept == 55_998_976          # bf16, no scales
    # before: the same parameters at the fp8-block width: 27,999,488 x (1 + 4/16384) B; now 2 B each
    before = r.bytes.total - 2 * kept + FP8 * kept
    assert r.bytes.total - before == pytest.approx(kept * (2 - FP8)) == pytest.approx(27_992_652.1875)
    assert r.kept == ("index_k_norm", "index_weights")
    assert r.to_json()["quantization"]["unquantized"] == ["index_k_norm", "index_weights"]


def test_dsa_indexer_bf16_parts_of_glm_5_fp8(tmp_path):
    """GLM-5 (78 layers, hidden 6144, 32 indexer heads of 128) with DeepSeek's block-fp8 quantization_config."""
    q = _cfg("deepseek_v32")["quantization_config"]
    s = _load(tmp_path, _cfg("glm_5", quantization_config=q))
    r = weights_report(s)
    assert r.bytes.attention_unquantized == 78 * (6144 * 32 + 2 * 128) * 2 == 30_710_784
    # the bf16 release: nothing kept apart, the whole attention at 2 B
    bf16 = weights_report(load_spec(str(FIXTURES / "glm_5" / "config.json")))
    assert bf16.params.attention_unquantized == 0 and bf16.kept == ()
    assert bf16.params.attention == r.params.attention + r.params.attention_unquantized


def test_dsa_weights_proj_stays_replicated_and_is_read_at_2_bytes_in_the_roofline():
    """TP 8: the indexer is replicated (every rank selects for all heads), so each GPU holds all of weights_proj
    and k_norm in bf16; the roofline's index_proj row reads wq_b and wk at fp8-block and weights_proj at 2 B."""
    s = load_spec("deepseek-v3.2")
    par = Parallelism(tp=8)
    assert weights_report(s, parallel=par).per_gpu_bytes.attention_unquantized == 61 * (V32_WEIGHTS_PROJ + V32_K_NORM) * 2
    ops = {o.name: o for o in step_ops(s, Step("decode", 1, 1024, 1), par)}
    wq_b, wk = 1536 * 64 * 128, 7168 * 128
    assert ops["index_proj"].weight_bytes == pytest.approx(61 * ((wq_b + wk) * FP8 + V32_WEIGHTS_PROJ * 2))
    # --weight-dtype overrides the checkpoint: every matrix at it, weights_proj too
    ops8 = {o.name: o for o in step_ops(s, Step("decode", 1, 1024, 1), par, weight_bits=8)}
    assert ops8["index_proj"].weight_bytes == 61 * (wq_b + wk + V32_WEIGHTS_PROJ)
    assert weights_report(s, weight_dtype="fp8").kept == ()


def test_weights_table_says_which_indexer_parts_stay_bf16(capsys):
    code, out, _, _ = run(capsys, "weights", "deepseek-v3.2")
    assert code == 0
    assert "index_k_norm, index_weights kept at >= 16 bits" in " ".join(out.split())


# ---- 2. Nemotron-H head width -------------------------------------------------------------------------------------

def test_nemotron_nano_9b_v2_without_a_head_width_key_reads_the_class_default_128(tmp_path):
    """Nemotron-Nano-9B-v2's attention: 40 query / 8 KV heads of 128 over hidden 4480 (4480 / 40 = 112 is not its
    width). Its shape on the Nemotron-H-8B fixture, with neither head_dim nor attention_head_dim."""
    cfg = _cfg("nemotron_h_8b", hidden_size=4480, num_attention_heads=40, num_key_value_heads=8,
               attention_head_dim=...)
    assert "head_dim" not in cfg
    s = _load(tmp_path, cfg)
    a = s.attention
    assert (a.num_heads, a.num_kv_heads, a.qk_nope_head_dim + a.qk_rope_head_dim, a.v_head_dim) == (40, 8, 128, 128)
    # q, k, v, o of one attention layer: 4480 x 40 x 128 + 2 x 4480 x 8 x 128 + 40 x 128 x 4480 (before: 112 wide,
    # 4480 x 4480 x 2 + 2 x 4480 x 8 x 112 = 48,168,960)
    per_layer = 4480 * 40 * 128 * 2 + 2 * 4480 * 8 * 128
    assert per_layer == 55_050_240
    assert sum(attention_projections(s).values()) == per_layer
    assert s.count_layers("full") == 4


def test_nemotron_h_head_dim_key_still_wins_over_the_default(tmp_path):
    s = _load(tmp_path, _cfg("nemotron_h_8b", attention_head_dim=..., head_dim=64))
    assert s.attention.v_head_dim == 64


# ---- 3. MiniMax-M1 head width -------------------------------------------------------------------------------------

def test_minimax_m1_without_head_dim_reads_hidden_over_heads_as_its_remote_code_does(tmp_path):
    """MiniMaxM1Config has no head_dim default: both attentions take hidden / heads = 6144 / 64 = 96 without the
    key (456.09 B with the release's 128, 451.40 B without). Pinned: this was already the reading."""
    s = _load(tmp_path, _cfg("minimax_m1", head_dim=...))
    assert s.attention.v_head_dim == 96 and s.linear_attention.head_v_dim == 96
    full = load_spec(str(FIXTURES / "minimax_m1" / "config.json"))
    assert full.attention.v_head_dim == 128 and full.linear_attention.head_v_dim == 128
    # per softmax layer q, k, v, o: 6144 x 64 x d + 2 x 6144 x 8 x d + 64 x d x 6144 = 6144 x 144 x d;
    # per lightning layer qkv 3 x 6144 x 64 x d, output_gate and out_proj 2 x 6144 x 64 x d (+ a norm of 64 d):
    # ten softmax and seventy lightning layers, so the 32-dim difference is
    diff = 10 * 6144 * 144 * 32 + 70 * (5 * 6144 * 64 * 32 + 64 * 32)
    assert param_counts(full).total - param_counts(s).total == diff == 4_687_278_080
