// Selection of instances from the IAM grid (docs/architecture.md): per cell
// the best class, a score threshold, class-aware NMS, the top max_instances.
#pragma once

#include <cstdint>
#include <vector>

#include "fassst/pipeline_types.h"

namespace fassst {

struct SelectParams {
  float score_threshold = 0.3f;
  float nms_threshold = 0.5f;  // IoU > this suppresses the lower score
  int max_instances = 100;
};


// boxes: (n, 4) x1, y1, x2, y2; scores: (n, num_classes). Kept instances come
// in descending score, ties broken by the lower cell index.
Selection select_instances(const float* boxes, const float* scores, int64_t n,
                           int64_t num_classes, const SelectParams& params);

// Intersection over union of two x1, y1, x2, y2 boxes (0 when either is empty).
float box_iou(const float* a, const float* b);

}  // namespace fassst
