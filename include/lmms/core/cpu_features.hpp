// lmms/core/cpu_features.hpp: what the running CPU can do, for the hand-vectorized loops of the
// image pipeline (media/resize_kernels.hpp, processors/normalize_kernels.hpp; media/png.hpp
// needs only SSE2, which every x86-64 CPU has).
// Those loops are compiled with per-function target attributes wherever LMMS_X86_SIMD is
// defined (x86-64, GCC or clang) and taken only where these say the CPU has the instructions;
// otherwise the portable loops run (same bytes).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LMMS_X86_SIMD 1
#endif

// Before a loop over a fixed array of registers: unrolled, the array lives in registers; at -O2
// GCC keeps the loop and the array on the stack (every step a store and a load).
#if defined(__GNUC__)
#define LMMS_UNROLL_ALL _Pragma("GCC unroll 16")
#else
#define LMMS_UNROLL_ALL
#endif

namespace lmms::cpu {

/// BMI2 (shifts by a register in one cycle, without the flags: the JPEG entropy decoder,
/// media/jpeg_huffman.hpp).
inline bool has_bmi2() {
#ifdef LMMS_X86_SIMD
  static const bool has = __builtin_cpu_supports("bmi2");
  return has;
#else
  return false;
#endif
}

/// AVX-512 F and BW: 512-bit integer lanes down to bytes.
inline bool has_avx512bw() {
#ifdef LMMS_X86_SIMD
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return has;
#else
  return false;
#endif
}

/// AVX-512 BW and VNNI (16-bit dot products accumulated in 32-bit lanes).
inline bool has_avx512_vnni() {
#ifdef LMMS_X86_SIMD
  static const bool has = has_avx512bw() && __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}

/// AVX-512 BW, VL and VBMI (byte permutes across the whole register; masks on 128-bit lanes).
inline bool has_avx512_vbmi() {
#ifdef LMMS_X86_SIMD
  static const bool has =
      has_avx512bw() && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi");
  return has;
#else
  return false;
#endif
}

}  // namespace lmms::cpu
