// Implementation of lmms/models/llava/data.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include "lmms/core/error.hpp"
#include "lmms/models/llava/data.hpp"

namespace lmms::llava {

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const llava_config& config,
                                 const prepare_options& options, const std::string& source) {
  prepared_samples out;
  const auto image_id = static_cast<text::token_id>(config.image_token_id);
  const std::int64_t per_image = config.image_tokens();
  for (const auto& s : dataset.samples) {
    text::chat_tokens r;
    try {
      r = chat.render({.system_prompt = s.system_prompt, .turns = s.turns});
    } catch (const lmms::error& e) {
      fail(source, " sample ", s.index, ": ", std::string(e.what()).substr(6));
    }
    sample_tokens t;
    t.images = s.images;
    t.source_index = s.index;
    std::int64_t last_image_end = 0;  // tokens up to the end of the last image span
    for (std::size_t i = 0; i < r.input_ids.size(); ++i) {
      if (r.input_ids[i] == image_id) {
        t.input_ids.insert(t.input_ids.end(), static_cast<std::size_t>(per_image), image_id);
        t.labels.insert(t.labels.end(), static_cast<std::size_t>(per_image), text::ignore_index);
        last_image_end = static_cast<std::int64_t>(t.input_ids.size());
      } else {
        t.input_ids.push_back(r.input_ids[i]);
        t.labels.push_back(r.labels[i]);
      }
    }
    add_fitted(std::move(t), last_image_end, options, source + " sample " + std::to_string(s.index), out);
  }
  return out;
}

void add_fitted(sample_tokens t, std::int64_t media_end, const prepare_options& options, const std::string& where,
                prepared_samples& out) {
  if (static_cast<std::int64_t>(t.input_ids.size()) > options.max_length) {
    if (media_end > options.max_length) {
      std::string why = where + ": " + std::to_string(t.input_ids.size()) + " tokens with its media; max_length " +
                        std::to_string(options.max_length) + " would cut a media span";
      if (!options.drop_too_long) fail(why, " (raise max_length, or let such samples be dropped)");
      out.problems.push_back(why);
      ++out.dropped;
      return;
    }
    t.input_ids.resize(static_cast<std::size_t>(options.max_length));
    t.labels.resize(static_cast<std::size_t>(options.max_length));
    ++out.truncated;
  }
  out.samples.push_back(std::move(t));
}

training::batch_source batch_source_of(const std::vector<sample_tokens>& samples, const processors::clip_config& processor,
                                    text::token_id pad_token_id, std::int64_t pack_max_length) {
  const std::vector<sample_tokens>* all = &samples;
  return {samples.size(), [all, processor, pad_token_id, pack_max_length](const std::vector<std::size_t>& indices) {
            std::vector<training::token_sample> text;
            std::vector<at::Tensor> pixels;
            for (std::size_t i : indices) {
              const sample_tokens& s = (*all)[i];
              text.push_back({s.input_ids, s.labels});
              for (const auto& file : s.images) {
                processors::pixel_values pv = processors::clip_preprocess(media::load_image(file), processor);
                pixels.push_back(at::from_blob(pv.data.data(), {pv.channels, pv.height, pv.width}, at::kFloat).clone());
              }
            }
            std::vector<const training::token_sample*> chosen;
            for (const auto& t : text) chosen.push_back(&t);
            training::lm_batch b = pack_max_length > 0 ? training::collate_packed(chosen, pad_token_id, pack_max_length)
                                                       : training::collate_right_pad(chosen, pad_token_id);
            if (!pixels.empty()) b.pixel_values = at::stack(pixels);
            return b;
          }};
}

}  // namespace lmms::llava
