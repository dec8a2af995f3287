// Implementation of lmms/models/vision/clip.hpp (LMMS_IMPLEMENTATION only). Mirrors
// transformers' modeling_clip.py (CLIPVisionEmbeddings, CLIPEncoderLayer) step by step.
#pragma once

#include <cmath>

#include "lmms/core/error.hpp"
#include "lmms/models/vision/clip.hpp"
#include "lmms/nn/checkpoint.hpp"

namespace lmms::vit {

clip_config clip_config::from_hf(const io::hf_config& c) {
  clip_config v;
  const std::string type = c.get_string_or("model_type", "clip_vision_model");
  if (type != "clip_vision_model" && type != "siglip_vision_model")
    fail(c.source(), ": ", c.prefix(), ".model_type ", quote(type), " is not a vision tower lmms implements ",
         "(clip_vision_model, siglip_vision_model)");
  v.siglip = type == "siglip_vision_model";
  if (v.siglip && c.get_bool_or("vision_use_head", true))
    fail(c.source(), ": ", c.prefix(), ".vision_use_head is true: SigLIP's pooling head is not implemented (the LLaVA ",
         "checkpoints read hidden states and have none; set it to false)");
  v.hidden_size = c.get_int("hidden_size");
  v.intermediate_size = c.get_int("intermediate_size");
  v.num_layers = c.get_int("num_hidden_layers");
  v.num_heads = c.get_int("num_attention_heads");
  v.image_size = c.get_int("image_size");
  v.patch_size = c.get_int("patch_size");
  v.num_channels = c.get_int_or("num_channels", 3);
  v.layer_norm_eps = c.get_double_or("layer_norm_eps", v.siglip ? 1e-6 : 1e-5);
  v.hidden_act = c.get_string_or("hidden_act", v.siglip ? "gelu_pytorch_tanh" : "quick_gelu");
  if (v.hidden_act != "quick_gelu" && v.hidden_act != "gelu" && v.hidden_act != "gelu_pytorch_tanh")
    fail(c.source(), ": ", c.prefix(), ".hidden_act ", quote(v.hidden_act),
         " is not implemented (quick_gelu, gelu, gelu_pytorch_tanh)");
  if (v.image_size % v.patch_size != 0)
    fail(c.source(), ": ", c.prefix(), ".image_size ", v.image_size, " is not a multiple of patch_size ", v.patch_size);
  return v;
}

clip_attention_impl::clip_attention_impl(const clip_config& c)
    : heads_(c.num_heads), head_dim_(c.hidden_size / c.num_heads) {
  k_proj = register_module("k_proj", nn::linear(c.hidden_size, c.hidden_size, true));
  v_proj = register_module("v_proj", nn::linear(c.hidden_size, c.hidden_size, true));
  q_proj = register_module("q_proj", nn::linear(c.hidden_size, c.hidden_size, true));
  out_proj = register_module("out_proj", nn::linear(c.hidden_size, c.hidden_size, true));
}

at::Tensor clip_attention_impl::forward(const at::Tensor& x) {
  const auto B = x.size(0), T = x.size(1);
  auto split = [&](const at::Tensor& t) { return t.view({B, T, heads_, head_dim_}).transpose(1, 2); };
  at::Tensor q = split(q_proj->forward(x)), k = split(k_proj->forward(x)), v = split(v_proj->forward(x));
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  at::Tensor out = at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, scale);
  return out_proj->forward(out.transpose(1, 2).reshape({B, T, heads_ * head_dim_}));
}

clip_layer_impl::clip_layer_impl(const clip_config& c) : act_(c.hidden_act) {
  self_attn = register_module("self_attn", clip_attention(c));
  layer_norm1 = register_module("layer_norm1", nn::layer_norm(c.hidden_size, c.layer_norm_eps));
  auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
  fc1 = mlp->register_module("fc1", nn::linear(c.hidden_size, c.intermediate_size, true));
  fc2 = mlp->register_module("fc2", nn::linear(c.intermediate_size, c.hidden_size, true));
  layer_norm2 = register_module("layer_norm2", nn::layer_norm(c.hidden_size, c.layer_norm_eps));
}

