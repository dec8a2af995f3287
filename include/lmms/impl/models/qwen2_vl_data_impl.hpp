// Implementation of lmms/models/qwen2_vl/data.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include <memory>

#include "lmms/core/error.hpp"
#include "lmms/data/parallel.hpp"
#include "lmms/media/image.hpp"
#include "lmms/media/video.hpp"
#include "lmms/models/qwen2_vl/data.hpp"

namespace lmms::qwen2vl {

prepared_samples prepare_samples(const data::dataset& dataset, const text::chat_renderer& chat, const qwen2_vl_config& config,
                                 const processors::qwen2_vl_image_config& processor, const prepare_options& options,
                                 const std::string& source) {
  prepared_samples out;
  const auto image_id = static_cast<text::token_id>(config.image_token_id);
  const auto video_id = static_cast<text::token_id>(config.video_token_id);
  for (const auto& s : dataset.samples) {
    auto where = [&] { return source + " sample " + std::to_string(s.index); };
    text::chat_tokens r;
    try {
      r = chat.render({.system_prompt = s.system_prompt, .turns = s.turns});
    } catch (const lmms::error& e) {
      fail(where(), ": ", std::string(e.what()).substr(6));
    }
    if (static_cast<std::size_t>(r.images) != s.images.size())
      fail(where(), ": ", r.images, " <image> placeholders but ", s.images.size(), " images");
    if (static_cast<std::size_t>(r.videos) != s.videos.size())
      fail(where(), ": ", r.videos, " <video> placeholders but ", s.videos.size(), " videos");
    sample_tokens t;
    t.images = s.images;
    t.videos = s.videos;
    t.source_index = s.index;
    std::int64_t last_media_end = 0;
    std::size_t image = 0, video = 0;
    for (std::size_t i = 0; i < r.input_ids.size(); ++i) {
      if (r.input_ids[i] == video_id) {
        std::int64_t n = 0;
        try {  // the size from the container; num_frames frames, always (media/video.hpp)
          auto info = media::probe_video(s.videos[video]);
          n = processors::qwen2_vl_video_tokens(options.num_frames, info.height, info.width, processor);
        } catch (const lmms::error& e) {
          fail(where(), ": ", std::string(e.what()).substr(6));
        }
        ++video;
        t.input_ids.insert(t.input_ids.end(), static_cast<std::size_t>(n), video_id);
        t.labels.insert(t.labels.end(), static_cast<std::size_t>(n), text::ignore_index);
        last_media_end = static_cast<std::int64_t>(t.input_ids.size());
      } else if (r.input_ids[i] == image_id) {
        std::int64_t n = 0;
        try {
          auto [w, h] = media::image_size(s.images[image]);
          n = processors::qwen2_vl_image_tokens(h, w, processor);
        } catch (const lmms::error& e) {
          fail(where(), ": ", std::string(e.what()).substr(6));
        }
        ++image;
        t.input_ids.insert(t.input_ids.end(), static_cast<std::size_t>(n), image_id);
        t.labels.insert(t.labels.end(), static_cast<std::size_t>(n), text::ignore_index);
        last_media_end = static_cast<std::int64_t>(t.input_ids.size());
      } else {
        t.input_ids.push_back(r.input_ids[i]);
        t.labels.push_back(r.labels[i]);
      }
    }
    add_fitted(std::move(t), last_media_end, options, where(), out);
  }
  return out;
}

training::batch_source batch_source_of(const std::vector<sample_tokens>& samples,
                                       const processors::qwen2_vl_image_config& processor, text::token_id pad_token_id,
                                       std::int64_t pack_max_length, int num_frames, std::int64_t media_threads) {
  const std::vector<sample_tokens>* all = &samples;
  const std::size_t threads = data::media_threads(media_threads);
  return llava::batch_source_over(samples, [all, processor, pad_token_id, pack_max_length, num_frames, threads](const std::vector<std::size_t>& indices) {
    const llava::chosen_samples chosen = llava::choose(*all, indices);
    std::vector<std::filesystem::path> files = chosen.images;  // images, then videos, in reading order
    files.insert(files.end(), chosen.videos.begin(), chosen.videos.end());
    const std::size_t images = chosen.images.size();
    // decoded and patchified on a few threads, each into its own slot
    std::vector<at::Tensor> patches(files.size());
    std::vector<std::int64_t> grid(files.size() * 3);
    data::for_each_file(files, threads, [&](std::size_t k) {
      auto p = k < images ? processors::qwen2_vl_preprocess(media::load_image(files[k]), processor)
                          : processors::qwen2_vl_video_preprocess(media::load_video(files[k], num_frames).frames, processor);
      // the tensor takes over the patches' memory (no copy of what can be 75 MB an image)
      grid[k * 3] = p.grid_t, grid[k * 3 + 1] = p.grid_h, grid[k * 3 + 2] = p.grid_w;
      auto owner = std::make_unique<processors::qwen2_vl_patches>(std::move(p));
      patches[k] = at::from_blob(owner->data.data(), {owner->count(), processor.patch_values()},
                                 [o = owner.get()](void*) { delete o; }, at::TensorOptions(at::kFloat));
      owner.release();  // the tensor's deleter frees it
    });
    std::vector<at::Tensor> pixels(patches.begin(), patches.begin() + static_cast<std::ptrdiff_t>(images)),
        video_pixels(patches.begin() + static_cast<std::ptrdiff_t>(images), patches.end());
    std::vector<std::int64_t> grids(grid.begin(), grid.begin() + static_cast<std::ptrdiff_t>(images * 3)),
        video_grids(grid.begin() + static_cast<std::ptrdiff_t>(images * 3), grid.end());
    training::lm_batch b = chosen.collate(pad_token_id, pack_max_length);
    if (!pixels.empty()) {
      b.pixel_values = at::cat(pixels, 0);
      b.image_grid_thw = at::tensor(grids, at::kLong).reshape({-1, 3});
    }
    if (!video_pixels.empty()) {
      b.pixel_values_videos = at::cat(video_pixels, 0);
      b.video_grid_thw = at::tensor(video_grids, at::kLong).reshape({-1, 3});
    }
    return b;
  });
}

}  // namespace lmms::qwen2vl
