// lmms/runtime_all.hpp: every header with an LMMS_IMPLEMENTATION section.
// cmake/lmms_runtime.cpp includes this with LMMS_IMPLEMENTATION defined; add new
// implementation-carrying headers here.
#pragma once

#include "lmms/infer/generate.hpp"
#include "lmms/io/atomic_write.hpp"
#include "lmms/io/hf_config.hpp"
#include "lmms/io/mapped_file.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/data/dataset.hpp"
#include "lmms/media/image.hpp"
#include "lmms/media/resize.hpp"
#include "lmms/processors/clip.hpp"
#include "lmms/text/chat.hpp"
#include "lmms/text/tokenizer.hpp"
#include "lmms/models/llm/decoder.hpp"
#include "lmms/models/llava/data.hpp"
#include "lmms/models/llava/llava.hpp"
#include "lmms/models/vision/clip.hpp"
#include "lmms/nn/checkpoint.hpp"
#include "lmms/nn/linear.hpp"
#include "lmms/nn/nf4.hpp"
#include "lmms/train/lora.hpp"
#include "lmms/train/loop.hpp"
#include "lmms/train/merge.hpp"
#include "lmms/version.hpp"
