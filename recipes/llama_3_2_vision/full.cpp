// recipes/llama_3_2_vision/full.cpp: Llama-3.2-Vision, language model and projector trained in
// full, vision encoder frozen. Writes a transformers model directory (output_dir/model).
//
// Build:  cmake --build build --target llama_3_2_vision_full
// Run:    build/bin/llama_3_2_vision_full [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/mllama/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llama_3_2_vision>{.path = "example_data/models/tiny-llama-3.2-vision-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(full), projector(full), vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 1e-3, .warmup_ratio = 0.1, .output_dir = "runs/llama-3.2-vision-full"},
  };
  return run(recipe, argc, argv);
}
