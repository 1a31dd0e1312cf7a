#pragma once
/// Sparse export of pruned weights: compressed sparse rows (CSR), and a small
/// binary file format for them.
///
/// Storage as the movement pruning paper describes it (Sanh et al., NeurIPS
/// 2020, "Saving_PruneBERT" in the reference code): the zeros of a pruned
/// model give no speed-up in dense kernels, but CSR shrinks storage.
///
/// File format (all integers and floats little-endian): a checked file
/// (core/checked_file.h: a 24-byte header with the payload's length and
/// crc32, verified before anything is parsed), whose payload is
///
///     8 bytes   magic "FRUGCSR1"
///     uint32    number of matrices
///     per matrix:
///       uint32  name length L, then L bytes of name (UTF-8, no terminator)
///       uint32  number of dimensions D, then D x int64: the weight's shape
///       uint8   value type: 4 = float32, 8 = float64
///       int64   rows, cols, nnz
///       int64   row_ptr[rows + 1]   (row_ptr[0] = 0, row_ptr[rows] = nnz)
///       int32   col_idx[nnz]        (ascending within a row)
///       value   values[nnz]
///
/// A weight of shape [out, in, k...] is stored as the matrix
/// [out, in * k...] (its row-major view), so a Linear's rows are its outputs.

#include "frugal/kernels/csr.h"

#include <torch/nn/module.h>

#include <cstdint>
#include <string>
#include <vector>

namespace frugal::prune {

/// One weight tensor in compressed sparse rows.
struct CsrMatrix {
  /// Full parameter name, e.g. "layers.0.weight".
  std::string name;
  /// The weight's original shape; rows = shape[0], cols = the product of the rest.
  std::vector<int64_t> shape;
  /// Where the non-zeros are, in the kernels' one CSR type (rows = shape[0],
  /// cols = the product of the rest): (values, pattern) go to
  /// kernels::sparse_linear or kernels::csr_to_dense as they are.
  kernels::CsrPattern pattern;
  /// [nnz], the weight's dtype (float32 or float64).
  torch::Tensor values;

  int64_t rows() const;
  int64_t cols() const;
  int64_t nnz() const { return values.numel(); }
};

/// The non-zeros of `weight` (float32 or float64, at least 1-D) in CSR.
CsrMatrix to_csr(const std::string& name, const torch::Tensor& weight);
/// The dense tensor of `matrix`, in its original shape.
torch::Tensor to_dense(const CsrMatrix& matrix);
/// CSR of the parameters `names` of `model` (e.g. Pruner::pruned_names()).
std::vector<CsrMatrix> to_csr(torch::nn::Module& model, const std::vector<std::string>& names);

/// Writes `matrices` in the format above. Throws on I/O failure.
void write_csr(const std::string& path, const std::vector<CsrMatrix>& matrices);
/// Reads a file write_csr() wrote; throws if it is missing, truncated or
/// inconsistent (bad magic, row pointers not ascending, columns out of range).
std::vector<CsrMatrix> read_csr(const std::string& path);

}  // namespace frugal::prune
