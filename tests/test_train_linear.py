"""Training memory of hybrid linear-attention models: Gated DeltaNet (Qwen3-Next, Qwen3.5) and Mamba-2 (Bamba,
Granite-4.0-H) layers, the tensors autograd keeps for them (mlacalc/attention/linear.py, mamba2.py), their backward
instants, and the CLI. Every expected number is worked out here from the config's sizes."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlacalc
from mlacalc.activations import ActivationConfig, backward_peak, backward_phases, saved_tensors
from mlacalc.errors import ArgError, SpecError
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.training import TrainRun, stage_memory

from helpers import HF_FIXTURES, hf_fixture, make_spec, mamba_blocks, refused, run

S = 4096
QWEN3_NEXT = "qwen3-next-80b-a3b"     # model_specs: d 2048, GDN 16 key / 32 value heads of 128, conv 4, 48 layers
BAMBA = "bamba_9b"                     # ibm-ai-platform/Bamba-9B: d 4096, Mamba-2 128 heads of 64, 1 group, N 128


def block(spec, layer: int, cfg: ActivationConfig, prefix: str) -> list:
    return [t for t in saved_tensors(spec, layer, cfg) if t.name.startswith(prefix)]


def nbytes(tensors) -> int:
    return sum(t.bytes for t in tensors)


def cfg(b: int = 1, s: int = S, **kw) -> ActivationConfig:
    par = {k: kw.pop(k) for k in ("tp", "sp", "cp", "pp") if k in kw}
    return ActivationConfig(micro_batch=b, seq=s, parallel=Parallelism(**par), **kw)


# ------------------------------------------------------------------------------------------ worked by hand

def test_gated_deltanet_layer_keeps_what_the_kernels_save_by_hand():
    """Qwen3-Next's config: d = 2048, H_k = 16, H_v = 32 heads of d_k = d_v = 128. Per token, bf16 (2 B) unless
    fp32 (4 B): the block input d; the convolution's input 2 H_k d_k + H_v d_v = 8192; beta H_v; softplus's fp32
    input and output 2 H_v; chunk_gated_delta_rule's q and k at the value heads 2 H_v d_k, v H_v d_v, its fp32
    gate cumsum H_v and rstds 2 H_v, A = 64 H_v; the gated norm's input and gate 2 H_v d_v and fp32 rstd H_v;
    out_proj's input H_v d_v."""
    spec = load_spec(QWEN3_NEXT)
    d, hk, hv, dk, dv = 2048, 16, 32, 128, 128
    assert spec.layer_type(0) == "linear" and spec.hidden_size == d
    bf16 = d + (2 * hk * dk + hv * dv) + hv + 2 * hv * dk + hv * dv + 64 * hv + 2 * hv * dv + hv * dv
    fp32 = 2 * hv + hv + 2 * hv + hv
    assert bf16 == 36_896 and fp32 == 192
    gdn = block(spec, 0, cfg(), "gdn.")
    assert nbytes(gdn) == S * (2 * bf16 + 4 * fp32) == 305_397_760
    by_name = {t.name: t for t in gdn}
    assert by_name["gdn.conv_input"].bytes == S * 8192 * 2
    assert by_name["gdn.A"].dims == (1, S, 32, 64) and by_name["gdn.A"].group == "attention_core"
    assert by_name["gdn.g"].dtype_bytes == 4 and by_name["gdn.softplus_input"].dtype_bytes == 4


