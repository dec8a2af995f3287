// lmms/models/phi3_v/phi3_v.hpp: Phi-3-Vision (microsoft/Phi-3-vision-128k-instruct,
// model_type phi3_v, the checkpoint's remote code Phi3VForCausalLM): a CLIP ViT-L/14-336 tower,
// the HD feature transform with learned separators, a two-layer MLP projection, and a Phi-3 LLM
// (fused qkv / gate_up projections, LongRoPE) whose embeddings at the image positions are the
// projected image features.
//
// Image positions are negative token ids, as Phi3VProcessor writes them: the k-th image of a
// sample is a run of -k ids, one per embedding. Per image the tower sees the global 336 x 336
// view and each HD crop; the 24 x 24 patch features of each are merged 2x2 into 12 x 12 x 4C,
// the crops laid out as one (rows * 12) x (cols * 12) grid with sub_GN after each row, then
// glb_GN, then the global view's 12 x 12 grid with its row separators:
// (rows * cols + 1) * 144 + 1 + (rows + 1) * 12 embeddings.
//
// Parameter names are the checkpoint's (model.embed_tokens, model.layers.N.self_attn.qkv_proj,
// model.vision_embed_tokens.img_processor.vision_model.*, model.vision_embed_tokens.{glb_GN,
// sub_GN, img_projection.0, img_projection.2}, lm_head), so PEFT adapters load on the remote model.
//
//   auto cfg = phi3_v::phi3_v_config::from_hf(io::hf_config::load(dir));
//   phi3_v::phi3_v_model model(cfg);
//   phi3_v::load_weights(*model, io::safetensors_checkpoint::open(dir));
//   at::Tensor logits = model->forward({.input_ids = ids, .pixel_values = crops, .image_sizes = sizes});
#pragma once

#include "lmms/io/hf_config.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/models/llm/decoder.hpp"
#include "lmms/models/vision/clip.hpp"
#include "lmms/nn/linear.hpp"
#include "lmms/torch.hpp"

namespace lmms::phi3_v {

struct phi3_v_config {
  lm::decoder_config text;
  vit::clip_config vision;
  std::int64_t feature_layer = 0;  // index into the tower's hidden states (img_processor.layer_idx, -2)
  std::int64_t image_dim_out = 0;  // C: the tower's hidden size

  /// Side of the 2x2-merged feature grid of one crop (12 for CLIP ViT-L/14-336).
  std::int64_t merged_grid() const { return vision.image_size / vision.patch_size / 2; }
  /// Embeddings of an image whose HD size is hd_height x hd_width (processors/phi3_v.hpp).
  std::int64_t image_tokens(int hd_height, int hd_width) const;

  /// Reads a Phi-3-V config.json (the LLM's fields at the top level, img_processor, embd_layer).
  /// The hub config names no tower: it is CLIP ViT-L/14-336, as the remote code hard-codes;
  /// img_processor.vision_config (an lmms extension, used by the tiny test models) overrides it.
  static phi3_v_config from_hf(const io::hf_config& config);
};

/// The model inputs: pixel_values (crops, 3, 336, 336) holds every image's global view and crops
/// back to back (images in reading order); image_sizes (images, 2) their HD sizes.
struct inputs {
  at::Tensor input_ids, attention_mask, pixel_values, image_sizes;
};

/// Phi3ImageEmbedding's parameters and the HD transform (model.vision_embed_tokens).
class image_embedding_impl : public torch::nn::Module {
 public:
  explicit image_embedding_impl(const phi3_v_config& c);
  /// pixel_values (crops, 3, 336, 336), image_sizes (images, 2) -> (embeddings, text hidden), images in order.
  at::Tensor forward(const at::Tensor& pixel_values, const at::Tensor& image_sizes);

  vit::clip_vision tower{nullptr};  // img_processor.vision_model
  at::Tensor glb_GN, sub_GN;        // separators (1, 1, 4C) and (1, 1, 1, 4C)
  nn::linear projection_0{nullptr}, projection_2{nullptr};  // img_projection.0 / .2 (GELU between)
  phi3_v_config config;
};
TORCH_MODULE_IMPL(image_embedding, image_embedding_impl);

class phi3_v_model_impl : public torch::nn::Module {
 public:
  explicit phi3_v_model_impl(const phi3_v_config& c);

  /// Text embeddings with the image features at the negative ids (transformers' clamp, then
  /// index_put in row-major order).
  at::Tensor input_embeddings(const inputs& in);
  /// Final hidden states (B, T, H) of the language model.
  at::Tensor hidden_states(const inputs& in);
  at::Tensor logits_from_hidden(const at::Tensor& hidden);
  /// Float logits (B, T, V).
  at::Tensor forward(const inputs& in) { return logits_from_hidden(hidden_states(in)); }

  lm::decoder_model language_model{nullptr};     // model.* (embed_tokens, layers, norm)
  image_embedding vision_embed_tokens{nullptr};  // model.vision_embed_tokens
  nn::linear lm_head{nullptr};                   // lm_head (absent when tied)
  phi3_v_config config;
};
TORCH_MODULE_IMPL(phi3_v_model, phi3_v_model_impl);

/// Checkpoint names: the in-memory ones; the embedding table may also be stored under the remote
/// code's alias model.vision_embed_tokens.wte.weight.
std::function<std::string(const std::string&)> checkpoint_names(const io::safetensors_checkpoint& checkpoint);
void load_weights(phi3_v_model_impl& model, const io::safetensors_checkpoint& checkpoint);

}  // namespace lmms::phi3_v

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/phi3_v_impl.hpp"
#endif
