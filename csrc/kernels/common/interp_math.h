// Interpolation arithmetic shared by every kernel and pipeline step, written
// once: an axis tap (two neighbours and their weights), the half-pixel linear
// tap of resizes and paste, and the bilinear blend built from two taps.
// Inline functions compiled for the host and, in CUDA builds, the device.
#pragma once

#if defined(__CUDACC__)
#define FASSST_HD __host__ __device__ __forceinline__
#else
#define FASSST_HD inline
#endif

namespace fassst {

// Two neighbouring samples along one axis and their weights. `valid` is false
// where the sample is defined as 0 (RoIAlign: coordinate outside [-1, size]).
struct AxisTap {
  int lo;
  int hi;
  float w_lo;
  float w_hi;
  bool valid;
};

// Linear interpolation tap at source coordinate `src` of an axis of `size`
// pixels with edges clamped (PyTorch / OpenCV bilinear resize with half-pixel
// centres, once `src` is computed): below 0 reads pixel 0, past the last pixel
// reads the last.
FASSST_HD AxisTap clamped_linear_tap(float src, int size) {
  if (src < 0.0f) src = 0.0f;
  AxisTap t;
  t.lo = static_cast<int>(src);
  if (t.lo > size - 1) t.lo = size - 1;
  t.hi = t.lo < size - 1 ? t.lo + 1 : t.lo;
  const float l = src - static_cast<float>(t.lo);
  t.w_lo = 1.0f - l;
  t.w_hi = l;
  t.valid = true;
  return t;
}

// The two halves of a bilinear blend, split so that a CPU loop can share the
// first across many outputs: interpolate along x on map row y ...
template <typename At>
FASSST_HD float lerp_x(const AxisTap& tx, const At& at, int y) {
  return tx.w_lo * at(y, tx.lo) + tx.w_hi * at(y, tx.hi);
}

// ... then along y between two x-interpolated values.
FASSST_HD float lerp_y(const AxisTap& ty, float v_lo, float v_hi) {
  return ty.w_lo * v_lo + ty.w_hi * v_hi;
}

// Bilinear blend of the four values `at(row, col)` picked by two taps; 0 where
// RoIAlign defines the sample as 0. The order of operations (x first, as
// PyTorch's upsample) is fixed here: every caller, CPU or CUDA, rounds alike.
template <typename At>
FASSST_HD float blend(const AxisTap& ty, const AxisTap& tx, const At& at) {
  if (!(ty.valid && tx.valid)) return 0.0f;
  return lerp_y(ty, lerp_x(tx, at, ty.lo), lerp_x(tx, at, ty.hi));
}

}  // namespace fassst
