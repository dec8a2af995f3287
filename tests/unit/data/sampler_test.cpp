// Samplers (which samples share a micro-batch) and the background prefetcher: every sample once
// per epoch, the same batches for the same seed and epoch, each kind's promise (similar lengths
// together; an image or video sample in every batch), disjoint ranks, and prefetching that keeps
// the order and hands errors to the reader.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>

#include "lmms/core/error.hpp"
#include "lmms/data/parallel.hpp"
#include "lmms/data/prefetch.hpp"
#include "lmms/data/sampler.hpp"
#include "support/test.hpp"

using namespace lmms::data;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;

namespace {
sample_info make_info(std::size_t n, std::size_t every_nth_media) {
  sample_info s;
  s.size = n;
  for (std::size_t i = 0; i < n; ++i) {
    s.lengths.push_back(static_cast<std::int64_t>((i * 7919) % 1000 + 1));  // lengths in no order
    s.text_only.push_back(i % every_nth_media != 0);
  }
  return s;
}
std::vector<std::size_t> flat(const std::vector<std::vector<std::size_t>>& batches) {
  std::vector<std::size_t> out;
  for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
  return out;
}
void check_permutation(const std::vector<std::vector<std::size_t>>& batches, std::size_t n, std::size_t batch_size) {
  auto all = flat(batches);
  std::sort(all.begin(), all.end());
  std::vector<std::size_t> want(n);
  for (std::size_t i = 0; i < n; ++i) want[i] = i;
  CATCH_CHECK(all == want);
  CATCH_CHECK(batches.size() == (n + batch_size - 1) / batch_size);
  // full batches but one (the remainder; last, except where the sampler shuffles batches)
  CATCH_CHECK(std::count_if(batches.begin(), batches.end(), [&](const auto& b) { return b.size() != batch_size; }) <=
              (n % batch_size ? 1 : 0));
}
}  // namespace

CATCH_TEST_CASE("each sampler covers every sample once per epoch, the same way for a seed and epoch", "[data][sampler]") {
  const auto info = make_info(1003, 3);
  for (auto kind : {sampler_kind::random, sampler_kind::group_by_length, sampler_kind::no_text_only}) {
    CATCH_INFO("kind " << static_cast<int>(kind));
    const sampler_options o{.kind = kind, .batch_size = 8, .seed = 7};
    auto e0 = epoch_batches(info, o, 0);
    check_permutation(e0, info.size, 8);
    CATCH_CHECK(epoch_batches(info, o, 0) == e0);  // a resumed run rebuilds the same batches
    CATCH_CHECK(epoch_batches(info, o, 1) != e0);  // a new epoch, a new order
    CATCH_CHECK(epoch_batches(info, {.kind = kind, .batch_size = 8, .seed = 8}, 0) != e0);
  }
  CATCH_CHECK(sampler_kind_of("group_by_length") == sampler_kind::group_by_length);
  CATCH_CHECK_THROWS_WITH(sampler_kind_of("sorted"), Contains("unknown sampler 'sorted': use random, group_by_length or no_text_only"));
}

CATCH_TEST_CASE("group_by_length puts similar lengths together and the longest sample first", "[data][sampler]") {
  const auto info = make_info(1000, 1);
  const std::size_t bs = 4;
  auto batches = epoch_batches(info, {.kind = sampler_kind::group_by_length, .batch_size = bs, .seed = 1}, 0);
  check_permutation(batches, info.size, bs);
  const auto longest = *std::max_element(info.lengths.begin(), info.lengths.end());
  CATCH_CHECK(info.lengths[batches[0][0]] == longest);
  // padding waste (sum over batches of max - each) is far below a random sampler's
  auto waste = [&](const std::vector<std::vector<std::size_t>>& bb) {
    std::int64_t w = 0;
    for (const auto& b : bb) {
      std::int64_t mx = 0;
      for (auto i : b) mx = std::max(mx, info.lengths[i]);
      for (auto i : b) w += mx - info.lengths[i];
    }
    return w;
  };
  const auto grouped = waste(batches), shuffled = waste(epoch_batches(info, {.batch_size = bs, .seed = 1}, 0));
  CATCH_INFO("padding tokens: grouped " << grouped << ", random " << shuffled);
  CATCH_CHECK(grouped * 10 < shuffled);
  // inside each mega-batch of 50 batches (transformers' size), lengths fall
  auto order = flat(batches);
  for (std::size_t m = 0; m < order.size(); m += 50 * bs)
    for (std::size_t i = m + 2; i < std::min(order.size(), m + 50 * bs); ++i)  // [m], [m+1] may hold the swapped longest
      CATCH_CHECK(info.lengths[order[i - 1]] >= info.lengths[order[i]]);
  CATCH_CHECK_THROWS_WITH(epoch_batches({.size = 3}, {.kind = sampler_kind::group_by_length}, 0), Contains("needs every sample's length"));
}

