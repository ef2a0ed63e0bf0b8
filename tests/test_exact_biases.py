"""The spec fields that make the 2019-2023 decoders' counts exact (docs/zoo-facts.md section 34): ``ffn.mlp_bias`` (the
dense MLP's two biases), ``position_embeddings`` (rows of a learned position table), ``head_bias`` (an lm_head bias),
``embedding_norm`` (BLOOM's LayerNorm on the embeddings), with ``norm_vectors`` 2 for LayerNorms with a bias.

Each is counted in parameters (total, active, per GPU under TP and PP), weight bytes, the roofline's weight reads and
training's ZeRO-3 units, worked out by hand on a tiny model: 2 layers of width d = 256, an MLP of f = 512, a
vocabulary of V = 1000, 4 MHA heads of 64. Sharding as vLLM builds these models (vllm/model_executor/models/gpt2.py,
phi.py, bloom.py): the up projection's bias split with it (ColumnParallelLinear), the down projection's whole on every
rank (RowParallelLinear), the position table an nn.Embedding whole on every rank, the lm_head bias vocabulary-parallel
(ParallelLMHead: num_embeddings_per_partition), norms replicated."""

import json
from pathlib import Path

import pytest

from mlacalc.activations import ActivationConfig, embedding_tensors
from mlacalc.errors import SpecError
from mlacalc.parallel import Parallelism
from mlacalc.params import active_params, layer_params_per_gpu, param_counts, stage_params, weights_report
from mlacalc.spec import json_schema, load_spec, spec_from_dict
from mlacalc.step import Step, step_ops
from mlacalc.training import zero3_units

from helpers import hf_fixture as hf
from helpers import make_spec, refused

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
MHA = {"kind": "mha", "num_heads": 4, "head_dim": 64}
d, f, V, L = 256, 512, 1000, 2


def plain(**extra):
    """The tiny model with a non-gated MLP of f (GPT-2's c_fc, c_proj) and ``extra`` spec fields."""
    ffn = {"kind": "dense", "intermediate_size": f, "gated": False} | extra.pop("ffn", {})
    return make_spec(MHA, layers=L, hidden=d, vocab=V, ffn=ffn, **extra)


def op(spec, name, step=Step("decode", 4, 100), par=Parallelism()):
    return next(o for o in step_ops(spec, step, par) if o.name == name)


# ------------------------------------------------------------------------------------------------ parameters

def test_mlp_bias_adds_f_plus_d_a_layer_and_2f_plus_d_gated():
    """c_fc's bias (f) and c_proj's (d); gated, the gate's too (2 f + d): on every dense layer, in dense_ffn."""
    assert param_counts(plain(ffn={"mlp_bias": True})).dense_ffn == L * (2 * d * f + f + d) == 525_824
    gated = make_spec(MHA, layers=L, hidden=d, vocab=V, ffn={"kind": "dense", "intermediate_size": f,
                                                              "mlp_bias": True})
    assert param_counts(gated).dense_ffn == L * (3 * d * f + 2 * f + d) == 788_992


def test_position_table_is_counted_with_the_embedding_and_one_row_a_token():
    s = plain(position_embeddings=128)
    assert param_counts(s).embed == V * d + 128 * d == 288_768
    assert param_counts(s).total - param_counts(plain()).total == 128 * d
    # one row of wte and one of wpe a token (GPT2Model: inputs_embeds + position_embeds)
    assert active_params(s).embed == 2 * d and active_params(plain()).embed == d
    assert weights_report(s).to_json()["params_active_counts"] == \
        "one embedding row (d) and one position-table row (d) and the output head; no MTP"
    assert weights_report(plain()).to_json()["params_active_counts"] == "one embedding row (d) and the output head; no MTP"


def test_head_bias_is_counted_with_the_head_and_kept_when_tied():
    assert param_counts(plain(head_bias=True)).head == V * d + V == 257_000
    # a tied head's matrix is the embedding (stored once, under embed); its bias is its own (CodeGen)
    tied = plain(head_bias=True, tie_word_embeddings=True)
    assert (param_counts(tied).head, param_counts(tied).embed) == (V, V * d)
    assert active_params(tied).head == V


def test_embedding_norm_holds_norm_vectors_vectors():
    """Two layers of two LayerNorms, the final one and BLOOM's on the embeddings: 6 norms of weight and bias."""
    assert param_counts(plain(norm_vectors=2, embedding_norm=True)).norms == 6 * 2 * d == 3072
    assert param_counts(plain(norm_vectors=1, embedding_norm=True)).norms == 6 * d
    assert param_counts(plain(norm_vectors=0, embedding_norm=True)).norms == 0


