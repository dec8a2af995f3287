// lmms/nn/linear.hpp: a Linear layer (HF parameter names weight / bias) that can carry a LoRA
// adapter (PEFT names lora_A.weight / lora_B.weight).
//
//   y = x W^T + b  +  dropout(x) A^T B^T * scaling,   scaling = alpha / r  (alpha / sqrt(r) with rsLoRA)
//
// The base weight is frozen when an adapter is attached; A is initialised as PEFT does
// (Kaiming-uniform with a = sqrt(5)), B with zeros, so a fresh adapter changes nothing.
// DoRA (PEFT's use_dora) adds a magnitude vector m, initialised to the row norms of W:
//   y = b + m / ||W + s B A||_row * (W x + s B A x)     (the norm detached, as in PEFT)
#pragma once

#include <optional>

#include "lmms/nn/nf4.hpp"
#include "lmms/torch.hpp"

namespace lmms::nn {

struct lora_options {
  std::int64_t rank = 8;
  double alpha = 16;
  double dropout = 0.05;
  bool rslora = false;  // scaling alpha / sqrt(rank)
  bool dora = false;    // weight-decomposed LoRA: a trained magnitude per output row
};

class linear_impl : public torch::nn::Module {
 public:
  linear_impl(std::int64_t in_features, std::int64_t out_features, bool bias);

  at::Tensor forward(const at::Tensor& x);

  /// Attaches a LoRA adapter and freezes the base weight and bias.
  void add_lora(const lora_options& options);
  /// QLoRA: stores the (frozen) base weight as NF4 with double quantization and frees the
  /// float copy; forward dequantizes it to the input's dtype.
  void quantize_nf4();
  bool is_nf4() const { return nf4_.has_value(); }
  bool has_lora() const { return lora_.has_value(); }
  const std::optional<lora_options>& lora() const { return lora_; }
  double lora_scaling() const;

  at::Tensor weight, bias;          // bias undefined when absent
  at::Tensor lora_a, lora_b;        // registered under lora_A / lora_B (submodules) when present
  at::Tensor lora_magnitude;        // DoRA: registered as lora_magnitude_vector.weight

 private:
  std::int64_t in_, out_;
  std::optional<lora_options> lora_;
  std::optional<nf4_tensor> nf4_;
  at::Tensor base_weight(const at::Tensor& x) const {
    return nf4_ ? nf4_dequantize(*nf4_, x.scalar_type()) : weight;
  }
};
TORCH_MODULE_IMPL(linear, linear_impl);

}  // namespace lmms::nn

#ifdef LMMS_IMPLEMENTATION
#include <cmath>

namespace lmms::nn {

namespace {
// PEFT keeps A and B as nn.Linear submodules named lora_A.default / lora_B.default; their
// state-dict keys (without the adapter name) are lora_A.weight / lora_B.weight.
class weight_holder_impl : public torch::nn::Module {
 public:
  explicit weight_holder_impl(at::Tensor w) { weight = register_parameter("weight", std::move(w)); }
  at::Tensor weight;
};
TORCH_MODULE_IMPL(weight_holder, weight_holder_impl);
}  // namespace

linear_impl::linear_impl(std::int64_t in_features, std::int64_t out_features, bool with_bias)
    : in_(in_features), out_(out_features) {
  weight = register_parameter("weight", at::empty({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", at::zeros({out_features}));
  // nn.Linear's init; checkpoints overwrite it.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  { at::NoGradGuard g; weight.uniform_(-bound, bound); if (bias.defined()) bias.uniform_(-bound, bound); }
}

double linear_impl::lora_scaling() const {
  if (!lora_) return 0.0;
  return lora_->rslora ? lora_->alpha / std::sqrt(static_cast<double>(lora_->rank)) : lora_->alpha / lora_->rank;
}

void linear_impl::add_lora(const lora_options& options) {
  lora_ = options;
  weight.set_requires_grad(false);
  if (bias.defined()) bias.set_requires_grad(false);
  auto opts = weight.options().requires_grad(false);
  at::Tensor a = at::empty({options.rank, in_}, opts);
  {
    at::NoGradGuard g;
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_));  // kaiming_uniform_(a=sqrt(5))
    a.uniform_(-bound, bound);
  }
  auto A = register_module("lora_A", weight_holder(a.set_requires_grad(true)));
  auto B = register_module("lora_B", weight_holder(at::zeros({out_, options.rank}, opts).set_requires_grad(true)));
  lora_a = A->weight;
  lora_b = B->weight;
  if (options.dora) {  // with B = 0, ||W + s B A|| is ||W||
    at::Tensor norms = at::linalg_vector_norm(weight.detach(), 2, {1}).set_requires_grad(true);
    lora_magnitude = register_module("lora_magnitude_vector", weight_holder(norms))->weight;
  }
}

void linear_impl::quantize_nf4() {
  if (nf4_) return;
  nf4_ = nf4_quantize(weight);
  at::NoGradGuard g;
  weight.set_requires_grad(false);
  weight.set_data(at::empty({0}, weight.options()));  // the float copy is gone
}

at::Tensor linear_impl::forward(const at::Tensor& x) {
  const at::Tensor weight = base_weight(x);
  if (lora_ && lora_->dora) {  // PEFT's DoraLinearLayer.forward, step by step
    at::Tensor base = at::linear(x, weight);
    at::Tensor h = x, base_h = base;
    if (is_training() && lora_->dropout > 0) {
      h = at::dropout(x, lora_->dropout, true);
      base_h = at::linear(h, weight);
    }
    const double s = lora_scaling();
    at::Tensor weight_norm = at::linalg_vector_norm(weight + s * at::matmul(lora_b, lora_a).detach(), 2, {1}).detach();
    at::Tensor scale = lora_magnitude / weight_norm;
    at::Tensor y = base + (scale - 1) * base_h + scale * at::linear(at::linear(h, lora_a), lora_b) * s;
    return bias.defined() ? y + bias : y;
  }
  at::Tensor y = at::linear(x, weight, bias);
  if (lora_) {
    at::Tensor h = x;
    if (is_training() && lora_->dropout > 0) h = at::dropout(h, lora_->dropout, true);
    y = y + at::linear(at::linear(h, lora_a), lora_b) * lora_scaling();
  }
  return y;
}

}  // namespace lmms::nn
#endif  // LMMS_IMPLEMENTATION
