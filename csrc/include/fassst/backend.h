// Backends run a model's two graphs (the frame graph and the tail graph).
// One is chosen from the model file's suffix through a small registry, as in
// fassst_rt/backends/__init__.py:
//
//   suffix  backend       runs on
//   .onnx   onnxruntime   CPU (default); CUDA execution provider where present
//   .plan   tensorrt      an NVIDIA GPU (only in builds that found NvInfer.h)
//
// An application plugs its own with register_backend(), or hands an opened
// Backend to the Segmenter directly (the Python package hands it its Python
// backends this way). The registry lives in the core; libfassst_rt registers
// the built-in backends when it loads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fassst/export.h"
#include "fassst/metadata.h"

namespace fassst {

// A float32 tensor a backend produced. `data` stays valid while `owner` (or
// a copy of the Tensor) lives; `on_device`: a CUDA device pointer (only the
// backend that made it can read it, in its own fuse_and_tail).
struct Tensor {
  std::vector<int64_t> shape;
  const float* data = nullptr;
  bool on_device = false;
  std::shared_ptr<const void> owner;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// The frame graph's outputs for a batch of B network inputs
// (docs/architecture.md, section "data flow").
struct FrameOutputs {
  Tensor boxes;   // (B, n, 4) x1, y1, x2, y2 in network-input pixels, on the host
  Tensor scores;  // (B, n, C) class probabilities, on the host
  Tensor p1;      // (B, M, H/8, W/8), host or device
  Tensor p2;      // (B, M, H/16, W/16)
  Tensor p3;      // (B, M, H/32, W/32)
};

struct BackendOptions {
  std::string device = "auto";  // "auto", "cpu" or "cuda"
  int num_threads = 0;          // CPU threads, 0..1024 (0: the backend's default, all cores)
};

// A loaded model: its metadata, its frame graph and its tail graph. A Backend
// is used by one thread at a time (the Segmenter serialises its calls).
class FASSST_API Backend {
 public:
  virtual ~Backend();

  virtual std::string name() const = 0;
  virtual const ModelMetadata& metadata() const = 0;

  // images: (batch, 3, S, S) float32 normalised network input (S = input_size).
  virtual FrameOutputs run_frame(const float* images, int64_t batch) = 0;

  // images: (batch, 3, height, width), as a stride-grid model takes them
  // (metadata grid.kind 'stride'). The default runs only square S x S inputs
  // (BackendError otherwise) through run_frame(images, batch).
  virtual FrameOutputs run_frame(const float* images, int64_t batch, int64_t height, int64_t width);

  // features: (count, M, S1, S1) fused ROI features -> logits:
  // (count, 1, 2 S1, 2 S1) mask logits, written by the backend. count >= 1.
  virtual void run_tail(const float* features, int64_t count, float* logits) = 0;

  // ROI feature fusion of `rois` (count x 5: batch_index, x1, y1, x2, y2) on
  // the frame's pyramid (the p1 crop alone for a model without RFF), then the
  // tail. The default runs the core's CPU kernel on host pyramids; backends
  // that keep the pyramid on a GPU override it.
  virtual void fuse_and_tail(const FrameOutputs& frame, const float* rois, int64_t count, float* logits);

  // The most images one run_frame call and the most instances one
  // fuse_and_tail call accept (a TensorRT engine's optimisation profile);
  // 0: no limit. The Segmenter splits its work to fit.
  virtual int64_t max_frame_batch() const { return 0; }
  virtual int64_t max_tail_batch() const { return 0; }

  // Whether run_frame may run on one thread while fuse_and_tail runs on
  // another, with a frame's outputs staying valid across later run_frame
  // calls (host outputs, thread-safe sessions). A stream then overlaps the
  // two graphs; otherwise it runs them one after the other.
  virtual bool overlaps_graphs() const { return false; }

 protected:
  int cpu_threads_ = 0;  // threads of the default fuse_and_tail's CPU kernel (0: all cores)
};

using BackendFactory =
    std::function<std::unique_ptr<Backend>(const std::string& path, const BackendOptions& options)>;

// Registers `factory` for files ending in `suffix` (".onnx"; replaces an
// earlier registration of the suffix) under `name`. Thread-safe.
FASSST_API void register_backend(const std::string& suffix, const std::string& name, BackendFactory factory);

// Registered suffixes and their backend names.
FASSST_API std::map<std::string, std::string> registered_backends();

// Opens `path` with the backend its suffix names, or with `backend` by name.
// Throws ModelError (unknown suffix, bad files) or InvalidArgument (unknown name).
FASSST_API std::unique_ptr<Backend> open_backend(const std::string& path, const std::string& backend = "auto",
                                                 const BackendOptions& options = BackendOptions());

// The built-in ONNX Runtime backend (NAME.onnx + NAME.tail.onnx beside it).
FASSST_API std::unique_ptr<Backend> open_onnxruntime_backend(const std::string& path,
                                                             const BackendOptions& options = BackendOptions());

// Whether this library was built with the TensorRT backend (NvInfer.h found).
FASSST_API bool has_tensorrt_backend();

}  // namespace fassst
