// PCRE2 regexes for pre-tokenizers, read the way Oniguruma (the engine of `tokenizers`)
// reads them. Part of the tokenizer implementation (LMMS_IMPLEMENTATION only).
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lmms/core/error.hpp"
#include "lmms/text/unicode_tables.hpp"

namespace lmms::text::detail {

/// Rewrites the classes whose meaning depends on the Unicode version (`\s`, `\S`, `\p{L}`,
/// `\P{L}`, `\p{N}`, `\P{N}`) into explicit ranges read off `tokenizers`' own engine
/// (lmms/text/unicode_tables.hpp): PCRE2 and ICU on Debian 12 know an older Unicode, and
/// PCRE2's `\s` also matches U+180E, which is no longer White_Space.
inline std::string oniguruma_to_pcre2(std::string_view pattern, const std::string& where) {
  struct rewrite { std::string_view escape; std::string_view ranges; bool negated; };
  const rewrite rewrites[] = {
      {"\\s", unicode::space_class, false},   {"\\S", unicode::space_class, true},
      {"\\p{L}", unicode::letter_class, false}, {"\\P{L}", unicode::letter_class, true},
      {"\\p{N}", unicode::number_class, false}, {"\\P{N}", unicode::number_class, true},
  };
  std::string out;
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const rewrite* hit = nullptr;
      for (const auto& r : rewrites)
        if (pattern.substr(i, r.escape.size()) == r.escape) { hit = &r; break; }
      if (hit) {
        if (in_class && hit->negated)
          fail(where, ": the regex ", quote(pattern), " negates ", hit->escape, " inside a character class, which lmms does not translate");
        if (in_class) out.append(hit->ranges);
        else out.append(hit->negated ? "[^" : "[").append(hit->ranges).append("]");
        i += hit->escape.size() - 1;
        continue;
      }
      out.push_back(c);
      out.push_back(pattern[++i]);
      continue;
    }
    if (c == '[' && !in_class) in_class = true;
    else if (c == ']' && in_class) in_class = false;
    out.push_back(c);
  }
  return out;
}

class regex {
 public:
  regex(std::string_view oniguruma_pattern, const std::string& where) {
    std::string p = oniguruma_to_pcre2(oniguruma_pattern, where);
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(), PCRE2_UTF | PCRE2_UCP, &code,
                                   &offset, nullptr);
    if (!re) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(code, msg, sizeof msg);
      fail(where, ": cannot compile the regex ", quote(oniguruma_pattern), " (", reinterpret_cast<char*>(msg),
           " at offset ", offset, ")");
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is absent
    code_.reset(re, pcre2_code_free);
  }

  /// Non-overlapping matches, left to right, as [begin, end) byte ranges. `s` must be valid UTF-8.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view s) const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    thread_local std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
        pcre2_match_data_create(4, nullptr), pcre2_match_data_free);
    std::size_t start = 0;
    while (start <= s.size()) {
      int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), start, PCRE2_NO_UTF_CHECK,
                           data.get(), nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) fail("regex match failed (PCRE2 error ", rc, ")");
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.get());
      std::size_t b = ov[0], e = ov[1];
      if (e == b) {  // empty match: step over one character
        if (b >= s.size()) break;
        std::size_t step = 1;
        while (b + step < s.size() && (static_cast<unsigned char>(s[b + step]) & 0xC0) == 0x80) ++step;
        start = b + step;
        continue;
      }
      out.emplace_back(b, e);
      start = e;
    }
    return out;
  }

 private:
  std::shared_ptr<pcre2_code> code_;
};

}  // namespace lmms::text::detail
