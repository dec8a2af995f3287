// lmms/core/buffer.hpp: std::vector storage for large buffers that are written in full right
// after they are sized (processed pixel values): no zero-fill on resize, and from 4 MiB up,
// memory the kernel may back with 2 MiB pages (madvise(MADV_HUGEPAGE); Linux's default THP
// mode honours it). A fresh 75 MB Qwen2-VL patch buffer (a 2048x1536 image, its temporal
// patches doubling it) then costs ~40 page faults instead of ~18,000.
//
//   lmms::buffer<float> values;
//   values.resize(n);            // uninitialized: every element must be written before use
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lmms {

template <class T>
struct fill_later_allocator {
  using value_type = T;
  static constexpr std::size_t huge_page = std::size_t{2} << 20;
  static constexpr std::size_t large = std::size_t{4} << 20;

  fill_later_allocator() noexcept = default;
  template <class U>
  fill_later_allocator(const fill_later_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < large) return static_cast<T*>(::operator new(bytes));
    const std::size_t rounded = (bytes + huge_page - 1) / huge_page * huge_page;
    void* p = std::aligned_alloc(huge_page, rounded);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, rounded, MADV_HUGEPAGE);  // a hint: without THP the pages are simply 4 KiB
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) < large)
      ::operator delete(p);
    else
      std::free(p);
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
