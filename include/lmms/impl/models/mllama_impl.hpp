// Implementation of lmms/models/mllama/mllama.hpp (LMMS_IMPLEMENTATION only). Each step mirrors
// transformers' modeling_mllama.py so that logits and gradients agree within float32 rounding.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "lmms/core/error.hpp"
#include "lmms/models/checkpoint_layout.hpp"
#include "lmms/models/mllama/mllama.hpp"
#include "lmms/nn/checkpoint.hpp"

namespace lmms::mllama {

namespace {
struct holder_impl : torch::nn::Module {
  explicit holder_impl(at::Tensor w) { weight = register_parameter("weight", std::move(w)); }
  at::Tensor weight;
};
at::Tensor register_holder(torch::nn::Module& parent, const std::string& name, at::Tensor w) {
  auto h = std::make_shared<holder_impl>(std::move(w));
  parent.register_module(name, h);
  return h->weight;
}
// transformers fills masked scores with finfo(float32).min, not -inf; the same value here keeps
// rows that see nothing (uniform attention, as in transformers) identical.
constexpr double float_min = -3.4028234663852886e38;
}  // namespace

mllama_config mllama_config::from_hf(const io::hf_config& c) {
  mllama_config m;
  const auto t = c.section("text_config");
  const auto v = c.section("vision_config");
  auto& d = m.text;
  d.model_type = "llama";
  d.vocab_size = t.get_int("vocab_size");
  d.hidden_size = t.get_int("hidden_size");
  d.intermediate_size = t.get_int("intermediate_size");
  d.num_layers = t.get_int("num_hidden_layers");
  d.num_heads = t.get_int("num_attention_heads");
  d.num_kv_heads = t.get_int_or("num_key_value_heads", d.num_heads);
  d.head_dim = d.hidden_size / d.num_heads;
  d.rms_norm_eps = t.get_double_or("rms_norm_eps", 1e-5);
  d.tie_word_embeddings = t.get_bool_or("tie_word_embeddings", c.get_bool_or("tie_word_embeddings", false));
  if (t.get_string_or("hidden_act", "silu") != "silu")
    fail(c.source(), ": text_config.hidden_act ", quote(t.get_string("hidden_act")), " is not implemented (silu)");
  // transformers 5 writes rope_parameters; hub checkpoints rope_theta + rope_scaling
  std::optional<io::hf_config> rope = t.section_if("rope_parameters");
  d.rope_theta = rope ? rope->get_double_or("rope_theta", 500000.0) : t.get_double_or("rope_theta", 500000.0);
  if (!rope) rope = t.section_if("rope_scaling");
  if (rope) {
    const std::string type = rope->get_string_or("rope_type", rope->get_string_or("type", "default"));
    if (type == "llama3") {
      m.rope.factor = rope->get_double("factor");
      m.rope.low_freq_factor = rope->get_double("low_freq_factor");
      m.rope.high_freq_factor = rope->get_double("high_freq_factor");
      m.rope.original_max_positions = rope->get_double("original_max_position_embeddings");
    } else if (type != "default") {
      fail(c.source(), ": text_config rope type ", quote(type), " is not implemented for Llama-3.2-Vision (llama3, default)");
    }
  }
  m.cross_attention_layers = t.get_int_list("cross_attention_layers");
  for (auto i : m.cross_attention_layers)
    if (i < 0 || i >= d.num_layers)
      fail(c.source(), ": cross_attention_layers has ", i, " but the text model has ", d.num_layers, " layers");

  auto& vc = m.vision;
  vc.hidden_size = v.get_int("hidden_size");
  vc.intermediate_size = v.get_int("intermediate_size");
  vc.num_layers = v.get_int("num_hidden_layers");
  vc.num_global_layers = v.get_int("num_global_layers");
  vc.num_heads = v.get_int("attention_heads");
  vc.num_channels = v.get_int_or("num_channels", 3);
  vc.image_size = v.get_int("image_size");
  vc.patch_size = v.get_int("patch_size");
  vc.max_num_tiles = v.get_int_or("max_num_tiles", 4);
  vc.norm_eps = v.get_double_or("norm_eps", 1e-5);
  vc.intermediate_layers = v.get_int_list("intermediate_layers_indices");
  vc.vision_output_dim = v.get_int("vision_output_dim");
  if (v.get_string_or("hidden_act", "gelu") != "gelu")
    fail(c.source(), ": vision_config.hidden_act ", quote(v.get_string("hidden_act")), " is not implemented (gelu)");
  if (vc.vision_output_dim != vc.hidden_size * (1 + static_cast<std::int64_t>(vc.intermediate_layers.size())))
    fail(c.source(), ": vision_output_dim ", vc.vision_output_dim, " is not hidden_size x (1 + intermediate layers)");
  for (auto i : vc.intermediate_layers)
    if (i < 0 || i >= vc.num_layers) fail(c.source(), ": intermediate_layers_indices has ", i, " (", vc.num_layers, " layers)");
  if (v.has("supported_aspect_ratios")) {  // a list of [w, h] pairs: count them
    const std::string text = v.value_text("supported_aspect_ratios");
    vc.max_aspect_ratio_id = static_cast<std::int64_t>(std::count(text.begin(), text.end(), '[')) - 1;
  } else {  // transformers' default: every w x h <= max_num_tiles
    for (std::int64_t w = 1; w <= vc.max_num_tiles; ++w)
      for (std::int64_t h = 1; h <= vc.max_num_tiles; ++h) vc.max_aspect_ratio_id += w * h <= vc.max_num_tiles;
  }
  m.image_token_id = c.get_int_or("image_token_index", c.get_int_or("image_token_id", d.vocab_size));
  return m;
}

bool mllama_config::is_cross_attention_layer(std::int64_t index) const {
  return std::find(cross_attention_layers.begin(), cross_attention_layers.end(), index) != cross_attention_layers.end();
}

at::Tensor cross_attention_mask(const at::Tensor& input_ids, std::int64_t image_token_id,
                                const std::vector<std::vector<std::int64_t>>& num_tiles, std::int64_t max_tiles) {
  const std::int64_t B = input_ids.size(0), T = input_ids.size(1);
  if (static_cast<std::int64_t>(num_tiles.size()) != B)
    fail("cross_attention_mask: ", num_tiles.size(), " rows of tile counts for a batch of ", B);
  std::size_t max_images = 1;
  for (const auto& n : num_tiles) max_images = std::max(max_images, n.size());
  at::Tensor mask = at::zeros({B, T, static_cast<std::int64_t>(max_images), max_tiles}, at::kLong);
  auto ids = input_ids.to(at::kLong).contiguous();
  auto ia = ids.accessor<std::int64_t, 2>();
  auto ma = mask.accessor<std::int64_t, 4>();
  for (std::int64_t b = 0; b < B; ++b) {
    std::vector<std::int64_t> at_token;
    for (std::int64_t t = 0; t < T; ++t)
      if (ia[b][t] == image_token_id) at_token.push_back(t);
    if (at_token.size() != num_tiles[static_cast<std::size_t>(b)].size())
      fail("row ", b, " has ", at_token.size(), " image tokens but ", num_tiles[static_cast<std::size_t>(b)].size(), " images");
    // image k sees [its token, the next image token); a run of adjacent image tokens all see
    // the span after the last of them
    std::vector<std::int64_t> end(at_token.size());
    for (std::size_t k = 0; k < at_token.size(); ++k) end[k] = k + 1 < at_token.size() ? at_token[k + 1] : T;
    for (std::size_t k = at_token.size(); k-- > 0;)
      if (k + 1 < at_token.size() && at_token[k] + 1 == end[k]) end[k] = end[k + 1];
    for (std::size_t k = 0; k < at_token.size(); ++k) {
      const std::int64_t tiles = std::min(num_tiles[static_cast<std::size_t>(b)][k], max_tiles);
      for (std::int64_t t = at_token[k]; t < end[k]; ++t)
        for (std::int64_t j = 0; j < tiles; ++j) ma[b][t][static_cast<std::int64_t>(k)][j] = 1;
    }
  }
  return mask;
}

at::Tensor rope_inverse_frequencies(const mllama_config& config) {
  const std::int64_t dim = config.text.head_dim;
  at::Tensor exponent = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  at::Tensor inv_freq = 1.0 / at::pow(config.text.rope_theta, exponent);
  const auto& r = config.rope;
  if (r.factor == 0) return inv_freq;
  // _compute_llama3_parameters, with Python's scalar / tensor as reciprocal() * scalar
  const double low_wavelen = r.original_max_positions / r.low_freq_factor;
  const double high_wavelen = r.original_max_positions / r.high_freq_factor;
  at::Tensor wavelen = inv_freq.reciprocal() * (2 * std::numbers::pi);
  at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / r.factor, inv_freq);
  at::Tensor smooth = (wavelen.reciprocal() * r.original_max_positions - r.low_freq_factor) /
                      (r.high_freq_factor - r.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / r.factor + smooth * scaled;
  at::Tensor medium = (wavelen < high_wavelen).logical_not() & (wavelen > low_wavelen).logical_not();
  return at::where(medium, smoothed, scaled);
}

// ---- vision ---------------------------------------------------------------------------------
vision_attention_impl::vision_attention_impl(const vision_config& c)
    : heads_(c.num_heads), head_dim_(c.hidden_size / c.num_heads) {
  q_proj = register_module("q_proj", nn::linear(c.hidden_size, c.hidden_size, false));
  k_proj = register_module("k_proj", nn::linear(c.hidden_size, c.hidden_size, false));
  v_proj = register_module("v_proj", nn::linear(c.hidden_size, c.hidden_size, false));
  o_proj = register_module("o_proj", nn::linear(c.hidden_size, c.hidden_size, false));
}

at::Tensor vision_attention_impl::forward(const at::Tensor& x, const at::Tensor& mask) {
  const auto B = x.size(0), L = x.size(1);
  auto heads = [&](const at::Tensor& t) { return t.view({B, L, heads_, head_dim_}).transpose(1, 2); };
  at::Tensor q = heads(q_proj->forward(x)), k = heads(k_proj->forward(x)), v = heads(v_proj->forward(x));
  at::Tensor out = at::scaled_dot_product_attention(q, k, v, mask.defined() ? std::optional<at::Tensor>(mask.to(q.scalar_type())) : std::nullopt,
                                                    0.0, false, 1.0 / std::sqrt(static_cast<double>(head_dim_)));
  return o_proj->forward(out.transpose(1, 2).reshape({B, L, heads_ * head_dim_}));
}

vision_mlp_impl::vision_mlp_impl(const vision_config& c) {
  fc1 = register_module("fc1", nn::linear(c.hidden_size, c.intermediate_size, true));
  fc2 = register_module("fc2", nn::linear(c.intermediate_size, c.hidden_size, true));
}

at::Tensor vision_mlp_impl::forward(const at::Tensor& x) { return fc2->forward(at::gelu(fc1->forward(x))); }

vision_layer_impl::vision_layer_impl(const vision_config& c, bool gated) {
  self_attn = register_module("self_attn", vision_attention(c));
  mlp = register_module("mlp", vision_mlp(c));
  input_layernorm = register_module("input_layernorm", nn::layer_norm(c.hidden_size, c.norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", nn::layer_norm(c.hidden_size, c.norm_eps));
  if (gated) {
    gate_attn = register_parameter("gate_attn", at::full({1}, std::numbers::pi / 4));
    gate_ffn = register_parameter("gate_ffn", at::full({1}, std::numbers::pi / 4));
  }
}

at::Tensor vision_layer_impl::forward(const at::Tensor& x, const at::Tensor& mask) {
  at::Tensor a = self_attn->forward(input_layernorm->forward(x), mask);
  if (gate_attn.defined()) a = gate_attn.tanh() * a;
  at::Tensor h = x + a;
  at::Tensor f = mlp->forward(post_attention_layernorm->forward(h));
  if (gate_ffn.defined()) f = gate_ffn.tanh() * f;
  return h + f;
}

aspect_ratio_embedding_impl::aspect_ratio_embedding_impl(const vision_config& c)
    : tiles_(c.max_num_tiles), hidden_(c.hidden_size) {
  embedding_weight = register_holder(*this, "embedding", at::randn({c.max_aspect_ratio_id + 1, tiles_ * hidden_}) * 0.02);
  gate = register_parameter("gate", at::zeros({1}));
}

at::Tensor aspect_ratio_embedding_impl::forward(const at::Tensor& x, const at::Tensor& aspect_ratio_ids) {
  at::Tensor e = at::embedding(embedding_weight, aspect_ratio_ids).reshape({-1, tiles_, 1, hidden_});
  return x + e * gate.tanh();
}

position_embedding_impl::position_embedding_impl(const vision_config& c)
    : tiles_(c.max_num_tiles), tokens_(c.tokens_per_tile()), hidden_(c.hidden_size) {
  gate = register_parameter("gate", at::zeros({1}));
  embedding = register_parameter("embedding", at::randn({tokens_, hidden_}) * (1.0 / std::sqrt(static_cast<double>(hidden_))));
  tile_embedding_weight =
      register_holder(*this, "tile_embedding", at::randn({c.max_aspect_ratio_id + 1, tiles_ * tokens_ * hidden_}) * 0.02);
}

at::Tensor position_embedding_impl::forward(const at::Tensor& x, const at::Tensor& aspect_ratio_ids) {
  at::Tensor h = x + ((1 - gate.tanh()) * embedding).view({1, 1, tokens_, hidden_});
  at::Tensor tile = at::embedding(tile_embedding_weight, aspect_ratio_ids).reshape({x.size(0), tiles_, tokens_, hidden_});
  return h + gate.tanh() * tile;
}

vision_model_impl::vision_model_impl(const vision_config& c) : config(c) {
  const auto D = c.hidden_size;
  patch_embedding_weight = register_holder(*this, "patch_embedding", at::randn({D, c.num_channels, c.patch_size, c.patch_size}) * 0.02);
  class_embedding = register_parameter("class_embedding", at::randn({D}) * (1.0 / std::sqrt(static_cast<double>(D))));
  gated_positional_embedding = register_module("gated_positional_embedding", position_embedding(c));
  pre_tile_positional_embedding = register_module("pre_tile_positional_embedding", aspect_ratio_embedding(c));
  post_tile_positional_embedding = register_module("post_tile_positional_embedding", aspect_ratio_embedding(c));
  layernorm_pre = register_module("layernorm_pre", nn::layer_norm(D, 1e-5));  // nn.LayerNorm's default eps
  layernorm_post = register_module("layernorm_post", nn::layer_norm(D, 1e-5));
  auto transformer = register_module("transformer", std::make_shared<torch::nn::Module>());
  transformer_layers = transformer->register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_layers; ++i) transformer_layers->push_back(vision_layer(c, false));
  auto global = register_module("global_transformer", std::make_shared<torch::nn::Module>());
  global_layers = global->register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_global_layers; ++i) global_layers->push_back(vision_layer(c, true));
}

at::Tensor vision_model_impl::forward(const at::Tensor& pixel_values, const at::Tensor& aspect_ratio_ids,
                                      const at::Tensor& aspect_ratio_mask) {
  const auto B = pixel_values.size(0), N = pixel_values.size(1), tiles = pixel_values.size(2);
  const auto D = config.hidden_size, BN = B * N;
  if (tiles != config.max_num_tiles)
    fail("pixel_values have ", tiles, " tiles per image; this model takes ", config.max_num_tiles);
  at::Tensor ids = aspect_ratio_ids.reshape({BN, -1});
  at::Tensor x = at::conv2d(pixel_values.reshape({BN * tiles, pixel_values.size(3), pixel_values.size(4), pixel_values.size(5)})
                                .to(patch_embedding_weight.scalar_type()),
                            patch_embedding_weight, {}, config.patch_size);
  x = x.flatten(2).transpose(1, 2);  // (BN tiles, patches, D)
  const auto patches = x.size(1), P = patches + 1;
  x = pre_tile_positional_embedding->forward(x.reshape({BN, tiles, patches, D}), ids);
  x = at::cat({class_embedding.expand({BN * tiles, 1, D}), x.reshape({BN * tiles, patches, D})}, 1);
  x = gated_positional_embedding->forward(x.reshape({BN, tiles, P, D}), ids);
  x = layernorm_pre->forward(x);
  // pad each tile to a multiple of 8 tokens; padding tokens (and padding tiles) attend only
  // among themselves: transformers' mask is min where both query and key are padding, 0 elsewhere
  const std::int64_t pad = (8 - P % 8) % 8, L = P + pad;
  x = at::constant_pad_nd(x, {0, 0, 0, pad});
  at::Tensor is_pad = (aspect_ratio_mask.reshape({BN, tiles, 1}) == 0).expand({BN, tiles, L}).clone();
  if (pad > 0) is_pad.narrow(2, P, pad).fill_(true);
  at::Tensor m = is_pad.reshape({BN, tiles * L, 1}).to(x.scalar_type());
  at::Tensor mask = (at::matmul(m, m.transpose(1, 2)) * float_min).unsqueeze(1);

  auto run = [&](torch::nn::ModuleList& layers, at::Tensor h, std::vector<at::Tensor>* outputs) {
    for (const auto& layer : *layers) {
      auto* l = layer->as<vision_layer_impl>();
      if (gradient_checkpointing && is_training())
        h = nn::checkpoint([l, mask](const at::Tensor& in) { return l->forward(in, mask); }, h);
      else
        h = l->forward(h, mask);
      if (outputs) outputs->push_back(h);
    }
    return h;
  };
  std::vector<at::Tensor> local_outputs;
  x = run(transformer_layers, x.reshape({BN, tiles * L, D}), &local_outputs);
  x = layernorm_post->forward(x);
  x = post_tile_positional_embedding->forward(x.reshape({BN, tiles, L, D}), ids);
  x = run(global_layers, x.reshape({BN, tiles * L, D}), nullptr);
  x = x.reshape({BN, tiles, L, D}).narrow(2, 0, P).reshape({B, N, tiles, P, D});
  // the intermediate layers, stacked on a last axis then flattened (feature d x layers + j)
  std::vector<at::Tensor> picked;
  for (auto i : config.intermediate_layers) picked.push_back(local_outputs[static_cast<std::size_t>(i)]);
  at::Tensor inter = at::stack(picked, -1).reshape({BN, tiles, L, -1}).narrow(2, 0, P).reshape({B, N, tiles, P, -1});
  return at::cat({x, inter}, -1);
}

// ---- language model ---------------------------------------------------------------------------
cross_attention_impl::cross_attention_impl(const lm::decoder_config& c)
    : heads_(c.num_heads), kv_heads_(c.num_kv_heads), head_dim_(c.head_dim) {
  q_proj = register_module("q_proj", nn::linear(c.hidden_size, heads_ * head_dim_, false));
  k_proj = register_module("k_proj", nn::linear(c.hidden_size, kv_heads_ * head_dim_, false));
  v_proj = register_module("v_proj", nn::linear(c.hidden_size, kv_heads_ * head_dim_, false));
  o_proj = register_module("o_proj", nn::linear(heads_ * head_dim_, c.hidden_size, false));
  q_norm = register_module("q_norm", lm::rms_norm(head_dim_, c.rms_norm_eps));
  k_norm = register_module("k_norm", lm::rms_norm(head_dim_, c.rms_norm_eps));
}

std::pair<at::Tensor, at::Tensor> cross_attention_impl::project(const at::Tensor& states) {
  const auto B = states.size(0);
  at::Tensor k = k_proj->forward(states).view({B, -1, kv_heads_, head_dim_}).transpose(1, 2);
  at::Tensor v = v_proj->forward(states).view({B, -1, kv_heads_, head_dim_}).transpose(1, 2);
  return {k_norm->forward(k), v};
}

at::Tensor cross_attention_impl::forward(const at::Tensor& x, const at::Tensor& keys, const at::Tensor& values,
                                         const at::Tensor& mask) {
  const auto B = x.size(0), T = x.size(1);
  at::Tensor q = q_norm->forward(q_proj->forward(x).view({B, T, heads_, head_dim_}).transpose(1, 2));
  at::Tensor k = keys, v = values;
  if (kv_heads_ != heads_) {
    k = k.repeat_interleave(heads_ / kv_heads_, 1);
    v = v.repeat_interleave(heads_ / kv_heads_, 1);
  }
  at::Tensor out = at::scaled_dot_product_attention(q, k, v, mask.to(q.scalar_type()), 0.0, false,
                                                    1.0 / std::sqrt(static_cast<double>(head_dim_)));
  return o_proj->forward(out.transpose(1, 2).reshape({B, T, heads_ * head_dim_}));
}

cross_decoder_layer_impl::cross_decoder_layer_impl(const lm::decoder_config& c) {
  cross_attn = register_module("cross_attn", cross_attention(c));
  input_layernorm = register_module("input_layernorm", lm::rms_norm(c.hidden_size, c.rms_norm_eps));
  cross_attn_attn_gate = register_parameter("cross_attn_attn_gate", at::zeros({1}));
  mlp = register_module("mlp", lm::mlp(c));
  post_attention_layernorm = register_module("post_attention_layernorm", lm::rms_norm(c.hidden_size, c.rms_norm_eps));
  cross_attn_mlp_gate = register_parameter("cross_attn_mlp_gate", at::zeros({1}));
}

at::Tensor cross_decoder_layer_impl::forward(const at::Tensor& x, const at::Tensor& keys, const at::Tensor& values,
                                             const at::Tensor& mask, const at::Tensor& row_seen) {
  at::Tensor h = x + cross_attn_attn_gate.tanh() * cross_attn->forward(input_layernorm->forward(x), keys, values, mask);
  at::Tensor f = mlp->forward(post_attention_layernorm->forward(h)) * row_seen.to(h.scalar_type());
  return h + cross_attn_mlp_gate.tanh() * f;
}

text_model_impl::text_model_impl(const mllama_config& c) : config(c) {
  const auto& d = c.text;
  embed_tokens_weight = register_holder(*this, "embed_tokens", at::randn({d.vocab_size + 8, d.hidden_size}) * 0.02);
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < d.num_layers; ++i) {
    if (c.is_cross_attention_layer(i))
      layers->push_back(cross_decoder_layer(d));
    else
      layers->push_back(lm::decoder_layer(d));
  }
  norm = register_module("norm", lm::rms_norm(d.hidden_size, d.rms_norm_eps));
  inv_freq = rope_inverse_frequencies(c);
}

