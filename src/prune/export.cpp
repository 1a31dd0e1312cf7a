#include "frugal/prune/export.h"

#include "frugal/core/checked_file.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cstring>
#include <sstream>

namespace frugal::prune {

int64_t CsrMatrix::rows() const { return shape.empty() ? 0 : shape[0]; }

int64_t CsrMatrix::cols() const {
  int64_t c = 1;
  for (size_t i = 1; i < shape.size(); ++i) c *= shape[i];
  return c;
}

CsrMatrix to_csr(const std::string& name, const torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() >= 1, "cannot store the 0-dimensional tensor '", name, "' as CSR");
  TORCH_CHECK(weight.scalar_type() == at::kFloat || weight.scalar_type() == at::kDouble,
              "CSR export supports float32 and float64 weights, '", name, "' is ",
              weight.scalar_type());
  at::NoGradGuard no_grad;
  CsrMatrix m;
  m.name = name;
  m.shape = weight.sizes().vec();
  TORCH_CHECK(m.cols() < (int64_t{1} << 31), "'", name, "' has ", m.cols(),
              " columns; CSR column indices are int32");
  auto dense = weight.detach().reshape({m.rows(), m.cols()}).contiguous();
  m.pattern = kernels::CsrPattern::from_mask(dense.ne(0));
  m.values = kernels::csr_values(dense, m.pattern);
  return m;
}

torch::Tensor to_dense(const CsrMatrix& m) { return kernels::csr_to_dense(m.values, m.pattern).view(m.shape); }

std::vector<CsrMatrix> to_csr(torch::nn::Module& model, const std::vector<std::string>& names) {
  auto params = model.named_parameters();
  std::vector<CsrMatrix> out;
  for (const auto& name : names) {
    const torch::Tensor* p = params.find(name);
    TORCH_CHECK(p != nullptr, "model has no parameter named '", name, "'");
    out.push_back(to_csr(name, *p));
  }
  return out;
}

namespace {

constexpr char kMagic[8] = {'F', 'R', 'U', 'G', 'C', 'S', 'R', '1'};

void check_little_endian() {
  const uint16_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  TORCH_CHECK(first == 1, "the CSR file format is little-endian; this host is not");
}

template <typename T>
void put(std::ostream& out, const T& value) {
  out.write(reinterpret_cast<const char*>(&value), sizeof(T));
}

void put_tensor(std::ostream& out, const torch::Tensor& t) {
  auto c = t.contiguous();
  out.write(static_cast<const char*>(c.data_ptr()),
            static_cast<std::streamsize>(c.numel() * c.element_size()));
}

/// Reads the payload of a verified checked file, failing cleanly where a
/// field would run past its end.
class Reader {
 public:
  Reader(std::string payload, const std::string& path)
      : path_(path), size_(static_cast<int64_t>(payload.size())), in_(std::move(payload), std::ios::binary) {}

  /// Fails before allocating when the payload cannot hold `bytes` more.
  void need(int64_t bytes) {
    const int64_t pos = static_cast<int64_t>(in_.tellg());
    TORCH_CHECK(bytes >= 0 && pos + bytes <= size_, "CSR file '", path_, "' is truncated: ",
                bytes, " bytes needed at offset ", pos, " of ", size_);
  }

  template <typename T>
  T get() {
    need(sizeof(T));
    T value;
    in_.read(reinterpret_cast<char*>(&value), sizeof(T));
    return value;
  }

  torch::Tensor get_tensor(int64_t n, at::ScalarType type) {
    auto t = at::empty({n}, type);
    need(n * static_cast<int64_t>(t.element_size()));
    in_.read(static_cast<char*>(t.data_ptr()), n * static_cast<int64_t>(t.element_size()));
    return t;
  }

  std::string get_string(uint32_t n) {
    need(n);
    std::string s(n, '\0');
    in_.read(s.data(), n);
    return s;
  }

  bool at_end() { return static_cast<int64_t>(in_.tellg()) == size_; }

 private:
  std::string path_;
  int64_t size_ = 0;
  std::istringstream in_;
};

}  // namespace

