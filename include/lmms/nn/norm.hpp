// lmms/nn/norm.hpp: LayerNorm with transformers' parameter names (weight, bias), for the
// vision towers (CLIP, SigLIP, Qwen2-VL).
#pragma once

#include "lmms/torch.hpp"

namespace lmms::nn {

class layer_norm_impl : public torch::nn::Module {
 public:
  layer_norm_impl(std::int64_t dim, double eps) : dim_(dim), eps_(eps) {
    weight = register_parameter("weight", at::ones({dim}));
    bias = register_parameter("bias", at::zeros({dim}));
  }
  at::Tensor forward(const at::Tensor& x) { return at::layer_norm(x, {dim_}, weight, bias, eps_); }
  at::Tensor weight, bias;

 private:
  std::int64_t dim_;
  double eps_;
};
TORCH_MODULE_IMPL(layer_norm, layer_norm_impl);

}  // namespace lmms::nn
