// C entry points (loaded with ctypes by tests/test_cuda_kernel_bodies.py) that
// run the CUDA kernel bodies of roi_kernel.cuh on the CPU.
#include "cuda_sim.h"
// The header under test, exactly as nvcc compiles it.
#include "kernels/roi/roi_kernel.cuh"

using fassst::roi::CropParams;
using fassst::roi::FeatureShape;
using fassst::roi::FuseParams;

namespace {

FeatureShape shape_at(const int64_t* s) {
  return FeatureShape{s[0], s[1], static_cast<int>(s[2]), static_cast<int>(s[3])};
}

}  // namespace

extern "C" {

// dtype: 0 float32, 1 float16. shape: B, C, H, W.
void harness_roi_crop(int dtype, const void* feature, const int64_t* shape, float stride,
                      int out_size, const float* rois, int64_t num_rois, void* out,
                      unsigned int grid, unsigned int block) {
  const CropParams p{shape_at(shape), 1.0f / stride, out_size};
  if (dtype == 0)
    simulate_launch(grid, block, fassst::roi::roi_crop_kernel<float>,
                    static_cast<const float*>(feature), p, rois, num_rois, static_cast<float*>(out));
  else
    simulate_launch(grid, block, fassst::roi::roi_crop_kernel<__half>,
                    static_cast<const __half*>(feature), p, rois, num_rois, static_cast<__half*>(out));
}

// shapes: 3 x (B, C, H, W); strides: 3 floats.
void harness_roi_fuse(int dtype, const void* p1, const void* p2, const void* p3,
                      const int64_t* shapes, const float* strides, int out_size,
                      const float* rois, int64_t num_rois, void* out, unsigned int grid,
                      unsigned int block) {
  FuseParams p;
  for (int l = 0; l < 3; ++l) {
    p.level[l] = shape_at(shapes + 4 * l);
    p.spatial_scale[l] = 1.0f / strides[l];
  }
  p.out_size = out_size;
  if (dtype == 0)
    simulate_launch(grid, block, fassst::roi::roi_fuse_kernel<float>,
                    static_cast<const float*>(p1), static_cast<const float*>(p2),
                    static_cast<const float*>(p3), p, rois, num_rois, static_cast<float*>(out));
  else
    simulate_launch(grid, block, fassst::roi::roi_fuse_kernel<__half>,
                    static_cast<const __half*>(p1), static_cast<const __half*>(p2),
                    static_cast<const __half*>(p3), p, rois, num_rois, static_cast<__half*>(out));
}

}  // extern "C"
