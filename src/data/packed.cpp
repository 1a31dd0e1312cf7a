#include "frugal/data/packed.h"

#include "input_file.h"

#include <torch/types.h>
#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace frugal::data {

namespace fs = std::filesystem;
using detail::pread_exact;

namespace {

constexpr char kMagic[8] = {'F', 'R', 'U', 'G', 'A', 'L', 'P', 'K'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kHeaderBytes = 64;
constexpr uint64_t kAlign = 4096;
constexpr uint64_t kBlock = uint64_t{1} << 20;  // checksum and copy granularity

template <typename T>
void put(std::vector<uint8_t>& buf, uint64_t at, T v) {
  std::memcpy(buf.data() + at, &v, sizeof v);  // x86 and arm64 are little-endian
}
template <typename T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint64_t align_up(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

uint64_t element_bytes(torch::ScalarType type) { return type == torch::kByte ? 1 : 4; }

void pwrite_all(int fd, const void* data, uint64_t n, uint64_t offset, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    TORCH_CHECK(w > 0, "pack: cannot write ", path, ": ", std::strerror(errno));
    p += w;
    n -= static_cast<uint64_t>(w);
    offset += static_cast<uint64_t>(w);
  }
}

uint32_t crc(uint32_t running, const void* data, uint64_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const auto chunk = static_cast<uInt>(std::min<uint64_t>(n, uint64_t{1} << 30));
    running = static_cast<uint32_t>(crc32(running, p, chunk));
    p += chunk;
    n -= chunk;
  }
  return running;
}

/// The statistics and labels that follow the fixed header.
std::vector<uint8_t> metadata(const Normalization& stats, const std::vector<int32_t>& labels) {
  std::vector<uint8_t> out(stats.mean.size() * 16 + labels.size() * 4);
  uint64_t at = 0;
  for (double m : stats.mean) put(out, (at += 8) - 8, m);
  for (double s : stats.std) put(out, (at += 8) - 8, s);
  if (!labels.empty()) std::memcpy(out.data() + at, labels.data(), labels.size() * 4);
  return out;
}

/// Removes a temporary file unless released (the pack finished).
struct TempFile {
  std::string path;
  int fd = -1;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) ::unlink(path.c_str());
  }
};

}  // namespace

