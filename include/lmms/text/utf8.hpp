// lmms/text/utf8.hpp: the small UTF-8 helpers the tokenizers need. No torch, no ICU.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lmms::text::utf8 {

/// Length of the UTF-8 sequence that starts with byte `lead` (1 for invalid leads).
constexpr std::size_t sequence_length(unsigned char lead) {
  return lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
}

/// Decodes the code point at s[i] (s must be valid UTF-8) and advances i.
inline char32_t next(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const std::size_t n = sequence_length(b0);
  char32_t c = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (std::size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return c;
}

inline void append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

/// Byte offset of the first invalid UTF-8 sequence, or npos when `s` is valid
/// (overlong forms, surrogates and code points past U+10FFFF are invalid).
inline std::size_t first_invalid(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) { ++i; continue; }
    std::size_t n = sequence_length(b0);
    if (n == 1 || i + n > s.size()) return i;
    char32_t c = n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
    for (std::size_t k = 1; k < n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return i;
      c = (c << 6) | (b & 0x3F);
    }
    if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10FFFF ||
        (c >= 0xD800 && c <= 0xDFFF))
      return i;
    i += n;
  }
  return std::string_view::npos;
}

/// GPT-2's byte <-> printable code point map used by byte-level BPE: printable Latin-1 bytes
/// map to themselves, the other 68 bytes to U+0100 onwards.
struct byte_level_alphabet {
  std::array<char32_t, 256> to_char{};
  std::array<std::string, 256> to_utf8;   // to_char as UTF-8
  byte_level_alphabet() {
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_char[b] = printable ? char32_t(b) : char32_t(256 + extra++);
      append(to_utf8[b], to_char[b]);
    }
  }
  /// The byte a code point stands for, or -1 when it is not in the alphabet.
  int byte_of(char32_t c) const {
    if (c < 256) return to_char[c] == c ? int(c) : -1;
    if (c < 256 + 68) {
      for (int b = 0; b < 256; ++b) if (to_char[b] == c) return b;
    }
    return -1;
  }
};

inline const byte_level_alphabet& byte_level() {
  static const byte_level_alphabet table;
  return table;
}

}  // namespace lmms::text::utf8
