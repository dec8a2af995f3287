// lmms/models/llm/decoder.hpp: the decoder-only language model inside the supported
// multimodal models: Llama (Vicuna, Llama-2), Mistral, Qwen2, Phi-3, Qwen (v1, Qwen-VL-Chat's).
// Parameter names follow the checkpoints: transformers' LlamaForCausalLM / Qwen2ForCausalLM /
// Phi3ForCausalLM (model.layers.N.self_attn.q_proj.weight, Phi-3's fused self_attn.qkv_proj and
// mlp.gate_up_proj, lm_head.weight, ...) and Qwen's remote code (transformer.h.N.attn.c_attn,
// mlp.w1 / w2 / c_proj, ln_1, ln_2, wte, ln_f: decoder_config::names), so named_parameters() is
// the checkpoint's own naming.
//
//   auto cfg = lm::decoder_config::from_hf(io::hf_config::load(dir));
//   lm::causal_lm lm(cfg);
//   lm::load_weights(*lm, io::safetensors_checkpoint::open(dir));
//   at::Tensor logits = lm->forward(input_ids);                 // (B, T, V), float32
//   at::Tensor loss = lm::causal_lm_loss(logits, labels);      // mean over labels != -100
#pragma once

#include <functional>
#include <string>

#include "lmms/io/hf_config.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/nn/linear.hpp"
#include "lmms/torch.hpp"

namespace lmms::lm {

/// The module names of one decoder family (the checkpoint's): Llama's by default.
struct decoder_module_names {
  std::string embed = "embed_tokens", layers = "layers", norm = "norm";                 // the stack
  std::string input_norm = "input_layernorm", post_norm = "post_attention_layernorm";  // a layer
  std::string attention = "self_attn", mlp = "mlp";
  std::string q = "q_proj", k = "k_proj", v = "v_proj", qkv = "qkv_proj", o = "o_proj";  // attention
  std::string gate = "gate_proj", up = "up_proj", gate_up = "gate_up_proj", down = "down_proj";  // MLP

  /// Qwen (v1): wte, h, ln_f; ln_1, attn (c_attn, c_proj), ln_2, mlp (w1 = up, w2 = gate, c_proj).
  static decoder_module_names qwen();
};

struct decoder_config {
  std::string model_type;  // "llama", "mistral", "qwen2", "phi3", "qwen"
  std::int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_layers = 0;
  std::int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  double rms_norm_eps = 1e-6, rope_theta = 10000.0;
  bool qkv_bias = false, o_bias = false, mlp_bias = false, tie_word_embeddings = false;
  std::string hidden_act = "silu";
  /// M-RoPE (Qwen2-VL): how many of the head_dim / 2 rotary frequencies take their angle from
  /// the temporal, height and width position ids, in that order. Empty: one position per token.
  std::vector<std::int64_t> mrope_section;
  /// q, k, v in one projection (Phi-3's qkv_proj, Qwen's c_attn); gate and up in one (Phi-3's
  /// gate_up_proj), as the checkpoints have them.
  bool fused_qkv = false, fused_gate_up = false;
  decoder_module_names names;
  /// LongRoPE ("su" / "longrope", Phi-3): the rotary frequencies are divided by short_factor while
  /// a forward's positions stay within original_max_positions, by long_factor beyond, and cos / sin
  /// are scaled by attention_factor (transformers' Phi3 / the Phi-3-V remote code).
  std::vector<double> rope_short_factor, rope_long_factor;
  std::int64_t rope_original_max_positions = 0;
  double rope_attention_factor = 1.0;

  /// Reads a text config (a LlamaConfig / Qwen2Config / Phi3Config / Qwen's QWenConfig, or the
  /// text_config of a multimodal one). Refuses what lmms does not implement (rope_scaling, other
  /// activations) by name.
  static decoder_config from_hf(const io::hf_config& text_config);
};

/// Keys and values of the positions seen so far, per layer (B, kv_heads, length, head_dim),
/// for generation: each forward appends its positions.
struct layer_cache {
  at::Tensor k, v;
};
struct kv_cache {
  std::vector<layer_cache> layers;
  std::int64_t length() const { return layers.empty() || !layers[0].k.defined() ? 0 : layers[0].k.size(2); }
};

class attention_impl : public torch::nn::Module {
 public:
  explicit attention_impl(const decoder_config& c);
  /// x (B, T, H); cos / sin (B, T, head_dim); mask: additive (B, 1, T, T) or undefined (causal).
  /// With a cache, x holds the new positions only: T == 1 attends to every cached one, T > 1
  /// (the prompt) needs an empty cache.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     layer_cache* cache = nullptr);
  nn::linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  nn::linear qkv_proj{nullptr};  // fused_qkv (Phi-3, Qwen): q, k, v rows in that order; then q/k/v_proj are null

