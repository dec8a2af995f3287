// libFuzzer target for JPEG decoding, lmms's entropy decoder (media/jpeg_huffman.hpp) inside
// libjpeg-turbo: any input must decode or throw lmms::error; a crash, an out-of-bounds access
// (ASan) or undefined behaviour (UBSan) fails. Where the input has no "FF FF" byte pair (see
// tests/unit/media/jpeg_huffman_test.cpp for why that one differs), the pixels must also equal
// libjpeg-turbo's own decoder's, else the target aborts.
//   build: cmake --build build --target fuzz_targets   (needs clang++)
//   run:   build/tests/fuzz_jpeg -max_total_time=60 corpus/ tests/fuzz/jpeg_corpus
#include <algorithm>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" {
#include <jpeglib.h>
}

#include "lmms/core/error.hpp"
#include "lmms/media/image.hpp"

namespace {
struct header_failure {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
};

// The image's pixel count from its header (0 when there is none), so that the target skips
// headers that ask for gigabytes.
std::uint64_t pixel_count(const std::uint8_t* data, std::size_t size) {
  jpeg_decompress_struct cinfo;
  header_failure failure;
  cinfo.err = jpeg_std_error(&failure.manager);
  failure.manager.error_exit = [](j_common_ptr c) { std::longjmp(reinterpret_cast<header_failure*>(c->err)->jump, 1); };
  failure.manager.output_message = [](j_common_ptr) {};
  if (setjmp(failure.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  const std::uint64_t n = static_cast<std::uint64_t>(cinfo.image_width) * cinfo.image_height;
  jpeg_destroy_decompress(&cinfo);
  return n;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4 || pixel_count(data, size) > (1u << 22)) return 0;
  using lmms::media::detail::decode_jpeg_bytes;
  lmms::media::rgb_image ours, theirs;
  std::string our_error, their_error;
  try {
    ours = decode_jpeg_bytes(data, size, "fuzz-input", true);
  } catch (const lmms::error& e) {
    our_error = e.what();
  }
  for (std::size_t i = 0; i + 1 < size; ++i)
    if (data[i] == 0xFF && data[i + 1] == 0xFF) return 0;
  try {
    theirs = decode_jpeg_bytes(data, size, "fuzz-input", false);
  } catch (const lmms::error& e) {
    their_error = e.what();
  }
  const bool same = our_error == their_error && ours.width == theirs.width && ours.height == theirs.height &&
                    ours.data.size() == theirs.data.size() &&
                    (ours.data.size() == 0 || std::equal(ours.data.begin(), ours.data.end(), theirs.data.begin()));
  if (!same) {
    std::fprintf(stderr, "lmms's and libjpeg-turbo's entropy decoders differ: [%s] vs [%s], %dx%d vs %dx%d\n",
                 our_error.c_str(), their_error.c_str(), ours.width, ours.height, theirs.width, theirs.height);
    std::abort();
  }
  return 0;
}
