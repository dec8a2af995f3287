// recipes/llava/next_video_vision_lora.cpp: LLaVA-NeXT-Video with LoRA on the language model and on the CLIP
// tower (same rank, as PEFT keeps one per adapter), the projector in full.
//
// Build:  cmake --build build --target llava_next_video_vision_lora
// Run:    build/bin/llava_next_video_vision_lora [--model.path=DIR --data.file=F --data.image_folder=D ...]
#include <lmms/lmms.hpp>
#include <lmms/models/llava/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_next_video>{.path = "example_data/models/tiny-llava-next-video-shapes"},
      data::llava_json<data::images_and_videos>{.file = "example_data/shapes/train_video.json",
                                                .video_folder = "example_data/shapes/videos", .num_frames = 8},
      llm(lora{.rank = 8}),
      vision(lora{.rank = 8}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llava-next-video-vision-lora"},
  };
  return run(recipe, argc, argv);
}
