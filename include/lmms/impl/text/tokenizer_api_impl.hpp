// The public lmms::text::tokenizer functions (LMMS_IMPLEMENTATION only).
#pragma once

#include <fstream>
#include <sstream>

#include "lmms/impl/text/tokenizer_impl.hpp"

namespace lmms::text {

namespace {
using detail::json;

void load_model(detail::tokenizer_impl& t, const json& m, const std::string& where) {
  std::string type = m.value("type", std::string("BPE"));
  if (type != "BPE") detail::unsupported(where, "the model " + type);
  if (!m.value("continuing_subword_prefix", json()).is_null() && !m.value("continuing_subword_prefix", std::string()).empty())
    detail::unsupported(where, "a BPE continuing_subword_prefix");
  if (!m.value("end_of_word_suffix", json()).is_null() && !m.value("end_of_word_suffix", std::string()).empty())
    detail::unsupported(where, "a BPE end_of_word_suffix");
  if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() > 0)
    detail::unsupported(where, "BPE dropout");
  auto& bpe = *t.model;
  const json& vocab = m.at("vocab");
  if (!vocab.is_object()) fail(where, ": model.vocab is not an object");
  token_id max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    token_id id = it.value().get<token_id>();
    if (id < 0) fail(where, ": token ", quote(it.key()), " has a negative id");
    bpe.vocab.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }
  bpe.vocab_r.assign(static_cast<std::size_t>(max_id + 1), std::string());
  for (const auto& [token, id] : bpe.vocab) bpe.vocab_r[static_cast<std::size_t>(id)] = token;
  std::int32_t rank = 0;
  for (const auto& mg : m.at("merges")) {
    if (mg.is_string()) {  // "a b" (older files)
      std::string s = mg.get<std::string>();
      auto sp = s.find(' ');
      if (sp == std::string::npos) fail(where, ": merge ", quote(s), " is not two tokens");
      bpe.add_merge(std::string_view(s).substr(0, sp), std::string_view(s).substr(sp + 1), rank++, where);
    } else {  // ["a", "b"]
      bpe.add_merge(mg.at(0).get<std::string>(), mg.at(1).get<std::string>(), rank++, where);
    }
  }
  if (m.contains("unk_token") && m["unk_token"].is_string()) {
    auto it = bpe.vocab.find(m["unk_token"].get<std::string>());
    if (it == bpe.vocab.end()) fail(where, ": unk_token ", quote(m["unk_token"].get<std::string>()), " is not in the vocabulary");
    bpe.unk = it->second;
  }
  bpe.fuse_unk = m.value("fuse_unk", false);
  bpe.byte_fallback = m.value("byte_fallback", false);
  bpe.ignore_merges = m.value("ignore_merges", false);
  bpe.finish_loading();
}
}  // namespace

tokenizer tokenizer::from_json(std::string_view text, std::string source) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(source, " is not valid JSON (", e.what(), ")");
  }
  auto impl = std::make_shared<detail::tokenizer_impl>();
  impl->source = source;
  const std::string& where = impl->source;
  try {
    if (!j.is_object() || !j.contains("model")) fail(where, " is not a tokenizer.json (no \"model\")");
    load_model(*impl, j["model"], where);
    if (j.contains("normalizer") && !j["normalizer"].is_null())
      impl->norm = detail::normalizer::from_json(j["normalizer"], where);
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
      impl->pre = detail::pre_tokenizer::from_json(j["pre_tokenizer"], where);
    if (j.contains("post_processor") && !j["post_processor"].is_null()) impl->post.load(j["post_processor"], where);
    if (j.contains("decoder") && !j["decoder"].is_null()) impl->dec = detail::decoder::from_json(j["decoder"], where);
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const auto& a : j["added_tokens"]) {
        added_token t;
        t.id = a.at("id").get<token_id>();
        t.content = a.at("content").get<std::string>();
        t.special = a.value("special", false);
        t.lstrip = a.value("lstrip", false);
        t.rstrip = a.value("rstrip", false);
        t.single_word = a.value("single_word", false);
        t.normalized = a.value("normalized", !t.special);
        impl->added_by_id[t.id] = impl->added.size();
        impl->added_by_content[t.content] = t.id;
        impl->added.push_back(std::move(t));
      }
    }
  } catch (const json::exception& e) {
    fail(where, " has a field of the wrong type or shape (", e.what(), ")");
  }
  impl->index_added_tokens();
  tokenizer tok;
  tok.impl_ = std::move(impl);
  return tok;
}

