#include <frugal/kernels/csr.h>

#include "csr_kernels.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

namespace frugal::kernels {

/// One orientation of the pattern: W (fwd) or W^T (bwd).
struct CsrPattern::Side {
  int64_t rows = 0;
  int64_t cols = 0;
  torch::Tensor row_ptr;    // int64 [rows + 1]
  torch::Tensor col_idx;    // int32 [nnz]
  torch::Tensor panel_off;  // int32 [rows, n_panels + 1]
  torch::Tensor perm;       // int64 [nnz]: entry t here is entry perm[t] of the other side
  /// flat_indices(), built on first use (most patterns never need it).
  struct Flat {
    std::once_flag once;
    torch::Tensor indices;
  };
  std::shared_ptr<Flat> flat = std::make_shared<Flat>();
};

struct CsrPattern::Impl {
  Side fwd;
  Side bwd;
};

namespace {

torch::Tensor build_panel_table(int64_t rows, int64_t cols, const torch::Tensor& row_ptr,
                                const torch::Tensor& col_idx) {
  const int64_t np = detail::panel_count(cols);
  auto table = at::empty({rows, np + 1}, at::kInt);
  if (rows > 0)
    detail::build_panels(rows, cols, row_ptr.data_ptr<int64_t>(), col_idx.data_ptr<int32_t>(),
                         table.data_ptr<int32_t>());
  return table;
}

/// Checks the CSR invariants stated in csr.h.
void validate(const torch::Tensor& row_ptr, const torch::Tensor& col_idx, int64_t cols) {
  TORCH_CHECK(row_ptr.defined() && col_idx.defined(), "CsrPattern: row_ptr and col_idx must be defined");
  TORCH_CHECK(row_ptr.dim() == 1 && row_ptr.scalar_type() == at::kLong && row_ptr.is_contiguous() &&
                  row_ptr.device().is_cpu(),
              "CsrPattern: row_ptr must be a contiguous 1-D int64 CPU tensor, got ", row_ptr.toString(), " ",
              row_ptr.sizes());
  TORCH_CHECK(col_idx.dim() == 1 && col_idx.scalar_type() == at::kInt && col_idx.is_contiguous() &&
                  col_idx.device().is_cpu(),
              "CsrPattern: col_idx must be a contiguous 1-D int32 CPU tensor, got ", col_idx.toString(), " ",
              col_idx.sizes());
  TORCH_CHECK(row_ptr.numel() >= 1, "CsrPattern: row_ptr needs rows + 1 >= 1 entries, got ", row_ptr.numel());
  TORCH_CHECK(cols >= 0 && cols <= std::numeric_limits<int32_t>::max(), "CsrPattern: bad number of columns ",
              cols);
  const int64_t rows = row_ptr.numel() - 1;
  const int64_t* rp = row_ptr.data_ptr<int64_t>();
  const int32_t* ci = col_idx.data_ptr<int32_t>();
  TORCH_CHECK(rp[0] == 0, "CsrPattern: row_ptr[0] must be 0, got ", rp[0]);
  TORCH_CHECK(rp[rows] == col_idx.numel(), "CsrPattern: row_ptr[rows] = ", rp[rows],
              " but col_idx has ", col_idx.numel(), " entries");
  for (int64_t r = 0; r < rows; ++r) {
    TORCH_CHECK(rp[r] <= rp[r + 1], "CsrPattern: row_ptr decreases at row ", r, ": ", rp[r], " > ", rp[r + 1]);
    for (int64_t k = rp[r]; k < rp[r + 1]; ++k) {
      TORCH_CHECK(ci[k] >= 0 && ci[k] < cols, "CsrPattern: column ", ci[k], " of row ", r, " is outside [0, ",
                  cols, ")");
      TORCH_CHECK(k == rp[r] || ci[k - 1] < ci[k], "CsrPattern: columns of row ", r,
                  " are not strictly ascending at entry ", k, ": ", ci[k - 1], " then ", ci[k]);
    }
  }
}

/// The transpose of `s` by a counting sort over columns; fills both perms.
CsrPattern::Side transpose_side(CsrPattern::Side& s) {
  const int64_t nnz = s.col_idx.numel();
  CsrPattern::Side t;
  t.rows = s.cols;
  t.cols = s.rows;
  t.row_ptr = at::zeros({s.cols + 1}, at::kLong);
  t.col_idx = at::empty({nnz}, at::kInt);
  t.perm = at::empty({nnz}, at::kLong);
  s.perm = at::empty({nnz}, at::kLong);
  const int64_t* rp = s.row_ptr.data_ptr<int64_t>();
  const int32_t* ci = s.col_idx.data_ptr<int32_t>();
  int64_t* trp = t.row_ptr.data_ptr<int64_t>();
  int32_t* tci = t.col_idx.data_ptr<int32_t>();
  int64_t* tperm = t.perm.data_ptr<int64_t>();
  int64_t* sperm = s.perm.data_ptr<int64_t>();
  for (int64_t k = 0; k < nnz; ++k) ++trp[ci[k] + 1];
  for (int64_t c = 0; c < s.cols; ++c) trp[c + 1] += trp[c];
  std::vector<int64_t> next(trp, trp + s.cols);
  // Rows are visited in order, so each transposed row gets ascending columns.
  for (int64_t r = 0; r < s.rows; ++r) {
    for (int64_t k = rp[r]; k < rp[r + 1]; ++k) {
      const int64_t dst = next[ci[k]]++;
      tci[dst] = static_cast<int32_t>(r);
      tperm[dst] = k;
      sperm[k] = dst;
    }
  }
  t.panel_off = build_panel_table(t.rows, t.cols, t.row_ptr, t.col_idx);
  return t;
}

std::shared_ptr<const CsrPattern::Impl> make_impl(torch::Tensor row_ptr, torch::Tensor col_idx, int64_t cols) {
  auto impl = std::make_shared<CsrPattern::Impl>();
  impl->fwd.rows = row_ptr.numel() - 1;
  impl->fwd.cols = cols;
  impl->fwd.row_ptr = std::move(row_ptr);
  impl->fwd.col_idx = std::move(col_idx);
  impl->fwd.panel_off = build_panel_table(impl->fwd.rows, cols, impl->fwd.row_ptr, impl->fwd.col_idx);
  impl->bwd = transpose_side(impl->fwd);
  return impl;
}

}  // namespace

CsrPattern::CsrPattern() : CsrPattern(at::zeros({1}, at::kLong), at::empty({0}, at::kInt), 0) {}

CsrPattern::CsrPattern(torch::Tensor row_ptr, torch::Tensor col_idx, int64_t cols) {
  validate(row_ptr, col_idx, cols);
  TORCH_CHECK(col_idx.numel() <= std::numeric_limits<int32_t>::max(),
              "CsrPattern: too many entries for 32-bit panel offsets: ", col_idx.numel());
  impl_ = make_impl(std::move(row_ptr), std::move(col_idx), cols);
}

CsrPattern::CsrPattern(std::shared_ptr<const Impl> impl, bool flipped) : impl_(std::move(impl)), flipped_(flipped) {}

const CsrPattern::Side& CsrPattern::side() const { return flipped_ ? impl_->bwd : impl_->fwd; }
const CsrPattern::Side& CsrPattern::other_side() const { return flipped_ ? impl_->fwd : impl_->bwd; }

CsrPattern CsrPattern::from_mask(const torch::Tensor& mask) {
  TORCH_CHECK(mask.defined() && mask.dim() == 2, "CsrPattern::from_mask: mask must be 2-D, got ",
              mask.defined() ? mask.sizes() : at::IntArrayRef{});
  TORCH_CHECK(mask.device().is_cpu(), "CsrPattern::from_mask: mask must be on the CPU, got ", mask.device());
  const int64_t rows = mask.size(0), cols = mask.size(1);
  TORCH_CHECK(cols <= std::numeric_limits<int32_t>::max(), "CsrPattern::from_mask: too many columns ", cols);
  const auto m = mask.ne(0).contiguous();
  const bool* data = m.data_ptr<bool>();
  auto row_ptr = at::empty({rows + 1}, at::kLong);
  int64_t* rp = row_ptr.data_ptr<int64_t>();
  rp[0] = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t n = 0;
    for (int64_t c = 0; c < cols; ++c) n += data[r * cols + c];
    rp[r + 1] = rp[r] + n;
  }
  auto col_idx = at::empty({rp[rows]}, at::kInt);
  int32_t* ci = col_idx.data_ptr<int32_t>();
  for (int64_t r = 0; r < rows; ++r) {
    int64_t k = rp[r];
    for (int64_t c = 0; c < cols; ++c)
      if (data[r * cols + c]) ci[k++] = static_cast<int32_t>(c);
  }
  return CsrPattern(make_impl(std::move(row_ptr), std::move(col_idx), cols), false);
}

