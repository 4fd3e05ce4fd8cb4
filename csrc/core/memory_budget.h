// How a Segmenter spends its working-set budget (docs/hardening.md).
//
// The budget covers what a frame makes the pipeline hold beyond the model
// itself: the frame's 3-channel copy (none for BGR/RGB frames), one
// frame-graph call, one tail call and the instances found so far. A quarter
// of what the copy leaves goes to frame-graph calls, a quarter to tail calls
// and half to results; a frame whose copy leaves too little for one image
// and one instance is refused before anything is allocated.
//
// The per-image and per-instance costs are estimates from the model's shape
// that bound what ONNX Runtime's CPU arenas grow by per image and per
// instance (`python benchmarks/memory_working_set.py` re-measures both).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "fassst/metadata.h"
#include "fassst/segmenter.h"

namespace fassst {

constexpr int kMinMemoryBudgetMiB = 16;
constexpr int kMaxMemoryBudgetMiB = 1 << 20;  // 1 TiB

// Bytes the pipeline's conversion of `image` to 3 channels holds at its peak
// (0 when the frame is used in place).
int64_t frame_copy_bytes(const ImageView& image);

class MemoryBudget {
 public:
  MemoryBudget() = default;
  // Throws InvalidArgument naming memory_budget_mib when it is out of range
  // or too small for one image and one instance of this model.
  MemoryBudget(int budget_mib, const ModelMetadata& meta);

  int64_t budget_bytes() const { return budget_; }
  int64_t image_bytes() const { return image_; }        // one image of a frame-graph call
  int64_t instance_bytes() const { return instance_; }  // one instance of a tail call
  int64_t result_bytes() const { return result_; }      // one instance held in results

  // Throws MemoryBudgetExceeded, with the numbers, when frames whose copies
  // hold `copy_bytes` leave too little for one image and one instance;
  // `what` names them ("image: a 640 x 480 frame").
  void check_frames(const std::string& what, int64_t copy_bytes) const;
  // Images per frame-graph call and instances per tail call under the
  // budget, once the frame's copy is held (>= 1 after check_frame).
  int64_t images_per_call(int64_t copy_bytes) const;
  int64_t instances_per_tail_call(int64_t copy_bytes) const;
  // Whether `images` network inputs and their frame-graph outputs may all be
  // held at once (a Stream prepares a step's calls ahead; when they cannot,
  // it prepares each call just before it runs).
  bool holds_inputs(int64_t images, int64_t copy_bytes) const {
    return images * held_image_ <= share(copy_bytes, 4);
  }
  // Throws MemoryBudgetExceeded when one height x width network input (a
  // stride-grid model's, whose shape follows the frame) and its frame-graph
  // call would exceed the quarter of the budget a call gets.
  void check_input(int64_t height, int64_t width, int64_t copy_bytes) const;
  // Throws MemoryBudgetExceeded when `instances` held in results exceed their share.
  void check_results(int64_t instances, int64_t copy_bytes) const;

 private:
  int64_t share(int64_t copy_bytes, int parts) const;
  int64_t pyramid_bytes(int64_t height, int64_t width) const;
  int64_t call_bytes(int64_t height, int64_t width) const;  // one image's frame-graph call
  int64_t budget_ = int64_t{1} << 30;
  int64_t image_ = 1;
  int64_t pyramid_channels_ = 0;     // mask channels, for a frame-graph call's pyramid
  std::array<float, 3> strides_{};  // of the pyramid levels
  int64_t held_image_ = 1;  // an image's network input and frame-graph outputs
  int64_t instance_ = 1;
  int64_t result_ = 1;
};

}  // namespace fassst
