#include "core/paste.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/errors.h"
#include "kernels/common/interp_math.h"
#include "parallel/thread_pool.h"

namespace fassst {
namespace {

// Pixels [first, last) of one axis whose centres lie inside [lo, hi]. The
// ends are clamped in float first: a box far outside the frame (any finite
// coordinate) must not overflow the cast to int.
void pixel_range(float lo, float hi, int size, int* first, int* last) {
  const float limit = static_cast<float>(size) + 1.0f;
  lo = std::min(std::max(lo, -1.0f), limit);
  hi = std::min(std::max(hi, -1.0f), limit);
  *first = std::max(0, static_cast<int>(std::ceil(lo - 0.5f)));
  *last = std::min(size, static_cast<int>(std::floor(hi - 0.5f)) + 1);
}

// Calls set(v, u) for every pixel of the frame that instance k's box mask
// puts in the instance (the pixels outside its box are never visited).
template <typename Set>
void for_each_mask_pixel(const float* mask, int mask_size, const float* b, int height, int width, float threshold,
                         std::vector<AxisTap>* cols, Set set) {
  const float bw = b[2] - b[0], bh = b[3] - b[1];
  if (!(bw > 0.0f && bh > 0.0f)) return;  // empty or inverted box: empty mask
  int u0, u1, v0, v1;
  pixel_range(b[0], b[2], width, &u0, &u1);
  pixel_range(b[1], b[3], height, &v0, &v1);
  auto at = [mask, mask_size](int y, int x) { return mask[y * mask_size + x]; };
  cols->resize(std::max(0, u1 - u0));
  for (int u = u0; u < u1; ++u)
    (*cols)[u - u0] = clamped_linear_tap((u + 0.5f - b[0]) / bw * mask_size - 0.5f, mask_size);
  for (int v = v0; v < v1; ++v) {
    const AxisTap ty = clamped_linear_tap((v + 0.5f - b[1]) / bh * mask_size - 0.5f, mask_size);
    for (int u = u0; u < u1; ++u)
      if (blend(ty, (*cols)[u - u0], at) > threshold) set(v, u);
  }
}

void check_paste_arguments(const float* boxes, int64_t count, int mask_size, int height, int width) {
  if (mask_size < 1) throw InvalidArgument(message("paste: mask size must be >= 1, got ", mask_size));
  if (height < 0 || width < 0)
    throw InvalidArgument(message("paste: frame size must be >= 0, got ", height, " x ", width));
  for (int64_t k = 0; k < count * 4; ++k)
    if (!std::isfinite(boxes[k]))
      throw InvalidArgument(message("paste: boxes[", k / 4, ", ", k % 4, "] must be finite, got ", boxes[k]));
}

}  // namespace

void paste_masks(const float* box_masks, const float* boxes, int64_t count, int mask_size,
                 int height, int width, float threshold, uint8_t* out, int num_threads, bool out_zeroed) {
  check_paste_arguments(boxes, count, mask_size, height, width);
  const int64_t frame = static_cast<int64_t>(height) * width;
  const int64_t mask_area = static_cast<int64_t>(mask_size) * mask_size;
  parallel_for(count, num_threads, 1, [&](int64_t begin, int64_t end) {
    std::vector<AxisTap> cols;
    for (int64_t k = begin; k < end; ++k) {
      uint8_t* dst = out + k * frame;
      if (!out_zeroed) std::memset(dst, 0, static_cast<size_t>(frame));
      for_each_mask_pixel(box_masks + k * mask_area, mask_size, boxes + k * 4, height, width, threshold, &cols,
                          [dst, width](int v, int u) { dst[static_cast<int64_t>(v) * width + u] = 1; });
    }
  });
}

void label_image(const float* box_masks, const float* boxes, int64_t count, int mask_size, int height, int width,
                 float threshold, int32_t* out) {
  check_paste_arguments(boxes, count, mask_size, height, width);
  if (count > INT32_MAX - 1) throw InvalidArgument(message("label_image: too many instances for int32 labels: ", count));
  std::fill(out, out + static_cast<int64_t>(height) * width, 0);
  const int64_t mask_area = static_cast<int64_t>(mask_size) * mask_size;
  std::vector<AxisTap> cols;
  // Last to first, so that where masks overlap the earlier (higher-scoring)
  // instance is written last and wins.
  for (int64_t k = count - 1; k >= 0; --k) {
    const int32_t label = static_cast<int32_t>(k + 1);
    for_each_mask_pixel(box_masks + k * mask_area, mask_size, boxes + k * 4, height, width, threshold, &cols,
                        [out, width, label](int v, int u) { out[static_cast<int64_t>(v) * width + u] = label; });
  }
}

}  // namespace fassst

namespace fassst {

void sigmoid_inplace(float* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    // In double, rounded once: the float32 formula's three roundings (and
    // expf's own error) flip the > 0.5 decision of logits near 0, which
    // random-weight and uncertain pixels have plenty of; this one agrees with
    // ONNX Runtime's Sigmoid there (the portable export's parity check).
    const double x = std::min(80.0, std::max(-80.0, static_cast<double>(values[i])));
    values[i] = static_cast<float>(1.0 / (1.0 + std::exp(-x)));
  }
}

}  // namespace fassst
