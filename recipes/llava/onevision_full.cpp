// recipes/llava/onevision_full.cpp: LLaVA-OneVision, the language model and the projector trained in full,
// vision tower frozen (lmms-finetune's full fine-tuning). Writes a Hugging Face model directory
// (output_dir/model) in the checkpoint's own layout.
//
// Build:  cmake --build build --target llava_onevision_full
// Run:    build/bin/llava_onevision_full                                   (the shipped tiny model and data)
//         build/bin/llava_onevision_full --model.path=/models/llava-onevision-qwen2-0.5b-ov-hf --train.lr=2e-5 --precision ...
#include <lmms/lmms.hpp>
#include <lmms/models/llava/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_onevision>{.path = "example_data/models/tiny-llava-onevision-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(full), projector(full), vision(frozen),
      train{.epochs = 40, .batch_size = 8, .lr = 1e-3, .warmup_ratio = 0.1, .eval_steps = 120,
            .output_dir = "runs/llava-onevision-full", .log_every = 60},
  };
  return run(recipe, argc, argv);
}
