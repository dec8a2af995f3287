// recipes/qwen_vl/lora.cpp: Qwen-VL-Chat with LoRA on the language model (c_attn, c_proj, w1,
// w2 of every block; rank 8) and the resampler (transformer.visual.attn_pool) trained in full;
// the ViT frozen. Writes a PEFT adapter (output_dir/adapter) whose module names are the
// checkpoint's (QWenLMHeadModel of the remote code).
//
// Build:  cmake --build build --target qwen_vl_lora
// Run:    build/bin/qwen_vl_lora                                          (the shipped tiny model and data)
//         build/bin/qwen_vl_lora --model.path=/models/Qwen-VL-Chat \
//             --data.file=train.json --data.image_folder=images --train.output_dir=runs/qwen-vl-lora
//         build/bin/qwen_vl_lora --help | --dry-run | --config runs/x/resolved_recipe.json
#include <lmms/lmms.hpp>
#include <lmms/models/qwen_vl/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<qwen_vl_chat>{.path = "example_data/models/tiny-qwen-vl-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(lora{.rank = 8, .alpha = 16, .dropout = 0.05}),
      projector(full),
      vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/qwen-vl-lora"},
  };
  return run(recipe, argc, argv);
}
