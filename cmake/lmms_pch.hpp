// The shared precompiled header of every lmms build tree (see cmake/lmms.cmake).
// Only headers that nearly every TU uses, and nothing generated.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmms/torch.hpp"
