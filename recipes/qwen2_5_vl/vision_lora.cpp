// recipes/qwen2_5_vl/vision_lora.cpp: Qwen2.5-VL with LoRA on the language model and on the vision
// blocks (qkv, proj, gate_proj, up_proj, down_proj), the patch merger trained in full. Writes one PEFT adapter.
//
// Build:  cmake --build build --target qwen2_5_vl_vision_lora
// Run:    build/bin/qwen2_5_vl_vision_lora [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/qwen2_vl/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<qwen2_5_vl>{.path = "example_data/models/tiny-qwen2.5-vl-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
      llm(lora{.rank = 8}),
      vision(lora{.rank = 8}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/qwen2.5-vl-vision-lora"},
  };
  return run(recipe, argc, argv);
}
