// lmms/torch.hpp: the one place lmms includes libtorch.
//
// Never <torch/torch.h> (about 40 s per TU on 2 cores): only the tensor library and the
// module / optimizer parts lmms uses. These headers also make up the shared precompiled
// header (cmake/lmms_pch.hpp), so every TU that includes this file pays for them once per
// build tree.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/ScalarType.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/optim/adamw.h>
