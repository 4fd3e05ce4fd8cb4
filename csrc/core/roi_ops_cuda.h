// Validated CUDA entry points of the ROI kernels, on device pointers: the one
// boundary the Python bindings and the C++ TensorRT backend both call.
// Compiled only into builds with CUDA.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/roi/roi_cuda.h"
#include "kernels/roi/roi_types.h"

namespace fassst {

// How the K x 5 device `rois` rows are checked before the launch (finite
// coordinates, an integral batch index in [0, B)).
struct RoiCheck {
  bool validate = true;              // false: the caller vouches for them
  const float* host_rois = nullptr;  // the same rows on the host, if the caller has them (no copy then)
};

// `out`: K x C x S x S elements of `dtype`, on the device, written on `stream`.
void roi_crop_cuda_checked(roi::DType dtype, const void* feature, const roi::FeatureShape& shape,
                           const float* rois, int64_t num_rois, int out_size, float stride, void* out,
                           cudaStream_t stream, const RoiCheck& check = RoiCheck());
void roi_fuse_cuda_checked(roi::DType dtype, const void* const maps[3], const roi::FeatureShape levels[3],
                           const float* rois, int64_t num_rois, int out_size, const float strides[3], void* out,
                           cudaStream_t stream, const RoiCheck& check = RoiCheck());

}  // namespace fassst
