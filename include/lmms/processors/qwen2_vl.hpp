// lmms/processors/qwen2_vl.hpp: Qwen2-VL's image processor, as transformers'
// Qwen2VLImageProcessorPil computes pixel_values and image_grid_thw: smart_resize (both sides
// multiples of patch x merge, pixels within [min_pixels, max_pixels], aspect kept), a PIL-exact
// bicubic resize, rescale by 1/255 (float64, stored float32), normalize (float32), then
// patchify: the image repeated temporal_patch_size times, cut into patch x patch squares laid
// out merge x merge block by block, each flattened as (channel, time, row, column).
// No torch: patches are a float vector (patches, channels * temporal * patch * patch).
#pragma once

#include <array>
#include <filesystem>
#include <vector>

#include "lmms/core/buffer.hpp"
#include "lmms/media/image.hpp"
#include "lmms/media/resize.hpp"
#include "lmms/processors/normalize_kernels.hpp"

namespace lmms::processors {

struct qwen2_vl_image_config {
  std::int64_t min_pixels = 56 * 56, max_pixels = 28 * 28 * 1280;
  int patch_size = 14, temporal_patch_size = 2, merge_size = 2;
  media::resample filter = media::resample::bicubic;
  double rescale_factor = 1.0 / 255.0;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};

  int factor() const { return patch_size * merge_size; }
  int patch_values() const { return 3 * temporal_patch_size * patch_size * patch_size; }
  /// Reads preprocessor_config.json (size.shortest_edge / longest_edge, or the older
  /// min_pixels / max_pixels keys) or processor_config.json's "image_processor".
  static qwen2_vl_image_config load(const std::filesystem::path& path);
};

/// transformers' smart_resize: (height, width) of the resized image. Throws for an aspect ratio
/// over 200, as transformers does.
std::pair<int, int> smart_resize(int height, int width, int factor, std::int64_t min_pixels, std::int64_t max_pixels);

struct qwen2_vl_patches {
  std::int64_t grid_t = 1, grid_h = 0, grid_w = 0;  // in patches
  lmms::buffer<float> data;                         // (grid_t * grid_h * grid_w, patch_values)
  std::int64_t count() const { return grid_t * grid_h * grid_w; }
};

qwen2_vl_patches qwen2_vl_preprocess(const media::rgb_image& image, const qwen2_vl_image_config& config);

/// The frames of one video (one size) -> patches with grid_t = frames / temporal_patch_size:
/// each frame resized and normalized as an image, the last frame repeated up to a multiple of
/// temporal_patch_size, temporal_patch_size consecutive frames per patch, laid out as
/// transformers' Qwen2VLVideoProcessor does (which resizes with torchvision instead of PIL).
/// An image is the video of itself repeated temporal_patch_size times.
qwen2_vl_patches qwen2_vl_video_preprocess(const std::vector<media::rgb_image>& frames, const qwen2_vl_image_config& config);

/// LLM tokens for an image of this size: grid_h * grid_w / merge^2.
std::int64_t qwen2_vl_image_tokens(int height, int width, const qwen2_vl_image_config& config);
/// LLM tokens for a video of `frames` frames of this size: ceil(frames / temporal) * grid_h * grid_w / merge^2.
std::int64_t qwen2_vl_video_tokens(std::int64_t frames, int height, int width, const qwen2_vl_image_config& config);

}  // namespace lmms::processors

#ifdef LMMS_IMPLEMENTATION
#include <algorithm>
#include <cfenv>
#include <cmath>

#include "lmms/core/error.hpp"
#include "lmms/processors/config_file.hpp"

