#include "frugal/core/checked_file.h"

#include <c10/util/Exception.h>
#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace frugal::core {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'F', 'R', 'U', 'G', 'A', 'L', '\x01', '\n'};
constexpr size_t kHeaderSize = 24;

uint32_t crc32_of(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large payloads in pieces.
  while (size > 0) {
    const uInt piece = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), piece);
    data += piece;
    size -= piece;
  }
  return static_cast<uint32_t>(crc);
}

void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t get_le(const std::string& in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  return value;
}

std::string hex(uint32_t value) {
  std::ostringstream out;
  out << "0x" << std::hex << value;
  return out.str();
}

/// Writes all of `bytes` to `fd`; false on error (errno set).
bool write_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  TORCH_CHECK(fd >= 0, "cannot write ", path, ": ", std::strerror(errno));
  auto fail = [&](const char* step) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    TORCH_CHECK(false, "cannot write ", path, " (", step, "): ", reason);
  };
  // mkstemp creates 0600; the files are ordinary results, readable like any other.
  if (::fchmod(fd, 0644) != 0 || !write_all(fd, bytes) || ::fsync(fd) != 0) {
    ::close(fd);
    fail("write");
  }
  if (::close(fd) != 0) fail("close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename");
  // The rename is durable only once the directory entry is on disk.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

std::string seal(const std::string& payload) {
  std::string out(kMagic, sizeof kMagic);
  put_le(out, payload.size(), 8);
  put_le(out, crc32_of(payload.data(), payload.size()), 4);
  put_le(out, crc32_of(out.data(), out.size()), 4);
  out += payload;
  return out;
}

std::string unseal(const std::string& bytes, const std::string& path) {
  TORCH_CHECK(bytes.size() >= kHeaderSize && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0,
              path, " is not a frugal file (no checksum header",
              bytes.size() < kHeaderSize ? ", only " + std::to_string(bytes.size()) + " bytes" : "",
              "); it is truncated, corrupt, or not written by frugal");
  const auto header_crc = static_cast<uint32_t>(get_le(bytes, 20, 4));
  TORCH_CHECK(crc32_of(bytes.data(), 20) == header_crc, path,
              " is corrupt: its checksum header is damaged");
  const uint64_t length = get_le(bytes, 8, 8);
  const uint64_t present = bytes.size() - kHeaderSize;
  TORCH_CHECK(present == length, path, " is ",
              present < length ? "truncated" : "corrupt (trailing bytes)", ": ", present,
              " payload bytes where its header says ", length);
  const auto stored = static_cast<uint32_t>(get_le(bytes, 16, 4));
  const uint32_t computed = crc32_of(bytes.data() + kHeaderSize, length);
  TORCH_CHECK(stored == computed, path, " is corrupt: checksum ", hex(computed),
              " where its header says ", hex(stored));
  return bytes.substr(kHeaderSize);
}

std::string read_checked_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "cannot read ", path, ": ", std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  TORCH_CHECK(!in.bad(), "cannot read ", path);
  return unseal(buffer.str(), path);
}

void save_checked(torch::serialize::OutputArchive& archive, const std::string& path) {
  std::ostringstream payload;
  archive.save_to(payload);
  write_file_atomically(path, seal(payload.str()));
}

void load_checked(torch::serialize::InputArchive& archive, const std::string& path,
                  const std::string& what) {
  std::string payload;
  try {
    payload = read_checked_file(path);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, what, ": ", e.what_without_backtrace());
  }
  try {
    archive.load_from(payload.data(), payload.size());
  } catch (const c10::Error& e) {
    // The checksum matched, so the bytes are as written: not a LibTorch archive.
    TORCH_CHECK(false, what, ": ", path, " is not a LibTorch archive");
  }
}

}  // namespace frugal::core
