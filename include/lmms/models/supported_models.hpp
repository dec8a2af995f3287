// lmms/models/supported_models.hpp: the model ids lmms knows, their Hugging Face repos and
// families, and whether their family is implemented in this build. No torch.
//
// Ids and HF paths follow lmms-finetune's supported_models.py so that scripts written for it
// keep their names. A model flips to implemented when its model folder lands with tests (the
// LLaVA-1.6 Mistral and 34B variants and NeXT-Video-34B wait for their chat templates, [INST]
// and chatml, which lmms-finetune never registered or verified either).
#pragma once

#include <span>
#include <string_view>

namespace lmms {

struct supported_model {
  std::string_view id;        // "qwen2-vl-2b-instruct"
  std::string_view hf_path;   // "Qwen/Qwen2-VL-2B-Instruct"
  std::string_view family;    // "qwen2-vl"
  bool implemented;
};

inline constexpr supported_model supported_models_table[] = {
    {"llava-1.5-7b", "llava-hf/llava-1.5-7b-hf", "llava-1.5", true},
    {"llava-1.5-13b", "llava-hf/llava-1.5-13b-hf", "llava-1.5", true},
    {"llava-1.6-vicuna-7b", "llava-hf/llava-v1.6-vicuna-7b-hf", "llava-1.6", true},
    {"llava-1.6-vicuna-13b", "llava-hf/llava-v1.6-vicuna-13b-hf", "llava-1.6", true},
    {"llava-1.6-mistral-7b", "llava-hf/llava-v1.6-mistral-7b-hf", "llava-1.6", false},
    {"llava-1.6-34b", "llava-hf/llava-v1.6-34b-hf", "llava-1.6", false},
    {"llava-next-video-7b", "llava-hf/LLaVA-NeXT-Video-7B-hf", "llava-next-video", true},
    {"llava-next-video-7b-32k", "llava-hf/LLaVA-NeXT-Video-7B-32K-hf", "llava-next-video", true},
    {"llava-next-video-34b", "llava-hf/LLaVA-NeXT-Video-34B-hf", "llava-next-video", false},
    {"llava-interleave-qwen-0.5b", "llava-hf/llava-interleave-qwen-0.5b-hf", "llava-interleave", true},
    {"llava-interleave-qwen-7b", "llava-hf/llava-interleave-qwen-7b-hf", "llava-interleave", true},
    {"llava-onevision-0.5b-ov", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava-onevision", true},
    {"llava-onevision-7b-ov", "llava-hf/llava-onevision-qwen2-7b-ov-hf", "llava-onevision", true},
    {"llava-onevision-72b-ov", "llava-hf/llava-onevision-qwen2-72b-ov-hf", "llava-onevision", true},
    {"qwen-vl-chat", "Qwen/Qwen-VL-Chat", "qwen-vl", true},
    {"phi3-v", "microsoft/Phi-3-vision-128k-instruct", "phi3-v", true},
    {"qwen2-vl-2b-instruct", "Qwen/Qwen2-VL-2B-Instruct", "qwen2-vl", true},
    {"qwen2-vl-7b-instruct", "Qwen/Qwen2-VL-7B-Instruct", "qwen2-vl", true},
    {"qwen2-vl-72b-instruct", "Qwen/Qwen2-VL-72B-Instruct", "qwen2-vl", true},
    {"qwen2.5-vl-3b-instruct", "Qwen/Qwen2.5-VL-3B-Instruct", "qwen2.5-vl", true},
    {"qwen2.5-vl-7b-instruct", "Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-vl", true},
    {"qwen2.5-vl-72b-instruct", "Qwen/Qwen2.5-VL-72B-Instruct", "qwen2.5-vl", true},
    {"llama-3.2-11b-vision-instruct", "meta-llama/Llama-3.2-11B-Vision-Instruct", "llama-3.2-vision", true},
    {"llama-3.2-90b-vision-instruct", "meta-llama/Llama-3.2-90B-Vision-Instruct", "llama-3.2-vision", true},
};

inline constexpr std::span<const supported_model> supported_models() { return supported_models_table; }

}  // namespace lmms
