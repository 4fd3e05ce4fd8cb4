// The backend registry and the default (CPU) ROI feature fusion + tail.
#include "fassst/backend.h"

#include <algorithm>
#include <cctype>
#include <mutex>

#include "core/errors.h"
#include "core/roi_ops.h"

namespace fassst {

Backend::~Backend() = default;

FrameOutputs Backend::run_frame(const float* images, int64_t batch, int64_t height, int64_t width) {
  const int s = metadata().input_size;
  if (height != s || width != s)
    throw BackendError(message(name(), ": this backend runs only square S x S inputs (", s, " x ", s,
                               "), got a ", height, " x ", width, " input (a stride-grid model needs a backend "
                               "that implements run_frame(images, batch, height, width))"));
  return run_frame(images, batch);
}

void Backend::fuse_and_tail(const FrameOutputs& frame, const float* rois, int64_t count, float* logits) {
  const ModelMetadata& m = metadata();
  const Tensor* levels[3] = {&frame.p1, &frame.p2, &frame.p3};
  roi::FeatureShape shapes[3];
  for (int l = 0; l < 3; ++l) {
    const Tensor& t = *levels[l];
    if (t.on_device || t.shape.size() != 4 || t.data == nullptr)
      throw BackendError(message(name(), ": p", l + 1, " must be a host tensor (B, M, H, W) for the CPU ROI "
                                 "kernel; a backend with device pyramids overrides fuse_and_tail"));
    shapes[l] = roi::FeatureShape{t.shape[0], t.shape[1], static_cast<int>(t.shape[2]), static_cast<int>(t.shape[3])};
  }
  const int s1 = m.roi_size;
  std::vector<float> features(static_cast<size_t>(count * m.mask_channels * s1 * s1));
  if (m.rff) {
    const float* maps[3] = {frame.p1.data, frame.p2.data, frame.p3.data};
    roi_fuse_cpu(maps, shapes, rois, count, s1, m.strides.data(), features.data(), cpu_threads_);
  } else {
    roi_crop_cpu(frame.p1.data, shapes[0], rois, count, s1, m.strides[0], features.data(), cpu_threads_);
  }
  run_tail(features.data(), count, logits);
}

// ---------------------------------------------------------------- registry

namespace {

struct Entry {
  std::string name;
  BackendFactory factory;
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

// suffix -> entry; libfassst_rt registers its built-in backends when it
// loads (csrc/api/builtin_backends.cpp).
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;
  return r;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string suffix_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return lower(path.substr(dot));
}

}  // namespace

void register_backend(const std::string& suffix, const std::string& name, BackendFactory factory) {
  if (suffix.size() < 2 || suffix[0] != '.')
    throw InvalidArgument(message("register_backend: suffix must start with '.', got '", suffix, "'"));
  if (name.empty()) throw InvalidArgument("register_backend: name must not be empty");
  if (!factory) throw InvalidArgument("register_backend: factory must not be empty");
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[lower(suffix)] = Entry{name, std::move(factory)};
}

std::map<std::string, std::string> registered_backends() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::map<std::string, std::string> out;
  for (const auto& kv : registry()) out[kv.first] = kv.second.name;
  return out;
}

std::unique_ptr<Backend> open_backend(const std::string& path, const std::string& backend,
                                      const BackendOptions& options) {
  BackendFactory factory;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    if (backend == "auto") {
      const std::string suffix = suffix_of(path);
      auto it = registry().find(suffix);
      if (it == registry().end()) {
        std::string known;
        for (const auto& kv : registry()) known += (known.empty() ? "" : ", ") + kv.first;
        throw ModelError(message(path, ": unknown model file suffix '", suffix, "'; expected one of ", known));
      }
      factory = it->second.factory;
    } else {
      std::string known;
      for (const auto& kv : registry()) {
        if (kv.second.name == backend) factory = kv.second.factory;
        known += (known.empty() ? "" : ", ") + kv.second.name;
      }
      if (!factory)
        throw InvalidArgument(message("backend must be 'auto' or one of ", known, ", got '", backend, "'"));
    }
  }
  std::unique_ptr<Backend> b = factory(path, options);
  if (!b) throw BackendError(message(path, ": the backend factory returned no backend"));
  return b;
}


}  // namespace fassst
