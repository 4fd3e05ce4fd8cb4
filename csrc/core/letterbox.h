// Letterbox (docs/architecture.md): resize a frame into an in x in canvas
// keeping its aspect ratio, centred, padded; and the way back for boxes.
#pragma once

#include <cstdint>

#include "fassst/pipeline_types.h"

namespace fassst {


LetterboxGeometry letterbox_geometry(int height, int width, int size);

// src: height rows of width * channels uint8, rows `row_stride` bytes apart.
// dst: size * size * channels uint8 (C-contiguous). Bilinear resize with
// half-pixel centres and clamped edges (OpenCV INTER_LINEAR semantics; values
// rounded to nearest), padding value `pad`.
void letterbox(const uint8_t* src, int height, int width, int64_t row_stride, int channels,
               int size, uint8_t pad, uint8_t* dst, int num_threads = 0);

// A stride-grid model's input (metadata grid.kind 'stride'): the frame
// resized by `scale` (new_height = H scale rounded, halves to even), placed at the top left
// and padded right and bottom to height x width, multiples of the period.
// `letterbox` maps boxes back with boxes_to_frame (pad 0, r = scale).
struct StrideGeometry {
  LetterboxGeometry letterbox;
  int height, width;
};

StrideGeometry stride_geometry(int height, int width, float scale, int period);

// dst: g.height * g.width * channels uint8, the frame resized as letterbox()
// resizes (bilinear, half-pixel centres) at the top left, the rest `pad`.
void scale_and_pad(const uint8_t* src, int height, int width, int64_t row_stride, int channels,
                   const StrideGeometry& g, uint8_t pad, uint8_t* dst, int num_threads = 0);

// (K, 4) x1, y1, x2, y2 boxes from network-input pixels to frame pixels, in
// place: x_frame = (x_net - pad_x) / r; clipped to the frame when `clip`.
void boxes_to_frame(float* boxes, int64_t count, const LetterboxGeometry& g, int frame_height,
                    int frame_width, bool clip);

}  // namespace fassst

namespace fassst {

// A height x width x 3 uint8 canvas (C-contiguous; the letterbox gives
// size x size) -> 3 x height x width float32 RGB planes, (x / 255 - mean) / std per channel, in float32 with exactly the
// operations fassst_rt.processing.to_network_input used in NumPy
// (x * float32(1/255), then - mean, then / std). `bgr`: the canvas is in
// OpenCV's order and is flipped to RGB.
void to_network_input(const uint8_t* canvas, int height, int width, const float mean[3],
                      const float std[3], bool bgr, float* out);

// That normalisation as a table: value[canvas channel][uint8 value].
struct NormalisationTable {
  NormalisationTable(const float mean[3], const float std[3], bool bgr);
  int canvas_channel(int rgb_channel) const { return bgr ? 2 - rgb_channel : rgb_channel; }
  bool bgr;
  float value[3][256];
};

// letterbox() / scale_and_pad() and to_network_input() in one pass, without
// the uint8 canvas: src (height rows of width * 3 uint8) resized into the
// window g describes (new_height x new_width at pad_x, pad_y) of
// 3 x dst_height x dst_width float planes, the rest the normalised `pad`.
// Equal value for value to the two steps one after the other.
void resize_to_network_input(const uint8_t* src, int height, int width, int64_t row_stride,
                             const LetterboxGeometry& g, int dst_height, int dst_width, uint8_t pad,
                             const NormalisationTable& table, float* out, int num_threads = 0);

}  // namespace fassst
