// lmms/processors/clip.hpp: the CLIP / SigLIP-style image processor of the LLaVA family, as
// transformers' CLIPImageProcessor and SiglipImageProcessor (PIL backend) compute pixel_values:
// resize so the shortest edge is `shortest_edge`, or to exactly height x width (SigLIP's
// size {height, width}) (bicubic, PIL-exact), center-crop (zero padding when smaller),
// rescale by 1/255 (in float64, stored float32), normalize with mean / std in float32.
// LLaVA-NeXT / OneVision tiles go through the same steps (processors/anyres.hpp).
// No torch: pixel values are a float vector in (channels, height, width) order.
#pragma once

#include <array>
#include <filesystem>
#include <vector>

#include "lmms/core/buffer.hpp"
#include "lmms/media/image.hpp"
#include "lmms/media/resize.hpp"
#include "lmms/processors/normalize_kernels.hpp"

namespace lmms::processors {

struct clip_config {
  bool do_resize = true;
  int shortest_edge = 224;
  int resize_height = 0, resize_width = 0;  // size {height, width}: resize to exactly this (no aspect kept)
  media::resample filter = media::resample::bicubic;
  bool do_center_crop = true;
  int crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};

  /// Reads preprocessor_config.json, or processor_config.json's "image_processor" (transformers
  /// 5), from a model directory or a file. Throws naming the file and key.
  static clip_config load(const std::filesystem::path& path);
};

struct pixel_values {
  int channels = 3, height = 0, width = 0;
  lmms::buffer<float> data;  // (channels, height, width)
};

/// transformers' get_resize_output_image_size(size=shortest_edge, default_to_square=False).
std::pair<int, int> shortest_edge_size(int height, int width, int shortest_edge);

pixel_values clip_preprocess(const media::rgb_image& image, const clip_config& config);

/// The pixels of a width x height image that clip_preprocess reads: with a center crop inside
/// the resized image, the crop's source (the rest of the image is never looked at; load_image
/// with this skips decoding most of it); otherwise the whole image.
media::pixel_rect clip_source_rect(int width, int height, const clip_config& config);

}  // namespace lmms::processors

#ifdef LMMS_IMPLEMENTATION
#include <algorithm>
#include <cmath>

#include "lmms/core/error.hpp"
#include "lmms/processors/config_file.hpp"

