// Implementation of lmms/text/tokenizer.hpp (LMMS_IMPLEMENTATION only): loading
// tokenizer.json, added tokens, the encode pipeline, post-processors and decoders.
//
// The pipeline is that of `tokenizers`' encode_single_sequence:
//   1. split the raw text on added tokens that are not normalized (special tokens);
//   2. normalize each remaining piece, then split it on normalized added tokens;
//   3. pre-tokenize each piece (empty pieces vanish at every step);
//   4. run the model (BPE) on each piece; added tokens map to their ids;
//   5. the post-processor adds BOS / EOS when add_special_tokens.
#pragma once

#include <fstream>
#include <unicode/uchar.h>
#include <sstream>

#include "lmms/impl/text/bpe.hpp"
#include "lmms/impl/text/components.hpp"
#include "lmms/impl/text/tiktoken.hpp"

namespace lmms::text::detail {

// ---- post-processor ----------------------------------------------------------------------
struct template_piece {
  bool is_sequence = false;  // $A
  token_id id = 0;           // a special token otherwise
};

struct post_processor {
  bool present = false;
  bool has_template = false;
  std::vector<template_piece> single;
  bool trim_offsets = false;  // ByteLevel
  bool add_prefix_space = false;

  void load(const json& j, const std::string& where) {
    present = true;
    std::string t = type_of(j, where);
    if (t == "Sequence") {
      for (const auto& c : j.at("processors")) load(c, where);
    } else if (t == "ByteLevel") {
      trim_offsets = j.value("trim_offsets", false);
      add_prefix_space = j.value("add_prefix_space", false);
    } else if (t == "TemplateProcessing") {
      has_template = true;
      single.clear();
      const json& specials = j.at("special_tokens");
      for (const auto& item : j.at("single")) {
        if (item.contains("Sequence")) {
          single.push_back({true, 0});
        } else {
          std::string name = item.at("SpecialToken").at("id").get<std::string>();
          if (!specials.contains(name)) fail(where, ": post_processor names special token ", quote(name), " without ids");
          for (const auto& id : specials[name].at("ids")) single.push_back({false, id.get<token_id>()});
        }
      }
    } else {
      unsupported(where, "the post-processor " + t);
    }
  }
};

// ---- decoders ----------------------------------------------------------------------------
struct decoder {
  enum kind { byte_level, metaspace, replace, byte_fallback, fuse, strip, sequence } k = sequence;
  std::string a, b;
  std::size_t strip_start = 0, strip_stop = 0;
  bool prepend_first = true;  // metaspace: strip the space the pre-tokenizer prepended
  std::vector<decoder> children;

  static decoder from_json(const json& j, const std::string& where) {
    decoder d;
    std::string t = type_of(j, where);
    if (t == "ByteLevel") d.k = byte_level;
    else if (t == "Metaspace") {
      d.k = metaspace;
      d.a = j.value("replacement", std::string("\xE2\x96\x81"));
      std::string scheme = j.value("prepend_scheme", std::string(j.value("add_prefix_space", true) ? "always" : "never"));
      d.prepend_first = scheme != "never";
    } else if (t == "Replace") {
      d.k = replace;
      if (!j.at("pattern").contains("String")) unsupported(where, "a Replace decoder with a regex pattern");
      d.a = j["pattern"]["String"].get<std::string>();
      d.b = j.at("content").get<std::string>();
    } else if (t == "ByteFallback") d.k = byte_fallback;
    else if (t == "Fuse") d.k = fuse;
    else if (t == "Strip") {
      d.k = strip;
      d.a = j.at("content").get<std::string>();
      d.strip_start = j.value("start", 0);
      d.strip_stop = j.value("stop", 0);
    } else if (t == "Sequence") {
      for (const auto& c : j.at("decoders")) d.children.push_back(from_json(c, where));
    } else {
      unsupported(where, "the decoder " + t);
    }
    return d;
  }

