// The pieces of fassst::Tracker (fassst/tracker.h) that its tests reach:
// option checks and the IoU of two box masks.
#pragma once

#include <cstdint>

#include "fassst/tracker.h"

namespace fassst {

// Throws InvalidArgument naming the first field out of range.
void validate_tracker_options(const TrackerOptions& options);

// A binary mask over a box: size x size cells (nonzero inside) stretched
// over box (x1, y1, x2, y2) in frame pixels.
struct BoxMask {
  const uint8_t* cells;
  int size;
  float box[4];
};

// The IoU of two box masks in frame pixels: their areas from the cell
// counts, the intersection sampled over the overlap of the two boxes at the
// finer of their cell sizes (nearest cell of each). 0 when either is empty.
double box_mask_iou(const BoxMask& a, const BoxMask& b);

}  // namespace fassst
