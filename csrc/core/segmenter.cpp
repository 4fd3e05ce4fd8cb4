// The per-frame pipeline, the one both languages run: fassst_rt.Segmenter
// (Python) binds this class, with its Python backends plugged in through the
// Backend interface. Every step with arithmetic is a core function (letterbox,
// to_network_input, select, roi_fuse, sigmoid, boxes_to_frame, tiling); this
// file orders them, splits work into calls the backend accepts and merges
// tiles.
#include "fassst/segmenter.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <utility>

#include "core/errors.h"
#include "core/frame_input.h"
#include "core/letterbox.h"
#include "core/paste.h"
#include "core/select.h"
#include "core/thread_count.h"
#include "core/tiling.h"

namespace fassst {
namespace {

constexpr uint8_t kPadValue = 114;
constexpr int kMaxBatchLimit = 4096;

using Clock = std::chrono::steady_clock;
using Timings = std::map<std::string, double>;

double ms_since(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

// A region of a frame (a tile, or the whole frame), 3 channels.
struct Crop {
  const uint8_t* data;
  int height, width;
  int64_t stride;
  bool bgr;
};

Crop whole(const Frame3& f) { return Crop{f.data, f.height, f.width, f.stride, f.bgr}; }

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

void add_timings(Timings* total, const Timings& part) {
  for (const auto& kv : part) (*total)[kv.first] += kv.second;
}

// Appends instance i of `from` to `to`, its boxes shifted by `offset`.
void append_instance(const Instances& from, size_t i, const float offset[4], Instances* to) {
  const size_t area = static_cast<size_t>(from.mask_size) * from.mask_size;
  for (int j = 0; j < 4; ++j) {
    to->boxes.push_back(from.boxes[i * 4 + j] + offset[j]);
    to->mask_boxes.push_back(from.mask_boxes[i * 4 + j] + offset[j]);
  }
  to->scores.push_back(from.scores[i]);
  to->labels.push_back(from.labels[i]);
  to->box_masks.insert(to->box_masks.end(), from.box_masks.begin() + i * area,
                       from.box_masks.begin() + (i + 1) * area);
}

// Letterbox + normalisation of crops into one network input batch.
NetworkInput network_input(const std::vector<Crop>& crops, const ModelMetadata& meta, int num_threads) {
  NetworkInput in;
  in.size = meta.input_size;
  in.batch = static_cast<int64_t>(crops.size());
  const int64_t plane = static_cast<int64_t>(in.size) * in.size;
  in.data.resize(static_cast<size_t>(in.batch * 3 * plane));
  std::vector<uint8_t> canvas(static_cast<size_t>(plane * 3));
  for (int64_t b = 0; b < in.batch; ++b) {
    const Crop& c = crops[b];
    in.geometry.push_back(letterbox_geometry(c.height, c.width, in.size));
    letterbox(c.data, c.height, c.width, c.stride, 3, in.size, kPadValue, canvas.data(), num_threads);
    // the channels are swapped when the frame's order differs from the model's
    const bool swap = c.bgr != (meta.channel_order == "bgr");
    to_network_input(canvas.data(), in.size, in.size, meta.mean.data(), meta.std.data(), swap,
                     in.data.data() + b * 3 * plane);
  }
  return in;
}

}  // namespace

// ---------------------------------------------------------------- Segmenter

struct Segmenter::Impl {
  std::unique_ptr<Backend> backend;
  ModelMetadata meta;
  float score_threshold = 0.3f;
  float nms_threshold = 0.5f;
  int max_instances = 0;
  int tile_size = 0;  // 0: no tiling
  int tile_overlap = 0;
  int num_threads = 0;
  int max_batch = 16;
  std::mutex mutex;

