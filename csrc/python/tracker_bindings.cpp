// fassst::Tracker for Python (fassst_rt.tracking.Tracker wraps it). Glue
// only: NumPy arrays checked and viewed as the core's Detections, the GIL
// released around the update.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <sstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/tracker.h"
#include "fassst/tracker.h"
#include "python/bindings.h"

namespace py = pybind11;

namespace fassst {
namespace python {
namespace {

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;
using I64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

std::string shape_text(const py::array& a) {
  std::string out = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) out += (i ? ", " : "") + std::to_string(a.shape(i));
  return out + (a.ndim() == 1 ? ",)" : ")");
}

void check_shape(const py::array& a, const char* name, std::vector<py::ssize_t> want, const char* want_text) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(want.size());
  for (size_t i = 0; ok && i < want.size(); ++i) ok = want[i] < 0 || a.shape(i) == want[i];
  if (!ok) throw InvalidArgument(message("Tracker.update: ", name, " must have shape ", want_text, ", got ", shape_text(a)));
}

py::array_t<int64_t> update_py(Tracker& tracker, const F32Array& boxes, const F32Array& scores,
                               const I64Array& labels, const py::object& box_masks, const py::object& mask_boxes) {
  check_shape(boxes, "boxes", {-1, 4}, "(K, 4)");
  const py::ssize_t k = boxes.shape(0);
  const std::string k_text = "(" + std::to_string(k) + ",)";
  check_shape(scores, "scores", {k}, k_text.c_str());
  check_shape(labels, "labels", {k}, k_text.c_str());
  Detections d;
  d.count = k;
  d.boxes = boxes.data();
  d.scores = scores.data();
  d.labels = labels.data();
  F32Array masks, mask_box_array;
  if (box_masks.is_none() != mask_boxes.is_none())
    throw InvalidArgument("Tracker.update: box_masks and mask_boxes go together: give both or neither");
  if (!box_masks.is_none()) {
    masks = F32Array::ensure(box_masks);
    mask_box_array = F32Array::ensure(mask_boxes);
    if (!masks || !mask_box_array)
      throw InvalidArgument("Tracker.update: box_masks and mask_boxes must be float arrays");
    check_shape(masks, "box_masks", {k, -1, -1}, "(K, Sm, Sm)");
    check_shape(mask_box_array, "mask_boxes", {k, 4}, "(K, 4)");
    if (masks.shape(1) != masks.shape(2) || (k > 0 && masks.shape(1) < 1))
      throw InvalidArgument(message("Tracker.update: box_masks must have shape (K, Sm, Sm) with Sm >= 1, got ",
                                    shape_text(masks)));
    d.mask_size = static_cast<int>(masks.shape(1));
    d.box_masks = masks.data();
    d.mask_boxes = mask_box_array.data();
  }
  std::vector<int64_t> ids;
  {
    py::gil_scoped_release release;
    ids = tracker.update(d);
  }
  return py::array_t<int64_t>(static_cast<py::ssize_t>(ids.size()), ids.data());
}

// The shortest decimal that reads back as the same float (0.1, not
// 0.10000000149...), so options print as they were given.
double shortest(float v) {
  for (int digits = 6; digits < 9; ++digits) {
    std::ostringstream text;
    text.precision(digits);
    text << v;
    const double d = std::stod(text.str());
    if (static_cast<float>(d) == v) return d;
  }
  return v;
}

py::dict options_dict(const TrackerOptions& o) {
  py::dict out;
  out["high_threshold"] = shortest(o.high_threshold);
  out["low_threshold"] = shortest(o.low_threshold);
  out["new_track_threshold"] = shortest(o.new_track_threshold);
  out["match_iou"] = shortest(o.match_iou);
  out["low_match_iou"] = shortest(o.low_match_iou);
  out["min_hits"] = o.min_hits;
  out["max_age"] = o.max_age;
  out["class_aware"] = o.class_aware;
  out["use_masks"] = o.use_masks;
  out["mask_threshold"] = shortest(o.mask_threshold);
  out["position_noise"] = shortest(o.position_noise);
  out["velocity_noise"] = shortest(o.velocity_noise);
  return out;
}

py::list tracks_list(const Tracker& tracker) {
  py::list out;
  for (const TrackState& t : tracker.tracks()) {
    py::dict item;
    item["id"] = t.id;
    item["label"] = t.label;
    item["box"] = py::make_tuple(t.box[0], t.box[1], t.box[2], t.box[3]);
    item["score"] = t.score;
    item["hits"] = t.hits;
    item["misses"] = t.misses;
    item["first_frame"] = t.first_frame;
    item["last_frame"] = t.last_frame;
    out.append(item);
  }
  return out;
}

// The tracker's IoU of two box masks (probabilities above `threshold`
// inside), exposed for tests against full-frame masks.
double box_mask_iou_py(const F32Array& mask_a, const std::vector<float>& box_a, const F32Array& mask_b,
                       const std::vector<float>& box_b, float threshold) {
  auto binarise = [&](const F32Array& m, const char* name) {
    if (m.ndim() != 2 || m.shape(0) != m.shape(1) || m.shape(0) < 1)
      throw InvalidArgument(message("box_mask_iou: ", name, " must have shape (S, S) with S >= 1, got ",
                                    shape_text(m)));
    std::vector<uint8_t> cells(static_cast<size_t>(m.size()));
    for (py::ssize_t i = 0; i < m.size(); ++i) cells[i] = m.data()[i] > threshold ? 1 : 0;
    return cells;
  };
  if (box_a.size() != 4 || box_b.size() != 4)
    throw InvalidArgument(message("box_mask_iou: box_a and box_b must have 4 values, got ", box_a.size(), " and ",
                                  box_b.size()));
  const std::vector<uint8_t> a = binarise(mask_a, "mask_a"), b = binarise(mask_b, "mask_b");
  return box_mask_iou(BoxMask{a.data(), static_cast<int>(mask_a.shape(0)), {box_a[0], box_a[1], box_a[2], box_a[3]}},
                      BoxMask{b.data(), static_cast<int>(mask_b.shape(0)), {box_b[0], box_b[1], box_b[2], box_b[3]}});
}

}  // namespace