at::Tensor clip_layer_impl::forward(const at::Tensor& x) {
  at::Tensor h = x + self_attn->forward(layer_norm1->forward(x));
  at::Tensor m = fc1->forward(layer_norm2->forward(h));
  if (act_ == "quick_gelu")
    m = m * at::sigmoid(1.702 * m);
  else
    m = at::gelu(m, act_ == "gelu_pytorch_tanh" ? "tanh" : "none");
  return h + fc2->forward(m);
}

clip_vision_impl::clip_vision_impl(const clip_config& c) : config(c) {
  auto embeddings = register_module("embeddings", std::make_shared<torch::nn::Module>());
  if (!c.siglip) class_embedding = embeddings->register_parameter("class_embedding", at::randn({c.hidden_size}) * 0.02);
  auto patch = embeddings->register_module(
      "patch_embedding", nn::weight_holder(at::randn({c.hidden_size, c.num_channels, c.patch_size, c.patch_size}) * 0.02));
  patch_embedding_weight = patch->weight;
  if (c.siglip) patch_embedding_bias = patch->register_parameter("bias", at::zeros({c.hidden_size}));
  position_embedding =
      embeddings
          ->register_module("position_embedding",
                            nn::weight_holder(at::randn({c.sequence_length(), c.hidden_size}) * 0.02))
          ->weight;
  if (!c.siglip) pre_layrnorm = register_module("pre_layrnorm", nn::layer_norm(c.hidden_size, c.layer_norm_eps));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  layers = encoder->register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_layers; ++i) layers->push_back(clip_layer(c));
  post_layernorm = register_module("post_layernorm", nn::layer_norm(c.hidden_size, c.layer_norm_eps));
}

std::vector<at::Tensor> clip_vision_impl::hidden_states(const at::Tensor& pixel_values, std::int64_t up_to_layer) {
  if (pixel_values.dim() != 4 || pixel_values.size(1) != config.num_channels ||
      pixel_values.size(2) != config.image_size || pixel_values.size(3) != config.image_size)
    fail("the CLIP tower takes pixel_values (N, ", config.num_channels, ", ", config.image_size, ", ", config.image_size,
         ") but got ", pixel_values.sizes(), " (does the image processor match the model?)");
  if (up_to_layer < -1 || up_to_layer >= config.num_layers)
    fail("CLIP hidden state of layer ", up_to_layer, " asked for; the tower has ", config.num_layers, " layers");
  const auto N = pixel_values.size(0);
  const std::int64_t stride[2] = {config.patch_size, config.patch_size};
  std::optional<at::Tensor> bias;
  if (patch_embedding_bias.defined()) bias = patch_embedding_bias;
  at::Tensor patches = at::conv2d(pixel_values.to(patch_embedding_weight.scalar_type()), patch_embedding_weight, bias,
                                  at::IntArrayRef(stride, 2))
                           .flatten(2)
                           .transpose(1, 2);  // (N, P, hidden)
  std::vector<at::Tensor> out;
  if (config.siglip) {
    out.push_back(patches + position_embedding.unsqueeze(0));
  } else {
    at::Tensor cls = class_embedding.view({1, 1, -1}).expand({N, 1, -1});
    out.push_back(pre_layrnorm->forward(at::cat({cls, patches}, 1) + position_embedding.unsqueeze(0)));
  }
  for (std::int64_t i = 0; i <= up_to_layer; ++i) {
    auto* layer = (*layers)[i]->as<clip_layer_impl>();
    if (gradient_checkpointing && is_training())
      out.push_back(nn::checkpoint([layer](const at::Tensor& x) { return layer->forward(x); }, out.back()));
    else
      out.push_back(layer->forward(out.back()));
  }
  return out;
}

}  // namespace lmms::vit
