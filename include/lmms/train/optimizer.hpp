// lmms/train/optimizer.hpp: AdamW (decoupled weight decay) over parameter groups, stepping each
// group with ATen's fused multi-tensor kernel (_fused_adamw_: one pass over parameter, gradient
// and both moments, instead of the seven tensor-wide passes of torch::optim::AdamW), and the
// global gradient norm with clipping by multi-tensor ops (no gradient-sized temporaries).
//
//   training::adamw opt({{decay_params, 0.01}, {norm_and_bias_params, 0.0}});
//   double norm = training::clip_grad_norm(params, 1.0);
//   opt.step(lr);  opt.zero_grad();
//
// Parameters whose gradient is undefined in a step are skipped (their moments untouched), as
// torch.optim does for p.grad is None.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lmms/torch.hpp"

namespace lmms::training {

class adamw {
 public:
  struct group {
    std::vector<at::Tensor> params;
    double weight_decay = 0.0;
  };
  explicit adamw(std::vector<group> groups, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);

  void step(double lr);
  void zero_grad();  // gradients set to undefined (set_to_none)

  /// Per parameter: its first and second moment and its step count (undefined before its first step).
  struct state {
    at::Tensor exp_avg, exp_avg_sq, step;  // step: a float32 scalar tensor, as the fused kernel takes it
  };
  /// The state of a parameter (by identity), or nullptr if it has not stepped yet.
  const state* state_of(const at::Tensor& param) const;
  /// Sets a parameter's state (resume); the tensors are copied.
  void set_state(const at::Tensor& param, const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq, std::int64_t step);

 private:
  std::vector<group> groups_;
  std::vector<std::vector<state>> states_;  // parallel to groups_[g].params
  double beta1_, beta2_, eps_;
};

/// The global L2 norm of the defined gradients of `params`; when above max_norm (> 0), scales
/// them by max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_ does. Returns the norm
/// before clipping.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace lmms::training

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/train/optimizer_impl.hpp"
#endif
