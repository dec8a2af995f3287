// Image decoding, PIL-exact resizing and the CLIP processor against PIL and transformers
// (tests/reference/families/images.py): resized pixels byte for byte, pixel_values exactly;
// Llama-3.2-Vision's tiles, aspect ratio ids and masks as MllamaImageProcessor makes them.
#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "lmms/io/safetensors.hpp"
#include "lmms/media/image.hpp"
#include "lmms/media/png.hpp"
#include "lmms/media/resize.hpp"
#include "lmms/processors/clip.hpp"
#include "lmms/processors/mllama.hpp"
#include "support/test.hpp"

using namespace lmms;

CATCH_TEST_CASE("PIL-exact resize and CLIP pixel values", "[media][reference]") {
  auto ref_dir = lmms::test::reference_dir();
  auto ref = io::safetensors_file::open(ref_dir / "outputs" / "images.safetensors");
  std::size_t resizes = 0, resize_mismatch = 0, clips = 0, crops = 0;
  int worst_level = 0;
  double worst_pixel_value = 0;
  std::string first_failure;
  for (const auto& t : ref.tensors()) {
    std::stringstream parts(t.name);
    std::string kind, name, rest;
    std::getline(parts, kind, '.');
    std::getline(parts, name, '.');
    std::getline(parts, rest);
    if (kind == "jpeg" || kind == "mllama" || kind == "png") continue;  // their own test cases
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
    } else if (kind == "clip" || kind == "clipcrop") {
      processors::clip_config cfg;
      if (kind == "clip") {
        cfg.shortest_edge = cfg.crop_height = cfg.crop_width = std::stoi(rest);
      } else {  // the center crop alone, zero-padded where the image is smaller
        cfg.do_resize = false;
        cfg.crop_height = 40;
        cfg.crop_width = 33;
        ++crops;
      }
      auto pv = processors::clip_preprocess(img, cfg);
      CATCH_REQUIRE(t.bytes.size() == pv.data.size() * sizeof(float));
      std::vector<float> want(pv.data.size());
      std::memcpy(want.data(), t.bytes.data(), t.bytes.size());
      for (std::size_t i = 0; i < want.size(); ++i) worst_pixel_value = std::max(worst_pixel_value, double(std::fabs(want[i] - pv.data[i])));
      ++clips;
    }
  }
  std::printf("%zu PIL resizes: %zu differ (worst %d levels; first %s); %zu CLIP pixel_values (%zu crops alone): max abs "
              "diff %.3g\n", resizes, resize_mismatch, worst_level, first_failure.c_str(), clips, crops, worst_pixel_value);
  CATCH_CHECK(resizes >= 100);
  CATCH_CHECK(resize_mismatch == 0);
  CATCH_CHECK(clips >= 27);
  CATCH_CHECK(crops >= 9);
  CATCH_CHECK(worst_pixel_value <= 1e-6);
}

CATCH_TEST_CASE("JPEG files decode to PIL's pixels", "[media][reference][jpeg]") {
  auto ref_dir = lmms::test::reference_dir();
  auto ref = io::safetensors_file::open(ref_dir / "outputs" / "images.safetensors");
  std::size_t checked = 0;
  for (const auto& t : ref.tensors()) {
    if (t.name.rfind("jpeg.", 0) != 0) continue;
    const std::string name = t.name.substr(5);
    CATCH_INFO(name);
    auto img = media::load_image(ref_dir / "images" / "jpeg" / (name + ".jpg"));
    CATCH_REQUIRE(t.shape == std::vector<std::int64_t>{img.height, img.width, 3});
    std::size_t differing = 0;
    for (std::size_t i = 0; i < img.data.size(); ++i) differing += img.data[i] != static_cast<std::uint8_t>(t.bytes[i]);
    if (differing) std::printf("  %s: %zu bytes differ from PIL\n", name.c_str(), differing);
    CATCH_CHECK(differing == 0);
    ++checked;
  }
  std::printf("%zu JPEG files (4:2:0, 4:2:2, 4:4:4, progressive, optimized, restart markers, grey, odd sizes) decoded\n",
              checked);
  CATCH_CHECK(checked == 11);
}

