// Implementation of lmms/models/phi3_v/phi3_v.hpp (LMMS_IMPLEMENTATION only). Follows the
// equations of the checkpoint's image_embedding_phi3_v.py (Phi3ImageEmbedding: CLIP hidden
// states, reshape_hd_patches_2x2merge, add_image_newline, hd_feature_transform) and
// modeling_phi3_v.py (the Phi-3 decoder, which lm::decoder_model implements).
#pragma once

#include "lmms/core/error.hpp"
#include "lmms/models/phi3_v/phi3_v.hpp"
#include "lmms/processors/phi3_v.hpp"

namespace lmms::phi3_v {

std::int64_t phi3_v_config::image_tokens(int hd_height, int hd_width) const {
  return processors::phi3_v_image_tokens(hd_height, hd_width, merged_grid());
}

phi3_v_config phi3_v_config::from_hf(const io::hf_config& c) {
  const std::string type = c.get_string_or("model_type", "");
  if (type != "phi3_v") fail(c.source(), ": model_type ", quote(type), " is not Phi-3-Vision (phi3_v)");
  phi3_v_config p;
  p.text = lm::decoder_config::from_hf(c);
  const auto img = c.section("img_processor");
  const std::string name = img.get_string_or("name", "");
  if (name != "clip_vision_model")
    fail(c.source(), ": img_processor.name ", quote(name), " is not implemented (clip_vision_model)");
  if (auto v = img.section_if("vision_config")) {
    p.vision = vit::clip_config::from_hf(*v);
  } else {  // what the remote code builds for openai/clip-vit-large-patch14-336
    p.vision.hidden_size = 1024;
    p.vision.intermediate_size = 4096;
    p.vision.num_layers = 24;
    p.vision.num_heads = 16;
    p.vision.image_size = 336;
    p.vision.patch_size = 14;
    p.vision.layer_norm_eps = 1e-5;
    p.vision.hidden_act = "quick_gelu";
  }
  if (p.vision.siglip) fail(c.source(), ": Phi-3-Vision's tower is CLIP, not SigLIP");
  if (p.vision.image_size != processors::phi3_v_image_config::crop_size)
    fail(c.source(), ": the tower's image_size is ", p.vision.image_size, "; Phi-3-Vision's processor cuts 336 px crops");
  if ((p.vision.image_size / p.vision.patch_size) % 2 != 0)
    fail(c.source(), ": the 2x2 merge needs an even patch grid; this tower has ", p.vision.image_size / p.vision.patch_size);
  p.image_dim_out = img.get_int_or("image_dim_out", p.vision.hidden_size);
  if (p.image_dim_out != p.vision.hidden_size)
    fail(c.source(), ": img_processor.image_dim_out ", p.image_dim_out, " is not the tower's hidden size ", p.vision.hidden_size);
  if (img.get_string_or("type_feature", "patch") != "patch")
    fail(c.source(), ": img_processor.type_feature ", quote(img.get_string("type_feature")), " is not implemented (patch)");
  const std::int64_t layer = img.get_int_or("layer_idx", -2);
  p.feature_layer = layer < 0 ? p.vision.num_layers + 1 + layer : layer;
  if (p.feature_layer < 1 || p.feature_layer > p.vision.num_layers)
    fail(c.source(), ": img_processor.layer_idx ", layer, " is outside the tower's ", p.vision.num_layers, " layers");
  if (auto e = c.section_if("embd_layer")) {
    if (!e->get_bool_or("use_hd_transform", false) || !e->get_bool_or("with_learnable_separator", false))
      fail(c.source(), ": embd_layer without use_hd_transform and with_learnable_separator is not implemented");
    if (e->get_string_or("hd_transform_order", "glb_sub") != "sub_glb")
      fail(c.source(), ": embd_layer.hd_transform_order must be sub_glb (the only order the remote code implements)");
    if (e->get_string_or("projection_cls", "linear") != "mlp")
      fail(c.source(), ": embd_layer.projection_cls ", quote(e->get_string_or("projection_cls", "linear")),
           " is not implemented (mlp)");
  } else {
    fail(c.source(), ": no embd_layer section (Phi-3-Vision's config has one)");
  }
  return p;
}

image_embedding_impl::image_embedding_impl(const phi3_v_config& c) : config(c) {
  auto img_processor = register_module("img_processor", std::make_shared<torch::nn::Module>());
  tower = img_processor->register_module("vision_model", vit::clip_vision(c.vision));
  const std::int64_t merged = 4 * c.image_dim_out;
  glb_GN = register_parameter("glb_GN", at::zeros({1, 1, merged}));
  sub_GN = register_parameter("sub_GN", at::zeros({1, 1, 1, merged}));
  auto projection = register_module("img_projection", std::make_shared<torch::nn::Module>());
  projection_0 = projection->register_module("0", nn::linear(merged, c.text.hidden_size, true));
  projection_2 = projection->register_module("2", nn::linear(c.text.hidden_size, c.text.hidden_size, true));
}

at::Tensor image_embedding_impl::forward(const at::Tensor& pixel_values, const at::Tensor& image_sizes) {
  const std::int64_t g = config.vision.image_size / config.vision.patch_size, m = g / 2, C = config.image_dim_out;
  std::vector<at::Tensor> hidden = tower->hidden_states(pixel_values, config.feature_layer - 1);
  at::Tensor features = hidden[static_cast<std::size_t>(config.feature_layer)];
  features = features.narrow(1, 1, features.size(1) - 1);  // patches: the class token dropped
  // reshape_hd_patches_2x2merge: (n * rows * cols, g*g, C) -> (n, rows * m, cols * m, 4C)
  auto merge = [&](const at::Tensor& x, std::int64_t rows, std::int64_t cols) {
    const std::int64_t N = x.size(0), n = N / (rows * cols);
    return x.reshape({N, g, g, C})
        .reshape({N, m, 2, m, 2, C})
        .permute({0, 1, 3, 2, 4, 5})
        .reshape({N, -1, 4 * C})
        .reshape({n, rows, cols, m, m, 4 * C})
        .permute({0, 1, 3, 2, 4, 5})
        .reshape({n, rows * m, cols * m, 4 * C});
  };
  // add_image_newline: sub_GN after each row of the grid, then flattened
  auto with_newlines = [&](const at::Tensor& x) {
    const std::int64_t n = x.size(0), h = x.size(1);
    return at::cat({x, sub_GN.expand({n, h, -1, -1}).to(x.scalar_type())}, 2).reshape({n, -1, 4 * C});
  };
  at::Tensor sizes = image_sizes.to(at::kCPU, at::kLong).contiguous();
  const std::int64_t images = sizes.size(0), crop = processors::phi3_v_image_config::crop_size;
  std::vector<at::Tensor> pieces;
  std::int64_t offset = 0;
  for (std::int64_t i = 0; i < images; ++i) {
    const std::int64_t rows = sizes.data_ptr<std::int64_t>()[2 * i] / crop, cols = sizes.data_ptr<std::int64_t>()[2 * i + 1] / crop;
    if (rows < 1 || cols < 1 || offset + 1 + rows * cols > features.size(0))
      fail("image ", i, " of HD size ", sizes.data_ptr<std::int64_t>()[2 * i], "x", sizes.data_ptr<std::int64_t>()[2 * i + 1],
           " needs ", 1 + rows * cols, " crops but the batch has ", features.size(0) - offset,
           " left: pixel_values and image_sizes must come from the same collate");
    at::Tensor global = features.narrow(0, offset, 1);
    at::Tensor sub = features.narrow(0, offset + 1, rows * cols);
    offset += 1 + rows * cols;
    pieces.push_back(with_newlines(merge(sub, rows, cols))[0]);
    pieces.push_back(glb_GN[0].to(sub.scalar_type()));
    pieces.push_back(with_newlines(merge(global, 1, 1))[0]);
  }
  if (offset != features.size(0))
    fail("the batch has ", features.size(0), " image crops but its ", images, " image sizes account for ", offset);
  at::Tensor all = at::cat(pieces, 0);
  return projection_2->forward(at::gelu(projection_0->forward(all)));
}

phi3_v_model_impl::phi3_v_model_impl(const phi3_v_config& c) : config(c) {
  language_model = register_module("model", lm::decoder_model(c.text));
  vision_embed_tokens = language_model->register_module("vision_embed_tokens", image_embedding(c));
  if (!c.text.tie_word_embeddings)
    lm_head = register_module("lm_head", nn::linear(c.text.hidden_size, c.text.vocab_size, false));
}

at::Tensor phi3_v_model_impl::input_embeddings(const inputs& in) {
  // the image positions hold -k: the text embedding of the clamped id is replaced below
  at::Tensor is_image = in.input_ids < 0;
  at::Tensor embeds = language_model->embed(in.input_ids.clamp_min(0));
  const std::int64_t image_tokens = is_image.sum().item<std::int64_t>();
  const bool has_pixels = in.pixel_values.defined() && in.pixel_values.size(0) > 0;
  if (!has_pixels) {
    if (image_tokens != 0) fail("the batch has ", image_tokens, " image positions (negative ids) but no pixel_values");
    return embeds;
  }
  if (!in.image_sizes.defined()) fail("Phi-3-Vision needs image_sizes (each image's HD height and width) with pixel_values");
  at::Tensor features = vision_embed_tokens->forward(in.pixel_values, in.image_sizes).to(embeds.scalar_type());
  if (features.size(0) != image_tokens)
    fail("the batch has ", image_tokens, " image positions but its images give ", features.size(0),
         " embeddings (each image is (rows * cols + 1) * 144 + 1 + (rows + 1) * 12 positions; the collator must never ",
         "truncate inside one)");
  return embeds.masked_scatter(is_image.unsqueeze(-1).expand_as(embeds), features);
}

at::Tensor phi3_v_model_impl::hidden_states(const inputs& in) {
  at::Tensor embeds = input_embeddings(in);
  at::Tensor positions = lm::packed_position_ids(in.attention_mask, in.input_ids.size(0), in.input_ids.size(1));
  return language_model->forward_embeds(embeds, positions, in.attention_mask);
}

at::Tensor phi3_v_model_impl::logits_from_hidden(const at::Tensor& hidden) {
  at::Tensor logits = lm_head ? lm_head->forward(hidden) : at::linear(hidden, language_model->embed_tokens_weight);
  return logits.to(at::kFloat);
}

std::function<std::string(const std::string&)> checkpoint_names(const io::safetensors_checkpoint& checkpoint) {
  const io::safetensors_checkpoint* ck = &checkpoint;
  return [ck](const std::string& name) {
    if (name == "model.embed_tokens.weight" && !ck->find(name) && ck->find("model.vision_embed_tokens.wte.weight"))
      return std::string("model.vision_embed_tokens.wte.weight");
    return name;
  };
}

void load_weights(phi3_v_model_impl& model, const io::safetensors_checkpoint& checkpoint) {
  lm::load_weights(model, checkpoint, checkpoint_names(checkpoint));
}

}  // namespace lmms::phi3_v
