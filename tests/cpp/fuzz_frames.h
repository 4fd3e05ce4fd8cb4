// Frames of the fuzz corpus (tests/fuzz/make_corpus.py, frame()): the pixel
// buffer a spec describes, for the core's ImageView and the C API's
// fassst_image alike.
#pragma once

#include <cstdint>
#include <vector>

#include "fuzz_driver.h"

namespace fuzz {

struct FrameBytes {
  std::vector<uint8_t> bytes;  // what the frame's rows may read
  int width = 0, height = 0;
  int64_t stride = 0;         // as the spec gives it (0: packed)
  int format = 0;             // fassst_pixel_format / PixelFormat order; any int
  int bytes_per_pixel = 3;    // of the format (3 for formats that do not exist)
  bool data_null = false;     // pass NULL instead of bytes
  const void* data() const { return data_null ? nullptr : bytes.data(); }
};

// Fills the buffer ("random", "zeros", "max", "ramp", "small": 16-bit values
// <= 255). A valid frame gets exactly the bytes its rows span; an invalid one
// (sizes < 1, strides below a row, or spans no buffer can have) gets a small
// buffer, so that a validation that lets it through reads out of bounds
// (found by AddressSanitizer, or a crash).
FrameBytes make_frame(const Value& spec, uint64_t seed);

}  // namespace fuzz
