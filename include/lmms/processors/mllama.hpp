// lmms/processors/mllama.hpp: Llama-3.2-Vision's image processor, as transformers'
// MllamaImageProcessor (PIL backend) computes it. No torch.
//
//   auto cfg = processors::mllama_image_config::load(model_dir);
//   processors::mllama_tiles t = processors::mllama_preprocess(image, cfg);
//   // t.data: (t.tiles(), 3, tile, tile); t.aspect_ratio_id; cfg.aspect_ratio_mask(t)
//
// The image is resized (aspect kept, bilinear) to fit the best canvas of up to max_image_tiles
// tiles (the canvas needing the least upscaling, else the least downscaling, then the smallest),
// zero-padded at the bottom and right to the canvas, rescaled and normalized (the padding too),
// and cut into tiles row by row. aspect_ratio_id is 1 + the canvas's index in the list of
// (rows, cols) arrangements with rows * cols <= max_image_tiles.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

#include "lmms/media/image.hpp"
#include "lmms/media/resize.hpp"

namespace lmms::processors {

/// Defaults are transformers' class defaults (what a config without the key means); the
/// Llama-3.2-Vision checkpoints set 560 px tiles and CLIP's mean and std.
struct mllama_image_config {
  int tile_size = 224;  // size {height, width}: square tiles
  int max_image_tiles = 4;
  media::resample filter = media::resample::bilinear;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> mean{0.5f, 0.5f, 0.5f};
  std::array<float, 3> std{0.5f, 0.5f, 0.5f};

  /// Reads preprocessor_config.json (or processor_config.json's "image_processor").
  static mllama_image_config load(const std::filesystem::path& path);
};

/// Every (rows, cols) with rows * cols <= max_tiles, in transformers' order (rows outer).
std::vector<std::pair<int, int>> mllama_arrangements(int max_tiles);
/// transformers' get_optimal_tiled_canvas: (canvas_height, canvas_width) for an image.
std::pair<int, int> mllama_canvas(int height, int width, int max_tiles, int tile);
/// transformers' get_image_size_fit_to_canvas: (new_height, new_width).
std::pair<int, int> mllama_fit_to_canvas(int height, int width, int canvas_height, int canvas_width, int tile);

struct mllama_tiles {
  int rows = 0, cols = 0;        // tiles down and across
  std::int64_t aspect_ratio_id = 0;  // 1-based index of (rows, cols) in mllama_arrangements
  std::vector<float> data;       // (rows * cols, 3, tile, tile), row-major tiles
  int tiles() const { return rows * cols; }
};

mllama_tiles mllama_preprocess(const media::rgb_image& image, const mllama_image_config& config);

}  // namespace lmms::processors

#ifdef LMMS_IMPLEMENTATION
#include <algorithm>
#include <cmath>

#include "lmms/core/error.hpp"
#include "lmms/processors/config_file.hpp"

