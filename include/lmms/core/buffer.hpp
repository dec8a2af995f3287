// lmms/core/buffer.hpp: std::vector storage for the large buffers of the data pipeline (decoded
// images, resize passes, pixel values, patches), which are written in full right after they are
// sized:
// - no zero-fill on resize (every element must be written before it is read);
// - blocks of 64 KiB and more come from a small process-wide cache of freed blocks: a pipeline
//   decodes and resizes image after image with buffers of similar sizes, and fresh memory from
//   the kernel costs a page fault (and a page clearing) per 4 KiB - a quarter of the time of
//   decoding a large PNG. glibc maps blocks over 128 KiB fresh at first and gives the top of its
//   heap back, so even tile-sized blocks (a 336 x 336 RGB tile is 331 KiB) faulted again image
//   after image (bench_images anyres, 10 passes: 158,000 page faults with 1 MiB, 21,000 with 64
//   KiB). Reused blocks are already mapped;
// - from 4 MiB up, memory the kernel may back with 2 MiB pages (madvise(MADV_HUGEPAGE); Linux's
//   default THP mode honours it): a fresh 75 MB Qwen2-VL patch buffer then costs ~40 page
//   faults instead of ~18,000.
// The cache keeps at most 256 MiB (LMMS_BUFFER_CACHE_MB sets it; 0 turns caching off), takes the
// smallest cached block that fits without being over twice the size, and is safe to use from
// any thread (a block may be freed on another thread than the one that took it).
//
//   lmms::buffer<float> values;
//   values.resize(n);            // uninitialized: every element must be written before use
#pragma once

#include <cstddef>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lmms {

namespace detail {

class block_cache {
 public:
  static constexpr std::size_t cached_from = std::size_t{64} << 10;  // smaller blocks: plain operator new
  static constexpr std::size_t huge_page = std::size_t{2} << 20;
  static constexpr std::size_t huge_from = std::size_t{4} << 20;

  static block_cache& instance() {
    static block_cache* cache = new block_cache();  // never destroyed: buffers may outlive static destruction
    return *cache;
  }

  void* take(std::size_t bytes) {
    {
      std::lock_guard lock(mutex_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= 2 * bytes) {
        void* p = it->second;
        live_[p] = it->first;
        cached_bytes_ -= it->first;
        free_.erase(it);
        ++hits_;
        return p;
      }
      ++misses_;
    }
    const std::size_t size = rounded(bytes);
    void* p = std::aligned_alloc(size >= huge_from ? huge_page : 64, size);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (size >= huge_from) madvise(p, size, MADV_HUGEPAGE);  // a hint: without THP the pages are simply 4 KiB
#endif
    std::lock_guard lock(mutex_);
    live_[p] = size;
    return p;
  }

  void give(void* p) noexcept {
    std::size_t size = 0;
    {
      std::lock_guard lock(mutex_);
      auto it = live_.find(p);
      size = it->second;
      live_.erase(it);
      if (cached_bytes_ + size <= limit_) {
        free_.emplace(size, p);
        cached_bytes_ += size;
        return;
      }
    }
    std::free(p);
  }

  struct counts {
    std::size_t hits, misses, cached_bytes;
  };
  counts stats() {
    std::lock_guard lock(mutex_);
    return {hits_, misses_, cached_bytes_};
  }

 private:
  block_cache() {
    if (const char* mb = std::getenv("LMMS_BUFFER_CACHE_MB")) limit_ = static_cast<std::size_t>(std::atoll(mb)) << 20;
  }
  static std::size_t rounded(std::size_t bytes) {
    const std::size_t unit = bytes >= huge_from ? huge_page : std::size_t{64} << 10;
    return (bytes + unit - 1) / unit * unit;
  }

  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;  // cached blocks by size
  std::unordered_map<void*, std::size_t> live_;  // blocks handed out, with their sizes
  std::size_t cached_bytes_ = 0, limit_ = std::size_t{256} << 20, hits_ = 0, misses_ = 0;
};

}  // namespace detail

template <class T>
struct fill_later_allocator {
  using value_type = T;

  fill_later_allocator() noexcept = default;
  template <class U>
  fill_later_allocator(const fill_later_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < detail::block_cache::cached_from) return static_cast<T*>(::operator new(bytes));
    return static_cast<T*>(detail::block_cache::instance().take(bytes));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) < detail::block_cache::cached_from)
      ::operator delete(p);
    else
      detail::block_cache::instance().give(p);
  }
  // resize() default-initializes (no zeroing for arithmetic types); other constructions as usual
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const fill_later_allocator<U>&) const noexcept {
    return true;
  }
};

template <class T>
using buffer = std::vector<T, fill_later_allocator<T>>;

}  // namespace lmms
