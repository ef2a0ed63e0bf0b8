"""Gemma-3n (E2B, E4B): trailing K/V sharing (``attention.kv_shared_tail``), AltUp, LAuReL and per-layer embeddings
(``residual_extras``), read from the text_config of tests/fixtures/hf/gemma_3n_e2b and gemma_3n_e4b (SOURCE.md).

Every number below is worked out from the config in the test: ``d`` 2048, 8 query heads and 2 KV heads of 256, window
512, every fifth layer full, AltUp ``K`` 4, LAuReL rank 64, per-layer inputs ``p`` 256 from a table of 262,144 rows,
vocabulary 262,400 (tied head); E2B 30 layers of FFN width 8192, the last 10 KV-shared; E4B 35 of 16384, the last 15.
The module shapes are transformers' ``modeling_gemma3n.py`` (``Gemma3nTextAttention``, ``Gemma3nTextAltUp``,
``Gemma3nTextLaurelBlock``, ``Gemma3nTextDecoderLayer``, ``Gemma3nTextModel``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from mlacalc.attention import pattern
from mlacalc.cli import main
from mlacalc.errors import SpecError
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.params import active_non_embedding, param_counts, params_per_gpu, weights_report
from mlacalc.spec import load_spec, spec_from_dict, spec_to_dict
from mlacalc.step import Step, step_ops

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
E2B, E4B = str(FIXTURES / "gemma_3n_e2b"), str(FIXTURES / "gemma_3n_e4b")
D, HEADS, KV_HEADS, HD, WINDOW, K, RANK, P, V, VP = 2048, 8, 2, 256, 512, 4, 64, 256, 262_400, 262_144


def _types(L):
    return ["full" if (i + 1) % 5 == 0 else "sliding" for i in range(L)]      # Gemma3nTextConfig.layer_types


def _text(name):
    return json.loads((FIXTURES / name / "config.json").read_text())["text_config"]


def _write(tmp_path, text, **top):
    cfg = {"model_type": "gemma3n", "architectures": ["Gemma3nForConditionalGeneration"], "text_config": text} | top
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


# --- the sharing ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, L, shared", [(E2B, 30, 10), (E4B, 35, 15)])
def test_the_last_layers_read_the_last_earlier_layer_of_their_type(model, L, shared):
    s = load_spec(model)
    first = L - shared                                  # 20 in both: layers 0-19 compute K/V
    types = _types(L)
    last = {t: max(i for i in range(first) if types[i] == t) for t in ("sliding", "full")}
    assert last == {"sliding": 18, "full": 19}          # vLLM gemma3n.py: first - 2 (sliding), first - 1 (full)
    assert s.attention.kv_shared_tail == shared and s.attention.reader_kv_weights
    assert [s.owns_kv(i) for i in range(L)] == [i < first for i in range(L)]
    assert [s.kv_source(i) for i in range(L)] == [i if i < first else last[types[i]] for i in range(L)]
    assert s.num_kv_layers == first
    readers = types[first:]
    assert pattern(s) == (f"16 GQA-2 sliding-512 + 4 GQA-2 + {readers.count('sliding')} GQA-2 sliding-512 shared-KV"
                          f" + {readers.count('full')} GQA-2 shared-KV")


def test_e2b_kv_bytes_at_8k_count_the_owning_layers_per_type():
    s = load_spec(E2B)
    types = _types(30)
    owners = types[:20]                                  # layers 0-19 cache; 20-29 read layers 18 and 19
    full, sliding = owners.count("full"), owners.count("sliding")
    assert (full, sliding) == (4, 16)
    token_layer = KV_HEADS * HD * 2 * 2                  # K and V of 2 heads x 256 at bf16: 2,048 B
    r = kv_report(s, 8192)
    assert r.per_token_layer.total == token_layer == 2048
    assert r.per_token.total == 20 * token_layer == 40_960
    # full owners hold all 8,192 tokens, sliding owners their window of 512, readers nothing
    assert r.per_sequence.total == (full * 8192 + sliding * WINDOW) * token_layer == 83_886_080
    # the same model computing K/V on every layer: 6 full and 24 sliding layers cache
    unshared = dataclasses.replace(s, attention=dataclasses.replace(s.attention, kv_shared_tail=0,
                                                                    reader_kv_weights=False))
    assert kv_report(unshared, 8192).per_sequence.total == (6 * 8192 + 24 * WINDOW) * token_layer == 125_829_120


def test_e4b_caches_as_e2b_does():
    """E4B's 35 layers share from layer 20 on, as E2B's 30 do: the same 20 owners, the same cache."""
    assert kv_report(load_spec(E4B), 8192).to_json()["kv_bytes_per_sequence"] == \
        kv_report(load_spec(E2B), 8192).to_json()["kv_bytes_per_sequence"] == (4 * 8192 + 16 * 512) * 2048


def test_pipeline_stages_hold_their_owners_and_refuse_a_reader_apart_from_its_source():
    s = load_spec(E2B)
    # pp 2: layers 0-14 (full 4, 9, 14; 12 sliding) and 15-29 (owners 15-19: full 19, 4 sliding; readers read 18, 19)
    r = kv_report(s, 8192, parallel=Parallelism(pp=2))
    assert r.per_gpu.total == (3 * 8192 + 12 * WINDOW) * 2048
    # pp 4: stages of 8 layers; layer 24 (stage 24-29) reads layer 19 (stage 16-23)
    with pytest.raises(Exception, match="layer 24 of gemma_3n_e2b reads the K/V cache of layer 19"):
        kv_report(s, 8192, parallel=Parallelism(pp=4))


def test_decode_every_layer_reads_the_owners_write_and_readers_project_queries_only():
    s = load_spec(E2B)
    B, C = 4, 8191                                       # 8,191 cached + 1 new: 8,192 keys on the full layers
    ops = {o.name: o for o in step_ops(s, Step("decode", B, C))}
    kv = KV_HEADS * HD * 2                               # K and V elements of a token and layer
    assert ops["kv_write"].kv_bytes == 20 * B * kv * 2
    # 6 full layers (4 owners, 2 readers) read 8,192 keys, 24 sliding (16 + 8) their 512
    assert ops["attn_core"].kv_bytes == B * (6 * 8192 + 24 * WINDOW) * kv * 2
    q, k_v = HEADS * HD, 2 * KV_HEADS * HD
    assert ops["qkv_proj"].flops == 2 * B * D * (20 * (q + k_v) + 10 * q)
    # the readers' stored k/v weights are not read: q on every layer, k and v on the 20 owners
    assert ops["qkv_proj"].weight_bytes == 2 * D * (30 * q + 20 * k_v)


def test_decode_norms_leave_out_the_readers_key_norm():
    """Gemma3nTextAttention norms keys only where it projects them (k_norm inside the non-shared branch): 20 of 30
    layers; every layer norms its 8 query heads."""
    s = load_spec(E2B)
    B, L = 2, 30
    ops = {o.name: o for o in step_ops(s, Step("decode", B, 100))}
    width = (4 * D * L                                   # the sandwich norms
             + HEADS * HD * L + KV_HEADS * HD * 20      # q norms on every layer, k norms on the 20 owners
             + 4 * D * L                                 # AltUp's router norm and output scale, LAuReL's, PLE's
             + P + D)                                    # per_layer_projection_norm, the final norm
    assert ops["norms"].flops == 4 * B * width            # 4 FLOPs an element


def test_decode_prices_altup_laurel_and_the_per_layer_inputs():
    s = load_spec(E2B)
    B, L = 3, 30
    ops = {o.name: o for o in step_ops(s, Step("decode", B, 100))}
    per_layer = (2 * 2 * D * K + 2 * K ** 3 + 2 * K * K + 2 * D * K * K + 2 * D * K   # AltUp routers, coefs, mixes
                 + 4 * D * RANK + 4 * D * P)                                        # LAuReL, per-layer gate + proj
    once = 2 * 2 * (K - 1) * D * D + 2 * D * L * P       # AltUp in and out, per_layer_model_projection
    assert ops["residual"].flops == B * (L * per_layer + once) == B * 163_877_568
    assert ops["residual"].weight_bytes == 2 * param_counts(s).residual
    assert ops["per_layer_embed"].weight_bytes == B * L * P * 2      # one row of the table a token


def test_fit_sizes_the_shared_cache_and_altups_streams():
    """mlacalc's own fit: a 32k sequence holds (4 full x 32,768 + 16 sliding x 512) x 2,048 B; the workspace's
    residual term holds AltUp's 4 streams, their 4 predictions and the normed input, (2 x 4 + 1) x d, and every
    layer's per-layer input, 30 x 256, for 8,192 tokens at bf16 (it was 2 x d)."""
    from mlacalc.capacity import activation_workspace, fit
    from mlacalc.hardware import load_hardware

    s = load_spec(E2B)
    assert fit(s, load_hardware("h200"), 32768).kv_bytes_per_seq == (4 * 32768 + 16 * WINDOW) * 2048 == 285_212_672
    assert activation_workspace(s, 8192).residual == 8192 * ((2 * K + 1) * D + 30 * P) * 2 == 427_819_008


