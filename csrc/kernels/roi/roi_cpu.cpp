// CPU loops of roi_crop and roi_fuse. The arithmetic is roi_math.h's; this
// file only decides what is computed once (taps per ROI, shared by all
// channels; the row half of each blend, shared by a whole output row) and how
// the work is split across threads (one task per ROI and channel plane).
#include "kernels/roi/roi_cpu.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "kernels/roi/roi_math.h"

namespace fassst {
namespace roi {
namespace {

// Row and column taps of one ROI on one level: S entries each.
struct LevelTaps {
  const AxisTap* rows;
  const AxisTap* cols;
};

// Fills taps for `num_rois` ROIs on one level; layout [k][row taps | col taps].
std::vector<AxisTap> compute_level_taps(const float* rois, int64_t num_rois, float spatial_scale,
                                        int out_size, int height, int width) {
  std::vector<AxisTap> taps(static_cast<size_t>(num_rois) * 2 * out_size);
  for (int64_t k = 0; k < num_rois; ++k) {
    const float* r = rois + k * 5;
    const RoiAxis ax = roi_axis(r[1], r[3], spatial_scale, out_size);
    const RoiAxis ay = roi_axis(r[2], r[4], spatial_scale, out_size);
    AxisTap* rows = taps.data() + k * 2 * out_size;
    AxisTap* cols = rows + out_size;
    for (int i = 0; i < out_size; ++i) rows[i] = roi_tap(ay, i, height);
    for (int j = 0; j < out_size; ++j) cols[j] = roi_tap(ax, j, width);
  }
  return taps;
}

LevelTaps level_taps(const std::vector<AxisTap>& taps, int64_t k, int out_size) {
  const AxisTap* rows = taps.data() + k * 2 * out_size;
  return LevelTaps{rows, rows + out_size};
}

// Upsample taps of a whole axis (they depend on sizes only).
std::vector<AxisTap> up2_taps(int dst_size, int src_size) {
  std::vector<AxisTap> taps(dst_size);
  for (int i = 0; i < dst_size; ++i) taps[i] = up2_tap(i, src_size);
  return taps;
}

// The map rows [first, last] that a set of valid row taps reads.
struct RowSpan {
  int first = 0;
  int last = -1;
};

RowSpan row_span(const AxisTap* rows, int n) {
  RowSpan span;
  bool any = false;
  for (int i = 0; i < n; ++i) {
    if (!rows[i].valid) continue;
    span.first = any ? std::min(span.first, rows[i].lo) : rows[i].lo;
    span.last = any ? std::max(span.last, rows[i].hi) : rows[i].hi;
    any = true;
  }
  return span;
}

struct PlaneAt {
  const float* plane;
  int width;
  float operator()(int y, int x) const { return plane[static_cast<int64_t>(y) * width + x]; }
};

// The x half of every blend of a grid of samples: for each map row y that a
// valid row tap reads, row(y)[j] = lerp_x(cols[j], at, y) (0 where cols[j] is
// invalid). lerp_y over two such rows completes blend() with the very same
// operations, and runs over contiguous memory, so the compiler vectorises it.
class XInterpolated {
 public:
  void compute(const AxisTap* rows, int num_rows, const AxisTap* cols, int num_cols,
               const PlaneAt& at) {
    span_ = row_span(rows, num_rows);
    num_cols_ = num_cols;
    buf_.resize(static_cast<size_t>(std::max(0, span_.last - span_.first + 1)) * num_cols);
    for (int y = span_.first; y <= span_.last; ++y) {
      float* h = buf_.data() + static_cast<size_t>(y - span_.first) * num_cols;
      for (int j = 0; j < num_cols; ++j) h[j] = cols[j].valid ? lerp_x(cols[j], at, y) : 0.0f;
    }
  }

  const float* row(int y) const {
    return buf_.data() + static_cast<size_t>(y - span_.first) * num_cols_;
  }

  // out[j] = blend(ty, cols[j]) for the whole row.
  void blend_row(const AxisTap& ty, float* out) const {
    if (!ty.valid) {
      std::fill(out, out + num_cols_, 0.0f);
      return;
    }
    const float* lo = row(ty.lo);
    const float* hi = row(ty.hi);
    for (int j = 0; j < num_cols_; ++j) out[j] = lerp_y(ty, lo[j], hi[j]);
  }

