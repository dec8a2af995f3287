// Implementation of lmms/models/llava/llava.hpp (LMMS_IMPLEMENTATION only). Mirrors
// transformers' modeling_llava.py (get_image_features, masked_scatter of image features).
#pragma once

#include "lmms/core/error.hpp"
#include "lmms/models/llava/llava.hpp"

namespace lmms::llava {

llava_config llava_config::from_hf(const io::hf_config& c) {
  const std::string type = c.get_string_or("model_type", "");
  if (type != "llava")
    fail(c.source(), ": model_type ", quote(type), " is not LLaVA-1.5 (llava); LLaVA-NeXT, OneVision and NeXT-Video ",
         "are separate models");
  llava_config l;
  l.text = lm::decoder_config::from_hf(c.section("text_config"));
  io::hf_config vc = c.section("vision_config");
  const std::string vtype = vc.get_string_or("model_type", "clip_vision_model");
  if (vtype != "clip_vision_model")
    fail(c.source(), ": vision_config.model_type ", quote(vtype), " is not implemented for LLaVA (clip_vision_model)");
  l.vision = vit::clip_config::from_hf(vc);
  l.image_token_id = c.has("image_token_id") ? c.get_int("image_token_id") : c.get_int("image_token_index");
  std::vector<std::int64_t> layers;
  if (c.value_text("vision_feature_layer").starts_with("["))
    layers = c.get_int_list("vision_feature_layer");
  else
    layers.push_back(c.get_int_or("vision_feature_layer", -2));
  for (std::int64_t k : layers) {
    // hidden_states has num_layers + 1 entries: the embeddings, then each layer's output
    const std::int64_t index = k < 0 ? l.vision.num_layers + 1 + k : k;
    if (index < 0 || index > l.vision.num_layers)
      fail(c.source(), ": vision_feature_layer ", k, " is outside the tower's ", l.vision.num_layers, " layers");
    l.feature_layers.push_back(index);
  }
  const std::string strategy = c.get_string_or("vision_feature_select_strategy", "default");
  if (strategy != "default" && strategy != "full")
    fail(c.source(), ": vision_feature_select_strategy ", quote(strategy), " is not one of default, full");
  l.drop_cls = strategy == "default";
  l.projector_act = c.get_string_or("projector_hidden_act", "gelu");
  if (l.projector_act != "gelu")
    fail(c.source(), ": projector_hidden_act ", quote(l.projector_act), " is not implemented (gelu)");
  l.projector_bias = c.get_bool_or("multimodal_projector_bias", true);
  // a tied lm_head lives in the top-level config for LLaVA
  l.text.tie_word_embeddings = c.get_bool_or("tie_word_embeddings", l.text.tie_word_embeddings);
  return l;
}

projector_impl::projector_impl(std::int64_t in, std::int64_t out, const std::string& act, bool bias) : act_(act) {
  linear_1 = register_module("linear_1", nn::linear(in, out, bias));
  linear_2 = register_module("linear_2", nn::linear(out, out, bias));
}

at::Tensor projector_impl::forward(const at::Tensor& x) { return linear_2->forward(at::gelu(linear_1->forward(x))); }

llava_model_impl::llava_model_impl(const llava_config& c) : config(c) {
  auto model = register_module("model", std::make_shared<torch::nn::Module>());
  vision_tower = model->register_module("vision_tower", vit::clip_vision(c.vision));
  const auto in = c.vision.hidden_size * static_cast<std::int64_t>(c.feature_layers.size());
  multi_modal_projector = model->register_module(
      "multi_modal_projector", projector(in, c.text.hidden_size, c.projector_act, c.projector_bias));
  language_model = model->register_module("language_model", lm::decoder_model(c.text));
  if (!c.text.tie_word_embeddings)
    lm_head = register_module("lm_head", nn::linear(c.text.hidden_size, c.text.vocab_size, false));
}

at::Tensor llava_model_impl::image_features(const at::Tensor& pixel_values) {
  const std::int64_t deepest = *std::max_element(config.feature_layers.begin(), config.feature_layers.end());
  std::vector<at::Tensor> hidden = vision_tower->hidden_states(pixel_values, deepest - 1);
  std::vector<at::Tensor> picked;
  for (std::int64_t k : config.feature_layers) {
    at::Tensor h = hidden[k];
    if (config.drop_cls) h = h.narrow(1, 1, h.size(1) - 1);
    picked.push_back(h);
  }
  at::Tensor features = picked.size() == 1 ? picked[0] : at::cat(picked, -1);
  return multi_modal_projector->forward(features);
}

at::Tensor llava_model_impl::input_embeddings(const at::Tensor& input_ids, const at::Tensor& pixel_values) {
  at::Tensor embeds = language_model->embed(input_ids);
  at::Tensor is_image = input_ids == config.image_token_id;
  const std::int64_t image_tokens = is_image.sum().item<std::int64_t>();
  const std::int64_t images = pixel_values.defined() ? pixel_values.size(0) : 0;
  if (image_tokens != images * config.image_tokens())
    fail("the batch has ", image_tokens, " <image> tokens but ", images, " image", images == 1 ? "" : "s", " of ",
         config.image_tokens(), " tokens each (the collator must expand each <image> to ", config.image_tokens(),
         " tokens and never truncate inside one)");
  if (images == 0) return embeds;
  at::Tensor features = image_features(pixel_values).to(embeds.scalar_type()).reshape({-1, embeds.size(-1)});
  return embeds.masked_scatter(is_image.unsqueeze(-1).expand_as(embeds), features);
}

at::Tensor llava_model_impl::hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                           const at::Tensor& pixel_values) {
  at::Tensor embeds = input_embeddings(input_ids, pixel_values);
  at::Tensor positions = lm::packed_position_ids(attention_mask, input_ids.size(0), input_ids.size(1));
  return language_model->forward_embeds(embeds, positions, attention_mask);
}

at::Tensor llava_model_impl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                     const at::Tensor& pixel_values) {
  return logits_from_hidden(hidden_states(input_ids, attention_mask, pixel_values));
}

at::Tensor llava_model_impl::logits_from_hidden(const at::Tensor& hidden) {
  at::Tensor logits = lm_head ? lm_head->forward(hidden) : at::linear(hidden, language_model->embed_tokens_weight);
  return logits.to(at::kFloat);
}

void load_weights(llava_model_impl& model, const io::safetensors_checkpoint& checkpoint) {
  lm::load_weights(model, checkpoint, models::checkpoint_names(checkpoint));
}

}  // namespace lmms::llava
