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

/// Undoes PNG row filter `filter` (specification section 9): `out[i] = filtered[i] +` the
/// predictor from `out`'s left pixel and `prior` (the previous unfiltered row, zeros for the
/// first); `bpp` bytes per pixel, `length` bytes a row. `out` must not overlap `filtered` or
/// `prior`. False for an unknown
/// filter. With SSE2, Up runs 16 bytes at a time; Sub, Average and Paeth depend on the pixel to
/// the left, so they run a pixel at a time: for 3 and 4 bytes per pixel in SSE2 lanes (a pixel's
/// channels at once), else a byte at a time (`unfilter_row_scalar`, the specification's loop,
/// which the tests compare the SSE2 path with).
bool unfilter_row(int filter, const std::uint8_t* filtered, const std::uint8_t* prior, std::uint8_t* out,
                  std::size_t length, std::size_t bpp);
bool unfilter_row_scalar(int filter, const std::uint8_t* filtered, const std::uint8_t* prior, std::uint8_t* out,
                         std::size_t length, std::size_t bpp);

}  // namespace lmms::media::detail

#ifdef LMMS_IMPLEMENTATION
#include <cstring>
#include <vector>

#include <libdeflate.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace lmms::media::detail {

namespace {
std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}
}  // namespace

bool unfilter_row_scalar(int filter, const std::uint8_t* filtered, const std::uint8_t* prior, std::uint8_t* out,
                         std::size_t length, std::size_t bpp) {
  const auto put = [&](std::size_t i, unsigned predictor) { out[i] = static_cast<std::uint8_t>(filtered[i] + predictor); };
  switch (filter) {
    case 0: std::memcpy(out, filtered, length); return true;
    case 1:
      for (std::size_t i = 0; i < length; ++i) put(i, i < bpp ? 0 : out[i - bpp]);
      return true;
    case 2:
      for (std::size_t i = 0; i < length; ++i) put(i, prior[i]);
      return true;
    case 3:
      for (std::size_t i = 0; i < length; ++i) put(i, ((i < bpp ? 0u : unsigned{out[i - bpp]}) + prior[i]) >> 1);
      return true;
    case 4:
      for (std::size_t i = 0; i < length; ++i) {
        const int a = i < bpp ? 0 : out[i - bpp], b = prior[i], c = i < bpp ? 0 : prior[i - bpp];
        const int p = a + b - c, pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
        put(i, static_cast<unsigned>((pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)));
      }
      return true;
    default: return false;
  }
}

#ifdef __SSE2__
namespace {
// One pixel in the low lanes of a register, 16 bits a channel. A 3-byte pixel is read as 4 bytes
// where that stays inside the row (`whole`), else byte by byte (the row's last pixel).
template <std::size_t bpp, bool whole>
inline __m128i load_pixel(const std::uint8_t* p) {
  std::uint32_t v;
  if constexpr (bpp == 4 || whole) std::memcpy(&v, p, 4);
  else v = std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16);
  return _mm_unpacklo_epi8(_mm_cvtsi32_si128(static_cast<int>(v)), _mm_setzero_si128());
}
template <std::size_t bpp, bool whole>
inline void store_pixel(std::uint8_t* p, __m128i pixel16) {
  const auto v = static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(pixel16, pixel16)));
  if constexpr (bpp == 4 || whole) {
    std::memcpy(p, &v, 4);  // for 3 bytes a pixel the 4th is the next pixel's, written next
  } else {
    p[0] = static_cast<std::uint8_t>(v);
    p[1] = static_cast<std::uint8_t>(v >> 8);
    p[2] = static_cast<std::uint8_t>(v >> 16);
  }
}
inline __m128i abs16(__m128i v) { return _mm_max_epi16(v, _mm_sub_epi16(_mm_setzero_si128(), v)); }

