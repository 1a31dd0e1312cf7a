// The frugal command-line program: parse, build, run. All work is in the library.

#include "frugal/data/pack_source.h"
#include "frugal/dist/data_parallel.h"
#include "frugal/dist/launcher.h"
#include "frugal/app/export_run.h"
#include "frugal/recipe/recipe.h"
#include "frugal/app/run.h"
#include "frugal/train/progress.h"
#include "frugal/train/report.h"

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace {

namespace fs = std::filesystem;

/// Where this process stands among the processes of one training.
struct Ranks {
  int64_t nproc = 1;       // --nproc: start this many local workers
  int64_t rank = -1;       // --rank (-1: not given)
  int64_t world_size = 1;  // --world-size
  std::string master = "127.0.0.1:29500";
};

/// argv without --nproc and its value: what each local worker runs.
std::vector<std::string> worker_args(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--nproc") {
      ++i;
      continue;
    }
    if (a.rfind("--nproc=", 0) == 0) continue;
    args.push_back(a);
  }
  return args;
}

/// The recipe of `frugal train` (read and checked): the file, or a resumed run's config.toml.
frugal::recipe::Recipe train_recipe(const std::string& recipe_path, const std::vector<std::string>& overrides,
                                    const std::string& resume_dir) {
  if (resume_dir.empty()) return frugal::recipe::load_recipe(recipe_path, overrides);
  // The resolved config saved in the run directory reproduces the run exactly.
  std::vector<std::string> all = overrides;
  all.push_back("run.out_dir=\"" + fs::path(resume_dir).parent_path().string() + "\"");
  all.push_back("run.name=\"" + fs::path(resume_dir).filename().string() + "\"");
  return frugal::recipe::load_recipe((fs::path(resume_dir) / "config.toml").string(), all);
}

int train_command(const std::string& recipe_path, const std::vector<std::string>& overrides,
                  const std::string& resume_dir, const Ranks& ranks) {
  frugal::app::RunOptions options;
  const frugal::recipe::Recipe recipe = train_recipe(recipe_path, overrides, resume_dir);
  options.resume = !resume_dir.empty();
  if (ranks.world_size > 1) {
    frugal::dist::DistOptions dist;
    dist.rank = ranks.rank;
    dist.world_size = ranks.world_size;
    std::tie(dist.master_host, dist.master_port) = frugal::dist::parse_master(ranks.master);
    dist.timeout_s = recipe.run.dist_timeout_s;
    dist.backend = recipe.dist.backend;
    dist.device = frugal::train::resolve_device(recipe.train.device);
    options.data_parallel = std::make_shared<frugal::dist::DataParallel>(
        std::make_shared<frugal::dist::Communicator>(dist));
  }
  const bool writer = ranks.rank <= 0;
  if (writer)
    std::cerr << "# resolved recipe (" << frugal::app::run_directory(recipe) << ")\n"
              << recipe.to_toml() << "\n\n";
  auto summary = frugal::app::run_recipe(recipe, options);
  if (writer) std::cout << summary.dump(2) << std::endl;
  return 0;
}

int report_command(const std::vector<std::string>& dirs, std::string out_dir, bool plots) {
  std::vector<frugal::train::RunRecord> runs;
  for (const auto& dir : dirs) runs.push_back(frugal::train::read_run(dir));
  std::cout << frugal::train::compare_table(runs);
  if (plots) {
    if (out_dir.empty()) out_dir = (fs::path(dirs.front()).parent_path() / "report").string();
    for (const auto& png : frugal::train::plot_runs(runs, out_dir))
      std::cout << "plot: " << png << "\n";
  }
  return 0;
}

int export_command(const std::string& run_dir, const frugal::app::ExportOptions& options) {
  auto result = frugal::app::export_run(run_dir, options);
  std::cout << result.remaining.table() << "\nmodel: " << result.model_path
            << "\nCSR weights: " << result.csr_path
            << "\nlargest output difference, masked vs exported: " << result.max_output_difference
            << "\n\n" << result.layer_table << "\nsparse model: " << result.sparse_model_path
            << "\nlargest output difference, exported vs sparse: " << result.max_sparse_difference
            << std::endl;
  return 0;
}

