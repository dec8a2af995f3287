// recipes/qwen2_5_vl/full.cpp: Qwen2.5-VL, language model and patch merger trained in full, vision
// blocks frozen. Writes an HF model directory (output_dir/model) in the base checkpoint's layout.
//
// Build:  cmake --build build --target qwen2_5_vl_full
// Run:    build/bin/qwen2_5_vl_full [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/qwen2_vl/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<qwen2_5_vl>{.path = "example_data/models/tiny-qwen2.5-vl-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(full), projector(full), vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 1e-3, .warmup_ratio = 0.1, .output_dir = "runs/qwen2.5-vl-full"},
  };
  return run(recipe, argc, argv);
}