 private:
  std::int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE_IMPL(attention, attention_impl);

class mlp_impl : public torch::nn::Module {
 public:
  explicit mlp_impl(const decoder_config& c);
  at::Tensor forward(const at::Tensor& x);
  nn::linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  nn::linear gate_up_proj{nullptr};  // fused_gate_up (Phi-3): gate rows, then up rows
};
TORCH_MODULE_IMPL(mlp, mlp_impl);

class rms_norm_impl : public torch::nn::Module {
 public:
  rms_norm_impl(std::int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE_IMPL(rms_norm, rms_norm_impl);

class decoder_layer_impl : public torch::nn::Module {
 public:
  explicit decoder_layer_impl(const decoder_config& c);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     layer_cache* cache = nullptr);
  rms_norm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  attention self_attn{nullptr};
  mlp mlp_{nullptr};
};
TORCH_MODULE_IMPL(decoder_layer, decoder_layer_impl);

/// The decoder stack without the head (transformers' LlamaModel / Qwen2Model).
class decoder_model_impl : public torch::nn::Module {
 public:
  explicit decoder_model_impl(const decoder_config& c);
  /// inputs_embeds (B, T, H); position_ids (B, T), or (3, B, T) with M-RoPE; attention_mask (B, T)
  /// of 0/1, undefined, or packed (each token's sample number in its row, 0 on padding: attention
  /// stays inside each sample, see training::collate_packed).
  /// With a cache (generation) the cache grows by T; attention_mask, when given, covers the
  /// cached and the new positions (B, past + T): left-padded batches.
  at::Tensor forward_embeds(const at::Tensor& inputs_embeds, const at::Tensor& position_ids,
                            const at::Tensor& attention_mask, kv_cache* cache = nullptr);
  at::Tensor embed(const at::Tensor& input_ids) { return at::embedding(embed_tokens_weight, input_ids); }

  at::Tensor embed_tokens_weight;  // registered as embed_tokens.weight (Qwen: wte.weight)
  torch::nn::ModuleList layers{nullptr};
  rms_norm norm{nullptr};
  decoder_config config;
  /// Recompute each layer in backward instead of keeping its activations (training only).
  bool gradient_checkpointing = false;
};
TORCH_MODULE_IMPL(decoder_model, decoder_model_impl);

class causal_lm_impl : public torch::nn::Module {
 public:
  explicit causal_lm_impl(const decoder_config& c);
  /// Logits (B, T, V) for token ids (B, T); positions 0..T-1 unless given.
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {},
                     const at::Tensor& position_ids = {});
  at::Tensor logits_from_hidden(const at::Tensor& hidden);
  decoder_model model{nullptr};
  nn::linear lm_head{nullptr};  // unused (weights shared) when tie_word_embeddings
};
TORCH_MODULE_IMPL(causal_lm, causal_lm_impl);

/// transformers' ForCausalLMLoss: logits[:, :-1] predict labels[:, 1:]; mean cross-entropy
/// over labels != -100, in float32.
at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels);
/// The targets of each position: labels shifted left by one, -100 at the end.
at::Tensor shift_labels(const at::Tensor& labels);

/// Positions for a (possibly packed) attention mask: 0, 1, ... restarting at each sample, 0 on
/// padding; for a 0/1 mask or an undefined one (then of length T), 0..T-1 as transformers counts.
at::Tensor packed_position_ids(const at::Tensor& attention_mask, std::int64_t batch, std::int64_t length);
/// True when the mask holds packed sample numbers (a value above 1).
bool is_packed(const at::Tensor& attention_mask);

/// Rotary cos / sin (B, T, head_dim) for position_ids (B, T), computed in float32 as
/// transformers' default RotaryEmbedding does. With mrope_section, position_ids are (3, B, T)
/// (or (B, T), used for all three) and frequency block k takes its angle from row k % 3, as
/// Qwen2VLRotaryEmbedding does.
std::pair<at::Tensor, at::Tensor> rotary_cos_sin(const at::Tensor& position_ids, std::int64_t head_dim, double theta,
                                                 const std::vector<std::int64_t>& mrope_section = {});
/// The rotary cos / sin of a decoder for these positions: rotary_cos_sin, or LongRoPE's scaled
/// frequencies (picked by the largest position, as transformers does per forward) and factor.
std::pair<at::Tensor, at::Tensor> rotary_cos_sin(const decoder_config& config, const at::Tensor& position_ids);

/// Copies every parameter of `module` from the checkpoint, under the name map(parameter name).
/// Every parameter must be found with the same shape; a missing or misshapen tensor is an
/// lmms::error naming it and the checkpoint.
void load_weights(torch::nn::Module& module, const io::safetensors_checkpoint& checkpoint,
                  const std::function<std::string(const std::string&)>& checkpoint_name = {});

}  // namespace lmms::lm

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/decoder_impl.hpp"
#endif
