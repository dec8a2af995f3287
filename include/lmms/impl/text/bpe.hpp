// The BPE model of tokenizer.json, merging exactly as `tokenizers` does (lowest merge rank
// first, leftmost first among equal ranks, stale queue entries skipped by their new id).
// Part of the tokenizer implementation (LMMS_IMPLEMENTATION only).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lmms/text/tokenizer.hpp"
#include "lmms/text/utf8.hpp"

namespace lmms::text::detail {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using vocab_map = std::unordered_map<std::string, token_id, string_hash, std::equal_to<>>;

/// A token of one word: its id and the byte range of the word it covers.
struct word_token {
  token_id id;
  std::uint32_t begin, end;
};

class bpe_model {
 public:
  vocab_map vocab;
  std::vector<std::string> vocab_r;  // id -> token (ids are dense in tokenizer.json)
  std::optional<token_id> unk;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;

  /// Registers merge (a, b) with rank = its index in tokenizer.json.
  void add_merge(std::string_view a, std::string_view b, std::int32_t rank, const std::string& where) {
    auto ia = vocab.find(a), ib = vocab.find(b);
    std::string joined = std::string(a) + std::string(b);
    auto ij = vocab.find(joined);
    if (ia == vocab.end() || ib == vocab.end() || ij == vocab.end())
      fail(where, ": merge ", quote(std::string(a) + " " + std::string(b)), " uses a token missing from the vocabulary");
    merges_.emplace(key(ia->second, ib->second), merge_value{rank, ij->second});
  }

  void finish_loading() {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      auto it = vocab.find(std::string_view(name));
      byte_tokens_[b] = it == vocab.end() ? -1 : it->second;
    }
  }

  /// Tokenizes one pre-tokenized word.
  std::vector<word_token> tokenize(std::string_view word) const {
    if (word.empty()) return {};
    if (ignore_merges) {
      if (auto it = vocab.find(word); it != vocab.end())
        return {{it->second, 0, static_cast<std::uint32_t>(word.size())}};
    }
    {
      std::lock_guard lock(cache_mutex_);
      if (auto it = cache_.find(word); it != cache_.end()) return it->second;
    }
    auto tokens = merge_word(word);
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= cache_capacity) cache_.clear();
    if (word.size() < 256) cache_.emplace(std::string(word), tokens);
    return tokens;
  }

 private:
  struct merge_value {
    std::int32_t rank;
    token_id new_id;
  };
  struct symbol {
    token_id id;
    std::int32_t prev, next;
    std::uint32_t begin, end;  // bytes of the word; end == begin marks a merged-away symbol
    bool removed = false;
  };
  static std::uint64_t key(token_id a, token_id b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }
  const merge_value* find_merge(token_id a, token_id b) const {
    auto it = merges_.find(key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  }

  std::vector<word_token> merge_word(std::string_view w) const {
    std::vector<symbol> symbols;
    symbols.reserve(w.size());
    auto add = [&](token_id id, std::size_t b, std::size_t e) {
      std::int32_t n = static_cast<std::int32_t>(symbols.size());
      symbols.push_back({id, n - 1, -1, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(e)});
      if (n > 0) symbols[n - 1].next = n;
    };
    std::optional<std::pair<token_id, std::pair<std::size_t, std::size_t>>> pending_unk;
    std::size_t i = 0;
    while (i < w.size()) {
      std::size_t b = i;
      i += utf8::sequence_length(static_cast<unsigned char>(w[i]));
      std::string_view ch = w.substr(b, i - b);
      if (auto it = vocab.find(ch); it != vocab.end()) {
        if (pending_unk) { add(pending_unk->first, pending_unk->second.first, pending_unk->second.second); pending_unk.reset(); }
        add(it->second, b, i);
        continue;
      }
      if (byte_fallback) {
        bool all = true;
        for (char c : ch) all = all && byte_tokens_[static_cast<unsigned char>(c)] >= 0;
        if (all) {
          if (pending_unk) { add(pending_unk->first, pending_unk->second.first, pending_unk->second.second); pending_unk.reset(); }
          for (std::size_t k = b; k < i; ++k) add(byte_tokens_[static_cast<unsigned char>(w[k])], k, k + 1);
          continue;
        }
      }
      if (unk) {
        if (pending_unk && fuse_unk) {
          pending_unk->second.second = i;
        } else {
          if (pending_unk) add(pending_unk->first, pending_unk->second.first, pending_unk->second.second);
          pending_unk = {{*unk, {b, i}}};
        }
      }
      // No unk token: the character is dropped, as in `tokenizers`.
    }
    if (pending_unk) add(pending_unk->first, pending_unk->second.first, pending_unk->second.second);

    struct queued {
      std::int32_t rank, pos;
      token_id new_id;
      bool operator<(const queued& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<queued> queue;
    for (std::size_t k = 0; k + 1 < symbols.size(); ++k)
      if (auto* m = find_merge(symbols[k].id, symbols[k + 1].id))
        queue.push({m->rank, static_cast<std::int32_t>(k), m->new_id});
    while (!queue.empty()) {
      queued top = queue.top();
      queue.pop();
      symbol& cur = symbols[top.pos];
      if (cur.removed || cur.next < 0) continue;
      symbol& right = symbols[cur.next];
      auto* m = find_merge(cur.id, right.id);
      if (!m || m->new_id != top.new_id) continue;  // stale entry
      cur.id = top.new_id;
      cur.end = right.end;
      right.removed = true;
      cur.next = right.next;
      if (cur.next >= 0) symbols[cur.next].prev = top.pos;
      if (cur.prev >= 0)
        if (auto* pm = find_merge(symbols[cur.prev].id, cur.id)) queue.push({pm->rank, cur.prev, pm->new_id});
      if (cur.next >= 0)
        if (auto* nm = find_merge(cur.id, symbols[cur.next].id)) queue.push({nm->rank, top.pos, nm->new_id});
    }
    std::vector<word_token> out;
    for (const auto& s : symbols)
      if (!s.removed) out.push_back({s.id, s.begin, s.end});
    return out;
  }

  static constexpr std::size_t cache_capacity = 20000;
  std::unordered_map<std::uint64_t, merge_value> merges_;
  std::array<token_id, 256> byte_tokens_{};
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<word_token>, string_hash, std::equal_to<>> cache_;
};

}  // namespace lmms::text::detail