PackedDataset::PackedDataset(const std::string& path) : path_(path) {
  const std::string what = "packed file '" + path + "'";
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TORCH_CHECK(fd_ >= 0, what, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  TORCH_CHECK(::fstat(fd_, &st) == 0, what, ": cannot stat: ", std::strerror(errno));
  const auto file_size = static_cast<uint64_t>(st.st_size);
  uint8_t h[kHeaderBytes];
  TORCH_CHECK(pread_exact(fd_, h, kHeaderBytes, 0), what, ": truncated: ", file_size,
              " bytes is shorter than the 64-byte header");
  TORCH_CHECK(std::memcmp(h, kMagic, 8) == 0, what, ": not a packed data set (wrong magic)");
  TORCH_CHECK(get<uint32_t>(h + 8) == kVersion, what, ": format version ", get<uint32_t>(h + 8),
              " (this build reads version ", kVersion, ")");
  const uint32_t type_code = get<uint32_t>(h + 12);
  TORCH_CHECK(type_code == 1 || type_code == 4, what, ": unknown sample type ", type_code,
              " (corrupt header)");
  type_ = type_code == 1 ? torch::kByte : torch::kFloat;
  const uint32_t rank = get<uint32_t>(h + 16);
  TORCH_CHECK(rank >= 1 && rank <= 4, what, ": sample rank ", rank, " (corrupt header)");
  uint64_t numel = 1;
  for (uint32_t d = 0; d < rank; ++d) {
    const uint32_t dim = get<uint32_t>(h + 20 + 4 * d);
    TORCH_CHECK(dim > 0 && !__builtin_mul_overflow(numel, uint64_t{dim}, &numel), what,
                ": sample dimension ", dim, " (corrupt header)");
    shape_.push_back(dim);
  }
  const uint64_t count = get<uint64_t>(h + 36);
  const uint64_t classes = get<uint64_t>(h + 44);
  const uint32_t channels = get<uint32_t>(h + 52);
  const uint32_t data_crc = get<uint32_t>(h + 56);
  const uint32_t meta_crc = get<uint32_t>(h + 60);
  TORCH_CHECK(count > 0 && count < (uint64_t{1} << 40) && classes >= 1 &&
                  classes < (uint64_t{1} << 31) && (channels == 0 || channels == shape_[0]),
              what, ": implausible header (", count, " samples, ", classes, " classes, ", channels,
              " channels): corrupt");
  sample_bytes_ = numel * element_bytes(type_);
  const uint64_t meta_bytes = uint64_t{channels} * 16 + count * 4;
  data_offset_ = align_up(kHeaderBytes + meta_bytes);
  uint64_t data_bytes = 0, expected = 0;
  TORCH_CHECK(!__builtin_mul_overflow(count, sample_bytes_, &data_bytes) &&
                  !__builtin_add_overflow(data_offset_, data_bytes, &expected),
              what, ": implausible header: sizes overflow 64 bits");
  TORCH_CHECK(file_size >= expected, what, ": truncated: the header promises ", count,
              " samples (", expected, " bytes) but the file has ", file_size);
  TORCH_CHECK(file_size == expected, what, ": ", file_size - expected,
              " bytes of trailing garbage after the ", count, " samples the header promises");

  std::vector<uint8_t> meta(meta_bytes);
  TORCH_CHECK(pread_exact(fd_, meta.data(), meta_bytes, kHeaderBytes), what, ": truncated metadata");
  uint32_t check = crc(crc(0, h, 60), meta.data(), meta.size());
  TORCH_CHECK(check == meta_crc, what, ": corrupt: the header, statistics or labels do not match "
              "their checksum");
  for (uint32_t c = 0; c < channels; ++c) {
    statistics_.mean.push_back(get<double>(meta.data() + 8 * c));
    statistics_.std.push_back(get<double>(meta.data() + 8 * (channels + c)));
  }
  labels_ = torch::empty({static_cast<int64_t>(count)}, torch::kLong);
  int64_t* labels = labels_.data_ptr<int64_t>();
  const uint8_t* stored = meta.data() + uint64_t{channels} * 16;
  for (uint64_t i = 0; i < count; ++i) {
    const int32_t label = get<int32_t>(stored + 4 * i);
    TORCH_CHECK(label >= 0 && static_cast<uint64_t>(label) < classes, what, ": label ", label,
                " of sample ", i, " is outside [0, ", classes, ")");
    labels[i] = label;
  }
  // The samples' checksum, streamed through a small buffer (the page cache,
  // not this process, holds what was read).
  std::vector<uint8_t> block(kBlock);
  check = 0;
  for (uint64_t at = 0; at < data_bytes; at += kBlock) {
    const uint64_t n = std::min(kBlock, data_bytes - at);
    TORCH_CHECK(pread_exact(fd_, block.data(), n, data_offset_ + at), what, ": truncated samples");
    check = crc(check, block.data(), n);
  }
  // What the check read need not stay cached; training reads samples in random order.
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED);
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_RANDOM);
  TORCH_CHECK(check == data_crc, what, ": corrupt: the samples do not match their checksum");
  count_ = static_cast<int64_t>(count);
  classes_ = static_cast<int64_t>(classes);
}

PackedDataset::~PackedDataset() {
  if (fd_ >= 0) ::close(fd_);
}

int64_t PackedDataset::read(int64_t index, void* out) const {
  TORCH_CHECK(index >= 0 && index < count_, "packed file '", path_, "': sample ", index,
              " is outside [0, ", count_, ")");
  TORCH_CHECK(pread_exact(fd_, out, sample_bytes_, data_offset_ + index * sample_bytes_),
              "packed file '", path_, "': sample ", index, " is cut short (the file shrank?)");
  return labels_.data_ptr<int64_t>()[index];
}

