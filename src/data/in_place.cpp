#include "frugal/data/in_place.h"

#include "input_file.h"

#include <torch/types.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace frugal::data {

RecordFileDataset::RecordFileDataset(std::vector<Part> parts, uint64_t record_bytes,
                                     uint64_t sample_offset, std::vector<int64_t> sample_shape,
                                     torch::Tensor labels, int64_t classes)
    : parts_(std::move(parts)),
      record_bytes_(record_bytes),
      sample_offset_(sample_offset),
      shape_(std::move(sample_shape)),
      labels_(labels.to(torch::kLong).contiguous()),
      classes_(classes) {
  sample_bytes_ = static_cast<uint64_t>(sample_numel());
  TORCH_CHECK(sample_offset_ + sample_bytes_ <= record_bytes_, "in-place data: a ", sample_bytes_,
              "-byte sample at offset ", sample_offset_, " does not fit a ", record_bytes_, "-byte record");
  int64_t start = 0;
  for (const auto& part : parts_) {
    const int fd = ::open(part.path.c_str(), O_RDONLY | O_CLOEXEC);
    TORCH_CHECK(fd >= 0, "'", part.path, "': cannot open: ", std::strerror(errno));
    fds_.push_back(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    starts_.push_back(start);
    start += part.records;
  }
  TORCH_CHECK(start == labels_.size(0), "in-place data: ", start, " records but ", labels_.size(0),
              " labels");
}

RecordFileDataset::~RecordFileDataset() {
  for (int fd : fds_) ::close(fd);
}

int64_t RecordFileDataset::read(int64_t index, void* out) const {
  TORCH_CHECK(index >= 0 && index < size(), "in-place data: sample ", index, " is outside [0, ",
              size(), ")");
  const size_t part = std::upper_bound(starts_.begin(), starts_.end(), index) - starts_.begin() - 1;
  const uint64_t local = static_cast<uint64_t>(index - starts_[part]);
  TORCH_CHECK(detail::pread_exact(fds_[part], out, sample_bytes_,
                                  parts_[part].first_record + local * record_bytes_ + sample_offset_),
              "'", parts_[part].path, "': sample ", index, " is cut short (the file shrank?)");
  return labels_.data_ptr<int64_t>()[index];
}

}  // namespace frugal::data
