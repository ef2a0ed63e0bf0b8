"""``attention.layer_heads``: each layer's own [query heads, K/V heads] (OpenELM's layer-wise scaling, Nemotron-NAS's
n_heads_in_group per block), worked out by hand on tiny specs, its refusals, and its invariants.

A tiny spec below: hidden 512, heads of 64 (no RoPE split matters), vocab 1000, a gated FFN of 1024, untied head.
Per layer of H query and G K/V heads: q ``512 x 64 H``, k and v ``512 x 64 G`` each, o ``64 H x 512``; two norms of
512. A token adds ``2 G 64`` K and V values to that layer's cache, 2 bytes each at bf16."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlacalc.attention import layer_block, layer_groups, pattern
from mlacalc.capacity import activation_workspace
from mlacalc.errors import ArgError, SpecError
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.params import param_counts, weights_report
from mlacalc.spec import convert_attention, json_schema, load_spec, spec_from_dict, spec_to_dict
from mlacalc.step import Step, step_ops

from helpers import refused, schema_errors

D, HD, V, F = 512, 64, 1000, 1024


def raw(heads, *, kind="gqa", layer_types=None, **attn) -> dict:
    """A tiny spec whose layers have ``heads`` (a list of [H, G] or None); num_heads/num_kv_heads the most."""
    given = [h for h in heads if h is not None]
    a = {"kind": kind, "num_heads": max(h[0] for h in given), "num_kv_heads": max(h[1] for h in given),
         "head_dim": HD, "layer_heads": heads} | attn
    out = {"name": "tiny", "num_layers": len(heads), "hidden_size": D, "vocab_size": V, "attention": a,
           "ffn": {"kind": "dense", "intermediate_size": F}}
    return out | ({"layer_types": layer_types} if layer_types else {})


def spec(heads, **kw):
    return spec_from_dict(raw(heads, **kw))


def plain(h: int, g: int, layers: int, kind: str = "gqa"):
    """The same tiny model with every layer of H heads and G K/V heads, no per-layer list."""
    r = raw([[h, g]] * layers, kind=kind)
    r["attention"].pop("layer_heads")
    return spec_from_dict(r)


HEADS = [[8, 2], [8, 2], [16, 4], [16, 8]]          # three distinct shapes over four layers


# --- numbers by hand --------------------------------------------------------------------------------------

def test_kv_per_token_sums_each_layers_own_heads():
    # K and V of 2 + 2 + 4 + 8 = 16 K/V heads of 64, 2 bytes each: 16 x 64 x 2 x 2 = 4096 B a token
    r = kv_report(spec(HEADS), context=1000)
    assert r.per_token.total == (2 + 2 + 4 + 8) * 64 * 2 * 2 == 4096
    assert r.per_sequence.total == 1000 * 4096 and r.heads_vary
    # the per-layer column is the widest layer's (16 heads over 8 K/V heads): 8 x 64 x 2 x 2
    assert r.per_token_layer.total == 8 * 64 * 2 * 2


def test_parameters_count_each_layers_own_projections():
    # per layer: q and o 512 x 64 H each, k and v 512 x 64 G each; FFN 3 x 512 x 1024; two norms of 512
    attn = sum(2 * D * HD * h + 2 * D * HD * g for h, g in HEADS)
    total = attn + 4 * (3 * D * F + 2 * D) + D + 2 * V * D            # final norm, embedding, untied head
    p = param_counts(spec(HEADS))
    assert p.attention == attn == 2 * 512 * 64 * (8 + 8 + 16 + 16) + 2 * 512 * 64 * (2 + 2 + 4 + 8)
    assert p.total == total
    w = weights_report(spec(HEADS))
    # the attention table shows the widest layer's: q 512 x 1024, k and v 512 x 512, o 1024 x 512
    assert sum(w.attention_per_layer.values()) == 2 * 512 * 1024 + 2 * 512 * 512 and w.heads_vary
    assert w.to_json()["attention_per_layer_is"] == "the widest layer's (attention.layer_heads)"


def test_layers_of_equal_heads_share_one_block_and_group():
    s = spec(HEADS)
    b = [layer_block(s, i) for i in range(4)]
    assert b[0] is b[1] and b[1] is not b[2] and b[3] is s.attention     # [16, 8] is attention's own pair
    assert [(n, blk.num_heads, blk.num_kv_heads) for n, blk, _ in layer_groups(s)] == [(2, 8, 2), (1, 16, 4),
                                                                                          (1, 16, 8)]
    assert pattern(s) == "2 GQA-2 + 1 GQA-4 + 1 GQA-8"


def test_roofline_prices_each_layers_projections_and_core():
    s = spec(HEADS)
    ops = {o.name: o for o in step_ops(s, Step("decode", 2, 100))}
    # qkv_proj: 2 T d (64 H + 2 x 64 G) summed over the layers, T = 2 sequences x 1 token
    assert ops["qkv_proj"].flops == 2 * 2 * D * HD * sum(h + 2 * g for h, g in HEADS)
    # o_proj: 2 T (64 H) d per layer
    assert ops["o_proj"].flops == 2 * 2 * HD * D * sum(h for h, _ in HEADS)
    # the core: 2 H (d_k + d_v) per attended pair, 101 keys (100 cached and the new one), per sequence
    assert ops["attn_core"].flops == 2 * 2 * sum(h for h, _ in HEADS) * 101 * (HD + HD)
    # and each attended key's K and V once, at its own layer's K/V heads
    assert ops["attn_core"].kv_bytes == 2 * 101 * sum(2 * g * HD * 2 for _, g in HEADS)


def test_tensor_parallelism_splits_each_layers_heads():
    s = spec(HEADS)
    # tp 2: every layer's heads and K/V heads halve; a GPU holds half of each token's K/V
    r = kv_report(s, context=10, parallel=Parallelism(tp=2))
    assert r.per_gpu.total == 10 * 4096 / 2
    # tp 4: layers 0 and 1 hold 2 K/V heads, replicated on pairs of ranks: one head a rank, half their K/V
    r = kv_report(s, context=10, parallel=Parallelism(tp=4))
    assert r.per_gpu.total == 10 * (1 + 1 + 1 + 2) * 64 * 2 * 2
    with pytest.raises(ArgError, match="16 ranks cannot split layer 0's 8 query heads"):
        Parallelism(tp=16).check(s)
    with pytest.raises(ArgError, match="2 ranks cannot share layer 1's 3 KV heads"):
        Parallelism(tp=2).check(spec([[6, 6], [6, 3]]))


def test_pipeline_stage_holds_its_own_layers_heads():
    # pp 2: layers 0-1 (2 + 2 K/V heads) and 2-3 (4 + 8): the fullest stage holds 12 x 64 x 2 x 2 a token
    r = kv_report(spec(HEADS), context=10, parallel=Parallelism(pp=2))
    assert r.per_gpu.total == 10 * 12 * 64 * 2 * 2


def test_workspace_takes_the_widest_layer():
    # T H (d_qk + d_v) x 2 bytes at the most heads of any layer, 16
    ws = activation_workspace(spec(HEADS), tokens=100)
    assert ws.attention == 100 * 16 * (64 + 64) * 2


def test_as_keeps_each_layers_query_heads():
    r = raw(HEADS)
    kv = {t: kv_report(spec_from_dict(convert_attention(r, t)), context=1).per_token.total
          for t in ("mha", "mqa", "gqa:2")}
    assert kv["mha"] == (8 + 8 + 16 + 16) * 64 * 2 * 2            # one K/V head a query head
    assert kv["mqa"] == 4 * 1 * 64 * 2 * 2                         # one K/V head a layer
    assert kv["gqa:2"] == 4 * 2 * 64 * 2 * 2
    with pytest.raises(SpecError, match=r"layer_heads\[0\]: 8 heads must be a multiple of 16 K/V heads"):
        spec_from_dict(convert_attention(r, "gqa:16"))


def test_null_entries_on_layers_without_attention():
    # an ffn layer (Nemotron-NAS's attention no_op, with ffn.layer_widths) holds no attention block: its entry null
    s = spec_from_dict(raw([[8, 2], None, [16, 4]], layer_types=["full", "ffn", "full"]) | {
        "ffn": {"kind": "dense", "intermediate_size": F, "layer_widths": [F, F, F]}})
    assert layer_block(s, 1) is None
    assert kv_report(s, context=1).per_token.total == (2 + 4) * 64 * 2 * 2


def test_a_spec_round_trips_through_specs_show():
    s = spec(HEADS)
    assert spec_from_dict(spec_to_dict(s)) == s
    assert schema_errors(json.loads(json.dumps(spec_to_dict(s))), json_schema()) == []
    ok = raw([[8, 2], [8, 2]])

    def with_heads(heads):
        return ok | {"attention": ok["attention"] | {"layer_heads": heads}}

    assert schema_errors(with_heads([[8, 2], [0, 1]]), json_schema()) != []
    assert schema_errors(with_heads([[8, 2], [8]]), json_schema()) != []
    assert schema_errors(with_heads([[8, 2], [8, 2, 1]]), json_schema()) != []
    assert schema_errors(with_heads([[8, 2], None]), json_schema()) == []      # null: a layer without attention


# --- refusals: one line each --------------------------------------------------------------------------------

@pytest.mark.parametrize("r,field,words", [
    (raw([[8, 2]] * 3) | {"num_layers": 2}, "attention.layer_heads", "has 3 entries for 2 layers"),
    (raw([[8, 2], None]), "attention.layer_heads[1]", "is null but layer 1 is a full attention layer"),
    (raw([[8, 3], [8, 2]]), "attention.layer_heads[0]", "8 heads must be a multiple of 3 K/V heads"),
    (raw([[4, 8], [8, 8]]), "attention.layer_heads[0]", "4 heads must be a multiple of 8 K/V heads"),
    (raw([[8, 8], [8, 2]], kind="mha"), "attention.layer_heads[1]", "mha needs as many K/V heads as heads"),
    (raw([[8, 1], [8, 2]], kind="mqa"), "attention.layer_heads[1]", "mqa needs one K/V head"),
    (raw([[8, 2], [16, 4]]) | {"attention": raw([[8, 2], [16, 4]])["attention"] | {"num_heads": 32}},
     "attention.num_heads", "must be the most of attention.layer_heads (16, 4)"),
    (raw([[8, 2], [16, 4]]) | {"attention": raw([[8, 2], [16, 4]])["attention"] | {"num_kv_heads": 2}},
     "attention.num_kv_heads", "must be the most of attention.layer_heads (16, 4)"),
    (raw([[8, 2], [16, 4]], sliding_window=128, sliding_shape={"num_kv_heads": 2}) | {"layer_types": ["sliding",
                                                                                                       "full"]},
     "attention.layer_heads", "with attention.sliding_shape is not modelled"),
    (raw([[8, 2], [16, 4]], kv_share_layers=2), "attention.layer_heads", "with cross-layer K/V sharing"),
    (raw([[12, 4], [10, 5]]), "attention.layer_heads", "the most heads (12) and the most K/V heads (5) of any layer"),
    (raw([[8, 2], [16, 4]]) | {"mtp_layers": 1}, "attention.layer_heads", "multi-token-prediction"),
    (raw([[8, 2], [16, 4]]) | {"attention": {"kind": "mla", "num_heads": 16, "num_kv_heads": 16,
                                             "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
                                             "v_head_dim": 128, "layer_heads": [[8, 8], [16, 16]]}},
     "attention.layer_heads", "applies to mha, mqa and gqa attention, not mla"),
    (raw([[8, 2], [16, 4]]) | {"attention": raw([[8, 2], [16, 4]])["attention"] | {"layer_heads": "8,2"}},
     "attention.layer_heads", "expected a list of [heads, kv_heads] pairs"),
    (raw([[8, 2], [16, 4]]) | {"attention": raw([[8, 2], [16, 4]])["attention"] | {"layer_heads": [[8, 2], [16]]}},
     "attention.layer_heads[1]", "expected [heads, kv_heads] (or null)"),
    (raw([[8, 2], [16, 4]]) | {"attention": raw([[8, 2], [16, 4]])["attention"] | {"layer_heads": [[8, 2], [0, 4]]}},
     "attention.layer_heads[1][0]", "must be at least 1"),
    (raw([[8, 2], [16, 4]]) | {"attention": raw([[8, 2], [16, 4]])["attention"] | {
        "layer_heads": [[8, 2], [2**20, 4]]}}, "attention.layer_heads[1][0]", "must be at most 65,536"),
    (raw([[8, 2], [16, 4]]) | {"attention": raw([[8, 2], [16, 4]])["attention"] | {"layer_heads": [[8, 2]] * 10001}},
     "attention.layer_heads", "more than the 10,000 layers"),
])
def test_bad_layer_heads_are_refused_in_one_line(r, field, words):
    with pytest.raises(SpecError) as e:
        spec_from_dict(r)
    assert e.value.field == field and words in e.value.message, (e.value.field, e.value.message)


def test_a_pair_on_a_layer_without_attention_is_refused():
    r = raw([[8, 2], [8, 2], [16, 4]], layer_types=["full", "ffn", "full"]) | {
        "ffn": {"kind": "dense", "intermediate_size": F, "layer_widths": [F, F, F]}}
    with pytest.raises(SpecError, match="layer 1 is a ffn layer, without attention: its entry must be null"):
        spec_from_dict(r)


def test_training_profiling_and_engines_refuse_in_one_line(capsys, tmp_path):
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw(HEADS)))
    refused(capsys, "train", str(path), words="attention.layer_heads: training memory is not modelled")
    for engine in ("vllm", "sglang"):
        refused(capsys, "fit", str(path), "--gpu", "h100", "--engine", engine,
                words=f"engine {engine}'s KV cache is not modelled where the attention layers have heads")
    from mlacalc.spec import refuse_layer_heads

    with pytest.raises(SpecError, match="the profiler's layers"):
        refuse_layer_heads(spec(HEADS), "the profiler's layers")
    refuse_layer_heads(spec([[16, 8]] * 4), "the profiler's layers")     # attention's own heads on every layer


# --- invariants ---------------------------------------------------------------------------------------------

# K/V heads g and query heads g m, both powers of two, so that the most of each over any layers make a block too
pairs = st.sampled_from([1, 2, 4, 8]).flatmap(lambda g: st.sampled_from([1, 2, 4]).map(lambda m: [g * m, g]))


def numbers(s, context: int = 777) -> tuple:
    """Every total a spec's commands print: KV per token and per sequence, parameters, the step's ops."""
    ops = tuple((o.name, o.flops, o.bytes) for o in step_ops(s, Step("decode", 3, context)))
    return (kv_report(s, context).per_token.total, kv_report(s, context).per_sequence.total, param_counts(s).total,
            ops, pattern(s))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=pairs, layers=st.integers(1, 6))
def test_a_list_of_one_pair_is_the_plain_spec(pair, layers):
    """A per-layer list that gives every layer attention's own heads reads exactly as the spec without it."""
    h, g = pair
    kind = "mha" if h == g else "gqa"
    with_list = spec([[h, g]] * layers, kind=kind)
    assert with_list.uniform_attention and not kv_report(with_list, 1).heads_vary
    assert numbers(with_list) == numbers(plain(h, g, layers, kind))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heads=st.lists(pairs, min_size=1, max_size=6), context=st.integers(1, 10**6))
