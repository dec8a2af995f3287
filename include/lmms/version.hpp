// lmms/version.hpp: the version of lmms and of the libtorch it was built against.
#pragma once

#include <string>

#define LMMS_VERSION_MAJOR 0
#define LMMS_VERSION_MINOR 1
#define LMMS_VERSION_PATCH 0

namespace lmms {

inline constexpr const char* version = "0.1.0";

/// "2.15.0" style version of the libtorch linked in.
std::string torch_version();

}  // namespace lmms

#ifdef LMMS_IMPLEMENTATION
#include <torch/version.h>
namespace lmms {
std::string torch_version() { return TORCH_VERSION; }
}  // namespace lmms
#endif
