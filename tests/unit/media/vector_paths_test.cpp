// The vectorized paths of the image pipeline (where this CPU has them) give the bytes of their
// portable loops. Resize weighted sums (media/resize_kernels.hpp): odd and even tap counts,
// negative weights, sums that clip below 0 and above 255, lengths that are not multiples of
// the vector blocks. Pixel transposes: full 16 x 16 blocks, ragged edges, strides wider than
// the rows, nothing written outside the destination's rows. The normalization lookups
// (processors/normalize_kernels.hpp): pixel counts around the 16-pixel blocks, patches of
// several sizes and copies, streamed copies at every alignment. The reference tests (image_reference_test.cpp) check
// whole resizes and pixel values, which use all of them, against PIL and transformers.
#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "lmms/media/resize_kernels.hpp"
#include "lmms/processors/normalize_kernels.hpp"
#include "lmms/processors/qwen2_vl.hpp"
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
  // one channel of a square patch, written once per copy, reading only the patch's bytes (the
  // image is exactly the patch's rows: a read past them would show under ASan)
  for (int p : {1, 2, 14, 16, 17}) {
    for (int copies : {1, 2, 3}) {
      const std::size_t row_stride = static_cast<std::size_t>(p + 3) * 3;  // wider than the patch
      std::vector<std::uint8_t> rgb(row_stride * static_cast<std::size_t>(p - 1) + static_cast<std::size_t>(p) * 3);
      for (auto& v : rgb) v = static_cast<std::uint8_t>(rng());
      const std::size_t block = static_cast<std::size_t>(p) * p, copy_stride = block + 5;
      std::vector<float> fast(copy_stride * static_cast<std::size_t>(copies), -1.0f), slow(fast);
      lmms::processors::detail::patch_channel_values(rgb.data() + 2, row_stride, p, table[2], fast.data(), copies, copy_stride);
      lmms::processors::detail::patch_channel_values_scalar(rgb.data() + 2, row_stride, p, table[2], slow.data(), copies,
                                                            copy_stride);
      CATCH_INFO(p << "x" << p << " patch, " << copies << " copies");
      CATCH_CHECK(fast == slow);
      CATCH_CHECK(slow[0] == table[2][rgb[2]]);
      CATCH_CHECK(slow[block - 1] == table[2][rgb[row_stride * static_cast<std::size_t>(p - 1) + static_cast<std::size_t>(p - 1) * 3 + 2]]);
      if (p > 1) CATCH_CHECK(slow[(copies - 1) * copy_stride + 1] == table[2][rgb[5]]);  // the last copy, second pixel
      CATCH_CHECK(fast[block] == -1.0f);  // nothing written between the copies
    }
  }
}

CATCH_TEST_CASE("copy_streaming copies every value, at any alignment", "[media][normalize]") {
  std::vector<float> src(3000);
  std::iota(src.begin(), src.end(), 0.5f);
  for (std::size_t offset : {0, 1, 7, 15, 16})
    for (std::size_t count : {0, 1, 15, 16, 17, 100, 2900}) {
      std::vector<float> dst(3000 + 32, -1.0f);
      lmms::processors::detail::copy_streaming(src.data(), count, dst.data() + offset);
      lmms::processors::detail::streaming_done();
      CATCH_INFO(count << " values at offset " << offset);
      CATCH_CHECK(std::equal(src.begin(), src.begin() + static_cast<std::ptrdiff_t>(count), dst.begin() + static_cast<std::ptrdiff_t>(offset)));
      CATCH_CHECK(dst[offset + count] == -1.0f);
      if (offset > 0) CATCH_CHECK(dst[offset - 1] == -1.0f);
    }
}

// Qwen2-VL's patch layout written the plain way, value by value, for the test below.
namespace {
std::vector<float> qwen2_vl_plain_layout(const std::vector<lmms::media::rgb_image>& frames,
                                         const lmms::processors::qwen2_vl_image_config& c) {
  const int p = c.patch_size, m = c.merge_size, tp = c.temporal_patch_size;
  const int w = frames[0].width, h = frames[0].height;
  const int groups = (static_cast<int>(frames.size()) + tp - 1) / tp;
  std::vector<float> out;
  for (int g = 0; g < groups; ++g)
    for (int bh = 0; bh < h / p / m; ++bh)
      for (int bw = 0; bw < w / p / m; ++bw)
        for (int mh = 0; mh < m; ++mh)
          for (int mw = 0; mw < m; ++mw)
            for (int ch = 0; ch < 3; ++ch)
              for (int t = 0; t < tp; ++t) {
                const auto& frame = frames[std::min<std::size_t>(frames.size() - 1, static_cast<std::size_t>(g * tp + t))];
                for (int py = 0; py < p; ++py)
                  for (int px = 0; px < p; ++px) {
                    const int v = frame.at((bw * m + mw) * p + px, (bh * m + mh) * p + py, ch);
                    out.push_back((static_cast<float>(static_cast<double>(v) * c.rescale_factor) - c.mean[ch]) / c.std[ch]);
                  }
              }
  return out;
}
}  // namespace

CATCH_TEST_CASE("Qwen2-VL patches: written in cache or streamed out, the plain layout's values", "[media][normalize]") {
  std::mt19937 rng(5);
  lmms::processors::qwen2_vl_image_config c;
  c.max_pixels = 28 * 28 * 16384;
  // sides that are multiples of 28 (no resize): 1120 x 1008 makes 27 MB of floats, past
  // streaming_from_bytes; 224 x 168 stays in cache. Videos of 3 frames: the last one repeats.
  for (auto [w, h] : {std::pair{1120, 1008}, std::pair{224, 168}})
    for (int frames : {1, 3}) {
      std::vector<lmms::media::rgb_image> images(static_cast<std::size_t>(frames));
      for (auto& img : images) {
        img.width = w;
        img.height = h;
        img.data.resize(static_cast<std::size_t>(w) * h * 3);
        for (std::size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<std::uint8_t>(rng());
      }
      const auto out = frames == 1 ? lmms::processors::qwen2_vl_preprocess(images[0], c)
                                   : lmms::processors::qwen2_vl_video_preprocess(images, c);
      const auto plain = qwen2_vl_plain_layout(images, c);
      CATCH_INFO(w << "x" << h << ", " << frames << " frames, " << out.data.size() * sizeof(float) / 1e6 << " MB");
      CATCH_REQUIRE(out.data.size() == plain.size());
      CATCH_CHECK(std::equal(plain.begin(), plain.end(), out.data.begin()));
    }
}
