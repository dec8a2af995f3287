// recipes/llava/next_video_lora.cpp: LLaVA-NeXT-Video with LoRA on the language model (every Linear but
// lm_head, rank 8) and the projector trained in full; vision tower frozen. Writes a PEFT
// adapter (output_dir/adapter) that peft.PeftModel.from_pretrained loads.
//
// Build:  cmake --build build --target llava_next_video_lora
// Run:    build/bin/llava_next_video_lora                                   (the shipped tiny model and data)
//         build/bin/llava_next_video_lora --model.path=/models/LLaVA-NeXT-Video-7B-hf --data.file=train.json \
//             --data.image_folder=images --train.output_dir=runs/llava-next-video-lora
//         build/bin/llava_next_video_lora --help | --dry-run | --config runs/x/resolved_recipe.json
#include <lmms/lmms.hpp>
#include <lmms/models/llava/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_next_video>{.path = "example_data/models/tiny-llava-next-video-shapes"},
      data::llava_json<data::images_and_videos>{.file = "example_data/shapes/train_video.json",
                                                .video_folder = "example_data/shapes/videos",
                                                .eval_file = "example_data/shapes/eval_video.json", .num_frames = 8},
      llm(lora{.rank = 8, .alpha = 16, .dropout = 0.05}),
      projector(full),
      vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llava-next-video-lora"},
  };
  return run(recipe, argc, argv);
}
