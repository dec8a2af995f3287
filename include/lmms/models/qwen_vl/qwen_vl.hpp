// lmms/models/qwen_vl/qwen_vl.hpp: Qwen-VL-Chat (Qwen/Qwen-VL-Chat, model_type "qwen", the
// checkpoint's remote code QWenLMHeadModel): a ViT-bigG-style tower (patchifying conv, learned
// positions resized bicubically to the patch grid, pre-norm blocks with a per-head [q | k | v]
// in_proj), a cross-attention resampler to 256 learned queries with fixed 2D sin-cos positions,
// a final LayerNorm and projection, and the Qwen (v1) language model (lm::decoder_model with
// Qwen's module names).
//
// Images sit in the token stream as the Qwen-VL tokenizer writes them: <img>, the path's bytes
// padded with <imgpad> to 256 ids, </img>. The 256 embeddings between <img> and </img> are
// replaced by that image's features (spans in row-major order = the images in order). The
// remote code reads the images from the paths in the ids; lmms passes pixel_values
// (images, 3, 448, 448) from its data pipeline (processors/qwen_vl.hpp) and keeps the paths
// in the ids only so that the tokens are the same.
//
// Parameter names are the checkpoint's (transformer.wte, transformer.h.N.attn.c_attn,
// transformer.visual.attn_pool.attn.in_proj_weight, lm_head, ...), so PEFT adapters and full
// checkpoints load on the remote model.
//
//   auto cfg = qwen_vl::qwen_vl_config::from_hf(io::hf_config::load(dir));
//   qwen_vl::qwen_vl_model model(cfg);
//   qwen_vl::load_weights(*model, io::safetensors_checkpoint::open(dir));
//   at::Tensor logits = model->forward({.input_ids = ids, .pixel_values = pixels});
#pragma once

#include <array>
#include <vector>

#include "lmms/io/hf_config.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/models/llm/decoder.hpp"
#include "lmms/nn/linear.hpp"
#include "lmms/nn/norm.hpp"
#include "lmms/torch.hpp"

namespace lmms::qwen_vl {

/// The tower (config.json "visual").
struct visual_config {
  std::int64_t image_size = 448, patch_size = 14, width = 1664, layers = 48, heads = 16;
  double mlp_ratio = 4.9231;
  std::int64_t n_queries = 256, output_dim = 4096;
  std::int64_t image_start_id = 151857;  // <img>; </img> and <imgpad> follow it

  std::int64_t grid() const { return image_size / patch_size; }
  std::int64_t mlp_width() const { return static_cast<std::int64_t>(static_cast<double>(width) * mlp_ratio); }
};

struct qwen_vl_config {
  lm::decoder_config text;
  visual_config visual;
  /// Beyond seq_length the remote code's generation scales rotary angles (dynamic NTK) and
  /// queries (log-n); lmms implements neither and refuses longer sequences outside training.
  std::int64_t seq_length = 2048;
  bool long_context_scaling = true;  // use_dynamic_ntk or use_logn_attn

  static qwen_vl_config from_hf(const io::hf_config& config);
};

/// pixel_values (images, 3, S, S): the images of the batch in reading order, one per span.
struct inputs {
  at::Tensor input_ids, attention_mask, pixel_values;
};

/// VisualAttention: in_proj's output is per head [q | k | v].
class visual_attention_impl : public torch::nn::Module {
 public:
  visual_attention_impl(std::int64_t width, std::int64_t heads);
  at::Tensor forward(const at::Tensor& x);  // (N, L, width)
  nn::linear in_proj{nullptr}, out_proj{nullptr};

