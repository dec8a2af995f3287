// Implementation of lmms/models/llm/decoder.hpp (LMMS_IMPLEMENTATION only).
// Each step mirrors transformers' modeling_llama.py / modeling_qwen2.py so that logits and
// gradients agree within float32 rounding.
#pragma once

#include <cmath>

#include "lmms/core/error.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/llm/decoder.hpp"
#include "lmms/nn/checkpoint.hpp"

namespace lmms::lm {

decoder_module_names decoder_module_names::qwen() {
  decoder_module_names n;
  n.embed = "wte";
  n.layers = "h";
  n.norm = "ln_f";
  n.input_norm = "ln_1";
  n.post_norm = "ln_2";
  n.attention = "attn";
  n.qkv = "c_attn";
  n.o = "c_proj";
  n.up = "w1";  // QWenMLP: c_proj(w1(x) * silu(w2(x)))
  n.gate = "w2";
  n.down = "c_proj";
  return n;
}

namespace {
// Qwen (v1, model_type "qwen", Qwen-VL-Chat's LLM, remote code): its own field names; the MLP is
// intermediate_size / 2 wide; q, k, v in one c_attn with bias; RMSNorm; rotary on the whole head.
decoder_config qwen_from_hf(const io::hf_config& c) {
  decoder_config d;
  d.model_type = "qwen";
  d.vocab_size = c.get_int("vocab_size");
  d.hidden_size = c.get_int("hidden_size");
  d.intermediate_size = c.get_int("intermediate_size") / 2;
  d.num_layers = c.get_int("num_hidden_layers");
  d.num_heads = d.num_kv_heads = c.get_int("num_attention_heads");
  d.head_dim = c.get_int_or("kv_channels", d.hidden_size / d.num_heads);
  if (d.head_dim * d.num_heads != d.hidden_size)
    fail(c.source(), ": kv_channels * num_attention_heads must be hidden_size (Qwen's attention projects to hidden_size)");
  d.rms_norm_eps = c.get_double_or("layer_norm_epsilon", 1e-6);
  d.rope_theta = c.get_double_or("rotary_emb_base", 10000.0);
  if (c.get_double_or("rotary_pct", 1.0) != 1.0)
    fail(c.source(), ": rotary_pct ", c.get_double("rotary_pct"), " is not implemented (Qwen-VL-Chat rotates the whole head: 1.0)");
  if (!c.get_bool_or("scale_attn_weights", true))
    fail(c.source(), ": scale_attn_weights false is not implemented (Qwen-VL-Chat scales by 1 / sqrt(head_dim))");
  d.tie_word_embeddings = c.get_bool_or("tie_word_embeddings", false);
  d.qkv_bias = true;  // c_attn always has a bias; c_proj and the MLP only without no_bias
  d.o_bias = d.mlp_bias = !c.get_bool_or("no_bias", true);
  d.fused_qkv = true;
  d.names = decoder_module_names::qwen();
  return d;
}
}  // namespace

decoder_config decoder_config::from_hf(const io::hf_config& c) {
  decoder_config d;
  d.model_type = c.get_string_or("model_type", "llama");
  if (d.model_type == "qwen") return qwen_from_hf(c);
  // Qwen2-VL's and Qwen2.5-VL's language model is Qwen2 with M-RoPE (the hub config has its fields at the top level)
  if (d.model_type == "qwen2_vl_text" || d.model_type == "qwen2_vl" || d.model_type == "qwen2_5_vl_text" ||
      d.model_type == "qwen2_5_vl")
    d.model_type = "qwen2";
  if (d.model_type == "phi3_v") d.model_type = "phi3";  // Phi-3-Vision: a Phi-3 LLM, its fields at the top level
  if (d.model_type != "llama" && d.model_type != "mistral" && d.model_type != "qwen2" && d.model_type != "phi3")
    fail(c.source(), ": ", c.prefix().empty() ? "" : c.prefix() + ".", "model_type ", quote(d.model_type),
         " is not a decoder lmms implements (llama, mistral, qwen2, phi3, qwen)");
  d.vocab_size = c.get_int("vocab_size");
  d.hidden_size = c.get_int("hidden_size");
  d.intermediate_size = c.get_int("intermediate_size");
  d.num_layers = c.get_int("num_hidden_layers");
  d.num_heads = c.get_int("num_attention_heads");
  d.num_kv_heads = c.get_int_or("num_key_value_heads", d.num_heads);
  d.head_dim = c.get_int_or("head_dim", d.hidden_size / d.num_heads);
  d.rms_norm_eps = c.get_double_or("rms_norm_eps", 1e-6);
  d.tie_word_embeddings = c.get_bool_or("tie_word_embeddings", false);
  d.hidden_act = c.get_string_or("hidden_act", "silu");
  if (d.hidden_act != "silu") fail(c.source(), ": hidden_act ", quote(d.hidden_act), " is not implemented (silu)");
  // transformers 5 writes rope_parameters; hub checkpoints have rope_theta / rope_scaling.
  std::string rope_type = "default";
  std::optional<io::hf_config> rope_section;
  if (auto rp = c.section_if("rope_parameters")) {
    d.rope_theta = rp->get_double_or("rope_theta", 10000.0);
    rope_type = rp->get_string_or("rope_type", "default");
    rope_section = rp;
  } else {
    d.rope_theta = c.get_double_or("rope_theta", 10000.0);
    if (auto rs = c.section_if("rope_scaling")) {
      rope_type = rs->get_string_or("rope_type", rs->get_string_or("type", "default"));
      rope_section = rs;
    }
  }
  if (rope_section && rope_section->has("mrope_section")) {
    d.mrope_section = rope_section->get_int_list("mrope_section");
    std::int64_t sum = 0;
    for (auto s : d.mrope_section) sum += s;
    if (d.mrope_section.size() != 3 || sum * 2 != d.head_dim)
      fail(c.source(), ": mrope_section must be 3 numbers adding up to head_dim / 2 = ", d.head_dim / 2);
    if (rope_type == "mrope") rope_type = "default";  // transformers reads {type: mrope} as default + sections
  }
  if (rope_type == "su" || rope_type == "longrope") {
    // Phi-3's LongRoPE: the hub writes {type: su, short_factor, long_factor} next to
    // original_max_position_embeddings; transformers 5 writes rope_parameters {rope_type: longrope, ...}.
    d.rope_short_factor = rope_section->get_double_list("short_factor");
    d.rope_long_factor = rope_section->get_double_list("long_factor");
    if (static_cast<std::int64_t>(d.rope_short_factor.size()) != d.head_dim / 2 ||
        static_cast<std::int64_t>(d.rope_long_factor.size()) != d.head_dim / 2)
      fail(c.source(), ": LongRoPE short_factor and long_factor need head_dim / 2 = ", d.head_dim / 2, " numbers each");
    const std::int64_t max_positions = c.get_int_or("max_position_embeddings", 0);
    d.rope_original_max_positions = rope_section->get_int_or(
        "original_max_position_embeddings", c.get_int_or("original_max_position_embeddings", max_positions));
    if (d.rope_original_max_positions <= 0)
      fail(c.source(), ": LongRoPE needs original_max_position_embeddings (or max_position_embeddings)");
    // transformers: factor = max / original max when the config has an original max; the
    // attention factor sqrt(1 + ln(factor) / ln(original max)) unless the config gives one
    const double factor = c.has("original_max_position_embeddings") || rope_section->has("original_max_position_embeddings")
                              ? static_cast<double>(max_positions) / static_cast<double>(d.rope_original_max_positions)
                              : rope_section->get_double_or("factor", 1.0);
    d.rope_attention_factor = rope_section->has("attention_factor")
                                  ? rope_section->get_double("attention_factor")
                                  : (factor <= 1.0 ? 1.0
                                                   : std::sqrt(1.0 + std::log(factor) /
                                                                         std::log(static_cast<double>(d.rope_original_max_positions))));
    rope_type = "default";
  }
  if (rope_type != "default")
    fail(c.source(), ": rope type ", quote(rope_type), " is not implemented yet for this decoder (default, longrope)");
  if (d.model_type == "qwen2") {
    d.qkv_bias = true;  // Qwen2Attention: q, k, v with bias, o without
  } else if (d.model_type == "llama") {
    d.qkv_bias = d.o_bias = c.get_bool_or("attention_bias", false);
    d.mlp_bias = c.get_bool_or("mlp_bias", false);
  } else if (d.model_type == "phi3") {
    d.fused_qkv = d.fused_gate_up = true;  // Phi3Attention.qkv_proj, Phi3MLP.gate_up_proj, no biases
    if (c.get_double_or("partial_rotary_factor", 1.0) != 1.0)
      fail(c.source(), ": partial_rotary_factor ", c.get_double("partial_rotary_factor"),
           " is not implemented (Phi-3 and Phi-3-Vision rotate the whole head)");
    // transformers masks a sliding window when the config has one; lmms attends causally over the
    // whole sequence, which is the same while the window covers every position (Phi-3-V: 131072)
    if (c.has("sliding_window") && c.get_int("sliding_window") < c.get_int_or("max_position_embeddings", 0))
      fail(c.source(), ": sliding_window ", c.get_int("sliding_window"), " shorter than max_position_embeddings is not implemented");
  }
  return d;
}

// ---- modules --------------------------------------------------------------------------------
rms_norm_impl::rms_norm_impl(std::int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor rms_norm_impl::forward(const at::Tensor& x) {
  // LlamaRMSNorm: in float32, then back to the input dtype before the weight.
  auto dtype = x.scalar_type();
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, true) + eps_);
  return weight * h.to(dtype);
}

