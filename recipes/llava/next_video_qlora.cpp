// recipes/llava/next_video_qlora.cpp: LLaVA-NeXT-Video with QLoRA on the language model (NF4 base weights
// with double quantization, LoRA rank 8 on top), projector in full, vision tower frozen.
// Trains on the shipped shape videos (8 frames each). Writes a PEFT adapter for the unquantized base.
//
// Build:  cmake --build build --target llava_next_video_qlora
// Run:    build/bin/llava_next_video_qlora [--model.path=DIR --data.file=F --data.image_folder=D ...]
#include <lmms/lmms.hpp>
#include <lmms/models/llava/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_next_video>{.path = "example_data/models/tiny-llava-next-video-shapes"},
      data::llava_json<data::images_and_videos>{.file = "example_data/shapes/train_video.json",
                                                .video_folder = "example_data/shapes/videos", .num_frames = 8},
      llm(qlora{{.rank = 8, .alpha = 16, .dropout = 0.05}}),
      projector(full),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llava-next-video-qlora"},
  };
  return run(recipe, argc, argv);
}
