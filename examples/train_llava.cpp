// examples/train_llava.cpp: fine-tune a LLaVA-1.5 checkpoint (CLIP tower + projector + LLM) on
// a LLaVA-style dataset with images: LoRA on the language model (saved as a PEFT adapter,
// with the projector as modules_to_save when trained) or everything in full (saved as an HF
// model directory in the checkpoint's own layout).
//
// Build:  cmake --build build --target train_llava
// Run:    build/bin/train_llava --model build/reference/models/tiny-llava \
//           --data example_data/shapes/train.json --image-folder example_data/shapes/images \
//           --output runs/llava-lora --lora 8 --train-projector --epochs 2
//
// Flags: --model DIR --data FILE --image-folder DIR --output DIR [--lora RANK] [--alpha A]
//        [--lora-dropout X] [--train-projector] [--max-length N] [--epochs N] [--max-steps N]
//        [--batch-size N] [--grad-accum N] [--lr X] [--schedule cosine|linear|constant]
//        [--warmup-ratio X] [--eval-data FILE] [--eval-steps N] [--save-steps N] [--seed N] [--progress-every N]
//        [--precision fp32|bf16] [--gradient-checkpointing] [--on-bad-sample error|skip]
//        [--resume] [--check-logits]
#include <cstdio>
#include <map>
#include <thread>

#include <lmms/lmms.hpp>
#include <lmms/data/dataset.hpp>
#include <lmms/models/llava/data.hpp>
#include <lmms/models/llava/llava.hpp>
#include <lmms/train/lora.hpp>
#include <lmms/train/loop.hpp>

using namespace lmms;

namespace {

std::map<std::string, std::string> parse_flags(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) fail("unexpected argument ", quote(a), " (flags start with --)");
    a = a.substr(2);
    if (auto eq = a.find('='); eq != std::string::npos) flags[a.substr(0, eq)] = a.substr(eq + 1);
    else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) flags[a] = argv[++i];
    else flags[a] = "true";
  }
  return flags;
}

}  // namespace

