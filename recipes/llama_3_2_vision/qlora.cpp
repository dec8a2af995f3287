// recipes/llama_3_2_vision/qlora.cpp: Llama-3.2-Vision with QLoRA: the language model's Linear
// layers (cross-attention ones included) stored as NF4 (double-quantized, as bitsandbytes) under
// rank-8 adapters; the projector trained in full. Writes a PEFT adapter.
//
// Build:  cmake --build build --target llama_3_2_vision_qlora
// Run:    build/bin/llama_3_2_vision_qlora [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/mllama/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llama_3_2_vision>{.path = "example_data/models/tiny-llama-3.2-vision-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
      llm(qlora{{.rank = 8, .alpha = 16, .dropout = 0.05}}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llama-3.2-vision-qlora"},
  };
  return run(recipe, argc, argv);
}
