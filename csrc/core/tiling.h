// Tiled inference (fassst_rt/tiling.py, docs/runtime.md): frames larger than a
// tile are cut into evenly spaced overlapping tiles; each tile keeps the
// instances whose box centre lies in its *core* (tile borders inside the frame
// moved to the middle of the overlap, so every frame point has exactly one
// owner); then class-aware NMS across tiles removes what is left of objects
// seen twice.
#pragma once

#include <cstdint>
#include <vector>

namespace fassst {

struct Tile {
  int y0, x0;  // first row and column (frame pixels)
  int y1, x1;  // one past the last
  // The core (frame coordinates) whose box centres this tile keeps.
  double core_y0, core_x0, core_y1, core_x1;
};

// Tiles of size x size (the frame's size where smaller) covering a height x
// width frame, neighbours overlapping by at least `overlap` pixels: the fewest
// that do, evenly spaced (start i = round-half-even(i * (L - size) / (count - 1))).
// Row-major order. Throws InvalidArgument unless size >= 1 and 0 <= overlap < size.
std::vector<Tile> tile_grid(int height, int width, int size, int overlap);

// Whether the centre of the x1, y1, x2, y2 box (frame coordinates, computed in
// float32) lies in the tile's core: [core_x0, core_x1) x [core_y0, core_y1),
// closed on the sides where the core reaches the frame's own edge.
bool in_core(const float* box, const Tile& tile);

// in_core for `count` boxes (count x 4); keep[i] = 0 / 1.
void in_core(const float* boxes, int64_t count, const Tile& tile, uint8_t* keep);

// The cross-tile NMS of the merge: class-aware NMS (IoU > nms_threshold
// suppresses the lower score; equal scores: the lower index wins) over `count`
// instances of the whole frame, done by select_instances on one-hot scores with
// threshold 0, exactly as the Python runtime did. Returns the kept indices in
// descending score.
std::vector<int64_t> cross_tile_nms(const float* boxes, const int64_t* labels, const float* scores,
                                    int64_t count, int64_t num_classes, float nms_threshold);

}  // namespace fassst
