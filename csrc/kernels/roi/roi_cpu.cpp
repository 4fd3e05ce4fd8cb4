// CPU loops of roi_crop and roi_fuse. The arithmetic is roi_math.h's; this
// file decides what is computed once, the memory layout, the threading and
// the instruction set the loops are compiled for. Its parts:
//  - roi_cpu_grid.h: the taps of each ROI on each level, and what the loops
//    derive from them (valid columns, the map window read, which rows each
//    output row blends), once per call, shared by every channel; the up2
//    taps likewise;
//  - here, blend() split into its two halves: lerp_x over the map rows a
//    grid reads, then lerp_y between two of those x-interpolated rows. The
//    x-interpolated rows are made lazily, kRowBlock (4) at a time so that
//    each column tap is loaded once for all of them, just before the first
//    output row that blends them, and the map window is read one row at a
//    time, so what a row is made from is still in L1;
//  - lane_interleave.h: kLanes = 8 channels of one ROI are processed
//    together, the channel innermost ("lane-interleaved": [y][x][lane]). In a
//    plane, a column tap means one scalar indexed load per value; with the
//    channel innermost it is one contiguous 8-float load, so every arithmetic
//    loop is a plain loop over 8 lanes with the tap's weights broadcast,
//    which the compiler turns into one 256-bit (AVX2) or two 128-bit (SSE2,
//    NEON) operations per step. Moving between channel planes (the maps
//    read, the output written) and the interleaved layout is a transpose.
//    With AVX2, roi_fuse's output rows are transposed straight from the
//    registers the last blend leaves them in, four columns at a time (here);
//  - roi_fuse keeps R3, Q and all intermediate rows in per-thread scratch
//    (L1/L2-resident, kept between calls) and writes each output element
//    once;
//  - kernels/common/task_runner.h: tasks (ROI x 8-channel group) are drawn
//    from a shared counter by the threads of parallel/thread_pool.h's pool;
//  - roi_cpu_isa.h, kernels/common/cpu_features.h: on x86-64 the per-task
//    loops are compiled twice, for the SSE2 baseline and for AVX2, and the
//    AVX2 copy is used when the CPU has it. AVX2 only, not FMA: both copies
//    do the same float32 multiplies and adds in the same order (roi_math.h's),
//    so their results are bit-identical.
#include "kernels/roi/roi_cpu.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/common/cpu_features.h"
#include "kernels/common/task_runner.h"
#include "kernels/roi/lane_interleave.h"
#include "kernels/roi/roi_cpu_grid.h"
#include "kernels/roi/roi_cpu_isa.h"
#include "kernels/roi/roi_math.h"

