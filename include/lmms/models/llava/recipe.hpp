// lmms/models/llava/recipe.hpp: the LLaVA family for recipes: the model tags, their model_traits
// (components, media, collator) and the one runner they share, compiled once in the shared
// runtime, so a recipe compiles only its own glue. No torch here.
//
//   model<llava_1_5>{.path = "llava-hf/llava-1.5-7b-hf downloaded here"}
//   model<llava_next>{.path = "llava-hf/llava-v1.6-vicuna-7b-hf"}
//   model<llava_interleave>{.path = "llava-hf/llava-interleave-qwen-0.5b-hf"}
//   model<llava_next_video>{.path = "llava-hf/LLaVA-NeXT-Video-7B-hf"}
//   model<llava_onevision>{.path = "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"}
#pragma once

#include "lmms/recipe/parts.hpp"
#include "lmms/recipe/resolved.hpp"

namespace lmms {

/// LLaVA-1.5 (llava-hf/llava-1.5-7b-hf, -13b-hf): CLIP ViT-L/336 + projector + Vicuna.
struct llava_1_5 {};
/// LLaVA-1.6 / NeXT, Vicuna (llava-hf/llava-v1.6-vicuna-7b-hf, -13b-hf): LLaVA-1.5 with anyres
/// tiles, unpadding and an image_newline embedding.
struct llava_next {};
/// LLaVA-Interleave (llava-hf/llava-interleave-qwen-0.5b-hf, -7b-hf): SigLIP + projector + Qwen2,
/// one 729-token tile per image, several images per sample.
struct llava_interleave {};
/// LLaVA-NeXT-Video (llava-hf/LLaVA-NeXT-Video-7B-hf): LLaVA-NeXT for images, videos as frames
/// whose CLIP features are average-pooled 2x2 (144 tokens per frame at 336 px).
struct llava_next_video {};
/// LLaVA-OneVision (llava-hf/llava-onevision-qwen2-0.5b-ov-hf, 7b, 72b): SigLIP + Qwen2 with
/// anyres_max_9 tiles for single images, one tile per image in multi-image samples.
struct llava_onevision {};

namespace llava {
/// Builds the model from r.model_path (its config must be the recipe's model: r.model_type is
/// llava-1.5, llava-1.6, llava-next-video, llava-interleave or llava-onevision), applies the per-component
/// policies, trains, writes the PEFT adapter (any LoRA) or the HF model directory (full). Exit code.
int train_recipe(const recipe::resolved& r);
}  // namespace llava

// One shape for the four: components as lmms-finetune names them (image_newline stays frozen,
// as its "others"; NeXT-Video's pooler has no parameters), images in any user turn, several
// per sample; videos for NeXT-Video and OneVision (data.num_frames frames each, pooled 2x2).
#define LMMS_LLAVA_TRAITS(TAG, NAME, VIDEO)                                                \
  template <>                                                                              \
  struct model_traits<TAG> {                                                               \
    static constexpr bool specialized = true;                                              \
    static constexpr const char* name = NAME;                                              \
    using components = type_list<llm_t, vision_t, projector_t>;                            \
    static constexpr const char* component_names[] = {"llm", "vision", "projector"};       \
    using collator = collators::llava;                                                     \
    static constexpr bool images = true, multi_image = true, video = VIDEO;                \
    static constexpr bool vision_lora = true; /* q/k/v/out_proj, fc1, fc2 of the tower */  \
    static int train(const recipe::resolved& r) { return llava::train_recipe(r); }         \
  };

LMMS_LLAVA_TRAITS(llava_1_5, "llava-1.5", false)
LMMS_LLAVA_TRAITS(llava_next, "llava-1.6", false)
LMMS_LLAVA_TRAITS(llava_next_video, "llava-next-video", true)
LMMS_LLAVA_TRAITS(llava_interleave, "llava-interleave", false)
LMMS_LLAVA_TRAITS(llava_onevision, "llava-onevision", true)
#undef LMMS_LLAVA_TRAITS

}  // namespace lmms

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/llava_recipe_impl.hpp"
#endif
