#pragma once
/// A 2-D convolution whose filters are stored sparse (CSR over
/// [out_channels, in_channels * kh * kw]) and computed directly on the
/// non-zeros, forward and backward, with the conventions of torch::conv2d.
///
/// Direct sparse convolution: Park, Li, Wen, Tang, Li, Chen & Dubey, "Faster
/// CNNs with Direct Sparse Convolutions and Guided Pruning", ICLR 2017. No
/// im2col matrix is built: each non-zero (c, i, j) of filter o adds
/// value * (input channel c shifted by tap (i, j)) to output channel o, a
/// contiguous multiply-add over the whole output plane (see
/// src/kernels/conv_kernels.h for the layout that makes stride, padding and
/// dilation a constant shift). So forward, input gradient and the gradient of
/// the non-zeros each cost O(batch * nnz * output pixels):
///   out[n, o, h, w]  = bias[o] + sum_k v_k in[n, c_k, h*s + i_k*d - p, w*s + j_k*d - p]
///   grad_in[n, c, .] = the transposed scatter of grad_out through the same taps
///   grad_v[k]        = sum_{n,h,w} grad_out[n, o_k, h, w] in[n, c_k, h*s + i_k*d - p, ...]

#include <frugal/kernels/csr.h>

#include <torch/arg.h>
#include <torch/expanding_array.h>
#include <torch/types.h>

#include <cstdint>

namespace frugal::kernels {

/// The geometry of a sparse convolution (groups = 1, zero padding).
struct SparseConv2dOptions {
  SparseConv2dOptions(torch::ExpandingArray<2> kernel_size) : kernel_size_(kernel_size) {}
  /// Filter height and width. No default; in_channels * kh * kw must equal
  /// the pattern's columns.
  TORCH_ARG(torch::ExpandingArray<2>, kernel_size);
  /// Step between output pixels, >= 1. Default 1.
  TORCH_ARG(torch::ExpandingArray<2>, stride) = 1;
  /// Zeros added on each side, >= 0. Default 0.
  TORCH_ARG(torch::ExpandingArray<2>, padding) = 0;
  /// Spacing between filter taps, >= 1. Default 1.
  TORCH_ARG(torch::ExpandingArray<2>, dilation) = 1;
};

/// out [N, out, H', W'] = conv2d(input, W, bias) with W [out, in, kh, kw]
/// given by (`values` [nnz], `pattern` [out, in * kh * kw]): input
/// [N, in, H, W] float32 CPU, bias [out] or undefined. Records a
/// torch::autograd::Function, so gradients flow to input, values and bias
/// through the sparse kernels. Throws (naming the value) on other dtypes,
/// devices, ranks, shapes, or an output smaller than one pixel.
torch::Tensor sparse_conv2d(const torch::Tensor& input, const torch::Tensor& values, const CsrPattern& pattern,
                            const torch::Tensor& bias, const SparseConv2dOptions& options);

}  // namespace frugal::kernels
