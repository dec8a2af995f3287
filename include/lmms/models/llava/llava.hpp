// lmms/models/llava/llava.hpp: the LLaVA family in one model, as transformers has it in three
// classes with the same parameters: a CLIP or SigLIP vision tower, a two-layer projector and
// a decoder LLM (Llama / Vicuna, Mistral, Qwen2).
//   - LLaVA-1.5 and LLaVA-Interleave (LlavaForConditionalGeneration, model_type llava): each
//     image is one tile and becomes image_tokens() embeddings replacing its <image> tokens.
//   - LLaVA-NeXT (LlavaNextForConditionalGeneration, llava_next) and LLaVA-OneVision
//     (LlavaOnevisionForConditionalGeneration, llava_onevision): anyres tiles, unpadding, a
//     learned image_newline per feature row (processors/anyres.hpp); OneVision caps the grid
//     at anyres_max_9 and gives images of multi-image samples a single tile.
//   - Videos: OneVision pools each frame's projected features 2x2 (bilinear) and ends the video
//     with a newline; LLaVA-NeXT-Video (LlavaNextVideoForConditionalGeneration,
//     llava_next_video: NeXT for images) average-pools the tower's features 2x2 before the
//     projector, no newline.
//
// Parameter names are transformers 5's in-memory names (model.vision_tower.*,
// model.multi_modal_projector.*, model.language_model.*, lm_head.*), so PEFT adapters name
// their modules as peft does on the HF model. Checkpoints in either layout load:
// transformers 5's, and the hub's llava-hf one (vision_tower.vision_model.*,
// language_model.model.*, language_model.lm_head.*).
//
//   auto cfg = llava::llava_config::from_hf(io::hf_config::load(dir));
//   llava::llava_model model(cfg);
//   llava::load_weights(*model, io::safetensors_checkpoint::open(dir));
//   at::Tensor logits = model->forward(input_ids, attention_mask, pixel_values);
#pragma once

#include <vector>

#include "lmms/io/hf_config.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/models/checkpoint_layout.hpp"
#include "lmms/models/llm/decoder.hpp"
#include "lmms/models/vision/clip.hpp"
#include "lmms/nn/linear.hpp"
#include "lmms/processors/anyres.hpp"
#include "lmms/torch.hpp"

namespace lmms::llava {

struct llava_config {
  std::string model_type = "llava";  // llava, llava_next, llava_onevision
  lm::decoder_config text;
  vit::clip_config vision;
  std::int64_t image_token_id = 0;
  std::int64_t video_token_id = -1;  // <video> of OneVision and NeXT-Video (-1: the model takes no videos)
  int video_pool_stride = 2;         // NeXT-Video's spatial_pool_stride (average pooling)
  /// Which CLIP hidden states feed the projector, as indices into (embeddings, layer 1 output,
  /// ...): transformers' vision_feature_layer with negatives resolved. Several are concatenated.
  std::vector<std::int64_t> feature_layers;
  bool drop_cls = true;  // vision_feature_select_strategy "default" (drop CLS) vs "full"
  std::string projector_act = "gelu";
  bool projector_bias = true;

  /// NeXT and OneVision: the anyres layout (grid pinpoints, anyres_max_N, newline per row).
  std::optional<processors::anyres_layout> anyres;

  /// Embeddings per tile: the tower's sequence (patches, plus CLIP's CLS) less CLS with the
  /// "default" strategy (which drops the first position, as transformers does, even for SigLIP).
  std::int64_t image_tokens() const { return vision.sequence_length() - (drop_cls ? 1 : 0); }
  /// <image> tokens of an image of height x width in a sample of `images_in_sample` images.
  std::int64_t image_tokens(int height, int width, std::size_t images_in_sample) const {
    return anyres ? anyres->image_tokens(height, width, with_tiles(images_in_sample)) : image_tokens();
  }
  /// <video> tokens of a video of `frames` frames: OneVision frames * ceil(grid / 2)^2 + 1 (pooled
  /// bilinearly, then one newline); NeXT-Video frames * (grid / stride)^2 (average-pooled).
  std::int64_t video_tokens(std::int64_t frames) const {
    const std::int64_t side = vision.image_size / vision.patch_size;
    if (model_type == "llava_next_video") return frames * (side / video_pool_stride) * (side / video_pool_stride);
    const std::int64_t pooled = (side + 1) / 2;
    return frames * pooled * pooled + 1;
  }
  /// Whether an image of a sample with this many images is split into anyres tiles.
  bool with_tiles(std::size_t images_in_sample) const {
    return anyres && (images_in_sample <= 1 || anyres->multi_image_tiles);
  }
  static llava_config from_hf(const io::hf_config& config);
};

class projector_impl : public torch::nn::Module {
 public:
  projector_impl(std::int64_t in, std::int64_t out, const std::string& act, bool bias);
  at::Tensor forward(const at::Tensor& x);
  nn::linear linear_1{nullptr}, linear_2{nullptr};

