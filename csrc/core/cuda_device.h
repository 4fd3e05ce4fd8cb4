// Thin owning wrappers over the CUDA runtime: every status becomes a
// CudaError. Compiled only into builds with CUDA.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <vector>

namespace fassst {
namespace cuda {

// Throws CudaError naming `what` unless status is cudaSuccess.
void check(cudaError_t status, const char* what);

struct DeviceInfo {
  int index;
  std::string name;
  int major;
  int minor;
  size_t total_memory;
};

// What the CUDA runtime sees right now; never throws (no driver or no GPU is
// reported in `error`).
struct Status {
  int runtime_version = 0;
  int driver_version = 0;
  std::vector<DeviceInfo> devices;
  std::string error;
};
Status query_status();

// Throws InvalidArgument unless `ptr` is device (or managed) memory.
void require_device_pointer(const char* name, const void* ptr);

// Owning device allocation (cudaMalloc / cudaFree).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* data() const { return data_; }
  size_t size() const { return bytes_; }
  void release();

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Copies `bytes` from device to host on `stream` and waits for it.
void copy_to_host_sync(void* dst, const void* src, size_t bytes, cudaStream_t stream);

}  // namespace cuda
}  // namespace fassst
