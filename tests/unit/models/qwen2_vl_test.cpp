// Qwen2-VL and Qwen2.5-VL against transformers' Qwen2VLForConditionalGeneration and
// Qwen2_5_VLForConditionalGeneration on tiny random models (tests/reference/families/qwen2_vl.py):
// M-RoPE positions, logits, loss and every gradient for one image with two turns, images in two
// turns, text only, an image over max_pixels, a video, an image with a video, and a right-padded
// batch; bf16 autocast; greedy generation; lmms's data pipeline.
#include <cstdio>

#include "lmms/infer/generate.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/models/qwen2_vl/data.hpp"
#include "lmms/models/qwen2_vl/qwen2_vl.hpp"
#include "lmms/nn/precision.hpp"
#include "support/tensors.hpp"
#include "support/test.hpp"

using namespace lmms;
using lmms::test::get_or_none;
using lmms::test::max_abs_diff;

namespace {
qwen2vl::qwen2_vl_model load_tiny(const std::filesystem::path& dir) {
  auto cfg = qwen2vl::qwen2_vl_config::from_hf(io::hf_config::load(dir));
  qwen2vl::qwen2_vl_model model(cfg);
  qwen2vl::load_weights(*model, io::safetensors_checkpoint::open(dir));
  return model;
}


qwen2vl::inputs inputs_of(const std::map<std::string, at::Tensor>& out, const std::string& c) {
  return {.input_ids = out.at(c + "input_ids"), .attention_mask = out.at(c + "attention_mask"),
          .pixel_values = get_or_none(out, c + "pixel_values"), .image_grid_thw = get_or_none(out, c + "image_grid_thw"),
          .pixel_values_videos = get_or_none(out, c + "pixel_values_videos"),
          .video_grid_thw = get_or_none(out, c + "video_grid_thw"),
          .second_per_grid_ts = get_or_none(out, c + "second_per_grid_ts")};
}

const char* const model_kinds[] = {"qwen2-vl", "qwen2.5-vl"};

const char* const cases[] = {"single", "multi", "text", "large", "video", "mixed", "videofile", "batch", "packed"};
}  // namespace

CATCH_TEST_CASE("Qwen2-VL and Qwen2.5-VL match transformers: M-RoPE positions, logits, loss, every gradient", "[models][qwen2_vl][reference]") {
  auto ref = lmms::test::reference_dir();
  for (const char* kind : model_kinds)
  for (const char* name : cases) {
    CATCH_DYNAMIC_SECTION(kind << " " << name) {
      auto model = load_tiny(ref / "models" / ("tiny-" + std::string(kind)));
      auto out = io::load_safetensors(ref / "outputs" / ("tiny-" + std::string(kind) + ".safetensors"));
      const std::string c = std::string(name) + ".";
      auto in = inputs_of(out, c);
      if (in.image_grid_thw.defined() || in.video_grid_thw.defined()) {
        auto [positions, deltas] = qwen2vl::rope_index(in.input_ids, in.attention_mask, in.image_grid_thw,
                                                        in.video_grid_thw, model->config, in.second_per_grid_ts);
        CATCH_CHECK(at::equal(positions, out.at(c + "position_ids")));
      }
      model->zero_grad();
      at::Tensor logits = model->forward(in);
      double logits_diff = max_abs_diff(logits, out.at(c + "logits"));
      at::Tensor loss = lm::causal_lm_loss(logits, out.at(c + "labels"));
      double loss_diff = std::abs(loss.item<double>() - out.at(c + "loss").item<double>());
      loss.backward();
      auto [grad_diff, grad_scale, grads] = lmms::test::compare_gradients(*model, out, c);
      std::printf("%s %s: %lld tokens, max |logits diff| %.3g, |loss diff| %.3g, max |grad diff| %.3g (largest grad %.3g) over %zu parameters\n",
                  kind, name, static_cast<long long>(logits.size(1)), logits_diff, loss_diff, grad_diff, grad_scale, grads);
      CATCH_CHECK(grads > 0);
      CATCH_CHECK(logits_diff < 1e-4);
      CATCH_CHECK(loss_diff < 1e-5);
      CATCH_CHECK(grad_diff < 1e-5 * std::max(1.0, grad_scale));
    }
  }
}

CATCH_TEST_CASE("Qwen2-VL and Qwen2.5-VL bf16 autocast logits agree with transformers under torch.autocast", "[models][qwen2_vl][reference]") {
  auto ref = lmms::test::reference_dir();
  at::NoGradGuard no_grad;
  for (const char* kind : model_kinds)
  for (const char* name : {"single", "video", "batch", "packed"}) {
    auto model = load_tiny(ref / "models" / ("tiny-" + std::string(kind)));
    model->eval();
    auto out = io::load_safetensors(ref / "outputs" / ("tiny-" + std::string(kind) + ".safetensors"));
    const std::string c = std::string(name) + ".";
    at::Tensor logits;
    {
      nn::autocast_scope bf16(nn::precision::bf16);
      logits = model->forward(inputs_of(out, c));
    }
    const double diff = max_abs_diff(logits, out.at(c + "logits_bf16_autocast"));
    const double vs_fp32 = max_abs_diff(logits, out.at(c + "logits"));
    std::printf("%s %s bf16 autocast: max |logits - transformers bf16| %.3g (vs fp32 logits %.3g)\n", kind, name, diff, vs_fp32);
    CATCH_CHECK(diff < 5e-2);
    CATCH_CHECK(vs_fp32 > 0.0);
  }
}

