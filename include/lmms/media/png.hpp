// lmms/media/png.hpp: the common PNGs (8-bit grey, grey + alpha, RGB, RGBA; not interlaced)
// decoded fast: the IDAT stream inflated in one call by libdeflate (about twice zlib's speed,
// the inflater PIL and stb_image's own are slower), the rows unfiltered, converted to RGB as
// PIL's convert("RGB") does (grey replicated, alpha dropped). PNG is lossless, so the pixels
// are the file's whatever the decoder. Anything else (palette, 16-bit, interlaced, a damaged
// stream) returns false and media/image.hpp decodes it with stb_image as before, errors included.
// Internal to media/image.hpp. No torch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lmms/media/image.hpp"

namespace lmms::media::detail {

/// Decodes `bytes` (a whole PNG file) into `out` when it is in the fast subset; false otherwise
/// (then `out` is unspecified).
bool decode_png_fast(const std::uint8_t* bytes, std::size_t size, rgb_image& out);

}  // namespace lmms::media::detail

#ifdef LMMS_IMPLEMENTATION
#include <cstring>
#include <vector>

#include <libdeflate.h>

namespace lmms::media::detail {

namespace {
std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

// The PNG row filters (specification section 9), in place: row holds the filtered bytes,
// prior the previous unfiltered row (zeros for the first), bpp bytes per pixel.
bool unfilter(int filter, std::uint8_t* row, const std::uint8_t* prior, std::size_t length, std::size_t bpp) {
  switch (filter) {
    case 0: return true;
    case 1:
      for (std::size_t i = bpp; i < length; ++i) row[i] = static_cast<std::uint8_t>(row[i] + row[i - bpp]);
      return true;
    case 2:
      for (std::size_t i = 0; i < length; ++i) row[i] = static_cast<std::uint8_t>(row[i] + prior[i]);
      return true;
    case 3:
      for (std::size_t i = 0; i < bpp; ++i) row[i] = static_cast<std::uint8_t>(row[i] + (prior[i] >> 1));
      for (std::size_t i = bpp; i < length; ++i)
        row[i] = static_cast<std::uint8_t>(row[i] + ((unsigned{row[i - bpp]} + unsigned{prior[i]}) >> 1));
      return true;
    case 4:
      for (std::size_t i = 0; i < bpp; ++i) row[i] = static_cast<std::uint8_t>(row[i] + prior[i]);  // a = c = 0: b
      for (std::size_t i = bpp; i < length; ++i) {
        const int a = row[i - bpp], b = prior[i], c = prior[i - bpp];
        const int p = a + b - c, pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
        const int predictor = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
        row[i] = static_cast<std::uint8_t>(row[i] + predictor);
      }
      return true;
    default: return false;
  }
}
}  // namespace

bool decode_png_fast(const std::uint8_t* bytes, std::size_t size, rgb_image& out) {
  if (size < 33 || std::memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) != 0) return false;
  if (be32(bytes + 8) != 13 || std::memcmp(bytes + 12, "IHDR", 4) != 0) return false;
  const std::uint8_t* ihdr = bytes + 16;
  const std::uint32_t width = be32(ihdr), height = be32(ihdr + 4);
  const int depth = ihdr[8], color = ihdr[9], interlace = ihdr[12];
  const std::size_t channels = color == 0 ? 1 : color == 2 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 0;
  if (depth != 8 || channels == 0 || interlace != 0 || ihdr[10] != 0 || ihdr[11] != 0) return false;
  if (width == 0 || height == 0 || width > (1u << 24) || height > (1u << 24)) return false;
  // the IDAT chunks' payloads, back to back: one zlib stream
  // (sized first, then copied: one allocation)
  std::size_t payload = 0;
  bool ended = false;
  for (std::size_t at = 8; at + 12 <= size && !ended;) {
    const std::size_t length = be32(bytes + at);
    if (length > size - at - 12) return false;  // cut short: stb_image reports it
    const std::uint8_t* type = bytes + at + 4;
    if (std::memcmp(type, "IDAT", 4) == 0) payload += length;
    ended = std::memcmp(type, "IEND", 4) == 0;
    at += 12 + length;
  }
  if (!ended) return false;  // no IEND: a truncated file, reported as such by media/image.hpp
  lmms::buffer<std::uint8_t> stream(payload);
  for (std::size_t at = 8, filled = 0; filled < payload;) {
    const std::size_t length = be32(bytes + at);
    if (std::memcmp(bytes + at + 4, "IDAT", 4) == 0) {
      std::memcpy(stream.data() + filled, bytes + at + 8, length);
      filled += length;
    }
    at += 12 + length;
  }
  const std::size_t row_bytes = static_cast<std::size_t>(width) * channels;
  lmms::buffer<std::uint8_t> raw(static_cast<std::size_t>(height) * (row_bytes + 1));  // inflated in full below
  libdeflate_decompressor* inflater = libdeflate_alloc_decompressor();
  if (!inflater) return false;
  const libdeflate_result r = libdeflate_zlib_decompress(inflater, stream.data(), stream.size(), raw.data(), raw.size(), nullptr);
  libdeflate_free_decompressor(inflater);
  if (r != LIBDEFLATE_SUCCESS) return false;  // damaged, or not exactly the rows the header says
  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  out.data.resize(static_cast<std::size_t>(width) * height * 3);
  std::vector<std::uint8_t> zeros(row_bytes, 0);
  const std::uint8_t* prior = zeros.data();
  for (std::size_t y = 0; y < height; ++y) {
    std::uint8_t* row = raw.data() + y * (row_bytes + 1);
    if (!unfilter(row[0], row + 1, prior, row_bytes, channels)) return false;
    prior = row + 1;
    std::uint8_t* dst = out.data.data() + y * static_cast<std::size_t>(width) * 3;
    const std::uint8_t* src = row + 1;
    if (channels == 3) {
      std::memcpy(dst, src, row_bytes);
    } else {
      for (std::size_t x = 0; x < width; ++x, dst += 3, src += channels) {
        if (channels <= 2) {  // grey (+ alpha): replicated
          dst[0] = dst[1] = dst[2] = src[0];
        } else {  // RGBA: alpha dropped
          dst[0] = src[0];
          dst[1] = src[1];
          dst[2] = src[2];
        }
      }
    }
  }
  return true;
}

}  // namespace lmms::media::detail
#endif  // LMMS_IMPLEMENTATION
