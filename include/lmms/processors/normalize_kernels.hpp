// lmms/processors/normalize_kernels.hpp: the last step of the image processors, 8-bit RGB to
// rescaled and normalized floats. Each processor computes its float for every (channel, byte)
// once, with transformers' arithmetic, into a table; these loops look the bytes up:
// - bytes_to_planes: interleaved pixels to (channel, height, width) planes (CLIP, SigLIP and
//   the anyres tiles);
// - patch_channel_values: one channel of a square patch of pixels to consecutive floats, written
//   once per copy (a Qwen2-VL patch repeats an image for its temporal patch);
// - copy_streaming: the finished values to an output larger than the caches, with stores that
//   go around them (an ordinary store first reads the line it writes: for a 75 MB Qwen2-VL
//   output, writing and reading it back took 19 ms that way on the Xeon we measure on, 12 ms
//   streamed; below ~16 MB the ordinary stores win, the values still being in cache).
// With AVX-512 VBMI, 16 pixels at a time: the channel's bytes picked by one byte permute, the
// floats gathered from the same table (identical values); else a pixel at a time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lmms::processors::detail {

/// planes[c * pixels + i] = table[c][rgb[3 * i + c]] for i < pixels, c < 3.
void bytes_to_planes(const std::uint8_t* rgb, std::size_t pixels, const float (*table)[256], float* planes);
void bytes_to_planes_scalar(const std::uint8_t* rgb, std::size_t pixels, const float (*table)[256], float* planes);

/// out[k * copy_stride + r * p + i] = table[channel[r * row_stride + 3 * i]] for r, i < p and
/// k < copies: `channel` points at one channel's byte of the patch's top-left pixel of
/// interleaved RGB rows `row_stride` bytes apart (reads only the patch's bytes of that channel).
void patch_channel_values(const std::uint8_t* channel, std::size_t row_stride, int p, const float* table, float* out,
                          int copies, std::size_t copy_stride);
void patch_channel_values_scalar(const std::uint8_t* channel, std::size_t row_stride, int p, const float* table,
                                 float* out, int copies, std::size_t copy_stride);

/// Whether the AVX-512 VBMI paths run on this CPU.
bool normalize_kernels_vectorized();

/// dst[i] = src[i] for i < count, with non-temporal stores where the CPU has AVX-512 (else
/// memcpy). Call streaming_done() before the values are handed to another thread.
void copy_streaming(const float* src, std::size_t count, float* dst);
void streaming_done();

/// Outputs from this size up are written with copy_streaming.
constexpr std::size_t streaming_from_bytes = std::size_t{16} << 20;

}  // namespace lmms::processors::detail

#ifdef LMMS_IMPLEMENTATION
#include <algorithm>
#include <cstring>

#include "lmms/core/cpu_features.hpp"

