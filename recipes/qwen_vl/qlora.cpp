// recipes/qwen_vl/qlora.cpp: Qwen-VL-Chat with QLoRA: the language model's Linear layers stored
// as NF4 (double-quantized, as bitsandbytes) under rank-8 adapters; the resampler trained in
// full. Writes a PEFT adapter.
//
// Build:  cmake --build build --target qwen_vl_qlora
// Run:    build/bin/qwen_vl_qlora [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/qwen_vl/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<qwen_vl_chat>{.path = "example_data/models/tiny-qwen-vl-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
      llm(qlora{{.rank = 8, .alpha = 16, .dropout = 0.05}}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/qwen-vl-qlora"},
  };
  return run(recipe, argc, argv);
}