CATCH_TEST_CASE("JPEG part decoding: PIL's pixels inside the part, CLIP's pixel values unchanged", "[media][reference][jpeg]") {
  auto ref_dir = lmms::test::reference_dir();
  auto ref = io::safetensors_file::open(ref_dir / "outputs" / "images.safetensors");
  std::mt19937 rng(17);
  std::size_t parts = 0;
  for (const auto& t : ref.tensors()) {
    if (t.name.rfind("jpeg.", 0) != 0) continue;
    const std::string name = t.name.substr(5);
    const auto file = ref_dir / "images" / "jpeg" / (name + ".jpg");
    const int width = static_cast<int>(t.shape[1]), height = static_cast<int>(t.shape[0]);
    // parts at the edges, in the middle, one pixel, and random ones; iMCU-aligned and not
    std::vector<media::pixel_rect> rects{{0, 0, 1, 1}, {width - 1, height - 1, 1, 1}, {width / 4, height / 4, width / 2, height / 2},
                                         {0, height / 3, width, 17}, {width / 3, 0, 9, height}, {16, 16, 16, 16}};
    for (int i = 0; i < 8; ++i) {
      const int x = static_cast<int>(rng() % static_cast<unsigned>(width)), y = static_cast<int>(rng() % static_cast<unsigned>(height));
      rects.push_back({x, y, 1 + static_cast<int>(rng() % static_cast<unsigned>(width - x)),
                       1 + static_cast<int>(rng() % static_cast<unsigned>(height - y))});
    }
    for (auto r : rects) {
      r.x = std::min(r.x, width - 1), r.y = std::min(r.y, height - 1);  // inside the image (tiny is 1x1)
      r.width = std::min(r.width, width - r.x), r.height = std::min(r.height, height - r.y);
      auto img = media::load_image(file, [&](int w, int h) {
        CATCH_CHECK((w == width && h == height));
        return r;
      });
      CATCH_REQUIRE((img.width == width && img.height == height));
      std::size_t differing = 0;
      for (int y = r.y; y < r.y + r.height; ++y)
        for (int x = r.x; x < r.x + r.width; ++x)
          for (int c = 0; c < 3; ++c)
            differing += img.at(x, y, c) != static_cast<std::uint8_t>(t.bytes[(static_cast<std::size_t>(y) * width + x) * 3 + c]);
      CATCH_INFO(name << ": part " << r.width << "x" << r.height << " at (" << r.x << ", " << r.y << ")");
      CATCH_CHECK(differing == 0);
      ++parts;
    }
    // CLIP 336 and 224 (a crop inside the resize, so a part) and SigLIP-style 384 (no crop: all)
    for (int edge : {336, 224, 384}) {
      processors::clip_config cfg;
      cfg.shortest_edge = edge;
      cfg.crop_height = cfg.crop_width = edge;
      cfg.do_center_crop = edge != 384;
      const auto whole = processors::clip_preprocess(media::load_image(file), cfg);
      const auto part = processors::clip_preprocess(
          media::load_image(file, [&](int w, int h) { return processors::clip_source_rect(w, h, cfg); }), cfg);
      CATCH_INFO(name << ": CLIP " << edge);
      CATCH_CHECK(std::equal(whole.data.begin(), whole.data.end(), part.data.begin(), part.data.end()));
    }
  }
  std::printf("%zu JPEG parts decoded\n", parts);
  CATCH_CHECK(parts == 11 * 14);
}

namespace {
// A 97x61 image with a non-repeating byte pattern, for the resize equivalence checks
media::rgb_image patterned_image() {
  media::rgb_image img;
  img.width = 97;
  img.height = 61;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < 3; ++c) img.data.push_back(static_cast<std::uint8_t>((x * 37 + y * 91 + c * 53 + x * y) % 256));
  return img;
}
}  // namespace

CATCH_TEST_CASE("resize_window gives exactly the window of the whole resize", "[media][resize]") {
  // what clip_preprocess uses for resize + center crop: every filter, down and up, windows
  // touching each edge, one-axis resizes and no resize at all
  const media::rgb_image img = patterned_image();
  std::size_t checked = 0;
  for (auto f : {media::resample::nearest, media::resample::bilinear, media::resample::bicubic, media::resample::lanczos})
    for (auto [w, h] : {std::pair{40, 25}, std::pair{150, 90}, std::pair{97, 30}, std::pair{33, 61}, std::pair{97, 61}}) {
      const media::rgb_image whole = media::resize(img, w, h, f);
      for (auto [x, y, ww, wh] : {std::array{0, 0, w, h}, std::array{w / 4, h / 3, w / 2, h / 2},
                                  std::array{w - 7, h - 5, 7, 5}, std::array{0, h / 2, w, 1}, std::array{w / 2, 0, 1, h}}) {
        CATCH_INFO("filter " << int(f) << ", " << w << "x" << h << ", window " << ww << "x" << wh << " at " << x << "," << y);
        auto win = media::resize_window(img, w, h, f, x, y, ww, wh);
        CATCH_REQUIRE(win.width == ww);
        CATCH_REQUIRE(win.height == wh);
        bool same = true;
        for (int yy = 0; yy < wh; ++yy)
          for (int xx = 0; xx < ww; ++xx)
            for (int c = 0; c < 3; ++c) same = same && win.at(xx, yy, c) == whole.at(x + xx, y + yy, c);
        CATCH_CHECK(same);
        // resize_window_source names every pixel the window reads: the rest scrambled, the same bytes
        const media::pixel_rect r = media::resize_window_source(img.width, img.height, w, h, f, x, y, ww, wh);
        CATCH_REQUIRE((r.x >= 0 && r.y >= 0 && r.x + r.width <= img.width && r.y + r.height <= img.height));
        media::rgb_image scrambled = img;
        for (int yy = 0; yy < img.height; ++yy)
          for (int xx = 0; xx < img.width; ++xx)
            if (xx < r.x || xx >= r.x + r.width || yy < r.y || yy >= r.y + r.height)
              for (int c = 0; c < 3; ++c) scrambled.data[(static_cast<std::size_t>(yy) * img.width + xx) * 3 + c] ^= 0x5a;
        const auto from_part = media::resize_window(scrambled, w, h, f, x, y, ww, wh);
        CATCH_CHECK(std::equal(win.data.begin(), win.data.end(), from_part.data.begin(), from_part.data.end()));
        ++checked;
      }
    }
  CATCH_CHECK(checked == 100);
  CATCH_CHECK_THROWS_WITH(media::resize_window(img, 40, 25, media::resample::bicubic, 30, 0, 20, 25),
                          Catch::Matchers::Contains("is not inside the 40x25 resize"));
}

