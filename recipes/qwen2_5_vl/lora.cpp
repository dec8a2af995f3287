// recipes/qwen2_5_vl/lora.cpp: Qwen2.5-VL with LoRA on the language model (every Linear but
// lm_head, rank 8) and the patch merger trained in full; vision blocks frozen. Writes a PEFT
// adapter (output_dir/adapter) that peft.PeftModel.from_pretrained loads.
//
// Build:  cmake --build build --target qwen2_5_vl_lora
// Run:    build/bin/qwen2_5_vl_lora                                    (the shipped tiny model and data)
//         build/bin/qwen2_5_vl_lora --model.path=/models/Qwen2.5-VL-3B-Instruct --data.file=train.json \
//             --data.image_folder=images --train.output_dir=runs/qwen2.5-vl-3b-lora
//         build/bin/qwen2_5_vl_lora --help | --dry-run | --config runs/x/resolved_recipe.json
#include <lmms/lmms.hpp>
#include <lmms/models/qwen2_vl/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<qwen2_5_vl>{.path = "example_data/models/tiny-qwen2.5-vl-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(lora{.rank = 8, .alpha = 16, .dropout = 0.05}),
      projector(full),
      vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/qwen2.5-vl-lora"},
  };
  return run(recipe, argc, argv);
}
