"""`mlacalc train` against published training-memory figures, as an outside checker would run it.

Sources (docs/training-memory-checks.md has the table and the reasons for every difference):

- Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models", arXiv 2205.05198:
  eq. 1 ``sbh(34 + 5as/h)``, eq. 2 ``sbh(10 + 24/t + 5as/(ht))``, eq. 3 ``sbh(34/t + 5as/(ht))``, Table 2's
  selective ``sbh(10 + 24/t)`` / ``34 sbh/t`` and full ``2 sbh`` rows, section 4.2.3 (the first pipeline stage holds
  L layers' worth), Table 3's four GPT configurations (s = 2048, vocabulary 51,200).
- Rajbhandari et al. 2019, "ZeRO", arXiv 1910.02054, section 3.1 / Figure 1: ``(2 + 2 + K) psi`` with K = 12, and
  the worked example psi = 7.5B, N_d = 64: 120 GB -> 31.4 / 16.6 / 1.9 GB.
- DeepSeek-V3 technical report, arXiv 2412.19437, sections 2.2 (MTP), 3.2 (EP 64, PP 16, ZeRO-1) and 3.2.3
  (RMSNorm and MLA up-projections recomputed; embedding and head shared with the MTP module), and the release's
  README_WEIGHTS.md (huggingface.co/deepseek-ai/DeepSeek-V3-Base: MTP "11.5B unique parameters").

Every expected number is the paper's formula evaluated here; the tool is driven through its CLI (`--json`) on
GPT-style YAML specs written below (MHA, ungated GeLU MLP of 4h, untied 51,200-token vocabulary).
"""

import json

import pytest

from mlacalc.activations import ActivationConfig, saved_tensors
from mlacalc.params import Params, mtp_params, param_counts, stage_params
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.training import model_states

from helpers import run

S, V = 2048, 51200        # Korthikanti et al. section 6: sequence 2048, vocabulary 51,200

# Table 3 of arXiv 2205.05198: heads a, hidden h, layers L, tensor-parallel t, pipeline p, micro-batch b
TABLE3 = {
    "22B": dict(a=64, h=6144, L=48, t=8, p=1, b=4),
    "175B": dict(a=96, h=12288, L=96, t=8, p=8, b=1),
    "530B": dict(a=128, h=20480, L=105, t=8, p=35, b=1),
    "1T": dict(a=160, h=25600, L=128, t=8, p=64, b=1),
}


def gpt_yaml(tmp_path, name: str, a: int, h: int, L: int) -> str:
    """A GPT layer as the paper has it: MHA with a heads of h / a, an ungated 4h MLP (GeLU), no gating anywhere."""
    path = tmp_path / f"gpt-{name}.yaml"
    path.write_text(f"name: gpt-{name}\nsource: arXiv 2205.05198 Table 3\nnum_layers: {L}\nhidden_size: {h}\n"
                    f"vocab_size: {V}\nattention:\n  kind: mha\n  num_heads: {a}\n  head_dim: {h // a}\n"
                    f"ffn:\n  kind: dense\n  intermediate_size: {4 * h}\n  gated: false\n")
    return str(path)


