#pragma once
/// The raw direct sparse convolution kernels behind sparse_conv2d (private to
/// src/kernels). Park, Li, Wen, Tang, Li, Chen & Dubey, "Faster CNNs with
/// Direct Sparse Convolutions and Guided Pruning", ICLR 2017.
///
/// Layout. Each input sample is padded and split into stride phases: for
/// stride (sh, sw), phase plane (a, b) of channel c holds the padded pixels
/// (Y * sh + a, X * sw + b), a [hq, wq] plane with hq = ceil(hp / sh),
/// wq = ceil(wp / sw). Tap (i, j) of the filter then reads phase
/// ((i * dh) % sh, (j * dw) % sw) at a constant shift
/// ((i * dh) / sh) * wq + (j * dw) / sw, so that the output plane, held
/// [hout, wq] (wq - wout garbage columns at the end of every row), is
///     out[t] = bias + sum_k value_k * plane_k[t + shift_k]
/// for every t at once: one contiguous axpy per non-zero, whatever the stride,
/// padding and dilation (Park et al.'s "virtual" padding by treating each
/// plane as one long row). The input gradient is the same gather form on the
/// zero-padded output gradient, and the values' gradient a dot product per
/// non-zero.

#include <cstdint>

namespace frugal::kernels::detail {

/// Vector length in floats the buffers are rounded to.
constexpr int64_t kConvVector = 8;

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/// Shapes and strides of one conv2d call and of its working buffers.
struct ConvGeometry {
  int64_t batch = 0, cin = 0, cout = 0, h = 0, w = 0, kh = 0, kw = 0;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  // Derived (see make_conv_geometry).
  int64_t hout = 0, wout = 0;
  /// Phase-plane rows and columns, plane size, phases per channel.
  int64_t hq = 0, wq = 0, plane = 0, phases = 1;
  /// Largest tap shift (tap (kh - 1, kw - 1)).
  int64_t max_shift = 0;
  /// Output tile length: hout * wq rounded up to kConvVector.
  int64_t out_len = 0;
  /// Input-gradient tile length: plane rounded up to kConvVector.
  int64_t plane_len = 0;
  /// Floats per sample of the phase-split input (with read slack at the end).
  int64_t x_stride = 0;
  /// The padded output gradient: zeros before each channel's [hout, wq]
  /// plane (g_front), and its row length per channel (g_row).
  int64_t g_front = 0, g_row = 0;
};

/// Fills the derived fields. The caller checks the arguments.
ConvGeometry make_conv_geometry(int64_t batch, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t kh,
                                int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw);

/// x [batch, x_stride]: the phase-split padded input of `input`
/// [batch, cin, h, w] (zeros outside the image). Runs on at::parallel_for.
void conv_split_input(const ConvGeometry& g, const float* input, float* x);

/// Per non-zero of a [cout, cin * kh * kw] pattern (columns c * kh * kw +
/// i * kw + j), the offset in a sample's x of what its first output reads.
void conv_forward_offsets(const ConvGeometry& g, int64_t nnz, const int32_t* col_idx, int64_t* off);

/// out [batch, cout, hout, wout] from x, the pattern's rows (row_ptr,
/// offsets from conv_forward_offsets, values) and bias (may be null).
void conv_forward(const ConvGeometry& g, const float* x, const int64_t* row_ptr, const int64_t* off,
                  const float* values, const float* bias, float* out);

/// gz [batch, cout, g_row]: the output gradient [batch, cout, hout, wout]
/// at g_front + h * wq + w of each channel's row, zeros elsewhere.
void conv_split_grad(const ConvGeometry& g, const float* grad_out, float* gz);

/// The input gradient's gather lists: for each (channel c, phase ab) plane
/// p = c * phases + ab, entries ptr[p] <= e < ptr[p + 1] with offset off[e]
/// into a sample's gz and value val[e]. From the transposed pattern
/// [cin * kh * kw, cout] (t_row_ptr, t_col_idx) and its values t_values.
/// `ptr` [cin * phases + 1], `off` and `val` [nnz].
void conv_grad_lists(const ConvGeometry& g, const int64_t* t_row_ptr, const int32_t* t_col_idx,
                     const float* t_values, int64_t* ptr, int64_t* off, float* val);

/// grad_in [batch, cin, h, w] from gz and the gather lists.
void conv_input_grad(const ConvGeometry& g, const float* gz, const int64_t* ptr, const int64_t* off,
                     const float* val, float* grad_in);

/// grad_values[k] = sum over samples of the dot product of output-gradient
/// row o_k of gz and x at off[k], over out_len (garbage columns of gz are 0).
void conv_values_grad(const ConvGeometry& g, const float* gz, const float* x, const int64_t* row_ptr,
                      const int64_t* off, float* grad_values);

}  // namespace frugal::kernels::detail
