// examples/custom_model/clip_qwen2.hpp: a model lmms does not ship, defined in a user project by
// specialization only: the CLIP tower of one checkpoint paired with the Qwen2 LLM of another,
// joined by a new projector that average-pools each 2 x 2 block of patches (a quarter of the
// image tokens) before a two-layer MLP. Nothing under include/lmms changes: the model is a
// torch module built from lmms's parts (vit::clip_vision, lm::decoder_model, nn::linear), and
// lmms::model_traits<clip_qwen2> tells recipes its components, media and runner.
//
// Its "checkpoint" (tiny/config.json) names the two directories the parts come from:
//   {"model_type": "clip_qwen2", "vision_from": DIR, "llm_from": DIR, "pool": 2}
// The tokenizer and chat format are the LLM's (llava-interleave: chatml with an <image> token);
// the image processor is the tower's. The projector starts random.
//
// What the runner writes: output_dir/log.jsonl, loss.svg, checkpoints (lmms's trainer), and
// output_dir/clip_qwen2.safetensors with every parameter (LoRA A / B too) under its name here.
#pragma once

#include <cstdio>

#include <lmms/data/dataset.hpp>
#include <lmms/models/checkpoint_layout.hpp>
#include <lmms/models/llm/decoder.hpp>
#include <lmms/models/vision/clip.hpp>
#include <lmms/processors/clip.hpp>
#include <lmms/recipe/parts.hpp>
#include <lmms/recipe/resolved.hpp>
#include <lmms/recipe/runner.hpp>
#include <lmms/text/chat.hpp>
#include <lmms/train/loop.hpp>

namespace my {

/// The model tag a recipe names: model<my::clip_qwen2>{.path = ...}.
struct clip_qwen2 {};

/// Its collator family (a tag; a recipe's collator<...> must name this one).
struct clip_qwen2_collator {
  static constexpr const char* family = "clip-qwen2";
};

class clip_qwen2_model_impl : public torch::nn::Module {
 public:
  clip_qwen2_model_impl(const lmms::vit::clip_config& vision, const lmms::lm::decoder_config& text, std::int64_t pool)
      : pool_(pool) {
    auto model = register_module("model", std::make_shared<torch::nn::Module>());
    tower = model->register_module("vision_tower", lmms::vit::clip_vision(vision));
    auto projector = model->register_module("projector", std::make_shared<torch::nn::Module>());
    linear_1 = projector->register_module("linear_1", lmms::nn::linear(vision.hidden_size, text.hidden_size, true));
    linear_2 = projector->register_module("linear_2", lmms::nn::linear(text.hidden_size, text.hidden_size, true));
    language_model = model->register_module("language_model", lmms::lm::decoder_model(text));
    grid_ = vision.image_size / vision.patch_size;
  }
  /// Tokens per image: (grid / pool)^2.
  std::int64_t image_tokens() const { return (grid_ / pool_) * (grid_ / pool_); }

  /// pixel_values (N, 3, S, S) -> (N, image_tokens, H): the last layer's patches (class token
  /// dropped), average-pooled pool x pool, through the MLP.
  at::Tensor image_features(const at::Tensor& pixel_values) {
    at::Tensor h = tower->hidden_states(pixel_values, tower->config.num_layers - 1).back();
    h = h.narrow(1, 1, grid_ * grid_);  // drop the class token
    const auto N = h.size(0), D = h.size(2);
    h = h.transpose(1, 2).reshape({N, D, grid_, grid_});
    h = at::avg_pool2d(h, {pool_, pool_}).flatten(2).transpose(1, 2);
    return linear_2->forward(at::gelu(linear_1->forward(h)));
  }

  /// Final hidden states: the text embeddings with the image features in place of the image tokens.
  at::Tensor hidden_states(const lmms::training::lm_batch& b, std::int64_t image_token_id) {
    at::Tensor embeds = language_model->embed(b.input_ids);
    if (b.pixel_values.defined()) {
      at::Tensor features = image_features(b.pixel_values).to(embeds.scalar_type());
      at::Tensor is_image = (b.input_ids == image_token_id).unsqueeze(-1).expand_as(embeds);
      embeds = embeds.masked_scatter(is_image, features.reshape({-1, features.size(-1)}));
    }
    const auto B = b.input_ids.size(0), T = b.input_ids.size(1);
    at::Tensor positions = lmms::lm::packed_position_ids(b.attention_mask, B, T);
    return language_model->forward_embeds(embeds, positions, b.attention_mask);
  }
  at::Tensor logits(const at::Tensor& hidden) {  // the tied head of the Qwen2 LLM
    return at::linear(hidden, language_model->embed_tokens_weight).to(at::kFloat);
  }

  lmms::vit::clip_vision tower{nullptr};
  lmms::nn::linear linear_1{nullptr}, linear_2{nullptr};
  lmms::lm::decoder_model language_model{nullptr};

