#pragma once
/// Files that cannot lie: every file frugal writes for later loading
/// (checkpoint.pt, model.pt, exported models) is written atomically and
/// carries a checksum over its bytes, verified before anything is loaded.
///
/// Layout of a checked file: a 24-byte header, then the payload (for
/// archives, LibTorch's own serialized bytes):
///
///   bytes 0..7    magic "FRUGAL\x01\n"
///   bytes 8..15   payload length, little-endian uint64
///   bytes 16..19  zlib crc32 of the payload, little-endian uint32
///   bytes 20..23  crc32 of bytes 0..19 (so a flipped length is caught as
///                 corruption, not read as a truncation)

#include <torch/serialize/archive.h>

#include <string>

namespace frugal::core {

/// Writes `bytes` to `path` so that a crash or a full disk never leaves a
/// half-written file: a temporary file in the same directory, written,
/// flushed and fsync'ed, renamed over `path`, then the directory fsync'ed.
/// Throws (and removes the temporary file) on any error.
void write_file_atomically(const std::string& path, const std::string& bytes);

/// `payload` with the checked-file header in front.
std::string seal(const std::string& payload);

/// The payload of the checked file `bytes` read from `path` (named in
/// errors). Throws one clear line when the magic, length or checksum is wrong.
std::string unseal(const std::string& bytes, const std::string& path);

/// Reads and verifies the checked file at `path`; returns its payload.
std::string read_checked_file(const std::string& path);

/// Serializes `archive` and writes it as a checked file, atomically.
void save_checked(torch::serialize::OutputArchive& archive, const std::string& path);

/// Verifies the checked file at `path` and loads it into `archive`; nothing
/// is parsed before the checksum matched. `what` names the file's role in errors
/// (e.g. "resume", "model init").
void load_checked(torch::serialize::InputArchive& archive, const std::string& path,
                  const std::string& what);

}  // namespace frugal::core
