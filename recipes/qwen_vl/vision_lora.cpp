// recipes/qwen_vl/vision_lora.cpp: Qwen-VL-Chat with LoRA on the language model and on the ViT's
// blocks (attn.in_proj, attn.out_proj, mlp.c_fc, mlp.c_proj; one rank for both, as a PEFT
// adapter has), the resampler trained in full. Writes a PEFT adapter.
//
// Build:  cmake --build build --target qwen_vl_vision_lora
// Run:    build/bin/qwen_vl_vision_lora [--model.path=... --data.file=... --train.output_dir=...]
#include <lmms/lmms.hpp>
#include <lmms/models/qwen_vl/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<qwen_vl_chat>{.path = "example_data/models/tiny-qwen-vl-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
      llm(lora{.rank = 8}),
      vision(lora{.rank = 8}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/qwen-vl-vision-lora"},
  };
  return run(recipe, argc, argv);
}
