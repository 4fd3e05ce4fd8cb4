#include "core/input_mapping.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/errors.h"

namespace fassst {
namespace {

// numpy.percentile(values, q) with method="linear", written as NumPy computes
// it: virtual index (n - 1) * (q / 100), and NumPy's two-sided lerp (from the
// upper neighbour when the fraction is >= 0.5) so the float64 result is the
// same bit for bit.
double percentile(std::vector<uint16_t>* values, double q) {
  const int64_t n = static_cast<int64_t>(values->size());
  const double virtual_index = static_cast<double>(n - 1) * (q / 100.0);
  double prev = std::floor(virtual_index);
  prev = std::min(std::max(prev, 0.0), static_cast<double>(n - 1));
  const int64_t i = static_cast<int64_t>(prev);
  const int64_t j = std::min(i + 1, n - 1);
  const double gamma = virtual_index - prev;
  std::nth_element(values->begin(), values->begin() + i, values->end());
  const double a = (*values)[i];
  double b = a;
  if (j != i) b = *std::min_element(values->begin() + i + 1, values->end());  // the (i+1)-th smallest
  const double diff = b - a;
  return gamma >= 0.5 ? b - diff * (1.0 - gamma) : a + diff * gamma;
}

}  // namespace

void map_uint16_to_uint8(const uint16_t* src, int height, int width, int64_t row_stride,
                         const Uint16Mapping& rule, uint8_t* dst) {
  if (height < 1 || width < 1)
    throw InvalidArgument(message("map_uint16_to_uint8: the frame must be at least 1 x 1, got ", height, " x ", width));
  if (row_stride < int64_t{2} * width || row_stride % 2 != 0 || reinterpret_cast<uintptr_t>(src) % 2 != 0)
    throw InvalidArgument(message("map_uint16_to_uint8: rows must be aligned uint16 rows: the stride an even number >= ",
                                  int64_t{2} * width, " bytes, got ", row_stride, ", and the data 2-byte aligned"));
  auto row = [&](int y) {
    return reinterpret_cast<const uint16_t*>(reinterpret_cast<const uint8_t*>(src) + y * row_stride);
  };
  if (rule.kind.empty())
    throw InvalidArgument("frame: this model defines no mapping for 16-bit frames; convert the frame to 8-bit first");
  if (rule.kind == "identity") {
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const uint16_t v = row(y)[x];
        if (v > 255)
          throw InvalidArgument(message("identity mapping needs values in 0..255, got ", v, " at (", y, ", ", x, ")"));
        dst[static_cast<int64_t>(y) * width + x] = static_cast<uint8_t>(v);
      }
    return;
  }
  double lo, hi;
  if (rule.kind == "percentile") {
    // The metadata reader holds these to [0, 100]; a rule made by hand is checked here too.
    if (!(rule.low >= 0.0 && rule.low <= 100.0 && rule.high >= 0.0 && rule.high <= 100.0))
      throw InvalidArgument(message("map_uint16_to_uint8: percentiles must be in [0, 100], got low ", rule.low,
                                    " high ", rule.high));
    std::vector<uint16_t> values;
    values.reserve(static_cast<size_t>(height) * width);
    for (int y = 0; y < height; ++y) values.insert(values.end(), row(y), row(y) + width);
    lo = percentile(&values, rule.low);
    hi = percentile(&values, rule.high);
  } else if (rule.kind == "window") {
    if (!(std::isfinite(rule.min) && std::isfinite(rule.max)))
      throw InvalidArgument(message("map_uint16_to_uint8: window min and max must be finite, got ", rule.min, " and ",
                                    rule.max));
    lo = rule.min;
    hi = rule.max;
  } else {
    throw InvalidArgument(message("unknown 16-bit mapping rule '", rule.kind,
                                  "' (known kinds: percentile, window, identity)"));
  }
  const int64_t n = static_cast<int64_t>(height) * width;
  if (hi <= lo) {
    std::fill(dst, dst + n, uint8_t{0});
    return;
  }
  const double range = hi - lo;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const double t = std::min(1.0, std::max(0.0, (static_cast<double>(row(y)[x]) - lo) / range));
      dst[static_cast<int64_t>(y) * width + x] = static_cast<uint8_t>(std::floor(t * 255.0 + 0.5));
    }
}

}  // namespace fassst