at::Tensor text_model_impl::forward_embeds(const at::Tensor& embeds, const at::Tensor& position_ids,
                                           const at::Tensor& attention_mask, const cross_inputs* cross, lm::kv_cache* cache) {
  const std::int64_t T = embeds.size(1);
  // MllamaRotaryEmbedding: angles = positions x inv_freq (a plain product), in float32
  at::Tensor freqs = position_ids.unsqueeze(-1).to(at::kFloat) * inv_freq;
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos().to(embeds.scalar_type()), sin = emb.sin().to(embeds.scalar_type());
  // self-attention mask: causal and a real key (a padding query sees the real keys before it);
  // undefined when nothing is padded (then causal, or one cached step that sees everything)
  at::Tensor mask;
  if (attention_mask.defined() && !(attention_mask == 1).all().item<bool>()) {
    const std::int64_t past = cache ? cache->length() : 0, K = past + T;
    if (attention_mask.size(1) != K)
      fail("the attention mask covers ", attention_mask.size(1), " positions; ", past, " are cached and ", T, " are new");
    at::Tensor q_pos = at::arange(past, K, at::kLong).unsqueeze(1), k_pos = at::arange(K, at::kLong).unsqueeze(0);
    at::Tensor keep = ((k_pos <= q_pos).unsqueeze(0) & attention_mask.to(at::kBool).unsqueeze(1)) | (k_pos == q_pos).unsqueeze(0);
    mask = at::zeros(keep.sizes(), embeds.options())
               .masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity())
               .unsqueeze(1);
  }
  if (cache) cache->layers.resize(static_cast<std::size_t>(config.text.num_layers));
  const bool with_images = cross && !cross->keys_values.empty();
  at::Tensor h = embeds;
  std::size_t index = 0, cross_index = 0;
  for (const auto& layer : *layers) {
    const std::size_t i = index++;
    if (auto* x = layer->as<cross_decoder_layer_impl>()) {
      if (!with_images) continue;  // text only: transformers skips the cross-attention layers
      // never checkpointed: the keys and values carry the projector's (and a trained vision
      // encoder's) graph, which nn::checkpoint's one-input recompute cannot give gradients to
      const auto& [k, v] = cross->keys_values[cross_index++];
      h = x->forward(h, k, v, cross->mask, cross->row_seen);
      continue;
    }
    auto* l = layer->as<lm::decoder_layer_impl>();
    if (cache)
      h = l->forward(h, cos, sin, mask, &cache->layers[i]);
    else if (gradient_checkpointing && is_training())
      h = nn::checkpoint([l, cos, sin, mask](const at::Tensor& in) { return l->forward(in, cos, sin, mask); }, h);
    else
      h = l->forward(h, cos, sin, mask);
  }
  return norm->forward(h);
}

