// CPU loops of roi_crop and roi_fuse. The arithmetic is roi_math.h's; this
// file only decides what is computed once, the memory layout and threading:
//  - the taps of each ROI on each level, and what the loops derive from them
//    (valid columns, the map window read, which rows each output row blends),
//    once per call, shared by every channel; the up2 taps likewise;
//  - blend() is split into its two halves: lerp_x over the map rows a grid
//    reads, then lerp_y between two of those x-interpolated rows;
//  - kLanes channels of one ROI are processed together, with the channel
//    innermost. In a plane, a column tap means one scalar indexed load per
//    value; with channels innermost it is one contiguous load per kLanes
//    values, so every loop vectorises over channels with the taps' weights
//    broadcast;
//  - two channel-innermost layouts: x-interpolated rows are [j][lane]; map
//    windows, R3, Q and output rows are "blocked", [lane / 4][y][x][lane % 4],
//    so that moving between them and channel planes (the maps read, the
//    output written) is a 4 x 4 transpose the compiler vectorises;
//  - roi_fuse keeps R3, Q and all intermediate rows in per-thread scratch
//    (L1/L2-resident) and writes each output element once.
#include "kernels/roi/roi_cpu.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <vector>

#include "core/parallel.h"
#include "kernels/roi/roi_math.h"

namespace fassst {
namespace roi {
namespace {

// Channels processed together, and the block of them that one 16-byte
// vector holds in the blocked layout.
constexpr int kLanes = 8;
constexpr int kBlock = 4;
constexpr int kBlocks = kLanes / kBlock;
static_assert(kLanes % kBlock == 0, "lanes come in whole blocks");

// An n x n grid sampled from one map by row taps and column taps (an ROI on
// one level, or the up2 grid), with what every channel shares.
struct Grid {
  const AxisTap* rows;
  // The column taps, with lo/hi turned into offsets, in floats, into a row of
  // a block of the window (see load_window): what x_interpolate reads.
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
  // Offsets, in floats into the x-interpolated rows (see x_interpolate), of
  // the two rows output row i blends. Invalid row taps (weights 0) read the
  // zero row, so lerp_y gives them 0 without a branch.
  const int* lo_off;
  const int* hi_off;

  // Floats of one block of the window (a window is kBlocks of them).
  int64_t window_block() const { return static_cast<int64_t>(y_count) * x_count * kBlock; }
};

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
// rewriting the column taps in place; `offsets` receives 2n ints (lo | hi).
Grid make_grid(AxisTap* taps, int n, int* offsets) {
  const AxisTap* rows = taps;
  AxisTap* cols = taps + n;
  Grid g{rows, cols, n, 0, 0, 0, 0, 0, 0, offsets, offsets + n};
  // Sample coordinates are monotone in the bin index, so the valid column
  // taps are one contiguous run.
  while (g.col_begin < n && !cols[g.col_begin].valid) ++g.col_begin;
  g.col_end = g.col_begin;
  while (g.col_end < n && cols[g.col_end].valid) ++g.col_end;
  assert(std::none_of(cols + g.col_end, cols + n, [](const AxisTap& t) { return t.valid; }));
  tap_range(rows, n, &g.y_first, &g.y_count);
  tap_range(cols, n, &g.x_first, &g.x_count);
  for (int j = g.col_begin; j < g.col_end; ++j) {
    cols[j].lo = (cols[j].lo - g.x_first) * kBlock;
    cols[j].hi = (cols[j].hi - g.x_first) * kBlock;
  }
  const int row_floats = n * kLanes;
  for (int i = 0; i < n; ++i) {
    const bool v = rows[i].valid;
    offsets[i] = v ? (1 + rows[i].lo - g.y_first) * row_floats : 0;
    offsets[n + i] = v ? (1 + rows[i].hi - g.y_first) * row_floats : 0;
  }
  return g;
}

// Grids of one size, the taps they point into, and the largest scratch any
// of them needs.
struct Grids {
  std::vector<AxisTap> taps;  // [g][row taps | col taps]
  std::vector<int> offsets;   // [g][lo | hi]
  std::vector<Grid> grid;
  size_t max_window = 0;  // floats of the largest map window (all lanes)
  size_t max_x_rows = 0;  // floats of the largest set of x-interpolated rows