CATCH_TEST_CASE("Qwen2-VL: wrong media counts are refused with a clear message", "[models][qwen2_vl][reference]") {
  auto ref = lmms::test::reference_dir();
  auto model = load_tiny(ref / "models" / "tiny-qwen2-vl");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-qwen2-vl.safetensors");
  auto in = inputs_of(out, "single.");
  in.pixel_values = out.at("multi.pixel_values");  // two images' patches for a one-image sample
  in.image_grid_thw = out.at("multi.image_grid_thw");
  CATCH_CHECK_THROWS_WITH(model->forward(in), Catch::Matchers::Contains("image pad tokens but its images give"));
}

CATCH_TEST_CASE("Qwen2-VL and Qwen2.5-VL greedy generation with a KV cache gives transformers' tokens", "[models][qwen2_vl][generate][reference]") {
  auto ref = lmms::test::reference_dir();
  at::NoGradGuard no_grad;
  for (const char* kind : model_kinds) {
  CATCH_INFO("model " << kind);
  auto model = load_tiny(ref / "models" / ("tiny-" + std::string(kind)));
  model->eval();
  auto tok = text::tokenizer::load(ref / "models" / ("tiny-" + std::string(kind)));
  auto out = io::load_safetensors(ref / "outputs" / ("tiny-" + std::string(kind) + ".safetensors"));
  qwen2vl::inputs prompt{.input_ids = out.at("gen.input_ids"), .pixel_values = out.at("gen.pixel_values"),
                          .image_grid_thw = out.at("gen.image_grid_thw")};
  auto [embeds, steps] = qwen2vl::generation_steps(model, prompt);
  auto g = infer::generate(steps, embeds, tok, {.max_new_tokens = 10});
  std::vector<std::int64_t> got(g.ids.begin(), g.ids.end());
  CATCH_CHECK(at::equal(at::tensor(got, at::kLong), out.at("gen.new_ids").squeeze(0)));
  }
}

CATCH_TEST_CASE("Qwen2-VL data pipeline gives transformers' ids, labels, pixel_values and grids", "[models][qwen2_vl][data][reference]") {
  auto ref = lmms::test::reference_dir();
  const auto model_dir = ref / "models" / "tiny-qwen2-vl";
  auto out = io::load_safetensors(ref / "outputs" / "tiny-qwen2-vl.safetensors");
  auto config = qwen2vl::qwen2_vl_config::from_hf(io::hf_config::load(model_dir));
  auto tok = text::tokenizer::load(model_dir);
  text::chat_renderer chat(tok, text::chat_format::qwen2_vl);
  auto processor = processors::qwen2_vl_image_config::load(model_dir);
  CATCH_CHECK(processor.max_pixels == 28 * 28 * 12);
  auto ds = data::load_dataset({.file = ref / "images" / "qwen2-vl" / "samples.json",
                                .image_folder = ref / "images" / "qwen2-vl"});
  auto prepared = qwen2vl::prepare_samples(ds, chat, config, processor, {.max_length = 4096});
  CATCH_REQUIRE(prepared.samples.size() == 4);
  auto source = qwen2vl::batch_source_of(prepared.samples, processor, *tok.token_to_id("<|endoftext|>"));
  const char* names[] = {"single", "multi", "text", "large"};
  for (std::size_t i = 0; i < 4; ++i) {
    const std::string c = std::string(names[i]) + ".";
    CATCH_INFO("case " << names[i]);
    training::lm_batch b = source.collate({i});
    CATCH_CHECK(at::equal(b.input_ids, out.at(c + "input_ids")));
    CATCH_CHECK(at::equal(b.labels, out.at(c + "labels")));
    auto pv = out.find(c + "pixel_values");
    CATCH_CHECK(b.pixel_values.defined() == (pv != out.end()));
    if (pv != out.end()) {
      CATCH_CHECK(at::equal(b.image_grid_thw, out.at(c + "image_grid_thw")));
      CATCH_CHECK(max_abs_diff(b.pixel_values, pv->second) == 0.0);  // PIL-exact resize, same float ops
    }
  }
  // packing: single, text and multi in one row give transformers' packed batch (ids, labels,
  // sample numbers, pixels); with a smaller max_length they take two rows
  auto packing = qwen2vl::batch_source_of(prepared.samples, processor, *tok.token_to_id("<|endoftext|>"), 4096);
  training::lm_batch p = packing.collate({0, 2, 1});
  CATCH_CHECK(at::equal(p.input_ids, out.at("packed.input_ids")));
  CATCH_CHECK(at::equal(p.labels, out.at("packed.labels")));
  CATCH_CHECK(at::equal(p.attention_mask, out.at("packed.attention_mask")));
  CATCH_CHECK(at::equal(p.pixel_values, out.at("packed.pixel_values")));
  CATCH_CHECK(at::equal(p.image_grid_thw, out.at("packed.image_grid_thw")));
  auto two_rows = qwen2vl::batch_source_of(prepared.samples, processor, 0, 200).collate({0, 2, 1});
  CATCH_CHECK(two_rows.input_ids.size(0) == 2);
  CATCH_CHECK(two_rows.real_tokens == p.real_tokens);
  CATCH_CHECK(two_rows.label_tokens == p.label_tokens);

  // a video file: 8 frames sampled and decoded as lmms-finetune does with PyAV, patchified
  auto video_ds = data::load_dataset({.file = ref / "images" / "qwen2-vl" / "samples_video.json",
                                      .image_folder = ref / "images" / "qwen2-vl", .video_folder = ref / "videos"});
  auto video_prepared = qwen2vl::prepare_samples(video_ds, chat, config, processor, {.max_length = 4096, .num_frames = 8});
  CATCH_REQUIRE(video_prepared.samples.size() == 1);
  training::lm_batch v = qwen2vl::batch_source_of(video_prepared.samples, processor, 0, 0, 8).collate({0});
  CATCH_CHECK(at::equal(v.input_ids, out.at("videofile.input_ids")));
  CATCH_CHECK(at::equal(v.labels, out.at("videofile.labels")));
  CATCH_CHECK(at::equal(v.video_grid_thw, out.at("videofile.video_grid_thw")));
  CATCH_CHECK(at::equal(v.image_grid_thw, out.at("videofile.image_grid_thw")));
  CATCH_CHECK(max_abs_diff(v.pixel_values_videos, out.at("videofile.pixel_values_videos")) == 0.0);
  CATCH_CHECK(max_abs_diff(v.pixel_values, out.at("videofile.pixel_values")) == 0.0);

  // a sample too long for max_length is dropped (never cut inside an image span) and counted
  auto tight = qwen2vl::prepare_samples(ds, chat, config, processor, {.max_length = 60});
  CATCH_CHECK(tight.dropped >= 1);
  for (const auto& s : tight.samples) CATCH_CHECK(s.input_ids.size() <= 60);
}

