#include "kernels/roi/roi_cpu_grid.h"

#include <algorithm>
#include <cassert>

#include "kernels/roi/roi_math.h"

namespace fassst {
namespace roi {
namespace {

// [first, first + count) covering lo..hi of the valid taps in t[0, n).
void tap_range(const AxisTap* t, int n, int* first, int* count) {
  int lo = 0, hi = -1;
  for (int i = 0; i < n; ++i) {
    if (!t[i].valid) continue;
    lo = hi < 0 ? t[i].lo : std::min(lo, t[i].lo);
    hi = std::max(hi, t[i].hi);
  }
  *first = lo;
  *count = hi - lo + 1;
}

// Derives a Grid from the row and column taps (taps[0, n) and [n, 2n)),
// rewriting the column taps in place; `offsets` receives 3n ints
// (lo | hi | rows_needed).
Grid make_grid(AxisTap* taps, int n, int* offsets) {
  const AxisTap* rows = taps;
  AxisTap* cols = taps + n;
  Grid g{rows, cols, n, 0, 0, 0, 0, 0, 0, offsets, offsets + n, offsets + 2 * n};
  // Sample coordinates are monotone in the bin index, so the valid column
  // taps are one contiguous run.
  while (g.col_begin < n && !cols[g.col_begin].valid) ++g.col_begin;
  g.col_end = g.col_begin;
  while (g.col_end < n && cols[g.col_end].valid) ++g.col_end;
  assert(std::none_of(cols + g.col_end, cols + n, [](const AxisTap& t) { return t.valid; }));
  tap_range(rows, n, &g.y_first, &g.y_count);
  tap_range(cols, n, &g.x_first, &g.x_count);
  for (int j = g.col_begin; j < g.col_end; ++j) {
    cols[j].lo = (cols[j].lo - g.x_first) * kLanes;
    cols[j].hi = (cols[j].hi - g.x_first) * kLanes;
  }
  const int row_floats = n * kLanes;
  for (int i = 0; i < n; ++i) {
    const bool v = rows[i].valid;
    offsets[i] = v ? (1 + rows[i].lo - g.y_first) * row_floats : 0;
    offsets[n + i] = v ? (1 + rows[i].hi - g.y_first) * row_floats : 0;
    offsets[2 * n + i] = v ? 1 + std::max(rows[i].lo, rows[i].hi) - g.y_first : 0;
  }
  return g;
}

}  // namespace

void Grids::reset(int64_t count, int n) {
  taps.resize(static_cast<size_t>(count) * 2 * n);
  offsets.resize(static_cast<size_t>(count) * 3 * n);
  grid.clear();
  grid.reserve(count);
  max_window_row = 0;
  max_x_rows = 0;
}

void Grids::add(AxisTap* grid_taps, int n, int* offs) {
  grid.push_back(make_grid(grid_taps, n, offs));
  const Grid& g = grid.back();
  max_window_row = std::max(max_window_row, static_cast<size_t>(g.x_count) * kLanes);
  max_x_rows = std::max(max_x_rows, static_cast<size_t>(g.y_count + 1) * n * kLanes);
}

void roi_grids(Grids& g, const float* rois, int64_t num_rois, float spatial_scale, int n,
               int height, int width) {
  g.reset(num_rois, n);
  for (int64_t k = 0; k < num_rois; ++k) {
    const float* r = rois + k * 5;
    const RoiAxis ax = roi_axis(r[1], r[3], spatial_scale, n);
    const RoiAxis ay = roi_axis(r[2], r[4], spatial_scale, n);
    AxisTap* rows = g.taps.data() + k * 2 * n;
    AxisTap* cols = rows + n;
    for (int i = 0; i < n; ++i) rows[i] = roi_tap(ay, i, height);
    for (int j = 0; j < n; ++j) cols[j] = roi_tap(ax, j, width);
    g.add(rows, n, g.offsets.data() + k * 3 * n);
  }
}

void up2_grid(Grids& g, int n, int src) {
  g.reset(1, n);
  for (int i = 0; i < n; ++i) g.taps[i] = g.taps[n + i] = up2_tap(i, src);
  g.add(g.taps.data(), n, g.offsets.data());
  assert(g.grid[0].y_first == 0 && g.grid[0].y_count == src && g.grid[0].x_first == 0 &&
         g.grid[0].x_count == src);
}

}  // namespace roi
}  // namespace fassst
