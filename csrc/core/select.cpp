#include "core/select.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/errors.h"

namespace fassst {

float box_iou(const float* a, const float* b) {
  const float area_a = std::max(0.0f, a[2] - a[0]) * std::max(0.0f, a[3] - a[1]);
  const float area_b = std::max(0.0f, b[2] - b[0]) * std::max(0.0f, b[3] - b[1]);
  const float iw = std::min(a[2], b[2]) - std::max(a[0], b[0]);
  const float ih = std::min(a[3], b[3]) - std::max(a[1], b[1]);
  if (iw <= 0.0f || ih <= 0.0f) return 0.0f;
  const float inter = iw * ih;
  const float uni = area_a + area_b - inter;
  return uni > 0.0f ? inter / uni : 0.0f;
}

Selection select_instances(const float* boxes, const float* scores, int64_t n,
                           int64_t num_classes, const SelectParams& p) {
  if (num_classes < 1)
    throw InvalidArgument(message("select: scores must have at least one class column, got ", num_classes));
  if (!(p.score_threshold >= 0.0f && p.score_threshold <= 1.0f))
    throw InvalidArgument(message("select: score_threshold must be in [0, 1], got ", p.score_threshold));
  if (!(p.nms_threshold >= 0.0f && p.nms_threshold <= 1.0f))
    throw InvalidArgument(message("select: nms_threshold must be in [0, 1], got ", p.nms_threshold));
  if (p.max_instances < 0)
    throw InvalidArgument(message("select: max_instances must be >= 0, got ", p.max_instances));

  // Best class per cell; candidates over the threshold.
  std::vector<int64_t> label(n);
  std::vector<float> best(n);
  std::vector<int64_t> order;
  for (int64_t i = 0; i < n; ++i) {
    const float* s = scores + i * num_classes;
    const int64_t c = std::max_element(s, s + num_classes) - s;
    label[i] = c;
    best[i] = s[c];
    for (int k = 0; k < 4; ++k)
      if (!std::isfinite(boxes[i * 4 + k]))
        throw InvalidArgument(message("select: boxes[", i, ", ", k, "] must be finite, got ",
                                      boxes[i * 4 + k]));
    if (!std::isfinite(best[i]))
      throw InvalidArgument(message("select: scores of cell ", i, " must be finite, got ", best[i]));
    if (best[i] >= p.score_threshold) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return best[a] > best[b]; });

  Selection out;
  std::vector<int64_t> kept;
  for (int64_t i : order) {
    if (static_cast<int>(kept.size()) >= p.max_instances) break;
    bool suppressed = false;
    for (int64_t j : kept) {
      if (label[j] == label[i] && box_iou(boxes + j * 4, boxes + i * 4) > p.nms_threshold) {
        suppressed = true;
        break;
      }
    }
    if (suppressed) continue;
    kept.push_back(i);
    out.cells.push_back(i);
    out.labels.push_back(label[i]);
    out.scores.push_back(best[i]);
  }
  return out;
}

}  // namespace fassst