def train_json(capsys, *args) -> dict:
    code, out, err, _ = run(capsys, "train", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def layer_bytes(capsys, spec: str, *, b=1, t=1, sp=False, mode="none", convention="megatron", kernel="eager"):
    args = [spec, "--seq", str(S), "-b", str(b), "--tp", str(t), "--recompute", mode, "--convention", convention,
            "--attention-kernel", kernel] + (["--sp"] if sp else [])
    return train_json(capsys, *args)["layers"]["dense"]["stored"]["total"]


# ------------------------------------------------------------------ 1. Korthikanti et al., per layer, by mode

def paper_per_layer(s, b, h, a, t, sp, mode) -> float:
    """The paper's bytes per layer on one GPU, written out from its equations (not from mlacalc)."""
    sbh = s * b * h
    if mode == "full":
        return 2 * sbh                                           # Table 2, last row
    attn = 5 * a * s / h                                         # softmax 2, its dropout mask 1, dropout output 2
    if mode == "selective":
        attn = 0                                                 # section 5: the 5as^2b is recomputed
    if sp:
        return sbh * (34 / t + attn / t)                         # eq. 3 (Table 2: 34/t with selective)
    return sbh * (10 + 24 / t + attn / t)                        # eq. 2; t = 1 gives eq. 1


LAYOUTS = [(1, False), (8, False), (8, True)]
MODES = ["none", "selective", "full"]


@pytest.mark.parametrize("model", list(TABLE3))
@pytest.mark.parametrize("t,sp", LAYOUTS)
@pytest.mark.parametrize("mode", MODES)
def test_megatron_convention_equals_the_papers_equations_per_layer(capsys, tmp_path, model, t, sp, mode):
    c = TABLE3[model]
    spec = gpt_yaml(tmp_path, model, c["a"], c["h"], c["L"])
    got = layer_bytes(capsys, spec, b=c["b"], t=t, sp=sp, mode=mode)
    assert got == pytest.approx(paper_per_layer(S, c["b"], c["h"], c["a"], t, sp, mode), rel=1e-12)


def test_gpt3_per_layer_in_sbh_units_by_hand(capsys, tmp_path):
    # GPT-3 175B: 5as/h = 5 * 96 * 2048 / 12288 = 80. Per layer, in units of sbh = 2048 * 12288 bytes:
    # eq. 1: 34 + 80 = 114; eq. 2 (t 8): 10 + 3 + 10 = 23; eq. 3: 114 / 8 = 14.25; selective+SP 34 / 8 = 4.25
    spec = gpt_yaml(tmp_path, "175B", 96, 12288, 96)
    sbh = 2048 * 12288
    assert layer_bytes(capsys, spec) == 114 * sbh
    assert layer_bytes(capsys, spec, t=8) == 23 * sbh
    assert layer_bytes(capsys, spec, t=8, sp=True) == 14.25 * sbh
    assert layer_bytes(capsys, spec, t=8, sp=True, mode="selective") == 4.25 * sbh
    assert layer_bytes(capsys, spec, t=8, sp=True, mode="full") == 2 * sbh


def test_megatron_convention_counts_the_dropout_masks(capsys, tmp_path):
    # The paper counts three dropout masks per layer at 1 byte an element: after attention (sbh), after the MLP
    # (sbh) and on the attention probabilities (a s^2 b), plus the 2-byte dropout output (2 a s^2 b). --tensors
    # lists them by name; their bytes at t = 1: 2 sbh + 3 a s^2 b.
    spec = gpt_yaml(tmp_path, "22B", 64, 6144, 48)
    d = train_json(capsys, spec, "--seq", str(S), "--convention", "megatron", "--tensors")
    ts = {x["name"]: x for x in d["layers"]["dense"]["tensors"]}
    dropout = [n for n in ts if "dropout" in n]
    assert sorted(dropout) == ["attn.dropout_mask", "attn.dropout_mask_out", "attn.dropout_out", "mlp.dropout_mask"]
    assert sum(ts[n]["bytes"] for n in dropout) == 2 * S * 6144 + 3 * 64 * S * S


@pytest.mark.parametrize("model", list(TABLE3))
@pytest.mark.parametrize("t,sp", LAYOUTS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kernel", ["eager", "fused"])
def test_native_layer_differs_from_the_paper_by_dropout_and_rstd_only(capsys, tmp_path, model, t, sp, mode, kernel):
    """The native convention (what a PyTorch LLM keeps) on the same GPT layer: no dropout anywhere, RMSNorm's fp32
    rstd per norm, and with the fused kernel a fp32 log-sum-exp per query row instead of the s x s probabilities.
    The difference from the paper is exactly those three items, worked out here."""
    c = TABLE3[model]
    b, h, a = c["b"], c["h"], c["a"]
    spec = gpt_yaml(tmp_path, model, a, h, c["L"])
    split = t if sp else 1                    # what SP splits: the per-token tensors outside the TP regions
    sbh, sb, as2b = S * b * h, S * b, a * S * S * b
    if mode == "full":
        # the layer input at 2 bytes; under SP Megatron-Core's layer input is already [s/t, b, h]
        expect = 2 * sbh / split
    else:
        masks = 2 * sbh / split                            # two 1-byte residual dropout masks
        if mode == "none":
            masks += (as2b + 2 * as2b) / t                 # the probabilities' mask and dropout output
        rstd = 2 * 4 * sb / split                          # two RMSNorms, fp32 rstd per token (the paper: none)
        expect = paper_per_layer(S, b, h, a, t, sp, mode) - masks + rstd
        if kernel == "fused" and mode == "none":
            expect += -2 * as2b / t + 4 * a * S * b / t    # no s x s probabilities; fp32 lse per head and row
    got = layer_bytes(capsys, spec, b=b, t=t, sp=sp, mode=mode, convention="native", kernel=kernel)
    assert got == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize("model", list(TABLE3))
def test_first_stage_holds_L_layers_worth_section_4_2_3(capsys, tmp_path, model):
    # 1F1B: stage 0 keeps p micro-batches of L/p layers = L layers' worth whatever p: sbhL/t (34 + 5as/h) with SP.
    c = TABLE3[model]
    a, h, L, t, p, b = c["a"], c["h"], c["L"], c["t"], c["p"], c["b"]
    spec = gpt_yaml(tmp_path, model, a, h, L)
    d = train_json(capsys, spec, "--seq", str(S), "-b", str(b), "--tp", str(t), "--pp", str(p), "--sp",
                   "--convention", "megatron")
    expect = S * b * h * L / t * (34 + 5 * a * S / h)
    assert d["stages"][0]["activations"]["layers"] == pytest.approx(expect, rel=1e-12)
    assert d["stages"][0]["activations"]["embedding"] == 0 and d["stages"][-1]["activations"]["head"] == 0


@pytest.mark.parametrize("model,low,high", [("22B", 6.0, 6.5), ("175B", 5.0, 5.5), ("530B", 4.9, 5.0),
                                            ("1T", 4.9, 5.0)])
def test_abstract_5x_from_sp_plus_selective(capsys, tmp_path, model, low, high):
    # Abstract: "reduces activation memory by 5x". TP baseline 10 + 24/t + 5as/(ht) over SP + selective 34/t, t 8:
    # 22B 5as/h = 106.7: 26.33 / 4.25 = 6.2; 175B 80: 23 / 4.25 = 5.4; 530B and 1T 64: 21 / 4.25 = 4.94.
    c = TABLE3[model]
    spec = gpt_yaml(tmp_path, model, c["a"], c["h"], c["L"])
    base = layer_bytes(capsys, spec, t=8)
    best = layer_bytes(capsys, spec, t=8, sp=True, mode="selective")
    assert low < base / best < high


@pytest.mark.parametrize("model,saving", [("175B", 0.70), ("530B", 0.65)])
def test_section5_selective_saves_70_and_65_percent(capsys, tmp_path, model, saving):
    # Section 5: with 5as/h = 80 (GPT-3) and 64 (MT-NLG) selective recomputation removes 80/114 = 70% and
    # 64/98 = 65% of the activations (the SP layout: 34/t + 5as/(ht) -> 34/t).
    c = TABLE3[model]
    spec = gpt_yaml(tmp_path, model, c["a"], c["h"], c["L"])
    none = layer_bytes(capsys, spec, t=8, sp=True)
    sel = layer_bytes(capsys, spec, t=8, sp=True, mode="selective")
    assert round(1 - sel / none, 2) == saving


# ------------------------------------------------------------------------------- 2. ZeRO, arXiv 1910.02054

PSI, ND = 7.5e9, 64


@pytest.mark.parametrize("zero,paper_gb", [(0, 120), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_worked_example(zero, paper_gb):
    # Figure 1: baseline (2 + 2 + K) psi; P_os 2psi + 2psi + K psi/N_d; P_os+g 2psi + (2 + K) psi/N_d;
    # P_os+g+p (2 + 2 + K) psi / N_d; K = 12, psi = 7.5e9, N_d = 64, GB = 1e9 bytes.
    K = 12
    exact = {0: (4 + K) * PSI, 1: 4 * PSI + K * PSI / ND, 2: 2 * PSI + (2 + K) * PSI / ND,
             3: (4 + K) * PSI / ND}[zero]                     # 120, 31.40625, 16.640625, 1.875 GB
    got = model_states(Params(dense_ffn=PSI), "mixed", zero, Parallelism(dp=ND)).total
    assert got == exact
    assert round(got / 1e9, 1) == paper_gb


@pytest.mark.parametrize("zero", [0, 1, 2, 3])
def test_zero_through_the_cli_on_a_7_5b_gpt(capsys, tmp_path, zero):
    # A GPT of h 4096, 35 layers, vocabulary 51,200, untied: psi = L (12 h^2 + 2h) + h + 2 V h (4h^2 attention,
    # 8h^2 MLP, two norm weights a layer, the final norm, embedding and head) = 7,466,151,936 -- 0.45% under 7.5B.
    h, L = 4096, 35
    psi = L * (12 * h * h + 2 * h) + h + 2 * V * h
    assert psi == 7_466_151_936
    spec = gpt_yaml(tmp_path, "7.5B", 32, h, L)
    d = train_json(capsys, spec, "--seq", "2048", "--zero", str(zero), "--dp", "64")["per_gpu"]
    shard = {0: (1, 1, 1), 1: (1, 1, ND), 2: (1, ND, ND), 3: (ND, ND, ND)}[zero]
    assert (d["parameters"], d["gradients"], d["optimizer"]) == pytest.approx(
        (2 * psi / shard[0], 2 * psi / shard[1], 12 * psi / shard[2]), rel=1e-12)
    paper = {0: 120e9, 1: 31.4e9, 2: 16.6e9, 3: 1.9e9}[zero]
    ratio = (d["parameters"] + d["gradients"] + d["optimizer"]) / paper
    assert 0.98 < ratio < 1.0                  # psi is 0.45% small; 31.4, 16.6, 1.9 are rounded


# ------------------------------------------------------------------------------ 3. DeepSeek-V3 (2412.19437)

def test_v3_mla_latent_keeps_the_rmsnorm_outputs_v3_recomputes():
    # Section 3.2.3: "We recompute all RMSNorm operations and MLA up-projections during back-propagation". --recompute
    # mla-latent re-runs the up-projections only: it still keeps the four RMSNorm outputs (attention input, normed
    # q and kv latents, FFN input). Per token and layer: 2 bytes x (7168 + 1536 + 512 + 7168) = 32,768 bytes.
    v3 = load_spec("deepseek-v3")
    cfg = ActivationConfig(micro_batch=1, seq=4096, recompute="mla-latent")
    kept = {t.name: t.bytes for t in saved_tensors(v3, 0, cfg)}
    norm_outputs = ["attn.input", "mla.q_latent", "mla.kv_latent", "ffn.input"]
    assert sum(kept[n] for n in norm_outputs) == 4096 * 2 * (7168 + 1536 + 512 + 7168) == 4096 * 32768
    # the up-projections' outputs are what mla-latent drops: q, k (128 x 192 each) and v (128 x 128)
    none = {t.name for t in saved_tensors(v3, 0, ActivationConfig(micro_batch=1, seq=4096))}
    assert none - set(kept) == {"attn.q", "attn.k", "attn.v"}


def test_v3_mtp_module_shares_embedding_and_head():
    # Section 2.2 / 3.2.3: the MTP module shares the embedding and output head with the main model; its own
    # weights are two RMSNorms (2h), the projection M (2h x h) and one MoE layer. README_WEIGHTS.md: "11.5B unique
    # parameters, excluding the shared 0.9B Embedding and 0.9B output Head".
    v3 = load_spec("deepseek-v3")
    h = 7168
    # routed + shared experts and the router; the router's e_score_correction_bias (256 a layer, set by the
    # balancing rule, not by the optimizer: no gradient or Adam state) is not counted
    moe_layer = (256 + 1) * 3 * h * 2048 + 256 * h
    mla = h * 1536 + 1536 * 128 * 192 + h * 576 + 512 * 128 * 256 + 128 * 128 * h + 1536 + 512
    one = 2 * h + 2 * h * h + moe_layer + mla + 2 * h              # + the layer's own two RMSNorms
    assert mtp_params(v3) == pytest.approx(one, rel=1e-12)
    assert 1.00 < mtp_params(v3) / 11.5e9 < 1.01                   # 11.61B: the README's 11.5 is the layer alone
    assert param_counts(v3).total == 671_026_404_352                          # the main model, "671B"


def test_v3_ep64_holds_four_experts_per_moe_layer():
    # Section 3.2: training on 16-way PP, 64-way EP and ZeRO-1 DP; 256 routed experts over EP 64 = 4 per GPU and
    # MoE layer. Stage 1 holds layers 4..7 (ceil(61 / 16) = 4 a stage), all MoE: 4 layers x 4 experts x 3 h f.
    v3 = load_spec("deepseek-v3")
    st = stage_params(v3, Parallelism(pp=16, dp=64, ep=64))
    assert st[1].routed_experts == 4 * 4 * 3 * 7168 * 2048
