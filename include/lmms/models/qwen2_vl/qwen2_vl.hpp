// lmms/models/qwen2_vl/qwen2_vl.hpp: Qwen2-VL and Qwen2.5-VL (transformers'
// Qwen2VLForConditionalGeneration, Qwen2_5_VLForConditionalGeneration): a vision transformer
// over 14x14x2 (space x time) patches with 2D rotary embeddings and attention inside each image
// / frame group, a patch merger (2x2 patches -> one LLM token), and Qwen2 with M-RoPE
// (temporal, height and width position ids). Qwen2.5-VL's tower differs in its blocks (RMSNorm,
// SwiGLU MLP), its attention (inside windows of window_size pixels, except the full-attention
// blocks) and its video positions (absolute time: tokens_per_second x seconds per grid step).
//
// Parameter names are transformers 5's in-memory names (model.visual.*, model.language_model.*,
// lm_head.*), as PEFT adapters name them; hub checkpoints (visual.*, model.*, lm_head.*) load too.
//
//   auto cfg = qwen2vl::qwen2_vl_config::from_hf(io::hf_config::load(dir));
//   qwen2vl::qwen2_vl_model model(cfg);
//   qwen2vl::load_weights(*model, io::safetensors_checkpoint::open(dir));
//   at::Tensor logits = model->forward({.input_ids = ids, .pixel_values = pv, .image_grid_thw = thw});
#pragma once

#include "lmms/infer/generate.hpp"
#include "lmms/io/hf_config.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/models/llm/decoder.hpp"
#include "lmms/nn/linear.hpp"
#include "lmms/nn/norm.hpp"
#include "lmms/torch.hpp"

namespace lmms::qwen2vl {

struct vision_config {
  bool qwen2_5 = false;  // Qwen2.5-VL's tower (RMSNorm, SwiGLU, window attention)
  std::int64_t depth = 0, embed_dim = 0, num_heads = 0, mlp_hidden = 0;
  std::int64_t out_hidden = 0;  // the LLM's hidden size (the merger's output)
  std::int64_t in_channels = 3, patch_size = 14, temporal_patch_size = 2, merge_size = 2;
  double rope_theta = 10000.0;
  std::string hidden_act = "quick_gelu";
  std::int64_t window_size = 112;                // Qwen2.5-VL: window side in pixels
  std::vector<std::int64_t> full_attention_blocks;  // Qwen2.5-VL: blocks attending per image, not per window
  double tokens_per_second = 2;                  // Qwen2.5-VL: video temporal positions per second
  std::int64_t head_dim() const { return embed_dim / num_heads; }
  /// Values per patch in pixel_values: channels x temporal x patch x patch.
  std::int64_t patch_values() const { return in_channels * temporal_patch_size * patch_size * patch_size; }
};

struct qwen2_vl_config {
  lm::decoder_config text;
  vision_config vision;
  std::int64_t image_token_id = 0, video_token_id = 0, vision_start_token_id = 0;
  /// Reads a Qwen2-VL or Qwen2.5-VL config.json: transformers 5's (text_config) or the hub's
  /// (text fields at the top, rope_scaling {type: mrope}).
  static qwen2_vl_config from_hf(const io::hf_config& config);
};

/// What a forward takes: token ids and, where the batch has them, the patches of its images
/// and videos in reading order with one (t, h, w) grid row each (in patches).
struct inputs {
  at::Tensor input_ids;                            // (B, T)
  at::Tensor attention_mask;                       // (B, T) 0/1, or undefined (no padding)
  at::Tensor pixel_values, image_grid_thw;         // (patches, patch_values), (images, 3)
  at::Tensor pixel_values_videos, video_grid_thw;  // (patches, patch_values), (videos, 3)
  at::Tensor second_per_grid_ts;                   // Qwen2.5-VL: (videos,) seconds per temporal grid step
};

/// LayerNorm (Qwen2-VL) or RMSNorm (Qwen2.5-VL) with transformers' names (weight, and bias for LayerNorm).
class vision_norm_impl : public torch::nn::Module {
 public:
  vision_norm_impl(std::int64_t dim, bool rms);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight, bias;

 private:
  std::int64_t dim_;
  bool rms_;
};
TORCH_MODULE_IMPL(vision_norm, vision_norm_impl);

class vision_attention_impl : public torch::nn::Module {
 public:
  explicit vision_attention_impl(const vision_config& c);
  /// x (N, D) for all patches; lengths: patches per attention group (one frame group each).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const std::vector<std::int64_t>& lengths);
  nn::linear qkv{nullptr}, proj{nullptr};

