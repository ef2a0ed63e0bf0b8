"""The spec features read since d8245cd (attention/ffn null, parallel_mixers, kv_shared_tail, sliding shapes,
q_lora_rank on conventional attention, mtp_ffn) against the other features and the commands: each test is a defect
found by combining them (a traceback, or a number that silently changed), worked out by hand.

The tiny state-space model: layers of one norm and one Mamba-1 mixer of d_inner 512, d_state 8, dt_rank 16, a width-4
convolution (no attention, no FFN), hidden 256; its state a layer (vLLM mamba1_state_shape, bf16): SSM 512 x 8 and
convolution 512 x 3 values, (4,096 + 1,536) x 2 = 11,264 B."""

import json
from pathlib import Path

import pytest

from mlacalc.errors import SpecError
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec, spec_from_dict
from mlacalc.step import Step, step_ops

from helpers import refused, run

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
M1 = {"kind": "mamba1", "num_k_heads": 1, "num_v_heads": 512, "head_k_dim": 8, "head_v_dim": 1, "dt_rank": 16,
      "conv_kernel_size": 4}
STATE = (512 * 8 + 512 * 3) * 2                     # 11,264 B a layer and sequence
GQA = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32}


def ssm(layers: int = 4):
    return spec_from_dict({"name": "tiny-ssm", "num_layers": layers, "hidden_size": 256, "vocab_size": 1000,
                           "attention": None, "ffn": None, "layer_types": ["linear"], "norms_per_layer": 1,
                           "linear_attention": M1})


def attention_alone(tmp_path) -> str:
    """Two layers of attention and no FFN (ffn null: each layer its attention alone), as a YAML file."""
    path = tmp_path / "attn.yaml"
    path.write_text(json.dumps({"name": "attn-only", "num_layers": 2, "hidden_size": 256, "vocab_size": 1000,
                                "attention": GQA, "ffn": None}))
    return str(path)


# ------------------------------------------------------------------------ models without attention or FFN

def test_pipeline_stages_of_a_model_without_attention(capsys):
    """Before: every --pp > 1 of an attention-free model (kv, weights, train) was an AttributeError traceback
    ('NoneType' object has no attribute 'kv_shared_tail', Parallelism.check)."""
    r = kv_report(ssm(4), context=1000, parallel=Parallelism(pp=2))
    assert r.per_gpu_parts.state == 2 * STATE == 22_528            # 2 of the 4 layers a stage
    # Falcon-Mamba-7B: 64 layers of d_inner 8192 (intermediate_size), d_state 16, d_conv 4; 32 a stage at pp 2
    code, out, err, _ = run(capsys, "kv", str(FIXTURES / "falcon_mamba_7b"), "--pp", "2", "--json")
    assert code == 0 and err == ""
    assert json.loads(out)["kv_bytes_per_gpu"] == 32 * (8192 * 16 + 8192 * 3) * 2 == 9_961_472
    code, _, err, _ = run(capsys, "weights", str(FIXTURES / "falcon_mamba_7b"), "--pp", "2")
    assert code == 0 and err == ""
    refused(capsys, "train", str(FIXTURES / "falcon_mamba_7b"), "--pp", "2",
            words="training memory of Mamba-1 layers is not modelled")


def test_dp_attention_on_a_model_without_ffn_sends_nothing():
    """Before: roofline, fit and sweep with --dp-attention on a model without an FFN (Mamba, Falcon-Mamba) were an
    AttributeError ('NoneType' object has no attribute 'experts_per_token'). Each of 4 ranks runs 2 of the 8
    sequences through every mixer; with no FFN there is nothing to gather or scatter."""
    ops = {o.name: o for o in step_ops(ssm(2), Step("decode", 8, 1000), Parallelism(tp=4, dp_attention=True))}
    assert ops["comm"].comm_bytes == 0 and ops["comm"].launches == 0
    # per token and layer: the selective scan 7 d_inner N and the convolution 2 d_inner K; 2 tokens, 2 layers
    assert ops["linear_core"].flops == 2 * 2 * (7 * 512 * 8 + 2 * 512 * 4) == 131_072


