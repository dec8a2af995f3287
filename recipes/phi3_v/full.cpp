// recipes/phi3_v/full.cpp: Phi-3-Vision fine-tuned in full (language model and projection; the
// CLIP tower and the glb_GN / sub_GN separators frozen, as lmms-finetune keeps them). Writes an
// HF model directory (output_dir/model) in the checkpoint's layout.
//
// Build:  cmake --build build --target phi3_v_full
// Run:    build/bin/phi3_v_full [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/phi3_v/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<phi3_vision>{.path = "example_data/models/tiny-phi3-v-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(full), projector(full), vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 1e-3, .warmup_ratio = 0.1, .output_dir = "runs/phi3-v-full"},
  };
  return run(recipe, argc, argv);
}
