// lmms/models/qwen_vl/recipe.hpp: Qwen-VL-Chat for recipes: the model tag, its model_traits
// (components, media, collator) and its runner, compiled once in the shared runtime. No torch.
//
//   model<qwen_vl_chat>{.path = "Qwen/Qwen-VL-Chat downloaded here"}
#pragma once

#include "lmms/recipe/parts.hpp"
#include "lmms/recipe/resolved.hpp"

namespace lmms {

/// Qwen-VL-Chat (Qwen/Qwen-VL-Chat): a ViT-bigG tower, a cross-attention resampler to 256
/// queries, Qwen-7B.
struct qwen_vl_chat {};

namespace qwen_vl {
/// Builds the model from r.model_path (its config must be a Qwen-VL one: model_type qwen with a
/// "visual" section), applies the per-component policies, trains, writes the PEFT adapter (any
/// LoRA) or the model directory (full). Exit code.
int train_recipe(const recipe::resolved& r);
}  // namespace qwen_vl

template <>
struct model_traits<qwen_vl_chat> {
  static constexpr bool specialized = true;
  static constexpr const char* name = "qwen-vl";
  // as lmms-finetune splits it: vision transformer.visual.{conv1, positional_embedding, ln_pre,
  // transformer, ln_post, proj}, projector transformer.visual.attn_pool (the resampler; its
  // sin-cos pos_embed stays frozen), llm transformer.{wte, h, ln_f} and lm_head
  using components = type_list<llm_t, vision_t, projector_t>;
  static constexpr const char* component_names[] = {"llm", "vision", "projector"};
  using collator = collators::qwen_vl;
  static constexpr bool images = true, multi_image = true, video = false;
  static constexpr bool vision_lora = true;  // in_proj, out_proj, c_fc, c_proj of the tower's blocks
  // positional_embedding and proj are parameters of transformer.visual itself, which holds the
  // projector too: PEFT's modules_to_save cannot carry them, so vision(full) goes with no adapter
  static constexpr bool vision_full_with_adapter = false;
  static int train(const recipe::resolved& r) { return qwen_vl::train_recipe(r); }
};

}  // namespace lmms

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/qwen_vl_recipe_impl.hpp"
#endif
