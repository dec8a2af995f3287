// lmms/data/sampler.hpp: which samples go into which micro-batch, per epoch. No torch.
//
//   auto batches = data::epoch_batches(info, {.kind = sampler_kind::group_by_length, .batch_size = 4,
//                                             .seed = 42}, epoch);   // batches[i] = sample indices
//
// Deterministic for (seed, epoch), so a resumed run rebuilds the same order and skips the
// batches it has done. Three kinds:
// - random: a shuffle of every sample, cut into batches (the default).
// - group_by_length: transformers' LengthGroupedSampler: shuffle, cut into mega-batches of up
//   to 50 batches, sort each by length (longest first), the longest sample's batch first. Batches
//   hold samples of similar length, so dynamic padding wastes little.
// - no_text_only: every micro-batch holds at least one sample with an image or video (a batch of
//   text only leaves the vision tower without gradients, which data-parallel training cannot
//   take). lmms-finetune's NoTextOnlyBatchSampler only promises one per mega-batch
//   (batch x world x accumulation); this promises one per micro-batch and rank.
// Rank-aware: with world_size > 1 every rank builds the same global list and takes every
// world_size-th batch from `rank` on; the list is padded by repeating its first batches so all
// ranks run the same number of steps (as torch's DistributedSampler pads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lmms::data {

enum class sampler_kind { random, group_by_length, no_text_only };
/// "random", "group_by_length" or "no_text_only"; an lmms::error naming the choices otherwise.
sampler_kind sampler_kind_of(const std::string& name);

struct sampler_options {
  sampler_kind kind = sampler_kind::random;
  std::size_t batch_size = 4;  // per rank
  std::uint64_t seed = 42;
  std::size_t world_size = 1, rank = 0;
};

/// What the samplers need to know of the samples (lengths: tokens after media expansion;
/// text_only: no image and no video). Either may be empty where the kind does not read it.
struct sample_info {
  std::vector<std::int64_t> lengths;
  std::vector<bool> text_only;
  std::size_t size = 0;
};

/// This rank's micro-batches of epoch `epoch` (sample indices).
std::vector<std::vector<std::size_t>> epoch_batches(const sample_info& samples, const sampler_options& options,
                                                    std::int64_t epoch);

}  // namespace lmms::data

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/data/sampler_impl.hpp"
#endif
