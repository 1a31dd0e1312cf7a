// Weight and score distributions of pruned fine-tuning runs (bench/fineprune.sh),
// to see which weights each method kept and why.
//
//   bench_fineprune_distributions PRETRAIN_MODEL_PT OUT_DIR RUN_DIR...
//
// PRETRAIN_MODEL_PT is the pretrained model.pt the runs were fine-tuned from
// (its "model" archive gives W0); each RUN_DIR holds a pruned run's model.pt
// ("model": the fine-tuned W, unmasked; "hook.prune": the pruner's scores and
// masks). For each run and pruned layer writes OUT_DIR/<run>.<layer>.tsv with
// the columns
//
//   w0  w  score  kept  sample  w_unmasked
//
// w = w_unmasked * kept (the weight the pruned model uses; for L0 the gate
// between 0 and 1 is not applied, kept says only that it is open), score is
// the learned score (empty for magnitude, whose score is |W|), sample = 1 for
// the rows of a uniform random subsample of at most 20000 weights (fixed
// seed, the same rows for every run of a layer). Every kept weight is
// written, sampled or not, so the kept rows are complete and the sample = 1
// rows are an unbiased picture of all weights. Prints a Markdown table per
// run and layer and the overlap of the runs' kept sets.
//
// Movement pruning: Sanh, Wolf & Rush, "Movement Pruning: Adaptive Sparsity by
// Fine-Tuning", NeurIPS 2020 (their Figure 2 plots W0 against W of the kept
// weights). bench/fineprune_plots.sh runs this and draws the plots.

#include "frugal/core/checked_file.h"

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr int64_t kSampleRows = 20000;
constexpr uint64_t kSampleSeed = 20200101;

torch::serialize::InputArchive open_archive(const std::string& path) {
  TORCH_CHECK(fs::exists(path), "no such file: ", path);
  torch::serialize::InputArchive archive;
  frugal::core::load_checked(archive, path, "distributions");
  return archive;
}

/// A parameter of a saved model: Module::save nests one archive per
/// submodule, so "body.0.weight" is model/body/0/weight.
torch::Tensor read_parameter(torch::serialize::InputArchive& model, const std::string& name,
                             const std::string& path) {
  std::vector<torch::serialize::InputArchive> chain;
  chain.reserve(8);
  torch::serialize::InputArchive* level = &model;
  std::string rest = name;
  for (auto dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
    chain.emplace_back();
    TORCH_CHECK(level->try_read(rest.substr(0, dot), chain.back()), path, " has no parameter '",
                name, "'");
    level = &chain.back();
    rest = rest.substr(dot + 1);
  }
  torch::Tensor t;
  TORCH_CHECK(level->try_read(rest, t), path, " has no parameter '", name, "'");
  return t.to(torch::kDouble);
}

struct Layer {
  std::string name;
  torch::Tensor w0, w_raw, kept, score;  // flat; score undefined for magnitude
};

struct Run {
  std::string name;
  std::vector<Layer> layers;
};

Run read_run(const std::string& dir, torch::serialize::InputArchive& pretrain,
             const std::string& pretrain_path) {
  Run run;
  run.name = fs::path(dir).lexically_normal().filename().string();
  if (run.name.empty() || run.name == ".")
    run.name = fs::path(dir).lexically_normal().parent_path().filename().string();
  const std::string path = (fs::path(dir) / "model.pt").string();
  auto archive = open_archive(path);
  torch::serialize::InputArchive model, hook;
  TORCH_CHECK(archive.try_read("model", model), path, " has no \"model\" archive");
  TORCH_CHECK(archive.try_read("hook.prune", hook), path,
              " has no \"hook.prune\" archive (not a pruned run?)");
  const std::string mask_prefix = "mask.";
  for (const auto& key : hook.keys()) {
    if (key.rfind(mask_prefix, 0) != 0) continue;
    Layer layer;
    layer.name = key.substr(mask_prefix.size());
    torch::Tensor mask;
    hook.read(key, mask, /*is_buffer=*/true);
    layer.w_raw = read_parameter(model, layer.name, path).flatten();
    layer.w0 = read_parameter(pretrain, layer.name, pretrain_path).flatten();
    TORCH_CHECK(layer.w0.numel() == layer.w_raw.numel(), "'", layer.name, "' has ",
                layer.w_raw.numel(), " weights in ", path, " but ", layer.w0.numel(), " in ",
                pretrain_path);
    layer.kept = mask.flatten().ne(0);
    TORCH_CHECK(layer.kept.numel() == layer.w_raw.numel(), "mask of '", layer.name, "' in ",
                path, " has ", layer.kept.numel(), " entries, the weight ", layer.w_raw.numel());
    torch::Tensor score;
    if (hook.try_read("scores." + layer.name, score, /*is_buffer=*/true))
      layer.score = score.flatten().to(torch::kDouble);
    run.layers.push_back(std::move(layer));
  }
  TORCH_CHECK(!run.layers.empty(), path, ": \"hook.prune\" holds no masks");
  std::sort(run.layers.begin(), run.layers.end(),
            [](const Layer& a, const Layer& b) { return a.name < b.name; });
  return run;
}

/// Uniform sample of min(n, kSampleRows) indices, the same for every call with
/// the same n.
std::vector<bool> sample_rows(int64_t n) {
  std::vector<bool> in(n, n <= kSampleRows);
  if (n <= kSampleRows) return in;
  std::vector<int64_t> idx(n);
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  std::mt19937_64 rng(kSampleSeed);
  for (int64_t i = 0; i < kSampleRows; ++i) {
    const auto j = i + static_cast<int64_t>(rng() % static_cast<uint64_t>(n - i));
    std::swap(idx[i], idx[j]);
    in[idx[i]] = true;
  }
  return in;
}

