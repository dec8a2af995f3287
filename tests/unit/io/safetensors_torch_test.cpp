// safetensors <-> libtorch, checked against files written by Python (the reference
// harness writes them into LMMS_REFERENCE_DIR) and writing files that Python then checks
// (tests/reference/check_lmms_safetensors.py reads scratch/written_by_lmms).
#include <cstring>

#include "lmms/io/hf_config.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "support/test.hpp"

using namespace lmms::io;

namespace {

// The same deterministic tensors as tests/reference/make_references.py `pattern_tensors()`:
// values computed in float64 by the same libtorch, then cast, so both sides agree bit for bit.
named_tensors pattern_tensors() {
  named_tensors out;
  const std::vector<std::pair<std::string, at::ScalarType>> types = {
      {"f64", at::kDouble}, {"f32", at::kFloat}, {"f16", at::kHalf}, {"bf16", at::kBFloat16},
      {"i64", at::kLong},   {"i32", at::kInt},   {"i16", at::kShort}, {"i8", at::kChar},
      {"u8", at::kByte},    {"bool", at::kBool}};
  for (const auto& [name, type] : types) {
    at::Tensor base = (at::arange(60, at::kDouble) - 30.0) * 0.37;
    at::Tensor t;
    if (type == at::kBool) t = (at::arange(60, at::kLong).remainder(3) == 0);
    else if (at::isFloatingType(type)) t = base.to(type);
    else t = (at::arange(60, at::kLong) * 7 - 100).to(type);
    out.emplace_back("pattern." + name, t.reshape({3, 4, 5}));
  }
  at::Tensor special = at::tensor({0.0, -0.0, 1.0 / 3.0, 65504.0, 1e-8}, at::kDouble).to(at::kFloat);
  out.emplace_back("special.f32", special);
  out.emplace_back("special.bf16", special.to(at::kBFloat16));
  out.emplace_back("scalar", at::tensor(2.5, at::kDouble).to(at::kFloat).reshape({}));
  out.emplace_back("empty", at::zeros({0, 3}, at::kFloat));
  return out;
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto ac = a.contiguous(), bc = b.contiguous();
  return ac.nbytes() == bc.nbytes() && std::memcmp(ac.data_ptr(), bc.data_ptr(), ac.nbytes()) == 0;
}

}  // namespace

CATCH_TEST_CASE("tensors written by Python safetensors read bit-exactly", "[io][torch][reference]") {
  auto ref = lmms::test::reference_dir();
  CATCH_REQUIRE_FALSE(ref.empty());
  auto loaded = load_safetensors(ref / "safetensors" / "written_by_python.safetensors");
  auto expected = pattern_tensors();
  CATCH_REQUIRE(loaded.size() == expected.size());
  for (const auto& [name, want] : expected) {
    CATCH_INFO(name);
    CATCH_REQUIRE(loaded.count(name) == 1);
    CATCH_CHECK(same_bytes(loaded.at(name), want));
  }
}

CATCH_TEST_CASE("a sharded tiny model written by transformers reads as one checkpoint", "[io][torch][reference]") {
  auto ref = lmms::test::reference_dir();
  CATCH_REQUIRE_FALSE(ref.empty());
  auto sharded = safetensors_checkpoint::open(ref / "models" / "tiny-llava-sharded");
  auto single = safetensors_checkpoint::open(ref / "models" / "tiny-llava");
  CATCH_CHECK(sharded.files().size() > 1);
  CATCH_CHECK(single.files().size() == 1);
  CATCH_REQUIRE(sharded.names() == single.names());
  for (const auto& name : single.names())
    CATCH_CHECK(same_bytes(to_tensor(sharded.at(name)), to_tensor(single.at(name))));

  auto config = hf_config::load(ref / "models" / "tiny-llava");
  CATCH_CHECK(config.get_string("model_type") == "llava");
  auto hidden = config.section("text_config").get_int("hidden_size");
  auto vocab = config.section("text_config").get_int("vocab_size");
  auto embed = to_tensor(single.at("language_model.model.embed_tokens.weight"));
  CATCH_CHECK(embed.size(0) == vocab);
  CATCH_CHECK(embed.size(1) == hidden);
}

CATCH_TEST_CASE("lmms writes files and shards that Python reads (checked by a Python test)", "[io][torch]") {
  auto dir = lmms::test::scratch_dir("written_by_lmms");
  auto tensors = pattern_tensors();
  save_safetensors(dir / "single.safetensors", tensors, {{"writer", "lmms"}});
  // Non-contiguous input: written as its logical (contiguous) values.
  auto base = at::arange(12, at::kFloat).reshape({3, 4});
  save_safetensors(dir / "transposed.safetensors", {{"t", base.t()}});
  auto back = load_safetensors(dir / "transposed.safetensors").at("t");
  CATCH_CHECK(same_bytes(back, base.t().contiguous()));

  auto shards = save_sharded_safetensors(dir / "sharded", tensors, 400);
  CATCH_CHECK(shards.size() > 2);
  auto again = load_safetensors(dir / "sharded");
  for (const auto& [name, want] : tensors) CATCH_CHECK(same_bytes(again.at(name), want));

  // Types safetensors (as lmms writes it) lacks are refused by name.
  CATCH_CHECK_THROWS_WITH(save_safetensors(dir / "c.safetensors", {{"c", at::zeros({2}, at::kComplexFloat)}}),
                          Catch::Matchers::Contains("ComplexFloat cannot be stored"));
}
