// Implementation of lmms/models/llava/data.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include "lmms/core/error.hpp"
#include "lmms/data/parallel.hpp"
#include "lmms/media/video.hpp"
#include "lmms/models/llava/data.hpp"

namespace lmms::llava {

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const llava_config& config,
                                 const prepare_options& options, const std::string& source) {
  prepared_samples out;
  const auto image_id = static_cast<text::token_id>(config.image_token_id);
  const auto video_id = static_cast<text::token_id>(config.video_token_id);
  for (const auto& s : dataset.samples) {
    if (!s.videos.empty() && config.video_token_id < 0)
      fail(source, " sample ", s.index, ": has a video, and ", config.model_type,
           " takes none (videos: LLaVA-NeXT-Video, LLaVA-OneVision)");
    text::chat_tokens r;
    try {
      r = chat.render({.system_prompt = s.system_prompt, .turns = s.turns});
    } catch (const lmms::error& e) {
      fail(source, " sample ", s.index, ": ", std::string(e.what()).substr(6));
    }
    sample_tokens t;
    t.images = s.images;
    t.videos = s.videos;
    t.source_index = s.index;
    std::int64_t last_image_end = 0;  // tokens up to the end of the last media span
    std::size_t image = 0;
    for (std::size_t i = 0; i < r.input_ids.size(); ++i) {
      if (!s.videos.empty() && r.input_ids[i] == video_id) {  // num_frames frames, always (media/video.hpp)
        const std::int64_t n = config.video_tokens(options.num_frames);
        t.input_ids.insert(t.input_ids.end(), static_cast<std::size_t>(n), video_id);
        t.labels.insert(t.labels.end(), static_cast<std::size_t>(n), text::ignore_index);
        last_image_end = static_cast<std::int64_t>(t.input_ids.size());
      } else if (r.input_ids[i] == image_id) {
        std::int64_t per_image = config.image_tokens();
        if (config.anyres) {  // the count depends on the image's size: read from its header
          if (image >= s.images.size())
            fail(source, " sample ", s.index, ": more <image> tokens than images (", s.images.size(), ")");
          const auto [w, h] = media::image_size(s.images[image]);
          per_image = config.image_tokens(h, w, s.images.size());
        }
        ++image;
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

chosen_samples choose(const std::vector<sample_tokens>& samples, const std::vector<std::size_t>& indices) {
  chosen_samples c;
  for (std::size_t i : indices) {
    const sample_tokens& s = samples[i];
    c.text.push_back({s.input_ids, s.labels});
    c.images.insert(c.images.end(), s.images.begin(), s.images.end());
    c.videos.insert(c.videos.end(), s.videos.begin(), s.videos.end());
    c.images_per_sample.push_back(s.images.size());
  }
  return c;
}

training::lm_batch chosen_samples::collate(text::token_id pad_token_id, std::int64_t pack_max_length) const {
  std::vector<const training::token_sample*> rows;
  for (const auto& t : text) rows.push_back(&t);
  return pack_max_length > 0 ? training::collate_packed(rows, pad_token_id, pack_max_length)
                             : training::collate_right_pad(rows, pad_token_id);
}

training::batch_source batch_source_over(const std::vector<sample_tokens>& samples,
                                         std::function<training::lm_batch(const std::vector<std::size_t>&)> collate) {
  training::batch_source source{samples.size(), std::move(collate)};
  for (const auto& s : samples) {
    source.lengths.push_back(static_cast<std::int64_t>(s.input_ids.size()));
    source.text_only.push_back(s.images.empty() && s.videos.empty());
  }
  return source;
}

at::Tensor image_pixels(const media::rgb_image& image, const processors::clip_config& processor,
                        const llava_config& config, std::size_t images_in_sample) {
  auto to_tensor = [&](const media::rgb_image& tile) {
    processors::pixel_values pv = processors::clip_preprocess(tile, processor);
    return at::from_blob(pv.data.data(), {pv.channels, pv.height, pv.width}, at::kFloat).clone();
  };
  if (!config.anyres) return to_tensor(image).unsqueeze(0);
  std::vector<at::Tensor> tiles;
  if (config.with_tiles(images_in_sample)) {
    for (const auto& t : processors::anyres_tiles(image, config.anyres->grid_pinpoints, config.anyres->tile,
                                                  processor.filter))
      tiles.push_back(to_tensor(t));
  } else {  // OneVision, multi-image sample: one tile, padded to a square of the mean colour
    std::array<std::uint8_t, 3> fill{};
    for (int c = 0; c < 3; ++c) fill[c] = static_cast<std::uint8_t>(static_cast<int>(processor.mean[c] * 255.0));
    tiles.push_back(to_tensor(processors::pad_to_square(image, fill)));
  }
  return at::stack(tiles);
}

training::batch_source batch_source_of(const std::vector<sample_tokens>& samples, const processors::clip_config& processor,
                                       const llava_config& config, text::token_id pad_token_id,
                                       std::int64_t pack_max_length, int num_frames, std::int64_t media_threads) {
  const std::vector<sample_tokens>* all = &samples;
  const std::size_t threads = data::media_threads(media_threads);
  return batch_source_over(samples, [all, processor, config, pad_token_id, pack_max_length, num_frames, threads](const std::vector<std::size_t>& indices) {
    const chosen_samples chosen = choose(*all, indices);
    // images, then videos: decoded and processed on a few threads, each into its own slot
    std::vector<std::filesystem::path> files = chosen.images;
    files.insert(files.end(), chosen.videos.begin(), chosen.videos.end());
    std::vector<std::size_t> images_in_sample;  // per image: how many its sample has
    for (std::size_t n : chosen.images_per_sample) images_in_sample.insert(images_in_sample.end(), n, n);
    const std::size_t images = chosen.images.size();
    std::vector<at::Tensor> out(files.size());
    std::vector<std::int64_t> hw(images * 2);
    data::for_each_file(files, threads, [&](std::size_t k) {
      if (k < images) {
        // a plain CLIP image: only the part its center crop reads is decoded
        media::rgb_image image =
            config.anyres ? media::load_image(files[k])
                          : media::load_image(files[k], [&processor](int w, int h) {
                              return processors::clip_source_rect(w, h, processor);
                            });
        out[k] = image_pixels(image, processor, config, images_in_sample[k]);
        hw[k * 2] = image.height, hw[k * 2 + 1] = image.width;
        return;
      }
      std::vector<at::Tensor> frames;  // each frame as one tile (NeXT-Video: resized and cropped)
      for (const auto& frame : media::load_video(files[k], num_frames).frames) {
        processors::pixel_values pv = processors::clip_preprocess(frame, processor);
        frames.push_back(at::from_blob(pv.data.data(), {pv.channels, pv.height, pv.width}, at::kFloat).clone());
      }
      out[k] = at::stack(frames);
    });
    std::vector<at::Tensor> pixels(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(images)),
        videos(out.begin() + static_cast<std::ptrdiff_t>(images), out.end());
    std::vector<std::int64_t> tiles;
    for (const auto& p : pixels) tiles.push_back(p.size(0));
    training::lm_batch b = chosen.collate(pad_token_id, pack_max_length);
    if (!pixels.empty()) {
      b.pixel_values = at::cat(pixels, 0);
      if (config.anyres) {
        b.image_sizes = at::tensor(hw, at::kLong).view({-1, 2});
        b.image_tiles = at::tensor(tiles, at::kLong);
      }
    }
    if (!videos.empty()) b.pixel_values_videos = at::stack(videos);
    return b;
  });
}

}  // namespace lmms::llava
