// Llama-3.2-Vision against transformers' MllamaForConditionalGeneration on a tiny random model
// (tests/reference/families/mllama.py): the cross-attention mask MllamaProcessor builds, logits,
// loss and every gradient for one image, two images with text before, between and after them,
// text only, and a padded batch of two rows with different image counts; greedy generation;
// lmms's data pipeline against the Python one (ids, labels, tiles, aspect ratios, masks).
#include <cstdio>

#include "lmms/data/dataset.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/mllama/data.hpp"
#include "lmms/models/mllama/mllama.hpp"
#include "lmms/text/tokenizer.hpp"
#include "support/tensors.hpp"
#include "support/test.hpp"

using namespace lmms;
using lmms::test::get_or_none;
using lmms::test::max_abs_diff;

namespace {
mllama::mllama_model load_tiny_mllama(const std::filesystem::path& dir) {
  auto cfg = mllama::mllama_config::from_hf(io::hf_config::load(dir));
  mllama::mllama_model model(cfg);
  mllama::load_weights(*model, io::safetensors_checkpoint::open(dir));
  return model;
}

mllama::inputs case_inputs(const std::map<std::string, at::Tensor>& out, const std::string& c) {
  return {.input_ids = out.at(c + "input_ids"),
          .attention_mask = out.at(c + "attention_mask"),
          .pixel_values = get_or_none(out, c + "pixel_values"),
          .aspect_ratio_ids = get_or_none(out, c + "aspect_ratio_ids"),
          .aspect_ratio_mask = get_or_none(out, c + "aspect_ratio_mask"),
          .cross_attention_mask = get_or_none(out, c + "cross_attention_mask")};
}
}  // namespace

CATCH_TEST_CASE("Llama-3.2-Vision config: llama3 rope, cross layers, tiles", "[models][mllama][reference]") {
  auto cfg = mllama::mllama_config::from_hf(io::hf_config::load(lmms::test::reference_dir() / "models" / "tiny-mllama"));
  CATCH_CHECK(cfg.cross_attention_layers == std::vector<std::int64_t>{1, 3});
  CATCH_CHECK(cfg.rope.factor == 8.0);
  CATCH_CHECK(cfg.vision.max_aspect_ratio_id == 8);
  CATCH_CHECK(cfg.vision.tokens_per_tile() == 17);
  CATCH_CHECK(cfg.image_token_id == 300);
  // every regime of llama3 scaling is hit on the tiny head (kept, blended, divided by 8)
  at::Tensor inv = mllama::rope_inverse_frequencies(cfg);
  at::Tensor plain = 1.0 / at::pow(500000.0, at::arange(0, 16, 2, at::kLong).to(at::kFloat) / 16.0);
  CATCH_CHECK(inv[0].item<float>() == plain[0].item<float>());
  CATCH_CHECK(std::abs(inv[7].item<double>() - plain[7].item<double>() / 8) < 1e-12);
}

