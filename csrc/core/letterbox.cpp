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

void letterbox(const uint8_t* src, int height, int width, int64_t row_stride, int channels,
               int size, uint8_t pad, uint8_t* dst, int num_threads) {
  const LetterboxGeometry g = letterbox_geometry(height, width, size);
  if (channels < 1) throw InvalidArgument(message("letterbox: channels must be >= 1, got ", channels));
  std::memset(dst, pad, static_cast<size_t>(size) * size * channels);

  // Horizontal taps once per output column (source scale W / new_width, as
  // OpenCV's resize computes it).
  const float sx = static_cast<float>(width) / g.new_width;
  const float sy = static_cast<float>(height) / g.new_height;
  std::vector<AxisTap> cols(g.new_width);
  for (int j = 0; j < g.new_width; ++j)
    cols[j] = clamped_linear_tap((j + 0.5f) * sx - 0.5f, width);

  parallel_for(g.new_height, num_threads, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const AxisTap ty = clamped_linear_tap((i + 0.5f) * sy - 0.5f, height);
      const uint8_t* row_lo = src + ty.lo * row_stride;
      const uint8_t* row_hi = src + ty.hi * row_stride;
      uint8_t* out = dst + ((i + g.pad_y) * static_cast<int64_t>(size) + g.pad_x) * channels;
      for (int j = 0; j < g.new_width; ++j) {
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
