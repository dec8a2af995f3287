// Implementation of the Qwen2-VL recipe runner (lmms/models/qwen2_vl/recipe.hpp).
#pragma once

#include <cstdio>

#include "lmms/core/error.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/checkpoint_layout.hpp"
#include "lmms/models/qwen2_vl/data.hpp"
#include "lmms/models/qwen2_vl/qwen2_vl.hpp"
#include "lmms/models/qwen2_vl/recipe.hpp"
#include "lmms/recipe/runner.hpp"

namespace lmms::qwen2vl {

namespace {
// Where each component's parameters live (transformers' in-memory names); lmms-finetune's
// MODULE_KEYWORDS for qwen2-vl split the vision tower the same way.
const recipe::component_map component_modules = {
    {"llm", {"model.language_model", "lm_head"}},
    {"vision", {"model.visual.patch_embed", "model.visual.blocks"}},
    {"projector", {"model.visual.merger"}},
};
}  // namespace

int train_recipe(const recipe::resolved& r) {
  namespace fs = std::filesystem;
  const fs::path model_dir = r.model_path, output = r.train.output_dir;
  at::manual_seed(static_cast<std::uint64_t>(r.train.seed));  // before LoRA init

  auto hf = io::hf_config::load(model_dir);
  const std::string type = hf.get_string_or("model_type", "");
  const std::string expected = r.model_type == "qwen2.5-vl" ? "qwen2_5_vl" : "qwen2_vl";
  if (type != expected)
    fail(hf.source(), ": model_type ", quote(type), " but the recipe's model is ", r.model_type, " (", expected,
         "); use model<", r.model_type == "qwen2.5-vl" ? "qwen2_vl" : "qwen2_5_vl", "> for this checkpoint");
  auto config = qwen2_vl_config::from_hf(hf);
  qwen2_vl_model model(config);
  auto checkpoint = io::safetensors_checkpoint::open(model_dir);
  load_weights(*model, checkpoint);
  model->language_model->gradient_checkpointing = r.train.gradient_checkpointing;
  model->visual->gradient_checkpointing = r.train.gradient_checkpointing;

  // ---- data ----
  auto tok = text::tokenizer::load(model_dir);
  text::chat_renderer chat(tok, text::chat_format::qwen2_vl);
  const auto processor = processors::qwen2_vl_image_config::load(model_dir);
  auto loaded = recipe::load_samples(r, [&](const data::dataset& ds, const std::string& file) {
    return prepare_samples(ds, chat, config, processor, {.max_length = r.data.max_length, .num_frames = static_cast<int>(r.data.num_frames)}, file);
  });
  const auto& samples = loaded.train;
  const auto& eval = loaded.eval;
  const text::token_id pad = tok.token_to_id("<|endoftext|>").value_or(0);

  // ---- per-component policies, trainer ----
  auto applied = recipe::apply_policies(*model, r, component_modules, "model.language_model.");
  training::loop_options o = recipe::loop_options_of(r, pad);
  recipe::print_trainable(*model, samples.size(), applied);
  auto hidden = [model](const training::lm_batch& b) mutable { return model->hidden_states(inputs_of(b)); };
  auto head = [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); };
  training::lm_trainer trainer(model.ptr(), hidden, head, o);
  // packing: each micro-batch's samples share rows of max_length tokens; eval batches stay unpacked
  const std::int64_t pack = r.data.packing ? r.data.max_length : 0;
  const auto frames = static_cast<int>(r.data.num_frames);
  auto records = trainer.run(batch_source_of(samples, processor, pad, pack, frames, r.data.media_threads),
                             batch_source_of(eval, processor, pad, 0, frames, r.data.media_threads));

  // ---- outputs ----
  recipe::write_outputs(*model, r, applied, model_dir, models::checkpoint_names(checkpoint));
  if (r.train.check_logits) {
    model->eval();
    at::NoGradGuard no_grad;
    auto batch = batch_source_of(samples, processor, pad, 0, frames).collate({0});
    io::named_tensors check{{"input_ids", batch.input_ids}, {"logits", model->forward(inputs_of(batch))}};
    if (batch.pixel_values.defined()) {
      check.emplace_back("pixel_values", batch.pixel_values);
      check.emplace_back("image_grid_thw", batch.image_grid_thw);
    }
    if (batch.pixel_values_videos.defined()) {
      check.emplace_back("pixel_values_videos", batch.pixel_values_videos);
      check.emplace_back("video_grid_thw", batch.video_grid_thw);
    }
    io::save_safetensors(output / "check_logits.safetensors", check);
  }
  if (!records.empty())
    std::printf("loss %.4f -> %.4f over %zu steps; loss curve: %s\n", records.front().loss, records.back().loss,
                records.size(), (output / "loss.svg").c_str());
  return 0;
}

}  // namespace lmms::qwen2vl
