// lmms/core/error.hpp: the one exception type lmms throws, and helpers that build messages.
//
// Every runtime message starts with "lmms: ", names the thing at fault (a file, a tensor,
// a config key, a sample index) and, where there is one, says what to do about it.
// No torch here: core/ compiles without libtorch.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace lmms {

/// Thrown for every user-facing failure: bad files, bad config values, bad samples.
/// what() is a complete sentence starting with "lmms: ".
class error : public std::runtime_error {
 public:
  explicit error(const std::string& message) : std::runtime_error(with_prefix(message)) {}

 private:
  static std::string with_prefix(const std::string& m) {
    return m.rfind("lmms: ", 0) == 0 ? m : "lmms: " + m;
  }
};

/// Builds a message from any streamable parts: fail("file ", path, " is empty").
template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  throw error(out.str());
}

/// Quotes a name for a message: quote("a.b") -> 'a.b'. (Not "quoted": ADL would pick std::quoted.)
inline std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out += s;
  out += '\'';
  return out;
}

}  // namespace lmms
