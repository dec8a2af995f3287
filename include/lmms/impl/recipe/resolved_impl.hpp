// Implementation of lmms/recipe/resolved.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lmms/core/error.hpp"
#include "lmms/io/atomic_write.hpp"
#include "lmms/recipe/resolved.hpp"
#include "lmms/version.hpp"

namespace lmms::recipe {

namespace {
/// Every overridable field: f(section, name, reference, doc). The one list of names and docs.
template <class R, class F>
void each_field(R& r, F&& f) {
  f("model", "path", r.model_path, "Hugging Face model directory (config.json, safetensors, tokenizer, processor)");
  f("data", "file", r.data.file, "the training file: a LLaVA-style JSON list or JSONL (docs/dataset.md)");
  f("data", "image_folder", r.data.image_folder, "folder that relative image paths are read from");
  f("data", "video_folder", r.data.video_folder, "folder that relative video paths are read from");
  f("data", "eval_file", r.data.eval_file, "held-out file for eval loss (empty: none)");
  f("data", "max_length", r.data.max_length, "tokens per sample after media expansion; image spans are never cut");
  f("data", "on_bad_sample", r.data.on_bad_sample, "a malformed sample: error (stop) or skip (drop and count)");
  f("data", "packing", r.data.packing, "pack several samples into each row of max_length tokens (per-sample attention and positions)");
  f("data", "num_frames", r.data.num_frames, "frames sampled uniformly from each video");
  f("data", "sampler", r.data.sampler, "which samples share a micro-batch: random, group_by_length or no_text_only");
  f("data", "max_image_pixels", r.data.max_image_pixels, "an image with more pixels is a bad sample (0: no limit)");
  f("data", "prefetch", r.data.prefetch, "micro-batches decoded and collated ahead on a background thread (0: none)");
  f("data", "media_threads", r.data.media_threads, "threads decoding and processing a micro-batch's images and videos (0: up to 4)");
  for (auto& [component, p] : r.policies) {
    if (p.kind != "lora" && p.kind != "qlora") continue;
    f(component, "rank", p.options.rank, "LoRA rank r");
    f(component, "alpha", p.options.alpha, "LoRA scaling numerator (alpha / r, or alpha / sqrt(r) with rslora)");
    f(component, "dropout", p.options.dropout, "dropout on the adapter input while training");
    f(component, "rslora", p.options.rslora, "rank-stabilized scaling alpha / sqrt(r)");
    f(component, "dora", p.options.dora, "weight-decomposed LoRA (a trained magnitude per output row)");
  }
  auto& t = r.train;
  f("train", "epochs", t.epochs, "passes over the training data");
  f("train", "max_steps", t.max_steps, "stop after this many optimizer steps (> 0 overrides epochs)");
  f("train", "batch_size", t.batch_size, "samples per micro-batch");
  f("train", "grad_accum", t.grad_accum, "micro-batches per optimizer step (token-weighted)");
  f("train", "lr", t.lr, "peak learning rate");
  f("train", "weight_decay", t.weight_decay, "AdamW decoupled weight decay (never on biases and norms)");
  f("train", "warmup_ratio", t.warmup_ratio, "share of the steps spent warming up linearly");
  f("train", "schedule", t.schedule, "after warm-up: cosine, linear or constant");
  f("train", "max_grad_norm", t.max_grad_norm, "global gradient-norm clip (0: none)");
  f("train", "seed", t.seed, "seed of initialization, dropout and data order");
  f("train", "save_steps", t.save_steps, "checkpoint every N steps (0: only at the end)");
  f("train", "eval_steps", t.eval_steps, "eval loss every N steps when data.eval_file is set (0: at the end)");
  f("train", "save_total_limit", t.save_total_limit, "checkpoints kept (0: all)");
  f("train", "output_dir", t.output_dir, "checkpoints, log.jsonl, loss.svg, resolved_recipe.json and the outputs");
  f("train", "gradient_checkpointing", t.gradient_checkpointing, "recompute activations in backward to save memory");
  f("train", "log_every", t.log_every, "plain progress lines every N steps (a bar on a terminal)");
  f("train", "resume", t.resume, "continue from the newest complete checkpoint in output_dir");
  f("train", "check_logits", t.check_logits, "also write check_logits.safetensors (first sample) for the Python check");
}

bool parse_into(std::string& v, const std::string& text) { return v = text, true; }
bool parse_into(bool& v, const std::string& text) {
  if (text == "true" || text == "1") return v = true, true;
  if (text == "false" || text == "0") return v = false, true;
  return false;
}
bool parse_into(std::int64_t& v, const std::string& text) {
  try {
    std::size_t used = 0;
    long long x = std::stoll(text, &used);
    if (used != text.size()) return false;
    v = x;
    return true;
  } catch (...) {
    return false;
  }
}
bool parse_into(double& v, const std::string& text) {
  try {
    std::size_t used = 0;
    double x = std::stod(text, &used);
    if (used != text.size()) return false;
    v = x;
    return true;
  } catch (...) {
    return false;
  }
}
const char* type_name(const std::string&) { return "a string"; }
const char* type_name(const bool&) { return "true or false"; }
const char* type_name(const std::int64_t&) { return "an integer"; }
const char* type_name(const double&) { return "a number"; }

template <class T>
nlohmann::json json_of(const T& v) {
  return nlohmann::json(v);
}
std::string text_of(const nlohmann::json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }
}  // namespace

bool set_field(resolved& r, const std::string& key, const std::string& text, std::vector<std::string>& problems) {
  bool found = false, ok = true;
  each_field(r, [&](const std::string& section, const char* name, auto& value, const char*) {
    if (found || key != section + "." + name) return;
    found = true;
    if (!parse_into(value, text)) {
      ok = false;
      problems.push_back("--" + key + ": " + quote(text) + " is not " + type_name(value));
    }
  });
  if (!found) {
    const auto dot = key.find('.');
    const std::string section = key.substr(0, dot);
    if (r.policies.count(section) && r.policies.at(section).kind != "lora" && r.policies.at(section).kind != "qlora")
      problems.push_back("--" + key + ": the recipe's " + section + " policy is " + r.policies.at(section).kind +
                         ", which has no fields (the policy kind is fixed when the recipe compiles)");
    else
      problems.push_back("--" + key + ": no such field (--help lists them)");
  }
  return found && ok;
}

std::vector<std::string> validate(const resolved& r) {
  std::vector<std::string> p;
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) p.push_back(what);
  };
  need(!r.model_path.empty(), "model.path is empty: set it in the recipe or with --model.path=DIR");
  need(!r.data.file.empty(), "data.file is empty: set it in the recipe or with --data.file=FILE");
  need(r.data.max_length >= 16, "data.max_length must be at least 16, got " + std::to_string(r.data.max_length));
  need(r.data.on_bad_sample == "error" || r.data.on_bad_sample == "skip",
       "data.on_bad_sample must be error or skip, got " + quote(r.data.on_bad_sample));
  need(r.data.sampler == "random" || r.data.sampler == "group_by_length" || r.data.sampler == "no_text_only",
       "data.sampler must be random, group_by_length or no_text_only, got " + quote(r.data.sampler));
  need(r.data.max_image_pixels >= 0, "data.max_image_pixels must be 0 (no limit) or more");
  need(r.data.media_threads >= 0 && r.data.media_threads <= 256, "data.media_threads must be in [0, 256]");
  need(r.data.prefetch >= 0 && r.data.prefetch <= 64, "data.prefetch must be in [0, 64], got " + std::to_string(r.data.prefetch));
  for (const auto& [c, pol] : r.policies)
    if (pol.kind == "lora" || pol.kind == "qlora") {
      need(pol.options.rank >= 1, c + ".rank must be at least 1, got " + std::to_string(pol.options.rank));
      need(pol.options.dropout >= 0 && pol.options.dropout < 1, c + ".dropout must be in [0, 1)");
    }
  const auto& t = r.train;
  need(t.epochs >= 1 || t.max_steps > 0, "train.epochs must be at least 1 (or set train.max_steps)");
  need(t.batch_size >= 1, "train.batch_size must be at least 1, got " + std::to_string(t.batch_size));
  need(t.grad_accum >= 1, "train.grad_accum must be at least 1, got " + std::to_string(t.grad_accum));
  need(t.lr > 0, "train.lr must be above 0");
  need(t.weight_decay >= 0, "train.weight_decay must be at least 0");
  need(t.warmup_ratio >= 0 && t.warmup_ratio <= 1, "train.warmup_ratio must be in [0, 1]");
  need(t.schedule == "cosine" || t.schedule == "linear" || t.schedule == "constant",
       "train.schedule must be cosine, linear or constant, got " + quote(t.schedule));
  need(t.max_grad_norm >= 0, "train.max_grad_norm must be at least 0 (0: no clipping)");
  need(t.log_every >= 1, "train.log_every must be at least 1");
  need(!t.output_dir.empty(), "train.output_dir is empty");
  return p;
}

