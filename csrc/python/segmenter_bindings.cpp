// fassst::Segmenter for Python, with Python backends (ONNX Runtime's and
// TensorRT's Python packages, the PyTorch reference model) plugged into the
// core's Backend interface. Glue only: NumPy <-> core types, the GIL released
// around the core and taken back inside each call into a Python backend.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "fassst/backend.h"
#include "fassst/segmenter.h"
#include "python/bindings.h"
#include "python/conversions.h"

namespace py = pybind11;

namespace fassst {
namespace python {
namespace {

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

// Something a Python backend returned as a host float32 tensor.
Tensor host_tensor(const py::handle& value, const std::string& what, std::vector<std::shared_ptr<py::object>>* keep) {
  if (!is_ndarray(value))
    throw BackendError(message(what, " must be a NumPy array, got ", std::string(py::str(py::type::of(value)))));
  F32Array a = F32Array::ensure(value);
  if (!a) throw BackendError(message(what, " cannot be read as float32"));
  Tensor t;
  t.shape = shape_of(a);
  t.data = a.data();
  keep->push_back(hold(a));
  t.owner = keep->back();
  return t;
}

// Python backends implement run_frame / run_tail (and may implement
// fuse_and_tail) on NumPy arrays; this adapts them to fassst::Backend.
class PythonBackend : public Backend {
 public:
  PythonBackend(py::object backend, const std::string& metadata_json, const std::string& source)
      : backend_(std::move(backend)), meta_(ModelMetadata::from_json(metadata_json, source)) {
    name_ = py::str(backend_.attr("name"));
    // A backend fuses itself when its pyramid is not host memory (a GPU
    // backend) or when it says so (the PyTorch reference model).
    py::object fuse = py::getattr(backend_, "fuse_and_tail", py::none());
    if (!fuse.is_none()) fuse_ = fuse;
    fuses_host_pyramid_ = py::bool_(py::getattr(backend_, "fuses_host_pyramid", py::bool_(false)));
    max_frame_batch_ = py::int_(py::getattr(backend_, "max_frame_batch", py::int_(0)));
    max_tail_batch_ = py::int_(py::getattr(backend_, "max_tail_batch", py::int_(0)));
    overlaps_graphs_ = py::bool_(py::getattr(backend_, "overlaps_graphs", py::bool_(false)));
  }

  ~PythonBackend() override {
    py::gil_scoped_acquire gil;
    close_quietly(backend_);
    fuse_ = py::object();
    backend_ = py::object();
  }

  std::string name() const override { return name_; }
  const ModelMetadata& metadata() const override { return meta_; }
  int64_t max_frame_batch() const override { return max_frame_batch_; }
  int64_t max_tail_batch() const override { return max_tail_batch_; }
  bool overlaps_graphs() const override { return overlaps_graphs_; }

  FrameOutputs run_frame(const float* images, int64_t batch) override {
    return run_frame(images, batch, meta_.input_size, meta_.input_size);
  }

  // Python backends take any (B, 3, H, W) array; the frame graph says whether it runs that shape.
  FrameOutputs run_frame(const float* images, int64_t batch, int64_t height, int64_t width) override {
    py::gil_scoped_acquire gil;
    // A read-only view of the core's buffer, valid for this call only.
    py::array_t<float> view({static_cast<py::ssize_t>(batch), py::ssize_t{3}, static_cast<py::ssize_t>(height),
                             static_cast<py::ssize_t>(width)}, images, py::none());
    view.attr("setflags")(py::arg("write") = false);
    py::object out = backend_.attr("run_frame")(view);
    py::tuple parts = py::tuple(out);
    if (parts.size() != 5)
      throw BackendError(message(name_, ": run_frame must return FrameOutputs (boxes, scores, p1, p2, p3), got ",
                                 parts.size(), " values"));
    std::vector<std::shared_ptr<py::object>> keep;
    FrameOutputs frame;
    frame.boxes = host_tensor(parts[0], name_ + ": run_frame's boxes", &keep);
    frame.scores = host_tensor(parts[1], name_ + ": run_frame's scores", &keep);
    Tensor* levels[3] = {&frame.p1, &frame.p2, &frame.p3};
    // The Python FrameOutputs rides along in p1's owner, for a backend's own fuse_and_tail.
    auto whole = hold(out);
    for (int l = 0; l < 3; ++l) {
      py::handle level = parts[2 + l];
      if (is_ndarray(level)) {
        *levels[l] = host_tensor(level, message(name_, ": run_frame's p", l + 1), &keep);
      } else {  // a device array: only the backend that made it can read it
        levels[l]->shape = py::cast<std::vector<int64_t>>(level.attr("shape"));
        levels[l]->on_device = true;
      }
    }
    frame.p1.owner = std::make_shared<FrameHandle>(FrameHandle{whole, frame.p1.owner});
    return frame;
  }

