// lmms/media/resize_kernels.hpp: the inner loops of PIL-exact resizing (media/resize.hpp).
// - weighted_sums: each output byte of a pass is PIL's fixed-point sum of source bytes times
//   22-bit integer weights, clipped. With AVX-512 VNNI two taps go through one instruction
//   (each weight split into two 16-bit halves so the 16-bit dot products stay exact); else a
//   32-bit multiply per tap, vectorized by the compiler.
// - transpose_rgb: the horizontal pass multiplies whole source columns, so it needs them
//   contiguous, then writes its output columns back as rows. With AVX-512 (BW) 16 x 16 pixels
//   go through registers at a time (each widened to 32 bits, a 16 x 16 transpose of 32-bit
//   lanes, narrowed back); otherwise, and at the edges, a pixel at a time.
// Both pick their path at run time by what the CPU has; every path gives the same bytes (the
// tests compare them).
#pragma once

#include <cstddef>
#include <cstdint>

namespace lmms::media::detail {

/// PIL's fixed-point precision for resize weights (Resample.c's PRECISION_BITS).
constexpr int resize_precision_bits = 32 - 8 - 2;

/// dst[i] = clip to 0..255 of (2^21 + sum over taps x < n of first[x * stride + i] * weights[x])
/// >> 22, for i < count: the multiply-adds of both resize passes (source columns for the
/// horizontal pass, source rows for the vertical one), exact int32 sums as PIL's.
void weighted_sums(const std::uint8_t* first, std::size_t stride, const int* weights, int n, std::size_t count,
                   std::uint8_t* dst);
/// The same without VNNI (what the tests compare the VNNI path with).
void weighted_sums_portable(const std::uint8_t* first, std::size_t stride, const int* weights, int n,
                            std::size_t count, std::uint8_t* dst);
/// Whether weighted_sums takes the AVX-512 VNNI path on this CPU.
bool weighted_sums_vnni();

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

#include "lmms/core/cpu_features.hpp"

namespace lmms::media::detail {

namespace {
inline std::uint8_t clip_sum(int v) {
  v >>= resize_precision_bits;
  return static_cast<std::uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}
}  // namespace

// GCC's -O2 leaves this loop scalar: it is built at -O3, with AVX-512 and AVX2 copies picked at
// load time (16 or 8 lanes and a native 32-bit multiply; the x86-64 baseline emulates it). 64
// sums at a time stay in registers across all taps (the loop the other way round loads and
// stores every sum once per tap).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("O3")
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#endif
void weighted_sums_portable(const std::uint8_t* first, std::size_t stride, const int* weights, int n,
                            std::size_t count, std::uint8_t* dst) {
  constexpr std::size_t block = 64;
  std::size_t i = 0;
  for (; i + block <= count; i += block) {
    int acc[block];
    for (auto& a : acc) a = 1 << (resize_precision_bits - 1);
    const std::uint8_t* src = first + i;
    for (int x = 0; x < n; ++x, src += stride) {
      const int w = weights[x];
      for (std::size_t j = 0; j < block; ++j) acc[j] += src[j] * w;
    }
    for (std::size_t j = 0; j < block; ++j) dst[i + j] = clip_sum(acc[j]);
  }
  for (; i < count; ++i) {
    int acc = 1 << (resize_precision_bits - 1);
    for (int x = 0; x < n; ++x) acc += first[static_cast<std::size_t>(x) * stride + i] * weights[x];
    dst[i] = clip_sum(acc);
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#ifdef LMMS_X86_SIMD
namespace {
// Two taps (source vectors p and q, 32 bytes each) into 32 sums: the bytes widened to 16 bits
// and interleaved per 32-bit lane (p, q), then one dot product with the two taps' weights for
// each half of the split weights. The interleave permutes the lanes within each 128-bit group;
// finish_32 packs them back in order.
struct vnni_sums32 {
  __m512i high_lo, high_hi, low_lo, low_hi;  // sums with the weights' high / low 11-bit halves
};
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void add_taps_32(vnni_sums32& s, const std::uint8_t* p,
                                                                                 const std::uint8_t* q, __m512i high,
                                                                                 __m512i low) {
  const __m512i a = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  const __m512i b = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
  const __m512i lo = _mm512_unpacklo_epi16(a, b), hi = _mm512_unpackhi_epi16(a, b);
  s.high_lo = _mm512_dpwssd_epi32(s.high_lo, lo, high);
  s.high_hi = _mm512_dpwssd_epi32(s.high_hi, hi, high);
  s.low_lo = _mm512_dpwssd_epi32(s.low_lo, lo, low);
  s.low_hi = _mm512_dpwssd_epi32(s.low_hi, hi, low);
}
// 2^21 + high * 2^11 + low: the exact int32 sum, >> 22
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline __m512i shifted_sum(__m512i high, __m512i low) {
  const __m512i round = _mm512_set1_epi32(1 << (resize_precision_bits - 1));
  return _mm512_srai_epi32(_mm512_add_epi32(_mm512_add_epi32(round, _mm512_slli_epi32(high, 11)), low),
                           resize_precision_bits);
}
// the 32 sums clipped to bytes, in the source's order
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void finish_32(const vnni_sums32& s, std::uint8_t* dst) {
  const __m512i words = _mm512_packs_epi32(shifted_sum(s.high_lo, s.low_lo), shifted_sum(s.high_hi, s.low_hi));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                      _mm512_cvtusepi16_epi8(_mm512_max_epi16(words, _mm512_setzero_si512())));
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void weighted_sums_avx512_vnni(
    const std::uint8_t* first, std::size_t stride, const int* weights, int n, std::size_t count, std::uint8_t* dst) {
  // taps in pairs (an odd last one paired with itself, weight 0); each pair's weights as two
  // 16-bit halves per 32-bit lane: w = high * 2^11 + low, low in [0, 2^11), |high| < 2^15
  constexpr int max_pairs = 64;
  __m512i high[max_pairs], low[max_pairs];
  const std::uint8_t* p[max_pairs];
  const std::uint8_t* q[max_pairs];
  const int pairs = (n + 1) / 2;
  for (int k = 0; k < pairs; ++k) {
    const int x = 2 * k, y = std::min(2 * k + 1, n - 1);
    const int wx = weights[x], wy = 2 * k + 1 < n ? weights[y] : 0;
    const auto halves = [](int hx, int hy) {  // (hx, hy) as two int16 in one 32-bit lane
      return static_cast<int>((static_cast<std::uint32_t>(hy) << 16) | (static_cast<std::uint32_t>(hx) & 0xffff));
    };
    high[k] = _mm512_set1_epi32(halves(wx >> 11, wy >> 11));
    low[k] = _mm512_set1_epi32(halves(wx & 0x7ff, wy & 0x7ff));
    p[k] = first + static_cast<std::size_t>(x) * stride;
    q[k] = first + static_cast<std::size_t>(y) * stride;
  }
  std::size_t i = 0;
  for (; i + 64 <= count; i += 64) {  // 64 sums: 8 registers
    vnni_sums32 a{}, b{};
    for (int k = 0; k < pairs; ++k) {
      add_taps_32(a, p[k] + i, q[k] + i, high[k], low[k]);
      add_taps_32(b, p[k] + i + 32, q[k] + i + 32, high[k], low[k]);
    }
    finish_32(a, dst + i);
    finish_32(b, dst + i + 32);
  }
  for (; i + 32 <= count; i += 32) {
    vnni_sums32 a{};
    for (int k = 0; k < pairs; ++k) add_taps_32(a, p[k] + i, q[k] + i, high[k], low[k]);
    finish_32(a, dst + i);
  }
  if (i < count) weighted_sums_portable(first + i, stride, weights, n, count - i, dst + i);
}
}  // namespace
#endif

bool weighted_sums_vnni() { return cpu::has_avx512_vnni(); }

void weighted_sums(const std::uint8_t* first, std::size_t stride, const int* weights, int n, std::size_t count,
                   std::uint8_t* dst) {
#ifdef LMMS_X86_SIMD
  if (weighted_sums_vnni() && n <= 128) return weighted_sums_avx512_vnni(first, stride, weights, n, count, dst);
#endif
  weighted_sums_portable(first, stride, weights, n, count, dst);
}

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

#ifdef LMMS_X86_SIMD
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
  LMMS_UNROLL_ALL
  for (int i = 0; i < 16; ++i) {
    const __m512i row = _mm512_maskz_loadu_epi8(bytes48, src + static_cast<std::size_t>(i) * src_stride);
    r[i] = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(spread_dwords, row), widen_bytes);
  }
  // a 16 x 16 transpose of 32-bit lanes: pairs of rows interleaved, then pairs of pairs, then
  // the 128-bit lane groups
  LMMS_UNROLL_ALL
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  LMMS_UNROLL_ALL
  for (int i = 0; i < 4; ++i) {  // u[4i + k], lane group L: column 4L + k of rows 4i..4i+3
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  LMMS_UNROLL_ALL
  for (int k = 0; k < 4; ++k) {  // column 4L + k: lane group L of r[k], r[4 + k], r[8 + k], r[12 + k]
    const __m512i ab_lo = _mm512_shuffle_i32x4(r[k], r[4 + k], 0x44), ab_hi = _mm512_shuffle_i32x4(r[k], r[4 + k], 0xee);
    const __m512i cd_lo = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0x44),
                  cd_hi = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0xee);
    t[k] = _mm512_shuffle_i32x4(ab_lo, cd_lo, 0x88);
    t[4 + k] = _mm512_shuffle_i32x4(ab_lo, cd_lo, 0xdd);
    t[8 + k] = _mm512_shuffle_i32x4(ab_hi, cd_hi, 0x88);
    t[12 + k] = _mm512_shuffle_i32x4(ab_hi, cd_hi, 0xdd);
  }
  LMMS_UNROLL_ALL
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

bool transpose_rgb_vectorized() { return cpu::has_avx512bw(); }

void transpose_rgb(const std::uint8_t* src, std::size_t src_stride, std::uint8_t* dst, std::size_t dst_stride, int rows,
                   int cols) {
#ifdef LMMS_X86_SIMD
  if (transpose_rgb_vectorized()) return transpose_rgb_avx512(src, src_stride, dst, dst_stride, rows, cols);
#endif
  transpose_rgb_scalar(src, src_stride, dst, dst_stride, rows, cols);
}

}  // namespace lmms::media::detail
#endif  // LMMS_IMPLEMENTATION