mllama_model_impl::mllama_model_impl(const mllama_config& c) : config(c) {
  auto model = register_module("model", std::make_shared<torch::nn::Module>());
  vision = model->register_module("vision_model", vision_model(c.vision));
  language_model = model->register_module("language_model", text_model(c));
  multi_modal_projector =
      model->register_module("multi_modal_projector", nn::linear(c.vision.vision_output_dim, c.text.hidden_size, true));
  if (!c.text.tie_word_embeddings)
    lm_head = register_module("lm_head", nn::linear(c.text.hidden_size, c.text.vocab_size, false));
}

namespace {
/// transformers' _prepare_cross_attention_mask: 0 where a token sees a vision token, min where
/// not; a row that sees none becomes all 0 (uniform attention, its MLP output dropped).
std::pair<at::Tensor, at::Tensor> prepare_cross_mask(const at::Tensor& tiles_mask, std::int64_t tokens_per_tile,
                                                     at::ScalarType dtype) {
  const auto B = tiles_mask.size(0), T = tiles_mask.size(1);
  at::Tensor seen = tiles_mask.repeat_interleave(tokens_per_tile, 3).reshape({B, T, -1}).to(at::kBool);
  at::Tensor row_seen = seen.any(-1, true);  // (B, T, 1)
  at::Tensor mask = at::zeros(seen.sizes(), at::TensorOptions().dtype(dtype))
                        .masked_fill(seen.logical_not() & row_seen, float_min)
                        .unsqueeze(1);
  return {mask, row_seen.to(dtype)};
}
}  // namespace

