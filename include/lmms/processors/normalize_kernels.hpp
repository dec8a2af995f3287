// lmms/processors/normalize_kernels.hpp: the last step of the image processors, 8-bit RGB to
// rescaled and normalized floats. Each processor computes its float for every (channel, byte)
// once, with transformers' arithmetic, into a table; these loops look the bytes up:
// - bytes_to_planes: interleaved pixels to (channel, height, width) planes (CLIP, SigLIP and
//   the anyres tiles);
// - channel_bytes_to_values: one channel of a run of pixels to consecutive floats (a row of a
//   Qwen2-VL patch).
// With AVX-512 VBMI, 16 pixels at a time: the channel's bytes picked by one byte permute, the
// floats gathered from the same table (identical values); else a pixel at a time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lmms::processors::detail {

/// planes[c * pixels + i] = table[c][rgb[3 * i + c]] for i < pixels, c < 3.
void bytes_to_planes(const std::uint8_t* rgb, std::size_t pixels, const float (*table)[256], float* planes);
void bytes_to_planes_scalar(const std::uint8_t* rgb, std::size_t pixels, const float (*table)[256], float* planes);

/// out[i] = table[channel[3 * i]] for i < count: `channel` points at one channel's byte of the
/// first pixel of interleaved RGB (reads bytes channel[0] to channel[3 * (count - 1)] only).
void channel_bytes_to_values(const std::uint8_t* channel, int count, const float* table, float* out);
void channel_bytes_to_values_scalar(const std::uint8_t* channel, int count, const float* table, float* out);

/// Whether the AVX-512 VBMI paths run on this CPU.
bool normalize_kernels_vectorized();

}  // namespace lmms::processors::detail

#ifdef LMMS_IMPLEMENTATION
#include "lmms/core/cpu_features.hpp"

namespace lmms::processors::detail {

void bytes_to_planes_scalar(const std::uint8_t* rgb, std::size_t pixels, const float (*table)[256], float* planes) {
  for (int c = 0; c < 3; ++c) {  // plane by plane: each written in order
    float* plane = planes + static_cast<std::size_t>(c) * pixels;
    const float* t = table[c];
    for (std::size_t i = 0; i < pixels; ++i) plane[i] = t[rgb[i * 3 + c]];
  }
}

void channel_bytes_to_values_scalar(const std::uint8_t* channel, int count, const float* table, float* out) {
  for (int i = 0; i < count; ++i) out[i] = table[channel[3 * i]];
}

#ifdef LMMS_X86_SIMD
namespace {
#define LMMS_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi")))

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

LMMS_VBMI void channel_bytes_to_values_avx512(const std::uint8_t* channel, int count, const float* table, float* out) {
  const __m512i pick = every_third_byte(0);
  int i = 0;
  for (; i < count; i += 16) {
    const int n = count - i < 16 ? count - i : 16;
    const __mmask64 load = (__mmask64{1} << (3 * (n - 1) + 1)) - 1;  // bytes 0 .. 3(n - 1): nothing past the last
    const __m512i bytes = _mm512_maskz_loadu_epi8(load, channel + 3 * i);
    _mm512_mask_storeu_ps(out + i, static_cast<__mmask16>((1u << n) - 1), look_up_16(bytes, pick, table));
  }
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

void channel_bytes_to_values(const std::uint8_t* channel, int count, const float* table, float* out) {
#ifdef LMMS_X86_SIMD
  if (normalize_kernels_vectorized()) return channel_bytes_to_values_avx512(channel, count, table, out);
#endif
  channel_bytes_to_values_scalar(channel, count, table, out);
}

}  // namespace lmms::processors::detail
#endif  // LMMS_IMPLEMENTATION
