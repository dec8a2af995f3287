// recipes/phi3_v/vision_lora.cpp: Phi-3-Vision with LoRA on the language model and on the CLIP
// tower (q/k/v/out_proj, fc1, fc2; one rank for both, as a PEFT adapter has), the projection
// trained in full. Writes a PEFT adapter.
//
// Build:  cmake --build build --target phi3_v_vision_lora
// Run:    build/bin/phi3_v_vision_lora [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/phi3_v/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<phi3_vision>{.path = "example_data/models/tiny-phi3-v-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
      llm(lora{.rank = 8}),
      vision(lora{.rank = 8}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/phi3-v-vision-lora"},
  };
  return run(recipe, argc, argv);
}