  void configure(const SegmenterOptions& o) {
    meta = backend->metadata();
    score_threshold = checked_threshold("score_threshold", o.score_threshold ? *o.score_threshold : meta.score_threshold);
    nms_threshold = checked_threshold("nms_threshold", o.nms_threshold ? *o.nms_threshold : meta.nms_threshold);
    max_instances = checked_max_instances(o.max_instances ? *o.max_instances : meta.max_instances);
    if (o.max_batch < 1 || o.max_batch > kMaxBatchLimit)
      throw InvalidArgument(message("max_batch must be in [1, ", kMaxBatchLimit, "], got ", o.max_batch));
    max_batch = o.max_batch;
    num_threads = checked_num_threads("num_threads", o.num_threads);
    TileSpec spec{o.tiling, o.tile_size, o.tile_overlap};
    resolve_tiling(spec, &tile_size, &tile_overlap);
  }

  static float checked_threshold(const char* name, float value) {
    if (!(value >= 0.0f && value <= 1.0f)) throw InvalidArgument(message(name, " must be in [0, 1], got ", value));
    return value;
  }

  static int checked_max_instances(int value) {
    if (value < 0 || value > kMaxInstances)
      throw InvalidArgument(message("max_instances must be in [0, ", kMaxInstances, "], got ", value));
    return value;
  }

  // The tile size and overlap a spec means (size 0: no tiling), validated.
  void resolve_tiling(const TileSpec& spec, int* size, int* overlap) const {
    switch (spec.tiling) {
      case Tiling::kModelDefault:
        *size = meta.has_tile ? meta.tile_size : 0;
        *overlap = meta.has_tile ? meta.tile_overlap : 0;
        return;
      case Tiling::kOff:
        *size = *overlap = 0;
        return;
      case Tiling::kOn:
        *size = spec.size;
        *overlap = spec.overlap == -1 ? spec.size / 4 : spec.overlap;
        if (*size < 32 || *overlap < 0 || *overlap >= *size)
          throw InvalidArgument(message("tile size must be an int >= 32 and 0 <= overlap < size, got size ",
                                        spec.size, " overlap ", spec.overlap));
        return;
    }
    throw InvalidArgument(message("tile.tiling must be a Tiling, got ", static_cast<int>(spec.tiling)));
  }

  NetworkInput preprocess(const std::vector<Crop>& crops) const { return network_input(crops, meta, num_threads); }

  // Graph outputs must agree with the metadata (symbolic dimensions of a
  // graph can only be checked once it has run).
  void check_grid_outputs(const FrameOutputs& out, int64_t batch) const {
    const int64_t n = meta.num_cells(), c = meta.num_classes();
    auto expect = [&](const char* name, const Tensor& t, const std::vector<int64_t>& want) {
      if (t.shape != want || t.data == nullptr)
        throw ModelError(message(meta.source, ": the frame graph's '", name, "' has shape ", shape_text(t.shape),
                                 ", but the metadata says ", shape_text(want)));
    };
    expect("boxes", out.boxes, {batch, n, 4});
    expect("scores", out.scores, {batch, n, c});
    if (out.boxes.on_device || out.scores.on_device)
      throw BackendError(message(backend->name(), ": boxes and scores must be host tensors"));
  }

  void check_frame_outputs(const FrameOutputs& out, int64_t batch) const {
    check_grid_outputs(out, batch);
    if (out.p1.shape.size() != 4 || out.p1.shape[0] != batch || out.p1.shape[1] != meta.mask_channels)
      throw ModelError(message(meta.source, ": p1 has shape ", shape_text(out.p1.shape), ", the metadata says (",
                               batch, ", ", meta.mask_channels, ", H, W)"));
  }

  Selections select(const FrameOutputs& frame, int64_t batch) const {
    check_grid_outputs(frame, batch);
    const int64_t n = meta.num_cells(), classes = meta.num_classes();
    const SelectParams params{score_threshold, nms_threshold, max_instances};
    Selections out;
    for (int64_t b = 0; b < batch; ++b) {
      const float* boxes = frame.boxes.data + b * n * 4;
      out.per_image.push_back(select_instances(boxes, frame.scores.data + b * n * classes, n, classes, params));
      for (int64_t cell : out.per_image.back().cells) {
        out.rois.push_back(static_cast<float>(b));
        out.rois.insert(out.rois.end(), boxes + cell * 4, boxes + cell * 4 + 4);
      }
    }
    return out;
  }

