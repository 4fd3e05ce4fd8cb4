// Paste (docs/architecture.md): each instance's box mask, resampled into its
// box in frame coordinates, thresholded.
#pragma once

#include <cstdint>

namespace fassst {

// box_masks: (K, mask_size, mask_size) probabilities; boxes: (K, 4) frame
// pixels; out: (K, height, width) 0/1. A pixel whose centre (u + 0.5, v + 0.5)
// lies inside the box samples the box mask bilinearly at
// (u + 0.5 - x1) / (x2 - x1) * mask_size - 0.5 (v likewise, clamped at the
// edges) and is set where the probability is > threshold. `out_zeroed`: out
// holds zeros already (then only the pixels inside the boxes are written, so
// lazily zeroed memory outside them is never touched).
void paste_masks(const float* box_masks, const float* boxes, int64_t count, int mask_size,
                 int height, int width, float threshold, uint8_t* out, int num_threads = 0,
                 bool out_zeroed = false);

// All K instances in one (height, width) int32 map: 0 background, i + 1 where
// instance i's mask (as paste_masks makes it) holds the pixel and no earlier
// instance's does (instances come in descending score: the higher score wins
// an overlap). Memory: the map alone, whatever K is.
void label_image(const float* box_masks, const float* boxes, int64_t count, int mask_size, int height, int width,
                 float threshold, int32_t* out);

}  // namespace fassst

namespace fassst {

// Mask logits -> probabilities in place, 1 / (1 + exp(-clip(x, -80, 80)))
// computed in float64 and rounded once to float32 (clipped so that exp cannot
// overflow). Python and C++ both call this one, so their box masks agree bit
// for bit.
void sigmoid_inplace(float* values, int64_t count);

}  // namespace fassst
