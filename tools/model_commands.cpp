// tools/model_commands.cpp: the `lmms` commands that run a model (the LLaVA family, Qwen2-VL,
// Llama-3.2-Vision, Phi-3-Vision or a decoder LLM),
// optionally with a PEFT adapter loaded on the fly.
//
//   lmms score --model DIR [--adapter DIR] --data FILE [--image-folder DIR]
//       one JSON line per sample, {"index", "loss", "label_tokens"}: the mean cross-entropy over
//       its label tokens, as the trainer computes it; then {"mean_loss", "samples", "label_tokens"}
//       (the mean over all label tokens of the file).
//
//   lmms generate --model DIR [--adapter DIR] [--image F ...] [--system TEXT] --prompt TEXT
//   lmms generate --model DIR [--adapter DIR] --data FILE [--image-folder DIR]
//       options: --max-new-tokens N (64) --temperature T (0: greedy) --top-k K --top-p P
//                --seed N --stop TEXT (repeatable) --chat FORMAT (llava for LLaVA)
//                --batch-size N (1: prompts asked N at a time, left-padded)
//
// With --data each sample's first user turn is the prompt (its images in place) and one JSON
// line per sample is printed: {"index", "answer", "reference", "finish"}, reference being the
// sample's first assistant turn. Then, on stderr, the exact-match accuracy against those
// references (case and surrounding spaces ignored): "accuracy: 21/24 = 0.875".
#include <cctype>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "lmms/core/error.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/infer/generate.hpp"
#include "lmms/io/hf_config.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/models/llava/data.hpp"
#include "lmms/models/llava/llava.hpp"
#include "lmms/models/mllama/data.hpp"
#include "lmms/models/mllama/mllama.hpp"
#include "lmms/models/phi3_v/data.hpp"
#include "lmms/models/phi3_v/phi3_v.hpp"
#include "lmms/models/qwen_vl/data.hpp"
#include "lmms/models/qwen_vl/qwen_vl.hpp"
#include "lmms/processors/qwen_vl.hpp"
#include "lmms/models/qwen2_vl/data.hpp"
#include "lmms/models/qwen2_vl/qwen2_vl.hpp"
#include "lmms/processors/clip.hpp"
#include "lmms/processors/mllama.hpp"
#include "lmms/processors/qwen2_vl.hpp"
#include "lmms/text/chat.hpp"
#include "lmms/train/lora.hpp"

