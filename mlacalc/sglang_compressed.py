"""How SGLang sizes DeepSeek-V4's pools (``fit --engine sglang``): one count of "full" tokens that every per-token
pool follows, less a request-scoped state pool.

SGLang's ``DSV4PoolConfigurator`` (sgl-project/sglang ``python/sglang/srt/model_executor/pool_configurator.py``;
the version read is named in docs/sglang-capacity-checks.md, "DeepSeek-V4") splits the KV budget
(:class:`mlacalc.sglang.SglangMemory`: ``mem_fraction_static`` of the free memory before the weights, less them) as::

    full_token = int((budget - c128_state_fixed) / bytes_per_full_token) // page_size x page_size
    swa_tokens = int(full_token x swa_ratio) // page_size x page_size

with, for ``L`` layers of which ``L4`` csa (ratio 4) and ``L128`` hca (ratio 128), ``_get_bytes_per_full_token``::

    kv      = qk_nope + 2 qk_rope + 8                       584 B: fp8 no-RoPE, bf16 RoPE, scales and pad
    indexer = index_head_dim + index_head_dim // 128 x 4    132 B (the FP8 estimate on NVIDIA, the FP4 path too)
    bytes_per_full_token = swa_ratio x kv x L                           the window pool, swa_ratio of the tokens
                         + kv x L4 / 4 + kv x L128 / 128                 the csa and hca entries
                         + indexer x L4 / 4                              the csa indexer keys
                         + swa_ratio x (c4_ring / window) x (2 x 2 x c x 4 + 2 x 2 x c_I x 4) x L4
                                                                         the csa compressors' fp32 rings, per SWA page

(``c4_ring`` 8: ``get_compress_state_ring_size``; ``window`` ``cfg.window_size``, 128: the c4 state pool is
``swa_tokens // window x c4_ring`` rows, which sgl-project/sglang PR #40337 (open) finds twice what the 256-token
pages address). The hca compressors' rings are request-scoped (``_get_c128_state_fixed_bytes``)::

    c128_state_fixed = ceil((slots x 128 + 128 + 1) / 128) x 128 rows x 2 c x 4 B x L128,   slots = max_running + 1

DeepSeek-V4's defaults (``arg_groups/deepseek_v4_hook.py`` ``apply_deepseek_v4_defaults``): ``page_size`` 256,
``max_running_requests`` 256 (divided among dp-attention workers), ``swa_full_tokens_ratio`` 0.1, an fp8 cache
(``fp8_e4m3``, the 584-B rows). V4-Flash: 0.1 x 584 x 43 + 584 x 21 / 4 + 584 x 20 / 128 + 132 x 21 / 4 + 0.1 x 8 /
128 x (8,192 + 2,048) x 21 = 7,705.45 B a token, and 33,152 x 1,024 x 4 x 20 = 2,715,811,840 B of hca states.

A request of ``C`` tokens holds ``ceil(C / 256)`` pages of full tokens, and at most ``max_running_requests`` run:
``max_batch = min(full_token // (256 ceil(C / 256)), max_running)``; "max_total_num_tokens" in SGLang's log is
``full_token``. Not modelled: the SWA pool as a limit (0.1 of the full tokens, against a window of 128 a request in
decode; a prefill chunk also writes there), speculative decoding (rings of 16 and 256, the draft layer's share),
online c128 compression (``SGLANG_OPT_USE_ONLINE_COMPRESS``, off by default), HiSparse, ``--max-total-tokens``.
Earlier SGLang scaled the hca rings with the SWA pool (``swa_ratio x 128 / window x 2 c x 4 x L128`` more a token:
8,192 B for V4-Flash) before sgl-project/sglang PR #28612 made them request-scoped; no release is pinned to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .attention import layer_groups
from .attention.compressed import compress_rate, layer_kind
from .costs import FP32_BYTES
from .errors import ArgError, SpecError
from .parallel import Parallelism
from .spec import ModelSpec
from .vllm_compressed import check_engine_layout, is_compressed

PAGE_SIZE = 256                 # apply_deepseek_v4_defaults: server_args.page_size = 256
MAX_RUNNING_REQUESTS = 256      # apply_deepseek_v4_defaults, when --max-running-requests is not given
SWA_FULL_TOKENS_RATIO = 0.1     # apply_deepseek_v4_defaults: swa_full_tokens_ratio 0.1 (SGLang's default 0.8)
C4_RING = 8                     # get_compress_state_ring_size(4), speculative decoding off
C128_RING = 128                 # get_compress_state_ring_size(128), online c128 off
STATE_ROW_ALIGN = 128           # _get_c128_state_fixed_bytes: the state rows rounded up to 128
KV_SCALE_BYTES = 8              # kv_bytes = qk_nope + 2 qk_rope + 8
INDEX_QUANT_BLOCK = 128         # indexer_bytes = d_I + d_I // 128 x 4 (one fp32 scale per 128)
NOTE = ("DeepSeek-V4 sized as SGLang's DSV4PoolConfigurator sizes it (full tokens at bytes_per_full_token after "
        "the request-scoped hca rings, PR #28612; page 256, 256 running requests, swa_full_tokens_ratio 0.1); the "
        "SWA pool is not a limit here, and releases before PR #28612 scaled the hca rings with it "
        "(docs/sglang-capacity-checks.md, DeepSeek-V4)")


@dataclass(frozen=True)
class SglangCompressedPool:
    """SGLang's DeepSeek-V4 pools on one GPU (module docstring), bytes and tokens."""

    layers: int                  # every layer keeps a window
    csa_layers: int
    hca_layers: int
    kv_bytes: int                # a row: qk_nope + 2 qk_rope + 8
    indexer_bytes: int           # an indexer key: d_I + d_I // 128 x 4
    head_dim: int                # c, the K=V row's dims
    index_head_dim: int          # c_I
    window: int                  # cfg.window_size, what the c4 state pool is divided by
    max_running: int             # max_running_requests of this worker
    swa_ratio: float = SWA_FULL_TOKENS_RATIO
    page_size: int = PAGE_SIZE

    @property
    def terms(self) -> dict[str, float]:
        """``bytes_per_full_token`` by part (module docstring)."""
        c4_state = 2 * 2 * self.head_dim * FP32_BYTES + 2 * 2 * self.index_head_dim * FP32_BYTES
        return {"window": self.swa_ratio * self.kv_bytes * self.layers,
                "csa_entries": self.kv_bytes * self.csa_layers / 4,
                "hca_entries": self.kv_bytes * self.hca_layers / 128,
                "indexer": self.indexer_bytes * self.csa_layers / 4,
                "csa_states": self.swa_ratio * C4_RING / self.window * c4_state * self.csa_layers}

    @property
    def bytes_per_full_token(self) -> float:
        return sum(self.terms.values())

    @property
    def c128_state_bytes(self) -> int:
        """The hca compressors' request-scoped rings: ``max_running + 1`` slots of 128 rows, plus 129, rounded up
        to 128 rows, of ``2 c`` fp32 values, every hca layer (``_get_c128_state_fixed_bytes``)."""
        if not self.hca_layers:
            return 0
        rows = (self.max_running + 1) * C128_RING + C128_RING + 1
        rows = -(-rows // STATE_ROW_ALIGN) * STATE_ROW_ALIGN
        return rows * 2 * self.head_dim * FP32_BYTES * self.hca_layers

    def full_tokens(self, budget: float) -> int:
        """``max_total_num_tokens``: what the hca rings leave, in full tokens, whole pages."""
        tokens = int(max(budget - self.c128_state_bytes, 0) / self.bytes_per_full_token)
        return tokens // self.page_size * self.page_size

    def swa_tokens(self, budget: float) -> int:
        return int(self.full_tokens(budget) * self.swa_ratio) // self.page_size * self.page_size

    def request_tokens(self, context: int) -> int:
        """Full tokens one request of ``context`` holds: whole pages."""
        return -(-context // self.page_size) * self.page_size

    def max_batch(self, budget: float, context: int) -> int:
        """Requests of ``context`` tokens running at once: the full pool's, at most ``max_running``."""
        return min(self.full_tokens(budget) // self.request_tokens(context), self.max_running)

    def max_context(self, budget: float, batch: int, limit: int) -> int:
        """Longest context at which ``batch`` requests run (0: none), whole pages, at most ``limit``."""
        if batch > self.max_running:
            return 0
        return min(self.full_tokens(budget) // batch // self.page_size * self.page_size, limit)

    def bytes_per_request(self, context: int) -> float:
        """Bytes of the per-token pools one request of ``context`` holds (the hca rings are the pool's)."""
        return self.request_tokens(context) * self.bytes_per_full_token

    def as_dict(self, budget: float, context: int) -> dict:
        return {"page_size": self.page_size, "swa_full_tokens_ratio": self.swa_ratio,
                "bytes_per_full_token": self.bytes_per_full_token, "bytes_per_full_token_terms": self.terms,
                "c128_state_bytes": self.c128_state_bytes, "max_total_num_tokens": self.full_tokens(budget),
                "swa_max_total_num_tokens": self.swa_tokens(budget), "max_running_requests": self.max_running,
                "max_batch": self.max_batch(budget, context)}


def sglang_compressed_pool(spec: ModelSpec, parallel: Parallelism, kv_format: str | None,
                           block_size: int | None = None, q_tokens: int = 1) -> SglangCompressedPool | None:
    """SGLang's DeepSeek-V4 pools for ``spec`` on one GPU of ``parallel`` (module docstring; every rank holds the
    whole cache, a dp-attention worker ``256 / dp`` running requests); None for a model without compressed
    attention. ``block_size``: SGLang's page, which DeepSeek-V4 fixes at 256 (another is refused)."""
    if not is_compressed(spec):
        return None
    check_engine_layout(spec, "sglang", kv_format, parallel, q_tokens)
    if block_size is not None and block_size != PAGE_SIZE:
        raise ArgError("block_size", f"SGLang sets DeepSeek-V4's page_size to {PAGE_SIZE} "
                                     f"(apply_deepseek_v4_defaults), got {block_size}")
    counts = {"sliding": 0, "csa": 0, "hca": 0}
    shape, index_dim = None, 0              # the K=V row's shape (every layer's), the csa indexer's key width
    for n, b, _ in layer_groups(spec):
        kind, m = layer_kind(b), compress_rate(b)
        if m and m != {"csa": 4, "hca": 128}[kind]:
            raise SpecError(f"attention.{kind}_rate", f"SGLang's DSV4PoolConfigurator sizes csa layers at ratio 4 "
                                                      f"and hca at 128; {spec.name}'s {kind} layers compress by {m}")
        counts[kind] += n
        shape = b
        index_dim = b.index_head_dim if kind == "csa" else index_dim
    dp = parallel.tp // parallel.attention_tp if parallel.dp_attention else 1
    return SglangCompressedPool(
        layers=sum(counts.values()), csa_layers=counts["csa"], hca_layers=counts["hca"],
        kv_bytes=shape.qk_nope_head_dim + 2 * shape.qk_rope_head_dim + KV_SCALE_BYTES,
        indexer_bytes=index_dim + index_dim // INDEX_QUANT_BLOCK * 4,
        head_dim=shape.qk_head_dim, index_head_dim=index_dim, window=shape.sliding_window,
        max_running=max(MAX_RUNNING_REQUESTS // dp, 1))


__all__ = ["SglangCompressedPool", "sglang_compressed_pool"]
