// lmms's JPEG entropy decoder (media/jpeg_huffman.hpp) against libjpeg-turbo's own, which it
// replaces inside libjpeg-turbo: the same pixels, byte for byte, on JPEGs this test encodes with
// libjpeg-turbo (every chroma subsampling it writes, greyscale, qualities 30 / 90 / 100, the
// standard and optimized Huffman tables, restart intervals of 1 and 7 MCUs, sizes from 1x1 to
// 333x250 and 1xN / Nx1), and on damaged copies of them: flipped bytes in the entropy-coded
// data, a stray restart marker, data cut short before the EOI, a lone 0xFF. Under ASan / UBSan
// (text_unit_asan) the damaged files are also the decoder's robustness test.
//
// One damage is left out on purpose: "FF FF 00" inside the data (invalid: fill bytes may only
// come before a marker). libjpeg-turbo's fast path reads it as a marker and its slow path as a
// stuffed 0xFF; the slow path redoes the MCU but the fast path's coefficients past the point
// where they part stay in the block, so its pixels depend on which path ran. lmms reads it as
// the slow path does.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "lmms/core/cpu_features.hpp"
#include "lmms/core/error.hpp"
#include "lmms/media/image.hpp"
#include "support/test.hpp"

extern "C" {
#include <jpeglib.h>
}

namespace {

struct jpeg_options {
  int width, height, components, h_samp, v_samp, quality, restart_interval;
  bool optimize, progressive;
};

std::vector<unsigned char> encode(const jpeg_options& o, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> pixels(static_cast<std::size_t>(o.width) * o.height * o.components);
  for (int y = 0; y < o.height; ++y)
    for (int x = 0; x < o.width; ++x)
      for (int c = 0; c < o.components; ++c) {
        // smooth waves, noise (work for the entropy coder) and a flat square (long zero runs)
        double v = 127 + 100 * std::sin(x / (7.0 + c + seed % 5)) * std::cos(y / (11.0 + c)) +
                   static_cast<int>(rng() % 41) - 20;
        if (x > o.width / 3 && x < o.width / 2 && y > o.height / 3 && y < o.height / 2) v = 40 + 60 * c;
        pixels[(static_cast<std::size_t>(y) * o.width + x) * o.components + c] =
            static_cast<unsigned char>(std::clamp(v, 0.0, 255.0));
      }
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &out, &size);
  cinfo.image_width = static_cast<JDIMENSION>(o.width);
  cinfo.image_height = static_cast<JDIMENSION>(o.height);
  cinfo.input_components = o.components;
  cinfo.in_color_space = o.components == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, o.quality, TRUE);
  cinfo.optimize_coding = o.optimize ? TRUE : FALSE;
  cinfo.restart_interval = static_cast<unsigned>(o.restart_interval);
  if (o.components == 3) {
    cinfo.comp_info[0].h_samp_factor = o.h_samp;
    cinfo.comp_info[0].v_samp_factor = o.v_samp;
  }
  if (o.progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = pixels.data() + static_cast<std::size_t>(cinfo.next_scanline) * o.width * o.components;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<unsigned char> bytes(out, out + size);
  std::free(out);
  return bytes;
}

// Decodes with both entropy decoders; true when both fail alike or give the same pixels.
bool same_decode(const std::vector<unsigned char>& bytes, const std::string& what) {
  using lmms::media::detail::decode_jpeg_bytes;
  lmms::media::rgb_image theirs, ours;
  std::string their_error, our_error;
  try {
    theirs = decode_jpeg_bytes(bytes.data(), bytes.size(), what, false);
  } catch (const lmms::error& e) {
    their_error = e.what();
  }
  try {
    ours = decode_jpeg_bytes(bytes.data(), bytes.size(), what, true);
  } catch (const lmms::error& e) {
    our_error = e.what();
  }
  CATCH_INFO(what << ": libjpeg-turbo's decoder: [" << their_error << "], lmms's: [" << our_error << "]");
  if (their_error != our_error) return false;
  if (!their_error.empty()) return true;
  return theirs.width == ours.width && theirs.height == ours.height && theirs.data.size() == ours.data.size() &&
         std::equal(theirs.data.begin(), theirs.data.end(), ours.data.begin());
}

// The offset of the entropy-coded data: just past the SOS segment.
std::size_t scan_start(const std::vector<unsigned char>& bytes) {
  for (std::size_t i = 2; i + 3 < bytes.size(); ++i)
    if (bytes[i] == 0xFF && bytes[i + 1] == 0xDA) return i + 2 + (static_cast<std::size_t>(bytes[i + 2]) << 8 | bytes[i + 3]);
  return bytes.size();
}

}  // namespace

