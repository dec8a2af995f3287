// Chat rendering per family: the same text, input ids and labels as the Python reference
// pipeline (tests/reference/families/chat.py: HF templates + transformers' assistant mask,
// lmms-finetune's BOS/EOS policy; Qwen2-VL checked against its official template).
#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "lmms/text/chat.hpp"
#include "support/test.hpp"

using namespace lmms::text;
using json = nlohmann::json;

CATCH_TEST_CASE("chat rendering matches the reference pipeline for every family", "[text][chat][reference]") {
  auto dir = lmms::test::reference_dir() / "text";
  for (const char* name : {"llava", "llava-interleave", "llava-onevision", "qwen2-vl", "qwen-vl", "llama-3.2-vision", "phi3-v"}) {
    CATCH_DYNAMIC_SECTION(name) {
      std::ifstream in(dir / "chat" / (std::string(name) + ".json"));
      CATCH_REQUIRE(in.good());
      json ref = json::parse(in);
      auto tok = tokenizer::load(dir / ref["tokenizer"].get<std::string>());
      auto format = parse_chat_format(name);
      CATCH_REQUIRE(format.has_value());
      CATCH_REQUIRE(ref["cases"].size() >= 10);
      for (const auto& c : ref["cases"]) {
        chat_sample sample;
        if (!c["sample"]["system_prompt"].is_null()) sample.system_prompt = c["sample"]["system_prompt"].get<std::string>();
        sample.turns = c["sample"]["conversations"].get<std::vector<std::string>>();
        if (c["sample"].contains("image")) sample.image_paths = c["sample"]["image"].get<std::vector<std::string>>();
        chat_options options;
        options.mask_question_tokens = c["mask_question_tokens"].get<bool>();
        chat_renderer chat(tok, *format, options);
        auto r = chat.render(sample);
        CATCH_INFO(name << " sample " << c["sample"].dump() << " mask=" << options.mask_question_tokens);
        CATCH_CHECK(r.text == c["text"].get<std::string>());
        CATCH_CHECK(r.input_ids == c["input_ids"].get<std::vector<token_id>>());
        CATCH_CHECK(r.labels == c["labels"].get<std::vector<token_id>>());
      }
    }
  }
}

CATCH_TEST_CASE("Llama-3.2-Vision: a system prompt with images and videos are refused by name", "[text][chat][reference]") {
  auto tok = tokenizer::load(lmms::test::reference_dir() / "text" / "llama3");
  chat_renderer chat(tok, chat_format::llama3_vision);
  CATCH_CHECK_THROWS_WITH(chat.render({.system_prompt = "Be brief.", .turns = {"<image>\nWhat?", "A cat."}}),
                          Catch::Matchers::Contains("refuses a system prompt in a conversation with images"));
  CATCH_CHECK_THROWS_WITH(chat.render({.turns = {"<video>\nWhat?", "A cat."}}), Catch::Matchers::Contains("images only"));
  // the generation prompt ends with the assistant header; text only gets the system block
  auto p = chat.render_prompt({.turns = {"Hi"}});
  CATCH_CHECK(p.text ==
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
              "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

CATCH_TEST_CASE("Phi-3-Vision: images numbered across turns, videos and literal tags refused", "[text][chat][reference]") {
  auto tok = tokenizer::load(lmms::test::reference_dir() / "text" / "phi3-v");
  chat_renderer chat(tok, chat_format::phi3_v);
  auto r = chat.render({.turns = {"<image>\nWhat?", "A cat.", "And <image>?", "A dog."}});
  CATCH_CHECK(r.images == 2);
  CATCH_CHECK(std::count(r.input_ids.begin(), r.input_ids.end(), -1) == 1);
  CATCH_CHECK(std::count(r.input_ids.begin(), r.input_ids.end(), -2) == 1);
  CATCH_CHECK(r.text.find("<|user|>\nAnd <|image_2|>?<|end|>") != std::string::npos);
  CATCH_CHECK_THROWS_WITH(chat.render({.turns = {"<video>\nWhat?", "A cat."}}), Catch::Matchers::Contains("images only"));
  CATCH_CHECK_THROWS_WITH(chat.render({.turns = {"<|image_1|>\nWhat?", "A cat."}}),
                          Catch::Matchers::Contains("mark images with <image>"));
  // the generation prompt ends with the assistant tag; a BOS starts each user turn
  auto p = chat.render_prompt({.system_prompt = "Be brief.", .turns = {"Hi"}});
  CATCH_CHECK(p.text == "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n");
  CATCH_CHECK(p.input_ids.front() == *tok.token_to_id("<s>"));
}
