// LLaVA-1.5 against transformers' LlavaForConditionalGeneration on a tiny random model:
// logits, loss and every gradient transformers computes, for a single-image multi-turn
// sample with a system prompt, a two-image sample and a text-only sample; both checkpoint
// layouts (transformers 5 and the hub's llava-hf) load to the same weights.
#include <cstdio>

#include <ATen/CPUGeneratorImpl.h>

#include "lmms/infer/generate.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/llava/llava.hpp"
#include "lmms/nn/precision.hpp"
#include "lmms/text/chat.hpp"
#include "support/tensors.hpp"
#include "support/test.hpp"

using namespace lmms;
using lmms::test::get_or_none;
using lmms::test::max_abs_diff;

namespace {
llava::llava_model load_tiny_llava(const std::filesystem::path& dir) {
  auto cfg = llava::llava_config::from_hf(io::hf_config::load(dir));
  llava::llava_model model(cfg);
  llava::load_weights(*model, io::safetensors_checkpoint::open(dir));
  return model;
}
}  // namespace

CATCH_TEST_CASE("LLaVA-1.5 matches transformers: logits, loss, every gradient", "[models][llava][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_llava(ref / "models" / "tiny-llava");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-llava.safetensors");
  for (const char* name : {"single", "multi", "text"}) {
    CATCH_DYNAMIC_SECTION(name) {
      const std::string c = std::string(name) + ".";
      auto pixels = out.find(c + "pixel_values");
      model->zero_grad();
      at::Tensor logits = model->forward(out.at(c + "input_ids"), out.at(c + "attention_mask"),
                                         pixels == out.end() ? at::Tensor() : pixels->second);
      double logits_diff = max_abs_diff(logits, out.at(c + "logits"));
      at::Tensor loss = lm::causal_lm_loss(logits, out.at(c + "labels"));
      double loss_diff = std::abs(loss.item<double>() - out.at(c + "loss").item<double>());
      loss.backward();
      auto [grad_diff, grad_scale, grads] = lmms::test::compare_gradients(*model, out, c);
      std::printf("llava %s: %lld tokens, max |logits diff| %.3g, |loss diff| %.3g, max |grad diff| %.3g (largest grad %.3g) over %zu parameters\n",
                  name, static_cast<long long>(logits.size(1)), logits_diff, loss_diff, grad_diff, grad_scale, grads);
      CATCH_CHECK(grads > 0);
      CATCH_CHECK(logits_diff < 1e-4);
      CATCH_CHECK(loss_diff < 1e-5);
      CATCH_CHECK(grad_diff < 1e-5 * std::max(1.0, grad_scale));
    }
  }
}

CATCH_TEST_CASE("LLaVA: sharded checkpoint loads the same weights; wrong image counts are refused", "[models][llava][reference]") {
  auto ref = lmms::test::reference_dir();
  auto a = load_tiny_llava(ref / "models" / "tiny-llava");
  auto b = load_tiny_llava(ref / "models" / "tiny-llava-sharded");
  auto pb = b->named_parameters();
  for (const auto& p : a->named_parameters()) CATCH_CHECK(at::equal(p.value(), pb[p.key()]));

  auto out = io::load_safetensors(ref / "outputs" / "tiny-llava.safetensors");
  at::Tensor ids = out.at("single.input_ids");
  at::Tensor pixels = out.at("multi.pixel_values");  // two images for a one-image sample
  CATCH_CHECK_THROWS_WITH(a->forward(ids, {}, pixels),
                          Catch::Matchers::Contains("but 2 images of 16 tokens each"));
}

CATCH_TEST_CASE("LLaVA greedy generation with a KV cache gives transformers' tokens", "[models][llava][generate][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_llava(ref / "models" / "tiny-llava");
  model->eval();
  auto tok = text::tokenizer::load(ref / "models" / "tiny-llava");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-llava.safetensors");
  at::NoGradGuard no_grad;
  at::Tensor embeds = model->input_embeddings(out.at("gen.input_ids"), out.at("gen.pixel_values"));
  auto steps = infer::steps_of(model->language_model, [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); });
  auto g = infer::generate(steps, embeds, tok, {.max_new_tokens = 12});
  at::Tensor want = out.at("gen.new_ids").squeeze(0);
  std::vector<std::int64_t> got(g.ids.begin(), g.ids.end());
  CATCH_CHECK(at::equal(at::tensor(got, at::kLong), want));
  CATCH_CHECK(g.finish == "length");

  // the prompt lmms renders for generation is the one transformers' chat template gives
  text::chat_renderer chat(tok, text::chat_format::llava);
  auto prompt = chat.render_prompt({.system_prompt = "You describe pictures.", .turns = {"<image>\nWhat is in the picture?"}});
  std::vector<std::int64_t> expanded;
  for (auto id : prompt.input_ids) {
    if (id == model->config.image_token_id) expanded.insert(expanded.end(), 16, id);
    else expanded.push_back(id);
  }
  CATCH_CHECK(at::equal(at::tensor(expanded, at::kLong), out.at("gen.input_ids").squeeze(0)));

  // the cached path gives the logits of a full forward at every step
  lm::kv_cache cache;
  at::Tensor ids = out.at("gen.input_ids");
  at::Tensor last = steps.last_logits(embeds, cache, {}, {}).squeeze(0);
  at::Tensor full = model->forward(ids, {}, out.at("gen.pixel_values")).select(1, ids.size(1) - 1).squeeze(0);
  CATCH_CHECK((last - full).abs().max().item<double>() < 1e-5);

  // stop strings and EOS end generation early
  auto eos = infer::generate(steps, embeds, tok, {.max_new_tokens = 12, .eos_ids = {g.ids[2]}});
  CATCH_CHECK(eos.ids.size() <= 3);
  CATCH_CHECK(eos.finish == "eos");
}

