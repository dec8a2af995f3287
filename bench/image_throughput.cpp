// bench/image_throughput.cpp: images per second through decode + process with lmms's
// processors, one thread. Run through bench/image_bench.py, which times the HF image processors
// on the same files and prints both side by side.
//   bench_images KIND PROCESSOR_DIR FILES_JSON [REPEATS [THREADS]]   -> one JSON line
// THREADS > 1 spreads the images over that many threads, as lmms's data pipeline does with the
// images of a batch (data/parallel.hpp).
// KIND: clip (LLaVA-1.5: shortest-edge resize, crop, normalize), anyres (LLaVA-NeXT: the base
// tile and the best-resolution crops, each through the CLIP steps; the grid pinpoints are read
// from preprocessor_config.json's image_grid_pinpoints), qwen2_vl (smart_resize, patches).
#include <chrono>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include <lmms/data/parallel.hpp>
#include <lmms/media/image.hpp>
#include <lmms/processors/anyres.hpp>
#include <lmms/processors/clip.hpp>
#include <lmms/processors/qwen2_vl.hpp>

using namespace lmms;

namespace {
// Sum of every value: the Python side prints the same, so both did the same work. Eight
// running sums, as numpy's pairwise sum is vectorized: one chain of dependent adds would cost
// lmms more than the summing costs numpy (a tenth of the Qwen2-VL time).
// Built at -O3 (vectorized: each running sum a lane, the same additions in the same order).
template <class Vector>
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
double checksum(const Vector& v) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= v.size(); i += 8)
    for (int k = 0; k < 8; ++k) s[k] += v[i + k];
  for (; i < v.size(); ++i) s[0] += v[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
}  // namespace

int main(int argc, char** argv) try {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s clip|anyres|qwen2_vl PROCESSOR_DIR FILES_JSON [REPEATS]\n", argv[0]);
    return 2;
  }
  const std::string kind = argv[1];
  const std::filesystem::path dir = argv[2];
  std::ifstream in(argv[3]);
  const auto files = nlohmann::json::parse(in).get<std::vector<std::string>>();
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 3;
  const std::size_t threads = argc > 5 ? static_cast<std::size_t>(std::atoi(argv[5])) : 1;

  std::function<double(const media::rgb_image&)> process;
  std::function<media::pixel_rect(int, int)> needed;  // the part of each image the processor reads, where it says
  if (kind == "clip" || kind == "anyres") {
    auto clip = processors::clip_config::load(dir);
    if (kind == "clip") needed = [clip](int w, int h) { return processors::clip_source_rect(w, h, clip); };
    std::vector<processors::resolution> pinpoints;
    if (kind == "anyres") {
      std::ifstream pc(dir / "preprocessor_config.json");
      const auto config = nlohmann::json::parse(pc);
      for (const auto& p : config.at("image_grid_pinpoints")) pinpoints.emplace_back(p[0].get<int>(), p[1].get<int>());
    }
    process = [clip, pinpoints, kind](const media::rgb_image& image) {
      if (kind == "clip") return checksum(processors::clip_preprocess(image, clip).data);
      double s = 0;
      for (const auto& tile : processors::anyres_tiles(image, pinpoints, clip.crop_height, clip.filter))
        s += checksum(processors::clip_preprocess(tile, clip).data);
      return s;
    };
  } else if (kind == "qwen2_vl") {
    auto q = processors::qwen2_vl_image_config::load(dir);
    process = [q](const media::rgb_image& image) { return checksum(processors::qwen2_vl_preprocess(image, q).data); };
  } else if (kind == "decode") {  // decoding alone, for a breakdown
    process = [](const media::rgb_image& image) { return static_cast<double>(image.data[0]); };
  } else {
    std::fprintf(stderr, "unknown kind %s\n", kind.c_str());
    return 2;
  }
  double best = 1e30, sum = 0;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<double> sums(files.size());
    lmms::data::parallel_for(
        files.size(), threads, [&](std::size_t i) { sums[i] = process(media::load_image(files[i], needed)); },
        [&](std::size_t i) { return lmms::data::file_cost(files[i]); });  // largest first, as the pipeline does
    double s = 0;
    for (double v : sums) s += v;
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    sum = s;
  }
  std::printf("{\"impl\": \"lmms\", \"images\": %zu, \"threads\": %zu, \"seconds\": %.4f, \"checksum\": %.6e}\n",
              files.size(), threads, best, sum);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
