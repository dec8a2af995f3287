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
  training::batch_source source{samples.size(), [all, processor, config, pad_token_id, pack_max_length, num_frames, threads](const std::vector<std::size_t>& indices) {
            std::vector<training::token_sample> text;
            struct medium {
              std::filesystem::path file;
              std::size_t images_in_sample;
              bool video;
            };
            std::vector<medium> media_list;  // images in reading order, then videos
            for (std::size_t i : indices) {
              const sample_tokens& s = (*all)[i];
              text.push_back({s.input_ids, s.labels});
              for (const auto& file : s.images) media_list.push_back({file, s.images.size(), false});
            }
            for (std::size_t i : indices)
              for (const auto& file : (*all)[i].videos) media_list.push_back({file, 0, true});
            // decoded and processed on a few threads, each into its own slot
            std::vector<at::Tensor> out(media_list.size());
            std::vector<std::int64_t> hw(media_list.size() * 2);
            data::parallel_for(media_list.size(), threads, [&](std::size_t k) {
              const medium& m = media_list[k];
              if (!m.video) {
                // a plain CLIP image: only the part its center crop reads is decoded
                media::rgb_image image =
                    config.anyres ? media::load_image(m.file)
                                  : media::load_image(m.file, [&processor](int w, int h) {
                                      return processors::clip_source_rect(w, h, processor);
                                    });
                out[k] = image_pixels(image, processor, config, m.images_in_sample);
                hw[k * 2] = image.height, hw[k * 2 + 1] = image.width;
                return;
              }
              std::vector<at::Tensor> frames;  // each frame as one tile (NeXT-Video: resized and cropped)
              for (const auto& frame : media::load_video(m.file, num_frames).frames) {
                processors::pixel_values pv = processors::clip_preprocess(frame, processor);
                frames.push_back(at::from_blob(pv.data.data(), {pv.channels, pv.height, pv.width}, at::kFloat).clone());
              }
              out[k] = at::stack(frames);
            }, [&](std::size_t k) { return data::file_cost(media_list[k].file); });
            std::vector<at::Tensor> pixels, videos;
            std::vector<std::int64_t> sizes, tiles;
            for (std::size_t k = 0; k < media_list.size(); ++k) {
              if (media_list[k].video) {
                videos.push_back(out[k]);
                continue;
              }
              pixels.push_back(out[k]);
              sizes.insert(sizes.end(), {hw[k * 2], hw[k * 2 + 1]});
              tiles.push_back(out[k].size(0));
            }
            std::vector<const training::token_sample*> chosen;
            for (const auto& t : text) chosen.push_back(&t);
            training::lm_batch b = pack_max_length > 0 ? training::collate_packed(chosen, pad_token_id, pack_max_length)
                                                       : training::collate_right_pad(chosen, pad_token_id);
            if (!pixels.empty()) {
              b.pixel_values = at::cat(pixels, 0);
              if (config.anyres) {
                b.image_sizes = at::tensor(sizes, at::kLong).view({-1, 2});
                b.image_tiles = at::tensor(tiles, at::kLong);
              }
            }
            if (!videos.empty()) b.pixel_values_videos = at::stack(videos);
            return b;
          }};
  for (const auto& s : samples) {  // what the samplers read
    source.lengths.push_back(static_cast<std::int64_t>(s.input_ids.size()));
    source.text_only.push_back(s.images.empty() && s.videos.empty());
  }
  return source;
}

}  // namespace lmms::llava
