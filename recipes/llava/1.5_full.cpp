// recipes/llava/1.5_full.cpp: LLaVA-1.5, the language model and the projector trained in full,
// vision tower frozen (lmms-finetune's full fine-tuning). Writes a Hugging Face model directory
// (output_dir/model) in the checkpoint's own layout. The main job runs this strategy.
//
// Build:  cmake --build build --target llava_1.5_full
// Run:    build/bin/llava_1.5_full                                   (the shipped tiny model and data)
//         build/bin/llava_1.5_full --model.path=/models/llava-1.5-7b-hf --train.lr=2e-5 --precision ...
#include <lmms/lmms.hpp>
#include <lmms/models/llava/llava_1_5.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_1_5>{.path = "example_data/models/tiny-llava-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(full), projector(full), vision(frozen),
      train{.epochs = 40, .batch_size = 8, .lr = 1e-3, .warmup_ratio = 0.1, .eval_steps = 120,
            .output_dir = "runs/llava-1.5-full", .log_every = 60},
  };
  return run(recipe, argc, argv);
}
