// lmms/data/dataset.hpp: LLaVA-style datasets (a JSON list or JSONL) read and checked sample by
// sample. No torch.
//
//   auto [samples, report] = data::load_dataset({.file = "train.json", .image_folder = "images"});
//
// Each sample: optional system_prompt, image / video (a path or a list, relative to the
// folder or absolute), conversations of alternating user / assistant turns (role keys
// configurable), <image> / <video> placeholders in user turns matching the media counts.
// With max_image_pixels set, each image's header is read: an image over the cap or a file
// that is not an image is a bad sample too.
// Every problem is reported as "FILE sample N: what is wrong"; with on_bad = skip the sample
// is dropped and counted, with error the first problem is an lmms::error.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lmms::data {

struct sample {
  std::size_t index = 0;  // position in the file
  std::optional<std::string> system_prompt;
  std::vector<std::string> turns;  // user, assistant, user, ...
  std::vector<std::filesystem::path> images, videos;  // resolved paths
};

enum class on_bad_sample { error, skip };

struct dataset_options {
  std::filesystem::path file;
  std::filesystem::path image_folder;  // empty: paths as written (absolute or relative to the cwd)
  std::filesystem::path video_folder;
  std::string user_key = "human";
  std::string assistant_key = "gpt";
  on_bad_sample on_bad = on_bad_sample::error;
  bool check_files_exist = true;
  /// an image with more pixels (read from its header, so a file that is not an image is a bad
  /// sample too) is a bad sample; 0: no check. Recipes and check-data pass data.max_image_pixels,
  /// by default where PIL refuses an image as a decompression bomb (2 x Image.MAX_IMAGE_PIXELS).
  std::int64_t max_image_pixels = 0;
};

struct dataset_report {
  std::size_t total = 0, kept = 0, skipped = 0;
  std::vector<std::string> problems;  // one line per skipped sample
};

struct dataset {
  std::vector<sample> samples;
  dataset_report report;
};

dataset load_dataset(const dataset_options& options);

}  // namespace lmms::data

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/data/dataset_impl.hpp"
#endif
