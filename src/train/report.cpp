#include "frugal/train/report.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace frugal::train {

namespace fs = std::filesystem;

RunRecord read_run(const std::string& dir) {
  RunRecord run;
  run.dir = dir;
  run.name = fs::path(dir).filename().string();
  if (run.name.empty()) run.name = fs::path(dir).parent_path().filename().string();
  const auto summary_path = fs::path(dir) / "summary.json";
  std::ifstream summary(summary_path);
  TORCH_CHECK(summary, "report: ", summary_path.string(), " is missing (is ", dir,
              " a finished run?)");
  run.summary = nlohmann::json::parse(summary, nullptr, /*allow_exceptions=*/false);
  TORCH_CHECK(run.summary.is_object(), "report: ", summary_path.string(), " is not valid JSON");
  const auto metrics_path = fs::path(dir) / "metrics.jsonl";
  std::ifstream metrics(metrics_path);
  TORCH_CHECK(metrics, "report: ", metrics_path.string(), " is missing");
  std::string line;
  int64_t number = 0;
  while (std::getline(metrics, line)) {
    ++number;
    if (line.empty()) continue;
    auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    TORCH_CHECK(record.is_object(), "report: ", metrics_path.string(), " line ", number,
                " is not a JSON object");
    (record.contains("event") ? run.events : run.epochs).push_back(std::move(record));
  }
  return run;
}

namespace {

std::string fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

double number(const nlohmann::json& j, const char* key, double fallback = 0.0) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

}  // namespace

std::string compare_table(const std::vector<RunRecord>& runs) {
  TORCH_CHECK(!runs.empty(), "report: no runs");
  std::ostringstream out;
  out << "| run | test acc % | best acc % | wall s | wall vs " << runs[0].name
      << " | samples forwarded | samples saved | non-zero weights |\n";
  out << "|---|---|---|---|---|---|---|---|\n";
  const double base_wall = number(runs[0].summary, "wall_s", 1.0);
  for (const auto& run : runs) {
    const auto& s = run.summary;
    const double wall = number(s, "wall_s");
    out << "| " << run.name << " | " << fmt("%.2f", 100 * number(s, "test_acc")) << " | "
        << fmt("%.2f", 100 * number(s, "best_test_acc")) << " | " << fmt("%.1f", wall) << " | "
        << fmt("%.2fx", base_wall / std::max(wall, 1e-9)) << " | "
        << fmt("%.0f", number(s, "samples_forwarded")) << " | "
        << fmt("%.1f%%", 100 * number(s, "saved_share")) << " | "
        << fmt("%.0f", number(s, "nonzero_parameters")) << " / "
        << fmt("%.0f", number(s, "parameters")) << " |\n";
  }
  // A wall time measured while other work ran is not a result; say so.
  for (const auto& run : runs) {
    const double load = number(run.summary, "max_load_avg"), cores = number(run.summary, "cores");
    if (cores > 0 && load > cores)
      out << "\nnote: " << run.name << " ran while the machine was loaded (load average up to "
          << fmt("%.1f", load) << " on " << fmt("%.0f", cores)
          << " cores): its wall time is not a clean measurement\n";
  }
  return out.str();
}

std::vector<std::string> plot_runs(const std::vector<RunRecord>& runs, const std::string& out_dir) {
  fs::create_directories(out_dir);
  // One data file per run: epoch, test_acc, test_loss, kept_share, wall_s.
  std::vector<std::string> data_files;
  bool any_itop = false;
  for (size_t r = 0; r < runs.size(); ++r) {
    const auto path = (fs::path(out_dir) / ("run" + std::to_string(r) + ".dat")).string();
    std::ofstream data(path);
    for (const auto& e : runs[r].epochs)
      // Epochs without an evaluation (train.eval_every) are gaps in the plots.
      data << number(e, "epoch") + 1 << ' ' << 100 * number(e, "test_acc", NAN) << ' '
           << number(e, "test_loss", NAN) << ' ' << 100 * number(e, "kept_share", 1.0) << ' '
           << number(e, "wall_s") << '\n';
    data_files.push_back(path);
    const auto itop_path = (fs::path(out_dir) / ("run" + std::to_string(r) + "_itop.dat")).string();
    std::ofstream itop(itop_path);
    for (const auto& e : runs[r].events)
      if (e.value("event", "") == "mask_update") {
        itop << number(e, "step") << ' ' << number(e, "itop_rate") << '\n';
        any_itop = true;
      }
  }
  struct Plot {
    std::string file, title, ylabel, xlabel;
    int column;
    bool itop;
  };
  std::vector<Plot> plots = {
      {"test_accuracy.png", "Test accuracy", "accuracy (%)", "epoch", 2, false},
      {"test_loss.png", "Test loss", "loss", "epoch", 3, false},
      {"kept_samples.png", "Samples trained per epoch", "kept (% of data set)", "epoch", 4, false},
      {"wall_time.png", "Cumulative wall time", "seconds", "epoch", 5, false}};
  if (any_itop)
    plots.push_back({"itop_rate.png", "ITOP rate R_s", "R_s", "step", 2, true});
  const auto script_path = (fs::path(out_dir) / "plots.gp").string();
  std::ofstream script(script_path);
  script << "set terminal pngcairo size 800,500\nset grid\nset key bottom right\n";
  std::vector<std::string> written;
  for (const auto& plot : plots) {
    const auto png = (fs::path(out_dir) / plot.file).string();
    script << "set output '" << png << "'\nset title '" << plot.title << "'\nset xlabel '"
           << plot.xlabel << "'\nset ylabel '" << plot.ylabel << "'\nplot ";
    for (size_t r = 0; r < runs.size(); ++r) {
      const std::string file = plot.itop ? fs::path(data_files[r]).replace_extension("").string() + "_itop.dat"
                                         : data_files[r];
      script << (r ? ", " : "") << "'" << file << "' using 1:" << plot.column
             << " with linespoints title '" << runs[r].name << "'";
    }
    script << "\n";
    written.push_back(png);
  }
  script.close();
  const std::string command = "gnuplot '" + script_path + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  TORCH_CHECK(pipe, "report: cannot start gnuplot (install gnuplot-nox)");
  std::string output;
  char buf[256];
  while (fgets(buf, sizeof buf, pipe)) output += buf;
  const int status = pclose(pipe);
  TORCH_CHECK(status == 0, "report: gnuplot failed: ", output);
  return written;
}

}  // namespace frugal::train
