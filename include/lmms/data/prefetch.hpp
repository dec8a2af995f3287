// lmms/data/prefetch.hpp: items of a sequence built ahead on a background thread, through a
// bounded queue. No torch.
//
//   data::prefetcher<batch> ahead([&](std::size_t k) { return build_batch(k); }, /*start=*/k0, /*depth=*/2);
//   batch b = ahead.next();   // item k0, then k0 + 1, ... in order
//
// The thread builds items start, start + 1, ... and waits while `depth` are ready and unread,
// so at most depth items (plus the one being built) are in memory. Order is the sequence's
// order whatever the timing, so training stays deterministic and a resumed run starts at the
// item it stopped at. An exception thrown while building item k is rethrown by the next() that
// would have returned it. depth 0 builds each item in next(), on the caller's thread.
// The destructor stops the thread (after the item it is building).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace lmms::data {

template <class T>
class prefetcher {
 public:
  prefetcher(std::function<T(std::size_t)> make, std::size_t start, std::size_t depth)
      : make_(std::move(make)), next_(start), depth_(depth) {
    if (depth_ > 0) worker_ = std::thread([this] { produce(); });
  }
  prefetcher(const prefetcher&) = delete;
  prefetcher& operator=(const prefetcher&) = delete;
  ~prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  /// The next item of the sequence (waits for the thread if it is not built yet).
  T next() {
    if (depth_ == 0) return make_(next_++);
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !ready_.empty(); });
    slot s = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    changed_.notify_all();
    if (s.failure) std::rethrow_exception(s.failure);
    return std::move(*s.item);
  }

 private:
  struct slot {
    std::optional<T> item;
    std::exception_ptr failure;
  };

  void produce() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || ready_.size() < depth_; });
        if (stop_) return;
      }
      slot s;
      try {
        s.item.emplace(make_(next_++));
      } catch (...) {
        s.failure = std::current_exception();
      }
      const bool failed = static_cast<bool>(s.failure);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(s));
      }
      changed_.notify_all();
      if (failed) return;  // the consumer rethrows; nothing after a failure is built
    }
  }

  std::function<T(std::size_t)> make_;
  std::size_t next_;
  std::size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<slot> ready_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace lmms::data