# --- the weights ---------------------------------------------------------------------------------------------------

def _by_hand(L, width):
    attention = D * HEADS * HD + 2 * D * KV_HEADS * HD + HEADS * HD * D + 2 * HD    # q, k, v, o, q/k norms
    altup = D * K + K ** 3 + K * K                       # modality_router, prediction_coefs, correction_coefs
    layer = attention + 3 * D * width + altup + 2 * D * RANK + 2 * D * P + 8 * D
    #   8 vectors of d: 4 sandwich norms, AltUp's correct_output_scale and router_norm, post_laurel_norm,
    #   post_per_layer_input_norm (v_norm has no weight)
    model = V * D + VP * L * P + D * L * P + P + 2 * (K - 1) * D * D + D
    #   embed_tokens (tied head), embed_tokens_per_layer, per_layer_model_projection, its norm, AltUp's projections
    #   in and out, the final norm
    return L * layer + model


@pytest.mark.parametrize("model, L, width, effective", [(E2B, 30, 8192, 1.91e9), (E4B, 35, 16384, 3.98e9)])
def test_parameters_by_hand_and_against_googles_effective_count(model, L, width, effective):
    s = load_spec(model)
    p = param_counts(s)
    assert p.total == _by_hand(L, width)
    assert p.per_layer_embed == VP * L * P
    # Google's "effective" parameters (google/gemma3n-slicing-configs: E2B 1.91, E4B 3.98 B) are the model without
    # its embeddings, the per-layer table's included
    assert p.total - p.embed - p.per_layer_embed == active_non_embedding(s)
    assert round(active_non_embedding(s) / 1e9, 2) == effective / 1e9


