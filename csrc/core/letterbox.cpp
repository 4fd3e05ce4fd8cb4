#include "core/letterbox.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// The bilinear resize of a frame, row by row: emit(i, row) receives output row
// i (new_width * channels uint8) for every i in [0, new_height), rows split
// over threads. Horizontal taps are computed once per output column (source
// scale W / new_width, as OpenCV's resize computes it); each source row is
// interpolated along x once per thread and kept while the next output row
// reads it too. The arithmetic is blend()'s (x first, then y), so every
// resize of the project rounds alike.
template <int kChannels, typename Emit>
void resize_rows_impl(const uint8_t* src, int height, int width, int64_t row_stride, int channels, int new_height,
                      int new_width, int num_threads, const Emit& emit) {
  const int ch = kChannels > 0 ? kChannels : channels;
  const int64_t row_values = static_cast<int64_t>(new_width) * ch;
  if (new_height == height && new_width == width) {  // scale 1: the rows as they are
    parallel_for(new_height, num_threads, 32, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) emit(i, src + i * row_stride);
    });
    return;
  }
  const float sx = static_cast<float>(width) / new_width;
  const float sy = static_cast<float>(height) / new_height;
  std::vector<int64_t> col_lo(new_width), col_hi(new_width);
  std::vector<float> col_wlo(new_width), col_whi(new_width);
  for (int j = 0; j < new_width; ++j) {
    const AxisTap t = clamped_linear_tap((j + 0.5f) * sx - 0.5f, width);
    col_lo[j] = static_cast<int64_t>(t.lo) * ch;
    col_hi[j] = static_cast<int64_t>(t.hi) * ch;
    col_wlo[j] = t.w_lo;
    col_whi[j] = t.w_hi;
  }
  parallel_for(new_height, num_threads, 16, [&](int64_t begin, int64_t end) {
    // Two source rows interpolated along x, and which rows they hold.
    std::vector<float> along_x[2] = {std::vector<float>(row_values), std::vector<float>(row_values)};
    int held[2] = {-1, -1};
    std::vector<uint8_t> out(row_values);
    auto row_along_x = [&](int y, int avoid) -> const float* {
      for (int b = 0; b < 2; ++b)
        if (held[b] == y) return along_x[b].data();
      const int b = held[0] == avoid ? 1 : 0;
      const uint8_t* row = src + y * row_stride;
      float* dst = along_x[b].data();
      for (int j = 0; j < new_width; ++j) {
        const uint8_t* lo = row + col_lo[j];
        const uint8_t* hi = row + col_hi[j];
        const float wl = col_wlo[j], wh = col_whi[j];
        for (int c = 0; c < ch; ++c)
          dst[j * ch + c] = wl * static_cast<float>(lo[c]) + wh * static_cast<float>(hi[c]);
      }
      held[b] = y;
      return dst;
    };
    for (int64_t i = begin; i < end; ++i) {
      const AxisTap ty = clamped_linear_tap((i + 0.5f) * sy - 0.5f, height);
      const float* __restrict lo = row_along_x(ty.lo, -1);
      const float* __restrict hi = row_along_x(ty.hi, ty.lo);
      uint8_t* __restrict rounded = out.data();  // restrict: uint8 stores could alias anything else
      int64_t k = 0;
#if defined(__SSE2__)
      // 16 values at a time: the same multiplies and add as lerp_y (SSE2 has
      // no fused multiply-add), truncation as static_cast<int>, and the
      // clamp to [0, 255] by the saturating packs.
      const __m128 w_lo = _mm_set1_ps(ty.w_lo), w_hi = _mm_set1_ps(ty.w_hi), half = _mm_set1_ps(0.5f);
      auto round4 = [&](int64_t at) {
        const __m128 v = _mm_add_ps(_mm_mul_ps(w_lo, _mm_loadu_ps(lo + at)), _mm_mul_ps(w_hi, _mm_loadu_ps(hi + at)));
        return _mm_cvttps_epi32(_mm_add_ps(v, half));
      };
      for (; k + 16 <= row_values; k += 16) {
        const __m128i a = _mm_packs_epi32(round4(k), round4(k + 4));
        const __m128i b = _mm_packs_epi32(round4(k + 8), round4(k + 12));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(rounded + k), _mm_packus_epi16(a, b));
      }
#endif
      for (; k < row_values; ++k) {
        // Rounded to nearest and clamped in integers (the same value as
        // clamping the float first: v is a blend of uint8 values, far from
        // int's limits), which the compiler vectorises.
        const int q = static_cast<int>(lerp_y(ty, lo[k], hi[k]) + 0.5f);
        rounded[k] = static_cast<uint8_t>(q < 0 ? 0 : (q > 255 ? 255 : q));
      }
      emit(i, out.data());
    }
  });
}

