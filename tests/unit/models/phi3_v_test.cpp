// Phi-3-Vision against the reference harness's Phi3VForCausalLM (tests/reference/families/
// phi3_v_model.py: transformers' Phi3ForCausalLM and CLIPVisionModel with the HD image embedding
// re-implemented from the remote code's equations) on a tiny random model: LongRoPE, logits,
// loss and every gradient for one image, two images, text only and a padded batch; greedy
// generation; the image processor's pixels on many sizes; the data pipeline's ids, labels and pixels.
#include <cstdio>

#include "lmms/data/dataset.hpp"
#include "lmms/infer/generate.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/phi3_v/data.hpp"
#include "lmms/models/phi3_v/phi3_v.hpp"
#include "lmms/processors/phi3_v.hpp"
#include "lmms/text/tokenizer.hpp"
#include "support/tensors.hpp"
#include "support/test.hpp"

using namespace lmms;
using lmms::test::get_or_none;
using lmms::test::max_abs_diff;

namespace {
phi3_v::phi3_v_model load_tiny_phi3_v(const std::filesystem::path& dir) {
  auto cfg = phi3_v::phi3_v_config::from_hf(io::hf_config::load(dir));
  phi3_v::phi3_v_model model(cfg);
  phi3_v::load_weights(*model, io::safetensors_checkpoint::open(dir));
  return model;
}

// The Python model's (images, num_crops + 1, 3, 336, 336) -> lmms's real crops back to back.
at::Tensor real_crops(const at::Tensor& padded, const at::Tensor& sizes) {
  std::vector<at::Tensor> out;
  for (std::int64_t i = 0; i < padded.size(0); ++i) {
    const std::int64_t n = 1 + (sizes[i][0].item<std::int64_t>() / 336) * (sizes[i][1].item<std::int64_t>() / 336);
    out.push_back(padded[i].narrow(0, 0, n));
  }
  return at::cat(out, 0);
}

phi3_v::inputs case_inputs(const std::map<std::string, at::Tensor>& out, const std::string& c) {
  phi3_v::inputs in{.input_ids = out.at(c + "input_ids"), .attention_mask = out.at(c + "attention_mask")};
  if (auto pv = get_or_none(out, c + "pixel_values"); pv.defined()) {
    in.image_sizes = out.at(c + "image_sizes");
    in.pixel_values = real_crops(pv, in.image_sizes);
  }
  return in;
}
}  // namespace

CATCH_TEST_CASE("Phi-3-Vision config: LongRoPE, tower, token counts", "[models][phi3_v][reference]") {
  auto cfg = phi3_v::phi3_v_config::from_hf(io::hf_config::load(lmms::test::reference_dir() / "models" / "tiny-phi3-v"));
  CATCH_CHECK(cfg.text.fused_qkv);
  CATCH_CHECK(cfg.text.fused_gate_up);
  CATCH_CHECK(cfg.text.rope_short_factor.size() == 8);
  CATCH_CHECK(cfg.text.rope_original_max_positions == 64);
  CATCH_CHECK(std::abs(cfg.text.rope_attention_factor - std::sqrt(1 + std::log(4096.0 / 64) / std::log(64.0))) < 1e-12);
  CATCH_CHECK(cfg.merged_grid() == 12);
  CATCH_CHECK(cfg.feature_layer == 2);                 // layer_idx -2 of 3 layers: the second layer's output
  CATCH_CHECK(cfg.image_tokens(672, 672) == 757);      // 2 x 2 crops: 5 * 144 + 1 + 3 * 12
  CATCH_CHECK(cfg.image_tokens(336, 1344) == 5 * 144 + 1 + 2 * 12);
  // the hub config names no tower: CLIP ViT-L/14-336
  auto hub = io::hf_config::parse(R"({"model_type": "phi3_v", "vocab_size": 32064, "hidden_size": 3072,
      "intermediate_size": 8192, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
      "max_position_embeddings": 131072, "original_max_position_embeddings": 4096, "sliding_window": 131072,
      "rope_scaling": {"type": "su", "short_factor": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],
                       "long_factor": [2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]},
      "img_processor": {"image_dim_out": 1024, "model_name": "openai/clip-vit-large-patch14-336", "name": "clip_vision_model", "num_img_tokens": 144},
      "embd_layer": {"embedding_cls": "image", "hd_transform_order": "sub_glb", "projection_cls": "mlp", "use_hd_transform": true, "with_learnable_separator": true}})",
                                       "hub/config.json");
  auto h = phi3_v::phi3_v_config::from_hf(hub);
  CATCH_CHECK(h.vision.hidden_size == 1024);
  CATCH_CHECK(h.vision.num_layers == 24);
  CATCH_CHECK(h.feature_layer == 23);
  CATCH_CHECK(h.text.head_dim == 96);
  CATCH_CHECK(std::abs(h.text.rope_attention_factor - std::sqrt(1 + std::log(32.0) / std::log(4096.0))) < 1e-12);
}

