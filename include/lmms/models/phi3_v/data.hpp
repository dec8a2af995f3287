// lmms/models/phi3_v/data.hpp: Phi-3-Vision samples for training. The conversation is rendered in
// the phi3_v chat format (text/chat.hpp: the k-th image of a sample is one id -k), and each -k is
// expanded to the image's embedding count, (rows * cols + 1) * 144 + 1 + (rows + 1) * 12, from its
// HD size (read off the file header, no decoding), as Phi3VProcessor expands it. A batch holds
// every image's global view and HD crops back to back (processors/phi3_v.hpp) and image_sizes.
//
//   auto prepared = phi3_v::prepare_samples(ds, chat, cfg, processor, {.max_length = 4096});
//   training::batch_source batches = phi3_v::batch_source_of(prepared.samples, processor, pad_id);
//
// Unlike lmms-finetune (batch size 1, exactly one image per sample): any batch size, several
// images per sample in any turn, text-only samples, dynamic padding or packing, and a sample
// longer than max_length is never cut inside an image (cut after its last image when only text
// is over, else dropped and counted).
#pragma once

#include "lmms/data/dataset.hpp"
#include "lmms/models/llava/data.hpp"
#include "lmms/models/phi3_v/phi3_v.hpp"
#include "lmms/processors/phi3_v.hpp"
#include "lmms/text/chat.hpp"
#include "lmms/train/loop.hpp"

namespace lmms::phi3_v {

using llava::add_fitted;
using llava::prepare_options;
using llava::prepared_samples;
using llava::sample_tokens;

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const phi3_v_config& config,
                                 const processors::phi3_v_image_config& processor, const prepare_options& options,
                                 const std::string& source = "dataset");

/// Expands the -k ids of rendered chat tokens to each image's embedding count (images: the
/// sample's files, for their HD sizes). Shared by training and `lmms generate` / `score`.
void expand_images(std::vector<text::token_id>& ids, std::vector<text::token_id>& labels,
                   const std::vector<std::filesystem::path>& images, const phi3_v_config& config,
                   const processors::phi3_v_image_config& processor, const std::string& where);

/// collate(indices) decodes and HD-crops the images of those samples (on media_threads threads,
/// 0: up to 4) and right-pads the text (pack_max_length > 0: packed rows, training::collate_packed).
training::batch_source batch_source_of(const std::vector<sample_tokens>& samples,
                                       const processors::phi3_v_image_config& processor, text::token_id pad_token_id,
                                       std::int64_t pack_max_length = 0, std::int64_t media_threads = 0);

/// The model inputs of a batch.
inline inputs inputs_of(const training::lm_batch& b) {
  return {.input_ids = b.input_ids, .attention_mask = b.attention_mask, .pixel_values = b.pixel_values,
          .image_sizes = b.image_sizes};
}

/// pixel_values as the Python model takes them: (images, num_crops + 1, 3, 336, 336), each
/// image's crops padded with zero crops (for the interop checks).
at::Tensor padded_pixel_values(const at::Tensor& pixel_values, const at::Tensor& image_sizes, int num_crops);

}  // namespace lmms::phi3_v

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/phi3_v_data_impl.hpp"
#endif
