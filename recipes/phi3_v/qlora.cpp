// recipes/phi3_v/qlora.cpp: Phi-3-Vision with QLoRA: the language model's Linear layers stored as
// NF4 (double-quantized, as bitsandbytes) under rank-8 adapters; the projection trained in full.
// Writes a PEFT adapter.
//
// Build:  cmake --build build --target phi3_v_qlora
// Run:    build/bin/phi3_v_qlora [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/phi3_v/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<phi3_vision>{.path = "example_data/models/tiny-phi3-v-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
      llm(qlora{{.rank = 8, .alpha = 16, .dropout = 0.05}}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/phi3-v-qlora"},
  };
  return run(recipe, argc, argv);
}