int64_t CsrPattern::rows() const { return side().rows; }
int64_t CsrPattern::cols() const { return side().cols; }
int64_t CsrPattern::nnz() const { return side().col_idx.numel(); }
double CsrPattern::density() const {
  const int64_t total = rows() * cols();
  return total == 0 ? 0.0 : static_cast<double>(nnz()) / static_cast<double>(total);
}
const torch::Tensor& CsrPattern::row_ptr() const { return side().row_ptr; }
const torch::Tensor& CsrPattern::col_idx() const { return side().col_idx; }
const torch::Tensor& CsrPattern::transpose_perm() const { return other_side().perm; }
const torch::Tensor& CsrPattern::panel_offsets() const { return side().panel_off; }
CsrPattern CsrPattern::transposed() const { return CsrPattern(impl_, !flipped_); }

torch::Tensor CsrPattern::row_indices() const {
  auto out = at::empty({nnz()}, at::kLong);
  const int64_t* rp = row_ptr().data_ptr<int64_t>();
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t r = 0; r < rows(); ++r) std::fill(o + rp[r], o + rp[r + 1], r);
  return out;
}

const torch::Tensor& CsrPattern::flat_indices() const {
  auto& flat = *side().flat;
  std::call_once(flat.once, [&] { flat.indices = row_indices().mul_(cols()).add_(col_idx().to(at::kLong)); });
  return flat.indices;
}