namespace {
using namespace lmms;

struct prompt_job {
  std::size_t index = 0;
  text::chat_sample sample;
  std::vector<std::filesystem::path> images;
  std::string reference;
};

// Prompts ready for infer::generate (one row, mask undefined) or generate_batch (left-padded).
struct prompt_batch {
  at::Tensor embeds, mask;
  infer::decoder_steps steps;
};
using prompt_rows = std::vector<std::vector<text::token_id>>;
using image_rows = std::vector<std::vector<std::filesystem::path>>;

// Left-pads per-row embeddings (1, T, H) into (B, T_max, H) with a 0/1 mask.
prompt_batch left_pad(const std::vector<at::Tensor>& embeds, infer::decoder_steps steps) {
  if (embeds.size() == 1) return {embeds[0], {}, std::move(steps)};
  std::int64_t longest = 0;
  for (const auto& e : embeds) longest = std::max(longest, e.size(1));
  const auto B = static_cast<std::int64_t>(embeds.size()), H = embeds[0].size(2);
  at::Tensor padded = at::zeros({B, longest, H}, embeds[0].options()), mask = at::zeros({B, longest}, at::kLong);
  for (std::int64_t b = 0; b < B; ++b) {  // left padding: the prompt ends where generation starts
    const auto T = embeds[static_cast<std::size_t>(b)].size(1);
    padded[b].narrow(0, longest - T, T).copy_(embeds[static_cast<std::size_t>(b)][0]);
    mask[b].narrow(0, longest - T, T).fill_(1);
  }
  return {padded, mask, std::move(steps)};
}

// A model behind one interface: prompts (rendered ids, their images) -> embeddings and steps.
struct loaded_model {
  std::shared_ptr<torch::nn::Module> module;
  std::function<prompt_batch(const prompt_rows& ids, const image_rows& images)> prepare;
  text::chat_format format = text::chat_format::llava;
  /// For scoring: the batch of one dataset sample, and the float logits of a batch.
  std::function<training::lm_batch(const data::sample& s, const text::chat_renderer& chat)> batch_of;
  training::forward_fn forward;
};

loaded_model load_model(const std::filesystem::path& dir) {
  auto config = io::hf_config::load(dir);
  const std::string type = config.get_string_or("model_type", "");
  auto checkpoint = io::safetensors_checkpoint::open(dir);
  loaded_model m;
  if (type == "llava" || type == "llava_next" || type == "llava_next_video" || type == "llava_onevision") {
    auto cfg = llava::llava_config::from_hf(config);
    llava::llava_model model(cfg);
    llava::load_weights(*model, checkpoint);
    auto processor = processors::clip_config::load(dir);
    m.module = model.ptr();
    m.format = llava::chat_format_of(cfg);
    auto steps = infer::steps_of(model->language_model, [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); });
    auto embed_prompt = [model, processor, cfg](const std::vector<text::token_id>& ids,
                                                const std::vector<std::filesystem::path>& images) mutable {
      std::vector<at::Tensor> pixels;
      std::vector<std::int64_t> sizes, tiles, counts;
      for (const auto& f : images) {
        auto image = media::load_image(f);
        pixels.push_back(llava::image_pixels(image, processor, cfg, images.size()));
        sizes.insert(sizes.end(), {image.height, image.width});
        tiles.push_back(pixels.back().size(0));
        counts.push_back(cfg.image_tokens(image.height, image.width, images.size()));
      }
      std::vector<std::int64_t> expanded;
      std::size_t image = 0;
      for (auto id : ids) {
        if (id == cfg.image_token_id) {
          const std::int64_t n = image < counts.size() ? counts[image] : cfg.image_tokens();
          ++image;
          expanded.insert(expanded.end(), static_cast<std::size_t>(n), id);
        } else {
          expanded.push_back(id);
        }
      }
      at::Tensor pv = pixels.empty() ? at::Tensor() : at::cat(pixels, 0);
      at::Tensor image_sizes = sizes.empty() ? at::Tensor() : at::tensor(sizes, at::kLong).view({-1, 2});
      at::Tensor image_tiles = tiles.empty() ? at::Tensor() : at::tensor(tiles, at::kLong);
      return model->input_embeddings(at::tensor(expanded, at::kLong).unsqueeze(0), pv, image_sizes, image_tiles);
    };
    m.prepare = [embed_prompt, steps](const prompt_rows& ids, const image_rows& images) mutable {
      std::vector<at::Tensor> embeds;
      for (std::size_t k = 0; k < ids.size(); ++k) embeds.push_back(embed_prompt(ids[k], images[k]));
      return left_pad(embeds, steps);
    };
    m.batch_of = [cfg, processor](const data::sample& s, const text::chat_renderer& chat) {
      data::dataset one;
      one.samples.push_back(s);
      auto prepared = llava::prepare_samples(one, chat, cfg, {.max_length = 1 << 30});
      return llava::batch_source_of(prepared.samples, processor, cfg, 0).collate({0});
    };
    m.forward = [model](const training::lm_batch& b) mutable {
      return model->forward(b.input_ids, b.attention_mask, b.pixel_values, b.image_sizes, b.image_tiles,
                            b.pixel_values_videos);
    };
    return m;
  }
  if (type == "qwen2_vl" || type == "qwen2_5_vl") {
    auto cfg = qwen2vl::qwen2_vl_config::from_hf(config);
    qwen2vl::qwen2_vl_model model(cfg);
    qwen2vl::load_weights(*model, checkpoint);
    auto processor = processors::qwen2_vl_image_config::load(dir);
    const auto pad = static_cast<std::int64_t>(text::tokenizer::load(dir).token_to_id("<|endoftext|>").value_or(0));
    m.module = model.ptr();
    m.format = text::chat_format::qwen2_vl;
    // M-RoPE positions depend on the whole prompt: the batch is left-padded as token ids, then
    // embedded and given its positions together (qwen2vl::generation_steps)
    m.prepare = [model, processor, cfg, pad](const prompt_rows& ids, const image_rows& images) mutable {
      std::vector<std::vector<std::int64_t>> rows;
      std::vector<at::Tensor> pixels;
      std::vector<std::int64_t> grids;
      std::size_t longest = 0;
      for (std::size_t k = 0; k < ids.size(); ++k) {
        std::vector<std::int64_t> row;
        std::size_t image = 0;
        for (auto id : ids[k]) {
          if (id != cfg.image_token_id) {
            row.push_back(id);
            continue;
          }
          if (image >= images[k].size()) fail("the prompt has more <image> placeholders than images");
          auto p = processors::qwen2_vl_preprocess(media::load_image(images[k][image++]), processor);
          pixels.push_back(at::from_blob(p.data.data(), {p.count(), processor.patch_values()}, at::kFloat).clone());
          grids.insert(grids.end(), {p.grid_t, p.grid_h, p.grid_w});
          row.insert(row.end(), static_cast<std::size_t>(p.count() / (processor.merge_size * processor.merge_size)), id);
        }
        longest = std::max(longest, row.size());
        rows.push_back(std::move(row));
      }
      const auto B = static_cast<std::int64_t>(rows.size()), T = static_cast<std::int64_t>(longest);
      at::Tensor input_ids = at::full({B, T}, pad, at::kLong), mask = at::zeros({B, T}, at::kLong);
      for (std::int64_t b = 0; b < B; ++b) {
        const auto& row = rows[static_cast<std::size_t>(b)];
        const auto n = static_cast<std::int64_t>(row.size());
        input_ids[b].narrow(0, T - n, n).copy_(at::tensor(row, at::kLong));
        mask[b].narrow(0, T - n, n).fill_(1);
      }
      qwen2vl::inputs in{.input_ids = input_ids, .attention_mask = B > 1 ? mask : at::Tensor()};
      if (!pixels.empty()) {
        in.pixel_values = at::cat(pixels, 0);
        in.image_grid_thw = at::tensor(grids, at::kLong).reshape({-1, 3});
      }
      auto [embeds, steps] = qwen2vl::generation_steps(model, in);
      return prompt_batch{embeds, in.attention_mask, steps};
    };
    m.batch_of = [cfg, processor](const data::sample& s, const text::chat_renderer& chat) {
      data::dataset one;
      one.samples.push_back(s);
      auto prepared = qwen2vl::prepare_samples(one, chat, cfg, processor, {.max_length = 1 << 30});
      if (prepared.samples.empty()) fail(prepared.problems.empty() ? "the sample was dropped" : prepared.problems[0]);
      return qwen2vl::batch_source_of(prepared.samples, processor, 0).collate({0});
    };
    m.forward = [model](const training::lm_batch& b) mutable { return model->forward(qwen2vl::inputs_of(b)); };
    return m;
  }
  if (type == "mllama") {
    auto cfg = mllama::mllama_config::from_hf(config);
    mllama::mllama_model model(cfg);
    mllama::load_weights(*model, checkpoint);
    auto processor = processors::mllama_image_config::load(dir);
    m.module = model.ptr();
    m.format = text::chat_format::llama3_vision;
    // the image tokens stay single tokens; the tiles reach the text through cross-attention
    m.prepare = [model, processor, cfg](const prompt_rows& ids, const image_rows& images) mutable {
      // tiles and aspect ratios as a training batch builds them; the ids left-padded (the prompt
      // ends where generation starts) and the cross-attention mask built on those
      std::vector<mllama::sample_tokens> rows(ids.size());
      std::size_t longest = 0;
      for (std::size_t k = 0; k < ids.size(); ++k) {
        rows[k].input_ids = ids[k];
        rows[k].labels.assign(ids[k].size(), text::ignore_index);
        rows[k].images = images[k];
        longest = std::max(longest, ids[k].size());
      }
      std::vector<std::size_t> all(rows.size());
      for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
      auto b = mllama::batch_source_of(rows, processor, cfg, 0).collate(all);
      const auto B = static_cast<std::int64_t>(rows.size()), T = static_cast<std::int64_t>(longest);
      at::Tensor input_ids = at::zeros({B, T}, at::kLong), mask = at::zeros({B, T}, at::kLong);
      std::vector<std::vector<std::int64_t>> tiles(rows.size());
      for (std::int64_t r = 0; r < B; ++r) {
        const auto& row = rows[static_cast<std::size_t>(r)];
        const auto n = static_cast<std::int64_t>(row.input_ids.size());
        input_ids[r].narrow(0, T - n, n).copy_(at::tensor(std::vector<std::int64_t>(row.input_ids.begin(), row.input_ids.end()), at::kLong));
        mask[r].narrow(0, T - n, n).fill_(1);
        for (std::size_t j = 0; j < row.images.size(); ++j)
          tiles[static_cast<std::size_t>(r)].push_back(b.aspect_ratio_mask[r][static_cast<std::int64_t>(j)].sum().item<std::int64_t>());
      }
      mllama::inputs in{.input_ids = input_ids};
      if (b.pixel_values.defined()) {
        in.pixel_values = b.pixel_values;
        in.aspect_ratio_ids = b.aspect_ratio_ids;
        in.aspect_ratio_mask = b.aspect_ratio_mask;
        in.cross_attention_mask = mllama::cross_attention_mask(input_ids, cfg.image_token_id, tiles, cfg.vision.max_num_tiles);
      }
      auto [embeds, steps] = mllama::generation_steps(model, in);
      return prompt_batch{embeds, B > 1 ? mask : at::Tensor(), steps};
    };
    m.batch_of = [cfg, processor](const data::sample& s, const text::chat_renderer& chat) {
      data::dataset one;
      one.samples.push_back(s);
      auto prepared = mllama::prepare_samples(one, chat, cfg, {.max_length = 1 << 30});
      if (prepared.samples.empty()) fail(prepared.problems.empty() ? "the sample was dropped" : prepared.problems[0]);
      return mllama::batch_source_of(prepared.samples, processor, cfg, 0).collate({0});
    };
    m.forward = [model](const training::lm_batch& b) mutable { return model->forward(mllama::inputs_of(b)); };
    return m;
  }
  if (type == "phi3_v") {
    auto cfg = phi3_v::phi3_v_config::from_hf(config);
    phi3_v::phi3_v_model model(cfg);
    phi3_v::load_weights(*model, checkpoint);
    auto processor = processors::phi3_v_image_config::load(dir);
    m.module = model.ptr();
    m.format = text::chat_format::phi3_v;
    auto steps = infer::steps_of(model->language_model, [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); });
    // each prompt embedded on its own (its -k ids expanded to the images' HD counts), then left-padded
    m.prepare = [model, processor, cfg, steps](const prompt_rows& ids, const image_rows& images) mutable {
      std::vector<at::Tensor> embeds;
      for (std::size_t k = 0; k < ids.size(); ++k) {
        std::vector<text::token_id> row = ids[k], labels(ids[k].size(), text::ignore_index);
        phi3_v::expand_images(row, labels, images[k], cfg, processor, "the prompt");
        phi3_v::inputs in{.input_ids = at::tensor(std::vector<std::int64_t>(row.begin(), row.end()), at::kLong).unsqueeze(0)};
        if (!images[k].empty()) {
          std::vector<at::Tensor> pixels;
          std::vector<std::int64_t> sizes;
          for (const auto& f : images[k]) {
            auto c = processors::phi3_v_preprocess(media::load_image(f), processor);
            pixels.push_back(c.pixels);
            sizes.insert(sizes.end(), {c.height, c.width});
          }
          in.pixel_values = at::cat(pixels, 0);
          in.image_sizes = at::tensor(sizes, at::kLong).view({-1, 2});
        }
        embeds.push_back(model->input_embeddings(in));
      }
      return left_pad(embeds, steps);
    };
    m.batch_of = [cfg, processor](const data::sample& s, const text::chat_renderer& chat) {
      data::dataset one;
      one.samples.push_back(s);
      auto prepared = phi3_v::prepare_samples(one, chat, cfg, processor, {.max_length = 1 << 30});
      if (prepared.samples.empty()) fail(prepared.problems.empty() ? "the sample was dropped" : prepared.problems[0]);
      return phi3_v::batch_source_of(prepared.samples, processor, 0).collate({0});
    };
    m.forward = [model](const training::lm_batch& b) mutable { return model->forward(phi3_v::inputs_of(b)); };
    return m;
  }
  if (type == "qwen" && config.has("visual")) {  // Qwen-VL-Chat (a Qwen text model has no "visual")
    auto cfg = qwen_vl::qwen_vl_config::from_hf(config);
    qwen_vl::qwen_vl_model model(cfg);
    qwen_vl::load_weights(*model, checkpoint);
    m.module = model.ptr();
    m.format = text::chat_format::qwen_vl;
    auto steps = infer::steps_of(model->language_model, [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); });
    // each prompt embedded on its own (its <img> spans filled with the images' features), then left-padded
    m.prepare = [model, cfg, steps](const prompt_rows& ids, const image_rows& images) mutable {
      std::vector<at::Tensor> embeds;
      for (std::size_t k = 0; k < ids.size(); ++k) {
        if (static_cast<std::int64_t>(ids[k].size()) > cfg.seq_length)
          fail("the prompt is ", ids[k].size(), " tokens, over Qwen-VL's seq_length ", cfg.seq_length,
               " (beyond it the remote code scales attention, which lmms does not implement)");
        qwen_vl::inputs in{.input_ids = at::tensor(std::vector<std::int64_t>(ids[k].begin(), ids[k].end()), at::kLong).unsqueeze(0)};
        std::vector<at::Tensor> pixels;
        for (const auto& f : images[k])
          pixels.push_back(processors::qwen_vl_preprocess(media::load_image(f), static_cast<int>(cfg.visual.image_size)));
        if (!pixels.empty()) in.pixel_values = at::stack(pixels);
        embeds.push_back(model->input_embeddings(in));
      }
      return left_pad(embeds, steps);
    };
    m.batch_of = [cfg](const data::sample& s, const text::chat_renderer& chat) {
      data::dataset one;
      one.samples.push_back(s);
      auto prepared = qwen_vl::prepare_samples(one, chat, cfg, {.max_length = 1 << 30});
      if (prepared.samples.empty()) fail(prepared.problems.empty() ? "the sample was dropped" : prepared.problems[0]);
      return qwen_vl::batch_source_of(prepared.samples, cfg, 0).collate({0});
    };
    m.forward = [model](const training::lm_batch& b) mutable { return model->forward(qwen_vl::inputs_of(b)); };
    return m;
  }
  auto cfg = lm::decoder_config::from_hf(config);  // refuses what it cannot run, by name
  lm::causal_lm lm(cfg);
  lm::load_weights(*lm, checkpoint);
  m.module = lm.ptr();
  m.prepare = [lm](const prompt_rows& ids, const image_rows& images) mutable {
    std::vector<at::Tensor> embeds;
    for (std::size_t k = 0; k < ids.size(); ++k) {
      if (!images[k].empty()) fail("this model (", lm->model->config.model_type, ") takes no images");
      embeds.push_back(lm->model->embed(at::tensor(std::vector<std::int64_t>(ids[k].begin(), ids[k].end()), at::kLong).unsqueeze(0)));
    }
    return left_pad(embeds, infer::steps_of(lm));
  };
  m.format = cfg.model_type == "qwen2" ? text::chat_format::qwen2_vl : text::chat_format::llava;
  m.batch_of = [](const data::sample& s, const text::chat_renderer& chat) {
    if (!s.images.empty() || !s.videos.empty()) fail("sample ", s.index, " has media but this model is text-only");
    auto r = chat.render({.system_prompt = s.system_prompt, .turns = s.turns});
    training::token_sample t{r.input_ids, r.labels};
    return training::collate_right_pad({&t}, 0);
  };
  m.forward = [lm](const training::lm_batch& b) mutable { return lm->forward(b.input_ids, b.attention_mask); };
  return m;
}

}  // namespace

