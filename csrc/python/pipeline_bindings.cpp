// NumPy entry points of the pipeline pieces (letterbox, select, paste).
// fassst_rt/processing.py settles dtypes and layouts; the core validates.
#include <cstdlib>
#include <new>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "core/errors.h"
#include "core/letterbox.h"
#include "core/paste.h"
#include "core/select.h"
#include "python/bindings.h"

namespace py = pybind11;

namespace fassst {
namespace python {
namespace {

using U8Array = py::array_t<uint8_t, py::array::c_style>;
using F32Array = py::array_t<float, py::array::c_style>;

py::tuple geometry_tuple(const LetterboxGeometry& g) {
  return py::make_tuple(g.scale, g.pad_x, g.pad_y, g.new_width, g.new_height);
}

py::tuple letterbox_py(const U8Array& image, int size, int pad, int num_threads) {
  if (image.ndim() != 3)
    throw InvalidArgument(message("letterbox: image must have shape (H, W, C), got ", image.ndim(), " dimensions"));
  if (pad < 0 || pad > 255) throw InvalidArgument(message("letterbox: pad must be in [0, 255], got ", pad));
  const int h = static_cast<int>(image.shape(0)), w = static_cast<int>(image.shape(1));
  const int c = static_cast<int>(image.shape(2));
  const LetterboxGeometry g = letterbox_geometry(h, w, size);
  U8Array out({static_cast<py::ssize_t>(size), static_cast<py::ssize_t>(size), static_cast<py::ssize_t>(c)});
  const uint8_t* src = image.data();
  uint8_t* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    letterbox(src, h, w, static_cast<int64_t>(w) * c, c, size, static_cast<uint8_t>(pad), dst, num_threads);
  }
  return py::make_tuple(out, geometry_tuple(g));
}

F32Array boxes_to_frame_py(const F32Array& boxes, float scale, int pad_x, int pad_y, int height,
                           int width, bool clip) {
  if (boxes.ndim() != 2 || boxes.shape(1) != 4)
    throw InvalidArgument("boxes_to_frame: boxes must have shape (K, 4)");
  if (!(scale > 0.0f)) throw InvalidArgument(message("boxes_to_frame: scale must be > 0, got ", scale));
  F32Array out({boxes.shape(0), py::ssize_t{4}});
  std::copy(boxes.data(), boxes.data() + boxes.size(), out.mutable_data());
  LetterboxGeometry g{scale, 0, 0, pad_x, pad_y, 0};
  boxes_to_frame(out.mutable_data(), boxes.shape(0), g, height, width, clip);
  return out;
}

py::tuple select_py(const F32Array& boxes, const F32Array& scores, float score_threshold,
                    float nms_threshold, int max_instances) {
  if (boxes.ndim() != 2 || boxes.shape(1) != 4)
    throw InvalidArgument("select: boxes must have shape (n, 4)");
  if (scores.ndim() != 2 || scores.shape(0) != boxes.shape(0))
    throw InvalidArgument(message("select: scores must have shape (n, C) with n = ", boxes.shape(0),
                                  " (boxes' rows)"));
  SelectParams p{score_threshold, nms_threshold, max_instances};
  Selection s;
  const float* b = boxes.data();
  const float* sc = scores.data();
  const int64_t n = boxes.shape(0), c = scores.shape(1);
  {
    py::gil_scoped_release release;
    s = select_instances(b, sc, n, c, p);
  }
  const py::ssize_t k = static_cast<py::ssize_t>(s.cells.size());
  py::array_t<int64_t> cells(k, s.cells.data()), labels(k, s.labels.data());
  py::array_t<float> kept(k, s.scores.data());
  return py::make_tuple(cells, labels, kept);
}

py::array_t<bool> paste_py(const F32Array& box_masks, const F32Array& boxes, int height,
                           int width, float threshold, int num_threads) {
  if (box_masks.ndim() != 3 || box_masks.shape(1) != box_masks.shape(2))
    throw InvalidArgument("paste: box_masks must have shape (K, S, S)");
  if (boxes.ndim() != 2 || boxes.shape(1) != 4 || boxes.shape(0) != box_masks.shape(0))
    throw InvalidArgument(message("paste: boxes must have shape (K, 4) with K = ", box_masks.shape(0)));
  // calloc: a large block comes as zero pages the OS maps on first touch, so
  // a frame's K masks cost the pages their boxes touch, not K full frames of
  // memset. Not numpy.zeros: NumPy asks for transparent huge pages on large
  // arrays, and faulting those in can stall on memory compaction for longer
  // than the whole memset.
  const py::ssize_t k_masks = box_masks.shape(0), h = height, w = width;
  const size_t bytes = static_cast<size_t>(k_masks) * static_cast<size_t>(h) * static_cast<size_t>(w);
  void* block = std::calloc(bytes > 0 ? bytes : 1, 1);
  if (block == nullptr) throw std::bad_alloc();
  py::capsule owner(block, [](void* p) { std::free(p); });
  py::array_t<bool> out({k_masks, h, w}, {h * w, w, py::ssize_t{1}}, static_cast<bool*>(block), owner);
  static_assert(sizeof(bool) == sizeof(uint8_t), "bool must be one byte");
  uint8_t* dst = reinterpret_cast<uint8_t*>(out.mutable_data());
  const float* m = box_masks.data();
  const float* b = boxes.data();
  const int64_t k = box_masks.shape(0);
  const int size = static_cast<int>(box_masks.shape(1));
  {
    py::gil_scoped_release release;
    paste_masks(m, b, k, size, height, width, threshold, dst, num_threads, /*out_zeroed=*/true);
  }
  return out;
}

py::array_t<int32_t> label_image_py(const F32Array& box_masks, const F32Array& boxes, int height, int width,
                                    float threshold) {
  if (box_masks.ndim() != 3 || box_masks.shape(1) != box_masks.shape(2))
    throw InvalidArgument("label_image: box_masks must have shape (K, S, S)");
  if (boxes.ndim() != 2 || boxes.shape(1) != 4 || boxes.shape(0) != box_masks.shape(0))
    throw InvalidArgument(message("label_image: boxes must have shape (K, 4) with K = ", box_masks.shape(0)));
  if (height < 0 || width < 0)
    throw InvalidArgument(message("label_image: height and width must be >= 0, got ", height, " x ", width));
  py::array_t<int32_t> out({static_cast<py::ssize_t>(height), static_cast<py::ssize_t>(width)});
  int32_t* dst = out.mutable_data();
  const float* m = box_masks.data();
  const float* b = boxes.data();
  const int64_t k = box_masks.shape(0);
  const int size = static_cast<int>(box_masks.shape(1));
  {
    py::gil_scoped_release release;
    label_image(m, b, k, size, height, width, threshold, dst);
  }
  return out;
}

}  // namespace

void register_pipeline(py::module_& m) {
  m.def("letterbox_geometry", [](int h, int w, int size) { return geometry_tuple(letterbox_geometry(h, w, size)); },
        py::arg("height"), py::arg("width"), py::arg("size"));
  m.def("letterbox", &letterbox_py, py::arg("image").noconvert(), py::arg("size"), py::arg("pad") = 114,
        py::arg("num_threads") = 0);
  m.def("boxes_to_frame", &boxes_to_frame_py, py::arg("boxes").noconvert(), py::arg("scale"),
        py::arg("pad_x"), py::arg("pad_y"), py::arg("height"), py::arg("width"), py::arg("clip") = true);
  m.def("select", &select_py, py::arg("boxes").noconvert(), py::arg("scores").noconvert(),
        py::arg("score_threshold"), py::arg("nms_threshold"), py::arg("max_instances"));
  m.def("label_image", &label_image_py, py::arg("box_masks").noconvert(), py::arg("boxes").noconvert(),
        py::arg("height"), py::arg("width"), py::arg("threshold") = 0.5f);
  m.def("paste_masks", &paste_py, py::arg("box_masks").noconvert(), py::arg("boxes").noconvert(),
        py::arg("height"), py::arg("width"), py::arg("threshold") = 0.5f, py::arg("num_threads") = 0);
}

}  // namespace python
}  // namespace fassst