def test_the_eager_gated_norm_keeps_what_autograd_saves_by_hand():
    """--attention-kernel eager: transformers' Qwen3NextRMSNormGated.forward on Qwen3-Next's H_v = 32 heads of
    d_v = 128, b 1, s 4096. Autograd keeps, per head and token: the input's fp32 cast x (pow and x * rstd; 4 d_v),
    the fp32 rsqrt (4), (x * rstd).to(bf16) n (weight * n; 2 d_v), y = weight * n (y * silu; 2 d_v), the gate's fp32
    cast (silu; 4 d_v) and silu(gate) (y * silu; 4 d_v): 16 d_v + 4 = 2,052 B. The casts keep nothing, so the bf16
    input and gate the fused norm keeps (2 d_v + 2 d_v, and its rstd 4) are not kept."""
    spec = load_spec(QWEN3_NEXT)
    hv, dv = 32, 128
    per_head = 4 * dv + 4 + 2 * dv + 2 * dv + 4 * dv + 4 * dv
    assert per_head == 16 * dv + 4 == 2_052
    eager = {t.name: t for t in block(spec, 0, cfg(kernel="eager"), "gdn.")}
    norm = ["gdn.norm_x", "gdn.norm_rstd", "gdn.norm_n", "gdn.norm_y", "gdn.z", "gdn.norm_silu_z"]
    assert sum(eager[n].bytes for n in norm) == S * hv * per_head == 268_959_744
    assert [eager[n].dtype_bytes for n in norm] == [4, 4, 2, 2, 4, 4]
    assert eager["gdn.norm_rstd"].dims == (1, S, 32) and eager["gdn.norm_x"].dims == (1, S, 32, 128)
    assert "gdn.out" not in eager
    # the whole block: the fused count (305,397,760, by hand above) + 12 d_v B a head and token (192 MiB)
    assert nbytes(eager.values()) == 305_397_760 + S * hv * 12 * dv == 506_724_352
    assert S * hv * 12 * dv == 192 * 2**20


def test_eager_minus_fused_is_the_gated_norms_tensors_alone():
    """Only the norm's tensors differ between the kernels: the fused norm's bf16 input and gate and its rstd against
    the eager one's six; every other tensor of the block is the same, at every tensor-parallel split."""
    spec = load_spec(QWEN3_NEXT)
    fused_norm, eager_norm = {"gdn.out", "gdn.z", "gdn.norm_rstd"}, {"gdn.norm_x", "gdn.norm_rstd", "gdn.norm_n",
                                                                       "gdn.norm_y", "gdn.z", "gdn.norm_silu_z"}
    for tp, hv in ((1, 32), (2, 16), (4, 8)):
        fused, eager = (block(spec, 0, cfg(tp=tp, kernel=k), "gdn.") for k in ("fused", "eager"))
        assert [t for t in fused if t.name not in fused_norm] == [t for t in eager if t.name not in eager_norm]
        assert {t.name for t in fused} - {t.name for t in eager} == {"gdn.out"}
        assert {t.name for t in eager} - {t.name for t in fused} == {"gdn.norm_x", "gdn.norm_n", "gdn.norm_y",
                                                                      "gdn.norm_silu_z"}
        extra = nbytes(t for t in eager if t.name in eager_norm) - nbytes(t for t in fused if t.name in fused_norm)
        assert nbytes(eager) - nbytes(fused) == extra == S * hv * (16 * 128 + 4 - (4 * 128 + 4))


def test_the_eager_norm_changes_a_qwen3_next_stage_by_its_36_linear_layers_alone():
    """Stage 0 under eager: each of the 36 GDN layers keeps 12 d_v H_v B a token more; the 12 attention layers keep
    what --attention-kernel eager already made them keep (no GDN tensor among them)."""
    spec = load_spec(QWEN3_NEXT)
    att = {k: saved_tensors(spec, 3, cfg(kernel=k)) for k in ("fused", "eager")}
    assert not any(t.name.startswith("gdn.") for t in att["eager"])
    fused, eager = (stage_memory(spec, TrainRun(micro_batch=1, seq=S, kernel=k))[0].activations.layers
                    for k in ("fused", "eager"))
    assert eager - fused == 36 * S * 32 * 12 * 128 + 12 * (nbytes(att["eager"]) - nbytes(att["fused"]))


def test_mamba2_layer_keeps_the_fused_functions_tensors_by_hand():
    """Bamba-9B: d = 4096, H = 128 heads of P = 64 (I = 8192), G = 1 group of N = 128. mamba_split_conv1d_scan_
    combined keeps zxbcdt (2 I + 2 G N + H = 16,768 a token), out_x (I) and the gated norm's fp32 rstd (G); in_proj
    keeps its input (d)."""
    spec = hf_fixture(BAMBA)
    d, inner, width = 4096, 128 * 64, 2 * 8192 + 2 * 1 * 128 + 128
    assert width == 16_768 and spec.layer_type(0) == "linear"
    mamba = block(spec, 0, cfg(), "mamba.")
    assert [t.name for t in mamba] == ["mamba.input", "mamba.zxbcdt", "mamba.out_x", "mamba.norm_rstd"]
    assert nbytes(mamba) == S * (2 * (d + width + inner) + 4 * 1) == 238_043_136


