// libFuzzer target for the safetensors header parser: any input must either parse or throw
// lmms::error; a crash, an out-of-bounds read (ASan) or undefined behaviour (UBSan) fails.
//   build: cmake --build build --target fuzz_targets   (needs clang++)
//   run:   build/tests/fuzz_safetensors -max_total_time=60 corpus/ tests/fuzz/corpus
#include <cstddef>
#include <cstdint>
#include <span>

#include "lmms/core/error.hpp"
#include "lmms/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto file = lmms::io::safetensors_file::parse(
        std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz-input");
    // Touch every accepted tensor's bytes so ASan sees any view outside the input.
    volatile std::uint8_t sink = 0;
    for (const auto& t : file.tensors())
      for (std::byte b : t.bytes) sink = sink ^ static_cast<std::uint8_t>(b);
    (void)sink;
  } catch (const lmms::error&) {
  }
  return 0;
}
