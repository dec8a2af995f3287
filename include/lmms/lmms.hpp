// lmms/lmms.hpp: the one include of a recipe. It pulls in no model: a recipe includes its
// model header (e.g. <lmms/models/qwen2_vl.hpp>) itself.
#pragma once

#include "lmms/core/error.hpp"
#include "lmms/io/hf_config.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/recipe/recipe.hpp"
#include "lmms/version.hpp"
