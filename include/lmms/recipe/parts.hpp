// lmms/recipe/parts.hpp: what a Recipe{...} is made of. Types for choices that change code
// (model, policy kind, data media, collator, precision); numbers in designated-initializer
// structs whose fields `--section.field=value` overrides. Field order is API: never reorder.
// No torch.
#pragma once

#include <cstdint>
#include <string>

#include "lmms/models/model_traits_decl.hpp"

namespace lmms {

// ---- the model --------------------------------------------------------------------------------
/// model<M>{.path = "..."}: which model (a type with model_traits) and where its HF checkpoint is.
template <class M>
struct model {
  using model_type = M;
  /// Hugging Face model directory (config.json, safetensors, tokenizer, processor).
  std::string path;
};

// ---- per-component policies ---------------------------------------------------------------------
struct frozen_t {
  static constexpr const char* kind = "frozen";
};
struct full_t {
  static constexpr const char* kind = "full";
};
inline constexpr frozen_t frozen{};
inline constexpr full_t full{};

/// LoRA on every Linear of the component (lm_head excluded), PEFT's layout.
struct lora {
  static constexpr const char* kind = "lora";
  /// adapter rank r
  std::int64_t rank = 8;
  /// scaling numerator: the update is scaled by alpha / rank (alpha / sqrt(rank) with rslora)
  double alpha = 16;
  /// dropout on the adapter's input while training
  double dropout = 0.05;
  /// rank-stabilized scaling alpha / sqrt(rank)
  bool rslora = false;
  /// weight-decomposed LoRA (a trained magnitude per output row)
  bool dora = false;
};
/// LoRA over NF4 base weights (double quantization, bitsandbytes' layout). Language model only.
struct qlora : lora {
  static constexpr const char* kind = "qlora";
};

/// A policy bound to a component: llm(lora{...}), vision(frozen), projector(full).
template <class Component, class Policy>
struct component_policy {
  using component = Component;
  using policy_type = Policy;
  Policy policy;
};
template <class P>
constexpr component_policy<llm_t, P> llm(P p) { return {p}; }
template <class P>
constexpr component_policy<vision_t, P> vision(P p) { return {p}; }
template <class P>
constexpr component_policy<projector_t, P> projector(P p) { return {p}; }

// ---- data -------------------------------------------------------------------------------------
namespace data {
/// What media a dataset holds; a type because decoding video is different code.
struct images {
  static constexpr bool has_images = true, multi_image = true, has_video = false;
};
struct single_image {
  static constexpr bool has_images = true, multi_image = false, has_video = false;
};
struct videos {
  static constexpr bool has_images = false, multi_image = false, has_video = true;
};
struct images_and_videos {
  static constexpr bool has_images = true, multi_image = true, has_video = true;
};

/// A LLaVA-style JSON list or JSONL file (docs/dataset.md).
template <class Media = images>
struct llava_json {
  using media = Media;
  /// the training file
  std::string file;
  /// folder that relative image paths are read from ("" = as written)
  std::string image_folder;
  /// folder that relative video paths are read from
  std::string video_folder;
  /// optional held-out file for eval loss ("" = none)
  std::string eval_file;
  /// tokens per sample after media expansion; longer samples are truncated after their last image or dropped
  std::int64_t max_length = 2048;
  /// what a malformed sample does: "error" stops, "skip" drops and counts it
  std::string on_bad_sample = "error";
  /// several samples per row of max_length tokens (attention and positions stay per sample)
  bool packing = false;
  /// frames sampled uniformly from each video (lmms-finetune's num_frames)
  std::int64_t num_frames = 8;
  /// which samples share a micro-batch: random, group_by_length or no_text_only (data/sampler.hpp)
  std::string sampler = "random";
  /// an image with more pixels is a bad sample (PIL's decompression-bomb limit; 0 = no limit)
  std::int64_t max_image_pixels = 178956970;
  /// micro-batches decoded and collated ahead on a background thread (0 = on the training thread)
  std::int64_t prefetch = 2;
  /// threads decoding and processing a micro-batch's images and videos (0 = up to 4)
  std::int64_t media_threads = 0;
};
}  // namespace data

// ---- collators --------------------------------------------------------------------------------
namespace collators {
/// LLaVA family: <image> expanded to the tower's token count, labels per the llava template.
struct llava {
  static constexpr const char* family = "llava";
};
/// Qwen2-VL family: <|image_pad|> expansion by grid, M-RoPE positions.
struct qwen2_vl {
  static constexpr const char* family = "qwen2-vl";
};
/// Llama-3.2-Vision: one <|image|> token per image (never expanded), tiles, cross-attention mask.
struct mllama {
  static constexpr const char* family = "llama-3.2-vision";
};
/// Phi-3-Vision: each image a run of negative ids (its HD embedding count), crops + global view.
struct phi3_v {
  static constexpr const char* family = "phi3-v";
};
/// Qwen-VL-Chat: "Picture k: <img>path</img>" spans of 256 ids, one 448 x 448 image each.
struct qwen_vl {
  static constexpr const char* family = "qwen-vl";
};
}  // namespace collators
template <class C>
struct collator {
  using collator_type = C;
};

// ---- precision --------------------------------------------------------------------------------
namespace precision {
struct fp32 {
  static constexpr const char* name = "fp32";
};
/// bf16 autocast compute with float32 master weights
struct bf16 {
  static constexpr const char* name = "bf16";
};
/// fp16 autocast compute with float32 master weights and dynamic loss scaling (GPUs without bf16)
struct fp16 {
  static constexpr const char* name = "fp16";
};
}  // namespace precision

// ---- training ---------------------------------------------------------------------------------
/// train{...}: the loop's numbers (docs/training.md).
struct train {
  /// passes over the training data
  std::int64_t epochs = 1;
  /// stop after this many optimizer steps (> 0 overrides epochs)
  std::int64_t max_steps = -1;
  /// samples per micro-batch
  std::int64_t batch_size = 4;
  /// micro-batches per optimizer step (token-weighted)
  std::int64_t grad_accum = 1;
  /// peak learning rate
  double lr = 2e-4;
  /// AdamW decoupled weight decay (never on biases and norms)
  double weight_decay = 0.0;
  /// share of the steps spent warming up linearly
  double warmup_ratio = 0.03;
  /// learning-rate schedule after warm-up: cosine, linear or constant
  std::string schedule = "cosine";
  /// global gradient-norm clip (0 = none)
  double max_grad_norm = 1.0;
  /// seed of initialization, dropout and data order
  std::int64_t seed = 42;
  /// checkpoint every N steps (0 = only at the end)
  std::int64_t save_steps = 0;
  /// eval loss every N steps when data.eval_file is set (0 = only at the end)
  std::int64_t eval_steps = 0;
  /// checkpoints kept (0 = all)
  std::int64_t save_total_limit = 2;
  /// where checkpoints, logs, the resolved recipe and the outputs go
  std::string output_dir = "runs/recipe";
  /// recompute activations in backward to save memory
  bool gradient_checkpointing = false;
  /// plain progress lines every N steps (a bar on a terminal)
  std::int64_t log_every = 1;
  /// continue from the newest complete checkpoint in output_dir
  bool resume = false;
  /// also write check_logits.safetensors (the first sample's logits) for the Python interop check
  bool check_logits = false;
};

}  // namespace lmms
