#include "fuzz_pipeline.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fassst/backend.h"
#include "fassst/errors.h"
#include "fassst/segmenter.h"
#include "fuzz_frames.h"

namespace fuzz {
namespace {

using fassst::FrameOutputs;
using fassst::ModelMetadata;
using fassst::Tensor;

// Graph outputs bigger than this mean the core accepted metadata no model
// has (the backend refuses to stand in for such a graph).
constexpr int64_t kMaxOutputFloats = int64_t{32} << 20;

struct BackendSpec {
  std::string boxes, scores, pyramid, tail;
  int64_t max_frame_batch = 0, max_tail_batch = 0;
};

Tensor tensor(std::vector<int64_t> shape, int64_t floats) {
  auto data = std::make_shared<std::vector<float>>(static_cast<size_t>(std::max<int64_t>(floats, 1)));
  Tensor t;
  t.shape = std::move(shape);
  t.data = data->data();
  t.owner = data;
  return t;
}

float* writable(const Tensor& t) { return const_cast<float*>(t.data); }

// A stand-in for a model's two graphs: outputs of the shapes the metadata
// names (unless the spec asks for wrong ones), contents from a seeded
// generator and the spec. It checks what the core hands it: input buffers
// of the full size (read to the end, so AddressSanitizer sees a short one)
// and the call limits it announced.
class FuzzBackend : public fassst::Backend {
 public:
  FuzzBackend(ModelMetadata meta, BackendSpec spec, uint64_t seed)
      : meta_(std::move(meta)), spec_(std::move(spec)), rng_(seed) {}

  std::string name() const override { return "fuzz"; }
  const ModelMetadata& metadata() const override { return meta_; }
  int64_t max_frame_batch() const override { return spec_.max_frame_batch; }
  int64_t max_tail_batch() const override { return spec_.max_tail_batch; }

  FrameOutputs run_frame(const float* images, int64_t batch) override {
    if (batch < 1 || (spec_.max_frame_batch > 0 && batch > spec_.max_frame_batch))
      throw Violation("run_frame got batch " + std::to_string(batch) + " (limit " +
                      std::to_string(spec_.max_frame_batch) + ")");
    const int64_t s = meta_.input_size;
    double sum = 0.0;
    for (int64_t i = 0; i < batch * 3 * s * s; ++i) sum += images[i];
    (void)sum;
    const int64_t n = int64_t{meta_.grid_size} * meta_.grid_size, c = meta_.num_classes(), m = meta_.mask_channels;
    int64_t h[3], w[3];
    for (int l = 0; l < 3; ++l) {
      h[l] = w[l] = spec_.pyramid == "1x1" ? 1 : std::max<int64_t>(1, s >> (3 + l));
    }
    const double floats = static_cast<double>(batch) *
                          (n * (4.0 + c) + m * static_cast<double>(h[0] * w[0] + h[1] * w[1] + h[2] * w[2]));
    if (floats > kMaxOutputFloats)
      throw Violation("the core accepted metadata whose graph outputs are " + std::to_string(floats) + " floats");

    FrameOutputs out;
    out.boxes = boxes(batch, n, s);
    out.scores = scores(batch, n, c);
    Tensor* levels[3] = {&out.p1, &out.p2, &out.p3};
    for (int l = 0; l < 3; ++l) {
      std::vector<int64_t> shape = {batch, m, h[l], w[l]};
      if (spec_.pyramid == "wrong_channels") shape[1] = m + 1;
      if (spec_.pyramid == "wrong_batch") shape[0] = batch + 1;
      if (spec_.pyramid == "wrong_levels" && l == 1) shape.pop_back();
      int64_t count = 1;
      for (int64_t d : shape) count *= d;
      *levels[l] = tensor(shape, count);
      std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
      for (int64_t i = 0; i < count; ++i) writable(*levels[l])[i] = unit(rng_);
    }
    if (spec_.pyramid == "null") out.p1.data = nullptr;
    if (spec_.pyramid == "device") out.p2.on_device = true;
    return out;
  }

