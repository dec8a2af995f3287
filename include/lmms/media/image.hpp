// lmms/media/image.hpp: 8-bit RGB images, decoded with stb_image, as PIL's
// Image.open(p).convert("RGB") gives them for PNG, BMP and GIF (first frame); JPEG decoders
// differ by a few levels between stb_image and libjpeg-turbo (see docs/dataset.md). No torch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>
#include <utility>

namespace lmms::media {

/// Interleaved RGB, row-major: pixel (x, y) channel c at data[(y * width + x) * 3 + c].
struct rgb_image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> data;
  std::uint8_t at(int x, int y, int c) const { return data[(static_cast<std::size_t>(y) * width + x) * 3 + c]; }
};

/// Decodes a file to RGB (grey is replicated, alpha dropped as PIL's convert("RGB") does).
/// Throws lmms::error naming the file and what is wrong with it.
rgb_image load_image(const std::filesystem::path& file);

/// Width and height from the file's header, without decoding the pixels (for token counts
/// that depend on the image size). Throws as load_image does for unreadable files.
std::pair<int, int> image_size(const std::filesystem::path& file);

}  // namespace lmms::media

#ifdef LMMS_IMPLEMENTATION
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_PNM
#include <stb/stb_image.h>

#include "lmms/core/error.hpp"

namespace lmms::media {

rgb_image load_image(const std::filesystem::path& file) {
  int w = 0, h = 0, channels = 0;
  std::uint8_t* pixels = stbi_load(file.c_str(), &w, &h, &channels, 3);
  if (!pixels) {
    if (!std::filesystem::exists(file)) fail("image ", file.string(), " does not exist");
    fail("cannot decode image ", file.string(), ": ", stbi_failure_reason(), " (corrupt or truncated?)");
  }
  rgb_image img;
  img.width = w;
  img.height = h;
  img.data.assign(pixels, pixels + static_cast<std::size_t>(w) * h * 3);
  stbi_image_free(pixels);
  return img;
}

std::pair<int, int> image_size(const std::filesystem::path& file) {
  int w = 0, h = 0, channels = 0;
  if (!stbi_info(file.c_str(), &w, &h, &channels)) {
    if (!std::filesystem::exists(file)) fail("image ", file.string(), " does not exist");
    fail("cannot read the header of image ", file.string(), ": ", stbi_failure_reason(), " (corrupt or not an image?)");
  }
  return {w, h};
}

}  // namespace lmms::media
#endif  // LMMS_IMPLEMENTATION
