// recipes/llava/interleave_full.cpp: LLaVA-Interleave, the language model and the projector trained in full,
// vision tower frozen (lmms-finetune's full fine-tuning). Writes a Hugging Face model directory
// (output_dir/model) in the checkpoint's own layout.
//
// Build:  cmake --build build --target llava_interleave_full
// Run:    build/bin/llava_interleave_full                                   (the shipped tiny model and data)
//         build/bin/llava_interleave_full --model.path=/models/llava-interleave-qwen-0.5b-hf --train.lr=2e-5 --precision ...
#include <lmms/lmms.hpp>
#include <lmms/models/llava/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_interleave>{.path = "example_data/models/tiny-llava-interleave-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(full), projector(full), vision(frozen),
      train{.epochs = 40, .batch_size = 8, .lr = 1e-3, .warmup_ratio = 0.1, .eval_steps = 120,
            .output_dir = "runs/llava-interleave-full", .log_every = 60},
  };
  return run(recipe, argc, argv);
}
