// recipes/llava/next_lora.cpp: LLaVA-1.6 (NeXT, Vicuna) with LoRA on the language model (every Linear but
// lm_head, rank 8) and the projector trained in full; vision tower frozen. Writes a PEFT
// adapter (output_dir/adapter) that peft.PeftModel.from_pretrained loads.
//
// Build:  cmake --build build --target llava_next_lora
// Run:    build/bin/llava_next_lora                                   (the shipped tiny model and data)
//         build/bin/llava_next_lora --model.path=/models/llava-v1.6-vicuna-7b-hf --data.file=train.json \
//             --data.image_folder=images --train.output_dir=runs/llava-1.6-lora
//         build/bin/llava_next_lora --help | --dry-run | --config runs/x/resolved_recipe.json
#include <lmms/lmms.hpp>
#include <lmms/models/llava/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_next>{.path = "example_data/models/tiny-llava-next-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(lora{.rank = 8, .alpha = 16, .dropout = 0.05}),
      projector(full),
      vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llava-1.6-lora"},
  };
  return run(recipe, argc, argv);
}
