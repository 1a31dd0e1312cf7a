#pragma once
/// The sparsity pattern of a weight matrix in compressed sparse row (CSR)
/// form, as the sparse kernels consume it.
///
/// CSR: Tinney & Walker, "Direct solutions of sparse network equations by
/// optimally ordered triangular factorization", Proc. IEEE 55(11), 1967; the
/// layout used here (row pointers, column indices, values in row order) is the
/// one of Saad, "Iterative Methods for Sparse Linear Systems", 2nd ed., 2003,
/// section 3.4.

#include <torch/types.h>

#include <cstdint>
#include <memory>

namespace frugal::kernels {

/// Where the non-zeros of a matrix W [rows, cols] are, in CSR by row: entry k
/// of row r has column col_idx[k] for row_ptr[r] <= k < row_ptr[r + 1], columns
/// ascending within a row. The values live apart (a float tensor [nnz] in the
/// same order), so a module can register them as its parameter.
///
/// A pattern is immutable and cheap to copy (copies share the index tensors).
/// It also holds what the kernels derive from the index: the transposed
/// pattern (for the input gradient) and a table of column panels (for cache
/// blocking), so these are built once per mask, not once per call.
class CsrPattern {
 public:
  /// The empty 0 x 0 pattern.
  CsrPattern();
  /// Adopts existing index arrays (not copied). `row_ptr`: int64 [rows + 1],
  /// starting at 0 and non-decreasing; `col_idx`: int32 [nnz] with
  /// nnz = row_ptr[rows], each row's columns strictly ascending in [0, cols).
  /// Throws when any of this does not hold.
  CsrPattern(torch::Tensor row_ptr, torch::Tensor col_idx, int64_t cols);

  /// The positions where `mask` [rows, cols] is non-zero (any dtype).
  static CsrPattern from_mask(const torch::Tensor& mask);

  int64_t rows() const;
  int64_t cols() const;
  /// Number of stored entries.
  int64_t nnz() const;
  /// nnz / (rows * cols); 0 for an empty shape.
  double density() const;

  /// int64 [rows + 1].
  const torch::Tensor& row_ptr() const;
  /// int32 [nnz].
  const torch::Tensor& col_idx() const;
  /// int64 [nnz]: the row of each entry.
  torch::Tensor row_indices() const;
  /// int64 [nnz]: row * cols + col of each entry (its index in W.view(-1)).
  /// Built on the first call, then shared by all copies of the pattern.
  const torch::Tensor& flat_indices() const;
  /// bool [rows, cols], true on the pattern.
  torch::Tensor to_mask() const;

  /// The pattern of W^T [cols, rows]. Built with this pattern; no cost here.
  CsrPattern transposed() const;
  /// int64 [nnz]: entry t of transposed() is entry transpose_perm()[t] of this
  /// pattern, so W^T's values are values.index_select(0, transpose_perm()).
  const torch::Tensor& transpose_perm() const;
  /// int32 [rows, n_panels + 1]: for each row, the offset (from row_ptr[row])
  /// of its first entry in each fixed-width panel of columns, then the row's
  /// length. The kernels' cache-blocking table.
  const torch::Tensor& panel_offsets() const;

  /// Whether both patterns have the same shape and the same entries.
  bool equals(const CsrPattern& other) const;

  /// Opaque (defined in csr.cpp).
  struct Side;
  struct Impl;

 private:
  CsrPattern(std::shared_ptr<const Impl> impl, bool flipped);
  const Side& side() const;
  const Side& other_side() const;

  std::shared_ptr<const Impl> impl_;
  /// Whether this handle views the transposed side of impl_.
  bool flipped_ = false;
};

/// values[k] = weight[row_k, col_k]: the entries of a dense weight [rows, cols]
/// on the pattern (differentiable with respect to `weight`).
torch::Tensor csr_values(const torch::Tensor& weight, const CsrPattern& pattern);

/// The dense [rows, cols] matrix with `values` [nnz] on the pattern and zeros
/// elsewhere (differentiable with respect to `values`).
torch::Tensor csr_to_dense(const torch::Tensor& values, const CsrPattern& pattern);

/// A LibTorch sparse CSR tensor with the same entries (column indices widened
/// to int64, as LibTorch requires), for interoperation; the kernels here do
/// not use it.
torch::Tensor to_torch_sparse_csr(const torch::Tensor& values, const CsrPattern& pattern);

/// Maps per-entry data (values, optimizer state such as a momentum buffer)
/// from an old pattern to a new one: out[k] = old[source[k]] where
/// source[k] >= 0, and 0 where source[k] == -1 (a newly grown entry). `source`
/// is what SparseLinear::set_pattern returns; see also pattern_source().
torch::Tensor remap_entries(const torch::Tensor& old, const torch::Tensor& source);

/// For each entry of `next`, the index of the same position in `prev`, or -1
/// when `prev` does not hold it. int64 [next.nnz()]. Shapes must match.
torch::Tensor pattern_source(const CsrPattern& prev, const CsrPattern& next);

}  // namespace frugal::kernels