std::string to_json(const resolved& r) {
  nlohmann::ordered_json j;
  j["lmms_version"] = r.lmms_version;
  j["libtorch_version"] = r.libtorch_version;
  j["device"] = r.device;
  j["recipe_source"] = r.recipe_source;
  j["recipe_commit"] = r.recipe_commit;
  j["model_type"] = r.model_type;
  j["collator"] = r.collator;
  j["precision"] = r.precision;
  j["data_media"] = r.data_media;
  for (const auto& [c, p] : r.policies) j["policies"][c] = p.kind;
  each_field(r, [&](const std::string& section, const char* name, const auto& value, const char*) {
    j[section][name] = json_of(value);
  });
  return j.dump(2) + "\n";
}

void apply_config_file(resolved& r, const std::string& file, std::vector<std::string>& problems) {
  std::ifstream in(file);
  if (!in) {
    problems.push_back("--config: cannot open " + quote(file));
    return;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    problems.push_back("--config: " + file + " is not valid JSON (" + e.what() + ")");
    return;
  }
  // the type-level choices must be those this binary was compiled with
  for (const char* k : {"model_type", "collator", "precision", "data_media"}) {
    const std::string& mine = k == std::string("model_type") ? r.model_type
                              : k == std::string("collator") ? r.collator
                              : k == std::string("precision") ? r.precision
                                                              : r.data_media;
    if (j.contains(k) && j[k].is_string() && j[k].get<std::string>() != mine)
      problems.push_back(std::string("--config: ") + file + " has " + k + " " + quote(j[k].get<std::string>()) +
                         " but this binary was compiled with " + quote(mine) + " (edit the recipe and rebuild)");
  }
  if (j.contains("policies") && j["policies"].is_object())
    for (const auto& [c, kind] : j["policies"].items()) {
      auto it = r.policies.find(c);
      if (it == r.policies.end() || !kind.is_string() || kind.get<std::string>() != it->second.kind)
        problems.push_back("--config: " + file + " gives " + c + " the policy " + text_of(kind) + " but this binary was compiled with " +
                           (it == r.policies.end() ? std::string("no such component") : it->second.kind) +
                           " (policy kinds are types: edit the recipe and rebuild)");
    }
  for (const auto& [section, fields] : j.items()) {
    if (!fields.is_object() || section == "policies") continue;
    for (const auto& [name, value] : fields.items()) set_field(r, section + "." + name, text_of(value), problems);
  }
}