def test_kv_grows_linearly_in_context_and_sums_the_layers(heads, context):
    s = spec(heads)
    r = kv_report(s, context)
    per_token = sum(2 * g * HD * 2 for _, g in heads)
    assert r.per_token.total == per_token
    assert r.per_sequence.total == context * per_token
    assert kv_report(s, 2 * context).per_sequence.total == 2 * r.per_sequence.total


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heads=st.lists(pairs, min_size=2, max_size=6), data=st.data())
def test_the_order_of_the_layers_changes_no_total(heads, data):
    """KV and parameters are sums over layers: any order of the same layers gives the same totals."""
    order = data.draw(st.permutations(heads))
    a, b = spec(heads), spec(list(order))
    assert kv_report(a, 100).per_sequence.total == kv_report(b, 100).per_sequence.total
    assert param_counts(a).total == param_counts(b).total


def test_hf_and_builtin_specs_are_unchanged():
    """No built-in spec has per-layer heads: their blocks are attention itself on every layer."""
    for name in ("llama-3.1-8b", "deepseek-v3", "gemma-3-27b"):
        s = load_spec(name)
        assert s.layer_heads is None and all(layer_block(s, i) in (s.attention, s.sliding_attention,
                                                                    s.linear_attention)
                                             for i in range(s.num_layers))


def test_a_long_per_model_override_is_read_not_taken_for_a_file_name(capsys, tmp_path):
    """``NAME@attention.layer_heads=[...]`` over 255 characters (40 layers here; OpenELM-3B's 36 pairs are ~300) was
    handed to ``Path.exists`` whole, whose OSError "File name too long" was the CLI's answer (exit 2) and
    load_spec's (a raw OSError); the override is read as a shorter one is."""
    import yaml

    heads = [[8, 2], [16, 4]] * 20
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw(heads)))
    flipped = json.dumps([[16, 4], [8, 2]] * 20).replace(" ", "")
    arg = f"{path}@attention.layer_heads={flipped}"
    assert len(arg) > 255
    s = load_spec(arg)
    assert s.layer_heads[0] == (16, 4) and s.layer_heads[1] == (8, 2)
    # K and V of 20 x (4 + 2) K/V heads of 64, 2 bytes each
    assert kv_report(s, 1).per_token.total == 20 * (4 + 2) * 64 * 2 * 2
    from helpers import run

    code, out, err, _ = run(capsys, "kv", arg, "--context", "1", "--json")
    assert code == 0 and json.loads(out)["kv_bytes_per_token"] == 20 * (4 + 2) * 64 * 2 * 2, err
