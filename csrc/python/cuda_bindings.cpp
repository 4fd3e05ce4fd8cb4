// Device-pointer entry points of the CUDA ROI kernels, the CUDA status query
// and an owning device buffer. fassst_rt/ops.py turns device arrays
// (__cuda_array_interface__, DLPack) into the raw pointers taken here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/cuda_device.h"
#include "core/errors.h"
#include "core/roi_ops_cuda.h"
#include "python/bindings.h"

namespace py = pybind11;

namespace fassst {
namespace python {
namespace {

using Shape4 = std::vector<int64_t>;

roi::DType parse_dtype(const std::string& dtype) {
  if (dtype == "float32") return roi::DType::kFloat32;
  if (dtype == "float16") return roi::DType::kFloat16;
  throw InvalidArgument(message("dtype must be float32 or float16 on CUDA, got ", dtype));
}

roi::FeatureShape to_feature_shape(const char* name, const Shape4& s) {
  if (s.size() != 4)
    throw InvalidArgument(message(name, " must have shape (B, C, H, W), got ", s.size(), " dimensions"));
  return roi::FeatureShape{s[0], s[1], static_cast<int>(s[2]), static_cast<int>(s[3])};
}

cudaStream_t as_stream(uintptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }

const void* as_ptr(uintptr_t p) { return reinterpret_cast<const void*>(p); }

void roi_crop_cuda(uintptr_t feature, const std::string& dtype, const Shape4& shape,
                   uintptr_t rois, int64_t k, int output_size, float stride, uintptr_t out,
                   uintptr_t stream, bool validate) {
  const roi::DType dt = parse_dtype(dtype);
  const roi::FeatureShape fs = to_feature_shape("feature", shape);
  py::gil_scoped_release release;
  RoiCheck check;
  check.validate = validate;
  roi_crop_cuda_checked(dt, as_ptr(feature), fs, static_cast<const float*>(as_ptr(rois)), k, output_size, stride,
                        reinterpret_cast<void*>(out), as_stream(stream), check);
}

void roi_fuse_cuda(uintptr_t p1, uintptr_t p2, uintptr_t p3, const std::string& dtype,
                   const std::vector<Shape4>& shapes, uintptr_t rois, int64_t k, int output_size,
                   const std::vector<float>& strides, uintptr_t out, uintptr_t stream,
                   bool validate) {
  const roi::DType dt = parse_dtype(dtype);
  if (shapes.size() != 3 || strides.size() != 3)
    throw InvalidArgument("roi_fuse: expected three level shapes and three strides");
  const roi::FeatureShape levels[3] = {to_feature_shape("p1", shapes[0]),
                                       to_feature_shape("p2", shapes[1]),
                                       to_feature_shape("p3", shapes[2])};
  const void* maps[3] = {as_ptr(p1), as_ptr(p2), as_ptr(p3)};
  py::gil_scoped_release release;
  RoiCheck check;
  check.validate = validate;
  roi_fuse_cuda_checked(dt, maps, levels, static_cast<const float*>(as_ptr(rois)), k, output_size, strides.data(),
                        reinterpret_cast<void*>(out), as_stream(stream), check);
}

py::dict cuda_status() {
  const cuda::Status s = cuda::query_status();
  py::list devices;
  for (const auto& d : s.devices) {
    py::dict info;
    info["index"] = d.index;
    info["name"] = d.name;
    info["compute_capability"] = py::make_tuple(d.major, d.minor);
    info["total_memory"] = d.total_memory;
    devices.append(info);
  }
  py::dict out;
  out["runtime_version"] = s.runtime_version;
  out["driver_version"] = s.driver_version;
  out["devices"] = devices;
  out["error"] = s.error;
  return out;
}

}  // namespace

void register_cuda(py::module_& m) {
  m.def("cuda_status", &cuda_status, "CUDA runtime/driver versions and visible devices; never raises.");
  m.def("roi_crop_cuda", &roi_crop_cuda, py::arg("feature"), py::arg("dtype"), py::arg("shape"),
        py::arg("rois"), py::arg("num_rois"), py::arg("output_size"), py::arg("stride"),
        py::arg("out"), py::arg("stream"), py::arg("validate") = true);
  m.def("roi_fuse_cuda", &roi_fuse_cuda, py::arg("p1"), py::arg("p2"), py::arg("p3"),
        py::arg("dtype"), py::arg("shapes"), py::arg("rois"), py::arg("num_rois"),
        py::arg("output_size"), py::arg("strides"), py::arg("out"), py::arg("stream"),
        py::arg("validate") = true);
  py::class_<cuda::DeviceBuffer>(m, "KernelOutputBuffer",
                                 "Owning cudaMalloc allocation by fassst_rt's own CUDA runtime: the memory "
                                 "of a kernel's result when no out= is given.")
      .def(py::init<size_t>(), py::arg("nbytes"))
      .def_property_readonly("ptr", [](const cuda::DeviceBuffer& b) {
        return reinterpret_cast<uintptr_t>(b.data());
      })
      .def_property_readonly("nbytes", &cuda::DeviceBuffer::size)
      .def("release", &cuda::DeviceBuffer::release, "Frees the memory now.");
}

}  // namespace python
}  // namespace fassst