 private:
  std::int64_t heads_, head_dim_;
};
TORCH_MODULE_IMPL(visual_attention, visual_attention_impl);

/// VisualAttentionBlock: x + attn(ln_1(x)), then + mlp(ln_2(x)) with mlp = c_proj(gelu(c_fc)).
class visual_block_impl : public torch::nn::Module {
 public:
  explicit visual_block_impl(const visual_config& c);
  at::Tensor forward(const at::Tensor& x);
  nn::layer_norm ln_1{nullptr}, ln_2{nullptr};
  visual_attention attn{nullptr};
  nn::linear c_fc{nullptr}, c_proj{nullptr};  // mlp.c_fc, mlp.c_proj
};
TORCH_MODULE_IMPL(visual_block, visual_block_impl);

/// Resampler (attn_pool): n_queries learned queries attend to the patch features through
/// torch.nn.MultiheadAttention(output_dim, output_dim / 128 heads).
class resampler_impl : public torch::nn::Module {
 public:
  explicit resampler_impl(const visual_config& c);
  at::Tensor forward(const at::Tensor& x);  // (N, L, width) -> (N, n_queries, output_dim)
  at::Tensor query, pos_embed;              // pos_embed: the fixed 2D sin-cos table, never trained
  nn::linear kv_proj{nullptr};              // absent when width == output_dim
  at::Tensor in_proj_weight, in_proj_bias;  // attn.in_proj_weight / bias: q, k, v rows
  nn::linear out_proj{nullptr};             // attn.out_proj
  nn::layer_norm ln_q{nullptr}, ln_kv{nullptr};

 private:
  std::int64_t heads_;
};
TORCH_MODULE_IMPL(resampler, resampler_impl);

/// VisionTransformer (transformer.visual).
class vision_transformer_impl : public torch::nn::Module {
 public:
  explicit vision_transformer_impl(const visual_config& c);
  /// pixel_values (N, 3, S, S) -> (N, n_queries, output_dim).
  at::Tensor forward(const at::Tensor& pixel_values);
  at::Tensor conv1_weight, positional_embedding, proj;
  nn::layer_norm ln_pre{nullptr}, ln_post{nullptr};
  torch::nn::ModuleList resblocks{nullptr};  // transformer.resblocks
  resampler attn_pool{nullptr};
  visual_config config;
  bool gradient_checkpointing = false;  // recompute each block in backward (training only)
};
TORCH_MODULE_IMPL(vision_transformer, vision_transformer_impl);

class qwen_vl_model_impl : public torch::nn::Module {
 public:
  explicit qwen_vl_model_impl(const qwen_vl_config& c);

  /// Text embeddings with each image's features between its <img> and </img>.
  at::Tensor input_embeddings(const inputs& in);
  /// Final hidden states (B, T, H) of the language model.
  at::Tensor hidden_states(const inputs& in);
  at::Tensor logits_from_hidden(const at::Tensor& hidden);
  /// Float logits (B, T, V).
  at::Tensor forward(const inputs& in) { return logits_from_hidden(hidden_states(in)); }

  lm::decoder_model language_model{nullptr};  // transformer.* (wte, h, ln_f)
  vision_transformer visual{nullptr};         // transformer.visual
  nn::linear lm_head{nullptr};                // lm_head (absent when tied)
  qwen_vl_config config;
};
TORCH_MODULE_IMPL(qwen_vl_model, qwen_vl_model_impl);

/// get_abs_pos: a (S, D) table of a sqrt(S) square grid resized bicubically (torch's
/// interpolate, align_corners false) to a sqrt(tokens) one, (tokens, D); the table itself when
/// the sizes agree.
at::Tensor resized_positions(const at::Tensor& table, std::int64_t tokens);

/// (row, position of <img>, position of </img>) of every image span, row-major. Throws when
/// <img> and </img> do not pair up in a row.
std::vector<std::array<std::int64_t, 3>> image_spans(const at::Tensor& input_ids, std::int64_t image_start_id);

void load_weights(qwen_vl_model_impl& model, const io::safetensors_checkpoint& checkpoint);

}  // namespace lmms::qwen_vl

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/qwen_vl_impl.hpp"
#endif