def test_tensor_parallel_splits_what_vllm_splits():
    """TP 2: c_fc's weight and bias and c_proj's weight split, c_proj's bias whole; wte vocabulary-split, wpe whole;
    the head and its bias vocabulary-split; the norms whole."""
    s = plain(ffn={"mlp_bias": True}, position_embeddings=128, head_bias=True, norm_vectors=2, embedding_norm=True)
    tp2 = Parallelism(tp=2)
    assert layer_params_per_gpu(s, 0, tp2).dense_ffn == (2 * d * f + f) / 2 + d == 131_584
    (one,) = stage_params(s, tp2)
    assert one.embed == V * d / 2 + 128 * d == 160_768
    assert one.head == (V * d + V) / 2 == 128_500
    assert one.norms == 6 * 2 * d
    # a tied head at one stage is the embedding; its bias still splits
    (tied,) = stage_params(plain(head_bias=True, tie_word_embeddings=True), tp2)
    assert tied.head == V / 2


def test_pipeline_stages_hold_the_embedding_side_first_and_the_head_side_last():
    """PP 2 over 2 layers: stage 0 holds layer 0, wte, wpe and the embeddings' norm; stage 1 layer 1, the final norm
    and the head with its bias (tied at pp > 1: a copy of wte on the last stage, as before)."""
    s = plain(ffn={"mlp_bias": True}, position_embeddings=128, head_bias=True, norm_vectors=2, embedding_norm=True,
              tie_word_embeddings=True)
    first, last = stage_params(s, Parallelism(pp=2))
    assert (first.embed, first.head, first.norms) == (V * d + 128 * d, 0, 3 * 2 * d)
    assert (last.embed, last.head, last.norms) == (0, V * d + V, 3 * 2 * d)
    assert first.dense_ffn == last.dense_ffn == 2 * d * f + f + d


# ------------------------------------------------------------------------------------------------ weight bytes

def test_weight_bytes_at_int4_keep_the_embedding_head_and_norms_at_16_bits():
    """--weight-dtype int4: the matrices at half a byte (the MLP's biases with them, as every vector inside a
    quantized component); the embedding with its position table, the head with its bias, and the norms (LayerNorm
    biases included) at 2 bytes."""
    s = plain(ffn={"mlp_bias": True}, position_embeddings=128, head_bias=True, norm_vectors=2, embedding_norm=True)
    b = weights_report(s, "int4").bytes
    assert b.embed == 2 * (V * d + 128 * d)
    assert b.head == 2 * (V * d + V)
    assert b.norms == 2 * 6 * 2 * d
    assert b.dense_ffn == 0.5 * L * (2 * d * f + f + d)


# ------------------------------------------------------------------------------------------------ roofline

def test_the_roofline_reads_the_biases_the_position_rows_and_the_embedding_norm():
    """Decode, 4 sequences, bf16 (2 bytes a weight): the embed op reads 4 token rows and 4 position rows; the ffn op
    its matrices and biases; lm_head the head and its bias; the norms op 6 norms of 2 vectors, one more launch."""
    s = plain(ffn={"mlp_bias": True}, position_embeddings=128, head_bias=True, norm_vectors=2, embedding_norm=True)
    base = plain(norm_vectors=2)
    assert op(s, "embed").weight_bytes == 4 * d * 2 + 4 * d * 2
    assert op(s, "ffn").weight_bytes == L * (2 * d * f + f + d) * 2
    assert op(s, "lm_head").weight_bytes == (V * d + V) * 2
    assert op(s, "norms").weight_bytes == 6 * 2 * d * 2
    assert op(s, "norms").launches == op(base, "norms").launches + 1 == 6
    assert op(s, "norms").flops - op(base, "norms").flops == 4 * 4 * d     # one more norm of d on 4 tokens
    # TP 2: this rank's token rows and all its position rows; half of c_fc's bias and all of c_proj's; half the head
    tp2 = Parallelism(tp=2)
    assert op(s, "embed", par=tp2).weight_bytes == 4 * d * 2 / 2 + 4 * d * 2
    assert op(s, "ffn", par=tp2).weight_bytes == L * (2 * d * f / 2 + f / 2 + d) * 2
    assert op(s, "lm_head", par=tp2).weight_bytes == (V * d + V) / 2 * 2


# ------------------------------------------------------------------------------------------------ training

def test_zero3_gathers_the_embedding_with_its_position_table_and_norm():
    s = plain(position_embeddings=128, norm_vectors=2, embedding_norm=True)
    units = zero3_units(s, Parallelism(), range(L), param_counts(s), first=True, last=False)
    assert units[-1] == V * d + 128 * d + 2 * d


def test_the_embedding_norm_keeps_its_input_and_rstd_for_the_backward():
    cfg = ActivationConfig(micro_batch=2, seq=64)
    extra = {t.name: t.bytes for t in embedding_tensors(plain(embedding_norm=True), cfg)}
    assert extra == {"embed.input_ids": 2 * 64 * 8, "embed_norm.input": 2 * 64 * d * 2, "embed_norm.rstd": 2 * 64 * 4}
    assert [t.name for t in embedding_tensors(plain(position_embeddings=128), cfg)] == ["embed.input_ids"]


