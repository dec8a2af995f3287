// recipes/phi3_v/lora.cpp: Phi-3-Vision with LoRA on the language model (qkv_proj, o_proj,
// gate_up_proj, down_proj of every layer; rank 8) and the projection trained in full; the CLIP
// tower frozen. Writes a PEFT adapter (output_dir/adapter) whose module names are the
// checkpoint's (Phi3VForCausalLM of the remote code).
//
// Build:  cmake --build build --target phi3_v_lora
// Run:    build/bin/phi3_v_lora                                          (the shipped tiny model and data)
//         build/bin/phi3_v_lora --model.path=/models/Phi-3-vision-128k-instruct \
//             --data.file=train.json --data.image_folder=images --train.output_dir=runs/phi3-v-lora
//         build/bin/phi3_v_lora --help | --dry-run | --config runs/x/resolved_recipe.json
#include <lmms/lmms.hpp>
#include <lmms/models/phi3_v/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<phi3_vision>{.path = "example_data/models/tiny-phi3-v-shapes"},
      data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images",
                       .eval_file = "example_data/shapes/eval.json"},
      llm(lora{.rank = 8, .alpha = 16, .dropout = 0.05}),
      projector(full),
      vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/phi3-v-lora"},
  };
  return run(recipe, argc, argv);
}