CATCH_TEST_CASE("sampling: top-k 1 is greedy, top-p keeps the nucleus, seeds repeat", "[generate]") {
  at::Tensor logits = at::tensor({0.1f, 3.0f, 2.9f, -1.0f});
  at::Generator rng = at::detail::createCPUGenerator(1);
  CATCH_CHECK(infer::next_token(logits, {.temperature = 1.0, .top_k = 1}, rng) == 1);
  for (int i = 0; i < 50; ++i) {
    auto t = infer::next_token(logits, {.temperature = 1.0, .top_p = 0.9}, rng);
    CATCH_CHECK((t == 1 || t == 2));
  }
  at::Generator a = at::detail::createCPUGenerator(7), b = at::detail::createCPUGenerator(7);
  for (int i = 0; i < 20; ++i)
    CATCH_CHECK(infer::next_token(logits, {.temperature = 2.0}, a) == infer::next_token(logits, {.temperature = 2.0}, b));
}

CATCH_TEST_CASE("LLaVA bf16 autocast logits agree with transformers under torch.autocast", "[models][llava][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_llava(ref / "models" / "tiny-llava");
  model->eval();
  auto out = io::load_safetensors(ref / "outputs" / "tiny-llava.safetensors");
  at::NoGradGuard no_grad;
  for (const char* name : {"single", "multi", "text"}) {
    const std::string c = std::string(name) + ".";
    auto pixels = out.find(c + "pixel_values");
    at::Tensor logits;
    {
      nn::autocast_scope bf16(nn::precision::bf16);
      logits = model->forward(out.at(c + "input_ids"), out.at(c + "attention_mask"),
                              pixels == out.end() ? at::Tensor() : pixels->second);
    }
    const double diff = (logits - out.at(c + "logits_bf16_autocast")).abs().max().item<double>();
    const double vs_fp32 = (logits - out.at(c + "logits")).abs().max().item<double>();
    std::printf("llava %s bf16 autocast: max |logits - transformers bf16| %.3g (vs fp32 logits %.3g)\n", name, diff, vs_fp32);
    CATCH_CHECK(diff < 5e-2);    // bf16 rounding on logits of a few units
    CATCH_CHECK(vs_fp32 > 0.0);  // autocast really ran in bf16
  }
}

CATCH_TEST_CASE("LLaVA batched generation with left padding gives transformers' tokens", "[models][llava][generate][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_llava(ref / "models" / "tiny-llava");
  model->eval();
  auto tok = text::tokenizer::load(ref / "models" / "tiny-llava");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-llava.safetensors");
  at::NoGradGuard no_grad;
  at::Tensor embeds = model->input_embeddings(out.at("genb.input_ids"), out.at("genb.pixel_values"));
  auto steps = infer::steps_of(model->language_model, [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); });
  auto rows = infer::generate_batch(steps, embeds, out.at("genb.attention_mask"), tok, {.max_new_tokens = 8});
  at::Tensor want = out.at("genb.new_ids");
  CATCH_REQUIRE(rows.size() == 3);
  for (std::size_t b = 0; b < rows.size(); ++b) {
    std::vector<std::int64_t> got(rows[b].ids.begin(), rows[b].ids.end());
    CATCH_INFO("row " << b);
    CATCH_CHECK(at::equal(at::tensor(got, at::kLong), want[static_cast<std::int64_t>(b)]));
  }
}

CATCH_TEST_CASE("LLaVA packed row: each sample's logits equal transformers' logits of the sample alone", "[models][llava][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_llava(ref / "models" / "tiny-llava");
  model->eval();
  auto out = io::load_safetensors(ref / "outputs" / "tiny-llava.safetensors");
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> ids, segments, pixels;
  const char* order[] = {"single", "text", "multi"};
  for (std::size_t k = 0; k < 3; ++k) {
    const std::string c = std::string(order[k]) + ".";
    ids.push_back(out.at(c + "input_ids"));
    segments.push_back(at::full_like(ids.back(), static_cast<std::int64_t>(k + 1)));
    if (auto it = out.find(c + "pixel_values"); it != out.end()) pixels.push_back(it->second);
  }
  at::Tensor logits = model->forward(at::cat(ids, 1), at::cat(segments, 1), at::cat(pixels, 0));
  std::int64_t offset = 0;
  for (std::size_t k = 0; k < 3; ++k) {
    const std::string c = std::string(order[k]) + ".";
    const std::int64_t n = ids[k].size(1);
    const double diff = (logits.narrow(1, offset, n) - out.at(c + "logits")).abs().max().item<double>();
    std::printf("llava packed, %s: max |logits diff| vs transformers alone %.3g\n", order[k], diff);
    CATCH_CHECK(diff < 1e-4);
    offset += n;
  }
}
