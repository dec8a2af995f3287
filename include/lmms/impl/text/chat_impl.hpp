// Implementation of lmms/text/chat.hpp (LMMS_IMPLEMENTATION only).
//
// Template families (llava, llava-interleave, llava-onevision) render the text of their chat
// template with the {% generation %} spans, tokenize the whole text, and mark as supervised
// the tokens from char_to_token(span begin) to char_to_token(span end - 1), exactly as
// transformers' apply_chat_template(return_assistant_tokens_mask=True) does. Qwen2-VL is
// hand-built chatml, tokenized segment by segment as lmms-finetune's collator does.
#pragma once

#include "lmms/core/error.hpp"
#include "lmms/text/chat.hpp"
#include "lmms/text/utf8.hpp"

namespace lmms::text {

namespace detail {

inline bool python_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/// Python's str.strip() with no arguments.
inline std::string python_strip(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e) {
    std::size_t p = b;
    if (!python_isspace(utf8::next(s, p))) break;
    b = p;
  }
  while (e > b) {
    std::size_t p = e - 1;
    while (p > b && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
    std::size_t q = p;
    if (!python_isspace(utf8::next(s, q))) break;
    e = p;
  }
  return std::string(s.substr(b, e - b));
}

inline int count_of(std::string_view s, std::string_view what) {
  int n = 0;
  for (std::size_t at = s.find(what); at != std::string_view::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

inline std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

struct generation_span {
  std::size_t begin, end;  // bytes of the rendered text
};

/// transformers' assistant mask: for each span, tokens char_to_token(begin) ..
/// char_to_token(end - 1); a span whose start has no token stops the scan; an end with no
/// token (or token 0, a quirk of the Python code) runs to the last token.
inline std::vector<std::uint8_t> assistant_mask(const encoding& e, const std::vector<generation_span>& spans) {
  auto char_to_token = [&](std::size_t pos) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < e.offsets.size(); ++i)
      if (pos >= e.offsets[i].first && pos < e.offsets[i].second) return i;
    return std::nullopt;
  };
  std::vector<std::uint8_t> mask(e.ids.size(), 0);
  for (const auto& span : spans) {
    if (span.end <= span.begin) continue;
    auto start = char_to_token(span.begin);
    if (!start) break;
    auto end = char_to_token(span.end - 1);
    std::size_t stop = (end && *end != 0) ? *end + 1 : e.ids.size();
    for (std::size_t t = *start; t < stop; ++t) mask[t] = 1;
  }
  return mask;
}

}  // namespace detail

std::optional<chat_format> parse_chat_format(std::string_view name) {
  if (name == "llava" || name == "llava-1.5" || name == "llava-1.6" || name == "llava-next-video") return chat_format::llava;
  if (name == "llava-interleave") return chat_format::llava_interleave;
  if (name == "llava-onevision") return chat_format::llava_onevision;
  if (name == "qwen2-vl" || name == "qwen2.5-vl") return chat_format::qwen2_vl;
  if (name == "qwen-vl") return chat_format::qwen_vl;
  if (name == "llama-3.2-vision" || name == "llama3-vision") return chat_format::llama3_vision;
  if (name == "phi3-v" || name == "phi3_v" || name == "phi-3-vision") return chat_format::phi3_v;
  return std::nullopt;
}

std::string_view chat_format_name(chat_format f) {
  switch (f) {
    case chat_format::llava: return "llava";
    case chat_format::llava_interleave: return "llava-interleave";
    case chat_format::llava_onevision: return "llava-onevision";
    case chat_format::qwen2_vl: return "qwen2-vl";
    case chat_format::qwen_vl: return "qwen-vl";
    case chat_format::llama3_vision: return "llama-3.2-vision";
    case chat_format::phi3_v: return "phi3-v";
  }
  return "?";
}

chat_renderer::chat_renderer(const tokenizer& tok, chat_format format, chat_options options)
    : tok_(tok), format_(format), options_(std::move(options)) {
  if (format_ == chat_format::llava) tok_.set_special_tokens_template(options_.bos, options_.eos);
  auto require = [&](std::string_view t) {
    if (!tok_.token_to_id(t))
      fail("the ", chat_format_name(format_), " chat format needs the token ", quote(t), ", which ", tok_.source(),
           " lacks: is this the tokenizer of the right model?");
  };
  switch (format_) {
    case chat_format::llava: require("<image>"); break;
    case chat_format::llava_interleave: require("<image>"); require("<|im_start|>"); require("<|im_end|>"); break;
    case chat_format::llava_onevision: require("<image>"); require("<|im_start|>"); require("<|im_end|>"); break;
    case chat_format::qwen2_vl:
      for (auto t : {"<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"})
        require(t);
      break;
    case chat_format::qwen_vl:
      for (auto t : {"<|im_start|>", "<|im_end|>", "<img>", "</img>"}) require(t);
      break;
    case chat_format::llama3_vision:
      for (auto t : {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|image|>"}) require(t);
      break;
    case chat_format::phi3_v:
      for (auto t : {"<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"}) require(t);
      break;
  }
}

chat_tokens chat_renderer::render(const chat_sample& sample) const { return render_impl(sample, false); }

chat_tokens chat_renderer::render_prompt(const chat_sample& sample) const { return render_impl(sample, true); }

chat_tokens chat_renderer::render_impl(const chat_sample& sample, bool prompt) const {
  const auto& turns = sample.turns;
  if (turns.empty()) fail("the conversation has no turns");
  if (!prompt && turns.size() % 2 != 0)
    fail("the conversation has ", turns.size(), " turns; it needs user / assistant pairs, user first");
  if (prompt && turns.size() % 2 != 1)
    fail("a generation prompt ends with a user turn; this one has ", turns.size(), " turns");
  chat_tokens out;
  for (std::size_t i = 1; i < turns.size(); i += 2)
    if (turns[i].find("<image>") != std::string::npos || turns[i].find("<video>") != std::string::npos)
      fail("turn ", i + 1, " is an assistant turn with an <image> or <video> placeholder; placeholders belong in user turns");

  if (format_ == chat_format::qwen_vl) {
    // lmms-finetune's Qwen-VL collator (after Qwen's finetune.py): each piece tokenized on its
    // own; <|im_start|>, <|im_end|> and the newline after it are labels in every turn, and the
    // answer text in assistant turns.
    const token_id im_start = *tok_.token_to_id("<|im_start|>"), im_end = *tok_.token_to_id("<|im_end|>");
    const auto nl = tok_.encode_ids("\n", false);
    auto ids_of = [&](const std::string& s) { return tok_.encode_ids(s, false); };
    auto append = [&](const std::vector<token_id>& ids, const std::vector<token_id>& labels) {
      out.input_ids.insert(out.input_ids.end(), ids.begin(), ids.end());
      for (std::size_t k = 0; k < ids.size(); ++k)
        out.labels.push_back(options_.mask_question_tokens ? labels[k] : ids[k]);
    };
    auto framed = [&](std::size_t len) {  // [im_start] + ignore... + [im_end] + nl
      std::vector<token_id> l(len, ignore_index);
      l[0] = im_start;
      l[len - 1 - nl.size()] = im_end;
      for (std::size_t k = 0; k < nl.size(); ++k) l[len - nl.size() + k] = nl[k];
      return l;
    };
    if (sample.system_prompt) {
      std::vector<token_id> ids{im_start};
      for (auto v : {ids_of("system"), nl, ids_of(*sample.system_prompt)}) ids.insert(ids.end(), v.begin(), v.end());
      ids.push_back(im_end);
      ids.insert(ids.end(), nl.begin(), nl.end());
      out.text += "<|im_start|>system\n" + *sample.system_prompt + "<|im_end|>\n";
      append(ids, framed(ids.size()));
    }
    std::size_t image = 0;
    for (std::size_t i = 0; i < turns.size(); ++i) {
      std::string text = turns[i];
      for (std::size_t at = text.find("<image>"); at != std::string::npos; at = text.find("<image>", at)) {
        if (image >= sample.image_paths.size())
          fail("turn ", i + 1, " has more <image> placeholders than the sample has images (", sample.image_paths.size(), ")");
        std::string picture = "Picture " + std::to_string(image + 1) + ": <img>" + sample.image_paths[image] + "</img>\n";
        text.replace(at, 7, picture);
        at += picture.size();
        ++image;
      }
      const bool user = i % 2 == 0;
      auto role = ids_of(user ? "<|im_start|>user" : "<|im_start|>assistant");
      std::vector<token_id> ids = role;
      ids.insert(ids.end(), nl.begin(), nl.end());
      auto body = ids_of(text);
      ids.insert(ids.end(), body.begin(), body.end());
      ids.push_back(im_end);
      ids.insert(ids.end(), nl.begin(), nl.end());
      auto labels = framed(ids.size());
      if (!user)  // the answer: ids[role + 1, len - 2), as lmms-finetune slices it
        for (std::size_t k = role.size() + 1; k + 2 < ids.size(); ++k) labels[k] = ids[k];
      out.text += std::string(user ? "<|im_start|>user\n" : "<|im_start|>assistant\n") + text + "<|im_end|>\n";
      append(ids, labels);
    }
    if (prompt) {
      std::vector<token_id> ids = ids_of("<|im_start|>assistant");
      ids.insert(ids.end(), nl.begin(), nl.end());
      out.text += "<|im_start|>assistant\n";
      append(ids, std::vector<token_id>(ids.size(), ignore_index));
    }
    out.images = static_cast<int>(image);
    if (image != sample.image_paths.size())
      fail("the sample has ", sample.image_paths.size(), " images but ", image, " <image> placeholders");
    return out;
  }

  if (format_ == chat_format::qwen2_vl) {
    // Segments: system, then per pair user (prompt) and assistant (supervised, header included,
    // as lmms-finetune supervises it). Media stay where their placeholders are.
    auto add = [&](const std::string& text, bool supervised) {
      auto ids = tok_.encode_ids(text, false);
      out.text += text;
      for (auto id : ids) {
        out.input_ids.push_back(id);
        out.labels.push_back(supervised || !options_.mask_question_tokens ? id : ignore_index);
      }
    };
    add("<|im_start|>system\n" + sample.system_prompt.value_or(options_.default_system_prompt) + "<|im_end|>\n", false);
    for (std::size_t i = 0; i < turns.size(); i += 2) {
      out.images += detail::count_of(turns[i], "<image>");
      out.videos += detail::count_of(turns[i], "<video>");
      std::string user = turns[i];
      user = detail::replace_all(user, "<image>\n", "<image>");
      user = detail::replace_all(user, "<video>\n", "<video>");
      user = detail::replace_all(user, "<image>", "<|vision_start|><|image_pad|><|vision_end|>");
      user = detail::replace_all(user, "<video>", "<|vision_start|><|video_pad|><|vision_end|>");
      add("<|im_start|>user\n" + user + "<|im_end|>\n", false);
      if (i + 1 < turns.size()) add("<|im_start|>assistant\n" + turns[i + 1] + "<|im_end|>\n", true);
    }
    if (prompt) add("<|im_start|>assistant\n", false);
    return out;
  }

  if (format_ == chat_format::phi3_v) return render_phi3_v(sample, prompt);

  // Template families: render text + generation spans, as the HF / lmms-finetune templates do.
  std::string text;
  std::vector<detail::generation_span> spans;
  if (format_ == chat_format::llama3_vision) {
    // Meta's Llama-3.2-Vision template: BOS; a system block (knowledge and today's date, then the
    // system prompt) only when the conversation has no image, which the template refuses to
    // combine with a system prompt; each message between headers and <|eot_id|>. Unlike
    // lmms-finetune (images after the text, only the last token supervised), <|image|> stays
    // where its placeholder is and every answer with its <|eot_id|> is supervised.
    int images = 0;
    for (std::size_t i = 0; i < turns.size(); i += 2) {
      images += detail::count_of(turns[i], "<image>");
      if (turns[i].find("<video>") != std::string::npos)
        fail("turn ", i + 1, " has a <video> placeholder; Llama-3.2-Vision takes images only");
    }
    text = "<|begin_of_text|>";
    if (images == 0) {
      text += "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: " +
              options_.date_string + "\n\n" + (sample.system_prompt ? detail::python_strip(*sample.system_prompt) : "") +
              "<|eot_id|>";
    } else if (sample.system_prompt && !detail::python_strip(*sample.system_prompt).empty()) {
      fail("Llama-3.2-Vision's chat template refuses a system prompt in a conversation with images; drop "
           "system_prompt from this sample or put its text in the first user turn");
    }
    for (std::size_t i = 0; i < turns.size(); ++i) {
      if (i % 2 == 0) {
        std::string t = detail::replace_all(detail::replace_all(turns[i], "<image>\n", "<image>"), "<image>", "<|image|>");
        text += "<|start_header_id|>user<|end_header_id|>\n\n" + detail::python_strip(t) + "<|eot_id|>";
      } else {
        text += "<|start_header_id|>assistant<|end_header_id|>\n\n";
        const std::size_t b = text.size();
        text += turns[i] + "<|eot_id|>";
        spans.push_back({b, text.size()});
      }
    }
    out.images = images;
    if (prompt) text += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    encoding e = tok_.encode(text, false);
    auto mask = detail::assistant_mask(e, spans);
    out.text = std::move(text);
    out.input_ids = e.ids;
    out.labels.resize(e.ids.size());
    for (std::size_t i = 0; i < e.ids.size(); ++i)
      out.labels[i] = (mask[i] || !options_.mask_question_tokens) ? e.ids[i] : ignore_index;
    return out;
  }
  struct message { const char* role; std::string text; int images, videos; };
  std::vector<message> messages;
  if (sample.system_prompt) messages.push_back({"system", *sample.system_prompt, 0, 0});
  for (std::size_t i = 0; i < turns.size(); ++i) {
    if (i % 2 == 0) {
      int n_images = detail::count_of(turns[i], "<image>"), n_videos = detail::count_of(turns[i], "<video>");
      out.images += n_images;
      out.videos += n_videos;
      std::string t = detail::replace_all(detail::replace_all(turns[i], "<image>", ""), "<video>", "");
      messages.push_back({"user", detail::python_strip(t), n_images, n_videos});
    } else {
      messages.push_back({"assistant", turns[i], 0, 0});
    }
  }
  for (const auto& m : messages) {
    const std::string role = m.role;
    const bool assistant = role == "assistant";
    switch (format_) {
      case chat_format::llava: {
        if (role != "system") {
          std::string upper = role;
          for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          text += upper + ": ";
        }
        for (int k = 0; k < m.images; ++k) text += "<image>\n";
        for (int k = 0; k < m.videos; ++k) text += "<video>\n";
        std::size_t b = text.size();
        text += m.text + " ";
        if (assistant) spans.push_back({b, text.size()});
        break;
      }
      case chat_format::llava_interleave: {
        text += "<|im_start|>" + role + "\n";
        for (int k = 0; k < m.images; ++k) text += "<image>";
        for (int k = 0; k < m.videos; ++k) text += "<video>";
        std::size_t b = text.size();
        text += "\n" + m.text;
        if (assistant) {
          text += "<|im_end|>\n";
          spans.push_back({b, text.size()});
        } else {
          text += "<|im_end|>\n";
        }
        break;
      }
      case chat_format::llava_onevision: {
        text += "<|im_start|>" + role + " ";
        for (int k = 0; k < m.images; ++k) text += "<image>";
        for (int k = 0; k < m.videos; ++k) text += "<video>";
        std::size_t b = text.size();
        text += "\n" + m.text + "<|im_end|>";
        if (assistant) spans.push_back({b, text.size()});
        break;
      }
      case chat_format::qwen2_vl:
      case chat_format::qwen_vl:
      case chat_format::llama3_vision:
      case chat_format::phi3_v: break;
    }
  }
  if (prompt) text += format_ == chat_format::llava ? "ASSISTANT:" : "<|im_start|>assistant\n";
  const bool special = format_ == chat_format::llava && !prompt;  // BOS + EOS (add_eos_token)
  encoding e = tok_.encode(text, special);
  if (format_ == chat_format::llava && prompt) {  // BOS only: the answer comes next
    e.ids.insert(e.ids.begin(), *tok_.token_to_id(options_.bos));
    e.offsets.insert(e.offsets.begin(), std::pair<std::size_t, std::size_t>{0, 0});
    e.special_tokens_mask.insert(e.special_tokens_mask.begin(), 1);
  }
  auto mask = detail::assistant_mask(e, spans);
  if (format_ == chat_format::llava && !prompt && !mask.empty()) mask.back() = 1;  // the final EOS is a label
  out.text = std::move(text);
  out.input_ids = e.ids;
  out.labels.resize(e.ids.size());
  for (std::size_t i = 0; i < e.ids.size(); ++i)
    out.labels[i] = (mask[i] || !options_.mask_question_tokens) ? e.ids[i] : ignore_index;
  return out;
}

chat_tokens chat_renderer::render_phi3_v(const chat_sample& sample, bool prompt) const {
  // lmms-finetune's Phi-3-V collator: each user turn is the chat template's text with
  // add_generation_prompt ("<|user|>\n...<|end|>\n<|assistant|>\n", the system block before the
  // first), put through Phi3VProcessor: split at the <|image_k|> tags, every chunk tokenized with
  // the tokenizer's special tokens (so a BOS starts each chunk), the tag itself the id -k. Each
  // answer is "{text}<|end|>\n<|endoftext|>" without special tokens, all supervised. Unlike
  // lmms-finetune: images are numbered across the whole sample and stay where their <image> is
  // (it moved them to the front and left the "\n" behind), several per sample and in any turn.
  const auto& turns = sample.turns;
  chat_tokens out;
  auto append = [&](const std::vector<token_id>& ids, bool supervised) {
    out.input_ids.insert(out.input_ids.end(), ids.begin(), ids.end());
    for (auto id : ids) out.labels.push_back(supervised || !options_.mask_question_tokens ? id : ignore_index);
  };
  int image = 0;
  for (std::size_t i = 0; i < turns.size(); ++i) {
    if (i % 2 == 1) {
      const std::string answer = turns[i] + "<|end|>\n<|endoftext|>";
      out.text += answer;
      append(tok_.encode_ids(answer, false), true);
      continue;
    }
    if (turns[i].find("<video>") != std::string::npos)
      fail("turn ", i + 1, " has a <video> placeholder; Phi-3-Vision takes images only");
    if (turns[i].find("<|image_") != std::string::npos)
      fail("turn ", i + 1, " contains the text \"<|image_\", which Phi-3-Vision's processor reads as an image tag; ",
           "mark images with <image>");
    std::string text = (i == 0 && sample.system_prompt) ? "<|system|>\n" + *sample.system_prompt + "<|end|>\n" : "";
    text += "<|user|>\n";
    const std::size_t body = text.size();
    text += turns[i] + "<|end|>\n<|assistant|>\n";
    // cut at each <image>: chunks tokenized with BOS, an image id between them
    std::size_t from = 0;
    for (std::size_t at = text.find("<image>", body); at != std::string::npos; at = text.find("<image>", from)) {
      const std::string chunk = text.substr(from, at - from);
      append(tok_.encode_ids(chunk, true), false);
      ++image;
      out.text += chunk + "<|image_" + std::to_string(image) + "|>";
      out.input_ids.push_back(-image);
      out.labels.push_back(ignore_index);
      from = at + 7;
    }
    const std::string rest = text.substr(from);
    out.text += rest;
    append(tok_.encode_ids(rest, true), false);
  }
  out.images = image;
  (void)prompt;  // a prompt ends with its user turn, whose text already ends with <|assistant|>\n
  return out;
}

}  // namespace lmms::text