CATCH_TEST_CASE("Llama-3.2-Vision matches transformers: cross-attention mask, logits, loss, every gradient",
                "[models][mllama][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_mllama(ref / "models" / "tiny-mllama");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-mllama.safetensors");
  for (const char* name : {"single", "multi", "text", "batch"}) {
    CATCH_DYNAMIC_SECTION(name) {
      const std::string c = std::string(name) + ".";
      auto in = case_inputs(out, c);
      if (in.pixel_values.defined()) {  // the mask lmms builds from ids and tile counts is MllamaProcessor's
        at::Tensor tiles = out.at(c + "num_tiles");
        std::vector<std::vector<std::int64_t>> counts(static_cast<std::size_t>(tiles.size(0)));
        for (std::int64_t b = 0; b < tiles.size(0); ++b)
          for (std::int64_t k = 0; k < tiles.size(1); ++k)
            if (tiles[b][k].item<std::int64_t>() > 0) counts[static_cast<std::size_t>(b)].push_back(tiles[b][k].item<std::int64_t>());
        at::Tensor mask = mllama::cross_attention_mask(in.input_ids, model->config.image_token_id, counts, 4);
        CATCH_CHECK(at::equal(mask, in.cross_attention_mask));
      }
      model->zero_grad();
      at::Tensor logits = model->forward(in);
      double logits_diff = max_abs_diff(logits, out.at(c + "logits"));
      at::Tensor loss = lm::causal_lm_loss(logits, out.at(c + "labels"));
      double loss_diff = std::abs(loss.item<double>() - out.at(c + "loss").item<double>());
      loss.backward();
      auto [grad_diff, grad_scale, grads] = lmms::test::compare_gradients(*model, out, c);
      std::printf("mllama %s: %lld tokens, max |logits diff| %.3g, |loss diff| %.3g, max |grad diff| %.3g (largest grad %.3g) over %zu parameters\n",
                  name, static_cast<long long>(logits.size(1)), logits_diff, loss_diff, grad_diff, grad_scale, grads);
      CATCH_CHECK(grads > 0);
      CATCH_CHECK(logits_diff < 1e-4);
      CATCH_CHECK(loss_diff < 1e-5);
      CATCH_CHECK(grad_diff < 1e-5 * std::max(1.0, grad_scale));
    }
  }
}

CATCH_TEST_CASE("Llama-3.2-Vision: image token and image counts must agree", "[models][mllama][reference]") {
  at::Tensor ids = at::tensor({5, 300, 7, 8}, at::kLong).unsqueeze(0);
  CATCH_CHECK_THROWS_WITH(mllama::cross_attention_mask(ids, 300, {{2, 1}}, 4),
                          Catch::Matchers::Contains("row 0 has 1 image tokens but 2 images"));
  // adjacent image tokens share the text after the last of them
  at::Tensor two = at::tensor({5, 300, 300, 8, 9}, at::kLong).unsqueeze(0);
  at::Tensor m = mllama::cross_attention_mask(two, 300, {{1, 2}}, 4);
  CATCH_CHECK(m[0][4][0][0].item<std::int64_t>() == 1);
  CATCH_CHECK(m[0][4][1][1].item<std::int64_t>() == 1);
  CATCH_CHECK(m[0][0].sum().item<std::int64_t>() == 0);
}

CATCH_TEST_CASE("Llama-3.2-Vision greedy generation with a KV cache gives transformers' tokens",
                "[models][mllama][generate][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_mllama(ref / "models" / "tiny-mllama");
  model->eval();
  auto tok = text::tokenizer::load(ref / "text" / "llama3");  // decodes the ids; the model is random
  auto out = io::load_safetensors(ref / "outputs" / "tiny-mllama.safetensors");
  at::NoGradGuard no_grad;
  auto prompt = case_inputs(out, "single.");
  prompt.attention_mask = at::Tensor();
  auto [embeds, steps] = mllama::generation_steps(model, prompt);
  auto g = infer::generate(steps, embeds, tok, {.max_new_tokens = 8});
  std::vector<std::int64_t> got(g.ids.begin(), g.ids.end());
  CATCH_CHECK(at::equal(at::tensor(got, at::kLong), out.at("gen.new_ids").squeeze(0)));

  // the cached prompt step gives the last logits of a full forward
  auto [embeds2, steps2] = mllama::generation_steps(model, prompt);
  lm::kv_cache cache;
  at::Tensor last = steps2.last_logits(embeds2, cache, {}, {}).squeeze(0);
  at::Tensor full = model->forward(prompt).select(1, prompt.input_ids.size(1) - 1).squeeze(0);
  CATCH_CHECK(max_abs_diff(last, full) < 1e-5);
}

