// Implementation TU of the image decoders for the JPEG fuzz target (built by clang++ outside
// CMake's targets, so it includes only what decoding needs).
#define LMMS_IMPLEMENTATION
#include "lmms/media/image.hpp"
#include "lmms/media/png.hpp"
