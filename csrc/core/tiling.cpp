#include "core/tiling.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/select.h"

namespace fassst {
namespace {

// The fewest tile starts whose neighbours overlap by >= overlap, evenly spaced.
std::vector<int> starts(int length, int size, int overlap) {
  if (length <= size) return {0};
  const int64_t step = size - overlap;
  const int64_t count = (static_cast<int64_t>(length) - overlap + step - 1) / step;  // ceil
  const int64_t span = length - size;
  std::vector<int> out(count);
  for (int64_t i = 0; i < count; ++i)  // Python's round(): half to even
    out[i] = static_cast<int>(std::nearbyint(static_cast<double>(i * span) / static_cast<double>(count - 1)));
  return out;
}

// Tile ends and core bounds along one axis.
void cores(const std::vector<int>& s, int length, int size, std::vector<int>* ends,
           std::vector<double>* lo, std::vector<double>* hi) {
  const size_t n = s.size();
  ends->resize(n);
  lo->resize(n);
  hi->resize(n);
  for (size_t i = 0; i < n; ++i) (*ends)[i] = std::min(s[i] + size, length);
  (*lo)[0] = 0.0;
  for (size_t i = 1; i < n; ++i) (*lo)[i] = ((*ends)[i - 1] + s[i]) / 2.0;
  for (size_t i = 0; i + 1 < n; ++i) (*hi)[i] = (*lo)[i + 1];
  (*hi)[n - 1] = static_cast<double>(length);
}

}  // namespace

std::vector<Tile> tile_grid(int height, int width, int size, int overlap) {
  if (size < 1 || overlap < 0 || overlap >= size)
    throw InvalidArgument(message("tile size must be >= 1 and 0 <= overlap < size, got size ", size,
                                  " overlap ", overlap));
  if (height < 1 || width < 1)
    throw InvalidArgument(message("tile_grid: the frame must be at least 1 x 1, got ", height, " x ", width));
  const std::vector<int> ys = starts(height, size, overlap), xs = starts(width, size, overlap);
  std::vector<int> y_ends, x_ends;
  std::vector<double> cy0, cy1, cx0, cx1;
  cores(ys, height, size, &y_ends, &cy0, &cy1);
  cores(xs, width, size, &x_ends, &cx0, &cx1);
  std::vector<Tile> tiles;
  tiles.reserve(ys.size() * xs.size());
  for (size_t i = 0; i < ys.size(); ++i)
    for (size_t j = 0; j < xs.size(); ++j)
      tiles.push_back(Tile{ys[i], xs[j], y_ends[i], x_ends[j], cy0[i], cx0[j], cy1[i], cx1[j]});
  return tiles;
}

bool in_core(const float* b, const Tile& t) {
  // float32 centres compared in float32, as NumPy compares a float32 array
  // with a Python float (core bounds are half-integers: exact in float32).
  const float cx = (b[0] + b[2]) / 2.0f, cy = (b[1] + b[3]) / 2.0f;
  const float x0 = static_cast<float>(t.core_x0), x1 = static_cast<float>(t.core_x1);
  const float y0 = static_cast<float>(t.core_y0), y1 = static_cast<float>(t.core_y1);
  const bool last_x = t.core_x1 >= t.x1;  // the frame's own edge closes the core
  const bool last_y = t.core_y1 >= t.y1;
  const bool inside_x = cx >= x0 && (cx < x1 || (last_x && cx <= x1));
  const bool inside_y = cy >= y0 && (cy < y1 || (last_y && cy <= y1));
  return inside_x && inside_y;
}

void in_core(const float* boxes, int64_t count, const Tile& tile, uint8_t* keep) {
  for (int64_t i = 0; i < count; ++i) keep[i] = in_core(boxes + 4 * i, tile) ? 1 : 0;
}

std::vector<int64_t> cross_tile_nms(const float* boxes, const int64_t* labels, const float* scores,
                                    int64_t count, int64_t num_classes, float nms_threshold) {
  if (num_classes < 1)
    throw InvalidArgument(message("cross_tile_nms: num_classes must be >= 1, got ", num_classes));
  std::vector<float> one_hot(static_cast<size_t>(count * num_classes), 0.0f);
  for (int64_t i = 0; i < count; ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes)
      throw InvalidArgument(message("cross_tile_nms: labels[", i, "] must be in [0, ", num_classes,
                                    "), got ", labels[i]));
    one_hot[i * num_classes + labels[i]] = scores[i];
  }
  SelectParams p;
  p.score_threshold = 0.0f;
  p.nms_threshold = nms_threshold;
  p.max_instances = static_cast<int>(count);
  return select_instances(boxes, one_hot.data(), count, num_classes, p).cells;
}

}  // namespace fassst
