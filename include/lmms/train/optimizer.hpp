// lmms/train/optimizer.hpp: AdamW (decoupled weight decay) over parameter groups, stepping each
// group with ATen's fused multi-tensor kernel (_fused_adamw_: one pass over parameter, gradient
// and both moments, instead of the seven tensor-wide passes of torch::optim::AdamW), and the
// global gradient norm with clipping by multi-tensor ops (no gradient-sized temporaries).
//
//   training::adamw opt({{decay_params, 0.01}, {norm_and_bias_params, 0.0}});
//   double norm = training::clip_grad_norm(params, 1.0);
//   opt.step(lr);  opt.zero_grad();
//   training::loss_scaler scaler;   // fp16: (loss * scaler.scale).backward(); scaler.unscale(params); ...
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

/// fp16 training's dynamic loss scale, as torch.amp.GradScaler (transformers' Trainer with
/// --fp16): the loss is multiplied by `scale` before backward and the gradients divided by it
/// before clipping; a step whose gradients are not finite is skipped and the scale halved;
/// after growth_interval good steps in a row the scale doubles.
struct loss_scaler {
  double scale = 65536.0;
  double growth_factor = 2.0, backoff_factor = 0.5;
  std::int64_t growth_interval = 2000;
  std::int64_t growth_tracker = 0;  // good steps since the last change
  /// Divides every defined gradient by the scale (in float32, as GradScaler's inv_scale).
  void unscale(const std::vector<at::Tensor>& params) const;
  /// After a step: found_inf backs off, else counts towards growth.
  void update(bool found_inf);
};

}  // namespace lmms::training

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/train/optimizer_impl.hpp"
#endif
