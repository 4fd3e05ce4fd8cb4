// The result of segmenting one frame (docs/cpp_api.md; the C++ twin of
// fassst_rt.Instances).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fassst/export.h"

namespace fassst {

struct FASSST_API Instances {
  int image_height = 0;  // the frame's size
  int image_width = 0;
  // K instances, in descending score (tiled frames: per tile, then merged).
  std::vector<float> boxes;      // K x 4: x1, y1, x2, y2 in frame pixels, clipped to the frame
  std::vector<float> scores;     // K class probabilities
  std::vector<int64_t> labels;   // K 0-based indices into `names`
  std::vector<std::string> names;  // the model's class names
  int mask_size = 0;               // Sm = 2 S1
  std::vector<float> box_masks;    // K x Sm x Sm mask probabilities over `mask_boxes`
  std::vector<float> mask_boxes;   // K x 4: the unclipped boxes the box masks cover
  // K identities across a stream's frames (fassst/tracker.h; -1: no
  // confirmed track), set when the stream tracks; empty otherwise.
  std::vector<int64_t> track_ids;
  // Per-stage wall time in milliseconds: preprocess, frame, select, rff_tail
  // (and tiles: the number of tiles of a tiled frame).
  std::map<std::string, double> timings;

  size_t size() const { return scores.size(); }
  bool empty() const { return scores.empty(); }
  const std::string& class_name(size_t i) const;

  // The full-frame mask of instance i: image_height x image_width bytes, 1
  // inside the instance (probability > threshold; docs/architecture.md, paste).
  std::vector<uint8_t> mask(size_t i, float threshold = 0.5f) const;
  // All K masks, K x image_height x image_width bytes (the same as mask(i)
  // for every i, computed in parallel).
  std::vector<uint8_t> masks(float threshold = 0.5f, int num_threads = 0) const;
  // Writes mask i into `out` (image_height x image_width bytes).
  void paste_mask(size_t i, uint8_t* out, float threshold = 0.5f) const;
  // Every instance in one image_height x image_width map: 0 background,
  // i + 1 where instance i holds the pixel (the higher score wins an
  // overlap). For dense frames: one map instead of K full-frame masks.
  std::vector<int32_t> label_image(float threshold = 0.5f) const;
};

}  // namespace fassst
