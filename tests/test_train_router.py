"""Training memory of a MoE router, by its form (``ffn.router``; mlacalc/activations.py ``_router``): what each
family's router forward leaves for its backward in transformers 5.25.0. Every expected number is worked out here from
the config.json numbers of the built-in specs and fixtures (hidden size d, experts E, top-k k) at b 1, s 4,096."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.activations import ActivationConfig, layer_activations, saved_tensors
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.training import TrainRun, stage_memory

from helpers import hf_fixture, make_spec, refused, run

S = 4096
BF16, FP32, INT64 = 2, 4, 8


def cfg(b: int = 1, s: int = S, **par) -> ActivationConfig:
    return ActivationConfig(micro_batch=b, seq=s, parallel=Parallelism(**par))


def router_tensors(spec, layer: int, c: ActivationConfig) -> dict:
    """The layer's router tensors (group ``router``) by name: bytes on one GPU."""
    return {t.name: t.bytes for t in saved_tensors(spec, layer, c) if t.group == "router"}


def with_router(spec, form: str):
    return dataclasses.replace(spec, ffn=dataclasses.replace(spec.ffn, router=form))


# ------------------------------------------------------------------------------------------ worked by hand

def test_deepseek_v3_router_keeps_fp32_copies_of_its_input_and_weight_by_hand():
    """DeepseekV3TopkRouter.forward: ``F.linear(x.type(torch.float32), w.type(torch.float32))`` keeps both casts
    (d = 7168, E = 256), ``sigmoid`` its fp32 output, ``gather`` the int64 indices (k = 8), and the combine the fp32
    top-k weights. Before: the scores, indices and weights alone (4,587,520 B a layer), the copies not counted."""
    spec = load_spec("deepseek-v3")
    d, E, k = 7168, 256, 8
    got = router_tensors(spec, spec.num_layers - 1, cfg())
    assert got == {"moe.router_input_fp32": S * d * FP32,           # 117,440,512 B: the brief's 117 MB
                   "moe.router_weight_fp32": E * d * FP32,          # 7,340,032 B, whatever the tokens
                   "moe.router_probs": S * E * FP32,                # 4,194,304 B
                   "moe.topk_indices": S * k * INT64,               # 262,144 B
                   "moe.topk_weights": S * k * FP32}                # 131,072 B
    assert layer_activations(spec, spec.num_layers - 1, cfg()).router == 129_368_064
    assert spec.ffn.router == "fp32-linear"
    # the dense layers (first_k_dense_replace 3) have no router
    assert router_tensors(spec, 0, cfg()) == {}


def test_deepseek_v3_copies_over_the_model_are_59_moe_layers_worth():
    """58 MoE layers (61 less 3 dense) and the MTP module's MoE layer each keep the two copies: 59 x (4 S d + 4 E d) =
    7,362,052,096 B on one GPU holding the whole model (the brief's ~6.3 GiB is the input copies of the 58: 6.34 GiB)."""
    spec = load_spec("deepseek-v3")
    run1 = TrainRun(micro_batch=1, seq=S)
    d, E = 7168, 256
    fp32 = stage_memory(spec, run1)[0].activations
    plain = stage_memory(with_router(spec, "fp32-scores"), run1)[0].activations
    assert fp32.layers - plain.layers == 58 * (4 * S * d + 4 * E * d)
    assert fp32.mtp - plain.mtp == 4 * S * d + 4 * E * d
    assert 58 * 4 * S * d / 2**30 == pytest.approx(6.34, abs=0.005)


@pytest.mark.parametrize("model, E, k", [("mixtral-8x7b", 8, 2), ("qwen3-235b-a22b", 128, 8)])
def test_mixtral_and_qwen3_moe_routers_are_counted_as_before(model, E, k):
    """MixtralTopKRouter (``softmax(F.linear(x, w).float())``) and Qwen3MoeTopKRouter (``softmax(F.linear(x, w),
    dtype=torch.float)``): the bf16 linear keeps the block's input (counted once as ``ffn.input``) and the weight (a
    parameter); the fp32 softmax its output, b s E; then the indices and the fp32 weights. Unchanged by this branch:
    Mixtral 229,376 B, Qwen3-235B 2,490,368 B a layer."""
    spec = load_spec(model)
    got = router_tensors(spec, spec.num_layers - 1, cfg())
    assert got == {"moe.router_probs": S * E * FP32, "moe.topk_indices": S * k * INT64,
                   "moe.topk_weights": S * k * FP32}
    assert sum(got.values()) == {"mixtral-8x7b": 229_376, "qwen3-235b-a22b": 2_490_368}[model]
    assert spec.ffn.router == "fp32-scores"


