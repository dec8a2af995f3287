// Qwen-VL-Chat against the reference harness's QWenLMHeadModel (tests/reference/families/
// qwen_vl_model.py: the remote code re-implemented on PyTorch from its equations, as the
// checkpoint has no transformers class) on a tiny random model: logits, loss and every
// gradient for one image, two images, text only and a padded batch; greedy generation; the
// image transform's pixels on many sizes; the data pipeline's ids, labels and pixels.
#include <cstdio>

#include "lmms/data/dataset.hpp"
#include "lmms/infer/generate.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/qwen_vl/data.hpp"
#include "lmms/models/qwen_vl/qwen_vl.hpp"
#include "lmms/processors/qwen_vl.hpp"
#include "lmms/text/tokenizer.hpp"
#include "support/tensors.hpp"
#include "support/test.hpp"

using namespace lmms;
using lmms::test::get_or_none;
using lmms::test::max_abs_diff;

namespace {
qwen_vl::qwen_vl_model load_tiny_qwen_vl(const std::filesystem::path& dir) {
  auto cfg = qwen_vl::qwen_vl_config::from_hf(io::hf_config::load(dir));
  qwen_vl::qwen_vl_model model(cfg);
  qwen_vl::load_weights(*model, io::safetensors_checkpoint::open(dir));
  return model;
}

qwen_vl::inputs case_inputs(const std::map<std::string, at::Tensor>& out, const std::string& c) {
  return {.input_ids = out.at(c + "input_ids"), .attention_mask = out.at(c + "attention_mask"),
          .pixel_values = get_or_none(out, c + "pixel_values")};
}
}  // namespace

CATCH_TEST_CASE("Qwen-VL-Chat config: Qwen's LLM fields, the tower", "[models][qwen_vl][reference]") {
  auto cfg = qwen_vl::qwen_vl_config::from_hf(io::hf_config::load(lmms::test::reference_dir() / "models" / "tiny-qwen-vl"));
  CATCH_CHECK(cfg.text.model_type == "qwen");
  CATCH_CHECK(cfg.text.intermediate_size == 128);  // the config's intermediate_size / 2
  CATCH_CHECK(cfg.text.head_dim == 32);            // kv_channels
  CATCH_CHECK(cfg.text.fused_qkv);
  CATCH_CHECK(cfg.text.qkv_bias);
  CATCH_CHECK_FALSE(cfg.text.o_bias);
  CATCH_CHECK(cfg.visual.grid() == 32);
  CATCH_CHECK(cfg.visual.mlp_width() == 64);
  // Qwen-VL-Chat's own config.json (no n_queries: the tower's 256)
  auto hub = io::hf_config::parse(R"({"model_type": "qwen", "vocab_size": 151936, "hidden_size": 4096,
      "intermediate_size": 22016, "num_hidden_layers": 32, "num_attention_heads": 32, "kv_channels": 128,
      "layer_norm_epsilon": 1e-06, "rotary_emb_base": 10000, "rotary_pct": 1.0, "seq_length": 2048, "no_bias": true,
      "use_dynamic_ntk": true, "use_logn_attn": true, "scale_attn_weights": true, "tie_word_embeddings": false,
      "visual": {"heads": 16, "image_size": 448, "image_start_id": 151857, "layers": 48, "mlp_ratio": 4.9231,
                 "output_dim": 4096, "patch_size": 14, "width": 1664}})",
                                       "hub/config.json");
  auto h = qwen_vl::qwen_vl_config::from_hf(hub);
  CATCH_CHECK(h.text.intermediate_size == 11008);
  CATCH_CHECK(h.visual.n_queries == 256);
  CATCH_CHECK(h.visual.mlp_width() == 8192);  // int(1664 * 4.9231)
  CATCH_CHECK(h.seq_length == 2048);
  // a Qwen text model (no tower) and a partial rotary are refused by name
  auto text_only = io::hf_config::parse(R"({"model_type": "qwen", "vocab_size": 64, "hidden_size": 8, "intermediate_size": 16,
      "num_hidden_layers": 1, "num_attention_heads": 2})", "text/config.json");
  CATCH_CHECK_THROWS_WITH(qwen_vl::qwen_vl_config::from_hf(text_only), Catch::Matchers::Contains("no \"visual\" section"));
  auto partial = io::hf_config::parse(R"({"model_type": "qwen", "vocab_size": 64, "hidden_size": 8, "intermediate_size": 16,
      "num_hidden_layers": 1, "num_attention_heads": 2, "rotary_pct": 0.5})", "partial/config.json");
  CATCH_CHECK_THROWS_WITH(lm::decoder_config::from_hf(partial), Catch::Matchers::Contains("rotary_pct"));
}

