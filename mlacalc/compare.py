"""Side-by-side comparison of models: KV cache and weights, with ratios to the first model as baseline.

The KV ratio compares what a sequence holds at the context (per token at that context: windows and chunks
hold less, a linear-attention state is constant), so models with sliding windows or hybrids compare fairly.

DeepSeek-V2 paper (arXiv 2405.04434, section 1 and Figure 1b) quotes a 93.3% KV-cache reduction against
DeepSeek 67B. That figure holds with V2's deployed cache, quantised to about 6 bits per element (section 3.2.3),
against 67B's bf16 cache: ``mlacalc compare deepseek-67b deepseek-v2@dtypes.kv=6``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .attention import pattern
from .kv import KVReport, kv_report
from .spec import ModelSpec
from .params import WeightsReport, weights_report


@dataclass(frozen=True)
class CompareRow:
    kv: KVReport
    weights: WeightsReport
    kv_ratio: float          # this model's KV bytes per sequence at the context / the baseline's
    params_ratio: float      # total parameters / the baseline's
    pattern: str = ""        # the attention layers, in words (mlacalc.attention.pattern)

    @property
    def kv_reduction_pct(self) -> float:
        """How much smaller the KV cache is than the baseline's, in percent (negative: larger)."""
        return 100.0 * (1.0 - self.kv_ratio)

    def to_json(self) -> dict:
        return {"model": self.kv.model, "attention": self.kv.kind, "attention_pattern": self.pattern,
                "kv_bits": self.kv.kv_bits, "kv_bytes_per_token": self.kv.per_token.total,
                "kv_bytes_per_sequence": self.kv.per_sequence.total,
                "kv_bytes_per_token_at_context": self.kv.per_sequence.total / self.kv.context,
                "kv_bytes_total": self.kv.total.total,
                "kv_ratio_to_baseline": self.kv_ratio, "kv_reduction_pct": self.kv_reduction_pct,
                "params_total": self.weights.params.total, "params_mtp": self.weights.mtp_params,
                "params_active": self.weights.active.total,
                "params_ratio_to_baseline": self.params_ratio, **{k: list(v) for k, v in self.weights.caveats}}


def compare(specs: list[ModelSpec], context: int, batch: int = 1, kv_bits: float | None = None,
            cache: str = "compressed", kv_format: str | None = None) -> list[CompareRow]:
    """One row per spec; ratios against ``specs[0]``, of the KV cache a sequence holds at ``context`` (windows,
    chunks, indexer keys and linear-attention state included). ``kv_bits`` overrides every spec's KV dtype."""
    kvs = [kv_report(s, context, batch, kv_bits=kv_bits, cache=cache, kv_format=kv_format) for s in specs]
    ws = [weights_report(s) for s in specs]
    base_kv, base_p = kvs[0].per_sequence.total, ws[0].params.total
    return [CompareRow(k, w, k.per_sequence.total / base_kv, w.params.total / base_p, pattern(s))
            for s, k, w in zip(specs, kvs, ws)]
