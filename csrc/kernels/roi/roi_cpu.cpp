// CPU loops of roi_crop and roi_fuse. The arithmetic is roi_math.h's; this
// file only decides what is computed once (taps per ROI, shared by all
// channels) and how the work is split across threads (one task per ROI plane).
#include "kernels/roi/roi_cpu.h"

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
void compute_level_taps(const float* rois, int64_t num_rois, float spatial_scale,
                        int out_size, int height, int width, AxisTap* taps) {
  for (int64_t k = 0; k < num_rois; ++k) {
    const float* r = rois + k * 5;
    const RoiAxis ax = roi_axis(r[1], r[3], spatial_scale, out_size);
    const RoiAxis ay = roi_axis(r[2], r[4], spatial_scale, out_size);
    AxisTap* rows = taps + k * 2 * out_size;
    AxisTap* cols = rows + out_size;
    for (int i = 0; i < out_size; ++i) rows[i] = roi_tap(ay, i, height);
    for (int j = 0; j < out_size; ++j) cols[j] = roi_tap(ax, j, width);
  }
}

LevelTaps level_taps(const std::vector<AxisTap>& taps, int64_t k, int out_size) {
  const AxisTap* rows = taps.data() + k * 2 * out_size;
  return LevelTaps{rows, rows + out_size};
}

// RoIAlign of one ROI on one channel plane into dst (S x S).
void crop_plane(const float* plane, int width, const LevelTaps& t, int out_size, float* dst) {
  auto at = [plane, width](int y, int x) { return plane[static_cast<int64_t>(y) * width + x]; };
  for (int i = 0; i < out_size; ++i)
    for (int j = 0; j < out_size; ++j) dst[i * out_size + j] = blend(t.rows[i], t.cols[j], at);
}

}  // namespace

void roi_crop_cpu_impl(const float* feature, const CropParams& params, const float* rois,
                       int64_t num_rois, float* out, int num_threads) {
  const FeatureShape& f = params.feature;
  const int s = params.out_size;
  std::vector<AxisTap> taps(static_cast<size_t>(num_rois) * 2 * s);
  compute_level_taps(rois, num_rois, params.spatial_scale, s, f.height, f.width, taps.data());

  const int64_t plane_size = static_cast<int64_t>(f.height) * f.width;
  const int64_t out_plane = static_cast<int64_t>(s) * s;
  parallel_for(num_rois * f.channels, num_threads, 4, [&](int64_t begin, int64_t end) {
    for (int64_t kc = begin; kc < end; ++kc) {
      const int64_t k = kc / f.channels;
      const int64_t c = kc % f.channels;
      const int64_t b = roi_batch_index(rois[k * 5]);
      const float* plane = feature + (b * f.channels + c) * plane_size;
      crop_plane(plane, f.width, level_taps(taps, k, s), s, out + kc * out_plane);
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
  for (int l = 0; l < kLevels; ++l) {
    taps[l].resize(static_cast<size_t>(num_rois) * 2 * sizes[l]);
    compute_level_taps(rois, num_rois, params.spatial_scale[l], sizes[l],
                       params.level[l].height, params.level[l].width, taps[l].data());
  }
  // Upsample taps depend on the sizes only: S/4 -> S/2 and S/2 -> S.
  std::vector<AxisTap> up_to_s2(s2), up_to_s1(s1);
  for (int i = 0; i < s2; ++i) up_to_s2[i] = up2_tap(i, s3);
  for (int i = 0; i < s1; ++i) up_to_s1[i] = up2_tap(i, s2);

  const int64_t channels = params.level[0].channels;
  int64_t plane_sizes[kLevels];
  for (int l = 0; l < kLevels; ++l)
    plane_sizes[l] = static_cast<int64_t>(params.level[l].height) * params.level[l].width;

  parallel_for(num_rois * channels, num_threads, 4, [&](int64_t begin, int64_t end) {
    // Intermediates of one plane: R3 (S/4)^2 and Q = R2 + up2(R3) (S/2)^2.
    std::vector<float> r3(static_cast<size_t>(s3) * s3), q(static_cast<size_t>(s2) * s2);
    for (int64_t kc = begin; kc < end; ++kc) {
      const int64_t k = kc / channels;
      const int64_t c = kc % channels;
      const int64_t b = roi_batch_index(rois[k * 5]);
      const float* planes[kLevels];
      for (int l = 0; l < kLevels; ++l)
        planes[l] = maps[l] + (b * channels + c) * plane_sizes[l];
      const LevelTaps t1 = level_taps(taps[0], k, s1);
      const LevelTaps t2 = level_taps(taps[1], k, s2);
      const LevelTaps t3 = level_taps(taps[2], k, s3);

      crop_plane(planes[2], params.level[2].width, t3, s3, r3.data());

      const int w2 = params.level[1].width;
      const float* plane2 = planes[1];
      auto at2 = [plane2, w2](int y, int x) { return plane2[static_cast<int64_t>(y) * w2 + x]; };
      const float* r3p = r3.data();
      auto at_r3 = [r3p, s3](int y, int x) { return r3p[y * s3 + x]; };
      for (int i = 0; i < s2; ++i)
        for (int j = 0; j < s2; ++j)
          q[i * s2 + j] = blend(t2.rows[i], t2.cols[j], at2) +
                          blend(up_to_s2[i], up_to_s2[j], at_r3);

      const int w1 = params.level[0].width;
      const float* plane1 = planes[0];
      auto at1 = [plane1, w1](int y, int x) { return plane1[static_cast<int64_t>(y) * w1 + x]; };
      const float* qp = q.data();
      auto at_q = [qp, s2](int y, int x) { return qp[y * s2 + x]; };
      float* dst = out + kc * static_cast<int64_t>(s1) * s1;
      for (int i = 0; i < s1; ++i)
        for (int j = 0; j < s1; ++j)
          dst[i * s1 + j] = relu(blend(t1.rows[i], t1.cols[j], at1) +
                                 blend(up_to_s1[i], up_to_s1[j], at_q));
    }
  });
}

}  // namespace roi
}  // namespace fassst
