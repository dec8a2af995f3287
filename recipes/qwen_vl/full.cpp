// recipes/qwen_vl/full.cpp: Qwen-VL-Chat fine-tuned in full (language model and resampler; the
// ViT frozen, as lmms-finetune's default keeps it). Writes a model directory (output_dir/model)
// in the checkpoint's layout, loadable by the remote code.
//
// Build:  cmake --build build --target qwen_vl_full
// Run:    build/bin/qwen_vl_full [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/qwen_vl/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<qwen_vl_chat>{.path = "example_data/models/tiny-qwen-vl-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(full), projector(full), vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 1e-3, .warmup_ratio = 0.1, .output_dir = "runs/qwen-vl-full"},
  };
  return run(recipe, argc, argv);
}
