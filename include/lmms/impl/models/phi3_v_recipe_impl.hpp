// Implementation of the Phi-3-Vision recipe runner (lmms/models/phi3_v/recipe.hpp).
#pragma once

#include <cstdio>

#include "lmms/core/error.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/phi3_v/data.hpp"
#include "lmms/models/phi3_v/phi3_v.hpp"
#include "lmms/models/phi3_v/recipe.hpp"
#include "lmms/recipe/runner.hpp"

namespace lmms::phi3_v {

namespace {
// Where each component's parameters live (the checkpoint's names); lmms-finetune's
// MODULE_KEYWORDS for phi3-v split the model the same way (glb_GN / sub_GN: always frozen).
const recipe::component_map component_modules = {
    {"llm", {"model.embed_tokens", "model.layers", "model.norm", "lm_head"}},
    {"vision", {"model.vision_embed_tokens.img_processor"}},
    {"projector", {"model.vision_embed_tokens.img_projection"}},
};
}  // namespace

int train_recipe(const recipe::resolved& r) {
  namespace fs = std::filesystem;
  const fs::path model_dir = r.model_path, output = r.train.output_dir;
  at::manual_seed(static_cast<std::uint64_t>(r.train.seed));  // before LoRA init

  auto hf = io::hf_config::load(model_dir);
  const std::string type = hf.get_string_or("model_type", "");
  if (type != "phi3_v") fail(hf.source(), ": model_type ", quote(type), " but the recipe's model is phi3-v (phi3_v)");
  auto config = phi3_v_config::from_hf(hf);
  phi3_v_model model(config);
  auto checkpoint = io::safetensors_checkpoint::open(model_dir);
  load_weights(*model, checkpoint);
  model->language_model->gradient_checkpointing = r.train.gradient_checkpointing;
  model->vision_embed_tokens->tower->gradient_checkpointing = r.train.gradient_checkpointing;

  // ---- data ----
  auto tok = text::tokenizer::load(model_dir);
  text::chat_renderer chat(tok, text::chat_format::phi3_v);
  const auto processor = processors::phi3_v_image_config::load(model_dir);
  auto loaded = recipe::load_samples(r, [&](const data::dataset& ds, const std::string& file) {
    return prepare_samples(ds, chat, config, processor, {.max_length = r.data.max_length}, file);
  });
  const auto& samples = loaded.train;
  const auto& eval = loaded.eval;
  // Phi-3-V's tokenizer pads with <|endoftext|>
  const text::token_id pad = tok.token_to_id("<|endoftext|>").value_or(0);

  // ---- per-component policies, trainer ----
  auto applied = recipe::apply_policies(*model, r, component_modules, "model.layers.");
  training::loop_options o = recipe::loop_options_of(r, pad);
  recipe::print_trainable(*model, samples.size(), applied);
  auto hidden = [model](const training::lm_batch& b) mutable { return model->hidden_states(inputs_of(b)); };
  auto head = [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); };
  training::lm_trainer trainer(model.ptr(), hidden, head, o);
  const std::int64_t pack = r.data.packing ? r.data.max_length : 0;
  auto records = trainer.run(batch_source_of(samples, processor, pad, pack, r.data.media_threads),
                             batch_source_of(eval, processor, pad, 0, r.data.media_threads));

  // ---- outputs ----
  recipe::write_outputs(*model, r, applied, model_dir, checkpoint_names(checkpoint));
  if (r.train.check_logits) {
    model->eval();
    at::NoGradGuard no_grad;
    auto batch = batch_source_of(samples, processor, pad).collate({0});
    io::named_tensors check{{"input_ids", batch.input_ids}, {"logits", model->forward(inputs_of(batch))}};
    if (batch.pixel_values.defined()) {  // in the Python model's layout: crops padded to num_crops + 1
      check.emplace_back("pixel_values", padded_pixel_values(batch.pixel_values, batch.image_sizes, processor.num_crops));
      check.emplace_back("image_sizes", batch.image_sizes);
    }
    io::save_safetensors(output / "check_logits.safetensors", check);
  }
  if (!records.empty())
    std::printf("loss %.4f -> %.4f over %zu steps; loss curve: %s\n", records.front().loss, records.back().loss,
                records.size(), (output / "loss.svg").c_str());
  return 0;
}

}  // namespace lmms::phi3_v
