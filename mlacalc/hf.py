"""Read a Hugging Face ``config.json`` (local only) into a raw spec mapping.

Field names as the transformers configuration classes spell them, per ``model_type``:

- conventional attention: ``llama``, ``mistral``, ``mixtral``, ``qwen2``, ``qwen2_moe``, ``qwen3``,
  ``qwen3_moe``, ``gemma``, ``gemma2``, ``gemma3``/``gemma3_text``, ``olmo2``, ``gpt_oss``, ``llama4``/
  ``llama4_text`` (Scout; Maverick's MoE on every other layer: ``ffn.moe_layer_step``), ``mllama``
  (Llama-3.2-Vision), ``gpt2``, ``gpt_bigcode`` (StarCoder, SantaCoder: GPT-2's block, :data:`GPT2_BLOCK`, with
  multi-query attention, :func:`_gpt_bigcode_keys`), ``gpt_neox`` (Pythia, GPT-NeoX-20B, RedPajama-INCITE: RoPE
  over ``rotary_pct`` of each head, biased projections and MLP, :func:`_gpt_neox_keys`), ``falcon`` (Falcon-7B/40B/
  180B, Falcon-11B, Falcon-RW: LayerNorms with biases, q/k/v/dense and the MLP biased by ``bias``,
  :func:`_falcon_keys`; the remote-code ``RefinedWeb``/``RefinedWebModel`` configs through :func:`_refinedweb_keys`),
  ``phi3``
  (Phi-3.5, Phi-4-mini: partial
  RoPE), ``glm4_moe`` (GLM-4.5/4.6: partial RoPE, q/k/v biases, MTP), ``minimax_m2`` (``rotary_dim``), ``cohere``
  (one LayerNorm per parallel block), ``cohere2`` (Command R7B, Command A: Cohere's parallel block with three
  sliding-window layers to one global), ``internlm2``, ``stablelm``, ``starcoder2``, ``minicpm``, ``deepseek``
  (DeepSeek-MoE, MHA), ``seed_oss`` (Seed-OSS: Llama with q/k/v biases, ``attention_out_bias``), ``olmo3`` (OLMo-2's
  block with ``layer_types``: three 4096-token sliding layers to one global), ``apertus`` (Apertus: q/k norms and a
  non-gated xIELU MLP, ``up_proj``/``down_proj`` only), ``exaone4`` (EXAONE-4.0: q/k norms, post-norms, and
  ``sliding_window_pattern`` as every N-th layer global or as a string of ``L``/``G`` per layer), ``exaone_moe``
  (K-EXAONE: EXAONE-4's attention and layer pattern, OLMoE's two norms, DeepSeek-V3's experts after dense layers
  given by ``mlp_layer_types``, ``first_k_dense_replace`` or TensorRT-LLM's ``is_moe_layer``,
  :func:`_exaone_moe_keys`), ``mimo_v2_flash`` (MiMo-V2-Flash: sliding layers with 8 KV heads beside the full
  layers' 4 as ``attention.sliding_shape``, from the release's ``hybrid_layer_pattern``/``swa_*`` keys or
  transformers' ``layer_types``, :func:`_mimo_v2_flash_keys`), ``solar_open`` (Solar Open: GLM-4.5's experts on every
  layer behind Llama's attention,
  read as ``glm4_moe`` after :func:`_solar_open_keys`), StepFun's ``step3p5`` (Step-3.5-Flash: sliding layers with
  their own head count from ``attention_other_setting`` as ``attention.sliding_shape``, a RoPE factor per layer type,
  a head-wise output gate, MoE layers from ``moe_layers_enum``, dense MTP layers of the sliding shape) and
  ``step3_text`` (Step-3: MFA, one K/V head of 256 under low-rank queries, ``share_q_dim`` as
  ``attention.q_lora_rank``; its ``step3_vl`` wrapper) after :func:`_step_keys`;
- text decoders of vision-language wrappers: ``mistral3`` (Ministral-3), ``qwen2_vl``/``qwen2_5_vl`` (nested
  ``text_config`` or, as older transformers wrote them, the decoder's keys at the top level), ``qwen3_vl``,
  ``qwen3_vl_moe``, ``glm4v_moe`` (GLM-4.5V: ``glm4v_moe_text`` is GLM-4.5-Air's decoder with M-RoPE), ``glm4v``
  (GLM-4.1V-9B, GLM-4.6V-Flash) and ``glm_ocr`` (GLM-OCR; its MTP layer counted apart): ``glm4v_text`` and
  ``glm_ocr_text`` are GLM-4-0414's decoder with M-RoPE, read as ``glm4`` where transformers and vLLM build the same
  weights (:func:`_glm_v_text_keys`: their attention hard-wires the q/k/v biases, and GLM-4.1V's its head width; a
  file that says otherwise is refused), nested or, as ``Glm4vConfig`` also builds them, flat; the
  ``text_config`` of any other wrapper (``kimi_k25``: a ``kimi_k2``/``deepseek_v3`` decoder; ``mistral3`` around
  ``deepseek_v3``), and the decoders wrappers keep under other keys (:data:`DECODER_PATHS`: ``internvl_chat``'s
  ``llm_config``, the ``thinker_config.text_config`` of ``qwen2_5_omni``/``qwen3_omni_moe``): read as the family they
  rename (:data:`ALIASES`) or as the inner ``model_type``; ``deepseek_vl_v2`` (DeepSeek-VL2, DeepSeek-OCR): its
  ``language_config``, whose family vLLM picks from ``topk_method`` and ``use_mla`` (:data:`DEEPSEEK_VL2`,
  :func:`_deepseek_vl2_decoder`: ``deepseek_v3`` for noaux_tc, the V1 MoE ``deepseek`` with plain attention for
  use_mla false, its MLA keys' zeros and nulls dropped, ``deepseek_v2`` otherwise). An unknown model_type carrying a
  wrapper's keys (``vision_config``, ``language_config``, ...) without a ``text_config`` is refused in one line
  naming it;
- MLA: ``deepseek_v2``, ``deepseek_v3``, ``kimi_k2``, ``minicpm3``, ``glm4_moe_lite`` (GLM-4.7-Flash: DeepSeek-V3's
  MLA with GLM-4.5's experts, :func:`_glm4_moe_lite_keys`), ``longcat_flash`` (LongCat-Flash: two MLA blocks and two
  dense MLPs a layer beside one shortcut MoE with zero experts, read as twice as many spec layers,
  :func:`_longcat_keys`); DSA (MLA plus the lightning indexer): ``deepseek_v32``, ``glm_moe_dsa``;
- DeepSeek-V4, ``deepseek_v4`` (V4-Flash, V4-Pro; :func:`_deepseek_v4`, docs/zoo-facts.md section 36): compressed
  attention (``attention.kind: compressed``) layer by layer from ``layer_types`` or the release's ``compress_ratios``
  (0 / 4 / 128: the window alone, compressed sparse, heavily compressed; the MTP layer's entry after the layers), the
  grouped output projection, ``hc_mult`` mHC streams (``hyper_connections``), MoE on every layer with the first
  ``num_hash_layers`` hash-routed (``ffn.hash_layers``), fp8 blocks with MXFP4 routed experts (``expert_dtype``), the
  cache in fp8-ds rows; the later variants' keys (V4.1's layers reading other layers' K/V, DSpark drafters) refused;
- hybrids of linear and full attention: ``qwen3_next`` (Gated DeltaNet; Qwen3.5's ``qwen3_5``/``qwen3_5_moe``
  wrappers, whose ``qwen3_5_text``/``qwen3_5_moe_text`` decoders are read as it), ``kimi_linear`` (KDA and MLA);
- hybrids of Mamba-2 and attention (:func:`_mamba2`): ``nemotron_h`` (Nemotron-H, Nemotron-Nano-v2, Nemotron 3:
  one block a layer, ``hybrid_override_pattern`` letters ``M`` Mamba-2, ``*`` attention, ``-`` MLP, ``E`` MoE, or
  the same as ``layers_block_type``; no RoPE; non-gated ReLU² MLPs and experts; the SSM state in fp32 as vLLM keeps
  it; Nemotron 3 Super's LatentMoE, ``moe_latent_size``, as ``ffn.expert_latent_size``, and its MTP module's blocks,
  ``mtp_hybrid_override_pattern`` or ``mtp_layers_block_type``, as ``mtp_layer_types``: :func:`_nemotron_h_keys`),
  ``granitemoehybrid`` (Granite-4.0-H and the non-hybrid Granite-4.0: ``layer_types`` of ``mamba`` and
  ``attention``, a gated shared MLP beside the experts, or alone when ``num_local_experts`` is 0), ``bamba``
  (Bamba-9B: attention at ``attn_layer_indices``, partial RoPE over ``attn_rotary_emb`` dims);
- state-space models without attention or MLP (:func:`_state_space`: one RMSNorm and one mixer a layer): ``mamba``
  (Mamba: ``intermediate_size``, else ``expand x hidden_size``, channels of ``state_size`` states, ``time_step_rank``,
  ``use_bias``, ``use_conv_bias``), ``falcon_mamba`` (Falcon-Mamba: the same with unweighted RMSNorms of dt, B and C),
  ``mamba2`` (Mamba-Codestral: ``num_heads`` of ``head_dim``, ``n_groups``, ``state_size``, ``chunk_size``; read
  through :func:`_mamba2`'s block);
- attention and Mamba-2 side by side in every layer (the spec's ``parallel_mixers``): ``falcon_h1`` (Falcon-H1
  0.5B-34B and Falcon-H1R: full attention with ``head_dim`` on every layer, beside a Mamba-2 of ``mamba_d_ssm``
  channels, :func:`_falcon_h1_mamba`; the gated RMSNorm by ``mamba_rms_norm``; the muP multipliers are no weights);
- hybrids of Mamba-1 and attention (:func:`_mamba1`): ``jamba`` (Jamba, Jamba-1.5/1.6/1.7 Mini and Large: attention
  without RoPE on layers ``i % attn_layer_period == attn_layer_offset``, Mamba-1 elsewhere with RMSNorms of dt, B and
  C; a gated MLP on every layer, Mixtral's experts on ``i % expert_layer_period == expert_layer_offset``);
- hybrids of LFM2's gated short convolutions and GQA (:func:`_short_conv`, :mod:`mlacalc.attention.short_conv`):
  ``lfm2`` (LFM2-350M/700M/1.2B/2.6B: ``conv`` and ``full_attention`` layers from ``layer_types`` or the release's
  ``full_attn_idxs``, q/k norms, an MLP whose width transformers adjusts from ``block_ff_dim``/``intermediate_size``,
  :func:`lfm2_ffn_width`; the release's ``tie_embedding``), ``lfm2_moe`` (LFM2-8B-A1B: ``num_dense_layers`` dense MLPs,
  then sigmoid-routed experts, no shared expert), and the ``lfm2-vl`` wrapper's ``text_config``; quantized LFM2
  checkpoints are refused (their module names are not mapped);
- MiniMax-M3 (the ``minimax_m3_vl`` wrapper's ``minimax_m3_vl_text``, whatever its text_config calls itself; read by
  :func:`_minimax_m3_keys`): GQA with MiniMax Sparse Attention (``attention.kind: msa``, a lightning indexer choosing
  top-k key blocks) on the layers ``sparse_attention_freq`` marks, dense MLPs before 128-expert MoE layers;
- hybrids of lightning attention and GQA (:func:`_lightning`): ``minimax_m1`` (MiniMax-M1), ``minimax_text_01``
  (MiniMax-Text-01) as released, ``attn_type_list`` one code a layer (0 lightning, 1 softmax attention), and
  transformers' ``minimax`` (``layer_types``); Mixtral's experts on every layer, a gated ``shared_intermediate_size``
  MLP beside them where one is given;
- MoE with conventional attention: ``dots1`` (dots.llm1: MHA with q/k norms, DeepSeek-style routed and shared
  experts after ``first_k_dense_replace`` dense layers), ``bailing_moe``/``bailing_moe_v2`` (Ling-lite, Ling-2.0:
  ``use_qkv_bias``/``use_bias``, ``use_qk_norm``, partial RoPE, ``moe_shared_expert_intermediate_size``); dense
  ``ernie4_5`` (ERNIE-4.5-0.3B: Llama-shaped; ``use_bias``, which biases the MLP too, is refused), ``ernie4_5_moe``
  (ERNIE-4.5-21B-A3B, -300B-A47B: ``moe_num_experts`` experts, top ``moe_k``, the ``moe_num_shared_experts`` as one
  wider MLP, MoE from ``moe_layer_start_index`` every ``moe_layer_interval`` layers to the last), ``hunyuan``/
  ``hunyuan_v1_moe`` (Hunyuan-A13B, Hunyuan-7B: per-layer ``moe_topk``/``moe_intermediate_size``/``num_shared_expert``
  lists read when uniform, a shared MLP of ``intermediate_size x num_shared_expert``, q/k norms; cross-layer
  attention, ``use_cla`` with ``cla_share_factor`` N as ``attention.kv_share_layers``: Hunyuan-Large), ``arcee``
  (Arcee AFM: Llama's attention with a non-gated ReLU² MLP, ``up_proj``/``down_proj`` only);
- GLM's dense decoders: ``chatglm`` (ChatGLM2/3, GLM-4-9B-Chat, GLM-4V-9B's decoder: THUDM's remote-code names,
  ``num_layers``, ``multi_query_group_num`` K/V heads of ``kv_channels``, ``ffn_hidden_size``, ``padded_vocab_size``,
  ``seq_length``; q/k/v biases by ``add_qkv_bias``; RoPE over half of each head; :func:`_chatglm_keys`), and
  transformers' ``glm`` (GlmForCausalLM) and ``glm4`` (GLM-4-0414, GLM-Z1: four norms a layer), the same block under
  Llama's names, and the GLM-V decoders read as ``glm4`` (above); a ``partial_rotary_factor`` given in
  ``rope_parameters`` alone (GLM-OCR's 1.0) wins over GlmConfig's and Glm4Config's 0.5; ``mimo`` (Xiaomi MiMo: Qwen2
  with ``num_nextn_predict_layers`` MTP layers, read as ``qwen2``);
- MoE of Mixtral's shape (an expert of ``intermediate_size`` on every layer, a bias-free router,
  :data:`EXPERT_WIDTH_IS_INTERMEDIATE`): ``olmoe`` (OLMoE: ``num_experts``, q/k norms as OLMo-2's; ``clip_qkv`` is
  no size), ``granitemoe`` (Granite-3.0/3.1 MoE: ``num_local_experts`` with fused ``input_linear``; the Granite
  multipliers are no size), ``granitemoeshared`` (with a gated ``shared_intermediate_size`` MLP beside the experts,
  none when 0), ``dbrx`` (DBRX: ``d_model``, ``n_heads``, ``n_layers``, ``max_seq_len`` and the nested
  ``attn_config.kv_n_heads`` and ``ffn_config.ffn_hidden_size``/``moe_num_experts``/``moe_top_k``, class defaults where
  a block leaves one out; :func:`_dbrx_keys`); dense ``internlm3`` (InternLM3's remote code: Llama's block,
  ``qkv_bias`` on q/k/v; ``bias``, which biases o_proj and the MLP, is refused);
- the remote-code decoders of 2023 still served: ``qwen`` (Qwen-1: ``kv_channels``, ``seq_length``, ``rotary_pct``,
  q/k/v biases on the fused ``c_attn``, a gated MLP of half ``intermediate_size``; ``no_bias`` false refused;
  :func:`_qwen_keys`) and ``baichuan`` (Baichuan and Baichuan-2: W_pack fused q/k/v, Llama's block, RoPE at
  ``hidden_size`` 4096 and ALiBi otherwise as vLLM tells them apart, :func:`_baichuan_alibi`);
- ``phimoe`` (Phi-3.5-MoE: Mixtral's experts on every layer, q/k/v/o biased by ``attention_bias``, LayerNorms with
  biases, an lm_head biased by ``lm_head_bias``; either flag false refused, :func:`_phimoe_keys`) and
  ``hunyuan_v1_dense`` (Hunyuan-7B and the Hunyuan-MT models: read as ``hunyuan`` without experts);
- ``gemma3n``/``gemma3n_text`` (Gemma-3n E2B, E4B; :func:`_gemma3n_keys`): Gemma-3's sandwich norms and q/k norms on
  four sliding-window layers to one global, the last ``num_kv_shared_layers`` reading the K/V of the last earlier
  layer of their type (``attention.kv_shared_tail``; their k/v projections stored unused,
  ``attention.reader_kv_weights``), AltUp, LAuReL and per-layer embeddings (``residual_extras``); a per-layer
  ``intermediate_size`` read when uniform (a MatFormer slice with differing widths is refused),
  ``activation_sparsity_pattern`` read as no change of weights or FLOPs (:data:`GEMMA3N_READING`); the wrapper's audio
  and vision towers are left out;
- ``gemma4``/``gemma4_text`` (Gemma-4 31B, 26B-A4B, E2B, E4B; :func:`_gemma4_keys`): full layers of
  ``global_head_dim`` and their own K/V heads (``num_global_key_value_heads`` under ``attention_k_eq_v``, or
  ``per_layer_config`` as transformers >= 5.15 writes it) as the attention, the sliding layers' heads as
  ``attention.sliding_shape``, keys reused as values as ``attention.v_from_k``, the KV-shared tail and double-wide MLPs
  (``ffn.layer_widths``), an MoE block beside the dense MLP (the shared expert), per-layer inputs; every other key is
  refused by name (:data:`GEMMA4_KEYS`); quantized checkpoints are read for the dense decoders (31B: its Linears
  named as Llama's under ``model.language_model``) and ModelOpt's MoE (26B-A4B: experts stored as Linears), refused
  for the rest (per-layer inputs, transformers' 3-D experts, MLX); the towers are left out;
- Llama-Nemotron's NAS decoders, ``nemotron-nas`` (``DeciLMForCausalLM``: Llama-3.3-Nemotron-Super-49B-v1/v1.5,
  Llama-3.1-Nemotron-Ultra-253B-v1; :func:`_nemotron_nas_keys`): Llama's attention and gated MLP sized layer by layer
  by ``block_configs``, ``num_attention_heads // n_heads_in_group`` K/V heads, an attention ``no_op`` layer read as
  an ``ffn`` layer, each FFN ``_find_multiple(int(2 ffn_mult d / 3), 256)`` wide (:func:`nas_ffn_width`) or absent
  (``no_op``) in ``ffn.layer_widths``, K/V heads that differ from layer to layer in ``attention.layer_heads``;
  ``replace_with_linear`` (Llama-3.1-Nemotron-51B's attention) is refused in one line;
- Apple's OpenELM, ``openelm`` (``OpenELMForCausalLM``: OpenELM-270M/450M/1_1B/3B and their -Instruct;
  :func:`_openelm_keys`): Llama's pre-norm block, no biases, q/k norms by ``normalize_qk_projections``, RoPE over
  the whole ``head_dim``, each layer's query and K/V heads derived from ``qkv_multipliers`` as
  ``OpenELMConfig.__post_init__`` derives them (:func:`openelm_layer_heads`; ``num_query_heads``/``num_kv_heads``
  lists that disagree are refused) in ``attention.layer_heads``, each FFN ``make_divisible(ffn_multiplier x
  model_dim, ffn_dim_divisor)`` wide in ``ffn.layer_widths`` (gated by ``ffn_with_glu``), the embedding shared with
  the output by ``share_input_output_layers``, ``max_context_length`` the context limit; quantized checkpoints are
  refused;
- Microsoft's Phi-1, Phi-1.5, Phi-2, ``phi`` (``PhiForCausalLM``; :func:`_phi_keys`): attention and a non-gated
  gelu_new MLP (fc1, fc2) side by side under one biased LayerNorm a layer, q/k/v/dense always biased, RoPE over
  ``int(head x partial_rotary_factor)`` dims (the top-level key or ``rope_parameters``'; PhiConfig's 0.5), a biased
  ``lm_head`` (``head_bias``); the LayerNorm and MLP biases counted (``norm_vectors`` 2, ``ffn.mlp_bias``). What
  transformers' and vLLM's PhiForCausalLM would build differently (K/V heads other than the query heads, an
  ``intermediate_size`` other than ``4 x hidden_size``, ``qk_layernorm``, a tied head, a ``head_dim`` other than
  hidden / heads) is refused;
- InternLM-1, ``internlm`` (InternLM-7B/20B's remote code; vLLM builds it as ``LlamaForCausalLM``): read as ``llama``
  (:data:`ALIASES`) after :func:`_internlm_keys`, its ``bias`` (default true) biasing q/k/v/o; Aquila (``aquila``) and
  XVERSE (``xverse``), which vLLM builds as Llama too, are not aliased: no whole released config was found to pin
  them (docs/zoo-facts.md section 29);
- Tencent's Hy3, ``hy_v3`` (Hy3-preview, Hy3; :func:`_hy_v3_keys`): GQA with q/k norms on every layer, leading dense
  layers (``mlp_layer_types`` or ``first_k_dense_replace``), then sigmoid-routed experts of ``moe_intermediate_size``
  (vLLM: ``expert_hidden_dim``) and ``num_shared_experts`` shared ones, ``num_nextn_predict_layers`` MTP layers;
- Cohere2-MoE, ``cohere2_moe`` (Command A+, the ``text_config`` of its ``cohere2_vision`` wrapper; North Mini Code;
  :func:`_cohere2_moe_keys`): Cohere2's parallel block and sliding layers, experts of ``intermediate_size`` with one
  shared MLP of ``num_shared_experts`` of them, a dense prefix of ``prefix_dense_intermediate_size`` whose window
  pattern is its own (:func:`cohere2_moe_layer_types`), a tied head (docs/zoo-facts.md section 30).
- NVIDIA's Nemotron-4 and Minitron, ``nemotron`` (``NemotronForCausalLM``: Minitron-4B/8B, Nemotron-4-340B's HF
  conversion; :func:`_nemotron_keys`): Llama's attention over ``head_dim`` heads with RoPE over
  ``partial_rotary_factor`` of each (vLLM's ``rope_percent``/``rope_percentage``, ``kv_channels`` compared with what
  transformers reads), a relu2 MLP without gate (:data:`NON_GATED_MLP`), LayerNorm1P with weight and bias
  (:data:`NORM_VECTORS`: the spec's ``norm_vectors`` 2); OLMo-1, ``olmo`` (``OlmoForCausalLM``: OLMo-1B/7B,
  OLMo-1.7-7B; :func:`_olmo_keys`): Llama's block with LayerNorms without parameters (``norm_vectors`` 0),
  ``clip_qkv`` no size, MHA as vLLM builds it; FlexOlmo, ``flex_olmo`` (FlexOlmo-7x7B-1T: read as ``olmoe`` after
  :func:`_flex_olmo_keys`, its norms after attention and the MoE instead of before, two a layer all the same);
  VaultGemma, ``vaultgemma`` (VaultGemma-1B: Gemma-2's block without the post-attention and post-feedforward norms,
  two a layer; ``layer_types``, else Gemma-2's alternation; the soft-caps and ``query_pre_attn_scalar`` size nothing).
  docs/zoo-facts.md section 31.
- the decoders of 2021-2023 (docs/zoo-facts.md section 32), MHA all, each family's config rewritten by its own
  function before reading: ``opt`` (OPT-125m ... 66B, :func:`_opt_keys`: learned positions of
  ``max_position_embeddings + 2`` rows, q/k/v/out_proj and fc1/fc2 biased by ``enable_bias``, a ReLU MLP of
  ``ffn_dim``, a tied head; OPT-350m's ``word_embed_proj_dim`` projections and post-LayerNorm layers refused),
  ``gptj`` (GPT-J-6B) and ``codegen`` (CodeGen; :func:`_gptj_keys`: attention and MLP side by side under one
  LayerNorm, bias-free q/k/v/out, RoPE over ``rotary_dim`` dims, fc_in/fc_out and the untied ``lm_head`` biased),
  ``bloom`` (BLOOM, BLOOMZ; :func:`_bloom_keys`: ALiBi, biased ``query_key_value``/``dense``, an MLP of 4 x hidden, a
  LayerNorm on the embeddings), ``mpt`` (MPT-7B/30B; :func:`_mpt_keys`: ALiBi, no biases anywhere, an MLP of 4 x
  ``d_model``, a tied head; ``attn_config`` read and what transformers' and vLLM's MPT build differently refused),
  ``gpt_neo`` (GPT-Neo; :func:`_gpt_neo_keys`: ``attention_types`` checked and expanded to global and local layers,
  the local ones read as full since the window is in the mask alone and every engine that builds GPT-Neo caches
  every token, learned positions, out_proj and the MLP biased). What each checkpoint holds beside Llama's tensors
  is counted by the spec's fields (docs/zoo-facts.md section 34): position tables (``position_embeddings``:
  :func:`position_rows`), LayerNorm biases (``norm_vectors`` 2), MLP biases (``ffn.mlp_bias``), lm_head biases
  (``head_bias``), BLOOM's embedding LayerNorm (``embedding_norm``).
- the 2025-2026 wrappers whose decoder is a family read here (docs/zoo-facts.md section 33): ``paddleocr_vl``
  (PaddleOCR-VL: ERNIE-4.5-0.3B's decoder, ``paddleocr_vl_text`` read as ``ernie4_5``), ``hunyuan_vl`` (HunyuanOCR:
  HunYuanDenseV1's, read as ``hunyuan`` after :func:`_hunyuan_vl_keys`), both flat as released or nested;
  PaddleOCR-VL's head tied by the wrapper's own ``tie_word_embeddings`` (:data:`WRAPPER_TIES`), HunyuanOCR's by its
  text_config's, as both engines read each; ``minicpmv4_6`` (MiniCPM-V 4.6: a
  ``qwen3_5_text`` text_config), ``exaone4_5`` (EXAONE 4.5: ``exaone4_5_text`` or no model_type, read as
  ``exaone4``). ERNIE-4.5-VL (``ernie4_5_vl_moe``, the remote code's ``ernie4_5_moe_vl``: text and vision experts of
  their own widths in every MoE layer) and MiniMax-M3 (``minimax_m3_vl``, whose text_config says ``minimax_m2``:
  block-sparse attention with a lightning indexer), GLM-Image (``glm_image``: a head over its image tokens alone)
  and HRM-Text (``hrm_text``: looped layer stacks) are refused by name.
- the 2025-2026 decoders of docs/zoo-facts.md section 35: ``jais2`` (Jais-2: Llama's attention with q/k/v/o biased by
  ``attention_bias``, a relu2 MLP of up_proj/down_proj biased by ``mlp_bias``, LayerNorms with biases;
  :func:`_jais2_keys`) and ``granite_swa`` (Granite-SWA: Granite's block with a learned sink per query head and
  sliding layers from ``layer_types``, every fourth layer full where none is given; :func:`_granite_swa_keys`).
  Granite-SWA-MoE, ZAYA, A.X-K1/K2, OLMo-Hybrid, Laguna, HyperCLOVA X, Youtu, nanochat, Aquila, XVERSE and XGLM are
  refused by name (:data:`REFUSED`).

An MLX-converted checkpoint's top-level ``quantization`` block (mlx_lm's affine quantization: ``bits``,
``group_size``, per-module entries; copied to a ``quantization_config`` without ``quant_method`` since mlx-lm #957)
becomes the spec's ``quantization`` block (:func:`mlx_quantization`): ``bits`` plus a 16-bit scale and bias per
group on every matrix, embedding and head included. What it cannot price at one width a component (a mixed-bit
recipe, a module left unquantized, a width no multiple of ``group_size``, a float32 conversion) is refused in one
line. Before the eighth round the block was ignored (a 4-bit model priced at its ``torch_dtype``); the eighth
refused it.

Any other ``model_type`` is read as a Llama-shaped dense model only when every key it carries is one this module
knows (:data:`GENERIC_KEYS`) and the keys it needs are present, and says so: the spec's ``warnings``, which every
command prints on stderr and lists in ``--json`` (it was sized as llama without a word); a config that needs what the spec cannot say is
refused with one line naming the model_type and the feature (:data:`REFUSED`: LongCat-Flash-Lite's n-gram embedding
tables (``longcat_flash_ngram``), ``zamba2`` (shared attention blocks), so that no Mamba layer is ever counted as an
attention layer, Phi-4-mini-flash's SambaY
(``phi4flash``), JetMoE's mixture of attention heads (``jetmoe``)). A wrapper's ``text_config`` is refused
the same way by its own ``model_type``.

Every size a config gives is checked before any arithmetic on it (:data:`SIZES`, :func:`_checked`): a
``"num_hidden_layers": "32"`` or ``-8`` is one line naming the key, not a traceback.

Counted as the checkpoints hold them: biases of MLPs (``ffn.mlp_bias``: StarCoder2's ``use_bias``, GPT-2's,
GPT-NeoX's, StarCoder's, Phi's, OPT's ``enable_bias``, GPT-J's, BLOOM's, GPT-Neo's, Falcon's ``bias``) and of
LayerNorms (``norm_vectors`` 2: StableLM, StarCoder2, GPT-2, GPT-NeoX, StarCoder, Phi, Nemotron's LayerNorm1P, Falcon,
Phi-3.5-MoE and the 2021-2023 decoders but MPT), learned position tables (``position_embeddings``: GPT-2's,
StarCoder's, OPT's, GPT-Neo's), lm_head biases (``head_bias``: Phi's, GPT-J's, CodeGen's, Phi-3.5-MoE's) and
BLOOM's embedding LayerNorm (``embedding_norm``); a q/k norm over the whole projection (MiniMax-M2) is counted per
head; MiniMax-M2's ``num_mtp_modules`` are not counted (its 230B on the model card is matched without them).

Defaults a config.json leaves out are the transformers class defaults, which differ by family (:data:`DEFAULTS`):
Gemma ties embeddings by default, Gemma-3's ``text_config`` has no ``vocab_size`` (262208) and no
``sliding_window_pattern`` (6), Gemma-3-12B's no ``head_dim`` (256, not 3840 / 16 = 240) and Gemma-3-4B's no head
counts (8 query, 4 KV heads) either, MiniCPM3's has no ``v_head_dim`` (``hidden_size / num_heads``). A missing
``head_dim`` is the class's fixed default where it has one (Qwen3 128, Qwen3-Next 256, gpt-oss 64, ...; an alias's
own, Ministral3Config's 128, over the family it is read as), else ``hidden_size / num_attention_heads``. Multimodal
wrappers (``text_config``) give the text decoder; the vision tower is left out and the description says so, as
does the spec's ``excluded`` (:func:`_excluded`), which ``weights``, ``fit`` and ``train`` print and list in ``--json``.

Weights: ``quantization_config`` becomes the spec's ``quantization`` block (fp8 blocks, MXFP4, compressed-tensors,
AWQ, GPTQ, NVIDIA ModelOpt FP8/NVFP4; :func:`quantization`), MLX's ``quantization`` block likewise
(:func:`mlx_quantization`); a ModelOpt ``hf_quant_config.json`` beside a config.json that has no
``quantization_config`` is read as one, as vLLM reads it. An fp32 ``torch_dtype`` is served at 16 bits (bf16), as
engines load it.

KV cache: the dtype the checkpoint declares becomes ``dtypes.kv`` (:func:`kv_cache_dtype`): fp8 for a
compressed-tensors ``kv_cache_scheme`` or a ModelOpt ``kv_cache_quant_algo`` ``FP8`` (FlashMLA's fp8-ds rows on DSA),
vLLM's nvfp4 for ModelOpt ``NVFP4``, else bf16. That is vLLM's ``--kv-cache-dtype auto``: the checkpoint's KV dtype
when it declares one, the model's otherwise; ``--kv-dtype`` (or ``--kv-bits``) overrides it, as an explicit
``--kv-cache-dtype`` does in vLLM.
``max_position_embeddings`` (:func:`max_position_embeddings`) becomes ``max_context``.
``tests/fixtures/hf/`` holds a config of each family.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, replace
from typing import Any

from .attention.mamba1 import dt_rank_auto
from .errors import SpecError
from .files import NonFinite
from .units import MAX_LAYERS

WHERE = "config.json"

# model_type of the text decoder inside a multimodal wrapper
# (Step3VLConfig, vLLM vllm/transformers_utils/configs/step3_vl.py: text_config builds a Step3TextConfig whatever its
# model_type says)
# (Glm4vConfig, GlmOcrConfig, transformers models/glm4v/configuration_glm4v.py, models/glm_ocr/
# configuration_glm_ocr.py: a text_config mapping builds Glm4vTextConfig / GlmOcrTextConfig whatever its model_type,
# and the transformers convert_glm4v_mgt_weights_to_hf.py of 4.57 writes one without a model_type)
# (PaddleOCRVLConfig, HunYuanVLConfig, Ernie4_5_VLMoeConfig, GlmImageConfig: a text_config mapping builds
# PaddleOCRTextConfig / HunYuanVLTextConfig / Ernie4_5_VLMoeTextConfig / GlmImageTextConfig whatever its model_type;
# MiniMaxM3VLConfig pops the text_config's model_type, which MiniMax-M3's release writes as minimax_m2, and builds
# MiniMaxM3VLTextConfig: read as minimax_m2 it lost its sparse attention and dense layers without a word; transformers
# models/{paddleocr_vl,hunyuan_vl,ernie4_5_vl_moe,minimax_m3_vl,glm_image}/configuration_*.py; docs/zoo-facts.md
# section 33)
WRAPPERS = {"gemma3": "gemma3_text", "gemma3n": "gemma3n_text", "gemma4": "gemma4_text", "llama4": "llama4_text",
            "mllama": "mllama",
            "step3_vl": "step3_text", "glm4v": "glm4v_text", "glm_ocr": "glm_ocr_text",
            "paddleocr_vl": "paddleocr_vl_text", "hunyuan_vl": "hunyuan_vl_text",
            "ernie4_5_vl_moe": "ernie4_5_vl_moe_text", "minimax_m3_vl": "minimax_m3_vl_text",
            "glm_image": "glm_image_text"}

# wrappers whose text_config may leave out its model_type: the decoder family the wrapper's config class builds then
# (transformers Lfm2VlConfig, model_type "lfm2-vl": ``text_config.get("model_type", "lfm2")``; MLX conversions spell
# the wrapper lfm2_vl)
# (Exaone4_5_Config, transformers models/exaone4_5/configuration_exaone4_5.py: ``text_config.get("model_type",
# "exaone4")``)
TEXT_DEFAULTS = {"lfm2-vl": "lfm2", "lfm2_vl": "lfm2", "exaone4_5": "exaone4"}

# wrappers whose own tie_word_embeddings ties the head, not their text_config's: transformers 5 ties by the model's
# config (PreTrainedModel.get_expanded_tied_weights_keys: ``getattr(self.config, "tie_word_embeddings", ...)``, the
# wrapper's), and vLLM reads the wrapper's too (paddleocr_vl.py pops tie_word_embeddings from the text_config before
# merging it into the wrapper's config). The value where the wrapper gives none is its class default
# (PaddleOCRVLConfig: tie_word_embeddings=True). A PaddleOCR-VL file loaded flat and saved by transformers 5 keeps the
# release's false at the top and PaddleOCRTextConfig's default true in text_config.
# Not hunyuan_vl: HunYuanVLConfig.__post_init__ copies text_config.tie_word_embeddings over its own
# (``kwargs.setdefault("tie_word_embeddings", self.text_config.tie_word_embeddings)``, "mirrored here from the text
# config"), and vLLM's own HunYuanVLConfig (vllm/transformers_utils/configs/hunyuan_vl.py, registered for hunyuan_vl)
# answers any attribute its text_config holds from the text_config (``__getattribute__``), so hunyuan_vision.py's
# ``self.config.tie_word_embeddings`` is the text_config's too: the text_config's flag first, as for other wrappers
WRAPPER_TIES = {"paddleocr_vl": True}

# nested wrappers whose engines read a sizing key given at the top level beside text_config differently: the keys and
# why. HunYuanVLConfig (transformers models/hunyuan_vl) builds its text config from ``{**text_config,
# **top_level_text_fields}`` (HunYuanVLTextConfig's fields: the top level wins); vLLM's own HunYuanVLConfig
# (vllm/transformers_utils/configs/hunyuan_vl.py) answers from the text_config every attribute it holds (its class
# defaults included) and from the top level the rest (num_experts, cla_share_factor, mlp_bias), which hunyuan_v1.py
# reads. A nested file was read as its text_config alone (a top-level num_hidden_layers 2 beside 24: 539,010,048,
# transformers' 2-layer model not said). PaddleOCR-VL's two agree on the text_config's (PaddleOCRVLConfig drops the
# top-level text keys where a text_config is given; vLLM's paddleocr_vl.py updates the wrapper with the whole
# text_config), EXAONE 4.5's and MiniCPM-V 4.6's classes read the text_config alone
TOP_LEVEL_SIZES = {"hunyuan_vl": (
    ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
     "num_key_value_heads", "head_dim", "attention_bias", "mlp_bias", "use_qk_norm", "use_cla", "cla_share_factor",
     "num_experts", "max_position_embeddings"),
    "transformers' HunYuanVLConfig folds the top-level value into its text config, vLLM's reads the text_config's "
    "where it holds one; which the checkpoint holds cannot be told")}

# multimodal model_types whose config.json may carry the text decoder's keys at the top level, with no text_config
# (Qwen2-VL, Qwen2.5-VL as transformers < 4.53 saved them; Glm4vConfig and GlmOcrConfig build their text config from
# the top-level keys where text_config is absent, ``sub_configs["text_config"](**kwargs)``): model_type of that decoder
# (PaddleOCR-VL's and HunyuanOCR's releases are flat: PaddleOCRVLConfig and HunYuanVLConfig fold the top-level text
# keys into their text config, "Hub configs are saved as flat dicts"; Ernie4_5_VLMoeConfig builds its text config from
# the top-level kwargs where text_config is absent)
FLAT_WRAPPERS = {"qwen2_vl": "qwen2", "qwen2_5_vl": "qwen2", "glm4v": "glm4v_text", "glm_ocr": "glm_ocr_text",
                 "paddleocr_vl": "paddleocr_vl_text", "hunyuan_vl": "hunyuan_vl_text",
                 "ernie4_5_vl_moe": "ernie4_5_vl_moe_text"}

# wrappers whose text decoder sits under a key other than text_config: the path of keys to it
# (InternVL's remote code, InternVLChatConfig: llm_config, a qwen2/qwen3/internlm2/llama/gpt_oss decoder;
# Qwen2.5-Omni and Qwen3-Omni, transformers Qwen2_5OmniConfig / Qwen3OmniMoeConfig: the thinker's text_config; the
# talker, a second decoder that speaks the thinker's answer, is left out with the audio and vision towers)
DECODER_PATHS = {"internvl_chat": ("llm_config",), "qwen2_5_omni": ("thinker_config", "text_config"),
                 "qwen3_omni_moe": ("thinker_config", "text_config")}

# DeepSeek-VL2 and DeepSeek-OCR (model_type deepseek_vl_v2): the text decoder sits under language_config, a
# DeepSeek-V2 config whose own model_type (none in DeepSeek-OCR's file) does not decide the family. vLLM picks it as
# DeepseekVLV2ForCausalLM.__init__ does (vllm-project/vllm vllm/model_executor/models/deepseek_vl2.py, code-corpus
# file id 74293414): topk_method "noaux_tc" -> DeepseekV3ForCausalLM; not use_mla -> DeepseekForCausalLM (the V1
# MoE: plain attention of num_key_value_heads, head_dim = hidden_size // num_attention_heads, vllm deepseek.py
# DeepseekAttention); else DeepseekV2ForCausalLM (MLA). use_mla left out is true: DeepSeek-VL2's own DeepseekV2Config
# (deepseek-ai/DeepSeek-VL2 deepseek_vl2/models/configuration_deepseek.py, use_mla=True) and vLLM's copy of it
# (vllm/transformers_utils/configs/deepseek_vl2.py before it took transformers' class)
DEEPSEEK_VL2 = "deepseek_vl_v2"
# the keys of an MLA attention, which a use_mla-false language_config carries as zeros and nulls (DeepSeek-OCR:
# kv_lora_rank null, qk_nope_head_dim 0, qk_rope_head_dim 0, v_head_dim 0); DeepseekAttention reads none of them,
# nor head_dim (transformers' DeepseekV2Config sets head_dim to qk_rope_head_dim)
MLA_KEYS = ("kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "head_dim")
# sizes a language_config must give: the two DeepseekV2Config classes an engine may build default them differently
# (DeepSeek-VL2's: 30 layers, 32 query and 32 K/V heads, vocabulary 102400, n_routed_experts and n_shared_experts
# None, a dense model; transformers': 32 layers, K/V heads = query heads, vocabulary 32000, 64 routed and 2 shared
# experts), so a file without one is not sized by a guess (without n_shared_experts DeepSeek-OCR read 2,859,040,000
# parameters, its 2 shared experts left out)
DEEPSEEK_VL2_SIZES = ("num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size", "n_routed_experts",
                      "n_shared_experts")
# MLA widths both classes give the same default (DeepSeek-VL2's DeepseekV2Config and transformers' deepseek_v2
# configuration: kv_lora_rank=512, q_lora_rank=1536, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128): a
# use_mla language_config that leaves one out is built with it by either, so it is read so (alibaba rtp-llm's
# DeepSeek-VL2 test, code-corpus file id 57557901473, transcribes VL2-Small's and VL2's language_config without
# them). A key given as null is not filled: q_lora_rank null is MLA without a query down-projection
DEEPSEEK_VL2_MLA = {"kv_lora_rank": 512, "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
                    "v_head_dim": 128}
# keys that mark a multimodal wrapper: an unknown model_type carrying one, with its decoder under no key above, is
# refused in one line rather than read as the decoder (its top-level keys are the wrapper's, not a decoder's)
WRAPPER_MARKS = ("vision_config", "audio_config", "llm_config", "language_config", "thinker_config",
                 "talker_config", "vision_tower")

# text decoders that are another family's decoder under a new name: same modules, same keys
# (transformers: Qwen2_5_VLTextConfig, Qwen3VLTextConfig, Qwen3VLMoeTextConfig, Ministral3Config)
# (Glm4vMoeTextConfig: Glm4MoeConfig's keys, attention with q/k/v biases, partial RoPE; only the RoPE is M-RoPE)
# (Qwen3_5TextConfig, Qwen3_5MoeTextConfig: Qwen3-Next's hybrid of Gated DeltaNet and gated full attention under new
# names, the DeltaNet's projections split (in_proj_qkv, in_proj_z, in_proj_b, in_proj_a: the same sizes as Qwen3-Next's
# fused in_proj_qkvz, in_proj_ba); Qwen3.5's dense decoders have a plain MLP of intermediate_size, its MoE ones Qwen3-Next's
# experts and gated shared expert; the partial RoPE factor sits in rope_parameters)
ALIASES = {"qwen2_vl_text": "qwen2", "qwen2_5_vl_text": "qwen2", "qwen3_vl_text": "qwen3",
           "qwen3_vl_moe_text": "qwen3_moe", "ministral3": "mistral", "glm4v_moe_text": "glm4_moe",
           "qwen3_5_text": "qwen3_next", "qwen3_5_moe_text": "qwen3_next",
           # Xiaomi MiMo (MiMoConfig(Qwen2Config), modeling_mimo.py): Qwen2's decoder, q/k/v biases, and
           # num_nextn_predict_layers MTP layers (MiMoMTPLayers: two norms, input_proj 2d -> d, one Qwen2 layer)
           "mimo": "qwen2",
           # the Omni thinkers' text decoders (Qwen2_5OmniTextConfig: Qwen2's keys and modules, only the RoPE is
           # M-RoPE; Qwen3OmniMoeTextConfig: Qwen3-MoE's)
           "qwen2_5_omni_text": "qwen2", "qwen3_omni_moe_text": "qwen3_moe",
           # transformers' HunYuanDenseV1 (Hunyuan-7B/4B/1.8B/0.5B-Instruct, Hunyuan-MT-7B, Hy-MT2): the released
           # Hunyuan decoder without experts: q/k/v/o biased by attention_bias, q/k norms by use_qk_norm, a gated
           # MLP of intermediate_size biased by mlp_bias (refused), head_dim; the hunyuan reader's dense branch
           "hunyuan_v1_dense": "hunyuan",
           # Upstage Solar Open (SolarOpenConfig(Glm4MoeConfig), transformers models/solar_open/modular_solar_open.py):
           # GLM-4.5's MoE block (Glm4MoeMoE: n_routed_experts gated experts of moe_intermediate_size, a bias-free
           # router with its e_score_correction_bias buffer, n_shared_experts x moe_intermediate_size shared) on every
           # layer behind LlamaAttention (q/k/v biased by attention_bias, o_proj never; no q/k norm), RoPE over
           # partial_rotary_factor (default 1.0); read as glm4_moe after _solar_open_keys
           "solar_open": "glm4_moe",
           # GLM-4.1V-9B / GLM-4.6V-Flash (Glm4vTextConfig, transformers models/glm4v/modeling_glm4v.py) and GLM-OCR
           # (GlmOcrTextConfig, models/glm_ocr/modular_glm_ocr.py): GLM-4-0414's block (Glm4DecoderLayer's four norms:
           # input, post_self_attn, post_attention, post_mlp; Glm4MLP's fused gate_up_proj d -> 2 x intermediate_size;
           # q/k/v/o projections, o_proj without a bias); only the RoPE is M-RoPE (mrope_section splits the rotary
           # dims, no size).
           # Where their attention differs from Glm4Attention (q/k/v biases and head width hard-wired rather than
           # read) is checked by _glm_v_text_keys; vLLM's glm4_1v.py builds both decoders as Glm4ForCausalLM
           "glm4v_text": "glm4", "glm_ocr_text": "glm4",
           # Mistral Small 4 (Mistral4Config, transformers models/mistral4/modular_mistral4.py; the text_config of a
           # mistral3 wrapper): DeepseekV3Attention's MLA (q_a_proj/q_a_layernorm/q_b_proj, kv_a_proj_with_mqa,
           # kv_a_layernorm, kv_b_proj, o_proj; biased by attention_bias, refused by _mistral4_keys), DeepseekV3MoE
           # (n_routed_experts gated experts of moe_intermediate_size, a bias-free router of its weight alone,
           # n_shared_experts x moe_intermediate_size shared) from layer first_k_dense_replace on, Qwen2MoeMLP of
           # intermediate_size before it, two RMSNorms a layer. rope_interleave and rope_parameters'
           # llama_4_scaling_beta (a query scale by position) size nothing
           "mistral4": "deepseek_v3",
           # InternLM-1 (InternLM-7B, InternLM-20B and their -chat; remote modeling_internlm.py): LlamaForCausalLM's
           # decoder with q/k/v/o biased by the file's ``bias`` (InternLMAttention: nn.Linear(..., bias=config.bias)),
           # InternLMMLP's gate/up/down without bias, MHA (k/v of num_attention_heads, head hidden / heads), RMSNorms,
           # an untied lm_head. vLLM builds it as LlamaForCausalLM (registry.py: "InternLMForCausalLM": ("llama",
           # "LlamaForCausalLM")), whose LlamaAttention biases q/k/v/o by ``attention_bias or bias``. _internlm_keys
           # reads ``bias`` as attention_bias and refuses what the two would build differently
           "internlm": "llama",
           # FlexOlmo (FlexOlmoConfig(OlmoeConfig), transformers models/flex_olmo/modular_flex_olmo.py): OLMoE's
           # decoder (OlmoeSparseMoeBlock: num_experts gated experts of intermediate_size, a bias-free router d -> E;
           # q/k norms over the whole projections) with its two RMSNorms after attention and the MoE instead of
           # before (post_attention_layernorm, post_feedforward_layernorm: two a layer, as OLMoE's); read as olmoe
           # after _flex_olmo_keys, which refuses what vLLM's FlexOlmoAttention builds otherwise
           "flex_olmo": "olmoe",
           # the 2025-2026 wrappers whose decoder is a family read here (docs/zoo-facts.md section 33).
           # PaddleOCR-VL (PaddleOCRTextConfig(Ernie4_5Config), transformers models/paddleocr_vl/
           # modular_paddleocr_vl.py): Ernie4_5DecoderLayer and Ernie4_5MLP under q/k/v/o projections biased by
           # use_bias (PaddleOCRAttention), ERNIE-4.5-0.3B's decoder; only the RoPE is M-RoPE. vLLM paddleocr_vl.py
           # builds it as its Ernie4_5ForCausalLM (Llama's). use_bias true is refused by the ernie4_5 reading
           "paddleocr_vl_text": "ernie4_5",
           # HunyuanOCR (HunYuanVLTextConfig(HunYuanDenseV1Config), models/hunyuan_vl/modular_hunyuan_vl.py):
           # HunYuanDenseV1's decoder (LlamaAttention with query_layernorm and key_layernorm of head_dim, a gated MLP,
           # two RMSNorms); only the RoPE is XD-RoPE. vLLM hunyuan_vision.py builds the text model as
           # HunYuanDenseV1ForCausalLM (hunyuan_v1.py) from the same keys: the hunyuan reading, after
           # _hunyuan_vl_keys
           "hunyuan_vl_text": "hunyuan",
           # Falcon's remote-code configs as first released (tiiuae/falcon-7b "RefinedWebModel", falcon-40b
           # "RefinedWeb", RWForCausalLM, kept by fine-tunes of 2023): FalconForCausalLM's decoder under the names of
           # the remote configuration_RW.py (n_layer, n_head, n_head_kv). vLLM reads them through its RWConfig
           # (vllm/transformers_utils/config.py _CONFIG_REGISTRY; registry.py "RWForCausalLM": ("falcon",
           # "FalconForCausalLM")); transformers' falcon/convert_custom_code_checkpoint.py renames them to falcon.
           # _refinedweb_keys renames them and refuses what vLLM would build otherwise
           "refinedweb": "falcon", "refinedwebmodel": "falcon",
           # EXAONE 4.5 (Exaone4_5_Config: "EXAONE 4.5 first released with the text model type as exaone4_5_text,
           # now changed to exaone4"; models/exaone4_5/modular_exaone4_5.py builds AutoModel of the text config,
           # Exaone4Model): EXAONE-4.0's decoder
           "exaone4_5_text": "exaone4"}

# architectures -> model_type, for configs written without one (MiniCPM3's remote-code config)
ARCHITECTURES = {"MiniCPM3ForCausalLM": "minicpm3"}

# transformers class defaults for keys released configs leave out
# (Gemma: the head width is head_dim=256 whatever hidden_size / num_heads is, and Gemma-3-4B/12B's text_config
# leaves out head_dim, and the 4B its head counts too: GemmaConfig(num_attention_heads=16, num_key_value_heads=16,
# head_dim=256), Gemma2Config and Gemma3TextConfig(num_attention_heads=8, num_key_value_heads=4, head_dim=256,
# sliding_window=4096), transformers src/transformers/models/gemma*/configuration_gemma*.py)
DEFAULTS: dict[str, dict[str, Any]] = {
    # DeepseekV4Config (transformers models/deepseek_v4/configuration_deepseek_v4.py, V4-Flash's shape); its layer
    # pattern, hash layers, compress rates and RoPE fraction default in _deepseek_v4 (V4_DEFAULTS)
    "deepseek_v4": {"vocab_size": 129280, "hidden_size": 4096, "moe_intermediate_size": 2048, "num_hidden_layers": 43,
                    "num_attention_heads": 64, "num_key_value_heads": 1, "head_dim": 512, "q_lora_rank": 1024,
                    "num_experts_per_tok": 6, "n_routed_experts": 256, "n_shared_experts": 1,
                    "max_position_embeddings": 1048576, "sliding_window": 128, "o_groups": 8, "o_lora_rank": 1024,
                    "index_n_heads": 64, "index_head_dim": 128, "index_topk": 512, "num_nextn_predict_layers": 1,
                    "hc_mult": 4, "tie_word_embeddings": False},
    "gemma": {"tie_word_embeddings": True, "num_attention_heads": 16, "num_key_value_heads": 16, "head_dim": 256},
    "gemma2": {"tie_word_embeddings": True, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
               "sliding_window": 4096},
    "gemma3_text": {"tie_word_embeddings": True, "vocab_size": 262208, "sliding_window_pattern": 6,
                    "max_position_embeddings": 131072, "num_attention_heads": 8, "num_key_value_heads": 4,
                    "head_dim": 256, "sliding_window": 4096},
    # Gemma3nTextConfig (transformers src/transformers/models/gemma3n/configuration_gemma3n.py, the E4B shape): every
    # sizing key, since a wrapper's text_config saved with use_diff drops those equal to the class's; layer_types
    # and intermediate_size lists are built from these in _gemma3n_keys, as its __post_init__ builds them
    "gemma3n_text": {"tie_word_embeddings": True, "vocab_size": 262400, "hidden_size": 2048, "intermediate_size": 16384,
                     "num_hidden_layers": 35, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256,
                     "max_position_embeddings": 32768, "sliding_window": 512, "vocab_size_per_layer_input": 262144,
                     "hidden_size_per_layer_input": 256, "altup_active_idx": 0, "altup_num_inputs": 4,
                     "num_kv_shared_layers": 15, "laurel_rank": 64},
    # Gemma4TextConfig (transformers models/gemma4/configuration_gemma4.py, 5.5 to 5.25): its sizing keys (its own
    # switches and global_head_dim are defaulted in _gemma4_keys, which refuses their nulls)
    "gemma4_text": {"tie_word_embeddings": True, "vocab_size": 262144, "hidden_size": 2304, "intermediate_size": 9216,
                    "num_hidden_layers": 30, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                    "max_position_embeddings": 131072, "sliding_window": 512, "vocab_size_per_layer_input": 262144,
                    "hidden_size_per_layer_input": 256, "num_kv_shared_layers": 0},
    # head_dim a config leaves out (wrappers' text_configs drop class defaults): the class default where the class
    # has a fixed one, checked in huggingface/transformers v4.57.1 and v5.25.0; the class computes
    # hidden_size // num_attention_heads only where it is None, as vLLM does (vLLM reads the config object
    # transformers builds, so it sees the class default). Qwen3-32B without head_dim: 30.50 B parameters, not 32.76.
    "qwen3": {"head_dim": 128},        # src/transformers/models/qwen3/configuration_qwen3.py: head_dim=128
    # src/transformers/models/qwen3_next/configuration_qwen3_next.py: head_dim=256 (Qwen3.5's qwen3_5_text and
    # qwen3_5_moe_text, read as qwen3_next: models/qwen3_5*/configuration_qwen3_5*.py head_dim=256 too)
    "qwen3_next": {"head_dim": 256},
    "gpt_oss": {"head_dim": 64},       # src/transformers/models/gpt_oss/configuration_gpt_oss.py: head_dim=64
    # src/transformers/models/llama4/configuration_llama4.py: Llama4TextConfig(head_dim=128)
    "llama4_text": {"head_dim": 128},
    "seed_oss": {"head_dim": 128},     # src/transformers/models/seed_oss/configuration_seed_oss.py: head_dim=128
    "ernie4_5": {"head_dim": 128},     # src/transformers/models/ernie4_5/configuration_ernie4_5.py: head_dim=128
    # src/transformers/models/minimax_m2/configuration_minimax_m2.py (v5): head_dim=128, as the release's remote
    # MiniMaxM2Config (head_dim=128; copy in ModelCloud/GPTQModel gptqmodel/hf_minimax_m2/configuration_minimax_m2.py)
    "minimax_m2": {"head_dim": 128},
    # MiniMaxM3VLTextConfig (transformers models/minimax_m3_vl/modular_minimax_m3_vl.py) where a text_config leaves a
    # size out; its index_* defaults are applied by _minimax_m3_keys (a flat key beside a legacy one must be the file's)
    "minimax_m3_vl_text": {"vocab_size": 200064, "hidden_size": 6144, "intermediate_size": 3072,
                           "dense_intermediate_size": 12288, "shared_intermediate_size": 3072,
                           "num_hidden_layers": 60, "num_attention_heads": 64, "num_key_value_heads": 4,
                           "head_dim": 128, "max_position_embeddings": 524288, "num_experts_per_tok": 4,
                           "rotary_dim": 64, "tie_word_embeddings": False},
    # src/transformers/models/ministral3/configuration_ministral3.py (v5): Ministral3Config(head_dim=128), where
    # MistralConfig, which it is read as, has head_dim=None (hidden / heads: Ministral-3-3B's 3072 / 32 = 96)
    "ministral3": {"head_dim": 128},
    # src/transformers/models/solar_open/configuration_solar_open.py (v5): SolarOpenConfig(head_dim=128), where
    # Glm4MoeConfig, which it is read as, has none (hidden / heads: Solar Open's 4096 / 64 = 64)
    "solar_open": {"head_dim": 128},
    # src/transformers/models/mistral4/configuration_mistral4.py: Mistral4Config's sizing defaults (the 119B's), which
    # a wrapper's text_config saved without them leaves to the class; DeepSeek-V3's reader, which mistral4 is read
    # as, took a missing n_shared_experts as none (118.07 B parameters, not 118.97). q_lora_rank is left out: its
    # null is no down-projection, which a class default here would have overwritten (_mistral4_keys gives a missing
    # one the class's 1024)
    "mistral4": {"vocab_size": 131072, "hidden_size": 4096, "intermediate_size": 12288, "moe_intermediate_size": 2048,
                 "num_hidden_layers": 36, "num_attention_heads": 32, "n_shared_experts": 1, "n_routed_experts": 128,
                 "kv_lora_rank": 256, "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 64,
                 "num_experts_per_tok": 4, "first_k_dense_replace": 0, "max_position_embeddings": 1048576,
                 "tie_word_embeddings": False},
    # PhiConfig (transformers models/phi/configuration_phi.py): tie_word_embeddings=False, qk_layernorm=False,
    # partial_rotary_factor 0.5 ("assign default for BC"; v5 keeps it in rope_parameters)
    "phi": {"tie_word_embeddings": False, "qk_layernorm": False, "partial_rotary_factor": 0.5},
    # src/transformers/models/internlm3/configuration_internlm3.py (v5): head_dim=128
    "internlm3": {"head_dim": 128},
    # NemotronConfig (transformers models/nemotron/configuration_nemotron.py; vLLM's copy in transformers_utils/
    # configs/nemotron.py has the same defaults): vocab_size=256000, hidden_size=6144, intermediate_size=24576,
    # num_hidden_layers=32, num_attention_heads=48, max_position_embeddings=4096, tie_word_embeddings=False. Its
    # partial_rotary_factor=0.5 is _nemotron_keys' default (vLLM reads rope_percent before it, so the file's keys are
    # compared there); head_dim None is hidden / heads in both; num_key_value_heads None is the query heads (vLLM's
    # NemotronConfig "for backward compatibility"; transformers' keeps None, which its attention cannot build)
    "nemotron": {"vocab_size": 256000, "hidden_size": 6144, "intermediate_size": 24576, "num_hidden_layers": 32,
                 "num_attention_heads": 48, "max_position_embeddings": 4096, "tie_word_embeddings": False},
    # OlmoConfig (transformers models/olmo/configuration_olmo.py, "similar to allenai/OLMo-7B-hf"): vocab_size=50304,
    # hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
    # max_position_embeddings=2048, tie_word_embeddings=False
    "olmo": {"vocab_size": 50304, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
             "num_attention_heads": 32, "max_position_embeddings": 2048, "tie_word_embeddings": False},
    # FlexOlmoConfig (transformers models/flex_olmo/modular_flex_olmo.py; vLLM's transformers_utils/configs/
    # flex_olmo.py the same): vocab_size=100352, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
    # num_attention_heads=32, max_position_embeddings=4096, num_experts=7, num_experts_per_tok=5,
    # tie_word_embeddings=False; OLMoE's reader, which flex_olmo is read as, would otherwise refuse a missing one
    "flex_olmo": {"vocab_size": 100352, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "max_position_embeddings": 4096, "num_experts": 7,
                  "num_experts_per_tok": 5, "tie_word_embeddings": False},
    # VaultGemmaConfig (transformers models/vaultgemma/configuration_vaultgemma.py, Gemma2Config's defaults):
    # vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26, num_attention_heads=8,
    # num_key_value_heads=4, head_dim=256, max_position_embeddings=8192, sliding_window=4096,
    # tie_word_embeddings=True; layer_types None alternates sliding and full from layer 0 (_layer_types)
    "vaultgemma": {"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
                   "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                   "max_position_embeddings": 8192, "sliding_window": 4096, "tie_word_embeddings": True},
    # PaddleOCRTextConfig (transformers models/paddleocr_vl/configuration_paddleocr_vl.py, ERNIE-4.5-0.3B's sizes):
    # vocab_size=103424, hidden_size=1024, intermediate_size=3072, num_hidden_layers=18, num_attention_heads=16,
    # num_key_value_heads=2, head_dim=128, max_position_embeddings=131072, use_bias=False; tie_word_embeddings is
    # the wrapper's (WRAPPER_TIES)
    "paddleocr_vl_text": {"vocab_size": 103424, "hidden_size": 1024, "intermediate_size": 3072,
                          "num_hidden_layers": 18, "num_attention_heads": 16, "num_key_value_heads": 2,
                          "head_dim": 128, "max_position_embeddings": 131072, "use_bias": False,
                          "tie_word_embeddings": True},
    # HunYuanVLTextConfig (models/hunyuan_vl/configuration_hunyuan_vl.py, HunYuanDenseV1Config's fields):
    # vocab_size=290943, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
    # num_key_value_heads None (the query heads), max_position_embeddings=2048, attention_bias=False, head_dim None
    # (hidden / heads), tie_word_embeddings=True (the head's flag: HunYuanVLConfig copies it over its own). use_qk_norm
    # true: HunYuanDenseV1Attention builds query_layernorm and key_layernorm whatever a file says (vLLM by
    # use_qk_norm; _hunyuan_vl_keys refuses a false one)
    "hunyuan_vl_text": {"vocab_size": 290943, "hidden_size": 4096, "intermediate_size": 11008,
                        "num_hidden_layers": 32, "num_attention_heads": 32, "max_position_embeddings": 2048,
                        "attention_bias": False, "tie_word_embeddings": True, "use_qk_norm": True},
    "afmoe": {"head_dim": 128},        # src/transformers/models/afmoe/configuration_afmoe.py (v5): head_dim=128
    # MiMoV2FlashConfig (transformers models/mimo_v2_flash, and the release's remote configuration_mimo_v2_flash.py):
    # head_dim=192, v_head_dim=128, tie_word_embeddings=False
    "mimo_v2_flash": {"head_dim": 192, "v_head_dim": 128, "tie_word_embeddings": False},
    # No head_dim default (the attention takes getattr(config, "head_dim", hidden_size // num_attention_heads), or
    # always hidden / heads), so hidden / heads is already right: llama, mistral, mixtral, arcee, minimax (None),
    # qwen3_vl_moe_text (None), and no key at all in qwen2, qwen2_moe, qwen3_moe, qwen2_5_vl_text,
    # qwen2_5_omni_text, qwen3_omni_moe_text (the Omni configs' 128 and 64 are their talkers'), olmo2, olmo3, phi3,
    # glm4_moe, glm4v_moe_text, exaone4, exaone_moe, dots1, ernie4_5_moe, olmoe, granitemoe, granitemoeshared,
    # granitemoehybrid, bamba, phimoe, apertus, cohere, starcoder2, mllama, stablelm, falcon, gpt2, dbrx; cohere2
    # sets hidden // heads itself. qwen3_vl_text's 128 (configuration_qwen3_vl.py) is qwen3's, which it is read as.
    "minicpm3": {"tie_word_embeddings": True},
    # GPT2Config(n_positions=1024): the rows of its learned position table (wpe), and so its longest context
    "gpt2": {"tie_word_embeddings": True, "n_positions": 1024},
    # GPTBigCodeConfig (transformers configuration_gpt_bigcode.py): multi_query=True, add_cross_attention=False,
    # n_positions=1024 (wpe's rows), tie_word_embeddings=True (save_pretrained leaves the last out: SantaCoder's
    # file has no tie_word_embeddings)
    "gpt_bigcode": {"tie_word_embeddings": True, "multi_query": True, "add_cross_attention": False,
                    "n_positions": 1024},
    # GPTNeoXConfig (transformers configuration_gpt_neox.py): tie_word_embeddings=False, attention_bias=True,
    # use_parallel_residual=True; rotary_pct=0.25 (v5: rope_parameters' partial_rotary_factor, from rotary_pct, 0.25
    # where neither is given) is read by _gpt_neox_keys
    "gpt_neox": {"tie_word_embeddings": False, "attention_bias": True, "use_parallel_residual": True},
    # OPTConfig (transformers configuration_opt.py): max_position_embeddings=2048, do_layer_norm_before=True,
    # _remove_final_layer_norm=False, enable_bias=True, layer_norm_elementwise_affine=True, tie_word_embeddings=True
    # (word_embed_proj_dim=None is hidden_size: read by _opt_keys)
    "opt": {"tie_word_embeddings": True, "max_position_embeddings": 2048, "do_layer_norm_before": True,
            "_remove_final_layer_norm": False, "enable_bias": True, "layer_norm_elementwise_affine": True},
    # GPTJConfig, CodeGenConfig: n_positions=2048, tie_word_embeddings=False; rotary_dim=64 is read by _gptj_keys (a
    # null there is transformers' "the whole head", not the default)
    "gptj": {"tie_word_embeddings": False, "n_positions": 2048},
    "codegen": {"tie_word_embeddings": False, "n_positions": 2048},
    # BloomConfig passes no tie_word_embeddings (PretrainedConfig's True)
    "bloom": {"tie_word_embeddings": True},
    # MptConfig(expansion_ratio=4, max_seq_len=2048, no_bias=True); MptForCausalLM ties lm_head to wte
    # (PretrainedConfig's tie_word_embeddings=True)
    "mpt": {"tie_word_embeddings": True, "expansion_ratio": 4, "max_seq_len": 2048, "no_bias": True},
    # GPTNeoConfig(max_position_embeddings=2048, attention_types=[[["global", "local"], 12]], window_size=256);
    # tie_word_embeddings PretrainedConfig's True
    "gpt_neo": {"tie_word_embeddings": True, "max_position_embeddings": 2048, "window_size": 256,
                "attention_types": [[["global", "local"], 12]]},
    # FalconConfig (transformers models/falcon/configuration_falcon.py): multi_query=True, parallel_attn=True,
    # tie_word_embeddings=True; num_kv_heads None is num_attention_heads (read by _conventional). A file without
    # multi_query was read as MHA (Falcon-7B 8.225 B parameters, not 6.922; the fuzz script's --drops pass found it)
    "falcon": {"tie_word_embeddings": True, "multi_query": True},
    # Jais2Config (transformers models/jais2/modular_jais2.py; vLLM's jais2.py reads transformers' class): the Jais-2-8B
    # shape, attention_bias=True, mlp_bias=True, tie_word_embeddings=False; num_key_value_heads None is the query heads
    "jais2": {"vocab_size": 150272, "hidden_size": 3328, "intermediate_size": 26624, "num_hidden_layers": 32,
              "num_attention_heads": 26, "max_position_embeddings": 8192, "attention_bias": True, "mlp_bias": True,
              "tie_word_embeddings": False},
    # GraniteSWAConfig (transformers models/granite_swa/modular_granite_swa.py; vLLM's granite_swa.py reads it): the
    # granite-swash-2b shape, sliding_window=128, a tied head; GraniteConfig's attention_bias=False, mlp_bias=False.
    # layer_types None is every fourth layer full from layer 0 (_granite_swa_keys)
    "granite_swa": {"vocab_size": 100352, "hidden_size": 2560, "intermediate_size": 8192, "num_hidden_layers": 24,
                    "num_attention_heads": 20, "num_key_value_heads": 4, "max_position_embeddings": 8192,
                    "tie_word_embeddings": True, "sliding_window": 128, "attention_bias": False, "mlp_bias": False},
    # RWConfig (vLLM's vllm/transformers_utils/configs/falcon.py, adapted from tiiuae/falcon-7b's configuration_RW.py;
    # TGI's flash_rw_modeling.py RWConfig and PaddleNLP's RefinedWeb copy the same): parallel_attn=False, bias=False,
    # alibi=False, where FalconConfig's parallel_attn is True. multi_query is not here: vLLM's RWConfig defaults it to
    # True, TGI's and PaddleNLP's to False (_refinedweb_keys asks the file for it; None here hides FalconConfig's True)
    **dict.fromkeys(("refinedweb", "refinedwebmodel"), {"parallel_attn": False, "bias": False, "alibi": False,
                                                        "multi_query": None}),
    "cohere": {"tie_word_embeddings": True},                        # CohereConfig(tie_word_embeddings=True)
    # Cohere2Config(tie_word_embeddings=True, sliding_window=4096, sliding_window_pattern=4)
    "cohere2": {"tie_word_embeddings": True, "sliding_window": 4096},
    # HYV3Config (transformers models/hy_v3/configuration_hy_v3.py; vLLM's own HYV3Config, the same sizes): the Hy3
    # shape, head_dim 128 (not 4096 / 64 = 64), 8 K/V heads, an untied head; qk_norm, expert_hidden_dim and
    # first_k_dense_replace as vLLM's class defaults them (transformers has no such keys: it builds the q/k norms and
    # one dense layer whatever they say)
    "hy_v3": {"vocab_size": 120832, "hidden_size": 4096, "intermediate_size": 13312, "num_hidden_layers": 80,
              "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072,
              "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False, "num_experts": 192,
              "num_experts_per_tok": 8, "num_shared_experts": 1, "moe_intermediate_size": 1536,
              "expert_hidden_dim": 1536, "qk_norm": True},
    # Cohere2MoeConfig (transformers models/cohere2_moe/configuration_cohere2_moe.py; vLLM and SGLang read
    # transformers' class): head_dim=128 whatever hidden / heads is (Command A+: 4096 / 128 = 32), a tied head, a
    # 4096-token window on three layers of four, the dense prefix's own pattern 1; num_key_value_heads None is the
    # query heads (no default here). The sizes are the class's, not a release's
    "cohere2_moe": {"vocab_size": 256000, "hidden_size": 8192, "intermediate_size": 22528, "num_hidden_layers": 40,
                    "num_attention_heads": 64, "head_dim": 128, "max_position_embeddings": 8192,
                    "tie_word_embeddings": True, "attention_bias": False, "sliding_window": 4096,
                    "num_experts_per_tok": 2, "num_experts": 8, "num_shared_experts": 0,
                    "prefix_dense_sliding_window_pattern": 1, "sliding_window_pattern": 4},
    # SmolLM3Config(tie_word_embeddings=True): save_pretrained writes the key only when it differs from the default,
    # so the tied checkpoints' config.json has none
    "smollm3": {"tie_word_embeddings": True},
    # Starcoder2Config passes no tie_word_embeddings (PretrainedConfig's True) and has use_bias=True
    "starcoder2": {"tie_word_embeddings": True, "use_bias": True},
    # Exaone4Config(sliding_window=4096, sliding_window_pattern=4, tie_word_embeddings=False)
    "exaone4": {"sliding_window_pattern": 4},
    # ExaoneMoeConfig (transformers models/exaone_moe, K-EXAONE): Exaone4Config's pattern default (4), one shared
    # expert (its first_k_dense_replace=1 default is _lite_dense_layers')
    "exaone_moe": {"sliding_window_pattern": 4, "num_shared_experts": 1},
    # ApertusConfig(qk_norm=True, hidden_act="xielu", tie_word_embeddings=False)
    "apertus": {"qk_norm": True},
    # NemotronHConfig(use_conv_bias=True, use_bias=False, mamba_ssm_cache_dtype="float32"); the attention head width a
    # config leaves out is 128 in every NemotronHConfig: NVIDIA's remote configuration_nemotron_h.py of the Nemotron-H
    # releases (attention_head_dim=128; vLLM's copy vllm/transformers_utils/configs/nemotron_h.py) and of Nemotron 3
    # (head_dim=128; SGLang's NemotronHConfig, nvidia-cosmos/cosmos-rl nemotron_vl_overwrite/configuration_nemotron_h.py),
    # transformers v5's NemotronHConfig (head_dim=128). The attention (vLLM nemotron_h.py NemotronHAttention) takes
    # hidden / heads only where the config object's head_dim is None, which the class default never is: a
    # Nemotron-Nano-9B-v2 config without the key has heads of 128, not 4480 / 40 = 112. The shared expert of an "E"
    # block a config leaves out is moe_shared_expert_intermediate_size=7688 (transformers configuration_nemotron_h.py
    # and vLLM's NemotronHConfig; both NemotronHMoE build it from that key): read as none, a MoE pattern lost a
    # shared expert (Nemotron 3 Super without the key: 118.91 B parameters for 121.43 B)
    "nemotron_h": {"use_conv_bias": True, "use_bias": False, "mamba_ssm_cache_dtype": "float32",
                   "attention_head_dim": 128, "moe_shared_expert_intermediate_size": 7688},
    # GraniteMoeHybridConfig and BambaConfig(mamba_conv_bias=True, mamba_proj_bias=False)
    "granitemoehybrid": {"mamba_conv_bias": True, "mamba_proj_bias": False},
    "bamba": {"mamba_conv_bias": True, "mamba_proj_bias": False},
    # FalconH1Config (transformers configuration_falcon_h1.py): mamba_n_heads=128, mamba_n_groups=1, mamba_d_state=256,
    # mamba_d_conv=4, mamba_expand=2, mamba_chunk_size=256, mamba_conv_bias=True, mamba_proj_bias=False,
    # mamba_rms_norm=False, projectors_bias=False, num_key_value_heads=8, tie_word_embeddings=False. mamba_d_ssm
    # (1024) and mamba_d_head ("auto") are not here: a null mamba_d_ssm means mamba_expand x hidden_size, not the
    # class default (_falcon_h1_mamba)
    "falcon_h1": {"mamba_n_heads": 128, "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4,
                  "mamba_expand": 2, "mamba_chunk_size": 256, "mamba_conv_bias": True, "mamba_proj_bias": False,
                  "mamba_rms_norm": False, "projectors_bias": False, "num_key_value_heads": 8,
                  "tie_word_embeddings": False},
    # JambaConfig (transformers configuration_jamba.py): tie_word_embeddings=False, attn_layer_period=8,
    # attn_layer_offset=4, expert_layer_period=2, expert_layer_offset=1, num_experts=16, num_experts_per_tok=2,
    # mamba_d_state=16, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank="auto", mamba_conv_bias=True,
    # mamba_proj_bias=False, max_position_embeddings=262144, num_key_value_heads=8 (not the query heads: a file without
    # the key was read as 32 K/V heads, MHA, 51.67 B parameters and 4x the KV)
    # MambaConfig and FalconMambaConfig (transformers): vocab_size=50280, hidden_size=768, state_size=16,
    # num_hidden_layers=32, expand=2, conv_kernel=4, use_bias=False, use_conv_bias=True, time_step_rank="auto",
    # tie_word_embeddings=True (PretrainedConfig's; FalconMambaConfig's dataclass field)
    **dict.fromkeys(("mamba", "falcon_mamba"), {
        "vocab_size": 50280, "hidden_size": 768, "state_size": 16, "num_hidden_layers": 32, "expand": 2,
        "conv_kernel": 4, "use_bias": False, "use_conv_bias": True, "time_step_rank": "auto",
        "tie_word_embeddings": True}),
    # Mamba2Config (transformers): num_heads=128, head_dim=64, vocab_size=32768, hidden_size=4096, state_size=128,
    # num_hidden_layers=64, expand=2, conv_kernel=4, n_groups=8, use_bias=False, use_conv_bias=True, rms_norm=True,
    # chunk_size=256, tie_word_embeddings=False
    "mamba2": {"num_heads": 128, "head_dim": 64, "vocab_size": 32768, "hidden_size": 4096, "state_size": 128,
               "num_hidden_layers": 64, "expand": 2, "conv_kernel": 4, "n_groups": 8, "use_bias": False,
               "use_conv_bias": True, "rms_norm": True, "chunk_size": 256, "tie_word_embeddings": False},
    "jamba": {"tie_word_embeddings": False, "attn_layer_period": 8, "attn_layer_offset": 4, "expert_layer_period": 2,
              "expert_layer_offset": 1, "num_experts": 16, "num_experts_per_tok": 2, "mamba_d_state": 16,
              "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": "auto", "mamba_conv_bias": True,
              "mamba_proj_bias": False, "max_position_embeddings": 262144, "num_key_value_heads": 8},
    # Ernie4_5_MoeConfig(tie_word_embeddings=True, use_bias=False, moe_num_shared_experts=2, moe_layer_start_index=1,
    # moe_layer_end_index=-1 (the last layer), moe_layer_interval=1): the ERNIE-4.5-21B-A3B values
    "ernie4_5_moe": {"tie_word_embeddings": True, "use_bias": False, "moe_num_shared_experts": 2,
                     "moe_layer_start_index": 1, "moe_layer_end_index": -1, "moe_layer_interval": 1},
    # MiniMaxM1Config / MiniMaxText01Config (the release's remote code) and transformers MiniMaxConfig:
    # tie_word_embeddings=False
    # Lfm2Config (transformers src/transformers/models/lfm2/configuration_lfm2.py): vocab_size=65536, hidden_size=2560,
    # intermediate_size=12288, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
    # max_position_embeddings=128000, tie_word_embeddings=True, conv_bias=False, conv_L_cache=3, block_multiple_of=256,
    # block_auto_adjust_ff_dim=True (block_ffn_dim_multiplier=1.0 is no default here: a null in the file is None there,
    # which changes the width; _lfm2_ffn takes 1.0 only where the key is absent)
    "lfm2": {"vocab_size": 65536, "hidden_size": 2560, "intermediate_size": 12288, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 128000,
             "tie_word_embeddings": True, "conv_bias": False, "conv_L_cache": 3, "block_multiple_of": 256,
             "block_auto_adjust_ff_dim": True},
    # Lfm2MoeConfig (transformers models/lfm2_moe/configuration_lfm2_moe.py): vocab_size=65536, hidden_size=2048,
    # intermediate_size=7168, moe_intermediate_size=1792, num_hidden_layers=32, num_attention_heads=32,
    # num_key_value_heads=8, max_position_embeddings=128000, tie_word_embeddings=True, conv_bias=False, conv_L_cache=3,
    # num_dense_layers=2, num_experts_per_tok=4, num_experts=32
    "lfm2_moe": {"vocab_size": 65536, "hidden_size": 2048, "intermediate_size": 7168, "moe_intermediate_size": 1792,
                 "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                 "max_position_embeddings": 128000, "tie_word_embeddings": True, "conv_bias": False,
                 "conv_L_cache": 3, "num_dense_layers": 2, "num_experts_per_tok": 4, "num_experts": 32},
    "minimax_m1": {"tie_word_embeddings": False},
    "minimax_text_01": {"tie_word_embeddings": False},
    "minimax": {"tie_word_embeddings": False},
    # HunYuanMoEV1Config (transformers): HunYuanMoEV1Moe always builds one shared MLP of intermediate_size beside
    # the experts, i.e. use_mixed_mlp_moe with num_shared_expert 1 in the remote code's terms
    "hunyuan_v1_moe": {"use_mixed_mlp_moe": True, "num_shared_expert": 1},
    # ChatGLMConfig (THUDM's remote code, configuration_chatglm.py): add_bias_linear=False, add_qkv_bias=False,
    # multi_query_attention=False, multi_query_group_num=1; the output_layer is its own matrix, never tied
    "chatglm": {"add_bias_linear": False, "add_qkv_bias": False, "multi_query_attention": False,
                "multi_query_group_num": 1, "tie_word_embeddings": False},
    # GlmConfig and Glm4Config (transformers): partial_rotary_factor=0.5, head_dim=128, attention_bias=True,
    # tie_word_embeddings=False; GlmConfig(num_key_value_heads=2), not one K/V head a query head (a glm file without
    # the key was read as MHA, 32 K/V heads: 10,658,549,760 parameters for 9,399,951,360)
    "glm": {"partial_rotary_factor": 0.5, "head_dim": 128, "attention_bias": True, "tie_word_embeddings": False,
            "num_key_value_heads": 2},
    # Glm4Config(num_key_value_heads=2) too, not one K/V head a query head (a file without the key was read as MHA)
    "glm4": {"partial_rotary_factor": 0.5, "head_dim": 128, "attention_bias": True, "tie_word_embeddings": False,
             "num_key_value_heads": 2},
    # Glm4vTextConfig and GlmOcrTextConfig have no head_dim (Glm4vTextAttention: hidden_size // num_attention_heads;
    # GlmOcrTextAttention: getattr(config, "head_dim", hidden_size // num_attention_heads)), not Glm4Config's 128;
    # GlmOcrTextAttention's q/k/v have no biases (bias=False), Glm4Config's default true is not theirs. K/V heads:
    # Glm4vTextConfig(num_key_value_heads=2), GlmOcrTextConfig's 8 (an explicit null is the query head count in
    # both, _glm_v_text_keys)
    "glm4v_text": {"head_dim": None},
    "glm_ocr_text": {"head_dim": None, "attention_bias": False, "num_key_value_heads": 8},
    # DbrxConfig (transformers): d_model=2048, n_heads=16, n_layers=24, max_seq_len=2048, vocab_size=32000,
    # tie_word_embeddings=False; the nested blocks' defaults are DBRX_ATTN_DEFAULTS and DBRX_FFN_DEFAULTS
    "dbrx": {"d_model": 2048, "n_heads": 16, "n_layers": 24, "max_seq_len": 2048, "vocab_size": 32000,
             "tie_word_embeddings": False},
    # GraniteMoeSharedConfig(shared_intermediate_size=0): no shared MLP unless a width is given
    "granitemoeshared": {"shared_intermediate_size": 0},
    # QWenConfig (Qwen-1's remote code, configuration_qwen.py): kv_channels=128, rotary_pct=1.0, no_bias=True,
    # intermediate_size=22016, tie_word_embeddings=False (lm_head is its own matrix)
    "qwen": {"kv_channels": 128, "rotary_pct": 1.0, "no_bias": True, "tie_word_embeddings": False},
    # PhimoeConfig (transformers): attention_bias=False, lm_head_bias=False, tie_word_embeddings=False (Phi-3.5-MoE's
    # file sets both biases true); num_key_value_heads=8 (vLLM's PhiMoEConfig the same): a file without it was read as
    # MHA, 42.68 B parameters and 4x the KV (the fuzz script's --drops pass)
    "phimoe": {"attention_bias": False, "tie_word_embeddings": False, "num_key_value_heads": 8},
    # BaichuanConfig (Baichuan's remote code, configuration_baichuan.py): tie_word_embeddings=False
    "baichuan": {"tie_word_embeddings": False},
    # ExaoneConfig (EXAONE-3.0/3.5's remote code, configuration_exaone.py) passes no tie_word_embeddings
    # (PretrainedConfig's True: EXAONE-3.5-2.4B's file has no key and is tied), activation_function="silu"
    "exaone": {"tie_word_embeddings": True, "activation_function": "silu"},
    # Step3TextConfig (StepFun's configuration_step3.py for stepfun-ai/step3; vLLM's copy
    # vllm/transformers_utils/configs/step3_vl.py): the Step-3 card's sizes (61 layers, 7168, 64 query heads of 256,
    # one K/V head, share_q_dim 2048, 48 experts of 5120 top 3, one shared expert of 5120, layers 4 to 59 MoE). Its
    # head is its own matrix (vLLM's Step3TextForCausalLM builds lm_head apart and never ties it)
    "step3_text": {"hidden_size": 7168, "intermediate_size": 18432, "num_attention_heads": 64,
                   "num_attention_groups": 1, "num_hidden_layers": 61, "max_seq_len": 65536, "vocab_size": 128815,
                   "moe_intermediate_size": 5120, "moe_num_experts": 48, "moe_top_k": 3,
                   "max_position_embedding": 65536, "share_expert_dim": 5120, "share_q_dim": 2048, "head_dim": 256,
                   "moe_layers_enum": list(range(4, 60)), "tie_word_embeddings": False},
}

# DBRX's nested blocks (transformers DbrxAttentionConfig, DbrxFFNConfig): their size keys, the class default of each
# (used where a block leaves one out, as save_pretrained does for a default value), and the reader's name for it
DBRX_ATTN_DEFAULTS = {"kv_n_heads": 1}
DBRX_FFN_DEFAULTS = {"ffn_hidden_size": 3584, "moe_num_experts": 4, "moe_top_k": 1}
DBRX_NAMES = {"kv_n_heads": "num_key_value_heads", "ffn_hidden_size": "intermediate_size",
              "moe_num_experts": "num_local_experts", "moe_top_k": "num_experts_per_tok"}

# hybrids of Mamba-2 layers and conventional attention (read by _mamba2, _mamba2_layer_types and _ffn)
MAMBA2_HYBRIDS = {"nemotron_h", "granitemoehybrid", "bamba"}
# hybrids of Mamba-1 layers and conventional attention (read by _mamba1, _jamba_layer_types and _jamba_ffn)
MAMBA1_HYBRIDS = {"jamba"}
# attention and a Mamba-2 mixer side by side in every layer (the spec's parallel_mixers; read by _falcon_h1_layers and
# _falcon_h1_mamba): Falcon-H1 (transformers FalconH1DecoderLayer, vLLM FalconH1ParallelHybrid)
PARALLEL_HYBRIDS = {"falcon_h1"}
# hybrids of LFM2's gated short convolutions and GQA (read by _lfm2_keys, _lfm2_layer_types, _short_conv, _lfm2_ffn):
# LFM2 (Lfm2ForCausalLM) and LFM2-MoE (Lfm2MoeForCausalLM)
SHORT_CONV_HYBRIDS = {"lfm2", "lfm2_moe"}
# hybrids of lightning attention and GQA (read by _lightning, _minimax_layer_types and _ffn): MiniMax-M1 and
# MiniMax-Text-01 as released (remote code, attn_type_list), and transformers' own MiniMax (layer_types)
LIGHTNING_HYBRIDS = {"minimax_m1", "minimax_text_01", "minimax"}
# Tencent Hunyuan (vLLM hunyuan_v1.py for both): the released remote-code configs (model_type hunyuan: Hunyuan-A13B,
# Hunyuan-7B, Hunyuan-Large) and transformers' hunyuan_v1_moe; per-layer lists of MoE sizes read when uniform
HUNYUAN = {"hunyuan", "hunyuan_v1_moe"}
# Hunyuan keys that may be one value a layer (vLLM HunYuanDecoderLayer / HunYuanSparseMoeBlock take [layer_id])
HUNYUAN_LISTS = ("moe_topk", "moe_intermediate_size", "num_shared_expert", "num_experts", "intermediate_size")
CONVENTIONAL = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
                "gemma3_text", "olmo2", "gpt_oss", "llama4_text", "mllama", "qwen3_next", "gpt2", "falcon",
                "phi3", "glm4_moe", "minimax_m2", "cohere", "cohere2", "internlm2", "stablelm", "starcoder2", "minicpm",
                "deepseek", "seed_oss", "olmo3", "apertus", "exaone4", "ernie4_5", "dots1", "bailing_moe",
                "bailing_moe_v2", "arcee", "ernie4_5_moe", "chatglm", "glm", "glm4", "olmoe", "granitemoe",
                "granitemoeshared", "dbrx", "internlm3", "qwen", "baichuan", "phimoe", "exaone", "afmoe",
                "exaone_moe", "mimo_v2_flash", "step3_text", "step3p5", "gemma3n_text", "gpt_neox", "gpt_bigcode",
                "hy_v3", "cohere2_moe"} \
    | MAMBA2_HYBRIDS | MAMBA1_HYBRIDS | LIGHTNING_HYBRIDS | HUNYUAN | PARALLEL_HYBRIDS | SHORT_CONV_HYBRIDS
# Llama-Nemotron's NAS decoders (DeciLMForCausalLM): Llama's blocks, sized layer by layer by block_configs
# (_nemotron_nas_keys)
CONVENTIONAL |= {"nemotron-nas"}
# Apple's OpenELM: Llama's block with each layer's own heads and FFN width (_openelm_keys)
CONVENTIONAL |= {"openelm"}
# Microsoft Phi-1, Phi-1.5, Phi-2 (PhiForCausalLM): attention and MLP side by side under one LayerNorm (_phi_keys)
CONVENTIONAL |= {"phi"}
# NVIDIA Nemotron-4/Minitron (NemotronForCausalLM: LayerNorm1P with bias, a relu2 MLP without gate, partial RoPE;
# _nemotron_keys), OLMo-1 (OlmoForCausalLM: LayerNorms without parameters; _olmo_keys), Google VaultGemma
# (VaultGemmaForCausalLM: Gemma-2's block without its post-attention and post-feedforward norms)
CONVENTIONAL |= {"nemotron", "olmo", "vaultgemma"}
# the decoders of 2021-2023 (docs/zoo-facts.md section 32): OPT, GPT-J, CodeGen, BLOOM, MPT, GPT-Neo
LEGACY = ("opt", "gptj", "codegen", "bloom", "mpt", "gpt_neo")
CONVENTIONAL |= set(LEGACY)
# MiniMax-M3's text decoder (MiniMaxM3VLTextConfig, the minimax_m3_vl wrapper's text_config; docs/zoo-facts.md
# section 39): GQA with MiniMax Sparse Attention on the layers sparse_attention_freq marks, read by _minimax_m3_keys
MINIMAX_M3 = "minimax_m3_vl_text"
M3_ARCHITECTURE = "MiniMaxM3SparseForCausalLM"         # its text_config's architectures (the release's)
CONVENTIONAL |= {MINIMAX_M3}
# the 2025-2026 decoders of docs/zoo-facts.md section 35: Jais-2 (Jais2ForCausalLM: Llama's attention, NemotronMLP,
# LayerNorms; _jais2_keys) and Granite-SWA (GraniteSWAForCausalLM: Granite with sliding layers and attention sinks;
# _granite_swa_keys)
CONVENTIONAL |= {"jais2", "granite_swa"}
# Gemma-4 (Gemma4TextConfig; _gemma4_keys, docs/zoo-facts.md section 37)
CONVENTIONAL |= {"gemma4_text"}
LATENT = {"deepseek_v2", "deepseek_v3", "kimi_k2", "minicpm3", "deepseek_v32", "glm_moe_dsa", "kimi_linear",
          "glm4_moe_lite", "longcat_flash"}
# models of state-space layers alone, one RMSNorm and one mixer a layer, no attention, no MLP (read by _state_space)
STATE_SPACE = {"mamba", "falcon_mamba", "mamba2"}
# DeepSeek-V4 (V4-Flash, V4-Pro): compressed attention, mHC, hash-routed MoE (read whole by _deepseek_v4; refused by
# name before docs/zoo-facts.md section 36)
COMPRESSED = {"deepseek_v4"}
KNOWN = CONVENTIONAL | LATENT | STATE_SPACE | COMPRESSED

# model_types whose configs parse but whose architecture the spec cannot describe
REFUSED = {
    # LongCat-Flash-Lite (LongcatFlashNgramForCausalLM): LongCat-Flash's layers behind an n-gram embedding
    "longcat_flash_ngram": "LongCat-Flash-Lite's n-gram embedding tables (ngram_vocab_size_ratio, emb_split_num, "
                           "emb_neighbor_num beside the token embedding) are not modelled",
    "hymba": "Hymba's hybrid-head layers (attention and Mamba heads fused within a layer, learnable meta tokens "
              "prepended to every sequence, K/V shared across layer pairs) are not read",
    "zamba": "Mamba layers with a shared attention block are not modelled",
    "zamba2": "Mamba-2 layers with shared attention blocks are not modelled",
    # found in the zoo audit of real configs (docs/zoo-facts.md section 6)
    # the spec has per-layer heads since (attention.layer_heads), but no DeciLM-7B config was found to check a reading
    # of num_key_value_heads_per_layer against (docs/zoo-facts.md section 28)
    "deci": "DeciLM's per-layer K/V heads (num_key_value_heads_per_layer) are not read: no released config was "
            "available to check the reading against",
    # the seventh round (docs/zoo-facts.md section 10)
    "phi4flash": "SambaY's decoder-hybrid-decoder (Phi-4-mini-flash: Mamba and sliding-window layers, then gated "
                 "memory units that reuse one layer's KV cache instead of attention) is not modelled",
    # the tenth round (docs/zoo-facts.md section 13)
    "jetmoe": "JetMoE's mixture of attention heads (MoA: each token's query and output projections come from "
              "num_experts_per_tok of num_local_experts attention experts over shared K/V heads) is not modelled",
    # the breadth audit (docs/zoo-facts.md section 29; Gemma-4 and DeepSeek-V4, refused there, are read since sections
    # 37 and 36)
    # the 2025-2026 wrappers (docs/zoo-facts.md section 33). Ernie4_5_VLMoeTextConfig (transformers
    # models/ernie4_5_vl_moe/modular_ernie4_5_vl_moe.py): each MoE layer holds two Ernie4_5_VLMoeSparseMoeBlock, text
    # experts of moe_intermediate_size[0] (1536) and vision experts of moe_intermediate_size[1] (512), each with its
    # own router, beside the shared experts; tokens are routed by modality. The spec has one expert set a layer; the
    # vision experts (64 x 3 x 2560 x 512 a layer in the 28B) are resident weights, not a tower. Baidu's remote code
    # (vLLM ernie45_vl.py) names the same model ernie4_5_moe_vl
    "ernie4_5_vl_moe_text": "ERNIE-4.5-VL's modality-isolated MoE (text experts and vision experts of their own "
                            "widths, moe_intermediate_size a list, and routers in every MoE layer) is not modelled",
    "ernie4_5_moe_vl": "ERNIE-4.5-VL's modality-isolated MoE (text experts and vision experts of their own widths, "
                       "moe_intermediate_size a list, and routers in every MoE layer) is not modelled",
    # GlmImageForConditionalGeneration (transformers models/glm_image/modular_glm_image.py; vLLM glm_image.py the
    # same): GLM-4.1V's text decoder whose lm_head is nn.Linear(hidden_size, vision_vocab_size), 16512 image-token
    # rows beside an embedding of vocab_size (168064) rows: an autoregressive image-token generator before a
    # diffusion decoder. The spec's head has the embedding's rows
    "glm_image_text": "GLM-Image's output head over vision_vocab_size image tokens, narrower than its embedding of "
                      "vocab_size rows, is not modelled",
    # HrmTextConfig (models/hrm_text/configuration_hrm_text.py, HRM-Text-1B): an H stack and an L stack of
    # num_layers_per_stack layers each, run H_cycles x (L_cycles + 1) times a token, each run caching its own K/V
    # ("num_hidden_layers is then rewritten to num_layers_per_stack * H_cycles * (L_cycles + 1) so that DynamicCache
    # pre-allocates one slot per unique attention invocation"): weights of 2 stacks, KV of many more layers
    "hrm_text": "HRM's recurrent H and L stacks (layers run H_cycles x (L_cycles + 1) times a token, each run caching "
                "its own K/V) are not modelled",
    # the survey of docs/zoo-facts.md section 35: decoders of 2025-2026 (and three older ones) whose classes were read
    # (transformers models/<type>/modular_<type>.py and blocks.json; vLLM's model file where it has one) and which the
    # spec cannot describe, or which no released file was found to check a reading against. Each was refused before
    # on its first unknown key, which named a key rather than the reason
    "granitemoe_swa": "Granite-SWA-MoE's experts have no gate (up and down projections only; the spec's experts are "
                      "gated)",
    "zaya": "ZAYA's experts have no gate (the spec's experts are gated)",
    "axk2": "A.X-K2's MLA with an output gate is not modelled (the spec's output gate is conventional attention's)",
    "olmo_hybrid": "OLMo-Hybrid's state-space mixer layers beside OLMo-3's attention layers are not read: no released "
                   "config was found to check a reading against",
    "laguna": "Laguna's query heads that differ by layer type (num_attention_heads_per_layer) under a per-head "
              "output gate, beside a sigmoid-routed MoE after dense mlp_only_layers, are not read: no checkpoint "
              "total was found to check a reading against",
    "hyperclovax": "HyperCLOVA X's Peri-LN block (a norm before and after attention and MLP) on Granite's is not "
                   "read: no released text config was found to check a reading against",
    "axk1": "A.X-K1's extra RMSNorm on each MoE layer's output (post_mlp_layernorm) beside DeepSeek-V3's model is "
            "not read: no released config was found to check a reading against",
    "youtu": "Youtu-LLM's DeepSeek-V3 MLA over a dense MLP is not read: no released config was found to check a "
             "reading against",
    "nanochat": "nanochat's weightless RMSNorms and q/k norms, relu2 MLP and soft-capped logits are not read: no "
                "released config was found to check a reading against",
    # vLLM builds both as LlamaForCausalLM (registry.py); XVERSE-MoE-A4.2B shares XverseForCausalLM with experts
    # vLLM's Llama does not build
    "aquila": "Aquila is not read: vLLM builds it as Llama, but no released config was found to pin the alias by",
    "xverse": "XVERSE is not read: vLLM builds it as Llama (its MoE model shares the architecture name with experts "
              "Llama has not), and no released config was found to pin the alias by",
    # XGLM (XGLMForCausalLM, transformers alone): sinusoidal positions, biased projections and MLP, LayerNorms
    "xglm": "XGLM is not read: no released config.json was found (a printed XGLMConfig only) to check a reading of "
            "its sinusoidal positions and biased layers against",
}

# keys that size the model: whole numbers of at least this minimum where a config gives them (None: not given)
SIZES = {k: 1 for k in (
    "num_hidden_layers", "n_layer", "hidden_size", "n_embd", "vocab_size", "num_attention_heads", "n_head",
    "num_key_value_heads", "num_kv_heads", "head_dim", "intermediate_size", "n_inner", "ffn_hidden_size",
    "intermediate_size_mlp", "moe_intermediate_size", "v_head_dim", "kv_lora_rank", "index_n_heads",
    "index_head_dim", "index_topk", "linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim",
    "linear_value_head_dim", "linear_conv_kernel_dim", "full_attention_interval", "sliding_window",
    "sliding_window_pattern", "_sliding_window_pattern", "attention_chunk_size", "max_position_embeddings",
    "n_positions", "num_ln_in_parallel_attn", "num_heads", "short_conv_kernel_size",
    # Mamba-2 (nemotron_h: mamba_num_heads ...; bamba and granitemoehybrid: mamba_n_heads ...); mamba_d_head may be
    # Bamba's "auto", so _mamba2 checks it
    "mamba_num_heads", "mamba_head_dim", "ssm_state_size", "n_groups", "mamba_n_groups", "conv_kernel",
    "mamba_d_conv", "chunk_size", "mamba_chunk_size", "mamba_n_heads", "mamba_d_state", "mamba_expand", "expand",
    "attention_head_dim", "shared_intermediate_size",
    # Falcon-H1's Mamba-2 inner width (FalconH1Config); mamba_d_head may be "auto", so _falcon_h1_mamba checks it
    "mamba_d_ssm",
    # Jamba (JambaConfig): the attention and expert layers' periods; mamba_dt_rank may be "auto", so _mamba1 checks it
    "attn_layer_period", "expert_layer_period",
    # Mamba, Falcon-Mamba, Mamba-2 (MambaConfig, Mamba2Config); time_step_rank may be "auto", so _dt_rank checks it
    "state_size",
    # ERNIE-4.5 MoE (Ernie4_5_MoeConfig); MiniMax's lightning block (block, block_size)
    "moe_num_experts", "moe_k", "moe_layer_interval", "block", "block_size",
    # Hunyuan (after _hunyuan_lists has made uniform per-layer lists one value)
    "moe_topk", "cla_share_factor",
    # MoE every N-th layer: transformers divides by these (DeepSeek layer % moe_layer_freq, Qwen-MoE (layer + 1) %
    # decoder_sparse_step, Llama-4 range(step - 1, L, step)); 0 was read as 1, a config transformers cannot build
    "moe_layer_freq", "decoder_sparse_step", "interleave_moe_layer_step",
    # Kimi-Linear's context limit (read by _limit): anything but a whole number was skipped without a word, and
    # the context warning with it
    "model_max_length",
    # ChatGLM's own names (ChatGLMConfig), read by _chatglm_keys
    "num_layers", "padded_vocab_size", "multi_query_group_num", "kv_channels", "seq_length",
    # DBRX's top-level names (DbrxConfig), read by _dbrx_keys
    "d_model", "n_layers", "max_seq_len",
    # Arcee's AFMoE (AfmoeConfig): the global-layer period, read by _layer_types
    "global_attn_every_n_layers",
    # LongCat-Flash (LongcatFlashConfig), read by _longcat_keys
    "expert_ffn_hidden_size", "qk_head_dim",
    # StepFun's Step-3 and Step-3.5 (Step3TextConfig, Step3p5Config), read by _step_keys
    "num_attention_groups", "moe_top_k", "share_expert_dim", "max_position_embedding",
    # Gemma-3n (Gemma3nTextConfig), read by _gemma3n_keys and _residual_extras
    "vocab_size_per_layer_input", "altup_num_inputs",
    # LFM2 (Lfm2Config and the release's own keys), read by _lfm2_keys, _short_conv and _lfm2_ffn
    "conv_L_cache", "block_ff_dim", "block_multiple_of", "block_dim", "conv_dim", "conv_dim_out",
    # Hy3 (vLLM's HYV3Config: the experts' width), Cohere2-MoE (Cohere2MoeConfig: the dense prefix's width and window
    # pattern), read by _hy_v3_keys and _cohere2_moe_keys
    "expert_hidden_dim", "prefix_dense_intermediate_size", "prefix_dense_sliding_window_pattern",
    # the 2021-2023 decoders: OPT (ffn_dim, word_embed_proj_dim), BLOOM (n_embed), MPT (n_heads, expansion_ratio)
    "ffn_dim", "word_embed_proj_dim", "n_embed", "n_heads", "expansion_ratio",
    # Nemotron 3 Super's LatentMoE width (NemotronHConfig.moe_latent_size; None: no latent projections)
    "moe_latent_size",
    # DeepSeek-V4 (DeepseekV4Config), read by _deepseek_v4; a compress rate of 0 is refused there, in one line
    "o_groups", "o_lora_rank", "hc_mult")} | {k: 0 for k in (
    "num_hash_layers", "compress_rate_csa", "compress_rate_hca",
    "num_kv_shared_layers", "laurel_rank", "hidden_size_per_layer_input", "altup_active_idx",
    "qk_nope_head_dim", "qk_rope_head_dim", "q_lora_rank", "rotary_dim", "n_routed_experts", "num_local_experts",
    "num_experts", "num_experts_per_tok", "num_experts_per_token", "experts_per_token", "n_shared_experts",
    "num_shared_experts", "shared_expert_intermediate_size", "first_k_dense_replace", "num_nextn_predict_layers",
    "max_window_layers", "moe_shared_expert_intermediate_size", "attn_rotary_emb", "moe_num_shared_experts", "moe_layer_start_index",
    "num_shared_expert", "moe_layer_num_skipped", "num_dense_layers", "zero_expert_num", "share_q_dim",
    "attn_layer_offset", "expert_layer_offset")}
# sizes the reader loops over (one entry per layer) before the spec checks them: the spec's own bounds
MAXIMA = {"num_hidden_layers": MAX_LAYERS, "n_layer": MAX_LAYERS, "num_layers": MAX_LAYERS, "n_layers": MAX_LAYERS}
# keys that hold lists of layer indices (or of layer type names)
INDEX_LISTS = {"no_rope_layers", "cross_attention_layers", "mlp_only_layers", "moe_layers", "full_attn_layers",
               "kda_layers", "attn_layer_indices", "attn_type_list", "decoder_attention_types", "full_attn_idxs",
               "compress_ratios"}
NAME_LISTS = {"layer_types", "indexer_types", "layers_block_type", "mlp_layer_types", "mtp_layers_block_type"}
# switches read as true/false: a string such as "no" or "false" was taken by truthiness (tie_word_embeddings "no"
# tied the head, silently a different parameter count) or as false by `is True` (attention_bias "true")
SWITCHES = {"tie_word_embeddings", "attention_bias", "mlp_bias", "use_bias", "bias", "use_qkv_bias",
            "attention_out_bias", "use_qk_norm", "use_sliding_window", "multi_query", "new_decoder_architecture",
            "alibi", "use_parallel_residual", "parallel_attn", "qk_layernorm", "attn_output_gate", "use_conv_bias",
            "mamba_conv_bias", "mamba_proj_bias", "use_cla", "use_mixed_mlp_moe", "add_qkv_bias", "add_bias_linear",
            "multi_query_attention", "qkv_bias", "no_bias", "use_head_wise_attn_gate", "rms_norm", "mamba_rms_norm",
            "projectors_bias", "conv_bias", "block_auto_adjust_ff_dim", "use_expert_bias", "tie_embedding",
            "add_cross_attention", "qk_norm", "enable_bias", "do_layer_norm_before",
            "layer_norm_elementwise_affine", "_remove_final_layer_norm"}

# keys a Llama-shaped config of an unknown model_type may carry: the ones read below and ones that do not change
# sizes (token ids, dropout, initialisation, RoPE frequencies, norm epsilons, bookkeeping)
GENERIC_KEYS = {
    "architectures", "model_type", "torch_dtype", "dtype", "transformers_version", "_name_or_path",
    "bos_token_id", "eos_token_id", "pad_token_id", "attention_dropout", "hidden_dropout", "initializer_range",
    "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters", "use_cache", "pretraining_tp",
    "num_hidden_layers", "hidden_size", "vocab_size", "num_attention_heads", "num_key_value_heads", "head_dim",
    "intermediate_size", "hidden_act", "tie_word_embeddings", "attention_bias", "mlp_bias",
    "max_position_embeddings", "layer_types", "sliding_window", "quantization_config", "quantization",
    "output_attentions",
    "output_hidden_states", "return_dict", "id2label", "label2id", "problem_type", "tokenizer_class",
    # IBM Granite (transformers GraniteConfig): scalar multipliers of the embeddings, residuals, attention scores and
    # logits; they change no size
    "embedding_multiplier", "residual_multiplier", "attention_multiplier", "logits_scaling",
    # SmolLM3 (SmolLM3Config): which layers skip RoPE (no size changes); the Qwen2-style window switch, read by
    # _layer_types (use_sliding_window false: no window; a window without layer_types is refused there)
    "no_rope_layers", "no_rope_layer_interval", "use_sliding_window", "max_window_layers",
}

# model_types read by the generic reader on purpose: Llama's decoder under another name, checked against their
# transformers classes and a release (GraniteConfig: the scalar multipliers above; SmolLM3Config: no_rope_layers and
# a window switched off; tests/test_hf_configs.py test_granite_reads_as_llama_shaped, test_smollm3_...). Not unknown:
# no warning, which any other model_type the generic reader takes gets
LLAMA_SHAPED = {"granite", "smollm3"}

LAYER_NAMES = {"full_attention": "full", "sliding_attention": "sliding", "chunked_attention": "chunked",
               "linear_attention": "linear", "indexed_attention": "full"}


def _refuse(mt: str, feature: str) -> SpecError:
    return SpecError(WHERE, f"model_type {mt}: {feature}")


def _req(cfg: dict, mt: str, *keys: str) -> Any:
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    return _missing(mt, keys[0])


def _missing(mt: str, key: str):
    raise SpecError(WHERE, f"model_type {mt}: has no {key}, which sizes the model")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _name(v: Any) -> bool:
    """Whether ``v`` is text: a string, but not JSON's ``NaN``/``Infinity`` kept as a word (:class:`NonFinite`),
    which is a number where a name was meant (``"model_type": NaN`` was read as the unknown family "nan")."""
    return isinstance(v, str) and not isinstance(v, NonFinite)


def _whole(v: Any, minimum: int) -> bool:
    """Whether ``v`` is a whole number (not a bool) of at least ``minimum``."""
    return isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _pair(v: Any) -> bool:
    """Whether ``v`` is two whole numbers of at least 1 (a block shape)."""
    return isinstance(v, list) and len(v) == 2 and all(_whole(x, 1) for x in v)


def _checked(cfg: dict, mt: str) -> dict:
    """``cfg`` with every size key (:data:`SIZES`) a whole number of at least its minimum (4096.0 becomes 4096),
    every list key (:data:`INDEX_LISTS`, :data:`NAME_LISTS`) a list of whole numbers or of names, and
    ``partial_rotary_factor`` a fraction in [0, 1]; anything else is one line naming the key."""
    out = dict(cfg)
    for key, minimum in SIZES.items():
        v = cfg.get(key)
        if v is None:
            continue
        if isinstance(v, float) and v.is_integer():
            v = out[key] = int(v)
        if not _whole(v, minimum):
            raise SpecError(WHERE, f"model_type {mt}: {key} must be a whole number of at least {minimum}, "
                                   f"got {_show(v)}")
        if key in MAXIMA and v > MAXIMA[key]:
            # the layer pattern is built per layer before the spec's own bound is checked: 10**9 layers took 36 s
            # and 8 GB, 2**63 an OverflowError traceback
            raise SpecError(WHERE, f"model_type {mt}: {key} must be at most {MAXIMA[key]:,}, got {_show(v)}")
    for key in INDEX_LISTS | NAME_LISTS:
        v = cfg.get(key)
        kind = str if key in NAME_LISTS else int
        if v is not None and (not isinstance(v, list) or
                              any(isinstance(x, (bool, NonFinite)) or not isinstance(x, kind) for x in v)):
            what = "names" if kind is str else "whole numbers"
            raise SpecError(WHERE, f"model_type {mt}: {key} must be a list of {what}, got {_show(v)}")
    for key in SWITCHES:
        v = cfg.get(key)
        if v is not None and not isinstance(v, bool):
            raise SpecError(WHERE, f"model_type {mt}: {key} must be true or false, got {_show(v)}")
    f = cfg.get("partial_rotary_factor")
    if f is not None and (isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1):
        raise SpecError(WHERE, f"model_type {mt}: partial_rotary_factor must be a number from 0 to 1, got {_show(f)}")
    # rope_parameters holds transformers 5's partial_rotary_factor (Qwen3.5: 0.25): as a string or a list it was
    # skipped without a word and the whole head read as rotary
    for key in ("quantization_config", "linear_attn_config", "rope_parameters"):
        if cfg.get(key) is not None and not isinstance(cfg[key], dict):
            raise SpecError(WHERE, f"model_type {mt}: {key} must be a mapping, got {_show(cfg[key])}")
    return out


def _text_config(cfg: dict) -> tuple[str, dict, str, dict]:
    """(model_type of the decoder, the decoder's config with the wrapper's dtype/tie/quantization keys and the
    family defaults filled in, a description, the spec's ``excluded`` and ``warnings`` lists: what the numbers leave
    out of the checkpoint (:func:`_excluded`) and what the reading assumed)."""
    top = cfg
    if cfg.get("model_type") is not None and not _name(cfg["model_type"]):
        # model_type 7 was read as the unknown family "7" (Llama-shaped), a silent guess
        raise SpecError(WHERE, f"model_type must be a string, got {_show(cfg['model_type'])}")
    mt = str(cfg.get("model_type") or "").lower()
    archs = cfg.get("architectures") if isinstance(cfg.get("architectures"), list) else []
    if not mt:
        mt = next((ARCHITECTURES[a] for a in archs if isinstance(a, str) and a in ARCHITECTURES), "")
    if not mt:
        raise SpecError(WHERE, "has no model_type (and no architecture this tool knows)")
    via = ""
    if mt == "minimax_m2" and M3_ARCHITECTURE in archs:
        # MiniMax-M3's text_config saved on its own (model_type minimax_m2, as the release writes it inside the
        # wrapper): vLLM's registry builds MiniMaxM3SparseForCausalLM by its architecture (vllm/models/minimax_m3),
        # where transformers would build MiniMax-M2 from the model_type, which cannot load the checkpoint. It was
        # refused by accident on moe_layer_freq, a list where MiniMax-M2's reading checks a number
        mt, via = MINIMAX_M3, f" (read as {MINIMAX_M3}: architecture {M3_ARCHITECTURE}, as vLLM builds it)"
    if cfg.get("text_config") is not None and not isinstance(cfg["text_config"], dict) and \
            (mt not in WRAPPERS or mt in FLAT_WRAPPERS):
        # a text_config of 5 or NaN was skipped and the top-level keys read as the decoder's (a WRAPPERS type says
        # it has none, below; one that may be flat, glm4v, would read its top level)
        raise SpecError(WHERE, f"model_type {mt}: text_config must be a mapping, got {_show(cfg['text_config'])}")
    wrapper = ""
    if mt in DECODER_PATHS:
        wrapper, mt, cfg = mt, *_decoder_at(cfg, mt, DECODER_PATHS[mt])
    elif mt == DEEPSEEK_VL2:
        wrapper, mt, cfg, via = mt, *_deepseek_vl2_decoder(cfg, mt)
    elif mt in FLAT_WRAPPERS and not isinstance(cfg.get("text_config"), dict):
        wrapper, mt = mt, FLAT_WRAPPERS[mt]
    elif mt in WRAPPERS or isinstance(cfg.get("text_config"), dict):
        inner = cfg.get("text_config")
        if not isinstance(inner, dict):
            raise _refuse(mt, "has no text_config")
        inner = dict(inner)
        for k in ("torch_dtype", "dtype", "tie_word_embeddings", "quantization_config"):
            if k not in inner and k in cfg:
                inner[k] = cfg[k]
        if mt in WRAPPER_TIES:          # the wrapper's own, else its class default (WRAPPER_TIES)
            inner["tie_word_embeddings"] = cfg.get("tie_word_embeddings", WRAPPER_TIES[mt])
        keys, why = TOP_LEVEL_SIZES.get(mt, ((), ""))
        for k in keys:
            if k in cfg and cfg[k] != inner.get(k):
                raise _refuse(mt, f"{k} {_show(cfg[k])} at the top level and "
                                  f"{_show(inner[k]) if k in inner else 'none'} in text_config: {why}")
        if inner.get("model_type") is not None and not _name(inner["model_type"]):
            # read as the unknown family "5", then refused for a key it lacked
            raise SpecError(WHERE, f"model_type {mt}: text_config.model_type must be a string, got "
                                   f"{_show(inner['model_type'])}")
        inner_mt = WRAPPERS.get(mt) or str(inner.get("model_type") or "").lower() or TEXT_DEFAULTS.get(mt, "")
        if not inner_mt:
            raise _refuse(mt, "its text_config has no model_type")
        wrapper, mt, cfg = mt, inner_mt, inner
    if mt == "solar_open":
        cfg = _solar_open_keys(cfg, mt)
    read_as = via or (f" (read as {ALIASES[mt]})" if mt in ALIASES else "")
    # an alias's own class defaults over those of the family it is read as (Ministral3Config head_dim=128 over
    # MistralConfig's none)
    defaults = {**DEFAULTS.get(ALIASES.get(mt, mt), {}), **DEFAULTS.get(mt, {})}
    rp = cfg.get("rope_parameters")
    if isinstance(rp, dict) and rp.get("partial_rotary_factor") is not None and \
            cfg.get("partial_rotary_factor") is None:
        # transformers 5 keeps the factor in rope_parameters alone (GLM-OCR's 1.0): a class default of the top-level
        # key (GlmConfig's, Glm4Config's 0.5) hid it, and GLM-OCR's full RoPE was read as half
        defaults.pop("partial_rotary_factor", None)
    named = mt                  # the decoder's own model_type, before an alias renames it
    mt = ALIASES.get(mt, mt)
    description = f"the text decoder of {wrapper}{read_as}; {_left_out(wrapper)}" if wrapper else \
        f"read as {mt}" if read_as else ""
    if not wrapper and mt not in KNOWN and mt not in REFUSED:
        _refuse_unknown_wrapper(cfg, mt)
    _refuse_null_defaults(cfg, mt, named, defaults)
    merged = {**defaults, **{k: v for k, v in cfg.items() if v is not None or k not in defaults}}
    for k, (types, value) in NULL_DERIVED.items():
        if named in types and k in cfg and cfg[k] is None:
            merged[k] = value                      # what the class derives from the null (NULL_DERIVED)
    # what the tool cannot describe is said before any value is checked (EXAONE-4's sliding_window_pattern "LLLG"
    # is not a bad value, its architecture is unknown)
    if mt in REFUSED:
        raise _refuse(mt, REFUSED[mt])
    reading = {"excluded": _excluded(top, wrapper), "warnings": []}
    if mt in LLAMA_SHAPED:
        _check_generic(merged, mt)
        description = description or f"model_type {mt}: Llama's decoder (its own keys change no size), read as llama"
    elif mt not in KNOWN:
        _check_generic(merged, mt)
        # said where the spec is shown (specs show): a model_type never seen was read without a word
        description = description or (f"model_type {mt} is not one this tool knows; read as a Llama-shaped dense "
                                      "model (every key it carries is one a Llama config has)")
        # and by every command that sizes it (stderr, and --json's "warnings"): it was sized as llama with no word
        reading["warnings"].append(f"model_type {mt} is unknown; read as a standard decoder (llama-style fields: "
                                   "every key it carries is one a Llama config has)")
    if mt in ("exaone4", "exaone_moe") and isinstance(merged.get("sliding_window_pattern"), str):
        merged = _exaone_letters(merged, mt)
    if mt == MINIMAX_M3:            # its per-layer lists first: moe_layer_freq is a list here, a number elsewhere
        merged = _minimax_m3_keys(merged, mt)
        description = "; ".join(x for x in (description, MINIMAX_M3_READING) if x)
    if named in GLM_V_TEXT:
        merged = _glm_v_text_keys(_checked(merged, mt), named,
                                  kv_null="num_key_value_heads" in cfg and cfg["num_key_value_heads"] is None)
    reader, by = _key_reader(mt, named)
    if reader is not None:
        merged = reader(_checked(merged, by), by)
    if mt == "gpt_neo":
        description = "; ".join(x for x in (description, _gpt_neo_reading(merged)) if x)
    if mt == "mimo_v2_flash":
        merged = _mimo_v2_flash_keys(merged, mt)
        description = description or MIMO_READING
    if mt in STEP_FAMILY:
        merged = _step_keys(_checked(merged, mt), mt)
        if mt == "step3p5":
            description = "; ".join(x for x in (description, STEP3P5_READING) if x)
    if mt in LIGHTNING_HYBRIDS:
        merged = _minimax_shared(merged, mt)
    if mt in HUNYUAN:
        merged = _hunyuan_lists(merged, mt)
    if mt == "gemma3n_text":
        merged = _gemma3n_keys(merged, mt)
        description = "; ".join(x for x in (description, GEMMA3N_READING) if x)
    if mt == "gemma4_text":
        merged = _gemma4_keys(_checked(merged, mt), mt)
        description = "; ".join(x for x in (description, merged["_gemma4_note"]) if x)
    if mt == "granitemoeshared" and merged.get("shared_intermediate_size") == 0:
        # GraniteMoeSharedDecoderLayer: shared_mlp is None when the width is 0 (the class default)
        merged = {k: v for k, v in merged.items() if k != "shared_intermediate_size"}
    if mt == "chatglm":
        merged = _chatglm_keys(_checked(merged, mt), mt)
        if isinstance(merged.get("vision_config"), dict):             # GLM-4V-9B: chatglm with a vision tower
            description = "the text decoder of chatglm; the vision tower is left out"
            reading["excluded"] = _excluded(merged, "chatglm")
    if mt == "qwen":
        merged = _qwen_keys(_checked(merged, mt), mt)
        towers = [k for k in ("visual", "audio") if isinstance(merged.get(k), dict)]
        if towers:                       # Qwen-VL, Qwen-Audio: model_type qwen with the tower's config inside
            description = f"the text decoder of qwen; the {' and '.join(towers)} tower is left out"
            reading["excluded"] = _excluded(merged, "qwen")
    if mt == "baichuan":
        description = _baichuan_positions(merged)
    if mt == "longcat_flash":
        merged = _longcat_keys(_checked(merged, mt), mt)
        description = LONGCAT_READING
    if mt == "afmoe":
        merged = _afmoe_keys(_checked(merged, mt), mt)
        # AfmoeAttention applies RoPE on its sliding layers only; the spec's rotary dims are one for all layers (no
        # byte or parameter count depends on them outside MLA)
        description = description or "afmoe: the global layers use no RoPE (the rotary dims shown are the " \
                                     "sliding layers')"
    if mt == "nemotron-nas":
        merged = _nemotron_nas_keys(_checked(merged, mt), mt)
        description = "; ".join(x for x in (description, NAS_READING) if x)
    if mt == "openelm":
        merged = _openelm_keys(merged, mt)
        description = "; ".join(x for x in (description, OPENELM_READING) if x)
    return mt, _checked(merged, mt), description, reading


def _key_reader(mt: str, named: str):
    """(function, name) that rewrites a family's config into the keys the readers take, after :func:`_checked`, or
    (None, mt): by the decoder's own model_type before an alias renames it (Mistral Small 4, InternLM-1), else by the
    model_type read. Each takes the checked config and that name, and refuses in one line what it cannot read."""
    by_own_name = {"mistral4": _mistral4_keys, "internlm": _internlm_keys, "flex_olmo": _flex_olmo_keys,
                   "hunyuan_vl_text": _hunyuan_vl_keys, "refinedweb": _refinedweb_keys,
                   "refinedwebmodel": _refinedweb_keys}
    if named in by_own_name:
        return by_own_name[named], named
    readers = {"exaone_moe": _exaone_moe_keys, "dbrx": _dbrx_keys, "exaone": _exaone_keys, "hy_v3": _hy_v3_keys,
               "cohere2_moe": _cohere2_moe_keys,
               "glm4_moe_lite": _glm4_moe_lite_keys, "gpt_neox": _gpt_neox_keys, "phi": _phi_keys,
               "gpt_bigcode": _gpt_bigcode_keys, "nemotron": _nemotron_keys, "olmo": _olmo_keys,
               **dict.fromkeys(SHORT_CONV_HYBRIDS, _lfm2_keys),
               "opt": _opt_keys, "gptj": _gptj_keys, "codegen": _gptj_keys, "bloom": _bloom_keys, "mpt": _mpt_keys,
               "gpt_neo": _gpt_neo_keys, "falcon": _falcon_keys, "phimoe": _phimoe_keys, "jais2": _jais2_keys,
               "granite_swa": _granite_swa_keys, "nemotron_h": _nemotron_h_keys}
    return readers.get(mt), mt


# LFM2's widths beside hidden_size that vLLM reads and transformers does not (vLLM lfm2.py: ShortConv(dim=conv_dim),
# Lfm2MLP(dim=block_dim); the release's conv_dim_out): each must be the model width, which transformers builds
# (Lfm2ShortConv's nn.Linear(hidden_size, 3 * hidden_size), Lfm2MLP's w1 of hidden_size)
LFM2_WIDTHS = ("conv_dim", "conv_dim_out", "block_dim")


def _lfm2_keys(cfg: dict, mt: str) -> dict:
    """LFM2's config as transformers reads it (after :func:`_checked`): ``tie_embedding`` (the release's key) wins over
    ``tie_word_embeddings`` (Lfm2Config and Lfm2MoeConfig: ``kwargs.get("tie_embedding", tie_word_embeddings)``);
    for ``lfm2``, ``block_ff_dim`` over ``intermediate_size`` (Lfm2Config: ``intermediate_size =
    kwargs.get("block_ff_dim", intermediate_size)``; Lfm2MoeConfig has no such key). The widths vLLM reads beside
    ``hidden_size`` (:data:`LFM2_WIDTHS`) and a ``head_dim`` must agree with it (vLLM's Lfm2Attention builds heads of
    ``hidden_size // num_attention_heads`` whatever the file says); a config where they differ is refused."""
    out = dict(cfg)
    if out.get("tie_embedding") is not None:
        out["tie_word_embeddings"] = out["tie_embedding"]
    if mt == "lfm2" and out.get("block_ff_dim") is not None:
        out["intermediate_size"] = out["block_ff_dim"]
    hidden, heads = _req(out, mt, "hidden_size"), _req(out, mt, "num_attention_heads")
    for key in LFM2_WIDTHS:
        if out.get(key) is not None and out[key] != hidden:
            raise _refuse(mt, f"{key} {out[key]} differs from hidden_size {hidden} (transformers builds the block "
                              "at hidden_size, vLLM at the config's value)")
    _whole_heads(out, mt, hidden, heads, "vLLM's Lfm2Attention")
    return out


# GLM-V text decoders read as glm4 (:data:`ALIASES`): the q/k/v biases transformers' attention builds whatever
# attention_bias says (Glm4vTextAttention: nn.Linear(..., bias=True); GlmOcrTextAttention: bias=False; transformers
# models/glm4v/modeling_glm4v.py, models/glm_ocr/modular_glm_ocr.py) and the class that hard-wires them
GLM_V_TEXT = {"glm4v_text": (True, "Glm4vTextAttention"), "glm_ocr_text": (False, "GlmOcrTextAttention")}


# Keys whose null the decoder's config class derives a value from, where a key left out takes the class's default,
# by the decoder's own model_type, with the value the readers take for the null:
# - num_key_value_heads: ``if num_key_value_heads is None: num_key_value_heads = num_attention_heads`` (None: the
#   readers' query heads): JambaConfig.__init__ (transformers models/jamba/configuration_jamba.py),
#   FalconH1Config.__post_init__ (models/falcon_h1/configuration_falcon_h1.py), PhimoeConfig.__init__
#   (models/phimoe/configuration_phimoe.py), GraniteSWAConfig.__post_init__ (models/granite_swa/
#   configuration_granite_swa.py), PaddleOCRTextConfig.__post_init__ (models/paddleocr_vl/
#   configuration_paddleocr_vl.py); the GLM-V decoders read theirs in :func:`_glm_v_text_keys`
# - head_dim: ``head_dim if head_dim is not None else hidden_size // num_attention_heads`` (None: the readers' hidden /
#   heads): Ernie4_5Config, SeedOssConfig and PaddleOCRTextConfig (``head_dim: int | None = 128``, __post_init__)
# - multi_query: FalconAttention builds ``num_kv_heads if (new_decoder_architecture or not multi_query) else 1`` K/V
#   heads and vLLM's FalconAttention one only ``elif self.multi_query`` (FalconConfig keeps the None: ``multi_query:
#   bool | None = True``; vLLM's RWConfig and the RefinedWeb remote code the same), so a null is false: all heads
# - sliding_window_pattern: Exaone4Config and ExaoneMoeConfig (``str | int | None = 4``: "None: No sliding window
#   attention is used"), whose layers then come from layer_types or a null sliding_window (:func:`_layer_types`)
NULL_DERIVED: dict[str, tuple[set[str], Any]] = {
    "num_key_value_heads": ({"jamba", "falcon_h1", "phimoe", "granite_swa", "paddleocr_vl_text"}, None),
    "head_dim": ({"ernie4_5", "seed_oss", "paddleocr_vl_text"}, None),
    "multi_query": ({"falcon", "refinedweb", "refinedwebmodel"}, False),
    "sliding_window_pattern": ({"exaone4", "exaone_moe", "exaone4_5_text"}, None),
}
NULL_KV_IS_HEADS = NULL_DERIVED["num_key_value_heads"][0] | set(GLM_V_TEXT)
# Sizes whose null the readers take as none, as DeepSeek's MoE does (DeepseekV2MoE: ``if config.n_shared_experts is
# not None``): a count of shared experts, and MLA's query down-projection (``if self.q_lora_rank is None``).
# Not DeepSeek-V4's: DeepseekV4Config is a strict dataclass (``q_lora_rank: int = 1024``, ``n_shared_experts: int =
# 1``) whose attention always builds q_a_proj and whose MoE always builds its shared expert, so a null is refused
# there as any other size's (it was read as the class default: V4-Pro 1,570.60 B parameters for 1,573.00 B).
NULL_IS_NONE = {"n_shared_experts", "num_shared_experts", "moe_num_shared_experts", "num_shared_expert", "q_lora_rank"}


def _refuse_null_defaults(cfg: dict, mt: str, named: str, defaults: dict) -> None:
    """Refuse a size (a key of :data:`SIZES`: layers, widths, heads, experts, vocabulary, positions, windows) that
    ``cfg`` gives as null where its class has a default (``defaults``, which a config may leave out). A key left
    out takes the class default; a null does not: transformers' config classes keep their arguments as given
    (``self.n_layers = n_layers``; v5's strict dataclasses refuse None for an ``int`` field) and then build no model,
    so a null read as the default was a silent other model (DBRX with ``"n_layers": null`` read as DbrxConfig's 24
    layers, Gemma-3-27B's ``"head_dim": null`` as 256, Jamba's ``"num_key_value_heads": null`` as 8 K/V heads where
    JambaConfig makes it the 32 query heads, North-Mini-Code-1.0's "num_experts": null as Cohere2MoeConfig's 8
    experts: 3.29 B parameters for 30.48). :data:`NULL_DERIVED` lists the classes that derive a value from a null
    (a K/V head count as the query heads, a head width as hidden / heads); the readers take it so. Other keys keep
    their readings of a null (:data:`NULL_IS_NONE`; ERNIE's ``moe_layer_end_index``: the last layer)."""
    for k, v in cfg.items():
        if v is not None or defaults.get(k) is None or k not in SIZES or (k in NULL_IS_NONE and mt not in COMPRESSED):
            continue
        if named in NULL_DERIVED.get(k, ((),))[0] or (k == "num_key_value_heads" and named in GLM_V_TEXT):
            continue
        raise SpecError(WHERE, f"model_type {mt}: {k} is null, which its transformers config class keeps as None "
                               f"(no model is built from it); leave the key out for the class default "
                               f"{_show(defaults[k])}, or give a value")


def _refuse_null(cfg: dict, mt: str, *keys: str) -> None:
    """Refuse ``keys`` given as null where the decoder compares or builds with them as numbers, so that transformers
    and vLLM fail on the None: DeepSeek's ``layer_idx >= config.first_k_dense_replace`` (a null was read as 0 dense
    layers: DeepSeek-V3 703.80 B parameters for 671.03), Llama-4's ``range(step - 1, L, step)`` over
    ``interleave_moe_layer_step`` (a null was read as MoE on every layer: Maverick 784.26 B for 400.71) and its
    dense MLP of ``intermediate_size_mlp``."""
    for k in keys:
        if k in cfg and cfg[k] is None:
            raise SpecError(WHERE, f"model_type {mt}: {k} is null, which the decoder cannot be built with; give a "
                                   f"whole number or leave the key out")


def _glm_v_text_keys(cfg: dict, mt: str, kv_null: bool = False) -> dict:
    """GLM-4.1V's and GLM-OCR's text decoders (``mt``: glm4v_text, glm_ocr_text) where they are not Glm4's. vLLM
    (glm4_1v.py) builds both as Glm4ForCausalLM, whose Glm4Attention reads ``attention_bias`` and ``head_dim``;
    transformers' attention hard-wires the biases (:data:`GLM_V_TEXT`) and, for glm4v_text, heads of
    ``hidden_size // num_attention_heads`` whatever ``head_dim`` says. Where the file makes the two engines build
    different weights (an ``attention_bias`` against the hard-wired one; a glm4v_text ``head_dim`` other than hidden
    / heads) the checkpoint's own shape cannot be told from it, and it is refused; the releases agree (GLM-4.1V:
    attention_bias true, no head_dim; GLM-OCR: attention_bias false, head_dim 128 read by both). ``kv_null``: the
    file gave ``num_key_value_heads`` as null, which both classes read as one K/V head a query head (``if
    num_key_value_heads is None: num_key_value_heads = num_attention_heads``), not as their default 2 or 8."""
    bias, cls = GLM_V_TEXT[mt]
    if kv_null:
        cfg = {**cfg, "num_key_value_heads": None}
    if cfg.get("attention_bias") is not bias:
        raise _refuse(mt, f"attention_bias {str(not bias).lower()}: transformers' {cls} builds q/k/v "
                          f"{'with' if bias else 'without'} biases whatever the file says, vLLM's Glm4Attention as "
                          "attention_bias says; which the checkpoint holds cannot be told")
    if mt == "glm4v_text":
        hidden, heads = _req(cfg, mt, "hidden_size"), _req(cfg, mt, "num_attention_heads")
        return {**cfg, "head_dim": _whole_heads(cfg, mt, hidden, heads, f"transformers' {cls}")}
    return cfg


def _decoder_at(cfg: dict, mt: str, path: tuple[str, ...]) -> tuple[str, dict]:
    """(model_type, config) of the text decoder a wrapper keeps under ``path`` (InternVL's ``llm_config``, the
    Omni models' ``thinker_config.text_config``), with the wrapper's dtype, tie and quantization keys where the
    decoder gives none; a missing or malformed level, or a decoder without a ``model_type``, is one line."""
    inner: Any = cfg
    for i, key in enumerate(path):
        inner = inner.get(key) if isinstance(inner, dict) else None
        if not isinstance(inner, dict):
            raise SpecError(WHERE, f"model_type {mt}: {'.'.join(path[:i + 1])} must be a mapping (the text "
                                   f"decoder's config), got {_show(inner)}")
    inner = dict(inner)
    for k in ("torch_dtype", "dtype", "tie_word_embeddings", "quantization_config"):
        if k not in inner and k in cfg:
            inner[k] = cfg[k]
    inner_mt = inner.get("model_type")
    if not _name(inner_mt) or not inner_mt:
        raise SpecError(WHERE, f"model_type {mt}: {'.'.join(path)}.model_type must name the decoder's family, got "
                               f"{_show(inner_mt)}")
    return inner_mt.lower(), inner


def _deepseek_vl2_decoder(cfg: dict, mt: str) -> tuple[str, dict, str]:
    """(family, config, how it was chosen) of DeepSeek-VL2's and DeepSeek-OCR's text decoder, the ``language_config``,
    read as vLLM reads it (:data:`DEEPSEEK_VL2`): ``deepseek_v3`` for ``topk_method`` noaux_tc, ``deepseek`` (the V1
    MoE, plain attention) for ``use_mla`` false, ``deepseek_v2`` (MLA) otherwise. With use_mla false the MLA keys'
    zeros and nulls are dropped (:data:`MLA_KEYS`), so that no qk_nope_head_dim 0 or v_head_dim 0 reaches the
    reading, and the K/V head count must be given (DeepSeek-VL2's class defaults it to 32, transformers' to the query
    heads). The wrapper's dtype, tie and quantization keys fill what the decoder leaves out; the copies of the
    decoder's keys DeepSeek-OCR's file keeps at the top level are read as vLLM reads them, not at all, once they are
    known to agree with language_config (:func:`_deepseek_ocr_copies`). Anything else is one line: a language_config
    that is no mapping, lacks a size (:data:`DEEPSEEK_VL2_SIZES`), has a use_mla that is not true or false, or says
    otherwise than a top-level copy, or (use_mla false) an MLA width that is no whole number or null, or
    qk_nope_head_dim and qk_rope_head_dim not both 0 (vLLM builds MLA then, the releases' code plain attention)."""
    inner = cfg.get("language_config")
    if not isinstance(inner, dict):
        raise SpecError(WHERE, f"model_type {mt}: language_config must be a mapping (the text decoder's config), got "
                               f"{_show(inner)}")
    inner = dict(inner)
    use_mla = inner.get("use_mla", True)
    if not isinstance(use_mla, bool):
        raise SpecError(WHERE, f"model_type {mt}: language_config.use_mla must be true or false, got {_show(use_mla)}")
    topk = inner.get("topk_method")
    if topk is not None and not _name(topk):
        raise SpecError(WHERE, f"model_type {mt}: language_config.topk_method must be a string, got {_show(topk)}")
    missing = [k for k in DEEPSEEK_VL2_SIZES + (() if use_mla else ("num_key_value_heads",)) if inner.get(k) is None]
    if missing:
        raise SpecError(WHERE, f"model_type {mt}: language_config has no {missing[0]}, which sizes the model")
    if not use_mla:
        for k in MLA_KEYS:
            v = inner.get(k)
            # not read, but no width at all (a string, NaN, -1, 1.5, a list) is a broken file: vLLM's
            # DeepseekV2Config declares each an int or None, and transformers 5 checks it
            if v is not None and not _whole(v, 0) and not (isinstance(v, float) and v.is_integer() and v >= 0):
                raise SpecError(WHERE, f"model_type {mt}: language_config.{k} must be a whole number of at least 0 "
                                       f"or null, got {_show(v)}")
        widths = [inner.get(k, "not given") for k in ("qk_nope_head_dim", "qk_rope_head_dim")]
        if widths != [0, 0]:
            # the releases' own code builds plain attention on use_mla alone (modeling_deepseekv2.py: "mha_" ->
            # LlamaAttention); current vLLM on the widths alone (deepseek_v2.py DeepseekV2DecoderLayer: use_mha =
            # model_type "deepseek" or qk_nope_head_dim == qk_rope_head_dim == 0; its DeepseekForCausalLM is a
            # DeepseekV2ForCausalLM, the text config's model_type deepseek_v2), MLA where either is not 0, left out
            # transformers' 128 and 64
            nope, rope = (w if w == "not given" else _show(w) for w in widths)
            raise _refuse(mt, f"language_config has use_mla false and qk_nope_head_dim {nope} and "
                              f"qk_rope_head_dim {rope}: DeepSeek-VL2's and DeepSeek-OCR's own code build "
                              "plain attention on use_mla, vLLM's DeepseekV2DecoderLayer only where both widths are "
                              "0 (MLA otherwise; left out, transformers' 128 and 64); which the checkpoint holds "
                              "cannot be told")
    if _is_deepseek_ocr(cfg):
        _deepseek_ocr_copies(cfg, inner, mt, use_mla)
    for k in ("torch_dtype", "dtype", "tie_word_embeddings", "quantization_config"):
        if k not in inner and k in cfg:
            inner[k] = cfg[k]
    if topk == "noaux_tc":
        if not use_mla:
            # vLLM builds DeepseekV3ForCausalLM (MLA) whatever use_mla says; the file says plain attention
            raise _refuse(mt, "language_config has topk_method noaux_tc (vLLM's DeepseekV3ForCausalLM, MLA) and "
                              "use_mla false (plain attention): which one the checkpoint holds is not said")
        family, why = "deepseek_v3", "topk_method noaux_tc, vLLM's DeepseekV3ForCausalLM"
    elif use_mla:
        family = "deepseek_v2"
        why = "use_mla true, vLLM's DeepseekV2ForCausalLM" if "use_mla" in inner else \
            "use_mla not given, true in DeepSeek-VL2's DeepseekV2Config; vLLM's DeepseekV2ForCausalLM"
    if use_mla:
        inner = {**DEEPSEEK_VL2_MLA, **inner}
    else:
        family, why = "deepseek", "use_mla false, vLLM's DeepseekForCausalLM"
        inner = {k: v for k, v in inner.items() if k not in MLA_KEYS}
    inner["model_type"] = family
    return family, inner, f" (language_config read as {family}: {why})"


def _deepseek_ocr_copies(cfg: dict, inner: dict, mt: str, use_mla: bool) -> None:
    """Refuse a DeepSeek-OCR file whose top-level copy of a decoder key that shapes the model (:data:`SIZES`,
    :data:`SWITCHES`, ``use_mla``, ``topk_method``) says otherwise than its ``language_config`` (``inner``, before
    the wrapper's keys fill it), or gives a key language_config leaves out. The release's own code builds the decoder
    from the top level: its modeling_deepseekocr.py declares ``class DeepseekOCRConfig(DeepseekV2Config)`` and
    ``DeepseekOCRModel(DeepseekV2Model).__init__(config)`` on that config, language_config being one more attribute
    (code-corpus file ids 17685560866 and 11150405776, copies of the release's file); vLLM builds it from
    language_config alone (DeepseekVLV2Config: ``text_config = DeepseekV2Config(**language_config)``, a key left out
    taking the class default). Where they differ the checkpoint's shape cannot be told from the file: the top level's
    ``num_hidden_layers`` 24 built 24 layers there while 12 were read here. With use_mla false neither reads the MLA
    widths (:data:`MLA_KEYS`), which are not compared."""
    for key in (*SIZES, *sorted(SWITCHES), "use_mla", "topk_method"):
        if key not in cfg or (not use_mla and key in MLA_KEYS):
            continue
        if key in inner and inner[key] == cfg[key]:
            continue
        there = _show(inner[key]) if key in inner else "not given"
        raise _refuse(mt, f"{key} is {_show(cfg[key])} at the top level, which DeepSeek-OCR's own DeepseekOCRConfig "
                          f"builds the decoder from, and {there} in language_config, which vLLM builds it from: "
                          "which the checkpoint holds cannot be told")


def _is_deepseek_ocr(cfg: dict) -> bool:
    """Whether a ``deepseek_vl_v2`` config is DeepSeek-OCR's (:data:`DEEPSEEK_OCR_ARCHS`; DeepSeek-VL2's names no
    architectures)."""
    archs = cfg.get("architectures")
    return isinstance(archs, list) and any(a in DEEPSEEK_OCR_ARCHS for a in archs if isinstance(a, str))


def _left_out(wrapper: str) -> str:
    """What a wrapper's reading leaves out, said where the spec is shown."""
    if wrapper == DEEPSEEK_VL2:
        # DeepSeek-VL2: SigLIP-SO400M and a downsampling MLP projector; DeepSeek-OCR: SAM-ViT-B and CLIP-L towers and
        # a linear projector (its checkpoint's model.sam_model, model.vision_model, model.projector), and both the
        # image_newline and view_seperator rows
        return "the vision encoders, the projector and the image_newline and view_seperator rows are left out"
    if wrapper in ("qwen2_5_omni", "qwen3_omni_moe"):
        return "the audio and vision towers and the talker are left out"
    if wrapper == "gemma4":
        # Gemma4Model: vision_tower, audio_tower (E2B, E4B) and their Gemma4MultimodalEmbedder projections
        # (embed_vision, embed_audio)
        return "the vision and audio towers and their embedders (embed_vision, embed_audio) are left out"
    if wrapper == "gemma3n":
        # Gemma3nModel: vision_tower (MobileNet-V5), audio_tower (USM conformer) and their Gemma3nMultimodalEmbedder
        # projections into the text model (embed_vision, embed_audio)
        return "the audio and vision towers and their embedders (embed_audio, embed_vision) are left out"
    return "the vision tower is left out"


# the towers of a multimodal config, by the key that configures each: what reading its text decoder leaves out
# (transformers: vision_config / audio_config beside text_config; Qwen-VL's and Qwen-Audio's remote code: visual,
# audio inside the qwen config)
TOWERS = {"vision_config": "vision encoder", "audio_config": "audio encoder", "visual": "vision encoder",
          "audio": "audio encoder"}


def _excluded(cfg: dict, wrapper: str) -> list[str]:
    """What the numbers leave out of a multimodal checkpoint whose text decoder is read (``wrapper``: its
    model_type; "" for a plain decoder, which leaves out nothing), one line each for the spec's ``excluded``: each
    tower ``cfg`` configures (:data:`TOWERS`) with the projection into the text model beside it. A wrapper whose file
    names no tower (a copy trimmed to its text_config) still has its family's (:func:`_left_out`). ``weights`` and
    ``fit`` said nothing: Ministral-3-3B's 3.43 B parameters left out its 24-layer Pixtral encoder without a word."""
    if not wrapper:
        return []
    towers = [f"{what} and projector ({key}): not counted" for key, what in TOWERS.items()
              if isinstance(cfg.get(key), dict)]
    return towers or [_left_out(wrapper)]


def _refuse_unknown_wrapper(cfg: dict, mt: str) -> None:
    """A model_type this tool does not know that carries a multimodal wrapper's keys (:data:`WRAPPER_MARKS`) but
    no ``text_config``: its decoder is under a key not read here, and its top-level keys are not the decoder's."""
    marks = [k for k in WRAPPER_MARKS if k in cfg]
    if marks:
        raise _refuse(mt, f"a multimodal wrapper ({marks[0]}) whose text decoder is not under a key this tool reads "
                          "(text_config; llm_config for internvl_chat; thinker_config.text_config for qwen2_5_omni, "
                          "qwen3_omni_moe; language_config for deepseek_vl_v2)")


def _chatglm_keys(cfg: dict, mt: str) -> dict:
    """ChatGLM2/3 and GLM-4-9B's remote-code config (ChatGLMConfig, modeling_chatglm.py) in the names the readers
    use: ``num_layers`` layers; the embedding and output layer of ``padded_vocab_size`` rows (the vocab_size the
    model builds, which wins over a ``vocab_size`` key); ``multi_query_group_num`` K/V heads when
    ``multi_query_attention``, else one a query head; heads of ``kv_channels``; a gated (SwiGLU) MLP of
    ``ffn_hidden_size`` (dense_h_to_4h is ``d -> 2 f``); ``seq_length`` positions; RoPE over half of each head
    (RotaryEmbedding(kv_channels // 2): ChatGLM rotates the first half, in adjacent pairs). ChatGLM-6B (v1, 2D
    positions and a GELU MLP) and ``add_bias_linear`` (biases on the output projection and the MLP) are refused."""
    if cfg.get("position_encoding_2d") is not None:
        raise _refuse(mt, "ChatGLM-6B's 2D position encoding and non-gated GELU MLP (position_encoding_2d) are not "
                          "modelled")
    if cfg.get("add_bias_linear"):
        raise _refuse(mt, "biases on the output projection and the MLP (add_bias_linear) are not modelled")
    out = dict(cfg)
    out["num_hidden_layers"] = cfg.get("num_layers") or cfg.get("num_hidden_layers")
    out["vocab_size"] = cfg.get("padded_vocab_size") or cfg.get("vocab_size")
    out["intermediate_size"] = _req(cfg, mt, "ffn_hidden_size")
    heads = _req(cfg, mt, "num_attention_heads")
    out["num_key_value_heads"] = cfg["multi_query_group_num"] if cfg.get("multi_query_attention") else heads
    out["head_dim"] = cfg.get("kv_channels") or _req(cfg, mt, "hidden_size") // heads
    out["max_position_embeddings"] = cfg.get("seq_length") or cfg.get("max_position_embeddings")
    out["partial_rotary_factor"] = 0.5
    return out


def _qwen_keys(cfg: dict, mt: str) -> dict:
    """Qwen-1's remote-code config (QWenConfig, modeling_qwen.py: Qwen-1.8B/7B/14B/72B, Qwen-VL's decoder) in the
    names the readers use. QWenAttention: ``c_attn`` d -> 3 x heads x ``kv_channels`` with a bias (nn.Linear's
    default, whatever ``no_bias`` says), ``c_proj`` back without one; the heads are split at ``hidden_size /
    heads``, so ``heads x kv_channels`` must be ``hidden_size``. QWenMLP: ``w1``, ``w2`` d -> ``intermediate_size //
    2`` and ``c_proj`` back (``a1 * silu(a2)``: a gated MLP of half the stated width). RoPE over ``kv_channels x
    rotary_pct`` dims. ``max_position_embeddings`` positions (Qwen-7B: 32768, reached by dynamic NTK and log-n
    scaling from a ``seq_length`` of 8192), else ``seq_length``. ``no_bias`` false (biases on ``c_proj`` and the
    MLP) is refused; ``use_dynamic_ntk``, ``use_logn_attn``, ``use_flash_attn``, ``bf16``/``fp16``/``fp32``,
    ``softmax_in_fp32`` and ``use_cache_quantization`` (the remote code's optional int8 KV cache, a runtime choice
    that engines do not use) size nothing."""
    if not cfg.get("no_bias"):
        raise _refuse(mt, "biases on the output projection and the MLP (no_bias false) are not modelled")
    heads, hidden, head = _req(cfg, mt, "num_attention_heads"), _req(cfg, mt, "hidden_size"), cfg["kv_channels"]
    factor = _rotary_fraction(mt, "rotary_pct", cfg.get("rotary_pct"), head)   # QWenModel: int(kv_channels * pct)
    if heads * head != hidden:
        raise _refuse(mt, f"kv_channels {head} x {heads} heads is not hidden_size {hidden} (QWenAttention splits "
                          "its heads at hidden_size / num_attention_heads)")
    out = dict(cfg)
    out["head_dim"] = head
    out["intermediate_size"] = _req(cfg, mt, "intermediate_size") // 2
    if out["intermediate_size"] < 1:
        raise SpecError(WHERE, f"model_type {mt}: intermediate_size must be at least 2 (QWenMLP's width is half "
                               f"of it), got {cfg['intermediate_size']}")
    out["partial_rotary_factor"] = factor
    out["max_position_embeddings"] = cfg.get("max_position_embeddings") or cfg.get("seq_length")
    return out


def _rotary_fraction(mt: str, key: str, pct: Any, head: int) -> float:
    """The fraction of a ``head``-dim head that gets RoPE under a ``rotary_pct`` (the key ``key``), as the remote
    and transformers code rounds it: ``int(head x rotary_pct)`` dims (QWenModel: ``int(kv_channels * rotary_pct)``;
    GPTNeoXAttention: ``rotary_ndims = int(head_size * rotary_pct)``; vLLM gpt_neox.py and qwen.py the same), as the
    ``partial_rotary_factor`` :func:`_conventional` multiplies back by ``head``. ``pct`` must be a number above 0 and
    at most 1 (0 rotates nothing: no RoPE the engines build); anything else is one line naming ``key``."""
    if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 < pct <= 1:
        raise SpecError(WHERE, f"model_type {mt}: {key} must be a number above 0 and at most 1, got {_show(pct)}")
    return int(head * pct) / head


def _whole_heads(cfg: dict, mt: str, hidden: int, heads: int, builder: str = "the attention") -> int:
    """The head width of a family that splits ``hidden_size`` into its heads whatever else the file says
    (GPTNeoXAttention and GPTBigCodeAttention: ``head_size = hidden_size // num_attention_heads``, a ValueError where
    it does not divide; vLLM gpt_neox.py and gpt_bigcode.py the same; vLLM's Lfm2Attention, ``builder`` in the
    message): ``hidden / heads``, refused where it is no whole number or a ``head_dim`` key says otherwise (no class
    reads it)."""
    if hidden % heads:
        raise _refuse(mt, f"hidden_size {hidden} is not a multiple of {heads} heads ({builder} splits hidden_size "
                          "into its heads)")
    if cfg.get("head_dim") is not None and cfg["head_dim"] != hidden // heads:
        raise _refuse(mt, f"head_dim {cfg['head_dim']} differs from hidden_size / num_attention_heads "
                          f"({hidden // heads}), which {builder} builds whatever the file says")
    return hidden // heads


def _gpt_neox_keys(cfg: dict, mt: str) -> dict:
    """GPT-NeoX's config (GPTNeoXConfig; Pythia, GPT-NeoX-20B, StableLM-alpha, RedPajama-INCITE, Dolly-v2) in the
    names the readers use. GPTNeoXAttention: ``query_key_value`` d -> 3 d and ``dense`` d -> d, both biased by
    ``attention_bias`` (default true), heads of ``hidden_size / num_attention_heads``, RoPE over
    ``int(head x rotary_pct)`` dims of each (:func:`_rotary_fraction`; rotary_pct 0.25 where the file gives none).
    transformers 4.45-4.57 save the same fraction as ``partial_rotary_factor`` beside ``rotary_pct``, v5 inside
    ``rope_parameters`` (GPTNeoXConfig.convert_rope_params_to_dict: ``setdefault("partial_rotary_factor",
    rotary_pct)``); where two of them disagree the file does not say which one the model was trained with, and it is
    refused. GPTNeoXMLP: ``dense_h_to_4h`` d -> ``intermediate_size``, ``dense_4h_to_h`` back, both biased, no gate
    (read by :func:`_ffn` as StarCoder2's). Two LayerNorms a layer (``input_layernorm``, ``post_attention_layernorm``)
    whether ``use_parallel_residual`` runs attention and MLP side by side or one after the other: it changes no size.
    ``embed_out`` is its own matrix unless ``tie_word_embeddings`` (GPTNeoXForCausalLM ties it to ``embed_in`` then;
    vLLM gpt_neox.py the same). ``rotary_emb_base``, ``rope_scaling``, ``layer_norm_eps``, ``hidden_act`` size
    nothing. The LayerNorms' biases (``norm_vectors`` 2) and the MLP's (``ffn.mlp_bias``) are counted."""
    hidden, heads = _req(cfg, mt, "hidden_size"), _req(cfg, mt, "num_attention_heads")
    head = _whole_heads(cfg, mt, hidden, heads)
    factor = _rotary_choice(cfg, mt, head, ("rotary_pct", "partial_rotary_factor",
                                            "rope_parameters.partial_rotary_factor"), 0.25)
    return {**cfg, "head_dim": head, "partial_rotary_factor": factor}


def _rotary_choice(cfg: dict, mt: str, head: int, keys: tuple[str, ...], default: float) -> float:
    """The rotary fraction of a ``head``-dim head (:func:`_rotary_fraction`, truncated as the attention truncates
    it) from the first of ``keys`` the file gives (``rope_parameters.X``: the key X inside ``rope_parameters``, where
    transformers 5 saves it), ``default`` where it gives none. Keys that give different rotary dims are refused: the
    file does not say which one the model was trained with."""
    rp = cfg.get("rope_parameters")
    values = {k: (rp.get(k.split(".", 1)[1]) if isinstance(rp, dict) else None) if k.startswith("rope_parameters.")
              else cfg.get(k) for k in keys}
    given = {k: v for k, v in values.items() if v is not None}
    key, pct = next(iter(given.items()), (keys[0], default))
    factor = _rotary_fraction(mt, key, pct, head)
    other = next(((k, v) for k, v in given.items() if k != key and _rotary_fraction(mt, k, v, head) != factor), None)
    if other is not None:
        raise _refuse(mt, f"{key} {_show(pct)} and {other[0]} {_show(other[1])} disagree (RoPE over "
                          f"{round(factor * head)} or {round(_rotary_fraction(mt, *other, head) * head)} of "
                          f"{head} dims)")
    return factor


def _mha_as_vllm(cfg: dict, mt: str, heads: int, attention: str) -> None:
    """Refuse a ``num_key_value_heads`` (None: the query heads, as the config classes default) other than the query
    heads where vLLM's ``attention`` class builds K/V for all of them and transformers' reads the file's count: the
    two engines would build different weights from one file."""
    kv = cfg.get("num_key_value_heads") or heads
    if kv != heads:
        raise _refuse(mt, f"num_key_value_heads {kv} differs from num_attention_heads {heads} (transformers' "
                          f"{attention} builds k/v of {kv} heads, vLLM's of all {heads})")


def _phi_keys(cfg: dict, mt: str) -> dict:
    """Phi-1, Phi-1.5, Phi-2 (PhiConfig; transformers models/phi/modular_phi.py, vLLM model_executor/models/phi.py) in
    the names the readers use. PhiDecoderLayer: one LayerNorm (``input_layernorm``, with a bias) whose output feeds
    attention and MLP side by side (``attn + mlp + residual``). PhiAttention: q_proj, k_proj, v_proj and ``dense``,
    all four biased whatever the file says (transformers hard-wires ``bias=True``, vLLM's QKVParallelLinear(bias=True)
    and RowParallelLinear's default), RoPE over ``int(head x partial_rotary_factor)`` dims (the top-level key, or
    transformers 5's in ``rope_parameters``; PhiConfig's 0.5 where neither). PhiMLP: fc1 d -> ``intermediate_size``
    and fc2 back, both biased, no gate (gelu_new; read by :func:`_ffn` as GPT-NeoX's). ``final_layernorm`` (biased)
    and an ``lm_head`` with a bias. The LayerNorm, MLP and lm_head biases are counted (``norm_vectors`` 2,
    ``ffn.mlp_bias``, ``head_bias``).

    What transformers and vLLM would build differently from one file is refused, since the served model would not be
    the checkpoint priced: a ``head_dim`` other than hidden / heads (vLLM splits hidden_size), K/V heads other than
    the query heads (vLLM's PhiAttention builds all of them), an ``intermediate_size`` other than vLLM's fc1 width
    (``n_inner``, else 4 x hidden_size), ``qk_layernorm`` (vLLM builds no q/k LayerNorm), a tied head (vLLM asserts
    ``not tie_word_embeddings``: the lm_head has its own bias)."""
    hidden, heads = _req(cfg, mt, "hidden_size"), _req(cfg, mt, "num_attention_heads")
    head = _whole_heads(cfg, mt, hidden, heads, "vLLM's PhiAttention")
    _mha_as_vllm(cfg, mt, heads, "PhiAttention")                 # PhiConfig: None -> num_attention_heads
    width, vllm_width = _req(cfg, mt, "intermediate_size"), cfg.get("n_inner") or 4 * hidden
    if width != vllm_width:
        raise _refuse(mt, f"intermediate_size {width} differs from vLLM's fc1 width {vllm_width} (n_inner, else 4 x "
                          "hidden_size)")
    if cfg.get("qk_layernorm"):
        raise _refuse(mt, "q/k LayerNorms (qk_layernorm) are not read: vLLM's PhiAttention builds none")
    if cfg.get("tie_word_embeddings"):
        raise _refuse(mt, "a tied head (tie_word_embeddings) is not read: vLLM's PhiForCausalLM refuses it (its "
                          "lm_head has a bias)")
    factor = _rotary_choice(cfg, mt, head, ("partial_rotary_factor", "rope_parameters.partial_rotary_factor"), 0.5)
    return {**cfg, "head_dim": head, "num_key_value_heads": heads, "partial_rotary_factor": factor}


def _internlm_keys(cfg: dict, mt: str) -> dict:
    """InternLM-1's remote-code config (InternLMConfig; read as ``llama``, :data:`ALIASES`) in Llama's names: the
    file's ``bias`` (InternLMConfig's default true; InternLM-20B's false) biases q/k/v/o, which LlamaAttention
    spells ``attention_bias``. InternLMAttention builds MHA of ``hidden_size / num_attention_heads`` whatever the
    file says, vLLM's LlamaAttention reads ``num_key_value_heads``, ``head_dim`` and ``attention_bias or bias``, its
    LlamaMLP ``mlp_bias``: a file where they would differ (an ``attention_bias`` true beside ``bias`` false, K/V
    heads other than the query heads, another ``head_dim``, ``mlp_bias`` true) is refused in one line."""
    # InternLMConfig(bias=True, tie_word_embeddings=False) (the remote configuration_internlm.py; a copy in
    # mindspore-lab/mindnlp mindnlp/transformers/models/internlm/configuration_internlm.py)
    bias = cfg.get("bias", True)
    if cfg.get("attention_bias") and not bias:
        raise _refuse(mt, "attention_bias true and bias false disagree (InternLMAttention reads bias, vLLM's "
                          "LlamaAttention either)")
    if cfg.get("mlp_bias"):
        # InternLMMLP's gate/up/down: nn.Linear(..., bias=False) whatever the file says; vLLM's LlamaDecoderLayer
        # builds LlamaMLP(bias=getattr(config, "mlp_bias", False)) (vllm model_executor/models/llama.py)
        raise _refuse(mt, "mlp_bias true (InternLMMLP builds no MLP biases, vLLM's LlamaMLP would) is not modelled")
    hidden, heads = _req(cfg, mt, "hidden_size"), _req(cfg, mt, "num_attention_heads")
    head = _whole_heads(cfg, mt, hidden, heads, "InternLMAttention")
    kv = cfg.get("num_key_value_heads") or heads
    if kv != heads:
        raise _refuse(mt, f"num_key_value_heads {kv} differs from num_attention_heads {heads} (InternLMAttention "
                          f"builds k/v of all {heads} heads, vLLM's LlamaAttention of {kv})")
    return {**cfg, "attention_bias": bias, "head_dim": head}


def _falcon_keys(cfg: dict, mt: str) -> dict:
    """Falcon (FalconConfig; transformers models/falcon/modeling_falcon.py, vLLM model_executor/models/falcon.py) where
    the two would build different weights from one file. FalconMLP: transformers' dense_h_to_4h is ``ffn_hidden_size``
    wide (FalconConfig: None is 4 x hidden_size), vLLM's ``4 * hidden_size`` whatever the file says: another width is
    refused in one line (Falcon-11B's 16384 is 4 x 4096). The rest both read alike: ``bias`` biases query_key_value,
    dense and both MLP projections (FalconLinear / QKVParallelLinear, RowParallelLinear, ColumnParallelLinear:
    ``bias=config.bias``); every LayerNorm (input_layernorm, post_attention_layernorm or ln_attn and ln_mlp, ln_f) is
    an nn.LayerNorm with weight and bias (:data:`NORM_VECTORS`); the lm_head has no bias and is tied unless
    ``tie_word_embeddings`` is false (Falcon-11B's)."""
    hidden = _req(cfg, mt, "hidden_size", "n_embd")
    width = cfg.get("ffn_hidden_size")
    if width is not None and width != 4 * hidden:
        raise _refuse(mt, f"ffn_hidden_size {width} differs from 4 x hidden_size {4 * hidden}: transformers' FalconMLP "
                          "builds the file's width, vLLM's 4 x hidden_size; which the checkpoint holds cannot be told")
    return cfg


def _refinedweb_keys(cfg: dict, mt: str) -> dict:
    """Falcon's remote-code configs (``RefinedWebModel``: tiiuae/falcon-7b as first released; ``RefinedWeb``:
    falcon-40b; fine-tunes of both keep them), read as ``falcon`` (:data:`ALIASES`) in FalconConfig's names:
    ``n_layer``, ``n_head``, ``n_head_kv`` (transformers' falcon/convert_custom_code_checkpoint.py renames them so;
    vLLM's RWConfig reads them by its attribute_map). ``new_decoder_architecture`` (grouped K/V of ``n_head_kv``,
    ln_attn and ln_mlp) is the file's where it says, else the remote code's: 40B's RefinedWeb code always builds it,
    7B's RefinedWebModel never (TGI's RWConfig: ``model_type == "RefinedWeb"``). vLLM's RWConfig takes the file's
    flag, else false, and forces it on at hidden_size 8192 ("Hack for falcon-40b"): a file where that rule gives the
    other answer is refused, as is one without ``multi_query`` outside the new architecture (vLLM's RWConfig defaults
    it to true, TGI's and PaddleNLP's copies to false) and a RefinedWeb file without ``n_head_kv``."""
    out = dict(cfg)
    for old, new in (("n_layer", "num_hidden_layers"), ("n_head", "num_attention_heads"),
                     ("n_head_kv", "num_kv_heads")):
        if out.get(new) is None and out.get(old) is not None:
            out[new] = out[old]
    hidden = _req(out, mt, "hidden_size", "n_embd")
    given = out.get("new_decoder_architecture")
    nda = bool(given) if given is not None else mt == "refinedweb"
    vllm = hidden == 8192 or bool(given)
    if nda != vllm:
        raise _refuse(mt, f"new_decoder_architecture {'given ' + _show(given) if given is not None else 'not given'} "
                          f"at hidden_size {hidden}: the remote code builds "
                          f"{'the 40B' if nda else 'the 7B'} decoder, vLLM's RWConfig the other")
    if nda and out.get("num_kv_heads") is None:
        _missing(mt, "n_head_kv")
    if not nda and out.get("multi_query") is None:
        raise _refuse(mt, "does not say multi_query (vLLM's RWConfig defaults it to true, the remote code's copies to "
                          "false)")
    return _falcon_keys({**out, "new_decoder_architecture": nda}, mt)


def _phimoe_keys(cfg: dict, mt: str) -> dict:
    """Phi-3.5-MoE (PhimoeConfig; transformers models/phimoe/modeling_phimoe.py, vLLM model_executor/models/phimoe.py)
    where the two would build different weights from one file: transformers biases q/k/v/o by ``attention_bias`` and
    the lm_head by ``lm_head_bias`` (both False in PhimoeConfig), vLLM's PhiMoEAttention and PhiMoEForCausalLM build
    the biases whatever the file says (QKVParallelLinear, RowParallelLinear, ParallelLMHead: ``bias=True``). Either
    flag false is refused in one line; the release sets both true. Its LayerNorms (input_layernorm,
    post_attention_layernorm, the model's norm: nn.LayerNorm with weight and bias in both engines) are counted by
    :data:`NORM_VECTORS`, the lm_head's bias of vocab_size by ``head_bias``."""
    for key in ("attention_bias", "lm_head_bias"):
        if not cfg.get(key):
            raise _refuse(mt, f"{key} false (or left out: PhimoeConfig's default): transformers builds no such bias, "
                              "vLLM's PhiMoE builds it whatever the file says")
    return cfg


def _jais2_keys(cfg: dict, mt: str) -> dict:
    """Jais-2 (Jais2Config(LlamaConfig); transformers models/jais2/modular_jais2.py, vLLM
    model_executor/models/jais2.py) where the two would build different weights from one file. Jais2DecoderLayer is
    Llama's with nn.LayerNorm (weight and bias: :data:`NORM_VECTORS`) for input_layernorm, post_attention_layernorm
    and the model's norm, and Jais2MLP = NemotronMLP: up_proj d -> f and down_proj back, relu2, no gate, both biased by
    ``mlp_bias`` (:data:`BIASED_MLP`); LlamaAttention's q/k/v/o biased by ``attention_bias`` (Jais2Config's defaults:
    both true). vLLM biases the attention by ``attention_bias or bias`` and slides its layers by
    ``interleaved_sliding_window``, which transformers reads neither of: a ``bias`` true beside attention_bias false, or
    the window key, is refused."""
    if cfg.get("bias") and not cfg.get("attention_bias"):
        raise _refuse(mt, "bias true and attention_bias false disagree (vLLM's Jais2Attention reads either, "
                          "transformers' LlamaAttention attention_bias alone)")
    if cfg.get("interleaved_sliding_window") is not None:
        raise _refuse(mt, "interleaved_sliding_window is read by vLLM's Jais2Attention alone (transformers builds "
                          "every layer full); which the checkpoint was trained with cannot be told")
    return cfg


def _granite_swa_keys(cfg: dict, mt: str) -> dict:
    """Granite-SWA (GraniteSWAConfig(GraniteConfig); transformers models/granite_swa/modular_granite_swa.py, vLLM
    model_executor/models/granite_swa.py): Granite's block (LlamaAttention, LlamaMLP gated, two RMSNorms; biases by
    ``attention_bias`` and ``mlp_bias``; the multipliers size nothing) with a learnable sink per query head in every
    layer (``self_attn.sinks``, num_attention_heads values: the spec's ``attention.sinks``) and ``layer_types``:
    GraniteSWAConfig.__post_init__ fills a missing one as full attention where ``i % 4 == 0``, sliding (a window of
    ``sliding_window``) elsewhere, which both engines then read. ``layer_rope_theta`` (a RoPE base a layer, 0 for
    none) sizes nothing; vLLM rotates every layer whatever it says. A list of the wrong length is refused."""
    L = cfg["num_hidden_layers"]
    out = dict(cfg)
    if out.get("layer_types") is None:
        out["layer_types"] = ["full_attention" if i % 4 == 0 else "sliding_attention" for i in range(L)]
    theta = out.get("layer_rope_theta")
    if theta is not None and (not isinstance(theta, list) or len(theta) != L):
        raise _refuse(mt, f"layer_rope_theta has {len(theta) if isinstance(theta, list) else 'no'} entries for {L} "
                          "layers")
    return out


def _hunyuan_vl_keys(cfg: dict, mt: str) -> dict:
    """HunyuanOCR's text decoder (``hunyuan_vl_text``, read as ``hunyuan``) where transformers and vLLM would build
    different weights from one file: transformers' HunYuanVLTextModel is HunYuanDenseV1's dense decoder, its
    attention with query_layernorm and key_layernorm whatever ``use_qk_norm`` says, no cross-layer attention and no
    experts (models/hunyuan_vl/modular_hunyuan_vl.py: "the dense-only, image-text HunYuanVL open-source variant");
    vLLM's hunyuan_vision.py builds hunyuan_v1.py's decoder, whose q/k norms follow ``use_qk_norm``, which shares K/V
    across layers by ``use_cla`` and builds experts for ``num_experts`` above 1. A false ``use_qk_norm``, a true
    ``use_cla`` or more than one expert is refused in one line; HunyuanOCR's file says true, false and 1."""
    if cfg.get("use_qk_norm") is False:
        raise _refuse(mt, "use_qk_norm false: transformers' HunYuanDenseV1Attention builds q/k norms whatever the file "
                          "says, vLLM's as use_qk_norm says; which the checkpoint holds cannot be told")
    if cfg.get("use_cla"):
        raise _refuse(mt, "use_cla true: vLLM's HunYuan decoder shares K/V across layers by it, transformers' "
                          "HunYuanVL builds every layer's; which the checkpoint holds cannot be told")
    experts = cfg.get("num_experts")
    if isinstance(experts, list) or (experts is not None and experts != 1 and experts != 0):
        raise _refuse(mt, f"num_experts {_show(experts)}: transformers' HunYuanVL is the dense-only variant, vLLM "
                          "builds experts from it; which the checkpoint holds cannot be told")
    return cfg


def _nemotron_keys(cfg: dict, mt: str) -> dict:
    """NVIDIA's Nemotron-4 and Minitron (NemotronConfig; transformers models/nemotron/modeling_nemotron.py, vLLM
    model_executor/models/nemotron.py and its own transformers_utils/configs/nemotron.py) in the names the readers
    use. NemotronDecoderLayer: ``input_layernorm`` and ``post_attention_layernorm``, NemotronLayerNorm1P (an
    nn.LayerNorm with weight and bias, applied as ``weight + 1``), and a final one (:data:`NORM_VECTORS`: 2 vectors
    each). NemotronAttention: q/k/v/o of ``head_dim`` heads, biased by ``attention_bias``; RoPE over
    ``int(head x partial_rotary_factor)`` dims (NemotronRotaryEmbedding). NemotronMLP: up_proj then down_proj
    (relu2), no gate, biased by ``mlp_bias`` (refused: :data:`NON_GATED_MLP`). An untied ``lm_head`` by default.

    Where the two engines read the file differently it is refused in one line, since the served model would not be
    the one priced: vLLM's NemotronConfig takes ``kv_channels`` as the head width where ``head_dim`` is absent and
    ``rope_percent``/``rope_percentage`` before ``partial_rotary_factor``; transformers' reads neither (hidden /
    heads; partial_rotary_factor, 0.5 by default). vLLM's attention biases q/k/v/o by ``attention_bias or bias``,
    transformers' by ``attention_bias`` alone. Where they agree (the releases: Minitron-4B/8B give head_dim 128 and
    partial_rotary_factor 0.5; the HF conversion of Nemotron-4-340B gives rope_percent and rope_percentage 0.5) the
    keys are read."""
    hidden, heads = _req(cfg, mt, "hidden_size"), _req(cfg, mt, "num_attention_heads")
    out = dict(cfg)
    if cfg.get("head_dim") is None and cfg.get("kv_channels") is not None:
        # both build hidden // heads wide heads where kv_channels says the same, a multiple of hidden or not (the
        # floor: transformers' q_proj d -> heads x head_dim, o_proj back)
        if cfg["kv_channels"] != hidden // heads:
            raise _refuse(mt, f"kv_channels {cfg['kv_channels']} without head_dim: vLLM builds heads of "
                              f"{cfg['kv_channels']}, transformers' NemotronConfig of hidden_size // "
                              f"num_attention_heads ({hidden // heads})")
        out["head_dim"] = cfg["kv_channels"]
    if cfg.get("bias") and not cfg.get("attention_bias"):
        raise _refuse(mt, "bias true beside attention_bias false: vLLM biases q/k/v/o (attention_bias or bias), "
                          "transformers' NemotronAttention does not")
    head = out.get("head_dim") or (hidden // heads if not hidden % heads else None)
    if head is None:          # _conventional refuses it in its words (no head_dim, hidden not a multiple of heads)
        return out
    # vLLM: rope_percent or rope_percentage or partial_rotary_factor (0.5); transformers: partial_rotary_factor (or
    # transformers 5's rope_parameters), 0.5 where absent
    factor = _rotary_choice(cfg, mt, head, ("partial_rotary_factor", "rope_parameters.partial_rotary_factor",
                                            "rope_percent", "rope_percentage"), 0.5)
    legacy = next((k for k in ("rope_percent", "rope_percentage") if cfg.get(k) is not None), None)
    named = cfg.get("partial_rotary_factor") is not None or _rope_factor(cfg, mt) is not None
    if legacy and not named and factor != _rotary_fraction(mt, "partial_rotary_factor", 0.5, head):
        raise _refuse(mt, f"{legacy} {_show(cfg[legacy])} without partial_rotary_factor: vLLM rotates "
                          f"{round(factor * head)} of {head} dims, transformers' NemotronConfig its default 0.5 "
                          f"({round(_rotary_fraction(mt, legacy, 0.5, head) * head)})")
    return out | {"partial_rotary_factor": factor}


def _olmo_keys(cfg: dict, mt: str) -> dict:
    """OLMo-1 (OlmoConfig; OLMo-1B/7B, OLMo-1.7-7B and their -hf conversions; transformers models/olmo/
    modular_olmo.py, vLLM model_executor/models/olmo.py) in the names the readers use. OlmoDecoderLayer is Llama's
    with OlmoLayerNorm, a LayerNorm without weight or bias (``F.layer_norm(x, shape, None, None)``; vLLM
    ``nn.LayerNorm(d, elementwise_affine=False, bias=False)``), for both layer norms and the final one: no norm
    parameters (:data:`NORM_VECTORS`). OlmoAttention: q/k/v/o biased by ``attention_bias``, RoPE over the whole
    head; ``clip_qkv`` clamps the projections' outputs and sizes nothing. OlmoMLP: gate/up/down without biases.

    vLLM's OlmoAttention builds MHA of ``hidden_size / num_attention_heads`` whatever the file says (QKVParallelLinear
    without a K/V head count, ``head_dim = hidden_size // total_num_heads``); transformers' (LlamaAttention) reads
    ``num_key_value_heads`` and ``head_dim``. A file where they differ is refused in one line (no OLMo-1 release
    sets either)."""
    hidden, heads = _req(cfg, mt, "hidden_size"), _req(cfg, mt, "num_attention_heads")
    head = _whole_heads(cfg, mt, hidden, heads, "vLLM's OlmoAttention")
    _mha_as_vllm(cfg, mt, heads, "OlmoAttention")                # OlmoConfig: None -> num_attention_heads
    return {**cfg, "head_dim": head, "num_key_value_heads": heads}


def _flex_olmo_keys(cfg: dict, mt: str) -> dict:
    """FlexOlmo (FlexOlmoConfig(OlmoeConfig); transformers models/flex_olmo/modular_flex_olmo.py, vLLM
    model_executor/models/flex_olmo.py), read as ``olmoe`` (:data:`ALIASES`): OLMoE's decoder with its two RMSNorms
    moved after attention and the MoE (FlexOlmoDecoderLayer deletes ``input_layernorm`` and adds
    ``post_attention_layernorm`` and ``post_feedforward_layernorm``: two a layer all the same), Olmo2Attention's q/k
    norms over the whole query and key projections (vLLM: RMSNorm of ``total_num_heads x head_dim`` and
    ``total_num_kv_heads x head_dim``, OLMoE's sizes), OlmoeSparseMoeBlock's ``num_experts`` gated experts of
    ``intermediate_size`` and bias-free router. ``norm_topk_prob`` and ``clip_qkv`` (FlexOlmoConfig deletes it) size
    nothing.

    vLLM's FlexOlmoAttention (OlmoeAttention's projections) builds q/k/v/o without biases and heads of
    ``hidden_size / num_attention_heads``; transformers' Olmo2Attention (LlamaAttention) reads ``attention_bias`` and
    ``head_dim``. A file where they would differ is refused in one line."""
    if cfg.get("attention_bias"):
        raise _refuse(mt, "attention_bias true: transformers' FlexOlmoAttention biases q/k/v/o, vLLM's builds none")
    hidden, heads = _req(cfg, mt, "hidden_size"), _req(cfg, mt, "num_attention_heads")
    return {**cfg, "head_dim": _whole_heads(cfg, mt, hidden, heads, "vLLM's FlexOlmoAttention")}


def _gpt_bigcode_keys(cfg: dict, mt: str) -> dict:
    """GPTBigCode's config (GPTBigCodeConfig; StarCoder, StarCoderBase, SantaCoder, WizardCoder-15B, Octocoder) in the
    names the readers use: GPT-2's block (:data:`GPT2_BLOCK`: learned positions, biased ``c_attn``/``c_proj`` and a
    biased non-gated MLP of ``n_inner``, 4 d where null) under GPT-2's keys (``n_embd``, ``n_head``, ``n_layer``,
    ``n_positions``; GPTBigCodeConfig.attribute_map reads ``hidden_size`` and the others as the same), with
    multi-query attention: GPTBigCodeAttention's ``c_attn`` is d -> d + 2 ``kv_dim``, ``kv_dim`` one head (128 for
    StarCoder) under ``multi_query`` (the default) and all heads without it (vLLM gpt_bigcode.py: ``num_kv_heads`` 1
    or ``num_heads``). transformers 5 saves ``num_key_value_heads`` as well, derived from ``multi_query``; neither
    class reads it back, nor is it read here. ``add_cross_attention`` (cross-attention blocks to an encoder, which
    GPTBigCodeBlock refuses under multi-query) is refused."""
    if cfg.get("add_cross_attention"):
        raise _refuse(mt, "cross-attention to an encoder (add_cross_attention) is not modelled")
    hidden, heads = _req(cfg, mt, "hidden_size", "n_embd"), _req(cfg, mt, "num_attention_heads", "n_head")
    head = _whole_heads(cfg, mt, hidden, heads)
    return {**cfg, "head_dim": head, "num_key_value_heads": 1 if cfg.get("multi_query") else heads}


# keys the 2021-2023 decoders' attention classes do not read (OPTAttention, GPTJAttention, CodeGenAttention,
# BloomAttention, MptAttention, GPTNeoSelfAttention; vLLM opt.py, gpt_j.py, bloom.py, mpt.py): every layer keeps every
# token whatever a stray sliding_window or layer_types says (read as Mistral's window before: OPT-125m's 2,048-token
# sequence at 12 x 128 tokens instead of 12 x 2,048)
NO_WINDOW = {"sliding_window": None, "layer_types": None}


def _opt_keys(cfg: dict, mt: str) -> dict:
    """OPT's config (OPTConfig; transformers models/opt/modeling_opt.py and vLLM model_executor/models/opt.py build the
    same modules) in the names the readers use. OPTDecoderLayer: self_attn_layer_norm, OPTAttention's q_proj, k_proj,
    v_proj and out_proj (d -> d each, heads of hidden_size / num_attention_heads, all four biased by ``enable_bias``),
    final_layer_norm, fc1 d -> ``ffn_dim`` and fc2 back (biased by ``enable_bias``; ReLU, no gate). OPTDecoder:
    embed_tokens, embed_positions (OPTLearnedPositionalEmbedding: ``max_position_embeddings + 2`` rows, "OPT is set up
    so that if padding_idx is specified then offset the embedding ids by 2"), a final LayerNorm; the lm_head is
    embed_tokens (tie_word_embeddings, OPTConfig's default true). No RoPE. The LayerNorm biases, the MLP's (by
    ``enable_bias``) and the position table are counted (:func:`position_rows`). Neither engine reads a
    ``num_key_value_heads`` or ``head_dim`` (OPTAttention splits hidden_size into its heads): the first is not read,
    the second refused where it says otherwise (:func:`_whole_heads`).

    Refused, the spec having no field for them: ``word_embed_proj_dim`` other than hidden_size (OPT-350m's 512: the
    embedding and head that wide, project_in and project_out between it and the layers), post-LayerNorm layers
    (``do_layer_norm_before`` false, OPT-350m's) and ``_remove_final_layer_norm`` (OPTDecoder builds no final
    LayerNorm then; the spec counts one), LayerNorms without weights (``layer_norm_elementwise_affine`` false)."""
    hidden, heads = _req(cfg, mt, "hidden_size"), _req(cfg, mt, "num_attention_heads")
    proj = cfg.get("word_embed_proj_dim")
    if proj is not None and proj != hidden:
        raise _refuse(mt, f"word_embed_proj_dim {proj} beside hidden_size {hidden} (an embedding and head of {proj} "
                          "with project_in and project_out to the layers, OPT-350m's) is not modelled")
    if not cfg.get("do_layer_norm_before"):
        raise _refuse(mt, "do_layer_norm_before false (post-LayerNorm layers without a final LayerNorm, OPT-350m's) "
                          "is not modelled")
    if cfg.get("_remove_final_layer_norm"):
        raise _refuse(mt, "_remove_final_layer_norm (no final LayerNorm) is not modelled")
    if not cfg.get("layer_norm_elementwise_affine"):
        raise _refuse(mt, "layer_norm_elementwise_affine false (LayerNorms without weights) is not modelled")
    head = _whole_heads(cfg, mt, hidden, heads, "OPTAttention")
    return {**cfg, **NO_WINDOW, "head_dim": head, "num_key_value_heads": heads,
            "intermediate_size": _req(cfg, mt, "ffn_dim"), "attention_bias": cfg["enable_bias"]}


def _gptj_keys(cfg: dict, mt: str) -> dict:
    """GPT-J's and CodeGen's config (GPTJConfig, CodeGenConfig: ``n_embd``, ``n_head``, ``n_layer``, ``n_positions``,
    ``rotary_dim``, ``n_inner``; their attribute_map reads hidden_size, num_attention_heads, num_hidden_layers and
    max_position_embeddings as the same) in the names the readers use. GPTJBlock and CodeGenBlock: one LayerNorm
    (ln_1) whose output feeds attention and MLP side by side; q_proj, k_proj, v_proj (CodeGen: one qkv_proj d -> 3 d)
    and out_proj, none biased, heads of hidden / heads, RoPE over the first ``rotary_dim`` dims of each (64 where the
    file gives none); fc_in d -> ``n_inner`` (4 d where null) and fc_out back, both biased (gelu_new, no gate); ln_f;
    an untied lm_head with a bias (transformers GPTJForCausalLM and CodeGenForCausalLM: nn.Linear(n_embd, vocab);
    vLLM gpt_j.py: ParallelLMHead(bias=True)). The LayerNorm, MLP and lm_head biases are counted.

    GPT-J, which vLLM serves too, is refused where vLLM refuses the file or the two engines would build other weights:
    a tied head (vLLM asserts ``not config.tie_word_embeddings``), ``rotary`` false (vLLM asserts it true;
    transformers applies RoPE whatever the key says). CodeGen, which transformers alone builds (vLLM's registry has
    no CodeGenForCausalLM), ties its head where the file says so; its heads must split into CodeGenAttention's
    ``mp_num = 4`` shards of q, v and k. Refused for both: a null ``rotary_dim`` (GPTJAttention and CodeGenAttention:
    ``pos_embd_dim = self.rotary_dim or self.embed_dim``, a sin/cos table of hidden_size applied to each whole head,
    which fails to broadcast for more than one head; vLLM takes ``rotary_dim % 2`` of it), a rotary_dim that is 0 or
    odd: RoPE turns pairs of dims (the sin/cos table holds rotary_dim / 2 frequencies)."""
    hidden, heads = _req(cfg, mt, "hidden_size", "n_embd"), _req(cfg, mt, "num_attention_heads", "n_head")
    builder = "GPTJAttention" if mt == "gptj" else "CodeGenAttention"
    head = _whole_heads(cfg, mt, hidden, heads, builder)
    rotary = cfg["rotary_dim"] if "rotary_dim" in cfg else 64        # GPTJConfig, CodeGenConfig: rotary_dim=64
    if mt == "gptj":
        flag = cfg.get("rotary", True)
        if not isinstance(flag, bool):
            raise SpecError(WHERE, f"model_type {mt}: rotary must be true or false, got {_show(flag)}")
        if not flag:
            raise _refuse(mt, "rotary false is not modelled (vLLM's GPTJAttention asserts it true; transformers "
                              "applies RoPE whatever it says)")
        if cfg.get("tie_word_embeddings"):
            raise _refuse(mt, "a tied head (tie_word_embeddings) is not read: vLLM's GPTJForCausalLM refuses it (its "
                              "lm_head has a bias)")
    elif heads % 4:
        raise _refuse(mt, f"{heads} heads do not split into CodeGenAttention's 4 shards (mp_num) of whole heads")
    if rotary is None:
        raise _refuse(mt, f"rotary_dim null is not modelled: {builder}'s sin/cos table is then hidden_size ({hidden}) "
                          f"wide, for heads of {head}")
    if rotary % 2 or rotary < 2:
        raise _refuse(mt, f"rotary_dim {rotary} is not modelled: RoPE turns pairs of dims, at least one pair")
    return {**cfg, **NO_WINDOW, "head_dim": head, "num_key_value_heads": heads, "rotary_dim": rotary,
            "attention_bias": False, "intermediate_size": cfg.get("n_inner") or 4 * hidden}


def _bloom_keys(cfg: dict, mt: str) -> dict:
    """BLOOM's config (BloomConfig: ``n_layer``, ``n_head``, ``hidden_size`` or ``n_embed``, which wins over it
    ("Backward compatibility with n_embed kwarg"); attribute_map reads num_hidden_layers and num_attention_heads as
    the same) in the names the readers use. BloomBlock (transformers modeling_bloom.py, vLLM bloom.py): input_layernorm,
    self_attention.query_key_value d -> 3 d and dense d -> d, both biased, heads of hidden / heads, ALiBi (no RoPE);
    post_attention_layernorm, mlp.dense_h_to_4h d -> 4 d and dense_4h_to_h back, both biased (GELU, no gate).
    BloomModel: word_embeddings, then word_embeddings_layernorm (a LayerNorm of hidden_size on the embeddings), ln_f;
    the head tied to word_embeddings (PretrainedConfig's tie_word_embeddings true). ``seq_length`` (BLOOMZ's 2048,
    one of the keys vLLM derives max_model_len from) is the context limit where no max_position_embeddings is given.
    The LayerNorm and MLP biases and the embedding LayerNorm are counted (``embedding_norm``). The MLP is 4 x
    hidden_size whatever the file says (BloomMLP and vLLM's): an ``n_inner`` or ``intermediate_size`` of another
    width is refused, since the checkpoint it describes is not the one either engine builds."""
    hidden = cfg["n_embed"] if cfg.get("n_embed") is not None else _req(cfg, mt, "hidden_size")
    heads = _req(cfg, mt, "num_attention_heads", "n_head")
    head = _whole_heads(cfg, mt, hidden, heads, "BloomAttention")
    for key in ("n_inner", "intermediate_size"):
        if cfg.get(key) is not None and cfg[key] != 4 * hidden:
            raise _refuse(mt, f"{key} {cfg[key]} is not modelled: BloomMLP is 4 x hidden_size ({4 * hidden}) wide "
                              "whatever the file says")
    out = {**cfg, **NO_WINDOW, "hidden_size": hidden, "head_dim": head, "num_key_value_heads": heads,
           "intermediate_size": 4 * hidden, "attention_bias": True}
    if cfg.get("max_position_embeddings") is None and cfg.get("seq_length") is not None:
        out["max_position_embeddings"] = cfg["seq_length"]
    return out


# MptAttentionConfig's defaults for the keys read (transformers configuration_mpt.py)
MPT_ATTN_DEFAULTS = {"attn_type": "multihead_attention", "alibi": True, "prefix_lm": False, "qk_ln": False,
                     "qk_gn": False}                # qk_gn: llm-foundry's MPTConfig (transformers' has none)


def _mpt_keys(cfg: dict, mt: str) -> dict:
    """MPT's config (MptConfig: ``d_model``, ``n_heads``, ``n_layers``, ``max_seq_len``, ``expansion_ratio``,
    ``no_bias`` and the nested ``attn_config``; attribute_map reads hidden_size, num_attention_heads and
    num_hidden_layers as the same) in the names the readers use. MptBlock (transformers modeling_mpt.py): norm_1 (a
    LayerNorm whose bias is removed, "backward compatibility with weights on the Hub"), attn.Wqkv d -> 3 d and
    out_proj, both bias-free, heads of d_model / n_heads, ALiBi (no RoPE, no position table: learned_pos_emb is not
    built beside ALiBi); norm_2, ffn.up_proj d -> 4 d and down_proj back, bias-free (GELU, no gate); norm_f; the head
    tied to wte. vLLM's mpt.py builds the same from the same file where ``no_bias`` is true (it removes every
    Linear's and LayerNorm's bias). Nothing of the checkpoint goes uncounted.

    Refused where transformers' MptForCausalLM and vLLM's MPTForCausalLM would build other weights from one file, or
    vLLM refuses it: ``attn_config.attn_type`` other than multihead_attention (llm-foundry's multiquery and
    grouped_query attention: transformers builds every head's K/V whatever it says, vLLM those of
    ``attn_config.kv_n_heads``), a ``kv_n_heads`` other than n_heads, ``alibi`` false (vLLM asserts it), ``prefix_lm``
    (vLLM asserts it false), ``qk_ln`` (vLLM builds q/k LayerNorms, transformers none), ``qk_gn`` (llm-foundry's q/k
    norms of head_dim, built by neither), an ``ffn_config.ffn_hidden_size`` other than 4 x d_model (llm-foundry's
    resolve_ffn_hidden_size sizes the MLP by it, both engines by 4 d), ``rope``, ``expansion_ratio``
    other than 4 (transformers' MptMLP is 4 x d_model whatever it says, vLLM's expansion_ratio x d_model), ``no_bias``
    false (biases in vLLM, none in transformers), an ``ffn_config`` of another MLP, an untied head (vLLM asserts
    ``tie_word_embeddings``). ``clip_qkv``, ``softmax_scale``, ``alibi_bias_max``, ``attn_impl``, ``logit_scale``,
    ``embedding_fraction`` and ``norm_type`` size nothing."""
    attn = cfg.get("attn_config")
    if attn is None:
        attn = {}
    if not isinstance(attn, dict):
        raise SpecError(WHERE, f"model_type {mt}: attn_config must be a mapping, got {_show(attn)}")
    a = {**MPT_ATTN_DEFAULTS, **{k: v for k, v in attn.items() if v is not None}}
    for key in ("alibi", "prefix_lm", "qk_ln", "qk_gn"):
        if not isinstance(a[key], bool):
            raise SpecError(WHERE, f"model_type {mt}: attn_config.{key} must be true or false, got {_show(a[key])}")
    if a["attn_type"] != "multihead_attention":
        raise _refuse(mt, f"attn_config.attn_type {_show(a['attn_type'])} is not modelled (transformers' "
                          "MptAttention builds every head's K/V whatever it says, vLLM those of kv_n_heads)")
    if not a["alibi"]:
        raise _refuse(mt, "attn_config.alibi false (positions without ALiBi; vLLM's MPTAttention asserts it) is not "
                          "modelled")
    if a.get("rope"):
        raise _refuse(mt, "attn_config.rope (RoPE in place of ALiBi) is not modelled")
    if a["prefix_lm"]:
        raise _refuse(mt, "attn_config.prefix_lm (bidirectional attention over a prefix; vLLM asserts it false) is "
                          "not modelled")
    if a["qk_ln"]:
        raise _refuse(mt, "attn_config.qk_ln (q/k LayerNorms: vLLM builds them, transformers' MptAttention does not) "
                          "is not modelled")
    if a["qk_gn"]:
        raise _refuse(mt, "attn_config.qk_gn (q/k norms of head_dim: neither transformers' nor vLLM's MPTAttention "
                          "builds them) is not modelled")
    hidden = _req(cfg, mt, "hidden_size", "d_model")
    heads = _req(cfg, mt, "num_attention_heads", "n_heads")
    kv = a.get("kv_n_heads")
    if kv is not None and not _whole(kv, 1):
        raise SpecError(WHERE, f"model_type {mt}: attn_config.kv_n_heads must be a whole number of at least 1, got "
                               f"{_show(kv)}")
    if kv is not None and kv != heads:
        raise _refuse(mt, f"attn_config.kv_n_heads {_show(kv)} beside n_heads {heads} is not modelled (vLLM builds "
                          "K/V heads of kv_n_heads, transformers' MptAttention every head's)")
    ffn = cfg.get("ffn_config")
    if ffn is not None and (not isinstance(ffn, dict) or ffn.get("ffn_type", "mptmlp") != "mptmlp"):
        raise _refuse(mt, f"ffn_config {_show(ffn)} is not modelled (transformers' and vLLM's MPT build the mptmlp "
                          "MLP, up_proj and down_proj)")
    width = (ffn or {}).get("ffn_hidden_size")
    if width is not None and width != 4 * hidden:
        # llm-foundry's resolve_ffn_hidden_size: ffn_hidden_size, where given, sizes the MLP over expansion_ratio
        raise _refuse(mt, f"ffn_config.ffn_hidden_size {_show(width)} is not modelled (llm-foundry's MLP width; "
                          f"transformers' and vLLM's MPT build {4 * hidden})")
    if cfg["expansion_ratio"] != 4:
        raise _refuse(mt, f"expansion_ratio {cfg['expansion_ratio']} is not modelled (transformers' MptMLP is 4 x "
                          "d_model whatever it says, vLLM's expansion_ratio x d_model)")
    if not cfg["no_bias"]:
        raise _refuse(mt, "no_bias false is not modelled (vLLM biases every Linear and LayerNorm, transformers' MPT "
                          "none)")
    if not cfg["tie_word_embeddings"]:
        raise _refuse(mt, "an untied head (tie_word_embeddings false) is not read: vLLM's MPTForCausalLM refuses it")
    head = _whole_heads(cfg, mt, hidden, heads, "MptAttention")
    return {**cfg, **NO_WINDOW, "hidden_size": hidden, "num_attention_heads": heads,
            "num_hidden_layers": _req(cfg, mt, "num_hidden_layers", "n_layers"), "head_dim": head,
            "num_key_value_heads": heads, "max_position_embeddings": cfg.get("max_position_embeddings") or
            cfg["max_seq_len"], "intermediate_size": 4 * hidden, "attention_bias": False}


# GPT-Neo's attention types (GPTNeoConfig.attention_types entries; GPTNeoAttention raises on any other)
GPT_NEO_TYPES = ("global", "local")


def _gpt_neo_keys(cfg: dict, mt: str) -> dict:
    """GPT-Neo's config (GPTNeoConfig: ``num_layers``, ``num_heads``, ``attention_types``, ``window_size``; its
    attribute_map reads num_hidden_layers and num_attention_heads as the same) in the names the readers use.
    GPTNeoBlock (transformers modeling_gpt_neo.py; vLLM's registry has no GPTNeoForCausalLM): ln_1, attention of
    q_proj, k_proj, v_proj (bias-free) and out_proj (biased), heads of hidden / heads, no RoPE; ln_2, mlp.c_fc d ->
    ``intermediate_size`` (4 d where null) and c_proj back, both biased (gelu_new, no gate). GPTNeoModel: wte, wpe (a
    learned table of ``max_position_embeddings`` rows), ln_f; the head tied to wte. Layer types from
    ``attention_types`` (``[[["global", "local"], 12]]``: the pattern repeated,
    GPTNeoConfig.expand_attention_types_params): global layers attend the whole context, local ones the last
    ``window_size`` tokens, themselves included (GPTNeoSelfAttention's mask: ``bias ^ tril(bias, -window_size)``).
    The local layers are read as full layers, their window said in the description (:func:`_gpt_neo_reading`): the
    window is in the mask alone, and every layer's keys and values go to one cache that keeps every token
    (GPTNeoSelfAttention: ``layer_past.update(key, value, self.layer_id)`` into the ``DynamicCache()`` GPTNeoModel
    builds without a window); no engine with a windowed cache builds GPT-Neo (vLLM's and SGLang's registries have no
    GPTNeoForCausalLM). Read as sliding layers, GPT-Neo-125M held 42,467,328 B a sequence at 2,048 tokens, 44% under
    transformers' 75,497,472. A ``sliding_window`` or ``layer_types`` key, which GPTNeoConfig does not read, is not
    read either. The LayerNorm and MLP biases and the position table are counted. Refused: an
    ``attention_types`` that is no list of [types, repeats] pairs, that names another type, that expands to another
    number of layers than num_layers (GPTNeoConfig raises), or an ``attention_layers`` that disagrees with it (the file
    then says two things: transformers builds the layers from attention_layers, which PretrainedConfig sets after the
    expansion)."""
    hidden = _req(cfg, mt, "hidden_size")
    heads = _req(cfg, mt, "num_attention_heads", "num_heads")
    L = _req(cfg, mt, "num_hidden_layers", "num_layers")
    head = _whole_heads(cfg, mt, hidden, heads, "GPTNeoSelfAttention")
    layers = _gpt_neo_layers(cfg, mt, L)
    out = {**cfg, "num_hidden_layers": L, "num_attention_heads": heads, "head_dim": head, "num_key_value_heads": heads,
           **NO_WINDOW, "attention_bias": False, "attention_out_bias": True,
           "intermediate_size": cfg.get("intermediate_size") or 4 * hidden, "_gpt_neo_local": layers.count("local")}
    if "local" in layers:
        window = cfg.get("window_size")
        if isinstance(window, float) and window.is_integer():
            window = int(window)
        if not _whole(window, 1):
            raise SpecError(WHERE, f"model_type {mt}: window_size must be a whole number of at least 1, got "
                                   f"{_show(window)}")
        out["window_size"] = window
    return out


def _gpt_neo_reading(cfg: dict) -> str:
    """What a GPT-Neo reading with local layers says of them (:func:`_gpt_neo_keys`): "" where there are none."""
    n = cfg["_gpt_neo_local"]
    if not n:
        return ""
    return (f"{n} of the {cfg['num_hidden_layers']} layers are local (a {cfg['window_size']:,}-token window in "
            "GPTNeoSelfAttention's mask), read as full: transformers, the engine that builds GPT-Neo, caches every "
            "token of every layer")


def _gpt_neo_layers(cfg: dict, mt: str, L: int) -> list[str]:
    """Each layer's attention type (global or local) from GPT-Neo's ``attention_types``, checked as
    :func:`_gpt_neo_keys` says before it is expanded (a repeat count is compared, not unrolled)."""
    types = cfg.get("attention_types")
    pairs = isinstance(types, list) and bool(types) and all(
        isinstance(t, list) and len(t) == 2 and isinstance(t[0], list) and t[0] and all(_name(x) for x in t[0])
        and _whole(t[1], 0) for t in types)
    if not pairs:
        raise SpecError(WHERE, f"model_type {mt}: attention_types must be a list of [[layer types], repeats] pairs, "
                               f"got {_show(types)}")
    unknown = sorted({x for pattern, _ in types for x in pattern} - set(GPT_NEO_TYPES))
    if unknown:
        raise _refuse(mt, f"attention type {_show(unknown[0])} is not modelled (global and local are)")
    count = sum(len(pattern) * n for pattern, n in types)
    if count != L:
        raise _refuse(mt, f"attention_types gives {count} layers for num_layers {L} (GPTNeoConfig requires them "
                          "equal)")
    layers = [x for pattern, n in types for _ in range(n) for x in pattern]
    given = cfg.get("attention_layers")
    if given is not None and given != layers:
        raise _refuse(mt, "attention_layers disagrees with attention_types (which layers are local is not known)")
    return layers


def _exaone_keys(cfg: dict, mt: str) -> dict:
    """EXAONE-3.0/3.5's remote-code config (ExaoneConfig, modeling_exaone.py: EXAONE-3.0-7.8B, EXAONE-3.5-2.4B/7.8B/32B)
    in the names the readers use: ``num_layers`` layers (ExaoneConfig's attribute_map makes num_hidden_layers its
    alias); ExaoneAttention's q/k/v_proj and out_proj without biases, heads of ``head_dim`` (else hidden / heads);
    ExaoneGatedMLP: c_fc_0 and c_fc_1 d -> ``intermediate_size`` (``4 x hidden_size`` where none is given) and
    c_proj back, ``activation_function`` on c_fc_0 (a gated MLP whatever the function); RMSNorms ln_1, ln_2, ln_f of
    ``layer_norm_epsilon``; RoPE over the whole head. ``embed_dropout`` sizes nothing. Biases (``attention_bias``,
    ``mlp_bias``: keys the released code does not read) are refused rather than guessed."""
    for key in ("attention_bias", "mlp_bias"):
        if cfg.get(key):
            raise _refuse(mt, f"{key} true (modeling_exaone.py's projections have no biases) is not modelled")
    act = cfg.get("activation_function")
    if not _name(act):
        raise SpecError(WHERE, f"model_type {mt}: activation_function must be a name, got {_show(act)}")
    out = dict(cfg)
    out["num_hidden_layers"] = _req(cfg, mt, "num_layers", "num_hidden_layers")
    out["hidden_act"] = act
    if cfg.get("intermediate_size") is None:                 # ExaoneConfig: hidden_size * 4 where none is given
        out["intermediate_size"] = 4 * _req(cfg, mt, "hidden_size")
    return out


def _afmoe_keys(cfg: dict, mt: str) -> dict:
    """Arcee's AFMoE (AfmoeConfig, transformers models/afmoe: Trinity Nano/Mini/Large) in the names the readers use.
    AfmoeDecoderLayer: the first ``num_dense_layers`` layers have a dense AfmoeMLP of ``intermediate_size``
    (first_k_dense_replace), the rest AfmoeSparseMoeBlock: ``num_experts`` gated experts of
    ``moe_intermediate_size``, top ``num_experts_per_tok``, shared_experts one MLP of ``moe_intermediate_size x
    num_shared_experts`` (the parameters of that many shared experts), a bias-free router d -> E and ``expert_bias``
    (E values a layer, a parameter in the checkpoint: counted as the router's bias). The layer types come from
    ``layer_types`` or every ``global_attn_every_n_layers``-th layer global (_layer_types). ``route_scale``,
    ``route_norm``, ``score_func``, ``n_group``/``topk_group`` and ``mup_enabled`` size nothing."""
    out = dict(cfg)
    out["first_k_dense_replace"] = _req(cfg, mt, "num_dense_layers")
    return out


def _solar_open_keys(cfg: dict, mt: str) -> dict:
    """Solar Open (SolarOpenConfig, transformers models/solar_open) in glm4_moe's terms. SolarOpenConfig deletes
    ``first_k_dense_replace``, ``intermediate_size`` and ``use_qk_norm`` (AttributeError): SolarOpenDecoderLayer
    builds Glm4MoeMoE on every layer and SolarOpenAttention (LlamaAttention) has no q/k norm, whatever a file says.
    The release's file still carries ``first_k_dense_replace: 0`` and an unused ``intermediate_size`` (10240); a
    dense prefix other than 0 is refused (transformers would build none, an engine reading the key would: the two
    disagree), ``use_qk_norm`` is dropped (no norm is built). ``partial_rotary_factor`` defaults to 1.0 here, not to
    GLM-4.5's 0.5 (SolarOpenConfig.__post_init__)."""
    if cfg.get("first_k_dense_replace") not in (None, 0):
        raise _refuse(mt, f"first_k_dense_replace {_show(cfg['first_k_dense_replace'])}: SolarOpenDecoderLayer builds "
                          "the MoE on every layer (SolarOpenConfig has no dense prefix), so the count is not known")
    out = {k: v for k, v in cfg.items() if k not in ("use_qk_norm", "intermediate_size")}
    out["first_k_dense_replace"] = 0
    out.setdefault("partial_rotary_factor", 1.0)
    return out


def _mistral4_keys(cfg: dict, mt: str) -> dict:
    """Mistral Small 4 (``mistral4``) is read as DeepSeek-V3, whose MLA reader reads no bias: Mistral4Attention
    biases q_a_proj, kv_a_proj_with_mqa and o_proj by ``attention_bias`` (false in Mistral4Config's defaults, the
    release's own), and its MLPs (Qwen2MoeMLP, DeepseekV3's experts) have none whatever ``mlp_bias`` says (NeMo's copy of the class
    carries the key). A true ``attention_bias`` is refused rather than priced without its biases.

    ``q_lora_rank`` left out is Mistral4Config's ``q_lora_rank: int | None = 1024`` (transformers
    models/mistral4/configuration_mistral4.py), as a text_config saved without class defaults leaves it; given as
    null it stays null (no query down-projection), which is why it is not in :data:`DEFAULTS` (whose defaults a null
    takes too). Without this, a mistral4 file lacking the key was refused as ``deepseek_v3: has no q_lora_rank``."""
    if cfg.get("attention_bias"):             # a switch, checked true/false by _checked
        raise _refuse(mt, "attention biases (attention_bias true: q_a_proj, kv_a_proj_with_mqa, o_proj) are not "
                          "modelled")
    return cfg if "q_lora_rank" in cfg else {**cfg, "q_lora_rank": 1024}


def _glm4_moe_lite_keys(cfg: dict, mt: str) -> dict:
    """GLM-4.7-Flash (Glm4MoeLiteConfig, transformers models/glm4_moe_lite; vLLM glm4_moe_lite.py) in the names the
    MLA reader uses. Glm4MoeLiteAttention is DeepseekV3Attention (vLLM: DeepseekV2MLAAttention): q_a_proj d ->
    ``q_lora_rank``, q_a_layernorm, q_b_proj -> heads x (``qk_nope_head_dim`` + ``qk_rope_head_dim``),
    kv_a_proj_with_mqa d -> ``kv_lora_rank`` + rope, kv_a_layernorm, kv_b_proj -> heads x (nope + ``v_head_dim``),
    o_proj back; the cache is the latent and the RoPE key. The MLPs are GLM-4.5's (Glm4MoeMLP of
    ``intermediate_size``; Glm4MoeMoE: ``n_routed_experts`` gated experts of ``moe_intermediate_size``, top
    ``num_experts_per_tok``, ``n_shared_experts`` shared ones, a bias-free router d -> E with the
    e_score_correction_bias buffer, not counted as for DeepSeek-V3). The dense layers lead: ``mlp_layer_types``
    (transformers 5: ``dense`` then ``sparse``; Glm4MoeLiteConfig's default is one dense layer) or
    ``first_k_dense_replace`` (vLLM). ``num_nextn_predict_layers`` MTP layers are counted apart (transformers skips
    model.layers.47). Refused in one line: MLP types that are not a dense prefix, or that disagree with
    ``first_k_dense_replace``; ``attention_bias`` (biases on the MLA projections); a partial RoPE factor other than 1
    or a ``head_dim`` other than ``qk_rope_head_dim`` (its attribute_map alias): the RoPE width is
    ``qk_rope_head_dim``. ``topk_method``, ``scoring_func``, ``n_group``/``topk_group``, ``routed_scaling_factor``,
    ``norm_topk_prob`` and ``rope_interleave`` size nothing."""
    if cfg.get("attention_bias"):
        raise _refuse(mt, "biases on the MLA projections (attention_bias) are not modelled")
    factor = cfg.get("partial_rotary_factor")
    factor = _rope_factor(cfg, mt) if factor is None else factor
    if factor is not None and factor != 1:
        raise _refuse(mt, f"partial_rotary_factor {factor}: MLA's RoPE width is qk_rope_head_dim; a fraction of it "
                          "is not modelled")
    rope = _req(cfg, mt, "qk_rope_head_dim")
    if cfg.get("head_dim") is not None and cfg["head_dim"] != rope:
        raise _refuse(mt, f"head_dim {cfg['head_dim']} is not qk_rope_head_dim {rope} (Glm4MoeLiteConfig's "
                          "attribute_map makes it that alias)")
    out = dict(cfg)
    out["first_k_dense_replace"] = _lite_dense_layers(cfg, mt)
    return out


def _exaone_moe_keys(cfg: dict, mt: str) -> dict:
    """K-EXAONE (ExaoneMoeConfig(Exaone4Config), transformers models/exaone_moe/modular_exaone_moe.py) in the names the
    readers use. ExaoneMoeAttention is Exaone4Attention (q/k/v/o without biases, q_norm and k_norm of ``head_dim``;
    RoPE on the sliding layers only); ExaoneMoeDecoderLayer is OlmoeDecoderLayer's two RMSNorms around attention and
    MLP; the MLP is ExaoneMoeMLP (gated, ``intermediate_size``) on ``dense`` layers, else ExaoneMoeSparseMoEBlock
    (DeepseekV3MoE): ``num_experts`` gated experts of ``moe_intermediate_size``, top ``num_experts_per_tok``, a
    bias-free router d -> E with its e_score_correction_bias buffer (not counted, as DeepSeek-V3's), shared_experts
    one MLP of ``moe_intermediate_size x num_shared_experts``. The dense layers lead: ``mlp_layer_types`` (else
    ``first_k_dense_replace``, default 1), or, as TensorRT-LLM's ExaoneMoEConfig spells them, ``is_moe_layer`` (one
    true/false a layer) beside ``first_last_k_dense_replace`` (read as the leading count, as llama.cpp's converter
    reads it); given together they must agree. Layer types as EXAONE-4's (``sliding_window_pattern``: every N-th
    layer global, or letters). ``num_nextn_predict_layers`` MTP layers are counted apart (transformers skips
    ``mtp.*``). ``scoring_func``, ``topk_method``, ``n_group``/``topk_group``, ``routed_scaling_factor`` and
    ``norm_topk_prob`` size nothing. Biases (``attention_bias``, ``mlp_bias``: keys the class does not have) are
    refused rather than guessed."""
    for key in ("attention_bias", "mlp_bias"):
        if cfg.get(key):
            raise _refuse(mt, f"{key} true (ExaoneMoe's projections have no biases) is not modelled")
    out = dict(cfg)
    flags = cfg.get("is_moe_layer")
    if flags is not None:
        if not isinstance(flags, list) or any(not isinstance(x, bool) for x in flags):
            raise SpecError(WHERE, f"model_type {mt}: is_moe_layer must be a list of true/false, got {_show(flags)}")
        types = ["sparse" if x else "dense" for x in flags]
        if cfg.get("mlp_layer_types") is not None and list(cfg["mlp_layer_types"]) != types:
            raise _refuse(mt, "is_moe_layer and mlp_layer_types disagree")
        out["mlp_layer_types"] = types
    lead = cfg.get("first_last_k_dense_replace")
    if lead is not None and not _whole(lead, 0):
        raise SpecError(WHERE, f"model_type {mt}: first_last_k_dense_replace must be a whole number of at least 0, "
                               f"got {_show(lead)}")
    if out.get("mlp_layer_types") is None and lead is not None:
        raise _refuse(mt, "first_last_k_dense_replace without is_moe_layer or mlp_layer_types: which layers are "
                          "dense is not known")
    dense = _lite_dense_layers(out, mt)
    if lead is not None and lead != dense:
        raise _refuse(mt, f"first_last_k_dense_replace {lead} is not the {dense} leading dense layers of is_moe_layer")
    out["first_k_dense_replace"] = dense
    return out


def _lite_dense_layers(cfg: dict, mt: str, default: int = 1) -> int:
    """The leading dense layers of a GLM-4.7-Flash config: ``mlp_layer_types`` (a ``dense`` prefix, then ``sparse``)
    where given, else ``first_k_dense_replace``, else ``default`` (1: Glm4MoeLiteConfig's, HYV3Config's default types;
    0: Cohere2MoeConfig's); both given must agree."""
    types, first = cfg.get("mlp_layer_types"), cfg.get("first_k_dense_replace")
    if types is None:
        return default if first is None else first
    L = _req(cfg, mt, "num_hidden_layers")
    dense = next((i for i, t in enumerate(types) if t != "dense"), len(types))
    if len(types) != L or types[dense:] != ["sparse"] * (L - dense):
        raise _refuse(mt, "mlp_layer_types other than leading dense layers then sparse ones (one a layer) are not "
                          "modelled")
    if first is not None and first != dense:
        raise _refuse(mt, f"mlp_layer_types has {dense} leading dense layers but first_k_dense_replace is {first}")
    return dense


def _hy_v3_keys(cfg: dict, mt: str) -> dict:
    """Tencent Hy3 (``hy_v3``: Hy3-preview, Hy3; transformers models/hy_v3/modular_hy_v3.py, vLLM hy_v3.py) in the names
    the readers use. HYV3Attention is ApertusAttention: q/k/v/o without biases, q_norm and k_norm (RMSNorm of
    ``head_dim``) before RoPE over the whole head, GQA of ``num_key_value_heads``, no window. HYV3DecoderLayer: two
    RMSNorms; HYV3MLP (gated, ``intermediate_size``) on ``dense`` layers, else HYV3MoE: a bias-free router d -> E
    (``mlp.router.gate`` in the checkpoint) with its ``e_score_correction_bias`` (``expert_bias``, E floats a layer:
    not counted, as DeepSeek-V3's), ``num_experts`` gated experts of ``moe_intermediate_size`` top
    ``num_experts_per_tok``, and ``shared_experts`` one HYV3MLP of ``moe_intermediate_size x num_shared_experts``
    (the parameters of that many shared experts). The dense layers lead: ``mlp_layer_types`` (transformers; default
    one dense layer) or ``first_k_dense_replace`` (vLLM; default 1); given together they must agree. vLLM sizes the
    experts by ``expert_hidden_dim`` (default 1536), transformers by ``moe_intermediate_size`` (1536): the release gives
    both, equal. ``num_nextn_predict_layers`` MTP layers (model.layers.80: enorm, hnorm, eh_proj, a MoE decoder layer,
    final_layernorm; vLLM hy_v3_mtp.py) are counted apart. Refused in one line, where the two engines would build
    different weights or neither builds what the file says: ``attention_bias`` or ``mlp_bias`` true (vLLM hard-wires
    none), ``qk_norm`` false (transformers' attention builds the norms whatever it says, vLLM's as it says), the two
    expert widths unequal, a window (``sliding_window``, ``layer_types`` other than full), no MoE layer (vLLM's
    HYV3Model raises), ``num_shared_experts`` 0 (transformers' shared MLP falls back to ``intermediate_size``, vLLM
    builds none), a dense prefix other than one layer given by only one of ``mlp_layer_types`` (transformers) and
    ``first_k_dense_replace`` (vLLM): each engine takes one dense layer where its own key is absent. ``route_norm``, ``router_scaling_factor``, ``moe_router_use_sigmoid``,
    ``moe_router_enable_expert_bias``, ``use_grouped_mm`` and the ``enable_*_fp32`` switches size nothing."""
    for key, what in (("attention_bias", "q/k/v/o biases"), ("mlp_bias", "MLP biases")):
        if cfg.get(key):
            raise _refuse(mt, f"{what} ({key} true) are not modelled: vLLM's HYV3 builds none, transformers' builds them")
    if cfg.get("qk_norm") is False:
        raise _refuse(mt, "qk_norm false: transformers' HYV3Attention builds q_norm and k_norm whatever it says, vLLM's "
                          "none; which the checkpoint holds cannot be told")
    width, hidden_dim = cfg.get("moe_intermediate_size"), cfg.get("expert_hidden_dim")
    if width is not None and hidden_dim is not None and width != hidden_dim:
        raise _refuse(mt, f"moe_intermediate_size {width} and expert_hidden_dim {hidden_dim} differ (transformers sizes "
                          "the experts by the first, vLLM by the second)")
    if cfg.get("sliding_window") or any(t != "full_attention" for t in cfg.get("layer_types") or []):
        raise _refuse(mt, "a sliding window (sliding_window, layer_types) is not modelled: HYV3Attention attends to "
                          "every token")
    if cfg.get("num_shared_experts") == 0:
        # HYV3MoE: HYV3MLP(config, intermediate_size=moe_intermediate_size * 0), whose width is `intermediate_size or
        # config.intermediate_size`; vLLM's HYV3MoEFused builds shared_mlp only `if config.num_shared_experts > 0`
        raise _refuse(mt, f"num_shared_experts 0: transformers' HYV3MoE builds a shared MLP of intermediate_size "
                          f"({cfg.get('intermediate_size')}) where the width is 0, vLLM's none")
    out = dict(cfg)
    out["moe_intermediate_size"] = width if width is not None else hidden_dim
    dense = _lite_dense_layers(cfg, mt)
    if dense >= _req(cfg, mt, "num_hidden_layers"):
        raise _refuse(mt, f"{dense} dense layers of {cfg['num_hidden_layers']} leave no MoE layer (vLLM's HYV3Model "
                          "raises)")
    types, first = cfg.get("mlp_layer_types"), cfg.get("first_k_dense_replace")
    if (types is None) != (first is None) and dense != 1:
        # transformers' HYV3Config has no first_k_dense_replace (its default mlp_layer_types: one dense layer); vLLM's
        # HYV3DecoderLayer reads first_k_dense_replace alone (its HYV3Config default 1), no mlp_layer_types
        given = "first_k_dense_replace" if types is None else "mlp_layer_types"
        raise _refuse(mt, f"{dense} dense layers from {given} alone: transformers' HYV3 takes them from "
                          "mlp_layer_types (one dense layer where absent), vLLM's from first_k_dense_replace (1 "
                          "where absent); give both")
    out["first_k_dense_replace"] = dense
    out.pop("layer_types", None)
    return out


# Cohere2MoeConfig's routing and shared-expert combinations (Cohere2MoeTopKRouter, Cohere2MoeSparseMoeBlock raise on
# anything else); they size nothing
COHERE2_MOE_CHOICES = {"expert_selection_fn": ("softmax", "sigmoid"), "shared_expert_combination_strategy":
                       ("average", "sum")}


def cohere2_moe_layer_types(L: int, dense: int, prefix_pattern: int, pattern: int) -> list[str]:
    """The attention of each layer as Cohere2MoeConfig.__post_init__ spells it where the file gives no ``layer_types``:
    the ``dense`` leading layers (``first_k_dense_replace``) with a window pattern of their own, layer i full iff
    ``(i + 1) % prefix_dense_sliding_window_pattern == 0`` (default 1: every prefix layer full), then the others
    counted afresh, layer ``dense + j`` full iff ``(j + 1) % sliding_window_pattern == 0`` (default 4). North Mini
    Code (49 layers, one dense): full at 0, then at 4, 8, ..., 48 (13 full, 36 sliding); with Cohere2's pattern on
    every layer it would be 3, 7, ..., 47 (12 full)."""
    def kind(i: int, n: int) -> str:
        return "full_attention" if (i + 1) % n == 0 else "sliding_attention"
    return [kind(i, prefix_pattern) for i in range(dense)] + [kind(j, pattern) for j in range(L - dense)]


def _cohere2_moe_keys(cfg: dict, mt: str) -> dict:
    """Cohere2-MoE (``cohere2_moe``: Command A+, the ``text_config`` of its ``cohere2_vision`` wrapper; North Mini Code;
    transformers models/cohere2_moe/modular_cohere2_moe.py, vLLM and SGLang cohere2_moe.py) in the names the readers
    use. Cohere2's parallel block: one LayerNorm (or RMSNorm where ``rms_norm_eps`` is given; a weight of d either
    way) before attention and MLP side by side; Cohere2Attention's q/k/v/o, no q/k norm, RoPE on the sliding layers
    (and on a dense prefix of window pattern 1), none on the full ones; the head tied to the embedding. The MLP is
    Cohere2MoeMLP of ``prefix_dense_intermediate_size`` (``intermediate_size`` where null) on ``dense`` layers, else
    Cohere2MoeSparseMoeBlock: a bias-free router E x d, ``num_experts`` gated experts of ``intermediate_size``
    (MixtralExperts: the expert width is intermediate_size), top ``num_experts_per_tok``, and one shared MLP of
    ``intermediate_size x num_shared_experts`` (the parameters of that many shared experts, averaged with the routed
    output or summed: no size). Dense layers lead: ``mlp_layer_types`` or ``first_k_dense_replace`` (default 0; SGLang
    reads the second, transformers and vLLM the first); given together they must agree. Layer types: ``layer_types``,
    else :func:`cohere2_moe_layer_types` over the ``first_k_dense_replace`` prefix (Cohere2MoeConfig derives them from
    that key, not from ``mlp_layer_types``), the dense prefix with a window pattern of its own. Refused in one line, where the
    engines would build different weights: ``attention_bias`` true (vLLM and SGLang hard-wire none), an untied head
    (vLLM computes the logits with embed_tokens and drops ``lm_head.*``), a routing or combination no engine accepts
    (:data:`COHERE2_MOE_CHOICES`); a dense prefix past the layers. ``use_qk_norm`` is read by neither engine (no norm
    is built) and sizes nothing; vLLM's sliding layers keep ``sliding_window + 1`` tokens, transformers'
    ``sliding_window``: the config's value is read (one token in 4,096)."""
    if cfg.get("attention_bias"):
        raise _refuse(mt, "q/k/v/o biases (attention_bias true) are not modelled: vLLM's and SGLang's "
                          "Cohere2MoeAttention build none, transformers' builds them")
    if cfg.get("tie_word_embeddings") is False:
        raise _refuse(mt, "an untied head (tie_word_embeddings false) is not modelled: vLLM's Cohere2MoeForCausalLM "
                          "computes the logits with embed_tokens and drops lm_head, transformers' builds one")
    for key, allowed in COHERE2_MOE_CHOICES.items():
        if cfg.get(key) is not None and cfg[key] not in allowed:
            raise _refuse(mt, f"{key} {_show(cfg[key])} is not {' or '.join(allowed)} (Cohere2-MoE's router and MoE "
                              "block raise on anything else)")
    L = _req(cfg, mt, "num_hidden_layers")
    first = cfg.get("first_k_dense_replace")
    if first is not None and first > L:
        raise SpecError(WHERE, f"model_type {mt}: first_k_dense_replace {first} is past the {L} layers")
    dense = _lite_dense_layers(cfg, mt, default=0)
    out = dict(cfg)
    if cfg.get("layer_types") is None:
        out["layer_types"] = cohere2_moe_layer_types(
            L, 0 if first is None else first, cfg.get("prefix_dense_sliding_window_pattern") or 1,
            cfg.get("sliding_window_pattern") or cfg.get("_sliding_window_pattern") or 4)
    expert = _req(cfg, mt, "intermediate_size")
    out.update(moe_intermediate_size=expert, first_k_dense_replace=dense,
               intermediate_size=cfg.get("prefix_dense_intermediate_size") or expert)
    return out


# what a MiMo-V2-Flash reading leaves out, said where the spec is shown (specs show)
MIMO_READING = ("MiMo-V2-Flash: the sliding layers' attention sinks are counted on the full layers too (the spec's "
                "sinks is one flag); the MTP layers the checkpoint carries are counted only where the config "
                "gives num_nextn_predict_layers")


def _mimo_v2_flash_keys(cfg: dict, mt: str) -> dict:
    """MiMo-V2-Flash in the names the readers use, from either spelling: the release's remote-code config
    (MiMoV2FlashConfig of configuration_mimo_v2_flash.py: ``hybrid_layer_pattern`` one 0 (full) or 1 (sliding) a layer,
    ``moe_layer_freq`` one 0 (dense) or 1 (MoE) a layer, ``swa_num_attention_heads``, ``swa_num_key_value_heads``,
    ``swa_head_dim``, ``swa_v_head_dim``, ``sliding_window_size``, ``add_swa_attention_sink_bias``/
    ``add_full_attention_sink_bias``, ``partial_rotary_factor``, ``n_shared_experts`` null) or transformers' native
    one (``models/mimo_v2_flash``; its converter drops the ``swa_*`` keys: ``layer_types``, ``mlp_layer_types``,
    ``rope_parameters`` per layer type; MiMoV2FlashAttention gives a sliding layer 2 x ``num_key_value_heads`` KV
    heads and sinks, a full layer none). The model (modular_mimo_v2_flash.py): Qwen2Attention with q/k/v of
    ``head_dim`` 192 (v of ``v_head_dim`` 128), biased by ``attention_bias``, o_proj without; LlamaDecoderLayer's two
    RMSNorms; Glm4MoeMLP of ``intermediate_size`` on dense layers, else DeepseekV3MoE without shared experts
    (``n_routed_experts`` gated experts of ``moe_intermediate_size``, a bias-free router whose
    e_score_correction_bias is a buffer, not counted as DeepSeek-V3's). The dense layers must lead. Defaults where
    neither spelling gives one: MiMoV2FlashConfig's (layer 0 and every 6th full; layer 0 dense; factor 0.334).
    ``attention_value_scale``, ``swa_rope_theta``, ``attention_chunk_size``, ``layernorm_epsilon``, ``scoring_func``,
    ``topk_method``, ``n_group``/``topk_group``, ``routed_scaling_factor``, ``norm_topk_prob`` size nothing."""
    out = dict(cfg)
    L = _req(_checked({"num_hidden_layers": cfg.get("num_hidden_layers")}, mt), mt, "num_hidden_layers")
    lists = {"hybrid_layer_pattern": ("layer_types", "full_attention", "sliding_attention"),
             "moe_layer_freq": ("mlp_layer_types", "dense", "sparse")}
    for key, (native, zero, one) in lists.items():
        bits = out.pop(key, None)
        if bits is None:
            continue
        if not isinstance(bits, list) or any(b not in (0, 1) or isinstance(b, bool) for b in bits):
            raise SpecError(WHERE, f"model_type {mt}: {key} must be a list of 0 and 1, one a layer, got {_show(bits)}")
        if len(bits) != L:
            raise SpecError(WHERE, f"model_type {mt}: {key} names {len(bits)} layers for num_hidden_layers {L}")
        types = [one if b else zero for b in bits]
        if out.get(native) is not None and list(out[native]) != types:
            raise _refuse(mt, f"{key} and {native} disagree")
        out[native] = types
    if out.get("layer_types") is None:          # MiMoV2FlashConfig.__post_init__
        out["layer_types"] = ["full_attention" if i == 0 or (i + 1) % 6 == 0 else "sliding_attention"
                              for i in range(L)]
    if out.get("mlp_layer_types") is None:
        out["mlp_layer_types"] = ["dense"] + ["sparse"] * (L - 1)
    out["first_k_dense_replace"] = _lite_dense_layers(out, mt)
    if out.get("n_shared_experts"):            # MiMoV2FlashSparseMoeBlock deletes DeepseekV3MoE's shared experts
        raise _refuse(mt, "n_shared_experts (MiMo-V2-Flash's MoE has no shared experts) is not modelled")
    out.pop("n_shared_experts", None)
    window, size = out.get("sliding_window"), out.get("sliding_window_size")
    if window is not None and size is not None and window != size:
        raise _refuse(mt, f"sliding_window {_show(window)} and sliding_window_size {_show(size)} disagree")
    out["sliding_window"] = window if window is not None else size if size is not None else 128
    factor = out.get("partial_rotary_factor")
    rp = out.get("rope_parameters")
    if factor is None and isinstance(rp, dict):        # native: one factor per layer type
        factors = {rp[t].get("partial_rotary_factor") for t in ("full_attention", "sliding_attention")
                   if isinstance(rp.get(t), dict)}
        if len(factors) > 1:
            raise _refuse(mt, "a partial RoPE factor of each layer type is not modelled (the spec has one)")
        factor = factors.pop() if factors else None
    out["partial_rotary_factor"] = 0.334 if factor is None else factor
    native = "swa_num_key_value_heads" not in out and "hybrid_layer_pattern" not in cfg
    sinks = ("add_swa_attention_sink_bias", "add_full_attention_sink_bias")
    if native:                                  # MiMoV2FlashAttention: is_swa -> 2 x KV heads and sinks
        kv = out.get("num_key_value_heads")
        out.setdefault("swa_num_key_value_heads", 2 * kv if _whole(kv, 1) else kv)
        out.update({sinks[0]: True, sinks[1]: False})
    out.setdefault(sinks[0], True)              # the remote MiMoV2FlashConfig's defaults
    out.setdefault(sinks[1], False)
    for swa, full in (("swa_num_attention_heads", "num_attention_heads"), ("swa_num_key_value_heads",
                      "num_key_value_heads"), ("swa_head_dim", "head_dim"), ("swa_v_head_dim", "v_head_dim")):
        if out.get(swa) is None:
            out[swa] = out.get(full)
    for key in ("swa_num_attention_heads", "swa_num_key_value_heads", "swa_head_dim", "swa_v_head_dim"):
        if not _whole(out[key], 1):
            raise SpecError(WHERE, f"model_type {mt}: {key} must be a whole number of at least 1, "
                                   f"got {_show(out[key])}")
    return out


# StepFun's decoders read by _step_keys: Step-3 (Step3TextConfig, vLLM step3_text.py) and Step-3.5 (Step3p5Config,
# vLLM step3p5.py, step3p5_mtp.py)
STEP_FAMILY = ("step3_text", "step3p5")

# what a Step-3.5 reading is and leaves out, said where the spec is shown (specs show)
STEP3P5_READING = ("Step-3.5: read as vLLM's Step3p5Config and step3p5.py build it (no whole config.json of "
                   "Step-3.5-Flash was pinned); each MTP module's own output head (shared_head.head, vocab x hidden) "
                   "is not counted, as DeepSeek-V3's is not, nor the routers' router_bias (one value an expert, "
                   "DeepSeek-V3's e_score_correction_bias); vLLM keeps the routers in fp32")

# attention_other_setting keys vLLM's Step3p5DecoderLayer reads (config.attention_other_setting[key]: all must be
# there), and the top-level key each stands in for on the layers of its attention_type
STEP3P5_OTHER = {"num_attention_heads": "num_attention_heads", "num_attention_groups": "num_key_value_heads",
                 "head_dim": "head_dim"}


def _step_moe_layers(cfg: dict, mt: str, layers: int) -> set[int]:
    """The layers ``moe_layers_enum`` names (vLLM ``Step3TextDecoderLayer``/``Step3p5DecoderLayer``: ``[int(i) for i
    in moe_layers_enum.strip().split(",")]``; the config classes' defaults are tuples, read as lists), each one of the
    ``layers`` (the decoder's and, for Step-3.5, its MTP layers, which vLLM builds with the same rule)."""
    enum = cfg.get("moe_layers_enum")
    if enum is None:
        # vLLM then takes layers 1 to L-1, the remote Step3p5Config 3 to 44: which one a file means is not known
        raise _refuse(mt, "without moe_layers_enum its MoE layers are not known (vLLM takes layers 1 on, StepFun's "
                          "remote config class layers 3 to 44)")
    if _name(enum):
        # ASCII digits between commas, as vLLM's int() of each piece needs one: str.isdigit() passed "²" (int()
        # then raised a ValueError traceback), and a blank string was read as no MoE layer where vLLM's int("") fails
        items = [x.strip() for x in enum.split(",")]
        if not all(re.fullmatch(r"[0-9]+", x) for x in items):
            raise SpecError(WHERE, f"model_type {mt}: moe_layers_enum must name layers as whole numbers separated by "
                                   f"commas, got {_show(enum)}")
        found = [int(x) for x in items]
    elif isinstance(enum, list) and all(_whole(x, 0) for x in enum):
        found = list(enum)
    else:
        raise SpecError(WHERE, f"model_type {mt}: moe_layers_enum must be a string of layer numbers separated by "
                               f"commas, got {_show(enum)}")
    outside = [i for i in found if i >= layers]
    if outside or len(set(found)) != len(found):
        what = f"layer {outside[0]}, outside the {layers} layers" if outside else "a layer twice"
        raise SpecError(WHERE, f"model_type {mt}: moe_layers_enum names {what}")
    return set(found)


def _step_keys(cfg: dict, mt: str) -> dict:
    """StepFun's Step-3 (``step3_text``) and Step-3.5 (``step3p5``) in the names the readers use.

    Both (vLLM ``step3_text.py``, ``step3p5.py``): ``num_attention_groups`` K/V heads of ``head_dim``; two RMSNorms a
    layer; on the layers ``moe_layers_enum`` names (:func:`_step_moe_layers`) a bias-free router ``moe.gate`` d ->
    ``moe_num_experts``, that many gated experts of ``moe_intermediate_size``, top ``moe_top_k``, and one gated
    ``share_expert`` of ``share_expert_dim``; elsewhere a gated MLP of ``intermediate_size``. The MoE layers must be
    one run (:func:`_step_ffn`: ``first_dense_layers`` before it, ``last_dense_layers`` after it).

    Step-3 (``Step3TextAttention``, the release's ``Step3vAttention``): one K/V head (vLLM raises on another count),
    queries through ``q_proj`` d -> ``share_q_dim`` (``head_dim`` when 0), ``inter_norm`` and ``wq`` ->
    heads x ``head_dim``: ``attention.q_lora_rank``. Its context is ``max_position_embedding`` (Step3TextConfig's
    name). No MTP module; ``tie_word_embeddings`` true is refused (vLLM builds lm_head apart whatever it says).

    Step-3.5 (``Step3p5Attention``; no whole config.json of Step-3.5-Flash was pinned, so this follows vLLM's
    ``Step3p5Config`` and model code): q/k/v/o of ``head_dim`` with per-head ``q_norm``/``k_norm`` always, biases by
    ``attention_bias``, ``g_proj`` d -> heads by ``use_head_wise_attn_gate`` (``attention.head_gate``). ``layer_types``
    holds the ``num_hidden_layers`` layers and then one entry a ``num_nextn_predict_layers`` MTP layer (vLLM builds
    each MTP block as a decoder layer at index ``num_hidden_layers + i``); without it, with a ``sliding_window``, the
    even layers are sliding (vLLM: ``layer_idx % 2 == 0``) and ``attention_other_setting`` applies to none. The layers
    of ``attention_other_setting.attention_type`` (only ``sliding_attention`` is read) take its
    ``num_attention_heads``, ``num_attention_groups``, ``head_dim`` (a null one the top level's, as vLLM's ``x if x
    else config.x``): ``attention.sliding_shape``. ``partial_rotary_factors`` (one a layer, MTP layers included)
    must be one value a layer type: RoPE over that share of each type's head. The MTP layers' type and FFN (dense
    unless ``moe_layers_enum`` names them) become ``mtp_layer_type`` and ``mtp_ffn``. The sizing keys must be given:
    vLLM's Step3p5Config and StepFun's remote class disagree on every default. ``att_impl_type`` other than GQA is
    refused (vLLM raises). ``rope_theta`` lists, ``rope_scaling``, ``yarn_only_types``, ``use_rope_layers``,
    ``swiglu_limits``, ``swiglu_limits_shared``, ``moe_router_activation``, ``moe_router_scaling_factor``,
    ``norm_expert_weight``, ``need_fp32_gate``, ``use_moe`` and ``moe_every_n_layer`` size nothing.

    Step-3.7 (``step3p7``, its text_config ``step3p5``): one transformers version of Step3p7TextConfig
    (models/step3p7/configuration_step3p7.py) takes MiniMax-M3's ``sparse_attention_config`` and builds a lightning
    indexer on the layers ``layer_types`` marks ``minimax_m3_sparse`` (refused as an unknown layer type); it derives
    those from ``sparse_attention_freq`` only where layer_types is None, after filling layer_types with
    full_attention itself, and vLLM's step3p7.py builds the text_config as its Step3p5 decoder, which reads no such
    block. A ``sparse_attention_freq`` (0 and 1, one a layer) that marks a layer, ``use_sparse_attention`` not false,
    asks for an indexer neither engine builds: refused, as is a block or a freq of another type."""
    sparse = cfg.get("sparse_attention_config")
    if sparse is not None and not isinstance(sparse, dict):
        raise SpecError(WHERE, f"model_type {mt}: sparse_attention_config must be a mapping, got {_show(sparse)}")
    freq = (sparse or {}).get("sparse_attention_freq")
    if freq is not None and (not isinstance(freq, list) or any(b not in (0, 1) or isinstance(b, bool) for b in freq)):
        # a freq of 5 ended in a TypeError traceback, one of "x" was refused as marking layers
        raise SpecError(WHERE, f"model_type {mt}: sparse_attention_config.sparse_attention_freq must be a list of 0 "
                               f"and 1, one a layer, got {_show(freq)}")
    if freq and any(freq) and sparse.get("use_sparse_attention", True) is not False:
        raise _refuse(mt, "sparse_attention_config.sparse_attention_freq marks layers for MiniMax-M3's lightning "
                          "indexer, which neither engine builds on this decoder (transformers' Step3p7TextConfig "
                          "reads it only where layer_types is unset, after setting layer_types itself; vLLM's "
                          "Step3p5 reads no such block): whether the checkpoint holds one cannot be told")
    out = dict(cfg)
    impl = cfg.get("att_impl_type", "GQA")
    if impl != "GQA":
        raise _refuse(mt, f"att_impl_type {_show(impl)} (vLLM's {mt} builds GQA only) is not modelled")
    kv = _req(cfg, mt, "num_attention_groups")
    if cfg.get("num_key_value_heads") is not None and cfg["num_key_value_heads"] != kv:
        raise _refuse(mt, f"num_key_value_heads {cfg['num_key_value_heads']} and num_attention_groups {kv} disagree")
    out["num_key_value_heads"] = kv
    L = _req(cfg, mt, "num_hidden_layers")
    mtp = cfg.get("num_nextn_predict_layers") or 0
    if mt == "step3_text":
        if kv != 1:
            raise _refuse(mt, f"num_attention_groups {kv}: Step3TextAttention builds one K/V head")
        if cfg.get("tie_word_embeddings"):
            raise _refuse(mt, "tie_word_embeddings true (vLLM's Step3TextForCausalLM builds lm_head apart) is not "
                              "modelled")
        if mtp:
            raise _refuse(mt, "num_nextn_predict_layers (Step-3 has no MTP module in vLLM's step3_text.py) is not "
                              "modelled")
        out["max_position_embeddings"] = cfg.get("max_position_embedding") or cfg.get("max_seq_len")
    moe = _step_moe_layers(cfg, mt, L + mtp)
    out["_moe_layers"] = sorted(i for i in moe if i < L)
    if mt == "step3p5":
        out.update(_step3p5_layers(cfg, mt, L, mtp, moe))
    return out


def _step3p5_layers(cfg: dict, mt: str, L: int, mtp: int, moe: set[int]) -> dict:
    """Step-3.5's per-layer keys (:func:`_step_keys`): ``layer_types`` of the decoder's layers, the sliding shape
    (``_swa``), the RoPE factor of the full layers (``partial_rotary_factor``) and of the sliding ones (``_swa_rope``),
    the MTP layers' type and FFN (``_mtp_layer_type``, ``_mtp_ffn``)."""
    out: dict = {}
    types = cfg.get("layer_types")
    if types is None:
        types = ["sliding_attention" if cfg.get("sliding_window") and i % 2 == 0 else "full_attention"
                 for i in range(L + mtp)]
        other = None
    else:
        if len(types) != L + mtp:
            raise _refuse(mt, f"layer_types has {len(types)} entries for {L} layers and {mtp} MTP layers (vLLM reads "
                              "one a layer, the MTP layers' after the decoder's)")
        other = cfg.get("attention_other_setting")
    unknown = sorted({str(t) for t in types if t not in ("full_attention", "sliding_attention")})
    if unknown:
        raise _refuse(mt, f"layer type(s) {', '.join(unknown)} are not modelled")
    out["layer_types"] = list(types[:L])
    if mtp:
        tail = set(types[L:])
        kinds = {i in moe for i in range(L, L + mtp)}
        if len(kinds) > 1:
            raise _refuse(mt, "MTP layers of different FFNs (moe_layers_enum names some of them) are not modelled")
        # None: of both types, which only matters where the two types have shapes of their own (spec_dict_...)
        out["_mtp_layer_type"] = LAYER_NAMES[tail.pop()] if len(tail) == 1 else None
        out["_mtp_ffn"] = "moe" if kinds.pop() else "dense"
    factors = cfg.get("partial_rotary_factors")
    if factors is not None:
        if not isinstance(factors, list) or len(factors) != L + mtp or                 any(isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1 for f in factors):
            raise SpecError(WHERE, f"model_type {mt}: partial_rotary_factors must be one fraction from 0 to 1 a layer "
                                   f"({L + mtp}), got {_show(factors)}")
        by_type: dict[str, set] = {}
        for t, f in zip(types, factors):
            by_type.setdefault(t, set()).add(f)
        if any(len(v) > 1 for v in by_type.values()):
            raise _refuse(mt, "partial_rotary_factors that differ between layers of one type are not modelled")
        out["partial_rotary_factor"] = by_type.get("full_attention", {1.0}).pop()
        out["_swa_rope"] = by_type.get("sliding_attention", {1.0}).pop()
    if other is not None:
        if not isinstance(other, dict):
            raise SpecError(WHERE, f"model_type {mt}: attention_other_setting must be a mapping, got {_show(other)}")
        missing = [k for k in ("attention_type", *STEP3P5_OTHER) if k not in other]
        if missing:
            raise SpecError(WHERE, f"model_type {mt}: attention_other_setting has no {missing[0]} (vLLM's "
                                   "Step3p5DecoderLayer reads attention_type, num_attention_heads, num_attention_groups "
                                   "and head_dim)")
        if other["attention_type"] != "sliding_attention":
            raise _refuse(mt, f"attention_other_setting for {_show(other['attention_type'])} layers (only the "
                              "sliding layers' own shape is modelled) is not modelled")
        swa = {}
        for key, top in STEP3P5_OTHER.items():
            v = other[key]
            if v is not None and v != 0 and not _whole(v, 1):
                raise SpecError(WHERE, f"model_type {mt}: attention_other_setting.{key} must be a whole number of at "
                                       f"least 1, got {_show(v)}")
            if v:
                swa[top] = v
        out["_swa"] = swa
    return out


# what a LongCat-Flash reading is, said where the spec is shown (specs show)
LONGCAT_READING = ("LongCat-Flash: each of its num_layers layers is two spec layers (two MLA blocks, two dense MLPs; "
                   "the shortcut MoE counted on the second, beside its MLP as a shared expert), as transformers' cache "
                   "counts them; the router's zero-expert rows are not counted, and active counts every routed slot "
                   "as a real expert (the card's upper bound)")


def _longcat_keys(cfg: dict, mt: str) -> dict:
    """LongCat-Flash (LongcatFlashConfig and LongcatFlashDecoderLayer, transformers models/longcat_flash: LongCat-Flash-
    Chat, -Thinking) in the names the MLA reader uses. Each of the ``num_layers`` layers holds two LongcatFlashMLA
    blocks (DeepSeek-V3's MLA with a q-LoRA; ``mla_scale_q_lora``/``mla_scale_kv_lora`` scale activations, no size),
    two dense LongcatFlashMLPs of ``ffn_hidden_size``, four RMSNorms, and one shortcut MoE (LongcatFlashMoE:
    ``n_routed_experts`` gated experts of ``expert_ffn_hidden_size``, top ``moe_topk``, among ``zero_expert_num``
    identity experts that have no weights; a router d -> experts + zero experts). LongcatFlashModel sets
    num_hidden_layers to 2 x num_layers for its cache (self_attn[i] is cache layer 2 x layer + i), and so does this
    reading: 2 x ``num_layers`` spec layers of one MLA block, one dense MLP and two norms each, the MoE on every
    second one (:func:`_longcat_ffn`). What the spec cannot hold is said (:data:`LONGCAT_READING`): the router's
    ``zero_expert_num`` rows (d x zero_expert_num a layer) are not counted, and the active count takes every routed
    slot as a real expert (a token routed to identity experts uses fewer). Refused in one line: ``attention_method``
    other than MLA, ``attention_bias`` (biases on the MLA projections), ``router_bias`` (a bias over the zero experts
    too), ``zero_expert_type`` other than identity, a ``qk_head_dim`` that is not nope + rope, a
    ``num_hidden_layers`` that is not twice ``num_layers``. ``routed_scaling_factor`` sizes nothing; the checkpoint's
    MTP module (model.mtp, skipped by transformers, no key gives its shape) is not counted."""
    method = cfg.get("attention_method", "MLA")
    if method != "MLA":
        raise _refuse(mt, f"attention_method {_show(method)} (only MLA is read) is not modelled")
    for key, what in (("attention_bias", "biases on the MLA projections (attention_bias) are"),
                      ("router_bias", "a router bias over the experts and zero experts (router_bias) is")):
        if cfg.get(key) is True:
            raise _refuse(mt, f"{what} not modelled")
        if cfg.get(key) not in (None, False):
            raise SpecError(WHERE, f"model_type {mt}: {key} must be true or false, got {_show(cfg[key])}")
    kind = cfg.get("zero_expert_type", "identity")
    if cfg.get("zero_expert_num") and kind != "identity":
        raise _refuse(mt, f"zero experts of type {_show(kind)} (only identity experts are read) are not modelled")
    nope, rope = _req(cfg, mt, "qk_nope_head_dim"), _req(cfg, mt, "qk_rope_head_dim")
    if cfg.get("qk_head_dim") is not None and cfg["qk_head_dim"] != nope + rope:
        raise _refuse(mt, f"qk_head_dim {cfg['qk_head_dim']} is not qk_nope_head_dim + qk_rope_head_dim "
                          f"({nope + rope})")
    layers = _req(cfg, mt, "num_layers")
    if cfg.get("num_hidden_layers") is not None and cfg["num_hidden_layers"] != 2 * layers:
        raise _refuse(mt, f"num_hidden_layers {cfg['num_hidden_layers']} is not twice num_layers {layers} (two "
                          "attention blocks a layer)")
    out = dict(cfg)
    out["num_hidden_layers"] = 2 * layers
    if not _req(cfg, mt, "q_lora_rank"):
        _missing(mt, "q_lora_rank")              # LongcatFlashMLA always projects queries through q_a_proj
    return out


def _longcat_ffn(cfg: dict, mt: str) -> dict:
    """LongCat-Flash's FFN blocks over its 2 x num_layers spec layers (:func:`_longcat_keys`): every spec layer a dense
    gated MLP of ``ffn_hidden_size``; every second one also the layer's MoE (``n_routed_experts`` of
    ``expert_ffn_hidden_size``, top ``moe_topk``), its MLP then counted as one shared expert of the same width."""
    width = _req(cfg, mt, "ffn_hidden_size")
    experts = _req(cfg, mt, "n_routed_experts")
    if not experts:
        raise _refuse(mt, "n_routed_experts is 0: a shortcut MoE without experts is not modelled")
    return {"kind": "moe", "intermediate_size": width, "num_experts": experts,
            "experts_per_token": _req(cfg, mt, "moe_topk"), "expert_intermediate_size":
            _req(cfg, mt, "expert_ffn_hidden_size"), "num_shared_experts": 1,
            "shared_expert_intermediate_size": width, "moe_layer_step": 2}


def _baichuan_alibi(cfg: dict) -> bool:
    """Whether a Baichuan config's model uses ALiBi (no rotary dims). The config does not say: the repo's remote code
    does (Baichuan-7B and Baichuan2-7B: RoPE; Baichuan-13B and Baichuan2-13B: ALiBi). vLLM's rule, kept here
    (vllm/model_executor/models/baichuan.py): architecture ``BaiChuanForCausalLM`` (capital C, Baichuan-7B) is RoPE;
    ``BaichuanForCausalLM`` is RoPE when ``hidden_size`` is 4096 (Baichuan2-7B), ALiBi otherwise (the 13Bs)."""
    archs = cfg.get("architectures") if isinstance(cfg.get("architectures"), list) else []
    return "BaiChuanForCausalLM" not in archs and cfg.get("hidden_size") != 4096


def _baichuan_positions(cfg: dict) -> str:
    """The description of a Baichuan reading: which positions it took, and why (the config does not say)."""
    if _baichuan_alibi(cfg):
        return ("Baichuan: W_pack (fused q/k/v), ALiBi positions (hidden_size not 4096: Baichuan-13B, Baichuan2-13B, "
                "as vLLM tells them apart)")
    return ("Baichuan: W_pack (fused q/k/v), RoPE (hidden_size 4096: Baichuan-7B, Baichuan2-7B, as vLLM tells them "
            "apart)")


def _dbrx_keys(cfg: dict, mt: str) -> dict:
    """DBRX's config (transformers DbrxConfig, modeling_dbrx.py) in the names the readers use: ``n_layers`` layers of
    width ``d_model``, ``n_heads`` query heads of ``d_model / n_heads``, ``max_seq_len`` positions, and two nested
    blocks: ``attn_config`` (DbrxAttentionConfig: ``kv_n_heads`` K/V heads; ``clip_qkv`` clamps the fused Wqkv
    output and ``rope_theta`` sets RoPE's base, neither a size) and ``ffn_config`` (DbrxFFNConfig: ``moe_num_experts``
    gated experts (DbrxExpertGLU: w1, v1 of ``d -> ffn_hidden_size``, w2 back) of ``ffn_hidden_size``, top
    ``moe_top_k``, a bias-free router). A size a block leaves out takes its class default (DBRX_ATTN_DEFAULTS,
    DBRX_FFN_DEFAULTS); a block that is not a mapping, or a size that is not a whole number of at least 1, is one
    line naming ``attn_config.kv_n_heads`` or the like."""
    out = dict(cfg)
    for block, defaults in (("attn_config", DBRX_ATTN_DEFAULTS), ("ffn_config", DBRX_FFN_DEFAULTS)):
        inner = cfg.get(block)
        if inner is None:
            inner = {}
        if not isinstance(inner, dict):
            raise SpecError(WHERE, f"model_type {mt}: {block} must be a mapping, got {_show(inner)}")
        for key, default in defaults.items():
            if key in inner and inner[key] is None:      # kept as None by the class, as a top-level null
                raise SpecError(WHERE, f"model_type {mt}: {block}.{key} is null, which its transformers config "
                                       f"class keeps as None (no model is built from it); leave the key out for "
                                       f"the class default {default}, or give a value")
            v = inner.get(key, default)
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not _whole(v, 1):
                raise SpecError(WHERE, f"model_type {mt}: {block}.{key} must be a whole number of at least 1, "
                                       f"got {_show(v)}")
            out[DBRX_NAMES[key]] = v
    out["num_hidden_layers"] = cfg.get("n_layers")
    out["hidden_size"] = cfg.get("d_model")
    out["num_attention_heads"] = cfg.get("n_heads")
    out["max_position_embeddings"] = cfg.get("max_seq_len")
    return out


def _hunyuan_lists(cfg: dict, mt: str) -> dict:
    """Hunyuan's per-layer lists (``moe_topk``, ``moe_intermediate_size``, ``num_shared_expert``, ...; Hunyuan-A13B
    writes ``[8] * 32``) as the one value they repeat: vLLM takes entry ``layer_id`` of each, so a list must name
    every layer; one whose entries differ describes layers the spec cannot tell apart and is refused."""
    out = dict(cfg)
    L = cfg.get("num_hidden_layers")
    for key in HUNYUAN_LISTS:
        v = cfg.get(key)
        if not isinstance(v, list):
            continue
        if _whole(L, 1) and len(v) != L:
            raise SpecError(WHERE, f"model_type {mt}: {key} names {len(v)} layers for num_hidden_layers {L}")
        if v and len({repr(x) for x in v}) > 1:
            raise _refuse(mt, f"{key} differing layer by layer ({_show(v)}) is not modelled")
        out[key] = v[0] if v else None
    return out


GEMMA3N_READING = ("activation_sparsity_pattern changes no weight and no FLOP counted: transformers and vLLM compute "
                   "the gate densely and zero it below a statistical top-k cutoff (Gemma3nTextMLP._gaussian_topk, "
                   "GeluAndMulSparse)")


def _gemma3n_keys(cfg: dict, mt: str) -> dict:
    """Gemma-3n's text decoder (``Gemma3nTextConfig``) in the names the readers use: ``intermediate_size`` one value
    a layer (``__post_init__`` repeats a single value L times; MatFormer's released E2B and E4B give one value
    repeated) read as that value, and refused when the widths differ (a MatFormer "mix-n-match" slice, the
    google/gemma3n-slicing-configs dataset: per-layer FFN widths the spec cannot tell apart); ``layer_types``, when
    left out, the class's (``(i + 1) % 5 == 0`` full, the rest sliding); ``activation_sparsity_pattern`` checked as
    the class checks it (one fraction a layer) and read as no change (:data:`GEMMA3N_READING`);
    ``num_kv_shared_layers`` below ``num_hidden_layers`` (at ``L`` transformers shares nothing, ``first > 0`` fails,
    while vLLM would share every layer: no reading is safe); ``altup_active_idx`` one of the AltUp streams. A quantized
    checkpoint is refused: no quantization component holds the per-layer embeddings or AltUp/LAuReL."""
    out = dict(cfg)
    L = cfg.get("num_hidden_layers")
    if not _whole(L, 1):
        return out                        # _checked names it
    width = cfg.get("intermediate_size")
    if isinstance(width, list):
        if len(width) != L:
            raise SpecError(WHERE, f"model_type {mt}: intermediate_size names {len(width)} layers for "
                                   f"num_hidden_layers {L}")
        if width and len({repr(x) for x in width}) > 1:
            raise _refuse(mt, f"FFN widths differing layer by layer (intermediate_size {_show(width)}: a MatFormer "
                              "slice) are not modelled")
        out["intermediate_size"] = width[0] if width else None
    if cfg.get("layer_types") is None:
        out["layer_types"] = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(L)]
    sparsity = cfg.get("activation_sparsity_pattern")
    if sparsity is not None and (not isinstance(sparsity, list) or len(sparsity) != L or any(
            isinstance(x, (bool, NonFinite)) or not isinstance(x, (int, float)) or not 0 <= x < 1 for x in sparsity)):
        raise SpecError(WHERE, f"model_type {mt}: activation_sparsity_pattern must be {L} fractions from 0 to below 1 "
                               f"(one a layer), got {_show(sparsity)}")
    shared = cfg.get("num_kv_shared_layers")
    if _whole(shared, 0) and shared >= L:
        raise SpecError(WHERE, f"model_type {mt}: num_kv_shared_layers ({shared}) must be less than "
                               f"num_hidden_layers ({L}): at least one layer computes the K/V the others read")
    inputs, active = cfg.get("altup_num_inputs"), cfg.get("altup_active_idx")
    if _whole(inputs, 1) and _whole(active, 0) and active >= inputs:
        raise SpecError(WHERE, f"model_type {mt}: altup_active_idx ({active}) must be below altup_num_inputs "
                               f"({inputs})")
    if cfg.get("quantization_config") is not None:
        raise _refuse(mt, "a quantized checkpoint is not priced: no quantization component holds the per-layer "
                          "embeddings or AltUp and LAuReL")
    return out


def _residual_extras(cfg: dict, mt: str) -> dict | None:
    """The spec's ``residual_extras`` block of a Gemma-3n decoder: ``altup_num_inputs`` AltUp streams, ``laurel_rank``,
    ``hidden_size_per_layer_input`` (p) and ``vocab_size_per_layer_input`` rows of the per-layer table (transformers
    ``Gemma3nTextModel``, ``Gemma3nTextDecoderLayer``; :class:`mlacalc.spec.ResidualExtras`)."""
    if mt == "gemma4_text":                   # per-layer inputs alone (_gemma4_keys)
        return cfg["_gemma4_extras"]
    if mt != "gemma3n_text":
        return None
    return {"altup_inputs": _req(cfg, mt, "altup_num_inputs"), "laurel_rank": _req(cfg, mt, "laurel_rank"),
            "per_layer_input_size": _req(cfg, mt, "hidden_size_per_layer_input"),
            "per_layer_vocab_size": _req(cfg, mt, "vocab_size_per_layer_input")}


# Gemma-4 (transformers models/gemma4/configuration_gemma4.py, Gemma4TextConfig; modeling_gemma4.py; vLLM
# model_executor/models/gemma4.py; docs/zoo-facts.md section 37). The keys a gemma4_text config may carry: the class's
# fields as transformers 5.5 (the release) to 5.25 define them, expert_intermediate_size (the release files' dev-era
# name, null in them), per_layer_config (what transformers >= 5.15 writes in place of global_head_dim and
# num_global_key_value_heads), vLLM's use_second_mlp_block (its alias of enable_moe_block), sliding_window_pattern
# (ports write it; no class reads it), and what PretrainedConfig saves beside them. Any other key is refused by name
GEMMA4_KEYS = {
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "hidden_activation", "max_position_embeddings", "initializer_range",
    "rms_norm_eps", "use_cache", "pad_token_id", "eos_token_id", "bos_token_id", "tie_word_embeddings",
    "rope_parameters", "attention_bias", "attention_dropout", "sliding_window", "layer_types",
    "final_logit_softcapping", "use_bidirectional_attention", "vocab_size_per_layer_input",
    "hidden_size_per_layer_input", "num_global_key_value_heads", "global_head_dim", "attention_k_eq_v",
    "num_kv_shared_layers", "enable_moe_block", "use_double_wide_mlp", "num_experts", "top_k_experts",
    "moe_intermediate_size", "expert_intermediate_size", "per_layer_config", "use_second_mlp_block",
    "sliding_window_pattern", "model_type", "architectures", "torch_dtype", "dtype", "transformers_version",
    "_name_or_path", "output_attentions", "output_hidden_states", "return_dict", "id2label", "label2id",
    "problem_type", "tokenizer_class", "chunk_size_feed_forward", "is_encoder_decoder", "quantization_config"}
# Gemma4TextConfig's defaults for its keys outside DEFAULTS (whose nulls the class refuses: strict int and bool fields)
GEMMA4_SWITCHES = {"attention_k_eq_v": False, "enable_moe_block": False, "use_double_wide_mlp": False}
GEMMA4_TYPES = {"sliding_attention": "sliding", "full_attention": "full"}
# Gemma4TextConfig.__post_init__'s rope_parameters where the config gives none: proportional RoPE over a quarter of
# each full layer's head, the default over all of each sliding layer's
GEMMA4_ROPE = {"sliding_attention": 1.0, "full_attention": 0.25}


def _gemma4_whole(cfg: dict, mt: str, key: str, default: Any, minimum: int = 1) -> int:
    """``cfg[key]`` as a whole number of at least ``minimum``, ``default`` where the key is left out; a null (the
    class's strict int field refuses it) or anything else is one line."""
    if key not in cfg:
        return default
    v = cfg[key]
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not _whole(v, minimum):
        raise SpecError(WHERE, f"model_type {mt}: {key} must be a whole number of at least {minimum}, got {_show(v)}")
    return v


def _gemma4_layer_shapes(cfg: dict, mt: str, types: list[str], k_eq_v: bool) -> dict[str, tuple[int, int]]:
    """``{layer type: (head_dim, K/V heads)}`` of a Gemma-4 decoder. Sliding layers: ``head_dim`` and
    ``num_key_value_heads``. Full layers, from ``per_layer_config`` where the file has one (transformers >= 5.15 writes
    each full layer's overrides there, ``{"05": {"head_dim": 512, "num_key_value_heads": 4}, ...}``, and reads nothing
    else), else as transformers 5.5 (Gemma4TextAttention) and vLLM (Gemma4DecoderLayer) build them: ``global_head_dim``
    (512 where left out), and ``num_global_key_value_heads`` K/V heads where ``attention_k_eq_v`` (neither engine reads
    it otherwise), ``num_key_value_heads`` elsewhere. Refused in one line: ``attention_k_eq_v`` without
    ``num_global_key_value_heads`` (both build ``num_attention_heads // None`` and fail; transformers >= 5.15 falls back
    to num_key_value_heads), a per_layer_config beside global keys it contradicts (which one sizes the model depends on
    the transformers version), overrides of other attributes or on some layers of a type only."""
    hd, kv = cfg["head_dim"], cfg["num_key_value_heads"]
    glob_hd = _gemma4_whole(cfg, mt, "global_head_dim", 512)
    glob_kv = cfg.get("num_global_key_value_heads")
    if glob_kv is not None:
        glob_kv = _gemma4_whole(cfg, mt, "num_global_key_value_heads", None)
    per_layer = cfg.get("per_layer_config")
    if per_layer is None:
        if k_eq_v and glob_kv is None:
            raise _refuse(mt, "attention_k_eq_v true without num_global_key_value_heads: transformers' "
                              "Gemma4TextAttention (5.5) and vLLM's Gemma4DecoderLayer build num_attention_heads // "
                              "None K/V groups and fail")
        return {"sliding": (hd, kv), "full": (glob_hd, glob_kv if k_eq_v else kv)}
    if not isinstance(per_layer, dict):
        raise SpecError(WHERE, f"model_type {mt}: per_layer_config must be a mapping of layer index to overrides, got "
                               f"{_show(per_layer)}")
    shapes: dict[str, set] = {"sliding": set(), "full": set()}
    over: dict[int, dict] = {}
    for key, o in per_layer.items():
        index = int(key) if isinstance(key, str) and key.isdigit() else None
        if index is None or index >= len(types) or not isinstance(o, dict):
            raise SpecError(WHERE, f"model_type {mt}: per_layer_config entry {_show(key)} must map a layer index "
                                   f"(0 to {len(types) - 1}) to overrides, got {_show(o)}")
        other = sorted(set(o) - {"head_dim", "num_key_value_heads"})
        if other:
            raise _refuse(mt, f"per_layer_config overrides {other[0]} on layer {index}: only head_dim and "
                              "num_key_value_heads are read")
        over[index] = o
    for i, t in enumerate(types):
        o = over.get(i, {})
        shape = (o.get("head_dim", hd), o.get("num_key_value_heads", kv))
        if not all(_whole(x, 1) for x in shape):
            raise SpecError(WHERE, f"model_type {mt}: per_layer_config gives layer {i} head_dim and "
                                   f"num_key_value_heads {_show(list(shape))}, not whole numbers of at least 1")
        shapes[t].add(shape)
    varied = [t for t, s in shapes.items() if len(s) > 1]
    if varied:
        raise _refuse(mt, f"per_layer_config gives {varied[0]} layers different head widths or K/V heads: one shape "
                          "a layer type is modelled")
    out = {t: next(iter(s)) if s else (hd, kv) for t, s in shapes.items()}
    glob = {"global_head_dim": (glob_hd, out["full"][0]),
            "num_global_key_value_heads": (glob_kv, out["full"][1] if k_eq_v else None)}
    for key, (given, read) in glob.items():
        if key in cfg and cfg[key] is not None and read is not None and given != read:
            raise _refuse(mt, f"{key} {given} and per_layer_config's {read} on the full layers disagree "
                              "(transformers >= 5.15 reads per_layer_config, 5.5 to 5.14 and vLLM the global key)")
    return out


def _gemma4_types(cfg: dict, mt: str, L: int) -> tuple[list[str], str]:
    """Gemma-4's layer types (``full`` or ``sliding``) and a note: ``layer_types``, else Gemma4TextConfig's pattern,
    every sixth layer full (``(i + 1) % 6``; ``sliding_window_pattern``, which no class reads, must agree or be 6);
    the last layer full whatever the list says, as ``__post_init__`` forces it ("Last layer must use
    `full_attention`"), which both engines then read."""
    pattern = cfg.get("sliding_window_pattern")
    given = cfg.get("layer_types")
    if given is None:
        if pattern is not None and pattern != 6:
            raise _refuse(mt, f"sliding_window_pattern {_show(pattern)} without layer_types: Gemma4TextConfig reads "
                              "no such key and builds every sixth layer full")
        names = ["sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(L)]
    else:
        names = list(given)
        if len(names) != L:
            raise SpecError(WHERE, f"model_type {mt}: layer_types has {len(names)} entries for {L} layers")
        bad = next((n for n in names if n not in GEMMA4_TYPES), None)
        if bad is not None:
            raise _refuse(mt, f"layer type {_show(bad)} (Gemma-4's layers are sliding_attention or full_attention)")
        if _whole(pattern, 1) and names != ["sliding_attention" if (i + 1) % pattern else "full_attention"
                                            for i in range(L)]:
            raise _refuse(mt, f"sliding_window_pattern {pattern} contradicts layer_types (transformers and vLLM read "
                              "layer_types; the pattern key is a port's)")
    note = ""
    if names[-1] != "full_attention":
        names[-1] = "full_attention"
        note = "the last layer read as full: Gemma4TextConfig forces it whatever layer_types says"
    return [GEMMA4_TYPES[n] for n in names], note


def _gemma4_rope(cfg: dict, mt: str, t: str, head: int) -> int:
    """RoPE dims of a ``t`` layer's ``head``-dim heads: ``rope_parameters[t].partial_rotary_factor`` (transformers'
    proportional RoPE rotates ``2 int(factor x head // 2)`` dims, zero frequencies on the rest), 1.0 where the entry
    gives none, :data:`GEMMA4_ROPE` where the config has no rope_parameters. No byte or parameter count depends on it
    outside MLA."""
    rp = cfg.get("rope_parameters")
    name = {"sliding": "sliding_attention", "full": "full_attention"}[t]
    if rp is None:
        factor = GEMMA4_ROPE[name]
    else:
        entry = rp.get(name)
        if not isinstance(entry, dict):
            raise _refuse(mt, f"rope_parameters has no {name} entry (Gemma4TextRotaryEmbedding reads one a layer "
                              "type)")
        factor = entry.get("partial_rotary_factor", 1.0)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 <= factor <= 1:
            raise SpecError(WHERE, f"model_type {mt}: rope_parameters.{name}.partial_rotary_factor must be a number "
                                   f"from 0 to 1, got {_show(factor)}")
    return 2 * int(factor * head // 2)


def _gemma4_ffn(cfg: dict, mt: str, L: int, shared: int, width: int) -> tuple[dict, int]:
    """(the spec's ffn block, norms a layer) of a Gemma-4 decoder. Gemma4TextDecoderLayer: ``mlp`` (Gemma3MLP: gate,
    up, down of ``intermediate_size``) on every layer, twice as wide on the KV-shared layers where
    ``use_double_wide_mlp`` (Gemma4TextMLP; the spec's ``ffn.layer_widths``), and four RMSNorms of d. With
    ``enable_moe_block`` every layer adds Gemma4TextRouter (``proj`` d -> E, a ``scale`` of d after a weightless
    norm, ``per_expert_scale`` of E: the spec's ``router_bias``), Gemma4TextExperts (MixtralExperts: ``gate_up_proj``
    E x 2m x d, ``down_proj`` E x d x m, top ``top_k_experts``) and three more norms: the dense MLP is the spec's
    shared expert (it runs on every token beside the experts, summed), and the norms are 4 + 3 + the router's scale
    = 8. Refused in one line: MoE without num_experts, top_k_experts or moe_intermediate_size (transformers builds
    experts of None), ``expert_intermediate_size`` (the release files' dev-era key, null there) that
    moe_intermediate_size does not repeat, vLLM's ``use_second_mlp_block`` where ``enable_moe_block`` is false (vLLM
    builds the experts, transformers not), double-wide MLPs beside experts."""
    moe = cfg["enable_moe_block"]
    second = cfg.get("use_second_mlp_block")
    if second is not None and not isinstance(second, bool):
        raise SpecError(WHERE, f"model_type {mt}: use_second_mlp_block must be true or false, got {_show(second)}")
    if second and not moe:
        raise _refuse(mt, "use_second_mlp_block true and enable_moe_block false: vLLM's Gemma4DecoderLayer builds the "
                          "experts on either, transformers' on enable_moe_block alone")
    double = cfg["use_double_wide_mlp"] and shared > 0
    if not moe:
        if double:
            widths = [width] * (L - shared) + [2 * width] * shared
            return {"kind": "dense", "intermediate_size": 2 * width, "layer_widths": widths}, 4
        return {"kind": "dense", "intermediate_size": width}, 4
    if double:
        raise _refuse(mt, "double-wide MLPs (use_double_wide_mlp) on the KV-shared layers beside experts are not "
                          "modelled")
    experts = _gemma4_whole(cfg, mt, "num_experts", None) if cfg.get("num_experts") is not None else None
    top = _gemma4_whole(cfg, mt, "top_k_experts", None) if cfg.get("top_k_experts") is not None else None
    m = cfg.get("moe_intermediate_size")
    old = cfg.get("expert_intermediate_size")
    if old is not None and old != m:
        raise _refuse(mt, f"expert_intermediate_size {_show(old)} beside moe_intermediate_size {_show(m)}: "
                          "transformers (5.5 on) and vLLM size the experts by moe_intermediate_size alone")
    for key, v in (("num_experts", experts), ("top_k_experts", top), ("moe_intermediate_size", m)):
        if v is None:
            raise SpecError(WHERE, f"model_type {mt}: enable_moe_block is true but it has no {key}, which sizes the "
                                   "experts")
    if top > experts:
        raise SpecError(WHERE, f"model_type {mt}: top_k_experts ({top}) exceeds num_experts ({experts})")
    return {"kind": "moe", "intermediate_size": width, "num_experts": experts, "experts_per_token": top,
            "expert_intermediate_size": m, "num_shared_experts": 1, "shared_expert_intermediate_size": width,
            "router_bias": True, "branch_norms": True}, 8


def _gemma4_keys(cfg: dict, mt: str) -> dict:
    """Gemma-4's text decoder (``Gemma4TextConfig``; the ``text_config`` of the ``gemma4`` wrapper) in the names the
    readers use, after :func:`_checked`. What each key builds (transformers ``modeling_gemma4.py``, vLLM
    ``gemma4.py``):

    - attention (Gemma4TextAttention): q/k/v/o projections (biased by ``attention_bias``), q_norm and k_norm of the
      layer's head width, a v_norm without weights; sliding layers (a window of ``sliding_window``) of ``head_dim``
      and ``num_key_value_heads``, full layers of their own width and K/V heads (:func:`_gemma4_layer_shapes`): the
      full layers are the spec's ``attention``, the sliding ones its ``sliding_shape``. Where ``attention_k_eq_v`` the
      full layers have no v_proj and take ``v_norm(k_proj(x))`` as the value (``attention.v_from_k``); both engines
      still cache V beside K. Layer types: :func:`_gemma4_types`; RoPE dims: :func:`_gemma4_rope`;
    - the last ``num_kv_shared_layers`` layers attend the cache of the last earlier layer of their type
      (``attention.kv_shared_tail``); the released E2B/E4B checkpoints store their k_proj, v_proj and k_norm anyway
      (``reader_kv_weights``: read from the safetensors headers, vllm-project/tpu-inference #3299; vllm #54917:
      "The original Google releases happen to ship them redundantly");
    - FFN and norms: :func:`_gemma4_ffn`; per-layer inputs where ``hidden_size_per_layer_input`` (embed_tokens_per_layer
      of ``vocab_size_per_layer_input`` x L p, per_layer_model_projection d x L p, per_layer_projection_norm of p; a
      layer's per_layer_input_gate, per_layer_projection, post_per_layer_input_norm): the spec's ``residual_extras``;
    - each layer's ``layer_scalar`` is a buffer of one value the checkpoint stores (31B: 60 values), not counted.

    Refused in one line: a key outside :data:`GEMMA4_KEYS`; ``use_bidirectional_attention`` "all" (an encoder:
    non-causal, its window halved); a null switch; a quantized checkpoint with per-layer inputs or KV-shared layers
    (per_layer_input_gate, per_layer_projection are not mapped; a dense decoder's quantization_config is read as
    Llama's, :data:`LAYOUTS`), or with experts other than ModelOpt's (transformers' experts are 3-D parameters; ModelOpt
    stores them as Linears, :data:`FFN_NAMES` ``gemma4_text``); ``num_kv_shared_layers`` not below the layers."""
    other = sorted(k for k, v in cfg.items() if k not in GEMMA4_KEYS and not k.startswith("_gemma4"))
    if other:
        raise _refuse(mt, f"key {other[0]} is not one Gemma4TextConfig has (configuration_gemma4.py), so the "
                          "architecture cannot be sized")
    bidir = cfg.get("use_bidirectional_attention")
    if bidir == "all":
        raise _refuse(mt, "use_bidirectional_attention all (every token attends both ways, an encoder; "
                          "Gemma4TextConfig then halves the window) caches no K/V for decoding")
    if bidir not in (None, "vision"):
        raise SpecError(WHERE, f"model_type {mt}: use_bidirectional_attention must be all, vision or null, got "
                               f"{_show(bidir)}")
    out = dict(cfg)
    for key, default in GEMMA4_SWITCHES.items():
        v = cfg.get(key, default)
        if not isinstance(v, bool):
            raise SpecError(WHERE, f"model_type {mt}: {key} must be true or false, got {_show(v)}")
        out[key] = v
    L = _req(cfg, mt, "num_hidden_layers")
    types, note = _gemma4_types(cfg, mt, L)
    shared = cfg.get("num_kv_shared_layers") or 0
    q = cfg.get("quantization_config")
    if q is not None and (shared or cfg.get("hidden_size_per_layer_input")):
        # the dense decoders (31B) name their Linears as Llama does under model.language_model (LAYOUTS); the E2B/E4B's
        # per-layer gates and projections and KV-shared layers are modules the quantization readers do not name, and
        # no quantized release of them was found to check a reading against (docs/zoo-facts.md section 37)
        raise _refuse(mt, "a quantized checkpoint with per-layer inputs or KV-shared layers is not priced: its module "
                          "names (per_layer_input_gate, per_layer_projection, per_layer_model_projection) are not mapped")
    if q is not None and out["enable_moe_block"] and not _is_modelopt(q):
        # transformers' Gemma4TextExperts holds every expert in two 3-D parameters (experts.gate_up_proj, down_proj),
        # no Linear module: whether a Linear-targeting quantizer (compressed-tensors, AWQ, GPTQ, fp8) converted them
        # depends on the tool, and the config does not say. ModelOpt's release stores them as Linears (GEMMA4_FFN).
        raise _refuse(mt, "a quantized checkpoint with experts is priced for ModelOpt's layout alone (experts.N."
                          "gate_proj/up_proj/down_proj, nvidia/Gemma-4-26B-A4B-NVFP4): transformers' experts are 3-D "
                          "parameters, which a Linear-targeting quantizer may or may not have converted")
    if shared >= L:
        raise SpecError(WHERE, f"model_type {mt}: num_kv_shared_layers ({shared}) must be less than "
                               f"num_hidden_layers ({L}): at least one layer computes the K/V the others read")
    k_eq_v = out["attention_k_eq_v"]
    shapes = _gemma4_layer_shapes(out, mt, types, k_eq_v)
    (full_hd, full_kv), (s_hd, s_kv) = shapes["full"], shapes["sliding"]
    full_rope, s_rope = _gemma4_rope(cfg, mt, "full", full_hd), _gemma4_rope(cfg, mt, "sliding", s_hd)
    # v_norm: Gemma4TextAttention builds Gemma4RMSNorm(head_dim, with_scale=False) on every layer that projects K/V
    attention: dict = {"qk_norm": True, "v_norm": True, **({"v_from_k": True} if k_eq_v else {})}
    shape = {k: v for k, v, full in (("num_kv_heads", s_kv, full_kv), ("v_from_k", False, k_eq_v))
             if v != full}
    if s_hd != full_hd or s_rope != full_rope or shape:
        shape |= {"qk_nope_head_dim": s_hd - s_rope, "qk_rope_head_dim": s_rope, "v_head_dim": s_hd}
    if shape and "sliding" in types:
        attention["sliding_shape"] = shape
    if shared:
        attention.update(kv_shared_tail=shared, reader_kv_weights=True)
    ffn, norms = _gemma4_ffn(out, mt, L, shared, _req(cfg, mt, "intermediate_size"))
    p = cfg.get("hidden_size_per_layer_input") or 0
    extras = {"per_layer_input_size": p, "per_layer_vocab_size": _req(cfg, mt, "vocab_size_per_layer_input")} \
        if p else None
    out.update(head_dim=full_hd, num_key_value_heads=full_kv, partial_rotary_factor=full_rope / full_hd,
               layer_types=[{"full": "full_attention", "sliding": "sliding_attention"}[t] for t in types],
               _gemma4_attention=attention, _gemma4_ffn=ffn, _gemma4_norms=norms, _gemma4_extras=extras,
               _gemma4_note=note)
    return out


def _minimax_shared(cfg: dict, mt: str) -> dict:
    """MiniMax's ``shared_intermediate_size``: 0 or a list of zeros (MiniMax-VL-01's text config writes ``[0]``) is no
    shared MLP and is dropped; one positive width is one shared MLP on every layer (vLLM MiniMaxText01DecoderLayer);
    a list of widths, one a layer, is refused."""
    width = cfg.get("shared_intermediate_size")
    if isinstance(width, list) and width and all(_whole(w, 0) for w in width):
        if any(width):
            raise _refuse(mt, "shared MLPs of a width per layer (shared_intermediate_size as a list) are not modelled")
        width = 0
    if width == 0:
        return {k: v for k, v in cfg.items() if k != "shared_intermediate_size"}
    return cfg


# MiniMax-M3's text decoder (docs/zoo-facts.md section 39). MiniMaxM3VLTextConfig (transformers
# models/minimax_m3_vl/modular_minimax_m3_vl.py) maps the release's sparse_attention_config keys to flat fields, the
# legacy key winning where both are given (``for flat, legacy in {...}: if legacy in sparse_cfg: setattr(self, flat,
# sparse_cfg[legacy])``); vLLM (vllm/models/minimax_m3/nvidia/model.py, common/indexer.py) reads the legacy keys alone
M3_INDEX_KEYS = {"index_n_heads": "sparse_num_index_heads", "index_head_dim": "sparse_index_dim",
                 "index_block_size": "sparse_block_size", "index_topk_blocks": "sparse_topk_blocks",
                 "index_local_blocks": "sparse_local_block"}
# MiniMaxM3VLTextConfig's defaults of the flat fields, used where neither key is given (vLLM reads a missing
# sparse_local_block as 0, and needs the other four given)
M3_INDEX_DEFAULTS = {"index_n_heads": 4, "index_head_dim": 128, "index_block_size": 128, "index_topk_blocks": 16,
                     "index_local_blocks": 1}
MINIMAX_M3_READING = ("minimax_m3: MTP modules the config names (num_nextn_predict_layers, num_mtp_modules) are not "
                      "counted: the release's weights hold none and transformers ignores mtp.* on load")


def _m3_flags(v: Any, key: str, mt: str, L: int) -> list[int]:
    """A per-layer list of 0/1 flags (``moe_layer_freq``, ``sparse_attention_freq``, ``sparse_disable_index_value``),
    one a layer: nonzero is on (vLLM ``f != 0``, transformers truthiness)."""
    if not isinstance(v, list) or any(isinstance(x, (bool, NonFinite)) or not isinstance(x, int) or x < 0 for x in v):
        raise SpecError(WHERE, f"model_type {mt}: {key} must be a list of 0 and 1, one a layer, got {_show(v)}")
    if len(v) != L:
        raise _refuse(mt, f"{key} has {len(v)} entries for {L} layers")
    return [int(x != 0) for x in v]


def _m3_types(v: Any, key: str, mt: str, L: int, names: dict[str, int]) -> list[int]:
    """``layer_types`` or ``mlp_layer_types`` as 0/1 flags by ``names`` (transformers' own per-layer dispatch)."""
    if len(v) != L:
        raise _refuse(mt, f"{key} has {len(v)} entries for {L} layers")
    bad = sorted({t for t in v if t not in names})
    if bad:
        raise _refuse(mt, f"{key} entry {bad[0]!r} is not one MiniMaxM3VLTextConfig builds ({', '.join(names)})")
    return [names[t] for t in v]


def _m3_pattern(given: list[int] | None, derived: list[int] | None, mt: str, what: str, names: tuple[str, str],
                default: int, L: int) -> list[int]:
    """One per-layer pattern, as MiniMaxM3VLTextConfig builds it: its own list (``given``: ``layer_types``,
    ``mlp_layer_types``, what transformers 5 saves) first, else the release's flags (``derived``:
    ``sparse_attention_freq``, ``moe_layer_freq``, all vLLM reads), else ``default`` on every layer. Refused where a
    file gives both and they differ (the two engines would build different layers); a file with transformers' list
    alone is one vLLM cannot load as it stands (it reads the flags only), read as transformers builds it."""
    if given is not None and derived is not None and given != derived:
        i = next(i for i in range(L) if given[i] != derived[i])
        raise _refuse(mt, f"{names[0]} and {names[1]} disagree at layer {i}: transformers builds {what} by the "
                          "first, vLLM by the second")
    pattern = given if given is not None else derived
    return pattern if pattern is not None else [default] * L


def _m3_whole(v: Any, key: str, mt: str, minimum: int) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not _whole(v, minimum):
        raise SpecError(WHERE, f"model_type {mt}: {key} must be a whole number of at least {minimum}, got {_show(v)}")
    return v


def _minimax_m3_keys(cfg: dict, mt: str) -> dict:
    """MiniMax-M3's text_config (MiniMaxM3VLTextConfig; vLLM's MiniMaxM3 model) as the keys the readers take, after
    :func:`_checked`: ``_msa``, the attention's indexer fields (:mod:`mlacalc.attention.msa`), and ``_m3_ffn``, its
    FFN block; ``num_nextn_predict_layers`` read as 0 (:data:`MINIMAX_M3_READING`).

    Layers: the indexer runs where ``layer_types`` says ``minimax_m3_sparse`` (transformers) and
    ``sparse_attention_config.sparse_attention_freq`` is nonzero (vLLM); a MoE block where ``mlp_layer_types`` says
    ``sparse`` and ``moe_layer_freq`` is nonzero, a dense MLP of ``dense_intermediate_size`` elsewhere; the two lists
    of each kind must agree where both are given (:func:`_m3_pattern`) and the dense MLPs lead
    (``ffn.first_dense_layers``). The MoE block (transformers ``MiniMaxM3VLSparseMoeBlock``, vLLM ``MiniMaxM3MoE``):
    ``num_local_experts`` gated experts of ``intermediate_size``, top ``num_experts_per_tok``, a bias-free fp32 router
    (its ``e_score_correction_bias`` buffer not counted, as DeepSeek-V3's), one shared gated MLP: transformers builds it
    ``shared_intermediate_size`` wide whatever ``n_shared_experts`` says, vLLM ``intermediate_size x
    n_shared_experts`` wide (none at 0 or without the key), so where the file gives ``n_shared_experts`` the two
    widths must agree. Keys a file leaves out take MiniMaxM3VLTextConfig's defaults (:data:`DEFAULTS`,
    :data:`M3_INDEX_DEFAULTS`; ``sparse_local_block`` 1, which vLLM's reader would take as 0).

    Refused in one line where the engines would build other weights or attend other keys: ``use_sparse_attention``
    false beside marked layers (transformers and vLLM build the indexer on them whatever it says; other ports run them
    dense), an index key given flat and in ``sparse_attention_config`` with two values, ``sparse_local_block`` below 1
    (which blocks a query attends then depends on the scores) or beyond the top-k budget with ``sparse_init_block``,
    an index value path
    (``sparse_disable_index_value`` 0 on a sparse layer: a vLLM-based model file builds index value/output projections
    there, transformers and current vLLM never), a
    ``sparse_score_type`` other than ``max`` (the only one vLLM's kernels take), ``attention_output_gate`` true (no
    engine builds one)."""
    cfg = dict(cfg)
    lists = {k: cfg.pop(k, None) for k in ("moe_layer_freq", "sparse_attention_config", "layer_types",
                                            "mlp_layer_types")}
    cfg = _checked(cfg, mt)
    L = cfg["num_hidden_layers"]
    sparse = lists["sparse_attention_config"]
    if sparse is None:
        sparse = {}
    if not isinstance(sparse, dict):
        raise SpecError(WHERE, f"model_type {mt}: sparse_attention_config must be a mapping, got {_show(sparse)}")
    if cfg.get("attention_output_gate") is not None and cfg["attention_output_gate"] is not False:
        raise _refuse(mt, f"attention_output_gate {_show(cfg['attention_output_gate'])}: neither transformers nor "
                          "vLLM builds an attention output gate for MiniMax-M3")
    # --- which layers run the indexer
    types = lists["layer_types"]
    if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) for t in types)):
        raise SpecError(WHERE, f"model_type {mt}: layer_types must be a list of names, got {_show(types)}")
    freq = sparse.get("sparse_attention_freq")
    indexed = _m3_pattern(
        None if types is None else _m3_types(types, "layer_types", mt, L, {"full_attention": 0,
                                                                            "minimax_m3_sparse": 1}),
        None if freq is None else _m3_flags(freq, "sparse_attention_config.sparse_attention_freq", mt, L),
        mt, "the lightning indexer", ("layer_types", "sparse_attention_config.sparse_attention_freq"), 0, L)
    msa: dict = {}
    if any(indexed):
        use = sparse.get("use_sparse_attention")
        if use is not None and use is not True:
            raise _refuse(mt, f"sparse_attention_config.use_sparse_attention {_show(use)} beside layers "
                              "sparse_attention_freq marks: transformers and vLLM build the indexer on them whatever "
                              "it says, other ports run every layer dense")
        for flat, legacy in M3_INDEX_KEYS.items():
            if flat in cfg and legacy in sparse and cfg[flat] != sparse[legacy]:
                raise _refuse(mt, f"{flat} {_show(cfg[flat])} and sparse_attention_config.{legacy} "
                                  f"{_show(sparse[legacy])}: transformers takes the second, and vLLM reads it alone; "
                                  "give one")
        got = {flat: sparse[legacy] if legacy in sparse else cfg.get(flat, M3_INDEX_DEFAULTS[flat])
               for flat, legacy in M3_INDEX_KEYS.items()}
        got = {k: _m3_whole(v, k, mt, 0 if k == "index_local_blocks" else 1) for k, v in got.items()}
        init = _m3_whole(sparse.get("sparse_init_block", 0), "sparse_attention_config.sparse_init_block", mt, 0)
        local, topk = got.pop("index_local_blocks"), got["index_topk_blocks"]
        if local < 1:
            raise _refuse(mt, "sparse_local_block 0: without the query's own block forced, which keys a query attends "
                              "depends on the indexer's scores")
        if init + local > topk:
            raise _refuse(mt, f"sparse_init_block {init} and sparse_local_block {local} force more blocks than "
                              f"sparse_topk_blocks {topk} selects")
        score = sparse.get("sparse_score_type", "max")
        if score != "max":
            raise _refuse(mt, f"sparse_score_type {_show(score)}: vLLM's indexer kernels take max only")
        off = sparse.get("sparse_disable_index_value")
        if off is not None:
            off = _m3_flags(off, "sparse_attention_config.sparse_disable_index_value", mt, L)
            valued = [i for i in range(L) if indexed[i] and not off[i]]
            if valued:
                raise _refuse(mt, f"an index value path on layer {valued[0]} (sparse_disable_index_value 0): a "
                                  "vLLM-based model file builds index value/output projections there, transformers "
                                  "and current vLLM none")
        msa = {**got, **({"index_layers": indexed} if not all(indexed) else {})}
    # --- MoE and dense MLP layers
    mlp = lists["mlp_layer_types"]
    if mlp is not None and (not isinstance(mlp, list) or not all(isinstance(t, str) for t in mlp)):
        raise SpecError(WHERE, f"model_type {mt}: mlp_layer_types must be a list of names, got {_show(mlp)}")
    moe_freq = lists["moe_layer_freq"]
    moe = _m3_pattern(None if mlp is None else _m3_types(mlp, "mlp_layer_types", mt, L, {"dense": 0, "sparse": 1}),
                      None if moe_freq is None else _m3_flags(moe_freq, "moe_layer_freq", mt, L),
                      mt, "the MoE blocks", ("mlp_layer_types", "moe_layer_freq"), 1, L)
    dense = moe.index(1) if any(moe) else L
    if any(moe[dense:]) and not all(moe[dense:]):
        gap = next(i for i in range(dense, L) if not moe[i])
        raise _refuse(mt, f"a dense MLP between MoE layers (layer {gap}) is not modelled (only leading dense layers)")
    dense_width = _m3_whole(cfg.get("dense_intermediate_size"), "dense_intermediate_size", mt, 1)
    if dense == L:
        ffn = {"kind": "dense", "intermediate_size": dense_width}
    else:
        width, shared_width = cfg["intermediate_size"], cfg["shared_intermediate_size"]
        shared = cfg.get("n_shared_experts")
        if shared is not None and (not shared or shared_width != width * shared):
            raise _refuse(mt, f"n_shared_experts {shared} beside shared_intermediate_size {shared_width}: transformers "
                              f"builds one shared MLP of shared_intermediate_size, vLLM one of intermediate_size x "
                              f"n_shared_experts ({width * shared}, none at 0)")
        # MiniMaxM2Config's attribute_map: num_experts is num_local_experts (class default 128)
        if cfg.get("num_experts") is not None and cfg.get("num_local_experts") is not None and \
                cfg["num_experts"] != cfg["num_local_experts"]:
            raise _refuse(mt, f"num_experts {cfg['num_experts']} and num_local_experts {cfg['num_local_experts']} "
                              "name one count (MiniMaxM2Config's attribute_map); give one")
        experts = next((cfg[k] for k in ("num_local_experts", "num_experts") if cfg.get(k) is not None), 128)
        if not experts:
            raise _refuse(mt, "num_local_experts is 0: an MoE layer without experts (mlp_layer_types or "
                              "moe_layer_freq say which layers are dense)")
        ffn = {"kind": "moe", "intermediate_size": dense_width, "num_experts": experts,
               "experts_per_token": cfg["num_experts_per_tok"], "expert_intermediate_size": width,
               "num_shared_experts": 1, "shared_expert_intermediate_size": shared_width,
               "first_dense_layers": dense}
    cfg.update(_msa=msa, _m3_ffn=ffn, num_nextn_predict_layers=0)
    return cfg


def _exaone_letters(cfg: dict, mt: str) -> dict:
    """EXAONE-4's ``sliding_window_pattern`` as letters, one per layer and repeating (``"LLLG"``: three local layers,
    then a global one; EXAONE-4.0's remote code, ``pattern[i % len(pattern)] == "L"``) -> ``layer_types``, unless
    the config spells those out itself; the letters are then only checked."""
    pattern = cfg["sliding_window_pattern"]
    if not pattern or set(pattern) - {"L", "G"}:
        raise SpecError(WHERE, f"model_type {mt}: sliding_window_pattern must be a whole number or letters L "
                               f"(local) and G (global), got {_show(pattern)}")
    out = {k: v for k, v in cfg.items() if k != "sliding_window_pattern"}
    L = cfg.get("num_hidden_layers")
    # (a count over MAX_LAYERS is left for _checked to refuse: 10**9 layers of letters ran for minutes)
    if out.get("layer_types") is None and _whole(L, 1) and L <= MAX_LAYERS and cfg.get("sliding_window"):
        out["layer_types"] = ["sliding_attention" if pattern[i % len(pattern)] == "L" else "full_attention"
                              for i in range(L)]
    return out


def max_position_embeddings(cfg: dict) -> int | None:
    """The longest context a config declares: ``max_position_embeddings`` (GPT-2: ``n_positions``; Kimi-Linear:
    ``model_max_length``) of the text decoder, family defaults included; None when it says none (Falcon)."""
    return _limit(_text_config(cfg)[1])


def _limit(c: dict) -> int | None:
    for k in ("max_position_embeddings", "n_positions", "model_max_length"):
        v = c.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return max(v, _yarn_limit(c))
    return None


def _yarn_limit(c: dict) -> int:
    """The context a YaRN ``rope_scaling`` (or transformers 5's ``rope_parameters``) extends the model to:
    ``original_max_position_embeddings x factor``, as vLLM derives its max_model_len (Qwen2.5's model card adds
    ``{"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}`` to a config whose
    max_position_embeddings stays 32,768: 131,072 tokens); 0 without one. ``fit`` capped such a model at 32,768."""
    for key in ("rope_scaling", "rope_parameters"):
        r = c.get(key)
        if not isinstance(r, dict) or (r.get("rope_type") or r.get("type")) != "yarn":
            continue
        factor, base = r.get("factor"), r.get("original_max_position_embeddings")
        # a factor or base given but not a size was skipped without a word, and the extended context with it
        # ("factor": "4" left a Qwen2.5 with YaRN at 32,768), or read as one (4096.5 positions)
        if factor is not None and not (isinstance(factor, (int, float)) and not isinstance(factor, bool) and
                                       0 < factor < 2**20):
            raise SpecError(WHERE, f"{key}.factor of a yarn RoPE must be a positive number, got {_show(factor)}")
        if base is not None and not (_whole(base, 1) and base < 2**40):
            raise SpecError(WHERE, f"{key}.original_max_position_embeddings must be a whole number of at least 1, "
                                   f"got {_show(base)}")
        if factor is not None and base is not None:
            return int(base * factor)
    return 0


# ---------------------------------------------------------------------------------------------------------
# Layers: which attention each layer has
# ---------------------------------------------------------------------------------------------------------

def _from_layer_types(cfg: dict, mt: str, L: int) -> list[str]:
    types = cfg["layer_types"]
    if not isinstance(types, list) or len(types) != L:
        raise _refuse(mt, f"layer_types has {len(types) if isinstance(types, list) else 'no'} entries for {L} layers")
    unknown = sorted({str(t) for t in types if t not in LAYER_NAMES})
    if unknown:
        raise _refuse(mt, f"layer type(s) {', '.join(unknown)} are not modelled")
    return [LAYER_NAMES[t] for t in types]


# Nemotron-H's block letters (NemotronHConfig._pattern_to_list) -> block names, and the names (layers_block_type's,
# old and new: transformers remap_legacy_layer_types) -> the spec's layer type of each block
NEMOTRON_LETTERS = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}
NEMOTRON_BLOCKS = {"mamba": "linear", "linear_attention": "linear", "attention": "full", "full_attention": "full",
                   "mlp": "ffn", "moe": "ffn"}
GRANITE_BLOCKS = {"mamba": "linear", "attention": "full"}        # GraniteMoeHybridConfig.layer_types


def _nemotron_blocks(cfg: dict, mt: str, L: int) -> list[str]:
    """Nemotron-H's blocks, one a layer, as names (mamba, attention, mlp, moe): from ``layers_block_type``, which
    newer configs write and which wins as in NemotronHConfig, else ``hybrid_override_pattern`` (one letter a layer:
    ``M`` Mamba-2, ``*`` attention, ``-`` MLP, ``E`` MoE). They must name exactly ``num_hidden_layers`` blocks
    (transformers takes their length and only warns; a mismatch here is a config that says two things)."""
    pattern = cfg.get("hybrid_override_pattern")
    if cfg.get("layers_block_type") is not None:
        blocks, key = list(cfg["layers_block_type"]), "layers_block_type"
        bad = sorted({str(b) for b in blocks if b not in NEMOTRON_BLOCKS})
        if bad:
            raise _refuse(mt, f"layers_block_type entry {bad[0]!r} is not one of {', '.join(NEMOTRON_BLOCKS)}")
        blocks = [{"linear_attention": "mamba", "full_attention": "attention"}.get(b, b) for b in blocks]
    elif pattern is not None:
        if not _name(pattern):          # NaN was read as the letters N, a, N
            raise SpecError(WHERE, f"model_type {mt}: hybrid_override_pattern must be a string of M, *, - and E, "
                                   f"got {_show(pattern)}")
        bad = sorted(set(pattern) - set(NEMOTRON_LETTERS))
        if bad:
            raise SpecError(WHERE, f"model_type {mt}: hybrid_override_pattern letter {bad[0]!r} is not one of M "
                                   "(Mamba-2), * (attention), - (MLP), E (MoE)")
        blocks, key = [NEMOTRON_LETTERS[c] for c in pattern], "hybrid_override_pattern"
    else:
        raise _refuse(mt, "without hybrid_override_pattern or layers_block_type its layer pattern is unknown")
    if len(blocks) != L:
        raise SpecError(WHERE, f"model_type {mt}: {key} names {len(blocks)} blocks for num_hidden_layers {L}")
    return blocks


# Nemotron-H's MTP blocks -> the spec's mtp_layer_types: the letters of mtp_hybrid_override_pattern and the names of
# mtp_layers_block_type (old and new spellings, transformers remap_legacy_layer_types). vLLM's
# NemotronHMultiTokenPredictor (vllm/model_executor/models/nemotron_h_mtp.py) builds "*" (NemotronHMTPAttentionDecoder
# Layer) and "E" (NemotronHMTPMoEDecoderLayer) and raises NotImplementedError on any other letter
NEMOTRON_MTP = {"*": "full", "E": "ffn", "attention": "full", "full_attention": "full", "moe": "ffn"}
# the MTP pattern a config that gives none has: "*E" in vLLM's NemotronHConfig (mtp_hybrid_override_pattern) and
# ["full_attention", "moe"] in transformers' (mtp_layers_block_type)
NEMOTRON_MTP_DEFAULT = ("full", "ffn")


def _nemotron_h_keys(cfg: dict, mt: str) -> dict:
    """Nemotron-H's config in the keys the readers take. ``num_hidden_layers`` null (transformers v5 writes it so:
    ``NemotronHConfig.num_hidden_layers`` is the length of ``layers_block_type``, built from
    ``hybrid_override_pattern``'s letters where only they are given) is that length. With
    ``num_nextn_predict_layers`` (Nemotron 3 Super: 1) the MTP module's blocks, ``_mtp_layer_types``: from
    ``mtp_layers_block_type``, else the letters of ``mtp_hybrid_override_pattern``, else the classes' default "*E"
    (an attention block, then a MoE block). Refused in one line: more than one MTP module (vLLM's NemotronH-MTP
    asserts one; Megatron-Bridge repeats one module's weights, ``mtp_use_repeated_layer``), a block other than ``*``
    and ``E``, a MoE block beside a pattern of MLP (``-``) blocks, and a list and a pattern that name different
    blocks."""
    out = dict(cfg)
    if cfg.get("num_hidden_layers") is None:      # the block list, or the letters it is made from (_pattern_to_list)
        blocks = cfg.get("layers_block_type")
        blocks = cfg.get("hybrid_override_pattern") if blocks is None else blocks
        if isinstance(blocks, list) or (_name(blocks) and blocks):
            out["num_hidden_layers"] = len(blocks)
    mtp = cfg.get("num_nextn_predict_layers") or 0
    if not mtp:
        return out
    if mtp > 1:
        raise _refuse(mt, f"num_nextn_predict_layers {mtp} (vLLM's NemotronH-MTP builds one module, Megatron-Bridge "
                          "repeats one module's weights) is not modelled")
    listed, pattern = cfg.get("mtp_layers_block_type"), cfg.get("mtp_hybrid_override_pattern")
    if pattern is not None and (not _name(pattern) or not pattern):
        raise SpecError(WHERE, f"model_type {mt}: mtp_hybrid_override_pattern must be a string of * and E, got "
                               f"{_show(pattern)}")
    names = [str(b) for b in listed] if listed is not None else list(pattern) if pattern is not None else None
    key = "mtp_layers_block_type" if listed is not None else "mtp_hybrid_override_pattern"
    if names is None:
        types = list(NEMOTRON_MTP_DEFAULT)
    else:
        bad = [b for b in names if b not in NEMOTRON_MTP]
        if bad or not names:
            raise _refuse(mt, f"MTP block {_show(bad[0]) if bad else 'list []'} in {key} is not modelled (vLLM's "
                              "NemotronHMultiTokenPredictor builds attention (*) and MoE (E) blocks only)")
        types = [NEMOTRON_MTP[b] for b in names]
    if listed is not None and pattern is not None and types != [NEMOTRON_MTP.get(c) for c in pattern]:
        raise SpecError(WHERE, f"model_type {mt}: mtp_layers_block_type {_show(listed)} and "
                               f"mtp_hybrid_override_pattern {_show(pattern)} name different MTP blocks")
    L = out.get("num_hidden_layers")
    if "ffn" in types and isinstance(L, int) and "moe" not in _nemotron_blocks(out, mt, L):
        raise _refuse(mt, "a MoE (E) block in the MTP module of a model whose FFN blocks are MLPs (-) is not modelled")
    out["_mtp_layer_types"] = types
    return out


def _mamba2_layer_types(cfg: dict, mt: str, L: int) -> list[str]:
    """The layer types of a Mamba-2 hybrid: Nemotron-H's blocks (:func:`_nemotron_blocks`), Granite-4.0's
    ``layer_types`` (``mamba`` or ``attention`` a layer, every layer with its FFN), Bamba's ``attn_layer_indices``
    (attention there, Mamba-2 elsewhere: BambaConfig.layers_block_type)."""
    if mt == "nemotron_h":
        return [NEMOTRON_BLOCKS[b] for b in _nemotron_blocks(cfg, mt, L)]
    if mt == "granitemoehybrid":
        types = cfg.get("layer_types")
        if types is None:
            raise _refuse(mt, "without layer_types its layer pattern is unknown")
        bad = sorted({str(t) for t in types if t not in GRANITE_BLOCKS})
        if bad:
            raise _refuse(mt, f"layer_types entry {bad[0]!r} is not mamba or attention")
        if len(types) != L:
            raise SpecError(WHERE, f"model_type {mt}: layer_types names {len(types)} layers for num_hidden_layers {L}")
        return [GRANITE_BLOCKS[t] for t in types]
    attn = cfg.get("attn_layer_indices") or []
    outside = [i for i in attn if not 0 <= i < L]
    if outside:
        raise SpecError(WHERE, f"model_type {mt}: attn_layer_indices {outside[0]} is outside the {L} layers")
    return ["full" if i in set(attn) else "linear" for i in range(L)]


def _jamba_periodic(cfg: dict, mt: str, what: str) -> tuple[int, int]:
    """(period, offset) of Jamba's attention or expert layers: layer ``i`` has one iff ``i % period == offset``
    (JambaConfig.layers_block_type, layers_num_experts). An offset at or past the period names no layer; JambaConfig
    refuses it (``_check_supported_offset``: "layer offset must be smaller than layer period"), so here too."""
    period, offset = cfg[f"{what}_layer_period"], cfg[f"{what}_layer_offset"]
    if offset >= period:
        raise SpecError(WHERE, f"model_type {mt}: {what}_layer_offset {offset} must be smaller than "
                               f"{what}_layer_period {period}")
    return period, offset


def _jamba_layer_types(cfg: dict, mt: str, L: int) -> list[str]:
    """Jamba's layers: attention where ``i % attn_layer_period == attn_layer_offset``, Mamba-1 elsewhere."""
    period, offset = _jamba_periodic(cfg, mt, "attn")
    if cfg.get("sliding_window"):
        raise _refuse(mt, "a sliding window on the attention layers (sliding_window) is not modelled")
    return ["full" if i % period == offset else "linear" for i in range(L)]


# MiniMax's attn_type_list codes (vLLM MiniMaxText01DecoderLayer: attention_type 0 builds MiniMaxText01LinearAttention,
# the lightning block; 1 MiniMaxText01Attention, softmax GQA)
MINIMAX_CODES = {0: "linear", 1: "full"}


def _minimax_layer_types(cfg: dict, mt: str, L: int) -> list[str]:
    """The layers of a MiniMax lightning hybrid: the released configs' ``attn_type_list`` (vLLM also reads
    ``decoder_attention_types``), one code a layer, 0 lightning and 1 softmax attention (MiniMax-M1 and
    MiniMax-Text-01: every 8th layer softmax); transformers' ``minimax`` spells them in ``layer_types``
    (``linear_attention``, ``full_attention``), by default alternating from a full layer (MiniMaxConfig)."""
    if mt == "minimax":
        if cfg.get("layer_types") is not None:
            return _from_layer_types(cfg, mt, L)
        return ["full" if (i + 1) % 2 else "linear" for i in range(L)]
    key = "attn_type_list" if cfg.get("attn_type_list") is not None else "decoder_attention_types"
    codes = cfg.get(key)
    if codes is None:
        raise _refuse(mt, "without attn_type_list its layer pattern is unknown")
    bad = sorted({c for c in codes if c not in MINIMAX_CODES})
    if bad:
        raise SpecError(WHERE, f"model_type {mt}: {key} entry {bad[0]} is not 0 (lightning) or 1 (softmax attention)")
    if len(codes) != L:
        raise SpecError(WHERE, f"model_type {mt}: {key} names {len(codes)} layers for num_hidden_layers {L}")
    if 1 not in codes:      # the spec needs an attention layer; said here, where the key is known
        raise _refuse(mt, f"lightning layers alone (no 1 in {key}) are not modelled")
    return [MINIMAX_CODES[c] for c in codes]


LFM2_LAYERS = {"full_attention": "full", "conv": "linear"}     # Lfm2Config.layer_types names -> the spec's


def _lfm2_layer_types(cfg: dict, mt: str, L: int) -> list[str]:
    """LFM2's layers: ``layer_types`` (``full_attention`` or ``conv``, one a layer), else, for ``lfm2``,
    ``full_attn_idxs`` (Lfm2Config: ``["full_attention" if i in full_attn_idxs else "conv" for i in range(L)]``,
    every layer attention when both are absent); Lfm2MoeConfig builds nothing, its decoder indexes
    ``config.layer_types``. transformers and vLLM build a conv layer for any name but ``full_attention``; a name
    other than ``conv`` is refused here, as is an index outside the layers, the two keys disagreeing, and a pattern
    without attention (``Lfm2HybridConvCache``: ``layer_types.index("full_attention")`` raises)."""
    types, idxs = cfg.get("layer_types"), cfg.get("full_attn_idxs")
    if idxs is not None:
        outside = sorted(i for i in idxs if not 0 <= i < L)
        if outside:
            raise SpecError(WHERE, f"model_type {mt}: full_attn_idxs names layer {outside[0]}, outside the {L} layers "
                                   f"(0 to {L - 1})")
    if types is None:
        if mt == "lfm2_moe":
            raise _refuse(mt, "without layer_types its layer pattern is unknown")
        wanted = set(range(L)) if idxs is None else set(idxs)
        types = ["full_attention" if i in wanted else "conv" for i in range(L)]
    bad = sorted({str(t) for t in types if t not in LFM2_LAYERS})
    if bad:
        raise SpecError(WHERE, f"model_type {mt}: layer_types entry {bad[0]!r} is not full_attention or conv")
    if len(types) != L:
        raise SpecError(WHERE, f"model_type {mt}: layer_types names {len(types)} layers for num_hidden_layers {L}")
    if idxs is not None and {i for i, t in enumerate(types) if t == "full_attention"} != set(idxs):
        raise SpecError(WHERE, f"model_type {mt}: layer_types and full_attn_idxs name different attention layers")
    if "full_attention" not in types:
        raise _refuse(mt, "a pattern of conv layers alone (no full_attention in layer_types) is not modelled "
                          "(transformers' Lfm2HybridConvCache needs an attention layer)")
    return [LFM2_LAYERS[t] for t in types]


def _layer_types(cfg: dict, mt: str, L: int) -> tuple[list[str], int | None]:
    """Per-layer types (full, sliding, chunked, linear, cross, ffn), and ``global_every`` N when the config states
    the pattern as every N-th layer global (Gemma-2/3) rather than per layer."""
    if mt == "nemotron-nas":                 # attention no_op: an ffn layer (_nemotron_nas_keys)
        return list(cfg["_nas_layer_types"]), None
    if mt in MAMBA2_HYBRIDS:
        return _mamba2_layer_types(cfg, mt, L), None
    if mt in MAMBA1_HYBRIDS:
        return _jamba_layer_types(cfg, mt, L), None
    if mt in LIGHTNING_HYBRIDS:
        return _minimax_layer_types(cfg, mt, L), None
    if mt in PARALLEL_HYBRIDS:
        return _falcon_h1_layers(cfg, mt, L), None
    if mt in SHORT_CONV_HYBRIDS:
        return _lfm2_layer_types(cfg, mt, L), None
    if mt == "kimi_linear":
        lac = cfg.get("linear_attn_config")
        if not isinstance(lac, dict) or not isinstance(lac.get("full_attn_layers"), list):
            raise _refuse(mt, "without linear_attn_config.full_attn_layers its layer pattern is unknown")
        lac = _checked(lac, mt)
        full = {int(i) - 1 for i in lac["full_attn_layers"]}               # 1-based in the config
        kda = {int(i) - 1 for i in lac.get("kda_layers") or set(range(1, L + 1)) - {i + 1 for i in full}}
        if full | kda != set(range(L)) or full & kda:
            raise _refuse(mt, "full_attn_layers and kda_layers do not split the layers between them")
        return ["full" if i in full else "linear" for i in range(L)], None
    if mt == "qwen3_next":
        if cfg.get("layer_types") is not None:
            return _from_layer_types(cfg, mt, L), None
        n = int(_req(cfg, mt, "full_attention_interval"))
        return ["full" if (i + 1) % n == 0 else "linear" for i in range(L)], None
    if mt == "llama4_text":
        if not cfg.get("attention_chunk_size"):
            return ["full"] * L, None
        rope = cfg.get("no_rope_layers")                              # 1: RoPE (chunked); 0: NoPE (full)
        if not rope:
            rope = [int((i + 1) % 4 != 0) for i in range(L)]
        if len(rope) != L:
            raise _refuse(mt, f"no_rope_layers has {len(rope)} entries for {L} layers")
        return ["chunked" if r else "full" for r in rope], None
    if mt == "mllama":
        cross = set(cfg.get("cross_attention_layers") or [])
        outside = sorted(i for i in cross if not 0 <= i < L)
        if outside:     # layer 100 of 40, or -1, was dropped without a word: fewer cross layers than the file says
            raise _refuse(mt, f"cross_attention_layers names layer {outside[0]}, outside the {L} layers (0 to {L - 1})")
        return ["cross" if i in cross else "full" for i in range(L)], None
    if cfg.get("layer_types") is not None:
        return _from_layer_types(cfg, mt, L), None
    window = cfg.get("sliding_window")
    if not window or cfg.get("use_sliding_window") is False:
        return ["full"] * L, None
    if mt in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):       # sliding from layer max_window_layers on
        first = cfg.get("max_window_layers", 0) or 0
        return ["sliding" if i >= first else "full" for i in range(L)], None
    if mt in ("gemma2", "vaultgemma"):
        # Gemma2Config and VaultGemmaConfig without layer_types: "sliding_attention" if (i + 1) % 2 else
        # "full_attention" (VaultGemma-1B's file lists every layer full: read above)
        return ["full" if i % 2 else "sliding" for i in range(L)], 2
    if mt == "afmoe":
        # AfmoeConfig: layer_types (read above), else layer i is full iff (i + 1) % global_attn_every_n_layers == 0
        n = _req(cfg, mt, "global_attn_every_n_layers")
        return ["full" if (i + 1) % n == 0 else "sliding" for i in range(L)], n
    if mt in ("gemma3_text", "cohere2", "exaone4", "exaone_moe"):
        # every n-th layer global (Gemma3TextConfig, Cohere2Config, Exaone4Config: layer i is full iff
        # (i + 1) % n == 0); Cohere2 configs re-saved by newer transformers spell it _sliding_window_pattern (and
        # carry layer_types, read above)
        if mt in ("exaone4", "exaone_moe") and "sliding_window_pattern" in cfg and \
                cfg["sliding_window_pattern"] is None:
            # EXAONE's null (no sliding window, NULL_DERIVED) beside a window and no layer_types: Exaone4Config
            # builds its layer types from (i + 1) % sliding_window_pattern, which fails on the None
            raise SpecError(WHERE, f"model_type {mt}: sliding_window_pattern is null (no sliding window) beside "
                                   f"sliding_window {_show(window)} and no layer_types; give one or the other")
        n = int(cfg.get("sliding_window_pattern") or cfg.get("_sliding_window_pattern") or 4)
        return ["full" if (i + 1) % n == 0 else "sliding" for i in range(L)], n
    max_pos = cfg.get("max_position_embeddings")
    if max_pos and window >= max_pos:
        return ["full"] * L, None  # a window as long as the context is global attention (early Mixtral: 32768)
    if mt in KNOWN:
        return ["sliding"] * L, None                                 # Mistral, Mixtral: every layer local
    raise _refuse(mt, "sliding_window without layer_types: which layers are local is not known")


def _period(types: list[str]) -> list[str]:
    """The shortest prefix that repeats to ``types`` (gpt-oss: [sliding, full])."""
    L = len(types)
    for n in range(1, L + 1):
        if L % n == 0 and types == types[:n] * (L // n):
            return types[:n]
    return types


def _pattern_fields(cfg: dict, mt: str, L: int) -> tuple[dict, dict]:
    """(attention fields, spec fields) of the layer pattern: sliding_window/global_every/chunk_size, layer_types."""
    types, every = _layer_types(cfg, mt, L)
    attn, spec = {}, {}
    used = set(types)
    if "sliding" in used:
        attn["sliding_window"] = _req(cfg, mt, "sliding_window")
    if "chunked" in used:
        attn["chunk_size"] = _req(cfg, mt, "attention_chunk_size")
    if every is not None:
        attn["global_every"] = every
    elif used not in ({"full"}, {"sliding"}):
        spec["layer_types"] = _period(types)
    return attn, spec


# ---------------------------------------------------------------------------------------------------------
# Attention and FFN blocks
# ---------------------------------------------------------------------------------------------------------

def _latent(cfg: dict, mt: str) -> dict:
    heads = _req(cfg, mt, "num_attention_heads")
    v = cfg.get("v_head_dim")
    if v is None:
        if mt != "minicpm3":
            _missing(mt, "v_head_dim")
        v = _req(cfg, mt, "hidden_size") // heads                       # MiniCPM3's remote code
    if "q_lora_rank" not in cfg:
        # read as no query down-projection (null), where transformers builds its class default's: DeepseekV2Config and
        # DeepseekV3Config q_lora_rank=1536 (DeepSeek-V3 without the key was 678.80 B parameters, not 671.03 B)
        raise SpecError(WHERE, f"model_type {mt}: has no q_lora_rank (null: queries without a down-projection), "
                               "which sizes the model")
    if cfg["q_lora_rank"] == 0:
        # was read as no down-projection; transformers (DeepseekV3Attention: `if self.q_lora_rank is None`) and vLLM
        # (deepseek_v2.py: `if self.q_lora_rank is not None`) build a q_a_proj of width 0
        raise SpecError(WHERE, f"model_type {mt}: q_lora_rank must be at least 1 (null: queries without a "
                               "down-projection), got 0")
    a = {"kind": "mla", "num_heads": heads, "qk_nope_head_dim": _req(cfg, mt, "qk_nope_head_dim"),
         "qk_rope_head_dim": _req(cfg, mt, "qk_rope_head_dim"), "v_head_dim": v,
         "q_lora_rank": cfg.get("q_lora_rank"), "kv_lora_rank": _req(cfg, mt, "kv_lora_rank")}
    if mt in ("deepseek_v32", "glm_moe_dsa"):
        a.update(kind="dsa", index_n_heads=_req(cfg, mt, "index_n_heads"),
                 index_head_dim=_req(cfg, mt, "index_head_dim"), index_topk=_req(cfg, mt, "index_topk"))
        shared = [t for t in cfg.get("indexer_types") or [] if t != "full"]
        if shared:
            raise _refuse(mt, "indexer layers that reuse another layer's top-k (indexer_types) are not modelled")
    elif cfg.get("index_topk") is not None:
        raise _refuse(mt, "a sparse-attention indexer is not modelled for this model_type")
    return a


# ---------------------------------------------------------------------------------------------------------
# DeepSeek-V4 (deepseek_v4): compressed attention, mHC, hash-routed MoE, MXFP4 experts beside fp8 blocks
# ---------------------------------------------------------------------------------------------------------

# transformers DeepseekV4Config: layer_types names (DEEPSEEK_V4_LAYER_TYPES) and the legacy compress_ratios it maps
# (_COMPRESS_RATIO_TO_LAYER_TYPE: only 0, 4 and 128; any other ratio is a KeyError there)
V4_LAYER_TYPES = {"sliding_attention": "sliding", "compressed_sparse_attention": "csa",
                  "heavily_compressed_attention": "hca"}
V4_RATIOS = {0: "sliding", 4: "csa", 128: "hca"}
V4_MLP_TYPES = ("hash_moe", "moe")                         # DEEPSEEK_V4_MLP_LAYER_TYPES
V4_DEFAULTS = {"compress_rates": {"compressed_sparse_attention": 4, "heavily_compressed_attention": 128},
               "num_hash_layers": 3, "partial_rotary_factor": 64 / 512}
V4_EXPERT_DTYPES = ("fp4", "fp8")                          # vLLM _DEEPSEEK_V4_EXPERT_DTYPES
# keys of DeepSeek-V4's later checkpoints whose layers read other layers' K/V or indexer, or that carry an n-gram
# table or a speculative drafter (V4.1, V4-Flash-0731): their models are not the spec's
V4_VARIANT_KEYS = ("kv_source_layers", "index_source_layers", "engram_layer_ids", "candidate_source_layer",
                   "candidate_topk_blocks", "candidate_block_size")
V4_READING = ("deepseek_v4: compressed attention (a 128-token window on every layer; csa layers add one entry per "
              "compress_rate tokens and a lightning indexer's top-k, hca layers one entry per compress_rate tokens, "
              "all attended), mHC (hc_mult residual streams), hash-routed leading MoE layers; the routers' "
              "score-correction biases (gate.bias, fp32, one an expert on the non-hash layers) are not counted, as "
              "DeepSeek-V3's are not; the cache priced in the engines' fp8-ds rows")


def _v4_layers(cfg: dict, mt: str, L: int, mtp: int) -> tuple[list[str], str, int | None, int | None]:
    """(each layer's type, the MTP layers' type, csa rate, hca rate) of a DeepSeek-V4 config: ``layer_types``
    (transformers' names) or, as released, ``compress_ratios`` (0 / 4 / 128 a layer, the MTP layers' entries after
    the ``num_hidden_layers``: V4-Flash's 44 and V4-Pro's 62 entries end in the MTP layer's 0); rates from
    ``compress_rates`` (or the legacy ``compress_rate_csa`` / ``compress_rate_hca``), DeepseekV4Config's 4 and 128
    where none is given. An MTP layer without an entry is sliding, as both releases' are (their ``mtp.0.attn`` holds
    no compressor: code-corpus file id 62968290951). Anything transformers would not build, or builds otherwise, is
    one line."""
    names, ratios = cfg.get("layer_types"), cfg.get("compress_ratios")
    if names is not None and ratios is not None:
        raise _refuse(mt, "gives both layer_types and compress_ratios; transformers reads layer_types alone, give one")
    rates = cfg.get("compress_rates")
    if rates is not None and (not isinstance(rates, dict) or set(rates) - set(V4_LAYER_TYPES)):
        raise _refuse(mt, f"compress_rates must map compressed_sparse_attention and heavily_compressed_attention to "
                          f"whole numbers, got {_show(rates)}")
    rates = {**V4_DEFAULTS["compress_rates"], **(rates or {})}
    for key, t in (("compress_rate_csa", "compressed_sparse_attention"),
                   ("compress_rate_hca", "heavily_compressed_attention")):
        if cfg.get(key) is not None:
            rates[t] = cfg[key]
    for t, r in rates.items():
        if not _whole(r, 1):
            raise _refuse(mt, f"the compress rate of {t} must be a whole number of at least 1 (tokens per compressed "
                              f"entry), got {_show(r)}")
    if ratios is not None:
        bad = [r for r in ratios if r not in V4_RATIOS]
        if bad:
            raise _refuse(mt, f"compress_ratios entry {_show(bad[0])} is none of 0, 4, 128 (transformers maps only "
                              "these to sliding, compressed sparse and heavily compressed attention)")
        if (rates["compressed_sparse_attention"], rates["heavily_compressed_attention"]) != (4, 128):
            raise _refuse(mt, "compress_ratios names the layers by the rates 4 and 128; other compress_rates beside it "
                              "contradict it")
        types = [V4_RATIOS[r] for r in ratios]
    else:
        if names is None:         # DeepseekV4Config.__post_init__: two HCA layers, then CSA and HCA by turns
            names = ["heavily_compressed_attention"] * min(L, 2) + [
                "compressed_sparse_attention" if i % 2 else "heavily_compressed_attention" for i in range(max(L - 2, 0))]
        bad = [t for t in names if t not in V4_LAYER_TYPES]
        if bad:
            raise _refuse(mt, f"layer_types entry {_show(bad[0])} is none of {', '.join(V4_LAYER_TYPES)}")
        types = [V4_LAYER_TYPES[t] for t in names]
    what = "compress_ratios" if ratios is not None else "layer_types"
    if len(types) < L:
        raise _refuse(mt, f"{what} has {len(types)} entries for {L} layers")
    extra = types[L:L + mtp]
    if len(set(extra)) > 1:
        raise _refuse(mt, f"{what} gives the MTP layers types of their own each ({', '.join(extra)}), which are not "
                          "modelled (one MTP layer type)")
    used = set(types[:L]) | set(extra[:1])
    csa = rates["compressed_sparse_attention"] if "csa" in used else None
    hca = rates["heavily_compressed_attention"] if "hca" in used else None
    return types[:L], extra[0] if extra else "sliding", csa, hca


def _v4_hash_layers(cfg: dict, mt: str, L: int) -> int:
    """The leading hash-routed MoE layers: ``mlp_layer_types`` (``hash_moe`` / ``moe``, the hash ones first) or
    ``num_hash_layers`` (DeepseekV4Config's 3); both given must agree."""
    kinds = cfg.get("mlp_layer_types")
    n = cfg.get("num_hash_layers")
    if kinds is None:
        return min(L, V4_DEFAULTS["num_hash_layers"] if n is None else n)
    bad = [k for k in kinds if k not in V4_MLP_TYPES]
    if bad:
        raise _refuse(mt, f"mlp_layer_types entry {_show(bad[0])} is none of {', '.join(V4_MLP_TYPES)}")
    if len(kinds) < L:
        raise _refuse(mt, f"mlp_layer_types has {len(kinds)} entries for {L} layers")
    hashed = kinds[:L].count("hash_moe")
    if kinds[:hashed] != ["hash_moe"] * hashed:
        raise _refuse(mt, "mlp_layer_types has hash_moe layers after moe ones; hash-routed layers that do not lead "
                          "are not modelled")
    if n is not None and n != hashed:
        raise _refuse(mt, f"num_hash_layers {n} and mlp_layer_types' {hashed} hash_moe layers disagree")
    return hashed


def _v4_quantization(cfg: dict, mt: str) -> tuple[dict | None, str]:
    """(quantization block, weight dtype) of a DeepSeek-V4 checkpoint, as vLLM's ``DeepseekV4FP8Config`` loads it:
    ``quantization_config`` fp8 (e4m3, 128 x 128 blocks) on every Linear, the routed experts by ``expert_dtype``
    (fp4, vLLM's default where the key is missing: MXFP4, e2m1 values with one e8m0 scale per 32, the fp8 blocks'
    scales e8m0 too, 8 bits; fp8, DeepSeek-V4-Flash-Base: fp8 blocks, "float32 FP8 linear scales"). The MTP module is
    quantized alike (the V4-Pro inventory: ``mtp.0.*`` fp8 and int8-packed fp4 with e8m0 scales). No
    quantization_config: every matrix at ``torch_dtype``. Other methods are refused in one line."""
    q = cfg.get("quantization_config")
    expert = cfg.get("expert_dtype")
    if expert is not None and expert not in V4_EXPERT_DTYPES:
        raise _refuse(mt, f"expert_dtype {_show(expert)} is none of {', '.join(V4_EXPERT_DTYPES)} (vLLM's)")
    if q is None:
        if expert is not None:
            raise _refuse(mt, f"expert_dtype {expert} without a quantization_config is no checkpoint layout vLLM loads "
                              "(DeepseekV4FP8Config applies it to an fp8 quantization_config)")
        return None, ""
    method = q.get("quant_method")
    if method not in ("fp8", "deepseek_v4_fp8"):
        raise _refuse(mt, f"quantization_config quant_method {_show(method)} is not read for DeepSeek-V4 (its fp8 "
                          "release layout is)")
    if q.get("fmt", "e4m3") != "e4m3" or q.get("weight_block_size") != [128, 128]:
        raise _refuse(mt, "quantization_config other than e4m3 values in 128 x 128 blocks (fmt, weight_block_size) "
                          "is not read for DeepSeek-V4")
    for key in ("ignored_layers", "modules_to_not_convert"):
        if q.get(key):
            raise _refuse(mt, f"quantization_config {key} is not read for DeepSeek-V4")
    fp4 = (expert or "fp4") == "fp4"
    block = {"method": "fp8-block", "bits": 8, "group_size": 128 * 128, "scale_bits": 8 if fp4 else 32,
             "components": ["attention", "shared_experts", "routed_experts", "mtp"]}
    if fp4:
        block |= {"experts_bits": 4, "experts_group_size": 32, "experts_scale_bits": 8}
    return block, "fp8"


def _deepseek_v4(cfg: dict, mt: str, name: str, mlx: Any, description: str) -> dict:
    """The whole spec of a DeepSeek-V4 config (V4-Flash, V4-Pro; :mod:`mlacalc.attention.compressed`): attention
    ``compressed`` with every layer's type (:func:`_v4_layers`), one K=V head of ``head_dim`` with
    ``qk_rope_head_dim`` rotary dims (or ``head_dim x partial_rotary_factor``, DeepseekV4Config's 64 / 512), the query
    rank, the grouped output projection, the window, the csa layers' indexer; MoE on every layer (shared experts of
    ``moe_intermediate_size``, the leading ``num_hash_layers`` hash-routed: :func:`_v4_hash_layers`); ``hc_mult``
    mHC streams; ``num_nextn_predict_layers`` MTP modules of the layer type their ``compress_ratios`` entry gives;
    weights as vLLM loads them (:func:`_v4_quantization`); the cache in fp8-ds rows, the only layout vLLM
    (``DeepseekV4MLAAttention`` asserts an fp8 cache and converts it to ``fp8_ds_mla``) and SGLang
    (``DeepseekV4TokenToKVPool``, "fp8_ds_mla cache pool") keep. Keys transformers' class holds but builds nothing
    from differently are refused in one line where they would change a number (``num_key_value_heads`` other than
    1, ``first_k_dense_replace``, ``attention_bias``, a ``qk_nope_head_dim`` that is not ``head_dim`` less the rotary
    dims), as are the later variants' keys (:data:`V4_VARIANT_KEYS`, ``dspark_*``)."""
    if mlx is not None:
        raise _refuse(mt, "an MLX quantization block is not read for DeepSeek-V4 (its module names are its own)")
    for key in (*V4_VARIANT_KEYS, *sorted(k for k in cfg if str(k).startswith("dspark_"))):
        if cfg.get(key) is not None:
            raise _refuse(mt, f"{key}: a later DeepSeek-V4 variant (layers reading other layers' K/V or indexer, an "
                              "n-gram table, a speculative drafter) is not modelled")
    L = cfg["num_hidden_layers"]
    if cfg.get("num_key_value_heads") != 1:
        raise _refuse(mt, f"num_key_value_heads {_show(cfg.get('num_key_value_heads'))}: DeepseekV4Attention builds "
                          "one K=V head whatever it says")
    if cfg.get("first_k_dense_replace"):
        raise _refuse(mt, "first_k_dense_replace: DeepseekV4 builds an MoE block on every layer, no dense ones")
    if cfg.get("attention_bias"):
        raise _refuse(mt, "attention_bias: DeepSeek-V4's attention has no biases")
    if cfg.get("kv_lora_rank") is not None:
        raise _refuse(mt, "kv_lora_rank: DeepSeek-V4 caches its K=V head whole (no latent)")
    width = cfg.get("moe_intermediate_size")
    if cfg.get("intermediate_size") is not None and cfg.get("intermediate_size") != width:
        # DeepseekV4Config.attribute_map: intermediate_size is moe_intermediate_size
        raise _refuse(mt, f"intermediate_size {_show(cfg['intermediate_size'])} and moe_intermediate_size "
                          f"{_show(width)} name one width (DeepseekV4Config.attribute_map) and disagree")
    head = cfg["head_dim"]
    # DeepseekV4Config.__post_init__: qk_rope_head_dim = int(head_dim x partial_rotary_factor), the legacy
    # qk_rope_head_dim / head_dim standing in only where partial_rotary_factor is None (then 64 / 512)
    rope, factor = cfg.get("qk_rope_head_dim"), cfg.get("partial_rotary_factor")
    if factor is not None:
        built = int(head * factor)
        if rope is not None and rope != built:
            raise _refuse(mt, f"partial_rotary_factor {_show(factor)} (head_dim x it: {built} rotary dims, what "
                              f"DeepseekV4Config builds) and qk_rope_head_dim {_show(rope)} disagree")
        rope = built
    elif rope is None:
        rope = int(head * V4_DEFAULTS["partial_rotary_factor"])
    if rope > head:
        raise _refuse(mt, f"qk_rope_head_dim {rope} exceeds head_dim {head}")
    nope = cfg.get("qk_nope_head_dim")
    if nope is not None and nope != head - rope:
        raise _refuse(mt, f"qk_nope_head_dim {nope} is not head_dim {head} less the rotary dims {rope}")
    if cfg["hc_mult"] == 1:
        # DeepseekV4HyperConnection builds its mappings at any hc_mult ((2 + 1) x d and 3 + 3 at 1); the spec's
        # hyper_connections 1 is a plain residual with none
        raise _refuse(mt, "hc_mult 1: DeepSeek-V4 still builds the mHC mappings of one stream, which are not modelled "
                          "(hyper_connections 1 is a plain residual); give 2 or more")
    mtp = cfg.get("num_nextn_predict_layers") or 0
    types, mtp_type, csa, hca = _v4_layers(cfg, mt, L, mtp)
    attention = {"kind": "compressed", "num_heads": cfg["num_attention_heads"], "num_kv_heads": 1,
                 "qk_nope_head_dim": head - rope, "qk_rope_head_dim": rope, "v_head_dim": head, "kv_shared": True,
                 "sinks": True, "q_lora_rank": cfg["q_lora_rank"], "o_groups": cfg["o_groups"],
                 "o_lora_rank": cfg["o_lora_rank"], "sliding_window": cfg["sliding_window"]}
    if csa is not None:
        attention |= {"csa_rate": csa, "index_n_heads": cfg["index_n_heads"], "index_head_dim": cfg["index_head_dim"],
                      "index_topk": cfg["index_topk"]}
    if hca is not None:
        attention["hca_rate"] = hca
    f = {"kind": "moe", "intermediate_size": width, "num_experts": _req(cfg, mt, "n_routed_experts"),
         "experts_per_token": _req(cfg, mt, "num_experts_per_tok"),
         "num_shared_experts": cfg.get("n_shared_experts") or 0, "expert_intermediate_size": width,
         "hash_layers": _v4_hash_layers(cfg, mt, L),
         # DeepseekV4TopKRouter: F.linear(flat, self.weight) in bf16 (gate.weight is not among its fp32 modules), then
         # its score function (sqrtsoftplus) on the bf16 logits
         "router": "act-scores"}
    quant, wdtype = _v4_quantization(cfg, mt)
    out = {"name": name, "num_layers": L, "hidden_size": cfg["hidden_size"], "vocab_size": cfg["vocab_size"],
           "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)), "attention": attention,
           "layer_types": types, "ffn": f, "hyper_connections": cfg["hc_mult"], "mtp_layers": mtp,
           "dtypes": {"weights": wdtype or _weight_dtype(cfg, None, {}), "kv": "fp8-ds"},
           "description": "; ".join(x for x in (description, V4_READING) if x)}
    if mtp:
        out["mtp_layer_type"] = mtp_type
    if quant:
        out["quantization"] = quant
    limit = _limit(cfg)
    if limit:
        out["max_context"] = limit
    return out


# config flags of q/k/v biases without an o_proj bias (Qwen2's are hard-wired): Glm4MoeAttention, StableLmAttention
# (Ling's BailingMoe/BailingMoeV2 attention: query_key_value bias=use_qkv_bias, dense (o_proj) bias=use_bias)
# (GlmAttention, Glm4Attention: q/k/v bias=attention_bias, o_proj none; ChatGLM's query_key_value bias=add_qkv_bias)
QKV_BIAS_FLAG = {"glm4_moe": "attention_bias", "stablelm": "use_qkv_bias", "seed_oss": "attention_bias",
                 "bailing_moe": "use_qkv_bias", "bailing_moe_v2": "use_qkv_bias", "glm": "attention_bias",
                 "glm4": "attention_bias", "chatglm": "add_qkv_bias", "internlm3": "qkv_bias",
                 "mimo_v2_flash": "attention_bias",
                 # Step3p5Attention: QKVParallelLinear(bias=getattr(config, "attention_bias", False)), o_proj bias=False
                 "step3p5": "attention_bias"}
# config flags of an o_proj bias apart from the q/k/v ones (SeedOssAttention: o_proj bias=attention_out_bias)
# (GPT-Neo: out_proj biased, q/k/v not; _gpt_neo_keys sets attention_out_bias)
O_BIAS_FLAG = {"seed_oss": "attention_out_bias", "bailing_moe": "use_bias", "bailing_moe_v2": "use_bias",
               "gpt_neo": "attention_out_bias"}
# config flags of biases on q, k, v and o (Llama and most: attention_bias)
ALL_BIAS_FLAG = {"falcon": "bias", "internlm2": "bias", "starcoder2": "use_bias"}
# config flags of a q/k norm with weights (Llama-4's use_qk_norm is a weightless L2 norm, so not read there)
QK_NORM_FLAG = {"glm4_moe": "use_qk_norm", "minimax_m2": "use_qk_norm", "cohere": "use_qk_norm",
                "stablelm": "qk_layernorm", "apertus": "qk_norm", "bailing_moe": "use_qk_norm",
                "bailing_moe_v2": "use_qk_norm", "hunyuan": "use_qk_norm", "hunyuan_v1_moe": "use_qk_norm"}


# dense families whose MLP is up_proj then down_proj, with no gate (2 d f a layer, not 3 d f); MPT's MptMLP
# (ffn.up_proj, ffn.down_proj, bias-free; _mpt_keys sets intermediate_size to 4 d)
NON_GATED_MLP = ("apertus", "arcee", "nemotron", "mpt")
# GPT-2's block (transformers GPT2Block, GPTBigCodeBlock; vLLM gpt2.py, gpt_bigcode.py): a learned position table
# (wpe, n_positions x d) instead of RoPE, c_attn and c_proj with biases, an MLP of c_fc d -> n_inner (4 d where null)
# and c_proj back, both biased, no gate, LayerNorms with biases. GPTBigCode (StarCoder) is GPT-2's block with
# multi-query attention (_gpt_bigcode_keys)
GPT2_BLOCK = ("gpt2", "gpt_bigcode")
# non-gated MLPs of intermediate_size with biases (up then down, 2 d f + f + d: the spec's ffn.mlp_bias): StarCoder2
# (Starcoder2MLP c_fc, c_proj, biased by use_bias), GPT-NeoX (GPTNeoXMLP dense_h_to_4h, dense_4h_to_h, always biased),
# Phi (PhiMLP fc1, fc2, always biased), OPT (fc1, fc2 biased by enable_bias), GPT-J and CodeGen (mlp.fc_in, fc_out),
# BLOOM (mlp.dense_h_to_4h, dense_4h_to_h), GPT-Neo (mlp.c_fc, c_proj); each reader sets intermediate_size
BIASED_MLP = ("starcoder2", "gpt_neox", "phi", "opt", "gptj", "codegen", "bloom", "gpt_neo", "jais2")
# the config switch that biases those MLPs where one does (Starcoder2MLP: nn.Linear(..., bias=config.use_bias); OPT's
# fc1/fc2: bias=config.enable_bias); the others' MLPs are biased whatever the file says, GPT-2's block's too
MLP_BIAS_FLAG = {"starcoder2": "use_bias", "opt": "enable_bias",
                 # Jais2MLP = NemotronMLP: up_proj, down_proj nn.Linear(..., bias=config.mlp_bias); vLLM's Jais2MLP
                 # bias=getattr(config, "mlp_bias", False) of transformers' Jais2Config (default true)
                 "jais2": "mlp_bias"}
# gated MLPs biased by a config flag (2 f + d a layer: the spec's ffn.mlp_bias): Granite-SWA's GraniteMLP (LlamaMLP:
# gate_proj, up_proj, down_proj bias=config.mlp_bias; vLLM granite.py GraniteMLP bias=mlp_bias)
GATED_MLP_BIAS_FLAG = {"granite_swa": "mlp_bias"}
# families whose lm_head has a bias of vocab_size (the spec's head_bias): PhiForCausalLM, GPTJForCausalLM and
# CodeGenForCausalLM build nn.Linear(hidden, vocab) with its default bias (vLLM phi.py and gpt_j.py:
# ParallelLMHead(..., bias=True))
HEAD_BIAS = ("phi", "gptj", "codegen")
# families whose lm_head bias a config flag switches (PhimoeForCausalLM: nn.Linear(hidden, vocab,
# bias=config.lm_head_bias); _phimoe_keys refuses it false, which vLLM would not follow)
HEAD_BIAS_FLAG = {"phimoe": "lm_head_bias"}


def position_rows(cfg: dict, mt: str) -> int:
    """Rows of the learned position table (the spec's ``position_embeddings``; 0 where the family has none): GPT-2's
    and GPTBigCode's wpe of ``n_positions`` (GPT2Model: nn.Embedding(config.max_position_embeddings, d), the
    attribute_map's name for n_positions, which wins where a file gives both), GPT-Neo's of
    ``max_position_embeddings``, OPT's embed_positions of ``max_position_embeddings + 2``
    (OPTLearnedPositionalEmbedding: "if padding_idx is specified then offset the embedding ids by 2"). The class
    defaults are in :data:`DEFAULTS` (GPT-2's and GPTBigCode's 1024, OPT's and GPT-Neo's 2048); no YaRN factor
    enlarges a table."""
    if mt not in (*GPT2_BLOCK, "opt", "gpt_neo"):
        return 0
    rows = next(cfg[k] for k in ("max_position_embeddings", "n_positions") if cfg.get(k) is not None)
    return rows + 2 if mt == "opt" else rows


def _rope_factor(cfg: dict, mt: str) -> float | None:
    """``rope_parameters.partial_rotary_factor`` (transformers 5 writes it there: Qwen3.5's 0.25), checked to be a
    fraction of the head; None where the config gives none."""
    rp = cfg.get("rope_parameters")
    f = rp.get("partial_rotary_factor") if isinstance(rp, dict) else None
    if f is not None and (isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1):
        raise SpecError(WHERE, f"model_type {mt}: rope_parameters.partial_rotary_factor must be a number from 0 to 1, "
                               f"got {_show(f)}")
    return f


def _no_rope(cfg: dict, mt: str) -> bool:
    """Attention without rotary dims: GPT-2's, StarCoder's, OPT's and GPT-Neo's learned positions, BLOOM's and MPT's
    ALiBi, Falcon's ALiBi, Nemotron-H's and Jamba's NoPE attention (NemotronHAttention and JambaAttention apply no
    rotary embedding), Granite-4.0-H's ``position_embedding_type: nope``, Baichuan-13B's and Baichuan2-13B's ALiBi
    (:func:`_baichuan_alibi`)."""
    return mt in (*GPT2_BLOCK, "nemotron_h", "jamba", "opt", "gpt_neo", "bloom", "mpt") or \
        (mt == "falcon" and bool(cfg.get("alibi"))) or \
        (mt == "granitemoehybrid" and cfg.get("position_embedding_type") == "nope") or \
        (mt == "baichuan" and _baichuan_alibi(cfg))


def _conventional(cfg: dict, mt: str) -> dict:
    heads = _req(cfg, mt, "num_attention_heads", "n_head")
    hidden = _req(cfg, mt, "hidden_size", "n_embd")
    if mt == "falcon":                  # FalconConfig: num_kv_heads None is num_attention_heads
        kv = (cfg.get("num_kv_heads") or heads) if cfg.get("new_decoder_architecture") else \
            1 if cfg.get("multi_query") else heads
    else:
        kv = cfg.get("num_key_value_heads") or heads
    # Nemotron-H and Hunyuan (HunYuanAttention: head_dim, else attention_head_dim) name it attention_head_dim
    head_dim = cfg.get("head_dim") or (cfg.get("attention_head_dim") if mt in ("nemotron_h", *HUNYUAN) else None)
    if not head_dim:
        if hidden % heads:
            raise _refuse(mt, f"hidden_size {hidden} is not a multiple of {heads} heads and head_dim is not given")
        head_dim = hidden // heads
    if _no_rope(cfg, mt):
        rope = 0
    elif cfg.get("rotary_dim") is not None:                           # MiniMax-M2: RoPE dims given outright
        rope = cfg["rotary_dim"]
    elif mt == "bamba" and cfg.get("attn_rotary_emb") is not None:    # BambaAttention: RoPE over the first 64
        rope = cfg["attn_rotary_emb"]
    else:                                                             # Phi-4-mini 0.75, GLM-4.5 0.5, StableLM 0.25
        # transformers 5 writes the factor inside rope_parameters (Qwen3.5: 0.25 there, none at the top level)
        factor = cfg.get("partial_rotary_factor")
        if factor is None:
            factor = _rope_factor(cfg, mt)
        rope = round(head_dim * (1.0 if factor is None else factor))
    if rope > head_dim:
        raise _refuse(mt, f"rotary_dim {rope} exceeds head_dim {head_dim}")
    kind = "mha" if kv == heads else "mqa" if kv == 1 else "gqa"
    a = {"kind": kind, "num_heads": heads, "num_kv_heads": kv, "qk_nope_head_dim": head_dim - rope,
         "qk_rope_head_dim": rope, "v_head_dim": head_dim}
    # Qwen-1 (QWenAttention's c_attn: nn.Linear's default bias) like Qwen2's: q/k/v biases whatever the config says
    if mt in ("qwen2", "qwen2_moe", "qwen") or (mt in QKV_BIAS_FLAG and cfg.get(QKV_BIAS_FLAG[mt])):
        a["qkv_bias"] = True                                          # q/k/v biases, none on o_proj
    elif cfg.get(ALL_BIAS_FLAG.get(mt, "attention_bias")) is True or mt in (*GPT2_BLOCK, "phi"):
        a["qkv_bias"] = a["o_bias"] = True
    if mt in O_BIAS_FLAG and cfg.get(O_BIAS_FLAG[mt]) is True:
        a["o_bias"] = True
    if mt in ("seed_oss", "falcon_h1", *NON_GATED_MLP) and cfg.get("mlp_bias"):     # FalconH1MLP: LlamaMLP's
        raise _refuse(mt, "MLP biases (mlp_bias) are not modelled")
    if mt in HUNYUAN and cfg.get("use_cla") and (cfg.get("cla_share_factor") or 1) > 1:
        # cross-layer attention (Hunyuan-Large: cla_share_factor 2): layers off every cla_share_factor-th reuse the
        # K/V of the group's first layer and have no k_proj/v_proj (vLLM hunyuan_v1.py _get_cla_factor: the factor
        # when use_cla, else 1; HunYuanDecoderLayer: layer_id % cla_factor != 0 is a HunYuanCrossAttention)
        a["kv_share_layers"] = cfg["cla_share_factor"]
    if mt == "gemma4_text":             # its sliding shape, values from keys, KV sharing, q/k norms (_gemma4_keys)
        a.update(cfg["_gemma4_attention"])
    if mt == "gemma3n_text" and cfg.get("num_kv_shared_layers"):
        # the last num_kv_shared_layers layers attend the cache of the last earlier layer of their type and compute
        # no K/V (Gemma3nTextAttention: is_kv_shared_layer, kv_shared_layer_index; vLLM gemma3n.py:
        # kv_sharing_target_layer_name), though the checkpoint stores their k_proj and v_proj (google/gemma-3n-E2B-it
        # and -E4B-it: 5,439,438,272 and 7,849,978,192 parameters, HF's safetensors metadata, whose difference,
        # 2,410,539,920, is the text decoders' with those projections counted on every layer)
        a.update(kv_shared_tail=cfg["num_kv_shared_layers"], reader_kv_weights=True)
    if mt in HUNYUAN and cfg.get("mlp_bias"):
        raise _refuse(mt, "MLP biases (mlp_bias) are not modelled")
    if mt == "internlm3" and cfg.get("bias"):       # InternLM3Attention o_proj and InternLM3MLP: bias=config.bias
        raise _refuse(mt, "biases on the output projection and the MLP (bias) are not modelled")
    if mt in ("ernie4_5", "ernie4_5_moe") and cfg.get("use_bias"):   # use_bias: biases on q, k, v, o and the MLPs
        raise _refuse(mt, "biases on every projection, the MLP's included (use_bias), are not modelled")
    # q_norm/k_norm always present: Qwen3*, Gemma-3, OLMo-2/3 (over the whole projection, counted per head),
    # EXAONE-4 (Exaone4Attention: RMSNorm of head_dim)
    # dots.llm1 (Dots1Attention is Qwen3's); OLMoE (OlmoeAttention: q_norm over the query projection, k_norm over
    # the key projection, as OLMo-2's)
    # AFMoE (AfmoeAttention: q_norm, k_norm of head_dim)
    # Step-3.5 (Step3p5Attention: q_norm and k_norm, GemmaRMSNorm of head_dim, on every layer)
    if mt in ("qwen3", "qwen3_moe", "qwen3_next", "gemma3_text", "olmo2", "olmo3", "exaone4", "dots1", "olmoe",
              "afmoe", "exaone_moe", "step3p5", "gemma3n_text", "hy_v3", *SHORT_CONV_HYBRIDS) or \
            (mt in QK_NORM_FLAG and cfg.get(QK_NORM_FLAG[mt])):
        a["qk_norm"] = True
    if mt == "qwen3_next" and cfg.get("attn_output_gate", True):   # Qwen3.5 says so (attn_output_gate)
        a["output_gate"] = True
    if mt == "afmoe":                     # AfmoeAttention: o_proj(attn * sigmoid(gate_proj(x))), gate d -> heads x hd
        a["output_gate"] = True
    if mt in ("gpt_oss", "granite_swa"):      # GraniteSWAAttention.sinks: nn.Parameter(num_attention_heads)
        a["sinks"] = True
    if mt == "mimo_v2_flash":
        a.update(_mimo_attention(cfg, mt, head_dim, rope))
    if mt == MINIMAX_M3:
        # MiniMaxM3VLAttention (transformers) and vLLM's MiniMaxM3Attention / MiniMaxM3SparseAttention build per-head
        # Gemma q/k norms of head_dim on every layer, whatever use_qk_norm and qk_norm_type say
        a["qk_norm"] = True
        if cfg["_msa"]:
            a.update(kind="msa", **cfg["_msa"])
    if mt == "step3_text":
        # Step3TextAttention: q_size = share_q_dim if share_q_dim else head_dim; q_proj d -> q_size, inter_norm, wq
        a["q_lora_rank"] = cfg.get("share_q_dim") or head_dim
    if mt == "step3p5":
        a.update(_step3p5_attention(cfg, head_dim, rope))
    return a


def _step3p5_attention(cfg: dict, head_dim: int, rope: int) -> dict:
    """Step-3.5's attention beyond the conventional block (after :func:`_step_keys`): the head-wise gate
    (``use_head_wise_attn_gate``: ``g_proj`` d -> heads) and the sliding layers' own shape (``attention_other_setting``
    and their RoPE factor) as ``attention.sliding_shape``, fields equal to the full layers' left out."""
    a: dict = {"head_gate": True} if cfg.get("use_head_wise_attn_gate") else {}
    if "sliding_attention" not in cfg["layer_types"]:
        return a
    swa = cfg.get("_swa") or {}
    hd = swa.get("head_dim", head_dim)
    srope = round(hd * cfg.get("_swa_rope", 1.0))
    mine = {"num_heads": swa.get("num_attention_heads", cfg["num_attention_heads"]),
            "num_kv_heads": swa.get("num_key_value_heads", cfg["num_key_value_heads"]),
            "qk_nope_head_dim": hd - srope, "qk_rope_head_dim": srope, "v_head_dim": hd}
    full = {"num_heads": cfg["num_attention_heads"], "num_kv_heads": cfg["num_key_value_heads"],
            "qk_nope_head_dim": head_dim - rope, "qk_rope_head_dim": rope, "v_head_dim": head_dim}
    shape = {k: x for k, x in mine.items() if x != full[k]}
    if shape:
        a["sliding_shape"] = shape
    return a


def _mimo_attention(cfg: dict, mt: str, head_dim: int, rope: int) -> dict:
    """MiMo-V2-Flash's attention beyond Qwen2's (after :func:`_mimo_v2_flash_keys`): values of ``v_head_dim`` (192-wide
    queries and keys, 128-wide values: MiMoV2FlashAttention's v_proj and o_proj), the sliding layers' own heads
    (``swa_*``) as ``attention.sliding_shape`` (fields equal to the full layers' left out), and the sinks. The spec's
    ``sinks`` is one flag for every layer; MiMo's are on the sliding layers only (``add_swa_attention_sink_bias``), so
    the full layers' are counted too (9 x 64 = 576 logits of 309 B)."""
    v = cfg.get("v_head_dim") or head_dim
    a: dict = {"v_head_dim": v}
    swa_head = cfg["swa_head_dim"]
    swa_rope = round(swa_head * cfg["partial_rotary_factor"])
    mine = {"num_heads": cfg["swa_num_attention_heads"], "num_kv_heads": cfg["swa_num_key_value_heads"],
            "qk_nope_head_dim": swa_head - swa_rope, "qk_rope_head_dim": swa_rope,
            "v_head_dim": cfg.get("swa_v_head_dim") or v}
    full = {"num_heads": cfg["num_attention_heads"], "num_kv_heads": cfg.get("num_key_value_heads"),
            "qk_nope_head_dim": head_dim - rope, "qk_rope_head_dim": rope, "v_head_dim": v}
    shape = {k: x for k, x in mine.items() if x != full[k]}
    if shape and "sliding_attention" in cfg["layer_types"]:
        a["sliding_shape"] = shape
    if cfg.get("add_swa_attention_sink_bias") or cfg.get("add_full_attention_sink_bias"):
        a["sinks"] = True
    return a


# Nemotron-H's Mamba keys under their older names, which win where a config gives them (NemotronHConfig.__post_init__
# pops mamba_n_groups into n_groups, ...)
NEMOTRON_LEGACY = {"n_groups": "mamba_n_groups", "conv_kernel": "mamba_d_conv", "chunk_size": "mamba_chunk_size",
                   "use_conv_bias": "mamba_conv_bias"}


def _mamba2(cfg: dict, mt: str) -> dict:
    """The Mamba-2 block of a hybrid in :class:`mlacalc.spec.LinearAttention`'s terms (groups of B and C as key
    heads, ``d_state`` as key dims; :mod:`mlacalc.attention.mamba2`). Nemotron-H (``NemotronHMamba2Mixer``): an
    inner width of ``mamba_num_heads x mamba_head_dim`` (Nemotron-Nano-9B-v2's 10240 is not ``expand x hidden``),
    in_proj and out_proj biased by ``use_bias``. Bamba and Granite-4.0 (``BambaMixer``): ``mamba_expand x hidden``,
    which must be ``mamba_n_heads x mamba_d_head`` (``auto``: the quotient), biases by ``mamba_proj_bias``."""
    if mt == "nemotron_h":
        cfg = {**cfg, **{k: cfg[old] for k, old in NEMOTRON_LEGACY.items() if cfg.get(old) is not None}}
        heads, head = _req(cfg, mt, "mamba_num_heads"), _req(cfg, mt, "mamba_head_dim")
        groups, state = _req(cfg, mt, "n_groups"), _req(cfg, mt, "ssm_state_size")
        conv, chunk = _req(cfg, mt, "conv_kernel"), cfg.get("chunk_size")
        proj_bias, conv_bias = cfg.get("use_bias"), cfg.get("use_conv_bias")
    else:
        heads, groups = _req(cfg, mt, "mamba_n_heads"), _req(cfg, mt, "mamba_n_groups")
        state, conv, chunk = _req(cfg, mt, "mamba_d_state"), _req(cfg, mt, "mamba_d_conv"), cfg.get("mamba_chunk_size")
        head = _mamba_head_dim(cfg, mt, heads, _req(cfg, mt, "mamba_expand") * _req(cfg, mt, "hidden_size"))
        proj_bias, conv_bias = cfg.get("mamba_proj_bias"), cfg.get("mamba_conv_bias")
    return {"kind": "mamba2", "num_k_heads": groups, "num_v_heads": heads, "head_k_dim": state, "head_v_dim": head,
            "conv_kernel_size": conv, "proj_bias": bool(proj_bias), "conv_bias": bool(conv_bias), "chunk_size": chunk}


def _mamba_head_dim(cfg: dict, mt: str, heads: int, inner: int, width: str = "mamba_expand x hidden_size") -> int:
    """``mamba_d_head``, or ``inner / heads`` for BambaConfig's (and FalconH1Config's) ``auto``; its heads must fill
    the inner width (``width``: ``mamba_expand x hidden_size``, Falcon-H1's ``mamba_d_ssm``) exactly, as BambaMixer's
    reshapes need (FalconH1Config.validate_architecture raises where they do not)."""
    head = cfg.get("mamba_d_head", "auto")
    if head == "auto" and inner % heads == 0:
        head = inner // heads
    if not _whole(head, 1):
        raise SpecError(WHERE, f"model_type {mt}: mamba_d_head must be a whole number of at least 1, got {_show(head)}")
    if heads * head != inner:
        raise SpecError(WHERE, f"model_type {mt}: mamba_n_heads x mamba_d_head ({heads} x {head}) must equal "
                               f"{width} ({inner})")
    return head


def _falcon_h1_layers(cfg: dict, mt: str, L: int) -> list[str]:
    """Falcon-H1's layers: full attention in every one, its Mamba-2 mixer beside it (``parallel_mixers``:
    FalconH1Config.layers_block_type is ``hybrid`` for every layer; transformers FalconH1DecoderLayer and vLLM
    FalconH1ParallelHybrid build ``self_attn`` and ``mamba`` in each). ``attn_layer_indices`` (older configs write
    null) and ``sliding_window`` are read by neither: a value there would say something those classes do not build,
    so it is refused rather than ignored."""
    for key in ("attn_layer_indices", "sliding_window"):
        if cfg.get(key) is not None:
            raise _refuse(mt, f"{key} {_show(cfg[key])}: Falcon-H1's layers all hold attention and Mamba-2 over the "
                              "whole sequence (transformers and vLLM read no such key)")
    return ["full"] * L


def _falcon_h1_mamba(cfg: dict, mt: str) -> dict:
    """Falcon-H1's Mamba-2 mixer (transformers ``FalconH1Mixer``, vLLM ``MambaMixer2`` in ``FalconH1SSMDecoderLayer``)
    in :class:`mlacalc.spec.LinearAttention`'s terms: an inner width of ``mamba_d_ssm`` (null: ``mamba_expand x
    hidden_size``; absent: FalconH1Config's 1024), which ``mamba_n_heads x mamba_d_head`` must fill; ``mamba_n_groups``
    groups of B and C of ``mamba_d_state``; a ``mamba_d_conv`` convolution biased by ``mamba_conv_bias``; the gated
    RMSNorm only with ``mamba_rms_norm`` (Falcon-H1-0.5B has none). transformers biases ``in_proj`` by
    ``mamba_proj_bias`` and ``out_proj`` by ``projectors_bias``, vLLM both by ``mamba_proj_bias``: where the two keys
    differ the checkpoint's biases are not known, refused. ``mamba_use_mlp`` sizes nothing: both classes build the MLP
    whatever it says. The muP multipliers (``ssm_multipliers`` and the rest) are scalars and a ``persistent=False``
    buffer, no weights."""
    hidden = _req(cfg, mt, "hidden_size")
    inner = cfg["mamba_d_ssm"] if "mamba_d_ssm" in cfg else 1024          # FalconH1Config(mamba_d_ssm=1024)
    width = "mamba_d_ssm"
    if inner is None:
        inner, width = _req(cfg, mt, "mamba_expand") * hidden, "mamba_expand x hidden_size (mamba_d_ssm null)"
    heads = _req(cfg, mt, "mamba_n_heads")
    head = _mamba_head_dim(cfg, mt, heads, inner, width)
    if bool(cfg.get("mamba_proj_bias")) != bool(cfg.get("projectors_bias")):
        raise _refuse(mt, f"mamba_proj_bias {cfg.get('mamba_proj_bias')} with projectors_bias "
                          f"{cfg.get('projectors_bias')}: transformers biases out_proj by the second, vLLM by the first")
    return {"kind": "mamba2", "num_k_heads": _req(cfg, mt, "mamba_n_groups"), "num_v_heads": heads,
            "head_k_dim": _req(cfg, mt, "mamba_d_state"), "head_v_dim": head,
            "conv_kernel_size": _req(cfg, mt, "mamba_d_conv"), "proj_bias": bool(cfg.get("mamba_proj_bias")),
            "conv_bias": bool(cfg.get("mamba_conv_bias")), "chunk_size": cfg.get("mamba_chunk_size"),
            "gated_norm": bool(cfg.get("mamba_rms_norm"))}


def _dt_rank(cfg: dict, mt: str, key: str, hidden: int) -> int:
    """The Mamba-1 time-step rank ``cfg[key]``: a whole number, or ``"auto"`` for ``ceil(hidden_size / 16)``
    (MambaConfig, FalconMambaConfig ``time_step_rank``; JambaConfig ``mamba_dt_rank``)."""
    rank = cfg.get(key, "auto")
    if rank == "auto":
        return dt_rank_auto(hidden)
    if isinstance(rank, float) and rank.is_integer():
        rank = int(rank)
    if not _whole(rank, 1):
        raise SpecError(WHERE, f"model_type {mt}: {key} must be a whole number of at least 1 or \"auto\", got "
                               f"{_show(rank)}")
    return rank


def _mamba1(cfg: dict, mt: str) -> dict:
    """The Mamba-1 block in :class:`mlacalc.spec.LinearAttention`'s terms (:mod:`mlacalc.attention.mamba1`: one
    channel a head, one group of B and C). Jamba (``JambaMambaMixer``): ``mamba_expand x hidden_size`` channels,
    ``mamba_d_state``, ``mamba_d_conv``, ``mamba_dt_rank``, biases by ``mamba_conv_bias`` and ``mamba_proj_bias``,
    weighted RMSNorms of dt, B and C."""
    hidden = _req(cfg, mt, "hidden_size")
    inner = _req(cfg, mt, "mamba_expand") * hidden
    return {"kind": "mamba1", "num_k_heads": 1, "num_v_heads": inner, "head_k_dim": _req(cfg, mt, "mamba_d_state"),
            "head_v_dim": 1, "conv_kernel_size": _req(cfg, mt, "mamba_d_conv"),
            "dt_rank": _dt_rank(cfg, mt, "mamba_dt_rank", hidden), "proj_bias": bool(cfg.get("mamba_proj_bias")),
            "conv_bias": bool(cfg.get("mamba_conv_bias")), "mixer_norms": "weighted"}


def _state_space_block(cfg: dict, mt: str) -> dict:
    """The mixer of a state-space model (:data:`STATE_SPACE`). Mamba and Falcon-Mamba (transformers ``MambaMixer``,
    ``FalconMambaMixer``): ``intermediate_size`` channels, which the configuration classes compute as ``expand x
    hidden_size`` but which a config.json's own ``intermediate_size`` overrides (``PretrainedConfig`` sets the extra
    keys last; vLLM's ``MambaMixer`` takes ``config.intermediate_size``): tiiuae/falcon-mamba-7b says ``expand`` 16 and
    ``intermediate_size`` 8192 = 2 x 4096, and is 7.27 B parameters with 8192, 40 B with 65536. Falcon-Mamba
    normalises dt, B and C without weights (``rms_forward``). Mamba-2 (``Mamba2Mixer``): ``num_heads`` of ``head_dim``
    that must fill ``int(expand x hidden_size)``, the mixer's inner width, as its reshapes need."""
    hidden = _req(cfg, mt, "hidden_size")
    if mt == "mamba2":
        heads, head = _req(cfg, mt, "num_heads"), _req(cfg, mt, "head_dim")
        inner = int(_req(cfg, mt, "expand") * hidden)
        if heads * head != inner:
            raise SpecError(WHERE, f"model_type {mt}: num_heads x head_dim ({heads} x {head}) must equal expand x "
                                   f"hidden_size ({inner})")
        if cfg.get("rms_norm") is False:
            raise _refuse(mt, "a Mamba-2 mixer without its gated RMSNorm (rms_norm false) is not modelled")
        return {"kind": "mamba2", "num_k_heads": _req(cfg, mt, "n_groups"), "num_v_heads": heads,
                "head_k_dim": _req(cfg, mt, "state_size"), "head_v_dim": head,
                "conv_kernel_size": _req(cfg, mt, "conv_kernel"), "proj_bias": bool(cfg.get("use_bias")),
                "conv_bias": bool(cfg.get("use_conv_bias")), "chunk_size": cfg.get("chunk_size")}
    inner = cfg.get("intermediate_size") or _req(cfg, mt, "expand") * hidden
    block = {"kind": "mamba1", "num_k_heads": 1, "num_v_heads": inner, "head_k_dim": _req(cfg, mt, "state_size"),
             "head_v_dim": 1, "conv_kernel_size": _req(cfg, mt, "conv_kernel"),
             "dt_rank": _dt_rank(cfg, mt, "time_step_rank", hidden), "proj_bias": bool(cfg.get("use_bias")),
             "conv_bias": bool(cfg.get("use_conv_bias"))}
    if mt == "falcon_mamba":
        block["mixer_norms"] = "unweighted"
    return block


def _state_space(cfg: dict, mt: str, name: str, quantized: bool) -> dict:
    """A state-space model's raw spec (:data:`STATE_SPACE`; MambaForCausalLM, FalconMambaForCausalLM,
    Mamba2ForCausalLM): ``num_hidden_layers`` blocks of one RMSNorm and one mixer (``MambaBlock``: ``norm``,
    ``mixer``), no attention and no MLP (``attention`` and ``ffn`` null), the embedding, the final ``norm_f`` and the
    head (tied by ``tie_word_embeddings``). Its checkpoints' quantization is not read (their module names are not
    the decoder's): refused."""
    if quantized:
        raise _refuse(mt, "quantized checkpoints of state-space models (quantization_config, MLX quantization) are "
                          "not read")
    out = {"name": name, "num_layers": cfg["num_hidden_layers"], "hidden_size": _req(cfg, mt, "hidden_size"),
           "vocab_size": _req(cfg, mt, "vocab_size"), "tie_word_embeddings": bool(cfg.get("tie_word_embeddings")),
           "attention": None, "ffn": None, "layer_types": ["linear"], "linear_attention": _state_space_block(cfg, mt),
           "norms_per_layer": 1}
    out["dtypes"] = {"weights": _weight_dtype(cfg, None, out), "kv": "bf16"}
    return out


def _lightning(cfg: dict, mt: str) -> dict:
    """MiniMax's lightning block in :class:`mlacalc.spec.LinearAttention`'s terms (:mod:`mlacalc.attention.lightning`):
    ``num_attention_heads`` heads of ``head_dim`` (MiniMax-M1's 128, not 6144 / 64 = 96), q, k and v alike, no
    convolution; the prefill block is vLLM's ``config.block`` (transformers: ``block_size``), else 256."""
    heads, hidden = _req(cfg, mt, "num_attention_heads"), _req(cfg, mt, "hidden_size")
    head = cfg.get("head_dim")
    if not head:
        if hidden % heads:
            raise _refuse(mt, f"hidden_size {hidden} is not a multiple of {heads} heads and head_dim is not given")
        head = hidden // heads
    return {"kind": "lightning", "num_k_heads": heads, "num_v_heads": heads, "head_k_dim": head, "head_v_dim": head,
            "conv_kernel_size": 1, "chunk_size": cfg.get("block") or cfg.get("block_size")}


def _short_conv(cfg: dict, mt: str) -> dict:
    """LFM2's gated short convolution in :class:`mlacalc.spec.LinearAttention`'s terms
    (:mod:`mlacalc.attention.short_conv`): ``hidden_size`` channels (``Lfm2ShortConv``: ``conv_dim`` is the model
    width, :func:`_lfm2_keys`), ``conv_L_cache`` taps, ``conv_bias`` biasing ``in_proj``, the convolution and
    ``out_proj`` alike (``bias=config.conv_bias`` on all three)."""
    bias = bool(cfg.get("conv_bias"))
    return {"kind": "short_conv", "num_v_heads": _req(cfg, mt, "hidden_size"),
            "conv_kernel_size": _req(cfg, mt, "conv_L_cache"), "proj_bias": bias, "conv_bias": bias}


def _linear(cfg: dict, mt: str) -> dict | None:
    if mt in MAMBA2_HYBRIDS:
        return _mamba2(cfg, mt) if "linear" in _mamba2_layer_types(cfg, mt, cfg["num_hidden_layers"]) else None
    if mt in MAMBA1_HYBRIDS:
        return _mamba1(cfg, mt) if "linear" in _jamba_layer_types(cfg, mt, cfg["num_hidden_layers"]) else None
    if mt in LIGHTNING_HYBRIDS:
        return _lightning(cfg, mt) if "linear" in _minimax_layer_types(cfg, mt, cfg["num_hidden_layers"]) else None
    if mt in PARALLEL_HYBRIDS:
        return _falcon_h1_mamba(cfg, mt)
    if mt in SHORT_CONV_HYBRIDS:
        return _short_conv(cfg, mt) if "linear" in _lfm2_layer_types(cfg, mt, cfg["num_hidden_layers"]) else None
    if mt == "qwen3_next":
        return {"kind": "gated_deltanet", "num_k_heads": _req(cfg, mt, "linear_num_key_heads"),
                "num_v_heads": _req(cfg, mt, "linear_num_value_heads"),
                "head_k_dim": _req(cfg, mt, "linear_key_head_dim"),
                "head_v_dim": _req(cfg, mt, "linear_value_head_dim"),
                "conv_kernel_size": _req(cfg, mt, "linear_conv_kernel_dim")}
    if mt == "kimi_linear":
        lac = _checked(cfg["linear_attn_config"], mt)
        heads, dim = _req(lac, mt, "num_heads"), _req(lac, mt, "head_dim")
        return {"kind": "kda", "num_k_heads": heads, "num_v_heads": heads, "head_k_dim": dim, "head_v_dim": dim,
                "conv_kernel_size": _req(lac, mt, "short_conv_kernel_size")}
    return None


def _nemotron_ffn(cfg: dict, mt: str) -> dict:
    """Nemotron-H's FFN blocks: ``-`` an MLP of up_proj and down_proj with ReLU² between (NemotronHMLP: no gate),
    ``E`` a mixture of non-gated experts of ``moe_intermediate_size`` beside one shared MLP of
    ``moe_shared_expert_intermediate_size`` (the classes' 7688 where a config leaves it out, :data:`DEFAULTS`;
    transformers' NemotronHMoE builds one whatever ``n_shared_experts`` says); the
    router's ``e_score_correction_bias`` buffer (one value an expert and layer) is not counted, as DeepSeek-V3's.
    ``moe_latent_size`` (Nemotron 3 Super's LatentMoE) is ``expert_latent_size``: the experts at that width between
    ``fc1_latent_proj`` and ``fc2_latent_proj``; on a pattern of MLP blocks, which have no experts, refused."""
    blocks = set(_nemotron_blocks(cfg, mt, cfg["num_hidden_layers"]))
    if cfg.get("mlp_bias"):
        raise _refuse(mt, "MLP biases (mlp_bias) are not modelled")
    if not blocks & {"mlp", "moe"}:
        raise _refuse(mt, "a pattern without MLP (-) or MoE (E) blocks is not modelled")
    if {"mlp", "moe"} <= blocks:
        raise _refuse(mt, "MLP (-) and MoE (E) blocks in one pattern are not modelled")
    if "mlp" in blocks:
        if cfg.get("moe_latent_size") is not None:
            # NemotronHMLP has no latent projections: the key would change nothing a dense pattern builds
            raise _refuse(mt, "moe_latent_size on a pattern of MLP (-) blocks, which have no experts, is not modelled")
        return {"kind": "dense", "intermediate_size": _req(cfg, mt, "intermediate_size"), "gated": False}
    width = _req(cfg, mt, "moe_intermediate_size")
    f = {"kind": "moe", "gated": False, "num_experts": _req(cfg, mt, "n_routed_experts"),
         "experts_per_token": _req(cfg, mt, "num_experts_per_tok"), "expert_intermediate_size": width,
         "intermediate_size": width}
    if cfg.get("moe_latent_size") is not None:
        # LatentMoE (Nemotron 3 Super): vLLM nemotron_h.py NemotronHMoE builds fc1_latent_proj (hidden -> latent) and
        # fc2_latent_proj (latent -> hidden) when moe_latent_size is not None, the experts at hidden_size=latent, the
        # gate and shared_experts at hidden_size; transformers modular_nemotron_h.py NemotronHMoE the same
        f["expert_latent_size"] = cfg["moe_latent_size"]
    if cfg.get("moe_shared_expert_intermediate_size"):
        f.update(num_shared_experts=1, shared_expert_intermediate_size=cfg["moe_shared_expert_intermediate_size"])
    return f


def _granite_ffn(cfg: dict, mt: str) -> dict:
    """Granite-4.0's FFN: a gated shared MLP (GraniteMoeSharedMLP: ``input_linear d -> 2 s``, ``output_linear
    s -> d``) of ``shared_intermediate_size`` on every layer, beside ``num_local_experts`` gated experts of
    ``intermediate_size`` (top ``num_experts_per_tok``, a bias-free router) when there are any, else alone (the
    dense Granite-4.0-H-Micro and -1B)."""
    shared = _req(cfg, mt, "shared_intermediate_size")
    _refuse_uncounted_experts(cfg, mt, ("num_local_experts",))
    experts = cfg.get("num_local_experts") or 0
    if not experts:
        return {"kind": "dense", "intermediate_size": shared}
    width = _req(cfg, mt, "intermediate_size")
    return {"kind": "moe", "num_experts": experts, "experts_per_token": _req(cfg, mt, "num_experts_per_tok"),
            "expert_intermediate_size": width, "intermediate_size": width, "num_shared_experts": 1,
            "shared_expert_intermediate_size": shared}


def _jamba_ffn(cfg: dict, mt: str) -> dict:
    """Jamba's FFN (JambaDecoderLayer: ``JambaSparseMoeBlock`` where ``layers_num_experts`` is above 1, else
    ``JambaMLP``): a gated MLP of ``intermediate_size`` on every layer, and on the layers ``i % expert_layer_period ==
    expert_layer_offset`` Mixtral's block instead, ``num_experts`` gated experts of ``intermediate_size``, top
    ``num_experts_per_tok``, a bias-free router. The spec places MoE layers at ``(i + 1) % step == 0``: the offset
    must be the period's last layer (Jamba's 1 of 2); another offset is refused."""
    inter = _req(cfg, mt, "intermediate_size")
    experts = cfg.get("num_experts") or 1
    period, offset = _jamba_periodic(cfg, mt, "expert")
    if experts <= 1:
        return {"kind": "dense", "intermediate_size": inter}
    if offset != period - 1:
        raise _refuse(mt, f"MoE layers at expert_layer_offset {offset} of every {period} (other than the period's "
                          "last layer) are not modelled")
    if period > cfg["num_hidden_layers"]:
        raise _refuse(mt, f"expert_layer_period {period} leaves no MoE layer in {cfg['num_hidden_layers']} layers")
    f = {"kind": "moe", "num_experts": experts, "experts_per_token": _req(cfg, mt, "num_experts_per_tok"),
         "intermediate_size": inter, "expert_intermediate_size": inter}
    if period != 1:
        f["moe_layer_step"] = period
    return f


def lfm2_ffn_width(width: int, auto_adjust: bool, multiplier: float | None, multiple_of: int) -> int:
    """The width transformers builds LFM2's MLP at from the config's ``intermediate_size`` (``block_ff_dim``),
    ``block_auto_adjust_ff_dim``, ``block_ffn_dim_multiplier`` and ``block_multiple_of`` (``Lfm2MLP.__init__``,
    transformers src/transformers/models/lfm2/modeling_lfm2.py)::

        if config.block_auto_adjust_ff_dim:
            intermediate_size = int(2 * intermediate_size / 3)
            if config.block_ffn_dim_multiplier is not None:
                intermediate_size = int(config.block_ffn_dim_multiplier * intermediate_size)
                intermediate_size = config.block_multiple_of * (
                    (intermediate_size + config.block_multiple_of - 1) // config.block_multiple_of)

    LFM2-1.2B: 12288 -> int(8192.0) = 8192 -> 8192 -> 8192; LFM2-350M: 6656 -> 4437 -> 4437 -> 4608."""
    if not auto_adjust:
        return width
    width = int(2 * width / 3)
    if multiplier is not None:
        width = int(multiplier * width)
        width = multiple_of * ((width + multiple_of - 1) // multiple_of)
    return width


def _lfm2_ffn(cfg: dict, mt: str) -> dict:
    """LFM2's FFN: a gated MLP (``w1``, ``w3``, ``w2``) on every layer. ``lfm2``: of :func:`lfm2_ffn_width`. vLLM's
    ``Lfm2MLP`` rounds up to ``block_multiple_of`` outside the multiplier's branch, so with
    ``block_ffn_dim_multiplier`` null the two build different widths unless two thirds of the width is already a
    multiple: such a config is refused. ``lfm2_moe`` (``Lfm2MoeDecoderLayer``): ``Lfm2MoeMLP`` of
    ``intermediate_size`` as given on the first ``num_dense_layers`` layers, then ``Lfm2MoeSparseMoeBlock``:
    ``num_experts`` gated experts of ``moe_intermediate_size`` (``Qwen2MoeExperts``), top ``num_experts_per_tok``, a
    bias-free router ``d -> E`` (sigmoid scores); its ``expert_bias`` (``use_expert_bias``: a float32 buffer of E
    values a layer, added to the scores for the choice only) is not counted, as DeepSeek-V3's
    ``e_score_correction_bias``; no shared expert."""
    if mt == "lfm2_moe":
        _refuse_no_experts(cfg, mt)
        L, dense = cfg["num_hidden_layers"], cfg.get("num_dense_layers") or 0
        if dense > L:
            raise SpecError(WHERE, f"model_type {mt}: num_dense_layers {dense} exceeds num_hidden_layers {L}")
        width = _req(cfg, mt, "moe_intermediate_size")
        return {"kind": "moe", "num_experts": _req(cfg, mt, "num_experts"),
                "experts_per_token": _req(cfg, mt, "num_experts_per_tok"), "expert_intermediate_size": width,
                "intermediate_size": _req(cfg, mt, "intermediate_size"), "first_dense_layers": dense}
    width, multiple = _req(cfg, mt, "intermediate_size"), _req(cfg, mt, "block_multiple_of")
    adjust = bool(cfg.get("block_auto_adjust_ff_dim"))
    multiplier = cfg.get("block_ffn_dim_multiplier", 1.0)
    if multiplier is not None and (isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)) or
                                   not 0 < multiplier < 2**20):
        raise SpecError(WHERE, f"model_type {mt}: block_ffn_dim_multiplier must be a positive number or null, got "
                               f"{_show(multiplier)}")
    if adjust and multiplier is None and int(2 * width / 3) % multiple:
        raise _refuse(mt, f"block_ffn_dim_multiplier null with block_auto_adjust_ff_dim: transformers builds the MLP "
                          f"{int(2 * width / 3)} wide, vLLM rounds it up to a multiple of block_multiple_of "
                          f"{multiple}")
    inter = lfm2_ffn_width(width, adjust, multiplier, multiple)
    if inter < 1:
        raise SpecError(WHERE, f"model_type {mt}: the MLP's width comes to {inter} (intermediate_size {width}, "
                               f"block_ffn_dim_multiplier {multiplier})")
    return {"kind": "dense", "intermediate_size": inter}


def _ernie_moe_range(cfg: dict, mt: str, L: int) -> tuple[int, int]:
    """(first MoE layer, every how many layers) of ERNIE-4.5's MoE: layer i is MoE iff ``(i + 1) % interval == 0``
    and ``start <= i <= end`` (Ernie4_5_MoeDecoderLayer), ``end`` -1 or none meaning the last layer
    (Ernie4_5_MoeConfig). That is the spec's ``first_dense_layers`` and ``moe_layer_step`` as long as the range runs
    to the last layer; dense layers after ``end`` are refused."""
    start, interval, end = cfg["moe_layer_start_index"], cfg["moe_layer_interval"], cfg.get("moe_layer_end_index")
    if end is None or end == -1:
        end = L - 1
    if not _whole(end, 0):
        raise SpecError(WHERE, f"model_type {mt}: moe_layer_end_index must be a layer index or -1, got {_show(end)}")
    if end < L - 1:
        raise _refuse(mt, f"dense layers after moe_layer_end_index {end} (of {L} layers) are not modelled")
    if not any((i + 1) % interval == 0 for i in range(start, L)):
        raise _refuse(mt, f"moe_layer_start_index {start} and moe_layer_interval {interval} leave no MoE layer in "
                          f"{L} layers")
    return start, interval


def _ernie_ffn(cfg: dict, mt: str) -> dict:
    """ERNIE-4.5's MoE (Ernie4_5_MoeSparseMoeBlock): ``moe_num_experts`` gated experts of ``moe_intermediate_size``,
    top ``moe_k``, a bias-free fp32 router, and the ``moe_num_shared_experts`` shared experts as ONE gated MLP of
    ``moe_num_shared_experts x moe_intermediate_size`` (the same weights and FLOPs as that many experts); the other
    layers a gated MLP of ``intermediate_size``. The router's ``e_score_correction_bias`` buffer (``moe_statics``, one
    fp32 value an expert and MoE layer) is not counted, as DeepSeek-V3's."""
    start, interval = _ernie_moe_range(cfg, mt, cfg["num_hidden_layers"])
    width, shared = _req(cfg, mt, "moe_intermediate_size"), cfg["moe_num_shared_experts"]
    f = {"kind": "moe", "intermediate_size": _req(cfg, mt, "intermediate_size"),
         "num_experts": _req(cfg, mt, "moe_num_experts"), "experts_per_token": _req(cfg, mt, "moe_k"),
         "expert_intermediate_size": width, "first_dense_layers": start, "moe_layer_step": interval}
    if shared:
        f.update(num_shared_experts=1, shared_expert_intermediate_size=shared * width)
    return f


def _minimax_ffn(cfg: dict, mt: str) -> dict:
    """MiniMax's FFN (vLLM MiniMaxText01MoE, transformers MiniMaxSparseMoeBlock): Mixtral's experts, each
    ``intermediate_size`` wide, on every layer, a bias-free fp32 router; one expert is a plain gated MLP
    (``expert_num == 1``). A ``shared_intermediate_size`` MLP beside them is mixed in by a ``d -> 1`` coefficient
    (``shared_moe_mode`` sigmoid or softmax): the spec's gated shared expert."""
    inter, experts = _req(cfg, mt, "intermediate_size"), _req(cfg, mt, "num_local_experts")
    if experts == 1:
        return {"kind": "dense", "intermediate_size": inter}
    f = {"kind": "moe", "num_experts": experts, "experts_per_token": _req(cfg, mt, "num_experts_per_tok"),
         "intermediate_size": inter, "expert_intermediate_size": inter}
    if cfg.get("shared_intermediate_size"):
        f.update(num_shared_experts=1, shared_expert_intermediate_size=cfg["shared_intermediate_size"],
                 shared_expert_gate=True)
    return f


def _hunyuan_ffn(cfg: dict, mt: str) -> dict:
    """Hunyuan's FFN (vLLM HunYuanSparseMoeBlock): ``num_experts`` gated experts of ``moe_intermediate_size``
    (else ``intermediate_size``), top ``moe_topk``, a bias-free router, and with ``use_mixed_mlp_moe`` one shared
    gated MLP of ``intermediate_size x num_shared_expert`` on every layer; one expert or none is a dense model
    (HunYuanMLP of ``intermediate_size``, Hunyuan-7B). ``moe_layer_num_skipped`` (vLLM reads no such key) must be 0."""
    inter = _req(cfg, mt, "intermediate_size")
    _refuse_uncounted_experts(cfg, mt, ("num_experts",))
    experts = cfg.get("num_experts") or 1
    if experts <= 1:
        return {"kind": "dense", "intermediate_size": inter}
    if cfg.get("moe_layer_num_skipped"):
        raise _refuse(mt, "dense layers before the MoE (moe_layer_num_skipped) are not modelled")
    if cfg.get("use_mixed_mlp_moe") is None:
        raise _refuse(mt, "does not say whether a shared MLP runs beside the experts (use_mixed_mlp_moe)")
    width = cfg.get("moe_intermediate_size") or inter
    f = {"kind": "moe", "num_experts": experts, "experts_per_token": _req(cfg, mt, "moe_topk"),
         "intermediate_size": inter, "expert_intermediate_size": width}
    shared = cfg.get("num_shared_expert") or 0
    if cfg["use_mixed_mlp_moe"] and shared:
        f.update(num_shared_experts=1, shared_expert_intermediate_size=inter * shared)
    return f


def _step_ffn(cfg: dict, mt: str) -> dict:
    """StepFun's FFN blocks (:func:`_step_keys`): dense gated MLPs of ``intermediate_size`` outside the layers
    ``moe_layers_enum`` names, which must be one run of layers (Step-3: 4 to 59 of 61, so ``first_dense_layers`` 4
    and ``last_dense_layers`` 1; Step-3.5-Flash: 3 to 44 of 45); on them ``moe_num_experts`` gated experts of
    ``moe_intermediate_size``, top ``moe_top_k``, and one gated shared expert of ``share_expert_dim``."""
    run, L = cfg["_moe_layers"], cfg["num_hidden_layers"]
    if not run:
        return {"kind": "dense", "intermediate_size": _req(cfg, mt, "intermediate_size")}
    if run != list(range(run[0], run[-1] + 1)):
        gap = next(i for i in range(run[0], run[-1]) if i not in set(run))
        raise _refuse(mt, f"moe_layers_enum with a dense layer between its MoE layers (layer {gap}) is not modelled")
    width = _req(cfg, mt, "moe_intermediate_size")
    dense = run[0] > 0 or run[-1] < L - 1
    return {"kind": "moe", "intermediate_size": _req(cfg, mt, "intermediate_size") if dense else
            cfg.get("intermediate_size") or width,
            "num_experts": _req(cfg, mt, "moe_num_experts"), "experts_per_token": _req(cfg, mt, "moe_top_k"),
            "expert_intermediate_size": width, "num_shared_experts": 1,
            "shared_expert_intermediate_size": _req(cfg, mt, "share_expert_dim"),
            "first_dense_layers": run[0], "last_dense_layers": L - 1 - run[-1]}


def _ffn(cfg: dict, mt: str) -> dict:
    if mt == MINIMAX_M3:
        return cfg["_m3_ffn"]
    if mt == "gemma4_text":
        return cfg["_gemma4_ffn"]
    if mt == "nemotron-nas":
        return _nemotron_nas_ffn(cfg)
    if mt == "openelm":
        return _openelm_ffn(cfg)
    if mt in STEP_FAMILY:
        return _step_ffn(cfg, mt)
    if mt == "nemotron_h":
        return _nemotron_ffn(cfg, mt)
    if mt in HUNYUAN:
        return _hunyuan_ffn(cfg, mt)
    if mt == "ernie4_5_moe":
        return _ernie_ffn(cfg, mt)
    if mt in LIGHTNING_HYBRIDS:
        return _minimax_ffn(cfg, mt)
    if mt == "granitemoehybrid":
        return _granite_ffn(cfg, mt)
    if mt in MAMBA1_HYBRIDS:
        return _jamba_ffn(cfg, mt)
    if mt in SHORT_CONV_HYBRIDS:
        return _lfm2_ffn(cfg, mt)
    if mt == "longcat_flash":
        return _longcat_ffn(cfg, mt)
    hidden = _req(cfg, mt, "hidden_size", "n_embd")
    if mt in GPT2_BLOCK:                                   # c_fc, c_proj, both biased
        return {"kind": "dense", "intermediate_size": cfg.get("n_inner") or 4 * hidden, "gated": False,
                "mlp_bias": True}
    if mt == "falcon":                                     # FalconMLP: both projections biased by `bias`
        return {"kind": "dense", "intermediate_size": cfg.get("ffn_hidden_size") or 4 * hidden, "gated": False,
                **({"mlp_bias": True} if cfg.get("bias") is True else {})}
    if mt in BIASED_MLP:                                   # biased, or where MLP_BIAS_FLAG says
        bias = cfg.get(MLP_BIAS_FLAG[mt]) is True if mt in MLP_BIAS_FLAG else True
        return {"kind": "dense", "intermediate_size": _req(cfg, mt, "intermediate_size"), "gated": False,
                **({"mlp_bias": True} if bias else {})}
    if mt in NON_GATED_MLP:
        # ApertusMLP: down_proj(xIELU(up_proj(x))) (xIELU's two learned scalars a layer not counted); ArceeMLP (Arcee
        # AFM): down_proj(relu2(up_proj(x))), whose keys are all Llama's, so the generic reader took it as a gated
        # Llama, a third too many MLP weights; NemotronMLP: down_proj(relu2(up_proj(x))). No gate: 2 d f
        return {"kind": "dense", "intermediate_size": _req(cfg, mt, "intermediate_size"), "gated": False}
    experts = cfg.get("n_routed_experts") or cfg.get("num_local_experts") or cfg.get("num_experts")
    _refuse_no_experts(cfg, mt)
    if not experts:
        biased = mt in GATED_MLP_BIAS_FLAG and cfg.get(GATED_MLP_BIAS_FLAG[mt]) is True
        return {"kind": "dense", "intermediate_size": _req(cfg, mt, "intermediate_size"),
                **({"mlp_bias": True} if biased else {})}
    f = {"kind": "moe", "num_experts": experts,
         "experts_per_token": _req(cfg, mt, "num_experts_per_tok", "num_experts_per_token", "experts_per_token")}
    if mt in ("mixtral", "gpt_oss", "minimax_m2", "phimoe", *EXPERT_WIDTH_IS_INTERMEDIATE):
        # intermediate_size is the expert width; no dense layers
        inter = _req(cfg, mt, "intermediate_size")
        f.update(intermediate_size=inter, expert_intermediate_size=inter)
        if mt == "gpt_oss":
            f.update(expert_bias=True, router_bias=True)
        if mt == "granitemoeshared" and cfg.get("shared_intermediate_size"):
            # GraniteMoeSharedMLP: input_linear d -> 2 s, output_linear s -> d, beside the experts on every layer
            f.update(num_shared_experts=1, shared_expert_intermediate_size=cfg["shared_intermediate_size"])
        return f
    if mt == "llama4_text":
        # Llama4TextConfig: moe_layers = range(step - 1, L, step) unless given (Maverick: step 2, the odd layers);
        # the other layers are dense, intermediate_size_mlp wide
        _refuse_null(cfg, mt, "interleave_moe_layer_step", "intermediate_size_mlp")
        step = cfg.get("interleave_moe_layer_step", 1) or 1
        moe_layers = cfg.get("moe_layers")
        L = cfg["num_hidden_layers"]
        if step > L or (moe_layers is not None and list(moe_layers) != list(range(step - 1, L, step))):
            raise _refuse(mt, "MoE layers other than every interleave_moe_layer_step-th (moe_layers) are not "
                              "modelled")
        return f | {"intermediate_size": cfg.get("intermediate_size_mlp") or _req(cfg, mt, "intermediate_size"),
                    "expert_intermediate_size": _req(cfg, mt, "intermediate_size"), "num_shared_experts": 1,
                    "moe_layer_step": step}
    expert_w = _req(cfg, mt, "moe_intermediate_size")
    _refuse_null(cfg, mt, "first_k_dense_replace")
    f.update(intermediate_size=cfg.get("intermediate_size") or expert_w, expert_intermediate_size=expert_w,
             first_dense_layers=cfg.get("first_k_dense_replace", 0) or 0,
             num_shared_experts=cfg.get("n_shared_experts") or cfg.get("num_shared_experts") or 0)
    if mt == "afmoe":                  # AfmoeSparseMoeBlock.expert_bias: num_experts values a layer, added to the scores
        f["router_bias"] = True
    if cfg.get("moe_shared_expert_intermediate_size") and f["num_shared_experts"]:
        # Ling-2.0 (BailingMoeV2): num_shared_experts ungated shared experts of this width (Ling-mini-2.0: one of 512)
        f["shared_expert_intermediate_size"] = cfg["moe_shared_expert_intermediate_size"]
    if cfg.get("shared_expert_intermediate_size"):  # Qwen2-MoE, Qwen3-Next: one gated shared expert of its width
        f.update(num_shared_experts=1, shared_expert_intermediate_size=cfg["shared_expert_intermediate_size"],
                 shared_expert_gate=True)
    if cfg.get("mlp_only_layers"):
        raise _refuse(mt, "dense layers in arbitrary positions (mlp_only_layers) are not modelled")
    if (cfg.get("moe_layer_freq") or 1) != 1:        # DeepSeek: MoE where layer % freq == 0, not modelled
        raise _refuse(mt, "MoE on every N-th layer counted from layer 0 (moe_layer_freq > 1) is not modelled")
    step = cfg.get("decoder_sparse_step") or 1         # Qwen2/3-MoE: MoE where (layer + 1) % step == 0
    if step > cfg["num_hidden_layers"]:
        raise _refuse(mt, f"decoder_sparse_step {step} leaves no MoE layer")
    if step != 1:
        f["moe_layer_step"] = step
    if (f["first_dense_layers"] or step != 1) and not cfg.get("intermediate_size"):
        # the dense layers' MLP (DeepseekV3MLP of intermediate_size) was read as one expert wide: DeepSeek-V3
        # without intermediate_size had 3 dense layers of 2048, not 18432 (669.97 B parameters, not 671.03 B)
        _missing(mt, "intermediate_size")
    return f


# What each family's MoE router keeps for its backward (the spec's ffn.router; mlacalc.activations._router), from
# the router classes of transformers 5.25.0 (src/transformers/models/<family>/modeling_<family>.py), run under
# torch.autograd.graph.saved_tensors_hooks with bf16 weights. Keyed by the config's own model_type (an alias's router
# may differ from the family it is read as: Mistral-4 is read as deepseek_v3), then by the family read. A family
# left out is fp32-scores, the spec's default: Mixtral (MixtralTopKRouter: softmax(F.linear(x, w).float())),
# Qwen2/3-MoE, Qwen3-VL-MoE, Qwen3-Next, Qwen3.5-MoE (Qwen3MoeTopKRouter: softmax(..., dtype=torch.float)), OLMoE and
# FlexOlmo, MiniMax (MiniMaxTopKRouter), MiniMax-M2/M3 (sigmoid(router_logits.float()) after F.linear(x.to(
# w.dtype), w): no copy where w is bf16), Jamba (JambaTopKRouter), AFMoE (AfmoeTokenChoiceRouter: gate(x).to(
# float32), sigmoid), Llama-4 (Llama4Router: sigmoid(scores.float()) over the scattered top-k), Gemma-4
# (Gemma4TextRouter: softmax(proj(x), dtype=torch.float32) in 5.25; earlier releases took it in bf16), Hunyuan
# (HunYuanMoEV1Gate casts x to fp32 only where wg.weight is fp32, not under bf16 weights; softmax dtype float), and
# the remote-code families not read here (DeepSeek-MoE V1 "deepseek", bailing_moe, step3_text, phimoe's sparsemixer)
ROUTERS = {
    # F.linear(hidden_states.type(torch.float32), self.weight.type(torch.float32)), then sigmoid (softmax: V2, LongCat)
    # (DeepseekV2/V3/V32TopkRouter, Glm4Moe/Glm4MoeLite/GlmMoeDsa/Glm4vMoeText/SolarOpenTopkRouter, Dots1TopkRouter,
    # ExaoneMoeTopkRouter, MiMoV2FlashTopkRouter, LongcatFlashTopkRouter, KimiLinearTopkRouter, NemotronHTopkRouter;
    # HYV3TopKRouter and Ernie4_5_MoeTopKRouter: F.linear(x.float(), w.float())). kimi_k2 ships DeepSeek-V3's
    # modeling_deepseek.py (MoEGate: the same fp32 linear and sigmoid) and is read as deepseek_v3
    **dict.fromkeys(("deepseek_v2", "deepseek_v3", "deepseek_v32", "kimi_k2", "glm4_moe", "glm4_moe_lite",
                     "glm_moe_dsa", "dots1", "exaone_moe", "mimo_v2_flash", "longcat_flash", "kimi_linear", "hy_v3",
                     "nemotron_h", "ernie4_5_moe"), "fp32-linear"),
    # Mistral4TopkRouter: F.linear(x, w).softmax(-1) in bf16; DbrxExperts: softmax(router_logits, dim=1,
    # dtype=router_logits.dtype); Lfm2MoeTopKRouter: router_logits.sigmoid() on bf16 logits
    "mistral4": "act-scores", "dbrx": "act-scores", "lfm2_moe": "act-scores",
    # GptOssTopKRouter: topk(router_logits), softmax(router_top_value, dtype=router_top_value.dtype);
    # GraniteMoe(Shared/Hybrid)TopKRouter: router_logits.topk, softmax(top_k_logits); Cohere2MoeTopKRouter: topk of the
    # logits, then softmax or sigmoid of the k
    **dict.fromkeys(("gpt_oss", "granitemoe", "granitemoeshared", "granitemoehybrid", "cohere2_moe"), "topk-logits"),
}


def _router(cfg: dict, mt: str) -> str | None:
    """The router form of the family (:data:`ROUTERS`), by the config's own model_type first, then by ``mt``."""
    own = str(cfg.get("model_type") or "").lower()
    return ROUTERS.get(own) or ROUTERS.get(mt)


# MoE families with an expert of intermediate_size on every layer and no dense layers, read like Mixtral:
# OLMoE (OlmoeSparseMoeBlock: num_experts gated experts, a bias-free gate d -> num_experts), Granite-MoE
# (GraniteMoeMoE: ParallelExperts input_linear d -> 2 f and output_linear f -> d per expert, GraniteMoeTopKGating's
# bias-free router), Granite-MoE-Shared (the same, with GraniteMoeSharedMLP beside it), DBRX (after _dbrx_keys)
EXPERT_WIDTH_IS_INTERMEDIATE = ("olmoe", "granitemoe", "granitemoeshared", "dbrx")

# families whose decoder layers are dense when num_experts is 0 (Qwen2MoeDecoderLayer, Qwen3MoeDecoderLayer and
# Qwen3NextDecoderLayer test num_experts > 0); every other MoE family builds its experts' block whatever the count
DENSE_WITHOUT_EXPERTS = ("qwen2_moe", "qwen3_moe", "qwen3_next")
EXPERT_COUNTS = ("n_routed_experts", "num_local_experts", "num_experts")


# keys only an MoE layer has: the experts each token is routed to (Hunyuan: moe_topk) and the experts' width
MOE_MARKS = ("num_experts_per_tok", "num_experts_per_token", "experts_per_token", "moe_topk", "moe_intermediate_size")


def _refuse_no_experts(cfg: dict, mt: str) -> None:
    """Refuse an expert count of 0 where the family has no dense reading of it: Mixtral with num_local_experts 0
    was read as a dense model (7.24 B parameters, not 46.7 B), DeepSeek-V3 with n_routed_experts 0 as 37 B; and an
    MoE config with no expert count at all (:func:`_refuse_uncounted_experts`)."""
    zero = [k for k in EXPERT_COUNTS if cfg.get(k) == 0]
    if zero and mt not in DENSE_WITHOUT_EXPERTS:
        raise _refuse(mt, f"{zero[0]} is 0: an MoE layer without experts (a dense model gives no expert count)")
    _refuse_uncounted_experts(cfg, mt)


def _refuse_uncounted_experts(cfg: dict, mt: str, counts: tuple[str, ...] = EXPERT_COUNTS) -> None:
    """Refuse an MoE config (one of :data:`MOE_MARKS` given: experts per token, the experts' width) without any of
    the expert ``counts``. It was read as a dense model: Mixtral without num_local_experts 7.24 B parameters (not
    46.7 B), DeepSeek-V3 without n_routed_experts 37.4 B (not 671 B), Qwen3-30B-A3B 3.3 B, where transformers builds
    its class default's experts (MixtralConfig 8, DeepseekV3Config 256, Qwen3MoeConfig 128)."""
    mark = next((k for k in MOE_MARKS if cfg.get(k)), None)
    if mark and all(cfg.get(k) is None for k in counts):
        raise SpecError(WHERE, f"model_type {mt}: has {mark} but no expert count ({' or '.join(counts)}), which "
                               "sizes the model")


# final_logit_softcapping where a config leaves it out: the class defaults of the model types whose heads apply it
# (transformers Gemma2Config, VaultGemmaConfig, Gemma3nTextConfig: 30.0; Gemma3TextConfig, Gemma4TextConfig: None).
# Other models' heads read no such field (LlamaForCausalLM ignores the key)
SOFTCAP_DEFAULTS = {"gemma2": 30.0, "vaultgemma": 30.0, "gemma3n_text": 30.0, "gemma3_text": None, "gemma4_text": None}


def _softcap(cfg: dict, mt: str) -> bool:
    """Whether the head's logits are soft-capped: ``final_logit_softcapping`` set, or left out where the class's
    default is set (:data:`SOFTCAP_DEFAULTS`), on a model type whose head applies it (transformers'
    ``Gemma2ForCausalLM``, ``VaultGemmaForCausalLM``, ``Gemma3ForCausalLM``, ``Gemma3nForCausalLM``,
    ``Gemma4ForCausalLM``: ``cap * tanh(logits / cap)`` where it is not None; Gemma-3's configs null). A value other
    than a positive number or null is refused."""
    if mt not in SOFTCAP_DEFAULTS:
        return False
    v = cfg.get("final_logit_softcapping", SOFTCAP_DEFAULTS[mt])
    if v is None:
        return False
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise SpecError(WHERE, f"model_type {mt}: final_logit_softcapping must be a positive number or null, got "
                               f"{_show(v)}")
    return True


def _norms(cfg: dict, mt: str) -> int:
    """RMSNorms (or LayerNorms) of hidden_size per layer."""
    if mt == "nemotron_h":
        return 1                                             # NemotronHBlock: one norm before its one mixer
    if mt == "gemma4_text":
        return cfg["_gemma4_norms"]                          # 4, or 8 beside experts (_gemma4_ffn)
    if mt in ("gemma2", "gemma3_text", "glm4", "afmoe", "gemma3n_text"):
        # pre and post norms around attention and MLP (Glm4DecoderLayer: input_layernorm, post_self_attn_layernorm,
        # post_attention_layernorm, post_mlp_layernorm)
        return 4
    if mt in ("cohere", "cohere2", "cohere2_moe", "phi", "gptj", "codegen") or \
            (mt == "stablelm" and cfg.get("use_parallel_residual")):
        return 1                                             # attention and MLP in parallel after one norm
    if mt == "falcon" and cfg.get("parallel_attn", True):
        # FalconDecoderLayer (transformers modeling_falcon.py and vLLM falcon.py alike): num_ln_in_parallel_attn None
        # is 2 under new_decoder_architecture; ln_attn and ln_mlp where it is 2 (Falcon-40B, 180B), one
        # input_layernorm for any other value (Falcon-7B; Falcon-11B's 1). Not the value itself: 3 builds one
        n = cfg.get("num_ln_in_parallel_attn")
        if n is None and cfg.get("new_decoder_architecture"):
            n = 2
        return 2 if n == 2 else 1
    return 2


# vectors of hidden_size each layer norm and the final norm holds, where not an RMSNorm's one weight (the spec's
# norm_vectors): Nemotron's NemotronLayerNorm1P is an nn.LayerNorm with weight and bias (transformers
# modeling_nemotron.py, vLLM nemotron.py: input_layernorm, post_attention_layernorm, norm); OLMo-1's OlmoLayerNorm has
# neither (transformers modular_olmo.py: F.layer_norm(x, shape, None, None); vLLM olmo.py: nn.LayerNorm(d,
# elementwise_affine=False, bias=False)). The nn.LayerNorm(hidden_size) of GPT-2's and GPTBigCode's blocks (ln_1, ln_2,
# ln_f), GPT-NeoX's, Phi's, StableLM's (StableLmDecoderLayer's input_layernorm and post_attention_layernorm, the
# model's norm), StarCoder2's (whatever use_bias says: Starcoder2DecoderLayer builds them without it), OPT's
# (layer_norm_elementwise_affine false refused), GPT-J's, CodeGen's, BLOOM's and GPT-Neo's: weight and bias. MPT's
# LayerNorms have their bias removed (MptBlock: norm_1.bias = None): a weight each, as an RMSNorm's. Falcon's
# (FalconDecoderLayer's input_layernorm, post_attention_layernorm or ln_attn and ln_mlp, FalconModel.ln_f; vLLM
# falcon.py the same: torch's LayerNorm) and Phi-3.5-MoE's (PhimoeDecoderLayer's input_layernorm and
# post_attention_layernorm, PhimoeModel.norm; vLLM phimoe.py: nn.LayerNorm(..., elementwise_affine=True)) and Jais-2's
# (Jais2DecoderLayer's input_layernorm and post_attention_layernorm, Jais2Model.norm: nn.LayerNorm; vLLM jais2.py the
# same): weight and bias
NORM_VECTORS = {"nemotron": 2, "olmo": 0, **dict.fromkeys(
    ("gpt2", "gpt_bigcode", "gpt_neox", "phi", "stablelm", "starcoder2", "opt", "gptj", "codegen", "bloom", "gpt_neo",
     "falcon", "phimoe", "jais2"), 2)}


# ---------------------------------------------------------------------------------------------------------
# Llama-Nemotron NAS (model_type nemotron-nas, DeciLMForCausalLM): Llama's blocks sized layer by layer
# ---------------------------------------------------------------------------------------------------------

NAS_READING = ("nemotron-nas: block_configs read layer by layer (an attention no_op layer is an ffn layer, an ffn "
               "no_op layer has width 0 in ffn.layer_widths, a layer with both no_op holds no block)")
# the keys of a block_configs entry (the checkpoints' block_config.py: AttentionConfig, FFNConfig; copy in the code
# corpus, file id 31670115195) that size nothing at these values: sinks, windows and sparsity are not read, so a block
# that sets one is refused rather than priced as plain attention
NAS_INERT = {"attention": {"num_sink_tokens": None, "window_length": None, "sparsify": None, "unshifted_sink": False,
                           "use_prefill_window_in_sink_attention": False},
             "ffn": {"sparsify": None, "hidden_act": ...}}      # hidden_act: any (the gated MLP's size is the same)
NAS_SIZING = {"attention": ("no_op", "replace_with_linear", "n_heads_in_group"),
              "ffn": ("no_op", "replace_with_linear", "ffn_mult", "intermediate_size")}


def nas_ffn_width(ffn_mult: float, hidden: int) -> int:
    """The FFN width (intermediate_size) of a Nemotron-NAS layer of ``ffn_mult`` at ``hidden``, as the checkpoints'
    code builds it: ``block_config.py`` rounds ffn_mult to 6 decimals (``FFNConfig.__post_init__``), then
    ``_ffn_mult_to_intermediate_size(ffn_mult, n_embd)`` = ``_find_multiple(int(2 * ffn_mult * n_embd / 3), 256)``,
    the smallest multiple of 256 at or above it (the same function in vLLM ``nemotron_nas.py``, SGLang
    ``nemotron_nas.py``, TensorRT-LLM ``modeling_nemotron_nas.py``, llama.cpp's ``DeciModel`` converter).
    Super-49B at 8192: 5.25 -> 28672, 2.625 -> 14336, 3.28125 -> 17920, 1.3125 -> 7168, 1.0 -> int(5461.33) = 5461
    -> 5632, 0.5 -> 2730 -> 2816."""
    width = int(2 * round(ffn_mult, 6) * hidden / 3)
    return width if width % 256 == 0 else width + 256 - width % 256


def _nemotron_nas_keys(cfg: dict, mt: str) -> dict:
    """Nemotron-NAS's ``block_configs`` (Llama-3.3-Nemotron-Super-49B-v1/v1.5, Llama-3.1-Nemotron-Ultra-253B-v1) read
    into the reader's keys: one entry a decoder layer, each Llama's attention and gated SiLU MLP or less (vLLM
    ``nemotron_nas.py`` ``DeciLMDecoderLayer``; the checkpoints' ``modeling_decilm.py``):

    - attention: ``num_attention_heads // n_heads_in_group`` K/V heads (``num_kv_heads`` there), heads of
      ``hidden_size / num_attention_heads``; ``no_op``: no attention, no ``input_layernorm``, nothing cached (the
      spec's ``ffn`` layer type);
    - FFN: ``gate_proj``, ``up_proj``, ``down_proj`` of :func:`nas_ffn_width` (or the block's ``intermediate_size``
      where it gives one, as vLLM takes it); ``no_op``: no FFN, no ``post_attention_layernorm`` (width 0 in
      ``ffn.layer_widths``).

    K/V heads that differ from layer to layer (``n_heads_in_group`` per block: 51B's 8, 16, 32 and 64) are
    ``attention.layer_heads``, null on the ``no_op`` layers. Refused in one line: ``replace_with_linear`` (one hidden x
    hidden Linear in place of the attention or the FFN: Llama-3.1-Nemotron-51B-Instruct's attention), sinks, windows
    and sparsity (:data:`NAS_INERT`), anything malformed."""
    blocks, L = cfg.get("block_configs"), _req(cfg, mt, "num_hidden_layers")     # was cfg[...]: a KeyError
    if not isinstance(blocks, list) or len(blocks) != L:
        raise _refuse(mt, f"block_configs must be a list of {L} blocks (one a layer, num_hidden_layers), got "
                          f"{_show(blocks) if not isinstance(blocks, list) else f'{len(blocks)} blocks'}")
    heads, hidden = _req(cfg, mt, "num_attention_heads"), _req(cfg, mt, "hidden_size")
    if cfg.get("mlp_bias"):             # DeciLMGatedMLP: gate/up/down with bias=config.mlp_bias
        raise _refuse(mt, "MLP biases (mlp_bias) are not modelled")
    types, widths, groups, pairs = [], [], {}, []
    for i, block in enumerate(blocks):
        attn, ffn = (_nas_part(block, part, i, mt) for part in ("attention", "ffn"))
        pairs.append(None)
        if not attn["no_op"]:
            g = attn.get("n_heads_in_group")
            if not _whole(g, 1) or heads % g:
                raise _refuse(mt, f"block_configs[{i}].attention.n_heads_in_group must be a whole number that "
                                  f"divides num_attention_heads {heads}, got {_show(g)}")
            groups.setdefault(g, i)
            pairs[-1] = [heads, heads // g]          # DeciLMAttention: num_key_value_heads = heads // n_heads_in_group
        types.append("ffn" if attn["no_op"] else "full")
        widths.append(0 if ffn["no_op"] else _nas_width(ffn, i, hidden, mt))
    if not groups:
        raise _refuse(mt, "every block's attention is no_op: no layer attends")
    if not any(widths):
        raise _refuse(mt, "every block's FFN is no_op: no layer has an FFN")
    out = dict(cfg)
    out["num_key_value_heads"] = heads // min(groups)           # the most K/V heads of any layer
    out["_nas_layer_types"], out["_nas_widths"] = types, widths
    if len(groups) > 1:     # each attention layer's own K/V heads, none on a no_op layer (attention.layer_heads)
        out["_layer_heads"] = pairs
    return out


def _nas_part(block: Any, part: str, i: int, mt: str) -> dict:
    """Block ``i``'s ``attention`` or ``ffn`` mapping with ``no_op`` and ``replace_with_linear`` read as the dataclass
    defaults them (False), a key that sizes something we do not read refused (:data:`NAS_INERT`)."""
    where = f"block_configs[{i}].{part}"
    if not isinstance(block, dict):
        raise _refuse(mt, f"block_configs[{i}] must be a mapping of attention and ffn, got {_show(block)}")
    other = sorted(str(k) for k in block if k not in NAS_SIZING)
    if other:        # a later DeciLM's block kinds (mamba, moe, ...) would be read as Llama's attention and MLP
        raise _refuse(mt, f"block_configs[{i}].{other[0]} is not a key this tool reads (only attention and ffn)")
    sub = block.get(part)
    if not isinstance(sub, dict):
        raise _refuse(mt, f"{where} must be a mapping, got {_show(sub)}")
    for key, value in sub.items():
        if key in NAS_SIZING[part]:
            continue
        if key not in NAS_INERT[part]:
            raise _refuse(mt, f"{where}.{key} is not a key this tool reads (block_config.py's {part} keys: "
                              f"{', '.join([*NAS_SIZING[part], *NAS_INERT[part]])})")
        inert = NAS_INERT[part][key]
        if inert is not ... and value is not inert:        # None and False: a sink, window or sparsity is set
            raise _refuse(mt, f"{where}.{key} {_show(value)} is not modelled")
    out = dict(sub)
    for key in ("no_op", "replace_with_linear"):
        if not isinstance(sub.get(key, False), bool):
            raise _refuse(mt, f"{where}.{key} must be true or false, got {_show(sub[key])}")
        out[key] = sub.get(key, False)
    if out["replace_with_linear"]:
        raise _refuse(mt, f"{where}.replace_with_linear (one hidden x hidden Linear in place of the {part}: "
                          "Llama-3.1-Nemotron-51B) is not modelled")
    return out


def _nas_width(ffn: dict, i: int, hidden: int, mt: str) -> int:
    """Block ``i``'s FFN width: :func:`nas_ffn_width` of its ``ffn_mult``, else its ``intermediate_size`` (vLLM's
    ``DeciLMDecoderLayer`` takes that where the block has no ffn_mult)."""
    mult = ffn.get("ffn_mult")
    if mult is None:
        width = ffn.get("intermediate_size")
        if not _whole(width, 1):
            raise _refuse(mt, f"block_configs[{i}].ffn needs ffn_mult (or intermediate_size) unless no_op, got "
                              f"{_show(width) if 'intermediate_size' in ffn else 'neither'}")
        return width
    if isinstance(mult, bool) or not isinstance(mult, (int, float)) or isinstance(mult, NonFinite) or \
            not 0 < mult < 1e6:
        raise _refuse(mt, f"block_configs[{i}].ffn.ffn_mult must be a positive number, got {_show(mult)}")
    width = nas_ffn_width(mult, hidden)
    if width < 1:
        raise _refuse(mt, f"block_configs[{i}].ffn.ffn_mult {mult} gives an FFN 0 wide at hidden_size {hidden}")
    return width


def _nemotron_nas_ffn(cfg: dict) -> dict:
    """The dense gated FFN of a Nemotron-NAS model (after :func:`_nemotron_nas_keys`): one width when every layer
    has attention and an FFN of one width (it reads as the Llama config it then is), else ``layer_widths``, the widest
    as ``intermediate_size``."""
    widths, types = cfg["_nas_widths"], cfg["_nas_layer_types"]
    if len(set(widths)) == 1 and set(types) == {"full"}:
        return {"kind": "dense", "intermediate_size": widths[0]}
    return {"kind": "dense", "intermediate_size": max(widths), "layer_widths": list(widths)}


# ---------------------------------------------------------------------------------------------------------
# Apple OpenELM (model_type openelm, OpenELMForCausalLM): layer-wise scaling of the heads and FFN widths
# ---------------------------------------------------------------------------------------------------------

OPENELM_READING = ("openelm: each layer's heads (attention.layer_heads) from qkv_multipliers and its FFN width "
                   "(ffn.layer_widths) from ffn_multipliers, by Apple's configuration_openelm.py")
# the keys of Apple's OpenELMConfig (configuration_openelm.py, copy in the code corpus: file id 2824045709) and those
# PretrainedConfig saves beside them; none of the others changes a size (rope_freq_constant and rope_max_length set
# RoPE's frequencies and its table, activation_fn_name the FFN's nonlinearity, normalization_layer_name nothing:
# OpenELMDecoderLayer builds OpenELMRMSNorm whatever it says)
OPENELM_KEYS = {"num_transformer_layers", "model_dim", "head_dim", "qkv_multipliers", "num_query_heads",
                "num_kv_heads", "num_gqa_groups", "ffn_multipliers", "ffn_with_glu", "ffn_dim_divisor",
                "activation_fn_name", "normalization_layer_name", "normalize_qk_projections",
                "share_input_output_layers", "rope_freq_constant", "rope_max_length", "max_context_length",
                "vocab_size", "initializer_range", "use_cache", "bos_token_id", "eos_token_id", "model_type",
                "architectures", "auto_map", "torch_dtype", "dtype", "transformers_version", "_name_or_path"}
# ... and those PretrainedConfig saves when a fine-tune sets them (a pad token, a tokenizer class), which size nothing:
# GENERIC_KEYS' bookkeeping (a config with pad_token_id was refused as having a key OpenELM's does not)
OPENELM_KEYS |= {"pad_token_id", "output_attentions", "output_hidden_states", "return_dict", "id2label", "label2id",
                 "problem_type", "tokenizer_class"}
# OpenELMConfig's defaults for the keys that size the model (configuration_openelm.py, OpenELMConfig.__init__)
OPENELM_DEFAULTS = {"vocab_size": 32000, "max_context_length": 2048, "num_transformer_layers": 12, "model_dim": 2048,
                    "head_dim": 128, "qkv_multipliers": 1.0, "num_gqa_groups": 1, "ffn_multipliers": 4.0,
                    "ffn_with_glu": True, "ffn_dim_divisor": 256, "normalize_qk_projections": False,
                    "share_input_output_layers": False}


def openelm_make_divisible(v: float, divisor: int) -> int:
    """OpenELM's ``make_divisible(v, divisor)`` (configuration_openelm.py, MobileNet's rule): ``v`` rounded to the
    nearest multiple of ``divisor`` (at least ``divisor``), one multiple more where that lost over 10% of ``v``.
    OpenELM-1.1B's FFN at ``model_dim`` 2048, divisor 256: 0.5 -> 1024, 2.19 -> int(4485.12 + 128) // 256 * 256 =
    4608, 2.31 -> 4608."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def openelm_multipliers(value: Any, L: int) -> list[float]:
    """One multiplier a layer as ``OpenELMConfig.__post_init__`` expands ``qkv_multipliers`` or ``ffn_multipliers``:
    a number for every layer; a pair ``[a, b]`` as ``np.linspace(a, b, num=L)``, each rounded to 2 decimals as numpy
    rounds (``rint(x * 100) / 100``, halves to even); ``L`` numbers as given (``ffn_multipliers`` only: a
    ``qkv_multipliers`` list of other than two raises NotImplementedError there, checked by the caller). numpy's
    linspace is ``a + i (b - a) / (L - 1)``, its last value ``b``."""
    if not isinstance(value, list):
        return [value] * L
    if len(value) == 2:
        a, b = value
        step = (b - a) / (L - 1) if L > 1 else 0.0
        return [round((b if i == L - 1 and L > 1 else i * step + a) * 100) / 100 for i in range(L)]
    return list(value)


def openelm_layer_heads(model_dim: int, head_dim: int, qkv: Any, groups: int, L: int) -> list[list[int]]:
    """Each layer's ``[query heads, K/V heads]`` by ``OpenELMConfig.__post_init__``: the query width
    ``make_divisible(model_dim x m, head_dim x num_gqa_groups)`` for the layer's qkv multiplier m, its heads that
    width / head_dim, the K/V heads ``heads // num_gqa_groups`` (``num_gqa_groups`` is the query heads a K/V head
    serves). OpenELM-270M (1280, 64, [0.5, 1.0], 4, 16 layers): layer 0 m 0.5, 640 -> int(640 + 128) // 256 x 256 =
    768, 12 heads, 3 K/V heads; layer 5 m 0.67, 857.6 -> 768, under 0.9 x 857.6, so 1024: 16 heads, 4 K/V heads;
    layer 15 m 1.0, 1280, 20 heads, 5 K/V heads."""
    out = []
    for m in openelm_multipliers(qkv, L):
        q = openelm_make_divisible(model_dim * m, head_dim * groups) // head_dim
        out.append([q, q // groups])
    return out


def _openelm_number(v: Any, key: str, mt: str) -> float:
    """A multiplier: a finite positive number (not a bool), at most 1e6."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or isinstance(v, NonFinite) or not 0 < v <= 1e6:
        raise _refuse(mt, f"{key} must hold positive numbers, got {_show(v)}")
    return v


def _openelm_keys(cfg: dict, mt: str) -> dict:
    """Apple's OpenELM config read into the reader's keys (``modeling_openelm.py``, copy in the code corpus: file id
    2573748740): Llama's pre-norm block with each layer's own heads and FFN width.

    - attention (``OpenELMMultiHeadCausalAttention``): ``qkv_proj`` ``d x (q + 2 kv) head_dim``, ``out_proj``
      ``q head_dim x d``, no biases, RoPE over the whole head (``OpenELMRotaryEmbedding(model_dim=head_dim)``),
      ``q_norm``/``k_norm`` RMSNorms of ``head_dim`` where ``normalize_qk_projections``; ``q``, ``kv`` per layer from
      ``qkv_multipliers`` (:func:`openelm_layer_heads`: ``__post_init__`` derives ``num_query_heads`` and
      ``num_kv_heads`` from them whatever the file lists, so lists that disagree are refused);
    - FFN (``OpenELMFeedForwardNetwork``): ``proj_1`` ``d x 2f`` and ``proj_2`` ``f x d`` with ``ffn_with_glu`` (a
      gated FFN, 3 d f), else ``d x f`` and ``f x d``; f = ``int(make_divisible(ffn_multiplier x model_dim,
      ffn_dim_divisor))`` per layer (:func:`openelm_make_divisible`);
    - ``attn_norm``, ``ffn_norm`` and a final ``norm``, RMSNorms of d; ``token_embeddings`` shared with the output
      where ``share_input_output_layers`` (``OpenELMForCausalLM``: ``lm_head`` None, logits from the embedding);
      ``max_context_length`` the context limit.

    Keys outside :data:`OPENELM_KEYS`, a null size key or switch (the class keeps it None and fails or reads it as
    false) and quantized checkpoints (their module names, ``qkv_proj``, ``proj_1``, are not mapped) are refused in
    one line."""
    # an absent key takes OpenELMConfig.__init__'s default; an explicit null does not (the class keeps None, then
    # q_heads // None raises, `if config.ffn_with_glu` builds an ungated FFN): refused below as the wrong type
    out = {**OPENELM_DEFAULTS, **cfg}
    other = sorted(k for k, v in out.items()
                   if v is not None and k not in OPENELM_KEYS and k not in ("quantization", "quantization_config"))
    if other:
        raise _refuse(mt, f"key {other[0]} is not one OpenELM's config has (configuration_openelm.py), so the "
                          "architecture cannot be sized")
    if out.get("quantization") is not None or out.get("quantization_config") is not None:
        raise _refuse(mt, "quantized checkpoints of OpenELM (quantization_config, MLX quantization) are not read")
    for key in ("num_transformer_layers", "model_dim", "head_dim", "num_gqa_groups", "ffn_dim_divisor", "vocab_size",
                "max_context_length"):
        v = out[key]
        if isinstance(v, float) and v.is_integer():
            v = out[key] = int(v)
        if not _whole(v, 1):
            raise _refuse(mt, f"{key} must be a whole number of at least 1, got {_show(v)}")
    for key in ("ffn_with_glu", "normalize_qk_projections", "share_input_output_layers"):
        if not isinstance(out[key], bool):
            raise _refuse(mt, f"{key} must be true or false, got {_show(out[key])}")
    L, d, hd, g = out["num_transformer_layers"], out["model_dim"], out["head_dim"], out["num_gqa_groups"]
    if L > MAX_LAYERS:
        raise _refuse(mt, f"num_transformer_layers must be at most {MAX_LAYERS:,}, got {L:,}")
    qkv, ffn = out["qkv_multipliers"], out["ffn_multipliers"]
    if isinstance(qkv, list) and len(qkv) != 2:      # __post_init__: NotImplementedError
        raise _refuse(mt, f"qkv_multipliers must be a number or two numbers (first and last layer's), got {_show(qkv)}")
    if isinstance(ffn, list) and len(ffn) not in (2, L):       # __post_init__: an AssertionError
        raise _refuse(mt, f"ffn_multipliers must be a number, two numbers or one a layer ({L}), got {len(ffn)}")
    for key, v in (("qkv_multipliers", qkv), ("ffn_multipliers", ffn)):
        for x in (v if isinstance(v, list) else [v]):
            _openelm_number(x, key, mt)
    heads = openelm_layer_heads(d, hd, qkv, g, L)
    for key, i in (("num_query_heads", 0), ("num_kv_heads", 1)):
        given = out.get(key)
        if isinstance(given, list) and given != [p[i] for p in heads]:
            raise _refuse(mt, f"{key} {_show(given)} contradicts qkv_multipliers {_show(qkv)}, from which "
                              f"OpenELMConfig derives {_show([p[i] for p in heads])}")
    widths = [int(openelm_make_divisible(m * d, out["ffn_dim_divisor"])) for m in openelm_multipliers(ffn, L)]
    kept = {k: v for k, v in cfg.items() if k in ("torch_dtype", "dtype", "model_type", "architectures")}
    return {**kept, "num_hidden_layers": L, "hidden_size": d, "vocab_size": out["vocab_size"], "head_dim": hd,
            "num_attention_heads": max(q for q, _ in heads), "num_key_value_heads": max(kv for _, kv in heads),
            "intermediate_size": max(widths), "tie_word_embeddings": out["share_input_output_layers"],
            "max_position_embeddings": out["max_context_length"], "_openelm_qk_norm": out["normalize_qk_projections"],
            "_layer_heads": heads, "_openelm_widths": widths, "_openelm_gated": out["ffn_with_glu"]}


def _openelm_ffn(cfg: dict) -> dict:
    """OpenELM's dense FFN (after :func:`_openelm_keys`): gated by ``ffn_with_glu``, one width where every layer's
    is the same, else ``layer_widths``, the widest as ``intermediate_size``."""
    widths = cfg["_openelm_widths"]
    out = {"kind": "dense", "intermediate_size": max(widths), "gated": cfg["_openelm_gated"]}
    return out if len(set(widths)) == 1 else out | {"layer_widths": list(widths)}


# ---------------------------------------------------------------------------------------------------------
# Quantization: quantization_config -> the spec's quantization block
# ---------------------------------------------------------------------------------------------------------

# The quantizable Linear modules of each linear-attention block in its decoder layer, as the checkpoints name them
# (the HF modules, whose names ignore lists are written against; vLLM builds the same names): (the layer's attribute,
# projections). Their parameters are part of the ``attention`` component (mlacalc.params), so an ignore list naming them
# must be tested against them: linear layers had no names, and a list that left Qwen3-Next's Gated DeltaNet in bf16
# (``re:.*linear_attn.*``) priced it at the quantized width. Convolutions, A_log, dt_bias and norms are no Linear.
LINEAR_MODULES = {
    # Qwen3-Next: transformers Qwen3NextGatedDeltaNet, vLLM qwen3_next.py (in_proj_qkvz, in_proj_ba, out_proj)
    "gated_deltanet": ("linear_attn", ("in_proj_qkvz", "in_proj_ba", "out_proj")),
    # Kimi-Linear: the KDA block sits at self_attn as the MLA one does (vLLM kimi_linear.py KimiDecoderLayer;
    # layers/kda.py KimiDeltaAttention: q/k/v_proj, f_a/f_b_proj, b_proj, g_a/g_b_proj, o_proj)
    "kda": ("self_attn", ("q_proj", "k_proj", "v_proj", "f_a_proj", "f_b_proj", "b_proj", "g_a_proj", "g_b_proj",
                          "o_proj")),
    # Granite-4.0-H, Bamba: the Mamba-2 mixer is the layer's ``mamba`` (transformers GraniteMoeHybridDecoderLayer,
    # BambaDecoderLayer; vLLM granitemoehybrid.py MambaMixer2: in_proj, out_proj); Nemotron-H: _nemotron_h_module_names
    "mamba2": ("mamba", ("in_proj", "out_proj")),
    # Jamba: the Mamba-1 mixer is the layer's ``mamba`` (transformers JambaMambaDecoderLayer; vLLM jamba.py
    # JambaMambaDecoderLayer, MambaMixer: in_proj, x_proj, dt_proj, out_proj)
    "mamba1": ("mamba", ("in_proj", "x_proj", "dt_proj", "out_proj")),
    # MiniMax-Text-01/M1: lightning attention at self_attn (vLLM minimax_text_01.py MiniMaxText01LinearAttention:
    # qkv_proj, output_gate, out_proj)
    "lightning": ("self_attn", ("qkv_proj", "output_gate", "out_proj")),
}
# Qwen3.5's Gated DeltaNet splits the fused projections (vLLM qwen3_5.py: in_proj_qkv and in_proj_z into the fused
# in_proj_qkvz, "separate in_proj_b and in_proj_a weights in the checkpoint")
QWEN3_5_GDN = ("linear_attn", ("in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a", "out_proj"))
QWEN3_5_TYPES = ("qwen3_5_text", "qwen3_5_moe_text")


# Each family's FFN modules, as its checkpoints (and vLLM, which loads them under the same names) name them, relative
# to the decoder layer (``model.layers.N.``): the dense MLP's Linears, the router, one routed expert's Linears (``{e}``
# the expert's index; none when the experts are one fused module), the shared expert's. Ignore lists are written
# against these names: under Llama's ``mlp.*`` for every family, Mixtral's ``block_sparse_moe.experts.N.w1`` or
# Llama-4's ``feed_forward.shared_expert`` matched nothing and a module the checkpoint keeps at 16 bits was priced
# quantized, or a pattern such as ``down_proj`` hit Llama names the family does not have and was refused as a partly
# quantized component.
@dataclass(frozen=True)
class FfnNames:
    dense: tuple[str, ...] = ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
    router: tuple[str, ...] = ("mlp.gate",)
    experts: tuple[str, ...] = ("mlp.experts.{e}.gate_proj", "mlp.experts.{e}.up_proj", "mlp.experts.{e}.down_proj")
    shared: tuple[str, ...] = ("mlp.shared_experts.gate_proj", "mlp.shared_experts.up_proj",
                               "mlp.shared_experts.down_proj")


def _proj(prefix: str, *names: str) -> tuple[str, ...]:
    return tuple(f"{prefix}.{n}" for n in names)


GATED = ("gate_proj", "up_proj", "down_proj")
# Mixtral's experts (transformers MixtralSparseMoeBlock: gate, experts[N].w1/w2/w3; vLLM mixtral.py maps
# block_sparse_moe.experts.N.w1/w3 onto its FusedMoE); PhiMoE and MiniMax (M1, Text-01, M2) build the same block
MIXTRAL_FFN = FfnNames(router=("block_sparse_moe.gate",),
                       experts=_proj("block_sparse_moe.experts.{e}", "w1", "w2", "w3"))
# Granite-MoE (transformers GraniteMoeMoE: router.layer, ParallelExperts input_linear / output_linear holding every
# expert; GraniteMoeSharedMLP shared_mlp.input_linear / output_linear on the layer; vLLM granitemoe.py,
# granitemoeshared.py, granitemoehybrid.py): Granite-4.0-H's dense layers are the shared MLP alone
GRANITE_FFN = FfnNames(dense=_proj("shared_mlp", "input_linear", "output_linear"),
                       router=("block_sparse_moe.router.layer",),
                       experts=_proj("block_sparse_moe", "input_linear", "output_linear"),
                       shared=_proj("shared_mlp", "input_linear", "output_linear"))
# Qwen2-MoE, Qwen3-Next, Qwen3.5-MoE: one shared expert and its d -> 1 gate (transformers Qwen2MoeSparseMoeBlock:
# gate, experts, shared_expert, shared_expert_gate)
QWEN_SHARED_FFN = FfnNames(router=("mlp.gate", "mlp.shared_expert_gate"), shared=_proj("mlp.shared_expert", *GATED))
FFN_NAMES: dict[str, FfnNames] = {
    "mixtral": MIXTRAL_FFN, "phimoe": MIXTRAL_FFN, "minimax_m2": MIXTRAL_FFN,
    # MiniMax-M3 as its checkpoints name it (vLLM minimax_m3 MiniMaxM3DecoderLayer: mlp.gate_proj/up_proj/down_proj
    # on the dense layers, block_sparse_moe.gate, experts.N.w1/w2/w3 and shared_experts.gate_proj/up_proj/down_proj)
    MINIMAX_M3: FfnNames(router=MIXTRAL_FFN.router, experts=MIXTRAL_FFN.experts,
                         shared=_proj("block_sparse_moe.shared_experts", *GATED)),
    # MiniMax-Text-01/M1 (vLLM minimax_text_01.py MiniMaxText01DecoderLayer): Mixtral's block, a shared_mlp beside it
    **dict.fromkeys(LIGHTNING_HYBRIDS, FfnNames(router=MIXTRAL_FFN.router, experts=MIXTRAL_FFN.experts,
                                                shared=_proj("shared_mlp", *GATED))),
    "granitemoe": GRANITE_FFN, "granitemoeshared": GRANITE_FFN, "granitemoehybrid": GRANITE_FFN,
    "qwen2_moe": QWEN_SHARED_FFN, "qwen3_next": QWEN_SHARED_FFN,
    # Gemma-4 26B-A4B (Gemma4TextDecoderLayer: the dense mlp beside the experts is the spec's shared expert; the
    # router's d -> E matrix router.proj; per_expert_scale and router.scale are vectors, no Linear). Experts as ModelOpt
    # stores them (nvidia/Gemma-4-26B-A4B-NVFP4's tensors model.language_model.layers.N.experts.E.gate_proj.weight,
    # weight_scale, weight_scale_2, input_scale: code corpus file id 59223722196, parse_expert_plane_name); transformers'
    # fused experts.gate_up_proj is no Linear (_gemma4_keys refuses the other methods for it)
    "gemma4_text": FfnNames(router=("router.proj",), experts=_proj("experts.{e}", *GATED), shared=_proj("mlp", *GATED)),
    # gpt-oss (transformers GptOssMLP: router, experts with fused gate_up_proj / down_proj parameters, one module)
    "gpt_oss": FfnNames(router=("mlp.router",), experts=("mlp.experts",)),
    # Llama-4 (transformers Llama4TextMoe: router, experts with fused gate_up_proj / down_proj, shared_expert;
    # Llama4TextMLP on the dense layers; vLLM llama4.py Llama4MoE at feed_forward)
    "llama4_text": FfnNames(dense=_proj("feed_forward", *GATED), router=("feed_forward.router",),
                            experts=("feed_forward.experts",), shared=_proj("feed_forward.shared_expert", *GATED)),
    # DBRX (transformers DbrxFFN: router.layer, experts.mlp holding w1, v1, w2 of every expert; vLLM dbrx.py)
    "dbrx": FfnNames(router=("ffn.router.layer",), experts=("ffn.experts.mlp",)),
    # Hy3 as its checkpoints name it (vLLM hy_v3.py load_weights: mlp.router.gate, mlp.experts.N.*, mlp.shared_mlp;
    # transformers renames them to mlp.gate and mlp.shared_experts on load)
    "hy_v3": FfnNames(router=("mlp.router.gate",), shared=_proj("mlp.shared_mlp", *GATED)),
    # Hunyuan (vLLM hunyuan_v1.py HunYuanSparseMoeBlock: gate.wg, experts, shared_mlp)
    **dict.fromkeys(HUNYUAN, FfnNames(router=("mlp.gate.wg",), shared=_proj("mlp.shared_mlp", *GATED))),
    # dense MLPs under other names: InternLM2 (feed_forward.w1/w3/w2), Phi-3 and GLM-4 (gate_up_proj fused), Bamba
    # (feed_forward), GPT-2 and StarCoder2 (c_fc, c_proj), Falcon and ChatGLM (dense_h_to_4h, dense_4h_to_h), Qwen-1
    # (w1, w2, c_proj), EXAONE-3 (c_fc_0, c_fc_1, c_proj); vLLM internlm2.py, phi3.py (llama.py), glm4.py, bamba.py,
    # gpt2.py, starcoder2.py, falcon.py, chatglm.py, qwen.py, exaone.py
    "internlm2": FfnNames(dense=_proj("feed_forward", "w1", "w3", "w2")),
    **dict.fromkeys(("phi3", "glm", "glm4"), FfnNames(dense=_proj("mlp", "gate_up_proj", "down_proj"))),
    "bamba": FfnNames(dense=_proj("feed_forward", *GATED)),
    # Falcon-H1 (transformers FalconH1DecoderLayer.feed_forward, FalconH1MLP; vLLM falcon_h1.py FalconH1MLP, loaded from
    # feed_forward.gate_proj/up_proj/down_proj)
    "falcon_h1": FfnNames(dense=_proj("feed_forward", *GATED)),
    # Jamba (transformers JambaMLP and JambaSparseMoeBlock at feed_forward: router, experts.N.gate/up/down_proj; vLLM
    # jamba.py JambaMLP, JambaMoE)
    "jamba": FfnNames(dense=_proj("feed_forward", *GATED), router=("feed_forward.router",),
                      experts=_proj("feed_forward.experts.{e}", *GATED)),
    **dict.fromkeys(("gpt2", "gpt_bigcode", "starcoder2"), FfnNames(dense=_proj("mlp", "c_fc", "c_proj"))),
    **dict.fromkeys(("falcon", "chatglm", "gpt_neox"),
                    FfnNames(dense=_proj("mlp", "dense_h_to_4h", "dense_4h_to_h"))),
    "qwen": FfnNames(dense=_proj("mlp", "w1", "w2", "c_proj")),
    # Phi-1/1.5/2 (transformers PhiMLP: fc1, fc2; vLLM phi.py)
    "phi": FfnNames(dense=_proj("mlp", "fc1", "fc2")),
    "exaone": FfnNames(dense=_proj("mlp", "c_fc_0", "c_fc_1", "c_proj")),
    # the 2021-2023 decoders (transformers and vLLM opt.py, gpt_j.py, bloom.py, mpt.py; modeling_codegen.py,
    # modeling_gpt_neo.py): OPT's fc1/fc2 sit on the layer itself, GPT-J's and CodeGen's mlp.fc_in/fc_out, BLOOM's
    # Megatron names, MPT's ffn.up_proj/down_proj, GPT-Neo's GPT-2 names
    "opt": FfnNames(dense=("fc1", "fc2")),
    **dict.fromkeys(("gptj", "codegen"), FfnNames(dense=_proj("mlp", "fc_in", "fc_out"))),
    "bloom": FfnNames(dense=_proj("mlp", "dense_h_to_4h", "dense_4h_to_h")),
    "mpt": FfnNames(dense=_proj("ffn", "up_proj", "down_proj")),
    "gpt_neo": FfnNames(dense=_proj("mlp", "c_fc", "c_proj")),
    # StepFun's Step-3 and Step-3.5 (vLLM step3_text.py, step3p5.py: mlp.gate_up_proj from mlp.gate_proj/up_proj,
    # moe.gate, the experts stacked in one moe.gate_proj / up_proj / down_proj each ("Old packed 3D format"), the shared
    # expert beside them at the layer's share_expert, which Step-3.5's hf_to_vllm_mapper moves under moe.)
    **dict.fromkeys(STEP_FAMILY, FfnNames(router=("moe.gate",), experts=_proj("moe", *GATED),
                                          shared=_proj("share_expert", *GATED))),
}


# Each family's decoder-layer container, attention module and its Linears, embedding and head, as its checkpoints
# name them (the HF modules ignore lists are written against; vLLM loads the same names). Under Llama's
# ``model.layers.N.self_attn.q_proj`` for every family, an ignore list naming GPT-2's ``transformer.h.N.attn.c_attn``,
# Falcon's ``self_attention.query_key_value``, DBRX's ``norm_attn_norm.attn.Wqkv``, InternLM2's ``attention.wqkv``,
# Baichuan's ``W_pack`` or Phi-3's ``qkv_proj`` matched nothing, and the attention it keeps at 16 bits was priced
# quantized. (gpt-oss's attention ``sinks`` are a parameter, no Linear: no name.)
@dataclass(frozen=True)
class AttnNames:
    layers: str = "model.layers"                     # the decoder layers' container: "{layers}.{i}."
    attn: str = "self_attn"                          # the attention module in a layer
    projs: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    embed: str = "model.embed_tokens"
    head: str = "lm_head"


GPT2_ATTN = AttnNames("transformer.h", "attn", ("c_attn", "c_proj"), "transformer.wte")
ATTN_NAMES: dict[str, AttnNames] = {
    # GPT-2, StarCoder and Qwen-1 (transformers GPT2Attention, GPTBigCodeAttention; Qwen's remote modeling_qwen.py
    # QWenAttention; vLLM gpt2.py, gpt_bigcode.py, qwen.py): the fused c_attn and c_proj under transformer.h
    "gpt2": GPT2_ATTN, "gpt_bigcode": GPT2_ATTN, "qwen": GPT2_ATTN,
    # GPT-NeoX (transformers GPTNeoXForCausalLM: gpt_neox.layers.N.attention.query_key_value / dense,
    # gpt_neox.embed_in, embed_out; vLLM gpt_neox.py)
    "gpt_neox": AttnNames("gpt_neox.layers", "attention", ("query_key_value", "dense"), "gpt_neox.embed_in",
                          "embed_out"),
    # Falcon (transformers FalconAttention: query_key_value, dense; FalconModel.word_embeddings; vLLM falcon.py)
    "falcon": AttnNames("transformer.h", "self_attention", ("query_key_value", "dense"),
                        "transformer.word_embeddings"),
    # ChatGLM2/3, GLM-4-9B-Chat (remote modeling_chatglm.py: transformer.encoder.layers.N.self_attention
    # .query_key_value / dense, transformer.embedding.word_embeddings, transformer.output_layer; vLLM chatglm.py)
    "chatglm": AttnNames("transformer.encoder.layers", "self_attention", ("query_key_value", "dense"),
                         "transformer.embedding.word_embeddings", "transformer.output_layer"),
    # EXAONE-3/3.5 (remote modeling_exaone.py: transformer.h.N.attn.attention.q/k/v_proj, out_proj; transformer.wte;
    # vLLM exaone.py ExaoneBlockAttention)
    "exaone": AttnNames("transformer.h", "attn.attention", ("q_proj", "k_proj", "v_proj", "out_proj"),
                        "transformer.wte"),
    # DBRX (transformers DbrxBlock: norm_attn_norm.attn.Wqkv / out_proj; DbrxModel.wte; vLLM dbrx.py)
    "dbrx": AttnNames("transformer.blocks", "norm_attn_norm.attn", ("Wqkv", "out_proj"), "transformer.wte"),
    # InternLM2 (remote modeling_internlm2.py: attention.wqkv / wo, model.tok_embeddings, output; vLLM internlm2.py)
    "internlm2": AttnNames(attn="attention", projs=("wqkv", "wo"), embed="model.tok_embeddings", head="output"),
    # Baichuan (remote modeling_baichuan.py: self_attn.W_pack, o_proj; vLLM baichuan.py)
    "baichuan": AttnNames(projs=("W_pack", "o_proj")),
    # Phi-3 / Phi-4 (transformers Phi3Attention: qkv_proj, o_proj)
    "phi3": AttnNames(projs=("qkv_proj", "o_proj")),
    # Phi-1/1.5/2 (transformers PhiAttention: q_proj, k_proj, v_proj, dense; vLLM phi.py)
    "phi": AttnNames(projs=("q_proj", "k_proj", "v_proj", "dense")),
    # OPT (transformers OPTForCausalLM: model.decoder.layers.N.self_attn.q/k/v/out_proj, model.decoder.embed_tokens;
    # vLLM opt.py, which prefixes checkpoints' bare decoder.* names with model.)
    "opt": AttnNames("model.decoder.layers", "self_attn", ("q_proj", "k_proj", "v_proj", "out_proj"),
                     "model.decoder.embed_tokens"),
    # GPT-J and CodeGen (transformer.h.N.attn.q/k/v_proj or qkv_proj, out_proj; transformer.wte; vLLM gpt_j.py)
    "gptj": AttnNames("transformer.h", "attn", ("q_proj", "k_proj", "v_proj", "out_proj"), "transformer.wte"),
    "codegen": AttnNames("transformer.h", "attn", ("qkv_proj", "out_proj"), "transformer.wte"),
    # BLOOM (transformer.h.N.self_attention.query_key_value / dense, transformer.word_embeddings; vLLM bloom.py)
    "bloom": AttnNames("transformer.h", "self_attention", ("query_key_value", "dense"),
                       "transformer.word_embeddings"),
    # MPT (transformer.blocks.N.attn.Wqkv / out_proj, transformer.wte; vLLM mpt.py)
    "mpt": AttnNames("transformer.blocks", "attn", ("Wqkv", "out_proj"), "transformer.wte"),
    # GPT-Neo (transformer.h.N.attn.attention.q/k/v_proj, out_proj; transformer.wte)
    "gpt_neo": AttnNames("transformer.h", "attn.attention", ("q_proj", "k_proj", "v_proj", "out_proj"),
                         "transformer.wte"),
    # Step-3 (vLLM step3_text.py: q_proj, k_proj, v_proj fused in qkv_proj at load, wq, o_proj; q_proj is the query's
    # down projection here, STEP3_PROJECTIONS); Step-3.5 (step3p5.py: q/k/v_proj, o_proj, g_proj with a head gate)
    "step3_text": AttnNames(projs=("q_proj", "k_proj", "v_proj", "wq", "o_proj")),
    "step3p5": AttnNames(projs=("q_proj", "k_proj", "v_proj", "o_proj", "g_proj")),
}


# DSA's lightning indexer sits in the attention module (DeepSeek-V3.2-Exp inference/model.py: MLA.indexer = Indexer;
# transformers DeepseekV32Attention.indexer; vLLM deepseek_v2.py and SGLang's Indexer: prefixes indexer.wq_b,
# indexer.wk, indexer.weights_proj, indexer.k_norm) and is priced with the attention (mlacalc.attention.dsa). Its
# quantizable Linears are wq_b (q latent -> H_I d_I) and wk (d -> d_I): under the MLA names alone, a list keeping the
# MLA projections in bf16 while the indexer was quantized priced the whole attention at 16 bits, and a list keeping the
# indexer in bf16 (re:.*indexer.*) matched nothing. weights_proj is left unnamed: vLLM and SGLang build it with
# quant_config=None ("weight_proj is not quantized"), so a list naming it or not changes nothing served; k_norm is a
# LayerNorm, no Linear. Both are priced in bf16 beside a quantized attention whatever the list says
# (mlacalc.attention.dsa.DSA.never_quantized: the fp8 checkpoints store them so).
DSA_INDEXER = ["indexer.wq_b", "indexer.wk"]
# Mllama (Llama-3.2-Vision): the cross-attention decoder layers' attention module (transformers
# MllamaCrossAttentionDecoderLayer.cross_attn: q_proj, k_proj, v_proj, o_proj, q_norm, k_norm; vLLM mllama.py
# prefix f"{prefix}.cross_attn"); cross_attn_attn_gate and cross_attn_mlp_gate are scalar parameters, no Linear
CROSS_ATTN = "cross_attn"


@dataclass(frozen=True)
class Layout:
    """Where a checkpoint keeps the text decoder's modules: a multimodal wrapper moves the text model's ``model.``
    (``model``) and ``lm_head`` (``head``), or puts every name under one module (``outer``). Ignore lists name the
    modules of the model the quantizer held, i.e. as the transformers that wrote the config built it."""
    model: str = "model."
    head: str = "lm_head"
    outer: str = ""

    def name(self, n: str) -> str:
        if n == "lm_head":
            n = self.head
        elif n.startswith("model."):
            n = self.model + n[len("model."):]
        return self.outer + n


# transformers < 4.52: Llama4/Gemma3/Mistral3/Mllama/LLaVA ForConditionalGeneration hold the causal LM as
# language_model (language_model.model.layers.N, language_model.lm_head); from 4.52 (the VLM refactor, each class's
# _checkpoint_conversion_mapping "^language_model.model" -> "model.language_model", "^language_model.lm_head" ->
# "lm_head") the text model is model.language_model and the head lm_head. Llama-4 kept the old layout (transformers
# 4.57 and 5.25 modeling_llama4.py: self.language_model = Llama4ForCausalLM). Qwen2-VL / Qwen2.5-VL went from
# model.layers to model.language_model.layers ("^model" -> "model.language_model"); Qwen3-VL, GLM-4.xV came after.
LEGACY_WRAPPED = Layout("language_model.model.", "language_model.lm_head")
MODERN_WRAPPED = Layout("model.language_model.")
VLM_REFACTOR = (4, 52)
LAYOUTS: dict[str, tuple[Layout, Layout]] = {          # model_type -> (before 4.52, from 4.52)
    "llama4": (LEGACY_WRAPPED, LEGACY_WRAPPED),
    # MiniMax-M3's release (MiniMaxM3SparseForConditionalGeneration): language_model.model.layers.N,
    # language_model.lm_head beside vision_tower, multi_modal_projector, patch_merge_mlp, whatever transformers wrote it
    "minimax_m3_vl": (LEGACY_WRAPPED, LEGACY_WRAPPED),
    **dict.fromkeys(("gemma3", "mistral3", "mllama", "llava"), (LEGACY_WRAPPED, MODERN_WRAPPED)),
    **dict.fromkeys(("qwen2_vl", "qwen2_5_vl"), (Layout(), MODERN_WRAPPED)),
    # Gemma-4 came after the refactor (transformers 5.5: Gemma4Model.language_model, lm_head tied; the QAT w4a16 and
    # FP8 releases name model.language_model.layers.N.self_attn.q_proj)
    "gemma4": (MODERN_WRAPPED, MODERN_WRAPPED),
    # (GLM-OCR: GlmOcrModel.language_model, model.language_model.layers.N as transformers' GlmOcrPreTrainedModel
    # names its MTP layer, model\.language_model\.layers\.16)
    **dict.fromkeys(("qwen3_vl", "qwen3_vl_moe", "glm4v", "glm4v_moe", "glm_ocr"),
                    (MODERN_WRAPPED, MODERN_WRAPPED)),
    # InternVL's remote InternVLChatModel: language_model is the whole causal LM (language_model.model.layers.N,
    # language_model.lm_head; an InternLM2 decoder's language_model.output), vision_model and mlp1 beside it
    "internvl_chat": (Layout(outer="language_model."),) * 2,
    # Qwen2.5-Omni / Qwen3-Omni: thinker.model.layers.N, thinker.lm_head (transformers
    # ...ThinkerForConditionalGeneration)
    **dict.fromkeys(("qwen2_5_omni", "qwen3_omni_moe"), (Layout(outer="thinker."),) * 2),
}


def _version(v: Any) -> tuple[int, int] | None:
    m = re.match(r"(\d+)\.(\d+)", v) if isinstance(v, str) else None
    return (int(m[1]), int(m[2])) if m else None


def checkpoint_layout(cfg: dict) -> Layout:
    """The :class:`Layout` of a config.json's checkpoint: by its top-level ``model_type`` and, where transformers
    renamed the modules, its ``transformers_version`` (the version that wrote it). With none readable, the older
    layout (the first releases of these models were written so), except a Qwen2(.5)-VL config that nests a
    ``text_config``, which only the refactored classes write (Qwen2_5_VLConfig with sub-configs, transformers 4.52+)."""
    mt = str(cfg.get("model_type") or "").lower()
    if mt == DEEPSEEK_VL2:
        return _deepseek_vl2_layout(cfg)
    if mt not in LAYOUTS:
        return Layout()
    old, new = LAYOUTS[mt]
    version = _version(cfg.get("transformers_version"))
    if version is None:
        return new if mt in ("qwen2_vl", "qwen2_5_vl") and isinstance(cfg.get("text_config"), dict) else old
    return new if version >= VLM_REFACTOR else old


# DeepSeek-OCR's checkpoint keeps the decoder at the top (model.layers.N, lm_head: its tensor list, code-corpus file
# id 63052762923; OCR-2 loads through the same DeepseekOCR classes); DeepSeek-VL2's under language (language.model.layers.N,
# language.lm_head: vLLM deepseek_vl2.py hf_to_vllm_mapper "language." -> "language_model."). VL2's config.json names
# no architectures, DeepSeek-OCR's does
DEEPSEEK_OCR_ARCHS = ("DeepseekOCRForCausalLM", "DeepseekOCR2ForCausalLM")


def _deepseek_vl2_layout(cfg: dict) -> Layout:
    """:class:`Layout` of a ``deepseek_vl_v2`` checkpoint: DeepSeek-OCR's at the top level, DeepSeek-VL2's under
    ``language.`` (:data:`DEEPSEEK_OCR_ARCHS`)."""
    return Layout() if _is_deepseek_ocr(cfg) else Layout(outer="language.")


def _ffn_names(mt: str, gated: bool) -> FfnNames:
    """The family's FFN module names (:data:`FFN_NAMES`, Llama/DeepSeek/Qwen3-MoE's ``mlp.*`` for the others; an
    alias's own family); an ungated MLP (Apertus, Arcee: up_proj, down_proj) has no gate_proj."""
    names = FFN_NAMES.get(mt) or FFN_NAMES.get(ALIASES.get(mt, ""), FfnNames())
    if not gated and names.dense == FfnNames.dense:
        names = replace(names, dense=_proj("mlp", "up_proj", "down_proj"))
    return names


def _module_names(spec: dict, mt: str = "", layout: Layout = Layout()) -> dict[str, list[str]]:
    """Module names of each weight component the model has, as the checkpoint names them, to test a quantization
    config's ignore patterns against: the family's layer container, attention and its Linears, embedding and head
    (:data:`ATTN_NAMES`; MLA's q_a_proj/q_b_proj or q_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj as DeepSeek-V2/V3,
    MiniCPM3 and Kimi name them), under a multimodal wrapper's prefixes (``layout``, :func:`checkpoint_layout`);
    LongCat-Flash's own naming: :func:`_longcat_module_names`; Nemotron-H's: :func:`_nemotron_h_module_names`. The
    linear layers of a hybrid name their block's projections (:data:`LINEAR_MODULES`) under ``attention``; the FFN,
    router and shared expert take the family's names (:data:`FFN_NAMES`). A vision tower is not named: the tool
    prices the text decoder, and a pattern that names only vision modules covers none of these."""
    names = _text_module_names(spec, mt)
    return {c: [layout.name(n) for n in ns] for c, ns in names.items()}


def _text_module_names(spec: dict, mt: str) -> dict[str, list[str]]:
    """:func:`_module_names` of the text decoder on its own (``model.layers.N...``, ``lm_head``)."""
    a, f = spec["attention"], spec["ffn"]
    A = ATTN_NAMES.get(mt, AttnNames())
    if a["kind"] in ("mla", "dsa"):
        attn = (["q_a_proj", "q_b_proj"] if a.get("q_lora_rank") else ["q_proj"]) + \
            ["kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
        if a["kind"] == "dsa":
            attn += DSA_INDEXER
    else:
        # Step-3.5's g_proj is there only with its head gate
        attn = [p for p in A.projs if p != "g_proj" or a.get("head_gate")]
    if mt == "longcat_flash":
        return _longcat_module_names(spec, attn)
    indexed = (a.get("index_layers") or [1] * spec["num_layers"]) if a["kind"] == "msa" else []
    if mt == "nemotron_h":
        return _nemotron_h_module_names(spec, attn)
    # Every layer that holds the component (and the first and last expert), not one representative layer: a pattern
    # naming one layer ("model.layers.0.mlp") covered the representative and left the component unquantized in all
    # 80 layers (Llama-3.3-70B AWQ priced at 123 GB for 40), or missed it and left that layer quantized (audit 7).
    L, types = spec["num_layers"], spec.get("layer_types") or ()
    # layer_types is the period that repeats over the layers (_period): Qwen3-Next's [linear x 3, full] read layers
    # 4 to 47 as full, so self_attn names of 33 linear layers that have none
    kind = [types[i % len(types)] if types else "full" for i in range(L)]
    mixer = [i for i in range(L) if kind[i] not in ("linear", "ffn")]
    ffn = [i for i in range(L) if "ffn" not in types or kind[i] == "ffn"]
    if f.get("layer_widths") is not None:        # Nemotron-NAS: the layers whose FFN is not no_op
        ffn = [i for i in range(L) if f["layer_widths"][i]]
    moe = [i for i in ffn if f["kind"] == "moe" and (f.get("first_dense_layers") or 0) <= i <
           L - (f.get("last_dense_layers") or 0) and (i + 1) % (f.get("moe_layer_step") or 1) == 0]
    dense = [i for i in ffn if i not in set(moe)]
    layer = [f"{A.layers}.{i}." for i in range(L)]
    # Mllama's cross-attention layers hold their attention at cross_attn (MllamaCrossAttentionDecoderLayer), the others
    # at self_attn
    module = [CROSS_ATTN if kind[i] == "cross" else A.attn for i in range(L)]
    # values from the keys (Gemma-4's attention_k_eq_v full layers, attention.v_from_k): no v_proj on those layers
    shape = a.get("sliding_shape") or {}
    no_v = [bool(shape["v_from_k"] if kind[i] == "sliding" and shape.get("v_from_k") is not None
                 else a.get("v_from_k")) for i in range(L)]
    names = {"attention": [f"{layer[i]}{module[i]}.{p}" for i in mixer for p in attn
                           if not (p == "v_proj" and no_v[i])],
             "embed": [A.embed], "head": [A.head]}
    # MiniMax-M3's indexer Linears on the layers that run it (MiniMaxM3SparseAttention: self_attn.index_q_proj,
    # index_k_proj; index_q_norm and index_k_norm are no Linear)
    names["attention"] += [f"{layer[i]}{A.attn}.{p}" for i in range(len(indexed)) if indexed[i]
                           for p in ("index_q_proj", "index_k_proj")]
    lin = spec.get("linear_attention")
    if lin:
        where, projs = QWEN3_5_GDN if mt in QWEN3_5_TYPES else LINEAR_MODULES[lin["kind"]]
        beside = bool(spec.get("parallel_mixers"))           # Falcon-H1: a mamba beside every layer's self_attn
        names["_linear"] = [f"{layer[i]}{where}.{p}" for i in range(L) if kind[i] == "linear" or beside
                            for p in projs]
        names["attention"] += names["_linear"]
    ffn_names = _ffn_names(mt, f.get("gated", True))
    if dense:
        names["dense_ffn"] = [layer[i] + p for i in dense for p in ffn_names.dense]
    if moe:
        # a fused experts module is one name; else the first and last expert's Linears
        experts = sorted({0, max(0, (f.get("num_experts") or 1) - 1)})
        names |= {"router": [layer[i] + r for i in moe for r in ffn_names.router],
                  "routed_experts": list(dict.fromkeys(layer[i] + p.format(e=e) for i in moe
                                                       for e in experts for p in ffn_names.experts))}
        if f.get("num_shared_experts"):
            names["shared_experts"] = [layer[i] + p for i in moe for p in ffn_names.shared]
    return names


def _longcat_module_names(spec: dict, attn: list[str]) -> dict[str, list[str]]:
    """LongCat-Flash's module names (LongcatFlashDecoderLayer), in every checkpoint layer (two spec layers each,
    :func:`_longcat_keys`) as :func:`_module_names` lists them: ``self_attn.0``/``self_attn.1`` the two MLA blocks,
    ``mlps.0`` the first sub-layer's MLP (the spec's dense_ffn) and ``mlps.1`` the second's (the spec's shared
    expert beside the MoE), ``mlp.router.classifier`` and ``mlp.experts`` (first and last) the shortcut MoE. Matched
    against the DeepSeek names, an ignore list naming ``self_attn.0.kv_b_proj`` covered nothing and was priced as
    quantized."""
    layers = [f"model.layers.{i}." for i in range(spec["num_layers"] // 2)]
    mlp = ("gate_proj", "up_proj", "down_proj")
    experts = sorted({0, max(0, (spec["ffn"].get("num_experts") or 1) - 1)})
    return {"attention": [f"{m}self_attn.{i}.{p}" for m in layers for i in (0, 1) for p in attn],
            "dense_ffn": [f"{m}mlps.0.{p}" for m in layers for p in mlp],
            "shared_experts": [f"{m}mlps.1.{p}" for m in layers for p in mlp],
            "router": [m + "mlp.router.classifier" for m in layers],
            "routed_experts": [f"{m}mlp.experts.{e}.{p}" for m in layers for e in experts for p in mlp],
            "embed": ["model.embed_tokens"], "head": ["lm_head"]}


def _nemotron_h_module_names(spec: dict, attn: list[str]) -> dict[str, list[str]]:
    """Nemotron-H's module names (transformers NemotronHForCausalLM): one ``mixer`` a layer under ``backbone.layers``,
    the Mamba-2 mixer's ``in_proj``/``out_proj``, the attention's q/k/v/o, the MLP's ``up_proj``/``down_proj`` (ReLU²,
    no gate), an MoE layer's router ``gate``, ``experts.N`` and ``shared_experts`` (Nemotron 3); the embedding is
    ``backbone.embeddings``. As ModelOpt's exclude lists name them (``backbone.layers.4.mixer.in_proj``); under the
    Llama names every such pattern missed, and excluded mixers were priced at the quantized width."""
    f, types = spec["ffn"], spec.get("layer_types") or ()
    L = spec["num_layers"]
    kind = [types[i % len(types)] if types else "full" for i in range(L)]
    layer = [f"backbone.layers.{i}.mixer." for i in range(L)]
    mlp = ("up_proj", "down_proj") if not f.get("gated", True) else ("gate_proj", "up_proj", "down_proj")
    linear = [layer[i] + p for i in range(L) if kind[i] == "linear" for p in ("in_proj", "out_proj")]
    names = {"attention": [layer[i] + p for i in range(L) if kind[i] not in ("linear", "ffn") for p in attn] + linear,
             "_linear": linear, "embed": ["backbone.embeddings"], "head": ["lm_head"]}
    ffn = [i for i in range(L) if kind[i] == "ffn"]
    if f["kind"] == "moe":
        experts = sorted({0, max(0, (f.get("num_experts") or 1) - 1)})
        names |= {"router": [layer[i] + "gate" for i in ffn],
                  "routed_experts": [f"{layer[i]}experts.{e}.{p}" for i in ffn for e in experts for p in mlp]}
        if f.get("expert_latent_size") is not None:        # LatentMoE (NemotronHMoE): two Linears a MoE layer
            names["latent_proj"] = [layer[i] + p for i in ffn for p in ("fc1_latent_proj", "fc2_latent_proj")]
        if f.get("num_shared_experts"):
            names["shared_experts"] = [f"{layer[i]}shared_experts.{p}" for i in ffn for p in mlp]
    elif ffn:
        names["dense_ffn"] = [layer[i] + p for i in ffn for p in mlp]
    return names


def _matches(pattern: str, name: str) -> bool:
    """Whether an ignore pattern covers module ``name``: ``re:`` regexes (compressed-tensors, matched from the
    start), globs (``model.layers.*.self_attn``), or a run of whole dotted names (``lm_head``, ``self_attn``);
    a pattern that names a parent module covers its children."""
    if pattern.startswith("re:"):
        return re.match(pattern[3:], name) is not None
    parts = name.split(".")
    prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    if "*" in pattern or "?" in pattern:
        return any(fnmatch.fnmatchcase(p, pattern) for p in prefixes)
    want = pattern.strip(".").split(".")
    return any(parts[i:i + len(want)] == want for i in range(len(parts)))


# A softmax-attention Linear's checkpoint name (the end of its module name: :data:`ATTN_NAMES`, MLA's and DSA's names)
# -> the projections (:meth:`mlacalc.attention.base.AttentionFamily.projections` keys) it holds: a fused q/k/v module
# holds three (GPT-2 c_attn, Falcon/ChatGLM query_key_value, DBRX Wqkv, InternLM2 wqkv, Baichuan W_pack, Phi-3
# qkv_proj); the output projection is o under every name (c_proj, dense, wo, out_proj, o_proj)
ATTN_PROJECTION_OF = {
    "q_proj": ("q",), "k_proj": ("k",), "v_proj": ("v",), "o_proj": ("o",),
    **dict.fromkeys(("qkv_proj", "c_attn", "W_pack", "query_key_value", "wqkv", "Wqkv"), ("q", "k", "v")),
    **dict.fromkeys(("c_proj", "dense", "wo", "out_proj"), ("o",)),
    "q_a_proj": ("q_down",), "q_b_proj": ("q_up",), "kv_a_proj_with_mqa": ("kv_down",), "kv_b_proj": ("kv_up",),
    "indexer.wq_b": ("index_q",), "indexer.wk": ("index_k",),
    "index_q_proj": ("index_q",), "index_k_proj": ("index_k",),
    "g_proj": ("g",), "wq": ("q_up",),
}
# Step-3's q_proj is its low-rank query's down projection (Step3TextAttention: q_proj d -> share_q_dim, wq up)
STEP3_PROJECTIONS = ATTN_PROJECTION_OF | {"q_proj": ("q_down",)}


def _projections_of(name: str, mt: str = "") -> tuple[str, ...]:
    """The projections module ``name`` (``model.layers.3.self_attn.o_proj``) holds (:data:`ATTN_PROJECTION_OF`; Step-3's
    own names: :data:`STEP3_PROJECTIONS`)."""
    table = STEP3_PROJECTIONS if mt == "step3_text" else ATTN_PROJECTION_OF
    for tail in sorted(table, key=len, reverse=True):
        if name.endswith("." + tail):
            return table[tail]
    return ()


def _kept_attention(mt: str, spec: dict, names: dict, hit: list[str]) -> list[str]:
    """The attention projections an ignore list keeps unquantized while the rest of the attention is quantized,
    as :attr:`mlacalc.spec.Quantization.unquantized` takes them: a projection is kept when the list covers it on
    every softmax-attention layer that holds it (MiMo-V2-Flash's fp8 release: o_proj of all 48 layers).

    Refused in one line: a projection covered on some layers only (weights and roofline price a block's projection
    at one width in every layer of the block; per-layer widths are not modelled, and no release seen needs them), a
    covered linear-attention projection (Qwen3-Next's ``linear_attn`` kept in bf16: a linear block priced apart from
    the softmax attention is not modelled), and MTP modules beside kept projections (an MTP module is priced at one
    width whole)."""
    linear = set(names.get("_linear", ()))
    if any(n in linear for n in hit):
        raise _refuse(mt, f"quantization_config leaves part of the attention unquantized ({hit[0]}): linear-attention "
                          "projections kept apart from the rest of the attention are not modelled")
    covered = set(hit)
    holders: dict[str, list[str]] = {}
    for n in names["attention"]:
        if n in linear:
            continue
        projs = _projections_of(n, mt)
        if not projs:
            raise _refuse(mt, f"quantization_config leaves part of the attention unquantized ({hit[0]}); "
                              "a partly quantized component is not modelled")
        for p in projs:
            holders.setdefault(p, []).append(n)
    kept = []
    for p, ns in holders.items():
        on = [n for n in ns if n in covered]
        if on and len(on) < len(ns):
            off = next(n for n in ns if n not in covered)
            raise _refuse(mt, f"quantization_config leaves part of the attention unquantized ({on[0]}), not {off}: "
                              "a projection at two widths over the layers is not modelled")
        if on:
            kept.append(p)
    if spec.get("mtp_layers"):
        raise _refuse(mt, f"quantization_config leaves part of the attention unquantized ({hit[0]}) beside "
                          f"{spec['mtp_layers']} MTP modules, priced at one width whole: not modelled")
    return kept


def _quantized(mt: str, spec: dict, candidates: tuple[str, ...], ignore: list | None,
               layout: Layout = Layout()) -> dict:
    """``components``: the candidate components no ignore pattern covers; ``unquantized`` (where any): the attention
    projections the patterns keep unquantized on every layer while the rest of the attention is quantized
    (:func:`_kept_attention`). A pattern that covers part of another component is refused: a component is priced at
    one width."""
    names = _module_names(spec, mt, layout)
    out, kept = [], []
    for c in candidates:
        if c not in names:
            continue
        hit = [n for n in names[c] if any(_matches(str(p), n) for p in ignore or [])]
        if hit and len(hit) < len(names[c]):
            if c != "attention":
                raise _refuse(mt, f"quantization_config leaves part of the {c} unquantized ({hit[0]}); "
                                  "a partly quantized component is not modelled")
            kept, hit = _kept_attention(mt, spec, names, hit), []
        if not hit:
            out.append(c)
    if "mtp" in candidates and spec.get("mtp_layers") and {"attention", "routed_experts"} <= set(out):
        out.append("mtp")           # the MTP module is a decoder layer: quantized like them
    return {"components": out} | ({"unquantized": kept} if kept else {})


LINEAR = ("attention", "dense_ffn", "shared_experts", "routed_experts", "latent_proj", "mtp")


def quantization(cfg: dict, spec: dict, mt: str, layout: Layout = Layout()) -> dict | None:
    """The spec's ``quantization`` block for a ``quantization_config`` (None without one).

    - ``fp8`` (DeepSeek-V3/V3.2, Kimi-K2): e4m3 values; ``weight_block_size [128, 128]`` -> one fp32 scale
      (``weight_scale_inv``) per 16384 values; every Linear of the decoder layers (and the MTP module), embedding,
      head, router and norms in bf16 (DeepSeek-V3 report, section 3.3.1).
    - ``mxfp4`` (gpt-oss): e2m1 4-bit values with one e8m0 scale per 32; every Linear but
      ``modules_to_not_convert`` (gpt-oss: attention, router, embedding, head), i.e. the experts.
    - ``compressed-tensors``: ``config_groups.*.weights`` (``num_bits``, ``type``, ``strategy``, ``group_size``,
      ``symmetric``) on the Linear layers not in ``ignore`` (regexes like ``re:.*self_attn.*``); int scales in the
      model dtype (bf16), an asymmetric zero point at ``num_bits``. Kimi-K2-Thinking: int4, group 32, routed
      experts only. NVFP4 (``type: float``, 4 bits, ``strategy: tensor_group``, ``group_size: 16``): e2m1 values,
      one e4m3 scale per 16 (4.5 bits a weight; the per-tensor fp32 global scale is not counted).
    - ``modelopt`` (NVIDIA ModelOpt, TensorRT Model Optimizer): :func:`_modelopt`.
    - ``awq``/``gptq``: ``bits`` and ``group_size``, an fp16 scale and a packed zero point of ``bits`` per group
      (GPTQ stores zeros even when symmetric), on every Linear of the decoder layers, and on the output head with
      ``lm_head: true``; GPTQ's ``dynamic`` ``-:`` rules leave their modules unquantized
      (:func:`_gptq_dynamic_skips`).

    The router stays at 16 bits unless a config quantizes it explicitly; per-channel or per-tensor scales
    (``group_size`` none) are not counted.

    - ``modelopt`` (NVIDIA ModelOpt, in config.json or ``hf_quant_config.json``): :func:`_modelopt`."""
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        return None
    q = _checked_quant(q, mt)
    method = str(q.get("quant_method", "")).lower()
    if method == "fp8":
        block = q.get("weight_block_size")
        group = block[0] * block[1] if block else None
        comps = _quantized(mt, spec, LINEAR, q.get("modules_to_not_convert") or q.get("ignored_layers"), layout)
        return {"method": "fp8-block" if group else "fp8", "bits": 8, "group_size": group, "scale_bits": 32,
                **comps}
    if method == "mxfp4":
        comps = _quantized(mt, spec, LINEAR, q.get("modules_to_not_convert"), layout)
        return {"method": "mxfp4", "bits": 4, "group_size": 32, "scale_bits": 8, **comps}
    if method == "compressed-tensors":
        return _compressed_tensors(q, spec, mt, layout)
    if _is_modelopt(q):
        return _modelopt(q, spec, mt, layout)
    if method in ("awq", "gptq"):
        bits = _req(q, mt, "bits", "w_bit")
        group = q.get("group_size", q.get("q_group_size", 128))
        if group is None:
            # read as per channel; vLLM's GPTQConfig and AWQConfig take the null as the group size and divide by it
            key = "group_size" if "group_size" in q else "q_group_size"
            raise SpecError(WHERE, f"model_type {mt}: quantization_config.{key} is null; -1 is per channel, or "
                                   "leave the key out for 128")
        if group > 0:
            # vLLM's GPTQ and AWQ linear methods refuse an input width (per TP rank) that the group does not divide
            # (gptq.py: "The input size is not aligned with the quantized weight shape"), and no quantizer writes one
            for name, width in _mlx_widths(spec):
                if width % group:
                    raise _refuse(mt, f"{method} quantization in groups of {group}: the {name} ({width}) is not a "
                                      "multiple, which no engine loads")
        zero = bits if method == "gptq" or q.get("zero_point", True) else 0
        # lm_head: true (GPTQModel, AutoRound) quantizes the output head like the layers: vLLM's GPTQ and AWQ configs
        # read it (lm_head_quantized = get_from_keys_or(config, ["lm_head"], default=False)); it was ignored, the
        # head priced at 16 bits
        candidates = LINEAR + (("head",) if q.get("lm_head") else ())
        skip = (q.get("modules_to_not_convert") or []) + _gptq_dynamic_skips(q, spec, mt, bits, group, layout)
        comps = _quantized(mt, spec, candidates, skip, layout)
        return {"method": method, "bits": bits, "group_size": group if group and group > 0 else None,
                "scale_bits": 16, "zero_point_bits": zero, **comps}
    raise _refuse(mt, f"quantization_config quant_method {method or '(none)'} is not modelled")


def _is_modelopt(q: Any) -> bool:
    """Whether a quantization config is NVIDIA ModelOpt's: ``quant_method`` modelopt/modelopt_fp4, or the ``producer``
    mark of ``hf_quant_config.json`` (also when copied into config.json)."""
    if not isinstance(q, dict):
        return False
    producer = q.get("producer")
    return str(q.get("quant_method", "")).lower().startswith("modelopt") or \
        (isinstance(producer, dict) and producer.get("name") == "modelopt")


def _gptq_dynamic_skips(q: dict, spec: dict, mt: str, bits: int, group: int | None,
                        layout: Layout = Layout()) -> list[str]:
    """The modules a GPTQ ``dynamic`` block leaves unquantized, as ignore patterns (``re:`` regexes).

    GPTQModel (and AutoRound's GPTQ export) write ``dynamic``: a mapping of module-name regexes to overrides. vLLM
    (``gptq_utils.get_dynamic_override``) tests each against a layer's name with ``re.match``: a ``-:`` key leaves
    the matching modules unquantized (Intel's AutoRound Qwen3-Next and Qwen3.5 int4: ``-:.*attn.*`` keeps every
    attention and linear-attention projection in bf16), a ``+:`` (or bare) key overrides ``bits``/``group_size``
    for them. The block was ignored: every module was priced at the top-level bits. A positive rule that changes
    the width of a module this tool prices is refused (a component is priced at one width)."""
    dyn = q.get("dynamic")
    if dyn is None:
        return []
    if not isinstance(dyn, dict) or not all(_name(k) for k in dyn):
        raise SpecError(WHERE, f"model_type {mt}: quantization_config.dynamic must be a mapping of module "
                               f"patterns, got {_show(dyn)}")
    skips = []
    names = [n for ns in _module_names(spec, mt, layout).values() for n in ns]
    for key, rule in dyn.items():
        try:
            pattern = re.compile(key.removeprefix("-:").removeprefix("+:"))
        except re.error:
            raise SpecError(WHERE, f"model_type {mt}: quantization_config.dynamic key {_show(key)} is not a "
                                   "regular expression") from None
        if key.startswith("-:"):
            skips.append("re:" + pattern.pattern)
            continue
        if not isinstance(rule, dict):
            continue
        same = rule.get("bits", bits) == bits and rule.get("group_size", group) == group
        hit = next((n for n in names if pattern.match(n)), None)
        if not same and hit is not None:
            raise _refuse(mt, f"quantization_config.dynamic gives {hit} {rule.get('bits', bits)} bits in groups of "
                              f"{rule.get('group_size', group)}: a component is priced at one width")
    return skips


def _checked_quant(q: dict, mt: str) -> dict:
    """``q`` with its sizes whole numbers (``bits``, ``group_size``: -1 is GPTQ's per channel) and its name lists
    lists of names, or one line naming the key."""
    for key in ("bits", "w_bit", "group_size", "q_group_size"):
        v = q.get(key)
        if v is not None and not _whole(v, -1):
            raise SpecError(WHERE, f"model_type {mt}: quantization_config.{key} must be a whole number, "
                                   f"got {_show(v)}")
    for key in ("group_size", "q_group_size"):
        if q.get(key) == 0:
            # read as per channel, GPTQ's -1; vLLM's GPTQ and AWQ configs divide each input width by it
            # (gptq.py: input_size_per_partition % group_size), so no engine loads such a file
            raise SpecError(WHERE, f"model_type {mt}: quantization_config.{key} must be -1 (per channel) or at least "
                                   f"1, got 0")
    for key in ("zero_point", "lm_head"):
        if q.get(key) is not None and not isinstance(q[key], bool):
            # "false" was truthy: an asymmetric zero point counted for a symmetric AWQ checkpoint
            raise SpecError(WHERE, f"model_type {mt}: quantization_config.{key} must be true or false, "
                                   f"got {_show(q[key])}")
    block = q.get("weight_block_size")
    if block is not None and not _pair(block):
        raise SpecError(WHERE, f"model_type {mt}: quantization_config.weight_block_size must be two whole numbers, "
                               f"got {_show(block)}")
    for key in ("modules_to_not_convert", "ignored_layers", "ignore", "exclude_modules"):
        v = q.get(key)
        if v is not None and (not isinstance(v, list) or not all(_name(x) for x in v)):
            raise SpecError(WHERE, f"model_type {mt}: quantization_config.{key} must be a list of names, "
                                   f"got {_show(v)}")
    groups = q.get("config_groups")
    if groups is not None and not isinstance(groups, dict):
        raise SpecError(WHERE, f"model_type {mt}: quantization_config.config_groups must be a mapping, "
                               f"got {_show(groups)}")
    return q


def _compressed_tensors(q: dict, spec: dict, mt: str, layout: Layout = Layout()) -> dict:
    groups = [g for g in (q.get("config_groups") or {}).values() if isinstance(g, dict)]
    weights = [g.get("weights") for g in groups if g.get("weights")]
    if not weights or any(w != weights[0] for w in weights):
        raise _refuse(mt, "compressed-tensors config_groups with different weight schemes are not modelled")
    if any(not isinstance(g.get("targets"), list) or "Linear" not in g["targets"] for g in groups):
        raise _refuse(mt, "compressed-tensors targets other than Linear layers are not modelled")
    w = weights[0]
    if not isinstance(w, dict):
        raise SpecError(WHERE, f"model_type {mt}: compressed-tensors weights must be a mapping, got {_show(w)}")
    bits, kind, strategy = _req(w, mt, "num_bits"), str(w.get("type", "int")), _ct_strategy(w, mt)
    group = None
    if strategy in ("group", "tensor_group"):
        # tensor_group (NVFP4, llm-compressor): one e4m3 scale per group_size (16) values, plus one fp32 global scale
        # per tensor (not counted: a few bytes a matrix)
        group = _req(w, mt, "group_size")
        if not _whole(group, 1):   # was refused by the spec as quantization.group_size, the file and key unnamed
            raise SpecError(WHERE, f"model_type {mt}: compressed-tensors weights.group_size must be a whole number "
                                   f"of at least 1 with strategy {strategy}, got {_show(group)}")
    elif strategy == "block":
        b = _req(w, mt, "block_structure")
        if not _pair(b):
            raise SpecError(WHERE, f"model_type {mt}: block_structure must be two whole numbers, got {_show(b)}")
        group = b[0] * b[1]
    if kind == "int" and bits in (4, 8):
        method, scale = f"int{bits}", 16
    elif kind == "float" and bits == 8:
        method, scale = ("fp8-block" if strategy == "block" else "fp8"), 32
    elif kind == "float" and bits == 4:
        method, scale = "nvfp4", 8
    else:
        raise _refuse(mt, f"compressed-tensors {kind} weights of {bits} bits are not modelled")
    if "symmetric" in w and not isinstance(w["symmetric"], bool):
        # null included: it counted an asymmetric zero point, where compressed-tensors' QuantizationArgs (pydantic,
        # symmetric: bool = True) refuses None and a key left out is symmetric
        # "false" was truthy: a symmetric scheme, no zero point counted
        raise SpecError(WHERE, f"model_type {mt}: compressed-tensors weights.symmetric must be true or false, "
                               f"got {_show(w['symmetric'])}")
    zero = 0 if w.get("symmetric", True) else bits
    comps = _quantized(mt, spec, LINEAR + ("head",), q.get("ignore"), layout)
    return {"method": method, "bits": bits, "group_size": group, "scale_bits": scale, "zero_point_bits": zero,
            **comps}


# compressed-tensors' QuantizationStrategy values a weight scheme may take
CT_STRATEGIES = ("tensor", "channel", "group", "tensor_group", "block")


def _modelopt_block(q: dict) -> dict:
    """The mapping that holds a ModelOpt config's keys: ``quantization`` in ``hf_quant_config.json`` (and a
    config.json that copied it), else the ``quantization_config`` itself (vLLM ``get_kv_cache_quant_algo_string``:
    ``quant_cfg.get("quantization", quant_cfg)``)."""
    inner = q.get("quantization")
    return inner if isinstance(inner, dict) else q


# ModelOpt's quant_algo values vLLM serves (vllm/model_executor/layers/quantization/modelopt.py: ModelOptFp8Config
# takes FP8, FP8_PER_CHANNEL_PER_TOKEN, FP8_PB_WO; ModelOptNvFp4Config NVFP4) -> (method, bits, group_size, scale_bits):
# FP8 e4m3 weights with one fp32 scale per tensor (ModelOptFp8LinearMethod) or per output channel
# (ModelOptFp8PcPtLinearMethod): neither counted, as for the other per-tensor and per-channel schemes; FP8_PB_WO one
# fp32 scale per 128 x 128 block (ModelOptFp8PbWoLinearMethod); NVFP4 e2m1 values with one e4m3 scale per 16
# (ModelOptNvFp4LinearMethod: weight_scale float8_e4m3fn, in/16 a row; the fp32 weight_scale_2 and input_scale per
# tensor not counted)
MODELOPT_ALGOS = {"FP8": ("fp8", 8, None, 32), "FP8_PER_CHANNEL_PER_TOKEN": ("fp8", 8, None, 32),
                  "FP8_PB_WO": ("fp8-block", 8, 128 * 128, 32), "NVFP4": ("nvfp4", 4, 16, 8)}


def _modelopt(q: dict, spec: dict, mt: str, layout: Layout = Layout()) -> dict:
    """The spec's ``quantization`` block for an NVIDIA ModelOpt checkpoint (``quant_method: modelopt``, which ModelOpt
    0.31+ writes into config.json with an ``ignore`` list, or the ``hf_quant_config.json`` of ModelOpt 0.29 and
    before with ``exclude_modules``, :func:`spec_dict_from_hf_config`), ``quant_algo`` as vLLM reads it
    (:data:`MODELOPT_ALGOS`; lowercase accepted, as vLLM's "ModelOpt may emit lowercase"). Every Linear of the decoder
    layers but the listed modules (globs such as ``model.layers.0.self_attn*``; ``lm_head`` in every export) is
    quantized; the router stays at 16 bits unless listed, as for the other methods. Other algorithms
    (``MIXED_PRECISION``'s per-layer formats, ``W4A8_AWQ``, ``INT4_AWQ``, ...) are refused in one line."""
    if "quantization" in q and not isinstance(q["quantization"], dict):
        raise SpecError(WHERE, f"model_type {mt}: quantization_config.quantization must be a mapping (ModelOpt's "
                               f"quant_algo, group_size, exclude_modules), got {_show(q['quantization'])}")
    inner = _modelopt_block(q)
    algo = inner.get("quant_algo")
    exclude = next((v for v in (inner.get("exclude_modules"), inner.get("ignore"), q.get("exclude_modules"),
                                q.get("ignore")) if v is not None), None)
    if exclude is not None and (not isinstance(exclude, list) or not all(_name(x) for x in exclude)):
        raise SpecError(WHERE, f"model_type {mt}: ModelOpt exclude_modules must be a list of names, got "
                               f"{_show(exclude)}")
    if algo is None:
        raise SpecError(WHERE, f"model_type {mt}: the ModelOpt quantization config has no quant_algo")
    if not _name(algo):
        raise SpecError(WHERE, f"model_type {mt}: ModelOpt quant_algo must be a name, got {_show(algo)}")
    if algo.upper() == "MIXED_PRECISION":
        raise _refuse(mt, f"ModelOpt quant_algo {_show(algo)} (a scheme per layer, quantized_layers) is not modelled")
    if algo.upper() not in MODELOPT_ALGOS:
        raise _refuse(mt, f"ModelOpt quant_algo {_show(algo)} is not modelled (read: {', '.join(MODELOPT_ALGOS)})")
    method, bits, group, scale = MODELOPT_ALGOS[algo.upper()]
    if method == "nvfp4" and inner.get("group_size", 16) != 16:
        raise SpecError(WHERE, f"model_type {mt}: ModelOpt NVFP4 scales one group of 16 values (an e4m3 scale per "
                               f"16), got group_size {_show(inner['group_size'])}")
    return {"method": method, "bits": bits, "group_size": group, "scale_bits": scale,
            **_quantized(mt, spec, LINEAR, exclude, layout)}


# ---------------------------------------------------------------------------------------------------------
# KV cache: the dtype the checkpoint declares, as vLLM's --kv-cache-dtype auto takes it
# ---------------------------------------------------------------------------------------------------------

# ModelOpt kv_cache_quant_algo -> the KV dtype (vllm/utils/torch_utils.py MODELOPT_TO_VLLM_KV_CACHE_DTYPE_MAP:
# fp8 -> fp8_e4m3, nvfp4 -> nvfp4, mixed_precision -> auto); any other value vLLM serves at "auto", the model dtype
MODELOPT_KV = {"fp8": "fp8", "nvfp4": "nvfp4", "mixed_precision": None}
# compressed-tensors kv_cache_scheme strategies vLLM serves (CompressedTensorsKVCacheMethod.validate_kv_cache_scheme):
# one scale per tensor, or per attention head (k/v_scale of num_kv_heads values a layer): no bytes per token either way
CT_KV_STRATEGIES = ("tensor", "attn_head")


def kv_cache_dtype(q: Any, attention_kind: str, mt: str) -> str | None:
    """The KV-cache dtype a checkpoint's quantization config declares (None: none, the model's dtype), as vLLM serves
    it under ``--kv-cache-dtype auto``; the spec's ``dtypes.kv`` takes it, and ``--kv-dtype`` overrides it.

    - compressed-tensors ``kv_cache_scheme`` (llm-compressor, RedHatAI/neuralmagic ``-FP8-KV`` checkpoints): vLLM's
      ``Attention`` turns an ``auto`` cache to ``fp8`` whenever the scheme is present
      (``vllm/model_executor/layers/attention/attention.py``); ``CompressedTensorsKVCacheMethod`` takes 8-bit float,
      symmetric, ``strategy`` ``tensor`` (one k/v scale a layer) or ``attn_head`` (one per KV head a layer): flat fp8,
      no scale bytes per token. Any other scheme (int, 4 bits, per channel or token, asymmetric) vLLM refuses, and so
      is it here, in one line.
    - ModelOpt (``quant_method`` ``modelopt``/``modelopt_fp4``, or ``hf_quant_config.json``): ``kv_cache_scheme`` or
      ``kv_cache_quant_algo`` (vLLM ``get_kv_cache_quant_algo_string``, in that order): ``FP8`` (or a dict of 8-bit
      float, ``dynamic: false``) is fp8; ``NVFP4`` (or 4-bit float) vLLM's NVFP4 cache (:mod:`mlacalc.attention.quant`,
      refused for MLA models as vLLM refuses it); anything else vLLM serves at the model dtype (``auto``).
    - other methods (``fp8`` with AutoFP8's ``kv_cache_scheme: "static"``, AWQ, GPTQ, MXFP4): none; their KV scales
      take effect only under ``--kv-cache-dtype fp8`` (neuralmagic's model cards say so), which ``--kv-dtype fp8``
      prices.

    On DSA (DeepSeek-V3.2), vLLM stores an fp8 cache as FlashMLA's ``fp8_ds_mla`` rows
    (``DeepseekV32ForCausalLM.verify_and_update_config``: any fp8 cache dtype becomes ``fp8_ds_mla``): ``fp8-ds``."""
    if not isinstance(q, dict):
        return None
    method = str(q.get("quant_method") or "").lower()
    kv = None
    if method == "compressed-tensors":
        kv = _ct_kv(q.get("kv_cache_scheme"), mt)
    elif _is_modelopt(q):         # quant_method modelopt*, or the producer mark of a copied hf_quant_config.json
        inner = _modelopt_block(q)
        algo = (inner.get("kv_cache_scheme") or q.get("kv_cache_scheme") or inner.get("kv_cache_quant_algo")
                or q.get("kv_cache_quant_algo"))
        if isinstance(algo, dict):
            fp8 = algo.get("dynamic") is False and algo.get("num_bits") == 8 and algo.get("type") == "float"
            kv = "fp8" if fp8 else "nvfp4" if algo.get("num_bits") == 4 and algo.get("type") == "float" else None
        elif _name(algo):
            kv = MODELOPT_KV.get(algo.lower())
        elif algo is not None:
            raise SpecError(WHERE, f"model_type {mt}: ModelOpt kv_cache_quant_algo must be a name, got {_show(algo)}")
    if kv == "nvfp4" and attention_kind in ("mla", "dsa"):
        raise _refuse(mt, "an NVFP4 KV cache (kv_cache_quant_algo) on MLA: vLLM refuses it for MLA models "
                          "(validate_nvfp4_kv_cache_with_mla)")
    if kv == "fp8" and attention_kind == "dsa":
        return "fp8-ds"
    return kv


def _ct_kv(scheme: Any, mt: str) -> str | None:
    """fp8 for a compressed-tensors ``kv_cache_scheme`` vLLM serves (see :func:`kv_cache_dtype`), None for none."""
    if scheme is None:
        return None
    if not isinstance(scheme, dict):
        raise SpecError(WHERE, f"model_type {mt}: compressed-tensors kv_cache_scheme must be a mapping or null, "
                               f"got {_show(scheme)}")
    # QuantizationArgs' defaults: type int, symmetric true, strategy tensor when no group_size
    kind, bits, sym = scheme.get("type", "int"), scheme.get("num_bits"), scheme.get("symmetric", True)
    strategy = scheme.get("strategy") or "tensor"
    if kind != "float" or bits != 8 or sym is not True or strategy not in CT_KV_STRATEGIES:
        raise _refuse(mt, f"compressed-tensors kv_cache_scheme of {_show(kind)} {_show(bits)}-bit values, strategy "
                          f"{_show(strategy)}, symmetric {_show(sym)}: vLLM serves an 8-bit float, symmetric scheme "
                          f"per tensor or per attention head only")
    return "fp8"


def _ct_strategy(w: dict, mt: str) -> str:
    """A compressed-tensors weight scheme's ``strategy``; none given is inferred as QuantizationArgs does (a
    ``group_size`` above 0: group; -1: channel; none: tensor). Any other value is refused: an unknown one (or
    NaN) was read as per-tensor, and the group's scales went uncounted."""
    strategy = w.get("strategy")
    if strategy is None:
        g = w.get("group_size")
        return "group" if _whole(g, 1) else "channel" if g == -1 else "tensor"
    if not _name(strategy) or strategy not in CT_STRATEGIES:
        raise SpecError(WHERE, f"model_type {mt}: compressed-tensors weights.strategy must be one of "
                               f"{', '.join(CT_STRATEGIES)}, got {_show(strategy)}")
    return strategy


# ---------------------------------------------------------------------------------------------------------
# MLX: mlx_lm's top-level quantization block -> the spec's quantization block
# ---------------------------------------------------------------------------------------------------------

# mlx.core.quantize's modes (mlx python/mlx/nn/layers/quantized.py, _defaults_for_mode; the mlx.core.quantize
# documentation's table): the spec's method, the bits of each group's scale and of its bias (0: none)
MLX_MODES = {"affine": ("affine", None, None),     # scale and bias in the model's dtype: 16 bits (see below)
             "mxfp4": ("mxfp4", 8, 0),             # e2m1 values, an e8m0 scale per 32, no bias
             "nvfp4": ("nvfp4", 8, 0),             # e2m1 values, an e4m3 scale per 16, no bias
             "mxfp8": ("mxfp8", 8, 0)}             # e4m3 values, an e8m0 scale per 32, no bias
# the top-level keys of the block that are not per-module entries
MLX_KEYS = ("group_size", "bits", "mode")
# the last names of a module path that are an MoE router (mlx_lm's quant_predicate keeps them at 8 bits:
# qwen3_moe, qwen2_moe's mlp.gate and mlp.shared_expert_gate; mixtral's block_sparse_moe.gate)
MLX_ROUTERS = ("mlp.gate", "mlp.router", "block_sparse_moe.gate", "feed_forward.router", "shared_expert_gate")


def _mlx_block(cfg: dict) -> dict | None:
    """mlx_lm's ``quantization`` block where the config has one (None without), or one line.

    ``mlx_lm.convert`` (mlx_lm/utils.py ``quantize_model``, ``save_config``) writes ``quantization`` = ``{group_size,
    bits[, mode]}`` plus per-module entries, and since mlx-lm PR #957 copies it whole to ``quantization_config`` (no
    ``quant_method``) for the Hub's model tree. A ``quantization_config`` that names a ``quant_method`` beside an MLX
    block is a different scheme: which one the tensors follow cannot be told, so it is refused."""
    q = cfg.get("quantization")
    if q is None:
        return None
    if not isinstance(q, dict):
        raise SpecError(WHERE, f"quantization (MLX's) must be a mapping, got {_show(q)}")
    qc = cfg.get("quantization_config")
    if isinstance(qc, dict) and qc.get("quant_method") is not None:
        raise SpecError(WHERE, "quantization (MLX's) beside a quantization_config with quant_method "
                               f"{_show(qc['quant_method'])}: which one the weights follow is not known")
    return q


def _mlx_params(value: Any, where: str, top: tuple | None = None) -> tuple:
    """(bits, group_size, mode) of MLX quantization parameters, or one line naming ``where``."""
    if not isinstance(value, dict):
        raise SpecError(WHERE, f"{where} must be a mapping of group_size, bits and mode, or true/false, "
                               f"got {_show(value)}")
    mode = value.get("mode", "affine")
    if not _name(mode) or mode not in MLX_MODES:
        raise SpecError(WHERE, f"{where}.mode must be one of {', '.join(MLX_MODES)}, got {_show(mode)}")
    out = []
    for key in ("bits", "group_size"):
        v = value.get(key, top[("bits", "group_size").index(key)] if top else None)
        if v is None:
            raise SpecError(WHERE, f"{where} has no {key}")
        if not _whole(v, 1) or (key == "bits" and v > 8):
            raise SpecError(WHERE, f"{where}.{key} must be a whole number"
                                   f"{' from 1 to 8' if key == 'bits' else ' of at least 1'}, got {_show(v)}")
        out.append(v)
    return out[0], out[1], mode


def _mlx_widths(spec: dict) -> list[tuple[str, int]]:
    """The input widths of the model's matrices (mx.quantize groups the last axis, the input): mlx_lm quantizes a
    Linear or Embedding only when its input width is a multiple of group_size, and leaves the others as they were;
    AWQ and GPTQ group the same axis (:func:`quantization` refuses a group that does not divide one)."""
    a, f = spec["attention"], spec["ffn"]
    out = [("hidden_size", spec["hidden_size"])]
    if a["kind"] in ("mla", "dsa"):
        out += [("kv_lora_rank", a["kv_lora_rank"]), ("num_heads x v_head_dim", a["num_heads"] * a["v_head_dim"])]
    else:
        out.append(("num_heads x head_dim", a["num_heads"] * a["v_head_dim"]))
    if a.get("q_lora_rank"):                 # MLA's q_b_proj, Step-3's wq: input the query's rank
        out.append(("q_lora_rank", a["q_lora_rank"]))
    if f["kind"] == "dense" or f.get("first_dense_layers") or f.get("last_dense_layers") or \
            f.get("moe_layer_step", 1) > 1:
        out.append(("intermediate_size", f["intermediate_size"]))
    if f["kind"] == "moe":
        out.append(("expert width", f["expert_intermediate_size"]))
        if f.get("expert_latent_size") is not None:     # the experts' up_proj and fc2_latent_proj read the latent
            out.append(("expert latent width", f["expert_latent_size"]))
        if f.get("num_shared_experts"):
            out.append(("shared expert width", f.get("shared_expert_intermediate_size") or
                        f["expert_intermediate_size"] * f["num_shared_experts"]))
    lin = spec.get("linear_attention")
    if lin:
        out.append(("linear attention value width", lin["num_v_heads"] * lin["head_v_dim"]))
    return out


def mlx_quantization(q: dict, cfg: dict, spec: dict, mt: str) -> dict:
    """The spec's ``quantization`` block for mlx_lm's top-level ``quantization`` (``mlx_lm.convert -q``).

    - ``affine`` (the default mode, mlx.core.quantize): ``bits`` per value (2 to 8) and, per ``group_size`` values
      along the input axis, one scale and one bias in the model's dtype (mlx documentation: "scale type: same as
      input"; mlx_lm.convert casts to ``torch_dtype``): ``bits + 2 x 16 / group_size`` bits a weight, 4.5 at 4 bits
      in groups of 64. A ``float32`` ``torch_dtype`` is refused: older mlx_lm's ``--dtype`` defaulted to float16, the
      current one keeps float32 scales, and the config does not say which (4.5 or 5 bits a weight).
    - ``mxfp4``/``nvfp4``/``mxfp8``: e2m1 or e4m3 values, one 8-bit scale per 32 (16 for nvfp4), no bias.

    ``nn.quantize`` quantizes every module with ``to_quantized``: each Linear and the Embedding (a tied head is
    the quantized embedding), so embedding, head, attention, MLPs, experts (SwitchLinear) and the router; norms
    never. A matrix whose input width is not a multiple of ``group_size`` stays unquantized (``quantize_model``'s
    predicate): refused here, a component is priced at one width.

    Per-module entries (``"model.layers.0.mlp.gate": {"group_size": 64, "bits": 8}``, from a model's
    ``quant_predicate`` or a mixed recipe): the same parameters as the block, or true, change nothing; an MoE router
    (:data:`MLX_ROUTERS`) at other bits (mlx_lm keeps Qwen-MoE's routers at 8) or false is priced at 16 bits, i.e.
    left out of the components (at most 16 - 8.5 bits too many on d x E weights a layer, under 0.1% of an MoE
    model); any other module at other bits (``mixed_3_6``'s 6-bit down_proj and v_proj, a 6-bit lm_head) is refused:
    the spec prices a component at one width."""
    top = _mlx_params({k: q[k] for k in MLX_KEYS if k in q}, "quantization")
    bits, group, mode = top
    method, scale, zero = MLX_MODES[mode]
    if mode == "affine":
        dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16").replace("torch.", "")
        if dtype == "float32":
            raise _refuse(mt, "MLX affine quantization of a float32 checkpoint: its scales and biases are float16 "
                              "or float32 by mlx_lm's version, which the config does not say")
        scale = zero = 16
    elif (bits, group) != {"mxfp4": (4, 32), "nvfp4": (4, 16), "mxfp8": (8, 32)}[mode]:
        raise _refuse(mt, f"MLX {mode} quantization at {bits} bits in groups of {group} is not modelled")
    names = _module_names(spec, mt)
    comps = [c for c in ("embed", "attention", "dense_ffn", "router", "shared_experts", "routed_experts", "latent_proj",
                         "head")
             if c in names and not (c == "head" and spec["tie_word_embeddings"])]
    for path, value in q.items():
        if path in MLX_KEYS:
            continue
        same = value is True or (isinstance(value, dict) and _mlx_params(value, f"quantization.{path}", top) == top)
        if same:
            continue
        if value is not False:
            _mlx_params(value, f"quantization.{path}", top)       # checked: a bad entry is one line
        if _name(path) and any(path == r or path.endswith("." + r) for r in MLX_ROUTERS):
            comps = [c for c in comps if c != "router"]
            continue
        what = "left unquantized" if value is False else "at {} bits in groups of {}".format(
            *_mlx_params(value, "", top)[:2])
        raise _refuse(mt, f"MLX per-module quantization ({_show(path)} {what}) is not modelled: "
                          "a component is priced at one width")
    for name, width in _mlx_widths(spec):
        if width % group:
            raise _refuse(mt, f"MLX quantization in groups of {group}: the {name} ({width}) is not a multiple, "
                              "so mlx_lm left those matrices unquantized; a partly quantized model is not modelled")
    if spec.get("mtp_layers"):
        comps.append("mtp")
    return {"method": method, "bits": bits, "group_size": group, "scale_bits": scale, "zero_point_bits": zero,
            "components": comps}


_DTYPE_NAMES = {"float32": "bf16", "bfloat16": "bf16", "float16": "fp16"}   # fp32 checkpoints serve at 16 bits
_STATE_DTYPES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "auto": None}


def _ssm_cache_dtype(cfg: dict, mt: str) -> str | None:
    """The dtype vLLM keeps Nemotron-H's SSM state in: its config hook (``NemotronHForCausalLMConfig.
    update_mamba_ssm_cache_dtype``) takes the config's ``mamba_ssm_cache_dtype``, else float32 ("only float32 is
    known to have no accuracy issues"); ``auto`` leaves it at the model dtype (none: ``dtypes.state``)."""
    name = cfg.get("mamba_ssm_cache_dtype")
    if not isinstance(name, str) or name.replace("torch.", "") not in _STATE_DTYPES:
        raise SpecError(WHERE, f"model_type {mt}: mamba_ssm_cache_dtype {_show(name)} is not one of "
                               f"{', '.join(_STATE_DTYPES)}")
    return _STATE_DTYPES[name.replace("torch.", "")]


def _qwen3_5_ssm_dtype(cfg: dict, mt: str) -> str | None:
    """The dtype vLLM keeps Qwen3.5's DeltaNet state in: its config hook (``vllm/model_executor/models/config.py``
    ``Qwen3_5ForConditionalGenerationConfig``) sets ``mamba_ssm_cache_dtype`` from the text config's
    ``mamba_ssm_dtype`` (float32 in the released configs; ``auto``: the model dtype, none here); SGLang reads the same
    key (``mamba2_state_dtype``). vLLM's start-up logs show it: Qwen3.5-0.8B's 544-token blocks hold a float32 state
    (1,085,440 B a layer), not a bf16 one (561,152 B: 288-token blocks)."""
    name = cfg.get("mamba_ssm_dtype")
    if not isinstance(name, str) or name.replace("torch.", "") not in _STATE_DTYPES:
        raise SpecError(WHERE, f"model_type {mt}: mamba_ssm_dtype {_show(name)} is not one of "
                               f"{', '.join(_STATE_DTYPES)}")
    return _STATE_DTYPES[name.replace("torch.", "")]


def _weight_dtype(cfg: dict, quant: dict | None, spec: dict) -> str:
    """The dtype of the matrices: the quantized one when every matrix of the decoder layers is quantized
    (DeepSeek-V3's fp8, AWQ int4), else the checkpoint's ``torch_dtype`` (fp32 served as bf16)."""
    if quant:
        present = {"attention"} | ({"routed_experts"} if spec["ffn"]["kind"] == "moe" else {"dense_ffn"})
        if present <= set(quant["components"]):
            return "fp8" if quant["method"].startswith("fp8") or quant["method"] == "mxfp8" else \
                f"int{quant['bits']}" if quant["bits"] in (4, 8) else str(quant["bits"])
    key = "torch_dtype" if cfg.get("torch_dtype") else "dtype"
    dtype = cfg.get(key) or "bfloat16"
    # an unknown name ("float77", or 7) was served as bf16 without a word
    if not isinstance(dtype, str) or dtype.replace("torch.", "") not in _DTYPE_NAMES:
        raise SpecError(WHERE, f"{key} {_show(dtype)} is not a dtype this tool reads "
                               f"({', '.join(sorted(_DTYPE_NAMES))})")
    return _DTYPE_NAMES[dtype.replace("torch.", "")]


def _quant_file(q: Any) -> dict:
    """``hf_quant_config.json`` as a quantization config: a ModelOpt one (``producer.name: modelopt``) gets the
    ``quant_method`` vLLM gives it (``ModelConfig._normalize_quantization_config``: modelopt for FP8, modelopt_fp4 for
    NVFP4; here one reader, :func:`_modelopt`); any other producer's is refused in one line."""
    if not isinstance(q, dict):
        raise SpecError(WHERE, f"hf_quant_config.json must hold a mapping (ModelOpt's producer and quantization), got "
                               f"{_show(q)}")
    producer = q.get("producer")
    name = producer.get("name") if isinstance(producer, dict) else None
    if name != "modelopt":
        raise SpecError(WHERE, f"hf_quant_config.json from producer {_show(name)} is not modelled (ModelOpt's is)")
    return q | {"quant_method": "modelopt"}


# ---------------------------------------------------------------------------------------------------------

def _check_generic(cfg: dict, mt: str) -> None:
    """An unknown model_type is read only when it is Llama-shaped: every key known, the keys it needs present."""
    unknown = sorted(k for k in cfg if k not in GENERIC_KEYS)
    if unknown:
        # the line named every known model_type, some 110 of them, on one line; now their count and the nearest
        near = difflib.get_close_matches(mt, sorted(KNOWN), n=1)
        raise _refuse(mt, f"key {unknown[0]} is not one this tool understands, so the architecture cannot be "
                          f"sized ({len(KNOWN)} model_types are known, listed in mlacalc/hf.py"
                          + (f"; did you mean {near[0]}?)" if near else ")"))
    if cfg.get("mlp_bias"):
        raise _refuse(mt, "MLP biases (mlp_bias) are not modelled")
    if "tie_word_embeddings" not in cfg:
        raise _refuse(mt, "does not say whether the output head is tied (tie_word_embeddings)")


def spec_dict_from_hf_config(cfg: dict, name: str, quant_file: Any = None) -> dict:
    """Map an HF ``config.json`` mapping to mlacalc's raw spec mapping (validated later). ``quant_file``: the
    ``hf_quant_config.json`` beside it (ModelOpt 0.29 and before wrote the quantization there), read as vLLM's
    ``get_config`` reads it: the quantization config when config.json has none, a ModelOpt one by its ``producer``."""
    if quant_file is not None and cfg.get("quantization_config") is None:
        cfg = dict(cfg) | {"quantization_config": _quant_file(quant_file)}
    mlx = _mlx_block(cfg)          # mlx_lm's top-level quantization block, checked before the decoder is found
    if cfg.get("quantization_config") is None and cfg.get("compression_config") is not None:
        # early llm-compressor checkpoints keep their compressed-tensors block under compression_config; vLLM reads it
        # there when there is no quantization_config (ModelConfig._parse_quant_hf_config: "compressed-tensors uses a
        # compression_config key"). It was ignored: an FP8 Llama-3.1-8B priced at bf16, 16.06 GB instead of 9.08
        cfg = {**cfg, "quantization_config": cfg["compression_config"]}
    layout = checkpoint_layout(cfg)               # the wrapper's module prefixes, read before the decoder is found
    mt, cfg, description, reading = _text_config(cfg)      # refuses what the spec cannot describe
    return _spec_dict(cfg, mt, name, mlx, layout, description) | {k: v for k, v in reading.items() if v}


def _spec_dict(cfg: dict, mt: str, name: str, mlx: Any, layout: Any, description: str) -> dict:
    """The raw spec of the text decoder :func:`_text_config` found (``mt``, its checked config ``cfg``)."""
    if mt == "gemma4_text" and mlx is not None:
        # mlx_lm's Gemma-4 names its experts experts.switch_glu.* and its per-layer inputs' modules apart from the
        # quantization readers' names, and no MLX release's per-module entries were checked against them
        raise _refuse(mt, "a quantized checkpoint is not priced: MLX conversions of Gemma-4 (experts.switch_glu, "
                          "per_layer_input_gate) are not mapped")
    if mt in SHORT_CONV_HYBRIDS and (cfg.get("quantization_config") is not None or mlx is not None):
        # the quantization readers match module names (ignore lists, MLX's per-module entries) against Llama's
        # (mlp.gate_proj, self_attn.o_proj); LFM2's are conv.in_proj, self_attn.out_proj, feed_forward.w1
        raise _refuse(mt, "quantized checkpoints of LFM2 (quantization_config, MLX quantization) are not read")
    L = _req(cfg, mt, "num_hidden_layers", "n_layer")
    cfg.setdefault("num_hidden_layers", L)
    if mt in COMPRESSED:
        return _deepseek_v4(cfg, mt, name, mlx, description)
    if mt in STATE_SPACE:
        out = _state_space(cfg, mt, name, cfg.get("quantization_config") is not None or mlx is not None)
        return out | ({"description": description} if description else {})
    attn = _latent(cfg, mt) if mt in LATENT else _conventional(cfg, mt)
    if cfg.get("_layer_heads") is not None:       # OpenELM, Nemotron-NAS: each layer's own heads
        attn["layer_heads"] = cfg["_layer_heads"]
    if cfg.get("_openelm_qk_norm"):                # OpenELMMultiHeadCausalAttention: q_norm, k_norm of head_dim
        attn["qk_norm"] = True
    pattern, layers = _pattern_fields(cfg, mt, L)
    out = {
        "name": name,
        "num_layers": L,
        "hidden_size": _req(cfg, mt, "hidden_size", "n_embd"),
        "vocab_size": _req(cfg, mt, "vocab_size"),
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "attention": attn | pattern,
        **layers,
        "ffn": _ffn(cfg, mt),
        "norms_per_layer": _norms(cfg, mt),
        "norm_vectors": NORM_VECTORS.get(mt, 1),
        "mtp_layers": cfg.get("num_nextn_predict_layers", 0) or 0,
    }
    if out["ffn"]["kind"] == "moe" and (router := _router(cfg, mt)):
        out["ffn"]["router"] = router
    # what the 2021-2023 decoders' checkpoints hold beside Llama's tensors: a learned position table, an lm_head bias,
    # BLOOM's norm on the embeddings (word_embeddings_layernorm: nn.LayerNorm(hidden_size), weight and bias)
    if position_rows(cfg, mt):
        out["position_embeddings"] = position_rows(cfg, mt)
    if mt in HEAD_BIAS or (mt in HEAD_BIAS_FLAG and cfg.get(HEAD_BIAS_FLAG[mt]) is True):
        out["head_bias"] = True
    if mt == "bloom":
        out["embedding_norm"] = True
    if _softcap(cfg, mt):
        out["final_logit_softcap"] = True
    if mt == "mimo_v2_flash" and out["mtp_layers"] and "sliding_shape" in attn:
        out["mtp_layer_type"] = "sliding"        # MiMo's MTP layers are sliding-window layers (MiMoV2MTPLayers)
    if mt == "step3p5" and out["mtp_layers"]:
        # vLLM step3p5_mtp.py: each mtp_block is a Step3p5DecoderLayer at index num_hidden_layers + i, of that
        # layer_types entry, MoE only where moe_layers_enum names it (Step-3.5-Flash: sliding, dense)
        if "sliding_shape" in attn:
            if cfg["_mtp_layer_type"] is None:
                raise _refuse(mt, "MTP layers of both attention types, whose shapes differ, are not modelled")
            out["mtp_layer_type"] = cfg["_mtp_layer_type"]
        out["mtp_ffn"] = cfg["_mtp_ffn"]
    if mt == "nemotron_h" and out["mtp_layers"]:
        out["mtp_layer_types"] = cfg["_mtp_layer_types"]       # _nemotron_h_keys
    linear = _linear(cfg, mt)
    if linear:
        out["linear_attention"] = linear
    if mt in PARALLEL_HYBRIDS:
        out["parallel_mixers"] = True
    extras = _residual_extras(cfg, mt)
    if extras:
        if mlx is not None:
            raise _refuse(mt, "a quantized checkpoint is not priced: no quantization component holds the per-layer "
                              "embeddings or AltUp and LAuReL")
        out["residual_extras"] = extras
    # Qwen3.5 is read as Qwen3-Next, but its checkpoints name the DeltaNet's projections their own way (QWEN3_5_GDN)
    qmt = str(cfg.get("model_type") or "").lower() if cfg.get("model_type") in QWEN3_5_TYPES else mt
    quant = mlx_quantization(mlx, cfg, out, qmt) if mlx is not None else \
        quantization(cfg, out, qmt, layout)
    if quant:
        out["quantization"] = quant
    kv = kv_cache_dtype(cfg.get("quantization_config"), attn["kind"], mt) if mlx is None else None
    out["dtypes"] = {"weights": _weight_dtype(cfg, quant, out), "kv": kv or "bf16"}
    if mt == "nemotron_h" and linear:         # a pattern without Mamba-2 blocks keeps no SSM state
        out["dtypes"]["ssm_state"] = _ssm_cache_dtype(cfg, mt)
    if mt == "kimi_linear":     # vLLM's MambaStateDtypeCalculator.kda_state_dtype: the recurrent state in float32
        out["dtypes"]["ssm_state"] = "fp32"
    if cfg.get("model_type") in QWEN3_5_TYPES and "mamba_ssm_dtype" in cfg:
        out["dtypes"]["ssm_state"] = _qwen3_5_ssm_dtype(cfg, mt)
    limit = _limit(cfg)
    if limit:
        out["max_context"] = limit
    if description:
        out["description"] = description
    return out
