// lmms/recipe/resolved.hpp: a recipe as values (what the trainer binary runs, what --dry-run
// prints and what is written as resolved_recipe.json), flag / --config overrides and help.
// Non-template and torch-free: compiled once in the shared runtime. No torch.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lmms/recipe/parts.hpp"

namespace lmms::recipe {

struct data_values {
  std::string file, image_folder, video_folder, eval_file;
  std::int64_t max_length = 2048;
  std::string on_bad_sample = "error";
  bool packing = false;
  std::int64_t num_frames = 8;
  std::string sampler = "random";
  std::int64_t max_image_pixels = 178956970;
  std::int64_t prefetch = 2;
  std::int64_t media_threads = 0;
};

struct policy_value {
  std::string kind = "frozen";  // frozen, full, lora, qlora (fixed by the recipe's types)
  lora options;                 // read for lora / qlora
};

struct resolved;
using train_function = int (*)(const resolved&);

struct resolved {
  std::string model_type;  // model_traits<M>::name
  std::string model_path;
  std::string data_media = "images";
  data_values data;
  std::map<std::string, policy_value> policies;  // component name -> policy
  std::string collator;
  std::string precision = "fp32";
  lmms::train train;
  train_function train_fn = nullptr;
  // provenance (filled by run_resolved)
  std::string recipe_source, recipe_commit, lmms_version, libtorch_version, device = "cpu";
};

/// Every problem of a command line / config file: "--train.lr: 'x' is not a number", ...
struct override_problems {
  std::vector<std::string> lines;
};

/// Applies one "section.field" = text; false with a problem line when it does not fit.
bool set_field(resolved& r, const std::string& key, const std::string& text, std::vector<std::string>& problems);
/// Range checks of the resolved values (lr > 0, batch_size >= 1, schedule name, ...).
std::vector<std::string> validate(const resolved& r);
/// The JSON text of the resolved recipe (every field, defaults included, and provenance).
std::string to_json(const resolved& r);
/// Applies a resolved_recipe.json (or any subset of it) as overrides.
void apply_config_file(resolved& r, const std::string& file, std::vector<std::string>& problems);
/// "--section.field  default  doc" lines for every overridable field.
std::string help_text(const resolved& r, const std::string& program);

/// Called by the TU lmms_add_recipe() generates: the recipe's source file and git commit.
bool set_provenance(const char* source, const char* commit);

/// The trainer binary's main: parses argv (--config FILE, --section.field=value, --help,
/// --dry-run), reports all problems together, writes output_dir/resolved_recipe.json and
/// calls r.train_fn. Returns the process exit code.
int run_resolved(resolved r, int argc, char** argv);

}  // namespace lmms::recipe

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/recipe/resolved_impl.hpp"
#endif