def test_tensor_parallelism_splits_the_heads_and_replicates_a_single_mamba_group():
    """tp 2 with SP: every per-head tensor halves, the block input is the sequence shard. Bamba's one B/C group is
    held whole by each rank (vLLM's extended groups, the rule weights and state use): zxbcdt 8192 + 2 x 128 + 64."""
    spec = load_spec(QWEN3_NEXT)
    one, two = block(spec, 0, cfg(), "gdn."), block(spec, 0, cfg(tp=2, sp=True), "gdn.")
    for a, b in zip(one, two):
        assert b.bytes * 2 == a.bytes, a.name            # heads split (tp), or the input's tokens (sp)
    assert nbytes(block(spec, 0, cfg(tp=2), "gdn.input")) == S * 2048 * 2      # no SP: replicated
    bamba = {t.name: t for t in block(hf_fixture(BAMBA), 0, cfg(tp=2, sp=True), "mamba.")}
    assert bamba["mamba.zxbcdt"].dims == (1, S, 8192 + 2 * 128 + 64)
    assert bamba["mamba.out_x"].dims == (1, S, 64, 64) and bamba["mamba.norm_rstd"].dims == (1, S, 1)


def test_gated_deltanet_core_instant_by_hand():
    """Qwen3.5-4B (d 2560, H_k 16, H_v 32 of 128; dense FFN), b 1, s 4096: at prepare_wy_repr_bwd alive are the
    residual's gradient (d), the gated norm's gradients of the output and z (2 H_v d_v), w, dq, dk, dw, dk2
    (5 H_v d_k), u, v_new, dv, dv2 (4 H_v d_v), db (H_v) at bf16, two fp32 dg (2 H_v), and the chunk states h and
    dh, 2 x (s / 64) H_v d_k d_v at bf16."""
    spec = hf_fixture("qwen3_5_4b")
    d, hv, dk = 2560, 32, 128
    core = next(p for p in backward_phases(spec, 0, cfg()) if p.name == "gdn.core")
    per_token = 2 * (d + 2 * hv * dk + 5 * hv * dk + 4 * hv * dk + hv) + 4 * 2 * hv
    states = 2 * (S // 64) * hv * dk * dk * 2
    assert sum(t.bytes for t in core.grads) == S * per_token + states == 525_598_720


def test_mamba2_scan_instant_by_hand():
    """Bamba-9B, b 1, s 4096, Q = 256 (16 chunks): in MambaSplitConv1dScanCombinedFn.backward the recomputed
    norm output, the gradients of out_proj's input and the norm's input (3 I), xBC_conv and dxBC (2 (I + 2 G N)),
    dzxbcdt (16,768), dt.clone() (H) at bf16 a token; fp32 dt and dA_cumsum (2 H a token), C B^T (G Q a token); the
    chunk states and their gradient in fp32 and bf16 (2 x 6 B x c H P N); and the residual's gradient (d)."""
    spec = hf_fixture(BAMBA)
    d, inner, xbc, width, H, P, N, Q = 4096, 8192, 8192 + 256, 16_768, 128, 64, 128, 256
    scan = next(p for p in backward_phases(spec, 0, cfg()) if p.name == "mamba.scan")
    per_token = 2 * (d + 3 * inner + 2 * xbc + width + H) + 4 * (2 * H + Q)
    chunk_states = 2 * (4 + 2) * (S // Q) * H * P * N
    assert sum(t.bytes for t in scan.grads) == S * per_token + chunk_states == 721_420_288


def phase(spec, layer: int, c: ActivationConfig, name: str):
    return next(p for p in backward_phases(spec, layer, c) if p.name == name)


def test_gated_deltanet_instants_around_the_core_by_hand():
    """Qwen3-Next (d 2048, H_k 16, H_v 32 of 128), b 1, s 4096, bf16, the residual's gradient (d) held throughout:
    out_proj's backward writes its input gradient (H_v d_v) and weight gradient (H_v d_v x d); the gated norm's
    reads that and writes the kernel output's and z's gradients (2 H_v d_v); causal_conv1d's reads the q/k/v
    gradient (2 H_k d_k + H_v d_v = 8192) and writes its input's (8192) while z's waits (H_v d_v); in_proj_qkvz's
    reads the qkvz gradient (2 H_k d_k + 2 H_v d_v = 12,288) and writes its weight gradient (12,288 x d) and, with
    in_proj_ba's, two partial input gradients (2 d)."""
    spec = load_spec(QWEN3_NEXT)
    d, hv_dv, conv, qkvz = 2048, 32 * 128, 2 * 16 * 128 + 32 * 128, 2 * 16 * 128 + 2 * 32 * 128
    assert (conv, qkvz) == (8192, 12_288)
    expect = {"gdn.out_proj": S * 2 * (d + hv_dv) + 2 * hv_dv * d,
              "gdn.norm": S * 2 * (d + 3 * hv_dv),
              "gdn.conv": S * 2 * (d + hv_dv + 2 * conv),
              "gdn.in_proj": S * 2 * (d + qkvz + 2 * d) + 2 * qkvz * d}
    for name, total in expect.items():
        assert nbytes(phase(spec, 0, cfg(), name).grads) == total, name


def test_mamba2_in_proj_instant_by_hand():
    """Bamba-9B, b 1, s 4096: after the fused Function's backward, in_proj's reads dzxbcdt (16,768 a token) and
    writes its weight gradient (16,768 x d) and its input gradient (d), the residual's gradient (d) held."""
    d, width = 4096, 16_768
    assert nbytes(phase(hf_fixture(BAMBA), 0, cfg(), "mamba.in_proj").grads) == S * 2 * (2 * d + width) + 2 * width * d


def test_chunked_tensors_count_a_partial_chunk_whole():
    """s = 1000 is 15.6 chunks of 64 (fla's NT = cdiv(T, 64)) and 3.9 of Q = 256 (mamba_ssm's nchunks =
    ceil(seqlen / chunk_size)): 16 and 4 chunk states, and C B^T, dt, dA_cumsum over 4 padded chunks."""
    qwen = phase(hf_fixture("qwen3_5_4b"), 0, cfg(s=1000), "gdn.core")
    assert {t.name: t.dims for t in qwen.grads}["grad.gdn.h"] == (1, 16, 32, 128, 128)
    scan = {t.name: t.dims for t in phase(hf_fixture(BAMBA), 0, cfg(s=1000), "mamba.scan").grads}
    assert scan["grad.mamba.states"] == scan["grad.mamba.dstates_fp32"] == (1, 4, 128, 64, 128)
    assert scan["grad.mamba.CB"] == (1, 4, 1, 256, 256) and scan["grad.mamba.dA_cumsum"] == (1, 128, 4, 256)


def test_each_backward_instant_frees_what_its_last_user_has_read():
    """A stored tensor is freed once the backward of its last user has run: out_proj's input after out_proj; the
    norm's input, gate and rstd after the norm; the kernel's and the gate's tensors after the kernel; the
    convolution's input after the convolution; the block input after in_proj, at the layer norm. Mamba-2: the fused
    Function's tensors before in_proj, its input at the layer norm."""
    kernel = {"beta", "softplus_input", "softplus_out", "q", "q_rstd", "k", "k_rstd", "v", "g", "A"}
    gdn = [set(), {"out_proj_input"}, {"out", "z", "norm_rstd"}, kernel, {"conv_input"}, {"input"}]
    eager_norm = {"norm_x", "norm_rstd", "norm_n", "norm_y", "z", "norm_silu_z"}     # --attention-kernel eager
    gdn_eager = gdn[:2] + [eager_norm] + gdn[3:]
    names = ["gdn.out_proj", "gdn.norm", "gdn.core", "gdn.conv", "gdn.in_proj", "attn_norm"]
    mamba = [set(), {"zxbcdt", "out_x", "norm_rstd"}, {"input"}]
    for spec, prefix, order, freed, c in ((load_spec(QWEN3_NEXT), "gdn.", names, gdn, cfg()),
                                          (load_spec(QWEN3_NEXT), "gdn.", names, gdn_eager, cfg(kernel="eager")),
                                          (hf_fixture(BAMBA), "mamba.", ["mamba.scan", "mamba.in_proj", "attn_norm"],
                                           mamba, cfg())):
        so_far = set()
        for name, more in zip(order, freed):
            so_far |= {prefix + x for x in more}
            released = {x for x in phase(spec, 0, c, name).released if x.startswith(prefix)}
            assert released == so_far, name


def test_a_mamba2_block_without_its_gated_norm_keeps_no_rstd():
    """rmsnorm_weight None: mamba_split_conv1d_scan_combined gates by z inside the scan and keeps rstd None, so the
    block is in_proj's input and output and out_x: d 256, H 4 heads of P 32 (I 128), G 1 of N 16: 2 I + 2 G N + H =
    292."""
    blk = {"kind": "mamba2", "num_k_heads": 1, "num_v_heads": 4, "head_k_dim": 16, "head_v_dim": 32,
           "conv_kernel_size": 4}
    normed, bare = (make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32}, layers=2,
                              layer_types=["linear", "full"], linear_attention=blk | {"gated_norm": g})
                    for g in (True, False))
    assert nbytes(block(bare, 0, cfg(), "mamba.")) == S * 2 * (256 + 292 + 128)
    assert nbytes(block(normed, 0, cfg(), "mamba.")) == S * (2 * (256 + 292 + 128) + 4)


