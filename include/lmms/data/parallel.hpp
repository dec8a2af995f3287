// lmms/data/parallel.hpp: a loop over independent items on a few threads, for decoding and
// processing the images and videos of a batch. No torch.
//
//   std::vector<at::Tensor> out(files.size());
//   data::parallel_for(files.size(), data::media_threads(0), [&](std::size_t i) { out[i] = load(files[i]); });
//
// Each item writes its own slot, so the result does not depend on the thread count or timing.
// Items are handed out in order, or, given a cost per item (for media: the file's size),
// the costliest first, so that no thread is left alone with a big image at the end.
// The first exception (in item order of discovery) is rethrown after every thread has stopped.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "lmms/core/error.hpp"

namespace lmms::data {

/// The threads to use: `requested` if > 0, else min(4, the machine's hardware threads).
inline std::size_t media_threads(std::int64_t requested) {
  if (requested > 0) return static_cast<std::size_t>(requested);
  const unsigned hw = std::thread::hardware_concurrency();
  return std::clamp<std::size_t>(hw, 1, 4);
}

/// fn(order[j]) for every j, on up to `threads` threads (this one included), handed out in
/// that order.
template <class F>
void parallel_for_in(const std::vector<std::size_t>& order, std::size_t threads, F&& fn) {
  const std::size_t n = order.size();
  threads = std::min(threads, n);
  if (threads <= 1) {
    for (std::size_t i : order) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (std::size_t j = next++; j < n; j = next++) {
      try {
        fn(order[j]);
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

/// fn(i) for every i in [0, n), on up to `threads` threads (this one included).
template <class F>
void parallel_for(std::size_t n, std::size_t threads, F&& fn) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  parallel_for_in(order, threads, fn);
}

/// fn(i) for every i in [0, n), costliest first: cost(i) estimates item i's work.
template <class F, class Cost>
void parallel_for(std::size_t n, std::size_t threads, F&& fn, Cost&& cost) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::vector<std::uintmax_t> c(n);
  for (std::size_t i = 0; i < n; ++i) c[i] = cost(i);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return c[a] > c[b]; });
  parallel_for_in(order, threads, fn);
}

/// A media file's size in bytes as its cost for parallel_for (0 when it cannot be read: the
/// item itself then reports the problem).
inline std::uintmax_t file_cost(const std::filesystem::path& file) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(file, ec);
  return ec ? 0 : size;
}

/// fn(k) for each of `files` (a batch's media), the largest first, on up to `threads` threads.
/// An lmms::error whose message does not name its file (a processor's, say; the decoders'
/// do) is rethrown naming it.
template <class F>
void for_each_file(const std::vector<std::filesystem::path>& files, std::size_t threads, F&& fn) {
  parallel_for(files.size(), threads, [&](std::size_t k) {
    try {
      fn(k);
    } catch (const lmms::error& e) {
      const std::string what = e.what(), name = files[k].string();
      if (what.find(name) != std::string::npos) throw;
      fail(name, ": ", what.rfind("lmms: ", 0) == 0 ? what.substr(6) : what);
    }
  }, [&](std::size_t k) { return file_cost(files[k]); });
}

}  // namespace lmms::data
