// Token-for-token agreement with Hugging Face `tokenizers` on a 20,000-string corpus, for
// every tokenizer kind the supported models use (made by tests/reference/families/tokenizers.py).
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lmms/text/tokenizer.hpp"
#include "support/test.hpp"

using lmms::text::tokenizer;
using json = nlohmann::json;

namespace {
json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  CATCH_REQUIRE(in.good());
  return json::parse(in);
}

std::string show(const std::string& s) {
  json j = s;
  return j.dump().substr(0, 300);
}
}  // namespace

CATCH_TEST_CASE("tokenizers agree with HF tokenizers on the corpus", "[text][reference]") {
  auto dir = lmms::test::reference_dir() / "text";
  CATCH_REQUIRE(std::filesystem::exists(dir / "corpus.json"));
  const auto corpus = read_json(dir / "corpus.json").get<std::vector<std::string>>();
  CATCH_REQUIRE(corpus.size() >= 20000);

  for (const char* kind : {"llama2", "qwen2", "llama3", "phi3", "phi3-v", "gpt2"}) {
    CATCH_DYNAMIC_SECTION(kind) {
      auto tok = tokenizer::load(dir / kind / "tokenizer.json");
      const auto expected = read_json(dir / kind / "expected.json");
      std::size_t id_mismatch = 0, offset_mismatch = 0, decode_mismatch = 0, skip_mismatch = 0, tokens = 0;
      std::string first_failure;
      for (std::size_t i = 0; i < corpus.size(); ++i) {
        const auto& text = corpus[i];
        auto enc = tok.encode(text, true);
        auto want_ids = expected["ids"][i].get<std::vector<lmms::text::token_id>>();
        tokens += want_ids.size();
        if (enc.ids != want_ids) {
          ++id_mismatch;
          if (first_failure.empty() || first_failure.rfind("ids", 0) != 0)
            first_failure = "ids of string " + std::to_string(i) + " " + show(text) + ": got " + json(enc.ids).dump() +
                            " want " + json(want_ids).dump();
          continue;
        }
        auto offsets = lmms::text::char_offsets(text, enc.offsets);
        auto want_offsets = expected["offsets"][i].get<std::vector<std::pair<std::size_t, std::size_t>>>();
        if (offsets != want_offsets) {
          ++offset_mismatch;
          if (first_failure.empty())
            first_failure = "offsets of string " + std::to_string(i) + " " + show(text) + ": got " + json(offsets).dump() +
                            " want " + json(want_offsets).dump();
        }
        if (tok.decode(enc.ids, false) != expected["decoded"][i].get<std::string>()) {
          ++decode_mismatch;
          if (first_failure.empty())
            first_failure = "decode of string " + std::to_string(i) + " " + show(text) + ": got " +
                            show(tok.decode(enc.ids, false)) + " want " + show(expected["decoded"][i].get<std::string>());
        }
        if (tok.decode(enc.ids, true) != expected["decoded_skip"][i].get<std::string>()) ++skip_mismatch;
      }
      CATCH_INFO(kind << ": " << corpus.size() << " strings, " << tokens << " tokens; first failure: " << first_failure);
      CATCH_CHECK(id_mismatch == 0);
      CATCH_CHECK(offset_mismatch == 0);
      CATCH_CHECK(decode_mismatch == 0);
      CATCH_CHECK(skip_mismatch == 0);
    }
  }
}

CATCH_TEST_CASE("a byte-level tokenizer without normalizer or prefix space round-trips every string",
                "[text][reference]") {
  auto dir = lmms::test::reference_dir() / "text";
  const auto corpus = read_json(dir / "corpus.json").get<std::vector<std::string>>();
  for (const char* kind : {"llama3"}) {
    auto tok = tokenizer::load(dir / kind / "tokenizer.json");
    std::size_t failures = 0;
    for (const auto& text : corpus)
      if (tok.decode(tok.encode_ids(text, false)) != text) ++failures;
    CATCH_INFO(kind);
    CATCH_CHECK(failures == 0);
  }
}

CATCH_TEST_CASE("Qwen-VL's tiktoken vocabulary encodes as its Python tokenizer does", "[text][reference]") {
  auto dir = lmms::test::reference_dir() / "text" / "qwen-vl";
  auto tok = tokenizer::load(dir);  // a directory with qwen.tiktoken and no tokenizer.json
  const auto corpus = read_json(dir / "corpus.json").get<std::vector<std::string>>();
  const auto expected = read_json(dir / "expected.json");
  std::size_t id_mismatch = 0, decode_mismatch = 0, skip_mismatch = 0;
  std::string first_failure;
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    auto ids = tok.encode_ids(corpus[i]);
    auto want = expected["ids"][i].get<std::vector<lmms::text::token_id>>();
    if (ids != want) {
      if (first_failure.empty())
        first_failure = "string " + std::to_string(i) + " " + show(corpus[i]) + ": got " + json(ids).dump().substr(0, 300) +
                        " want " + json(want).dump().substr(0, 300);
      ++id_mismatch;
      continue;
    }
    if (tok.decode(ids) != expected["decoded"][i].get<std::string>()) ++decode_mismatch;
    if (tok.decode(ids, true) != expected["decoded_skip"][i].get<std::string>()) ++skip_mismatch;
  }
  CATCH_INFO(corpus.size() << " strings; first failure: " << first_failure);
  CATCH_CHECK(id_mismatch == 0);
  CATCH_CHECK(decode_mismatch == 0);
  CATCH_CHECK(skip_mismatch == 0);
  auto with_image = tok.encode_ids("<img>a.png</img>");
  CATCH_CHECK(with_image.size() == 258);
  CATCH_CHECK(with_image[1] == 'a');
}
