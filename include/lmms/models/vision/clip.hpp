// lmms/models/vision/clip.hpp: the CLIP vision transformer used as the image tower of
// LLaVA-1.5 / NeXT / NeXT-Video and Phi-3-Vision, and its SigLIP variant (LLaVA-Interleave,
// LLaVA-OneVision). Parameter names follow transformers' CLIPVisionTransformer /
// SiglipVisionTransformer (embeddings.patch_embedding.weight, pre_layrnorm.weight,
// encoder.layers.N.self_attn.q_proj.weight, ...), so a checkpoint loads by name.
//
// SigLIP is CLIP without the class token and pre-norm, with a patch-embedding bias and tanh
// GELU: one flag here rather than a second tower that would repeat the encoder layers.
//
//   auto cfg = vit::clip_config::from_hf(io::hf_config::load(dir).section("vision_config"));
//   vit::clip_vision tower(cfg);
//   std::vector<at::Tensor> hidden = tower->hidden_states(pixel_values, /*up_to_layer=*/cfg.num_layers - 1);
//   // hidden[0]: embeddings after pre_layrnorm; hidden[i]: output of encoder layer i
#pragma once

#include <vector>

#include "lmms/io/hf_config.hpp"
#include "lmms/nn/linear.hpp"
#include "lmms/nn/norm.hpp"
#include "lmms/torch.hpp"

namespace lmms::vit {

struct clip_config {
  std::int64_t hidden_size = 0, intermediate_size = 0, num_layers = 0, num_heads = 0;
  std::int64_t image_size = 0, patch_size = 0, num_channels = 3;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";  // quick_gelu (OpenAI CLIP), gelu, gelu_pytorch_tanh (SigLIP)
  bool siglip = false;  // SigLIP: no class token, no pre_layrnorm, patch_embedding has a bias

  std::int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
  /// Tokens per image out of the tower: the patches, plus the class token for CLIP.
  std::int64_t sequence_length() const { return num_patches() + (siglip ? 0 : 1); }
  /// Reads a CLIPVisionConfig or SiglipVisionConfig (the vision_config of a LLaVA config).
  /// Refuses what lmms does not implement by name.
  static clip_config from_hf(const io::hf_config& vision_config);
};

class clip_attention_impl : public torch::nn::Module {
 public:
  explicit clip_attention_impl(const clip_config& c);
  at::Tensor forward(const at::Tensor& x);  // bidirectional: every patch sees every patch
  nn::linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};

 private:
  std::int64_t heads_, head_dim_;
};
TORCH_MODULE_IMPL(clip_attention, clip_attention_impl);

class clip_layer_impl : public torch::nn::Module {
 public:
  explicit clip_layer_impl(const clip_config& c);
  at::Tensor forward(const at::Tensor& x);
  clip_attention self_attn{nullptr};
  nn::layer_norm layer_norm1{nullptr}, layer_norm2{nullptr};
  nn::linear fc1{nullptr}, fc2{nullptr};  // registered as mlp.fc1 / mlp.fc2 (a holder module named mlp)

 private:
  std::string act_;
};
TORCH_MODULE_IMPL(clip_layer, clip_layer_impl);

class clip_vision_impl : public torch::nn::Module {
 public:
  explicit clip_vision_impl(const clip_config& c);
  /// pixel_values (N, 3, image_size, image_size) -> hidden states 0..up_to_layer+1 (the
  /// embeddings, then each layer's output), each (N, sequence_length, hidden). Layers past
  /// up_to_layer are not run: a LLaVA tower reading layer -2 never pays for the last one
  /// (-1: the embeddings only).
  std::vector<at::Tensor> hidden_states(const at::Tensor& pixel_values, std::int64_t up_to_layer);

  // Tensors under their checkpoint names (holder modules give the dotted paths):
  at::Tensor patch_embedding_weight;  // embeddings.patch_embedding.weight (hidden, 3, p, p)
  at::Tensor patch_embedding_bias;    // embeddings.patch_embedding.bias (SigLIP only; CLIP has none)
  at::Tensor class_embedding;         // embeddings.class_embedding (hidden), CLIP only
  at::Tensor position_embedding;      // embeddings.position_embedding.weight (sequence_length, hidden)
  nn::layer_norm pre_layrnorm{nullptr}, post_layernorm{nullptr};  // sic: CLIP's own spelling; no pre-norm in SigLIP
  torch::nn::ModuleList layers{nullptr};                          // encoder.layers
  clip_config config;
  bool gradient_checkpointing = false;
};
TORCH_MODULE_IMPL(clip_vision, clip_vision_impl);

}  // namespace lmms::vit

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/clip_vision_impl.hpp"
#endif
