// lmms/models/checkpoint_layout.hpp: one parameter, several checkpoint names. transformers 5
// names a multimodal model's parameters model.language_model.*, model.vision_tower.*,
// model.multi_modal_projector.*, lm_head.* in memory (and so in PEFT adapters), while hub
// checkpoints (and what transformers 5.23 itself saves for LLaVA) use language_model.model.*,
// language_model.lm_head.*, vision_tower[.vision_model].*, multi_modal_projector.*; Qwen2-VL's
// use visual.*, model.* (the LLM) and lm_head.*.
// lmms names parameters the in-memory way and finds each in whichever layout a file has.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lmms/io/safetensors.hpp"

namespace lmms::models {

/// The names a parameter may have in a checkpoint, the in-memory name first.
inline std::vector<std::string> checkpoint_name_candidates(const std::string& name) {
  auto rest = [&](std::string_view prefix) { return name.substr(prefix.size()); };
  if (name.starts_with("model.vision_tower."))
    return {name, "vision_tower.vision_model." + rest("model.vision_tower."), "vision_tower." + rest("model.vision_tower."),
            "model.vision_tower.vision_model." + rest("model.vision_tower.")};
  if (name.starts_with("model.multi_modal_projector."))
    return {name, "multi_modal_projector." + rest("model.multi_modal_projector.")};
  // LLaVA hub checkpoints nest the LLM as language_model.model.*; Qwen2-VL's keep it at model.*
  if (name.starts_with("model.language_model."))
    return {name, "language_model.model." + rest("model.language_model."), "model." + rest("model.language_model.")};
  if (name.starts_with("model.visual.")) return {name, "visual." + rest("model.visual.")};  // Qwen2-VL
  if (name == "model.image_newline") return {name, "image_newline"};                       // LLaVA-NeXT / OneVision
  if (name.starts_with("lm_head.")) return {name, "language_model." + name};
  return {name};
}

/// The key of each parameter in `checkpoint` (the first candidate present; the in-memory name
/// when none is, so that a missing tensor is reported under it). `contains` says whether a key exists.
inline std::string checkpoint_name(const std::string& name, const std::function<bool(const std::string&)>& contains) {
  auto candidates = checkpoint_name_candidates(name);
  for (const auto& c : candidates)
    if (contains(c)) return c;
  return candidates.front();
}

inline std::function<std::string(const std::string&)> checkpoint_names(const io::safetensors_checkpoint& checkpoint) {
  const io::safetensors_checkpoint* ck = &checkpoint;
  return [ck](const std::string& name) { return checkpoint_name(name, [ck](const std::string& k) { return ck->find(k) != nullptr; }); };
}

}  // namespace lmms::models
