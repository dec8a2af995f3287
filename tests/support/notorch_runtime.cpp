// Implementation TU of the torch-free headers (core, io, text), for test binaries that must
// not link torch: the sanitizer builds.
#define LMMS_IMPLEMENTATION
#include "lmms/io/atomic_write.hpp"
#include "lmms/io/hf_config.hpp"
#include "lmms/io/mapped_file.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/data/sampler.hpp"
#include "lmms/media/image.hpp"
#include "lmms/media/resize.hpp"
#include "lmms/media/video.hpp"
#include "lmms/processors/clip.hpp"
#include "lmms/processors/mllama.hpp"
#include "lmms/processors/qwen2_vl.hpp"
#include "lmms/text/chat.hpp"
#include "lmms/text/tokenizer.hpp"