cross_inputs mllama_model_impl::cross_states(const inputs& in) {
  cross_inputs c;
  if (!in.pixel_values.defined()) return c;
  if (!in.aspect_ratio_ids.defined() || !in.aspect_ratio_mask.defined() || !in.cross_attention_mask.defined())
    fail("a Llama-3.2-Vision batch with pixel_values needs aspect_ratio_ids, aspect_ratio_mask and cross_attention_mask");
  at::Tensor features = vision->forward(in.pixel_values, in.aspect_ratio_ids, in.aspect_ratio_mask);
  const auto B = in.input_ids.size(0);
  at::Tensor states = multi_modal_projector->forward(features).reshape({B, -1, config.text.hidden_size});
  auto [mask, row_seen] = prepare_cross_mask(in.cross_attention_mask, config.vision.tokens_per_tile(), states.scalar_type());
  c.mask = mask;
  c.row_seen = row_seen;
  for (const auto& layer : *language_model->layers)
    if (auto* x = layer->as<cross_decoder_layer_impl>()) c.keys_values.push_back(x->cross_attn->project(states));
  return c;
}

at::Tensor mllama_model_impl::hidden_states(const inputs& in) {
  const auto B = in.input_ids.size(0), T = in.input_ids.size(1);
  cross_inputs cross = cross_states(in);
  at::Tensor positions = at::arange(T, at::kLong).unsqueeze(0).expand({B, -1});  // transformers: 0..T-1 per row
  return language_model->forward_embeds(language_model->embed(in.input_ids), positions, in.attention_mask, &cross);
}