std::string help_text(const resolved& r, const std::string& program) {
  std::ostringstream o;
  o << "A trainer for " << r.model_type << " built from a recipe (docs/recipes.md).\n\n"
    << "usage: " << (program.empty() ? "RECIPE" : program) << " [--config FILE] [--section.field=value ...] [--dry-run] [--help]\n\n"
    << "  --config FILE    values from a JSON file (a resolved_recipe.json reproduces its run); flags win\n"
    << "  --dry-run        print the resolved recipe as JSON and exit\n\n"
    << "compiled choices: model " << r.model_type << ", data " << r.data_media << ", collator " << r.collator
    << ", precision " << r.precision;
  for (const auto& [c, p] : r.policies) o << ", " << c << " " << p.kind;
  o << "\nrecipe source: " << (r.recipe_source.empty() ? "unknown" : r.recipe_source) << "\n\nfields (current value, then what it does):\n";
  each_field(r, [&](const std::string& section, const char* name, const auto& value, const char* doc) {
    std::string flag = "--" + section + "." + name;
    std::string current = text_of(json_of(value));
    char line[512];
    std::snprintf(line, sizeof line, "  %-30s %-14s %s\n", flag.c_str(), current.c_str(), doc);
    o << line;
  });
  return o.str();
}

namespace {
std::string& provenance_source() {
  static std::string s;
  return s;
}
std::string& provenance_commit() {
  static std::string s;
  return s;
}
}  // namespace

