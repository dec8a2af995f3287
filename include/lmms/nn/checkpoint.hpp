// lmms/nn/checkpoint.hpp: activation checkpointing. The forward runs without keeping
// activations; backward recomputes it (with the same RNG state, so dropout masks repeat) and
// backpropagates through the recomputation, as torch.utils.checkpoint does (reentrant form).
// libtorch has no C++ checkpoint API; this is a custom autograd function.
//
//   h = nn::checkpoint([&](const at::Tensor& x) { return layer->forward(x, cos, sin, mask); }, h);
//
// Gradients equal those without checkpointing; memory holds one input per checkpointed call
// instead of every intermediate activation.
#pragma once

#include <functional>

#include "lmms/torch.hpp"

namespace lmms::nn {

at::Tensor checkpoint(std::function<at::Tensor(const at::Tensor&)> fn, const at::Tensor& input);

}  // namespace lmms::nn

#ifdef LMMS_IMPLEMENTATION
#include <ATen/CPUGeneratorImpl.h>

namespace lmms::nn {

namespace {
struct function_holder : torch::CustomClassHolder {
  std::function<at::Tensor(const at::Tensor&)> fn;
  at::Tensor rng_state;  // the CPU generator before the forward, restored for the recompute
};

struct checkpoint_function : torch::autograd::Function<checkpoint_function> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor input, c10::intrusive_ptr<function_holder> h) {
    h->rng_state = at::detail::getDefaultCPUGenerator().get_state();
    ctx->save_for_backward({input});
    ctx->saved_data["fn"] = c10::IValue::make_capsule(c10::intrusive_ptr<torch::CustomClassHolder>(h));
    at::NoGradGuard no_grad;
    return h->fn(input);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto h = c10::static_intrusive_pointer_cast<function_holder>(ctx->saved_data["fn"].toCapsule());
    at::Tensor input = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    at::Tensor after_forward = generator.get_state();
    generator.set_state(h->rng_state);  // same dropout masks as the first forward
    at::Tensor output;
    {
      at::AutoGradMode enable(true);
      output = h->fn(input);
    }
    generator.set_state(after_forward);
    output.backward(grad_outputs[0]);  // reentrant backward: accumulates parameter grads
    return {input.grad(), at::Tensor()};
  }
};
}  // namespace

at::Tensor checkpoint(std::function<at::Tensor(const at::Tensor&)> fn, const at::Tensor& input) {
  if (!at::GradMode::is_enabled()) return fn(input);
  auto holder = c10::make_intrusive<function_holder>();
  holder->fn = std::move(fn);
  // With frozen embeddings (LoRA) the input needs no grad, and a custom function whose inputs
  // need none is left out of the graph: make it require grad (HF's enable_input_require_grads).
  at::Tensor x = input.requires_grad() ? input : input.detach().requires_grad_(true);
  return checkpoint_function::apply(x, holder);
}

}  // namespace lmms::nn
#endif  // LMMS_IMPLEMENTATION
