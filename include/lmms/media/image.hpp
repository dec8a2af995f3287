// lmms/media/image.hpp: 8-bit RGB images as PIL's Image.open(p).convert("RGB") gives them:
// JPEG with libjpeg-turbo (PIL's decoder, same settings: identical pixels; baseline files with
// lmms's own Huffman decoder inside it, media/jpeg_huffman.hpp), the common PNGs with
// libdeflate (media/png.hpp), other PNGs, BMP and GIF (first frame) with stb_image (identical
// for 8-bit files; CMYK JPEGs also go to stb_image). No torch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>
#include <utility>

#include "lmms/core/buffer.hpp"

namespace lmms::media {

/// Interleaved RGB, row-major: pixel (x, y) channel c at data[(y * width + x) * 3 + c]. The
/// bytes live in an lmms::buffer (core/buffer.hpp): resize() does not zero them, and large ones
/// are reused from image to image instead of being mapped fresh from the kernel each time.
struct rgb_image {
  int width = 0, height = 0;
  lmms::buffer<std::uint8_t> data;
  std::uint8_t at(int x, int y, int c) const { return data[(static_cast<std::size_t>(y) * width + x) * 3 + c]; }
};

/// Decodes a file to RGB (grey is replicated, alpha dropped as PIL's convert("RGB") does).
/// Throws lmms::error naming the file and what is wrong with it, including a PNG without its
/// IEND chunk or a JPEG without its end marker (cut short: stb_image would decode what is
/// there and fill the rest, where PIL stops with "image file is truncated").
rgb_image load_image(const std::filesystem::path& file);

/// A rectangle of pixels: columns [x, x + width), rows [y, y + height).
struct pixel_rect {
  int x = 0, y = 0, width = 0, height = 0;
};

/// load_image for a caller that reads only part of the image (a center crop: see
/// processors::clip_source_rect): `needed(width, height)` names the part once the header is
/// read. The image has the file's size, but only the part's pixels are sure to be set. A JPEG
/// skips the inverse DCT and colour conversion of most rows and columns outside it; its data is
/// still entropy-decoded to the end, so a damaged file fails as in load_image. Other formats
/// decode whole.
rgb_image load_image(const std::filesystem::path& file, const std::function<pixel_rect(int, int)>& needed);

/// Width and height from the file's header, without decoding the pixels (for token counts
/// that depend on the image size). Throws as load_image does for unreadable files.
std::pair<int, int> image_size(const std::filesystem::path& file);

namespace detail {
/// A JPEG in memory decoded as load_image does; `lmms_huffman` false decodes the entropy-coded
/// data with libjpeg-turbo's own decoder instead of lmms's (media/jpeg_huffman.hpp), which the
/// tests compare. Throws lmms::error naming `name` when libjpeg-turbo cannot decode it.
rgb_image decode_jpeg_bytes(const unsigned char* bytes, std::size_t size, const std::string& name,
                            bool lmms_huffman = true);
}  // namespace detail

}  // namespace lmms::media

#ifdef LMMS_IMPLEMENTATION
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_PNM
#include <stb/stb_image.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

extern "C" {
#include <jpeglib.h>
#include <jpegint.h>  // libjpeg-turbo's module interfaces, for media/jpeg_huffman.hpp
#include <jerror.h>
}
#undef MAX  // (jpegint.h's generic macros: not for the code after this)
#undef MIN
#undef LEFT_SHIFT
#undef RIGHT_SHIFT
#undef SHIFT_TEMPS

#include "lmms/core/error.hpp"
#include "lmms/media/jpeg_huffman.hpp"
#include "lmms/media/png.hpp"

