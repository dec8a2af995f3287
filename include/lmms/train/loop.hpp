// lmms/train/loop.hpp: the training loop for any model that maps a batch to next-token
// logits (decoder LLMs, LLaVA, ...): AdamW with decay / no-decay groups, warm-up + cosine /
// linear / constant schedule, gradient accumulation (token-weighted, so it equals one large
// batch), global-norm clipping, a JSONL log of every step, atomic checkpoints and exact resume.
//
//   training::lm_trainer trainer(lm, options);                 // a text LLM on token_samples
//   trainer.run(samples);          // options.resume continues from the latest checkpoint
//
//   training::lm_trainer trainer(model.ptr(), forward, options);  // any model: forward(batch) -> logits
//   trainer.run(training::batch_source{n, collate});              // collate(indices) -> lm_batch
//
// Checkpoints (output_dir/checkpoint-<step>/, written to a temporary directory, fsync'ed and
// renamed): trainable.safetensors (every trainable parameter), optimizer.safetensors (AdamW
// moments and steps, the torch CPU generator), trainer_state.json (step, epoch, batches
// consumed, seed). A run killed at any point resumes from the last complete checkpoint and
// writes the same JSONL as an uninterrupted run (on CPU, fixed seed, same thread count).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "lmms/data/sampler.hpp"
#include "lmms/models/llm/decoder.hpp"
#include "lmms/nn/precision.hpp"
#include "lmms/text/tokenizer.hpp"
#include "lmms/torch.hpp"
#include "lmms/train/optimizer.hpp"

namespace lmms::training {

struct token_sample {
  std::vector<text::token_id> input_ids;
  std::vector<text::token_id> labels;  // -100 where not supervised
};

enum class schedule { cosine, linear, constant };

struct loop_options {
  int epochs = 1;
  std::int64_t max_steps = -1;         // > 0 overrides epochs
  int batch_size = 4;
  int grad_accum = 1;
  double lr = 2e-4;
  double weight_decay = 0.0;           // not applied to biases and norm weights
  double warmup_ratio = 0.03;
  training::schedule schedule = schedule::cosine;
  double max_grad_norm = 1.0;          // <= 0: no clipping
  std::uint64_t seed = 42;
  std::int64_t save_steps = 0;         // 0: only at the end
  std::int64_t eval_steps = 0;         // > 0: eval loss every N steps (and at the end) when eval samples are given
  int save_total_limit = 2;            // checkpoints kept (0: all)
  std::filesystem::path output_dir = "runs/lm";
  bool resume = false;                 // continue from the latest checkpoint in output_dir
  bool progress = true;                // a progress bar on a terminal, else plain lines on stdout
  int log_every = 1;                   // plain lines: every N steps (and the first and last); log.jsonl has every step
  text::token_id pad_token_id = 0;
  nn::precision precision = nn::precision::fp32;  // bf16 / fp16: autocast compute, float32 master weights (fp16: loss scaling)
  double initial_loss_scale = 65536.0;  // fp16: GradScaler's init_scale
  data::sampler_kind sampler = data::sampler_kind::random;  // which samples share a micro-batch (data/sampler.hpp)
  std::size_t prefetch = 2;            // micro-batches built ahead on a background thread (0: on the training thread)
  /// Extra files written into every checkpoint (name, content): the resolved recipe, say.
  std::vector<std::pair<std::string, std::string>> checkpoint_files;
};

/// HF's schedules (transformers.get_*_schedule_with_warmup): the lr factor at step `step`.
double lr_factor(schedule s, std::int64_t step, std::int64_t total_steps, std::int64_t warmup_steps);

/// A batch: right-padded (B, T) tensors (attention_mask marks real tokens) and the media the
/// model needs (pixel_values: every image of the batch in reading order; undefined if none).
struct lm_batch {
  at::Tensor input_ids, attention_mask, labels, pixel_values;
  at::Tensor image_grid_thw, pixel_values_videos, video_grid_thw;  // Qwen2-VL: patches per image / video
  at::Tensor image_sizes, image_tiles;  // LLaVA-NeXT / OneVision: (N, 2) original height, width; (N) anyres tiles
  // Llama-3.2-Vision: (B, images, tiles) per sample, 0 for padding slots; (B, T, images, tiles)
  at::Tensor aspect_ratio_ids, aspect_ratio_mask, cross_attention_mask;
  std::int64_t label_tokens = 0, real_tokens = 0;
};
lm_batch collate_right_pad(const std::vector<const token_sample*>& samples, text::token_id pad_token_id);
/// Packing: the samples, in order, share rows of at most max_length tokens (a sample goes into
/// the current row when it fits, else it starts the next one), rows right-padded to the longest.
/// attention_mask holds each token's sample number within its row (1, 2, ...; 0 on padding), which
/// the decoders read as block-diagonal causal attention with positions restarting per sample; the
/// first label of each sample is -100, so no token predicts across samples. Media keep the
/// samples' order. A sample longer than max_length gets a row of its own.
lm_batch collate_packed(const std::vector<const token_sample*>& samples, text::token_id pad_token_id, std::int64_t max_length);

/// A dataset as the trainer sees it: a size and a collate function that builds the batch of
/// the samples at the given indices (loading and preprocessing media lazily), and what the
/// samplers read: each sample's token count and whether it is text only (may be left empty
/// for the random sampler).
struct batch_source {
  std::size_t size = 0;
  std::function<lm_batch(const std::vector<std::size_t>& indices)> collate;
  std::vector<std::int64_t> lengths;
  std::vector<bool> text_only;
};
/// token_samples right-padded with pad_token_id (the vector must outlive the source).
batch_source token_samples_source(const std::vector<token_sample>& samples, text::token_id pad_token_id);

/// Float logits (B, T, V) of a batch; labels are not used here (the trainer shifts them).
/// With a head_fn, the same type returns the final hidden states (B, T, H) instead.
using forward_fn = std::function<at::Tensor(const lm_batch&)>;
/// The output layer: hidden states (N, H) -> logits (N, V). Given one, the trainer applies it
/// only at positions that have a label (same loss, a fraction of the head's cost).
using head_fn = std::function<at::Tensor(const at::Tensor& hidden)>;

struct step_record {
  std::int64_t step;
  double epoch, loss, lr, grad_norm, tokens_per_second;
};

class lm_trainer {
 public:
  lm_trainer(lm::causal_lm model, loop_options options);
  /// Any model: its trainable parameters are those with requires_grad.
  lm_trainer(std::shared_ptr<torch::nn::Module> model, forward_fn forward, loop_options options);
  /// Any model as hidden states + output layer (the head runs on labelled positions only).
  lm_trainer(std::shared_ptr<torch::nn::Module> model, forward_fn hidden, head_fn head, loop_options options);