namespace lmms::processors {

clip_config clip_config::load(const std::filesystem::path& path) {
  const auto settings = read_processor_settings(path);
  const auto& c = settings.values;
  clip_config cfg;
  cfg.do_resize = c.get_bool_or("do_resize", true);
  if (auto size = c.section_if("size")) {
    if (size->has("shortest_edge")) {
      cfg.shortest_edge = static_cast<int>(size->get_int("shortest_edge"));
    } else {
      cfg.resize_height = static_cast<int>(size->get_int("height"));
      cfg.resize_width = static_cast<int>(size->get_int("width"));
    }
  }
  cfg.filter = static_cast<media::resample>(c.get_int_or("resample", 3));
  // CLIP's processor crops by default; SigLIP's and OneVision's have no crop (and no crop_size)
  cfg.do_center_crop = c.get_bool_or("do_center_crop", c.has("crop_size"));
  if (auto crop = c.section_if("crop_size")) {
    cfg.crop_height = static_cast<int>(crop->get_int("height"));
    cfg.crop_width = static_cast<int>(crop->get_int("width"));
  }
  cfg.do_rescale = c.get_bool_or("do_rescale", true);
  cfg.rescale_factor = c.get_double_or("rescale_factor", 1.0 / 255.0);
  cfg.do_normalize = c.get_bool_or("do_normalize", true);
  read_mean_std(settings, cfg.mean, cfg.std);
  return cfg;
}

std::pair<int, int> shortest_edge_size(int height, int width, int shortest_edge) {
  const bool width_short = width <= height;
  const int short_side = width_short ? width : height, long_side = width_short ? height : width;
  const int new_long = static_cast<int>(static_cast<double>(shortest_edge) * long_side / short_side);
  return width_short ? std::pair{new_long, shortest_edge} : std::pair{shortest_edge, new_long};
}

namespace {
// the size clip_preprocess resizes a height x width image to: (height, width)
std::pair<int, int> clip_resized_size(int height, int width, const clip_config& cfg) {
  return cfg.resize_height > 0 ? std::pair{cfg.resize_height, cfg.resize_width}
                               : shortest_edge_size(height, width, cfg.shortest_edge);
}
// whether the center crop lies inside the resized h x w image: then only the crop is resized
bool crop_inside(int h, int w, const clip_config& cfg) {
  return cfg.do_center_crop && cfg.crop_height <= h && cfg.crop_width <= w;
}
}  // namespace

media::pixel_rect clip_source_rect(int width, int height, const clip_config& cfg) {
  const media::pixel_rect whole{0, 0, width, height};
  if (!cfg.do_resize || width <= 0 || height <= 0) return whole;
  const auto [h, w] = clip_resized_size(height, width, cfg);
  if ((h == height && w == width) || !crop_inside(h, w, cfg)) return whole;
  return media::resize_window_source(width, height, w, h, cfg.filter, (w - cfg.crop_width) / 2, (h - cfg.crop_height) / 2,
                                     cfg.crop_width, cfg.crop_height);
}

pixel_values clip_preprocess(const media::rgb_image& input, const clip_config& cfg) {
  media::rgb_image resized;  // the input is not copied unless a step changes it
  const media::rgb_image* current = &input;
  bool cropped_already = false;
  if (cfg.do_resize) {
    const auto [h, w] = clip_resized_size(input.height, input.width, cfg);
    if (h != input.height || w != input.width) {
      if (crop_inside(h, w, cfg)) {
        // the crop lies inside the resized image: resize only the part it keeps (same bytes)
        resized = media::resize_window(input, w, h, cfg.filter, (w - cfg.crop_width) / 2, (h - cfg.crop_height) / 2,
                                       cfg.crop_width, cfg.crop_height);
        cropped_already = true;
      } else {
        resized = media::resize(input, w, h, cfg.filter);
      }
      current = &resized;
    }
  }
  const media::rgb_image& img = *current;
  media::rgb_image cropped;
  if (cfg.do_center_crop && !cropped_already) {  // transformers' center_crop, zero-padded when the image is smaller
    const int ch = cfg.crop_height, cw = cfg.crop_width;
    const int new_h = std::max(ch, img.height), new_w = std::max(cw, img.width);
    const int top_pad = static_cast<int>(std::ceil((new_h - img.height) / 2.0));
    const int left_pad = static_cast<int>(std::ceil((new_w - img.width) / 2.0));
    // (size - crop) // 2 as Python floors it: an odd negative difference rounds down, not to zero
    auto floor_half = [](int v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); };
    const int top = floor_half(img.height - ch) + top_pad, left = floor_half(img.width - cw) + left_pad;
    if (ch != img.height || cw != img.width) {  // (an image of the crop's size is its own crop)
      media::rgb_image out;
      out.width = cw;
      out.height = ch;
      out.data.assign(static_cast<std::size_t>(cw) * ch * 3, 0);
      // output columns [x_from, x_to) come from the image (source column x + left - left_pad)
      const int x_from = std::clamp(left_pad - left, 0, cw), x_to = std::clamp(left_pad - left + img.width, x_from, cw);
      for (int y = 0; y < ch && x_to > x_from; ++y) {
        const int sy = top + y - top_pad;  // in the unpadded image
        if (sy < 0 || sy >= img.height) continue;
        std::copy_n(&img.data[(static_cast<std::size_t>(sy) * img.width + (x_from + left - left_pad)) * 3],
                    static_cast<std::size_t>(x_to - x_from) * 3, &out.data[(static_cast<std::size_t>(y) * cw + x_from) * 3]);
      }
      cropped = std::move(out);
    } else {
      cropped_already = true;
    }
  }
  const media::rgb_image& final_image = cfg.do_center_crop && !cropped_already ? cropped : img;
  // each byte's rescaled and normalized float, once per channel (the same arithmetic as per pixel)
  float table[3][256];
  for (int c = 0; c < 3; ++c)
    for (int b = 0; b < 256; ++b) {
      float v = cfg.do_rescale ? static_cast<float>(static_cast<double>(b) * cfg.rescale_factor) : static_cast<float>(b);
      if (cfg.do_normalize) v = (v - cfg.mean[c]) / cfg.std[c];
      table[c][b] = v;
    }
  pixel_values pv;
  pv.height = final_image.height;
  pv.width = final_image.width;
  const std::size_t n = static_cast<std::size_t>(final_image.height) * final_image.width;
  pv.data.resize(3 * n);
  detail::bytes_to_planes(final_image.data.data(), n, table, pv.data.data());
  return pv;
}

}  // namespace lmms::processors
#endif  // LMMS_IMPLEMENTATION
