#include "core/roi_ops.h"

#include <cmath>

#include "core/errors.h"
#include "core/thread_count.h"
#include "kernels/roi/roi_cpu.h"

namespace fassst {
namespace {

const char* const kLevelNames[3] = {"p1", "p2", "p3"};
const char* const kStrideNames[3] = {"strides[0]", "strides[1]", "strides[2]"};

void check_feature(const char* op, const char* name, const roi::FeatureShape& f) {
  if (f.batch < 1 || f.channels < 1 || f.height < 1 || f.width < 1)
    throw InvalidArgument(message(op, ": ", name, " must have shape (B, C, H, W) with every size >= 1, got ",
                                  shape_string<int64_t>({f.batch, f.channels, f.height, f.width})));
}

void check_stride(const char* op, const char* name, float stride) {
  if (!(stride >= kMinStride && stride <= kMaxStride))
    throw InvalidArgument(message(op, ": ", name, " must be a number in [", kMinStride, ", ", kMaxStride,
                                  "], got ", stride));
}

}  // namespace

roi::CropParams make_crop_params(const char* op, const roi::FeatureShape& feature,
                                 int out_size, float stride) {
  check_feature(op, "feature", feature);
  if (out_size < 1)
    throw InvalidArgument(message(op, ": output_size must be >= 1, got ", out_size));
  check_stride(op, "stride", stride);
  return roi::CropParams{feature, 1.0f / stride, out_size};
}

roi::FuseParams make_fuse_params(const char* op, const roi::FeatureShape levels[3],
                                 int out_size, const float strides[3]) {
  roi::FuseParams p;
  for (int l = 0; l < 3; ++l) {
    check_feature(op, kLevelNames[l], levels[l]);
    if (levels[l].batch != levels[0].batch)
      throw InvalidArgument(message(op, ": ", kLevelNames[l], " has batch size ", levels[l].batch,
                                    ", expected ", levels[0].batch, " (p1's)"));
    if (levels[l].channels != levels[0].channels)
      throw InvalidArgument(message(op, ": ", kLevelNames[l], " has ", levels[l].channels,
                                    " channels, expected ", levels[0].channels, " (p1's)"));
    check_stride(op, kStrideNames[l], strides[l]);
    p.level[l] = levels[l];
    p.spatial_scale[l] = 1.0f / strides[l];
  }
  if (out_size < 4 || out_size % 4 != 0)
    throw InvalidArgument(message(op, ": output_size must be a positive multiple of 4 (levels are cropped at S, S/2, S/4), got ",
                                  out_size));
  p.out_size = out_size;
  return p;
}

void validate_rois(const char* op, const float* rois, int64_t num_rois, int64_t batch) {
  static const char* const kColumns[5] = {"batch_index", "x1", "y1", "x2", "y2"};
  for (int64_t k = 0; k < num_rois; ++k) {
    const float* r = rois + k * 5;
    for (int col = 0; col < 5; ++col)
      if (!std::isfinite(r[col]))
        throw InvalidArgument(message(op, ": rois[", k, ", ", col, "] (", kColumns[col],
                                      ") must be finite, got ", r[col]));
    for (int col = 1; col < 5; ++col)
      if (std::fabs(r[col]) > kMaxRoiCoordinate)
        throw InvalidArgument(message(op, ": rois[", k, ", ", col, "] (", kColumns[col], ") must be within +-",
                                      static_cast<int64_t>(kMaxRoiCoordinate), " input pixels, got ", r[col]));
    if (r[0] != std::floor(r[0]) || r[0] < 0.0f || r[0] >= static_cast<float>(batch))
      throw InvalidArgument(message(op, ": rois[", k, ", 0] (batch_index) must be an integer in [0, ",
                                    batch, "), got ", r[0]));
  }
}

void roi_crop_cpu(const float* feature, const roi::FeatureShape& shape, const float* rois,
                  int64_t num_rois, int out_size, float stride, float* out, int num_threads) {
  const roi::CropParams p = make_crop_params("roi_crop", shape, out_size, stride);
  checked_num_threads("roi_crop: num_threads", num_threads);
  validate_rois("roi_crop", rois, num_rois, shape.batch);
  if (num_rois == 0) return;
  roi::roi_crop_cpu_impl(feature, p, rois, num_rois, out, num_threads);
}

void roi_fuse_cpu(const float* const maps[3], const roi::FeatureShape levels[3],
                  const float* rois, int64_t num_rois, int out_size, const float strides[3],
                  float* out, int num_threads) {
  const roi::FuseParams p = make_fuse_params("roi_fuse", levels, out_size, strides);
  checked_num_threads("roi_fuse: num_threads", num_threads);
  validate_rois("roi_fuse", rois, num_rois, levels[0].batch);
  if (num_rois == 0) return;
  roi::roi_fuse_cpu_impl(maps[0], maps[1], maps[2], p, rois, num_rois, out, num_threads);
}

}  // namespace fassst
