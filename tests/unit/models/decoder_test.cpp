// The decoder LLMs (Llama, Qwen2) against transformers on tiny random models: logits, loss
// and the gradient of every parameter on a right-padded batch.
#include <cstdio>

#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/llm/decoder.hpp"
#include "support/tensors.hpp"
#include "support/test.hpp"

using namespace lmms;
using lmms::test::get_or_none;
using lmms::test::max_abs_diff;

CATCH_TEST_CASE("decoder LLMs match transformers: logits, loss, every gradient", "[models][llm][reference]") {
  auto ref = lmms::test::reference_dir();
  for (const char* name : {"llama", "qwen2"}) {
    CATCH_DYNAMIC_SECTION(name) {
      auto dir = ref / "models" / (std::string("tiny-") + name);
      auto cfg = lm::decoder_config::from_hf(io::hf_config::load(dir));
      lm::causal_lm lm(cfg);
      lm::load_weights(*lm, io::safetensors_checkpoint::open(dir));
      auto out = io::load_safetensors(ref / "outputs" / (std::string("tiny-") + name + ".safetensors"));
      at::Tensor mask = out.at("attention_mask");
      at::Tensor logits = lm->forward(out.at("input_ids"), mask);
      // compare where attention is real (HF leaves padded positions to its own mask handling)
      at::Tensor keep = mask.to(at::kBool).unsqueeze(-1).expand_as(logits);
      double logits_diff = max_abs_diff(logits.masked_select(keep), out.at("logits").masked_select(keep));
      at::Tensor loss = lm::causal_lm_loss(logits, out.at("labels"));
      double loss_diff = std::abs(loss.item<double>() - out.at("loss").item<double>());
      loss.backward();
      double grad_diff = 0, grad_scale = 0;
      std::size_t grads = 0;
      for (const auto& p : lm->named_parameters()) {
        auto it = out.find("grad." + p.key());
        CATCH_INFO("parameter " << p.key());
        CATCH_REQUIRE(it != out.end());
        CATCH_REQUIRE(p.value().grad().defined());
        grad_diff = std::max(grad_diff, max_abs_diff(p.value().grad(), it->second));
        grad_scale = std::max(grad_scale, it->second.abs().max().item<double>());
        ++grads;
      }
      std::printf("%s: max |logits diff| %.3g, |loss diff| %.3g, max |grad diff| %.3g (largest grad %.3g) over %zu parameters\n",
                  name, logits_diff, loss_diff, grad_diff, grad_scale, grads);
      CATCH_CHECK(logits_diff < 1e-4);
      CATCH_CHECK(loss_diff < 1e-5);
      CATCH_CHECK(grad_diff < 1e-5 * std::max(1.0, grad_scale));
    }
  }
}

CATCH_TEST_CASE("configs lmms cannot run are refused by name", "[models][llm]") {
  auto cfg = io::hf_config::parse(R"({"model_type": "gemma", "vocab_size": 8})", "x/config.json");
  CATCH_CHECK_THROWS_WITH(lm::decoder_config::from_hf(cfg), Catch::Matchers::Contains("model_type 'gemma' is not a decoder"));
  auto yarn = io::hf_config::parse(R"({"model_type": "llama", "vocab_size": 8, "hidden_size": 8, "intermediate_size": 8,
      "num_hidden_layers": 1, "num_attention_heads": 2, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}})", "x/config.json");
  CATCH_CHECK_THROWS_WITH(lm::decoder_config::from_hf(yarn), Catch::Matchers::Contains("rope type 'yarn' is not implemented"));
}

CATCH_TEST_CASE("activation checkpointing gives the same gradients as plain backward", "[models][llm][reference]") {
  auto dir = lmms::test::reference_dir() / "models" / "tiny-llama";
  auto out = io::load_safetensors(lmms::test::reference_dir() / "outputs" / "tiny-llama.safetensors");
  auto grads_of = [&](bool checkpointing) {
    at::manual_seed(3);
    lm::causal_lm lm(lm::decoder_config::from_hf(io::hf_config::load(dir)));
    lm::load_weights(*lm, io::safetensors_checkpoint::open(dir));
    for (const auto& item : lm->named_modules("", false))  // LoRA with dropout: recompute must reuse the masks
      if (auto lin = std::dynamic_pointer_cast<nn::linear_impl>(item.value()); lin && item.key().find("mlp") != std::string::npos)
        lin->add_lora({.rank = 4, .alpha = 8, .dropout = 0.2});
    for (auto& p : lm->parameters()) p.set_requires_grad(true);
    lm->model->gradient_checkpointing = checkpointing;
    lm->train();
    at::manual_seed(11);
    lm::causal_lm_loss(lm->forward(out.at("input_ids"), out.at("attention_mask")), out.at("labels")).backward();
    std::map<std::string, at::Tensor> grads;
    for (const auto& p : lm->named_parameters()) grads[p.key()] = p.value().grad().clone();
    return grads;
  };
  auto plain = grads_of(false), checkpointed = grads_of(true);
  CATCH_REQUIRE(plain.size() == checkpointed.size());
  double worst = 0;
  for (const auto& [name, g] : plain) worst = std::max(worst, (g - checkpointed.at(name)).abs().max().item<double>());
  std::printf("activation checkpointing: max |grad diff| %.3g over %zu parameters\n", worst, plain.size());
  CATCH_CHECK(worst < 1e-6);
}

#include "lmms/nn/precision.hpp"

CATCH_TEST_CASE("bf16 autocast logits agree with transformers under torch.autocast", "[models][llm][reference]") {
  for (const char* name : {"llama", "qwen2"}) {
    auto dir = lmms::test::reference_dir() / "models" / (std::string("tiny-") + name);
    auto out = io::load_safetensors(lmms::test::reference_dir() / "outputs" / (std::string("tiny-") + name + ".safetensors"));
    lm::causal_lm lm(lm::decoder_config::from_hf(io::hf_config::load(dir)));
    lm::load_weights(*lm, io::safetensors_checkpoint::open(dir));
    at::NoGradGuard no_grad;
    at::Tensor logits;
    {
      nn::autocast_scope bf16(nn::precision::bf16);
      logits = lm->forward(out.at("input_ids"), out.at("attention_mask")).to(at::kFloat);
    }
    at::Tensor keep = out.at("attention_mask").to(at::kBool).unsqueeze(-1).expand_as(logits);
    const double diff = (logits - out.at("logits_bf16_autocast")).masked_select(keep).abs().max().item<double>();
    const double vs_fp32 = (logits - out.at("logits")).masked_select(keep).abs().max().item<double>();
    std::printf("%s bf16 autocast: max |logits - transformers bf16| %.3g (vs fp32 logits %.3g)\n", name, diff, vs_fp32);
    CATCH_CHECK(diff < 5e-2);     // bf16 rounding (8 bits of mantissa) on logits of a few units
    CATCH_CHECK(vs_fp32 > 0.0);   // autocast really ran in bf16
  }
}
