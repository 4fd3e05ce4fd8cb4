// Conversions between NumPy and the core's types shared by the binding
// files: frames as ImageViews, Instances as arrays, Python objects kept alive
// by C++ owners. Glue only.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fassst/instances.h"
#include "fassst/segmenter.h"

namespace fassst {
namespace python {

namespace py = pybind11;

// A Python object kept alive by C++ owners; released with the GIL held
// (owners are dropped inside the core, where the GIL is not held).
std::shared_ptr<py::object> hold(py::object o);

// Calls obj.close() when it has one (a Python backend or source being
// dropped); an error it raises is reported as unraisable, never thrown from
// a destructor. The GIL must be held.
void close_quietly(const py::object& obj);

std::vector<int64_t> shape_of(const py::array& a);
bool is_ndarray(const py::handle& h);

// A NumPy frame as an ImageView over its memory (no copy when rows are
// packed pixels); `keep` holds whatever array the view reads. `name` names
// the argument in errors; `rgb`: 3- and 4-channel frames are in RGB order.
ImageView image_view(const py::handle& value, const std::string& name, bool rgb, std::vector<py::object>* keep);

// "bgr" / "rgb" -> whether frames are RGB; anything else is refused.
bool rgb_order(const std::string& channel_order);

// A vector handed to NumPy without a copy (the array owns it).
template <typename T>
py::array_t<T> array_of(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owned->data(), free_when_done);
}

// The parts of fassst_rt.Instances, as a dict of arrays (no copies);
// `with_track_ids`: the instances come from a tracking stream (K ids).
py::dict instances_dict(Instances&& inst, bool with_track_ids = false);

}  // namespace python
}  // namespace fassst
