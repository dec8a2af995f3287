// Implementation of lmms/data/dataset.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lmms/core/error.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/media/image.hpp"

namespace lmms::data {

namespace {
using json = nlohmann::json;

// "line L, column C" of a byte offset, for JSON syntax errors.
std::string line_column(const std::string& text, std::size_t byte) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, column = 1;
    else ++column;
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

int count_of(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

std::vector<std::filesystem::path> media_list(const json& j, const char* key, const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  const json& v = j[key];
  auto add = [&](const json& p) {
    if (!p.is_string()) fail("\"", key, "\" must be a path or a list of paths");
    std::filesystem::path path = p.get<std::string>();
    out.push_back(path.is_absolute() || folder.empty() ? path : folder / path);
  };
  if (v.is_array()) for (const auto& p : v) add(p);
  else add(v);
  return out;
}

// Checks one sample; throws lmms::error with the problem (without the file / index prefix).
sample check_sample(const json& j, std::size_t index, const dataset_options& o) {
  if (!j.is_object()) fail("is not a JSON object");
  sample s;
  s.index = index;
  if (j.contains("system_prompt") && !j["system_prompt"].is_null()) {
    if (!j["system_prompt"].is_string()) fail("\"system_prompt\" must be a string");
    s.system_prompt = j["system_prompt"].get<std::string>();
  }
  s.images = media_list(j, "image", o.image_folder);
  s.videos = media_list(j, "video", o.video_folder);
  if (!j.contains("conversations") || !j["conversations"].is_array())
    fail("has no \"conversations\" list");
  const json& conv = j["conversations"];
  if (conv.empty()) fail("has an empty conversation");
  if (conv.size() % 2 != 0)
    fail("has ", conv.size(), " turns; conversations are user / assistant pairs, user first");
  int images = 0, videos = 0;
  for (std::size_t t = 0; t < conv.size(); ++t) {
    const json& turn = conv[t];
    if (!turn.is_object() || !turn.contains("from") || !turn.contains("value") || !turn["from"].is_string() ||
        !turn["value"].is_string())
      fail("turn ", t + 1, " needs string \"from\" and \"value\" fields");
    const std::string role = turn["from"].get<std::string>();
    const std::string& want = t % 2 == 0 ? o.user_key : o.assistant_key;
    if (role != want)
      fail("turn ", t + 1, " is from ", quote(role), " but should be from ", quote(want),
           " (roles alternate, user first; the role keys are set by user_key / assistant_key)");
    std::string value = turn["value"].get<std::string>();
    if (t % 2 == 0) {
      images += count_of(value, "<image>");
      videos += count_of(value, "<video>");
    } else if (value.find("<image>") != std::string::npos || value.find("<video>") != std::string::npos) {
      fail("turn ", t + 1, " (assistant) has an <image> or <video> placeholder; they belong in user turns");
    }
    s.turns.push_back(std::move(value));
  }
  if (images != static_cast<int>(s.images.size()))
    fail("has ", images, " <image> placeholder", images == 1 ? "" : "s", " but ", s.images.size(), " image",
         s.images.size() == 1 ? "" : "s");
  if (videos != static_cast<int>(s.videos.size()))
    fail("has ", videos, " <video> placeholder", videos == 1 ? "" : "s", " but ", s.videos.size(), " video",
         s.videos.size() == 1 ? "" : "s");
  if (o.check_files_exist) {
    for (const auto& p : s.images) {
      if (!std::filesystem::is_regular_file(p)) fail("image ", p.string(), " does not exist");
      if (o.max_image_pixels > 0) {  // the header only: a bomb is refused before anything decodes it
        const auto [width, height] = media::image_size(p);
        if (static_cast<std::int64_t>(width) * height > o.max_image_pixels)
          fail("image ", p.string(), " has ", width, " x ", height, " = ", static_cast<std::int64_t>(width) * height,
               " pixels, over the limit of ", o.max_image_pixels, " (raise data.max_image_pixels, or 0 for none)");
      }
    }
    for (const auto& p : s.videos)
      if (!std::filesystem::is_regular_file(p)) fail("video ", p.string(), " does not exist");
  }
  return s;
}
}  // namespace

dataset load_dataset(const dataset_options& o) {
  std::ifstream in(o.file, std::ios::binary);
  if (!in) fail("cannot open the dataset ", o.file.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const std::string src = o.file.string();

  // A JSON list, or JSONL (one sample per line).
  std::vector<std::pair<json, std::string>> items;  // sample, or the syntax problem of its line
  std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) fail("dataset ", src, " is empty");
  if (text[first] == '[') {
    json all;
    try {
      all = json::parse(text);
    } catch (const json::parse_error& e) {
      fail("dataset ", src, " is not valid JSON at ", line_column(text, e.byte > 0 ? e.byte - 1 : 0), " (",
           std::string(e.what()).substr(std::string(e.what()).find(':') + 2), ")");
    }
    for (auto& j : all) items.emplace_back(std::move(j), "");
  } else {
    std::istringstream lines(text);
    std::string line;
    std::size_t number = 0;
    while (std::getline(lines, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      try {
        items.emplace_back(json::parse(line), "");
      } catch (const json::parse_error& e) {
        items.emplace_back(json(), "line " + std::to_string(number) + " is not valid JSON (column " +
                                       std::to_string(e.byte) + ")");
      }
    }
  }

  dataset out;
  out.report.total = items.size();
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string problem = items[i].second;
    if (problem.empty()) {
      try {
        out.samples.push_back(check_sample(items[i].first, i, o));
        continue;
      } catch (const lmms::error& e) {
        problem = std::string(e.what()).substr(6);  // drop "lmms: "
      }
    }
    std::string message = src + " sample " + std::to_string(i) + ": " + problem;
    if (o.on_bad == on_bad_sample::error)
      fail(message, " (pass --on-bad-sample=skip to skip and count such samples)");
    out.report.problems.push_back(message);
    ++out.report.skipped;
  }
  out.report.kept = out.samples.size();
  return out;
}

}  // namespace lmms::data