# ------------------------------------------------------------------------------------------ properties

def _linear_in_batch_and_sequence(blk, b, s, kernel="fused"):
    """A linear-attention layer's stored bytes double with the micro-batch and with the sequence."""
    spec = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32}, layers=2,
                     layer_types=["linear", "full"], linear_attention=blk)
    base = nbytes(saved_tensors(spec, 0, cfg(b, s, kernel=kernel)))
    assert nbytes(saved_tensors(spec, 0, cfg(2 * b, s, kernel=kernel))) == 2 * base
    assert nbytes(saved_tensors(spec, 0, cfg(b, 2 * s, kernel=kernel))) == 2 * base


@settings(max_examples=40, deadline=None)
@given(blk=mamba_blocks, b=st.integers(1, 4), s=st.sampled_from([64, 256, 1000, 4096]))
def test_a_mamba2_layer_is_linear_in_micro_batch_and_sequence(blk, b, s):
    _linear_in_batch_and_sequence(blk, b, s)


gdn_blocks = st.fixed_dictionaries({
    "kind": st.just("gated_deltanet"), "num_k_heads": st.sampled_from([1, 2, 4, 16]), "head_k_dim": st.integers(1, 256),
    "head_v_dim": st.integers(1, 256)}).flatmap(
    lambda x: st.integers(1, 4).map(lambda r: x | {"num_v_heads": x["num_k_heads"] * r}))


