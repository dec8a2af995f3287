// lmms/processors/anyres.hpp: LLaVA-NeXT's "anyres" image layout, shared by LLaVA-NeXT,
// NeXT-Video (images) and OneVision, as transformers' LlavaNextImageProcessor /
// LlavaOnevisionImageProcessor (PIL backend) and the models' pack_image_features compute it.
//
// An image becomes tiles of tile x tile pixels: first the whole image squashed to one tile (the
// "base"), then the crops of the image resized into the best grid resolution (aspect kept,
// zero-padded, centred) in row-major order. The model turns the crops' features back into one
// grid, removes the padding rows / columns ("unpadding"), optionally shrinks it to about
// max_tiles tiles of features (OneVision's anyres_max_9), and appends a newline embedding
// per row. The arithmetic lives here, free of torch, so that the data pipeline counts exactly
// the tokens the model produces.
//
//   auto tiles = processors::anyres_tiles(image, pinpoints, 336);   // base + crops, uint8
//   std::int64_t n = processors::anyres_image_tokens(layout, h, w);  // <image> tokens for it
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "lmms/media/image.hpp"
#include "lmms/media/resize.hpp"

namespace lmms::processors {

using resolution = std::pair<int, int>;  // (height, width), as transformers writes grid pinpoints

/// transformers' select_best_resolution: the pinpoint keeping the most of the image's pixels,
/// then the least padding.
resolution select_best_resolution(int height, int width, const std::vector<resolution>& pinpoints);
/// transformers' get_patch_output_size: the image's size scaled into `target`, aspect kept.
resolution patch_output_size(int height, int width, resolution target);

/// The tiles of one image: the base (resized to tile x tile), then the crops of the padded
/// best-resolution image, row by row. Pixels stay uint8; each tile then goes through the
/// CLIP / SigLIP steps (clip_preprocess) as transformers does.
std::vector<media::rgb_image> anyres_tiles(const media::rgb_image& image, const std::vector<resolution>& pinpoints,
                                           int tile, media::resample filter = media::resample::bicubic);
/// OneVision's pad_to_square (images of multi-image samples): centred on a square of `fill`.
media::rgb_image pad_to_square(const media::rgb_image& image, std::array<std::uint8_t, 3> fill);

/// How a model lays out anyres features (from its config).
struct anyres_layout {
  std::vector<resolution> grid_pinpoints;
  int tile = 0;              // vision image_size
  int grid = 0;              // features per tile side: image_size / patch_size
  std::int64_t base_tokens = 0;  // features of one tile after the select strategy (CLS dropped or kept)
  int max_tiles = 0;         // anyres_max_N (OneVision): shrink grids over ~N tiles; 0: never
  bool multi_image_tiles = true;  // false (OneVision): images of multi-image samples are one padded tile

  /// Tiles the processor makes for an image: 1 + the crops of its best resolution.
  std::int64_t tiles(int height, int width) const;
  /// The crops' feature grid (rows, cols) with the padding rows or columns removed
  /// (unpad_image): the centred part the model keeps.
  std::pair<std::int64_t, std::int64_t> unpadded_grid(int height, int width) const;
  /// The feature grid after unpadding and the anyres_max cap, as the model's
  /// pack_image_features computes it for an image of height x width.
  std::pair<std::int64_t, std::int64_t> feature_grid(int height, int width) const;
  /// <image> tokens for an image: base + rows * (cols + 1 newline); with_tiles false (a
  /// OneVision multi-image sample): base + 1 newline.
  std::int64_t image_tokens(int height, int width, bool with_tiles) const;
};

}  // namespace lmms::processors

#ifdef LMMS_IMPLEMENTATION
#include <algorithm>
#include <cmath>

#include "lmms/core/error.hpp"

