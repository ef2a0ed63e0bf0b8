"""The multi-GPU runner on CPU: what each rank holds, worked by hand against the calculator, and gloo processes
standing in for NCCL ones (``mlacalc.profiler.sharded``; nothing here has run on several GPUs).

Layouts and weights are checked at full size on the meta device (no memory); the spawned runs use a real spec's
attention (DeepSeek-V2-Lite's 16 heads, 512 latent + 64 RoPE key) with narrower FFNs and fewer experts (``--set``),
so two processes finish in seconds. Each spawned decode is also run unsharded in this process: the sharded step
must compute the same function (fp32), which is what "sharded as the calculator assumes" has to mean.
"""

import math

import pytest
from mlacalc.profiler.layout import layer_pieces, local_tensors, rank_layout
from mlacalc.profiler.sharded import (
    ShardedConfig,
    layer_params,
    predict_decode,
    predict_train,
)

from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec

torch = pytest.importorskip("torch")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not built", allow_module_level=True)

from mlacalc.profiler.shard_layers import build_layer, reference_decode
from mlacalc.profiler.sharded import run_points
from mlacalc.profiler.zero import reference_forward, reference_grads

# DeepSeek-V2-Lite's attention, narrower FFNs: 8 experts of width 64, 2 per token, 2 shared, first layer dense
LITE = ("hidden_size=256", "ffn.intermediate_size=512", "ffn.expert_intermediate_size=64", "ffn.num_experts=8",
        "ffn.experts_per_token=2")
# Llama-3.1-8B's layer at width 256: 4 query heads of 64, 2 KV heads (GQA); MQA with 1
GQA = ("hidden_size=256", "ffn.intermediate_size=512", "attention.num_heads=4", "attention.num_kv_heads=2",
       "attention.head_dim=64")
MQA = GQA[:3] + ("attention.num_kv_heads=1", "attention.head_dim=64")
MLA_TRAIN = ("hidden_size=256", "ffn.intermediate_size=512")
B, C, L = 4, 64, 2


def _by_component(spec, lay, layer):
    m = build_layer(spec, lay, layer, "meta", torch.bfloat16)
    comp = {p.name: p.component for p in layer_pieces(spec, lay, layer)}
    out = {}
    for name, p in m.named_parameters():
        out[comp[name]] = out.get(comp[name], 0) + p.numel()
    return out


# ---------------------------------------------------------------------------------------------------------------
# Full-size layouts on the meta device (no processes)
# ---------------------------------------------------------------------------------------------------------------

