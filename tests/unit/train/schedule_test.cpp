// The trainer's learning-rate schedules against transformers' get_*_schedule_with_warmup.
#include <fstream>

#include <nlohmann/json.hpp>

#include "lmms/train/loop.hpp"
#include "support/test.hpp"

CATCH_TEST_CASE("lr schedules equal transformers' at every step", "[train][reference]") {
  std::ifstream in(lmms::test::reference_dir() / "outputs" / "schedules.json");
  CATCH_REQUIRE(in.good());
  auto ref = nlohmann::json::parse(in);
  for (auto [name, kind] : {std::pair{"cosine", lmms::training::schedule::cosine}, std::pair{"linear", lmms::training::schedule::linear},
                            std::pair{"constant", lmms::training::schedule::constant}}) {
    const auto& r = ref[name];
    auto factors = r["factors"].get<std::vector<double>>();
    for (std::size_t s = 0; s < factors.size(); ++s) {
      CATCH_INFO(name << " step " << s);
      CATCH_CHECK(lmms::training::lr_factor(kind, static_cast<std::int64_t>(s), r["total"], r["warmup"]) ==
                  Catch::Detail::Approx(factors[s]).epsilon(1e-12).margin(1e-15));
    }
  }
}

CATCH_TEST_CASE("right padding puts real tokens first and counts predicted labels", "[train]") {
  lmms::training::token_sample a{{5, 6, 7}, {-100, 6, 7}}, b{{8}, {8}};
  auto batch = lmms::training::collate_right_pad({&a, &b}, 0);
  CATCH_CHECK(batch.input_ids.sizes() == at::IntArrayRef({2, 3}));
  CATCH_CHECK(batch.input_ids[1][1].item<std::int64_t>() == 0);
  CATCH_CHECK(batch.labels[1][1].item<std::int64_t>() == -100);
  CATCH_CHECK(batch.attention_mask.sum().item<std::int64_t>() == 4);
  CATCH_CHECK(batch.label_tokens == 2);  // a[1], a[2]; b's only token has nothing before it
  CATCH_CHECK(batch.real_tokens == 4);
}