  void apply(std::vector<std::string>& tokens) const {
    switch (k) {
      case sequence: for (const auto& c : children) c.apply(tokens); break;
      case byte_level: {
        const auto& alphabet = utf8::byte_level();
        std::string bytes;
        for (const auto& t : tokens) {
          std::string mapped;
          bool ok = true;
          std::size_t i = 0;
          while (i < t.size()) {
            int byte = alphabet.byte_of(utf8::next(t, i));
            if (byte < 0) { ok = false; break; }
            mapped.push_back(static_cast<char>(byte));
          }
          bytes += ok ? mapped : t;
        }
        tokens = {lossy_utf8(bytes)};
        break;
      }
      case metaspace:
        for (std::size_t i = 0; i < tokens.size(); ++i) {
          std::string out;
          const std::string& t = tokens[i];
          for (std::size_t p = 0; p < t.size();) {
            if (t.compare(p, a.size(), a) == 0) { out.push_back(' '); p += a.size(); }
            else out.push_back(t[p++]);
          }
          if (i == 0 && prepend_first && !out.empty() && out[0] == ' ') out.erase(0, 1);
          tokens[i] = std::move(out);
        }
        break;
      case replace:
        for (auto& t : tokens) {
          std::string out;
          for (std::size_t p = 0; p < t.size();) {
            if (!a.empty() && t.compare(p, a.size(), a) == 0) { out += b; p += a.size(); }
            else out.push_back(t[p++]);
          }
          t = std::move(out);
        }
        break;
      case byte_fallback: {
        std::vector<std::string> out;
        std::string pending;
        std::size_t pending_count = 0;
        auto flush = [&] {
          if (!pending_count) return;
          if (utf8::first_invalid(pending) == std::string_view::npos) out.push_back(pending);
          else for (std::size_t i = 0; i < pending_count; ++i) out.push_back("\xEF\xBF\xBD");
          pending.clear();
          pending_count = 0;
        };
        for (const auto& t : tokens) {
          unsigned v = 0;
          if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
              std::isxdigit(static_cast<unsigned char>(t[4])) && std::sscanf(t.c_str() + 3, "%2x", &v) == 1) {
            pending.push_back(static_cast<char>(v));
            ++pending_count;
          } else {
            flush();
            out.push_back(t);
          }
        }
        flush();
        tokens = std::move(out);
        break;
      }
      case fuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens = {all};
        break;
      }
      case strip:
        for (auto& t : tokens) {
          std::size_t left = 0, right = 0;
          // content is one character; count characters, not bytes
          while (left < strip_start && t.compare(left * a.size(), a.size(), a) == 0) ++left;
          std::string rest = t.substr(left * a.size());
          while (right < strip_stop && rest.size() >= a.size() * (right + 1) &&
                 rest.compare(rest.size() - a.size() * (right + 1), a.size(), a) == 0)
            ++right;
          t = rest.substr(0, rest.size() - right * a.size());
        }
        break;
    }
  }

  /// String::from_utf8_lossy: each maximal invalid sequence becomes U+FFFD.
  static std::string lossy_utf8(std::string_view s) {
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
      std::size_t bad = utf8::first_invalid(s.substr(i));
      if (bad == std::string_view::npos) { out.append(s.substr(i)); break; }
      out.append(s.substr(i, bad));
      i += bad;
      // skip the maximal prefix of a valid sequence (as Rust's Utf8Error::error_len)
      auto b0 = static_cast<unsigned char>(s[i]);
      std::size_t n = utf8::sequence_length(b0), k = 1;
      if (n > 1) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (b0 == 0xE0) lo = 0xA0; else if (b0 == 0xED) hi = 0x9F; else if (b0 == 0xF0) lo = 0x90; else if (b0 == 0xF4) hi = 0x8F;
        if (b0 < 0xC2 || b0 > 0xF4) n = 1;
        while (k < n && i + k < s.size()) {
          auto c = static_cast<unsigned char>(s[i + k]);
          if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) break;
          ++k;
        }
      }
      out.append("\xEF\xBF\xBD");
      i += k;
    }
    return out;
  }
};

