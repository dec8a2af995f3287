// Implementation of lmms/infer/generate.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include <algorithm>

#include <ATen/CPUGeneratorImpl.h>

#include "lmms/core/error.hpp"
#include "lmms/infer/generate.hpp"

namespace lmms::infer {

decoder_steps steps_of(lm::decoder_model decoder, std::function<at::Tensor(const at::Tensor& hidden)> head) {
  decoder_steps s;
  s.embed = [decoder](const at::Tensor& ids) mutable { return decoder->embed(ids); };
  s.last_logits = [decoder, head](const at::Tensor& embeds, lm::kv_cache& cache, const at::Tensor& mask,
                                  const at::Tensor& positions) mutable {
    const std::int64_t past = cache.length();
    at::Tensor pos = positions.defined() ? positions
                                         : at::arange(past, past + embeds.size(1), at::kLong).unsqueeze(0).expand({embeds.size(0), -1});
    at::Tensor hidden = decoder->forward_embeds(embeds, pos, mask, &cache);
    return head(hidden.select(1, hidden.size(1) - 1)).to(at::kFloat);
  };
  return s;
}

decoder_steps steps_of(lm::causal_lm model) {
  return steps_of(model->model, [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); });
}

text::token_id next_token(const at::Tensor& logits_in, const generate_options& o, at::Generator& rng) {
  if (o.temperature <= 0) return static_cast<text::token_id>(logits_in.argmax().item<std::int64_t>());
  at::Tensor logits = logits_in.to(at::kFloat) / o.temperature;
  const double inf = std::numeric_limits<double>::infinity();
  if (o.top_k > 0 && o.top_k < logits.size(0)) {  // keep the k largest
    at::Tensor kth = std::get<0>(logits.topk(o.top_k)).select(0, o.top_k - 1);
    logits = logits.masked_fill(logits < kth, -inf);
  }
  if (o.top_p < 1.0) {  // keep the smallest set whose probability reaches top_p (the top token always)
    auto [sorted, order] = logits.sort(/*dim=*/0, /*descending=*/false);
    at::Tensor cumulative = sorted.softmax(0).cumsum(0);
    at::Tensor drop_sorted = cumulative <= (1.0 - o.top_p);
    drop_sorted.index_put_({-1}, false);
    at::Tensor drop = at::zeros_like(drop_sorted).scatter(0, order, drop_sorted);
    logits = logits.masked_fill(drop, -inf);
  }
  at::Tensor probs = logits.softmax(0);
  return static_cast<text::token_id>(at::multinomial(probs, 1, false, rng).item<std::int64_t>());
}

generation generate(const decoder_steps& model, const at::Tensor& prompt_embeds, const text::tokenizer& tok,
                    const generate_options& o) {
  if (prompt_embeds.dim() != 3 || prompt_embeds.size(0) != 1)
    fail("generate takes the embeddings of one prompt (1, T, hidden), got ", prompt_embeds.sizes());
  at::NoGradGuard no_grad;
  at::Generator rng = at::detail::createCPUGenerator(o.seed);
  lm::kv_cache cache;
  generation out;
  out.finish = "length";
  at::Tensor logits = model.last_logits(prompt_embeds, cache, {}, {}).squeeze(0);
  for (int i = 0; i < o.max_new_tokens; ++i) {
    const text::token_id id = next_token(logits, o, rng);
    out.ids.push_back(id);
    if (std::find(o.eos_ids.begin(), o.eos_ids.end(), id) != o.eos_ids.end()) {
      out.finish = "eos";
      break;
    }
    if (!o.stop_strings.empty()) {
      const std::string text = tok.decode(out.ids, true);
      bool stopped = false;
      for (const auto& s : o.stop_strings)
        if (!s.empty() && text.find(s) != std::string::npos) stopped = true;
      if (stopped) {
        out.finish = "stop";
        break;
      }
    }
    if (i + 1 == o.max_new_tokens) break;
    logits = model.last_logits(model.embed(at::tensor({static_cast<std::int64_t>(id)}, at::kLong).unsqueeze(0)), cache, {}, {})
                 .squeeze(0);
  }
  out.text = tok.decode(out.ids, true);
  if (out.finish == "stop") {
    std::size_t cut = out.text.size();
    for (const auto& s : o.stop_strings)
      if (auto at = out.text.find(s); !s.empty() && at != std::string::npos) cut = std::min(cut, at);
    out.text.resize(cut);
  }
  return out;
}

std::vector<generation> generate_batch(const decoder_steps& model, const at::Tensor& prompt_embeds,
                                       const at::Tensor& attention_mask, const text::tokenizer& tok,
                                       const generate_options& o) {
  if (prompt_embeds.dim() != 3 || attention_mask.dim() != 2 || attention_mask.size(0) != prompt_embeds.size(0) ||
      attention_mask.size(1) != prompt_embeds.size(1))
    fail("generate_batch takes embeddings (B, T, hidden) and a mask (B, T), got ", prompt_embeds.sizes(), " and ",
         attention_mask.sizes());
  at::NoGradGuard no_grad;
  at::Generator rng = at::detail::createCPUGenerator(o.seed);
  const std::int64_t B = prompt_embeds.size(0);
  lm::kv_cache cache;
  at::Tensor mask = attention_mask.to(at::kLong);
  // positions count real tokens only, as transformers derives them from the mask for left padding
  at::Tensor positions = (mask.cumsum(1) - 1).clamp_min(0);
  at::Tensor logits = model.last_logits(prompt_embeds, cache, mask, positions);
  std::vector<generation> out(static_cast<std::size_t>(B));
  std::vector<bool> done(static_cast<std::size_t>(B), false);
  at::Tensor next_pos = positions.select(1, positions.size(1) - 1).unsqueeze(1) + 1;
  for (int i = 0; i < o.max_new_tokens; ++i) {
    std::vector<std::int64_t> step_ids(static_cast<std::size_t>(B));
    for (std::int64_t b = 0; b < B; ++b) {
      auto& g = out[static_cast<std::size_t>(b)];
      const text::token_id id = next_token(logits[b], o, rng);
      step_ids[static_cast<std::size_t>(b)] = id;
      if (done[static_cast<std::size_t>(b)]) continue;
      g.ids.push_back(id);
      if (std::find(o.eos_ids.begin(), o.eos_ids.end(), id) != o.eos_ids.end()) {
        g.finish = "eos";
        done[static_cast<std::size_t>(b)] = true;
      } else if (!o.stop_strings.empty()) {
        const std::string text = tok.decode(g.ids, true);
        for (const auto& s : o.stop_strings)
          if (!s.empty() && text.find(s) != std::string::npos) g.finish = "stop", done[static_cast<std::size_t>(b)] = true;
      }
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; }) || i + 1 == o.max_new_tokens) break;
    mask = at::cat({mask, at::ones({B, 1}, at::kLong)}, 1);
    logits = model.last_logits(model.embed(at::tensor(step_ids, at::kLong).unsqueeze(1)), cache, mask, next_pos);
    next_pos = next_pos + 1;
  }
  for (auto& g : out) {
    if (g.finish.empty()) g.finish = "length";
    g.text = tok.decode(g.ids, true);
    if (g.finish == "stop") {
      std::size_t cut = g.text.size();
      for (const auto& s : o.stop_strings)
        if (auto at = g.text.find(s); !s.empty() && at != std::string::npos) cut = std::min(cut, at);
      g.text.resize(cut);
    }
  }
  return out;
}

}  // namespace lmms::infer
