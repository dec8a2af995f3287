// lmms/media/transpose.hpp: transposing a matrix of 3-byte RGB pixels, the data movement of
// the horizontal resize pass (media/resize.hpp), which multiplies whole source columns and so
// needs them contiguous, then writes its output columns back as rows. With AVX-512 (BW) the
// pixels go 16 x 16 at a time through registers (each widened to 32 bits, a 16 x 16 transpose
// of 32-bit lanes, narrowed back); otherwise, and at the edges, a pixel at a time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lmms::media::detail {

/// dst pixel (c, r) = src pixel (r, c) for r < rows, c < cols: src row r starts at
/// src + r * src_stride, dst row c at dst + c * dst_stride (strides in bytes, 3 bytes a pixel).
/// dst must not overlap src.
void transpose_rgb(const std::uint8_t* src, std::size_t src_stride, std::uint8_t* dst, std::size_t dst_stride,
                   int rows, int cols);
/// The same, a pixel at a time (what the tests compare the AVX-512 path with).
void transpose_rgb_scalar(const std::uint8_t* src, std::size_t src_stride, std::uint8_t* dst, std::size_t dst_stride,
                          int rows, int cols);
/// Whether transpose_rgb takes the AVX-512 path on this CPU.
bool transpose_rgb_vectorized();

}  // namespace lmms::media::detail

#ifdef LMMS_IMPLEMENTATION
#include <algorithm>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LMMS_TRANSPOSE_AVX512 1
#endif

namespace lmms::media::detail {

void transpose_rgb_scalar(const std::uint8_t* src, std::size_t src_stride, std::uint8_t* dst, std::size_t dst_stride,
                          int rows, int cols) {
  constexpr int block = 32;  // rows per strip: each dst row gets 96 contiguous bytes per strip
  for (int r0 = 0; r0 < rows; r0 += block) {
    const int r1 = std::min(rows, r0 + block);
    for (int c = 0; c < cols; ++c) {
      std::uint8_t* d = dst + static_cast<std::size_t>(c) * dst_stride + static_cast<std::size_t>(r0) * 3;
      const std::uint8_t* s = src + static_cast<std::size_t>(r0) * src_stride + static_cast<std::size_t>(c) * 3;
      for (int r = r0; r < r1; ++r, d += 3, s += src_stride) {
        d[0] = s[0];
        d[1] = s[1];
        d[2] = s[2];
      }
    }
  }
}

#ifdef LMMS_TRANSPOSE_AVX512
namespace {

// 16 x 16 pixels: 16 rows of 48 bytes in, 16 rows of 48 bytes out (masked: nothing past them
// is read or written)
__attribute__((target("avx512f,avx512bw"))) inline void transpose_16x16(const std::uint8_t* src, std::size_t src_stride,
                                                                         std::uint8_t* dst, std::size_t dst_stride) {
  constexpr __mmask64 bytes48 = (__mmask64{1} << 48) - 1;
  // widen: pixel p (bytes 3p..3p+2) to 32-bit lane p. Lane group k (16 bytes) gets dwords
  // 3k..3k+2 (pixels 4k..4k+3), then each pixel's 3 bytes go to its own lane, the 4th zero
  const __m512i spread_dwords = _mm512_setr_epi32(0, 1, 2, 0, 3, 4, 5, 0, 6, 7, 8, 0, 9, 10, 11, 0);
  const __m512i widen_bytes = _mm512_broadcast_i32x4(
      _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1));
  const __m512i narrow_bytes = _mm512_broadcast_i32x4(
      _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1));
  const __m512i gather_dwords = _mm512_setr_epi32(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 0, 0, 0, 0);
  __m512i r[16], t[16];
  for (int i = 0; i < 16; ++i) {
    const std::uint8_t* from = src + static_cast<std::size_t>(i) * src_stride;
    const __m512i row = _mm512_maskz_loadu_epi8(bytes48, from);
    r[i] = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(spread_dwords, row), widen_bytes);
  }
  // a 16 x 16 transpose of 32-bit lanes: pairs of rows interleaved, then pairs of pairs, then
  // the 128-bit lane groups
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // u[4i + k], lane group L: column 4L + k of rows 4i..4i+3
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int k = 0; k < 4; ++k) {  // column 4L + k: lane group L of r[k], r[4 + k], r[8 + k], r[12 + k]
    const __m512i ab_lo = _mm512_shuffle_i32x4(r[k], r[4 + k], 0x44), ab_hi = _mm512_shuffle_i32x4(r[k], r[4 + k], 0xee);
    const __m512i cd_lo = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0x44),
                  cd_hi = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0xee);
    t[k] = _mm512_shuffle_i32x4(ab_lo, cd_lo, 0x88);
    t[4 + k] = _mm512_shuffle_i32x4(ab_lo, cd_lo, 0xdd);
    t[8 + k] = _mm512_shuffle_i32x4(ab_hi, cd_hi, 0x88);
    t[12 + k] = _mm512_shuffle_i32x4(ab_hi, cd_hi, 0xdd);
  }
  for (int c = 0; c < 16; ++c) {  // narrow: each lane's 3 bytes, packed
    const __m512i packed = _mm512_permutexvar_epi32(gather_dwords, _mm512_shuffle_epi8(t[c], narrow_bytes));
    _mm512_mask_storeu_epi8(dst + static_cast<std::size_t>(c) * dst_stride, bytes48, packed);
  }
}

__attribute__((target("avx512f,avx512bw"))) void transpose_rgb_avx512(const std::uint8_t* src, std::size_t src_stride,
                                                                       std::uint8_t* dst, std::size_t dst_stride,
                                                                       int rows, int cols) {
  const int full_rows = rows / 16 * 16, full_cols = cols / 16 * 16;
  for (int r0 = 0; r0 < full_rows; r0 += 16)
    for (int c0 = 0; c0 < full_cols; c0 += 16)
      transpose_16x16(src + static_cast<std::size_t>(r0) * src_stride + static_cast<std::size_t>(c0) * 3, src_stride,
                      dst + static_cast<std::size_t>(c0) * dst_stride + static_cast<std::size_t>(r0) * 3, dst_stride);
  // the edges: the last rows % 16 rows (every column), the last cols % 16 columns (the other rows)
  if (full_rows < rows)
    transpose_rgb_scalar(src + static_cast<std::size_t>(full_rows) * src_stride, src_stride,
                         dst + static_cast<std::size_t>(full_rows) * 3, dst_stride, rows - full_rows, cols);
  if (full_cols < cols)
    transpose_rgb_scalar(src + static_cast<std::size_t>(full_cols) * 3, src_stride,
                         dst + static_cast<std::size_t>(full_cols) * dst_stride, dst_stride, full_rows, cols - full_cols);
}

}  // namespace
#endif

bool transpose_rgb_vectorized() {
#ifdef LMMS_TRANSPOSE_AVX512
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return avx512;
#else
  return false;
#endif
}

void transpose_rgb(const std::uint8_t* src, std::size_t src_stride, std::uint8_t* dst, std::size_t dst_stride, int rows,
                   int cols) {
#ifdef LMMS_TRANSPOSE_AVX512
  if (transpose_rgb_vectorized()) return transpose_rgb_avx512(src, src_stride, dst, dst_stride, rows, cols);
#endif
  transpose_rgb_scalar(src, src_stride, dst, dst_stride, rows, cols);
}

}  // namespace lmms::media::detail
#undef LMMS_TRANSPOSE_AVX512
#endif  // LMMS_IMPLEMENTATION
