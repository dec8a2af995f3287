// lmms/models/qwen_vl/data.hpp: Qwen-VL-Chat samples for training. The conversation is rendered
// in the qwen_vl chat format (text/chat.hpp: each <image> becomes "Picture k: <img>path</img>\n"
// in place, in any turn, as lmms-finetune builds it), the path being image_folder / file as the
// dataset names it; the tokenizer writes each <img>path</img> as <img>, the path's bytes padded
// with <imgpad> to 256 ids, </img> (a path longer than 254 bytes is an error naming it). A batch
// holds every image's pixels (images, 3, 448, 448) in reading order (processors/qwen_vl.hpp).
//
//   auto prepared = qwen_vl::prepare_samples(ds, chat, cfg, {.max_length = 2048});
//   training::batch_source batches = qwen_vl::batch_source_of(prepared.samples, cfg, pad_id);
//
// Unlike lmms-finetune (pad to max_length, then cut at max_length, through an image span if
// that is where it falls): dynamic padding or packing, and a sample longer than max_length is
// never cut inside an image (cut after its last image when only text is over, else dropped and
// counted).
#pragma once

#include "lmms/data/dataset.hpp"
#include "lmms/models/llava/data.hpp"
#include "lmms/models/qwen_vl/qwen_vl.hpp"
#include "lmms/text/chat.hpp"
#include "lmms/train/loop.hpp"

namespace lmms::qwen_vl {

using llava::add_fitted;
using llava::prepare_options;
using llava::prepared_samples;
using llava::sample_tokens;

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const qwen_vl_config& config,
                                 const prepare_options& options, const std::string& source = "dataset");

/// collate(indices) decodes and transforms the images of those samples (on media_threads
/// threads, 0: up to 4) and right-pads the text (pack_max_length > 0: packed rows,
/// training::collate_packed).
training::batch_source batch_source_of(const std::vector<sample_tokens>& samples, const qwen_vl_config& config,
                                       text::token_id pad_token_id, std::int64_t pack_max_length = 0,
                                       std::int64_t media_threads = 0);

/// The model inputs of a batch.
inline inputs inputs_of(const training::lm_batch& b) {
  return {.input_ids = b.input_ids, .attention_mask = b.attention_mask, .pixel_values = b.pixel_values};
}

}  // namespace lmms::qwen_vl

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/qwen_vl_data_impl.hpp"
#endif