def test_deepseek_v2_lite_tp2_rank_holds_half_the_heads_and_the_whole_latent():
    spec = load_spec("deepseek-v2-lite")
    par = Parallelism(tp=2)
    lay = [rank_layout(spec, par, r, 8) for r in (0, 1)]
    assert (lay[0].q_heads, lay[1].q_heads) == (range(8), range(8, 16))
    assert lay[0].kv_heads == range(0)                      # the latent belongs to no head
    d, H, r, dr, dn, dv = 2048, 16, 512, 64, 128, 128       # DeepSeek-V2-Lite config.json, q_lora_rank null
    attention = (d * H * (dn + dr) // 2                     # q, split by heads
                 + d * (r + dr) + r                         # kv_down and kv_norm, whole on every rank
                 + r * H * (dn + dv) // 2 + H * dv * d // 2)   # kv_up and o, split by heads
    assert attention == 7_471_616
    dense = _by_component(spec, lay[1], 0)                  # layer 0 is dense (first_k_dense_replace 1)
    assert dense == {"norms": 2 * d, "attention": attention, "dense_ffn": 3 * d * 10944 // 2}
    moe = _by_component(spec, lay[1], 1)
    assert moe == {"norms": 2 * d, "attention": attention, "router": d * 64,
                   "routed_experts": 64 * 3 * d * 1408 // 2,      # every expert, half its width
                   "shared_experts": 3 * d * 2 * 1408 // 2}
    calc = layer_params(spec, par, 2)
    assert calc.total == sum(dense.values()) + sum(moe.values())


def test_expert_parallel_ranks_hold_whole_disjoint_experts():
    spec = load_spec("deepseek-v2-lite")
    par = Parallelism(tp=2, ep=2)
    lay = [rank_layout(spec, par, r) for r in (0, 1)]
    assert lay[0].experts == tuple(range(32)) and lay[1].experts == tuple(range(32, 64))
    assert len(lay[0].expert_width) == 1408                 # whole experts
    moe = _by_component(spec, lay[0], 1)
    assert moe["routed_experts"] == 32 * 3 * 2048 * 1408
    assert layer_params(spec, par, 2).routed_experts == moe["routed_experts"]


def test_dp_attention_splits_sequences_and_all_heads_stay():
    spec = load_spec("deepseek-v2-lite")
    par = Parallelism(tp=2, dp_attention=True)
    lay = [rank_layout(spec, par, r, 5) for r in (0, 1)]
    assert (lay[0].sequences, lay[1].sequences) == (range(3), range(3, 5))   # ceil(5 / 2) on the fullest
    assert lay[0].q_heads == range(16)
    p = predict_decode(ShardedConfig("deepseek-v2-lite", batch=5, context=1024, layers=2, tp=2, dp_attention=True),
                       spec, _hw())
    assert p["kv_bytes"] == 2 * 3 * 1024 * (512 + 64) * 2     # 2 layers, 3 sequences, bf16


def test_dp_attention_with_ep_replicates_shared_experts_as_the_calculator_does():
    spec = load_spec("deepseek-v2-lite")
    par = Parallelism(tp=4, ep=4, dp_attention=True)
    lay = rank_layout(spec, par, 1)
    assert lay.shared_replicated and len(lay.shared_width) == 2 * 1408
    built = _by_component(spec, lay, 1)["shared_experts"]
    assert built == 3 * 2048 * 2816
    assert layer_params(spec, par, 2).shared_experts == built           # audit 14: was built / 4


def test_gqa_kv_heads_split_then_replicate_past_their_count():
    spec = load_spec("llama-3.1-8b")                        # 32 query heads, 8 KV heads of 128
    assert rank_layout(spec, Parallelism(tp=4), 3).kv_heads == range(6, 8)
    r16 = [rank_layout(spec, Parallelism(tp=16), r).kv_heads for r in (0, 1, 2, 15)]
    assert r16 == [range(1), range(1), range(1, 2), range(7, 8)]      # two ranks share each KV head
    for tp in (4, 16):
        lay = rank_layout(spec, Parallelism(tp=tp), 0)
        m = build_layer(spec, lay, 0, "meta", torch.bfloat16)
        assert {n: tuple(p.shape) for n, p in m.named_parameters()} == \
               {t.name: t.shape for t in local_tensors(layer_pieces(spec, lay, 0))}
        n = sum(p.numel() for p in m.parameters())
        assert n == layer_params(spec, Parallelism(tp=tp), 1).total
    p = predict_decode(ShardedConfig("llama-3.1-8b", batch=2, context=4096, layers=2, tp=16), spec, _hw())
    assert p["kv_bytes"] == 2 * 2 * 4096 * 1 * 128 * 2 * 2   # layers, seqs, tokens, 1 KV head, d, k+v, bf16


def test_tp_decode_charges_two_all_reduces_per_layer():
    spec = load_spec("deepseek-v2-lite")
    cfg = ShardedConfig("deepseek-v2-lite", batch=8, context=4096, layers=4, tp=8)
    p = predict_decode(cfg, spec, _hw())
    assert p["collectives"] == 2 * 4
    ring = 7 / 8
    assert p["comm_bytes"] == pytest.approx(4 * 2 * 2 * ring * 8 * 2048 * 2)   # L, two, all-reduce 2(n-1)/n, T d, bf16


def test_zero_states_are_the_calculator_s():
    spec = load_spec("variant-mla", list(MLA_TRAIN))
    N = 2 * (256 * 16 * 192 + 256 * 576 + 512 + 512 * 16 * 256 + 16 * 128 * 256 + 2 * 256 + 3 * 256 * 512)
    assert N == 7_899_136                                   # two layers, worked from the spec
    for z, (w, g, o) in {0: (2, 2, 12), 1: (2, 2, 6), 2: (2, 1, 6), 3: (1, 1, 6)}.items():   # bytes/param, dp 2
        p = predict_train(ShardedConfig("variant-mla", "train", 1, 32, layers=2, tp=1, dp=2, zero=z,
                                        sets=MLA_TRAIN), spec)
        assert (p["weights_bytes"], p["grads_bytes"], p["optimizer_bytes"]) == (w * N, g * N, o * N)


def test_the_config_refuses_what_the_runner_does_not_build():
    from mlacalc.errors import SpecError

    spec = load_spec("deepseek-v2-lite")
    with pytest.raises(SpecError, match="--ep 1 or --ep 4"):
        ShardedConfig("deepseek-v2-lite", tp=4, ep=2).validate(spec)
    with pytest.raises(SpecError, match="MoE layer"):
        ShardedConfig("deepseek-v2-lite", "train", layers=2, tp=2).validate(spec)
    with pytest.raises(SpecError, match="sliding"):
        ShardedConfig("mistral-7b", layers=2, tp=2).validate(load_spec("mistral-7b"))


def _hw():
    from mlacalc.hardware import load_hardware

    return load_hardware("h200")


# ---------------------------------------------------------------------------------------------------------------
# Two gloo processes
# ---------------------------------------------------------------------------------------------------------------

DECODE = [ShardedConfig("deepseek-v2-lite", "decode", B, C, layers=L, tp=2, dtype="fp32", sets=LITE, reps=1),
          ShardedConfig("deepseek-v2-lite", "decode", B, C, layers=L, tp=2, ep=2, dtype="fp32", sets=LITE, reps=1),
          ShardedConfig("deepseek-v2-lite", "decode", B, C, layers=L, tp=2, dp_attention=True, dtype="fp32",
                        sets=LITE, reps=1),
          ShardedConfig("deepseek-v2-lite", "decode", B, C, layers=L, tp=2, ep=2, dp_attention=True, dtype="fp32",
                        sets=LITE, reps=1),
          ShardedConfig("llama-3.1-8b", "decode", B, C, layers=L, tp=2, dtype="fp32", sets=GQA, reps=1),
          ShardedConfig("llama-3.1-8b", "decode", B, C, layers=L, tp=2, dtype="fp32", sets=MQA, reps=1)]


@pytest.fixture(scope="module")
def decoded():
    return run_points(DECODE, backend="gloo", outputs=True)


def _gathered_output(point):
    if point["config"]["dp_attention"]:
        return torch.cat([torch.tensor(r["output"]) for r in sorted(point["ranks"], key=lambda r: r["sequences"])])
    return torch.tensor(point["ranks"][0]["output"])


@pytest.mark.parametrize("i", range(len(DECODE)))
def test_sharded_decode_computes_the_unsharded_step(decoded, i):
    cfg = DECODE[i]
    ref = reference_decode(cfg, cfg.load_spec())
    assert torch.allclose(_gathered_output(decoded[i]), ref, atol=1e-4, rtol=1e-4)


def test_mla_latent_is_whole_on_every_tp_rank_and_split_by_sequences_under_dp_attention(decoded):
    whole = L * B * C * (512 + 64) * 4                      # layers, sequences, tokens, latent + RoPE key, fp32
    assert whole == 1_179_648
    for i in (0, 1):                                        # TP, TP + EP: every rank holds every sequence's latent
        assert [r["kv_bytes"] for r in decoded[i]["ranks"]] == [whole, whole]
    for i in (2, 3):                                        # data-parallel attention: B / tp sequences each
        assert [r["kv_bytes"] for r in decoded[i]["ranks"]] == [whole // 2, whole // 2]
    for p in decoded[:4]:
        c = {x["name"]: x for x in p["comparisons"]}
        assert c["kv_bytes"]["predicted"] == c["kv_bytes"]["measured"]


def test_gqa_kv_heads_split_and_mqa_replicates(decoded):
    one_head = L * B * C * 1 * 64 * 2 * 4                   # one KV head of 64 per rank, K and V, fp32
    assert [r["kv_bytes"] for r in decoded[4]["ranks"]] == [one_head, one_head]   # 2 heads over 2 ranks
    assert [r["kv_bytes"] for r in decoded[5]["ranks"]] == [one_head, one_head]   # 1 head, held by both
    assert decoded[5]["ranks"][0]["layout"]["kv_heads"] == decoded[5]["ranks"][1]["layout"]["kv_heads"] == [0, 1]


def test_weights_per_rank_are_the_calculator_s_component_by_component(decoded):
    for i, p in enumerate(decoded):
        spec = DECODE[i].load_spec()
        calc = layer_params(spec, DECODE[i].parallel(), L).as_dict()
        for r in p["ranks"]:
            got = {k: v / 4 for k, v in r["weights_by_component"].items()}      # fp32 bytes -> parameters
            want = {k: v for k, v in calc.items() if v and k != "total"}
            assert got == want  # dp-attention + EP: shared experts whole in both since audit 14 (were 1/tp here)


def test_experts_are_split_over_ep_ranks(decoded):
    for i in (1, 3):
        held = [set(r["layout"]["experts"]) for r in decoded[i]["ranks"]]
        assert held[0] == set(range(4)) and held[1] == set(range(4, 8))


def test_collectives_per_layer_are_the_calculator_s_count(decoded):
    for i, p in enumerate(decoded):
        c = {x["name"]: x for x in p["comparisons"]}
        assert c["collectives"]["predicted"] == 2 * L and c["collectives"]["ok"]
        for r in p["ranks"]:
            assert r["collectives_per_layer"] == [2, 2]
    assert decoded[0]["ranks"][0]["collectives_by_op"] == {"all_reduce": 4}
    assert decoded[2]["ranks"][0]["collectives_by_op"] == {"all_gather": 2, "reduce_scatter": 2}
    # layer 0 dense (all-gather, reduce-scatter), layer 1 MoE (all-to-all out and back, counts apart)
    assert decoded[3]["ranks"][0]["collectives_by_op"] == {"all_gather": 1, "reduce_scatter": 1, "all_to_all": 2}
    assert decoded[3]["ranks"][0]["metadata_collectives"] == 1


def test_communication_bytes_are_the_calculator_s(decoded):
    d, ring = 256, 1 / 2                                    # 2 ranks; fp32 activations (4 bytes)
    per_layer = {0: 2 * 2 * ring * B * d * 4,               # TP: two all-reduces of T d, 2 (n-1)/n each
                 4: 2 * 2 * ring * B * d * 4,
                 2: 2 * ring * B * d * 4}                   # dp-attention: all-gather + reduce-scatter, (n-1)/n
    for i, want in per_layer.items():
        c = {x["name"]: x for x in decoded[i]["comparisons"]}
        assert c["comm_bytes"]["measured"] == L * want
        assert c["comm_bytes"]["measured"] == pytest.approx(c["comm_bytes"]["predicted"])


def test_the_report_holds_the_points_to_issue_15_s_targets(decoded, tmp_path):
    from mlacalc.profiler.report import accuracy_table
    from mlacalc.profiler.validate import write_reports

    rows = {r["target"]: r for r in accuracy_table(decoded)}
    assert rows["Multi-GPU: per-rank KV within 2%"]["met"]
    assert rows["Multi-GPU: collectives per step as the calculator counts"]["met"]
    weights = rows["Multi-GPU: per-rank weights as the calculator splits them"]
    assert (weights["points"], weights["passed"]) == (6, 6)       # audit 14: dp-attention + EP's shared experts
    assert not any("peak" in t or "latency" in t or "communication" in t for t in rows if "Multi" in t)  # CPU
    write_reports(tmp_path, {"meta": {"command": "test", "gpus": 2}, "points": list(decoded)})
    md = (tmp_path / "validate.md").read_text()
    assert "GPUs: 2" in md and "Multi-GPU: per-rank KV within 2%" in md


TRAIN = [ShardedConfig("variant-mla", "train", 1, 32, layers=2, tp=1, dp=2, zero=z, sets=MLA_TRAIN, reps=1)
         for z in (0, 1, 2, 3)] + \
        [ShardedConfig("variant-mla", "train", 2, 32, layers=2, tp=2, sp=sp, dtype="fp32", sets=MLA_TRAIN, reps=1)
         for sp in (False, True)] + \
        [ShardedConfig("llama-3.1-8b", "train", 2, 32, layers=2, tp=2, sp=True, dtype="fp32", sets=GQA, reps=1)]


@pytest.fixture(scope="module")
def trained():
    return run_points(TRAIN, backend="gloo", outputs=True)


def test_zero_model_states_per_rank_equal_the_calculator_exactly(trained):
    N = 7_899_136                                           # test_zero_states_are_the_calculator_s
    for z, p in zip((0, 1, 2, 3), trained[:4]):
        for r in p["ranks"]:
            held = (r["weights_bytes"], r["grads_bytes"], r["optimizer_bytes"])
            assert held == {0: (2 * N, 2 * N, 12 * N), 1: (2 * N, 2 * N, 6 * N), 2: (2 * N, N, 6 * N),
                            3: (N, N, 6 * N)}[z]
        assert all(c["ok"] for c in p["comparisons"] if c["ok"] is not None)


def test_zero_stages_take_the_same_adamw_step(trained):
    whole = trained[0]["ranks"][0]["checksum"]              # stage 0: every rank holds all fp32 masters
    for p in trained[1:4]:
        assert sum(r["checksum"] for r in p["ranks"]) == pytest.approx(whole, rel=1e-9)


@pytest.mark.parametrize("i", (4, 5, 6))
def test_tensor_and_sequence_parallel_training_computes_the_unsharded_layers(trained, i):
    cfg = TRAIN[i]
    spec = cfg.load_spec()
    outs = [torch.tensor(r["output"]) for r in trained[i]["ranks"]]
    y = torch.cat(outs, dim=1) if cfg.sp else outs[0]      # SP: each rank holds half the sequence
    assert torch.allclose(y, reference_forward(cfg, spec), atol=1e-4, rtol=1e-4)
    ref = reference_grads(cfg, spec)
    gs = [r["grad_sums"] for r in trained[i]["ranks"]]
    for k in (0, 1):                                        # sum and sum of squares of the gradients
        assert sum(g["split"][k] for g in gs) == pytest.approx(ref["split"][k], rel=1e-5)
        for g in gs:                                        # whole parameters: the same full gradient on each rank
            assert g["replicated"][k] == pytest.approx(ref["replicated"][k], rel=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# The CLI, and the one-GPU dry run
# ---------------------------------------------------------------------------------------------------------------

def _cli(capsys, *args):
    from mlacalc.cli import main

    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_more_gpus_than_the_machine_has_is_one_line(capsys, tmp_path):
    have = torch.cuda.device_count() if torch.cuda.is_available() else 0
    n = have + 1 if have + 1 > 1 else 2
    code, out, err = _cli(capsys, "profile", "deepseek-v2-lite", "--gpus", str(n), "--tp", str(n))
    assert code == 2 and out == "" and err.count("\n") == 1 and f"this machine has {have}" in err
    code, out, err = _cli(capsys, "validate", "--out", str(tmp_path / "v"), "--gpus", str(n), "--json")
    assert code == 2 and out == "" and "--gpus" in err and not (tmp_path / "v").exists()


def test_multi_rank_flags_need_gpus(capsys):
    code, _out, err = _cli(capsys, "profile", "deepseek-v2-lite", "--tp", "2", "--ep", "2")
    assert code == 2 and err.startswith("error: --ep:") and "--gpus" in err


@pytest.mark.gpu
def test_one_gpu_dry_run_exercises_the_nccl_path():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    pts = run_points([ShardedConfig("deepseek-v2-lite", "decode", 4, 1024, layers=2, tp=1, reps=2),
                      ShardedConfig("variant-mla", "train", 1, 512, layers=2, tp=1, reps=1)], backend="nccl")
    assert all(p["status"] == "ok" for p in pts)
    c = {x["name"]: x for x in pts[0]["comparisons"]}
    assert c["kv_bytes"]["ok"] and c["weights_bytes"]["ok"]
    assert pts[0]["ranks"][0]["comm_s"] is not None and math.isfinite(pts[0]["ranks"][0]["latency_s"])
