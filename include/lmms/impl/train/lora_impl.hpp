// Implementation of lmms/train/lora.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "lmms/core/error.hpp"
#include "lmms/io/atomic_write.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/train/lora.hpp"

namespace lmms::training {

target_predicate all_linear_except(std::vector<std::string> excluded) {
  return [excluded = std::move(excluded)](const std::string& name) {
    return std::none_of(excluded.begin(), excluded.end(),
                        [&](const std::string& e) { return name.find(e) != std::string::npos; });
  };
}

target_predicate linear_under(std::string prefix, std::vector<std::string> excluded) {
  auto rest = all_linear_except(std::move(excluded));
  return [prefix = std::move(prefix), rest](const std::string& name) { return name.rfind(prefix, 0) == 0 && rest(name); };
}

std::vector<std::string> apply_lora(torch::nn::Module& root, const nn::lora_options& options,
                                    const target_predicate& is_target) {
  if (options.rank <= 0) fail("LoRA rank must be positive, got ", options.rank);
  for (auto& p : root.parameters()) p.set_requires_grad(false);
  std::vector<std::string> targets;
  for (const auto& item : root.named_modules("", false)) {
    auto lin = std::dynamic_pointer_cast<nn::linear_impl>(item.value());
    if (!lin || !is_target(item.key())) continue;
    if (lin->has_lora()) fail("module ", quote(item.key()), " already has a LoRA adapter");
    lin->add_lora(options);
    targets.push_back(item.key());
  }
  if (targets.empty()) fail("no Linear layer matched the LoRA targets; check the target names");
  std::sort(targets.begin(), targets.end());
  return targets;
}

void train_fully(torch::nn::Module& root, const std::vector<std::string>& module_names) {
  for (const auto& name : module_names) {
    bool found = false;
    for (auto& p : root.named_parameters(true)) {
      // a module's parameters, or one parameter by its full name (Qwen-VL's transformer.visual.proj)
      if ((p.key() == name || p.key().rfind(name + ".", 0) == 0) && p.key().find(".lora_") == std::string::npos) {
        p.value().set_requires_grad(true);
        found = true;
      }
    }
    if (!found) fail("no module ", quote(name), " with parameters to train in full (names look like model.layers.0.mlp, lm_head or a parameter's full name)");
  }
}

void save_peft_adapter(torch::nn::Module& root, const std::filesystem::path& dir, const peft_adapter_info& info) {
  std::filesystem::create_directories(dir);
  io::named_tensors tensors;
  for (const auto& item : root.named_parameters(true)) {
    const std::string& name = item.key();
    const bool is_lora = name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
    if (name.ends_with(".lora_magnitude_vector.weight")) {  // PEFT stores DoRA's m without ".weight"
      tensors.emplace_back("base_model.model." + name.substr(0, name.size() - 7), item.value().detach());
      continue;
    }
    bool in_saved = false;
    for (const auto& m : info.modules_to_save) in_saved = in_saved || name.rfind(m + ".", 0) == 0;
    if (is_lora || in_saved) tensors.emplace_back("base_model.model." + name, item.value().detach());
  }
  if (tensors.empty()) fail("the model has no LoRA adapter to save; apply_lora() first");
  io::save_safetensors(dir / "adapter_model.safetensors", tensors);

  nlohmann::json config = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"base_model_name_or_path", info.base_model},
      {"r", info.options.rank},
      {"lora_alpha", info.options.alpha},
      {"lora_dropout", info.options.dropout},
      {"use_rslora", info.options.rslora},
      {"use_dora", info.options.dora},
      {"target_modules", info.targets},
      {"modules_to_save", info.modules_to_save.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.modules_to_save)},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"init_lora_weights", true},
      {"layers_to_transform", nullptr},
      {"layers_pattern", nullptr},
      {"rank_pattern", nlohmann::json::object()},
      {"alpha_pattern", nlohmann::json::object()},
      {"revision", nullptr},
  };
  io::write_file_atomically(dir / "adapter_config.json", config.dump(2) + "\n");
}