attention_impl::attention_impl(const decoder_config& c)
    : heads_(c.num_heads), kv_heads_(c.num_kv_heads), head_dim_(c.head_dim) {
  const auto& n = c.names;
  if (c.fused_qkv) {
    qkv_proj = register_module(n.qkv, nn::linear(c.hidden_size, (c.num_heads + 2 * c.num_kv_heads) * c.head_dim, c.qkv_bias));
  } else {
    q_proj = register_module(n.q, nn::linear(c.hidden_size, c.num_heads * c.head_dim, c.qkv_bias));
    k_proj = register_module(n.k, nn::linear(c.hidden_size, c.num_kv_heads * c.head_dim, c.qkv_bias));
    v_proj = register_module(n.v, nn::linear(c.hidden_size, c.num_kv_heads * c.head_dim, c.qkv_bias));
  }
  o_proj = register_module(n.o, nn::linear(c.num_heads * c.head_dim, c.hidden_size, c.o_bias));
}

namespace {
at::Tensor rotate_half(const at::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return at::cat({-halves[1], halves[0]}, -1);
}
}  // namespace

at::Tensor attention_impl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                   const at::Tensor& mask, layer_cache* cache) {
  const auto B = x.size(0), T = x.size(1);
  at::Tensor q, k, v;
  if (qkv_proj) {  // Phi3Attention / QWenAttention: one projection, sliced into q, k, v
    at::Tensor qkv = qkv_proj->forward(x);
    const std::int64_t nq = heads_ * head_dim_, nk = kv_heads_ * head_dim_;
    q = qkv.narrow(-1, 0, nq);
    k = qkv.narrow(-1, nq, nk);
    v = qkv.narrow(-1, nq + nk, nk);
  } else {
    q = q_proj->forward(x);
    k = k_proj->forward(x);
    v = v_proj->forward(x);
  }
  q = q.reshape({B, T, heads_, head_dim_}).transpose(1, 2);
  k = k.reshape({B, T, kv_heads_, head_dim_}).transpose(1, 2);
  v = v.reshape({B, T, kv_heads_, head_dim_}).transpose(1, 2);
  // cos / sin come in the embeddings' dtype (as transformers passes them); under bf16 autocast
  // q and k are bf16 and the products promote to float32, exactly as in transformers.
  at::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);
  q = q * c + rotate_half(q) * s;
  k = k * c + rotate_half(k) * s;
  if (cache) {
    if (cache->k.defined()) {
      if (T != 1) fail("a KV cache takes the prompt once, then one position per forward (got ", T, " new positions)");
      k = at::cat({cache->k, k}, 2);
      v = at::cat({cache->v, v}, 2);
    }
    cache->k = k;
    cache->v = v;
  }
  if (kv_heads_ != heads_) {  // repeat_kv
    k = k.repeat_interleave(heads_ / kv_heads_, 1);
    v = v.repeat_interleave(heads_ / kv_heads_, 1);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  // no mask: causal over the new positions, or one new position that sees everything cached
  const bool causal = !mask.defined() && q.size(2) > 1;
  at::Tensor out = at::scaled_dot_product_attention(q, k, v, mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt,
                                                    0.0, causal, scale);
  out = out.transpose(1, 2).reshape({B, T, heads_ * head_dim_});
  return o_proj->forward(out);
}

