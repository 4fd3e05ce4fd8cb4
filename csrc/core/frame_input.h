// A caller's frame (any supported pixel format) as the pipeline reads it:
// height x width x 3 uint8 rows in the frame's own channel order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fassst/metadata.h"
#include "fassst/segmenter.h"

namespace fassst {

struct Frame3 {
  const uint8_t* data = nullptr;
  int height = 0, width = 0;
  int64_t stride = 0;  // bytes between rows
  bool bgr = true;     // the channel order of `data`
  std::vector<uint8_t> storage;  // owns `data` when the frame was converted

  Frame3() = default;
  Frame3(Frame3&&) = default;
  Frame3& operator=(Frame3&&) = default;
  Frame3(const Frame3&) = delete;  // `data` may point into `storage`
  Frame3& operator=(const Frame3&) = delete;
};

// BGR/RGB frames are used in place; grey, 4-channel and 16-bit frames are
// converted once (16-bit by the model's rule). `name` names the argument in
// errors.
Frame3 to_three_channels(const ImageView& image, const Uint16Mapping& uint16_rule, const std::string& name);

}  // namespace fassst
