// Image decoding, PIL-exact resizing and the CLIP processor against PIL and transformers
// (tests/reference/families/images.py): resized pixels byte for byte, pixel_values exactly.
#include <cstring>
#include <fstream>
#include <sstream>

#include "lmms/io/safetensors.hpp"
#include "lmms/media/image.hpp"
#include "lmms/media/resize.hpp"
#include "lmms/processors/clip.hpp"
#include "support/test.hpp"

using namespace lmms;

CATCH_TEST_CASE("PIL-exact resize and CLIP pixel values", "[media][reference]") {
  auto ref_dir = lmms::test::reference_dir();
  auto ref = io::safetensors_file::open(ref_dir / "outputs" / "images.safetensors");
  std::size_t resizes = 0, resize_mismatch = 0, clips = 0;
  int worst_level = 0;
  double worst_pixel_value = 0;
  std::string first_failure;
  for (const auto& t : ref.tensors()) {
    std::stringstream parts(t.name);
    std::string kind, name, rest;
    std::getline(parts, kind, '.');
    std::getline(parts, name, '.');
    std::getline(parts, rest);
    auto img = media::load_image(ref_dir / "images" / (name + ".png"));
    if (kind == "resize") {
      auto dot = rest.find('.'), x = rest.find('x', dot);
      std::string filter = rest.substr(0, dot);
      int w = std::stoi(rest.substr(dot + 1, x - dot - 1)), h = std::stoi(rest.substr(x + 1));
      auto f = filter == "bilinear" ? media::resample::bilinear : filter == "bicubic" ? media::resample::bicubic : media::resample::lanczos;
      auto out = media::resize(img, w, h, f);
      ++resizes;
      CATCH_REQUIRE(t.bytes.size() == out.data.size());
      int level = 0;
      for (std::size_t i = 0; i < out.data.size(); ++i)
        level = std::max(level, std::abs(int(out.data[i]) - int(static_cast<std::uint8_t>(t.bytes[i]))));
      if (level > 0) first_failure += t.name + "(" + std::to_string(level) + ") ";
      resize_mismatch += level > 0;
      worst_level = std::max(worst_level, level);
    } else if (kind == "clip") {
      processors::clip_config cfg;
      cfg.shortest_edge = cfg.crop_height = cfg.crop_width = std::stoi(rest);
      auto pv = processors::clip_preprocess(img, cfg);
      CATCH_REQUIRE(t.bytes.size() == pv.data.size() * sizeof(float));
      std::vector<float> want(pv.data.size());
      std::memcpy(want.data(), t.bytes.data(), t.bytes.size());
      for (std::size_t i = 0; i < want.size(); ++i) worst_pixel_value = std::max(worst_pixel_value, double(std::fabs(want[i] - pv.data[i])));
      ++clips;
    }
  }
  std::printf("%zu PIL resizes: %zu differ (worst %d levels; first %s); %zu CLIP pixel_values: max abs diff %.3g\n", resizes,
              resize_mismatch, worst_level, first_failure.c_str(), clips, worst_pixel_value);
  CATCH_CHECK(resizes >= 100);
  CATCH_CHECK(resize_mismatch == 0);
  CATCH_CHECK(clips >= 27);
  CATCH_CHECK(worst_pixel_value <= 1e-6);
}

CATCH_TEST_CASE("bad image files are named in the error", "[media]") {
  CATCH_CHECK_THROWS_WITH(media::load_image("/nonexistent/x.png"), Catch::Matchers::Contains("image /nonexistent/x.png does not exist"));
  auto dir = lmms::test::scratch_dir("bad_images");
  { std::ofstream(dir / "broken.png") << "\x89PNG\r\n\x1a\n garbage"; }
  CATCH_CHECK_THROWS_WITH(media::load_image(dir / "broken.png"), Catch::Matchers::Contains("cannot decode image"));
  CATCH_CHECK(processors::shortest_edge_size(480, 640, 224) == std::pair<int, int>{224, 298});
  CATCH_CHECK(processors::shortest_edge_size(500, 3, 224) == std::pair<int, int>{37333, 224});
}