CATCH_TEST_CASE("no_text_only gives every micro-batch an image or video sample, or says why it cannot", "[data][sampler]") {
  const auto info = make_info(101, 5);  // 21 media samples, 80 text-only
  for (std::size_t bs : {5u, 8u}) {
    auto batches = epoch_batches(info, {.kind = sampler_kind::no_text_only, .batch_size = bs, .seed = 3}, 2);
    check_permutation(batches, info.size, bs);
    for (const auto& b : batches)
      CATCH_CHECK(std::any_of(b.begin(), b.end(), [&](std::size_t i) { return !info.text_only[i]; }));
  }
  // 26 batches of 4 need 26 media samples; there are 21
  CATCH_CHECK_THROWS_WITH(epoch_batches(info, {.kind = sampler_kind::no_text_only, .batch_size = 4}, 0),
                          Contains("needs an image or video sample in each of the 26 batches, but the data has 21 such samples and 80 text-only") &&
                              Contains("raise train.batch_size"));
}

CATCH_TEST_CASE("ranks take disjoint batches of one global order, padded to the same count", "[data][sampler]") {
  const auto info = make_info(50, 2);
  for (auto kind : {sampler_kind::random, sampler_kind::group_by_length, sampler_kind::no_text_only}) {
    const sampler_options one{.kind = kind, .batch_size = 4, .seed = 9};
    const auto global = epoch_batches(info, one, 0);  // 13 batches
    std::vector<std::vector<std::vector<std::size_t>>> ranks;
    for (std::size_t r = 0; r < 3; ++r) {
      auto o = one;
      o.world_size = 3, o.rank = r;
      ranks.push_back(epoch_batches(info, o, 0));
      CATCH_CHECK(ranks.back().size() == 5);  // ceil(13 / 3)
    }
    // step i of rank r is global batch i * 3 + r; the two past the end repeat the first two
    for (std::size_t i = 0; i < 5; ++i)
      for (std::size_t r = 0; r < 3; ++r) CATCH_CHECK(ranks[r][i] == global[(i * 3 + r) % global.size()]);
  }
  CATCH_CHECK_THROWS_WITH(epoch_batches(info, {.world_size = 2, .rank = 2}, 0), Contains("rank 2 is outside a world of 2"));
}