CATCH_TEST_CASE("smart_resize follows transformers: rounding to even, the min and max pixel paths", "[qwen2_vl][processor]") {
  using processors::smart_resize;
  CATCH_CHECK(smart_resize(64, 80, 28, 56 * 56, 28 * 28 * 1280) == std::pair{56, 84});
  CATCH_CHECK(smart_resize(42, 42, 28, 56 * 56, 28 * 28 * 1280) == std::pair{56, 56});  // 1.5 rounds to 2 (even)
  CATCH_CHECK(smart_resize(70, 70, 28, 28 * 28, 28 * 28 * 1280) == std::pair{56, 56});  // 2.5 rounds to 2 (even)
  CATCH_CHECK(smart_resize(150, 200, 28, 56 * 56, 28 * 28 * 12) == std::pair{84, 112});
  CATCH_CHECK(smart_resize(10, 10, 28, 56 * 56, 28 * 28 * 1280) == std::pair{56, 56});
  CATCH_CHECK_THROWS_WITH(smart_resize(1, 300, 28, 56 * 56, 28 * 28 * 1280), Catch::Matchers::Contains("aspect ratio over 200"));
}

CATCH_TEST_CASE("Qwen2-VL video frames -> pixel_values_videos and video_grid_thw in transformers' layout", "[qwen2_vl][processor][reference]") {
  auto ref = lmms::test::reference_dir();
  auto processor = processors::qwen2_vl_image_config::load(ref / "models" / "tiny-qwen2-vl");
  auto out = io::load_safetensors(ref / "outputs" / "tiny-qwen2-vl.safetensors");
  std::vector<media::rgb_image> frames;
  for (int k = 0; k < 4; ++k)
    frames.push_back(media::load_image(ref / "images" / "qwen2-vl" / ("frame_" + std::to_string(k) + ".png")));
  auto v = processors::qwen2_vl_video_preprocess(frames, processor);
  at::Tensor pv = at::from_blob(v.data.data(), {v.count(), processor.patch_values()}, at::kFloat);
  CATCH_CHECK(at::equal(at::tensor({v.grid_t, v.grid_h, v.grid_w}, at::kLong).unsqueeze(0), out.at("video.video_grid_thw")));
  CATCH_CHECK(max_abs_diff(pv, out.at("video.pixel_values_videos")) == 0.0);
  // an odd frame count repeats the last frame
  frames.pop_back();
  auto odd = processors::qwen2_vl_video_preprocess(frames, processor);
  CATCH_CHECK(odd.grid_t == 2);
}