  void run_tail(const float* features, int64_t count, float* logits) override {
    if (count < 1 || (spec_.max_tail_batch > 0 && count > spec_.max_tail_batch))
      throw Violation("run_tail got count " + std::to_string(count) + " (limit " +
                      std::to_string(spec_.max_tail_batch) + ")");
    const int64_t s1 = meta_.roi_size;
    double sum = 0.0;
    for (int64_t i = 0; i < count * meta_.mask_channels * s1 * s1; ++i) sum += features[i];
    (void)sum;
    if (spec_.tail == "throws") throw fassst::BackendError("fuzz backend: the tail graph failed (as the item asks)");
    std::uniform_real_distribution<float> logit(-5.0f, 5.0f);
    for (int64_t i = 0; i < count * 4 * s1 * s1; ++i) {
      if (spec_.tail == "nan") logits[i] = NAN;
      else if (spec_.tail == "inf") logits[i] = (i & 1) ? INFINITY : -INFINITY;
      else logits[i] = logit(rng_);
    }
  }

 private:
  Tensor boxes(int64_t batch, int64_t n, int64_t s) {
    const std::string& kind = spec_.boxes;
    Tensor t = tensor({batch, kind == "wrong_shape" ? n + 1 : n, 4}, batch * (n + 1) * 4);
    float* b = writable(t);
    const float fs = static_cast<float>(s);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    const int64_t g = std::max<int64_t>(1, meta_.grid_size);
    for (int64_t i = 0; i < batch * n; ++i) {
      float* r = b + i * 4;
      const int64_t cell = i % n;
      if (kind == "random") {
        r[0] = -fs / 2 + 2 * fs * u(rng_);
        r[1] = -fs / 2 + 2 * fs * u(rng_);
        r[2] = r[0] + fs * u(rng_);
        r[3] = r[1] + fs * u(rng_);
      } else {  // a box around the cell's centre
        const float cx = (static_cast<float>(cell % g) + 0.5f) * fs / g, cy = (static_cast<float>(cell / g) + 0.5f) * fs / g;
        const float half = 2.0f + fs / 4 * u(rng_);
        r[0] = cx - half;
        r[1] = cy - half;
        r[2] = cx + half;
        r[3] = cy + half;
      }
      if (kind == "inverted") std::swap(r[0], r[2]);
      if (kind == "offmap") for (int j = 0; j < 4; ++j) r[j] += 1e6f;
      if (kind == "tiny") r[2] = r[0] + 1e-3f, r[3] = r[1] + 1e-3f;
      if (kind == "zero") r[0] = r[1] = r[2] = r[3] = 0.0f;
      if (cell == 0 && kind == "nan") r[0] = NAN;
      if (cell == 0 && kind == "inf") r[2] = INFINITY;
      if (kind == "huge" && cell < 2) {
        const float box0[4] = {-3e38f, -3e38f, 3e38f, 3e38f}, box1[4] = {3e38f, 3e38f, 3.4e38f, 3.4e38f};
        std::copy(cell == 0 ? box0 : box1, (cell == 0 ? box0 : box1) + 4, r);
      }
      if (kind == "2^31" && cell < 2) {
        const float lo = cell == 0 ? 0.0f : 2147483648.0f;
        r[0] = r[1] = lo;
        r[2] = r[3] = lo + 2147483648.0f;
      }
    }
    if (kind == "null") t.data = nullptr;
    return t;
  }

  Tensor scores(int64_t batch, int64_t n, int64_t c) {
    const std::string& kind = spec_.scores;
    const int64_t cols = kind == "wrong_shape" ? c + 1 : c;
    Tensor t = tensor({batch, n, cols}, batch * n * cols);
    float* p = writable(t);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (int64_t i = 0; i < batch * n; ++i)
      for (int64_t k = 0; k < cols; ++k) {
        float v = u(rng_);
        if (kind == "equal") v = 0.9f;
        if (kind == "negative") v = -0.5f;
        if (i % n < 2 && k == 0) v = 0.95f;  // the first two cells are always selected
        if (i % n == 0 && k == 0 && kind == "nan") v = NAN;
        if (i % n == 0 && k == 0 && kind == "above1") v = 1.5f;
        p[i * cols + k] = v;
      }
    return t;
  }

