// recipes/qwen2_5_vl/qlora.cpp: Qwen2.5-VL with QLoRA: the language model's Linear layers stored as
// NF4 (double-quantized, as bitsandbytes) under rank-8 adapters; the patch merger trained in
// full. Writes a PEFT adapter.
//
// Build:  cmake --build build --target qwen2_5_vl_qlora
// Run:    build/bin/qwen2_5_vl_qlora [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/qwen2_vl/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<qwen2_5_vl>{.path = "example_data/models/tiny-qwen2.5-vl-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
      llm(qlora{{.rank = 8, .alpha = 16, .dropout = 0.05}}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/qwen2.5-vl-qlora"},
  };
  return run(recipe, argc, argv);
}
