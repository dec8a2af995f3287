// recipes/llama_3_2_vision/lora.cpp: Llama-3.2-Vision with LoRA on the language model (every
// Linear but lm_head, the cross-attention layers' q/k/v/o included; rank 8) and the projector
// trained in full; vision encoder frozen. Writes a PEFT adapter (output_dir/adapter) that
// peft.PeftModel.from_pretrained loads on MllamaForConditionalGeneration.
//
// Build:  cmake --build build --target llama_3_2_vision_lora
// Run:    build/bin/llama_3_2_vision_lora                                (the shipped tiny model and data)
//         build/bin/llama_3_2_vision_lora --model.path=/models/Llama-3.2-11B-Vision-Instruct \
//             --data.file=train.json --data.image_folder=images --train.output_dir=runs/llama-vision-lora
//         build/bin/llama_3_2_vision_lora --help | --dry-run | --config runs/x/resolved_recipe.json
#include <lmms/lmms.hpp>
#include <lmms/models/mllama/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llama_3_2_vision>{.path = "example_data/models/tiny-llama-3.2-vision-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(lora{.rank = 8, .alpha = 16, .dropout = 0.05}),
      projector(full),
      vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llama-3.2-vision-lora"},
  };
  return run(recipe, argc, argv);
}
