// lmms/core/reproducible_blas.hpp: every lmms process pins MKL's code path, so that a seeded
// run computes the same numbers each time it runs.
//
// MKL is the CPU BLAS of torch's x86 builds. Left to pick its code path at run time (MKL_CBWR
// unset, or AUTO), about one process in 30 on this project's CI machine (a 2-core Sapphire
// Rapids VM, loaded) computed one training step with other rounding: the loss apart in the 7th
// significant digit, so two runs of one seed, or a resumed run and an uninterrupted one, could
// differ. It happened with one intra-op thread and without lmms's prefetch thread, so it is
// inside MKL. With MKL_CBWR=AVX512 (MKL's conditional numerical reproducibility, AVX-512 branch)
// it did not happen in 580 runs (31 in about 1,000 without), the numbers were the same as the usual ones
// and matrix products as fast (docs/training.md, "resume").
//
// The runtime sets the variable before main, before MKL's first call reads it: only on Intel
// CPUs with the AVX-512 that branch needs (elsewhere untested), and never over a MKL_CBWR the
// user set (tests/train/mkl_branch.sh checks the branch of every MKL call). Nothing to call:
// linking the runtime is enough. No torch.
#pragma once

#ifdef LMMS_IMPLEMENTATION
#include <cstdlib>

namespace lmms::core {

namespace {
bool pin_mkl_branch() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();  // (a static initializer may run before GCC's own CPU detection)
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vl");
  if (std::getenv("MKL_CBWR") == nullptr && __builtin_cpu_is("intel") && avx512)
    return ::setenv("MKL_CBWR", "AVX512", 0) == 0;
#endif
  return false;
}
[[maybe_unused]] const bool mkl_branch_pinned = pin_mkl_branch();  // runs before main
}  // namespace

}  // namespace lmms::core
#endif  // LMMS_IMPLEMENTATION
