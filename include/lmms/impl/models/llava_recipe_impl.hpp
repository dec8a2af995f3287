// Implementation of the LLaVA-1.5 recipe runner (lmms/models/llava/llava_1_5.hpp).
#pragma once

#include <cstdio>

#include "lmms/core/error.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/checkpoint_layout.hpp"
#include "lmms/models/llava/data.hpp"
#include "lmms/models/llava/llava.hpp"
#include "lmms/models/llava/llava_1_5.hpp"
#include "lmms/train/lora.hpp"
#include "lmms/train/loop.hpp"

namespace lmms::llava {

namespace {
// Where each component's parameters live in the model (transformers' in-memory names).
const std::map<std::string, std::vector<std::string>> component_modules = {
    {"llm", {"model.language_model", "lm_head"}},
    {"vision", {"model.vision_tower"}},
    {"projector", {"model.multi_modal_projector"}},
};
}  // namespace

int train_recipe(const recipe::resolved& r) {
  namespace fs = std::filesystem;
  const fs::path model_dir = r.model_path, output = r.train.output_dir;
  at::manual_seed(static_cast<std::uint64_t>(r.train.seed));  // before LoRA init: libtorch's CPU generator starts unseeded

  auto config = llava_config::from_hf(io::hf_config::load(model_dir));
  llava_model model(config);
  auto checkpoint = io::safetensors_checkpoint::open(model_dir);
  load_weights(*model, checkpoint);
  model->language_model->gradient_checkpointing = r.train.gradient_checkpointing;
  model->vision_tower->gradient_checkpointing = r.train.gradient_checkpointing;

  // ---- data ----
  auto tok = text::tokenizer::load(model_dir);
  text::chat_renderer chat(tok, text::chat_format::llava);
  const auto on_bad = r.data.on_bad_sample == "skip" ? data::on_bad_sample::skip : data::on_bad_sample::error;
  auto load = [&](const std::string& file) {
    auto ds = data::load_dataset({.file = file, .image_folder = r.data.image_folder, .video_folder = r.data.video_folder,
                                  .on_bad = on_bad});
    for (const auto& p : ds.report.problems) std::fprintf(stderr, "skipped: %s\n", p.c_str());
    auto prepared = prepare_samples(ds, chat, config, {.max_length = r.data.max_length}, file);
    for (const auto& p : prepared.problems) std::fprintf(stderr, "dropped: %s\n", p.c_str());
    std::printf("%s: %zu samples (%zu skipped as malformed, %zu dropped as too long, %zu truncated)\n", file.c_str(),
                prepared.samples.size(), ds.report.skipped, prepared.dropped, prepared.truncated);
    return prepared.samples;
  };
  const auto samples = load(r.data.file);
  std::vector<sample_tokens> eval;
  if (!r.data.eval_file.empty()) eval = load(r.data.eval_file);
  const auto processor = processors::clip_config::load(model_dir);
  const text::token_id pad = tok.token_to_id("<pad>").value_or(0);

  // ---- per-component policies ----
  std::optional<lora> adapter;  // PEFT keeps one rank / alpha per adapter: LoRA components share them
  std::vector<std::string> lora_prefixes, fully;
  for (const auto& [component, policy] : r.policies) {
    const auto& modules = component_modules.at(component);
    if (policy.kind == "lora" || policy.kind == "qlora") {
      if (adapter && (adapter->rank != policy.options.rank || adapter->alpha != policy.options.alpha ||
                      adapter->dropout != policy.options.dropout || adapter->rslora != policy.options.rslora ||
                      adapter->dora != policy.options.dora))
        fail("the LoRA options of ", component, " differ from another component's; a PEFT adapter has one rank, alpha and "
             "dropout (as in lmms-finetune): give every LoRA component the same");
      adapter = policy.options;
      for (const auto& m : modules) lora_prefixes.push_back(m + ".");
    } else if (policy.kind == "full") {
      fully.insert(fully.end(), modules.begin(), modules.end());
    }
  }
  nn::lora_options lora_options;
  std::vector<std::string> targets;
  if (adapter) {
    lora_options = {.rank = adapter->rank, .alpha = adapter->alpha, .dropout = adapter->dropout, .rslora = adapter->rslora,
                    .dora = adapter->dora};
    targets = training::apply_lora(*model, lora_options, [&](const std::string& name) {
      if (name == "lm_head") return false;  // lmms-finetune never adapts the head
      for (const auto& p : lora_prefixes)
        if (name.rfind(p, 0) == 0) return true;
      return false;
    });
    if (r.policies.at("llm").kind == "qlora")
      for (const auto& item : model->named_modules("", false))
        if (auto lin = std::dynamic_pointer_cast<nn::linear_impl>(item.value());
            lin && lin->has_lora() && item.key().rfind("model.language_model.", 0) == 0)
          lin->quantize_nf4();
  } else {
    for (auto& p : model->parameters()) p.set_requires_grad(false);
  }
  if (!fully.empty()) training::train_fully(*model, fully);

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
  o.output_dir = output;
  o.resume = r.train.resume;
  o.log_every = static_cast<int>(r.train.log_every);
  o.pad_token_id = pad;
  o.precision = r.precision == "bf16" ? nn::precision::bf16 : nn::precision::fp32;
  o.checkpoint_files = {{"resolved_recipe.json", recipe::to_json(r)}};

  std::int64_t trainable = 0, total = 0;
  for (const auto& p : model->parameters()) {
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  std::printf("training on %zu samples: %lld of %lld parameters trainable (%zu LoRA layers, %zu modules in full)\n",
              samples.size(), static_cast<long long>(trainable), static_cast<long long>(total), targets.size(), fully.size());
  auto hidden = [model](const training::lm_batch& b) mutable {
    return model->hidden_states(b.input_ids, b.attention_mask, b.pixel_values);
  };
  auto head = [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); };
  training::lm_trainer trainer(model.ptr(), hidden, head, o);
  auto records = trainer.run(batch_source_of(samples, processor, pad), batch_source_of(eval, processor, pad));

  // ---- outputs ----
  if (adapter) {
    training::save_peft_adapter(*model, output / "adapter",
                             {.base_model = fs::absolute(model_dir).string(), .targets = targets, .options = lora_options,
                              .modules_to_save = fully});
    std::printf("adapter: %s\n", (output / "adapter").c_str());
  } else {
    auto model_out = output / "model";  // in the layout the base checkpoint came in
    training::save_hf_model(*model, model_out, model_dir, models::checkpoint_names(checkpoint));
    std::printf("model: %s\n", model_out.c_str());
  }
  if (r.train.check_logits) {
    model->eval();
    at::NoGradGuard no_grad;
    auto batch = batch_source_of(samples, processor, pad).collate({0});
    io::named_tensors check{{"input_ids", batch.input_ids},
                            {"logits", model->forward(batch.input_ids, batch.attention_mask, batch.pixel_values)}};
    if (batch.pixel_values.defined()) check.emplace_back("pixel_values", batch.pixel_values);
    io::save_safetensors(output / "check_logits.safetensors", check);
  }
  if (!records.empty())
    std::printf("loss %.4f -> %.4f over %zu steps; loss curve: %s\n", records.front().loss, records.back().loss,
                records.size(), (output / "loss.svg").c_str());
  return 0;
}

}  // namespace lmms::llava