at::Tensor mllama_model_impl::logits_from_hidden(const at::Tensor& hidden) {
  at::Tensor logits = lm_head ? lm_head->forward(hidden)
                              : at::linear(hidden, language_model->embed_tokens_weight.narrow(0, 0, config.text.vocab_size));
  return logits.to(at::kFloat);
}

at::Tensor mllama_model_impl::forward(const inputs& in) { return logits_from_hidden(hidden_states(in)); }

std::pair<at::Tensor, infer::decoder_steps> generation_steps(mllama_model model, const inputs& prompt) {
  auto cross = std::make_shared<cross_inputs>(model->cross_states(prompt));
  at::Tensor embeds = model->language_model->embed(prompt.input_ids);
  infer::decoder_steps s;
  s.embed = [model](const at::Tensor& ids) mutable { return model->language_model->embed(ids); };
  s.last_logits = [model, cross](const at::Tensor& step, lm::kv_cache& cache, const at::Tensor& mask,
                                 const at::Tensor& positions) mutable {
    const std::int64_t past = cache.length(), T = step.size(1);
    at::Tensor pos = positions.defined() ? positions : at::arange(past, past + T, at::kLong).unsqueeze(0);
    cross_inputs now = *cross;
    if (past > 0 && now.mask.defined()) {  // a new token sees what the last prompt token saw
      now.mask = now.mask.narrow(2, now.mask.size(2) - 1, 1);
      now.row_seen = now.row_seen.narrow(1, now.row_seen.size(1) - 1, 1);
    }
    at::Tensor hidden = model->language_model->forward_embeds(step, pos, mask, &now, &cache);
    return model->logits_from_hidden(hidden.select(1, hidden.size(1) - 1));
  };
  return {embeds, s};
}

std::function<std::string(const std::string&)> checkpoint_names(const io::safetensors_checkpoint& checkpoint) {
  auto generic = models::checkpoint_names(checkpoint);
  const io::safetensors_checkpoint* ck = &checkpoint;
  return [generic, ck](const std::string& name) {
    const std::string prefix = "model.vision_model.";
    if (name.starts_with(prefix) && !ck->find(name)) return "vision_model." + name.substr(prefix.size());  // the hub's
    return generic(name);
  };
}

void load_weights(mllama_model_impl& model, const io::safetensors_checkpoint& checkpoint) {
  lm::load_weights(model, checkpoint, checkpoint_names(checkpoint));
}

}  // namespace lmms::mllama