  // ROI feature fusion + tail for `count` rois, in calls the backend accepts;
  // mask probabilities into `box_masks` (count x Sm x Sm).
  void masks_of(const FrameOutputs& frame, const float* rois, int64_t count, float* box_masks) const {
    const int64_t area = static_cast<int64_t>(2 * meta.roi_size) * (2 * meta.roi_size);
    const int64_t limit = backend->max_tail_batch() > 0 ? backend->max_tail_batch() : count;
    for (int64_t start = 0; start < count; start += limit) {
      const int64_t k = std::min(limit, count - start);
      backend->fuse_and_tail(frame, rois + start * 5, k, box_masks + start * area);  // logits
    }
    sigmoid_inplace(box_masks, count * area);
  }

  // One frame-graph call for all crops, one tail pass over their selected
  // instances.
  std::vector<Instances> segment_call(const std::vector<Crop>& crops, bool force_tail, Timings* timings) {
    const auto t0 = Clock::now();
    const NetworkInput in = preprocess(crops);
    const auto t1 = Clock::now();
    const FrameOutputs frame = backend->run_frame(in.data.data(), in.batch);
    check_frame_outputs(frame, in.batch);
    const auto t2 = Clock::now();
    Selections sel = select(frame, in.batch);
    const auto t3 = Clock::now();
    int64_t k = static_cast<int64_t>(sel.rois.size() / 5);
    const int sm = 2 * meta.roi_size;
    const int64_t area = static_cast<int64_t>(sm) * sm;
    std::vector<float> box_masks;
    if (force_tail && k == 0) {  // warm-up: exercise the tail with one box
      const float s = static_cast<float>(in.size);
      std::vector<float> one = {0.0f, 0.0f, 0.0f, s / 2, s / 2};
      std::vector<float> scratch(static_cast<size_t>(area));
      masks_of(frame, one.data(), 1, scratch.data());
    }
    if (k > 0) {
      box_masks.resize(static_cast<size_t>(k * area));
      masks_of(frame, sel.rois.data(), k, box_masks.data());
    }
    const auto t4 = Clock::now();
    *timings = Timings{{"preprocess", ms_since(t0, t1)},
                       {"frame", ms_since(t1, t2)},
                       {"select", ms_since(t2, t3)},
                       {"rff_tail", ms_since(t3, t4)}};

    std::vector<Instances> results;
    int64_t start = 0;
    for (int64_t b = 0; b < in.batch; ++b) {
      const Selection& s = sel.per_image[b];
      const int64_t kb = static_cast<int64_t>(s.cells.size());
      Instances inst;
      inst.image_height = crops[b].height;
      inst.image_width = crops[b].width;
      inst.names = meta.class_names;
      inst.mask_size = sm;
      inst.scores = s.scores;
      inst.labels = s.labels;
      for (int64_t i = 0; i < kb; ++i) {
        const float* r = sel.rois.data() + (start + i) * 5 + 1;
        inst.boxes.insert(inst.boxes.end(), r, r + 4);
      }
      inst.mask_boxes = inst.boxes;
      boxes_to_frame(inst.boxes.data(), kb, in.geometry[b], inst.image_height, inst.image_width, true);
      boxes_to_frame(inst.mask_boxes.data(), kb, in.geometry[b], inst.image_height, inst.image_width, false);
      if (kb > 0) inst.box_masks.assign(box_masks.begin() + start * area, box_masks.begin() + (start + kb) * area);
      inst.timings = *timings;
      results.push_back(std::move(inst));
      start += kb;
    }
    return results;
  }

