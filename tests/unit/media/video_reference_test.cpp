// Video decoding and frame sampling against PyAV (tests/reference/families/videos.py): the
// frames lmms-finetune's loader samples (numpy arange over the container's frame count, or the
// packet count where the container has none), decoded to rgb24 byte for byte as PyAV does, for
// mp4 / H.264, webm / VP9, mkv / H.264, avi / MPEG-4 and a video shorter than the frames asked
// for, VP9 videos of odd sizes, H.264 tagged BT.709 in limited and full range, H.264 in 4:4:4
// and 4:2:2 of 8 and 10 bits and 10-bit 4:2:0 (chroma sited left, as H.264 decodes), VP9 4:4:4
// of an odd size; the yuv -> rgb
// converter alone on random planes of many sizes and colour tags; and bad files named in their
// messages.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

extern "C" {
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

#include "lmms/io/safetensors.hpp"
#include "lmms/media/video.hpp"
#include "lmms/media/yuv_rgb.hpp"
#include "support/test.hpp"

using namespace lmms;

namespace {
std::int64_t int64_at(const io::tensor_view& t, std::size_t i) {
  std::int64_t v = 0;
  std::memcpy(&v, t.bytes.data() + i * sizeof(v), sizeof(v));
  return v;
}
}  // namespace

namespace {
struct frame_difference {
  std::size_t differing = 0, bytes = 0;
  int worst = 0;
  double mean = 0;  // mean absolute difference in levels
};

// Samples `name` as lmms-finetune does, checks the sampled indices and frame count against
// PyAV's, and compares the frames byte for byte.
frame_difference compare_with_pyav(const io::safetensors_file& ref, const std::string& name) {
  const auto ref_dir = lmms::test::reference_dir();
  const auto* frames = ref.find(name + ".frames");
  const auto* indices = ref.find(name + ".indices");
  const auto* total = ref.find(name + ".total");
  CATCH_REQUIRE(frames);
  const int n = static_cast<int>(frames->shape[0]), h = static_cast<int>(frames->shape[1]),
            w = static_cast<int>(frames->shape[2]);
  auto info = media::probe_video(ref_dir / "videos" / name);
  CATCH_CHECK(info.width == w);
  CATCH_CHECK(info.height == h);
  CATCH_CHECK(info.frames == int64_at(*total, 0));
  auto v = media::load_video(ref_dir / "videos" / name, n);
  CATCH_REQUIRE(v.frames.size() == static_cast<std::size_t>(n));
  for (int k = 0; k < n; ++k) CATCH_CHECK(v.indices[k] == int64_at(*indices, k));
  frame_difference d;
  double sum = 0;
  const std::size_t frame_bytes = static_cast<std::size_t>(w) * h * 3;
  for (int k = 0; k < n; ++k) {
    CATCH_REQUIRE(v.frames[k].data.size() == frame_bytes);
    const auto* want = reinterpret_cast<const std::uint8_t*>(frames->bytes.data()) + k * frame_bytes;
    for (std::size_t i = 0; i < frame_bytes; ++i) {
      const int diff = std::abs(int(v.frames[k].data[i]) - int(want[i]));
      d.differing += diff != 0;
      d.worst = std::max(d.worst, diff);
      sum += diff;
    }
  }
  d.bytes = frame_bytes * n;
  d.mean = sum / static_cast<double>(d.bytes);
  std::printf("%s: %dx%d, %lld frames, sampled %d: %zu of %zu bytes differ from PyAV (max %d levels, mean %.3f)\n",
              name.c_str(), w, h, static_cast<long long>(info.frames), n, d.differing, d.bytes, d.worst, d.mean);
  return d;
}
}  // namespace

CATCH_TEST_CASE("video frames sampled and decoded as PyAV does", "[media][video][reference]") {
  auto ref = io::safetensors_file::open(lmms::test::reference_dir() / "outputs" / "videos.safetensors");
  for (const char* name : {"moving.mp4", "moving.webm", "moving.mkv", "moving.avi", "short.mp4", "odd.webm",
                           "odd_rows.webm", "odd_cols.webm", "bt709.mp4", "bt709_full.mp4", "yuv444.mp4", "yuv422.mp4",
                           "yuv444_odd.webm", "yuv420p10.mp4", "yuv422p10.mp4", "yuv444p10.mp4"}) {
    CATCH_INFO("video " << name);
    CATCH_CHECK(compare_with_pyav(ref, name).differing == 0);
  }
}


namespace {
// Converts every reference plane case named prefix.K.T (planes of `format`, samples of
// `bytes` bytes) and checks each against PyAV's rgb24; returns how many there were.
int check_plane_cases(const io::safetensors_file& ref, const std::string& prefix, AVPixelFormat format, std::size_t bytes) {
  SwsContext* sws = nullptr;
  int cases = 0;
  for (int k = 0;; ++k) {
    bool any = false;
    for (int t = 0;; ++t) {
      const std::string name = prefix + "." + std::to_string(k) + "." + std::to_string(t);
      const auto* info = ref.find(name + ".info");
      if (!info) break;
      any = true;
      const int w = static_cast<int>(int64_at(*info, 0)), h = static_cast<int>(int64_at(*info, 1));
      CATCH_INFO(name << ": " << w << "x" << h << ", colorspace " << int64_at(*info, 2) << ", range " << int64_at(*info, 3));
      AVFrame* frame = av_frame_alloc();
      frame->width = w;
      frame->height = h;
      frame->format = format;
      frame->colorspace = static_cast<AVColorSpace>(int64_at(*info, 2));
      frame->color_range = static_cast<AVColorRange>(int64_at(*info, 3));
      CATCH_REQUIRE(av_frame_get_buffer(frame, 0) == 0);
      const char* keys[3] = {".y", ".u", ".v"};
      for (int p = 0; p < 3; ++p) {
        const auto* plane = ref.find(name + keys[p]);
        CATCH_REQUIRE(plane);
        const auto rows = static_cast<std::size_t>(plane->shape[0]), row_bytes = static_cast<std::size_t>(plane->shape[1]) * bytes;
        for (std::size_t y = 0; y < rows; ++y)
          std::memcpy(frame->data[p] + y * static_cast<std::size_t>(frame->linesize[p]), plane->bytes.data() + y * row_bytes,
                      row_bytes);
      }
      const auto rgb = media::frame_to_rgb(frame, sws, name);
      av_frame_free(&frame);
      const auto* want = ref.find(name + ".rgb");
      CATCH_REQUIRE(want);
      CATCH_REQUIRE(rgb.data.size() == want->bytes.size());
      std::size_t differing = 0;
      int worst = 0;
      for (std::size_t i = 0; i < rgb.data.size(); ++i) {
        const int diff = std::abs(int(rgb.data[i]) - int(static_cast<std::uint8_t>(want->bytes[i])));
        differing += diff != 0;
        worst = std::max(worst, diff);
      }
      if (differing) std::printf("%s (%dx%d): %zu bytes differ from PyAV, max %d levels\n", name.c_str(), w, h, differing, worst);
      CATCH_CHECK(differing == 0);
      ++cases;
    }
    if (!any) break;
  }
  sws_freeContext(sws);
  return cases;
}
}  // namespace

CATCH_TEST_CASE("yuv420p planes of any size and colour tags convert to PyAV's rgb24", "[media][video][reference]") {
  auto ref = io::safetensors_file::open(lmms::test::reference_dir() / "outputs" / "videos.safetensors");
  // 19 sizes; three of them under all six tags (tests/reference/families/videos.py)
  CATCH_CHECK(check_plane_cases(ref, "planes", AV_PIX_FMT_YUV420P, 1) == 34);
}

CATCH_TEST_CASE("10-bit yuv420p planes of any size and colour tags convert to PyAV's rgb24", "[media][video][reference]") {
  auto ref = io::safetensors_file::open(lmms::test::reference_dir() / "outputs" / "videos.safetensors");
  // 8 sizes (odd and even, 1x1 to 130x31); 71x51 under all six tags
  CATCH_CHECK(check_plane_cases(ref, "planes10", AV_PIX_FMT_YUV420P10LE, 2) == 13);
}

CATCH_TEST_CASE("frame sampling follows numpy's arange over the frame count", "[media][video]") {
  CATCH_CHECK(media::sample_frame_indices(100, 8) == std::vector<std::int64_t>{0, 12, 25, 37, 50, 62, 75, 87});
  CATCH_CHECK(media::sample_frame_indices(10, 3) == std::vector<std::int64_t>{0, 3, 6});
  CATCH_CHECK(media::sample_frame_indices(3, 3) == std::vector<std::int64_t>{0, 1, 2});
  CATCH_CHECK(media::sample_frame_indices(2, 4) == std::vector<std::int64_t>{0, 0, 1, 1});
  CATCH_CHECK_THROWS_WITH(media::sample_frame_indices(0, 4), Catch::Matchers::Contains("no frames"));
}

CATCH_TEST_CASE("bad video files are errors naming the file", "[media][video][reference]") {
  auto dir = lmms::test::reference_dir() / "videos";
  CATCH_CHECK_THROWS_WITH(media::load_video(dir / "missing.mp4", 4), Catch::Matchers::Contains("missing.mp4 does not exist"));
  CATCH_CHECK_THROWS_WITH(media::load_video(dir / "empty.mp4", 4), Catch::Matchers::Contains("empty.mp4"));
  CATCH_CHECK_THROWS_WITH(media::load_video(dir / "not_a_video.mp4", 4), Catch::Matchers::Contains("not_a_video.mp4"));
  CATCH_CHECK_THROWS_WITH(media::load_video(dir / "truncated.mp4", 8), Catch::Matchers::Contains("truncated.mp4"));
}
