#include "frugal/data/pack_source.h"

#include "frugal/data/image_folder.h"
#include "frugal/data/readers.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <filesystem>
#include <memory>

namespace frugal::data {

namespace fs = std::filesystem;

const std::vector<std::string>& pack_formats() {
  static const std::vector<std::string> formats = {"idx", "cifar10", "cifar100", "csv", "images"};
  return formats;
}

std::vector<std::string> pack_source(
    const PackSourceOptions& options, const std::string& output_dir,
    const std::function<void(const std::string&, int64_t, int64_t)>& progress) {
  const auto& formats = pack_formats();
  TORCH_CHECK(std::find(formats.begin(), formats.end(), options.format) != formats.end(),
              "pack: unknown format '", options.format, "' (known: idx, cifar10, cifar100, csv, images)");
  TORCH_CHECK(!options.input.empty(), "pack: no input given");
  std::shared_ptr<const IndexedDataset> train, test;
  const auto& format = options.format;
  if (format == "idx" || format == "cifar10" || format == "cifar100") {
    Splits splits = format == "idx" ? read_idx_dir(options.input, 10)
                                    : read_cifar_dir(options.input, format == "cifar10" ? 10 : 100);
    train = std::make_shared<TensorDataset>(std::move(splits.train));
    test = std::make_shared<TensorDataset>(std::move(splits.test));
  } else if (format == "csv") {
    CsvOptions csv;
    csv.label_column = options.label_column;
    csv.label_index = options.label_index;
    auto train_set = std::make_shared<TensorDataset>(read_csv(options.input, csv));
    if (!options.test_input.empty()) {
      csv.num_classes = train_set->num_classes;
      test = std::make_shared<TensorDataset>(read_csv(options.test_input, csv));
    }
    train = train_set;
  } else {
    ImageFolderOptions images;
    images.rows = options.rows;
    images.cols = options.cols;
    images.channels = options.channels;
    const fs::path root(options.input);
    if (fs::is_directory(root / "train") && fs::is_directory(root / "test")) {
      auto train_set = std::make_shared<ImageFolderDataset>((root / "train").string(), images);
      images.classes = train_set->classes();  // the test split numbers classes as training does
      test = std::make_shared<ImageFolderDataset>((root / "test").string(), images);
      train = train_set;
    } else {
      train = std::make_shared<ImageFolderDataset>(options.input, images);
    }
  }
  fs::create_directories(output_dir);
  std::vector<std::string> written;
  auto write = [&](const std::shared_ptr<const IndexedDataset>& data, const std::string& split) {
    const std::string path = (fs::path(output_dir) / (split + ".pack")).string();
    pack(*data, path, [&](int64_t done, int64_t total) {
      if (progress) progress(split, done, total);
    });
    written.push_back(path);
  };
  write(train, "train");
  if (test && test->size() > 0)
    write(test, "test");
  else
    fs::remove(fs::path(output_dir) / "test.pack");  // not a stale split from an earlier pack
  return written;
}

}  // namespace frugal::data
