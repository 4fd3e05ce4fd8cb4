// The model metadata document (docs/model_files.md): the JSON stored in the
// frame graph's ONNX metadata under the key "fassst" (and beside TensorRT
// engines in NAME.plan.json). Parsed and validated field by field exactly as
// fassst_rt/metadata.py does; nothing in it is executed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "fassst/export.h"

namespace fassst {

// The rule mapping single-channel 16-bit frames to 8 bits
// (fassst_rt/input_mapping.py): "percentile" (low/high percentiles of the
// frame), "window" (fixed min/max) or "identity" (values already 0..255).
struct Uint16Mapping {
  std::string kind;  // empty: the model defines no 16-bit mapping
  double low = 0.0, high = 0.0;  // percentile
  double min = 0.0, max = 0.0;   // window
};

// The ranges metadata numbers must lie in: wide enough for any model this
// runtime is meant for, narrow enough that no size computed from them
// overflows (the network input's floats, the grid, the kernels' windows).
// Strides take the ROI kernels' bounds (core/roi_ops.h).
constexpr int kMaxInputSize = 4096;
constexpr int kMaxGridSize = 256;
constexpr int kMaxMaskChannels = 1024;
constexpr int kMaxRoiSize = 256;
constexpr int kMaxInstances = 65536;
constexpr int kMaxTileSize = 65536;
constexpr int kMaxClasses = 100000;
constexpr float kMaxInputScale = 8.0f;
// max_instances of a stride-grid model whose metadata names none.
constexpr int kStrideGridMaxInstances = 2000;

struct FASSST_API ModelMetadata {
  static constexpr const char* kKey = "fassst";  // ONNX metadata_props key
  static constexpr int kFormatVersion = 1;

  int input_size = 0;                 // side of the square network input
  std::string channel_order = "rgb";  // the order the graph wants
  std::array<float, 3> mean{};        // per channel, on x / 255
  std::array<float, 3> std{};
  Uint16Mapping uint16;
  int grid_size = 0;      // S (n = S * S cells)
  int mask_channels = 0;  // M
  int roi_size = 0;       // S1 (a multiple of 4); box masks are 2 S1 x 2 S1
  std::array<float, 3> strides{};
  bool rff = true;  // false: the tail takes the p1 crop only
  std::vector<std::string> class_names;
  float score_threshold = 0.3f;
  float nms_threshold = 0.5f;
  int max_instances = 0;
  bool has_tile = false;  // the model's default tiling
  int tile_size = 0;
  int tile_overlap = 0;
  // The stride-grid form (docs/results/dense.md): the grid follows the
  // input's shape, one cell per `grid_cell` pixels; inputs are the frame
  // resized by `input_scale` and padded right and bottom to a multiple of
  // `grid_period`. false: the S x S grid of a letterboxed square input.
  bool stride_grid = false;
  int grid_cell = 0;
  int grid_period = 0;
  float input_scale = 1.0f;
  std::string tail_sha256;  // empty when the document has none
  std::string source;       // where it came from, for messages

  int num_classes() const { return static_cast<int>(class_names.size()); }
  // Cells of an S x S model's grid.
  int num_cells() const { return grid_size * grid_size; }
  // Cells of the grid for a height x width network input (S x S: the same).
  int64_t num_cells(int64_t height, int64_t width) const {
    return stride_grid ? (height / grid_cell) * (width / grid_cell) : num_cells();
  }

  // Parses and validates a document; throws MetadataError naming `source`
  // and the field.
  static ModelMetadata from_json(const std::string& text, const std::string& source = "metadata");
};

}  // namespace fassst