namespace lmms::processors {

mllama_image_config mllama_image_config::load(const std::filesystem::path& path) {
  const auto settings = read_processor_settings(path);
  const auto& c = settings.values;
  const auto& file = settings.file;
  mllama_image_config cfg;
  if (auto size = c.section_if("size")) {
    const auto h = size->get_int("height"), w = size->get_int("width");
    if (h != w) fail(file.string(), ": Mllama tiles are square, but size is ", h, " x ", w);
    cfg.tile_size = static_cast<int>(h);
  }
  cfg.max_image_tiles = static_cast<int>(c.get_int_or("max_image_tiles", 4));
  if (cfg.max_image_tiles < 1) fail(file.string(), ": max_image_tiles must be at least 1");
  if (!c.get_bool_or("do_resize", true) || !c.get_bool_or("do_pad", true))
    fail(file.string(), ": Mllama's processor needs do_resize and do_pad (transformers refuses them off too)");
  cfg.filter = static_cast<media::resample>(c.get_int_or("resample", 2));
  cfg.do_rescale = c.get_bool_or("do_rescale", true);
  cfg.rescale_factor = c.get_double_or("rescale_factor", 1.0 / 255.0);
  cfg.do_normalize = c.get_bool_or("do_normalize", true);
  read_mean_std(settings, cfg.mean, cfg.std);
  return cfg;
}

std::vector<std::pair<int, int>> mllama_arrangements(int max_tiles) {
  std::vector<std::pair<int, int>> out;
  for (int a = 1; a <= max_tiles; ++a)
    for (int b = 1; b <= max_tiles; ++b)
      if (a * b <= max_tiles) out.emplace_back(a, b);
  return out;
}

std::pair<int, int> mllama_canvas(int height, int width, int max_tiles, int tile) {
  // the scale that fits the image into each canvas; the smallest upscale wins, else the
  // largest downscale; ties go to the smallest canvas (the first of them)
  std::vector<std::pair<int, int>> canvases;
  std::vector<double> scales;
  for (auto [rows, cols] : mllama_arrangements(max_tiles)) {
    const double sh = static_cast<double>(rows * tile) / height, sw = static_cast<double>(cols * tile) / width;
    canvases.emplace_back(rows * tile, cols * tile);
    scales.push_back(sw > sh ? sh : sw);
  }
  double chosen = -1;
  for (double s : scales)
    if (s >= 1 && (chosen < 0 || s < chosen)) chosen = s;
  if (chosen < 0)
    for (double s : scales)
      if (s > chosen) chosen = s;
  std::pair<int, int> best{0, 0};
  for (std::size_t i = 0; i < canvases.size(); ++i)
    if (scales[i] == chosen &&
        (best.first == 0 || static_cast<std::int64_t>(canvases[i].first) * canvases[i].second <
                                static_cast<std::int64_t>(best.first) * best.second))
      best = canvases[i];
  return best;
}

std::pair<int, int> mllama_fit_to_canvas(int height, int width, int canvas_height, int canvas_width, int tile) {
  const int target_w = std::clamp(width, tile, canvas_width), target_h = std::clamp(height, tile, canvas_height);
  const double scale_h = static_cast<double>(target_h) / height, scale_w = static_cast<double>(target_w) / width;
  if (scale_w < scale_h) {
    const int h = static_cast<int>(std::floor(height * scale_w));
    return {std::min(h == 0 ? 1 : h, target_h), target_w};
  }
  const int w = static_cast<int>(std::floor(width * scale_h));
  return {target_h, std::min(w == 0 ? 1 : w, target_w)};
}

mllama_tiles mllama_preprocess(const media::rgb_image& input, const mllama_image_config& cfg) {
  const int tile = cfg.tile_size;
  const auto [canvas_h, canvas_w] = mllama_canvas(input.height, input.width, cfg.max_image_tiles, tile);
  const auto [new_h, new_w] = mllama_fit_to_canvas(input.height, input.width, canvas_h, canvas_w, tile);
  const media::rgb_image img =
      new_h == input.height && new_w == input.width ? input : media::resize(input, new_w, new_h, cfg.filter);
  mllama_tiles out;
  out.rows = canvas_h / tile;
  out.cols = canvas_w / tile;
  const auto arrangements = mllama_arrangements(cfg.max_image_tiles);
  out.aspect_ratio_id =
      1 + (std::find(arrangements.begin(), arrangements.end(), std::pair{out.rows, out.cols}) - arrangements.begin());
  // (rows, cols, 3, tile, tile) from the zero-padded canvas; the padding is normalized too
  const std::size_t tile_values = static_cast<std::size_t>(3) * tile * tile;
  out.data.resize(tile_values * static_cast<std::size_t>(out.tiles()));
  std::array<float, 3> zero{};
  for (int c = 0; c < 3; ++c) {
    float z = 0;
    if (cfg.do_rescale) z = static_cast<float>(0.0 * cfg.rescale_factor);
    if (cfg.do_normalize) z = (z - cfg.mean[c]) / cfg.std[c];
    zero[c] = z;
  }
  for (int y = 0; y < canvas_h; ++y)
    for (int x = 0; x < canvas_w; ++x) {
      const std::size_t t = static_cast<std::size_t>(y / tile) * out.cols + x / tile;
      const int ty = y % tile, tx = x % tile;
      for (int c = 0; c < 3; ++c) {
        float v = zero[c];
        if (y < img.height && x < img.width) {
          v = cfg.do_rescale ? static_cast<float>(static_cast<double>(img.at(x, y, c)) * cfg.rescale_factor)
                             : static_cast<float>(img.at(x, y, c));
          if (cfg.do_normalize) v = (v - cfg.mean[c]) / cfg.std[c];
        }
        out.data[t * tile_values + (static_cast<std::size_t>(c) * tile + ty) * tile + tx] = v;
      }
    }
  return out;
}

}  // namespace lmms::processors
#endif  // LMMS_IMPLEMENTATION
