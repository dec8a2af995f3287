// examples/train_text_lm.cpp: fine-tune the language model of a Hugging Face checkpoint on
// text-only LLaVA-style conversations, with LoRA (saved as a PEFT adapter) or in full (saved
// as an HF model directory). The engine the multimodal recipes build on, usable on its own.
//
// Build:  cmake --build build --target train_text_lm
// Run:    build/bin/train_text_lm --model build/reference/models/tiny-llama --chat llava \
//           --data tests/data/text_chat.json --output runs/text-lora --lora 8 --epochs 2
//
// Flags: --model DIR --data FILE --output DIR --chat FORMAT [--lora RANK] [--alpha A]
//        [--epochs N] [--max-steps N] [--batch-size N] [--grad-accum N] [--lr X]
//        [--schedule cosine|linear|constant] [--warmup-ratio X] [--weight-decay X]
//        [--lora-dropout X] [--rslora] [--dora] [--qlora] [--eval-data FILE] [--eval-steps N]
//        [--gradient-checkpointing] [--train-modules M1,M2] [--precision fp32|bf16|fp16 [--loss-scale S]] [--save-steps N] [--seed N] [--progress-every N] [--resume] [--check-logits]
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <lmms/lmms.hpp>
#include <lmms/models/llm/decoder.hpp>
#include <lmms/text/chat.hpp>
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

