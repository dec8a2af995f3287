// Implementation of lmms/models/qwen_vl/data.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include "lmms/core/error.hpp"
#include "lmms/data/parallel.hpp"
#include "lmms/media/image.hpp"
#include "lmms/models/qwen_vl/data.hpp"
#include "lmms/processors/qwen_vl.hpp"

namespace lmms::qwen_vl {

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const qwen_vl_config& config,
                                 const prepare_options& options, const std::string& source) {
  prepared_samples out;
  const text::token_id image_end = static_cast<text::token_id>(config.visual.image_start_id + 1);
  for (const auto& s : dataset.samples) {
    const std::string where = source + " sample " + std::to_string(s.index);
    if (!s.videos.empty()) fail(where, ": has a video, and Qwen-VL-Chat takes images only");
    text::chat_sample c{.system_prompt = s.system_prompt, .turns = s.turns};
    for (const auto& f : s.images) {
      // the remote code reads a path back from its span up to the first <imgpad>, before the
      // last id: 254 bytes at most (lmms passes pixels, but the prompts must stay readable there)
      if (f.string().size() > 254)
        fail(where, ": the image path ", f.string(), " is ", f.string().size(), " bytes; Qwen-VL-Chat reads at most 254 ",
             "(move the images to a shorter folder or give a shorter --data.image_folder)");
      c.image_paths.push_back(f.string());
    }
    text::chat_tokens r;
    try {
      r = chat.render(c);
    } catch (const lmms::error& e) {
      fail(where, ": ", std::string(e.what()).substr(6));
    }
    sample_tokens t;
    t.images = s.images;
    t.source_index = s.index;
    t.input_ids = std::move(r.input_ids);
    t.labels = std::move(r.labels);
    std::int64_t media_end = 0;  // tokens up to the last </img>
    std::size_t spans = 0;
    for (std::size_t i = 0; i < t.input_ids.size(); ++i)
      if (t.input_ids[i] == image_end) {
        media_end = static_cast<std::int64_t>(i) + 1;
        ++spans;
      }
    if (spans != s.images.size())
      fail(where, ": the text has ", spans, " image spans for ", s.images.size(),
           " images (does a message itself contain <img> or </img>?)");
    add_fitted(std::move(t), media_end, options, where, out);
  }
  return out;
}

training::batch_source batch_source_of(const std::vector<sample_tokens>& samples, const qwen_vl_config& config,
                                       text::token_id pad_token_id, std::int64_t pack_max_length,
                                       std::int64_t media_threads) {
  const std::vector<sample_tokens>* all = &samples;
  const std::size_t threads = data::media_threads(media_threads);
  const int image_size = static_cast<int>(config.visual.image_size);
  return llava::batch_source_over(samples, [all, image_size, pad_token_id, pack_max_length, threads](const std::vector<std::size_t>& indices) {
    const llava::chosen_samples chosen = llava::choose(*all, indices);
    std::vector<at::Tensor> pixels(chosen.images.size());
    data::for_each_file(chosen.images, threads, [&](std::size_t k) {
      pixels[k] = processors::qwen_vl_preprocess(media::load_image(chosen.images[k]), image_size);
    });
    training::lm_batch b = chosen.collate(pad_token_id, pack_max_length);
    if (!pixels.empty()) b.pixel_values = at::stack(pixels);
    return b;
  });
}

}  // namespace lmms::qwen_vl
