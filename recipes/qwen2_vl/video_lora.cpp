// recipes/qwen2_vl/video_lora.cpp: Qwen2-VL on videos: LoRA on the language model (rank 8), the
// patch merger in full, vision blocks frozen; 8 frames sampled uniformly from each video
// (FFmpeg; as lmms-finetune samples them). Writes a PEFT adapter (output_dir/adapter).
//
// Build:  cmake --build build --target qwen2_vl_video_lora
// Run:    build/bin/qwen2_vl_video_lora                               (the shipped tiny model and videos)
//         build/bin/qwen2_vl_video_lora --model.path=/models/Qwen2-VL-2B-Instruct --data.file=videos.json \
//             --data.video_folder=clips --data.num_frames=16 --train.output_dir=runs/qwen2-vl-2b-video
#include <lmms/lmms.hpp>
#include <lmms/models/qwen2_vl/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<qwen2_vl>{.path = "example_data/models/tiny-qwen2-vl-shapes"},
      data::llava_json<data::images_and_videos>{.file = "example_data/shapes/train_video.json",
                                                .image_folder = "example_data/shapes/images",
                                                .video_folder = "example_data/shapes/videos",
                                                .eval_file = "example_data/shapes/eval_video.json",
                                                .num_frames = 8},
      llm(lora{.rank = 8, .alpha = 16, .dropout = 0.05}),
      projector(full),
      vision(frozen),
      train{.epochs = 10, .batch_size = 8, .lr = 2e-3, .warmup_ratio = 0.1, .output_dir = "runs/qwen2-vl-video-lora"},
  };
  return run(recipe, argc, argv);
}
