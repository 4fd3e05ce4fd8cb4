// fassst::Segmenter: a frame in, instances out (docs/runtime.md, docs/cpp_api.md):
//
//   letterbox -> frame graph -> select -> ROI feature fusion kernel
//   -> tail graph on the K selected instances only (K = 0: no tail call)
//   -> Instances (full-frame masks pasted on request)
//
// with frames larger than a tile cut into overlapping tiles, run in batches
// of at most max_batch tiles and merged. This is the one pipeline: the
// Python fassst_rt.Segmenter binds this class and plugs its Python backends
// into it.
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
#include "fassst/pipeline_types.h"

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
  int num_threads = 0;           // CPU threads of the backend and the kernels, 0..1024 (0: all cores)
  std::optional<float> score_threshold;  // unset: the model's metadata
  std::optional<float> nms_threshold;
  std::optional<int> max_instances;
  Tiling tiling = Tiling::kModelDefault;
  int tile_size = 0;      // Tiling::kOn: >= 32
  int tile_overlap = -1;  // Tiling::kOn: 0 <= overlap < size; -1: size / 4
  // Images (tiles) per frame-graph call: a tiled frame runs in calls of at
  // most this many tiles, which bounds the memory one call holds (the
  // backend's own limit applies too). 1 to 4096.
  int max_batch = 16;
  // The working set a frame may make the pipeline hold beyond the model:
  // its 3-channel copy, one frame-graph call, one tail call and its results
  // (docs/hardening.md). Calls shrink to fit; a frame that cannot fit is
  // refused before allocating (MemoryBudgetExceeded). 16 to 2^20 MiB.
  int memory_budget_mib = 1024;
};

// How one call tiles its frame, overriding the Segmenter's setting.
struct TileSpec {
  Tiling tiling = Tiling::kModelDefault;  // kModelDefault: the Segmenter's setting
  int size = 0;
  int overlap = -1;  // -1: size / 4
};

// The network input of a batch of frames and where each frame sits in it.
struct NetworkInput {
  int64_t batch = 0;
  int size = 0;                              // the network input's side (S x S models)
  int height = 0, width = 0;                 // the input's shape (S x S models: size x size)
  std::vector<float> data;                   // batch x 3 x height x width, normalised
  std::vector<LetterboxGeometry> geometry;   // per frame
};

// What the selection keeps from a batch's grids.
struct Selections {
  std::vector<Selection> per_image;
  std::vector<float> rois;  // K x 5: batch_index, x1, y1, x2, y2 in network-input pixels, image by image
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
  Instances run(const ImageView& image, const TileSpec& tile);
  // Several frames in one frame-graph call and one tail call (no tiling).
  std::vector<Instances> run_batch(const std::vector<ImageView>& images);
  // Runs grey frames through both graphs (first calls allocate).
  void warmup(int runs = 2);
  // Releases the backend (waiting for a call in progress); any later call
  // but the accessors of the model's metadata throws.
  void close();

  // The pipeline's first step alone: frames -> letterboxed, normalised
  // network input (for benchmarks and other runtimes).
  NetworkInput preprocess(const std::vector<ImageView>& images) const;
  // The selection alone, on frame-graph outputs (boxes and scores on the
  // host) of `batch` images, with this Segmenter's thresholds.
  Selections select(const FrameOutputs& frame, int64_t batch) const;

  // Selection settings may change between calls (validated as at
  // construction; a call in progress finishes with the old ones).
  void set_score_threshold(float value);
  void set_nms_threshold(float value);
  void set_max_instances(int value);

  const ModelMetadata& metadata() const;
  const std::vector<std::string>& class_names() const;
  float score_threshold() const;
  float nms_threshold() const;
  int max_instances() const;
  // Tiling in effect: tile_size() == 0 when off.
  int tile_size() const;
  int tile_overlap() const;
  int max_batch() const;
  int memory_budget_mib() const;
  std::string backend_name() const;

 private:
  friend class Stream;  // runs the Impl's steps on its own threads
  struct Impl;
  Impl& checked() const;  // throws when moved from
  std::unique_ptr<Impl> impl_;
};

// The pipeline's first step for a model's metadata, without a Segmenter
// (for runtimes that run a model's graphs themselves, such as the portable
// single-graph export): frames -> letterboxed, normalised network input.
FASSST_API NetworkInput preprocess_frames(const std::vector<ImageView>& images, const ModelMetadata& metadata,
                                          int num_threads = 0);

// The library's version: pyproject.toml's [project] version.
FASSST_API const char* version();

}  // namespace fassst
