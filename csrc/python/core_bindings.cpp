// NumPy entry points of the core pieces the Python runtime used to compute in
// NumPy (tiling, normalisation, sigmoid, the 16-bit input mapping): Python
// and the C++ API now call the same code. Glue only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/input_mapping.h"
#include "core/letterbox.h"
#include "core/paste.h"
#include "core/tiling.h"
#include "python/bindings.h"

namespace py = pybind11;

namespace fassst {
namespace python {
namespace {

using F32Array = py::array_t<float, py::array::c_style>;
using U8Array = py::array_t<uint8_t, py::array::c_style>;
using U16Array = py::array_t<uint16_t, py::array::c_style>;

// A tile as the tuple fassst_rt.tiling.Tile is built from.
py::tuple tile_tuple(const Tile& t) {
  return py::make_tuple(t.y0, t.x0, t.y1, t.x1, t.core_y0, t.core_x0, t.core_y1, t.core_x1);
}

Tile tile_from(const py::sequence& s) {
  if (py::len(s) != 8) throw InvalidArgument(message("in_core: tile must have 8 fields, got ", py::len(s)));
  return Tile{s[0].cast<int>(), s[1].cast<int>(), s[2].cast<int>(), s[3].cast<int>(),
              s[4].cast<double>(), s[5].cast<double>(), s[6].cast<double>(), s[7].cast<double>()};
}

py::list tile_grid_py(int height, int width, int size, int overlap) {
  py::list out;
  for (const Tile& t : tile_grid(height, width, size, overlap)) out.append(tile_tuple(t));
  return out;
}

py::array_t<bool> in_core_py(const F32Array& boxes, const py::sequence& tile) {
  if (boxes.ndim() != 2 || boxes.shape(1) != 4)
    throw InvalidArgument(message("in_core: boxes must have shape (K, 4), got ", boxes.ndim(), " dimensions"));
  const Tile t = tile_from(tile);
  py::array_t<bool> keep(boxes.shape(0));
  in_core(boxes.data(), boxes.shape(0), t, reinterpret_cast<uint8_t*>(keep.mutable_data()));
  return keep;
}

py::array_t<int64_t> cross_tile_nms_py(const F32Array& boxes, const py::array_t<int64_t, py::array::c_style>& labels,
                                       const F32Array& scores, int64_t num_classes, float nms_threshold) {
  const int64_t k = boxes.ndim() == 2 ? boxes.shape(0) : -1;
  if (boxes.ndim() != 2 || boxes.shape(1) != 4)
    throw InvalidArgument("cross_tile_nms: boxes must have shape (K, 4)");
  if (labels.ndim() != 1 || labels.shape(0) != k || scores.ndim() != 1 || scores.shape(0) != k)
    throw InvalidArgument(message("cross_tile_nms: labels and scores must have shape (", k, ",)"));
  std::vector<int64_t> kept = cross_tile_nms(boxes.data(), labels.data(), scores.data(), k, num_classes,
                                             nms_threshold);
  return py::array_t<int64_t>(static_cast<py::ssize_t>(kept.size()), kept.data());
}

F32Array to_network_input_py(const U8Array& canvas, const std::vector<float>& mean,
                             const std::vector<float>& std, bool bgr) {
  if (canvas.ndim() != 3 || canvas.shape(2) != 3)
    throw InvalidArgument("to_network_input: canvas must have shape (H, W, 3)");
  if (mean.size() != 3 || std.size() != 3)
    throw InvalidArgument(message("to_network_input: mean and std must have 3 values, got ", mean.size(),
                                  " and ", std.size()));
  const int h = static_cast<int>(canvas.shape(0)), w = static_cast<int>(canvas.shape(1));
  F32Array out({py::ssize_t{1}, py::ssize_t{3}, canvas.shape(0), canvas.shape(1)});
  {
    py::gil_scoped_release release;
    to_network_input(canvas.data(), h, w, mean.data(), std.data(), bgr, out.mutable_data());
  }
  return out;
}

F32Array sigmoid_py(const F32Array& logits) {
  F32Array out(std::vector<py::ssize_t>(logits.shape(), logits.shape() + logits.ndim()));
  std::copy(logits.data(), logits.data() + logits.size(), out.mutable_data());
  sigmoid_inplace(out.mutable_data(), out.size());
  return out;
}

U8Array map_uint16_py(const U16Array& frame, const std::string& kind, double a, double b) {
  if (frame.ndim() != 2) throw InvalidArgument("map_uint16_to_uint8: frame must have shape (H, W)");
  Uint16Mapping rule;
  rule.kind = kind;
  rule.low = rule.min = a;
  rule.high = rule.max = b;
  const int h = static_cast<int>(frame.shape(0)), w = static_cast<int>(frame.shape(1));
  U8Array out({frame.shape(0), frame.shape(1)});
  map_uint16_to_uint8(frame.data(), h, w, static_cast<int64_t>(w) * 2, rule, out.mutable_data());
  return out;
}

}  // namespace

void register_core(py::module_& m) {
  m.def("tile_grid", &tile_grid_py, py::arg("height"), py::arg("width"), py::arg("size"), py::arg("overlap"));
  m.def("in_core", &in_core_py, py::arg("boxes").noconvert(), py::arg("tile"));
  m.def("cross_tile_nms", &cross_tile_nms_py, py::arg("boxes").noconvert(), py::arg("labels").noconvert(),
        py::arg("scores").noconvert(), py::arg("num_classes"), py::arg("nms_threshold"));
  m.def("to_network_input", &to_network_input_py, py::arg("canvas").noconvert(), py::arg("mean"),
        py::arg("std"), py::arg("bgr"));
  m.def("sigmoid", &sigmoid_py, py::arg("logits").noconvert());
  m.def("map_uint16_to_uint8", &map_uint16_py, py::arg("frame").noconvert(), py::arg("kind"),
        py::arg("a") = 0.0, py::arg("b") = 0.0);
}

}  // namespace python
}  // namespace fassst