namespace fassst {
namespace roi {
namespace {

// Where x_interpolate reads the map rows of a grid's window, interleaved
// ([x - x_first][lane]): built one row at a time from kLanes channel planes
// (each `width` wide) into a buffer of kRowBlock rows, so the window never
// exists whole ...
template <bool kAvx2>
struct PlaneRows {
  const float* const* planes;
  int width;
  float* buf;  // kRowBlock rows of x_count * kLanes floats
  // Window row r, in buffer row `slot` (< kRowBlock).
  const float* operator()(const Grid& g, int r, int slot) const {
    float* row = buf + static_cast<int64_t>(slot) * g.x_count * kLanes;
    interleave_isa<kAvx2>(planes, static_cast<int64_t>(g.y_first + r) * width + g.x_first, g.x_count, row);
    return row;
  }
};

// ... or an interleaved plane already in scratch (R3, Q: the up2 grids,
// whose window is the whole plane).
struct InterleavedRows {
  const float* plane;
  const float* operator()(const Grid& g, int r, int /*slot*/) const {
    return plane + static_cast<int64_t>(r) * g.x_count * kLanes;
  }
};

// at(y, which) for lerp_x over one lane: which = 0 reads the lane in the
// column of the tap's lo, 1 the lane in the column of its hi. The tap handed
// to lerp_x is rewritten to lo = 0, hi = 1 so that, once inlined, the loop
// over lanes is two contiguous 8-float loads (the compiler cannot always see
// that on offsets it has to track through the window row).
struct LanePairAt {
  const float* lo;
  const float* hi;
  float operator()(int /*y*/, int which) const { return which == 0 ? *lo : *hi; }
};

// lerp_x of tap t for all lanes of one column: o[lane] = lerp_x(t) reading
// the window row `in`.
inline void lerp_x_lanes(AxisTap t, const float* in, int y, float* __restrict o) {
  const float* __restrict lo = in + t.lo;
  const float* __restrict hi = in + t.hi;
  t.lo = 0;
  t.hi = 1;
  for (int v = 0; v < kLanes; ++v) o[v] = lerp_x(t, LanePairAt{lo + v, hi + v}, y);
}

// Window rows x_interpolate handles together: each column tap (two offsets,
// two weights) is loaded once for all of them.
constexpr int kRowBlock = 4;

// x_interpolate for the `rows` (<= kRowBlock) window rows from r: row 1 + r
// + q of `h` holds lerp_x(cols[j]) of window row r + q where cols[j] is
// valid and 0 elsewhere, as [j][lane].
template <int rows, typename Rows>
inline void x_interpolate_block(const Grid& g, const Rows& src, int r, float* __restrict h) {
  const int64_t row_floats = static_cast<int64_t>(g.n) * kLanes;
  const float* in[rows];
  float* out[rows];
  for (int q = 0; q < rows; ++q) {
    in[q] = src(g, r + q, q);
    out[q] = h + (1 + r + q) * row_floats;
    std::fill(out[q], out[q] + g.col_begin * kLanes, 0.0f);
  }
  for (int j = g.col_begin; j < g.col_end; ++j) {
    const AxisTap t = g.cols[j];
    for (int q = 0; q < rows; ++q) lerp_x_lanes(t, in[q], g.y_first + r + q, out[q] + j * kLanes);
  }
  for (int q = 0; q < rows; ++q) std::fill(out[q] + g.col_end * kLanes, out[q] + row_floats, 0.0f);
}

// The x half of every blend of the grid, for all lanes, for window rows
// [r_begin, r_end): row 1 + r of `h` holds, for map row y_first + r,
// lerp_x(cols[j]) where cols[j] is valid and 0 elsewhere, as [j][lane]. Row 0
// is the zero row; it is never written (the caller zero-initialises it).
template <typename Rows>
inline void x_interpolate(const Grid& g, const Rows& src, int r_begin, int r_end,
                          float* __restrict h) {
  int r = r_begin;
  for (; r + kRowBlock <= r_end; r += kRowBlock) x_interpolate_block<kRowBlock>(g, src, r, h);
  switch (r_end - r) {
    case 3: return x_interpolate_block<3>(g, src, r, h);
    case 2: return x_interpolate_block<2>(g, src, r, h);
    case 1: return x_interpolate_block<1>(g, src, r, h);
    default: return;
  }
}

// The x-interpolated rows of a grid, made when an output row first needs
// them: the rows of output row i are made just before it is blended, so they
// are still in L1 when read (the whole set does not fit).
template <typename Rows>
struct XRows {
  const Grid& g;
  Rows src;
  float* h;  // (y_count + 1) * n * kLanes floats, row 0 zero
  int done;

  XRows(const Grid& grid, const Rows& rows, float* buffer) : g(grid), src(rows), h(buffer), done(0) {}

