// Tokenizer behaviour that needs no reference files: loading errors, invalid input, BOS/EOS.
#include "lmms/core/error.hpp"
#include "lmms/text/tokenizer.hpp"
#include "lmms/text/utf8.hpp"
#include "support/test.hpp"

using lmms::text::tokenizer;
using Catch::Matchers::Contains;

namespace {
// A tiny sentencepiece-style BPE: "▁a" "▁b" "ab"...
constexpr const char* tiny = R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 0, "content": "<unk>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false},
    {"id": 1, "content": "<s>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false},
    {"id": 2, "content": "</s>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false},
    {"id": 9, "content": "<image>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false}
  ],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                     "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
  "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
  "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3, "a": 4, "b": 5, "▁a": 6, "ab": 7, "▁ab": 8, "<0x0A>": 10},
            "merges": [["▁", "a"], ["a", "b"], ["▁a", "b"]]}
})";
}  // namespace

CATCH_TEST_CASE("a tiny sentencepiece-style BPE encodes, decodes and maps offsets", "[text]") {
  auto tok = tokenizer::from_json(tiny, "tiny/tokenizer.json");
  auto e = tok.encode("ab ab");
  CATCH_CHECK(e.ids == std::vector<lmms::text::token_id>{1, 8, 8});
  CATCH_CHECK(e.special_tokens_mask == std::vector<std::uint8_t>{1, 0, 0});
  CATCH_CHECK(e.offsets[1] == std::pair<std::size_t, std::size_t>{0, 2});
  CATCH_CHECK(e.offsets[2] == std::pair<std::size_t, std::size_t>{2, 5});  // the space belongs to "▁ab"
  CATCH_CHECK(tok.decode(e.ids) == "<s> ab ab");
  CATCH_CHECK(tok.decode(e.ids, true) == "ab ab");
  // byte fallback for '\n', unk (fused) for what has no byte token
  CATCH_CHECK(tok.encode("a\nb", false).ids == std::vector<lmms::text::token_id>{6, 10, 5});
  CATCH_CHECK(tok.encode("a\xC3\xA9\xC3\xA9", false).ids == std::vector<lmms::text::token_id>{6, 0});
  // added tokens are cut out before normalization
  CATCH_CHECK(tok.encode("<image>ab", false).ids == std::vector<lmms::text::token_id>{9, 8});
  CATCH_CHECK(tok.token_to_id("<image>") == 9);
  CATCH_CHECK(tok.id_to_token(7) == "ab");
  CATCH_CHECK(tok.size() == 11);
}

CATCH_TEST_CASE("BOS / EOS templates can be replaced as transformers does", "[text]") {
  auto tok = tokenizer::from_json(tiny, "tiny/tokenizer.json");
  tok.set_special_tokens_template("<s>", "</s>");
  CATCH_CHECK(tok.encode("a").ids == std::vector<lmms::text::token_id>{1, 6, 2});
  tok.set_special_tokens_template(std::nullopt, std::nullopt);
  CATCH_CHECK(tok.encode("a").ids == std::vector<lmms::text::token_id>{6});
  CATCH_CHECK_THROWS_WITH(tok.set_special_tokens_template("<bos>", std::nullopt),
                          Contains("special token '<bos>' is not in the vocabulary"));
}

CATCH_TEST_CASE("bad tokenizer files and bad input give clear errors", "[text]") {
  CATCH_CHECK_THROWS_WITH(tokenizer::from_json("{", "x/tokenizer.json"), Contains("x/tokenizer.json is not valid JSON"));
  CATCH_CHECK_THROWS_WITH(tokenizer::from_json(R"({"model": {"type": "WordPiece", "vocab": {}}})", "x/tokenizer.json"),
                          Contains("x/tokenizer.json uses the model WordPiece, which lmms does not implement"));
  CATCH_CHECK_THROWS_WITH(
      tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "b"]]}})", "x/tokenizer.json"),
      Contains("merge 'a b' uses a token missing from the vocabulary"));
  CATCH_CHECK_THROWS_WITH(
      tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Precompiled"}})",
                           "x/tokenizer.json"),
      Contains("uses the normalizer Precompiled"));
  CATCH_CHECK_THROWS_WITH(tokenizer::load("/nonexistent"), Contains("cannot open /nonexistent (a Hugging Face tokenizer.json is needed)"));
  auto tok = tokenizer::from_json(tiny, "tiny/tokenizer.json");
  CATCH_CHECK_THROWS_WITH(tok.encode("ok \xC3("), Contains("not valid UTF-8 (byte 3 of 5)"));
  CATCH_CHECK_THROWS_WITH(tok.id_to_token(99), Contains("token id 99 is outside the vocabulary"));
}

CATCH_TEST_CASE("utf8 helpers", "[text]") {
  using namespace lmms::text::utf8;
  CATCH_CHECK(first_invalid("plain ascii") == std::string_view::npos);
  CATCH_CHECK(first_invalid("\xF0\x9F\x99\x82") == std::string_view::npos);
  CATCH_CHECK(first_invalid("\xC0\x80") == 0);          // overlong
  CATCH_CHECK(first_invalid("a\xED\xA0\x80") == 1);     // surrogate
  CATCH_CHECK(first_invalid("ab\xF4\x90\x80\x80") == 2); // past U+10FFFF
  CATCH_CHECK(byte_level().to_char[' '] == U'\u0120');
  CATCH_CHECK(byte_level().byte_of(U'\u0120') == ' ');
  CATCH_CHECK(byte_level().byte_of(U'A') == 'A');
  CATCH_CHECK(byte_level().byte_of(U'\u4E00') == -1);
}

#include "lmms/text/chat.hpp"

CATCH_TEST_CASE("chat samples that cannot be rendered are refused with a reason", "[text][chat]") {
  auto tok = tokenizer::from_json(tiny, "tiny/tokenizer.json");
  lmms::text::chat_renderer chat(tok, lmms::text::chat_format::llava);
  CATCH_CHECK_THROWS_WITH(chat.render({std::nullopt, {}}), Contains("the conversation has no turns"));
  CATCH_CHECK_THROWS_WITH(chat.render({std::nullopt, {"a", "b", "c"}}), Contains("has 3 turns; it needs user / assistant pairs"));
  CATCH_CHECK_THROWS_WITH(chat.render({std::nullopt, {"a", "<image> b"}}),
                          Contains("turn 2 is an assistant turn with an <image> or <video> placeholder"));
  CATCH_CHECK_THROWS_WITH(lmms::text::chat_renderer(tok, lmms::text::chat_format::qwen2_vl),
                          Contains("the qwen2-vl chat format needs the token '<|im_start|>', which tiny/tokenizer.json lacks"));
  auto r = chat.render({std::nullopt, {"<image>\nab", "ab"}});
  CATCH_CHECK(r.images == 1);
  CATCH_CHECK(r.input_ids.front() == 1);  // BOS
  CATCH_CHECK(r.input_ids.back() == 2);   // EOS, labelled
  CATCH_CHECK(r.labels.back() == 2);
  CATCH_CHECK(r.labels.front() == lmms::text::ignore_index);
  CATCH_CHECK(lmms::text::parse_chat_format("qwen2.5-vl") == lmms::text::chat_format::qwen2_vl);
  CATCH_CHECK_FALSE(lmms::text::parse_chat_format("gpt-4").has_value());
}
