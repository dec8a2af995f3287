// tiktoken-format vocabularies (Qwen-VL-Chat's qwen.tiktoken): byte-pair merging by the rank
// of the merged bytes, exactly as tiktoken's _byte_pair_merge does (leftmost lowest rank
// first). Part of the tokenizer implementation (LMMS_IMPLEMENTATION only).
#pragma once

#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "lmms/impl/text/bpe.hpp"

namespace lmms::text::detail {

class tiktoken_model {
 public:
  vocab_map ranks;                 // token bytes -> rank (= id)
  std::vector<std::string> by_id;  // id -> token bytes

  /// Reads "base64(token) rank" lines. Throws naming the file and line.
  void load(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail("cannot open ", file.string());
    std::string line;
    std::size_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.empty()) continue;
      auto space = line.find(' ');
      if (space == std::string::npos) fail(file.string(), " line ", number, " is not \"base64 rank\"");
      std::string bytes = base64_decode(std::string_view(line).substr(0, space), file, number);
      long long rank = std::atoll(line.c_str() + space + 1);
      if (rank < 0 || rank > std::numeric_limits<token_id>::max()) fail(file.string(), " line ", number, " has a bad rank");
      ranks.emplace(bytes, static_cast<token_id>(rank));
      if (by_id.size() <= static_cast<std::size_t>(rank)) by_id.resize(static_cast<std::size_t>(rank) + 1);
      by_id[static_cast<std::size_t>(rank)] = std::move(bytes);
    }
    if (ranks.empty()) fail(file.string(), " holds no tokens");
  }

  /// Encodes one pre-tokenized piece (raw bytes).
  std::vector<word_token> encode_piece(std::string_view piece) const {
    if (auto it = ranks.find(piece); it != ranks.end())
      return {{it->second, 0, static_cast<std::uint32_t>(piece.size())}};
    constexpr token_id none = std::numeric_limits<token_id>::max();
    auto rank_of = [&](std::size_t b, std::size_t e) {
      auto it = ranks.find(piece.substr(b, e - b));
      return it == ranks.end() ? none : it->second;
    };
    // parts[i] = (start, rank of the pair starting there)
    std::vector<std::pair<std::size_t, token_id>> parts;
    parts.reserve(piece.size() + 1);
    std::pair<token_id, std::size_t> min_rank{none, 0};
    for (std::size_t i = 0; i + 1 < piece.size(); ++i) {
      token_id r = rank_of(i, i + 2);
      if (r < min_rank.first) min_rank = {r, i};
      parts.emplace_back(i, r);
    }
    parts.emplace_back(piece.size() - 1, none);
    parts.emplace_back(piece.size(), none);
    auto get_rank = [&](std::size_t i) {
      return i + 3 < parts.size() ? rank_of(parts[i].first, parts[i + 3].first) : none;
    };
    while (min_rank.first != none) {
      std::size_t i = min_rank.second;
      if (i > 0) parts[i - 1].second = get_rank(i - 1);
      parts[i].second = get_rank(i);
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      min_rank = {none, 0};
      for (std::size_t k = 0; k + 1 < parts.size(); ++k)
        if (parts[k].second < min_rank.first) min_rank = {parts[k].second, k};
    }
    std::vector<word_token> out;
    for (std::size_t k = 0; k + 1 < parts.size(); ++k) {
      auto b = parts[k].first, e = parts[k + 1].first;
      auto it = ranks.find(piece.substr(b, e - b));
      if (it == ranks.end()) fail("the tiktoken vocabulary cannot encode a byte of the input (no single-byte tokens?)");
      out.push_back({it->second, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(e)});
    }
    return out;
  }

 private:
  static std::string base64_decode(std::string_view s, const std::filesystem::path& file, std::size_t line) {
    auto value = [&](char c) -> int {
      if (c >= 'A' && c <= 'Z') return c - 'A';
      if (c >= 'a' && c <= 'z') return c - 'a' + 26;
      if (c >= '0' && c <= '9') return c - '0' + 52;
      if (c == '+') return 62;
      if (c == '/') return 63;
      fail(file.string(), " line ", line, " has a character that is not base64");
    };
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
      if (c == '=') break;
      acc = (acc << 6) | static_cast<std::uint32_t>(value(c));
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((acc >> bits) & 0xFF));
      }
    }
    return out;
  }
};

}  // namespace lmms::text::detail