namespace lmms::media {

namespace {
// ---- JPEG through libjpeg(-turbo), as PIL decodes it (same library, same defaults: the
// accurate integer IDCT and fancy upsampling), so pixels equal PIL's and decoding is fast.
// libjpeg reports errors through error_exit, which must not return: it longjmps back here.
struct jpeg_failure {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};
void lmms_jpeg_error_exit(j_common_ptr cinfo) {
  auto* f = reinterpret_cast<jpeg_failure*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, f->message);
  std::longjmp(f->jump, 1);
}
void lmms_jpeg_quiet(j_common_ptr) {}  // warnings (e.g. extraneous bytes) as PIL: silent

enum class jpeg_result { ok, failed, not_rgb };
// Only trivially destructible locals here: a longjmp skips destructors. `out` lives in the caller.
jpeg_result decode_jpeg(const unsigned char* bytes, std::size_t size, lmms::buffer<std::uint8_t>* out, int* width,
                        int* height, char* message, const std::function<pixel_rect(int, int)>* needed,
                        bool lmms_huffman) {
  jpeg_decompress_struct cinfo;
  jpeg_failure failure;
  cinfo.err = jpeg_std_error(&failure.manager);
  failure.manager.error_exit = lmms_jpeg_error_exit;
  failure.manager.output_message = lmms_jpeg_quiet;
  if (setjmp(failure.jump)) {
    std::memcpy(message, failure.message, JMSG_LENGTH_MAX);
    jpeg_destroy_decompress(&cinfo);
    return jpeg_result::failed;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    return jpeg_result::not_rgb;  // PIL's CMYK conversion: left to stb_image
  }
  cinfo.out_color_space = JCS_RGB;  // greyscale is replicated, as PIL's convert("RGB")
  jpeg_start_decompress(&cinfo);
  if (lmms_huffman) detail::use_fast_huffman(&cinfo);  // (baseline files; others as they were)
  *width = static_cast<int>(cinfo.output_width);
  *height = static_cast<int>(cinfo.output_height);
  out->resize(static_cast<std::size_t>(*width) * static_cast<std::size_t>(*height) * 3);
  // the rows [first_row, end_row) and columns [first_column, first_column + columns) decoded
  JDIMENSION first_row = 0, end_row = cinfo.output_height, first_column = 0, columns = cinfo.output_width;
  if (needed != nullptr && *needed) {
    const pixel_rect part = (*needed)(*width, *height);
    // 16 pixels more on every side: the chroma upsampling near a cut edge differs from the
    // whole image's (the test compares every needed pixel with PIL's)
    constexpr int margin = 16;
    const int x0 = std::clamp(part.x - margin, 0, *width), x1 = std::clamp(part.x + part.width + margin, x0, *width);
    const int y0 = std::clamp(part.y - margin, 0, *height), y1 = std::clamp(part.y + part.height + margin, y0, *height);
    const bool empty = part.width <= 0 || part.height <= 0 || x1 == x0 || y1 == y0;  // (then all of it)
    if (!empty && x1 - x0 < *width) {
      first_column = static_cast<JDIMENSION>(x0);
      columns = static_cast<JDIMENSION>(x1 - x0);
      jpeg_crop_scanline(&cinfo, &first_column, &columns);  // widened to whole iMCU columns
    }
    if (!empty) {
      first_row = static_cast<JDIMENSION>(y0);
      end_row = static_cast<JDIMENSION>(y1);
      if (first_row > 0) jpeg_skip_scanlines(&cinfo, first_row);
    }
  }
  const std::size_t row_bytes = static_cast<std::size_t>(*width) * 3;
  // up to 16 rows per call (an iMCU row): the upsampler writes straight into the image
  // instead of through its one-row spare buffer
  JSAMPROW rows[16];
  while (cinfo.output_scanline < end_row) {
    const JDIMENSION first = cinfo.output_scanline, n = std::min<JDIMENSION>(16, end_row - first);
    for (JDIMENSION i = 0; i < n; ++i)
      rows[i] = out->data() + static_cast<std::size_t>(first + i) * row_bytes + static_cast<std::size_t>(first_column) * 3;
    jpeg_read_scanlines(&cinfo, rows, n);
  }
  if (end_row < cinfo.output_height) {
    // the rest entropy-decoded (damaged data fails as when decoding it all), its last row read
    // so that jpeg_finish_decompress ends normally
    jpeg_skip_scanlines(&cinfo, cinfo.output_height - 1 - end_row);
    JSAMPROW last = out->data() + static_cast<std::size_t>(cinfo.output_height - 1) * row_bytes +
                    static_cast<std::size_t>(first_column) * 3;
    jpeg_read_scanlines(&cinfo, &last, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return jpeg_result::ok;
}

// PNG files end with an IEND chunk, JPEG files with the EOI marker FF D9 (perhaps followed by
// padding); a file cut short has neither. Checked on the bytes already read.
void check_not_truncated(const std::filesystem::path& file, const lmms::buffer<unsigned char>& bytes) {
  if (bytes.size() < 8) return;
  const unsigned char* head = bytes.data();
  const std::size_t tail_size = std::min<std::size_t>(bytes.size(), 64);
  const unsigned char* tail = bytes.data() + bytes.size() - tail_size;
  const bool png = std::memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0;
  const bool jpeg = head[0] == 0xFF && head[1] == 0xD8;
  if (png && !(tail_size >= 12 && std::memcmp(tail + tail_size - 8, "IEND", 4) == 0))
    fail("image ", file.string(), " is truncated (a PNG without its IEND chunk)");
  if (jpeg) {
    bool eoi = false;
    for (std::size_t i = tail_size - 1; i-- > 0 && !eoi;) eoi = tail[i] == 0xFF && tail[i + 1] == 0xD9;
    if (!eoi) fail("image ", file.string(), " is truncated (a JPEG without its end marker)");
  }
}
}  // namespace

rgb_image load_image(const std::filesystem::path& file) { return load_image(file, {}); }

rgb_image load_image(const std::filesystem::path& file, const std::function<pixel_rect(int, int)>& needed) {
  lmms::buffer<unsigned char> bytes;  // the file is read once; every check and decoder works on these
  {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      if (!std::filesystem::exists(file)) fail("image ", file.string(), " does not exist");
      fail("cannot open image ", file.string(), " (permissions?)");
    }
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    in.seekg(0, std::ios::beg);
    if (size > 0) {
      bytes.resize(static_cast<std::size_t>(size));
      in.read(reinterpret_cast<char*>(bytes.data()), size);
      bytes.resize(static_cast<std::size_t>(in.gcount()));
    }
  }
  if (bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8) {  // JPEG by its magic bytes: libjpeg-turbo
    check_not_truncated(file, bytes);
    rgb_image img;
    char message[JMSG_LENGTH_MAX] = {0};
    const jpeg_result r =
        decode_jpeg(bytes.data(), bytes.size(), &img.data, &img.width, &img.height, message, &needed, true);
    if (r == jpeg_result::ok) return img;
    if (r == jpeg_result::failed) fail("cannot decode image ", file.string(), ": ", message, " (corrupt or truncated?)");
    // not_rgb (CMYK / YCCK): stb_image below
  }
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) == 0) {  // common PNGs: libdeflate
    rgb_image img;
    if (detail::decode_png_fast(bytes.data(), bytes.size(), img)) return img;
    // palette, 16-bit, interlaced or damaged: stb_image below (and its messages)
  }
  int w = 0, h = 0, channels = 0;
  std::uint8_t* pixels =
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &channels, 3);
  if (!pixels) {
    const char* why = stbi_failure_reason();
    fail("cannot decode image ", file.string(), ": ", why && *why ? why : "the decoder stopped early",
         " (corrupt or truncated?)");
  }
  try {
    check_not_truncated(file, bytes);
  } catch (...) {
    stbi_image_free(pixels);
    throw;
  }
  rgb_image img;
  img.width = w;
  img.height = h;
  img.data.assign(pixels, pixels + static_cast<std::size_t>(w) * h * 3);
  stbi_image_free(pixels);
  return img;
}

rgb_image detail::decode_jpeg_bytes(const unsigned char* bytes, std::size_t size, const std::string& name,
                                   bool lmms_huffman) {
  rgb_image img;
  char message[JMSG_LENGTH_MAX] = {0};
  const jpeg_result r = decode_jpeg(bytes, size, &img.data, &img.width, &img.height, message, nullptr, lmms_huffman);
  if (r == jpeg_result::failed) fail("cannot decode image ", name, ": ", message, " (corrupt or truncated?)");
  if (r == jpeg_result::not_rgb) fail("image ", name, " is a CMYK or YCCK JPEG (decode it with load_image)");
  return img;
}

std::pair<int, int> image_size(const std::filesystem::path& file) {
  int w = 0, h = 0, channels = 0;
  if (!stbi_info(file.c_str(), &w, &h, &channels)) {
    if (!std::filesystem::exists(file)) fail("image ", file.string(), " does not exist");
    fail("cannot read the header of image ", file.string(), ": ", stbi_failure_reason(), " (corrupt or not an image?)");
  }
  return {w, h};
}

}  // namespace lmms::media
#endif  // LMMS_IMPLEMENTATION
