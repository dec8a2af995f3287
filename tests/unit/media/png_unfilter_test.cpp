// PNG row filters (media/png.hpp): the SSE2 path for 3 and 4 bytes a pixel gives the bytes of
// the specification's byte-at-a-time loop for every filter, pixel size and row length, rows
// chained as in an image (each the next one's prior). The reference PNG tests
// (image_reference_test.cpp) check whole files against PIL.
#include <random>
#include <vector>

#include "lmms/media/png.hpp"
#include "support/test.hpp"

CATCH_TEST_CASE("PNG unfiltering: the SSE2 path equals the byte loop", "[media][png]") {
  using lmms::media::detail::unfilter_row;
  using lmms::media::detail::unfilter_row_scalar;
  std::mt19937 rng(7);
  std::size_t rows_checked = 0;
  for (std::size_t bpp = 1; bpp <= 4; ++bpp) {
    for (std::size_t width : {1, 2, 3, 5, 16, 333}) {
      const std::size_t length = width * bpp, height = 12;
      std::vector<std::uint8_t> filtered(length * height), filters(height);
      for (auto& v : filtered) v = static_cast<std::uint8_t>(rng());
      // smooth rows too, where Paeth's ties between a, b and c are common
      for (std::size_t i = 0; i < length * 4; ++i) filtered[i] = static_cast<std::uint8_t>(i % 3);
      for (std::size_t y = 0; y < height; ++y) filters[y] = static_cast<std::uint8_t>(y % 5);
      // one byte past the image: a write past the row would show
      std::vector<std::uint8_t> fast(length * height + 1, 0xa5), slow(length * height + 1, 0xa5), zeros(length, 0);
      for (std::size_t y = 0; y < height; ++y) {
        const std::uint8_t* prior_fast = y ? fast.data() + (y - 1) * length : zeros.data();
        const std::uint8_t* prior_slow = y ? slow.data() + (y - 1) * length : zeros.data();
        CATCH_REQUIRE(unfilter_row(filters[y], filtered.data() + y * length, prior_fast, fast.data() + y * length, length, bpp));
        CATCH_REQUIRE(unfilter_row_scalar(filters[y], filtered.data() + y * length, prior_slow, slow.data() + y * length, length, bpp));
        ++rows_checked;
      }
      CATCH_INFO("bpp " << bpp << ", width " << width);
      CATCH_CHECK(fast == slow);
    }
  }
  CATCH_CHECK(rows_checked == 4 * 6 * 12);
  std::vector<std::uint8_t> row(6), out(6);
  CATCH_CHECK_FALSE(unfilter_row(5, row.data(), row.data(), out.data(), 6, 3));  // filter types are 0 to 4
}
