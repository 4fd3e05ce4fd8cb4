// Plain shapes and parameters shared by the CPU and CUDA ROI kernels.
#pragma once

#include <cstdint>

namespace fassst {
namespace roi {

// One NCHW feature map.
struct FeatureShape {
  int64_t batch;
  int64_t channels;
  int height;
  int width;
};

// roi_crop: one pyramid level.
struct CropParams {
  FeatureShape feature;
  float spatial_scale;  // 1 / stride
  int out_size;         // S
};

// roi_fuse: three levels p1, p2, p3 (same batch and channels), output S x S.
struct FuseParams {
  FeatureShape level[3];
  float spatial_scale[3];  // 1 / stride of each level
  int out_size;            // S, a multiple of 4
};

}  // namespace roi
}  // namespace fassst
