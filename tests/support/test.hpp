// Include this (not catch.hpp) in every test: Catch2 2.x with prefixed macros
// (CATCH_CHECK, CATCH_REQUIRE, ...), since torch's c10 logging defines CHECK.
#pragma once
#define CATCH_CONFIG_PREFIX_ALL
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace lmms::test {

/// A fresh, empty directory under the build tree for one test to write into.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::current_path() / "scratch" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

/// The directory the reference harness wrote (set by ctest), or "" when absent.
inline std::filesystem::path reference_dir() {
  const char* d = std::getenv("LMMS_REFERENCE_DIR");
  return d ? std::filesystem::path(d) : std::filesystem::path();
}

}  // namespace lmms::test
