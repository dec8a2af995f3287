// recipes/llava/onevision_video_lora.cpp: LLaVA-OneVision on videos: LoRA on the language model
// (rank 8), the projector in full, SigLIP frozen; 8 frames sampled uniformly from each video
// (FFmpeg, as lmms-finetune samples them), each frame one tile pooled 2x2. Writes a PEFT adapter.
//
// Build:  cmake --build build --target llava_onevision_video_lora
// Run:    build/bin/llava_onevision_video_lora                        (the shipped tiny model and videos)
//         build/bin/llava_onevision_video_lora --model.path=/models/llava-onevision-qwen2-0.5b-ov-hf \
//             --data.file=videos.json --data.video_folder=clips --data.num_frames=16
#include <lmms/lmms.hpp>
#include <lmms/models/llava/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_onevision>{.path = "example_data/models/tiny-llava-onevision-shapes"},
      data::llava_json<data::images_and_videos>{.file = "example_data/shapes/train_video.json",
                                                .image_folder = "example_data/shapes/images",
                                                .video_folder = "example_data/shapes/videos",
                                                .eval_file = "example_data/shapes/eval_video.json",
                                                .num_frames = 8},
      llm(lora{.rank = 8, .alpha = 16, .dropout = 0.05}),
      projector(full),
      vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/llava-onevision-video-lora"},
  };
  return run(recipe, argc, argv);
}