  // Crops in calls of at most max_batch (and the backend's limit); `total`
  // sums the calls' timings.
  std::vector<Instances> segment(const std::vector<Crop>& crops, Timings* total, bool force_tail = false) {
    int64_t limit = max_batch;
    if (backend->max_frame_batch() > 0) limit = std::min(limit, backend->max_frame_batch());
    std::vector<Instances> results;
    for (size_t start = 0; start < crops.size(); start += static_cast<size_t>(limit)) {
      const size_t end = std::min(crops.size(), start + static_cast<size_t>(limit));
      Timings timings;
      std::vector<Instances> part =
          segment_call(std::vector<Crop>(crops.begin() + start, crops.begin() + end), force_tail, &timings);
      add_timings(total, timings);
      for (Instances& inst : part) results.push_back(std::move(inst));
    }
    return results;
  }

  // Overlapping tiles; each keeps the instances whose box centre lies in its
  // core, then one class-aware NMS pass over all of them removes what is left
  // of objects seen by two tiles.
  Instances run_tiled(const Frame3& f, int size, int overlap) {
    const std::vector<Tile> tiles = tile_grid(f.height, f.width, size, overlap);
    std::vector<Crop> crops;
    for (const Tile& t : tiles)
      crops.push_back(Crop{f.data + t.y0 * f.stride + t.x0 * 3, t.y1 - t.y0, t.x1 - t.x0, f.stride, f.bgr});
    Timings timings;
    const std::vector<Instances> per_tile = segment(crops, &timings);
    Instances merged;
    merged.image_height = f.height;
    merged.image_width = f.width;
    merged.names = meta.class_names;
    merged.mask_size = 2 * meta.roi_size;
    for (size_t ti = 0; ti < tiles.size(); ++ti) {
      const Tile& t = tiles[ti];
      const float offset[4] = {static_cast<float>(t.x0), static_cast<float>(t.y0), static_cast<float>(t.x0),
                               static_cast<float>(t.y0)};
      const Instances& inst = per_tile[ti];
      for (size_t i = 0; i < inst.size(); ++i) {
        float box[4];
        for (int j = 0; j < 4; ++j) box[j] = inst.boxes[i * 4 + j] + offset[j];
        if (in_core(box, t)) append_instance(inst, i, offset, &merged);
      }
    }
    const std::vector<int64_t> kept =
        cross_tile_nms(merged.boxes.data(), merged.labels.data(), merged.scores.data(),
                       static_cast<int64_t>(merged.size()), meta.num_classes(), nms_threshold);
    Instances out;
    out.image_height = merged.image_height;
    out.image_width = merged.image_width;
    out.names = merged.names;
    out.mask_size = merged.mask_size;
    const float none[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t i : kept) append_instance(merged, static_cast<size_t>(i), none, &out);
    out.timings = timings;
    out.timings["tiles"] = static_cast<double>(tiles.size());
    return out;
  }

  // Called with `mutex` held: close() may have run since the caller looked.
  void require_open() const {
    if (!backend) throw Error("Segmenter: this Segmenter is closed (used after close())");
  }

