"""bench/train_memory_checks.py: the held-out torchtitan points behind docs/training-memory-checks.md (section "Held-out
round, 2026-12"), rebuilt from each source's stated setup. Numbers are worked out by hand here."""

from pathlib import Path

import pytest

from helpers import bench_module

GIB = 2**30


def _module():
    return bench_module("train_memory_checks")


def _row(mod, pid):
    (pt,) = [p for p in mod.POINTS if p.id == pid]
    return mod.predict(pt)


def test_the_8b_32k_point_holds_three_fp32_vocab_tensors_at_the_loss():
    """T2a: Llama-3.1-8B, 32,768 tokens, micro-batch 1, no TP: the saved fp32 log-probabilities, nll_loss's dense
    gradient and the logit gradient, 4 x 32,768 x 128,256 B = 15.66 GiB each; "before" priced two."""
    r = _row(_module(), "T2a")
    one = 4 * 32768 * 128_256
    assert r["loss_grads_gib"] == pytest.approx(2 * one / GIB)
    assert r["total_gib"] - r["before_gib"] == pytest.approx(one / GIB)


def test_the_405b_pipeline_point_gathers_the_whole_stage():
    """T5a: Llama-3.1-405B at TP 8, PP 8 (126 layers: 16 a stage), FSDP 8. A layer on one GPU: attention 16,384 x
    (16,384 + 1,024 + 1,024 + 16,384) / 8, SwiGLU 3 x 16,384 x 53,248 / 8, two norms of 16,384 (replicated); stage 0
    adds the embedding, 128,256 x 16,384 / 8. Gathered in bf16 (2 B), gradients unsharded in fp32 (4 B); before,
    one unit at a time: the largest, a layer."""
    r = _row(_module(), "T5a")
    layer = 16384 * (16384 + 1024 + 1024 + 16384) // 8 + 3 * 16384 * 53248 // 8 + 2 * 16384
    assert layer == 398_491_648
    stage0 = 16 * layer + 128_256 * 16384 // 8
    assert stage0 == 6_638_534_656
    assert r["stage"] == 0
    assert r["zero3_gather_gib"] == pytest.approx(2 * stage0 / GIB)            # 12.37 GiB
    assert r["zero3_grads_gib"] == pytest.approx(4 * stage0 / GIB)             # 24.73 GiB
    assert r["megatron_tp_gib"] - r["before_gib"] == pytest.approx((6 * stage0 - 2 * layer) / GIB)
    # torchtitan's TP: the recomputed layer's two projection inputs, gathered (4 x 8,192 x 16,384 x 2 B = 1 GiB each)
    # where Megatron's style keeps eighths; stage 0 holds no head or loss
    gathered = 4 * 8192 * 16384 * 2
    assert r["gathered_inputs_gib"] == pytest.approx(2 * gathered / GIB)
    assert r["total_gib"] - r["megatron_tp_gib"] == pytest.approx(2 * (gathered - gathered // 8) / GIB)   # 1.75


def test_the_docs_table_is_the_scripts_output(capsys):
    """The held-out table of docs/training-memory-checks.md is what ``python bench/train_memory_checks.py`` prints,
    row for row: a point added to the script and not to the page (or a figure edited by hand) breaks it."""
    mod = _module()
    mod.main([])
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    doc = (Path(__file__).resolve().parents[1] / "docs" / "training-memory-checks.md").read_text().splitlines()
    start = doc.index(printed[0])
    assert doc[start:start + len(printed)] == printed
    assert len(printed) == 2 + len(mod.POINTS)


def test_the_70b_tp_point_gathers_its_sp_inputs_and_loss_parallel_holds_a_fourth_vocab_tensor():
    """T4a: Llama-3.1-70B, TP 8 (vocab 128,256 / 8 = 16,032 a GPU), micro-batch 16 x 8,192, run with ``--tp-style
    torchtitan``. The loss's backward under DTensor's loss_parallel (torch/distributed/tensor/parallel/loss.py,
    _nll_loss_and_log_softmax_backward) holds three fp32 workspace tensors beside the saved log-probs (``grad_input``,
    ``grad_input + exp(x)``, the product), 4 x 16 x 8,192 x 16,032 B = 7.83 GiB each; the head's input and the
    recomputed layer's two projection inputs are all-gathered, 16 x 8,192 x 8,192 x 2 B = 2 GiB each, where Megatron's
    style keeps eighths: +5.25 GiB. The round's hand estimate, 57.2 + 5.25 + 7.83 = 70.3 GiB (-2.2%), is now the
    calculator's."""
    r = _row(_module(), "T4a")
    one = 4 * 16 * 8192 * (128_256 // 8)
    assert one == 8_405_385_216
    assert r["loss_grads_gib"] == pytest.approx(3 * one / GIB)
    gathered = 16 * 8192 * 8192 * 2
    assert r["gathered_inputs_gib"] == pytest.approx(3 * gathered / GIB)
    assert r["total_gib"] - r["megatron_tp_gib"] == pytest.approx((3 * (gathered - gathered // 8) + one) / GIB)
    assert 3 * (gathered - gathered // 8) / GIB == 5.25


def test_the_70b_tp_point_at_the_loss_instant_alone():
    """The doc's limit (1) on T4a: the recomputed layer's backward peak (its two gathered inputs, 2 x 2 GiB, and the
    rest of ``backward_peak``) is not alive during the loss's backward, where the four fp32 tensors are; the total
    less that peak is the loss's instant, 70.3 - 10.3 = 60.0 GiB, -16.6% against the published 71.9."""
    r = _row(_module(), "T4a")
    layer_peak = r["backward_peak_gib"] + 2 * (16 * 8192 * 8192 * 2) / GIB
    assert round(layer_peak, 1) == 10.3
    assert round(r["total_gib"] - layer_peak, 1) == 60.0
    assert round((r["total_gib"] - layer_peak) / r["published_gib"] - 1, 3) == -0.166
    doc = (Path(__file__).resolve().parents[1] / "docs" / "training-memory-checks.md").read_text()
    assert "70.3 - 10.3 = 60.0 GiB (-16.6%)" in doc


def test_the_docs_tp_style_table_is_the_scripts_output():
    """The "DTensor TP" section's before -> after table: each TP row's Megatron-style and torchtitan-style peaks and
    errors are what the script computes (``megatron_tp_gib``, ``total_gib``), not figures edited by hand."""
    mod = _module()
    doc = (Path(__file__).resolve().parents[1] / "docs" / "training-memory-checks.md").read_text().splitlines()
    tp_rows = [p for p in mod.POINTS if p.tp > 1]
    assert [p.id for p in tp_rows] == ["T4a", "T4b", "T5a", "T5b", "T6a", "T6b", "T6c", "T6d"]
    for p in tp_rows:
        r = mod.predict(p)
        m, t = r["megatron_tp_gib"], r["total_gib"]
        want = (f"| {p.id} | {p.published_gib:.1f} | {m:.1f} | {m / p.published_gib - 1:+.1%} | {t:.1f} | "
                f"{r['error']:+.1%} |")
        assert any(line.startswith(want) for line in doc), want
