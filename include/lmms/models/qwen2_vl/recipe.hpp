// lmms/models/qwen2_vl/recipe.hpp: Qwen2-VL and Qwen2.5-VL for recipes: the model tags, their
// model_traits (components, media, collator) and their runner, compiled once in the shared
// runtime. No torch.
//
//   model<qwen2_vl>{.path = "Qwen/Qwen2-VL-2B-Instruct downloaded here"}
//   model<qwen2_5_vl>{.path = "Qwen/Qwen2.5-VL-3B-Instruct downloaded here"}
#pragma once

#include "lmms/recipe/parts.hpp"
#include "lmms/recipe/resolved.hpp"

namespace lmms {

/// Qwen2-VL (Qwen/Qwen2-VL-2B / 7B / 72B-Instruct): its vision transformer with the patch
/// merger, and Qwen2 with M-RoPE.
struct qwen2_vl {};
/// Qwen2.5-VL (Qwen/Qwen2.5-VL-3B / 7B / 72B-Instruct): the same parts, a tower with RMSNorm,
/// SwiGLU and window attention.
struct qwen2_5_vl {};

namespace qwen2vl {
/// Builds the model from r.model_path (its config must be the recipe's model: qwen2_vl or
/// qwen2_5_vl), applies the per-component policies, trains, writes the PEFT adapter (any LoRA)
/// or the HF model directory (full). Exit code.
int train_recipe(const recipe::resolved& r);
}  // namespace qwen2vl

template <>
struct model_traits<qwen2_vl> {
  static constexpr bool specialized = true;
  static constexpr const char* name = "qwen2-vl";
  // vision: model.visual's patch_embed and blocks; projector: model.visual.merger (as lmms-finetune)
  using components = type_list<llm_t, vision_t, projector_t>;
  static constexpr const char* component_names[] = {"llm", "vision", "projector"};
  using collator = collators::qwen2_vl;
  // video: files decoded with FFmpeg, data.num_frames frames each (media/video.hpp)
  static constexpr bool images = true, multi_image = true, video = true;
  static constexpr bool vision_lora = true;  // qkv, proj, fc1, fc2 of each block
  static int train(const recipe::resolved& r) { return qwen2vl::train_recipe(r); }
};

template <>
struct model_traits<qwen2_5_vl> {
  static constexpr bool specialized = true;
  static constexpr const char* name = "qwen2.5-vl";
  using components = type_list<llm_t, vision_t, projector_t>;
  static constexpr const char* component_names[] = {"llm", "vision", "projector"};
  using collator = collators::qwen2_vl;  // one collator for both, as in lmms-finetune
  static constexpr bool images = true, multi_image = true, video = true;  // as qwen2_vl above
  static constexpr bool vision_lora = true;  // qkv, proj, gate_proj, up_proj, down_proj of each block
  static int train(const recipe::resolved& r) { return qwen2vl::train_recipe(r); }
};

}  // namespace lmms

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/qwen2_vl_recipe_impl.hpp"
#endif