  Instances run(const Frame3& f, int size, int overlap) {
    std::lock_guard<std::mutex> lock(mutex);
    require_open();
    if (size > 0 && (f.height > size || f.width > size)) return run_tiled(f, size, overlap);
    Timings timings;
    return std::move(segment({whole(f)}, &timings).front());
  }
};

Segmenter::Segmenter(const std::string& model_path, const SegmenterOptions& options) : impl_(new Impl) {
  BackendOptions bo;
  bo.device = options.device;
  // Checked before the backend starts that many threads of its own.
  bo.num_threads = checked_num_threads("num_threads", options.num_threads);
  impl_->backend = open_backend(model_path, options.backend, bo);
  impl_->configure(options);
}

Segmenter::Segmenter(std::unique_ptr<Backend> backend, const SegmenterOptions& options) : impl_(new Impl) {
  if (!backend) throw InvalidArgument("Segmenter: backend must not be null");
  impl_->backend = std::move(backend);
  impl_->configure(options);
}

Segmenter::~Segmenter() = default;
Segmenter::Segmenter(Segmenter&&) noexcept = default;
Segmenter& Segmenter::operator=(Segmenter&&) noexcept = default;

Segmenter::Impl& Segmenter::checked() const {
  if (!impl_) throw InvalidArgument("Segmenter: used after being moved from");
  return *impl_;
}

Instances Segmenter::run(const ImageView& image) { return run(image, TileSpec{}); }

Instances Segmenter::run(const ImageView& image, const TileSpec& tile) {
  Impl& impl = checked();
  int size = impl.tile_size, overlap = impl.tile_overlap;
  if (tile.tiling != Tiling::kModelDefault) impl.resolve_tiling(tile, &size, &overlap);
  const Frame3 f = to_three_channels(image, impl.meta.uint16, "image");
  return impl.run(f, size, overlap);
}

std::vector<Instances> Segmenter::run_batch(const std::vector<ImageView>& images) {
  Impl& impl = checked();
  std::vector<Frame3> frames;
  for (size_t i = 0; i < images.size(); ++i)
    frames.push_back(to_three_channels(images[i], impl.meta.uint16, "images[" + std::to_string(i) + "]"));
  if (frames.empty()) return {};
  std::vector<Crop> crops;
  for (const Frame3& f : frames) crops.push_back(whole(f));
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.require_open();
  Timings total;
  return impl.segment(crops, &total);
}

void Segmenter::warmup(int runs) {
  Impl& impl = checked();
  if (runs < 0 || runs > 1000) throw InvalidArgument(message("runs must be in [0, 1000], got ", runs));
  const int s = impl.meta.input_size;
  std::vector<uint8_t> grey(static_cast<size_t>(s) * s * 3, kPadValue);
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.require_open();
  for (int i = 0; i < runs; ++i) {
    Timings timings;
    impl.segment({Crop{grey.data(), s, s, int64_t{s} * 3, true}}, &timings, true);
  }
}

NetworkInput Segmenter::preprocess(const std::vector<ImageView>& images) const {
  const Impl& impl = checked();
  return preprocess_frames(images, impl.meta, impl.num_threads);
}

NetworkInput preprocess_frames(const std::vector<ImageView>& images, const ModelMetadata& meta, int num_threads) {
  std::vector<Frame3> frames;
  for (size_t i = 0; i < images.size(); ++i)
    frames.push_back(to_three_channels(images[i], meta.uint16, "images[" + std::to_string(i) + "]"));
  std::vector<Crop> crops;
  for (const Frame3& f : frames) crops.push_back(whole(f));
  return network_input(crops, meta, num_threads);
}

Selections Segmenter::select(const FrameOutputs& frame, int64_t batch) const {
  const Impl& impl = checked();
  impl.require_open();
  if (batch < 0) throw InvalidArgument(message("batch must be >= 0, got ", batch));
  return impl.select(frame, batch);
}

void Segmenter::set_score_threshold(float value) {
  Impl& impl = checked();
  const float v = Impl::checked_threshold("score_threshold", value);
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.score_threshold = v;
}

void Segmenter::set_nms_threshold(float value) {
  Impl& impl = checked();
  const float v = Impl::checked_threshold("nms_threshold", value);
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.nms_threshold = v;
}

void Segmenter::set_max_instances(int value) {
  Impl& impl = checked();
  const int v = Impl::checked_max_instances(value);
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.max_instances = v;
}

void Segmenter::close() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->backend.reset();
}

const ModelMetadata& Segmenter::metadata() const { return checked().meta; }
const std::vector<std::string>& Segmenter::class_names() const { return checked().meta.class_names; }
float Segmenter::score_threshold() const { return checked().score_threshold; }
float Segmenter::nms_threshold() const { return checked().nms_threshold; }
int Segmenter::max_instances() const { return checked().max_instances; }
int Segmenter::tile_size() const { return checked().tile_size; }
int Segmenter::tile_overlap() const { return impl_ && impl_->tile_size ? impl_->tile_overlap : 0; }
int Segmenter::max_batch() const { return checked().max_batch; }
std::string Segmenter::backend_name() const {
  const Impl& impl = checked();
  impl.require_open();
  return impl.backend->name();
}

const char* version() { return FASSST_RT_VERSION; }

}  // namespace fassst
