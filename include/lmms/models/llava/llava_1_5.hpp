// lmms/models/llava/llava_1_5.hpp: LLaVA-1.5 for recipes: the model tag, its model_traits
// (components, media, collator) and its runner. Include this in a recipe; the runner's code is
// compiled once in the shared runtime, so a recipe compiles only its own glue. No torch here.
//
//   model<llava_1_5>{.path = "llava-hf/llava-1.5-7b-hf downloaded here"}
#pragma once

#include "lmms/recipe/parts.hpp"
#include "lmms/recipe/resolved.hpp"

namespace lmms {

/// LLaVA-1.5 (llava-hf/llava-1.5-7b-hf, -13b-hf): CLIP ViT-L/336 + projector + Vicuna.
struct llava_1_5 {};

namespace llava {
/// Builds the model from r.model_path, applies the per-component policies, trains, writes the
/// PEFT adapter (any LoRA) or the HF model directory (full). Exit code.
int train_recipe(const recipe::resolved& r);
}  // namespace llava

template <>
struct model_traits<llava_1_5> {
  static constexpr bool specialized = true;
  static constexpr const char* name = "llava-1.5";
  using components = type_list<llm_t, vision_t, projector_t>;
  static constexpr const char* component_names[] = {"llm", "vision", "projector"};
  using collator = collators::llava;
  static constexpr bool images = true, multi_image = true, video = false;
  static constexpr bool vision_lora = true;  // CLIP's q/k/v/out_proj, fc1, fc2
  static int train(const recipe::resolved& r) { return llava::train_recipe(r); }
};

}  // namespace lmms

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/llava_recipe_impl.hpp"
#endif
