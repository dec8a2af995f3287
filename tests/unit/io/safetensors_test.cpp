// Torch-free tests of the safetensors reader and writer, including hostile files.
// Built twice: plain and under AddressSanitizer + UBSan (ctest -L sanitize).
#include <cstring>
#include <fstream>

#include "lmms/core/error.hpp"
#include "lmms/io/safetensors.hpp"
#include "support/test.hpp"

using namespace lmms::io;
using Catch::Matchers::Contains;

namespace {

// Builds a file from header JSON text and a data buffer, with an explicit length prefix.
std::vector<std::byte> file_bytes(const std::string& header, const std::vector<std::uint8_t>& data,
                                  std::optional<std::uint64_t> declared_length = std::nullopt) {
  std::uint64_t n = declared_length.value_or(header.size());
  std::vector<std::byte> out(8 + header.size() + data.size());
  for (int i = 0; i < 8; ++i) out[i] = std::byte((n >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

safetensors_file parse_header(const std::string& header, std::size_t data_bytes = 16) {
  static std::vector<std::byte> keep;  // parse() views the caller's memory
  keep = file_bytes(header, std::vector<std::uint8_t>(data_bytes, 0));
  return safetensors_file::parse(keep, "hostile.safetensors");
}

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span(v));
}

}  // namespace

CATCH_TEST_CASE("dtype names and sizes follow the safetensors spec", "[io][safetensors]") {
  CATCH_CHECK(dtype_size(dtype::BF16) == 2);
  CATCH_CHECK(dtype_size(dtype::F64) == 8);
  CATCH_CHECK(dtype_size(dtype::BOOL) == 1);
  CATCH_CHECK(dtype_name(dtype::I16) == "I16");
  CATCH_CHECK(parse_dtype("U8") == dtype::U8);
  CATCH_CHECK_FALSE(parse_dtype("F8_E4M3").has_value());
}

CATCH_TEST_CASE("serialize then parse gives back every tensor bit for bit", "[io][safetensors]") {
  std::vector<float> f32 = {1.5f, -2.25f, 0.0f, 3.0e-38f, 7.0f, -0.0f};
  std::vector<std::uint16_t> bf16 = {0x3f80, 0xc000, 0x7fc0};
  std::vector<std::int64_t> i64 = {-1, 0, 1, INT64_MAX};
  std::vector<std::uint8_t> boolean = {1, 0, 1};
  std::vector<double> scalar = {3.25};
  std::vector<tensor_bytes> tensors = {
      {"a.weight", dtype::F32, {2, 3}, bytes_of(f32)},
      {"b", dtype::BF16, {3}, bytes_of(bf16)},
      {"ids", dtype::I64, {4}, bytes_of(i64)},
      {"mask", dtype::BOOL, {3, 1}, bytes_of(boolean)},
      {"scalar", dtype::F64, {}, bytes_of(scalar)},
      {"empty", dtype::I8, {0, 5}, {}},
  };
  auto bytes = serialize_safetensors(tensors, {{"purpose", "test"}});
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  CATCH_CHECK((8 + header_len) % 8 == 0);  // data starts aligned

  auto file = safetensors_file::parse(bytes, "roundtrip");
  CATCH_REQUIRE(file.tensors().size() == tensors.size());
  CATCH_CHECK(file.metadata().at("format") == "pt");
  CATCH_CHECK(file.metadata().at("purpose") == "test");
  for (const auto& want : tensors) {
    const auto& got = file.at(want.name);
    CATCH_CHECK(got.dtype == want.dtype);
    CATCH_CHECK(got.shape == want.shape);
    CATCH_REQUIRE(got.bytes.size() == want.bytes.size());
    if (!got.bytes.empty()) CATCH_CHECK(std::memcmp(got.bytes.data(), want.bytes.data(), got.bytes.size()) == 0);
  }
  CATCH_CHECK(file.at("scalar").numel() == 1);
  CATCH_CHECK(file.at("empty").numel() == 0);
  CATCH_CHECK(file.find("missing") == nullptr);
  CATCH_CHECK_THROWS_WITH(file.at("missing"), Contains("tensor 'missing' not found in roundtrip"));
}

CATCH_TEST_CASE("the writer refuses inconsistent tensors", "[io][safetensors]") {
  std::vector<float> three = {1, 2, 3};
  std::vector<tensor_bytes> wrong_size = {{"w", dtype::F32, {2, 2}, bytes_of(three)}};
  CATCH_CHECK_THROWS_WITH(serialize_safetensors(wrong_size), Contains("'w' is F32 with 16 bytes by its shape but 12"));
  std::vector<tensor_bytes> twice = {{"w", dtype::F32, {3}, bytes_of(three)}, {"w", dtype::F32, {3}, bytes_of(three)}};
  CATCH_CHECK_THROWS_WITH(serialize_safetensors(twice), Contains("'w' is given twice"));
}

CATCH_TEST_CASE("a file written by Python safetensors is read", "[io][safetensors]") {
  // tests/data/python_small.safetensors: written by safetensors.torch.save_file with
  // {"w": arange(6, float32).reshape(2, 3), "b": tensor([1, -2], int64)} (see tests/data/README.md)
  auto file = safetensors_file::open(std::string(LMMS_TEST_DATA_DIR) + "/python_small.safetensors");
  const auto& w = file.at("w");
  CATCH_CHECK(w.dtype == dtype::F32);
  CATCH_CHECK(w.shape == std::vector<std::int64_t>{2, 3});
  float values[6];
  std::memcpy(values, w.bytes.data(), sizeof values);
  for (int i = 0; i < 6; ++i) CATCH_CHECK(values[i] == float(i));
  const auto& b = file.at("b");
  std::int64_t ints[2];
  std::memcpy(ints, b.bytes.data(), sizeof ints);
  CATCH_CHECK(ints[0] == 1);
  CATCH_CHECK(ints[1] == -2);
}

CATCH_TEST_CASE("hostile files give an error naming the file and tensor, never a crash",
                "[io][safetensors][hostile]") {
  auto bad = [](const std::vector<std::byte>& bytes) { return safetensors_file::parse(bytes, "hostile.safetensors"); };

  CATCH_SECTION("shorter than the length prefix") {
    std::vector<std::byte> tiny(5);
    CATCH_CHECK_THROWS_WITH(bad(tiny), Contains("hostile.safetensors is 5 bytes long"));
  }
  CATCH_SECTION("header length past the end of the file") {
    CATCH_CHECK_THROWS_WITH(bad(file_bytes("{}", {}, 4000)), Contains("declares a 4000-byte header but only 2"));
  }
  CATCH_SECTION("huge header length") {
    CATCH_CHECK_THROWS_WITH(bad(file_bytes("{}", {}, 1ull << 62)), Contains("over the 100000000-byte limit"));
    CATCH_CHECK_THROWS_WITH(bad(file_bytes("{}", {}, ~0ull)), Contains("over the 100000000-byte limit"));
  }
  CATCH_SECTION("header that is not JSON or not an object") {
    CATCH_CHECK_THROWS_WITH(parse_header("{\"a\": "), Contains("header that is not valid JSON"));
    CATCH_CHECK_THROWS_WITH(parse_header("[1, 2]"), Contains("not a JSON object"));
    CATCH_CHECK_THROWS_WITH(parse_header("{\"a\": \"\xff\xfe\"}"), Contains("not valid JSON"));
  }
  CATCH_SECTION("unknown dtype") {
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": {"dtype": "F8_E5M2", "shape": [1], "data_offsets": [0, 1]}})"),
                            Contains("tensor 'x' has dtype \"F8_E5M2\""));
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})"),
                            Contains("tensor 'x' has a dtype that is not a string"));
  }
  CATCH_SECTION("missing fields") {
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": {"dtype": "F32", "shape": [1]}})"),
                            Contains("tensor 'x' lacks one of the fields"));
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": 3})"), Contains("tensor 'x' is not a JSON object"));
  }
  CATCH_SECTION("bad shapes") {
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})"),
                            Contains("tensor 'x' has a shape entry that is not a non-negative integer"));
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})"),
                            Contains("tensor 'x' has a shape entry"));
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": {"dtype": "F32", "shape": 4, "data_offsets": [0, 4]}})"),
                            Contains("tensor 'x' has a shape that is not a list"));
    CATCH_CHECK_THROWS_WITH(
        parse_header(R"({"x": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})"),
        Contains("tensor 'x' has a shape [4294967296,4294967296] whose byte size overflows"));
    CATCH_CHECK_THROWS_WITH(
        parse_header(R"({"x": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 8]}})"),
        Contains("whose byte size overflows"));
  }
  CATCH_SECTION("offsets out of range or reversed") {
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}})"),
                            Contains("tensor 'x' has data_offsets [0, 32] past the end of the data (16 bytes)"));
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})"),
                            Contains("end before they begin"));
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})"),
                            Contains("needs data_offsets [begin, end]"));
    CATCH_CHECK_THROWS_WITH(
        parse_header(R"({"x": {"dtype": "U8", "shape": [0], "data_offsets": [18446744073709551615, 18446744073709551615]}})"),
        Contains("past the end of the data"));
  }
  CATCH_SECTION("byte size that does not match dtype and shape") {
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})"),
                            Contains("tensor 'x' is F32 of shape [2,2] (16 bytes) but its data_offsets span 12 bytes"));
  }
  CATCH_SECTION("overlapping tensors") {
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})"),
                            Contains("tensors 'a' and 'b' overlap"));
  }
  CATCH_SECTION("duplicate names") {
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                             "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})"),
                            Contains("tensor 'a' is listed twice"));
  }
  CATCH_SECTION("bad metadata") {
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"__metadata__": {"format": 1}})"),
                            Contains("__metadata__ value 'format' is not a string"));
    CATCH_CHECK_THROWS_WITH(parse_header(R"({"__metadata__": []})"), Contains("__metadata__ is not an object"));
  }
  CATCH_SECTION("empty header object and zero-size tensors are fine") {
    CATCH_CHECK(parse_header("{}").tensors().empty());
    auto f = parse_header(R"({"e": {"dtype": "F32", "shape": [0], "data_offsets": [16, 16]},
                             "f": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}})");
    CATCH_CHECK(f.tensors().size() == 2);
  }
}