// One pixel of Sub (1), Average (3) or Paeth (4): `a` (left, unfiltered) becomes this pixel,
// `c` (upper left) becomes `b`. Sums are mod 256: the low byte of each 16-bit lane.
template <int filter, std::size_t bpp, bool whole>
inline void unfilter_pixel(const std::uint8_t* filtered, const std::uint8_t* prior, std::uint8_t* out, __m128i& a, __m128i& c) {
  const __m128i x = load_pixel<bpp, whole>(filtered);
  __m128i predictor;
  if constexpr (filter == 1) {
    predictor = a;
  } else if constexpr (filter == 3) {
    predictor = _mm_srli_epi16(_mm_add_epi16(a, load_pixel<bpp, whole>(prior)), 1);
  } else {  // Paeth: the one of a, b, c nearest p = a + b - c, ties to a then b
    const __m128i b = load_pixel<bpp, whole>(prior);
    const __m128i pa = abs16(_mm_sub_epi16(b, c)), pb = abs16(_mm_sub_epi16(a, c));
    const __m128i pc = abs16(_mm_add_epi16(_mm_sub_epi16(b, c), _mm_sub_epi16(a, c)));
    const __m128i c_nearer = _mm_cmplt_epi16(pc, pb);  // b or c: c only when strictly nearer
    const __m128i b_or_c = _mm_or_si128(_mm_and_si128(c_nearer, c), _mm_andnot_si128(c_nearer, b));
    const __m128i not_a = _mm_cmpgt_epi16(pa, _mm_min_epi16(pb, pc));  // a unless strictly farther
    predictor = _mm_or_si128(_mm_and_si128(not_a, b_or_c), _mm_andnot_si128(not_a, a));
    c = b;
  }
  a = _mm_and_si128(_mm_add_epi16(x, predictor), _mm_set1_epi16(0xff));
  store_pixel<bpp, whole>(out, a);
}

template <int filter, std::size_t bpp>
void unfilter_pixels_sse2(const std::uint8_t* filtered, const std::uint8_t* prior, std::uint8_t* out, std::size_t length) {
  __m128i a = _mm_setzero_si128(), c = _mm_setzero_si128();  // left and upper-left of the first pixel: zeros
  std::size_t i = 0;
  for (; i + 4 <= length; i += bpp) unfilter_pixel<filter, bpp, true>(filtered + i, prior + i, out + i, a, c);
  for (; i < length; i += bpp) unfilter_pixel<filter, bpp, false>(filtered + i, prior + i, out + i, a, c);
}

// Up: byte-parallel, 16 bytes at a time (at -O2 the compiler leaves the byte loop scalar)
void unfilter_up_sse2(const std::uint8_t* filtered, const std::uint8_t* prior, std::uint8_t* out, std::size_t length) {
  std::size_t i = 0;
  for (; i + 16 <= length; i += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(filtered + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(prior + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_add_epi8(x, b));
  }
  for (; i < length; ++i) out[i] = static_cast<std::uint8_t>(filtered[i] + prior[i]);
}

template <int filter>
void unfilter_pixels_sse2(const std::uint8_t* filtered, const std::uint8_t* prior, std::uint8_t* out, std::size_t length,
                          std::size_t bpp) {
  if (bpp == 3) unfilter_pixels_sse2<filter, 3>(filtered, prior, out, length);
  else unfilter_pixels_sse2<filter, 4>(filtered, prior, out, length);
}
}  // namespace
#endif

bool unfilter_row(int filter, const std::uint8_t* filtered, const std::uint8_t* prior, std::uint8_t* out,
                  std::size_t length, std::size_t bpp) {
#ifdef __SSE2__
  if (filter == 2) {
    unfilter_up_sse2(filtered, prior, out, length);
    return true;
  }
  if ((bpp == 3 || bpp == 4) && length % bpp == 0) {
    switch (filter) {
      case 1: unfilter_pixels_sse2<1>(filtered, prior, out, length, bpp); return true;
      case 3: unfilter_pixels_sse2<3>(filtered, prior, out, length, bpp); return true;
      case 4: unfilter_pixels_sse2<4>(filtered, prior, out, length, bpp); return true;
      default: break;  // None: a copy
    }
  }
#endif
  return unfilter_row_scalar(filter, filtered, prior, out, length, bpp);
}

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
  // RGB rows are unfiltered straight into the image (each the next one's prior); the other
  // layouts into two alternating scratch rows, then converted
  std::vector<std::uint8_t> zeros(row_bytes, 0), scratch(channels == 3 ? 0 : 2 * row_bytes);
  const std::uint8_t* prior = zeros.data();
  for (std::size_t y = 0; y < height; ++y) {
    const std::uint8_t* row = raw.data() + y * (row_bytes + 1);
    std::uint8_t* dst = out.data.data() + y * static_cast<std::size_t>(width) * 3;
    std::uint8_t* unfiltered = channels == 3 ? dst : scratch.data() + (y % 2) * row_bytes;
    if (!unfilter_row(row[0], row + 1, prior, unfiltered, row_bytes, channels)) return false;
    prior = unfiltered;
    if (channels == 3) continue;
    const std::uint8_t* src = unfiltered;
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
  return true;
}

}  // namespace lmms::media::detail
#endif  // LMMS_IMPLEMENTATION