int infer_command(const std::string& run_dir, int64_t batch) {
  auto r = frugal::app::infer_run(run_dir, batch);
  std::cout << r.layer_table << "\ntest samples: " << r.samples << "\nsparse model accuracy: " << r.sparse_accuracy
            << "\ndense model accuracy: " << r.dense_accuracy << "\nsame prediction: " << r.agreement
            << "\nlargest output difference: " << r.max_output_difference << std::endl;
  return 0;
}

int pack_command(const frugal::data::PackSourceOptions& options, const std::string& out_dir) {
  frugal::train::Progress progress(true);
  const auto files = frugal::data::pack_source(
      options, out_dir, [&](const std::string& split, int64_t done, int64_t total) {
        progress.count("pack " + split, done, total);
      });
  for (const auto& f : files) std::cout << f << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"frugal: cheaper neural-network training by pruning data and weights"};
  app.require_subcommand(1);

  auto* train = app.add_subcommand("train", "train what a recipe describes");
  std::string recipe_path, resume_dir;
  std::vector<std::string> overrides;
  train->add_option("recipe", recipe_path, "recipe file (TOML)");
  train->add_option("--set", overrides, "override a recipe value: section.key=value")
      ->take_all();
  train->add_option("--resume", resume_dir, "continue an interrupted run from its directory")
      ->check(CLI::ExistingDirectory);
  Ranks ranks;
  train->add_option("--nproc", ranks.nproc, "train with N processes on this machine (default 1)")
      ->check(CLI::PositiveNumber);
  auto* rank_option = train->add_option("--rank", ranks.rank, "this process's rank, with --world-size and --master")
      ->check(CLI::NonNegativeNumber);
  auto* world_option = train->add_option("--world-size", ranks.world_size, "number of processes over all machines")
      ->check(CLI::PositiveNumber);
  train->add_option("--master", ranks.master, "HOST:PORT of rank 0, which hosts the store (default 127.0.0.1:29500)");
  rank_option->needs(world_option);
  world_option->needs(rank_option);

  auto* report = app.add_subcommand("report", "compare finished runs side by side");
  std::vector<std::string> run_dirs;
  std::string report_out;
  bool no_plots = false;
  report->add_option("runs", run_dirs, "run directories")->required()->check(CLI::ExistingDirectory);
  report->add_option("--out", report_out, "where to write the plots (default: <first run>/../report)");
  report->add_flag("--no-plots", no_plots, "print the table only");

  auto* export_cmd = app.add_subcommand("export", "bake a run's masks into an ordinary model");
  std::string export_dir, export_out;
  export_cmd->add_option("run", export_dir, "run directory")->required()->check(CLI::ExistingDirectory);
  export_cmd->add_option("--out", export_out, "output directory (default: RUN/export)");
  std::string export_kernel = "auto";
  int64_t export_batch = 32;
  export_cmd->add_option("--kernel", export_kernel, "which masked layers run sparse: auto (below the crossover), sparse (all), dense (none)")
      ->check(CLI::IsMember({"auto", "sparse", "dense"}));
  export_cmd->add_option("--batch", export_batch, "batch size the auto choice decides for (default 32)")
      ->check(CLI::PositiveNumber);

  auto* infer = app.add_subcommand("infer", "run the exported sparse model on the run's test split");
  std::string infer_dir;
  int64_t infer_batch = 256;
  infer->add_option("run", infer_dir, "run directory (exported with frugal export)")->required()->check(CLI::ExistingDirectory);
  infer->add_option("--batch", infer_batch, "batch size (default 256)")->check(CLI::PositiveNumber);

  auto* bench_infer = app.add_subcommand("bench-infer", "time the exported dense and sparse models, forward only");
  std::string bench_dir;
  frugal::app::BenchInferOptions bench_options;
  bench_infer->add_option("run", bench_dir, "run directory (exported with frugal export)")->required()->check(CLI::ExistingDirectory);
  bench_infer->add_option("--batch", bench_options.batches, "batch sizes (default 1 32 256)")->check(CLI::PositiveNumber);
  bench_infer->add_option("--threads", bench_options.threads, "threads (default 1; 0 = leave LibTorch's default)")
      ->check(CLI::NonNegativeNumber);
  bench_infer->add_option("--samples", bench_options.samples, "test samples per pass (default all)")
      ->check(CLI::NonNegativeNumber);

  auto* pack = app.add_subcommand("pack", "convert a data set into the packed on-disk format ([data] name = \"packed\")");
  frugal::data::PackSourceOptions pack_options;
  std::string pack_out, pack_size = "32x32";
  pack->add_option("format", pack_options.format, "idx, cifar10, cifar100, csv or images")
      ->required()->check(CLI::IsMember(frugal::data::pack_formats()));
  pack->add_option("input", pack_options.input, "the source directory (idx, cifar, images) or CSV file")
      ->required()->check(CLI::ExistingPath);
  pack->add_option("out", pack_out, "output directory (gets train.pack and test.pack)")->required();
  pack->add_option("--test", pack_options.test_input, "csv: the test file")->check(CLI::ExistingFile);
  pack->add_option("--label-column", pack_options.label_column, "csv: the label column's name");
  pack->add_option("--label-index", pack_options.label_index, "csv: the label column's index (default -1: last)");
  pack->add_option("--size", pack_size, "images: ROWSxCOLS to resize to (default 32x32)");
  pack->add_option("--channels", pack_options.channels, "images: 1 (grey) or 3 (RGB, default)")
      ->check(CLI::IsMember({1, 3}));

  CLI11_PARSE(app, argc, argv);
  try {
    if (*train) {
      if (recipe_path.empty() == resume_dir.empty()) {
        std::cerr << "frugal train: give either a recipe or --resume RUN_DIR\n";
        return 2;
      }
      if (ranks.nproc > 1) {
        if (ranks.rank >= 0) {
          std::cerr << "frugal train: give either --nproc or --rank/--world-size\n";
          return 2;
        }
        // Checked once here: a bad recipe is one line, not one per rank.
        train_recipe(recipe_path, overrides, resume_dir);
        frugal::dist::LaunchOptions launch;
        launch.args = worker_args(argc, argv);
        launch.nproc = ranks.nproc;
        return frugal::dist::launch_workers(launch);
      }
      if (ranks.world_size > 1) {
        // A worker that fails says why in one line and goes at once: its
        // peers may be gone, and waiting for them in destructors helps nobody.
        try {
          return train_command(recipe_path, overrides, resume_dir, ranks);
        } catch (const c10::Error& e) {
          std::cerr << "frugal: error: " << e.what_without_backtrace() << std::endl;
        } catch (const std::exception& e) {
          std::cerr << "frugal: error: " << e.what() << std::endl;
        }
        std::cout.flush();
        std::_Exit(1);
      }
      return train_command(recipe_path, overrides, resume_dir, ranks);
    }
    if (*report) return report_command(run_dirs, report_out, !no_plots);
    if (*export_cmd) {
      frugal::app::ExportOptions options;
      options.out_dir = export_out;
      options.kernel = frugal::kernels::parse_kernel_choice(export_kernel);
      options.batch = export_batch;
      return export_command(export_dir, options);
    }
    if (*infer) return infer_command(infer_dir, infer_batch);
    if (*pack) {
      long long rows = 0, cols = 0;
      char extra = 0;
      if (std::sscanf(pack_size.c_str(), "%lldx%lld%c", &rows, &cols, &extra) != 2 || rows < 1 || cols < 1) {
        std::cerr << "frugal pack: --size expects ROWSxCOLS (e.g. 32x32), got '" << pack_size << "'\n";
        return 2;
      }
      pack_options.rows = rows;
      pack_options.cols = cols;
      return pack_command(pack_options, pack_out);
    }
    if (*bench_infer) {
      const auto rows = frugal::app::bench_infer_run(bench_dir, bench_options);
      std::cout << frugal::app::bench_infer_table(rows);
      return 0;
    }
  } catch (const c10::Error& e) {
    std::cerr << "frugal: error: " << e.what_without_backtrace() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "frugal: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