torch::Tensor CsrPattern::to_mask() const {
  auto mask = at::zeros({rows() * cols()}, at::kBool);
  mask.index_fill_(0, flat_indices(), true);
  return mask.view({rows(), cols()});
}

bool CsrPattern::equals(const CsrPattern& other) const {
  return rows() == other.rows() && cols() == other.cols() && nnz() == other.nnz() &&
         row_ptr().equal(other.row_ptr()) && col_idx().equal(other.col_idx());
}

torch::Tensor csr_values(const torch::Tensor& weight, const CsrPattern& pattern) {
  TORCH_CHECK(weight.dim() == 2 && weight.size(0) == pattern.rows() && weight.size(1) == pattern.cols(),
              "csr_values: weight of shape ", weight.sizes(), " does not match the pattern's [", pattern.rows(),
              ", ", pattern.cols(), "]");
  return weight.reshape({-1}).index_select(0, pattern.flat_indices());
}

torch::Tensor csr_to_dense(const torch::Tensor& values, const CsrPattern& pattern) {
  TORCH_CHECK(values.dim() == 1 && values.numel() == pattern.nnz(), "csr_to_dense: values of shape ",
              values.sizes(), " do not match the pattern's ", pattern.nnz(), " entries");
  return at::zeros({pattern.rows() * pattern.cols()}, values.options())
      .scatter(0, pattern.flat_indices(), values)
      .view({pattern.rows(), pattern.cols()});
}

torch::Tensor to_torch_sparse_csr(const torch::Tensor& values, const CsrPattern& pattern) {
  TORCH_CHECK(values.dim() == 1 && values.numel() == pattern.nnz(), "to_torch_sparse_csr: values of shape ",
              values.sizes(), " do not match the pattern's ", pattern.nnz(), " entries");
  return at::sparse_csr_tensor(pattern.row_ptr(), pattern.col_idx().to(at::kLong), values,
                               {pattern.rows(), pattern.cols()}, values.options().layout(at::kSparseCsr));
}

torch::Tensor remap_entries(const torch::Tensor& old, const torch::Tensor& source) {
  TORCH_CHECK(source.dim() == 1 && source.scalar_type() == at::kLong,
              "remap_entries: source must be a 1-D int64 tensor, got ", source.toString(), " ", source.sizes());
  TORCH_CHECK(old.dim() >= 1, "remap_entries: old must have at least one dimension, got ", old.sizes());
  if (source.numel() > 0) {
    const int64_t hi = source.max().item<int64_t>(), lo = source.min().item<int64_t>();
    TORCH_CHECK(lo >= -1 && hi < old.size(0), "remap_entries: source holds ", lo, "..", hi,
                " but old has ", old.size(0), " entries");
  }
  if (old.size(0) == 0) {  // every entry is new (index_select has nothing to gather from)
    auto sizes = old.sizes().vec();
    sizes[0] = source.numel();
    return at::zeros(sizes, old.options());
  }
  auto out = old.index_select(0, source.clamp_min(0));
  std::vector<int64_t> shape(static_cast<size_t>(old.dim()), 1);
  shape[0] = source.numel();
  return out.masked_fill_(source.lt(0).view(shape), 0);
}

torch::Tensor pattern_source(const CsrPattern& prev, const CsrPattern& next) {
  TORCH_CHECK(prev.rows() == next.rows() && prev.cols() == next.cols(), "pattern_source: shapes differ: [",
              prev.rows(), ", ", prev.cols(), "] vs [", next.rows(), ", ", next.cols(), "]");
  auto source = at::empty({next.nnz()}, at::kLong);
  const int64_t *prp = prev.row_ptr().data_ptr<int64_t>(), *nrp = next.row_ptr().data_ptr<int64_t>();
  const int32_t *pci = prev.col_idx().data_ptr<int32_t>(), *nci = next.col_idx().data_ptr<int32_t>();
  int64_t* src = source.data_ptr<int64_t>();
  for (int64_t r = 0; r < next.rows(); ++r) {
    // Both rows are sorted: one merge pass.
    int64_t p = prp[r];
    for (int64_t k = nrp[r]; k < nrp[r + 1]; ++k) {
      while (p < prp[r + 1] && pci[p] < nci[k]) ++p;
      src[k] = (p < prp[r + 1] && pci[p] == nci[k]) ? p : -1;
    }
  }
  return source;
}

}  // namespace frugal::kernels
