// lmms/text/chat.hpp: a LLaVA-style conversation -> input ids and labels, per model family,
// as lmms-finetune renders them (with its bugs fixed; see docs/dataset.md). No torch.
//
//   text::chat_renderer chat(tok, text::chat_format::qwen2_vl);
//   auto r = chat.render({.system_prompt = std::nullopt,
//                         .turns = {"<image>\nWhat is this?", "A cat.", "Its colour?", "Black."}});
//   // r.input_ids, r.labels (-100 where not supervised), r.images == 1
//
// Media placeholders (<image>, <video>) become one placeholder token each; expanding them to
// the per-family number of vision tokens happens in the data pipeline. Phi-3-Vision has no image
// token: its k-th image is the id -k (as Phi3VProcessor writes it), one per image here.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmms/text/tokenizer.hpp"

namespace lmms::text {

/// How a family turns a conversation into tokens.
enum class chat_format {
  llava,             // LLaVA-1.5, LLaVA-1.6 (vicuna), LLaVA-NeXT-Video: "USER: ... ASSISTANT: ..." + BOS/EOS
  llava_interleave,  // LLaVA-Interleave (Qwen2 LLM): chatml, images first in the turn
  llava_onevision,   // LLaVA-OneVision (Qwen2 LLM): chatml with "role " headers, images then videos
  qwen2_vl,          // Qwen2-VL, Qwen2.5-VL: chatml, media where the placeholders are
  qwen_vl,           // Qwen-VL-Chat: chatml, each <image> -> "Picture k: <img>path</img>\n"
  llama3_vision,     // Llama-3.2-Vision: Meta's Llama-3 headers, <|image|> where the placeholders are
  phi3_v,            // Phi-3-Vision: <|user|> / <|assistant|> / <|end|>, each user turn through Phi3VProcessor
};

/// "llava", "llava-interleave", "llava-onevision", "qwen2-vl", "qwen-vl", "llama-3.2-vision", "phi3-v" (and
/// family ids such as "llava-1.5", "llava-1.6", "llava-next-video", "qwen2.5-vl").
std::optional<chat_format> parse_chat_format(std::string_view name);
std::string_view chat_format_name(chat_format f);

/// One sample: an optional system prompt and alternating user / assistant turns, user first,
/// with <image> / <video> placeholders in user turns.
struct chat_sample {
  std::optional<std::string> system_prompt;
  std::vector<std::string> turns;
  /// Qwen-VL only: the image paths its prompts name, in placeholder order.
  std::vector<std::string> image_paths;
};

struct chat_options {
  /// Labels only on assistant answers (lmms-finetune's mask_question_tokens); when false,
  /// every token is a label.
  bool mask_question_tokens = true;
  /// BOS / EOS for the llava format (lmms-finetune loads these processors with add_eos_token).
  std::string bos = "<s>";
  std::string eos = "</s>";
  /// Qwen2-VL's system prompt when the sample has none (the official chat template's default).
  std::string default_system_prompt = "You are a helpful assistant.";
  /// Llama-3.2-Vision: the "Today Date" of the system block (Meta's template puts today's date
  /// there when it can; a fixed one keeps the tokens of a dataset the same every day).
  std::string date_string = "26 Jul 2024";
};

inline constexpr token_id ignore_index = -100;

struct chat_tokens {
  std::vector<token_id> input_ids;
  std::vector<token_id> labels;   // ignore_index where not supervised
  int images = 0;                 // placeholders found, in order
  int videos = 0;
  std::string text;               // the rendered text (for llava formats) or segments joined
};

class chat_renderer {
 public:
  chat_renderer(const tokenizer& tok, chat_format format, chat_options options = {});

  /// Throws lmms::error for malformed samples: no turns, an odd number of turns, a placeholder
  /// in an assistant turn, a placeholder token missing from the vocabulary.
  chat_tokens render(const chat_sample& sample) const;
  /// The prompt for generation: turns end with a user turn, followed by the assistant header
  /// (the templates' add_generation_prompt); BOS but no EOS for llava. Labels are all ignored.
  chat_tokens render_prompt(const chat_sample& sample) const;

  chat_format format() const { return format_; }
  const tokenizer& tokenizer_used() const { return tok_; }

 private:
  chat_tokens render_impl(const chat_sample& sample, bool prompt) const;
  chat_tokens render_phi3_v(const chat_sample& sample, bool prompt) const;
  tokenizer tok_;
  chat_format format_;
  chat_options options_;
};

}  // namespace lmms::text

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/text/chat_impl.hpp"
#endif