mlp_impl::mlp_impl(const decoder_config& c) {
  const auto& n = c.names;
  if (c.fused_gate_up) {
    gate_up_proj = register_module(n.gate_up, nn::linear(c.hidden_size, 2 * c.intermediate_size, c.mlp_bias));
    down_proj = register_module(n.down, nn::linear(c.intermediate_size, c.hidden_size, c.mlp_bias));
    return;
  }
  gate_proj = register_module(n.gate, nn::linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  up_proj = register_module(n.up, nn::linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  down_proj = register_module(n.down, nn::linear(c.intermediate_size, c.hidden_size, c.mlp_bias));
}

at::Tensor mlp_impl::forward(const at::Tensor& x) {
  if (gate_up_proj) {  // Phi3MLP: up * silu(gate), gate the first half of the fused output
    auto halves = gate_up_proj->forward(x).chunk(2, -1);
    return down_proj->forward(halves[1] * at::silu(halves[0]));
  }
  return down_proj->forward(at::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

decoder_layer_impl::decoder_layer_impl(const decoder_config& c) {
  const auto& n = c.names;
  self_attn = register_module(n.attention, attention(c));
  mlp_ = register_module(n.mlp, mlp(c));
  input_layernorm = register_module(n.input_norm, rms_norm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module(n.post_norm, rms_norm(c.hidden_size, c.rms_norm_eps));
}

at::Tensor decoder_layer_impl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                       const at::Tensor& mask, layer_cache* cache) {
  at::Tensor h = x + self_attn->forward(input_layernorm->forward(x), cos, sin, mask, cache);
  return h + mlp_->forward(post_attention_layernorm->forward(h));
}

bool is_packed(const at::Tensor& attention_mask) {
  return attention_mask.defined() && (attention_mask > 1).any().item<bool>();
}

at::Tensor packed_position_ids(const at::Tensor& attention_mask, std::int64_t batch, std::int64_t length) {
  if (!is_packed(attention_mask)) return at::arange(length, at::kLong).unsqueeze(0).expand({batch, -1});
  auto m = attention_mask.to(at::kLong).contiguous();
  at::Tensor pos = at::zeros_like(m);
  auto ma = m.accessor<std::int64_t, 2>();
  auto pa = pos.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < m.size(0); ++b) {
    std::int64_t previous = -1, p = 0;
    for (std::int64_t t = 0; t < m.size(1); ++t) {
      if (ma[b][t] == 0) continue;
      p = ma[b][t] == previous ? p + 1 : 0;
      previous = ma[b][t];
      pa[b][t] = p;
    }
  }
  return pos;
}

std::pair<at::Tensor, at::Tensor> rotary_cos_sin(const at::Tensor& position_ids, std::int64_t head_dim, double theta,
                                                 const std::vector<std::int64_t>& mrope_section) {
  // inv_freq = 1 / theta^(arange(0, d, 2) / d), as LlamaRotaryEmbedding (float32 throughout)
  at::Tensor exponent = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  at::Tensor inv_freq = 1.0 / at::pow(theta, exponent);
  if (!mrope_section.empty()) {
    // Qwen2VLRotaryEmbedding: angles (3, B, T, d/2) by a plain product, then frequency block k
    // from the temporal (k=0), height (1) or width (2) positions
    at::Tensor pos = position_ids.dim() == 2 ? position_ids.unsqueeze(0).expand({3, -1, -1}) : position_ids;
    at::Tensor freqs = pos.unsqueeze(-1).to(at::kFloat) * inv_freq;
    std::vector<at::Tensor> parts;
    std::int64_t start = 0;
    for (std::size_t k = 0; k < mrope_section.size(); ++k) {
      parts.push_back(freqs[static_cast<std::int64_t>(k % 3)].narrow(-1, start, mrope_section[k]));
      start += mrope_section[k];
    }
    at::Tensor picked = at::cat(parts, -1);
    at::Tensor c = picked.cos(), s = picked.sin();
    return {at::cat({c, c}, -1), at::cat({s, s}, -1)};
  }
  at::Tensor freqs = at::matmul(inv_freq.index({at::indexing::None, at::indexing::Slice(), at::indexing::None})
                                    .expand({position_ids.size(0), -1, 1}),
                                position_ids.index({at::indexing::Slice(), at::indexing::None, at::indexing::Slice()})
                                    .to(at::kFloat))
                          .transpose(1, 2);
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

std::pair<at::Tensor, at::Tensor> rotary_cos_sin(const decoder_config& config, const at::Tensor& position_ids) {
  if (config.rope_short_factor.empty())
    return rotary_cos_sin(position_ids, config.head_dim, config.rope_theta, config.mrope_section);
  // LongRoPE as transformers' _compute_longrope_parameters + longrope_frequency_update: the
  // factors of this forward follow its largest position; inv_freq = 1 / (factor * theta^(2i/d))
  const bool long_context = position_ids.numel() > 0 && position_ids.max().item<std::int64_t>() + 1 > config.rope_original_max_positions;
  const auto& factors = long_context ? config.rope_long_factor : config.rope_short_factor;
  at::Tensor ext = at::tensor(std::vector<float>(factors.begin(), factors.end()), at::kFloat);
  at::Tensor exponent = at::arange(0, config.head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(config.head_dim);
  at::Tensor inv_freq = 1.0 / (ext * at::pow(config.rope_theta, exponent));
  at::Tensor freqs = at::matmul(inv_freq.index({at::indexing::None, at::indexing::Slice(), at::indexing::None})
                                    .expand({position_ids.size(0), -1, 1}),
                                position_ids.index({at::indexing::Slice(), at::indexing::None, at::indexing::Slice()})
                                    .to(at::kFloat))
                          .transpose(1, 2);
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos() * config.rope_attention_factor, emb.sin() * config.rope_attention_factor};
}

decoder_model_impl::decoder_model_impl(const decoder_config& c) : config(c) {
  // embed_tokens is a module in HF; a holder keeps the name embed_tokens.weight
  struct holder_impl : torch::nn::Module {
    explicit holder_impl(at::Tensor w) { weight = register_parameter("weight", std::move(w)); }
    at::Tensor weight;
  };
  auto holder = std::make_shared<holder_impl>(at::randn({c.vocab_size, c.hidden_size}) * 0.02);
  register_module(c.names.embed, holder);
  embed_tokens_weight = holder->weight;
  layers = register_module(c.names.layers, torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_layers; ++i) layers->push_back(decoder_layer(c));
  norm = register_module(c.names.norm, rms_norm(c.hidden_size, c.rms_norm_eps));
}

at::Tensor decoder_model_impl::forward_embeds(const at::Tensor& inputs_embeds, const at::Tensor& position_ids,
                                              const at::Tensor& attention_mask, kv_cache* cache) {
  at::Tensor cache_mask;  // generation with padding: (B, 1, T, past + T), additive
  if (cache) {
    cache->layers.resize(static_cast<std::size_t>(config.num_layers));
    if (attention_mask.defined()) {
      // attention_mask covers the cached positions and the new ones (B, past + T); a key is seen
      // when it is real and not in the future. A padding query also sees itself, so that no row
      // is fully masked (a NaN there would reach real rows through 0 * NaN in the next layer).
      const std::int64_t T = inputs_embeds.size(1), past = cache->length(), K = past + T;
      if (attention_mask.size(1) != K)
        fail("the attention mask covers ", attention_mask.size(1), " positions; the cache has ", past, " and ", T, " are new");
      at::Tensor q_pos = at::arange(past, K, at::kLong).unsqueeze(1), k_pos = at::arange(K, at::kLong).unsqueeze(0);
      at::Tensor keep = ((k_pos <= q_pos).unsqueeze(0) & attention_mask.to(at::kBool).unsqueeze(1)) | (k_pos == q_pos).unsqueeze(0);
      cache_mask = at::zeros(keep.sizes(), inputs_embeds.options())
                       .masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity())
                       .unsqueeze(1);
    }
  }
  auto [cos_f, sin_f] = rotary_cos_sin(config, position_ids);
  at::Tensor cos = cos_f.to(inputs_embeds.scalar_type()), sin = sin_f.to(inputs_embeds.scalar_type());
  at::Tensor mask = cache_mask;
  if (!cache && attention_mask.defined() && !(attention_mask == 1).all().item<bool>()) {
    // causal AND a real key AND (packed) the query's own sample, as an additive float mask
    // (B, 1, T, T); a padding query sees the real keys before it, as in transformers
    const auto T = inputs_embeds.size(1);
    at::Tensor causal = at::ones({T, T}, at::kBool).tril();
    at::Tensor keep = causal.unsqueeze(0) & attention_mask.to(at::kBool).unsqueeze(1);
    if (is_packed(attention_mask)) {
      at::Tensor q = attention_mask.unsqueeze(2), k = attention_mask.unsqueeze(1);
      keep = keep & ((q == k) | (q == 0));
    }
    mask = at::zeros(keep.sizes(), inputs_embeds.options())
               .masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity())
               .unsqueeze(1);
  }
  at::Tensor h = inputs_embeds;
  std::size_t index = 0;
  for (const auto& layer : *layers) {
    auto* l = layer->as<decoder_layer_impl>();
    layer_cache* slot = cache ? &cache->layers[index++] : nullptr;
    if (slot)
      h = l->forward(h, cos, sin, mask, slot);
    else if (gradient_checkpointing && is_training())
      h = nn::checkpoint([l, cos, sin, mask](const at::Tensor& x) { return l->forward(x, cos, sin, mask); }, h);  // by value: backward runs after this frame
    else
      h = l->forward(h, cos, sin, mask);
  }
  return norm->forward(h);
}

causal_lm_impl::causal_lm_impl(const decoder_config& c) {
  model = register_module("model", decoder_model(c));
  if (!c.tie_word_embeddings) lm_head = register_module("lm_head", nn::linear(c.hidden_size, c.vocab_size, false));
}

at::Tensor causal_lm_impl::logits_from_hidden(const at::Tensor& hidden) {
  at::Tensor logits = lm_head ? lm_head->forward(hidden) : at::linear(hidden, model->embed_tokens_weight);
  return logits.to(at::kFloat);
}

at::Tensor causal_lm_impl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                   const at::Tensor& position_ids) {
  at::Tensor pos = position_ids.defined()
                       ? position_ids
                       : at::arange(input_ids.size(1), at::kLong).unsqueeze(0).expand({input_ids.size(0), -1});
  return logits_from_hidden(model->forward_embeds(model->embed(input_ids), pos, attention_mask));
}

at::Tensor shift_labels(const at::Tensor& labels) {
  // pad labels with -100 on the right and shift: position t predicts labels[t + 1]
  return at::cat({labels.index({at::indexing::Slice(), at::indexing::Slice(1, at::indexing::None)}),
                  at::full({labels.size(0), 1}, -100, labels.options())},
                 1);
}

at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels) {
  return at::cross_entropy_loss(logits.to(at::kFloat).reshape({-1, logits.size(-1)}), shift_labels(labels).reshape({-1}), {},
                                at::Reduction::Mean, -100);
}

void load_weights(torch::nn::Module& module, const io::safetensors_checkpoint& checkpoint,
                  const std::function<std::string(const std::string&)>& checkpoint_name) {
  at::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(true)) {
    const std::string& name = item.key();
    if (name.find("lora_A") != std::string::npos || name.find("lora_B") != std::string::npos) continue;
    std::string key = checkpoint_name ? checkpoint_name(name) : name;
    const io::tensor_view* view = checkpoint.find(key);
    if (!view)
      fail("checkpoint ", checkpoint.path().string(), " has no tensor ", quote(key), " for parameter ", quote(name),
           " (is this checkpoint of the model type the recipe says?)");
    at::Tensor t = io::to_tensor(*view);
    if (t.sizes() != item.value().sizes())
      fail("checkpoint tensor ", quote(key), " in ", checkpoint.path().string(), " has shape ", t.sizes(),
           " but the model expects ", item.value().sizes(), " (config.json and weights disagree)");
    item.value().copy_(t);
  }
}

}  // namespace lmms::lm
