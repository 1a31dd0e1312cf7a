#pragma once
/// The raw CSR kernels behind sparse_linear (private to src/kernels).
///
/// All operands are float32 and contiguous. A batch of B vectors is held
/// transposed, [n, B] row-major ("x^T"), so that each non-zero W[o, j] does an
/// axpy of length B over row j of x^T: the inner loop is then contiguous and
/// vectorizes over the batch, whatever the sparsity pattern. spmm_panels and
/// sddmm block the work in (row block) x (batch tile of 64) x (column panel of
/// kPanelWidth) so that the slice of x^T a panel touches stays in cache, and
/// prefetch the next panel while one runs; spmm_tiles runs whole rows over a
/// strip of up to 128 lanes with the accumulators in registers.

#include <cstdint>

namespace frugal::kernels::detail {

/// Columns per cache panel. A panel of x^T (256 rows x 64 batch columns = 64
/// KiB) lives in L2 while a row block runs through it; longer panels mean
/// longer runs per row at low density. 256 measured best among 64 to 1024 on
/// the 4096 x 4096 layer at batch 256 (densities 10% and 2%).
constexpr int64_t kPanelWidth = 256;

/// A CSR matrix [rows, cols] plus its panel table, as raw pointers.
struct CsrView {
  int64_t rows = 0;
  int64_t cols = 0;
  /// [rows + 1], offsets into col_idx.
  const int64_t* row_ptr = nullptr;
  /// [nnz], ascending within each row.
  const int32_t* col_idx = nullptr;
  /// [rows, n_panels + 1]: entry p of row o is the offset, relative to
  /// row_ptr[o], of the first entry of row o whose column is >= p * kPanelWidth.
  const int32_t* panel_off = nullptr;
  int64_t n_panels = 1;
  /// Columns per panel (the width panel_off was built with).
  int64_t panel_width = kPanelWidth;
};

/// Number of column panels of `width` columns for `cols` columns.
inline int64_t panel_count(int64_t cols, int64_t width = kPanelWidth) {
  return cols == 0 ? 1 : (cols + width - 1) / width;
}

/// Fills `panel_off` ([rows, panel_count(cols, width) + 1]) for a CSR index.
void build_panels(int64_t rows, int64_t cols, const int64_t* row_ptr, const int32_t* col_idx,
                  int32_t* panel_off, int64_t width = kPanelWidth);

/// Leading dimension for a transposed batch of `batch` columns: padded so that
/// consecutive rows do not start in the same L1 sets (a stride of a multiple
/// of 256 bytes would use only a quarter of them).
int64_t padded_ld(int64_t batch);

/// y[b * ldy + o] = bias[o] + sum_k values[k] * xt[col_k * ldx + b], for all
/// rows o of `a` and b < batch; `bias` may be null. Runs on at::parallel_for,
/// on spmm_tiles where tiles_preferred(a, batch), else on spmm_panels.
void spmm(const CsrView& a, const float* values, const float* xt, int64_t ldx, int64_t batch,
          const float* bias, float* y, int64_t ldy);

/// spmm blocked in (row block) x (batch tile of 64) x (column panel), the
/// accumulators in an L1 scratch block; AVX2 or portable.
void spmm_panels(const CsrView& a, const float* values, const float* xt, int64_t ldx, int64_t batch,
                 const float* bias, float* y, int64_t ldy);

/// Whether spmm runs `a` at `batch` on spmm_tiles: AVX2 is active and the
/// pattern and batch are ones where the tiles measured faster
/// (bench/spmm_designs.cpp).
bool tiles_preferred(const CsrView& a, int64_t batch);

/// y[o] = bias[o] + sum_k values[k] * x[col_k] (the batch-1 case; a gather-dot
/// per row). `bias` may be null. Runs on at::parallel_for.
void spmv(const CsrView& a, const float* values, const float* x, const float* bias, float* y);

/// out[k] = sum_b gt[row_k * ldg + b] * xt[col_k * ldx + b] for b < batch: the
/// gradient of every stored value. Runs on at::parallel_for.
void sddmm(const CsrView& a, const float* gt, int64_t ldg, const float* xt, int64_t ldx, int64_t batch,
           float* out);

/// spmm with one row x up to 128 batch lanes of accumulators in registers over
/// the row's whole run (src/kernels/spmm_tiles.cpp); AVX2 only (an error
/// otherwise). With out_transposed it writes y^T instead, out[o * ldo + b]:
/// the layout the next layer's kernel reads, with no transpose between.
void spmm_tiles(const CsrView& a, const float* values, const float* xt, int64_t ldx, int64_t batch,
                const float* bias, float* out, int64_t ldo, bool out_transposed);

/// dst[c * ldd + r] = src[r * lds + c] for a block, on the calling thread.
void transpose_block(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd,
                     bool avx2);

/// dst[c * ldd + r] = src[r * cols + c]. Runs on at::parallel_for.
void transpose(const float* src, int64_t rows, int64_t cols, float* dst, int64_t ldd);

/// Whether the AVX2 + FMA code path is used (CPU support and not forced off).
bool avx2_active();
/// Forces the portable code path (true) or returns to the automatic choice.
void force_portable(bool portable);

}  // namespace frugal::kernels::detail