CATCH_TEST_CASE("files on disk: open, truncation, and a directory that is not a file", "[io][safetensors]") {
  auto dir = lmms::test::scratch_dir("safetensors_files");
  std::vector<float> v = {1, 2, 3, 4};
  std::vector<tensor_bytes> t = {{"v", dtype::F32, {4}, bytes_of(v)}};
  write_safetensors(dir / "ok.safetensors", t);
  CATCH_CHECK(safetensors_file::open(dir / "ok.safetensors").at("v").numel() == 4);

  auto full = serialize_safetensors(t);
  std::ofstream(dir / "cut.safetensors", std::ios::binary)
      .write(reinterpret_cast<const char*>(full.data()), std::streamsize(full.size() - 3));
  CATCH_CHECK_THROWS_WITH(safetensors_file::open(dir / "cut.safetensors"),
                          Contains("cut.safetensors: tensor 'v' has data_offsets [0, 16] past the end"));
  std::ofstream(dir / "empty.safetensors", std::ios::binary).flush();
  CATCH_CHECK_THROWS_WITH(safetensors_file::open(dir / "empty.safetensors"), Contains("is 0 bytes long"));
  CATCH_CHECK_THROWS_WITH(safetensors_file::open(dir / "nope.safetensors"), Contains("cannot open"));
  CATCH_CHECK_THROWS_WITH(safetensors_file::open(dir), Contains("is not a regular file"));
}