int generate_command(const std::vector<std::string>& args) {
  std::multimap<std::string, std::string> flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) != 0) fail("generate: unexpected argument ", quote(args[i]));
    if (i + 1 >= args.size()) fail("generate: ", args[i], " needs a value");
    flags.emplace(args[i].substr(2), args[i + 1]);
    ++i;
  }
  auto one = [&](const std::string& k, const std::string& fallback = "") {
    auto it = flags.find(k);
    return it == flags.end() ? fallback : it->second;
  };
  for (const auto& [k, v] : flags)
    if (k != "model" && k != "adapter" && k != "image" && k != "prompt" && k != "system" && k != "data" &&
        k != "image-folder" && k != "max-new-tokens" && k != "temperature" && k != "top-k" && k != "top-p" &&
        k != "seed" && k != "stop" && k != "chat" && k != "batch-size")
      fail("generate: unknown option --", k, " (see lmms help)");
  if (one("model").empty()) fail("generate needs --model DIR");
  if (one("prompt").empty() == one("data").empty()) fail("generate needs --prompt TEXT or --data FILE (one of them)");

  const std::filesystem::path model_dir = one("model");
  loaded_model model = load_model(model_dir);
  if (!one("adapter").empty()) training::load_peft_adapter(*model.module, one("adapter"));
  model.module->eval();
  auto tok = text::tokenizer::load(model_dir);
  auto format = one("chat").empty() ? std::optional(model.format) : text::parse_chat_format(one("chat"));
  if (!format) fail("generate: unknown --chat format ", quote(one("chat")));
  text::chat_renderer chat(tok, *format);

  infer::generate_options o;
  o.max_new_tokens = std::stoi(one("max-new-tokens", "64"));
  o.temperature = std::stod(one("temperature", "0"));
  o.top_k = std::stoi(one("top-k", "0"));
  o.top_p = std::stod(one("top-p", "1"));
  o.seed = std::stoull(one("seed", "0"));
  for (auto [it, end] = flags.equal_range("stop"); it != end; ++it) o.stop_strings.push_back(it->second);
  // the llava template puts no EOS between turns: an answer ends where the next "USER" turn begins
  if (o.stop_strings.empty() && *format == text::chat_format::llava) o.stop_strings.push_back("USER");
  for (const char* eos : {"</s>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>"})
    if (auto id = tok.token_to_id(eos)) o.eos_ids.push_back(*id);

  std::vector<prompt_job> jobs;
  if (!one("prompt").empty()) {
    prompt_job j;
    for (auto [it, end] = flags.equal_range("image"); it != end; ++it) j.images.emplace_back(it->second);
    std::string prompt = one("prompt");
    int placeholders = 0;
    for (auto at = prompt.find("<image>"); at != std::string::npos; at = prompt.find("<image>", at + 7)) ++placeholders;
    for (std::size_t k = static_cast<std::size_t>(placeholders); k < j.images.size(); ++k) prompt = "<image>\n" + prompt;
    if (placeholders > static_cast<int>(j.images.size())) fail("generate: the prompt has more <image> than --image files");
    j.sample.turns = {prompt};
    if (!one("system").empty()) j.sample.system_prompt = one("system");
    jobs.push_back(std::move(j));
  } else {
    auto ds = data::load_dataset({.file = one("data"), .image_folder = one("image-folder")});
    for (const auto& s : ds.samples) {
      prompt_job j;
      j.index = s.index;
      j.sample.system_prompt = s.system_prompt;
      j.sample.turns = {s.turns[0]};
      j.reference = s.turns[1];
      int n = 0;  // the images of the first turn
      for (auto at = s.turns[0].find("<image>"); at != std::string::npos; at = s.turns[0].find("<image>", at + 7)) ++n;
      j.images.assign(s.images.begin(), s.images.begin() + n);
      jobs.push_back(std::move(j));
    }
  }
  for (auto& j : jobs)  // Qwen-VL's prompts name each image by its path ("Picture k: <img>path</img>")
    for (const auto& f : j.images) j.sample.image_paths.push_back(f.string());
  at::NoGradGuard no_grad;
  auto normalized = [](std::string t) {
    for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto b = t.find_first_not_of(" \t\n"), e = t.find_last_not_of(" \t\n");
    return b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
  };
  std::size_t correct = 0;
  // --batch-size N: N prompts at a time, left-padded (infer::generate_batch)
  const std::size_t batch = static_cast<std::size_t>(std::max(1, std::stoi(one("batch-size", "1"))));
  for (std::size_t first = 0; first < jobs.size(); first += batch) {
    const std::size_t last = std::min(jobs.size(), first + batch);
    prompt_rows ids;
    image_rows images;
    for (std::size_t k = first; k < last; ++k) {
      ids.push_back(chat.render_prompt(jobs[k].sample).input_ids);
      images.push_back(jobs[k].images);
    }
    prompt_batch p = model.prepare(ids, images);
    std::vector<infer::generation> answers;
    if (last - first == 1)
      answers.push_back(infer::generate(p.steps, p.embeds, tok, o));
    else
      answers = infer::generate_batch(p.steps, p.embeds, p.mask, tok, o);
    for (std::size_t k = first; k < last; ++k) {
      const auto& j = jobs[k];
      const auto& g = answers[k - first];
      if (one("data").empty()) {
        std::printf("%s\n", g.text.c_str());
      } else {
        nlohmann::json line = {{"index", j.index}, {"answer", g.text}, {"reference", j.reference}, {"finish", g.finish}};
        std::printf("%s\n", line.dump().c_str());
        if (normalized(g.text) == normalized(j.reference)) ++correct;
      }
    }
    std::fflush(stdout);
  }
  if (!one("data").empty())
    std::fprintf(stderr, "accuracy: %zu/%zu = %.3f (exact match with each sample's first answer)\n", correct, jobs.size(),
                 jobs.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(jobs.size()));
  return 0;
}

