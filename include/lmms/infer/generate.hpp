// lmms/infer/generate.hpp: text generation with a KV cache for any decoder-based model
// (decoder LLMs, LLaVA): greedy or sampled (temperature, top-k, top-p), stopping at EOS,
// at a stop string or after max_new_tokens. One sequence at a time.
//
//   infer::decoder_steps steps = infer::steps_of(llava_model);          // or of a causal_lm
//   auto out = infer::generate(steps, prompt_embeds, tok, {.max_new_tokens = 32});
//   // out.text, out.ids, out.finish ("eos", "stop", "length")
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lmms/models/llm/decoder.hpp"
#include "lmms/text/tokenizer.hpp"
#include "lmms/torch.hpp"

namespace lmms::infer {

struct generate_options {
  int max_new_tokens = 64;
  double temperature = 0.0;  // 0: greedy (argmax)
  int top_k = 0;             // 0: no top-k filter
  double top_p = 1.0;        // 1: no nucleus filter
  std::vector<text::token_id> eos_ids;    // generation stops after emitting one of these
  std::vector<std::string> stop_strings;  // ... or when the decoded text contains one (cut there)
  std::uint64_t seed = 0;                 // for sampling
};

struct generation {
  std::vector<text::token_id> ids;  // the new tokens (EOS included when emitted)
  std::string text;                 // decoded without special tokens, cut at a stop string
  std::string finish;               // "eos", "stop" or "length"
};

/// What generation needs from a model: embed token ids (B, T) -> (B, T, H), and the float
/// logits (B, V) of the last position for new embeddings, appending them to the cache.
/// attention_mask (B, past + T) and positions (B, T) are given for padded batches; undefined
/// means one unpadded sequence (positions continue from the cache length).
struct decoder_steps {
  std::function<at::Tensor(const at::Tensor& ids)> embed;
  std::function<at::Tensor(const at::Tensor& embeds, lm::kv_cache& cache, const at::Tensor& attention_mask,
                           const at::Tensor& positions)>
      last_logits;
};

/// For a decoder LLM (positions continue from the cache length).
decoder_steps steps_of(lm::causal_lm model);
/// For the language part of any model: its decoder and a head (lm_head, or the tied embeddings).
decoder_steps steps_of(lm::decoder_model decoder, std::function<at::Tensor(const at::Tensor& hidden)> head);

/// Generates from prompt embeddings (1, T, H) (for LLaVA: text with image features in place).
generation generate(const decoder_steps& model, const at::Tensor& prompt_embeds, const text::tokenizer& tok,
                    const generate_options& options);

/// Generates for a left-padded batch: prompt embeddings (B, T, H) and their attention mask
/// (B, T), 0 on the padding at the left. Each row stops on its own (EOS / stop string); the
/// batch ends when every row has, or after max_new_tokens. Same tokens as one row at a time,
/// up to float rounding in the padded attention.
std::vector<generation> generate_batch(const decoder_steps& model, const at::Tensor& prompt_embeds,
                                       const at::Tensor& attention_mask, const text::tokenizer& tok,
                                       const generate_options& options);

/// Picks the next token from logits (V): argmax at temperature 0, else samples after
/// temperature, top-k and top-p filtering (as transformers' warpers, in that order).
text::token_id next_token(const at::Tensor& logits, const generate_options& options, at::Generator& rng);

}  // namespace lmms::infer

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/infer/generate_impl.hpp"
#endif