// ---- the tokenizer -------------------------------------------------------------------------
struct tokenizer_impl {
  std::string source;
  std::shared_ptr<bpe_model> model = std::make_shared<bpe_model>();  // shared by copies
  std::shared_ptr<tiktoken_model> tiktoken;  // set for tiktoken vocabularies instead of `model`
  bool qwen_vl_images = false;
  std::optional<normalizer> norm;
  std::optional<pre_tokenizer> pre;
  post_processor post;
  std::optional<decoder> dec;
  std::vector<added_token> added;
  std::unordered_map<token_id, std::size_t> added_by_id;
  vocab_map added_by_content;
  // Added tokens by first byte, longest first, for leftmost-longest matching.
  std::array<std::vector<std::size_t>, 256> raw_index, normalized_index;

  void index_added_tokens() {
    for (auto& v : raw_index) v.clear();
    for (auto& v : normalized_index) v.clear();
    for (std::size_t i = 0; i < added.size(); ++i) {
      const auto& t = added[i];
      if (t.content.empty()) continue;
      auto& index = t.normalized ? normalized_index : raw_index;
      index[static_cast<unsigned char>(t.content[0])].push_back(i);
    }
    for (auto* index : {&raw_index, &normalized_index})
      for (auto& v : *index)
        std::stable_sort(v.begin(), v.end(), [&](std::size_t x, std::size_t y) {
          return added[x].content.size() > added[y].content.size();
        });
  }

  static std::size_t start_of_char_before(const std::string& t, std::size_t at) {
    std::size_t p = at - 1;
    while (p > 0 && (static_cast<unsigned char>(t[p]) & 0xC0) == 0x80) --p;
    return p;
  }
  static char32_t char_before(const std::string& t, std::size_t at) {
    std::size_t p = start_of_char_before(t, at);
    return utf8::next(t, p);
  }

  static bool is_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
  }

  /// AddedVocabulary::split_with_indices: pieces of `s` with the added token each one is, if any.
  std::vector<std::pair<normalized_text, std::optional<token_id>>> split_on_added(
      const normalized_text& s, const std::array<std::vector<std::size_t>, 256>& index) const;
};

inline std::vector<std::pair<normalized_text, std::optional<token_id>>> tokenizer_impl::split_on_added(
    const normalized_text& s, const std::array<std::vector<std::size_t>, 256>& index) const {
  const std::string& t = s.text;
  struct hit { std::size_t b, e; token_id id; };
  std::vector<hit> hits;
  std::size_t start_offset = 0;
  std::size_t i = 0;
  while (i < t.size()) {
    const auto& candidates = index[static_cast<unsigned char>(t[i])];
    const added_token* found = nullptr;
    for (std::size_t c : candidates)
      if (t.compare(i, added[c].content.size(), added[c].content) == 0) { found = &added[c]; break; }
    if (!found) { ++i; continue; }
    std::size_t b = i, e = i + found->content.size();
    i = e;  // the automaton resumes after the match
    if (found->single_word) {
      // Not glued to a word character (alphanumeric or '_') on either side.
      auto word_char = [](char32_t c) { return c == '_' || u_isalnum(static_cast<UChar32>(c)); };
      bool start_ok = b == 0 || !word_char(char_before(t, b));
      std::size_t q = e;
      bool stop_ok = e == t.size() || !word_char(utf8::next(t, q));
      if (!start_ok || !stop_ok) continue;
    }
    if (found->lstrip) {
      std::size_t nb = b;
      while (nb > 0 && is_space(char_before(t, nb))) nb = start_of_char_before(t, nb);
      b = std::max(nb, start_offset);
    }
    if (found->rstrip) {
      while (e < t.size()) {
        std::size_t q = e;
        if (!is_space(utf8::next(t, q))) break;
        e = q;
      }
    }
    hits.push_back({b, e, found->id});
    start_offset = e;
  }
  std::vector<std::pair<normalized_text, std::optional<token_id>>> out;
  std::size_t pos = 0;
  for (const auto& h : hits) {
    if (h.b > pos) out.emplace_back(s.slice(pos, h.b), std::nullopt);
    out.emplace_back(s.slice(h.b, h.e), h.id);
    pos = h.e;
  }
  if (pos < t.size()) out.emplace_back(s.slice(pos, t.size()), std::nullopt);
  return out;
}

}  // namespace lmms::text::detail

#include "lmms/impl/text/tokenizer_api_impl.hpp"
