// CUDA launchers of the ROI kernels: raw device pointers and a stream, for the
// Python device-array path and for the TensorRT glue (frame-engine outputs in,
// tail-engine input buffer out). No allocation, no synchronisation; inputs are
// validated by the caller (core/roi_ops.h). Returns the launch status.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/roi/roi_types.h"

namespace fassst {
namespace roi {

enum class DType { kFloat32, kFloat16 };

// feature, out: `dtype` elements; rois: float32 (K, 5), on the device.
cudaError_t roi_crop_cuda(DType dtype, const void* feature, const CropParams& params,
                          const float* rois, int64_t num_rois, void* out, cudaStream_t stream);

cudaError_t roi_fuse_cuda(DType dtype, const void* p1, const void* p2, const void* p3,
                          const FuseParams& params, const float* rois, int64_t num_rois,
                          void* out, cudaStream_t stream);

}  // namespace roi
}  // namespace fassst
