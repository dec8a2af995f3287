// lmms/train/merge.hpp: fold a PEFT LoRA adapter into its base checkpoint, producing a
// standalone Hugging Face model directory (what `lmms merge-lora` runs).
//
//   W' = W + scaling * B A      (scaling = lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA)
//
// Works on tensors by name, without building the model: adapter key
// base_model.model.<module>.lora_A.weight folds into <module>.weight of the base checkpoint;
// fully trained modules (modules_to_save) replace their base tensors. The sum is computed
// in float32 and stored in the base tensor's dtype. Tokenizer, processor, chat-template and
// config files are copied from the base directory.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace lmms::training {

struct merge_report {
  std::size_t merged = 0;    // LoRA pairs folded
  std::size_t replaced = 0;  // modules_to_save tensors copied over the base
  std::size_t tensors = 0;   // tensors written
};

/// `base` defaults to the adapter's base_model_name_or_path. Throws lmms::error naming any
/// adapter tensor with no base tensor to go to. DoRA adapters merge as PEFT merges them.
merge_report merge_lora(const std::filesystem::path& adapter_dir, const std::filesystem::path& output_dir,
                        std::optional<std::filesystem::path> base_dir = std::nullopt);

}  // namespace lmms::training

#ifdef LMMS_IMPLEMENTATION
#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "lmms/core/error.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/checkpoint_layout.hpp"
#include "lmms/train/lora.hpp"

namespace lmms::training {

merge_report merge_lora(const std::filesystem::path& adapter_dir, const std::filesystem::path& output_dir,
                        std::optional<std::filesystem::path> base_dir) {
  namespace fs = std::filesystem;
  const fs::path config_path = adapter_dir / "adapter_config.json";
  std::ifstream in(config_path);
  if (!in) fail("cannot open ", config_path.string(), " (is ", adapter_dir.string(), " a PEFT adapter directory?)");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(config_path.string(), " is not valid JSON (", e.what(), ")");
  }
  if (config.value("peft_type", "") != "LORA") fail(config_path.string(), ": peft_type is not LORA");
  const bool dora = config.value("use_dora", false);
  const fs::path base = base_dir.value_or(fs::path(config.value("base_model_name_or_path", "")));
  if (base.empty() || !fs::is_directory(base))
    fail("the base model directory ", quote(base.string()), " of ", config_path.string(),
         " does not exist; pass it with --base");
  const double r = config.at("r").get<double>(), alpha = config.at("lora_alpha").get<double>();
  const double scaling = config.value("use_rslora", false) ? alpha / std::sqrt(r) : alpha / r;

  auto adapter = io::load_safetensors(adapter_dir / "adapter_model.safetensors");
  auto ck = io::safetensors_checkpoint::open(base);
  std::map<std::string, at::Tensor> weights;
  for (const auto& name : ck.names()) weights.emplace(name, io::to_tensor(ck.at(name)));

  // adapters name modules as in memory (model.language_model.*); the base may use the hub layout
  auto base_name = [&](const std::string& name) {
    return models::checkpoint_name(name, [&](const std::string& k) { return weights.count(k) > 0; });
  };
  merge_report report;
  const std::string prefix = "base_model.model.";
  for (const auto& [key, tensor] : adapter) {
    if (key.rfind(prefix, 0) != 0) fail("adapter tensor ", quote(key), " does not start with ", quote(prefix));
    std::string name = key.substr(prefix.size());
    if (auto at_a = name.find(".lora_A.weight"); at_a != std::string::npos) {
      std::string module = name.substr(0, at_a);
      auto b = adapter.find(prefix + module + ".lora_B.weight");
      if (b == adapter.end()) fail("adapter ", adapter_dir.string(), " has lora_A but no lora_B for ", quote(module));
      auto w = weights.find(base_name(module + ".weight"));
      if (w == weights.end())
        fail("adapter tensor ", quote(key), " has no base tensor ", quote(module + ".weight"), " in ", base.string());
      at::Tensor delta = at::matmul(b->second.to(at::kFloat), tensor.to(at::kFloat)) * scaling;
      if (delta.sizes() != w->second.sizes())
        fail("LoRA update for ", quote(module), " has shape ", delta.sizes(), " but the base weight is ", w->second.sizes());
      at::Tensor merged = w->second.to(at::kFloat) + delta;
      if (dora) {  // W' = m / ||W + s B A||_row * (W + s B A), as PEFT merges DoRA
        auto m = adapter.find(prefix + module + ".lora_magnitude_vector");
        if (m == adapter.end()) fail("DoRA adapter ", adapter_dir.string(), " lacks the magnitude of ", quote(module));
        merged = merged * (m->second.to(at::kFloat) / at::linalg_vector_norm(merged, 2, {1})).unsqueeze(1);
      }
      w->second = merged.to(w->second.scalar_type());
      ++report.merged;
    } else if (name.find(".lora_B.weight") != std::string::npos || name.ends_with(".lora_magnitude_vector")) {
      continue;  // handled with its lora_A
    } else {  // a fully trained module (modules_to_save)
      auto w = weights.find(base_name(name));
      if (w == weights.end()) fail("adapter tensor ", quote(key), " has no base tensor ", quote(name), " in ", base.string());
      w->second = tensor.to(w->second.scalar_type());
      ++report.replaced;
    }
  }
  if (report.merged == 0 && report.replaced == 0) fail("adapter ", adapter_dir.string(), " holds no LoRA weights");

  fs::create_directories(output_dir);
  io::named_tensors out(weights.begin(), weights.end());
  io::save_sharded_safetensors(output_dir, out);
  report.tensors = out.size();
  copy_model_side_files(base, output_dir);  // everything but the weights
  return report;
}

}  // namespace lmms::training
#endif  // LMMS_IMPLEMENTATION