  void add(AxisTap* grid_taps, int n, int* offs) {
    grid.push_back(make_grid(grid_taps, n, offs));
    const Grid& g = grid.back();
    max_window = std::max(max_window, static_cast<size_t>(g.window_block()) * kBlocks);
    max_x_rows = std::max(max_x_rows, static_cast<size_t>(g.y_count + 1) * n * kLanes);
  }
};

// One grid per ROI, n x n bins on a map of height x width.
Grids roi_grids(const float* rois, int64_t num_rois, float spatial_scale, int n, int height,
                int width) {
  Grids g;
  g.taps.resize(static_cast<size_t>(num_rois) * 2 * n);
  g.offsets.resize(static_cast<size_t>(num_rois) * 2 * n);
  g.grid.reserve(num_rois);
  for (int64_t k = 0; k < num_rois; ++k) {
    const float* r = rois + k * 5;
    const RoiAxis ax = roi_axis(r[1], r[3], spatial_scale, n);
    const RoiAxis ay = roi_axis(r[2], r[4], spatial_scale, n);
    AxisTap* rows = g.taps.data() + k * 2 * n;
    AxisTap* cols = rows + n;
    for (int i = 0; i < n; ++i) rows[i] = roi_tap(ay, i, height);
    for (int j = 0; j < n; ++j) cols[j] = roi_tap(ax, j, width);
    g.add(rows, n, g.offsets.data() + k * 2 * n);
  }
  return g;
}

// The up2 grid: n x n from a src x src plane (taps depend on sizes only).
// Its window is the whole source plane, so a blocked src x src plane (R3, Q)
// is read as it is.
Grids up2_grid(int n, int src) {
  Grids g;
  g.taps.resize(2 * static_cast<size_t>(n));
  g.offsets.resize(2 * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) g.taps[i] = g.taps[n + i] = up2_tap(i, src);
  g.add(g.taps.data(), n, g.offsets.data());
  assert(g.grid[0].y_first == 0 && g.grid[0].y_count == src && g.grid[0].x_first == 0 &&
         g.grid[0].x_count == src);
  return g;
}

// Four channel rows -> one blocked row: dst[x][lane] = p_lane[x], a 4 x 4
// transpose per four values of x. (restrict is honoured on parameters.)
void interleave_block(const float* __restrict p0, const float* __restrict p1,
                      const float* __restrict p2, const float* __restrict p3, int n,
                      float* __restrict dst) {
  for (int x = 0; x < n; ++x) {
    dst[x * kBlock] = p0[x];
    dst[x * kBlock + 1] = p1[x];
    dst[x * kBlock + 2] = p2[x];
    dst[x * kBlock + 3] = p3[x];
  }
}

// The inverse: one blocked row -> four channel rows.
void deinterleave_block(const float* __restrict src, int n, float* __restrict d0,
                        float* __restrict d1, float* __restrict d2, float* __restrict d3) {
  for (int j = 0; j < n; ++j) {
    d0[j] = src[j * kBlock];
    d1[j] = src[j * kBlock + 1];
    d2[j] = src[j * kBlock + 2];
    d3[j] = src[j * kBlock + 3];
  }
}

// Copies the window `g` reads from kLanes channel planes (each `width`
// wide) into `win`, blocked: win[b][y - y_first][x - x_first][lane % 4].
void load_window(const Grid& g, const float* const* planes, int width, float* win) {
  for (int b = 0; b < kBlocks; ++b) {
    const float* const* p = planes + b * kBlock;
    float* block = win + b * g.window_block();
    for (int r = 0; r < g.y_count; ++r) {
      const int64_t src = static_cast<int64_t>(g.y_first + r) * width + g.x_first;
      interleave_block(p[0] + src, p[1] + src, p[2] + src, p[3] + src, g.x_count,
                       block + static_cast<int64_t>(r) * g.x_count * kBlock);
    }
  }
}

// at(y, offset) of one row of one block of a window: `offset` floats into it
// (a Grid column tap's lo/hi plus the lane in the block). The caller picks
// the row.
struct WindowRowAt {
  const float* row;
  float operator()(int /*y*/, int offset) const { return row[offset]; }
};

// The x half of every blend of the grid, for all lanes: row 1 + r of `h`
// holds, for map row y_first + r, lerp_x(cols[j]) where cols[j] is valid and
// 0 elsewhere, as [j][lane]. Row 0 is the zero row; it is never written (the
// caller zero-initialises it). Column-major, so that each tap's weights are
// loaded and broadcast once for all rows.
void x_interpolate(const Grid& g, const float* win, float* __restrict h) {
  const int64_t row_floats = static_cast<int64_t>(g.n) * kLanes;
  const int64_t win_block = g.window_block();
  const int64_t win_row_floats = static_cast<int64_t>(g.x_count) * kBlock;
  float* __restrict rows = h + row_floats;
  for (int r = 0; r < g.y_count; ++r) {
    float* row = rows + r * row_floats;
    std::fill(row, row + g.col_begin * kLanes, 0.0f);
    std::fill(row + g.col_end * kLanes, row + row_floats, 0.0f);
  }
  for (int j = g.col_begin; j < g.col_end; ++j) {
    const AxisTap tap = g.cols[j];
    for (int r = 0; r < g.y_count; ++r) {
      float* __restrict out = rows + r * row_floats + j * kLanes;
      for (int b = 0; b < kBlocks; ++b) {
        const WindowRowAt at{win + b * win_block + r * win_row_floats};
        AxisTap t = tap;
        for (int v = 0; v < kBlock; ++v, ++t.lo, ++t.hi)
          out[b * kBlock + v] = lerp_x(t, at, g.y_first + r);
      }
    }
  }
}

// Where value (j, lane) of a blocked row goes, blocks `block_floats` apart.
int64_t blocked(int j, int lane, int64_t block_floats) {
  return lane / kBlock * block_floats + j * kBlock + lane % kBlock;
}

// lerp_y completes blend() for output row i of the grid, all lanes, into a
// blocked row: out(j, lane) = lerp_y(rows[i], h_lo(j, lane), h_hi(j, lane)).
// The tap is copied so the compiler knows the stores cannot change it.
void blend_row(const Grid& g, int i, const float* h, float* __restrict out,
               int64_t block_floats) {
  const AxisTap t = g.rows[i];
  const float* __restrict lo = h + g.lo_off[i];
  const float* __restrict hi = h + g.hi_off[i];
  for (int j = 0; j < g.n; ++j)
    for (int v = 0; v < kLanes; ++v) {
      const int e = j * kLanes + v;
      out[blocked(j, v, block_floats)] = lerp_y(t, lo[e], hi[e]);
    }
}

// blend(g, i) + blend(up, i) into a blocked row: a row of Q, or, with
// `apply_relu`, of the output R.
template <bool apply_relu>
void blend_sum_row(const Grid& g, const float* hg, const Grid& up, const float* hu, int i,
                   float* __restrict out, int64_t block_floats) {
  const AxisTap t = g.rows[i];
  const AxisTap u = up.rows[i];
  const float* __restrict g_lo = hg + g.lo_off[i];
  const float* __restrict g_hi = hg + g.hi_off[i];
  const float* __restrict u_lo = hu + up.lo_off[i];
  const float* __restrict u_hi = hu + up.hi_off[i];
  for (int j = 0; j < g.n; ++j)
    for (int v = 0; v < kLanes; ++v) {
      const int e = j * kLanes + v;
      const float sum = lerp_y(t, g_lo[e], g_hi[e]) + lerp_y(u, u_lo[e], u_hi[e]);
      out[blocked(j, v, block_floats)] = apply_relu ? relu(sum) : sum;
    }
}

// Stores a blocked row of n values per lane (blocks n * kBlock apart) to the
// first `lanes` lanes' output rows, dst + lane * plane_stride.
void store_row(const float* row, int n, int lanes, float* dst, int64_t plane_stride) {
  for (int b = 0; b < kBlocks; ++b) {
    const float* src = row + b * n * kBlock;
    float* d = dst + b * kBlock * plane_stride;
    const int block_lanes = std::min(kBlock, lanes - b * kBlock);
    if (block_lanes == kBlock) {
      deinterleave_block(src, n, d, d + plane_stride, d + 2 * plane_stride, d + 3 * plane_stride);
    } else {
      for (int v = 0; v < block_lanes; ++v)
        for (int j = 0; j < n; ++j) d[v * plane_stride + j] = src[j * kBlock + v];
    }
  }
}

// The channels of one lane group: c0 .. c0 + lanes - 1. Lanes past the last
// channel repeat it, so every loop runs all lanes; their results are not
// stored.
struct LaneGroup {
  int64_t c0;
  int lanes;

