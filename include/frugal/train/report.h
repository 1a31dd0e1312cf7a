#pragma once
/// Side-by-side comparison of finished runs: a Markdown table and gnuplot plots.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace frugal::train {

/// A finished run directory: its summary and its per-epoch metrics records.
struct RunRecord {
  std::string dir;
  std::string name;
  nlohmann::json summary;
  std::vector<nlohmann::json> epochs;  // metrics.jsonl lines without "event"
  std::vector<nlohmann::json> events;  // metrics.jsonl lines with "event"
};

/// Reads summary.json and metrics.jsonl; throws naming the file when missing or malformed.
RunRecord read_run(const std::string& dir);

/// Markdown table: one row per run, relative figures against the first run.
std::string compare_table(const std::vector<RunRecord>& runs);

/// Draws PNG plots into `out_dir` with gnuplot (test accuracy, test loss, kept
/// samples per epoch, cumulative wall time; ITOP rate when a run logged mask
/// updates). Returns the files written. Throws when gnuplot fails.
std::vector<std::string> plot_runs(const std::vector<RunRecord>& runs, const std::string& out_dir);

}  // namespace frugal::train
