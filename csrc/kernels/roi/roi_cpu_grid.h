// The sampling grids of the CPU ROI loops: for every ROI on every level (and
// for the up2 steps), the taps and what the loops derive from them (the valid
// columns, the map window read, which rows each output row blends), computed
// once per call and shared by every channel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/common/interp_math.h"
#include "kernels/roi/lane_interleave.h"

namespace fassst {
namespace roi {

// An n x n grid sampled from one map by row taps and column taps (an ROI on
// one level, or the up2 grid), with what every channel shares.
struct Grid {
  const AxisTap* rows;
  // The column taps, with lo/hi turned into offsets, in floats, into an
  // interleaved window row (roi_cpu.cpp's PlaneRows): what x_interpolate reads.
  const AxisTap* cols;
  int n;
  // Valid column taps are [col_begin, col_end); the others sample 0.
  int col_begin;
  int col_end;
  // The map window the valid taps read: rows [y_first, y_first + y_count),
  // columns [x_first, x_first + x_count).
  int y_first;
  int y_count;
  int x_first;
  int x_count;
  // Offsets, in floats into the x-interpolated rows (roi_cpu.cpp's x_interpolate), of
  // the two rows output row i blends. Invalid row taps (weights 0) read the
  // zero row, so lerp_y gives them 0 without a branch.
  const int* lo_off;
  const int* hi_off;
  // How many x-interpolated rows (after the zero row) output row i needs.
  const int* rows_needed;
};

// Grids of one size, the taps they point into, and the largest scratch any
// of them needs. The calling thread keeps its grids between calls and
// refills them in place (reset): allocating them anew is a measurable share
// of a small call's setup (`python benchmarks/kernels.py --rois 8` times
// small calls among other work).
struct Grids {
  std::vector<AxisTap> taps;  // [g][row taps | col taps]
  std::vector<int> offsets;   // [g][lo | hi | rows_needed]
  std::vector<Grid> grid;
  size_t max_window_row = 0;  // floats of the longest interleaved window row
  size_t max_x_rows = 0;  // floats of the largest set of x-interpolated rows

  // Room for `count` grids of n x n bins, none made yet.
  void reset(int64_t count, int n);
  // Derives the next grid from grid_taps (n row taps, then n column taps,
  // rewritten in place) into `offs` (3n ints).
  void add(AxisTap* grid_taps, int n, int* offs);
};

// One grid per ROI, n x n bins on a map of height x width.
void roi_grids(Grids& g, const float* rois, int64_t num_rois, float spatial_scale, int n,
               int height, int width);

// The up2 grid: n x n from a src x src plane (taps depend on sizes only).
// Its window is the whole source plane, so an interleaved src x src plane
// (R3, Q) is read as it is.
void up2_grid(Grids& g, int n, int src);

}  // namespace roi
}  // namespace fassst
