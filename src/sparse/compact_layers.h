#pragma once
/// Private to the sparse area: the masked layers that run the sparse kernels.

#include "frugal/kernels/dispatch.h"
#include "frugal/kernels/masked_layer.h"
#include "frugal/sparse/mask.h"

#include <torch/nn/module.h>

#include <memory>
#include <vector>

namespace frugal::sparse {

/// The masked layer (kernels::MaskedLinear, kernels::MaskedConv2d) of each
/// masked weight that may run the sparse kernels.
/// Null for a layer kept frozen, a plain torch Linear / Conv2d, or all of
/// them under kDense; throws under kSparse for a plain layer.
std::vector<std::shared_ptr<kernels::MaskedLayer>> find_kernel_layers(torch::nn::Module& model, const MaskSet& masks,
                                                                      const std::vector<bool>& frozen,
                                                                      kernels::KernelChoice choice);

}  // namespace frugal::sparse
