// The per-frame pipeline's internals: fassst::Segmenter::Impl and its steps,
// shared by the Segmenter's calls (csrc/core/segmenter.cpp) and the stream
// that overlaps them (csrc/core/stream.cpp). Not a public header.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/frame_input.h"
#include "core/letterbox.h"
#include "core/memory_budget.h"
#include "core/paste.h"
#include "core/select.h"
#include "core/thread_count.h"
#include "core/tiling.h"
#include "fassst/segmenter.h"

namespace fassst {
namespace pipeline {

constexpr uint8_t kPadValue = 114;
constexpr int kMaxBatchLimit = 4096;

using Clock = std::chrono::steady_clock;
using Timings = std::map<std::string, double>;

inline double ms_since(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

// A region of a frame (a tile, or the whole frame), 3 channels.
struct Crop {
  const uint8_t* data;
  int height, width;
  int64_t stride;
  bool bgr;
};

inline Crop whole(const Frame3& f) { return Crop{f.data, f.height, f.width, f.stride, f.bgr}; }

inline std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

inline void add_timings(Timings* total, const Timings& part) {
  for (const auto& kv : part) (*total)[kv.first] += kv.second;
}

// Appends instance i of `from` to `to`, its boxes shifted by `offset`.
inline void append_instance(const Instances& from, size_t i, const float offset[4], Instances* to) {
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

// A stride-grid model's input: one crop, resized by the model's input_scale
// and padded right and bottom to the grid's period.
inline NetworkInput stride_grid_input(const Crop& c, const ModelMetadata& meta, int num_threads) {
  const StrideGeometry g = stride_geometry(c.height, c.width, meta.input_scale, meta.grid_period);
  NetworkInput in;
  in.size = meta.input_size;
  in.height = g.height;
  in.width = g.width;
  in.batch = 1;
  const int64_t plane = static_cast<int64_t>(g.height) * g.width;
  in.geometry.push_back(g.letterbox);
  in.data.resize(static_cast<size_t>(3 * plane));
  const bool swap = c.bgr != (meta.channel_order == "bgr");
  const NormalisationTable table(meta.mean.data(), meta.std.data(), swap);
  resize_to_network_input(c.data, c.height, c.width, c.stride, g.letterbox, g.height, g.width, kPadValue, table,
                          in.data.data(), num_threads);
  return in;
}

// Letterbox + normalisation of crops into one network input batch (a
// stride-grid model: one crop per call, its own shape).
inline NetworkInput network_input(const std::vector<Crop>& crops, const ModelMetadata& meta, int num_threads) {
  if (meta.stride_grid) {
    if (crops.size() != 1)
      throw InvalidArgument(message("a stride-grid model runs one image per call, got ", crops.size()));
    return stride_grid_input(crops.front(), meta, num_threads);
  }
  NetworkInput in;
  in.size = meta.input_size;
  in.height = in.width = meta.input_size;
  in.batch = static_cast<int64_t>(crops.size());
  const int64_t plane = static_cast<int64_t>(in.size) * in.size;
  in.data.resize(static_cast<size_t>(in.batch * 3 * plane));
  for (int64_t b = 0; b < in.batch; ++b) {
    const Crop& c = crops[b];
    in.geometry.push_back(letterbox_geometry(c.height, c.width, in.size));
    // the channels are swapped when the frame's order differs from the model's
    const bool swap = c.bgr != (meta.channel_order == "bgr");
    const NormalisationTable table(meta.mean.data(), meta.std.data(), swap);
    resize_to_network_input(c.data, c.height, c.width, c.stride, in.geometry.back(), in.size, in.size, kPadValue,
                            table, in.data.data() + b * 3 * plane, num_threads);
  }
  return in;
}

}  // namespace pipeline


using namespace pipeline;  // NOLINT: the Impl below is the pipeline's own

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
  MemoryBudget memory;
  bool streaming = false;  // a Stream runs the steps; calls are refused meanwhile
  std::mutex mutex;

  void configure(const SegmenterOptions& o) {
    meta = backend->metadata();
    score_threshold = checked_threshold("score_threshold", o.score_threshold ? *o.score_threshold : meta.score_threshold);
    nms_threshold = checked_threshold("nms_threshold", o.nms_threshold ? *o.nms_threshold : meta.nms_threshold);
    max_instances = checked_max_instances(o.max_instances ? *o.max_instances : meta.max_instances);
    if (o.max_batch < 1 || o.max_batch > kMaxBatchLimit)
      throw InvalidArgument(message("max_batch must be in [1, ", kMaxBatchLimit, "], got ", o.max_batch));
    max_batch = o.max_batch;
    memory = MemoryBudget(o.memory_budget_mib, meta);
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
  void check_grid_outputs(const FrameOutputs& out, int64_t batch, int64_t n) const {
    const int64_t c = meta.num_classes();
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

  void check_frame_outputs(const FrameOutputs& out, const NetworkInput& in) const {
    const int64_t batch = in.batch;
    check_grid_outputs(out, batch, meta.num_cells(in.height, in.width));
    if (out.p1.shape.size() != 4 || out.p1.shape[0] != batch || out.p1.shape[1] != meta.mask_channels)
      throw ModelError(message(meta.source, ": p1 has shape ", shape_text(out.p1.shape), ", the metadata says (",
                               batch, ", ", meta.mask_channels, ", H, W)"));
  }

  Selections select(const FrameOutputs& frame, const NetworkInput& in) const {
    return select(frame, in.batch, meta.num_cells(in.height, in.width));
  }

  // n: the grid's cells (a stride-grid model's depend on the input's shape).
  Selections select(const FrameOutputs& frame, int64_t batch, int64_t n) const {
    check_grid_outputs(frame, batch, n);
    const int64_t classes = meta.num_classes();
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

  // ROI feature fusion + tail for `count` rois, in calls the backend and the
  // memory budget accept (the frame's copy holding `copy_bytes`); mask
  // probabilities into `box_masks` (count x Sm x Sm).
  void masks_of(const FrameOutputs& frame, const float* rois, int64_t count, float* box_masks,
                int64_t copy_bytes) const {
    const int64_t area = static_cast<int64_t>(2 * meta.roi_size) * (2 * meta.roi_size);
    int64_t limit = memory.instances_per_tail_call(copy_bytes);
    if (backend->max_tail_batch() > 0) limit = std::min(limit, backend->max_tail_batch());
    for (int64_t start = 0; start < count; start += limit) {
      const int64_t k = std::min(limit, count - start);
      backend->fuse_and_tail(frame, rois + start * 5, k, box_masks + start * area);  // logits
    }
    sigmoid_inplace(box_masks, count * area);
  }

  // Stage 2 of a call: the frame graph, its outputs checked.
  FrameOutputs infer(const NetworkInput& in) {
    FrameOutputs frame = meta.stride_grid ? backend->run_frame(in.data.data(), in.batch, in.height, in.width)
                                          : backend->run_frame(in.data.data(), in.batch);
    check_frame_outputs(frame, in);
    return frame;
  }

  // Stage 3 of a call: selection, ROI feature fusion + tail on the selected
  // instances, and one Instances per crop in the crop's pixels.
  std::vector<Instances> finish(const Crop* crops, const NetworkInput& in, const FrameOutputs& frame,
                                bool force_tail, Timings* timings, int64_t copy_bytes = 0) {
    const auto t2 = Clock::now();
    Selections sel = select(frame, in);
    const auto t3 = Clock::now();
    int64_t k = static_cast<int64_t>(sel.rois.size() / 5);
    const int sm = 2 * meta.roi_size;
    const int64_t area = static_cast<int64_t>(sm) * sm;
    std::vector<float> box_masks;
    if (force_tail && k == 0) {  // warm-up: exercise the tail with one box
      const float s = static_cast<float>(std::min(in.height, in.width));
      std::vector<float> one = {0.0f, 0.0f, 0.0f, s / 2, s / 2};
      std::vector<float> scratch(static_cast<size_t>(area));
      masks_of(frame, one.data(), 1, scratch.data(), copy_bytes);
    }
    if (k > 0) {
      box_masks.resize(static_cast<size_t>(k * area));
      masks_of(frame, sel.rois.data(), k, box_masks.data(), copy_bytes);
    }
    const auto t4 = Clock::now();
    (*timings)["select"] += ms_since(t2, t3);
    (*timings)["rff_tail"] += ms_since(t3, t4);

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
      results.push_back(std::move(inst));
      start += kb;
    }
    return results;
  }

  // A stride-grid model's input takes its crop's shape: its own estimate,
  // checked before it is built (throws MemoryBudgetExceeded).
  void check_stride_grid_input(const Crop& crop, int64_t copy_bytes) const {
    const StrideGeometry g = stride_geometry(crop.height, crop.width, meta.input_scale, meta.grid_period);
    memory.check_input(g.height, g.width, copy_bytes);
  }

  // One call (preprocess, frame graph, finish) on crops [begin, end).
  std::vector<Instances> segment_call(const std::vector<Crop>& crops, size_t begin, size_t end, bool force_tail,
                                      Timings* timings, int64_t copy_bytes) {
    const auto t0 = Clock::now();
    if (meta.stride_grid) check_stride_grid_input(crops[begin], copy_bytes);
    const NetworkInput in = preprocess(std::vector<Crop>(crops.begin() + begin, crops.begin() + end));
    const auto t1 = Clock::now();
    const FrameOutputs frame = infer(in);
    (*timings)["preprocess"] += ms_since(t0, t1);
    (*timings)["frame"] += ms_since(t1, Clock::now());
    return finish(crops.data() + begin, in, frame, force_tail, timings, copy_bytes);
  }

  // The calls a list of crops runs in, as [begin, end) ranges: at most
  // max_batch each, the backend's limit and what the memory budget leaves
  // once the frame's copy (`copy_bytes`) is held.
  std::vector<std::pair<size_t, size_t>> chunks_of(size_t count, int64_t copy_bytes = 0) const {
    // a stride-grid model's inputs take each frame's own shape: one per call
    int64_t limit = meta.stride_grid ? 1 : std::min<int64_t>(max_batch, memory.images_per_call(copy_bytes));
    if (backend->max_frame_batch() > 0) limit = std::min(limit, backend->max_frame_batch());
    std::vector<std::pair<size_t, size_t>> out;
    for (size_t start = 0; start < count; start += static_cast<size_t>(limit))
      out.emplace_back(start, std::min(count, start + static_cast<size_t>(limit)));
    return out;
  }

  // Crops in the calls chunks_of gives; `timings` sums the calls' stages and
  // each result carries its own call's. The instances found so far are held
  // to the budget's share for results.
  std::vector<Instances> segment(const std::vector<Crop>& crops, Timings* total, bool force_tail = false,
                                 int64_t copy_bytes = 0) {
    std::vector<Instances> results;
    int64_t held = 0;
    for (const auto& chunk : chunks_of(crops.size(), copy_bytes)) {
      Timings timings;
      std::vector<Instances> part = segment_call(crops, chunk.first, chunk.second, force_tail, &timings, copy_bytes);
      add_timings(total, timings);
      for (const Instances& inst : part) held += static_cast<int64_t>(inst.size());
      memory.check_results(held, copy_bytes);
      for (Instances& inst : part) {
        inst.timings = timings;
        results.push_back(std::move(inst));
      }
    }
    return results;
  }

  // A frame's crops: its tiles when tiling is on and it is larger than a
  // tile, else the whole frame (tiles empty).
  std::vector<Crop> crops_of(const Frame3& f, int size, int overlap, std::vector<Tile>* tiles) const {
    tiles->clear();
    if (!(size > 0 && (f.height > size || f.width > size))) return {whole(f)};
    *tiles = tile_grid(f.height, f.width, size, overlap);
    std::vector<Crop> crops;
    for (const Tile& t : *tiles)
      crops.push_back(Crop{f.data + t.y0 * f.stride + t.x0 * 3, t.y1 - t.y0, t.x1 - t.x0, f.stride, f.bgr});
    return crops;
  }

  // The frame's instances from its crops' (one per crop, in order).
  Instances assemble(const Frame3& f, const std::vector<Tile>& tiles, std::vector<Instances>&& per_crop,
                     const Timings& timings) const {
    if (tiles.empty()) {
      Instances out = std::move(per_crop.front());
      out.timings = timings;
      return out;
    }
    return merge_tiles(f, tiles, per_crop, timings);
  }

  // Overlapping tiles; each keeps the instances whose box centre lies in its
  // core, then one class-aware NMS pass over all of them removes what is left
  // of objects seen by two tiles.
  Instances merge_tiles(const Frame3& f, const std::vector<Tile>& tiles, const std::vector<Instances>& per_tile,
                        const Timings& timings) const {
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

  // Called with `mutex` held, by calls that run the steps themselves.
  void require_idle() const {
    require_open();
    if (streaming)
      throw InvalidArgument("Segmenter: a Stream is running on this Segmenter; stop it (or use another "
                            "Segmenter) before calling run, run_batch or warmup");
  }

  Instances run(const Frame3& f, int size, int overlap, int64_t copy_bytes) {
    std::lock_guard<std::mutex> lock(mutex);
    require_idle();
    std::vector<Tile> tiles;
    const std::vector<Crop> crops = crops_of(f, size, overlap, &tiles);
    Timings timings;
    std::vector<Instances> per_crop = segment(crops, &timings, false, copy_bytes);
    return assemble(f, tiles, std::move(per_crop), timings);
  }
};

}  // namespace fassst