@settings(max_examples=40, deadline=None)
@given(blk=gdn_blocks, b=st.integers(1, 4), s=st.sampled_from([64, 256, 1000, 4096]),
       kernel=st.sampled_from(["fused", "eager"]))
def test_a_gated_deltanet_layer_is_linear_in_micro_batch_and_sequence(blk, b, s, kernel):
    _linear_in_batch_and_sequence(blk, b, s, kernel)


@pytest.mark.parametrize("model,layer", [(QWEN3_NEXT, 0), (BAMBA, 0)])
def test_full_recompute_keeps_only_the_layer_input(model, layer):
    spec = load_spec(model) if model == QWEN3_NEXT else hf_fixture(model)
    kept = saved_tensors(spec, layer, cfg(recompute="full"))
    assert [t.name for t in kept] == ["attn_norm.input"] and kept[0].bytes == S * spec.hidden_size * 2


def test_selective_recomputes_the_softmax_cores_alone_and_keeps_every_linear_block_tensor():
    """selective is Megatron-Core's: recompute_modules ["core_attn"] checkpoints Attention's core_attention, and
    GatedDeltaNet.forward (megatron/core/ssm/gated_delta_net.py) and the Mamba mixer checkpoint nothing, so a linear
    layer keeps what it keeps without recomputation (before: the GDN kernel's A and rstds were dropped, 17 MiB on a
    Qwen3-Next layer at b 1, s 4096, and only they re-made at the core, though a re-run chunk_gated_delta_rule re-saves
    its l2-normed q, k, v's copy and g's cumsum too); the gated-attention layer still drops its core's lse."""
    spec = load_spec(QWEN3_NEXT)
    for model, layer in ((spec, 0), (hf_fixture(BAMBA), 0)):
        assert saved_tensors(model, layer, cfg(recompute="selective")) == saved_tensors(model, layer, cfg())
        assert all(not p.recomputed for p in backward_phases(model, layer, cfg(recompute="selective")))
    none, sel = (nbytes(saved_tensors(spec, 3, cfg(recompute=r))) for r in ("none", "selective"))
    assert none - sel == S * 16 * 4                  # the softmax core's fp32 lse, 16 heads a token


