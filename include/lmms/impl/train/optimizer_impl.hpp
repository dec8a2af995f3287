// Implementation of lmms/train/optimizer.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include "lmms/core/error.hpp"
#include "lmms/train/optimizer.hpp"

namespace lmms::training {

adamw::adamw(std::vector<group> groups, double beta1, double beta2, double eps)
    : groups_(std::move(groups)), beta1_(beta1), beta2_(beta2), eps_(eps) {
  for (const auto& g : groups_) states_.emplace_back(g.params.size());
}

void adamw::step(double lr) {
  at::NoGradGuard no_grad;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
    for (std::size_t i = 0; i < groups_[gi].params.size(); ++i) {
      const at::Tensor& p = groups_[gi].params[i];
      if (!p.grad().defined()) continue;
      state& s = states_[gi][i];
      if (!s.step.defined()) {
        s.exp_avg = at::zeros_like(p, at::MemoryFormat::Preserve);
        s.exp_avg_sq = at::zeros_like(p, at::MemoryFormat::Preserve);
        s.step = at::zeros({}, at::kFloat);
      }
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(s.exp_avg);
      exp_avg_sqs.push_back(s.exp_avg_sq);
      steps.push_back(s.step);
    }
    if (params.empty()) continue;
    at::_foreach_add_(steps, 1);  // the kernel reads the step count; torch.optim increments it first
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, {}, steps, lr, beta1_, beta2_, groups_[gi].weight_decay, eps_,
                      /*amsgrad=*/false, /*maximize=*/false);
  }
}

void adamw::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.mutable_grad() = at::Tensor();
}

const adamw::state* adamw::state_of(const at::Tensor& param) const {
  for (std::size_t gi = 0; gi < groups_.size(); ++gi)
    for (std::size_t i = 0; i < groups_[gi].params.size(); ++i)
      if (groups_[gi].params[i].is_same(param)) return states_[gi][i].step.defined() ? &states_[gi][i] : nullptr;
  return nullptr;
}

void adamw::set_state(const at::Tensor& param, const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq, std::int64_t step) {
  for (std::size_t gi = 0; gi < groups_.size(); ++gi)
    for (std::size_t i = 0; i < groups_[gi].params.size(); ++i)
      if (groups_[gi].params[i].is_same(param)) {
        if (exp_avg.sizes() != param.sizes() || exp_avg_sq.sizes() != param.sizes())
          fail("optimizer state of shape ", exp_avg.sizes(), " for a parameter of shape ", param.sizes());
        states_[gi][i] = {exp_avg.to(param.options()).clone(), exp_avg_sq.to(param.options()).clone(),
                          at::full({}, static_cast<double>(step), at::kFloat)};
        return;
      }
  fail("set_state: the parameter is not in the optimizer");
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  // norms per tensor in one multi-tensor pass, in float64 to add them up
  std::vector<at::Tensor> norms = at::_foreach_norm(grads, 2);
  const double norm = at::stack(norms).to(at::kDouble).pow(2).sum().sqrt().item<double>();
  if (max_norm > 0 && norm > max_norm) at::_foreach_mul_(grads, max_norm / (norm + 1e-6));
  return norm;
}

void loss_scaler::unscale(const std::vector<at::Tensor>& params) const {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  const float inv = static_cast<float>(1.0 / scale);  // GradScaler: scale.double().reciprocal().float()
  at::_foreach_mul_(grads, at::Scalar(static_cast<double>(inv)));
}

void loss_scaler::update(bool found_inf) {
  if (found_inf) {
    scale *= backoff_factor;
    growth_tracker = 0;
    return;
  }
  if (++growth_tracker == growth_interval) {
    scale *= growth_factor;
    growth_tracker = 0;
  }
}

}  // namespace lmms::training
