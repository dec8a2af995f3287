// recipes/llama_3_2_vision/vision_lora.cpp: Llama-3.2-Vision with LoRA (rank 8) on the language
// model and on the vision encoder's local and global layers, the projector trained in full.
// Writes one PEFT adapter for both.
//
// Build:  cmake --build build --target llama_3_2_vision_vision_lora
// Run:    build/bin/llama_3_2_vision_vision_lora [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/mllama/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llama_3_2_vision>{.path = "example_data/models/tiny-llama-3.2-vision-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
      llm(lora{.rank = 8}),
      vision(lora{.rank = 8}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llama-3.2-vision-vision-lora"},
  };
  return run(recipe, argc, argv);
}