 private:
  std::string act_;
};
TORCH_MODULE_IMPL(projector, projector_impl);

class llava_model_impl : public torch::nn::Module {
 public:
  explicit llava_model_impl(const llava_config& c);

  /// pixel_values (tiles, 3, S, S) -> the tower's selected features of each tile (feature layers
  /// concatenated, CLS dropped with "default"), before the projector.
  at::Tensor tower_features(const at::Tensor& pixel_values);
  /// pixel_values (tiles, 3, S, S) -> projected features of each tile (tiles, image_tokens(), text hidden).
  at::Tensor image_features(const at::Tensor& pixel_values);
  /// The embeddings of each image in order, concatenated (tokens, text hidden): one tile per
  /// image without anyres; with anyres, image_sizes (N, 2) holds each image's original
  /// (height, width) and image_tiles (N) its tile count (undefined: every image tiled, as
  /// transformers does for NeXT), pixel_values their tiles back to back.
  at::Tensor image_embeddings(const at::Tensor& pixel_values, const at::Tensor& image_sizes = {},
                              const at::Tensor& image_tiles = {});
  /// pixel_values_videos (videos, frames, 3, S, S) -> each video's embeddings, concatenated:
  /// OneVision's frame features pooled 2x2 (bilinear) and one image_newline after each video;
  /// NeXT-Video's tower features average-pooled, then projected.
  at::Tensor video_embeddings(const at::Tensor& pixel_values_videos);
  /// input_ids (B, T) with the <image> ids the data pipeline counted per image, images in
  /// reading order; pixel_values (tiles, 3, S, S) or undefined for text-only batches; OneVision
  /// also pixel_values_videos for its <video> ids. Returns float32 logits (B, T, V).
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {},
                     const at::Tensor& pixel_values = {}, const at::Tensor& image_sizes = {},
                     const at::Tensor& image_tiles = {}, const at::Tensor& pixel_values_videos = {});
  /// The inputs_embeds forward uses (text embeddings with image and video features scattered in).
  at::Tensor input_embeddings(const at::Tensor& input_ids, const at::Tensor& pixel_values,
                              const at::Tensor& image_sizes = {}, const at::Tensor& image_tiles = {},
                              const at::Tensor& pixel_values_videos = {});
  /// Final hidden states (B, T, H) of the language model (forward without the head).
  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& pixel_values,
                           const at::Tensor& image_sizes = {}, const at::Tensor& image_tiles = {},
                           const at::Tensor& pixel_values_videos = {});
  /// Float logits of decoder hidden states (lm_head, or the embeddings when tied).
  at::Tensor logits_from_hidden(const at::Tensor& hidden);

  vit::clip_vision vision_tower{nullptr};       // model.vision_tower
  projector multi_modal_projector{nullptr};        // model.multi_modal_projector
  at::Tensor image_newline;                        // model.image_newline (NeXT, OneVision), always frozen
  lm::decoder_model language_model{nullptr};      // model.language_model
  nn::linear lm_head{nullptr};                     // lm_head (absent when tied)
  llava_config config;
};
TORCH_MODULE_IMPL(llava_model, llava_model_impl);

/// Loads every parameter (either layout, see models/checkpoint_layout.hpp); a missing or
/// misshapen tensor is an error naming it.
void load_weights(llava_model_impl& model, const io::safetensors_checkpoint& checkpoint);

}  // namespace lmms::llava

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/llava_impl.hpp"
#endif