namespace lmms::processors {

qwen2_vl_image_config qwen2_vl_image_config::load(const std::filesystem::path& path) {
  const auto settings = read_processor_settings(path);
  const auto& c = settings.values;
  const auto& file = settings.file;
  qwen2_vl_image_config q;
  if (auto size = c.section_if("size")) {
    q.min_pixels = size->get_int_or("shortest_edge", size->get_int_or("min_pixels", q.min_pixels));
    q.max_pixels = size->get_int_or("longest_edge", size->get_int_or("max_pixels", q.max_pixels));
  }
  q.min_pixels = c.get_int_or("min_pixels", q.min_pixels);  // older files: top-level keys
  q.max_pixels = c.get_int_or("max_pixels", q.max_pixels);
  q.patch_size = static_cast<int>(c.get_int_or("patch_size", 14));
  q.temporal_patch_size = static_cast<int>(c.get_int_or("temporal_patch_size", 2));
  q.merge_size = static_cast<int>(c.get_int_or("merge_size", 2));
  q.filter = static_cast<media::resample>(c.get_int_or("resample", 3));
  q.rescale_factor = c.get_double_or("rescale_factor", 1.0 / 255.0);
  read_mean_std(settings, q.mean, q.std);
  if (q.min_pixels > q.max_pixels) fail(file.string(), ": min_pixels ", q.min_pixels, " is above max_pixels ", q.max_pixels);
  return q;
}

std::pair<int, int> smart_resize(int height, int width, int factor, std::int64_t min_pixels, std::int64_t max_pixels) {
  if (height <= 0 || width <= 0) fail("an image of ", width, "x", height, " pixels cannot be resized");
  if (static_cast<double>(std::max(height, width)) / std::min(height, width) > 200)
    fail("an image of ", width, "x", height, " has an aspect ratio over 200, which Qwen2-VL refuses");
  // Python's round(): halves to even, which nearbyint does in the default rounding mode
  auto round_even = [](double x) { return static_cast<std::int64_t>(std::nearbyint(x)); };
  std::int64_t h = round_even(static_cast<double>(height) / factor) * factor;
  std::int64_t w = round_even(static_cast<double>(width) / factor) * factor;
  if (h * w > max_pixels) {
    const double beta = std::sqrt(static_cast<double>(height) * width / static_cast<double>(max_pixels));
    h = std::max<std::int64_t>(factor, static_cast<std::int64_t>(std::floor(height / beta / factor)) * factor);
    w = std::max<std::int64_t>(factor, static_cast<std::int64_t>(std::floor(width / beta / factor)) * factor);
  } else if (h * w < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (static_cast<double>(height) * width));
    h = static_cast<std::int64_t>(std::ceil(height * beta / factor)) * factor;
    w = static_cast<std::int64_t>(std::ceil(width * beta / factor)) * factor;
  }
  return {static_cast<int>(h), static_cast<int>(w)};
}

std::int64_t qwen2_vl_image_tokens(int height, int width, const qwen2_vl_image_config& c) {
  auto [h, w] = smart_resize(height, width, c.factor(), c.min_pixels, c.max_pixels);
  return static_cast<std::int64_t>(h / c.patch_size) * (w / c.patch_size) / (c.merge_size * c.merge_size);
}

std::int64_t qwen2_vl_video_tokens(std::int64_t frames, int height, int width, const qwen2_vl_image_config& c) {
  const std::int64_t grid_t = (frames + c.temporal_patch_size - 1) / c.temporal_patch_size;
  return grid_t * qwen2_vl_image_tokens(height, width, c);
}

