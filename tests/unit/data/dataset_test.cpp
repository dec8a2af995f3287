// The dataset reader: good samples load, every kind of bad sample is named with its file and
// index, skip mode keeps the rest and counts what it dropped.
#include <fstream>

#include "lmms/core/error.hpp"
#include "lmms/data/dataset.hpp"
#include "support/test.hpp"

using namespace lmms::data;
using Catch::Matchers::Contains;

namespace {
std::filesystem::path write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
  return p;
}
}  // namespace

CATCH_TEST_CASE("a good dataset loads with paths resolved", "[data]") {
  auto dir = lmms::test::scratch_dir("dataset_good");
  std::filesystem::create_directories(dir / "img");
  write(dir / "img" / "a.png", "x");
  write(dir / "img" / "b.png", "x");
  auto file = write(dir / "train.json", R"([
    {"system_prompt": "Be brief.", "image": "a.png",
     "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "A."}]},
    {"image": ["a.png", "b.png"], "conversations": [{"from": "human", "value": "<image><image>Compare."}, {"from": "gpt", "value": "Same."}]},
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}, {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Bye"}]}
  ])");
  auto d = load_dataset({.file = file, .image_folder = dir / "img"});
  CATCH_REQUIRE(d.samples.size() == 3);
  CATCH_CHECK(d.samples[0].system_prompt == "Be brief.");
  CATCH_CHECK(d.samples[0].images.front() == dir / "img" / "a.png");
  CATCH_CHECK(d.samples[1].images.size() == 2);
  CATCH_CHECK(d.samples[2].turns.size() == 4);
  CATCH_CHECK(d.report.kept == 3);
  CATCH_CHECK(d.report.skipped == 0);

  auto jsonl = write(dir / "train.jsonl", "{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}, {\"from\": \"gpt\", \"value\": \"b\"}]}\n\n"
                                          "{\"conversations\": [{\"from\": \"user\", \"value\": \"a\"}, {\"from\": \"assistant\", \"value\": \"b\"}]}\n");
  auto j = load_dataset({.file = jsonl, .user_key = "user", .assistant_key = "assistant", .on_bad = on_bad_sample::skip});
  CATCH_CHECK(j.samples.size() == 1);
  CATCH_CHECK(j.samples[0].index == 1);
  CATCH_CHECK(j.report.skipped == 1);
}

CATCH_TEST_CASE("bad samples are named, and skip mode trains on the rest", "[data]") {
  auto dir = lmms::test::scratch_dir("dataset_bad");
  write(dir / "ok.png", "x");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"image": "missing.png", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "A"}]})",
       "image " + (dir / "missing.png").string() + " does not exist"},
      {R"({"image": "ok.png", "conversations": [{"from": "human", "value": "no placeholder"}, {"from": "gpt", "value": "A"}]})",
       "has 0 <image> placeholders but 1 image"},
      {R"({"conversations": [{"from": "human", "value": "<video>"}, {"from": "gpt", "value": "A"}]})",
       "has 1 <video> placeholder but 0 videos"},
      {R"({"conversations": [{"from": "gpt", "value": "A"}, {"from": "human", "value": "Q"}]})",
       "turn 1 is from 'gpt' but should be from 'human'"},
      {R"({"conversations": [{"from": "human", "value": "Q"}]})", "has 1 turns; conversations are user / assistant pairs"},
      {R"({"conversations": []})", "has an empty conversation"},
      {R"({"text": "no conversations"})", "has no \"conversations\" list"},
      {R"({"conversations": [{"from": "human", "value": 3}, {"from": "gpt", "value": "A"}]})",
       "turn 1 needs string \"from\" and \"value\" fields"},
      {R"({"image": "ok.png", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "see <image>"}]})",
       "turn 2 (assistant) has an <image> or <video> placeholder"},
      {R"({"system_prompt": 5, "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]})",
       "\"system_prompt\" must be a string"},
      {R"([1, 2])", "is not a JSON object"},
  };
  std::string all = "[\n";
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto file = write(dir / ("case" + std::to_string(i) + ".json"), "[" + cases[i].first + "]");
    CATCH_INFO("case " << i);
    CATCH_CHECK_THROWS_WITH(load_dataset({.file = file, .image_folder = dir}),
                            Contains(file.string() + " sample 0: " + cases[i].second) && Contains("--on-bad-sample=skip"));
    all += cases[i].first + ",\n";
  }
  all += R"({"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}])";
  auto mixed = write(dir / "mixed.json", all);
  auto d = load_dataset({.file = mixed, .image_folder = dir, .on_bad = on_bad_sample::skip});
  CATCH_CHECK(d.samples.size() == 1);
  CATCH_CHECK(d.samples[0].index == cases.size());
  CATCH_CHECK(d.report.skipped == cases.size());
  CATCH_CHECK(d.report.problems.size() == cases.size());
  CATCH_CHECK_THAT(d.report.problems[3], Contains("mixed.json sample 3: turn 1 is from 'gpt'"));
}

