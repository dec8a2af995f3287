// lmms/nn/precision.hpp: mixed precision on the CPU (and later CUDA): a scope in which
// matmul-heavy ops (linear, matmul, attention) run in bf16 (or fp16) while parameters, optimizer
// state and the loss stay float32, as torch.autocast(device_type, dtype=...) does in
// transformers' Trainer with --bf16 / --fp16. Float32 parameters are the master weights; fp16
// training also scales the loss (training::loss_scaler), as Trainer's GradScaler does.
#pragma once

#include <ATen/autocast_mode.h>

#include "lmms/torch.hpp"

namespace lmms::nn {

enum class precision { fp32, bf16, fp16 };

/// RAII: autocast to bf16 / fp16 on `device` while alive (nothing for fp32).
class autocast_scope {
 public:
  explicit autocast_scope(precision p, at::DeviceType device = at::kCPU) : device_(device), active_(p != precision::fp32) {
    if (!active_) return;
    was_enabled_ = at::autocast::is_autocast_enabled(device_);
    was_dtype_ = at::autocast::get_autocast_dtype(device_);
    at::autocast::set_autocast_enabled(device_, true);
    at::autocast::set_autocast_dtype(device_, p == precision::fp16 ? at::kHalf : at::kBFloat16);
  }
  ~autocast_scope() {
    if (!active_) return;
    at::autocast::set_autocast_enabled(device_, was_enabled_);
    at::autocast::set_autocast_dtype(device_, was_dtype_);
    if (!was_enabled_) at::autocast::clear_cache();
  }
  autocast_scope(const autocast_scope&) = delete;
  autocast_scope& operator=(const autocast_scope&) = delete;

 private:
  at::DeviceType device_;
  bool active_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

}  // namespace lmms::nn
