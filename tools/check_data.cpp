// tools/check_data.cpp: `lmms check-data`, a dataset scan before a run: every problem a training
// run would meet, named by file and sample, plus token-length statistics for a model.
//
//   lmms check-data --data train.json [--image-folder DIR] [--video-folder DIR]
//                   [--model DIR [--max-length N] [--num-frames N]]
//
// 1. The file as the trainer loads it in skip mode (JSON syntax with line and column, roles,
//    placeholders vs media counts, missing files: data/dataset.hpp).
// 2. Every image decoded in full and every video's sampled frames decoded (a truncated or
//    corrupt file is found here, not hours into a run).
// 3. With --model, each sample rendered in the model's chat format and its media expanded as
//    the model counts them (config and processor files only, no weights): token lengths (min,
//    mean, median, p95, max) and the samples max_length would truncate or drop.
// Prints one line per problem, then a JSON summary; exit 1 when anything is wrong.
#include <algorithm>
#include <cstdio>
#include <map>
#include <numeric>

#include <nlohmann/json.hpp>

#include "lmms/core/error.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/io/hf_config.hpp"
#include "lmms/media/image.hpp"
#include "lmms/media/video.hpp"
#include "lmms/models/llava/data.hpp"
#include "lmms/models/mllama/data.hpp"
#include "lmms/models/phi3_v/data.hpp"
#include "lmms/models/qwen2_vl/data.hpp"
#include "lmms/models/qwen_vl/data.hpp"
#include "lmms/processors/qwen2_vl.hpp"
#include "lmms/text/chat.hpp"

namespace {
using namespace lmms;

// Token counts of the kept samples in the model's format; problems for those max_length drops.
llava::prepared_samples prepare_for(const std::filesystem::path& model_dir, const data::dataset& ds,
                                    const llava::prepare_options& options, const std::string& source) {
  auto config = io::hf_config::load(model_dir);
  const std::string type = config.get_string_or("model_type", "");
  auto tok = text::tokenizer::load(model_dir);
  if (type == "qwen2_vl" || type == "qwen2_5_vl") {
    text::chat_renderer chat(tok, text::chat_format::qwen2_vl);
    return qwen2vl::prepare_samples(ds, chat, qwen2vl::qwen2_vl_config::from_hf(config),
                                    processors::qwen2_vl_image_config::load(model_dir), options, source);
  }
  if (type == "llava" || type == "llava_next" || type == "llava_next_video" || type == "llava_onevision") {
    auto cfg = llava::llava_config::from_hf(config);
    text::chat_renderer chat(tok, llava::chat_format_of(cfg));
    return llava::prepare_samples(ds, chat, cfg, options, source);
  }
  if (type == "mllama") {
    text::chat_renderer chat(tok, text::chat_format::llama3_vision);
    return mllama::prepare_samples(ds, chat, mllama::mllama_config::from_hf(config), options, source);
  }
  if (type == "phi3_v") {
    text::chat_renderer chat(tok, text::chat_format::phi3_v);
    return phi3_v::prepare_samples(ds, chat, phi3_v::phi3_v_config::from_hf(config),
                                   processors::phi3_v_image_config::load(model_dir), options, source);
  }
  if (type == "qwen") {
    text::chat_renderer chat(tok, text::chat_format::qwen_vl);
    return qwen_vl::prepare_samples(ds, chat, qwen_vl::qwen_vl_config::from_hf(config), options, source);
  }
  fail(model_dir.string(), ": check-data does not know model_type ", quote(type),
       " (llava, llava_next, llava_next_video, llava_onevision, qwen2_vl, qwen2_5_vl, mllama, phi3_v, qwen)");
}

}  // namespace

int check_data_command(const std::vector<std::string>& args) {
  std::map<std::string, std::string> flags;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    if (args[i].rfind("--", 0) != 0 || i + 1 >= args.size()) fail("check-data: arguments are --name value pairs (see lmms help)");
    const std::string k = args[i].substr(2);
    if (k != "data" && k != "image-folder" && k != "video-folder" && k != "model" && k != "max-length" && k != "num-frames" &&
        k != "max-image-pixels")
      fail("check-data: unknown option --", k, " (see lmms help)");
    flags[k] = args[i + 1];
  }
  if (!flags.count("data")) fail("check-data needs --data FILE");
  const std::string file = flags["data"];
  const int num_frames = flags.count("num-frames") ? std::stoi(flags["num-frames"]) : 8;
  const std::int64_t max_length = flags.count("max-length") ? std::stoll(flags["max-length"]) : 2048;
  const std::int64_t max_pixels = flags.count("max-image-pixels") ? std::stoll(flags["max-image-pixels"]) : 178956970;

  // 1. the file, as the trainer loads it (skip mode: every problem, not only the first)
  auto ds = data::load_dataset({.file = file, .image_folder = flags.count("image-folder") ? flags["image-folder"] : "",
                                .video_folder = flags.count("video-folder") ? flags["video-folder"] : "",
                                .on_bad = data::on_bad_sample::skip, .max_image_pixels = max_pixels});
  std::vector<std::string> problems = ds.report.problems;

  // 2. every medium decoded; a sample with a bad one is set aside
  data::dataset good;
  std::size_t images = 0, videos = 0;
  for (const auto& s : ds.samples) {
    bool ok = true;
    try {
      for (const auto& f : s.images) {
        media::load_image(f);
        ++images;
      }
      for (const auto& f : s.videos) {
        media::load_video(f, num_frames);
        ++videos;
      }
    } catch (const lmms::error& e) {
      problems.push_back(file + " sample " + std::to_string(s.index) + ": " + std::string(e.what()).substr(6));
      ok = false;
    }
    if (ok) good.samples.push_back(s);
  }

  nlohmann::json summary = {{"file", file}, {"samples", ds.report.total}, {"images", images}, {"videos", videos}};
  // 3. token lengths in the model's format
  if (flags.count("model")) {
    auto prepared = prepare_for(flags["model"], good, {.max_length = max_length, .num_frames = num_frames}, file);
    for (const auto& p : prepared.problems) problems.push_back(p);
    std::vector<std::int64_t> lengths;
    // lengths after preparation (truncated samples are cut to max_length and counted apart)
    for (const auto& t : prepared.samples) lengths.push_back(static_cast<std::int64_t>(t.input_ids.size()));
    std::sort(lengths.begin(), lengths.end());
    auto at = [&](double q) { return lengths[static_cast<std::size_t>(q * static_cast<double>(lengths.size() - 1))]; };
    if (!lengths.empty())
      summary["tokens"] = {{"min", lengths.front()},
                           {"mean", static_cast<double>(std::accumulate(lengths.begin(), lengths.end(), std::int64_t{0})) /
                                        static_cast<double>(lengths.size())},
                           {"median", at(0.5)},
                           {"p95", at(0.95)},
                           {"max", lengths.back()}};
    summary["max_length"] = max_length;
    summary["truncated"] = prepared.truncated;
    summary["dropped_too_long"] = prepared.dropped;
  }
  for (const auto& p : problems) std::printf("problem: %s\n", p.c_str());
  summary["problems"] = problems.size();
  std::printf("%s\n", summary.dump().c_str());
  return problems.empty() ? 0 : 1;
}
