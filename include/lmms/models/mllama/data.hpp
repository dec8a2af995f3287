// lmms/models/mllama/data.hpp: Llama-3.2-Vision samples for training. The conversation is
// rendered in the llama3_vision chat format (text/chat.hpp): each image stays one <|image|> token
// (the model reads images through cross-attention, never as tokens), so a sample's length does
// not depend on its pictures. A batch holds MllamaProcessor's tensors: every image cut into tiles
// (processors/mllama.hpp), padded to the batch's most images and processor.max_image_tiles,
// aspect ratio ids and masks, and the cross-attention mask built from the token ids.
//
//   auto prepared = mllama::prepare_samples(ds, chat, cfg, {.max_length = 2048});
//   training::batch_source batches = mllama::batch_source_of(prepared.samples, processor, cfg, pad_id);
//
// A sample longer than max_length is cut after its last <|image|> token when only text is
// over, and dropped and counted otherwise (an image token whose text is cut off teaches nothing).
#pragma once

#include "lmms/data/dataset.hpp"
#include "lmms/models/llava/data.hpp"
#include "lmms/models/mllama/mllama.hpp"
#include "lmms/processors/mllama.hpp"
#include "lmms/text/chat.hpp"
#include "lmms/train/loop.hpp"

namespace lmms::mllama {

using llava::add_fitted;
using llava::prepare_options;
using llava::prepared_samples;
using llava::sample_tokens;

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const mllama_config& config,
                                 const prepare_options& options, const std::string& source = "dataset");

/// collate(indices) decodes and tiles the images of those samples (on media_threads threads,
/// 0: up to 4) and right-pads the text. Packing is not offered: each sample's cross-attention
/// mask covers its own images.
training::batch_source batch_source_of(const std::vector<sample_tokens>& samples,
                                       const processors::mllama_image_config& processor, const mllama_config& config,
                                       text::token_id pad_token_id, std::int64_t media_threads = 0);

/// The model inputs of a batch.
inline inputs inputs_of(const training::lm_batch& b) {
  return {.input_ids = b.input_ids, .attention_mask = b.attention_mask, .pixel_values = b.pixel_values,
          .aspect_ratio_ids = b.aspect_ratio_ids, .aspect_ratio_mask = b.aspect_ratio_mask,
          .cross_attention_mask = b.cross_attention_mask};
}

}  // namespace lmms::mllama

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/mllama_data_impl.hpp"
#endif