CATCH_TEST_CASE("Phi-3-Vision matches the reference: logits, loss, every gradient", "[models][phi3_v][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_phi3_v(ref / "models" / "tiny-phi3-v");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-phi3-v.safetensors");
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
      std::printf("phi3_v %s: %lld tokens, max |logits diff| %.3g, |loss diff| %.3g, max |grad diff| %.3g (largest grad %.3g) over %zu parameters\n",
                  name, static_cast<long long>(logits.size(1)), logits_diff, loss_diff, grad_diff, grad_scale, grads);
      CATCH_CHECK(grads > 0);
      CATCH_CHECK(logits_diff < 1e-4);
      CATCH_CHECK(loss_diff < 1e-5);
      CATCH_CHECK(grad_diff < 1e-5 * std::max(1.0, grad_scale));
    }
  }
}

CATCH_TEST_CASE("Phi-3-Vision: image positions and images must agree", "[models][phi3_v][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_phi3_v(ref / "models" / "tiny-phi3-v");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-phi3-v.safetensors");
  auto in = case_inputs(out, "single.");
  at::NoGradGuard no_grad;
  auto extra = in;  // one image position more than the image has embeddings
  extra.input_ids = at::cat({in.input_ids.narrow(1, 0, 5), at::full({1, 1}, -1, at::kLong),
                             in.input_ids.narrow(1, 5, in.input_ids.size(1) - 5)}, 1);
  extra.attention_mask = at::Tensor();
  CATCH_CHECK_THROWS_WITH(model->forward(extra), Catch::Matchers::Contains("image positions but its images give"));
  auto none = in;
  none.pixel_values = at::Tensor();
  CATCH_CHECK_THROWS_WITH(model->forward(none), Catch::Matchers::Contains("but no pixel_values"));
}

CATCH_TEST_CASE("Phi-3-Vision greedy generation with a KV cache gives the reference's tokens",
                "[models][phi3_v][generate][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny_phi3_v(ref / "models" / "tiny-phi3-v");
  model->eval();
  auto tok = text::tokenizer::load(ref / "models" / "tiny-phi3-v");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-phi3-v.safetensors");
  at::NoGradGuard no_grad;
  auto prompt = case_inputs(out, "single.");
  prompt.attention_mask = at::Tensor();
  auto steps = infer::steps_of(model->language_model, [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); });
  auto g = infer::generate(steps, model->input_embeddings(prompt), tok, {.max_new_tokens = 8});
  std::vector<std::int64_t> got(g.ids.begin(), g.ids.end());
  CATCH_CHECK(at::equal(at::tensor(got, at::kLong), out.at("gen.new_ids").squeeze(0)));
}