 private:
  RowSpan span_;
  int num_cols_ = 0;
  std::vector<float> buf_;
};

// dst (S x S) = RoIAlign of one plane.
void crop_plane(const PlaneAt& at, const LevelTaps& t, int out_size, XInterpolated& xs,
                float* dst) {
  xs.compute(t.rows, out_size, t.cols, out_size, at);
  for (int i = 0; i < out_size; ++i) xs.blend_row(t.rows[i], dst + i * out_size);
}

}  // namespace

void roi_crop_cpu_impl(const float* feature, const CropParams& params, const float* rois,
                       int64_t num_rois, float* out, int num_threads) {
  const FeatureShape& f = params.feature;
  const int s = params.out_size;
  const std::vector<AxisTap> taps =
      compute_level_taps(rois, num_rois, params.spatial_scale, s, f.height, f.width);

  const int64_t plane_size = static_cast<int64_t>(f.height) * f.width;
  const int64_t out_plane = static_cast<int64_t>(s) * s;
  parallel_for(num_rois * f.channels, num_threads, 4, [&](int64_t begin, int64_t end) {
    XInterpolated xs;
    for (int64_t kc = begin; kc < end; ++kc) {
      const int64_t k = kc / f.channels;
      const int64_t c = kc % f.channels;
      const int64_t b = roi_batch_index(rois[k * 5]);
      const PlaneAt at{feature + (b * f.channels + c) * plane_size, f.width};
      crop_plane(at, level_taps(taps, k, s), s, xs, out + kc * out_plane);
    }
  });
}

void roi_fuse_cpu_impl(const float* p1, const float* p2, const float* p3,
                       const FuseParams& params, const float* rois, int64_t num_rois,
                       float* out, int num_threads) {
  const int s1 = level_size(params.out_size, 0);
  const int s2 = level_size(params.out_size, 1);
  const int s3 = level_size(params.out_size, 2);
  const int sizes[kLevels] = {s1, s2, s3};
  const float* maps[kLevels] = {p1, p2, p3};

  // Sampling taps, once per ROI and level, shared by every channel.
  std::vector<AxisTap> taps[kLevels];
  for (int l = 0; l < kLevels; ++l)
    taps[l] = compute_level_taps(rois, num_rois, params.spatial_scale[l], sizes[l],
                                 params.level[l].height, params.level[l].width);
  const std::vector<AxisTap> up_to_s2 = up2_taps(s2, s3);
  const std::vector<AxisTap> up_to_s1 = up2_taps(s1, s2);

  const int64_t channels = params.level[0].channels;
  int64_t plane_sizes[kLevels];
  for (int l = 0; l < kLevels; ++l)
    plane_sizes[l] = static_cast<int64_t>(params.level[l].height) * params.level[l].width;

  parallel_for(num_rois * channels, num_threads, 4, [&](int64_t begin, int64_t end) {
    // Per-thread scratch, reused across planes: R3 (S/4)^2, Q = R2 + up2(R3)
    // (S/2)^2, one output row, and the x-interpolated rows of each stage.
    std::vector<float> r3(static_cast<size_t>(s3) * s3), q(static_cast<size_t>(s2) * s2);
    std::vector<float> row_a(s1), row_b(s1);
    XInterpolated x1, x2, x3, x_r3, x_q;
    for (int64_t kc = begin; kc < end; ++kc) {
      const int64_t k = kc / channels;
      const int64_t c = kc % channels;
      const int64_t b = roi_batch_index(rois[k * 5]);
      PlaneAt at[kLevels];
      for (int l = 0; l < kLevels; ++l)
        at[l] = PlaneAt{maps[l] + (b * channels + c) * plane_sizes[l], params.level[l].width};
      const LevelTaps t1 = level_taps(taps[0], k, s1);
      const LevelTaps t2 = level_taps(taps[1], k, s2);

      crop_plane(at[2], level_taps(taps[2], k, s3), s3, x3, r3.data());

      // Q = R2 + up2(R3)
      x2.compute(t2.rows, s2, t2.cols, s2, at[1]);
      x_r3.compute(up_to_s2.data(), s2, up_to_s2.data(), s2, PlaneAt{r3.data(), s3});
      for (int i = 0; i < s2; ++i) {
        x2.blend_row(t2.rows[i], row_a.data());
        x_r3.blend_row(up_to_s2[i], row_b.data());
        float* qi = q.data() + i * s2;
        for (int j = 0; j < s2; ++j) qi[j] = row_a[j] + row_b[j];
      }

      // R = relu(R1 + up2(Q)): the only values written out.
      x1.compute(t1.rows, s1, t1.cols, s1, at[0]);
      x_q.compute(up_to_s1.data(), s1, up_to_s1.data(), s1, PlaneAt{q.data(), s2});
      float* dst = out + kc * static_cast<int64_t>(s1) * s1;
      for (int i = 0; i < s1; ++i) {
        float* row = dst + i * s1;
        x1.blend_row(t1.rows[i], row);
        x_q.blend_row(up_to_s1[i], row_b.data());
        for (int j = 0; j < s1; ++j) row[j] = relu(row[j] + row_b[j]);
      }
    }
  });
}

}  // namespace roi
}  // namespace fassst
