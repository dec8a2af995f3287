// The vectorized paths of the image pipeline (where this CPU has them) give the bytes of their
// portable loops. Resize weighted sums (media/resize_kernels.hpp): odd and even tap counts,
// negative weights, sums that clip below 0 and above 255, lengths that are not multiples of
// the vector blocks. Pixel transposes: full 16 x 16 blocks, ragged edges, strides wider than
// the rows, nothing written outside the destination's rows. The normalization lookups
// (processors/normalize_kernels.hpp): pixel counts around the 16-pixel blocks. The reference tests (image_reference_test.cpp) check
// whole resizes and pixel values, which use all of them, against PIL and transformers.
#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "lmms/media/resize_kernels.hpp"
#include "lmms/processors/normalize_kernels.hpp"
#include "support/test.hpp"

CATCH_TEST_CASE("RGB transpose: the vectorized path equals the pixel loop", "[media][transpose]") {
  using lmms::media::detail::transpose_rgb;
  using lmms::media::detail::transpose_rgb_scalar;
  std::mt19937 rng(11);
  const std::pair<int, int> shapes[] = {{1, 1}, {16, 16}, {17, 16}, {16, 33}, {48, 32}, {5, 70}, {70, 5}, {100, 47}};
  for (const auto& [rows, cols] : shapes) {
    const std::size_t src_stride = static_cast<std::size_t>(cols) * 3 + 7;  // padded rows
    const std::size_t dst_stride = static_cast<std::size_t>(rows) * 3 + 5;
    std::vector<std::uint8_t> src(static_cast<std::size_t>(rows) * src_stride);
    for (auto& v : src) v = static_cast<std::uint8_t>(rng());
    std::vector<std::uint8_t> fast(static_cast<std::size_t>(cols) * dst_stride, 0xa5), slow(fast);
    transpose_rgb(src.data(), src_stride, fast.data(), dst_stride, rows, cols);
    transpose_rgb_scalar(src.data(), src_stride, slow.data(), dst_stride, rows, cols);
    CATCH_INFO(rows << " x " << cols << (lmms::media::detail::transpose_rgb_vectorized() ? " (AVX-512)" : " (scalar)"));
    CATCH_CHECK(fast == slow);  // the padding bytes past each row stayed 0xa5 in both
    bool exact = true;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c)
        for (int ch = 0; ch < 3; ++ch)
          exact = exact && fast[static_cast<std::size_t>(c) * dst_stride + static_cast<std::size_t>(r) * 3 + ch] ==
                               src[static_cast<std::size_t>(r) * src_stride + static_cast<std::size_t>(c) * 3 + ch];
    CATCH_CHECK(exact);
    CATCH_CHECK(fast[static_cast<std::size_t>(rows) * 3] == 0xa5);
  }
}

CATCH_TEST_CASE("resize weighted sums: the VNNI path equals the portable loop", "[media][resize]") {
  using lmms::media::detail::weighted_sums;
  using lmms::media::detail::weighted_sums_portable;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> weight(-(1 << 21), 1 << 22);  // PIL's 22-bit weights, bicubic's negative lobes
  std::size_t clipped_low = 0, clipped_high = 0;
  for (int n : {1, 2, 3, 7, 20, 41}) {
    for (std::size_t count : {std::size_t{1}, std::size_t{31}, std::size_t{64}, std::size_t{100}, std::size_t{1008}}) {
      const std::size_t stride = count + 3;
      std::vector<std::uint8_t> src(static_cast<std::size_t>(n) * stride);
      for (auto& v : src) v = static_cast<std::uint8_t>(rng());
      std::vector<int> weights(static_cast<std::size_t>(n));
      for (auto& w : weights) w = weight(rng) / n;
      weights[0] += (1 << 22) - std::accumulate(weights.begin(), weights.end(), 0);  // summing to 1.0, as normalized
      std::vector<std::uint8_t> fast(count + 1, 0xa5), slow(count + 1, 0xa5);
      weighted_sums(src.data(), stride, weights.data(), n, count, fast.data());
      weighted_sums_portable(src.data(), stride, weights.data(), n, count, slow.data());
      CATCH_INFO(n << " taps, " << count << " sums" << (lmms::media::detail::weighted_sums_vnni() ? " (VNNI)" : ""));
      CATCH_CHECK(fast == slow);
      clipped_low += static_cast<std::size_t>(std::count(slow.begin(), slow.end() - 1, 0));
      clipped_high += static_cast<std::size_t>(std::count(slow.begin(), slow.end() - 1, 255));
    }
  }
  CATCH_CHECK(clipped_low > 0);  // both clipping ends were exercised
  CATCH_CHECK(clipped_high > 0);
}