  // Makes the rows output row i blends (and those before them).
  void need(int i) {
    int upto = g.rows_needed[i];
    if (upto > done) {
      upto = std::min(std::max(upto, done + kRowBlock), g.y_count);  // whole blocks where possible
      x_interpolate(g, src, done, upto, h);
      done = upto;
    }
  }
};

template <typename Rows>
XRows<Rows> x_rows(const Grid& g, const Rows& rows, float* h) {
  return XRows<Rows>(g, rows, h);
}

// lerp_y completes blend() for output row i of the grid, all lanes:
// out[j][lane] = lerp_y(rows[i], h_lo[j][lane], h_hi[j][lane]).
// The tap is copied so the compiler knows the stores cannot change it.
inline void blend_row(const Grid& g, int i, const float* h, float* __restrict out) {
  const AxisTap t = g.rows[i];
  const float* __restrict lo = h + g.lo_off[i];
  const float* __restrict hi = h + g.hi_off[i];
  const int count = g.n * kLanes;
  for (int e = 0; e < count; ++e) out[e] = lerp_y(t, lo[e], hi[e]);
}

// blend(g, i) + blend(up, i), row i of Q, or, with `apply_relu`, of R, for
// the interleaved elements [begin, end) of the row (column j, lane v is
// element j * kLanes + v).
template <bool apply_relu>
struct BlendSumRow {
  AxisTap t, u;
  const float* g_lo;
  const float* g_hi;
  const float* u_lo;
  const float* u_hi;

  BlendSumRow(const Grid& g, const float* hg, const Grid& up, const float* hu, int i)
      : t(g.rows[i]), u(up.rows[i]), g_lo(hg + g.lo_off[i]), g_hi(hg + g.hi_off[i]),
        u_lo(hu + up.lo_off[i]), u_hi(hu + up.hi_off[i]) {}

