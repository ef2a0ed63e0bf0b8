"""Whole-step profiling (profiler/whole_step.py, profiler/attribution.py): kernels attributed to the op range they
were launched in, the layers built at the spec's shapes whose GEMMs do exactly the calculator's FLOPs, and the
result in the shape of the other profile points. The GPU run is at the end (marked gpu, skipped without CUDA)."""

from types import SimpleNamespace

import pytest
from mlacalc.profiler.attribution import (
    OTHER,
    UNLINKED,
    Launch,
    Range,
    attribute,
    events_from_profile,
)
from mlacalc.profiler.whole_step import (
    StepConfig,
    assemble,
    predict_step,
    table_rows,
    tail_spec,
)

from mlacalc.hardware import load_hardware
from mlacalc.spec import load_spec

# Tiny versions of two built-in models: the same structure (DeepSeek-V2-Lite: MLA with a full-rank query, 1 dense
# layer then MoE with 2 shared experts; Llama-3.1-8B: GQA, dense gated FFN) at widths a CPU runs in a blink.
TINY_MLA = ["hidden_size=256", "vocab_size=1000", "num_layers=3", "attention.num_heads=4",
            "attention.kv_lora_rank=64", "attention.qk_rope_head_dim=16", "attention.qk_nope_head_dim=32",
            "attention.v_head_dim=32", "ffn.intermediate_size=512", "ffn.num_experts=8", "ffn.experts_per_token=2",
            "ffn.expert_intermediate_size=64"]
TINY_GQA = ["hidden_size=256", "vocab_size=1000", "num_layers=3", "attention.num_heads=4", "attention.num_kv_heads=2",
            "attention.head_dim=64", "ffn.intermediate_size=512"]


# --- attribution, on made-up events (microseconds) -----------------------------------------------------------

def _step(i, start, end):
    return Range(f"mlacalc-step:{i}", start, end)


def test_a_kernel_belongs_to_the_innermost_op_range_that_holds_its_launch():
    ranges = [_step(0, 0, 100), Range("mlacalc::experts", 10, 50), Range("mlacalc::router", 20, 30)]
    launches = [Launch("gemm_a", 15, 4.0), Launch("gemm_b", 25, 2.0), Launch("topk", 30, 1.0),
                Launch("gemm_c", 40, 3.0)]
    step = attribute(ranges, launches).steps[0]
    # 25 and 30 lie in router (nested in experts, its end inclusive); 15 and 40 in experts only
    assert step["router"].time_s == pytest.approx((2.0 + 1.0) * 1e-6) and step["router"].kernels == 2
    assert step["experts"].time_s == pytest.approx((4.0 + 3.0) * 1e-6)
    assert step["experts"].by_kernel == {"gemm_a": pytest.approx(4e-6), "gemm_c": pytest.approx(3e-6)}


def test_overlapping_ranges_give_the_one_opened_last():
    # q_up opens at 10, kv_down at 20 before q_up closes (no nesting): a launch at 25 is kv_down's, one at 15 q_up's
    ranges = [_step(0, 0, 100), Range("mlacalc::q_up", 10, 30), Range("mlacalc::kv_down", 20, 40)]
    step = attribute(ranges, [Launch("k1", 15, 1.0), Launch("k2", 25, 2.0), Launch("k3", 35, 4.0)]).steps[0]
    assert step["q_up"].time_s == pytest.approx(1e-6)
    assert step["kv_down"].time_s == pytest.approx(6e-6)
    # the same start: the shorter range is the inner one
    same = attribute([_step(0, 0, 100), Range("mlacalc::outer", 10, 60), Range("mlacalc::inner", 10, 20)],
                     [Launch("k", 10, 1.0)]).steps[0]
    assert set(same) == {"inner"}


def test_kernels_outside_every_op_are_other_and_outside_every_step_are_left_out():
    ranges = [_step(0, 0, 100), _step(1, 100, 200), Range("mlacalc::o_proj", 10, 20),
              Range("mlacalc::o_proj", 110, 120)]
    launches = [Launch("gemm", 15, 5.0), Launch("copy", 50, 1.0),       # step 0: o_proj, then outside any op
                Launch("gemm", 115, 7.0),                                # step 1: o_proj
                Launch("warm", 250, 9.0)]                                # in no step
    att = attribute(ranges, launches, unlinked_us=4.0)
    s0, s1 = att.steps
    assert s0["o_proj"].time_s == pytest.approx(5e-6) and s0[OTHER].time_s == pytest.approx(1e-6)
    assert s1["o_proj"].time_s == pytest.approx(7e-6) and OTHER not in s1
    assert att.outside_s == pytest.approx(9e-6)
    # the 4 us the profiler tied to no launch are shared by the two steps
    assert s0[UNLINKED].time_s == pytest.approx(2e-6) and s1[UNLINKED].time_s == pytest.approx(2e-6)
    mean = att.mean()
    assert mean["o_proj"].time_s == pytest.approx(6e-6)          # (5 + 7) / 2
    assert mean[OTHER].time_s == pytest.approx(0.5e-6)           # 1 us in one of two steps
    assert att.step_totals_s() == pytest.approx([8e-6, 9e-6])


