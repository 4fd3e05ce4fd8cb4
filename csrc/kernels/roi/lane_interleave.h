// The lane-interleaved layout of the CPU ROI loops and the transposes into
// and out of it. kLanes channels of one ROI are processed together with the
// channel innermost ([y][x][lane]), so a column tap is one contiguous
// kLanes-float load; the maps are read and the output written as channel
// planes, and moving between the two is a transpose: 4 x 4 in-register
// transposes on x86-64 (SSE2, or AVX2 on [lanes 0-3 | 4-7] halves), plain
// loops elsewhere. Data movement only: no arithmetic (that is roi_math.h's).
#pragma once

#include <cstdint>

#include "kernels/roi/roi_cpu_isa.h"

namespace fassst {
namespace roi {

// Channels processed together: one 256-bit vector of floats.
constexpr int kLanes = 8;

// Eight channel rows -> one interleaved row: dst[x][lane] = p[lane][off + x].
inline void interleave(const float* const* p, int64_t off, int n, float* __restrict dst) {
  int x = 0;
#if FASSST_ROI_SSE2
  for (; x + 4 <= n; x += 4) {
    for (int half = 0; half < 2; ++half) {
      const float* const* q = p + 4 * half;
      __m128 r0 = _mm_loadu_ps(q[0] + off + x), r1 = _mm_loadu_ps(q[1] + off + x);
      __m128 r2 = _mm_loadu_ps(q[2] + off + x), r3 = _mm_loadu_ps(q[3] + off + x);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      float* d = dst + x * kLanes + 4 * half;
      _mm_storeu_ps(d, r0);
      _mm_storeu_ps(d + kLanes, r1);
      _mm_storeu_ps(d + 2 * kLanes, r2);
      _mm_storeu_ps(d + 3 * kLanes, r3);
    }
  }
#endif
  for (; x < n; ++x)
    for (int v = 0; v < kLanes; ++v) dst[x * kLanes + v] = p[v][off + x];
}

// The inverse: an interleaved row of n values per lane -> the first `lanes`
// lanes' output rows, dst + lane * plane_stride.
inline void deinterleave(const float* __restrict src, int n, int lanes, float* dst,
                         int64_t plane_stride) {
  int j = 0;
#if FASSST_ROI_SSE2
  if (lanes == kLanes) {
    for (; j + 4 <= n; j += 4) {
      for (int half = 0; half < 2; ++half) {
        const float* s = src + j * kLanes + 4 * half;
        __m128 r0 = _mm_loadu_ps(s), r1 = _mm_loadu_ps(s + kLanes);
        __m128 r2 = _mm_loadu_ps(s + 2 * kLanes), r3 = _mm_loadu_ps(s + 3 * kLanes);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        float* d = dst + 4 * half * plane_stride + j;
        _mm_storeu_ps(d, r0);
        _mm_storeu_ps(d + plane_stride, r1);
        _mm_storeu_ps(d + 2 * plane_stride, r2);
        _mm_storeu_ps(d + 3 * plane_stride, r3);
      }
    }
  }
#endif
  for (int v = 0; v < lanes; ++v)
    for (int jj = j; jj < n; ++jj) dst[v * plane_stride + jj] = src[jj * kLanes + v];
}

#if FASSST_ROI_AVX2
// AVX2 versions of interleave / deinterleave: four columns of eight lanes at
// a time, as [lanes 0-3 | lanes 4-7] 256-bit registers and one in-lane 4 x 4
// transpose. Interleaved rows are written and read as whole 256-bit vectors,
// which the loads of x_interpolate (8 lanes of one column) then get
// forwarded from the store buffer.
__attribute__((target("avx2"))) inline void transpose4_in_lanes(__m256& r0, __m256& r1,
                                                                 __m256& r2, __m256& r3) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  r0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  r1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  r2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  r3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
}

__attribute__((target("avx2"))) inline void interleave_avx2(const float* const* p, int64_t off,
                                                             int n, float* __restrict dst) {
  int x = 0;
  for (; x + 4 <= n; x += 4) {
    __m256 r[4];
    for (int v = 0; v < 4; ++v)
      r[v] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p[v] + off + x)),
                                  _mm_loadu_ps(p[v + 4] + off + x), 1);
    transpose4_in_lanes(r[0], r[1], r[2], r[3]);
    for (int q = 0; q < 4; ++q) _mm256_storeu_ps(dst + (x + q) * kLanes, r[q]);
  }
  for (; x < n; ++x) {
    const int64_t o = off + x;
    _mm256_storeu_ps(dst + x * kLanes, _mm256_setr_ps(p[0][o], p[1][o], p[2][o], p[3][o], p[4][o],
                                                      p[5][o], p[6][o], p[7][o]));
  }
}

__attribute__((target("avx2"))) inline void deinterleave_avx2(const float* __restrict src, int n,
                                                               int lanes, float* dst,
                                                               int64_t plane_stride) {
  int j = 0;
  if (lanes == kLanes) {
    for (; j + 4 <= n; j += 4) {
      __m256 r[4];
      for (int q = 0; q < 4; ++q) r[q] = _mm256_loadu_ps(src + (j + q) * kLanes);
      transpose4_in_lanes(r[0], r[1], r[2], r[3]);
      for (int v = 0; v < 4; ++v) {
        _mm_storeu_ps(dst + v * plane_stride + j, _mm256_castps256_ps128(r[v]));
        _mm_storeu_ps(dst + (v + 4) * plane_stride + j, _mm256_extractf128_ps(r[v], 1));
      }
    }
  }
  for (int v = 0; v < lanes; ++v)
    for (int jj = j; jj < n; ++jj) dst[v * plane_stride + jj] = src[jj * kLanes + v];
}
#endif

// The transposes of the instruction set a task is compiled for.
template <bool kAvx2>
inline void interleave_isa(const float* const* p, int64_t off, int n, float* __restrict dst) {
#if FASSST_ROI_AVX2
  if (kAvx2) return interleave_avx2(p, off, n, dst);
#endif
  interleave(p, off, n, dst);
}

template <bool kAvx2>
inline void deinterleave_isa(const float* __restrict src, int n, int lanes, float* dst,
                             int64_t plane_stride) {
#if FASSST_ROI_AVX2
  if (kAvx2) return deinterleave_avx2(src, n, lanes, dst, plane_stride);
#endif
  deinterleave(src, n, lanes, dst, plane_stride);
}

}  // namespace roi
}  // namespace fassst