CATCH_TEST_CASE("Qwen-VL-Chat parameter names are the checkpoint's", "[models][qwen_vl][reference]") {
  auto dir = lmms::test::reference_dir() / "models" / "tiny-qwen-vl";
  auto model = load_tiny_qwen_vl(dir);  // every parameter found under its own name, same shape
  auto file = io::safetensors_file::open(dir / "model.safetensors");
  CATCH_CHECK(model->named_parameters().size() == file.tensors().size());
  CATCH_CHECK(model->named_parameters().contains("transformer.h.0.attn.c_attn.bias"));
  CATCH_CHECK(model->named_parameters().contains("transformer.visual.attn_pool.attn.in_proj_weight"));
  CATCH_CHECK_FALSE(model->visual->attn_pool->pos_embed.requires_grad());
}

CATCH_TEST_CASE("Qwen-VL-Chat matches the reference: logits, loss, every gradient", "[models][qwen_vl][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_qwen_vl(ref / "models" / "tiny-qwen-vl");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-qwen-vl.safetensors");
  for (const char* name : {"single", "multi", "text", "batch"}) {
    CATCH_DYNAMIC_SECTION(name) {
      const std::string c = std::string(name) + ".";
      auto in = case_inputs(out, c);
      model->zero_grad();
      at::Tensor logits = model->forward(in);
      double logits_diff = max_abs_diff(logits, out.at(c + "logits"));
      at::Tensor loss = lm::causal_lm_loss(logits, out.at(c + "labels"));
      double loss_diff = std::abs(loss.item<double>() - out.at(c + "loss").item<double>());
      loss.backward();
      auto [grad_diff, grad_scale, grads] = lmms::test::compare_gradients(*model, out, c);
      std::printf("qwen_vl %s: %lld tokens, max |logits diff| %.3g, |loss diff| %.3g, max |grad diff| %.3g (largest grad %.3g) over %zu parameters\n",
                  name, static_cast<long long>(logits.size(1)), logits_diff, loss_diff, grad_diff, grad_scale, grads);
      CATCH_CHECK(grads > 0);
      CATCH_CHECK(logits_diff < 1e-4);
      CATCH_CHECK(loss_diff < 1e-5);
      CATCH_CHECK(grad_diff < 1e-5 * std::max(1.0, grad_scale));
    }
  }
}

CATCH_TEST_CASE("Qwen-VL-Chat: image spans and images must agree", "[models][qwen_vl][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_qwen_vl(ref / "models" / "tiny-qwen-vl");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-qwen-vl.safetensors");
  auto in = case_inputs(out, "single.");
  at::NoGradGuard no_grad;
  auto none = in;
  none.pixel_values = at::Tensor();
  CATCH_CHECK_THROWS_WITH(model->forward(none), Catch::Matchers::Contains("1 image spans (<img> ... </img>) but 0 images"));
  auto cut = in;  // a row cut inside its image span
  const std::int64_t open = qwen_vl::image_spans(in.input_ids, model->config.visual.image_start_id)[0][1];
  cut.input_ids = in.input_ids.narrow(1, 0, open + 10);
  cut.attention_mask = at::Tensor();
  CATCH_CHECK_THROWS_WITH(model->forward(cut), Catch::Matchers::Contains("without its </img>"));
}

CATCH_TEST_CASE("Qwen-VL-Chat greedy generation with a KV cache gives the reference's tokens",
                "[models][qwen_vl][generate][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_qwen_vl(ref / "models" / "tiny-qwen-vl");
  model->eval();
  auto tok = text::tokenizer::load(ref / "models" / "tiny-qwen-vl");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-qwen-vl.safetensors");
  at::NoGradGuard no_grad;
  auto prompt = case_inputs(out, "single.");
  prompt.attention_mask = at::Tensor();
  auto steps = infer::steps_of(model->language_model, [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); });
  auto g = infer::generate(steps, model->input_embeddings(prompt), tok, {.max_new_tokens = 8});
  std::vector<std::int64_t> got(g.ids.begin(), g.ids.end());
  CATCH_CHECK(at::equal(at::tensor(got, at::kLong), out.at("gen.new_ids").squeeze(0)));
}

