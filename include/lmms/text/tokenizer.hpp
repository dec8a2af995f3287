// lmms/text/tokenizer.hpp: Hugging Face tokenizer.json, encode and decode, identical to the
// `tokenizers` library for the tokenizers the supported models use. No torch.
//
//   auto tok = text::tokenizer::load("example_data/models/tiny-llava");   // or .../tokenizer.json
//   text::encoding e = tok.encode("USER: <image>\nWhat is this?");       // BOS added by the template
//   std::string s = tok.decode(e.ids, /*skip_special_tokens=*/true);
//
// Supported parts of tokenizer.json (anything else is refused by name when loading):
//   model          BPE (byte_fallback, fuse_unk, ignore_merges, unk_token)
//   normalizer     NFC, NFKC, NFD, NFKD, Prepend, Replace (string), Lowercase, Sequence
//   pre_tokenizer  ByteLevel, Split (regex / string; Isolated, Removed, MergedWithPrevious,
//                  MergedWithNext, Contiguous), Metaspace, Digits, Sequence
//   post_processor TemplateProcessing, ByteLevel, Sequence
//   decoder        ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence
//   added_tokens   with special / lstrip / rstrip / single_word / normalized
// Regexes run on PCRE2 (JIT) with `\s` rewritten to Unicode White_Space as Oniguruma, the
// engine of `tokenizers`, reads it; normalization uses ICU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lmms::text {

using token_id = std::int32_t;

/// The result of encoding one text.
struct encoding {
  std::vector<token_id> ids;
  /// Per token, the [begin, end) byte range of the input it came from ((0, 0) for tokens the
  /// post-processor added). Byte offsets; char_offsets() converts to code points.
  std::vector<std::pair<std::size_t, std::size_t>> offsets;
  /// 1 for tokens the post-processor added (BOS / EOS), as HF's special_tokens_mask.
  std::vector<std::uint8_t> special_tokens_mask;
};

/// Byte offsets -> code point offsets of `text` (what Python `tokenizers` reports).
std::vector<std::pair<std::size_t, std::size_t>> char_offsets(
    std::string_view text, std::span<const std::pair<std::size_t, std::size_t>> byte_offsets);

/// An added token of tokenizer.json ("<|im_start|>", "<image>", ...).
struct added_token {
  token_id id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

/// How to read a tiktoken-format vocabulary (base64 token + rank per line), which has no
/// tokenizer.json: its split regex, its special tokens (ids follow the ranks) and the extras
/// of the model's Python tokenizer.
struct tiktoken_spec {
  std::string pattern;
  std::vector<std::string> special_tokens;
  bool nfc = true;               // Qwen's tokenizer NFC-normalizes the text first
  bool qwen_vl_images = false;   // <img>path</img>: path bytes as byte ids, padded to 256
};

/// Qwen-VL-Chat's qwen.tiktoken: Qwen's regex, <|endoftext|> <|im_start|> <|im_end|>,
/// <|extra_0|>..<|extra_204|>, then <ref> </ref> <box> </box> <quad> </quad> <img> </img> <imgpad>.
tiktoken_spec qwen_vl_tiktoken_spec();

namespace detail { struct tokenizer_impl; }

class tokenizer {
 public:
  /// Loads tokenizer.json (a file, or a directory holding one). Throws lmms::error naming
  /// the file and the part it cannot read.
  static tokenizer load(const std::filesystem::path& path);
  static tokenizer from_json(std::string_view json_text, std::string source);
  /// Loads a tiktoken-format vocabulary. load() picks this, with qwen_vl_tiktoken_spec(), for
  /// a directory holding qwen.tiktoken and no tokenizer.json.
  static tokenizer load_tiktoken(const std::filesystem::path& file, const tiktoken_spec& spec);

  /// Encodes `text` (UTF-8; invalid UTF-8 is an lmms::error naming the byte offset).
  /// add_special_tokens runs the post-processor (BOS / EOS templates).
  encoding encode(std::string_view text, bool add_special_tokens = true) const;
  std::vector<token_id> encode_ids(std::string_view text, bool add_special_tokens = true) const {
    return encode(text, add_special_tokens).ids;
  }

  /// Decodes ids back to text; with skip_special_tokens, added tokens marked special vanish.
  std::string decode(std::span<const token_id> ids, bool skip_special_tokens = false) const;

  std::optional<token_id> token_to_id(std::string_view token) const;
  /// Throws lmms::error for an id outside the vocabulary.
  std::string id_to_token(token_id id) const;
  /// Model vocabulary plus added tokens (as len(tokenizer) in transformers).
  std::size_t size() const;
  const std::vector<added_token>& added_tokens() const;

  /// Replaces the BOS / EOS part of the post-processor, as transformers does for
  /// add_bos_token / add_eos_token (lmms-finetune loads llava processors with add_eos_token).
  /// Only for tokenizers whose post-processor is a TemplateProcessing (or none).
  void set_special_tokens_template(std::optional<std::string> bos, std::optional<std::string> eos);

  const std::string& source() const;

 private:
  std::shared_ptr<detail::tokenizer_impl> impl_;
};

}  // namespace lmms::text

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/text/tokenizer_impl.hpp"
#endif