void pack(const IndexedDataset& source, const std::string& path, const PackProgress& progress) {
  const auto shape = source.sample_shape();
  const int64_t n = source.size();
  TORCH_CHECK(n > 0, "pack: the source holds no samples");
  TORCH_CHECK(!shape.empty() && shape.size() <= 4, "pack: samples of rank ", shape.size(),
              " (1 to 4 supported)");
  const torch::ScalarType type = source.sample_type();
  TORCH_CHECK(type == torch::kByte || type == torch::kFloat, "pack: samples must be uint8 or float32");
  const uint64_t sample_bytes = static_cast<uint64_t>(source.sample_numel()) * element_bytes(type);
  const int64_t channels = shape[0];

  const fs::path target(path);
  TempFile temp;
  temp.path = (target.parent_path() / ("." + target.filename().string() + ".tmp")).string();
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  temp.fd = ::open(temp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TORCH_CHECK(temp.fd >= 0, "pack: cannot create ", temp.path, ": ", std::strerror(errno));

  const uint64_t meta_bytes = uint64_t(channels) * 16 + uint64_t(n) * 4;
  const uint64_t data_offset = align_up(kHeaderBytes + meta_bytes);
  std::vector<int32_t> labels(n);
  ChannelMoments moments(channels, source.sample_numel() / channels);
  std::vector<std::string> failures;
  // Samples go out in blocks of about kBlock bytes.
  const int64_t per_block = std::max<int64_t>(1, static_cast<int64_t>(kBlock / sample_bytes));
  std::vector<uint8_t> block(per_block * sample_bytes);
  std::vector<float> values(source.sample_numel());
  SampleTransform plain;  // no augmentation, no normalization: the stored values as float
  uint32_t data_crc = 0;
  for (int64_t first = 0; first < n; first += per_block) {
    const int64_t count = std::min(per_block, n - first);
    for (int64_t k = 0; k < count; ++k) {
      uint8_t* sample = block.data() + k * sample_bytes;
      try {
        const int64_t label = source.read(first + k, sample);
        TORCH_CHECK(label >= 0 && label < source.class_count(), "label ", label,
                    " is outside [0, ", source.class_count(), ")");
        labels[first + k] = static_cast<int32_t>(label);
      } catch (const c10::Error& e) {
        failures.push_back("sample " + std::to_string(first + k) + ": " + e.what_without_backtrace());
        std::memset(sample, 0, sample_bytes);
        continue;
      }
      transform_sample(sample, type, shape, first + k, plain, values.data());
      moments.add(values.data());
    }
    const uint64_t bytes = static_cast<uint64_t>(count) * sample_bytes;
    data_crc = crc(data_crc, block.data(), bytes);
    pwrite_all(temp.fd, block.data(), bytes, data_offset + uint64_t(first) * sample_bytes, temp.path);
    if (progress) progress(first + count, n);
  }
  if (!failures.empty()) {
    std::string message = "pack: " + std::to_string(failures.size()) + " of " + std::to_string(n) +
                          " samples could not be read; nothing was written:";
    for (const auto& f : failures) message += "\n  " + f;
    TORCH_CHECK(false, message);
  }
  const Normalization stats = moments.finish();
  std::vector<uint8_t> header(kHeaderBytes, 0);
  std::memcpy(header.data(), kMagic, 8);
  put(header, 8, kVersion);
  put(header, 12, static_cast<uint32_t>(element_bytes(type)));
  put(header, 16, static_cast<uint32_t>(shape.size()));
  for (size_t d = 0; d < shape.size(); ++d)
    put(header, 20 + 4 * d, static_cast<uint32_t>(shape[d]));
  put(header, 36, static_cast<uint64_t>(n));
  put(header, 44, static_cast<uint64_t>(source.class_count()));
  put(header, 52, static_cast<uint32_t>(channels));
  put(header, 56, data_crc);
  const auto meta = metadata(stats, labels);
  put(header, 60, crc(crc(0, header.data(), 60), meta.data(), meta.size()));
  pwrite_all(temp.fd, header.data(), header.size(), 0, temp.path);
  pwrite_all(temp.fd, meta.data(), meta.size(), kHeaderBytes, temp.path);
  const std::vector<uint8_t> padding(data_offset - kHeaderBytes - meta_bytes, 0);
  if (!padding.empty())
    pwrite_all(temp.fd, padding.data(), padding.size(), kHeaderBytes + meta_bytes, temp.path);
  TORCH_CHECK(::fsync(temp.fd) == 0, "pack: cannot flush ", temp.path, ": ", std::strerror(errno));
  ::close(temp.fd);
  temp.fd = -1;
  TORCH_CHECK(::rename(temp.path.c_str(), path.c_str()) == 0, "pack: cannot rename ", temp.path,
              " to ", path, ": ", std::strerror(errno));
  temp.path.clear();
}

}  // namespace frugal::data