bool set_provenance(const char* source, const char* commit) {
  provenance_source() = source;
  provenance_commit() = commit;
  return true;
}

int run_resolved(resolved r, int argc, char** argv) {
  r.recipe_source = provenance_source();
  r.recipe_commit = provenance_commit();
  r.lmms_version = lmms::version;
  r.libtorch_version = lmms::torch_version();
  std::vector<std::string> problems, flags;
  bool dry_run = false;
  std::string config;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(help_text(r, argv[0]).c_str(), stdout);
      return 0;
    }
    if (a == "--dry-run") dry_run = true;
    else if (a == "--config" && i + 1 < argc) config = argv[++i];
    else if (a.rfind("--config=", 0) == 0) config = a.substr(9);
    else if (a.rfind("--", 0) == 0 && a.find('.') != std::string::npos) {
      if (a.find('=') == std::string::npos) {
        if (i + 1 < argc) a += "=" + std::string(argv[++i]);
        else problems.push_back(a + ": needs a value (--section.field=value)");
      }
      flags.push_back(a.substr(2));
    } else {
      problems.push_back(quote(a) + ": not an option (--section.field=value, --config FILE, --dry-run, --help)");
    }
  }
  if (!config.empty()) apply_config_file(r, config, problems);
  for (const auto& f : flags)
    if (auto eq = f.find('='); eq != std::string::npos) set_field(r, f.substr(0, eq), f.substr(eq + 1), problems);
  for (auto& p : validate(r)) problems.push_back(p);
  if (!problems.empty()) {
    std::fprintf(stderr, "lmms: %zu problem%s with this run's settings:\n", problems.size(), problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) std::fprintf(stderr, "  %s\n", p.c_str());
    std::fprintf(stderr, "(--help lists every field with its current value)\n");
    return 2;
  }
  const std::string json = to_json(r);
  if (dry_run) {
    std::fputs(json.c_str(), stdout);
    return 0;
  }
  std::filesystem::create_directories(r.train.output_dir);
  io::write_file_atomically(std::filesystem::path(r.train.output_dir) / "resolved_recipe.json", json);
  std::printf("lmms %s: %s from %s; data %s (%s); precision %s;", r.lmms_version.c_str(), r.model_type.c_str(),
              r.model_path.c_str(), r.data.file.c_str(), r.data_media.c_str(), r.precision.c_str());
  for (const auto& [c, p] : r.policies) std::printf(" %s %s;", c.c_str(), p.kind.c_str());
  std::printf(" resolved recipe: %s/resolved_recipe.json\n", r.train.output_dir.c_str());
  std::fflush(stdout);
  try {
    return r.train_fn(r);
  } catch (const lmms::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

}  // namespace lmms::recipe