CATCH_TEST_CASE("sharded checkpoints: written like save_pretrained and read back", "[io][safetensors]") {
  auto dir = lmms::test::scratch_dir("sharded");
  std::vector<float> a(100, 1.0f), b(100, 2.0f), c(300, 3.0f), d(10, 4.0f);
  std::vector<tensor_bytes> t = {{"a", dtype::F32, {100}, bytes_of(a)},
                                 {"b", dtype::F32, {10, 10}, bytes_of(b)},
                                 {"c", dtype::F32, {300}, bytes_of(c)},
                                 {"d", dtype::F32, {10}, bytes_of(d)}};
  auto written = write_sharded_safetensors(dir, t, 800);  // a+b fit, c alone (over limit), d
  CATCH_REQUIRE(written.size() == 4);
  CATCH_CHECK(written[0].filename() == "model-00001-of-00003.safetensors");
  CATCH_CHECK(written[3].filename() == "model.safetensors.index.json");

  auto ck = safetensors_checkpoint::open(dir);
  CATCH_CHECK(ck.files().size() == 3);
  CATCH_CHECK(ck.names() == std::vector<std::string>{"a", "b", "c", "d"});
  CATCH_CHECK(ck.at("c").numel() == 300);
  float first_c;
  std::memcpy(&first_c, ck.at("c").bytes.data(), 4);
  CATCH_CHECK(first_c == 3.0f);
  CATCH_CHECK_THROWS_WITH(ck.at("e"), Contains("tensor 'e' not found in checkpoint"));

  // One shard when everything fits, with no index.
  auto single_dir = lmms::test::scratch_dir("single");
  auto one = write_sharded_safetensors(single_dir, t);
  CATCH_REQUIRE(one.size() == 1);
  CATCH_CHECK(one[0].filename() == "model.safetensors");
  CATCH_CHECK(safetensors_checkpoint::open(single_dir).names().size() == 4);

  // An index that lies about where a tensor is.
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"a": "model-00002-of-00003.safetensors"}})";
  CATCH_CHECK_THROWS_WITH(safetensors_checkpoint::open(dir),
                          Contains("puts tensor 'a' in model-00002-of-00003.safetensors, which does not contain it"));
  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map": {"a": "../../etc/passwd"}})";
  CATCH_CHECK_THROWS_WITH(safetensors_checkpoint::open(dir), Contains("must be a plain file name"));
  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map": {"a": "missing.safetensors"}})";
  CATCH_CHECK_THROWS_WITH(safetensors_checkpoint::open(dir), Contains("missing.safetensors"));
  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map": )";
  CATCH_CHECK_THROWS_WITH(safetensors_checkpoint::open(dir), Contains("is not valid JSON"));

  auto empty_dir = lmms::test::scratch_dir("no_weights");
  CATCH_CHECK_THROWS_WITH(safetensors_checkpoint::open(empty_dir), Contains("expected model.safetensors or"));
}