void write_csr(const std::string& path, const std::vector<CsrMatrix>& matrices) {
  check_little_endian();
  std::ostringstream out(std::ios::binary);
  out.write(kMagic, sizeof(kMagic));
  put(out, static_cast<uint32_t>(matrices.size()));
  for (const auto& m : matrices) {
    TORCH_CHECK(m.pattern.rows() == m.rows() && m.pattern.cols() == m.cols() && m.pattern.nnz() == m.nnz(),
                "matrix '", m.name, "' is inconsistent: a ", m.pattern.rows(), " x ", m.pattern.cols(),
                " pattern of ", m.pattern.nnz(), " entries for ", m.rows(), " x ", m.cols(), " and ", m.nnz(),
                " values");
    const auto type = m.values.scalar_type();
    TORCH_CHECK(type == at::kFloat || type == at::kDouble, "matrix '", m.name,
                "' has values of type ", type, "; the format stores float32 or float64");
    put(out, static_cast<uint32_t>(m.name.size()));
    out.write(m.name.data(), static_cast<std::streamsize>(m.name.size()));
    put(out, static_cast<uint32_t>(m.shape.size()));
    for (int64_t d : m.shape) put(out, d);
    put(out, static_cast<uint8_t>(type == at::kFloat ? 4 : 8));
    put(out, m.rows());
    put(out, m.cols());
    put(out, m.nnz());
    put_tensor(out, m.pattern.row_ptr());
    put_tensor(out, m.pattern.col_idx());
    put_tensor(out, m.values);
  }
  core::write_file_atomically(path, core::seal(out.str()));
}

std::vector<CsrMatrix> read_csr(const std::string& path) {
  check_little_endian();
  Reader in(core::read_checked_file(path), path);
  char magic[sizeof(kMagic)];
  for (char& c : magic) c = in.get<char>();
  TORCH_CHECK(std::memcmp(magic, kMagic, sizeof(kMagic)) == 0, "'", path,
              "' is not a frugal CSR file (bad magic)");
  const uint32_t count = in.get<uint32_t>();
  std::vector<CsrMatrix> out;
  for (uint32_t i = 0; i < count; ++i) {
    CsrMatrix m;
    m.name = in.get_string(in.get<uint32_t>());
    const uint32_t dims = in.get<uint32_t>();
    TORCH_CHECK(dims >= 1 && dims <= 16, "CSR file '", path, "': matrix '", m.name, "' has ",
                dims, " dimensions");
    for (uint32_t d = 0; d < dims; ++d) {
      m.shape.push_back(in.get<int64_t>());
      TORCH_CHECK(m.shape.back() >= 0, "CSR file '", path, "': negative dimension in '", m.name,
                  "'");
    }
    const uint8_t value_bytes = in.get<uint8_t>();
    TORCH_CHECK(value_bytes == 4 || value_bytes == 8, "CSR file '", path, "': matrix '", m.name,
                "' has unknown value type ", static_cast<int>(value_bytes));
    const int64_t rows = in.get<int64_t>(), cols = in.get<int64_t>(), nnz = in.get<int64_t>();
    TORCH_CHECK(rows == m.rows() && cols == m.cols(), "CSR file '", path, "': matrix '", m.name,
                "' is ", rows, " x ", cols, " but its shape is ", c10::IntArrayRef(m.shape));
    TORCH_CHECK(nnz >= 0 && nnz <= rows * cols, "CSR file '", path, "': matrix '", m.name,
                "' claims ", nnz, " non-zeros");
    auto row_ptr = in.get_tensor(rows + 1, at::kLong);
    auto col_idx = in.get_tensor(nnz, at::kInt);
    m.values = in.get_tensor(nnz, value_bytes == 4 ? at::kFloat : at::kDouble);
    TORCH_CHECK(row_ptr[rows].item<int64_t>() == nnz, "CSR file '", path, "': row pointers of '", m.name,
                "' end at ", row_ptr[rows].item<int64_t>(), ", not at its ", nnz, " non-zeros");
    try {
      m.pattern = kernels::CsrPattern(row_ptr, col_idx, cols);
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, "CSR file '", path, "': matrix '", m.name, "': ", e.what_without_backtrace());
    }
    out.push_back(std::move(m));
  }
  TORCH_CHECK(in.at_end(), "CSR file '", path, "' has trailing bytes after ", count, " matrices");
  return out;
}

}  // namespace frugal::prune