void write_tsv(const std::string& path, const Layer& l) {
  std::ofstream out(path);
  TORCH_CHECK(out, "cannot write ", path);
  const auto n = l.w0.numel();
  const auto in_sample = sample_rows(n);
  auto w0 = l.w0.accessor<double, 1>();
  auto w = l.w_raw.accessor<double, 1>();
  auto kept = l.kept.accessor<bool, 1>();
  const bool has_score = l.score.defined();
  auto score = has_score ? l.score : torch::zeros({1}, torch::kDouble);
  auto s = score.accessor<double, 1>();
  out << "# w0\tw\tscore\tkept\tsample\tw_unmasked\n";
  char line[160];
  for (int64_t i = 0; i < n; ++i) {
    if (!kept[i] && !in_sample[i]) continue;
    char sc[40] = "";
    if (has_score) std::snprintf(sc, sizeof sc, "%.6g", s[i]);
    std::snprintf(line, sizeof line, "%.6g\t%.6g\t%s\t%d\t%d\t%.6g\n", w0[i], kept[i] ? w[i] : 0.0,
                  sc, kept[i] ? 1 : 0, in_sample[i] ? 1 : 0, w[i]);
    out << line;
  }
  TORCH_CHECK(out.good(), "error writing ", path);
}

double mean_of(const torch::Tensor& t) { return t.numel() ? t.mean().item<double>() : 0.0; }

std::string fmt(double v, const char* spec = "%.4f") {
  char buf[32];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

std::string pct(double v) { return fmt(100.0 * v, "%.1f%%"); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: bench_fineprune_distributions PRETRAIN_MODEL_PT OUT_DIR RUN_DIR...\n";
    return 2;
  }
  try {
    const std::string pretrain_path = argv[1];
    const fs::path out_dir = argv[2];
    auto pretrain_file = open_archive(pretrain_path);
    torch::serialize::InputArchive pretrain;
    TORCH_CHECK(pretrain_file.try_read("model", pretrain), pretrain_path,
                " has no \"model\" archive (expected a run's model.pt)");
    std::vector<Run> runs;
    for (int i = 3; i < argc; ++i) runs.push_back(read_run(argv[i], pretrain, pretrain_path));
    fs::create_directories(out_dir);

    std::cout << "| run | layer | remaining | mean abs W0: kept / all | kept in top-abs(W0) set | "
                 "mean abs(W-W0): kept / all | moved away from 0: kept / all |\n"
                 "|---|---|---|---|---|---|---|\n";
    for (const auto& run : runs) {
      for (const auto& l : run.layers) {
        write_tsv((out_dir / (run.name + "." + l.name + ".tsv")).string(), l);
        const auto n = l.w0.numel();
        const auto k = l.kept.sum().item<int64_t>();
        const auto a0 = l.w0.abs();
        const auto delta = (l.w_raw - l.w0).abs();
        // Away from zero: the weight moved in the direction of its own sign.
        const auto away = (l.w_raw * (l.w_raw - l.w0)).gt(0).to(torch::kDouble);
        // What magnitude pruning of the pretrained weights would keep at the same count.
        const auto top0 = torch::zeros({n}, torch::kBool);
        if (k > 0) top0.index_fill_(0, std::get<1>(a0.topk(k)), true);
        const auto both = (top0 & l.kept).sum().item<int64_t>();
        std::cout << "| " << run.name << " | " << l.name << " | " << fmt(100.0 * k / n, "%.2f%%")
                  << " | " << fmt(mean_of(a0.masked_select(l.kept))) << " / " << fmt(mean_of(a0))
                  << " | " << (k ? pct(static_cast<double>(both) / k) : "-") << " | "
                  << fmt(mean_of(delta.masked_select(l.kept))) << " / " << fmt(mean_of(delta)) << " | "
                  << pct(mean_of(away.masked_select(l.kept))) << " / " << pct(mean_of(away)) << " |\n";
      }
    }

    std::cout << "\nkept in top-abs(W0) set: share of the kept weights that are among the same "
                 "number of largest |W0| (what magnitude pruning of the pretrained weights keeps; "
                 "chance level is the remaining share). Moved away from 0: W * (W - W0) > 0. W is "
                 "the fine-tuned weight before masking.\n";

    // Which weights the methods agree on: Jaccard index of the kept sets.
    if (runs.size() > 1) {
      std::cout << "\n| layer | run A | run B | kept A | kept B | Jaccard of kept sets |\n"
                   "|---|---|---|---|---|---|\n";
      std::map<std::string, std::vector<std::pair<const Run*, const Layer*>>> by_layer;
      for (const auto& run : runs)
        for (const auto& l : run.layers) by_layer[l.name].emplace_back(&run, &l);
      for (const auto& [name, list] : by_layer)
        for (size_t i = 0; i < list.size(); ++i)
          for (size_t j = i + 1; j < list.size(); ++j) {
            const auto& a = *list[i].second;
            const auto& b = *list[j].second;
            if (a.kept.numel() != b.kept.numel()) continue;
            const auto inter = (a.kept & b.kept).sum().item<int64_t>();
            const auto uni = (a.kept | b.kept).sum().item<int64_t>();
            std::cout << "| " << name << " | " << list[i].first->name << " | "
                      << list[j].first->name << " | " << a.kept.sum().item<int64_t>() << " | "
                      << b.kept.sum().item<int64_t>() << " | "
                      << (uni ? fmt(static_cast<double>(inter) / uni, "%.3f") : "-") << " |\n";
          }
    }
  } catch (const c10::Error& e) {
    std::cerr << "bench_fineprune_distributions: " << e.msg() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "bench_fineprune_distributions: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
