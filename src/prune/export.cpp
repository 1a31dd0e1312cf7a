#include "frugal/prune/export.h"

#include "frugal/core/checked_file.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cstring>
#include <fstream>
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
  auto dense = weight.detach().reshape({m.rows(), m.cols()}).contiguous();
  auto nonzero = dense.ne(0);
  m.row_ptr = at::cat({at::zeros({1}, at::kLong), nonzero.sum(1, false, at::kLong).cumsum(0)});
  TORCH_CHECK(m.cols() < (int64_t{1} << 31), "'", name, "' has ", m.cols(),
              " columns; CSR column indices are int32");
  // nonzero() lists row-major, so the columns ascend within each row.
  m.col_idx = nonzero.nonzero().select(1, 1).to(at::kInt).contiguous();
  m.values = dense.masked_select(nonzero);
  return m;
}

torch::Tensor to_dense(const CsrMatrix& m) {
  auto dense = at::zeros({m.rows(), m.cols()}, m.values.options());
  if (m.nnz() > 0) {
    auto counts = m.row_ptr.slice(0, 1) - m.row_ptr.slice(0, 0, m.rows());
    auto rows = at::repeat_interleave(at::arange(m.rows(), at::kLong), counts);
    dense.index_put_({rows, m.col_idx.to(at::kLong)}, m.values);
  }
  return dense.view(m.shape);
}

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

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    TORCH_CHECK(in_, "cannot open CSR file '", path, "'");
    in_.seekg(0, std::ios::end);
    size_ = static_cast<int64_t>(in_.tellg());
    in_.seekg(0, std::ios::beg);
  }

  /// Fails before allocating when the file cannot hold `bytes` more.
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
  std::ifstream in_;
  int64_t size_ = 0;
};

}  // namespace

void write_csr(const std::string& path, const std::vector<CsrMatrix>& matrices) {
  check_little_endian();
  std::ostringstream out(std::ios::binary);
  out.write(kMagic, sizeof(kMagic));
  put(out, static_cast<uint32_t>(matrices.size()));
  for (const auto& m : matrices) {
    TORCH_CHECK(m.row_ptr.numel() == m.rows() + 1 && m.col_idx.numel() == m.nnz(),
                "matrix '", m.name, "' is inconsistent: ", m.row_ptr.numel(), " row pointers for ",
                m.rows(), " rows, ", m.col_idx.numel(), " columns for ", m.nnz(), " values");
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
    put_tensor(out, m.row_ptr.to(at::kLong));
    put_tensor(out, m.col_idx.to(at::kInt));
    put_tensor(out, m.values);
  }
  core::write_file_atomically(path, out.str());
}

std::vector<CsrMatrix> read_csr(const std::string& path) {
  check_little_endian();
  Reader in(path);
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
    m.row_ptr = in.get_tensor(rows + 1, at::kLong);
    m.col_idx = in.get_tensor(nnz, at::kInt);
    m.values = in.get_tensor(nnz, value_bytes == 4 ? at::kFloat : at::kDouble);
    auto steps = m.row_ptr.slice(0, 1) - m.row_ptr.slice(0, 0, rows);
    TORCH_CHECK(m.row_ptr[0].item<int64_t>() == 0 && m.row_ptr[rows].item<int64_t>() == nnz &&
                    (rows == 0 || steps.min().item<int64_t>() >= 0),
                "CSR file '", path, "': row pointers of '", m.name, "' are not ascending from 0 to ",
                nnz);
    TORCH_CHECK(nnz == 0 || (m.col_idx.min().item<int32_t>() >= 0 &&
                             m.col_idx.max().item<int32_t>() < cols),
                "CSR file '", path, "': column index out of range in '", m.name, "'");
    out.push_back(std::move(m));
  }
  TORCH_CHECK(in.at_end(), "CSR file '", path, "' has trailing bytes after ", count, " matrices");
  return out;
}

}  // namespace frugal::prune