  void run_tail(const float* features, int64_t count, float* logits) override {
    py::gil_scoped_acquire gil;
    const py::ssize_t s1 = meta_.roi_size;
    py::array_t<float> view({static_cast<py::ssize_t>(count), static_cast<py::ssize_t>(meta_.mask_channels), s1, s1},
                            features, py::none());
    view.attr("setflags")(py::arg("write") = false);
    copy_logits(backend_.attr("run_tail")(view), count, logits, "run_tail");
  }

  void fuse_and_tail(const FrameOutputs& frame, const float* rois, int64_t count, float* logits) override {
    const bool host = !frame.p1.on_device && !frame.p2.on_device && !frame.p3.on_device;
    if (fuse_.is_none() || (host && !fuses_host_pyramid_)) {
      Backend::fuse_and_tail(frame, rois, count, logits);  // the core's CPU kernel, then run_tail
      return;
    }
    py::gil_scoped_acquire gil;
    auto handle = std::static_pointer_cast<const FrameHandle>(frame.p1.owner);
    py::array_t<float> boxes({static_cast<py::ssize_t>(count), py::ssize_t{5}});
    std::memcpy(boxes.mutable_data(), rois, static_cast<size_t>(count) * 5 * sizeof(float));
    copy_logits(fuse_(*handle->frame, boxes), count, logits, "fuse_and_tail");
  }

 private:
  struct FrameHandle {
    std::shared_ptr<py::object> frame;  // the Python FrameOutputs
    std::shared_ptr<const void> p1;     // p1's own owner
  };

  void copy_logits(const py::object& result, int64_t count, float* logits, const char* what) const {
    if (!is_ndarray(result))
      throw BackendError(message(name_, ": ", what, " must return a NumPy array"));
    F32Array a = F32Array::ensure(result);
    const int64_t sm = 2 * meta_.roi_size;
    const std::vector<int64_t> want{count, 1, sm, sm};
    if (!a || shape_of(a) != want)
      throw BackendError(message(name_, ": ", what, " returned shape ", py::str(result.attr("shape")).cast<std::string>(),
                                 ", expected (", count, ", 1, ", sm, ", ", sm, ")"));
    std::memcpy(logits, a.data(), static_cast<size_t>(count * sm * sm) * sizeof(float));
  }

