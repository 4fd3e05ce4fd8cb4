// Which instruction-set copies of the CPU ROI loops this build compiles, and
// the intrinsics headers they need. Whether the CPU running them has AVX2 is
// asked at run time (kernels/common/cpu_features.h).
#pragma once

// FASSST_ROI_PORTABLE (a test switch, tools/test_portable_kernels.sh) builds
// the plain-loop path of other architectures (aarch64) on x86-64 too.
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(FASSST_ROI_PORTABLE)
#include <emmintrin.h>
#define FASSST_ROI_SSE2 1
#else
#define FASSST_ROI_SSE2 0
#endif

// The AVX2 copy needs GCC/Clang function attributes and x86-64.
#if FASSST_ROI_SSE2 && (defined(__GNUC__) || defined(__clang__)) && !defined(FASSST_ROI_NO_AVX2)
#define FASSST_ROI_AVX2 1
#else
#define FASSST_ROI_AVX2 0
#endif

#if FASSST_ROI_AVX2
#include <immintrin.h>
#endif

// The per-task functions inline everything they call, so each copy runs its
// own instruction set's code throughout.
#if defined(__GNUC__) || defined(__clang__)
#define FASSST_FLATTEN __attribute__((flatten))
#else
#define FASSST_FLATTEN
#endif
