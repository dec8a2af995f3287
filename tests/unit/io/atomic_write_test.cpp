// Atomic writes leave either the old file or the new one, and no temporary files.
#include <fstream>
#include <sstream>

#include "lmms/core/error.hpp"
#include "lmms/io/atomic_write.hpp"
#include "support/test.hpp"

using Catch::Matchers::Contains;

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

CATCH_TEST_CASE("write_file_atomically replaces the file and leaves no temporaries", "[io][atomic]") {
  auto dir = lmms::test::scratch_dir("atomic");
  lmms::io::write_file_atomically(dir / "a.json", std::string_view("{\"v\": 1}"));
  CATCH_CHECK(slurp(dir / "a.json") == "{\"v\": 1}");
  lmms::io::write_file_atomically(dir / "a.json", std::string_view("second"));
  CATCH_CHECK(slurp(dir / "a.json") == "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  CATCH_CHECK(entries == 1);
  CATCH_CHECK_THROWS_WITH(lmms::io::write_file_atomically(dir / "no_such_dir" / "a.json", std::string_view("x")),
                          Contains("cannot create"));
}
