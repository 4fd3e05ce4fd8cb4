// Per-element arithmetic of the ROI kernels, written once.
//
// Every formula of docs/kernels.md lives here or in interp_math.h as an inline
// function that compiles for the host (the CPU loop, the g++ harness that runs
// the CUDA kernel bodies) and for the device (the CUDA kernels). Nothing else
// in the project re-derives RoIAlign geometry, bilinear taps or upsample
// indices.
#pragma once

#include <cstdint>

#include "kernels/common/interp_math.h"

namespace fassst {
namespace roi {

// Where the bins of an ROI start and how wide they are, along one axis, in
// feature-map pixels (aligned=True: half-pixel offset).
struct RoiAxis {
  float start;
  float bin;
};

// RoI geometry: box edges `lo`..`hi` in input pixels, a map of stride 1/scale,
// `out_size` bins. Inverted or empty boxes give a negative or zero bin width,
// exactly as torchvision's aligned RoIAlign.
FASSST_HD RoiAxis roi_axis(float lo, float hi, float spatial_scale, int out_size) {
  RoiAxis a;
  a.start = lo * spatial_scale - 0.5f;
  const float end = hi * spatial_scale - 0.5f;
  a.bin = (end - a.start) / static_cast<float>(out_size);
  return a;
}

// Coordinate of the single sample (sampling_ratio = 1) of bin `idx`.
FASSST_HD float roi_sample_coord(RoiAxis a, int idx) {
  return a.start + static_cast<float>(idx) * a.bin + 0.5f * a.bin;
}

// RoIAlign's bilinear rule along one axis: outside [-1, size] the sample is 0;
// otherwise clamp into the map.
FASSST_HD AxisTap roi_axis_tap(float coord, int size) {
  AxisTap t;
  if (coord < -1.0f || coord > static_cast<float>(size)) {
    t.lo = 0;
    t.hi = 0;
    t.w_lo = 0.0f;
    t.w_hi = 0.0f;
    t.valid = false;
    return t;
  }
  if (coord <= 0.0f) coord = 0.0f;
  int lo = static_cast<int>(coord);
  int hi;
  if (lo >= size - 1) {
    lo = size - 1;
    hi = lo;
    coord = static_cast<float>(lo);
  } else {
    hi = lo + 1;
  }
  const float l = coord - static_cast<float>(lo);
  t.lo = lo;
  t.hi = hi;
  t.w_lo = 1.0f - l;
  t.w_hi = l;
  t.valid = true;
  return t;
}

// Tap of bin `idx` of an ROI along one axis of a map of `size` pixels.
FASSST_HD AxisTap roi_tap(RoiAxis a, int idx, int size) {
  return roi_axis_tap(roi_sample_coord(a, idx), size);
}

// Bilinear x2 upsampling, align_corners=False (half-pixel): output index `dst`
// reads source pixels lo/hi of a source axis of `src_size` pixels.
FASSST_HD AxisTap up2_tap(int dst, int src_size) {
  return clamped_linear_tap((static_cast<float>(dst) + 0.5f) * 0.5f - 0.5f, src_size);
}

// The fusion itself: R = relu(R1 + up2(R2 + up2(R3))), one element.
FASSST_HD float relu(float v) { return v < 0.0f ? 0.0f : v; }

// Batch index stored as a float in an ROI row; out-of-range values are
// rejected at the boundary, this only converts.
FASSST_HD int64_t roi_batch_index(float v) { return static_cast<int64_t>(v); }

// Levels of the pyramid fused by roi_fuse (p1, p2, p3) and their ROI sizes.
constexpr int kLevels = 3;
FASSST_HD int level_size(int out_size, int level) { return out_size >> level; }

}  // namespace roi
}  // namespace fassst