int score_command(const std::vector<std::string>& args) {
  std::map<std::string, std::string> flags;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    if (args[i].rfind("--", 0) != 0 || i + 1 >= args.size()) fail("score: arguments are --name value pairs (see lmms help)");
    const std::string k = args[i].substr(2);
    if (k != "model" && k != "adapter" && k != "data" && k != "image-folder" && k != "chat")
      fail("score: unknown option --", k, " (see lmms help)");
    flags[k] = args[i + 1];
  }
  if (!flags.count("model") || !flags.count("data")) fail("score needs --model DIR and --data FILE");
  const std::filesystem::path model_dir = flags["model"];
  loaded_model model = load_model(model_dir);
  if (flags.count("adapter")) training::load_peft_adapter(*model.module, flags["adapter"]);
  model.module->eval();
  auto tok = text::tokenizer::load(model_dir);
  auto format = flags.count("chat") ? text::parse_chat_format(flags["chat"]) : std::optional(model.format);
  if (!format) fail("score: unknown --chat format ", quote(flags["chat"]));
  text::chat_renderer chat(tok, *format);
  auto ds = data::load_dataset({.file = flags["data"], .image_folder = flags.count("image-folder") ? flags["image-folder"] : ""});
  at::NoGradGuard no_grad;
  double total = 0;
  std::int64_t tokens = 0;
  for (const auto& s : ds.samples) {
    training::lm_batch b;
    try {
      b = model.batch_of(s, chat);
    } catch (const lmms::error& e) {
      fail(flags["data"], " sample ", s.index, ": ", std::string(e.what()).substr(6));
    }
    at::Tensor logits = model.forward(b);
    const double sum = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), lm::shift_labels(b.labels).reshape({-1}),
                                              {}, at::Reduction::Sum, -100)
                           .item<double>();
    const std::int64_t n = (lm::shift_labels(b.labels) != -100).sum().item<std::int64_t>();
    total += sum;
    tokens += n;
    nlohmann::json line = {{"index", s.index}, {"loss", n ? sum / static_cast<double>(n) : 0.0}, {"label_tokens", n}};
    std::printf("%s\n", line.dump().c_str());
  }
  nlohmann::json summary = {{"mean_loss", tokens ? total / static_cast<double>(tokens) : 0.0},
                            {"samples", ds.samples.size()}, {"label_tokens", tokens}};
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}
