// lmms/models/llava/data.hpp: LLaVA-family samples for training: the conversation rendered in
// the family's chat format, each <image> token expanded to the image's token count (labels
// -100 there): image_tokens() for LLaVA-1.5 / Interleave, the anyres count of the image's size
// for NeXT / OneVision (read from the file header, no decoding). Images are decoded and
// processed (CLIP / SigLIP steps, anyres tiles) lazily when a batch is built.
//
//   auto ds = data::load_dataset({.file = "train.json", .image_folder = "images"});
//   auto prepared = llava::prepare_samples(ds, chat, cfg, {.max_length = 2048});
//   training::batch_source batches = llava::batch_source_of(prepared.samples, clip, cfg, pad_id);
//
// A sample longer than max_length is never cut inside an image span: it is truncated after
// its last image if the text alone is too long there, and dropped and counted otherwise
// (lmms-finetune cuts through image tokens and then fails in the model).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lmms/data/dataset.hpp"
#include "lmms/models/llava/llava.hpp"
#include "lmms/processors/clip.hpp"
#include "lmms/text/chat.hpp"
#include "lmms/train/loop.hpp"

namespace lmms::llava {

struct sample_tokens {
  std::vector<text::token_id> input_ids, labels;
  std::vector<std::filesystem::path> images, videos;
  std::size_t source_index = 0;  // position in the dataset file, for error messages
};

struct prepare_options {
  std::int64_t max_length = 2048;
  bool drop_too_long = true;  // false: a sample whose image span does not fit is an error
  int num_frames = 8;         // frames sampled from each video (media/video.hpp)
};

struct prepared_samples {
  std::vector<sample_tokens> samples;
  std::size_t truncated = 0, dropped = 0;
  std::vector<std::string> problems;  // one line per dropped sample
};

/// The family's chat format: llava (1.5, NeXT, NeXT-Video), llava_interleave (a llava model with a
/// SigLIP tower), llava_onevision.
inline text::chat_format chat_format_of(const llava_config& config) {
  if (config.model_type == "llava_onevision") return text::chat_format::llava_onevision;
  return config.vision.siglip ? text::chat_format::llava_interleave : text::chat_format::llava;
}

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const llava_config& config,
                                 const prepare_options& options, const std::string& source = "dataset");

/// Adds `t` to `out` within options.max_length, never cutting a media span: truncated after its
/// last media span (which ends at media_end) when only text is over, else dropped and counted
/// (or an error naming `where`, with drop_too_long false). Shared by every family's preparation.
void add_fitted(sample_tokens t, std::int64_t media_end, const prepare_options& options, const std::string& where,
                prepared_samples& out);

/// The samples at `indices`, as every family's collate starts: their text in order, their
/// images and then their videos in reading order.
struct chosen_samples {
  std::vector<training::token_sample> text;
  std::vector<std::filesystem::path> images, videos;
  std::vector<std::size_t> images_per_sample;
  /// The text as a batch: packed into rows of pack_max_length tokens when that is > 0
  /// (training::collate_packed), else right-padded.
  training::lm_batch collate(text::token_id pad_token_id, std::int64_t pack_max_length) const;
};
chosen_samples choose(const std::vector<sample_tokens>& samples, const std::vector<std::size_t>& indices);

/// A batch source over `samples` (which must outlive it) with what the samplers read: each
/// sample's token count and whether it has no media. Shared by every family's batch_source_of.
training::batch_source batch_source_over(const std::vector<sample_tokens>& samples,
                                         std::function<training::lm_batch(const std::vector<std::size_t>&)> collate);

/// One image as the model takes it: its tiles (1 without anyres) as (tiles, 3, S, S) floats,
/// for a sample with `images_in_sample` images (OneVision tiles only single-image samples).
at::Tensor image_pixels(const media::rgb_image& image, const processors::clip_config& processor,
                        const llava_config& config, std::size_t images_in_sample);

/// The trainer's view: collate(indices) decodes and processes the images of those samples
/// (an unreadable image is an error naming the file) and right-pads the text; with
/// pack_max_length > 0 the samples share rows of that many tokens (training::collate_packed).
/// Anyres models also get image_sizes and image_tiles; OneVision's videos (num_frames frames
/// each, as prepared) pixel_values_videos (videos, frames, 3, S, S). The batch's images and
/// videos are decoded and processed on media_threads threads (0: up to 4).
training::batch_source batch_source_of(const std::vector<sample_tokens>& samples, const processors::clip_config& processor,
                                       const llava_config& config, text::token_id pad_token_id,
                                       std::int64_t pack_max_length = 0, int num_frames = 8,
                                       std::int64_t media_threads = 0);

}  // namespace lmms::llava

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/llava_data_impl.hpp"
#endif
