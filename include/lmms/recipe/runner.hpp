// lmms/recipe/runner.hpp: what every family's recipe runner shares, so that a model folder's
// runner is only its own glue (build the model, prepare its data, name its components):
//   - the per-component policies applied to a model (LoRA / QLoRA / DoRA adapters, full
//     training as PEFT modules_to_save, frozen),
//   - the trainer's options from the resolved recipe,
//   - the outputs: a PEFT adapter (any LoRA) or an HF model directory (full).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lmms/data/dataset.hpp"
#include "lmms/models/llava/data.hpp"
#include "lmms/recipe/resolved.hpp"
#include "lmms/train/loop.hpp"
#include "lmms/train/lora.hpp"

namespace lmms::recipe {

/// Where each component's parameters live in the model: "llm" -> {"model.language_model", "lm_head"}.
using component_map = std::map<std::string, std::vector<std::string>>;

struct applied_policies {
  std::optional<nn::lora_options> lora;  // one rank / alpha for every LoRA component (one PEFT adapter)
  std::vector<std::string> targets;      // the adapted Linear layers
  std::vector<std::string> fully;        // modules trained in full (modules_to_save with an adapter)
};

/// A family's preparation of a dataset file (its prepare_samples, options bound): tokens and media.
/// sample_tokens / prepared_samples are the LLaVA family's types, shared by every family.
using prepare_fn = std::function<llava::prepared_samples(const data::dataset& dataset, const std::string& file)>;

struct loaded_samples {
  std::vector<llava::sample_tokens> train, eval;  // eval empty without r.data.eval_file
};

/// Reads r.data.file and r.data.eval_file with r.data's options (folders, on_bad_sample, pixel
/// cap), prepares each with `prepare`, prints every skipped and dropped sample on stderr and the
/// counts of each file on stdout.
loaded_samples load_samples(const resolved& r, const prepare_fn& prepare);

/// Applies r.policies: adapters on every Linear under a LoRA component (lm_head never, as
/// lmms-finetune), NF4 base weights for QLoRA under `qlora_prefix` (the LLM), full training,
/// everything else frozen. Components with different LoRA options are an error.
applied_policies apply_policies(torch::nn::Module& model, const resolved& r, const component_map& components,
                                const std::string& qlora_prefix);

/// The trainer's options from r.train, r.precision and the pad token; resolved_recipe.json
/// goes into every checkpoint.
training::loop_options loop_options_of(const resolved& r, text::token_id pad_token_id);

/// Prints "training on N samples: T of P parameters trainable (...)".
void print_trainable(torch::nn::Module& model, std::size_t samples, const applied_policies& applied);

/// Writes output_dir/adapter (PEFT) when any component has LoRA, else output_dir/model (HF,
/// in the layout of the base checkpoint, side files copied). Prints the path.
void write_outputs(torch::nn::Module& model, const resolved& r, const applied_policies& applied,
                   const std::filesystem::path& model_dir,
                   const std::function<std::string(const std::string&)>& checkpoint_name);

}  // namespace lmms::recipe

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/recipe/runner_impl.hpp"
#endif