CATCH_TEST_CASE("Qwen-VL-Chat image transform gives the remote code's pixels", "[models][qwen_vl][data][reference]") {
  auto ref = lmms::test::reference_dir();
  auto out = io::load_safetensors(ref / "outputs" / "tiny-qwen-vl.safetensors");
  std::size_t checked = 0;
  for (const auto& [key, value] : out) {
    if (!key.starts_with("pixels.") || !key.ends_with(".pixel_values")) continue;
    const std::string size = key.substr(7, key.size() - 7 - 13);  // "<w>x<h>"
    CATCH_INFO("image " << size);
    at::Tensor pixels = processors::qwen_vl_preprocess(media::load_image(ref / "images" / "qwen_vl" / (size + ".png")), 448);
    CATCH_REQUIRE(pixels.sizes() == value.sizes());
    CATCH_CHECK(max_abs_diff(pixels, value) == 0.0);
    ++checked;
  }
  std::printf("qwen_vl processor: %zu images compared\n", checked);
  CATCH_CHECK(checked >= 7);
}

CATCH_TEST_CASE("Qwen-VL-Chat data pipeline gives the reference ids, labels and pixels", "[models][qwen_vl][data][reference]") {
  auto ref = lmms::test::reference_dir();
  const auto model_dir = ref / "models" / "tiny-qwen-vl";
  auto out = io::load_safetensors(ref / "outputs" / "tiny-qwen-vl.safetensors");
  // the folder string the reference joined into its paths (the paths are in the ids)
  const std::string folder = io::safetensors_file::open(ref / "outputs" / "tiny-qwen-vl.safetensors").metadata().at("image_folder");
  auto tok = text::tokenizer::load(model_dir);
  auto config = qwen_vl::qwen_vl_config::from_hf(io::hf_config::load(model_dir));
  text::chat_renderer chat(tok, text::chat_format::qwen_vl);
  auto ds = data::load_dataset({.file = ref / "images" / "qwen_vl" / "samples.json", .image_folder = folder});
  auto prepared = qwen_vl::prepare_samples(ds, chat, config, {.max_length = 8192});
  CATCH_REQUIRE(prepared.samples.size() == 4);
  auto source = qwen_vl::batch_source_of(prepared.samples, config, *tok.token_to_id("<|endoftext|>"));
  auto model = load_tiny_qwen_vl(model_dir);
  at::NoGradGuard no_grad;
  double worst_logits = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    CATCH_INFO("sample " << k);
    const std::string c = "data." + std::to_string(k) + ".";
    training::lm_batch b = source.collate({k});
    CATCH_CHECK(at::equal(b.input_ids, out.at(c + "input_ids")));
    CATCH_CHECK(at::equal(b.labels, out.at(c + "labels")));
    CATCH_CHECK(at::equal(b.attention_mask.to(at::kLong), out.at(c + "attention_mask").to(at::kLong)));
    // multi-turn samples, system prompts, images in two turns: the model's logits on the batch
    const double d = max_abs_diff(model->forward(qwen_vl::inputs_of(b)), out.at(c + "logits"));
    worst_logits = std::max(worst_logits, d);
    CATCH_CHECK(d < 1e-4);
    auto pv = out.find(c + "pixel_values");
    CATCH_CHECK(b.pixel_values.defined() == (pv != out.end()));
    if (pv == out.end()) continue;
    CATCH_REQUIRE(b.pixel_values.sizes() == pv->second.sizes());
    CATCH_CHECK(max_abs_diff(b.pixel_values, pv->second) == 0.0);
  }
  std::printf("qwen_vl data pipeline: 4 samples (multi-turn, system prompts, 0-2 images) identical; max |logits diff| %.3g\n",
              worst_logits);
  // truncation never cuts an image: a sample whose last image ends past max_length is dropped and named
  auto short_prep = qwen_vl::prepare_samples(ds, chat, config, {.max_length = 200}, "train.json");
  CATCH_CHECK(short_prep.dropped == 3);
  CATCH_CHECK(short_prep.problems[0].find("train.json sample 0") != std::string::npos);
  // a path the remote code could not read back from its span
  data::dataset long_path = ds;
  long_path.samples.resize(1);
  long_path.samples[0].images[0] = std::filesystem::path("/" + std::string(300, 'a')) / "x.png";
  CATCH_CHECK_THROWS_WITH(qwen_vl::prepare_samples(long_path, chat, config, {.max_length = 8192}),
                          Catch::Matchers::Contains("Qwen-VL-Chat reads at most 254"));
}
