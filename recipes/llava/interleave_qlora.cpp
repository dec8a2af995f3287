// recipes/llava/interleave_qlora.cpp: LLaVA-Interleave with QLoRA on the language model (NF4 base weights
// with double quantization, LoRA rank 8 on top), projector in full, vision tower frozen.
// Writes a PEFT adapter for the unquantized base.
//
// Build:  cmake --build build --target llava_interleave_qlora
// Run:    build/bin/llava_interleave_qlora [--model.path=DIR --data.file=F --data.image_folder=D ...]
#include <lmms/lmms.hpp>
#include <lmms/models/llava/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_interleave>{.path = "example_data/models/tiny-llava-interleave-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
      llm(qlora{{.rank = 8, .alpha = 16, .dropout = 0.05}}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llava-interleave-qlora"},
  };
  return run(recipe, argc, argv);
}