int main(int argc, char** argv) try {
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  auto flags = parse_flags(argc, argv);
  auto get = [&](const std::string& k, const std::string& fallback = "") {
    auto it = flags.find(k);
    if (it == flags.end()) {
      if (fallback.empty()) fail("missing --", k, " (see the comment at the top of examples/train_llava.cpp)");
      return fallback;
    }
    return it->second;
  };
  const std::filesystem::path model_dir = get("model"), output = get("output");
  at::manual_seed(std::stoull(get("seed", "42")));  // before LoRA init: libtorch's CPU generator starts unseeded

  // ---- model ----
  auto config = llava::llava_config::from_hf(io::hf_config::load(model_dir));
  llava::llava_model model(config);
  auto checkpoint = io::safetensors_checkpoint::open(model_dir);
  llava::load_weights(*model, checkpoint);
  model->language_model->gradient_checkpointing = flags.count("gradient-checkpointing") > 0;
  model->vision_tower->gradient_checkpointing = flags.count("gradient-checkpointing") > 0;

  // ---- data ----
  auto tok = text::tokenizer::load(model_dir);
  text::chat_renderer chat(tok, text::chat_format::llava);
  const auto on_bad = get("on-bad-sample", "error") == "skip" ? data::on_bad_sample::skip : data::on_bad_sample::error;
  const llava::prepare_options prep{.max_length = std::stoll(get("max-length", "2048"))};
  auto load = [&](const std::string& file) {
    auto ds = data::load_dataset({.file = file, .image_folder = get("image-folder", "."), .on_bad = on_bad});
    for (const auto& p : ds.report.problems) std::fprintf(stderr, "skipped: %s\n", p.c_str());
    auto prepared = llava::prepare_samples(ds, chat, config, prep, file);
    for (const auto& p : prepared.problems) std::fprintf(stderr, "dropped: %s\n", p.c_str());
    std::printf("%s: %zu samples (%zu skipped as malformed, %zu dropped as too long, %zu truncated)\n", file.c_str(),
                prepared.samples.size(), ds.report.skipped, prepared.dropped, prepared.truncated);
    return prepared.samples;
  };
  const auto samples = load(get("data"));
  std::vector<llava::sample_tokens> eval;
  if (flags.count("eval-data")) eval = load(get("eval-data"));
  const auto processor = processors::clip_config::load(model_dir);
  const text::token_id pad = tok.token_to_id("<pad>").value_or(0);

  // ---- what trains ----
  const int rank = std::stoi(get("lora", "0"));
  nn::lora_options lora{.rank = rank, .alpha = std::stod(get("alpha", std::to_string(2 * rank))),
                        .dropout = std::stod(get("lora-dropout", "0.05"))};
  std::vector<std::string> targets, fully;
  if (rank > 0) {
    // lmms-finetune's default: LoRA on every Linear of the LLM, the vision tower frozen
    targets = training::apply_lora(*model, lora, training::linear_under("model.language_model."));
    if (flags.count("train-projector")) {
      fully.push_back("model.multi_modal_projector");
      training::train_fully(*model, fully);
    }
  } else {
    // full fine-tuning: the LLM and the projector; the vision tower frozen (lmms-finetune's default)
    for (auto& p : model->vision_tower->parameters()) p.set_requires_grad(false);
  }

  training::loop_options o;
  o.epochs = std::stoi(get("epochs", "1"));
  o.max_steps = std::stoll(get("max-steps", "-1"));
  o.batch_size = std::stoi(get("batch-size", "4"));
  o.grad_accum = std::stoi(get("grad-accum", "1"));
  o.lr = std::stod(get("lr", rank > 0 ? "2e-3" : "2e-4"));
  o.warmup_ratio = std::stod(get("warmup-ratio", "0.03"));
  const std::string sched = get("schedule", "cosine");
  o.schedule = sched == "linear" ? training::schedule::linear : sched == "constant" ? training::schedule::constant : training::schedule::cosine;
  o.save_steps = std::stoll(get("save-steps", "0"));
  o.log_every = std::stoi(get("progress-every", "1"));
  o.eval_steps = std::stoll(get("eval-steps", "0"));
  o.precision = get("precision", "fp32") == "bf16" ? nn::precision::bf16 : nn::precision::fp32;
  o.seed = std::stoull(get("seed", "42"));
  o.resume = flags.count("resume") > 0;
  o.output_dir = output;
  o.pad_token_id = pad;

  std::int64_t trainable = 0, total = 0;
  for (const auto& p : model->parameters()) {
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  std::printf("training on %zu samples (LLaVA), %s: %lld of %lld parameters trainable\n", samples.size(),
              rank > 0 ? ("LoRA rank " + std::to_string(rank) + " on " + std::to_string(targets.size()) + " LLM layers" +
                          (fully.empty() ? "" : " + projector in full"))
                             .c_str()
                       : "full fine-tuning (vision tower frozen)",
              static_cast<long long>(trainable), static_cast<long long>(total));
  auto forward = [model](const training::lm_batch& b) mutable {
    return model->forward(b.input_ids, b.attention_mask, b.pixel_values, b.image_sizes, b.image_tiles);
  };
  auto hidden = [model](const training::lm_batch& b) mutable {
    return model->hidden_states(b.input_ids, b.attention_mask, b.pixel_values);
  };
  auto head = [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); };
  training::lm_trainer trainer(model.ptr(), hidden, head, o);
  auto records = trainer.run(llava::batch_source_of(samples, processor, config, pad), llava::batch_source_of(eval, processor, config, pad));

  // ---- outputs ----
  if (rank > 0) {
    training::save_peft_adapter(*model, output / "adapter",
                             {.base_model = std::filesystem::absolute(model_dir).string(), .targets = targets,
                              .options = lora, .modules_to_save = fully});
    std::printf("adapter: %s\n", (output / "adapter").c_str());
  } else {
    auto model_out = output / "model";  // in the layout the base checkpoint came in
    training::save_hf_model(*model, model_out, model_dir, models::checkpoint_names(checkpoint));
    std::printf("model: %s\n", model_out.c_str());
  }
  if (flags.count("check-logits")) {  // logits of the trained model on the first sample, for the Python check
    model->eval();
    at::NoGradGuard no_grad;
    auto batch = llava::batch_source_of(samples, processor, config, pad).collate({0});
    io::named_tensors check{{"input_ids", batch.input_ids}, {"logits", forward(batch)}};
    if (batch.pixel_values.defined()) check.emplace_back("pixel_values", batch.pixel_values);
    io::save_safetensors(output / "check_logits.safetensors", check);
  }
  if (!records.empty())
    std::printf("loss %.4f -> %.4f over %zu steps; loss curve: %s\n", records.front().loss, records.back().loss,
                records.size(), (output / "loss.svg").c_str());
  return 0;
} catch (const lmms::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
