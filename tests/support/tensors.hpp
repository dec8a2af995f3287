// Tensor helpers shared by the model tests (torch tests only).
#pragma once

#include <map>
#include <string>

#include "lmms/torch.hpp"

namespace lmms::test {

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

/// The reference tensor `key`, or an undefined tensor when the case has none (no images, ...).
inline at::Tensor get_or_none(const std::map<std::string, at::Tensor>& out, const std::string& key) {
  auto it = out.find(key);
  return it == out.end() ? at::Tensor() : it->second;
}

}  // namespace lmms::test
