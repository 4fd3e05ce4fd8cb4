// Validation and dispatch of the ROI kernels: the boundary every caller (the
// Python bindings, the C++ pipeline, the TensorRT glue) goes through.
#pragma once

#include <cstdint>

#include "kernels/roi/roi_types.h"

namespace fassst {

// Bounds that keep every map coordinate the kernels compute, |x| / stride
// with |x| <= kMaxRoiCoordinate, far inside int range.
constexpr float kMinStride = 0.125f;
constexpr float kMaxStride = 4096.0f;
constexpr float kMaxRoiCoordinate = 16777216.0f;  // 2^24 input pixels

// Checks a crop's shapes and builds its kernel parameters.
roi::CropParams make_crop_params(const char* op, const roi::FeatureShape& feature,
                                 int out_size, float stride);

// Checks the three levels (same batch and channels, positive sizes), S (a
// positive multiple of 4) and the strides, and builds the kernel parameters.
roi::FuseParams make_fuse_params(const char* op, const roi::FeatureShape levels[3],
                                 int out_size, const float strides[3]);

// Checks ROI rows on the host: coordinates within +-kMaxRoiCoordinate, an integral batch index in
// [0, batch). Inverted, empty and off-map boxes are valid (RoIAlign rules).
void validate_rois(const char* op, const float* rois, int64_t num_rois, int64_t batch);

// Validated CPU entry points; out must hold K x C x S x S floats.
void roi_crop_cpu(const float* feature, const roi::FeatureShape& shape, const float* rois,
                  int64_t num_rois, int out_size, float stride, float* out, int num_threads);

void roi_fuse_cpu(const float* const maps[3], const roi::FeatureShape levels[3],
                  const float* rois, int64_t num_rois, int out_size, const float strides[3],
                  float* out, int num_threads);

}  // namespace fassst