namespace lmms::processors::detail {

void bytes_to_planes_scalar(const std::uint8_t* rgb, std::size_t pixels, const float (*table)[256], float* planes) {
  for (int c = 0; c < 3; ++c) {  // plane by plane: each written in order
    float* plane = planes + static_cast<std::size_t>(c) * pixels;
    const float* t = table[c];
    for (std::size_t i = 0; i < pixels; ++i) plane[i] = t[rgb[i * 3 + c]];
  }
}

void patch_channel_values_scalar(const std::uint8_t* channel, std::size_t row_stride, int p, const float* table,
                                 float* out, int copies, std::size_t copy_stride) {
  for (int r = 0; r < p; ++r)
    for (int i = 0; i < p; ++i) {
      const float v = table[channel[static_cast<std::size_t>(r) * row_stride + 3 * static_cast<std::size_t>(i)]];
      for (int k = 0; k < copies; ++k) out[static_cast<std::size_t>(k) * copy_stride + static_cast<std::size_t>(r * p + i)] = v;
    }
}

#ifdef LMMS_X86_SIMD
namespace {
#define LMMS_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))

// byte permute indices: lane i <- byte 3i + channel, for i < 16
LMMS_VBMI inline __m512i every_third_byte(int channel) {
  alignas(64) std::uint8_t idx[64] = {};
  for (int i = 0; i < 16; ++i) idx[i] = static_cast<std::uint8_t>(3 * i + channel);
  return _mm512_load_si512(idx);
}

// 16 floats table[bytes[pick[i]]]: the picked bytes widened to 32-bit indices, then gathered
LMMS_VBMI inline __m512 look_up_16(__m512i bytes, __m512i pick, const float* table) {
  const __m512i index = _mm512_cvtepu8_epi32(_mm512_castsi512_si128(_mm512_permutexvar_epi8(pick, bytes)));
  return _mm512_i32gather_ps(index, table, 4);
}

LMMS_VBMI void bytes_to_planes_avx512(const std::uint8_t* rgb, std::size_t pixels, const float (*table)[256],
                                      float* planes) {
  constexpr __mmask64 bytes48 = (__mmask64{1} << 48) - 1;
  const __m512i pick[3] = {every_third_byte(0), every_third_byte(1), every_third_byte(2)};
  std::size_t i = 0;
  for (; i + 16 <= pixels; i += 16) {
    const __m512i bytes = _mm512_maskz_loadu_epi8(bytes48, rgb + 3 * i);
    for (int c = 0; c < 3; ++c)
      _mm512_storeu_ps(planes + static_cast<std::size_t>(c) * pixels + i, look_up_16(bytes, pick[c], table[c]));
  }
  for (; i < pixels; ++i)
    for (int c = 0; c < 3; ++c) planes[static_cast<std::size_t>(c) * pixels + i] = table[c][rgb[3 * i + c]];
}

// the patch's channel bytes, row after row (p <= 16: one permute a row), then looked up 16 at a time
LMMS_VBMI void patch_channel_values_avx512(const std::uint8_t* channel, std::size_t row_stride, int p, const float* table,
                                           float* out, int copies, std::size_t copy_stride) {
  const __m512i pick = every_third_byte(0);
  const __mmask64 row_bytes = (__mmask64{1} << (3 * (p - 1) + 1)) - 1;  // bytes 0 .. 3(p - 1): nothing past the row
  alignas(64) std::uint8_t picked[16 * 16 + 16];
  for (int r = 0; r < p; ++r) {  // each row's 16 picked bytes; the next row overwrites those past p
    const __m512i bytes = _mm512_maskz_loadu_epi8(row_bytes, channel + static_cast<std::size_t>(r) * row_stride);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(picked + r * p),
                     _mm512_castsi512_si128(_mm512_permutexvar_epi8(pick, bytes)));
  }
  const int n = p * p;
  for (int i = 0; i < n; i += 16) {
    const int m = n - i < 16 ? n - i : 16;
    const __mmask16 lanes = static_cast<__mmask16>((1u << m) - 1);
    const __m512i index = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(lanes, picked + i));
    const __m512 values = _mm512_i32gather_ps(index, table, 4);
    for (int k = 0; k < copies; ++k) _mm512_mask_storeu_ps(out + static_cast<std::size_t>(k) * copy_stride + i, lanes, values);
  }
}

__attribute__((target("avx512f"))) void copy_streaming_avx512(const float* src, std::size_t count, float* dst) {
  // ordinary stores up to dst's first 64-byte boundary and after its last; whole lines streamed
  const std::size_t misaligned = (reinterpret_cast<std::uintptr_t>(dst) % 64) / sizeof(float);
  const std::size_t head = misaligned == 0 ? 0 : std::min<std::size_t>(count, 16 - misaligned);
  std::memcpy(dst, src, head * sizeof(float));
  std::size_t i = head;
  for (; i + 16 <= count; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
  std::memcpy(dst + i, src + i, (count - i) * sizeof(float));
}
#undef LMMS_VBMI
}  // namespace
#endif

bool normalize_kernels_vectorized() { return cpu::has_avx512_vbmi(); }

void bytes_to_planes(const std::uint8_t* rgb, std::size_t pixels, const float (*table)[256], float* planes) {
#ifdef LMMS_X86_SIMD
  if (normalize_kernels_vectorized()) return bytes_to_planes_avx512(rgb, pixels, table, planes);
#endif
  bytes_to_planes_scalar(rgb, pixels, table, planes);
}

void patch_channel_values(const std::uint8_t* channel, std::size_t row_stride, int p, const float* table, float* out,
                          int copies, std::size_t copy_stride) {
#ifdef LMMS_X86_SIMD
  if (normalize_kernels_vectorized() && p >= 1 && p <= 16)
    return patch_channel_values_avx512(channel, row_stride, p, table, out, copies, copy_stride);
#endif
  patch_channel_values_scalar(channel, row_stride, p, table, out, copies, copy_stride);
}

void copy_streaming(const float* src, std::size_t count, float* dst) {
#ifdef LMMS_X86_SIMD
  if (cpu::has_avx512bw()) return copy_streaming_avx512(src, count, dst);
#endif
  std::memcpy(dst, src, count * sizeof(float));
}

void streaming_done() {
#ifdef LMMS_X86_SIMD
  _mm_sfence();  // streamed stores are weakly ordered: visible to other threads after this
#endif
}

}  // namespace lmms::processors::detail
#endif  // LMMS_IMPLEMENTATION
