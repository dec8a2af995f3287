// lmms/processors/config_file.hpp: what every image processor's load() shares: which file
// holds its settings in a model directory, and the normalization values. No torch.
#pragma once

#include <array>
#include <filesystem>

#include "lmms/core/error.hpp"
#include "lmms/io/hf_config.hpp"

namespace lmms::processors {

struct processor_settings {
  std::filesystem::path file;  // for messages
  io::hf_config values;        // the image processor's section
};

/// A directory's preprocessor_config.json, else its processor_config.json's "image_processor"
/// section (transformers 5 writes that); or the given file.
inline processor_settings read_processor_settings(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  fs::path file = path;
  if (fs::is_directory(path))
    file = fs::exists(path / "preprocessor_config.json") ? path / "preprocessor_config.json" : path / "processor_config.json";
  auto root = io::hf_config::load(file);
  return {file, root.section_if("image_processor").value_or(root)};
}

/// image_mean / image_std when the settings have them (3 values each); the defaults stay otherwise.
inline void read_mean_std(const processor_settings& s, std::array<float, 3>& mean, std::array<float, 3>& std) {
  if (!s.values.has("image_mean")) return;
  auto m = s.values.get_double_list("image_mean"), d = s.values.get_double_list("image_std");
  if (m.size() != 3 || d.size() != 3) fail(s.file.string(), ": image_mean and image_std need 3 values");
  for (std::size_t i = 0; i < 3; ++i) mean[i] = static_cast<float>(m[i]), std[i] = static_cast<float>(d[i]);
}

}  // namespace lmms::processors
