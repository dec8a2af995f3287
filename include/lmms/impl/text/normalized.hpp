// A piece of text being tokenized, with the original byte range of every byte, so that
// tokens report offsets into the caller's string (as `tokenizers`' NormalizedString does).
// Part of the tokenizer implementation (LMMS_IMPLEMENTATION only).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "lmms/core/error.hpp"
#include "lmms/text/utf8.hpp"

namespace lmms::text::detail {

using byte_range = std::pair<std::size_t, std::size_t>;

struct normalized_text {
  std::string text;                 // current (normalized / pre-tokenized) bytes
  std::vector<byte_range> align;    // per byte of `text`: its range in the original input
  std::size_t original_begin = 0;   // where this piece starts in the original input

  static normalized_text from_original(std::string_view s, std::size_t offset) {
    normalized_text n;
    n.text = s;
    n.align.resize(s.size());
    // Every byte aligns to its whole character, as in `tokenizers`, so that a token holding
    // part of a character (byte-level BPE, byte fallback) reports the character's range.
    for (std::size_t i = 0; i < s.size();) {
      std::size_t n_bytes = std::min(utf8::sequence_length(static_cast<unsigned char>(s[i])), s.size() - i);
      for (std::size_t k = 0; k < n_bytes; ++k) n.align[i + k] = {offset + i, offset + i + n_bytes};
      i += n_bytes;
    }
    n.original_begin = offset;
    return n;
  }

  bool empty() const { return text.empty(); }

  /// The original range covered by text bytes [b, e).
  byte_range original(std::size_t b, std::size_t e) const {
    if (b >= e) {
      std::size_t at = b < align.size() ? align[b].first : (align.empty() ? original_begin : align.back().second);
      return {at, at};
    }
    std::size_t lo = align[b].first, hi = align[b].second;
    for (std::size_t i = b; i < e; ++i) {
      lo = std::min(lo, align[i].first);
      hi = std::max(hi, align[i].second);
    }
    return {lo, hi};
  }

  /// Bytes [b, e) as a piece of their own.
  normalized_text slice(std::size_t b, std::size_t e) const {
    normalized_text n;
    n.text = text.substr(b, e - b);
    n.align.assign(align.begin() + static_cast<std::ptrdiff_t>(b), align.begin() + static_cast<std::ptrdiff_t>(e));
    n.original_begin = b < align.size() ? align[b].first : original_begin;
    return n;
  }

  /// Inserts `s` at the front, aligned to the first character (as HF's prepend).
  void prepend(std::string_view s) {
    byte_range a = align.empty() ? byte_range{original_begin, original_begin}
                                 : original(0, utf8::sequence_length(static_cast<unsigned char>(text[0])));
    text.insert(0, s);
    align.insert(align.begin(), s.size(), a);
  }

  /// Replaces every occurrence of `from` with `to`; new bytes align to the replaced ones.
  void replace(std::string_view from, std::string_view to) {
    if (from.empty() || text.find(from) == std::string::npos) return;
    std::string out;
    std::vector<byte_range> out_align;
    std::size_t i = 0;
    while (i < text.size()) {
      if (text.compare(i, from.size(), from) == 0) {
        byte_range a = original(i, i + from.size());
        out.append(to);
        out_align.insert(out_align.end(), to.size(), a);
        i += from.size();
      } else {
        out.push_back(text[i]);
        out_align.push_back(align[i]);
        ++i;
      }
    }
    text = std::move(out);
    align = std::move(out_align);
  }

  /// Maps every byte through `f(byte) -> UTF-8 string` (byte-level BPE's alphabet).
  template <class F>
  void map_bytes(F&& f) {
    std::string out;
    std::vector<byte_range> out_align;
    out.reserve(text.size() * 2);
    out_align.reserve(text.size() * 2);
    for (std::size_t i = 0; i < text.size(); ++i) {
      const std::string& s = f(static_cast<unsigned char>(text[i]));
      out.append(s);
      out_align.insert(out_align.end(), s.size(), align[i]);
    }
    text = std::move(out);
    align = std::move(out_align);
  }

