// Implementation of lmms/models/phi3_v/data.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include "lmms/core/error.hpp"
#include "lmms/data/parallel.hpp"
#include "lmms/models/phi3_v/data.hpp"

namespace lmms::phi3_v {

void expand_images(std::vector<text::token_id>& ids, std::vector<text::token_id>& labels,
                   const std::vector<std::filesystem::path>& images, const phi3_v_config& config,
                   const processors::phi3_v_image_config& processor, const std::string& where) {
  std::vector<text::token_id> out_ids, out_labels;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= 0) {
      out_ids.push_back(ids[i]);
      out_labels.push_back(labels[i]);
      continue;
    }
    const auto k = static_cast<std::size_t>(-ids[i]);  // image k of the sample, from 1
    if (k > images.size()) fail(where, ": image ", k, " is named but the sample has ", images.size());
    const auto [w, h] = media::image_size(images[k - 1]);
    std::pair<int, int> hd;
    try {
      hd = processors::phi3_v_hd_size(h, w, processor.num_crops);
    } catch (const lmms::error& e) {
      fail(where, ": ", images[k - 1].string(), ": ", std::string(e.what()).substr(6));
    }
    const std::int64_t n = config.image_tokens(hd.first, hd.second);
    out_ids.insert(out_ids.end(), static_cast<std::size_t>(n), ids[i]);
    out_labels.insert(out_labels.end(), static_cast<std::size_t>(n), text::ignore_index);
  }
  ids = std::move(out_ids);
  labels = std::move(out_labels);
}

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const phi3_v_config& config,
                                 const processors::phi3_v_image_config& processor, const prepare_options& options,
                                 const std::string& source) {
  prepared_samples out;
  for (const auto& s : dataset.samples) {
    const std::string where = source + " sample " + std::to_string(s.index);
    if (!s.videos.empty()) fail(where, ": has a video, and Phi-3-Vision takes images only");
    text::chat_tokens r;
    try {
      r = chat.render({.system_prompt = s.system_prompt, .turns = s.turns});
    } catch (const lmms::error& e) {
      fail(where, ": ", std::string(e.what()).substr(6));
    }
    if (static_cast<std::size_t>(r.images) != s.images.size())
      fail(where, ": ", r.images, " <image> placeholders but ", s.images.size(), " images");
    sample_tokens t;
    t.images = s.images;
    t.source_index = s.index;
    t.input_ids = std::move(r.input_ids);
    t.labels = std::move(r.labels);
    expand_images(t.input_ids, t.labels, t.images, config, processor, where);
    std::int64_t media_end = 0;  // tokens up to the end of the last image
    for (std::size_t i = 0; i < t.input_ids.size(); ++i)
      if (t.input_ids[i] < 0) media_end = static_cast<std::int64_t>(i) + 1;
    add_fitted(std::move(t), media_end, options, where, out);
  }
  return out;
}

training::batch_source batch_source_of(const std::vector<sample_tokens>& samples,
                                       const processors::phi3_v_image_config& processor, text::token_id pad_token_id,
                                       std::int64_t pack_max_length, std::int64_t media_threads) {
  const std::vector<sample_tokens>* all = &samples;
  const std::size_t threads = data::media_threads(media_threads);
  return llava::batch_source_over(samples, [all, processor, pad_token_id, pack_max_length, threads](const std::vector<std::size_t>& indices) {
    const llava::chosen_samples chosen = llava::choose(*all, indices);
    std::vector<processors::phi3_v_crops> crops(chosen.images.size());
    data::for_each_file(chosen.images, threads, [&](std::size_t k) {
      crops[k] = processors::phi3_v_preprocess(media::load_image(chosen.images[k]), processor);
    });
    training::lm_batch b = chosen.collate(pad_token_id, pack_max_length);
    if (!crops.empty()) {
      std::vector<at::Tensor> pixels;
      std::vector<std::int64_t> sizes;
      for (const auto& c : crops) {
        pixels.push_back(c.pixels);
        sizes.insert(sizes.end(), {c.height, c.width});
      }
      b.pixel_values = at::cat(pixels, 0);
      b.image_sizes = at::tensor(sizes, at::kLong).view({-1, 2});
    }
    return b;
  });
}

at::Tensor padded_pixel_values(const at::Tensor& pixel_values, const at::Tensor& image_sizes, int num_crops) {
  const int crop = processors::phi3_v_image_config::crop_size;
  at::Tensor sizes = image_sizes.to(at::kCPU, at::kLong).contiguous();
  std::vector<at::Tensor> out;
  std::int64_t offset = 0;
  for (std::int64_t i = 0; i < sizes.size(0); ++i) {
    const std::int64_t n = 1 + (sizes[i][0].item<std::int64_t>() / crop) * (sizes[i][1].item<std::int64_t>() / crop);
    at::Tensor p = pixel_values.narrow(0, offset, n);
    offset += n;
    out.push_back(at::cat({p, p.new_zeros({num_crops + 1 - n, 3, crop, crop})}, 0));
  }
  return at::stack(out);
}

}  // namespace lmms::phi3_v
