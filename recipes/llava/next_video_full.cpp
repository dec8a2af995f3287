// recipes/llava/next_video_full.cpp: LLaVA-NeXT-Video, the language model and the projector trained in full,
// vision tower frozen (lmms-finetune's full fine-tuning). Writes a Hugging Face model directory
// (output_dir/model) in the checkpoint's own layout.
//
// Build:  cmake --build build --target llava_next_video_full
// Run:    build/bin/llava_next_video_full                                   (the shipped tiny model and data)
//         build/bin/llava_next_video_full --model.path=/models/LLaVA-NeXT-Video-7B-hf --train.lr=2e-5 --precision ...
#include <lmms/lmms.hpp>
#include <lmms/models/llava/recipe.hpp>

using namespace lmms;

int main(int argc, char** argv) {
  auto recipe = Recipe{
      model<llava_next_video>{.path = "example_data/models/tiny-llava-next-video-shapes"},
      data::llava_json<data::images_and_videos>{.file = "example_data/shapes/train_video.json",
                                                .video_folder = "example_data/shapes/videos",
                                                .eval_file = "example_data/shapes/eval_video.json", .num_frames = 8},
      llm(full), projector(full), vision(frozen),
      train{.epochs = 40, .batch_size = 8, .lr = 1e-3, .warmup_ratio = 0.1, .eval_steps = 120,
            .output_dir = "runs/llava-next-video-full", .log_every = 60},
  };
  return run(recipe, argc, argv);
}
