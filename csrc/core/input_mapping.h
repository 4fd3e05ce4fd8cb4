// How frames of other kinds become the 8-bit images a model sees
// (fassst_rt/input_mapping.py): the model's rule for single-channel 16-bit
// frames, and the conversion of any supported pixel layout to 3 channels.
#pragma once

#include <cstdint>

#include "fassst/metadata.h"

namespace fassst {

// Maps a height x width single-channel uint16 frame (rows `row_stride` bytes
// apart) to uint8 by `rule` (kind "percentile", "window" or "identity"):
// lo, hi from the rule (percentiles with NumPy's default linear
// interpolation), then floor(clip((v - lo) / (hi - lo), 0, 1) * 255 + 0.5) in
// float64, all 0 when hi <= lo. Throws InvalidArgument when the frame has no
// rule (empty kind) or values break the identity rule.
void map_uint16_to_uint8(const uint16_t* src, int height, int width, int64_t row_stride,
                         const Uint16Mapping& rule, uint8_t* dst);

}  // namespace fassst
