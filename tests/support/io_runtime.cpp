// Implementation TU of the torch-free io headers, for test binaries that must not link
// torch (the sanitizer build and the fuzz target).
#define LMMS_IMPLEMENTATION
#include "lmms/io/atomic_write.hpp"
#include "lmms/io/hf_config.hpp"
#include "lmms/io/mapped_file.hpp"
#include "lmms/io/safetensors.hpp"
