// lmms/models/mllama/recipe.hpp: Llama-3.2-Vision for recipes: the model tag, its model_traits
// (components, media, collator) and its runner, compiled once in the shared runtime. No torch.
//
//   model<llama_3_2_vision>{.path = "meta-llama/Llama-3.2-11B-Vision-Instruct downloaded here"}
#pragma once

#include "lmms/recipe/parts.hpp"
#include "lmms/recipe/resolved.hpp"

namespace lmms {

/// Llama-3.2-Vision (meta-llama/Llama-3.2-11B / 90B-Vision-Instruct): the tiled vision encoder,
/// a projector, and Llama-3 with gated cross-attention layers that read the image features.
struct llama_3_2_vision {};

namespace mllama {
/// Builds the model from r.model_path (its config must be an Mllama one), applies the
/// per-component policies, trains, writes the PEFT adapter (any LoRA) or the HF model directory
/// (full). Exit code.
int train_recipe(const recipe::resolved& r);
}  // namespace mllama

template <>
struct model_traits<llama_3_2_vision> {
  static constexpr bool specialized = true;
  static constexpr const char* name = "llama-3.2-vision";
  // vision: model.vision_model; projector: model.multi_modal_projector; llm: the language model
  // with its cross-attention layers (LoRA reaches their q/k/v/o too), as lmms-finetune splits it
  using components = type_list<llm_t, vision_t, projector_t>;
  static constexpr const char* component_names[] = {"llm", "vision", "projector"};
  using collator = collators::mllama;
  static constexpr bool images = true, multi_image = true, video = false;
  static constexpr bool vision_lora = true;  // q/k/v/o_proj, fc1, fc2 of the local and global layers
  static int train(const recipe::resolved& r) { return mllama::train_recipe(r); }
};

}  // namespace lmms

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/mllama_recipe_impl.hpp"
#endif
