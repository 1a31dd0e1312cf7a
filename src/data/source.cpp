#include "frugal/data/source.h"

#include "frugal/data/in_place.h"
#include "frugal/data/packed.h"
#include "frugal/data/readers.h"

#include <torch/types.h>

#include <algorithm>
#include <filesystem>
#include <unordered_map>

namespace frugal::data {

namespace fs = std::filesystem;

SubsetDataset::SubsetDataset(std::shared_ptr<const IndexedDataset> base,
                             std::vector<int64_t> indices, std::vector<int64_t> relabel,
                             int64_t class_count)
    : base_(std::move(base)),
      indices_(std::move(indices)),
      relabel_(std::move(relabel)),
      classes_(class_count > 0 ? class_count : base_->class_count()) {
  for (int64_t i : indices_)
    TORCH_CHECK(i >= 0 && i < base_->size(), "subset: sample ", i, " is outside [0, ",
                base_->size(), ")");
}

torch::Tensor SubsetDataset::labels() const {
  const auto all = base_->labels().contiguous();
  const int64_t* base_labels = all.data_ptr<int64_t>();
  auto out = torch::empty({size()}, torch::kLong);
  int64_t* o = out.data_ptr<int64_t>();
  for (size_t i = 0; i < indices_.size(); ++i) {
    const int64_t label = base_labels[indices_[i]];
    o[i] = relabel_.empty() ? label : relabel_[label];
  }
  return out;
}

int64_t SubsetDataset::read(int64_t index, void* out) const {
  TORCH_CHECK(index >= 0 && index < size(), "subset: sample ", index, " is outside [0, ", size(), ")");
  const int64_t label = base_->read(indices_[index], out);
  return relabel_.empty() ? label : relabel_[label];
}

std::shared_ptr<const IndexedDataset> first_samples(std::shared_ptr<const IndexedDataset> data,
                                                    int64_t limit) {
  if (limit <= 0 || limit >= data->size()) return data;
  std::vector<int64_t> indices(limit);
  for (int64_t i = 0; i < limit; ++i) indices[i] = i;
  return std::make_shared<SubsetDataset>(std::move(data), std::move(indices));
}

std::shared_ptr<const IndexedDataset> filter_classes(std::shared_ptr<const IndexedDataset> data,
                                                     const std::vector<int64_t>& classes,
                                                     bool relabel) {
  TORCH_CHECK(!classes.empty(), "class filter: the list of classes is empty");
  const int64_t num_classes = data->class_count();
  std::vector<int64_t> new_label(num_classes, -1);
  for (size_t i = 0; i < classes.size(); ++i) {
    TORCH_CHECK(classes[i] >= 0 && classes[i] < num_classes, "class filter: class ", classes[i],
                " is outside [0, ", num_classes, ")");
    TORCH_CHECK(new_label[classes[i]] < 0, "class filter: class ", classes[i], " is listed twice");
    new_label[classes[i]] = static_cast<int64_t>(i);
  }
  const auto labels = data->labels().contiguous();
  const int64_t* t = labels.data_ptr<int64_t>();
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < labels.size(0); ++i)
    if (new_label[t[i]] >= 0) keep.push_back(i);
  TORCH_CHECK(!keep.empty(), "class filter: no sample has any of the chosen classes");
  if (!relabel) return std::make_shared<SubsetDataset>(std::move(data), std::move(keep));
  return std::make_shared<SubsetDataset>(std::move(data), std::move(keep), std::move(new_label),
                                         static_cast<int64_t>(classes.size()));
}

const std::vector<std::string>& source_names() {
  static const std::vector<std::string> names = {"fashion-mnist", "idx", "cifar10", "cifar100",
                                                 "csv", "packed"};
  return names;
}

void SourceOptions::validate() const {
  const auto& names = source_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    TORCH_CHECK(false, "[data] name '", name, "' is unknown (known: ", known, ")");
  }
  TORCH_CHECK(name == "fashion-mnist" || !path.empty(), "[data] path is needed for '", name, "'");
  TORCH_CHECK(limit >= 0 && test_limit >= 0, "[data] limits must be >= 0");
  TORCH_CHECK(!in_place || name == "idx" || name == "fashion-mnist" || name == "cifar10" ||
                  name == "cifar100",
              "[data] in_place reads IDX and CIFAR files; '", name, "' cannot be read in place");
}

