// A user's DSL recipe, built with lmms_add_recipe() in their own project: LLaVA-1.5 with LoRA.
#include <lmms/lmms.hpp>
#include <lmms/models/llava/llava_1_5.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_1_5>{.path = "models/llava-1.5-7b-hf"},
      data::llava_json{.file = "data/train.json", .image_folder = "data/images"},
      llm(lora{.rank = 16, .alpha = 32}),
      projector(full),
      train{.epochs = 1, .lr = 2e-4, .output_dir = "runs/my-llava"},
  };
  return run(recipe, argc, argv);
}
