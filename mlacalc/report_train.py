"""Human views of ``mlacalc train``: rich tables over a computed :class:`~mlacalc.training.TrainMemory`.
Formatting only; every number comes in computed."""

from __future__ import annotations

from .report import excluded_text, table
from .units import fmt_bytes


def memory_table(m) -> object:
    """Per-GPU breakdown of the fullest stage: states, activations by part, workspace, total vs. capacity."""
    pk, r, p = m.peak, m.run, m.run.parallel
    a, w = pk.activations, pk.workspace
    rows = [["parameters", fmt_bytes(pk.states.weights)], ["gradients", fmt_bytes(pk.states.gradients)],
            ["optimizer", fmt_bytes(pk.states.optimizer)],
            ["activations", fmt_bytes(a.total)]]
    for label, v in (("  layers (stored)", a.layers), ("  embedding, RoPE", a.embedding), ("  head, loss", a.head),
                     ("  MTP", a.mtp), ("  backward peak", a.recompute_peak),
                     ("  gathered SP inputs (torchtitan)", a.gathered_inputs)):
        if v:
            rows.append([label, fmt_bytes(v)])
    rows.append(["workspace", fmt_bytes(w.total)])
    for label, v in (("  reserve (stated)", w.reserve), ("  ZeRO-3 gather", w.zero3_gather),
                     ("  ZeRO-3 unsharded grads (PP)", w.zero3_grads),
                     ("  logit gradient", w.logit_grad), ("  log-prob gradient", w.loss_grad),
                     ("  loss_parallel exp + one-hot", w.loss_parallel_sum)):
        if v:
            rows.append([label, fmt_bytes(v)])
    rows.append(["total", fmt_bytes(pk.total)])
    verdict = "fits" if m.fits else "does NOT fit"
    rows.append([f"{m.gpu.name}", f"{fmt_bytes(m.gpu.memory_bytes)}: {verdict} "
                 f"({'+' if m.headroom >= 0 else '-'}{fmt_bytes(abs(m.headroom))})"])
    cap = (f"micro-batch {r.micro_batch} x {r.seq:,} tokens; recompute {r.recompute}; {r.kernel} attention; "
           f"{r.convention} convention; {r.precision} precision, ZeRO-{r.zero}; TP={p.tp}{'+SP' if p.sp else ''}"
           f"{_style(p)} "
           f"PP={p.pp} DP={p.dp} EP={p.ep} CP={p.cp}; fullest GPU: stage {pk.stage} ({pk.num_layers} layers, "
           f"micro-batches in flight: {pk.in_flight})" + excluded_text(m.caveats))
    return table(f"Training memory per GPU: {m.model}", ["part", "bytes"], rows, cap)


def _style(p) -> str:
    """The TP style in the caption, where it is not the default (Megatron's)."""
    if p.tp_style == "megatron":
        return ""
    return f" ({p.tp_style}{'' if p.loss_parallel else ', no loss_parallel'})"


def limits_line(m) -> str:
    mb = str(m.max_micro_batch) if m.max_micro_batch else "none (not even 1)"
    seq = (f">= {m.max_seq:,} tokens" if m.max_seq_capped else f"{m.max_seq:,} tokens") if m.max_seq else \
        "none (the model states alone do not fit)"
    return (f"Largest micro-batch at {m.run.seq:,} tokens: {mb}.  Longest sequence at micro-batch "
            f"{m.run.micro_batch}: {seq}.")


def layers_table(m) -> object:
    names = list(m.layers)
    parts = ["norms", "attention", "attention_core", "mla", "ffn", "router", "dispatch", "experts", "gathered"]
    rows = [[p] + [fmt_bytes(getattr(m.layers[n][0], p)) for n in names] for p in parts
            if any(getattr(m.layers[n][0], p) for n in names)]
    rows.append(["total"] + [fmt_bytes(m.layers[n][0].total) for n in names])
    return table("Stored activations per layer, one micro-batch, one GPU", ["part"] + [f"{n} layer" for n in names],
                 rows)


def tensors_table(kind: str, tensors) -> object:
    rows = [[t.name, "x".join(f"{d}" for d in t.dims), str(t.dtype_bytes), fmt_bytes(t.bytes), t.split]
            for t in tensors]
    rows.append(["total", "", "", fmt_bytes(sum(t.bytes for t in tensors)), ""])
    return table(f"Saved tensors, {kind} layer (symbolic shapes and who keeps each: --json)",
                 ["tensor", "dims on this GPU", "B/el", "bytes", "split"], rows)


def latent_table(c) -> object:
    rows = [["the note: a x (128 + 128) vs d_c", f"{c.note_kv:,}", f"{c.note_latent:,}", f"{c.note_ratio:.1f}x"],
            ["K (nope + RoPE) and V vs [c_KV | k_R]", f"{c.expanded_kv:,}", f"{c.latent:,}", f"{c.kv_ratio:.1f}x"],
            ["attention part of a layer (bytes)", fmt_bytes(c.attn_bytes_none), fmt_bytes(c.attn_bytes_latent),
             f"{c.attn_ratio:.2f}x"],
            ["whole layer (bytes)", fmt_bytes(c.layer_bytes_none), fmt_bytes(c.layer_bytes_latent),
             f"{c.layer_ratio:.2f}x"]]
    return table("MLA in training: expanded vs. latent (per token and layer: elements)",
                 ["comparison", "expanded / none", "latent / mla-latent", "ratio"], rows,
                 "mla-latent keeps the latents and re-runs W_UQ, W_UKV and RoPE in backward")
