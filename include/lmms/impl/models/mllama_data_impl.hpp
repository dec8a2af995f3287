// Implementation of lmms/models/mllama/data.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include <algorithm>

#include "lmms/core/error.hpp"
#include "lmms/data/parallel.hpp"
#include "lmms/media/image.hpp"
#include "lmms/models/mllama/data.hpp"

namespace lmms::mllama {

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const mllama_config& config,
                                 const prepare_options& options, const std::string& source) {
  prepared_samples out;
  const auto image_id = static_cast<text::token_id>(config.image_token_id);
  for (const auto& s : dataset.samples) {
    auto where = [&] { return source + " sample " + std::to_string(s.index); };
    if (!s.videos.empty()) fail(where(), ": has a video; Llama-3.2-Vision takes images only");
    text::chat_tokens r;
    try {
      r = chat.render({.system_prompt = s.system_prompt, .turns = s.turns});
    } catch (const lmms::error& e) {
      fail(where(), ": ", std::string(e.what()).substr(6));
    }
    if (static_cast<std::size_t>(r.images) != s.images.size())
      fail(where(), ": ", r.images, " <image> placeholders but ", s.images.size(), " images");
    sample_tokens t;
    t.images = s.images;
    t.source_index = s.index;
    t.input_ids = r.input_ids;
    t.labels = r.labels;
    std::int64_t media_end = 0;
    for (std::size_t i = 0; i < t.input_ids.size(); ++i)
      if (t.input_ids[i] == image_id) media_end = static_cast<std::int64_t>(i) + 1;
    add_fitted(std::move(t), media_end, options, where(), out);
  }
  return out;
}

training::batch_source batch_source_of(const std::vector<sample_tokens>& samples,
                                       const processors::mllama_image_config& processor, const mllama_config& config,
                                       text::token_id pad_token_id, std::int64_t media_threads) {
  const std::vector<sample_tokens>* all = &samples;
  const std::size_t threads = data::media_threads(media_threads);
  const std::int64_t image_id = config.image_token_id;
  if (processor.max_image_tiles != config.vision.max_num_tiles)
    fail("the image processor cuts up to ", processor.max_image_tiles, " tiles but the model takes ",
         config.vision.max_num_tiles, " (preprocessor_config.json and config.json disagree)");
  if (processor.tile_size != config.vision.image_size)
    fail("the image processor makes ", processor.tile_size, " px tiles but the model's are ", config.vision.image_size, " px");
  return llava::batch_source_over(samples, [all, processor, pad_token_id, threads, image_id](const std::vector<std::size_t>& indices) {
    const llava::chosen_samples chosen = llava::choose(*all, indices);
    training::lm_batch b = chosen.collate(pad_token_id, 0);
    if (chosen.images.empty()) return b;  // text only: no vision inputs, the cross-attention layers are skipped
    const std::vector<std::size_t>& images_in_row = chosen.images_per_sample;
    const std::size_t max_images = *std::max_element(images_in_row.begin(), images_in_row.end());
    std::vector<processors::mllama_tiles> tiles(chosen.images.size());
    data::for_each_file(chosen.images, threads, [&](std::size_t k) {
      tiles[k] = processors::mllama_preprocess(media::load_image(chosen.images[k]), processor);
    });
    const std::int64_t B = static_cast<std::int64_t>(indices.size()), N = static_cast<std::int64_t>(max_images);
    const std::int64_t T = processor.max_image_tiles, S = processor.tile_size;
    b.pixel_values = at::zeros({B, N, T, 3, S, S}, at::kFloat);
    b.aspect_ratio_ids = at::zeros({B, N}, at::kLong);
    b.aspect_ratio_mask = at::zeros({B, N, T}, at::kLong);
    b.aspect_ratio_mask.select(2, 0).fill_(1);  // transformers marks the first tile of every slot, padding too
    std::vector<std::vector<std::int64_t>> num_tiles(static_cast<std::size_t>(B));
    std::size_t k = 0;
    for (std::int64_t row = 0; row < B; ++row)
      for (std::size_t j = 0; j < images_in_row[static_cast<std::size_t>(row)]; ++j, ++k) {
        const auto& t = tiles[k];
        const std::int64_t n = t.tiles();
        b.pixel_values[row][static_cast<std::int64_t>(j)].narrow(0, 0, n).copy_(
            at::from_blob(const_cast<float*>(t.data.data()), {n, 3, S, S}, at::kFloat));
        b.aspect_ratio_ids[row][static_cast<std::int64_t>(j)] = t.aspect_ratio_id;
        b.aspect_ratio_mask[row][static_cast<std::int64_t>(j)].narrow(0, 0, n).fill_(1);
        num_tiles[static_cast<std::size_t>(row)].push_back(n);
      }
    b.cross_attention_mask = cross_attention_mask(b.input_ids, image_id, num_tiles, T);
    return b;
  });
}

}  // namespace lmms::mllama