CATCH_TEST_CASE("the prefetcher yields the sequence in order, ahead, and hands errors to the reader", "[data][prefetch]") {
  for (std::size_t depth : {0u, 1u, 3u}) {
    CATCH_INFO("depth " << depth);
    std::atomic<std::size_t> built{0};
    prefetcher<std::size_t> ahead(
        [&](std::size_t k) {
          ++built;
          if (k % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // uneven build times
          return k * k;
        },
        5, depth);
    for (std::size_t k = 5; k < 40; ++k) CATCH_CHECK(ahead.next() == k * k);
    if (depth > 0) {  // it works ahead, but never more than depth (+ the one in hand) past the reader
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      CATCH_CHECK(built.load() >= 35 + depth);
      CATCH_CHECK(built.load() <= 35 + depth + 1);
    } else {
      CATCH_CHECK(built.load() == 35);
    }
  }
  prefetcher<int> failing(
      [](std::size_t k) {
        if (k == 2) lmms::fail("sample 2 is broken");
        return static_cast<int>(k);
      },
      0, 2);
  CATCH_CHECK(failing.next() == 0);
  CATCH_CHECK(failing.next() == 1);
  CATCH_CHECK_THROWS_WITH(failing.next(), Contains("sample 2 is broken"));
  // destroyed while its thread waits for room: stops cleanly
  { prefetcher<int> idle([](std::size_t k) { return static_cast<int>(k); }, 0, 4); }
}

CATCH_TEST_CASE("parallel_for fills every slot whatever the thread count, and rethrows a failure", "[data][parallel]") {
  for (std::size_t threads : {1u, 2u, 3u, 8u}) {
    std::vector<std::size_t> out(37, 0);
    lmms::data::parallel_for(out.size(), threads, [&](std::size_t i) { out[i] = i * i + 1; });
    for (std::size_t i = 0; i < out.size(); ++i) CATCH_CHECK(out[i] == i * i + 1);
  }
  std::atomic<int> calls{0};
  CATCH_CHECK_THROWS_WITH(lmms::data::parallel_for(100, 3,
                                                   [&](std::size_t i) {
                                                     ++calls;
                                                     if (i == 5) lmms::fail("image 5 is broken");
                                                   }),
                          Contains("image 5 is broken"));
  CATCH_CHECK(calls.load() <= 100);
  // with a cost per item: every slot filled, items handed out costliest first (ties in index order)
  for (std::size_t threads : {1u, 2u, 4u}) {
    std::vector<std::size_t> out(23, 0);
    lmms::data::parallel_for(out.size(), threads, [&](std::size_t i) { out[i] = i + 7; },
                             [](std::size_t i) { return static_cast<std::uintmax_t>((i * 5) % 11); });
    for (std::size_t i = 0; i < out.size(); ++i) CATCH_CHECK(out[i] == i + 7);
  }
  std::vector<std::size_t> started;
  const std::vector<std::uintmax_t> cost = {3, 9, 1, 9, 0, 5};
  lmms::data::parallel_for(cost.size(), 1, [&](std::size_t i) { started.push_back(i); },
                           [&](std::size_t i) { return cost[i]; });
  CATCH_CHECK(started == std::vector<std::size_t>{1, 3, 5, 0, 2, 4});
  std::vector<std::size_t> order;
  lmms::data::parallel_for_in({1, 3, 5, 0, 2, 4}, 1, [&](std::size_t i) { order.push_back(i); });
  CATCH_CHECK(order == std::vector<std::size_t>{1, 3, 5, 0, 2, 4});
  CATCH_CHECK(lmms::data::file_cost("/nonexistent/image.png") == 0);
  CATCH_CHECK(lmms::data::media_threads(3) == 3);
  CATCH_CHECK(lmms::data::media_threads(0) >= 1);
  CATCH_CHECK(lmms::data::media_threads(0) <= 4);
}

CATCH_TEST_CASE("for_each_file names the file of a failure that does not name it", "[data][parallel]") {
  const std::vector<std::filesystem::path> files = {"/data/a.jpg", "/data/b.png", "/data/c.jpg"};
  for (std::size_t threads : {1u, 2u}) {
    std::vector<int> out(files.size(), 0);
    lmms::data::for_each_file(files, threads, [&](std::size_t k) { out[k] = static_cast<int>(k) + 1; });
    CATCH_CHECK(out == std::vector<int>{1, 2, 3});
    // a processor's message (no file in it): the file is put in front, once
    CATCH_CHECK_THROWS_WITH(lmms::data::for_each_file(files, threads,
                                                      [&](std::size_t k) {
                                                        if (k == 1) lmms::fail("an image of 1x300 has an aspect ratio over 200");
                                                      }),
                            Equals("lmms: /data/b.png: an image of 1x300 has an aspect ratio over 200"));
    // a decoder's message names the file already: unchanged
    CATCH_CHECK_THROWS_WITH(lmms::data::for_each_file(files, threads,
                                                      [&](std::size_t k) {
                                                        if (k == 2) lmms::fail("image /data/c.jpg does not exist");
                                                      }),
                            Equals("lmms: image /data/c.jpg does not exist"));
  }
}