# ------------------------------------------------------------------------------------------------ the readers

@pytest.mark.parametrize("name,vectors,mlp,rows,head", [
    ("gpt2", 2, True, 1024, False), ("starcoder", 2, True, 8192, False), ("pythia_1b", 2, True, 0, False),
    ("phi_2", 2, True, 0, True), ("stablelm_2_1_6b", 2, False, 0, False), ("starcoder2_7b", 2, True, 0, False),
    ("opt_125m", 2, True, 2050, False), ("gpt_j_6b", 2, True, 0, True), ("bloom_560m", 2, True, 0, False),
    ("mpt_7b", 1, False, 0, False), ("gpt_neo_125m", 2, True, 2048, False),
])
def test_each_family_sets_what_its_checkpoint_holds(name, vectors, mlp, rows, head):
    s = hf(name)
    assert (s.norm_vectors, s.ffn.mlp_bias, s.position_embeddings, s.head_bias) == (vectors, mlp, rows, head)
    assert s.embedding_norm == (name == "bloom_560m") and "not counted" not in s.description


def test_starcoder2_use_bias_false_drops_the_mlp_and_attention_biases_not_the_layernorms(tmp_path):
    """Starcoder2MLP's c_fc/c_proj and the attention's q/k/v/o take bias=config.use_bias; its nn.LayerNorms keep
    theirs (Starcoder2DecoderLayer builds them without the flag). StarCoder2-7B: 36 query heads, 4 K/V heads of 128."""
    c = json.loads((FIXTURES / "starcoder2_7b" / "config.json").read_text()) | {"use_bias": False}
    (tmp_path / "config.json").write_text(json.dumps(c))
    s = load_spec(str(tmp_path))
    assert (s.ffn.mlp_bias, s.attention.qkv_bias, s.attention.o_bias, s.norm_vectors) == (False, False, False, 2)
    dd, ff = 4608, 18432
    biases = 36 * 128 + 2 * 4 * 128 + dd + ff + dd                  # q, k, v, o; c_fc, c_proj
    assert param_counts(hf("starcoder2_7b")).total - param_counts(s).total == 32 * biases == 1_064_960


# ------------------------------------------------------------------------------------------------ validation

@pytest.mark.parametrize("field,value,words", [
    ("position_embeddings", -1, "position_embeddings: must be at least 0, got -1"),
    ("position_embeddings", 1.5, "position_embeddings: expected a whole number, got 1.5"),
    ("position_embeddings", "1024", "position_embeddings: expected a whole number, got '1024'"),
    ("head_bias", "yes", "head_bias: expected true or false, got 'yes'"),
    ("embedding_norm", 1, "embedding_norm: expected true or false, got 1"),
])
def test_bad_values_are_one_line(field, value, words):
    with pytest.raises(SpecError, match=words):
        plain(**{field: value})


def test_mlp_bias_on_an_moe_ffn_is_refused(capsys):
    """Counted in no MoE block (its dense layers' biases are not modelled): set there it would change no number."""
    with pytest.raises(SpecError, match="ffn.mlp_bias: applies to a dense FFN"):
        make_spec(MHA, ffn={"kind": "moe", "intermediate_size": 512, "num_experts": 4, "experts_per_token": 2,
                            "expert_intermediate_size": 128, "mlp_bias": True})
    refused(capsys, "weights", "deepseek-v3@ffn.mlp_bias=true", words="ffn.mlp_bias: applies to a dense FFN (kind "
                                                                      "dense), not moe")
    with pytest.raises(SpecError, match="ffn.mlp_bias: expected true or false"):
        plain(ffn={"mlp_bias": "no"})


def test_the_schema_describes_the_new_fields_with_their_units():
    props = json_schema()["properties"]
    assert props["position_embeddings"]["minimum"] == 0 and "rows x d" in props["position_embeddings"]["description"]
    assert props["head_bias"]["type"] == "boolean" and "vocab_size" in props["head_bias"]["description"]
    assert "word_embeddings_layernorm" in props["embedding_norm"]["description"]
    assert "f + d" in props["ffn"]["properties"]["mlp_bias"]["description"]


def test_a_spec_file_round_trips_the_new_fields():
    s = plain(ffn={"mlp_bias": True}, position_embeddings=128, head_bias=True, norm_vectors=2, embedding_norm=True)
    from mlacalc.spec import spec_to_dict

    assert spec_from_dict(spec_to_dict(s)) == s


# ------------------------------------------------------------------------------------------------ the profiler