def test_a_range_on_another_thread_does_not_claim_a_launch():
    ranges = [Range("mlacalc-step:0", 0, 100, thread=1), Range("mlacalc::norms", 10, 20, thread=2)]
    step = attribute(ranges, [Launch("rms", 15, 1.0, thread=1)]).steps[0]
    assert set(step) == {OTHER}


def test_events_from_a_profile_read_ranges_kernels_and_unlinked_device_time():
    def ev(name, start, end, device="DeviceType.CPU", kernels=(), **kw):
        return SimpleNamespace(name=name, time_range=SimpleNamespace(start=start, end=end), device_type=device,
                               kernels=[SimpleNamespace(name=k, duration=d) for k, d in kernels], thread=7, **kw)

    events = [ev("mlacalc-step:0", 0, 100), ev("mlacalc::q_down", 5, 30),
              ev("aten::mm", 10, 20, kernels=[("sm90_gemm", 6.0)]),
              ev("mlacalc::attn_core", 40, 60, kernels=[("_mla_decode_kernel", 11.0)]),  # a launch with no aten op
              ev("sm90_gemm", 200, 206, device="DeviceType.CUDA"),
              ev("_mla_decode_kernel", 210, 221, device="DeviceType.CUDA"),
              ev("orphan", 230, 233, device="DeviceType.CUDA"),                        # tied to no CPU event
              ev("mlacalc::q_down", 200, 206, device="DeviceType.CUDA"),               # annotation, not a kernel
              ev("aten::add", 70, 80, kernels=[("legacy", 99.0)], is_legacy=True)]
    ranges, launches, unlinked = events_from_profile(events)
    assert [r.name for r in ranges] == ["mlacalc-step:0", "mlacalc::q_down", "mlacalc::attn_core"]
    assert [(ln.kernel, ln.at, ln.duration_us) for ln in launches] == [("sm90_gemm", 10, 6.0),
                                                                      ("_mla_decode_kernel", 40, 11.0)]
    assert unlinked == pytest.approx(3.0)
    step = attribute(ranges, launches, unlinked).steps[0]
    assert step["q_down"].time_s == pytest.approx(6e-6) and step["attn_core"].time_s == pytest.approx(11e-6)


def test_record_function_ranges_come_out_of_a_real_cpu_profile():
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.profiler.record_function("mlacalc-step:0"), \
            torch.profiler.record_function("mlacalc::o_proj"):
        torch.mm(torch.ones(4, 4), torch.ones(4, 4))
    ranges, launches, unlinked = events_from_profile(prof.events())
    by = {r.name: r for r in ranges}
    assert set(by) == {"mlacalc-step:0", "mlacalc::o_proj"}
    assert by["mlacalc-step:0"].start <= by["mlacalc::o_proj"].start <= by["mlacalc::o_proj"].end
    assert by["mlacalc::o_proj"].end <= by["mlacalc-step:0"].end
    assert launches == [] and unlinked == 0.0        # no GPU: no kernels


# --- which layers, and what is predicted for them ----------------------------------------------------------

def test_the_cut_keeps_the_models_last_layers_so_deepseek_runs_moe_layers():
    v3 = load_spec("deepseek-v3")                    # 61 layers, the first 3 dense (first_k_dense_replace)
    cut = tail_spec(v3, 2)
    assert cut.num_layers == 2 and cut.num_moe_layers == 2 and cut.num_dense_layers == 0
    assert tail_spec(v3, 59).num_dense_layers == 1   # layers 2..60: layer 2 is the last dense one
    gemma = load_spec("gemma-3-27b")                 # five sliding layers, then a full one
    types = [gemma.layer_type(i) for i in range(gemma.num_layers - 6, gemma.num_layers)]
    cut = tail_spec(gemma, 6)
    assert [cut.layer_type(i) for i in range(6)] == types