std::vector<training::token_sample> load_samples(const std::string& file, const text::chat_renderer& chat) {
  std::ifstream in(file);
  if (!in) fail("cannot open the dataset ", file);
  nlohmann::json data;
  try {
    data = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(file, " is not valid JSON (", e.what(), ")");
  }
  std::vector<training::token_sample> out;
  for (std::size_t i = 0; i < data.size(); ++i) {
    try {
      text::chat_sample s;
      if (data[i].contains("system_prompt") && data[i]["system_prompt"].is_string()) s.system_prompt = data[i]["system_prompt"];
      for (const auto& turn : data[i].at("conversations")) s.turns.push_back(turn.at("value").get<std::string>());
      auto r = chat.render(s);
      out.push_back({std::move(r.input_ids), std::move(r.labels)});
    } catch (const std::exception& e) {
      fail(file, " sample ", i, ": ", std::string(e.what()).rfind("lmms: ", 0) == 0 ? std::string(e.what()).substr(6) : e.what());
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  auto flags = parse_flags(argc, argv);
  auto get = [&](const std::string& k, const std::string& fallback = "") {
    auto it = flags.find(k);
    if (it == flags.end()) {
      if (fallback.empty()) fail("missing --", k, " (see the comment at the top of examples/train_text_lm.cpp)");
      return fallback;
    }
    return it->second;
  };
  const std::filesystem::path model_dir = get("model");
  at::manual_seed(std::stoull(get("seed", "42")));  // libtorch's CPU generator starts unseeded: seed before LoRA init
  const std::filesystem::path output = get("output");

  auto tok = text::tokenizer::load(model_dir);
  auto format = text::parse_chat_format(get("chat", "llava"));
  if (!format) fail("unknown --chat format ", quote(get("chat")));
  text::chat_renderer chat(tok, *format);
  auto samples = load_samples(get("data"), chat);
  std::vector<training::token_sample> eval;
  if (flags.count("eval-data")) eval = load_samples(get("eval-data"), chat);

  auto config = lm::decoder_config::from_hf(io::hf_config::load(model_dir));
  lm::causal_lm lm(config);
  lm::load_weights(*lm, io::safetensors_checkpoint::open(model_dir));
  lm->model->gradient_checkpointing = flags.count("gradient-checkpointing") > 0;

  const int rank = std::stoi(get("lora", "0"));
  nn::lora_options lora{.rank = rank, .alpha = std::stod(get("alpha", std::to_string(2 * rank))),
                        .dropout = std::stod(get("lora-dropout", "0.05")), .rslora = flags.count("rslora") > 0,
                        .dora = flags.count("dora") > 0};
  std::vector<std::string> targets;
  if (rank > 0) targets = training::apply_lora(*lm, lora, training::all_linear_except({"lm_head"}));
  std::vector<std::string> fully;  // --train-modules lm_head,model.norm: trained in full next to the adapter
  if (flags.count("train-modules")) {
    if (rank <= 0) fail("--train-modules goes with --lora (without LoRA everything trains in full)");
    std::stringstream list(get("train-modules"));
    for (std::string m; std::getline(list, m, ',');)
      if (!m.empty()) fully.push_back(m);
    training::train_fully(*lm, fully);
  }
  if (flags.count("qlora")) {  // QLoRA: the frozen base weights of the adapted layers in NF4
    if (rank <= 0) fail("--qlora needs --lora RANK");
    for (const auto& item : lm->named_modules("", false))
      if (auto lin = std::dynamic_pointer_cast<nn::linear_impl>(item.value()); lin && lin->has_lora()) lin->quantize_nf4();
  }

  training::loop_options o;
  o.epochs = std::stoi(get("epochs", "1"));
  o.initial_loss_scale = std::stod(get("loss-scale", "65536"));
  o.max_steps = std::stoll(get("max-steps", "-1"));
  o.batch_size = std::stoi(get("batch-size", "4"));
  o.grad_accum = std::stoi(get("grad-accum", "1"));
  o.lr = std::stod(get("lr", rank > 0 ? "2e-3" : "2e-4"));
  o.weight_decay = std::stod(get("weight-decay", "0.0"));
  o.warmup_ratio = std::stod(get("warmup-ratio", "0.03"));
  const std::string sched = get("schedule", "cosine");
  o.schedule = sched == "linear" ? training::schedule::linear : sched == "constant" ? training::schedule::constant : training::schedule::cosine;
  o.save_steps = std::stoll(get("save-steps", "0"));
  o.log_every = std::stoi(get("progress-every", "1"));
  o.eval_steps = std::stoll(get("eval-steps", "0"));
  const std::string precision = get("precision", "fp32");
  if (precision != "fp32" && precision != "bf16" && precision != "fp16")
    fail("--precision is fp32, bf16 or fp16, not ", quote(precision));
  o.precision = precision == "bf16" ? nn::precision::bf16 : precision == "fp16" ? nn::precision::fp16 : nn::precision::fp32;
  o.seed = std::stoull(get("seed", "42"));
  o.resume = flags.count("resume") > 0;
  o.output_dir = output;
  o.pad_token_id = tok.token_to_id("<pad>").value_or(0);
  std::int64_t trainable = 0, total = 0;
  for (const auto& p : lm->parameters()) {
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  std::string what = rank > 0 ? std::string(flags.count("qlora") ? "QLoRA (NF4) " : "") + (lora.dora ? "DoRA" : "LoRA") + " rank " + std::to_string(rank) + " on " + std::to_string(targets.size()) + " layers"
                              : std::string("full fine-tuning");
  std::printf("training on %zu samples, %s: %lld of %lld parameters trainable\n", samples.size(), what.c_str(),
              static_cast<long long>(trainable), static_cast<long long>(total));
  training::lm_trainer trainer(lm, o);
  auto records = trainer.run(samples, eval);

  if (rank > 0) {
    training::save_peft_adapter(*lm, output / "adapter",
                             {.base_model = std::filesystem::absolute(model_dir).string(), .targets = targets, .options = lora,
                              .modules_to_save = fully});
    std::printf("adapter: %s\n", (output / "adapter").c_str());
  } else {
    auto model_out = output / "model";
    training::save_hf_model(*lm, model_out, model_dir);
    std::printf("model: %s\n", model_out.c_str());
  }
  if (flags.count("check-logits")) {  // logits of the trained model, for the peft / transformers check
    lm->eval();
    at::NoGradGuard no_grad;
    auto ids = at::tensor(std::vector<std::int64_t>(samples[0].input_ids.begin(), samples[0].input_ids.end())).unsqueeze(0);
    io::save_safetensors(output / "check_logits.safetensors", {{"input_ids", ids}, {"logits", lm->forward(ids)}});
  }
  if (!records.empty())
    std::printf("loss %.4f -> %.4f over %zu steps; loss curve: %s\n", records.front().loss, records.back().loss,
                records.size(), (output / "loss.svg").c_str());
  return 0;
} catch (const lmms::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
