#include "frugal/data/loader.h"

#include <c10/util/Exception.h>

#include <algorithm>

namespace frugal::data {

void LoaderOptions::validate() const {
  TORCH_CHECK(workers_ >= -1, "loader: workers must be >= 0 (or -1: default_workers()), got ",
              workers_);
  TORCH_CHECK(prefetch_ >= 1, "loader: prefetch must be >= 1, got ", prefetch_);
}

int64_t LoaderOptions::resolved_workers() const {
  return workers_ == -1 ? default_workers() : workers_;
}

int64_t default_workers() {
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  return std::clamp<int64_t>(cores / 4, 1, 4);
}

BatchLoader::BatchLoader(const IndexedDataset& data, torch::Tensor order, int64_t batch_size,
                         SampleTransform transform, LoaderOptions options)
    : data_(data),
      order_(order.to(torch::kLong).contiguous()),
      batch_size_(batch_size),
      transform_(std::move(transform)) {
  options.validate();
  TORCH_CHECK(batch_size_ >= 1, "loader: batch_size must be >= 1, got ", batch_size_);
  transform_.augment.validate(data_.sample_shape());
  batches_ = (order_.size(0) + batch_size_ - 1) / batch_size_;
  const int64_t workers = std::min(options.resolved_workers(), batches_);
  window_ = workers * options.prefetch();
  for (int64_t w = 0; w < workers; ++w) workers_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  space_.notify_all();
  for (auto& t : workers_) t.join();
}

IndexedBatch BatchLoader::assemble(int64_t b) const {
  const int64_t start = b * batch_size_;
  const int64_t end = std::min(order_.size(0), start + batch_size_);
  return load_batch(data_, order_.slice(0, start, end), transform_);
}

void BatchLoader::work() {
  for (;;) {
    int64_t b = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_.wait(lock, [&] {
        return stop_ || next_claim_ >= batches_ || next_claim_ < next_out_ + window_;
      });
      if (stop_ || next_claim_ >= batches_) return;
      b = next_claim_++;
    }
    IndexedBatch batch;
    std::exception_ptr error;
    try {
      batch = assemble(b);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error)
        failed_[b] = error;
      else
        done_[b] = std::move(batch);
    }
    ready_.notify_all();
  }
}

IndexedBatch BatchLoader::next() {
  TORCH_CHECK(next_out_ < batches_, "loader: all ", batches_, " batches were taken");
  if (workers_.empty()) return assemble(next_out_++);
  IndexedBatch batch;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return done_.count(next_out_) > 0 || failed_.count(next_out_) > 0; });
    auto failed = failed_.find(next_out_);
    if (failed != failed_.end()) std::rethrow_exception(failed->second);
    auto it = done_.find(next_out_);
    batch = std::move(it->second);
    done_.erase(it);
    ++next_out_;
  }
  space_.notify_all();
  return batch;
}

}  // namespace frugal::data