CATCH_TEST_CASE("Phi-3-Vision image processor gives Phi3VImageProcessor's pixels", "[models][phi3_v][data][reference]") {
  auto ref = lmms::test::reference_dir();
  auto out = io::load_safetensors(ref / "outputs" / "tiny-phi3-v.safetensors");
  std::size_t checked = 0;
  for (int crops : {16, 4}) {
    processors::phi3_v_image_config cfg;
    cfg.num_crops = crops;
    for (const auto& [key, value] : out) {
      const std::string prefix = "pixels.c" + std::to_string(crops) + ".";
      if (!key.starts_with(prefix) || !key.ends_with(".pixel_values")) continue;
      const std::string size = key.substr(prefix.size(), key.size() - prefix.size() - 13);  // "<w>x<h>"
      CATCH_INFO("image " << size << ", num_crops " << crops);
      auto image = media::load_image(ref / "images" / "phi3_v" / (size + ".png"));
      auto c = processors::phi3_v_preprocess(image, cfg);
      at::Tensor hw = out.at(prefix + size + ".image_size");
      CATCH_CHECK(c.height == hw[0].item<std::int64_t>());
      CATCH_CHECK(c.width == hw[1].item<std::int64_t>());
      CATCH_CHECK(processors::phi3_v_image_tokens(c.height, c.width) == out.at(prefix + size + ".num_img_tokens").item<std::int64_t>());
      CATCH_REQUIRE(c.pixels.sizes() == value.sizes());
      CATCH_CHECK(max_abs_diff(c.pixels, value) == 0.0);
      ++checked;
    }
  }
  std::printf("phi3_v processor: %zu images x num_crops compared\n", checked);
  CATCH_CHECK(checked >= 12);
  CATCH_CHECK_THROWS_WITH(processors::phi3_v_hd_size(1, 20000, 16), Catch::Matchers::Contains("too elongated"));
}

CATCH_TEST_CASE("Phi-3-Vision data pipeline gives the reference ids, labels and pixels", "[models][phi3_v][data][reference]") {
  auto ref = lmms::test::reference_dir();
  const auto model_dir = ref / "models" / "tiny-phi3-v";
  auto out = io::load_safetensors(ref / "outputs" / "tiny-phi3-v.safetensors");
  auto tok = text::tokenizer::load(ref / "text" / "phi3-v");
  auto config = phi3_v::phi3_v_config::from_hf(io::hf_config::load(model_dir));
  text::chat_renderer chat(tok, text::chat_format::phi3_v);
  auto processor = processors::phi3_v_image_config::load(model_dir);
  CATCH_CHECK(processor.num_crops == 4);
  auto ds = data::load_dataset({.file = ref / "images" / "phi3_v" / "samples.json", .image_folder = ref / "images" / "phi3_v"});
  auto prepared = phi3_v::prepare_samples(ds, chat, config, processor, {.max_length = 8192});
  CATCH_REQUIRE(prepared.samples.size() == 4);
  auto source = phi3_v::batch_source_of(prepared.samples, processor, *tok.token_to_id("<|endoftext|>"));
  for (std::size_t k = 0; k < 4; ++k) {
    CATCH_INFO("sample " << k);
    const std::string c = "data." + std::to_string(k) + ".";
    training::lm_batch b = source.collate({k});
    CATCH_CHECK(at::equal(b.input_ids, out.at(c + "input_ids")));
    CATCH_CHECK(at::equal(b.labels, out.at(c + "labels")));
    CATCH_CHECK(at::equal(b.attention_mask.to(at::kLong), out.at(c + "attention_mask").to(at::kLong)));
    auto pv = out.find(c + "pixel_values");
    CATCH_CHECK(b.pixel_values.defined() == (pv != out.end()));
    if (pv == out.end()) continue;
    CATCH_CHECK(at::equal(b.image_sizes, out.at(c + "image_sizes")));
    CATCH_REQUIRE(b.pixel_values.sizes() == pv->second.sizes());
    CATCH_CHECK(max_abs_diff(b.pixel_values, pv->second) == 0.0);
  }
  // truncation never cuts an image: a sample whose image ends past max_length is dropped and named
  auto short_prep = phi3_v::prepare_samples(ds, chat, config, processor, {.max_length = 200}, "train.json");
  CATCH_CHECK(short_prep.dropped >= 3);
  CATCH_CHECK(short_prep.problems[0].find("train.json sample 0") != std::string::npos);
}
