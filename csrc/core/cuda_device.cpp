#include "core/cuda_device.h"

#include "core/errors.h"

namespace fassst {
namespace cuda {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw CudaError(message(what, " failed: ", cudaGetErrorName(status), " (",
                            cudaGetErrorString(status), ")"));
}

Status query_status() {
  Status s;
  cudaRuntimeGetVersion(&s.runtime_version);
  cudaDriverGetVersion(&s.driver_version);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    s.error = message(cudaGetErrorName(err), ": ", cudaGetErrorString(err));
    cudaGetLastError();  // reset the last-error state so later calls start clean
    return s;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    s.devices.push_back(DeviceInfo{i, prop.name, prop.major, prop.minor, prop.totalGlobalMem});
  }
  return s;
}

void require_device_pointer(const char* name, const void* ptr) {
  cudaPointerAttributes attr;
  const cudaError_t err = cudaPointerGetAttributes(&attr, ptr);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw InvalidArgument(message(name, " is not a CUDA pointer (", cudaGetErrorString(err), ")"));
  }
  if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
    throw InvalidArgument(message(name, " must be device memory, got host memory"));
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) check(cudaMalloc(&data_, bytes), "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() { release(); }

void DeviceBuffer::release() {
  if (data_ != nullptr) cudaFree(data_);
  data_ = nullptr;
  bytes_ = 0;
}

void copy_to_host_sync(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
}

}  // namespace cuda
}  // namespace fassst
