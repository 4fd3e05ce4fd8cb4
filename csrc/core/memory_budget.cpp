#include "core/memory_budget.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "core/errors.h"

namespace fassst {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kFloat = 4;

// What ONNX Runtime's CPU arena grows by per image of a frame-graph call, as
// a multiple of the image's network input (MobileNetV2's early expanded
// layers are the largest activations); per tail instance, as a multiple of
// its fused ROI features. Both round the measured growth up.
constexpr int64_t kFrameGraphBytesPerInputByte = 20;
constexpr int64_t kTailBytesPerFeatureByte = 12;
// The same growth for one whole-frame input of a stride-grid model (fewer
// layers' activations coexist at once relative to the input; re-measure with
// `python tools/frame_graph_memory.py engines/fassst_dense.onnx --height 1056 --width 1728`,
// rounded up).
constexpr int64_t kWholeFrameBytesPerInputByte = 10;

// An instance held in results: its box mask and boxes, counted three times
// because merging tiles copies the instances twice before the per-tile
// results are released.
constexpr int kResultCopies = 3;

std::string mib(int64_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / static_cast<double>(kMiB) << " MiB";
  return out.str();
}

}  // namespace

int64_t frame_copy_bytes(const ImageView& image) {
  const int64_t pixels = static_cast<int64_t>(std::max(image.width, 0)) * std::max(image.height, 0);
  switch (image.format) {
    case PixelFormat::kBGR:
    case PixelFormat::kRGB: return 0;
    // the 3-channel copy, the 8-bit grey rows and the percentile rule's
    // sorted copy of the 16-bit values
    case PixelFormat::kGray16: return pixels * (3 + 1 + 2);
    default: return pixels * 3;
  }
}

MemoryBudget::MemoryBudget(int budget_mib, const ModelMetadata& meta) {
  if (budget_mib < kMinMemoryBudgetMiB || budget_mib > kMaxMemoryBudgetMiB)
    throw InvalidArgument(message("memory_budget_mib must be in [", kMinMemoryBudgetMiB, ", ", kMaxMemoryBudgetMiB,
                                  "], got ", budget_mib));
  budget_ = budget_mib * kMiB;
  pyramid_channels_ = meta.mask_channels;
  strides_ = meta.strides;
  const int64_t s = meta.input_size;
  image_ = call_bytes(s, s);
  held_image_ = 3 * s * s * kFloat + pyramid_bytes(s, s);
  const int64_t r = meta.roi_size, sm = 2 * meta.roi_size;
  const int64_t features = int64_t{meta.mask_channels} * r * r * kFloat;
  const int64_t mask = sm * sm * kFloat;
  instance_ = kTailBytesPerFeatureByte * features + mask + 5 * kFloat;
  result_ = kResultCopies * (mask + 8 * kFloat + 2 * kFloat);
  if (share(0, 4) < std::max(image_, instance_))
    throw InvalidArgument(message("memory_budget_mib = ", budget_mib, " is too small for this model: one image of a ",
                                  "frame-graph call needs ", mib(image_), " and one tail instance ", mib(instance_),
                                  ", and each gets a quarter of the budget; use at least ",
                                  (4 * std::max(image_, instance_) + kMiB - 1) / kMiB));
}

int64_t MemoryBudget::pyramid_bytes(int64_t height, int64_t width) const {
  int64_t pyramid = 0;
  for (float stride : strides_) {
    const int64_t h = static_cast<int64_t>(static_cast<float>(height) / stride) + 1;
    const int64_t w = static_cast<int64_t>(static_cast<float>(width) / stride) + 1;
    pyramid += pyramid_channels_ * h * w * kFloat;
  }
  return pyramid;
}

int64_t MemoryBudget::call_bytes(int64_t height, int64_t width) const {
  return kFrameGraphBytesPerInputByte * 3 * height * width * kFloat + pyramid_bytes(height, width);
}

void MemoryBudget::check_input(int64_t height, int64_t width, int64_t copy_bytes) const {
  const int64_t need = kWholeFrameBytesPerInputByte * 3 * height * width * kFloat + pyramid_bytes(height, width);
  if (need <= share(copy_bytes, 4)) return;
  throw MemoryBudgetExceeded(message(
      "a ", height, " x ", width, " network input needs about ", mib(need), " in its frame-graph call, more than the ",
      "quarter of memory_budget_mib = ", budget_ / kMiB, " a call gets (", mib(share(copy_bytes, 4)),
      "); raise memory_budget_mib, pass a smaller frame or turn tiling on"));
}

int64_t MemoryBudget::share(int64_t copy_bytes, int parts) const {
  return std::max<int64_t>(budget_ - copy_bytes, 0) / parts;
}

void MemoryBudget::check_frames(const std::string& what, int64_t copy_bytes) const {
  if (share(copy_bytes, 4) >= std::max(image_, instance_)) return;
  throw MemoryBudgetExceeded(message(
      what, " is too large for memory_budget_mib = ", budget_ / kMiB, ": converting to 3 channels holds ", mib(copy_bytes), ", which leaves ", mib(share(copy_bytes, 1)),
      " and the pipeline needs at least ", mib(4 * std::max(image_, instance_)),
      " (one frame-graph image, one tail instance and results); raise memory_budget_mib or pass a smaller "
      "or 3-channel frame"));
}

int64_t MemoryBudget::images_per_call(int64_t copy_bytes) const {
  return std::max<int64_t>(share(copy_bytes, 4) / image_, 1);
}

int64_t MemoryBudget::instances_per_tail_call(int64_t copy_bytes) const {
  return std::max<int64_t>(share(copy_bytes, 4) / instance_, 1);
}

void MemoryBudget::check_results(int64_t instances, int64_t copy_bytes) const {
  const int64_t held = instances * result_;
  if (held <= share(copy_bytes, 2)) return;
  throw MemoryBudgetExceeded(message(
      "the frame's ", instances, " instances so far hold ", mib(held), ", more than the half of memory_budget_mib = ",
      budget_ / kMiB, " left for results (", mib(share(copy_bytes, 2)),
      "); raise memory_budget_mib or score_threshold, or lower max_instances"));
}

}  // namespace fassst
