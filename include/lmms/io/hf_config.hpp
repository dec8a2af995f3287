// lmms/io/hf_config.hpp: typed, read-only access to a Hugging Face config.json.
//
//   auto cfg = io::hf_config::load("example_data/models/tiny-llava/config.json");
//   int h = cfg.section("text_config").get_int("hidden_size");
//   double eps = cfg.section("text_config").get_double_or("rms_norm_eps", 1e-6);
//
// A missing key or a value of the wrong type is an lmms::error naming the file and the full
// key path ("text_config.hidden_size"), never a silent default. nlohmann/json stays out of
// this header so that model headers do not pay for it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lmms::io {

class hf_config {
 public:
  /// Reads and parses `path` (a config.json, or a directory holding one).
  static hf_config load(const std::filesystem::path& path);
  /// Parses JSON text; `source` names it in messages.
  static hf_config parse(std::string_view json_text, std::string source);

  bool has(std::string_view key) const;        // present and not null
  /// A nested object such as "text_config" or "vision_config".
  hf_config section(std::string_view key) const;
  std::optional<hf_config> section_if(std::string_view key) const;

  std::int64_t get_int(std::string_view key) const;
  double get_double(std::string_view key) const;  // integers are accepted
  bool get_bool(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  std::vector<std::int64_t> get_int_list(std::string_view key) const;
  std::vector<double> get_double_list(std::string_view key) const;
  std::vector<std::string> get_string_list(std::string_view key) const;

  std::int64_t get_int_or(std::string_view key, std::int64_t fallback) const;
  double get_double_or(std::string_view key, double fallback) const;
  bool get_bool_or(std::string_view key, bool fallback) const;
  std::string get_string_or(std::string_view key, std::string fallback) const;

  /// The value at `key` as JSON text, whatever its type ("16", "\"silu\"", "[1, 2]").
  std::string value_text(std::string_view key) const;

  /// The keys of this object, sorted.
  std::vector<std::string> keys() const;
  /// This section as JSON text (for echoing into logs and resolved recipes).
  std::string dump(int indent = 2) const;
  /// "text_config" for a section, "" at the top.
  const std::string& prefix() const { return prefix_; }
  const std::string& source() const { return *source_; }

 private:
  // The parsed document (an nlohmann::json) and this section inside it, type-erased so
  // that this header does not include nlohmann/json.hpp.
  std::shared_ptr<const void> root_;
  const void* here_ = nullptr;
  std::shared_ptr<const std::string> source_;
  std::string prefix_;
  std::string path_of(std::string_view key) const;
  const void* lookup(std::string_view key) const;  // throws when missing or null
};

}  // namespace lmms::io

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/hf_config_impl.hpp"
#endif