 private:
  std::int64_t pool_, grid_ = 0;
};
TORCH_MODULE_IMPL(clip_qwen2_model, clip_qwen2_model_impl);

/// The runner model_traits<clip_qwen2>::train points at: build, load, train, save.
inline int train_clip_qwen2(const lmms::recipe::resolved& r) {
  using namespace lmms;
  namespace fs = std::filesystem;
  at::manual_seed(static_cast<std::uint64_t>(r.train.seed));
  const fs::path dir = r.model_path;
  auto own = io::hf_config::load(dir);
  if (own.get_string_or("model_type", "") != "clip_qwen2")
    fail(own.source(), ": not a clip_qwen2 model (model_type ", quote(own.get_string_or("model_type", "")), ")");
  const fs::path vision_dir = dir / own.get_string("vision_from"), llm_dir = dir / own.get_string("llm_from");
  const auto vision_cfg = vit::clip_config::from_hf(io::hf_config::load(vision_dir).section("vision_config"));
  const auto text_cfg = lm::decoder_config::from_hf(io::hf_config::load(llm_dir).section("text_config"));
  if (!text_cfg.tie_word_embeddings) fail(llm_dir.string(), ": this example expects an LLM with a tied head");
  clip_qwen2_model model(vision_cfg, text_cfg, own.get_int_or("pool", 2));

  // the parts' weights from their own checkpoints (either Hugging Face layout)
  auto vision_ck = io::safetensors_checkpoint::open(vision_dir);
  auto llm_ck = io::safetensors_checkpoint::open(llm_dir);
  auto vision_names = models::checkpoint_names(vision_ck), llm_names = models::checkpoint_names(llm_ck);
  lm::load_weights(*model->tower, vision_ck, [&](const std::string& n) { return vision_names("model.vision_tower." + n); });
  lm::load_weights(*model->language_model, llm_ck, [&](const std::string& n) { return llm_names("model.language_model." + n); });

  // data: the LLM's tokenizer and chat format, <image> expanded to image_tokens() tokens, the tower's processor
  auto tok = text::tokenizer::load(llm_dir);
  text::chat_renderer chat(tok, text::chat_format::llava_interleave);
  const auto image_id = static_cast<std::int64_t>(*tok.token_to_id("<image>"));
  const auto pad = tok.token_to_id("<|endoftext|>").value_or(0);
  const auto processor = processors::clip_config::load(vision_dir);
  struct sample {
    training::token_sample text;
    std::vector<fs::path> images;
  };
  auto prepare = [&](const std::string& file) {
    auto ds = data::load_dataset({.file = file, .image_folder = r.data.image_folder});
    auto out = std::make_shared<std::vector<sample>>();
    for (const auto& s : ds.samples) {
      auto rendered = chat.render({.system_prompt = s.system_prompt, .turns = s.turns});
      sample x;
      for (std::size_t i = 0; i < rendered.input_ids.size(); ++i) {
        const bool image = rendered.input_ids[i] == image_id;
        const std::size_t n = image ? static_cast<std::size_t>(model->image_tokens()) : 1;
        x.text.input_ids.insert(x.text.input_ids.end(), n, rendered.input_ids[i]);
        x.text.labels.insert(x.text.labels.end(), n, image ? text::ignore_index : rendered.labels[i]);
      }
      x.images = s.images;
      out->push_back(std::move(x));
    }
    training::batch_source source{out->size(), [out, processor, pad](const std::vector<std::size_t>& indices) {
      std::vector<const training::token_sample*> rows;
      std::vector<at::Tensor> pixels;
      for (std::size_t i : indices) {
        rows.push_back(&(*out)[i].text);
        for (const auto& f : (*out)[i].images) {
          auto p = processors::clip_preprocess(media::load_image(f), processor);
          pixels.push_back(at::from_blob(p.data.data(), {3, p.height, p.width}, at::kFloat).clone());
        }
      }
      training::lm_batch b = training::collate_right_pad(rows, pad);
      if (!pixels.empty()) b.pixel_values = at::stack(pixels);
      return b;
    }};
    for (const auto& s : *out) {
      source.lengths.push_back(static_cast<std::int64_t>(s.text.input_ids.size()));
      source.text_only.push_back(s.images.empty());
    }
    std::printf("%s: %zu samples\n", file.c_str(), out->size());
    return source;
  };
  auto train_data = prepare(r.data.file);
  training::batch_source eval_data;
  if (!r.data.eval_file.empty()) eval_data = prepare(r.data.eval_file);

  // the recipe's policies on this model's components, lmms's trainer
  const recipe::component_map components = {{"llm", {"model.language_model"}},
                                            {"vision", {"model.vision_tower"}},
                                            {"projector", {"model.projector"}}};
  auto applied = recipe::apply_policies(*model, r, components, "model.language_model.");
  recipe::print_trainable(*model, train_data.size, applied);
  auto hidden = [model, image_id](const training::lm_batch& b) mutable { return model->hidden_states(b, image_id); };
  auto head = [model](const at::Tensor& h) mutable { return model->logits(h); };
  training::lm_trainer trainer(model.ptr(), hidden, head, recipe::loop_options_of(r, pad));
  auto records = trainer.run(train_data, eval_data);

  io::named_tensors weights;  // every parameter, LoRA A / B included, under its name in this model
  for (const auto& p : model->named_parameters()) weights.emplace_back(p.key(), p.value().detach());
  io::save_safetensors(fs::path(r.train.output_dir) / "clip_qwen2.safetensors", weights);
  if (!records.empty())
    std::printf("loss %.4f -> %.4f over %zu steps; weights: %s\n", records.front().loss, records.back().loss,
                records.size(), (fs::path(r.train.output_dir) / "clip_qwen2.safetensors").c_str());
  return 0;
}

}  // namespace my

/// The one extension door: what recipes need to know about my::clip_qwen2.
template <>
struct lmms::model_traits<my::clip_qwen2> {
  static constexpr bool specialized = true;
  static constexpr const char* name = "clip-qwen2";
  using components = type_list<llm_t, vision_t, projector_t>;
  static constexpr const char* component_names[] = {"llm", "vision", "projector"};
  using collator = my::clip_qwen2_collator;
  static constexpr bool images = true, multi_image = true, video = false;
  static constexpr bool vision_lora = true;  // the CLIP tower's q/k/v/out_proj, fc1, fc2
  static int train(const recipe::resolved& r) { return my::train_clip_qwen2(r); }
};
