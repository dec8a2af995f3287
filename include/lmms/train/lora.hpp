// lmms/train/lora.hpp: attach LoRA adapters to a model's Linear layers and save them in the
// PEFT layout that peft.PeftModel.from_pretrained loads.
//
//   auto targets = training::apply_lora(*lm, {.rank = 8, .alpha = 16}, training::all_linear_except({"lm_head"}));
//   ... train ...
//   training::save_peft_adapter(*lm, "runs/x/adapter", {.base_model = "path/to/base", .targets = targets,
//                                                   .options = {.rank = 8, .alpha = 16}});
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "lmms/nn/linear.hpp"
#include "lmms/torch.hpp"

namespace lmms::training {

/// Chooses the Linear layers (by full module name) that get an adapter.
using target_predicate = std::function<bool(const std::string& module_name)>;

/// lmms-finetune's default: every Linear whose name does not contain one of `excluded`.
target_predicate all_linear_except(std::vector<std::string> excluded);
/// Every Linear whose name starts with `prefix` (a component, e.g. "model.").
target_predicate linear_under(std::string prefix, std::vector<std::string> excluded = {"lm_head"});

/// Attaches adapters; freezes everything else of `root` that is not already trainable by
/// choice (call before marking other components trainable). Returns the target names, sorted.
std::vector<std::string> apply_lora(torch::nn::Module& root, const nn::lora_options& options,
                                    const target_predicate& is_target);

/// Makes every parameter under the named modules trainable in full (PEFT's modules_to_save:
/// a trained projector next to an LLM adapter, say). Throws naming a module that does not exist.
void train_fully(torch::nn::Module& root, const std::vector<std::string>& module_names);

struct peft_adapter_info {
  std::string base_model;                    // base_model_name_or_path
  std::vector<std::string> targets;          // full module names, as lmms-finetune writes them
  nn::lora_options options;
  std::vector<std::string> modules_to_save;  // fully trained modules stored with the adapter
};

/// Writes adapter_config.json and adapter_model.safetensors with PEFT's keys:
/// base_model.model.<module>.lora_A.weight / lora_B.weight, <module>.lora_magnitude_vector
/// for DoRA, and base_model.model.<module>.<param> for modules_to_save.
void save_peft_adapter(torch::nn::Module& root, const std::filesystem::path& dir, const peft_adapter_info& info);

/// Writes a Hugging Face model directory: every parameter of `root` as sharded safetensors
/// under checkpoint_name(parameter name) (the base checkpoint's own layout; identity when
/// empty), and every non-weight file of `base_dir` (config, tokenizer, processor, chat template).
void save_hf_model(torch::nn::Module& root, const std::filesystem::path& dir, const std::filesystem::path& base_dir,
                   const std::function<std::string(const std::string&)>& checkpoint_name = {});
/// Copies every regular file of a model directory except its weights (*.safetensors, the
/// index, *.bin) into `dir`.
void copy_model_side_files(const std::filesystem::path& base_dir, const std::filesystem::path& dir);

/// Reads a PEFT LoRA adapter directory (lmms's or peft's: target_modules as full names or
/// name suffixes, modules_to_save, DoRA, rsLoRA) onto `root`: attaches the adapters and loads
/// their weights and the saved modules. Every adapter tensor must find its parameter; what
/// does not is an error naming it. Returns the adapter's settings.
peft_adapter_info load_peft_adapter(torch::nn::Module& root, const std::filesystem::path& dir);

}  // namespace lmms::training

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/train/lora_impl.hpp"
#endif
