// Normalizers, pre-tokenizers, post-processors and decoders of tokenizer.json, each read
// from its JSON and applied as `tokenizers` applies it. Part of the tokenizer
// implementation (LMMS_IMPLEMENTATION only).
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmms/impl/text/normalized.hpp"
#include "lmms/impl/text/regex.hpp"
#include "lmms/text/tokenizer.hpp"

namespace lmms::text::detail {

using json = nlohmann::json;

inline std::string type_of(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) fail(where, " has no \"type\"");
  return j["type"].get<std::string>();
}

[[noreturn]] inline void unsupported(const std::string& where, const std::string& what) {
  fail(where, " uses ", what, ", which lmms does not implement; supported parts are listed in "
       "include/lmms/text/tokenizer.hpp");
}

// ---- normalizers --------------------------------------------------------------------------
struct normalizer {
  enum kind { unicode, prepend, replace, sequence } k = sequence;
  const UNormalizer2* form = nullptr;
  const UNormalizer2* decomposition = nullptr;  // NFD or NFKD, for offset alignment
  std::string a, b;  // prepend: a; replace: a -> b
  std::vector<normalizer> children;

  static normalizer from_json(const json& j, const std::string& where) {
    normalizer n;
    std::string t = type_of(j, where);
    UErrorCode e = U_ZERO_ERROR;
    if (t == "NFC" || t == "NFD") {
      n.k = unicode;
      n.form = t == "NFC" ? unorm2_getNFCInstance(&e) : unorm2_getNFDInstance(&e);
      n.decomposition = unorm2_getNFDInstance(&e);
    } else if (t == "NFKC" || t == "NFKD") {
      n.k = unicode;
      n.form = t == "NFKC" ? unorm2_getNFKCInstance(&e) : unorm2_getNFKDInstance(&e);
      n.decomposition = unorm2_getNFKDInstance(&e);
    }
    else if (t == "Prepend") { n.k = prepend; n.a = j.at("prepend").get<std::string>(); }
    else if (t == "Replace") {
      n.k = replace;
      const json& p = j.at("pattern");
      if (!p.contains("String")) unsupported(where, "a Replace normalizer with a regex pattern");
      n.a = p["String"].get<std::string>();
      n.b = j.at("content").get<std::string>();
    } else if (t == "Sequence") {
      for (const auto& c : j.at("normalizers")) n.children.push_back(from_json(c, where));
    } else {
      unsupported(where, "the normalizer " + t);
    }
    if (U_FAILURE(e)) fail("ICU has no ", t, " normalizer (", u_errorName(e), ")");
    return n;
  }

  void apply(normalized_text& s) const {
    switch (k) {
      case unicode: s.unicode_normalize(form, decomposition); break;
      case prepend: if (!s.empty()) s.prepend(a); break;
      case replace: s.replace(a, b); break;
      case sequence: for (const auto& c : children) c.apply(s); break;
    }
  }
};

// ---- splitting helpers ---------------------------------------------------------------------
enum class split_behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

inline split_behavior behavior_from(const std::string& s, const std::string& where) {
  if (s == "Removed") return split_behavior::removed;
  if (s == "Isolated") return split_behavior::isolated;
  if (s == "MergedWithPrevious") return split_behavior::merged_with_previous;
  if (s == "MergedWithNext") return split_behavior::merged_with_next;
  if (s == "Contiguous") return split_behavior::contiguous;
  unsupported(where, "the split behaviour " + s);
}

/// Splits `s` at `matches` as NormalizedString::split does; empty pieces are dropped.
inline std::vector<normalized_text> split_at(const normalized_text& s,
                                             const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                                             split_behavior how, bool invert) {
  struct part { std::size_t b, e; bool is_match; };
  std::vector<part> parts;
  std::size_t pos = 0;
  for (auto [b, e] : matches) {
    if (b > pos) parts.push_back({pos, b, invert});
    parts.push_back({b, e, !invert});
    pos = e;
  }
  if (pos < s.text.size()) parts.push_back({pos, s.text.size(), invert});

  // The folds of NormalizedString::split in `tokenizers`, case by case.
  std::vector<part> merged;
  bool previous_match = false;
  switch (how) {
    case split_behavior::isolated: merged = parts; break;
    case split_behavior::removed:
      for (const auto& p : parts) if (!p.is_match) merged.push_back(p);
      break;
    case split_behavior::merged_with_previous:
      for (const auto& p : parts) {
        if (p.is_match && !previous_match && !merged.empty()) merged.back().e = p.e;
        else merged.push_back(p);
        previous_match = p.is_match;
      }
      break;
    case split_behavior::merged_with_next:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous_match && !merged.empty()) merged.back().b = it->b;
        else merged.push_back(*it);
        previous_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    case split_behavior::contiguous:
      for (const auto& p : parts) {
        if (p.is_match == previous_match && !merged.empty()) merged.back().e = p.e;
        else merged.push_back(p);
        previous_match = p.is_match;
      }
      break;
  }
  std::vector<normalized_text> out;
  for (const auto& p : merged)
    if (p.e > p.b) out.push_back(s.slice(p.b, p.e));
  return out;
}

