// Implementation of lmms/io/hf_config.hpp (compiled once, under LMMS_IMPLEMENTATION).
#pragma once

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lmms/core/error.hpp"
#include "lmms/io/hf_config.hpp"

namespace lmms::io {

namespace {
using json = nlohmann::json;
const json& as_json(const void* p) { return *static_cast<const json*>(p); }

const char* type_word(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "a list";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}
}  // namespace

hf_config hf_config::parse(std::string_view text, std::string source) {
  auto doc = std::make_shared<json>();
  try {
    *doc = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(source, " is not valid JSON (", e.what(), ")");
  }
  if (!doc->is_object()) fail(source, " must hold a JSON object, but holds ", type_word(*doc));
  hf_config c;
  c.here_ = doc.get();
  c.root_ = std::move(doc);
  c.source_ = std::make_shared<const std::string>(std::move(source));
  return c;
}

hf_config hf_config::load(const std::filesystem::path& path) {
  auto file = std::filesystem::is_directory(path) ? path / "config.json" : path;
  std::ifstream in(file, std::ios::binary);
  if (!in) fail("cannot open ", file.string(), " (is this a Hugging Face model directory?)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse(buffer.str(), file.string());
}

std::string hf_config::path_of(std::string_view key) const {
  return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
}

bool hf_config::has(std::string_view key) const {
  const json& j = as_json(here_);
  auto it = j.find(key);
  return it != j.end() && !it->is_null();
}

const void* hf_config::lookup(std::string_view key) const {
  const json& j = as_json(here_);
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) fail(source(), " has no key ", quote(path_of(key)));
  return &*it;
}

hf_config hf_config::section(std::string_view key) const {
  const json& v = as_json(lookup(key));
  if (!v.is_object())
    fail(source(), ": key ", quote(path_of(key)), " should be an object but is ", type_word(v));
  hf_config c = *this;
  c.here_ = &v;
  c.prefix_ = path_of(key);
  return c;
}

std::optional<hf_config> hf_config::section_if(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return section(key);
}

namespace {
[[noreturn]] void wrong_type(const hf_config& c, std::string_view key, const char* wanted, const json& v) {
  fail(c.source(), ": key ", quote(c.prefix().empty() ? std::string(key) : c.prefix() + "." + std::string(key)),
       " should be ", wanted, " but is ", type_word(v), " (", v.dump(), ")");
}
}  // namespace

std::int64_t hf_config::get_int(std::string_view key) const {
  const json& v = as_json(lookup(key));
  if (!v.is_number_integer()) wrong_type(*this, key, "an integer", v);
  return v.get<std::int64_t>();
}

double hf_config::get_double(std::string_view key) const {
  const json& v = as_json(lookup(key));
  if (!v.is_number()) wrong_type(*this, key, "a number", v);
  return v.get<double>();
}

bool hf_config::get_bool(std::string_view key) const {
  const json& v = as_json(lookup(key));
  if (!v.is_boolean()) wrong_type(*this, key, "true or false", v);
  return v.get<bool>();
}

std::string hf_config::get_string(std::string_view key) const {
  const json& v = as_json(lookup(key));
  if (!v.is_string()) wrong_type(*this, key, "a string", v);
  return v.get<std::string>();
}

std::vector<std::int64_t> hf_config::get_int_list(std::string_view key) const {
  const json& v = as_json(lookup(key));
  if (!v.is_array()) wrong_type(*this, key, "a list of integers", v);
  std::vector<std::int64_t> out;
  for (const auto& e : v) {
    if (!e.is_number_integer()) wrong_type(*this, key, "a list of integers", v);
    out.push_back(e.get<std::int64_t>());
  }
  return out;
}

std::vector<double> hf_config::get_double_list(std::string_view key) const {
  const json& v = as_json(lookup(key));
  if (!v.is_array()) wrong_type(*this, key, "a list of numbers", v);
  std::vector<double> out;
  for (const auto& e : v) {
    if (!e.is_number()) wrong_type(*this, key, "a list of numbers", v);
    out.push_back(e.get<double>());
  }
  return out;
}

std::vector<std::string> hf_config::get_string_list(std::string_view key) const {
  const json& v = as_json(lookup(key));
  if (!v.is_array()) wrong_type(*this, key, "a list of strings", v);
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) wrong_type(*this, key, "a list of strings", v);
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::int64_t hf_config::get_int_or(std::string_view key, std::int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}
double hf_config::get_double_or(std::string_view key, double fallback) const {
  return has(key) ? get_double(key) : fallback;
}
bool hf_config::get_bool_or(std::string_view key, bool fallback) const {
  return has(key) ? get_bool(key) : fallback;
}
std::string hf_config::get_string_or(std::string_view key, std::string fallback) const {
  return has(key) ? get_string(key) : std::move(fallback);
}

std::vector<std::string> hf_config::keys() const {
  std::vector<std::string> out;
  for (auto it = as_json(here_).begin(); it != as_json(here_).end(); ++it) out.push_back(it.key());
  return out;  // nlohmann::json objects iterate in sorted order
}

std::string hf_config::value_text(std::string_view key) const { return as_json(lookup(key)).dump(); }

std::string hf_config::dump(int indent) const { return as_json(here_).dump(indent); }

}  // namespace lmms::io