@pytest.mark.parametrize("mtp_ffn", ["moe", "dense"])
def test_mtp_ffn_needs_an_ffn(mtp_ffn):
    """Before: mtp_ffn moe with ffn null was an AttributeError at load ('NoneType' object has no attribute 'kind');
    mtp_ffn dense priced an MTP layer without any FFN."""
    raw = {"name": "t", "num_layers": 2, "hidden_size": 256, "vocab_size": 1000, "attention": GQA, "ffn": None,
           "mtp_layers": 1, "mtp_ffn": mtp_ffn}
    with pytest.raises(SpecError) as e:
        spec_from_dict(raw)
    assert e.value.field == "mtp_ffn" and "needs an ffn block" in e.value.message


def test_profiler_refuses_layers_it_would_build_with_an_ffn(capsys, tmp_path):
    """Attention with ffn null: the whole step (tail_spec), the training layers (layer_dims) and the multi-GPU runner
    (check_supported) read spec.ffn; before, --whole-step was an AttributeError traceback ('NoneType' object has no
    attribute 'moe_layer_step') and the other two passed validation to fail on the GPU. The attention-only runs
    build no FFN: their N-layer cut (predict.spec_layers) raised the same AttributeError and now cuts the layers."""
    from mlacalc.profiler import predict
    from mlacalc.profiler.run import PointConfig
    from mlacalc.profiler.sharded import ShardedConfig

    path = attention_alone(tmp_path)
    refused(capsys, "profile", path, "--whole-step", words="ffn: the profiler's whole steps")
    spec = load_spec(path)
    with pytest.raises(SpecError, match="the profiler's training layers"):
        PointConfig(path, phase="train").validate(spec)
    with pytest.raises(SpecError, match="the multi-GPU runner's layers"):
        ShardedConfig(path, layers=2, tp=2).validate(spec)
    PointConfig(path).validate(spec)                    # decode runs attention alone: accepted
    assert predict.spec_layers(spec, 1).num_layers == 1 and predict.spec_layers(spec, 1).ffn is None


# ------------------------------------------------------------------------ --as against today's attention fields

STEP3 = FIXTURES / "step3"
D3, R3, L3 = 7168, 2048, 61


def test_as_keeps_a_conventional_low_rank_query(capsys):
    """Step-3's MFA (MQA under a 2048-wide low-rank query, attention.q_lora_rank): --as changes the K/V heads only.
    Before: --as dropped q_lora_rank, so --as mqa (its own kind) read 316,294,538,240 parameters as 320,515,980,288
    (a full-rank 7168 x 16384 query on 61 layers)."""
    code, out, _, _ = run(capsys, "weights", str(STEP3), "--json")
    base = json.loads(out)["params_total"]
    code, out, _, _ = run(capsys, "weights", str(STEP3), "--as", "mqa", "--json")
    w = json.loads(out)
    assert code == 0 and w["params_total"] == base == 316_294_538_240
    assert w["attention_per_layer"]["q_down"] == D3 * R3 and "q" not in w["attention_per_layer"]
    # gqa:8: k and v project 8 heads of 256 instead of 1: 2 x 7168 x 7 x 256 more a layer
    code, out, _, _ = run(capsys, "weights", str(STEP3), "--as", "gqa:8", "--json")
    assert json.loads(out)["params_total"] == base + L3 * 2 * D3 * 7 * 256 == 317_861_635_072


def test_as_mha_gives_the_sliding_shape_one_kv_head_a_query_head(capsys):
    """Step-3.5-Flash's sliding layers have 96 query heads (attention.sliding_shape), its full ones 64. Before, --as
    mha gave the sliding layers the full layers' 64 K/V heads and refused ("the sliding layers' 96 query heads must be
    a multiple of their 64 KV heads"). K and V of 128 each, bf16: 12 full layers of 64 heads, 33 sliding of 96."""
    code, out, err, _ = run(capsys, "kv", str(FIXTURES / "step_3_5_flash"), "--as", "mha", "--context", "128k",
                            "--json")
    assert code == 0 and err == ""
    kv = json.loads(out)
    full, sliding = 64 * 256 * 2, 96 * 256 * 2               # bytes a token and layer
    assert kv["kv_bytes_per_token"] == 12 * full + 33 * sliding == 2_015_232
    assert kv["kv_bytes_per_sequence"] == 12 * 131072 * full + 33 * 512 * sliding


