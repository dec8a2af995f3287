// Implementation of lmms/recipe/runner.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include <cstdio>

#include "lmms/core/error.hpp"
#include "lmms/recipe/runner.hpp"

namespace lmms::recipe {

loaded_samples load_samples(const resolved& r, const prepare_fn& prepare) {
  const auto on_bad = r.data.on_bad_sample == "skip" ? data::on_bad_sample::skip : data::on_bad_sample::error;
  auto load = [&](const std::string& file) {
    auto ds = data::load_dataset({.file = file, .image_folder = r.data.image_folder, .video_folder = r.data.video_folder,
                                  .on_bad = on_bad, .max_image_pixels = r.data.max_image_pixels});
    for (const auto& p : ds.report.problems) std::fprintf(stderr, "skipped: %s\n", p.c_str());
    auto prepared = prepare(ds, file);
    for (const auto& p : prepared.problems) std::fprintf(stderr, "dropped: %s\n", p.c_str());
    std::printf("%s: %zu samples (%zu skipped as malformed, %zu dropped as too long, %zu truncated)\n", file.c_str(),
                prepared.samples.size(), ds.report.skipped, prepared.dropped, prepared.truncated);
    return std::move(prepared.samples);
  };
  loaded_samples out;
  out.train = load(r.data.file);
  if (!r.data.eval_file.empty()) out.eval = load(r.data.eval_file);
  return out;
}

applied_policies apply_policies(torch::nn::Module& model, const resolved& r, const component_map& components,
                                const std::string& qlora_prefix) {
  applied_policies out;
  std::optional<lora> adapter;
  std::vector<std::string> lora_prefixes;
  bool qlora = false;
  for (const auto& [component, policy] : r.policies) {
    auto it = components.find(component);
    if (it == components.end()) fail("the model ", r.model_type, " has no component ", quote(component));
    const auto& modules = it->second;
    if (policy.kind == "lora" || policy.kind == "qlora") {
      if (adapter && (adapter->rank != policy.options.rank || adapter->alpha != policy.options.alpha ||
                      adapter->dropout != policy.options.dropout || adapter->rslora != policy.options.rslora ||
                      adapter->dora != policy.options.dora))
        fail("the LoRA options of ", component, " differ from another component's; a PEFT adapter has one rank, alpha and "
             "dropout (as in lmms-finetune): give every LoRA component the same");
      adapter = policy.options;
      qlora = qlora || policy.kind == "qlora";
      for (const auto& m : modules) lora_prefixes.push_back(m + ".");
    } else if (policy.kind == "full") {
      // a component's module absent from this checkpoint (lm_head when tied to the embeddings,
      // as in Qwen2-0.5B-based models) has nothing to train: the tied embeddings train instead
      for (const auto& m : modules) {
        bool present = false;
        for (const auto& p : model.named_parameters(true))
          if (p.key() == m || p.key().rfind(m + ".", 0) == 0) {
            present = true;
            break;
          }
        if (present) out.fully.push_back(m);
      }
    }
  }
  if (adapter) {
    out.lora = nn::lora_options{.rank = adapter->rank, .alpha = adapter->alpha, .dropout = adapter->dropout,
                                .rslora = adapter->rslora, .dora = adapter->dora};
    out.targets = training::apply_lora(model, *out.lora, [&](const std::string& name) {
      if (name == "lm_head") return false;  // lmms-finetune never adapts the head
      for (const auto& p : lora_prefixes)
        if (name.rfind(p, 0) == 0) return true;
      return false;
    });
    if (qlora)
      for (const auto& item : model.named_modules("", false))
        if (auto lin = std::dynamic_pointer_cast<nn::linear_impl>(item.value());
            lin && lin->has_lora() && item.key().rfind(qlora_prefix, 0) == 0)
          lin->quantize_nf4();
  } else {
    for (auto& p : model.parameters()) p.set_requires_grad(false);
  }
  if (!out.fully.empty()) training::train_fully(model, out.fully);
  return out;
}

training::loop_options loop_options_of(const resolved& r, text::token_id pad_token_id) {
  training::loop_options o;
  o.epochs = static_cast<int>(r.train.epochs);
  o.max_steps = r.train.max_steps;
  o.batch_size = static_cast<int>(r.train.batch_size);
  o.grad_accum = static_cast<int>(r.train.grad_accum);
  o.lr = r.train.lr;
  o.weight_decay = r.train.weight_decay;
  o.warmup_ratio = r.train.warmup_ratio;
  o.schedule = r.train.schedule == "linear" ? training::schedule::linear
               : r.train.schedule == "constant" ? training::schedule::constant
                                                : training::schedule::cosine;
  o.max_grad_norm = r.train.max_grad_norm;
  o.seed = static_cast<std::uint64_t>(r.train.seed);
  o.save_steps = r.train.save_steps;
  o.eval_steps = r.train.eval_steps;
  o.save_total_limit = static_cast<int>(r.train.save_total_limit);
  o.output_dir = r.train.output_dir;
  o.resume = r.train.resume;
  o.log_every = static_cast<int>(r.train.log_every);
  o.pad_token_id = pad_token_id;
  o.precision = r.precision == "bf16"   ? nn::precision::bf16
                : r.precision == "fp16" ? nn::precision::fp16
                                        : nn::precision::fp32;
  o.sampler = data::sampler_kind_of(r.data.sampler);
  o.prefetch = static_cast<std::size_t>(r.data.prefetch);
  o.checkpoint_files = {{"resolved_recipe.json", to_json(r)}};
  return o;
}

void print_trainable(torch::nn::Module& model, std::size_t samples, const applied_policies& applied) {
  std::int64_t trainable = 0, total = 0;
  for (const auto& p : model.parameters()) {
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  std::printf("training on %zu samples: %lld of %lld parameters trainable (%zu LoRA layers, %zu modules in full)\n", samples,
              static_cast<long long>(trainable), static_cast<long long>(total), applied.targets.size(), applied.fully.size());
}

void write_outputs(torch::nn::Module& model, const resolved& r, const applied_policies& applied,
                   const std::filesystem::path& model_dir,
                   const std::function<std::string(const std::string&)>& checkpoint_name) {
  namespace fs = std::filesystem;
  const fs::path output = r.train.output_dir;
  if (applied.lora) {
    training::save_peft_adapter(model, output / "adapter",
                                {.base_model = fs::absolute(model_dir).string(), .targets = applied.targets,
                                 .options = *applied.lora, .modules_to_save = applied.fully});
    std::printf("adapter: %s\n", (output / "adapter").c_str());
  } else {
    training::save_hf_model(model, output / "model", model_dir, checkpoint_name);
    std::printf("model: %s\n", (output / "model").c_str());
  }
}

}  // namespace lmms::recipe
