#pragma once
// What the IDX, CIFAR and CSV readers share (private to src/data): a file read
// through zlib, which inflates gzip members and passes any other file through,
// label checks and file look-up. Every error names the file.

#include "frugal/data/readers.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

namespace frugal::data::detail {

namespace fs = std::filesystem;

// Deflate emits at least ~2 bits per 258-byte match, so no gzip member can
// inflate to more than 1032 times its compressed size. This bounds what a
// gzipped file can really hold, so an absurd header is rejected before any
// allocation instead of after a multi-gigabyte one.
constexpr uint64_t kMaxDeflateRatio = 1032;

// gzread takes an unsigned length; reading in bounded chunks also keeps the
// truncation check exact for payloads larger than 4 GiB.
constexpr uint64_t kReadChunk = uint64_t{1} << 30;

/// A file read through zlib, which inflates gzip members and passes any other
/// file through unchanged, so the readers accept both without asking which.
/// Every error names the file via `desc_` ("IDX image file '/a/b'").
class InputFile {
 public:
  InputFile(const std::string& path, const std::string& kind)
      : path_(path), desc_(kind + " '" + path + "'") {
    std::error_code ec;
    auto status = fs::status(path, ec);
    TORCH_CHECK(status.type() != fs::file_type::not_found, desc_, ": file does not exist");
    TORCH_CHECK(!ec, desc_, ": cannot access: ", ec.message());
    TORCH_CHECK(fs::is_regular_file(status), desc_, ": is not a regular file");
    size_ = fs::file_size(path, ec);
    TORCH_CHECK(!ec, desc_, ": cannot get its size: ", ec.message());
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    TORCH_CHECK(file_ != nullptr, desc_, ": cannot open: ",
                errno != 0 ? std::strerror(errno) : "out of memory");
    // zlib's default 8 KiB buffer makes inflating tens of megabytes
    // noticeably slower; must be set before the first read.
    gzbuffer(file_, 1 << 18);
    compressed_ = gzdirect(file_) == 0;
  }
  ~InputFile() {
    if (file_ != nullptr) gzclose(file_);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& desc() const { return desc_; }
  bool compressed() const { return compressed_; }
  /// Size of the file on disk (compressed size for gzip files).
  uint64_t size() const { return size_; }

  /// The most data bytes that can follow `offset` decompressed bytes: exact
  /// for a raw file, an upper bound for a gzip file.
  uint64_t max_remaining(uint64_t offset) const {
    if (!compressed_) return size_ > offset ? size_ - offset : 0;
    if (size_ > std::numeric_limits<uint64_t>::max() / kMaxDeflateRatio)
      return std::numeric_limits<uint64_t>::max();
    return size_ * kMaxDeflateRatio;
  }

  /// Reads up to `n` bytes; fewer only when the data ends.
  uint64_t read_some(void* dst, uint64_t n) {
    auto* out = static_cast<uint8_t*>(dst);
    uint64_t got = 0;
    while (got < n) {
      const auto want = static_cast<unsigned>(std::min(n - got, kReadChunk));
      const int r = gzread(file_, out + got, want);
      if (r < 0) {
        int code = Z_OK;
        std::string msg = gzerror(file_, &code);
        // zlib prefixes its message with the path, which desc_ already names.
        if (msg.rfind(path_ + ": ", 0) == 0) msg.erase(0, path_.size() + 2);
        TORCH_CHECK(false, desc_, ": ", code == Z_ERRNO ? "read error: " : "corrupt gzip data: ",
                    code == Z_ERRNO ? std::strerror(errno) : msg);
      }
      if (r == 0) break;
      got += static_cast<uint64_t>(r);
    }
    return got;
  }

  /// Explains a short read: a gzip stream that stops mid-way (as after an
  /// interrupted download) rather than one that ended cleanly.
  std::string end_note() {
    int code = Z_OK;
    gzerror(file_, &code);
    return code == Z_BUF_ERROR ? " (the gzip stream is cut short)" : "";
  }

  /// True when the data ends here, i.e. nothing trails what the format
  /// promised.
  bool at_end() {
    uint8_t byte = 0;
    return read_some(&byte, 1) == 0;
  }

  /// Everything left in the file.
  std::vector<uint8_t> read_rest() {
    std::vector<uint8_t> out;
    // A raw file's size is exact; the extra byte lets the loop see the end
    // without a second pass.
    uint64_t capacity = compressed_ ? std::max<uint64_t>(4 * size_, 1 << 16) : size_ + 1;
    uint64_t got = 0;
    for (;;) {
      out.resize(capacity);
      got += read_some(out.data() + got, capacity - got);
      if (got < capacity) break;
      capacity *= 2;
    }
    out.resize(got);
    return out;
  }

 private:
  std::string path_;
  std::string desc_;
  gzFile file_ = nullptr;
  uint64_t size_ = 0;
  bool compressed_ = false;
};

/// Converts uint8 labels to int64 targets, checking each lies in [0, num_classes).
inline torch::Tensor checked_targets(const uint8_t* labels, int64_t n, size_t stride,
                              int64_t num_classes, const std::string& desc) {
  auto targets = torch::empty({n}, torch::kLong);
  int64_t* t = targets.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = labels[i * stride];
    TORCH_CHECK(label < num_classes, desc, ": label ", label, " of sample ", i,
                " is outside [0, ", num_classes, ")");
    t[i] = label;
  }
  return targets;
}

inline fs::path first_existing(const fs::path& dir, std::initializer_list<const char*> names,
                        const char* what) {
  std::string tried;
  for (const char* name : names) {
    const fs::path p = dir / name;
    if (fs::exists(p)) return p;
    tried += (tried.empty() ? "" : " or ") + std::string(name);
  }
  TORCH_CHECK(false, what, " directory '", dir.string(), "' has no ", tried);
}


/// Reads exactly `n` bytes at `offset` of `fd` (safe from several threads);
/// false when the file ends first, throws on a read error.
inline bool pread_exact(int fd, void* out, uint64_t n, uint64_t offset) {
  auto* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    TORCH_CHECK(r >= 0, "read error: ", std::strerror(errno));
    if (r == 0) return false;
    p += r;
    n -= static_cast<uint64_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

}  // namespace frugal::data::detail