def test_as_mqa_overrides_a_sliding_shapes_own_kv_heads(tmp_path, capsys):
    """A sliding shape with K/V heads of its own (MiMo-V2-Flash's swa_num_key_value_heads) kept them under --as mqa:
    its sliding layers stayed GQA-2. 2 full and 2 sliding layers of 4 query heads of 32 (K and V), bf16, context 8."""
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({
        "name": "s", "num_layers": 4, "hidden_size": 256, "vocab_size": 1000,
        "attention": {**GQA, "num_kv_heads": 4, "sliding_window": 8, "global_every": 2,
                      "sliding_shape": {"num_kv_heads": 2}},
        "ffn": {"kind": "dense", "intermediate_size": 512}}))
    code, out, _, _ = run(capsys, "kv", str(path), "--as", "mqa", "--context", "8", "--json")
    assert code == 0 and json.loads(out)["kv_bytes_per_token"] == 4 * 1 * 64 * 2 == 512     # one K/V head a layer
    code, out, _, _ = run(capsys, "kv", str(path), "--context", "8", "--json")
    assert json.loads(out)["kv_bytes_per_token"] == 2 * 4 * 64 * 2 + 2 * 2 * 64 * 2          # as given: 1,536


# ------------------------------------------------------------------------ reader defaults

def test_jamba_without_num_key_value_heads_takes_jambaconfig_default(tmp_path, capsys):
    """JambaConfig(num_key_value_heads=8) (transformers configuration_jamba.py); before, a file without the key was read
    as 32 K/V heads (the query heads): 65,536 B a token, 51.67 B parameters. Jamba-1.5-Mini's 4 attention layers of
    8 K/V heads of 128, K and V, bf16."""
    cfg = json.loads((FIXTURES / "jamba_1_5_mini" / "config.json").read_text())
    del cfg["num_key_value_heads"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    code, out, _, _ = run(capsys, "kv", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["kv_bytes_per_token"] == 4 * 8 * 128 * 2 * 2 == 16_384


def test_parallel_mixers_without_ffn_all_reduce_both_mixers():
    """Every layer's attention (o_proj) and its Mamba-2 beside it (out_proj) each all-reduce their output under TP, FFN
    or not; before, ffn null made the layer "one block" and counted one all-reduce a layer (8 instead of 16 on 8
    layers). 2 layers, tp 2, decode of 4 sequences: each all-reduce sends 2 (n-1)/n T d bf16 values, T 4, d 256."""
    m2 = {"kind": "mamba2", "num_k_heads": 2, "num_v_heads": 4, "head_k_dim": 32, "head_v_dim": 16,
          "conv_kernel_size": 4}
    s = spec_from_dict({"name": "t", "num_layers": 2, "hidden_size": 256, "vocab_size": 1000, "attention": GQA,
                        "ffn": None, "linear_attention": m2, "parallel_mixers": True})
    assert s.num_blocks == 2 * 2
    comm = {o.name: o for o in step_ops(s, Step("decode", 4, 100), Parallelism(tp=2))}["comm"]
    assert comm.launches == 4 and comm.comm_bytes == 4 * 2 * (1 / 2) * 4 * 256 * 2


def test_compare_applies_state_dtype_to_parallel_mixers(capsys):
    """Falcon-H1 holds a Mamba-2 state on every layer (parallel_mixers) without a linear layer: compare's --state-dtype
    looked for linear layers only, so beside Llama it was refused ("none of the models has linear-attention or Mamba
    layers") and beside Jamba it stayed at bf16 while Jamba's went to fp32. Falcon-H1-7B at 8k: K/V 44 layers x 1,024 B
    a token; the state 44 x (24 x 128 x 256 + 3 x 3,584) values at 4 B."""
    state = 44 * (24 * 128 * 256 + 3 * 3584) * 4
    for other in ("llama-3.1-8b", str(FIXTURES / "jamba_1_5_mini")):
        code, out, err, _ = run(capsys, "compare", str(FIXTURES / "falcon_h1_7b"), other, "--state-dtype", "fp32",
                                "--context", "8k", "--json")
        assert code == 0 and err == ""
        assert json.loads(out)["models"][0]["kv_bytes_per_sequence"] == 44 * 1024 * 8192 + state == 509_403_136