CATCH_TEST_CASE("Llama-3.2-Vision data pipeline gives the reference ids, labels, tiles and masks",
                "[models][mllama][data][reference]") {
  auto ref = lmms::test::reference_dir();
  const auto model_dir = ref / "models" / "tiny-mllama";
  auto out = io::load_safetensors(ref / "outputs" / "tiny-mllama.safetensors");
  auto tok = text::tokenizer::load(ref / "text" / "llama3");  // the Llama-3 test tokenizer renders the text
  auto config = mllama::mllama_config::from_hf(io::hf_config::load(model_dir));
  config.image_token_id = *tok.token_to_id("<|image|>");
  text::chat_renderer chat(tok, text::chat_format::llama3_vision);
  auto processor = processors::mllama_image_config::load(model_dir);
  auto ds = data::load_dataset({.file = ref / "images" / "mllama" / "samples.json", .image_folder = ref / "images" / "mllama"});
  auto prepared = mllama::prepare_samples(ds, chat, config, {.max_length = 4096});
  CATCH_REQUIRE(prepared.samples.size() == 4);
  auto source = mllama::batch_source_of(prepared.samples, processor, config, *tok.token_to_id("<|end_of_text|>"));
  const std::vector<std::pair<std::string, std::vector<std::size_t>>> cases = {
      {"0", {0}}, {"1", {1}}, {"2", {2}}, {"3", {3}}, {"pair", {0, 1}}};
  for (const auto& [key, rows] : cases) {
    CATCH_INFO("case " << key);
    const std::string c = "data." + key + ".";
    training::lm_batch b = source.collate(rows);
    CATCH_CHECK(at::equal(b.input_ids, out.at(c + "input_ids")));
    CATCH_CHECK(at::equal(b.labels, out.at(c + "labels")));
    CATCH_CHECK(at::equal(b.attention_mask.to(at::kLong), out.at(c + "attention_mask")));
    auto pv = out.find(c + "pixel_values");
    CATCH_CHECK(b.pixel_values.defined() == (pv != out.end()));
    if (pv == out.end()) continue;
    CATCH_CHECK(max_abs_diff(b.pixel_values, pv->second) == 0.0);
    CATCH_CHECK(at::equal(b.aspect_ratio_ids, out.at(c + "aspect_ratio_ids")));
    CATCH_CHECK(at::equal(b.aspect_ratio_mask, out.at(c + "aspect_ratio_mask")));
    CATCH_CHECK(at::equal(b.cross_attention_mask, out.at(c + "cross_attention_mask")));
  }
  // a system prompt next to an image is a bad sample named by its index
  data::dataset bad;
  bad.samples.push_back(ds.samples[0]);
  bad.samples[0].system_prompt = "Be brief.";
  CATCH_CHECK_THROWS_WITH(mllama::prepare_samples(bad, chat, config, {}, "train.json"),
                          Catch::Matchers::Contains("train.json sample 0") &&
                              Catch::Matchers::Contains("refuses a system prompt"));
}

CATCH_TEST_CASE("Llama-3.2-Vision with activation checkpointing gives the same gradients", "[models][mllama][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_mllama(ref / "models" / "tiny-mllama");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-mllama.safetensors");
  model->train();  // no dropout anywhere: training mode only turns checkpointing on
  model->language_model->gradient_checkpointing = true;
  model->vision->gradient_checkpointing = true;
  auto in = case_inputs(out, "multi.");
  model->zero_grad();
  lm::causal_lm_loss(model->forward(in), out.at("multi.labels")).backward();
  double grad_diff = 0;
  std::size_t grads = 0;
  for (const auto& p : model->named_parameters()) {
    auto it = out.find("multi.grad." + p.key());
    if (it == out.end()) continue;
    CATCH_INFO("parameter " << p.key());
    CATCH_REQUIRE(p.value().grad().defined());
    grad_diff = std::max(grad_diff, max_abs_diff(p.value().grad(), it->second));
    ++grads;
  }
  std::printf("mllama multi with checkpointing: max |grad diff| %.3g over %zu parameters\n", grad_diff, grads);
  CATCH_CHECK(grads == 135);
  CATCH_CHECK(grad_diff < 1e-6);
}