tiktoken_spec qwen_vl_tiktoken_spec() {
  tiktoken_spec spec;
  spec.pattern = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  spec.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  for (int i = 0; i < 205; ++i) spec.special_tokens.push_back("<|extra_" + std::to_string(i) + "|>");
  for (const char* t : {"<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>", "<img>", "</img>", "<imgpad>"})
    spec.special_tokens.push_back(t);
  spec.nfc = true;
  spec.qwen_vl_images = true;
  return spec;
}

tokenizer tokenizer::load_tiktoken(const std::filesystem::path& file, const tiktoken_spec& spec) {
  auto impl = std::make_shared<detail::tokenizer_impl>();
  impl->source = file.string();
  impl->tiktoken = std::make_shared<detail::tiktoken_model>();
  impl->tiktoken->load(file);
  if (spec.nfc) {
    json nfc = {{"type", "NFC"}};
    impl->norm = detail::normalizer::from_json(nfc, impl->source);
  }
  json split = {{"type", "Split"}, {"pattern", {{"Regex", spec.pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
  impl->pre = detail::pre_tokenizer::from_json(split, impl->source);
  token_id next = static_cast<token_id>(impl->tiktoken->by_id.size());
  for (const auto& content : spec.special_tokens) {
    added_token t;
    t.id = next++;
    t.content = content;
    t.special = true;
    t.normalized = false;
    impl->added_by_id[t.id] = impl->added.size();
    impl->added_by_content[t.content] = t.id;
    impl->added.push_back(std::move(t));
  }
  impl->qwen_vl_images = spec.qwen_vl_images;
  impl->index_added_tokens();
  tokenizer tok;
  tok.impl_ = std::move(impl);
  return tok;
}

tokenizer tokenizer::load(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path) && !std::filesystem::exists(path / "tokenizer.json") &&
      std::filesystem::exists(path / "qwen.tiktoken"))
    return load_tiktoken(path / "qwen.tiktoken", qwen_vl_tiktoken_spec());
  auto file = std::filesystem::is_directory(path) ? path / "tokenizer.json" : path;
  std::ifstream in(file, std::ios::binary);
  if (!in) fail("cannot open ", file.string(), " (a Hugging Face tokenizer.json is needed)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return from_json(buffer.str(), file.string());
}

encoding tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const auto& t = *impl_;
  if (auto bad = utf8::first_invalid(text); bad != std::string_view::npos)
    fail("text to tokenize is not valid UTF-8 (byte ", bad, " of ", text.size(), ")");
  encoding out;
  // 1 + 2: added tokens, normalization
  std::vector<std::pair<detail::normalized_text, std::optional<token_id>>> pieces;
  auto whole = detail::normalized_text::from_original(text, 0);
  for (auto& [piece, id] : t.split_on_added(whole, t.raw_index)) {
    if (id) { pieces.emplace_back(std::move(piece), id); continue; }
    if (t.norm) t.norm->apply(piece);
    if (piece.empty()) continue;
    for (auto& [sub, sub_id] : t.split_on_added(piece, t.normalized_index))
      if (!sub.empty()) pieces.emplace_back(std::move(sub), sub_id);
  }
  // 3 + 4: pre-tokenize and run the model, piece by piece
  for (auto& [piece, id] : pieces) {
    if (id) {
      out.ids.push_back(*id);
      out.offsets.push_back(piece.original(0, piece.text.size()));
      out.special_tokens_mask.push_back(0);
      continue;
    }
    std::vector<detail::normalized_text> words{piece};
    if (t.pre) t.pre->apply(words);
    for (const auto& w : words) {
      for (const auto& tok : t.tiktoken ? t.tiktoken->encode_piece(w.text) : t.model->tokenize(w.text)) {
        out.ids.push_back(tok.id);
        out.offsets.push_back(w.original(tok.begin, tok.end));
        out.special_tokens_mask.push_back(0);
      }
    }
  }
  // Qwen-VL: the bytes of <img>path</img> become byte-valued ids, padded to 256 with <imgpad>.
  if (t.qwen_vl_images) {
    const token_id img = *token_to_id("<img>"), img_end = *token_to_id("</img>"), pad = *token_to_id("<imgpad>");
    encoding replaced;
    for (std::size_t i = 0; i < out.ids.size(); ++i) {
      auto push = [&](token_id id, std::pair<std::size_t, std::size_t> off) {
        replaced.ids.push_back(id);
        replaced.offsets.push_back(off);
        replaced.special_tokens_mask.push_back(0);
      };
      if (out.ids[i] != img) { push(out.ids[i], out.offsets[i]); continue; }
      std::size_t close = i + 1;
      while (close < out.ids.size() && out.ids[close] != img_end) ++close;
      if (close == out.ids.size()) { push(out.ids[i], out.offsets[i]); continue; }  // unclosed: plain text
      std::string url;
      for (std::size_t k = i + 1; k < close; ++k) url += t.tiktoken->by_id.at(static_cast<std::size_t>(out.ids[k]));
      if (url.size() > 256) fail("an <img>...</img> path is ", url.size(), " bytes; Qwen-VL allows at most 256");
      std::pair<std::size_t, std::size_t> span{out.offsets[i].second, out.offsets[close].first};
      push(img, out.offsets[i]);
      for (unsigned char b : url) push(static_cast<token_id>(b), span);
      for (std::size_t k = url.size(); k < 256; ++k) push(pad, span);
      push(img_end, out.offsets[close]);
      i = close;
    }
    out = std::move(replaced);
  }
  // ByteLevel post-processing: offsets without the leading / trailing spaces of tokens.
  // `tokenizers` trims character offsets (its Python binding converts them before the
  // post-processor runs), so trim in characters and map back to bytes.
  if (t.post.trim_offsets && !out.ids.empty()) {
    std::vector<std::size_t> char_start;  // byte where character c starts; back() = size
    for (std::size_t i = 0; i < text.size(); ++i)
      if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) char_start.push_back(i);
    char_start.push_back(text.size());
    auto chars = char_offsets(text, out.offsets);
    for (std::size_t i = 0; i < out.ids.size(); ++i) {
      std::string tok = id_to_token(out.ids[i]);
      auto is_sp = [](char32_t c) { return c == 0x120 || detail::tokenizer_impl::is_space(c); };
      std::vector<char32_t> cs;
      for (std::size_t p = 0; p < tok.size();) cs.push_back(utf8::next(tok, p));
      std::size_t lead = 0, trail = 0;
      while (lead < cs.size() && is_sp(cs[lead])) ++lead;
      while (trail < cs.size() && is_sp(cs[cs.size() - 1 - trail])) ++trail;
      auto [b, e] = chars[i];
      if (lead == 0 && trail == 0) continue;
      if (lead > 0) {
        bool is_first = i == 0 || b == 0;
        if (is_first && t.post.add_prefix_space && lead == 1) lead = 0;
        b = std::min(b + lead, e);
      }
      if (trail > 0 && e >= trail) e = std::max(e - trail, b);
      auto to_byte = [&](std::size_t c) { return char_start[std::min(c, char_start.size() - 1)]; };
      out.offsets[i] = {to_byte(b), to_byte(e)};
    }
  }
  // 5: BOS / EOS
  if (add_special_tokens && t.post.has_template) {
    encoding with;
    for (const auto& p : t.post.single) {
      if (p.is_sequence) {
        with.ids.insert(with.ids.end(), out.ids.begin(), out.ids.end());
        with.offsets.insert(with.offsets.end(), out.offsets.begin(), out.offsets.end());
        with.special_tokens_mask.insert(with.special_tokens_mask.end(), out.special_tokens_mask.begin(),
                                        out.special_tokens_mask.end());
      } else {
        with.ids.push_back(p.id);
        with.offsets.emplace_back(0, 0);
        with.special_tokens_mask.push_back(1);
      }
    }
    return with;
  }
  return out;
}

std::string tokenizer::decode(std::span<const token_id> ids, bool skip_special_tokens) const {
  const auto& t = *impl_;
  if (t.tiktoken) {  // bytes of every token, then UTF-8 with U+FFFD for invalid sequences
    std::string bytes;
    for (token_id id : ids) {
      if (auto a = t.added_by_id.find(id); a != t.added_by_id.end()) {
        if (!(skip_special_tokens && t.added[a->second].special)) bytes += t.added[a->second].content;
      } else if (id >= 0 && static_cast<std::size_t>(id) < t.tiktoken->by_id.size()) {
        bytes += t.tiktoken->by_id[static_cast<std::size_t>(id)];
      }
    }
    return detail::decoder::lossy_utf8(bytes);
  }
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (token_id id : ids) {
    if (auto a = t.added_by_id.find(id); a != t.added_by_id.end()) {
      if (skip_special_tokens && t.added[a->second].special) continue;
      tokens.push_back(t.added[a->second].content);
    } else if (id >= 0 && static_cast<std::size_t>(id) < t.model->vocab_r.size() && !t.model->vocab_r[id].empty()) {
      tokens.push_back(t.model->vocab_r[static_cast<std::size_t>(id)]);
    }  // unknown ids are skipped, as in `tokenizers`
  }
  if (!t.dec) {
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  t.dec->apply(tokens);
  std::string out;
  for (const auto& s : tokens) out += s;
  return out;
}

std::optional<token_id> tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_by_content.find(token); it != impl_->added_by_content.end()) return it->second;
  if (impl_->tiktoken) {
    if (auto it = impl_->tiktoken->ranks.find(token); it != impl_->tiktoken->ranks.end()) return it->second;
    return std::nullopt;
  }
  if (auto it = impl_->model->vocab.find(token); it != impl_->model->vocab.end()) return it->second;
  return std::nullopt;
}