namespace lmms::processors {

resolution select_best_resolution(int height, int width, const std::vector<resolution>& pinpoints) {
  if (pinpoints.empty()) fail("anyres: image_grid_pinpoints is empty");
  resolution best = pinpoints.front();
  std::int64_t max_effective = 0;
  std::int64_t min_wasted = INT64_MAX;
  for (const auto& [h, w] : pinpoints) {
    const double scale = std::min(static_cast<double>(w) / width, static_cast<double>(h) / height);
    const auto dw = static_cast<std::int64_t>(width * scale), dh = static_cast<std::int64_t>(height * scale);
    const std::int64_t effective = std::min(dw * dh, static_cast<std::int64_t>(width) * height);
    const std::int64_t wasted = static_cast<std::int64_t>(w) * h - effective;
    if (effective > max_effective || (effective == max_effective && wasted < min_wasted)) {
      max_effective = effective;
      min_wasted = wasted;
      best = {h, w};
    }
  }
  return best;
}

resolution patch_output_size(int height, int width, resolution target) {
  const auto [th, tw] = target;
  const double scale_w = static_cast<double>(tw) / width, scale_h = static_cast<double>(th) / height;
  if (scale_w < scale_h) return {std::min(static_cast<int>(std::ceil(height * scale_w)), th), tw};
  return {th, std::min(static_cast<int>(std::ceil(width * scale_h)), tw)};
}

std::vector<media::rgb_image> anyres_tiles(const media::rgb_image& image, const std::vector<resolution>& pinpoints,
                                           int tile, media::resample filter) {
  const resolution best = select_best_resolution(image.height, image.width, pinpoints);
  const auto [nh, nw] = patch_output_size(image.height, image.width, best);
  // the base tile and the best resolution: one transpose of the source for both resizes
  auto both = media::resize_each(image, {{tile, tile}, {nw, nh}}, filter);
  const media::rgb_image& resized = both[1];
  // centred on a zero canvas of the best resolution (np.pad with divmod: the odd pixel goes
  // last); each crop is cut from that canvas without making it: zeros where it has padding
  const auto [bh, bw] = best;
  const int top = (bh - nh) / 2, left = (bw - nw) / 2;
  std::vector<media::rgb_image> tiles;
  tiles.push_back(std::move(both[0]));
  for (int y0 = 0; y0 < bh; y0 += tile)
    for (int x0 = 0; x0 < bw; x0 += tile) {
      const int th = std::min(tile, bh - y0), tw = std::min(tile, bw - x0);
      media::rgb_image t;
      t.width = tw;
      t.height = th;
      t.data.resize(static_cast<std::size_t>(tw) * th * 3);
      // the tile's columns [x0, x0 + tw) of the canvas: [from, to) come from the resized image
      const int from = std::clamp(left - x0, 0, tw), to = std::clamp(left + nw - x0, from, tw);
      for (int y = 0; y < th; ++y) {
        std::uint8_t* row = &t.data[static_cast<std::size_t>(y) * tw * 3];
        const int ry = y0 + y - top;  // the row in the resized image
        if (ry < 0 || ry >= nh) {
          std::fill_n(row, static_cast<std::size_t>(tw) * 3, std::uint8_t{0});
          continue;
        }
        std::fill_n(row, static_cast<std::size_t>(from) * 3, std::uint8_t{0});
        if (to > from)
          std::copy_n(&resized.data[(static_cast<std::size_t>(ry) * nw + (x0 + from - left)) * 3],
                      static_cast<std::size_t>(to - from) * 3, row + static_cast<std::size_t>(from) * 3);
        std::fill_n(row + static_cast<std::size_t>(to) * 3, static_cast<std::size_t>(tw - to) * 3, std::uint8_t{0});
      }
      tiles.push_back(std::move(t));
    }
  return tiles;
}

media::rgb_image pad_to_square(const media::rgb_image& image, std::array<std::uint8_t, 3> fill) {
  if (image.width == image.height) return image;
  const int side = std::max(image.width, image.height);
  media::rgb_image out;
  out.width = out.height = side;
  out.data.resize(static_cast<std::size_t>(side) * side * 3);
  for (std::size_t i = 0; i < out.data.size(); ++i) out.data[i] = fill[i % 3];
  const int top = (side - image.height) / 2, left = (side - image.width) / 2;
  for (int y = 0; y < image.height; ++y)
    std::copy_n(&image.data[static_cast<std::size_t>(y) * image.width * 3], static_cast<std::size_t>(image.width) * 3,
                &out.data[(static_cast<std::size_t>(y + top) * side + left) * 3]);
  return out;
}

std::int64_t anyres_layout::tiles(int height, int width) const {
  const auto [bh, bw] = select_best_resolution(height, width, grid_pinpoints);
  return 1 + static_cast<std::int64_t>((bh + tile - 1) / tile) * ((bw + tile - 1) / tile);
}

std::pair<std::int64_t, std::int64_t> anyres_layout::unpadded_grid(int height, int width) const {
  const auto [bh, bw] = select_best_resolution(height, width, grid_pinpoints);
  std::int64_t rows = static_cast<std::int64_t>(bh / tile) * grid, cols = static_cast<std::int64_t>(bw / tile) * grid;
  // unpad_image: int(round(x, 7)) keeps 27.9999999 from becoming 27
  auto int_round7 = [](double x) { return static_cast<std::int64_t>(std::floor(x + 5e-8)); };
  if (static_cast<double>(width) / height > static_cast<double>(cols) / rows) {
    const std::int64_t new_rows = int_round7(height * (static_cast<double>(cols) / width));
    rows -= 2 * ((rows - new_rows) / 2);
  } else {
    const std::int64_t new_cols = int_round7(width * (static_cast<double>(rows) / height));
    cols -= 2 * ((cols - new_cols) / 2);
  }
  return {rows, cols};
}

std::pair<std::int64_t, std::int64_t> anyres_layout::feature_grid(int height, int width) const {
  auto [rows, cols] = unpadded_grid(height, width);
  if (max_tiles > 0) {
    const double ratio = std::sqrt(static_cast<double>(rows * cols) / (static_cast<double>(max_tiles) * grid * grid));
    if (ratio > 1.1) {
      rows = static_cast<std::int64_t>(std::floor(rows / ratio));
      cols = static_cast<std::int64_t>(std::floor(cols / ratio));
    }
  }
  return {rows, cols};
}

std::int64_t anyres_layout::image_tokens(int height, int width, bool with_tiles) const {
  if (!with_tiles) return base_tokens + 1;
  const auto [rows, cols] = feature_grid(height, width);
  return base_tokens + rows * (cols + 1);
}

}  // namespace lmms::processors
#endif  // LMMS_IMPLEMENTATION