CATCH_TEST_CASE("JPEG entropy decoding: lmms's decoder gives libjpeg-turbo's pixels", "[media][jpeg]") {
  const std::pair<int, int> sizes[] = {{1, 1}, {7, 5}, {17, 33}, {64, 48}, {333, 250}, {1, 300}, {300, 1}};
  const std::pair<int, int> samplings[] = {{1, 1}, {2, 1}, {1, 2}, {2, 2}, {4, 1}};
  int files = 0, damaged = 0;
  std::mt19937 rng(7);
  for (const auto& [w, h] : sizes)
    for (const auto& [hs, vs] : samplings)
      for (int components : {1, 3})
        for (int quality : {30, 90, 100})
          for (int restart : {0, 1, 7})
            for (bool optimize : {false, true}) {
              if (components == 1 && (hs != 1 || vs != 1)) continue;
              if (quality == 30 && optimize) continue;
              const jpeg_options o{w, h, components, hs, vs, quality, restart, optimize, false};
              const auto bytes = encode(o, static_cast<unsigned>(files));
              char name[128];
              std::snprintf(name, sizeof name, "%dx%d, %d components %dx%d, quality %d, restart %d%s", w, h,
                            components, hs, vs, quality, restart, optimize ? ", optimized" : "");
              CATCH_CHECK(same_decode(bytes, name));
              ++files;
              const std::size_t start = scan_start(bytes);
              if (bytes.size() < start + 8) continue;
              const std::size_t length = bytes.size() - 2 - start;  // the data before the EOI
              for (int kind = 0; kind < 5; ++kind) {
                auto d = bytes;
                const std::size_t at = start + rng() % length;
                if (kind == 0) d[at] ^= static_cast<unsigned char>(1 + rng() % 255);  // one flipped byte
                if (kind == 1)
                  for (int i = 0; i < 6; ++i) d[start + rng() % length] ^= static_cast<unsigned char>(1 + rng() % 255);
                if (kind == 2) d.insert(d.begin() + static_cast<std::ptrdiff_t>(at), {0xFF, static_cast<unsigned char>(0xD0 + rng() % 8)});
                if (kind == 3) {  // cut short, then the EOI
                  d.resize(at);
                  d.push_back(0xFF);
                  d.push_back(0xD9);
                }
                if (kind == 4) d[at] = 0xFF;  // a lone 0xFF: a marker with whatever byte follows
                if (kind == 4 && at + 1 < d.size() && d[at + 1] == 0xFF) continue;  // FF FF: see the top
                CATCH_CHECK(same_decode(d, std::string(name) + ", damage " + std::to_string(kind)));
                ++damaged;
              }
            }
  std::printf("%d JPEG files and %d damaged copies decoded alike (lmms's entropy decoder %s on this CPU)\n", files,
              damaged, lmms::cpu::has_bmi2() ? "in use" : "not used: no BMI2");
}

CATCH_TEST_CASE("JPEG entropy decoding: progressive files keep libjpeg-turbo's decoder", "[media][jpeg]") {
  for (int quality : {50, 95}) {
    const jpeg_options o{120, 90, 3, 2, 2, quality, 0, false, true};
    CATCH_CHECK(same_decode(encode(o, 3), "progressive, quality " + std::to_string(quality)));
  }
}

// The decoder above is really the one in use: libjpeg-turbo's entropy module is swapped for a
// baseline file on a CPU with BMI2, and left alone for a progressive one.
#include <jpegint.h>
#include <jerror.h>
#undef MAX
#undef MIN
#include "lmms/media/jpeg_huffman.hpp"

CATCH_TEST_CASE("JPEG entropy decoding: which files take lmms's decoder", "[media][jpeg]") {
  for (bool progressive : {false, true}) {
    const auto bytes = encode(jpeg_options{64, 48, 3, 2, 2, 90, 0, false, progressive}, 1);
    jpeg_decompress_struct cinfo;
    jpeg_error_mgr err;
    cinfo.err = jpeg_std_error(&err);
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const auto* before = cinfo.entropy;
    const bool used = lmms::media::detail::use_fast_huffman(&cinfo);
    CATCH_INFO((progressive ? "progressive" : "baseline"));
    CATCH_CHECK(used == (!progressive && lmms::cpu::has_bmi2()));
    CATCH_CHECK((cinfo.entropy != before) == used);
    std::vector<unsigned char> row(64 * 3);
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW r = row.data();
      jpeg_read_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
  }
}
