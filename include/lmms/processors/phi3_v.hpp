// lmms/processors/phi3_v.hpp: Phi-3-Vision's image processor (Phi3VImageProcessor of the
// checkpoint's remote code), pixel for pixel.
//
//   auto cfg = processors::phi3_v_image_config::load(model_dir);
//   processors::phi3_v_crops c = processors::phi3_v_preprocess(image, cfg);
//   // c.pixels (1 + rows * cols, 3, 336, 336): the global image, then the crops row by row
//
// The HD transform: an image taller than wide is transposed, scaled (bilinear, PIL-exact) to
// `scale` crops of 336 across, the most whose rows * cols stays within num_crops, padded with
// white above and below to a multiple of 336, and transposed back. It is then normalized as
// torchvision's ToTensor + Normalize do (float32), the global image is the whole of it resized
// to 336 x 336 by torch's bicubic interpolation (on the normalized values, as the Python code
// does), and the crops are cut row by row. Unlike the Python processor, crops are not padded to
// num_crops + 1 here: the model runs only the real ones.
#pragma once

#include <array>
#include <filesystem>
#include <utility>

#include "lmms/media/image.hpp"
#include "lmms/torch.hpp"

namespace lmms::processors {

struct phi3_v_image_config {
  static constexpr int crop_size = 336;  // fixed in Phi3VImageProcessor
  int num_crops = 16;                    // at most this many HD crops (the 128k checkpoint's default)
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};  // OPENAI_CLIP_MEAN
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};  // OPENAI_CLIP_STD

  /// Reads num_crops and the normalization from preprocessor_config.json (or processor_config.json).
  static phi3_v_image_config load(const std::filesystem::path& path);
};

/// The padded HD size (height, width) of an image of height x width: multiples of 336. Throws
/// for an image so elongated that its short side would scale to 0 pixels.
std::pair<int, int> phi3_v_hd_size(int height, int width, int num_crops);

/// Image tokens of an image whose HD size is hd_height x hd_width, for a tower whose 2x2-merged
/// feature grid is merged x merged per crop (12 for CLIP ViT-L/14-336): each crop row gets a
/// newline, the crops, one separator, the global image with its newlines:
/// (rows * cols + 1) * merged^2 + 1 + (rows + 1) * merged.
std::int64_t phi3_v_image_tokens(int hd_height, int hd_width, std::int64_t merged = 12);

struct phi3_v_crops {
  at::Tensor pixels;      // (1 + rows * cols, 3, 336, 336) float32: global image, then the crops
  int height = 0, width = 0;  // the HD size (what image_sizes holds)
};

phi3_v_crops phi3_v_preprocess(const media::rgb_image& image, const phi3_v_image_config& config);

}  // namespace lmms::processors

#ifdef LMMS_IMPLEMENTATION
#include <cmath>

#include "lmms/core/error.hpp"
#include "lmms/media/resize.hpp"
#include "lmms/processors/config_file.hpp"

namespace lmms::processors {

phi3_v_image_config phi3_v_image_config::load(const std::filesystem::path& path) {
  const auto settings = read_processor_settings(path);
  phi3_v_image_config c;
  c.num_crops = static_cast<int>(settings.values.get_int_or("num_crops", c.num_crops));
  if (c.num_crops < 1) fail(settings.file.string(), ": num_crops must be at least 1");
  read_mean_std(settings, c.mean, c.std);
  return c;
}

namespace detail {
/// HD_transform's arithmetic on a wide image (width >= height), in Python's doubles:
/// (new_width, new_height) before padding.
inline std::pair<int, int> phi3_v_scaled(int width, int height, int num_crops) {
  const double ratio = static_cast<double>(width) / static_cast<double>(height);
  int scale = 1;
  while (scale * std::ceil(scale / ratio) <= num_crops) ++scale;
  --scale;
  const int new_w = scale * phi3_v_image_config::crop_size;
  const int new_h = static_cast<int>(static_cast<double>(new_w) / ratio);
  return {new_w, new_h};
}

inline media::rgb_image transposed(const media::rgb_image& in) {  // PIL's Image.TRANSPOSE
  media::rgb_image out;
  out.width = in.height;
  out.height = in.width;
  out.data.resize(in.data.size());
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int c = 0; c < 3; ++c) out.data[(static_cast<std::size_t>(x) * out.width + y) * 3 + c] = in.at(x, y, c);
  return out;
}
}  // namespace detail

