#include "frugal/train/progress.h"

#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstdio>

namespace frugal::train {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  return buf;
}

Progress::Progress(bool enabled) : enabled_(enabled), terminal_(isatty(STDERR_FILENO) != 0) {}

namespace {
std::string bar_of(int64_t done, int64_t total) {
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(total, 1));
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  return bar;
}
}  // namespace

void Progress::count(const std::string& what, int64_t done, int64_t total) {
  if (!enabled_) return;
  if (done >= total) {
    std::fprintf(stderr, "%s%s: %lld done\n", terminal_ ? "\r\033[2K" : "", what.c_str(),
                 static_cast<long long>(total));
    std::fflush(stderr);
    return;
  }
  if (!terminal_) return;
  const double t = now_s();
  if (t - last_draw_ < 0.1) return;
  last_draw_ = t;
  std::fprintf(stderr, "\r\033[2K%s [%s] %lld/%lld", what.c_str(), bar_of(done, total).c_str(),
               static_cast<long long>(done), static_cast<long long>(total));
  std::fflush(stderr);
}

void Progress::step(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss,
                    double kept_share, double samples_per_s, double eta_s) {
  if (!enabled_ || !terminal_) return;
  const double t = now_s();
  if (batch + 1 < batches && t - last_draw_ < 0.1) return;
  last_draw_ = t;
  const std::string bar = bar_of(batch + 1, batches);
  std::fprintf(stderr, "\r\033[2Kepoch %lld/%lld [%s] %lld/%lld loss %.4f kept %.0f%% %.0f samples/s ETA %s",
               static_cast<long long>(epoch + 1), static_cast<long long>(epochs), bar.c_str(),
               static_cast<long long>(batch + 1), static_cast<long long>(batches), loss,
               100.0 * kept_share, samples_per_s, format_duration(eta_s).c_str());
  std::fflush(stderr);
}

void Progress::epoch_line(const std::string& line) {
  if (!enabled_) return;
  std::fprintf(stderr, "%s%s\n", terminal_ ? "\r\033[2K" : "", line.c_str());
  std::fflush(stderr);
}

}  // namespace frugal::train