std::string tokenizer::id_to_token(token_id id) const {
  if (auto a = impl_->added_by_id.find(id); a != impl_->added_by_id.end()) return impl_->added[a->second].content;
  if (impl_->tiktoken && id >= 0 && static_cast<std::size_t>(id) < impl_->tiktoken->by_id.size())
    return impl_->tiktoken->by_id[static_cast<std::size_t>(id)];
  if (id >= 0 && static_cast<std::size_t>(id) < impl_->model->vocab_r.size()) return impl_->model->vocab_r[id];
  fail("token id ", id, " is outside the vocabulary of ", impl_->source, " (", size(), " tokens)");
}

std::size_t tokenizer::size() const {
  if (impl_->tiktoken) return impl_->tiktoken->by_id.size() + impl_->added.size();
  std::size_t n = impl_->model->vocab.size();
  for (const auto& a : impl_->added)
    if (!impl_->model->vocab.count(a.content)) ++n;
  return n;
}

const std::vector<added_token>& tokenizer::added_tokens() const { return impl_->added; }
const std::string& tokenizer::source() const { return impl_->source; }

void tokenizer::set_special_tokens_template(std::optional<std::string> bos, std::optional<std::string> eos) {
  auto copy = std::make_shared<detail::tokenizer_impl>(*impl_);
  if (copy->post.present && !copy->post.has_template)
    fail(impl_->source, ": its post-processor is not a TemplateProcessing, so BOS / EOS cannot be set");
  auto id_of = [&](const std::string& s) {
    auto id = token_to_id(s);
    if (!id) fail(impl_->source, ": special token ", quote(s), " is not in the vocabulary");
    return *id;
  };
  copy->post.present = copy->post.has_template = true;
  copy->post.single.clear();
  if (bos) copy->post.single.push_back({false, id_of(*bos)});
  copy->post.single.push_back({true, 0});
  if (eos) copy->post.single.push_back({false, id_of(*eos)});
  impl_ = std::move(copy);
}

std::vector<std::pair<std::size_t, std::size_t>> char_offsets(
    std::string_view text, std::span<const std::pair<std::size_t, std::size_t>> byte_offsets) {
  // As the Python binding of `tokenizers` converts: each byte maps to the index of the
  // character containing it; an end at or past the text's end maps to the character count.
  std::vector<std::size_t> char_of(text.size());
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && i > 0) ++chars;
    char_of[i] = chars;
  }
  const std::size_t total = text.empty() ? 0 : chars + 1;
  std::vector<std::pair<std::size_t, std::size_t>> out;
  out.reserve(byte_offsets.size());
  for (auto [b, e] : byte_offsets) {
    if (b >= text.size()) { out.emplace_back(total, total); continue; }
    out.emplace_back(char_of[b], e < text.size() ? char_of[e] : total);
  }
  return out;
}

}  // namespace lmms::text