CATCH_TEST_CASE("resize weighted sums are PIL's fixed-point arithmetic", "[media][resize]") {
  // 3 taps weighted 0.25 / 0.5 / 0.25 in 22-bit fixed point: (2^21 + sum) >> 22, rounding half up
  const std::uint8_t src[] = {10, 200, 255, 0, 30, 255, 101, 40, 255};  // tap x's 3 bytes at src + 3x
  const int weights[] = {1 << 20, 1 << 21, 1 << 20};
  std::uint8_t out[3];
  lmms::media::detail::weighted_sums(src, 3, weights, 3, 3, out);
  CATCH_CHECK(out[0] == 28);   // 2.5 + 0 + 25.25 = 27.75
  CATCH_CHECK(out[1] == 75);   // 50 + 15 + 10 = 75 (+ 0.5, floored)
  CATCH_CHECK(out[2] == 255);  // 255 exactly
}

CATCH_TEST_CASE("normalization lookups: the vectorized paths equal the pixel loops", "[media][normalize]") {
  std::mt19937 rng(3);
  float table[3][256];
  for (int c = 0; c < 3; ++c)
    for (int b = 0; b < 256; ++b) table[c][b] = static_cast<float>(c * 1000 + b) * 0.5f - 7.0f;  // distinct per channel
  for (std::size_t pixels : {std::size_t{1}, std::size_t{15}, std::size_t{16}, std::size_t{17}, std::size_t{336 * 336}}) {
    std::vector<std::uint8_t> rgb(pixels * 3);
    for (auto& v : rgb) v = static_cast<std::uint8_t>(rng());
    std::vector<float> fast(pixels * 3 + 1, -1.0f), slow(pixels * 3 + 1, -1.0f);
    lmms::processors::detail::bytes_to_planes(rgb.data(), pixels, table, fast.data());
    lmms::processors::detail::bytes_to_planes_scalar(rgb.data(), pixels, table, slow.data());
    CATCH_INFO(pixels << " pixels" << (lmms::processors::detail::normalize_kernels_vectorized() ? " (AVX-512 VBMI)" : ""));
    CATCH_CHECK(fast == slow);
    CATCH_CHECK(slow[pixels] == table[1][rgb[1]]);  // green plane, first pixel
    CATCH_CHECK(fast[pixels * 3] == -1.0f);          // nothing written past the planes
  }
  // one channel of a run of pixels (a patch row), reading only the bytes it needs
  for (int count : {0, 1, 14, 16, 17, 40}) {
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(count) * 3 + 1);
    for (auto& v : rgb) v = static_cast<std::uint8_t>(rng());
    std::vector<float> fast(static_cast<std::size_t>(count) + 1, -1.0f), slow(fast);
    lmms::processors::detail::channel_bytes_to_values(rgb.data() + 1, count, table[1], fast.data());
    lmms::processors::detail::channel_bytes_to_values_scalar(rgb.data() + 1, count, table[1], slow.data());
    CATCH_INFO(count << " values");
    CATCH_CHECK(fast == slow);
    CATCH_CHECK(fast[static_cast<std::size_t>(count)] == -1.0f);
    if (count > 0) CATCH_CHECK(slow[0] == table[1][rgb[1]]);
  }
}
