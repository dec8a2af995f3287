// Implementation of the LLaVA-family recipe runner (lmms/models/llava/recipe.hpp).
#pragma once

#include <cstdio>

#include "lmms/core/error.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/checkpoint_layout.hpp"
#include "lmms/models/llava/data.hpp"
#include "lmms/models/llava/llava.hpp"
#include "lmms/models/llava/recipe.hpp"
#include "lmms/recipe/runner.hpp"
#include "lmms/train/lora.hpp"
#include "lmms/train/loop.hpp"

namespace lmms::llava {

namespace {
// Where each component's parameters live in the model (transformers' in-memory names).
const std::map<std::string, std::vector<std::string>> component_modules = {
    {"llm", {"model.language_model", "lm_head"}},
    {"vision", {"model.vision_tower"}},
    {"projector", {"model.multi_modal_projector"}},
};

struct family {
  const char* model_type;  // config.json's
  bool siglip;             // the tower the family's checkpoints have
  text::chat_format chat;
  const char* tag;         // the recipe tag, for messages
};

family family_of(const std::string& name) {
  if (name == "llava-1.5") return {"llava", false, text::chat_format::llava, "llava_1_5"};
  if (name == "llava-1.6") return {"llava_next", false, text::chat_format::llava, "llava_next"};
  if (name == "llava-next-video") return {"llava_next_video", false, text::chat_format::llava, "llava_next_video"};
  if (name == "llava-interleave") return {"llava", true, text::chat_format::llava_interleave, "llava_interleave"};
  if (name == "llava-onevision") return {"llava_onevision", true, text::chat_format::llava_onevision, "llava_onevision"};
  fail("the LLaVA runner does not know the model ", quote(name));
}
}  // namespace

int train_recipe(const recipe::resolved& r) {
  namespace fs = std::filesystem;
  const fs::path model_dir = r.model_path, output = r.train.output_dir;
  at::manual_seed(static_cast<std::uint64_t>(r.train.seed));  // before LoRA init: libtorch's CPU generator starts unseeded

  const family fam = family_of(r.model_type);
  auto config = llava_config::from_hf(io::hf_config::load(model_dir));
  if (config.model_type != fam.model_type || config.vision.siglip != fam.siglip) {
    const char* tag = config.model_type == "llava_next"         ? "llava_next"
                      : config.model_type == "llava_next_video" ? "llava_next_video"
                      : config.model_type == "llava_onevision"  ? "llava_onevision"
                      : config.vision.siglip                    ? "llava_interleave"
                                                                : "llava_1_5";
    fail(model_dir.string(), "/config.json is a ", config.model_type, " model with a ",
         config.vision.siglip ? "SigLIP" : "CLIP", " tower, not the recipe's ", r.model_type, "; use model<", tag,
         "> for this checkpoint");
  }
  llava_model model(config);
  auto checkpoint = io::safetensors_checkpoint::open(model_dir);
  load_weights(*model, checkpoint);
  model->language_model->gradient_checkpointing = r.train.gradient_checkpointing;
  model->vision_tower->gradient_checkpointing = r.train.gradient_checkpointing;

  // ---- data ----
  auto tok = text::tokenizer::load(model_dir);
  text::chat_renderer chat(tok, fam.chat);
  auto loaded = recipe::load_samples(r, [&](const data::dataset& ds, const std::string& file) {
    return prepare_samples(ds, chat, config, {.max_length = r.data.max_length, .num_frames = static_cast<int>(r.data.num_frames)}, file);
  });
  const auto& samples = loaded.train;
  const auto& eval = loaded.eval;
  const auto processor = processors::clip_config::load(model_dir);
  // the pad token: Vicuna's <pad>, Qwen2's <|endoftext|> (what the checkpoints' tokenizers set)
  const text::token_id pad = tok.token_to_id("<pad>").value_or(tok.token_to_id("<|endoftext|>").value_or(0));

  // ---- per-component policies, trainer ----
  auto applied = recipe::apply_policies(*model, r, component_modules, "model.language_model.");
  training::loop_options o = recipe::loop_options_of(r, pad);
  recipe::print_trainable(*model, samples.size(), applied);
  auto hidden = [model](const training::lm_batch& b) mutable {
    return model->hidden_states(b.input_ids, b.attention_mask, b.pixel_values, b.image_sizes, b.image_tiles,
                                b.pixel_values_videos);
  };
  auto head = [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); };
  training::lm_trainer trainer(model.ptr(), hidden, head, o);
  // packing: each micro-batch's samples share rows of max_length tokens; eval batches stay unpacked
  const std::int64_t pack = r.data.packing ? r.data.max_length : 0;
  const auto frames = static_cast<int>(r.data.num_frames);
  auto records = trainer.run(batch_source_of(samples, processor, config, pad, pack, frames, r.data.media_threads),
                             batch_source_of(eval, processor, config, pad, 0, frames, r.data.media_threads));

  // ---- outputs ----
  recipe::write_outputs(*model, r, applied, model_dir, models::checkpoint_names(checkpoint));
  if (r.train.check_logits) {
    model->eval();
    at::NoGradGuard no_grad;
    auto batch = batch_source_of(samples, processor, config, pad, 0, frames).collate({0});
    io::named_tensors check{{"input_ids", batch.input_ids},
                            {"logits", model->forward(batch.input_ids, batch.attention_mask, batch.pixel_values,
                                                      batch.image_sizes, batch.image_tiles, batch.pixel_values_videos)}};
    if (batch.pixel_values_videos.defined()) check.emplace_back("pixel_values_videos", batch.pixel_values_videos);
    if (batch.pixel_values.defined()) check.emplace_back("pixel_values", batch.pixel_values);
    if (batch.image_sizes.defined()) {
      check.emplace_back("image_sizes", batch.image_sizes);
      check.emplace_back("image_tiles", batch.image_tiles);
    }
    io::save_safetensors(output / "check_logits.safetensors", check);
  }
  if (!records.empty())
    std::printf("loss %.4f -> %.4f over %zu steps; loss curve: %s\n", records.front().loss, records.back().loss,
                records.size(), (output / "loss.svg").c_str());
  return 0;
}

}  // namespace lmms::llava