  /// Trains; returns the per-step records (also in output_dir/log.jsonl, with eval_loss lines
  /// when `eval` is given). A loss-curve picture (loss.svg) is written with each checkpoint.
  std::vector<step_record> run(const batch_source& train, const batch_source& eval = {});
  std::vector<step_record> run(const std::vector<token_sample>& samples, const std::vector<token_sample>& eval = {}) {
    return run(token_samples_source(samples, options_.pad_token_id), token_samples_source(eval, options_.pad_token_id));
  }

  /// Mean loss over label tokens of `samples`, in eval mode, without gradients.
  double evaluate(const batch_source& samples);
  double evaluate(const std::vector<token_sample>& samples) {
    return evaluate(token_samples_source(samples, options_.pad_token_id));
  }

  /// The latest complete checkpoint directory in output_dir, or empty.
  static std::filesystem::path latest_checkpoint(const std::filesystem::path& output_dir);

  torch::nn::Module& model() { return *model_; }

 private:
  void save_checkpoint(std::int64_t step, std::int64_t epoch, std::int64_t batches_done);
  void write_loss_curve(const std::filesystem::path& file) const;
  void load_checkpoint(const std::filesystem::path& dir, std::int64_t& step, std::int64_t& epoch,
                       std::int64_t& batches_done);

  at::Tensor summed_loss(const lm_batch& b);  // summed cross-entropy over the batch's labels

  std::shared_ptr<torch::nn::Module> model_;
  forward_fn forward_, hidden_;
  head_fn head_;
  loop_options options_;
  std::vector<std::pair<std::string, at::Tensor>> trainable_;
  std::unique_ptr<adamw> optimizer_;
  std::vector<std::pair<double, double>> train_curve_, eval_curve_;  // (step, loss) for loss.svg
  loss_scaler scaler_;                 // fp16 only
  std::int64_t optimizer_steps_ = 0;   // steps taken (fp16 skips steps with non-finite gradients)
};

/// An SVG line chart of training loss (and eval loss as dots) against steps.
std::string loss_curve_svg(const std::vector<std::pair<double, double>>& train,
                           const std::vector<std::pair<double, double>>& eval);

}  // namespace lmms::training

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/train/loop_impl.hpp"
#endif