  ModelMetadata meta_;
  BackendSpec spec_;
  std::mt19937_64 rng_;
};

BackendSpec spec_of(const Value& v) {
  BackendSpec s;
  s.boxes = text(v, "boxes");
  s.scores = text(v, "scores");
  s.pyramid = text(v, "pyramid");
  s.tail = text(v, "tail");
  s.max_frame_batch = integer(v, "max_frame_batch");
  s.max_tail_batch = integer(v, "max_tail_batch");
  return s;
}

fassst::Tiling tiling_of(const Value& v) {
  if (v.is_string()) {
    if (v.as_string() == "on") return fassst::Tiling::kOn;
    if (v.as_string() == "off") return fassst::Tiling::kOff;
    if (v.as_string() == "model") return fassst::Tiling::kModelDefault;
    throw std::invalid_argument("corpus tiling '" + v.as_string() + "' is unknown");
  }
  return static_cast<fassst::Tiling>(as_integer(v, "tiling"));  // any int: enums the caller made up
}

int int_of(const Value& o, const char* key) { return static_cast<int>(integer(o, key)); }

fassst::SegmenterOptions options_of(const Value& o) {
  fassst::SegmenterOptions so;
  if (has(o, "score_threshold")) so.score_threshold = as_float(field(o, "score_threshold"));
  if (has(o, "nms_threshold")) so.nms_threshold = as_float(field(o, "nms_threshold"));
  if (has(o, "max_instances")) so.max_instances = int_of(o, "max_instances");
  if (has(o, "num_threads")) so.num_threads = int_of(o, "num_threads");
  if (has(o, "max_batch")) so.max_batch = int_of(o, "max_batch");
  if (has(o, "memory_budget_mib")) so.memory_budget_mib = int_of(o, "memory_budget_mib");
  if (has(o, "tiling")) so.tiling = tiling_of(field(o, "tiling"));
  if (has(o, "tile_size")) so.tile_size = int_of(o, "tile_size");
  if (has(o, "tile_overlap")) so.tile_overlap = int_of(o, "tile_overlap");
  return so;
}

// What any Instances the Segmenter returns must satisfy; with `paste`, the
// full-frame masks and the label image of small enough frames too.
void check_instances(const fassst::Instances& inst, int width, int height, const ModelMetadata& meta, bool paste) {
  auto bad = [](const std::string& what) { throw Violation("Instances: " + what); };
  if (inst.image_width != width || inst.image_height != height) bad("image size differs from the frame's");
  const size_t k = inst.size();
  const int sm = 2 * meta.roi_size;
  if (inst.boxes.size() != 4 * k || inst.mask_boxes.size() != 4 * k || inst.labels.size() != k ||
      inst.mask_size != sm || inst.box_masks.size() != k * static_cast<size_t>(sm) * sm)
    bad("array sizes disagree with the instance count " + std::to_string(k));
  if (inst.names != meta.class_names) bad("class names differ from the metadata's");
  for (size_t i = 0; i < k; ++i) {
    const float* b = &inst.boxes[4 * i];
    for (int j = 0; j < 4; ++j) {
      const float limit = static_cast<float>(j % 2 ? height : width);
      if (!(b[j] >= 0.0f && b[j] <= limit)) bad("box " + std::to_string(i) + " not clipped to the frame");
    }
    for (int j = 0; j < 4; ++j)
      if (!std::isfinite(inst.mask_boxes[4 * i + j]))
        bad("mask box " + std::to_string(i) + " not finite (masks() cannot paste it)");
    if (!std::isfinite(inst.scores[i])) bad("score " + std::to_string(i) + " not finite");
    if (inst.labels[i] < 0 || inst.labels[i] >= meta.num_classes()) bad("label out of range");
  }
  for (float p : inst.box_masks)
    if (!(p >= 0.0f && p <= 1.0f)) bad("a box-mask probability outside [0, 1]");
  const int64_t frame = int64_t{width} * height;
  if (!paste || k == 0 || frame * static_cast<int64_t>(k) > (int64_t{2} << 20)) return;
  const std::vector<uint8_t> masks = inst.masks(0.5f, 1);
  const std::vector<int32_t> labels = inst.label_image(0.5f);
  if (masks.size() != k * static_cast<size_t>(frame) || labels.size() != static_cast<size_t>(frame))
    bad("masks() or label_image() of the wrong size");
  if (inst.mask(0) != std::vector<uint8_t>(masks.begin(), masks.begin() + frame)) bad("mask(0) differs from masks()");
  // The label image is the first (highest-scoring) instance whose mask holds the pixel.
  for (int64_t p = 0; p < frame; ++p) {
    int32_t want = 0;
    for (size_t i = 0; i < k && want == 0; ++i)
      if (masks[i * static_cast<size_t>(frame) + static_cast<size_t>(p)]) want = static_cast<int32_t>(i + 1);
    if (labels[static_cast<size_t>(p)] != want)
      bad("label_image()[" + std::to_string(p) + "] = " + std::to_string(labels[static_cast<size_t>(p)]) +
          ", masks() say " + std::to_string(want));
  }
}

void check_selections(const fassst::Selections& sel, int64_t batch, const ModelMetadata& meta) {
  if (static_cast<int64_t>(sel.per_image.size()) != batch) throw Violation("select: one Selection per image expected");
  size_t total = 0;
  for (const auto& s : sel.per_image) {
    total += s.cells.size();
    for (size_t i = 0; i < s.cells.size(); ++i)
      if (s.cells[i] < 0 || s.cells[i] >= int64_t{meta.grid_size} * meta.grid_size || s.labels[i] < 0 ||
          s.labels[i] >= meta.num_classes() || (i > 0 && s.scores[i] > s.scores[i - 1]))
        throw Violation("select: a kept cell, label or score order is wrong");
  }
  if (sel.rois.size() != 5 * total) throw Violation("select: rois are not K x 5");
}

}  // namespace

void pipeline_item(const Value& item) {
  const std::string id = text(item, "id");
  const std::string call = text(item, "call");
  const bool paste = boolean(item, "paste");
  std::vector<FrameBytes> frames;
  uint64_t seed = seed_of(id);
  for (const Value& f : field(item, "frames").as_array()) frames.push_back(make_frame(f, seed++));
  std::vector<fassst::ImageView> views;
  for (const FrameBytes& f : frames) {
    fassst::ImageView v;
    v.data = f.data();
    v.width = f.width;
    v.height = f.height;
    v.stride = f.stride;
    v.format = static_cast<fassst::PixelFormat>(f.format);
    views.push_back(v);
  }
  judge(expect_of(item), [&] {
    const ModelMetadata meta = ModelMetadata::from_json(text(item, "doc"), "corpus:" + id);
    auto owned = std::make_unique<FuzzBackend>(meta, spec_of(field(item, "backend")), seed_of(id) ^ 0x5eed);
    FuzzBackend* backend = owned.get();
    fassst::Segmenter seg(std::move(owned), options_of(field(item, "options")));
    if (call == "run") {
      for (const fassst::ImageView& v : views) {
        fassst::Instances inst;
        if (has(item, "tile")) {
          const Value& t = field(item, "tile");
          fassst::TileSpec spec;
          spec.tiling = tiling_of(field(t, "tiling"));
          spec.size = int_of(t, "size");
          spec.overlap = int_of(t, "overlap");
          inst = seg.run(v, spec);
        } else {
          inst = seg.run(v);
        }
        check_instances(inst, v.width, v.height, meta, paste);
      }
    } else if (call == "run_batch") {
      const std::vector<fassst::Instances> all = seg.run_batch(views);
      if (all.size() != views.size()) throw Violation("run_batch: one Instances per frame expected");
      for (size_t i = 0; i < all.size(); ++i) check_instances(all[i], views[i].width, views[i].height, meta, paste);
    } else if (call == "warmup") {
      seg.warmup(1);
    } else if (call == "select") {
      const fassst::NetworkInput in = seg.preprocess(views);
      const FrameOutputs out = backend->run_frame(in.data.data(), in.batch);
      check_selections(seg.select(out, in.batch), in.batch, meta);
    } else {
      throw std::invalid_argument("corpus pipeline call '" + call + "' is unknown");
    }
  });
}

}  // namespace fuzz
