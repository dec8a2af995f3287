// Typed access to config.json, with errors naming the file and the full key path.
#include "lmms/core/error.hpp"
#include "lmms/io/hf_config.hpp"
#include "support/test.hpp"

using lmms::io::hf_config;
using Catch::Matchers::Contains;

namespace {
constexpr const char* llava_like = R"({
  "model_type": "llava",
  "image_token_index": 32000,
  "projector_hidden_act": "gelu",
  "vision_feature_layer": -2,
  "tie_word_embeddings": false,
  "text_config": {"model_type": "llama", "hidden_size": 64, "rms_norm_eps": 1e-05,
                  "rope_theta": 10000, "eos_token_id": [2, 32001], "rope_scaling": null},
  "vision_config": {"model_type": "clip_vision_model", "image_size": 336, "patch_size": 14,
                    "image_mean": [0.5, 0.5, 0.5]}
})";
}

CATCH_TEST_CASE("nested sections and typed values", "[io][config]") {
  auto cfg = hf_config::parse(llava_like, "tiny/config.json");
  CATCH_CHECK(cfg.get_string("model_type") == "llava");
  CATCH_CHECK(cfg.get_int("image_token_index") == 32000);
  CATCH_CHECK(cfg.get_int("vision_feature_layer") == -2);
  CATCH_CHECK_FALSE(cfg.get_bool("tie_word_embeddings"));
  auto text = cfg.section("text_config");
  CATCH_CHECK(text.prefix() == "text_config");
  CATCH_CHECK(text.get_int("hidden_size") == 64);
  CATCH_CHECK(text.get_double("rms_norm_eps") == 1e-5);
  CATCH_CHECK(text.get_double("rope_theta") == 10000.0);  // integers read as doubles
  CATCH_CHECK(text.get_int_list("eos_token_id") == std::vector<std::int64_t>{2, 32001});
  CATCH_CHECK_FALSE(text.has("rope_scaling"));  // null counts as absent
  CATCH_CHECK(text.get_double_or("rope_scaling", 1.0) == 1.0);
  CATCH_CHECK(cfg.section("vision_config").get_double_list("image_mean").size() == 3);
  CATCH_CHECK(cfg.section_if("audio_config") == std::nullopt);
  CATCH_CHECK(cfg.value_text("text_config").find("\"hidden_size\":64") != std::string::npos);
  CATCH_CHECK(cfg.keys().front() == "image_token_index");
}

CATCH_TEST_CASE("missing keys and wrong types name the file and the key path", "[io][config]") {
  auto cfg = hf_config::parse(llava_like, "tiny/config.json");
  CATCH_CHECK_THROWS_WITH(cfg.section("text_config").get_int("num_hidden_layers"),
                          Contains("lmms: tiny/config.json has no key 'text_config.num_hidden_layers'"));
  CATCH_CHECK_THROWS_WITH(cfg.section("text_config").get_int("rms_norm_eps"),
                          Contains("key 'text_config.rms_norm_eps' should be an integer but is a number (1e-05)"));
  CATCH_CHECK_THROWS_WITH(cfg.get_int("model_type"), Contains("'model_type' should be an integer but is a string"));
  CATCH_CHECK_THROWS_WITH(cfg.section("model_type"), Contains("'model_type' should be an object"));
  CATCH_CHECK_THROWS_WITH(cfg.section("vision_config").get_int_list("image_mean"),
                          Contains("'vision_config.image_mean' should be a list of integers"));
  CATCH_CHECK(cfg.section("text_config").get_int_or("hidden_size", 3) == 64);
  CATCH_CHECK(cfg.get_int_or("absent", 3) == 3);
}

CATCH_TEST_CASE("bad files", "[io][config]") {
  CATCH_CHECK_THROWS_WITH(hf_config::parse("{\"a\": ", "x/config.json"), Contains("x/config.json is not valid JSON"));
  CATCH_CHECK_THROWS_WITH(hf_config::parse("[1]", "x/config.json"), Contains("must hold a JSON object"));
  CATCH_CHECK_THROWS_WITH(hf_config::load("/nonexistent/model"), Contains("cannot open /nonexistent/model"));
}
