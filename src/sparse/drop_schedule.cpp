#include "frugal/sparse/drop_schedule.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>

namespace frugal::sparse {

DropSchedule parse_drop_schedule(const std::string& name) {
  if (name == "cosine") return DropSchedule::kCosine;
  if (name == "linear") return DropSchedule::kLinear;
  if (name == "constant") return DropSchedule::kConstant;
  TORCH_CHECK(false, "unknown drop fraction schedule '", name,
              "' (expected cosine, linear or constant)");
}

std::string to_string(DropSchedule schedule) {
  switch (schedule) {
    case DropSchedule::kCosine: return "cosine";
    case DropSchedule::kLinear: return "linear";
    case DropSchedule::kConstant: return "constant";
  }
  TORCH_CHECK(false, "invalid DropSchedule value ", static_cast<int>(schedule));
}

double drop_fraction_at(double alpha, DropSchedule schedule, double progress, double t_end) {
  if (progress >= t_end) return 0.0;
  const double t = std::max(progress, 0.0) / t_end;
  switch (schedule) {
    case DropSchedule::kCosine: return alpha / 2.0 * (1.0 + std::cos(M_PI * t));
    case DropSchedule::kLinear: return alpha * (1.0 - t);
    case DropSchedule::kConstant: return alpha;
  }
  TORCH_CHECK(false, "invalid DropSchedule value ", static_cast<int>(schedule));
}

}  // namespace frugal::sparse
