// The backends libfassst_rt brings, registered in the core's registry when
// the library loads: .onnx (ONNX Runtime) always, .plan (TensorRT) where the
// build found NvInfer.h (elsewhere its factory says how to get one).
#include "core/errors.h"
#include "fassst/backend.h"

namespace fassst {

std::unique_ptr<Backend> open_tensorrt_backend(const std::string& path, const BackendOptions& options);

#ifndef FASSST_WITH_TENSORRT
bool has_tensorrt_backend() { return false; }

std::unique_ptr<Backend> open_tensorrt_backend(const std::string& path, const BackendOptions&) {
  throw ModelError(message(path, ": this libfassst_rt was built without the TensorRT backend (NvInfer.h and a "
                           "CUDA build are needed at build time); use the ONNX model NAME.onnx"));
}
#endif

namespace {

const bool kBuiltinsRegistered = [] {
  register_backend(".onnx", "onnxruntime", &open_onnxruntime_backend);
  register_backend(".plan", "tensorrt", &open_tensorrt_backend);
  return true;
}();

}  // namespace

}  // namespace fassst
