// Launchers only: the kernel bodies are in roi_kernel.cuh.
#include "kernels/roi/roi_cuda.h"

#include <cuda_fp16.h>

#include <algorithm>

#include "kernels/roi/roi_kernel.cuh"

namespace fassst {
namespace roi {
namespace {

constexpr int kThreadsPerBlock = 256;
// Grid-stride loops cover any size; more blocks than this adds nothing.
constexpr int64_t kMaxBlocks = int64_t{1} << 16;

unsigned int blocks_for(int64_t total) {
  const int64_t blocks = (total + kThreadsPerBlock - 1) / kThreadsPerBlock;
  return static_cast<unsigned int>(std::min(std::max<int64_t>(blocks, 1), kMaxBlocks));
}

template <typename T>
cudaError_t launch_crop(const void* feature, const CropParams& p, const float* rois,
                        int64_t num_rois, void* out, cudaStream_t stream) {
  const int64_t total = num_rois * p.feature.channels * p.out_size * p.out_size;
  if (total == 0) return cudaSuccess;
  roi_crop_kernel<T><<<blocks_for(total), kThreadsPerBlock, 0, stream>>>(
      static_cast<const T*>(feature), p, rois, num_rois, static_cast<T*>(out));
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_fuse(const void* p1, const void* p2, const void* p3, const FuseParams& p,
                        const float* rois, int64_t num_rois, void* out, cudaStream_t stream) {
  const int64_t total = num_rois * p.level[0].channels * p.out_size * p.out_size;
  if (total == 0) return cudaSuccess;
  roi_fuse_kernel<T><<<blocks_for(total), kThreadsPerBlock, 0, stream>>>(
      static_cast<const T*>(p1), static_cast<const T*>(p2), static_cast<const T*>(p3), p, rois,
      num_rois, static_cast<T*>(out));
  return cudaGetLastError();
}

}  // namespace

cudaError_t roi_crop_cuda(DType dtype, const void* feature, const CropParams& params,
                          const float* rois, int64_t num_rois, void* out, cudaStream_t stream) {
  switch (dtype) {
    case DType::kFloat32:
      return launch_crop<float>(feature, params, rois, num_rois, out, stream);
    case DType::kFloat16:
      return launch_crop<__half>(feature, params, rois, num_rois, out, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t roi_fuse_cuda(DType dtype, const void* p1, const void* p2, const void* p3,
                          const FuseParams& params, const float* rois, int64_t num_rois,
                          void* out, cudaStream_t stream) {
  switch (dtype) {
    case DType::kFloat32:
      return launch_fuse<float>(p1, p2, p3, params, rois, num_rois, out, stream);
    case DType::kFloat16:
      return launch_fuse<__half>(p1, p2, p3, params, rois, num_rois, out, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace roi
}  // namespace fassst
