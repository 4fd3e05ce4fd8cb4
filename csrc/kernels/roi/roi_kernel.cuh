// CUDA kernel bodies of roi_crop and roi_fuse, one thread per output element.
//
// This header is compiled by nvcc (roi_cuda.cu) and by g++ under
// tests/cuda_harness/cuda_sim.h, which defines __global__, the thread indices
// and __half, so the CPU test suite runs these very bodies, index arithmetic
// included. Keep it free of anything else CUDA-specific.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#endif

#include "kernels/roi/roi_math.h"
#include "kernels/roi/roi_types.h"

namespace fassst {
namespace roi {

// Loads and stores in the element type, arithmetic in float32.
template <typename T>
struct Element;

template <>
struct Element<float> {
  static FASSST_HD float load(float v) { return v; }
  static FASSST_HD float store(float v) { return v; }
};

template <>
struct Element<__half> {
  static FASSST_HD float load(__half v) { return __half2float(v); }
  static FASSST_HD __half store(float v) { return __float2half(v); }
};

// A (channel-plane, width) reader as the `at` argument of blend().
template <typename T>
struct PlaneReader {
  const T* plane;
  int width;
  FASSST_HD float operator()(int y, int x) const {
    return Element<T>::load(plane[static_cast<int64_t>(y) * width + x]);
  }
};

// Splits a flat output index of a (K, C, S, S) tensor.
struct OutputIndex {
  int64_t k;
  int64_t c;
  int i;
  int j;
};

FASSST_HD OutputIndex split_output_index(int64_t idx, int64_t channels, int out_size) {
  OutputIndex o;
  o.j = static_cast<int>(idx % out_size);
  o.i = static_cast<int>((idx / out_size) % out_size);
  const int64_t kc = idx / (static_cast<int64_t>(out_size) * out_size);
  o.c = kc % channels;
  o.k = kc / channels;
  return o;
}

FASSST_HD int64_t first_thread_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

FASSST_HD int64_t thread_stride() { return static_cast<int64_t>(blockDim.x) * gridDim.x; }

// A batch index outside [0, batch) is rejected before launch; the guard keeps
// a kernel launched without validation from reading outside the maps.
FASSST_HD bool batch_in_range(int64_t b, int64_t batch) { return b >= 0 && b < batch; }

template <typename T>
__global__ void roi_crop_kernel(const T* feature, CropParams p, const float* rois,
                                int64_t num_rois, T* out) {
  const FeatureShape f = p.feature;
  const int64_t total = num_rois * f.channels * p.out_size * p.out_size;
  for (int64_t idx = first_thread_index(); idx < total; idx += thread_stride()) {
    const OutputIndex o = split_output_index(idx, f.channels, p.out_size);
    const float* r = rois + o.k * 5;
    const int64_t b = roi_batch_index(r[0]);
    float v = 0.0f;
    if (batch_in_range(b, f.batch)) {
      const RoiAxis ax = roi_axis(r[1], r[3], p.spatial_scale, p.out_size);
      const RoiAxis ay = roi_axis(r[2], r[4], p.spatial_scale, p.out_size);
      const PlaneReader<T> at{feature + (b * f.channels + o.c) * f.height * f.width, f.width};
      v = blend(roi_tap(ay, o.i, f.height), roi_tap(ax, o.j, f.width), at);
    }
    out[idx] = Element<T>::store(v);
  }
}

// One level's ROI sampler: RoIAlign of bin (row, col) of an ROI on one plane.
template <typename T>
struct LevelSampler {
  PlaneReader<T> plane;
  RoiAxis ax;
  RoiAxis ay;
  int height;
  FASSST_HD float operator()(int row, int col) const {
    return blend(roi_tap(ay, row, height), roi_tap(ax, col, plane.width), plane);
  }
};

template <typename T>
FASSST_HD LevelSampler<T> make_level_sampler(const T* map, const FeatureShape& f, float scale,
                                             int out_size, const float* roi, int64_t b,
                                             int64_t c) {
  LevelSampler<T> s;
  s.plane.plane = map + (b * f.channels + c) * f.height * f.width;
  s.plane.width = f.width;
  s.ax = roi_axis(roi[1], roi[3], scale, out_size);
  s.ay = roi_axis(roi[2], roi[4], scale, out_size);
  s.height = f.height;
  return s;
}

// Q = R2 + up2(R3) at one (S/2 x S/2) position, recomputed from the maps.
template <typename T>
struct MidLevel {
  LevelSampler<T> r2;
  LevelSampler<T> r3;
  int s3;
  FASSST_HD float operator()(int row, int col) const {
    return r2(row, col) + blend(up2_tap(row, s3), up2_tap(col, s3), r3);
  }
};

// Fused RFF: every thread computes one element of R from the three maps, the
// intermediates R2, R3 and Q in registers; only R is written.
template <typename T>
__global__ void roi_fuse_kernel(const T* p1, const T* p2, const T* p3, FuseParams p,
                                const float* rois, int64_t num_rois, T* out) {
  const int s1 = level_size(p.out_size, 0);
  const int s2 = level_size(p.out_size, 1);
  const int s3 = level_size(p.out_size, 2);
  const int64_t channels = p.level[0].channels;
  const int64_t total = num_rois * channels * s1 * s1;
  for (int64_t idx = first_thread_index(); idx < total; idx += thread_stride()) {
    const OutputIndex o = split_output_index(idx, channels, s1);
    const float* r = rois + o.k * 5;
    const int64_t b = roi_batch_index(r[0]);
    float v = 0.0f;
    if (batch_in_range(b, p.level[0].batch)) {
      const LevelSampler<T> r1 =
          make_level_sampler(p1, p.level[0], p.spatial_scale[0], s1, r, b, o.c);
      MidLevel<T> q;
      q.r2 = make_level_sampler(p2, p.level[1], p.spatial_scale[1], s2, r, b, o.c);
      q.r3 = make_level_sampler(p3, p.level[2], p.spatial_scale[2], s3, r, b, o.c);
      q.s3 = s3;
      v = relu(r1(o.i, o.j) + blend(up2_tap(o.i, s2), up2_tap(o.j, s2), q));
    }
    out[idx] = Element<T>::store(v);
  }
}

}  // namespace roi
}  // namespace fassst