CATCH_TEST_CASE("malformed files: JSON syntax with line and column, invalid UTF-8, empty", "[data]") {
  auto dir = lmms::test::scratch_dir("dataset_syntax");
  auto broken = write(dir / "broken.json", "[\n  {\"conversations\": [\n    {\"from\": \"human\" \"value\": \"x\"}\n  ]}\n]");
  CATCH_CHECK_THROWS_WITH(load_dataset({.file = broken}), Contains("broken.json is not valid JSON at line 3, column"));
  auto utf8 = write(dir / "utf8.json", "[{\"conversations\": [{\"from\": \"human\", \"value\": \"\xff\"}]}]");
  CATCH_CHECK_THROWS_WITH(load_dataset({.file = utf8}), Contains("utf8.json is not valid JSON at line 1"));
  auto jsonl = write(dir / "bad.jsonl", "{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}, {\"from\": \"gpt\", \"value\": \"b\"}]}\n{oops\n");
  CATCH_CHECK_THROWS_WITH(load_dataset({.file = jsonl}), Contains("bad.jsonl sample 1: line 2 is not valid JSON"));
  CATCH_CHECK_THROWS_WITH(load_dataset({.file = write(dir / "empty.json", "  \n")}), Contains("empty.json is empty"));
  CATCH_CHECK_THROWS_WITH(load_dataset({.file = dir / "none.json"}), Contains("cannot open the dataset"));
}

namespace {
// The first bytes of a PNG: signature and IHDR chunk (8-bit RGB); enough for the header read.
std::string png_header(std::uint32_t width, std::uint32_t height) {
  auto be = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  return std::string("\x89PNG\r\n\x1a\n", 8) + be(13) + "IHDR" + be(width) + be(height) + std::string("\x08\x02\x00\x00\x00", 5) +
         be(0);
}
}  // namespace

CATCH_TEST_CASE("an image over the pixel cap, or not an image, is a bad sample when the cap is set", "[data]") {
  auto dir = lmms::test::scratch_dir("dataset_pixels");
  write(dir / "small.png", png_header(640, 480));
  write(dir / "bomb.png", png_header(20000, 10000));
  write(dir / "text.png", "not an image");
  auto sample = [](const char* image) {
    return std::string(R"({"image": ")") + image + R"(", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "A"}]})";
  };
  auto file = write(dir / "train.json", "[" + sample("small.png") + "," + sample("bomb.png") + "," + sample("text.png") + "]");
  const std::int64_t pil_limit = 178956970;
  auto d = load_dataset({.file = file, .image_folder = dir, .on_bad = on_bad_sample::skip, .max_image_pixels = pil_limit});
  CATCH_REQUIRE(d.samples.size() == 1);
  CATCH_CHECK(d.samples[0].images.front() == dir / "small.png");
  CATCH_REQUIRE(d.report.problems.size() == 2);
  CATCH_CHECK_THAT(d.report.problems[0], Contains("train.json sample 1: image " + (dir / "bomb.png").string() +
                                                  " has 20000 x 10000 = 200000000 pixels, over the limit of 178956970"));
  CATCH_CHECK_THAT(d.report.problems[1], Contains("train.json sample 2: cannot read the header of image " + (dir / "text.png").string()));
  CATCH_CHECK_THROWS_WITH(load_dataset({.file = file, .image_folder = dir, .max_image_pixels = pil_limit}),
                          Contains("sample 1: image") && Contains("raise data.max_image_pixels"));
  // the cap is a choice: 0 turns the header check off, a lower cap refuses the small image too
  CATCH_CHECK(load_dataset({.file = file, .image_folder = dir, .on_bad = on_bad_sample::skip}).samples.size() == 3);
  CATCH_CHECK(load_dataset({.file = file, .image_folder = dir, .on_bad = on_bad_sample::skip, .max_image_pixels = 1000})
                  .samples.empty());
}