template <typename Emit>
void resize_rows(const uint8_t* src, int height, int width, int64_t row_stride, int channels, int new_height,
                 int new_width, int num_threads, const Emit& emit) {
  if (channels == 3)
    resize_rows_impl<3>(src, height, width, row_stride, channels, new_height, new_width, num_threads, emit);
  else
    resize_rows_impl<0>(src, height, width, row_stride, channels, new_height, new_width, num_threads, emit);
}

// Bilinear resize of src into a new_height x new_width window of dst (rows
// dst_width pixels long) at (pad_x, pad_y); dst is filled with `pad` first.
void resize_into(const uint8_t* src, int height, int width, int64_t row_stride, int channels, int new_height,
                 int new_width, uint8_t pad, uint8_t* dst, int dst_height, int dst_width, int pad_x, int pad_y,
                 int num_threads) {
  if (channels < 1) throw InvalidArgument(message("letterbox: channels must be >= 1, got ", channels));
  std::memset(dst, pad, static_cast<size_t>(dst_height) * dst_width * channels);
  const size_t row_bytes = static_cast<size_t>(new_width) * channels;
  resize_rows(src, height, width, row_stride, channels, new_height, new_width, num_threads,
              [&](int64_t i, const uint8_t* row) {
                std::memcpy(dst + ((i + pad_y) * static_cast<int64_t>(dst_width) + pad_x) * channels, row, row_bytes);
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

NormalisationTable::NormalisationTable(const float mean[3], const float std[3], bool bgr_canvas) : bgr(bgr_canvas) {
  const float scale = static_cast<float>(1.0 / 255.0);  // NumPy's np.float32(1.0 / 255.0)
  for (int c = 0; c < 3; ++c) {
    const int src_c = canvas_channel(c);  // output channel c is R, G, B
    for (int v = 0; v < 256; ++v) value[src_c][v] = (static_cast<float>(v) * scale - mean[c]) / std[c];
  }
}

void to_network_input(const uint8_t* canvas, int height, int width, const float mean[3],
                      const float std[3], bool bgr, float* out) {
  if (height < 1 || width < 1)
    throw InvalidArgument(message("to_network_input: the canvas must be at least 1 x 1, got ", height, " x ", width));
  const NormalisationTable table(mean, std, bgr);
  const int64_t plane = static_cast<int64_t>(height) * width;
  for (int c = 0; c < 3; ++c) {
    const int src_c = table.canvas_channel(c);
    const float* lut = table.value[src_c];
    float* dst = out + c * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] = lut[canvas[i * 3 + src_c]];
  }
}

void resize_to_network_input(const uint8_t* src, int height, int width, int64_t row_stride,
                             const LetterboxGeometry& g, int dst_height, int dst_width, uint8_t pad,
                             const NormalisationTable& table, float* out, int num_threads) {
  const int64_t plane = static_cast<int64_t>(dst_height) * dst_width;
  for (int c = 0; c < 3; ++c) {  // the padding around the window (the window is written below)
    const float value = table.value[table.canvas_channel(c)][pad];
    float* p = out + c * plane;
    const int64_t top = static_cast<int64_t>(g.pad_y) * dst_width;
    const int64_t bottom = static_cast<int64_t>(g.pad_y + g.new_height) * dst_width;
    std::fill(p, p + top, value);
    std::fill(p + bottom, p + plane, value);
    if (g.new_width < dst_width)
      for (int64_t y = g.pad_y; y < g.pad_y + g.new_height; ++y) {
        std::fill(p + y * dst_width, p + y * dst_width + g.pad_x, value);
        std::fill(p + y * dst_width + g.pad_x + g.new_width, p + (y + 1) * dst_width, value);
      }
  }
  resize_rows(src, height, width, row_stride, 3, g.new_height, g.new_width, num_threads,
              [&](int64_t i, const uint8_t* row) {
                const int64_t offset = (i + g.pad_y) * static_cast<int64_t>(dst_width) + g.pad_x;
                for (int c = 0; c < 3; ++c) {
                  const int src_c = table.canvas_channel(c);
                  const float* lut = table.value[src_c];
                  float* dst = out + c * plane + offset;
                  for (int j = 0; j < g.new_width; ++j) dst[j] = lut[row[j * 3 + src_c]];
                }
              });
}

}  // namespace fassst
