// Pixel transposes (media/transpose.hpp): the AVX-512 path (where this CPU has it) gives the
// bytes of the pixel-at-a-time loop for full 16 x 16 blocks, ragged edges and strides wider
// than the rows, and writes nothing outside the destination's rows. The resize reference tests
// (image_reference_test.cpp) check whole resizes, which use it, against PIL.
#include <random>
#include <vector>

#include "lmms/media/transpose.hpp"
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