@pytest.mark.parametrize("override,words", [
    ("ffn.mlp_bias=true", "ffn.mlp_bias: is not built by --whole-step"),
    ("position_embeddings=4096", "position_embeddings: is not built by --whole-step"),
    ("head_bias=true", "head_bias: is not built by --whole-step"),
    ("embedding_norm=true", "embedding_norm: is not built by --whole-step"),
])
def test_whole_step_profiling_refuses_what_it_does_not_build(capsys, override, words):
    """The prediction reads these weights (the ffn op's biases, the embed op's position rows, the lm_head op's bias,
    the norms op's embedding norm); the runner builds none, so it refuses them before looking for a GPU."""
    refused(capsys, "profile", f"llama-3.1-8b@{override}", "--whole-step", "--layers", "2", words=words)


def test_the_multi_gpu_runner_refuses_mlp_biases():
    from mlacalc.profiler.layout import check_supported

    gated = make_spec(MHA, ffn={"kind": "dense", "intermediate_size": 512, "mlp_bias": True})
    with pytest.raises(SpecError, match="ffn.mlp_bias"):
        check_supported(gated, 2)


@pytest.mark.parametrize("name,words", [("stablelm_2_1_6b", "norm_vectors: (2) is not built by --whole-step"),
                                        ("gpt_j_6b", "ffn.mlp_bias: is not built by --whole-step")])
def test_whole_step_refuses_the_layernorm_families_it_ran_as_rmsnorm_models(capsys, name, words):
    """StableLM-2-1.6B (no o_proj bias) and GPT-J (no attention biases) passed --whole-step's checks before, and would
    have been run as RMSNorm models without their LayerNorm and MLP biases."""
    refused(capsys, "profile", str(FIXTURES / name), "--whole-step", "--layers", "2", words=words)


# ------------------------------------------------------------------------------------------------ the other biases

def test_the_k_and_v_biases_follow_the_kv_heads_over_tensor_parallelism():
    """vLLM's QKVParallelLinear (vllm/model_executor/layers/linear.py) gives each rank (H / tp + 2 max(1, H_kv / tp))
    head_dim outputs, bias included: with fewer K/V heads than ranks each rank holds whole K/V heads, their biases
    with their weights. Only the q part of the bias splits with the query heads. GQA of 8 heads of 64 and 2 K/V
    heads at TP 4: q bias 8 x 64 / 4 = 128, one K/V head a rank: k and v biases 64 each."""
    gqa = make_spec({"kind": "gqa", "num_heads": 8, "num_kv_heads": 2, "head_dim": 64, "qkv_bias": True},
                    layers=L, hidden=d, vocab=V)
    per = layer_params_per_gpu(gqa, 0, Parallelism(tp=4))
    q, kv, o = d * 8 * 64 / 4, 2 * d * 64, 8 * 64 * d / 4     # q split; k and v one head each; o split
    assert per.attention == q + kv + o + 8 * 64 / 4 + 2 * 64 == 98_560
    # at TP 2 each rank holds one of the 2 K/V heads: the split is the heads' either way
    assert layer_params_per_gpu(gqa, 0, Parallelism(tp=2)).attention == (d * 8 * 64 + 2 * d * 2 * 64 + 8 * 64 * d
                                                                          + 8 * 64 + 2 * 2 * 64) / 2


def test_starcoder_holds_its_one_kv_heads_biases_on_every_rank():
    """StarCoder's c_attn (multi-query: 48 heads of 128 and one K/V head, biased) at TP 2: the q rows and bias split,
    the K/V head's rows and bias whole on each rank; c_proj's weight split, its bias whole (RowParallelLinear)."""
    dd, hd = 6144, 128
    per = layer_params_per_gpu(hf("starcoder"), 0, Parallelism(tp=2))
    assert per.attention == dd * dd / 2 + 2 * dd * hd + dd * dd / 2 + dd / 2 + 2 * hd + dd == 39_331_072



def test_the_roofline_reads_the_attention_biases_the_weights_hold():
    """Decode at bf16: qkv_proj and o_proj read, a layer, this GPU's attention parameters at 2 bytes each, the o_proj
    bias (whole on each rank, added on rank 0 after the reduction: vLLM RowParallelLinear) and the K/V biases of
    replicated K/V heads included. StarCoder at TP 1 and 2."""
    s = hf("starcoder")
    for tp in (1, 2):
        par = Parallelism(tp=tp)
        read = op(s, "qkv_proj", par=par).weight_bytes + op(s, "o_proj", par=par).weight_bytes
        assert read == 2 * 40 * layer_params_per_gpu(s, 0, par).attention
    # GPT-2, MHA: the o_proj op reads c_proj's bias (768) beside its weight on each of the 12 layers
    assert op(hf("gpt2"), "o_proj").weight_bytes == 12 * (768 * 768 + 768) * 2