def test_e2b_and_e4b_differ_as_their_checkpoints_do():
    """HF's safetensors metadata: google/gemma-3n-E4B-it 7,849,978,192 and -E2B-it 5,439,438,272 parameters, the same
    audio and vision towers in both: their difference is the text decoders', k/v projections of the KV-shared layers
    included."""
    assert param_counts(load_spec(E4B)).total - param_counts(load_spec(E2B)).total == \
        7_849_978_192 - 5_439_438_272 == _by_hand(35, 16384) - _by_hand(30, 8192)


def test_the_readers_k_and_v_are_counted_but_named():
    s = load_spec(E2B)
    r = weights_report(s)
    assert r.unused_kv == 10 * 2 * D * KV_HEADS * HD
    gone = dataclasses.replace(s, attention=dataclasses.replace(s.attention, reader_kv_weights=False))
    assert param_counts(s).attention - param_counts(gone).attention == r.unused_kv


def test_active_parameters_take_one_row_of_each_table():
    s = load_spec(E2B)
    a = weights_report(s).active
    assert (a.embed, a.per_layer_embed, a.head) == (D, 30 * P, 0)


def test_tensor_parallel_weights_split_laurel_and_the_tables():
    s = load_spec(E2B)
    p = params_per_gpu(s, Parallelism(tp=2))
    altup = D * K + K ** 3 + K * K
    # per layer: AltUp and the per-layer gate/projection replicated (vLLM ReplicatedLinear), LAuReL split; the model's
    # per_layer_model_projection and AltUp projections column-parallel
    assert p.residual == 30 * (altup + 2 * D * P + 2 * D * RANK / 2) + (D * 30 * P + 2 * 3 * D * D) / 2
    assert p.per_layer_embed == VP * 30 * P / 2


