#pragma once
/// Progress display: a one-line bar on a terminal, plain lines otherwise.

#include <cstdint>
#include <string>

namespace frugal::train {

class Progress {
 public:
  /// `enabled` false prints nothing; the bar is drawn only when stderr is a terminal.
  explicit Progress(bool enabled);
  /// Redraws the bar (at most ~10 times a second).
  void step(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss,
            double kept_share, double samples_per_s, double eta_s);
  /// Redraws a bar "<what> [####....] done/total" (a terminal only); at
  /// done == total, ends it with one line (on any stderr).
  void count(const std::string& what, int64_t done, int64_t total);
  /// Ends the epoch with one line (replacing the bar on a terminal).
  void epoch_line(const std::string& line);
  bool terminal() const { return terminal_; }

 private:
  bool enabled_;
  bool terminal_;
  double last_draw_ = -1.0;
};

/// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace frugal::train