// ---- pre-tokenizers ------------------------------------------------------------------------
inline constexpr std::string_view gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct pre_tokenizer {
  enum kind { byte_level, split, metaspace, sequence } k = sequence;
  std::shared_ptr<const regex> re;       // split (regex) or byte_level with use_regex
  std::string literal;                   // split with a String pattern
  split_behavior behavior = split_behavior::isolated;
  bool invert = false;
  bool add_prefix_space = false;         // byte_level
  std::string replacement = "\xE2\x96\x81";  // metaspace: U+2581
  enum { always, first, never } prepend_scheme = always;
  bool split_words = true;               // metaspace
  std::vector<pre_tokenizer> children;

  static pre_tokenizer from_json(const json& j, const std::string& where) {
    pre_tokenizer p;
    std::string t = type_of(j, where);
    if (t == "ByteLevel") {
      p.k = byte_level;
      p.add_prefix_space = j.value("add_prefix_space", false);
      if (j.value("use_regex", true)) p.re = std::make_shared<regex>(gpt2_pattern, where);
    } else if (t == "Split") {
      p.k = split;
      const json& pat = j.at("pattern");
      if (pat.contains("Regex")) p.re = std::make_shared<regex>(pat["Regex"].get<std::string>(), where);
      else p.literal = pat.at("String").get<std::string>();
      p.behavior = behavior_from(j.at("behavior").get<std::string>(), where);
      p.invert = j.value("invert", false);
    } else if (t == "Metaspace") {
      p.k = metaspace;
      p.replacement = j.value("replacement", std::string("\xE2\x96\x81"));
      if (j.contains("prepend_scheme")) {
        std::string s = j["prepend_scheme"].get<std::string>();
        p.prepend_scheme = s == "first" ? first : s == "never" ? never : always;
      } else {
        p.prepend_scheme = j.value("add_prefix_space", true) ? always : never;
      }
      p.split_words = j.value("split", true);
    } else if (t == "Sequence") {
      for (const auto& c : j.at("pretokenizers")) p.children.push_back(from_json(c, where));
    } else {
      unsupported(where, "the pre-tokenizer " + t);
    }
    return p;
  }

  void apply(std::vector<normalized_text>& pieces) const {
    if (k == sequence) {
      for (const auto& c : children) c.apply(pieces);
      return;
    }
    std::vector<normalized_text> out;
    for (auto& piece : pieces) {
      for (auto& sub : apply_one(piece))
        if (!sub.empty()) out.push_back(std::move(sub));
    }
    pieces = std::move(out);
  }

 private:
  std::vector<normalized_text> apply_one(normalized_text& s) const {
    switch (k) {
      case byte_level: {
        if (add_prefix_space && s.text.rfind(' ', 0) != 0) s.prepend(" ");
        std::vector<normalized_text> parts =
            re ? split_at(s, re->find_all(s.text), split_behavior::isolated, false) : std::vector{s};
        const auto& alphabet = utf8::byte_level();
        for (auto& p : parts) p.map_bytes([&](unsigned char b) -> const std::string& { return alphabet.to_utf8[b]; });
        return parts;
      }
      case split: {
        if (re) return split_at(s, re->find_all(s.text), behavior, invert);
        std::vector<std::pair<std::size_t, std::size_t>> m;
        if (!literal.empty())
          for (std::size_t at = s.text.find(literal); at != std::string::npos; at = s.text.find(literal, at + literal.size()))
            m.emplace_back(at, at + literal.size());
        return split_at(s, m, behavior, invert);
      }
      case metaspace: {
        s.replace(" ", replacement);
        bool starts = s.text.rfind(replacement, 0) == 0;
        if (!starts && (prepend_scheme == always || (prepend_scheme == first && s.original_begin == 0)))
          s.prepend(replacement);
        if (!split_words) return {s};
        std::vector<std::pair<std::size_t, std::size_t>> m;
        for (std::size_t at = s.text.find(replacement); at != std::string::npos;
             at = s.text.find(replacement, at + replacement.size()))
          m.emplace_back(at, at + replacement.size());
        return split_at(s, m, split_behavior::merged_with_next, false);
      }
      case sequence: break;
    }
    return {s};
  }
};

}  // namespace lmms::text::detail