  py::object backend_;
  py::object fuse_ = py::none();
  ModelMetadata meta_;
  std::string name_;
  bool fuses_host_pyramid_ = false;
  bool overlaps_graphs_ = false;
  int64_t max_frame_batch_ = 0, max_tail_batch_ = 0;
};


TileSpec tile_spec(int mode, int size, int overlap) {
  if (mode < 0 || mode > 2) throw InvalidArgument(message("tile mode must be 0, 1 or 2, got ", mode));
  return TileSpec{static_cast<Tiling>(mode), size, overlap};
}

py::list instances_list(std::vector<Instances>&& all) {
  py::list out;
  for (Instances& inst : all) out.append(instances_dict(std::move(inst)));
  return out;
}

std::unique_ptr<Segmenter> make_segmenter(py::object backend, const std::string& metadata_json,
                                          const std::string& source, py::object score_threshold,
                                          py::object nms_threshold, py::object max_instances, int tile_mode,
                                          int tile_size, int tile_overlap, int num_threads, int max_batch,
                                          int memory_budget_mib) {
  SegmenterOptions o;
  if (!score_threshold.is_none()) o.score_threshold = score_threshold.cast<float>();
  if (!nms_threshold.is_none()) o.nms_threshold = nms_threshold.cast<float>();
  if (!max_instances.is_none()) o.max_instances = max_instances.cast<int>();
  const TileSpec spec = tile_spec(tile_mode, tile_size, tile_overlap);
  o.tiling = spec.tiling;
  o.tile_size = spec.size;
  o.tile_overlap = spec.overlap;
  o.num_threads = num_threads;
  o.max_batch = max_batch;
  o.memory_budget_mib = memory_budget_mib;
  std::unique_ptr<Backend> b(new PythonBackend(std::move(backend), metadata_json, source));
  return std::unique_ptr<Segmenter>(new Segmenter(std::move(b), o));
}

py::dict run(Segmenter& seg, const py::handle& frame, const std::string& channel_order, int tile_mode, int tile_size,
             int tile_overlap) {
  std::vector<py::object> keep;
  const ImageView view = image_view(frame, "frame", rgb_order(channel_order), &keep);
  const TileSpec spec = tile_spec(tile_mode, tile_size, tile_overlap);
  Instances inst;
  {
    py::gil_scoped_release release;
    inst = seg.run(view, spec);
  }
  return instances_dict(std::move(inst));
}

std::vector<ImageView> image_views(const py::sequence& frames, const std::string& channel_order,
                                   std::vector<py::object>* keep) {
  const bool rgb = rgb_order(channel_order);
  std::vector<ImageView> views;
  for (size_t i = 0; i < py::len(frames); ++i)
    views.push_back(image_view(frames[i], "frames[" + std::to_string(i) + "]", rgb, keep));
  return views;
}

py::list run_batch(Segmenter& seg, const py::sequence& frames, const std::string& channel_order) {
  std::vector<py::object> keep;
  const std::vector<ImageView> views = image_views(frames, channel_order, &keep);
  std::vector<Instances> all;
  {
    py::gil_scoped_release release;
    all = seg.run_batch(views);
  }
  return instances_list(std::move(all));
}

py::tuple network_input_tuple(NetworkInput&& in) {
  py::list geometry;
  for (const LetterboxGeometry& g : in.geometry)
    geometry.append(py::make_tuple(g.scale, g.pad_x, g.pad_y, g.new_width, g.new_height));
  const py::ssize_t h = in.height, w = in.width;
  return py::make_tuple(array_of(std::move(in.data), {static_cast<py::ssize_t>(in.batch), 3, h, w}), geometry);
}

py::tuple preprocess(const Segmenter& seg, const py::sequence& frames, const std::string& channel_order) {
  std::vector<py::object> keep;
  const std::vector<ImageView> views = image_views(frames, channel_order, &keep);
  NetworkInput in;
  {
    py::gil_scoped_release release;
    in = seg.preprocess(views);
  }
  return network_input_tuple(std::move(in));
}

py::tuple preprocess_for(const py::sequence& frames, const std::string& channel_order, const std::string& metadata_json,
                         const std::string& source, int num_threads) {
  const ModelMetadata meta = ModelMetadata::from_json(metadata_json, source);
  std::vector<py::object> keep;
  const std::vector<ImageView> views = image_views(frames, channel_order, &keep);
  NetworkInput in;
  {
    py::gil_scoped_release release;
    in = preprocess_frames(views, meta, num_threads);
  }
  return network_input_tuple(std::move(in));
}

py::tuple select(const Segmenter& seg, const py::handle& boxes, const py::handle& scores) {
  std::vector<std::shared_ptr<py::object>> keep;
  FrameOutputs frame;
  frame.boxes = host_tensor(boxes, "boxes", &keep);
  frame.scores = host_tensor(scores, "scores", &keep);
  const int64_t batch = frame.boxes.shape.empty() ? 0 : frame.boxes.shape[0];
  Selections sel;
  {
    py::gil_scoped_release release;
    sel = seg.select(frame, batch);
  }
  py::list per_image;
  for (Selection& s : sel.per_image) {
    const py::ssize_t k = static_cast<py::ssize_t>(s.cells.size());
    per_image.append(py::make_tuple(array_of(std::move(s.cells), {k}), array_of(std::move(s.labels), {k}),
                                    array_of(std::move(s.scores), {k})));
  }
  const py::ssize_t k = static_cast<py::ssize_t>(sel.rois.size() / 5);
  return py::make_tuple(per_image, array_of(std::move(sel.rois), {k, 5}));
}

}  // namespace

void register_segmenter(py::module_& m) {
  py::class_<Segmenter>(m, "Segmenter", "fassst::Segmenter over a Python backend (fassst_rt.Segmenter wraps it)")
      .def(py::init(&make_segmenter), py::arg("backend"), py::arg("metadata_json"), py::arg("source"),
           py::arg("score_threshold"), py::arg("nms_threshold"), py::arg("max_instances"), py::arg("tile_mode"),
           py::arg("tile_size"), py::arg("tile_overlap"), py::arg("num_threads"), py::arg("max_batch"),
           py::arg("memory_budget_mib"))
      .def("run", &run, py::arg("frame"), py::arg("channel_order"), py::arg("tile_mode"), py::arg("tile_size"),
           py::arg("tile_overlap"))
      .def("run_batch", &run_batch, py::arg("frames"), py::arg("channel_order"))
      .def("preprocess", &preprocess, py::arg("frames"), py::arg("channel_order"))
      .def("select", &select, py::arg("boxes"), py::arg("scores"))
      .def("warmup", &Segmenter::warmup, py::arg("runs") = 2, py::call_guard<py::gil_scoped_release>())
      .def("close", &Segmenter::close, py::call_guard<py::gil_scoped_release>())
      .def_property("score_threshold", &Segmenter::score_threshold, &Segmenter::set_score_threshold)
      .def_property("nms_threshold", &Segmenter::nms_threshold, &Segmenter::set_nms_threshold)
      .def_property("max_instances", &Segmenter::max_instances, &Segmenter::set_max_instances)
      .def_property_readonly("tile_size", &Segmenter::tile_size)
      .def_property_readonly("tile_overlap", &Segmenter::tile_overlap)
      .def_property_readonly("max_batch", &Segmenter::max_batch)
      .def_property_readonly("memory_budget_mib", &Segmenter::memory_budget_mib)
      .def_property_readonly("backend_name", &Segmenter::backend_name);

  m.def("preprocess_frames", &preprocess_for, py::arg("frames"), py::arg("channel_order"), py::arg("metadata_json"),
        py::arg("source") = "metadata", py::arg("num_threads") = 0);

  // One metadata validator: Python's ModelMetadata reads the fields the core accepted.
  m.def("parse_metadata", [](const std::string& text, const std::string& source) {
    const ModelMetadata meta = ModelMetadata::from_json(text, source);
    py::dict d;
    d["input_size"] = meta.input_size;
    d["channel_order"] = meta.channel_order;
    d["mean"] = std::vector<float>(meta.mean.begin(), meta.mean.end());
    d["std"] = std::vector<float>(meta.std.begin(), meta.std.end());
    d["grid_size"] = meta.grid_size;
    d["mask_channels"] = meta.mask_channels;
    d["roi_size"] = meta.roi_size;
    d["strides"] = std::vector<float>(meta.strides.begin(), meta.strides.end());
    d["rff"] = meta.rff;
    d["class_names"] = meta.class_names;
    d["score_threshold"] = meta.score_threshold;
    d["nms_threshold"] = meta.nms_threshold;
    d["max_instances"] = meta.max_instances;
    d["tile"] = meta.has_tile ? py::object(py::dict(py::arg("size") = meta.tile_size,
                                                    py::arg("overlap") = meta.tile_overlap))
                              : py::object(py::none());
    d["grid"] = meta.stride_grid ? py::object(py::dict(py::arg("kind") = "stride", py::arg("cell") = meta.grid_cell,
                                                       py::arg("period") = meta.grid_period))
                                 : py::object(py::none());
    d["input_scale"] = meta.input_scale;
    d["tail_sha256"] = meta.tail_sha256.empty() ? py::object(py::none()) : py::object(py::str(meta.tail_sha256));
    return d;
  }, py::arg("text"), py::arg("source") = "metadata");
}

}  // namespace python
}  // namespace fassst
