// fassst::Segmenter: a frame in, instances out: the same pipeline and the same
// numbers as fassst_rt.Segmenter (docs/runtime.md, docs/cpp_api.md):
//
//   letterbox -> frame graph -> select -> ROI feature fusion kernel
//   -> tail graph on the K selected instances only (K = 0: no tail call)
//   -> Instances (full-frame masks pasted on request)
//
// with frames larger than a tile cut into overlapping tiles run as one batch
// and merged as the Python runtime does.
//
// Thread safety: a Segmenter may be shared by threads; run(), run_batch() and
// warmup() are serialised by an internal mutex (results equal sequential
// calls). For throughput on several cores, give each thread its own
// Segmenter. The const accessors may be called concurrently. Returned
// Instances are independent values. Errors are exceptions of fassst/errors.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fassst/backend.h"
#include "fassst/export.h"
#include "fassst/instances.h"
#include "fassst/metadata.h"

namespace fassst {

enum class PixelFormat {
  kBGR,     // 3 x uint8, OpenCV's order
  kRGB,     // 3 x uint8
  kBGRA,    // 4 x uint8, alpha ignored
  kRGBA,    // 4 x uint8, alpha ignored
  kGray8,   // 1 x uint8, replicated to 3 channels
  kGray16,  // 1 x uint16 (native endianness); needs the model's 16-bit rule
};

// A frame the caller owns: `height` rows of `width` pixels, rows `stride`
// bytes apart (0: packed).
struct ImageView {
  const void* data = nullptr;
  int width = 0;
  int height = 0;
  int64_t stride = 0;
  PixelFormat format = PixelFormat::kBGR;
};

enum class Tiling {
  kModelDefault,  // the model's metadata decides
  kOff,           // never tile
  kOn,            // tile with tile_size / tile_overlap
};

struct SegmenterOptions {
  std::string backend = "auto";  // "auto" (from the suffix) or a registered backend name
  std::string device = "auto";   // "auto", "cpu" or "cuda"
  int num_threads = 0;           // CPU threads of the backend and the kernels (0: all cores)
  std::optional<float> score_threshold;  // unset: the model's metadata
  std::optional<float> nms_threshold;
  std::optional<int> max_instances;
  Tiling tiling = Tiling::kModelDefault;
  int tile_size = 0;      // Tiling::kOn: >= 32
  int tile_overlap = -1;  // Tiling::kOn: 0 <= overlap < size; -1: size / 4
};

class FASSST_API Segmenter {
 public:
  // Opens NAME.onnx / NAME.plan with the backend the options or the suffix name.
  explicit Segmenter(const std::string& model_path, const SegmenterOptions& options = SegmenterOptions());
  // Runs an already opened backend (an application's own, for instance).
  explicit Segmenter(std::unique_ptr<Backend> backend, const SegmenterOptions& options = SegmenterOptions());
  ~Segmenter();
  Segmenter(Segmenter&&) noexcept;
  Segmenter& operator=(Segmenter&&) noexcept;
  Segmenter(const Segmenter&) = delete;
  Segmenter& operator=(const Segmenter&) = delete;

  // Segments one frame, tiled when tiling is on and the frame is larger than a tile.
  Instances run(const ImageView& image);
  // Several frames in one frame-graph call and one tail call (no tiling).
  std::vector<Instances> run_batch(const std::vector<ImageView>& images);
  // Runs grey frames through both graphs (first calls allocate).
  void warmup(int runs = 2);

  const ModelMetadata& metadata() const;
  const std::vector<std::string>& class_names() const;
  float score_threshold() const;
  float nms_threshold() const;
  int max_instances() const;
  // Tiling in effect: tile_size() == 0 when off.
  int tile_size() const;
  int tile_overlap() const;
  std::string backend_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The library's version ("0.1.0").
FASSST_API const char* version();

}  // namespace fassst
