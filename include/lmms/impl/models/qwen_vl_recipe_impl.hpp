// Implementation of the Qwen-VL-Chat recipe runner (lmms/models/qwen_vl/recipe.hpp).
#pragma once

#include <cstdio>

#include "lmms/core/error.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/qwen_vl/data.hpp"
#include "lmms/models/qwen_vl/qwen_vl.hpp"
#include "lmms/models/qwen_vl/recipe.hpp"
#include "lmms/recipe/runner.hpp"

namespace lmms::qwen_vl {

namespace {
// Where each component's parameters live (the checkpoint's names), as lmms-finetune's
// MODULE_KEYWORDS for qwen-vl split the model; the tower's positional_embedding and proj are
// parameters of transformer.visual itself.
const recipe::component_map component_modules = {
    {"llm", {"transformer.wte", "transformer.h", "transformer.ln_f", "lm_head"}},
    {"vision", {"transformer.visual.conv1", "transformer.visual.positional_embedding", "transformer.visual.ln_pre",
                "transformer.visual.transformer", "transformer.visual.ln_post", "transformer.visual.proj"}},
    {"projector", {"transformer.visual.attn_pool"}},
};
}  // namespace

int train_recipe(const recipe::resolved& r) {
  namespace fs = std::filesystem;
  const fs::path model_dir = r.model_path, output = r.train.output_dir;
  at::manual_seed(static_cast<std::uint64_t>(r.train.seed));  // before LoRA init

  auto hf = io::hf_config::load(model_dir);
  const std::string type = hf.get_string_or("model_type", "");
  if (type != "qwen") fail(hf.source(), ": model_type ", quote(type), " but the recipe's model is qwen-vl (qwen)");
  bool any_lora = false, vision_full = false;
  for (const auto& [component, policy] : r.policies) {
    any_lora = any_lora || policy.kind == "lora" || policy.kind == "qlora";
    vision_full = vision_full || (component == "vision" && policy.kind == "full");
  }
  if (any_lora && vision_full)
    fail("vision(full) with LoRA elsewhere: Qwen-VL's tower has parameters outside any module (positional_embedding, "
         "proj), which a PEFT adapter cannot carry as modules_to_save; use vision(lora{...}) or vision(frozen) with "
         "LoRA, or train every component in full");
  auto config = qwen_vl_config::from_hf(hf);
  qwen_vl_model model(config);
  auto checkpoint = io::safetensors_checkpoint::open(model_dir);
  load_weights(*model, checkpoint);
  model->language_model->gradient_checkpointing = r.train.gradient_checkpointing;
  model->visual->gradient_checkpointing = r.train.gradient_checkpointing;

  // ---- data ----
  auto tok = text::tokenizer::load(model_dir);
  text::chat_renderer chat(tok, text::chat_format::qwen_vl);
  auto loaded = recipe::load_samples(r, [&](const data::dataset& ds, const std::string& file) {
    return prepare_samples(ds, chat, config, {.max_length = r.data.max_length}, file);
  });
  const auto& samples = loaded.train;
  const auto& eval = loaded.eval;
  // lmms-finetune pads Qwen-VL with the tokenizer's eod_id, <|endoftext|>
  const text::token_id pad = tok.token_to_id("<|endoftext|>").value_or(0);

  // ---- per-component policies, trainer ----
  auto applied = recipe::apply_policies(*model, r, component_modules, "transformer.h.");
  model->visual->attn_pool->pos_embed.set_requires_grad(false);  // the fixed sin-cos table, as in the remote code
  training::loop_options o = recipe::loop_options_of(r, pad);
  recipe::print_trainable(*model, samples.size(), applied);
  auto hidden = [model](const training::lm_batch& b) mutable { return model->hidden_states(inputs_of(b)); };
  auto head = [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); };
  training::lm_trainer trainer(model.ptr(), hidden, head, o);
  const std::int64_t pack = r.data.packing ? r.data.max_length : 0;
  auto records = trainer.run(batch_source_of(samples, config, pad, pack, r.data.media_threads),
                             batch_source_of(eval, config, pad, 0, r.data.media_threads));

  // ---- outputs ----
  recipe::write_outputs(*model, r, applied, model_dir, [](const std::string& name) { return name; });
  if (r.train.check_logits) {
    model->eval();
    at::NoGradGuard no_grad;
    auto batch = batch_source_of(samples, config, pad).collate({0});
    io::named_tensors check{{"input_ids", batch.input_ids}, {"logits", model->forward(inputs_of(batch))}};
    if (batch.pixel_values.defined()) check.emplace_back("pixel_values", batch.pixel_values);
    io::save_safetensors(output / "check_logits.safetensors", check);
  }
  if (!records.empty())
    std::printf("loss %.4f -> %.4f over %zu steps; loss curve: %s\n", records.front().loss, records.back().loss,
                records.size(), (output / "loss.svg").c_str());
  return 0;
}

}  // namespace lmms::qwen_vl