  void operator()(int64_t begin, int64_t end, float* __restrict out) const {
    const AxisTap ty = t, uy = u;  // copies: the stores cannot change them
    const float* __restrict a_lo = g_lo + begin;
    const float* __restrict a_hi = g_hi + begin;
    const float* __restrict b_lo = u_lo + begin;
    const float* __restrict b_hi = u_hi + begin;
    const int64_t count = end - begin;
    for (int64_t e = 0; e < count; ++e) {
      const float sum = lerp_y(ty, a_lo[e], a_hi[e]) + lerp_y(uy, b_lo[e], b_hi[e]);
      out[e] = apply_relu ? relu(sum) : sum;
    }
  }
};

template <bool apply_relu>
inline void blend_sum_row(const Grid& g, const float* hg, const Grid& up, const float* hu, int i,
                          float* __restrict out) {
  BlendSumRow<apply_relu>(g, hg, up, hu, i)(0, static_cast<int64_t>(g.n) * kLanes, out);
}

#if FASSST_ROI_AVX2
// A row of R (n columns, n a multiple of 4, all kLanes lanes stored) from
// the blend straight into the output planes: four columns at a time are
// blended into a 32-float block and transposed in registers, so the row
// does not go through scratch and back.
__attribute__((target("avx2"))) inline void write_relu_row_avx2(const BlendSumRow<true>& row,
                                                                 int n, float* dst,
                                                                 int64_t plane_stride) {
  for (int j = 0; j < n; j += 4) {
    alignas(32) float block[4 * kLanes];
    row(static_cast<int64_t>(j) * kLanes, static_cast<int64_t>(j + 4) * kLanes, block);
    __m256 r[4];
    for (int q = 0; q < 4; ++q) r[q] = _mm256_load_ps(block + q * kLanes);
    transpose4_in_lanes(r[0], r[1], r[2], r[3]);
    for (int v = 0; v < 4; ++v) {
      _mm_storeu_ps(dst + v * plane_stride + j, _mm256_castps256_ps128(r[v]));
      _mm_storeu_ps(dst + (v + 4) * plane_stride + j, _mm256_extractf128_ps(r[v], 1));
    }
  }
}
#endif

// Row i of R = relu(blend(g, i) + blend(up, i)) into the first `lanes`
// output planes at dst (plane_stride apart); `row` is scratch for n * kLanes
// floats.
template <bool kAvx2>
inline void write_relu_row(const Grid& g, const float* hg, const Grid& up, const float* hu, int i,
                           int lanes, float* row, float* dst, int64_t plane_stride) {
#if FASSST_ROI_AVX2
  if (kAvx2 && lanes == kLanes && g.n % 4 == 0)
    return write_relu_row_avx2(BlendSumRow<true>(g, hg, up, hu, i), g.n, dst, plane_stride);
#endif
  blend_sum_row<true>(g, hg, up, hu, i, row);
  deinterleave_isa<kAvx2>(row, g.n, lanes, dst, plane_stride);
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

// `v` with at least n floats; its contents are not kept when it grows.
void fit(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.assign(n, 0.0f);
}

// Sets row 0 of a set of x-interpolated rows (n columns) to 0: lerp_y of an
// invalid row tap reads it.
void zero_row(std::vector<float>& h, int n) {
  std::fill(h.begin(), h.begin() + static_cast<int64_t>(n) * kLanes, 0.0f);
}

// ---- roi_crop --------------------------------------------------------------

struct CropScratch {
  std::vector<float> win, h, row;
};

struct CropJob {
  const float* feature;
  const float* rois;
  const Grids* grids;
  FeatureShape f;
  int s;
  int64_t num_rois;
  float* out;
};

// One task: lane group task / num_rois of ROI task % num_rois.
template <bool kAvx2>
inline void crop_task(const CropJob& c, int64_t task, CropScratch& sc) {
  const int64_t k = task % c.num_rois;
  const LaneGroup lg(task / c.num_rois, c.f.channels);
  const Grid& g = c.grids->grid[k];
  const int64_t plane_size = static_cast<int64_t>(c.f.height) * c.f.width;
  const int64_t out_plane = static_cast<int64_t>(c.s) * c.s;
  const float* planes[kLanes];
  lg.planes(c.feature, roi_batch_index(c.rois[k * 5]), c.f.channels, plane_size, planes);
  float* dst = c.out + (k * c.f.channels + lg.c0) * out_plane;

  auto h = x_rows(g, PlaneRows<kAvx2>{planes, c.f.width, sc.win.data()}, sc.h.data());
  for (int i = 0; i < c.s; ++i) {
    h.need(i);
    blend_row(g, i, sc.h.data(), sc.row.data());
    deinterleave_isa<kAvx2>(sc.row.data(), c.s, lg.lanes, dst + i * c.s, out_plane);
  }
}

FASSST_FLATTEN void crop_task_base(const CropJob& c, int64_t task, CropScratch& sc) {
  crop_task<false>(c, task, sc);
}

#if FASSST_ROI_AVX2
__attribute__((target("avx2"))) FASSST_FLATTEN void crop_task_avx2(const CropJob& c,
                                                                    int64_t task,
                                                                    CropScratch& sc) {
  crop_task<true>(c, task, sc);
}
#endif

// ---- roi_fuse --------------------------------------------------------------

struct FuseScratch {
  std::vector<float> win, h1, h2, h3, h_r3, h_q, r3, q, row;
};

struct FuseJob {
  const float* maps[kLevels];
  const float* rois;
  const FeatureShape* lv;
  const Grids* roi_grid[kLevels];
  const Grid* up1;  // Q (s2 x s2) -> s1 x s1
  const Grid* up2;  // R3 (s3 x s3) -> s2 x s2
  int s[kLevels];
  int64_t num_rois;
  int64_t channels;
  float* out;
};

template <bool kAvx2>
inline void fuse_task(const FuseJob& c, int64_t task, FuseScratch& sc) {
  const int64_t k = task % c.num_rois;
  const int64_t b = roi_batch_index(c.rois[k * 5]);
  const LaneGroup lg(task / c.num_rois, c.channels);
  const Grid& g1 = c.roi_grid[0]->grid[k];
  const Grid& g2 = c.roi_grid[1]->grid[k];
  const Grid& g3 = c.roi_grid[2]->grid[k];
  const int s1 = c.s[0], s2 = c.s[1], s3 = c.s[2];
  const float* planes[kLanes];
  const auto level_planes = [&](int l) {
    lg.planes(c.maps[l], b, c.channels, static_cast<int64_t>(c.lv[l].height) * c.lv[l].width,
              planes);
  };

  // R3
  level_planes(2);
  auto h3 = x_rows(g3, PlaneRows<kAvx2>{planes, c.lv[2].width, sc.win.data()}, sc.h3.data());
  for (int i = 0; i < s3; ++i) {
    h3.need(i);
    blend_row(g3, i, sc.h3.data(), sc.r3.data() + i * s3 * kLanes);
  }

  // Q = R2 + up2(R3)
  level_planes(1);
  auto h2 = x_rows(g2, PlaneRows<kAvx2>{planes, c.lv[1].width, sc.win.data()}, sc.h2.data());
  auto h_r3 = x_rows(*c.up2, InterleavedRows{sc.r3.data()}, sc.h_r3.data());
  for (int i = 0; i < s2; ++i) {
    h2.need(i);
    h_r3.need(i);
    blend_sum_row<false>(g2, sc.h2.data(), *c.up2, sc.h_r3.data(), i,
                         sc.q.data() + i * s2 * kLanes);
  }

  // R = relu(R1 + up2(Q)): the only values written out.
  level_planes(0);
  auto h1 = x_rows(g1, PlaneRows<kAvx2>{planes, c.lv[0].width, sc.win.data()}, sc.h1.data());
  auto h_q = x_rows(*c.up1, InterleavedRows{sc.q.data()}, sc.h_q.data());
  const int64_t out_plane = static_cast<int64_t>(s1) * s1;
  float* dst = c.out + (k * c.channels + lg.c0) * out_plane;
  for (int i = 0; i < s1; ++i) {
    h1.need(i);
    h_q.need(i);
    write_relu_row<kAvx2>(g1, sc.h1.data(), *c.up1, sc.h_q.data(), i, lg.lanes, sc.row.data(),
                          dst + i * s1, out_plane);
  }
}

FASSST_FLATTEN void fuse_task_base(const FuseJob& c, int64_t task, FuseScratch& sc) {
  fuse_task<false>(c, task, sc);
}

#if FASSST_ROI_AVX2
__attribute__((target("avx2"))) FASSST_FLATTEN void fuse_task_avx2(const FuseJob& c,
                                                                    int64_t task,
                                                                    FuseScratch& sc) {
  fuse_task<true>(c, task, sc);
}
#endif

}  // namespace

void roi_crop_cpu_impl(const float* feature, const CropParams& params, const float* rois,
                       int64_t num_rois, float* out, int num_threads) {
  const FeatureShape& f = params.feature;
  const int s = params.out_size;
  // The calling thread's grids (see Grids), named through a reference: in
  // the lambdas, which run on workers too, the thread_local would be theirs.
  thread_local Grids caller_grids;
  Grids& grids = caller_grids;
  CropJob job{};
  const auto prepare = [&] {
    roi_grids(grids, rois, num_rois, params.spatial_scale, s, f.height, f.width);
    job = CropJob{feature, rois, &grids, f, s, num_rois, out};
  };
  // Scratch: a window row, the x-interpolated rows (zero row first) and one
  // interleaved output row.
  const auto make_scratch = [&]() -> CropScratch& {
    CropScratch& sc = thread_scratch<CropScratch>();
    fit(sc.win, kRowBlock * grids.max_window_row);
    fit(sc.h, std::max(grids.max_x_rows, static_cast<size_t>(s) * kLanes));
    fit(sc.row, static_cast<size_t>(s) * kLanes);
    zero_row(sc.h, s);
    return sc;
  };
  auto task = crop_task_base;
#if FASSST_ROI_AVX2
  if (cpu_has_avx2()) task = crop_task_avx2;
#endif
  // One task per lane group and ROI, group-major: consecutive tasks read the
  // same channel planes (cache-resident) and write kLanes-plane runs.
  run_tasks(num_rois * LaneGroup::count(f.channels), num_rois * f.channels * s * s, num_threads,
            prepare, make_scratch,
            [&](int64_t t, CropScratch& sc) { task(job, t, sc); });
}

void roi_fuse_cpu_impl(const float* p1, const float* p2, const float* p3,
                       const FuseParams& params, const float* rois, int64_t num_rois,
                       float* out, int num_threads) {
  const int s1 = level_size(params.out_size, 0);
  const int s2 = level_size(params.out_size, 1);
  const int s3 = level_size(params.out_size, 2);
  const FeatureShape* lv = params.level;
  const int64_t channels = lv[0].channels;

  // The calling thread's grids (see Grids), named through references: in
  // the lambdas, which run on workers too, the thread_locals would be theirs.
  thread_local Grids caller_grids[5];
  Grids& roi1 = caller_grids[0];
  Grids& roi2 = caller_grids[1];
  Grids& roi3 = caller_grids[2];
  Grids& up_to_s1 = caller_grids[3];
  Grids& up_to_s2 = caller_grids[4];
  FuseJob job{};
  const auto prepare = [&] {
    roi_grids(roi1, rois, num_rois, params.spatial_scale[0], s1, lv[0].height, lv[0].width);
    roi_grids(roi2, rois, num_rois, params.spatial_scale[1], s2, lv[1].height, lv[1].width);
    roi_grids(roi3, rois, num_rois, params.spatial_scale[2], s3, lv[2].height, lv[2].width);
    up2_grid(up_to_s1, s1, s2);
    up2_grid(up_to_s2, s2, s3);
    job = FuseJob{{p1, p2, p3}, rois, lv, {&roi1, &roi2, &roi3}, &up_to_s1.grid[0],
                  &up_to_s2.grid[0], {s1, s2, s3}, num_rois, channels, out};
  };

  // Scratch: a window row, the x-interpolated rows of each sampling (zero
  // row first), R3, Q and one output row, all interleaved.
  const auto make_scratch = [&]() -> FuseScratch& {
    FuseScratch& sc = thread_scratch<FuseScratch>();
    const auto row = [](int n) { return static_cast<size_t>(n) * kLanes; };
    fit(sc.win, kRowBlock * std::max({roi1.max_window_row, roi2.max_window_row, roi3.max_window_row}));
    fit(sc.h1, std::max(roi1.max_x_rows, row(s1)));
    fit(sc.h2, std::max(roi2.max_x_rows, row(s2)));
    fit(sc.h3, std::max(roi3.max_x_rows, row(s3)));
    fit(sc.h_r3, up_to_s2.max_x_rows);
    fit(sc.h_q, up_to_s1.max_x_rows);
    fit(sc.r3, row(s3) * s3);
    fit(sc.q, row(s2) * s2);
    fit(sc.row, row(s1));
    zero_row(sc.h1, s1);
    zero_row(sc.h2, s2);
    zero_row(sc.h3, s3);
    zero_row(sc.h_r3, s2);
    zero_row(sc.h_q, s1);
    return sc;
  };
  auto task = fuse_task_base;
#if FASSST_ROI_AVX2
  if (cpu_has_avx2()) task = fuse_task_avx2;
#endif
  // One task per lane group and ROI, group-major: consecutive tasks read the
  // same channel planes (cache-resident) and write kLanes-plane runs.
  run_tasks(num_rois * LaneGroup::count(channels), num_rois * channels * s1 * s1, num_threads,
            prepare, make_scratch,
            [&](int64_t t, FuseScratch& sc) { task(job, t, sc); });
}

}  // namespace roi
}  // namespace fassst
