// CPU ROI kernels: raw-pointer loops, float32, multi-threaded.
// Callers validate inputs first (core/roi_ops.h); these trust their arguments.
#pragma once

#include <cstdint>

#include "kernels/roi/roi_types.h"

namespace fassst {
namespace roi {

// out: (K, C, S, S). rois: (K, 5) rows [batch_index, x1, y1, x2, y2].
void roi_crop_cpu_impl(const float* feature, const CropParams& params, const float* rois,
                       int64_t num_rois, float* out, int num_threads);

// out: (K, C, S, S) = relu(R1 + up2(R2 + up2(R3))).
void roi_fuse_cpu_impl(const float* p1, const float* p2, const float* p3,
                       const FuseParams& params, const float* rois, int64_t num_rois,
                       float* out, int num_threads);

}  // namespace roi
}  // namespace fassst