  static int64_t count(int64_t channels) { return (channels + kLanes - 1) / kLanes; }

  LaneGroup(int64_t group, int64_t channels)
      : c0(group * kLanes), lanes(static_cast<int>(std::min<int64_t>(kLanes, channels - c0))) {}

  // Lane planes of a (B, channels, H, W) map, batch item b.
  void planes(const float* map, int64_t b, int64_t channels, int64_t plane_size,
              const float** out) const {
    for (int v = 0; v < kLanes; ++v)
      out[v] = map + (b * channels + c0 + std::min(v, lanes - 1)) * plane_size;
  }
};

// Runs task(t, scratch) for every t in [0, num_tasks) on up to num_threads
// threads. Tasks are handed out one at a time from a shared counter rather
// than split evenly up front, so a thread slowed down (a core shared with
// another process, larger ROIs) just takes fewer. Each thread makes its
// scratch once.
template <typename MakeScratch, typename Task>
void run_tasks(int64_t num_tasks, int num_threads, const MakeScratch& make_scratch,
               const Task& task) {
  const int threads = num_threads > 0 ? num_threads : default_num_threads();
  std::atomic<int64_t> next{0};
  // One index per thread (min_chunk 1); each thread then draws tasks.
  parallel_for(std::min<int64_t>(threads, num_tasks), threads, 1, [&](int64_t, int64_t) {
    auto scratch = make_scratch();
    for (int64_t t = next.fetch_add(1, std::memory_order_relaxed); t < num_tasks;
         t = next.fetch_add(1, std::memory_order_relaxed))
      task(t, scratch);
  });
}

}  // namespace

void roi_crop_cpu_impl(const float* feature, const CropParams& params, const float* rois,
                       int64_t num_rois, float* out, int num_threads) {
  const FeatureShape& f = params.feature;
  const int s = params.out_size;
  const Grids grids = roi_grids(rois, num_rois, params.spatial_scale, s, f.height, f.width);

  const int64_t plane_size = static_cast<int64_t>(f.height) * f.width;
  const int64_t out_plane = static_cast<int64_t>(s) * s;
  const int64_t groups = LaneGroup::count(f.channels);
  // Scratch: the map window, its x-interpolated rows (zero row first) and
  // one blocked output row.
  struct Scratch {
    std::vector<float> win, h, row;
  };
  const auto make_scratch = [&] {
    return Scratch{std::vector<float>(grids.max_window), std::vector<float>(grids.max_x_rows),
                   std::vector<float>(static_cast<size_t>(s) * kLanes)};
  };
  // One task per lane group and ROI, group-major: consecutive tasks read the
  // same channel planes (cache-resident) and write kLanes-plane runs.
  run_tasks(num_rois * groups, num_threads, make_scratch, [&](int64_t task, Scratch& sc) {
    const int64_t k = task % num_rois;
    const LaneGroup lg(task / num_rois, f.channels);
    const Grid& g = grids.grid[k];
    const float* planes[kLanes];
    lg.planes(feature, roi_batch_index(rois[k * 5]), f.channels, plane_size, planes);
    float* dst = out + (k * f.channels + lg.c0) * out_plane;

    load_window(g, planes, f.width, sc.win.data());
    x_interpolate(g, sc.win.data(), sc.h.data());
    for (int i = 0; i < s; ++i) {
      blend_row(g, i, sc.h.data(), sc.row.data(), s * kBlock);
      store_row(sc.row.data(), s, lg.lanes, dst + i * s, out_plane);
    }
  });
}

void roi_fuse_cpu_impl(const float* p1, const float* p2, const float* p3,
                       const FuseParams& params, const float* rois, int64_t num_rois,
                       float* out, int num_threads) {
  const int s1 = level_size(params.out_size, 0);
  const int s2 = level_size(params.out_size, 1);
  const int s3 = level_size(params.out_size, 2);
  const FeatureShape* lv = params.level;

  const Grids roi1 = roi_grids(rois, num_rois, params.spatial_scale[0], s1, lv[0].height, lv[0].width);
  const Grids roi2 = roi_grids(rois, num_rois, params.spatial_scale[1], s2, lv[1].height, lv[1].width);
  const Grids roi3 = roi_grids(rois, num_rois, params.spatial_scale[2], s3, lv[2].height, lv[2].width);
  const Grids up_to_s1 = up2_grid(s1, s2);  // Q (s2 x s2) -> s1 x s1
  const Grids up_to_s2 = up2_grid(s2, s3);  // R3 (s3 x s3) -> s2 x s2
  const Grid& up1 = up_to_s1.grid[0];
  const Grid& up2 = up_to_s2.grid[0];

  const int64_t channels = lv[0].channels;
  int64_t plane_size[kLevels];
  for (int l = 0; l < kLevels; ++l) plane_size[l] = static_cast<int64_t>(lv[l].height) * lv[l].width;
  const int64_t out_plane = static_cast<int64_t>(s1) * s1;
  const int64_t groups = LaneGroup::count(channels);
  // Blocks of the blocked R3, Q and output row.
  const int64_t r3_block = static_cast<int64_t>(s3) * s3 * kBlock;
  const int64_t q_block = static_cast<int64_t>(s2) * s2 * kBlock;
  const int64_t row_block = static_cast<int64_t>(s1) * kBlock;

  // Scratch: a map window, the x-interpolated rows of each sampling (zero
  // row first), R3, Q and one output row.
  struct Scratch {
    std::vector<float> win, h1, h2, h3, h_r3, h_q, r3, q, row;
  };
  const auto make_scratch = [&] {
    const auto floats = [](size_t n) { return std::vector<float>(n); };
    return Scratch{floats(std::max({roi1.max_window, roi2.max_window, roi3.max_window})),
                   floats(roi1.max_x_rows), floats(roi2.max_x_rows), floats(roi3.max_x_rows),
                   floats(up_to_s2.max_x_rows), floats(up_to_s1.max_x_rows),
                   floats(r3_block * kBlocks), floats(q_block * kBlocks),
                   floats(row_block * kBlocks)};
  };
  // One task per lane group and ROI, group-major: consecutive tasks read the
  // same channel planes (cache-resident) and write kLanes-plane runs.
  run_tasks(num_rois * groups, num_threads, make_scratch, [&](int64_t task, Scratch& sc) {
    const int64_t k = task % num_rois;
    const int64_t b = roi_batch_index(rois[k * 5]);
    const LaneGroup lg(task / num_rois, channels);
    const Grid& g1 = roi1.grid[k];
    const Grid& g2 = roi2.grid[k];
    const Grid& g3 = roi3.grid[k];
    const float* planes[kLanes];

    // R3
    lg.planes(p3, b, channels, plane_size[2], planes);
    load_window(g3, planes, lv[2].width, sc.win.data());
    x_interpolate(g3, sc.win.data(), sc.h3.data());
    for (int i = 0; i < s3; ++i)
      blend_row(g3, i, sc.h3.data(), sc.r3.data() + i * s3 * kBlock, r3_block);

    // Q = R2 + up2(R3)
    lg.planes(p2, b, channels, plane_size[1], planes);
    load_window(g2, planes, lv[1].width, sc.win.data());
    x_interpolate(g2, sc.win.data(), sc.h2.data());
    x_interpolate(up2, sc.r3.data(), sc.h_r3.data());
    for (int i = 0; i < s2; ++i)
      blend_sum_row<false>(g2, sc.h2.data(), up2, sc.h_r3.data(), i,
                           sc.q.data() + i * s2 * kBlock, q_block);

    // R = relu(R1 + up2(Q)): the only values written out.
    lg.planes(p1, b, channels, plane_size[0], planes);
    load_window(g1, planes, lv[0].width, sc.win.data());
    x_interpolate(g1, sc.win.data(), sc.h1.data());
    x_interpolate(up1, sc.q.data(), sc.h_q.data());
    float* dst = out + (k * channels + lg.c0) * out_plane;
    for (int i = 0; i < s1; ++i) {
      blend_sum_row<true>(g1, sc.h1.data(), up1, sc.h_q.data(), i, sc.row.data(), row_block);
      store_row(sc.row.data(), s1, lg.lanes, dst + i * s1, out_plane);
    }
  });
}

}  // namespace roi
}  // namespace fassst