def test_context_parallel_divides_every_tensor_of_the_block():
    spec = load_spec(QWEN3_NEXT)
    assert 2 * nbytes(block(spec, 0, cfg(cp=2), "gdn.")) == nbytes(block(spec, 0, cfg(), "gdn."))


def test_the_backward_peak_of_a_stage_takes_the_linear_layers_when_widest():
    """The backward peak is the widest instant over the stage's layer kinds; a linear layer's is its own."""
    spec = hf_fixture("qwen3_5_4b")
    full = cfg(recompute="full")
    lin, att = backward_peak(spec, 0, full), backward_peak(spec, 3, full)
    stage = stage_memory(spec, TrainRun(micro_batch=1, seq=S, recompute="full"))[0]
    assert stage.activations.backward_peak == max(lin.total, att.total)


# ------------------------------------------------------------------------------------------ a hybrid stage

def test_a_qwen3_next_stage_sums_its_36_linear_and_12_attention_layers():
    spec = load_spec(QWEN3_NEXT)
    c = cfg()
    lin, att = nbytes(saved_tensors(spec, 0, c)), nbytes(saved_tensors(spec, 3, c))
    assert lin != att
    stage = stage_memory(spec, TrainRun(micro_batch=1, seq=S))[0]
    assert stage.activations.layers == 36 * lin + 12 * att


# ------------------------------------------------------------------------------------------ refusals

@pytest.mark.parametrize("model,kw,words", [
    (QWEN3_NEXT, {"parallel": Parallelism(tp=32)}, "32 ranks cannot split 16 linear-attention key heads"),
    (QWEN3_NEXT, {"convention": "megatron"}, "linear-attention layers have no counterpart"),
    ("kimi-linear-48b-a3b", {}, "training memory of KDA layers is not modelled"),
])
def test_what_cannot_be_sized_is_refused(model, kw, words):
    with pytest.raises((ArgError, SpecError), match=words):
        mlacalc.train_memory(model, seq=1024, **kw)


def test_op_sac_names_the_linear_block():
    spec = hf_fixture("qwen3_5_4b")                  # dense FFN: the linear block is what op SAC meets first
    with pytest.raises(ArgError, match="not gated_deltanet layers"):
        saved_tensors(spec, 0, cfg(recompute="op"))


@pytest.mark.parametrize("args,words", [
    (("train", QWEN3_NEXT, "--tp", "32"), "cannot split 16 linear-attention key heads"),
    (("train", str(HF_FIXTURES / BAMBA), "--tp", "3"), "cannot split 128 Mamba-2 heads"),
    (("train", QWEN3_NEXT, "--tp", "2", "--sp", "--tp-style", "torchtitan"), "not gated_deltanet"),
    (("train", "kimi-linear-48b-a3b"), "training memory of KDA layers is not modelled"),
])
def test_refusals_are_one_line(capsys, args, words):
    refused(capsys, *args, words=words)


# ------------------------------------------------------------------------------------------ CLI

def test_train_qwen3_next_prints_a_breakdown_that_sums(capsys):
    code, out, err, _ = run(capsys, "train", QWEN3_NEXT, "--micro-batch", "1", "--seq", "4096")
    assert code in (0, None) and err == ""
    assert "linear moe layer" in out and "moe layer" in out and "backward peak" in out
    code, out, _, _ = run(capsys, "train", QWEN3_NEXT, "--micro-batch", "1", "--seq", "4096", "--json")
    d = json.loads(out)
    g = d["per_gpu"]
    assert g["parameters"] + g["gradients"] + g["optimizer"] + g["activations"] + g["workspace"] == \
        pytest.approx(g["total"])
    stage = d["stages"][d["stage"]]
    acts = stage["activations"]
    assert sum(v for k, v in acts.items() if k != "total") == pytest.approx(acts["total"]) == g["activations"]
    assert set(d["layers"]) == {"linear moe", "moe"}
    lin = d["layers"]["linear moe"]
    assert sum(t["bytes"] for t in lin["tensors"]) == lin["stored"]["total"]
    assert sum(v for k, v in lin["stored"].items() if k != "total") == lin["stored"]["total"]
    assert any(t["name"] == "gdn.A" for t in lin["tensors"])
