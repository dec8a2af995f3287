// lmms/models/qwen2_vl/data.hpp: Qwen2-VL samples for training: the conversation rendered as
// chatml (text::chat_format::qwen2_vl, media where their placeholders are, in any user turn),
// each <|image_pad|> expanded to the image's grid_h * grid_w / merge^2 tokens (labels -100),
// which depends on the image's size: prepare reads each image's header, the batch decodes and
// patchifies it. Each <|video_pad|> likewise: num_frames frames sampled as lmms-finetune does
// (media/video.hpp), ceil(num_frames / 2) * grid_h * grid_w / merge^2 tokens.
//
//   auto prepared = qwen2vl::prepare_samples(ds, chat, cfg, processor, {.max_length = 2048});
//   training::batch_source batches = qwen2vl::batch_source_of(prepared.samples, processor, pad_id);
//
// A sample longer than max_length is never cut inside a media span: it is truncated after its
// last media span when only text is over, and dropped and counted otherwise.
#pragma once

#include "lmms/data/dataset.hpp"
#include "lmms/models/llava/data.hpp"
#include "lmms/models/qwen2_vl/qwen2_vl.hpp"
#include "lmms/processors/qwen2_vl.hpp"
#include "lmms/text/chat.hpp"
#include "lmms/train/loop.hpp"

namespace lmms::qwen2vl {

using llava::add_fitted;
using llava::prepare_options;
using llava::prepared_samples;
using llava::sample_tokens;

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const qwen2_vl_config& config,
                                 const processors::qwen2_vl_image_config& processor, const prepare_options& options,
                                 const std::string& source = "dataset");

/// collate(indices) decodes and patchifies the images and videos of those samples
/// (pixel_values / image_grid_thw and pixel_values_videos / video_grid_thw in reading order) and
/// right-pads the text; with pack_max_length > 0 the samples share rows of that many tokens
/// (training::collate_packed). num_frames must be the one the samples were prepared with.
/// The batch's images and videos are decoded and processed on media_threads threads (0: up to 4).
training::batch_source batch_source_of(const std::vector<sample_tokens>& samples,
                                       const processors::qwen2_vl_image_config& processor, text::token_id pad_token_id,
                                       std::int64_t pack_max_length = 0, int num_frames = 8,
                                       std::int64_t media_threads = 0);

/// The model inputs of a batch.
inline inputs inputs_of(const training::lm_batch& b) {
  return {.input_ids = b.input_ids, .attention_mask = b.attention_mask, .pixel_values = b.pixel_values,
          .image_grid_thw = b.image_grid_thw, .pixel_values_videos = b.pixel_values_videos,
          .video_grid_thw = b.video_grid_thw};
}

}  // namespace lmms::qwen2vl

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/qwen2_vl_data_impl.hpp"
#endif
