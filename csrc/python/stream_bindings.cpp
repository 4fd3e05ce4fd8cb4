// fassst::Stream for Python, with Python frame sources (OpenCV captures,
// folders, iterables; fassst_rt/sources.py) plugged into the core's
// FrameSource interface. The stream's threads take the GIL only inside a
// Python source's read() or a Python backend's call.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "fassst/stream.h"
#include "fassst/tracker.h"
#include "python/bindings.h"
#include "python/conversions.h"

namespace py = pybind11;

namespace fassst {
namespace python {
namespace {

// A Python source: read() -> None at the end, or (frame, timestamp) with a
// NumPy frame (any the Segmenter takes) and a capture time in seconds (None:
// stamped on arrival); `live` and `name` attributes.
class PythonSource : public FrameSource {
 public:
  PythonSource(py::object source, std::string channel_order)
      : source_(std::move(source)), rgb_(rgb_order(channel_order)) {
    live_ = py::bool_(py::getattr(source_, "live", py::bool_(false)));
    name_ = py::str(py::getattr(source_, "name", py::str("source")));
  }

  ~PythonSource() override {
    py::gil_scoped_acquire gil;
    close_quietly(source_);
    source_ = py::object();
  }

  bool read(SourceFrame* frame) override {
    py::gil_scoped_acquire gil;
    py::object item = source_.attr("read")();
    if (item.is_none()) return false;
    py::tuple pair = py::tuple(item);
    if (pair.size() != 2) throw InvalidArgument(message(name_, ": read() must return (frame, timestamp) or None"));
    std::vector<py::object> keep;
    frame->image = image_view(pair[0], name_ + " frame", rgb_, &keep);
    frame->owner = hold(py::cast(keep));
    frame->timestamp = pair[1].is_none() ? -1.0 : pair[1].cast<double>();
    return true;
  }

  bool live() const override { return live_; }
  std::string name() const override { return name_; }

 private:
  py::object source_;
  bool rgb_;
  bool live_ = false;
  std::string name_;
};

// Streams are destroyed with the GIL released: their threads may be waiting
// for it inside a Python source or backend.
struct ReleasingDeleter {
  void operator()(Stream* s) const {
    py::gil_scoped_release release;
    delete s;
  }
};

using StreamHolder = std::unique_ptr<Stream, ReleasingDeleter>;

// `sources`: a list of Python sources, one or more (several: batched into
// the same frame-graph calls, results tagged with the source's index).
StreamHolder make_stream(Segmenter& seg, py::list sources, const std::string& channel_order, const std::string& mode,
                         int queue_size, py::object tracker, bool overlap) {
  StreamOptions o;
  if (mode == "throughput") {
    o.mode = StreamMode::kThroughput;
  } else if (mode == "latency") {
    o.mode = StreamMode::kLatency;
  } else {
    throw InvalidArgument(message("mode must be 'throughput' or 'latency', got '", mode, "'"));
  }
  o.queue_size = queue_size;
  o.overlap = overlap;
  if (!tracker.is_none()) {  // a fassst_rt._C.Tracker: the stream tracks with its options
    o.track = true;
    o.tracker = tracker.cast<const Tracker&>().options();
  }
  std::vector<std::unique_ptr<FrameSource>> srcs;
  for (py::handle source : sources)
    srcs.emplace_back(new PythonSource(py::reinterpret_borrow<py::object>(source), channel_order));
  py::gil_scoped_release release;  // a failing start joins threads that may want the GIL
  return StreamHolder(new Stream(seg, std::move(srcs), o));
}

// The next result as a dict; None at the end; False when `timeout_ms`
// passed first (the caller's Python loop then sees its signals, Ctrl-C).
py::object next_result(Stream& stream, bool tracked, int timeout_ms) {
  StreamResult r;
  bool got = false, timed_out = false;
  {
    py::gil_scoped_release release;
    got = stream.next_for(&r, std::chrono::milliseconds(timeout_ms), &timed_out);
  }
  if (timed_out) return py::bool_(false);
  if (!got) return py::none();
  py::dict d;
  d["source"] = r.source;
  d["source_index"] = r.source_index;
  d["frame"] = r.frame_index;
  d["timestamp"] = r.timestamp;
  d["latency_ms"] = r.latency_ms;
  d["dropped"] = r.dropped;
  d["instances"] = instances_dict(std::move(r.instances), tracked);
  // The frame as the Python source gave it: its owner holds [the array read].
  const auto owner = std::static_pointer_cast<const py::object>(r.frame.owner);
  d["image"] = owner ? py::object(py::list(*owner)[0]) : py::object(py::none());
  r.frame.owner.reset();
  return d;
}

}  // namespace

void register_stream(py::module_& m) {
  py::class_<Stream, StreamHolder>(m, "Stream", "fassst::Stream over a Python source (Segmenter.stream wraps it)")
      .def(py::init(&make_stream), py::arg("segmenter"), py::arg("sources"), py::arg("channel_order"),
           py::arg("mode"), py::arg("queue_size"), py::arg("tracker") = py::none(), py::arg("overlap") = true,
           py::keep_alive<1, 2>())
      .def("next", &next_result, py::arg("tracked") = false, py::arg("timeout_ms") = 100,
           "The next result as a dict, None at the end, False when timeout_ms passed first; raises the "
           "error that ended the stream.")
      .def("stop", &Stream::stop, py::call_guard<py::gil_scoped_release>());
}

}  // namespace python
}  // namespace fassst