namespace {

std::shared_ptr<const IndexedDataset> shared(TensorDataset d) {
  return std::make_shared<TensorDataset>(std::move(d));
}

/// A packed directory: train.pack and, when present, test.pack.
Source open_packed(const std::string& dir) {
  TORCH_CHECK(fs::is_directory(dir), "data: packed directory ", dir,
              " does not exist (make it with `frugal pack`)");
  const fs::path train = fs::path(dir) / "train.pack", test = fs::path(dir) / "test.pack";
  TORCH_CHECK(fs::exists(train), "data: packed directory ", dir,
              " has no train.pack (make it with `frugal pack`)");
  Source source;
  auto packed = std::make_shared<PackedDataset>(train.string());
  source.normalization = packed->statistics();
  source.train = packed;
  if (fs::exists(test)) source.test = std::make_shared<PackedDataset>(test.string());
  return source;
}

}  // namespace

Source open_source(const SourceOptions& options) {
  options.validate();
  Source source;
  Splits splits;
  const auto& name = options.name;
  const bool idx = name == "fashion-mnist" || name == "idx";
  const bool cifar = name == "cifar10" || name == "cifar100";
  std::string dir = options.path;
  if (name == "fashion-mnist") {
    if (dir.empty()) dir = kFashionMnistDir;
    TORCH_CHECK(fs::is_directory(dir), "data: Fashion-MNIST directory ", dir,
                " does not exist (install the dataset-fashion-mnist package or set [data] path)");
  }
  if (cifar)
    TORCH_CHECK(fs::is_directory(dir), "data: CIFAR directory ", dir,
                " does not exist (CIFAR is not packaged in Debian: download the binary version, ",
                name == "cifar10" ? "cifar-10-binary.tar.gz" : "cifar-100-binary.tar.gz",
                ", from https://www.cs.toronto.edu/~kriz/cifar.html and extract it there)");
  const int64_t classes = name == "cifar100" ? 100 : 10;
  if (options.in_place && idx) {
    const SplitFiles files = idx_dir_files(dir);
    source.train = open_idx_in_place(files.train[0], files.train[1], classes);
    source.test = open_idx_in_place(files.test[0], files.test[1], classes);
  } else if (options.in_place && cifar) {
    const SplitFiles files = cifar_dir_files(dir, classes);
    source.train = open_cifar_in_place(files.train, classes);
    source.test = open_cifar_in_place(files.test, classes);
  } else if (idx) {
    splits = read_idx_dir(dir, classes);
  } else if (cifar) {
    splits = read_cifar_dir(dir, classes);
  } else if (name == "csv") {
    CsvOptions csv;
    csv.label_column = options.label_column;
    csv.label_index = options.label_index;
    splits.train = read_csv(options.path, csv);
    if (!options.test_path.empty()) {
      csv.num_classes = splits.train.num_classes;
      splits.test = read_csv(options.test_path, csv);
    }
  } else {
    source = open_packed(options.path);
  }
  if (!source.train) {  // read into memory
    source.train = shared(std::move(splits.train));
    source.test = shared(std::move(splits.test));
  }
  if (!source.test) source.test = shared(TensorDataset{});
  if (!options.classes.empty()) {
    source.train = filter_classes(source.train, options.classes, options.relabel);
    if (source.test->size() > 0)
      source.test = filter_classes(source.test, options.classes, options.relabel);
  }
  const bool whole_train = options.classes.empty() && (options.limit == 0 || options.limit >= source.train->size());
  source.train = first_samples(source.train, options.limit);
  source.test = first_samples(source.test, options.test_limit);
  if (!options.standardize)
    source.normalization = {};
  else if (source.normalization.empty() || !whole_train)
    // The statistics of exactly the samples trained on (a packed file stores
    // those of all its samples).
    source.normalization = channel_statistics(*source.train);
  return source;
}

}  // namespace frugal::data
