// lmms/models/llava/llava_1_5.hpp: kept for recipes written before the family header; the LLaVA
// tags (llava_1_5, llava_next, llava_interleave, llava_onevision) live in recipe.hpp.
#pragma once

#include "lmms/models/llava/recipe.hpp"
