// examples/custom_model/clip_qwen2_lora.cpp: a recipe for the user-defined model of
// clip_qwen2.hpp, written exactly like a recipe for a shipped model: LoRA on the LLM, the new
// projector in full, the tower frozen, on the shipped shapes data.
//
//   build/bin/clip_qwen2_lora                         (from the lmms checkout: its defaults point there)
//   build/bin/clip_qwen2_lora --train.max_steps=20 --train.output_dir=runs/mine
#include <lmms/lmms.hpp>

#include "clip_qwen2.hpp"

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<my::clip_qwen2>{.path = "examples/custom_model/tiny"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(lora{.rank = 8, .alpha = 16}),
      projector(full),
      vision(frozen),
      train{.epochs = 4, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/clip-qwen2-lora"},
  };
  return run(recipe, argc, argv);
}