std::pair<int, int> phi3_v_hd_size(int height, int width, int num_crops) {
  if (height <= 0 || width <= 0) fail("an image of ", width, "x", height, " pixels has no HD size");
  const bool transpose = width < height;
  if (transpose) std::swap(width, height);
  auto [new_w, new_h] = detail::phi3_v_scaled(width, height, num_crops);
  if (new_h <= 0)
    fail("an image of ", transpose ? height : width, "x", transpose ? width : height,
         " pixels is too elongated for Phi-3-Vision: its short side would scale to 0 pixels");
  const int crop = phi3_v_image_config::crop_size;
  const int padded_h = (new_h + crop - 1) / crop * crop;
  return transpose ? std::pair<int, int>{new_w, padded_h} : std::pair<int, int>{padded_h, new_w};
}

std::int64_t phi3_v_image_tokens(int hd_height, int hd_width, std::int64_t merged) {
  const std::int64_t rows = hd_height / phi3_v_image_config::crop_size, cols = hd_width / phi3_v_image_config::crop_size;
  return (rows * cols + 1) * merged * merged + 1 + (rows + 1) * merged;
}

phi3_v_crops phi3_v_preprocess(const media::rgb_image& image, const phi3_v_image_config& config) {
  const int crop = phi3_v_image_config::crop_size;
  const auto [hd_h, hd_w] = phi3_v_hd_size(image.height, image.width, config.num_crops);
  // HD transform on the wide orientation, then back
  const bool transpose = image.width < image.height;
  media::rgb_image wide = transpose ? detail::transposed(image) : image;
  auto [new_w, new_h] = detail::phi3_v_scaled(wide.width, wide.height, config.num_crops);
  media::rgb_image scaled = media::resize(wide, new_w, new_h, media::resample::bilinear);
  const int padded_h = transpose ? hd_w : hd_h;
  const int top = (padded_h - new_h) / 2;
  media::rgb_image padded;
  padded.width = new_w;
  padded.height = padded_h;
  padded.data.assign(static_cast<std::size_t>(new_w) * padded_h * 3, 255);  // white
  std::copy(scaled.data.begin(), scaled.data.end(), padded.data.begin() + static_cast<std::ptrdiff_t>(top) * new_w * 3);
  media::rgb_image hd = transpose ? detail::transposed(padded) : std::move(padded);

  // ToTensor + Normalize in float32, as torchvision computes them
  at::Tensor t = at::from_blob(hd.data.data(), {hd.height, hd.width, 3}, at::kByte).permute({2, 0, 1}).to(at::kFloat).div(255);
  at::Tensor mean = at::tensor(std::vector<float>(config.mean.begin(), config.mean.end())).view({3, 1, 1});
  at::Tensor std = at::tensor(std::vector<float>(config.std.begin(), config.std.end())).view({3, 1, 1});
  t = (t - mean) / std;
  at::Tensor global = at::upsample_bicubic2d(t.unsqueeze(0), {crop, crop}, false);
  const int rows = hd.height / crop, cols = hd.width / crop;
  at::Tensor crops = t.reshape({1, 3, rows, crop, cols, crop}).permute({0, 2, 4, 1, 3, 5}).reshape({-1, 3, crop, crop});
  return {at::cat({global, crops}, 0).contiguous(), hd.height, hd.width};
}

}  // namespace lmms::processors
#endif