  /// Unicode normalization (NFC / NFKC / NFD / NFKD) with ICU. Text already in the form is
  /// left alone; otherwise each run between normalization boundaries is normalized on its
  /// own and its output aligned to the run's original range.
  void unicode_normalize(const UNormalizer2* form, const UNormalizer2* decomposition) {
    UErrorCode err = U_ZERO_ERROR;
    std::u16string u16 = to_utf16(text);
    if (unorm2_isNormalized(form, reinterpret_cast<const UChar*>(u16.data()), static_cast<int32_t>(u16.size()), &err) &&
        U_SUCCESS(err))
      return;
    std::string out;
    std::vector<byte_range> out_align;
    std::size_t run_begin = 0, i = 0;
    auto flush = [&](std::size_t run_end) {
      if (run_end <= run_begin) return;
      std::u16string src = to_utf16(std::string_view(text).substr(run_begin, run_end - run_begin));
      std::u16string dst(src.size() * 4 + 8, u'\0');
      UErrorCode e = U_ZERO_ERROR;
      int32_t n = unorm2_normalize(form, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()),
                                   reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()), &e);
      if (U_FAILURE(e)) fail("Unicode normalization failed (", u_errorName(e), ")");
      dst.resize(static_cast<std::size_t>(n));
      std::string bytes = to_utf8(dst);
      // Align output characters to input characters as `tokenizers`' normalizers do: lay
      // both sides out in fully decomposed positions (canonical equivalence makes them the
      // same length) and give each output character the input character at its first
      // decomposed position. A composed character takes its first source's range, the parts
      // of a decomposition share their source's range, reordered marks align by position.
      std::vector<std::size_t> input_start;   // decomposed position where input char i starts
      std::vector<byte_range> input_range;
      std::size_t pos = 0;
      for (std::size_t p = run_begin; p < run_end;) {
        std::size_t q = p;
        char32_t c = utf8::next(text, q);
        input_start.push_back(pos);
        input_range.push_back(original(p, q));
        pos += decomposed_length(c, decomposition);
        p = q;
      }
      pos = 0;
      std::size_t in = 0;
      for (std::size_t p = 0; p < bytes.size();) {
        std::size_t q = p;
        char32_t c = utf8::next(bytes, q);
        while (in + 1 < input_start.size() && input_start[in + 1] <= pos) ++in;
        out.append(bytes, p, q - p);
        out_align.insert(out_align.end(), q - p, input_range[in]);
        pos += decomposed_length(c, decomposition);
        p = q;
      }
      run_begin = run_end;
    };
    while (i < text.size()) {
      std::size_t at = i;
      char32_t c = utf8::next(text, i);
      if (at > run_begin && unorm2_hasBoundaryBefore(form, static_cast<UChar32>(c))) flush(at);
    }
    flush(text.size());
    text = std::move(out);
    align = std::move(out_align);
  }

  /// Length in characters of `c` fully decomposed by `decomposition` (NFD or NFKD).
  static std::size_t decomposed_length(char32_t c, const UNormalizer2* decomposition) {
    UChar buffer[32];
    UErrorCode e = U_ZERO_ERROR;
    int32_t n = unorm2_getDecomposition(decomposition, static_cast<UChar32>(c), buffer, 32, &e);
    if (n < 0 || U_FAILURE(e)) return 1;  // no decomposition: the character itself
    std::size_t chars = 0;
    for (int32_t i = 0; i < n; ++i)
      if (!(buffer[i] >= 0xDC00 && buffer[i] < 0xE000)) ++chars;  // count code points, not units
    return chars;
  }

  static std::u16string to_utf16(std::string_view s) {
    std::u16string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
      char32_t c = utf8::next(s, i);
      if (c >= 0x10000) {
        c -= 0x10000;
        out.push_back(static_cast<char16_t>(0xD800 + (c >> 10)));
        out.push_back(static_cast<char16_t>(0xDC00 + (c & 0x3FF)));
      } else {
        out.push_back(static_cast<char16_t>(c));
      }
    }
    return out;
  }

  static std::string to_utf8(std::u16string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      char32_t c = s[i];
      if (c >= 0xD800 && c < 0xDC00 && i + 1 < s.size()) c = 0x10000 + ((c - 0xD800) << 10) + (s[++i] - 0xDC00);
      utf8::append(out, c);
    }
    return out;
  }
};

}  // namespace lmms::text::detail