 private:
  std::int64_t heads_, head_dim_;
};
TORCH_MODULE_IMPL(vision_attention, vision_attention_impl);

/// fc1 -> act -> fc2 (Qwen2-VL), or down(act(gate) * up) with biases (Qwen2.5-VL).
class vision_mlp_impl : public torch::nn::Module {
 public:
  vision_mlp_impl(std::int64_t dim, std::int64_t hidden, std::string act, bool gated);
  at::Tensor forward(const at::Tensor& x);
  nn::linear fc1{nullptr}, fc2{nullptr};
  nn::linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};

 private:
  std::string act_;
};
TORCH_MODULE_IMPL(vision_mlp, vision_mlp_impl);

class vision_block_impl : public torch::nn::Module {
 public:
  explicit vision_block_impl(const vision_config& c);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const std::vector<std::int64_t>& lengths);
  vision_norm norm1{nullptr}, norm2{nullptr};
  vision_attention attn{nullptr};
  vision_mlp mlp{nullptr};
};
TORCH_MODULE_IMPL(vision_block, vision_block_impl);

/// LayerNorm, then each merge x merge block of patches (adjacent in pixel_values) -> one token.
class patch_merger_impl : public torch::nn::Module {
 public:
  explicit patch_merger_impl(const vision_config& c);
  at::Tensor forward(const at::Tensor& x);
  vision_norm ln_q{nullptr};
  nn::linear mlp_0{nullptr}, mlp_2{nullptr};  // registered as mlp.0 and mlp.2

 private:
  std::int64_t merged_dim_;
};
TORCH_MODULE_IMPL(patch_merger, patch_merger_impl);

class vision_transformer_impl : public torch::nn::Module {
 public:
  explicit vision_transformer_impl(const vision_config& c);
  /// pixel_values (patches, patch_values), grid_thw (N, 3) -> merged tokens
  /// (patches / merge^2, out_hidden), in the order of pixel_values.
  at::Tensor forward(const at::Tensor& pixel_values, const at::Tensor& grid_thw);
  at::Tensor patch_embed_weight;  // patch_embed.proj.weight (embed, C, t, p, p): a Conv3d with stride = kernel
  torch::nn::ModuleList blocks{nullptr};
  patch_merger merger{nullptr};
  vision_config config;
  bool gradient_checkpointing = false;
};
TORCH_MODULE_IMPL(vision_transformer, vision_transformer_impl);

/// M-RoPE position ids (3, B, T) as transformers' get_rope_index: text positions count up by
/// one; an image or video span gets (start + t, start + h, start + w) over its merged grid, and
/// the text after it continues at start + max(h, w). Padding (attention_mask 0) gets 0; in a
/// packed row (attention_mask = sample numbers) each sample starts over at 0. Also
/// returns the delta per row (max position + 1 - real tokens), which generation adds to the
/// cache length for new tokens.
/// Qwen2.5-VL: a video's temporal positions step by tokens_per_second x second_per_grid_ts
/// (truncated to integers), as transformers computes them.
std::pair<at::Tensor, at::Tensor> rope_index(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                             const at::Tensor& image_grid_thw, const at::Tensor& video_grid_thw,
                                             const qwen2_vl_config& config, const at::Tensor& second_per_grid_ts = {});

class qwen2_vl_model_impl : public torch::nn::Module {
 public:
  explicit qwen2_vl_model_impl(const qwen2_vl_config& c);

  /// Text embeddings with the merged image and video features in place of their pad tokens.
  /// The count of pad tokens must equal the features (an error otherwise).
  at::Tensor input_embeddings(const inputs& in);
  /// Final hidden states (B, T, H) of the language model.
  at::Tensor hidden_states(const inputs& in);
  /// Float logits (B, T, V).
  at::Tensor forward(const inputs& in);
  at::Tensor logits_from_hidden(const at::Tensor& hidden);

  vision_transformer visual{nullptr};          // model.visual
  lm::decoder_model language_model{nullptr};   // model.language_model
  nn::linear lm_head{nullptr};                 // lm_head (absent when tied)
  qwen2_vl_config config;
};
TORCH_MODULE_IMPL(qwen2_vl_model, qwen2_vl_model_impl);

/// Generation from a prompt batch (left-padded when B > 1): the prompt's M-RoPE positions come
/// from rope_index, each new token's from its text position plus the row's delta (as
/// transformers' generate does). Returns the prompt embeddings and the steps for infer::generate.
std::pair<at::Tensor, infer::decoder_steps> generation_steps(qwen2_vl_model model, const inputs& prompt);

/// Loads every parameter from either layout; a missing or misshapen tensor is an error naming it.
void load_weights(qwen2_vl_model_impl& model, const io::safetensors_checkpoint& checkpoint);

}  // namespace lmms::qwen2vl

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/qwen2_vl_impl.hpp"
#endif