namespace {
// frames (one size) -> patches; `frames` are not copied, an image is a list of one
qwen2_vl_patches patchify(const std::vector<const media::rgb_image*>& frames, const qwen2_vl_image_config& c) {
  if (frames.empty()) fail("a video with no frames");
  const int height = frames[0]->height, width = frames[0]->width;
  auto [h, w] = smart_resize(height, width, c.factor(), c.min_pixels, c.max_pixels);
  const int p = c.patch_size, m = c.merge_size, tp = c.temporal_patch_size;
  // each value's rescaled and normalized float, computed once per channel and byte (the same
  // arithmetic as per pixel, so the same floats)
  float table[3][256];
  for (int ch = 0; ch < 3; ++ch)
    for (int v = 0; v < 256; ++v)
      table[ch][v] = (static_cast<float>(static_cast<double>(v) * c.rescale_factor) - c.mean[ch]) / c.std[ch];
  // each frame resized (uint8); normalized through the table while the patches are laid out
  std::vector<media::rgb_image> resized;
  std::vector<const media::rgb_image*> sized;
  resized.reserve(frames.size());
  for (const media::rgb_image* frame : frames) {
    if (frame->height != height || frame->width != width)
      fail("video frames of different sizes (", frame->width, "x", frame->height, " after ", width, "x", height, ")");
    if (h == height && w == width) {
      sized.push_back(frame);
    } else {
      resized.push_back(media::resize(*frame, w, h, c.filter));
      sized.push_back(&resized.back());
    }
  }
  // the last frame repeats up to a multiple of temporal_patch_size
  const std::size_t frames_out = (sized.size() + tp - 1) / tp * tp;
  qwen2_vl_patches out;
  out.grid_t = static_cast<std::int64_t>(frames_out) / tp;
  out.grid_h = h / p;
  out.grid_w = w / p;
  const std::size_t per_patch = static_cast<std::size_t>(c.patch_values());
  out.data.resize(static_cast<std::size_t>(out.count()) * per_patch);  // not zeroed: every value is written below
  const std::size_t block = static_cast<std::size_t>(p) * p;  // one channel of one frame of a patch
  // an output larger than the caches: each merge block's patches made in a small buffer, then
  // streamed out (normalize_kernels.hpp: copy_streaming)
  const bool stream = out.data.size() * sizeof(float) >= detail::streaming_from_bytes;
  const std::size_t per_merge_block = static_cast<std::size_t>(m) * m * per_patch;
  lmms::buffer<float> staging(stream ? per_merge_block : 0);
  float* dst = out.data.data();
  // patch order: temporal group, merge blocks row-major, rows / columns inside a block; inside a
  // patch (channel, frame, row, column)
  for (std::int64_t g = 0; g < out.grid_t; ++g)
    for (std::int64_t bh = 0; bh < out.grid_h / m; ++bh)
      for (std::int64_t bw = 0; bw < out.grid_w / m; ++bw) {
        float* at = stream ? staging.data() : dst;
        for (int mh = 0; mh < m; ++mh)
          for (int mw = 0; mw < m; ++mw) {
            const std::int64_t row = bh * m + mh, col = bw * m + mw;
            for (int ch = 0; ch < 3; ++ch) {
              for (int t = 0; t < tp;) {
                // frames t .. t + copies - 1 of this group are the same frame (an image, or a
                // short video's end): its values written once per frame
                const std::size_t f = std::min(sized.size() - 1, static_cast<std::size_t>(g * tp + t));
                int copies = 1;
                while (t + copies < tp && std::min(sized.size() - 1, static_cast<std::size_t>(g * tp + t + copies)) == f)
                  ++copies;
                const std::uint8_t* src =
                    sized[f]->data.data() + (static_cast<std::size_t>(row) * p * w + static_cast<std::size_t>(col) * p) * 3 + ch;
                detail::patch_channel_values(src, static_cast<std::size_t>(w) * 3, p, table[ch], at, copies, block);
                at += copies * block;
                t += copies;
              }
            }
          }
        if (stream) detail::copy_streaming(staging.data(), per_merge_block, dst);
        dst += per_merge_block;
      }
  if (stream) detail::streaming_done();
  return out;
}
}  // namespace

qwen2_vl_patches qwen2_vl_video_preprocess(const std::vector<media::rgb_image>& frames, const qwen2_vl_image_config& c) {
  std::vector<const media::rgb_image*> list;
  for (const auto& f : frames) list.push_back(&f);
  return patchify(list, c);
}

qwen2_vl_patches qwen2_vl_preprocess(const media::rgb_image& input, const qwen2_vl_image_config& c) {
  return patchify({&input}, c);  // one frame, repeated temporal_patch_size times
}

}  // namespace lmms::processors
#endif  // LMMS_IMPLEMENTATION
