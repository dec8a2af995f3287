// lmms/data/parallel.hpp: a loop over independent items on a few threads, for decoding and
// processing the images and videos of a batch. No torch.
//
//   std::vector<at::Tensor> out(files.size());
//   data::parallel_for(files.size(), data::media_threads(0), [&](std::size_t i) { out[i] = load(files[i]); });
//
// Each item writes its own slot, so the result does not depend on the thread count or timing.
// The first exception (in item order of discovery) is rethrown after every thread has stopped.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace lmms::data {

/// The threads to use: `requested` if > 0, else min(4, the machine's hardware threads).
inline std::size_t media_threads(std::int64_t requested) {
  if (requested > 0) return static_cast<std::size_t>(requested);
  const unsigned hw = std::thread::hardware_concurrency();
  return std::clamp<std::size_t>(hw, 1, 4);
}

/// fn(i) for every i in [0, n), on up to `threads` threads (this one included).
template <class F>
void parallel_for(std::size_t n, std::size_t threads, F&& fn) {
  threads = std::min(threads, n);
  if (threads <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = n;  // stop handing out items
      }
    }
  };
  std::vector<std::thread> helpers;
  for (std::size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (auto& h : helpers) h.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace lmms::data
