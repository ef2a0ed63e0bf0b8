"""``--recompute op``: torchtitan's op-level selective activation checkpointing, derived from its policy by hand.

The policy (torchtitan ``torchtitan/parallelisms/parallelize_llama.py``, ``_apply_ac_to_transformer_block``):
``_save_list = {aten.mm, _scaled_dot_product_efficient_attention, _scaled_dot_product_flash_attention,
_c10d_functional.reduce_scatter_tensor}``; ``to_save = func in _save_list and not (func == aten.mm and
meta[mm_count_key] % 2 == 0)`` with the mm counter fresh per block; the checkpoint keeps the block's input.
"""

import pytest

from mlacalc.activations import (ActivationConfig, backward_peak, op_sac_policy, recomputed_tensors,
                                 saved_tensors)
from mlacalc.cli import main
from mlacalc.costs import SavedTensor
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.training import TrainRun, stage_memory


def _t(name: str) -> SavedTensor:
    return SavedTensor(name, ("n",), (1,), 2, "attention", "test")


def test_the_policy_keeps_odd_numbered_mms_and_every_sdpa_output():
    """mm #1 kept, #2 recomputed, #3 kept, #4 recomputed; SDPA outputs kept whatever the count; an op outside the
    save list (a SiLU, say) never kept."""
    ops = [("mm", _t("a")), ("mm", _t("b")), ("sdpa", _t("c")), ("sdpa", _t("d")), ("mm", _t("e")),
           ("silu", _t("f")), ("mm", _t("g"))]
    assert [t.name for t in op_sac_policy(ops)] == ["a", "c", "d", "e"]


def test_llama3_8b_keeps_63616_bytes_a_token_and_layer():
    """Llama-3.1-8B (config.json: hidden 4,096, 32 heads, 8 KV heads, head_dim 128, intermediate 14,336), bf16.
    torchtitan's block runs seven aten.mm in order wq, wk, wv, wo, w1, w3, w2 (Attention.forward: ``self.wq(x),
    self.wk(x), self.wv(x)`` ... ``self.wo(output)``; FeedForward: ``self.w2(F.silu(self.w1(x)) * self.w3(x))``):
    the 1st, 3rd, 5th and 7th are kept, with the SDPA output and its fp32 log-sum-exp, and the block input."""
    h, a, g, d, f = 4096, 32, 8, 128, 14336
    block_input = 2 * h
    wq = 2 * a * d            # mm 1
    wv = 2 * g * d            # mm 3 (wk, mm 2, recomputed)
    sdpa_out = 2 * a * d
    lse = 4 * a
    w1 = 2 * f                # mm 5 (wo, mm 4, recomputed)
    w2 = 2 * h                # mm 7 (w3, mm 6, recomputed)
    per_token = block_input + wq + wv + sdpa_out + lse + w1 + w2
    assert per_token == 63_616
    spec = load_spec("llama-3.1-8b")
    one = ActivationConfig(micro_batch=1, seq=1, recompute="op")
    ts = saved_tensors(spec, 0, one)
    assert sum(t.bytes for t in ts) == per_token
    assert [t.name for t in ts] == ["attn_norm.input", "attn.wq_out", "attn.wv_out", "attn.out", "attn.lse",
                                    "ffn.gate_out", "ffn.w2_out"]
    # T1a's micro-batch: 2 x 8,192 tokens through 32 layers, 31.06 GiB stored by the layers
    run = TrainRun(micro_batch=2, seq=8192, recompute="op", zero=3, parallel=Parallelism(dp=8))
    (st,) = stage_memory(spec, run)
    assert st.activations.layers == 32 * 2 * 8192 * 63_616


def test_op_sits_between_full_and_selective_and_recomputes_no_cached_tensor_twice():
    """Stored: full (the input) < op < selective; the backward re-runs the whole block like full, but what the cache
    holds (block input, SDPA output and LSE, w1's output = the SiLU input) is not rebuilt, so its peak is lower."""
    spec = load_spec("llama-3.1-8b")
    cfg = {m: ActivationConfig(micro_batch=2, seq=8192, recompute=m) for m in ("full", "op", "selective")}
    stored = {m: sum(t.bytes for t in saved_tensors(spec, 0, c)) for m, c in cfg.items()}
    assert stored["full"] < stored["op"] < stored["selective"]
    rebuilt = {t.name for t in recomputed_tensors(spec, 0, cfg["op"])}
    assert not rebuilt & {"attn_norm.input", "attn.out", "attn.lse", "ffn.gate_out"}
    assert "attn.q" in rebuilt and "ffn.up_out" in rebuilt
    full, op = backward_peak(spec, 0, cfg["full"]), backward_peak(spec, 0, cfg["op"])
    assert op.grads == full.grads and op.total < full.total


def _cli(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(["train", *args])
    out, err = capsys.readouterr()
    return e.value.code, out + err


@pytest.mark.parametrize("args, says", [
    (("llama-3.1-8b", "--recompute", "sac"), "must be one of none, selective, full, mla-latent, op"),
    (("mixtral-8x7b", "--recompute", "op"), "MoE"),
    (("deepseek-v3", "--recompute", "op"), "not mla"),
    (("qwen2.5-7b", "--recompute", "op"), "biases"),
    (("llama-3.1-8b", "--recompute", "op", "--tp", "2"), "tp 1 and cp 1"),
    (("llama-3.1-8b", "--recompute", "op", "--attention-kernel", "eager"), "fused"),
    (("llama-3.1-8b", "--recompute", "op", "--convention", "megatron"), "megatron"),
])
def test_op_is_refused_in_one_line_where_the_policy_is_not_derived(capsys, args, says):
    code, text = _cli(capsys, *args)
    assert code == 2 and says in text and len(text.strip().splitlines()) == 1 and "Traceback" not in text