# --- the property: no shared layer is the model without sharing -----------------------------------------------------

@st.composite
def gemma_like(draw):
    period = draw(st.integers(2, 6))                    # period - 1 sliding layers, then a full one
    L = period * draw(st.integers(2, 6))                # two periods at least: a full owner before a full reader
    kv = draw(st.sampled_from([1, 2, 4]))
    raw = {"name": "g", "num_layers": L, "hidden_size": 64 * draw(st.integers(1, 8)), "vocab_size": 1000,
           "attention": {"kind": "gqa" if kv < 8 else "mha", "num_heads": 8, "num_kv_heads": kv, "head_dim": 32,
                         "qk_norm": True, "sliding_window": draw(st.integers(1, 64))},
           "layer_types": ["sliding"] * (period - 1) + ["full"],
           "ffn": {"kind": "dense", "intermediate_size": 128},
           "residual_extras": {"altup_inputs": draw(st.integers(1, 4)), "laurel_rank": draw(st.integers(0, 8)),
                               "per_layer_input_size": draw(st.integers(1, 16))}}
    return raw, draw(st.integers(0, period - 1))


@settings(max_examples=60, deadline=None)
@given(gemma_like(), st.integers(1, 300))
def test_zero_shared_layers_is_the_model_without_sharing(case, context):
    raw, tail = case
    plain = spec_from_dict(raw)
    zero = spec_from_dict({**raw, "attention": {**raw["attention"], "kv_shared_tail": 0}})
    assert zero == plain
    assert kv_report(zero, context).to_json() == kv_report(plain, context).to_json()
    assert param_counts(zero) == param_counts(plain)
    # `tail` shared layers, fewer than a period (a sliding and a full owner stay before them): the cache per token
    # counts the L - tail owners, and without stored reader weights the model has tail x (k + v) fewer parameters
    if tail:
        shared = spec_from_dict({**raw, "attention": {**raw["attention"], "kv_shared_tail": tail}})
        L, a = plain.num_layers, plain.attention
        assert kv_report(shared, context).per_token.total == (L - tail) * a.num_kv_heads * 32 * 2 * 2
        k_v = 2 * plain.hidden_size * a.num_kv_heads * 32
        assert param_counts(plain).total - param_counts(shared).total == tail * k_v
        kept = spec_from_dict({**raw, "attention": {**raw["attention"], "kv_shared_tail": tail,
                                                    "reader_kv_weights": True}})
        assert param_counts(kept) == param_counts(plain)


def test_a_config_without_shared_layers_reads_without_sharing(tmp_path):
    s = load_spec(_write(tmp_path, _text("gemma_3n_e2b") | {"num_kv_shared_layers": 0}))
    assert (s.attention.kv_shared_tail, s.attention.reader_kv_weights, s.num_kv_layers) == (0, False, 30)
    assert kv_report(s, 1).per_token.total == 30 * 2048
    assert param_counts(s) == param_counts(load_spec(E2B))      # the checkpoint stores k/v on every layer either way


# --- reading the wrapper --------------------------------------------------------------------------------------------

