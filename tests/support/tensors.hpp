// Tensor helpers shared by the model tests (torch tests only).
#pragma once

#include <map>
#include <string>

#include "lmms/torch.hpp"
#include "support/test.hpp"

namespace lmms::test {

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

/// The reference tensor `key`, or an undefined tensor when the case has none (no images, ...).
inline at::Tensor get_or_none(const std::map<std::string, at::Tensor>& out, const std::string& key) {
  auto it = out.find(key);
  return it == out.end() ? at::Tensor() : it->second;
}

struct gradient_comparison {
  double max_diff = 0, max_reference = 0;  // largest |lmms - reference| and largest |reference|
  std::size_t compared = 0;                // parameters with a reference gradient
};

/// Checks every parameter's gradient against the reference's `<prefix>grad.<name>`: a parameter the
/// reference gives no gradient (a tower in a text-only case, layers past the feature layer) must
/// have none or a zero one here; one it gives a gradient must have one. Returns the differences
/// for the caller's bound.
inline gradient_comparison compare_gradients(torch::nn::Module& model, const std::map<std::string, at::Tensor>& out,
                                             const std::string& prefix) {
  gradient_comparison g;
  for (const auto& p : model.named_parameters()) {
    auto it = out.find(prefix + "grad." + p.key());
    CATCH_INFO("parameter " << p.key());
    const bool has = p.value().grad().defined() && p.value().grad().abs().max().item<double>() > 0;
    if (it == out.end()) {
      CATCH_CHECK_FALSE(has);
      continue;
    }
    CATCH_REQUIRE(p.value().grad().defined());
    g.max_diff = std::max(g.max_diff, max_abs_diff(p.value().grad(), it->second));
    g.max_reference = std::max(g.max_reference, it->second.abs().max().item<double>());
    ++g.compared;
  }
  return g;
}

}  // namespace lmms::test
