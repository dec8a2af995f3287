// Implementation TU of the safetensors reader for the fuzz target (built by clang++ outside
// CMake's targets, so it includes only what the parser needs).
#define LMMS_IMPLEMENTATION
#include "lmms/io/atomic_write.hpp"
#include "lmms/io/mapped_file.hpp"
#include "lmms/io/safetensors.hpp"
