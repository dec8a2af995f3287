// recipes/llava/onevision_lora.cpp: LLaVA-OneVision with LoRA on the language model (every Linear but
// lm_head, rank 8) and the projector trained in full; vision tower frozen. Writes a PEFT
// adapter (output_dir/adapter) that peft.PeftModel.from_pretrained loads.
//
// Build:  cmake --build build --target llava_onevision_lora
// Run:    build/bin/llava_onevision_lora                                   (the shipped tiny model and data)
//         build/bin/llava_onevision_lora --model.path=/models/llava-onevision-qwen2-0.5b-ov-hf --data.file=train.json \
//             --data.image_folder=images --train.output_dir=runs/llava-onevision-lora
//         build/bin/llava_onevision_lora --help | --dry-run | --config runs/x/resolved_recipe.json
#include <lmms/lmms.hpp>
#include <lmms/models/llava/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_onevision>{.path = "example_data/models/tiny-llava-onevision-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(lora{.rank = 8, .alpha = 16, .dropout = 0.05}),
      projector(full),
      vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llava-onevision-lora"},
  };
  return run(recipe, argc, argv);
}
