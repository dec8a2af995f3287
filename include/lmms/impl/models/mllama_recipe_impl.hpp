// Implementation of the Llama-3.2-Vision recipe runner (lmms/models/mllama/recipe.hpp).
#pragma once

#include <cstdio>

#include "lmms/core/error.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/mllama/data.hpp"
#include "lmms/models/mllama/mllama.hpp"
#include "lmms/models/mllama/recipe.hpp"
#include "lmms/recipe/runner.hpp"

namespace lmms::mllama {

namespace {
// Where each component's parameters live (transformers' in-memory names); lmms-finetune's
// MODULE_KEYWORDS for llama-3.2-vision split the model the same way.
const recipe::component_map component_modules = {
    {"llm", {"model.language_model", "lm_head"}},
    {"vision", {"model.vision_model"}},
    {"projector", {"model.multi_modal_projector"}},
};
}  // namespace

int train_recipe(const recipe::resolved& r) {
  namespace fs = std::filesystem;
  const fs::path model_dir = r.model_path, output = r.train.output_dir;
  at::manual_seed(static_cast<std::uint64_t>(r.train.seed));  // before LoRA init

  auto hf = io::hf_config::load(model_dir);
  const std::string type = hf.get_string_or("model_type", "");
  if (type != "mllama")
    fail(hf.source(), ": model_type ", quote(type), " but the recipe's model is llama-3.2-vision (mllama)");
  if (r.data.packing)
    fail("data.packing is not offered for Llama-3.2-Vision: each sample's cross-attention mask covers its own images");
  auto config = mllama_config::from_hf(hf);
  mllama_model model(config);
  auto checkpoint = io::safetensors_checkpoint::open(model_dir);
  load_weights(*model, checkpoint);
  model->language_model->gradient_checkpointing = r.train.gradient_checkpointing;
  model->vision->gradient_checkpointing = r.train.gradient_checkpointing;

  // ---- data ----
  auto tok = text::tokenizer::load(model_dir);
  text::chat_renderer chat(tok, text::chat_format::llama3_vision);
  const auto processor = processors::mllama_image_config::load(model_dir);
  auto loaded = recipe::load_samples(r, [&](const data::dataset& ds, const std::string& file) {
    return prepare_samples(ds, chat, config, {.max_length = r.data.max_length}, file);
  });
  const auto& samples = loaded.train;
  const auto& eval = loaded.eval;
  // the hub tokenizer's pad token is <|finetune_right_pad_id|>; fall back to <|end_of_text|>
  const text::token_id pad =
      tok.token_to_id("<|finetune_right_pad_id|>").value_or(tok.token_to_id("<|end_of_text|>").value_or(0));

  // ---- per-component policies, trainer ----
  auto applied = recipe::apply_policies(*model, r, component_modules, "model.language_model.");
  training::loop_options o = recipe::loop_options_of(r, pad);
  recipe::print_trainable(*model, samples.size(), applied);
  auto hidden = [model](const training::lm_batch& b) mutable { return model->hidden_states(inputs_of(b)); };
  auto head = [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); };
  training::lm_trainer trainer(model.ptr(), hidden, head, o);
  auto records = trainer.run(batch_source_of(samples, processor, config, pad, r.data.media_threads),
                             batch_source_of(eval, processor, config, pad, r.data.media_threads));

  // ---- outputs ----
  recipe::write_outputs(*model, r, applied, model_dir, checkpoint_names(checkpoint));
  if (r.train.check_logits) {
    model->eval();
    at::NoGradGuard no_grad;
    auto batch = batch_source_of(samples, processor, config, pad).collate({0});
    io::named_tensors check{{"input_ids", batch.input_ids}, {"logits", model->forward(inputs_of(batch))}};
    if (batch.pixel_values.defined()) {
      check.emplace_back("pixel_values", batch.pixel_values);
      check.emplace_back("aspect_ratio_ids", batch.aspect_ratio_ids);
      check.emplace_back("aspect_ratio_mask", batch.aspect_ratio_mask);
      check.emplace_back("cross_attention_mask", batch.cross_attention_mask);
    }
    io::save_safetensors(output / "check_logits.safetensors", check);
  }
  if (!records.empty())
    std::printf("loss %.4f -> %.4f over %zu steps; loss curve: %s\n", records.front().loss, records.back().loss,
                records.size(), (output / "loss.svg").c_str());
  return 0;
}

}  // namespace lmms::mllama