def test_the_prediction_is_for_the_layers_run_with_16_bit_weights():
    v3 = load_spec("deepseek-v3")                    # fp8 weights in the checkpoint; the runner holds bf16
    cfg = StepConfig("deepseek-v3", "decode", "auto", batch=32, context=4096, layers=2, tp=8)
    roof = predict_step(cfg, v3, load_hardware("h200"))
    ops = {t.op.name: t.op for t in roof.ops}
    # experts: 32 tokens x 8 routed experts x 3 matrices x 7168 x (2048 / 8) per layer, 2 layers
    assert ops["experts"].flops == 2 * 32 * 8 * 3 * 7168 * (2048 // 8) * 2
    # kv_down is replicated: 2 x 32 tokens x 7168 x (512 + 64), 2 layers
    assert ops["kv_down"].flops == 2 * 32 * 7168 * 576 * 2
    assert roof.weight_bits == 16 and roof.kv_bits == 16 and "comm" in ops and "ffn" not in ops


@pytest.mark.parametrize("kw,flag", [
    ({"phase": "train"}, "--phase"), ({"kernel": "flashmla"}, "--kernel"), ({"layers": 62}, "--layers"),
    ({"kernel": "sdpa"}, "--kernel"), ({"phase": "prefill", "kernel": "triton"}, "--kernel"),
    ({"q_tokens": 4096}, "--q-tokens"), ({"tp": 3}, "tp")])
def test_points_the_runner_cannot_build_are_refused_with_one_error(kw, flag):
    from mlacalc.errors import SpecError

    cfg = StepConfig("deepseek-v3", **{"batch": 8, "context": 4096, **kw})
    with pytest.raises(SpecError) as e:
        cfg.validate(load_spec("deepseek-v3"))
    assert e.value.field == flag


@pytest.mark.parametrize("model,field", [("qwen3-next-80b-a3b", "layer_types"), ("gpt-oss-20b", "attention.sinks"),
                                         ("deepseek-v3.2", "attention.kind")])
def test_models_with_blocks_the_runner_does_not_build_are_refused(model, field):
    from mlacalc.errors import SpecError

    spec = load_spec(model)
    with pytest.raises(SpecError) as e:
        StepConfig(model, layers=spec.num_layers).validate(spec)
    assert e.value.field == field


def test_attention_free_ffn_layers_are_refused():
    # a layer of one FFN block and no attention (Nemotron-H's "-") is not built by the runner, which would otherwise
    # run it as a whole attention + FFN layer
    from mlacalc.errors import SpecError

    spec = load_spec("llama-3.1-8b", ["num_layers=2", "layer_types=[full,ffn]"])
    with pytest.raises(SpecError) as e:
        StepConfig("llama-3.1-8b", layers=2).validate(spec)
    assert e.value.field == "layer_types" and "ffn" in str(e.value)


# --- the layers on CPU: shapes, and FLOPs equal to the calculator's op by op --------------------------------

def _built(model, sets, phase, kernel, tp=1, batch=2, context=16, layers=2, moe_impl="loop"):
    pytest.importorskip("torch")
    from mlacalc.profiler.whole_step import WholeStep

    spec = load_spec(model, sets)
    cfg = StepConfig(model, phase, kernel, batch=batch, context=context, layers=layers, tp=tp, moe_impl=moe_impl)
    cfg.validate(spec)
    m = WholeStep(cfg, tail_spec(spec, layers), device="cpu", count_flops=True)
    logits = m.step()
    calc = {t.op.name: t.op.flops for t in predict_step(cfg, spec, load_hardware("h200")).ops}
    return m, logits, calc


GEMMS_MLA = ("q_proj", "kv_down", "q_absorb", "v_up", "o_proj", "router", "experts", "shared_experts", "lm_head")


def test_mla_moe_decode_layers_do_the_calculators_flops():
    m, logits, calc = _built("deepseek-v2-lite", TINY_MLA, "decode", "eager")
    assert tuple(logits.shape) == (2, 1000)          # B x q tokens, the vocabulary
    assert [L.moe for L in m.layers] == [True, True]  # layers 1-2 of 3: the dense layer 0 is left out
    assert tuple(m.layers[0].cache.shape) == (2, 16, 64 + 16)
    for op in GEMMS_MLA:
        assert m.flops[op] == calc[op], op
    # worked by hand: experts = 2 tokens x 2 experts x 3 matrices x 256 x 64 x 2 FLOPs, 2 layers
    assert m.flops["experts"] == 2 * 2 * 3 * 256 * 64 * 2 * 2
    # the absorbed core (eager: two bmm over all 16 cached keys): 2 x 4 heads x 16 keys x (64 + 16 + 64) x 2
    # sequences x 2 layers, as the calculator's attn_core with 15 cached tokens and one new one
    assert m.flops["attn_core"] == 2 * 4 * 16 * (80 + 64) * 2 * 2 == calc["attn_core"]


def test_mla_prefill_decompresses_and_counts_the_calculators_gemm_flops():
    m, logits, calc = _built("deepseek-v2-lite", TINY_MLA, "prefill", "sdpa")
    assert tuple(logits.shape) == (2, 1000)          # the last prompt token of each sequence
    for op in ("q_proj", "kv_down", "kv_up", "o_proj", "router", "experts", "shared_experts", "lm_head"):
        assert m.flops[op] == calc[op], op
    # kv_up: 2 x (2 x 16 tokens) x 64 x 4 heads x (32 + 32), 2 layers
    assert m.flops["kv_up"] == 2 * 32 * 64 * 4 * 64 * 2
    # SDPA's FLOP count is the full S x S square; the calculator counts the causal S (S + 1) / 2 pairs
    assert m.flops["attn_core"] * (16 + 1) / (2 * 16) == calc["attn_core"]


@pytest.mark.parametrize("phase", ["decode", "prefill"])
def test_gqa_dense_layers_do_the_calculators_flops(phase):
    m, logits, calc = _built("llama-3.1-8b", TINY_GQA, phase, "sdpa")
    assert tuple(logits.shape) == (2, 1000)
    assert tuple(m.layers[0].k_cache.shape) == (2, 16, 2, 64)
    for op in ("qkv_proj", "o_proj", "ffn", "lm_head"):
        assert m.flops[op] == calc[op], op
    T = 2 if phase == "decode" else 32
    # worked by hand: qkv_proj = 2 x T x 256 x (4 x 64 + 2 x 2 x 64), 2 layers
    assert m.flops["qkv_proj"] == 2 * T * 256 * (256 + 256) * 2


def test_one_tensor_parallel_rank_holds_its_share_and_does_its_share_of_the_flops():
    m, logits, calc = _built("deepseek-v2-lite", TINY_MLA, "decode", "eager", tp=2)
    assert m.H == 2 and tuple(logits.shape) == (2, 500)             # 4 heads and 1000 vocabulary rows over 2
    assert tuple(m.layers[0].w_e_down.shape) == (8, 32, 256)        # every expert's width split in two
    assert tuple(m.layers[0].w_kv_down.shape) == (256, 80)          # the latent projection is replicated
    for op in GEMMS_MLA:
        assert m.flops[op] == calc[op], op


def test_grouped_expert_gemms_compute_what_the_loop_computes():
    torch = pytest.importorskip("torch")
    if not hasattr(torch, "_grouped_mm"):
        pytest.skip("this torch has no _grouped_mm")
    try:
        grouped, out_g, _ = _built("deepseek-v2-lite", TINY_MLA, "decode", "eager", batch=3, moe_impl="grouped")
    except (RuntimeError, NotImplementedError) as e:
        pytest.skip(f"_grouped_mm does not run on this CPU build: {e}")
    loop, out_l, calc = _built("deepseek-v2-lite", TINY_MLA, "decode", "eager", batch=3, moe_impl="loop")
    assert torch.equal(out_g, out_l)
    assert grouped.flops["experts"] == loop.flops["experts"] == calc["experts"]


# --- the result's shape (canned measurements) ---------------------------------------------------------------

def _canned(cfg, spec):
    roof = predict_step(cfg, spec, load_hardware("h200"))
    ops = {t.op.name: {"time_s": t.expected_s * 1.1, "kernels": 3, "top_kernels": [["k", t.expected_s]]}
           for t in roof.ops if t.op.name != "comm"}
    ops["residual"] = {"time_s": 5e-6, "kernels": 4, "top_kernels": []}
    ops["moe_dispatch"] = {"time_s": 20e-6, "kernels": 12, "top_kernels": []}
    res = {"status": "ok", "measured_ops": ops, "step_kernel_s": [1e-3], "outside_s": 0.0, "unlinked_s": 0.0,
           "step_eager_s": 2e-3, "notes": []}
    return roof, assemble(cfg, spec, roof, res)


def test_the_point_sets_each_op_beside_its_floor_and_expected_time():
    import json

    spec = load_spec("deepseek-v3")
    cfg = StepConfig("deepseek-v3", "decode", "auto", batch=32, context=4096, layers=2, tp=8)
    roof, point = _canned(cfg, spec)
    comps = {c["name"]: c for c in point["comparisons"]}
    core = roof.op("attn_core")
    assert comps["attn_core_s"]["predicted"] == core.time_s
    assert comps["attn_core_expected_s"]["error_pct"] == pytest.approx(10.0)     # measured 1.1 x expected
    assert all(c["tolerance_pct"] is None and c["ok"] is None for c in point["comparisons"])
    assert comps["residual_s"]["predicted"] is None and comps["moe_dispatch_s"]["measured"] == 20e-6
    assert comps["comm_s"]["measured"] is None and "comm_note" in point     # one GPU runs no all-reduce
    total = sum(t.expected_s for t in roof.ops if t.op.name != "comm") * 1.1 + 25e-6
    assert comps["step_s"]["measured"] == pytest.approx(total)
    assert point["layer_indices"] == [59, 60] and point["key"].startswith("whole-step/deepseek-v3/decode")
    json.dumps(point, allow_nan=False)
    rows = table_rows(point)
    assert [r[0] for r in rows][:3] == ["embed", "q_down", "q_up"] and rows[-1][0] == "step (kernels)"


def test_the_vocabulary_collectives_are_left_out_of_embed_and_lm_head_on_one_gpu():
    # deepseek-v3 decode at tp 8, batch 32, one token: the roofline charges lm_head the logits' all-gather,
    # (8 - 1) / 8 x 32 x 129,280 x 2 bytes = 7,239,680 B, and embed the rows' all-reduce, 2 x 7/8 x 32 x 7,168 x 2 bytes
    # = 802,816 B; one GPU runs neither, so the whole step's rows compare the ops without them.
    spec = load_spec("deepseek-v3")
    cfg = StepConfig("deepseek-v3", "decode", "auto", batch=32, context=4096, layers=2, tp=8)
    roof, point = _canned(cfg, spec)
    hw = roof.gpu
    head, embed = roof.op("lm_head"), roof.op("embed")
    assert head.op.comm_bytes == 7 / 8 * 32 * 129_280 * 2 and embed.op.comm_bytes == 2 * 7 / 8 * 32 * 7_168 * 2
    comps = {c["name"]: c for c in point["comparisons"]}
    for t in (head, embed):
        link = t.op.comm_bytes / hw.interconnect_bytes_s + hw.collective_latency_us * 1e-6
        assert comps[f"{t.op.name}_s"]["predicted"] == pytest.approx(t.time_s - link)
        assert comps[f"{t.op.name}_expected_s"]["predicted"] == pytest.approx(t.expected_s - link)


def test_the_report_module_renders_a_whole_step_point():
    from mlacalc.profiler.report import error_rows

    spec = load_spec("llama-3.1-8b")
    _, point = _canned(StepConfig("llama-3.1-8b", "prefill", "sdpa", batch=1, context=4096, layers=2), spec)
    rows = error_rows([point])
    assert {"qkv_proj_s", "qkv_proj_expected_s", "step_s"} <= {r["figure"] for r in rows}
    assert all(r["measured"].endswith("us") or r["measured"].endswith("ms") for r in rows)


# --- the CLI ------------------------------------------------------------------------------------------------

def test_whole_step_without_cuda_says_so_in_one_line(monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    from mlacalc.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as e:
        main(["profile", "deepseek-v2-lite", "--whole-step", "--layers", "2"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CUDA" in err[0]


@pytest.mark.parametrize("argv,flag", [(["--phase", "train"], "--phase"), (["--paged"], "--whole-step"),
                                       (["--layers", "0"], "--layers"), (["--layers", "33"], "--layers")])
def test_bad_whole_step_flags_fail_before_looking_for_a_gpu(argv, flag, capsys):
    from mlacalc.cli import main

    with pytest.raises(SystemExit) as e:
        main(["profile", "llama-3.1-8b", "--whole-step", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0] and "CUDA" not in err[0]


# --- on a GPU -----------------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("model,phase,kernel", [("deepseek-v2-lite", "decode", "auto"),
                                                ("llama-3.1-8b", "prefill", "sdpa")])
def test_a_whole_step_on_the_gpu_attributes_every_predicted_op(model, phase, kernel):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from mlacalc.profiler.whole_step import profile_whole_step

    cfg = StepConfig(model, phase, kernel, batch=4, context=2048, layers=1, steps=2, warmup=1)
    p = profile_whole_step(cfg, load_hardware("h200"))
    assert p["status"] == "ok"
    for r in p["ops"]:
        if r["floor_s"] is not None and r["name"] != "comm":
            assert r["measured_s"] and r["measured_s"] > 0, r["name"]
    total = p["measured_step_s"]
    assert p["unlinked_s"] / cfg.steps < 0.05 * total           # nearly every kernel was tied to its launch
    assert p["measured_ops"].get("other", {"time_s": 0})["time_s"] < 0.05 * total
