// Just enough of CUDA's execution model for g++ to compile and run the
// __global__ bodies of csrc/kernels/*/*_kernel.cuh on the CPU, thread by
// thread: the launch helper walks every (block, thread) of the grid in turn.
// The ROI kernels use neither shared memory nor __syncthreads, so running the
// threads one after another is exact for them; a kernel that needs a barrier
// must not be tested with this helper.
#pragma once

#include <cstdint>
#include <cstring>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
};

// The indices of the simulated thread currently running.
inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

// IEEE binary16 with round-to-nearest-even conversions, as CUDA's __half.
struct __half {
  _Float16 value;
};
inline float __half2float(__half h) { return static_cast<float>(h.value); }
inline __half __float2half(float f) { return __half{static_cast<_Float16>(f)}; }
static_assert(sizeof(__half) == 2, "__half must be two bytes");

// Runs kernel<<<grid, block>>>(args...) on the calling thread.
template <typename Kernel, typename... Args>
void simulate_launch(unsigned int grid, unsigned int block, Kernel kernel, Args... args) {
  gridDim.x = grid;
  blockDim.x = block;
  for (unsigned int b = 0; b < grid; ++b) {
    blockIdx.x = b;
    for (unsigned int t = 0; t < block; ++t) {
      threadIdx.x = t;
      kernel(args...);
    }
  }
}