CATCH_TEST_CASE("resize_each gives each resize's bytes", "[media][resize]") {
  // anyres resizes each image to the base tile and the best resolution with one transpose
  const media::rgb_image img = patterned_image();
  const std::vector<std::pair<int, int>> sizes = {{40, 25}, {150, 90}, {97, 30}, {33, 61}, {97, 61}, {1, 1}, {336, 336}};
  std::size_t checked = 0;
  for (auto f : {media::resample::nearest, media::resample::bilinear, media::resample::bicubic, media::resample::lanczos}) {
    const auto each = media::resize_each(img, sizes, f);
    CATCH_REQUIRE(each.size() == sizes.size());
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      CATCH_INFO("filter " << int(f) << ", " << sizes[i].first << "x" << sizes[i].second);
      const auto one = media::resize(img, sizes[i].first, sizes[i].second, f);
      CATCH_CHECK(each[i].width == one.width);
      CATCH_CHECK(each[i].height == one.height);
      CATCH_CHECK(std::equal(each[i].data.begin(), each[i].data.end(), one.data.begin(), one.data.end()));
      ++checked;
    }
  }
  CATCH_CHECK(checked == 28);
}

CATCH_TEST_CASE("PNG files decode to PIL's pixels", "[media][reference][png]") {
  // grey, grey + alpha, RGB, RGBA through lmms's inflate + unfilter (media/png.hpp), every row
  // filter among them; palette through stb_image; a truncated or damaged one is still named
  auto ref_dir = lmms::test::reference_dir();
  auto ref = io::safetensors_file::open(ref_dir / "outputs" / "images.safetensors");
  std::size_t checked = 0;
  for (const auto& t : ref.tensors()) {
    if (t.name.rfind("png.", 0) != 0) continue;
    const std::string name = t.name.substr(4);
    CATCH_INFO(name);
    auto img = media::load_image(ref_dir / "images" / "png" / (name + ".png"));
    CATCH_REQUIRE(t.shape == std::vector<std::int64_t>{img.height, img.width, 3});
    std::size_t differing = 0;
    for (std::size_t i = 0; i < img.data.size(); ++i) differing += img.data[i] != static_cast<std::uint8_t>(t.bytes[i]);
    if (differing) std::printf("  %s: %zu bytes differ from PIL\n", name.c_str(), differing);
    CATCH_CHECK(differing == 0);
    // which decoder took it: the fast one for everything but the palette file
    std::ifstream file(ref_dir / "images" / "png" / (name + ".png"), std::ios::binary);
    std::vector<std::uint8_t> raw((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    media::rgb_image fast;
    CATCH_CHECK(media::detail::decode_png_fast(raw.data(), raw.size(), fast) == (name != "palette"));
    ++checked;
  }
  std::printf("%zu PNG files (grey, grey + alpha, RGB, RGBA, palette, all five row filters, 1x1, 3x500, 700x2) decoded\n",
              checked);
  CATCH_CHECK(checked == 13);
  // the fast decoder's failures fall back to stb_image's messages: a stream cut inside IDAT
  auto dir = std::filesystem::temp_directory_path() / "lmms_png_test";
  std::filesystem::create_directories(dir);
  std::ifstream in(ref_dir / "images" / "png" / "rgb.png", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  { std::ofstream(dir / "cut.png", std::ios::binary) << bytes.substr(0, bytes.size() / 2); }
  CATCH_CHECK_THROWS_WITH(media::load_image(dir / "cut.png"), Catch::Matchers::Contains("cut.png"));
  std::string damaged = bytes;  // the zlib stream's middle overwritten, the file otherwise whole
  for (std::size_t i = damaged.size() / 3; i < damaged.size() / 3 + 64; ++i) damaged[i] = '\x5a';
  { std::ofstream(dir / "damaged.png", std::ios::binary) << damaged; }
  CATCH_CHECK_THROWS_WITH(media::load_image(dir / "damaged.png"), Catch::Matchers::Contains("damaged.png"));
}

CATCH_TEST_CASE("Mllama tiles, aspect ratio ids and masks as transformers makes them", "[media][reference][mllama]") {
  auto ref_dir = lmms::test::reference_dir();
  auto ref = io::safetensors_file::open(ref_dir / "outputs" / "images.safetensors");
  std::size_t checked = 0;
  double worst = 0;
  for (const auto& t : ref.tensors()) {
    if (t.name.rfind("mllama.", 0) != 0 || t.name.ends_with(".ids")) continue;
    std::stringstream parts(t.name);
    std::string kind, name, tile, max_tiles;
    std::getline(parts, kind, '.');
    std::getline(parts, name, '.');
    std::getline(parts, tile, '.');
    std::getline(parts, max_tiles);
    CATCH_INFO(t.name);
    processors::mllama_image_config cfg;
    cfg.tile_size = std::stoi(tile);
    cfg.max_image_tiles = std::stoi(max_tiles);
    cfg.mean = {0.48145466f, 0.4578275f, 0.40821073f};  // Llama-3.2-Vision's (CLIP's)
    cfg.std = {0.26862954f, 0.26130258f, 0.27577711f};
    auto out = processors::mllama_preprocess(media::load_image(ref_dir / "images" / (name + ".png")), cfg);
    const auto* ids = ref.find(t.name + ".ids");
    CATCH_REQUIRE(ids);
    std::int64_t want_ids[2];
    std::memcpy(want_ids, ids->bytes.data(), sizeof(want_ids));
    CATCH_CHECK(out.aspect_ratio_id == want_ids[0]);
    CATCH_CHECK(out.tiles() == want_ids[1]);  // the aspect_ratio_mask marks exactly the image's tiles
    CATCH_REQUIRE(t.shape.size() == 4);
    CATCH_REQUIRE(t.shape[0] == out.tiles());
    CATCH_REQUIRE(t.bytes.size() == out.data.size() * sizeof(float));
    std::vector<float> want(out.data.size());
    std::memcpy(want.data(), t.bytes.data(), t.bytes.size());
    double here = 0;
    for (std::size_t i = 0; i < want.size(); ++i) here = std::max(here, double(std::fabs(want[i] - out.data[i])));
    if (here > 1e-6) std::printf("  %s: max abs diff %.3g\n", t.name.c_str(), here);
    worst = std::max(worst, here);
    ++checked;
  }
  std::printf("%zu Mllama images (tiles 28 / 56 / 112, up to 1 / 4 / 6 tiles): pixel_values max abs diff %.3g\n", checked, worst);
  CATCH_CHECK(checked == 27);
  CATCH_CHECK(worst <= 1e-6);
  // the arrangement list transformers documents for 4 tiles, and canvases of known images
  CATCH_CHECK(processors::mllama_arrangements(4) ==
              std::vector<std::pair<int, int>>{{1, 1}, {1, 2}, {1, 3}, {1, 4}, {2, 1}, {2, 2}, {3, 1}, {4, 1}});
  CATCH_CHECK(processors::mllama_canvas(480, 640, 4, 560) == std::pair{560, 1120});  // upscale the least: 1 x 2
  CATCH_CHECK(processors::mllama_canvas(4000, 3000, 4, 560) == std::pair{1120, 1120});  // downscale the least: 2 x 2
}

CATCH_TEST_CASE("bad image files are named in the error", "[media]") {
  CATCH_CHECK_THROWS_WITH(media::load_image("/nonexistent/x.png"), Catch::Matchers::Contains("image /nonexistent/x.png does not exist"));
  auto dir = lmms::test::scratch_dir("bad_images");
  { std::ofstream(dir / "broken.png") << "\x89PNG\r\n\x1a\n garbage"; }
  CATCH_CHECK_THROWS_WITH(media::load_image(dir / "broken.png"), Catch::Matchers::Contains("cannot decode image"));
  CATCH_CHECK(processors::shortest_edge_size(480, 640, 224) == std::pair<int, int>{224, 298});
  CATCH_CHECK(processors::shortest_edge_size(500, 3, 224) == std::pair<int, int>{37333, 224});
}
