// Values that pass between the steps of the per-frame pipeline
// (docs/architecture.md, "data flow"): the letterbox geometry of a frame in
// the network input, and the instances the selection keeps.
#pragma once

#include <cstdint>
#include <vector>

namespace fassst {

// Where a frame sits in the size x size network input: resized by `scale`
// to new_width x new_height, then placed at (pad_x, pad_y).
struct LetterboxGeometry {
  float scale;     // r = min(size / H, size / W)
  int new_width;   // round(W r)
  int new_height;  // round(H r)
  int pad_x;       // (size - new_width) / 2
  int pad_y;       // (size - new_height) / 2
  int size;        // the network input's side
};

// The instances kept from one image's grid, in descending score (ties: the
// lower cell index first).
struct Selection {
  std::vector<int64_t> cells;   // grid cell index of each kept instance
  std::vector<int64_t> labels;  // 0-based class
  std::vector<float> scores;
};

}  // namespace fassst