void register_tracker(py::module_& m) {
  m.def("box_mask_iou", &box_mask_iou_py, py::arg("mask_a"), py::arg("box_a"), py::arg("mask_b"), py::arg("box_b"),
        py::arg("threshold") = 0.5f);
  const TrackerOptions defaults;
  py::class_<Tracker>(m, "Tracker")
      .def(py::init([](float high_threshold, float low_threshold, float new_track_threshold, float match_iou,
                       float low_match_iou, int min_hits, int max_age, bool class_aware, bool use_masks,
                       float mask_threshold, float position_noise, float velocity_noise) {
             TrackerOptions o;
             o.high_threshold = high_threshold;
             o.low_threshold = low_threshold;
             o.new_track_threshold = new_track_threshold;
             o.match_iou = match_iou;
             o.low_match_iou = low_match_iou;
             o.min_hits = min_hits;
             o.max_age = max_age;
             o.class_aware = class_aware;
             o.use_masks = use_masks;
             o.mask_threshold = mask_threshold;
             o.position_noise = position_noise;
             o.velocity_noise = velocity_noise;
             return new Tracker(o);
           }),
           py::arg("high_threshold") = defaults.high_threshold, py::arg("low_threshold") = defaults.low_threshold,
           py::arg("new_track_threshold") = defaults.new_track_threshold,
           py::arg("match_iou") = defaults.match_iou, py::arg("low_match_iou") = defaults.low_match_iou,
           py::arg("min_hits") = defaults.min_hits, py::arg("max_age") = defaults.max_age,
           py::arg("class_aware") = defaults.class_aware, py::arg("use_masks") = defaults.use_masks,
           py::arg("mask_threshold") = defaults.mask_threshold,
           py::arg("position_noise") = defaults.position_noise, py::arg("velocity_noise") = defaults.velocity_noise)
      .def("update", &update_py, py::arg("boxes"), py::arg("scores"), py::arg("labels"),
           py::arg("box_masks") = py::none(), py::arg("mask_boxes") = py::none())
      .def("reset", &Tracker::reset)
      .def("tracks", &tracks_list)
      .def_property_readonly("frame_count", &Tracker::frame_count)
      .def_property_readonly("options", [](const Tracker& t) { return options_dict(t.options()); });
}

}  // namespace python
}  // namespace fassst
