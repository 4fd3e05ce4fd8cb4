#include "core/letterbox.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/errors.h"
#include "kernels/common/interp_math.h"
#include "parallel/thread_pool.h"

namespace fassst {

LetterboxGeometry letterbox_geometry(int height, int width, int size) {
  if (height < 1 || width < 1)
    throw InvalidArgument(message("letterbox: the frame must be at least 1 x 1, got ", height,
                                  " x ", width));
  if (size < 1) throw InvalidArgument(message("letterbox: size must be >= 1, got ", size));
  LetterboxGeometry g;
  g.size = size;
  g.scale = std::min(static_cast<float>(size) / height, static_cast<float>(size) / width);
  g.new_width = std::max(1, std::min(size, static_cast<int>(std::lround(width * g.scale))));
  g.new_height = std::max(1, std::min(size, static_cast<int>(std::lround(height * g.scale))));
  g.pad_x = (size - g.new_width) / 2;
  g.pad_y = (size - g.new_height) / 2;
  return g;
}

namespace {

// Bilinear resize of src into a new_height x new_width window of dst (rows
// dst_width pixels long) at (pad_x, pad_y); dst is filled with `pad` first.
void resize_into(const uint8_t* src, int height, int width, int64_t row_stride, int channels, int new_height,
                 int new_width, uint8_t pad, uint8_t* dst, int dst_height, int dst_width, int pad_x, int pad_y,
                 int num_threads) {
  if (channels < 1) throw InvalidArgument(message("letterbox: channels must be >= 1, got ", channels));
  std::memset(dst, pad, static_cast<size_t>(dst_height) * dst_width * channels);

  // Horizontal taps once per output column (source scale W / new_width, as
  // OpenCV's resize computes it).
  const float sx = static_cast<float>(width) / new_width;
  const float sy = static_cast<float>(height) / new_height;
  std::vector<AxisTap> cols(new_width);
  for (int j = 0; j < new_width; ++j)
    cols[j] = clamped_linear_tap((j + 0.5f) * sx - 0.5f, width);

  parallel_for(new_height, num_threads, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const AxisTap ty = clamped_linear_tap((i + 0.5f) * sy - 0.5f, height);
      const uint8_t* row_lo = src + ty.lo * row_stride;
      const uint8_t* row_hi = src + ty.hi * row_stride;
      uint8_t* out = dst + ((i + pad_y) * static_cast<int64_t>(dst_width) + pad_x) * channels;
      for (int j = 0; j < new_width; ++j) {
        const AxisTap& tx = cols[j];
        for (int c = 0; c < channels; ++c) {
          auto at = [&](int y, int x) {
            return static_cast<float>((y == ty.lo ? row_lo : row_hi)[x * channels + c]);
          };
          const float v = blend(ty, tx, at);
          out[j * channels + c] = static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v + 0.5f)));
        }
      }
    }
  });
}

int64_t round_up(int64_t v, int64_t multiple) { return (v + multiple - 1) / multiple * multiple; }

}  // namespace

void letterbox(const uint8_t* src, int height, int width, int64_t row_stride, int channels,
               int size, uint8_t pad, uint8_t* dst, int num_threads) {
  const LetterboxGeometry g = letterbox_geometry(height, width, size);
  resize_into(src, height, width, row_stride, channels, g.new_height, g.new_width, pad, dst, size, size, g.pad_x,
              g.pad_y, num_threads);
}

StrideGeometry stride_geometry(int height, int width, float scale, int period) {
  if (height < 1 || width < 1)
    throw InvalidArgument(message("stride grid: the frame must be at least 1 x 1, got ", height, " x ", width));
  if (!(scale > 0.0f) || period < 1)
    throw InvalidArgument(message("stride grid: scale must be > 0 and period >= 1, got ", scale, ", ", period));
  StrideGeometry out;
  LetterboxGeometry& g = out.letterbox;
  g.scale = scale;
  // halves to even, as Python's round() (the sizes the model's input_scale was chosen with)
  g.new_width = std::max(1, static_cast<int>(std::nearbyint(width * static_cast<double>(scale))));
  g.new_height = std::max(1, static_cast<int>(std::nearbyint(height * static_cast<double>(scale))));
  g.pad_x = g.pad_y = 0;
  out.height = static_cast<int>(round_up(g.new_height, period));
  out.width = static_cast<int>(round_up(g.new_width, period));
  g.size = std::max(out.height, out.width);
  return out;
}

void scale_and_pad(const uint8_t* src, int height, int width, int64_t row_stride, int channels,
                   const StrideGeometry& g, uint8_t pad, uint8_t* dst, int num_threads) {
  const LetterboxGeometry& l = g.letterbox;
  if (l.new_height == height && l.new_width == width) {  // no resampling at scale 1: the rows as they are
    if (channels < 1) throw InvalidArgument(message("letterbox: channels must be >= 1, got ", channels));
    std::memset(dst, pad, static_cast<size_t>(g.height) * g.width * channels);
    for (int i = 0; i < height; ++i)
      std::memcpy(dst + static_cast<int64_t>(i) * g.width * channels, src + i * row_stride,
                  static_cast<size_t>(width) * channels);
    return;
  }
  resize_into(src, height, width, row_stride, channels, l.new_height, l.new_width, pad, dst, g.height, g.width, 0, 0,
              num_threads);
}

void boxes_to_frame(float* boxes, int64_t count, const LetterboxGeometry& g, int frame_height,
                    int frame_width, bool clip) {
  const float max_xy[2] = {static_cast<float>(frame_width), static_cast<float>(frame_height)};
  const float pad[2] = {static_cast<float>(g.pad_x), static_cast<float>(g.pad_y)};
  for (int64_t k = 0; k < count * 4; ++k) {
    const int axis = k % 2;  // x1, y1, x2, y2
    const float v = (boxes[k] - pad[axis]) / g.scale;
    boxes[k] = clip ? std::min(max_xy[axis], std::max(0.0f, v)) : v;
  }
}

}  // namespace fassst

namespace fassst {

void to_network_input(const uint8_t* canvas, int height, int width, const float mean[3],
                      const float std[3], bool bgr, float* out) {
  if (height < 1 || width < 1)
    throw InvalidArgument(message("to_network_input: the canvas must be at least 1 x 1, got ", height, " x ", width));
  const float scale = static_cast<float>(1.0 / 255.0);  // NumPy's np.float32(1.0 / 255.0)
  const int64_t plane = static_cast<int64_t>(height) * width;
  for (int c = 0; c < 3; ++c) {
    const int src_c = bgr ? 2 - c : c;  // output channel c is R, G, B
    float* dst = out + c * plane;
    for (int64_t i = 0; i < plane; ++i) {
      const float v = static_cast<float>(canvas[i * 3 + src_c]) * scale;
      dst[i] = (v - mean[c]) / std[c];
    }
  }
}

}  // namespace fassst
