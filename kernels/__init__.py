"""mlacalc.kernels: reference and fast attention kernels for MHA, MQA, GQA and MLA (PyTorch and Triton).

Nothing is imported here, so `import mlacalc.kernels` works without torch; import the submodules you need.
Notation: B batch, s_q query tokens per sequence (1 = decoding; >1 = multi-token prediction / speculative
verification, causal among themselves), H / Hq query heads, Hkv kv heads, D head dim, r = kv_lora_rank (512),
dr = RoPE dim (64), cache_seqlens [B] int32 = tokens in each sequence's cache *including* the s_q new ones.

Cache layouts (cache.py)
    MLA contiguous  kv_cache [B, S_max, r+dr]                 paged: [num_blocks, 64, r+dr] + block_table [B, nblk] int32
    GQA contiguous  k_cache, v_cache [B, S_max, Hkv, D]       paged: [num_blocks, 16, Hkv, D] + block_table
    cache.to_paged(cache, block_size, shuffle=True) -> (pool, block_table); cache.from_paged(pool, table, length)
    cache.quantize_fp8(x) -> (float8_e4m3fn tensor, scale float32 [1]); real value = stored * scale

Decode (decode.py; Triton kernels in triton_mla_decode.py, triton_gqa_decode.py, sharing the online softmax and the
block-table math of triton_flash.py and the split planning and merge of triton_split_kv.py; Gluon sm_90 MLA kernel:
wrapper gluon_mla_decode.py, kernel gluon_mla_seesaw.py)
    mla_decode(q, kv_cache, cache_seqlens=None, block_table=None, *, softmax_scale, kv_lora_rank=512,
               kv_scale=None, impl="auto"|"triton"|"gluon"|"eager", max_seqlen=None, num_splits=None, config=None,
               out=None)
        impl="auto": the Gluon kernel (64 rows per program, TMA loads, two warp-specialized groups; an fp8 e4m3
        cache adds a third that widens its tiles) where gluon_supported() says so (sm_90, more than 16 query rows
        a sequence over a 16-bit cache, the 64-row tile padded below 64; 64 or more over fp8 e4m3; bf16/fp16 q,
        block size a multiple of 32), else Triton.
        q [B, s_q, H, r+dr] bf16 (absorbed: W_UK^T q_nope, then q_pe), cache bf16 or float8_e4m3fn with kv_scale
        -> o_lat [B, s_q, H, r] in q.dtype (apply W_UV per head afterwards). softmax_scale = (dn + dr) ** -0.5.
        Pass max_seqlen (an int) to avoid a host sync; kv_scale as a Python float avoids one too.
    mla_decode_eager(...) / triton_mla_decode.mla_decode_triton(...): the two implementations, same arguments.
    schedule = triton_schedule.mla_decode_schedule(); mla_decode(..., impl="triton", schedule=schedule)
        the Triton kernel over a balanced schedule (schedule.py: parts of equal work across sequence boundaries,
        FlashMLA's get_mla_metadata in spirit), computed on the device by the first call given it and reused by
        later ones: one a decode step (after cache_seqlens change), shared by the layers. Other kernels: ValueError.
    mla_decode(q, kv_cache, cache_seqlens, block_table, *, indices=..., softmax_scale, ...)   (sparse, DSA)
        indices [B, s_q, topk] int32 token positions through block_table (-1 unused; without a table: rows of the
        flattened pool, FlashMLA's convention); cache bf16/fp16 rows or the 656-byte fp8-ds rows of
        cache.pack_fp8_ds (512 e4m3 + 4 fp32 scales + 64 bf16 RoPE), dequantised on load. impl="auto": the Gluon
        kernel (gluon_mla_sparse.mla_decode_sparse_gluon: the seesaw compute groups fed by a cp.async gather group)
        where gluon_sparse_supported() says so (sm_90, >= 64 heads, rows of q's dtype or fp8-ds with bf16 q), else
        triton_mla_sparse.mla_decode_sparse.
    Host side (launch.py): launch plans cached per shape, SM count / capability cached per device, direct launches
        of the compiled kernels (MLACALC_DIRECT_LAUNCH=0 turns them off); no host sync per call (a tensor kv_scale
        is read in the kernel). Bad input: one checks.KernelInputError (a ValueError naming the argument); value
        checks of indices / lengths / block table (a host sync) by default on CPU, off for dense and sparse decode
        on CUDA and always in graph capture (check= or MLACALC_KERNEL_CHECKS=0/1 decide otherwise);
        unchecked, every kernel clamps lengths, table entries and indices, so a bad value never faults.
    gqa_decode(q, k_cache, v_cache, cache_seqlens=None, block_table=None, *, softmax_scale=None,
               impl="triton"|"sdpa", max_seqlen=None, ...)
        q [B, s_q, Hq, D] bf16 -> [B, s_q, Hq, D]. MHA: Hkv == Hq; MQA: Hkv == 1.
        gqa_decode_sdpa passes no mask when cache_seqlens is None and s_q == 1 (fused flash path).

Prefill (prefill.py, SDPA fused backends, causal)
    mla_prefill_sdpa(q [B,S,H,192], k [B,S,H,192], v [B,S,H,128], *, softmax_scale=None, causal=True,
                     pad_v=False) -> [B,S,H,128]     (pad_v=True zero-pads v to 192 so the flash backend applies)
    mla_prefill_from_latent(q_nope, q_pe, c_kv, k_pe, w_uk [H,dn,r], w_uv [H,dv,r], *, softmax_scale, ...)
    gqa_prefill_sdpa(q [B,S,Hq,D], k [B,S,Hkv,D], v, *, softmax_scale=None, causal=True) -> [B,S,Hq,D]

References (reference.py, float64 by default)
    attention_reference(q, k, v, *, scale=None, causal=False, kv_lengths=None, dtype=torch.float64)
    mla_latent_attention_reference(q_lat, kv, kv_lora_rank, *, scale, causal=True, kv_lengths=None, kv_scale=None)
    mla_decompressed_reference / mla_absorbed_reference(q_nope, q_pe, c_kv, k_pe, w_uk, w_uv, *, scale, ...)
    MLAConfig, MLAAttention(cfg).forward(x [B,S,hidden], positions=None, absorbed=False, attn="reference"|"sdpa")
        pieces: project_q, project_kv (cache rows), w_uk(), w_uv(), output_from_latent; absorb_query(q_nope, q_pe, w_uk)

Layers for the profiler (layers.py): forward + backward, attention through SDPA
    LayerDims(hidden, heads, ffn_intermediate, kv_heads=None, head_dim=128, kv_lora_rank=512, q_lora_rank=None,
              qk_nope_dim=128, rope_dim=64, v_head_dim=128)
    make_layer("mla"|"gqa"|"mqa"|"mha", dims) -> nn.Module, x [B,S,hidden] -> [B,S,hidden]
    (the tensors each layer saves for backward are listed in layers.py's docstring)

Benchmark and checks
    bench.run_benchmark(out_path, quick=False, peers=False) -> dict;  mlacalc bench kernels --out FILE.json [--quick]
    mlacalc bench kernels --peers --json --out FILE.json: FlashMLA beside ours, host overhead, fp8/sparse vs floor
    gluon_mla_decode.compile_sm90(), gluon_mla_sparse.compile_sparse_sm90() build the Gluon kernels on a CPU
    testing: make_mla_case / make_gqa_case (fresh random inputs + float64 reference), rel_error
    Tuning scripts and device checks live outside the package, in the repository's bench/ folder; lab notes and
    measured tables in docs/kernels-notes.md.
"""
