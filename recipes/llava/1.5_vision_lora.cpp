// recipes/llava/1.5_vision_lora.cpp: LLaVA-1.5 with LoRA on the language model and on the CLIP
// tower (same rank, as PEFT keeps one per adapter), the projector in full.
//
// Build:  cmake --build build --target llava_1.5_vision_lora
// Run:    build/bin/llava_1.5_vision_lora [--model.path=DIR --data.file=F --data.image_folder=D ...]
#include <lmms/lmms.hpp>
#include <lmms/models/llava/llava_1_5.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_1_5>{.path = "example_data/models/tiny-llava-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
      llm(lora{.rank = 8}),
      vision(lora{.rank = 8}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llava-1.5-vision-lora"},
  };
  return run(recipe, argc, argv);
}
