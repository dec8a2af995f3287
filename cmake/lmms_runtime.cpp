// The one TU that compiles lmms's heavy non-template code (the stb-style implementation
// guard). lmms_add_recipe() links its object file into every recipe of the build tree.
#define LMMS_IMPLEMENTATION
#include "lmms/runtime_all.hpp"
