// examples/inspect_checkpoint.cpp: open a Hugging Face model directory, read its config and
// weights, and check that every tensor loads into libtorch.
//
// Build:  cmake --build build --target inspect_checkpoint
// Run:    build/bin/inspect_checkpoint example_data/models/tiny-llava
#include <cstdio>

#include <lmms/lmms.hpp>

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
    return 2;
  }
  using namespace lmms;
  auto config = io::hf_config::load(argv[1]);
  std::printf("model_type: %s\n", config.get_string_or("model_type", "(none)").c_str());
  for (const char* part : {"text_config", "vision_config"})
    if (auto sub = config.section_if(part))
      std::printf("%s: model_type=%s hidden_size=%lld layers=%lld\n", part,
                  sub->get_string_or("model_type", "?").c_str(),
                  static_cast<long long>(sub->get_int_or("hidden_size", -1)),
                  static_cast<long long>(sub->get_int_or("num_hidden_layers", -1)));

  auto weights = io::load_safetensors(argv[1]);
  std::int64_t parameters = 0;
  double sum_of_squares = 0;
  for (const auto& [name, tensor] : weights) {
    parameters += tensor.numel();
    if (tensor.is_floating_point()) sum_of_squares += tensor.to(at::kDouble).pow(2).sum().item<double>();
  }
  std::printf("%zu tensors, %lld parameters, weight norm %.6f (libtorch %s)\n", weights.size(),
              static_cast<long long>(parameters), std::sqrt(sum_of_squares), torch_version().c_str());
  return 0;
} catch (const lmms::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
