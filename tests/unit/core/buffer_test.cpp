// lmms::buffer (core/buffer.hpp): large blocks are reused from a cache after they are freed,
// from any thread, without exceeding twice the size asked for; small ones are plain allocations.
#include <thread>

#include "lmms/core/buffer.hpp"
#include "support/test.hpp"

CATCH_TEST_CASE("lmms::buffer reuses freed large blocks", "[core][buffer]") {
  auto& cache = lmms::detail::block_cache::instance();
  const void* first = nullptr;
  {
    lmms::buffer<std::uint8_t> a(std::size_t{6} << 20);
    a[0] = 1, a.back() = 2;
    first = a.data();
  }
  const auto before = cache.stats();
  {
    lmms::buffer<std::uint8_t> b(std::size_t{5} << 20);  // fits the 6 MiB block, under twice its size
    CATCH_CHECK(static_cast<const void*>(b.data()) == first);
  }
  CATCH_CHECK(cache.stats().hits == before.hits + 1);
  {
    lmms::buffer<std::uint8_t> c(std::size_t{2} << 20);  // the 6 MiB block is over twice this: a new block
    CATCH_CHECK(static_cast<const void*>(c.data()) != first);
  }
  // freed on another thread, taken again here
  const void* from_thread = nullptr;
  std::thread([&] {
    lmms::buffer<float> f(std::size_t{3} << 20);  // 12 MiB
    from_thread = f.data();
  }).join();
  lmms::buffer<float> again(std::size_t{3} << 20);
  CATCH_CHECK(static_cast<const void*>(again.data()) == from_thread);
  // from 64 KiB (a 336 x 336 RGB tile is 331 KiB; glibc would map such blocks fresh)
  const void* tile = nullptr;
  { lmms::buffer<std::uint8_t> t(336 * 336 * 3); tile = t.data(); }
  lmms::buffer<std::uint8_t> tile_again(300 * 300 * 3);
  CATCH_CHECK(static_cast<const void*>(tile_again.data()) == tile);
  // small buffers bypass the cache
  const auto small_before = cache.stats();
  lmms::buffer<int> small(100);
  CATCH_CHECK(cache.stats().hits == small_before.hits);
  CATCH_CHECK(cache.stats().misses == small_before.misses);
}
