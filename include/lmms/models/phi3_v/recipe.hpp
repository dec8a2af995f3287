// lmms/models/phi3_v/recipe.hpp: Phi-3-Vision for recipes: the model tag, its model_traits
// (components, media, collator) and its runner, compiled once in the shared runtime. No torch.
//
//   model<phi3_vision>{.path = "microsoft/Phi-3-vision-128k-instruct downloaded here"}
#pragma once

#include "lmms/recipe/parts.hpp"
#include "lmms/recipe/resolved.hpp"

namespace lmms {

/// Phi-3-Vision (microsoft/Phi-3-vision-128k-instruct): CLIP ViT-L/14-336 with HD crops, an MLP
/// projection, and Phi-3-mini with LongRoPE.
struct phi3_vision {};

namespace phi3_v {
/// Builds the model from r.model_path (its config must be a phi3_v one), applies the
/// per-component policies, trains, writes the PEFT adapter (any LoRA) or the HF model directory
/// (full). Exit code.
int train_recipe(const recipe::resolved& r);
}  // namespace phi3_v

template <>
struct model_traits<phi3_vision> {
  static constexpr bool specialized = true;
  static constexpr const char* name = "phi3-v";
  // as lmms-finetune splits it: vision model.vision_embed_tokens.img_processor, projector
  // model.vision_embed_tokens.img_projection, llm the Phi-3 stack and lm_head; the separators
  // glb_GN / sub_GN stay frozen
  using components = type_list<llm_t, vision_t, projector_t>;
  static constexpr const char* component_names[] = {"llm", "vision", "projector"};
  using collator = collators::phi3_v;
  static constexpr bool images = true, multi_image = true, video = false;
  static constexpr bool vision_lora = true;  // q/k/v/out_proj, fc1, fc2 of the CLIP tower
  static int train(const recipe::resolved& r) { return phi3_v::train_recipe(r); }
};

}  // namespace lmms

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/phi3_v_recipe_impl.hpp"
#endif