def test_gpt_oss_router_keeps_no_scores_over_all_experts():
    """GptOssTopKRouter: ``topk(F.linear(x, w, b))`` keeps its int64 indices, ``softmax(top_k_values,
    dtype=top_k_values.dtype)`` its bf16 output over the k = 4; the combine the bf16 weights. No b s E tensor (E = 128):
    196,608 B a layer, was 2,293,760 (fp32 scores over 128 experts and fp32 weights)."""
    spec = load_spec("gpt-oss-120b")
    E, k = 128, 4
    got = router_tensors(spec, 0, cfg())
    assert got == {"moe.topk_probs": S * k * BF16, "moe.topk_indices": S * k * INT64,
                   "moe.topk_weights": S * k * BF16}
    assert sum(got.values()) == 196_608
    before = S * E * FP32 + S * k * INT64 + S * k * FP32
    assert before == 2_293_760
    assert layer_activations(with_router(spec, "fp32-scores"), 0, cfg()).router == before


def test_mistral_4_reads_as_deepseek_v3_but_routes_in_bf16():
    """Mistral-Small-4 is read as deepseek_v3 (the same MLA and MoE weights), but Mistral4TopkRouter takes
    ``F.linear(x, w).softmax(-1)`` in bf16: no copies, scores of E = 128 at 2 B, top-4 weights at 2 B."""
    spec = hf_fixture("mistral_small_4_119b")
    E, k = 128, 4
    assert spec.ffn.router == "act-scores"
    assert router_tensors(spec, 0, cfg()) == {"moe.router_probs": S * E * BF16, "moe.topk_indices": S * k * INT64,
                                              "moe.topk_weights": S * k * BF16}


# ------------------------------------------------------------------------------------------ properties

@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 6), s=st.sampled_from([64, 256, 1000, 4096]), tp=st.sampled_from([2, 4, 8]),
       form=st.sampled_from(["fp32-scores", "fp32-linear", "act-scores", "topk-logits"]))
