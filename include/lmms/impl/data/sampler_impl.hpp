// Implementation of lmms/data/sampler.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include <algorithm>
#include <numeric>
#include <random>

#include "lmms/core/error.hpp"
#include "lmms/data/sampler.hpp"

namespace lmms::data {

sampler_kind sampler_kind_of(const std::string& name) {
  if (name == "random") return sampler_kind::random;
  if (name == "group_by_length") return sampler_kind::group_by_length;
  if (name == "no_text_only") return sampler_kind::no_text_only;
  fail("unknown sampler ", quote(name), ": use random, group_by_length or no_text_only");
}

namespace {

std::vector<std::vector<std::size_t>> cut(const std::vector<std::size_t>& order, std::size_t batch_size) {
  std::vector<std::vector<std::size_t>> out;
  for (std::size_t i = 0; i < order.size(); i += batch_size)
    out.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(i),
                     order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), i + batch_size)));
  return out;
}

// transformers' get_length_grouped_indices, with our generator in place of torch.randperm.
std::vector<std::size_t> length_grouped(std::vector<std::size_t> order, const std::vector<std::int64_t>& lengths,
                                        std::size_t batch_size) {
  const std::size_t mult = std::max<std::size_t>(1, std::min<std::size_t>(order.size() / (batch_size * 4), 50));
  const std::size_t mega = mult * batch_size;
  std::vector<std::vector<std::size_t>> megas = cut(order, mega);
  for (auto& m : megas)
    std::stable_sort(m.begin(), m.end(), [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; });
  // the longest sample of all leads the first batch, so an out-of-memory shows at once
  std::size_t longest = 0;
  for (std::size_t i = 1; i < megas.size(); ++i)
    if (lengths[megas[i][0]] > lengths[megas[longest][0]]) longest = i;
  std::swap(megas[0][0], megas[longest][0]);
  std::vector<std::size_t> out;
  for (const auto& m : megas) out.insert(out.end(), m.begin(), m.end());
  return out;
}

std::vector<std::vector<std::size_t>> no_text_only(const sample_info& s, std::size_t batch_size, std::mt19937_64& rng) {
  std::vector<std::size_t> media, text;
  for (std::size_t i = 0; i < s.size; ++i) (s.text_only[i] ? text : media).push_back(i);
  const std::size_t batches = (s.size + batch_size - 1) / batch_size;
  if (media.size() < batches)
    fail("sampler no_text_only needs an image or video sample in each of the ", batches, " batches, but the data has ",
         media.size(), " such samples and ", text.size(),
         " text-only ones: raise train.batch_size, add media samples, or use data.sampler=random");
  std::shuffle(media.begin(), media.end(), rng);
  // one media sample seeds each batch; the rest (media and text) fill the batches at random
  std::vector<std::vector<std::size_t>> out(batches);
  for (std::size_t b = 0; b < batches; ++b) out[b].push_back(media[b]);
  std::vector<std::size_t> rest(media.begin() + static_cast<std::ptrdiff_t>(batches), media.end());
  rest.insert(rest.end(), text.begin(), text.end());
  std::shuffle(rest.begin(), rest.end(), rng);
  std::size_t next = 0;
  for (std::size_t b = 0; b < batches; ++b) {
    const std::size_t capacity = b + 1 < batches ? batch_size : s.size - (batches - 1) * batch_size;
    while (out[b].size() < capacity) out[b].push_back(rest[next++]);
    std::shuffle(out[b].begin(), out[b].end(), rng);
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

}  // namespace

std::vector<std::vector<std::size_t>> epoch_batches(const sample_info& s, const sampler_options& o, std::int64_t epoch) {
  if (o.batch_size == 0) fail("sampler: batch_size must be at least 1");
  if (o.world_size == 0 || o.rank >= o.world_size)
    fail("sampler: rank ", o.rank, " is outside a world of ", o.world_size);
  if (s.size == 0) return {};
  if (o.kind == sampler_kind::group_by_length && s.lengths.size() != s.size)
    fail("sampler group_by_length needs every sample's length");
  if (o.kind == sampler_kind::no_text_only && s.text_only.size() != s.size)
    fail("sampler no_text_only needs to know which samples are text only");

  std::mt19937_64 rng(o.seed + static_cast<std::uint64_t>(epoch));
  std::vector<std::vector<std::size_t>> global;
  if (o.kind == sampler_kind::no_text_only) {
    global = no_text_only(s, o.batch_size, rng);
  } else {
    std::vector<std::size_t> order(s.size);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    if (o.kind == sampler_kind::group_by_length) order = length_grouped(std::move(order), s.lengths, o.batch_size);
    global = cut(order, o.batch_size);
  }
  if (o.world_size == 1) return global;
  const std::size_t n = global.size(), per_rank = (n + o.world_size - 1) / o.world_size;
  std::vector<std::vector<std::size_t>> mine;
  for (std::size_t i = 0; i < per_rank; ++i) mine.push_back(global[(i * o.world_size + o.rank) % n]);
  return mine;
}

}  // namespace lmms::data