void copy_model_side_files(const std::filesystem::path& base_dir, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(base_dir)) {
    const std::string f = e.path().filename().string();
    if (!e.is_regular_file() || f.ends_with(".safetensors") || f.ends_with(".safetensors.index.json") || f.ends_with(".bin"))
      continue;
    fs::copy_file(e.path(), dir / f, fs::copy_options::overwrite_existing);
  }
}

void save_hf_model(torch::nn::Module& root, const std::filesystem::path& dir, const std::filesystem::path& base_dir,
                   const std::function<std::string(const std::string&)>& checkpoint_name) {
  io::named_tensors weights;
  for (const auto& p : root.named_parameters()) weights.emplace_back(checkpoint_name ? checkpoint_name(p.key()) : p.key(), p.value());
  io::save_sharded_safetensors(dir, weights);
  copy_model_side_files(base_dir, dir);
}

peft_adapter_info load_peft_adapter(torch::nn::Module& root, const std::filesystem::path& dir) {
  const auto config_path = dir / "adapter_config.json";
  std::ifstream in(config_path);
  if (!in) fail("cannot open ", config_path.string(), " (is ", dir.string(), " a PEFT adapter directory?)");
  nlohmann::json c;
  try {
    c = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(config_path.string(), " is not valid JSON (", e.what(), ")");
  }
  if (c.value("peft_type", "") != "LORA") fail(config_path.string(), ": peft_type is not LORA");
  peft_adapter_info info;
  info.base_model = c.value("base_model_name_or_path", "");
  info.options.rank = c.at("r").get<std::int64_t>();
  info.options.alpha = c.at("lora_alpha").get<double>();
  info.options.dropout = c.value("lora_dropout", 0.0);
  info.options.rslora = c.value("use_rslora", false);
  info.options.dora = c.value("use_dora", false);
  if (c.contains("target_modules") && c["target_modules"].is_array())
    info.targets = c["target_modules"].get<std::vector<std::string>>();
  else
    fail(config_path.string(), ": target_modules must be a list of module names (a regex string is not supported)");
  if (c.contains("modules_to_save") && c["modules_to_save"].is_array())
    info.modules_to_save = c["modules_to_save"].get<std::vector<std::string>>();
  // peft matches a target by its full name or as a suffix after a dot
  auto targets = info.targets;
  auto attached = apply_lora(root, info.options, [targets](const std::string& name) {
    for (const auto& t : targets)
      if (name == t || (name.size() > t.size() && name.ends_with("." + t))) return true;
    return false;
  });
  if (attached.empty()) fail(config_path.string(), ": none of its target_modules is a Linear layer of this model");

  auto tensors = io::load_safetensors(dir / "adapter_model.safetensors");
  at::NoGradGuard no_grad;
  std::size_t used = 0;
  for (auto& item : root.named_parameters(true)) {
    const std::string& name = item.key();
    std::string key = "base_model.model." + name;
    if (name.ends_with(".lora_magnitude_vector.weight")) key = key.substr(0, key.size() - 7);
    bool wanted = name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos ||
                  name.ends_with(".lora_magnitude_vector.weight");
    for (const auto& m : info.modules_to_save)
      wanted = wanted || name.rfind(m + ".", 0) == 0 || name.find("." + m + ".") != std::string::npos;
    if (!wanted) continue;
    auto it = tensors.find(key);
    if (it == tensors.end()) {
      if (name.find(".lora_") != std::string::npos) fail(dir.string(), ": the adapter has no tensor ", quote(key));
      continue;  // a module_to_save parameter peft did not store (e.g. frozen): keep the base
    }
    if (it->second.sizes() != item.value().sizes())
      fail(dir.string(), ": adapter tensor ", quote(key), " has shape ", it->second.sizes(), " but the model has ",
           item.value().sizes());
    item.value().copy_(it->second);
    ++used;
  }
  if (used < tensors.size())
    fail(dir.string(), ": ", tensors.size() - used, " adapter tensors match no parameter of this model (is it the base the adapter was trained on?)");
  return info;
}

}  // namespace lmms::training