def test_router_tensors_are_linear_in_tokens_but_the_weight_copy(b, s, tp, form):
    """Every router tensor scales with the micro-batch and the sequence, and splits over TP under SP (the router runs
    on each rank's own tokens), but the fp32 weight copy: E x d whatever the tokens and the ranks."""
    d, E, k = 256, 16, 4
    spec = make_spec({"kind": "gqa", "num_heads": 8, "num_kv_heads": 8, "head_dim": 32}, hidden=d,
                     ffn={"kind": "moe", "intermediate_size": 512, "num_experts": E, "experts_per_token": k,
                          "expert_intermediate_size": 128, "router": form})

    def split(c):
        ts = router_tensors(spec, 1, c)
        return ts.pop("moe.router_weight_fp32", 0), sum(ts.values())

    w1, one = split(cfg(b, s * tp))
    assert split(cfg(2 * b, s * tp)) == (w1, 2 * one)
    assert split(cfg(b, 2 * s * tp)) == (w1, 2 * one)
    assert split(cfg(b, s * tp, tp=tp, sp=True)) == (w1, one // tp)
    assert w1 == (E * d * FP32 if form == "fp32-linear" else 0)
    per_token = {"fp32-scores": E * FP32 + k * FP32, "fp32-linear": d * FP32 + E * FP32 + k * FP32,
                 "act-scores": E * BF16 + k * BF16, "topk-logits": 2 * k * BF16}[form] + k * INT64
    assert one == b * s * tp * per_token


def test_the_copies_split_as_the_router_does_in_json():
    """--json labels: the input copy splits with the tokens under SP, the weight copy is whole on every rank."""
    spec = load_spec("deepseek-v3")
    ts = {t.name: t for t in saved_tensors(spec, spec.num_layers - 1, cfg(tp=8, sp=True))}
    assert (ts["moe.router_input_fp32"].split, ts["moe.router_weight_fp32"].split) == ("sp", "none")
    assert ts["moe.router_input_fp32"].bytes == S // 8 * 7168 * FP32
    assert ts["moe.router_weight_fp32"].bytes == 256 * 7168 * FP32


def test_the_megatron_convention_has_no_router_whatever_the_form():
    """--convention megatron prices Korthikanti et al.'s GPT layer (an MLP, no router): the form changes nothing there
    (Megatron-Core's own router would keep no copies either: RouterGatingLinearFunction saves its bf16 input and
    weight and casts in the backward, megatron/core/transformer/moe/moe_utils.py)."""
    spec = load_spec("deepseek-v3")
    c = ActivationConfig(micro_batch=1, seq=S, convention="megatron", kernel="eager")
    for form in ("fp32-scores", "fp32-linear"):
        s = with_router(spec, form)
        assert layer_activations(s, spec.num_layers - 1, c).router == 0
    assert layer_activations(spec, spec.num_layers - 1, c).total == \
        layer_activations(with_router(spec, "fp32-scores"), spec.num_layers - 1, c).total


# ------------------------------------------------------------------------------------------ reading

@pytest.mark.parametrize("fixture, form", [
    ("deepseek_v3", "fp32-linear"), ("deepseek_v2", "fp32-linear"), ("kimi_k2", "fp32-linear"),
    ("glm_4_5_air", "fp32-linear"), ("glm_4_5v", "fp32-linear"), ("solar_open_100b", "fp32-linear"),
    ("dots_llm1", "fp32-linear"), ("ernie_4_5_21b_a3b", "fp32-linear"), ("hy3", "fp32-linear"),
    ("longcat_flash", "fp32-linear"), ("nemotron_3_super_120b_a12b", "fp32-linear"),
    ("mistral_small_4_119b", "act-scores"), ("dbrx_instruct", "act-scores"), ("deepseek_v4_flash", "act-scores"),
    ("gpt_oss_120b", "topk-logits"), ("granite_3_0_1b_a400m", "topk-logits"), ("command_a_plus_05_2026", "topk-logits"),
    ("glm_4_7_flash", "fp32-linear"), ("lfm2_8b_a1b", "act-scores"), ("granite_4_0_h_tiny", "topk-logits"),
    ("mixtral", "fp32-scores"), ("qwen3_30b_a3b", "fp32-scores"), ("qwen3_next_80b_a3b", "fp32-scores"),
    ("olmoe_1b_7b", "fp32-scores"), ("llama_4_scout", "fp32-scores"), ("gemma_4_26b_a4b", "fp32-scores"),
    ("minimax_m2", "fp32-scores")])
def test_each_family_reads_its_routers_form(fixture, form):
    assert hf_fixture(fixture).ffn.router == form


def test_routers_read_from_inline_configs(tmp_path):
    """Families with no fixture folder of their own, read from the configs their reading tests write: K-EXAONE
    (ExaoneMoeTopkRouter: F.linear(x.type(torch.float32), w.type(torch.float32))) and MiMo-V2-Flash
    (MiMoV2FlashTopkRouter: the same), both fp32-linear (review: dropping either from hf.ROUTERS went unnoticed)."""
    import json

    from test_hf_configs import K_EXAONE_TRT
    from test_hf_mimo_v2_flash import RELEASE

    for name, cfg in (("exaone", K_EXAONE_TRT), ("mimo", RELEASE)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(cfg))
        assert load_spec(str(tmp_path / name)).ffn.router == "fp32-linear", name


@pytest.mark.parametrize("builtin, fixture", [
    ("deepseek-v3", "deepseek_v3"), ("deepseek-v2", "deepseek_v2"), ("kimi-k2", "kimi_k2"), ("glm-5", "glm_5"),
    ("kimi-linear-48b-a3b", "kimi_linear_48b_a3b"), ("nemotron-3-super-120b-a12b", "nemotron_3_super_120b_a12b"),
    ("gpt-oss-120b", "gpt_oss_120b"), ("gpt-oss-20b", "gpt_oss_20b"), ("deepseek-v4-flash", "deepseek_v4_flash"),
    ("deepseek-v4-pro", "deepseek_v4_pro"), ("deepseek-v3.2", "deepseek_v32"), ("mixtral-8x7b", "mixtral"),
    ("gemma-4-26b-a4b", "gemma_4_26b_a4b"), ("qwen3-next-80b-a3b", "qwen3_next_80b_a3b")])
def test_builtin_specs_say_what_their_configs_read(builtin, fixture):
    assert load_spec(builtin).ffn.router == hf_fixture(fixture).ffn.router


def test_a_bad_form_or_a_dense_router_is_one_line(capsys):
    refused(capsys, "train", "deepseek-v3", "--set", "ffn.router=fp16", words="ffn.router")
    refused(capsys, "train", "llama-3.1-8b", "--set", "ffn.router=fp32-linear", words="router")


def test_set_turns_a_router_into_another_form(capsys):
    """--set ffn.router=fp32-scores on DeepSeek-V3 prices the router as if its linear ran in bf16: 58 MoE layers and
    the MTP module's one fewer copies, 59 x 124,780,544 B."""
    import json

    code, out, _, _ = run(capsys, "train", "deepseek-v3", "--json")
    code2, out2, _, _ = run(capsys, "train", "deepseek-v3", "--set", "ffn.router=fp32-scores", "--json")
    assert code == code2 == 0
    a, b = json.loads(out)["per_gpu"]["activations"], json.loads(out2)["per_gpu"]["activations"]
    assert a - b == 59 * (4 * S * 7168 + 4 * 256 * 7168) == 7_362_052_096
