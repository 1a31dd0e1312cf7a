#include "frugal/sparse/drop_schedule.h"

#include "frugal/core/enum_names.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>

namespace frugal::sparse {

namespace {

constexpr core::EnumName<DropSchedule> kScheduleNames[] = {
    {DropSchedule::kCosine, "cosine"}, {DropSchedule::kLinear, "linear"}, {DropSchedule::kConstant, "constant"}};
constexpr const char* kScheduleWhat = "drop fraction schedule";

}  // namespace

DropSchedule parse_drop_schedule(const std::string& name) {
  return core::parse_enum(kScheduleWhat, kScheduleNames, name);
}

std::string to_string(DropSchedule schedule) { return core::enum_name(kScheduleWhat, kScheduleNames, schedule); }

double drop_fraction_at(double alpha, DropSchedule schedule, double progress, double t_end) {
  if (progress >= t_end) return 0.0;
  const double t = std::max(progress, 0.0) / t_end;
  switch (schedule) {
    case DropSchedule::kCosine: return alpha / 2.0 * (1.0 + std::cos(M_PI * t));
    case DropSchedule::kLinear: return alpha * (1.0 - t);
    case DropSchedule::kConstant: return alpha;
  }
  TORCH_CHECK(false, "invalid ", kScheduleWhat, " value ", static_cast<int>(schedule));
}

}  // namespace frugal::sparse