def test_the_wrapper_reads_its_text_decoder_and_says_what_is_left_out():
    s = load_spec(E2B)
    assert "the audio and vision towers and their embedders" in s.description
    assert "activation_sparsity_pattern changes no weight" in s.description
    assert (s.norms_per_layer, s.attention.qk_norm, s.tie_word_embeddings, s.max_context) == (4, True, True, 32768)


def test_a_text_config_of_class_defaults_is_e4b(tmp_path):
    """Gemma3nTextConfig's defaults are E4B's: a text_config that gives only its model_type (as a wrapper saved with
    use_diff may) reads as the E4B fixture."""
    s, want = load_spec(_write(tmp_path, {"model_type": "gemma3n_text"})), load_spec(E4B)
    assert (s.attention, s.ffn, s.layer_types, s.residual_extras) == \
        (want.attention, want.ffn, want.layer_types, want.residual_extras)
    assert param_counts(s) == param_counts(want)


def test_gemma3n_text_reads_on_its_own(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(_text("gemma_3n_e2b")))
    s = load_spec(str(tmp_path))
    assert param_counts(s) == param_counts(load_spec(E2B))
    assert "towers" not in s.description


# --- the CLI ---------------------------------------------------------------------------------------------------------

def _run(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_kv_names_the_sharing(capsys):
    code, out, _ = _run(capsys, "kv", E2B, "--context", "8k")
    assert code in (0, None)
    assert ("KV sharing: 20 of 30 layers cache K/V; the last 10 read layer 18's (sliding) and layer 19's (full)"
            in " ".join(out.split()))
    code, out, _ = _run(capsys, "kv", E2B, "--context", "8k", "--json")
    d = json.loads(out)
    assert (d["kv_shared_tail"], d["kv_layers"], d["num_layers"], d["kv_sources"]) == \
        (10, 20, 30, {"sliding": 18, "full": 19})
    assert d["kv_bytes_per_token"] == 20 * d["kv_bytes_per_token_layer"] == 40_960


def test_weights_show_the_per_layer_table_on_its_own_line(capsys):
    code, out, _ = _run(capsys, "weights", E2B)
    assert code in (0, None)
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    assert "per_layer_embed" in rows and "residual" in rows
    assert "2.01 B" in rows["per_layer_embed"]                  # 262,144 x 30 x 256 = 2,013,265,920
    assert "off the GPU (2.44 B without it)" in " ".join(out.split())
    code, out, _ = _run(capsys, "weights", E2B, "--json")
    d = json.loads(out)
    assert d["params"]["per_layer_embed"] == VP * 30 * P
    assert d["params_total"] == _by_hand(30, 8192)
    assert d["params_unused_kv"] == 10 * 2 * D * KV_HEADS * HD


@pytest.mark.parametrize("argv, words", [
    (["train", E2B, "--seq", "4096"], "training memory is not modelled with cross-layer K/V sharing"),
    (["fit", E2B, "--gpu", "h200", "--engine", "vllm"], "engine vllm's KV cache is not modelled"),
    (["fit", E2B, "--gpu", "h200", "--engine", "sglang"], "engine sglang's KV cache is not modelled"),
    (["roofline", E2B, "--gpu", "h200", "--tp", "2"], "under tensor parallelism is not modelled"),
    (["kv", E2B, "--pp", "4"], "reads the K/V cache of layer 19"),
    (["kv", E2B, "--set", "attention.kv_shared_tail=30"], "must be less than num_layers (30)"),
    (["kv", E2B, "--set", "attention.kv_shared_tail=-1"], "must be at least 0"),
    (["kv", E2B, "--set", "attention.kv_share_layers=2"], "give kv_share_layers (2) or kv_shared_tail (10)"),
    (["kv", E2B, "--set", "layer_types=[sliding,full,chunked]", "--set", "num_layers=30",
      "--set", "attention.chunk_size=64"], "has chunked layers"),
    (["weights", E2B, "--set", "residual_extras={altup_inputs: 1, laurel_rank: 0, per_layer_input_size: 0}"],
     "sets no block"),
    (["weights", E2B, "--set", "residual_extras.per_layer_input_size=0"], "per_layer_vocab_size: needs"),
    (["weights", E2B, "--set", "mtp_layers=1"], "multi-token-prediction"),
])
def test_what_is_not_sized_is_one_line(capsys, argv, words):
    code, _, err = _run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and words in err, err


def test_a_reader_type_without_an_owner_is_refused():
    # four layers, the last (full) shared: no full layer among the first three computes K/V for it
    raw = {"name": "g", "num_layers": 4, "hidden_size": 64, "vocab_size": 10,
           "attention": {"kind": "gqa", "num_heads": 2, "num_kv_heads": 1, "head_dim": 32, "sliding_window": 8,
                         "kv_shared_tail": 1},
           "layer_types": ["sliding", "sliding", "sliding", "full"], "ffn": {"kind": "dense", "intermediate_size": 8}}
    with pytest.raises(SpecError, match="layer 3 is full but no full layer before the last 1 computes K/V"):
        spec_from_dict(raw)
    with pytest.raises(SpecError, match="reader_kv_weights: is set but no layer reads"):
        spec_from_dict({**raw, "attention": {**raw["attention"], "kv_shared_tail": 0, "reader_kv_weights": True}})


@pytest.mark.parametrize("change, words", [
    ({"num_kv_shared_layers": 30}, "num_kv_shared_layers (30) must be less than num_hidden_layers (30)"),
    ({"num_kv_shared_layers": 31}, "num_kv_shared_layers (31) must be less than num_hidden_layers (30)"),
    ({"num_kv_shared_layers": -1}, "num_kv_shared_layers must be a whole number of at least 0"),
    ({"intermediate_size": [8192] * 29 + [16384]}, "FFN widths differing layer by layer"),
    ({"intermediate_size": [8192] * 29}, "intermediate_size names 29 layers for num_hidden_layers 30"),
    ({"activation_sparsity_pattern": [0.95] * 10}, "activation_sparsity_pattern must be 30 fractions"),
    ({"altup_active_idx": 4}, "altup_active_idx (4) must be below altup_num_inputs (4)"),
    ({"laurel_rank": "64"}, "laurel_rank must be a whole number of at least 0"),
    ({"quantization_config": {"quant_method": "fp8"}}, "a quantized checkpoint is not priced"),
])
def test_bad_configs_are_one_line(tmp_path, capsys, change, words):
    code, _, err = _run(capsys, "kv", _write(tmp_path, _text("gemma_3n_e2b") | change))
    assert code == 2 and err.count("\n") == 1 and words in err, err


def test_a_quantized_mlx_conversion_is_refused(tmp_path, capsys):
    code, _, err = _run(capsys, "weights", _write(tmp_path, _text("gemma_3n_e2b"),
                                                  quantization={"group_size": 64, "bits": 4}))
    assert code == 2 and "a quantized checkpoint is not priced" in err and err.count("\n") == 1


def test_the_profiler_refuses_in_one_line():
    from mlacalc.profiler.run import PointConfig
    from mlacalc.profiler.whole_step import StepConfig

    s = load_spec(E2B)
    with pytest.raises(SpecError, match="the profiler's layers"):
        PointConfig(E2B).validate(s)
    with pytest.raises(SpecError, match="whole steps"):
        StepConfig(E2B, "decode", "sdpa", 8, 4096).validate(s)
    plain = dataclasses.replace(s, attention=dataclasses.replace(s.attention, kv_shared_tail=0,
                                                                 reader_kv_weights=False))
    with pytest.raises(SpecError, match="residual_extras: the profiler's layers .* AltUp, LAuReL, per-layer inputs"):
        PointConfig(E2B).validate(plain)


def test_specs_show_round_trips(capsys):
    s = load_spec(E2B)
    assert spec_from_dict(spec_to_dict(s)) == s
