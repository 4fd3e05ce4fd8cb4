#include "python/conversions.h"

#include <pybind11/stl.h>

#include "core/errors.h"

namespace fassst {
namespace python {

std::shared_ptr<py::object> hold(py::object o) {
  return std::shared_ptr<py::object>(new py::object(std::move(o)), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
}

void close_quietly(const py::object& obj) {
  py::object close = py::getattr(obj, "close", py::none());
  try {
    if (!close.is_none()) close();
  } catch (py::error_already_set& e) {
    e.discard_as_unraisable("close");
  }
}

std::vector<int64_t> shape_of(const py::array& a) { return std::vector<int64_t>(a.shape(), a.shape() + a.ndim()); }

bool is_ndarray(const py::handle& h) { return py::isinstance<py::array>(h); }

ImageView image_view(const py::handle& value, const std::string& name, bool rgb, std::vector<py::object>* keep) {
  if (!is_ndarray(value))
    throw py::type_error(message(name, " must be a NumPy array (H, W, 3) uint8, got ",
                                 std::string(py::str(py::type::of(value).attr("__name__")))));
  py::array a = py::reinterpret_borrow<py::array>(value);
  const bool u8 = a.dtype().is(py::dtype::of<uint8_t>());
  const bool u16 = a.dtype().is(py::dtype::of<uint16_t>());
  if (!u8 && !u16)
    throw py::type_error(message(name, " must be uint8 (or uint16 single-channel), got ",
                                 std::string(py::str(a.dtype()))));
  const int64_t channels = a.ndim() == 3 ? a.shape(2) : 1;
  if (a.ndim() < 2 || a.ndim() > 3 || (channels != 1 && channels != 3 && channels != 4)) {
    std::string shape = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape(i));
    throw InvalidArgument(message(name, " must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got ",
                                  shape + (a.ndim() == 1 ? ",)" : ")")));
  }
  if (u16 && channels != 1)
    throw InvalidArgument(message(name, ": 16-bit frames must be single-channel, got ", channels, " channels"));
  if (a.shape(0) < 1 || a.shape(1) < 1)
    throw InvalidArgument(message(name, " is empty: ", a.shape(0), " x ", a.shape(1), " pixels"));
  if (a.shape(0) > 1 << 30 || a.shape(1) > 1 << 30)
    throw InvalidArgument(message(name, " is too large: ", a.shape(0), " x ", a.shape(1), " pixels"));
  const py::ssize_t item = a.itemsize();
  const bool packed_pixels = a.strides(1) == channels * item && (a.ndim() == 2 || a.strides(2) == item);
  if (!packed_pixels || a.strides(0) < a.shape(1) * channels * item)
    a = py::array::ensure(a, py::array::c_style);
  keep->push_back(a);
  ImageView v;
  v.data = a.data();
  v.height = static_cast<int>(a.shape(0));
  v.width = static_cast<int>(a.shape(1));
  v.stride = a.strides(0);
  if (u16) {
    v.format = PixelFormat::kGray16;
  } else if (channels == 1) {
    v.format = PixelFormat::kGray8;
  } else if (channels == 3) {
    v.format = rgb ? PixelFormat::kRGB : PixelFormat::kBGR;
  } else {
    v.format = rgb ? PixelFormat::kRGBA : PixelFormat::kBGRA;
  }
  return v;
}

bool rgb_order(const std::string& channel_order) {
  if (channel_order != "bgr" && channel_order != "rgb")
    throw InvalidArgument(message("channel_order must be 'bgr' or 'rgb', got '", channel_order, "'"));
  return channel_order == "rgb";
}

py::dict instances_dict(Instances&& inst, bool with_track_ids) {
  const py::ssize_t k = static_cast<py::ssize_t>(inst.size());
  const py::ssize_t sm = inst.mask_size;
  py::dict d;
  d["boxes"] = array_of(std::move(inst.boxes), {k, 4});
  d["scores"] = array_of(std::move(inst.scores), {k});
  d["labels"] = array_of(std::move(inst.labels), {k});
  d["box_masks"] = array_of(std::move(inst.box_masks), {k, sm, sm});
  d["mask_boxes"] = array_of(std::move(inst.mask_boxes), {k, 4});
  d["image_size"] = py::make_tuple(inst.image_height, inst.image_width);
  d["timings"] = inst.timings;
  if (with_track_ids) d["track_ids"] = array_of(std::move(inst.track_ids), {k});
  return d;
}

}  // namespace python
}  // namespace fassst
