// NumPy entry points of the CPU ROI kernels. They take float32 C-order arrays
// only and refuse anything else with a TypeError (fassst_rt/ops.py converts or
// explains); shapes and values are validated by the core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "core/errors.h"
#include "core/roi_ops.h"
#include "parallel/thread_pool.h"
#include "python/bindings.h"

namespace py = pybind11;

namespace fassst {
namespace python {
namespace {

// Arrays are taken untyped and checked from their descriptor's fields:
// py::array_t<float> asks NumPy whether the dtypes are equivalent, a longer
// code path that shows in the fixed cost of every call, cold or warm
// (`python benchmarks/kernels.py --call-overhead` times it).
using FloatArray = py::array;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr char kNativeByteOrder = '>';
#else
constexpr char kNativeByteOrder = '<';
#endif

bool is_float32_c_order(const py::array& a) {
  const py::dtype d = a.dtype();
  return d.kind() == 'f' && d.itemsize() == 4 &&
         (d.byteorder() == '=' || d.byteorder() == kNativeByteOrder) &&
         (a.flags() & py::array::c_style) != 0;
}

const float* float32_data(const char* op, const char* name, const FloatArray& a) {
  if (!is_float32_c_order(a))
    throw py::type_error(message(op, ": ", name, " must be a C-contiguous float32 array, got dtype ",
                                 std::string(py::str(a.dtype())),
                                 (a.flags() & py::array::c_style) ? "" : " (not C-contiguous)"));
  return static_cast<const float*>(a.data());
}

float* float32_out(const char* op, FloatArray& out) {
  float32_data(op, "out", out);
  if (!out.writeable()) throw InvalidArgument(message(op, ": out must be writeable"));
  return static_cast<float*>(out.mutable_data());
}

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

roi::FeatureShape feature_shape(const char* op, const char* name, const FloatArray& a) {
  if (a.ndim() != 4)
    throw InvalidArgument(message(op, ": ", name, " must have shape (B, C, H, W), got ", shape_of(a)));
  return roi::FeatureShape{a.shape(0), a.shape(1), static_cast<int>(a.shape(2)),
                           static_cast<int>(a.shape(3))};
}

int64_t num_rois(const char* op, const FloatArray& rois) {
  if (rois.ndim() != 2 || rois.shape(1) != 5)
    throw InvalidArgument(message(op, ": rois must have shape (K, 5) rows [batch_index, x1, y1, x2, y2], got ",
                                  shape_of(rois)));
  return rois.shape(0);
}

void check_out(const char* op, const FloatArray& out, int64_t k, int64_t channels, int s) {
  if (out.ndim() != 4 || out.shape(0) != k || out.shape(1) != channels || out.shape(2) != s ||
      out.shape(3) != s)
    throw InvalidArgument(message(op, ": out must have shape ", shape_string<int64_t>({k, channels, s, s}),
                                  ", got ", shape_of(out)));
}

void roi_crop(const FloatArray& feature, const FloatArray& rois, int output_size, float stride,
              FloatArray& out, int num_threads) {
  const roi::FeatureShape shape = feature_shape("roi_crop", "feature", feature);
  const int64_t k = num_rois("roi_crop", rois);
  check_out("roi_crop", out, k, shape.channels, output_size);
  const float* f = float32_data("roi_crop", "feature", feature);
  const float* r = float32_data("roi_crop", "rois", rois);
  float* o = float32_out("roi_crop", out);
  py::gil_scoped_release release;
  roi_crop_cpu(f, shape, r, k, output_size, stride, o, num_threads);
}

void roi_fuse(const FloatArray& p1, const FloatArray& p2, const FloatArray& p3,
              const FloatArray& rois, int output_size, float stride1, float stride2,
              float stride3, FloatArray& out, int num_threads) {
  const roi::FeatureShape levels[3] = {feature_shape("roi_fuse", "p1", p1),
                                       feature_shape("roi_fuse", "p2", p2),
                                       feature_shape("roi_fuse", "p3", p3)};
  const int64_t k = num_rois("roi_fuse", rois);
  check_out("roi_fuse", out, k, levels[0].channels, output_size);
  const float strides[3] = {stride1, stride2, stride3};
  const float* maps[3] = {float32_data("roi_fuse", "p1", p1), float32_data("roi_fuse", "p2", p2),
                          float32_data("roi_fuse", "p3", p3)};
  const float* r = float32_data("roi_fuse", "rois", rois);
  float* o = float32_out("roi_fuse", out);
  py::gil_scoped_release release;
  roi_fuse_cpu(maps, levels, r, k, output_size, strides, o, num_threads);
}

}  // namespace

void register_roi_cpu(py::module_& m) {
  m.def("roi_crop_cpu", &roi_crop, py::arg("feature").noconvert(), py::arg("rois").noconvert(), py::arg("output_size"),
        py::arg("stride"), py::arg("out").noconvert(), py::arg("num_threads") = 0,
        "RoIAlign (aligned, sampling_ratio 1) of float32 (B, C, H, W) maps into out (K, C, S, S).");
  m.def("roi_fuse_cpu", &roi_fuse, py::arg("p1").noconvert(), py::arg("p2").noconvert(), py::arg("p3").noconvert(),
        py::arg("rois").noconvert(),
        py::arg("output_size"), py::arg("stride1"), py::arg("stride2"), py::arg("stride3"),
        py::arg("out").noconvert(), py::arg("num_threads") = 0,
        "relu(R1 + up2(R2 + up2(R3))) in one pass into out (K, C, S, S).");
  m.def("default_num_threads", &default_num_threads,
        "Worker threads used when num_threads <= 0.");
  m.attr("max_num_threads") = kMaxNumThreads;
}

}  // namespace python
}  // namespace fassst
